/**
 * DUAL, the diffusing update algorithm (RFC 7868 sections 3.4-3.5), as a
 * transition table in the manner of FRR's eigrp_fsm.c. One machine per
 * destination; the caller applies the input to the topology entry first
 * (adds, changes or removes the path it concerns), then calls dualStep().
 *
 *   (7) KEEP loops on every state
 *   +=================================================================+
 *   |                             PASSIVE                             |
 *   +=================================================================+
 *      |  ^               ^                      ^              ^  |
 *   (0)|  |(1)         (3)|                   (3)|           (1)|  |(2)
 *      v  |               |                      |              |  v
 *   +==========+ (6) +==========+  (5)   +==========+ (6) +==========+
 *   | ACTIVE 1 |<----| ACTIVE 0 |------->| ACTIVE 2 |---->| ACTIVE 3 |
 *   |  oij=1   |---->|  oij=0   |   +--->|  oij=2   |<----|  oij=3   |
 *   +==========+ (4) +==========+   |    +==========+ (4) +==========+
 *        |                          |
 *        +------------(5)-----------+
 *
 *   (0) NQ_FCN  input other than a query from the successor; no feasible successor -> query, ACTIVE 1
 *   (1) LR      last reply in ACTIVE 1/3: FD reset, best path wins; ACTIVE 3 replies to the successor
 *   (2) Q_FCN   query from the successor; no feasible successor -> query, ACTIVE 3
 *   (3) LR_FCS  last reply in ACTIVE 0/2 and the feasibility condition holds with the current FD
 *   (4) DINC    the successor's distance grew while active
 *   (5) QACT    query from the successor while ACTIVE 0/1
 *   (6) LR_FCN  last reply in ACTIVE 0/2, condition fails: a new diffusing computation (ACTIVE 1/3)
 *   (7) KEEP    no state change (passive local computation; active: a reply that is not the last)
 *
 * oij (RFC 7868 3.5): 0/1 = the computation started here (local origin), 2/3 = a
 * query from the successor started it; 0/2 = the successor's distance grew since.
 */
import { INFINITE_DISTANCE } from './metric.js';
import {
  bestPath,
  feasible,
  selectSuccessors,
  type DualState,
  type PrefixEntry,
} from './topology.js';

export type DualEvent = 'NQ_FCN' | 'LR' | 'Q_FCN' | 'LR_FCS' | 'DINC' | 'QACT' | 'LR_FCN' | 'KEEP';

/** What happened to the entry: the kind of packet (or local change) and which path it touched. */
export interface DualInput {
  readonly kind: 'update' | 'query' | 'reply' | 'neighbor-down' | 'local';
  /** The path key (neighborKey for neighbours) the input concerns. */
  readonly from: string;
  /** Distance through the successor before the input was applied (DINC detection). */
  readonly successorDistanceBefore: bigint;
}

/** What DUAL asks of the router. The instance turns these into packets and RIB changes. */
export interface DualContext {
  readonly now: number;
  readonly variance: number;
  readonly maximumPaths: number;
  /** Neighbours to query (up, not stubs): their keys. */
  queryTargets(e: PrefixEntry): string[];
  sendQuery(e: PrefixEntry): void;
  sendReply(e: PrefixEntry, neighbor: string): void;
  /** The reported distance, the successors or the state changed: update neighbours and the RIB. */
  changed(e: PrefixEntry): void;
  /** The one place state changes are logged (DESIGN.md: `state A => B (reason)`). */
  stateChanged(e: PrefixEntry, from: DualState, to: DualState, event: DualEvent): void;
}

type Action = (e: PrefixEntry, input: DualInput, ctx: DualContext) => void;

// ---------------------------------------------------------------- helpers

function setState(e: PrefixEntry, to: DualState, event: DualEvent, ctx: DualContext): void {
  const from = e.state;
  e.state = to;
  if (from !== to) ctx.stateChanged(e, from, to, event);
}

function successorDistance(e: PrefixEntry): bigint {
  const s = e.successor !== undefined ? e.paths.get(e.successor) : undefined;
  return s ? s.distance : INFINITE_DISTANCE;
}

/** The best path satisfies the feasibility condition against the current FD. */
function bestFeasible(e: PrefixEntry): boolean {
  const best = bestPath(e);
  return best !== undefined && feasible(best, e.fd);
}

/**
 * Choose successors among the feasible paths, lower FD to the new distance if
 * it is lower, and report what changed. With `resetFd` (last reply of a
 * computation started here or by the successor's query) the FD is first
 * set to infinity, so the best path wins whatever its reported distance.
 */
function settle(e: PrefixEntry, ctx: DualContext, resetFd: boolean): void {
  if (resetFd) e.fd = INFINITE_DISTANCE;
  const best = bestPath(e);
  const before = `${e.distance}|${e.successors.join(',')}|${e.successor}`;
  if (!best || !feasible(best, e.fd)) {
    e.successor = undefined;
    e.successors = [];
    e.distance = INFINITE_DISTANCE;
    e.reported = undefined;
    if (resetFd) e.fd = INFINITE_DISTANCE;
  } else {
    if (best.distance < e.fd) e.fd = best.distance;
    e.successor = best.key;
    e.successors = selectSuccessors(e, best, ctx.variance, ctx.maximumPaths);
    e.distance = best.distance;
    e.reported = best.total;
  }
  const after = `${e.distance}|${e.successors.join(',')}|${e.successor}`;
  if (before !== after || resetFd) ctx.changed(e);
}

function replyToOrigin(e: PrefixEntry, ctx: DualContext): void {
  const origin = e.queryOrigin;
  e.queryOrigin = undefined;
  e.activeSince = undefined;
  if (origin !== undefined && origin !== 'local') ctx.sendReply(e, origin);
}

/** Start a diffusing computation: freeze the successor, query every neighbour. */
function goActive(e: PrefixEntry, ctx: DualContext, to: 'active1' | 'active3', event: DualEvent, origin: string): void {
  const succ = e.successor !== undefined ? e.paths.get(e.successor) : undefined;
  e.distance = succ ? succ.distance : INFINITE_DISTANCE;
  e.reported = succ && succ.distance < INFINITE_DISTANCE ? succ.total : undefined;
  e.fd = e.distance;
  e.successors = succ && succ.distance < INFINITE_DISTANCE ? [succ.key] : [];
  e.queryOrigin = origin;
  e.activeSince = ctx.now;
  e.replyStatus.clear();
  setState(e, to, event, ctx);
  const targets = ctx.queryTargets(e);
  ctx.changed(e);
  if (targets.length === 0) {
    // Nobody to ask: the computation ends at once (RFC 7868 3.5, "no neighbors").
    lastReplyReset(e, ctx, 'LR');
    return;
  }
  for (const t of targets) e.replyStatus.set(t, { since: ctx.now, deadline: ctx.now, siaQueries: 0, awaitingSiaReply: false });
  ctx.sendQuery(e);
}

function lastReplyReset(e: PrefixEntry, ctx: DualContext, event: DualEvent): void {
  e.replyStatus.clear();
  setState(e, 'passive', event, ctx);
  settle(e, ctx, true);
  replyToOrigin(e, ctx);
}

// ---------------------------------------------------------------- actions

/** (7) No state change. Passive: local computation, answer a query. Active: answer non-successor queries at once. */
const keep: Action = (e, input, ctx) => {
  if (e.state === 'passive') {
    settle(e, ctx, false);
    if (input.kind === 'query') ctx.sendReply(e, input.from);
    return;
  }
  if (input.kind === 'query' && input.from !== e.successor) ctx.sendReply(e, input.from);
  else if (input.kind === 'query') e.queryOrigin = input.from;
};

/** (0) Passive, non-query input, no feasible successor: ACTIVE 1, local origin. */
const nqFcn: Action = (e, _input, ctx) => goActive(e, ctx, 'active1', 'NQ_FCN', 'local');

/** (2) Passive, query from the successor, no feasible successor: ACTIVE 3, the successor is the origin. */
const qFcn: Action = (e, input, ctx) => goActive(e, ctx, 'active3', 'Q_FCN', input.from);

/** (1) Last reply in ACTIVE 1/3: reset FD, take the best path, answer the origin. */
const lr: Action = (e, _input, ctx) => lastReplyReset(e, ctx, 'LR');

/** (3) Last reply in ACTIVE 0/2 with the condition met: passive with the current FD, answer the origin. */
const lrFcs: Action = (e, _input, ctx) => {
  e.replyStatus.clear();
  setState(e, 'passive', 'LR_FCS', ctx);
  settle(e, ctx, false);
  replyToOrigin(e, ctx);
};

/** (6) Last reply in ACTIVE 0/2, condition not met: a new diffusing computation. */
const lrFcn: Action = (e, _input, ctx) => {
  const to = e.state === 'active2' ? 'active3' : 'active1';
  goActive(e, ctx, to, 'LR_FCN', e.queryOrigin ?? 'local');
};

/** (4) The successor's distance grew while active: ACTIVE 1 -> 0, ACTIVE 3 -> 2. */
const dinc: Action = (e, input, ctx) => {
  setState(e, e.state === 'active3' ? 'active2' : 'active0', 'DINC', ctx);
  // A growing last reply ends the computation in the new state.
  if (e.replyStatus.size === 0) step(e, { ...input, kind: 'reply' }, ctx, lastReplyEvent(e));
};

/** (5) Query from the successor while ACTIVE 0/1: it becomes the origin we answer, ACTIVE 2. */
const qact: Action = (e, input, ctx) => {
  e.queryOrigin = input.from;
  setState(e, 'active2', 'QACT', ctx);
};

const ignore: Action = () => undefined;

/**
 * The transition table: TABLE[state][event]. Entries that cannot happen in a
 * state (the classifier never produces them) do nothing.
 */
const TABLE: Readonly<Record<DualState, Readonly<Record<DualEvent, Action>>>> = {
  passive: { NQ_FCN: nqFcn, LR: ignore, Q_FCN: qFcn, LR_FCS: ignore, DINC: ignore, QACT: ignore, LR_FCN: ignore, KEEP: keep },
  active0: { NQ_FCN: ignore, LR: ignore, Q_FCN: ignore, LR_FCS: lrFcs, DINC: ignore, QACT: qact, LR_FCN: lrFcn, KEEP: keep },
  active1: { NQ_FCN: ignore, LR: lr, Q_FCN: ignore, LR_FCS: ignore, DINC: dinc, QACT: qact, LR_FCN: ignore, KEEP: keep },
  active2: { NQ_FCN: ignore, LR: ignore, Q_FCN: ignore, LR_FCS: lrFcs, DINC: ignore, QACT: ignore, LR_FCN: lrFcn, KEEP: keep },
  active3: { NQ_FCN: ignore, LR: lr, Q_FCN: ignore, LR_FCS: ignore, DINC: dinc, QACT: ignore, LR_FCN: ignore, KEEP: keep },
};

function lastReplyEvent(e: PrefixEntry): DualEvent {
  if (e.state === 'active1' || e.state === 'active3') return 'LR';
  return bestFeasible(e) ? 'LR_FCS' : 'LR_FCN';
}

/** Which arrow an input takes from the entry's state (FRR's eigrp_get_fsm_event, adapted). */
export function classify(e: PrefixEntry, input: DualInput): DualEvent {
  const fromSuccessor = input.from === e.successor;
  const isReply = input.kind === 'reply' || input.kind === 'neighbor-down';
  switch (e.state) {
    case 'passive': {
      if (input.kind === 'reply') return 'KEEP';
      if (bestFeasible(e)) return 'KEEP';
      // Already unreachable with nothing feasible: nothing to compute.
      if (e.successor === undefined && e.distance >= INFINITE_DISTANCE) return 'KEEP';
      return input.kind === 'query' && fromSuccessor ? 'Q_FCN' : 'NQ_FCN';
    }
    case 'active1':
    case 'active3': {
      if (input.kind === 'query' && fromSuccessor) return e.state === 'active1' ? 'QACT' : 'KEEP';
      const grew = fromSuccessor && successorDistance(e) > input.successorDistanceBefore;
      if (grew && (input.kind === 'update' || isReply)) return 'DINC';
      if (isReply && e.replyStatus.size === 0) return 'LR';
      return 'KEEP';
    }
    case 'active0':
    case 'active2': {
      if (input.kind === 'query' && fromSuccessor) return e.state === 'active0' ? 'QACT' : 'KEEP';
      if (isReply && e.replyStatus.size === 0) return bestFeasible(e) ? 'LR_FCS' : 'LR_FCN';
      return 'KEEP';
    }
  }
}

function step(e: PrefixEntry, input: DualInput, ctx: DualContext, event: DualEvent): DualEvent {
  TABLE[e.state][event](e, input, ctx);
  return event;
}

/**
 * Run one input through the machine. The caller has already applied it to
 * the entry's paths and, for replies and neighbour loss, removed the neighbour
 * from the reply status table. Returns the event taken (for tests and logs).
 */
export function dualStep(e: PrefixEntry, input: DualInput, ctx: DualContext): DualEvent {
  return step(e, input, ctx, classify(e, input));
}

/** The letter `show ip eigrp topology` prints for a state. */
export function stateCode(s: DualState): 'P' | 'A' {
  return s === 'passive' ? 'P' : 'A';
}

/** oij of an active state (RFC 7868 3.5), for show output. */
export function queryOriginFlag(s: DualState): number | undefined {
  return s === 'passive' ? undefined : Number(s.slice(-1));
}
