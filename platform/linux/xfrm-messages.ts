/**
 * Translations between the port's values (platform/ports.ts: dotted addresses, keys, names) and
 * the NETLINK_XFRM structs and attributes of xfrm-codec.ts / xfrm-attrs.ts: what LinuxXfrm sends
 * for a state or a policy, and how it reads the kernel's dump entries.
 */
import type { Reader } from '../../protocols/wire/index.js';
import type {
  XfrmAeadAlgorithm,
  XfrmAuthAlgorithm,
  XfrmEncap,
  XfrmPolicy,
  XfrmPolicyId,
  XfrmPolicySpec,
  XfrmSelector,
  XfrmState,
  XfrmStateId,
  XfrmStateSpec,
  XfrmTemplate,
} from '../ports.js';
import { ipv4, ipv4Text } from '../netlink-values.js';
import { AF_INET, dirFromNumber, fullTemplate, IpProto, modeFromNumber, UDP_ENCAP_ESPINUDP, XfrmDirNumber, XfrmModeNumber } from '../xfrm-values.js';
import {
  ADDRESS_LEN,
  emitUserTmpl,
  NO_LIFETIME,
  parseTemplates,
  USER_TMPL_LEN,
  XfrmAttrType,
  XfrmPolicyAction,
  XfrmStateFlag,
  ZERO_LIFETIME_CUR,
  type XfrmSelectorWire,
  type XfrmUserpolicyInfo,
  type XfrmUsersaInfo,
  type XfrmUserTmpl,
} from './xfrm-codec.js';
import {
  algoAeadLength,
  algoAuthLength,
  algoLength,
  attr,
  emitAlgo,
  emitAlgoAead,
  emitAlgoAuth,
  emitEncapTmpl,
  emitReplayState,
  emitReplayStateEsn,
  ENCAP_TMPL_LEN,
  findAttr,
  parseAlgo,
  parseAlgoAead,
  parseAlgoAuth,
  parseEncapTmpl,
  parseReplayState,
  parseReplayStateEsn,
  readAttr,
  REPLAY_STATE_LEN,
  replayStateEsnLength,
  type XfrmAlgoAeadWire,
  type XfrmAlgoAuthWire,
  type XfrmAttr,
  type XfrmEncapTmpl,
  type XfrmPolicyIdMessage,
  type XfrmPolicyMessage,
  type XfrmReplayStateEsn,
  type XfrmSaIdMessage,
  type XfrmSaMessage,
} from './xfrm-attrs.js';

// ---- translation: port values <-> structs ----

function address(text: string): Uint8Array {
  const out = new Uint8Array(ADDRESS_LEN);
  const a = ipv4(text);
  if (a) out.set(a);
  return out;
}
const addressText = (b: Uint8Array): string => ipv4Text(b);

export function selectorToWire(s: XfrmSelector): XfrmSelectorWire {
  return {
    daddr: address(s.dst),
    saddr: address(s.src),
    dport: s.dport ?? 0,
    dportMask: s.dport === undefined ? 0 : 0xffff,
    sport: s.sport ?? 0,
    sportMask: s.sport === undefined ? 0 : 0xffff,
    family: AF_INET,
    prefixlenD: s.dstPrefix,
    prefixlenS: s.srcPrefix,
    proto: s.proto,
    ifindex: 0,
    user: 0,
  };
}

/** A state with no selector: all zero (family 0), which the kernel reads as "any". */
const ANY_SELECTOR: XfrmSelectorWire = { ...selectorToWire({ src: '0.0.0.0', srcPrefix: 0, dst: '0.0.0.0', dstPrefix: 0, proto: 0 }), family: 0 };

export function selectorFromWire(s: XfrmSelectorWire): XfrmSelector {
  return {
    src: addressText(s.saddr),
    srcPrefix: s.prefixlenS,
    dst: addressText(s.daddr),
    dstPrefix: s.prefixlenD,
    proto: s.proto,
    ...(s.sportMask !== 0 ? { sport: s.sport } : {}),
    ...(s.dportMask !== 0 ? { dport: s.dport } : {}),
  };
}

/**
 * The replay attributes for a state (verify_replay and xfrm_init_replay, net/xfrm/):
 * - a window, or ESN, takes XFRMA_REPLAY_ESN_VAL with a bitmap of ceil(window / 32) words and
 *   xfrm_usersa_info.replay_window 0 (the kernel refuses both at once); without the ESN flag the
 *   kernel runs that bitmap over 32-bit sequence numbers (XFRM_REPLAY_MODE_BMP), which is how a
 *   window wider than the legacy 32 packets is had. ESN needs a window of at least 1 even on an outbound SA
 *   (xfrm_init_replay refuses 0 unless the SA carries XFRMA_SA_DIR, which older kernels lack):
 *   strongSwan sends 1 there too.
 * - no window and no ESN: the legacy replay_window 0, with XFRMA_REPLAY_VAL only to start an
 *   outbound SA's counter somewhere other than 0.
 * The full bitmap is sent (zeros), as strongSwan does; iproute2 sends only the 24-byte header,
 * which the kernel also accepts.
 */
function replayAttrs(spec: XfrmStateSpec): XfrmAttr[] {
  const window = Math.max(spec.replayWindow ?? 0, spec.esn ? 1 : 0);
  const seq = spec.seq ?? 0;
  if (window > 0) {
    const bmpLen = Math.ceil(window / 32);
    const v: XfrmReplayStateEsn = {
      bmpLen,
      oseq: seq % 2 ** 32,
      seq: 0,
      oseqHi: spec.esn ? Math.floor(seq / 2 ** 32) : 0,
      seqHi: 0,
      replayWindow: window,
      bmp: new Array<number>(bmpLen).fill(0),
    };
    return [attr(XfrmAttrType.REPLAY_ESN_VAL, v, emitReplayStateEsn, replayStateEsnLength)];
  }
  if (seq > 0) return [attr(XfrmAttrType.REPLAY_VAL, { oseq: seq, seq: 0, bitmap: 0 }, emitReplayState, () => REPLAY_STATE_LEN)];
  return [];
}

/** XFRM_MSG_NEWSA for a state (the order of attributes follows strongSwan's add_sa). */
export function stateMessage(spec: XfrmStateSpec): XfrmSaMessage {
  const info: XfrmUsersaInfo = {
    sel: spec.selector ? selectorToWire(spec.selector) : ANY_SELECTOR,
    id: { daddr: address(spec.dst), spi: spec.spi >>> 0, proto: spec.proto ?? IpProto.ESP },
    saddr: address(spec.src),
    lft: NO_LIFETIME,
    curlft: ZERO_LIFETIME_CUR,
    stats: { replayWindow: 0, replay: 0, integrityFailed: 0 },
    seq: 0,
    reqid: spec.reqid >>> 0,
    family: AF_INET,
    mode: XfrmModeNumber[spec.mode ?? 'transport'],
    replayWindow: 0,
    flags: spec.esn ? XfrmStateFlag.ESN : 0,
  };
  const attrs: XfrmAttr[] = [];
  if (spec.aead) attrs.push(attr(XfrmAttrType.ALG_AEAD, aeadWire(spec.aead), emitAlgoAead, algoAeadLength));
  if (spec.crypt) attrs.push(attr(XfrmAttrType.ALG_CRYPT, { name: spec.crypt.name, keyBits: spec.crypt.key.length * 8, key: spec.crypt.key }, emitAlgo, algoLength));
  if (spec.auth) attrs.push(attr(XfrmAttrType.ALG_AUTH_TRUNC, authWire(spec.auth), emitAlgoAuth, algoAuthLength));
  if (spec.encap) attrs.push(attr(XfrmAttrType.ENCAP, encapWire(spec.encap), emitEncapTmpl, () => ENCAP_TMPL_LEN));
  attrs.push(...replayAttrs(spec));
  return { info, attrs };
}

function aeadWire(a: XfrmAeadAlgorithm): XfrmAlgoAeadWire {
  return { name: a.name, keyBits: a.key.length * 8, icvBits: a.icvBits, key: a.key };
}
function authWire(a: XfrmAuthAlgorithm): XfrmAlgoAuthWire {
  return { name: a.name, keyBits: a.key.length * 8, truncBits: a.truncBits, key: a.key };
}
function encapWire(e: XfrmEncap): XfrmEncapTmpl {
  return { type: e.type ?? UDP_ENCAP_ESPINUDP, sport: e.sport, dport: e.dport, oa: new Uint8Array(ADDRESS_LEN) };
}

/** A state from XFRM_MSG_NEWSA (a dump entry). Throws WireError when an attribute is malformed. */
export function stateFromMessage(m: XfrmSaMessage): XfrmState {
  const i = m.info;
  const alg = <T>(type: number, parse: (r: Reader) => T): T | undefined => {
    const d = findAttr(m.attrs, type);
    return d === undefined ? undefined : readAttr(d, parse);
  };
  const aead = alg(XfrmAttrType.ALG_AEAD, parseAlgoAead);
  const crypt = alg(XfrmAttrType.ALG_CRYPT, parseAlgo);
  const authTrunc = alg(XfrmAttrType.ALG_AUTH_TRUNC, parseAlgoAuth);
  const authPlain = authTrunc ? undefined : alg(XfrmAttrType.ALG_AUTH, parseAlgo);
  const encap = alg(XfrmAttrType.ENCAP, parseEncapTmpl);
  const esnState = alg(XfrmAttrType.REPLAY_ESN_VAL, parseReplayStateEsn);
  const legacy = alg(XfrmAttrType.REPLAY_VAL, parseReplayState);
  const esn = (i.flags & XfrmStateFlag.ESN) !== 0;
  const wide = (lo: number, hi: number): number => (esn ? hi * 2 ** 32 + lo : lo);
  return {
    src: addressText(i.saddr),
    dst: addressText(i.id.daddr),
    spi: i.id.spi,
    proto: i.id.proto,
    reqid: i.reqid,
    mode: modeFromNumber(i.mode),
    selector: selectorFromWire(i.sel),
    ...(aead ? { aead: { name: aead.name, key: aead.key, icvBits: aead.icvBits } } : {}),
    ...(crypt ? { crypt: { name: crypt.name, key: crypt.key } } : {}),
    ...(authTrunc ? { auth: { name: authTrunc.name, key: authTrunc.key, truncBits: authTrunc.truncBits } } : {}),
    ...(authPlain ? { auth: { name: authPlain.name, key: authPlain.key, truncBits: 0 } } : {}),
    esn,
    replayWindow: esnState ? esnState.replayWindow : i.replayWindow,
    ...(encap ? { encap: { type: encap.type, sport: encap.sport, dport: encap.dport } } : {}),
    flags: i.flags,
    bytes: Number(i.curlft.bytes),
    packets: Number(i.curlft.packets),
    oseq: esnState ? wide(esnState.oseq, esnState.oseqHi) : (legacy?.oseq ?? 0),
    seq: esnState ? wide(esnState.seq, esnState.seqHi) : (legacy?.seq ?? 0),
    replayDrops: i.stats.replay,
    integrityFailures: i.stats.integrityFailed,
  };
}

/**
 * XFRM_MSG_DELSA / GETSA: destination, SPI, protocol; the source in XFRMA_SRCADDR when known, as
 * iproute2 sends it (xfrm_user_state_lookup needs it only for protocols without an SPI).
 */
export function stateIdMessage(id: XfrmStateId): XfrmSaIdMessage {
  return {
    id: { daddr: address(id.dst), spi: id.spi >>> 0, family: AF_INET, proto: id.proto ?? IpProto.ESP },
    attrs: id.src === undefined ? [] : [{ type: XfrmAttrType.SRCADDR, data: address(id.src) }],
  };
}

/**
 * A template as iproute2 and strongSwan write it: any SPI, share ANY, every algorithm acceptable
 * (aalgos/ealgos/calgos all ones; the kernel's xfrm_state_ok checks them against the state).
 */
export function templateToWire(t: XfrmTemplate): XfrmUserTmpl {
  const f = fullTemplate(t);
  return {
    id: { daddr: address(f.dst), spi: f.spi >>> 0, proto: f.proto },
    family: AF_INET,
    saddr: address(f.src),
    reqid: f.reqid >>> 0,
    mode: XfrmModeNumber[f.mode],
    share: 0,
    optional: f.optional ? 1 : 0,
    aalgos: 0xffffffff,
    ealgos: 0xffffffff,
    calgos: 0xffffffff,
  };
}

export function templateFromWire(t: XfrmUserTmpl): Required<XfrmTemplate> {
  return {
    src: addressText(t.saddr),
    dst: addressText(t.id.daddr),
    proto: t.id.proto,
    spi: t.id.spi,
    reqid: t.reqid,
    mode: modeFromNumber(t.mode),
    optional: t.optional !== 0,
  };
}

/** XFRM_MSG_NEWPOLICY: no lifetime, the kernel picks the index, templates in XFRMA_TMPL. */
export function policyMessage(spec: XfrmPolicySpec): XfrmPolicyMessage {
  const info: XfrmUserpolicyInfo = {
    sel: selectorToWire(spec.selector),
    lft: NO_LIFETIME,
    curlft: ZERO_LIFETIME_CUR,
    priority: spec.priority >>> 0,
    index: 0,
    dir: XfrmDirNumber[spec.dir],
    action: spec.action === 'block' ? XfrmPolicyAction.BLOCK : XfrmPolicyAction.ALLOW,
    flags: 0,
    share: 0,
  };
  const attrs: XfrmAttr[] = [];
  if (spec.templates.length > 0) {
    const tmpls = spec.templates.map(templateToWire);
    attrs.push(attr(XfrmAttrType.TMPL, tmpls, (ts, w) => ts.forEach((t) => emitUserTmpl(t, w)), (ts) => ts.length * USER_TMPL_LEN));
  }
  return { info, attrs };
}

/** A policy from XFRM_MSG_NEWPOLICY; undefined for a direction we do not model (socket policies). */
export function policyFromMessage(m: XfrmPolicyMessage): XfrmPolicy | undefined {
  const dir = dirFromNumber(m.info.dir);
  if (dir === undefined) return undefined;
  const t = findAttr(m.attrs, XfrmAttrType.TMPL);
  return {
    dir,
    selector: selectorFromWire(m.info.sel),
    priority: m.info.priority,
    action: m.info.action === XfrmPolicyAction.BLOCK ? 'block' : 'allow',
    templates: t === undefined ? [] : readAttr(t, parseTemplates).map(templateFromWire),
    index: m.info.index,
  };
}

/** XFRM_MSG_DELPOLICY / GETPOLICY by selector and direction (index 0: look up by selector). */
export function policyIdMessage(id: XfrmPolicyId): XfrmPolicyIdMessage {
  return { id: { sel: selectorToWire(id.selector), index: 0, dir: XfrmDirNumber[id.dir] }, attrs: [] };
}
