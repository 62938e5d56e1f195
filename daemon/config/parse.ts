/**
 * parseConfig(): reads an IOS running-config into the model, collecting every
 * error and warning of the file rather than stopping at the first.
 *
 * Modes follow IOS: a block command (interface, router eigrp, crypto ..., key
 * chain, key, peer) enters a sub-mode; a command the current mode lacks is tried
 * in its parents, and when found there the reader leaves the sub-mode (so a new
 * global command closes a block); `exit` and a `!` line leave the current
 * sub-mode for its parent (the ` !` IOS prints between keyring peers closes just
 * the peer); `end` stops reading. Indentation carries no meaning.
 *
 * parseConfig checks syntax and what a line can say alone (ranges, masks, host
 * bits); validate() checks the model as a whole and against the capabilities.
 */
import { finalize, newModel } from './builder.js';
import { diagnostic, type Diagnostic } from './diagnostics.js';
import { explainFailure } from './explain.js';
import { chainTemplates, enteringRowsByFirstWord, modeChain, modeTemplates, TABLES, type RowRef } from './grammar.js';
import { matchLine, type MatchFailure, type Template, type Token } from './matcher.js';
import type { ConfigModel, SourcePos } from './model.js';
import { Match, MODES, modeTitle, type Apply, type ModeId } from './modes.js';
import { orList } from './diagnostics.js';

export interface ParseResult {
  readonly model: ConfigModel;
  readonly diagnostics: readonly Diagnostic[];
}

/** Words of a line with their 1-based columns; spaces and tabs separate words. */
export function tokenize(line: string): Token[] {
  const out: Token[] = [];
  const re = /[^ \t]+/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line)) !== null) out.push({ text: m[0], col: m.index + 1 });
  return out;
}

interface Frame {
  readonly mode: ModeId;
  /** The object the mode configures; null after a block command that failed (lines are checked, not applied). */
  readonly ctx: unknown;
}

export function parseConfig(text: string, fileName = '<config>'): ParseResult {
  const diags: Diagnostic[] = [];
  const model = newModel();
  const stack: Frame[] = [{ mode: 'global', ctx: model }];
  let closed: { mode: ModeId; line: number } | undefined;
  let endLine: number | undefined;

  const leave = (n: number, line: number): void => {
    for (let i = 0; i < n && stack.length > 1; i++) closed = { mode: (stack.pop() as Frame).mode, line };
  };

  const lines = (text.startsWith('\uFEFF') ? text.slice(1) : text).split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i];
    const tokens = tokenize(line);
    if (tokens.length === 0) continue;
    const pos = (column: number): SourcePos => ({ file: fileName, line: lineNo, column });
    if (endLine !== undefined) {
      if (!tokens[0].text.startsWith('!')) {
        diags.push(diagnostic('warning', pos(tokens[0].col), `text after "end" (line ${endLine}) is ignored`));
        break;
      }
      continue;
    }
    if (tokens[0].text.startsWith('!')) {
      leave(1, lineNo);
      continue;
    }
    try {
      readLine(line, tokens, lineNo, pos);
    } catch (e) {
      // A handler bug must not take the reader down; say where it happened.
      diags.push(diagnostic('error', pos(tokens[0].col), `internal error while reading this line: ${(e as Error).message}`));
    }
  }

  function readLine(line: string, tokens: Token[], lineNo: number, pos: (c: number) => SourcePos): void {
    const top = stack[stack.length - 1];
    const r = matchLine(line, tokens, chainTemplates(top.mode));
    if (!r.ok) {
      fail(line, tokens, lineNo, pos, r.failure);
      return;
    }
    const ref = r.template.row;
    leave(r.template.depth, lineNo);
    const frame = stack[stack.length - 1];
    if (ref.row.control === 'exit') {
      leave(1, lineNo);
      return;
    }
    if (ref.row.control === 'end') {
      endLine = lineNo;
      return;
    }
    const m = new Match(r.captures, tokens);
    const start = pos(tokens[ref.negated ? 1 : 0].col);
    let entered: unknown = null;
    if (frame.ctx !== null) {
      const errorsBefore = diags.length;
      const at = (name?: string): SourcePos => {
        const t = name === undefined ? undefined : m.token(name);
        return t ? pos(t.col) : start;
      };
      const a: Apply<unknown> = {
        ctx: frame.ctx, m, negated: ref.negated, command: ref.key, pos: start, model, at,
        error: (where, message) => diags.push(diagnostic('error', at(where), message)),
        warn: (where, message) => diags.push(diagnostic('warning', at(where), message)),
      };
      const result = ref.row.apply(a);
      const failed = diags.slice(errorsBefore).some((d) => d.severity === 'error');
      if (ref.row.enters) entered = failed ? null : (result ?? null);
      else if (typeof frame.ctx === 'object' && 'settingPos' in (frame.ctx as object)) {
        (frame.ctx as { settingPos: Record<string, SourcePos> }).settingPos[ref.key] = start;
      }
      const feature = typeof ref.row.feature === 'function' ? ref.row.feature(m) : ref.row.feature;
      if (feature && !failed && !(ref.negated && ref.row.enters)) {
        model.featureUses.push({ capability: feature, command: ref.negated ? `no ${ref.key}` : ref.key, pos: pos(tokens[0].col) });
      }
    }
    if (ref.row.enters && !ref.negated) stack.push({ mode: ref.row.enters, ctx: entered });
  }

  function fail(line: string, tokens: Token[], lineNo: number, pos: (c: number) => SourcePos, f: MatchFailure<RowRef>): void {
    const current = stack[stack.length - 1].mode;
    const first = tokens[0];
    // A command that exists but has no `no` form.
    if (first.text.toLowerCase() === 'no' && tokens.length > 1) {
      const plain = matchLine(line, tokens.slice(1), chainTemplates(current));
      if (plain.ok && plain.template.row.row.no === undefined) {
        diags.push(diagnostic('error', pos(first.col), `"${plain.template.row.key}" has no "no" form`));
        return;
      }
    }
    // A command of another mode: say where it belongs.
    const elsewhere: ModeId[] = [];
    let key = '';
    let further: { mode: ModeId; failure: MatchFailure<RowRef> } | undefined;
    for (const t of TABLES) {
      if (modeChain(current).includes(t.id)) continue;
      const o = matchLine(line, tokens, modeTemplates(t.id));
      if (o.ok) {
        elsewhere.push(t.id);
        key ||= (o.template.row.negated ? 'no ' : '') + o.template.row.key;
      } else if (o.failure.matched > Math.max(f.matched, further?.failure.matched ?? 0)) {
        further = { mode: t.id, failure: o.failure };
      }
    }
    if (elsewhere.length > 0) {
      const ended = closed && elsewhere.includes(closed.mode) ? ` (the ${MODES[closed.mode].prompt} block ended at line ${closed.line})` : '';
      diags.push(diagnostic('error', pos(first.col),
        `"${key}" is not valid in ${modeTitle(current)}; it belongs in ${orList(elsewhere.map(modeTitle))}${ended}`));
      return;
    }
    // A command of another mode with its own mistake: report that mistake, and where the command belongs.
    const keys = further ? [...new Set(further.failure.live.map((t) => (t.row.negated ? 'no ' : '') + t.row.key))] : [];
    if (further && keys.length === 1) {
      const e = explainFailure(further.failure, tokens);
      diags.push(diagnostic('error', pos(e.column), `${e.message} ("${keys[0]}" belongs in ${modeTitle(further.mode)}, not ${modeTitle(current)})`));
      return;
    }
    const e = explainFailure(f, tokens);
    diags.push(diagnostic('error', pos(e.column), e.message));
    poison(f, e.suggestions, tokens, lineNo);
  }

  /**
   * After a block command that failed (`interface g0/0`, `intreface Tunnel0`),
   * enter its mode anyway with nothing to configure, so the block's own lines
   * are still checked and do not each report "wrong mode".
   */
  function poison(f: MatchFailure<RowRef>, suggestions: readonly string[], tokens: Token[], lineNo: number): void {
    const current = stack[stack.length - 1].mode;
    let targets: Template<RowRef>[] = [];
    if (f.matched > 0 && f.live.length > 0 && f.live.every((t) => !t.row.negated && t.row.row.enters !== undefined)) {
      targets = [...f.live];
    } else if (f.matched === 0 && suggestions.length === 1 && tokens.length > 1) {
      const modes = enteringRowsByFirstWord(suggestions[0], current);
      if (modes.length > 0 && modes.every((x) => x === modes[0])) {
        targets = chainTemplates(current).filter((t) => !t.row.negated && t.row.row.enters === modes[0]);
      }
    }
    if (targets.length === 0) return;
    const mode = targets[0].row.row.enters as ModeId;
    if (!targets.every((t) => t.row.row.enters === mode && t.depth === targets[0].depth)) return;
    leave(targets[0].depth, lineNo);
    stack.push({ mode, ctx: null });
  }

  return { model: finalize(model), diagnostics: diags };
}
