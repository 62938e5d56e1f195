import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reader, Writer, WireError, fromHex, toHex } from '../../../protocols/wire/index.js';
import {
  EigrpExternalFlag,
  EigrpExternalProtocol,
  EigrpFlag,
  EigrpOpcode,
  EigrpRouteFlag,
  EigrpStubFlag,
  EigrpTlvType,
  classicRoute,
  decodeEigrp,
  eigrpChecksum,
  eigrpChecksumValid,
  eigrpCodec,
  eigrpLength,
  emitEigrp,
  encodeEigrp,
  findTlv,
  ipv6FromText,
  addrFromText,
  parseEigrp,
  parseTlv,
  tlvLength,
  wideRoute,
  type EigrpPacket,
  type EigrpTlv,
} from '../../../protocols/eigrp/wire.js';
import { roundTrip, assertTruncationsThrowWireError, assertSameValue, type Codec } from '../../support/codec.js';

const codec: Codec<EigrpPacket> = eigrpCodec;

/** Parse hex; the checksum in it need not be right. */
const parseHex = (hex: string): EigrpPacket => parseEigrp(new Reader(fromHex(hex), 'eigrp'));

// A hand-made Hello (not from a capture): AS 7, K 1/0/1/0/0/0, hold 15,
// software 15.1 / TLV 2.0, stub connected+redistributed.
const HELLO_HEX =
  '0205 1234 00000000 00000000 00000000 0000 0007' +
  '0001 000c 01 00 01 00 00 00 000f' +
  '0004 0008 0f 01 02 00' +
  '0006 0006 0009';

// Classic external route 10.1.0.0/16 via 192.0.2.1 learned from OSPF, then a
// wide-metric internal route 192.168.10.0/24, laid out by hand from RFC 7868
// sections 6.8 and 6.9 (and Wireshark's diagrams of them).
const CLASSIC_EXTERNAL_HEX =
  '0103 002f c0000201' +
  '01010101 0000fde8 00000005 00000014 0000 06 01' +
  '00001400 00002710 0005dc 01 ff 01 00 00' +
  '10 0a01';
const WIDE_INTERNAL_HEX =
  '0602 002c 0000 0001 02020202' +
  '00 00 ff 01 0005dc 00 000000989680 0000000186a0 0000 0000' +
  '00000000' +
  '18 c0a80a';

test('eigrp: deconstruct a Hello with parameters, software version and stub TLVs', () => {
  const p = parseHex(HELLO_HEX);
  assert.equal(p.header.opcode, EigrpOpcode.HELLO);
  assert.equal(p.header.checksum, 0x1234);
  assert.equal(p.header.as, 7);
  assert.equal(p.header.virtualRouterId, 0);
  assert.equal(p.tlvs.length, 3);
  assertSameValue(p.tlvs[0], { kind: 'parameters', k1: 1, k2: 0, k3: 1, k4: 0, k5: 0, k6: 0, holdTime: 15 });
  assertSameValue(p.tlvs[1], { kind: 'softwareVersion', iosMajor: 15, iosMinor: 1, tlvMajor: 2, tlvMinor: 0 });
  const stub = findTlv(p, 'stub');
  assert.ok(stub);
  assert.equal(stub.flags, EigrpStubFlag.CONNECTED | EigrpStubFlag.REDISTRIBUTED);
});

test('eigrp: construct an Update with a classic external and a wide internal route, byte for byte', () => {
  const p: EigrpPacket = {
    header: { opcode: EigrpOpcode.UPDATE, flags: EigrpFlag.INIT, sequence: 1, ack: 0, virtualRouterId: 0, as: 100 },
    tlvs: [
      classicRoute({
        prefix: '10.1.0.0',
        prefixLength: 16,
        nextHop: '192.0.2.1',
        delay: 5120,
        bandwidth: 10000,
        mtu: 1500,
        hopCount: 1,
        reliability: 255,
        load: 1,
        external: {
          originatingRouter: '1.1.1.1',
          originatingAs: 65000,
          adminTag: 5,
          externalMetric: 20,
          reserved: 0,
          externalProtocol: EigrpExternalProtocol.OSPF,
          flags: EigrpExternalFlag.EXTERNAL,
        },
      }),
      wideRoute({
        prefix: '192.168.10.0',
        prefixLength: 24,
        routerId: '2.2.2.2',
        delay: 10_000_000n,
        bandwidth: 100_000n,
        mtu: 1500,
        hopCount: 0,
        reliability: 255,
        load: 1,
      }),
    ],
  };
  const bytes = encodeEigrp(p);
  assert.equal(bytes.length, eigrpLength(p));
  assert.equal(toHex(bytes.subarray(0, 2)), '0201');
  assert.equal(toHex(bytes.subarray(4)), toHex(fromHex('00000001 00000001 00000000 0000 0064' + CLASSIC_EXTERNAL_HEX + WIDE_INTERNAL_HEX)));
  assert.ok(eigrpChecksumValid(bytes), 'the computed checksum verifies');
  assert.equal(eigrpChecksum(bytes), (bytes[2] << 8) | bytes[3]);
});

test('eigrp: too short and malformed input are WireErrors', () => {
  const full = encodeEigrp(parseHex(HELLO_HEX + CLASSIC_EXTERNAL_HEX + WIDE_INTERNAL_HEX));
  assertTruncationsThrowWireError(codec, full);
  const bad: [string, string | RegExp][] = [
    ['0205 1234 00000000 00000000 00000000 0000', /header truncated/],
    ['0105 1234 00000000 00000000 00000000 0000 0007', /version 1 is not 2/],
    [HELLO_HEX + '0001 0003', /length 3 is under 4/],
    [HELLO_HEX + '0999 0010 0000', /truncated/],
    [HELLO_HEX + '00', /truncated/],
    ['0205 1234 00000000 00000000 00000000 0000 0007 0001 000a 0100010000 00', /PARAMETERS: parameters value is 6 bytes, expected 8/],
    ['0205 1234 00000000 00000000 00000000 0000 0007 0005 0009 0000000100', /NEXT_MULTICAST_SEQUENCE/],
    ['0205 1234 00000000 00000000 00000000 0000 0007 0002 0018 0002 0010 00000001 00000002 0000000000000000', /authentication length 16 but 0 digest bytes/],
    ['0205 1234 00000000 00000000 00000000 0000 0007 0002 0010 0002 0010 00000001 00000002', /authentication value truncated/],
    ['0205 1234 00000000 00000000 00000000 0000 0007 0003 0007 04 0a0000', /SEQUENCE: truncated/],
    ['0205 1234 00000000 00000000 00000000 0000 0007 0102 001a 00000000 00000000 00000000 000000 00 00 00 00 00 21 00', /prefix length 33 is over 32/],
    ['0205 1234 00000000 00000000 00000000 0000 0007 0102 001a 00000000 00000000 00000000 000000 00 00 00 00 00 18 00', /IPV4_INTERNAL: truncated/],
  ];
  for (const [hex, why] of bad) {
    assert.throws(() => parseHex(hex), (e: unknown) => e instanceof WireError && e.protocol === 'eigrp' && (typeof why === 'string' ? e.message.includes(why) : why.test(e.message)), hex);
  }
});

test('eigrp: parse, emit and length agree for hand-made packets, also at an offset', () => {
  for (const hex of [HELLO_HEX, HELLO_HEX + CLASSIC_EXTERNAL_HEX, '0201 0000 00000008 00000018 00000017 0000 0064' + WIDE_INTERNAL_HEX + CLASSIC_EXTERNAL_HEX]) {
    const p = parseHex(hex);
    const bytes = roundTrip(codec, p);
    assert.equal(toHex(bytes), toHex(fromHex(hex)), 'a stated checksum is written as it is');
  }
});

test('eigrp: a TLV error is reported at its offset in the packet and names the TLV', () => {
  try {
    parseHex(HELLO_HEX + '0102 001a 00000000 00000000 00000000 000000 00 00 00 00 00 21 00');
    assert.fail('should throw');
  } catch (e) {
    assert.ok(e instanceof WireError);
    assert.match(e.reason, /^IPV4_INTERNAL: /);
    // 20 header + 12 + 8 + 6 TLVs before it, 4 TLV header, 20 into the value.
    assert.equal(e.offset, 20 + 12 + 8 + 6 + 4 + 20);
  }
});

test('eigrp: unknown TLVs (IPv6 routes, TID lists, new types, wide routes of other families) survive byte for byte', () => {
  const unknowns = [
    '0402 0010 deadbeef 00112233 44556677',
    '0008 0008 0000 0000',
    '0999 0004',
    '0602 000c 0000 0002 0a0b0c0d',
  ];
  for (const u of unknowns) {
    const hex = HELLO_HEX + u + '0004 0008 0c 04 01 02';
    const p = parseHex(hex);
    const raw = p.tlvs[3];
    assert.equal(raw.kind, 'unknown', u);
    if (raw.kind === 'unknown') assert.equal(raw.type, parseInt(u.slice(0, 4), 16));
    assert.equal(p.tlvs[4].kind, 'softwareVersion', 'TLVs after an unknown one are still decoded');
    assert.equal(toHex(encodeEigrp(p)), toHex(fromHex(hex)));
    roundTrip(codec, p);
  }
});

test('eigrp: the checksum is computed when undefined, verifies, and fails when a byte changes', () => {
  const base = parseHex(HELLO_HEX);
  const p: EigrpPacket = { ...base, header: { ...base.header, checksum: undefined } };
  const bytes = encodeEigrp(p);
  assert.ok(eigrpChecksumValid(bytes));
  const back = decodeEigrp(bytes);
  assert.equal(back.header.checksum, eigrpChecksum(bytes));
  assertSameValue({ ...back, header: { ...back.header, checksum: undefined } }, p);
  for (const at of [0, 3, 19, 25, bytes.length - 1]) {
    const broken = bytes.slice();
    broken[at] ^= 0x40;
    assert.ok(!eigrpChecksumValid(broken), `flipping byte ${at} breaks the checksum`);
  }
  assert.ok(!eigrpChecksumValid(bytes.subarray(0, 10)), 'shorter than a header is not valid');
  // The checksum covers the packet at an offset inside a larger buffer too.
  const w = new Writer(new Uint8Array(bytes.length + 7), 'eigrp', 7);
  emitEigrp(p, w);
  assert.ok(eigrpChecksumValid(w.buf, 7, w.pos));
  assert.equal(toHex(w.buf.subarray(7)), toHex(bytes));
});

test('eigrp: classic route TLVs round trip: internal, external, several destinations, /0 to /32', () => {
  const metric = { delay: 2560, bandwidth: 25600, mtu: 1500, hopCount: 0, reliability: 255, load: 1, internalTag: 0, flags: EigrpRouteFlag.CANDIDATE_DEFAULT };
  const dests = [
    { prefix: '0.0.0.0', prefixLength: 0 },
    { prefix: '10.0.0.0', prefixLength: 8 },
    { prefix: '172.16.128.0', prefixLength: 17 },
    { prefix: '192.168.1.128', prefixLength: 25 },
    { prefix: '192.0.2.7', prefixLength: 32 },
  ];
  const tlvs: EigrpTlv[] = [
    { kind: 'classicRoute', nextHop: '0.0.0.0', metric, destinations: dests },
    { kind: 'classicRoute', nextHop: '10.9.8.7', metric, destinations: [dests[0]] },
    { kind: 'classicRoute', nextHop: '10.9.8.7', metric, destinations: [] },
    {
      kind: 'classicRoute',
      nextHop: '10.9.8.7',
      external: { originatingRouter: '9.9.9.9', originatingAs: 1, adminTag: 0xffffffff, externalMetric: 0, reserved: 0xabcd, externalProtocol: EigrpExternalProtocol.STATIC, flags: 3 },
      metric,
      destinations: dests.slice(3),
    },
  ];
  // Octets per destination: /0 one (as IOS sends the default route), /8 one, /17 three, /25 four, /32 four.
  assert.equal(tlvLength(tlvs[0]), 4 + 4 + 16 + (1 + 1) + (1 + 1) + (1 + 3) + (1 + 4) + (1 + 4));
  for (const t of tlvs) roundTrip(codec, { header: { opcode: EigrpOpcode.UPDATE, checksum: 0, flags: 0, sequence: 9, ack: 0, virtualRouterId: 0, as: 1 }, tlvs: [t] });
  const one = parseTlv(new Reader(fromHex('0102 001a 00000000 00000000 00000000 000000 00 00 00 00 00 00 00'), 'eigrp'));
  assertSameValue(one, { kind: 'classicRoute', nextHop: '0.0.0.0', metric: { delay: 0, bandwidth: 0, mtu: 0, hopCount: 0, reliability: 0, load: 0, internalTag: 0, flags: 0 }, destinations: [{ prefix: '0.0.0.0', prefixLength: 0 }] });
});

test('eigrp: wide route TLVs round trip, 48-bit delay and bandwidth, extended metrics by the offset', () => {
  const ext = fromHex('0102 00000064 0400 00000001');
  const t = wideRoute({
    prefix: '10.0.0.0',
    prefixLength: 8,
    routerId: '3.3.3.3',
    topologyId: 5,
    priority: 2,
    delay: 0xffffffffffffn,
    bandwidth: 0xfedcba987654n,
    mtu: 9000,
    hopCount: 7,
    reliability: 200,
    load: 30,
    flags: 0x0400,
    extendedMetrics: ext,
    nextHop: '10.0.0.1',
    external: { originatingRouter: '4.4.4.4', originatingAs: 2, adminTag: 3, externalMetric: 4, reserved: 0, externalProtocol: EigrpExternalProtocol.BGP, flags: 0 },
  });
  const p: EigrpPacket = { header: { opcode: EigrpOpcode.REPLY, checksum: 0xffff, flags: 0, sequence: 1, ack: 2, virtualRouterId: 0, as: 3 }, tlvs: [t] };
  const bytes = roundTrip(codec, p);
  const value = bytes.subarray(20 + 4);
  assert.equal(value[8], ext.length / 2, 'offset byte counts 16-bit words of extended metrics');
  assert.equal(toHex(value.subarray(16, 22)), 'ffffffffffff', 'delay is 48 bits at metric offset 8');
  assert.equal(toHex(value.subarray(22, 28)), 'fedcba987654', 'bandwidth is 48 bits at metric offset 14');
  assert.equal(toHex(value.subarray(32, 32 + ext.length)), toHex(ext), 'extended metrics follow the 24-byte metric');
  assert.equal(toHex(value.subarray(32 + ext.length, 36 + ext.length)), '0a000001', 'then the next hop');
  assert.equal(parseTlv(new Reader(fromHex(WIDE_INTERNAL_HEX), 'eigrp')).kind, 'wideRoute');
  assert.throws(() => encodeEigrp({ ...p, tlvs: [{ ...t, metric: { ...t.metric, extendedMetrics: new Uint8Array(3) } }] }), WireError);
  assert.throws(() => encodeEigrp({ ...p, tlvs: [{ ...t, metric: { ...t.metric, delay: 1n << 48n } }] }), WireError);
});

test('eigrp: general TLVs round trip: authentication, sequence, next multicast sequence, peer termination', () => {
  const tlvs: EigrpTlv[] = [
    { kind: 'authentication', authType: 2, keyId: 1, keySequence: 0, padding: new Uint8Array(8), digest: new Uint8Array(16).fill(0xaa) },
    { kind: 'authentication', authType: 3, keyId: 7, keySequence: 1, padding: new Uint8Array(8), digest: new Uint8Array(32).fill(0x55) },
    { kind: 'sequence', addresses: ['10.0.0.1', 'fe80::1', '0a0b0c0d0e0f1011aabb'] },
    { kind: 'nextMulticastSequence', sequence: 25 },
    { kind: 'peerTermination', addresses: ['10.0.0.2'] },
    { kind: 'peerTermination', addresses: [] },
  ];
  const p: EigrpPacket = { header: { opcode: EigrpOpcode.HELLO, checksum: 1, flags: 0, sequence: 0, ack: 0, virtualRouterId: 0, as: 100 }, tlvs };
  const bytes = roundTrip(codec, p);
  // MD5: type 2, length 40 (4 + 20 fixed + 16 digest), auth type 2, auth length 16.
  assert.equal(toHex(bytes.subarray(20, 28)), '0002002800020010');
  // Peer termination as FRR and older IOS send it: 0x04 then the address.
  const term = encodeEigrp({ ...p, tlvs: [tlvs[4]] });
  assert.equal(toHex(term.subarray(20)), '0007000904' + '0a000002');
});

test('eigrp: addresses in lists map text to bytes and back', () => {
  assert.deepEqual(Array.from(ipv6FromText('fe80::ff:fe00:301')), [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe, 0, 3, 1]);
  assert.deepEqual(Array.from(ipv6FromText('::')), new Array(16).fill(0));
  assert.deepEqual(Array.from(ipv6FromText('1::')), [0, 1, ...new Array(14).fill(0)]);
  assert.deepEqual(Array.from(ipv6FromText('1:2:3:4:5:6:7:8')).slice(14), [0, 8]);
  for (const bad of ['1:::2', '1::2::3', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', 'g::1', '12345::', '1:2:3:4::5:6:7:8']) {
    assert.throws(() => ipv6FromText(bad), WireError, bad);
  }
  assert.deepEqual(Array.from(addrFromText('10.0.0.1')), [10, 0, 0, 1]);
  assert.deepEqual(Array.from(addrFromText('')), []);
  assert.throws(() => addrFromText('zz'), WireError);
  assert.throws(() => addrFromText('10.0.0'), WireError);
});

test('eigrp: TLV type numbers are the ones of RFC 7868 and the captures', () => {
  assert.equal(EigrpTlvType.PARAMETERS, 0x0001);
  assert.equal(EigrpTlvType.IPV4_INTERNAL, 0x0102);
  assert.equal(EigrpTlvType.MP_EXTERNAL, 0x0603);
  assert.deepEqual([EigrpFlag.INIT, EigrpFlag.CR, EigrpFlag.RS, EigrpFlag.EOT], [1, 2, 4, 8]);
  assert.deepEqual([EigrpOpcode.UPDATE, EigrpOpcode.REQUEST, EigrpOpcode.QUERY, EigrpOpcode.REPLY, EigrpOpcode.HELLO, EigrpOpcode.PROBE, EigrpOpcode.SIA_QUERY, EigrpOpcode.SIA_REPLY], [1, 2, 3, 4, 5, 7, 10, 11]);
});
