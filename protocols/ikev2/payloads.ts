/**
 * IKEv2 payloads, RFC 7296 sections 3.2 to 3.16 and RFC 7383 section 2.5.
 *
 * A payload value is a discriminated union on `kind`. The generic header's
 * Next Payload and Payload Length are derived from the list order and the body
 * on emit; the C bit and the 7 RESERVED bits after it are kept. Every RESERVED
 * field of a body is kept too (omitted from the value when zero), so any chain
 * the parser accepts re-encodes byte for byte. Payload types this codec does not
 * decode are kept as `unknown` with their body, and the chain continues past
 * them (section 2.5: a receiver skips a non-critical payload it does not know).
 *
 * The Encrypted payload (SK, 3.14) and the Encrypted Fragment (SKF, RFC 7383)
 * are opaque envelopes: their Next Payload field names the first payload inside,
 * and the body (IV, ciphertext, ICV) is kept as received. They end the chain.
 */
import { Reader, Writer, WireError, ipv4ToString, ipv4Bytes } from '../wire/index.js';
import { PayloadType, IdType } from './constants.js';
import { PAYLOAD_HEADER_LENGTH, parsePayloadHeader, emitPayloadHeader } from './header.js';
import { type Proposal, parseSaBody, emitSaBody, saBodyLength } from './sa.js';
import { type TsBody, parseTsBody, emitTsBody, tsBodyLength, ipv6ToString, ipv6Bytes } from './selectors.js';
import { type CpBody, parseCpBody, emitCpBody, cpBodyLength } from './config.js';

/** Generic header bits a payload keeps (section 3.2). */
export interface PayloadFlags {
  /** The C bit, omitted when clear. */
  readonly critical?: boolean;
  /** The 7 RESERVED bits after C, omitted when 0. */
  readonly headerReserved?: number;
}

/** 3.3 */
export interface SaPayload extends PayloadFlags { readonly kind: 'SA'; readonly proposals: readonly Proposal[] }
/** 3.4: Diffie-Hellman Group Num, RESERVED (2 octets), Key Exchange Data. */
export interface KePayload extends PayloadFlags { readonly kind: 'KE'; readonly group: number; readonly data: Uint8Array; readonly reserved?: number }
/** 3.5: ID Type, RESERVED (3 octets), Identification Data. */
export interface IdPayload extends PayloadFlags { readonly kind: 'IDi' | 'IDr'; readonly idType: number; readonly data: Uint8Array; readonly reserved?: number }
/** 3.6 */
export interface CertPayload extends PayloadFlags { readonly kind: 'CERT'; readonly encoding: number; readonly data: Uint8Array }
/** 3.7: Certification Authority is a concatenation of 20-octet SHA-1 hashes of CA public keys for X.509. */
export interface CertReqPayload extends PayloadFlags { readonly kind: 'CERTREQ'; readonly encoding: number; readonly data: Uint8Array }
/** 3.8: Auth Method, RESERVED (3 octets), Authentication Data. */
export interface AuthPayload extends PayloadFlags { readonly kind: 'AUTH'; readonly method: number; readonly data: Uint8Array; readonly reserved?: number }
/** 3.9: Ni or Nr (the same payload type in both directions), 16 to 256 octets. */
export interface NoncePayload extends PayloadFlags { readonly kind: 'Nonce'; readonly data: Uint8Array }
/** 3.10: Protocol ID, SPI Size, Notify Message Type, SPI, Notification Data. */
export interface NotifyPayload extends PayloadFlags {
  readonly kind: 'N';
  /** 0 when the SPI is empty, per section 3.10; Cisco IOS sends 1 (IKE) on its NAT detection notifies. */
  readonly protocolId: number;
  readonly notifyType: number;
  readonly spi: Uint8Array;
  readonly data: Uint8Array;
}
/** 3.11: Protocol ID, SPI Size, Num of SPIs, SPIs. An IKE SA delete has SPI Size 0 and no SPIs. */
export interface DeletePayload extends PayloadFlags {
  readonly kind: 'D';
  readonly protocolId: number;
  readonly spiSize: number;
  readonly spis: readonly Uint8Array[];
}
/** 3.12 */
export interface VendorPayload extends PayloadFlags { readonly kind: 'V'; readonly data: Uint8Array }
/** 3.13 */
export interface TsPayload extends PayloadFlags, TsBody { readonly kind: 'TSi' | 'TSr' }
/** 3.14: the next-payload of the first inner payload, and IV + ciphertext + ICV as received. */
export interface SkPayload extends PayloadFlags { readonly kind: 'SK'; readonly firstPayload: number; readonly body: Uint8Array }
/** 3.15 */
export interface CpPayload extends PayloadFlags, CpBody { readonly kind: 'CP' }
/** 3.16: the EAP message (RFC 3748) as carried. */
export interface EapPayload extends PayloadFlags { readonly kind: 'EAP'; readonly message: Uint8Array }
/**
 * RFC 7383 section 2.5: Fragment Number and Total Fragments in clear, then
 * IV + ciphertext + ICV. Next Payload is the first inner payload in fragment 1, else 0.
 */
export interface SkfPayload extends PayloadFlags {
  readonly kind: 'SKF';
  readonly firstPayload: number;
  readonly fragmentNumber: number;
  readonly totalFragments: number;
  readonly body: Uint8Array;
}
/** Any other payload type, kept whole. */
export interface UnknownPayload extends PayloadFlags { readonly kind: 'unknown'; readonly type: number; readonly body: Uint8Array }

export type Payload =
  | SaPayload | KePayload | IdPayload | CertPayload | CertReqPayload | AuthPayload | NoncePayload
  | NotifyPayload | DeletePayload | VendorPayload | TsPayload | SkPayload | CpPayload | EapPayload
  | SkfPayload | UnknownPayload;

export type PayloadKind = Payload['kind'];

const KIND_TYPE: Record<Exclude<PayloadKind, 'unknown'>, number> = {
  SA: PayloadType.SA, KE: PayloadType.KE, IDi: PayloadType.IDi, IDr: PayloadType.IDr,
  CERT: PayloadType.CERT, CERTREQ: PayloadType.CERTREQ, AUTH: PayloadType.AUTH, Nonce: PayloadType.NONCE,
  N: PayloadType.NOTIFY, D: PayloadType.DELETE, V: PayloadType.VENDOR_ID, TSi: PayloadType.TSi,
  TSr: PayloadType.TSr, SK: PayloadType.SK, CP: PayloadType.CP, EAP: PayloadType.EAP, SKF: PayloadType.SKF,
};

/** The payload type number that goes on the wire for a payload value. */
export function payloadType(p: Payload): number {
  return p.kind === 'unknown' ? p.type : KIND_TYPE[p.kind];
}

export function isEncrypted(p: Payload): p is SkPayload | SkfPayload {
  return p.kind === 'SK' || p.kind === 'SKF';
}

function flagsOf(critical: boolean, reserved: number): PayloadFlags {
  return { ...(critical ? { critical: true } : {}), ...(reserved ? { headerReserved: reserved } : {}) };
}

function opt<K extends string>(key: K, n: number): { [P in K]?: number } {
  return (n ? { [key]: n } : {}) as { [P in K]?: number };
}

/** Parse one payload body of type `type` from a reader over exactly that body. */
function parseBody(type: number, nextPayload: number, b: Reader, f: PayloadFlags): Payload {
  switch (type) {
    case PayloadType.SA:
      return { kind: 'SA', ...f, proposals: parseSaBody(b) };
    case PayloadType.KE: {
      const group = b.u16();
      const reserved = b.u16();
      return { kind: 'KE', ...f, group, ...opt('reserved', reserved), data: b.rest() };
    }
    case PayloadType.IDi:
    case PayloadType.IDr: {
      const idType = b.u8();
      const reserved = b.u24();
      return { kind: type === PayloadType.IDi ? 'IDi' : 'IDr', ...f, idType, ...opt('reserved', reserved), data: b.rest() };
    }
    case PayloadType.CERT:
    case PayloadType.CERTREQ: {
      const encoding = b.u8();
      return { kind: type === PayloadType.CERT ? 'CERT' : 'CERTREQ', ...f, encoding, data: b.rest() };
    }
    case PayloadType.AUTH: {
      const method = b.u8();
      const reserved = b.u24();
      return { kind: 'AUTH', ...f, method, ...opt('reserved', reserved), data: b.rest() };
    }
    case PayloadType.NONCE:
      return { kind: 'Nonce', ...f, data: b.rest() };
    case PayloadType.NOTIFY: {
      const protocolId = b.u8();
      const spiSize = b.u8();
      const notifyType = b.u16();
      const spi = b.bytes(spiSize);
      return { kind: 'N', ...f, protocolId, notifyType, spi, data: b.rest() };
    }
    case PayloadType.DELETE: {
      const protocolId = b.u8();
      const spiSize = b.u8();
      const count = b.u16();
      if (spiSize * count !== b.remaining) {
        b.fail(`delete of ${count} SPIs of ${spiSize} octets does not fill ${b.remaining} octets`, 2);
      }
      const spis: Uint8Array[] = [];
      for (let i = 0; i < count; i++) spis.push(b.bytes(spiSize));
      return { kind: 'D', ...f, protocolId, spiSize, spis };
    }
    case PayloadType.VENDOR_ID:
      return { kind: 'V', ...f, data: b.rest() };
    case PayloadType.TSi:
    case PayloadType.TSr:
      return { kind: type === PayloadType.TSi ? 'TSi' : 'TSr', ...f, ...parseTsBody(b) };
    case PayloadType.SK:
      return { kind: 'SK', ...f, firstPayload: nextPayload, body: b.rest() };
    case PayloadType.CP:
      return { kind: 'CP', ...f, ...parseCpBody(b) };
    case PayloadType.EAP:
      return { kind: 'EAP', ...f, message: b.rest() };
    case PayloadType.SKF: {
      const fragmentNumber = b.u16();
      const totalFragments = b.u16();
      return { kind: 'SKF', ...f, firstPayload: nextPayload, fragmentNumber, totalFragments, body: b.rest() };
    }
    default:
      return { kind: 'unknown', ...f, type, body: b.rest() };
  }
}

/** Length of a payload's body (without the 4-octet generic header). */
export function payloadBodyLength(p: Payload): number {
  switch (p.kind) {
    case 'SA': return saBodyLength(p.proposals);
    case 'KE': return 4 + p.data.length;
    case 'IDi': case 'IDr': return 4 + p.data.length;
    case 'CERT': case 'CERTREQ': return 1 + p.data.length;
    case 'AUTH': return 4 + p.data.length;
    case 'Nonce': return p.data.length;
    case 'N': return 4 + p.spi.length + p.data.length;
    case 'D': return 4 + p.spiSize * p.spis.length;
    case 'V': return p.data.length;
    case 'TSi': case 'TSr': return tsBodyLength(p);
    case 'SK': return p.body.length;
    case 'CP': return cpBodyLength(p);
    case 'EAP': return p.message.length;
    case 'SKF': return 4 + p.body.length;
    case 'unknown': return p.body.length;
  }
}

export function payloadLength(p: Payload): number {
  return PAYLOAD_HEADER_LENGTH + payloadBodyLength(p);
}

function emitBody(p: Payload, w: Writer): void {
  switch (p.kind) {
    case 'SA': emitSaBody(p.proposals, w); return;
    case 'KE': w.u16(p.group).u16(p.reserved ?? 0).bytes(p.data); return;
    case 'IDi': case 'IDr': w.u8(p.idType).u24(p.reserved ?? 0).bytes(p.data); return;
    case 'CERT': case 'CERTREQ': w.u8(p.encoding).bytes(p.data); return;
    case 'AUTH': w.u8(p.method).u24(p.reserved ?? 0).bytes(p.data); return;
    case 'Nonce': case 'V': w.bytes(p.data); return;
    case 'N': w.u8(p.protocolId).u8(p.spi.length).u16(p.notifyType).bytes(p.spi).bytes(p.data); return;
    case 'D':
      w.u8(p.protocolId).u8(p.spiSize).u16(p.spis.length);
      for (const s of p.spis) {
        if (s.length !== p.spiSize) throw new WireError('ikev2', `delete SPI of ${s.length} octets, SPI Size ${p.spiSize}`, w.pos);
        w.bytes(s);
      }
      return;
    case 'TSi': case 'TSr': emitTsBody(p, w); return;
    case 'SK': case 'unknown': w.bytes(p.body); return;
    case 'CP': emitCpBody(p, w); return;
    case 'EAP': w.bytes(p.message); return;
    case 'SKF': w.u16(p.fragmentNumber).u16(p.totalFragments).bytes(p.body); return;
  }
}

/** The Next Payload value the first payload of a chain is announced with (0 for an empty chain). */
export function firstPayloadType(payloads: readonly Payload[]): number {
  return payloads.length === 0 ? PayloadType.NONE : payloadType(payloads[0]);
}

export function payloadsLength(payloads: readonly Payload[]): number {
  let n = 0;
  for (const p of payloads) n += payloadLength(p);
  return n;
}

/** Largest payload body a 16-bit Payload Length can describe. */
const MAX_PAYLOAD = 0xffff;

/** Emit a chain; each Next Payload names the following payload, the last one 0 (or the inner type for SK/SKF). */
export function emitPayloads(payloads: readonly Payload[], w: Writer): void {
  payloads.forEach((p, i) => {
    const len = payloadLength(p);
    if (len > MAX_PAYLOAD) throw new WireError('ikev2', `${p.kind} payload of ${len} octets exceeds 65535`, w.pos);
    let next: number;
    if (isEncrypted(p)) {
      if (i !== payloads.length - 1) throw new WireError('ikev2', `${p.kind} payload must be the last payload`, w.pos);
      next = p.firstPayload;
    } else {
      next = i + 1 < payloads.length ? payloadType(payloads[i + 1]) : PayloadType.NONE;
    }
    emitPayloadHeader(next, p.critical ?? false, p.headerReserved ?? 0, len, w);
    emitBody(p, w);
  });
}

/**
 * Parse a chain that starts with a payload of type `first`, following Next
 * Payload until 0 or an SK/SKF envelope. The reader is left after the last
 * payload; what remains in its window is the caller's to judge.
 */
export function parsePayloads(r: Reader, first: number): Payload[] {
  const out: Payload[] = [];
  let type = first;
  while (type !== PayloadType.NONE) {
    const at = r.offset;
    const h = parsePayloadHeader(r);
    if (h.length < PAYLOAD_HEADER_LENGTH) r.fail(`payload ${type} length ${h.length} below 4`, at + 2);
    if (h.length - PAYLOAD_HEADER_LENGTH > r.remaining) {
      throw new WireError(r.protocol, `payload ${type} truncated`, at, h.length, r.remaining + PAYLOAD_HEADER_LENGTH);
    }
    const body = r.sub(h.length - PAYLOAD_HEADER_LENGTH);
    const p = parseBody(type, h.nextPayload, body, flagsOf(h.critical, h.reserved));
    if (body.remaining !== 0) body.fail(`${p.kind} payload has ${body.remaining} octets left over`);
    out.push(p);
    if (isEncrypted(p)) break;
    type = h.nextPayload;
  }
  return out;
}

/** The payload type whose `kind` can be K (IdPayload for 'IDi' and for 'IDr'). */
export type PayloadOf<K extends PayloadKind> = Payload extends infer P ? (P extends Payload ? (K extends P['kind'] ? P : never) : never) : never;

/** The first payload of the given kind, typed. */
export function findPayload<K extends PayloadKind>(payloads: readonly Payload[], kind: K): PayloadOf<K> | undefined {
  return payloads.find((p) => p.kind === kind) as PayloadOf<K> | undefined;
}

export function findNotify(payloads: readonly Payload[], notifyType: number): NotifyPayload | undefined {
  return payloads.find((p): p is NotifyPayload => p.kind === 'N' && p.notifyType === notifyType);
}

/**
 * The type of the first payload that has the critical bit set but is not
 * understood (section 2.5: the recipient rejects the message with
 * UNSUPPORTED_CRITICAL_PAYLOAD carrying this type), or undefined.
 */
export function unsupportedCriticalPayload(payloads: readonly Payload[]): number | undefined {
  for (const p of payloads) if (p.kind === 'unknown' && p.critical) return p.type;
  return undefined;
}

// ---------------------------------------------------------------------------
// Identification data (section 3.5)

/** Text of an identity: dotted quad, IPv6 text, the FQDN/RFC822 string, else hex. */
export function idText(idType: number, data: Uint8Array): string {
  if (idType === IdType.ID_IPV4_ADDR && data.length === 4) return ipv4ToString(data);
  if (idType === IdType.ID_IPV6_ADDR && data.length === 16) return ipv6ToString(data);
  if ((idType === IdType.ID_FQDN || idType === IdType.ID_RFC822_ADDR) && data.every((c) => c >= 0x20 && c < 0x7f)) {
    return String.fromCharCode(...data);
  }
  return Array.from(data, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Identification Data for an ID type from its text form (the inverse of idText for addresses and names). */
export function idData(idType: number, text: string): Uint8Array {
  if (idType === IdType.ID_IPV4_ADDR) return ipv4Bytes(text);
  if (idType === IdType.ID_IPV6_ADDR) return ipv6Bytes(text);
  return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
}

export function idPayload(kind: 'IDi' | 'IDr', idType: number, text: string): IdPayload {
  return { kind, idType, data: idData(idType, text) };
}
