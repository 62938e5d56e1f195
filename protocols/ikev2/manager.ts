/**
 * The IKEv2 engine of one DMVPN tunnel source: all IKE SAs, found by our SPI
 * for every message after IKE_SA_INIT and by peer for NHRP's on-demand
 * `connect`. Pure: the daemon feeds it datagrams and the time, and carries out
 * the actions it returns; it arms one timer at `nextDeadline()`.
 *
 * One receive entry: every malformed, unknown or unauthenticated datagram is
 * dropped through `drop(reason)` (counted per reason, logged at debug) and
 * nothing the network sends can make it throw.
 *
 * Stateless COOKIE (RFC 7296 section 2.6): once `cookieThreshold` half-open SAs
 * exist, an IKE_SA_INIT must echo
 *   COOKIE = <VersionIDofSecret> | SHA-256(Ni | IPi | SPIi | <secret>)
 * with the secret from the injected random source, renewed every 5 minutes (the
 * previous one still accepted), before any state is kept for it. A half-open SA
 * also answers the same request with or without a COOKIE in front (the
 * initiator's retry of a request we had already answered) from its cache, and
 * accepts IKE_AUTH signed over either form.
 *
 * Timers and counts stay O(log n) per message at thousands of SAs: SAs touched
 * by an entry point (the one a datagram went to, new ones, any whose state
 * changed) are re-filed when it returns, in a deadline heap (deadline-heap.ts)
 * and in the half-open set; nothing scans every SA per datagram.
 */
import { createHash } from 'node:crypto';
import { Reader, WireError, bytesEqual } from '../wire/index.js';
import { ExchangeType, IkeFlag, NotifyType, PayloadType } from './constants.js';
import { ikeVersion } from './header.js';
import { findNotify, findPayload } from './payloads.js';
import { parseIkeMessage, encodeIkeMessage, type IkeMessage } from './wire.js';
import { buildSaInitNotifyResponse } from './build.js';
import { classifyUdpEncap, NON_ESP_MARKER_LENGTH } from '../esp/udpencap.js';
import { concatBytes, spiBytes } from './crypto.js';
import type { RandomSource } from './dh.js';
import type { IkeConfig } from './policy.js';
import { IkeSa, type IkeEnv, IKE_PORT, NATT_PORT } from './ike-sa.js';
import { answerInit, newIkeSpi } from './sa-init.js';
import { step, start, timer, deliver } from './sa-machine.js';
import { IkeDropReason, type Endpoint, type IkeAction, type IkeDropReasonName } from './engine-types.js';
import { ikev2SaShow, cryptoSessionShow, wiresharkKeys, type Ikev2SaShow, type CryptoSessionShow } from './show.js';
import { DeadlineHeap } from './deadline-heap.js';

const COOKIE_SECRET_MS = 5 * 60_000;
/** Forms of one IKE_SA_INIT (with and without COOKIEs) a half-open SA keeps for IKE_AUTH. */
const MAX_INIT_FORMS = 4;
/** SA states in which a peer counts as connected or connecting (connect() does nothing then). */
const LIVE = new Set(['init-sent', 'auth-sent', 'init-replied', 'established']);

export interface IkeCounters {
  readonly drops: Readonly<Record<string, number>>;
  readonly received: number;
  readonly sent: number;
  readonly cookiesSent: number;
  readonly saInitRejected: number;
  /** Responder SAs waiting for IKE_AUTH now (what the COOKIE threshold counts). */
  readonly halfOpen: number;
}

export class IkeManager {
  private readonly bySpi = new Map<bigint, IkeSa>();
  /** Responder SAs by `address:port:SPIi`, to answer a retransmitted IKE_SA_INIT from cache. */
  private readonly byInit = new Map<string, IkeSa>();
  private readonly initKey = new Map<IkeSa, string>();
  /** Every indexed SA of a peer (its NBMA address never changes; only its port may). */
  private readonly byPeer = new Map<string, Set<IkeSa>>();
  /** Indexed SAs by their next deadline. */
  private readonly deadlines = new DeadlineHeap<IkeSa>();
  /** Responder SAs in init-replied: the half-open count of the COOKIE threshold. */
  private readonly halfOpen = new Set<IkeSa>();
  /**
   * SAs an entry point is working on or has touched, re-filed (deadline, half-open, child SPIs,
   * closed) when it returns: marked before the event runs, so that their children count as in
   * use while it does.
   */
  private readonly dirty = new Set<IkeSa>();
  /** Our inbound child SPIs per SA when it was last re-filed, and how many children use each. */
  private readonly childSpisOf = new Map<IkeSa, readonly number[]>();
  private readonly childSpiCount = new Map<number, number>();
  private out: IkeAction[] = [];
  private serial = 0;
  private readonly dropCount: Record<string, number> = {};
  private receivedCount = 0;
  private sentCount = 0;
  private cookiesSent = 0;
  private saInitRejected = 0;
  private secret: { version: number; bytes: Uint8Array; created: number };
  private previousSecret: { version: number; bytes: Uint8Array } | undefined;
  private readonly env: IkeEnv;

  constructor(readonly cfg: IkeConfig, private readonly random: RandomSource, now: number) {
    this.secret = { version: 1, bytes: random(32), created: now };
    const self = this;
    this.env = {
      cfg,
      random,
      emit(a: IkeAction): void {
        if (a.kind === 'send') self.sentCount++;
        self.out.push(a);
      },
      drop: (reason, detail) => this.drop(reason, detail),
      adopt: (sa) => this.index(sa),
      touch: (sa) => this.dirty.add(sa),
      others: (sa) => [...(this.byPeer.get(sa.peer) ?? [])].filter((o) => o !== sa && o.state !== 'closed'),
      childSpiInUse: (spi) => this.childSpiCount.has(spi) || [...this.dirty].some((sa) => sa.children.some((c) => c.spiIn === spi)),
      ikeSpiInUse: (spi) => this.bySpi.has(spi),
      nextSerial: () => ++this.serial,
    };
  }

  // ---- entry points -------------------------------------------------------------------------

  /**
   * A UDP datagram for the IKE ports. `localPort` is the port it arrived on
   * (default: 4500 if it came from 4500, else 500); on 4500 the payload starts
   * with the non-ESP marker, which is checked and removed here.
   */
  receive(from: Endpoint, payload: Uint8Array, now: number, localPort = from.port === NATT_PORT ? NATT_PORT : IKE_PORT): IkeAction[] {
    try {
      this.receiveInner(from, payload, now, localPort);
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      this.drop(IkeDropReason.MALFORMED, `${from.address}: ${e.message}`);
    }
    return this.flush();
  }

  /** Bring up an IKE SA and its child with `peer` (an NBMA address) unless one exists or is being negotiated. */
  connect(peer: string, now: number): IkeAction[] {
    if (![...(this.byPeer.get(peer) ?? [])].some((sa) => LIVE.has(sa.state))) {
      const spiI = newIkeSpi(this.env, (s) => this.bySpi.has(s));
      const sa = new IkeSa(this.env, true, spiI, { address: this.cfg.localAddress, port: IKE_PORT }, { address: peer, port: IKE_PORT }, now, 'init-sent');
      this.index(sa);
      start(sa, now);
    }
    return this.flush();
  }

  /** Delete every SA with `peer` (`clear crypto session remote X`). */
  disconnect(peer: string, now: number): IkeAction[] {
    for (const sa of [...(this.byPeer.get(peer) ?? [])]) {
      this.touchPeer(sa);
      step(sa, { kind: 'close' }, now);
    }
    return this.flush();
  }

  /** Rekey now, e.g. when the dataplane reports a soft byte-lifetime expiry of the child with inbound SPI `spiIn`. */
  rekeyChild(spiIn: number, now: number): IkeAction[] {
    for (const sa of this.bySpi.values()) {
      const c = sa.children.find((x) => x.spiIn === spiIn);
      if (c && sa.state === 'established') {
        this.touchPeer(sa);
        c.rekeyAt = now;
        timer(sa, now);
      }
    }
    return this.flush();
  }

  /** Rekey the IKE SA with `peer` now. */
  rekeyIke(peer: string, now: number): IkeAction[] {
    for (const sa of this.bySpi.values()) {
      if (sa.peer === peer && sa.state === 'established') {
        this.touchPeer(sa);
        sa.rekeyAt = now;
        timer(sa, now);
      }
    }
    return this.flush();
  }

  /**
   * An authenticated packet of one of `from.address`'s SAs, checked elsewhere (ESP-in-UDP
   * that the dataplane verified and found fresh in its replay window), came from `from.port`:
   * the peer's NAT dropped its mapping and made a new one (RFC 7296 section 2.23). When the
   * peer is behind a NAT and we are not, IKE follows it there, as it already does for an
   * authenticated IKE message (sa-machine.ts `deliver`); a host behind a NAT never moves on
   * such a packet (the section's denial-of-service note). Only the port moves: the peer's
   * address is what NHRP and the ESP SAs know it by.
   */
  natMappingChanged(from: Endpoint): IkeAction[] {
    for (const sa of this.byPeer.get(from.address) ?? []) {
      if (sa.state === 'closed' || !sa.natRemote || sa.natLocal) continue;
      if (sa.local.port !== NATT_PORT || sa.remote.port === from.port) continue;
      sa.log('info', `the peer's NAT mapping moved: port ${sa.remote.port} => ${from.port}`);
      sa.remote = { address: sa.remote.address, port: from.port };
    }
    return this.flush();
  }

  /** Run the timers of every SA whose deadline is `now` or earlier (each once). */
  tick(now: number): IkeAction[] {
    this.settle();
    const due: IkeSa[] = [];
    for (let sa = this.deadlines.popDue(now); sa; sa = this.deadlines.popDue(now)) due.push(sa);
    for (const sa of due) {
      this.touchPeer(sa);
      timer(sa, now);
    }
    return this.flush();
  }

  /** The earliest deadline of any SA: when the daemon should call `tick`. */
  nextDeadline(): number | undefined {
    this.settle();
    return this.deadlines.peekTime();
  }

  /** The live SAs, oldest first (show commands, tests). */
  sas(): readonly IkeSa[] {
    return [...this.bySpi.values()].sort((a, b) => a.serial - b.serial);
  }

  /** Rows of `show crypto ikev2 sa [detailed]` (render with renderIkev2Sa). */
  showIkev2Sa(now: number): Ikev2SaShow[] {
    return this.sas().map((sa) => ikev2SaShow(sa, now));
  }

  /** Rows of `show crypto session` (render with renderCryptoSession). */
  showCryptoSession(): CryptoSessionShow[] {
    return cryptoSessionShow(this.sas(), this.cfg.localAddress);
  }

  /** Wireshark's ikev2_decryption_table and esp_sa lines for every SA with keys. */
  wiresharkKeys(): { ikev2: string[]; esp: string[] } {
    return wiresharkKeys(this.sas());
  }

  counters(): IkeCounters {
    this.settle();
    return {
      drops: { ...this.dropCount }, received: this.receivedCount, sent: this.sentCount, cookiesSent: this.cookiesSent,
      saInitRejected: this.saInitRejected, halfOpen: this.halfOpen.size,
    };
  }

  // ---- internals ----------------------------------------------------------------------------

  private index(sa: IkeSa): void {
    this.bySpi.set(sa.localSpi, sa);
    let peers = this.byPeer.get(sa.peer);
    if (!peers) this.byPeer.set(sa.peer, (peers = new Set()));
    peers.add(sa);
    this.dirty.add(sa);
  }

  /**
   * An event ran on `sa`: re-file it and the other SAs of its peer, which an exchange on one
   * SA can change (an IKE rekey moves the children to the new SA, INITIAL_CONTACT closes the
   * old ones, a late rekey answer puts a moved child back to 'installed').
   */
  private touchPeer(sa: IkeSa): void {
    this.dirty.add(sa);
    for (const o of this.byPeer.get(sa.peer) ?? []) this.dirty.add(o);
  }

  /** Re-file the SAs touched since the last call: their deadlines, the half-open set, child SPIs, and closed ones out. */
  private settle(): void {
    for (const sa of this.dirty) {
      for (const spi of this.childSpisOf.get(sa) ?? []) {
        const n = this.childSpiCount.get(spi) ?? 0;
        if (n <= 1) this.childSpiCount.delete(spi);
        else this.childSpiCount.set(spi, n - 1);
      }
      this.childSpisOf.delete(sa);
      if (sa.state === 'closed') {
        if (this.bySpi.get(sa.localSpi) === sa) this.bySpi.delete(sa.localSpi);
        const key = this.initKey.get(sa);
        if (key !== undefined && this.byInit.get(key) === sa) this.byInit.delete(key);
        this.initKey.delete(sa);
        const peers = this.byPeer.get(sa.peer);
        peers?.delete(sa);
        if (peers?.size === 0) this.byPeer.delete(sa.peer);
        this.deadlines.set(sa, undefined);
        this.halfOpen.delete(sa);
        continue;
      }
      this.deadlines.set(sa, sa.deadline());
      if (sa.state === 'init-replied') this.halfOpen.add(sa);
      else this.halfOpen.delete(sa);
      if (sa.children.length > 0) {
        const spis = sa.children.map((c) => c.spiIn);
        this.childSpisOf.set(sa, spis);
        for (const spi of spis) this.childSpiCount.set(spi, (this.childSpiCount.get(spi) ?? 0) + 1);
      }
    }
    this.dirty.clear();
  }

  private drop(reason: IkeDropReasonName, detail: string): void {
    this.dropCount[reason] = (this.dropCount[reason] ?? 0) + 1;
    this.out.push({ kind: 'log', level: 'debug', msg: `IKEv2 drop (${reason}): ${detail}` });
  }

  private flush(): IkeAction[] {
    this.settle();
    const out = this.out;
    this.out = [];
    return out;
  }

  private sendRaw(from: Endpoint, to: Endpoint, bytes: Uint8Array): void {
    const out = from.port === NATT_PORT ? concatBytes(new Uint8Array(NON_ESP_MARKER_LENGTH), bytes) : bytes;
    this.env.emit({ kind: 'send', from, to, bytes: out });
  }

  private receiveInner(from: Endpoint, payload: Uint8Array, now: number, localPort: number): void {
    let bytes = payload;
    if (localPort === NATT_PORT) {
      const kind = classifyUdpEncap(payload);
      if (kind !== 'ike') {
        // A NAT-keepalive is expected traffic; ESP on the IKE socket is the dataplane's.
        if (kind === 'esp') this.drop(IkeDropReason.NOT_IKE, `${from.address}: ESP on UDP 4500`);
        return;
      }
      bytes = payload.subarray(NON_ESP_MARKER_LENGTH);
    }
    const v = ikeVersion(bytes);
    if (!v) return this.drop(IkeDropReason.MALFORMED, `${from.address}: shorter than an IKE header`);
    if (v.major !== 2) return this.drop(IkeDropReason.NOT_IKEV2, `${from.address}: IKE version ${v.major}.${v.minor}`);
    if (this.answerRetransmission(bytes, from, localPort)) return;
    const m = parseIkeMessage(new Reader(bytes, 'ikev2'));
    this.receivedCount++;
    const h = m.header;
    if (h.exchangeType === ExchangeType.IKE_SA_INIT && !h.response && h.spiR === 0n) {
      this.onSaInitRequest(m, bytes, from, localPort, now);
      return;
    }
    const sa = this.bySpi.get(h.initiator ? h.spiR : h.spiI);
    if (!sa || sa.state === 'closed' || sa.spiI !== h.spiI || (sa.spiR !== 0n && h.spiR !== 0n && sa.spiR !== h.spiR)) {
      return this.drop(IkeDropReason.UNKNOWN_SPI, `${from.address}: no IKE SA for SPIs ${h.spiI.toString(16)}/${h.spiR.toString(16)}`);
    }
    if (sa.peer !== from.address) return this.drop(IkeDropReason.UNKNOWN_SPI, `${from.address}: SA belongs to ${sa.peer}`);
    this.touchPeer(sa);
    deliver(sa, m, bytes, from, localPort, now);
  }

  /**
   * A retransmitted request answered from cache without parsing or decrypting it (section 2.1:
   * a retransmission is bitwise identical to the request, so its octets identify it). Peers
   * that wait for a busy hub (all spokes after a restart) retransmit several times; this keeps
   * those copies cheap. Anything else takes the full path.
   */
  private answerRetransmission(bytes: Uint8Array, from: Endpoint, localPort: number): boolean {
    if (bytes.length < 28 || (bytes[19] & IkeFlag.RESPONSE) !== 0) return false;
    const view = new DataView(bytes.buffer, bytes.byteOffset, 16);
    const spiI = view.getBigUint64(0);
    const spiR = view.getBigUint64(8);
    let sa: IkeSa | undefined;
    if (bytes[18] === ExchangeType.IKE_SA_INIT && spiR === 0n) {
      sa = this.byInit.get(`${from.address}:${from.port}:${spiI.toString(16)}`);
      const forms = sa?.initRequest ? [sa.initRequest, ...sa.otherInitRequests] : [];
      if (!sa || sa.state !== 'init-replied' || !forms.some((f) => bytesEqual(f, bytes))) return false;
    } else {
      sa = this.bySpi.get((bytes[19] & IkeFlag.INITIATOR) !== 0 ? spiR : spiI);
      if (!sa || sa.state === 'closed' || !sa.lastRequest || !bytesEqual(sa.lastRequest, bytes)) return false;
      // From where the SA now talks to the peer: a copy from elsewhere (a NAT that moved) goes the full way.
      if (from.address !== sa.remote.address || from.port !== sa.remote.port || localPort !== sa.local.port) return false;
      sa.stats.received++;
    }
    this.receivedCount++;
    sa.stats.retransmitted++;
    sa.resendLastResponse();
    return true;
  }

  private cookie(m: IkeMessage, from: Endpoint, secret: { version: number; bytes: Uint8Array }): Uint8Array {
    const ni = findPayload(m.payloads, 'Nonce')?.data ?? new Uint8Array(0);
    // IPi as text: one form for IPv4 and IPv6 sources alike.
    const h = createHash('sha256').update(ni).update(from.address).update(spiBytes(m.header.spiI)).update(secret.bytes).digest();
    return concatBytes(Uint8Array.of(secret.version >>> 24, (secret.version >>> 16) & 0xff, (secret.version >>> 8) & 0xff, secret.version & 0xff), h);
  }

  private cookieValid(m: IkeMessage, from: Endpoint): boolean {
    const first = m.payloads[0];
    if (!first || first.kind !== 'N' || first.notifyType !== NotifyType.COOKIE) return false;
    return [this.secret, this.previousSecret].some((s) => s !== undefined && bytesEqual(first.data, this.cookie(m, from, s)));
  }

  private onSaInitRequest(m: IkeMessage, bytes: Uint8Array, from: Endpoint, localPort: number, now: number): void {
    const key = `${from.address}:${from.port}:${m.header.spiI.toString(16)}`;
    const known = this.byInit.get(key);
    if (known && known.state !== 'closed') {
      const forms = known.initRequest ? [known.initRequest, ...known.otherInitRequests] : [];
      if (known.state === 'init-replied' && forms.some((f) => bytesEqual(f, bytes))) {
        known.stats.retransmitted++;
        known.resendLastResponse();
      } else if (known.state === 'init-replied' && known.initRequest && forms.length < MAX_INIT_FORMS && sameInitRequest(known.initRequest, bytes)) {
        // Section 2.6: the initiator retried with the COOKIE an earlier copy of this request drew,
        // after (or while) another copy made this SA. It signs the form it sent last, so keep it
        // for IKE_AUTH, and answer from the cache: the answer is the same SA.
        known.otherInitRequests.push(bytes);
        known.stats.retransmitted++;
        known.log('debug', 'IKE_SA_INIT retried with a different COOKIE: answered from cache, either form accepted in IKE_AUTH');
        known.resendLastResponse();
      } else {
        this.drop(IkeDropReason.UNEXPECTED, `${from.address}: second IKE_SA_INIT with SPIi ${m.header.spiI.toString(16)}`);
      }
      return;
    }
    if (now - this.secret.created > COOKIE_SECRET_MS) {
      this.previousSecret = this.secret;
      this.secret = { version: this.secret.version + 1, bytes: this.random(32), created: now };
    }
    this.settle();
    if (this.halfOpen.size >= this.cfg.cookieThreshold && !this.cookieValid(m, from)) {
      if (findNotify(m.payloads, NotifyType.COOKIE)) this.drop(IkeDropReason.BAD_COOKIE, `${from.address}: stale or forged COOKIE`);
      const reply = buildSaInitNotifyResponse(m.header, NotifyType.COOKIE, this.cookie(m, from, this.secret));
      this.cookiesSent++;
      this.sendRaw({ address: this.cfg.localAddress, port: localPort }, from, encodeIkeMessage(reply));
      return;
    }
    const spiR = newIkeSpi(this.env, (s) => this.bySpi.has(s));
    const a = answerInit(this.env, m, bytes, from, localPort, spiR, now);
    switch (a.kind) {
      case 'sa':
        this.index(a.sa);
        this.byInit.set(key, a.sa);
        this.initKey.set(a.sa, key);
        return;
      case 'reply':
        this.saInitRejected++;
        this.out.push({ kind: 'log', level: 'info', msg: `IKEv2 IKE_SA_INIT from ${from.address} refused: ${a.why}` });
        this.sendRaw({ address: this.cfg.localAddress, port: localPort }, from, a.bytes);
        return;
      case 'drop':
        this.drop(a.reason, `${from.address}: ${a.why}`);
        return;
    }
  }
}

/**
 * Whether two IKE_SA_INIT requests are one request, apart from a COOKIE notify in
 * front (section 2.6: the retry carries the cookie as its first payload "and all
 * other payloads unchanged"): the same header but for next payload and length, and
 * the same octets from the first payload after any COOKIE on.
 */
export function sameInitRequest(a: Uint8Array, b: Uint8Array): boolean {
  const x = withoutCookie(a);
  const y = withoutCookie(b);
  if (!x || !y || x.first !== y.first || x.body.length !== y.body.length) return false;
  return bytesEqual(a.subarray(0, 16), b.subarray(0, 16)) && bytesEqual(a.subarray(17, 24), b.subarray(17, 24)) && bytesEqual(x.body, y.body);
}

/** The type of the first payload after a leading COOKIE notify (if any), and the octets from there on. */
function withoutCookie(m: Uint8Array): { first: number; body: Uint8Array } | undefined {
  const HDR = 28;
  if (m.length < HDR) return undefined;
  // A notify's generic header (4), protocol ID, SPI size, then the notify type (RFC 7296 section 3.10).
  if (m[16] !== PayloadType.NOTIFY || m.length < HDR + 8 || ((m[HDR + 6] << 8) | m[HDR + 7]) !== NotifyType.COOKIE) return { first: m[16], body: m.subarray(HDR) };
  const len = (m[HDR + 2] << 8) | m[HDR + 3];
  if (len < 8 || HDR + len > m.length) return undefined;
  return { first: m[HDR], body: m.subarray(HDR + len) };
}
