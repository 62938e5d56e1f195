/**
 * IPv4 header, RFC 791 section 3.1, with the header checksum of RFC 1071.
 *
 *   0                   1                   2                   3
 *   |Version|  IHL  |Type of Service|          Total Length         |
 *   |         Identification        |Flags|      Fragment Offset    |
 *   |  Time to Live |    Protocol   |         Header Checksum       |
 *   |                       Source Address                          |
 *   |                    Destination Address                        |
 *   |                    Options                    |    Padding    |
 */
import { Reader, Writer, WireError, internetChecksum, checksumValid, ipv4ToString, ipv4Bytes } from '../wire/index.js';

/** IP protocol numbers used by DMVPN (IANA "Assigned Internet Protocol Numbers"). */
export const IpProto = {
  ICMP: 1,
  TCP: 6,
  UDP: 17,
  /** RFC 2784 */
  GRE: 47,
  /** RFC 4303 */
  ESP: 50,
  /** RFC 7868: EIGRP runs directly over IP as protocol 88. */
  EIGRP: 88,
} as const;

export function ipProtoName(p: number): string {
  for (const [k, v] of Object.entries(IpProto)) if (v === p) return k;
  return `proto-${p}`;
}

export const IPV4_MIN_HEADER = 20;

/** Offsets of the fixed header, for the view and for the native addon's mirror. */
export const Ipv4Off = {
  VER_IHL: 0,
  TOS: 1,
  TOTAL_LENGTH: 2,
  ID: 4,
  FLAGS_FRAG: 6,
  TTL: 8,
  PROTOCOL: 9,
  CHECKSUM: 10,
  SRC: 12,
  DST: 16,
} as const;

export interface Ipv4Header {
  readonly tos: number;
  /** Total length of header and payload in octets (as on the wire). */
  readonly totalLength: number;
  readonly id: number;
  /** The three flag bits (RFC 791): 0x4 reserved, 0x2 = DF, 0x1 = MF. */
  readonly flags: number;
  readonly fragmentOffset: number;
  readonly ttl: number;
  readonly protocol: number;
  /** Header checksum as on the wire; emit recomputes it when `checksum` is undefined. */
  readonly checksum?: number;
  readonly src: string;
  readonly dst: string;
  /** Options, padded to a multiple of 4 bytes. */
  readonly options: Uint8Array;
}

export function ipv4HeaderLength(h: Ipv4Header): number {
  return IPV4_MIN_HEADER + h.options.length;
}

/** Parse the header only; the reader is left at the start of the payload. */
export function parseIpv4Header(r: Reader): Ipv4Header {
  const start = r.offset;
  const vi = r.peek8();
  if (vi >> 4 !== 4) r.fail(`version ${vi >> 4} is not 4`);
  const ihl = (vi & 0x0f) * 4;
  if (ihl < IPV4_MIN_HEADER) r.fail(`header length ${ihl} below 20`);
  r.need(ihl);
  r.u8();
  const tos = r.u8();
  const totalLength = r.u16();
  const id = r.u16();
  const ff = r.u16();
  const ttl = r.u8();
  const protocol = r.u8();
  const checksum = r.u16();
  const src = ipv4ToString(r.bytes(4));
  const dst = ipv4ToString(r.bytes(4));
  const options = r.bytes(ihl - IPV4_MIN_HEADER);
  if (totalLength < ihl) throw new WireError('ipv4', `total length ${totalLength} below header length ${ihl}`, start + 2);
  return { tos, totalLength, id, flags: ff >>> 13, fragmentOffset: ff & 0x1fff, ttl, protocol, checksum, src, dst, options };
}

export function emitIpv4Header(h: Ipv4Header, w: Writer): void {
  if (h.options.length % 4 !== 0) throw new WireError('ipv4', 'options not padded to 4 bytes', w.pos);
  const at = w.pos;
  const ihl = ipv4HeaderLength(h);
  w.u8(0x40 | (ihl / 4));
  w.u8(h.tos);
  w.u16(h.totalLength);
  w.u16(h.id);
  w.u16(((h.flags & 0x7) << 13) | (h.fragmentOffset & 0x1fff));
  w.u8(h.ttl);
  w.u8(h.protocol);
  const ck = w.reserve(2);
  w.bytes(ipv4Bytes(h.src));
  w.bytes(ipv4Bytes(h.dst));
  w.bytes(h.options);
  w.patch16(ck, h.checksum ?? internetChecksum(w.buf, at, at + ihl));
}

/** True when the header checksum over the IHL bytes at `at` is correct. */
export function ipv4ChecksumValid(buf: Uint8Array, at = 0): boolean {
  const ihl = (buf[at] & 0x0f) * 4;
  return checksumValid(buf, at, at + ihl);
}

/** A whole datagram: header plus payload (the payload is a copy). */
export interface Ipv4Datagram {
  readonly header: Ipv4Header;
  readonly payload: Uint8Array;
}

/**
 * Parse a datagram. Trailing bytes beyond totalLength (Ethernet padding) are
 * ignored; a datagram shorter than totalLength is truncated.
 */
export function parseIpv4(r: Reader): Ipv4Datagram {
  const start = r.offset;
  const header = parseIpv4Header(r);
  const payloadLen = header.totalLength - ipv4HeaderLength(header);
  if (r.remaining < payloadLen) throw new WireError('ipv4', 'truncated payload', r.offset, payloadLen, r.remaining);
  const payload = r.bytes(payloadLen);
  r.skip(r.remaining);
  void start;
  return { header, payload };
}

export function ipv4Length(d: Ipv4Datagram): number {
  return ipv4HeaderLength(d.header) + d.payload.length;
}

export function emitIpv4(d: Ipv4Datagram, w: Writer): void {
  emitIpv4Header(d.header, w);
  w.bytes(d.payload);
}

/** Build a header with defaults for a new datagram carrying `payloadLength` bytes. */
export function makeIpv4Header(
  src: string,
  dst: string,
  protocol: number,
  payloadLength: number,
  opts: Partial<Pick<Ipv4Header, 'tos' | 'id' | 'flags' | 'ttl'>> = {},
): Ipv4Header {
  return {
    tos: opts.tos ?? 0,
    totalLength: IPV4_MIN_HEADER + payloadLength,
    id: opts.id ?? 0,
    flags: opts.flags ?? 0,
    fragmentOffset: 0,
    ttl: opts.ttl ?? 255,
    protocol,
    src,
    dst,
    options: new Uint8Array(0),
  };
}

/**
 * Allocation-free view over an IPv4 header in place (the hot-path form:
 * smoltcp's Ipv4Packet). `check()` validates once; getters then trust the bytes.
 */
export class Ipv4View {
  constructor(readonly buf: Uint8Array, readonly at = 0) {}
  private get dv(): DataView {
    return new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }
  check(): this {
    const avail = this.buf.length - this.at;
    if (avail < IPV4_MIN_HEADER) throw new WireError('ipv4', 'truncated', 0, IPV4_MIN_HEADER, avail);
    if (this.version !== 4) throw new WireError('ipv4', `version ${this.version} is not 4`, 0);
    if (this.headerLength < IPV4_MIN_HEADER || this.headerLength > avail) throw new WireError('ipv4', 'bad header length', 0);
    if (this.totalLength < this.headerLength || this.totalLength > avail) {
      throw new WireError('ipv4', 'bad total length', 2, this.totalLength, avail);
    }
    return this;
  }
  get version(): number { return this.buf[this.at] >> 4; }
  get headerLength(): number { return (this.buf[this.at] & 0x0f) * 4; }
  get totalLength(): number { return this.dv.getUint16(this.at + Ipv4Off.TOTAL_LENGTH); }
  get ttl(): number { return this.buf[this.at + Ipv4Off.TTL]; }
  set ttl(v: number) { this.buf[this.at + Ipv4Off.TTL] = v; }
  get protocol(): number { return this.buf[this.at + Ipv4Off.PROTOCOL]; }
  get srcU32(): number { return this.dv.getUint32(this.at + Ipv4Off.SRC); }
  get dstU32(): number { return this.dv.getUint32(this.at + Ipv4Off.DST); }
  get checksum(): number { return this.dv.getUint16(this.at + Ipv4Off.CHECKSUM); }
  fillChecksum(): void {
    this.dv.setUint16(this.at + Ipv4Off.CHECKSUM, 0);
    this.dv.setUint16(this.at + Ipv4Off.CHECKSUM, internetChecksum(this.buf, this.at, this.at + this.headerLength));
  }
  checksumValid(): boolean { return ipv4ChecksumValid(this.buf, this.at); }
  payload(): Uint8Array { return this.buf.subarray(this.at + this.headerLength, this.at + this.totalLength); }
}
