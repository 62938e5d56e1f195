/**
 * ESP (RFC 4303, transport mode) types for the native dataplane: the SA
 * parameters the IKE side pushes down, per-SA counters for
 * `show crypto ipsec sa`, and stateless seal/open helpers (known-answer tests).
 * Key material crosses as Uint8Array; sequence numbers as safe integers.
 */
import { u32ToIpv4 } from '../../protocols/wire/index.js';
import { loadNative, type RawSa, type RawSaRow, type RawSaStats } from './binding.js';

/** ESP encryption transforms: AES-GCM with a 16-byte ICV (RFC 4106), AES-CBC (RFC 3602). */
export type EspCipher = 'aes-gcm-128' | 'aes-gcm-256' | 'aes-cbc-128' | 'aes-cbc-256';
/** Integrity for AES-CBC: HMAC-SHA1-96 (RFC 2404), HMAC-SHA-256-128 (RFC 4868). */
export type EspIntegrity = 'hmac-sha1-96' | 'hmac-sha256-128';

/** An SA's keys and options (the SPI is given separately for inbound SAs). */
export interface EspSaKeys {
  readonly cipher: EspCipher;
  /** AES-GCM: the AES key followed by the 4-byte salt (RFC 4106 section 8.1: 20 or 36 bytes). AES-CBC: the AES key. */
  readonly key: Uint8Array;
  /** Required with AES-CBC, absent with AES-GCM. */
  readonly integrity?: EspIntegrity;
  /** HMAC key: 20 bytes for SHA1, 32 for SHA-256. */
  readonly authKey?: Uint8Array;
  /** Extended sequence numbers (RFC 4303 section 2.2.1); default off: 32-bit counter, no wrap. */
  readonly esn?: boolean;
  /** Outbound: the last sequence number used (default 0: the first packet carries 1). */
  readonly seq?: number;
}
export interface EspSa extends EspSaKeys {
  /** 256 .. 2^32-1 (RFC 4303 section 2.1). */
  readonly spi: number;
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
}
export interface InboundSaStats extends SaCounters {
  /** Highest authenticated sequence number (right edge of the replay window). */
  readonly seq: number;
  readonly replayDrops: number;
  readonly authFailures: number;
}
export interface SaStats {
  readonly outbound: readonly OutboundSaStats[];
  readonly inbound: readonly InboundSaStats[];
  /** Protected peers and how many packets wait for their SA. */
  readonly protected: readonly { readonly nbma: string; readonly queued: number }[];
}

export type EspOpenStatus = 'ok' | 'tooShort' | 'replay' | 'authFailed' | 'badPadding' | 'badNextHeader' | 'error';

export function toRawSa(spi: number, sa: EspSaKeys): RawSa {
  const raw: RawSa = { spi, cipher: sa.cipher, key: sa.key };
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
    outbound: r.outbound.map((o) => ({ ...counters(o), nbma: u32ToIpv4(o.nbma ?? 0), seq: o.seq }))
      .sort((a, b) => a.spi - b.spi),
    inbound: r.inbound.map((i) => ({ ...counters(i), seq: i.seq, replayDrops: i.replayDrops ?? 0, authFailures: i.authFailures ?? 0 }))
      .sort((a, b) => a.spi - b.spi),
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
