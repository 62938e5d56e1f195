/**
 * Phase 3 figure: the time from the first data packet (h2 -> a host on spoke1's
 * LAN) to the shortcut route in spoke2's kernel table. The packet goes through
 * the hub, which sends a Traffic Indication; spoke2 resolves the destination,
 * spoke1 answers, spoke2 installs 192.168.1.0/24 via 10.0.0.11 (RIB, dataplane,
 * then the kernel over rtnetlink). Timed with CLOCK_MONOTONIC at both ends: the
 * probe prints its send time, `ip monitor route` in spoke2 the arrival of the route.
 *
 * Each run targets another address on h1 so that the hub's redirect rate limit
 * (one per source and destination per 8 s, IOS-like) does not hold it back, and
 * starts from `clear ip nhrp` on both spokes.
 */
import { join } from 'node:path';
import { ROOT } from '../lab/topology.js';
import { childOutput, ctl, fmtNum, median, monoMs, row, sh, waitUntil } from './env.js';
import type { LabSession } from './lab-session.js';

const RUNS = 7;
const SHORTCUT = '192.168.1.0/24';

export interface Phase3Figures {
  readonly ms: readonly number[];
  readonly rttMs: number;
}

function kernelShortcut(s: LabSession): boolean {
  const j = JSON.parse(sh(['ip', '-n', s.ns('spoke2'), '-j', 'route', 'show', SHORTCUT]).stdout || '[]') as { gateway?: string }[];
  return j.some((r) => r.gateway === '10.0.0.11');
}

/** Mean RTT of 10 pings from spoke2 to the hub over the tunnel, ms. */
function tunnelRtt(s: LabSession): number {
  const r = s.lab.exec('spoke2', ['ping', '-c', '10', '-i', '0.05', '-q', '10.0.0.1'], { check: false, timeoutMs: 10_000 });
  const m = /= ([\d.]+)\/([\d.]+)\/([\d.]+)/.exec(r.stdout);
  return m ? Number(m[2]) : NaN;
}

/**
 * Epoch ms of the first "shortcut 192.168.1.0/24" line the spoke logged at or after
 * `since` (the lab's text log: HH:MM:SS.mmm in UTC; the date is taken from since).
 */
function engineLogTime(log: string, since: number): number | undefined {
  const day = new Date(since).toISOString().slice(0, 10);
  for (const line of log.split('\n')) {
    const m = /^(\d\d:\d\d:\d\d\.\d\d\d) \w+ shortcut 192\.168\.1\.0\/24 via 10\.0\.0\.11/.exec(line);
    if (!m) continue;
    const t = Date.parse(`${day}T${m[1]}Z`);
    if (t >= since - 1) return t;
  }
  return undefined;
}

export async function runPhase3(s: LabSession): Promise<Phase3Figures> {
  console.log('\n== 3. Phase 3: first packet h2 -> 192.168.1.x to the shortcut in spoke2\'s kernel table ==');
  await s.startDaemons();
  for (let k = 0; k < RUNS; k++) sh(['ip', '-n', s.ns('h1'), 'addr', 'add', `192.168.1.${20 + k}/24`, 'dev', 'eth0']);
  const rtt = tunnelRtt(s);

  // Route events from spoke2's kernel, stamped on arrival.
  let waiting: ((t: number) => void) | undefined;
  const monitor = s.scope.spawn(['ip', '-n', s.ns('spoke2'), 'monitor', 'route']);
  void childOutput(monitor, 600_000, (line) => {
    if (waiting && line.startsWith(`${SHORTCUT} via 10.0.0.11`)) {
      const w = waiting;
      waiting = undefined;
      w(monoMs());
    }
  }).catch(() => undefined);

  const ms: number[] = [];
  const engineMs: number[] = [];
  for (let k = 0; k < RUNS; k++) {
    for (const r of ['spoke2', 'spoke1'] as const) await ctl(s.socket(r), ['clear', 'ip', 'nhrp']);
    await waitUntil('the shortcut gone from spoke2', async () => !kernelShortcut(s) && !(await s.hasShortcut('spoke2', SHORTCUT)), 5000, 20);
    const arrived = new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no shortcut route within 5 s of the first packet')), 5000);
      waiting = (at) => {
        clearTimeout(t);
        resolve(at);
      };
    });
    const dst = `192.168.1.${20 + k}`;
    const probe = s.scope.spawn(['ip', 'netns', 'exec', s.ns('h2'), process.execPath, join(ROOT, 'dist', 'scripts', 'bench', 'nstool.js'), 'probe', dst, '9']);
    const out = await childOutput(probe, 10_000);
    if (out.code !== 0) throw new Error(`probe failed: ${out.stderr.slice(-300)}`);
    const { t0, wall } = JSON.parse(out.stdout.trim()) as { t0: number; wall: number };
    const t1 = await arrived;
    if (!kernelShortcut(s)) throw new Error('route event seen but no shortcut in spoke2\'s table');
    ms.push(t1 - t0);
    const logged = engineLogTime(s.lab.log('spoke2'), wall);
    if (logged !== undefined) engineMs.push(logged - wall);
  }
  const sorted = [...ms].sort((a, b) => a - b);
  console.log(`${RUNS} runs, each from clear ip nhrp on both spokes; one UDP datagram h2 -> 192.168.1.2x`);
  row('baseline: tunnel RTT spoke2 -> hub (mean of 10 pings)', `${fmtNum(rtt, 3)} ms`);
  row('first packet -> kernel shortcut route, min', `${fmtNum(sorted[0])} ms`);
  row('first packet -> kernel shortcut route, median', `${fmtNum(median(ms))} ms`, 'issue goal: < 50 ms');
  row('first packet -> kernel shortcut route, max', `${fmtNum(sorted[sorted.length - 1])} ms`);
  row('median / tunnel RTT', `${fmtNum(median(ms) / rtt, 0)} x`, 'the exchange itself is ~2.5 one-way trips');
  console.log(`    runs (ms): ${ms.map((x) => fmtNum(x)).join(' ')}`);
  if (engineMs.length === ms.length) {
    console.log(`    of which until spoke2's NHRP engine logged the shortcut (log clock, 1 ms steps): median ${fmtNum(median(engineMs), 0)} ms; ` +
      `the rest is the RIB and the rtnetlink route install`);
  }
  return { ms, rttMs: rtt };
}
