/**
 * Child SAs of a DMVPN IKE SA: one transport-mode ESP pair protecting GRE
 * (IP protocol 47) between the two NBMA addresses, as IOS negotiates it for
 * `tunnel protection ipsec profile` on an mGRE tunnel.
 *
 * Traffic selectors (RFC 7296 section 2.9): the initiator offers TSi = its own
 * address, TSr = the peer's, protocol 47, all ports. A responder narrows what it
 * is offered to that one host pair and protocol 47, or answers TS_UNACCEPTABLE
 * when the offer does not contain it. Behind a NAT the initiator's selector
 * names its private address (its ID), which the responder also accepts
 * (section 2.23.1: transport mode selectors carry the original addresses).
 */
import { ipv4ToU32, isIpv4 } from '../wire/index.js';
import { TsType } from './constants.js';
import { type TrafficSelector, type AddressRangeSelector, isAddressRange, ipv4Selector } from './selectors.js';
import type { ChildKeys, ChildSuite } from './crypto.js';
import type { RandomSource } from './dh.js';
import { type ChildSaInfo, encrDisplay, integDisplay } from './engine-types.js';

export const GRE_PROTOCOL = 47;

export type ChildState =
  | 'installed'
  /** Our CREATE_CHILD_SA rekey request for it is in flight. */
  | 'rekeying'
  /** A newer SA replaced it; it stays until its Delete exchange completes. */
  | 'rekeyed'
  /** We sent a Delete for it. */
  | 'deleting';

export interface ChildSa {
  readonly spiIn: number;
  readonly spiOut: number;
  readonly suite: ChildSuite;
  readonly keys: ChildKeys;
  /** We initiated the exchange that created it (so our outbound keys are ei/ai). */
  readonly initiator: boolean;
  state: ChildState;
  readonly createdAt: number;
  rekeyAt: number;
  readonly expiresAt: number;
  /** The nonces of the exchange that created it, for the collision rule of section 2.8.1. */
  readonly ni: Uint8Array;
  readonly nr: Uint8Array;
  /** The host addresses of its traffic selectors (ours, the peer's), reused when it is rekeyed. */
  readonly tsLocal: string;
  readonly tsRemote: string;
  /** The SA it replaced, if it came from a rekey. */
  readonly replaces?: { readonly spiIn: number; readonly spiOut: number };
  /** Why it is being deleted, for the child-down reason. */
  deleteReason?: string;
}

/** A fresh inbound SPI: 4 random octets, not 0..255 (RFC 4303 section 2.1), not in use. */
export function newChildSpi(random: RandomSource, inUse: (spi: number) => boolean): number {
  for (;;) {
    const b = random(4);
    const spi = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
    if (spi >= 256 && !inUse(spi)) return spi;
  }
}

/** The initiator's selectors: itself and the peer, GRE, all ports. */
export function offerSelectors(local: string, remote: string): { tsi: TrafficSelector[]; tsr: TrafficSelector[] } {
  return { tsi: [ipv4Selector(local, local, GRE_PROTOCOL)], tsr: [ipv4Selector(remote, remote, GRE_PROTOCOL)] };
}

function contains(ts: AddressRangeSelector, address: string, protocol: number): boolean {
  if (ts.tsType !== TsType.TS_IPV4_ADDR_RANGE || !isIpv4(address)) return false;
  if (ts.ipProtocol !== 0 && ts.ipProtocol !== protocol) return false;
  if (ts.startPort !== 0 || ts.endPort !== 65535) return false;
  const a = ipv4ToU32(address);
  return ipv4ToU32(ts.startAddress) <= a && a <= ipv4ToU32(ts.endAddress);
}

function covers(list: readonly TrafficSelector[], address: string, protocol = GRE_PROTOCOL): boolean {
  return list.some((t) => isAddressRange(t) && contains(t, address, protocol));
}

/**
 * Responder: narrow the initiator's offer to GRE between one of `initiatorAddresses`
 * (its outer address, then its ID) and our address; undefined means TS_UNACCEPTABLE.
 */
export function narrowSelectors(
  tsi: readonly TrafficSelector[], tsr: readonly TrafficSelector[], initiatorAddresses: readonly string[], responder: string,
): { tsi: TrafficSelector[]; tsr: TrafficSelector[]; initiator: string } | undefined {
  if (!covers(tsr, responder)) return undefined;
  const initiator = initiatorAddresses.find((a) => covers(tsi, a));
  if (initiator === undefined) return undefined;
  return { tsi: [ipv4Selector(initiator, initiator, GRE_PROTOCOL)], tsr: [ipv4Selector(responder, responder, GRE_PROTOCOL)], initiator };
}

/** Initiator: the responder's selectors must lie inside what we offered and still cover the GRE pair. */
export function acceptSelectors(offered: { tsi: readonly TrafficSelector[]; tsr: readonly TrafficSelector[] }, tsi: readonly TrafficSelector[], tsr: readonly TrafficSelector[]): boolean {
  const inside = (got: readonly TrafficSelector[], ours: readonly TrafficSelector[]): boolean =>
    got.length > 0 &&
    got.every((g) => isAddressRange(g) && g.ipProtocol === GRE_PROTOCOL && ours.some((o) => isAddressRange(o) && contains(o, g.startAddress, GRE_PROTOCOL) && contains(o, g.endAddress, GRE_PROTOCOL)));
  return inside(tsi, offered.tsi) && inside(tsr, offered.tsr);
}

/** The daemon's view of a child SA. */
export function childInfo(c: ChildSa, local: string, remote: string, natT: { srcPort: number; dstPort: number } | undefined, lifetimeSeconds: number): ChildSaInfo {
  const { ei, ai, er, ar } = c.keys;
  const out = c.initiator ? { encrKey: ei, integKey: ai } : { encrKey: er, integKey: ar };
  const inn = c.initiator ? { encrKey: er, integKey: ar } : { encrKey: ei, integKey: ai };
  const integ = c.suite.integ;
  return {
    spiIn: c.spiIn,
    spiOut: c.spiOut,
    encr: { id: c.suite.encr.id, keyBits: c.suite.encr.keyBits, name: encrDisplay(c.suite.encr) },
    ...(integ ? { integ: { id: integ.id, name: integDisplay(integ), icvBits: integ.icvSize * 8 } } : {}),
    inbound: inn,
    outbound: out,
    keys: c.keys,
    initiator: c.initiator,
    mode: 'transport',
    local,
    remote,
    protocol: GRE_PROTOCOL,
    ...(natT ? { natT } : {}),
    lifetimeSeconds,
    ...(c.suite.dh !== undefined ? { pfsGroup: c.suite.dh } : {}),
  };
}

/** The lowest of the nonces of an exchange, for the collision rule (sections 2.8.1 and 2.8.2). */
export function lowestNonce(ni: Uint8Array, nr: Uint8Array): Uint8Array {
  return compareBytes(ni, nr) <= 0 ? ni : nr;
}

/** Lexicographic order of octet strings, shorter first on a common prefix. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** `rekeyAt` for a lifetime: 85 to 90 % of it, the jitter from `random` so two peers rarely collide. */
export function rekeyTime(now: number, lifetimeSeconds: number, random: RandomSource): number {
  const r = random(2);
  const jitter = ((r[0] << 8) | r[1]) / 0xffff;
  return now + Math.floor(lifetimeSeconds * 1000 * (0.9 - 0.05 * jitter));
}
