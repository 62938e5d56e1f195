/**
 * The exchanges of an established IKE SA, RFC 7296 sections 1.3 to 1.5 and 2.8:
 *
 *  - CREATE_CHILD_SA rekeying a child SA: N(REKEY_SA), SA, Ni, [KEi], TSi, TSr,
 *    new SPIs, KEYMAT from SK_d (2.17); the rekey initiator deletes the old SA.
 *  - CREATE_CHILD_SA rekeying the IKE SA: SA with the new 8-octet SPI, Ni, KEi;
 *    SKEYSEED = prf(SK_d (old), g^ir | Ni | Nr) (2.18); the children move to the
 *    new SA and the rekey initiator deletes the old one.
 *  - Collisions (2.8.1, 2.8.2): when both ends rekey the same SA at once, both
 *    exchanges complete; the SA made by the exchange with the lowest of the four
 *    nonces is redundant and is deleted by the end that initiated that exchange.
 *  - INFORMATIONAL: Delete (answered with the paired SPIs, section 1.4.1),
 *    liveness checks (an empty request), AUTHENTICATION_FAILED after IKE_AUTH.
 */
import { ExchangeType, NotifyType, ProtocolId, dhGroupName, notifyTypeName, isErrorNotify } from './constants.js';
import { type Payload, type NotifyPayload, findPayload, findNotify } from './payloads.js';
import type { IkeMessage } from './wire.js';
import { type IkeSuite, type IkeKeys, deriveChildKeys, deriveIkeKeys, rekeyedSkeyseed, spiBytes } from './crypto.js';
import { generateDh } from './dh.js';
import { offerEspProposals, offerIkeProposals, selectEspProposal, selectIkeProposal, acceptEspChoice, acceptIkeChoice } from './policy.js';
import { type ChildSa, newChildSpi, offerSelectors, narrowSelectors, acceptSelectors, lowestNonce, compareBytes, rekeyTime } from './child.js';
import { IkeSa, type RequestCtx } from './ike-sa.js';
import { type Transition, n, espNotify, u32, readU32, newChild, newIkeSpi } from './sa-init.js';

const NONCE_LENGTH = 32;
/** Wait before trying a failed rekey again, and for a rekeyed SA's delete. */
const RETRY_MS = 30_000;

type Ctx<K extends RequestCtx['kind']> = Extract<RequestCtx, { kind: K }>;

function firstError(p: readonly Payload[]): NotifyPayload | undefined {
  return p.find((x): x is NotifyPayload => x.kind === 'N' && isErrorNotify(x.notifyType));
}

function ke(group: number, data: Uint8Array): Payload {
  return { kind: 'KE', group, data };
}

// ---- child SA rekey ------------------------------------------------------------------------

/** Start rekeying `old` (section 1.3.3); `group` overrides the PFS group after INVALID_KE_PAYLOAD. */
export function startChildRekey(sa: IkeSa, old: ChildSa, now: number, group = sa.env.cfg.pfsGroup): void {
  if (old.state !== 'installed' || sa.state !== 'established') return;
  old.state = 'rekeying';
  const cfg = sa.env.cfg;
  const spiIn = newChildSpi(sa.env.random, (s) => sa.env.childSpiInUse(s));
  const ni = sa.env.random(NONCE_LENGTH);
  const dh = group !== undefined ? generateDh(group, sa.env.random) : undefined;
  const offered = offerEspProposals(cfg, spiIn, group);
  const ts = offerSelectors(old.tsLocal, old.tsRemote);
  const inner: Payload[] = [
    espNotify(NotifyType.REKEY_SA, old.spiIn),
    n(NotifyType.USE_TRANSPORT_MODE),
    { kind: 'SA', proposals: offered },
    { kind: 'Nonce', data: ni },
    ...(dh ? [ke(dh.group, dh.publicValue)] : []),
    { kind: 'TSi', selectors: ts.tsi },
    { kind: 'TSr', selectors: ts.tsr },
  ];
  sa.log('debug', `rekeying child SA in 0x${old.spiIn.toString(16)} out 0x${old.spiOut.toString(16)}`);
  sa.request(ExchangeType.CREATE_CHILD_SA, inner, { kind: 'child-rekey', old, spiIn, offered, ni, dh, ts }, now);
}

function childRekeyFailed(sa: IkeSa, ctx: Ctx<'child-rekey'>, why: string, now: number): void {
  sa.log('warn', `child SA rekey failed: ${why}; retrying later`);
  // A rekey of the same SA by the peer may have succeeded meanwhile (a collision); then the peer deletes the old SA.
  const replaced = sa.children.some((c) => c.replaces?.spiIn === ctx.old.spiIn);
  if (ctx.old.state === 'rekeying') ctx.old.state = replaced ? 'rekeyed' : 'installed';
  ctx.old.rekeyAt = Math.min(now + RETRY_MS, ctx.old.expiresAt);
}

export function onChildRekeyResponse(sa: IkeSa, p: Payload[], ctx: Ctx<'child-rekey'>, now: number): void {
  const invalidKe = findNotify(p, NotifyType.INVALID_KE_PAYLOAD);
  if (invalidKe && invalidKe.data.length === 2 && ctx.dh) {
    const group = (invalidKe.data[0] << 8) | invalidKe.data[1];
    if (group !== ctx.dh.group && sa.env.cfg.pfsGroup === undefined) {
      ctx.old.state = 'installed';
      startChildRekey(sa, ctx.old, now, group);
      return;
    }
  }
  const err = firstError(p);
  if (err) return childRekeyFailed(sa, ctx, `peer answered ${notifyTypeName(err.notifyType)}`, now);
  const saP = findPayload(p, 'SA');
  const nonce = findPayload(p, 'Nonce');
  const kep = findPayload(p, 'KE');
  const tsi = findPayload(p, 'TSi');
  const tsr = findPayload(p, 'TSr');
  const choice = saP ? acceptEspChoice(saP.proposals, ctx.offered) : undefined;
  const pfsOk = ctx.dh ? kep?.group === ctx.dh.group && choice?.suite.dh === ctx.dh.group : !kep;
  if (!choice || !nonce || !tsi || !tsr || !pfsOk || !findNotify(p, NotifyType.USE_TRANSPORT_MODE) || !acceptSelectors(ctx.ts, tsi.selectors, tsr.selectors)) {
    if (choice) sa.request(ExchangeType.INFORMATIONAL, [deletePayload([ctx.spiIn])], { kind: 'delete-child', children: [] }, now);
    return childRekeyFailed(sa, ctx, 'the answer does not match our offer', now);
  }
  const gir = ctx.dh && kep ? ctx.dh.computeSecret(kep.data) : undefined;
  if (ctx.dh && !gir) return childRekeyFailed(sa, ctx, 'invalid KE data', now);
  const keys = deriveChildKeys(sa.suite!.prf, sa.keys!.skD, choice.suite, ctx.ni, nonce.data, gir);
  const old = ctx.old;
  const child = newChild(sa, {
    spiIn: ctx.spiIn, spiOut: choice.peerSpi, suite: choice.suite, keys, initiator: true, ni: ctx.ni, nr: nonce.data,
    tsLocal: old.tsLocal, tsRemote: old.tsRemote, replaces: { spiIn: old.spiIn, spiOut: old.spiOut },
  }, now);
  sa.children.push(child);
  sa.emitChildUp(child);
  const theirs = sa.children.find((c) => c !== child && c.replaces?.spiIn === old.spiIn && !c.initiator);
  old.state = 'rekeyed';
  if (theirs && compareBytes(lowestNonce(child.ni, child.nr), lowestNonce(theirs.ni, theirs.nr)) < 0) {
    // Section 2.8.1: our exchange holds the lowest nonce, so our new SA is the redundant one.
    sa.log('info', 'child SA rekey collision: ours has the lowest nonce, deleting it');
    deleteChildren(sa, [child], 'rekey collision', now);
    return;
  }
  if (theirs) sa.log('info', 'child SA rekey collision: the peer\'s SA is redundant, the peer deletes it');
  deleteChildren(sa, [old], 'rekeyed', now);
}

/** CREATE_CHILD_SA request from the peer: child rekey, IKE SA rekey, or a new child SA. */
export function onCreateChildRequest(sa: IkeSa, m: IkeMessage, p: Payload[], now: number): void {
  const saP = findPayload(p, 'SA');
  if (!saP) return sa.respond(m.header, [n(NotifyType.INVALID_SYNTAX)]);
  if (sa.state !== 'established') return sa.respond(m.header, [n(NotifyType.TEMPORARY_FAILURE)]);
  if (saP.proposals.some((x) => x.protocolId === ProtocolId.IKE)) return onIkeRekeyRequest(sa, m, p, now);
  const rekey = findNotify(p, NotifyType.REKEY_SA);
  let old: ChildSa | undefined;
  if (rekey) {
    old = rekey.spi.length === 4 ? sa.findChildByOutbound(readU32(rekey.spi)) : undefined;
    if (!old || old.state === 'deleting' || old.state === 'rekeyed') {
      return sa.respond(m.header, [rekey.spi.length === 4 ? espNotify(NotifyType.CHILD_SA_NOT_FOUND, readU32(rekey.spi)) : n(NotifyType.CHILD_SA_NOT_FOUND)]);
    }
  }
  const nonce = findPayload(p, 'Nonce');
  const kep = findPayload(p, 'KE');
  const tsi = findPayload(p, 'TSi');
  const tsr = findPayload(p, 'TSr');
  if (!nonce || !tsi || !tsr || nonce.data.length < 16 || nonce.data.length > 256) return sa.respond(m.header, [n(NotifyType.INVALID_SYNTAX)]);
  if (!findNotify(p, NotifyType.USE_TRANSPORT_MODE)) return sa.respond(m.header, [n(NotifyType.NO_PROPOSAL_CHOSEN)]);
  const cfg = sa.env.cfg;
  const spiIn = newChildSpi(sa.env.random, (s) => sa.env.childSpiInUse(s));
  const sel = selectEspProposal(cfg, saP.proposals, spiIn, { exchange: 'child', keGroup: kep?.group });
  if (!sel.ok) {
    if (sel.invalidKe !== undefined) return sa.respond(m.header, [n(NotifyType.INVALID_KE_PAYLOAD, Uint8Array.of(sel.invalidKe >> 8, sel.invalidKe & 0xff))]);
    return sa.respond(m.header, [n(NotifyType.NO_PROPOSAL_CHOSEN)]);
  }
  const ts = narrowSelectors(tsi.selectors, tsr.selectors, old ? [old.tsRemote] : [sa.peer], old?.tsLocal ?? cfg.localAddress);
  if (!ts) return sa.respond(m.header, [n(NotifyType.TS_UNACCEPTABLE)]);
  const dh = kep ? generateDh(kep.group, sa.env.random) : undefined;
  const gir = dh && kep ? dh.computeSecret(kep.data) : undefined;
  if (dh && !gir) return sa.respond(m.header, [n(NotifyType.INVALID_SYNTAX)]);
  const nr = sa.env.random(NONCE_LENGTH);
  const keys = deriveChildKeys(sa.suite!.prf, sa.keys!.skD, sel.suite, nonce.data, nr, gir);
  const child = newChild(sa, {
    spiIn, spiOut: sel.peerSpi, suite: sel.suite, keys, initiator: false, ni: nonce.data, nr,
    tsLocal: old?.tsLocal ?? cfg.localAddress, tsRemote: ts.initiator, ...(old ? { replaces: { spiIn: old.spiIn, spiOut: old.spiOut } } : {}),
  }, now);
  sa.respond(m.header, [
    { kind: 'SA', proposals: [sel.proposal] }, { kind: 'Nonce', data: nr }, ...(dh ? [ke(dh.group, dh.publicValue)] : []),
    n(NotifyType.USE_TRANSPORT_MODE), { kind: 'TSi', selectors: ts.tsi }, { kind: 'TSr', selectors: ts.tsr },
  ]);
  sa.children.push(child);
  sa.emitChildUp(child);
  // Without a collision the peer, as rekey initiator, deletes the old SA; with one, the nonce rule decides
  // when our own exchange completes (onChildRekeyResponse).
  if (old && old.state === 'installed') old.state = 'rekeyed';
}

// ---- IKE SA rekey --------------------------------------------------------------------------

export function startIkeRekey(sa: IkeSa, now: number, group = sa.suite!.dh): void {
  sa.rekeyAt = undefined;
  if (sa.state !== 'established' || sa.hasRequest('ike-rekey')) return;
  const spi = newIkeSpi(sa.env, (s) => sa.env.ikeSpiInUse(s));
  const ni = sa.env.random(NONCE_LENGTH);
  const dh = generateDh(group, sa.env.random);
  const offered = offerIkeProposals(sa.env.cfg, spiBytes(spi));
  sa.log('debug', 'rekeying the IKE SA');
  sa.request(ExchangeType.CREATE_CHILD_SA, [{ kind: 'SA', proposals: offered }, { kind: 'Nonce', data: ni }, ke(group, dh.publicValue)], { kind: 'ike-rekey', spi, offered, ni, dh }, now);
}

/** The IKE SA that replaces `old` (section 2.18): same endpoints and NAT state, message IDs from 0. */
function successor(old: IkeSa, initiator: boolean, spiI: bigint, spiR: bigint, suite: IkeSuite, keys: IkeKeys, ni: Uint8Array, nr: Uint8Array, now: number): IkeSa {
  const sa = new IkeSa(old.env, initiator, spiI, old.local, old.remote, now, 'established');
  sa.spiR = spiR;
  sa.suite = suite;
  sa.keys = keys;
  sa.ni = ni;
  sa.nr = nr;
  sa.natLocal = old.natLocal;
  sa.natRemote = old.natRemote;
  sa.remoteId = old.remoteId;
  sa.weak = old.weak;
  const cfg = old.env.cfg;
  sa.establishedAt = now;
  sa.rekeyAt = rekeyTime(now, cfg.ikeLifetime, old.env.random);
  sa.expiresAt = now + cfg.ikeLifetime * 1000;
  sa.dpdAt = cfg.dpd ? now + cfg.dpd.interval * 1000 : undefined;
  sa.keepaliveAt = old.keepaliveAt;
  old.env.adopt(sa);
  sa.log('info', `created by rekeying ${old.label}`);
  return sa;
}

function moveChildren(from: IkeSa, to: IkeSa): void {
  to.children.push(...from.children);
  from.children = [];
}

function onIkeRekeyRequest(sa: IkeSa, m: IkeMessage, p: Payload[], now: number): void {
  const saP = findPayload(p, 'SA')!;
  const nonce = findPayload(p, 'Nonce');
  const kep = findPayload(p, 'KE');
  if (!nonce || !kep || nonce.data.length < 16 || nonce.data.length > 256) return sa.respond(m.header, [n(NotifyType.INVALID_SYNTAX)]);
  const spiR = newIkeSpi(sa.env, (s) => sa.env.ikeSpiInUse(s));
  const sel = selectIkeProposal(sa.env.cfg, saP.proposals, kep.group, spiBytes(spiR));
  if (!sel.ok) {
    if (sel.invalidKe !== undefined) return sa.respond(m.header, [n(NotifyType.INVALID_KE_PAYLOAD, Uint8Array.of(sel.invalidKe >> 8, sel.invalidKe & 0xff))]);
    return sa.respond(m.header, [n(NotifyType.NO_PROPOSAL_CHOSEN)]);
  }
  const peerProposal = saP.proposals.find((x) => x.number === sel.proposal.number && x.protocolId === ProtocolId.IKE);
  if (!peerProposal || peerProposal.spi.length !== 8) return sa.respond(m.header, [n(NotifyType.INVALID_SYNTAX)]);
  const spiI = new DataView(peerProposal.spi.buffer, peerProposal.spi.byteOffset, 8).getBigUint64(0);
  const dh = generateDh(sel.suite.dh, sa.env.random);
  const gir = dh.computeSecret(kep.data);
  if (!gir || spiI === 0n) return sa.respond(m.header, [n(NotifyType.INVALID_SYNTAX)]);
  const nr = sa.env.random(NONCE_LENGTH);
  const seed = rekeyedSkeyseed(sa.suite!.prf, sa.keys!.skD, gir, nonce.data, nr);
  const keys = deriveIkeKeys(sel.suite, seed, nonce.data, nr, spiI, spiR);
  sa.respond(m.header, [{ kind: 'SA', proposals: [sel.proposal] }, { kind: 'Nonce', data: nr }, ke(dh.group, dh.publicValue)]);
  const next = successor(sa, false, spiI, spiR, sel.suite, keys, nonce.data, nr, now);
  if (sa.outstanding?.ctx.kind === 'ike-rekey') {
    // Section 2.8.2: our own rekey is in flight; the nonce rule decides when its response arrives.
    sa.peerRekey = { sa: next, ni: nonce.data, nr };
    return;
  }
  moveChildren(sa, next);
  sa.replacedBy = next;
  sa.setState('rekeyed', 'rekeyed', now);
  sa.stateDeadline = now + RETRY_MS;
}

export function onIkeRekeyResponse(sa: IkeSa, p: Payload[], ctx: Ctx<'ike-rekey'>, now: number): void {
  const invalidKe = findNotify(p, NotifyType.INVALID_KE_PAYLOAD);
  if (invalidKe && invalidKe.data.length === 2) {
    const group = (invalidKe.data[0] << 8) | invalidKe.data[1];
    if (group !== ctx.dh.group && sa.env.cfg.proposals.some((c) => c.dh.includes(group))) {
      sa.log('info', `peer wants DH group ${dhGroupName(group)} for the IKE rekey`);
      return startIkeRekey(sa, now, group);
    }
  }
  const saP = findPayload(p, 'SA');
  const nonce = findPayload(p, 'Nonce');
  const kep = findPayload(p, 'KE');
  const suite = saP ? acceptIkeChoice(saP.proposals, ctx.offered) : undefined;
  const spiR = saP?.proposals[0]?.spi.length === 8 ? new DataView(saP.proposals[0].spi.buffer, saP.proposals[0].spi.byteOffset, 8).getBigUint64(0) : 0n;
  const gir = kep && kep.group === ctx.dh.group && suite?.dh === kep.group ? ctx.dh.computeSecret(kep.data) : undefined;
  if (!suite || !nonce || !gir || spiR === 0n) {
    const err = firstError(p);
    sa.log('warn', `IKE SA rekey failed: ${err ? notifyTypeName(err.notifyType) : 'the answer does not match our offer'}; retrying later`);
    sa.rekeyAt = now + RETRY_MS;
    return;
  }
  const seed = rekeyedSkeyseed(sa.suite!.prf, sa.keys!.skD, gir, ctx.ni, nonce.data);
  const keys = deriveIkeKeys(suite, seed, ctx.ni, nonce.data, ctx.spi, spiR);
  const ours = successor(sa, true, ctx.spi, spiR, suite, keys, ctx.ni, nonce.data, now);
  const theirs = sa.peerRekey;
  sa.peerRekey = undefined;
  if (theirs && compareBytes(lowestNonce(ctx.ni, nonce.data), lowestNonce(theirs.ni, theirs.nr)) < 0) {
    // Section 2.8.2: our new SA is redundant; we delete it, the peer deletes the old one.
    sa.log('info', 'IKE SA rekey collision: ours has the lowest nonce, deleting it');
    moveChildren(sa, theirs.sa);
    sa.replacedBy = theirs.sa;
    ours.redundant = true;
    ours.setState('deleting', 'rekey collision lost', now);
    ours.request(ExchangeType.INFORMATIONAL, [{ kind: 'D', protocolId: ProtocolId.IKE, spiSize: 0, spis: [] }], { kind: 'delete-ike' }, now);
    sa.setState('rekeyed', 'rekeyed', now);
    sa.stateDeadline = now + RETRY_MS;
    return;
  }
  if (theirs) {
    sa.log('info', 'IKE SA rekey collision: the peer\'s SA is redundant, the peer deletes it');
    theirs.sa.redundant = true;
  }
  moveChildren(sa, ours);
  sa.replacedBy = ours;
  sa.setState('rekeyed', 'rekeyed', now);
  sa.request(ExchangeType.INFORMATIONAL, [{ kind: 'D', protocolId: ProtocolId.IKE, spiSize: 0, spis: [] }], { kind: 'delete-ike' }, now);
  sa.stateDeadline = now + RETRY_MS;
}

// ---- INFORMATIONAL -------------------------------------------------------------------------

function deletePayload(spis: number[]): Payload {
  return { kind: 'D', protocolId: ProtocolId.ESP, spiSize: 4, spis: spis.map(u32) };
}

/** Send a Delete for child SAs (our inbound SPIs); they go when the peer answers. */
export function deleteChildren(sa: IkeSa, children: ChildSa[], reason: string, now: number): void {
  const list = children.filter((c) => c.state !== 'deleting');
  if (list.length === 0) return;
  for (const c of list) {
    c.state = 'deleting';
    c.deleteReason = reason;
  }
  sa.request(ExchangeType.INFORMATIONAL, [deletePayload(list.map((c) => c.spiIn))], { kind: 'delete-child', children: list }, now);
}

/** Delete the whole IKE SA (section 1.4.1); it closes when the peer answers or stops answering. */
export function deleteIke(sa: IkeSa, now: number): Transition | undefined {
  if (sa.state === 'closed' || sa.state === 'deleting') return undefined;
  if (!sa.keys || sa.state !== 'established' && sa.state !== 'rekeyed') return { next: 'closed', reason: 'deleted locally' };
  sa.queue.length = 0;
  sa.request(ExchangeType.INFORMATIONAL, [{ kind: 'D', protocolId: ProtocolId.IKE, spiSize: 0, spis: [] }], { kind: 'delete-ike' }, now);
  sa.stateDeadline = now + RETRY_MS;
  return { next: 'deleting', reason: 'deleted locally' };
}

/** An INFORMATIONAL request from the peer; answered in every state that has keys. */
export function onInformationalRequest(sa: IkeSa, m: IkeMessage, p: Payload[]): Transition | undefined {
  const answer: number[] = [];
  let ikeDeleted = false;
  for (const d of p) {
    if (d.kind !== 'D') continue;
    if (d.protocolId === ProtocolId.IKE) ikeDeleted = true;
    if (d.protocolId !== ProtocolId.ESP || d.spiSize !== 4) continue;
    for (const spi of d.spis) {
      const c = sa.findChildByOutbound(readU32(spi));
      if (!c) continue;
      // Section 1.4.1: answer with the paired inbound SPIs, unless we are deleting that pair ourselves.
      if (c.state !== 'deleting') answer.push(c.spiIn);
      // A new SA deleted while another SA replacing the same one exists lost a rekey collision.
      const twin = c.replaces && sa.children.some((o) => o !== c && o.replaces?.spiIn === c.replaces?.spiIn);
      sa.removeChild(c, c.state === 'rekeyed' ? 'rekeyed' : c.deleteReason ?? (twin ? 'rekey collision' : 'deleted by peer'));
    }
  }
  const authFailed = findNotify(p, NotifyType.AUTHENTICATION_FAILED);
  sa.respond(m.header, answer.length > 0 ? [deletePayload(answer)] : []);
  if (authFailed) {
    sa.log('warn', `${sa.peer} could not authenticate us (AUTHENTICATION_FAILED): check the pre-shared key on both sides`);
    return { next: 'closed', reason: 'peer reported authentication failure' };
  }
  if (ikeDeleted) {
    const quiet = sa.state === 'rekeyed' || sa.redundant;
    return { next: 'closed', reason: sa.state === 'rekeyed' ? 'rekeyed' : sa.redundant ? 'rekey collision lost' : 'deleted by peer', silent: quiet };
  }
  return undefined;
}

export function onInformationalResponse(sa: IkeSa, ctx: RequestCtx): Transition | undefined {
  switch (ctx.kind) {
    case 'delete-child':
      for (const c of ctx.children) sa.removeChild(c, c.deleteReason ?? 'deleted locally');
      return undefined;
    case 'delete-ike':
      if (sa.state === 'rekeyed' || sa.replacedBy) return { next: 'closed', reason: 'rekeyed', silent: true };
      if (sa.redundant) return { next: 'closed', reason: 'rekey collision lost', silent: true };
      return { next: 'closed', reason: 'deleted locally' };
    default:
      return undefined;
  }
}

// ---- timers of an established SA -----------------------------------------------------------

export function establishedTimers(sa: IkeSa, now: number): Transition | undefined {
  const cfg = sa.env.cfg;
  if (sa.expiresAt !== undefined && now >= sa.expiresAt) {
    sa.log('info', 'IKE SA lifetime expired before a rekey');
    // Tell the peer if the window allows; nobody waits for the answer.
    if (!sa.outstanding) sa.transmit(sa.seal(ExchangeType.INFORMATIONAL, false, sa.myNextId++, [{ kind: 'D', protocolId: ProtocolId.IKE, spiSize: 0, spis: [] }]));
    return { next: 'closed', reason: 'lifetime expired' };
  }
  if (sa.rekeyAt !== undefined && now >= sa.rekeyAt) startIkeRekey(sa, now);
  if (cfg.dpd && sa.dpdAt !== undefined && now >= sa.dpdAt) {
    if (!sa.outstanding && sa.queue.length === 0) sa.request(ExchangeType.INFORMATIONAL, [], { kind: 'dpd' }, now);
    sa.dpdAt = now + cfg.dpd.interval * 1000;
  }
  if (sa.keepaliveAt !== undefined && now >= sa.keepaliveAt) {
    sa.env.emit({ kind: 'send', from: sa.local, to: sa.remote, bytes: Uint8Array.of(0xff) });
    sa.keepaliveAt = now + cfg.natKeepalive * 1000;
  }
  for (const c of [...sa.children]) {
    if (c.state !== 'deleting' && now >= c.expiresAt) deleteChildren(sa, [c], 'lifetime expired', now);
    else if (c.state === 'installed' && now >= c.rekeyAt) startChildRekey(sa, c, now);
  }
  return undefined;
}
