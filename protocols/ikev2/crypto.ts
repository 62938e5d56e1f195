/**
 * IKEv2 key derivation and authentication, RFC 7296 sections 2.13 to 2.18,
 * and the algorithm tables the engine negotiates from.
 *
 *   prf+ (K,S) = T1 | T2 | T3 | ...   T1 = prf (K, S | 0x01), Tn = prf (K, Tn-1 | S | n)   (2.13)
 *   SKEYSEED = prf(Ni | Nr, g^ir)                                                          (2.14)
 *   {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)
 *   KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr)                                            (2.17)
 *   SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)   (rekeyed IKE SA, old SA's PRF)      (2.18)
 *   AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)                   (2.15)
 *
 * With HMAC PRFs the key of prf(Ni | Nr, ...) is the whole nonce concatenation
 * (only fixed-key PRFs such as AES-XCBC truncate it, and none are offered here).
 */
import { createHmac } from 'node:crypto';
import { EncrId, IntegId, PrfId } from './constants.js';

export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

export interface PrfAlg {
  readonly id: number;
  readonly hash: HashName;
  /** Output and preferred key size in octets (RFC 7296 section 2.13). */
  readonly size: number;
  /** IOS `show crypto ikev2 sa` wording. */
  readonly iosName: string;
}

export interface IntegAlg {
  readonly id: number;
  readonly hash: HashName;
  readonly keySize: number;
  /** Truncated ICV length (RFC 2404, RFC 4868). */
  readonly icvSize: number;
  /** IOS "Hash:" wording (SHA96 is HMAC-SHA1-96). */
  readonly iosName: string;
}

export interface EncrAlg {
  readonly id: number;
  readonly keyBits: number;
  /** Key material taken from prf+: the key, plus 4 salt octets for GCM (RFC 5282 section 7.1). */
  readonly keyMaterial: number;
  readonly aead: boolean;
  /** IV octets carried in the SK payload: 16 for CBC, 8 for GCM (RFC 5282 section 3.1). */
  readonly ivSize: number;
  readonly blockSize: number;
  /** AEAD tag length (16 for ENCR_AES_GCM_16). */
  readonly icvSize: number;
  readonly cipher: string;
}

const PRFS: readonly PrfAlg[] = [
  { id: PrfId.PRF_HMAC_SHA1, hash: 'sha1', size: 20, iosName: 'SHA1' },
  { id: PrfId.PRF_HMAC_SHA2_256, hash: 'sha256', size: 32, iosName: 'SHA256' },
  { id: PrfId.PRF_HMAC_SHA2_384, hash: 'sha384', size: 48, iosName: 'SHA384' },
  { id: PrfId.PRF_HMAC_SHA2_512, hash: 'sha512', size: 64, iosName: 'SHA512' },
];

const INTEGS: readonly IntegAlg[] = [
  { id: IntegId.AUTH_HMAC_SHA1_96, hash: 'sha1', keySize: 20, icvSize: 12, iosName: 'SHA96' },
  { id: IntegId.AUTH_HMAC_SHA2_256_128, hash: 'sha256', keySize: 32, icvSize: 16, iosName: 'SHA256' },
  { id: IntegId.AUTH_HMAC_SHA2_384_192, hash: 'sha384', keySize: 48, icvSize: 24, iosName: 'SHA384' },
  { id: IntegId.AUTH_HMAC_SHA2_512_256, hash: 'sha512', keySize: 64, icvSize: 32, iosName: 'SHA512' },
];

export function prfAlg(id: number): PrfAlg | undefined {
  return PRFS.find((p) => p.id === id);
}

export function integAlg(id: number): IntegAlg | undefined {
  return INTEGS.find((p) => p.id === id);
}

/** AES-CBC (128/192/256) and AES-GCM with a 16-octet ICV (128/256); undefined otherwise. */
export function encrAlg(id: number, keyBits: number | undefined): EncrAlg | undefined {
  if (keyBits === undefined) return undefined;
  if (id === EncrId.ENCR_AES_CBC && (keyBits === 128 || keyBits === 192 || keyBits === 256)) {
    return { id, keyBits, keyMaterial: keyBits / 8, aead: false, ivSize: 16, blockSize: 16, icvSize: 0, cipher: `aes-${keyBits}-cbc` };
  }
  if (id === EncrId.ENCR_AES_GCM_16 && (keyBits === 128 || keyBits === 256)) {
    return { id, keyBits, keyMaterial: keyBits / 8 + 4, aead: true, ivSize: 8, blockSize: 1, icvSize: 16, cipher: `aes-${keyBits}-gcm` };
  }
  return undefined;
}

export function prf(alg: PrfAlg, key: Uint8Array, ...data: Uint8Array[]): Uint8Array {
  const h = createHmac(alg.hash, key);
  for (const d of data) h.update(d);
  return new Uint8Array(h.digest());
}

/** prf+ (RFC 7296 section 2.13); at most 255 iterations. */
export function prfPlus(alg: PrfAlg, key: Uint8Array, seed: Uint8Array, length: number): Uint8Array {
  if (length > 255 * alg.size) throw new RangeError(`prf+ cannot produce ${length} octets`);
  const out = new Uint8Array(length);
  let t: Uint8Array = new Uint8Array(0);
  for (let n = 1, at = 0; at < length; n++) {
    t = prf(alg, key, t, seed, Uint8Array.of(n));
    out.set(t.subarray(0, Math.min(t.length, length - at)), at);
    at += t.length;
  }
  return out;
}

export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function spiBytes(spi: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, spi));
  return b;
}

/** The negotiated IKE SA algorithms. */
export interface IkeSuite {
  readonly encr: EncrAlg;
  /** Absent with an AEAD cipher (RFC 7296 section 3.3.3). */
  readonly integ?: IntegAlg;
  readonly prf: PrfAlg;
  readonly dh: number;
}

export interface IkeKeys {
  readonly skD: Uint8Array;
  readonly skAi: Uint8Array;
  readonly skAr: Uint8Array;
  readonly skEi: Uint8Array;
  readonly skEr: Uint8Array;
  readonly skPi: Uint8Array;
  readonly skPr: Uint8Array;
}

/** SKEYSEED of a new IKE SA (section 2.14). */
export function skeyseed(alg: PrfAlg, ni: Uint8Array, nr: Uint8Array, gir: Uint8Array): Uint8Array {
  return prf(alg, concatBytes(ni, nr), gir);
}

/** SKEYSEED of an IKE SA made by rekeying, with the old SA's PRF and SK_d (section 2.18). */
export function rekeyedSkeyseed(oldPrf: PrfAlg, oldSkD: Uint8Array, gir: Uint8Array, ni: Uint8Array, nr: Uint8Array): Uint8Array {
  return prf(oldPrf, oldSkD, gir, ni, nr);
}

/** The seven SK_* keys from SKEYSEED (section 2.14), sized by the suite. */
export function deriveIkeKeys(suite: IkeSuite, seed: Uint8Array, ni: Uint8Array, nr: Uint8Array, spiI: bigint, spiR: bigint): IkeKeys {
  const p = suite.prf.size;
  const a = suite.integ?.keySize ?? 0;
  const e = suite.encr.keyMaterial;
  const km = prfPlus(suite.prf, seed, concatBytes(ni, nr, spiBytes(spiI), spiBytes(spiR)), p + 2 * a + 2 * e + 2 * p);
  let at = 0;
  const take = (n: number): Uint8Array => km.slice(at, (at += n));
  return { skD: take(p), skAi: take(a), skAr: take(a), skEi: take(e), skEr: take(e), skPi: take(p), skPr: take(p) };
}

/** The negotiated ESP algorithms of a child SA. */
export interface ChildSuite {
  readonly encr: EncrAlg;
  readonly integ?: IntegAlg;
  /** PFS group of a CREATE_CHILD_SA exchange, if one was negotiated. */
  readonly dh?: number;
}

export interface ChildKeys {
  /** Initiator-to-responder encryption and integrity keys, then the other direction (section 2.17). */
  readonly ei: Uint8Array;
  readonly ai: Uint8Array;
  readonly er: Uint8Array;
  readonly ar: Uint8Array;
}

/** KEYMAT for a child SA; `gir` is the PFS shared secret of a CREATE_CHILD_SA exchange, if any. */
export function deriveChildKeys(alg: PrfAlg, skD: Uint8Array, suite: ChildSuite, ni: Uint8Array, nr: Uint8Array, gir?: Uint8Array): ChildKeys {
  const e = suite.encr.keyMaterial;
  const a = suite.integ?.keySize ?? 0;
  const seed = gir ? concatBytes(gir, ni, nr) : concatBytes(ni, nr);
  const km = prfPlus(alg, skD, seed, 2 * (e + a));
  let at = 0;
  const take = (n: number): Uint8Array => km.slice(at, (at += n));
  const ei = take(e);
  const ai = take(a);
  const er = take(e);
  const ar = take(a);
  return { ei, ai, er, ar };
}

const KEY_PAD = Uint8Array.from('Key Pad for IKEv2', (c) => c.charCodeAt(0));

/**
 * The AUTH data of a shared-key MIC (section 2.15): the sender signs the first
 * message it sent, the peer's nonce and prf(SK_px, <its ID payload body>).
 * `idBody` is ID Type, the 3 RESERVED octets and the Identification Data.
 */
export function pskAuth(alg: PrfAlg, psk: Uint8Array, message: Uint8Array, peerNonce: Uint8Array, skP: Uint8Array, idBody: Uint8Array): Uint8Array {
  const key = prf(alg, psk, KEY_PAD);
  return prf(alg, key, message, peerNonce, prf(alg, skP, idBody));
}

export function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** Compare without an early exit, so a forged AUTH or ICV reveals nothing by timing. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

export function hmac(hash: HashName, key: Uint8Array, ...data: Uint8Array[]): Uint8Array {
  const h = createHmac(hash, key);
  for (const d of data) h.update(d);
  return new Uint8Array(h.digest());
}
