/**
 * Addresses as EIGRP carries them: length-prefixed address lists (Sequence
 * and Peer Termination TLVs) and the trimmed IPv4 destination of route TLVs.
 * Values hold text so the router can compare with its own addresses; the
 * text maps back to the same bytes, so a message re-encodes byte for byte.
 */
import { Reader, Writer, WireError, addrToString, fromHex, ipv4Bytes, ipv4ToString, ipv4ToU32 } from '../wire/index.js';

const PROTO = 'eigrp';

/**
 * Bytes of an address written by addrFromBytes: dotted IPv4 (4 bytes), IPv6
 * text (16 bytes), otherwise plain hex (IPX and other lengths).
 */
export function addrFromText(s: string): Uint8Array {
  if (s.includes(':')) return ipv6FromText(s);
  if (s.includes('.')) return ipv4Bytes(s);
  try {
    return fromHex(s);
  } catch {
    throw new WireError(PROTO, `bad address "${s}"`, 0);
  }
}

/** Text of an address of any length (see addrFromText). */
export function addrFromBytes(b: Uint8Array): string {
  return addrToString(b);
}

/** IPv6 text (with at most one "::") to 16 bytes. */
export function ipv6FromText(s: string): Uint8Array {
  const bad = (): never => {
    throw new WireError(PROTO, `bad IPv6 address "${s}"`, 0);
  };
  const halves = s.split('::');
  if (halves.length > 2) bad();
  const groups = (h: string): string[] => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) bad();
  const all = [...head, ...new Array<string>(halves.length === 2 ? fill : 0).fill('0'), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) bad();
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

/** A list of (length byte, address) pairs filling the reader, as in the Sequence TLV (RFC 7868 section 6.7.3). */
export function parseAddressList(r: Reader): string[] {
  const out: string[] = [];
  while (r.remaining > 0) {
    const n = r.u8();
    out.push(addrFromBytes(r.bytes(n)));
  }
  return out;
}

export function addressListLength(list: readonly string[]): number {
  let n = 0;
  for (const a of list) n += 1 + addrFromText(a).length;
  return n;
}

export function emitAddressList(list: readonly string[], w: Writer): void {
  for (const a of list) {
    const b = addrFromText(a);
    if (b.length > 255) throw new WireError(PROTO, `address of ${b.length} bytes does not fit a length byte`, w.pos);
    w.u8(b.length).bytes(b);
  }
}

/** One IPv4 destination of a route TLV. */
export interface Ipv4Destination {
  /** Prefix length in bits, 0-32. */
  readonly prefixLength: number;
  /**
   * The destination as dotted text: the significant octets as sent, the rest
   * zero. Bits past the prefix length inside the last octet are kept as sent.
   */
  readonly prefix: string;
}

/**
 * Octets that follow the prefix length byte (RFC 7868 section 6.8.4): only the
 * significant ones, and one octet even for /0 (IOS sends 0.0.0.0/0 as the
 * length byte 0 and one zero octet; OpenBSD eigrpd's PREFIX_SIZE4 agrees).
 */
export function ipv4DestinationOctets(prefixLength: number): number {
  return prefixLength === 0 ? 1 : Math.ceil(prefixLength / 8);
}

export function parseIpv4Destination(r: Reader): Ipv4Destination {
  const at = r.offset;
  const prefixLength = r.u8();
  if (prefixLength > 32) r.fail(`IPv4 prefix length ${prefixLength} is over 32`, at);
  const octets = r.bytes(ipv4DestinationOctets(prefixLength));
  const full = new Uint8Array(4);
  full.set(octets);
  return { prefixLength, prefix: ipv4ToString(full) };
}

export function ipv4DestinationLength(d: Ipv4Destination): number {
  return 1 + ipv4DestinationOctets(d.prefixLength);
}

/** Writes the length byte and the significant octets; octets past them are not sent. */
export function emitIpv4Destination(d: Ipv4Destination, w: Writer): void {
  if (!Number.isInteger(d.prefixLength) || d.prefixLength < 0 || d.prefixLength > 32) {
    throw new WireError(PROTO, `IPv4 prefix length ${d.prefixLength} is not 0-32`, w.pos);
  }
  // The significant octets only, written straight from the number (no temporary array).
  const v = ipv4ToU32(d.prefix);
  const n = ipv4DestinationOctets(d.prefixLength);
  w.u8(d.prefixLength);
  for (let i = 0; i < n; i++) w.u8(v >>> (24 - 8 * i));
}

/** Destinations fill the rest of a route TLV (Wireshark walks them until the TLV ends). */
export function parseIpv4Destinations(r: Reader): Ipv4Destination[] {
  const out: Ipv4Destination[] = [];
  while (r.remaining > 0) out.push(parseIpv4Destination(r));
  return out;
}

export function ipv4DestinationsLength(list: readonly Ipv4Destination[]): number {
  let n = 0;
  for (const d of list) n += ipv4DestinationLength(d);
  return n;
}

export function emitIpv4Destinations(list: readonly Ipv4Destination[], w: Writer): void {
  for (const d of list) emitIpv4Destination(d, w);
}
