/**
 * The initial exchanges, RFC 7296 sections 1.2, 1.3, 2.6, 2.15 and 2.23:
 *
 *   Initiator                         Responder
 *   HDR, SAi1, KEi, Ni, N(NAT_*)  -->
 *                                 <-- HDR, SAr1, KEr, Nr, N(NAT_*)      (or N(COOKIE) / N(INVALID_KE_PAYLOAD))
 *   HDR, SK {IDi, [N(INITIAL_CONTACT)], AUTH, N(USE_TRANSPORT_MODE), SAi2, TSi, TSr}  -->
 *                                 <-- HDR, SK {IDr, AUTH, N(USE_TRANSPORT_MODE), SAr2, TSi, TSr}
 *
 * Authentication is by pre-shared key (AUTH method 2) with ID_IPV4_ADDR
 * identities, as an IOS DMVPN profile with `authentication local|remote
 * pre-share` does. A child SA that cannot be agreed does not fail the IKE SA
 * (section 1.2): the response carries the error notify instead.
 */
import { bytesEqual, ipv4Bytes } from '../wire/index.js';
import {
  ExchangeType, NotifyType, ProtocolId, AuthMethod, IdType, isErrorNotify, notifyTypeName, dhGroupName,
} from './constants.js';
import { type Payload, type NotifyPayload, findPayload, findNotify, idText, unsupportedCriticalPayload } from './payloads.js';
import {
  buildSaInitRequest, buildSaInitResponse, buildSaInitNotifyResponse, natDetectionHash, notify, invalidKeData,
} from './build.js';
import { CISCO_SA_INIT_VENDOR_IDS } from './vendor.js';
import { type IkeMessage, encodeIkeMessage } from './wire.js';
import type { Proposal } from './sa.js';
import { skeyseed, deriveIkeKeys, deriveChildKeys, pskAuth, utf8, constantTimeEqual } from './crypto.js';
import { generateDh } from './dh.js';
import { lookupKeyring, offerIkeProposals, offerEspProposals, selectIkeProposal, selectEspProposal, acceptIkeChoice, acceptEspChoice } from './policy.js';
import { type ChildSa, newChildSpi, offerSelectors, narrowSelectors, acceptSelectors, rekeyTime } from './child.js';
import { IkeSa, type IkeEnv, type Outstanding } from './ike-sa.js';
import { IkeDropReason, type Endpoint, type IkeReason, type IkeState } from './engine-types.js';

export interface Transition {
  readonly next: IkeState;
  readonly reason: IkeReason;
  /** Close without `ike-down` (an SA replaced or made redundant by a rekey). */
  readonly silent?: boolean;
}

const NONCE_LENGTH = 32;
/** IKE_SA_INIT retries after COOKIE or INVALID_KE_PAYLOAD before giving up. */
const MAX_INIT_RETRIES = 3;

// ---- small payload builders ------------------------------------------------------------------

export function n(notifyType: number, data: Uint8Array = new Uint8Array(0)): NotifyPayload {
  return notify(notifyType, data);
}

/** A notify about an ESP SA (REKEY_SA, CHILD_SA_NOT_FOUND): protocol 3 and the 4-octet SPI. */
export function espNotify(notifyType: number, spi: number): NotifyPayload {
  return { kind: 'N', protocolId: ProtocolId.ESP, notifyType, spi: u32(spi), data: new Uint8Array(0) };
}

export function u32(v: number): Uint8Array {
  return Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}

export function readU32(b: Uint8Array): number {
  return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
}

/** Our identity: ID_IPV4_ADDR of the NBMA address. */
function ourId(sa: IkeSa, kind: 'IDi' | 'IDr'): Payload {
  return { kind, idType: IdType.ID_IPV4_ADDR, data: ipv4Bytes(sa.env.cfg.localId ?? sa.env.cfg.localAddress) };
}

/** RestOfIDPayload of section 2.15: ID Type, the 3 RESERVED octets, Identification Data. */
function idBody(p: { idType: number; reserved?: number; data: Uint8Array }): Uint8Array {
  const r = p.reserved ?? 0;
  return Uint8Array.of(p.idType, (r >> 16) & 0xff, (r >> 8) & 0xff, r & 0xff, ...p.data);
}

function firstError(payloads: readonly Payload[]): NotifyPayload | undefined {
  return payloads.find((p): p is NotifyPayload => p.kind === 'N' && isErrorNotify(p.notifyType));
}

/** The PSKs for a peer, by its outer address then its IPv4 identity; undefined when the keyring has none. */
function pskFor(sa: IkeSa, idAddress?: string): { local: Uint8Array; remote: Uint8Array } | undefined {
  const k = lookupKeyring(sa.env.cfg, sa.peer) ?? (idAddress ? lookupKeyring(sa.env.cfg, idAddress) : undefined);
  const local = k?.pskLocal ?? k?.psk;
  const remote = k?.pskRemote ?? k?.psk;
  return local !== undefined && remote !== undefined ? { local: utf8(local), remote: utf8(remote) } : undefined;
}

/** Section 2.23: compare the peer's NAT hashes with the addresses the datagram really carried. */
function detectNat(sa: IkeSa, payloads: readonly Payload[], spiR: bigint, from: Endpoint, to: Endpoint): void {
  // A multihomed sender may send several source notifies; any match means no NAT in front of it.
  const sources = payloads.filter((p): p is NotifyPayload => p.kind === 'N' && p.notifyType === NotifyType.NAT_DETECTION_SOURCE_IP);
  const dst = findNotify(payloads, NotifyType.NAT_DETECTION_DESTINATION_IP);
  if (sources.length === 0 || !dst) return;
  const expected = natDetectionHash(sa.spiI, spiR, from.address, from.port);
  sa.natRemote = !sources.some((p) => constantTimeEqual(p.data, expected));
  sa.natLocal = !constantTimeEqual(dst.data, natDetectionHash(sa.spiI, spiR, to.address, to.port));
  if (sa.natRemote || sa.natLocal) sa.log('info', `NAT detected (${sa.natLocal ? 'we are' : 'the peer is'} behind a NAT): IKE and ESP move to UDP 4500`);
}

function saTimers(sa: IkeSa, now: number): void {
  const cfg = sa.env.cfg;
  sa.establishedAt ??= now;
  sa.rekeyAt = rekeyTime(now, cfg.ikeLifetime, sa.env.random);
  sa.expiresAt = now + cfg.ikeLifetime * 1000;
  sa.dpdAt = cfg.dpd ? now + cfg.dpd.interval * 1000 : undefined;
  sa.keepaliveAt = sa.natLocal ? now + cfg.natKeepalive * 1000 : undefined;
}

export function newChild(sa: IkeSa, fields: Omit<ChildSa, 'state' | 'createdAt' | 'rekeyAt' | 'expiresAt'>, now: number): ChildSa {
  const life = sa.env.cfg.childLifetime;
  return { ...fields, state: 'installed', createdAt: now, rekeyAt: rekeyTime(now, life, sa.env.random), expiresAt: now + life * 1000 };
}

// ---- initiator: IKE_SA_INIT ------------------------------------------------------------------

/** Build and send (or resend after COOKIE / INVALID_KE_PAYLOAD) our IKE_SA_INIT request. */
export function sendInit(sa: IkeSa, group: number, now: number): void {
  const cfg = sa.env.cfg;
  if (sa.ni.length === 0) sa.ni = sa.env.random(NONCE_LENGTH);
  if (sa.offered.length === 0) sa.offered = offerIkeProposals(cfg);
  if (!sa.dh || sa.dh.group !== group) sa.dh = generateDh(group, sa.env.random);
  const m = buildSaInitRequest({
    spiI: sa.spiI, proposals: sa.offered, dhGroup: group, keyExchange: sa.dh.publicValue, nonce: sa.ni,
    nat: { source: sa.local, destination: sa.remote }, cookie: sa.cookie,
    ...(cfg.ciscoVendorIds ? { vendorIds: CISCO_SA_INIT_VENDOR_IDS, natNotifyProtocolId: ProtocolId.IKE } : {}),
  });
  sa.sendInitRequest(encodeIkeMessage(m), now);
}

/**
 * Why an IKE_SA_INIT answer belongs to a request we have since replaced, or undefined. Section 2.6:
 * once we resend with the cookie, only an answer to that request counts. A COOKIE reply carrying
 * the very cookie our request already echoes cannot answer it (the responder found that cookie
 * valid, or would send a fresh one): a copy of the earlier request drew it, retransmitted before
 * the cookie came. Likewise an INVALID_KE_PAYLOAD naming the group we already switched to
 * (section 1.2). An answer that accepts the exchange carries nothing that says which of our
 * requests it answers; the responder accepts IKE_AUTH over either (manager.ts).
 */
export function supersededInitAnswer(sa: IkeSa, m: IkeMessage): string | undefined {
  const p = m.payloads;
  if (findPayload(p, 'SA')) return undefined;
  const cookie = findNotify(p, NotifyType.COOKIE);
  if (cookie && sa.cookie && bytesEqual(cookie.data, sa.cookie)) return 'COOKIE we already echo: an answer to a copy of our request without it';
  const invalidKe = findNotify(p, NotifyType.INVALID_KE_PAYLOAD);
  const switched = sa.dh !== undefined && sa.dh.group !== sa.env.cfg.proposals[0].dh[0];
  if (!cookie && invalidKe && switched && invalidKe.data.length === 2 && ((invalidKe.data[0] << 8) | invalidKe.data[1]) === sa.dh?.group) {
    return `INVALID_KE_PAYLOAD for ${dhGroupName(sa.dh.group)}, which our current request already uses`;
  }
  return undefined;
}

/** State init-sent: the IKE_SA_INIT response (or a COOKIE / INVALID_KE_PAYLOAD / error notify). */
export function onInitResponse(sa: IkeSa, m: IkeMessage, bytes: Uint8Array, now: number): Transition | undefined {
  const p = m.payloads;
  const cookie = findNotify(p, NotifyType.COOKIE);
  if (cookie && !findPayload(p, 'SA')) {
    if (++sa.initRetries > MAX_INIT_RETRIES || cookie.data.length < 1 || cookie.data.length > 64) return { next: 'closed', reason: 'malformed exchange' };
    sa.cookie = cookie.data;
    sa.log('debug', 'responder asked for a COOKIE (RFC 7296 section 2.6): retrying IKE_SA_INIT with it');
    sendInit(sa, sa.dh!.group, now);
    return undefined;
  }
  const invalidKe = findNotify(p, NotifyType.INVALID_KE_PAYLOAD);
  if (invalidKe) {
    const group = invalidKe.data.length === 2 ? (invalidKe.data[0] << 8) | invalidKe.data[1] : -1;
    const offered = sa.env.cfg.proposals.some((c) => c.dh.includes(group));
    if (!offered || group === sa.dh?.group || ++sa.initRetries > MAX_INIT_RETRIES) {
      sa.log('warn', `peer wants DH group ${dhGroupName(group)}, which we did not offer`);
      return { next: 'closed', reason: 'no proposal chosen' };
    }
    sa.log('info', `peer wants DH group ${dhGroupName(group)} (INVALID_KE_PAYLOAD): retrying IKE_SA_INIT`);
    sendInit(sa, group, now);
    return undefined;
  }
  const err = firstError(p);
  if (err) {
    sa.log('warn', `IKE_SA_INIT refused by peer: ${notifyTypeName(err.notifyType)}`);
    return { next: 'closed', reason: err.notifyType === NotifyType.NO_PROPOSAL_CHOSEN ? 'no proposal chosen' : 'error notify from peer' };
  }
  const saP = findPayload(p, 'SA');
  const ke = findPayload(p, 'KE');
  const nonce = findPayload(p, 'Nonce');
  const suite = saP ? acceptIkeChoice(saP.proposals, sa.offered) : undefined;
  if (!saP || !ke || !nonce || !suite || m.header.spiR === 0n || nonce.data.length < 16 || nonce.data.length > 256) {
    sa.log('warn', 'IKE_SA_INIT response is missing SA, KE or Nonce, or chose something we did not offer');
    return { next: 'closed', reason: 'malformed exchange' };
  }
  if (ke.group !== suite.dh || ke.group !== sa.dh?.group) return { next: 'closed', reason: 'malformed exchange' };
  const gir = sa.dh.computeSecret(ke.data);
  if (!gir) {
    sa.env.drop(IkeDropReason.BAD_KE, `${sa.peer}: invalid KE data`);
    return { next: 'closed', reason: 'malformed exchange' };
  }
  sa.spiR = m.header.spiR;
  sa.nr = nonce.data;
  sa.suite = suite;
  sa.keys = deriveIkeKeys(suite, skeyseed(suite.prf, sa.ni, sa.nr, gir), sa.ni, sa.nr, sa.spiI, sa.spiR);
  sa.initResponse = bytes;
  sa.dh = undefined;
  detectNat(sa, p, sa.spiR, sa.remote, { address: sa.env.cfg.localAddress, port: sa.local.port });
  if (sa.natLocal || sa.natRemote) sa.floatToNatT();
  sendAuth(sa, now);
  return { next: 'auth-sent', reason: 'IKE_SA_INIT done' };
}

function sendAuth(sa: IkeSa, now: number): void {
  const cfg = sa.env.cfg;
  const psk = pskFor(sa);
  const id = ourId(sa, 'IDi') as { kind: 'IDi'; idType: number; data: Uint8Array };
  const auth = psk ? pskAuth(sa.suite!.prf, psk.local, sa.initRequest!, sa.nr, sa.keys!.skPi, idBody(id)) : new Uint8Array(sa.suite!.prf.size);
  if (!psk) sa.log('warn', `no pre-shared key for ${sa.peer} in the keyring`);
  const spiIn = newChildSpi(sa.env.random, (s) => sa.env.childSpiInUse(s));
  const offered = offerEspProposals(cfg, spiIn);
  const ts = offerSelectors(cfg.localAddress, sa.peer);
  const first = cfg.initialContact && !sa.env.others(sa).some((o) => o.establishedAt !== undefined);
  const inner: Payload[] = [
    id,
    ...(first ? [n(NotifyType.INITIAL_CONTACT)] : []),
    { kind: 'AUTH', method: AuthMethod.SHARED_KEY_MIC, data: auth },
    n(NotifyType.USE_TRANSPORT_MODE),
    { kind: 'SA', proposals: offered },
    { kind: 'TSi', selectors: ts.tsi },
    { kind: 'TSr', selectors: ts.tsr },
  ];
  sa.request(ExchangeType.IKE_AUTH, inner, { kind: 'auth', child: { spiIn, offered, ts } }, now);
}

// ---- responder: IKE_SA_INIT ------------------------------------------------------------------

export type InitAnswer =
  | { readonly kind: 'sa'; readonly sa: IkeSa }
  /** A stateless answer (NO_PROPOSAL_CHOSEN, INVALID_KE_PAYLOAD, UNSUPPORTED_CRITICAL_PAYLOAD). */
  | { readonly kind: 'reply'; readonly bytes: Uint8Array; readonly why: string }
  | { readonly kind: 'drop'; readonly reason: typeof IkeDropReason[keyof typeof IkeDropReason]; readonly why: string };

/** Answer a new IKE_SA_INIT request (after the manager's COOKIE check). */
export function answerInit(env: IkeEnv, m: IkeMessage, bytes: Uint8Array, from: Endpoint, localPort: number, spiR: bigint, now: number): InitAnswer {
  const p = m.payloads;
  const reply = (type: number, data: Uint8Array, why: string): InitAnswer => ({ kind: 'reply', bytes: encodeIkeMessage(buildSaInitNotifyResponse(m.header, type, data)), why });
  const crit = unsupportedCriticalPayload(p);
  if (crit !== undefined) return reply(NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, Uint8Array.of(crit), `unknown critical payload ${crit}`);
  const saP = findPayload(p, 'SA');
  const ke = findPayload(p, 'KE');
  const nonce = findPayload(p, 'Nonce');
  if (!saP || !ke || !nonce || nonce.data.length < 16 || nonce.data.length > 256) {
    return { kind: 'drop', reason: IkeDropReason.MALFORMED, why: 'IKE_SA_INIT without SA, KE or a valid Nonce' };
  }
  const sel = selectIkeProposal(env.cfg, saP.proposals, ke.group);
  if (!sel.ok) {
    if (sel.invalidKe !== undefined) return reply(NotifyType.INVALID_KE_PAYLOAD, invalidKeData(sel.invalidKe), `wants DH group ${dhGroupName(sel.invalidKe)}`);
    return reply(NotifyType.NO_PROPOSAL_CHOSEN, new Uint8Array(0), 'no acceptable IKE proposal');
  }
  const dh = generateDh(sel.suite.dh, env.random);
  const gir = dh.computeSecret(ke.data);
  if (!gir) return { kind: 'drop', reason: IkeDropReason.BAD_KE, why: `invalid ${dhGroupName(ke.group)} public value` };
  const local = { address: env.cfg.localAddress, port: localPort };
  const sa = new IkeSa(env, false, m.header.spiI, local, from, now, 'init-replied');
  sa.spiR = spiR;
  sa.ni = nonce.data;
  sa.nr = env.random(NONCE_LENGTH);
  sa.suite = sel.suite;
  sa.weak = sel.weak;
  sa.keys = deriveIkeKeys(sel.suite, skeyseed(sel.suite.prf, sa.ni, sa.nr, gir), sa.ni, sa.nr, sa.spiI, sa.spiR);
  detectNat(sa, p, 0n, from, local);
  const resp = buildSaInitResponse({
    spiI: sa.spiI, spiR, proposals: [sel.proposal], dhGroup: sel.suite.dh, keyExchange: dh.publicValue, nonce: sa.nr,
    nat: { source: local, destination: from },
    ...(env.cfg.ciscoVendorIds ? { vendorIds: CISCO_SA_INIT_VENDOR_IDS, natNotifyProtocolId: ProtocolId.IKE } : {}),
  });
  const out = encodeIkeMessage(resp);
  sa.initRequest = bytes;
  sa.initResponse = out;
  sa.stats.received++;
  sa.log('debug', 'state idle => init-replied (peer IKE_SA_INIT)');
  if (sel.weak) sa.log('warn', `peer insisted on the weak DH group ${dhGroupName(sel.suite.dh)}: accepted (allowWeakDh)`);
  sa.cacheAndSend(0, out);
  sa.stateDeadline = now + env.cfg.halfOpenTimeout * 1000;
  return { kind: 'sa', sa };
}

// ---- responder: IKE_AUTH ---------------------------------------------------------------------

/** State init-replied: the initiator's IKE_AUTH request. */
export function onAuthRequest(sa: IkeSa, m: IkeMessage, p: Payload[], now: number): Transition {
  const idi = findPayload(p, 'IDi');
  const auth = findPayload(p, 'AUTH');
  if (!idi || !auth) {
    sa.respond(m.header, [n(NotifyType.INVALID_SYNTAX)]);
    return { next: 'closed', reason: 'malformed exchange' };
  }
  const idAddr = idi.idType === IdType.ID_IPV4_ADDR && idi.data.length === 4 ? idText(idi.idType, idi.data) : undefined;
  const psk = pskFor(sa, idAddr);
  const prf = sa.suite!.prf;
  const keys = sa.keys!;
  const fail = (why: string): Transition => {
    sa.log('warn', `IKEv2 authentication of ${sa.peer} (id ${idText(idi.idType, idi.data)}) failed: ${why}; sent AUTHENTICATION_FAILED`);
    sa.respond(m.header, [n(NotifyType.AUTHENTICATION_FAILED)]);
    return { next: 'closed', reason: 'authentication failed' };
  };
  if (!psk) return fail('no pre-shared key for this peer in the keyring');
  if (auth.method !== AuthMethod.SHARED_KEY_MIC) return fail(`auth method ${auth.method} is not pre-share`);
  // RealMessage1 is the request the initiator last sent; after a COOKIE retry that may be another
  // form of the one that made this SA (manager.ts keeps both): the AUTH says which.
  const signed = [sa.initRequest!, ...sa.otherInitRequests].find((req) => constantTimeEqual(pskAuth(prf, psk.remote, req, sa.nr, keys.skPi, idBody(idi)), auth.data));
  if (!signed) return fail('AUTH does not match the pre-shared key (wrong key on one side?)');
  if (signed !== sa.initRequest) sa.log('debug', 'the initiator signed its COOKIE retry of IKE_SA_INIT, not the copy that made this SA');
  sa.initRequest = signed;
  sa.otherInitRequests = [];
  sa.remoteId = idText(idi.idType, idi.data);
  if (findNotify(p, NotifyType.INITIAL_CONTACT)) {
    // Section 2.4: the peer has no other SA with us (it rebooted): ours with it are stale. SAs still
    // being negotiated are left alone, so two peers connecting at once both come up.
    for (const o of sa.env.others(sa)) if (o.establishedAt !== undefined) o.close('initial contact', now);
  }
  const idr = ourId(sa, 'IDr') as { kind: 'IDr'; idType: number; data: Uint8Array };
  const authR = pskAuth(prf, psk.local, sa.initResponse!, sa.ni, keys.skPr, idBody(idr));
  const child = authChild(sa, p, idAddr, now);
  const inner: Payload[] = [idr, { kind: 'AUTH', method: AuthMethod.SHARED_KEY_MIC, data: authR }, ...child.payloads];
  sa.respond(m.header, inner);
  saTimers(sa, now);
  sa.env.emit({ kind: 'ike-up', peer: sa.peer, spiI: sa.spiI, spiR: sa.spiR, initiator: false });
  if (child.sa) {
    sa.children.push(child.sa);
    sa.emitChildUp(child.sa);
  }
  return { next: 'established', reason: 'authenticated' };
}

/** The child SA of IKE_AUTH on the responder side: its payloads for the response, or the error notify. */
function authChild(sa: IkeSa, p: Payload[], idAddr: string | undefined, now: number): { payloads: Payload[]; sa?: ChildSa } {
  const cfg = sa.env.cfg;
  const saP = findPayload(p, 'SA');
  const tsi = findPayload(p, 'TSi');
  const tsr = findPayload(p, 'TSr');
  if (!saP || !tsi || !tsr) return { payloads: [] };
  if (!findNotify(p, NotifyType.USE_TRANSPORT_MODE)) {
    sa.log('warn', 'peer asked for a tunnel-mode child SA; DMVPN needs transport mode');
    return { payloads: [n(NotifyType.NO_PROPOSAL_CHOSEN)] };
  }
  const spiIn = newChildSpi(sa.env.random, (s) => sa.env.childSpiInUse(s));
  const sel = selectEspProposal(cfg, saP.proposals, spiIn, { exchange: 'auth' });
  if (!sel.ok) {
    sa.log('warn', 'no acceptable ESP proposal from peer (transform sets do not match)');
    return { payloads: [n(NotifyType.NO_PROPOSAL_CHOSEN)] };
  }
  const ts = narrowSelectors(tsi.selectors, tsr.selectors, idAddr ? [sa.peer, idAddr] : [sa.peer], cfg.localAddress);
  if (!ts) {
    sa.log('warn', 'peer traffic selectors do not cover GRE between the NBMA addresses');
    return { payloads: [n(NotifyType.TS_UNACCEPTABLE)] };
  }
  const keys = deriveChildKeys(sa.suite!.prf, sa.keys!.skD, sel.suite, sa.ni, sa.nr);
  const child = newChild(sa, { spiIn, spiOut: sel.peerSpi, suite: sel.suite, keys, initiator: false, ni: sa.ni, nr: sa.nr, tsLocal: cfg.localAddress, tsRemote: ts.initiator }, now);
  return {
    payloads: [n(NotifyType.USE_TRANSPORT_MODE), { kind: 'SA', proposals: [sel.proposal] }, { kind: 'TSi', selectors: ts.tsi }, { kind: 'TSr', selectors: ts.tsr }],
    sa: child,
  };
}

// ---- initiator: IKE_AUTH response ------------------------------------------------------------

/** State auth-sent: the responder's IKE_AUTH response. */
export function onAuthResponse(sa: IkeSa, p: Payload[], req: Outstanding, now: number): Transition {
  if (findNotify(p, NotifyType.AUTHENTICATION_FAILED)) {
    sa.log('warn', `${sa.peer} rejected our authentication (AUTHENTICATION_FAILED): check the pre-shared key on both sides`);
    return { next: 'closed', reason: 'peer reported authentication failure' };
  }
  const idr = findPayload(p, 'IDr');
  const auth = findPayload(p, 'AUTH');
  if (!idr || !auth) {
    const err = firstError(p);
    if (err) sa.log('warn', `IKE_AUTH refused by peer: ${notifyTypeName(err.notifyType)}`);
    return { next: 'closed', reason: err ? 'error notify from peer' : 'malformed exchange' };
  }
  const idAddr = idr.idType === IdType.ID_IPV4_ADDR && idr.data.length === 4 ? idText(idr.idType, idr.data) : undefined;
  const psk = pskFor(sa, idAddr);
  const expected = psk ? pskAuth(sa.suite!.prf, psk.remote, sa.initResponse!, sa.ni, sa.keys!.skPr, idBody(idr)) : undefined;
  if (!expected || auth.method !== AuthMethod.SHARED_KEY_MIC || !constantTimeEqual(expected, auth.data)) {
    sa.log('warn', `IKEv2 authentication of ${sa.peer} failed: its AUTH does not match the pre-shared key; sent AUTHENTICATION_FAILED`);
    // Section 2.21.2: an initiator that cannot authenticate the responder says so in an INFORMATIONAL.
    sa.transmit(sa.seal(ExchangeType.INFORMATIONAL, false, sa.myNextId++, [n(NotifyType.AUTHENTICATION_FAILED)]));
    return { next: 'closed', reason: 'authentication failed' };
  }
  sa.remoteId = idText(idr.idType, idr.data);
  saTimers(sa, now);
  sa.env.emit({ kind: 'ike-up', peer: sa.peer, spiI: sa.spiI, spiR: sa.spiR, initiator: true });
  if (req.ctx.kind === 'auth') authChildResponse(sa, p, req.ctx.child, now);
  return { next: 'established', reason: 'authenticated' };
}

function authChildResponse(sa: IkeSa, p: Payload[], offer: { spiIn: number; offered: Proposal[]; ts: ReturnType<typeof offerSelectors> }, now: number): void {
  const err = firstError(p);
  if (err) {
    sa.log('warn', `peer refused the child SA: ${notifyTypeName(err.notifyType)}`);
    return;
  }
  const saP = findPayload(p, 'SA');
  const tsi = findPayload(p, 'TSi');
  const tsr = findPayload(p, 'TSr');
  const choice = saP ? acceptEspChoice(saP.proposals, offer.offered) : undefined;
  if (!choice || !tsi || !tsr || !findNotify(p, NotifyType.USE_TRANSPORT_MODE) || !acceptSelectors(offer.ts, tsi.selectors, tsr.selectors)) {
    sa.log('warn', 'peer answered the child SA with a proposal, mode or selectors we did not offer: deleting it');
    sa.request(ExchangeType.INFORMATIONAL, [{ kind: 'D', protocolId: ProtocolId.ESP, spiSize: 4, spis: [u32(offer.spiIn)] }], { kind: 'delete-child', children: [] }, now);
    return;
  }
  const keys = deriveChildKeys(sa.suite!.prf, sa.keys!.skD, choice.suite, sa.ni, sa.nr);
  const c = newChild(sa, {
    spiIn: offer.spiIn, spiOut: choice.peerSpi, suite: choice.suite, keys, initiator: true, ni: sa.ni, nr: sa.nr,
    tsLocal: sa.env.cfg.localAddress, tsRemote: sa.peer,
  }, now);
  sa.children.push(c);
  sa.emitChildUp(c);
}

/** A fresh 8-octet SPI as a bigint, never zero. */
export function newIkeSpi(env: IkeEnv, inUse: (spi: bigint) => boolean): bigint {
  for (;;) {
    const b = env.random(8);
    const v = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0);
    if (v !== 0n && !inUse(v)) return v;
  }
}

