/**
 * UDP encapsulation of ESP for NAT traversal, RFC 3948, on UDP port 4500.
 * One port carries three things, told apart by their first octets:
 *
 *  - section 2.3: a NAT-keepalive is a single octet 0xFF;
 *  - section 2.2: an IKE message is prefixed by the non-ESP marker, four zero
 *    octets (an SPI of 0 is never sent, RFC 4303 section 2.1);
 *  - section 2.1: anything else is an ESP packet whose SPI is the first word.
 *
 * The IKE message is kept opaque here (IKEv1 and IKEv2 both use the marker; see
 * ikeVersion in protocols/ikev2/header.ts to tell them apart).
 */
import { Reader, Writer, WireError } from '../wire/index.js';
import { type EspPacket, ESP_HEADER, parseEsp, emitEsp, espLength } from './wire.js';

export const NON_ESP_MARKER_LENGTH = 4;
/** The non-ESP marker (RFC 3948 section 2.2). */
export const NON_ESP_MARKER: Uint8Array = new Uint8Array(NON_ESP_MARKER_LENGTH);
/** The one octet of a NAT-keepalive (RFC 3948 section 2.3). */
export const NAT_KEEPALIVE_OCTET = 0xff;
/** A whole NAT-keepalive payload. */
export const NAT_KEEPALIVE: Uint8Array = Uint8Array.of(NAT_KEEPALIVE_OCTET);
/** The 28-octet IKE header: the least an IKE message after the marker can hold. */
const IKE_HEADER = 28;

export type UdpEncapKind = 'keepalive' | 'ike' | 'esp';

/**
 * What a UDP/4500 payload is, from its first octets, without copying. Throws
 * WireError for a payload that is none of the three: empty, a short non-keepalive,
 * a marker with less than an IKE header behind it, or ESP shorter than its header.
 */
export function classifyUdpEncap(payload: Uint8Array): UdpEncapKind {
  const n = payload.length;
  if (n === 1 && payload[0] === NAT_KEEPALIVE_OCTET) return 'keepalive';
  if (n < NON_ESP_MARKER_LENGTH) throw new WireError('udpencap', `${n}-octet payload is neither a keepalive nor ESP`, 0, ESP_HEADER, n);
  if (payload[0] === 0 && payload[1] === 0 && payload[2] === 0 && payload[3] === 0) {
    if (n < NON_ESP_MARKER_LENGTH + IKE_HEADER) {
      throw new WireError('udpencap', 'non-ESP marker without an IKE header', NON_ESP_MARKER_LENGTH, IKE_HEADER, n - NON_ESP_MARKER_LENGTH);
    }
    return 'ike';
  }
  if (n < ESP_HEADER) throw new WireError('udpencap', 'ESP shorter than its header', 0, ESP_HEADER, n);
  return 'esp';
}

export type UdpEncapPayload =
  | { readonly kind: 'keepalive' }
  | { readonly kind: 'ike'; /** The IKE message after the marker. */ readonly message: Uint8Array }
  | { readonly kind: 'esp'; readonly packet: EspPacket };

/** Parse a UDP/4500 payload that fills the reader's window. */
export function parseUdpEncap(r: Reader): UdpEncapPayload {
  const kind = classifyUdpEncap(r.window().subarray(r.offset));
  switch (kind) {
    case 'keepalive':
      r.skip(1);
      return { kind };
    case 'ike':
      r.skip(NON_ESP_MARKER_LENGTH);
      return { kind, message: r.rest() };
    case 'esp':
      return { kind, packet: parseEsp(r) };
  }
}

export function udpEncapLength(p: UdpEncapPayload): number {
  switch (p.kind) {
    case 'keepalive': return 1;
    case 'ike': return NON_ESP_MARKER_LENGTH + p.message.length;
    case 'esp': return espLength(p.packet);
  }
}

export function emitUdpEncap(p: UdpEncapPayload, w: Writer): void {
  switch (p.kind) {
    case 'keepalive': w.u8(NAT_KEEPALIVE_OCTET); return;
    case 'ike': w.zeros(NON_ESP_MARKER_LENGTH).bytes(p.message); return;
    case 'esp': emitEsp(p.packet, w); return;
  }
}

export const udpEncapCodec = {
  protocol: 'udpencap',
  parse: parseUdpEncap,
  emit: emitUdpEncap,
  length: udpEncapLength,
} as const;

/** An IKE message as sent on port 4500: the marker, then the message. */
export function withNonEspMarker(ike: Uint8Array): Uint8Array {
  const out = new Uint8Array(NON_ESP_MARKER_LENGTH + ike.length);
  out.set(ike, NON_ESP_MARKER_LENGTH);
  return out;
}
