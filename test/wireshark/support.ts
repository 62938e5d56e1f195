/**
 * Run Wireshark's dissectors (tshark) over packets we emit and read back what
 * it found: `tshark -V -T json --no-duplicate-keys` with checksum validation
 * on, so every field is a list of strings in document order and every expert
 * item and malformed mark is visible.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { writePcap, LinkType } from '../../daemon/capture/pcap.js';

export type TsharkLayers = Record<string, unknown>;

/** Wireshark's expert severities (epan/proto.h PI_*). */
export const Severity = { COMMENT: 0x00100000, CHAT: 0x00200000, NOTE: 0x00400000, WARN: 0x00600000, ERROR: 0x00800000 } as const;

/** Dissect a capture file's bytes; one layers object per frame. */
export function tsharkCapture(capture: Uint8Array): TsharkLayers[] {
  const dir = mkdtempSync(join(tmpdir(), 'tshark-'));
  try {
    const file = join(dir, 'in.pcap');
    writeFileSync(file, capture);
    const r = spawnSync(
      'tshark',
      ['-r', file, '-V', '-T', 'json', '--no-duplicate-keys', '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE'],
      { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
    );
    assert.equal(r.status, 0, `tshark failed: ${r.stderr}`);
    const docs = JSON.parse(r.stdout) as { _source: { layers: TsharkLayers } }[];
    return docs.map((d) => d._source.layers);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Dissect raw IPv4 datagrams. */
export function tshark(datagrams: readonly Uint8Array[]): TsharkLayers[] {
  return tsharkCapture(writePcap(datagrams.map((data) => ({ data })), LinkType.RAW));
}

/** Every value of a field, anywhere in the frame (or under `within`), in document order. */
export function fields(v: unknown, name: string): string[] {
  const out: string[] = [];
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) {
      for (const y of x) walk(y);
      return;
    }
    if (x === null || typeof x !== 'object') return;
    for (const [k, y] of Object.entries(x as Record<string, unknown>)) {
      if (k === name) {
        if (Array.isArray(y)) for (const z of y) out.push(typeof z === 'string' ? z : JSON.stringify(z));
        else out.push(typeof y === 'string' ? y : JSON.stringify(y));
      }
      walk(y);
    }
  };
  walk(v);
  return out;
}

/** The single value of a field (asserts it occurs once). */
export function field1(v: unknown, name: string): string {
  const all = fields(v, name);
  assert.equal(all.length, 1, `${name}: expected one value, got ${JSON.stringify(all)}`);
  return all[0];
}

/** The layer objects of one protocol in a frame (several when it repeats, e.g. IP in GRE in IP). */
export function layersOf(l: TsharkLayers, proto: string): Record<string, unknown>[] {
  const v = l[proto];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]) as Record<string, unknown>[];
}

export interface ExpertItem {
  readonly severity: number;
  readonly message: string;
}

export function expertItems(l: TsharkLayers): ExpertItem[] {
  const out: ExpertItem[] = [];
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) {
      for (const y of x) walk(y);
      return;
    }
    if (x === null || typeof x !== 'object') return;
    const o = x as Record<string, unknown>;
    for (const [k, y] of Object.entries(o)) {
      if (k === '_ws.expert') {
        for (const e of Array.isArray(y) ? y : [y]) {
          const ee = e as Record<string, unknown>;
          out.push({ severity: Number(ee['_ws.expert.severity']), message: String(ee['_ws.expert.message']) });
        }
      }
      walk(y);
    }
  };
  walk(l);
  return out;
}

/**
 * Notes we accept, each for a stated reason:
 * - EIGRP to 224.0.0.10 with TTL 2: Wireshark notes "TTL != 1" / "only 2" for the
 *   local network control block, but Cisco IOS sends EIGRP with TTL 2
 *   (EIGRP_adjacency.pcap), and so do we.
 */
export const JUSTIFIED_NOTES: readonly RegExp[] = [/"Time To Live" != 1 for a packet sent to the Local Network Control Block/, /"Time To Live" only 2/];

/** No malformed mark, no warning or error, and only the justified notes. */
export function assertClean(l: TsharkLayers, what: string, notes: readonly RegExp[] = JUSTIFIED_NOTES): void {
  assert.equal(fields(l, '_ws.malformed').length, 0, `${what}: Wireshark marks it malformed`);
  assert.equal(l['_ws.malformed'], undefined, `${what}: Wireshark marks it malformed`);
  for (const e of expertItems(l)) {
    assert.ok(e.severity < Severity.WARN, `${what}: expert ${e.severity >= Severity.ERROR ? 'error' : 'warning'}: ${e.message}`);
    if (e.severity >= Severity.NOTE) assert.ok(notes.some((re) => re.test(e.message)), `${what}: unexpected expert note: ${e.message}`);
  }
}

/** The protocols of the frame as tshark stacks them ("raw:ip:gre:nhrp" -> ["raw", "ip", "gre", "nhrp"]). */
export function protocolStack(l: TsharkLayers): string[] {
  return field1(l.frame, 'frame.protocols').split(':');
}

/** A hex field "5a:17:c0:de" as plain hex. */
export function plainHex(s: string): string {
  return s.replace(/:/g, '').toLowerCase();
}
