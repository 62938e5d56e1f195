/**
 * Diffie-Hellman groups for the KE payload (RFC 7296 section 3.4), on node:crypto.
 *
 *  - MODP 2 (RFC 2409) and 5, 14 (RFC 3526): the public value is g^x mod p as
 *    a big-endian integer padded to the length of the prime, and so is the
 *    shared secret g^ir (RFC 7296 section 2.14). Groups 2 and 5 are weak; they
 *    are only negotiated when an old peer offers nothing better (policy.ts).
 *  - ECP 19, 20, 21 (RFC 5903 section 7): the public value is x || y, each
 *    coordinate padded to the field size, without the 0x04 point-format octet,
 *    and the shared secret is the x coordinate of the common point.
 *  - Curve25519 (RFC 8031 section 3.1): the 32-octet public key as is, and the
 *    32-octet X25519 output; an all-zero output is refused (section 2).
 *
 * The private value comes from the caller's `random` so a simulation is
 * deterministic; a peer's value that is not a valid public key (out of range,
 * not on the curve) yields undefined, never an exception.
 */
import { createDiffieHellman, createECDH, createPrivateKey, createPublicKey, diffieHellman, getDiffieHellman } from 'node:crypto';
import { DhGroup, dhGroupName } from './constants.js';

/** A source of random octets (crypto.randomBytes in the daemon, a seeded generator in tests). */
export type RandomSource = (n: number) => Uint8Array;

export interface DhGroupInfo {
  readonly id: number;
  readonly kind: 'modp' | 'ecp' | 'x25519';
  /** Octets of the KE payload's Key Exchange Data. */
  readonly publicLength: number;
  /** Below 2048-bit MODP strength: accepted only when the peer offers nothing else. */
  readonly weak: boolean;
  /** IOS `show crypto ikev2 proposal` wording, e.g. "DH_GROUP_256_ECP/Group 19". */
  readonly iosName: string;
}

const GROUPS: readonly DhGroupInfo[] = [
  { id: DhGroup.MODP_1024, kind: 'modp', publicLength: 128, weak: true, iosName: 'DH_GROUP_1024_MODP/Group 2' },
  { id: DhGroup.MODP_1536, kind: 'modp', publicLength: 192, weak: true, iosName: 'DH_GROUP_1536_MODP/Group 5' },
  { id: DhGroup.MODP_2048, kind: 'modp', publicLength: 256, weak: false, iosName: 'DH_GROUP_2048_MODP/Group 14' },
  { id: DhGroup.ECP_256, kind: 'ecp', publicLength: 64, weak: false, iosName: 'DH_GROUP_256_ECP/Group 19' },
  { id: DhGroup.ECP_384, kind: 'ecp', publicLength: 96, weak: false, iosName: 'DH_GROUP_384_ECP/Group 20' },
  { id: DhGroup.ECP_521, kind: 'ecp', publicLength: 132, weak: false, iosName: 'DH_GROUP_521_ECP/Group 21' },
  { id: DhGroup.CURVE25519, kind: 'x25519', publicLength: 32, weak: false, iosName: 'DH_GROUP_CURVE25519/Group 31' },
];

/** The groups this engine implements, in no particular preference. */
export const SUPPORTED_DH_GROUPS: readonly number[] = GROUPS.map((g) => g.id);

export function dhGroupInfo(id: number): DhGroupInfo | undefined {
  return GROUPS.find((g) => g.id === id);
}

export function isWeakDhGroup(id: number): boolean {
  return dhGroupInfo(id)?.weak ?? false;
}

/** The node:crypto names of the MODP primes (RFC 2409 / RFC 3526 values built into OpenSSL). */
const MODP_NAME: Record<number, string> = { [DhGroup.MODP_1024]: 'modp2', [DhGroup.MODP_1536]: 'modp5', [DhGroup.MODP_2048]: 'modp14' };
const CURVE: Record<number, string> = { [DhGroup.ECP_256]: 'prime256v1', [DhGroup.ECP_384]: 'secp384r1', [DhGroup.ECP_521]: 'secp521r1' };
const primes = new Map<number, Buffer>();

function modpPrime(id: number): Buffer {
  let p = primes.get(id);
  if (!p) {
    p = getDiffieHellman(MODP_NAME[id]).getPrime();
    primes.set(id, p);
  }
  return p;
}

/** One side's ephemeral key: the public value to send and the agreement with the peer's. */
export interface DhKeyPair {
  readonly group: number;
  readonly publicValue: Uint8Array;
  /** g^ir for the peer's Key Exchange Data, or undefined if that is not a valid public value. */
  computeSecret(peer: Uint8Array): Uint8Array | undefined;
}

function leftPad(b: Uint8Array, n: number): Uint8Array {
  if (b.length >= n) return b;
  const out = new Uint8Array(n);
  out.set(b, n - b.length);
  return out;
}

function modp(id: number, random: RandomSource): DhKeyPair {
  const p = modpPrime(id);
  const dh = createDiffieHellman(p, 2);
  // RFC 3526 section 8: an exponent of twice the symmetric strength suffices; 256 bits covers group 14.
  const priv = random(32);
  dh.setPrivateKey(priv);
  const pub = leftPad(new Uint8Array(dh.generateKeys()), p.length);
  return {
    group: id,
    publicValue: pub,
    computeSecret(peer) {
      if (peer.length !== p.length) return undefined;
      try {
        return leftPad(new Uint8Array(dh.computeSecret(peer)), p.length);
      } catch {
        return undefined;
      }
    },
  };
}

function ecp(id: number, random: RandomSource, coord: number): DhKeyPair {
  const ecdh = createECDH(CURVE[id]);
  for (let attempt = 0; ; attempt++) {
    const priv = random(coord);
    // P-521 private keys are below 2^521: keep only the low bit of the first octet.
    if (id === DhGroup.ECP_521) priv[0] &= 0x01;
    try {
      ecdh.setPrivateKey(priv);
      break;
    } catch (e) {
      if (attempt > 16) throw e;
    }
  }
  const pub = new Uint8Array(ecdh.getPublicKey(null, 'uncompressed')).subarray(1);
  return {
    group: id,
    publicValue: pub,
    computeSecret(peer) {
      if (peer.length !== 2 * coord) return undefined;
      try {
        const point = new Uint8Array(1 + peer.length);
        point[0] = 0x04;
        point.set(peer, 1);
        return leftPad(new Uint8Array(ecdh.computeSecret(point)), coord);
      } catch {
        return undefined;
      }
    },
  };
}

const X25519_PKCS8 = Uint8Array.of(0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20);
const X25519_SPKI = Uint8Array.of(0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00);

function concat(a: Uint8Array, b: Uint8Array): Buffer {
  return Buffer.concat([a, b]);
}

function x25519(random: RandomSource): DhKeyPair {
  const privateKey = createPrivateKey({ key: concat(X25519_PKCS8, random(32)), format: 'der', type: 'pkcs8' });
  const spki = new Uint8Array(createPublicKey(privateKey).export({ format: 'der', type: 'spki' }));
  return {
    group: DhGroup.CURVE25519,
    publicValue: spki.subarray(spki.length - 32),
    computeSecret(peer) {
      if (peer.length !== 32) return undefined;
      try {
        const publicKey = createPublicKey({ key: concat(X25519_SPKI, peer), format: 'der', type: 'spki' });
        const s = new Uint8Array(diffieHellman({ privateKey, publicKey }));
        // RFC 8031 section 2.1: an all-zero result means a low-order point; refuse it.
        return s.some((x) => x !== 0) ? s : undefined;
      } catch {
        return undefined;
      }
    },
  };
}

/** A fresh key pair for a supported group; RangeError for a group this engine does not implement. */
export function generateDh(group: number, random: RandomSource): DhKeyPair {
  const g = dhGroupInfo(group);
  if (!g) throw new RangeError(`Diffie-Hellman group ${dhGroupName(group)} is not supported`);
  switch (g.kind) {
    case 'modp': return modp(group, random);
    case 'ecp': return ecp(group, random, g.publicLength / 2);
    case 'x25519': return x25519(random);
  }
}
