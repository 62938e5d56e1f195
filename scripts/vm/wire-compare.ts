/**
 * Compare what two runs of the same DMVPN exchange put on the underlay, packet class by packet
 * class, byte for byte (scripts/vm/same-bytes.ts runs the exchange once per dataplane).
 *
 * Each captured IPv4 datagram is dissected into named byte ranges (fields), outer IPv4 header,
 * GRE header, then the GRE payload (NHRP, or an inner IPv4 datagram carrying EIGRP or ICMP), and
 * classified (NHRP registration request, EIGRP hello, ICMP echo request ...). The few fields whose
 * value legitimately differs between two runs are masked (zeroed) before comparing: each mask is
 * one entry of MASKS below, with the reason it may differ. Every other byte must be identical.
 *
 * Packets are grouped by capture point, class and flow (outer and inner addresses). Within a group
 * every distinct masked form seen in one run must be seen in the other: how many copies of a form
 * each run sent (hellos every 5 s, a retransmission) follows the clock, not the dataplane. A form
 * without a counterpart is diffed against the closest packet of the other run's group, field by
 * field (class, field, offset, both values). A group seen in one run only is a difference too.
 *
 * Pure: bytes in, a report out (no I/O), so host tests can feed it crafted packets.
 */

/** A named byte range of a captured datagram; offsets count from the outer IPv4 header. */
export interface Field {
  readonly name: string;
  readonly offset: number;
  readonly length: number;
}

/**
 * What is masked, and why it may differ between two runs of the same exchange. Nothing else is.
 * (NHRP's and EIGRP's checksums are masked because they cover a masked field; they are checked
 * by Wireshark over both captures instead.)
 */
export const MASKS = {
  /** RFC 6864: the ID of an atomic (DF) datagram only serves reassembly; Linux draws it from a
   * per-destination counter seeded at random, so its value depends on the boot and the traffic before. */
  'outer-ip-id': 'outer IPv4 identification: a per-destination counter with a random seed (RFC 6864)',
  /** The header checksum covers the ID. */
  'outer-ip-checksum': 'outer IPv4 header checksum: covers the identification',
  /** The same for the datagram that GRE carries (the sender's counter, or the kernel's for a raw socket). */
  'inner-ip-id': 'inner IPv4 identification: chosen by the sending stack per datagram (RFC 6864)',
  'inner-ip-checksum': 'inner IPv4 header checksum: covers the identification',
  /** RFC 2332 section 5.2.1: the requester picks it, to match the reply; our NHS client and
   * resolver number requests from a counter, so it depends on how many went before (retries). */
  'nhrp-request-id': 'NHRP request ID: a per-sender counter, so the number of earlier requests',
  /** RFC 2332 section 5.1: ar$chksum covers the whole NHRP packet, the request ID included. */
  'nhrp-checksum': 'NHRP checksum: covers the request ID (and a Traffic Indication\'s masked trigger)',
  /** RFC 7868 section 5: the reliable transport's counters depend on how many reliable packets
   * (and retransmissions) went before, which is timing. */
  'eigrp-sequence': 'EIGRP sequence number: the reliable transport\'s counter',
  'eigrp-ack': 'EIGRP acknowledgment number: the peer\'s sequence counter',
  'eigrp-next-multicast-sequence': 'EIGRP Next Multicast Sequence TLV: a sequence number',
  /** RFC 7868 section 6.5: the checksum covers the whole EIGRP packet, the counters included. */
  'eigrp-checksum': 'EIGRP checksum: covers the sequence and acknowledgment numbers',
  /** ping(8) puts its PID (or the ping socket's port) in the identifier. (Not the sequence number:
   * each ping of the exchange sends one echo, sequence 1, so it must match.) */
  'icmp-identifier': 'ICMP echo identifier: the ping process\'s id',
  /** iputils ping starts the echo data with the send time (struct timeval, 16 bytes on 64-bit). */
  'icmp-timestamp': 'ICMP echo data: the first 16 bytes are ping\'s send time',
  /** RFC 792: the checksum covers the identifier and the timestamp. */
  'icmp-checksum': 'ICMP checksum: covers the identifier and the timestamp',
} as const;

export type MaskName = keyof typeof MASKS;

export interface Mask extends Field {
  readonly mask: MaskName;
}

export interface Dissected {
  /** 'nhrp registration request', 'eigrp hello', 'icmp echo request', ... */
  readonly cls: string;
  /** Outer source > destination, and the inner ones for an encapsulated IPv4 datagram. */
  readonly flow: string;
  readonly fields: readonly Field[];
  readonly masks: readonly Mask[];
  readonly bytes: Uint8Array;
  /** bytes with every mask zeroed. */
  readonly masked: Uint8Array;
  /** Why dissection stopped early (a truncated or unknown layer), if it did. */
  readonly note?: string;
}

const NHRP_TYPES: Readonly<Record<number, string>> = {
  1: 'resolution request', 2: 'resolution reply', 3: 'registration request', 4: 'registration reply',
  5: 'purge request', 6: 'purge reply', 7: 'error indication', 8: 'traffic indication',
};
const NHRP_EXTENSIONS: Readonly<Record<number, string>> = {
  0: 'end', 3: 'responder address', 4: 'forward transit NHS record', 5: 'reverse transit NHS record',
  7: 'authentication', 8: 'vendor private', 9: 'NAT address',
};
const EIGRP_OPCODES: Readonly<Record<number, string>> = {
  1: 'update', 2: 'request', 3: 'query', 4: 'reply', 5: 'hello', 7: 'probe', 10: 'sia query', 11: 'sia reply',
};
const EIGRP_TLVS: Readonly<Record<number, string>> = {
  0x0001: 'parameters', 0x0002: 'authentication', 0x0003: 'sequence', 0x0004: 'software version',
  0x0005: 'next multicast sequence', 0x0006: 'stub', 0x0007: 'peer termination', 0x0008: 'peer tid list',
  0x0102: 'ipv4 internal', 0x0103: 'ipv4 external', 0x0602: 'mp internal', 0x0603: 'mp external',
};
const ICMP_TYPES: Readonly<Record<number, string>> = {
  0: 'echo reply', 3: 'destination unreachable', 5: 'redirect', 8: 'echo request', 11: 'time exceeded',
};
const IPPROTO = { ICMP: 1, GRE: 47, EIGRP: 88 } as const;
const GRE_NHRP = 0x2001;
const GRE_IPV4 = 0x0800;
/** iputils ping's timestamp: a struct timeval on a 64-bit host. */
const PING_TIMESTAMP = 16;

class Stop extends Error {}

/** Collects fields and masks while walking a datagram; a field past the end stops the walk. */
class Walk {
  readonly fields: Field[] = [];
  readonly masks: Mask[] = [];
  note?: string;
  /** The class so far: each layer names it before it walks its fields, so a truncated packet keeps it. */
  cls = 'unparsed';
  flow = '';
  constructor(readonly b: Uint8Array) {}

  f(name: string, offset: number, length: number, mask?: MaskName): void {
    if (length <= 0) return;
    const len = Math.min(length, this.b.length - offset);
    if (len > 0) {
      this.fields.push({ name, offset, length: len });
      if (mask) this.masks.push({ name, offset, length: len, mask });
    }
    if (len < length) {
      this.note ??= `${name} truncated at byte ${this.b.length}`;
      throw new Stop();
    }
  }

  u8(o: number): number {
    if (o >= this.b.length) throw new Stop();
    return this.b[o];
  }

  u16(o: number): number {
    return (this.u8(o) << 8) | this.u8(o + 1);
  }

  ipv4(o: number): string {
    return [0, 1, 2, 3].map((i) => this.u8(o + i)).join('.');
  }
}

/** An IPv4 header's fields (prefix 'outer ip.' or 'inner ip.'); returns the header length and addresses. */
function ipHeader(w: Walk, o: number, prefix: string, inner: boolean): { ihl: number; proto: number; src: string; dst: string; end: number } {
  const vihl = w.u8(o);
  if (vihl >> 4 !== 4) {
    w.note ??= `${prefix}: not IPv4 (version ${vihl >> 4})`;
    throw new Stop();
  }
  const ihl = (vihl & 0x0f) * 4;
  w.f(`${prefix}version/ihl`, o, 1);
  w.f(`${prefix}tos`, o + 1, 1);
  w.f(`${prefix}total length`, o + 2, 2);
  w.f(`${prefix}identification`, o + 4, 2, inner ? 'inner-ip-id' : 'outer-ip-id');
  w.f(`${prefix}flags/fragment offset`, o + 6, 2);
  w.f(`${prefix}ttl`, o + 8, 1);
  w.f(`${prefix}protocol`, o + 9, 1);
  w.f(`${prefix}header checksum`, o + 10, 2, inner ? 'inner-ip-checksum' : 'outer-ip-checksum');
  w.f(`${prefix}source`, o + 12, 4);
  w.f(`${prefix}destination`, o + 16, 4);
  if (ihl > 20) w.f(`${prefix}options`, o + 20, ihl - 20);
  const total = w.u16(o + 2);
  return { ihl, proto: w.u8(o + 9), src: w.ipv4(o + 12), dst: w.ipv4(o + 16), end: Math.min(o + Math.max(total, ihl), w.b.length) };
}

/** ICMP (RFC 792) of an echo: type, code, checksum, identifier, sequence, ping's timestamp, data. */
function icmp(w: Walk, o: number, end: number, prefix: string): string {
  const type = w.u8(o);
  const cls = `icmp ${ICMP_TYPES[type] ?? `type ${type}`}`;
  w.cls = cls;
  w.f(`${prefix}icmp.type`, o, 1);
  w.f(`${prefix}icmp.code`, o + 1, 1);
  w.f(`${prefix}icmp.checksum`, o + 2, 2, 'icmp-checksum');
  if (type === 0 || type === 8) {
    w.f(`${prefix}icmp.identifier`, o + 4, 2, 'icmp-identifier');
    w.f(`${prefix}icmp.sequence`, o + 6, 2);
    const data = end - (o + 8);
    if (data >= PING_TIMESTAMP) {
      w.f(`${prefix}icmp.timestamp`, o + 8, PING_TIMESTAMP, 'icmp-timestamp');
      w.f(`${prefix}icmp.data`, o + 8 + PING_TIMESTAMP, data - PING_TIMESTAMP);
    } else w.f(`${prefix}icmp.data`, o + 8, data);
  } else w.f(`${prefix}icmp.rest`, o + 4, end - (o + 4));
  return cls;
}

/** EIGRP (RFC 7868 section 6.5): the fixed header, then each TLV. */
function eigrp(w: Walk, o: number, end: number): string {
  const opcode = w.u8(o + 1);
  w.cls = `eigrp ${EIGRP_OPCODES[opcode] ?? `opcode ${opcode}`}`;
  w.f('eigrp.version', o, 1);
  w.f('eigrp.opcode', o + 1, 1);
  w.f('eigrp.checksum', o + 2, 2, 'eigrp-checksum');
  w.f('eigrp.flags', o + 4, 4);
  w.f('eigrp.sequence', o + 8, 4, 'eigrp-sequence');
  w.f('eigrp.acknowledge', o + 12, 4, 'eigrp-ack');
  w.f('eigrp.virtual router id', o + 16, 2);
  w.f('eigrp.autonomous system', o + 18, 2);
  const ack = (w.u16(o + 12) << 16 | w.u16(o + 14)) >>> 0;
  // RFC 7868 section 5: an ACK is a Hello with no TLVs and a nonzero acknowledgment number.
  const cls = opcode === 5 && ack !== 0 && end - o === 20 ? 'eigrp ack' : w.cls;
  w.cls = cls;
  let p = o + 20;
  for (let i = 0; p + 4 <= end; i++) {
    const type = w.u16(p);
    const len = w.u16(p + 2);
    const name = `eigrp.tlv[${i}] ${EIGRP_TLVS[type] ?? `0x${type.toString(16).padStart(4, '0')}`}`;
    w.f(`${name}.type`, p, 2);
    w.f(`${name}.length`, p + 2, 2);
    if (len < 4) {
      w.f(`${name}.rest`, p + 4, end - (p + 4));
      return cls;
    }
    w.f(`${name}.value`, p + 4, Math.min(len, end - p) - 4, type === 0x0005 ? 'eigrp-next-multicast-sequence' : undefined);
    p += len;
  }
  if (p < end) w.f('eigrp.trailing', p, end - p);
  return cls;
}

/** An encapsulated IPv4 datagram (GRE payload, or a Traffic Indication's trigger). */
function innerIpv4(w: Walk, o: number, prefix: string): { cls: string; flow: string } {
  const h = ipHeader(w, o, `${prefix}inner ip.`, true);
  const flow = `${h.src} > ${h.dst}`;
  if (prefix === '') {
    w.flow += ` | ${flow}`;
    w.cls = `ipv4 protocol ${h.proto}`;
  }
  const p = o + h.ihl;
  if (h.proto === IPPROTO.EIGRP && prefix === '') return { cls: eigrp(w, p, h.end), flow };
  if (h.proto === IPPROTO.ICMP) return { cls: icmp(w, p, h.end, prefix), flow };
  w.f(`${prefix}inner ip.payload`, p, h.end - p);
  return { cls: `ipv4 protocol ${h.proto}`, flow };
}

/** A CIE (RFC 2332 section 5.2.0.1): its 12-byte header, then the client addresses. */
function cie(w: Walk, o: number, name: string): number {
  w.f(`${name}.code`, o, 1);
  w.f(`${name}.prefix length`, o + 1, 1);
  w.f(`${name}.unused`, o + 2, 2);
  w.f(`${name}.mtu`, o + 4, 2);
  w.f(`${name}.holding time`, o + 6, 2);
  w.f(`${name}.client nbma length`, o + 8, 1);
  w.f(`${name}.client nbma subaddress length`, o + 9, 1);
  w.f(`${name}.client protocol length`, o + 10, 1);
  w.f(`${name}.preference`, o + 11, 1);
  const len = (w.u8(o + 8) & 0x3f) + (w.u8(o + 9) & 0x3f) + w.u8(o + 10);
  w.f(`${name}.client addresses`, o + 12, len);
  return o + 12 + len;
}

/** NHRP (RFC 2332 section 5; type 8 per draft-detienne-dmvpn-01): fixed header, mandatory part, extensions. */
function nhrp(w: Walk, o: number, end: number): string {
  const type = w.u8(o + 17);
  const cls = `nhrp ${NHRP_TYPES[type] ?? `type ${type}`}`;
  w.cls = cls;
  w.f('nhrp.afn', o, 2);
  w.f('nhrp.protocol type', o + 2, 2);
  w.f('nhrp.protocol snap', o + 4, 5);
  w.f('nhrp.hop count', o + 9, 1);
  w.f('nhrp.packet size', o + 10, 2);
  w.f('nhrp.checksum', o + 12, 2, 'nhrp-checksum');
  w.f('nhrp.extension offset', o + 14, 2);
  w.f('nhrp.version', o + 16, 1);
  w.f('nhrp.type', o + 17, 1);
  w.f('nhrp.source nbma length', o + 18, 1);
  w.f('nhrp.source nbma subaddress length', o + 19, 1);
  const pktEnd = Math.min(o + w.u16(o + 10), end);
  const extoff = w.u16(o + 14);
  const mandEnd = extoff ? Math.min(o + extoff, pktEnd) : pktEnd;
  const shtl = w.u8(o + 18) & 0x3f;
  const sstl = w.u8(o + 19) & 0x3f;
  let p = o + 20;
  if (type >= 1 && type <= 8) {
    const spl = w.u8(p);
    const dpl = w.u8(p + 1);
    w.f('nhrp.source protocol length', p, 1);
    w.f('nhrp.destination protocol length', p + 1, 1);
    if (type <= 6) {
      w.f('nhrp.flags', p + 2, 2);
      w.f('nhrp.request id', p + 4, 4, 'nhrp-request-id');
    } else if (type === 7) {
      w.f('nhrp.unused', p + 2, 2);
      w.f('nhrp.error code', p + 4, 2);
      w.f('nhrp.error offset', p + 6, 2);
    } else {
      w.f('nhrp.unused', p + 2, 2);
      w.f('nhrp.traffic code', p + 4, 2);
      w.f('nhrp.unused2', p + 6, 2);
    }
    p += 8;
    w.f('nhrp.source nbma address', p, shtl);
    w.f('nhrp.source nbma subaddress', p + shtl, sstl);
    p += shtl + sstl;
    w.f('nhrp.source protocol address', p, spl);
    w.f('nhrp.destination protocol address', p + spl, dpl);
    p += spl + dpl;
    if (type <= 6) {
      for (let i = 0; p + 12 <= mandEnd; i++) p = cie(w, p, `nhrp.cie[${i}]`);
    } else if (type === 8 && p < mandEnd) {
      // The trigger: as much of the data packet as the hub sent back, dissected like any inner datagram.
      const before = w.note;
      try {
        innerIpv4(new ClippedWalk(w, mandEnd), p, 'nhrp.trigger ');
      } catch (e) {
        if (!(e instanceof Stop)) throw e;
        w.note = before;
      }
      p = mandEnd;
    }
  }
  if (p < mandEnd) w.f('nhrp.mandatory part rest', p, mandEnd - p);
  if (extoff) {
    p = o + extoff;
    for (let i = 0; p + 4 <= pktEnd; i++) {
      const t = w.u16(p) & 0x7fff;
      const len = w.u16(p + 2);
      const name = `nhrp.extension[${i}] ${NHRP_EXTENSIONS[t] ?? `type ${t}`}`;
      w.f(`${name}.type`, p, 2);
      w.f(`${name}.length`, p + 2, 2);
      w.f(`${name}.value`, p + 4, Math.min(len, pktEnd - p - 4));
      p += 4 + len;
      if (t === 0) break;
    }
  }
  if (p < end) w.f('nhrp.trailing', p, end - p);
  return cls;
}

/** A Walk over a sub-range (a Traffic Indication's trigger): fields stop at its end, quietly. */
class ClippedWalk extends Walk {
  constructor(private readonly parent: Walk, private readonly end: number) {
    super(parent.b.subarray(0, end));
  }
  override f(name: string, offset: number, length: number, mask?: MaskName): void {
    const len = Math.min(length, this.end - offset);
    if (len > 0) this.parent.f(name, offset, len, mask);
    if (len < length) throw new Stop();
  }
}

/** Dissect one IPv4 datagram as captured on the underlay. */
export function dissect(bytes: Uint8Array): Dissected {
  const w = new Walk(bytes);
  try {
    const h = ipHeader(w, 0, 'outer ip.', false);
    w.flow = `${h.src} > ${h.dst}`;
    w.cls = `ip protocol ${h.proto}`;
    if (h.proto === IPPROTO.GRE) {
      const o = h.ihl;
      const flags = w.u16(o);
      const proto = w.u16(o + 2);
      w.cls = `gre protocol 0x${proto.toString(16).padStart(4, '0')}`;
      w.f('gre.flags/version', o, 2);
      w.f('gre.protocol type', o + 2, 2);
      let p = o + 4;
      // RFC 2784 section 2.5 and RFC 2890: optional checksum (with Reserved1), key, sequence number.
      if (flags & 0x8000) { w.f('gre.checksum', p, 2); w.f('gre.reserved1', p + 2, 2); p += 4; }
      if (flags & 0x2000) { w.f('gre.key', p, 4); p += 4; }
      if (flags & 0x1000) { w.f('gre.sequence number', p, 4); p += 4; }
      if (proto === GRE_NHRP) nhrp(w, p, h.end);
      else if (proto === GRE_IPV4) innerIpv4(w, p, '');
      else w.f('gre.payload', p, h.end - p);
    } else w.f('outer ip.payload', h.ihl, h.end - h.ihl);
    const covered = w.fields.reduce((m, f) => Math.max(m, f.offset + f.length), 0);
    if (covered < bytes.length) w.f('trailing bytes', covered, bytes.length - covered);
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
    const covered = w.fields.reduce((m, f) => Math.max(m, f.offset + f.length), 0);
    if (covered < bytes.length) w.fields.push({ name: 'undissected', offset: covered, length: bytes.length - covered });
  }
  const masked = bytes.slice();
  for (const m of w.masks) masked.fill(0, m.offset, m.offset + m.length);
  return { cls: w.cls, flow: w.flow, fields: w.fields, masks: w.masks, bytes, masked, ...(w.note ? { note: w.note } : {}) };
}

/** One capture point of one run: IPv4 datagrams in capture order, with their frame numbers. */
export interface PointCapture {
  readonly point: string;
  readonly packets: readonly { readonly frame: number; readonly bytes: Uint8Array }[];
}

export interface Run {
  readonly name: string;
  readonly points: readonly PointCapture[];
}

/** One field that differs between a packet of run A and its closest counterpart in run B. */
export interface FieldDiff {
  readonly field: string;
  readonly offset: number;
  readonly a: string;
  readonly b: string;
}

export interface Difference {
  readonly point: string;
  readonly cls: string;
  readonly flow: string;
  /** 'bytes': a form with no identical counterpart; 'only-a'/'only-b': the group is missing in the other run. */
  readonly kind: 'bytes' | 'only-a' | 'only-b';
  readonly frameA?: number;
  readonly frameB?: number;
  readonly fields: readonly FieldDiff[];
}

export interface GroupSummary {
  readonly point: string;
  readonly cls: string;
  readonly flow: string;
  readonly countA: number;
  readonly countB: number;
  /** Distinct masked forms, and how many of them both runs share. */
  readonly formsA: number;
  readonly formsB: number;
  readonly shared: number;
}

export interface CompareReport {
  readonly a: string;
  readonly b: string;
  readonly groups: readonly GroupSummary[];
  readonly differences: readonly Difference[];
  /** What is in one run only for a reason that is timing, not bytes (EIGRP unicast retransmissions). */
  readonly notes: readonly string[];
  /** Every mask applied, with how many packets it touched (both runs). */
  readonly masksUsed: Readonly<Partial<Record<MaskName, number>>>;
  /** The masks that hid a real difference: how many matched pairs differed in that field. */
  readonly masksNeeded: Readonly<Partial<Record<MaskName, number>>>;
  readonly ok: boolean;
}

interface Entry {
  readonly frame: number;
  readonly d: Dissected;
  readonly key: string;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function groupKey(point: string, d: Dissected): string {
  return `${point}\u0000${d.cls}\u0000${d.flow}`;
}

/** Offset of the EIGRP header in a dissected datagram, if it carries EIGRP. */
function eigrpAt(d: Dissected): number | undefined {
  return d.fields.find((f) => f.name === 'eigrp.version')?.offset;
}

/**
 * RFC 7868 section 5.3.3 (reliable multicast): a peer that did not acknowledge a multicast
 * Update or Query in time gets it again by unicast, same sequence number, same TLVs (the ack
 * number aside, which piggybacks whatever is due). Whether
 * that happens depends on how fast the ACK came back, so such a retransmission is a class of
 * its own ('... (unicast retransmission)') that may be in one run only.
 */
function markRetransmissions(ds: Dissected[]): Dissected[] {
  const same = (a: Dissected, oa: number, b: Dissected, ob: number): boolean =>
    a.bytes.length - oa === b.bytes.length - ob && a.bytes[oa + 1] === b.bytes[ob + 1] &&
    hex(a.bytes.subarray(oa + 4, oa + 12)) === hex(b.bytes.subarray(ob + 4, ob + 12)) &&
    hex(a.bytes.subarray(oa + 16)) === hex(b.bytes.subarray(ob + 16));
  return ds.map((d, i) => {
    const o = eigrpAt(d);
    if (o === undefined || d.cls === 'eigrp hello' || d.cls === 'eigrp ack' || d.flow.endsWith('> 224.0.0.10')) return d;
    const src = d.flow.split(' > ')[0];
    // Either order on the wire: the kernel dataplane's multicast copies leave through the
    // nftables tap and the daemon, so a unicast retransmission can overtake its original.
    const original = ds.some((m, j) => {
      const om = j === i ? undefined : eigrpAt(m);
      return om !== undefined && m.flow.startsWith(src) && m.flow.endsWith('> 224.0.0.10') && same(d, o, m, om);
    });
    return original ? { ...d, cls: `${d.cls} (unicast retransmission)` } : d;
  });
}

export const RETRANSMISSION = '(unicast retransmission)';

function groups(run: Run, used: Partial<Record<MaskName, number>>): Map<string, Entry[]> {
  const out = new Map<string, Entry[]>();
  for (const pc of run.points) {
    const ds = markRetransmissions(pc.packets.map((p) => dissect(p.bytes)));
    for (const [i, p] of pc.packets.entries()) {
      const d = ds[i];
      for (const m of new Set(d.masks.map((x) => x.mask))) used[m] = (used[m] ?? 0) + 1;
      const key = groupKey(pc.point, d);
      const list = out.get(key) ?? [];
      list.push({ frame: p.frame, d, key: hex(d.masked) });
      out.set(key, list);
    }
  }
  return out;
}

/** Field-by-field differences of two dissected packets (masked bytes compared; fields of A, then B's extra ones). */
export function diffFields(a: Dissected, b: Dissected): FieldDiff[] {
  const out: FieldDiff[] = [];
  const seen = new Set<string>();
  const show = (d: Dissected, f: Field | undefined): string => (f ? hex(d.masked.subarray(f.offset, f.offset + f.length)) : '(absent)');
  for (const fa of a.fields) {
    const fb = b.fields.find((x) => x.name === fa.name);
    seen.add(fa.name);
    const va = show(a, fa);
    const vb = show(b, fb);
    if (va !== vb || fa.offset !== fb?.offset) out.push({ field: fa.name, offset: fa.offset, a: va, b: vb });
  }
  for (const fb of b.fields) if (!seen.has(fb.name)) out.push({ field: fb.name, offset: fb.offset, a: '(absent)', b: show(b, fb) });
  return out;
}

/** The entry of `pool` closest to `e`: fewest differing fields, ties to the nearest position. */
function closest(e: Entry, index: number, pool: readonly Entry[]): { entry: Entry; diffs: FieldDiff[] } {
  let best: { entry: Entry; diffs: FieldDiff[]; dist: number } | undefined;
  const seen = new Set<string>();
  pool.forEach((c, i) => {
    if (seen.has(c.key)) return;
    seen.add(c.key);
    const diffs = diffFields(e.d, c.d);
    if (!best || diffs.length < best.diffs.length || (diffs.length === best.diffs.length && Math.abs(i - index) < best.dist)) {
      best = { entry: c, diffs, dist: Math.abs(i - index) };
    }
  });
  return best!;
}

/** Compare two runs; `ok` when every group is in both and every masked form has its twin. */
export function compareRuns(a: Run, b: Run): CompareReport {
  const masksUsed: Partial<Record<MaskName, number>> = {};
  const masksNeeded: Partial<Record<MaskName, number>> = {};
  const notes: string[] = [];
  const ga = groups(a, masksUsed);
  const gb = groups(b, masksUsed);
  const summaries: GroupSummary[] = [];
  const differences: Difference[] = [];
  const keys = [...new Set([...ga.keys(), ...gb.keys()])].sort();
  for (const k of keys) {
    const [point, cls, flow] = k.split('\u0000');
    const ea = ga.get(k) ?? [];
    const eb = gb.get(k) ?? [];
    const fa = new Set(ea.map((e) => e.key));
    const fb = new Set(eb.map((e) => e.key));
    summaries.push({ point, cls, flow, countA: ea.length, countB: eb.length, formsA: fa.size, formsB: fb.size, shared: [...fa].filter((x) => fb.has(x)).length });
    if (ea.length === 0 || eb.length === 0) {
      const only = ea.length ? ea : eb;
      if (cls.endsWith(RETRANSMISSION)) {
        notes.push(`${point} | ${cls} | ${flow}: ${only.length} in ${ea.length ? a.name : b.name} only (timing)`);
        continue;
      }
      differences.push({ point, cls, flow, kind: ea.length ? 'only-a' : 'only-b', ...(ea.length ? { frameA: only[0].frame } : { frameB: only[0].frame }), fields: [] });
      continue;
    }
    // Which masks made the shared forms match: the first packet of each form against its twin.
    const firstB = new Map<string, Entry>();
    for (const e of eb) if (!firstB.has(e.key)) firstB.set(e.key, e);
    const pairedA = new Set<string>();
    for (const e of ea) {
      const twin = firstB.get(e.key);
      if (!twin || pairedA.has(e.key)) continue;
      pairedA.add(e.key);
      for (const m of e.d.masks) {
        const x = e.d.bytes.subarray(m.offset, m.offset + m.length);
        const y = twin.d.bytes.subarray(m.offset, m.offset + m.length);
        if (hex(x) !== hex(y)) masksNeeded[m.mask] = (masksNeeded[m.mask] ?? 0) + 1;
      }
    }
    const reported = new Set<string>();
    ea.forEach((e, i) => {
      if (fb.has(e.key) || reported.has(`a${e.key}`)) return;
      reported.add(`a${e.key}`);
      const c = closest(e, i, eb);
      reported.add(`b${c.entry.key}`);
      differences.push({ point, cls, flow, kind: 'bytes', frameA: e.frame, frameB: c.entry.frame, fields: c.diffs });
    });
    eb.forEach((e, i) => {
      if (fa.has(e.key) || reported.has(`b${e.key}`)) return;
      reported.add(`b${e.key}`);
      const c = closest(e, i, ea);
      differences.push({
        point, cls, flow, kind: 'bytes', frameA: c.entry.frame, frameB: e.frame,
        fields: c.diffs.map((d) => ({ field: d.field, offset: d.offset, a: d.b, b: d.a })),
      });
    });
  }
  return { a: a.name, b: b.name, groups: summaries, differences, notes, masksUsed, masksNeeded, ok: differences.length === 0 };
}

/** Classes seen in a run (any point), for "the exchange happened" checks. */
export function classesOf(run: Run): Set<string> {
  const out = new Set<string>();
  for (const pc of run.points) for (const p of pc.packets) out.add(dissect(p.bytes).cls);
  return out;
}

/** The report as text: one line per group, then each difference with its fields. */
export function renderReport(r: CompareReport): string {
  const lines: string[] = [`${r.a} vs ${r.b}: ${r.ok ? 'identical after masking' : `${r.differences.length} difference(s)`}`];
  for (const g of r.groups) {
    lines.push(`  ${g.point.padEnd(7)} ${g.cls.padEnd(28)} ${g.flow.padEnd(50)} ${r.a} ${String(g.countA).padStart(3)} ${r.b} ${String(g.countB).padStart(3)}  forms ${g.formsA}/${g.formsB} shared ${g.shared}`);
  }
  const list = (m: Readonly<Partial<Record<MaskName, number>>>): string => Object.entries(m).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  lines.push(`  masks applied (packets, both runs): ${list(r.masksUsed)}`);
  lines.push(`  masks that hid a difference (distinct forms): ${list(r.masksNeeded)}`);
  for (const n of r.notes) lines.push(`  note: ${n}`);
  for (const d of r.differences) {
    const where = `${d.point} | ${d.cls} | ${d.flow}`;
    if (d.kind !== 'bytes') {
      lines.push(`DIFF ${where}: only in ${d.kind === 'only-a' ? r.a : r.b} (frame ${d.frameA ?? d.frameB})`);
      continue;
    }
    lines.push(`DIFF ${where}: ${r.a} frame ${d.frameA} vs ${r.b} frame ${d.frameB}`);
    for (const f of d.fields) lines.push(`     ${f.field} @${f.offset}: ${r.a} ${f.a} | ${r.b} ${f.b}`);
  }
  return lines.join('\n');
}
