/**
 * Capture files: classic pcap (both byte orders, micro- and nanosecond) and
 * pcapng (Section Header, Interface Description, Enhanced and Simple Packet
 * blocks; other blocks are skipped). Pure parsing over a buffer: the caller reads
 * the file. Errors are CaptureError with a stable code.
 */

/** Link types (tcpdump.org linktypes) that the decoder understands. */
export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  /** Some BSDs write 12 for raw IP */
  RAW_BSD: 12,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

export interface CapturedPacket {
  /** 1-based frame number, as Wireshark numbers them. */
  readonly index: number;
  readonly linkType: number;
  /** Seconds since the epoch, with fractional microseconds/nanoseconds. */
  readonly time: number;
  readonly origLength: number;
  readonly data: Uint8Array;
}

export class CaptureError extends Error {
  override readonly name = 'CaptureError';
  constructor(readonly code: 'not-a-capture' | 'truncated' | 'bad-block', message: string) {
    super(message);
  }
}

const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BOM = 0x1a2b3c4d;

/** Parse a whole capture; any defect (not a capture, cut short, bad block) throws CaptureError. */
export function parseCapture(buf: Uint8Array): CapturedPacket[] {
  const r = readCapture(buf);
  if (r.error) throw r.error;
  return r.packets;
}

export interface CaptureRead {
  readonly packets: CapturedPacket[];
  /** Set when the file is not a capture or is defective; packets then holds what came before the defect. */
  readonly error?: CaptureError;
}

/**
 * Parse what can be parsed: a capture that tcpdump is still writing, or that a
 * full disk cut, ends in the middle of a record; its earlier packets are kept
 * beside the error (`dmvpnctl decode` prints them and still exits 2).
 */
export function readCapture(buf: Uint8Array): CaptureRead {
  const out: CapturedPacket[] = [];
  try {
    if (buf.length < 4) throw new CaptureError('not-a-capture', `file is ${buf.length} bytes: too short for a capture header`);
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const be = dv.getUint32(0, false);
    const le = dv.getUint32(0, true);
    if (be === PCAPNG_SHB) parsePcapng(buf, dv, out);
    else if (be === PCAP_MAGIC_US || be === PCAP_MAGIC_NS) parsePcap(buf, dv, false, be === PCAP_MAGIC_NS, out);
    else if (le === PCAP_MAGIC_US || le === PCAP_MAGIC_NS) parsePcap(buf, dv, true, le === PCAP_MAGIC_NS, out);
    else throw new CaptureError('not-a-capture', `unknown magic 0x${be.toString(16).padStart(8, '0')}: not a pcap or pcapng file`);
  } catch (e) {
    if (e instanceof CaptureError) return { packets: out, error: e };
    throw e;
  }
  return { packets: out };
}

function parsePcap(buf: Uint8Array, dv: DataView, little: boolean, nano: boolean, out: CapturedPacket[]): void {
  if (buf.length < 24) throw new CaptureError('truncated', `pcap global header truncated (${buf.length} of 24 bytes)`);
  const linkType = dv.getUint32(20, little) & 0x0fffffff;
  let off = 24;
  while (off < buf.length) {
    if (off + 16 > buf.length) throw new CaptureError('truncated', `packet ${out.length + 1}: record header truncated at byte ${off}`);
    const sec = dv.getUint32(off, little);
    const frac = dv.getUint32(off + 4, little);
    const incl = dv.getUint32(off + 8, little);
    const orig = dv.getUint32(off + 12, little);
    off += 16;
    if (off + incl > buf.length) throw new CaptureError('truncated', `packet ${out.length + 1}: ${incl} bytes announced, ${buf.length - off} present`);
    out.push({ index: out.length + 1, linkType, time: sec + frac / (nano ? 1e9 : 1e6), origLength: orig, data: buf.subarray(off, off + incl) });
    off += incl;
  }
}

interface Iface {
  linkType: number;
  tsDiv: number;
}

function parsePcapng(buf: Uint8Array, dv: DataView, out: CapturedPacket[]): void {
  let ifaces: Iface[] = [];
  let little = true;
  let off = 0;
  while (off < buf.length) {
    if (off + 12 > buf.length) throw new CaptureError('truncated', `pcapng block header truncated at byte ${off}`);
    const typeBE = dv.getUint32(off, false);
    if (typeBE === PCAPNG_SHB) {
      const bom = dv.getUint32(off + 8, true);
      if (bom === PCAPNG_BOM) little = true;
      else if (dv.getUint32(off + 8, false) === PCAPNG_BOM) little = false;
      else throw new CaptureError('bad-block', `pcapng section header at byte ${off}: bad byte-order magic`);
      ifaces = [];
    }
    const type = dv.getUint32(off, little);
    const len = dv.getUint32(off + 4, little);
    if (len < 12 || len % 4 !== 0) throw new CaptureError('bad-block', `pcapng block at byte ${off}: bad length ${len}`);
    if (off + len > buf.length) throw new CaptureError('truncated', `pcapng block at byte ${off}: ${len} bytes announced, ${buf.length - off} present`);
    const body = off + 8;
    const bodyEnd = off + len - 4;
    if (type === 1) {
      // Interface Description Block: link type, reserved, snaplen, options (if_tsresol = 9)
      const linkType = dv.getUint16(body, little);
      let tsDiv = 1e6;
      let o = body + 8;
      while (o + 4 <= bodyEnd) {
        const code = dv.getUint16(o, little);
        const olen = dv.getUint16(o + 2, little);
        if (code === 0) break;
        if (code === 9 && olen >= 1) {
          const v = buf[o + 4];
          tsDiv = v & 0x80 ? 2 ** (v & 0x7f) : 10 ** v;
        }
        o += 4 + ((olen + 3) & ~3);
      }
      ifaces.push({ linkType, tsDiv });
    } else if (type === 6) {
      // Enhanced Packet Block
      if (body + 20 > bodyEnd) throw new CaptureError('bad-block', `pcapng packet block at byte ${off}: too short`);
      const ifId = dv.getUint32(body, little);
      const iface = ifaces[ifId];
      if (!iface) throw new CaptureError('bad-block', `pcapng packet block at byte ${off}: unknown interface ${ifId}`);
      const ts = dv.getUint32(body + 4, little) * 2 ** 32 + dv.getUint32(body + 8, little);
      const cap = dv.getUint32(body + 12, little);
      const orig = dv.getUint32(body + 16, little);
      if (body + 20 + cap > bodyEnd) throw new CaptureError('truncated', `pcapng packet block at byte ${off}: captured length ${cap} exceeds block`);
      out.push({ index: out.length + 1, linkType: iface.linkType, time: ts / iface.tsDiv, origLength: orig, data: buf.subarray(body + 20, body + 20 + cap) });
    } else if (type === 3) {
      // Simple Packet Block: interface 0, no timestamp
      const iface = ifaces[0];
      if (!iface) throw new CaptureError('bad-block', `pcapng simple packet block at byte ${off} before any interface`);
      const orig = dv.getUint32(body, little);
      const cap = Math.min(orig, bodyEnd - body - 4);
      out.push({ index: out.length + 1, linkType: iface.linkType, time: 0, origLength: orig, data: buf.subarray(body + 4, body + 4 + cap) });
    }
    off += len;
  }
}

/** Write a classic little-endian microsecond pcap of the given link type. */
export function writePcap(packets: readonly { data: Uint8Array; time?: number }[], linkType: number = LinkType.RAW): Uint8Array {
  const total = 24 + packets.reduce((n, p) => n + 16 + p.data.length, 0);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, PCAP_MAGIC_US, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setUint32(16, 65535, true);
  dv.setUint32(20, linkType, true);
  let off = 24;
  packets.forEach((p, i) => {
    const t = p.time ?? 1_700_000_000 + i;
    dv.setUint32(off, Math.floor(t), true);
    dv.setUint32(off + 4, Math.round((t % 1) * 1e6), true);
    dv.setUint32(off + 8, p.data.length, true);
    dv.setUint32(off + 12, p.data.length, true);
    out.set(p.data, off + 16);
    off += 16 + p.data.length;
  });
  return out;
}

export interface LinkPayload {
  /** EtherType of the network-layer payload (0x0800 IPv4, 0x86dd IPv6 ...). */
  readonly etherType: number;
  readonly payload: Uint8Array;
}

/**
 * Strip the link layer: Ethernet (with 802.1Q tags), Linux cooked v1/v2, BSD
 * loopback, raw IP. Returns undefined for a link type or frame we cannot strip.
 */
export function stripLink(p: CapturedPacket): LinkPayload | undefined {
  const d = p.data;
  const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
  switch (p.linkType) {
    case LinkType.ETHERNET: {
      if (d.length < 14) return undefined;
      let off = 12;
      let et = dv.getUint16(off);
      while ((et === 0x8100 || et === 0x88a8) && off + 6 <= d.length) {
        off += 4;
        et = dv.getUint16(off);
      }
      return { etherType: et, payload: d.subarray(off + 2) };
    }
    case LinkType.LINUX_SLL:
      if (d.length < 16) return undefined;
      return { etherType: dv.getUint16(14), payload: d.subarray(16) };
    case LinkType.LINUX_SLL2:
      if (d.length < 20) return undefined;
      return { etherType: dv.getUint16(0), payload: d.subarray(20) };
    case LinkType.NULL: {
      if (d.length < 4) return undefined;
      const fam = dv.getUint32(0, true) === 2 || dv.getUint32(0, false) === 2 ? 0x0800 : 0x86dd;
      return { etherType: fam, payload: d.subarray(4) };
    }
    case LinkType.RAW:
    case LinkType.RAW_BSD:
    case LinkType.IPV4:
    case LinkType.IPV6:
      if (d.length < 1) return undefined;
      return { etherType: d[0] >> 4 === 6 ? 0x86dd : 0x0800, payload: d };
    default:
      return undefined;
  }
}
