import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Reader, addrToString, fromHex } from '../../../protocols/wire/index.js';
import { IpProto } from '../../../protocols/ip/ipv4.js';
import {
  addrFromText,
  decodeEigrp,
  eigrpChecksumValid,
  eigrpCodec,
  encodeEigrp,
  parseEigrp,
  type EigrpPacket,
} from '../../../protocols/eigrp/wire.js';
import { roundTrip, throwsOnlyWireError, assertSameValue } from '../../support/codec.js';
import { needsVectors, vectorPath } from '../../support/vectors.js';
import { ipv4Packets } from '../../support/pcap.js';
import { listAddress, packet } from './arbitraries.js';

const parse = (b: Uint8Array): EigrpPacket => parseEigrp(new Reader(b, 'eigrp'));

test('eigrp property: emit then parse is the identity on generated packets (and at an offset)', () => {
  fc.assert(
    fc.property(packet, (p) => {
      roundTrip(eigrpCodec, p);
    }),
    { numRuns: 400 },
  );
});

test('eigrp property: a packet emitted without a checksum verifies and decodes back', () => {
  fc.assert(
    fc.property(packet, (p) => {
      const unchecked: EigrpPacket = { ...p, header: { ...p.header, checksum: undefined } };
      const bytes = encodeEigrp(unchecked);
      assert.ok(eigrpChecksumValid(bytes));
      const back = decodeEigrp(bytes);
      assertSameValue({ ...back, header: { ...back.header, checksum: undefined } }, unchecked);
    }),
    { numRuns: 200 },
  );
});

test('eigrp property: address text maps back to the same bytes', () => {
  fc.assert(
    fc.property(listAddress, (a) => {
      assert.equal(addrToString(addrFromText(a)), a);
    }),
  );
});

test('eigrp property: parsing arbitrary bytes throws nothing but WireError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      throwsOnlyWireError(() => parse(b));
    }),
    { numRuns: 2000 },
  );
  // Past the header: a valid version-2 header followed by TLV soup built from
  // plausible TLV headers, so the TLV decoders themselves get the noise.
  const tlvSoup = fc.array(
    fc.tuple(
      fc.constantFrom(0x0001, 0x0002, 0x0003, 0x0004, 0x0005, 0x0006, 0x0007, 0x0102, 0x0103, 0x0602, 0x0603, 0x0402, 0x1234),
      fc.uint8Array({ maxLength: 70 }),
      fc.integer({ min: -3, max: 3 }),
    ),
    { maxLength: 5 },
  );
  fc.assert(
    fc.property(tlvSoup, (soup) => {
      const parts: number[] = [2, 5, 0, 0, ...new Array<number>(16).fill(0)];
      for (const [type, value, skew] of soup) {
        const len = Math.max(0, Math.min(0xffff, value.length + 4 + skew));
        parts.push(type >> 8, type & 0xff, len >> 8, len & 0xff, ...value);
      }
      throwsOnlyWireError(() => parse(Uint8Array.from(parts)));
    }),
    { numRuns: 2000 },
  );
});

test('eigrp property: mutated captured packets throw nothing but WireError', needsVectors, () => {
  const seeds: Uint8Array[] = [];
  for (const name of ['EIGRP_adjacency', 'EIGRP_subnet_down', 'EIGRP_goodbye']) {
    for (const p of ipv4Packets(vectorPath('pcap', `${name}.pcap`))) {
      if (p.ip.header.protocol === IpProto.EIGRP && p.ip.payload.length > 20) seeds.push(p.ip.payload);
    }
  }
  assert.ok(seeds.length > 10);
  // Also a wide route and an external route, which the captures lack.
  const header = '0201 0000 00000000 00000001 00000000 0000 0064';
  seeds.push(fromHex(header + '0103 002f c0000201 01010101 0000fde8 00000005 00000014 0000 06 01 00001400 00002710 0005dc 01 ff 01 00 00 10 0a01'));
  seeds.push(fromHex(header + '0602 002c 0000 0001 02020202 00 00 ff 01 0005dc 00 000000989680 0000000186a0 0000 0000 00000000 18 c0a80a'));
  const mutation = fc.record({
    seed: fc.integer({ min: 0, max: seeds.length - 1 }),
    flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
    cut: fc.option(fc.nat(), { nil: undefined }),
  });
  fc.assert(
    fc.property(mutation, ({ seed, flips, cut }) => {
      const b = seeds[seed].slice();
      for (const [at, v] of flips) b[at % b.length] = v;
      const m = cut === undefined ? b : b.subarray(0, cut % (b.length + 1));
      throwsOnlyWireError(() => parse(m));
    }),
    { numRuns: 3000 },
  );
});
