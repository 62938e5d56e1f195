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
 * previous one still accepted), before any state is kept for it.
 */
import { createHash } from 'node:crypto';
import { Reader, WireError, bytesEqual } from '../wire/index.js';
import { ExchangeType, NotifyType } from './constants.js';
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

const COOKIE_SECRET_MS = 5 * 60_000;
/** SA states in which a peer counts as connected or connecting (connect() does nothing then). */
const LIVE = new Set(['init-sent', 'auth-sent', 'init-replied', 'established']);

export interface IkeCounters {
  readonly drops: Readonly<Record<string, number>>;
  readonly received: number;
  readonly sent: number;
  readonly cookiesSent: number;
  readonly saInitRejected: number;
}

export class IkeManager {
  private readonly bySpi = new Map<bigint, IkeSa>();
  /** Responder SAs by `address:port:SPIi`, to answer a retransmitted IKE_SA_INIT from cache. */
  private readonly byInit = new Map<string, IkeSa>();
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
      others: (sa) => [...this.bySpi.values()].filter((o) => o !== sa && o.peer === sa.peer && o.state !== 'closed'),
      childSpiInUse: (spi) => [...this.bySpi.values()].some((sa) => sa.children.some((c) => c.spiIn === spi)),
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
    if (![...this.bySpi.values()].some((sa) => sa.peer === peer && LIVE.has(sa.state))) {
      const spiI = newIkeSpi(this.env, (s) => this.bySpi.has(s));
      const sa = new IkeSa(this.env, true, spiI, { address: this.cfg.localAddress, port: IKE_PORT }, { address: peer, port: IKE_PORT }, now, 'init-sent');
      this.index(sa);
      start(sa, now);
    }
    return this.flush();
  }

  /** Delete every SA with `peer` (`clear crypto session remote X`). */
  disconnect(peer: string, now: number): IkeAction[] {
    for (const sa of [...this.bySpi.values()]) if (sa.peer === peer) step(sa, { kind: 'close' }, now);
    return this.flush();
  }

  /** Rekey now, e.g. when the dataplane reports a soft byte-lifetime expiry of the child with inbound SPI `spiIn`. */
  rekeyChild(spiIn: number, now: number): IkeAction[] {
    for (const sa of this.bySpi.values()) {
      const c = sa.children.find((x) => x.spiIn === spiIn);
      if (c && sa.state === 'established') {
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
        sa.rekeyAt = now;
        timer(sa, now);
      }
    }
    return this.flush();
  }

  tick(now: number): IkeAction[] {
    for (const sa of [...this.bySpi.values()]) {
      const d = sa.deadline();
      if (d !== undefined && now >= d) timer(sa, now);
    }
    return this.flush();
  }

  nextDeadline(): number | undefined {
    let d: number | undefined;
    for (const sa of this.bySpi.values()) {
      const t = sa.deadline();
      if (t !== undefined && (d === undefined || t < d)) d = t;
    }
    return d;
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
    return { drops: { ...this.dropCount }, received: this.receivedCount, sent: this.sentCount, cookiesSent: this.cookiesSent, saInitRejected: this.saInitRejected };
  }

  // ---- internals ----------------------------------------------------------------------------

  private index(sa: IkeSa): void {
    this.bySpi.set(sa.localSpi, sa);
  }

  private drop(reason: IkeDropReasonName, detail: string): void {
    this.dropCount[reason] = (this.dropCount[reason] ?? 0) + 1;
    this.out.push({ kind: 'log', level: 'debug', msg: `IKEv2 drop (${reason}): ${detail}` });
  }

  private flush(): IkeAction[] {
    for (const [spi, sa] of this.bySpi) {
      if (sa.state !== 'closed') continue;
      this.bySpi.delete(spi);
      for (const [k, v] of this.byInit) if (v === sa) this.byInit.delete(k);
    }
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
    deliver(sa, m, bytes, from, localPort, now);
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
      if (known.state === 'init-replied' && known.initRequest && bytesEqual(known.initRequest, bytes)) {
        known.stats.retransmitted++;
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
    const halfOpen = [...this.bySpi.values()].filter((sa) => sa.state === 'init-replied').length;
    if (halfOpen >= this.cfg.cookieThreshold && !this.cookieValid(m, from)) {
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

