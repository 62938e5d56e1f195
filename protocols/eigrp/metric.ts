/**
 * EIGRP metrics: the vector a route carries (delay, bandwidth, MTU, hop count,
 * reliability, load) and the composite distance DUAL compares.
 *
 * One neutral vector serves both encodings: delay in picoseconds (the unit of
 * the wide TLVs, RFC 7868 section 6.9.2) and bandwidth in kbit/s. The classic
 * TLVs (section 6.8.2) carry delay as tens of microseconds times 256 and
 * bandwidth as 256 x 10^7 / kbit/s; the conversions below round so that any
 * value a classic peer sends maps back to the same number.
 *
 * Composite distances are bigint: the wide metric is 64-bit and K-values up to
 * 255 overflow a double's 53 bits. One infinity serves both styles.
 */
import { EIGRP_CLASSIC_INFINITY, EIGRP_WIDE_INFINITY } from './constants.js';
import type { KValues } from './build.js';
import type { ClassicMetric, WideMetric } from './route.js';

/** Metric style of an instance: classic (`router eigrp AS`) or wide (named mode). */
export type MetricStyle = 'classic' | 'wide';

export interface MetricVector {
  /** Sum of the delays along the path, picoseconds; DELAY_UNREACHABLE marks an unreachable route. */
  readonly delay: bigint;
  /** Minimum bandwidth along the path, kbit/s (0 only on unreachable routes). */
  readonly bandwidth: number;
  readonly mtu: number;
  readonly hopCount: number;
  /** 1-255, 255 = 100 % reliable; the minimum along the path. */
  readonly reliability: number;
  /** 1-255, the maximum along the path. */
  readonly load: number;
}

/** The wide delay of an unreachable route (RFC 7868 section 6.9.2). */
export const DELAY_UNREACHABLE = EIGRP_WIDE_INFINITY;
/** Distance of an unreachable route (both styles). */
export const INFINITE_DISTANCE = (1n << 64n) - 1n;

/** Picoseconds in the classic delay unit (ten microseconds). */
const PS_PER_TEN_USEC = 10_000_000n;
/** EIGRP_BANDWIDTH, RFC 7868 section 5.6.1: the 10^7 of the bandwidth term. */
const EIGRP_BANDWIDTH = 10_000_000n;
/** EIGRP_WIDE_SCALE, RFC 7868 section 5.6.2. */
const WIDE_SCALE = 65536n;
/** EIGRP_DELAY_PICO: picoseconds per microsecond (RFC 7868 section 5.6.2.2). */
const DELAY_PICO = 1_000_000n;
/** IOS "rib-scale": a wide composite is divided by 128 to fit the 32-bit RIB metric. */
export const RIB_SCALE = 128n;

export function isUnreachable(v: MetricVector): boolean {
  return v.delay >= DELAY_UNREACHABLE || v.bandwidth <= 0;
}

/** The vector of a directly attached interface: its delay (tens of usec), bandwidth (kbit/s) and MTU. */
export function interfaceVector(i: { readonly bandwidth: number; readonly delay: number; readonly mtu: number; readonly reliability?: number; readonly load?: number }): MetricVector {
  return {
    delay: BigInt(Math.max(0, Math.trunc(i.delay))) * PS_PER_TEN_USEC,
    bandwidth: Math.max(1, Math.trunc(i.bandwidth)),
    mtu: i.mtu,
    hopCount: 0,
    reliability: i.reliability ?? 255,
    load: i.load ?? 1,
  };
}

/**
 * The vector of a route heard over an interface (RFC 7868 section 5.6): delay
 * adds up, bandwidth, MTU and reliability take the minimum, load the maximum,
 * and the hop count grows by one. Unreachable stays unreachable.
 */
export function addLink(received: MetricVector, link: MetricVector): MetricVector {
  const hopCount = Math.min(255, received.hopCount + 1);
  if (isUnreachable(received)) return { ...received, delay: DELAY_UNREACHABLE, hopCount };
  const delay = received.delay + link.delay;
  return {
    delay: delay >= DELAY_UNREACHABLE ? DELAY_UNREACHABLE : delay,
    bandwidth: Math.min(received.bandwidth, link.bandwidth),
    mtu: Math.min(received.mtu, link.mtu),
    hopCount,
    reliability: Math.min(received.reliability, link.reliability),
    load: Math.max(received.load, link.load),
  };
}

/** A vector that says "unreachable" while keeping the other fields (IOS poison-reverse updates). */
export function unreachable(v: MetricVector): MetricVector {
  return { ...v, delay: DELAY_UNREACHABLE };
}

/**
 * The vector IOS puts in Queries and Replies for a destination it cannot reach:
 * delay all ones, bandwidth, hop count, reliability and load zero, the MTU
 * kept (EIGRP_subnet_down.pcap, frames 10-16).
 */
export function queryUnreachable(mtu: number): MetricVector {
  return { delay: DELAY_UNREACHABLE, bandwidth: 0, mtu, hopCount: 0, reliability: 0, load: 0 };
}

export function vectorsEqual(a: MetricVector, b: MetricVector): boolean {
  return a.delay === b.delay && a.bandwidth === b.bandwidth && a.mtu === b.mtu && a.hopCount === b.hopCount &&
    a.reliability === b.reliability && a.load === b.load;
}

// ---------------------------------------------------------------- classic units

/** Classic delay field (tens of usec x 256) from picoseconds; saturates below the infinity. */
export function classicDelayFromPs(ps: bigint): number {
  if (ps >= DELAY_UNREACHABLE) return EIGRP_CLASSIC_INFINITY;
  const v = (ps * 256n + PS_PER_TEN_USEC / 2n) / PS_PER_TEN_USEC;
  return v >= BigInt(EIGRP_CLASSIC_INFINITY) ? EIGRP_CLASSIC_INFINITY - 1 : Number(v);
}

export function psFromClassicDelay(d: number): bigint {
  if (d >>> 0 === EIGRP_CLASSIC_INFINITY) return DELAY_UNREACHABLE;
  return (BigInt(d >>> 0) * PS_PER_TEN_USEC + 128n) / 256n;
}

/** Classic bandwidth field: (10^7 / kbit/s) x 256, computed the way IOS does (T1: 6476 x 256 = 1657856). */
export function classicBandwidthFromKbps(kbps: number): number {
  if (kbps <= 0) return 0;
  return Math.min(EIGRP_CLASSIC_INFINITY, Math.floor(10_000_000 / kbps) * 256);
}

/**
 * kbit/s from a classic bandwidth field (0 stays 0: unknown, only on
 * unreachable routes). Rounding down makes every value IOS can produce
 * (floor(10^7 / kbit/s) x 256) map back to itself.
 */
export function kbpsFromClassicBandwidth(b: number): number {
  if (b <= 0) return 0;
  return Math.max(1, Math.floor((10_000_000 * 256) / b));
}

export function vectorFromClassic(m: ClassicMetric): MetricVector {
  return {
    delay: psFromClassicDelay(m.delay),
    bandwidth: kbpsFromClassicBandwidth(m.bandwidth),
    mtu: m.mtu,
    hopCount: m.hopCount,
    reliability: m.reliability,
    load: m.load,
  };
}

export function classicFromVector(v: MetricVector, flags = 0, internalTag = 0): ClassicMetric {
  return {
    delay: classicDelayFromPs(v.delay),
    bandwidth: classicBandwidthFromKbps(v.bandwidth),
    mtu: v.mtu & 0xffffff,
    hopCount: v.hopCount & 0xff,
    reliability: v.reliability & 0xff,
    load: v.load & 0xff,
    internalTag,
    flags,
  };
}

// ---------------------------------------------------------------- wide units

export function vectorFromWide(m: WideMetric): MetricVector {
  const bw = m.bandwidth >= EIGRP_WIDE_INFINITY ? 0 : Number(m.bandwidth);
  return {
    delay: m.delay >= EIGRP_WIDE_INFINITY ? DELAY_UNREACHABLE : m.delay,
    bandwidth: bw,
    mtu: m.mtu,
    hopCount: m.hopCount,
    reliability: m.reliability,
    load: m.load,
  };
}

export function wideFromVector(v: MetricVector, flags = 0): WideMetric {
  return {
    priority: 0,
    reliability: v.reliability & 0xff,
    load: v.load & 0xff,
    mtu: v.mtu & 0xffffff,
    hopCount: v.hopCount & 0xff,
    delay: v.delay >= DELAY_UNREACHABLE ? EIGRP_WIDE_INFINITY : v.delay,
    bandwidth: BigInt(Math.max(0, Math.min(v.bandwidth, Number(EIGRP_WIDE_INFINITY)))),
    reserved: 0,
    flags: flags & 0xffff,
    extendedMetrics: new Uint8Array(0),
  };
}

// ---------------------------------------------------------------- composites

/**
 * The classic composite, RFC 7868 section 5.6.1:
 *
 *   metric = 256 x ((K1 x BW + K2 x BW / (256 - load) + K3 x delay) x K5 / (reliability + K4))
 *
 * with BW = 10^7 / minimum bandwidth (kbit/s) and delay the sum in tens of
 * microseconds; the K5 factor applies only when K5 is not 0. Computed in the
 * scaled units IOS keeps (BW and delay already times 256), which is the same
 * number. A FastEthernet route: 256 x (100 + 10) = 28160.
 */
export function classicComposite(v: MetricVector, k: KValues): bigint {
  if (isUnreachable(v)) return INFINITE_DISTANCE;
  const bw = BigInt(Math.floor(10_000_000 / v.bandwidth)) * 256n;
  const delay = BigInt(classicDelayFromPs(v.delay));
  let m = BigInt(k.k1) * bw + (BigInt(k.k2) * bw) / BigInt(Math.max(1, 256 - v.load)) + BigInt(k.k3) * delay;
  if (k.k5 !== 0) m = (m * BigInt(k.k5)) / BigInt(Math.max(1, v.reliability + k.k4));
  return m >= BigInt(EIGRP_CLASSIC_INFINITY) ? INFINITE_DISTANCE : m;
}

/**
 * The wide composite, RFC 7868 section 5.6.2:
 *
 *   throughput = 10^7 x 65536 / minimum bandwidth (kbit/s)
 *   latency    = delay (ps) x 65536 / 10^6
 *   metric     = (K1 x throughput + K2 x throughput / (256 - load) + K3 x latency + K6 x extended) x K5 / (K4 + reliability)
 *
 * (K5 factor only when K5 is not 0; no extended attributes are carried, so the
 * K6 term is 0). A FastEthernet route: 6553600 + 6553600 = 13107200.
 */
export function wideComposite(v: MetricVector, k: KValues): bigint {
  if (isUnreachable(v)) return INFINITE_DISTANCE;
  const throughput = (EIGRP_BANDWIDTH * WIDE_SCALE) / BigInt(v.bandwidth);
  const latency = (v.delay * WIDE_SCALE) / DELAY_PICO;
  let m = BigInt(k.k1) * throughput + (BigInt(k.k2) * throughput) / BigInt(Math.max(1, 256 - v.load)) + BigInt(k.k3) * latency;
  if (k.k5 !== 0) m = (m * BigInt(k.k5)) / BigInt(Math.max(1, k.k4 + v.reliability));
  return m >= INFINITE_DISTANCE ? INFINITE_DISTANCE : m;
}

export function composite(v: MetricVector, k: KValues, style: MetricStyle): bigint {
  return style === 'wide' ? wideComposite(v, k) : classicComposite(v, k);
}

/** The metric handed to the RIB: the classic composite, or the wide one divided by the rib-scale (128). */
export function ribMetric(distance: bigint, style: MetricStyle): number {
  if (distance >= INFINITE_DISTANCE) return EIGRP_CLASSIC_INFINITY;
  const m = style === 'wide' ? distance / RIB_SCALE : distance;
  return m >= BigInt(EIGRP_CLASSIC_INFINITY) ? EIGRP_CLASSIC_INFINITY : Number(m);
}

/** Classic composite from interface-style units (kbit/s, tens of usec), for tests and show output. */
export function classicMetricOf(bandwidthKbps: number, delayTensOfUsec: number, k: KValues): bigint {
  return classicComposite(
    { delay: BigInt(delayTensOfUsec) * PS_PER_TEN_USEC, bandwidth: bandwidthKbps, mtu: 1500, hopCount: 0, reliability: 255, load: 1 },
    k,
  );
}

export function formatDistance(d: bigint): string {
  return d >= INFINITE_DISTANCE ? 'Inaccessible' : d.toString();
}
