/**
 * What the netlink programming benchmarks share (kernel-cp.ts: neighbours and routes, xfrm.ts:
 * states and policies): the three ways of doing N operations, timed, and the namespace the
 * measurement runs in.
 *
 * - each awaited: the port, one call at a time, each awaited before the next (how the daemon's
 *   kernel queues issue them today);
 * - pipelined: the port, PIPELINE_DEPTH calls outstanding at any time (its request window);
 * - ip -batch: the baseline, measured in the same run: one process reading a file, one request
 *   and one ACK per line.
 *
 * Progress goes to stderr; the figures are returned for the caller to print. Never passes or
 * fails on a time.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Calls outstanding in the pipelined measurement: the ports' default request window. */
export const PIPELINE_DEPTH = 64;

/** Operations per second, three ways. */
export interface Rates {
  readonly awaited: number;
  readonly pipelined: number;
  readonly ip: number;
}

export function progress(tag: string, what: string, n: number, seconds: number): void {
  process.stderr.write(`${tag}: ${what}: ${n} in ${seconds.toFixed(2)} s\n`);
}

/** One of the two ways of timing the port: n operations, a rate per second. */
export type Timer = (tag: string, what: string, n: number, op: (i: number) => Promise<void>) => Promise<number>;

/** n operations, each awaited before the next. */
export async function timedAwaited(tag: string, what: string, n: number, op: (i: number) => Promise<void>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await op(i);
  const s = (performance.now() - t0) / 1000;
  progress(tag, `${what}, each awaited`, n, s);
  return n / s;
}

/** n operations in call order, `depth` outstanding at any time; the first failure fails it all. */
export async function timedPipelined(tag: string, what: string, n: number, op: (i: number) => Promise<void>, depth = PIPELINE_DEPTH): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) await op(next++);
  };
  await Promise.all(Array.from({ length: Math.min(depth, n) }, worker));
  const s = (performance.now() - t0) / 1000;
  progress(tag, `${what}, ${depth} in flight`, n, s);
  return n / s;
}

/** `ip -batch` on a file of n lines written to `dir`. */
export function timedIpBatch(tag: string, dir: string, name: string, n: number, line: (i: number) => string): number {
  const file = join(dir, name);
  writeFileSync(file, Array.from({ length: n }, (_, i) => line(i)).join('\n') + '\n');
  const t0 = performance.now();
  const r = spawnSync('ip', ['-batch', file], { encoding: 'utf8', timeout: 1_800_000 });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`ip -batch ${name} failed: ${(r.stderr || r.error?.message || '').split('\n')[0]}`);
  progress(tag, `ip -batch ${name}`, n, s);
  return n / s;
}

/**
 * Run `self --inner n` inside a fresh network namespace (a netlink socket belongs to the
 * namespace of the process that opens it) and parse the JSON it prints; the namespace is removed
 * in any case.
 */
export function measureInNamespace<T>(prefix: string, self: string, n: number): T {
  const ns = `${prefix}-${process.pid}`;
  const add = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8' });
  if (add.status !== 0) throw new Error(`ip netns add ${ns}: ${add.stderr || add.error?.message} (root needed)`);
  try {
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, self, '--inner', String(n)], {
      encoding: 'utf8', timeout: 7_200_000, maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (r.status !== 0) throw new Error(`the measurement failed (status ${r.status})${r.error ? `: ${r.error.message}` : ''}`);
    return JSON.parse(r.stdout) as T;
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
}

export const rate = (x: number): string => `${Math.round(x).toLocaleString('en-US')}/s`;

/** The table both benchmarks print: one row per operation, the port two ways against ip -batch. */
export function printRates(port: string, rows: readonly (readonly [string, Rates])[]): void {
  const w = Math.max(...rows.map(([what]) => what.length)) + 2;
  const a = `${port} awaited`.length + 2;
  const p = `${port} pipelined`.length + 2;
  console.log(`${''.padEnd(w)}${`${port} awaited`.padStart(a)}${`${port} pipelined`.padStart(p)}${'ip -batch'.padStart(12)}${'awaited/ip'.padStart(12)}${'pipelined/ip'.padStart(14)}`);
  for (const [what, r] of rows) {
    console.log(`${what.padEnd(w)}${rate(r.awaited).padStart(a)}${rate(r.pipelined).padStart(p)}${rate(r.ip).padStart(12)}` +
      `${(r.awaited / r.ip).toFixed(2).padStart(12)}${(r.pipelined / r.ip).toFixed(2).padStart(14)}`);
  }
}
