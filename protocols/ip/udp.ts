/**
 * UDP, RFC 768: the minimum needed to carry IKE (port 500), IKE and ESP over
 * NAT-T (port 4500, RFC 3948), with the IPv4 pseudo-header checksum.
 */
import { Reader, Writer, WireError, onesSum, ipv4ToU32 } from '../wire/index.js';
import { IpProto } from './ipv4.js';

export const UdpPort = {
  /** RFC 7296 section 2 */
  IKE: 500,
  /** RFC 3948 section 2: UDP-encapsulated ESP and IKE with the non-ESP marker */
  IKE_NATT: 4500,
} as const;

export const UDP_HEADER = 8;

export interface UdpDatagram {
  readonly srcPort: number;
  readonly dstPort: number;
  /** Length field as on the wire (header + payload). */
  readonly length: number;
  /** Checksum as on the wire (0 = none, RFC 768). Undefined: compute on emit. */
  readonly checksum?: number;
  readonly payload: Uint8Array;
}

export function parseUdp(r: Reader): UdpDatagram {
  const srcPort = r.u16();
  const dstPort = r.u16();
  const length = r.u16();
  const checksum = r.u16();
  if (length < UDP_HEADER) r.fail(`length ${length} below 8`, 4);
  const n = length - UDP_HEADER;
  if (r.remaining < n) throw new WireError('udp', 'truncated payload', r.offset, n, r.remaining);
  const payload = r.bytes(n);
  r.skip(r.remaining);
  return { srcPort, dstPort, length, checksum, payload };
}

export function udpLength(d: UdpDatagram): number {
  return UDP_HEADER + d.payload.length;
}

function pseudoSum(src: string, dst: string, len: number): number {
  const s = ipv4ToU32(src);
  const d = ipv4ToU32(dst);
  return (s >>> 16) + (s & 0xffff) + (d >>> 16) + (d & 0xffff) + IpProto.UDP + len;
}

/** Emit; with src/dst given and no checksum in the value, the checksum is computed. */
export function emitUdp(d: UdpDatagram, w: Writer, ip?: { src: string; dst: string }): void {
  const at = w.pos;
  w.u16(d.srcPort).u16(d.dstPort).u16(d.length);
  const ck = w.reserve(2);
  w.bytes(d.payload);
  let sum = d.checksum;
  if (sum === undefined) {
    if (!ip) sum = 0;
    else {
      sum = ~onesSum(w.buf, at, w.pos, pseudoSum(ip.src, ip.dst, d.length)) & 0xffff;
      if (sum === 0) sum = 0xffff; // RFC 768: a computed zero is sent as all ones
    }
  }
  w.patch16(ck, sum);
}

/** Verify a UDP checksum over the datagram bytes at buf[at..at+len) (0 means "not computed": valid). */
export function udpChecksumValid(buf: Uint8Array, at: number, len: number, src: string, dst: string): boolean {
  const stored = (buf[at + 6] << 8) | buf[at + 7];
  if (stored === 0) return true;
  return onesSum(buf, at, at + len, pseudoSum(src, dst, len)) === 0xffff;
}

export function makeUdp(srcPort: number, dstPort: number, payload: Uint8Array): UdpDatagram {
  return { srcPort, dstPort, length: UDP_HEADER + payload.length, payload };
}
