/**
 * Hub figures: one dmvpnd hub (tunnel 10.0.0.1/16, holdtime 450 s, dynamic
 * multicast, redirect, authentication: the lab hub's NHRP settings, no EIGRP)
 * in a namespace,
 * and a generator namespace (scripts/bench/hub-gen.ts) playing N spokes with
 * real Registration Requests from N NBMA addresses. Prints the time until all N
 * are registered, the hub's CPU while idle and while refreshing at the steady
 * rate N/150 s, and its RSS, next to the baselines of the same run: the
 * generator's own rate into a blackhole, and the hub's idle RSS and CPU.
 */
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ROOT } from '../lab/topology.js';
import { Scope, childOutput, ctl, dataplaneCounters, fmtNum, rawSocketDrops, row, sh, sleep, waitUntil } from './env.js';
import { GEN_NBMA, HUB_NBMA, SPOKE_NBMA_RANGE } from './hub-addresses.js';

export interface HubOptions {
  /** Another bin/dmvpnd.js to measure (e.g. a build with a proposed fix). */
  readonly dmvpnd?: string;
  readonly spokes?: number;
  /** Write a V8 CPU profile of the hub (node --cpu-prof) into this folder. */
  readonly hubProf?: string;
}

export interface HubFigures {
  readonly spokes: number;
  readonly registered: number;
  readonly registerMs: number;
  readonly refreshCpuPct: number;
  readonly rssMiB: number;
}

/** One measurement window on the hub process (scripts/bench/hub-gen.ts). */
interface Window {
  readonly seconds: number;
  /** % of one core: user + system, and each. */
  readonly cpuPct: number;
  readonly userPct: number;
  readonly systemPct: number;
  /** % of one core per thread name. */
  readonly threads: Record<string, number>;
}

/** The generator's result line. The fields after `cpuRegisterSeconds` are absent when the hub exited. */
interface GenResult {
  readonly hubExited: boolean;
  readonly spokes: number;
  readonly buildMs: number;
  readonly blackholeMs: number;
  readonly rssIdleMiB: number;
  /** Registered when the registration phase ended (all, the time limit, or the hub's exit). */
  readonly registered: number;
  readonly naks: number;
  readonly burstMs: number;
  readonly registerMs: number;
  readonly retransmits: number;
  /** Spokes registered 1 s after the first request (before any retransmission) and the hub's CPU then. */
  readonly firstSecond: number;
  readonly firstSecondWindow?: Window;
  readonly cpuRegisterSeconds: number;
  readonly rssRegisteredMiB: number;
  readonly idle: Window;
  readonly refresh: Window;
  readonly refreshPerSecond: number;
  readonly refreshes: number;
  readonly refreshReplies: number;
  readonly rssAfterMiB: number;
}

const HOLDTIME = 450;
const REG_TIMEOUT_MS = 45_000;
const WINDOW_MS = 10_000;

function hubConfig(): string {
  return [
    'hostname hub',
    '!',
    'interface eth0',
    ` ip address ${HUB_NBMA} 255.255.255.0`,
    '!',
    'interface Tunnel0',
    ' ip address 10.0.0.1 255.255.0.0',
    ' ip mtu 1400',
    ' ip nhrp authentication Cisco123',
    ' ip nhrp map multicast dynamic',
    ' ip nhrp network-id 100',
    ` ip nhrp holdtime ${HOLDTIME}`,
    ' ip nhrp redirect',
    ' tunnel source eth0',
    ' tunnel mode gre multipoint',
    '!',
    '',
  ].join('\n');
}

interface NhrpEntryJson {
  readonly type: string;
}

/** "node 2.7 %, dmvpn-dataplane 0.3 %": per-thread % of a core, busiest first. */
function threads(t: Record<string, number>): string {
  return Object.entries(t).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${v} %`).join(', ') || 'no thread used CPU';
}

export async function runHub(opts: HubOptions = {}): Promise<HubFigures> {
  const spokes = opts.spokes ?? 10_000;
  const dmvpnd = resolve(opts.dmvpnd ?? join(ROOT, 'bin', 'dmvpnd.js'));
  if (!existsSync(dmvpnd)) throw new Error(`no dmvpnd at ${dmvpnd}`);
  console.log(`\n== 2. Hub: ${spokes} spokes register with one dmvpnd hub (holdtime ${HOLDTIME} s) ==`);
  if (opts.dmvpnd) console.log(`daemon under test: ${dmvpnd}`);
  const scope = new Scope();
  const dir = mkdtempSync(join(tmpdir(), 'dmvpn-bench-hub-'));
  scope.defer(() => rmSync(dir, { recursive: true, force: true }));
  try {
    const prefix = `bh${process.pid % 100000}`;
    const hub = scope.netns(`${prefix}-hub`);
    const gen = scope.netns(`${prefix}-gen`);
    sh(['ip', '-n', hub, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', gen]);
    sh(['ip', '-n', hub, 'addr', 'add', `${HUB_NBMA}/24`, 'dev', 'eth0']);
    sh(['ip', '-n', gen, 'addr', 'add', `${GEN_NBMA}/24`, 'dev', 'eth0']);
    sh(['ip', '-n', hub, 'link', 'set', 'eth0', 'up']);
    sh(['ip', '-n', gen, 'link', 'set', 'eth0', 'up']);
    // The spokes' NBMA range is behind the generator.
    sh(['ip', '-n', hub, 'route', 'add', SPOKE_NBMA_RANGE, 'via', GEN_NBMA]);
    for (const ns of [hub, gen]) {
      for (const k of ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']) {
        sh(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', k]);
      }
    }
    sh(['ip', 'netns', 'exec', gen, 'ping', '-c', '1', '-W', '2', HUB_NBMA]); // resolve ARP before the burst

    const cfg = join(dir, 'hub.conf');
    const sock = join(dir, 'hub.sock');
    const logPath = join(dir, 'hub.log');
    writeFileSync(cfg, hubConfig());
    const logFd = openSync(logPath, 'a');
    // Production settings: JSON log on stderr at the default level (info), to a file.
    const prof = opts.hubProf ? ['--cpu-prof', '--cpu-prof-dir', resolve(opts.hubProf)] : [];
    const daemon = scope.spawn(['ip', 'netns', 'exec', hub, process.execPath, ...prof, dmvpnd, '--config', cfg, '--socket', sock], { stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    const hubPid = daemon.pid;
    if (hubPid === undefined) throw new Error('could not start dmvpnd');
    try {
      await waitUntil('the hub daemon to answer', async () => (await ctl(sock, ['show', 'version'], 1000)) !== undefined, 15_000, 100);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${readFileSync(logPath, 'utf8').slice(-1500)}`);
    }
    await sleep(300);

    const genArgs = ['--spokes', String(spokes), '--hub-pid', String(hubPid), '--reg-timeout-ms', String(REG_TIMEOUT_MS),
      '--idle-ms', String(WINDOW_MS), '--refresh-ms', String(WINDOW_MS), '--holdtime', String(HOLDTIME)];
    const child = scope.spawn(['ip', 'netns', 'exec', gen, process.execPath, join(ROOT, 'dist', 'scripts', 'bench', 'hub-gen.js'), ...genArgs]);
    child.stderr?.on('data', (d: Buffer) => process.stdout.write(d.toString()));
    const out = await childOutput(child, REG_TIMEOUT_MS + 2 * WINDOW_MS + 30_000);
    if (out.code !== 0) {
      const hubState = daemon.exitCode !== null || daemon.signalCode !== null ? `the hub exited (${daemon.exitCode ?? daemon.signalCode})` : 'the hub is running';
      throw new Error(`generator failed (${out.code}); ${hubState}\n${out.stderr.slice(-1500)}\n--- hub log (tail) ---\n${readFileSync(logPath, 'utf8').slice(-3000)}`);
    }
    const r = JSON.parse(out.stdout.trim().split('\n').pop() ?? '{}') as GenResult;
    if (opts.hubProf) console.log(`hub CPU profile: ${resolve(opts.hubProf)} (written when the hub stops)`);
    const genPps = (spokes / r.blackholeMs) * 1000;
    console.log(`\n${spokes} spokes: tunnel 10.0.0.2 and up (/16), NBMA 198.18.0.1 and up; requests sent in a fixed shuffled order`);
    row('baseline: generator alone, N packets to a blackhole', `${fmtNum(r.blackholeMs)} ms`, `${fmtNum(genPps / 1000)} kpps`);
    row('baseline: hub RSS idle (no entries)', `${fmtNum(r.rssIdleMiB)} MiB`);
    if (r.hubExited) {
      const log = readFileSync(logPath, 'utf8').split('\n');
      const why = log.filter((l) => /Error|error|fatal/.test(l)).slice(0, 3).join(' | ');
      console.log(`    THE HUB PROCESS EXITED after ${r.registered} registrations; nothing more to measure`);
      console.log(`    hub log: ${why.slice(0, 600) || log.slice(-5).join(' | ')}`);
      return { spokes, registered: r.registered, registerMs: NaN, refreshCpuPct: NaN, rssMiB: NaN };
    }
    const entries = await ctl<NhrpEntryJson[][]>(sock, ['show', 'ip', 'nhrp'], 30_000);
    const cached = entries?.[0]?.filter((e) => e.type === 'dynamic').length ?? NaN;
    const traffic = await ctl<{ received: Record<string, number> }[]>(sock, ['show', 'ip', 'nhrp', 'traffic']);
    const received = traffic?.[0]?.received['registration request'] ?? NaN;
    const dp = await dataplaneCounters(sock);
    const rawDrops = rawSocketDrops(hub);
    const logLines = readFileSync(logPath, 'utf8').split('\n').length - 1;

    row('generator: N requests written to the hub', `${fmtNum(r.burstMs)} ms`);
    if (r.registered === spokes) {
      row('all N registered (last reply read)', `${fmtNum(r.registerMs)} ms`, `issue goal: < 1000 ms; ${r.retransmits} retransmissions`);
    } else {
      row(`registered within ${REG_TIMEOUT_MS / 1000} s (gave up)`, `${r.registered} of ${spokes}`, `${r.retransmits} retransmissions; issue goal: all < 1000 ms`);
    }
    const fw = r.firstSecondWindow;
    row('registered within the first second', `${r.firstSecond} of ${spokes}`,
      `before any retransmission${fw ? `; the hub used ${fmtNum(fw.cpuPct, 0)} % of a core then (${threads(fw.threads)})` : ''}`);
    if (r.naks) row('refused registrations (NAK replies)', String(r.naks));
    // Requests the engine handled in the registration phase: all it received minus the refresh window's.
    const handled = received - r.refreshes;
    row('hub CPU per Registration Request handled', `${fmtNum((r.cpuRegisterSeconds / handled) * 1e6, 0)} us`,
      `${handled} handled (retransmissions included) in ${fmtNum(r.cpuRegisterSeconds, 2)} s of CPU: ${fmtNum(handled / r.cpuRegisterSeconds, 0)}/s per core`);
    row(`baseline: hub CPU idle with the entries (${fmtNum(r.idle.seconds, 0)} s)`, `${fmtNum(r.idle.cpuPct, 2)} % of a core`, threads(r.idle.threads));
    row(`hub CPU refreshing ${fmtNum(r.refreshPerSecond)}/s (${fmtNum(r.refresh.seconds, 0)} s)`, `${fmtNum(r.refresh.cpuPct, 2)} % of a core`,
      `issue goal: < 2 %; replies ${r.refreshReplies} of ${r.refreshes}`);
    row('refresh cost above idle', `${fmtNum(r.refresh.cpuPct - r.idle.cpuPct, 2)} % of a core`,
      `per refresh ${fmtNum(((r.refresh.cpuPct - r.idle.cpuPct) * 10_000) / r.refreshPerSecond, 0)} us`);
    console.log(`    refreshing: ${threads(r.refresh.threads)}; user ${fmtNum(r.refresh.userPct, 2)} %, system ${fmtNum(r.refresh.systemPct, 2)} % ` +
      '(system: syscalls, with the kernel\'s packet path they run)');
    row(`hub RSS with ${r.registered} entries`, `${fmtNum(r.rssRegisteredMiB)} MiB`, 'issue goal: < 200 MB');
    row('hub RSS after the refresh window', `${fmtNum(r.rssAfterMiB)} MiB`,
      `${fmtNum(((r.rssAfterMiB - r.rssIdleMiB) * 1024 * 1024) / Math.max(1, r.registered), 0)} bytes per entry above idle`);
    console.log(`    hub: ${cached} dynamic NHRP entries (show ip nhrp); dataplane eventsQueued ${dp.eventsQueued ?? 0}, ` +
      `dropEventOverflow ${dp.dropEventOverflow ?? 0}, dropSendFail ${dp.dropSendFail ?? 0}; raw socket drops ${rawDrops}; ${logLines} log lines`);
    return { spokes, registered: r.registered, registerMs: r.registerMs, refreshCpuPct: r.refresh.cpuPct, rssMiB: r.rssRegisteredMiB };
  } finally {
    await scope.close();
  }
}
