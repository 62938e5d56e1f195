import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reader, WireError, fromHex, encode } from '../../../protocols/wire/index.js';
import { parseGre, emitGre, greLength, makeGre, GreProto, greChecksumValid, type GrePacket } from '../../../protocols/gre/wire.js';
import { IpProto } from '../../../protocols/ip/ipv4.js';
import { roundTrip, reencodeIdentical, assertTruncationsThrowWireError, type Codec } from '../../support/codec.js';
import { needsVectors, vectorPath } from '../../support/vectors.js';
import { ipv4Packets } from '../../support/pcap.js';

const greCodec: Codec<GrePacket> = { protocol: 'gre', parse: parseGre, emit: emitGre, length: greLength };

test('gre: deconstruct a keyed NHRP header (key 2, type 0x2001)', () => {
  const p = parseGre(new Reader(fromHex('20002001000000020001'), 'gre'));
  assert.equal(p.header.key, 2);
  assert.equal(p.header.protocolType, GreProto.NHRP);
  assert.equal(p.header.checksumPresent, false);
  assert.equal(p.header.sequence, undefined);
  assert.deepEqual(p.payload, Uint8Array.of(0, 1));
});

test('gre: construct with checksum, key and sequence; the checksum verifies', () => {
  const bytes = encode(makeGre(GreProto.IPV4, Uint8Array.of(0x45, 0, 0), { key: 100, sequence: 9, checksum: true }), emitGre, greLength);
  assert.equal(bytes.length, 4 + 4 + 4 + 4 + 3);
  assert.equal(bytes[0], 0xb0);
  assert.ok(greChecksumValid(bytes, 0, bytes.length));
  bytes[bytes.length - 1] ^= 1;
  assert.ok(!greChecksumValid(bytes, 0, bytes.length));
});

test('gre: round trips for every optional-field combination', () => {
  for (const checksum of [false, true]) for (const key of [undefined, 0, 0xffffffff]) for (const sequence of [undefined, 1]) {
    const p = makeGre(GreProto.NHRP, Uint8Array.of(1, 2, 3), { key, sequence, checksum });
    const withCk = checksum ? { ...p, header: { ...p.header, checksum: 0xabcd } } : p;
    roundTrip(greCodec, withCk);
  }
});

test('gre: too short, version 1, routing bit are WireErrors', () => {
  assertTruncationsThrowWireError(greCodec, fromHex('b0000800aaaa0000000000010000000245'));
  assert.throws(() => parseGre(new Reader(fromHex('00010800'), 'gre')), /version 1/);
  assert.throws(() => parseGre(new Reader(fromHex('40000800'), 'gre')), /routing/);
  assert.throws(() => parseGre(new Reader(fromHex('2000'), 'gre')), WireError);
});

test('gre: every GRE packet in the captures re-encodes byte for byte, checksums verify', needsVectors, () => {
  let n = 0;
  for (const file of ['various_gre.pcap', 'NHRP_registration.pcap', 'nhrp-trace.pcap', 'NHRP-responder-address.pcap', 'nhrp.pcapng', 'ios_nhrp.pcap']) {
    for (const p of ipv4Packets(vectorPath('pcap', file))) {
      if (p.ip.header.protocol !== IpProto.GRE) continue;
      const g = reencodeIdentical(greCodec, p.ip.payload, `${file}#${p.frame.index}`);
      assert.ok(greChecksumValid(p.ip.payload, 0, p.ip.payload.length), `${file}#${p.frame.index} GRE checksum`);
      if (file === 'various_gre.pcap') assert.equal(g.header.key, 40);
      n++;
    }
  }
  assert.ok(n >= 30, `expected many GRE packets, saw ${n}`);
});
