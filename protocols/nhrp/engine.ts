/**
 * The NHRP instance of one tunnel interface: NHC (registration to each NHS), NHS
 * (accepting registrations, forwarding resolutions), resolution and Phase 3
 * shortcuts, purge, error and traffic indications. RFC 2332 with Cisco's DMVPN
 * behaviour (draft-detienne-dmvpn).
 *
 * Pure: every entry point takes `now` (ms) and returns actions; the daemon sends
 * the packets, programs the dataplane and arms one timer at `nextDeadline()`.
 * One receive entry (`receive`) catches every WireError and turns it into a
 * counted drop; nothing the network sends can make it throw.
 */
import { Reader, WireError, encode, ipv4ToString } from '../wire/index.js';
import { NhrpCache, NO_FLAGS, networkOf, prefixContains, type CacheEntry } from './cache.js';
import { newNhsClient, stepNhsClient, type NhsClient, type NhsEvent } from './nhs-client.js';
import {
  NhrpPacketType, NhrpCieCode, NhrpErrorCode, NhrpExtensionType, RegistrationFlag, PurgeFlag, CiscoCieMtu,
  nhrpPacketTypeName, cieCodeName, errorCodeName, NHRP_VERSION, NhrpAfn, NhrpProtocolType,
} from './constants.js';
import { parseNhrp, emitNhrp, nhrpLength, nhrpChecksumValid, type NhrpPacket, type NhrpMandatory } from './wire.js';
import { makeCie, type NhrpCie } from './cie.js';
import { extensionCies, passwordMatches, setExtension, cleartextAuthExtension, cieExtension } from './extensions.js';
import {
  makeRegistrationRequest, makeRegistrationReply, makeResolutionRequest, makeResolutionReply, makePurgeRequest,
  makePurgeReply, makeErrorIndication, makeTrafficIndication, trafficIndicationQuote, forwardedByNhs, type NhrpSender,
} from './build.js';
import { RedirectLimiter, refreshAt } from './shortcut.js';
import { NhrpDropReason, type NhrpAction, type NhrpConfig, type RouteView, type NhrpDropReasonName } from './engine-types.js';

/** Seconds a negative (NAK) entry stays before we ask again. */
const NEGATIVE_HOLD_S = 60;
/**
 * Resolution retransmissions: IOS retries a few times, then gives up. These are also
 * the shortest gaps between two requests for one target: a new round starts only
 * after the last one gave up, 4 s after its last request.
 */
const RESOLUTION_RETRY_MS = [1000, 2000, 4000];

interface PendingResolution {
  readonly target: string;
  readonly requestId: number;
  readonly sentTo: string;
  readonly attempts: number;
  readonly deadline: number;
  /** True when a Traffic Indication started it (Phase 3): install a route. */
  readonly shortcut: boolean;
  /** True when it refreshes a binding we hold: the answer must not count as traffic over it. */
  readonly refresh: boolean;
}

export interface NhsView {
  readonly proto: string;
  readonly nbma: string;
  readonly client: NhsClient;
}

export interface NhrpCounters {
  readonly sent: Record<string, number>;
  readonly received: Record<string, number>;
  readonly drops: Record<string, number>;
  readonly forwarded: number;
}

export class NhrpEngine {
  readonly cache = new NhrpCache();
  private readonly nhsClients: { proto: string; nbma: string; client: NhsClient }[];
  private readonly pending = new Map<string, PendingResolution>();
  private readonly redirects = new RedirectLimiter();
  private requestId = 0;
  private multicastList: string[] | undefined;
  private readonly dynamicMulticast = new Set<string>();
  private readonly sentCount: Record<string, number> = {};
  private readonly recvCount: Record<string, number> = {};
  private readonly dropCount: Record<string, number> = {};
  private forwardCount = 0;
  private started = false;

  constructor(readonly cfg: NhrpConfig, private readonly routes: RouteView, now: number) {
    this.nhsClients = cfg.nhs.map((n) => ({ proto: n.proto, nbma: n.nbma, client: newNhsClient(now) }));
    this.requestId = (now & 0xffff) + 1;
  }

  /** Hub if it serves registrations (no NHS of its own), spoke otherwise (IOS's "Type:"). */
  get role(): 'Hub' | 'Spoke' | 'Hub/Spoke' {
    if (this.nhsClients.length === 0) return 'Hub';
    return this.cfg.multicastDynamic ? 'Hub/Spoke' : 'Spoke';
  }

  nhs(): readonly NhsView[] {
    return this.nhsClients;
  }

  counters(): NhrpCounters {
    return { sent: { ...this.sentCount }, received: { ...this.recvCount }, drops: { ...this.dropCount }, forwarded: this.forwardCount };
  }

  /** NBMA addresses multicast is replicated to, sorted (computed once per change). */
  multicastTargets(): readonly string[] {
    if (this.multicastList === undefined) {
      this.multicastList = [...new Set([...this.cfg.multicastStatic, ...this.dynamicMulticast])].sort();
    }
    return this.multicastList;
  }

  // ---- lifecycle -------------------------------------------------------------------------

  start(now: number): NhrpAction[] {
    const out: NhrpAction[] = [];
    this.started = true;
    for (const m of this.cfg.staticMaps) {
      this.cache.put({
        prefix: m.proto, prefixLength: 32, type: 'static', nextHop: m.proto, nbma: m.nbma, flags: NO_FLAGS,
        holdingTime: 0, created: now, expires: undefined, mtu: 0,
      });
      out.push({ kind: 'map', proto: m.proto, nbma: m.nbma, permanent: true });
    }
    this.updateMulticast(out, undefined, undefined, true);
    for (const n of this.nhsClients) this.stepNhs(n, { kind: 'start' }, now, out);
    return out;
  }

  /** Clean shutdown: purge our registrations at each NHS (RFC 2332 section 5.2.5). */
  stop(now: number): NhrpAction[] {
    const out: NhrpAction[] = [];
    // Peers that resolved us directly hold our bindings: purge them there too.
    out.push(...this.purgePeers());
    for (const n of this.nhsClients) this.stepNhs(n, { kind: 'stop' }, now, out);
    this.started = false;
    return out;
  }

  nextDeadline(): number | undefined {
    const ds: number[] = [];
    for (const n of this.nhsClients) if (n.client.deadline !== undefined) ds.push(n.client.deadline);
    for (const p of this.pending.values()) ds.push(p.deadline);
    const e = this.cache.nextExpiry();
    if (e !== undefined) ds.push(e);
    for (const c of this.shortcuts()) {
      // A refresh already under way waits on its own retry deadline, not on this one.
      const at = c.flags.used && !this.pending.has(c.prefix) ? refreshAt(c) : undefined;
      if (at !== undefined) ds.push(at);
    }
    let min: number | undefined;
    for (const d of ds) if (min === undefined || d < min) min = d;
    return min;
  }

  tick(now: number): NhrpAction[] {
    const out: NhrpAction[] = [];
    if (!this.started) return out;
    for (const n of this.nhsClients) {
      if (n.client.deadline !== undefined && n.client.deadline <= now) this.stepNhs(n, { kind: 'timer' }, now, out);
    }
    for (const p of [...this.pending.values()]) {
      if (p.deadline > now) continue;
      if (p.attempts >= RESOLUTION_RETRY_MS.length) {
        this.pending.delete(p.target);
        this.removeIncomplete(p.target);
        out.push({ kind: 'log', level: 'info', msg: `resolution of ${p.target} timed out` });
        continue;
      }
      this.sendResolution(p.target, p.shortcut, now, out, p.attempts + 1, p.refresh);
    }
    // Refresh the shortcuts that traffic used since their last refresh (IOS's "used" flag);
    // an unused one is left to expire with its holding time, and its route with it.
    for (const c of [...this.shortcuts()]) {
      const at = refreshAt(c);
      if (!c.flags.used || at === undefined || at > now || this.pending.has(c.prefix)) continue;
      // The check consumes the use, for the shortcut and the peer entry it rests on (the
      // reply renews both): only traffic from now on earns the next refresh.
      this.cache.put({ ...c, flags: { ...c.flags, used: false } });
      const peer = this.cache.get(c.nextHop, 32);
      if (peer?.type === 'dynamic' && peer.flags.used) this.cache.put({ ...peer, flags: { ...peer.flags, used: false } });
      this.sendResolution(c.prefix, true, now, out, 0, true);
    }
    // Shortcut routes before the peers they lead to (entries that lapse together).
    const gone = this.cache.expire(now);
    for (const e of gone) if (e.flags.router) this.onEntryGone(e, 'expired', out);
    for (const e of gone) if (!e.flags.router) this.onEntryGone(e, 'expired', out);
    return out;
  }

  /** The dataplane saw traffic to this overlay next hop: shortcuts through it are in use. */
  noteUsed(nextHop: string): void {
    for (const e of this.cache.byNextHop(nextHop)) if (e.flags.router || e.prefixLength === 32) this.cache.markUsed(e.prefix, e.prefixLength);
  }

  // ---- receive ---------------------------------------------------------------------------

  /**
   * The one receive entry: an NHRP packet that arrived in GRE from `outerSrc` (the
   * NBMA address in the outer IP header).
   */
  receive(bytes: Uint8Array, outerSrc: string, now: number): NhrpAction[] {
    const out: NhrpAction[] = [];
    let p: NhrpPacket;
    try {
      p = parseNhrp(new Reader(bytes, 'nhrp'));
    } catch (e) {
      if (e instanceof WireError) return this.drop(NhrpDropReason.MALFORMED, out, `${e.message} from ${outerSrc}`);
      throw e;
    }
    if (!nhrpChecksumValid(bytes)) return this.drop(NhrpDropReason.BAD_CHECKSUM, out, `from ${outerSrc}`);
    if (p.version !== NHRP_VERSION) return this.drop(NhrpDropReason.BAD_VERSION, out, `version ${p.version} from ${outerSrc}`);
    if (p.afn !== NhrpAfn.IPV4 || p.protocolType !== NhrpProtocolType.IPV4) {
      return this.drop(NhrpDropReason.BAD_ADDRESS_FAMILY, out, `afn ${p.afn} protocol 0x${p.protocolType.toString(16)} from ${outerSrc}`);
    }
    if (p.hopCount === 0) return this.drop(NhrpDropReason.HOP_COUNT_ZERO, out, `from ${outerSrc}`);
    if (this.cfg.password !== undefined && !passwordMatches(p.extensions, this.cfg.password)) {
      // IOS answers a bad password with an Error Indication (never for an Error Indication: no loops).
      if (p.type !== NhrpPacketType.ERROR_INDICATION && p.body.kind === 'mandatory') {
        this.sendError(p, bytes, NhrpErrorCode.AUTHENTICATION_FAILURE, outerSrc, out);
      }
      return this.drop(NhrpDropReason.AUTH_FAILURE, out, `${nhrpPacketTypeName(p.type)} from ${outerSrc}`);
    }
    const name = nhrpPacketTypeName(p.type);
    this.recvCount[name] = (this.recvCount[name] ?? 0) + 1;
    try {
      switch (p.type) {
        case NhrpPacketType.REGISTRATION_REQUEST: this.onRegistrationRequest(p, outerSrc, now, out); break;
        case NhrpPacketType.REGISTRATION_REPLY: this.onRegistrationReply(p, now, out); break;
        case NhrpPacketType.RESOLUTION_REQUEST: this.onResolutionRequest(p, bytes, outerSrc, now, out); break;
        case NhrpPacketType.RESOLUTION_REPLY: this.onResolutionReply(p, now, out); break;
        case NhrpPacketType.PURGE_REQUEST: this.onPurgeRequest(p, outerSrc, now, out); break;
        case NhrpPacketType.PURGE_REPLY: break;
        case NhrpPacketType.ERROR_INDICATION: this.onErrorIndication(p, outerSrc, out); break;
        case NhrpPacketType.TRAFFIC_INDICATION: this.onTrafficIndication(p, now, out); break;
        default: return this.drop(NhrpDropReason.UNSUPPORTED_TYPE, out, `type ${p.type} from ${outerSrc}`);
      }
    } catch (e) {
      // Semantic problems found by builders (e.g. an address of the wrong length) are drops too.
      if (e instanceof WireError) return this.drop(NhrpDropReason.MALFORMED, out, `${e.message} from ${outerSrc}`);
      throw e;
    }
    return out;
  }

  // ---- NHC side ----------------------------------------------------------------------------

  private stepNhs(n: { proto: string; nbma: string; client: NhsClient }, ev: NhsEvent, now: number, out: NhrpAction[]): void {
    const holdtime = this.cfg.holdtime;
    const interval = this.cfg.registrationInterval ?? Math.max(1, Math.floor(holdtime / 3));
    const r = stepNhsClient(n.client, ev, now, { holdtime, interval }, () => this.nextRequestId());
    const before = n.client.state;
    n.client = r.client;
    if (r.reason !== 'unchanged' && before !== n.client.state) {
      const lvl = n.client.state === 'responding' ? 'info' : 'warn';
      out.push({ kind: 'log', level: lvl, msg: `NHS ${n.proto} (${n.nbma}) state ${before} => ${n.client.state} (${r.reason})` });
    }
    for (const a of r.actions) {
      if (a.kind === 'send-registration') {
        const p = makeRegistrationRequest({
          ...this.sender(), requestId: a.requestId, nhsProto: n.proto, nhsNbma: n.nbma, holdingTime: holdtime,
          mtu: this.cieMtu(), unique: this.cfg.registrationUnique,
        });
        this.send(n.nbma, p, out);
      } else {
        const p = makePurgeRequest({
          ...this.sender(), requestId: a.requestId, dstProto: n.proto, noReply: true,
          cies: [makeCie({ prefixLength: 32, mtu: this.cieMtu(), holdingTime: 0, clientNbma: this.cfg.nbmaAddress, clientProto: this.cfg.protocolAddress })],
        });
        this.send(n.nbma, p, out);
      }
    }
  }

  private onRegistrationReply(p: NhrpPacket, now: number, out: NhrpAction[]): void {
    const b = p.body as NhrpMandatory;
    const n = this.nhsClients.find((x) => x.client.outstanding.includes(b.requestId));
    if (!n) {
      this.drop(NhrpDropReason.UNKNOWN_REQUEST_ID, out, `registration reply id ${b.requestId}`);
      return;
    }
    const code = b.cies[0]?.code ?? 0;
    if (code !== 0) out.push({ kind: 'log', level: 'warn', msg: `NHS ${n.proto} rejected our registration: ${cieCodeName(code)} (${code})` });
    this.stepNhs(n, { kind: 'reply', requestId: b.requestId, code }, now, out);
  }

  // ---- NHS side: registrations ---------------------------------------------------------------

  private onRegistrationRequest(p: NhrpPacket, outerSrc: string, now: number, out: NhrpAction[]): void {
    const b = p.body as NhrpMandatory;
    const client = b.srcProto;
    const claimed = b.srcNbma;
    const nat = claimed !== outerSrc;
    const nbma = outerSrc; // the address we can reach it at (post-NAT)
    const cie = b.cies[0];
    const hold = cie?.holdingTime ?? this.cfg.holdtime;
    const unique = (b.flags & RegistrationFlag.U) !== 0;
    let code: number = NhrpCieCode.SUCCESS;
    const existing = this.cache.get(client, 32);
    // RFC 2332 5.2.3: the destination is the NHS, or the client itself when it does not know its
    // NHS's protocol address (FRR's `ip nhrp nhs dynamic nbma` registers so).
    if (b.dstProto !== this.cfg.protocolAddress && b.dstProto !== client) {
      code = NhrpCieCode.ADMINISTRATIVELY_PROHIBITED;
    } else if (!prefixContains(networkOf(this.cfg.protocolAddress, this.cfg.prefixLength), this.cfg.prefixLength, client) || client === this.cfg.protocolAddress) {
      code = NhrpCieCode.ADMINISTRATIVELY_PROHIBITED;
    } else if (existing?.type === 'static' && existing.nbma !== nbma) {
      code = NhrpCieCode.ADMINISTRATIVELY_PROHIBITED;
    } else if (existing && existing.type === 'dynamic' && existing.flags.unique && existing.nbma !== nbma) {
      // RFC 2332 5.2.3: a unique binding may not be changed by a registration from another NBMA address.
      code = NhrpCieCode.ALREADY_REGISTERED;
    }
    if (code === NhrpCieCode.SUCCESS) {
      if (hold === 0) {
        const gone = this.cache.delete(client, 32);
        if (gone) this.onEntryGone(gone, 'deregistered', out);
      } else {
        const fresh = !existing || existing.nbma !== nbma;
        this.cache.put({
          prefix: client, prefixLength: 32, type: 'dynamic', nextHop: client, nbma,
          claimedNbma: nat ? claimed : undefined,
          flags: { ...NO_FLAGS, registered: true, unique, nat, used: existing?.flags.used ?? false },
          holdingTime: hold, created: existing && !fresh ? existing.created : now, expires: now + hold * 1000, mtu: cie?.mtu ?? 0,
        });
        if (fresh) {
          out.push({ kind: 'map', proto: client, nbma, permanent: false });
          // debug, not info: a hub takes thousands of these a second, and the line costs more than the registration.
          out.push({ kind: 'log', level: 'debug', msg: `registration from ${client} at ${nbma}${nat ? ` (NAT, claims ${claimed})` : ''}, holdtime ${hold}s` });
          this.updateMulticast(out, nbma, existing?.flags.registered && existing.nbma ? existing.nbma : undefined);
        }
      }
    } else {
      out.push({ kind: 'log', level: 'warn', msg: `registration from ${client} at ${nbma} refused: ${cieCodeName(code)}` });
    }
    // Our address as the reply's destination: a client that registered to its own learns its NHS's there.
    let reply = makeRegistrationReply(p, { responder: this.selfCie(), code, nhsProto: this.cfg.protocolAddress });
    if (nat) {
      // Tell the client the address we saw (Cisco NAT extension, as IOS hubs do).
      const natCie = makeCie({ prefixLength: 32, mtu: cie?.mtu ?? 0, holdingTime: 0, clientNbma: nbma, clientProto: client });
      reply = { ...reply, extensions: setExtension(reply.extensions, cieExtension(NhrpExtensionType.NAT_ADDRESS, [natCie], false)) };
    }
    this.send(nbma, reply, out);
  }

  // ---- resolution --------------------------------------------------------------------------

  /** Start (or restart) resolving `target`; called on a data-plane miss or a Traffic Indication. */
  resolve(target: string, now: number, shortcut = false): NhrpAction[] {
    const out: NhrpAction[] = [];
    if (!this.started || this.pending.has(target)) return out;
    const have = this.cache.lookup(target);
    // Already resolved, being resolved, or refused recently: nothing to ask.
    const known = have && (have.type === 'negative' || have.type === 'incomplete' || (have.nbma !== undefined && (!shortcut || have.flags.router || have.prefix === target)));
    if (known) return out;
    this.sendResolution(target, shortcut, now, out, 0);
    return out;
  }

  private sendResolution(target: string, shortcut: boolean, now: number, out: NhrpAction[], attempts: number, refresh = false): void {
    // Phase 3 sends the request along the routed path; fall back to the first responding NHS.
    const route = this.routes.lookup(target);
    let via: string | undefined;
    if (route?.tunnelNextHop) via = this.cache.get(route.tunnelNextHop, 32)?.nbma;
    if (!via) via = (this.nhsClients.find((n) => n.client.state === 'responding') ?? this.nhsClients[0])?.nbma;
    if (!via) {
      out.push({ kind: 'log', level: 'debug', msg: `cannot resolve ${target}: no next hop and no NHS` });
      return;
    }
    const requestId = this.nextRequestId();
    const p = makeResolutionRequest({ ...this.sender(), requestId, target, mtu: this.cieMtu(), holdingTime: this.cfg.holdtime, prefixLength: 32 });
    this.pending.set(target, {
      target, requestId, sentTo: via, attempts, deadline: now + RESOLUTION_RETRY_MS[Math.min(attempts, RESOLUTION_RETRY_MS.length - 1)], shortcut, refresh,
    });
    // A refresh keeps using the binding it renews: no incomplete entry in front of it.
    if (!refresh && !this.cache.get(target, 32)) {
      this.cache.put({
        prefix: target, prefixLength: 32, type: 'incomplete', nextHop: target, nbma: undefined, flags: NO_FLAGS,
        holdingTime: 0, created: now, expires: now + 3 * 60_000, mtu: 0,
      });
    }
    this.send(via, p, out);
  }

  private onResolutionRequest(p: NhrpPacket, bytes: Uint8Array, outerSrc: string, now: number, out: NhrpAction[]): void {
    const b = p.body as NhrpMandatory;
    const target = b.dstProto;
    if (b.srcProto === this.cfg.protocolAddress) {
      this.drop(NhrpDropReason.LOOP, out, `our own resolution request for ${target} came back`);
      return;
    }
    const transit = extensionCies(p.extensions, NhrpExtensionType.FORWARD_TRANSIT_NHS) ?? [];
    if (transit.some((c) => c.clientProto === this.cfg.protocolAddress)) {
      // RFC 2332 5.3.2: our own address in the Forward Transit NHS record means a loop.
      this.sendError(p, bytes, NhrpErrorCode.LOOP_DETECTED, b.srcNbma, out);
      this.drop(NhrpDropReason.LOOP, out, `resolution for ${target} from ${b.srcProto}`);
      return;
    }
    const route = this.routes.lookup(target);
    const own = target === this.cfg.protocolAddress;
    if (own || route?.local) {
      this.answerResolution(p, own ? { prefix: target, prefixLength: 32 } : { prefix: route!.prefix, prefixLength: route!.prefixLength }, now, out);
      return;
    }
    // Not ours: forward along the routed path (an NHS, or a spoke passing it on).
    const nh = route?.tunnelNextHop;
    const nhEntry = nh ? this.cache.get(nh, 32) : undefined;
    if (!nh || !nhEntry?.nbma || nh === b.srcProto) {
      // No better path: answer with a NAK so the requester stops asking (and keeps using us).
      const nak = makeCie({ code: NhrpCieCode.NO_BINDING_EXISTS, prefixLength: 32, mtu: 0, holdingTime: 0, clientProto: '' });
      this.send(b.srcNbma, makeResolutionReply(p, { cies: [nak], responder: this.selfCie() }), out);
      this.drop(NhrpDropReason.NO_ROUTE, out, `resolution for ${target} from ${b.srcProto}: no tunnel route`);
      return;
    }
    if (p.hopCount <= 1) {
      this.sendError(p, bytes, NhrpErrorCode.HOP_COUNT_EXCEEDED, b.srcNbma, out);
      return;
    }
    let fwd = forwardedByNhs(p, this.selfCie());
    // Authentication is hop by hop: put our own (Cisco rejects a relayed one that differs).
    if (this.cfg.password !== undefined) fwd = { ...fwd, extensions: setExtension(fwd.extensions, cleartextAuthExtension(this.cfg.password)) };
    this.forwardCount++;
    // Learn the requester on the way (IOS creates an entry from a request's source).
    this.learnImplicit(b.srcProto, outerSrc === b.srcNbma ? b.srcNbma : outerSrc, b.cies[0]?.holdingTime ?? this.cfg.holdtime, now, out, outerSrc !== b.srcNbma);
    this.send(nhEntry.nbma, fwd, out);
  }

  private answerResolution(p: NhrpPacket, prefix: { prefix: string; prefixLength: number }, now: number, out: NhrpAction[]): void {
    const b = p.body as NhrpMandatory;
    const cie = makeCie({
      code: 0, prefixLength: prefix.prefixLength, mtu: this.cieMtu(), holdingTime: this.cfg.holdtime,
      clientNbma: this.cfg.nbmaAddress, clientProto: this.cfg.protocolAddress,
    });
    // The requester becomes reachable directly: map it (IOS does, so return traffic can follow).
    this.learnImplicit(b.srcProto, b.srcNbma, b.cies[0]?.holdingTime ?? this.cfg.holdtime, now, out, false);
    const reply = makeResolutionReply(p, { cies: [cie], responder: this.selfCie() });
    // The reply goes straight to the requester's NBMA address (RFC 2332 5.2.2).
    this.send(b.srcNbma, reply, out);
  }

  private learnImplicit(proto: string, nbma: string, hold: number, now: number, out: NhrpAction[], nat: boolean): void {
    if (!proto || !nbma || proto === this.cfg.protocolAddress) return;
    const e = this.cache.get(proto, 32);
    // A registration, or an answer to our own resolution for the same binding, says more than a request's source does.
    if (e && (e.type === 'static' || e.flags.registered || (e.flags.authoritative && e.nbma === nbma))) return;
    const fresh = !e || e.nbma !== nbma || e.type !== 'dynamic';
    this.cache.put({
      prefix: proto, prefixLength: 32, type: 'dynamic', nextHop: proto, nbma,
      flags: { ...NO_FLAGS, implicit: true, nat }, holdingTime: hold, created: fresh ? now : e!.created,
      expires: now + hold * 1000, mtu: 0,
    });
    if (fresh) out.push({ kind: 'map', proto, nbma, permanent: false });
  }

  private onResolutionReply(p: NhrpPacket, now: number, out: NhrpAction[]): void {
    const b = p.body as NhrpMandatory;
    if (b.srcProto !== this.cfg.protocolAddress) {
      // A transit reply: pass it towards the requester along the routed path.
      const route = this.routes.lookup(b.srcProto);
      const nh = route?.tunnelNextHop ?? b.srcProto;
      const nbma = this.cache.get(nh, 32)?.nbma;
      if (!nbma || p.hopCount <= 1) {
        this.drop(NhrpDropReason.NO_ROUTE, out, `resolution reply for ${b.srcProto}`);
        return;
      }
      this.forwardCount++;
      this.send(nbma, forwardedByNhs(p, this.selfCie()), out);
      return;
    }
    const pending = [...this.pending.values()].find((x) => x.requestId === b.requestId);
    if (!pending) {
      this.drop(NhrpDropReason.UNKNOWN_REQUEST_ID, out, `resolution reply id ${b.requestId}`);
      return;
    }
    this.pending.delete(pending.target);
    const incomplete = this.cache.get(pending.target, 32);
    if (incomplete?.type === 'incomplete') this.cache.delete(pending.target, 32);
    const good = b.cies.filter((c) => c.code === 0 && c.clientNbma !== '' && c.clientProto !== '');
    if (good.length === 0) {
      const code = b.cies[0]?.code ?? NhrpCieCode.NO_BINDING_EXISTS;
      this.cache.put({
        prefix: pending.target, prefixLength: 32, type: 'negative', nextHop: pending.target, nbma: undefined, flags: NO_FLAGS,
        holdingTime: NEGATIVE_HOLD_S, created: now, expires: now + NEGATIVE_HOLD_S * 1000, mtu: 0,
      });
      out.push({ kind: 'log', level: 'info', msg: `resolution of ${pending.target} refused: ${cieCodeName(code)}` });
      return;
    }
    for (const c of good) this.installBinding(pending.target, c, pending.refresh, now, out);
  }

  /**
   * Install what a Resolution Reply answered. A fresh resolution was started by traffic
   * (a miss or a Traffic Indication), so its binding starts out used; a refresh keeps
   * whatever use traffic made of the binding since the refresh check, so that an idle
   * shortcut is not renewed for ever by its own refreshes.
   */
  private installBinding(target: string, c: NhrpCie, refresh: boolean, now: number, out: NhrpAction[]): void {
    const hold = c.holdingTime || this.cfg.holdtime;
    const len = c.prefixLength === 0 || c.prefixLength > 32 ? 32 : c.prefixLength;
    const peer = c.clientProto;
    // The peer itself (/32, next hop override for anything routed through it).
    const prevPeer = this.cache.get(peer, 32);
    if (!prevPeer || prevPeer.type !== 'static') {
      this.cache.put({
        prefix: peer, prefixLength: 32, type: 'dynamic', nextHop: peer, nbma: c.clientNbma,
        flags: { ...NO_FLAGS, authoritative: true, nhop: true, used: !refresh || (prevPeer?.flags.used ?? false), registered: prevPeer?.flags.registered ?? false },
        holdingTime: hold, created: prevPeer && prevPeer.nbma === c.clientNbma ? prevPeer.created : now, expires: now + hold * 1000, mtu: c.mtu,
      });
      if (!prevPeer || prevPeer.nbma !== c.clientNbma || prevPeer.type !== 'dynamic') out.push({ kind: 'map', proto: peer, nbma: c.clientNbma, permanent: false });
    }
    const net = networkOf(target, len);
    if (len === 32 && net === peer) return;
    // The prefix behind the peer: a shortcut route (Phase 3) when `ip nhrp shortcut` is on.
    const prev = this.cache.get(net, len);
    this.cache.put({
      prefix: net, prefixLength: len, type: 'dynamic', nextHop: peer, nbma: c.clientNbma,
      flags: { ...NO_FLAGS, authoritative: true, router: this.cfg.shortcut, used: !refresh || (prev?.flags.used ?? false) },
      holdingTime: hold, created: prev ? prev.created : now, expires: now + hold * 1000, mtu: c.mtu,
    });
    if (this.cfg.shortcut && (!prev || prev.nextHop !== peer)) {
      if (prev && prev.nextHop !== peer) out.push({ kind: 'route-del', prefix: net, prefixLength: len, nextHop: prev.nextHop });
      out.push({ kind: 'route-add', prefix: net, prefixLength: len, nextHop: peer });
      out.push({ kind: 'log', level: 'info', msg: `shortcut ${net}/${len} via ${peer} (${c.clientNbma})` });
    }
  }

  // ---- purge, errors, traffic indication ---------------------------------------------------------

  private onPurgeRequest(p: NhrpPacket, outerSrc: string, _now: number, out: NhrpAction[]): void {
    const b = p.body as NhrpMandatory;
    for (const c of b.cies) {
      const proto = c.clientProto || b.srcProto;
      const len = c.prefixLength === 0 || c.prefixLength > 32 ? 32 : c.prefixLength;
      for (const e of this.cache.all()) {
        if (e.type === 'static') continue;
        const hit = (e.prefix === networkOf(proto, len) && e.prefixLength === len) || e.nextHop === proto;
        if (hit) {
          this.cache.delete(e.prefix, e.prefixLength);
          this.onEntryGone(e, `purged by ${b.srcProto}`, out);
        }
      }
    }
    if ((b.flags & PurgeFlag.N) === 0) this.send(b.srcNbma || outerSrc, makePurgeReply(p, { responder: this.selfCie() }), out);
  }

  private onErrorIndication(p: NhrpPacket, outerSrc: string, out: NhrpAction[]): void {
    const b = p.body;
    if (b.kind !== 'error') return;
    out.push({ kind: 'log', level: 'warn', msg: `error indication from ${b.srcProto} (${outerSrc}): ${errorCodeName(b.errorCode)} at offset ${b.errorOffset}` });
  }

  private onTrafficIndication(p: NhrpPacket, now: number, out: NhrpAction[]): void {
    const b = p.body;
    if (b.kind !== 'traffic') return;
    if (!this.cfg.shortcut) {
      out.push({ kind: 'log', level: 'debug', msg: `traffic indication from ${b.srcProto} ignored: ip nhrp shortcut is off` });
      return;
    }
    if (b.trigger.length < 20 || b.trigger[0] >> 4 !== 4) {
      this.drop(NhrpDropReason.MALFORMED, out, `traffic indication from ${b.srcProto}: trigger is not an IPv4 header`);
      return;
    }
    const dst = ipv4ToString(b.trigger, 16);
    out.push(...this.resolve(dst, now, true));
  }

  /**
   * Hub side of Phase 3: the dataplane forwarded a packet from the tunnel back into
   * the tunnel. Tell the sender (at `srcNbma`) to find a better path.
   */
  redirect(trigger: Uint8Array, srcNbma: string, now: number): NhrpAction[] {
    const out: NhrpAction[] = [];
    if (!this.cfg.redirect || !this.started) return out;
    if (trigger.length < 20 || trigger[0] >> 4 !== 4) return this.drop(NhrpDropReason.MALFORMED, out, 'redirect trigger is not an IPv4 packet');
    const src = ipv4ToString(trigger, 12);
    const dst = ipv4ToString(trigger, 16);
    if (!this.redirects.allow(`${srcNbma}>${dst}`, now)) return this.drop(NhrpDropReason.REDIRECT_RATE_LIMITED, out, `${src} -> ${dst}`);
    const ti = makeTrafficIndication({ ...this.sender(), dstProto: src, trigger: trafficIndicationQuote(trigger) });
    this.send(srcNbma, ti, out);
    return out;
  }

  /**
   * `clear ip nhrp`: forget dynamic entries (registrations come back with the
   * spokes' next refresh; shortcuts are rebuilt on the next redirect). Static ones stay.
   */
  clear(): NhrpAction[] {
    const out: NhrpAction[] = [];
    for (const e of this.cache.all()) {
      if (e.type === 'static') continue;
      this.cache.delete(e.prefix, e.prefixLength);
      this.onEntryGone(e, 'cleared', out);
    }
    this.pending.clear();
    return out;
  }

  /** Withdraw a local prefix or mapping: purge it at everyone who may have cached it (RFC 2332 5.2.5). */
  purgePeers(): NhrpAction[] {
    const out: NhrpAction[] = [];
    const nhs = new Set(this.nhsClients.map((n) => n.nbma));
    const peers = new Set(this.cache.all().filter((e) => e.type === 'dynamic' && e.nbma && (e.flags.implicit || e.flags.nhop) && !nhs.has(e.nbma)).map((e) => e.nbma as string));
    for (const nbma of peers) {
      const p = makePurgeRequest({
        ...this.sender(), requestId: this.nextRequestId(), dstProto: this.cfg.protocolAddress, noReply: true,
        cies: [makeCie({ prefixLength: 32, mtu: this.cieMtu(), holdingTime: 0, clientNbma: this.cfg.nbmaAddress, clientProto: this.cfg.protocolAddress })],
      });
      this.send(nbma, p, out);
    }
    return out;
  }

  // ---- helpers --------------------------------------------------------------------------

  private onEntryGone(e: CacheEntry, why: string, out: NhrpAction[]): void {
    if (e.type === 'incomplete' || e.type === 'negative') return;
    if (e.prefixLength === 32 && e.prefix === e.nextHop) {
      // The shortcuts through the peer go first, then its mapping: no route is left
      // pointing at a next hop the dataplane no longer knows.
      for (const dep of this.cache.byNextHop(e.prefix)) {
        if (dep.flags.router) {
          this.cache.delete(dep.prefix, dep.prefixLength);
          out.push({ kind: 'route-del', prefix: dep.prefix, prefixLength: dep.prefixLength, nextHop: dep.nextHop });
        }
      }
      out.push({ kind: 'unmap', proto: e.prefix });
      if (e.flags.registered && e.nbma) this.updateMulticast(out, undefined, e.nbma);
    } else if (e.flags.router) {
      out.push({ kind: 'route-del', prefix: e.prefix, prefixLength: e.prefixLength, nextHop: e.nextHop });
    }
    out.push({ kind: 'log', level: 'info', msg: `NHRP entry ${e.prefix}/${e.prefixLength} via ${e.nextHop} (${e.nbma ?? 'incomplete'}) removed: ${why}` });
  }

  private removeIncomplete(target: string): void {
    if (this.cache.get(target, 32)?.type === 'incomplete') this.cache.delete(target, 32);
  }

  /**
   * Keep the multicast list (static maps plus, with `map multicast dynamic`, every
   * registered client) and announce a change once per batch of actions. The list is
   * maintained incrementally: a hub takes thousands of registrations a second.
   */
  private updateMulticast(out: NhrpAction[], add?: string, remove?: string, force = false): void {
    let changed = force;
    if (this.cfg.multicastDynamic) {
      if (add !== undefined && !this.dynamicMulticast.has(add)) {
        this.dynamicMulticast.add(add);
        changed = true;
      }
      if (remove !== undefined && this.dynamicMulticast.delete(remove)) changed = true;
    }
    if (!changed) return;
    this.multicastList = undefined;
    if (!out.some((a) => a.kind === 'multicast')) out.push({ kind: 'multicast' });
  }

  private *shortcuts(): Iterable<CacheEntry> {
    for (const k of this.cache.routerKeys) {
      const [p, l] = k.split('/');
      const e = this.cache.get(p, Number(l));
      if (e) yield e;
    }
  }

  private sendError(p: NhrpPacket, bytes: Uint8Array, code: number, to: string, out: NhrpAction[]): void {
    const b = p.body as NhrpMandatory;
    const ei = makeErrorIndication({ ...this.sender(), errorCode: code, errorOffset: 0, dstProto: b.srcProto, erroredPacket: bytes });
    this.send(to, ei, out);
  }

  private drop(reason: NhrpDropReasonName, out: NhrpAction[], detail: string): NhrpAction[] {
    this.dropCount[reason] = (this.dropCount[reason] ?? 0) + 1;
    out.push({ kind: 'log', level: 'debug', msg: `drop: ${reason}`, fields: { detail } });
    return out;
  }

  private send(nbma: string, p: NhrpPacket, out: NhrpAction[]): void {
    const bytes = encode(p, emitNhrp, nhrpLength, 'nhrp');
    const name = nhrpPacketTypeName(p.type);
    this.sentCount[name] = (this.sentCount[name] ?? 0) + 1;
    out.push({ kind: 'send', nbma, bytes });
  }

  private sender(): NhrpSender {
    return { srcNbma: this.cfg.nbmaAddress, srcProto: this.cfg.protocolAddress, password: this.cfg.password, natCapable: true };
  }

  private selfCie(): NhrpCie {
    return makeCie({ prefixLength: 32, mtu: this.cieMtu(), holdingTime: this.cfg.holdtime, clientNbma: this.cfg.nbmaAddress, clientProto: this.cfg.protocolAddress });
  }

  private cieMtu(): number {
    return this.cfg.greKey !== undefined ? CiscoCieMtu.WITH_KEY : CiscoCieMtu.NO_KEY;
  }

  private nextRequestId(): number {
    this.requestId = (this.requestId % 0xffffffff) + 1;
    return this.requestId;
  }
}
