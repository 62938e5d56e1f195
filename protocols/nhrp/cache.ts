/**
 * The NHRP cache (RFC 2332 section 5.2: the "next hop resolution cache"), shaped
 * the way IOS shows it: entries keyed by protocol prefix, each with the overlay
 * next hop, the NBMA address and IOS's flags. Pure data: time is passed in, and
 * expiry happens in `expire(now)`, which returns what went away so the engine can
 * remove mappings and routes.
 */
import { ipv4ToU32, u32ToIpv4 } from '../wire/index.js';

/** IOS's entry types (show ip nhrp "Type:"). */
export type CacheEntryType =
  /** configured with `ip nhrp map` */
  | 'static'
  /** learned from a registration or a resolution */
  | 'dynamic'
  /** resolution in progress: traffic is held/dropped, no new request is sent */
  | 'incomplete'
  /** a NAK was received: do not ask again until expiry */
  | 'negative';

export interface CacheFlags {
  /** the registration carried the U bit (RFC 2332 5.2.3) */
  readonly unique: boolean;
  /** learned from a Registration Request (hub side) */
  readonly registered: boolean;
  /** from an authoritative reply (A bit) */
  readonly authoritative: boolean;
  /** traffic used the entry since the last refresh check */
  readonly used: boolean;
  /** a Phase 3 shortcut route (IOS "router rib nho") */
  readonly router: boolean;
  /** the peer is behind NAT: the NBMA address is the post-NAT one */
  readonly nat: boolean;
  /** learned implicitly from the source of a request (IOS "implicit") */
  readonly implicit: boolean;
  /** this entry is the next hop itself (IOS "nhop") */
  readonly nhop: boolean;
}

export const NO_FLAGS: CacheFlags = {
  unique: false, registered: false, authoritative: false, used: false, router: false, nat: false, implicit: false, nhop: false,
};

export interface CacheEntry {
  /** Network address of the protocol prefix (dotted quad, host bits zero). */
  readonly prefix: string;
  readonly prefixLength: number;
  readonly type: CacheEntryType;
  /** Overlay (tunnel) address of the peer that reaches this prefix. */
  readonly nextHop: string;
  /** NBMA (underlay) address of that peer; undefined while incomplete. */
  readonly nbma: string | undefined;
  /** NBMA address the peer claimed inside NHRP when it differs from what was seen (NAT). */
  readonly claimedNbma?: string;
  readonly flags: CacheFlags;
  /** Holding time the entry was learned with, in seconds (0 for static). */
  readonly holdingTime: number;
  /** Milliseconds. */
  readonly created: number;
  /** Milliseconds; undefined for static entries, which never expire. */
  readonly expires: number | undefined;
  /** MTU from the CIE (0 = not given). */
  readonly mtu: number;
}

export function prefixKey(prefix: string, len: number): string {
  return `${prefix}/${len}`;
}

export function maskOf(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** Network address of addr/len as a dotted quad. */
export function networkOf(addr: string, len: number): string {
  return u32ToIpv4((ipv4ToU32(addr) & maskOf(len)) >>> 0);
}

export function prefixContains(prefix: string, len: number, addr: string): boolean {
  return ((ipv4ToU32(addr) & maskOf(len)) >>> 0) === ipv4ToU32(prefix);
}

/**
 * Sized for a hub with tens of thousands of entries: exact lookups and inserts are
 * O(1), expiry runs off a min-heap (entries refreshed in place leave stale heap
 * records that are skipped lazily), and the index by next hop avoids scanning the
 * cache when a peer goes away.
 */
export class NhrpCache {
  private readonly entries = new Map<string, CacheEntry>();
  /** Prefix lengths present, longest first, for longest-prefix match. */
  private lengths: number[] = [];
  private readonly perLength = new Map<number, number>();
  private readonly heap: { at: number; key: string }[] = [];
  private readonly byHop = new Map<string, Set<string>>();
  /** Keys of shortcut (router) entries: few, walked on every tick for refresh. */
  readonly routerKeys = new Set<string>();

  get size(): number {
    return this.entries.size;
  }

  all(): CacheEntry[] {
    return [...this.entries.values()].sort(compareEntries);
  }

  get(prefix: string, len = 32): CacheEntry | undefined {
    return this.entries.get(prefixKey(prefix, len));
  }

  /** Longest-prefix match of an address; incomplete/negative entries included. */
  lookup(addr: string): CacheEntry | undefined {
    const a = ipv4ToU32(addr);
    for (const len of this.lengths) {
      const e = this.entries.get(prefixKey(u32ToIpv4((a & maskOf(len)) >>> 0), len));
      if (e) return e;
    }
    return undefined;
  }

  /** Entries whose next hop is this overlay address (the peer and prefixes behind it). */
  byNextHop(nextHop: string): CacheEntry[] {
    const keys = this.byHop.get(nextHop);
    if (!keys) return [];
    return [...keys].map((k) => this.entries.get(k)).filter((e): e is CacheEntry => e !== undefined);
  }

  /** Insert or replace; returns the previous entry at the same key. */
  put(e: CacheEntry): CacheEntry | undefined {
    const key = prefixKey(e.prefix, e.prefixLength);
    const prev = this.entries.get(key);
    if (prev) this.unindex(key, prev);
    this.entries.set(key, e);
    if (!prev) {
      const n = this.perLength.get(e.prefixLength) ?? 0;
      this.perLength.set(e.prefixLength, n + 1);
      if (n === 0) this.lengths = [...this.lengths, e.prefixLength].sort((x, y) => y - x);
    }
    let hop = this.byHop.get(e.nextHop);
    if (!hop) this.byHop.set(e.nextHop, (hop = new Set()));
    hop.add(key);
    if (e.flags.router) this.routerKeys.add(key);
    if (e.expires !== undefined && e.expires !== prev?.expires) heapPush(this.heap, { at: e.expires, key });
    return prev;
  }

  delete(prefix: string, len = 32): CacheEntry | undefined {
    const key = prefixKey(prefix, len);
    const prev = this.entries.get(key);
    if (!prev) return undefined;
    this.entries.delete(key);
    this.unindex(key, prev);
    const n = (this.perLength.get(len) ?? 1) - 1;
    if (n === 0) {
      this.perLength.delete(len);
      this.lengths = this.lengths.filter((l) => l !== len);
    } else this.perLength.set(len, n);
    return prev;
  }

  private unindex(key: string, e: CacheEntry): void {
    const hop = this.byHop.get(e.nextHop);
    if (hop) {
      hop.delete(key);
      if (hop.size === 0) this.byHop.delete(e.nextHop);
    }
    this.routerKeys.delete(key);
  }

  markUsed(prefix: string, len: number): void {
    const e = this.get(prefix, len);
    if (e && !e.flags.used) this.put({ ...e, flags: { ...e.flags, used: true } });
  }

  /** Remove and return every entry whose expiry is at or before now (static entries never expire). */
  expire(now: number): CacheEntry[] {
    const gone: CacheEntry[] = [];
    while (this.heap.length > 0 && this.heap[0].at <= now) {
      const top = heapPop(this.heap)!;
      const e = this.entries.get(top.key);
      if (!e || e.expires !== top.at) continue; // refreshed or removed since: a stale record
      this.delete(e.prefix, e.prefixLength);
      gone.push(e);
    }
    return gone;
  }

  /** The earliest expiry among the entries (for the engine's next deadline). */
  nextExpiry(): number | undefined {
    while (this.heap.length > 0) {
      const top = this.heap[0];
      const e = this.entries.get(top.key);
      if (e && e.expires === top.at) return top.at;
      heapPop(this.heap);
    }
    return undefined;
  }
}

function heapPush(h: { at: number; key: string }[], x: { at: number; key: string }): void {
  h.push(x);
  let i = h.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (h[p].at <= h[i].at) break;
    [h[p], h[i]] = [h[i], h[p]];
    i = p;
  }
}

function heapPop(h: { at: number; key: string }[]): { at: number; key: string } | undefined {
  const top = h[0];
  const last = h.pop();
  if (h.length > 0 && last) {
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l].at < h[m].at) m = l;
      if (r < h.length && h[r].at < h[m].at) m = r;
      if (m === i) break;
      [h[m], h[i]] = [h[i], h[m]];
      i = m;
    }
  }
  return top;
}

function compareEntries(a: CacheEntry, b: CacheEntry): number {
  const d = ipv4ToU32(a.prefix) - ipv4ToU32(b.prefix);
  return d !== 0 ? d : a.prefixLength - b.prefixLength;
}
