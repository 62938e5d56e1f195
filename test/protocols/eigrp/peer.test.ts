/**
 * The engine against hand-scripted peers built from the codec's builders:
 * the INIT handshake step by step, stuck-in-active with SIA-Query/SIA-Reply,
 * a peer restart, conditional receive on the sending side, and pacing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EigrpFlag,
  EigrpOpcode,
  EigrpRouteFlag,
  buildAck,
  buildHello,
  buildReply,
  buildSiaReply,
  buildUpdate,
  classicRoute,
  decodeEigrp,
  encodeEigrp,
  findTlv,
  isAck,
  routeTlvs,
  type EigrpPacket,
  type RouteTlv,
} from '../../../protocols/eigrp/wire.js';
import { EigrpInstance } from '../../../protocols/eigrp/instance.js';
import type { EigrpAction } from '../../../protocols/eigrp/types.js';
import { paceInterval } from '../../../protocols/eigrp/transport.js';
import { eth } from './sim.js';

interface Out {
  readonly dst: string;
  readonly bytes: Uint8Array;
  readonly p: EigrpPacket;
  readonly at: number;
}

class Script {
  readonly out: Out[] = [];
  readonly logs: string[] = [];
  now = 0;
  constructor(readonly eng: EigrpInstance) {}

  take(actions: EigrpAction[]): void {
    for (const a of actions) {
      if (a.kind === 'send') this.out.push({ dst: a.dst, bytes: a.bytes, p: decodeEigrp(a.bytes), at: this.now });
      else if (a.kind === 'log') this.logs.push(a.msg);
    }
  }

  /** Advance the clock, firing the engine's timers on the way. */
  until(t: number, each?: (now: number) => void): void {
    for (let d = this.eng.nextDeadline(); d !== undefined && d <= t; d = this.eng.nextDeadline()) {
      this.now = Math.max(this.now, d);
      this.take(this.eng.tick(this.now));
      each?.(this.now);
    }
    this.now = t;
  }
}

class Peer {
  seq = 1000;
  constructor(readonly sc: Script, readonly address: string, readonly ifname = 'e0') {}

  /** Deliver a packet 10 ms after the last event (time for the pacing gate), firing timers on the way. */
  send(p: EigrpPacket): void {
    this.sc.until(this.sc.now + 10);
    this.sc.take(this.sc.eng.receive(this.ifname, this.address, encodeEigrp(p), this.sc.now));
    this.sc.until(this.sc.now + 10);
  }

  hello(extra: Parameters<typeof buildHello>[0]['extra'] = []): void {
    this.send(buildHello({ as: 100, holdTime: 15, extra }));
  }

  ack(seq: number): void {
    this.send(buildAck({ as: 100, ack: seq }));
  }

  reliable(build: typeof buildUpdate, routes: RouteTlv[], flags = 0, ack = 0): number {
    const seq = this.seq++;
    this.send(build({ as: 100, sequence: seq, ack, flags, routes }));
    return seq;
  }

  /** Reliable packets the engine sent us (unicast or multicast) and not yet acknowledged by us. */
  toMe(): Out[] {
    return this.sc.out.filter((o) => (o.dst === this.address || o.dst === 'multicast') && o.p.header.sequence !== 0);
  }

  /** Acknowledge everything sent to us, again until nothing new arrives (queued packets follow acks). */
  ackAll(): void {
    const seen = new Set<number>();
    for (let fresh = true; fresh;) {
      fresh = false;
      for (const o of this.toMe()) {
        if (seen.has(o.p.header.sequence)) continue;
        seen.add(o.p.header.sequence);
        this.ack(o.p.header.sequence);
        fresh = true;
      }
    }
  }

  /** Hello, INIT, ack, EOT update with `routes`: the adjacency as IOS brings it up. */
  establish(routes: RouteTlv[]): void {
    this.hello();
    const init = this.sc.out.find((o) => o.dst === this.address && (o.p.header.flags & EigrpFlag.INIT) !== 0);
    assert.ok(init, 'engine sent INIT');
    this.reliable(buildUpdate, [], EigrpFlag.INIT, init.p.header.sequence);
    assert.equal(this.sc.eng.neighborState(this.address), 'up');
    const eot = this.sc.out.find((o) => o.dst === this.address && (o.p.header.flags & EigrpFlag.EOT) !== 0);
    assert.ok(eot, 'engine sent its table with EOT');
    this.ack(eot.p.header.sequence);
    this.reliable(buildUpdate, routes, EigrpFlag.EOT);
  }
}

const lanRoute = (prefix: string, delay = 2560, bw = 25600) =>
  classicRoute({ prefix, prefixLength: 24, delay, bandwidth: bw, mtu: 1500, hopCount: 0, reliability: 255, load: 1 });
const unreach = (prefix: string) => classicRoute({ prefix, prefixLength: 24, delay: 0xffffffff, bandwidth: 0, mtu: 1500, hopCount: 0, reliability: 0, load: 0 });

function engine(extra: Partial<Parameters<typeof eth>[3]> = {}): Script {
  const eng = new EigrpInstance({ as: 100, routerId: '10.0.0.1', interfaces: [eth('e0', '10.0.0.1', 24, extra)], networks: [{ address: '10.0.0.0' }, { address: '192.168.0.0', wildcard: '0.0.255.255' }] });
  const sc = new Script(eng);
  sc.take(eng.start(0));
  return sc;
}

test('stuck in active: SIA-Query at 90 s, a SIA-Reply buys time, silence resets the neighbour', () => {
  const sc = engine();
  const a = new Peer(sc, '10.0.0.2');
  const b = new Peer(sc, '10.0.0.3');
  a.establish([lanRoute('192.168.9.0')]);
  b.establish([]);
  a.ackAll();
  b.ackAll();
  assert.ok(sc.eng.routes().some((r) => r.prefix === '192.168.9.0'));

  // A withdraws 192.168.9.0/24: no feasible successor, the engine queries A and B.
  const t0 = sc.now;
  a.reliable(buildUpdate, [unreach('192.168.9.0')]);
  assert.equal(sc.eng.entry('192.168.9.0', 24)?.state, 'active1');
  const q = sc.out.filter((o) => o.p.header.opcode === EigrpOpcode.QUERY);
  assert.ok(q.length > 0);
  assert.equal(routeTlvs(q[0].p)[0].metric.flags & EigrpRouteFlag.ACTIVE, EigrpRouteFlag.ACTIVE, 'queries carry the ACTIVE flag');
  a.ackAll();
  b.ackAll();
  a.reliable(buildReply, [unreach('192.168.9.0')]);
  // B acknowledges but never replies. Both peers send Hellos every 5 s and acknowledge within 100 ms.
  const live = (from: number, to: number): void => {
    for (let t = from; t < to; t += 100) {
      sc.until(t);
      if ((t - t0) % 5000 === 0) {
        a.hello();
        b.hello();
      }
      a.ackAll();
      b.ackAll();
    }
  };
  const siaSeqs = (): number[] => [...new Set(sc.out.filter((o) => o.p.header.opcode === EigrpOpcode.SIA_QUERY).map((o) => o.p.header.sequence))];
  live(t0 + 100, t0 + 89_900);
  assert.equal(siaSeqs().length, 0, 'no SIA-Query before half the active time');
  live(t0 + 89_900, t0 + 91_000);
  assert.equal(siaSeqs().length, 1, 'one SIA-Query at half the active time');
  const sia1 = sc.out.filter((o) => o.p.header.opcode === EigrpOpcode.SIA_QUERY);
  assert.equal(sia1[0].dst, '10.0.0.3');
  assert.equal(sia1[0].at, q[0].at + 90_000, '90 s after the query');
  b.reliable(buildSiaReply, [classicRoute({ prefix: '192.168.9.0', prefixLength: 24, delay: 0xffffffff, bandwidth: 0, mtu: 1500, hopCount: 0, reliability: 0, load: 0, flags: EigrpRouteFlag.ACTIVE })]);
  live(t0 + 91_000, t0 + 179_900);
  assert.equal(sc.eng.neighborState('10.0.0.3'), 'up', 'the SIA-Reply kept B');
  live(t0 + 179_900, t0 + 181_000);
  assert.equal(siaSeqs().length, 2, 'a second SIA-Query');
  // This time B stays silent (it still acknowledges): at the next deadline it is reset.
  live(t0 + 181_000, t0 + 271_000);
  assert.ok(sc.logs.includes('Neighbor 10.0.0.3 (e0) is down: stuck in active'), sc.logs.filter((l) => !l.startsWith('drop')).join('\n'));
  assert.equal(sc.eng.entry('192.168.9.0', 24), undefined, 'the computation ended with B gone');
  assert.equal(sc.eng.neighborState('10.0.0.2'), 'up');
});

test('an INIT from an established neighbour: "peer restarted", then a new adjacency', () => {
  const sc = engine();
  const a = new Peer(sc, '10.0.0.2');
  a.establish([lanRoute('192.168.9.0')]);
  a.ackAll();
  assert.ok(sc.eng.routes().length === 1);
  sc.out.length = 0;
  a.seq = 1;
  a.reliable(buildUpdate, [], EigrpFlag.INIT);
  assert.ok(sc.logs.includes('Neighbor 10.0.0.2 (e0) is down: peer restarted'));
  assert.equal(sc.eng.routes().length, 0, 'its routes went with it');
  assert.equal(sc.eng.neighborState('10.0.0.2'), 'pending');
  const init = sc.out.find((o) => (o.p.header.flags & EigrpFlag.INIT) !== 0);
  assert.ok(init);
  a.ack(init.p.header.sequence);
  assert.equal(sc.eng.neighborState('10.0.0.2'), 'up');
  assert.equal(sc.logs.filter((l) => l.endsWith('is up: new adjacency')).length, 2);
});

test('conditional receive, sending side: a neighbour behind on acks is named in the Sequence TLV', () => {
  const sc = engine();
  const a = new Peer(sc, '10.0.0.2');
  const b = new Peer(sc, '10.0.0.3');
  a.establish([]);
  b.establish([]);
  a.ackAll();
  b.ackAll();
  sc.out.length = 0;
  // A change: multicast update; B acknowledges, A does not.
  sc.take(sc.eng.setConnected([{ prefix: '192.168.50.0', prefixLength: 24, ifname: 'fa0' }], sc.now));
  const u1 = sc.out.find((o) => o.dst === 'multicast' && o.p.header.opcode === EigrpOpcode.UPDATE);
  assert.ok(u1);
  assert.equal(u1.p.header.flags & EigrpFlag.CR, 0, 'everyone was caught up: no CR');
  b.ack(u1.p.header.sequence);
  // A second change while A still owes the first ack.
  sc.take(sc.eng.setConnected([{ prefix: '192.168.50.0', prefixLength: 24, ifname: 'fa0' }, { prefix: '192.168.51.0', prefixLength: 24, ifname: 'fa1' }], sc.now));
  const seqHello = sc.out.find((o) => o.p.header.opcode === EigrpOpcode.HELLO && findTlv(o.p, 'sequence'));
  assert.ok(seqHello, 'a Hello with a Sequence TLV went first');
  assert.deepEqual(findTlv(seqHello.p, 'sequence')?.addresses, ['10.0.0.2']);
  const u2 = sc.out.find((o) => o.dst === 'multicast' && o.p.header.opcode === EigrpOpcode.UPDATE && o !== u1);
  assert.ok(u2);
  assert.equal(findTlv(seqHello.p, 'nextMulticastSequence')?.sequence, u2.p.header.sequence);
  assert.equal(u2.p.header.flags & EigrpFlag.CR, EigrpFlag.CR);
  // When A acknowledges the first, it gets the second by unicast, with the same sequence number.
  const before = sc.out.length;
  a.ack(u1.p.header.sequence);
  const uni = sc.out.slice(before).find((o) => o.dst === '10.0.0.2');
  assert.ok(uni);
  assert.equal(uni.p.header.sequence, u2.p.header.sequence);
  assert.equal(uni.p.header.flags & EigrpFlag.CR, 0);
  assert.deepEqual(routeTlvs(uni.p), routeTlvs(u2.p));
});

test('the receiving side: duplicates are re-acknowledged, not processed twice', () => {
  const sc = engine();
  const a = new Peer(sc, '10.0.0.2');
  a.establish([lanRoute('192.168.9.0')]);
  const seq = a.seq - 1;
  sc.out.length = 0;
  a.send(buildUpdate({ as: 100, sequence: seq, routes: [lanRoute('192.168.9.0')] }));
  assert.equal(sc.eng.dropCount('duplicate sequence'), 1);
  assert.ok(sc.out.some((o) => isAck(o.p) && o.p.header.ack === seq && o.dst === '10.0.0.2'));
});

test('pacing: reliable packets leave a slow interface no faster than half its bandwidth', () => {
  const sc = engine({ bandwidth: 64, mtu: 576 });
  const many = Array.from({ length: 60 }, (_, i) => ({ prefix: `192.168.${i}.0`, prefixLength: 24, ifname: `lan${i}` }));
  sc.take(sc.eng.setConnected(many, 0));
  const a = new Peer(sc, '10.0.0.2');
  a.hello();
  const init = sc.out.find((o) => o.dst === a.address && (o.p.header.flags & EigrpFlag.INIT) !== 0);
  assert.ok(init);
  a.reliable(buildUpdate, [], EigrpFlag.INIT, init.p.header.sequence);
  assert.equal(sc.eng.neighborState(a.address), 'up');
  // Acknowledge each packet when it shows up, advancing the clock with the engine's deadlines.
  const acked = new Set<number>();
  for (let t = 0; t < 120_000 && !sc.out.some((o) => (o.p.header.flags & EigrpFlag.EOT) !== 0 && acked.has(o.p.header.sequence)); t += 50) {
    sc.until(sc.now + 50);
    for (const o of a.toMe()) {
      if (acked.has(o.p.header.sequence) || (o.p.header.flags & EigrpFlag.INIT) !== 0) continue;
      acked.add(o.p.header.sequence);
      a.ack(o.p.header.sequence);
    }
  }
  const updates = sc.out.filter((o) => o.dst === '10.0.0.2' && o.p.header.opcode === EigrpOpcode.UPDATE && (o.p.header.flags & EigrpFlag.INIT) === 0);
  assert.ok(updates.length >= 4, `the table took several packets (${updates.length})`);
  const eot = updates.filter((o) => (o.p.header.flags & EigrpFlag.EOT) !== 0);
  assert.equal(eot.length >= 1, true, 'EOT on the last');
  for (let i = 1; i < updates.length; i++) {
    const gap = updates[i].at - updates[i - 1].at;
    // 32 kbit/s: a packet of n bytes (+20 IP) holds the gate for ceil(8 x bytes / 32) ms.
    assert.ok(gap >= Math.ceil(((updates[i - 1].bytes.length + 20) * 8) / 32), `gap ${gap} ms after ${updates[i - 1].bytes.length} bytes`);
  }
  assert.equal(paceInterval({ cfg: { bandwidth: 64, bandwidthPercent: 50 } } as never, 576), 144);
});
