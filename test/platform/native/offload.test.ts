/**
 * TUN offloads of the native dataplane (src/offload.cc, src/tun_io.cc).
 *
 * Without namespaces: what one TUN read with a virtio header (struct
 * virtio_net_hdr, include/uapi/linux/virtio_net.h) turns into, against an
 * independent reading in TypeScript: a TCP super-packet is cut into
 * MSS-sized segments with their own IPv4 length, ID and checksum, TCP
 * sequence number, flags and checksum; a packet with a checksum left to
 * complete gets it. And what one receive batch turns into on the way back in:
 * in-sequence TCP segments of one flow become one write carrying the GSO
 * fields and the pseudo-header sum, anything that may not merge stays apart,
 * nothing is reordered within a flow, and splitting the merged writes gives
 * the original segments back byte for byte.
 * With two namespaces (root): the TUN is moved to the virtio header (and
 * back to a plain TUN with DMVPN_TUN_OFFLOAD=0), and bulk TCP crosses clear
 * GRE and ESP tunnels intact, split on one side and merged on the other,
 * with no tunnel packet above the MTU.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { checksumValid, onesSum, internetChecksum, ipv4ToU32 } from '../../../protocols/wire/index.js';
import { needsTool, isRoot } from '../../support/tools.js';
import { nativeAvailable, loadNative, Dataplane, openTun, openGreSocket } from '../../../platform/native/index.js';
import { TwoNamespaces, FixtureNode, delay, sh } from './netns.js';
import type { JsonSa } from './fixtures/dataplane-node.js';

// --- an independent model of the packets ---

interface Vnet {
  readonly flags: number;
  readonly gsoType: number;
  readonly hdrLen: number;
  readonly gsoSize: number;
  readonly csumStart: number;
  readonly csumOffset: number;
}

/** struct virtio_net_hdr in host (little-endian) order, as a TUN without TUNSETVNETBE uses on x86 and arm64. */
function vnetBytes(v: Vnet): Uint8Array {
  const b = Buffer.alloc(10);
  b[0] = v.flags;
  b[1] = v.gsoType;
  b.writeUInt16LE(v.hdrLen, 2);
  b.writeUInt16LE(v.gsoSize, 4);
  b.writeUInt16LE(v.csumStart, 6);
  b.writeUInt16LE(v.csumOffset, 8);
  return new Uint8Array(b);
}

function readVnet(b: Uint8Array): Vnet {
  const x = Buffer.from(b);
  return { flags: x[0], gsoType: x[1], hdrLen: x.readUInt16LE(2), gsoSize: x.readUInt16LE(4), csumStart: x.readUInt16LE(6), csumOffset: x.readUInt16LE(8) };
}

const be16 = (b: Uint8Array, at: number): number => (b[at] << 8) | b[at + 1];
const be32 = (b: Uint8Array, at: number): number => ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >> 8) & 0xff;
  b[at + 1] = v & 0xff;
}
function put32(b: Uint8Array, at: number, v: number): void {
  put16(b, at, v >>> 16);
  put16(b, at + 2, v & 0xffff);
}

/** RFC 9293 section 3.1 pseudo-header sum for IPv4. */
function pseudo(ip: Uint8Array, proto: number, l4Len: number): number {
  const s = be32(ip, 12);
  const d = be32(ip, 16);
  return (s >>> 16) + (s & 0xffff) + (d >>> 16) + (d & 0xffff) + proto + l4Len;
}

const TCP = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, CWR: 0x80 } as const;

interface Seg {
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
  readonly id: number;
  readonly seq: number;
  readonly ack: number;
  readonly flags: number;
  readonly window: number;
  readonly options: Uint8Array; // a multiple of 4 bytes
  readonly payload: Uint8Array;
  readonly df?: boolean;
  readonly tos?: number;
  readonly ttl?: number;
}

/** IPv4 (no options) + TCP with both checksums right. */
function tcpPacket(s: Seg): Uint8Array {
  const thl = 20 + s.options.length;
  const total = 20 + thl + s.payload.length;
  const p = new Uint8Array(total);
  p[0] = 0x45;
  p[1] = s.tos ?? 0;
  put16(p, 2, total);
  put16(p, 4, s.id & 0xffff);
  put16(p, 6, s.df === false ? 0 : 0x4000);
  p[8] = s.ttl ?? 64;
  p[9] = 6;
  put32(p, 12, ipv4ToU32(s.src));
  put32(p, 16, ipv4ToU32(s.dst));
  put16(p, 10, internetChecksum(p, 0, 20));
  put16(p, 20, s.sport);
  put16(p, 22, s.dport);
  put32(p, 24, s.seq >>> 0);
  put32(p, 28, s.ack >>> 0);
  p[32] = (thl / 4) << 4;
  p[33] = s.flags;
  put16(p, 34, s.window);
  p.set(s.options, 40);
  p.set(s.payload, 20 + thl);
  put16(p, 36, internetChecksum(p, 20, total, pseudo(p, 6, total - 20)));
  return p;
}

/** A TCP super-packet as the kernel hands it over a TUN with TSO: one header, the TCP field holding the pseudo-header sum. */
function superPacket(s: Seg, mss: number): { vnet: Uint8Array; packet: Uint8Array } {
  const p = tcpPacket(s);
  put16(p, 36, onesSum(p, 0, 0, pseudo(p, 6, p.length - 20)));
  const hdrLen = 40 + s.options.length;
  return {
    vnet: vnetBytes({ flags: 1, gsoType: 1 | (s.flags & TCP.CWR ? 0x80 : 0), hdrLen, gsoSize: mss, csumStart: 20, csumOffset: 16 }),
    packet: p,
  };
}

/** The segments tcp_gso_segment makes of `s` (the model the addon is held to). */
function segmentsOf(s: Seg, mss: number): Seg[] {
  const n = Math.max(1, Math.ceil(s.payload.length / mss));
  return Array.from({ length: n }, (_, i) => {
    let flags = s.flags;
    if (i !== n - 1) flags &= ~(TCP.FIN | TCP.PSH);
    if (i !== 0) flags &= ~TCP.CWR;
    return { ...s, id: (s.id + i) & 0xffff, seq: (s.seq + i * mss) >>> 0, flags, payload: s.payload.subarray(i * mss, (i + 1) * mss) };
  });
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (seed * 31 + i * 7 + (i >> 8)) & 0xff);
const TS_OPTIONS = Uint8Array.of(1, 1, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78); // NOP NOP timestamps

function seg(over: Partial<Seg> = {}): Seg {
  return {
    src: '10.0.0.2', dst: '10.0.0.1', sport: 40000, dport: 5201, id: 100, seq: 1000, ack: 777, flags: TCP.ACK,
    window: 501, options: TS_OPTIONS, payload: bytes(1348, 1), ...over,
  };
}

const native = () => loadNative();

describe('TUN offloads (no namespaces)', { skip: nativeAvailable() ? undefined : 'native addon not built' }, () => {
  test('a TCP super-packet is cut as tcp_gso_segment cuts it (property)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 65535 - 52 }), fc.integer({ min: 88, max: 1460 }), fc.boolean(), fc.constantFrom(0, TCP.PSH, TCP.PSH | TCP.FIN),
      fc.boolean(), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffffffff }),
      (len, mss, withTs, last, cwr, id, seq) => {
        const s = seg({ payload: bytes(len, len), options: withTs ? TS_OPTIONS : new Uint8Array(0), flags: TCP.ACK | last | (cwr ? TCP.CWR : 0), id, seq });
        const sp = superPacket(s, mss);
        const got = native().offloadSplit(sp.vnet, sp.packet);
        assert.ok(got);
        const want = segmentsOf(s, mss).map(tcpPacket);
        assert.equal(got.length, want.length);
        got.forEach((g, i) => {
          assert.equal(hex(g), hex(want[i]), `segment ${i}`);
          assert.ok(checksumValid(g, 0, 20), 'IPv4 header checksum');
          assert.ok(checksumValid(g, 20, g.length, pseudo(g, 6, g.length - 20)), 'TCP checksum');
          assert.ok(g.length <= 40 + s.options.length + mss);
        });
      }), { numRuns: 60 });
  });

  test('a packet with its checksum left to complete gets it (UDP, TCP); offsets outside the packet drop it', () => {
    // UDP, as a local socket on a TUN with TUN_F_CSUM leaves it: the field holds the pseudo-header sum.
    const udp = new Uint8Array(20 + 8 + 37);
    udp.set([0x45, 0, 0, udp.length, 0, 1, 0x40, 0, 64, 17]);
    put32(udp, 12, ipv4ToU32('10.0.0.2'));
    put32(udp, 16, ipv4ToU32('10.0.0.1'));
    put16(udp, 10, internetChecksum(udp, 0, 20));
    put16(udp, 20, 5000);
    put16(udp, 22, 9);
    put16(udp, 24, 8 + 37);
    udp.set(bytes(37, 5), 28);
    put16(udp, 26, onesSum(udp, 0, 0, pseudo(udp, 17, 45)));
    const v = vnetBytes({ flags: 1, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 20, csumOffset: 6 });
    const [u] = native().offloadSplit(v, udp) ?? [];
    assert.ok(u && checksumValid(u, 20, u.length, pseudo(u, 17, 45)), 'UDP checksum completed');
    assert.equal(hex(u.subarray(28)), hex(udp.subarray(28)));

    const t = tcpPacket(seg());
    const partial = t.slice();
    put16(partial, 36, onesSum(partial, 0, 0, pseudo(partial, 6, partial.length - 20)));
    const [c] = native().offloadSplit(vnetBytes({ flags: 1, gsoType: 0, hdrLen: 52, gsoSize: 0, csumStart: 20, csumOffset: 16 }), partial) ?? [];
    assert.equal(hex(c), hex(t));
    // Nothing to complete: the packet as it was.
    const [same] = native().offloadSplit(vnetBytes({ flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 }), t) ?? [];
    assert.equal(hex(same), hex(t));
    assert.equal(native().offloadSplit(vnetBytes({ flags: 1, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 20, csumOffset: t.length }), t), null);
  });

  test('what cannot be split is dropped: TCPv6 and UDP GSO types, a UDP packet marked TCP GSO, a fragment, MSS 0', () => {
    const sp = superPacket(seg({ payload: bytes(5000, 3) }), 1348);
    const v = readVnet(sp.vnet);
    assert.equal(native().offloadSplit(vnetBytes({ ...v, gsoType: 4 }), sp.packet), null);
    assert.equal(native().offloadSplit(vnetBytes({ ...v, gsoType: 3 }), sp.packet), null);
    assert.equal(native().offloadSplit(vnetBytes({ ...v, gsoSize: 0 }), sp.packet), null);
    const udp = sp.packet.slice();
    udp[9] = 17;
    assert.equal(native().offloadSplit(sp.vnet, udp), null);
    const frag = sp.packet.slice();
    put16(frag, 6, 0x2000);
    assert.equal(native().offloadSplit(sp.vnet, frag), null);
  });

  test('in-sequence segments of one flow become one write with the GSO fields and the pseudo-header sum', () => {
    const s = seg({ payload: bytes(10 * 1348 + 500, 9), flags: TCP.ACK | TCP.PSH });
    const parts = segmentsOf(s, 1348).map(tcpPacket);
    const out = native().offloadMerge(parts);
    assert.equal(out.length, 1);
    const v = readVnet(out[0].vnet);
    assert.deepEqual(v, { flags: 1, gsoType: 1, hdrLen: 52, gsoSize: 1348, csumStart: 20, csumOffset: 16 });
    const p = out[0].packet;
    assert.equal(be16(p, 2), p.length);
    assert.equal(p.length, 52 + s.payload.length);
    assert.ok(checksumValid(p, 0, 20), 'IPv4 header checksum');
    assert.equal(be16(p, 36), onesSum(p, 0, 0, pseudo(p, 6, p.length - 20)), 'TCP field = pseudo-header sum');
    assert.equal(p[33], TCP.ACK | TCP.PSH, 'PSH of the last segment');
    assert.equal(hex(p.subarray(52)), hex(s.payload));
    // Completing the checksum as the kernel would gives the packet of the whole payload.
    const full = p.slice();
    put16(full, 36, 0);
    put16(full, 36, internetChecksum(full, 20, full.length, pseudo(full, 6, full.length - 20)));
    assert.equal(hex(full), hex(tcpPacket({ ...s, id: s.id })));
    // One segment alone is written as it is, without GSO.
    const one = native().offloadMerge([parts[0]]);
    assert.deepEqual(readVnet(one[0].vnet), { flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 });
    assert.equal(hex(one[0].packet), hex(parts[0]));
  });

  test('what may not merge stays apart, in order', () => {
    const base = seg();
    const next = (s: Seg, over: Partial<Seg> = {}): Seg => ({ ...s, id: s.id + 1, seq: s.seq + s.payload.length, ...over });
    const s1 = base;
    const s2 = next(s1);
    const cases: { name: string; list: Seg[]; writes: number }[] = [
      { name: 'merged', list: [s1, s2], writes: 1 },
      { name: 'gap in the sequence', list: [s1, next(s1, { seq: s2.seq + 1 })], writes: 2 },
      { name: 'other ACK number', list: [s1, next(s1, { ack: 778 })], writes: 2 },
      { name: 'other options', list: [s1, next(s1, { options: Uint8Array.of(1, 1, 8, 10, 0, 0, 0x12, 0x35, 0, 0, 0x56, 0x78) })], writes: 2 },
      { name: 'other ToS', list: [s1, next(s1, { tos: 4 })], writes: 2 },
      { name: 'other TTL', list: [s1, next(s1, { ttl: 63 })], writes: 2 },
      { name: 'DF clear', list: [{ ...s1, df: false }, next({ ...s1, df: false })], writes: 2 },
      { name: 'pure ACK between', list: [s1, { ...s2, payload: new Uint8Array(0) }, next(s2)], writes: 3 },
      { name: 'PSH ends the run', list: [{ ...s1, flags: TCP.ACK | TCP.PSH }, s2], writes: 2 },
      { name: 'FIN', list: [s1, next(s1, { flags: TCP.ACK | TCP.FIN })], writes: 2 },
      { name: 'a longer segment after', list: [s1, next(s1, { payload: bytes(1400, 2) })], writes: 2 },
      { name: 'a shorter segment ends the run', list: [s1, next(s1, { payload: bytes(100, 2) }), next(next(s1, { payload: bytes(100, 2) }))], writes: 2 },
      { name: 'another flow between', list: [s1, { ...s1, sport: 40001 }, s2], writes: 2 },
    ];
    for (const c of cases) {
      const packets = c.list.map(tcpPacket);
      const out = native().offloadMerge(packets);
      assert.equal(out.length, c.writes, c.name);
      // Per flow, the payload comes out in the order it went in.
      const key = (p: Uint8Array): string => hex(p.subarray(12, 24));
      const byFlow = (list: Uint8Array[], hl: (p: Uint8Array) => number): Map<string, string> => {
        const m = new Map<string, string>();
        for (const p of list) m.set(key(p), (m.get(key(p)) ?? '') + hex(p.subarray(hl(p))));
        return m;
      };
      const hdr = (p: Uint8Array): number => 20 + (p[32] >> 4) * 4;
      assert.deepEqual(byFlow(out.map((o) => o.packet), hdr), byFlow(packets, hdr), c.name);
    }
    // A segment whose checksum is wrong is left for the kernel to drop.
    const bad = tcpPacket(s2);
    bad[60] ^= 1;
    assert.equal(native().offloadMerge([tcpPacket(s1), bad]).length, 2);
    // Not TCP: written alone.
    const udp = tcpPacket(s1);
    udp[9] = 17;
    assert.equal(native().offloadMerge([udp, tcpPacket(s1)]).length, 2);
  });

  test('split after merge gives the original segments back, flows interleaved (property)', () => {
    const flow = (sport: number, count: number, seed: number, lastLen: number): Seg[] => {
      const segs: Seg[] = [];
      for (let i = 0; i < count; i++) {
        const len = i === count - 1 ? lastLen : 1000;
        const prev = segs[i - 1];
        segs.push(seg({ sport, id: (seed + i) & 0xffff, seq: prev ? prev.seq + prev.payload.length : seed * 1000, payload: bytes(len, seed + i) }));
      }
      return segs;
    };
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 1000 })), { minLength: 1, maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 80 }),
      (flows, picks) => {
        const queues = flows.map(([count, lastLen], f) => flow(41000 + f, count, f * 97 + 1, lastLen));
        // Interleave the flows in the order the picks say, each flow's own order kept.
        const order: Seg[] = [];
        const q = queues.map((x) => [...x]);
        for (const k of picks) {
          const live = q.filter((x) => x.length);
          if (!live.length) break;
          order.push(live[k % live.length].shift()!);
        }
        for (const x of q) order.push(...x);
        const writes = native().offloadMerge(order.map(tcpPacket));
        const back = new Map<number, string[]>();
        for (const w of writes) {
          const segs = native().offloadSplit(w.vnet, w.packet);
          assert.ok(segs);
          for (const s of segs) back.set(be16(s, 20), [...(back.get(be16(s, 20)) ?? []), hex(s)]);
        }
        queues.forEach((x, f) => assert.deepEqual(back.get(41000 + f), x.map((s) => hex(tcpPacket(s))), `flow ${f}`));
      }), { numRuns: 80 });
  });
});

// --- real TUNs ---

function nsSkip(): string | undefined {
  if (!isRoot()) return 'needs root (network namespaces, TUN, raw sockets)';
  if (!nativeAvailable()) return 'native addon not built';
  return needsTool('ip', 'tcpdump').skip;
}

test('the dataplane moves its TUN to the virtio header and keeps the device; DMVPN_TUN_OFFLOAD=0 leaves it plain', { skip: nsSkip() }, () => {
  for (const off of [false, true]) {
    const name = `dpo${process.pid % 100000}${off ? 'p' : 'v'}`;
    const saved = process.env.DMVPN_TUN_OFFLOAD;
    if (off) process.env.DMVPN_TUN_OFFLOAD = '0';
    let dp: Dataplane | undefined;
    try {
      const tun = openTun(name, { mtu: 1376 });
      const index = sh('ip', ['-o', 'link', 'show', name]).split(':')[0];
      dp = Dataplane.open({ tun, greFd: openGreSocket({ local: '127.0.0.1' }), config: { localNbma: '127.0.0.1' }, start: false });
      assert.equal(dp.tunOffload(), !off);
      const link = sh('ip', ['-d', 'link', 'show', name]);
      assert.match(link, off ? /vnet_hdr off/ : /vnet_hdr on/);
      assert.match(link, /persist off/);
      assert.match(link, /mtu 1376/);
      assert.equal(sh('ip', ['-o', 'link', 'show', name]).split(':')[0], index, 'same ifindex');
      dp.close();
      dp = undefined;
      assert.notEqual(spawnSync('ip', ['link', 'show', name]).status, 0, 'the device goes with the dataplane');
    } finally {
      dp?.close();
      if (off) {
        if (saved === undefined) delete process.env.DMVPN_TUN_OFFLOAD;
        else process.env.DMVPN_TUN_OFFLOAD = saved;
      }
      spawnSync('ip', ['link', 'del', name]);
    }
  }
});

const A_NBMA = '203.0.113.1';
const B_NBMA = '203.0.113.2';
const KEY = 7;
const A_TO_B: JsonSa = { spi: 0x3001, cipher: 'aes-gcm-256', key: 'a1'.repeat(36) };
const B_TO_A: JsonSa = { spi: 0x3002, cipher: 'aes-cbc-128', integrity: 'hmac-sha1-96', key: 'b2'.repeat(16), authKey: 'c3'.repeat(20) };

const SERVER = `
const h = require('crypto').createHash('sha256'); let n = 0;
const srv = require('net').createServer((s) => { s.on('data', (d) => { h.update(d); n += d.length; });
  s.on('end', () => { console.log(JSON.stringify({ n, sha: h.digest('hex') })); srv.close(); }); });
srv.listen(9000, process.argv[1], () => console.log('listening'));
setTimeout(() => process.exit(3), 60000).unref();`;
const CLIENT = `
const buf = require('crypto').randomBytes(+process.argv[2]);
const s = require('net').connect(9000, process.argv[1], () => s.end(buf));
s.on('close', () => console.log(JSON.stringify({ n: buf.length, sha: require('crypto').createHash('sha256').update(buf).digest('hex') })));
setTimeout(() => process.exit(3), 60000).unref();`;

/** `size` random bytes over TCP from ns `from` to `host` in ns `to`; resolves with what each side hashed. */
async function bulk(from: string, to: string, host: string, size: number): Promise<{ sent: string; got: string }> {
  const run = (ns: string, script: string, args: string[]): { lines: Promise<string[]>; first: Promise<void> } => {
    const c = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let firstSeen: () => void = () => undefined;
    const first = new Promise<void>((r) => (firstSeen = r));
    c.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) firstSeen();
    });
    const lines = new Promise<string[]>((resolve) => c.on('close', () => resolve(out.trim().split('\n'))));
    return { lines, first };
  };
  const server = run(to, SERVER, [host]);
  await Promise.race([server.first, delay(10_000)]);
  const client = run(from, CLIENT, [host, String(size)]);
  const [s, c] = await Promise.all([server.lines, client.lines]);
  return { sent: c[c.length - 1] ?? '', got: s[s.length - 1] ?? '' };
}

/** Tunnel packets (GRE or ESP) on a veth longer than the tunnel MTU allows, counted by tcpdump while `during` runs. */
async function oversize<T>(ns: string, iface: string, frameLimit: number, during: () => Promise<T>): Promise<{ count: number; result: T }> {
  const dump = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-i', iface, '-n', '-q', '-l', `(ip proto 47 or ip proto 50) and greater ${frameLimit + 1}`],
    { stdio: ['ignore', 'pipe', 'ignore'] });
  let lines = 0;
  dump.stdout.on('data', (d: Buffer) => (lines += d.toString().split('\n').filter(Boolean).length));
  await delay(700);
  try {
    const result = await during();
    await delay(300);
    return { count: lines, result };
  } finally {
    dump.kill('SIGTERM');
  }
}

for (const esp of [false, true]) {
  describe(`bulk TCP over ${esp ? 'ESP (AES-GCM-256 one way, AES-CBC + HMAC-SHA1 the other)' : 'clear GRE'} with the TUN offloads`, { skip: nsSkip() }, () => {
    const lab = new TwoNamespaces();
    let a: FixtureNode;
    let b: FixtureNode;

    before(async () => {
      lab.setup();
      a = await lab.startNode(lab.a, {
        tun: 'dmvpn0', tunMtu: 1400, local: A_NBMA, esp,
        config: { localNbma: A_NBMA, key: KEY, mtu: 1400, mssClamp: 1360 },
        peers: [{ overlay: '10.0.0.2', nbma: B_NBMA }],
      }, '10.0.0.1/24');
      b = await lab.startNode(lab.b, {
        tun: 'dmvpn0', tunMtu: 1400, local: B_NBMA, esp,
        config: { localNbma: B_NBMA, key: KEY, mtu: 1400, mssClamp: 1360 },
        peers: [{ overlay: '10.0.0.1', nbma: A_NBMA }],
      }, '10.0.0.2/24');
      if (esp) {
        await a.request({ cmd: 'setOutboundSa', nbma: B_NBMA, sa: A_TO_B });
        await a.request({ cmd: 'setInboundSa', sa: B_TO_A });
        await b.request({ cmd: 'setOutboundSa', nbma: A_NBMA, sa: B_TO_A });
        await b.request({ cmd: 'setInboundSa', sa: A_TO_B });
      }
    });

    after(async () => {
      await lab.cleanup();
    });

    test('both TUNs carry the virtio header', () => {
      for (const ns of [lab.a, lab.b]) assert.match(sh('ip', ['-n', ns, '-d', 'link', 'show', 'dmvpn0']), /vnet_hdr on/);
    });

    for (const [from, to, host] of [['b', 'a', '10.0.0.1'], ['a', 'b', '10.0.0.2']] as const) {
      test(`8 MB from ${from.toUpperCase()} to ${to.toUpperCase()} arrive intact; split into MTU-sized tunnel packets, merged on the way in`, { timeout: 90_000 }, async () => {
        const tx = from === 'a' ? a : b;
        const rx = to === 'a' ? a : b;
        const txNs = from === 'a' ? lab.a : lab.b;
        const t0 = await tx.stats();
        const r0 = await rx.stats();
        // IPv4 20 + (ESP 8 + IV 16 + pad 15 + 2 + ICV 16 or nothing) + GRE 8 + 1400, plus Ethernet 14.
        const limit = 14 + 20 + (esp ? 57 : 0) + 8 + 1400;
        const { count, result } = await oversize(txNs, from === 'a' ? 'vA' : 'vB', limit, () => bulk(from === 'a' ? lab.a : lab.b, to === 'a' ? lab.a : lab.b, host, 8 << 20));
        assert.ok(result.sent.includes('"n":8388608'), `client: ${result.sent}`);
        assert.equal(result.got, result.sent, 'the receiver hashed what the sender sent');
        assert.equal(count, 0, 'no tunnel packet above the MTU on the wire');
        const t1 = await tx.stats();
        await delay(100);
        const r1 = await rx.stats();
        const d = (x: Record<string, number>, y: Record<string, number>, k: string): number => (y[k] ?? 0) - (x[k] ?? 0);
        assert.ok(d(t0, t1, 'tunRxGsoPackets') > 0, `sender split super-packets: ${JSON.stringify(t1)}`);
        assert.ok(d(r0, r1, 'tunTxGroPackets') > 0, `receiver merged segments: ${JSON.stringify(r1)}`);
        assert.ok(d(t0, t1, 'tunRxPackets') > (8 << 20) / 1400, 'tunRxPackets counts the segments');
        // Every packet taken from the TUN left in the tunnel (IPv6 the kernel may send is the only drop).
        assert.equal(d(t0, t1, esp ? 'espTxPackets' : 'greTxPackets') + d(t0, t1, 'dropNotIpv4'), d(t0, t1, 'tunRxPackets'), 'every segment left in the tunnel');
        for (const k of ['dropBadInner', 'dropTooBig', 'dropTunWriteFail', 'dropEspAuth', 'dropSendFail']) {
          assert.equal(d(t0, t1, k) + d(r0, r1, k), 0, k);
        }
      });
    }
  });
}
