/**
 * Properties (fast-check): parse throws nothing but WireError on any bytes, and
 * whatever parses re-encodes to the bytes it came from; emit then parse is the
 * identity on generated packets, CIEs and extensions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Reader, toHex, encode } from '../../../protocols/wire/index.js';
import {
  parseNhrp, emitNhrp, nhrpLength, nhrpCodec, nhrpChecksumValid, withoutChecksum,
  parseCie, emitCie, cieLength, parseExtension, emitExtension, extensionLength,
  type NhrpPacket, type NhrpCie, type NhrpExtension,
} from '../../../protocols/nhrp/index.js';
import { roundTrip, throwsOnlyWireError, type Codec } from '../../support/codec.js';
import { needsVectors } from '../../support/vectors.js';
import { NHRP_CAPTURES, nhrpPackets } from './captures.js';
import { nhrpPacketArb, cieArb, extensionArb } from './arbitrary.js';

const cieCodec: Codec<NhrpCie> = { protocol: 'nhrp', parse: parseCie, emit: emitCie, length: cieLength };
const extCodec: Codec<NhrpExtension> = { protocol: 'nhrp', parse: parseExtension, emit: emitExtension, length: extensionLength };

/** Parse; if it succeeds, the packet re-encodes to exactly the ar$pktsz bytes it was read from. */
function parseAndCheck(bytes: Uint8Array): void {
  let p: NhrpPacket | undefined;
  const threw = throwsOnlyWireError(() => {
    p = parseNhrp(new Reader(bytes, 'nhrp'));
  });
  if (threw || !p) return;
  const again = encode(p, emitNhrp, nhrpLength);
  assert.equal(toHex(again), toHex(bytes.subarray(0, again.length)));
}

/** Bytes that get past the fixed-header checks often: a plausible header, then noise. */
const headerish = fc
  .tuple(fc.uint8Array({ minLength: 0, maxLength: 120 }), fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 130 }), fc.boolean())
  .map(([rest, type, extoff, withExt]) => {
    const b = new Uint8Array(20 + rest.length);
    b.set([0, 1, 8, 0, 0, 0, 0, 0, 0, 255], 0);
    const size = b.length;
    b[10] = size >> 8;
    b[11] = size & 0xff;
    b[14] = 0;
    b[15] = withExt ? Math.min(extoff + 20, size) : 0;
    b[16] = 1;
    b[17] = type;
    b[18] = 4;
    b[19] = 0;
    b.set(rest, 20);
    return b;
  });

test('nhrp property: parse of arbitrary bytes throws only WireError, and what parses re-encodes', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), parseAndCheck), { numRuns: 3000 });
  fc.assert(fc.property(headerish, parseAndCheck), { numRuns: 5000 });
});

test('nhrp property: mutated captured packets throw only WireError, and what parses re-encodes', needsVectors, () => {
  const seeds = NHRP_CAPTURES.flatMap((f) => nhrpPackets(f).map((c) => c.bytes));
  const mutation = fc.record({
    seed: fc.integer({ min: 0, max: seeds.length - 1 }),
    edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
    cut: fc.option(fc.nat(), { nil: undefined }),
  });
  fc.assert(
    fc.property(mutation, ({ seed, edits, cut }) => {
      const b = seeds[seed].slice();
      for (const [at, v] of edits) b[at % b.length] = v;
      parseAndCheck(cut === undefined ? b : b.subarray(0, cut % (b.length + 1)));
    }),
    { numRuns: 5000 },
  );
  // Every single-byte change of every header and mandatory-part byte, exhaustively.
  for (const s of seeds.slice(0, 3).concat(seeds.slice(-5))) {
    for (let i = 0; i < Math.min(s.length, 64); i++) {
      for (const v of [0, 1, 0x3f, 0x40, 0x7f, 0x80, 0xff]) {
        const b = s.slice();
        b[i] = v;
        parseAndCheck(b);
      }
    }
  }
});

test('nhrp property: mutated generated packets throw only WireError, and what parses re-encodes', () => {
  const mutated = fc
    .tuple(nhrpPacketArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }), fc.nat())
    .map(([p, edits, cut]) => {
      const b = encode(p, emitNhrp, nhrpLength);
      for (const [at, v] of edits) b[at % b.length] = v;
      return cut % 4 === 0 ? b.subarray(0, cut % (b.length + 1)) : b;
    });
  fc.assert(fc.property(mutated, parseAndCheck), { numRuns: 3000 });
});

test('nhrp property: emit then parse is the identity on generated packets (also at an offset)', () => {
  fc.assert(fc.property(nhrpPacketArb, (p) => void roundTrip(nhrpCodec, p)), { numRuns: 1500 });
});

test('nhrp property: emit then parse is the identity on CIEs and extensions', () => {
  fc.assert(fc.property(cieArb, (c) => void roundTrip(cieCodec, c)), { numRuns: 1000 });
  fc.assert(fc.property(extensionArb, (e) => void roundTrip(extCodec, e)), { numRuns: 1000 });
});

test('nhrp property: a computed checksum always verifies, a wrong one never does', () => {
  fc.assert(
    fc.property(nhrpPacketArb, (p) => {
      const bytes = encode(withoutChecksum(p), emitNhrp, nhrpLength);
      assert.ok(nhrpChecksumValid(bytes));
      const ck = (bytes[12] << 8) | bytes[13];
      const wrong = encode({ ...p, checksum: (ck + 1) & 0xffff }, emitNhrp, nhrpLength);
      // 0x0000 and 0xffff are the same one's-complement value.
      if (ck !== 0xfffe && ck !== 0xffff) assert.ok(!nhrpChecksumValid(wrong));
    }),
    { numRuns: 500 },
  );
});
