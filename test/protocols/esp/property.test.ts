import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Reader, toHex, encode } from '../../../protocols/wire/index.js';
import { espCodec, parseEsp } from '../../../protocols/esp/wire.js';
import { udpEncapCodec, parseUdpEncap, type UdpEncapPayload } from '../../../protocols/esp/udpencap.js';
import { buildEspPlaintext, parseEspPlaintext, espAlignment } from '../../../protocols/esp/trailer.js';
import { roundTrip, throwsOnlyWireError } from '../../support/codec.js';

const espArb = fc.record({
  spi: fc.integer({ min: 1, max: 0xffffffff }),
  seq: fc.integer({ min: 0, max: 0xffffffff }),
  payload: fc.uint8Array({ maxLength: 64 }),
});

const encapArb: fc.Arbitrary<UdpEncapPayload> = fc.oneof(
  fc.constant({ kind: 'keepalive' as const }),
  fc.uint8Array({ minLength: 28, maxLength: 64 }).map((message) => ({ kind: 'ike' as const, message })),
  espArb.map((packet) => ({ kind: 'esp' as const, packet })),
);

test('esp property: emit then parse is the identity (ESP and UDP-encapsulated payloads)', () => {
  fc.assert(fc.property(espArb, (p) => { roundTrip(espCodec, p); }), { numRuns: 500 });
  fc.assert(fc.property(encapArb, (p) => { roundTrip(udpEncapCodec, p); }), { numRuns: 500 });
});

test('esp property: arbitrary octets throw only WireError, and what parses re-encodes', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
    let esp: ReturnType<typeof parseEsp> | undefined;
    throwsOnlyWireError(() => { esp = parseEsp(new Reader(b, 'esp')); });
    if (esp) assert.equal(toHex(encode(esp, espCodec.emit, espCodec.length)), toHex(b));
    let encap: UdpEncapPayload | undefined;
    throwsOnlyWireError(() => { encap = parseUdpEncap(new Reader(b, 'udpencap')); });
    if (encap) assert.equal(toHex(encode(encap, udpEncapCodec.emit, udpEncapCodec.length)), toHex(b));
  }), { numRuns: 2000 });
});

test('esp property: the plaintext trailer round-trips for any data, next header and block size', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), fc.integer({ min: 0, max: 255 }), fc.constantFrom(1, 4, 8, 16, 32), (data, nh, bs) => {
    const plain = buildEspPlaintext(data, nh, bs);
    assert.equal(plain.length % espAlignment(bs), 0);
    const t = parseEspPlaintext(plain, { blockSize: bs });
    assert.deepEqual(t.payload, data);
    assert.equal(t.nextHeader, nh);
  }), { numRuns: 500 });
  fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
    throwsOnlyWireError(() => parseEspPlaintext(b));
  }), { numRuns: 1000 });
});
