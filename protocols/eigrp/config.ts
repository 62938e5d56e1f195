/**
 * Configuration of one EIGRP instance (`router eigrp AS`, or the IPv4 address
 * family of a named instance), in the terms of the IOS commands that set it.
 * The daemon maps its parsed configuration onto these plain values; the engine
 * fills in IOS defaults with normalizeConfig().
 */
import { ipv4ToU32, u32ToIpv4 } from '../wire/index.js';
import { DEFAULT_K_VALUES, type KValues } from './build.js';
import type { MetricStyle } from './metric.js';

export interface EigrpKey {
  /** Key ID (`key N` in the key chain; sent in the Authentication TLV). */
  readonly id: number;
  /** The key string. */
  readonly secret: string;
}

export interface EigrpAuthConfig {
  /** `ip authentication mode eigrp AS md5`, or `authentication mode hmac-sha-256 PASSWORD` (named mode). */
  readonly mode: 'md5' | 'hmac-sha-256';
  /**
   * The key chain's keys; the lowest ID is sent (IOS: the first valid key).
   * For HMAC-SHA-256 with a bare password, pass it as one key (id 0).
   */
  readonly keys: readonly EigrpKey[];
}

export interface EigrpSummary {
  readonly prefix: string;
  readonly prefixLength: number;
}

export interface EigrpInterfaceSpec {
  /** The interface name as the daemon knows it ("Tunnel0", "eth1"). */
  readonly name: string;
  /** Our address on it and its prefix length. */
  readonly address: string;
  readonly prefixLength: number;
  /** kbit/s (`bandwidth`). */
  readonly bandwidth: number;
  /** Tens of microseconds (`delay`). */
  readonly delay: number;
  /** IP MTU in bytes. */
  readonly mtu: number;
  /** Seconds (`ip hello-interval eigrp`); default 5, or 60 on a low-speed NBMA interface. */
  readonly helloInterval?: number;
  /** Seconds (`ip hold-time eigrp`); default 15, or 180 on a low-speed NBMA interface. */
  readonly holdTime?: number;
  /** `ip split-horizon eigrp`, default on; a DMVPN hub turns it off. */
  readonly splitHorizon?: boolean;
  /** `ip next-hop-self eigrp`, default on; off keeps the original next hop (DMVPN Phase 2). */
  readonly nextHopSelf?: boolean;
  /** `passive-interface`: advertised, but no hellos and no neighbours. */
  readonly passive?: boolean;
  /** `ip summary-address eigrp AS ...` on this interface. */
  readonly summaries?: readonly EigrpSummary[];
  readonly auth?: EigrpAuthConfig;
  /** A multipoint interface (mGRE tunnel, NBMA): the daemon replicates multicast. Informational. */
  readonly multipoint?: boolean;
  /** A low-speed NBMA interface (Frame Relay style): hello 60 s / hold 180 s by default when bandwidth <= T1. */
  readonly nbma?: boolean;
  /** Percentage of the bandwidth EIGRP may use (`ip bandwidth-percent eigrp`), default 50. */
  readonly bandwidthPercent?: number;
}

/** A `network` statement: address and wildcard (absent: the classful network). */
export interface EigrpNetwork {
  readonly address: string;
  readonly wildcard?: string;
}

export interface EigrpStubConfig {
  readonly connected?: boolean;
  readonly summary?: boolean;
  readonly static?: boolean;
  readonly redistributed?: boolean;
  readonly receiveOnly?: boolean;
}

/** `default-metric` / `redistribute ... metric BW DELAY REL LOAD MTU`: delay in tens of usec. */
export interface RedistributeMetric {
  readonly bandwidth: number;
  readonly delay: number;
  readonly reliability: number;
  readonly load: number;
  readonly mtu: number;
}

export interface EigrpRedistributeConfig {
  readonly source: 'connected' | 'static';
  readonly metric?: RedistributeMetric;
}

export interface EigrpConfig {
  readonly as: number;
  readonly routerId: string;
  readonly k?: KValues;
  readonly interfaces: readonly EigrpInterfaceSpec[];
  readonly networks: readonly EigrpNetwork[];
  readonly stub?: EigrpStubConfig;
  readonly redistribute?: readonly EigrpRedistributeConfig[];
  /** `variance`, default 1. */
  readonly variance?: number;
  /** `maximum-paths`, default 4. */
  readonly maximumPaths?: number;
  /** `distance eigrp INTERNAL EXTERNAL`, default 90 / 170. */
  readonly internalDistance?: number;
  readonly externalDistance?: number;
  /** Classic (`router eigrp AS`, TLV 1.2) or wide (named mode, TLV 2.0). Default classic. */
  readonly metricStyle?: MetricStyle;
  /** Software version TLV: IOS release and EIGRP TLV version we claim. Defaults follow the style. */
  readonly iosVersion?: readonly [number, number];
  readonly tlvVersion?: readonly [number, number];
  /** First reliable sequence number (any nonzero value; IOS starts anywhere). Default 1. */
  readonly initialSequence?: number;
}

export interface NormalizedInterface extends Required<Omit<EigrpInterfaceSpec, 'auth'>> {
  readonly auth?: EigrpAuthConfig;
}

export interface NormalizedConfig {
  readonly as: number;
  readonly routerId: string;
  readonly k: KValues;
  readonly interfaces: readonly NormalizedInterface[];
  readonly networks: readonly EigrpNetwork[];
  readonly stub?: EigrpStubConfig;
  readonly redistribute: readonly EigrpRedistributeConfig[];
  readonly variance: number;
  readonly maximumPaths: number;
  readonly internalDistance: number;
  readonly externalDistance: number;
  readonly metricStyle: MetricStyle;
  readonly iosVersion: readonly [number, number];
  readonly tlvVersion: readonly [number, number];
  readonly initialSequence: number;
}

/** T1, the speed at or under which an NBMA interface gets the slow hello timers. */
const T1_KBPS = 1544;

export function normalizeInterface(i: EigrpInterfaceSpec): NormalizedInterface {
  const slow = i.nbma === true && i.bandwidth <= T1_KBPS;
  return {
    name: i.name,
    address: i.address,
    prefixLength: i.prefixLength,
    bandwidth: i.bandwidth,
    delay: i.delay,
    mtu: i.mtu,
    helloInterval: i.helloInterval ?? (slow ? 60 : 5),
    holdTime: i.holdTime ?? (slow ? 180 : 15),
    splitHorizon: i.splitHorizon ?? true,
    nextHopSelf: i.nextHopSelf ?? true,
    passive: i.passive ?? false,
    summaries: (i.summaries ?? []).map((s) => ({ prefix: maskPrefix(s.prefix, s.prefixLength), prefixLength: s.prefixLength })),
    auth: i.auth,
    multipoint: i.multipoint ?? false,
    nbma: i.nbma ?? false,
    bandwidthPercent: i.bandwidthPercent ?? 50,
  };
}

export function normalizeConfig(c: EigrpConfig): NormalizedConfig {
  const style = c.metricStyle ?? 'classic';
  return {
    as: c.as,
    routerId: c.routerId,
    k: c.k ?? DEFAULT_K_VALUES,
    interfaces: c.interfaces.map(normalizeInterface),
    networks: c.networks,
    stub: c.stub,
    redistribute: c.redistribute ?? [],
    variance: Math.max(1, c.variance ?? 1),
    maximumPaths: Math.max(1, c.maximumPaths ?? 4),
    internalDistance: c.internalDistance ?? 90,
    externalDistance: c.externalDistance ?? 170,
    metricStyle: style,
    // IOS 12.4 announces 12.4 / TLV 1.2 (the captures); IOS 15 named mode announces release 23.0 / TLV 2.0.
    iosVersion: c.iosVersion ?? (style === 'wide' ? [23, 0] : [12, 4]),
    tlvVersion: c.tlvVersion ?? (style === 'wide' ? [2, 0] : [1, 2]),
    initialSequence: Math.max(1, (c.initialSequence ?? 1) >>> 0),
  };
}

// ---------------------------------------------------------------- prefixes

export function maskOf(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

export function maskPrefix(address: string, prefixLength: number): string {
  return u32ToIpv4((ipv4ToU32(address) & maskOf(prefixLength)) >>> 0);
}

/** The key a prefix is stored under: "a.b.c.d/len" with host bits cleared. */
export function prefixKey(prefix: string, prefixLength: number): string {
  return `${maskPrefix(prefix, prefixLength)}/${prefixLength}`;
}

export function parsePrefixKey(key: string): { prefix: string; prefixLength: number } {
  const [p, l] = key.split('/');
  return { prefix: p, prefixLength: Number(l) };
}

/** True when `address` lies inside prefix/len. */
export function inPrefix(address: string, prefix: string, prefixLength: number): boolean {
  const m = maskOf(prefixLength);
  return ((ipv4ToU32(address) & m) >>> 0) === ((ipv4ToU32(prefix) & m) >>> 0);
}

/** True when inner/innerLen is the same as or more specific than outer/outerLen. */
export function prefixCovers(outer: string, outerLen: number, inner: string, innerLen: number): boolean {
  return innerLen >= outerLen && inPrefix(inner, outer, outerLen);
}

/** The classful mask length of an address (A /8, B /16, C /24), for `network` without a wildcard. */
export function classfulLength(address: string): number {
  const first = ipv4ToU32(address) >>> 24;
  if (first < 128) return 8;
  if (first < 192) return 16;
  return 24;
}

/** Does a `network` statement cover this address (RFC-free: the IOS rule, address AND NOT wildcard)? */
export function networkMatches(n: EigrpNetwork, address: string): boolean {
  const wild = n.wildcard !== undefined ? ipv4ToU32(n.wildcard) : ~maskOf(classfulLength(n.address)) >>> 0;
  const care = ~wild >>> 0;
  return ((ipv4ToU32(address) & care) >>> 0) === ((ipv4ToU32(n.address) & care) >>> 0);
}

export function anyNetworkMatches(networks: readonly EigrpNetwork[], address: string): boolean {
  return networks.some((n) => networkMatches(n, address));
}

/** Stub flags (EigrpStubFlag bits) of a stub configuration; `eigrp stub` alone means connected + summary. */
export function stubFlags(s: EigrpStubConfig): number {
  if (s.receiveOnly) return 0x0020;
  const none = !s.connected && !s.summary && !s.static && !s.redistributed;
  let f = 0;
  if (s.connected || none) f |= 0x0001;
  if (s.static) f |= 0x0002;
  if (s.summary || none) f |= 0x0004;
  if (s.redistributed) f |= 0x0008;
  return f;
}
