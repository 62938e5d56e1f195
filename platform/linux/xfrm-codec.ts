/**
 * NETLINK_XFRM message payloads (what follows the nlmsghdr), per include/uapi/linux/xfrm.h, in
 * three files:
 * - here: the constants and the fixed structs (xfrm_selector, xfrm_id, xfrm_lifetime_cfg/_cur,
 *   xfrm_usersa_info, xfrm_usersa_id, xfrm_userpolicy_info, xfrm_userpolicy_id, xfrm_user_tmpl),
 *   each a plain readonly value with parseX(reader) / emitX(value, writer), byte for byte,
 *   padding written as zeros;
 * - xfrm-attrs.ts: the attribute payloads (xfrm_algo, _auth, _aead, xfrm_encap_tmpl, the replay
 *   states), the netlink attribute stream, and whole messages (a struct and its attributes, kept
 *   raw so a message re-encodes byte for byte whatever the kernel adds);
 * - xfrm-messages.ts: translations between those and the port's values (platform/ports.ts).
 *
 * Byte order: netlink is host-endian (RFC 3549 section 2.3.2) except where xfrm.h says __be16 /
 * __be32 (SPI, ports) and the addresses (network order). Layouts are those of x86-64 and every
 * other 64-bit ABI the daemon targets (u64 fields 8-aligned; a 32-bit process on a 64-bit kernel
 * would need xfrm_compat, which we never are). Codecs throw only WireError.
 */
import { endianness } from 'node:os';
import type { Reader, Writer } from '../../protocols/wire/index.js';

/** The protocol name in WireErrors. */
export const PROTOCOL = 'xfrm';
const LE = endianness() === 'LE';

// ---- constants (include/uapi/linux/xfrm.h) ----

/** Message types: enum XFRM_MSG_* from XFRM_MSG_BASE (0x10). */
export const XfrmMsg = {
  NEWSA: 0x10,
  DELSA: 0x11,
  GETSA: 0x12,
  NEWPOLICY: 0x13,
  DELPOLICY: 0x14,
  GETPOLICY: 0x15,
  ALLOCSPI: 0x16,
  ACQUIRE: 0x17,
  EXPIRE: 0x18,
  UPDPOLICY: 0x19,
  UPDSA: 0x1a,
  POLEXPIRE: 0x1b,
  FLUSHSA: 0x1c,
  FLUSHPOLICY: 0x1d,
} as const;

const MSG_NAME: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(XfrmMsg).map(([k, v]) => [v, `XFRM_MSG_${k}`]));

/** "XFRM_MSG_NEWSA" for 0x10 (the `syscall` of a PlatformError). */
export function xfrmMsgName(type: number): string {
  return MSG_NAME[type] ?? `XFRM_MSG_${type}`;
}

/** enum xfrm_attr_type_t; only those we write or read. */
export const XfrmAttrType = {
  ALG_AUTH: 1,
  ALG_CRYPT: 2,
  ALG_COMP: 3,
  ENCAP: 4,
  TMPL: 5,
  SA: 6,
  POLICY: 7,
  LTIME_VAL: 9,
  REPLAY_VAL: 10,
  SRCADDR: 13,
  POLICY_TYPE: 16,
  ALG_AEAD: 18,
  ALG_AUTH_TRUNC: 20,
  MARK: 21,
  REPLAY_ESN_VAL: 23,
  SA_EXTRA_FLAGS: 24,
  IF_ID: 31,
} as const;

/** xfrm_usersa_info.flags: XFRM_STATE_*. */
export const XfrmStateFlag = { NOECN: 1, DECAP_DSCP: 2, NOPMTUDISC: 4, WILDRECV: 8, ICMP: 16, AF_UNSPEC: 32, ALIGN4: 64, ESN: 128 } as const;

/** xfrm_userpolicy_info.action. */
export const XfrmPolicyAction = { ALLOW: 0, BLOCK: 1 } as const;

/** XFRM_INF: "no limit" in struct xfrm_lifetime_cfg. */
export const XFRM_INF = 0xffff_ffff_ffff_ffffn;

// ---- sizes of the fixed structs (x86-64 layout) ----

export const ADDRESS_LEN = 16;
export const SELECTOR_LEN = 56;
export const ID_LEN = 24;
export const LIFETIME_CFG_LEN = 64;
export const LIFETIME_CUR_LEN = 32;
export const STATS_LEN = 12;
export const USERSA_INFO_LEN = 224;
export const USERSA_ID_LEN = 24;
export const USERPOLICY_INFO_LEN = 168;
export const USERPOLICY_ID_LEN = 64;
export const USER_TMPL_LEN = 64;

// ---- host-order helpers on the shared cursors (the wire Reader/Writer are big-endian) ----

export function rd16(r: Reader): number {
  r.need(2);
  const v = r.view.getUint16(r.pos, LE);
  r.pos += 2;
  return v;
}
export function rd32(r: Reader): number {
  r.need(4);
  const v = r.view.getUint32(r.pos, LE);
  r.pos += 4;
  return v;
}
function rdS32(r: Reader): number {
  r.need(4);
  const v = r.view.getInt32(r.pos, LE);
  r.pos += 4;
  return v;
}
export function rd64(r: Reader): bigint {
  r.need(8);
  const v = r.view.getBigUint64(r.pos, LE);
  r.pos += 8;
  return v;
}
export function wr16(w: Writer, v: number): void {
  w.view.setUint16(w.reserve(2), v, LE);
}
export function wr32(w: Writer, v: number): void {
  w.view.setUint32(w.reserve(4), v >>> 0, LE);
}
function wrS32(w: Writer, v: number): void {
  w.view.setInt32(w.reserve(4), v | 0, LE);
}
export function wr64(w: Writer, v: bigint): void {
  w.view.setBigUint64(w.reserve(8), BigInt.asUintN(64, v), LE);
}
/** An xfrm_address_t: 16 bytes, IPv4 in the first 4 (network order). */
export function wrAddress(w: Writer, a: Uint8Array): void {
  const at = w.reserve(ADDRESS_LEN);
  w.buf.set(a.subarray(0, ADDRESS_LEN), at);
}
/** NUL-padded fixed-size char array. */
export function wrName(w: Writer, name: string, size: number): void {
  const at = w.reserve(size);
  w.buf.set(new TextEncoder().encode(name).subarray(0, size - 1), at);
}
export function rdName(r: Reader, size: number): string {
  const b = r.bytes(size);
  const end = b.indexOf(0);
  return new TextDecoder().decode(end < 0 ? b : b.subarray(0, end));
}

// ---- struct xfrm_selector (56 bytes) ----

export interface XfrmSelectorWire {
  /** xfrm_address_t daddr (offset 0) and saddr (16): network order, IPv4 in the first 4 bytes. */
  readonly daddr: Uint8Array;
  readonly saddr: Uint8Array;
  /** __be16 dport, dport_mask, sport, sport_mask (32, 34, 36, 38). */
  readonly dport: number;
  readonly dportMask: number;
  readonly sport: number;
  readonly sportMask: number;
  /** __u16 family (40): AF_INET, or 0 for a state's "any". */
  readonly family: number;
  /** __u8 prefixlen_d (42), prefixlen_s (43), proto (44); 3 bytes padding. */
  readonly prefixlenD: number;
  readonly prefixlenS: number;
  readonly proto: number;
  /** int ifindex (48), __kernel_uid32_t user (52). */
  readonly ifindex: number;
  readonly user: number;
}

export function parseSelectorWire(r: Reader): XfrmSelectorWire {
  const daddr = r.bytes(ADDRESS_LEN);
  const saddr = r.bytes(ADDRESS_LEN);
  const dport = r.u16();
  const dportMask = r.u16();
  const sport = r.u16();
  const sportMask = r.u16();
  const family = rd16(r);
  const prefixlenD = r.u8();
  const prefixlenS = r.u8();
  const proto = r.u8();
  r.skip(3);
  const ifindex = rdS32(r);
  const user = rd32(r);
  return { daddr, saddr, dport, dportMask, sport, sportMask, family, prefixlenD, prefixlenS, proto, ifindex, user };
}

export function emitSelectorWire(s: XfrmSelectorWire, w: Writer): void {
  wrAddress(w, s.daddr);
  wrAddress(w, s.saddr);
  w.u16(s.dport).u16(s.dportMask).u16(s.sport).u16(s.sportMask);
  wr16(w, s.family);
  w.u8(s.prefixlenD).u8(s.prefixlenS).u8(s.proto).zeros(3);
  wrS32(w, s.ifindex);
  wr32(w, s.user);
}

export const selectorWireLength = (_s?: XfrmSelectorWire): number => SELECTOR_LEN;

// ---- struct xfrm_id (24 bytes) ----

export interface XfrmIdWire {
  /** xfrm_address_t daddr (0), __be32 spi (16), __u8 proto (20); 3 bytes padding. */
  readonly daddr: Uint8Array;
  readonly spi: number;
  readonly proto: number;
}

export function parseIdWire(r: Reader): XfrmIdWire {
  const daddr = r.bytes(ADDRESS_LEN);
  const spi = r.u32();
  const proto = r.u8();
  r.skip(3);
  return { daddr, spi, proto };
}

export function emitIdWire(v: XfrmIdWire, w: Writer): void {
  wrAddress(w, v.daddr);
  w.u32(v.spi).u8(v.proto).zeros(3);
}

// ---- struct xfrm_lifetime_cfg (64 bytes) and xfrm_lifetime_cur (32 bytes) ----

export interface XfrmLifetimeCfg {
  /** __u64 soft/hard byte and packet limits; XFRM_INF is none. */
  readonly softByteLimit: bigint;
  readonly hardByteLimit: bigint;
  readonly softPacketLimit: bigint;
  readonly hardPacketLimit: bigint;
  /** __u64 seconds after add / first use; 0 is none. */
  readonly softAddExpiresSeconds: bigint;
  readonly hardAddExpiresSeconds: bigint;
  readonly softUseExpiresSeconds: bigint;
  readonly hardUseExpiresSeconds: bigint;
}

/** No limits: the IKE daemon rekeys and deletes SAs itself (strongSwan and iproute2 send this too). */
export const NO_LIFETIME: XfrmLifetimeCfg = {
  softByteLimit: XFRM_INF,
  hardByteLimit: XFRM_INF,
  softPacketLimit: XFRM_INF,
  hardPacketLimit: XFRM_INF,
  softAddExpiresSeconds: 0n,
  hardAddExpiresSeconds: 0n,
  softUseExpiresSeconds: 0n,
  hardUseExpiresSeconds: 0n,
};

export function parseLifetimeCfg(r: Reader): XfrmLifetimeCfg {
  return {
    softByteLimit: rd64(r),
    hardByteLimit: rd64(r),
    softPacketLimit: rd64(r),
    hardPacketLimit: rd64(r),
    softAddExpiresSeconds: rd64(r),
    hardAddExpiresSeconds: rd64(r),
    softUseExpiresSeconds: rd64(r),
    hardUseExpiresSeconds: rd64(r),
  };
}

export function emitLifetimeCfg(v: XfrmLifetimeCfg, w: Writer): void {
  for (const x of [v.softByteLimit, v.hardByteLimit, v.softPacketLimit, v.hardPacketLimit, v.softAddExpiresSeconds, v.hardAddExpiresSeconds, v.softUseExpiresSeconds, v.hardUseExpiresSeconds]) wr64(w, x);
}

export interface XfrmLifetimeCur {
  /** __u64 bytes, packets, add_time, use_time (seconds since the epoch). */
  readonly bytes: bigint;
  readonly packets: bigint;
  readonly addTime: bigint;
  readonly useTime: bigint;
}

export const ZERO_LIFETIME_CUR: XfrmLifetimeCur = { bytes: 0n, packets: 0n, addTime: 0n, useTime: 0n };

export function parseLifetimeCur(r: Reader): XfrmLifetimeCur {
  return { bytes: rd64(r), packets: rd64(r), addTime: rd64(r), useTime: rd64(r) };
}

export function emitLifetimeCur(v: XfrmLifetimeCur, w: Writer): void {
  for (const x of [v.bytes, v.packets, v.addTime, v.useTime]) wr64(w, x);
}

// ---- struct xfrm_usersa_info (224 bytes) ----

export interface XfrmUsersaInfo {
  /** sel (0..56), id (56..80), saddr (80..96), lft (96..160), curlft (160..192). */
  readonly sel: XfrmSelectorWire;
  readonly id: XfrmIdWire;
  readonly saddr: Uint8Array;
  readonly lft: XfrmLifetimeCfg;
  readonly curlft: XfrmLifetimeCur;
  /** struct xfrm_stats (192..204): __u32 replay_window, replay, integrity_failed. */
  readonly stats: { readonly replayWindow: number; readonly replay: number; readonly integrityFailed: number };
  /** __u32 seq (204), reqid (208). */
  readonly seq: number;
  readonly reqid: number;
  /** __u16 family (212), __u8 mode (214), replay_window (215), flags (216); 7 bytes padding. */
  readonly family: number;
  readonly mode: number;
  readonly replayWindow: number;
  readonly flags: number;
}

export function parseUsersaInfo(r: Reader): XfrmUsersaInfo {
  const sel = parseSelectorWire(r);
  const id = parseIdWire(r);
  const saddr = r.bytes(ADDRESS_LEN);
  const lft = parseLifetimeCfg(r);
  const curlft = parseLifetimeCur(r);
  const stats = { replayWindow: rd32(r), replay: rd32(r), integrityFailed: rd32(r) };
  const seq = rd32(r);
  const reqid = rd32(r);
  const family = rd16(r);
  const mode = r.u8();
  const replayWindow = r.u8();
  const flags = r.u8();
  r.skip(7);
  return { sel, id, saddr, lft, curlft, stats, seq, reqid, family, mode, replayWindow, flags };
}

export function emitUsersaInfo(v: XfrmUsersaInfo, w: Writer): void {
  emitSelectorWire(v.sel, w);
  emitIdWire(v.id, w);
  wrAddress(w, v.saddr);
  emitLifetimeCfg(v.lft, w);
  emitLifetimeCur(v.curlft, w);
  wr32(w, v.stats.replayWindow);
  wr32(w, v.stats.replay);
  wr32(w, v.stats.integrityFailed);
  wr32(w, v.seq);
  wr32(w, v.reqid);
  wr16(w, v.family);
  w.u8(v.mode).u8(v.replayWindow).u8(v.flags).zeros(7);
}

// ---- struct xfrm_usersa_id (24 bytes) ----

export interface XfrmUsersaId {
  /** xfrm_address_t daddr (0), __be32 spi (16), __u16 family (20), __u8 proto (22); 1 byte padding. */
  readonly daddr: Uint8Array;
  readonly spi: number;
  readonly family: number;
  readonly proto: number;
}

export function parseUsersaId(r: Reader): XfrmUsersaId {
  const daddr = r.bytes(ADDRESS_LEN);
  const spi = r.u32();
  const family = rd16(r);
  const proto = r.u8();
  r.skip(1);
  return { daddr, spi, family, proto };
}

export function emitUsersaId(v: XfrmUsersaId, w: Writer): void {
  wrAddress(w, v.daddr);
  w.u32(v.spi);
  wr16(w, v.family);
  w.u8(v.proto).zeros(1);
}

// ---- struct xfrm_userpolicy_info (168 bytes) ----

export interface XfrmUserpolicyInfo {
  /** sel (0..56), lft (56..120), curlft (120..152). */
  readonly sel: XfrmSelectorWire;
  readonly lft: XfrmLifetimeCfg;
  readonly curlft: XfrmLifetimeCur;
  /** __u32 priority (152), index (156). */
  readonly priority: number;
  readonly index: number;
  /** __u8 dir (160), action (161), flags (162), share (163); 4 bytes padding. */
  readonly dir: number;
  readonly action: number;
  readonly flags: number;
  readonly share: number;
}

export function parseUserpolicyInfo(r: Reader): XfrmUserpolicyInfo {
  const sel = parseSelectorWire(r);
  const lft = parseLifetimeCfg(r);
  const curlft = parseLifetimeCur(r);
  const priority = rd32(r);
  const index = rd32(r);
  const dir = r.u8();
  const action = r.u8();
  const flags = r.u8();
  const share = r.u8();
  r.skip(4);
  return { sel, lft, curlft, priority, index, dir, action, flags, share };
}

export function emitUserpolicyInfo(v: XfrmUserpolicyInfo, w: Writer): void {
  emitSelectorWire(v.sel, w);
  emitLifetimeCfg(v.lft, w);
  emitLifetimeCur(v.curlft, w);
  wr32(w, v.priority);
  wr32(w, v.index);
  w.u8(v.dir).u8(v.action).u8(v.flags).u8(v.share).zeros(4);
}

// ---- struct xfrm_userpolicy_id (64 bytes) ----

export interface XfrmUserpolicyId {
  /** sel (0..56), __u32 index (56), __u8 dir (60); 3 bytes padding. */
  readonly sel: XfrmSelectorWire;
  readonly index: number;
  readonly dir: number;
}

export function parseUserpolicyId(r: Reader): XfrmUserpolicyId {
  const sel = parseSelectorWire(r);
  const index = rd32(r);
  const dir = r.u8();
  r.skip(3);
  return { sel, index, dir };
}

export function emitUserpolicyId(v: XfrmUserpolicyId, w: Writer): void {
  emitSelectorWire(v.sel, w);
  wr32(w, v.index);
  w.u8(v.dir).zeros(3);
}

// ---- struct xfrm_user_tmpl (64 bytes): XFRMA_TMPL carries one or more ----

export interface XfrmUserTmpl {
  /** id (0..24); __u16 family (24), 2 bytes padding; saddr (28..44); __u32 reqid (44). */
  readonly id: XfrmIdWire;
  readonly family: number;
  readonly saddr: Uint8Array;
  readonly reqid: number;
  /** __u8 mode (48), share (49), optional (50); 1 byte padding. */
  readonly mode: number;
  readonly share: number;
  readonly optional: number;
  /** __u32 aalgos (52), ealgos (56), calgos (60): bitmaps of acceptable algorithms (~0: any). */
  readonly aalgos: number;
  readonly ealgos: number;
  readonly calgos: number;
}

export function parseUserTmpl(r: Reader): XfrmUserTmpl {
  const id = parseIdWire(r);
  const family = rd16(r);
  r.skip(2);
  const saddr = r.bytes(ADDRESS_LEN);
  const reqid = rd32(r);
  const mode = r.u8();
  const share = r.u8();
  const optional = r.u8();
  r.skip(1);
  return { id, family, saddr, reqid, mode, share, optional, aalgos: rd32(r), ealgos: rd32(r), calgos: rd32(r) };
}

export function emitUserTmpl(v: XfrmUserTmpl, w: Writer): void {
  emitIdWire(v.id, w);
  wr16(w, v.family);
  w.zeros(2);
  wrAddress(w, v.saddr);
  wr32(w, v.reqid);
  w.u8(v.mode).u8(v.share).u8(v.optional).zeros(1);
  wr32(w, v.aalgos);
  wr32(w, v.ealgos);
  wr32(w, v.calgos);
}

/** The payload of XFRMA_TMPL: templates back to back (a partial one is malformed). */
export function parseTemplates(r: Reader): XfrmUserTmpl[] {
  const out: XfrmUserTmpl[] = [];
  if (r.remaining % USER_TMPL_LEN !== 0) r.fail(`XFRMA_TMPL of ${r.remaining} bytes is not a whole number of templates`);
  while (r.remaining > 0) out.push(parseUserTmpl(r));
  return out;
}
