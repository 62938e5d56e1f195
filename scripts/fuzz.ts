/**
 * npm run fuzz [-- --iterations N] [--seed S] [--codec NAME[,NAME...]] [--crashers DIR]
 *
 * Mutation fuzzing of every wire codec, seeded with the real captures in
 * ../shared/vectors (and the demo capture our own encoders build; the demo
 * alone when the vectors are absent). Each input is a seed with 1-4 stacked
 * mutations: bit flips, byte sets, truncation, extension, length-field
 * corruption, chunk insert/delete, splicing with another seed.
 *
 * - A codec may only throw WireError (the capture reader only CaptureError);
 *   anything else is a crash: it is printed, the input is written to
 *   test/vectors/crashers/<codec>-<hash>.bin, and the run exits 1.
 * - Whatever parses must re-encode to the same bytes (every codec here claims
 *   byte-exactness for the bytes it consumed): a mismatch is a finding, printed
 *   and written as <codec>-reencode-<hash>.bin, and also exits 1.
 * - `decode` runs the whole dissector over mutated frames: it must never throw.
 *
 * The same seed gives the same inputs, so any finding can be replayed.
 */
import { readdirSync, readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Reader, Writer, WireError, bytesEqual } from '../protocols/wire/index.js';
import { parseIpv4, emitIpv4, ipv4Length, IpProto } from '../protocols/ip/ipv4.js';
import { parseIpv6 } from '../protocols/ip/ipv6.js';
import { parseUdp, emitUdp, udpLength, UdpPort } from '../protocols/ip/udp.js';
import { parseGre, emitGre, greLength, GreProto } from '../protocols/gre/wire.js';
import { nhrpCodec } from '../protocols/nhrp/index.js';
import { eigrpCodec } from '../protocols/eigrp/wire.js';
import { ikev2Codec, ikeVersion } from '../protocols/ikev2/wire.js';
import { espCodec } from '../protocols/esp/wire.js';
import { udpEncapCodec, classifyUdpEncap, NON_ESP_MARKER_LENGTH } from '../protocols/esp/udpencap.js';
import { parseCapture, stripLink, writePcap, CaptureError, type CapturedPacket } from '../daemon/capture/pcap.js';
import { readCapture, dissectPacket } from '../daemon/decode/index.js';
import { sampleCapture } from './demo.js';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

// ---------------------------------------------------------------------------
// Deterministic randomness (sfc32: small, fast, good enough for mutation choice)

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 12; i++) this.next();
  }
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  /** 0 <= x < n */
  int(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
}

// ---------------------------------------------------------------------------
// Targets: how to run one input, and what counts as the bytes it consumed

export type Outcome = 'parsed' | 'rejected';

export interface Target {
  readonly name: string;
  /** Run the input; returns the outcome or a re-encoding mismatch description; throws on a crash. */
  run(input: Uint8Array): Outcome | { mismatch: string };
}

/** Parse with a codec; on success emit again and compare with the bytes the parse consumed. */
function codecTarget<T>(name: string, protocol: string, parse: (r: Reader) => T, emit: (v: T, w: Writer) => void, length: (v: T) => number, consumed?: (input: Uint8Array, r: Reader) => number): Target {
  return {
    name,
    run(input) {
      const r = new Reader(input, protocol);
      let v: T;
      try {
        v = parse(r);
      } catch (e) {
        if (e instanceof WireError) return 'rejected';
        throw e;
      }
      const n = consumed ? consumed(input, r) : r.pos;
      let out: Uint8Array;
      try {
        const len = length(v);
        const w = new Writer(new Uint8Array(len), protocol);
        emit(v, w);
        if (w.pos !== len) return { mismatch: `emit wrote ${w.pos} bytes, length() said ${len}` };
        out = w.buf;
      } catch (e) {
        if (e instanceof WireError) return { mismatch: `a parsed value does not re-encode: ${e.message}` };
        throw e;
      }
      if (!bytesEqual(out, input.subarray(0, n))) return { mismatch: `re-encoded ${out.length} bytes differ from the ${n} parsed` };
      return 'parsed';
    },
  };
}

/** The capture reader: only CaptureError; every packet's link layer strips without throwing. */
const pcapTarget: Target = {
  name: 'pcap',
  run(input) {
    let packets: CapturedPacket[];
    try {
      packets = parseCapture(input);
    } catch (e) {
      if (e instanceof CaptureError) {
        readCapture(input); // the decoder's lenient reader must cope with the same file
        return 'rejected';
      }
      throw e;
    }
    for (const p of packets) stripLink(p);
    return 'parsed';
  },
};

/** The dissector over a one-frame capture: never throws, WireError becomes a "malformed" note. */
const decodeTarget: Target = {
  name: 'decode',
  run(input) {
    const read = readCapture(input);
    let malformed = false;
    for (const f of read.packets) if (dissectPacket(f).malformed) malformed = true;
    return malformed || read.error ? 'rejected' : 'parsed';
  },
};

export const TARGETS: Readonly<Record<string, Target>> = {
  // parseIpv4 ignores bytes past Total Length (link padding): compare with the datagram only.
  ipv4: codecTarget('ipv4', 'ipv4', parseIpv4, emitIpv4, ipv4Length, (b) => ((b[2] << 8) | b[3])),
  udp: codecTarget('udp', 'udp', parseUdp, (v, w) => emitUdp(v, w), udpLength, (b) => ((b[4] << 8) | b[5])),
  gre: codecTarget('gre', 'gre', parseGre, emitGre, greLength),
  nhrp: codecTarget('nhrp', 'nhrp', nhrpCodec.parse, nhrpCodec.emit, nhrpCodec.length),
  eigrp: codecTarget('eigrp', 'eigrp', eigrpCodec.parse, eigrpCodec.emit, eigrpCodec.length),
  ikev2: codecTarget('ikev2', 'ikev2', ikev2Codec.parse, ikev2Codec.emit, ikev2Codec.length),
  esp: codecTarget('esp', 'esp', espCodec.parse, espCodec.emit, espCodec.length),
  udpencap: codecTarget('udpencap', 'udpencap', udpEncapCodec.parse, udpEncapCodec.emit, udpEncapCodec.length),
  pcap: pcapTarget,
  decode: decodeTarget,
};

// ---------------------------------------------------------------------------
// Seeds: the protocol bytes inside real captures

export type Seeds = Record<string, Uint8Array[]>;

function addIp(datagram: Uint8Array, seeds: Seeds, v6 = false, depth = 0): void {
  if (depth > 4) return;
  try {
    const ip = v6 ? parseIpv6(new Reader(datagram, 'ipv6')) : parseIpv4(new Reader(datagram, 'ipv4'));
    const proto = 'protocol' in ip.header ? ip.header.protocol : ip.header.nextHeader;
    if (!v6) seeds.ipv4.push(datagram);
    if (proto === IpProto.EIGRP) seeds.eigrp.push(ip.payload);
    else if (proto === IpProto.ESP) seeds.esp.push(ip.payload);
    else if (proto === IpProto.GRE) {
      seeds.gre.push(ip.payload);
      const g = parseGre(new Reader(ip.payload, 'gre'));
      if (g.header.protocolType === GreProto.NHRP) seeds.nhrp.push(g.payload);
      else if (g.header.protocolType === GreProto.IPV4) addIp(g.payload, seeds, false, depth + 1);
    } else if (proto === IpProto.UDP) {
      const u = parseUdp(new Reader(ip.payload, 'udp'));
      seeds.udp.push(ip.payload);
      const ports = [u.srcPort, u.dstPort];
      if (ports.includes(UdpPort.IKE_NATT)) {
        seeds.udpencap.push(u.payload);
        const kind = classifyUdpEncap(u.payload);
        if (kind === 'esp') seeds.esp.push(u.payload);
        if (kind === 'ike' && ikeVersion(u.payload, NON_ESP_MARKER_LENGTH)?.major === 2) seeds.ikev2.push(u.payload.subarray(NON_ESP_MARKER_LENGTH));
      } else if (ports.includes(UdpPort.IKE) && ikeVersion(u.payload)?.major === 2) seeds.ikev2.push(u.payload);
    }
  } catch (e) {
    if (!(e instanceof WireError)) throw e;
  }
}

function addCapture(file: Uint8Array, seeds: Seeds): void {
  seeds.pcap.push(file);
  for (const f of parseCapture(file)) {
    seeds.decode.push(writePcap([{ data: f.data, time: f.time }], f.linkType));
    const l = stripLink(f);
    if (l?.etherType === 0x0800) addIp(l.payload, seeds);
    else if (l?.etherType === 0x86dd) addIp(l.payload, seeds, true);
  }
}

/** Seeds from the vector captures (when present) and the demo capture. */
export function loadSeeds(vectorsDir?: string): { seeds: Seeds; source: string } {
  const seeds: Seeds = Object.fromEntries(Object.keys(TARGETS).map((k) => [k, []]));
  const dir = join(vectorsDir ?? process.env.DMVPN_VECTORS ?? resolve(projectRoot, '..', 'shared', 'vectors'), 'pcap');
  let source = 'the demo capture (vectors not found)';
  if (existsSync(dir)) {
    const files = readdirSync(dir).filter((f) => f.endsWith('.pcap') || f.endsWith('.pcapng'));
    for (const f of files) addCapture(new Uint8Array(readFileSync(join(dir, f))), seeds);
    source = `${files.length} vector captures in ${dir} and the demo capture`;
  }
  addCapture(sampleCapture(), seeds);
  addCapture(sampleCapture({ key: 1000 }), seeds);
  return { seeds, source };
}

// ---------------------------------------------------------------------------
// Mutations

const INTERESTING8 = [0x00, 0x01, 0x02, 0x03, 0x04, 0x07, 0x08, 0x10, 0x1f, 0x20, 0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xfe, 0xff];

function interesting16(len: number, rng: Rng): number {
  const opts = [0, 1, 2, 3, 4, 8, 12, 16, 20, 24, 28, len - 1, len, len + 1, len >> 1, 0x7fff, 0x8000, 0xffff, rng.int(0x10000)];
  return rng.pick(opts) & 0xffff;
}

/** One mutation of `b` (a fresh array; `b` is not modified). */
function mutateOnce(b: Uint8Array, rng: Rng, other: Uint8Array): Uint8Array {
  const n = b.length;
  switch (rng.int(9)) {
    case 0: { // bit flips
      const out = b.slice();
      for (let k = 1 + rng.int(4); k > 0 && n > 0; k--) out[rng.int(n)] ^= 1 << rng.int(8);
      return out;
    }
    case 1: { // byte set
      const out = b.slice();
      for (let k = 1 + rng.int(3); k > 0 && n > 0; k--) out[rng.int(n)] = rng.int(4) === 0 ? rng.int(256) : rng.pick(INTERESTING8);
      return out;
    }
    case 2: // truncation
      return b.slice(0, rng.int(n + 1));
    case 3: { // extension with random or repeated bytes
      const extra = new Uint8Array(1 + rng.int(64));
      for (let i = 0; i < extra.length; i++) extra[i] = rng.int(2) ? rng.int(256) : (n ? b[rng.int(n)] : 0);
      const out = new Uint8Array(n + extra.length);
      out.set(b);
      out.set(extra, n);
      return out;
    }
    case 4:
    case 5: { // length fields: a 16-bit word set to a value near the buffer's size
      if (n < 2) return b.slice();
      const out = b.slice();
      const at = rng.int(2) ? rng.int(n - 1) & ~1 : rng.int(n - 1);
      const v = interesting16(n - at, rng);
      out[at] = v >> 8;
      out[at + 1] = v & 0xff;
      return out;
    }
    case 6: { // delete a chunk
      if (n === 0) return b.slice();
      const at = rng.int(n);
      const len = 1 + rng.int(Math.min(32, n - at));
      const out = new Uint8Array(n - len);
      out.set(b.subarray(0, at));
      out.set(b.subarray(at + len), at);
      return out;
    }
    case 7: { // duplicate a chunk in place (repeats TLVs, CIEs, payloads)
      if (n === 0) return b.slice();
      const at = rng.int(n);
      const len = 1 + rng.int(Math.min(48, n - at));
      const out = new Uint8Array(n + len);
      out.set(b.subarray(0, at + len));
      out.set(b.subarray(at, n), at + len);
      return out;
    }
    default: { // splice: a prefix of this seed and a suffix of another
      const cut = rng.int(n + 1);
      const from = rng.int(other.length + 1);
      const out = new Uint8Array(cut + other.length - from);
      out.set(b.subarray(0, cut));
      out.set(other.subarray(from), cut);
      return out;
    }
  }
}

export function mutate(seed: Uint8Array, rng: Rng, pool: readonly Uint8Array[]): Uint8Array {
  let b = seed;
  for (let k = 1 + rng.int(4); k > 0; k--) b = mutateOnce(b, rng, rng.pick(pool));
  return b === seed ? seed.slice() : b;
}

// ---------------------------------------------------------------------------
// The run

export interface CodecReport {
  readonly codec: string;
  readonly seeds: number;
  readonly inputs: number;
  readonly parsed: number;
  readonly rejected: number;
  readonly crashes: number;
  readonly mismatches: number;
  readonly seconds: number;
  /** Paths of the inputs written for crashes and mismatches. */
  readonly files: readonly string[];
}

export interface FuzzOptions {
  readonly iterations: number;
  readonly seed: number;
  readonly codecs: readonly string[];
  /** Where crashers go; undefined: do not write them. */
  readonly crashersDir?: string;
  readonly seeds: Seeds;
  /** Per-finding output (default: console.error). */
  readonly log?: (line: string) => void;
}

const MAX_FINDINGS_PER_CODEC = 10;

function saveFinding(dir: string | undefined, name: string, input: Uint8Array): string | undefined {
  if (!dir) return undefined;
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}-${createHash('sha1').update(input).digest('hex').slice(0, 12)}.bin`);
  writeFileSync(path, input);
  return path;
}

function rerunWithStack(target: Target, input: Uint8Array): unknown {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 20;
  try {
    target.run(input);
    return undefined;
  } catch (e) {
    return e;
  } finally {
    Error.stackTraceLimit = limit;
  }
}

export function fuzzCodec(codec: string, o: FuzzOptions): CodecReport {
  const target = TARGETS[codec];
  const pool = o.seeds[codec] ?? [];
  const log = o.log ?? ((l: string) => console.error(l));
  if (!target) throw new Error(`unknown codec "${codec}" (one of ${Object.keys(TARGETS).join(', ')})`);
  if (pool.length === 0) throw new Error(`no seeds for ${codec}`);
  // Each codec gets its own stream, so `--codec x` reproduces the inputs of a full run.
  const rng = new Rng((o.seed * 0x01000193) ^ [...codec].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619), 2166136261));
  let parsed = 0;
  let rejected = 0;
  let crashes = 0;
  let mismatches = 0;
  const seen = new Set<string>();
  const files: string[] = [];
  const start = process.hrtime.bigint();
  // Most inputs are rejected, and capturing a stack trace for each WireError costs more than
  // the parse itself: capture none while fuzzing (a crash is re-run with traces on).
  const stackLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  // The seeds themselves first: real packets must parse and re-encode.
  const total = o.iterations;
  try {
  for (let i = 0; i < total; i++) {
    const input = i < pool.length ? pool[i] : mutate(rng.pick(pool), rng, pool);
    try {
      const r = target.run(input);
      if (r === 'parsed') parsed++;
      else if (r === 'rejected') rejected++;
      else {
        mismatches++;
        if (!seen.has(r.mismatch) && seen.size < MAX_FINDINGS_PER_CODEC) {
          seen.add(r.mismatch);
          const f = saveFinding(o.crashersDir, `${codec}-reencode`, input);
          if (f) files.push(f);
          log(`fuzz ${codec}: FINDING (re-encoding) input ${i}: ${r.mismatch}${f ? ` -> ${f}` : ''}`);
        }
      }
    } catch (e0) {
      crashes++;
      // Stack traces are off while fuzzing (see below); run the input again with them on to report where.
      const e = rerunWithStack(target, input) ?? e0;
      const err = e instanceof Error ? e : new Error(String(e));
      const key = `${err.name}: ${err.message} @ ${err.stack?.split('\n')[1]?.trim() ?? ''}`;
      if (!seen.has(key) && seen.size < MAX_FINDINGS_PER_CODEC) {
        seen.add(key);
        const f = saveFinding(o.crashersDir, codec, input);
        if (f) files.push(f);
        log(`fuzz ${codec}: CRASH input ${i}: ${err.stack ?? err.message}${f ? `\n  input written to ${f}` : ''}`);
      }
    }
  }
  } finally {
    Error.stackTraceLimit = stackLimit;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { codec, seeds: pool.length, inputs: total, parsed, rejected, crashes, mismatches, seconds, files };
}

export function runFuzz(o: FuzzOptions): CodecReport[] {
  return o.codecs.map((c) => fuzzCodec(c, o));
}

/** Replay one saved input: the codec comes from the file name ("nhrp-1a2b3c.bin", "nhrp-reencode-....bin"). */
export function replay(name: string, input: Uint8Array): Outcome | { mismatch: string } {
  const codec = name.split('-')[0];
  const target = TARGETS[codec];
  if (!target) throw new Error(`${name}: no codec "${codec}"`);
  return target.run(input);
}

// ---------------------------------------------------------------------------

function parseArgs(argv: string[]): { iterations: number; seed: number; codecs: string[]; crashersDir: string } | string {
  let iterations = 1_000_000;
  let seed = 1;
  let codecs = Object.keys(TARGETS);
  let crashersDir = join(projectRoot, 'test', 'vectors', 'crashers');
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--iterations' || a === '-n') {
      iterations = Number(v);
      if (!Number.isInteger(iterations) || iterations < 1) return `--iterations takes a positive integer, not "${v}"`;
      i++;
    } else if (a === '--seed') {
      seed = Number(v);
      if (!Number.isInteger(seed)) return `--seed takes an integer, not "${v}"`;
      i++;
    } else if (a === '--codec') {
      codecs = (v ?? '').split(',').filter(Boolean);
      const bad = codecs.filter((c) => !(c in TARGETS));
      if (codecs.length === 0 || bad.length) return `--codec takes ${Object.keys(TARGETS).join(', ')} (comma-separated)`;
      i++;
    } else if (a === '--crashers') {
      crashersDir = resolve(v ?? '.');
      i++;
    } else return `unknown argument "${a}"`;
  }
  return { iterations, seed, codecs, crashersDir };
}

function main(argv: string[]): number {
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    console.error(`fuzz: ${args}\nusage: npm run fuzz [-- --iterations N] [--seed S] [--codec ${Object.keys(TARGETS).join('|')}] [--crashers DIR]`);
    return 2;
  }
  const { seeds, source } = loadSeeds();
  console.log(`fuzz: seed ${args.seed}, ${args.iterations} inputs per codec, seeds from ${source}`);
  console.log(`${'codec'.padEnd(10)} ${'seeds'.padStart(6)} ${'inputs'.padStart(10)} ${'parsed'.padStart(10)} ${'rejected'.padStart(10)} ${'crashes'.padStart(8)} ${'reencode'.padStart(8)} ${'rate'.padStart(12)}`);
  let bad = 0;
  let total = 0;
  for (const c of args.codecs) {
    const r = fuzzCodec(c, { ...args, seeds });
    total += r.seconds;
    bad += r.crashes + r.mismatches;
    const rate = `${Math.round(r.inputs / r.seconds).toLocaleString('en-US')}/s`;
    console.log(`${c.padEnd(10)} ${String(r.seeds).padStart(6)} ${String(r.inputs).padStart(10)} ${String(r.parsed).padStart(10)} ${String(r.rejected).padStart(10)} ${String(r.crashes).padStart(8)} ${String(r.mismatches).padStart(8)} ${rate.padStart(12)}`);
  }
  console.log(`fuzz: ${total.toFixed(1)} s in all; ${bad === 0 ? 'no crashes, every parsed input re-encoded byte for byte' : `${bad} findings (inputs in ${args.crashersDir})`}`);
  return bad === 0 ? 0 : 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = main(process.argv.slice(2));
