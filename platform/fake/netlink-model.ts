/**
 * The fake rtnetlink's records and their defaults: what a device of each kind looks like when
 * created (ARPHRD type, hardware address length, MTU and its bounds), and the Link view of it.
 */
import { PlatformError } from '../errors.js';
import { ipv4ToNumber, maskOf } from '../netlink-values.js';
import type { GreParams, Link, NeighbourState, RouteType } from '../ports.js';

/** ARPHRD_* values used by the fake's device kinds (include/uapi/linux/if_arp.h). */
export const ArpHrd = { ETHER: 1, LOOPBACK: 772, IPGRE: 778, NONE: 65534 } as const;

export interface FakeLinkSeed {
  readonly name: string;
  /** "veth", "tun", "bridge", "gre" ...; undefined is a plain Ethernet device. */
  readonly kind?: string;
  readonly linkType?: number;
  readonly mtu?: number;
  readonly minMtu?: number;
  readonly maxMtu?: number;
  readonly address?: Uint8Array;
  readonly up?: boolean;
  /** Default true. */
  readonly carrier?: boolean;
  readonly pointopoint?: boolean;
  readonly gre?: GreParams;
}

export interface FakeLink {
  index: number;
  name: string;
  kind?: string;
  linkType: number;
  up: boolean;
  carrier: boolean;
  mtu: number;
  minMtu: number;
  maxMtu: number;
  address?: Uint8Array;
  pointopoint: boolean;
  gre?: GreParams;
  /** IFF_NOARP cleared by setLinkArp (ip_gre and TUN start with it set; not in the Link view). */
  arp?: boolean;
}

export interface FakeAddress {
  index: number;
  local: Uint8Array;
  prefixLength: number;
  secondary: boolean;
}

export interface FakeRoute {
  dst: Uint8Array;
  length: number;
  type: RouteType;
  gateway?: Uint8Array;
  oif?: number;
  metric: number;
  table: number;
  protocol: number;
  scope: number;
  prefsrc?: Uint8Array;
}

export interface FakeNeighbour {
  index: number;
  address: Uint8Array;
  lladdr?: Uint8Array;
  state: NeighbourState;
}

export const ETH_DATA_LEN = 1500;

export function seedDefaults(seed: FakeLinkSeed, index: number): FakeLink {
  const kind = seed.kind;
  const ether = Uint8Array.of(0x02, 0, 0, 0, (index >> 8) & 0xff, index & 0xff);
  const base =
    kind === 'tun'
      ? { linkType: ArpHrd.NONE, address: undefined, pointopoint: true, mtu: ETH_DATA_LEN }
      : kind === 'gre'
        ? // ip_tunnel: 1500 less the outer IPv4 header (20) and the GRE header (4)
          { linkType: ArpHrd.IPGRE, address: new Uint8Array(4), pointopoint: false, mtu: ETH_DATA_LEN - 24 }
        : { linkType: ArpHrd.ETHER, address: ether, pointopoint: false, mtu: ETH_DATA_LEN };
  return {
    index,
    name: seed.name,
    ...(kind !== undefined ? { kind } : {}),
    linkType: seed.linkType ?? base.linkType,
    up: seed.up ?? false,
    carrier: seed.carrier ?? true,
    mtu: seed.mtu ?? base.mtu,
    minMtu: seed.minMtu ?? 68,
    maxMtu: seed.maxMtu ?? 65535,
    ...(seed.address ?? base.address ? { address: new Uint8Array(seed.address ?? base.address!) } : {}),
    pointopoint: seed.pointopoint ?? base.pointopoint,
    ...(seed.gre ? { gre: seed.gre } : {}),
  };
}

export const same = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
export const ZERO = new Uint8Array(4);

export function fail(errno: number, syscall: string, operation: string): PlatformError {
  return new PlatformError({ code: 'netlink', errno, syscall, operation });
}

export function masked(a: Uint8Array, length: number): Uint8Array {
  const v = (ipv4ToNumber(a) & maskOf(length)) >>> 0;
  return Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}

export function view(l: FakeLink): Link {
  return {
    index: l.index,
    name: l.name,
    ...(l.kind !== undefined ? { kind: l.kind } : {}),
    linkType: l.linkType,
    up: l.up,
    running: l.up && l.carrier,
    mtu: l.mtu,
    ...(l.address ? { address: new Uint8Array(l.address) } : {}),
    ...(l.gre ? { gre: l.gre } : {}),
  };
}
