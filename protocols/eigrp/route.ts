/**
 * Route TLVs: the classic IPv4 encoding (types 0x0102/0x0103, RFC 7868
 * section 6.8) and the multi-protocol "wide metric" encoding (types
 * 0x0602/0x0603, RFC 7868 section 6.9) for the IPv4 address family.
 *
 * Classic (after the 4-byte TLV header):
 *
 *   | Next hop (4)                                                  |
 *   | External data (20, external only, section 6.8.3)              |
 *   | Scaled delay (4)                                              |
 *   | Scaled bandwidth (4)                                          |
 *   | MTU (3)                                       | Hop count     |
 *   | Reliability   | Load          | Internal tag  | Flags         |
 *   | Prefix length | Destination (1-4 octets) ... more destinations |
 *
 * Wide:
 *
 *   | Topology ID (2)               | AFI (2)                       |
 *   | Router ID (4)                                                 |
 *   | Offset        | Priority      | Reliability   | Load          |
 *   | MTU (3)                                       | Hop count     |
 *   | Delay (6) ...                 ...                             |
 *   | ... Bandwidth (6)                                             |
 *   | Reserved (2)                  | Flags (2)                     |
 *   | Extended metrics (Offset x 2 octets, section 6.9.3)           |
 *   | Next hop (4 for IPv4)                                         |
 *   | External data (20, external only, section 6.9.4)             |
 *   | Prefix length | Destination ...                               |
 *
 * The wide layout is the one Wireshark's packet-eigrp.c decodes: a 24-byte
 * metric whose first byte counts the 16-bit words of extended metrics that
 * follow it. Other address families stay as unknown TLVs (kept raw).
 */
import { Reader, Writer, WireError, ipv4Bytes, ipv4ToU32, ipv4ToString } from '../wire/index.js';
import { EigrpAfi } from './constants.js';
import {
  type Ipv4Destination,
  emitIpv4Destinations,
  ipv4DestinationsLength,
  parseIpv4Destinations,
} from './addr.js';

const PROTO = 'eigrp';

/** The external data block (RFC 7868 sections 6.8.3 and 6.9.4), 20 bytes. */
export interface ExternalData {
  /** Router ID of the redistributing router, dotted. */
  readonly originatingRouter: string;
  readonly originatingAs: number;
  readonly adminTag: number;
  /** Metric of the originating protocol. */
  readonly externalMetric: number;
  /** Reserved 16 bits, kept as received. */
  readonly reserved: number;
  /** EigrpExternalProtocol value. */
  readonly externalProtocol: number;
  /** EigrpExternalFlag bits. */
  readonly flags: number;
}

export const EXTERNAL_DATA_LENGTH = 20;

export function parseExternalData(r: Reader): ExternalData {
  const originatingRouter = ipv4ToString(r.bytes(4));
  const originatingAs = r.u32();
  const adminTag = r.u32();
  const externalMetric = r.u32();
  const reserved = r.u16();
  const externalProtocol = r.u8();
  const flags = r.u8();
  return { originatingRouter, originatingAs, adminTag, externalMetric, reserved, externalProtocol, flags };
}

export function emitExternalData(e: ExternalData, w: Writer): void {
  w.u32(ipv4ToU32(e.originatingRouter)).u32(e.originatingAs).u32(e.adminTag).u32(e.externalMetric);
  w.u16(e.reserved).u8(e.externalProtocol).u8(e.flags);
}

/**
 * The classic metric (RFC 7868 section 6.8.2), 16 bytes. Delay and bandwidth
 * are in IOS's scaled units: delay is tens of microseconds times 256,
 * bandwidth is 256 x 10^7 / kbps; a delay of 0xFFFFFFFF is unreachable.
 */
export interface ClassicMetric {
  readonly delay: number;
  readonly bandwidth: number;
  /** 24 bits. */
  readonly mtu: number;
  readonly hopCount: number;
  readonly reliability: number;
  readonly load: number;
  readonly internalTag: number;
  /** EigrpRouteFlag bits. */
  readonly flags: number;
}

export const CLASSIC_METRIC_LENGTH = 16;

export function parseClassicMetric(r: Reader): ClassicMetric {
  const delay = r.u32();
  const bandwidth = r.u32();
  const mtu = r.u24();
  const hopCount = r.u8();
  const reliability = r.u8();
  const load = r.u8();
  const internalTag = r.u8();
  const flags = r.u8();
  return { delay, bandwidth, mtu, hopCount, reliability, load, internalTag, flags };
}

export function emitClassicMetric(m: ClassicMetric, w: Writer): void {
  w.u32(m.delay).u32(m.bandwidth).u24(m.mtu).u8(m.hopCount).u8(m.reliability).u8(m.load).u8(m.internalTag).u8(m.flags);
}

/**
 * The wide metric (RFC 7868 section 6.9.2). Delay is in picoseconds and
 * bandwidth in kbps, both 48 bits, so they are bigint. The offset byte of the
 * wire format is not stored: it is extendedMetrics.length / 2.
 */
export interface WideMetric {
  readonly priority: number;
  readonly reliability: number;
  readonly load: number;
  /** 24 bits. */
  readonly mtu: number;
  readonly hopCount: number;
  /** 48 bits, picoseconds; 0xFFFFFFFFFFFF is unreachable. */
  readonly delay: bigint;
  /** 48 bits, kbps. */
  readonly bandwidth: bigint;
  /** Reserved 16 bits, kept as received. */
  readonly reserved: number;
  /** 16 bits: EigrpRouteFlag bits in the high byte, MP flags in the low byte. */
  readonly flags: number;
  /** Extended metric attributes (section 6.9.3: opcode, length in words, data), raw; even length. */
  readonly extendedMetrics: Uint8Array;
}

export const WIDE_METRIC_LENGTH = 24;
const U48 = (1n << 48n) - 1n;

function readU48(r: Reader): bigint {
  const hi = r.u16();
  const lo = r.u32();
  return (BigInt(hi) << 32n) | BigInt(lo);
}

function writeU48(w: Writer, v: bigint): void {
  if (v < 0n || v > U48) throw new WireError(PROTO, `48-bit value ${v} out of range`, w.pos);
  w.u16(Number(v >> 32n)).u32(Number(v & 0xffffffffn));
}

export function parseWideMetric(r: Reader): WideMetric {
  const words = r.u8();
  const priority = r.u8();
  const reliability = r.u8();
  const load = r.u8();
  const mtu = r.u24();
  const hopCount = r.u8();
  const delay = readU48(r);
  const bandwidth = readU48(r);
  const reserved = r.u16();
  const flags = r.u16();
  const extendedMetrics = r.bytes(words * 2);
  return { priority, reliability, load, mtu, hopCount, delay, bandwidth, reserved, flags, extendedMetrics };
}

export function wideMetricLength(m: WideMetric): number {
  return WIDE_METRIC_LENGTH + m.extendedMetrics.length;
}

export function emitWideMetric(m: WideMetric, w: Writer): void {
  const n = m.extendedMetrics.length;
  if (n % 2 !== 0 || n > 255 * 2) {
    throw new WireError(PROTO, `extended metrics of ${n} bytes: must be whole 16-bit words, at most 255`, w.pos);
  }
  w.u8(n / 2).u8(m.priority).u8(m.reliability).u8(m.load).u24(m.mtu).u8(m.hopCount);
  writeU48(w, m.delay);
  writeU48(w, m.bandwidth);
  w.u16(m.reserved).u16(m.flags).bytes(m.extendedMetrics);
}

/** A classic IPv4 route TLV: internal (0x0102) without external data, external (0x0103) with it. */
export interface ClassicRouteTlv {
  readonly kind: 'classicRoute';
  /** Next hop, dotted; 0.0.0.0 means "via the sender". */
  readonly nextHop: string;
  readonly external?: ExternalData;
  readonly metric: ClassicMetric;
  /** IOS puts one destination in each TLV; the format allows several (Wireshark walks them all), and none parses as an empty list. */
  readonly destinations: readonly Ipv4Destination[];
}

/** A multi-protocol IPv4 route TLV: internal (0x0602) or external (0x0603). */
export interface WideRouteTlv {
  readonly kind: 'wideRoute';
  readonly topologyId: number;
  /** Router ID of the originator, dotted. */
  readonly routerId: string;
  readonly metric: WideMetric;
  readonly nextHop: string;
  readonly external?: ExternalData;
  readonly destinations: readonly Ipv4Destination[];
}

export type RouteTlv = ClassicRouteTlv | WideRouteTlv;

/** Parse the value of a classic IPv4 route TLV (the reader spans exactly the value). */
export function parseClassicRouteValue(r: Reader, external: boolean): ClassicRouteTlv {
  const nextHop = ipv4ToString(r.bytes(4));
  const ext = external ? parseExternalData(r) : undefined;
  const metric = parseClassicMetric(r);
  const destinations = parseIpv4Destinations(r);
  return { kind: 'classicRoute', nextHop, external: ext, metric, destinations };
}

export function classicRouteValueLength(t: ClassicRouteTlv): number {
  return 4 + (t.external ? EXTERNAL_DATA_LENGTH : 0) + CLASSIC_METRIC_LENGTH + ipv4DestinationsLength(t.destinations);
}

export function emitClassicRouteValue(t: ClassicRouteTlv, w: Writer): void {
  w.u32(ipv4ToU32(t.nextHop));
  if (t.external) emitExternalData(t.external, w);
  emitClassicMetric(t.metric, w);
  emitIpv4Destinations(t.destinations, w);
}

/** True when a 0x0602/0x0603 value is for IPv4 (the only family decoded here). */
export function isIpv4WideValue(value: Reader): boolean {
  return value.remaining >= 4 && value.peek16(2) === EigrpAfi.IPV4;
}

export function parseWideRouteValue(r: Reader, external: boolean): WideRouteTlv {
  const topologyId = r.u16();
  const afi = r.u16();
  if (afi !== EigrpAfi.IPV4) r.fail(`address family ${afi} is not IPv4`, 2);
  const routerId = ipv4ToString(r.bytes(4));
  const metric = parseWideMetric(r);
  const nextHop = ipv4ToString(r.bytes(4));
  const ext = external ? parseExternalData(r) : undefined;
  const destinations = parseIpv4Destinations(r);
  return { kind: 'wideRoute', topologyId, routerId, metric, nextHop, external: ext, destinations };
}

export function wideRouteValueLength(t: WideRouteTlv): number {
  return 8 + wideMetricLength(t.metric) + 4 + (t.external ? EXTERNAL_DATA_LENGTH : 0) + ipv4DestinationsLength(t.destinations);
}

export function emitWideRouteValue(t: WideRouteTlv, w: Writer): void {
  w.u16(t.topologyId).u16(EigrpAfi.IPV4).bytes(ipv4Bytes(t.routerId));
  emitWideMetric(t.metric, w);
  w.u32(ipv4ToU32(t.nextHop));
  if (t.external) emitExternalData(t.external, w);
  emitIpv4Destinations(t.destinations, w);
}
