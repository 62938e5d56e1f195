/**
 * nfnetlink_log messages (NETLINK_NETFILTER, subsystem NFNL_SUBSYS_ULOG): the packets the
 * kernel copies to a log group (NFULNL_MSG_PACKET) and the configuration a listener sends to
 * bind a group (NFULNL_MSG_CONFIG). Layouts from include/uapi/linux/netfilter/nfnetlink_log.h
 * and nfnetlink.h; what the kernel puts in them from net/netfilter/nfnetlink_log.c
 * (__build_packet_message, nfulnl_recv_config).
 *
 * Wire rules (the "RFC" here is the uapi header):
 * - A message is `struct nfgenmsg` (family u8, version u8, res_id __be16 = the group) followed
 *   by netlink attributes. Attribute headers (nla_len, nla_type) are host-endian like all
 *   netlink headers (RFC 3549 section 2.3.2); each attribute is padded to 4 bytes.
 * - Every number *inside* an nflog attribute is big-endian: ifindexes, mark, uid, gid, seq are
 *   __be32 (nla_put_be32), HWTYPE/HWLEN are __be16, the timestamp is two __be64, and the
 *   configuration values NFULA_CFG_NLBUFSIZ/TIMEOUT/QTHRESH (__be32), FLAGS (__be16) and the
 *   mode's copy_range (__be32) are read with nla_get_be32/ntohl by the kernel.
 *
 * What the link-layer attributes carry (worth knowing for DMVPN):
 * - NFULA_HWADDR (struct nfulnl_msg_packet_hw: __be16 hw_addrlen, 2 pad, hw_addr[8]) is only
 *   present for packets with an input device and a MAC header (indev, skb_mac_header_len != 0):
 *   the kernel fills it with dev_parse_header(). On Ethernet that is the source MAC; on an ip_gre
 *   device with header_ops (a multipoint tunnel: no remote) ipgre_header_parse() returns the
 *   outer IPv4 *source*, so on the FORWARD hook of a hub it is the NBMA address of the spoke
 *   that sent the hairpinned packet. Outgoing packets (OUTPUT hook, no indev) never carry it.
 * - NFULA_HWHEADER is the device's hard_header_len bytes at the MAC header (with HWTYPE and
 *   HWLEN), again only with an input device. On a multipoint ip_gre device the MAC header is the
 *   received outer IPv4 header followed by the GRE header, so bytes 12..15 are the same source.
 *
 * Codec shape (DESIGN.md): readonly value types, parseX(reader) / emitX(value, writer) /
 * xLength(value); only WireError is thrown; attributes this module does not model are kept
 * in `others` so a message re-encodes byte for byte. decodeNflogMessage() is the never-throwing
 * entry the listener uses: it turns anything malformed into a drop reason.
 */
import { endianness } from 'node:os';
import { Reader, WireError, Writer, ipv4ToString } from '../../protocols/wire/index.js';

const LITTLE = endianness() === 'LE';
const PROTOCOL = 'nflog';

/** NFNL_SUBSYS_ULOG (nfnetlink.h); a message type is subsystem << 8 | message. */
export const NFNL_SUBSYS_ULOG = 4;
/** NFNETLINK_V0: the only nfgenmsg version. */
export const NFNETLINK_V0 = 0;
/** NETLINK_NETFILTER, the netlink protocol number (include/uapi/linux/netlink.h). */
export const NETLINK_NETFILTER = 12;

/** nfulnl_msg_types (nfnetlink_log.h), as full netlink message types. */
export const NflogMsgType = {
  /** NFULNL_MSG_PACKET: a logged packet, kernel to user space. */
  PACKET: (NFNL_SUBSYS_ULOG << 8) | 0,
  /** NFULNL_MSG_CONFIG: bind/unbind a group and set its parameters. */
  CONFIG: (NFNL_SUBSYS_ULOG << 8) | 1,
} as const;

/** Netlink control messages (include/uapi/linux/netlink.h) that may share the socket. */
export const NlmsgType = { NOOP: 1, ERROR: 2, DONE: 3, OVERRUN: 4 } as const;

/** enum nfulnl_attr_type (nfnetlink_log.h): attributes of NFULNL_MSG_PACKET. */
export const NfulaAttr = {
  PACKET_HDR: 1,
  MARK: 2,
  TIMESTAMP: 3,
  IFINDEX_INDEV: 4,
  IFINDEX_OUTDEV: 5,
  IFINDEX_PHYSINDEV: 6,
  IFINDEX_PHYSOUTDEV: 7,
  HWADDR: 8,
  PAYLOAD: 9,
  PREFIX: 10,
  UID: 11,
  SEQ: 12,
  SEQ_GLOBAL: 13,
  GID: 14,
  HWTYPE: 15,
  HWHEADER: 16,
  HWLEN: 17,
  CT: 18,
  CT_INFO: 19,
  VLAN: 20,
  L2HDR: 21,
} as const;

/** enum nfulnl_attr_config (nfnetlink_log.h): attributes of NFULNL_MSG_CONFIG. */
export const NfulaCfg = {
  CMD: 1,
  MODE: 2,
  NLBUFSIZ: 3,
  /** Flush timeout in 1/100 s. */
  TIMEOUT: 4,
  QTHRESH: 5,
  FLAGS: 6,
} as const;

/** enum nfulnl_msg_config_cmds (nfnetlink_log.h). */
export const NflogCmd = {
  NONE: 0,
  BIND: 1,
  UNBIND: 2,
  /** Only kernels before 3.17 needed PF_BIND for the legacy per-family logger; nft's `log group` does not. */
  PF_BIND: 3,
  PF_UNBIND: 4,
} as const;

/** NFULNL_COPY_* (nfnetlink_log.h). */
export const NflogCopyMode = { NONE: 0, META: 1, PACKET: 2 } as const;

/** NFULNL_CFG_F_* (nfnetlink_log.h). */
export const NflogCfgFlag = { SEQ: 0x0001, SEQ_GLOBAL: 0x0002, CONNTRACK: 0x0004 } as const;

/** enum nf_inet_hooks (include/uapi/linux/netfilter.h): `hook` of a logged packet. */
export const NfInetHook = { PRE_ROUTING: 0, LOCAL_IN: 1, FORWARD: 2, LOCAL_OUT: 3, POST_ROUTING: 4 } as const;

/** ARPHRD_* (include/uapi/linux/if_arp.h) that show up in NFULA_HWTYPE here. */
export const Arphrd = { ETHER: 1, IPGRE: 778, NONE: 0xfffe } as const;

/** Largest copy range the kernel accepts (NFULNL_COPY_RANGE_MAX = 0xffff - NLA_HDRLEN). */
export const NFLOG_COPY_RANGE_MAX = 0xffff - 4;

const HOOK_NAMES: Readonly<Record<number, string>> = { 0: 'prerouting', 1: 'input', 2: 'forward', 3: 'output', 4: 'postrouting' };

/** "forward" for 2, as nft names the hooks; "hook N" otherwise. */
export function hookName(hook: number): string {
  return HOOK_NAMES[hook] ?? `hook ${hook}`;
}

/** An attribute this codec does not model, kept as it came (type with its flag bits). */
export interface NetlinkAttribute {
  readonly type: number;
  readonly value: Uint8Array;
}

/** struct nfulnl_msg_packet_timestamp: two __be64 (seconds, microseconds). */
export interface NflogTimestamp {
  readonly sec: bigint;
  readonly usec: bigint;
}

/** One logged packet: nfgenmsg plus its attributes. */
export interface NflogPacket {
  /** nfgen_family: NFPROTO_IPV4 (2) for an `ip` table. */
  readonly family: number;
  /** The log group (nfgenmsg res_id). */
  readonly group: number;
  /** NFULA_PACKET_HDR hw_protocol: skb->protocol, an ethertype (0x0800 for IPv4). */
  readonly hwProtocol: number;
  /** NFULA_PACKET_HDR hook: NfInetHook. */
  readonly hook: number;
  /** NFULA_PREFIX: the rule's `log prefix`, without its NUL. */
  readonly prefix?: string;
  /** NFULA_IFINDEX_INDEV / OUTDEV: ifindexes. */
  readonly indev?: number;
  readonly outdev?: number;
  readonly mark?: number;
  /** NFULA_HWADDR's first hw_addrlen bytes: source MAC on Ethernet; outer IPv4 source on ip_gre. */
  readonly hwAddr?: Uint8Array;
  /** NFULA_HWTYPE: ARPHRD_* of the input device. */
  readonly hwType?: number;
  /** NFULA_HWLEN: the input device's hard_header_len. */
  readonly hwLen?: number;
  /** NFULA_HWHEADER: hard_header_len bytes at the MAC header (outer IPv4 + GRE on ip_gre). */
  readonly hwHeader?: Uint8Array;
  readonly timestamp?: NflogTimestamp;
  /** NFULA_UID / GID: owner of the sending socket (locally generated packets). */
  readonly uid?: number;
  readonly gid?: number;
  /** NFULA_SEQ / SEQ_GLOBAL: only with NFULNL_CFG_F_SEQ / _GLOBAL. */
  readonly seq?: number;
  readonly seqGlobal?: number;
  /** NFULA_PAYLOAD: the packet from its network header, cut at the copy range / snaplen. Empty when absent. */
  readonly payload: Uint8Array;
  /** Attributes not modelled above (PHYSINDEV, CT, VLAN, L2HDR ...), in arrival order. */
  readonly others?: readonly NetlinkAttribute[];
}

/** NFULNL_MSG_CONFIG for one group: a command and/or parameters. */
export interface NflogConfig {
  /** nfgen_family: AF_UNSPEC (0) for group commands. */
  readonly family?: number;
  readonly group: number;
  readonly command?: number;
  readonly copyMode?: number;
  readonly copyRange?: number;
  readonly bufferSize?: number;
  /** Flush timeout in 1/100 s. */
  readonly timeout?: number;
  readonly queueThreshold?: number;
  readonly flags?: number;
}

const NLA_HDRLEN = 4;
const NLA_TYPE_MASK = 0x3fff; // without NLA_F_NESTED and NLA_F_NET_BYTEORDER
const NFGENMSG_LEN = 4;
const HWADDR_LEN = 12; // struct nfulnl_msg_packet_hw
const HWADDR_MAX = 8;
const MODE_LEN = 6; // struct nfulnl_msg_config_mode, packed

const align4 = (n: number): number => (n + 3) & ~3;
const attrSize = (valueLength: number): number => align4(NLA_HDRLEN + valueLength);

// ---- attribute framing ----

interface RawAttr {
  readonly type: number;
  readonly value: Reader;
  readonly offset: number;
}

/** The attribute stream of a reader's remaining bytes. Trailing padding of the last one may be missing. */
function readAttrs(r: Reader): RawAttr[] {
  const out: RawAttr[] = [];
  while (r.remaining > 0) {
    const offset = r.offset;
    r.need(NLA_HDRLEN, 'truncated attribute header');
    const len = r.view.getUint16(r.pos, LITTLE);
    const type = r.view.getUint16(r.pos + 2, LITTLE);
    if (len < NLA_HDRLEN) r.fail('bad attribute length', offset);
    r.pos += NLA_HDRLEN;
    const value = r.sub(len - NLA_HDRLEN);
    r.skip(Math.min(align4(len) - len, r.remaining));
    out.push({ type, value, offset });
  }
  return out;
}

function fixed(a: RawAttr, n: number, what: string): Reader {
  if (a.value.length !== n) throw new WireError(PROTOCOL, `${what}: ${a.value.length} bytes, expected ${n}`, a.offset);
  return a.value;
}

function putAttr(w: Writer, type: number, valueLength: number, body: (w: Writer) => void): void {
  const at = w.reserve(NLA_HDRLEN); // bounds-checked, then filled host-endian
  w.view.setUint16(at, NLA_HDRLEN + valueLength, LITTLE);
  w.view.setUint16(at + 2, type, LITTLE);
  body(w);
  w.zeros(attrSize(valueLength) - NLA_HDRLEN - valueLength);
}

// ---- NFULNL_MSG_PACKET ----

export function parseNflogPacket(r: Reader): NflogPacket {
  r.need(NFGENMSG_LEN, 'truncated nfgenmsg');
  const family = r.u8();
  const version = r.u8();
  if (version !== NFNETLINK_V0) r.fail(`nfnetlink version ${version}`, 1);
  const group = r.u16();
  let hdr: { hwProtocol: number; hook: number } | undefined;
  const p: {
    -readonly [K in keyof NflogPacket]?: NflogPacket[K];
  } = {};
  let payload: Uint8Array = new Uint8Array(0);
  const others: NetlinkAttribute[] = [];
  for (const a of readAttrs(r)) {
    switch (a.type & NLA_TYPE_MASK) {
      case NfulaAttr.PACKET_HDR: {
        const v = fixed(a, 4, 'NFULA_PACKET_HDR');
        hdr = { hwProtocol: v.u16(), hook: v.u8() };
        break;
      }
      case NfulaAttr.PREFIX: {
        const b = a.value.rest();
        const end = b.indexOf(0);
        p.prefix = new TextDecoder().decode(end < 0 ? b : b.subarray(0, end));
        break;
      }
      case NfulaAttr.IFINDEX_INDEV:
        p.indev = fixed(a, 4, 'NFULA_IFINDEX_INDEV').u32();
        break;
      case NfulaAttr.IFINDEX_OUTDEV:
        p.outdev = fixed(a, 4, 'NFULA_IFINDEX_OUTDEV').u32();
        break;
      case NfulaAttr.MARK:
        p.mark = fixed(a, 4, 'NFULA_MARK').u32();
        break;
      case NfulaAttr.HWADDR: {
        const v = fixed(a, HWADDR_LEN, 'NFULA_HWADDR');
        const n = v.u16();
        if (n > HWADDR_MAX) throw new WireError(PROTOCOL, `NFULA_HWADDR hw_addrlen ${n} > ${HWADDR_MAX}`, a.offset + NLA_HDRLEN);
        v.skip(2);
        p.hwAddr = v.bytes(n);
        break;
      }
      case NfulaAttr.HWTYPE:
        p.hwType = fixed(a, 2, 'NFULA_HWTYPE').u16();
        break;
      case NfulaAttr.HWLEN:
        p.hwLen = fixed(a, 2, 'NFULA_HWLEN').u16();
        break;
      case NfulaAttr.HWHEADER:
        p.hwHeader = a.value.rest();
        break;
      case NfulaAttr.TIMESTAMP: {
        const v = fixed(a, 16, 'NFULA_TIMESTAMP');
        p.timestamp = { sec: v.u64(), usec: v.u64() };
        break;
      }
      case NfulaAttr.UID:
        p.uid = fixed(a, 4, 'NFULA_UID').u32();
        break;
      case NfulaAttr.GID:
        p.gid = fixed(a, 4, 'NFULA_GID').u32();
        break;
      case NfulaAttr.SEQ:
        p.seq = fixed(a, 4, 'NFULA_SEQ').u32();
        break;
      case NfulaAttr.SEQ_GLOBAL:
        p.seqGlobal = fixed(a, 4, 'NFULA_SEQ_GLOBAL').u32();
        break;
      case NfulaAttr.PAYLOAD:
        payload = a.value.rest();
        break;
      default:
        others.push({ type: a.type, value: a.value.rest() });
    }
  }
  // __build_packet_message always puts the header first; without it there is no hook to act on.
  if (!hdr) r.fail('no NFULA_PACKET_HDR', NFGENMSG_LEN);
  return { family, group, hwProtocol: hdr.hwProtocol, hook: hdr.hook, ...p, payload, ...(others.length ? { others } : {}) };
}

/** Attribute order of __build_packet_message, so what the kernel sent re-encodes byte for byte. */
export function nflogPacketLength(p: NflogPacket): number {
  let n = NFGENMSG_LEN + attrSize(4);
  if (p.prefix !== undefined) n += attrSize(utf8(p.prefix).length + 1);
  for (const v of [p.indev, p.outdev, p.mark]) if (v !== undefined) n += attrSize(4);
  if (p.hwAddr !== undefined) n += attrSize(HWADDR_LEN);
  if (p.hwType !== undefined) n += attrSize(2);
  if (p.hwLen !== undefined) n += attrSize(2);
  if (p.hwHeader !== undefined) n += attrSize(p.hwHeader.length);
  if (p.timestamp !== undefined) n += attrSize(16);
  for (const v of [p.uid, p.gid, p.seq, p.seqGlobal]) if (v !== undefined) n += attrSize(4);
  for (const o of p.others ?? []) n += attrSize(o.value.length);
  if (p.payload.length > 0) n += attrSize(p.payload.length);
  return n;
}

export function emitNflogPacket(p: NflogPacket, w: Writer): void {
  w.u8(p.family).u8(NFNETLINK_V0).u16(p.group);
  putAttr(w, NfulaAttr.PACKET_HDR, 4, (x) => x.u16(p.hwProtocol).u8(p.hook).u8(0));
  if (p.prefix !== undefined) {
    const b = utf8(p.prefix);
    putAttr(w, NfulaAttr.PREFIX, b.length + 1, (x) => x.bytes(b).u8(0));
  }
  const u32 = (type: number, v: number | undefined): void => {
    if (v !== undefined) putAttr(w, type, 4, (x) => x.u32(v));
  };
  u32(NfulaAttr.IFINDEX_INDEV, p.indev);
  u32(NfulaAttr.IFINDEX_OUTDEV, p.outdev);
  u32(NfulaAttr.MARK, p.mark);
  if (p.hwAddr !== undefined) {
    const a = p.hwAddr;
    if (a.length > HWADDR_MAX) throw new WireError(PROTOCOL, `hwAddr of ${a.length} bytes > ${HWADDR_MAX}`, w.pos);
    putAttr(w, NfulaAttr.HWADDR, HWADDR_LEN, (x) => x.u16(a.length).u16(0).bytes(a).zeros(HWADDR_MAX - a.length));
  }
  if (p.hwType !== undefined) putAttr(w, NfulaAttr.HWTYPE, 2, (x) => x.u16(p.hwType!));
  if (p.hwLen !== undefined) putAttr(w, NfulaAttr.HWLEN, 2, (x) => x.u16(p.hwLen!));
  if (p.hwHeader !== undefined) putAttr(w, NfulaAttr.HWHEADER, p.hwHeader.length, (x) => x.bytes(p.hwHeader!));
  if (p.timestamp !== undefined) putAttr(w, NfulaAttr.TIMESTAMP, 16, (x) => x.u64(p.timestamp!.sec).u64(p.timestamp!.usec));
  u32(NfulaAttr.UID, p.uid);
  u32(NfulaAttr.GID, p.gid);
  u32(NfulaAttr.SEQ, p.seq);
  u32(NfulaAttr.SEQ_GLOBAL, p.seqGlobal);
  for (const o of p.others ?? []) putAttr(w, o.type, o.value.length, (x) => x.bytes(o.value));
  if (p.payload.length > 0) putAttr(w, NfulaAttr.PAYLOAD, p.payload.length, (x) => x.bytes(p.payload));
}

// ---- NFULNL_MSG_CONFIG ----

export function nflogConfigLength(c: NflogConfig): number {
  let n = NFGENMSG_LEN;
  if (c.command !== undefined) n += attrSize(1);
  if (c.copyMode !== undefined) n += attrSize(MODE_LEN);
  for (const v of [c.bufferSize, c.timeout, c.queueThreshold]) if (v !== undefined) n += attrSize(4);
  if (c.flags !== undefined) n += attrSize(2);
  return n;
}

/** Attribute order follows nfulnl_recv_config's processing order (command first). */
export function emitNflogConfig(c: NflogConfig, w: Writer): void {
  w.u8(c.family ?? 0).u8(NFNETLINK_V0).u16(c.group);
  if (c.command !== undefined) putAttr(w, NfulaCfg.CMD, 1, (x) => x.u8(c.command!));
  if (c.copyMode !== undefined) putAttr(w, NfulaCfg.MODE, MODE_LEN, (x) => x.u32(c.copyRange ?? 0).u8(c.copyMode!).u8(0));
  if (c.bufferSize !== undefined) putAttr(w, NfulaCfg.NLBUFSIZ, 4, (x) => x.u32(c.bufferSize!));
  if (c.timeout !== undefined) putAttr(w, NfulaCfg.TIMEOUT, 4, (x) => x.u32(c.timeout!));
  if (c.queueThreshold !== undefined) putAttr(w, NfulaCfg.QTHRESH, 4, (x) => x.u32(c.queueThreshold!));
  if (c.flags !== undefined) putAttr(w, NfulaCfg.FLAGS, 2, (x) => x.u16(c.flags!));
}

export function parseNflogConfig(r: Reader): NflogConfig {
  r.need(NFGENMSG_LEN, 'truncated nfgenmsg');
  const family = r.u8();
  const version = r.u8();
  if (version !== NFNETLINK_V0) r.fail(`nfnetlink version ${version}`, 1);
  const c: { -readonly [K in keyof NflogConfig]: NflogConfig[K] } = { family, group: r.u16() };
  for (const a of readAttrs(r)) {
    switch (a.type & NLA_TYPE_MASK) {
      case NfulaCfg.CMD:
        c.command = fixed(a, 1, 'NFULA_CFG_CMD').u8();
        break;
      case NfulaCfg.MODE: {
        const v = fixed(a, MODE_LEN, 'NFULA_CFG_MODE');
        c.copyRange = v.u32();
        c.copyMode = v.u8();
        break;
      }
      case NfulaCfg.NLBUFSIZ:
        c.bufferSize = fixed(a, 4, 'NFULA_CFG_NLBUFSIZ').u32();
        break;
      case NfulaCfg.TIMEOUT:
        c.timeout = fixed(a, 4, 'NFULA_CFG_TIMEOUT').u32();
        break;
      case NfulaCfg.QTHRESH:
        c.queueThreshold = fixed(a, 4, 'NFULA_CFG_QTHRESH').u32();
        break;
      case NfulaCfg.FLAGS:
        c.flags = fixed(a, 2, 'NFULA_CFG_FLAGS').u16();
        break;
      default:
        a.value.fail(`unknown config attribute ${a.type}`, 0);
    }
  }
  return c;
}

// ---- the receive entry ----

export type NflogDecoded =
  | { readonly kind: 'packet'; readonly packet: NflogPacket }
  /** NLMSG_DONE / NOOP / ERROR (ACKs): framing, nothing to deliver. */
  | { readonly kind: 'control' }
  | { readonly kind: 'drop'; readonly reason: string; readonly error?: WireError };

/**
 * One netlink message (type and payload after nlmsghdr) from an nflog socket. Never throws:
 * a malformed packet message becomes a drop with the WireError's reason (the counter key).
 */
export function decodeNflogMessage(type: number, data: Uint8Array): NflogDecoded {
  if (type === NflogMsgType.PACKET) {
    try {
      return { kind: 'packet', packet: parseNflogPacket(new Reader(data, PROTOCOL)) };
    } catch (e) {
      if (e instanceof WireError) return { kind: 'drop', reason: e.reason, error: e };
      return { kind: 'drop', reason: 'decoder failure' };
    }
  }
  if (type === NlmsgType.DONE || type === NlmsgType.NOOP || type === NlmsgType.ERROR) return { kind: 'control' };
  return { kind: 'drop', reason: `unexpected message type 0x${type.toString(16)}` };
}

/**
 * The NBMA address of the peer that sent a packet received on a multipoint ip_gre device: the
 * outer IPv4 source, from NFULA_HWADDR (ipgre_header_parse) or, failing that, from the outer
 * header in NFULA_HWHEADER. Undefined for packets that did not come in on an ip_gre device
 * (outgoing ones, Ethernet).
 */
export function greOuterSource(p: NflogPacket): string | undefined {
  if (p.hwType !== undefined && p.hwType !== Arphrd.IPGRE) return undefined;
  if (p.hwAddr && p.hwAddr.length === 4) return ipv4ToString(p.hwAddr);
  const h = p.hwHeader;
  if (p.hwType === Arphrd.IPGRE && h && h.length >= 20 && h[0] >> 4 === 4) return ipv4ToString(h, 12);
  return undefined;
}

const encoder = new TextEncoder();
function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}
