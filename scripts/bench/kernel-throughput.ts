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
 *   npm run bench:lab -- kernel-tp [--no-ipsec] [--generic-crypto] [--no-rps] [--kernel-tp-cpus N] [--kernel-tp-rounds N]
 *   node dist/scripts/bench/kernel-throughput.js [--no-ipsec] [--generic-crypto] [--no-rps] [--rounds N] [--dataplane kernel|userspace]
 *       (as root, inside the VM; `--dataplane userspace` is a dry run of the plumbing on a host
 *       without ip_gre, GRE phase only)
 *
 * Before the figures count, the path must be the shortcut: spoke2's kernel route to the other LAN
 * is the NHRP route via 10.0.0.11 on Tunnel0 (and spoke1's back via 10.0.0.12), and over the rounds
 * the hub's underlay interface receives less than 5 % of the bytes spoke2 sends (it still gets EIGRP
 * hellos and NHRP refreshes; through the hub it would be all of them). With IPsec, spoke2's outbound
 * xfrm state to spoke1 must count at least half of those bytes (it counts them before encryption).
 * Prints figures only; never passes or fails on a time.
 *
 * What the ESP figure measures (found with the counters, issue 6): xfrm ESP segments every GSO
 * super-packet before it encrypts (xfrm_output_gso), so behind the sealing spoke each 1400-byte
 * packet crosses the bridge, the peer, its GRE device and h1 on its own, where plain routing and
 * GRE carry up to 64 KB per skb over the veths; under TCG the per-packet cost is the figure. So the
 * ESP comparison adds a per-packet baseline: plain routing with GSO off at h2 (gso_max_segs 1), the
 * subject's ratio to it is the per-packet cost of GRE + ESP. Two more things shape it, and the run
 * prints both: the kernel's AES-GCM implementation (the VM has no udev to load aesni_intel and
 * ghash_clmulni_intel by the CPU's modalias, as a real boot does, so the VM loads them here unless
 * --generic-crypto; the driver that carried the SAs is printed from /proc/crypto), and reordering:
 * a veth queues a packet on the CPU that sent it, so two CPUs forward and seal one TCP stream at
 * once (h2's process and the softirq its ACKs arrive in); with GSO whole 64 KB skbs race, which
 * keeps their segments in order, but behind xfrm single packets do, and slow sealing widens the
 * race: ESP sequence numbers arrive out of order (with synchronous aes-generic as with the async
 * aesni driver), h1 queues out of order and h2 retransmits on SACKs what D-SACK then proves was
 * not lost. RPS by flow hash on every veth (steerFlows, as a NIC's RSS) keeps a flow on one CPU;
 * h2's TCP counters over the ESP rounds are printed. No ESP packet is dropped
 * (/proc/net/xfrm_stat, the states' replay and integrity counters).
 */
import { readFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { labTimeScale, nbmaOf, tunnelOf, type RouterName } from '../lab/topology.js';
import { closeAll, ctl, fmtNum, linkCounters, median, sh, sleep } from './env.js';
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
  /** Plain routing with GSO off at h2 (one packet per skb), alternated with the others: the per-packet baseline. */
  readonly plainPerPacket?: readonly number[];
  /** What else the run found (the crypto driver, TCP's view of reordering), printed under the table. */
  readonly notes?: readonly string[];
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

/** The modules that hold the CPU's AES-GCM acceleration, by /proc/cpuinfo flags (what udev loads at boot by modalias). */
export function acceleratedCryptoModules(cpuinfo: string): string[] {
  const flags = new Set((/^flags\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? '').split(/\s+/));
  const out: string[] = [];
  if (flags.has('aes')) out.push('aesni_intel');
  if (flags.has('pclmulqdq')) out.push('ghash_clmulni_intel');
  return out;
}

/** One algorithm implementation from /proc/crypto. */
export interface CryptoImpl {
  readonly name: string;
  readonly driver: string;
  readonly module: string;
  readonly priority: number;
  readonly refcnt: number;
  /** The `async` field (aead and skcipher entries): yes when a request may complete later, from cryptd or a device. */
  readonly async?: boolean;
}

/** Parse /proc/crypto: blank-line separated blocks of `key : value` lines. */
export function parseProcCrypto(text: string): CryptoImpl[] {
  const out: CryptoImpl[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const f = new Map<string, string>();
    for (const line of block.split('\n')) {
      const m = /^(\w+)\s*:\s*(.*)$/.exec(line.trim());
      if (m) f.set(m[1], m[2].trim());
    }
    const name = f.get('name');
    const driver = f.get('driver');
    if (name === undefined || driver === undefined) continue;
    const a = f.get('async');
    out.push({ name, driver, module: f.get('module') ?? '', priority: Number(f.get('priority') ?? 0), refcnt: Number(f.get('refcnt') ?? 0), ...(a !== undefined ? { async: a === 'yes' } : {}) });
  }
  return out;
}

/**
 * The implementation of `name` that xfrm states use: among those with users beyond the
 * registration's own reference (refcnt above 1), the highest priority (what crypto_alloc_aead
 * picked); undefined when none is in use.
 */
export function cryptoInUse(impls: readonly CryptoImpl[], name = 'rfc4106(gcm(aes))'): CryptoImpl | undefined {
  return impls.filter((i) => i.name === name && i.refcnt > 1).sort((a, b) => b.priority - a.priority)[0];
}

/** What a TCP sender's counters say about its retransmissions (nstat names, netstat's TcpExt). */
export interface TcpLossCounters {
  /** TcpRetransSegs: segments sent again. */
  readonly retransSegs: number;
  /** TcpExtTCPDSACKRecv: D-SACKs received, each a segment the receiver had already (a spurious retransmission). */
  readonly dsackRecv: number;
  /** TcpExtTCPSACKReorder: reorderings the sender detected from SACKs. */
  readonly sackReorder: number;
}

/** Read `nstat -asz` text (`Name value rate` lines) into the counters above; absent counters are 0. */
export function tcpLossCounters(nstatText: string): TcpLossCounters {
  const v = new Map<string, number>();
  for (const line of nstatText.split('\n')) {
    const m = /^(\w+)\s+(\d+)/.exec(line.trim());
    if (m) v.set(m[1], Number(m[2]));
  }
  return { retransSegs: v.get('TcpRetransSegs') ?? 0, dsackRecv: v.get('TcpExtTCPDSACKRecv') ?? 0, sackReorder: v.get('TcpExtTCPSACKReorder') ?? 0 };
}

/** The counters' growth from a to b, as one sentence. */
export function tcpLossText(a: TcpLossCounters, b: TcpLossCounters): string {
  const r = b.retransSegs - a.retransSegs;
  const d = b.dsackRecv - a.dsackRecv;
  const o = b.sackReorder - a.sackReorder;
  return `h2's TCP retransmitted ${r} segments, D-SACK proved ${d} of them spurious (${r > 0 ? fmtNum((100 * Math.min(d, r)) / r, 0) : '0'} %), and it detected ${o} reorderings`;
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
  const ratio = (s: number, p: number): string => `${fmtNum(s / p, 2)} (${fmtNum((100 * s) / p, 0)} %)`;
  for (const r of rows) {
    const p = median(r.plain);
    const s = median(r.shortcut);
    body.push([`plain routing (beside ${r.subject})`, fmtNum(p, 0), rounds(r.plain), '']);
    const pp = r.plainPerPacket?.length ? median(r.plainPerPacket) : undefined;
    if (pp !== undefined) body.push([`plain routing, GSO off at h2 (beside ${r.subject})`, fmtNum(pp, 0), rounds(r.plainPerPacket ?? []), '']);
    const perPacket = pp === undefined ? '' : `; per packet (/ GSO off): ${ratio(s, pp)}`;
    body.push([`${r.dataplane} dataplane shortcut, ${r.subject}`, fmtNum(s, 0), rounds(r.shortcut), `${ratio(s, p)}${perPacket}`]);
  }
  const w = [0, 1, 2].map((i) => Math.max(...body.map((b) => b[i].length)));
  const out = [`kernel-tp: ${where}`, ...body.map(([a, b, c, d]) => `  ${a.padEnd(w[0])}  ${b.padStart(w[1])}   ${c.padEnd(w[2])}   ${d}`.trimEnd())];
  for (const r of rows) {
    out.push(`  ${r.subject}: ${r.direct}`);
    for (const n of r.notes ?? []) out.push(`  ${r.subject}: ${n}`);
  }
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
 * One iperf3 round, up to five tries a second apart: under TCG on a loaded machine iperf3 now and
 * then exits 0 with JSON that has no end.sum_received (dataplane.ts's iperfTcp then throws a
 * TypeError), three times in a row once over ESP, which cost a whole comparison.
 */
async function measure(s: LabSession, what: string): Promise<Round> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await tcpWithCpu(s);
    } catch (e) {
      if (attempt === MEASURE_TRIES) throw e;
      stamp(`${what}: iperf3 gave no result (${(e as Error).message.slice(0, 200)}); once more`);
      await sleep(1000);
    }
  }
}

const MEASURE_TRIES = 5;

const mb = (bytes: number): string => (bytes < 1e6 ? `${fmtNum(bytes / 1e3, 1)} kB` : `${fmtNum(bytes / 1e6, 1)} MB`);

/** The non-zero counters of a namespace's /proc/net/xfrm_stat (drops by reason: where ESP packets went missing). */
function xfrmErrors(s: LabSession, r: RouterName): string {
  const text = s.lab.exec(r, ['cat', '/proc/net/xfrm_stat'], { check: false }).stdout;
  const nonZero = text.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f.length === 2 && Number(f[1]) > 0);
  return nonZero.map(([k, v]) => `${k} ${v}`).join(', ') || 'all zero';
}

/**
 * One round of plain routing with GSO off at h2 (gso_max_segs 1 on its eth0: TCP then sends one
 * MSS per skb, and every hop handles each packet, as behind an ESP state).
 */
async function measurePerPacket(plain: LabSession): Promise<Round> {
  plain.lab.exec('h2', ['ip', 'link', 'set', 'eth0', 'gso_max_segs', '1']);
  try {
    return await measure(plain, 'plain routing, GSO off');
  } finally {
    plain.lab.exec('h2', ['ip', 'link', 'set', 'eth0', 'gso_max_segs', String(GSO_MAX_SEGS)], { check: false });
  }
}

/** The kernel's default gso_max_segs (GSO_MAX_SEGS), which a veth starts with. */
const GSO_MAX_SEGS = 65535;

/** The rps_cpus mask of every CPU (hex, as sysfs takes it). */
export function rpsMask(cpuCount: number): string {
  return (2n ** BigInt(Math.max(1, Math.min(cpuCount, 64))) - 1n).toString(16);
}

/**
 * RPS over every CPU on every interface of the lab: a veth hands a packet to the backlog of the
 * CPU that sent it, so a flow whose packets two CPUs send (h2's process and the softirq its ACKs
 * arrive in) is forwarded, sealed and opened on both at once, and what was one TCP stream arrives
 * out of order; a NIC's RSS keeps a flow on one CPU, and RPS does the same by the flow hash. Off
 * with --no-rps. Returns whether every rps_cpus file took the mask.
 */
function steerFlows(s: LabSession, routers: readonly (RouterName | 'ul' | `h${number}`)[]): boolean {
  const mask = rpsMask(cpus().length);
  let ok = true;
  for (const r of routers) {
    const res = s.lab.exec(r, ['sh', '-c', `for q in /sys/class/net/*/queues/rx-*/rps_cpus; do echo ${mask} > "$q" || exit 1; done`], { check: false });
    ok &&= res.status === 0;
  }
  return ok;
}

/** The namespaces a packet from h2 to h1 crosses, and back. */
const PATH_NAMESPACES = ['h2', 'spoke2', 'ul', 'hub', 'spoke1', 'h1'] as const;

/** Alternate baseline and subject rounds (and the per-packet baseline when asked); returns the series. */
async function alternate(plain: LabSession, subject: LabSession, rounds: number, label: string, perPacket = false): Promise<{ plain: Round[]; perPacket: Round[]; subject: Round[] }> {
  const p: Round[] = [];
  const pp: Round[] = [];
  const q: Round[] = [];
  for (let i = 0; i < rounds; i++) {
    p.push(await measure(plain, 'plain routing'));
    if (perPacket) pp.push(await measurePerPacket(plain));
    q.push(await measure(subject, label));
    const off = perPacket ? `, GSO off ${fmtNum(pp[i].mbps, 0)} Mbit/s` : '';
    stamp(`round ${i + 1}/${rounds}: plain routing ${fmtNum(p[i].mbps, 0)} Mbit/s${off}, ${label} ${fmtNum(q[i].mbps, 0)} Mbit/s`);
  }
  const mid = (xs: Round[]): Round => [...xs].sort((a, b) => a.mbps - b.mbps)[xs.length >> 1];
  console.log(`    plain routing, median round: retransmits ${mid(p).retransmits}; ${mid(p).detail.join('; ')}`);
  if (perPacket) console.log(`    plain routing with GSO off, median round: retransmits ${mid(pp).retransmits}; ${mid(pp).detail.join('; ')}`);
  console.log(`    ${label}, median round: retransmits ${mid(q).retransmits}; ${mid(q).detail.join('; ')}`);
  return { plain: p, perPacket: pp, subject: q };
}

/** The AES-GCM implementation the ESP states run on, from /proc/crypto (one table for the whole VM). */
function cryptoNote(): string {
  let text = '';
  try {
    text = readFileSync('/proc/crypto', 'utf8');
  } catch {
    return 'crypto: /proc/crypto unreadable';
  }
  const impl = cryptoInUse(parseProcCrypto(text));
  if (!impl) return 'crypto: no rfc4106(gcm(aes)) implementation in use in /proc/crypto';
  const mode = impl.async === true ? 'async: cryptd takes a request when the FPU is busy, and may finish it after later ones' : impl.async === false ? 'synchronous' : 'async unknown';
  return `crypto: rfc4106(gcm(aes)) ran on ${impl.driver} (module ${impl.module}, priority ${impl.priority}; ${mode})`;
}

/**
 * Load the CPU's AES-GCM acceleration as a real boot does (udev, by the CPU modalias); the VM has
 * no udev, and without them the kernel builds gcm(aes) on aes-generic. Returns what it did.
 */
function loadAcceleratedCrypto(): string {
  let cpuinfo = '';
  try {
    cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return 'crypto: /proc/cpuinfo unreadable, no acceleration loaded';
  }
  const wanted = acceleratedCryptoModules(cpuinfo);
  if (wanted.length === 0) return 'crypto: the CPU has neither aes nor pclmulqdq: generic AES-GCM';
  const failed = wanted.filter((m) => sh(['modprobe', m], { check: false }).status !== 0);
  const ok = wanted.filter((m) => !failed.includes(m));
  return `crypto: loaded ${ok.join(', ') || 'nothing'}${failed.length ? ` (modprobe failed: ${failed.join(', ')})` : ''}, as udev does at boot on this CPU (--generic-crypto: leave them out)`;
}

/**
 * One comparison on a fresh dmvpnd lab: bring it up, check the shortcut routes (and the spoke-to-spoke
 * SAs with IPsec), alternate the rounds, then check on the counters that the hub stayed out of it.
 */
async function compare(plain: LabSession, opts: { dataplane: 'kernel' | 'userspace'; ipsec: boolean; rounds: number; rps: boolean }): Promise<Comparison> {
  const subject = opts.ipsec ? `GRE + ESP ${TRANSFORM_SET}` : 'GRE';
  console.log(`\n== kernel-tp: h2 -> h1 over the spoke2 -> spoke1 shortcut, ${opts.dataplane} dataplane, ${subject} ==`);
  const pre = opts.ipsec ? 'kte' : 'ktg';
  const s = new LabSession(`${pre}${process.pid % 10000}`, {
    dataplane: opts.dataplane, ...(opts.ipsec ? { ipsec: true, transformSet: TRANSFORM_SET } : {}),
  });
  try {
    s.build();
    if (opts.rps && !steerFlows(s, PATH_NAMESPACES)) stamp('kernel-tp: RPS could not be set on every interface');
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
    const nstat = (): TcpLossCounters => tcpLossCounters(s.lab.exec('h2', ['nstat', '-asz'], { check: false }).stdout);
    const tcp0 = nstat();
    const r = await alternate(plain, s, opts.rounds, `shortcut ${subject}`, opts.ipsec);
    const notes = opts.ipsec ? [cryptoNote(), tcpLossText(tcp0, nstat())] : [];
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
    for (const n of notes) console.log(`    ${n}`);
    return {
      dataplane: opts.dataplane, subject, plain: r.plain.map((x) => x.mbps), shortcut: r.subject.map((x) => x.mbps), direct,
      ...(r.perPacket.length ? { plainPerPacket: r.perPacket.map((x) => x.mbps) } : {}),
      ...(notes.length ? { notes } : {}),
    };
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
  /** Leave the CPU's AES-GCM modules out (the VM then runs gcm(aes) on aes-generic). */
  readonly genericCrypto?: boolean;
  /** RPS on the labs' interfaces (default true; see steerFlows). */
  readonly rps?: boolean;
}

/** Both comparisons against one plain-routing twin; the table is printed even when the IPsec one fails. */
export async function runKernelThroughput(o: KernelTpOptions): Promise<{ rows: Comparison[]; failed: boolean }> {
  const machine: MachineNote = { cpus: cpus().length, kernel: release(), inVm: process.env.DMVPN_VM === '1' };
  stamp(`kernel-tp: ${o.rounds} alternating rounds of iperf3 (4 s, first second omitted) per path; the tunnel has MTU 1400 and clamps the MSS to 1360, the baseline has MTU 1500`);
  if (o.ipsec && machine.inVm && !o.genericCrypto) stamp(loadAcceleratedCrypto());
  const plain = new LabSession(`ktb${process.pid % 10000}`);
  const rows: Comparison[] = [];
  let failed = false;
  try {
    plain.build();
    plain.kernelRouting();
    if (o.rps !== false) stamp(steerFlows(plain, PATH_NAMESPACES) ? `RPS over all ${cpus().length} CPUs (mask ${rpsMask(cpus().length)}) on every veth of both labs: one flow, one CPU, as a NIC's RSS (--no-rps: off)` : 'kernel-tp: RPS could not be set on every interface');
    // ARP and the first forwarding on a fresh twin can take a moment under TCG.
    await until(plain, 'h2 reaching h1 by plain routing', async () =>
      plain.lab.exec('h2', ['ping', '-c', '1', '-W', '2', H1], { check: false, timeoutMs: 5000 }).status === 0, 10_000);
    for (const ipsec of o.ipsec ? [false, true] : [false]) {
      try {
        rows.push(await compare(plain, { dataplane: o.dataplane, ipsec, rounds: o.rounds, rps: o.rps !== false }));
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
  console.error(`kernel-tp: ${msg}\nusage: node dist/scripts/bench/kernel-throughput.js [--no-ipsec] [--generic-crypto] [--no-rps] [--rounds N] [--dataplane kernel|userspace]`);
  return 2;
}

async function main(argv: readonly string[]): Promise<number> {
  const o = { rounds: DEFAULT_ROUNDS, ipsec: true, dataplane: 'kernel' as 'kernel' | 'userspace', genericCrypto: false, rps: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--no-ipsec') o.ipsec = false;
    else if (a === '--generic-crypto') o.genericCrypto = true;
    else if (a === '--no-rps') o.rps = false;
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
