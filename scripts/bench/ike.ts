/**
 * IKE figures: a dmvpnd hub with tunnel protection (bin/dmvpnd.js in a
 * namespace; IKEv2 proposal AES-CBC-256/SHA-256 with one DH group, transform
 * set esp-gcm 256) brings up SAs with N simulated spokes right after it starts
 * (the issue: 1,000 spokes in under 10 s, with group 19 and with group 31).
 * The spokes (scripts/bench/ike-spokes.ts) are the project's IKEv2 engine on N
 * addresses in another namespace; they all initiate at once as soon as the
 * hub answers on its control socket.
 *
 * Printed per group: hub start to ready, first IKE_SA_INIT to the last child
 * SA (counted on the spoke side, cross-checked with the hub's `show crypto
 * session`), SAs/s, CPU of both processes, and the baseline of the same run:
 * the same N handshakes between IkeManagers in one process without the
 * network, so the ratio says what the daemon, the sockets and the second
 * process add.
 */
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ROOT } from '../lab/topology.js';
import { Scope, childOutput, cpuSplit, ctl, fmtNum, machineCpu, machineCpuText, monoMs, row, sh, waitUntil } from './env.js';
import { IKE_GEN, IKE_HUB, IKE_SPOKE_RANGE, ikeBenchConfig, inProcessHandshakes, spokeAddress } from './ike-setup.js';
import type { SpokesResult } from './ike-spokes.js';

export interface IkeOptions {
  /** Another bin/dmvpnd.js for the hub (e.g. a build with a proposed fix). */
  readonly dmvpnd?: string;
  readonly spokes?: number;
  readonly groups?: readonly number[];
}

export interface IkeFigures {
  readonly group: number;
  readonly spokes: number;
  readonly established: number;
  /** First IKE_SA_INIT to the last child SA, ms. */
  readonly ms: number;
  readonly inProcessMs: number;
}

const TIMEOUT_MS = 60_000;

/** `show crypto session` JSON: per tunnel, one row per peer with its IOS session status. */
interface SessionJson {
  readonly rows?: readonly { readonly status: string }[];
}

/** Udp RcvbufErrors in a namespace (/proc/net/snmp): datagrams the kernel dropped on full socket buffers. */
function udpRcvbufErrors(ns: string): number {
  const lines = sh(['ip', 'netns', 'exec', ns, 'cat', '/proc/net/snmp'], { check: false }).stdout.split('\n').filter((l) => l.startsWith('Udp:'));
  if (lines.length < 2) return NaN;
  const names = lines[0].split(/\s+/);
  const values = lines[1].split(/\s+/);
  return Number(values[names.indexOf('RcvbufErrors')]);
}

async function runGroup(group: number, spokes: number, dmvpnd: string): Promise<IkeFigures> {
  console.log(`\n-- DH group ${group}: ${spokes} spokes --`);
  // Baseline first, on a quiet machine: the same handshakes in one process.
  const base = inProcessHandshakes(spokes, group);
  if (base.established !== spokes) throw new Error(`in-process baseline: only ${base.established} of ${spokes} handshakes completed`);

  const scope = new Scope();
  const dir = mkdtempSync(join(tmpdir(), 'dmvpn-bench-ike-'));
  scope.defer(() => rmSync(dir, { recursive: true, force: true }));
  try {
    const prefix = `bq${process.pid % 100000}`;
    const hubNs = scope.netns(`${prefix}-hub`);
    const gen = scope.netns(`${prefix}-gen`);
    sh(['ip', '-n', hubNs, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', gen]);
    sh(['ip', '-n', hubNs, 'addr', 'add', `${IKE_HUB}/24`, 'dev', 'eth0']);
    sh(['ip', '-n', gen, 'addr', 'add', `${IKE_GEN}/24`, 'dev', 'eth0']);
    sh(['ip', '-n', hubNs, 'link', 'set', 'eth0', 'up']);
    sh(['ip', '-n', gen, 'link', 'set', 'eth0', 'up']);
    sh(['ip', '-n', hubNs, 'route', 'add', IKE_SPOKE_RANGE, 'via', IKE_GEN]);
    // The spokes' addresses, one /32 each on the generator's veth (ip -batch: one netlink session).
    const batch = join(dir, 'addrs.batch');
    writeFileSync(batch, Array.from({ length: spokes }, (_, i) => `addr add ${spokeAddress(i)}/32 dev eth0\n`).join(''));
    sh(['ip', '-n', gen, '-batch', batch], { timeoutMs: 60_000 });
    sh(['ip', 'netns', 'exec', gen, 'ping', '-c', '1', '-W', '2', IKE_HUB]); // ARP resolved before the burst

    const spokesChild = scope.spawn(['ip', 'netns', 'exec', gen, process.execPath, join(ROOT, 'dist', 'scripts', 'bench', 'ike-spokes.js'),
      '--spokes', String(spokes), '--group', String(group), '--timeout-ms', String(TIMEOUT_MS)]);
    spokesChild.stderr?.on('data', (d: Buffer) => process.stdout.write(d.toString()));
    let ready!: () => void;
    const out = childOutput(spokesChild, TIMEOUT_MS + 120_000, (line) => line === 'ready' && ready());
    await new Promise<void>((resolve, reject) => {
      // Settling twice is a no-op: whichever comes first wins.
      const t = setTimeout(() => reject(new Error('ike-spokes not ready after 60 s')), 60_000);
      ready = () => {
        clearTimeout(t);
        resolve();
      };
      out.then((o) => reject(new Error(`ike-spokes exited (${o.code}) before it was ready: ${o.stderr.slice(-800)}`)), reject);
    });

    const cfg = join(dir, 'hub.conf');
    const sock = join(dir, 'hub.sock');
    const logPath = join(dir, 'hub.log');
    writeFileSync(cfg, ikeBenchConfig(group));
    const logFd = openSync(logPath, 'a');
    const hubStart = monoMs();
    const daemon = scope.spawn(['ip', 'netns', 'exec', hubNs, process.execPath, dmvpnd, '--config', cfg, '--socket', sock],
      { stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    try {
      await waitUntil('the hub to answer on its control socket', async () => (await ctl(sock, ['show', 'version'], 1000)) !== undefined, 20_000, 20);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${readFileSync(logPath, 'utf8').slice(-1500)}`);
    }
    const hubReady = monoMs();
    const hubPid = daemon.pid!;
    const hubCpu0 = cpuSplit(hubPid);
    const drops0 = udpRcvbufErrors(hubNs);
    const machine0 = machineCpu();
    spokesChild.stdin?.write('go\n');
    const o = await out;
    const hubCpu1 = cpuSplit(hubPid);
    const machine1 = machineCpu();
    if (o.code !== 0) throw new Error(`ike-spokes failed (${o.code}): ${o.stderr.slice(-1500)}\n--- hub log ---\n${readFileSync(logPath, 'utf8').slice(-1500)}`);
    const r = JSON.parse(o.stdout.trim().split('\n').pop() ?? '{}') as SpokesResult;
    const drops = udpRcvbufErrors(hubNs) - drops0;
    // The hub's own count: sessions with a child SA (UP-ACTIVE).
    let hubUp = NaN;
    await waitUntil('the hub to list every session', async () => {
      const s = await ctl<SessionJson[]>(sock, ['show', 'crypto', 'session'], 20_000);
      hubUp = s ? s.flatMap((t) => t.rows ?? []).filter((x) => x.status === 'UP-ACTIVE').length : NaN;
      return hubUp >= r.established;
    }, 10_000, 200).catch(() => undefined);

    const ms = r.lastUpAt - r.firstSendAt;
    const wall = r.wallSeconds;
    const spokeCpu = r.cpuUser + r.cpuSystem;
    const hubCpu = hubCpu1.user - hubCpu0.user + (hubCpu1.system - hubCpu0.system);
    const span = (r.lastUpAt - r.goAt) / 1000;
    row('baseline: N handshakes in one process, no network', `${fmtNum(base.ms / 1000, 2)} s`,
      `${fmtNum(spokes / (base.ms / 1000), 0)} handshakes/s on one thread (both sides), ${fmtNum((base.cpuSeconds / spokes) * 1000, 2)} ms CPU each; ` +
      `${base.datagrams} datagrams, ${base.cookies} COOKIE replies`);
    row('hub start -> control socket answers', `${fmtNum((hubReady - hubStart) / 1000, 2)} s`, 'node start, config, TUN, IKE sockets');
    if (r.established === spokes) {
      row('first IKE_SA_INIT -> all child SAs up (spoke side)', `${fmtNum(ms / 1000, 2)} s`,
        `${fmtNum(spokes / (ms / 1000), 0)} SAs/s; median spoke ${fmtNum(r.medianMs / 1000, 2)} s; issue goal: < 10 s`);
      row('hub start -> all child SAs up', `${fmtNum((r.lastUpAt - hubStart) / 1000, 2)} s`);
      row('ratio network / in-process', `${fmtNum(ms / base.ms, 2)} x`, 'what the daemon, sockets and the second process add');
    } else {
      row(`child SAs up within ${TIMEOUT_MS / 1000} s (gave up)`, `${r.established} of ${spokes}`, 'issue goal: all < 10 s');
    }
    row('hub: show crypto session, UP-ACTIVE', `${hubUp}`, hubUp === r.established ? 'agrees with the spokes' : `the spokes count ${r.established}`);
    console.log(`    up by second: ${r.perSecond.join(' ')}`);
    console.log(`    datagrams: spokes sent ${r.sent}, received ${r.received}; ${r.cookies} COOKIE replies (hub cookie threshold: 64 half-open SAs); ` +
      `hub UDP receive-buffer drops ${drops}; send errors ${r.sendErrors}` +
      `${Object.keys(r.ikeDown).length ? `; IKE SAs failed: ${JSON.stringify(r.ikeDown)}, reconnected after 1 s: ${r.reconnects}` : ''}`);
    console.log(`    CPU over ${fmtNum(span, 2)} s (go -> last SA): hub ${fmtNum((100 * hubCpu) / span, 0)} % of a core, ` +
      `spokes process ${fmtNum((100 * spokeCpu) / wall, 0)} % of a core (user ${fmtNum(r.cpuUser, 2)} s, sys ${fmtNum(r.cpuSystem, 2)} s over ${fmtNum(wall, 2)} s); ` +
      `hub CPU per spoke ${fmtNum((hubCpu / spokes) * 1000, 2)} ms; machine (${cpus().length} CPUs): ${machineCpuText(machine0, machine1)}`);
    if (spokeCpu / wall > 0.85) console.log('    NOTE: the simulated initiators saturate a core: the figure is bounded by the load generator as much as by the hub');
    if (hubCpu / span > 0.85) console.log('    NOTE: the hub saturates its core (one JavaScript thread does all IKE)');
    const idle = (machine1.idle - machine0.idle) / Math.max(1e-9, machine1.total - machine0.total);
    if (idle < 0.1) console.log(`    NOTE: the machine had ${fmtNum(100 * idle, 0)} % idle CPU: the hub and the spokes competed with other load for the ${cpus().length} CPUs`);
    if (drops > 0) console.log('    NOTE: the hub\'s IKE socket dropped datagrams (receive buffer full); the spokes then wait out the retransmission backoff (RFC 7296 section 2.1; here doubling from 0.5 s)');
    return { group, spokes, established: r.established, ms: r.established === spokes ? ms : NaN, inProcessMs: base.ms };
  } finally {
    await scope.close();
  }
}

export async function runIke(opts: IkeOptions = {}): Promise<IkeFigures[]> {
  const spokes = opts.spokes ?? 1000;
  const groups = opts.groups ?? [19, 31];
  const dmvpnd = resolve(opts.dmvpnd ?? join(ROOT, 'bin', 'dmvpnd.js'));
  if (!existsSync(dmvpnd)) throw new Error(`no dmvpnd at ${dmvpnd}`);
  console.log(`\n== IKE: ${spokes} simulated spokes bring up SAs with one dmvpnd hub right after it starts ==`);
  console.log(`hub: bin/dmvpnd.js, IKEv2 proposal aes-cbc-256/sha256/group N, transform set esp-gcm 256; spokes: ${spokes} IkeManagers in one process, ` +
    `one UDP socket per address (${spokeAddress(0)} ..), all connect at once when the hub answers`);
  const out: IkeFigures[] = [];
  if (opts.dmvpnd) console.log(`daemon under test: ${dmvpnd}`);
  console.log(`load average at start: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')} (${cpus().length} CPUs)`);
  for (const g of groups) out.push(await runGroup(g, spokes, dmvpnd));
  return out;
}
