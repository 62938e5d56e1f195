/**
 * loadConfig(): read, parse and validate a configuration file for the daemon.
 * Any error (unreadable file, syntax, semantics, a feature this build lacks)
 * throws one ConfigError (code 'config') whose message lists every error as
 * FILE:LINE:COL; warnings come back with the model.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, diagnostic, hasErrors, sortDiagnostics, type Diagnostic } from './diagnostics.js';
import type { Capability, ConfigModel } from './model.js';
import { parseConfig } from './parse.js';
import { validate } from './validate.js';

export interface LoadedConfig {
  readonly model: ConfigModel;
  /** Warnings only (errors throw). */
  readonly warnings: readonly Diagnostic[];
}

/** Parse and validate text: every diagnostic of the file, sorted by position. */
export function checkConfigText(text: string, fileName: string, capabilities: Iterable<Capability>): { model: ConfigModel; diagnostics: Diagnostic[] } {
  const { model, diagnostics } = parseConfig(text, fileName);
  return { model, diagnostics: sortDiagnostics([...diagnostics, ...validate(model, capabilities)]) };
}

export function readConfigFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ConfigError([diagnostic('error', { file: path, line: 1, column: 1 }, `cannot read the configuration: ${err.code ?? err.message}`)]);
  }
}

export function loadConfig(path: string, capabilities: Iterable<Capability>): LoadedConfig {
  const { model, diagnostics } = checkConfigText(readConfigFile(path), path, capabilities);
  if (hasErrors(diagnostics)) throw new ConfigError(diagnostics);
  return { model, warnings: diagnostics };
}
