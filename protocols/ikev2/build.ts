/**
 * Builders for the IKE_SA_INIT exchange (RFC 7296 section 1.2) and the NAT
 * detection hashes of section 2.23. They return message values; the caller
 * encodes them with encodeIkeMessage.
 *
 *   request:   HDR, [N(COOKIE)], SA, KE, Ni, [V+], [N(NAT_DETECTION_*_IP)], [N+], [V+]
 *   response:  HDR, SA, KE, Nr, [V+], [N(NAT_DETECTION_*_IP)], [N+], [V+]
 *
 * Cisco IOS orders its IKE_SA_INIT as SA, KE, Nonce, its three VIDs, the two
 * NAT detection notifies, then the FRAGMENTATION VID, and it sends Protocol ID
 * 1 on the NAT notifies where RFC 7296 section 3.10 says 0; both are options
 * here so the daemon can send what an IOS peer sends.
 */
import { createHash } from 'node:crypto';
import { ipv4Bytes } from '../wire/index.js';
import { ExchangeType, NotifyType, ProtocolId } from './constants.js';
import type { IkeHeader } from './header.js';
import type { Payload, NotifyPayload } from './payloads.js';
import type { Proposal } from './sa.js';
import { ipv6Bytes } from './selectors.js';
import type { IkeMessage } from './wire.js';

const EMPTY = new Uint8Array(0);

/** A Notify payload carrying no SPI (the form for notifications about the IKE SA itself). */
export function notify(notifyType: number, data: Uint8Array = EMPTY, protocolId: number = ProtocolId.NONE): NotifyPayload {
  return { kind: 'N', protocolId, notifyType, spi: EMPTY, data };
}

function u64(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v));
  return b;
}

/**
 * RFC 7296 section 2.23: SHA-1(SPIi | SPIr | IP address | port). For the source
 * notify use the address and port the datagram leaves from, for the destination
 * notify the ones it is sent to. SPIr is zero in the first IKE_SA_INIT request.
 */
export function natDetectionHash(spiI: bigint, spiR: bigint, address: string, port: number): Uint8Array {
  const addr = address.includes(':') ? ipv6Bytes(address) : ipv4Bytes(address);
  const h = createHash('sha1');
  h.update(u64(spiI)).update(u64(spiR)).update(addr).update(Uint8Array.of(port >> 8, port & 0xff));
  return new Uint8Array(h.digest());
}

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

/** The two NAT detection notifies for a datagram sent from `source` to `destination`. */
export function natDetectionNotifies(spiI: bigint, spiR: bigint, source: Endpoint, destination: Endpoint, protocolId: number = ProtocolId.NONE): NotifyPayload[] {
  return [
    notify(NotifyType.NAT_DETECTION_SOURCE_IP, natDetectionHash(spiI, spiR, source.address, source.port), protocolId),
    notify(NotifyType.NAT_DETECTION_DESTINATION_IP, natDetectionHash(spiI, spiR, destination.address, destination.port), protocolId),
  ];
}

export interface SaInitOptions {
  readonly spiI: bigint;
  /** Offered proposals (request) or the one chosen (response: exactly one, keeping its Proposal Num). */
  readonly proposals: readonly Proposal[];
  readonly dhGroup: number;
  /** Our Diffie-Hellman public value. */
  readonly keyExchange: Uint8Array;
  /** Ni or Nr: at least 16 octets and half the PRF key size (section 2.10). */
  readonly nonce: Uint8Array;
  /** Where this datagram leaves from and goes to, for the NAT detection notifies (section 2.23). */
  readonly nat?: { readonly source: Endpoint; readonly destination: Endpoint };
  /** Protocol ID on the NAT detection notifies: 0 by RFC 7296 section 3.10, 1 as Cisco IOS sends. */
  readonly natNotifyProtocolId?: number;
  /** Request only: the COOKIE to echo as the first payload (section 2.6). */
  readonly cookie?: Uint8Array;
  /** Vendor IDs placed after the nonce (Cisco: DELETE-REASON, COPYRIGHT, GRE-MODE). */
  readonly vendorIds?: readonly Uint8Array[];
  /** Further status notifies after the NAT ones, e.g. IKEV2_FRAGMENTATION_SUPPORTED. */
  readonly notifies?: readonly NotifyPayload[];
  /** Vendor IDs placed last (Cisco: FRAGMENTATION). */
  readonly trailingVendorIds?: readonly Uint8Array[];
  /** Defaults to 0, the message ID of IKE_SA_INIT (section 2.2). */
  readonly messageId?: number;
}

function saInitPayloads(o: SaInitOptions, spiR: bigint): Payload[] {
  const out: Payload[] = [];
  if (o.cookie) out.push(notify(NotifyType.COOKIE, o.cookie));
  out.push({ kind: 'SA', proposals: o.proposals });
  out.push({ kind: 'KE', group: o.dhGroup, data: o.keyExchange });
  out.push({ kind: 'Nonce', data: o.nonce });
  for (const v of o.vendorIds ?? []) out.push({ kind: 'V', data: v });
  if (o.nat) out.push(...natDetectionNotifies(o.spiI, spiR, o.nat.source, o.nat.destination, o.natNotifyProtocolId));
  out.push(...(o.notifies ?? []));
  for (const v of o.trailingVendorIds ?? []) out.push({ kind: 'V', data: v });
  return out;
}

function header(spiI: bigint, spiR: bigint, response: boolean, messageId: number): IkeHeader {
  return {
    spiI,
    spiR,
    majorVersion: 2,
    minorVersion: 0,
    exchangeType: ExchangeType.IKE_SA_INIT,
    initiator: !response,
    response,
    higherVersion: false,
    messageId,
  };
}

/** The initiator's IKE_SA_INIT request (SPIr zero, I flag set). */
export function buildSaInitRequest(o: SaInitOptions): IkeMessage {
  return { header: header(o.spiI, 0n, false, o.messageId ?? 0), payloads: saInitPayloads(o, 0n) };
}

/** The responder's IKE_SA_INIT response carrying its SPI and the chosen proposal (R flag set, I clear). */
export function buildSaInitResponse(o: SaInitOptions & { readonly spiR: bigint }): IkeMessage {
  if (o.proposals.length !== 1) throw new RangeError(`an IKE_SA_INIT response carries one proposal, not ${o.proposals.length}`);
  if (o.cookie) throw new RangeError('a response does not echo a COOKIE');
  return { header: header(o.spiI, o.spiR, true, o.messageId ?? 0), payloads: saInitPayloads(o, o.spiR) };
}

/**
 * A response that carries one notify and nothing else, with SPIr zero: the
 * COOKIE challenge (section 2.6), INVALID_KE_PAYLOAD with the group wanted
 * (section 1.3), or NO_PROPOSAL_CHOSEN.
 */
export function buildSaInitNotifyResponse(request: IkeHeader, notifyType: number, data: Uint8Array = EMPTY): IkeMessage {
  return { header: header(request.spiI, 0n, true, request.messageId), payloads: [notify(notifyType, data)] };
}

/** INVALID_KE_PAYLOAD's data: the 2-octet DH group the responder wants (section 3.10.1). */
export function invalidKeData(group: number): Uint8Array {
  return Uint8Array.of(group >> 8, group & 0xff);
}
