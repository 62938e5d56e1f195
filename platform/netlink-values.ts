/**
 * Constants and pure helpers shared by the Linux rtnetlink layer and its fake, so both validate
 * the same way and word their errors identically. No I/O.
 */
import { Errno, PlatformError } from './errors.js';
import type { Ipv4RouteSpec, LinkSpec, NeighbourSpec, RouteType, SettableNeighbourState } from './ports.js';

/**
 * rtm_protocol values: who installed a route. 0-4 are the kernel's own and the routing-daemon
 * numbers below 190 plus EIGRP 192 are reserved by the kernel header (RTPROT_* in
 * include/uapi/linux/rtnetlink.h) and named in /etc/iproute2/rt_protos; RIPNG 190 and NHRP 191
 * are FRR zebra's (zebra/rt_netlink.h, named in FRR's rt_protos.d/frr.conf). Using the same
 * numbers makes `ip route` name our routes the way it names FRR's, and lets a restart flush
 * exactly what we installed (listRoutes({ protocol })).
 */
export const RouteProtocol = {
  UNSPEC: 0,
  REDIRECT: 1,
  /** Connected and local routes the kernel derives from addresses. */
  KERNEL: 2,
  BOOT: 3,
  /** Configured static routes (`ip route` in the configuration). */
  STATIC: 4,
  ZEBRA: 11,
  BIRD: 12,
  DHCP: 16,
  KEEPALIVED: 18,
  BABEL: 42,
  OPENR: 99,
  BGP: 186,
  ISIS: 187,
  OSPF: 188,
  RIP: 189,
  RIPNG: 190,
  /** NHRP shortcut routes (FRR's RTPROT_NHRP). */
  NHRP: 191,
  /** EIGRP routes and summary blackholes (RTPROT_EIGRP). */
  EIGRP: 192,
} as const;

const PROTOCOL_NAME: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(RouteProtocol).map(([k, v]) => [v, k.toLowerCase()]),
);

/** The rt_protos name ("static", "nhrp", "eigrp"), or the number as text. */
export function routeProtocolName(p: number): string {
  return PROTOCOL_NAME[p] ?? String(p);
}

/** Routing table ids (RT_TABLE_* in include/uapi/linux/rtnetlink.h). */
export const RouteTable = { UNSPEC: 0, DEFAULT: 253, MAIN: 254, LOCAL: 255 } as const;

/** RT_SCOPE_* (include/uapi/linux/rtnetlink.h). */
export const RouteScope = { UNIVERSE: 0, SITE: 200, LINK: 253, HOST: 254, NOWHERE: 255 } as const;

/** IFNAMSIZ - 1: the kernel's nla policy rejects longer IFLA_IFNAME values with EINVAL. */
export const MAX_IFNAME = 15;
/** MAX_ADDR_LEN (include/linux/netdevice.h). */
export const MAX_LLADDR = 32;

export interface Ipv4Prefix {
  readonly address: Uint8Array;
  readonly length: number;
  /** Canonical text "a.b.c.d/n" (as given; host bits are not cleared). */
  readonly text: string;
}

function badArgument(syscall: string, operation: string, detail: string): PlatformError {
  return new PlatformError({ code: 'bad-argument', errno: Errno.EINVAL, syscall, operation, detail });
}

/** Dotted quad to 4 bytes, or undefined if it is not one. */
export function ipv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    out[i] = Number(p);
  }
  return out;
}

export function ipv4Text(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

export function ipv4ToNumber(b: Uint8Array): number {
  return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
}

export function maskOf(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
}

/** "10.0.0.0/24" (or a bare address, meaning /32). Throws 'bad-argument' otherwise. */
export function parseIpv4Prefix(text: string, syscall: string, operation: string): Ipv4Prefix {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const lenText = slash < 0 ? '32' : text.slice(slash + 1);
  const address = ipv4(addrText);
  if (!address) throw badArgument(syscall, operation, `"${addrText}" is not an IPv4 address`);
  if (!/^\d{1,2}$/.test(lenText) || Number(lenText) > 32) throw badArgument(syscall, operation, `"${lenText}" is not a prefix length (0-32)`);
  const length = Number(lenText);
  return { address, length, text: `${addrText}/${length}` };
}

export function parseIpv4Address(text: string, syscall: string, operation: string): Uint8Array {
  const a = ipv4(text);
  if (!a) throw badArgument(syscall, operation, `"${text}" is not an IPv4 address`);
  return a;
}

/** True if the prefix has bits set beyond its length (the kernel refuses such route keys). */
export function hasHostBits(p: Ipv4Prefix): boolean {
  return (ipv4ToNumber(p.address) & ~maskOf(p.length)) >>> 0 !== 0;
}

export function prefixContains(net: Uint8Array, length: number, addr: Uint8Array): boolean {
  const m = maskOf(length);
  return ((ipv4ToNumber(net) & m) >>> 0) === ((ipv4ToNumber(addr) & m) >>> 0);
}

export function checkIfname(name: string, syscall: string, operation: string): void {
  if (name.length === 0 || Buffer.byteLength(name) > MAX_IFNAME || name.includes('/') || /\s/.test(name)) {
    throw badArgument(syscall, operation, `"${name}" is not a device name (1-${MAX_IFNAME} bytes, no '/' or spaces)`);
  }
}

export function checkUint(value: number, max: number, what: string, syscall: string, operation: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) throw badArgument(syscall, operation, `${what} ${value} is out of range (0-${max})`);
}

/** 4 bytes print as the NBMA address they are on ip_gre; others as colon hex like `ip neigh`. */
export function lladdrText(b: Uint8Array): string {
  if (b.length === 0) return '(empty)';
  if (b.length === 4) return ipv4Text(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

/** The link-layer address of an NHRP mapping on ip_gre: the NBMA address. */
export function nbmaLladdr(nbma: string): Uint8Array {
  return parseIpv4Address(nbma, 'RTM_NEWNEIGH', `NBMA address ${nbma}`);
}

// ---- one-line descriptions of the object at fault, the same in the kernel layer and the fake ----

export function describeRoute(r: Ipv4RouteSpec): string {
  const type = r.type && r.type !== 'unicast' ? `${r.type} ` : '';
  const via = r.gateway !== undefined ? ` via ${r.gateway}` : '';
  const dev = r.dev !== undefined ? ` dev ${r.dev}` : '';
  const metric = r.metric ? ` metric ${r.metric}` : '';
  const table = r.table !== undefined && r.table !== RouteTable.MAIN ? ` table ${r.table}` : '';
  return `route ${type}${r.dst}${via}${dev}${metric}${table}`;
}

export function describeNeighbour(n: NeighbourSpec): string {
  return `neighbour ${n.address} lladdr ${lladdrText(n.lladdr)} dev ${n.dev}`;
}

export function describeLinkSpec(s: LinkSpec): string {
  return `${s.kind} device ${s.name}`;
}

/** The kernel module that provides a link kind, for "ip_gre unavailable" messages. */
export function moduleForKind(kind: string): string {
  return kind === 'gre' ? 'ip_gre' : kind;
}

/** The 'unsupported' error for a link kind the kernel does not have (EOPNOTSUPP). */
export function unsupportedKind(spec: LinkSpec): PlatformError {
  return new PlatformError({
    code: 'unsupported',
    errno: Errno.EOPNOTSUPP,
    syscall: 'RTM_NEWLINK',
    operation: `creating ${describeLinkSpec(spec)}`,
    detail: `${moduleForKind(spec.kind)} unavailable: this kernel has no "${spec.kind}" link type`,
  });
}

export interface NormalRoute {
  readonly dst: Ipv4Prefix;
  /** Undefined only in a delete selector that leaves the type open. */
  readonly type: RouteType | undefined;
  readonly gateway?: Uint8Array;
  readonly dev?: string;
  readonly metric: number;
  readonly table: number;
  readonly protocol: number;
  readonly scope: number;
  readonly onlink: boolean;
}

const ROUTE_TYPES: readonly RouteType[] = ['unicast', 'blackhole', 'unreachable', 'prohibit'];

/**
 * Validate a route and fill the defaults. As a delete selector (`forDelete`), fields left out
 * stay "any": type/protocol 0, scope NOWHERE, as iproute2 sends them.
 */
export function normalizeRoute(r: Ipv4RouteSpec, syscall: string, operation: string, forDelete = false): NormalRoute {
  const dst = parseIpv4Prefix(r.dst, syscall, operation);
  const type = r.type ?? 'unicast';
  if (!ROUTE_TYPES.includes(type)) throw badArgument(syscall, operation, `unknown route type "${String(type)}"`);
  const gateway = r.gateway !== undefined ? parseIpv4Address(r.gateway, syscall, operation) : undefined;
  if (r.dev !== undefined) checkIfname(r.dev, syscall, operation);
  const metric = r.metric ?? 0;
  checkUint(metric, 0xffffffff, 'metric', syscall, operation);
  const table = r.table ?? RouteTable.MAIN;
  checkUint(table, 0xffffffff, 'table', syscall, operation);
  const protocol = r.protocol ?? (forDelete ? RouteProtocol.UNSPEC : RouteProtocol.STATIC);
  checkUint(protocol, 255, 'protocol', syscall, operation);
  if (!forDelete) {
    if (type === 'unicast' && gateway === undefined && r.dev === undefined) {
      throw badArgument(syscall, operation, 'a unicast route needs a gateway or a device');
    }
    if (type !== 'unicast' && (gateway !== undefined || r.dev !== undefined)) {
      throw badArgument(syscall, operation, `a ${type} route takes no gateway or device`);
    }
  }
  const scope = forDelete
    ? RouteScope.NOWHERE
    : type === 'unicast' && gateway === undefined
      ? RouteScope.LINK
      : RouteScope.UNIVERSE;
  if (r.onlink && (gateway === undefined || r.dev === undefined) && !forDelete) throw badArgument(syscall, operation, 'an onlink route needs a gateway and a device');
  return { dst, type: forDelete ? r.type : type, gateway, dev: r.dev, metric, table, protocol, scope, onlink: r.onlink === true };
}

export interface NormalNeighbour {
  readonly dev: string;
  readonly address: Uint8Array;
  readonly lladdr: Uint8Array;
  readonly state: SettableNeighbourState;
}

const SETTABLE_STATES: readonly SettableNeighbourState[] = ['permanent', 'reachable', 'noarp', 'stale'];

export function normalizeNeighbour(n: NeighbourSpec, syscall: string, operation: string): NormalNeighbour {
  checkIfname(n.dev, syscall, operation);
  const address = parseIpv4Address(n.address, syscall, operation);
  if (!(n.lladdr instanceof Uint8Array) || n.lladdr.length === 0 || n.lladdr.length > MAX_LLADDR) {
    throw badArgument(syscall, operation, `link-layer address must be 1-${MAX_LLADDR} bytes`);
  }
  const state = n.state ?? 'permanent';
  if (!SETTABLE_STATES.includes(state)) throw badArgument(syscall, operation, `state "${String(state)}" cannot be set`);
  return { dev: n.dev, address, lladdr: n.lladdr, state };
}

export function validateLinkSpec(s: LinkSpec, syscall: string, operation: string): void {
  checkIfname(s.name, syscall, operation);
  if (s.mtu !== undefined) checkUint(s.mtu, 0xffffffff, 'mtu', syscall, operation);
  if (s.kind === 'gre') {
    if (s.key !== undefined) checkUint(s.key, 0xffffffff, 'key', syscall, operation);
    if (s.local !== undefined) parseIpv4Address(s.local, syscall, operation);
    if (s.ttl !== undefined) checkUint(s.ttl, 255, 'ttl', syscall, operation);
    if (s.tos !== undefined) checkUint(s.tos, 255, 'tos', syscall, operation);
    if (s.underlay !== undefined) checkIfname(s.underlay, syscall, operation);
    // ip_gre refuses ignore_df on a device that sets DF itself (ipgre_netlink_parms: EINVAL).
    // (iproute2 also refuses a fixed ttl with nopmtudisc; the kernel takes it, and IOS needs it.)
    if (s.ignoreDf && s.pmtudisc !== false) throw badArgument(syscall, operation, 'ignoreDf needs pmtudisc false (DF cannot be both set and ignored)');
  } else if (!['dummy', 'bridge', 'ifb'].includes(s.kind)) {
    throw badArgument(syscall, operation, `unknown link kind "${String((s as { kind: unknown }).kind)}"`);
  }
}
