/**
 * What the hub's Traffic Indication quotes of the packet that triggered it: the IP
 * header and 8 bytes, as IOS does (nhrp-trace.pcap frame 1), and what Wireshark
 * makes of it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encode, toHex } from '../../../protocols/wire/index.js';
import { emitIpv4, ipv4Length, makeIpv4Header, IpProto } from '../../../protocols/ip/ipv4.js';
import { emitGre, greLength, makeGre, GreProto } from '../../../protocols/gre/wire.js';
import { trafficIndicationQuote } from '../../../protocols/nhrp/build.js';
import { NhrpEngine } from '../../../protocols/nhrp/engine.js';
import type { NhrpConfig } from '../../../protocols/nhrp/engine-types.js';
import { needsVectors } from '../../support/vectors.js';
import { needsTool } from '../../support/tools.js';
import { tshark, assertClean, fields, field1, layersOf, type TsharkLayers } from '../../wireshark/support.js';
import { nhrpFrame } from './captures.js';

/** The hub of nhrp-trace.pcap: 10.255.255.1 at 192.168.200.1, password "secret". */
const traceHub: NhrpConfig = {
  ifname: 'Tunnel0', protocolAddress: '10.255.255.1', prefixLength: 24, nbmaAddress: '192.168.200.1', networkId: 1,
  holdtime: 7200, password: 'secret', greKey: 1000, staticMaps: [], multicastStatic: [], multicastDynamic: true, nhs: [],
  shortcut: false, redirect: true, registrationUnique: true,
};

function hub(cfg: NhrpConfig = traceHub): NhrpEngine {
  const e = new NhrpEngine(cfg, { lookup: () => undefined }, 0);
  e.start(0);
  return e;
}

/** The one Traffic Indication the hub sends for a hairpinned packet. */
function redirectOf(e: NhrpEngine, packet: Uint8Array, srcNbma: string, now: number): Uint8Array {
  const sends = e.redirect(packet, srcNbma, now).filter((a) => a.kind === 'send');
  assert.equal(sends.length, 1);
  const s = sends[0];
  assert.ok(s.kind === 'send');
  assert.equal(s.nbma, srcNbma);
  return s.bytes;
}

function ipv4(src: string, dst: string, protocol: number, payload: Uint8Array): Uint8Array {
  return encode({ header: makeIpv4Header(src, dst, protocol, payload.length), payload }, emitIpv4, ipv4Length);
}

test('traffic indication: the hub quotes the IP header and 8 bytes, byte for byte as IOS (nhrp-trace.pcap frame 1)', needsVectors, () => {
  const captured = nhrpFrame('nhrp-trace.pcap', 1).bytes;
  // The capture's quote is the first 28 bytes of a 100-byte ICMP echo (total length 0x0064):
  // rebuild the whole packet around it and let the engine choose what to quote.
  const quote = captured.subarray(40, 68);
  assert.equal((quote[2] << 8) | quote[3], 100);
  const packet = new Uint8Array(100);
  packet.set(quote);
  for (let i = 28; i < 100; i++) packet[i] = i;
  const sent = redirectOf(hub(), packet, '192.168.200.3', 1000);
  assert.equal(toHex(sent), toHex(captured));
});

test('traffic indication: the quote follows the header length and never runs past the packet', () => {
  const withOptions = new Uint8Array(64);
  withOptions[0] = 0x46; // 24-byte header
  assert.equal(trafficIndicationQuote(withOptions).length, 32);
  const plain = ipv4('10.0.0.12', '192.168.1.1', IpProto.UDP, new Uint8Array(100));
  assert.deepEqual(trafficIndicationQuote(plain), plain.slice(0, 28));
  assert.equal(trafficIndicationQuote(plain.slice(0, 24)).length, 24);
  const bogus = plain.slice(0, 40);
  bogus[0] = 0x41; // header length 4 bytes: still quote the 20-byte header
  assert.equal(trafficIndicationQuote(bogus).length, 28);
  // Not IPv4: counted as malformed, nothing sent.
  const e = hub();
  const v6 = new Uint8Array(48);
  v6[0] = 0x60;
  assert.deepEqual(e.redirect(v6, '192.168.200.3', 0).filter((a) => a.kind === 'send'), []);
  assert.equal(e.counters().drops['malformed'], 1);
});

/** The indication as it leaves the hub: IPv4, GRE with key 1000, NHRP. */
function onTheWire(nhrp: Uint8Array): Uint8Array {
  const gre = encode(makeGre(GreProto.NHRP, nhrp, { key: 1000 }), emitGre, greLength);
  return ipv4('192.168.200.1', '192.168.200.3', IpProto.GRE, gre);
}

/** The frame without the quoted packet's own dissection (Wireshark nests it under this name). */
function withoutQuotedPacket(l: TsharkLayers): TsharkLayers {
  const copy = structuredClone(l) as TsharkLayers;
  for (const n of layersOf(copy, 'nhrp')) delete n['Packet Causing Indication'];
  return copy;
}

test('traffic indication: Wireshark dissects what the hub sends; complaints, if any, are about the quoted packet only', needsTool('tshark'), () => {
  const src = '10.255.255.3';
  const dst = '10.255.255.2';
  const echo = new Uint8Array(80);
  echo[0] = 8; // ICMP echo request, as in the capture
  const udp = new Uint8Array(8 + 64);
  udp.set([0x30, 0x39, 0x00, 0x35, 0x00, 72]); // 12345 -> 53, length 72
  const tcp = new Uint8Array(20 + 100);
  tcp.set([0xc3, 0x50, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xfa, 0xf0]); // 50000 -> 80, PSH ACK
  const inner = ipv4(dst, src, IpProto.UDP, Uint8Array.of(0, 53, 0x30, 0x39, 0, 8, 0, 0));
  const unreachable = new Uint8Array(8 + inner.length);
  unreachable.set([3, 3]); // ICMP port unreachable, quoting a UDP datagram
  unreachable.set(inner, 8);
  const triggers: [string, Uint8Array, boolean][] = [
    ['ICMP echo', ipv4(src, dst, IpProto.ICMP, echo), true],
    ['UDP', ipv4(src, dst, IpProto.UDP, udp), true],
    // Wireshark reads our extensions as the rest of a TCP header or of an ICMP error's
    // embedded packet: it would say the same of IOS's indication for these packets.
    ['TCP', ipv4(src, dst, IpProto.TCP, tcp), false],
    ['ICMP error', ipv4(src, dst, IpProto.ICMP, unreachable), false],
  ];
  const e = hub();
  const sent = triggers.map(([, packet], i) => redirectOf(e, packet, '192.168.200.3', 10_000 * (i + 1)));
  const frames = tshark(sent.map(onTheWire));
  frames.forEach((l, i) => {
    const [what, , clean] = triggers[i];
    const nhrp = layersOf(l, 'nhrp')[0];
    assert.ok(nhrp, `${what}: dissected as NHRP`);
    assert.equal(field1(nhrp, 'nhrp.hdr.op.type'), '8', what);
    assert.equal(field1(nhrp, 'nhrp.hdr.chksum.status'), '1', `${what}: checksum good`);
    assert.equal(field1(nhrp, 'nhrp.hdr.extoff'), '68', `${what}: 40-byte mandatory part and a 28-byte quote`);
    const quoted = nhrp['Packet Causing Indication'] as Record<string, unknown>;
    assert.deepEqual([field1(quoted, 'ip.src'), field1(quoted, 'ip.dst')], [src, dst], `${what}: the quoted header`);
    assert.deepEqual(fields(nhrp, 'nhrp.ext.type').map(Number), [4, 5, 7, 9, 0], `${what}: every extension dissected`);
    if (clean) assertClean(l, what);
    else assertClean(withoutQuotedPacket(l), `${what} outside the quoted packet`);
  });
});
