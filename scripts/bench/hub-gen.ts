/**
 * Load generator for the hub benchmark: N simulated spokes sending real NHRP
 * Registration Requests (built with protocols/nhrp/build.ts, in GRE and IPv4
 * emitted by the project's codecs) from N NBMA addresses in 198.18.0.0/15 (the
 * benchmarking range, RFC 2544), with tunnel addresses 10.0.0.2 ... in the hub's
 * /16. Runs inside its own namespace (scripts/bench/hub.ts starts it):
 *
 *   ip netns exec NS node dist/scripts/bench/hub-gen.js --spokes N --hub-pid PID [...]
 *
 * It writes whole IPv4 packets (any source address) into a TUN device; the
 * namespace's kernel forwards them to the hub over a veth and routes the
 * replies (to 198.18.0.0/15) back into the TUN, where they are read and counted.
 * Progress goes to stderr; one JSON result line to stdout.
 *
 * Phases: (1) baseline: the same packets to a blackhole route (the generator's
 * own rate); (2) registration: all N at once, unanswered ones retransmitted with
 * a fresh request ID after 1, 2, 4 ... 64 s as our NHC does; (3) idle: the hub with
 * N entries and no traffic; (4) refresh: N/(holdtime/3) registrations per second,
 * the steady state of N spokes.
 */
import { readSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { openTun } from '../../platform/native/index.js';
import { Reader, encode, u32ToIpv4, ipv4ToU32 } from '../../protocols/wire/index.js';
import { emitIpv4, ipv4Length, makeIpv4Header, IpProto, Ipv4View } from '../../protocols/ip/ipv4.js';
import { emitGre, greLength, makeGre, GreProto } from '../../protocols/gre/wire.js';
import {
  makeRegistrationRequest, emitNhrp, nhrpLength, parseNhrp, NhrpPacketType, NHRP_FIXED_HEADER_LENGTH, CiscoCieMtu,
} from '../../protocols/nhrp/index.js';
import { MAX_BACKOFF_S } from '../../protocols/nhrp/nhs-client.js';
import { alive, cpuSeconds, cpuSplit, rssMiB, threadCpu } from './env.js';
import { HUB_NBMA, HUB_PROTO, MAX_SPOKES, SPOKE_NBMA_FIRST, SPOKE_NBMA_RANGE, SPOKE_PROTO_FIRST } from './hub-addresses.js';

const SPOKE_NBMA_BASE = ipv4ToU32(SPOKE_NBMA_FIRST);
const SPOKE_PROTO_BASE = ipv4ToU32(SPOKE_PROTO_FIRST);
const BLACKHOLE = '192.0.2.1';
const CHUNK = 256;
/** Retransmissions back off 1, 2, 4 ... 64 s, as our NHC's do (protocols/nhrp/nhs-client.ts). */
const MAX_BACKOFF_MS = MAX_BACKOFF_S * 1000;
/** Request IDs: generation * N + spoke + 1; generations from REFRESH_GEN on are refreshes. */
const REFRESH_GEN = 64;

interface Args {
  spokes: number;
  hubPid: number;
  regTimeoutMs: number;
  idleMs: number;
  refreshMs: number;
  holdtime: number;
  password: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { spokes: 10_000, hubPid: 0, regTimeoutMs: 45_000, idleMs: 10_000, refreshMs: 10_000, holdtime: 450, password: 'Cisco123' };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase()) as keyof Args;
    const v = argv[i + 1];
    if (!(k in a) || v === undefined) throw new Error(`hub-gen: bad argument ${argv[i]}`);
    (a as unknown as Record<string, string | number>)[k] = typeof a[k] === 'number' ? Number(v) : v;
  }
  return a;
}

const monoMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const progress = (msg: string): void => {
  process.stderr.write(`  [generator] ${msg}\n`);
};

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

/** One spoke's Registration Request as a whole IPv4 datagram (GRE inside). */
function registration(a: Args, spoke: number, requestId: number, dst = HUB_NBMA): Uint8Array {
  const srcNbma = u32ToIpv4(SPOKE_NBMA_BASE + spoke);
  const nhrp = encode(makeRegistrationRequest({
    srcNbma, srcProto: u32ToIpv4(SPOKE_PROTO_BASE + spoke), password: a.password, requestId,
    nhsProto: HUB_PROTO, nhsNbma: HUB_NBMA, holdingTime: a.holdtime, mtu: CiscoCieMtu.NO_KEY, unique: true,
  }), emitNhrp, nhrpLength, 'nhrp');
  const gre = makeGre(GreProto.NHRP, nhrp);
  const greBytes = encode(gre, emitGre, greLength, 'gre');
  const header = makeIpv4Header(srcNbma, dst, IpProto.GRE, greBytes.length, { ttl: 64, id: spoke & 0xffff });
  return encode({ header, payload: greBytes }, emitIpv4, ipv4Length, 'ipv4');
}

/** The same datagram to another destination (the blackhole baseline). */
function redirectTo(pkt: Uint8Array, dst: string): Uint8Array {
  const c = Uint8Array.from(pkt);
  c.set(Uint8Array.from(dst.split('.').map(Number)), 16);
  new Ipv4View(c).fillChecksum();
  return c;
}

interface Reply {
  readonly requestId: number;
  readonly code: number;
}

/**
 * A Registration Reply's request ID and first CIE code, read at fixed offsets
 * (RFC 2332 section 5.2.0.1: fixed header, then src/dst protocol lengths, flags,
 * request ID, the four addresses, then the CIEs whose first octet is the code).
 * The first reply is cross-checked with the full parser.
 */
function readReply(b: Uint8Array, n: number): Reply | undefined {
  if (n < 20 || b[9] !== IpProto.GRE) return undefined;
  const g = (b[0] & 0x0f) * 4;
  const flags = (b[g] << 8) | b[g + 1];
  if (((b[g + 2] << 8) | b[g + 3]) !== GreProto.NHRP) return undefined;
  const p = g + 4 + (flags & 0x8000 ? 4 : 0) + (flags & 0x2000 ? 4 : 0) + (flags & 0x1000 ? 4 : 0);
  if (n < p + NHRP_FIXED_HEADER_LENGTH + 8 || b[p + 17] !== NhrpPacketType.REGISTRATION_REPLY) return undefined;
  const m = p + NHRP_FIXED_HEADER_LENGTH;
  const requestId = ((b[m + 4] << 24) | (b[m + 5] << 16) | (b[m + 6] << 8) | b[m + 7]) >>> 0;
  const cie = m + 8 + (b[p + 18] & 0x3f) + (b[p + 19] & 0x3f) + b[m] + b[m + 1];
  return { requestId, code: cie < n ? b[cie] : 255 };
}

class Generator {
  private readonly rbuf = Buffer.alloc(65536);
  readonly done: Uint8Array;
  doneCount = 0;
  naks = 0;
  refreshReplies = 0;
  lastDoneAt = 0;
  private checked = false;

  constructor(private readonly a: Args, private readonly fd: number) {
    this.done = new Uint8Array(a.spokes);
  }

  write(pkt: Uint8Array): void {
    writeSync(this.fd, pkt);
  }

  /** Read every reply waiting in the TUN; returns how many packets were read. */
  drain(): number {
    let got = 0;
    for (;;) {
      let n: number;
      try {
        n = readSync(this.fd, this.rbuf, 0, this.rbuf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return got;
        throw e;
      }
      if (n <= 0) return got;
      got++;
      const r = readReply(this.rbuf, n);
      if (!r) continue;
      if (!this.checked) this.crossCheck(n, r);
      const spoke = (r.requestId - 1) % this.a.spokes;
      const gen = Math.floor((r.requestId - 1) / this.a.spokes);
      if (r.code !== 0) {
        this.naks++;
        continue;
      }
      if (gen >= REFRESH_GEN) this.refreshReplies++;
      if (!this.done[spoke]) {
        this.done[spoke] = 1;
        this.doneCount++;
        if (this.doneCount === this.a.spokes) this.lastDoneAt = monoMs();
      }
    }
  }

  private crossCheck(n: number, r: Reply): void {
    this.checked = true;
    const g = (this.rbuf[0] & 0x0f) * 4;
    const p = parseNhrp(new Reader(this.rbuf.subarray(g + 4, n), 'nhrp'));
    const body = p.body as { requestId?: number };
    if (p.type !== NhrpPacketType.REGISTRATION_REPLY || body.requestId !== r.requestId) {
      throw new Error(`reply decoding disagrees with parseNhrp (id ${r.requestId} vs ${body.requestId})`);
    }
  }
}

/** Per thread name, % of one core between two readings (only threads that used any). */
function threadPct(a: Map<string, number>, b: Map<string, number>, seconds: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of b) {
    const d = v - (a.get(k) ?? 0);
    if (d > 0) out[k] = Math.round((10000 * d) / seconds) / 100;
  }
  return out;
}

function shuffled(n: number, seed = 0x2544): Uint32Array {
  const o = new Uint32Array(n);
  for (let i = 0; i < n; i++) o[i] = i;
  let s = seed >>> 0;
  for (let i = n - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0; // LCG: a fixed, reproducible order
    const j = s % (i + 1);
    const t = o[i];
    o[i] = o[j];
    o[j] = t;
  }
  return o;
}

/** What the generator measures on the hub process in one window. */
interface Window {
  readonly seconds: number;
  readonly cpuPct: number;
  readonly userPct: number;
  readonly systemPct: number;
  readonly threads: Record<string, number>;
}

function startWindow(pid: number): () => Window {
  const t = monoMs();
  const c = cpuSplit(pid);
  const th = threadCpu(pid);
  return () => {
    const seconds = (monoMs() - t) / 1000;
    const d = cpuSplit(pid);
    const user = (100 * (d.user - c.user)) / seconds;
    const system = (100 * (d.system - c.system)) / seconds;
    return { seconds, cpuPct: user + system, userPct: user, systemPct: system, threads: threadPct(th, threadCpu(pid), seconds) };
  };
}

/** (1) The generator alone: the same packets and write loop, to a blackhole route in this namespace. */
function baseline(g: Generator, packets: readonly Uint8Array[], order: Uint32Array): number {
  const holes = packets.map((p) => redirectTo(p, BLACKHOLE));
  const t = monoMs();
  for (let k = 0; k < order.length; k++) {
    g.write(holes[order[k]]);
    if (k % CHUNK === CHUNK - 1) g.drain();
  }
  return monoMs() - t;
}

interface Registration {
  readonly burstMs: number;
  readonly registerMs: number;
  readonly retransmits: number;
  readonly hubExited: boolean;
  /** Spokes registered 1 s after the first request, and the hub's CPU in that second. */
  readonly firstSecond: number;
  readonly firstSecondWindow: Window | undefined;
  readonly cpuRegisterSeconds: number;
}

/** (2) Every spoke at once, then retransmissions with a fresh request ID and backoff until all are in. */
async function register(a: Args, g: Generator, packets: readonly Uint8Array[], order: Uint32Array): Promise<Registration> {
  const cpu0 = cpuSeconds(a.hubPid);
  const first = startWindow(a.hubPid);
  const sentAt = new Float64Array(a.spokes);
  const attempt = new Uint8Array(a.spokes);
  const t0 = monoMs();
  for (let k = 0; k < a.spokes; k++) {
    const i = order[k];
    g.write(packets[i]);
    sentAt[i] = monoMs();
    if (k % CHUNK === CHUNK - 1) g.drain();
  }
  const burstMs = monoMs() - t0;
  let retransmits = 0;
  let nextScan = monoMs() + 100;
  let lastReport = monoMs();
  let hubExited = false;
  let firstSecond = -1;
  let firstSecondWindow: Window | undefined;
  while (g.doneCount < a.spokes && monoMs() - t0 < a.regTimeoutMs) {
    const got = g.drain();
    const now = monoMs();
    if (firstSecond < 0 && now - t0 >= 1000) {
      firstSecond = g.doneCount;
      firstSecondWindow = first();
    }
    if (now >= nextScan) {
      nextScan = now + 100;
      if (!alive(a.hubPid)) {
        hubExited = true;
        progress(`the hub exited after ${g.doneCount} registrations (${((now - t0) / 1000).toFixed(1)} s)`);
        break;
      }
      for (let i = 0; i < a.spokes; i++) {
        if (g.done[i] || now - sentAt[i] < Math.min(MAX_BACKOFF_MS, 1000 * 2 ** attempt[i])) continue;
        attempt[i] = Math.min(attempt[i] + 1, REFRESH_GEN - 1);
        g.write(registration(a, i, attempt[i] * a.spokes + i + 1));
        sentAt[i] = now;
        retransmits++;
      }
    }
    if (now - lastReport > 5000) {
      lastReport = now;
      progress(`${g.doneCount} of ${a.spokes} registered after ${((now - t0) / 1000).toFixed(1)} s (${retransmits} retransmissions)`);
    }
    if (got === 0) await sleep(1);
  }
  return {
    burstMs, registerMs: g.doneCount === a.spokes ? g.lastDoneAt - t0 : NaN, retransmits, hubExited,
    firstSecond: firstSecond < 0 ? g.doneCount : firstSecond, firstSecondWindow, cpuRegisterSeconds: cpuSeconds(a.hubPid) - cpu0,
  };
}

/** (3) The hub holding its entries with no traffic, once it has answered what was queued. */
async function idle(a: Args, g: Generator): Promise<Window> {
  for (let quiet = monoMs(), t = monoMs(); monoMs() - quiet < 500 && monoMs() - t < 10_000;) {
    if (g.drain() > 0) quiet = monoMs();
    await sleep(20);
  }
  const w = startWindow(a.hubPid);
  for (const t = monoMs(); monoMs() - t < a.idleMs;) {
    await sleep(50);
    g.drain();
  }
  return w();
}

/** (4) The steady state: each registered spoke refreshes every holdtime/3 s. */
async function refresh(a: Args, g: Generator, order: Uint32Array): Promise<{ window: Window; perSecond: number; refreshes: number }> {
  const perSecond = a.spokes / (a.holdtime / 3);
  const registered = order.filter((i) => g.done[i] === 1);
  let refreshes = 0;
  const w = startWindow(a.hubPid);
  for (const t = monoMs(); monoMs() - t < a.refreshMs && registered.length > 0;) {
    const due = Math.floor(((monoMs() - t) / 1000) * perSecond);
    for (; refreshes < due; refreshes++) {
      const i = registered[refreshes % registered.length];
      const gen = REFRESH_GEN + Math.floor(refreshes / registered.length);
      g.write(registration(a, i, gen * a.spokes + i + 1));
    }
    g.drain();
    await sleep(5);
  }
  const window = w();
  await sleep(300);
  g.drain();
  return { window, perSecond, refreshes };
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  if (a.spokes < 1 || a.spokes > MAX_SPOKES) throw new Error(`--spokes must be 1..${MAX_SPOKES} (the tunnel /16)`);
  const tun = openTun('gtun', { mtu: 1500 });
  ip('link', 'set', tun.name, 'txqueuelen', '20000', 'up');
  ip('route', 'add', SPOKE_NBMA_RANGE, 'dev', tun.name);
  ip('route', 'add', 'blackhole', '192.0.2.0/24');
  const g = new Generator(a, tun.fd);
  const order = shuffled(a.spokes);
  const tb = monoMs();
  const packets = Array.from({ length: a.spokes }, (_x, i) => registration(a, i, i + 1));
  const buildMs = monoMs() - tb;
  progress(`built ${a.spokes} Registration Requests in ${buildMs.toFixed(0)} ms`);

  const blackholeMs = baseline(g, packets, order);
  const rssIdleMiB = rssMiB(a.hubPid);
  const reg = await register(a, g, packets, order);
  const base = { spokes: a.spokes, buildMs, blackholeMs, rssIdleMiB, registered: g.doneCount, naks: g.naks, ...reg };
  if (reg.hubExited) {
    console.log(JSON.stringify(base));
    return;
  }
  const rssRegisteredMiB = rssMiB(a.hubPid);
  progress(g.doneCount === a.spokes
    ? `all ${a.spokes} registered in ${reg.registerMs.toFixed(0)} ms (${reg.retransmits} retransmissions)`
    : `only ${g.doneCount} of ${a.spokes} registered within ${a.regTimeoutMs} ms`);
  const idleWindow = await idle(a, g);
  const r = await refresh(a, g, order);
  console.log(JSON.stringify({
    ...base, hubExited: !alive(a.hubPid), rssRegisteredMiB, idle: idleWindow, refresh: r.window,
    refreshPerSecond: r.perSecond, refreshes: r.refreshes, refreshReplies: g.refreshReplies, rssAfterMiB: rssMiB(a.hubPid),
  }));
}

await main();
