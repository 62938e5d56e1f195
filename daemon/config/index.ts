/** The IOS configuration reader: public API. */
export { parseConfig, tokenize, type ParseResult } from './parse.js';
export { validate } from './validate.js';
export { loadConfig, checkConfigText, type LoadedConfig } from './load.js';
export { checkCommand } from './check.js';
export { renderRunningConfig, type RenderOptions } from './render.js';
export {
  ConfigError, formatDiagnostic, formatDiagnostics, hasErrors, sortDiagnostics, type Diagnostic, type Severity,
} from './diagnostics.js';
export { Secret, REDACTED } from './secret.js';
export * from './model.js';
