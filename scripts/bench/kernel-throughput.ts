/**
 * Kernel dataplane throughput (issue 6): iperf3 TCP from h2 to h1 over the spoke2 -> spoke1 NHRP
 * shortcut of the reference lab on `tunnel dataplane kernel` (an ip_gre multipoint device; the
 * shortcut is a kernel route, protocol 191, via the peer's overlay address, whose neighbour entry
 * holds its NBMA address), against plain kernel routing on a twin of the lab's namespaces with the
 * same hops (h2 -> spoke2 -> underlay bridge -> spoke1 -> h1, no GRE, no daemon: LabSession's
 * kernelRouting baseline), both in one VM boot. Then, unless --no-ipsec, the same with tunnel
 * protection (transform set esp-gcm 256: transport-mode ESP as xfrm states). Rounds alternate
 * between the baseline and the subject and medians are compared, so that drift in the load of the
 * shared machine falls on both sides.
 *
 * ip_gre and esp4 exist only in the VM (scripts/vm/run.ts). Under QEMU's TCG every packet is
 * emulated instruction by instruction, so the absolute figures say how fast QEMU is; the ratio
 * shortcut / plain routing is the figure.
 *
 *   npm run bench:lab -- kernel-tp [--no-ipsec] [--kernel-tp-cpus N] [--kernel-tp-rounds N]
 *   node dist/scripts/bench/kernel-throughput.js [--no-ipsec] [--rounds N] [--dataplane kernel|userspace]
 *       (as root, inside the VM; `--dataplane userspace` is a dry run of the plumbing on a host
 *       without ip_gre, GRE phase only)
 *
 * Before the figures count, the path must be the shortcut: spoke2's kernel route to the other LAN
 * is the NHRP route via 10.0.0.11 on Tunnel0 (and spoke1's back via 10.0.0.12), and over the rounds
 * the hub's underlay interface receives less than 5 % of the bytes spoke2 sends (it still gets EIGRP
 * hellos and NHRP refreshes; through the hub it would be all of them). With IPsec, spoke2's outbound
 * xfrm state to spoke1 must count at least half of those bytes (it counts them before encryption).
 * Prints figures only; never passes or fails on a time.
 */
import { cpus, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { labTimeScale, nbmaOf, tunnelOf, type RouterName } from '../lab/topology.js';
import { closeAll, ctl, fmtNum, linkCounters, median, sh } from './env.js';
import { LabSession, SPOKES } from './lab-session.js';
import { tcpWithCpu, type TcpResult } from './dataplane.js';
import { TRANSFORM_SET } from './ipsec.js';

const SELF = fileURLToPath(import.meta.url);
const H1 = '192.168.1.10';
/** Under TCG on a shared machine single rounds swing several-fold: five rounds' medians. */
const DEFAULT_ROUNDS = 5;

type Round = TcpResult & { readonly detail: readonly string[] };

/** One comparison: baseline rounds and subject rounds, alternated, in Mbit/s. */
export interface Comparison {
  readonly dataplane: 'kernel' | 'userspace';
  readonly subject: string;
  readonly plain: readonly number[];
  readonly shortcut: readonly number[];
  /** How the run showed that the subject's packets went spoke to spoke. */
  readonly direct: string;
}

export interface MachineNote {
  readonly cpus: number;
  readonly kernel: string;
  readonly inVm: boolean;
}

// ---- pure helpers (test/scripts/kernel-throughput.test.ts) ----------------------------------

/** One xfrm state as `ip -s xfrm state` prints it: addresses, protocol, SPI and its current lifetime counters. */
export interface XfrmStateCounters {
  readonly src: string;
  readonly dst: string;
  readonly proto: string;
  readonly spi: number;
  readonly bytes: number;
  readonly packets: number;
}

/**
 * Read `ip -s xfrm state` text: each state starts with a `src A dst B` line at column 0; the
 * `proto esp spi 0x...` line follows, and "lifetime current:" is followed by `N(bytes), M(packets)`
 * (the configured limits above it read `(INF)(bytes)` and do not match). States without the
 * counters line (no -s) are skipped.
 */
export function parseXfrmStates(text: string): XfrmStateCounters[] {
  const out: XfrmStateCounters[] = [];
  for (const block of text.split(/^(?=src )/m)) {
    const head = /^src (\S+) dst (\S+)/.exec(block);
    const proto = /^\s+proto (\S+) spi 0x([0-9a-f]+)/m.exec(block);
    const current = /lifetime current:\s*\n\s*(\d+)\(bytes\), (\d+)\(packets\)/.exec(block);
    if (!head || !proto || !current) continue;
    out.push({ src: head[1], dst: head[2], proto: proto[1], spi: parseInt(proto[2], 16), bytes: Number(current[1]), packets: Number(current[2]) });
  }
  return out;
}

/** True when `ip -N -j route show PREFIX` holds exactly the NHRP route (protocol 191) via `via` on Tunnel0. */
export function isNhrpShortcut(routeJson: string, via: string): boolean {
  const routes = JSON.parse(routeJson || '[]') as { gateway?: string; dev?: string; protocol?: string | number }[];
  return routes.length === 1 && routes[0].gateway === via && routes[0].dev === 'Tunnel0' && String(routes[0].protocol) === '191';
}

/** The figures as a table: Mbit/s medians, the rounds, and shortcut / plain routing per comparison. */
export function throughputTable(rows: readonly Comparison[], m: MachineNote): string[] {
  const where = m.inVm
    ? `in the VM: ${m.cpus} vCPU${m.cpus === 1 ? '' : 's'} under QEMU TCG (no KVM), kernel ${m.kernel}; absolute figures mean little there, the ratio is the figure`
    : `on this host (${m.cpus} CPUs, kernel ${m.kernel}), not in the VM: a dry run of the plumbing`;
  const rounds = (xs: readonly number[]): string => xs.map((x) => fmtNum(x, 0)).join(' ');
  const body: [string, string, string, string][] = [['h2 -> h1, iperf3 TCP, 1 stream', 'Mbit/s', 'rounds', 'shortcut / plain']];
  for (const r of rows) {
    const p = median(r.plain);
    const s = median(r.shortcut);
    body.push([`plain routing (beside ${r.subject})`, fmtNum(p, 0), rounds(r.plain), '']);
    body.push([`${r.dataplane} dataplane shortcut, ${r.subject}`, fmtNum(s, 0), rounds(r.shortcut), `${fmtNum(s / p, 2)} (${fmtNum((100 * s) / p, 0)} %)`]);
  }
  const w = [0, 1, 2].map((i) => Math.max(...body.map((b) => b[i].length)));
  const out = [`kernel-tp: ${where}`, ...body.map(([a, b, c, d]) => `  ${a.padEnd(w[0])}  ${b.padStart(w[1])}   ${c.padEnd(w[2])}   ${d}`.trimEnd())];
  for (const r of rows) out.push(`  ${r.subject}: ${r.direct}`);
  return out;
}

// ---- the lab inside the VM -----------------------------------------------------------------

interface DmvpnJson {
  readonly peers: readonly { readonly state: string }[];
}

function stamp(msg: string): void {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);
}

/**
 * Poll an async probe under Lab.waitFor: its time limit scales with labTimeScale() (5x in the VM)
 * and it fails at once, with the daemon's last log lines, when a dmvpnd exits. (LabSession's own
 * waits are sized for the host.)
 */
async function until(s: LabSession, what: string, probe: () => Promise<boolean>, hostMs: number): Promise<void> {
  let ok = false;
  let busy = false;
  await s.lab.waitFor(what, () => {
    if (!busy) {
      busy = true;
      void probe().then((v) => { ok = v; }, () => undefined).finally(() => { busy = false; });
    }
    return ok;
  }, hostMs, 200);
}

/** dmvpnd on the hub and both spokes, registered, EIGRP's routes between the LANs, and the shortcuts both ways. */
async function bringUp(s: LabSession): Promise<void> {
  const t0 = Date.now();
  for (const r of ['hub', ...SPOKES] as RouterName[]) s.lab.startDaemon(r);
  await until(s, 'both spokes registered at the hub', async () =>
    ((await ctl<DmvpnJson[]>(s.socket('hub'), ['show', 'dmvpn'], 5000))?.[0]?.peers.filter((p) => p.state === 'UP').length ?? 0) >= SPOKES.length, 60_000);
  await until(s, 'EIGRP routes between the spoke LANs', async () =>
    (await s.hasRoute('spoke2', '192.168.1.0/24')) && (await s.hasRoute('spoke1', '192.168.2.0/24')), 30_000);
  // Pings through the hub until its Traffic Indications have made both spokes resolve each other.
  await until(s, 'the NHRP shortcuts on spoke1 and spoke2', async () => {
    if ((await s.hasShortcut('spoke2', '192.168.1.0/24')) && (await s.hasShortcut('spoke1', '192.168.2.0/24'))) return true;
    s.lab.exec('h2', ['ping', '-c', '2', '-i', '0.2', '-W', '1', H1], { check: false, timeoutMs: 5000 });
    return false;
  }, 30_000);
  stamp(`daemons up, registered, shortcuts in place after ${fmtNum((Date.now() - t0) / 1000)} s`);
}

/** The kernel routes of both spokes are the NHRP shortcuts (not the EIGRP routes via the hub). */
function checkShortcutRoutes(s: LabSession): string {
  const pairs: [RouterName, string, RouterName][] = [['spoke2', '192.168.1.0/24', 'spoke1'], ['spoke1', '192.168.2.0/24', 'spoke2']];
  for (const [r, prefix, peer] of pairs) {
    const json = s.lab.exec(r, ['ip', '-N', '-j', 'route', 'show', prefix]).stdout;
    if (!isNhrpShortcut(json, tunnelOf(peer))) throw new Error(`${r}'s kernel route to ${prefix} is not the NHRP shortcut via ${tunnelOf(peer)} on Tunnel0: ${json.trim()}`);
  }
  return 'kernel routes 192.168.1.0/24 via 10.0.0.11 and back via 10.0.0.12 on Tunnel0, proto 191';
}

/** Sum of the counters of the ESP states from `src` to `dst` in router r's namespace (an SA rekey leaves two). */
function espCounters(s: LabSession, r: RouterName, src: RouterName, dst: RouterName): { states: number; bytes: number; packets: number } {
  const text = s.lab.exec(r, ['ip', '-s', 'xfrm', 'state', 'list', 'src', nbmaOf(src), 'dst', nbmaOf(dst), 'proto', 'esp']).stdout;
  const states = parseXfrmStates(text);
  return { states: states.length, bytes: states.reduce((n, x) => n + x.bytes, 0), packets: states.reduce((n, x) => n + x.packets, 0) };
}

/**
 * One iperf3 round, up to three tries: under TCG on a loaded machine iperf3 now and then exits 0
 * with JSON that has no end.sum_received (dataplane.ts's iperfTcp then throws a TypeError).
 */
async function measure(s: LabSession, what: string): Promise<Round> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await tcpWithCpu(s);
    } catch (e) {
      if (attempt === 3) throw e;
      stamp(`${what}: iperf3 gave no result (${(e as Error).message.slice(0, 200)}); once more`);
    }
  }
}

const mb = (bytes: number): string => (bytes < 1e6 ? `${fmtNum(bytes / 1e3, 1)} kB` : `${fmtNum(bytes / 1e6, 1)} MB`);

/** The non-zero counters of a namespace's /proc/net/xfrm_stat (drops by reason: where ESP packets went missing). */
function xfrmErrors(s: LabSession, r: RouterName): string {
  const text = s.lab.exec(r, ['cat', '/proc/net/xfrm_stat'], { check: false }).stdout;
  const nonZero = text.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f.length === 2 && Number(f[1]) > 0);
  return nonZero.map(([k, v]) => `${k} ${v}`).join(', ') || 'all zero';
}

/** Alternate baseline and subject rounds; returns both series. */
async function alternate(plain: LabSession, subject: LabSession, rounds: number, label: string): Promise<{ plain: Round[]; subject: Round[] }> {
  const p: Round[] = [];
  const q: Round[] = [];
  for (let i = 0; i < rounds; i++) {
    p.push(await measure(plain, 'plain routing'));
    q.push(await measure(subject, label));
    stamp(`round ${i + 1}/${rounds}: plain routing ${fmtNum(p[i].mbps, 0)} Mbit/s, ${label} ${fmtNum(q[i].mbps, 0)} Mbit/s`);
  }
  const mid = (xs: Round[]): Round => [...xs].sort((a, b) => a.mbps - b.mbps)[xs.length >> 1];
  console.log(`    plain routing, median round: retransmits ${mid(p).retransmits}; ${mid(p).detail.join('; ')}`);
  console.log(`    ${label}, median round: retransmits ${mid(q).retransmits}; ${mid(q).detail.join('; ')}`);
  return { plain: p, subject: q };
}

/**
 * One comparison on a fresh dmvpnd lab: bring it up, check the shortcut routes (and the spoke-to-spoke
 * SAs with IPsec), alternate the rounds, then check on the counters that the hub stayed out of it.
 */
async function compare(plain: LabSession, opts: { dataplane: 'kernel' | 'userspace'; ipsec: boolean; rounds: number }): Promise<Comparison> {
  const subject = opts.ipsec ? `GRE + ESP ${TRANSFORM_SET}` : 'GRE';
  console.log(`\n== kernel-tp: h2 -> h1 over the spoke2 -> spoke1 shortcut, ${opts.dataplane} dataplane, ${subject} ==`);
  const pre = opts.ipsec ? 'kte' : 'ktg';
  const s = new LabSession(`${pre}${process.pid % 10000}`, {
    dataplane: opts.dataplane, ...(opts.ipsec ? { ipsec: true, transformSet: TRANSFORM_SET } : {}),
  });
  try {
    s.build();
    await bringUp(s);
    if (opts.ipsec) {
      await until(s, 'the spoke1 <-> spoke2 ESP states (xfrm)', async () =>
        espCounters(s, 'spoke2', 'spoke2', 'spoke1').states > 0 && espCounters(s, 'spoke1', 'spoke1', 'spoke2').states > 0, 30_000);
    }
    const routes = checkShortcutRoutes(s);
    // Bytes, not packets: over veths the kernel passes GSO super-packets (up to 64 KB, one count each).
    const hub0 = linkCounters(s.ns('hub'), 'eth0').rxBytes;
    const sp0 = linkCounters(s.ns('spoke2'), 'eth0').txBytes;
    const esp0 = opts.ipsec ? espCounters(s, 'spoke2', 'spoke2', 'spoke1') : { bytes: 0, packets: 0 };
    const r = await alternate(plain, s, opts.rounds, `shortcut ${subject}`);
    const hubRx = linkCounters(s.ns('hub'), 'eth0').rxBytes - hub0;
    const spokeTx = linkCounters(s.ns('spoke2'), 'eth0').txBytes - sp0;
    let direct = `${routes}; over the rounds spoke2's eth0 sent ${mb(spokeTx)}, the hub's eth0 received ${mb(hubRx)}`;
    if (hubRx * 20 >= spokeTx) throw new Error(`the traffic did not go spoke to spoke: ${direct}`);
    if (opts.ipsec) {
      const esp1 = espCounters(s, 'spoke2', 'spoke2', 'spoke1');
      const sealed = esp1.bytes - esp0.bytes;
      direct += `; spoke2's ESP state(s) to spoke1 sealed ${esp1.packets - esp0.packets} packets, ${mb(sealed)}`;
      if (sealed * 2 < spokeTx) throw new Error(`the shortcut did not carry ESP: ${direct}`);
      for (const r of SPOKES) console.log(`    ${r} /proc/net/xfrm_stat: ${xfrmErrors(s, r)}`);
    }
    console.log(`    ${direct}`);
    return { dataplane: opts.dataplane, subject, plain: r.plain.map((x) => x.mbps), shortcut: r.subject.map((x) => x.mbps), direct };
  } catch (e) {
    for (const r of ['hub', ...SPOKES] as RouterName[]) {
      const log = s.lab.log(r).trim();
      if (log) console.error(`--- ${r} log (tail) ---\n${log.split('\n').slice(-12).join('\n')}`);
    }
    throw e;
  } finally {
    await s.close();
  }
}

export interface KernelTpOptions {
  readonly rounds: number;
  readonly ipsec: boolean;
  readonly dataplane: 'kernel' | 'userspace';
}

/** Both comparisons against one plain-routing twin; the table is printed even when the IPsec one fails. */
export async function runKernelThroughput(o: KernelTpOptions): Promise<{ rows: Comparison[]; failed: boolean }> {
  const machine: MachineNote = { cpus: cpus().length, kernel: release(), inVm: process.env.DMVPN_VM === '1' };
  stamp(`kernel-tp: ${o.rounds} alternating rounds of iperf3 (4 s, first second omitted) per path; the tunnel has MTU 1400 and clamps the MSS to 1360, the baseline has MTU 1500`);
  const plain = new LabSession(`ktb${process.pid % 10000}`);
  const rows: Comparison[] = [];
  let failed = false;
  try {
    plain.build();
    plain.kernelRouting();
    // ARP and the first forwarding on a fresh twin can take a moment under TCG.
    await until(plain, 'h2 reaching h1 by plain routing', async () =>
      plain.lab.exec('h2', ['ping', '-c', '1', '-W', '2', H1], { check: false, timeoutMs: 5000 }).status === 0, 10_000);
    for (const ipsec of o.ipsec ? [false, true] : [false]) {
      try {
        rows.push(await compare(plain, { dataplane: o.dataplane, ipsec, rounds: o.rounds }));
      } catch (e) {
        failed = true;
        console.error(`kernel-tp: ${ipsec ? 'IPsec' : 'GRE'} comparison failed: ${(e as Error).message}`);
      }
    }
  } finally {
    await plain.close();
  }
  console.log(`\n${throughputTable(rows, machine).join('\n')}`);
  return { rows, failed };
}

function usage(msg: string): number {
  console.error(`kernel-tp: ${msg}\nusage: node dist/scripts/bench/kernel-throughput.js [--no-ipsec] [--rounds N] [--dataplane kernel|userspace]`);
  return 2;
}

async function main(argv: readonly string[]): Promise<number> {
  const o = { rounds: DEFAULT_ROUNDS, ipsec: true, dataplane: 'kernel' as 'kernel' | 'userspace' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--no-ipsec') o.ipsec = false;
    else if (a === '--rounds') o.rounds = Number(argv[++i]);
    else if (a === '--dataplane') o.dataplane = argv[++i] as 'kernel' | 'userspace';
    else return usage(`unknown argument "${a}"`);
  }
  if (!(Number.isInteger(o.rounds) && o.rounds >= 1 && o.rounds <= 15)) return usage('--rounds needs an integer 1..15');
  if (o.dataplane !== 'kernel' && o.dataplane !== 'userspace') return usage('--dataplane is kernel or userspace');
  if (o.dataplane === 'userspace') o.ipsec = false; // the ESP check reads xfrm states: kernel only
  if (process.getuid?.() !== 0) return usage('needs root (network namespaces)');
  for (const tool of ['ip', 'iperf3', 'ping']) {
    if (sh(['sh', '-c', `command -v ${tool}`], { check: false }).status !== 0) return usage(`needs ${tool} on PATH`);
  }
  const stop = (): void => {
    void closeAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const started = Date.now();
  const { rows, failed } = await runKernelThroughput(o);
  console.log(`kernel-tp: done in ${Math.round((Date.now() - started) / 1000)} s (time scale ${labTimeScale()})`);
  return rows.length === 0 ? 1 : failed ? 3 : 0;
}

if (process.argv[1] === SELF) process.exitCode = await main(process.argv.slice(2));
