/**
 * NAT traversal for ESP in the native dataplane (RFC 3948): one UDP socket on
 * port 4500 carries IKE behind the non-ESP marker, NAT-keepalives and
 * ESP-in-UDP.
 *
 * In this process (root, loopback): the API boundary (which socket an SA
 * needs, the encap source port) and a plain node:dgram peer exchanging IKE and
 * keepalives with a dataplane.
 * In three namespaces (natt-lab.ts: spoke, NAT, hub): the spoke's IKE reaches
 * the hub from a translated port, SAs with that port carry ping both ways as
 * ESP-in-UDP only (HMAC-SHA-512-256 one way, HMAC-SHA-384-192 the other),
 * Wireshark dissects and decrypts the capture as UDPENCAP + ESP, and bad
 * datagrams on 4500 are counted drops.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo } from 'node:dgram';
import { encode, fromHex, toHex, Reader, ipv4ToU32, onesSum, checksumValid } from '../../../protocols/wire/index.js';
import { IpProto, emitIpv4, ipv4Length, type Ipv4Datagram } from '../../../protocols/ip/ipv4.js';
import { parseUdp, type UdpDatagram } from '../../../protocols/ip/udp.js';
import { GreProto } from '../../../protocols/gre/wire.js';
import { writePcap, LinkType } from '../../../daemon/capture/pcap.js';
import { needsTool, isRoot } from '../../support/tools.js';
import {
  nativeAvailable, espCrypto, Dataplane, openTun, openGreSocket, openEspSocket, openUdpEncapSocket,
  type DataplaneEvent, type EspSa, type SaStats,
} from '../../../platform/native/index.js';
import { assertClean, fields, field1 } from '../../wireshark/support.js';
import { status, delay, withTimeout } from './netns.js';
import { gre } from './packets.js';
import { tsharkEsp, uatRow } from './esp-tshark.js';
import { NatLab, type NattNode, SPOKE, HUB, NAT_OUTSIDE, NAT_PORTS } from './natt-lab.js';
import type { JsonNattSa, PeerDatagram } from './fixtures/natt-node.js';

const be32 = (n: number): Uint8Array => Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
const cat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));
const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (seed + i * 11) & 0xff);
const MARKER = '00000000';

/** An IKEv2 header (RFC 7296 section 3.1) and a body: opaque to the dataplane, but shaped like IKE. */
function ikeMessage(exchange: number, response: boolean, body: Uint8Array): Uint8Array {
  return cat(bytes(8, exchange), new Uint8Array(8), Uint8Array.of(33, 0x20, exchange, response ? 0x20 : 0x08), be32(0), be32(28 + body.length), body);
}

const KEY = 100;
const S_TO_H: JsonNattSa = { spi: 0x5a000001, cipher: 'aes-cbc-256', integrity: 'hmac-sha512-256', key: toHex(bytes(32, 1)), authKey: toHex(bytes(64, 2)) };
const H_TO_S: JsonNattSa = { spi: 0x5a000002, cipher: 'aes-cbc-128', integrity: 'hmac-sha384-192', key: toHex(bytes(16, 3)), authKey: toHex(bytes(48, 4)) };
const espSa = (j: JsonNattSa): EspSa => ({ spi: j.spi, cipher: j.cipher, integrity: j.integrity, key: fromHex(j.key), authKey: fromHex(j.authKey ?? '') });
const codeOf = (e: unknown): string | undefined => (e as { code?: string }).code;

// --- in this process ---

test('the UDP-encapsulation socket at the API boundary, and IKE and keepalives with a plain UDP peer', { skip: isRoot() && nativeAvailable() ? undefined : 'needs root and the addon', timeout: 20_000 }, async () => {
  const port = 20000 + (process.pid % 20000);
  assert.throws(() => openUdpEncapSocket({ local: '127.0.0.1.5' }), (e: unknown) => codeOf(e) === 'ERR_INVALID_ADDRESS');
  assert.throws(() => openUdpEncapSocket({ local: '127.0.0.1', port: 0 }), RangeError);
  assert.throws(() => openUdpEncapSocket({ local: '127.0.0.1', port: 65536 }), RangeError);

  const events: DataplaneEvent[] = [];
  const tunName = `dpu${process.pid % 100000}`;
  const udpOnly = Dataplane.open({
    tun: openTun(`${tunName}u`), greFd: openGreSocket({ local: '127.0.0.1' }),
    espUdpFd: openUdpEncapSocket({ local: '127.0.0.1', port }), config: { localNbma: '127.0.0.1' },
    onEvent: (e) => events.push(e),
  });
  const rawOnly = Dataplane.open({
    tun: openTun(`${tunName}r`), greFd: openGreSocket({ local: '127.0.0.1' }),
    espFd: openEspSocket({ local: '127.0.0.1' }), config: { localNbma: '127.0.0.1' }, start: false,
  });
  const peer = createSocket('udp4');
  try {
    // Which socket an SA needs: UDP with encap (from the socket's own port), protocol 50 without.
    const sa: EspSa = { ...espSa(S_TO_H) };
    assert.throws(() => udpOnly.setOutboundSa('127.0.0.2', sa), (e: unknown) => codeOf(e) === 'ERR_DMVPN_NO_ESP_SOCKET');
    assert.throws(() => udpOnly.setOutboundSa('127.0.0.2', { ...sa, encap: { srcPort: port + 1, dstPort: 4500 } }),
      (e: unknown) => e instanceof RangeError && e.message.includes(String(port)));
    assert.throws(() => udpOnly.setOutboundSa('127.0.0.2', { ...sa, encap: { srcPort: port, dstPort: 0 } }), RangeError);
    udpOnly.setOutboundSa('127.0.0.2', { ...sa, encap: { srcPort: port, dstPort: 41234 } });
    udpOnly.setInboundSa(H_TO_S.spi, espSa(H_TO_S));
    udpOnly.setProtected('127.0.0.3', true);
    const st = udpOnly.saStats();
    assert.deepEqual(st.outbound.map((o) => [o.spi, o.nbma, o.integrity, o.encap]), [[S_TO_H.spi, '127.0.0.2', 'hmac-sha512-256', { srcPort: port, dstPort: 41234 }]]);
    assert.deepEqual(st.inbound.map((i) => [i.spi, i.integrity, i.natSource]), [[H_TO_S.spi, 'hmac-sha384-192', undefined]]);
    assert.throws(() => rawOnly.setOutboundSa('127.0.0.2', { ...sa, encap: { srcPort: 4500, dstPort: 4500 } }), (e: unknown) => codeOf(e) === 'ERR_DMVPN_NO_UDP_SOCKET');
    assert.throws(() => rawOnly.sendIke('127.0.0.1', 4500, new Uint8Array(28)), (e: unknown) => codeOf(e) === 'ERR_DMVPN_NO_UDP_SOCKET');
    assert.throws(() => rawOnly.sendNatKeepalive('127.0.0.1', 4500), (e: unknown) => codeOf(e) === 'ERR_DMVPN_NO_UDP_SOCKET');
    assert.throws(() => udpOnly.sendIke('127.0.0.1', 0, new Uint8Array(28)), RangeError);

    // A plain UDP peer: IKE both ways with the marker, keepalives both ways.
    const got: { msg: Buffer; r: RemoteInfo }[] = [];
    peer.on('message', (msg, r) => got.push({ msg, r }));
    await new Promise<void>((resolve, reject) => {
      peer.once('error', reject);
      peer.bind(0, '127.0.0.1', () => resolve());
    });
    const peerPort = peer.address().port;
    const ike = ikeMessage(34, false, bytes(40, 9));
    peer.send(cat(new Uint8Array(4), ike), port, '127.0.0.1');
    peer.send(Uint8Array.of(0xff), port, '127.0.0.1');
    const until = async (pred: () => boolean, what: string): Promise<void> => {
      const end = Date.now() + 5000;
      while (!pred()) {
        if (Date.now() > end) throw new Error(`${what} within 5 s`);
        await delay(10);
      }
    };
    await until(() => events.length > 0 && udpOnly.stats().natKeepaliveRx === 1, 'the IKE event and the keepalive');
    assert.deepEqual(events.map((e) => (e.kind === 'ike' ? { ...e, payload: toHex(e.payload) } : e)), [{ kind: 'ike', src: '127.0.0.1', srcPort: peerPort, payload: toHex(ike) }]);
    const reply = ikeMessage(34, true, bytes(33, 7));
    assert.equal(udpOnly.sendIke('127.0.0.1', peerPort, reply), true);
    assert.equal(udpOnly.sendNatKeepalive('127.0.0.1', peerPort), true);
    await until(() => got.length === 2, 'the reply and the keepalive at the peer');
    assert.equal(toHex(got[0].msg), MARKER + toHex(reply));
    assert.equal(toHex(got[1].msg), 'ff');
    assert.ok(got.every((g) => g.r.port === port && g.r.address === '127.0.0.1'), 'from the encapsulation socket');
    const s = udpOnly.stats();
    assert.deepEqual([s.udpRxPackets, s.udpIkeRxPackets, s.natKeepaliveRx, s.udpIkeTxPackets, s.natKeepaliveTx], [2, 1, 1, 1, 1]);
  } finally {
    peer.close();
    udpOnly.close();
    rawOnly.close();
  }
});

// --- three namespaces ---

function skipReason(): string | undefined {
  if (!isRoot()) return 'needs root (network namespaces, TUN, raw sockets)';
  if (!nativeAvailable()) return 'native addon not built';
  return needsTool('ip', 'ping', 'tcpdump', 'nft', 'sysctl').skip;
}

const udpOf = (d: Ipv4Datagram): UdpDatagram => parseUdp(new Reader(d.payload, 'udp'));

/**
 * A captured UDP checksum: right, or the pseudo-header sum the kernel leaves
 * for checksum offload to complete (what a capture inside the namespaces sees
 * of packets sent there: veth passes them on unfinished).
 */
function udpChecksum(d: Ipv4Datagram): 'good' | 'offload' | 'bad' {
  const s = ipv4ToU32(d.header.src);
  const t = ipv4ToU32(d.header.dst);
  const pseudo = onesSum(new Uint8Array(0), 0, 0, (s >>> 16) + (s & 0xffff) + (t >>> 16) + (t & 0xffff) + IpProto.UDP + d.payload.length);
  if (checksumValid(d.payload, 0, d.payload.length, pseudo)) return 'good';
  return ((d.payload[6] << 8) | d.payload[7]) === pseudo ? 'offload' : 'bad';
}

describe('ESP-in-UDP through a NAT between two dataplanes', { skip: skipReason() }, () => {
  const lab = new NatLab();
  let spoke: NattNode;
  let nat: NattNode;
  let hub: NattNode;
  let natPort = 0;
  let captured: Ipv4Datagram[] = [];
  const PEER_PORT = 5555;

  before(async () => {
    lab.setup();
    nat = await lab.startNode(lab.n, {});
    hub = await lab.startNode(lab.h, {
      dataplane: { tun: 'dmvpn0', local: HUB, rawEsp: true, config: { localNbma: HUB, key: KEY, mtu: 1400 }, peers: [{ overlay: '10.0.0.1', nbma: NAT_OUTSIDE }] },
    }, '10.0.0.2/24');
    // The spoke has no protocol-50 socket at all: behind a NAT, UDP is all it needs.
    spoke = await lab.startNode(lab.s, {
      dataplane: { tun: 'dmvpn0', local: SPOKE, config: { localNbma: SPOKE, key: KEY, mtu: 1400 }, peers: [{ overlay: '10.0.0.2', nbma: HUB }] },
    }, '10.0.0.1/24');
    await nat.request({ cmd: 'peerOpen', address: NAT_OUTSIDE, port: PEER_PORT });
  });

  after(async () => {
    await lab.cleanup();
  });

  test('IKE with the non-ESP marker from a plain UDP socket is an ike event with its address and port; sendIke answers with the marker', { timeout: 15_000 }, async () => {
    const ike = ikeMessage(34, false, bytes(64, 5));
    await nat.request({ cmd: 'peerSend', port: PEER_PORT, dst: HUB, dstPort: 4500, hex: MARKER + toHex(ike) });
    const e = await hub.waitEvent((x) => x.kind === 'ike', 5000, 'ike');
    assert.deepEqual(e, { kind: 'ike', src: NAT_OUTSIDE, srcPort: PEER_PORT, payload: toHex(ike) });
    const reply = ikeMessage(34, true, bytes(48, 6));
    assert.equal(await hub.request<boolean>({ cmd: 'sendIke', dst: NAT_OUTSIDE, port: PEER_PORT, hex: toHex(reply) }), true);
    const end = Date.now() + 5000;
    let got: PeerDatagram[] = [];
    while (got.length === 0 && Date.now() < end) {
      got = await nat.request<PeerDatagram[]>({ cmd: 'peerTake', port: PEER_PORT });
      if (got.length === 0) await delay(20);
    }
    assert.deepEqual(got, [{ hex: MARKER + toHex(reply), address: HUB, port: 4500 }]);
    const s = await hub.stats();
    assert.equal(s.udpIkeRxPackets, 1);
    assert.equal(s.udpIkeTxPackets, 1);
  });

  test('through the NAT: IKE shows the translated port, and SAs to it carry ping both ways as ESP-in-UDP only', { timeout: 40_000 }, async () => {
    // The spoke speaks first (IKE_SA_INIT/IKE_AUTH would): the NAT makes its mapping.
    const ike = ikeMessage(35, false, bytes(80, 8));
    assert.equal(await spoke.request<boolean>({ cmd: 'sendIke', dst: HUB, port: 4500, hex: toHex(ike) }), true);
    const e = await hub.waitEvent((x) => x.kind === 'ike' && x.payload === toHex(ike), 5000, 'ike from the spoke');
    assert.equal(e.src, NAT_OUTSIDE, 'the NAT\'s address, not the spoke\'s');
    natPort = e.srcPort as number;
    assert.ok(natPort >= NAT_PORTS.min && natPort <= NAT_PORTS.max, `translated port ${natPort}`);
    // The answer goes back through the mapping to the spoke's 4500.
    const reply = ikeMessage(35, true, bytes(40, 9));
    await hub.request({ cmd: 'sendIke', dst: NAT_OUTSIDE, port: natPort, hex: toHex(reply) });
    const back = await spoke.waitEvent((x) => x.kind === 'ike', 5000, 'ike answer at the spoke');
    assert.deepEqual(back, { kind: 'ike', src: HUB, srcPort: 4500, payload: toHex(reply) });

    // IKE done: inbound first, then outbound, as the daemon installs them.
    await hub.request({ cmd: 'setInboundSa', sa: S_TO_H });
    await spoke.request({ cmd: 'setInboundSa', sa: H_TO_S });
    await spoke.request({ cmd: 'setOutboundSa', nbma: HUB, sa: { ...S_TO_H, encap: { srcPort: 4500, dstPort: 4500 } } });
    await hub.request({ cmd: 'setOutboundSa', nbma: NAT_OUTSIDE, sa: { ...H_TO_S, encap: { srcPort: 4500, dstPort: natPort } } });

    const cap = await lab.capture(lab.h, 'vH');
    const rc = status('ip', ['netns', 'exec', lab.s, 'ping', '-c', '3', '-i', '0.2', '-W', '2', '10.0.0.2'], 20_000);
    captured = await cap.stop();
    assert.equal(rc, 0, 'ping 10.0.0.2 from the spoke through the NAT');
    assert.deepEqual(captured.filter((p) => p.header.protocol !== IpProto.UDP).map((p) => p.header.protocol), [], 'no GRE, no protocol-50 ESP on the hub\'s wire');
    const up = captured.filter((p) => p.header.src === NAT_OUTSIDE).map(udpOf);
    const down = captured.filter((p) => p.header.src === HUB).map(udpOf);
    assert.ok(up.length >= 3 && down.length >= 3, `up ${up.length}, down ${down.length}`);
    assert.deepEqual(captured.map(udpChecksum).filter((c) => c === 'bad'), [], 'UDP checksums');
    assert.ok(up.every((u) => u.srcPort === natPort && u.dstPort === 4500), 'spoke to hub from the translated port');
    assert.ok(down.every((u) => u.srcPort === 4500 && u.dstPort === natPort), 'hub to spoke to the translated port');
    assert.ok(up.every((u) => toHex(u.payload.subarray(0, 4)) === '5a000001'), 'ESP with the spoke\'s SPI, no marker');
    assert.ok(down.every((u) => toHex(u.payload.subarray(0, 4)) === '5a000002'), 'ESP with the hub\'s SPI');
    // Sequence numbers 1, 2, 3 and the 24-octet (SHA-384) / 32-octet (SHA-512) ICVs.
    assert.deepEqual(up.slice(0, 3).map((u) => toHex(u.payload.subarray(4, 8))), ['00000001', '00000002', '00000003']);

    const ss = await spoke.stats();
    const hs = await hub.stats();
    assert.equal(ss.greTxPackets, 0, 'nothing in the clear');
    assert.ok(ss.espUdpTxPackets >= 3 && ss.espUdpRxPackets >= 3 && ss.tunTxPackets >= 3, JSON.stringify(ss));
    assert.equal(ss.espUdpTxPackets, ss.espTxPackets, 'all the spoke\'s ESP went in UDP');
    assert.ok(hs.espUdpRxPackets >= 3 && hs.espUdpTxPackets >= 3, JSON.stringify(hs));
    const st = await hub.request<SaStats>({ cmd: 'saStats' });
    const inb = st.inbound.find((i) => i.spi === S_TO_H.spi);
    assert.deepEqual(inb?.natSource, { address: NAT_OUTSIDE, port: natPort }, 'where the NAT maps the spoke');
    assert.ok((inb?.packets ?? 0) >= 3);
    assert.deepEqual(st.outbound.find((o) => o.spi === H_TO_S.spi)?.encap, { srcPort: 4500, dstPort: natPort });
  });

  test('NHRP sent with sendGre goes in ESP-in-UDP and is handed up with the outer source port', { timeout: 15_000 }, async () => {
    const nhrp = fromHex('000108000000000000000000000000001122334455');
    assert.equal(await spoke.request<boolean>({ cmd: 'sendGre', nbma: HUB, protocolType: GreProto.NHRP, hex: toHex(nhrp) }), true);
    const e = await hub.waitEvent((x) => x.kind === 'gre' && x.payload === toHex(nhrp), 5000, 'NHRP');
    assert.equal(e.srcNbma, NAT_OUTSIDE);
    assert.equal(e.dstNbma, HUB);
    assert.equal(e.srcPort, natPort);
  });

  test('wireshark dissects the capture as UDP, UDPENCAP and ESP, decrypts it with HMAC-SHA-512-256 and -384-192, and finds every ICV good', { timeout: 30_000, skip: needsTool('tshark').skip }, () => {
    assert.ok(captured.length >= 6, 'the ping test captured');
    const pcap = writePcap(captured.map((d) => ({ data: encode(d, emitIpv4, ipv4Length) })), LinkType.RAW);
    // UDP checksums: see udpChecksum() and the ping test.
    const frames = tsharkEsp(pcap, [uatRow(NAT_OUTSIDE, HUB, espSa(S_TO_H)), uatRow(HUB, NAT_OUTSIDE, espSa(H_TO_S))]);
    assert.equal(frames.length, captured.length);
    frames.forEach((f, i) => {
      const what = `frame ${i + 1} (${captured[i].header.src} -> ${captured[i].header.dst})`;
      assertClean(f, what);
      const stack = field1(f.frame, 'frame.protocols');
      assert.match(stack, /^raw:ip:udp:udpencap:esp:gre:ip:icmp/, `${what}: ${stack}`);
      assert.deepEqual(fields(f, 'udpencap.non_esp_marker'), [], `${what}: no marker before ESP`);
      assert.equal(Number(field1(f, 'esp.spi')), captured[i].header.src === HUB ? H_TO_S.spi : S_TO_H.spi, what);
      assert.deepEqual(fields(f, 'esp.icv_good'), ['1'], `${what}: ICV good`);
      assert.deepEqual(fields(f, 'gre.key').map(Number), [KEY], `${what}: keyed GRE inside`);
      assert.deepEqual(fields(f, 'icmp.type').map(Number), [captured[i].header.src === HUB ? 0 : 8], `${what}: echo ${captured[i].header.src === HUB ? 'reply' : 'request'}`);
    });
  });

  test('bad datagrams on 4500 are counted drops: unknown SPI, replay, forged ICV, truncated ESP, short and marker-only datagrams', { timeout: 30_000 }, async () => {
    const original = captured.map(udpOf).find((u) => u.srcPort === natPort)?.payload;
    assert.ok(original, 'an ESP-in-UDP packet from the spoke was captured');
    const forged = original.slice();
    forged.set(be32(0x0100_0000), 4); // a fresh sequence number: through the window, not through the ICV
    forged[forged.length - 1] ^= 1;
    const unknown = original.slice();
    unknown.set(be32(0xdead_beef), 0);
    const cases: [string, Uint8Array, string][] = [
      ['unknown SPI', unknown, 'dropEspUnknownSpi'],
      ['replay of a captured packet', original, 'dropEspReplay'],
      ['ICV flipped with a fresh sequence number', forged, 'dropEspAuth'],
      ['the SPI and 16 octets', original.subarray(0, 24), 'dropEspTooShort'],
      ['6 octets of ESP', original.subarray(0, 6), 'dropEspTooShort'],
      ['an empty datagram', new Uint8Array(0), 'dropUdpEncapShort'],
      ['one octet that is not a keepalive', Uint8Array.of(0), 'dropUdpEncapShort'],
      ['three octets', Uint8Array.of(0xff, 0xff, 0xff), 'dropUdpEncapShort'],
      ['the marker with less than an IKE header', cat(new Uint8Array(4), bytes(27, 1)), 'dropUdpEncapShort'],
    ];
    for (const [what, pkt, counter] of cases) {
      const before = await hub.stats();
      await nat.request({ cmd: 'peerSend', port: PEER_PORT, dst: HUB, dstPort: 4500, hex: toHex(pkt) });
      const after = await hub.statsUntil((s) => s[counter] > before[counter], 3000, what);
      assert.equal(after[counter] - before[counter], 1, `${what} counted in ${counter}`);
      assert.equal(after.udpRxPackets - before.udpRxPackets, 1, what);
      assert.equal(after.tunTxPackets, before.tunTxPackets, `${what}: nothing written to the TUN`);
      assert.equal(after.udpIkeRxPackets, before.udpIkeRxPackets, `${what}: not handed up as IKE`);
    }
    assert.deepEqual(hub.events.filter((e) => e.kind === 'ike' || e.kind === 'gre'), [], 'no event for any of them');
    let st = await hub.request<SaStats>({ cmd: 'saStats' });
    assert.deepEqual(st.inbound.find((i) => i.spi === S_TO_H.spi)?.natSource, { address: NAT_OUTSIDE, port: natPort }, 'rejected packets do not move it');

    // An authentic packet from another port (the NAT rebound): accepted, and the new port shows.
    const seq = (st.inbound.find((i) => i.spi === S_TO_H.spi)?.seq ?? 0) + 10;
    const marker = Uint8Array.of(0xee, 0x01, 0x02, 0x03);
    const fresh = espCrypto.seal(espSa(S_TO_H), seq, bytes(16, 77), gre(GreProto.NHRP, marker, { key: KEY }));
    await nat.request({ cmd: 'peerSend', port: PEER_PORT, dst: HUB, dstPort: 4500, hex: toHex(fresh) });
    const ev = await hub.waitEvent((x) => x.kind === 'gre' && x.payload === toHex(marker), 3000, 'the packet from the new port');
    assert.equal(ev.srcPort, PEER_PORT);
    st = await hub.request<SaStats>({ cmd: 'saStats' });
    assert.deepEqual(st.inbound.find((i) => i.spi === S_TO_H.spi)?.natSource, { address: NAT_OUTSIDE, port: PEER_PORT });
  });

  test('NAT-keepalives are counted and dropped; sendNatKeepalive sends the single octet 0xFF', { timeout: 15_000 }, async () => {
    const before = await hub.stats();
    for (let i = 0; i < 3; i++) await nat.request({ cmd: 'peerSend', port: PEER_PORT, dst: HUB, dstPort: 4500, hex: 'ff' });
    const after = await hub.statsUntil((s) => s.natKeepaliveRx >= before.natKeepaliveRx + 3, 3000, 'keepalives');
    assert.equal(after.natKeepaliveRx - before.natKeepaliveRx, 3);
    assert.equal(after.espRxPackets, before.espRxPackets, 'not taken for ESP');
    // The spoke keeps its mapping open: through the NAT to the hub.
    const hb = await hub.stats();
    assert.equal(await spoke.request<boolean>({ cmd: 'sendNatKeepalive', dst: HUB, port: 4500 }), true);
    await hub.statsUntil((s) => s.natKeepaliveRx === hb.natKeepaliveRx + 1, 3000, 'the spoke\'s keepalive through the NAT');
    assert.equal(await hub.request<boolean>({ cmd: 'sendNatKeepalive', dst: NAT_OUTSIDE, port: PEER_PORT }), true);
    const got = await withTimeout((async () => {
      for (;;) {
        const g = await nat.request<PeerDatagram[]>({ cmd: 'peerTake', port: PEER_PORT });
        if (g.length > 0) return g;
        await delay(20);
      }
    })(), 5000, 'the keepalive at the plain peer');
    assert.deepEqual(got, [{ hex: 'ff', address: HUB, port: 4500 }]);
    assert.equal((await spoke.stats()).natKeepaliveTx, 1);
  });
});
