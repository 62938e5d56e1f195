/**
 * The routing information base: routes from every source (connected, static,
 * NHRP shortcuts, later EIGRP), the best one per prefix by administrative
 * distance, pushed to the kernel (rtnetlink) and to the tunnel dataplanes.
 *
 * NHRP shortcuts follow IOS Phase 3: an NHRP route (code H, distance 250) for a
 * prefix that another source routes through the same tunnel overrides that
 * route's next hop ("next-hop override", show dmvpn T2), whatever the distances.
 */
import { ipv4ToU32 } from '../protocols/wire/index.js';
import { maskOf, networkOf } from '../protocols/nhrp/cache.js';

export type RouteSource = 'connected' | 'static' | 'nhrp' | 'eigrp' | 'eigrp-external';

/** IOS administrative distances. */
export const ADMIN_DISTANCE: Readonly<Record<RouteSource, number>> = {
  connected: 0, static: 1, eigrp: 90, 'eigrp-external': 170, nhrp: 250,
};

/** IOS route codes for show ip route. */
export const ROUTE_CODE: Readonly<Record<RouteSource, string>> = {
  connected: 'C', static: 'S', eigrp: 'D', 'eigrp-external': 'D EX', nhrp: 'H',
};

export interface RibRoute {
  readonly prefix: string;
  readonly prefixLength: number;
  readonly source: RouteSource;
  /** Overlay/underlay next hop, undefined for directly connected or interface routes. */
  readonly nextHop?: string;
  /** Outgoing interface (IOS name for tunnels, Linux name otherwise). */
  readonly dev: string;
  readonly distance: number;
  readonly metric: number;
  /** A discard route (EIGRP summary's Null0). */
  readonly blackhole?: boolean;
  readonly since: number;
}

export interface RibListener {
  /** The best route for a prefix changed: `best` is undefined when the prefix is gone. */
  changed(prefix: string, prefixLength: number, best: RibRoute | undefined, previous: RibRoute | undefined): void;
}

function key(prefix: string, len: number): string {
  return `${prefix}/${len}`;
}

export class Rib {
  private readonly routes = new Map<string, RibRoute[]>();
  private readonly best = new Map<string, RibRoute>();
  private readonly listeners: RibListener[] = [];
  private lengths: number[] = [];

  listen(l: RibListener): void {
    this.listeners.push(l);
  }

  add(r: RibRoute): void {
    const prefix = networkOf(r.prefix, r.prefixLength);
    const k = key(prefix, r.prefixLength);
    const list = (this.routes.get(k) ?? []).filter((x) => !(x.source === r.source && x.nextHop === r.nextHop && x.dev === r.dev));
    list.push({ ...r, prefix });
    this.routes.set(k, list);
    if (!this.lengths.includes(r.prefixLength)) this.lengths = [...this.lengths, r.prefixLength].sort((a, b) => b - a);
    this.recompute(prefix, r.prefixLength);
  }

  /** Remove routes of a source for a prefix (all next hops when nextHop is undefined). */
  remove(prefix: string, prefixLength: number, source: RouteSource, nextHop?: string): void {
    const net = networkOf(prefix, prefixLength);
    const k = key(net, prefixLength);
    const list = (this.routes.get(k) ?? []).filter((x) => !(x.source === source && (nextHop === undefined || x.nextHop === nextHop)));
    if (list.length) this.routes.set(k, list);
    else this.routes.delete(k);
    this.recompute(net, prefixLength);
  }

  removeSource(source: RouteSource): void {
    for (const list of [...this.routes.values()]) for (const r of list) if (r.source === source) this.remove(r.prefix, r.prefixLength, source, r.nextHop);
  }

  private recompute(prefix: string, len: number): void {
    const k = key(prefix, len);
    const list = this.routes.get(k) ?? [];
    const next = choose(list);
    const prev = this.best.get(k);
    if (next) this.best.set(k, next);
    else this.best.delete(k);
    if (!sameRoute(prev, next)) for (const l of this.listeners) l.changed(prefix, len, next, prev);
  }

  /** Best routes, sorted by prefix. */
  table(): RibRoute[] {
    return [...this.best.values()].sort((a, b) => ipv4ToU32(a.prefix) - ipv4ToU32(b.prefix) || a.prefixLength - b.prefixLength);
  }

  /** Longest-prefix match among the best routes. */
  lookup(addr: string): RibRoute | undefined {
    const a = ipv4ToU32(addr);
    for (const len of this.lengths) {
      const r = this.best.get(key(networkOf(addr, len), len));
      if (r && ((a & maskOf(len)) >>> 0) === ipv4ToU32(r.prefix)) return r;
    }
    return undefined;
  }
}

function choose(list: readonly RibRoute[]): RibRoute | undefined {
  if (list.length === 0) return undefined;
  const nhrp = list.find((r) => r.source === 'nhrp');
  const others = list.filter((r) => r.source !== 'nhrp').sort((a, b) => a.distance - b.distance || a.metric - b.metric);
  const top = others[0];
  // Next-hop override: the shortcut wins over a route through the same tunnel.
  if (nhrp && (!top || (top.dev === nhrp.dev && top.source !== 'connected'))) return nhrp;
  return top ?? nhrp;
}

function sameRoute(a: RibRoute | undefined, b: RibRoute | undefined): boolean {
  if (!a || !b) return a === b;
  return a.source === b.source && a.nextHop === b.nextHop && a.dev === b.dev && a.metric === b.metric && a.blackhole === b.blackhole;
}
