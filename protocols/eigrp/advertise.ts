/**
 * What a router tells an interface about a destination, and the route TLVs
 * that say it:
 *   - a stub advertises only the local routes its stub flags name (RFC 7868
 *     Peer Stub Information TLV, section 6.7.6; receive-only advertises nothing);
 *   - a summary (`ip summary-address eigrp`) is advertised only out the
 *     interfaces that configure it, and suppresses its components there;
 *   - split horizon: a route is not advertised out the interface its
 *     successor is on; when it changes, IOS poisons it there instead
 *     (EIGRP_adjacency.pcap frames 19-22: infinite delay, the rest of the
 *     vector kept). `no ip split-horizon eigrp` turns this off (DMVPN hub);
 *   - next-hop-self: with `no ip next-hop-self eigrp`, a route learned on the
 *     same interface keeps its original next hop (DMVPN Phase 2).
 * Each interface remembers what it was last told per prefix (a signature), so
 * only differences go out.
 *
 * TLV version per neighbour: a classic instance sends classic TLVs (0x0102/
 * 0x0103) to everyone. A wide (named) instance sends wide TLVs (0x0602/0x0603)
 * to TLV 2.0 peers and classic TLVs to TLV 1.2 peers; an interface with peers
 * of both kinds gets per-neighbour unicast updates (IOS does the same kind of
 * split), an interface with one kind gets multicast.
 */
import { EigrpExternalProtocol, EigrpRouteFlag, EigrpStubFlag } from './constants.js';
import type { EigrpTlv } from './tlv.js';
import type { ExternalData, RouteTlv } from './route.js';
import {
  classicFromVector,
  isUnreachable,
  queryUnreachable,
  unreachable,
  wideFromVector,
  type MetricVector,
} from './metric.js';
import { prefixCovers, stubFlags } from './config.js';
import { tlvLength } from './tlv.js';
import type { Path, PrefixEntry } from './topology.js';
import type { EngineState, IfaceState, Neighbor } from './state.js';
import { packetBudget } from './transport.js';

export type Advert =
  | { readonly kind: 'omit' }
  | { readonly kind: 'poison' }
  | { readonly kind: 'unreach' }
  | {
    readonly kind: 'reach';
    readonly vector: MetricVector;
    readonly nextHop: string;
    readonly external?: ExternalData;
    readonly originRouter: string;
  };

/** The path whose vector we report (the successor), if any. */
export function successorPath(e: PrefixEntry): Path | undefined {
  return e.successor !== undefined ? e.paths.get(e.successor) : undefined;
}

/** May a stub with these flags advertise a route whose successor is this path? */
function stubAllows(flags: number, p: Path): boolean {
  if (flags & EigrpStubFlag.RECEIVE_ONLY) return false;
  switch (p.source.kind) {
    case 'connected': return (flags & EigrpStubFlag.CONNECTED) !== 0;
    case 'summary': return (flags & EigrpStubFlag.SUMMARY) !== 0;
    case 'redistributed':
      if (p.source.protocol === 'static' && (flags & EigrpStubFlag.STATIC) !== 0) return true;
      return (flags & EigrpStubFlag.REDISTRIBUTED) !== 0;
    case 'neighbor': return false;
  }
}

/** Is the path reached through this interface (split horizon's test)? */
function pathOnInterface(p: Path, ifname: string): boolean {
  return (p.source.kind === 'neighbor' || p.source.kind === 'connected') && p.source.ifname === ifname;
}

export function advertFor(s: EngineState, e: PrefixEntry, iface: IfaceState): Advert {
  const succ = successorPath(e);
  if (succ?.source.kind === 'summary') {
    // A summary goes out only where it is configured.
    if (!iface.cfg.summaries.some((x) => x.prefix === e.prefix && x.prefixLength === e.prefixLength)) return { kind: 'omit' };
  }
  if (s.cfg.stub && (!succ || !stubAllows(stubFlags(s.cfg.stub), succ))) return { kind: 'omit' };
  // Components of an active summary on this interface are suppressed there.
  for (const sum of iface.cfg.summaries) {
    if (sum.prefix === e.prefix && sum.prefixLength === e.prefixLength) continue;
    if (!prefixCovers(sum.prefix, sum.prefixLength, e.prefix, e.prefixLength)) continue;
    const se = s.topology.get(`${sum.prefix}/${sum.prefixLength}`);
    if (se?.paths.has('summary')) return { kind: 'omit' };
  }
  if (!succ || e.reported === undefined || isUnreachable(e.reported)) return { kind: 'unreach' };
  if (iface.cfg.splitHorizon && e.successors.some((k) => {
    const p = e.paths.get(k);
    return p !== undefined && pathOnInterface(p, iface.cfg.name);
  })) return { kind: 'poison' };
  const nextHop = !iface.cfg.nextHopSelf && succ.source.kind === 'neighbor' && succ.source.ifname === iface.cfg.name ? succ.nextHop : '0.0.0.0';
  return { kind: 'reach', vector: e.reported, nextHop, external: succ.external, originRouter: succ.originRouter };
}

export function advertSignature(a: Advert): string {
  if (a.kind !== 'reach') return a.kind === 'omit' ? 'omit' : 'unreach';
  const v = a.vector;
  return `${v.delay}|${v.bandwidth}|${v.mtu}|${v.hopCount}|${v.reliability}|${v.load}|${a.nextHop}|${a.external ? 'x' : ''}`;
}

/**
 * What to send in an update for a change, given what the interface was last
 * told: a route, an infinite-metric withdrawal, or nothing.
 */
export function changeToSend(a: Advert, last: string | undefined): 'reach' | 'unreach' | undefined {
  const sig = advertSignature(a);
  if (a.kind === 'reach') return sig === last ? undefined : 'reach';
  const lastReach = last !== undefined && last !== 'unreach' && last !== 'omit';
  // IOS poisons toward the successor on every change, advertised before or not (capture frames 19, 22).
  if (a.kind === 'poison') return last === 'unreach' ? undefined : 'unreach';
  return lastReach ? 'unreach' : undefined;
}

/** Does this neighbour get wide TLVs? Only from a wide instance, and only if it speaks TLV 2.0. */
export function wantsWide(s: EngineState, n: Neighbor): boolean {
  return s.cfg.metricStyle === 'wide' && n.tlvVersion[0] >= 2;
}

/** IOS numbers for the external protocol of a redistributed route. */
export function externalProtocol(source: string): number {
  switch (source) {
    case 'static': return EigrpExternalProtocol.STATIC;
    case 'connected': return EigrpExternalProtocol.CONNECTED;
    case 'rip': return EigrpExternalProtocol.RIP;
    case 'ospf': return EigrpExternalProtocol.OSPF;
    case 'bgp': return EigrpExternalProtocol.BGP;
    case 'isis': return EigrpExternalProtocol.ISIS;
    default: return EigrpExternalProtocol.STATIC;
  }
}

export interface RouteSpec {
  readonly prefix: string;
  readonly prefixLength: number;
  readonly vector: MetricVector;
  readonly nextHop: string;
  readonly external?: ExternalData;
  readonly originRouter: string;
  /** EigrpRouteFlag bits (ACTIVE in a SIA-Reply). */
  readonly flags?: number;
}

/** One route TLV in the encoding a neighbour understands. */
export function routeTlv(r: RouteSpec, wide: boolean): RouteTlv {
  const destinations = [{ prefix: r.prefix, prefixLength: r.prefixLength }];
  if (wide) {
    return {
      kind: 'wideRoute',
      topologyId: 0,
      routerId: r.originRouter,
      // The route flags sit in the high byte of the wide metric's 16-bit flags field (route.ts).
      metric: wideFromVector(r.vector, (r.flags ?? 0) << 8),
      nextHop: r.nextHop,
      external: r.external,
      destinations,
    };
  }
  return { kind: 'classicRoute', nextHop: r.nextHop, external: r.external, metric: classicFromVector(r.vector, r.flags ?? 0), destinations };
}

/** The route spec of an entry as advertised (reach) or withdrawn (poison: the vector kept, delay infinite). */
export function specFor(s: EngineState, e: PrefixEntry, a: Advert, iface: IfaceState): RouteSpec {
  if (a.kind === 'reach') {
    return { prefix: e.prefix, prefixLength: e.prefixLength, vector: a.vector, nextHop: a.nextHop, external: a.external, originRouter: a.originRouter };
  }
  const succ = successorPath(e);
  const base = e.reported ?? succ?.total;
  return {
    prefix: e.prefix,
    prefixLength: e.prefixLength,
    vector: base ? unreachable(base) : queryUnreachable(iface.cfg.mtu),
    nextHop: '0.0.0.0',
    external: succ?.external,
    originRouter: succ?.originRouter ?? s.cfg.routerId,
  };
}

/**
 * The spec for a Query, Reply or SIA packet: our current distance, or the
 * all-unreachable vector IOS sends (EIGRP_subnet_down.pcap); infinite toward
 * a neighbour that is one of our successors (poison reverse). While the
 * destination is active IOS sets the ACTIVE route flag (frames 10, 12 and 14
 * carry 0x04; the Reply sent after going passive, frame 16, does not).
 */
export function replySpec(s: EngineState, e: PrefixEntry | undefined, prefix: string, prefixLength: number, to: Neighbor | undefined, iface: IfaceState, flags = 0): RouteSpec {
  const succ = e ? successorPath(e) : undefined;
  const poisoned = to !== undefined && e !== undefined && e.successors.includes(to.key);
  const reach = e !== undefined && e.reported !== undefined && !isUnreachable(e.reported) && !poisoned;
  return {
    prefix,
    prefixLength,
    vector: reach && e?.reported ? e.reported : queryUnreachable(e?.reported?.mtu ?? iface.cfg.mtu),
    nextHop: '0.0.0.0',
    external: succ?.external,
    originRouter: succ?.originRouter ?? s.cfg.routerId,
    flags: flags | (e !== undefined && e.state !== 'passive' ? EigrpRouteFlag.ACTIVE : 0),
  };
}

/** Split TLVs into packets that fit the interface (at least one TLV per packet). */
export function chunkTlvs(iface: IfaceState, tlvs: readonly EigrpTlv[]): EigrpTlv[][] {
  const { max, overhead } = packetBudget(iface);
  const out: EigrpTlv[][] = [];
  let cur: EigrpTlv[] = [];
  let size = overhead;
  for (const t of tlvs) {
    const n = tlvLength(t);
    if (cur.length > 0 && size + n > max) {
      out.push(cur);
      cur = [];
      size = overhead;
    }
    cur.push(t);
    size += n;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}
