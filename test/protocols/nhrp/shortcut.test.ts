/**
 * Phase 3 shortcut lifetime over the deterministic simulation (fake clock): a
 * shortcut is refreshed only while traffic uses it (IOS's "used" flag), an idle
 * one expires with its holding time, and a short holding time cannot turn the
 * refresh into a Resolution Request storm.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reader } from '../../../protocols/wire/index.js';
import { parseNhrp } from '../../../protocols/nhrp/wire.js';
import { NhrpPacketType } from '../../../protocols/nhrp/constants.js';
import { refreshLeadMs, refreshAt, REFRESH_LEAD_MAX_MS, RedirectLimiter, REDIRECT_PAIR_INTERVAL_MS } from '../../../protocols/nhrp/shortcut.js';
import type { NhrpAction } from '../../../protocols/nhrp/engine-types.js';
import { labSim, type Sim, type SimNode } from './sim.js';

const LAN1 = '192.168.1.1';

/** Resolution Requests a node put on the wire from `since` on: time and target. */
function requests(sim: Sim, from: string, since: number): { at: number; target: string }[] {
  return sim.wire
    .filter((w) => w.from === from && w.at >= since)
    .map((w) => ({ at: w.at, p: parseNhrp(new Reader(w.bytes, 'nhrp')) }))
    .filter(({ p }) => p.type === NhrpPacketType.RESOLUTION_REQUEST)
    .map(({ at, p }) => ({ at, target: p.body.kind === 'mandatory' ? p.body.dstProto : '' }));
}

/** The dataplane actions (map/unmap/routes) a node carried out from `since` on. */
function dataplane(n: SimNode, since: number): { at: number; action: NhrpAction }[] {
  return n.history.filter((h) => h.at >= since && ['map', 'unmap', 'route-add', 'route-del'].includes(h.action.kind));
}

/** spoke2 sends to spoke1's LAN once through the hub: the redirect installs the shortcut. */
function withShortcut(holdtime?: number): { sim: Sim; s2: SimNode; t0: number } {
  const sim = labSim(holdtime === undefined ? {} : { holdtime });
  sim.start();
  assert.deepEqual(sim.trace('spoke2', '10.0.0.12', LAN1), ['10.0.0.1', '10.0.0.11']);
  const s2 = sim.nodes.get('spoke2')!;
  assert.ok(s2.routes.some((r) => r.source === 'nhrp' && r.prefix === '192.168.1.0' && r.via === '10.0.0.11'));
  return { sim, s2, t0: sim.now };
}

test('shortcut timing: the refresh lead is 60 s at most and a third of the holding time below 180 s', () => {
  assert.equal(refreshLeadMs(7200), REFRESH_LEAD_MAX_MS);
  assert.equal(refreshLeadMs(450), 60_000);
  assert.equal(refreshLeadMs(180), 60_000);
  assert.equal(refreshLeadMs(90), 30_000);
  assert.equal(refreshLeadMs(10), 3333);
  assert.equal(refreshLeadMs(1), 333);
  assert.equal(refreshLeadMs(0), 333, 'a zero holding time is treated as the shortest one');
  for (let h = 1; h <= 65535; h++) {
    const lead = refreshLeadMs(h);
    // Refreshed no sooner than two thirds of the holding time after it was learned, and before it expires.
    assert.ok(lead > 0 && lead * 3 <= h * 1000 && lead <= REFRESH_LEAD_MAX_MS, `holding time ${h}`);
  }
  assert.equal(refreshAt({ expires: 100_000, holdingTime: 10 }), 96_667);
  assert.equal(refreshAt({ expires: undefined, holdingTime: 0 }), undefined);
});

test('shortcut: an unused shortcut expires with its holding time: unmap and route-del, cache back to the static entry', () => {
  const { sim, s2, t0 } = withShortcut();
  const hold = 450_000;
  const lead = refreshLeadMs(450);
  sim.advance(2 * hold);
  // The traffic that started the resolution counts as one use: one refresh, at the lead before expiry...
  const reqs = requests(sim, 'spoke2', t0 + 1);
  assert.deepEqual(reqs, [{ at: t0 + hold - lead, target: '192.168.1.0' }]);
  // ...and its answer is not a use: nothing used the shortcut since, so it lapses one holding time later.
  const gone = t0 + hold - lead + hold;
  assert.deepEqual(dataplane(s2, t0 + 1), [
    { at: gone, action: { kind: 'route-del', prefix: '192.168.1.0', prefixLength: 24, nextHop: '10.0.0.11' } },
    { at: gone, action: { kind: 'unmap', proto: '10.0.0.11' } },
  ]);
  assert.deepEqual(s2.engine.cache.all().map((e) => `${e.type} ${e.prefix}/${e.prefixLength}`), ['static 10.0.0.1/32']);
  assert.ok(!s2.routes.some((r) => r.source === 'nhrp'));
  assert.ok(!s2.maps.has('10.0.0.11'));
  assert.equal(s2.engine.nextDeadline() !== undefined && s2.engine.nextDeadline()! < gone, false, 'no deadline left behind for the shortcut');
  // The next packet goes through the hub again (and is redirected again).
  assert.deepEqual(sim.trace('spoke2', '10.0.0.12', LAN1), ['10.0.0.1', '10.0.0.11']);
});

test('shortcut: a shortcut in use is refreshed once per holding time minus the lead, and stays up', () => {
  const { sim, s2, t0 } = withShortcut();
  const period = 450_000 - refreshLeadMs(450);
  // Traffic every 10 s for 3000 s: every packet takes the shortcut.
  for (let t = 10_000; t <= 3_000_000; t += 10_000) {
    sim.advance(t0 + t - sim.now);
    assert.deepEqual(sim.trace('spoke2', '10.0.0.12', LAN1), ['10.0.0.11'], `at ${t / 1000} s`);
  }
  const reqs = requests(sim, 'spoke2', t0 + 1);
  assert.deepEqual(reqs.map((r) => r.at - t0), [1, 2, 3, 4, 5, 6, 7].map((k) => k * period));
  assert.ok(reqs.every((r) => r.target === '192.168.1.0'));
  assert.deepEqual(dataplane(s2, t0 + 1), [], 'the route and the mapping never moved');
  assert.ok(!sim.wire.some((w) => w.at > t0 && w.from === 'hub' && parseNhrp(new Reader(w.bytes, 'nhrp')).type === NhrpPacketType.TRAFFIC_INDICATION));
  // The traffic stops: the last refresh still covers the traffic since the one before; the next check finds none.
  const stop = sim.now;
  sim.advance(3 * 450_000);
  assert.deepEqual(requests(sim, 'spoke2', stop + 1).map((r) => r.at - t0), [8 * period]);
  const gone = t0 + 8 * period + 450_000;
  assert.deepEqual(dataplane(s2, stop + 1).map((h) => [h.at, h.action.kind]), [[gone, 'route-del'], [gone, 'unmap']]);
});

test('shortcut: holdtime 10 s, traffic every second for 1000 s: one refresh per 6.7 s, no storm', () => {
  const { sim, s2, t0 } = withShortcut(10);
  const period = 10_000 - refreshLeadMs(10);
  assert.equal(period, 6667);
  for (let t = 1000; t <= 1_000_000; t += 1000) {
    sim.advance(t0 + t - sim.now);
    assert.deepEqual(sim.trace('spoke2', '10.0.0.12', LAN1), ['10.0.0.11'], `at ${t / 1000} s`);
  }
  const reqs = requests(sim, 'spoke2', t0 + 1);
  // floor(1000 s / 6.667 s) = 149 refreshes, evenly spaced (the reply comes back at once in the simulation).
  assert.equal(reqs.length, 149);
  reqs.forEach((r, i) => assert.equal(r.at - t0, (i + 1) * period));
  assert.deepEqual(dataplane(s2, t0 + 1), [], 'the shortcut never lapsed');
});

test('shortcut: holdtime 10 s, spoke1 stops answering: requests stay spaced, the shortcut lapses, traffic falls back to the hub', () => {
  const { sim, s2, t0 } = withShortcut(10);
  // From now on nothing passes between the spokes directly (a firewall in between); the hub path works.
  sim.lose = (from, to) => (from === 'spoke2' && to === '203.0.113.11') || (from === 'spoke1' && to === '203.0.113.12');
  const paths = new Set<string>();
  for (let t = 1000; t <= 1_000_000; t += 1000) {
    sim.advance(t0 + t - sim.now);
    paths.add(sim.trace('spoke2', '10.0.0.12', LAN1).join(' '));
  }
  const reqs = requests(sim, 'spoke2', t0 + 1);
  const byTarget = new Map<string, number[]>();
  for (const r of reqs) byTarget.set(r.target, [...(byTarget.get(r.target) ?? []), r.at]);
  for (const [target, times] of byTarget) {
    for (let i = 1; i < times.length; i++) assert.ok(times[i] - times[i - 1] >= 1000, `${target}: requests ${times[i - 1] - t0} and ${times[i] - t0} ms`);
  }
  // Each round is a request and three retries (1, 2, 4 s apart) and ends 4 s after the last one;
  // the hub's redirects (one per 8 s per pair) start the next round: at most 4 requests per 11 s.
  assert.ok(reqs.length <= Math.ceil(1_000_000 / 11_000) * 4, `${reqs.length} requests in 1000 s`);
  assert.ok(reqs.length >= 100, `it keeps trying (${reqs.length} requests)`);
  assert.ok(paths.has('10.0.0.1 10.0.0.11'), 'traffic goes through the hub once the shortcut is gone');
  assert.ok(dataplane(s2, t0 + 1).some((h) => h.action.kind === 'route-del'));
});

test('shortcut: the refresh of a shortcut leaves no incomplete entry in front of it', () => {
  const { sim, s2, t0 } = withShortcut();
  sim.lose = (from) => from === 'spoke1';
  sim.advance(450_000 - refreshLeadMs(450) + 500);
  assert.equal(requests(sim, 'spoke2', t0 + 1).length, 1, 'the refresh went out (and is not answered)');
  assert.deepEqual(s2.engine.cache.all().map((e) => `${e.type} ${e.prefix}/${e.prefixLength}`), ['static 10.0.0.1/32', 'dynamic 10.0.0.11/32', 'dynamic 192.168.1.0/24']);
});

test('shortcut timing: the redirect limiter allows one indication per pair per 8 s and 10 per second in all', () => {
  const l = new RedirectLimiter();
  assert.equal(l.allow('a>x', 0), true);
  assert.equal(l.allow('a>x', REDIRECT_PAIR_INTERVAL_MS - 1), false);
  assert.equal(l.allow('a>x', REDIRECT_PAIR_INTERVAL_MS), true);
  const burst = Array.from({ length: 20 }, (_, i) => l.allow(`b>${i}`, 20_000)).filter(Boolean).length;
  assert.equal(burst, 10);
  assert.equal(l.allow('c>y', 20_100), true, 'the bucket refills at 10 per second');
  assert.equal(l.allow('c>z', 20_100), false);
});
