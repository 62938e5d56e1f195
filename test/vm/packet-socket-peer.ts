/**
 * One side of test/vm/packet-socket.test.ts, run inside the VM in a namespace with an ip_gre
 * multipoint device gre1 (NBMA 203.0.113.N, overlay 10.0.0.N/24, key 1):
 *
 *   node dist/test/vm/packet-socket-peer.js SELF PEER UNDERLAY
 *
 * Every 100 ms it sends an NHRP-type (0x2001) hello to the peer's NBMA address over a
 * PacketSocket on gre1, and an IPv4/UDP datagram (0x0800, built here) to the peer's NBMA address
 * twice in one sendMany. It answers each hello with an ack to the hello's `from`, listens for the
 * peer's UDP on a dgram socket, and taps the underlay with a second PacketSocket (IPv4 on the
 * veth) to see the outer IPv4 + GRE headers the kernel built. Once it has the peer's hello, an ack
 * for its own and both copies of one UDP datagram, it lingers a second (the peer may still need
 * its packets) and prints one JSON line. Exit status 0 when done, 1 at the deadline.
 */
import { createSocket } from 'node:dgram';
import { PacketSocket, ETHERTYPE } from '../../platform/native/packet-socket.js';
import { Reader, Writer, encode, ipv4Bytes, ipv4ToString } from '../../protocols/wire/index.js';
import { emitIpv4, ipv4Length, makeIpv4Header, parseIpv4, IpProto } from '../../protocols/ip/ipv4.js';
import { emitUdp, makeUdp, udpLength } from '../../protocols/ip/udp.js';
import { parseGre } from '../../protocols/gre/wire.js';

const [self, peer, underlay] = process.argv.slice(2);
const nbma = (n: string): string => `203.0.113.${n}`;
const overlay = (n: string): string => `10.0.0.${n}`;
const PORT = 5000;
const DEADLINE_MS = 15_000;
const LINGER_MS = 1000;

export interface PeerSummary {
  readonly self: string;
  readonly done: boolean;
  readonly open: { readonly hardwareType: number; readonly addressLength: number; readonly address: string };
  hello?: { readonly from: string; readonly protocol: number; readonly pktType: string; readonly text: string };
  ack?: { readonly from: string; readonly text: string };
  udp?: { readonly from: string; readonly port: number; readonly text: string; readonly copies: number };
  /** The first outer packet from the peer carrying each GRE protocol type, as the underlay saw it. */
  readonly outer: Record<string, { readonly src: string; readonly dst: string; readonly ttl: number; readonly key?: number; readonly payloadLength: number }>;
  readonly errors: string[];
  stats?: Record<string, number>;
}

const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** An IPv4/UDP datagram from our overlay address to the peer's, UDP checksum computed. */
function udpDatagram(round: number): Uint8Array {
  const src = overlay(self);
  const dst = overlay(peer);
  const udp = makeUdp(PORT, PORT, bytes(`udp round ${round} from ${self}`));
  const w = new Writer(new Uint8Array(udpLength(udp)), 'udp');
  emitUdp(udp, w, { src, dst });
  const header = makeIpv4Header(src, dst, IpProto.UDP, w.buf.length, { ttl: 64, id: round });
  return encode({ header, payload: w.buf }, emitIpv4, ipv4Length, 'ipv4');
}

const errors: string[] = [];
const outer: PeerSummary['outer'] = {};
const udpCopies = new Map<string, number>();
const peerNbma = ipv4Bytes(nbma(peer));

const gre = PacketSocket.open({
  device: 'gre1',
  protocol: ETHERTYPE.NHRP,
  onPacket: (payload, from, protocol, pktType) => {
    const t = text(payload);
    if (t.startsWith('hello')) {
      summary.hello ??= { from: from.length === 4 ? ipv4ToString(from) : `${from.length} bytes`, protocol, pktType, text: t };
      gre.send(from, bytes(`ack from ${self} for ${t}`));
    } else if (t.startsWith('ack')) {
      summary.ack ??= { from: ipv4ToString(from), text: t };
    }
    check();
  },
  onError: (e) => errors.push(`${e.code}: ${e.message}`),
});

const summary: PeerSummary = {
  self,
  done: false,
  open: { hardwareType: gre.hardwareType, addressLength: gre.addressLength, address: ipv4ToString(gre.address) },
  outer,
  errors,
};

const tap = PacketSocket.open({
  device: underlay,
  protocol: ETHERTYPE.IPV4,
  onPacket: (payload) => {
    try {
      const ip = parseIpv4(new Reader(payload, 'ipv4'));
      if (ip.header.protocol !== IpProto.GRE || ip.header.src !== nbma(peer)) return;
      const g = parseGre(new Reader(ip.payload, 'gre'));
      const proto = `0x${g.header.protocolType.toString(16).padStart(4, '0')}`;
      outer[proto] ??= { src: ip.header.src, dst: ip.header.dst, ttl: ip.header.ttl, key: g.header.key, payloadLength: g.payload.length };
    } catch (e) {
      errors.push(`tap: ${(e as Error).message}`);
    }
  },
});

const udp = createSocket('udp4');
udp.on('message', (msg, rinfo) => {
  const t = text(msg);
  const n = (udpCopies.get(t) ?? 0) + 1;
  udpCopies.set(t, n);
  if (n >= 2 && !summary.udp) summary.udp = { from: rinfo.address, port: rinfo.port, text: t, copies: n };
  check();
});
udp.bind(PORT, overlay(self));

let round = 0;
const ticker = setInterval(() => {
  round++;
  try {
    gre.send(peerNbma, bytes(`hello ${round} from ${self}`));
    // Multicast replication's shape: one datagram, a copy to each NBMA address (here the same one twice).
    const sent = gre.sendMany([peerNbma, peerNbma], udpDatagram(round), ETHERTYPE.IPV4);
    if (sent !== 2) errors.push(`sendMany sent ${sent} of 2`);
  } catch (e) {
    errors.push(`send: ${(e as Error).message}`);
  }
}, 100);

let finishing = false;
function check(): void {
  if (finishing || !summary.hello || !summary.ack || !summary.udp) return;
  finishing = true;
  setTimeout(() => finish(true), LINGER_MS);
}

function finish(done: boolean): void {
  clearInterval(ticker);
  clearTimeout(deadline);
  summary.stats = { ...gre.stats() };
  gre.close();
  tap.close();
  udp.close();
  process.stdout.write(`${JSON.stringify({ ...summary, done })}\n`);
  process.exitCode = done ? 0 : 1;
}

const deadline = setTimeout(() => finish(false), DEADLINE_MS);
