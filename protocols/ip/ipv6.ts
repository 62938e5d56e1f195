/**
 * IPv6 fixed header, RFC 8200 section 3: only as much as the decoder needs to
 * reach EIGRP for IPv6 (a hello in the vectors). Extension headers are not walked.
 */
import { Reader, Writer, addrToString } from '../wire/index.js';

export const IPV6_HEADER = 40;

export interface Ipv6Header {
  readonly trafficClass: number;
  readonly flowLabel: number;
  readonly payloadLength: number;
  readonly nextHeader: number;
  readonly hopLimit: number;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
}

export interface Ipv6Datagram {
  readonly header: Ipv6Header;
  readonly payload: Uint8Array;
}

export function parseIpv6(r: Reader): Ipv6Datagram {
  const w0 = r.u32();
  if (w0 >>> 28 !== 6) r.fail(`version ${w0 >>> 28} is not 6`, 0);
  const payloadLength = r.u16();
  const nextHeader = r.u8();
  const hopLimit = r.u8();
  const src = r.bytes(16);
  const dst = r.bytes(16);
  const payload = r.bytes(payloadLength);
  r.skip(r.remaining);
  return {
    header: { trafficClass: (w0 >>> 20) & 0xff, flowLabel: w0 & 0xfffff, payloadLength, nextHeader, hopLimit, src, dst },
    payload,
  };
}

export function ipv6Length(d: Ipv6Datagram): number {
  return IPV6_HEADER + d.payload.length;
}

export function emitIpv6(d: Ipv6Datagram, w: Writer): void {
  const h = d.header;
  w.u32(((6 << 28) | ((h.trafficClass & 0xff) << 20) | (h.flowLabel & 0xfffff)) >>> 0);
  w.u16(h.payloadLength).u8(h.nextHeader).u8(h.hopLimit).bytes(h.src).bytes(h.dst).bytes(d.payload);
}

export function ipv6AddrString(b: Uint8Array): string {
  return addrToString(b);
}
