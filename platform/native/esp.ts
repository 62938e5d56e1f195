/**
 * ESP (RFC 4303, transport mode) types for the native dataplane: the SA
 * parameters the IKE side pushes down (with UDP encapsulation for NAT
 * traversal, RFC 3948), per-SA counters for `show crypto ipsec sa`, and
 * stateless seal/open helpers (known-answer tests).
 * Key material crosses as Uint8Array; sequence numbers as safe integers.
 */
import { u32ToIpv4 } from '../../protocols/wire/index.js';
import { loadNative, type RawSa, type RawSaRow, type RawSaStats } from './binding.js';

/** ESP encryption transforms: AES-GCM with a 16-byte ICV (RFC 4106), AES-CBC (RFC 3602). */
export type EspCipher = 'aes-gcm-128' | 'aes-gcm-256' | 'aes-cbc-128' | 'aes-cbc-256';
/**
 * Integrity for AES-CBC: HMAC-SHA1-96 (RFC 2404); HMAC-SHA-256-128, -384-192
 * and -512-256 (RFC 4868: the key as long as the hash, the ICV half of it).
 */
export type EspIntegrity = 'hmac-sha1-96' | 'hmac-sha256-128' | 'hmac-sha384-192' | 'hmac-sha512-256';

/** HMAC key length in bytes for each integrity algorithm (RFC 2404 section 3, RFC 4868 section 2.1.1). */
export const ESP_INTEGRITY_KEY_LENGTH: { readonly [K in EspIntegrity]: number } = {
  'hmac-sha1-96': 20, 'hmac-sha256-128': 32, 'hmac-sha384-192': 48, 'hmac-sha512-256': 64,
};
/** ICV length in bytes on the wire for each integrity algorithm. */
export const ESP_INTEGRITY_ICV_LENGTH: { readonly [K in EspIntegrity]: number } = {
  'hmac-sha1-96': 12, 'hmac-sha256-128': 16, 'hmac-sha384-192': 24, 'hmac-sha512-256': 32,
};

/**
 * UDP encapsulation of an outbound SA (RFC 3948, NAT traversal): the ESP
 * packets leave the dataplane's UDP socket (openUdpEncapSocket) to the peer's
 * NBMA address at dstPort instead of going out as IP protocol 50.
 */
export interface EspEncap {
  /** Our port: must be the UDP socket's bound port (4500). */
  readonly srcPort: number;
  /** The peer's port as IKE last saw it: 4500, or what its NAT translated 4500 to. */
  readonly dstPort: number;
}

/** An SA's keys and options (the SPI is given separately for inbound SAs). */
export interface EspSaKeys {
  readonly cipher: EspCipher;
  /** AES-GCM: the AES key followed by the 4-byte salt (RFC 4106 section 8.1: 20 or 36 bytes). AES-CBC: the AES key. */
  readonly key: Uint8Array;
  /** Required with AES-CBC, absent with AES-GCM. */
  readonly integrity?: EspIntegrity;
  /** HMAC key: 20 bytes for SHA1, 32 for SHA-256, 48 for SHA-384, 64 for SHA-512. */
  readonly authKey?: Uint8Array;
  /** Extended sequence numbers (RFC 4303 section 2.2.1); default off: 32-bit counter, no wrap. */
  readonly esn?: boolean;
  /** Outbound: the last sequence number used (default 0: the first packet carries 1). */
  readonly seq?: number;
}
export interface EspSa extends EspSaKeys {
  /** 256 .. 2^32-1 (RFC 4303 section 2.1). */
  readonly spi: number;
  /** Outbound SAs only: send ESP-in-UDP (NAT-T) instead of IP protocol 50. */
  readonly encap?: EspEncap;
}

interface SaCounters {
  readonly spi: number;
  readonly cipher: EspCipher;
  readonly integrity?: EspIntegrity;
  readonly esn: boolean;
  readonly packets: number;
  /** Payload (GRE) bytes protected or verified. */
  readonly bytes: number;
}
export interface OutboundSaStats extends SaCounters {
  readonly nbma: string;
  /** Last sequence number sent. */
  readonly seq: number;
  /** Present for a UDP-encapsulated SA. */
  readonly encap?: EspEncap;
}
export interface InboundSaStats extends SaCounters {
  /** Highest authenticated sequence number (right edge of the replay window). */
  readonly seq: number;
  readonly replayDrops: number;
  readonly authFailures: number;
  /**
   * Outer source of the last authentic UDP-encapsulated packet of this SA
   * (absent until one came): where the peer's NAT maps it now. A port that
   * differs from the outbound SA's encap.dstPort means the NAT rebound.
   */
  readonly natSource?: { readonly address: string; readonly port: number };
}
export interface SaStats {
  readonly outbound: readonly OutboundSaStats[];
  readonly inbound: readonly InboundSaStats[];
  /** Protected peers and how many packets wait for their SA. */
  readonly protected: readonly { readonly nbma: string; readonly queued: number }[];
}

export type EspOpenStatus = 'ok' | 'tooShort' | 'replay' | 'authFailed' | 'badPadding' | 'badNextHeader' | 'error';

export function toRawSa(spi: number, sa: EspSaKeys & { readonly encap?: EspEncap }): RawSa {
  const raw: RawSa = { spi, cipher: sa.cipher, key: sa.key };
  if (sa.encap !== undefined) raw.encap = { srcPort: sa.encap.srcPort, dstPort: sa.encap.dstPort };
  if (sa.integrity !== undefined) raw.integrity = sa.integrity;
  if (sa.authKey !== undefined) raw.authKey = sa.authKey;
  if (sa.esn !== undefined) raw.esn = sa.esn;
  if (sa.seq !== undefined) raw.seq = sa.seq;
  return raw;
}

function counters(r: RawSaRow): SaCounters {
  const c: SaCounters = { spi: r.spi, cipher: r.cipher as EspCipher, esn: r.esn, packets: r.packets, bytes: r.bytes };
  return r.integrity === undefined ? c : { ...c, integrity: r.integrity as EspIntegrity };
}

export function fromRawSaStats(r: RawSaStats): SaStats {
  return {
    outbound: r.outbound.map((o): OutboundSaStats => {
      const row = { ...counters(o), nbma: u32ToIpv4(o.nbma ?? 0), seq: o.seq };
      return o.encapSrcPort === undefined || o.encapDstPort === undefined ? row : { ...row, encap: { srcPort: o.encapSrcPort, dstPort: o.encapDstPort } };
    }).sort((a, b) => a.spi - b.spi),
    inbound: r.inbound.map((i): InboundSaStats => {
      const row = { ...counters(i), seq: i.seq, replayDrops: i.replayDrops ?? 0, authFailures: i.authFailures ?? 0 };
      return i.natSrc === undefined || i.natSrcPort === undefined ? row : { ...row, natSource: { address: u32ToIpv4(i.natSrc), port: i.natSrcPort } };
    }).sort((a, b) => a.spi - b.spi),
    protected: r.protected.map((p) => ({ nbma: u32ToIpv4(p.nbma), queued: p.queued })),
  };
}

/** The native ESP transforms without a dataplane, with a caller-chosen IV (known-answer tests). */
export const espCrypto = {
  /** The ESP packet (SPI .. ICV) carrying `payload` with next header 47. */
  seal(sa: EspSa, seq: number, iv: Uint8Array, payload: Uint8Array): Uint8Array {
    return loadNative().espSeal(toRawSa(sa.spi, sa), seq, iv, payload);
  },
  /** Verify and decrypt one ESP packet (no replay check); payload when status is 'ok'. */
  open(sa: EspSa, packet: Uint8Array): { readonly status: EspOpenStatus; readonly payload?: Uint8Array } {
    const r = loadNative().espOpen(toRawSa(sa.spi, sa), packet);
    return { status: r.status as EspOpenStatus, ...(r.payload ? { payload: r.payload } : {}) };
  },
};
