/**
 * Phase 3 timing, apart from the engine's packet handling: when a used shortcut
 * is refreshed, and how often a hub may send Traffic Indications. Pure: time is
 * passed in.
 *
 * Refresh (Cisco's "used" flag, `show ip nhrp` command reference): data traffic
 * over an entry marks it used; IOS checks its cache every 60 s, clears the flag
 * while more than 120 s remain, and, once fewer remain, refreshes a used entry by
 * sending another Resolution Request. An unused entry is left to expire with its
 * holding time. IOS's 60 s check spaces refreshes by itself; an event-driven
 * engine has no such check, so the lead is tied to the holding time instead:
 * at most 60 s (inside IOS's 60..120 s window) and at most a third of the
 * holding time, the share RFC 2332 section 5.2.3 and IOS use for registration
 * refresh. A binding is then refreshed no sooner than two thirds of its holding
 * time after it was installed: 667 ms for the shortest holding time on the wire
 * (1 s), 6.7 s for 10 s.
 */

/** The longest lead: a used shortcut is refreshed at most this long before it expires. */
export const REFRESH_LEAD_MAX_MS = 60_000;

/** How long before expiry a used binding learned with this holding time (seconds) is refreshed. */
export function refreshLeadMs(holdingTimeS: number): number {
  return Math.min(REFRESH_LEAD_MAX_MS, Math.floor((Math.max(1, holdingTimeS) * 1000) / 3));
}

/** When a binding is due for refresh if it is used; undefined when it never expires. */
export function refreshAt(e: { readonly expires: number | undefined; readonly holdingTime: number }): number | undefined {
  return e.expires === undefined ? undefined : e.expires - refreshLeadMs(e.holdingTime);
}

/** Phase 3: at most one Traffic Indication per (sender, destination) pair this often (IOS: 8 s). */
export const REDIRECT_PAIR_INTERVAL_MS = 8000;
/** And at most this many per second in all (a token bucket). */
export const REDIRECT_RATE_PER_S = 10;
/** Pairs remembered before old ones are swept. */
const REDIRECT_PAIRS_MAX = 4096;

/** The hub's Traffic Indication rate limit: per pair, and a token bucket over all pairs. */
export class RedirectLimiter {
  private readonly lastSent = new Map<string, number>();
  private tokens = REDIRECT_RATE_PER_S;
  private refilled = 0;

  /** True (and counted) when an indication for `pair` may go out now. */
  allow(pair: string, now: number): boolean {
    const last = this.lastSent.get(pair);
    this.tokens = Math.min(REDIRECT_RATE_PER_S, this.tokens + ((now - this.refilled) / 1000) * REDIRECT_RATE_PER_S);
    this.refilled = now;
    if ((last !== undefined && now - last < REDIRECT_PAIR_INTERVAL_MS) || this.tokens < 1) return false;
    this.tokens -= 1;
    this.lastSent.set(pair, now);
    if (this.lastSent.size > REDIRECT_PAIRS_MAX) {
      for (const [k, t] of this.lastSent) if (now - t >= REDIRECT_PAIR_INTERVAL_MS) this.lastSent.delete(k);
    }
    return true;
  }
}
