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

export class NhrpCache {
  private readonly entries = new Map<string, CacheEntry>();
  /** Prefix lengths present, longest first, for longest-prefix match. */
  private lengths: number[] = [];

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
    return [...this.entries.values()].filter((e) => e.nextHop === nextHop);
  }

  /** Entries that resolve to this NBMA address. */
  byNbma(nbma: string): CacheEntry[] {
    return [...this.entries.values()].filter((e) => e.nbma === nbma);
  }

  /** Insert or replace; returns the previous entry at the same key. */
  put(e: CacheEntry): CacheEntry | undefined {
    const key = prefixKey(e.prefix, e.prefixLength);
    const prev = this.entries.get(key);
    this.entries.set(key, e);
    if (!prev && !this.lengths.includes(e.prefixLength)) {
      this.lengths = [...this.lengths, e.prefixLength].sort((x, y) => y - x);
    }
    return prev;
  }

  delete(prefix: string, len = 32): CacheEntry | undefined {
    const key = prefixKey(prefix, len);
    const prev = this.entries.get(key);
    if (!prev) return undefined;
    this.entries.delete(key);
    if (![...this.entries.values()].some((e) => e.prefixLength === len)) {
      this.lengths = this.lengths.filter((l) => l !== len);
    }
    return prev;
  }

  markUsed(prefix: string, len: number): void {
    const e = this.get(prefix, len);
    if (e && !e.flags.used) this.put({ ...e, flags: { ...e.flags, used: true } });
  }

  /** Remove and return every non-static entry whose expiry is at or before now. */
  expire(now: number): CacheEntry[] {
    const gone: CacheEntry[] = [];
    for (const e of [...this.entries.values()]) {
      if (e.expires !== undefined && e.expires <= now) {
        this.delete(e.prefix, e.prefixLength);
        gone.push(e);
      }
    }
    return gone;
  }

  /** The earliest expiry among the entries (for the engine's next deadline). */
  nextExpiry(): number | undefined {
    let next: number | undefined;
    for (const e of this.entries.values()) if (e.expires !== undefined && (next === undefined || e.expires < next)) next = e.expires;
    return next;
  }
}

function compareEntries(a: CacheEntry, b: CacheEntry): number {
  const d = ipv4ToU32(a.prefix) - ipv4ToU32(b.prefix);
  return d !== 0 ? d : a.prefixLength - b.prefixLength;
}
