/**
 * EIGRP (RFC 7868) as a field tree: header with its checksum verified (over
 * the whole packet, over IPv4 and IPv6 alike), flags by name, and every TLV:
 * parameters (goodbye when K1-K5 are 255), software version, sequence, next
 * multicast sequence, stub, peer termination, authentication, classic and
 * wide-metric IPv4 routes, and unknown TLVs kept as bytes.
 */
import { Reader } from '../../protocols/wire/index.js';
import {
  parseEigrp, eigrpChecksumValid, eigrpOpcodeName, eigrpTlvName, eigrpPacketName, eigrpExternalProtocolName, tlvType,
  routeTlvs, EigrpFlag, EigrpStubFlag, EigrpRouteFlag, EigrpExternalFlag, EigrpAuthType,
  type EigrpTlv, type ExternalData, type EigrpPacket,
} from '../../protocols/eigrp/wire.js';
import { field, jsonField, group, list, hex16, bytesField, checksumFields, flagsNode, type Node } from './tree.js';
import type { Dissection } from './model.js';

function externalNode(e: ExternalData): Node {
  return group('external', 'External data', [
    field('originatingRouter', 'Originating router', e.originatingRouter),
    field('originatingAs', 'Originating AS', e.originatingAs),
    field('adminTag', 'Administrative tag', e.adminTag),
    field('externalMetric', 'External metric', e.externalMetric),
    field('externalProtocol', 'External protocol', e.externalProtocol, `${eigrpExternalProtocolName(e.externalProtocol)} (${e.externalProtocol})`),
    flagsNode('flags', 'Flags', e.flags, EigrpExternalFlag, 2),
  ]);
}

function destinations(ds: readonly { prefix: string; prefixLength: number }[]): Node {
  const texts = ds.map((x) => `${x.prefix}/${x.prefixLength}`);
  return field('destinations', 'Destinations', texts, texts.join(', ') || '(none)');
}

const authTypeNames: Record<number, string> = { [EigrpAuthType.MD5]: 'MD5', [EigrpAuthType.SHA256]: 'HMAC-SHA-256' };

function tlvFields(t: EigrpTlv): Node[] {
  switch (t.kind) {
    case 'parameters': {
      const goodbye = [t.k1, t.k2, t.k3, t.k4, t.k5].every((k) => k === 255);
      const out = [
        field('k1', 'K1', t.k1), field('k2', 'K2', t.k2), field('k3', 'K3', t.k3),
        field('k4', 'K4', t.k4), field('k5', 'K5', t.k5), field('k6', 'K6', t.k6),
        field('holdTime', 'Hold time', t.holdTime, `${t.holdTime} s`),
      ];
      // RFC 7868 section 6.7.1: K1-K5 all 255 announces a graceful shutdown.
      if (goodbye) out.push(field('goodbye', 'Goodbye', true, 'yes (K1-K5 = 255: the sender is shutting down)'));
      return out;
    }
    case 'authentication':
      return [
        field('authType', 'Type', t.authType, `${authTypeNames[t.authType] ?? 'unknown'} (${t.authType})`),
        field('keyId', 'Key ID', t.keyId),
        field('keySequence', 'Key sequence', t.keySequence),
        bytesField('digest', 'Digest', t.digest),
      ];
    case 'sequence':
    case 'peerTermination':
      return [field('addresses', 'Addresses', t.addresses, t.addresses.join(', ') || '(none)')];
    case 'softwareVersion':
      return [
        field('ios', 'IOS release', `${t.iosMajor}.${t.iosMinor}`),
        field('tlvVersion', 'TLV version', `${t.tlvMajor}.${t.tlvMinor}`),
      ];
    case 'nextMulticastSequence':
      return [field('sequence', 'Sequence', t.sequence)];
    case 'stub':
      return [flagsNode('flags', 'Stub flags', t.flags, EigrpStubFlag)];
    case 'classicRoute': {
      const m = t.metric;
      const out: Node[] = [field('nextHop', 'Next hop', t.nextHop)];
      if (t.external) out.push(externalNode(t.external));
      out.push(
        field('delay', 'Delay', m.delay, m.delay === 0xffffffff ? `${m.delay} (unreachable)` : `${m.delay}`),
        field('bandwidth', 'Bandwidth', m.bandwidth),
        field('mtu', 'MTU', m.mtu),
        field('hopCount', 'Hop count', m.hopCount),
        field('reliability', 'Reliability', m.reliability),
        field('load', 'Load', m.load),
        field('internalTag', 'Internal tag', m.internalTag),
        flagsNode('flags', 'Flags', m.flags, EigrpRouteFlag, 2),
        destinations(t.destinations),
      );
      return out;
    }
    case 'wideRoute': {
      const m = t.metric;
      const delay = m.delay.toString();
      const out: Node[] = [
        field('topologyId', 'Topology ID', t.topologyId),
        field('routerId', 'Router ID', t.routerId),
        field('priority', 'Priority', m.priority),
        field('reliability', 'Reliability', m.reliability),
        field('load', 'Load', m.load),
        field('mtu', 'MTU', m.mtu),
        field('hopCount', 'Hop count', m.hopCount),
        field('delay', 'Delay (ps)', delay, m.delay === 0xffffffffffffn ? `${delay} (unreachable)` : delay),
        field('bandwidth', 'Bandwidth (kbit/s)', m.bandwidth.toString()),
        flagsNode('flags', 'Flags', m.flags, EigrpRouteFlag),
      ];
      if (m.extendedMetrics.length > 0) out.push(bytesField('extendedMetrics', 'Extended metrics', m.extendedMetrics));
      out.push(field('nextHop', 'Next hop', t.nextHop));
      if (t.external) out.push(externalNode(t.external));
      out.push(destinations(t.destinations));
      return out;
    }
    case 'unknown':
      return [bytesField('value', 'Value', t.value)];
  }
}

function tlvNode(t: EigrpTlv): Node {
  const type = tlvType(t);
  const name = eigrpTlvName(type);
  const dests = t.kind === 'classicRoute' || t.kind === 'wideRoute' ? ` ${t.destinations.map((x) => `${x.prefix}/${x.prefixLength}`).join(' ')}` : '';
  return group('tlv', `${name}${dests}`, [field('type', 'Type', type, `${hex16(type)} (${name})`), jsonField('typeName', name), ...tlvFields(t)]);
}

function info(p: EigrpPacket): string {
  const h = p.header;
  const parts = [eigrpPacketName(p), `AS=${h.as}`];
  if (h.sequence !== 0) parts.push(`seq=${h.sequence}`);
  if (h.ack !== 0) parts.push(`ack=${h.ack}`);
  const flags = flagsNodeNames(h.flags);
  if (flags) parts.push(`flags=${flags}`);
  const routes = routeTlvs(p);
  if (routes.length > 0) {
    const prefixes = routes.flatMap((r) => r.destinations.map((x) => `${x.prefix}/${x.prefixLength}`));
    parts.push(prefixes.length <= 3 ? prefixes.join(' ') : `${prefixes.length} routes`);
  }
  return parts.join(' ');
}

function flagsNodeNames(flags: number): string {
  const out: string[] = [];
  for (const [k, v] of Object.entries(EigrpFlag)) if (flags & v) out.push(k);
  return out.join(',');
}

export function eigrpLayer(bytes: Uint8Array, d: Dissection): void {
  const p = parseEigrp(new Reader(bytes, 'eigrp'));
  const h = p.header;
  const name = eigrpPacketName(p);
  d.layers.push(
    group('eigrp', `Enhanced Interior Gateway Routing Protocol (${name})`, [
      field('version', 'Version', bytes[0]),
      field('opcode', 'Opcode', h.opcode, `${h.opcode} (${eigrpOpcodeName(h.opcode)})`),
      jsonField('opcodeName', eigrpOpcodeName(h.opcode)),
      field('packet', 'Packet', name),
      ...checksumFields(h.checksum, eigrpChecksumValid(bytes, 0, bytes.length) ? 'correct' : 'incorrect'),
      flagsNode('flags', 'Flags', h.flags, EigrpFlag, 8),
      field('sequence', 'Sequence', h.sequence),
      field('ack', 'Acknowledge', h.ack),
      field('virtualRouterId', 'Virtual router ID', h.virtualRouterId),
      field('as', 'Autonomous system', h.as),
      list('tlvs', 'TLVs', p.tlvs.map(tlvNode)),
    ]),
  );
  d.dmvpnProtocol('EIGRP', info(p));
}
