import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reader, WireError, fromHex, encode } from '../../../protocols/wire/index.js';
import {
  parseIpv4, emitIpv4, ipv4Length, ipv4ChecksumValid, makeIpv4Header, Ipv4View, IpProto,
  parseIpv4Header, type Ipv4Datagram,
} from '../../../protocols/ip/ipv4.js';
import { parseUdp, emitUdp, udpLength, makeUdp, udpChecksumValid } from '../../../protocols/ip/udp.js';
import { roundTrip, assertTruncationsThrowWireError, type Codec } from '../../support/codec.js';

const ipCodec: Codec<Ipv4Datagram> = { protocol: 'ipv4', parse: parseIpv4, emit: emitIpv4, length: ipv4Length };

// An NHRP registration as captured (NHRP_registration.pcap frame 1), outer IPv4 header only + 4 payload bytes.
const HDR = fromHex('45c00088001000 00ff2f 0000 a9fe6401 a9fe6405'.replace(/ /g, ''));

test('ipv4: deconstruct a captured header', () => {
  const h = parseIpv4Header(new Reader(HDR, 'ipv4'));
  assert.equal(h.tos, 0xc0);
  assert.equal(h.totalLength, 136);
  assert.equal(h.id, 16);
  assert.equal(h.ttl, 255);
  assert.equal(h.protocol, IpProto.GRE);
  assert.equal(h.src, '169.254.100.1');
  assert.equal(h.dst, '169.254.100.5');
});

test('ipv4: construct computes a checksum that verifies', () => {
  const payload = Uint8Array.of(1, 2, 3, 4, 5);
  const d = { header: makeIpv4Header('203.0.113.11', '203.0.113.1', IpProto.GRE, payload.length, { id: 7 }), payload };
  const bytes = encode(d, emitIpv4, ipv4Length);
  assert.ok(ipv4ChecksumValid(bytes));
  const v = new Ipv4View(bytes).check();
  assert.equal(v.totalLength, 25);
  assert.equal(v.protocol, 47);
  assert.ok(v.checksumValid());
  v.ttl = 3;
  assert.ok(!v.checksumValid());
  v.fillChecksum();
  assert.ok(v.checksumValid());
});

test('ipv4: round trip (with and without options) and at an offset', () => {
  const payload = Uint8Array.of(9, 9);
  const h = makeIpv4Header('10.0.0.1', '10.0.0.2', 17, payload.length);
  roundTrip(ipCodec, { header: { ...h, checksum: 0x1234 }, payload });
  const withOpts = { ...h, options: Uint8Array.of(1, 1, 1, 0), totalLength: 24 + payload.length, checksum: 0 };
  roundTrip(ipCodec, { header: withOpts, payload });
});

test('ipv4: too short, wrong version, bad lengths are WireErrors', () => {
  assertTruncationsThrowWireError(ipCodec, encode({ header: makeIpv4Header('1.2.3.4', '5.6.7.8', 47, 3), payload: Uint8Array.of(1, 2, 3) }, emitIpv4, ipv4Length));
  assert.throws(() => parseIpv4(new Reader(fromHex('65000014000000000000000001020304050607 08'.replace(/ /g, '')), 'ipv4')), WireError);
  assert.throws(() => parseIpv4(new Reader(fromHex('4400001400000000ff2f000001020304 05060708'.replace(/ /g, '')), 'ipv4')), /header length 16/);
  assert.throws(() => parseIpv4(new Reader(fromHex('4500001000000000ff2f000001020304 05060708'.replace(/ /g, '')), 'ipv4')), /total length 16/);
  assert.throws(() => new Ipv4View(Uint8Array.of(0x45)).check(), WireError);
});

test('udp: round trip, checksum with the pseudo-header, zero means none', () => {
  const d = makeUdp(500, 500, Uint8Array.of(1, 2, 3));
  const w = encode(d, (v, wr) => emitUdp(v, wr, { src: '203.0.113.1', dst: '203.0.113.11' }), udpLength);
  assert.ok(udpChecksumValid(w, 0, w.length, '203.0.113.1', '203.0.113.11'));
  assert.ok(!udpChecksumValid(w, 0, w.length, '203.0.113.2', '203.0.113.11'));
  const back = parseUdp(new Reader(w, 'udp'));
  assert.equal(back.dstPort, 500);
  assert.deepEqual(back.payload, Uint8Array.of(1, 2, 3));
  roundTrip({ protocol: 'udp', parse: parseUdp, emit: (v, wr) => emitUdp(v, wr), length: udpLength }, { ...d, checksum: 0 });
  assert.throws(() => parseUdp(new Reader(fromHex('01f401f4000400 00'.replace(/ /g, '')), 'udp')), /length 4 below 8/);
  assert.throws(() => parseUdp(new Reader(fromHex('01f401f4002000 00'.replace(/ /g, '')), 'udp')), WireError);
});
