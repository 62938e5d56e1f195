/**
 * Benchmark kit: run a function for a fixed time, report operations per second,
 * and compare against a baseline measured in the same run (the machines are
 * shared: ratios hold, absolute figures do not). Prints figures only; it never
 * passes or fails on a time.
 */
export interface BenchResult {
  readonly name: string;
  readonly ops: number;
  readonly seconds: number;
  readonly opsPerSec: number;
}

export function runFor(name: string, fn: () => void, seconds = 1, batch = 1000): BenchResult {
  for (let i = 0; i < batch * 10; i++) fn(); // warm-up: let the JIT settle
  const start = process.hrtime.bigint();
  const limit = BigInt(Math.round(seconds * 1e9));
  let ops = 0;
  let elapsed = 0n;
  do {
    for (let i = 0; i < batch; i++) fn();
    ops += batch;
    elapsed = process.hrtime.bigint() - start;
  } while (elapsed < limit);
  const s = Number(elapsed) / 1e9;
  return { name, ops, seconds: s, opsPerSec: ops / s };
}

/** Run exactly n operations and report heap before/after (with forced GC when exposed). */
export function heapGrowth(fn: () => void, n: number): { before: number; after: number; growthBytes: number; perOpBytes: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < n; i++) fn();
  gc?.();
  const after = process.memoryUsage().heapUsed;
  return { before, after, growthBytes: after - before, perOpBytes: (after - before) / n };
}

export function fmtRate(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} M/s`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)} k/s`;
  return `${x.toFixed(0)} /s`;
}

export function printRow(r: BenchResult, baseline?: BenchResult): void {
  const ratio = baseline ? `  (${(r.opsPerSec / baseline.opsPerSec).toFixed(3)}x of ${baseline.name})` : '';
  console.log(`${r.name.padEnd(52)} ${fmtRate(r.opsPerSec).padStart(12)}${ratio}`);
}
