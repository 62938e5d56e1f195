/**
 * Hostile input: random bytes, generated packets (well-formed, any content,
 * right AS and checksum so they reach the deep paths), and mutated capture
 * packets go into receive() of an engine with a live adjacency. Nothing may
 * throw, nothing may count as an internal error, and the engine keeps working.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IpProto } from '../../../protocols/ip/ipv4.js';
import { EigrpFlag, encodeEigrp, type EigrpPacket } from '../../../protocols/eigrp/wire.js';
import { EIGRP_DROP_REASONS } from '../../../protocols/eigrp/types.js';
import { packet } from './arbitraries.js';
import { Sim, eth } from './sim.js';
import { ipv4Packets } from '../../support/pcap.js';
import { needsVectors, vectorPath } from '../../support/vectors.js';

function established() {
  const sim = new Sim(31);
  const networks = [{ address: '10.0.0.0' }, { address: '192.168.0.0', wildcard: '0.0.255.255' }];
  const r1 = sim.addRouter('R1', { as: 100, routerId: '1.1.1.1', interfaces: [eth('e0', '10.0.0.1', 24, { summaries: [{ prefix: '192.168.0.0', prefixLength: 16 }] })], networks, variance: 2 });
  const r2 = sim.addRouter('R2', { as: 100, routerId: '2.2.2.2', interfaces: [eth('e0', '10.0.0.2')], networks });
  sim.attach('lan', 'R1', 'e0');
  sim.attach('lan', 'R2', 'e0');
  sim.start();
  sim.apply(r1, r1.eigrp.setConnected([{ prefix: '192.168.1.0', prefixLength: 24, ifname: 'fa0' }], 0));
  sim.apply(r2, r2.eigrp.setConnected([{ prefix: '192.168.2.0', prefixLength: 24, ifname: 'fa0' }], 0));
  sim.run(5_000);
  assert.equal(r1.eigrp.neighborState('10.0.0.2'), 'up');
  return { sim, r1 };
}

const source = fc.oneof(fc.constant('10.0.0.2'), fc.constant('10.0.0.3'), fc.constant('10.0.0.1'), fc.constant('8.8.8.8'), fc.constant('not-an-address'));

test('fuzz: random bytes into receive() only ever count drops', () => {
  const { sim, r1 } = established();
  let t = sim.now;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), source, (bytes, src) => {
      t += 7;
      const out = r1.eigrp.receive('e0', src, bytes, t);
      assert.ok(Array.isArray(out));
    }),
    { numRuns: 1500 },
  );
  assert.equal(r1.eigrp.dropCount('internal error'), 0);
  const total = EIGRP_DROP_REASONS.reduce((a, r) => a + r1.eigrp.dropCount(r), 0);
  assert.ok(total >= 1500, 'every random packet was dropped and counted');
});

test('fuzz: well-formed packets with arbitrary TLVs from the neighbour never throw', () => {
  const { sim, r1 } = established();
  const drops = (): number => EIGRP_DROP_REASONS.reduce((a, r) => a + r1.eigrp.dropCount(r), 0);
  // Mostly opcodes the engine handles, mostly no flags, so packets reach DUAL rather than the first checks.
  const opcode = fc.oneof(fc.constantFrom(1, 3, 4, 10, 11, 5), fc.integer({ min: 0, max: 255 }));
  const flags = fc.constantFrom(0, 0, 0, 0, EigrpFlag.EOT, EigrpFlag.INIT, EigrpFlag.CR, 0xffffffff);
  let deep = 0;
  fc.assert(
    fc.property(packet, fc.integer({ min: 0, max: 9 }), opcode, flags, (p: EigrpPacket, dice, op, fl) => {
      // Now and then a foreign virtual router or an Authentication TLV (both dropped early); mostly neither.
      const tlvs = dice === 0 ? p.tlvs : p.tlvs.filter((t) => t.kind !== 'authentication');
      const hostile: EigrpPacket = { header: { ...p.header, opcode: op, flags: fl, as: 100, virtualRouterId: dice === 1 ? p.header.virtualRouterId : 0, checksum: undefined }, tlvs };
      const wasUp = r1.eigrp.neighborState('10.0.0.2') === 'up';
      const d0 = drops();
      const out = r1.eigrp.receive('e0', '10.0.0.2', encodeEigrp(hostile), sim.now);
      assert.ok(Array.isArray(out));
      if (wasUp && op !== 5 && drops() === d0) deep++;
      sim.apply(r1, out);
      // Let the real neighbour (R2) answer, re-forming the adjacency when the input broke it.
      sim.run(30);
      if (r1.eigrp.neighborState('10.0.0.2') !== 'up') sim.runFor(30_000, () => r1.eigrp.neighborState('10.0.0.2') === 'up');
    }),
    { numRuns: 1500 },
  );
  assert.ok(deep > 300, `packets reached the routing code (${deep})`);
  assert.equal(r1.eigrp.dropCount('internal error'), 0);
  // Still a working router: timers, shows, shutdown.
  const d = r1.eigrp.nextDeadline();
  assert.ok(d === undefined || Number.isFinite(d));
  sim.run(60_000);
  assert.equal(r1.eigrp.neighborState('10.0.0.2'), 'up', 'the adjacency recovers');
  assert.ok(Array.isArray(r1.eigrp.showTopology({ allLinks: true })));
  assert.ok(Array.isArray(r1.eigrp.showNeighbors(sim.now)));
  r1.eigrp.shutdown(sim.now);
  assert.deepEqual(r1.eigrp.routes(), []);
  assert.equal(r1.eigrp.dropCount('internal error'), 0);
});

test('fuzz: mutated capture packets never throw', needsVectors, () => {
  const { sim, r1 } = established();
  const seeds = ['EIGRP_adjacency', 'EIGRP_subnet_down', 'EIGRP_goodbye']
    .flatMap((n) => ipv4Packets(vectorPath('pcap', `${n}.pcap`)))
    .filter((p) => p.ip.header.protocol === IpProto.EIGRP)
    .map((p) => p.ip.payload);
  let t = sim.now;
  fc.assert(
    fc.property(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.boolean(), (seed, flips, fixSum) => {
      const b = Uint8Array.from(seed);
      // Our AS so the packet gets past the AS check.
      b[18] = 0;
      b[19] = 100;
      for (const [at, v] of flips) b[at % b.length] = v;
      if (fixSum && b.length >= 20) {
        b[2] = 0;
        b[3] = 0;
        let sum = 0;
        for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i] << 8) | b[i + 1];
        if (b.length % 2) sum += b[b.length - 1] << 8;
        while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
        const ck = ~sum & 0xffff;
        b[2] = ck >> 8;
        b[3] = ck & 0xff;
      }
      t += 11;
      assert.ok(Array.isArray(r1.eigrp.receive('e0', '10.0.0.2', b, t)));
    }),
    { numRuns: 2000 },
  );
  assert.equal(r1.eigrp.dropCount('internal error'), 0);
});
