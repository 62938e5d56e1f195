/**
 * Shared plumbing of the lab benchmarks (scripts/bench-lab.ts): commands with
 * time limits, a cleanup registry that signal handlers can run, process and
 * interface counters read from /proc and rtnetlink, and the control socket.
 * Figures only: nothing here passes or fails on a time.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { request } from '../../daemon/control/client.js';

export interface ShResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run a command to completion (bounded); throws on a non-zero status unless check is false. */
export function sh(args: readonly string[], opts: { check?: boolean; timeoutMs?: number } = {}): ShResult {
  const r = spawnSync(args[0], args.slice(1), { encoding: 'utf8', timeout: opts.timeoutMs ?? 20_000 });
  const out = { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  if ((opts.check ?? true) && out.status !== 0) {
    throw new Error(`${args.join(' ')} failed (${r.error ? r.error.message : out.status}): ${out.stderr.trim()}`);
  }
  return out;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll until ok() holds; throws after timeoutMs (every wait in the benchmarks is bounded). */
export async function waitUntil(what: string, ok: () => boolean | Promise<boolean>, timeoutMs: number, stepMs = 100): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await ok()) return;
    if (Date.now() >= end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Monotonic clock in milliseconds (CLOCK_MONOTONIC: comparable across processes). */
export function monoMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

// ---- cleanup ---------------------------------------------------------------------------

/**
 * What one benchmark made: namespaces, child processes, other undo steps. close()
 * undoes all of it, once; the entry point also calls it from its signal
 * handlers, so an interrupted run leaves nothing behind.
 */
export class Scope {
  private readonly namespaces: string[] = [];
  private readonly children: ChildProcess[] = [];
  private readonly undo: (() => void | Promise<void>)[] = [];
  private closing: Promise<void> | undefined;

  constructor() {
    active.add(this);
  }

  /** Create a network namespace with lo up. */
  netns(name: string): string {
    sh(['ip', 'netns', 'add', name]);
    this.namespaces.push(name);
    sh(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  /** Start a long-running process (killed at close). */
  spawn(args: readonly string[], opts: { stdio?: 'pipe' | 'ignore' | ['ignore', number, number] } = {}): ChildProcess {
    const child = spawn(args[0], args.slice(1), { stdio: opts.stdio ?? 'pipe' });
    this.children.push(child);
    return child;
  }

  defer(fn: () => void | Promise<void>): void {
    this.undo.push(fn);
  }

  /** Undo everything; a second (concurrent) call waits for the first. */
  close(): Promise<void> {
    this.closing ??= this.undoAll();
    return this.closing;
  }

  private async undoAll(): Promise<void> {
    active.delete(this);
    for (const fn of this.undo.reverse()) {
      try {
        await fn();
      } catch {
        /* keep undoing the rest */
      }
    }
    for (const c of this.children) await stopChild(c);
    for (const ns of this.namespaces.reverse()) {
      // Only our own processes live in our namespaces; end any the undo steps missed.
      for (const pid of nsPids(ns)) killPid(pid, 'SIGKILL');
      sh(['ip', 'netns', 'del', ns], { check: false });
    }
  }
}

const active = new Set<Scope>();

/** Close every open scope (the signal handlers' path). */
export async function closeAll(): Promise<void> {
  for (const s of [...active]) await s.close();
}

function killPid(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** SIGTERM, then SIGKILL after 3 s; resolves when the child has exited. */
export async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return;
  const done = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), 3000);
  await Promise.race([done, sleep(5000)]);
  clearTimeout(t);
}

/** Collect a child's stdout; resolve with it at exit, or reject after timeoutMs (and kill it). */
export function childOutput(c: ChildProcess, timeoutMs: number, onLine?: (line: string) => void): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    let partial = '';
    c.stdout?.setEncoding('utf8');
    c.stderr?.setEncoding('utf8');
    c.stdout?.on('data', (d: string) => {
      stdout += d;
      if (!onLine) return;
      partial += d;
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        onLine(partial.slice(0, nl));
        partial = partial.slice(nl + 1);
      }
    });
    c.stderr?.on('data', (d: string) => {
      stderr += d;
    });
    const t = setTimeout(() => {
      c.kill('SIGKILL');
      reject(new Error(`${c.spawnfile} did not finish within ${timeoutMs} ms\n${stderr.slice(-2000)}`));
    }, timeoutMs);
    c.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

// ---- processes ----------------------------------------------------------------------------

export function nsPids(ns: string): number[] {
  return sh(['ip', 'netns', 'pids', ns], { check: false }).stdout.split('\n').filter(Boolean).map(Number);
}

/** The dmvpnd process in a namespace (ip netns exec execs node, so its pid is the daemon's). */
export function daemonPid(ns: string): number | undefined {
  for (const pid of nsPids(ns)) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('dmvpnd.js')) return pid;
    } catch {
      /* gone */
    }
  }
  return undefined;
}

let clkTck = 0;
function ticksPerSecond(): number {
  if (!clkTck) clkTck = Number(sh(['getconf', 'CLK_TCK'], { check: false }).stdout.trim()) || 100;
  return clkTck;
}

/** utime+stime of a /proc stat line, in seconds (fields 14 and 15; comm may hold spaces). */
function statCpu(line: string): { comm: string; seconds: number; user: number; system: number } {
  const close = line.lastIndexOf(')');
  const comm = line.slice(line.indexOf('(') + 1, close);
  const f = line.slice(close + 2).split(' ');
  // f[0] is field 3 (state): utime is field 14, stime field 15.
  const user = Number(f[11]) / ticksPerSecond();
  const system = Number(f[12]) / ticksPerSecond();
  return { comm, seconds: user + system, user, system };
}

/** CPU seconds (user + system, all threads) a process has used; NaN once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    return statCpu(readFileSync(`/proc/${pid}/stat`, 'utf8')).seconds;
  } catch {
    return NaN;
  }
}

/** User and system CPU seconds of a process (system includes the kernel's packet path run in its syscalls). */
export function cpuSplit(pid: number): { user: number; system: number } {
  try {
    const { user, system } = statCpu(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return { user, system };
  } catch {
    return { user: NaN, system: NaN };
  }
}

export function alive(pid: number): boolean {
  return existsSync(`/proc/${pid}/stat`);
}

/** CPU seconds per thread name (the dataplane thread is "dmvpn-dataplane"). */
export function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const { comm, seconds } = statCpu(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
      out.set(comm, (out.get(comm) ?? 0) + seconds);
    } catch {
      /* thread ended */
    }
  }
  return out;
}

/** User and system CPU seconds of the threads of a process that carry a name. */
export function threadCpuSplit(pid: number, name: string): { user: number; system: number } {
  let user = 0;
  let system = 0;
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return { user: NaN, system: NaN };
  }
  for (const tid of tids) {
    try {
      const st = statCpu(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
      if (st.comm !== name) continue;
      user += st.user;
      system += st.system;
    } catch {
      /* thread ended */
    }
  }
  return { user, system };
}

/** Whole-machine CPU time by kind (the first line of /proc/stat), in seconds summed over CPUs. */
export interface MachineCpu {
  readonly user: number;
  readonly system: number;
  readonly softirq: number;
  readonly idle: number;
  readonly total: number;
}

export function machineCpu(): MachineCpu {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const t = ticksPerSecond();
  // user nice system idle iowait irq softirq steal
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
  return {
    user: (user + nice) / t, system: (system + irq) / t, softirq: softirq / t, idle: (idle + iowait) / t,
    total: (user + nice + system + idle + iowait + irq + softirq + (steal ?? 0)) / t,
  };
}

/** "user 40% sys 30% softirq 20% idle 10%" of all CPUs between two readings. */
export function machineCpuText(a: MachineCpu, b: MachineCpu): string {
  const total = b.total - a.total || 1;
  const pct = (k: 'user' | 'system' | 'softirq' | 'idle'): string => `${Math.round((100 * (b[k] - a[k])) / total)}%`;
  return `user ${pct('user')} sys ${pct('system')} softirq ${pct('softirq')} idle ${pct('idle')}`;
}

/** Resident set size in MiB (VmRSS); NaN once the process is gone. */
export function rssMiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

// ---- interfaces --------------------------------------------------------------------------

export interface LinkCounters {
  readonly rxPackets: number;
  readonly txPackets: number;
  readonly rxBytes: number;
  readonly txBytes: number;
  readonly rxDropped: number;
  readonly txDropped: number;
}

export function linkCounters(ns: string, dev: string): LinkCounters {
  const j = JSON.parse(sh(['ip', '-n', ns, '-s', '-j', 'link', 'show', 'dev', dev]).stdout) as {
    stats64: { rx: { packets: number; bytes: number; dropped: number }; tx: { packets: number; bytes: number; dropped: number } };
  }[];
  const s = j[0].stats64;
  return { rxPackets: s.rx.packets, txPackets: s.tx.packets, rxBytes: s.rx.bytes, txBytes: s.tx.bytes, rxDropped: s.rx.dropped, txDropped: s.tx.dropped };
}

/** Drops counted on the raw sockets of a namespace (/proc/net/raw "drops" column: receive buffer full), summed. */
export function rawSocketDrops(ns: string): number {
  const text = sh(['ip', 'netns', 'exec', ns, 'cat', '/proc/net/raw'], { check: false }).stdout;
  let drops = 0;
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 13) drops += Number(f[f.length - 1]) || 0;
  }
  return drops;
}

// ---- control socket ----------------------------------------------------------------------

/** One dmvpnctl request (JSON form) over the daemon's control socket; undefined on failure. */
export async function ctl<T>(socket: string, words: readonly string[], timeoutMs = 10_000): Promise<T | undefined> {
  try {
    const r = await request(socket, { words, json: true }, timeoutMs);
    return r.ok ? (r.data as T) : undefined;
  } catch {
    return undefined;
  }
}

export interface TunnelCountersJson {
  readonly tunnel: string;
  readonly counters: Record<string, number>;
}

/** `show dataplane` counters of the first tunnel. */
export async function dataplaneCounters(socket: string): Promise<Record<string, number>> {
  const d = await ctl<TunnelCountersJson[]>(socket, ['show', 'dataplane']);
  return d?.[0]?.counters ?? {};
}

export function diff(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) !== 0) out[k] = v - (before[k] ?? 0);
  return out;
}

// ---- printing ----------------------------------------------------------------------------

export function fmtNum(x: number, digits = 1): string {
  return Number.isFinite(x) ? x.toFixed(digits) : 'n/a';
}

/** A figure row: name, value with unit, and optional comment. */
export function row(name: string, value: string, note = ''): void {
  console.log(`  ${name.padEnd(50)} ${value.padStart(16)}${note ? `   ${note}` : ''}`);
}
