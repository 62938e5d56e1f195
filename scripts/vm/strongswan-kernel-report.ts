/**
 * The report of the strongSwan interop scenarios (scripts/vm/strongswan-kernel.ts) and the readers
 * behind it: `swanctl --list-sas` text, `ip xfrm state` text, the underlay capture by IP protocol
 * and ESP SPI, ping's summary line; and the transcript a finished scenario prints. Pure functions
 * over text and bytes, so the host tests can check them without the VM.
 */
import type { IpsecPeerJson } from '../../daemon/show/crypto.js';
import type { Ikev2SaShow } from '../../protocols/ikev2/show.js';
import type { NhrpEntryJson } from '../../daemon/show/nhrp.js';
import { parseCapture, stripLink } from '../../daemon/capture/pcap.js';
import { Ipv4View } from '../../protocols/ip/ipv4.js';
import { u32ToIpv4 } from '../../protocols/wire/index.js';
import { parseIpStates } from '../../test/platform/linux/fixtures/xfrm-ip.js';

export type Role = 'spoke' | 'hub';

export interface StepReport {
  readonly name: string;
  readonly ok: boolean;
  readonly ms: number;
  readonly error?: string;
}

export interface PingReport {
  readonly transmitted: number;
  readonly received: number;
  readonly output: string;
}

/** A child SA as `swanctl --list-sas` prints it (SPIs from charon's point of view). */
export interface CharonChild {
  readonly name: string;
  readonly state: string;
  readonly mode: string;
  readonly proposal: string;
  readonly spiIn: number;
  readonly spiOut: number;
}

export interface CharonIke {
  readonly name: string;
  readonly state: string;
  /** The IKE SPIs, 16 hex digits each. */
  readonly spiI: string;
  readonly spiR: string;
  /** Whether charon initiated this IKE SA (swanctl marks its own SPI with a star). */
  readonly charonInitiated: boolean;
  readonly proposal: string;
  readonly children: readonly CharonChild[];
}

/** An ESP state as `ip xfrm state` shows it. */
export interface KernelState {
  readonly src: string;
  readonly dst: string;
  readonly spi: number;
  readonly reqid: number;
  readonly mode: string;
  readonly algorithms: string;
}

/** Both sides at one moment. */
export interface SaSnapshot {
  readonly charon: { readonly ike: readonly CharonIke[]; readonly text: string };
  readonly ours: { readonly ipsec: IpsecPeerJson | null; readonly ike: readonly Ikev2SaShow[]; readonly text: string };
  readonly kernel: { readonly ours: readonly KernelState[]; readonly charon: readonly KernelState[] };
}

export interface CaptureReport {
  readonly packets: number;
  readonly esp: number;
  readonly ike: number;
  readonly gre: number;
  /** Anything else between the two NBMA addresses (clear GRE included), one line each (first 40). */
  readonly other: readonly string[];
  /** Packets to or from elsewhere (IGMP reports, say), one line each (first 40): not between the peers. */
  readonly elsewhere: readonly string[];
  /** ESP packets per SPI and direction. */
  readonly espSpis: readonly { readonly src: string; readonly dst: string; readonly spi: number; readonly packets: number }[];
}

export interface ScenarioReport {
  readonly role: Role;
  readonly initiator: 'ours' | 'charon';
  readonly rekeyedBy: 'ours' | 'charon';
  readonly ours: { readonly nbma: string; readonly tunnel: string };
  readonly charon: { readonly nbma: string; readonly tunnel: string };
  readonly ok: boolean;
  readonly ms: number;
  readonly steps: readonly StepReport[];
  readonly established: SaSnapshot | null;
  readonly rekeyed: SaSnapshot | null;
  readonly pings: { readonly first: PingReport | null; readonly rekey: PingReport | null };
  /** Hub role: the Registration Reply our hub sent charon's side through ESP, and our cache entry. */
  readonly registration: { readonly code: number; readonly from: string } | null;
  readonly nhrpEntry: NhrpEntryJson | null;
  readonly capture: CaptureReport | null;
  readonly logs?: Record<string, readonly string[]>;
}

export function pingReport(text: string): PingReport {
  const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(text);
  return { transmitted: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0), output: text.trim().split('\n').slice(-4).join('\n') };
}

/** `swanctl --list-sas` text, IKE SAs with their child SAs. */
export function parseListSas(text: string): CharonIke[] {
  const out: { name: string; state: string; spiI: string; spiR: string; charonInitiated: boolean; proposal: string; children: CharonChild[] }[] = [];
  let child: { name: string; state: string; mode: string; proposal: string; spiIn: number; spiOut: number } | undefined;
  for (const line of text.split('\n')) {
    const ike = /^(\S+): #\d+, (\w+), IKEv2, ([0-9a-f]{16})_i(\*?) ([0-9a-f]{16})_r/.exec(line);
    if (ike) {
      out.push({ name: ike[1], state: ike[2], spiI: ike[3], spiR: ike[5], charonInitiated: ike[4] === '*', proposal: '', children: [] });
      child = undefined;
      continue;
    }
    const cur = out.at(-1);
    if (!cur) continue;
    const c = /^ {2}(\S+): #\d+, reqid \d+, (\w+), (\w+)(?:-in-UDP)?, (\S+)/.exec(line);
    if (c) {
      child = { name: c[1], state: c[2], mode: c[3], proposal: c[4], spiIn: 0, spiOut: 0 };
      cur.children.push(child);
      continue;
    }
    const spi = /^ {3,}(in|out) +([0-9a-f]{8})\b/.exec(line);
    if (spi && child) {
      child[spi[1] === 'in' ? 'spiIn' : 'spiOut'] = parseInt(spi[2], 16);
      continue;
    }
    const prop = /^ {2}([A-Z][A-Z0-9_-]+\/\S+)$/.exec(line);
    if (prop && !child && cur.proposal === '') cur.proposal = prop[1];
  }
  return out;
}

export function summariseCapture(bytes: Uint8Array, a: string, b: string): CaptureReport {
  let esp = 0;
  let ike = 0;
  let gre = 0;
  let packets = 0;
  const other: string[] = [];
  const elsewhere: string[] = [];
  const spis = new Map<string, { src: string; dst: string; spi: number; packets: number }>();
  for (const p of parseCapture(bytes)) {
    const l = stripLink(p);
    if (!l || l.etherType !== 0x0800) continue;
    packets++;
    let ip: Ipv4View;
    try {
      ip = new Ipv4View(l.payload).check();
    } catch {
      other.push(`#${p.index} unreadable IPv4`);
      continue;
    }
    const src = u32ToIpv4(ip.srcU32);
    const dst = u32ToIpv4(ip.dstU32);
    const body = l.payload.subarray(ip.headerLength, ip.totalLength);
    const between = (src === a && dst === b) || (src === b && dst === a);
    const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
    if (between && ip.protocol === 50 && body.length >= 8) {
      esp++;
      const spi = dv.getUint32(0);
      const key = `${src}>${dst}>${spi}`;
      const row = spis.get(key) ?? { src, dst, spi, packets: 0 };
      row.packets++;
      spis.set(key, row);
    } else if (between && ip.protocol === 17 && body.length >= 8 && [500, 4500].includes(dv.getUint16(0)) && [500, 4500].includes(dv.getUint16(2))) {
      ike++;
    } else if (ip.protocol === 47) {
      gre++;
      // What leaked: the GRE protocol type (0x2001 NHRP, 0x0800 IPv4 with its protocol).
      const type = body.length >= 4 ? dv.getUint16(2) : -1;
      const inner = type === 0x0800 && body.length >= 4 + 20 ? `, inner IPv4 protocol ${body[4 + 9]}` : '';
      other.push(`#${p.index} ${src} -> ${dst} GRE (clear) type 0x${type.toString(16)}${inner}, ${ip.totalLength} bytes`);
    } else {
      (between ? other : elsewhere).push(`#${p.index} ${src} -> ${dst} protocol ${ip.protocol}`);
    }
  }
  return { packets, esp, ike, gre, other: other.slice(0, 40), elsewhere: elsewhere.slice(0, 40), espSpis: [...spis.values()] };
}

export function renderReport(r: ScenarioReport): string {
  const out = [`== dmvpnd as ${r.role}, ${r.initiator === 'ours' ? 'we initiate' : 'charon initiates'}: ${r.ok ? 'PASS' : 'FAIL'} (${(r.ms / 1000).toFixed(1)} s)`];
  for (const [when, s] of [['established', r.established], ['after the rekey', r.rekeyed]] as const) {
    if (!s) continue;
    out.push(`-- ${when}: swanctl --list-sas`, s.charon.text.trimEnd(), `-- ${when}: show crypto ipsec sa`, s.ours.text.trimEnd(),
      `-- ${when}: ip xfrm state (ours)`, ...s.kernel.ours.map((k) => `${k.src} -> ${k.dst} spi 0x${k.spi.toString(16)} reqid ${k.reqid} ${k.mode} ${k.algorithms}`),
      `-- ${when}: ip xfrm state (charon's)`, ...s.kernel.charon.map((k) => `${k.src} -> ${k.dst} spi 0x${k.spi.toString(16)} reqid ${k.reqid} ${k.mode} ${k.algorithms}`));
  }
  for (const [k, p] of Object.entries(r.pings)) if (p) out.push(`-- ${k} ping: ${p.received}/${p.transmitted} answered`);
  if (r.registration) out.push(`-- Registration Reply from ${r.registration.from}: code ${r.registration.code}`);
  if (r.capture) {
    const c = r.capture;
    out.push(`-- underlay: ${c.packets} packets, ${c.esp} ESP, ${c.ike} IKE, ${c.gre} clear GRE`,
      ...c.espSpis.map((s) => `   ESP ${s.src} -> ${s.dst} spi 0x${s.spi.toString(16)}: ${s.packets}`), ...c.other.map((o) => `   ${o}`),
      ...c.elsewhere.map((o) => `   (elsewhere) ${o}`));
  }
  for (const [k, lines] of Object.entries(r.logs ?? {})) out.push(`-- ${k} log (tail)`, ...lines);
  return `${out.join('\n')}\n`;
}

/** `ip xfrm state` text: the ESP states with their algorithms by the kernel's names. */
export function xfrmStateRows(text: string): KernelState[] {
  return parseIpStates(text).map((s) => ({
    src: s.src, dst: s.dst, spi: s.spi, reqid: s.reqid, mode: s.mode,
    algorithms: [s.aead?.name, s.crypt?.name, s.auth?.name].filter((x) => x !== undefined).join(' '),
  }));
}
