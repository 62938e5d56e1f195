/**
 * Features on top of the basic exchange: wide and classic metrics side by
 * side, stubs, summaries, external routes, unequal-cost load sharing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EigrpOpcode, EigrpStubFlag } from '../../../protocols/eigrp/constants.js';
import { decodeEigrp, routeTlvs } from '../../../protocols/eigrp/wire.js';
import type { EigrpConfig } from '../../../protocols/eigrp/config.js';
import { Sim, eth, type Member } from './sim.js';

const NETS = [{ address: '10.0.0.0' }, { address: '192.168.0.0', wildcard: '0.0.255.255' }, { address: '172.16.0.0' }];
const fa = (prefix: string, ifname = 'fa0', prefixLength = 24) => ({ prefix, prefixLength, ifname, bandwidth: 100_000, delay: 10 });

interface Delivery {
  readonly from: string;
  readonly to: string;
  readonly bytes: Uint8Array;
}

function observe(sim: Sim): Delivery[] {
  const seen: Delivery[] = [];
  sim.dropIf = (from: Member, to: Member, bytes: Uint8Array) => {
    seen.push({ from: from.router.name, to: to.router.name, bytes });
    return false;
  };
  return seen;
}

function lan(configs: Partial<EigrpConfig>[], seed = 8) {
  const sim = new Sim(seed);
  const seen = observe(sim);
  const r = configs.map((c, i) => {
    const n = i + 1;
    const x = sim.addRouter(`R${n}`, { as: 100, routerId: `${n}.${n}.${n}.${n}`, interfaces: [eth('e0', `10.0.0.${n}`)], networks: NETS, ...c });
    sim.attach('lan', x.name, 'e0');
    return x;
  });
  sim.start();
  r.forEach((x, i) => sim.apply(x, x.eigrp.setConnected([fa(`192.168.${i + 1}.0`)], 0)));
  sim.run(10_000);
  return { sim, r, seen };
}

test('wide (TLV 2.0) and classic (TLV 1.2) peers on one LAN: each gets the TLVs it understands', () => {
  const { sim, r, seen } = lan([{ metricStyle: 'wide' }, { metricStyle: 'wide' }, {}]);
  const [r1, r2, r3] = r;
  for (const x of r) assert.equal(x.rib.size, 2, `${x.name} learned both other LANs`);
  const updatesTo = (to: string, from: string) => seen.filter((d) => d.to === to && d.from === from && d.bytes[1] === EigrpOpcode.UPDATE).flatMap((d) => routeTlvs(decodeEigrp(d.bytes)));
  const toR3 = [...updatesTo('R3', 'R1'), ...updatesTo('R3', 'R2')];
  assert.ok(toR3.length > 0 && toR3.every((t) => t.kind === 'classicRoute'), 'the classic peer only ever gets 0x0102');
  const r1ToR2 = updatesTo('R2', 'R1');
  assert.ok(r1ToR2.length > 0 && r1ToR2.every((t) => t.kind === 'wideRoute'), 'wide peers talk 0x0602');
  // Wide composite: 10^7 x 65536 / 10000 + 1100 usec x 65536 = 137625600; RIB = / 128.
  assert.equal(r1.route('192.168.3.0/24')?.metric, 1075200);
  assert.equal(r1.route('192.168.2.0/24')?.metric, 1075200, 'the same path learned in wide TLVs');
  assert.equal(r3.route('192.168.1.0/24')?.metric, 284160, 'the classic router computes classic');
  const versions = Object.fromEntries(r1.eigrp.showNeighbors(sim.now).map((n) => [n.address, n.version]));
  assert.deepEqual(versions, { '10.0.0.2': '23.0/2.0', '10.0.0.3': '12.4/1.2' });
  void r2;
});

test('stub: advertises only connected and summary routes, and is never queried', () => {
  const sim = new Sim(9);
  const seen = observe(sim);
  const base = { as: 100, networks: NETS, redistribute: [{ source: 'static' as const, metric: { bandwidth: 10_000, delay: 100, reliability: 255, load: 1, mtu: 1500 } }] };
  const r1 = sim.addRouter('R1', { ...base, routerId: '1.1.1.1', interfaces: [eth('e0', '10.0.0.1')] });
  const r2 = sim.addRouter('R2', { ...base, routerId: '2.2.2.2', interfaces: [eth('e0', '10.0.0.2'), eth('e1', '10.0.23.2')], stub: { connected: true, summary: true } });
  const r3 = sim.addRouter('R3', { ...base, routerId: '3.3.3.3', interfaces: [eth('e0', '10.0.23.3')] });
  const r4 = sim.addRouter('R4', { ...base, routerId: '4.4.4.4', interfaces: [eth('e0', '10.0.0.4')] });
  sim.attach('lan', 'R1', 'e0');
  sim.attach('lan', 'R2', 'e0');
  sim.attach('lan', 'R4', 'e0');
  sim.attach('back', 'R2', 'e1');
  sim.attach('back', 'R3', 'e0');
  sim.start();
  sim.apply(r1, r1.eigrp.setConnected([fa('192.168.1.0')], 0));
  sim.apply(r2, r2.eigrp.setConnected([fa('192.168.2.0')], 0));
  sim.apply(r2, r2.eigrp.setRedistributed([{ prefix: '10.50.0.0', prefixLength: 16, source: 'static' }], 0));
  sim.apply(r3, r3.eigrp.setConnected([fa('192.168.3.0')], 0));
  sim.apply(r4, r4.eigrp.setConnected([fa('192.168.4.0')], 0));
  sim.run(10_000);

  assert.ok(r1.route('192.168.2.0/24'), 'the stub\'s connected LAN');
  assert.ok(r1.route('10.0.23.0/24'), 'the stub\'s connected back link');
  assert.equal(r1.route('10.50.0.0/16'), undefined, 'redistributed static is not in `eigrp stub connected summary`');
  assert.equal(r1.route('192.168.3.0/24'), undefined, 'a stub does not pass on what it learned');
  assert.ok(r2.route('192.168.3.0/24') && r2.route('192.168.1.0/24'), 'the stub itself learns everything');
  const nb = r1.eigrp.showNeighbors(sim.now).find((n) => n.address === '10.0.0.2');
  assert.equal(nb?.stubFlags, EigrpStubFlag.CONNECTED | EigrpStubFlag.SUMMARY);

  // R4's LAN goes away: R4 and R1 go active; neither queries the stub.
  seen.length = 0;
  sim.apply(r4, r4.eigrp.setConnected([], sim.now));
  sim.run(5_000);
  assert.equal(r1.route('192.168.4.0/24'), undefined);
  assert.equal(r2.route('192.168.4.0/24'), undefined, 'the stub hears the withdrawal by update');
  const queries = seen.filter((d) => d.bytes[1] === EigrpOpcode.QUERY);
  assert.ok(queries.length > 0, 'queries went out');
  assert.ok(queries.every((d) => d.to !== 'R2'), 'no query reached the stub');
});

test('summary: components suppressed on the summarizing interface, Null0 route installed and removed', () => {
  const sim = new Sim(10);
  const r1 = sim.addRouter('R1', { as: 1, routerId: '1.1.1.1', networks: NETS, interfaces: [eth('e0', '10.0.0.1', 24, { summaries: [{ prefix: '172.16.0.0', prefixLength: 16 }] })] });
  const r2 = sim.addRouter('R2', { as: 1, routerId: '2.2.2.2', networks: NETS, interfaces: [eth('e0', '10.0.0.2')] });
  sim.attach('lan', 'R1', 'e0');
  sim.attach('lan', 'R2', 'e0');
  sim.start();
  sim.apply(r1, r1.eigrp.setConnected([fa('172.16.1.0', 'fa1'), fa('172.16.2.0', 'fa2')], 0));
  sim.run(10_000);
  assert.deepEqual([...r2.rib.keys()], ['172.16.0.0/16'], 'only the summary reaches R2');
  assert.equal(r2.route('172.16.0.0/16')?.metric, 284160, 'the best component\'s metric');
  const null0 = r1.route('172.16.0.0/16');
  assert.deepEqual(null0 && { nextHops: null0.nextHops, distance: null0.distance, blackhole: null0.blackhole }, { nextHops: [], distance: 5, blackhole: true });
  const topo = r1.eigrp.showTopology().find((t) => t.prefix === '172.16.0.0');
  assert.equal(topo?.paths[0].kind, 'summary');

  sim.apply(r1, r1.eigrp.setConnected([fa('172.16.2.0', 'fa2')], sim.now));
  sim.run(2_000);
  assert.ok(r2.route('172.16.0.0/16'), 'one component left keeps the summary');
  sim.apply(r1, r1.eigrp.setConnected([], sim.now));
  sim.run(5_000);
  assert.equal(r2.route('172.16.0.0/16'), undefined, 'no component, no summary');
  assert.equal(r1.route('172.16.0.0/16'), undefined, 'and no Null0 route');
});

test('external routes carry originating router, AS, tag and protocol; distance 170', () => {
  const { sim, r } = lan([
    { redistribute: [{ source: 'static', metric: { bandwidth: 10_000, delay: 100, reliability: 255, load: 1, mtu: 1500 } }] },
    {},
  ]);
  const [r1, r2] = r;
  sim.apply(r1, r1.eigrp.setRedistributed([{ prefix: '10.99.0.0', prefixLength: 16, source: 'static', tag: 7 }], sim.now));
  sim.run(2_000);
  const route = r2.route('10.99.0.0/16');
  assert.ok(route);
  assert.equal(route.external, true);
  assert.equal(route.distance, 170);
  assert.equal(route.metric, 256 * (1000 + 200));
  const ext = r2.eigrp.entry('10.99.0.0', 16)?.paths.get('10.0.0.1%e0')?.external;
  assert.deepEqual(ext && { r: ext.originatingRouter, as: ext.originatingAs, tag: ext.adminTag, proto: ext.externalProtocol }, { r: '1.1.1.1', as: 100, tag: 7, proto: 3 });
  const topo = r2.eigrp.showTopology().find((t) => t.prefix === '10.99.0.0');
  assert.equal(topo?.paths[0].external, true);
  // The originator drops its own external coming back.
  assert.equal(r1.route('10.99.0.0/16'), undefined);
});

function parallel(variance: number | undefined, maximumPaths: number | undefined, delay2: number) {
  const sim = new Sim(12);
  const r1 = sim.addRouter('R1', { as: 1, routerId: '1.1.1.1', networks: NETS, variance, maximumPaths, interfaces: [eth('e0', '10.0.1.1'), eth('e1', '10.0.2.1', 24, { delay: delay2 })] });
  const r2 = sim.addRouter('R2', { as: 1, routerId: '2.2.2.2', networks: NETS, interfaces: [eth('e0', '10.0.1.2'), eth('e1', '10.0.2.2', 24, { delay: delay2 })] });
  sim.attach('a', 'R1', 'e0');
  sim.attach('a', 'R2', 'e0');
  sim.attach('b', 'R1', 'e1');
  sim.attach('b', 'R2', 'e1');
  sim.start();
  sim.apply(r2, r2.eigrp.setConnected([fa('192.168.2.0')], 0));
  sim.run(10_000);
  return r1.route('192.168.2.0/24')?.nextHops.map((h) => h.address) ?? [];
}

test('equal-cost paths are both used; unequal ones only within variance; maximum-paths caps them', () => {
  assert.deepEqual(parallel(undefined, undefined, 100), ['10.0.1.2', '10.0.2.2'], 'equal cost');
  assert.deepEqual(parallel(undefined, undefined, 150), ['10.0.1.2'], 'variance 1: the best only');
  assert.deepEqual(parallel(2, undefined, 150), ['10.0.1.2', '10.0.2.2'], 'variance 2: 296960 < 2 x 284160');
  assert.deepEqual(parallel(2, 1, 150), ['10.0.1.2'], 'maximum-paths 1');
});
