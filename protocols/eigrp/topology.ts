/**
 * The topology table (RFC 7868 section 3.2): one entry per destination with
 * every path we know (each neighbour's report, and local origins: connected
 * networks, redistributed routes, summaries), the feasible distance, the
 * successor(s) and the DUAL state. DUAL itself (dual.ts) moves entries
 * between states; this file holds the data and the pure selection rules.
 */
import type { ExternalData } from './route.js';
import { INFINITE_DISTANCE, type MetricVector } from './metric.js';

export type PathSource =
  | { readonly kind: 'neighbor'; readonly address: string; readonly ifname: string }
  | { readonly kind: 'connected'; readonly ifname: string }
  | { readonly kind: 'redistributed'; readonly protocol: string; readonly ifname?: string }
  | { readonly kind: 'summary' };

export interface Path {
  /** neighborKey() for neighbours; "connected", "redistributed", "summary" for local origins. */
  readonly key: string;
  readonly source: PathSource;
  /** The vector as the neighbour reported it (local origins: the route's own vector). */
  readonly reported: MetricVector;
  /** Reported distance: the composite of `reported` (0 for local origins). */
  readonly rd: bigint;
  /** The vector through this path (reported plus our link). */
  readonly total: MetricVector;
  /** Composite of `total`. */
  readonly distance: bigint;
  /** Next hop for the RIB: the neighbour, or the third-party next hop it named; "" for local origins. */
  readonly nextHop: string;
  readonly external?: ExternalData;
  /** Router ID of the originator (wide TLVs, external data, or ourselves). */
  readonly originRouter: string;
}

/** DUAL states (RFC 7868 section 3.5; FRR's eigrp_fsm.c numbering of the active states by oij). */
export type DualState = 'passive' | 'active0' | 'active1' | 'active2' | 'active3';

/** One outstanding reply (RFC 7868 section 3.4: the reply status table) and its SIA bookkeeping. */
export interface ReplyWait {
  /** When the Query (or the last SIA-Query) went out, ms. */
  since: number;
  /** Next SIA deadline: send a SIA-Query, or give up on the neighbour. */
  deadline: number;
  siaQueries: number;
  /** A SIA-Query is out and its SIA-Reply has not come back. */
  awaitingSiaReply: boolean;
}

export interface PrefixEntry {
  readonly key: string;
  readonly prefix: string;
  readonly prefixLength: number;
  state: DualState;
  /** Feasible distance: the lowest distance since the entry last went from active to passive. */
  fd: bigint;
  /** The distance we report to neighbours (the successor's distance; infinite when unreachable). */
  distance: bigint;
  /** The vector we report (undefined when unreachable). */
  reported: MetricVector | undefined;
  readonly paths: Map<string, Path>;
  /** Path key of the successor (kept fixed while active). */
  successor: string | undefined;
  /** Paths in use: the successor plus feasible successors within variance (passive only). */
  successors: string[];
  /** Neighbours whose Reply we wait for. */
  readonly replyStatus: Map<string, ReplyWait>;
  /** Who started the diffusing computation: "local", or the neighbour whose Query we must answer. */
  queryOrigin: string | undefined;
  activeSince: number | undefined;
}

export function newEntry(key: string, prefix: string, prefixLength: number): PrefixEntry {
  return {
    key, prefix, prefixLength,
    state: 'passive',
    fd: INFINITE_DISTANCE,
    distance: INFINITE_DISTANCE,
    reported: undefined,
    paths: new Map(),
    successor: undefined,
    successors: [],
    replyStatus: new Map(),
    queryOrigin: undefined,
    activeSince: undefined,
  };
}

export function neighborKey(address: string, ifname: string): string {
  return `${address}%${ifname}`;
}

export function isActive(e: PrefixEntry): boolean {
  return e.state !== 'passive';
}

/** Paths ordered by distance, then local before learned, then key (a stable order for ties). */
export function sortedPaths(e: PrefixEntry): Path[] {
  return [...e.paths.values()].sort((a, b) => {
    if (a.distance !== b.distance) return a.distance < b.distance ? -1 : 1;
    const la = a.source.kind === 'neighbor' ? 1 : 0;
    const lb = b.source.kind === 'neighbor' ? 1 : 0;
    if (la !== lb) return la - lb;
    return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
  });
}

/** The path with the lowest distance; on a tie the current successor stays. */
export function bestPath(e: PrefixEntry): Path | undefined {
  const all = sortedPaths(e);
  const best = all[0];
  if (!best || best.distance >= INFINITE_DISTANCE) return undefined;
  const cur = e.successor !== undefined ? e.paths.get(e.successor) : undefined;
  return cur && cur.distance === best.distance ? cur : best;
}

/** The feasibility condition (RFC 7868 section 3.3): the reported distance is below the feasible distance. */
export function feasible(p: Path, fd: bigint): boolean {
  return p.distance < INFINITE_DISTANCE && (p.rd < fd || (p.source.kind !== 'neighbor' && p.rd === 0n));
}

/**
 * The paths to forward on: the best feasible path and every other feasible
 * successor whose distance is within `variance` times the best (IOS: equal
 * cost with variance 1), at most `maximumPaths`.
 */
export function selectSuccessors(e: PrefixEntry, best: Path, variance: number, maximumPaths: number): string[] {
  const out = [best.key];
  const limit = best.distance * BigInt(Math.max(1, Math.trunc(variance)));
  for (const p of sortedPaths(e)) {
    if (out.length >= maximumPaths) break;
    if (p.key === best.key || !feasible(p, e.fd)) continue;
    if (p.distance === best.distance || p.distance < limit) out.push(p.key);
  }
  return out;
}

/** Feasible successors that are not successors (show topology lists them after the successors). */
export function feasibleSuccessors(e: PrefixEntry): Path[] {
  return sortedPaths(e).filter((p) => !e.successors.includes(p.key) && feasible(p, e.fd));
}
