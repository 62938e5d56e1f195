/**
 * `openssl speed` as the baseline of the ESP benchmark (scripts/bench/esp.ts):
 * run it for one algorithm and read its figures back.
 *
 * It prints its results in one of two layouts, both read here:
 *  - the table for people: a header `type  16 bytes  64 bytes ...` (one column
 *    per block size, or one column with `-bytes N`), then one row per
 *    algorithm whose cells are thousands of bytes per second with a `k` suffix;
 *  - the machine-readable form (`-mr`): `+H:16:64:...` lists the block sizes
 *    and `+F:n:NAME:v1:v2...` gives bytes per second for each.
 * The progress lines (`Doing NAME for 3s on 1400 size blocks: 905991 NAME's in
 * 2.99s`, or `+R:905991:NAME:2.99` with -mr) carry the raw count and time;
 * they are kept for the printout. openssl speed times its own user CPU unless
 * given -elapsed, so its figures are per core.
 */
import { spawnSync } from 'node:child_process';

export interface SpeedFigure {
  /** As openssl prints it: "AES-256-GCM" (3.x), "aes-256-gcm" (1.1), "hmac(sha1)". */
  readonly algorithm: string;
  readonly blockSize: number;
  readonly bytesPerSecond: number;
}

export interface SpeedRun {
  /** Operations and the seconds openssl counted for them, per block size (progress lines). */
  readonly count: number;
  readonly seconds: number;
  readonly blockSize: number;
}

export interface SpeedOutput {
  readonly figures: readonly SpeedFigure[];
  readonly runs: readonly SpeedRun[];
}

const num = (s: string): number => (/^[0-9]+(\.[0-9]+)?$/.test(s) ? Number(s) : NaN);

/** Every figure and progress line in `openssl speed` output, in either layout (see the file comment). */
export function parseOpensslSpeed(text: string): SpeedOutput {
  const figures: SpeedFigure[] = [];
  const runs: SpeedRun[] = [];
  let sizes: number[] = [];
  let mrSizes: number[] = [];
  const mrBlocks: number[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    // -mr: +DT:NAME:seconds:size announces a run, +R:count:NAME:time ends it.
    if (line.startsWith('+DT:')) {
      const f = line.split(':');
      mrBlocks.push(num(f[f.length - 1]));
      continue;
    }
    if (line.startsWith('+R:')) {
      const f = line.split(':');
      const blockSize = mrBlocks.shift() ?? NaN;
      runs.push({ count: num(f[1]), seconds: num(f[f.length - 1]), blockSize });
      continue;
    }
    if (line.startsWith('+H:')) {
      mrSizes = line.slice(3).split(':').map(num);
      continue;
    }
    if (line.startsWith('+F:')) {
      // +F:index:NAME:v1:v2...; the name has no colon in practice, but take the values from the right.
      const f = line.split(':');
      const values = f.slice(f.length - mrSizes.length).map(num);
      const algorithm = f.slice(2, f.length - mrSizes.length).join(':');
      values.forEach((v, i) => {
        if (Number.isFinite(v)) figures.push({ algorithm, blockSize: mrSizes[i], bytesPerSecond: v });
      });
      continue;
    }
    const doing = /^Doing (.+?) (?:ops )?for \d+s on (\d+) size blocks: (\d+) .* in ([0-9.]+)s$/.exec(line);
    if (doing) {
      runs.push({ count: Number(doing[3]), seconds: Number(doing[4]), blockSize: Number(doing[2]) });
      continue;
    }
    const header = /^type\s+(.*)$/.exec(line);
    if (header && /\bbytes$/.test(header[1])) {
      sizes = [...header[1].matchAll(/(\d+) bytes/g)].map((m) => Number(m[1]));
      continue;
    }
    if (sizes.length > 0) {
      // A table row: the name (it may hold spaces), then one cell per size, "123.45k".
      const cells = line.split(/\s+/);
      if (cells.length <= sizes.length) continue;
      const tail = cells.slice(cells.length - sizes.length);
      if (!tail.every((c) => /^[0-9]+(\.[0-9]+)?k$/.test(c))) continue;
      const algorithm = cells.slice(0, cells.length - sizes.length).join(' ');
      tail.forEach((c, i) => figures.push({ algorithm, blockSize: sizes[i], bytesPerSecond: Number(c.slice(0, -1)) * 1000 }));
    }
  }
  return { figures, runs };
}

/** The figure whose block size is closest to `size` (the larger one on a tie). */
export function nearestFigure(figures: readonly SpeedFigure[], size: number): SpeedFigure | undefined {
  let best: SpeedFigure | undefined;
  for (const f of figures) {
    const d = Math.abs(f.blockSize - size);
    const bd = best ? Math.abs(best.blockSize - size) : Infinity;
    if (d < bd || (d === bd && best && f.blockSize > best.blockSize)) best = f;
  }
  return best;
}

export interface Baseline {
  readonly command: string;
  readonly figure: SpeedFigure;
  /** Operations per second at figure.blockSize (bytesPerSecond / blockSize). */
  readonly opsPerSecond: number;
  /** Set when openssl could not measure `size` itself and a nearby block size stands in. */
  readonly note?: string;
}

/** What one `openssl speed` run measures. */
export interface SpeedWhat {
  readonly evp?: string;
  readonly hmac?: string;
  readonly decrypt?: boolean;
  /**
   * `-aead`: each operation sets a nonce, feeds 13 bytes of AAD and finishes
   * with the tag, as one ESP packet does; without it openssl streams the
   * cipher over one context (no nonce, AAD or tag per block).
   */
  readonly aead?: boolean;
}

/**
 * `openssl speed [-decrypt] [-aead] -evp CIPHER | -hmac DIGEST -bytes size -seconds s`;
 * if this openssl has no -bytes, the default sizes and the nearest one.
 */
export function runOpensslSpeed(what: SpeedWhat, size: number, seconds: number, openssl = 'openssl'): Baseline {
  const alg = what.evp ? ['-evp', what.evp] : ['-hmac', what.hmac ?? 'sha1'];
  const base = [...(what.decrypt ? ['-decrypt'] : []), ...(what.aead ? ['-aead'] : []), ...alg, '-seconds', String(seconds)];
  const run = (args: string[]): { ok: boolean; out: SpeedOutput; text: string } => {
    const r = spawnSync(openssl, ['speed', ...args], { encoding: 'utf8', timeout: (seconds * 8 + 30) * 1000 });
    const text = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
    return { ok: r.status === 0, out: parseOpensslSpeed(text), text };
  };
  const withBytes = [...base.slice(0, -2), '-bytes', String(size), ...base.slice(-2)];
  let r = run(withBytes);
  let command = `openssl speed ${withBytes.join(' ')}`;
  let note: string | undefined;
  const exact = r.out.figures.find((f) => f.blockSize === size);
  if (!r.ok || !exact) {
    r = run(base);
    command = `openssl speed ${base.join(' ')}`;
    if (!r.ok && r.out.figures.length === 0) throw new Error(`${command} failed: ${r.text.trim().slice(-400)}`);
  }
  const figure = exact ?? nearestFigure(r.out.figures, size);
  if (!figure) throw new Error(`${command}: no figures in its output: ${r.text.trim().slice(-400)}`);
  if (figure.blockSize !== size) note = `this openssl does not take -bytes ${size}: its ${figure.blockSize}-byte blocks stand in`;
  return { command, figure, opsPerSecond: figure.bytesPerSecond / figure.blockSize, ...(note ? { note } : {}) };
}

/** openssl's version line, e.g. "OpenSSL 3.0.19 27 Jan 2026 (Library: ...)". */
export function opensslVersion(openssl = 'openssl'): string {
  const r = spawnSync(openssl, ['version'], { encoding: 'utf8', timeout: 5000 });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}
