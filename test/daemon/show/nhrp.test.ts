import { test } from 'node:test';
import assert from 'node:assert/strict';
import { labSim } from '../../protocols/nhrp/sim.js';
import { showDmvpn, showDmvpnDetail, showIpNhrpBrief, showIpNhrp, showIpNhrpNhs, showIpNhrpTraffic, dmvpnData, nhrpData } from '../../../daemon/show/nhrp.js';
import { needsSeed, seedBlock } from '../../support/vectors.js';

/** The reference lab's hub, with the spokes registered at the times its show output implies. */
function hubAtSeedTime() {
  const sim = labSim();
  const hub = sim.nodes.get('hub')!;
  const t0 = sim.now;
  sim.apply(hub, hub.engine.start(t0));
  // UpDn 00:32:16 (spoke3), 00:31:47 (spoke1), 00:31:31 (spoke2) at the moment of the show.
  const start = (name: string, at: number) => {
    sim.advance(at - (sim.now - t0));
    const n = sim.nodes.get(name)!;
    sim.apply(n, n.engine.start(sim.now));
    sim.flush();
  };
  start('spoke3', 0);
  start('spoke1', 29_000);
  start('spoke2', 45_000);
  sim.advance(32 * 60_000 + 16_000 - (sim.now - t0));
  return { sim, hub, view: { engine: hub.engine, ifname: 'Tunnel0', since: t0 } };
}

test('show dmvpn on the hub matches the reference lab line for line', needsSeed, () => {
  const { sim, view } = hubAtSeedTime();
  const expected = seedBlock('iosv-0#show dmvpn').join('\n').trimEnd();
  assert.equal(showDmvpn(view, sim.now).trimEnd(), expected);
});

test('show ip nhrp brief on the hub matches the reference lab line for line', needsSeed, () => {
  const { view } = hubAtSeedTime();
  const expected = seedBlock('iosv-0#show ip nhrp brief').map((l) => l.trimEnd()).join('\n').trimEnd();
  assert.equal(showIpNhrpBrief(view).split('\n').map((l) => l.trimEnd()).join('\n').trimEnd(), expected);
});

test('show dmvpn / show ip nhrp --json carry the same facts', () => {
  const { sim, view } = hubAtSeedTime();
  const d = dmvpnData(view, sim.now);
  assert.equal(d.type, 'Hub');
  assert.deepEqual(d.peers.map((p) => [p.nbma, p.tunnel, p.state, p.upDown, p.attributes]), [
    ['203.0.113.11', '10.0.0.11', 'UP', '00:31:47', 'D'],
    ['203.0.113.12', '10.0.0.12', 'UP', '00:31:31', 'D'],
    ['203.0.113.13', '10.0.0.13', 'UP', '00:32:16', 'D'],
  ]);
  const n = nhrpData(view, sim.now);
  assert.deepEqual(n.map((e) => [e.target, e.nbma, e.type, e.flags.join(' ')]), [
    ['10.0.0.11/32', '203.0.113.11', 'dynamic', 'unique registered'],
    ['10.0.0.12/32', '203.0.113.12', 'dynamic', 'unique registered'],
    ['10.0.0.13/32', '203.0.113.13', 'dynamic', 'unique registered'],
  ]);
  assert.ok(n.every((e) => e.expiresInMs !== null && e.expiresInMs <= 450_000));
});

test('spoke views: NHS status, Phase 3 shortcut entry, traffic counters', () => {
  const sim = labSim();
  sim.start();
  sim.trace('spoke2', '10.0.0.12', '192.168.1.1');
  const s2 = sim.nodes.get('spoke2')!;
  const view = { engine: s2.engine, ifname: 'Tunnel0', since: sim.now };
  const nhs = showIpNhrpNhs(view, sim.now, false);
  assert.match(nhs, /^10\.0\.0\.1 {2}R {2}NBMA Address: 203\.0\.113\.1 priority = 0 cluster = 0$/m);
  const dm = showDmvpn(view, sim.now);
  assert.match(dm, /Type:Spoke, NHRP Peers:2,/);
  assert.match(dm, /^ {5}1 203\.0\.113\.1 {12}10\.0\.0\.1 {4}UP 00:00:00 {5}S$/m);
  assert.match(dm, /^ {5}2 203\.0\.113\.11 {10}10\.0\.0\.11 {4}UP 00:00:00 {5}D$/m);
  assert.match(dm, /^ {29}10\.0\.0\.11 {4}UP 00:00:00 {3}DT1$/m);
  const detail = showIpNhrp(view, sim.now);
  assert.match(detail, /^192\.168\.1\.0\/24 via 10\.0\.0\.11\n {3}Tunnel0 created 00:00:00, expire 00:07:30\n {3}Type: dynamic, Flags: used router rib nho $/m);
  const traffic = showIpNhrpTraffic(view);
  assert.match(traffic, /Sent: Total \d+/);
  assert.match(traffic, /1 Resolution Request/);
  assert.match(traffic, /1 Traffic Indication/);
});

test('show dmvpn detail lists each entry with its target network', () => {
  const sim = labSim();
  sim.start();
  sim.trace('spoke2', '10.0.0.12', '192.168.1.1');
  const s2 = sim.nodes.get('spoke2')!;
  const text = showDmvpnDetail({ engine: s2.engine, ifname: 'Tunnel0', since: sim.now }, { up: true, address: '10.0.0.12', source: '203.0.113.12' }, sim.now);
  assert.match(text, /^Interface Tunnel0 is up\/up, Addr\. is 10\.0\.0\.12, VRF "" $/m);
  assert.match(text, /^ {3}Tunnel Src\.\/Dest\. addr: 203\.0\.113\.12\/Multipoint, Tunnel VRF ""$/m);
  assert.match(text, /^Type:Spoke, Total NBMA Peers \(v4\/v6\): 2$/m);
  assert.match(text, /^ {4}2 203\.0\.113\.11 {10}10\.0\.0\.11 {4}UP 00:00:00 {5}D {6}10\.0\.0\.11\/32$/m);
  assert.match(text, /^ {28}10\.0\.0\.11 {4}UP 00:00:00 {3}DT1 {4}192\.168\.1\.0\/24$/m);
});
