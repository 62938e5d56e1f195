/**
 * Configuration modes (IOS prompts config, config-if, config-router ...), the
 * shape of a command table row, and what a row's handler gets to work with.
 */
import type { ArgValue } from './args.js';
import type { ModelDraft } from './builder.js';
import type { Capture, Token } from './matcher.js';
import type { Capability, SourcePos } from './model.js';
import { Secret } from './secret.js';

export type ModeId =
  | 'global' | 'interface' | 'router-eigrp' | 'ikev2-keyring' | 'keyring-peer' | 'ikev2-profile' | 'ipsec-profile'
  | 'ikev2-proposal' | 'ikev2-policy' | 'transform-set' | 'keychain' | 'keychain-key';

export interface ModeInfo {
  /** The IOS prompt suffix, e.g. "config-if". */
  readonly prompt: string;
  readonly title: string;
  readonly parent?: ModeId;
}

export const MODES: Readonly<Record<ModeId, ModeInfo>> = {
  'global': { prompt: 'config', title: 'global configuration mode' },
  'interface': { prompt: 'config-if', title: 'interface mode', parent: 'global' },
  'router-eigrp': { prompt: 'config-router', title: 'router eigrp mode', parent: 'global' },
  'ikev2-keyring': { prompt: 'config-ikev2-keyring', title: 'crypto ikev2 keyring mode', parent: 'global' },
  'keyring-peer': { prompt: 'config-ikev2-keyring-peer', title: 'keyring peer mode', parent: 'ikev2-keyring' },
  'ikev2-profile': { prompt: 'config-ikev2-profile', title: 'crypto ikev2 profile mode', parent: 'global' },
  'ipsec-profile': { prompt: 'ipsec-profile', title: 'crypto ipsec profile mode', parent: 'global' },
  'ikev2-proposal': { prompt: 'config-ikev2-proposal', title: 'crypto ikev2 proposal mode', parent: 'global' },
  'ikev2-policy': { prompt: 'config-ikev2-policy', title: 'crypto ikev2 policy mode', parent: 'global' },
  'transform-set': { prompt: 'cfg-crypto-trans', title: 'crypto ipsec transform-set mode', parent: 'global' },
  'keychain': { prompt: 'config-keychain', title: 'key chain mode', parent: 'global' },
  'keychain-key': { prompt: 'config-keychain-key', title: 'key chain key mode', parent: 'keychain' },
};

export function modeTitle(id: ModeId): string {
  return `${MODES[id].title} (${MODES[id].prompt})`;
}

/** The captured words and arguments of a matched line. */
export class Match {
  constructor(
    readonly captures: readonly Capture[],
    readonly tokens: readonly Token[],
  ) {}

  private arg(name: string): Capture | undefined {
    return this.captures.find((c) => c.el.t === 'arg' && c.el.name === name);
  }

  /** True when the keyword `word` was given. */
  has(word: string): boolean {
    return this.captures.some((c) => c.el.t === 'kw' && c.el.word === word);
  }

  /** The keywords among `words` that were given, in the order written. */
  keywords<W extends string>(words: readonly W[]): W[] {
    const out: W[] = [];
    for (const c of this.captures) if (c.el.t === 'kw' && (words as readonly string[]).includes(c.el.word)) out.push(c.el.word as W);
    return out;
  }

  value(name: string): ArgValue | undefined {
    return this.arg(name)?.value;
  }

  all(name: string): ArgValue[] {
    return this.captures.filter((c) => c.el.t === 'arg' && c.el.name === name).map((c) => c.value);
  }

  str(name: string): string {
    const v = this.value(name);
    if (typeof v !== 'string') throw new Error(`internal: argument ${name} is not a string`);
    return v;
  }

  optStr(name: string): string | undefined {
    return this.value(name) === undefined ? undefined : this.str(name);
  }

  num(name: string): number {
    const v = this.value(name);
    if (typeof v !== 'number') throw new Error(`internal: argument ${name} is not a number`);
    return v;
  }

  optNum(name: string): number | undefined {
    return this.value(name) === undefined ? undefined : this.num(name);
  }

  secret(name: string): Secret {
    const v = this.value(name);
    if (!(v instanceof Secret)) throw new Error(`internal: argument ${name} is not a secret`);
    return v;
  }

  optSecret(name: string): Secret | undefined {
    return this.value(name) === undefined ? undefined : this.secret(name);
  }

  /** The token of an argument (by name) or else of a keyword (by word). */
  token(name: string): Token | undefined {
    const c = this.arg(name) ?? this.captures.find((x) => x.el.t === 'kw' && x.el.word === name);
    return c ? this.tokens[c.token] : undefined;
  }
}

export interface Apply<C> {
  /** The object the mode configures (the model itself in global mode); null never reaches a handler. */
  readonly ctx: C;
  readonly m: Match;
  readonly negated: boolean;
  /** The command's keywords ("ip nhrp map"), for messages. */
  readonly command: string;
  /** Where the command starts (its first word after `no`). */
  readonly pos: SourcePos;
  readonly model: ModelDraft;
  /** Position of an argument or keyword of the line (the command's start if absent). */
  at(name?: string): SourcePos;
  error(where: string | undefined, message: string): void;
  warn(where: string | undefined, message: string): void;
}

export interface Row<C> {
  /** The command, in the notation of syntax.ts. */
  readonly syntax: string;
  /** The `no` form: the same syntax, or its own (usually with trailing arguments optional). */
  readonly no?: 'same' | string;
  /** The capability this command needs (checked by validate()). */
  readonly feature?: Capability | ((m: Match) => Capability | undefined);
  /** The sub-mode the command enters; apply() returns the object that mode configures. */
  readonly enters?: ModeId;
  /** `exit` (leave the mode) and `end` (stop reading) are handled by the reader itself. */
  readonly control?: 'exit' | 'end';
  apply(a: Apply<C>): unknown;
}

/** `exit`: valid in every mode, leaves it for its parent (a no-op in global mode). */
export const EXIT_ROW: Row<unknown> = { syntax: 'exit', control: 'exit', apply: () => undefined };

export interface ModeTable<C> {
  readonly id: ModeId;
  readonly rows: readonly Row<C>[];
}

/**
 * Open a named block: create it, or (IOS re-entering a block adds to it) return
 * the existing one with a warning, since a block written twice in one file is
 * more often a paste mistake than an intent.
 */
export function openBlock<T extends { readonly pos: SourcePos }>(a: Apply<unknown>, list: T[], match: (x: T) => boolean, make: () => T, what: string): T {
  const found = list.find(match);
  if (found) {
    a.warn(undefined, `"${what}" is opened again (first at line ${found.pos.line}); the settings are merged`);
    return found;
  }
  const x = make();
  list.push(x);
  return x;
}

/** Rows are written with their context type; the driver holds them type-erased. */
export function table<C>(id: ModeId, rows: readonly Row<C>[]): ModeTable<unknown> {
  return { id, rows } as unknown as ModeTable<unknown>;
}
