/**
 * Ports: the small interfaces protocol-facing code talks to, with an in-memory
 * twin in platform/fake/. The userspace dataplane's port is the typed facade of
 * the native addon (platform/native/index.ts: Dataplane, RawIpSocket).
 *
 * The rtnetlink port: links, IPv4 addresses, routes and neighbours, as the daemon needs them for
 * the kernel dataplane (an ip_gre multipoint device, NHRP mappings as neighbour entries whose
 * link-layer address is the NBMA address, NHRP shortcut and EIGRP routes).
 *
 * Implementations: platform/linux/rtnetlink.ts
 * (the kernel, over NETLINK_ROUTE) and platform/fake/netlink.ts (in memory, same state rules and
 * the same errors). Constants and shared helpers are in platform/netlink-values.ts.
 *
 * Devices are named by their name ("dmvpn0"), as the configuration names them; indexes are
 * reported but never required. Every failure is a PlatformError (platform/errors.ts).
 */
import type { PlatformError } from './errors.js';

/** Route types the daemon installs (RTN_* in include/uapi/linux/rtnetlink.h). */
export type RouteType = 'unicast' | 'blackhole' | 'unreachable' | 'prohibit';

/** NUD_* states (include/uapi/linux/neighbour.h); 'none' is NUD_NONE (0). */
export type NeighbourState = 'none' | 'incomplete' | 'reachable' | 'stale' | 'delay' | 'probe' | 'failed' | 'noarp' | 'permanent';

/** States a caller may program. NHRP registrations/resolutions are 'permanent' until removed;
 * 'reachable' lets the kernel age the entry to stale like a learned one. */
export type SettableNeighbourState = 'permanent' | 'reachable' | 'noarp' | 'stale';

/** ip_gre tunnel parameters as the kernel reports them (IFLA_INFO_DATA / IFLA_GRE_*). */
export interface GreParams {
  /** GRE key (RFC 2890) when the device is keyed in both directions (`tunnel key`). */
  readonly key?: number;
  /** Tunnel source (`tunnel source`); absent when any. */
  readonly local?: string;
  /** Tunnel destination; absent for a multipoint (mGRE) device. */
  readonly remote?: string;
  /** 0 means inherit from the inner packet. */
  readonly ttl: number;
  readonly tos: number;
  /** Path MTU discovery (DF set on the outer header). */
  readonly pmtudisc: boolean;
  /** Index of the underlay device the tunnel is bound to (IFLA_GRE_LINK), if any. */
  readonly underlay?: number;
}

export interface Link {
  readonly index: number;
  readonly name: string;
  /** IFLA_INFO_KIND: "gre", "veth", "tun", "bridge", "dummy" ...; absent for lo and hardware. */
  readonly kind?: string;
  /** ARPHRD_*: 1 Ethernet, 772 loopback, 778 IP GRE, 65534 none (TUN). */
  readonly linkType: number;
  /** IFF_UP: administratively up. */
  readonly up: boolean;
  /** IFF_RUNNING: operationally up (carrier). Changes asynchronously after `up`. */
  readonly running: boolean;
  readonly mtu: number;
  /** IFLA_ADDRESS: 6 bytes on Ethernet, 4 (the local address) on ip_gre, absent on TUN. */
  readonly address?: Uint8Array;
  readonly gre?: GreParams;
}

/**
 * A multipoint GRE device for the kernel dataplane (`interface Tunnel0` with `tunnel mode gre
 * multipoint`). No remote: NHRP fills the neighbour table with NBMA addresses instead.
 */
export interface GreLinkSpec {
  readonly kind: 'gre';
  readonly name: string;
  readonly key?: number;
  readonly local?: string;
  /** Default 0 (inherit). Cisco's tunnel default TTL is 255. */
  readonly ttl?: number;
  readonly tos?: number;
  /** Default true: Cisco sets DF on the GRE header unless `tunnel path-mtu-discovery` is off. */
  readonly pmtudisc?: boolean;
  /** Underlay device name (`tunnel source <interface>` binds the tunnel to it). */
  readonly underlay?: string;
  readonly mtu?: number;
}

/** Devices with no parameters of their own (used by tests and the lab). */
export interface SimpleLinkSpec {
  readonly kind: 'dummy' | 'bridge' | 'ifb';
  readonly name: string;
  readonly mtu?: number;
}

export type LinkSpec = GreLinkSpec | SimpleLinkSpec;

/**
 * RTM_NEWLINK (created or changed) / RTM_DELLINK. 'overrun': notifications were lost (the
 * socket's receive buffer filled, ENOBUFS); re-read the state with listLinks().
 */
export type LinkEvent =
  | { readonly type: 'new' | 'delete'; readonly link: Link }
  | { readonly type: 'overrun'; readonly error: PlatformError };

export interface Subscription {
  close(): void;
}

export interface Ipv4Address {
  readonly dev: string;
  readonly index: number;
  readonly address: string;
  readonly prefixLength: number;
  /** IFA_F_SECONDARY: a further address in a subnet the device already has. */
  readonly secondary: boolean;
}

/**
 * A route to install. Defaults: type 'unicast', metric 0, table 254 (main), protocol
 * RouteProtocol.STATIC. A unicast route needs a gateway, a device, or both; the other types take
 * neither (EIGRP's summary to Null0 is a 'blackhole').
 *
 * As a selector for deleteRoute, a field left out matches any value (the kernel's rule).
 */
export interface Ipv4RouteSpec {
  /** "192.168.2.0/24"; a bare address means /32. */
  readonly dst: string;
  readonly type?: RouteType;
  readonly gateway?: string;
  readonly dev?: string;
  /** RTA_PRIORITY. Routes to one prefix in one table are told apart by metric. */
  readonly metric?: number;
  readonly table?: number;
  /** rtm_protocol: who owns the route; see RouteProtocol. */
  readonly protocol?: number;
}

/** A route as read back. */
export interface Ipv4Route {
  readonly dst: string;
  readonly type: RouteType;
  readonly gateway?: string;
  readonly dev?: string;
  readonly metric: number;
  readonly table: number;
  readonly protocol: number;
  /** RT_SCOPE_*: 0 universe (via a gateway, blackhole), 253 link (on the device), 254 host. */
  readonly scope: number;
  /** RTA_PREFSRC, set on the kernel's connected routes. */
  readonly prefsrc?: string;
}

export interface RouteFilter {
  /** Default 254 (main). 'all' lists every table except local (255). */
  readonly table?: number | 'all';
  readonly protocol?: number;
  readonly dev?: string;
}

export interface NeighbourSpec {
  readonly dev: string;
  /** The overlay (protocol) address. */
  readonly address: string;
  /** Link-layer address: on ip_gre the 4-byte NBMA address, on Ethernet the 6-byte MAC. */
  readonly lladdr: Uint8Array;
  /** Default 'permanent'. */
  readonly state?: SettableNeighbourState;
}

export interface Neighbour {
  readonly dev: string;
  readonly index: number;
  readonly address: string;
  readonly lladdr?: Uint8Array;
  readonly state: NeighbourState;
}

export interface RtnetlinkPort {
  /** ENODEV when there is no such device. */
  getLink(name: string): Promise<Link>;
  getLinkByIndex(index: number): Promise<Link>;
  listLinks(): Promise<Link[]>;
  setLinkUp(name: string, up: boolean): Promise<void>;
  setLinkMtu(name: string, mtu: number): Promise<void>;
  /** EEXIST if the name is taken; code 'unsupported' when the kernel lacks the link type. */
  createLink(spec: LinkSpec): Promise<Link>;
  deleteLink(name: string): Promise<void>;
  /** Link created, changed (flags, MTU, ...) or deleted, by us or anyone else. */
  watchLinks(listener: (event: LinkEvent) => void): Subscription;

  /** "10.0.0.1/24". EEXIST if present, ENODEV if no such device. */
  addAddress(dev: string, address: string): Promise<void>;
  /** EADDRNOTAVAIL if the device has no such address with that prefix length. */
  deleteAddress(dev: string, address: string): Promise<void>;
  listAddresses(dev?: string): Promise<Ipv4Address[]>;

  /** EEXIST if the table already has the prefix at that metric. */
  addRoute(route: Ipv4RouteSpec): Promise<void>;
  /** Replaces the route to the prefix at that metric, or adds it. */
  replaceRoute(route: Ipv4RouteSpec): Promise<void>;
  /** ESRCH if nothing matches. */
  deleteRoute(route: Ipv4RouteSpec): Promise<void>;
  listRoutes(filter?: RouteFilter): Promise<Ipv4Route[]>;

  /** EEXIST if the device already has an entry for the address. EINVAL if the lladdr is
   * shorter than the device's hardware address (a 4-byte NBMA address on Ethernet). */
  addNeighbour(neighbour: NeighbourSpec): Promise<void>;
  replaceNeighbour(neighbour: NeighbourSpec): Promise<void>;
  /** ENOENT if there is no entry. */
  deleteNeighbour(dev: string, address: string): Promise<void>;
  listNeighbours(dev?: string): Promise<Neighbour[]>;

  close(): void;
}
