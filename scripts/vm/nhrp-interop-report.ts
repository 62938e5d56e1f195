/**
 * The report of an NHRP interop scenario (scripts/vm/nhrp-interop.ts): what both sides showed,
 * the NHRP packets on the underlay, and the two caches side by side. test/vm/frr-nhrpd.test.ts
 * asserts on it; a human reads its text form.
 */
import { spawnSync } from 'node:child_process';
import type { DmvpnPeerJson, NhrpEntryJson } from '../../daemon/show/nhrp.js';
import type { FrrCacheRow, FrrNhsRow } from './nhrp-interop-frr.js';

export type HubKind = 'ours' | 'frr';
export type DataplaneKind = 'userspace' | 'kernel';

export interface StepReport {
  readonly name: string;
  /** Set-up and registrations; the ping and the resolutions it starts; reading the capture. */
  readonly phase: 'registration' | 'resolution' | 'capture';
  readonly ok: boolean;
  readonly ms: number;
  readonly error?: string;
}

/** One of our routers (dmvpnctl … --json, and the text IOS would print). */
export interface OurState {
  readonly nhrp: NhrpEntryJson[];
  readonly dmvpn: { interface: string; type: string; peers: DmvpnPeerJson[] } | null;
  readonly nhs: { nhs: string; nbma: string; state: string; status: string }[];
  readonly traffic: { sent: Record<string, number>; received: Record<string, number>; drops: Record<string, number> } | null;
  readonly text: { readonly dmvpn: string; readonly nhrp: string; readonly nhs: string };
}

/** One FRR nhrpd router (vtysh … json, and the text). */
export interface FrrState {
  readonly cache: FrrCacheRow[];
  readonly nhs: FrrNhsRow[];
  readonly shortcuts: unknown;
  readonly text: { readonly cache: string; readonly nhs: string; readonly shortcut: string };
  /** The kernel's side of it: `ip neigh show dev gre1` (NHRP bindings as neighbours) and `ip route show`. */
  readonly kernel: { readonly neigh: string; readonly routes: string };
}

export interface Snapshot {
  readonly hub: { readonly ours?: OurState; readonly frr?: FrrState };
  readonly frrSpoke: FrrState;
  readonly ourSpoke: OurState;
}

/** An NHRP packet on the underlay, from tshark. */
export interface PacketRow {
  readonly frame: number;
  readonly time: number;
  /** Outer (NBMA) addresses. */
  readonly src: string;
  readonly dst: string;
  readonly type: string;
  readonly srcProto: string;
  readonly dstProto: string;
  /** The first CIE's code, when the packet has CIEs. */
  readonly code: number | null;
  readonly requestId: number | null;
}

/** An ICMP echo carried in GRE on the underlay: which NBMA addresses it went between shows its path. */
export interface EchoRow {
  readonly frame: number;
  /** Seconds since the epoch (the capture's clock, the same as the scenario's inside one VM). */
  readonly epoch: number;
  /** Outer (NBMA) addresses. */
  readonly src: string;
  readonly dst: string;
  /** The tunnel (overlay) addresses of the echo. */
  readonly innerSrc: string;
  readonly innerDst: string;
  readonly kind: 'request' | 'reply';
}

export interface PingReport {
  /** When the ping started (ms since the epoch), to tell its echoes in the capture from earlier ones. */
  readonly startedAt: number;
  readonly transmitted: number;
  readonly received: number;
  readonly output: string;
}

/** A protocol address as both spokes' caches (and FRR's own local entry) know it. */
export interface CompareRow {
  readonly protocol: string;
  readonly frr: { readonly type: string; readonly nbma: string } | null;
  readonly ours: { readonly type: string; readonly nbma: string | null } | null;
}

export interface ScenarioReport {
  readonly hub: HubKind;
  readonly dataplane: DataplaneKind;
  readonly ok: boolean;
  readonly ms: number;
  readonly steps: StepReport[];
  readonly registered: Snapshot | null;
  readonly resolved: Snapshot | null;
  /** Both sides when a step failed. */
  readonly atFailure: Snapshot | null;
  readonly pings: { readonly first: PingReport | null; readonly second: PingReport | null };
  readonly packets: PacketRow[];
  /** ICMP echoes carried straight between the two spokes' NBMA addresses (the shortcut at work). */
  readonly directEchoes: number;
  /** Every ICMP echo carried in GRE on the underlay, in capture order. */
  readonly echoes: EchoRow[];
  /** ICMP destination unreachables on the underlay (e.g. from a kernel GRE fallback device). */
  readonly unreachables: string[];
  /** ICMP redirects in the tunnel (a hub forwarding between spokes). */
  readonly redirects: string[];
  readonly comparison: CompareRow[];
  /** Only when something failed: log tails and Wireshark's detail of the NHRP packets. */
  readonly evidence?: { readonly logs: Record<string, string[]>; readonly summary: string; readonly tshark: string };
}

export const NHRP_TYPE_NAMES: Record<number, string> = {
  1: 'resolution-request', 2: 'resolution-reply', 3: 'registration-request', 4: 'registration-reply',
  5: 'purge-request', 6: 'purge-reply', 7: 'error-indication', 8: 'traffic-indication',
};

function tshark(args: readonly string[]): string {
  // Generous: one tshark took over a minute on a loaded host under TCG.
  const r = spawnSync('tshark', ['-n', ...args], { encoding: 'utf8', timeout: 300_000, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`tshark ${args.join(' ')}: ${(r.stderr ?? '').trim() || r.signal}`);
  return r.stdout ?? '';
}

export interface CaptureAnalysis {
  /** Every NHRP packet (not those quoted in ICMP errors). */
  readonly packets: PacketRow[];
  /** ICMP echoes carried in GRE straight between the two addresses given, either way. */
  readonly directEchoes: number;
  /** Every ICMP echo carried in GRE. */
  readonly echoes: EchoRow[];
  /** ICMP destination unreachables, one line each. */
  readonly unreachables: string[];
  /** ICMP redirects, one line each (a hub forwarding spoke to spoke must not send them: NHRP redirects instead). */
  readonly redirects: string[];
  /** One line per packet. */
  readonly summary: string[];
}

const FIELDS = [
  'frame.number', 'frame.time_relative', 'frame.time_epoch', 'ip.src', 'ip.dst', 'ip.proto', 'icmp.type', 'nhrp.hdr.op.type',
  'nhrp.src.prot.addr', 'nhrp.dst.prot.addr', 'nhrp.code', 'nhrp.reqid', '_ws.col.Protocol', '_ws.col.Info',
] as const;

/**
 * The capture in one tshark run (each costs seconds under TCG). `a` and `b` are the spokes' NBMA
 * addresses: an echo between them in GRE took the shortcut.
 */
export function analyseCapture(pcap: string, a: string, b: string): CaptureAnalysis {
  const out = tshark(['-r', pcap, '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=,', ...FIELDS.flatMap((f) => ['-e', f])]);
  const packets: PacketRow[] = [];
  const unreach: string[] = [];
  const redirects: string[] = [];
  const summary: string[] = [];
  const echoes: EchoRow[] = [];
  let direct = 0;
  for (const line of out.split('\n')) {
    if (line.trim() === '') continue;
    const v = line.split('\t');
    const f = (name: (typeof FIELDS)[number]): string[] => (v[FIELDS.indexOf(name)] ?? '').split(',').filter((x) => x !== '');
    // occurrence=a: the outer header's addresses first, then the packet's in the tunnel.
    const [src = '', innerSrc = ''] = f('ip.src');
    const [dst = '', innerDst = ''] = f('ip.dst');
    const icmp = f('icmp.type').map(Number);
    const frame = Number(f('frame.number')[0]);
    const time = Number(f('frame.time_relative')[0]);
    const text = `${frame} ${time.toFixed(3)} ${src} -> ${dst} ${f('_ws.col.Protocol').join(',')} ${v[FIELDS.indexOf('_ws.col.Info')] ?? ''}`.trimEnd();
    summary.push(text);
    if (icmp.includes(3)) {
      unreach.push(text);
      continue;
    }
    if (icmp.includes(5)) redirects.push(text);
    const op = f('nhrp.hdr.op.type')[0];
    if (op !== undefined) {
      const code = f('nhrp.code')[0];
      const reqid = f('nhrp.reqid')[0];
      packets.push({
        frame, time, src, dst, type: NHRP_TYPE_NAMES[Number(op)] ?? `type-${op}`,
        srcProto: f('nhrp.src.prot.addr')[0] ?? '', dstProto: f('nhrp.dst.prot.addr')[0] ?? '',
        code: code === undefined ? null : Number(code), requestId: reqid === undefined ? null : Number(reqid),
      });
    }
    // Not an NHRP packet: a Traffic Indication quotes the packet that caused it, echo included.
    const gre = f('ip.proto')[0] === '47' && op === undefined;
    if (gre && (icmp.includes(0) || icmp.includes(8))) {
      echoes.push({ frame, epoch: Number(f('frame.time_epoch')[0]), src, dst, innerSrc, innerDst, kind: icmp.includes(8) ? 'request' : 'reply' });
      if ((src === a && dst === b) || (src === b && dst === a)) direct++;
    }
  }
  return { packets, directEchoes: direct, echoes, unreachables: unreach, redirects, summary };
}

/** Wireshark's full dissection of the NHRP packets (evidence for a failure report). */
export function nhrpDetail(pcap: string, maxLines = 3000): string {
  return tshark(['-r', pcap, '-Y', 'nhrp && !icmp', '-V', '-O', 'nhrp']).split('\n').slice(0, maxLines).join('\n');
}

/**
 * The spokes' caches side by side, by protocol address: FRR's entries but its own (local) one,
 * ours, and FRR's local entry and our own address as each side's view of itself. What must
 * agree: each side's entry for the other has the other's own NBMA address.
 */
export function compareCaches(frr: readonly FrrCacheRow[], ours: readonly NhrpEntryJson[], ourSelf: { protocol: string; nbma: string }): CompareRow[] {
  const rows = new Map<string, { frr: CompareRow['frr']; ours: CompareRow['ours'] }>();
  const row = (p: string) => rows.get(p) ?? rows.set(p, { frr: null, ours: null }).get(p)!;
  for (const c of frr) row(c.protocol).frr = { type: c.type, nbma: c.nbma };
  for (const e of ours) if (e.prefixLength === 32) row(e.prefix).ours = { type: e.type, nbma: e.nbma };
  row(ourSelf.protocol).ours ??= { type: 'local', nbma: ourSelf.nbma };
  const num = (a: string): number => a.split('.').reduce((x, y) => x * 256 + Number(y), 0);
  return [...rows.entries()].sort(([a], [b]) => num(a) - num(b)).map(([protocol, r]) => ({ protocol, ...r }));
}

function table(rows: readonly string[][]): string {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(w[i])).join('  ').trimEnd()).join('\n');
}

export function renderComparison(rows: readonly CompareRow[]): string {
  return table([
    ['protocol', 'FRR spoke type', 'FRR spoke NBMA', 'our spoke type', 'our spoke NBMA'],
    ...rows.map((r) => [r.protocol, r.frr?.type ?? '-', r.frr?.nbma ?? '-', r.ours?.type ?? '-', r.ours?.nbma ?? '-']),
  ]);
}

export function renderPackets(rows: readonly PacketRow[]): string {
  if (rows.length === 0) return '(no NHRP packets)';
  return table(rows.map((p) => [
    String(p.frame), p.time.toFixed(3), `${p.src} > ${p.dst}`, p.type, `${p.srcProto} > ${p.dstProto}`,
    p.code === null ? '' : `code ${p.code}`, p.requestId === null ? '' : `id ${p.requestId}`,
  ]));
}

export function renderEchoes(rows: readonly EchoRow[]): string {
  if (rows.length === 0) return '(no ICMP echoes in GRE)';
  return table(rows.map((e) => [String(e.frame), `${e.src} > ${e.dst}`, `echo ${e.kind}`, `${e.innerSrc} > ${e.innerDst}`]));
}
