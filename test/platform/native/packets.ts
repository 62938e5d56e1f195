/** Packet builders and readers for the dataplane tests (IPv4, TCP SYN, GRE). */
import { Writer, encode, internetChecksum, onesSum, ipv4ToU32 } from '../../../protocols/wire/index.js';
import { emitIpv4, ipv4Length, makeIpv4Header, IpProto, type Ipv4Datagram } from '../../../protocols/ip/ipv4.js';
import { emitGre, greLength, makeGre } from '../../../protocols/gre/wire.js';

export function ipv4(src: string, dst: string, protocol: number, payload: Uint8Array, ttl = 64): Uint8Array {
  const d: Ipv4Datagram = { header: makeIpv4Header(src, dst, protocol, payload.length, { ttl }), payload };
  return encode(d, emitIpv4, ipv4Length);
}

function pseudo(src: string, dst: string, proto: number, len: number): number {
  const s = ipv4ToU32(src);
  const d = ipv4ToU32(dst);
  return (s >>> 16) + (s & 0xffff) + (d >>> 16) + (d & 0xffff) + proto + len;
}

/**
 * A TCP SYN whose options are `options` (padded with EOL to 4 bytes), with a
 * correct checksum for src/dst.
 */
export function tcpSyn(src: string, dst: string, sport: number, dport: number, options: Uint8Array): Uint8Array {
  const optLen = Math.ceil(options.length / 4) * 4;
  const len = 20 + optLen;
  const w = Writer.alloc(len, 'tcp');
  w.u16(sport).u16(dport).u32(0x01020304).u32(0);
  w.u8((len / 4) << 4).u8(0x02).u16(65535);
  const ck = w.reserve(2);
  w.u16(0);
  w.bytes(options);
  while (w.pos < len) w.u8(0);
  w.patch16(ck, internetChecksum(w.buf, 0, len, pseudo(src, dst, IpProto.TCP, len)));
  return w.buf;
}

export function mssOption(mss: number): Uint8Array {
  return Uint8Array.of(2, 4, mss >> 8, mss & 0xff);
}

/** The MSS option of a TCP segment, or undefined. */
export function tcpMss(seg: Uint8Array): number | undefined {
  const doff = (seg[12] >> 4) * 4;
  let i = 20;
  while (i < doff) {
    const kind = seg[i];
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    const len = seg[i + 1];
    if (len < 2) break;
    if (kind === 2 && len === 4) return (seg[i + 2] << 8) | seg[i + 3];
    i += len;
  }
  return undefined;
}

export function tcpFlags(seg: Uint8Array): number {
  return seg[13];
}

export function tcpChecksumOk(src: string, dst: string, seg: Uint8Array): boolean {
  return onesSum(seg, 0, seg.length, pseudo(src, dst, IpProto.TCP, seg.length)) === 0xffff;
}

/** A GRE packet (header + payload) as the dataplane sends it. */
export function gre(protocolType: number, payload: Uint8Array, opts: { key?: number; checksum?: boolean; sequence?: number } = {}): Uint8Array {
  return encode(makeGre(protocolType, payload, opts), emitGre, greLength);
}

export function icmpEcho(id = 1, seq = 1): Uint8Array {
  const w = Writer.alloc(16, 'icmp');
  w.u8(8).u8(0);
  const ck = w.reserve(2);
  w.u16(id).u16(seq).u32(0xdeadbeef).u32(0x01234567);
  w.patch16(ck, internetChecksum(w.buf, 0, 16));
  return w.buf;
}

/**
 * How many received GRE datagrams have reached an outcome: handed up, written
 * to the TUN, or dropped for a reason. greRxPackets is counted first, so a test
 * waits on this sum, not on greRxPackets.
 */
export function rxOutcomes(s: Readonly<Record<string, number>>): number {
  return s.controlPackets + s.tunTxPackets - s.jsTunTxPackets + s.dropTunWriteFail + s.dropTooShort + s.dropTruncated +
    s.dropBadOuterIp + s.dropBadGre + s.dropBadChecksum + s.dropWrongKey + s.dropBadInner;
}
