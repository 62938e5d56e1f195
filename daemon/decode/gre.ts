/**
 * GRE (RFC 2784, key and sequence of RFC 2890) and what mGRE carries in a
 * DMVPN: NHRP (0x2001), IPv4 (0x0800: EIGRP, data, keepalives), IPv6, and
 * Cisco's MetaData header (0x8909, which IOS puts in front of the inner packet
 * when TrustSec tagging is on, as in various_gre.pcap).
 */
import { Reader } from '../../protocols/wire/index.js';
import { parseGre, greChecksumValid, greHeaderLength, GreFlag, GreProto } from '../../protocols/gre/wire.js';
import { field, jsonField, group, hex16, hex32, checksumFields, flagsNode, type Node } from './tree.js';
import { etherTypeName } from './link.js';
import type { Dissection, Next } from './model.js';

/** GRE protocol types a DMVPN capture shows (RFC 2784 section 2.4 uses EtherTypes). */
const GreProtoExtra = {
  /** Cisco MetaData (TrustSec SGT) in front of the inner packet. */
  CMD: 0x8909,
  /**
   * A Cisco GRE keepalive is an IPv4/GRE packet inside GRE; the far end
   * decapsulates it and routes the inner packet back, which then arrives as GRE
   * with protocol type 0 and no payload (Wireshark: "Possible GRE keepalive").
   */
  KEEPALIVE: 0x0000,
} as const;

export function greProtocolName(p: number): string {
  switch (p) {
    case GreProto.NHRP: return 'NHRP';
    case GreProto.IPV4: return 'IPv4';
    case GreProto.IPV6: return 'IPv6';
    case GreProto.CDP: return 'CDP';
    case GreProtoExtra.CMD: return 'Cisco MetaData';
    case GreProtoExtra.KEEPALIVE: return 'keepalive reply';
    default: return etherTypeName(p);
  }
}

const GreFlagBits = { C: GreFlag.CHECKSUM, R: GreFlag.ROUTING, K: GreFlag.KEY, S: GreFlag.SEQUENCE } as const;

export function greLayer(bytes: Uint8Array, d: Dissection): Next | undefined {
  const g = parseGre(new Reader(bytes, 'gre'));
  const h = g.header;
  const word = (bytes[0] << 8) | bytes[1];
  const fields: Node[] = [
    flagsNode('flags', 'Flags and version', word, GreFlagBits),
    field('version', 'Version', h.version),
    field('protocolType', 'Protocol type', h.protocolType, `${greProtocolName(h.protocolType)} (${hex16(h.protocolType)})`),
    jsonField('protocolTypeName', greProtocolName(h.protocolType)),
  ];
  if (h.checksumPresent) fields.push(...checksumFields(h.checksum, greChecksumValid(bytes, 0, bytes.length) ? 'correct' : 'incorrect'));
  if (h.key !== undefined) fields.push(field('key', 'Key', h.key, `${hex32(h.key)} (${h.key})`));
  if (h.sequence !== undefined) fields.push(field('sequence', 'Sequence number', h.sequence));
  if (h.reserved0 !== 0) fields.push(field('reserved0', 'Reserved0', h.reserved0));
  fields.push(field('payloadLength', 'Payload length', g.payload.length));
  d.layers.push(group('gre', `Generic Routing Encapsulation (${greProtocolName(h.protocolType)})`, fields));
  const key = h.key !== undefined ? `key=${h.key} ` : '';
  // GRE inside GRE (a Cisco keepalive): keep the outer tunnel's description in front.
  const outer = d.protocol === 'GRE' ? `${d.info} → GRE ` : '';
  d.dmvpnProtocol('GRE', `${outer}${key}${greProtocolName(h.protocolType)}`);
  const payload = bytes.subarray(greHeaderLength(h));
  switch (h.protocolType) {
    case GreProto.NHRP:
      return { to: 'nhrp', bytes: payload };
    case GreProto.IPV4:
      return { to: 'ipv4', bytes: payload };
    case GreProto.IPV6:
      return { to: 'ipv6', bytes: payload };
    case GreProtoExtra.CMD:
      return { to: 'cmd', bytes: payload };
    case GreProtoExtra.KEEPALIVE:
      return undefined;
    default:
      d.info += ' (not decoded)';
      return undefined;
  }
}

/**
 * Cisco MetaData as GRE carries it (Wireshark's packet-cisco-metadata.c, GRE
 * form): EtherType of the inner packet (2), version (1), length (1), options (2),
 * security group tag (2), then the inner packet.
 */
export function cmdLayer(bytes: Uint8Array, d: Dissection): Next | undefined {
  const r = new Reader(bytes, 'cmd');
  const etherType = r.u16();
  const version = r.u8();
  const length = r.u8();
  const options = r.u16();
  const sgt = r.u16();
  d.layers.push(
    group('cmd', 'Cisco MetaData', [
      field('etherType', 'Type', etherType, `${etherTypeName(etherType)} (${hex16(etherType)})`),
      field('version', 'Version', version),
      field('length', 'Length', length),
      field('options', 'Options', options, hex16(options)),
      field('sgt', 'Security group tag', sgt),
    ]),
  );
  const inner = bytes.subarray(r.offset);
  if (etherType === GreProto.IPV4) return { to: 'ipv4', bytes: inner };
  if (etherType === GreProto.IPV6) return { to: 'ipv6', bytes: inner };
  d.notDmvpn(etherTypeName(etherType));
  return undefined;
}
