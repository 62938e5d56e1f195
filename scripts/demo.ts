/**
 * npm run demo [-- FILE] [--key N]
 *
 * Builds a sample DMVPN capture with the project's own encoders, in the
 * reference lab's addressing (hub 10.0.0.1 at NBMA 203.0.113.1, spokes
 * 10.0.0.11-13 at 203.0.113.11-13 with LANs 192.168.1-3.0/24, EIGRP AS 1,
 * "ip nhrp authentication Cisco123", holdtime 450, ip mtu 1400), writes it as
 * a pcap (default ./dmvpn-sample.pcap), and prints what the decoder makes of it.
 *
 * The story, in capture order:
 *   1-4   spokes 1 and 2 register with the hub (NHRP Registration Request/Reply)
 *   5-9   EIGRP over the tunnel: Hellos, spoke 1's Update with 192.168.1.0/24, the
 *         hub's ACK, the hub's Update to spoke 2
 *   10-14 Phase 3: spoke 2's traffic for 192.168.1.10 goes through the hub; the
 *         hub answers with a Traffic Indication; spoke 2 sends a Resolution
 *         Request, the hub forwards it to spoke 1, spoke 1 replies directly
 *   15-18 spoke 3 and the hub run IKE_SA_INIT and IKE_AUTH ("tunnel protection")
 *   19-21 ESP between spoke 3 and the hub
 * Packets 1-14 are shown in clear, as on a tunnel without protection (with
 * protection on they would travel inside ESP like 19-21).
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { encode, internetChecksum } from '../protocols/wire/index.js';
import { emitIpv4, ipv4Length, makeIpv4Header, IpProto } from '../protocols/ip/ipv4.js';
import { emitUdp, udpLength, makeUdp, UdpPort } from '../protocols/ip/udp.js';
import { emitGre, greLength, makeGre, GreProto } from '../protocols/gre/wire.js';
import {
  emitNhrp, nhrpLength, makeCie, makeRegistrationRequest, makeRegistrationReply, makeResolutionRequest, makeResolutionReply,
  makeTrafficIndication, forwardedByNhs, type NhrpPacket,
} from '../protocols/nhrp/index.js';
import { encodeEigrp, buildHello, buildUpdate, buildAck, classicRoute, EIGRP_MULTICAST_IPV4, EigrpFlag, type EigrpPacket } from '../protocols/eigrp/wire.js';
import {
  buildSaInitRequest, buildSaInitResponse, encodeIkeMessage, ikeProposal, notify, CISCO_SA_INIT_VENDOR_IDS, CiscoVendorId,
  EncrId, PrfId, IntegId, DhGroup, NotifyType, ProtocolId, ExchangeType, PayloadType, type IkeMessage,
} from '../protocols/ikev2/wire.js';
import { emitEsp, espLength } from '../protocols/esp/wire.js';
import { writePcap, LinkType } from '../daemon/capture/pcap.js';
import { decodeCapture, textLines } from '../daemon/decode/index.js';

// ---------------------------------------------------------------------------
// Encapsulation helpers (also used by the decoder and Wireshark tests)

/** Deterministic filler for keys, nonces and ciphertext: SHA-256 in counter mode over a label. */
export function filler(label: string, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0, block = 0; i < n; block++) {
    const h = createHash('sha256').update(`${label}/${block}`).digest();
    for (let j = 0; j < h.length && i < n; j++) out[i++] = h[j];
  }
  return out;
}

export interface IpOptions {
  readonly id?: number;
  readonly ttl?: number;
  readonly tos?: number;
}

/** An IPv4 datagram around a payload (header checksum computed). */
export function ipv4(src: string, dst: string, protocol: number, payload: Uint8Array, o: IpOptions = {}): Uint8Array {
  const header = makeIpv4Header(src, dst, protocol, payload.length, { id: o.id ?? 0, ttl: o.ttl ?? 255, tos: o.tos ?? 0 });
  return encode({ header, payload }, emitIpv4, ipv4Length, 'ipv4');
}

/** GRE (with the key, when given) around a payload. */
export function gre(protocolType: number, payload: Uint8Array, key?: number): Uint8Array {
  return encode(makeGre(protocolType, payload, { key }), emitGre, greLength, 'gre');
}

/** UDP with its checksum over the IPv4 pseudo-header. */
export function udp(src: string, dst: string, srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array {
  const d = makeUdp(srcPort, dstPort, payload);
  return encode(d, (v, wr) => emitUdp(v, wr, { src, dst }), udpLength, 'udp');
}

export function nhrpBytes(p: NhrpPacket): Uint8Array {
  return encode(p, emitNhrp, nhrpLength, 'nhrp');
}

/** NHRP in GRE in IPv4 between two NBMA addresses (IOS sends control traffic with precedence 6). */
export function nhrpDatagram(srcNbma: string, dstNbma: string, p: NhrpPacket, key?: number, id = 0): Uint8Array {
  return ipv4(srcNbma, dstNbma, IpProto.GRE, gre(GreProto.NHRP, nhrpBytes(p), key), { tos: 0xc0, id });
}

/** An IPv4 packet carried in GRE between two NBMA addresses. */
export function tunnelled(srcNbma: string, dstNbma: string, inner: Uint8Array, key?: number, id = 0): Uint8Array {
  return ipv4(srcNbma, dstNbma, IpProto.GRE, gre(GreProto.IPV4, inner, key), { tos: 0xc0, id });
}

/** EIGRP in IPv4 (TTL 2 as IOS sends it, precedence 6). */
export function eigrpDatagram(src: string, dst: string, p: EigrpPacket): Uint8Array {
  return ipv4(src, dst, IpProto.EIGRP, encodeEigrp(p), { ttl: 2, tos: 0xc0 });
}

/** ICMP echo request (RFC 792) with a 32-byte pattern, as a LAN host's ping. */
export function icmpEcho(id: number, seq: number): Uint8Array {
  const b = new Uint8Array(8 + 32);
  b[0] = 8;
  b[4] = id >> 8;
  b[5] = id & 0xff;
  b[6] = seq >> 8;
  b[7] = seq & 0xff;
  for (let i = 0; i < 32; i++) b[8 + i] = 0x61 + (i % 23);
  const ck = internetChecksum(b);
  b[2] = ck >> 8;
  b[3] = ck & 0xff;
  return b;
}

// ---------------------------------------------------------------------------
// The lab (shared/seed/basic-dmvpn.md)

export const Lab = {
  hub: { proto: '10.0.0.1', nbma: '203.0.113.1' },
  spokes: [1, 2, 3].map((n) => ({ n, proto: `10.0.0.1${n}`, nbma: `203.0.113.1${n}`, lan: `192.168.${n}.0` })),
  /** "ip nhrp authentication Cisco123": IOS keeps 8 bytes, and "Cisco123" is exactly 8. */
  password: 'Cisco123',
  /** "ip nhrp holdtime 450" */
  holdTime: 450,
  /** "ip mtu 1400": the CIE MTU IOS advertises is the tunnel's IP MTU. */
  mtu: 1400,
  /** "router eigrp 1" */
  eigrpAs: 1,
} as const;

/** Classic metric units (RFC 7868 section 6.8.2): delay in 10 µs x 256, bandwidth 256 x 10^7 / kbit/s. */
const GIGABIT = { delay: 1 * 256, bandwidth: Math.floor((256 * 1e7) / 1_000_000) };
/** The tunnel: "bandwidth 1000", default tunnel delay 50 ms. */
const TUNNEL = { delay: 5000 * 256, bandwidth: Math.floor((256 * 1e7) / 1000) };

export interface SampleOptions {
  /** GRE key ("tunnel key N"); none in the seed lab. */
  readonly key?: number;
  /** Time of the first packet (seconds since the epoch). */
  readonly start?: number;
}

export interface SamplePacket {
  readonly data: Uint8Array;
  readonly time: number;
  /** What the packet is, for the tests and the demo's legend. */
  readonly what: string;
}

/** The sample capture's packets, in order. */
export function samplePackets(o: SampleOptions = {}): SamplePacket[] {
  const { hub, spokes, password, holdTime, mtu, eigrpAs } = Lab;
  const [s1, s2, s3] = spokes;
  const key = o.key;
  const out: SamplePacket[] = [];
  let t = o.start ?? 1_735_689_600; // 2025-01-01T00:00:00Z
  let id = 100;
  const add = (what: string, data: Uint8Array, dt = 0.0021): void => {
    out.push({ what, data, time: Number(t.toFixed(6)) });
    t += dt;
  };
  const hubCie = makeCie({ mtu, holdingTime: holdTime, clientNbma: hub.nbma, clientProto: hub.proto });

  // 1-4: registrations (RFC 2332 section 5.2.3; IOS flags U + NAT, NHS in the NAT Address extension)
  for (const s of [s1, s2]) {
    const req = makeRegistrationRequest({
      srcNbma: s.nbma, srcProto: s.proto, password, requestId: s.n, nhsProto: hub.proto, nhsNbma: hub.nbma, holdingTime: holdTime, mtu,
    });
    add(`spoke ${s.n} registration request`, nhrpDatagram(s.nbma, hub.nbma, req, key, id++));
    add(`hub registration reply to spoke ${s.n}`, nhrpDatagram(hub.nbma, s.nbma, makeRegistrationReply(req, { responder: hubCie }), key, id++), 0.05);
  }

  // 5-9: EIGRP over the tunnel (the hub replicates multicast to each registered spoke)
  const hello = (): EigrpPacket => buildHello({ as: eigrpAs, holdTime: 15, iosVersion: [15, 9], tlvVersion: [2, 0] });
  add('hub EIGRP hello to spoke 1', tunnelled(hub.nbma, s1.nbma, eigrpDatagram(hub.proto, EIGRP_MULTICAST_IPV4, hello()), key, id++));
  add('spoke 1 EIGRP hello', tunnelled(s1.nbma, hub.nbma, eigrpDatagram(s1.proto, EIGRP_MULTICAST_IPV4, hello()), key, id++));
  const lan1 = classicRoute({ prefix: s1.lan, prefixLength: 24, ...GIGABIT, mtu: 1500, hopCount: 0, reliability: 255, load: 1 });
  add('spoke 1 EIGRP update: 192.168.1.0/24', tunnelled(s1.nbma, hub.nbma, eigrpDatagram(s1.proto, hub.proto, buildUpdate({ as: eigrpAs, sequence: 7, flags: EigrpFlag.EOT, routes: [lan1] })), key, id++));
  add('hub EIGRP ACK to spoke 1', tunnelled(hub.nbma, s1.nbma, eigrpDatagram(hub.proto, s1.proto, buildAck({ as: eigrpAs, ack: 7 })), key, id++));
  const viaHub = classicRoute({
    prefix: s1.lan, prefixLength: 24, delay: GIGABIT.delay + TUNNEL.delay, bandwidth: TUNNEL.bandwidth, mtu, hopCount: 1, reliability: 255, load: 1,
  });
  add('hub EIGRP update to spoke 2: 192.168.1.0/24', tunnelled(hub.nbma, s2.nbma, eigrpDatagram(hub.proto, s2.proto, buildUpdate({ as: eigrpAs, sequence: 21, routes: [viaHub] })), key, id++), 0.3);

  // 10-14: Phase 3 shortcut (draft-detienne-dmvpn: the hub redirects, the spokes resolve)
  const data = ipv4('192.168.2.10', '192.168.1.10', IpProto.ICMP, icmpEcho(1, 1), { ttl: 254, id: 0x4d2 });
  add('spoke 2 data for 192.168.1.10 via the hub', tunnelled(s2.nbma, hub.nbma, data, key, id++));
  const redirect = makeTrafficIndication({ srcNbma: hub.nbma, srcProto: hub.proto, password, dstProto: '192.168.2.10', trigger: data.subarray(0, 28) });
  add('hub traffic indication (redirect) to spoke 2', nhrpDatagram(hub.nbma, s2.nbma, redirect, key, id++));
  const res = makeResolutionRequest({ srcNbma: s2.nbma, srcProto: s2.proto, password, requestId: 3, target: '192.168.1.10', mtu, holdingTime: holdTime });
  add('spoke 2 resolution request for 192.168.1.10', nhrpDatagram(s2.nbma, hub.nbma, res, key, id++));
  const fwd = forwardedByNhs(res, hubCie);
  add('hub forwards the resolution request to spoke 1', nhrpDatagram(hub.nbma, s1.nbma, fwd, key, id++));
  const answer = makeCie({ prefixLength: 24, mtu, holdingTime: holdTime, clientNbma: s1.nbma, clientProto: s1.proto });
  const s1Cie = makeCie({ mtu, holdingTime: holdTime, clientNbma: s1.nbma, clientProto: s1.proto });
  add('spoke 1 resolution reply, straight to spoke 2', nhrpDatagram(s1.nbma, s2.nbma, makeResolutionReply(fwd, { cies: [answer], responder: s1Cie }), key, id++), 0.4);

  // 15-18: IKEv2 between spoke 3 and the hub, shaped like IOS (Cisco VIDs, NAT detection with protocol ID 1)
  const spiI = 0x5a17c0de00000013n;
  const spiR = 0x0b0e0f1000000001n;
  const proposal = ikeProposal({ encr: EncrId.ENCR_AES_CBC, keyLength: 256, prf: PrfId.PRF_HMAC_SHA2_512, integ: IntegId.AUTH_HMAC_SHA2_512_256, dh: DhGroup.MODP_2048 });
  const spokeEp = { address: s3.nbma, port: UdpPort.IKE };
  const hubEp = { address: hub.nbma, port: UdpPort.IKE };
  const common = {
    proposals: [proposal], dhGroup: DhGroup.MODP_2048, natNotifyProtocolId: ProtocolId.IKE, vendorIds: CISCO_SA_INIT_VENDOR_IDS,
    notifies: [notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED)], trailingVendorIds: [CiscoVendorId.FRAGMENTATION],
  };
  const init = buildSaInitRequest({ ...common, spiI, keyExchange: filler('ke-i', 256), nonce: filler('ni', 32), nat: { source: spokeEp, destination: hubEp } });
  const initR = buildSaInitResponse({ ...common, spiI, spiR, keyExchange: filler('ke-r', 256), nonce: filler('nr', 32), nat: { source: hubEp, destination: spokeEp } });
  const ike = (src: string, dst: string, m: IkeMessage): Uint8Array => ipv4(src, dst, IpProto.UDP, udp(src, dst, UdpPort.IKE, UdpPort.IKE, encodeIkeMessage(m)), { id: id++ });
  add('spoke 3 IKE_SA_INIT request', ike(s3.nbma, hub.nbma, init));
  add('hub IKE_SA_INIT response', ike(hub.nbma, s3.nbma, initR));
  const auth = (response: boolean, first: number, label: string): IkeMessage => ({
    header: { spiI, spiR, majorVersion: 2, minorVersion: 0, exchangeType: ExchangeType.IKE_AUTH, initiator: !response, response, higherVersion: false, messageId: 1 },
    // IV (16) + ciphertext + ICV (32 for HMAC-SHA-512-256): opaque without the SA's keys.
    payloads: [{ kind: 'SK', firstPayload: first, body: filler(label, 16 + 320 + 32) }],
  });
  add('spoke 3 IKE_AUTH request (encrypted)', ike(s3.nbma, hub.nbma, auth(false, PayloadType.IDi, 'auth-i')));
  add('hub IKE_AUTH response (encrypted)', ike(hub.nbma, s3.nbma, auth(true, PayloadType.IDr, 'auth-r')), 0.01);

  // 19-21: transport-mode ESP carrying the GRE traffic (RFC 4303)
  const esp = (src: string, dst: string, spi: number, seq: number): Uint8Array =>
    ipv4(src, dst, IpProto.ESP, encode({ spi, seq, payload: filler(`esp-${spi}-${seq}`, 16 + 128 + 32) }, emitEsp, espLength, 'esp'), { id: id++ });
  add('spoke 3 ESP', esp(s3.nbma, hub.nbma, 0xc0de0013, 1));
  add('hub ESP', esp(hub.nbma, s3.nbma, 0x0b0e0013, 1));
  add('spoke 3 ESP', esp(s3.nbma, hub.nbma, 0xc0de0013, 2));
  return out;
}

/** The sample as a raw-IP pcap. */
export function sampleCapture(o: SampleOptions = {}): Uint8Array {
  return writePcap(samplePackets(o).map((p) => ({ data: p.data, time: p.time })), LinkType.RAW);
}

// ---------------------------------------------------------------------------

function usage(msg: string): never {
  console.error(`demo: ${msg}\nusage: npm run demo [-- FILE] [--key N]`);
  process.exit(2);
}

function main(argv: string[]): void {
  let file = 'dmvpn-sample.pcap';
  let key: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--key') {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) usage('--key takes a number 0-4294967295');
      key = v;
    } else if (a.startsWith('-')) usage(`unknown option "${a}"`);
    else file = a;
  }
  const path = resolve(file);
  const bytes = sampleCapture({ key });
  writeFileSync(path, bytes);
  const packets = samplePackets({ key });
  console.log(`Wrote ${packets.length} packets (${bytes.length} bytes) to ${path}`);
  console.log('Built with the project encoders, addressed like the reference lab: hub 10.0.0.1/203.0.113.1,');
  console.log(`spokes 10.0.0.11-13/203.0.113.11-13, GRE key ${key ?? 'none'}. Decode it again with:`);
  console.log(`  node bin/dmvpnctl.js decode ${file}      (add --json for JSON lines, --brief for one line per packet)`);
  console.log('');
  const decoded = decodeCapture(bytes);
  for (const p of decoded.packets) for (const line of textLines(p)) console.log(line);
  const bad = decoded.packets.filter((p) => p.malformed).length;
  console.log('');
  console.log(`${decoded.packets.length} packets decoded, ${bad} malformed.`);
  if (bad > 0) process.exitCode = 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
