/**
 * Diagnostics for configuration files, in the compiler form editors and CI
 * understand: `FILE:LINE:COL: message` for errors and
 * `FILE:LINE:COL: warning: message` for warnings. Lines and columns are 1-based;
 * the column is the first character of the word at fault.
 */
import type { SourcePos } from './model.js';

export type Severity = 'error' | 'warning';

export interface Diagnostic {
  readonly severity: Severity;
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

export function diagnostic(severity: Severity, pos: SourcePos, message: string): Diagnostic {
  return { severity, file: pos.file, line: pos.line, column: pos.column, message };
}

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.column}: ${d.severity === 'warning' ? 'warning: ' : ''}${d.message}`;
}

/** Sorted by file, line and column (stable), one per line. */
export function formatDiagnostics(ds: readonly Diagnostic[]): string {
  return sortDiagnostics(ds).map(formatDiagnostic).join('\n');
}

export function sortDiagnostics(ds: readonly Diagnostic[]): Diagnostic[] {
  return ds
    .map((d, i) => ({ d, i }))
    .sort((a, b) => (a.d.file < b.d.file ? -1 : a.d.file > b.d.file ? 1 : 0) || a.d.line - b.d.line || a.d.column - b.d.column || a.i - b.i)
    .map((x) => x.d);
}

export function hasErrors(ds: readonly Diagnostic[]): boolean {
  return ds.some((d) => d.severity === 'error');
}

/**
 * The error a configuration load throws. `code` is stable ('config'); the
 * message is the error lines in FILE:LINE:COL form, nothing else.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'config';
  readonly diagnostics: readonly Diagnostic[];

  constructor(diagnostics: readonly Diagnostic[]) {
    super(formatDiagnostics(diagnostics.filter((d) => d.severity === 'error')));
    this.diagnostics = diagnostics;
  }
}

/**
 * Optimal string alignment distance (Levenshtein plus adjacent transposition),
 * case-insensitive: the usual measure for "did you mean" (a swapped pair of
 * letters is one typo, not two).
 */
export function editDistance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  const m = a.length;
  const n = b.length;
  let prev2: number[] = [];
  let prev: number[] = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= m; i++) {
    const cur: number[] = [i];
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, prev2[j - 2] + 1);
      cur.push(v);
    }
    prev2 = prev;
    prev = cur;
  }
  return prev[n];
}

/**
 * The candidates closest to `word`: within 2 edits and less than half the
 * candidate's length, also comparing against a candidate's prefix of the same
 * length so a mistyped abbreviation ("splt-hor") still finds its keyword.
 */
export function suggest(word: string, candidates: Iterable<string>, max = 3): string[] {
  if (word.length === 0 || word.length > 64) return [];
  const scored: { c: string; d: number }[] = [];
  for (const c of new Set(candidates)) {
    let d = editDistance(word, c);
    if (word.length >= 3 && word.length < c.length) d = Math.min(d, editDistance(word, c.slice(0, word.length)) + 0.5);
    const limit = Math.min(2, Math.max(1, Math.floor(c.length / 3)));
    if (d <= limit && d < c.length / 2) scored.push({ c, d });
  }
  scored.sort((x, y) => x.d - y.d || (x.c < y.c ? -1 : 1));
  if (scored.length === 0) return [];
  const best = scored[0].d;
  return scored.filter((s) => s.d === best).slice(0, max).map((s) => s.c);
}

/** A word as it appears in a message: quoted, with control characters escaped. */
export function quote(word: string): string {
  const shown = word.length > 40 ? `${word.slice(0, 40)}...` : word;
  // JSON escapes C0 controls; also escape DEL, C1 controls and the Unicode line separators so a
  // message always stays on one line of a terminal or log.
  return JSON.stringify(shown).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** "a", "a or b", "one of a, b, c". */
export function orList(items: readonly string[]): string {
  const u = [...new Set(items)];
  if (u.length <= 1) return u[0] ?? '';
  if (u.length === 2) return `${u[0]} or ${u[1]}`;
  return `one of ${u.join(', ')}`;
}
