/**
 * A DMVPN cloud: a hub and two spokes on one multipoint tunnel. Spokes' NHRP
 * multicast maps name only the hub, so spokes never hear each other's Hellos
 * and peer only with the hub. What spokes learn about each other depends on
 * the hub's split horizon and next-hop-self.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sim, type SimRouter } from './sim.js';
import type { EigrpInterfaceSpec } from '../../../protocols/eigrp/config.js';

const HUB = '10.0.0.1';

function tunnel(address: string, extra: Partial<EigrpInterfaceSpec> = {}): EigrpInterfaceSpec {
  return { name: 'Tunnel0', address, prefixLength: 24, bandwidth: 1000, delay: 5000, mtu: 1400, multipoint: true, ...extra };
}

function cloud(hubTunnel: Partial<EigrpInterfaceSpec>): { sim: Sim; hub: SimRouter; s1: SimRouter; s2: SimRouter } {
  const sim = new Sim(21);
  const networks = [{ address: '10.0.0.0', wildcard: '0.0.0.255' }, { address: '192.168.0.0', wildcard: '0.0.255.255' }];
  const hub = sim.addRouter('hub', { as: 10, routerId: '10.0.0.1', interfaces: [tunnel(HUB, hubTunnel)], networks });
  const s1 = sim.addRouter('spoke1', { as: 10, routerId: '10.0.0.11', interfaces: [tunnel('10.0.0.11')], networks });
  const s2 = sim.addRouter('spoke2', { as: 10, routerId: '10.0.0.12', interfaces: [tunnel('10.0.0.12')], networks });
  sim.attach('cloud', 'hub', 'Tunnel0');
  sim.attach('cloud', 'spoke1', 'Tunnel0', [HUB]);
  sim.attach('cloud', 'spoke2', 'Tunnel0', [HUB]);
  sim.start();
  const lan = (prefix: string) => [{ prefix, prefixLength: 24, ifname: 'eth1', bandwidth: 100_000, delay: 10 }];
  sim.apply(hub, hub.eigrp.setConnected(lan('192.168.1.0'), 0));
  sim.apply(s1, s1.eigrp.setConnected(lan('192.168.11.0'), 0));
  sim.apply(s2, s2.eigrp.setConnected(lan('192.168.12.0'), 0));
  sim.run(15_000);
  return { sim, hub, s1, s2 };
}

test('hub with `no ip split-horizon eigrp` re-advertises spoke routes to the other spokes', () => {
  const { sim, hub, s1, s2 } = cloud({ splitHorizon: false });
  assert.deepEqual(hub.eigrp.showNeighbors(sim.now).map((n) => n.address).sort(), ['10.0.0.11', '10.0.0.12']);
  assert.deepEqual(s1.eigrp.showNeighbors(sim.now).map((n) => n.address), [HUB], 'spokes peer only with the hub');
  const r = s1.route('192.168.12.0/24');
  assert.ok(r, 'spoke1 learned spoke2\'s LAN through the hub');
  // FastEthernet LAN behind two 1000 kbit/s tunnel hops: 256 x (10000 + 10 + 5000 + 5000).
  assert.equal(r.metric, 256 * (10_000 + 10_010));
  assert.deepEqual(r.nextHops, [{ address: HUB, ifname: 'Tunnel0' }], 'next-hop-self: via the hub (Phase 1)');
  assert.ok(s2.route('192.168.11.0/24'));
  assert.ok(s1.route('192.168.1.0/24') && s2.route('192.168.1.0/24'), 'the hub LAN reaches both');
});

test('hub with `no ip next-hop-self eigrp` keeps the spoke as next hop (Phase 2)', () => {
  const { s1, s2 } = cloud({ splitHorizon: false, nextHopSelf: false });
  assert.deepEqual(s1.route('192.168.12.0/24')?.nextHops, [{ address: '10.0.0.12', ifname: 'Tunnel0' }]);
  assert.deepEqual(s2.route('192.168.11.0/24')?.nextHops, [{ address: '10.0.0.11', ifname: 'Tunnel0' }]);
  assert.deepEqual(s1.route('192.168.1.0/24')?.nextHops, [{ address: HUB, ifname: 'Tunnel0' }], 'the hub\'s own LAN still via the hub');
});

test('hub with split horizon on (the IOS default) does not tell spokes about each other', () => {
  const { s1, s2, hub } = cloud({});
  assert.equal(s1.route('192.168.12.0/24'), undefined);
  assert.equal(s2.route('192.168.11.0/24'), undefined);
  assert.ok(hub.route('192.168.11.0/24') && hub.route('192.168.12.0/24'), 'the hub itself has both');
  assert.ok(s1.route('192.168.1.0/24'));
});

test('a spoke that leaves is withdrawn from the other spoke by the hub', () => {
  const { sim, s1, s2 } = cloud({ splitHorizon: false });
  sim.apply(s2, s2.eigrp.shutdown(sim.now));
  sim.run(2_000);
  assert.equal(s1.route('192.168.12.0/24'), undefined);
  assert.ok(s1.route('192.168.1.0/24'));
});
