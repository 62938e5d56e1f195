/**
 * The underlay comparison of scripts/vm/wire-compare.ts over crafted packets: classification, the
 * field map (every byte in exactly one field), the masks (only the named fields, inside a Traffic
 * Indication's trigger too), and the diff it prints when anything else differs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { internetChecksum, ipv4Bytes } from '../../protocols/wire/index.js';
import { compareRuns, diffFields, dissect, renderReport, MASKS, type Run } from '../../scripts/vm/wire-compare.js';

const HUB = '203.0.113.1';
const SPOKE = '203.0.113.12';

function cat(...parts: (Uint8Array | number[])[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}
const u16 = (v: number): number[] => [v >> 8, v & 0xff];
const u32 = (v: number): number[] => [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];

function ipv4(src: string, dst: string, proto: number, payload: Uint8Array, o: { tos?: number; id?: number; ttl?: number; df?: boolean } = {}): Uint8Array {
  const h = cat([0x45, o.tos ?? 0], u16(20 + payload.length), u16(o.id ?? 0), u16(o.df === false ? 0 : 0x4000), [o.ttl ?? 255, proto, 0, 0], ipv4Bytes(src), ipv4Bytes(dst));
  const ck = internetChecksum(h);
  h[10] = ck >> 8;
  h[11] = ck & 0xff;
  return cat(h, payload);
}

function gre(proto: number, payload: Uint8Array, key?: number): Uint8Array {
  return cat(u16(key === undefined ? 0 : 0x2000), u16(proto), key === undefined ? [] : u32(key), payload);
}

/** NHRP with IPv4 addresses: the mandatory part of types 1-6 (one CIE) or 8 (a trigger), then the authentication extension. */
function nhrp(type: number, o: { requestId?: number; trigger?: Uint8Array; hop?: number; holding?: number } = {}): Uint8Array {
  const addrs = cat(ipv4Bytes(SPOKE), ipv4Bytes('10.0.0.12'), ipv4Bytes('10.0.0.1'));
  const mand = type === 8
    ? cat([4, 4], u16(0), u16(0), u16(0), addrs, o.trigger ?? [])
    : cat([4, 4], u16(0x8000), u32(o.requestId ?? 1), addrs, [0, 32], u16(0), u16(1400), u16(o.holding ?? 450), [4, 0, 4, 0], ipv4Bytes(SPOKE), ipv4Bytes('10.0.0.12'));
  const ext = cat(u16(0x8007), u16(12), u32(1), [...Buffer.from('Cisco123')], u16(0x8000), u16(0));
  const extoff = 20 + mand.length;
  const size = extoff + ext.length;
  const p = cat(u16(1), u16(0x0800), [0, 0, 0, 0, 0], [o.hop ?? 255], u16(size), u16(0), u16(extoff), [1, type, 4, 0], mand, ext);
  const ck = internetChecksum(p);
  p[12] = ck >> 8;
  p[13] = ck & 0xff;
  return p;
}

function eigrp(opcode: number, o: { seq?: number; ack?: number; tlvs?: Uint8Array } = {}): Uint8Array {
  const p = cat([2, opcode], u16(0), u32(0), u32(o.seq ?? 0), u32(o.ack ?? 0), u16(0), u16(1), o.tlvs ?? []);
  const ck = internetChecksum(p);
  p[2] = ck >> 8;
  p[3] = ck & 0xff;
  return p;
}
const HELLO_TLVS = cat(u16(1), u16(12), [1, 0, 1, 0, 0, 0], u16(15), u16(4), u16(8), [23, 0, 2, 0]);

function echo(type: 0 | 8, o: { id?: number; seq?: number; stamp?: number } = {}): Uint8Array {
  const data = cat(u32(o.stamp ?? 1_700_000_000), u32(0), u32(123456), u32(0), Array.from({ length: 40 }, (_, i) => 0x10 + i));
  const p = cat([type, 0], u16(0), u16(o.id ?? 7), u16(o.seq ?? 1), data);
  const ck = internetChecksum(p);
  p[2] = ck >> 8;
  p[3] = ck & 0xff;
  return p;
}

function icmpInGre(type: 0 | 8, o: { outerId?: number; innerId?: number; id?: number; seq?: number; stamp?: number; tos?: number; outerTos?: number; ttl?: number } = {}): Uint8Array {
  const inner = ipv4('192.168.2.10', '192.168.1.10', 1, echo(type, o), { id: o.innerId, tos: o.tos ?? 0xb8, ttl: 63 });
  return ipv4(SPOKE, HUB, 47, gre(0x0800, inner), { id: o.outerId, tos: o.outerTos ?? 0xb8, ttl: o.ttl });
}

function nhrpInGre(type: number, o: Parameters<typeof nhrp>[1] & { outerId?: number; ttl?: number; key?: number } = {}): Uint8Array {
  return ipv4(SPOKE, HUB, 47, gre(0x2001, nhrp(type, o), o.key), { id: o.outerId, ttl: o.ttl });
}

function eigrpInGre(opcode: number, o: Parameters<typeof eigrp>[1] & { outerId?: number; innerId?: number; dst?: string } = {}): Uint8Array {
  const inner = ipv4('10.0.0.12', o.dst ?? '224.0.0.10', 88, eigrp(opcode, o), { id: o.innerId, tos: 0xc0, ttl: 2, df: false });
  return ipv4(SPOKE, HUB, 47, gre(0x0800, inner), { id: o.outerId, tos: 0xc0 });
}

function run(name: string, ...packets: Uint8Array[]): Run {
  return { name, points: [{ point: 'hub', packets: packets.map((bytes, i) => ({ frame: i + 1, bytes })) }] };
}

/** Fields sorted by offset tile the datagram: no gap, no overlap, except a trigger's fields inside its mandatory part. */
function assertTiles(bytes: Uint8Array): void {
  const d = dissect(bytes);
  let at = 0;
  for (const f of [...d.fields].sort((x, y) => x.offset - y.offset)) {
    assert.equal(f.offset, at, `${d.cls}: ${f.name} starts at ${f.offset}, expected ${at}`);
    at = f.offset + f.length;
  }
  assert.equal(at, bytes.length, `${d.cls}: fields end at ${at} of ${bytes.length}`);
}

test('wire-compare: classes and flows of NHRP, EIGRP and ICMP in GRE', () => {
  const cases: [Uint8Array, string, string][] = [
    [nhrpInGre(3), 'nhrp registration request', `${SPOKE} > ${HUB}`],
    [nhrpInGre(2), 'nhrp resolution reply', `${SPOKE} > ${HUB}`],
    [nhrpInGre(8, { trigger: ipv4('192.168.2.10', '192.168.1.10', 1, echo(8)) }), 'nhrp traffic indication', `${SPOKE} > ${HUB}`],
    [eigrpInGre(5, { tlvs: HELLO_TLVS }), 'eigrp hello', `${SPOKE} > ${HUB} | 10.0.0.12 > 224.0.0.10`],
    [eigrpInGre(5, { ack: 4, dst: '10.0.0.1' }), 'eigrp ack', `${SPOKE} > ${HUB} | 10.0.0.12 > 10.0.0.1`],
    [eigrpInGre(1, { seq: 4, tlvs: cat(u16(0x0005), u16(8), u32(9)) }), 'eigrp update', `${SPOKE} > ${HUB} | 10.0.0.12 > 224.0.0.10`],
    [icmpInGre(8), 'icmp echo request', `${SPOKE} > ${HUB} | 192.168.2.10 > 192.168.1.10`],
    [icmpInGre(0), 'icmp echo reply', `${SPOKE} > ${HUB} | 192.168.2.10 > 192.168.1.10`],
    [ipv4(SPOKE, HUB, 47, gre(0x86dd, Uint8Array.of(0x60, 0, 0, 0))), 'gre protocol 0x86dd', `${SPOKE} > ${HUB}`],
    [ipv4(SPOKE, HUB, 17, Uint8Array.of(1, 2, 3, 4)), 'ip protocol 17', `${SPOKE} > ${HUB}`],
  ];
  for (const [bytes, cls, flow] of cases) {
    const d = dissect(bytes);
    assert.equal(d.cls, cls);
    assert.equal(d.flow, flow);
    assert.equal(d.note, undefined, `${cls}: ${d.note}`);
    assertTiles(bytes);
  }
  // A keyed GRE header (RFC 2890) has its key as a field of its own.
  const keyed = dissect(nhrpInGre(3, { key: 100 }));
  assert.deepEqual(keyed.fields.find((f) => f.name === 'gre.key'), { name: 'gre.key', offset: 24, length: 4 });
});

test('wire-compare: each mask covers exactly its field, and nothing else is masked', () => {
  const names = (b: Uint8Array): string[] => dissect(b).masks.map((m) => `${m.mask}:${m.name}@${m.offset}+${m.length}`);
  assert.deepEqual(names(nhrpInGre(3)), [
    'outer-ip-id:outer ip.identification@4+2', 'outer-ip-checksum:outer ip.header checksum@10+2',
    'nhrp-checksum:nhrp.checksum@36+2', 'nhrp-request-id:nhrp.request id@48+4',
  ]);
  assert.deepEqual(names(eigrpInGre(1, { seq: 3, tlvs: cat(u16(0x0005), u16(8), u32(9)) })), [
    'outer-ip-id:outer ip.identification@4+2', 'outer-ip-checksum:outer ip.header checksum@10+2',
    'inner-ip-id:inner ip.identification@28+2', 'inner-ip-checksum:inner ip.header checksum@34+2',
    'eigrp-checksum:eigrp.checksum@46+2', 'eigrp-sequence:eigrp.sequence@52+4', 'eigrp-ack:eigrp.acknowledge@56+4',
    'eigrp-next-multicast-sequence:eigrp.tlv[0] next multicast sequence.value@68+4',
  ]);
  assert.deepEqual(names(icmpInGre(8)).slice(4), [
    'icmp-checksum:icmp.checksum@46+2', 'icmp-identifier:icmp.identifier@48+2', 'icmp-timestamp:icmp.timestamp@52+16',
  ]);
  // Inside a Traffic Indication, the trigger's own ID, checksums, echo id/seq and timestamp.
  const ti = dissect(nhrpInGre(8, { trigger: ipv4('192.168.2.10', '192.168.1.10', 1, echo(8)) }));
  assert.deepEqual(ti.masks.map((m) => m.name), [
    'outer ip.identification', 'outer ip.header checksum', 'nhrp.checksum',
    'nhrp.trigger inner ip.identification', 'nhrp.trigger inner ip.header checksum',
    'nhrp.trigger icmp.checksum', 'nhrp.trigger icmp.identifier', 'nhrp.trigger icmp.timestamp',
  ]);
  for (const m of ti.masks) assert.ok(m.mask in MASKS);
});

test('wire-compare: packets that differ only in masked fields are identical, and the report says which masks it took', () => {
  const trigger = (id: number, seq: number): Uint8Array => ipv4('192.168.2.10', '192.168.1.10', 1, echo(8, { id, seq, stamp: id }), { id });
  const a = run('userspace', nhrpInGre(3, { requestId: 1, outerId: 11 }), eigrpInGre(1, { seq: 1, outerId: 12, innerId: 5 }),
    icmpInGre(8, { id: 100, seq: 1, stamp: 1, outerId: 1, innerId: 2 }), nhrpInGre(8, { trigger: trigger(100, 1) }));
  const b = run('kernel', nhrpInGre(3, { requestId: 77, outerId: 999 }), eigrpInGre(1, { seq: 9, outerId: 4, innerId: 6 }),
    icmpInGre(8, { id: 4242, seq: 1, stamp: 9, outerId: 3, innerId: 8 }), nhrpInGre(8, { trigger: trigger(4242, 1) }));
  const r = compareRuns(a, b);
  assert.ok(r.ok, renderReport(r));
  assert.deepEqual(Object.keys(r.masksNeeded).sort(), [
    'eigrp-checksum', 'eigrp-sequence', 'icmp-checksum', 'icmp-identifier', 'icmp-timestamp',
    'inner-ip-checksum', 'inner-ip-id', 'nhrp-checksum', 'nhrp-request-id', 'outer-ip-checksum', 'outer-ip-id',
  ]);
  // The echo sequence number is not masked: each ping of the exchange sends one echo, sequence 1.
  const seq = compareRuns(run('u', icmpInGre(8, { seq: 1 })), run('k', icmpInGre(8, { seq: 2 })));
  assert.deepEqual(seq.differences[0].fields, [{ field: 'icmp.sequence', offset: 50, a: '0001', b: '0002' }]);
  // Copies do not count (hellos every 5 s): three against one is the same.
  assert.ok(compareRuns(run('a', eigrpInGre(5, { tlvs: HELLO_TLVS }), eigrpInGre(5, { tlvs: HELLO_TLVS }), eigrpInGre(5, { tlvs: HELLO_TLVS })),
    run('b', eigrpInGre(5, { tlvs: HELLO_TLVS }))).ok);
});

test('wire-compare: a different TTL, ToS, DF or key is a difference that names class, field, offset and both values', () => {
  const r = compareRuns(run('userspace', icmpInGre(8, { ttl: 255 })), run('kernel', icmpInGre(8, { ttl: 64 })));
  assert.equal(r.ok, false);
  assert.equal(r.differences.length, 1);
  const d = r.differences[0];
  assert.equal(d.cls, 'icmp echo request');
  // The TTL and the header checksum (masked: it shows as equal) -> only the TTL.
  assert.deepEqual(d.fields, [{ field: 'outer ip.ttl', offset: 8, a: 'ff', b: '40' }]);
  assert.match(renderReport(r), /DIFF hub \| icmp echo request \| 203\.0\.113\.12 > 203\.0\.113\.1 \| 192\.168\.2\.10 > 192\.168\.1\.10: userspace frame 1 vs kernel frame 1\n {5}outer ip\.ttl @8: userspace ff \| kernel 40/);

  const tos = compareRuns(run('u', icmpInGre(8, { outerTos: 0xb8 })), run('k', icmpInGre(8, { outerTos: 0 })));
  assert.deepEqual(tos.differences[0].fields, [{ field: 'outer ip.tos', offset: 1, a: 'b8', b: '00' }]);
  const noDf = ipv4(SPOKE, HUB, 47, gre(0x2001, nhrp(3)), { df: false });
  assert.deepEqual(compareRuns(run('u', nhrpInGre(3)), run('k', noDf)).differences[0].fields, [{ field: 'outer ip.flags/fragment offset', offset: 6, a: '4000', b: '0000' }]);
  // A key on one side only shifts everything after the GRE header: the flags say why first.
  const key = compareRuns(run('u', nhrpInGre(3)), run('k', nhrpInGre(3, { key: 1 })));
  assert.deepEqual(key.differences[0].fields.slice(0, 2).map((f) => f.field), ['outer ip.total length', 'gre.flags/version']);
  assert.ok(key.differences[0].fields.some((f) => f.field === 'gre.key' && f.a === '(absent)' && f.b === '00000001'));
});

test('wire-compare: a class or flow seen in one run only is a difference', () => {
  const r = compareRuns(run('userspace', nhrpInGre(3), nhrpInGre(8)), run('kernel', nhrpInGre(3)));
  assert.deepEqual(r.differences.map((d) => [d.kind, d.cls, d.frameA]), [['only-a', 'nhrp traffic indication', 2]]);
  assert.match(renderReport(r), /DIFF hub \| nhrp traffic indication \| .*: only in userspace \(frame 2\)/);
});

test('wire-compare: each run is diffed against the closest form of the other, both ways', () => {
  // Two update forms in each run; one differs in a CIE's holding time (not masked).
  const a = run('a', nhrpInGre(4, { holding: 450 }), nhrpInGre(4, { holding: 300 }));
  const b = run('b', nhrpInGre(4, { holding: 450 }), nhrpInGre(4, { holding: 299 }));
  const r = compareRuns(a, b);
  assert.deepEqual(r.differences.map((d) => [d.frameA, d.frameB, d.fields.map((f) => `${f.field}=${f.a}/${f.b}`).join()]), [
    [2, 2, 'nhrp.cie[0].holding time=012c/012b'],
  ]);
});

test('wire-compare: any byte outside the masks that changes is reported, in the field that holds it', () => {
  const samples = [nhrpInGre(3), nhrpInGre(8, { trigger: ipv4('192.168.2.10', '192.168.1.10', 1, echo(8)) }), eigrpInGre(5, { tlvs: HELLO_TLVS }), icmpInGre(0)];
  fc.assert(fc.property(fc.constantFrom(...samples), fc.nat(), fc.integer({ min: 1, max: 255 }), (bytes, at, x) => {
    const d = dissect(bytes);
    const free = [...bytes.keys()].filter((i) => !d.masks.some((m) => i >= m.offset && i < m.offset + m.length));
    const i = free[at % free.length];
    const changed = bytes.slice();
    changed[i] ^= x;
    const r = compareRuns(run('a', bytes), run('b', changed));
    if (r.ok) return false;
    const fields = r.differences.flatMap((dd) => dd.fields);
    // The byte is in one of the reported fields (a changed length or type may move the rest too).
    return fields.some((f) => f.offset <= i && (f.a === '(absent)' || f.b === '(absent)' || i < f.offset + Math.max(f.a.length, f.b.length) / 2)) || r.differences.some((dd) => dd.kind !== 'bytes');
  }), { numRuns: 300 });
});

test('wire-compare: truncated and arbitrary bytes dissect without throwing, the rest kept as one field', () => {
  const t = nhrpInGre(3).subarray(0, 50);
  const d = dissect(t);
  assert.equal(d.cls, 'nhrp registration request');
  assert.match(d.note ?? '', /truncated/);
  assertTiles(t);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 120 }), (b) => {
    const x = dissect(b);
    return x.masked.length === b.length && x.fields.every((f) => f.offset >= 0 && f.offset + f.length <= b.length);
  }), { numRuns: 500 });
  // diffFields of a packet with itself is empty.
  assert.deepEqual(diffFields(dissect(icmpInGre(8)), dissect(icmpInGre(8))), []);
});

test('wire-compare: an EIGRP unicast retransmission of a multicast update may be in one run only (RFC 7868 5.3.3)', () => {
  const tlvs = cat(u16(0x0102), u16(8), u32(5));
  const multicast = eigrpInGre(1, { seq: 4, tlvs });
  const again = eigrpInGre(1, { seq: 4, ack: 6, tlvs, dst: '10.0.0.1' });
  const r = compareRuns(run('userspace', multicast), run('kernel', multicast, again));
  assert.ok(r.ok, renderReport(r));
  // The retransmission may overtake its original (the kernel's multicast copies go through the daemon).
  assert.ok(compareRuns(run('userspace', multicast), run('kernel', again, multicast)).ok);
  assert.deepEqual(r.notes, [`hub | eigrp update (unicast retransmission) | ${SPOKE} > ${HUB} | 10.0.0.12 > 10.0.0.1: 1 in kernel only (timing)`]);
  // A unicast update with other TLVs is no retransmission: in one run only, it is a difference.
  const other = eigrpInGre(1, { seq: 5, tlvs: cat(u16(0x0102), u16(8), u32(6)), dst: '10.0.0.1' });
  assert.deepEqual(compareRuns(run('userspace', multicast), run('kernel', multicast, other)).differences.map((d) => [d.kind, d.cls]), [['only-b', 'eigrp update']]);
});
