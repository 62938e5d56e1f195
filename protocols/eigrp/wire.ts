/**
 * EIGRP packets, RFC 7868 section 6.5: a 20-byte header, then TLVs to the
 * end of the IP payload (EIGRP runs directly over IP, protocol 88).
 *
 *   | Version (2)   | Opcode        | Checksum                      |
 *   | Flags                                                         |
 *   | Sequence number                                               |
 *   | Acknowledgment number                                         |
 *   | Virtual router ID             | Autonomous system number      |
 *   | TLVs ...                                                      |
 *
 * The checksum is the Internet checksum over the whole EIGRP packet, header
 * and TLVs, with no pseudo header, over IPv4 and over IPv6 alike (every packet
 * in the capture vectors, the IPv6 Hello included, verifies that way).
 *
 * This module is the codec; constants.ts holds the numbers, tlv.ts and
 * route.ts the TLVs, build.ts the builders the router uses.
 */
import { Reader, Writer, WireError, checksumValid, encode, internetChecksum, onesSum } from '../wire/index.js';
import { EIGRP_HEADER_LENGTH, EIGRP_VERSION } from './constants.js';
import { type EigrpTlv, emitTlv, parseTlv, tlvLength } from './tlv.js';

export * from './constants.js';
export * from './addr.js';
export * from './route.js';
export * from './tlv.js';
export * from './build.js';

const PROTO = 'eigrp';

export interface EigrpHeader {
  /** EigrpOpcode. */
  readonly opcode: number;
  /** The checksum as received; undefined asks emit to compute it. */
  readonly checksum?: number;
  /** EigrpFlag bits (32 bits). */
  readonly flags: number;
  /** Reliable transport sequence number; 0 for unreliable packets (Hello, ACK). */
  readonly sequence: number;
  /** Acknowledges the peer's sequence number; nonzero on a Hello makes it an ACK. */
  readonly ack: number;
  /** 0 for the base unicast instance (Wireshark's "Virtual Router ID"). */
  readonly virtualRouterId: number;
  readonly as: number;
}

export interface EigrpPacket {
  readonly header: EigrpHeader;
  /** In wire order. */
  readonly tlvs: readonly EigrpTlv[];
}

/** Offsets in the fixed header, for code that patches a packet in place. */
export const EigrpOff = {
  VERSION: 0,
  OPCODE: 1,
  CHECKSUM: 2,
  FLAGS: 4,
  SEQUENCE: 8,
  ACK: 12,
  VIRTUAL_ROUTER_ID: 16,
  AS: 18,
} as const;

export function parseEigrpHeader(r: Reader): EigrpHeader {
  r.need(EIGRP_HEADER_LENGTH, 'header truncated');
  const version = r.u8();
  if (version !== EIGRP_VERSION) r.fail(`version ${version} is not ${EIGRP_VERSION}`, 0);
  const opcode = r.u8();
  const checksum = r.u16();
  const flags = r.u32();
  const sequence = r.u32();
  const ack = r.u32();
  const virtualRouterId = r.u16();
  const as = r.u16();
  return { opcode, checksum, flags, sequence, ack, virtualRouterId, as };
}

/** Parse an EIGRP packet that fills the reader's window (the IP payload). */
export function parseEigrp(r: Reader): EigrpPacket {
  const header = parseEigrpHeader(r);
  const tlvs: EigrpTlv[] = [];
  while (r.remaining > 0) tlvs.push(parseTlv(r));
  return { header, tlvs };
}

export function eigrpLength(p: EigrpPacket): number {
  let n = EIGRP_HEADER_LENGTH;
  for (const t of p.tlvs) n += tlvLength(t);
  return n;
}

/** Emit a packet; the checksum is computed over what was written when the header leaves it undefined. */
export function emitEigrp(p: EigrpPacket, w: Writer): void {
  const h = p.header;
  const start = w.pos;
  w.u8(EIGRP_VERSION).u8(h.opcode);
  const ck = w.reserve(2);
  w.u32(h.flags).u32(h.sequence).u32(h.ack).u16(h.virtualRouterId).u16(h.as);
  for (const t of p.tlvs) emitTlv(t, w);
  w.patch16(ck, h.checksum ?? internetChecksum(w.buf, start, w.pos));
}

/** True when the EIGRP packet in buf[start, end) carries a correct checksum (RFC 7868 section 6.5). */
export function eigrpChecksumValid(buf: Uint8Array, start = 0, end = buf.length): boolean {
  if (end - start < EIGRP_HEADER_LENGTH) return false;
  return checksumValid(buf, start, end);
}

/** The checksum a packet should carry: computed with the checksum field taken as zero. */
export function eigrpChecksum(buf: Uint8Array, start = 0, end = buf.length): number {
  if (end - start < EIGRP_HEADER_LENGTH) throw new WireError(PROTO, 'header truncated', 0, EIGRP_HEADER_LENGTH, end - start);
  // Sum around the checksum field, as if it were zero.
  const head = onesSum(buf, start, start + EigrpOff.CHECKSUM);
  return internetChecksum(buf, start + EigrpOff.CHECKSUM + 2, end, head);
}

/** Encode a packet into a fresh buffer (checksum computed unless given). */
export function encodeEigrp(p: EigrpPacket): Uint8Array {
  return encode(p, emitEigrp, eigrpLength, PROTO);
}

/** Decode a whole buffer as one EIGRP packet. */
export function decodeEigrp(bytes: Uint8Array): EigrpPacket {
  return parseEigrp(new Reader(bytes, PROTO));
}

/** The codec object that the fuzz script and the benchmark take. */
export const eigrpCodec = {
  protocol: PROTO,
  parse: parseEigrp,
  emit: emitEigrp,
  length: eigrpLength,
} as const;
