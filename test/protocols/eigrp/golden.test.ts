import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reader, checksumValid, encode, onesSum, toHex } from '../../../protocols/wire/index.js';
import { IpProto } from '../../../protocols/ip/ipv4.js';
import { parseIpv6 } from '../../../protocols/ip/ipv6.js';
import { parseCapture, stripLink } from '../../../daemon/capture/pcap.js';
import {
  EigrpFlag,
  EigrpOpcode,
  EigrpRouteFlag,
  EIGRP_CLASSIC_INFINITY,
  buildAck,
  buildGoodbye,
  buildHello,
  buildQuery,
  buildReply,
  buildUpdate,
  classicRoute,
  eigrpChecksumValid,
  eigrpCodec,
  encodeEigrp,
  findTlv,
  isAck,
  isGoodbye,
  routeTlvs,
  tlvLength,
  tlvType,
  emitTlv,
  type ClassicRouteTlv,
  type EigrpPacket,
  type EigrpTlv,
} from '../../../protocols/eigrp/wire.js';
import { reencodeIdentical } from '../../support/codec.js';
import { needsVectors, readVector, vectorPath } from '../../support/vectors.js';
import { ipv4Packets } from '../../support/pcap.js';
import { readTcpdumpOut, TCPDUMP_FLAG, type OutFrame } from './tcpdump-out.js';

const FILES = ['EIGRP_adjacency', 'EIGRP_subnet_down', 'EIGRP_subnet_up', 'EIGRP_goodbye'] as const;

interface Captured {
  readonly index: number;
  readonly bytes: Uint8Array;
  readonly packet: EigrpPacket;
}

/** Every EIGRP packet of a capture: decoded, checksum verified and re-encoded byte for byte. */
function eigrpPackets(name: string): Captured[] {
  const out: Captured[] = [];
  for (const p of ipv4Packets(vectorPath('pcap', `${name}.pcap`))) {
    if (p.ip.header.protocol !== IpProto.EIGRP) continue;
    const what = `${name}#${p.frame.index}`;
    const packet = reencodeIdentical(eigrpCodec, p.ip.payload, what);
    assert.ok(eigrpChecksumValid(p.ip.payload), `${what} checksum verifies`);
    out.push({ index: p.frame.index, bytes: p.ip.payload, packet });
  }
  return out;
}

function tlvValueHex(t: EigrpTlv): string {
  return toHex(encode(t, emitTlv, tlvLength, 'eigrp').subarray(4));
}

/** Hold a decoded packet against tcpdump's printout of the same frame. */
function compareWithTcpdump(c: Captured, f: OutFrame, what: string): void {
  const h = c.packet.header;
  assert.equal(h.opcode, f.opcode, `${what} opcode`);
  assert.equal(h.checksum, f.checksum, `${what} checksum`);
  assert.ok(f.flagName !== undefined && f.flagName in TCPDUMP_FLAG, `${what} flag name ${f.flagName}`);
  assert.equal(h.flags, TCPDUMP_FLAG[f.flagName], `${what} flags`);
  assert.equal(h.sequence, f.sequence, `${what} seq`);
  assert.equal(h.ack, f.ack, `${what} ack`);
  assert.equal(h.virtualRouterId, f.vrid, `${what} VRID`);
  assert.equal(h.as, f.as, `${what} AS`);
  assert.equal(c.bytes.length - 20, f.length, `${what} length after the header`);
  assert.equal(c.packet.tlvs.length, f.tlvs.length, `${what} TLV count`);
  c.packet.tlvs.forEach((t, i) => {
    const o = f.tlvs[i];
    const w = `${what} TLV ${i}`;
    assert.equal(tlvType(t), o.type, `${w} type`);
    assert.equal(tlvLength(t), o.length, `${w} length`);
    if (o.params) {
      assert.equal(t.kind, 'parameters', w);
      if (t.kind === 'parameters') {
        assert.equal(t.holdTime, o.params.holdTime, `${w} hold time`);
        assert.deepEqual([t.k1, t.k2, t.k3, t.k4, t.k5], o.params.k, `${w} K values`);
      }
    }
    if (o.software) {
      assert.equal(t.kind, 'softwareVersion', w);
      if (t.kind === 'softwareVersion') {
        assert.deepEqual([t.iosMajor, t.iosMinor], o.software.ios, `${w} IOS version`);
        assert.deepEqual([t.tlvMajor, t.tlvMinor], o.software.tlv, `${w} TLV version`);
      }
    }
    if (o.route) {
      assert.equal(t.kind, 'classicRoute', w);
      if (t.kind === 'classicRoute') {
        const r = o.route;
        assert.deepEqual(t.destinations, [{ prefix: r.prefix, prefixLength: r.prefixLength }], `${w} destination`);
        assert.equal(t.nextHop, r.nextHop, `${w} next hop`);
        assert.equal(Math.floor(t.metric.delay / 100), r.delayDiv100, `${w} delay`);
        assert.equal(t.metric.bandwidth, r.bandwidth, `${w} bandwidth`);
        assert.equal(t.metric.mtu, r.mtu, `${w} mtu`);
        assert.equal(t.metric.hopCount, r.hopCount, `${w} hop count`);
        assert.equal(t.metric.reliability, r.reliability, `${w} reliability`);
        assert.equal(t.metric.load, r.load, `${w} load`);
      }
    }
    if (o.hex) assert.equal(tlvValueHex(t), o.hex, `${w} value bytes`);
  });
}

test('eigrp golden: every EIGRP packet of the four IPv4 captures decodes, verifies, re-encodes and matches tcpdump', needsVectors, () => {
  let total = 0;
  for (const name of FILES) {
    const packets = eigrpPackets(name);
    const out = readTcpdumpOut(vectorPath('pcap', `${name}.out`));
    assert.equal(packets.length, out.size, `${name}: one tcpdump entry per EIGRP packet`);
    for (const c of packets) {
      const f = out.get(c.index);
      assert.ok(f, `${name}#${c.index} is in the .out file`);
      compareWithTcpdump(c, f, `${name}#${c.index}`);
    }
    total += packets.length;
  }
  assert.equal(total, 53 + 21 + 15 + 15);
});

test('eigrp golden: the adjacency capture, field by field', needsVectors, () => {
  const byIndex = new Map(eigrpPackets('EIGRP_adjacency').map((c) => [c.index, c.packet]));
  const hello = byIndex.get(1)!;
  assert.equal(hello.header.opcode, EigrpOpcode.HELLO);
  assert.equal(hello.header.checksum, 0xee68);
  assert.equal(hello.header.as, 100);
  assert.deepEqual(findTlv(hello, 'parameters'), { kind: 'parameters', k1: 1, k2: 0, k3: 1, k4: 0, k5: 0, k6: 0, holdTime: 15 });
  assert.deepEqual(findTlv(hello, 'softwareVersion'), { kind: 'softwareVersion', iosMajor: 12, iosMinor: 4, tlvMajor: 1, tlvMinor: 2 });

  const init = byIndex.get(12)!;
  assert.deepEqual([init.header.opcode, init.header.flags, init.header.sequence, init.header.ack, init.tlvs.length], [EigrpOpcode.UPDATE, EigrpFlag.INIT, 0x17, 0, 0]);
  const initAck = byIndex.get(14)!;
  assert.deepEqual([initAck.header.flags, initAck.header.sequence, initAck.header.ack], [EigrpFlag.INIT, 0x17, 0x17]);

  const table = byIndex.get(15)!;
  assert.deepEqual([table.header.flags, table.header.sequence, table.header.ack], [EigrpFlag.EOT, 0x18, 0x17]);
  const routes = routeTlvs(table) as ClassicRouteTlv[];
  assert.deepEqual(
    routes.map((r) => `${r.destinations[0].prefix}/${r.destinations[0].prefixLength} hop ${r.metric.hopCount}`),
    ['192.168.1.0/24 hop 0', '10.0.0.4/30 hop 0', '192.168.3.0/24 hop 1', '10.0.0.12/30 hop 1', '192.168.4.0/24 hop 2', '10.0.0.8/30 hop 2', '192.168.2.0/24 hop 3'],
  );
  assert.deepEqual(routes[0].metric, { delay: 2560, bandwidth: 25600, mtu: 1500, hopCount: 0, reliability: 255, load: 1, internalTag: 0, flags: 0 });
  assert.deepEqual(routes[1].metric, { delay: 25600, bandwidth: 256000, mtu: 1500, hopCount: 0, reliability: 255, load: 1, internalTag: 0, flags: 0 });
  assert.ok(routes.every((r) => r.nextHop === '0.0.0.0' && r.external === undefined));

  const ack = byIndex.get(17)!;
  assert.ok(isAck(ack));
  assert.equal(ack.header.ack, 0x18);

  const seqHello = byIndex.get(18)!;
  assert.deepEqual(findTlv(seqHello, 'sequence'), { kind: 'sequence', addresses: ['10.0.0.1'] });
  assert.deepEqual(findTlv(seqHello, 'nextMulticastSequence'), { kind: 'nextMulticastSequence', sequence: 0x19 });

  const cr = byIndex.get(19)!;
  assert.equal(cr.header.flags, EigrpFlag.CR);
  assert.ok((routeTlvs(cr) as ClassicRouteTlv[]).every((r) => r.metric.delay === EIGRP_CLASSIC_INFINITY));
});

test('eigrp golden: subnet down is an unreachable Update, Queries with ACTIVE routes and Replies', needsVectors, () => {
  const byIndex = new Map(eigrpPackets('EIGRP_subnet_down').map((c) => [c.index, c.packet]));
  const q = byIndex.get(10)!;
  assert.deepEqual([q.header.opcode, q.header.sequence, q.header.ack], [EigrpOpcode.QUERY, 0x2e, 0]);
  const [route] = routeTlvs(q) as ClassicRouteTlv[];
  assert.deepEqual(route.destinations, [{ prefix: '192.168.4.0', prefixLength: 24 }]);
  assert.deepEqual(route.metric, { delay: EIGRP_CLASSIC_INFINITY, bandwidth: 0, mtu: 1500, hopCount: 0, reliability: 0, load: 0, internalTag: 0, flags: EigrpRouteFlag.ACTIVE });
  const reply = byIndex.get(14)!;
  assert.deepEqual([reply.header.opcode, reply.header.sequence, reply.header.ack], [EigrpOpcode.REPLY, 0x30, 0x37]);
  assert.ok(isAck(byIndex.get(11)!));
});

test('eigrp golden: the goodbye Hello has K1-K5 = 255', needsVectors, () => {
  const all = eigrpPackets('EIGRP_goodbye');
  const goodbyes = all.filter((c) => isGoodbye(c.packet));
  assert.deepEqual(goodbyes.map((c) => c.index), [9]);
  const k = findTlv(goodbyes[0].packet, 'parameters')!;
  assert.deepEqual([k.k1, k.k2, k.k3, k.k4, k.k5, k.k6, k.holdTime], [255, 255, 255, 255, 255, 0, 15]);
  assert.equal(goodbyes[0].packet.header.checksum, 0xf167);
});

test('eigrp golden: the builders produce what IOS sent, byte for byte', needsVectors, () => {
  const adj = new Map(eigrpPackets('EIGRP_adjacency').map((c) => [c.index, c]));
  const same = (built: EigrpPacket, captured: Captured | undefined, what: string): void => {
    assert.ok(captured, what);
    assert.equal(toHex(encodeEigrp(built)), toHex(captured.bytes), what);
  };
  same(buildHello({ as: 100, holdTime: 15 }), adj.get(1), 'Hello');
  same(buildUpdate({ as: 100, sequence: 0x17, flags: EigrpFlag.INIT, routes: [] }), adj.get(12), 'INIT Update');
  same(buildAck({ as: 100, ack: 0x18 }), adj.get(17), 'ACK');
  same(buildHello({ as: 100, holdTime: 15, extra: [{ kind: 'sequence', addresses: ['10.0.0.1'] }, { kind: 'nextMulticastSequence', sequence: 0x19 }] }), adj.get(18), 'Hello with Sequence TLV');
  const fromCapture = (p: EigrpPacket) =>
    (routeTlvs(p) as ClassicRouteTlv[]).map((r) => classicRoute({ ...r.metric, ...r.destinations[0], nextHop: r.nextHop }));
  same(buildUpdate({ as: 100, sequence: 0x18, ack: 0x17, flags: EigrpFlag.EOT, routes: fromCapture(adj.get(15)!.packet) }), adj.get(15), 'EOT Update');

  const down = new Map(eigrpPackets('EIGRP_subnet_down').map((c) => [c.index, c]));
  same(buildQuery({ as: 100, sequence: 0x2e, routes: fromCapture(down.get(10)!.packet) }), down.get(10), 'Query');
  same(buildReply({ as: 100, sequence: 0x39, ack: 0x30, routes: fromCapture(down.get(16)!.packet) }), down.get(16), 'Reply');

  const bye = eigrpPackets('EIGRP_goodbye').find((c) => c.index === 9);
  same(buildGoodbye({ as: 100, holdTime: 15 }), bye, 'Goodbye');
});

test('eigrp golden: the IPv6 Hello decodes, re-encodes, and its checksum has no pseudo header', needsVectors, () => {
  const frames = parseCapture(readVector('pcap', 'EIGRP_ipv6.pcap'));
  assert.equal(frames.length, 1);
  const link = stripLink(frames[0]);
  assert.ok(link);
  assert.equal(link.etherType, 0x86dd);
  const ip = parseIpv6(new Reader(link.payload, 'ipv6'));
  assert.equal(ip.header.nextHeader, IpProto.EIGRP);
  const p = reencodeIdentical(eigrpCodec, ip.payload, 'EIGRP_ipv6#1');
  assert.ok(eigrpChecksumValid(ip.payload), 'plain checksum over the EIGRP packet verifies');
  // With an IPv6 pseudo header (RFC 8200 section 8.1) it would not.
  const pseudo = new Uint8Array(40);
  pseudo.set(ip.header.src, 0);
  pseudo.set(ip.header.dst, 16);
  new DataView(pseudo.buffer).setUint32(32, ip.payload.length);
  pseudo[39] = IpProto.EIGRP;
  assert.ok(!checksumValid(ip.payload, 0, ip.payload.length, onesSum(pseudo)), 'a pseudo-header checksum does not verify');

  const out = readTcpdumpOut(vectorPath('pcap', 'EIGRP_ipv6.out')).get(1);
  assert.ok(out);
  assert.equal(out.typeName, 'Hello');
  assert.equal(out.length, ip.payload.length);
  assert.equal(p.header.opcode, EigrpOpcode.HELLO);
  assert.equal(p.header.as, 0xfc2a);
  assert.deepEqual(findTlv(p, 'parameters'), { kind: 'parameters', k1: 1, k2: 0, k3: 1, k4: 0, k5: 0, k6: 0, holdTime: 15 });
  assert.deepEqual(findTlv(p, 'softwareVersion'), { kind: 'softwareVersion', iosMajor: 14, iosMinor: 0, tlvMajor: 2, tlvMinor: 0 });
});
