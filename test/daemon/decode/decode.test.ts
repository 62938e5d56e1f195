/**
 * The dissector over real captures (every vector file decodes, with the
 * protocol counts tshark reports for the same files and every checksum
 * correct), over the demo capture, and over crafted packets: malformed NHRP,
 * bad checksums, non-DMVPN traffic, every link type, fragments, snap-length
 * cuts, deep nesting, truncated files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { decodeCapture, dissectPacket, readCapture, summaryLine, packetJson, type DecodedPacket, type Node } from '../../../daemon/decode/index.js';
import { writePcap, LinkType, type CapturedPacket } from '../../../daemon/capture/pcap.js';
import { IpProto } from '../../../protocols/ip/ipv4.js';
import { UdpPort } from '../../../protocols/ip/udp.js';
import { GreProto } from '../../../protocols/gre/wire.js';
import { makeRegistrationRequest } from '../../../protocols/nhrp/index.js';
import { samplePackets, sampleCapture, ipv4, gre, udp, nhrpBytes, nhrpDatagram } from '../../../scripts/demo.js';
import { needsVectors, vectorPath, readVector } from '../../support/vectors.js';
import { readIkev2Md } from '../../protocols/ikev2/captures.js';
import { values, layer, child, protocolCounts } from './support.js';

/**
 * Packets per protocol column in each vector capture. The DMVPN counts equal
 * tshark's protocol hierarchy for the same files (eth:...:nhrp, :eigrp,
 * :isakmp, :esp, :udpencap, :gre); IKEv1 is ISAKMP main/quick mode.
 */
const EXPECTED: Record<string, Record<string, number>> = {
  '02-sunrise-sunset-esp.pcap': { ESP: 8 },
  'EIGRP_adjacency.pcap': { EIGRP: 53 },
  'EIGRP_goodbye.pcap': { EIGRP: 15 },
  'EIGRP_ipv6.pcap': { EIGRP: 1 },
  'EIGRP_subnet_down.pcap': { EIGRP: 21 },
  'EIGRP_subnet_up.pcap': { EIGRP: 15 },
  'ISAKMP_sa_setup.pcap': { IKEv1: 9 },
  'NHRP-responder-address.pcap': { NHRP: 2 },
  'NHRP_registration.pcap': { NHRP: 4 },
  'espudp1.pcap': { ESP: 8 },
  'ikev2-id-normal.pcap': { IKEv2: 1 },
  'ikev2four.pcap': { IKEv2: 21 },
  'ikev2pI2.pcap': { IKEv2: 2 },
  'ios_nhrp.pcap': { NHRP: 1 },
  'isakmp4500.pcap': { ARP: 8, IKEv1: 15, 'NAT-T': 4, ESP: 8 },
  'nhrp-trace.pcap': { NHRP: 4 },
  'nhrp.pcapng': { NHRP: 25 },
  'various_gre.pcap': { GRE: 30, LLC: 65, 'Ethernet loopback': 5 },
};

/**
 * Checksums that are wrong in the captures themselves, per layer; tshark with
 * checksum validation on reports the same packets as bad (ikev2four.pcap was
 * captured with UDP checksum offload, ikev2pI2.pcap is synthetic with IPv4
 * checksum 0). Every other checksum in every vector must verify.
 */
const BAD_CHECKSUMS: Record<string, Record<string, number>> = {
  'ikev2four.pcap': { udp: 21 },
  'ikev2pI2.pcap': { ipv4: 2 },
};

function badChecksums(ps: readonly DecodedPacket[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of ps) {
    for (const l of p.layers) {
      const walk = (n: Node): void => {
        if (n.key === 'checksumStatus' && n.value === 'incorrect') out[l.key] = (out[l.key] ?? 0) + 1;
        for (const c of n.children ?? []) walk(c);
      };
      walk(l);
    }
  }
  return out;
}

function decodeVector(file: string): DecodedPacket[] {
  const d = decodeCapture(readVector('pcap', file));
  assert.equal(d.error, undefined, `${file}: ${d.error?.message}`);
  return [...d.packets];
}

test('decode: every vector capture decodes, no malformed packet, expected protocol counts, checksums verified', needsVectors, () => {
  const files = readdirSync(vectorPath('pcap')).filter((f) => f.endsWith('.pcap') || f.endsWith('.pcapng')).sort();
  assert.deepEqual(files, Object.keys(EXPECTED).sort(), 'the table lists every vector capture (add new ones to EXPECTED)');
  for (const file of files) {
    const ps = decodeVector(file);
    for (const p of ps) {
      assert.equal(p.malformed, undefined, `${file}#${p.index}: ${p.malformed?.message}`);
      assert.ok(p.protocol !== '' && p.info !== '', `${file}#${p.index}: columns filled`);
    }
    assert.deepEqual(protocolCounts(ps), EXPECTED[file], file);
    assert.deepEqual(badChecksums(ps), BAD_CHECKSUMS[file] ?? {}, `${file}: incorrect checksums`);
    const dmvpn = Object.entries(EXPECTED[file]).filter(([k]) => ['GRE', 'NHRP', 'EIGRP', 'IKEv2', 'IKEv1', 'ESP', 'NAT-T'].includes(k));
    assert.equal(ps.filter((p) => p.dmvpn).length, dmvpn.reduce((n, [, v]) => n + v, 0), `${file}: DMVPN packets`);
  }
});

test('decode: NHRP registration vector, summary line and named fields', needsVectors, () => {
  const ps = decodeVector('NHRP_registration.pcap');
  assert.equal(summaryLine(ps[1]), '2 0.001895 169.254.100.5 → 169.254.100.1 NHRP Registration Reply id=1 code=success');
  const nhrp = layer(ps[0], 'nhrp');
  assert.equal(child(nhrp, 'header', 'typeName')?.value, 'registration request');
  assert.equal(child(nhrp, 'header', 'checksumStatus')?.value, 'correct');
  assert.equal(child(nhrp, 'mandatory', 'requestId')?.value, 1);
  assert.deepEqual(child(nhrp, 'mandatory', 'flags', 'names')?.value, ['U', 'NAT']);
  assert.deepEqual(values(ps[0], 'typeName').filter((v) => v !== 'registration request'), [
    'responder address', 'forward transit NHS record', 'reverse transit NHS record', 'authentication', 'NAT address', 'end',
  ]);
  assert.deepEqual(values(ps[0], 'password'), ['NHRPAUTH']);
  assert.deepEqual(values(ps[0], 'key'), [2], 'GRE key 2');
  assert.deepEqual(values(ps[1], 'codeName'), ['success', 'success', 'success'], 'reply CIE, responder and NAT CIEs');
});

test('decode: EIGRP, IKEv1, GRE keepalive and Traffic Indication vectors', needsVectors, () => {
  const bye = decodeVector('EIGRP_goodbye.pcap').filter((p) => p.info.startsWith('GOODBYE'));
  assert.equal(bye.length, 1);
  assert.deepEqual(values(bye[0], 'goodbye'), [true]);
  const v6 = decodeVector('EIGRP_ipv6.pcap')[0];
  assert.equal(v6.info, 'HELLO AS=64554');
  assert.equal(layer(v6, 'ipv6')?.key, 'ipv6');
  assert.deepEqual(values(v6, 'checksumStatus'), ['correct']);
  const isakmp = decodeVector('ISAKMP_sa_setup.pcap');
  assert.match(isakmp[0].info, /^Identity Protection \(Main Mode\) \(not decoded\)$/);
  assert.equal(layer(isakmp[0], 'ikev1')?.key, 'ikev1');
  const gre = decodeVector('various_gre.pcap').filter((p) => p.protocol === 'GRE');
  assert.ok(gre.some((p) => p.info === 'key=40 Cisco MetaData → GRE key=40 keepalive reply'));
  assert.ok(gre.some((p) => p.info === 'key=40 CDP (not decoded)'));
  const trace = decodeVector('nhrp-trace.pcap');
  assert.equal(trace[0].info, 'Traffic Indication code=redirect 10.255.255.1 → 10.255.255.3 for 10.255.255.3 → 10.255.255.2 ICMP');
  assert.deepEqual(values(trace[2], 'hopCount'), [254], 'the NHS decremented the hop count');
  const esp = decodeVector('isakmp4500.pcap').filter((p) => p.protocol === 'ESP');
  assert.ok(esp.every((p) => p.info.startsWith('UDP-encapsulated SPI=0xf4dc0ae5')));
});

test('decode: IKE_SA_INIT from Cisco IOS (ikev2.md) names the Cisco vendor IDs', needsVectors, () => {
  const md = readIkev2Md();
  const frames = [...md.cisco.values()].map((m) => ({ data: ipv4('192.0.2.1', '192.0.2.2', IpProto.UDP, udp('192.0.2.1', '192.0.2.2', UdpPort.IKE, UdpPort.IKE, m)) }));
  const ps = decodeCapture(writePcap(frames)).packets;
  assert.ok(ps.length >= 2);
  for (const p of ps) assert.equal(p.malformed, undefined, p.malformed?.message);
  const vendors = ps.flatMap((p) => values(p, 'vendor'));
  assert.ok(vendors.includes('CISCO-GRE-MODE (02)'), vendors.join(', '));
  assert.ok(vendors.includes('CISCO-DELETE-REASON'));
});

test('decode: the demo capture decodes cleanly, every protocol named', () => {
  for (const key of [undefined, 1000]) {
    const d = decodeCapture(sampleCapture({ key }));
    assert.equal(d.error, undefined);
    assert.equal(d.packets.length, samplePackets().length);
    assert.deepEqual(protocolCounts(d.packets), { NHRP: 8, EIGRP: 5, GRE: 1, IKEv2: 4, ESP: 3 });
    for (const p of d.packets) {
      assert.equal(p.malformed, undefined, p.malformed?.message);
      assert.ok(p.dmvpn);
      assert.ok(!values(p, 'checksumStatus').includes('incorrect'), `#${p.index}`);
      if (p.protocol === 'NHRP' || layer(p, 'gre')) assert.deepEqual(values(p, 'key'), key === undefined ? [] : [key], `#${p.index} key`);
      // --json: one line per packet that parses back, every layer named.
      const j = JSON.parse(JSON.stringify(packetJson(p))) as { layers: { layer: string }[]; frame: number };
      assert.equal(j.frame, p.index);
      assert.deepEqual(j.layers.map((l) => l.layer), p.layers.map((l) => l.key));
    }
    const [ti] = d.packets.filter((p) => p.info.startsWith('Traffic Indication'));
    assert.deepEqual(values(ti, 'password'), ['Cisco123']);
  }
});

function frameOf(data: Uint8Array, index = 1, linkType: number = LinkType.RAW, origLength = data.length): CapturedPacket {
  return { index, linkType, time: 1_700_000_000, origLength, data };
}

const reg = makeRegistrationRequest({ srcNbma: '203.0.113.11', srcProto: '10.0.0.11', password: 'Cisco123', requestId: 9, nhsProto: '10.0.0.1', nhsNbma: '203.0.113.1' });

/** A GRE/NHRP datagram whose NHRP bytes went through `mangle` (checksum left as it was). */
function mangledNhrp(mangle: (b: Uint8Array) => void): Uint8Array {
  const n = nhrpBytes(reg);
  mangle(n);
  return ipv4('203.0.113.11', '203.0.113.1', IpProto.GRE, gre(GreProto.NHRP, n));
}

test('decode: a malformed NHRP packet says where, keeps the outer layers, and the next packet decodes', () => {
  const bad = mangledNhrp((n) => {
    n[10] = 0x01; // ar$pktsz 300+: runs past the packet
    n[11] = 0x2c;
  });
  const good = nhrpDatagram('203.0.113.11', '203.0.113.1', reg);
  const d = decodeCapture(writePcap([{ data: bad }, { data: good }]));
  const [p1, p2] = d.packets;
  assert.equal(p1.protocol, 'NHRP');
  assert.equal(p1.malformed?.protocol, 'nhrp');
  assert.equal(p1.malformed?.offset, 0);
  assert.match(p1.info, /^malformed: nhrp: ar\$pktsz runs past the packet at offset 0: need 300 bytes, have \d+$/);
  assert.deepEqual(p1.layers.map((l) => l.key), ['frame', 'ipv4', 'gre', 'malformed']);
  assert.ok(p1.dmvpn);
  assert.equal(p2.malformed, undefined);
  assert.match(p2.info, /^Registration Request id=9 /);
});

test('decode: a wrong checksum is shown as incorrect, not malformed', () => {
  const p = dissectPacket(frameOf(mangledNhrp((n) => (n[12] ^= 0xff))));
  assert.equal(p.malformed, undefined);
  assert.deepEqual(values(p, 'checksumStatus'), ['correct', 'incorrect'], 'IPv4 correct, NHRP incorrect');
  const ip = nhrpDatagram('203.0.113.11', '203.0.113.1', reg);
  ip[10] ^= 1;
  assert.deepEqual(values(dissectPacket(frameOf(ip)), 'checksumStatus'), ['incorrect', 'correct']);
});

test('decode: packets without a DMVPN protocol get a one-line reason', () => {
  const tcp = dissectPacket(frameOf(ipv4('192.0.2.1', '192.0.2.2', IpProto.TCP, new Uint8Array(20))));
  assert.equal(tcp.dmvpn, false);
  assert.equal(tcp.info, 'not a DMVPN protocol: TCP');
  assert.equal(summaryLine(tcp), '1 0.000000 192.0.2.1 → 192.0.2.2 TCP not a DMVPN protocol: TCP');
  const dns = dissectPacket(frameOf(ipv4('192.0.2.1', '192.0.2.2', IpProto.UDP, udp('192.0.2.1', '192.0.2.2', 5353, 53, new Uint8Array(12)))));
  assert.equal(dns.info, 'not a DMVPN protocol: UDP (port 5353 → 53)');
  const arp = dissectPacket(frameOf(Uint8Array.of(...new Uint8Array(12), 0x08, 0x06, ...new Uint8Array(28)), 1, LinkType.ETHERNET));
  assert.equal(arp.info, 'not a DMVPN protocol: ARP');
  const odd = dissectPacket(frameOf(new Uint8Array(10), 1, 147));
  assert.equal(odd.dmvpn, false);
  assert.match(odd.info, /^not a DMVPN protocol: link type 147/);
});

test('decode: the same datagram through Ethernet (with VLAN), Linux cooked v1/v2, BSD loopback and raw IP', () => {
  const ip = nhrpDatagram('203.0.113.11', '203.0.113.1', reg, 7);
  const eth = Uint8Array.of(2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x81, 0x00, 0x00, 0x64, 0x08, 0x00, ...ip);
  const sll = Uint8Array.of(0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 2, 0, 0, 0x08, 0x00, ...ip);
  const sll2 = Uint8Array.of(0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0, 2, 0, 0, ...ip);
  const nul = Uint8Array.of(2, 0, 0, 0, ...ip);
  const cases: [number, Uint8Array][] = [[LinkType.ETHERNET, eth], [LinkType.LINUX_SLL, sll], [LinkType.LINUX_SLL2, sll2], [LinkType.NULL, nul], [LinkType.RAW, ip]];
  for (const [lt, data] of cases) {
    const p = dissectPacket(frameOf(data, 1, lt));
    assert.equal(p.malformed, undefined, `link type ${lt}`);
    assert.match(p.info, /^Registration Request id=9 10\.0\.0\.11 → 10\.0\.0\.1 nbma=203\.0\.113\.11$/, `link type ${lt}`);
    assert.deepEqual(values(p, 'key'), [7]);
  }
  assert.deepEqual(values(dissectPacket(frameOf(eth, 1, LinkType.ETHERNET)), 'vlan'), [100]);
});

test('decode: fragments, snap-length cuts and deep GRE nesting are reported, not malformed', () => {
  const ip = nhrpDatagram('203.0.113.11', '203.0.113.1', reg);
  const frag = ip.slice();
  frag[6] = 0x20; // MF
  frag[10] = frag[11] = 0;
  const f = dissectPacket(frameOf(frag));
  assert.equal(f.malformed, undefined);
  assert.match(f.info, /GRE fragment \(offset 0, more fragments; not reassembled\)/);
  const cut = dissectPacket(frameOf(ip.subarray(0, 60), 1, LinkType.RAW, ip.length));
  assert.equal(cut.malformed, undefined);
  assert.match(cut.info, /cut short by the capture's snap length/);
  let nested = ip;
  for (let i = 0; i < 12; i++) nested = ipv4('198.51.100.1', '198.51.100.2', IpProto.GRE, gre(GreProto.IPV4, nested));
  const deep = dissectPacket(frameOf(nested));
  assert.equal(deep.malformed, undefined);
  assert.deepEqual(values(deep, 'tooDeep'), [9]);
});

test('decode: a truncated capture keeps the packets before the cut and reports the cut', () => {
  const file = sampleCapture();
  const cut = readCapture(file.subarray(0, file.length - 10));
  assert.equal(cut.error?.code, 'truncated');
  assert.equal(cut.packets.length, samplePackets().length - 1);
  const header = readCapture(file.subarray(0, 20));
  assert.equal(header.error?.code, 'truncated');
  assert.equal(header.packets.length, 0);
  assert.equal(readCapture(new TextEncoder().encode('not a capture at all')).error?.code, 'not-a-capture');
});

test('decode: a truncated pcapng keeps its whole blocks', needsVectors, () => {
  const ng = readVector('pcap', 'nhrp.pcapng');
  const r = readCapture(ng.subarray(0, ng.length - 7));
  assert.equal(r.error?.code, 'truncated');
  assert.equal(r.packets.length, 24);
});
