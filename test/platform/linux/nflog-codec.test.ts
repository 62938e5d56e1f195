/**
 * The nfnetlink_log codec: real kernel messages decode to the fields the kernel put in them and
 * re-encode byte for byte; constructed messages round-trip; the configuration request has the
 * layout nfulnl_recv_config reads; truncated or garbled input is a counted drop in the listener,
 * never an exception.
 *
 * The three captured messages were taken from the kernel by test/platform/linux/fixtures/nflog-run.ts
 * (the payload of each NFULNL_MSG_PACKET, after nlmsghdr). Attribute headers are host-endian, so
 * they are little-endian bytes and the byte tests run on little-endian hosts only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endianness } from 'node:os';
import fc from 'fast-check';
import { Reader, WireError, encode, fromHex, toHex } from '../../../protocols/wire/index.js';
import {
  Arphrd,
  decodeNflogMessage,
  emitNflogConfig,
  emitNflogPacket,
  greOuterSource,
  hookName,
  NflogCmd,
  nflogConfigLength,
  NflogCopyMode,
  NflogMsgType,
  nflogPacketLength,
  NfInetHook,
  NlmsgType,
  parseNflogConfig,
  parseNflogPacket,
  type NflogConfig,
  type NflogPacket,
} from '../../../platform/linux/nflog-codec.js';
import { NflogListener } from '../../../platform/linux/nflog.js';
import { assertSameValue, assertTruncationsThrowWireError, reencodeIdentical, roundTrip, throwsOnlyWireError, type Codec } from '../../support/codec.js';

const leOnly = endianness() === 'LE' ? {} : { skip: 'captured bytes are little-endian netlink headers' };
const packetCodec: Codec<NflogPacket> = { protocol: 'nflog', parse: parseNflogPacket, emit: emitNflogPacket, length: nflogPacketLength };
const configCodec: Codec<NflogConfig> = { protocol: 'nflog', parse: parseNflogConfig, emit: emitNflogConfig, length: nflogConfigLength };

/** Linux 6.18, `oifname "veth0" ip daddr 224.0.0.0/4 log group 19712 drop`: a UDP datagram to 224.0.0.10. */
const OUTPUT_MULTICAST = fromHex(
  '02004d00' + '0800010008000300' + '05000a0000000000' + '0800050000000003' + '08000b0000000000' + '08000e0000000000' +
    '48000900' + '45000044c53e40000111ca120a4d0001e000000ac36015b30030ea99' +
    '646d76706e642d3232342e302e302e31302d307c6161616161616161616161616161616161616161',
);

/**
 * Linux 6.1 (the VM), a hub's `iifname "gre1" oifname "gre1" ... log group 19713 snaplen 128`:
 * a packet from spoke 198.51.100.2 forwarded back into the multipoint ip_gre device.
 */
const GRE_HAIRPIN = fromHex(
  '02004d01' + '0800010008000200' + '05000a0000000000' + '0800040000000005' + '0800050000000005' +
    '1000080000040000c633640200000000' + // NFULA_HWADDR: hw_addrlen 4, 198.51.100.2
    '06000f00030a0000' + '060011' + '00001c0000' + // HWTYPE 778 (ARPHRD_IPGRE), HWLEN 28
    '20001000' + '450001001ce84000402fc87cc6336402c6336401' + '200008000000002a' + // HWHEADER: outer IPv4 + GRE (key 42)
    '84000900' +
    '450000e483b040003f11a2ea0a00000b0a63000181e21e6100d01550646d76706e642d31302e39392e302e312d307c' +
    '61'.repeat(81), // 47 bytes of headers and text, then 'a' up to the 128-byte snaplen
);

const enc = (p: NflogPacket): Uint8Array => encode(p, emitNflogPacket, nflogPacketLength, 'nflog');

// ---- deconstruct ----

test('nflog-codec: an OUTPUT-hook copy has outdev, uid/gid and the whole datagram, no link layer', leOnly, () => {
  const p = parseNflogPacket(new Reader(OUTPUT_MULTICAST, 'nflog'));
  assert.deepEqual(
    [p.family, p.group, p.hwProtocol, p.hook, p.prefix, p.indev, p.outdev, p.uid, p.gid],
    [2, 19712, 0x0800, NfInetHook.LOCAL_OUT, '', undefined, 3, 0, 0],
  );
  assert.equal(p.hwAddr, undefined, 'no NFULA_HWADDR without an input device');
  assert.equal(p.hwHeader, undefined);
  assert.equal(p.timestamp, undefined, 'the kernel stamps hooks up to FORWARD only');
  assert.equal(p.payload.length, 0x44, 'the IPv4 total length: the whole datagram');
  assert.equal(toHex(p.payload.subarray(16, 20)), 'e000000a', 'to 224.0.0.10');
  assert.equal(new TextDecoder().decode(p.payload.subarray(28, 44)), 'dmvpnd-224.0.0.1');
  assert.equal(greOuterSource(p), undefined);
});

test('nflog-codec: a hairpin on ip_gre carries the sender\'s NBMA address in HWADDR and HWHEADER', leOnly, () => {
  const p = parseNflogPacket(new Reader(GRE_HAIRPIN, 'nflog'));
  assert.deepEqual([p.group, p.hook, p.indev, p.outdev, p.hwType, p.hwLen], [19713, NfInetHook.FORWARD, 5, 5, Arphrd.IPGRE, 28]);
  assert.equal(toHex(p.hwAddr!), 'c6336402', 'ipgre_header_parse: the outer source');
  assert.equal(p.hwHeader!.length, 28, 'outer IPv4 header (20) + GRE with key (8)');
  assert.equal(toHex(p.hwHeader!.subarray(20)), '200008000000002a', 'GRE: K bit, IPv4, key 42');
  assert.equal(greOuterSource(p), '198.51.100.2');
  assert.equal(greOuterSource({ ...p, hwAddr: undefined }), '198.51.100.2', 'from HWHEADER alone');
  assert.equal(p.payload.length, 128, 'cut at the rule\'s snaplen');
  assert.equal(toHex(p.payload.subarray(12, 20)), '0a00000b0a630001', '10.0.0.11 -> 10.99.0.1');
  assert.equal(p.payload[8], 63, 'TTL already decremented: FORWARD runs after ip_forward');
});

test('nflog-codec: captured kernel messages re-encode byte for byte', leOnly, () => {
  reencodeIdentical(packetCodec, OUTPUT_MULTICAST, 'output multicast');
  reencodeIdentical(packetCodec, GRE_HAIRPIN, 'ip_gre hairpin');
});

// ---- construct, round trip ----

const ETH_FORWARD: NflogPacket = {
  family: 2,
  group: 7,
  hwProtocol: 0x0800,
  hook: NfInetHook.FORWARD,
  prefix: 'dmvpnd hairpin é',
  indev: 2,
  outdev: 2,
  mark: 0xdeadbeef,
  hwAddr: fromHex('f6d72a7ce735'),
  hwType: Arphrd.ETHER,
  hwLen: 14,
  hwHeader: fromHex('6a58525abee7f6d72a7ce7350800'),
  timestamp: { sec: 1_700_000_000n, usec: 999_999n },
  seq: 1,
  seqGlobal: 0xffffffff,
  payload: fromHex('4500001c0000400040110000c0000201c000020200350035000800'),
  others: [
    { type: 0x8000 | 20, value: fromHex('0600020081000000') }, // NFULA_VLAN, nested, kept as it came
    { type: 21, value: fromHex('ffffffffffff') }, // NFULA_L2HDR
  ],
};

test('nflog-codec: construct; every field round-trips, at an offset too', () => {
  const bytes = roundTrip(packetCodec, ETH_FORWARD);
  assert.equal(bytes.length % 4, 0, 'attributes are padded to 4 bytes');
  assert.equal(greOuterSource(ETH_FORWARD), undefined, 'an Ethernet source is no NBMA address');
  roundTrip(packetCodec, { family: 2, group: 0, hwProtocol: 0, hook: 0, payload: new Uint8Array(0) });
  const empty = enc({ family: 2, group: 1, hwProtocol: 0x0800, hook: 3, payload: new Uint8Array(0) });
  assert.equal(empty.length, 4 + 8, 'no NFULA_PAYLOAD attribute for an empty payload (copy mode meta)');
});

test('nflog-codec: emit refuses a link-layer address longer than hw_addr[8]', () => {
  assert.throws(() => enc({ ...ETH_FORWARD, hwAddr: new Uint8Array(9) }), WireError);
});

test('nflog-codec: property: emit then parse is the identity', () => {
  const bytes = (max: number) => fc.uint8Array({ maxLength: max });
  const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
  const u32 = fc.nat({ max: 0xffffffff });
  const packet = fc.record({
    family: fc.nat({ max: 255 }),
    group: fc.nat({ max: 0xffff }),
    hwProtocol: fc.nat({ max: 0xffff }),
    hook: fc.nat({ max: 255 }),
    prefix: opt(fc.string({ maxLength: 20 }).filter((s) => !s.includes('\0'))),
    indev: opt(u32),
    outdev: opt(u32),
    mark: opt(u32),
    hwAddr: opt(bytes(8)),
    hwType: opt(fc.nat({ max: 0xffff })),
    hwLen: opt(fc.nat({ max: 0xffff })),
    hwHeader: opt(bytes(40)),
    timestamp: opt(fc.record({ sec: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), usec: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) })),
    uid: opt(u32),
    gid: opt(u32),
    seq: opt(u32),
    seqGlobal: opt(u32),
    payload: bytes(200),
    others: opt(fc.array(fc.record({ type: fc.integer({ min: 22, max: 0x3fff }), value: bytes(12) }), { minLength: 1, maxLength: 3 })),
  });
  fc.assert(fc.property(packet, (p: NflogPacket) => {
    const back = parseNflogPacket(new Reader(enc(p), 'nflog'));
    assertSameValue(back, p);
  }), { numRuns: 300 });
});

// ---- the configuration request ----

test('nflog-codec: the bind request is nfgenmsg + CMD, MODE, NLBUFSIZ, TIMEOUT, QTHRESH, numbers big-endian', leOnly, () => {
  const bind: NflogConfig = {
    family: 0, group: 0x4d00, command: NflogCmd.BIND, copyMode: NflogCopyMode.PACKET, copyRange: 0xfffb, bufferSize: 65536, timeout: 1, queueThreshold: 1,
  };
  const bytes = roundTrip(configCodec, bind);
  assert.equal(
    toHex(bytes),
    '00004d00' + // AF_UNSPEC, NFNETLINK_V0, res_id = group (big-endian)
      '0500010001000000' + // NFULA_CFG_CMD: bind
      '0a0002000000fffb02000000' + // NFULA_CFG_MODE: copy_range 65531, NFULNL_COPY_PACKET
      '0800030000010000' + '0800040000000001' + '0800050000000001', // NLBUFSIZ 65536, TIMEOUT 1, QTHRESH 1
  );
  assert.equal(toHex(encode({ group: 1, command: NflogCmd.UNBIND }, emitNflogConfig, nflogConfigLength)), '000000010500010002000000');
  roundTrip(configCodec, { family: 2, group: 9, flags: 3 });
  assert.throws(() => parseNflogConfig(new Reader(fromHex('000000010500090002000000'), 'nflog')), /unknown config attribute 9/);
});

// ---- too short, garbage, counted drops ----

test('nflog-codec: every truncation of a real message throws WireError only', leOnly, () => {
  assertTruncationsThrowWireError(packetCodec, GRE_HAIRPIN);
  assertTruncationsThrowWireError(packetCodec, OUTPUT_MULTICAST);
  assertTruncationsThrowWireError(configCodec, encode({ group: 3, command: 1, copyMode: 2, copyRange: 9 }, emitNflogConfig, nflogConfigLength));
});

test('nflog-codec: structural errors name what is wrong', () => {
  const hdr = '0800010008000200';
  const reason = (hex: string): string | undefined => {
    const d = decodeNflogMessage(NflogMsgType.PACKET, fromHex(hex));
    return d.kind === 'drop' ? d.reason : undefined;
  };
  assert.equal(reason('0200'), 'truncated nfgenmsg');
  assert.equal(reason('02010001' + hdr), 'nfnetlink version 1');
  assert.equal(reason('02000001'), 'no NFULA_PACKET_HDR');
  assert.equal(reason('02000001' + hdr + '0300'), 'truncated attribute header');
  assert.equal(reason('02000001' + hdr + '03000400'), 'bad attribute length');
  assert.equal(reason('02000001' + hdr + '0c0004000000000200000000'), 'NFULA_IFINDEX_INDEV: 8 bytes, expected 4');
  assert.equal(reason('02000001' + hdr + '10000800' + '00090000' + '0000000000000000'), 'NFULA_HWADDR hw_addrlen 9 > 8');
  assert.equal(reason('02000001' + hdr + '08000900450000'), 'truncated');
  assert.equal(decodeNflogMessage(NlmsgType.DONE, new Uint8Array(4)).kind, 'control', 'the end of an NLM_F_MULTI batch');
  assert.equal(decodeNflogMessage(NlmsgType.ERROR, new Uint8Array(20)).kind, 'control', 'an ACK');
  assert.deepEqual(decodeNflogMessage(0x0105, new Uint8Array(4)), { kind: 'drop', reason: 'unexpected message type 0x105' });
});

test('nflog-codec: property: random bytes never throw out of decodeNflogMessage; parse throws only WireError', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
    const d = decodeNflogMessage(NflogMsgType.PACKET, b);
    assert.ok(d.kind === 'packet' || d.kind === 'drop');
    throwsOnlyWireError(() => parseNflogPacket(new Reader(b, 'nflog')));
  }), { numRuns: 2000 });
});

test('nflog-codec: truncated input is a counted drop in the listener\'s receive entry, delivery goes on', leOnly, () => {
  const got: NflogPacket[] = [];
  const l = new NflogListener({ groups: [19712], onPacket: (p) => got.push(p) });
  l.receive([
    { type: NflogMsgType.PACKET, data: OUTPUT_MULTICAST.subarray(0, 26) }, // cut inside NFULA_IFINDEX_OUTDEV's value
    { type: NflogMsgType.PACKET, data: OUTPUT_MULTICAST.subarray(0, 2) },
    { type: NflogMsgType.PACKET, data: OUTPUT_MULTICAST },
    { type: NlmsgType.DONE, data: new Uint8Array(4) },
    { type: NflogMsgType.PACKET, data: OUTPUT_MULTICAST.subarray(0, OUTPUT_MULTICAST.length - 1) },
  ]);
  assert.equal(got.length, 1, 'the whole message is delivered');
  assert.equal(toHex(got[0].payload), toHex(OUTPUT_MULTICAST.subarray(OUTPUT_MULTICAST.length - 0x44)));
  assert.deepEqual(l.statistics(), { packets: 1, drops: { truncated: 2, 'truncated nfgenmsg': 1 }, listenerErrors: 0 });
  assert.equal(l.drops, 3);
  const throwing = new NflogListener({ groups: [1], onPacket: () => { throw new Error('consumer bug'); } });
  throwing.receive([{ type: NflogMsgType.PACKET, data: OUTPUT_MULTICAST }]);
  assert.deepEqual(throwing.statistics(), { packets: 1, drops: {}, listenerErrors: 1 }, 'a throwing consumer is counted, not propagated');
});

test('nflog-codec: hook names follow nft', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 9].map(hookName), ['prerouting', 'input', 'forward', 'output', 'postrouting', 'hook 9']);
});
