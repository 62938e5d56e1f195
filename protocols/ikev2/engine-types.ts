/**
 * The IKEv2 engine's outputs (actions for the daemon), its state and reason
 * vocabularies, and the drop reasons it counts.
 */
import type { Endpoint } from './build.js';
import type { EncrAlg, IntegAlg } from './crypto.js';

export type { Endpoint };

/** IKE SA states: one handler per state in sa-machine.ts. */
export type IkeState =
  /** Initiator: IKE_SA_INIT request sent (also after a COOKIE or INVALID_KE_PAYLOAD retry). */
  | 'init-sent'
  /** Initiator: IKE_AUTH request sent. */
  | 'auth-sent'
  /** Responder: IKE_SA_INIT answered, waiting for IKE_AUTH (a half-open SA). */
  | 'init-replied'
  | 'established'
  /** Replaced by a rekeyed IKE SA (RFC 7296 section 2.18); kept until the old SA's delete completes. */
  | 'rekeyed'
  /** We sent a Delete for this IKE SA and wait for the answer. */
  | 'deleting'
  | 'closed';

/** Why an IKE SA changed state: the closed list `setState` logs. */
export type IkeReason =
  | 'connect'
  | 'peer IKE_SA_INIT'
  | 'IKE_SA_INIT done'
  | 'authenticated'
  | 'authentication failed'
  | 'peer reported authentication failure'
  | 'no proposal chosen'
  | 'error notify from peer'
  | 'malformed exchange'
  | 'retransmissions exhausted'
  | 'dead peer detected'
  | 'half-open timeout'
  | 'deleted by peer'
  | 'deleted locally'
  | 'lifetime expired'
  | 'rekeyed'
  | 'rekey collision lost'
  | 'initial contact';

/** The ESP SA pair of a child SA, in the daemon's terms (xfrm states or the userspace dataplane). */
export interface ChildSaInfo {
  /** Our inbound SPI (the peer sends with it) and our outbound SPI (the peer's inbound). */
  readonly spiIn: number;
  readonly spiOut: number;
  readonly encr: { readonly id: number; readonly keyBits: number; readonly name: string };
  /** Absent for AES-GCM. */
  readonly integ?: { readonly id: number; readonly name: string; readonly icvBits: number };
  /** Keys by direction; `inbound` decrypts what arrives with spiIn. */
  readonly inbound: { readonly encrKey: Uint8Array; readonly integKey: Uint8Array };
  readonly outbound: { readonly encrKey: Uint8Array; readonly integKey: Uint8Array };
  /** The same keys in RFC 7296 section 2.17 terms (i = initiator of the exchange that made the SA). */
  readonly keys: { readonly ei: Uint8Array; readonly ai: Uint8Array; readonly er: Uint8Array; readonly ar: Uint8Array };
  /** True when we initiated the exchange that created this SA. */
  readonly initiator: boolean;
  readonly mode: 'transport';
  readonly local: string;
  readonly remote: string;
  /** IP protocol of the traffic selectors: GRE. */
  readonly protocol: 47;
  /** UDP encapsulation (RFC 3948) when a NAT was detected: our port and the peer's. */
  readonly natT?: { readonly srcPort: number; readonly dstPort: number };
  readonly lifetimeSeconds: number;
  /** PFS group of the exchange that made it, if any. */
  readonly pfsGroup?: number;
}

export type IkeAction =
  /**
   * A UDP datagram: from our `from` endpoint (port 500, or 4500 after NAT detection) to `to`.
   * On port 4500 `bytes` already starts with the non-ESP marker (RFC 3948 section 2.2): the
   * engine adds it, the daemon sends the payload as it is. A NAT-keepalive is the single octet 0xFF.
   */
  | { readonly kind: 'send'; readonly from: Endpoint; readonly to: Endpoint; readonly bytes: Uint8Array }
  | { readonly kind: 'ike-up'; readonly peer: string; readonly spiI: bigint; readonly spiR: bigint; readonly initiator: boolean }
  /** An IKE SA ended; `wasUp` false for a negotiation that never completed. Not sent for an SA replaced by a rekey. */
  | { readonly kind: 'ike-down'; readonly peer: string; readonly spiI: bigint; readonly spiR: bigint; readonly reason: string; readonly wasUp: boolean }
  | { readonly kind: 'child-up'; readonly peer: string; readonly child: ChildSaInfo }
  /**
   * A new child SA replaces `replaced` (RFC 7296 section 2.8): install it and send with it from
   * now on; keep the old inbound SA until its 'child-down' (reason 'rekeyed') follows.
   */
  | { readonly kind: 'child-rekeyed'; readonly peer: string; readonly replaced: { readonly spiIn: number; readonly spiOut: number }; readonly child: ChildSaInfo }
  | { readonly kind: 'child-down'; readonly peer: string; readonly spiIn: number; readonly spiOut: number; readonly reason: string }
  | { readonly kind: 'log'; readonly level: 'debug' | 'info' | 'warn'; readonly msg: string; readonly fields?: Readonly<Record<string, unknown>> };

/** Reasons a received datagram is dropped; each is a counter. */
export const IkeDropReason = {
  MALFORMED: 'malformed',
  NOT_IKEV2: 'not IKEv2',
  NOT_IKE: 'not an IKE message',
  UNKNOWN_SPI: 'unknown SPI',
  MESSAGE_ID: 'message ID out of window',
  UNEXPECTED: 'unexpected message',
  ICV: 'integrity check failed',
  BAD_SK: 'undecryptable SK payload',
  BAD_KE: 'invalid key exchange data',
  BAD_COOKIE: 'bad cookie',
  FRAGMENT: 'IKE fragment (not supported)',
  /** An answer to a request we have since replaced (a COOKIE or INVALID_KE_PAYLOAD retry of IKE_SA_INIT). */
  SUPERSEDED: 'answer to a superseded request',
} as const;

export type IkeDropReasonName = (typeof IkeDropReason)[keyof typeof IkeDropReason];

export function encrDisplay(e: EncrAlg): string {
  return e.aead ? `AES-GCM-${e.keyBits}` : `AES-CBC-${e.keyBits}`;
}

export function integDisplay(i: IntegAlg): string {
  return `HMAC-${i.hash.toUpperCase()}-${i.icvSize * 8}`;
}
