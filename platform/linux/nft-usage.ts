/**
 * The kernel dataplane's usage signal, read from nftables: `nft -j list set ip <table>
 * tx_nexthops` (the set the postrouting rule of nftables.ts updates with `rt ip nexthop
 * counter`) parsed into per-next-hop counters, and those turned into totals that only grow,
 * which is what the tunnel compares between polls (daemon/tunnel.ts: a total that grew since
 * the last poll marks the next hop's shortcuts used, protocols/nhrp/shortcut.ts).
 *
 * The JSON, as nft 1.0.x prints it (libnftables' JSON schema version 1):
 *
 *   {"nftables": [{"metainfo": {...}},
 *     {"set": {"family": "ip", "name": "tx_nexthops", "table": "dmvpnd_Tunnel0", "type": "ipv4_addr",
 *       "flags": ["timeout"], "timeout": 600,
 *       "elem": [{"elem": {"val": "10.0.0.11", "expires": 597, "counter": {"packets": 12, "bytes": 1008}}}]}}]}
 *
 * An element without a statement or a timeout prints as the bare value ("10.0.0.11"); an
 * element without a counter counts nothing. Anything else is not our set: a PlatformError.
 *
 * Why the totals: an element's counter starts from zero whenever the element is created, which
 * happens when it timed out (an idle next hop) or the table was installed again (recovery,
 * audit). A counter below the last one read is such a restart: all of it is new.
 */
import { Errno, PlatformError } from '../errors.js';

/** One element of the set: a next hop and what the rule counted for it. */
export interface NextHopCount {
  readonly nextHop: string;
  readonly packets: number;
  readonly bytes: number;
  /** Seconds before an idle element is dropped, when the set has timeouts. */
  readonly expiresS?: number;
}

type Json = Record<string, unknown>;

const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A counter value: a non-negative safe integer (nft prints u64 values as JSON numbers). */
function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

/**
 * The elements of set `set` of table `table` (family ip) in `nft -j list set` output. Throws a
 * PlatformError (EIO) when the output is not JSON, holds no such set, or an element is not an
 * IPv4 address with sane counters.
 */
export function parseSetCounters(out: string, table: string, set: string, operation: string): NextHopCount[] {
  const bad = (detail: string): PlatformError => new PlatformError({ code: 'netlink', errno: Errno.EIO, syscall: 'nft', operation, detail });
  let doc: unknown;
  try {
    doc = JSON.parse(out);
  } catch {
    throw bad('nft -j printed something that is not JSON');
  }
  const items = isObject(doc) && Array.isArray(doc.nftables) ? (doc.nftables as unknown[]) : undefined;
  if (!items) throw bad('nft -j printed no "nftables" array');
  const found = items.map((i) => (isObject(i) && isObject(i.set) ? i.set : undefined))
    .find((s) => s !== undefined && s.name === set && s.table === table && (s.family === undefined || s.family === 'ip'));
  if (!found) throw bad(`nft -j printed no set ${set} of table ip ${table}`);
  if (found.elem === undefined) return [];
  if (!Array.isArray(found.elem)) throw bad(`the elements of set ${set} are not an array`);
  const result: NextHopCount[] = [];
  for (const raw of found.elem as unknown[]) {
    const e: Json = isObject(raw) && isObject(raw.elem) ? raw.elem : { val: raw };
    const nextHop = e.val;
    if (typeof nextHop !== 'string' || !IPV4.test(nextHop)) throw bad(`set ${set} holds ${JSON.stringify(nextHop)}, not an IPv4 next hop`);
    let packets = 0;
    let bytes = 0;
    if (e.counter !== undefined && e.counter !== null) {
      const c = isObject(e.counter) ? e.counter : {};
      const p = count(c.packets);
      const b = count(c.bytes);
      if (p === undefined || b === undefined) throw bad(`the counter of ${nextHop} in set ${set} is not two non-negative integers`);
      packets = p;
      bytes = b;
    }
    const expires = count(e.expires);
    result.push({ nextHop, packets, bytes, ...(expires !== undefined ? { expiresS: expires } : {}) });
  }
  return result;
}

/** What was sent to a next hop since the daemon started counting: only grows. */
export interface TxTotal {
  readonly packets: number;
  readonly bytes: number;
}

/**
 * Per-next-hop totals from successive readings of the set. Next hops are kept for the life of
 * the tunnel (the tunnel remembers the last total it saw per peer, so a total must never go
 * back); the rule only matches packets routed out of the tunnel, so they are bounded by the
 * addresses routed through it.
 */
export class TxTotals {
  private last = new Map<string, TxTotal>();
  private readonly totals = new Map<string, TxTotal>();

  /** The set was created anew (the table installed again): every element starts from zero. */
  restart(): void {
    this.last.clear();
  }

  /** Fold one reading in. */
  update(elements: readonly NextHopCount[]): void {
    const seen = new Map<string, TxTotal>();
    for (const e of elements) {
      const prev = this.last.get(e.nextHop);
      // Below the last reading: the element timed out and came back, so every packet in it is new.
      const restarted = prev === undefined || e.packets < prev.packets || e.bytes < prev.bytes;
      const dp = restarted ? e.packets : e.packets - prev.packets;
      const db = restarted ? e.bytes : e.bytes - prev.bytes;
      const t = this.totals.get(e.nextHop);
      if (dp > 0 || db > 0 || t === undefined) this.totals.set(e.nextHop, { packets: (t?.packets ?? 0) + dp, bytes: (t?.bytes ?? 0) + db });
      seen.set(e.nextHop, { packets: e.packets, bytes: e.bytes });
    }
    // An element missing from this reading timed out: when it comes back it starts from zero.
    this.last = seen;
  }

  get(nextHop: string): TxTotal | undefined {
    return this.totals.get(nextHop);
  }

  get size(): number {
    return this.totals.size;
  }
}
