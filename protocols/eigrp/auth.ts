/**
 * Packet authentication, RFC 7868 section 6.7.2: MD5 (type 2) and
 * HMAC-SHA-256 (type 3). The Authentication TLV is the first TLV, right after
 * the 20-byte header, so the digest sits at a fixed offset:
 *
 *   0        20   24      26      28       32        36        44          44+n
 *   | header | T L | type | dlen | key id | key seq | null pad | digest ... | other TLVs
 *
 * What IOS feeds the hash is not in the RFC. The rules below are the ones FRR
 * eigrpd (eigrp_packet.c) and John the Ripper's EIGRP format (eigrp_fmt_plug.c)
 * reconstructed from IOS captures; no capture with authentication is among our
 * vectors, so they are the documented best guess, kept in this one file:
 *   - MD5: the first 44 bytes (checksum zeroed), the key string padded with
 *     zeros (or cut) to 16 bytes, then the TLVs after the Authentication TLV
 *     except their last 20 bytes (IOS's own length arithmetic; on a plain
 *     Hello that leaves nothing, as both sources observe);
 *   - MD5 on an Update with the INIT flag: the first 40 bytes only, no key
 *     (both sources: "no password is involved");
 *   - HMAC-SHA-256: key = "\n" + key string + the sender's address in dotted
 *     text (Cisco: "the shared secret concatenated with the IPv4 address the
 *     packet is sent from"; the leading newline is John's finding), data = the
 *     same byte ranges as MD5 without the key.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { EigrpAuthType, EigrpFlag, EigrpOpcode, EIGRP_HEADER_LENGTH, EIGRP_TLV_HEADER_LENGTH } from './constants.js';
import { AUTH_FIXED_LENGTH, AUTH_PAD_LENGTH, type AuthenticationTlv } from './tlv.js';
import { eigrpChecksum, type EigrpPacket } from './wire.js';
import type { EigrpAuthConfig, EigrpKey } from './config.js';

/** Offset of the digest inside the packet when the Authentication TLV comes first. */
export const AUTH_DIGEST_OFFSET = EIGRP_HEADER_LENGTH + EIGRP_TLV_HEADER_LENGTH + AUTH_FIXED_LENGTH;
/** Bytes of a MD5 INIT update that IOS hashes. */
const INIT_HASHED = 40;
/** IOS leaves the last 20 bytes of the packet out of the digest. */
const TAIL_SHORTFALL = 20;

export type AuthFailure = 'missing authentication' | 'authentication type mismatch' | 'unknown key' | 'bad digest';

function digestLength(mode: EigrpAuthConfig['mode']): number {
  return mode === 'md5' ? 16 : 32;
}

function authType(mode: EigrpAuthConfig['mode']): number {
  return mode === 'md5' ? EigrpAuthType.MD5 : EigrpAuthType.SHA256;
}

/** The key IOS sends with: the lowest key ID. */
export function sendKey(auth: EigrpAuthConfig): EigrpKey | undefined {
  let best: EigrpKey | undefined;
  for (const k of auth.keys) if (!best || k.id < best.id) best = k;
  return best;
}

/** The Authentication TLV to put first in a packet, with a zero digest that sign() fills in. */
export function authPlaceholder(auth: EigrpAuthConfig): AuthenticationTlv | undefined {
  const key = sendKey(auth);
  if (!key) return undefined;
  return {
    kind: 'authentication',
    authType: authType(auth.mode),
    keyId: key.id >>> 0,
    keySequence: 0,
    padding: new Uint8Array(AUTH_PAD_LENGTH),
    digest: new Uint8Array(digestLength(auth.mode)),
  };
}

/** The byte ranges IOS hashes, with the checksum taken as zero. */
function hashedRanges(bytes: Uint8Array, dlen: number, md5Key: Uint8Array | undefined): Uint8Array[] {
  const head = bytes.slice(0, AUTH_DIGEST_OFFSET);
  head[2] = 0;
  head[3] = 0;
  const opcode = bytes[1];
  const flags = (bytes[4] << 24) | (bytes[5] << 16) | (bytes[6] << 8) | bytes[7];
  if (md5Key && opcode === EigrpOpcode.UPDATE && (flags & EigrpFlag.INIT) !== 0) return [head.subarray(0, INIT_HASHED)];
  const tailStart = AUTH_DIGEST_OFFSET + dlen;
  const tailEnd = bytes.length - TAIL_SHORTFALL;
  const tail = tailEnd > tailStart ? bytes.subarray(tailStart, tailEnd) : new Uint8Array(0);
  return md5Key ? [head, md5Key, tail] : [head, tail];
}

function md5KeyBytes(secret: string): Uint8Array {
  const k = new Uint8Array(16);
  k.set(new TextEncoder().encode(secret).subarray(0, 16));
  return k;
}

function computeDigest(bytes: Uint8Array, mode: EigrpAuthConfig['mode'], key: EigrpKey, source: string): Uint8Array {
  if (mode === 'md5') {
    const h = createHash('md5');
    for (const part of hashedRanges(bytes, 16, md5KeyBytes(key.secret))) h.update(part);
    return new Uint8Array(h.digest());
  }
  const h = createHmac('sha256', `\n${key.secret}${source}`);
  for (const part of hashedRanges(bytes, 32, undefined)) h.update(part);
  return new Uint8Array(h.digest());
}

/** The packet checksum, written in place (computed with the field taken as zero). */
function rechecksum(bytes: Uint8Array): void {
  const ck = eigrpChecksum(bytes);
  bytes[2] = ck >>> 8;
  bytes[3] = ck & 0xff;
}

/**
 * Fill the digest of an encoded packet whose first TLV is authPlaceholder(auth),
 * then fix the checksum (IOS computes the checksum last). Works in place.
 */
export function signPacket(bytes: Uint8Array, auth: EigrpAuthConfig, source: string): Uint8Array {
  const key = sendKey(auth);
  if (!key) return bytes;
  const digest = computeDigest(bytes, auth.mode, key, source);
  bytes.set(digest, AUTH_DIGEST_OFFSET);
  rechecksum(bytes);
  return bytes;
}

/** Check a received packet against the interface's keys; undefined when it passes. */
export function verifyPacket(bytes: Uint8Array, packet: EigrpPacket, auth: EigrpAuthConfig, source: string): AuthFailure | undefined {
  const first = packet.tlvs[0];
  if (!first || first.kind !== 'authentication') return 'missing authentication';
  if (first.authType !== authType(auth.mode) || first.digest.length !== digestLength(auth.mode)) return 'authentication type mismatch';
  const key = auth.keys.find((k) => k.id >>> 0 === first.keyId);
  if (!key) return 'unknown key';
  if (bytes.length < AUTH_DIGEST_OFFSET + first.digest.length) return 'bad digest';
  const want = computeDigest(bytes, auth.mode, key, source);
  const got = bytes.subarray(AUTH_DIGEST_OFFSET, AUTH_DIGEST_OFFSET + want.length);
  return timingSafeEqual(want, got) ? undefined : 'bad digest';
}
