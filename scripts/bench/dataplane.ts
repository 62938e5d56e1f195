/**
 * Dataplane figures of the reference lab: TCP throughput (iperf3) and 64-byte UDP
 * packets per second between the LAN hosts of two spokes (h2 -> h1), over plain
 * kernel routing on a twin of the lab's namespaces (the baseline: the spokes'
 * LAN routes point over the underlay veths, no GRE, no daemon) and over dmvpnd's
 * userspace dataplane on the NHRP shortcut (spoke2 -> spoke1 direct, not through
 * the hub). Counters, drops and per-thread CPU are printed next to the figures
 * so that a low figure comes with where the time went.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../lab/topology.js';
import {
  childOutput, dataplaneCounters, diff, fmtNum, linkCounters, machineCpu, machineCpuText, median, monoMs, rawSocketDrops,
  row, sleep, stopChild, threadCpu, threadCpuSplit, type LinkCounters, type MachineCpu,
} from './env.js';
import { LabSession } from './lab-session.js';

const TCP_SECONDS = 4;
const UDP_MS = 2000;
const UDP_SIZE = 64;
/** Kernel and dmvpnd rounds alternate; medians are compared. */
const ROUNDS = 3;
const H1 = '192.168.1.10';

export interface DataplaneFigures {
  readonly tcpKernelMbps: number;
  readonly tcpDmvpnMbps: number;
  /** 64-byte UDP packets per second out of spoke2's underlay interface. */
  readonly udpKernelPps: number;
  readonly udpDmvpnPps: number;
}

export interface TcpResult {
  readonly mbps: number;
  readonly retransmits: number;
}

export async function iperfTcp(s: LabSession): Promise<TcpResult> {
  const server = s.scope.spawn(['ip', 'netns', 'exec', s.ns('h1'), 'iperf3', '-s', '-1', '-B', H1, '-p', '5201'], { stdio: 'ignore' });
  try {
    let last = '';
    for (let attempt = 0; attempt < 10; attempt++) {
      await sleep(200); // the server binds
      const r = s.lab.exec('h2', ['iperf3', '-c', H1, '-p', '5201', '-t', String(TCP_SECONDS), '-O', '1', '-J', '--connect-timeout', '2000'],
        { check: false, timeoutMs: (TCP_SECONDS + 15) * 1000 });
      last = r.stdout || r.stderr;
      if (r.status !== 0) continue;
      const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number }; sum_sent: { retransmits?: number } } };
      return { mbps: j.end.sum_received.bits_per_second / 1e6, retransmits: j.end.sum_sent.retransmits ?? 0 };
    }
    throw new Error(`iperf3 failed: ${last.slice(0, 500)}`);
  } finally {
    await stopChild(server);
  }
}

interface UdpResult {
  readonly offeredPps: number;
  /** Packets spoke2 put on its underlay interface (forwarded, or GRE-encapsulated). */
  readonly spokePps: number;
  /** Packets h1 received. */
  readonly deliveredPps: number;
  readonly cpu: string;
  readonly detail: string[];
  /** dmvpnd only: CPU of spoke2's dataplane thread per packet read from the TUN, and of spoke1's per GRE packet received (us). */
  readonly encapUs?: number;
  readonly decapUs?: number;
  /** dmvpnd only: the share of that CPU spent in the kernel (system time). */
  readonly encapKernel?: number;
  readonly decapKernel?: number;
}

interface Snapshot {
  readonly at: number;
  readonly spoke2Eth: LinkCounters;
  readonly h1Eth: LinkCounters;
  readonly machine: MachineCpu;
  readonly threads: Map<string, Map<string, number>>;
  readonly dpThread: Map<string, { user: number; system: number }>;
  readonly dp: Map<string, Record<string, number>>;
  readonly tun: Map<string, LinkCounters>;
  readonly rawDrops: Map<string, number>;
}

async function snapshot(s: LabSession): Promise<Snapshot> {
  const threads = new Map<string, Map<string, number>>();
  const dpThread = new Map<string, { user: number; system: number }>();
  const dp = new Map<string, Record<string, number>>();
  const tun = new Map<string, LinkCounters>();
  const rawDrops = new Map<string, number>();
  if (s.daemonsUp) {
    for (const r of ['spoke2', 'spoke1'] as const) {
      threads.set(r, threadCpu(s.pid(r)));
      dpThread.set(r, threadCpuSplit(s.pid(r), 'dmvpn-dataplane'));
      dp.set(r, await dataplaneCounters(s.socket(r)));
      tun.set(r, linkCounters(s.ns(r), 'Tunnel0'));
      rawDrops.set(r, rawSocketDrops(s.ns(r)));
    }
  }
  return {
    at: monoMs(), spoke2Eth: linkCounters(s.ns('spoke2'), 'eth0'), h1Eth: linkCounters(s.ns('h1'), 'eth0'),
    machine: machineCpu(), threads, dpThread, dp, tun, rawDrops,
  };
}

/** Packets the kernel dropped on a spoke: queueing into the TUN (reader too slow), and at the raw GRE socket (receive buffer full). */
function dropText(a: Snapshot, b: Snapshot, r: string): string {
  const ta = a.tun.get(r);
  const tb = b.tun.get(r);
  const tunDrops = ta && tb ? tb.txDropped - ta.txDropped : 0;
  const raw = (b.rawDrops.get(r) ?? 0) - (a.rawDrops.get(r) ?? 0);
  return `kernel dropped ${tunDrops} on the way into the TUN, ${raw} at the raw GRE socket`;
}

/** CPU % of one core per thread group of a daemon between two readings. */
function threadText(a: Map<string, number> | undefined, b: Map<string, number> | undefined, seconds: number): string {
  if (!a || !b) return '';
  const dpName = 'dmvpn-dataplane';
  let dpSec = 0;
  let rest = 0;
  for (const [k, v] of b) {
    const d = v - (a.get(k) ?? 0);
    if (k === dpName) dpSec += d;
    else rest += d;
  }
  return `dataplane thread ${Math.round((100 * dpSec) / seconds)}%, other threads ${Math.round((100 * rest) / seconds)}% of a core`;
}

async function udpFlood(s: LabSession): Promise<UdpResult> {
  const child = s.scope.spawn(['ip', 'netns', 'exec', s.ns('h2'), process.execPath, join(ROOT, 'dist', 'scripts', 'bench', 'nstool.js'),
    'flood', H1, '9', String(UDP_SIZE), String(UDP_MS)]);
  let before: Promise<Snapshot> | undefined;
  const out = childOutput(child, UDP_MS + 15_000, (line) => {
    if (line === 'go') before = snapshot(s);
  });
  const { code, stdout, stderr } = await out;
  if (code !== 0 || !before) throw new Error(`flood failed (${code}): ${stderr.slice(-500)}`);
  const a = await before;
  await sleep(100); // let what is in flight land
  const b = await snapshot(s);
  const sent = (JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { sent?: number }).sent ?? 0;
  const secs = UDP_MS / 1000;
  const span = (b.at - a.at) / 1000;
  const detail: string[] = [];
  for (const r of ['spoke2', 'spoke1']) {
    const t = threadText(a.threads.get(r), b.threads.get(r), span);
    if (!t) continue;
    const c = diff(b.dp.get(r) ?? {}, a.dp.get(r) ?? {});
    const keys = ['tunRxPackets', 'greTxPackets', 'greRxPackets', 'tunTxPackets', 'dropSendFail', 'dropTunWriteFail', 'dropTooBig', 'missPackets'];
    const counters = keys.filter((k) => c[k]).map((k) => `${k} ${c[k]}`).join(', ');
    detail.push(`${r}: ${t}`);
    detail.push(`${r}: ${counters || 'no dataplane counter moved'}; ${dropText(a, b, r)}`);
  }
  const perPacket = (r: string, counter: string): { us?: number; kernel?: number } => {
    const x = a.dpThread.get(r);
    const y = b.dpThread.get(r);
    const n = (b.dp.get(r)?.[counter] ?? 0) - (a.dp.get(r)?.[counter] ?? 0);
    if (!x || !y || n <= 0) return {};
    const cpu = y.user - x.user + (y.system - x.system);
    return { us: (cpu / n) * 1e6, kernel: cpu > 0 ? (y.system - x.system) / cpu : NaN };
  };
  const enc = perPacket('spoke2', 'tunRxPackets');
  const dec = perPacket('spoke1', 'greRxPackets');
  return {
    encapUs: enc.us, encapKernel: enc.kernel, decapUs: dec.us, decapKernel: dec.kernel,
    offeredPps: sent / secs,
    spokePps: (b.spoke2Eth.txPackets - a.spoke2Eth.txPackets) / secs,
    deliveredPps: (b.h1Eth.rxPackets - a.h1Eth.rxPackets) / secs,
    cpu: machineCpuText(a.machine, b.machine),
    detail,
  };
}

export async function tcpWithCpu(s: LabSession): Promise<TcpResult & { detail: string[] }> {
  const a = await snapshot(s);
  const r = await iperfTcp(s);
  const b = await snapshot(s);
  const span = (b.at - a.at) / 1000;
  const detail = [`machine: ${machineCpuText(a.machine, b.machine)} (over the iperf3 run and its start-up)`];
  for (const x of ['spoke2', 'spoke1']) {
    const t = threadText(a.threads.get(x), b.threads.get(x), span);
    if (t) detail.push(`${x}: ${t}, ${dropText(a, b, x)}`);
  }
  return { ...r, detail };
}

function kpps(x: number): string {
  return `${fmtNum(x / 1000)} kpps`;
}

/**
 * Kernel (a twin lab, no daemon) and dmvpnd rounds alternate and the medians are
 * compared: the machine is shared and its load drifts, alternating keeps the
 * ratio honest (as scripts/bench-dataplane.ts does).
 */
export async function runDataplane(s: LabSession, opts: { keepDaemons: boolean }): Promise<DataplaneFigures> {
  console.log('\n== 1. Dataplane: h2 (192.168.2.10) -> h1 (192.168.1.10), spoke2 -> spoke1 ==');
  const k = new LabSession(`bk${process.pid % 100000}`);
  try {
    k.build();
    k.kernelRouting();
    const ping = k.lab.exec('h2', ['ping', '-c', '1', '-W', '2', H1], { check: false, timeoutMs: 5000 });
    if (ping.status !== 0) throw new Error(`kernel baseline: h2 cannot reach h1: ${ping.stdout}${ping.stderr}`);
    await s.startDaemons();
    await s.ensureShortcuts();
    console.log('baseline: a twin of the lab with kernel routing (spoke LAN routes via the underlay veths, MTU 1500, no GRE, no daemon)');
    console.log('dmvpnd:   the lab with hub + spoke1 + spoke2 on the userspace dataplane (TUN + raw GRE), traffic on the NHRP shortcut');
    console.log(`${ROUNDS} alternating rounds, medians; load average at start: ${loadavg()}`);
    const hubBefore = linkCounters(s.ns('hub'), 'eth0');
    const tcpK: (TcpResult & { detail: string[] })[] = [];
    const tcpD: (TcpResult & { detail: string[] })[] = [];
    const udpK: UdpResult[] = [];
    const udpD: UdpResult[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      tcpK.push(await tcpWithCpu(k));
      tcpD.push(await tcpWithCpu(s));
    }
    for (let r = 0; r < ROUNDS; r++) {
      udpK.push(await udpFlood(k));
      udpD.push(await udpFlood(s));
    }
    const hubPkts = linkCounters(s.ns('hub'), 'eth0').rxPackets - hubBefore.rxPackets;
    const med = <T>(xs: T[], f: (x: T) => number): number => median(xs.map(f));
    /** The round whose figure is the median: its counters explain the median. */
    const medianRound = <T>(xs: T[], f: (x: T) => number): T => [...xs].sort((a, b) => f(a) - f(b))[xs.length >> 1];
    const tk = med(tcpK, (x) => x.mbps);
    const td = med(tcpD, (x) => x.mbps);
    console.log(`\nTCP, iperf3, 1 stream, ${TCP_SECONDS} s (first second omitted); the tunnel has MTU 1400 and clamps the MSS to 1360`);
    row('kernel routing (baseline)', `${fmtNum(tk, 0)} Mbit/s`, `rounds ${tcpK.map((x) => fmtNum(x.mbps, 0)).join(' ')}`);
    row('dmvpnd userspace dataplane, shortcut', `${fmtNum(td, 0)} Mbit/s`, `rounds ${tcpD.map((x) => fmtNum(x.mbps, 0)).join(' ')}`);
    row('ratio dmvpnd / kernel', `${fmtNum((100 * td) / tk)} %`, 'issue goal: >= 30 %');
    const mk = medianRound(tcpK, (x) => x.mbps);
    const md = medianRound(tcpD, (x) => x.mbps);
    console.log(`    kernel  retransmits ${mk.retransmits}; ${mk.detail.join('; ')}`);
    console.log(`    dmvpnd  retransmits ${md.retransmits}; ${md.detail.join('; ')}`);

    const uk = med(udpK, (x) => x.spokePps);
    const ud = med(udpD, (x) => x.spokePps);
    const dk = med(udpK, (x) => x.deliveredPps);
    const dd = med(udpD, (x) => x.deliveredPps);
    console.log(`\nUDP, ${UDP_SIZE}-byte payload, native flood (addon bench.flood) from h2 for ${UDP_MS / 1000} s`);
    row('offered by the generator (kernel / dmvpnd rounds)', `${kpps(med(udpK, (x) => x.offeredPps))} / ${kpps(med(udpD, (x) => x.offeredPps))}`);
    const offeredK = med(udpK, (x) => x.offeredPps);
    row('kernel routing: forwarded by spoke2', kpps(uk), `delivered to h1 ${kpps(dk)}${uk >= 0.97 * offeredK ? ' (all that was offered: generator-bound)' : ''}`);
    row('dmvpnd: GRE packets out of spoke2', kpps(ud), `delivered to h1 ${kpps(dd)}`);
    row('ratio dmvpnd / kernel, through spoke2', `${fmtNum((100 * ud) / uk)} %`, 'issue goal: 500 kpps through one spoke');
    row('ratio dmvpnd / kernel, delivered', `${fmtNum((100 * dd) / dk)} %`);
    const uk1 = medianRound(udpK, (x) => x.spokePps);
    const ud1 = medianRound(udpD, (x) => x.spokePps);
    console.log(`    kernel  machine: ${uk1.cpu}`);
    console.log(`    dmvpnd  machine: ${ud1.cpu}`);
    for (const d of ud1.detail) console.log(`    dmvpnd  ${d}`);
    const eu = med(udpD, (x) => x.encapUs ?? NaN);
    const du = med(udpD, (x) => x.decapUs ?? NaN);
    row('dmvpnd: spoke2 dataplane thread CPU per packet', `${fmtNum(eu, 2)} us`,
      `${fmtNum(100 * med(udpD, (x) => x.encapKernel ?? NaN), 0)} % of it in the kernel; one core would encapsulate ~${kpps(1e6 / eu)}`);
    row('dmvpnd: spoke1 dataplane thread CPU per packet', `${fmtNum(du, 2)} us`,
      `${fmtNum(100 * med(udpD, (x) => x.decapKernel ?? NaN), 0)} % of it in the kernel; one core would decapsulate ~${kpps(1e6 / du)}`);
    console.log(`    dmvpnd  the hub's eth0 received ${hubPkts} packets in all rounds (the shortcut bypasses the hub)`);
    console.log(`load average at end: ${loadavg()}`);
    return { tcpKernelMbps: tk, tcpDmvpnMbps: td, udpKernelPps: uk, udpDmvpnPps: ud };
  } finally {
    await k.close();
    if (!opts.keepDaemons) await s.close();
  }
}

function loadavg(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') + ` (${cpus().length} CPUs)`;
}
