/**
 * NHRP addresses and Client Information Entries (RFC 2332 section 5.2.0.1).
 *
 *   |    Code       | Prefix Length |         unused                |
 *   |  Maximum Transmission Unit    |        Holding Time           |
 *   |  Cli Addr T/L | Cli SAddr T/L | Cli Proto Len |  Preference   |
 *   |  Client NBMA Address, NBMA Subaddress, Protocol Address (variable)
 *
 * A T/L byte is |reserved|type|6-bit length| (RFC 2332 section 5.1, "ar$shtl"):
 * the two high bits are kept as `...Type` (0 = NSAP form, which IPv4 NBMA uses;
 * 1 = E.164) so every entry re-encodes exactly; the length comes from the address.
 */
import { Reader, Writer, WireError, ipv4Bytes, ipv4ToString, ipv4ToU32, toHex, fromHex } from '../wire/index.js';
import { NHRP_CIE_HEADER_LENGTH } from './constants.js';

/**
 * An address as the protocol engine uses it: dotted quad for 4 bytes (IPv4 NBMA
 * and protocol addresses), '' for an absent address (length 0), lower-case hex
 * for any other length (IPv6, NSAP). The wire length follows from the text.
 */
export type NhrpAddress = string;

/** Longest NBMA address or subaddress a T/L byte can describe. */
export const NHRP_MAX_NBMA_LENGTH = 0x3f;

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

export function nhrpAddress(b: Uint8Array): NhrpAddress {
  return b.length === 4 ? ipv4ToString(b) : toHex(b);
}

export function nhrpAddressBytes(a: NhrpAddress): Uint8Array {
  if (a.includes('.')) return ipv4Bytes(a);
  if (!HEX.test(a)) throw new WireError('nhrp', `bad address "${a}" (dotted IPv4 or hex)`, 0);
  return fromHex(a);
}

/** Wire length of an address without building its bytes. */
export function nhrpAddressLength(a: NhrpAddress): number {
  return a.includes('.') ? 4 : a.length >>> 1;
}

/** Read an address of `len` bytes. */
export function readAddress(r: Reader, len: number): NhrpAddress {
  if (len === 0) return '';
  if (len === 4) {
    r.need(4);
    const s = ipv4ToString(r.buf, r.pos);
    r.pos += 4;
    return s;
  }
  return nhrpAddress(r.bytes(len));
}

/** Write an address; checks it has the length its T/L or length byte announced. */
export function writeAddress(w: Writer, a: NhrpAddress, len: number): void {
  if (len === 0 && a === '') return;
  if (len === 4 && a.includes('.')) {
    w.u32(ipv4ToU32(a));
    return;
  }
  const b = nhrpAddressBytes(a);
  if (b.length !== len) throw new WireError('nhrp', `address "${a}" is ${b.length} bytes, expected ${len}`, w.pos);
  w.bytes(b);
}

/** T/L byte for an NBMA address or subaddress: type bits 7-6, length bits 5-0. */
export function typeLength(type: number, a: NhrpAddress, what: string): number {
  const len = nhrpAddressLength(a);
  if (len > NHRP_MAX_NBMA_LENGTH) throw new WireError('nhrp', `${what} is ${len} bytes, the T/L byte holds at most 63`, 0);
  return ((type & 3) << 6) | len;
}

export function protoLength(a: NhrpAddress, what: string): number {
  const len = nhrpAddressLength(a);
  if (len > 0xff) throw new WireError('nhrp', `${what} is ${len} bytes, the length byte holds at most 255`, 0);
  return len;
}

export interface NhrpCie {
  /** 0 for success, else a NAK code (NhrpCieCode). */
  readonly code: number;
  /** Prefix length of the equivalence class; 0 means "ignore" (same as 0xff), RFC 2332 section 5.2.0.1. */
  readonly prefixLength: number;
  /** The 16 unused bits, kept as received. */
  readonly unused: number;
  readonly mtu: number;
  /** Seconds the binding is valid; 0 on a NAK. */
  readonly holdingTime: number;
  /** Type bits (7-6) of Cli Addr T/L. */
  readonly nbmaType: number;
  /** Type bits (7-6) of Cli SAddr T/L. */
  readonly nbmaSubaddressType: number;
  /** Higher is preferred. IOS 15 sends 0, IOS-XE 17 sends 255. */
  readonly preference: number;
  readonly clientNbma: NhrpAddress;
  readonly clientNbmaSubaddress: NhrpAddress;
  readonly clientProto: NhrpAddress;
}

export function cieLength(c: NhrpCie): number {
  return (
    NHRP_CIE_HEADER_LENGTH +
    nhrpAddressLength(c.clientNbma) +
    nhrpAddressLength(c.clientNbmaSubaddress) +
    nhrpAddressLength(c.clientProto)
  );
}

export function parseCie(r: Reader): NhrpCie {
  r.need(NHRP_CIE_HEADER_LENGTH, 'truncated CIE');
  const code = r.u8();
  const prefixLength = r.u8();
  const unused = r.u16();
  const mtu = r.u16();
  const holdingTime = r.u16();
  const addrTl = r.u8();
  const subTl = r.u8();
  const protoLen = r.u8();
  const preference = r.u8();
  const clientNbma = readAddress(r, addrTl & NHRP_MAX_NBMA_LENGTH);
  const clientNbmaSubaddress = readAddress(r, subTl & NHRP_MAX_NBMA_LENGTH);
  const clientProto = readAddress(r, protoLen);
  return {
    code, prefixLength, unused, mtu, holdingTime,
    nbmaType: addrTl >> 6, nbmaSubaddressType: subTl >> 6,
    preference, clientNbma, clientNbmaSubaddress, clientProto,
  };
}

export function emitCie(c: NhrpCie, w: Writer): void {
  const addrTl = typeLength(c.nbmaType, c.clientNbma, 'client NBMA address');
  const subTl = typeLength(c.nbmaSubaddressType, c.clientNbmaSubaddress, 'client NBMA subaddress');
  const protoLen = protoLength(c.clientProto, 'client protocol address');
  w.u8(c.code).u8(c.prefixLength).u16(c.unused).u16(c.mtu).u16(c.holdingTime);
  w.u8(addrTl).u8(subTl).u8(protoLen).u8(c.preference);
  writeAddress(w, c.clientNbma, addrTl & NHRP_MAX_NBMA_LENGTH);
  writeAddress(w, c.clientNbmaSubaddress, subTl & NHRP_MAX_NBMA_LENGTH);
  writeAddress(w, c.clientProto, protoLen);
}

/** CIEs until the end of the reader's window (mandatory part or extension value). */
export function parseCieList(r: Reader): NhrpCie[] {
  const out: NhrpCie[] = [];
  while (r.remaining > 0) out.push(parseCie(r));
  return out;
}

export function cieListLength(cies: readonly NhrpCie[]): number {
  let n = 0;
  for (const c of cies) n += cieLength(c);
  return n;
}

export function emitCieList(cies: readonly NhrpCie[], w: Writer): void {
  for (const c of cies) emitCie(c, w);
}

/** A CIE with the defaults IOS uses: code success, no subaddress, unused 0, preference 0. */
export function makeCie(fields: Partial<NhrpCie> & Pick<NhrpCie, 'mtu' | 'holdingTime'>): NhrpCie {
  return {
    code: 0,
    prefixLength: 32,
    unused: 0,
    nbmaType: 0,
    nbmaSubaddressType: 0,
    preference: 0,
    clientNbma: '',
    clientNbmaSubaddress: '',
    clientProto: '',
    ...fields,
  };
}
