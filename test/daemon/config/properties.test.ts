/**
 * Properties (fast-check): arbitrary text only ever yields diagnostics (no throw,
 * no hang, one line per message, positions inside the file); and for configs
 * generated from the command tables themselves, render -> parse is the
 * identity on the model, render is a fixpoint, and redaction hides every secret.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import fc from 'fast-check';
import {
  parseConfig, validate, renderRunningConfig, formatDiagnostic, Secret, ALL_CAPABILITIES, type ConfigModel,
} from '../../../daemon/config/index.js';
import { TABLES } from '../../../daemon/config/grammar.js';
import { compileSyntax, type CompiledSyntax, type Element } from '../../../daemon/config/syntax.js';
import type { ModeId } from '../../../daemon/config/modes.js';
import { plain } from './helpers.js';

// ---------------------------------------------------------------- arbitrary text

const KEYWORDS = [...new Set(TABLES.flatMap((t) => t.rows.flatMap((r) => r.syntax.match(/(?<![<\w:-])[a-z][a-z0-9-]*(?![\w:>-])/g) ?? [])))];

const word = fc.oneof(
  fc.constantFrom(...KEYWORDS, 'no', '!', 'exit', 'end', 'Tunnel0', 'tunnel', 'eth0', 'g0/0'),
  fc.constantFrom('0', '1', '65535', '4294967296', '-1', '10.0.0.1', '255.255.255.0', '0.0.0.255', '1.2.3', '300.1.1.1'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }).map((s) => s.replace(/[ \t\n]/g, 'x')),
);
const vocabLine = fc.tuple(fc.constantFrom('', ' ', '  ', '\t'), fc.array(word, { minLength: 1, maxLength: 9 })).map(([i, ws]) => i + ws.join(' '));
const anyLine = fc.oneof(vocabLine, fc.string({ unit: 'binary', maxLength: 60 }), fc.string({ unit: 'grapheme', maxLength: 30 }));
const anyText = fc.tuple(fc.array(anyLine, { maxLength: 30 }), fc.constantFrom('\n', '\r\n')).map(([ls, eol]) => ls.join(eol));

test('property: arbitrary text never throws; every diagnostic is one line inside the file', () => {
  fc.assert(
    fc.property(anyText, (text) => {
      const r = parseConfig(text, 'fuzz.conf');
      const nLines = text.split('\n').length;
      for (const d of [...r.diagnostics, ...validate(r.model, ALL_CAPABILITIES), ...validate(r.model, [])]) {
        const s = formatDiagnostic(d);
        assert.ok(!/[\r\n\u2028\u2029]/.test(s), s);
        assert.ok(d.line >= 1 && d.line <= nLines && d.column >= 1, s);
        assert.ok(!d.message.startsWith('internal error'), s);
      }
      renderRunningConfig(r.model);
    }),
    { numRuns: 400 },
  );
});

// ---------------------------------------------------------------- configs generated from the tables

/** A small deterministic PRNG so one integer seed drives a whole file. */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n: number): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % n);
  };
}

const alnum = 'abcdefghijklmnopqrstuvwxyz0123456789';
const pick = <T>(r: (n: number) => number, xs: readonly T[]): T => xs[r(xs.length)];
const randWord = (r: (n: number) => number, first: string, max: number): string =>
  first + Array.from({ length: r(max + 1) }, () => alnum[r(alnum.length)]).join('');
const mask = (len: number): string => {
  const v = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return [24, 16, 8, 0].map((s) => (v >>> s) & 0xff).join('.');
};
const inverse = (m: string): string => m.split('.').map((o) => 255 - Number(o)).join('.');

/**
 * A value for an argument. Names start with Z and secrets with Q (no keyword
 * starts with either), so a value is never read as a keyword and a secret can
 * be searched for in the output.
 */
function argValue(el: Extract<Element, { t: 'arg' }>, r: (n: number) => number): string {
  const t = el.type;
  switch (t.kind) {
    case 'ipv4': return pick(r, ['10.0.0.1', '10.0.0.2', '10.0.0.0', '192.0.2.1', '203.0.113.7', '0.0.0.0', `10.${r(256)}.${r(256)}.${r(256)}`]);
    case 'mask': return mask(pick(r, [0, 8, 16, 24, 25, 30, 32]));
    case 'wildcard': return inverse(mask(pick(r, [0, 8, 16, 24, 32])));
    case 'number': return String(pick(r, [t.min, t.max, t.min + r(Math.min(t.max - t.min, 1000) + 1)]));
    case 'tunnel': return String(r(4));
    case 'ifname': return pick(r, ['eth0', 'lan0', 'lo', 'ens3', 'Tunnel1', 'tu2']);
    case 'word': return pick(r, ['Za', 'Zb', randWord(r, 'Z', 5)]);
    case 'secret': return randWord(r, 'Q', Math.min(6, (t.maxLength ?? 8) - 2));
    case 'line': return `Zd ${randWord(r, 'z', 4)}  ${randWord(r, 'z', 3)}`;
  }
}

/** A random walk through a template's NFA; undefined when it wanders too long. */
function walk(c: CompiledSyntax, r: (n: number) => number): string | undefined {
  const out: string[] = [];
  const used = new Set<number>();
  let state = 0;
  for (let steps = 0; steps < 60; steps++) {
    const edges = c.nfa.edges[state].filter((e) => e.kind === 'eps' || !(e.el.once && used.has(e.el.id)));
    const canStop = state === c.nfa.final;
    if (canStop && (edges.length === 0 || r(3) === 0)) return out.join(' ');
    if (edges.length === 0) return undefined;
    const e = pick(r, edges);
    if (e.kind === 'el') {
      used.add(e.el.id);
      if (e.el.t === 'kw') out.push(r(5) === 0 ? e.el.word.toUpperCase() : e.el.word);
      else out.push(argValue(e.el, r));
    }
    state = e.to;
  }
  return undefined;
}

const compiledRows = new Map<ModeId, { syntax: CompiledSyntax; no?: CompiledSyntax; enters?: ModeId }[]>(
  TABLES.map((t) => [t.id, t.rows.filter((row) => !row.control).map((row) => ({
    syntax: compileSyntax(row.syntax),
    no: row.no === undefined ? undefined : compileSyntax(`no ${row.no === 'same' ? row.syntax : row.no}`),
    enters: row.enters,
  }))]),
);

function genBlock(mode: ModeId, depth: number, r: (n: number) => number, out: string[], count: number): void {
  const rows = compiledRows.get(mode) ?? [];
  for (let i = 0; i < count; i++) {
    const row = pick(r, rows);
    const negate = row.no !== undefined && r(5) === 0;
    const line = walk(negate ? (row.no as CompiledSyntax) : row.syntax, r);
    if (line === undefined) continue;
    out.push(' '.repeat(depth) + line);
    if (row.enters && !negate) genBlock(row.enters, depth + 1, r, out, r(7));
  }
}

function genConfig(seed: number): string {
  const r = rng(seed);
  const out: string[] = [];
  genBlock('global', 0, r, out, 4 + r(12));
  return out.join('\n');
}

function secretsOf(v: unknown, acc: string[] = []): string[] {
  if (v instanceof Secret) acc.push(v.reveal());
  else if (Array.isArray(v)) v.forEach((x) => secretsOf(x, acc));
  else if (v && typeof v === 'object') Object.values(v).forEach((x) => secretsOf(x, acc));
  return acc;
}

test('property: the generator covers the grammar (most generated lines are accepted)', () => {
  let linesSeen = 0;
  let errors = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const text = genConfig(seed);
    linesSeen += text.split('\n').length;
    errors += parseConfig(text, 'g.conf').diagnostics.filter((d) => d.severity === 'error').length;
  }
  assert.ok(linesSeen > 1000, `${linesSeen} lines`);
  assert.ok(errors < linesSeen / 3, `${errors} errors in ${linesSeen} lines`);
});

test('property: render -> parse is the identity on models of generated configs; redaction hides every secret', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
      const text = genConfig(seed);
      const m1: ConfigModel = parseConfig(text, 'gen.conf').model;
      const raw = renderRunningConfig(m1, { redact: false });
      const r2 = parseConfig(raw, 'rendered.conf');
      assert.deepEqual(r2.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic), [], `${text}\n---\n${raw}`);
      assert.deepEqual(plain(r2.model), plain(m1), `${text}\n---\n${raw}`);
      assert.equal(renderRunningConfig(r2.model, { redact: false }), raw);
      const redacted = renderRunningConfig(m1);
      const shown = [redacted, JSON.stringify(m1), inspect(m1, { depth: null }), String(m1.crypto.keyrings[0]?.peers[0]?.presharedKey)];
      for (const s of secretsOf(m1)) {
        assert.ok(raw.includes(s), 'the unredacted text keeps the secret');
        for (const out of shown) assert.ok(!out.includes(s), `secret ${s} leaked`);
      }
    }),
    { numRuns: 300 },
  );
});
