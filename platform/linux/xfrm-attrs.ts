/**
 * NETLINK_XFRM attributes and whole messages (include/uapi/linux/xfrm.h): the payloads of
 * XFRMA_ALG_CRYPT / ALG_AUTH (struct xfrm_algo), XFRMA_ALG_AUTH_TRUNC (xfrm_algo_auth),
 * XFRMA_ALG_AEAD (xfrm_algo_aead), XFRMA_ENCAP (xfrm_encap_tmpl), XFRMA_REPLAY_VAL
 * (xfrm_replay_state) and XFRMA_REPLAY_ESN_VAL (xfrm_replay_state_esn); the attribute stream;
 * and the four message shapes (a fixed struct from xfrm-codec.ts, then attributes kept raw).
 */
import { encode, Reader, type Writer } from '../../protocols/wire/index.js';
import {
  ADDRESS_LEN,
  emitUsersaId,
  emitUsersaInfo,
  emitUserpolicyId,
  emitUserpolicyInfo,
  parseUsersaId,
  parseUsersaInfo,
  parseUserpolicyId,
  parseUserpolicyInfo,
  PROTOCOL,
  rd16,
  rd32,
  rdName,
  USERPOLICY_ID_LEN,
  USERPOLICY_INFO_LEN,
  USERSA_ID_LEN,
  USERSA_INFO_LEN,
  wr16,
  wr32,
  wrAddress,
  wrName,
  type XfrmUsersaId,
  type XfrmUsersaInfo,
  type XfrmUserpolicyId,
  type XfrmUserpolicyInfo,
} from './xfrm-codec.js';

export const ALG_NAME_LEN = 64;
export const ENCAP_TMPL_LEN = 24;
export const REPLAY_STATE_LEN = 12;
export const REPLAY_ESN_HEADER_LEN = 24;

// ---- algorithms: struct xfrm_algo, xfrm_algo_auth, xfrm_algo_aead ----

/** struct xfrm_algo: char alg_name[64], unsigned int alg_key_len (bits), char alg_key[]. */
export interface XfrmAlgoWire {
  readonly name: string;
  readonly keyBits: number;
  readonly key: Uint8Array;
}
/** struct xfrm_algo_auth: name[64], alg_key_len, alg_trunc_len (bits), key[]. */
export interface XfrmAlgoAuthWire extends XfrmAlgoWire {
  readonly truncBits: number;
}
/** struct xfrm_algo_aead: name[64], alg_key_len, alg_icv_len (bits), key[]. */
export interface XfrmAlgoAeadWire extends XfrmAlgoWire {
  readonly icvBits: number;
}

/** The key is (alg_key_len + 7) / 8 bytes; the kernel checks the attribute holds that many. */
function keyBytes(r: Reader, bits: number): Uint8Array {
  return r.bytes(Math.ceil(bits / 8));
}

export function parseAlgo(r: Reader): XfrmAlgoWire {
  const name = rdName(r, ALG_NAME_LEN);
  const keyBits = rd32(r);
  return { name, keyBits, key: keyBytes(r, keyBits) };
}
export function emitAlgo(v: XfrmAlgoWire, w: Writer): void {
  wrName(w, v.name, ALG_NAME_LEN);
  wr32(w, v.keyBits);
  w.bytes(v.key);
}
export const algoLength = (v: XfrmAlgoWire): number => ALG_NAME_LEN + 4 + v.key.length;

export function parseAlgoAuth(r: Reader): XfrmAlgoAuthWire {
  const name = rdName(r, ALG_NAME_LEN);
  const keyBits = rd32(r);
  const truncBits = rd32(r);
  return { name, keyBits, truncBits, key: keyBytes(r, keyBits) };
}
export function emitAlgoAuth(v: XfrmAlgoAuthWire, w: Writer): void {
  wrName(w, v.name, ALG_NAME_LEN);
  wr32(w, v.keyBits);
  wr32(w, v.truncBits);
  w.bytes(v.key);
}
export const algoAuthLength = (v: XfrmAlgoAuthWire): number => ALG_NAME_LEN + 8 + v.key.length;

export function parseAlgoAead(r: Reader): XfrmAlgoAeadWire {
  const name = rdName(r, ALG_NAME_LEN);
  const keyBits = rd32(r);
  const icvBits = rd32(r);
  return { name, keyBits, icvBits, key: keyBytes(r, keyBits) };
}
export function emitAlgoAead(v: XfrmAlgoAeadWire, w: Writer): void {
  wrName(w, v.name, ALG_NAME_LEN);
  wr32(w, v.keyBits);
  wr32(w, v.icvBits);
  w.bytes(v.key);
}
export const algoAeadLength = (v: XfrmAlgoAeadWire): number => ALG_NAME_LEN + 8 + v.key.length;

// ---- struct xfrm_encap_tmpl (24 bytes) ----

export interface XfrmEncapTmpl {
  /** __u16 encap_type (0), __be16 encap_sport (2), encap_dport (4); 2 bytes padding; encap_oa (8..24). */
  readonly type: number;
  readonly sport: number;
  readonly dport: number;
  readonly oa: Uint8Array;
}

export function parseEncapTmpl(r: Reader): XfrmEncapTmpl {
  const type = rd16(r);
  const sport = r.u16();
  const dport = r.u16();
  r.skip(2);
  return { type, sport, dport, oa: r.bytes(ADDRESS_LEN) };
}
export function emitEncapTmpl(v: XfrmEncapTmpl, w: Writer): void {
  wr16(w, v.type);
  w.u16(v.sport).u16(v.dport).zeros(2);
  wrAddress(w, v.oa);
}

// ---- struct xfrm_replay_state (12 bytes) and xfrm_replay_state_esn (24 + 4 * bmp_len) ----

export interface XfrmReplayState {
  /** __u32 oseq, seq, bitmap. */
  readonly oseq: number;
  readonly seq: number;
  readonly bitmap: number;
}
export function parseReplayState(r: Reader): XfrmReplayState {
  return { oseq: rd32(r), seq: rd32(r), bitmap: rd32(r) };
}
export function emitReplayState(v: XfrmReplayState, w: Writer): void {
  wr32(w, v.oseq);
  wr32(w, v.seq);
  wr32(w, v.bitmap);
}

export interface XfrmReplayStateEsn {
  /** unsigned int bmp_len (in __u32 words), __u32 oseq, seq, oseq_hi, seq_hi, replay_window, then bmp[]. */
  readonly bmpLen: number;
  readonly oseq: number;
  readonly seq: number;
  readonly oseqHi: number;
  readonly seqHi: number;
  readonly replayWindow: number;
  /** The bitmap words present in the attribute (iproute2 sends none; the kernel reports bmp_len). */
  readonly bmp: readonly number[];
}
export function parseReplayStateEsn(r: Reader): XfrmReplayStateEsn {
  const bmpLen = rd32(r);
  const oseq = rd32(r);
  const seq = rd32(r);
  const oseqHi = rd32(r);
  const seqHi = rd32(r);
  const replayWindow = rd32(r);
  const bmp: number[] = [];
  while (r.remaining >= 4 && bmp.length < bmpLen) bmp.push(rd32(r));
  return { bmpLen, oseq, seq, oseqHi, seqHi, replayWindow, bmp };
}
export function emitReplayStateEsn(v: XfrmReplayStateEsn, w: Writer): void {
  for (const x of [v.bmpLen, v.oseq, v.seq, v.oseqHi, v.seqHi, v.replayWindow, ...v.bmp]) wr32(w, x);
}
export const replayStateEsnLength = (v: XfrmReplayStateEsn): number => REPLAY_ESN_HEADER_LEN + 4 * v.bmp.length;

// ---- netlink attributes (struct nlattr: __u16 nla_len, __u16 nla_type; 4-byte aligned) ----

export interface XfrmAttr {
  /** nla_type as sent (flag bits kept, so the message re-encodes byte for byte). */
  readonly type: number;
  readonly data: Uint8Array;
}

const NLA_HDRLEN = 4;
const NLA_TYPE_MASK = 0x3fff;
const align4 = (n: number): number => (n + 3) & ~3;

export function attrsLength(attrs: readonly XfrmAttr[]): number {
  return attrs.reduce((n, a) => n + align4(NLA_HDRLEN + a.data.length), 0);
}

export function emitAttrs(attrs: readonly XfrmAttr[], w: Writer): void {
  for (const a of attrs) {
    wr16(w, NLA_HDRLEN + a.data.length);
    wr16(w, a.type);
    w.bytes(a.data).zeros(align4(a.data.length) - a.data.length);
  }
}

/** Attributes to the end of the reader; a header that overruns the message is malformed. */
export function parseAttrs(r: Reader): XfrmAttr[] {
  const out: XfrmAttr[] = [];
  while (r.remaining >= NLA_HDRLEN) {
    const at = r.offset;
    const len = rd16(r);
    const type = rd16(r);
    if (len < NLA_HDRLEN) r.fail(`attribute length ${len}`, at);
    const data = r.bytes(len - NLA_HDRLEN);
    r.skip(Math.min(r.remaining, align4(len) - len));
    out.push({ type, data });
  }
  if (r.remaining > 0) r.skip(r.remaining); // fewer than 4 trailing bytes: nla_parse ignores them too
  return out;
}

/** The last attribute of a type (nla_parse keeps the last duplicate). */
export function findAttr(attrs: readonly XfrmAttr[], type: number): Uint8Array | undefined {
  let found: Uint8Array | undefined;
  for (const a of attrs) if ((a.type & NLA_TYPE_MASK) === type) found = a.data;
  return found;
}

/** An attribute whose payload is `value` encoded by its codec. */
export function attr<T>(type: number, value: T, emit: (v: T, w: Writer) => void, length: (v: T) => number): XfrmAttr {
  return { type, data: encode(value, emit, length, PROTOCOL) };
}

/** Parse an attribute payload with its codec. */
export function readAttr<T>(data: Uint8Array, parse: (r: Reader) => T): T {
  return parse(new Reader(data, PROTOCOL));
}

// ---- messages: a fixed struct and its attributes ----

export interface XfrmSaMessage {
  readonly info: XfrmUsersaInfo;
  readonly attrs: readonly XfrmAttr[];
}
export interface XfrmSaIdMessage {
  readonly id: XfrmUsersaId;
  readonly attrs: readonly XfrmAttr[];
}
export interface XfrmPolicyMessage {
  readonly info: XfrmUserpolicyInfo;
  readonly attrs: readonly XfrmAttr[];
}
export interface XfrmPolicyIdMessage {
  readonly id: XfrmUserpolicyId;
  readonly attrs: readonly XfrmAttr[];
}

export function parseSaMessage(r: Reader): XfrmSaMessage {
  return { info: parseUsersaInfo(r), attrs: parseAttrs(r) };
}
export function emitSaMessage(m: XfrmSaMessage, w: Writer): void {
  emitUsersaInfo(m.info, w);
  emitAttrs(m.attrs, w);
}
export const saMessageLength = (m: XfrmSaMessage): number => USERSA_INFO_LEN + attrsLength(m.attrs);

export function parseSaIdMessage(r: Reader): XfrmSaIdMessage {
  return { id: parseUsersaId(r), attrs: parseAttrs(r) };
}
export function emitSaIdMessage(m: XfrmSaIdMessage, w: Writer): void {
  emitUsersaId(m.id, w);
  emitAttrs(m.attrs, w);
}
export const saIdMessageLength = (m: XfrmSaIdMessage): number => USERSA_ID_LEN + attrsLength(m.attrs);

export function parsePolicyMessage(r: Reader): XfrmPolicyMessage {
  return { info: parseUserpolicyInfo(r), attrs: parseAttrs(r) };
}
export function emitPolicyMessage(m: XfrmPolicyMessage, w: Writer): void {
  emitUserpolicyInfo(m.info, w);
  emitAttrs(m.attrs, w);
}
export const policyMessageLength = (m: XfrmPolicyMessage): number => USERPOLICY_INFO_LEN + attrsLength(m.attrs);

export function parsePolicyIdMessage(r: Reader): XfrmPolicyIdMessage {
  return { id: parseUserpolicyId(r), attrs: parseAttrs(r) };
}
export function emitPolicyIdMessage(m: XfrmPolicyIdMessage, w: Writer): void {
  emitUserpolicyId(m.id, w);
  emitAttrs(m.attrs, w);
}
export const policyIdMessageLength = (m: XfrmPolicyIdMessage): number => USERPOLICY_ID_LEN + attrsLength(m.attrs);

/** The bytes of a message payload (after the nlmsghdr). */
export function encodeSaMessage(m: XfrmSaMessage): Uint8Array {
  return encode(m, emitSaMessage, saMessageLength, PROTOCOL);
}
export function encodeSaIdMessage(m: XfrmSaIdMessage): Uint8Array {
  return encode(m, emitSaIdMessage, saIdMessageLength, PROTOCOL);
}
export function encodePolicyMessage(m: XfrmPolicyMessage): Uint8Array {
  return encode(m, emitPolicyMessage, policyMessageLength, PROTOCOL);
}
export function encodePolicyIdMessage(m: XfrmPolicyIdMessage): Uint8Array {
  return encode(m, emitPolicyIdMessage, policyIdMessageLength, PROTOCOL);
}
