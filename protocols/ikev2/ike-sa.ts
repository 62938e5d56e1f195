/**
 * One IKE SA: its keys, children, and the message transport of RFC 7296
 * section 2.1-2.3 with a window of one in each direction.
 *
 *  - Our requests: one outstanding at a time, numbered from 0 (IKE_SA_INIT) up;
 *    retransmitted byte for byte after 0.5, 1, 2, 4 ... s until the configured
 *    number of transmissions is spent; others queue behind it. Each wait is
 *    shortened by a random part of up to RETRANSMIT_JITTER (as strongSwan's
 *    retransmit_jitter does), never lengthened: section 2.1 leaves the timing
 *    to the implementation, and peers that all started at once (spokes after a
 *    hub restart) then no longer retransmit in the same millisecond.
 *  - The peer's requests: the next expected ID is processed and its response
 *    cached; a retransmission of the previous request (same ID, integrity
 *    intact) gets the cached response again; anything else is dropped.
 *
 * The state machine (sa-machine.ts) moves `state` through `setState`, which
 * logs every change as `state A => B (reason)`.
 */
import { ExchangeType, exchangeTypeName } from './constants.js';
import type { IkeHeader } from './header.js';
import type { Payload } from './payloads.js';
import type { Proposal } from './sa.js';
import type { IkeMessage } from './wire.js';
import { NON_ESP_MARKER } from '../esp/udpencap.js';
import { type IkeKeys, type IkeSuite, concatBytes } from './crypto.js';
import type { DhKeyPair, RandomSource } from './dh.js';
import { sealMessage, openMessage, type OpenResult, type SkKeys } from './sk.js';
import type { IkeConfig } from './policy.js';
import { type ChildSa, childInfo } from './child.js';
import type { TrafficSelector } from './selectors.js';
import type { Endpoint, IkeAction, IkeDropReasonName, IkeReason, IkeState } from './engine-types.js';

export const IKE_PORT = 500;
export const NATT_PORT = 4500;
/** The largest share of a retransmission wait taken off at random (0.25: a 2 s wait lasts 1.5 to 2 s). */
export const RETRANSMIT_JITTER = 0.25;

/** What the manager gives each SA. */
export interface IkeEnv {
  readonly cfg: IkeConfig;
  readonly random: RandomSource;
  emit(a: IkeAction): void;
  drop(reason: IkeDropReasonName, detail: string): void;
  /** Index a new IKE SA (made by rekeying this one) by its SPI. */
  adopt(sa: IkeSa): void;
  /**
   * The state or timers of `sa` may have changed (a state change, children moved into it):
   * the manager re-reads its deadline and half-open status before it next looks at them.
   */
  touch(sa: IkeSa): void;
  /** The other live SAs with the same peer. */
  others(sa: IkeSa): IkeSa[];
  /** Whether a child SPI is already used by some SA of this manager. */
  childSpiInUse(spi: number): boolean;
  /** Whether an IKE SPI of ours is already in use. */
  ikeSpiInUse(spi: bigint): boolean;
  nextSerial(): number;
}

/** What an outstanding request was for, so its response can be handled. */
export type RequestCtx =
  | { readonly kind: 'sa-init' }
  | {
      readonly kind: 'auth';
      readonly child: { readonly spiIn: number; readonly offered: Proposal[]; readonly ts: { tsi: TrafficSelector[]; tsr: TrafficSelector[] } };
    }
  | {
      readonly kind: 'child-rekey';
      readonly old: ChildSa;
      readonly spiIn: number;
      readonly offered: Proposal[];
      readonly ni: Uint8Array;
      readonly dh?: DhKeyPair;
      readonly ts: { tsi: TrafficSelector[]; tsr: TrafficSelector[] };
    }
  | { readonly kind: 'ike-rekey'; readonly spi: bigint; readonly offered: Proposal[]; readonly ni: Uint8Array; readonly dh: DhKeyPair }
  | { readonly kind: 'delete-child'; readonly children: ChildSa[] }
  | { readonly kind: 'delete-ike' }
  | { readonly kind: 'dpd' };

interface Pending {
  readonly exchange: number;
  readonly inner: Payload[];
  readonly ctx: RequestCtx;
}

export interface Outstanding {
  readonly id: number;
  readonly exchange: number;
  readonly ctx: RequestCtx;
  readonly bytes: Uint8Array;
  tries: number;
  nextAt: number;
}

export class IkeSa {
  readonly serial: number;
  state: IkeState;
  since: number;
  readonly createdAt: number;
  establishedAt: number | undefined;
  spiR = 0n;
  local: Endpoint;
  remote: Endpoint;
  /** NAT detection results (section 2.23): the peer, or we, are behind a NAT. */
  natRemote = false;
  natLocal = false;
  suite: IkeSuite | undefined;
  keys: IkeKeys | undefined;
  /** The DH group was a weak one (2 or 5) the peer insisted on. */
  weak = false;
  ni: Uint8Array = new Uint8Array(0);
  nr: Uint8Array = new Uint8Array(0);
  /** RealMessage1 / RealMessage2 of section 2.15: the IKE_SA_INIT request and response as sent. */
  initRequest: Uint8Array | undefined;
  initResponse: Uint8Array | undefined;
  /**
   * Responder: the other forms of the initiator's IKE_SA_INIT that this half-open SA answered
   * (the same request with and without a COOKIE in front, section 2.6). The initiator signs the
   * last one it sent, which need not be the one that made this SA: IKE_AUTH accepts either.
   */
  otherInitRequests: Uint8Array[] = [];
  remoteId = '';
  children: ChildSa[] = [];
  /** Message IDs (section 2.2). */
  myNextId = 0;
  peerNextId = 0;
  outstanding: Outstanding | undefined;
  readonly queue: Pending[] = [];
  lastResponse: { readonly id: number; readonly bytes: Uint8Array } | undefined;
  /** The protected request `lastResponse` answers, as received (the manager's retransmission fast path). */
  lastRequest: Uint8Array | undefined;
  /** Timers (ms). */
  rekeyAt: number | undefined;
  expiresAt: number | undefined;
  dpdAt: number | undefined;
  keepaliveAt: number | undefined;
  /** Deadline of a transitional state (half-open, rekeyed, deleting). */
  stateDeadline: number | undefined;
  /** Last authentic message from the peer (ms). */
  lastHeard: number;
  /** Initiator IKE_SA_INIT context. */
  dh: DhKeyPair | undefined;
  offered: Proposal[] = [];
  cookie: Uint8Array | undefined;
  initRetries = 0;
  /** IKE rekey bookkeeping: the SA that replaced this one, and the nonces of a peer's rekey we answered. */
  replacedBy: IkeSa | undefined;
  peerRekey: { readonly sa: IkeSa; readonly ni: Uint8Array; readonly nr: Uint8Array } | undefined;
  /** Made redundant by a rekey collision: it ends without ike-down. */
  redundant = false;
  /** Counters for show commands. */
  readonly stats = { sent: 0, received: 0, retransmitted: 0 };
  /** Why it closed (kept for show and tests once closed). */
  closeReason: string | undefined;

  constructor(
    readonly env: IkeEnv,
    /** We are the original initiator (RFC 7296 section 2.2: the I flag). */
    readonly initiator: boolean,
    public spiI: bigint,
    local: Endpoint,
    remote: Endpoint,
    now: number,
    state: IkeState,
  ) {
    this.serial = env.nextSerial();
    this.local = local;
    this.remote = remote;
    this.state = state;
    this.since = now;
    this.createdAt = now;
    this.lastHeard = now;
  }

  get peer(): string {
    return this.remote.address;
  }

  /** Our SPI: the index of this SA in the manager. */
  get localSpi(): bigint {
    return this.initiator ? this.spiI : this.spiR;
  }

  get label(): string {
    const hex = (v: bigint): string => v.toString(16).padStart(16, '0');
    return `IKE SA ${this.peer} ${hex(this.spiI)}/${hex(this.spiR)}`;
  }

  log(level: 'debug' | 'info' | 'warn', msg: string, fields?: Record<string, unknown>): void {
    this.env.emit({ kind: 'log', level, msg: `${this.label}: ${msg}`, ...(fields ? { fields } : {}) });
  }

  /** The one place an IKE SA changes state. */
  setState(next: IkeState, reason: IkeReason, now: number): void {
    if (next === this.state) return;
    const level = next === 'closed' || next === 'established' ? 'info' : 'debug';
    this.log(level, `state ${this.state} => ${next} (${reason})`);
    this.state = next;
    this.since = now;
    this.stateDeadline = undefined;
    this.env.touch(this);
  }

  // ---- keys --------------------------------------------------------------------------------

  private skKeys(fromInitiator: boolean): SkKeys | undefined {
    if (!this.suite || !this.keys) return undefined;
    const k = this.keys;
    return {
      encr: this.suite.encr,
      integ: this.suite.integ,
      encKey: fromInitiator ? k.skEi : k.skEr,
      integKey: fromInitiator ? k.skAi : k.skAr,
    };
  }

  header(exchange: number, response: boolean, messageId: number): IkeHeader {
    return {
      spiI: this.spiI, spiR: this.spiR, majorVersion: 2, minorVersion: 0, exchangeType: exchange,
      initiator: this.initiator, response, higherVersion: false, messageId,
    };
  }

  seal(exchange: number, response: boolean, messageId: number, inner: readonly Payload[]): Uint8Array {
    const keys = this.skKeys(this.initiator);
    if (!keys) throw new Error(`${this.label}: no keys to seal ${exchangeTypeName(exchange)}`);
    return sealMessage(this.header(exchange, response, messageId), inner, keys, this.env.random);
  }

  /** Check and decrypt a message from the peer (its I flag says which keys it used). */
  open(bytes: Uint8Array, m: IkeMessage): OpenResult {
    const keys = this.skKeys(m.header.initiator);
    if (!keys || m.header.initiator === this.initiator) return { ok: false, reason: 'no-sk' };
    return openMessage(bytes, m, keys);
  }

  // ---- transport ---------------------------------------------------------------------------

  /** Send an IKE message to the peer, behind the non-ESP marker on port 4500. */
  transmit(bytes: Uint8Array): void {
    const out = this.local.port === NATT_PORT ? concatBytes(NON_ESP_MARKER, bytes) : bytes;
    this.stats.sent++;
    this.env.emit({ kind: 'send', from: this.local, to: this.remote, bytes: out });
  }

  /** Move both ends to port 4500 (section 2.23: after NAT detection, from IKE_AUTH on). */
  floatToNatT(): void {
    this.local = { address: this.local.address, port: NATT_PORT };
    if (this.remote.port === IKE_PORT) this.remote = { address: this.remote.address, port: NATT_PORT };
  }

  /** A retransmission wait of nominally `ms`, shortened at random by up to RETRANSMIT_JITTER. */
  jittered(ms: number): number {
    const r = this.env.random(2);
    return Math.round(ms * (1 - (RETRANSMIT_JITTER * ((r[0] << 8) | r[1])) / 0x10000));
  }

  /** Send the unencrypted IKE_SA_INIT request (message ID 0), replacing any earlier one. */
  sendInitRequest(bytes: Uint8Array, now: number): void {
    this.initRequest = bytes;
    this.outstanding = { id: 0, exchange: ExchangeType.IKE_SA_INIT, ctx: { kind: 'sa-init' }, bytes, tries: 1, nextAt: now + this.jittered(this.env.cfg.retransmit.initialMs) };
    this.myNextId = 1;
    this.transmit(bytes);
  }

  /** Queue a protected request; it goes out when the window is free. */
  request(exchange: number, inner: Payload[], ctx: RequestCtx, now: number): void {
    this.queue.push({ exchange, inner, ctx });
    this.pump(now);
  }

  pump(now: number): void {
    if (this.outstanding || this.queue.length === 0 || this.state === 'closed' || !this.keys) return;
    const p = this.queue.shift()!;
    const id = this.myNextId++;
    const bytes = this.seal(p.exchange, false, id, p.inner);
    const wait = p.ctx.kind === 'dpd' && this.env.cfg.dpd ? this.env.cfg.dpd.retry * 1000 : this.jittered(this.env.cfg.retransmit.initialMs);
    this.outstanding = { id, exchange: p.exchange, ctx: p.ctx, bytes, tries: 1, nextAt: now + wait };
    this.transmit(bytes);
  }

  /** Whether a request of this kind is queued or in flight. */
  hasRequest(kind: RequestCtx['kind']): boolean {
    return this.outstanding?.ctx.kind === kind || this.queue.some((p) => p.ctx.kind === kind);
  }

  /**
   * Retransmit the outstanding request if its time has come (section 2.1).
   * Returns false when the last transmission has gone unanswered: the peer is gone.
   */
  retransmitDue(now: number): boolean {
    const o = this.outstanding;
    if (!o || now < o.nextAt) return true;
    const { tries, initialMs } = this.env.cfg.retransmit;
    if (o.tries >= tries) return false;
    // DPD retries keep the configured `dpd ... retry` interval; the exponential backoff is jittered.
    const wait = o.ctx.kind === 'dpd' && this.env.cfg.dpd ? this.env.cfg.dpd.retry * 1000 : this.jittered(initialMs * 2 ** o.tries);
    o.tries++;
    o.nextAt = now + wait;
    this.stats.retransmitted++;
    this.transmit(o.bytes);
    return true;
  }

  /** The outstanding request a response answers, taken out of the window; undefined if it answers none. */
  takeOutstanding(h: IkeHeader): Outstanding | undefined {
    const o = this.outstanding;
    if (!o || o.id !== h.messageId || o.exchange !== h.exchangeType) return undefined;
    this.outstanding = undefined;
    return o;
  }

  /** Where a request from the peer stands in the window. */
  classifyRequest(h: IkeHeader): 'new' | 'retransmit' | 'stale' {
    if (h.messageId === this.peerNextId) return 'new';
    if (this.lastResponse && h.messageId === this.lastResponse.id) return 'retransmit';
    return 'stale';
  }

  /** Answer the peer's current request (protected), cache the answer, open the window. */
  respond(req: IkeHeader, inner: Payload[]): void {
    const bytes = this.seal(req.exchangeType, true, req.messageId, inner);
    this.cacheAndSend(req.messageId, bytes);
  }

  cacheAndSend(messageId: number, bytes: Uint8Array): void {
    this.lastResponse = { id: messageId, bytes };
    this.peerNextId = messageId + 1;
    this.transmit(bytes);
  }

  resendLastResponse(): void {
    if (this.lastResponse) this.transmit(this.lastResponse.bytes);
  }

  // ---- children and the end of the SA ----------------------------------------------------

  natT(): { srcPort: number; dstPort: number } | undefined {
    return this.natLocal || this.natRemote ? { srcPort: this.local.port, dstPort: this.remote.port } : undefined;
  }

  emitChildUp(c: ChildSa): void {
    const info = childInfo(c, this.env.cfg.localAddress, this.peer, this.natT(), this.env.cfg.childLifetime);
    if (c.replaces) this.env.emit({ kind: 'child-rekeyed', peer: this.peer, replaced: c.replaces, child: info });
    else this.env.emit({ kind: 'child-up', peer: this.peer, child: info });
  }

  removeChild(c: ChildSa, reason: string): void {
    const i = this.children.indexOf(c);
    if (i < 0) return;
    this.children.splice(i, 1);
    this.env.emit({ kind: 'child-down', peer: this.peer, spiIn: c.spiIn, spiOut: c.spiOut, reason });
  }

  findChildByOutbound(spi: number): ChildSa | undefined {
    return this.children.find((c) => c.spiOut === spi);
  }

  /**
   * End this SA: children down, `ike-down` unless `silent` (an SA replaced by a
   * rekey, or a redundant one from a collision, ends without the peer going away).
   */
  close(reason: IkeReason, now: number, silent = false): void {
    if (this.state === 'closed') return;
    const wasUp = this.establishedAt !== undefined;
    for (const c of [...this.children]) this.removeChild(c, c.deleteReason ?? reason);
    this.outstanding = undefined;
    this.queue.length = 0;
    this.closeReason = reason;
    this.setState('closed', reason, now);
    if (!silent) this.env.emit({ kind: 'ike-down', peer: this.peer, spiI: this.spiI, spiR: this.spiR, reason, wasUp });
  }

  /** The earliest time this SA wants `tick`. */
  deadline(): number | undefined {
    let d: number | undefined;
    const at = (t: number | undefined): void => {
      if (t !== undefined && (d === undefined || t < d)) d = t;
    };
    if (this.state === 'closed') return undefined;
    at(this.outstanding?.nextAt);
    at(this.stateDeadline);
    if (this.state === 'established') {
      at(this.rekeyAt);
      at(this.expiresAt);
      at(this.dpdAt);
      at(this.keepaliveAt);
      for (const c of this.children) {
        if (c.state === 'installed') at(c.rekeyAt);
        if (c.state !== 'deleting') at(c.expiresAt);
      }
    }
    return d;
  }
}
