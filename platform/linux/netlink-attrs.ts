/**
 * The netlink attributes the `netlink` package leaves as raw bytes: IFLA_LINKINFO with its
 * IFLA_INFO_KIND / IFLA_INFO_DATA, and the ip_gre parameters (IFLA_GRE_*) inside it.
 *
 * The package's own `formatGre` writes keys, flags and addresses in host byte order, but the
 * kernel reads IFLA_GRE_IKEY/OKEY and IFLA_GRE_LOCAL/REMOTE as __be32 and IFLA_GRE_I/OFLAGS as
 * __be16 (net/ipv4/ip_gre.c, ipgre_netlink_parms), so the encoding is done here. Attribute
 * headers and plain integers are host-endian, as everywhere in netlink (RFC 3549 section 2.3.2).
 * Nests carry no NLA_F_NESTED bit, like iproute2's addattr_nest.
 */
import { endianness } from 'node:os';
import type { GreLinkSpec, GreParams } from '../ports.js';
import { ipv4, ipv4Text } from '../netlink-values.js';

const LITTLE = endianness() === 'LE';
const NLA_HDRLEN = 4;
const NLA_TYPE_MASK = 0x3fff; // drops NLA_F_NESTED and NLA_F_NET_BYTEORDER

/** IFLA_INFO_* (include/uapi/linux/if_link.h). */
export const IflaInfo = { KIND: 1, DATA: 2 } as const;

/** IFLA_GRE_* (include/uapi/linux/if_tunnel.h); only those we write or read. */
export const IflaGre = {
  LINK: 1,
  IFLAGS: 2,
  OFLAGS: 3,
  IKEY: 4,
  OKEY: 5,
  LOCAL: 6,
  REMOTE: 7,
  TTL: 8,
  TOS: 9,
  PMTUDISC: 10,
  IGNORE_DF: 19,
} as const;

/** GRE_KEY as it sits in the 16-bit GRE flags word (include/uapi/linux/if_tunnel.h; RFC 2890
 * section 2: the K bit). Carried big-endian in IFLA_GRE_IFLAGS/OFLAGS. */
export const GRE_KEY_FLAG = 0x2000;

const align4 = (n: number): number => (n + 3) & ~3;

export function nlattr(type: number, payload: Uint8Array): Uint8Array {
  const len = NLA_HDRLEN + payload.length;
  const out = new Uint8Array(align4(len));
  const dv = new DataView(out.buffer);
  dv.setUint16(0, len, LITTLE);
  dv.setUint16(2, type, LITTLE);
  out.set(payload, NLA_HDRLEN);
  return out;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const u8 = (v: number): Uint8Array => Uint8Array.of(v & 0xff);

export function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, LITTLE);
  return b;
}

export function be16(v: number): Uint8Array {
  return Uint8Array.of((v >>> 8) & 0xff, v & 0xff);
}

export function be32(v: number): Uint8Array {
  return Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}

export function cstring(s: string): Uint8Array {
  return concat([new TextEncoder().encode(s), Uint8Array.of(0)]);
}

/** Split an attribute stream; a later duplicate wins (as nla_parse does). Stops at a bad header. */
export function parseAttrs(buf: Uint8Array): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = 0;
  while (at + NLA_HDRLEN <= buf.length) {
    const len = dv.getUint16(at, LITTLE);
    const type = dv.getUint16(at + 2, LITTLE) & NLA_TYPE_MASK;
    if (len < NLA_HDRLEN || at + len > buf.length) break;
    out.set(type, buf.subarray(at + NLA_HDRLEN, at + len));
    at += align4(len);
  }
  return out;
}

function readU32(b: Uint8Array | undefined): number | undefined {
  if (!b || b.length < 4) return undefined;
  return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, LITTLE);
}

function readBe16(b: Uint8Array | undefined): number {
  return b && b.length >= 2 ? (b[0] << 8) | b[1] : 0;
}

function readBe32(b: Uint8Array | undefined): number | undefined {
  return b && b.length >= 4 ? ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0 : undefined;
}

/** Payload of IFLA_LINKINFO for a device with no parameters: just IFLA_INFO_KIND. */
export function simpleLinkInfo(kind: string): Uint8Array {
  return nlattr(IflaInfo.KIND, cstring(kind));
}

/**
 * Payload of IFLA_LINKINFO for a multipoint ip_gre device: kind "gre" and IFLA_INFO_DATA with
 * the key in both directions (GRE_KEY in i/oflags, RFC 2890 key), the tunnel source, TTL, TOS
 * and PMTU discovery. No IFLA_GRE_REMOTE: a remote of any (0) makes the device NBMA, which is
 * what lets neighbour entries carry the NBMA address per overlay address.
 */
export function greLinkInfo(spec: GreLinkSpec, underlayIndex?: number): Uint8Array {
  const data: Uint8Array[] = [];
  if (underlayIndex !== undefined) data.push(nlattr(IflaGre.LINK, u32(underlayIndex)));
  if (spec.key !== undefined) {
    data.push(nlattr(IflaGre.IKEY, be32(spec.key)));
    data.push(nlattr(IflaGre.OKEY, be32(spec.key)));
    data.push(nlattr(IflaGre.IFLAGS, be16(GRE_KEY_FLAG)));
    data.push(nlattr(IflaGre.OFLAGS, be16(GRE_KEY_FLAG)));
  }
  if (spec.local !== undefined) {
    const local = ipv4(spec.local);
    if (local) data.push(nlattr(IflaGre.LOCAL, local));
  }
  data.push(nlattr(IflaGre.PMTUDISC, u8(spec.pmtudisc === false ? 0 : 1)));
  if (spec.ignoreDf) data.push(nlattr(IflaGre.IGNORE_DF, u8(1)));
  data.push(nlattr(IflaGre.TOS, u8(spec.tos ?? 0)));
  data.push(nlattr(IflaGre.TTL, u8(spec.ttl ?? 0)));
  return concat([nlattr(IflaInfo.KIND, cstring('gre')), nlattr(IflaInfo.DATA, concat(data))]);
}

export function parseGreData(data: Uint8Array): GreParams {
  const a = parseAttrs(data);
  const iflags = readBe16(a.get(IflaGre.IFLAGS));
  const keyed = (iflags & GRE_KEY_FLAG) !== 0;
  const local = a.get(IflaGre.LOCAL);
  const remote = a.get(IflaGre.REMOTE);
  const link = readU32(a.get(IflaGre.LINK));
  const nonZero = (b: Uint8Array | undefined): b is Uint8Array => b !== undefined && b.length === 4 && b.some((x) => x !== 0);
  return {
    ...(keyed ? { key: readBe32(a.get(IflaGre.IKEY)) ?? 0 } : {}),
    ...(nonZero(local) ? { local: ipv4Text(local) } : {}),
    ...(nonZero(remote) ? { remote: ipv4Text(remote) } : {}),
    ttl: a.get(IflaGre.TTL)?.[0] ?? 0,
    tos: a.get(IflaGre.TOS)?.[0] ?? 0,
    pmtudisc: (a.get(IflaGre.PMTUDISC)?.[0] ?? 1) !== 0,
    ...((a.get(IflaGre.IGNORE_DF)?.[0] ?? 0) !== 0 ? { ignoreDf: true } : {}),
    ...(link ? { underlay: link } : {}),
  };
}

/** Kind (and GRE parameters) from an IFLA_LINKINFO payload. */
export function parseLinkInfo(payload: Uint8Array): { kind?: string; gre?: GreParams } {
  const a = parseAttrs(payload);
  const k = a.get(IflaInfo.KIND);
  if (!k) return {};
  const end = k.indexOf(0);
  const kind = new TextDecoder().decode(end < 0 ? k : k.subarray(0, end));
  const data = a.get(IflaInfo.DATA);
  return kind === 'gre' && data ? { kind, gre: parseGreData(data) } : { kind };
}
