/**
 * Turns a match failure into the one-line message a network engineer expects:
 * the word at fault, what was expected there, and a "did you mean" when a
 * keyword is within a couple of typos. A word that may be part of a secret is
 * never repeated.
 */
import { typeLabel } from './args.js';
import { orList, quote, suggest } from './diagnostics.js';
import type { ArgEl } from './syntax.js';
import type { MatchFailure, Token } from './matcher.js';

export interface Explained {
  readonly column: number;
  readonly message: string;
  /** "Did you mean" candidates for the word at fault (empty when none). */
  readonly suggestions: readonly string[];
}

export function describeArg(el: ArgEl): string {
  if (el.type.kind === 'ifname') return 'an interface name';
  if (el.type.kind === 'tunnel') return 'a tunnel number';
  return `${typeLabel(el.type)} (${el.name})`;
}

function expected<R>(f: MatchFailure<R>): string[] {
  const items = [...new Set([...f.keywords.map((k) => JSON.stringify(k)), ...f.args.map((a) => describeArg(a.el))])];
  return items.length > 10 ? [...items.slice(0, 10), '...'] : items;
}

/** Column where a missing word would go: one space past the end of the last word. */
function endColumn(tokens: readonly Token[]): number {
  const last = tokens[tokens.length - 1];
  return last.col + last.text.length + 1;
}

export function explainFailure<R>(f: MatchFailure<R>, tokens: readonly Token[]): Explained {
  if (f.kind === 'incomplete' || f.index >= tokens.length) {
    return { column: endColumn(tokens), message: `incomplete command: expected ${orList(expected(f))}`, suggestions: [] };
  }
  const tok = tokens[f.index];
  const shown = f.sensitive ? undefined : quote(tok.text);
  const at = (message: string, suggestions: readonly string[] = []): Explained => ({ column: tok.col, message, suggestions });
  switch (f.kind) {
    case 'ambiguous': {
      const could = `could be ${orList(f.ambiguous.map((w) => JSON.stringify(w)))}`;
      return at(shown ? `ambiguous abbreviation ${shown}: ${could}` : `ambiguous abbreviation: ${could}`);
    }
    case 'duplicate':
      return at(`${JSON.stringify(f.duplicate ?? tok.text)} is given more than once`);
    default:
      break;
  }
  // Reasons never quote a secret, but other arguments' reasons quote the word, which may be one.
  const invalid = f.args.filter((a) => a.invalid && a.reason && (!f.sensitive || a.el.type.kind === 'secret'));
  if (invalid.length > 0) return at([...new Set(invalid.map((a) => a.reason as string))].join('; '));
  if (f.sensitive) {
    return at(f.completeBefore.length > 0 ? 'unexpected extra input after a secret (not shown)' : 'invalid input (not shown: it may be part of a secret)');
  }
  const sugg = suggest(tok.text, f.keywords);
  const mean = sugg.length > 0 ? `; did you mean ${orList(sugg.map((s) => JSON.stringify(s)))}?` : '';
  if (f.index === 0 || (f.index === 1 && tokens[0].text.toLowerCase() === 'no')) {
    return at(`unknown command ${shown}${mean}`, sugg);
  }
  if (mean) return at(`invalid input ${shown}${mean}`, sugg);
  if (f.completeBefore.length > 0) {
    const more = expected(f);
    return at(`unexpected extra input ${shown}${more.length > 0 ? `; expected ${orList([...more, 'the end of the line'])}` : ''}`);
  }
  return at(`invalid input ${shown}; expected ${orList(expected(f))}`);
}
