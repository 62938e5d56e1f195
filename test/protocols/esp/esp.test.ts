import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reader, Writer, WireError, fromHex, toHex, encode } from '../../../protocols/wire/index.js';
import { parseEsp, emitEsp, espLength, espCodec, EspView, EspOff, ESP_HEADER, type EspPacket } from '../../../protocols/esp/wire.js';
import {
  espPadLength, espPlaintextLength, buildEspPlaintext, emitEspPlaintext, parseEspPlaintext, espAlignment,
  EspNextHeader, espNextHeaderName,
} from '../../../protocols/esp/trailer.js';
import {
  classifyUdpEncap, parseUdpEncap, udpEncapCodec, withNonEspMarker, NAT_KEEPALIVE, NON_ESP_MARKER,
  type UdpEncapPayload,
} from '../../../protocols/esp/udpencap.js';
import { roundTrip, assertTruncationsThrowWireError } from '../../support/codec.js';

// SPI 0x0a0b0c0d, sequence 7, then 16 octets of IV and 16 of ciphertext standing in for the protected part.
const ESP_HEX = '0a0b0c0d00000007' + '00112233445566778899aabbccddeeff' + 'ffeeddccbbaa99887766554433221100';

test('esp: deconstruct the header and keep the rest opaque', () => {
  const p = parseEsp(new Reader(fromHex(ESP_HEX), 'esp'));
  assert.equal(p.spi, 0x0a0b0c0d);
  assert.equal(p.seq, 7);
  assert.equal(p.payload.length, 32);
  assert.equal(toHex(p.payload.subarray(0, 4)), '00112233');
});

test('esp: construct, length and round trip at an offset', () => {
  const p: EspPacket = { spi: 0xc0ffee01, seq: 0xffffffff, payload: fromHex('0102030405') };
  assert.equal(espLength(p), ESP_HEADER + 5);
  assert.equal(toHex(encode(p, emitEsp, espLength)), 'c0ffee01ffffffff0102030405');
  roundTrip(espCodec, p);
  roundTrip(espCodec, { spi: 1, seq: 0, payload: new Uint8Array(0) });
});

test('esp: too short and SPI 0 are WireErrors', () => {
  assertTruncationsThrowWireError(espCodec, fromHex(ESP_HEX));
  assert.throws(() => parseEsp(new Reader(fromHex('0a0b0c0d000000'), 'esp')), WireError);
  assert.throws(() => parseEsp(new Reader(fromHex('0000000000000001aa'), 'esp')), /SPI 0 is reserved/);
});

test('esp: the view reads and writes SPI and sequence in place', () => {
  const buf = Uint8Array.of(0xee, ...fromHex(ESP_HEX));
  const v = new EspView(buf, 1).check();
  assert.equal(v.spi, 0x0a0b0c0d);
  assert.equal(v.seq, 7);
  assert.equal(v.length, 40);
  v.seq = 0x01020304;
  assert.equal(toHex(buf.subarray(1 + EspOff.SEQ, 1 + EspOff.SEQ + 4)), '01020304');
  assert.equal(v.payload().length, 32);
  assert.equal(v.payload().buffer, buf.buffer, 'payload is a view, not a copy');
  assert.throws(() => new EspView(new Uint8Array(7)).check(), WireError);
  assert.throws(() => new EspView(new Uint8Array(8)).check(), /SPI 0/);
});

test('esp trailer: padding aligns to the block size and to 4 octets (RFC 4303 section 2.4)', () => {
  assert.equal(espAlignment(1), 4);
  assert.equal(espAlignment(8), 8);
  assert.equal(espAlignment(16), 16);
  assert.equal(espPadLength(2, 1), 0);
  assert.equal(espPadLength(3, 1), 3);
  assert.equal(espPadLength(14, 16), 0);
  assert.equal(espPadLength(15, 16), 15);
  assert.equal(espPadLength(84, 8), 2);
  for (let n = 0; n < 64; n++) for (const bs of [1, 4, 8, 16]) {
    const len = espPlaintextLength(n, bs);
    assert.equal(len % espAlignment(bs), 0);
    assert.ok(len - n - 2 < espAlignment(bs));
  }
  assert.throws(() => espAlignment(0), RangeError);
});

test('esp trailer: build and parse with the default padding 1, 2, 3, ...', () => {
  const data = fromHex('450000140000');
  const plain = buildEspPlaintext(data, EspNextHeader.IPV4, 16);
  assert.equal(plain.length, 16);
  assert.equal(toHex(plain), '450000140000' + '0102030405060708' + '08' + '04');
  const back = parseEspPlaintext(plain, { blockSize: 16 });
  assert.deepEqual(back.payload, data);
  assert.equal(back.padLength, 8);
  assert.equal(back.nextHeader, EspNextHeader.IPV4);
  // Into a caller's buffer at an offset.
  const buf = new Uint8Array(20).fill(0xee);
  emitEspPlaintext(data, EspNextHeader.GRE, 8, new Writer(buf, 'esp', 2));
  assert.equal(espPlaintextLength(6, 8), 8); // 6 + Pad Length + Next Header fill one block: no padding
  assert.equal(toHex(buf.subarray(2, 10)), '450000140000' + '00' + '2f');
  assert.equal(buf[0], 0xee);
  assert.equal(espNextHeaderName(47), 'GRE');
  assert.equal(espNextHeaderName(59), 'NO_NEXT_HEADER');
});

test('esp trailer: bad padding, pad length and alignment are WireErrors', () => {
  const plain = buildEspPlaintext(fromHex('aabbcc'), EspNextHeader.GRE, 8);
  const bad = plain.slice();
  bad[4] = 9;
  assert.throws(() => parseEspPlaintext(bad), /padding octet 2 is 9/);
  assert.equal(parseEspPlaintext(bad, { checkPadding: false }).nextHeader, EspNextHeader.GRE);
  assert.throws(() => parseEspPlaintext(Uint8Array.of(1, 2, 40, 4)), /Pad Length 40 exceeds/);
  assert.throws(() => parseEspPlaintext(Uint8Array.of(4)), WireError);
  assert.throws(() => parseEspPlaintext(plain.subarray(1), { checkPadding: false, blockSize: 8 }), /not a multiple of 8/);
});

test('udpencap: classify keepalive, IKE behind the marker and ESP (RFC 3948 sections 2.1 to 2.3)', () => {
  assert.equal(classifyUdpEncap(NAT_KEEPALIVE), 'keepalive');
  assert.equal(classifyUdpEncap(withNonEspMarker(new Uint8Array(28))), 'ike');
  assert.equal(classifyUdpEncap(fromHex(ESP_HEX)), 'esp');
  assert.deepEqual(NON_ESP_MARKER, new Uint8Array(4));
  for (const hex of ['', '00', 'fe', 'ffff', '000000', '00000000' + '00'.repeat(27), '0a0b0c0d0000']) {
    assert.throws(() => classifyUdpEncap(fromHex(hex)), WireError, hex);
  }
});

test('udpencap: parse, emit and round trip each kind', () => {
  const ike = fromHex('01'.repeat(28));
  const kinds: UdpEncapPayload[] = [
    { kind: 'keepalive' },
    { kind: 'ike', message: ike },
    { kind: 'esp', packet: { spi: 0x12345678, seq: 1, payload: fromHex('aabb') } },
  ];
  for (const k of kinds) roundTrip(udpEncapCodec, k);
  const b = withNonEspMarker(ike);
  assert.equal(toHex(b.subarray(0, 4)), '00000000');
  const p = parseUdpEncap(new Reader(b, 'udpencap'));
  assert.equal(p.kind, 'ike');
  assert.deepEqual(p.kind === 'ike' && p.message, ike);
  assertTruncationsThrowWireError(udpEncapCodec, b);
});
