/**
 * NHRP packets (RFC 2332 section 5): fixed header, mandatory part, extensions.
 *
 * Fixed header (section 5.1), 20 bytes:
 *   | ar$afn (2) | ar$pro.type (2) | ar$pro.snap (5) | ar$hopcnt (1) |
 *   | ar$pktsz (2) | ar$chksum (2) | ar$extoff (2) |
 *   | ar$op.version (1) | ar$op.type (1) | ar$shtl (1) | ar$sstl (1) |
 *
 * Mandatory part, by type:
 *   1-6 (section 5.2.0.1): src proto len, dst proto len, flags (2), request ID (4),
 *       source NBMA address and subaddress, source and destination protocol
 *       addresses, then CIEs up to ar$extoff (or ar$pktsz).
 *   7 Error Indication (section 5.2.7): the lengths, unused (2), error code (2),
 *       error offset (2), the four addresses, then the contents of the packet in error.
 *   8 Traffic Indication (Cisco, draft-detienne-dmvpn-01 Figure 4): the lengths,
 *       unused (2), traffic code (2), unused (2), the four addresses, then the
 *       start of the data packet that triggered it.
 *   Any other version or type: the mandatory part is kept as bytes.
 *
 * Exactness: ar$pktsz and ar$extoff follow from the value (ar$extoff is 0 when
 * `extensions` is undefined, and points just past the mandatory part when it is
 * defined, even if empty); the checksum is kept as received and recomputed only
 * when the value leaves it undefined; "unused" fields are kept. So every packet
 * that parses re-encodes to the same bytes.
 */
import { Reader, Writer, WireError, checksumValid, internetChecksum } from '../wire/index.js';
import { NHRP_FIXED_HEADER_LENGTH, NHRP_VERSION, NhrpPacketType } from './constants.js';
import {
  type NhrpAddress, type NhrpCie, NHRP_MAX_NBMA_LENGTH, nhrpAddressLength, readAddress, writeAddress,
  typeLength, protoLength, parseCieList, cieListLength, emitCieList,
} from './cie.js';
import { type NhrpExtension, parseExtensionList, extensionListLength, emitExtensionList } from './extensions.js';

/** The source/destination part shared by every structured mandatory part. */
export interface NhrpAddressing {
  /** Type bits (7-6) of ar$shtl; 0 for IPv4 NBMA. */
  readonly srcNbmaType: number;
  /** Type bits (7-6) of ar$sstl. */
  readonly srcNbmaSubaddressType: number;
  readonly srcNbma: NhrpAddress;
  /** '' when the NBMA has no subaddresses (always, over GRE). */
  readonly srcNbmaSubaddress: NhrpAddress;
  readonly srcProto: NhrpAddress;
  readonly dstProto: NhrpAddress;
}

/** Mandatory part of Resolution, Registration and Purge requests and replies (types 1-6). */
export interface NhrpMandatory extends NhrpAddressing {
  readonly kind: 'mandatory';
  /** ResolutionFlag, RegistrationFlag or PurgeFlag bits. */
  readonly flags: number;
  readonly requestId: number;
  readonly cies: readonly NhrpCie[];
}

/** Mandatory part of an Error Indication (type 7). */
export interface NhrpErrorBody extends NhrpAddressing {
  readonly kind: 'error';
  /** The 16 unused bits after the lengths. */
  readonly unused: number;
  /** NhrpErrorCode. */
  readonly errorCode: number;
  /** Offset into the packet in error (from its fixed header) where the problem is. */
  readonly errorOffset: number;
  /** Contents of the NHRP packet in error. */
  readonly erroredPacket: Uint8Array;
}

/** Mandatory part of Cisco's Traffic Indication (type 8). */
export interface NhrpTrafficBody extends NhrpAddressing {
  readonly kind: 'traffic';
  /** The 16 unused bits after the lengths (where requests carry flags). */
  readonly unused: number;
  /** NhrpTrafficCode; 0 = redirect. */
  readonly trafficCode: number;
  /** The 16 unused bits after the traffic code. */
  readonly unused2: number;
  /** The data packet that triggered the indication, as much of it as was sent. */
  readonly trigger: Uint8Array;
}

/** Mandatory part of a version or type this codec does not structure. */
export interface NhrpRawBody {
  readonly kind: 'raw';
  /** ar$shtl and ar$sstl exactly as received. */
  readonly shtl: number;
  readonly sstl: number;
  readonly bytes: Uint8Array;
}

export type NhrpBody = NhrpMandatory | NhrpErrorBody | NhrpTrafficBody | NhrpRawBody;

export interface NhrpPacket {
  /** ar$afn: address family of the NBMA addresses (NhrpAfn; 1 = IPv4). */
  readonly afn: number;
  /** ar$pro.type: protocol of the protocol addresses (NhrpProtocolType; 0x0800 = IPv4). */
  readonly protocolType: number;
  /** ar$pro.snap: 5 bytes, zero unless ar$pro.type is 0x0080 (SNAP). */
  readonly protocolSnap: Uint8Array;
  readonly hopCount: number;
  /** ar$chksum as received; undefined = compute on emit. */
  readonly checksum?: number;
  /** ar$op.version: 1. */
  readonly version: number;
  /** ar$op.type: NhrpPacketType. */
  readonly type: number;
  /** The mandatory part; its kind follows from version and type (see bodyKind). */
  readonly body: NhrpBody;
  /** undefined: no extensions (ar$extoff = 0); otherwise the list, End included. */
  readonly extensions?: readonly NhrpExtension[];
}

/** Which mandatory-part layout a version/type pair has. */
export function bodyKind(version: number, type: number): NhrpBody['kind'] {
  if (version !== NHRP_VERSION) return 'raw';
  if (type >= NhrpPacketType.RESOLUTION_REQUEST && type <= NhrpPacketType.PURGE_REPLY) return 'mandatory';
  if (type === NhrpPacketType.ERROR_INDICATION) return 'error';
  if (type === NhrpPacketType.TRAFFIC_INDICATION) return 'traffic';
  return 'raw';
}

function addressingLength(a: NhrpAddressing): number {
  return (
    nhrpAddressLength(a.srcNbma) +
    nhrpAddressLength(a.srcNbmaSubaddress) +
    nhrpAddressLength(a.srcProto) +
    nhrpAddressLength(a.dstProto)
  );
}

/** Bytes of the mandatory part (from the end of the fixed header to ar$extoff). */
export function nhrpBodyLength(b: NhrpBody): number {
  switch (b.kind) {
    case 'mandatory':
      return 8 + addressingLength(b) + cieListLength(b.cies);
    case 'error':
      return 8 + addressingLength(b) + b.erroredPacket.length;
    case 'traffic':
      return 8 + addressingLength(b) + b.trigger.length;
    case 'raw':
      return b.bytes.length;
  }
}

export function nhrpLength(p: NhrpPacket): number {
  return NHRP_FIXED_HEADER_LENGTH + nhrpBodyLength(p.body) + (p.extensions ? extensionListLength(p.extensions) : 0);
}

/**
 * Parse one NHRP packet at the reader's cursor. It takes ar$pktsz bytes and
 * leaves the cursor after them (GRE carries nothing after NHRP, but a caller
 * may check r.remaining). Error offsets count from the fixed header.
 */
export function parseNhrp(r: Reader): NhrpPacket {
  const start = r.pos;
  r.need(NHRP_FIXED_HEADER_LENGTH, 'truncated fixed header');
  const afn = r.u16();
  const protocolType = r.u16();
  const protocolSnap = r.bytes(5);
  const hopCount = r.u8();
  const pktsz = r.u16();
  const checksum = r.u16();
  const extoff = r.u16();
  const version = r.u8();
  const type = r.u8();
  const shtl = r.u8();
  const sstl = r.u8();
  const available = r.end - start;
  if (pktsz < NHRP_FIXED_HEADER_LENGTH) throw new WireError('nhrp', `ar$pktsz ${pktsz} is shorter than the fixed header`, 10);
  if (pktsz > available) throw new WireError('nhrp', 'ar$pktsz runs past the packet', 0, pktsz, available);
  if (extoff !== 0 && (extoff < NHRP_FIXED_HEADER_LENGTH || extoff > pktsz)) {
    throw new WireError('nhrp', `ar$extoff ${extoff} is outside ${NHRP_FIXED_HEADER_LENGTH}..${pktsz}`, 14);
  }
  const mandEnd = start + (extoff || pktsz);
  // Windows start at the fixed header so WireError offsets are packet offsets.
  const m = new Reader(r.buf, 'nhrp', start, mandEnd);
  m.pos = start + NHRP_FIXED_HEADER_LENGTH;
  const body = parseBody(m, bodyKind(version, type), shtl, sstl);
  let extensions: NhrpExtension[] | undefined;
  if (extoff !== 0) {
    const x = new Reader(r.buf, 'nhrp', start, start + pktsz);
    x.pos = start + extoff;
    extensions = parseExtensionList(x);
  }
  r.pos = start + pktsz;
  return { afn, protocolType, protocolSnap, hopCount, checksum, version, type, body, extensions };
}

function parseAddressing(m: Reader, shtl: number, sstl: number, spl: number, dpl: number): NhrpAddressing {
  const srcNbma = readAddress(m, shtl & NHRP_MAX_NBMA_LENGTH);
  const srcNbmaSubaddress = readAddress(m, sstl & NHRP_MAX_NBMA_LENGTH);
  const srcProto = readAddress(m, spl);
  const dstProto = readAddress(m, dpl);
  return { srcNbmaType: shtl >> 6, srcNbmaSubaddressType: sstl >> 6, srcNbma, srcNbmaSubaddress, srcProto, dstProto };
}

function parseBody(m: Reader, kind: NhrpBody['kind'], shtl: number, sstl: number): NhrpBody {
  if (kind === 'raw') return { kind, shtl, sstl, bytes: m.rest() };
  m.need(8, 'truncated mandatory part');
  const spl = m.u8();
  const dpl = m.u8();
  if (kind === 'mandatory') {
    const flags = m.u16();
    const requestId = m.u32();
    const a = parseAddressing(m, shtl, sstl, spl, dpl);
    return { kind, flags, requestId, ...a, cies: parseCieList(m) };
  }
  if (kind === 'error') {
    const unused = m.u16();
    const errorCode = m.u16();
    const errorOffset = m.u16();
    const a = parseAddressing(m, shtl, sstl, spl, dpl);
    return { kind, unused, errorCode, errorOffset, ...a, erroredPacket: m.rest() };
  }
  const unused = m.u16();
  const trafficCode = m.u16();
  const unused2 = m.u16();
  const a = parseAddressing(m, shtl, sstl, spl, dpl);
  return { kind, unused, trafficCode, unused2, ...a, trigger: m.rest() };
}

function emitAddressing(a: NhrpAddressing, w: Writer, shtl: number, sstl: number): void {
  writeAddress(w, a.srcNbma, shtl & NHRP_MAX_NBMA_LENGTH);
  writeAddress(w, a.srcNbmaSubaddress, sstl & NHRP_MAX_NBMA_LENGTH);
  writeAddress(w, a.srcProto, nhrpAddressLength(a.srcProto));
  writeAddress(w, a.dstProto, nhrpAddressLength(a.dstProto));
}

function emitBody(b: NhrpBody, w: Writer, shtl: number, sstl: number): void {
  if (b.kind === 'raw') {
    w.bytes(b.bytes);
    return;
  }
  w.u8(protoLength(b.srcProto, 'source protocol address')).u8(protoLength(b.dstProto, 'destination protocol address'));
  switch (b.kind) {
    case 'mandatory':
      w.u16(b.flags).u32(b.requestId);
      emitAddressing(b, w, shtl, sstl);
      emitCieList(b.cies, w);
      break;
    case 'error':
      w.u16(b.unused).u16(b.errorCode).u16(b.errorOffset);
      emitAddressing(b, w, shtl, sstl);
      w.bytes(b.erroredPacket);
      break;
    case 'traffic':
      w.u16(b.unused).u16(b.trafficCode).u16(b.unused2);
      emitAddressing(b, w, shtl, sstl);
      w.bytes(b.trigger);
      break;
  }
}

/** Emit exactly nhrpLength(p) bytes; fills ar$pktsz, ar$extoff and (when undefined) ar$chksum. */
export function emitNhrp(p: NhrpPacket, w: Writer): void {
  const start = w.pos;
  const bodyLen = nhrpBodyLength(p.body);
  const total = nhrpLength(p);
  if (total > 0xffff) throw new WireError('nhrp', `packet of ${total} bytes exceeds ar$pktsz`, 0);
  if (p.protocolSnap.length !== 5) throw new WireError('nhrp', 'ar$pro.snap must be 5 bytes', 4);
  const b = p.body;
  if (b.kind !== bodyKind(p.version, p.type)) {
    throw new WireError('nhrp', `a ${b.kind} body cannot be sent as version ${p.version} type ${p.type}`, 16);
  }
  const shtl = b.kind === 'raw' ? b.shtl : typeLength(b.srcNbmaType, b.srcNbma, 'source NBMA address');
  const sstl = b.kind === 'raw' ? b.sstl : typeLength(b.srcNbmaSubaddressType, b.srcNbmaSubaddress, 'source NBMA subaddress');
  w.u16(p.afn).u16(p.protocolType).bytes(p.protocolSnap).u8(p.hopCount).u16(total);
  const ck = w.reserve(2);
  w.u16(p.extensions ? NHRP_FIXED_HEADER_LENGTH + bodyLen : 0);
  w.u8(p.version).u8(p.type).u8(shtl).u8(sstl);
  emitBody(b, w, shtl, sstl);
  if (p.extensions) emitExtensionList(p.extensions, w);
  // RFC 2332 section 5.1: IP checksum over the whole packet, zero-padded when odd.
  w.patch16(ck, p.checksum ?? internetChecksum(w.buf, start, w.pos));
}

/**
 * Verify ar$chksum over the NHRP packet that starts at `start` (RFC 2332 section
 * 5.1: the whole packet including extensions, as if a 0x00 byte followed an odd
 * length). False when the bytes are too short for the ar$pktsz they announce.
 */
export function nhrpChecksumValid(buf: Uint8Array, start = 0, end = buf.length): boolean {
  if (end - start < NHRP_FIXED_HEADER_LENGTH) return false;
  const pktsz = (buf[start + 10] << 8) | buf[start + 11];
  if (pktsz < NHRP_FIXED_HEADER_LENGTH || pktsz > end - start) return false;
  return checksumValid(buf, start, start + pktsz);
}

/** The same packet with its checksum left for emit to compute (after any change to it). */
export function withoutChecksum(p: NhrpPacket): NhrpPacket {
  const { checksum: _omit, ...rest } = p;
  return rest;
}

/** The codec contract (test/support/codec.ts Codec<NhrpPacket>), for the fuzzer and benchmarks. */
export const nhrpCodec: {
  readonly protocol: string;
  parse(r: Reader): NhrpPacket;
  emit(v: NhrpPacket, w: Writer): void;
  length(v: NhrpPacket): number;
} = { protocol: 'nhrp', parse: parseNhrp, emit: emitNhrp, length: nhrpLength };
