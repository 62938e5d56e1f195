/**
 * IPv4 (RFC 791), IPv6 (RFC 8200, fixed header only) and UDP (RFC 768) layers,
 * and the choice of what comes next: GRE (47), EIGRP (88), ESP (50), UDP to
 * IKE (500) or NAT-T (4500, RFC 3948). Anything else is "not a DMVPN protocol".
 */
import { Reader, checksumValid, onesSum } from '../../protocols/wire/index.js';
import { parseIpv4, ipv4ChecksumValid, ipv4HeaderLength, IpProto } from '../../protocols/ip/ipv4.js';
import { parseIpv6, ipv6AddrString } from '../../protocols/ip/ipv6.js';
import { parseUdp, udpChecksumValid, UdpPort } from '../../protocols/ip/udp.js';
import { field, jsonField, group, hex16, bytesField, checksumFields, flagsNode, type ChecksumStatus, type Node } from './tree.js';
import type { Dissection, Next, PseudoHeader } from './model.js';

/** IP protocol numbers (IANA) that a DMVPN capture shows. */
const protoNames: Record<number, string> = {
  0: 'IPv6 hop-by-hop',
  1: 'ICMP',
  2: 'IGMP',
  4: 'IP-in-IP',
  6: 'TCP',
  17: 'UDP',
  41: 'IPv6-in-IPv4',
  43: 'IPv6 routing header',
  44: 'IPv6 fragment header',
  47: 'GRE',
  50: 'ESP',
  51: 'AH',
  58: 'ICMPv6',
  60: 'IPv6 destination options',
  88: 'EIGRP',
  89: 'OSPF',
  103: 'PIM',
  112: 'VRRP',
  132: 'SCTP',
};

export function protoName(p: number): string {
  return protoNames[p] ?? `IP protocol ${p}`;
}

/**
 * The flag bits of the IPv4 header as parseIpv4Header returns them (the top
 * three bits of the word at offset 6, shifted down): RFC 791 section 3.1.
 */
const Ipv4Flag = { RESERVED: 0x4, DF: 0x2, MF: 0x1 } as const;

/** Protocols that the IP layer hands on; everything else ends the walk. */
function nextFromIp(proto: number, payload: Uint8Array, pseudo: PseudoHeader, d: Dissection): Next | undefined {
  switch (proto) {
    case IpProto.GRE:
      return { to: 'gre', bytes: payload };
    case IpProto.EIGRP:
      return { to: 'eigrp', bytes: payload };
    case IpProto.ESP:
      return { to: 'esp', bytes: payload };
    case IpProto.UDP:
      return { to: 'udp', bytes: payload, pseudo };
    default:
      d.notDmvpn(protoName(proto));
      return undefined;
  }
}

export function ipv4Layer(bytes: Uint8Array, d: Dissection): Next | undefined {
  const ip = parseIpv4(new Reader(bytes, 'ipv4'));
  const h = ip.header;
  const hl = ipv4HeaderLength(h);
  const status: ChecksumStatus = ipv4ChecksumValid(bytes, 0) ? 'correct' : 'incorrect';
  const fragment = (h.flags & Ipv4Flag.MF) !== 0 || h.fragmentOffset !== 0;
  const fields: Node[] = [
    field('version', 'Version', 4),
    field('headerLength', 'Header length', hl, `${hl} bytes`),
    field('tos', 'Type of service', h.tos, `0x${h.tos.toString(16).padStart(2, '0')} (DSCP ${h.tos >> 2})`),
    field('totalLength', 'Total length', h.totalLength),
    field('id', 'Identification', h.id, `${hex16(h.id)} (${h.id})`),
    flagsNode('flags', 'Flags', h.flags, Ipv4Flag, 1),
    field('fragmentOffset', 'Fragment offset', h.fragmentOffset),
    field('ttl', 'Time to live', h.ttl),
    field('protocol', 'Protocol', h.protocol, `${protoName(h.protocol)} (${h.protocol})`),
    jsonField('protocolName', protoName(h.protocol)),
    ...checksumFields(h.checksum, status),
    field('src', 'Source address', h.src),
    field('dst', 'Destination address', h.dst),
  ];
  if (h.options.length > 0) fields.push(bytesField('options', 'Options', h.options));
  // Bytes past Total Length are link-layer padding (Ethernet minimum frame), not IP.
  if (bytes.length > h.totalLength) fields.push(field('trailer', 'Trailer (link padding)', bytes.length - h.totalLength, `${bytes.length - h.totalLength} bytes`));
  d.layers.push(group('ipv4', `Internet Protocol Version 4, Src: ${h.src}, Dst: ${h.dst}`, fields));
  d.src = h.src;
  d.dst = h.dst;
  if (fragment) {
    const what = `${protoName(h.protocol)} fragment`;
    const detail = `offset ${h.fragmentOffset * 8}${h.flags & Ipv4Flag.MF ? ', more fragments' : ''}; not reassembled`;
    if (isDmvpnIpProto(h.protocol) && !d.dmvpn) d.dmvpnProtocol(protoName(h.protocol), `${what} (${detail})`);
    else d.notDmvpn(what, detail);
    return undefined;
  }
  const srcBytes = bytes.subarray(12, 16);
  const dstBytes = bytes.subarray(16, 20);
  return nextFromIp(h.protocol, ip.payload, { version: 4, src: h.src, dst: h.dst, srcBytes, dstBytes }, d);
}

function isDmvpnIpProto(p: number): boolean {
  return p === IpProto.GRE || p === IpProto.EIGRP || p === IpProto.ESP;
}

export function ipv6Layer(bytes: Uint8Array, d: Dissection): Next | undefined {
  const ip = parseIpv6(new Reader(bytes, 'ipv6'));
  const h = ip.header;
  const src = ipv6AddrString(h.src);
  const dst = ipv6AddrString(h.dst);
  d.layers.push(
    group('ipv6', `Internet Protocol Version 6, Src: ${src}, Dst: ${dst}`, [
      field('version', 'Version', 6),
      field('trafficClass', 'Traffic class', h.trafficClass),
      field('flowLabel', 'Flow label', h.flowLabel),
      field('payloadLength', 'Payload length', h.payloadLength),
      field('nextHeader', 'Next header', h.nextHeader, `${protoName(h.nextHeader)} (${h.nextHeader})`),
      jsonField('nextHeaderName', protoName(h.nextHeader)),
      field('hopLimit', 'Hop limit', h.hopLimit),
      field('src', 'Source address', src),
      field('dst', 'Destination address', dst),
    ]),
  );
  d.src = src;
  d.dst = dst;
  return nextFromIp(h.nextHeader, ip.payload, { version: 6, src, dst, srcBytes: h.src, dstBytes: h.dst }, d);
}

/** RFC 8200 section 8.1: the UDP checksum over IPv6 covers a pseudo-header of both addresses, length and 17. */
function udp6ChecksumValid(bytes: Uint8Array, len: number, p: PseudoHeader): boolean {
  const initial = onesSum(p.srcBytes) + onesSum(p.dstBytes) + len + IpProto.UDP;
  return checksumValid(bytes, 0, len, initial);
}

export function udpLayer(bytes: Uint8Array, pseudo: PseudoHeader, d: Dissection): Next | undefined {
  const u = parseUdp(new Reader(bytes, 'udp'));
  let status: ChecksumStatus;
  if (u.checksum === 0) status = 'not present';
  else if (pseudo.version === 4) status = udpChecksumValid(bytes, 0, u.length, pseudo.src, pseudo.dst) ? 'correct' : 'incorrect';
  else status = udp6ChecksumValid(bytes, u.length, pseudo) ? 'correct' : 'incorrect';
  d.layers.push(
    group('udp', `User Datagram Protocol, Src Port: ${u.srcPort}, Dst Port: ${u.dstPort}`, [
      field('srcPort', 'Source port', u.srcPort),
      field('dstPort', 'Destination port', u.dstPort),
      field('length', 'Length', u.length),
      ...checksumFields(u.checksum, status),
    ]),
  );
  // RFC 3948 section 2: port 4500 carries keepalives, marked IKE and ESP; port 500 only IKE.
  if (u.srcPort === UdpPort.IKE_NATT || u.dstPort === UdpPort.IKE_NATT) return { to: 'udpencap', bytes: u.payload };
  if (u.srcPort === UdpPort.IKE || u.dstPort === UdpPort.IKE) return { to: 'ike', bytes: u.payload };
  d.notDmvpn('UDP', `port ${u.srcPort} → ${u.dstPort}`);
  return undefined;
}
