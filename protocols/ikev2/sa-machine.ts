/**
 * The IKE SA state machine: a sequential machine in GoBGP's style, one handler
 * per state returning the next state and a reason from a closed list
 * (engine-types.ts), applied by `step` through `setState`/`close`.
 *
 *   initiator:  init-sent ──IKE_SA_INIT──► auth-sent ──IKE_AUTH──► established
 *                  │ COOKIE / INVALID_KE: resend           │
 *   responder:  (manager answers IKE_SA_INIT) ► init-replied ──IKE_AUTH──► established
 *
 *   established ──IKE rekey──► rekeyed ──Delete done / timeout──► closed (silently)
 *   established ──local delete──► deleting ──answer / timeout──► closed
 *   any ──auth failure / error notify / retransmissions exhausted / peer Delete──► closed
 *
 * `deliver` is the way in for a datagram that belongs to an SA: it checks the
 * message ID window and the integrity of the SK payload before anything else,
 * so a forged or damaged message changes nothing and is only counted.
 */
import { ExchangeType, NotifyType, exchangeTypeName } from './constants.js';
import { type Payload, unsupportedCriticalPayload } from './payloads.js';
import type { IkeMessage } from './wire.js';
import { IkeSa, type Outstanding } from './ike-sa.js';
import { type Transition, onInitResponse, onAuthRequest, onAuthResponse, sendInit, n, supersededInitAnswer } from './sa-init.js';
import {
  onCreateChildRequest, onChildRekeyResponse, onIkeRekeyResponse, onInformationalRequest, onInformationalResponse,
  establishedTimers, deleteIke,
} from './sa-exchanges.js';
import { IkeDropReason, type Endpoint, type IkeState } from './engine-types.js';

export type IkeEvent =
  /** A response to our outstanding request, integrity checked and decrypted. */
  | { readonly kind: 'response'; readonly m: IkeMessage; readonly bytes: Uint8Array; readonly payloads: Payload[]; readonly req: Outstanding }
  /** A new in-window request from the peer, integrity checked and decrypted. */
  | { readonly kind: 'request'; readonly m: IkeMessage; readonly payloads: Payload[] }
  | { readonly kind: 'timer' }
  /** Local `clear crypto session` / shutdown. */
  | { readonly kind: 'close' };

type Handler = (sa: IkeSa, ev: IkeEvent, now: number) => Transition | undefined;

function unexpected(sa: IkeSa, ev: IkeEvent): undefined {
  if (ev.kind === 'request' || ev.kind === 'response') {
    sa.env.drop(IkeDropReason.UNEXPECTED, `${sa.peer}: ${exchangeTypeName(ev.m.header.exchangeType)} ${ev.kind} in state ${sa.state}`);
  }
  return undefined;
}

const initSent: Handler = (sa, ev, now) => {
  if (ev.kind === 'response' && ev.m.header.exchangeType === ExchangeType.IKE_SA_INIT) return onInitResponse(sa, ev.m, ev.bytes, now);
  if (ev.kind === 'close') return { next: 'closed', reason: 'deleted locally' };
  return ev.kind === 'timer' ? undefined : unexpected(sa, ev);
};

const authSent: Handler = (sa, ev, now) => {
  if (ev.kind === 'response' && ev.req.ctx.kind === 'auth') return onAuthResponse(sa, ev.payloads, ev.req, now);
  if (ev.kind === 'request' && ev.m.header.exchangeType === ExchangeType.INFORMATIONAL) return onInformationalRequest(sa, ev.m, ev.payloads);
  if (ev.kind === 'close') return { next: 'closed', reason: 'deleted locally' };
  return ev.kind === 'timer' ? undefined : unexpected(sa, ev);
};

const initReplied: Handler = (sa, ev, now) => {
  if (ev.kind === 'request' && ev.m.header.exchangeType === ExchangeType.IKE_AUTH) return onAuthRequest(sa, ev.m, ev.payloads, now);
  if (ev.kind === 'timer' && sa.stateDeadline !== undefined && now >= sa.stateDeadline) return { next: 'closed', reason: 'half-open timeout' };
  if (ev.kind === 'close') return { next: 'closed', reason: 'deleted locally' };
  return ev.kind === 'timer' ? undefined : unexpected(sa, ev);
};

function response(sa: IkeSa, ev: Extract<IkeEvent, { kind: 'response' }>, now: number): Transition | undefined {
  const ctx = ev.req.ctx;
  switch (ctx.kind) {
    case 'child-rekey':
      if (sa.state !== 'established') {
        // The IKE SA was rekeyed meanwhile and the child moved; rekey it again from the new SA.
        if (ctx.old.state === 'rekeying') ctx.old.state = 'installed';
        return undefined;
      }
      onChildRekeyResponse(sa, ev.payloads, ctx, now);
      return undefined;
    case 'ike-rekey':
      onIkeRekeyResponse(sa, ev.payloads, ctx, now);
      return undefined;
    default:
      return onInformationalResponse(sa, ctx);
  }
}

function request(sa: IkeSa, ev: Extract<IkeEvent, { kind: 'request' }>, now: number): Transition | undefined {
  switch (ev.m.header.exchangeType) {
    case ExchangeType.CREATE_CHILD_SA:
      onCreateChildRequest(sa, ev.m, ev.payloads, now);
      return undefined;
    case ExchangeType.INFORMATIONAL:
      return onInformationalRequest(sa, ev.m, ev.payloads);
    default:
      return unexpected(sa, ev);
  }
}

const established: Handler = (sa, ev, now) => {
  switch (ev.kind) {
    case 'request': return request(sa, ev, now);
    case 'response': return response(sa, ev, now);
    case 'timer': return establishedTimers(sa, now);
    case 'close': return deleteIke(sa, now);
  }
};

/** Replaced by a rekeyed SA: answer the peer, finish our Delete, end silently at the deadline. */
const rekeyed: Handler = (sa, ev, now) => {
  switch (ev.kind) {
    case 'request': return request(sa, ev, now);
    case 'response': return response(sa, ev, now);
    case 'timer': return sa.stateDeadline !== undefined && now >= sa.stateDeadline ? { next: 'closed', reason: 'rekeyed', silent: true } : undefined;
    case 'close': return { next: 'closed', reason: 'rekeyed', silent: true };
  }
};

const deleting: Handler = (sa, ev, now) => {
  switch (ev.kind) {
    case 'request': return request(sa, ev, now);
    case 'response': return response(sa, ev, now);
    case 'timer': return sa.stateDeadline !== undefined && now >= sa.stateDeadline ? { next: 'closed', reason: 'deleted locally', silent: sa.redundant } : undefined;
    case 'close': return undefined;
  }
};

const HANDLERS: Record<IkeState, Handler> = {
  'init-sent': initSent,
  'auth-sent': authSent,
  'init-replied': initReplied,
  established,
  rekeyed,
  deleting,
  closed: () => undefined,
};

/** Run one event through the handler of the current state and apply its transition. */
export function step(sa: IkeSa, ev: IkeEvent, now: number): void {
  if (sa.state === 'closed') return;
  const t = HANDLERS[sa.state](sa, ev, now);
  if (t) {
    if (t.next === 'closed') sa.close(t.reason, now, t.silent ?? false);
    else sa.setState(t.next, t.reason, now);
  }
  if ((sa.state as IkeState) !== 'closed') sa.pump(now);
}

/** Initiator: send the first IKE_SA_INIT (the SA starts in init-sent). */
export function start(sa: IkeSa, now: number): void {
  sa.log('info', 'state idle => init-sent (connect)');
  sendInit(sa, sa.env.cfg.proposals[0].dh[0], now);
}

/** Timers: retransmission first (section 2.1), then the state's own deadlines. */
export function timer(sa: IkeSa, now: number): void {
  if (sa.state === 'closed') return;
  if (!sa.retransmitDue(now)) {
    const dpd = sa.outstanding?.ctx.kind === 'dpd';
    sa.log('warn', `no answer from ${sa.peer} after ${sa.outstanding?.tries} transmissions${dpd ? ' of a liveness check' : ''}`);
    const quiet = sa.state === 'rekeyed' || sa.redundant;
    sa.close(sa.state === 'deleting' ? 'deleted locally' : dpd ? 'dead peer detected' : 'retransmissions exhausted', now, quiet);
    return;
  }
  step(sa, { kind: 'timer' }, now);
}

/**
 * A message for this SA (found by our SPI). `from` is where it came from,
 * `localPort` the port it arrived on.
 */
export function deliver(sa: IkeSa, m: IkeMessage, bytes: Uint8Array, from: Endpoint, localPort: number, now: number): void {
  const h = m.header;
  const drop = (reason: (typeof IkeDropReason)[keyof typeof IkeDropReason], why: string): void => sa.env.drop(reason, `${from.address}: ${why}`);
  if (h.exchangeType === ExchangeType.IKE_SA_INIT) {
    if (!h.response || sa.state !== 'init-sent' || h.initiator) return drop(IkeDropReason.UNEXPECTED, 'IKE_SA_INIT for an SA past it');
    const superseded = supersededInitAnswer(sa, m);
    if (superseded) return drop(IkeDropReason.SUPERSEDED, superseded);
    const req = sa.takeOutstanding(h);
    if (!req) return drop(IkeDropReason.MESSAGE_ID, 'IKE_SA_INIT response without a request');
    sa.stats.received++;
    sa.lastHeard = now;
    step(sa, { kind: 'response', m, bytes, payloads: [...m.payloads], req }, now);
    return;
  }
  if (h.initiator === sa.initiator) return drop(IkeDropReason.UNEXPECTED, 'message with our own I flag');
  if (!sa.keys) return drop(IkeDropReason.UNEXPECTED, `${exchangeTypeName(h.exchangeType)} before keys exist`);
  const last = m.payloads[m.payloads.length - 1];
  if (last?.kind === 'SKF') return drop(IkeDropReason.FRAGMENT, 'IKEv2 fragment');
  if (h.response) {
    const o = sa.outstanding;
    if (!o || o.id !== h.messageId || o.exchange !== h.exchangeType) return drop(IkeDropReason.MESSAGE_ID, `response ${h.messageId} matches no request`);
  } else if (sa.classifyRequest(h) === 'stale') {
    return drop(IkeDropReason.MESSAGE_ID, `request ${h.messageId}, expected ${sa.peerNextId}`);
  }
  const opened = sa.open(bytes, m);
  if (!opened.ok) return drop(opened.reason === 'icv' ? IkeDropReason.ICV : IkeDropReason.BAD_SK, `${exchangeTypeName(h.exchangeType)} ${opened.reason}`);
  // Authentic from here on.
  sa.stats.received++;
  sa.lastHeard = now;
  if (sa.state === 'established' && sa.env.cfg.dpd) sa.dpdAt = now + sa.env.cfg.dpd.interval * 1000;
  if (from.address === sa.remote.address && (from.port !== sa.remote.port || localPort !== sa.local.port)) {
    // The peer floated to 4500 or its NAT mapping changed (section 2.23): answer where it now is.
    sa.remote = from;
    sa.local = { address: sa.local.address, port: localPort };
  }
  if (h.response) {
    const req = sa.takeOutstanding(h)!;
    step(sa, { kind: 'response', m, bytes, payloads: opened.payloads, req }, now);
    return;
  }
  if (sa.classifyRequest(h) === 'retransmit') {
    sa.stats.retransmitted++;
    sa.resendLastResponse();
    return;
  }
  const crit = unsupportedCriticalPayload(opened.payloads);
  // Section 2.5: reject the whole message, naming the payload type.
  if (crit !== undefined) sa.respond(h, [n(NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, Uint8Array.of(crit))]);
  else step(sa, { kind: 'request', m, payloads: opened.payloads }, now);
  // Section 2.1: a retransmission is bitwise identical, so the manager knows it by its octets.
  if (sa.lastResponse?.id === h.messageId) sa.lastRequest = bytes;
}
