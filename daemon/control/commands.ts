/**
 * The operator command table: IOS-style words with unambiguous abbreviations
 * (`sh ip nh br`), each command giving text in IOS layout and a JSON value.
 */
export interface CommandResult {
  readonly text: string;
  readonly data: unknown;
}

export interface CommandSpec {
  /** Keywords, e.g. ["show", "ip", "nhrp", "brief"]. */
  readonly words: readonly string[];
  /** Number of free arguments accepted after the keywords (0 = none). */
  readonly args?: { readonly min: number; readonly max: number; readonly help: string };
  readonly help: string;
  run(args: readonly string[]): CommandResult | Promise<CommandResult>;
}

export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(readonly code: 'unknown-command' | 'ambiguous-command' | 'bad-argument' | 'internal', message: string) {
    super(message);
  }
}

export class CommandTable {
  private readonly specs: CommandSpec[] = [];

  add(spec: CommandSpec): void {
    this.specs.push(spec);
  }

  list(): readonly CommandSpec[] {
    return this.specs;
  }

  /**
   * Match typed words against the table. Each keyword may be abbreviated to an
   * unambiguous prefix among the candidates still alive at that position; the
   * longest command whose keywords all match wins, the rest are its arguments.
   */
  resolve(typed: readonly string[]): { spec: CommandSpec; args: string[] } {
    let alive: CommandSpec[] = [...this.specs];
    let depth = 0;
    for (; depth < typed.length; depth++) {
      const w = typed[depth].toLowerCase();
      const longer = alive.filter((s) => depth < s.words.length);
      const exact = longer.filter((s) => s.words[depth] === w);
      const matched = exact.length > 0 ? exact : longer.filter((s) => s.words[depth].startsWith(w));
      if (matched.length === 0) break; // the remaining words are arguments, or an error below
      const keywords = [...new Set(matched.map((s) => s.words[depth]))].sort();
      if (keywords.length > 1) {
        throw new CommandError('ambiguous-command', `% Ambiguous command: "${typed.slice(0, depth + 1).join(' ')}" could be ${keywords.join(', ')}`);
      }
      alive = matched;
    }
    const complete = alive.find((s) => s.words.length === depth);
    if (!complete) {
      const options = [...new Set(alive.filter((s) => s.words.length > depth).map((s) => s.words[depth]))].sort();
      if (depth < typed.length) {
        throw new CommandError('unknown-command', `% Invalid input "${typed[depth]}"${depth > 0 ? ` after "${typed.slice(0, depth).join(' ')}"` : ''}; expected one of: ${options.join(', ')}`);
      }
      throw new CommandError('unknown-command', `% Incomplete command "${typed.join(' ')}"; next word is one of: ${options.join(', ')}`);
    }
    const args = typed.slice(depth);
    const min = complete.args?.min ?? 0;
    const max = complete.args?.max ?? 0;
    if (args.length < min || args.length > max) {
      const takes = max === 0 ? 'no arguments' : complete.args?.help ?? `${min} to ${max} arguments`;
      throw new CommandError('bad-argument', `% "${complete.words.join(' ')}" takes ${takes}${args.length > max ? `; unexpected "${args[max]}"` : ''}`);
    }
    return { spec: complete, args };
  }
}
