/**
 * Shortcut refresh with a short holding time (`ip nhrp holdtime 45` on every tunnel, 60 in the VM): a
 * Phase 3 shortcut that traffic keeps using is refreshed (the spoke sends another Resolution
 * Request before it expires) and survives well past its holding time without a gap, and one
 * left idle expires with its holding time. The usage signal comes from the dataplane: the
 * userspace one counts per peer, the kernel one reads its nftables usage set (run inside the
 * VM with DMVPN_LAB_DATAPLANE=kernel by test/vm/kernel-shortcut.test.ts).
 *
 * Timing (IOS's rule, protocols/nhrp/shortcut.ts): a used shortcut is refreshed a third of its
 * holding time before it expires. Busy for 1.8 holding times, the shortcut must be refreshed at
 * least once and never leave the routing table (nor send traffic through the hub again); idle,
 * it must expire. The usage signal lags the packets (the kernel dataplane reads its counters every
 * 5 s and the tunnel polls the dataplane every 5 s), so when a refresh falls between the last
 * packets and their being seen, those packets earn one more: at most two Resolution Requests
 * after the last packet, and the entry lives at most one refresh interval (holding time less
 * lead) plus the lag plus a holding time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { Lab, labTimeScale, type RouterName } from '../../scripts/lab/topology.js';
import { needsTool, isRoot } from '../support/tools.js';

const opts = !isRoot() && process.env.CI !== 'true' ? { skip: 'needs root for network namespaces' } : needsTool('ip', 'ping');

/** 45 s; 60 s inside the VM, where a loaded host can slow the usage reads (nft runs) by seconds. */
const HOLDTIME_S = labTimeScale() > 1 ? 60 : 45;
const BUSY_S = Math.round(HOLDTIME_S * 1.8);
/** How late the dataplane's usage can be seen: its counter read plus the tunnel's poll. */
const USAGE_LAG_S = 10;
/** The idle shortcut's longest life: a refresh interval and the usage lag, then a holding time, and slack. */
const IDLE_BOUND_S = HOLDTIME_S + (HOLDTIME_S - Math.min(60, HOLDTIME_S / 3)) + USAGE_LAG_S + 20;

interface NhrpEntry { target: string; nextHop: string; flags: string[]; expiresInMs: number | null }
type Traffic = { sent: Record<string, number> }[];

test('lab: a busy shortcut is refreshed past its holding time, an idle one expires', { ...opts, timeout: (420_000 + BUSY_S * 1000) * labTimeScale() }, async (t) => {
  const lab = new Lab(`dh${process.pid % 100000}`, undefined, { holdtime: HOLDTIME_S });
  const routers: RouterName[] = ['hub', 'spoke1', 'spoke2'];
  try {
    lab.build();
    for (const r of routers) lab.startDaemon(r);
    await lab.waitFor('two spokes UP at the hub', () => {
      const d = lab.ctlJson<{ peers: { state: string; attributes: string }[] }[]>('hub', ['show', 'dmvpn']);
      return d?.[0]?.peers.filter((p) => p.state === 'UP' && p.attributes === 'D').length === 2;
    }, 60_000);
    await lab.waitFor('EIGRP routes between the spokes\' LANs', () => (['spoke1', 'spoke2'] as RouterName[]).every((r) => {
      const routes = lab.ctlJson<{ code: string; prefix: string }[]>(r, ['show', 'ip', 'route']) ?? [];
      return routes.some((x) => x.code === 'D' && x.prefix === (r === 'spoke1' ? '192.168.2.0' : '192.168.1.0'));
    }), 60_000);

    // The kernel's route to the far LAN: the shortcut (NHRP, protocol 191) or not.
    const viaShortcut = (r: 'spoke1' | 'spoke2'): boolean => {
      const [dst, gw] = r === 'spoke2' ? ['192.168.1.0/24', '10.0.0.11'] : ['192.168.2.0/24', '10.0.0.12'];
      const out = lab.exec(r, ['ip', '-N', '-j', 'route', 'show', dst], { check: false }).stdout;
      try {
        return (JSON.parse(out || '[]') as { gateway?: string; protocol?: string | number }[]).some((x) => x.gateway === gw && String(x.protocol) === '191');
      } catch {
        return false;
      }
    };
    const sent = (r: RouterName, type: string): number => lab.ctlJson<Traffic>(r, ['show', 'ip', 'nhrp', 'traffic'])?.[0]?.sent[type] ?? 0;
    const shortcutEntry = (): NhrpEntry | undefined => lab.ctlJson<NhrpEntry[][]>('spoke2', ['show', 'ip', 'nhrp'])?.[0]?.find((e) => e.target === '192.168.1.0/24');

    // Phase 3 builds the shortcuts both ways (the hub redirects the request and the reply).
    lab.exec('h2', ['ping', '-n', '-q', '-c', '5', '-i', '0.5', '-W', '2', '192.168.1.10'], { check: false, timeoutMs: 20_000 });
    await lab.waitFor('the shortcuts on spoke2 and spoke1', () => viaShortcut('spoke2') && viaShortcut('spoke1'), 20_000);
    const created = Date.now();
    const requests0 = sent('spoke2', 'resolution request');
    const indications0 = sent('hub', 'traffic indication');
    t.diagnostic(`shortcut up; spoke2 sent ${requests0} resolution requests, the hub ${indications0} traffic indications`);

    // Busy: one ping a second for BUSY_S seconds, the routes sampled every 2 s meanwhile.
    const ping = spawn('ip', ['netns', 'exec', lab.ns('h2'), 'ping', '-n', '-q', '-i', '1', '-c', String(BUSY_S), '-W', '2', '192.168.1.10'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let pingOut = '';
    ping.stdout!.setEncoding('utf8').on('data', (d: string) => void (pingOut += d));
    const pinged = new Promise<void>((res) => ping.once('exit', () => res()));
    const kill = setTimeout(() => ping.kill('SIGKILL'), (BUSY_S + 60) * 1000);
    const gaps: string[] = [];
    let running = true;
    void pinged.then(() => void (running = false));
    try {
      while (running) {
        for (const r of ['spoke2', 'spoke1'] as const) if (!viaShortcut(r)) gaps.push(`${r} at ${Math.round((Date.now() - created) / 1000)} s`);
        await new Promise((r) => setTimeout(r, 2000));
      }
      await pinged;
    } finally {
      clearTimeout(kill);
      ping.kill();
    }
    const busyFor = (Date.now() - created) / 1000;
    t.diagnostic(`busy for ${busyFor.toFixed(0)} s: ${pingOut.split('\n').find((l) => /packets transmitted/.test(l)) ?? pingOut}`);
    assert.ok(busyFor > HOLDTIME_S + 15, `the busy phase outlasted the holding time (${busyFor} s)`);
    assert.deepEqual(gaps, [], 'the busy shortcuts never left the routing table');
    assert.ok(viaShortcut('spoke2') && viaShortcut('spoke1'), 'both shortcuts still there after more than their holding time');
    const requests1 = sent('spoke2', 'resolution request');
    t.diagnostic(`spoke2 sent ${requests1 - requests0} resolution requests while busy (refreshes)`);
    assert.ok(requests1 > requests0, `spoke2 refreshed the shortcut: ${requests0} -> ${requests1} resolution requests`);
    assert.equal(sent('hub', 'traffic indication'), indications0, 'no traffic through the hub again (no lapse, no new redirect)');
    const entry = shortcutEntry();
    assert.ok(entry && entry.expiresInMs !== null && entry.expiresInMs > 0, `the shortcut's cache entry lives on: ${JSON.stringify(entry)}`);
    // The dataplane counted what went over the shortcut (the usage signal itself).
    const dp = lab.ctlJson<{ dataplane: string; peers: { overlay: string; txPackets?: number }[] }[]>('spoke2', ['show', 'dataplane'])![0];
    const tx = dp.peers.find((p) => p.overlay === '10.0.0.11')?.txPackets ?? 0;
    t.diagnostic(`spoke2 (${dp.dataplane} dataplane) sent ${tx} packets to 10.0.0.11`);
    assert.ok(tx >= BUSY_S * 0.8, `spoke2's dataplane counted the busy traffic to 10.0.0.11 (${tx})`);
    if (lab.options.dataplane === 'kernel') {
      const set = lab.exec('spoke2', ['nft', 'list', 'set', 'ip', 'dmvpnd_Tunnel0', 'tx_nexthops']).stdout;
      t.diagnostic(`spoke2: nft list set ip dmvpnd_Tunnel0 tx_nexthops\n${set}`);
      assert.match(set, /10\.0\.0\.11 counter packets \d+/);
    }

    // Idle: nothing uses the shortcut any more; it lapses with its holding time.
    const idle = Date.now();
    await lab.waitFor('the idle shortcut on spoke2 to expire', () => !viaShortcut('spoke2'), IDLE_BOUND_S * 1000 + 30_000, 1000);
    const idleFor = (Date.now() - idle) / 1000;
    t.diagnostic(`idle shortcut gone after ${idleFor.toFixed(0)} s; spoke2 sent ${sent('spoke2', 'resolution request') - requests1} resolution requests meanwhile`);
    assert.ok(idleFor <= IDLE_BOUND_S, `gone within ${IDLE_BOUND_S} s of the last packet (${idleFor} s)`);
    assert.ok(sent('spoke2', 'resolution request') - requests1 <= 2, 'at most the refreshes the last packets earned');
    assert.equal(shortcutEntry(), undefined, 'the cache entry is gone too');
    // Traffic resumes through the hub (EIGRP's route) and would build a new shortcut.
    assert.match(lab.ctl('spoke2', ['show', 'ip', 'route']).stdout, /^D {5}192\.168\.1\.0\/24 \[90\/\d+\] via 10\.0\.0\.1,/m);
  } catch (e) {
    for (const r of routers) console.error(`--- ${r} log ---\n${lab.log(r).split('\n').slice(-30).join('\n')}`);
    throw e;
  } finally {
    await lab.destroy();
  }
  const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  assert.ok(!left.includes(lab.prefix), `namespaces left behind: ${left}`);
});
