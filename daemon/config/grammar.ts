/**
 * The command tables of every mode, compiled once: each row gives a template for
 * its positive form and, when it has one, a `no ...` template. For each mode the
 * reader matches against the templates of the mode and of its parents (as IOS
 * falls back to the parent mode for a command the current mode lacks).
 */
import { globalTable } from './grammar-global.js';
import { interfaceTable } from './grammar-interface.js';
import { eigrpTable, keyChainTable, keyTable } from './grammar-routing.js';
import {
  ikev2ProfileTable, ipsecProfileTable, keyringTable, peerTable, policyTable, proposalTable, transformSetTable,
} from './grammar-crypto.js';
import type { Template } from './matcher.js';
import { MODES, type ModeId, type ModeTable, type Row } from './modes.js';
import { compileSyntax } from './syntax.js';

export interface RowRef {
  readonly row: Row<unknown>;
  readonly mode: ModeId;
  readonly negated: boolean;
  /** The positive command's keywords, e.g. "ip nhrp map". */
  readonly key: string;
}

export const TABLES: readonly ModeTable<unknown>[] = [
  globalTable, interfaceTable, eigrpTable, keyChainTable, keyTable, keyringTable, peerTable, ikev2ProfileTable,
  ipsecProfileTable, proposalTable, policyTable, transformSetTable,
];

function compileTable(t: ModeTable<unknown>): Template<RowRef>[] {
  const out: Template<RowRef>[] = [];
  for (const row of t.rows) {
    const pos = compileSyntax(row.syntax);
    out.push({ syntax: pos, depth: 0, row: { row, mode: t.id, negated: false, key: pos.key } });
    if (row.no !== undefined) {
      const neg = compileSyntax(`no ${row.no === 'same' ? row.syntax : row.no}`);
      out.push({ syntax: neg, depth: 0, row: { row, mode: t.id, negated: true, key: pos.key } });
    }
  }
  return out;
}

const compiled = new Map<ModeId, Template<RowRef>[]>(TABLES.map((t) => [t.id, compileTable(t)]));

/** The mode and its parents, innermost first. */
export function modeChain(mode: ModeId): ModeId[] {
  const out: ModeId[] = [];
  for (let m: ModeId | undefined = mode; m !== undefined; m = MODES[m].parent) out.push(m);
  return out;
}

const chainCache = new Map<ModeId, Template<RowRef>[]>();

/** Templates for a line read in `mode`: its own first, then its parents', with their depth. */
export function chainTemplates(mode: ModeId): readonly Template<RowRef>[] {
  let c = chainCache.get(mode);
  if (!c) {
    c = modeChain(mode).flatMap((m, depth) => (compiled.get(m) ?? []).map((t) => ({ ...t, depth })));
    chainCache.set(mode, c);
  }
  return c;
}

/** Templates of one mode alone (to tell "this command belongs in another mode"). */
export function modeTemplates(mode: ModeId): readonly Template<RowRef>[] {
  return compiled.get(mode) ?? [];
}

/** Rows that enter a mode, by their first keyword (to recover after a misspelt block opener). */
export function enteringRowsByFirstWord(word: string, mode: ModeId): ModeId[] {
  return chainTemplates(mode)
    .filter((t) => !t.row.negated && t.row.row.enters !== undefined && t.row.key.split(' ')[0] === word)
    .map((t) => t.row.row.enters as ModeId);
}
