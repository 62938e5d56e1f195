/**
 * Between the `netlink` package's rtnetlink message objects (ifinfomsg / ifaddrmsg / rtmsg /
 * ndmsg with their attributes, see rtnetlink(7)) and the port's value types. The package formats
 * the fixed headers and the attributes it knows; IFLA_LINKINFO is ours (netlink-attrs.ts).
 */
import { AttrStream, rt, type ifla } from 'netlink';
import type { Ipv4Address, Ipv4Route, Link, Neighbour, NeighbourRequest, NeighbourState, RouteType } from '../ports.js';
import { ipv4Text, RouteTable, type NormalNeighbour, type NormalRoute, type Ipv4Prefix } from '../netlink-values.js';
import { parseLinkInfo } from './netlink-attrs.js';

export const AF_INET = 2;

/** RTN_* route types (include/uapi/linux/rtnetlink.h). */
export const RtnType: Readonly<Record<RouteType, number>> = { unicast: 1, blackhole: 6, unreachable: 7, prohibit: 8 };
const RTN_NAME: Readonly<Record<number, RouteType>> = { 1: 'unicast', 6: 'blackhole', 7: 'unreachable', 8: 'prohibit' };

/** NUD_* bits (include/uapi/linux/neighbour.h). */
export const Nud: Readonly<Record<Exclude<NeighbourState, 'none'>, number>> = {
  incomplete: 0x01,
  reachable: 0x02,
  stale: 0x04,
  delay: 0x08,
  probe: 0x10,
  failed: 0x20,
  noarp: 0x40,
  permanent: 0x80,
};

/** The package gives enums as their key name when it knows the value, else as the number. */
function enumValue(table: object, v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    const n = (table as Record<string, unknown>)[v];
    if (typeof n === 'number') return n;
  }
  return 0;
}

const bytes = (b: Uint8Array | undefined): Uint8Array | undefined => (b ? new Uint8Array(b) : undefined);
const buf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

export type IndexNames = ReadonlyMap<number, string>;

// ---- decoding ----

export function linkFromMessage(m: rt.LinkMessage): Link {
  const flags = m.data.flags ?? {};
  const info = m.attrs.linkinfo ? parseLinkInfo(new Uint8Array(m.attrs.linkinfo)) : {};
  return {
    index: m.data.index ?? 0,
    name: m.attrs.ifname ?? '',
    ...(info.kind !== undefined ? { kind: info.kind } : {}),
    linkType: enumValue(rt.LinkType, m.data.type),
    up: flags.up === true,
    running: flags.running === true,
    mtu: m.attrs.mtu ?? 0,
    ...(m.attrs.address && m.attrs.address.length > 0 ? { address: bytes(m.attrs.address) } : {}),
    ...(info.gre ? { gre: info.gre } : {}),
  };
}

export function addressFromMessage(m: rt.AddressMessage, names: IndexNames): Ipv4Address | undefined {
  if (m.data.family !== AF_INET) return undefined;
  const local = m.attrs.local ?? m.attrs.address;
  if (!local || local.length !== 4) return undefined;
  const index = m.data.index ?? 0;
  const flags = { ...(m.data.flags ?? {}), ...(m.attrs.flags ?? {}) };
  return {
    dev: names.get(index) ?? String(index),
    index,
    address: ipv4Text(local),
    prefixLength: m.data.prefixlen ?? 0,
    secondary: flags.secondary === true,
  };
}

/** Only the route types the port speaks of; local/broadcast/multicast entries are skipped. */
export function routeFromMessage(m: rt.RouteMessage, names: IndexNames): Ipv4Route | undefined {
  if (m.data.family !== AF_INET) return undefined;
  const type = RTN_NAME[enumValue(rt.RouteType, m.data.type)];
  if (!type) return undefined;
  const len = m.data.dstLen ?? 0;
  const dst = m.attrs.dst && m.attrs.dst.length === 4 ? ipv4Text(m.attrs.dst) : '0.0.0.0';
  const oif = m.attrs.oif;
  return {
    dst: `${dst}/${len}`,
    type,
    ...(m.attrs.gateway && m.attrs.gateway.length === 4 ? { gateway: ipv4Text(m.attrs.gateway) } : {}),
    ...(oif !== undefined && oif !== 0 ? { dev: names.get(oif) ?? String(oif) } : {}),
    metric: m.attrs.priority ?? 0,
    table: m.attrs.table ?? m.data.table ?? RouteTable.MAIN,
    protocol: enumValue(rt.RouteProtocol, m.data.protocol),
    scope: enumValue(rt.RouteScope, m.data.scope),
    ...(m.attrs.prefsrc && m.attrs.prefsrc.length === 4 ? { prefsrc: ipv4Text(m.attrs.prefsrc) } : {}),
  };
}

export function neighbourState(bits: number): NeighbourState {
  for (const [name, bit] of Object.entries(Nud) as [Exclude<NeighbourState, 'none'>, number][]) {
    if (bits & bit) return name;
  }
  return 'none';
}

export function neighbourFromMessage(m: rt.NeighborMessage, names: IndexNames): Neighbour | undefined {
  if (m.data.family !== AF_INET) return undefined;
  const dst = m.attrs.dst;
  if (!dst || dst.length !== 4) return undefined;
  const index = m.data.ifindex ?? 0;
  return {
    dev: names.get(index) ?? String(index),
    index,
    address: ipv4Text(dst),
    ...(m.attrs.lladdr && m.attrs.lladdr.length > 0 ? { lladdr: bytes(m.attrs.lladdr) } : {}),
    state: neighbourState(rt.formatNeighborState(m.data.state ?? {})),
  };
}

/**
 * An RTM_GETNEIGH notification's payload (struct ndmsg + NDA_DST), as the kernel broadcasts it for
 * a neighbour it wants resolved by userspace (neigh_app_ns). undefined: not IPv4, or unreadable.
 */
export function neighbourRequestFrom(data: Uint8Array): NeighbourRequest | undefined {
  let m: rt.Message;
  try {
    m = rt.parseMessage(rt.MessageType.GETNEIGH, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  } catch {
    return undefined;
  }
  if (m.kind !== 'neighbor' || m.data.family !== AF_INET) return undefined;
  const dst = m.attrs.dst;
  if (!dst || dst.length !== 4 || !m.data.ifindex) return undefined;
  return { index: m.data.ifindex, address: ipv4Text(dst) };
}

// ---- encoding (payloads for NetlinkSocket.request) ----

export function linkPayload(data: rt.Link, attrs: ifla.LinkAttrs): Uint8Array[] {
  const out = new AttrStream();
  rt.formatLinkMessage({ kind: 'link', data, attrs }, out);
  return out.bufs;
}

export function addressPayload(index: number, p: Ipv4Prefix, noPrefixRoute = false): Uint8Array[] {
  const out = new AttrStream();
  rt.formatAddressMessage(
    { kind: 'address', data: { family: AF_INET, prefixlen: p.length, index, scope: 0 }, attrs: { local: buf(p.address), address: buf(p.address), ...(noPrefixRoute ? { flags: { noprefixroute: true } } : {}) } },
    out,
  );
  return out.bufs;
}

/**
 * rtmsg for add/replace/delete. rtm_table is a u8, so a table id above 255 goes only in RTA_TABLE
 * with rtm_table RT_TABLE_UNSPEC, as iproute2 does. A delete selector sends type/protocol 0 and
 * scope NOWHERE when they are left open, so the kernel matches any (fib_table_delete).
 */
/** include/uapi/linux/rtnetlink.h: the next hop is on the device whatever the routes say. */
const RTNH_F_ONLINK = 4;

export function routePayload(r: NormalRoute, oif: number | undefined): Uint8Array[] {
  const out = new AttrStream();
  const attrs: rt.RouteAttrs = { table: r.table };
  if (r.dst.length > 0) attrs.dst = buf(r.dst.address);
  if (r.gateway) attrs.gateway = buf(r.gateway);
  if (oif !== undefined) attrs.oif = oif;
  if (r.metric !== 0) attrs.priority = r.metric;
  rt.formatRouteMessage(
    {
      kind: 'route',
      data: {
        family: AF_INET,
        dstLen: r.dst.length,
        table: r.table < 256 ? r.table : RouteTable.UNSPEC,
        protocol: r.protocol,
        scope: r.scope,
        type: r.type ? RtnType[r.type] : 0,
        // RTNH_F_ONLINK (4) in rtm_flags, as iproute2's `onlink` sets it; the package names only the RTM_F_* bits.
        ...(r.onlink ? { flags: { __unknown: RTNH_F_ONLINK } } : {}),
      },
      attrs,
    },
    out,
  );
  return out.bufs;
}

export function neighbourPayload(ifindex: number, n: NormalNeighbour | { address: Uint8Array }): Uint8Array[] {
  const out = new AttrStream();
  const state = 'state' in n ? Nud[n.state] : 0;
  const attrs: rt.NeighborAttrs = { dst: buf(n.address) };
  if ('lladdr' in n) attrs.lladdr = buf(n.lladdr);
  rt.formatNeighborMessage({ kind: 'neighbor', data: { family: AF_INET, ifindex, state: rt.parseNeighborState(state), flags: {}, type: 0 }, attrs }, out);
  return out.bufs;
}
