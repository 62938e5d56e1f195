/**
 * Builders for the packets the EIGRP router sends, in the shapes Cisco IOS
 * sends them (EIGRP_adjacency.pcap and friends), and small readers for the
 * packets it receives. Builders leave the checksum undefined so emit
 * computes it.
 */
import {
  EigrpOpcode,
  EIGRP_GOODBYE_K,
  eigrpOpcodeName,
} from './constants.js';
import type { Ipv4Destination } from './addr.js';
import type { ClassicRouteTlv, ExternalData, RouteTlv, WideRouteTlv } from './route.js';
import type { EigrpTlv, EigrpTlvKind, ParametersTlv } from './tlv.js';
import type { EigrpHeader, EigrpPacket } from './wire.js';

/** K1-K6 (RFC 7868 section 5.5); the IOS default is K1 = K3 = 1, the rest 0. */
export interface KValues {
  readonly k1: number;
  readonly k2: number;
  readonly k3: number;
  readonly k4: number;
  readonly k5: number;
  readonly k6: number;
}

export const DEFAULT_K_VALUES: KValues = { k1: 1, k2: 0, k3: 1, k4: 0, k5: 0, k6: 0 };

/** Header fields every builder takes. */
export interface PacketOptions {
  readonly as: number;
  readonly sequence?: number;
  readonly ack?: number;
  /** EigrpFlag bits. */
  readonly flags?: number;
  readonly virtualRouterId?: number;
}

function header(opcode: number, o: PacketOptions): EigrpHeader {
  return {
    opcode,
    flags: o.flags ?? 0,
    sequence: o.sequence ?? 0,
    ack: o.ack ?? 0,
    virtualRouterId: o.virtualRouterId ?? 0,
    as: o.as,
  };
}

export interface HelloOptions {
  readonly as: number;
  /** Seconds; IOS's default is 15 (three Hello intervals). */
  readonly holdTime: number;
  readonly k?: KValues;
  /** Software version TLV; IOS 12.4 sends 12.4 / 1.2. */
  readonly iosVersion?: readonly [number, number];
  readonly tlvVersion?: readonly [number, number];
  /** EigrpStubFlag bits: adds a stub TLV when given. */
  readonly stub?: number;
  /** Extra TLVs after the standard ones (Sequence, Next Multicast Sequence, Authentication...). */
  readonly extra?: readonly EigrpTlv[];
  readonly flags?: number;
  readonly virtualRouterId?: number;
}

export function parametersTlv(k: KValues, holdTime: number): ParametersTlv {
  return { kind: 'parameters', ...k, holdTime };
}

/** Multicast Hello: Parameters and Software Version TLVs, sequence and ack 0 (as IOS sends). */
export function buildHello(o: HelloOptions): EigrpPacket {
  const [iosMajor, iosMinor] = o.iosVersion ?? [12, 4];
  const [tlvMajor, tlvMinor] = o.tlvVersion ?? [1, 2];
  const tlvs: EigrpTlv[] = [
    parametersTlv(o.k ?? DEFAULT_K_VALUES, o.holdTime),
    { kind: 'softwareVersion', iosMajor, iosMinor, tlvMajor, tlvMinor },
  ];
  if (o.stub !== undefined) tlvs.push({ kind: 'stub', flags: o.stub });
  if (o.extra) tlvs.push(...o.extra);
  return { header: header(EigrpOpcode.HELLO, { as: o.as, flags: o.flags, virtualRouterId: o.virtualRouterId }), tlvs };
}

/**
 * Goodbye: a Hello whose Parameters TLV has K1-K5 = 255 (RFC 7868 section
 * 6.7.1); neighbours drop the adjacency at once ("Interface Goodbye
 * received"). K6 stays 0 and the Software Version TLV follows, as in
 * EIGRP_goodbye.pcap.
 */
export function buildGoodbye(o: Omit<HelloOptions, 'k' | 'stub'>): EigrpPacket {
  const g = EIGRP_GOODBYE_K;
  return buildHello({ ...o, k: { k1: g, k2: g, k3: g, k4: g, k5: g, k6: 0 } });
}

/** ACK: a unicast Hello with no TLVs, sequence 0 and the acknowledged sequence number. */
export function buildAck(o: { readonly as: number; readonly ack: number; readonly virtualRouterId?: number }): EigrpPacket {
  return { header: header(EigrpOpcode.HELLO, { as: o.as, ack: o.ack, virtualRouterId: o.virtualRouterId }), tlvs: [] };
}

export interface RoutePacketOptions extends PacketOptions {
  readonly sequence: number;
  readonly routes: readonly RouteTlv[];
  /** Extra TLVs placed before the routes (e.g. Authentication, which IOS puts first). */
  readonly extra?: readonly EigrpTlv[];
}

function routePacket(opcode: number, o: RoutePacketOptions): EigrpPacket {
  return { header: header(opcode, o), tlvs: [...(o.extra ?? []), ...o.routes] };
}

/** Update (INIT with no routes to open an adjacency, EOT on the last start-up update). */
export function buildUpdate(o: RoutePacketOptions): EigrpPacket {
  return routePacket(EigrpOpcode.UPDATE, o);
}

/** Query: routes carry delay 0xFFFFFFFF (unreachable) while the sender is active. */
export function buildQuery(o: RoutePacketOptions): EigrpPacket {
  return routePacket(EigrpOpcode.QUERY, o);
}

export function buildReply(o: RoutePacketOptions): EigrpPacket {
  return routePacket(EigrpOpcode.REPLY, o);
}

export function buildSiaQuery(o: RoutePacketOptions): EigrpPacket {
  return routePacket(EigrpOpcode.SIA_QUERY, o);
}

export function buildSiaReply(o: RoutePacketOptions): EigrpPacket {
  return routePacket(EigrpOpcode.SIA_REPLY, o);
}

/** One classic route, in the units of the classic metric (RFC 7868 section 6.8.2). */
export interface ClassicRouteSpec extends Ipv4Destination {
  /** Defaults to 0.0.0.0 ("via me"), as IOS sends. */
  readonly nextHop?: string;
  readonly delay: number;
  readonly bandwidth: number;
  readonly mtu: number;
  readonly hopCount: number;
  readonly reliability: number;
  readonly load: number;
  readonly internalTag?: number;
  readonly flags?: number;
  /** Makes it an external route (type 0x0103). */
  readonly external?: ExternalData;
}

/** A one-destination classic TLV, the way IOS packs them. */
export function classicRoute(s: ClassicRouteSpec): ClassicRouteTlv {
  return {
    kind: 'classicRoute',
    nextHop: s.nextHop ?? '0.0.0.0',
    external: s.external,
    metric: {
      delay: s.delay,
      bandwidth: s.bandwidth,
      mtu: s.mtu,
      hopCount: s.hopCount,
      reliability: s.reliability,
      load: s.load,
      internalTag: s.internalTag ?? 0,
      flags: s.flags ?? 0,
    },
    destinations: [{ prefix: s.prefix, prefixLength: s.prefixLength }],
  };
}

/** One wide-metric route (RFC 7868 section 6.9.2): delay in picoseconds, bandwidth in kbps. */
export interface WideRouteSpec extends Ipv4Destination {
  readonly nextHop?: string;
  readonly routerId: string;
  readonly topologyId?: number;
  readonly priority?: number;
  readonly delay: bigint;
  readonly bandwidth: bigint;
  readonly mtu: number;
  readonly hopCount: number;
  readonly reliability: number;
  readonly load: number;
  readonly flags?: number;
  readonly extendedMetrics?: Uint8Array;
  readonly external?: ExternalData;
}

export function wideRoute(s: WideRouteSpec): WideRouteTlv {
  return {
    kind: 'wideRoute',
    topologyId: s.topologyId ?? 0,
    routerId: s.routerId,
    metric: {
      priority: s.priority ?? 0,
      reliability: s.reliability,
      load: s.load,
      mtu: s.mtu,
      hopCount: s.hopCount,
      delay: s.delay,
      bandwidth: s.bandwidth,
      reserved: 0,
      flags: s.flags ?? 0,
      extendedMetrics: s.extendedMetrics ?? new Uint8Array(0),
    },
    nextHop: s.nextHop ?? '0.0.0.0',
    external: s.external,
    destinations: [{ prefix: s.prefix, prefixLength: s.prefixLength }],
  };
}

/** The first TLV of a kind, typed. */
export function findTlv<K extends EigrpTlvKind>(p: EigrpPacket, kind: K): Extract<EigrpTlv, { kind: K }> | undefined {
  return p.tlvs.find((t): t is Extract<EigrpTlv, { kind: K }> => t.kind === kind);
}

export function isRouteTlv(t: EigrpTlv): t is RouteTlv {
  return t.kind === 'classicRoute' || t.kind === 'wideRoute';
}

export function routeTlvs(p: EigrpPacket): RouteTlv[] {
  return p.tlvs.filter(isRouteTlv);
}

/** An ACK is a Hello with no TLVs and a nonzero acknowledgment number (RFC 7868 section 5). */
export function isAck(p: EigrpPacket): boolean {
  return p.header.opcode === EigrpOpcode.HELLO && p.header.ack !== 0 && p.tlvs.length === 0;
}

/** A goodbye: a Hello whose Parameters TLV has K1-K5 all 255. */
export function isGoodbye(p: EigrpPacket): boolean {
  if (p.header.opcode !== EigrpOpcode.HELLO) return false;
  const k = findTlv(p, 'parameters');
  const g = EIGRP_GOODBYE_K;
  return k !== undefined && k.k1 === g && k.k2 === g && k.k3 === g && k.k4 === g && k.k5 === g;
}

/** What to call a packet in logs: its opcode name, or ACK / GOODBYE for those Hellos. */
export function eigrpPacketName(p: EigrpPacket): string {
  if (isAck(p)) return 'ACK';
  if (isGoodbye(p)) return 'GOODBYE';
  return eigrpOpcodeName(p.header.opcode);
}
