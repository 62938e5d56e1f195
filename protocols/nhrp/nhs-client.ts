/**
 * The registration client (NHC) for one NHS, RFC 2332 section 5.2.3 with IOS's
 * timing:
 *   - a Registration Request every holdtime/3 (or `ip nhrp registration timeout`);
 *   - while an NHS does not answer, retransmissions with a fresh request ID and a
 *     doubling interval of 1, 2, 4 ... 64 seconds (IOS's NHS probing);
 *   - the NHS is "responding" (IOS status R) from the first good reply, and goes
 *     back to "expecting" (E) after three unanswered refreshes or when the last
 *     successful registration's holding time runs out.
 *
 *            start                       reply code 0
 *   down ──────────► expecting ─────────────────────────► responding
 *    ▲                 ▲  │ timer: resend, backoff ×2         │ timer: refresh
 *    │ stop            │  └───────┐                          │ 3 misses / expiry
 *    └─────────────────┴──────────┴──────────────────────────┘
 *
 * Sequential machine in the GoBGP style: one handler per state, each returning
 * the next state and a reason from a closed list; the engine logs every change.
 */

export type NhsState = 'down' | 'expecting' | 'responding';

/** IOS's one-letter NHS status in `show dmvpn` / `show ip nhrp nhs`. */
export function nhsStatusLetter(s: NhsState): 'E' | 'R' | 'W' {
  return s === 'responding' ? 'R' : s === 'expecting' ? 'E' : 'W';
}

export type NhsEvent =
  | { readonly kind: 'start' }
  | { readonly kind: 'stop' }
  | { readonly kind: 'timer' }
  | { readonly kind: 'reply'; readonly requestId: number; readonly code: number };

export type NhsAction =
  | { readonly kind: 'send-registration'; readonly requestId: number }
  | { readonly kind: 'send-purge'; readonly requestId: number };

export type NhsReason =
  | 'started'
  | 'stopped'
  | 'registration accepted'
  | 'registration rejected'
  | 'no reply to 3 registrations'
  | 'registration expired'
  | 'unchanged';

export interface NhsTiming {
  /** Holding time we register with, seconds. */
  readonly holdtime: number;
  /** Refresh interval, seconds (IOS default: holdtime / 3). */
  readonly interval: number;
}

export interface NhsClient {
  readonly state: NhsState;
  /** Next time the machine wants a `timer` event (ms), undefined when idle. */
  readonly deadline: number | undefined;
  /** Request IDs sent and not yet answered (newest last, bounded). */
  readonly outstanding: readonly number[];
  /** Request ID counter (shared per engine, passed in). */
  readonly backoff: number;
  readonly misses: number;
  readonly since: number;
  /** When the NHS's binding of our registration lapses (ms). */
  readonly registeredUntil: number | undefined;
  readonly sent: number;
  readonly replies: number;
  readonly failures: number;
  readonly lastCode: number | undefined;
}

export const MAX_BACKOFF_S = 64;
const MAX_OUTSTANDING = 16;
const MISSES_BEFORE_DOWN = 3;

export function newNhsClient(now: number): NhsClient {
  return {
    state: 'down', deadline: undefined, outstanding: [], backoff: 1, misses: 0, since: now, registeredUntil: undefined,
    sent: 0, replies: 0, failures: 0, lastCode: undefined,
  };
}

export interface NhsStep {
  readonly client: NhsClient;
  readonly actions: NhsAction[];
  readonly reason: NhsReason;
}

/**
 * Advance the machine. `nextRequestId` allocates request IDs (they are unique per
 * NHRP instance, RFC 2332 section 5.2.3, and IOS uses a fresh one per send).
 */
export function stepNhsClient(c: NhsClient, ev: NhsEvent, now: number, t: NhsTiming, nextRequestId: () => number): NhsStep {
  const send = (cl: NhsClient, deadline: number, extra: Partial<NhsClient> = {}): { client: NhsClient; actions: NhsAction[] } => {
    const id = nextRequestId();
    return {
      client: { ...cl, ...extra, deadline, sent: cl.sent + 1, outstanding: [...cl.outstanding, id].slice(-MAX_OUTSTANDING) },
      actions: [{ kind: 'send-registration', requestId: id }],
    };
  };

  if (ev.kind === 'stop') {
    if (c.state === 'down') return { client: c, actions: [], reason: 'unchanged' };
    const actions: NhsAction[] = c.state === 'responding' ? [{ kind: 'send-purge', requestId: nextRequestId() }] : [];
    return { client: { ...c, state: 'down', deadline: undefined, outstanding: [], since: now, registeredUntil: undefined }, actions, reason: 'stopped' };
  }

  switch (c.state) {
    case 'down': {
      if (ev.kind !== 'start') return { client: c, actions: [], reason: 'unchanged' };
      const r = send(c, now + 1000, { state: 'expecting', backoff: 1, misses: 0, since: now });
      return { ...r, reason: 'started' };
    }
    case 'expecting': {
      if (ev.kind === 'timer' && c.deadline !== undefined && now >= c.deadline) {
        const backoff = Math.min(c.backoff * 2, MAX_BACKOFF_S);
        const r = send(c, now + backoff * 1000, { backoff, failures: c.failures + 1 });
        return { ...r, reason: 'unchanged' };
      }
      if (ev.kind === 'reply' && c.outstanding.includes(ev.requestId)) {
        return onReply(c, ev, now, t);
      }
      return { client: c, actions: [], reason: 'unchanged' };
    }
    case 'responding': {
      if (ev.kind === 'reply' && c.outstanding.includes(ev.requestId)) return onReply(c, ev, now, t);
      if (ev.kind !== 'timer' || c.deadline === undefined || now < c.deadline) return { client: c, actions: [], reason: 'unchanged' };
      if (c.registeredUntil !== undefined && now >= c.registeredUntil) {
        const r = send(c, now + 1000, { state: 'expecting', backoff: 1, misses: 0, since: now, registeredUntil: undefined });
        return { ...r, reason: 'registration expired' };
      }
      // A refresh is due; outstanding requests mean the previous one went unanswered.
      const missed = c.outstanding.length > 0;
      const misses = missed ? c.misses + 1 : 0;
      if (misses >= MISSES_BEFORE_DOWN) {
        const r = send(c, now + 1000, { state: 'expecting', backoff: 1, misses: 0, since: now, failures: c.failures + 1 });
        return { ...r, reason: 'no reply to 3 registrations' };
      }
      // After a miss, retry sooner (backoff) than the full interval, never past the expiry.
      const wait = missed ? Math.min(2 ** misses, t.interval) * 1000 : t.interval * 1000;
      const due = c.registeredUntil !== undefined ? Math.min(now + wait, Math.max(c.registeredUntil, now + 1)) : now + wait;
      const r = send(c, due, { misses, failures: missed ? c.failures + 1 : c.failures });
      return { ...r, reason: 'unchanged' };
    }
  }
}

function onReply(c: NhsClient, ev: { requestId: number; code: number }, now: number, t: NhsTiming): NhsStep {
  const outstanding = c.outstanding.filter((id) => id !== ev.requestId && id > ev.requestId);
  if (ev.code !== 0) {
    // Rejected (e.g. code 14, address already registered with another NBMA): keep
    // probing with backoff; the engine logs the code's name.
    return {
      client: { ...c, outstanding, replies: c.replies + 1, lastCode: ev.code, failures: c.failures + 1 },
      actions: [],
      reason: c.state === 'responding' ? 'unchanged' : 'registration rejected',
    };
  }
  const wasUp = c.state === 'responding';
  return {
    client: {
      ...c,
      state: 'responding',
      outstanding,
      backoff: 1,
      misses: 0,
      since: wasUp ? c.since : now,
      deadline: now + t.interval * 1000,
      registeredUntil: now + t.holdtime * 1000,
      replies: c.replies + 1,
      lastCode: 0,
    },
    actions: [],
    reason: wasUp ? 'unchanged' : 'registration accepted',
  };
}
