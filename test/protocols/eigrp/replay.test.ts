/**
 * Replay of the Cisco IOS 12.4 captures: the engine plays R1 (10.0.0.1, AS
 * 100) and is fed, in time order, every packet R2 (10.0.0.2) sent. R1's own
 * packets in the capture are what the engine should send back; where IOS and
 * the engine agree byte for byte (INIT, ACKs, Hellos, route TLVs) the test
 * says so.
 *
 * The network of the captures is a ring R1-R2-R4-R3-R1 (each router with a
 * /24 LAN); the engine knows only R2, so its topology holds R2's routes. The
 * captures run adjacency (00:27), subnet_up (00:41), subnet_down (00:48) and
 * goodbye (01:04). Replayed in the order adjacency, subnet_down, subnet_up,
 * goodbye, 192.168.4.0/24 is first lost and then found again; each capture is
 * moved in time to follow the previous one by a second, and R2's Hellos keep
 * the adjacency alive across the joins.
 *
 * R2's explicit ACKs acknowledge R1's packets one by one. After the first
 * capture our sequence numbers no longer match R1's (IOS sent packets between
 * the captures), so the harness renumbers each ACK frame to the oldest packet
 * the engine still waits on, as R2 would have acknowledged it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IpProto } from '../../../protocols/ip/ipv4.js';
import {
  EigrpFlag,
  EigrpOpcode,
  decodeEigrp,
  encodeEigrp,
  isAck,
  routeTlvs,
  tlvLength,
  emitTlv,
  type EigrpPacket,
} from '../../../protocols/eigrp/wire.js';
import { encode, toHex } from '../../../protocols/wire/index.js';
import { EigrpInstance } from '../../../protocols/eigrp/instance.js';
import type { EigrpAction, SendAction } from '../../../protocols/eigrp/types.js';
import { ipv4Packets } from '../../support/pcap.js';
import { needsVectors, vectorPath } from '../../support/vectors.js';

interface Frame {
  readonly index: number;
  readonly timeMs: number;
  readonly src: string;
  readonly dst: string;
  readonly bytes: Uint8Array;
  readonly packet: EigrpPacket;
}

function frames(name: string): Frame[] {
  const out: Frame[] = [];
  for (const p of ipv4Packets(vectorPath('pcap', `${name}.pcap`))) {
    if (p.ip.header.protocol !== IpProto.EIGRP) continue;
    out.push({ index: p.frame.index, timeMs: p.frame.time * 1000, src: p.ip.header.src, dst: p.ip.header.dst, bytes: p.ip.payload, packet: decodeEigrp(p.ip.payload) });
  }
  return out;
}

const tlvHex = (t: Parameters<typeof tlvLength>[0]): string => toHex(encode(t, emitTlv, tlvLength, 'eigrp'));

class Harness {
  readonly r1 = new EigrpInstance({
    as: 100,
    routerId: '192.168.1.1',
    // IOS's R1 numbered its INIT 0x17: starting there makes our numbers line up with the first capture.
    initialSequence: 0x17,
    interfaces: [{ name: 'Ethernet0/0', address: '10.0.0.1', prefixLength: 30, bandwidth: 10_000, delay: 100, mtu: 1500 }],
    networks: [{ address: '10.0.0.0' }, { address: '192.168.1.0' }],
  });
  readonly sent: { at: number; frameAfter: number; action: SendAction }[] = [];
  readonly actions: EigrpAction[] = [];
  now = 0;
  private offset = 0;
  private lastFrame = 0;
  /** Our reliable sequence numbers toward R2 not yet acknowledged. */
  private readonly outstanding = new Set<number>();

  constructor() {
    this.collect(this.r1.start(0));
    this.collect(this.r1.setConnected([
      { prefix: '192.168.1.0', prefixLength: 24, ifname: 'FastEthernet0/0', bandwidth: 100_000, delay: 10 },
      { prefix: '10.0.0.4', prefixLength: 30, ifname: 'Ethernet0/1', bandwidth: 10_000, delay: 100 },
    ], 0));
  }

  private collect(actions: EigrpAction[]): void {
    for (const a of actions) {
      this.actions.push(a);
      if (a.kind !== 'send') continue;
      this.sent.push({ at: this.now, frameAfter: this.lastFrame, action: a });
      const p = decodeEigrp(a.bytes);
      if (p.header.sequence !== 0 && (a.dst === 'multicast' || a.dst === '10.0.0.2')) this.outstanding.add(p.header.sequence);
    }
  }

  private advance(to: number): void {
    for (let d = this.r1.nextDeadline(); d !== undefined && d <= to; d = this.r1.nextDeadline()) {
      this.now = Math.max(this.now, d);
      this.collect(this.r1.tick(this.now));
    }
    this.now = Math.max(this.now, to);
  }

  /** Feed R2's packets of a capture, the first one `gapMs` after the previous capture's last. */
  play(list: Frame[], gapMs: number, stopAfter?: number): void {
    const first = list[0].timeMs;
    const base = this.now + gapMs;
    this.offset = base - first;
    for (const f of list) {
      if (stopAfter !== undefined && f.index > stopAfter) break;
      if (f.src !== '10.0.0.2') continue;
      const at = f.timeMs + this.offset;
      this.advance(at);
      this.lastFrame = f.index;
      let bytes = f.bytes;
      if (isAck(f.packet)) bytes = this.renumberAck(f.packet);
      else if (f.packet.header.ack !== 0) this.outstanding.delete(f.packet.header.ack);
      this.collect(this.r1.receive('Ethernet0/0', '10.0.0.2', bytes, this.now));
    }
  }

  private renumberAck(p: EigrpPacket): Uint8Array {
    const oldest = [...this.outstanding].sort((a, b) => a - b)[0];
    if (oldest === undefined) return encodeEigrp({ ...p, header: { ...p.header, checksum: undefined } });
    this.outstanding.delete(oldest);
    return encodeEigrp({ header: { ...p.header, ack: oldest, checksum: undefined }, tlvs: p.tlvs });
  }

  sentPackets(from = 0): { at: number; frameAfter: number; dst: string; bytes: Uint8Array; packet: EigrpPacket }[] {
    return this.sent.slice(from).map((s) => ({ at: s.at, frameAfter: s.frameAfter, dst: s.action.dst, bytes: s.action.bytes, packet: decodeEigrp(s.action.bytes) }));
  }
}

const byIndex = (list: Frame[], i: number): Frame => {
  const f = list.find((x) => x.index === i);
  assert.ok(f, `frame ${i}`);
  return f;
};

test('replay: EIGRP_adjacency.pcap, the engine as R1 reaches the adjacency IOS shows', needsVectors, () => {
  const adj = frames('EIGRP_adjacency');
  const h = new Harness();

  // Our Hello is IOS's Hello byte for byte (frame 1: hold 15, K 1 0 1 0 0, IOS 12.4 / TLV 1.2).
  const firstHello = h.sentPackets().find((p) => p.packet.header.opcode === EigrpOpcode.HELLO);
  assert.ok(firstHello);
  assert.equal(toHex(firstHello.bytes), toHex(byIndex(adj, 1).bytes), 'Hello as IOS sends it');

  h.play(adj, 0, 11);
  // R2's first Hello makes it a pending neighbour; our INIT is frame 12 to the byte.
  assert.equal(h.r1.neighborState('10.0.0.2'), 'pending');
  const init = h.sentPackets().find((p) => p.packet.header.opcode === EigrpOpcode.UPDATE && (p.packet.header.flags & EigrpFlag.INIT) !== 0);
  assert.ok(init, 'INIT sent');
  assert.equal(init.dst, '10.0.0.2');
  assert.equal(toHex(init.bytes), toHex(byIndex(adj, 12).bytes), 'INIT update as IOS sends it');

  h.play(adj.filter((f) => f.index >= 12), 0);
  assert.equal(h.r1.neighborState('10.0.0.2'), 'up');
  const logs = h.actions.filter((a) => a.kind === 'log' && a.level === 'notice').map((a) => (a.kind === 'log' ? a.msg : ''));
  assert.ok(logs.includes('Neighbor 10.0.0.2 (Ethernet0/0) is up: new adjacency'), logs.join('\n'));

  const sent = h.sentPackets();
  // The INIT went again after 2 s, as frame 13 shows IOS doing.
  const inits = sent.filter((p) => (p.packet.header.flags & EigrpFlag.INIT) !== 0);
  assert.equal(inits.length, 2, 'INIT retransmitted once before R2 answered');

  // The start-up update: seq 0x18, ack 0x17, EOT, our two routes exactly as in frame 15.
  const eot = sent.find((p) => p.packet.header.opcode === EigrpOpcode.UPDATE && (p.packet.header.flags & EigrpFlag.EOT) !== 0);
  assert.ok(eot, 'EOT update');
  assert.equal(eot.dst, '10.0.0.2');
  assert.equal(eot.packet.header.sequence, 0x18);
  assert.equal(eot.packet.header.ack, 0x17, 'R2\'s INIT acknowledged in the update, as frame 15');
  const f15 = routeTlvs(byIndex(adj, 15).packet);
  const ours = routeTlvs(eot.packet);
  assert.equal(ours.length, 2, '192.168.1.0/24 and 10.0.0.4/30 (10.0.0.0/30 is split-horizoned)');
  assert.deepEqual(ours.map(tlvHex), f15.slice(0, 2).map(tlvHex), 'route TLVs as IOS encodes them');

  // Explicit ACKs for R2's update (0x18) and unicast update (0x19): frames 17 and 21 to the byte.
  const acks = sent.filter((p) => isAck(p.packet));
  assert.ok(acks.some((p) => toHex(p.bytes) === toHex(byIndex(adj, 17).bytes)), 'ACK 0x18 as frame 17');
  assert.ok(acks.some((p) => toHex(p.bytes) === toHex(byIndex(adj, 21).bytes)), 'ACK 0x19 as frame 21');

  // Frame 18 named us in its Sequence TLV: the CR multicast (frame 19) is ignored, the unicast copy (20) taken.
  assert.equal(h.r1.dropCount('conditional receive'), 1);
  assert.equal(acks.filter((p) => p.packet.header.ack === 0x19).length, 1, 'seq 0x19 acknowledged once');

  // Poison reverse toward R2 for what we learned from it: multicast seq 0x19 like frame 22, same TLVs.
  const poison = sent.find((p) => p.dst === 'multicast' && p.packet.header.opcode === EigrpOpcode.UPDATE);
  assert.ok(poison, 'poison update');
  assert.equal(poison.packet.header.sequence, 0x19);
  assert.equal(poison.packet.header.flags, 0, 'no CR: R2 had acknowledged everything');
  assert.deepEqual(routeTlvs(poison.packet).slice(0, 3).map(tlvHex), routeTlvs(byIndex(adj, 22).packet).map(tlvHex));

  // Topology and RIB: R2's four routes, FD/RD by the classic formula.
  const expect: [string, number, number, bigint, bigint][] = [
    ['192.168.2.0', 24, 0, 284160n, 28160n],
    ['10.0.0.8', 30, 0, 307200n, 281600n],
    ['192.168.4.0', 24, 0, 309760n, 284160n],
    ['10.0.0.12', 30, 0, 332800n, 307200n],
  ];
  for (const [prefix, len, , fd, rd] of expect) {
    const e = h.r1.entry(prefix, len);
    assert.ok(e, `${prefix}/${len} in topology`);
    assert.equal(e.state, 'passive');
    assert.equal(e.fd, fd, `${prefix}/${len} FD`);
    assert.equal(e.paths.get('10.0.0.2%Ethernet0/0')?.rd, rd, `${prefix}/${len} RD`);
    const r = h.r1.routes().find((x) => x.prefix === prefix && x.prefixLength === len);
    assert.ok(r, `${prefix}/${len} installed`);
    assert.deepEqual(r.nextHops, [{ address: '10.0.0.2', ifname: 'Ethernet0/0' }]);
    assert.equal(r.distance, 90);
    assert.equal(r.metric, Number(fd));
  }
  const nb = h.r1.showNeighbors(h.now)[0];
  assert.equal(nb.lastSequence, 0x19);
  assert.equal(nb.queueCount, 0, 'everything acknowledged (frame 23 acks 0x19)');
  assert.equal(nb.version, '12.4/1.2');
});

test('replay: subnet down, subnet up and goodbye continue the adjacency', needsVectors, () => {
  const h = new Harness();
  h.play(frames('EIGRP_adjacency'), 0);
  assert.equal(h.r1.neighborState('10.0.0.2'), 'up');

  // --- EIGRP_subnet_down: R2 loses 192.168.4.0/24 and queries; we are active until its reply.
  const down = frames('EIGRP_subnet_down');
  const before = h.sent.length;
  h.play(down, 1000, 10);
  const e = h.r1.entry('192.168.4.0', 24);
  assert.ok(e);
  assert.equal(e.state, 'active3', 'query from the successor, no feasible successor: active, oij=3');
  assert.equal(e.replyStatus.size, 1);
  assert.ok(!h.r1.routes().some((r) => r.prefix === '192.168.4.0'), 'route withdrawn while active');
  assert.ok(h.actions.some((a) => a.kind === 'route-del' && a.prefix === '192.168.4.0'));
  const query = h.sentPackets(before).find((p) => p.packet.header.opcode === EigrpOpcode.QUERY);
  assert.ok(query, 'we query R2 in turn (frame 12)');
  assert.deepEqual(routeTlvs(query.packet).map(tlvHex), routeTlvs(byIndex(down, 12).packet).map(tlvHex), 'query TLV as IOS');

  h.play(down.filter((f) => f.index > 10), 0);
  assert.equal(h.r1.entry('192.168.4.0', 24), undefined, 'last reply: passive, unreachable, forgotten');
  const reply = h.sentPackets(before).find((p) => p.packet.header.opcode === EigrpOpcode.REPLY);
  assert.ok(reply, 'we answer the query origin');
  assert.equal(reply.dst, '10.0.0.2');
  assert.deepEqual(routeTlvs(reply.packet).map(tlvHex), routeTlvs(byIndex(down, 16).packet).map(tlvHex), 'reply TLV as frame 16');
  assert.equal(h.r1.showNeighbors(h.now)[0].queueCount, 0);

  // --- EIGRP_subnet_up: R2 announces 192.168.4.0/24 again.
  const up = frames('EIGRP_subnet_up');
  const mid = h.sent.length;
  h.play(up, 1000);
  const back = h.r1.entry('192.168.4.0', 24);
  assert.ok(back);
  assert.equal(back.fd, 309760n);
  assert.ok(h.r1.routes().some((r) => r.prefix === '192.168.4.0' && r.metric === 309760));
  const poison = h.sentPackets(mid).find((p) => p.packet.header.opcode === EigrpOpcode.UPDATE);
  assert.ok(poison, 'poison reverse toward R2 (frame 9)');
  assert.deepEqual(routeTlvs(poison.packet).map(tlvHex), routeTlvs(byIndex(up, 9).packet).map(tlvHex));

  // --- EIGRP_goodbye: R2 says goodbye; everything through it goes.
  h.play(frames('EIGRP_goodbye'), 1000);
  assert.equal(h.r1.neighborState('10.0.0.2'), undefined);
  assert.ok(h.actions.some((a) => a.kind === 'log' && a.msg === 'Neighbor 10.0.0.2 (Ethernet0/0) is down: Interface Goodbye received'));
  assert.deepEqual(h.r1.routes(), []);
  assert.deepEqual(h.r1.showTopology().map((t) => `${t.prefix}/${t.prefixLength}`), ['10.0.0.0/30', '10.0.0.4/30', '192.168.1.0/24']);
  assert.equal(h.r1.dropCount('internal error'), 0);
});
