/**
 * EIGRP TLVs (RFC 7868 section 6.6): a 16-bit type, a 16-bit length that
 * counts the 4-byte TLV header, then the value. The general TLVs of section
 * 6.7 and the IPv4 route TLVs are decoded; every other TLV (IPv6 routes, TID
 * lists, communities, wide routes of other families, future types) is kept as
 * raw bytes so a packet re-encodes byte for byte.
 *
 * A known TLV whose value does not have the structure its type demands is a
 * WireError naming the TLV: the receive path drops and counts the packet.
 */
import { Reader, Writer, WireError } from '../wire/index.js';
import { EigrpTlvType, EIGRP_TLV_HEADER_LENGTH, eigrpTlvName } from './constants.js';
import { addressListLength, emitAddressList, parseAddressList } from './addr.js';
import {
  type ClassicRouteTlv,
  type WideRouteTlv,
  classicRouteValueLength,
  emitClassicRouteValue,
  emitWideRouteValue,
  isIpv4WideValue,
  parseClassicRouteValue,
  parseWideRouteValue,
  wideRouteValueLength,
} from './route.js';

const PROTO = 'eigrp';

/** RFC 7868 section 6.7.1: metric weights and hold time (value of 8 bytes). */
export interface ParametersTlv {
  readonly kind: 'parameters';
  readonly k1: number;
  readonly k2: number;
  readonly k3: number;
  readonly k4: number;
  readonly k5: number;
  /** K6 (wide metrics' extended attributes); IOS classic sends 0 here. */
  readonly k6: number;
  /** Seconds. */
  readonly holdTime: number;
}

/**
 * RFC 7868 section 6.7.2, in the layout Wireshark and IOS use:
 *   auth type (2) | auth length (2) | key id (4) | key sequence (4) | null pad (8) | digest
 * The auth length field is the digest length (16 for MD5, 32 for HMAC-SHA-256).
 */
export interface AuthenticationTlv {
  readonly kind: 'authentication';
  /** EigrpAuthType. */
  readonly authType: number;
  readonly keyId: number;
  readonly keySequence: number;
  /** The 8 "null pad" bytes, kept as received (zero when IOS sends them). */
  readonly padding: Uint8Array;
  readonly digest: Uint8Array;
}

export const AUTH_PAD_LENGTH = 8;
/** Bytes of the authentication value before the digest. */
export const AUTH_FIXED_LENGTH = 2 + 2 + 4 + 4 + AUTH_PAD_LENGTH;

/** RFC 7868 section 6.7.3: addresses of peers that must not accept the next CR-flagged multicast. */
export interface SequenceTlv {
  readonly kind: 'sequence';
  /** Dotted IPv4, IPv6 text, or hex for other lengths. */
  readonly addresses: readonly string[];
}

/** RFC 7868 section 6.7.4: "IOS version: 12.4, EIGRP version 1.2" in tcpdump's words. */
export interface SoftwareVersionTlv {
  readonly kind: 'softwareVersion';
  readonly iosMajor: number;
  readonly iosMinor: number;
  readonly tlvMajor: number;
  readonly tlvMinor: number;
}

/** RFC 7868 section 6.7.5: sequence number of the multicast that follows this Hello. */
export interface NextMulticastSequenceTlv {
  readonly kind: 'nextMulticastSequence';
  readonly sequence: number;
}

/** RFC 7868 section 6.7.6: the sender is a stub; flags say which routes it advertises. */
export interface StubTlv {
  readonly kind: 'stub';
  /** EigrpStubFlag bits. */
  readonly flags: number;
}

/**
 * RFC 7868 section 6.7.7. The RFC form has no value; IOS's older form (also
 * what FRR sends) lists the neighbours being terminated as (length, address)
 * pairs, like the Sequence TLV. An empty list is the RFC form.
 */
export interface PeerTerminationTlv {
  readonly kind: 'peerTermination';
  readonly addresses: readonly string[];
}

/** Any TLV not decoded here, kept verbatim. */
export interface UnknownTlv {
  readonly kind: 'unknown';
  readonly type: number;
  readonly value: Uint8Array;
}

export type EigrpTlv =
  | ParametersTlv
  | AuthenticationTlv
  | SequenceTlv
  | SoftwareVersionTlv
  | NextMulticastSequenceTlv
  | StubTlv
  | PeerTerminationTlv
  | ClassicRouteTlv
  | WideRouteTlv
  | UnknownTlv;

export type EigrpTlvKind = EigrpTlv['kind'];

/** The wire type of a TLV value. */
export function tlvType(t: EigrpTlv): number {
  switch (t.kind) {
    case 'parameters':
      return EigrpTlvType.PARAMETERS;
    case 'authentication':
      return EigrpTlvType.AUTHENTICATION;
    case 'sequence':
      return EigrpTlvType.SEQUENCE;
    case 'softwareVersion':
      return EigrpTlvType.SOFTWARE_VERSION;
    case 'nextMulticastSequence':
      return EigrpTlvType.NEXT_MULTICAST_SEQUENCE;
    case 'stub':
      return EigrpTlvType.STUB;
    case 'peerTermination':
      return EigrpTlvType.PEER_TERMINATION;
    case 'classicRoute':
      return t.external ? EigrpTlvType.IPV4_EXTERNAL : EigrpTlvType.IPV4_INTERNAL;
    case 'wideRoute':
      return t.external ? EigrpTlvType.MP_EXTERNAL : EigrpTlvType.MP_INTERNAL;
    case 'unknown':
      return t.type;
  }
}

function expectLength(v: Reader, n: number, what: string): void {
  if (v.length !== n) v.fail(`${what} value is ${v.length} bytes, expected ${n}`, 0);
}

/** Decode the value of a TLV of the given type (the reader spans exactly the value). */
function parseValue(type: number, v: Reader): EigrpTlv {
  switch (type) {
    case EigrpTlvType.PARAMETERS: {
      expectLength(v, 8, 'parameters');
      return { kind: 'parameters', k1: v.u8(), k2: v.u8(), k3: v.u8(), k4: v.u8(), k5: v.u8(), k6: v.u8(), holdTime: v.u16() };
    }
    case EigrpTlvType.AUTHENTICATION: {
      if (v.length < AUTH_FIXED_LENGTH) v.need(AUTH_FIXED_LENGTH, 'authentication value truncated');
      const authType = v.u16();
      const authLength = v.u16();
      const keyId = v.u32();
      const keySequence = v.u32();
      const padding = v.bytes(AUTH_PAD_LENGTH);
      if (authLength !== v.remaining) v.fail(`authentication length ${authLength} but ${v.remaining} digest bytes`, 2);
      return { kind: 'authentication', authType, keyId, keySequence, padding, digest: v.rest() };
    }
    case EigrpTlvType.SEQUENCE:
      return { kind: 'sequence', addresses: parseAddressList(v) };
    case EigrpTlvType.SOFTWARE_VERSION:
      expectLength(v, 4, 'software version');
      return { kind: 'softwareVersion', iosMajor: v.u8(), iosMinor: v.u8(), tlvMajor: v.u8(), tlvMinor: v.u8() };
    case EigrpTlvType.NEXT_MULTICAST_SEQUENCE:
      expectLength(v, 4, 'next multicast sequence');
      return { kind: 'nextMulticastSequence', sequence: v.u32() };
    case EigrpTlvType.STUB:
      expectLength(v, 2, 'stub');
      return { kind: 'stub', flags: v.u16() };
    case EigrpTlvType.PEER_TERMINATION:
      return { kind: 'peerTermination', addresses: parseAddressList(v) };
    case EigrpTlvType.IPV4_INTERNAL:
    case EigrpTlvType.IPV4_EXTERNAL:
      return parseClassicRouteValue(v, type === EigrpTlvType.IPV4_EXTERNAL);
    case EigrpTlvType.MP_INTERNAL:
    case EigrpTlvType.MP_EXTERNAL:
      if (isIpv4WideValue(v)) return parseWideRouteValue(v, type === EigrpTlvType.MP_EXTERNAL);
      return { kind: 'unknown', type, value: v.rest() };
    default:
      return { kind: 'unknown', type, value: v.rest() };
  }
}

/** Parse one TLV at the reader's cursor. */
export function parseTlv(r: Reader): EigrpTlv {
  const at = r.offset;
  const type = r.u16();
  const length = r.u16();
  if (length < EIGRP_TLV_HEADER_LENGTH) r.fail(`${eigrpTlvName(type)} length ${length} is under 4`, at + 2);
  if (length - EIGRP_TLV_HEADER_LENGTH > r.remaining) {
    throw new WireError(PROTO, `${eigrpTlvName(type)} truncated`, at + EIGRP_TLV_HEADER_LENGTH, length - EIGRP_TLV_HEADER_LENGTH, r.remaining);
  }
  const v = r.sub(length - EIGRP_TLV_HEADER_LENGTH);
  try {
    const t = parseValue(type, v);
    if (v.remaining !== 0) v.fail(`${v.remaining} bytes left over`);
    return t;
  } catch (e) {
    // Re-anchor the error at the packet and name the TLV, for the drop log.
    if (e instanceof WireError && e.protocol === PROTO && !e.reason.startsWith(eigrpTlvName(type))) {
      throw new WireError(PROTO, `${eigrpTlvName(type)}: ${e.reason}`, at + EIGRP_TLV_HEADER_LENGTH + e.offset, e.needed, e.available);
    }
    throw e;
  }
}

/** Length of a TLV's value (without the 4-byte TLV header). */
export function tlvValueLength(t: EigrpTlv): number {
  switch (t.kind) {
    case 'parameters':
      return 8;
    case 'authentication':
      return AUTH_FIXED_LENGTH + t.digest.length;
    case 'sequence':
    case 'peerTermination':
      return addressListLength(t.addresses);
    case 'softwareVersion':
    case 'nextMulticastSequence':
      return 4;
    case 'stub':
      return 2;
    case 'classicRoute':
      return classicRouteValueLength(t);
    case 'wideRoute':
      return wideRouteValueLength(t);
    case 'unknown':
      return t.value.length;
  }
}

export function tlvLength(t: EigrpTlv): number {
  return EIGRP_TLV_HEADER_LENGTH + tlvValueLength(t);
}

export function emitTlv(t: EigrpTlv, w: Writer): void {
  const length = tlvLength(t);
  if (length > 0xffff) throw new WireError(PROTO, `${t.kind} TLV of ${length} bytes does not fit the length field`, w.pos);
  const start = w.pos;
  w.u16(tlvType(t)).u16(length);
  switch (t.kind) {
    case 'parameters':
      w.u8(t.k1).u8(t.k2).u8(t.k3).u8(t.k4).u8(t.k5).u8(t.k6).u16(t.holdTime);
      break;
    case 'authentication':
      if (t.padding.length !== AUTH_PAD_LENGTH) throw new WireError(PROTO, `authentication padding is ${t.padding.length} bytes, not 8`, w.pos);
      w.u16(t.authType).u16(t.digest.length).u32(t.keyId).u32(t.keySequence).bytes(t.padding).bytes(t.digest);
      break;
    case 'sequence':
    case 'peerTermination':
      emitAddressList(t.addresses, w);
      break;
    case 'softwareVersion':
      w.u8(t.iosMajor).u8(t.iosMinor).u8(t.tlvMajor).u8(t.tlvMinor);
      break;
    case 'nextMulticastSequence':
      w.u32(t.sequence);
      break;
    case 'stub':
      w.u16(t.flags);
      break;
    case 'classicRoute':
      emitClassicRouteValue(t, w);
      break;
    case 'wideRoute':
      emitWideRouteValue(t, w);
      break;
    case 'unknown':
      w.bytes(t.value);
      break;
  }
  if (w.pos - start !== length) throw new WireError(PROTO, `${t.kind} TLV wrote ${w.pos - start} bytes, length said ${length}`, start);
}
