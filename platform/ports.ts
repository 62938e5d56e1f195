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
  /** DF never set on the outer header, not even from the inner packet (absent: false). */
  readonly ignoreDf?: boolean;
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
  /**
   * IFLA_GRE_PMTUDISC, default true (ip_gre's own default): DF on every outer header. IOS never
   * does that; the kernel dataplane turns it off and chooses with ignoreDf.
   */
  readonly pmtudisc?: boolean;
  /**
   * IFLA_GRE_IGNORE_DF (needs pmtudisc false): never set DF on the outer header, not even copied
   * from the inner datagram: IOS's default. Without it, DF is copied from the inner datagram:
   * IOS with `tunnel path-mtu-discovery`.
   */
  readonly ignoreDf?: boolean;
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
  /** RTNH_F_ONLINK: the gateway is on the device even if no route says so (mGRE next hops). */
  readonly onlink?: boolean;
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

/**
 * RTM_GETNEIGH from the kernel: traffic for an address the device has no neighbour entry for, on
 * a device with ARP on and `app_solicit` set (the kernel asks userspace instead of sending ARP).
 */
export interface NeighbourRequest {
  readonly index: number;
  readonly address: string;
}

export interface RtnetlinkPort {
  /** ENODEV when there is no such device. */
  getLink(name: string): Promise<Link>;
  getLinkByIndex(index: number): Promise<Link>;
  listLinks(): Promise<Link[]>;
  setLinkUp(name: string, up: boolean): Promise<void>;
  setLinkMtu(name: string, mtu: number): Promise<void>;
  /** ARP on: IFF_NOARP cleared, so the kernel resolves next hops (through userspace with app_solicit). */
  setLinkArp(name: string, on: boolean): Promise<void>;
  /** EEXIST if the name is taken; code 'unsupported' when the kernel lacks the link type. */
  createLink(spec: LinkSpec): Promise<Link>;
  deleteLink(name: string): Promise<void>;
  /** Link created, changed (flags, MTU, ...) or deleted, by us or anyone else. */
  watchLinks(listener: (event: LinkEvent) => void): Subscription;

  /**
   * "10.0.0.1/24". EEXIST if present, ENODEV if no such device. noPrefixRoute: the kernel adds no
   * route to the subnet (IFA_F_NOPREFIXROUTE); a multipoint tunnel's spoke routes it via the NHS.
   */
  addAddress(dev: string, address: string, opts?: { readonly noPrefixRoute?: boolean }): Promise<void>;
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
  /** The kernel's neighbour requests (RTNLGRP_NEIGH, RTM_GETNEIGH), from any device. */
  watchNeighbourRequests(listener: (request: NeighbourRequest) => void): Subscription;

  close(): void;
}

// ---- XFRM: the kernel's IPsec SA and policy databases (NETLINK_XFRM) ----
//
// Implementations: platform/linux/xfrm.ts (the kernel) and platform/fake/xfrm.ts (in memory, same
// rules and errors). Shared validation and wording: platform/xfrm-values.ts. IPv4 only: addresses
// are dotted quads, keys are Uint8Array, numbers are host values (SPIs as 0xc0ffee, not swapped).

/** XFRM_MODE_* (include/uapi/linux/xfrm.h) by iproute2's names. */
export type XfrmMode = 'transport' | 'tunnel' | 'ro' | 'in_trigger' | 'beet';

/** XFRM_POLICY_IN / OUT / FWD. */
export type XfrmDir = 'in' | 'out' | 'fwd';

/** struct xfrm_selector: which packets a policy (or a state) applies to. */
export interface XfrmSelector {
  readonly src: string;
  readonly srcPrefix: number;
  readonly dst: string;
  readonly dstPrefix: number;
  /** IP protocol; 0 is any. 47 (GRE) for DMVPN. */
  readonly proto: number;
  /** A single port, when the selector has one (mask 0xffff); absent means any. */
  readonly sport?: number;
  readonly dport?: number;
}

/** A crypto API algorithm ("cbc(aes)", "hmac(sha256)") and its key. */
export interface XfrmAlgorithm {
  readonly name: string;
  readonly key: Uint8Array;
}
/** XFRMA_ALG_AEAD: the key includes the salt (RFC 4106: 4 bytes after the AES key). */
export interface XfrmAeadAlgorithm extends XfrmAlgorithm {
  readonly icvBits: number;
}
/** XFRMA_ALG_AUTH_TRUNC. Read back as 0 when the kernel reported only XFRMA_ALG_AUTH. */
export interface XfrmAuthAlgorithm extends XfrmAlgorithm {
  readonly truncBits: number;
}

/** XFRMA_ENCAP: ESP in UDP (RFC 3948), ports of the packets this state carries. */
export interface XfrmEncap {
  /** UDP_ENCAP_ESPINUDP (2) when absent. */
  readonly type?: number;
  readonly sport: number;
  readonly dport: number;
}

/** How the kernel finds a state: destination, SPI, protocol (struct xfrm_usersa_id). */
export interface XfrmStateId {
  readonly dst: string;
  readonly spi: number;
  /** IPPROTO_ESP (50) when absent. */
  readonly proto?: number;
  /** Only for messages: the kernel does not need it to find an SA with an SPI. */
  readonly src?: string;
}

export interface XfrmStateSpec {
  readonly src: string;
  readonly dst: string;
  readonly spi: number;
  /** IPPROTO_ESP (50) when absent. */
  readonly proto?: number;
  /** Ties the state to policy templates with the same reqid. */
  readonly reqid: number;
  /** 'transport' when absent. */
  readonly mode?: XfrmMode;
  /** Packets the state may carry; absent: any (the kernel fills in the family). */
  readonly selector?: XfrmSelector;
  readonly aead?: XfrmAeadAlgorithm;
  readonly crypt?: XfrmAlgorithm;
  readonly auth?: XfrmAuthAlgorithm;
  /** Extended sequence numbers (RFC 4303 section 2.2.1): XFRM_STATE_ESN. */
  readonly esn?: boolean;
  /** Anti-replay window in packets (inbound); 0 or absent: none. At most 4096. */
  readonly replayWindow?: number;
  /** Outbound: the last sequence number used (the next packet carries seq + 1). */
  readonly seq?: number;
  readonly encap?: XfrmEncap;
}

/** A state as read back (XFRM_MSG_NEWSA in a dump). */
export interface XfrmState {
  readonly src: string;
  readonly dst: string;
  readonly spi: number;
  readonly proto: number;
  readonly reqid: number;
  readonly mode: XfrmMode;
  readonly selector: XfrmSelector;
  readonly aead?: XfrmAeadAlgorithm;
  readonly crypt?: XfrmAlgorithm;
  readonly auth?: XfrmAuthAlgorithm;
  readonly esn: boolean;
  readonly replayWindow: number;
  readonly encap?: Required<XfrmEncap>;
  /** XFRM_STATE_* flags as the kernel holds them. */
  readonly flags: number;
  /** curlft: bytes and packets through the state. */
  readonly bytes: number;
  readonly packets: number;
  /** Last sequence number sent (outbound) and highest received (inbound), 64-bit with ESN. */
  readonly oseq: number;
  readonly seq: number;
  /** xfrm_stats: replayed packets and integrity failures. */
  readonly replayDrops: number;
  readonly integrityFailures: number;
}

/** struct xfrm_user_tmpl: the SA a policy requires. */
export interface XfrmTemplate {
  readonly src: string;
  readonly dst: string;
  /** IPPROTO_ESP (50) when absent. */
  readonly proto?: number;
  /** 0 (any) when absent. */
  readonly spi?: number;
  readonly reqid: number;
  /** 'transport' when absent. */
  readonly mode?: XfrmMode;
  /** true: use an SA when there is one, else pass in the clear. Absent: required. */
  readonly optional?: boolean;
}

/** How the kernel finds a policy: direction and selector (struct xfrm_userpolicy_id). */
export interface XfrmPolicyId {
  readonly dir: XfrmDir;
  readonly selector: XfrmSelector;
}

export interface XfrmPolicySpec extends XfrmPolicyId {
  /** Lower wins. */
  readonly priority: number;
  /** 'allow' when absent: with a required template, traffic without an SA is dropped, never clear. */
  readonly action?: 'allow' | 'block';
  readonly templates: readonly XfrmTemplate[];
}

export interface XfrmPolicy extends XfrmPolicyId {
  readonly priority: number;
  readonly action: 'allow' | 'block';
  readonly templates: readonly Required<XfrmTemplate>[];
  /** The kernel's policy index. */
  readonly index: number;
}

/**
 * What marks states and policies as ours, so a flush never touches another IKE daemon's:
 * a state is ours when its reqid is in [reqidMin, reqidMax]; a policy when it has a template and
 * every template's reqid is in that range (and, if given, its priority is `priority`).
 */
export interface XfrmOwner {
  readonly reqidMin: number;
  readonly reqidMax: number;
  readonly priority?: number;
}

export interface XfrmPort {
  /** EEXIST if a state with that destination, SPI and protocol exists. Code 'unsupported' when
   * the kernel lacks the protocol (no esp4) or an algorithm. */
  addState(spec: XfrmStateSpec): Promise<void>;
  /** ESRCH if there is no such state. */
  deleteState(id: XfrmStateId): Promise<void>;
  states(): Promise<XfrmState[]>;
  /** EEXIST if a policy with that direction and selector exists, unless `replace`: then it is
   * replaced in one step (XFRM_MSG_UPDPOLICY; it keeps its index), so no packet slips through
   * without a policy. */
  addPolicy(spec: XfrmPolicySpec, options?: { readonly replace?: boolean }): Promise<void>;
  /** ENOENT if there is no such policy. */
  deletePolicy(id: XfrmPolicyId): Promise<void>;
  policies(): Promise<XfrmPolicy[]>;
  /** Delete every state and policy `owner` marks as ours; how many of each went. */
  flushOwned(owner: XfrmOwner): Promise<{ readonly states: number; readonly policies: number }>;
  close(): void;
}
