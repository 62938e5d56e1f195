/**
 * The IKE header, RFC 7296 section 3.1, and the generic payload header of section 3.2.
 *
 *   |                       IKE SA Initiator's SPI                  |  8 octets
 *   |                       IKE SA Responder's SPI                  |  8 octets
 *   |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
 *   |                          Message ID                           |
 *   |                            Length                             |
 *
 * ISAKMP (IKEv1, RFC 2408 section 3.1) uses the same 28-octet layout with
 * version 1.0, which is what lets `ikeVersion` tell the two apart without
 * parsing further.
 */
import { Reader, Writer } from '../wire/index.js';
import { IkeFlag } from './constants.js';

export const IKE_HEADER_LENGTH = 28;
export const PAYLOAD_HEADER_LENGTH = 4;
/** The one major version this codec parses (RFC 7296 section 3.1). */
export const IKEV2_MAJOR = 2;

const KNOWN_FLAGS = IkeFlag.INITIATOR | IkeFlag.VERSION | IkeFlag.RESPONSE;

/** Header fields a message carries; Next Payload and Length are derived from the payloads on emit. */
export interface IkeHeader {
  /** Initiator's SPI, 8 octets (RFC 7296 section 3.1: never zero). */
  readonly spiI: bigint;
  /** Responder's SPI; zero in the first IKE_SA_INIT request. */
  readonly spiR: bigint;
  readonly majorVersion: number;
  readonly minorVersion: number;
  readonly exchangeType: number;
  /** I flag: the sender is the original initiator of the IKE SA. */
  readonly initiator: boolean;
  /** R flag: the message is a response. */
  readonly response: boolean;
  /** V flag: the sender could speak a higher major version. */
  readonly higherVersion: boolean;
  /** Flag bits other than I, V and R as received (RFC 7296: sent as 0, ignored on receipt); omitted when 0. */
  readonly flagsReserved?: number;
  readonly messageId: number;
}

/** The header as it stands on the wire, with the fields a message derives. */
export interface IkeWireHeader extends IkeHeader {
  readonly nextPayload: number;
  /** Length of the whole message, header included. */
  readonly length: number;
}

export function flagsOctet(h: IkeHeader): number {
  return (
    (h.initiator ? IkeFlag.INITIATOR : 0) |
    (h.response ? IkeFlag.RESPONSE : 0) |
    (h.higherVersion ? IkeFlag.VERSION : 0) |
    ((h.flagsReserved ?? 0) & ~KNOWN_FLAGS & 0xff)
  );
}

/**
 * Read the 28-octet header without judging the version or the length, so a
 * receiver can answer INVALID_MAJOR_VERSION (RFC 7296 section 2.5) or look the
 * SPIs up before it parses any payload.
 */
export function parseIkeHeader(r: Reader): IkeWireHeader {
  const spiI = r.u64();
  const spiR = r.u64();
  const nextPayload = r.u8();
  const version = r.u8();
  const exchangeType = r.u8();
  const flags = r.u8();
  const messageId = r.u32();
  const length = r.u32();
  const h: IkeWireHeader = {
    spiI,
    spiR,
    majorVersion: version >> 4,
    minorVersion: version & 0x0f,
    exchangeType,
    initiator: (flags & IkeFlag.INITIATOR) !== 0,
    response: (flags & IkeFlag.RESPONSE) !== 0,
    higherVersion: (flags & IkeFlag.VERSION) !== 0,
    messageId,
    nextPayload,
    length,
  };
  const reserved = flags & ~KNOWN_FLAGS;
  return reserved ? { ...h, flagsReserved: reserved } : h;
}

export function emitIkeHeader(h: IkeHeader, nextPayload: number, length: number, w: Writer): void {
  w.u64(h.spiI).u64(h.spiR);
  w.u8(nextPayload);
  w.u8(((h.majorVersion & 0x0f) << 4) | (h.minorVersion & 0x0f));
  w.u8(h.exchangeType);
  w.u8(flagsOctet(h));
  w.u32(h.messageId);
  w.u32(length);
}

/**
 * The version of an ISAKMP/IKE message without parsing it: major 1 is IKEv1
 * (RFC 2408), major 2 is IKEv2. Undefined when the bytes are shorter than the
 * common 28-octet header or its Length field is below 28, so this never throws.
 */
export function ikeVersion(bytes: Uint8Array, at = 0): { readonly major: number; readonly minor: number } | undefined {
  if (at < 0 || bytes.length - at < IKE_HEADER_LENGTH) return undefined;
  const len = ((bytes[at + 24] << 24) | (bytes[at + 25] << 16) | (bytes[at + 26] << 8) | bytes[at + 27]) >>> 0;
  if (len < IKE_HEADER_LENGTH) return undefined;
  const v = bytes[at + 17];
  return { major: v >> 4, minor: v & 0x0f };
}

/** The generic payload header (RFC 7296 section 3.2) as read. */
export interface GenericPayloadHeader {
  readonly nextPayload: number;
  /** C bit: the sender requires the recipient to understand this payload. */
  readonly critical: boolean;
  /** The 7 RESERVED bits after C (sent as 0, ignored on receipt). */
  readonly reserved: number;
  /** Payload length including this 4-octet header. */
  readonly length: number;
}

export function parsePayloadHeader(r: Reader): GenericPayloadHeader {
  const nextPayload = r.u8();
  const b = r.u8();
  const length = r.u16();
  return { nextPayload, critical: (b & 0x80) !== 0, reserved: b & 0x7f, length };
}

export function emitPayloadHeader(nextPayload: number, critical: boolean, reserved: number, length: number, w: Writer): void {
  w.u8(nextPayload);
  w.u8((critical ? 0x80 : 0) | (reserved & 0x7f));
  w.u16(length);
}
