/** Shared bits of the configuration reader tests. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseConfig, formatDiagnostic, Secret, ALL_CAPABILITIES, validate, type ConfigModel, type Diagnostic } from '../../../daemon/config/index.js';

/** test/daemon/config/fixtures in the source tree (tsc does not copy .conf files). */
export const FIXTURES = fileURLToPath(new URL('../../../../test/daemon/config/fixtures/', import.meta.url));

export function fixture(name: string): string {
  return readFileSync(FIXTURES + name, 'utf8');
}

/**
 * The model as plain data for deepEqual: secrets revealed as {secret: value},
 * undefined fields dropped, and source positions dropped unless asked for.
 */
export function plain(v: unknown, keepPos = false): unknown {
  if (v instanceof Secret) return { secret: v.reveal() };
  if (Array.isArray(v)) return v.map((x) => plain(x, keepPos));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) continue;
      if (!keepPos && (k === 'pos' || k === 'settingPos' || k === 'featureUses')) continue;
      out[k] = plain(x, keepPos);
    }
    return out;
  }
  return v;
}

/** Parse diagnostics as FILE:LINE:COL lines. */
export function diags(text: string, file = 'test.conf'): string[] {
  return parseConfig(text, file).diagnostics.map(formatDiagnostic);
}

/** Parse plus validate (all capabilities) diagnostics as lines. */
export function allDiags(text: string, file = 'test.conf', caps = ALL_CAPABILITIES): string[] {
  const r = parseConfig(text, file);
  return [...r.diagnostics, ...validate(r.model, caps)].map((d: Diagnostic) => formatDiagnostic(d));
}

export function model(text: string): ConfigModel {
  const r = parseConfig(text, 'test.conf');
  if (r.diagnostics.some((d) => d.severity === 'error')) {
    throw new Error(`unexpected errors:\n${r.diagnostics.map(formatDiagnostic).join('\n')}`);
  }
  return r.model;
}

/** Lines joined with newlines (tests write configs as arrays of lines so columns are easy to count). */
export function lines(...ls: string[]): string {
  return `${ls.join('\n')}\n`;
}
