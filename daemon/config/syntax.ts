/**
 * The notation of the command tables, close to Cisco's command reference, and
 * its compiler to a small NFA the matcher runs.
 *
 *   word          a keyword; any unambiguous prefix of it matches, case-insensitively
 *   <TYPE:name>   a typed argument captured as `name`; TYPE is A.B.C.D, MASK,
 *                 WILDCARD, N-M (a number range), WORD, SECRET, SECRETn (at most
 *                 n characters), IFNAME, TUNNEL, LINE (the rest of the line)
 *   <IF:name>     an interface: `Tunnel0`, `tu0`, `tunnel 0`, or a Linux name
 *   ( a | b c )   exactly one of the alternatives
 *   [ a | b ]     at most one of them (optional)
 *   { a | b }     options in any order, each at most once; `{...}+` needs one
 *   x+            one or more of x
 *
 * Example: `ip nhrp nhs <A.B.C.D:nhs> [nbma <A.B.C.D:nbma>] [multicast]`.
 */
import { argTypeFromSpec, type ArgType } from './args.js';

export interface KeywordEl {
  readonly t: 'kw';
  readonly word: string;
  readonly id: number;
  /** Inside a `{...}` set: may be given at most once. */
  readonly once: boolean;
}

export interface ArgEl {
  readonly t: 'arg';
  readonly type: ArgType;
  readonly name: string;
  readonly id: number;
  readonly once: boolean;
}

export type Element = KeywordEl | ArgEl;

type Ast =
  | Element
  | { readonly t: 'seq'; readonly items: readonly Ast[] }
  | { readonly t: 'alt'; readonly options: readonly Ast[] }
  | { readonly t: 'opt'; readonly body: Ast }
  | { readonly t: 'loop'; readonly body: Ast; readonly min1: boolean };

export type Edge =
  | { readonly kind: 'eps'; readonly to: number }
  | { readonly kind: 'el'; readonly el: Element; readonly to: number };

export interface Nfa {
  /** edges[state]; state 0 is the start. */
  readonly edges: readonly (readonly Edge[])[];
  readonly final: number;
}

export interface CompiledSyntax {
  readonly text: string;
  readonly nfa: Nfa;
  /** The leading keywords ("ip nhrp map"): how messages name the command. */
  readonly key: string;
  /** True when the template has a SECRET argument. */
  readonly hasSecret: boolean;
}

let nextId = 1;

function lex(text: string): string[] {
  const out: string[] = [];
  const re = /\s*(<[^>]*>|[()[\]{}|+]|[^\s()[\]{}|+<>]+)/gy;
  let m: RegExpExecArray | null;
  let at = 0;
  while ((m = re.exec(text)) !== null) {
    out.push(m[1]);
    at = re.lastIndex;
  }
  if (text.slice(at).trim() !== '') throw new Error(`command syntax "${text}": cannot read "${text.slice(at)}"`);
  return out;
}

class SyntaxParser {
  private i = 0;
  constructor(private readonly toks: string[], private readonly text: string) {}

  parse(): Ast {
    const a = this.alt(false);
    if (this.i !== this.toks.length) this.fail(`unexpected "${this.toks[this.i]}"`);
    return a;
  }

  private fail(msg: string): never {
    throw new Error(`command syntax "${this.text}": ${msg}`);
  }

  private alt(once: boolean): Ast {
    const options: Ast[] = [this.seq(once)];
    while (this.toks[this.i] === '|') {
      this.i++;
      options.push(this.seq(once));
    }
    return options.length === 1 ? options[0] : { t: 'alt', options };
  }

  private seq(once: boolean): Ast {
    const items: Ast[] = [];
    for (;;) {
      const tok = this.toks[this.i];
      if (tok === undefined || tok === '|' || tok === ')' || tok === ']' || tok === '}') break;
      let atom = this.atom(once);
      if (this.toks[this.i] === '+') {
        this.i++;
        atom = atom.t === 'loop' ? { t: 'loop', body: atom.body, min1: true } : { t: 'loop', body: atom, min1: true };
      }
      items.push(atom);
    }
    if (items.length === 0) this.fail('empty sequence');
    return items.length === 1 ? items[0] : { t: 'seq', items };
  }

  private group(close: string, once: boolean): Ast {
    this.i++;
    const body = this.alt(once);
    if (this.toks[this.i] !== close) this.fail(`expected "${close}"`);
    this.i++;
    return body;
  }

  private atom(once: boolean): Ast {
    const tok = this.toks[this.i];
    if (tok === '(') return this.group(')', once);
    if (tok === '[') return { t: 'opt', body: this.group(']', once) };
    if (tok === '{') return { t: 'loop', body: this.group('}', true), min1: false };
    if (tok.startsWith('<')) {
      this.i++;
      const m = /^<([^:>]+):([A-Za-z][\w-]*)>$/.exec(tok);
      if (!m) this.fail(`bad argument "${tok}"`);
      if (m[1] === 'IF') {
        return {
          t: 'alt',
          options: [
            { t: 'seq', items: [{ t: 'kw', word: 'tunnel', id: nextId++, once }, { t: 'arg', type: { kind: 'tunnel' }, name: m[2], id: nextId++, once }] },
            { t: 'arg', type: { kind: 'ifname' }, name: m[2], id: nextId++, once },
          ],
        };
      }
      const type = argTypeFromSpec(m[1]);
      if (!type) this.fail(`unknown argument type "${m[1]}"`);
      return { t: 'arg', type, name: m[2], id: nextId++, once };
    }
    if (!/^[a-z0-9][a-z0-9.-]*$/.test(tok)) this.fail(`bad keyword "${tok}"`);
    this.i++;
    return { t: 'kw', word: tok, id: nextId++, once };
  }
}

class NfaBuilder {
  readonly edges: Edge[][] = [[]];

  state(): number {
    this.edges.push([]);
    return this.edges.length - 1;
  }

  eps(from: number, to: number): void {
    this.edges[from].push({ kind: 'eps', to });
  }

  build(a: Ast, from: number): number {
    switch (a.t) {
      case 'kw':
      case 'arg': {
        const to = this.state();
        this.edges[from].push({ kind: 'el', el: a, to });
        return to;
      }
      case 'seq': {
        let cur = from;
        for (const it of a.items) cur = this.build(it, cur);
        return cur;
      }
      case 'alt': {
        const end = this.state();
        for (const o of a.options) this.eps(this.build(o, from), end);
        return end;
      }
      case 'opt': {
        const end = this.build(a.body, from);
        this.eps(from, end);
        return end;
      }
      case 'loop': {
        let entry = from;
        if (a.min1) entry = this.build(a.body, from);
        const head = this.state();
        this.eps(entry, head);
        this.eps(this.build(a.body, head), head);
        return head;
      }
    }
  }
}

function leadingKeywords(a: Ast): string[] {
  if (a.t === 'kw') return [a.word];
  if (a.t !== 'seq') return [];
  const out: string[] = [];
  for (const it of a.items) {
    if (it.t !== 'kw') break;
    out.push(it.word);
  }
  return out;
}

function hasSecretArg(a: Ast): boolean {
  switch (a.t) {
    case 'kw': return false;
    case 'arg': return a.type.kind === 'secret';
    case 'seq': return a.items.some(hasSecretArg);
    case 'alt': return a.options.some(hasSecretArg);
    case 'opt':
    case 'loop': return hasSecretArg(a.body);
  }
}

export function compileSyntax(text: string): CompiledSyntax {
  const ast = new SyntaxParser(lex(text), text).parse();
  const b = new NfaBuilder();
  const final = b.build(ast, 0);
  return { text, nfa: { edges: b.edges, final }, key: leadingKeywords(ast).join(' '), hasSecret: hasSecretArg(ast) };
}
