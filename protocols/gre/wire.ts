/**
 * GRE, RFC 2784 with the key and sequence number extensions of RFC 2890.
 *
 *   |C| |K|S| Reserved0       | Ver |         Protocol Type         |
 *   |      Checksum (optional)      |       Reserved1 (Optional)    |
 *   |                         Key (optional)                        |
 *   |                 Sequence Number (Optional)                    |
 *
 * The bits of Reserved0 are kept as they arrive so that a packet re-encodes
 * byte for byte; RFC 2784 section 2.3 says a receiver must discard a packet with
 * bits 1-5 set unless it implements RFC 1701, and this codec does not implement
 * RFC 1701 source routing, so the routing-present bit (bit 1) is rejected.
 */
import { Reader, Writer, WireError, internetChecksum, checksumValid } from '../wire/index.js';

/** Flag bits of the first 16-bit word. */
export const GreFlag = {
  /** RFC 2784 section 2.5: checksum present */
  CHECKSUM: 0x8000,
  /** RFC 1701 routing present: not supported (RFC 2784 section 2.3) */
  ROUTING: 0x4000,
  /** RFC 2890 section 2.1: key present */
  KEY: 0x2000,
  /** RFC 2890 section 2.2: sequence number present */
  SEQUENCE: 0x1000,
} as const;

const VERSION_MASK = 0x0007;
const RESERVED0_MASK = 0x0ff8;

/** GRE protocol types (EtherType values, RFC 2784 section 2.4). */
export const GreProto = {
  IPV4: 0x0800,
  /** Cisco's NHRP over GRE: EtherType 0x2001 (draft-detienne-dmvpn; RFC 2332 uses LLC/SNAP on ATM) */
  NHRP: 0x2001,
  /** Cisco Discovery Protocol over GRE (seen in various_gre.pcap). */
  CDP: 0x2000,
  IPV6: 0x86dd,
} as const;

export function greProtoName(p: number): string {
  for (const [k, v] of Object.entries(GreProto)) if (v === p) return k;
  return `0x${p.toString(16).padStart(4, '0')}`;
}

export interface GreHeader {
  /** Checksum field when C is set: the value on the wire, or undefined to compute on emit. */
  readonly checksum?: number;
  /** True when the C bit is set. */
  readonly checksumPresent: boolean;
  /** Reserved1 (RFC 2784), present only with the checksum. */
  readonly reserved1: number;
  /** RFC 2890 key, when K is set. */
  readonly key?: number;
  /** RFC 2890 sequence number, when S is set. */
  readonly sequence?: number;
  /** Reserved0 bits 4-12 as received (normally 0). */
  readonly reserved0: number;
  readonly version: number;
  readonly protocolType: number;
}

export interface GrePacket {
  readonly header: GreHeader;
  readonly payload: Uint8Array;
}

export function greHeaderLength(h: GreHeader): number {
  return 4 + (h.checksumPresent ? 4 : 0) + (h.key !== undefined ? 4 : 0) + (h.sequence !== undefined ? 4 : 0);
}

export function greLength(p: GrePacket): number {
  return greHeaderLength(p.header) + p.payload.length;
}

/** Parse a GRE packet that extends to the end of the reader's window. */
export function parseGre(r: Reader): GrePacket {
  const start = r.pos;
  const word = r.u16();
  const protocolType = r.u16();
  const version = word & VERSION_MASK;
  if (version !== 0) r.fail(`version ${version} is not 0 (PPTP's enhanced GRE is not supported)`, 1);
  if (word & GreFlag.ROUTING) r.fail('routing present (RFC 1701) is not supported', 0);
  const checksumPresent = (word & GreFlag.CHECKSUM) !== 0;
  let checksum: number | undefined;
  let reserved1 = 0;
  if (checksumPresent) {
    checksum = r.u16();
    reserved1 = r.u16();
  }
  const key = word & GreFlag.KEY ? r.u32() : undefined;
  const sequence = word & GreFlag.SEQUENCE ? r.u32() : undefined;
  const payload = r.rest();
  const header: GreHeader = { checksum, checksumPresent, reserved1, key, sequence, reserved0: word & RESERVED0_MASK, version, protocolType };
  return { header, payload };
}

/** Verify the GRE checksum (RFC 2784 section 2.5) over a GRE packet in place. */
export function greChecksumValid(buf: Uint8Array, at: number, end: number): boolean {
  if (!(buf[at] & 0x80)) return true;
  return checksumValid(buf, at, end);
}

export function emitGre(p: GrePacket, w: Writer): void {
  const h = p.header;
  const at = w.pos;
  const word =
    (h.checksumPresent ? GreFlag.CHECKSUM : 0) |
    (h.key !== undefined ? GreFlag.KEY : 0) |
    (h.sequence !== undefined ? GreFlag.SEQUENCE : 0) |
    (h.reserved0 & RESERVED0_MASK) |
    (h.version & VERSION_MASK);
  w.u16(word).u16(h.protocolType);
  let ck = -1;
  if (h.checksumPresent) {
    ck = w.reserve(2);
    w.u16(h.reserved1);
  }
  if (h.key !== undefined) w.u32(h.key);
  if (h.sequence !== undefined) w.u32(h.sequence);
  w.bytes(p.payload);
  if (ck >= 0) w.patch16(ck, h.checksum ?? internetChecksum(w.buf, at, w.pos));
}

export function makeGre(protocolType: number, payload: Uint8Array, opts: { key?: number; sequence?: number; checksum?: boolean } = {}): GrePacket {
  return {
    header: {
      checksumPresent: opts.checksum ?? false,
      reserved1: 0,
      key: opts.key,
      sequence: opts.sequence,
      reserved0: 0,
      version: 0,
      protocolType,
    },
    payload,
  };
}

/** Offsets the hot path (and the native addon) use for the common keyed header. */
export const GreOff = { FLAGS: 0, PROTO: 2 } as const;

export function assertGre(buf: Uint8Array): void {
  if (buf.length < 4) throw new WireError('gre', 'truncated', 0, 4, buf.length);
}
