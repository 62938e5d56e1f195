/**
 * The Encrypted and Authenticated payload, RFC 7296 section 3.14, sealed and
 * opened over a whole message:
 *
 *   IKE header | SK header | IV | E(inner payloads | Padding | Pad Length) | ICV
 *
 *  - AES-CBC with an HMAC: a random 16-octet IV, padding to the block size, and
 *    an ICV that covers the message from the first octet of the IKE header to
 *    the end of the ciphertext (section 3.14), truncated to the integrity
 *    algorithm's length.
 *  - AES-GCM-16 (RFC 5282): an 8-octet IV, the nonce salt | IV with the salt
 *    the last 4 octets of SK_e, no padding, the 16-octet tag as the ICV, and as
 *    additional data everything from the IKE header to the end of the SK
 *    payload's generic header (RFC 5282 section 5.1).
 *
 * Keys by direction: messages sent by the original initiator (I flag) use
 * SK_ei/SK_ai, the others SK_er/SK_ar (section 2.14).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { Reader, WireError, encode } from '../wire/index.js';
import type { IkeHeader } from './header.js';
import { type Payload, emitPayloads, payloadsLength, firstPayloadType, parsePayloads } from './payloads.js';
import { type IkeMessage, encodeIkeMessage } from './wire.js';
import { type EncrAlg, type IntegAlg, hmac, constantTimeEqual } from './crypto.js';
import type { RandomSource } from './dh.js';

/** The keys of one direction. */
export interface SkKeys {
  readonly encr: EncrAlg;
  readonly integ?: IntegAlg;
  readonly encKey: Uint8Array;
  readonly integKey: Uint8Array;
}

function padFor(encr: EncrAlg, n: number): number {
  // n octets of payloads plus the Pad Length octet, rounded up to the block size.
  return encr.blockSize <= 1 ? 0 : (encr.blockSize - ((n + 1) % encr.blockSize)) % encr.blockSize;
}

/** Encode a message whose payloads go inside one SK payload (no cleartext payloads before it). */
export function sealMessage(header: IkeHeader, inner: readonly Payload[], keys: SkKeys, random: RandomSource): Uint8Array {
  const { encr } = keys;
  const innerBytes = encode(inner, emitPayloads, payloadsLength, 'ikev2');
  const padLength = padFor(encr, innerBytes.length);
  const plain = new Uint8Array(innerBytes.length + padLength + 1);
  plain.set(innerBytes);
  plain[plain.length - 1] = padLength;
  const iv = random(encr.ivSize);
  const icvSize = encr.aead ? encr.icvSize : keys.integ?.icvSize ?? 0;
  const ctLength = plain.length;
  const body = new Uint8Array(encr.ivSize + ctLength + icvSize);
  body.set(iv);
  const msg: IkeMessage = { header, payloads: [{ kind: 'SK', firstPayload: firstPayloadType(inner), body }] };
  const bytes = encodeIkeMessage(msg);
  const bodyAt = bytes.length - body.length;
  if (encr.aead) {
    const key = keys.encKey.subarray(0, encr.keyBits / 8);
    const salt = keys.encKey.subarray(encr.keyBits / 8);
    const c = createCipheriv(encr.cipher as 'aes-128-gcm', key, Buffer.concat([salt, iv]), { authTagLength: encr.icvSize });
    c.setAAD(bytes.subarray(0, bodyAt));
    const ct = Buffer.concat([c.update(plain), c.final()]);
    bytes.set(ct, bodyAt + encr.ivSize);
    bytes.set(c.getAuthTag(), bodyAt + encr.ivSize + ctLength);
  } else {
    const c = createCipheriv(encr.cipher, keys.encKey, iv);
    c.setAutoPadding(false);
    const ct = Buffer.concat([c.update(plain), c.final()]);
    bytes.set(ct, bodyAt + encr.ivSize);
    if (keys.integ) {
      const icv = hmac(keys.integ.hash, keys.integKey, bytes.subarray(0, bytes.length - icvSize)).subarray(0, icvSize);
      bytes.set(icv, bytes.length - icvSize);
    }
  }
  return bytes;
}

export type OpenResult =
  | { readonly ok: true; readonly payloads: Payload[] }
  /** icv: the integrity check failed (a forgery or the wrong keys); malformed: the envelope or the inner chain is broken. */
  | { readonly ok: false; readonly reason: 'icv' | 'malformed' | 'no-sk' };

/**
 * Check and decrypt the SK payload of a received message (`bytes` exactly the
 * IKE message, `message` its parse). Never throws; nothing is decrypted before
 * the ICV has been checked.
 */
export function openMessage(bytes: Uint8Array, message: IkeMessage, keys: SkKeys): OpenResult {
  const last = message.payloads[message.payloads.length - 1];
  if (!last || last.kind !== 'SK') return { ok: false, reason: 'no-sk' };
  if (message.trailing) return { ok: false, reason: 'malformed' };
  const { encr } = keys;
  const body = last.body;
  const bodyAt = bytes.length - body.length;
  const icvSize = encr.aead ? encr.icvSize : keys.integ?.icvSize ?? 0;
  const ctLength = body.length - encr.ivSize - icvSize;
  if (ctLength < 1 || ctLength % Math.max(encr.blockSize, 1) !== 0) return { ok: false, reason: 'malformed' };
  const iv = body.subarray(0, encr.ivSize);
  const ct = body.subarray(encr.ivSize, encr.ivSize + ctLength);
  const icv = body.subarray(body.length - icvSize);
  let plain: Uint8Array;
  try {
    if (encr.aead) {
      const key = keys.encKey.subarray(0, encr.keyBits / 8);
      const salt = keys.encKey.subarray(encr.keyBits / 8);
      const d = createDecipheriv(encr.cipher as 'aes-128-gcm', key, Buffer.concat([salt, iv]), { authTagLength: encr.icvSize });
      d.setAAD(bytes.subarray(0, bodyAt));
      d.setAuthTag(icv);
      try {
        plain = new Uint8Array(Buffer.concat([d.update(ct), d.final()]));
      } catch {
        return { ok: false, reason: 'icv' };
      }
    } else {
      if (!keys.integ) return { ok: false, reason: 'malformed' };
      const mac = hmac(keys.integ.hash, keys.integKey, bytes.subarray(0, bytes.length - icvSize)).subarray(0, icvSize);
      if (!constantTimeEqual(mac, icv)) return { ok: false, reason: 'icv' };
      const d = createDecipheriv(encr.cipher, keys.encKey, iv);
      d.setAutoPadding(false);
      plain = new Uint8Array(Buffer.concat([d.update(ct), d.final()]));
    }
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const padLength = plain[plain.length - 1];
  if (padLength + 1 > plain.length) return { ok: false, reason: 'malformed' };
  const inner = plain.subarray(0, plain.length - 1 - padLength);
  try {
    const r = new Reader(inner, 'ikev2');
    const payloads = parsePayloads(r, last.firstPayload);
    if (r.remaining !== 0) return { ok: false, reason: 'malformed' };
    return { ok: true, payloads };
  } catch (e) {
    if (e instanceof WireError) return { ok: false, reason: 'malformed' };
    throw e;
  }
}
