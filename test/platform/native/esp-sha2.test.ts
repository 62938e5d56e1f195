/**
 * ESP integrity HMAC-SHA-384-192 and HMAC-SHA-512-256 (RFC 4868) with AES-CBC
 * in the native transforms: byte for byte what node:crypto computes (ESN on
 * and off), the key and ICV lengths of RFC 4868 section 2.1, authentication
 * of every bit, and Wireshark decrypting and verifying what we seal.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { toHex } from '../../../protocols/wire/index.js';
import { IpProto } from '../../../protocols/ip/ipv4.js';
import { GreProto } from '../../../protocols/gre/wire.js';
import { writePcap, LinkType } from '../../../daemon/capture/pcap.js';
import { needsTool } from '../../support/tools.js';
import { nativeAvailable, espCrypto, ESP_INTEGRITY_ICV_LENGTH, ESP_INTEGRITY_KEY_LENGTH, type EspSa } from '../../../platform/native/index.js';
import { gre, ipv4, icmpEcho } from './packets.js';
import { assertClean, fields } from '../../wireshark/support.js';
import { tsharkEsp, uatRow } from './esp-tshark.js';

const be32 = (n: number): Uint8Array => Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
const cat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));
const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (seed + i * 13) & 0xff);

/** payload | 1, 2, 3 ... | padLen | 47, to a 16-byte block (RFC 4303 section 2.4, RFC 3602). */
function trailer(payload: Uint8Array): Uint8Array {
  const pad = (16 - ((payload.length + 2) % 16)) % 16;
  return cat(payload, Uint8Array.from({ length: pad }, (_, i) => i + 1), Uint8Array.of(pad, 47));
}

const HASH = { 'hmac-sha384-192': 'sha384', 'hmac-sha512-256': 'sha512' } as const;

/** RFC 3602 + RFC 4868: ICV = HMAC-SHA-384/512(SPI | seq | IV | ciphertext [| seq-hi with ESN]), first half. */
function jsCbcSha2(sa: EspSa & { integrity: keyof typeof HASH }, seq: number, iv: Uint8Array, payload: Uint8Array): Uint8Array {
  const c = createCipheriv(sa.key.length === 16 ? 'aes-128-cbc' : 'aes-256-cbc', sa.key, iv).setAutoPadding(false);
  const head = cat(be32(sa.spi), be32(seq >>> 0), iv, c.update(trailer(payload)), c.final());
  const h = createHmac(HASH[sa.integrity], sa.authKey!).update(head);
  if (sa.esn) h.update(be32(Math.floor(seq / 2 ** 32)));
  const full = h.digest();
  return cat(head, full.subarray(0, full.length / 2));
}

const GRE_PACKET = gre(GreProto.IPV4, ipv4('10.0.0.1', '10.0.0.2', IpProto.ICMP, icmpEcho(3, 4)), { key: 100 });

const SAS: readonly (EspSa & { integrity: keyof typeof HASH })[] = [
  { spi: 0x3841, cipher: 'aes-cbc-128', integrity: 'hmac-sha384-192', key: bytes(16, 1), authKey: bytes(48, 2) },
  { spi: 0x3842, cipher: 'aes-cbc-256', integrity: 'hmac-sha384-192', key: bytes(32, 3), authKey: bytes(48, 4), esn: true },
  { spi: 0x5121, cipher: 'aes-cbc-256', integrity: 'hmac-sha512-256', key: bytes(32, 5), authKey: bytes(64, 6) },
  { spi: 0x5122, cipher: 'aes-cbc-128', integrity: 'hmac-sha512-256', key: bytes(16, 7), authKey: bytes(64, 8), esn: true },
];

describe('ESP HMAC-SHA-384-192 and HMAC-SHA-512-256 (no namespaces)', { skip: nativeAvailable() ? undefined : 'native addon not built' }, () => {
  for (const sa of SAS) {
    test(`${sa.cipher} + ${sa.integrity}${sa.esn ? ' (ESN)' : ''} matches node:crypto`, () => {
      const seq = sa.esn ? 0x2_0000_0009 : 9;
      const iv = bytes(16, 0x60);
      const native = espCrypto.seal(sa, seq, iv, GRE_PACKET);
      assert.equal(toHex(native), toHex(jsCbcSha2(sa, seq, iv, GRE_PACKET)));
      const icv = ESP_INTEGRITY_ICV_LENGTH[sa.integrity];
      assert.equal(icv, sa.integrity === 'hmac-sha384-192' ? 24 : 32, 'RFC 4868: 192 and 256 bits');
      assert.equal(native.length, 8 + 16 + trailer(GRE_PACKET).length + icv, 'SPI, seq, IV, ciphertext, ICV');
      const opened = espCrypto.open(sa, sa.esn ? espCrypto.seal(sa, 9, iv, GRE_PACKET) : native);
      assert.equal(opened.status, 'ok');
      assert.deepEqual(opened.payload, GRE_PACKET);
      if (sa.esn) assert.equal(espCrypto.open(sa, native).status, 'authFailed', 'the high half is in the ICV though not sent');
    });
  }

  test('any flipped bit fails authentication; every payload length round-trips', () => {
    fc.assert(fc.property(fc.constantFrom(...SAS), fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.nat(), fc.integer({ min: 0, max: 7 }), (sa, payload, pos, bit) => {
      const pkt = espCrypto.seal(sa, 41, bytes(16, 9), payload);
      assert.deepEqual(espCrypto.open(sa, pkt).payload ?? new Uint8Array(0), payload);
      const bad = pkt.slice();
      bad[4 + (pos % (bad.length - 4))] ^= 1 << bit;
      assert.equal(espCrypto.open(sa, bad).status, 'authFailed');
    }), { numRuns: 300 });
  });

  test('a truncated ICV is refused: the packet is too short or the ICV no longer matches', () => {
    const sa = SAS[2];
    const pkt = espCrypto.seal(sa, 1, bytes(16, 1), GRE_PACKET);
    // 16 bytes off: a SHA-256-128 length ICV, not ours.
    const r = espCrypto.open(sa, pkt.subarray(0, pkt.length - 16));
    assert.ok(r.status === 'authFailed' || r.status === 'badPadding', r.status);
    assert.equal(espCrypto.open(sa, pkt.subarray(0, 8 + 16 + 16 + 31)).status, 'tooShort');
  });

  test('the HMAC key must be as long as the hash (48, 64 bytes); the integrity name is checked', () => {
    assert.deepEqual(ESP_INTEGRITY_KEY_LENGTH, { 'hmac-sha1-96': 20, 'hmac-sha256-128': 32, 'hmac-sha384-192': 48, 'hmac-sha512-256': 64 });
    for (const [integrity, wrong] of [['hmac-sha384-192', 32], ['hmac-sha384-192', 64], ['hmac-sha512-256', 48], ['hmac-sha512-256', 32]] as const) {
      assert.throws(
        () => espCrypto.seal({ spi: 0x1000, cipher: 'aes-cbc-128', integrity, key: bytes(16, 0), authKey: bytes(wrong, 0) }, 1, bytes(16, 0), GRE_PACKET),
        (e: unknown) => e instanceof RangeError && e.message.includes(`${ESP_INTEGRITY_KEY_LENGTH[integrity]}-byte authKey`),
        `${integrity} with a ${wrong}-byte key`,
      );
    }
    assert.throws(
      () => espCrypto.seal({ spi: 0x1000, cipher: 'aes-cbc-128', integrity: 'hmac-sha384' as 'hmac-sha384-192', key: bytes(16, 0), authKey: bytes(48, 0) }, 1, bytes(16, 0), GRE_PACKET),
      (e: unknown) => e instanceof RangeError && /hmac-sha384-192/.test(e.message),
    );
    assert.throws(() => espCrypto.seal({ spi: 0x1000, cipher: 'aes-gcm-128', integrity: 'hmac-sha512-256', key: bytes(20, 0), authKey: bytes(64, 0) }, 1, bytes(8, 0), GRE_PACKET), RangeError);
  });
});

test('wireshark decrypts what we seal with HMAC-SHA-384-192 and HMAC-SHA-512-256 and finds every ICV good', { skip: nativeAvailable() ? needsTool('tshark').skip : 'native addon not built' }, () => {
  const plain = SAS.filter((s) => !s.esn); // Wireshark's esp_sa table has no ESN column
  const src = '192.0.2.1';
  const dst = '192.0.2.2';
  const packets: Uint8Array[] = [];
  for (const sa of plain) {
    for (const seq of [1, 2]) packets.push(ipv4(src, dst, IpProto.ESP, espCrypto.seal(sa, seq, bytes(16, seq * 3), GRE_PACKET)));
  }
  const frames = tsharkEsp(writePcap(packets.map((data) => ({ data })), LinkType.RAW), plain.map((sa) => uatRow(src, dst, sa)));
  assert.equal(frames.length, packets.length);
  frames.forEach((f, i) => {
    const what = `frame ${i + 1} (${plain[i >> 1].integrity})`;
    assertClean(f, what);
    assert.deepEqual(fields(f, 'esp.icv_good'), ['1'], `${what}: ICV good`);
    assert.deepEqual(fields(f, 'esp.icv_bad'), ['0'], what);
    assert.deepEqual(fields(f, 'gre.key').map(Number), [100], `${what}: the keyed GRE inside`);
    assert.deepEqual(fields(f, 'icmp.type'), ['8'], `${what}: the ICMP echo inside`);
  });
});
