/**
 * Matches one configuration line against every command template of a mode chain
 * at once (the current mode and its parents, as IOS parses), so abbreviations
 * are resolved against all the keywords that could follow, not one template at
 * a time.
 *
 * For each word, the edges that accept it are ranked, following IOS:
 *   1. an exact keyword ("key" is the command `key`, not an abbreviation of `key-string`)
 *   2. a specific argument that accepts it (address, mask, number)
 *   3. a keyword the word abbreviates; two different keywords are an ambiguity,
 *      resolved first in favour of the innermost mode
 *   4. a free-form argument (WORD, interface name, LINE)
 * Only the best non-empty rank survives. When nothing accepts a word, the
 * failure records what was expected there, so the caller can say why.
 */
import { checkArg, isStrict, type ArgValue } from './args.js';
import type { ArgEl, CompiledSyntax, Element } from './syntax.js';

export interface Token {
  readonly text: string;
  /** 1-based column of the first character. */
  readonly col: number;
}

export interface Template<R> {
  readonly syntax: CompiledSyntax;
  /** 0 for the innermost mode, 1 for its parent ... */
  readonly depth: number;
  readonly row: R;
}

export interface Capture {
  readonly el: Element;
  readonly token: number;
  readonly value: ArgValue;
}

export interface ArgCandidate {
  readonly el: ArgEl;
  /** Why the word was rejected; undefined when the argument was merely expected (end of line). */
  readonly reason?: string;
  readonly invalid: boolean;
}

export interface MatchFailure<R> {
  readonly kind: 'ambiguous' | 'invalid' | 'incomplete' | 'duplicate';
  /** Index of the word at fault; tokens.length when the line ended too early. */
  readonly index: number;
  readonly keywords: readonly string[];
  readonly args: readonly ArgCandidate[];
  /** For 'ambiguous': the keywords the abbreviation could stand for. */
  readonly ambiguous: readonly string[];
  /** For 'duplicate': the option given twice. */
  readonly duplicate?: string;
  /** Some template was already complete before this word: the word is extra input. */
  readonly completeBefore: readonly Template<R>[];
  /** Templates still alive when the failure was found. */
  readonly live: readonly Template<R>[];
  /** The word at fault may be (part of) a secret: do not echo it. */
  readonly sensitive: boolean;
  /** How many words matched before the failure. */
  readonly matched: number;
}

export type MatchResult<R> =
  | { readonly ok: true; readonly template: Template<R>; readonly captures: readonly Capture[] }
  | { readonly ok: false; readonly failure: MatchFailure<R> };

interface Cap {
  readonly el: Element;
  readonly token: number;
  readonly value: ArgValue;
  readonly prev: Cap | undefined;
}

interface Thread {
  readonly tpl: number;
  readonly state: number;
  readonly caps: Cap | undefined;
}

const EXACT = 0;
const STRICT = 1;
const PREFIX = 2;
const LOOSE = 3;

function hasCaptured(caps: Cap | undefined, id: number): boolean {
  for (let c = caps; c; c = c.prev) if (c.el.id === id) return true;
  return false;
}

function capsToArray(caps: Cap | undefined): Capture[] {
  const out: Capture[] = [];
  for (let c = caps; c; c = c.prev) out.push({ el: c.el, token: c.token, value: c.value });
  return out.reverse();
}

export function matchLine<R>(line: string, tokens: readonly Token[], templates: readonly Template<R>[]): MatchResult<R> {
  const closure = (ths: readonly Thread[]): Thread[] => {
    const out: Thread[] = [];
    const seen = new Set<number>();
    const visit = (th: Thread): void => {
      const k = th.tpl * 65536 + th.state;
      if (seen.has(k)) return;
      seen.add(k);
      out.push(th);
      for (const e of templates[th.tpl].syntax.nfa.edges[th.state]) if (e.kind === 'eps') visit({ tpl: th.tpl, state: e.to, caps: th.caps });
    };
    for (const th of ths) visit(th);
    return out;
  };
  const isFinal = (th: Thread): boolean => th.state === templates[th.tpl].syntax.nfa.final;
  const liveTemplates = (ths: readonly Thread[]): Template<R>[] => [...new Set(ths.map((t) => t.tpl))].map((i) => templates[i]);

  let threads = closure(templates.map((_, tpl) => ({ tpl, state: 0, caps: undefined })));
  let lineDone: Thread[] = [];
  let sensitiveFrom = Infinity;

  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i];
    const lower = tok.text.toLowerCase();
    const ranked: { rank: number; depth: number; word?: string; th: Thread; isLine: boolean }[] = [];
    const keywords: string[] = [];
    const args: ArgCandidate[] = [];
    let duplicate: string | undefined;
    for (const th of threads) {
      const depth = templates[th.tpl].depth;
      for (const e of templates[th.tpl].syntax.nfa.edges[th.state]) {
        if (e.kind !== 'el') continue;
        const el = e.el;
        if (el.t === 'kw') {
          keywords.push(el.word);
          const exact = el.word === lower;
          if (!exact && !(lower.length > 0 && el.word.startsWith(lower))) continue;
          if (el.once && hasCaptured(th.caps, el.id)) {
            duplicate = el.word;
            continue;
          }
          const next = { tpl: th.tpl, state: e.to, caps: { el, token: i, value: el.word, prev: th.caps } };
          ranked.push({ rank: exact ? EXACT : PREFIX, depth, word: el.word, th: next, isLine: false });
          continue;
        }
        if (el.type.kind === 'secret') sensitiveFrom = Math.min(sensitiveFrom, i);
        const text = el.type.kind === 'line' ? line.slice(tok.col - 1).trimEnd() : tok.text;
        const r = checkArg(el.type, text);
        if (!r.ok) {
          args.push({ el, reason: r.reason, invalid: r.invalid });
          continue;
        }
        if (el.once && hasCaptured(th.caps, el.id)) {
          duplicate = el.name;
          continue;
        }
        const next = { tpl: th.tpl, state: e.to, caps: { el, token: i, value: r.value, prev: th.caps } };
        ranked.push({ rank: isStrict(el.type) ? STRICT : LOOSE, depth, th: next, isLine: el.type.kind === 'line' });
      }
    }
    const fail = (kind: MatchFailure<R>['kind'], ambiguous: string[] = []): MatchResult<R> => ({
      ok: false,
      failure: {
        kind,
        index: i,
        keywords,
        args,
        ambiguous,
        duplicate,
        completeBefore: liveTemplates(threads.filter(isFinal)),
        live: liveTemplates(threads),
        sensitive: i >= sensitiveFrom,
        matched: i,
      },
    });
    if (ranked.length === 0) {
      return fail(duplicate !== undefined && args.every((a) => !a.invalid) ? 'duplicate' : 'invalid');
    }
    const best = Math.min(...ranked.map((r) => r.rank));
    let chosen = ranked.filter((r) => r.rank === best);
    if (best === PREFIX) {
      const innermost = Math.min(...chosen.map((r) => r.depth));
      chosen = chosen.filter((r) => r.depth === innermost);
      const words = [...new Set(chosen.map((r) => r.word as string))];
      if (words.length > 1) return fail('ambiguous', words.sort());
    }
    // A LINE argument swallows the rest of the line: its threads are finished.
    lineDone = chosen.filter((r) => r.isLine).map((r) => r.th);
    threads = closure(chosen.filter((r) => !r.isLine).map((r) => r.th));
    if (lineDone.length > 0) {
      threads = [];
      break;
    }
  }

  const finals = [...closure(lineDone), ...threads].filter(isFinal);
  if (finals.length > 0) {
    finals.sort((a, b) => templates[a.tpl].depth - templates[b.tpl].depth || a.tpl - b.tpl);
    const th = finals[0];
    return { ok: true, template: templates[th.tpl], captures: capsToArray(th.caps) };
  }
  const keywords: string[] = [];
  const args: ArgCandidate[] = [];
  for (const th of threads) {
    for (const e of templates[th.tpl].syntax.nfa.edges[th.state]) {
      if (e.kind !== 'el') continue;
      if (e.el.t === 'kw') keywords.push(e.el.word);
      else args.push({ el: e.el, invalid: false });
    }
  }
  return {
    ok: false,
    failure: {
      kind: 'incomplete',
      index: tokens.length,
      keywords,
      args,
      ambiguous: [],
      completeBefore: [],
      live: liveTemplates(threads),
      sensitive: false,
      matched: tokens.length,
    },
  };
}
