/**
 * Explicit IVs of outbound ESP SAs in the native dataplane.
 *
 * AES-CBC (RFC 3602 section 2.3): the IV must be unpredictable. The addon
 * enciphers (random prefix | sequence number) under an AES key of the SA's own
 * (NIST SP 800-38A appendix C, the forward cipher applied to a unique nonce):
 * IVs never repeat within an SA, two SAs with the same keys do not share them,
 * the sequence number does not show through, and the bits look balanced. The
 * packets sealed with such IVs open with the peer's SA (the IV travels in the
 * packet, RFC 3602 section 3), so the known-answer tests, which fix the IV,
 * are untouched. AES-GCM (RFC 4106 section 3.1): the IV is the sequence
 * number, unique per key, which is all GCM needs.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { nativeAvailable, espCrypto, type EspSa } from '../../../platform/native/index.js';
import { loadNative } from '../../../platform/native/binding.js';
import { toRawSa } from '../../../platform/native/esp.js';

const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (seed + i * 13) & 0xff);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const CBC: EspSa = { spi: 0x2001, cipher: 'aes-cbc-128', integrity: 'hmac-sha1-96', key: bytes(16, 1), authKey: bytes(20, 2) };
const GCM: EspSa = { spi: 0x2002, cipher: 'aes-gcm-256', key: bytes(36, 3) };

function ivs(sa: EspSa, count: number): Uint8Array[] {
  const flat = loadNative().espIvs(toRawSa(sa.spi, sa), count);
  const len = flat.length / count;
  return Array.from({ length: count }, (_, i) => flat.subarray(i * len, (i + 1) * len));
}

describe('ESP explicit IVs', { skip: nativeAvailable() ? undefined : 'native addon not built' }, () => {
  test('AES-CBC: 16-byte IVs, none repeated among 20,000 of one SA', () => {
    const list = ivs(CBC, 20_000);
    assert.ok(list.every((iv) => iv.length === 16));
    assert.equal(new Set(list.map(hex)).size, list.length);
  });

  test('AES-CBC: two SAs with the same keys and SPI do not produce the same IVs', () => {
    const a = ivs(CBC, 64).map(hex);
    const b = new Set(ivs(CBC, 64).map(hex));
    assert.equal(a.filter((x) => b.has(x)).length, 0);
  });

  test('AES-CBC: the sequence number does not show through and every bit is set about half the time', () => {
    const list = ivs(CBC, 4096);
    // Neither the counter in the clear nor a fixed part: no byte position keeps one value.
    for (let pos = 0; pos < 16; pos++) {
      assert.ok(new Set(list.map((iv) => iv[pos])).size > 200, `byte ${pos} takes few values`);
    }
    for (let bit = 0; bit < 128; bit++) {
      const ones = list.filter((iv) => (iv[bit >> 3] >> (7 - (bit & 7))) & 1).length;
      // Binomial(4096, 1/2): sd 32; 6 sd either side.
      assert.ok(Math.abs(ones - 2048) < 192, `bit ${bit} set ${ones} of 4096 times`);
    }
  });

  test('AES-CBC: a packet sealed with a generated IV opens with the same SA', () => {
    const [iv] = ivs(CBC, 1);
    const payload = bytes(333, 9);
    const packet = espCrypto.seal(CBC, 1, iv, payload);
    assert.deepEqual([...packet.subarray(8, 24)], [...iv]);
    const r = espCrypto.open(CBC, packet);
    assert.equal(r.status, 'ok');
    assert.deepEqual([...(r.payload ?? [])], [...payload]);
  });

  test('AES-GCM: the IV is the 64-bit sequence number (RFC 4106 section 3.1)', () => {
    const list = ivs(GCM, 300);
    list.forEach((iv, i) => {
      const want = Buffer.alloc(8);
      want.writeBigUInt64BE(BigInt(i + 1));
      assert.equal(hex(iv), want.toString('hex'));
    });
  });
});
