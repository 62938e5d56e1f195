/**
 * `dmvpnd --check FILE`: validate a configuration without running it. Prints
 * every diagnostic (FILE:LINE:COL) to stderr and returns the exit status:
 * 0 when the file has no errors (warnings allowed), 1 otherwise.
 */
import { ConfigError, formatDiagnostics, hasErrors } from './diagnostics.js';
import { checkConfigText, readConfigFile } from './load.js';
import type { Capability } from './model.js';

export function checkCommand(file: string, capabilities: Iterable<Capability>, write: (text: string) => void = (t) => process.stderr.write(t)): number {
  let text: string;
  try {
    text = readConfigFile(file);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    write(`${e.message}\n`);
    return 1;
  }
  const { diagnostics } = checkConfigText(text, file, capabilities);
  if (diagnostics.length > 0) write(`${formatDiagnostics(diagnostics)}\n`);
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = diagnostics.length - errors;
  write(`${file}: ${errors === 0 ? 'configuration OK' : `${errors} error${errors === 1 ? '' : 's'}`}${warnings ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ''}\n`);
  return hasErrors(diagnostics) ? 1 : 0;
}
