/**
 * The userspace dataplane end to end: two network namespaces joined by a veth
 * (203.0.113.1/24 and .2/24), a TUN dmvpn0 in each (10.0.0.1/24, 10.0.0.2/24)
 * and a fixture node driving the addon in each. A is a spoke with MSS
 * clamping and a two-entry multicast list; B acts as a hub with redirect on
 * and direct hairpin forwarding.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Reader, toHex, fromHex } from '../../../protocols/wire/index.js';
import { parseGre, GreProto } from '../../../protocols/gre/wire.js';
import { parseIpv4, IpProto, type Ipv4Datagram } from '../../../protocols/ip/ipv4.js';
import { needsTool, isRoot } from '../../support/tools.js';
import { nativeAvailable } from '../../../platform/native/index.js';
import { TwoNamespaces, FixtureNode, status, delay, sh } from './netns.js';
import { gre, ipv4, icmpEcho, tcpSyn, mssOption, tcpMss, tcpFlags, tcpChecksumOk, rxOutcomes } from './packets.js';

const KEY = 100;
const A_NBMA = '203.0.113.1';
const B_NBMA = '203.0.113.2';
const THIRD_NBMA = '203.0.113.3';
const MCAST2_NBMA = '203.0.113.4';

function skipReason(): string | undefined {
  if (!isRoot()) return 'needs root (network namespaces, TUN, raw sockets)';
  if (!nativeAvailable()) return 'native addon not built';
  return needsTool('ip', 'ping', 'tcpdump').skip;
}

interface GreSeen {
  readonly outer: Ipv4Datagram;
  readonly key?: number;
  readonly protocolType: number;
  readonly payload: Uint8Array;
  readonly inner?: Ipv4Datagram;
}

function greOf(packets: readonly Ipv4Datagram[]): GreSeen[] {
  const out: GreSeen[] = [];
  for (const p of packets) {
    if (p.header.protocol !== IpProto.GRE) continue;
    const g = parseGre(new Reader(p.payload, 'gre'));
    const inner = g.header.protocolType === GreProto.IPV4 ? parseIpv4(new Reader(g.payload, 'ipv4')) : undefined;
    out.push({ outer: p, key: g.header.key, protocolType: g.header.protocolType, payload: g.payload, inner });
  }
  return out;
}

async function statsUntil(node: FixtureNode, pred: (s: Record<string, number>) => boolean, ms: number, what: string): Promise<Record<string, number>> {
  const end = Date.now() + ms;
  for (;;) {
    const s = await node.stats();
    if (pred(s)) return s;
    if (Date.now() > end) throw new Error(`${what}: not reached within ${ms} ms: ${JSON.stringify(s)}`);
    await delay(25);
  }
}

describe('native dataplane in two namespaces', { skip: skipReason() }, () => {
  const lab = new TwoNamespaces();
  let a: FixtureNode;
  let b: FixtureNode;

  before(async () => {
    lab.setup();
    a = await lab.startNode(lab.a, {
      tun: 'dmvpn0',
      tunMtu: 1400,
      local: A_NBMA,
      config: {
        localNbma: A_NBMA, key: KEY, mtu: 1400, mssClamp: 1300,
        multicastNbma: [B_NBMA, MCAST2_NBMA], reportMulticast: true,
      },
      // 10.0.0.3 is another spoke, reached through the hub B until a shortcut exists.
      peers: [{ overlay: '10.0.0.2', nbma: B_NBMA }, { overlay: '10.0.0.3', nbma: B_NBMA }],
    }, '10.0.0.1/24');
    b = await lab.startNode(lab.b, {
      tun: 'dmvpn0',
      tunMtu: 1400,
      local: B_NBMA,
      config: { localNbma: B_NBMA, key: KEY, mtu: 1400, redirect: true, hairpin: 'direct', redirectIntervalMs: 60_000 },
      peers: [{ overlay: '10.0.0.1', nbma: A_NBMA }, { overlay: '10.0.0.3', nbma: THIRD_NBMA }],
    }, '10.0.0.2/24');
  });

  after(async () => {
    await lab.cleanup();
  });

  test('ping crosses the tunnel; the veth carries keyed GRE, protocol 0x0800, outer TTL 255, inner ToS copied', { timeout: 30_000 }, async () => {
    const cap = await lab.capture(lab.a, 'vA');
    const rc = status('ip', ['netns', 'exec', lab.a, 'ping', '-c', '3', '-i', '0.2', '-W', '1', '-Q', '0x28', '10.0.0.2'], 15_000);
    const seen = greOf(await cap.stop());
    assert.equal(rc, 0, 'ping 10.0.0.2 from A');
    const requests = seen.filter((g) => g.outer.header.src === A_NBMA && g.inner?.header.dst === '10.0.0.2');
    const replies = seen.filter((g) => g.outer.header.src === B_NBMA && g.inner?.header.dst === '10.0.0.1');
    assert.ok(requests.length >= 3, `echo requests in GRE: ${requests.length}`);
    assert.ok(replies.length >= 3, `echo replies in GRE: ${replies.length}`);
    for (const g of [...requests, ...replies]) {
      assert.equal(g.key, KEY);
      assert.equal(g.protocolType, 0x0800);
      assert.equal(g.outer.header.ttl, 255);
      assert.equal(g.inner?.header.protocol, IpProto.ICMP);
    }
    for (const g of requests) assert.equal(g.outer.header.tos, 0x28, 'outer ToS inherited from the inner packet');
    const sa = await a.stats();
    const sb = await b.stats();
    assert.ok(sa.greTxPackets >= 3 && sa.tunRxPackets >= 3 && sa.tunTxPackets >= 3, JSON.stringify(sa));
    assert.ok(sb.greRxPackets >= 3 && sb.tunTxPackets >= 3, JSON.stringify(sb));
    const peers = await a.request<{ overlay: string; txPackets: number }[]>({ cmd: 'peers' });
    assert.ok((peers.find((p) => p.overlay === '10.0.0.2')?.txPackets ?? 0) >= 3);
  });

  test('an NHRP packet sent with sendGre is handed up on the other side with its source NBMA', { timeout: 15_000 }, async () => {
    const nhrp = fromHex('00010800000000000000000000000000aabbccdd');
    assert.equal(await a.request<boolean>({ cmd: 'sendGre', nbma: B_NBMA, protocolType: GreProto.NHRP, hex: toHex(nhrp) }), true);
    const e = await b.waitEvent((x) => x.kind === 'gre' && x.payload === toHex(nhrp), 5000, 'NHRP');
    assert.equal(e.srcNbma, A_NBMA);
    assert.equal(e.dstNbma, B_NBMA);
    assert.equal(e.protocolType, 0x2001);
    assert.equal(e.key, KEY);
    assert.equal(e.flags, 0x2000);
  });

  test('a packet to an unmapped overlay address is reported as a miss and dropped', { timeout: 15_000 }, async () => {
    const before = await a.stats();
    status('ip', ['netns', 'exec', lab.a, 'ping', '-c', '1', '-W', '1', '10.0.0.77'], 10_000);
    const e = await a.waitEvent((x) => x.kind === 'miss' && x.dst === '10.0.0.77', 5000, 'miss');
    assert.equal(e.nextHop, '10.0.0.77');
    const ip = parseIpv4(new Reader(fromHex(String(e.packet)), 'ipv4'));
    assert.equal(ip.header.protocol, IpProto.ICMP);
    const after = await a.stats();
    assert.ok(after.missPackets > before.missPackets);
    assert.ok(after.dropNoMapping > before.dropNoMapping);
  });

  test('MSS clamp rewrites SYN and SYN-ACK both ways, and the connection still works', { timeout: 30_000 }, async () => {
    await a.request({ cmd: 'listen', port: 8080 });
    const tunCap = await lab.capture(lab.a, 'dmvpn0');
    const vethCap = await lab.capture(lab.a, 'vA');
    const got = await b.request<string>({ cmd: 'connect', host: '10.0.0.1', port: 8080, timeoutMs: 5000 }, 8000);
    const onTun = await tunCap.stop();
    const onVeth = greOf(await vethCap.stop());
    assert.equal(got, 'hello');
    // B's SYN as A's kernel got it: clamped on decapsulation.
    const syn = onTun.find((p) => p.header.protocol === IpProto.TCP && p.header.src === '10.0.0.2' && tcpFlags(p.payload) === 0x02);
    assert.ok(syn, 'SYN from B on A dmvpn0');
    assert.equal(tcpMss(syn.payload), 1300);
    assert.ok(tcpChecksumOk('10.0.0.2', '10.0.0.1', syn.payload), 'SYN checksum after clamp');
    // A's SYN-ACK as it left in GRE: clamped on encapsulation (the kernel offered 1360).
    const synAck = onVeth.find((g) => g.inner?.header.protocol === IpProto.TCP && g.outer.header.src === A_NBMA && tcpFlags(g.inner.payload) === 0x12);
    assert.ok(synAck?.inner, 'SYN-ACK from A in GRE');
    assert.equal(tcpMss(synAck.inner.payload), 1300);
    assert.ok(tcpChecksumOk('10.0.0.1', '10.0.0.2', synAck.inner.payload), 'SYN-ACK checksum after clamp');
    const sa = await a.stats();
    assert.ok(sa.mssClamped >= 2, `mssClamped ${sa.mssClamped}`);
  });

  test('MSS clamp of a crafted SYN with the option at an odd offset (checksum stays right)', { timeout: 30_000 }, async () => {
    await b.request({ cmd: 'configure', config: { mssClamp: 1200 } });
    try {
      const cap = await lab.capture(lab.b, 'dmvpn0');
      const odd = tcpSyn('10.0.0.1', '10.0.0.2', 40001, 9, Uint8Array.of(1, ...mssOption(1460), 1, 1, 1));
      const small = tcpSyn('10.0.0.1', '10.0.0.2', 40002, 9, mssOption(1000));
      for (const seg of [odd, small]) {
        const pkt = gre(GreProto.IPV4, ipv4('10.0.0.1', '10.0.0.2', IpProto.TCP, seg), { key: KEY });
        assert.equal(await a.request<boolean>({ cmd: 'sendRaw', nbma: B_NBMA, hex: toHex(pkt) }), true);
      }
      await statsUntil(b, (s) => s.mssClamped >= 1, 3000, 'B clamped');
      await delay(200);
      const seen = (await cap.stop()).filter((p) => p.header.protocol === IpProto.TCP && p.header.dst === '10.0.0.2');
      const p1 = seen.find((p) => ((p.payload[0] << 8) | p.payload[1]) === 40001);
      const p2 = seen.find((p) => ((p.payload[0] << 8) | p.payload[1]) === 40002);
      assert.ok(p1 && p2, `both SYNs on B dmvpn0 (${seen.length})`);
      assert.equal(tcpMss(p1.payload), 1200);
      assert.ok(tcpChecksumOk('10.0.0.1', '10.0.0.2', p1.payload), 'odd-offset clamp keeps the checksum valid');
      assert.equal(tcpMss(p2.payload), 1000, 'an MSS below the clamp is left alone');
      assert.deepEqual(p2.payload, ipv4('10.0.0.1', '10.0.0.2', IpProto.TCP, small).subarray(20));
    } finally {
      await b.request({ cmd: 'configure', config: { mssClamp: 0 } });
    }
  });

  test('multicast is replicated to each NBMA of the list and reported to JavaScript', { timeout: 20_000 }, async () => {
    const cap = await lab.capture(lab.a, 'vA');
    const payload = fromHex('6d756c7469636173742d74657374');
    await a.request({ cmd: 'udp', dst: '224.0.0.9', port: 5000, iface: '10.0.0.1', hex: toHex(payload) });
    await a.waitEvent((x) => x.kind === 'multicast' && x.dst === '224.0.0.9', 5000, 'multicast');
    await statsUntil(a, (s) => s.multicastCopies >= 2, 3000, 'copies');
    await delay(200);
    const copies = greOf(await cap.stop()).filter((g) => g.inner?.header.dst === '224.0.0.9' && g.inner.header.protocol === IpProto.UDP);
    assert.deepEqual(copies.map((g) => g.outer.header.dst).sort(), [B_NBMA, MCAST2_NBMA]);
    for (const g of copies) {
      assert.equal(g.key, KEY);
      assert.equal(g.outer.header.src, A_NBMA);
      assert.equal(toHex(g.inner!.payload.subarray(8)), toHex(payload));
    }
  });

  test('hub: a packet routed back into the tunnel is forwarded to the other spoke and reported once', { timeout: 30_000 }, async () => {
    const cap = await lab.capture(lab.a, 'vA');
    status('ip', ['netns', 'exec', lab.a, 'ping', '-c', '3', '-i', '0.2', '-W', '1', '10.0.0.3'], 10_000);
    const s = await statsUntil(b, (x) => x.hairpinPackets >= 3, 3000, 'hairpin');
    const seen = greOf(await cap.stop());
    const e = await b.waitEvent((x) => x.kind === 'redirect', 3000, 'redirect');
    assert.equal(e.srcNbma, A_NBMA);
    assert.equal(e.dstNbma, THIRD_NBMA);
    assert.equal(e.src, '10.0.0.1');
    assert.equal(e.dst, '10.0.0.3');
    const inner = parseIpv4(new Reader(fromHex(String(e.packet)), 'ipv4'));
    assert.equal(inner.header.protocol, IpProto.ICMP);
    assert.equal(b.events.filter((x) => x.kind === 'redirect').length, 1, 'rate limited to one event');
    assert.equal(s.redirectEvents, 1);
    const forwarded = seen.filter((g) => g.outer.header.src === B_NBMA && g.outer.header.dst === THIRD_NBMA);
    assert.equal(forwarded.length, 3);
    for (const g of forwarded) {
      assert.equal(g.key, KEY);
      assert.equal(g.inner?.header.dst, '10.0.0.3');
      assert.equal(g.inner?.header.ttl, 63, 'TTL decremented once by the hub');
    }
  });

  test('hub, kernel hairpin: the packet goes back through the TUN and the kernel routes it out again', { timeout: 30_000 }, async () => {
    sh('ip', ['netns', 'exec', lab.b, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
    await b.request({ cmd: 'configure', config: { hairpin: 'kernel' } });
    try {
      const before = await b.stats();
      const cap = await lab.capture(lab.a, 'vA');
      status('ip', ['netns', 'exec', lab.a, 'ping', '-c', '2', '-i', '0.2', '-W', '1', '10.0.0.3'], 10_000);
      const s = await statsUntil(b, (x) => x.hairpinPackets >= before.hairpinPackets + 2 && x.greTxPackets >= before.greTxPackets + 2, 3000, 'kernel hairpin');
      const forwarded = greOf(await cap.stop()).filter((g) => g.outer.header.src === B_NBMA && g.outer.header.dst === THIRD_NBMA);
      assert.equal(forwarded.length, 2);
      for (const g of forwarded) assert.equal(g.inner?.header.ttl, 63, 'TTL decremented by the kernel');
      assert.ok(s.tunTxPackets >= before.tunTxPackets + 2 && s.tunRxPackets >= before.tunRxPackets + 2, 'through the TUN and back');
      assert.equal(s.redirectEvents, before.redirectEvents, 'still rate limited for this source and destination');
    } finally {
      await b.request({ cmd: 'configure', config: { hairpin: 'direct' } });
    }
  });

  test('writeTun delivers a packet to the host as if it came out of the tunnel', { timeout: 20_000 }, async () => {
    const cap = await lab.capture(lab.a, 'vA');
    const request = ipv4('10.0.0.2', '10.0.0.1', IpProto.ICMP, icmpEcho(0x4242, 7));
    assert.equal(await a.request<boolean>({ cmd: 'writeTun', hex: toHex(request) }), true);
    await statsUntil(a, (x) => x.jsTunTxPackets >= 1, 3000, 'writeTun');
    await delay(200);
    const replies = greOf(await cap.stop()).filter((g) => g.inner?.header.protocol === IpProto.ICMP && g.inner.header.dst === '10.0.0.2' &&
      g.inner.payload[0] === 0 && ((g.inner.payload[4] << 8) | g.inner.payload[5]) === 0x4242);
    assert.equal(replies.length, 1, 'A answered the injected echo request through the tunnel');
  });

  test('malformed GRE, wrong keys, bad checksums and truncated packets are counted drops', { timeout: 30_000 }, async () => {
    const echo = ipv4('10.0.0.1', '10.0.0.2', IpProto.ICMP, fromHex('0800f7ff00000000'));
    const badChecksum = gre(GreProto.NHRP, Uint8Array.of(1, 2, 3, 4), { key: KEY, checksum: true });
    badChecksum[badChecksum.length - 1] ^= 0xff;
    const innerLong = ipv4('10.0.0.1', '10.0.0.2', IpProto.ICMP, new Uint8Array(8));
    innerLong[3] += 40; // total length beyond the bytes present
    const cases: [string, Uint8Array, string][] = [
      ['wrong key', gre(GreProto.IPV4, echo, { key: KEY + 1 }), 'dropWrongKey'],
      ['no key', gre(GreProto.IPV4, echo), 'dropWrongKey'],
      ['version 1', Uint8Array.of(0x20, 0x01, 0x08, 0x00, 0, 0, 0, KEY), 'dropBadGre'],
      ['routing bit', Uint8Array.of(0x60, 0x00, 0x08, 0x00, 0, 0, 0, KEY), 'dropBadGre'],
      ['3 bytes', Uint8Array.of(0x20, 0x00, 0x08), 'dropTooShort'],
      ['key bit, 6 bytes', Uint8Array.of(0x20, 0x00, 0x08, 0x00, 0, 0), 'dropTooShort'],
      ['bad GRE checksum', badChecksum, 'dropBadChecksum'],
      ['inner shorter than an IPv4 header', gre(GreProto.IPV4, new Uint8Array(10).fill(0x45), { key: KEY }), 'dropTooShort'],
      ['inner not IPv4', gre(GreProto.IPV4, new Uint8Array(40).fill(0x60), { key: KEY }), 'dropBadInner'],
      ['inner total length too long', gre(GreProto.IPV4, innerLong, { key: KEY }), 'dropBadInner'],
    ];
    for (const [what, bytes, counter] of cases) {
      const before = await b.stats();
      assert.equal(await a.request<boolean>({ cmd: 'sendRaw', nbma: B_NBMA, hex: toHex(bytes) }), true, what);
      const after = await statsUntil(b, (s) => rxOutcomes(s) > rxOutcomes(before), 3000, what);
      assert.equal(after[counter] - before[counter], 1, `${what} counted in ${counter}`);
      assert.equal(after.greRxPackets - before.greRxPackets, 1, what);
      assert.equal(after.tunTxPackets, before.tunTxPackets, `${what} not written to the TUN`);
      assert.equal(after.controlPackets, before.controlPackets, `${what} not handed up`);
    }
    // A good checksum is accepted.
    const goodCk = gre(GreProto.NHRP, Uint8Array.of(9, 9), { key: KEY, checksum: true });
    await a.request({ cmd: 'sendRaw', nbma: B_NBMA, hex: toHex(goodCk) });
    await b.waitEvent((x) => x.kind === 'gre' && x.payload === '0909', 3000, 'checksummed NHRP');
    // And the dataplane still forwards.
    assert.equal(status('ip', ['netns', 'exec', lab.a, 'ping', '-c', '1', '-W', '2', '10.0.0.2'], 10_000), 0);
  });
});
