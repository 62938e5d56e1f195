/**
 * The dissector: one captured frame in, one DecodedPacket out. It strips the
 * link layer and walks down the protocol stack, each layer decoder returning
 * where to go next:
 *
 *   IPv4/IPv6 ─┬─ 47 GRE ─┬─ 0x2001 NHRP
 *              │          ├─ 0x0800 IPv4 (again: EIGRP, keepalives, data)
 *              │          └─ 0x8909 Cisco MetaData ─ IPv4
 *              ├─ 88 EIGRP
 *              ├─ 50 ESP
 *              └─ 17 UDP ─┬─ 500  IKE (v2 decoded, v1 named)
 *                         └─ 4500 NAT-keepalive | marker + IKE | ESP
 *
 * A codec's WireError ends the walk with a "malformed" note; the layers
 * decoded before it stay. Anything else a codec throws is a bug and escapes
 * (the fuzz script feeds this function to find such bugs).
 */
import { WireError } from '../../protocols/wire/index.js';
import type { CapturedPacket } from '../capture/pcap.js';
import { frameNode, linkNode, stripLink, etherTypeName, linkTypeName } from './link.js';
import { ipv4Layer, ipv6Layer, udpLayer } from './ip.js';
import { greLayer, cmdLayer } from './gre.js';
import { nhrpLayer } from './nhrp.js';
import { eigrpLayer } from './eigrp.js';
import { ikeLayer } from './ike.js';
import { espLayer, udpEncapLayer } from './esp.js';
import { field, group } from './tree.js';
import { Dissection, type DecodedPacket, type Malformed, type Next } from './model.js';

/** IP inside GRE inside IP ...: deeper than this is not a tunnel anyone runs. */
const MAX_IP_DEPTH = 8;

/** Protocol column for the codec that rejected a packet. */
const columnOf: Record<string, string> = {
  ipv4: 'IPv4',
  ipv6: 'IPv6',
  udp: 'UDP',
  gre: 'GRE',
  cmd: 'GRE',
  nhrp: 'NHRP',
  eigrp: 'EIGRP',
  ikev2: 'IKEv2',
  isakmp: 'IKEv1',
  esp: 'ESP',
  udpencap: 'NAT-T',
};

const DMVPN_COLUMNS = new Set(['GRE', 'NHRP', 'EIGRP', 'IKEv2', 'IKEv1', 'ESP', 'NAT-T']);

function step(n: Next, d: Dissection): Next | undefined {
  switch (n.to) {
    case 'ipv4':
    case 'ipv6':
      if (++d.ipDepth > MAX_IP_DEPTH) {
        d.layers.push(field('tooDeep', 'Nesting', d.ipDepth, `more than ${MAX_IP_DEPTH} IP layers: not decoded further`));
        return undefined;
      }
      return n.to === 'ipv4' ? ipv4Layer(n.bytes, d) : ipv6Layer(n.bytes, d);
    case 'udp':
      return udpLayer(n.bytes, n.pseudo, d);
    case 'gre':
      return greLayer(n.bytes, d);
    case 'cmd':
      return cmdLayer(n.bytes, d);
    case 'nhrp':
      nhrpLayer(n.bytes, d);
      return undefined;
    case 'eigrp':
      eigrpLayer(n.bytes, d);
      return undefined;
    case 'esp':
      espLayer(n.bytes, d);
      return undefined;
    case 'udpencap':
      return udpEncapLayer(n.bytes, d);
    case 'ike':
      ikeLayer(n.bytes, d);
      return undefined;
  }
}

function malformedOf(e: WireError): Malformed {
  return { protocol: e.protocol, reason: e.reason, offset: e.offset, message: `malformed: ${e.message}` };
}

/** Decode one frame. `firstTime` is the first frame's time (for the relative time column). */
export function dissectPacket(frame: CapturedPacket, firstTime = frame.time): DecodedPacket {
  const d = new Dissection();
  d.layers.push(frameNode(frame));
  let malformed: Malformed | undefined;
  const l = stripLink(frame);
  if (!l) {
    d.notDmvpn(linkTypeName(frame.linkType), `${frame.data.length}-byte frame without a network layer we read`);
  } else {
    const link = linkNode(frame, l);
    if (link) d.layers.push(link);
    let next: Next | undefined;
    if (l.etherType === 0x0800) next = { to: 'ipv4', bytes: l.payload };
    else if (l.etherType === 0x86dd) next = { to: 'ipv6', bytes: l.payload };
    else d.notDmvpn(etherTypeName(l.etherType));
    try {
      while (next) next = step(next, d);
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      if (e.needed > 0 && frame.data.length < frame.origLength) {
        // The capture kept only the first snaplen bytes: running out of them is not the packet's fault.
        d.layers.push(field('snapped', 'Capture', frame.origLength - frame.data.length, `[cut short by the capture's snap length: ${e.message}]`));
        d.info = `${d.info || (columnOf[e.protocol] ?? e.protocol)} [cut short by the capture's snap length]`;
        if (!d.protocol) d.protocol = columnOf[e.protocol] ?? e.protocol.toUpperCase();
        d.dmvpn = d.dmvpn || DMVPN_COLUMNS.has(columnOf[e.protocol] ?? '');
        return finish(frame, firstTime, d, undefined);
      }
      malformed = malformedOf(e);
      d.layers.push(
        group('malformed', `[Malformed packet: ${e.message}]`, [
          field('protocol', 'Protocol', e.protocol),
          field('reason', 'Reason', e.reason),
          field('offset', 'Offset', e.offset),
        ]),
      );
      const column = columnOf[e.protocol] ?? e.protocol.toUpperCase();
      d.protocol = column;
      d.info = malformed.message;
      d.dmvpn = d.dmvpn || DMVPN_COLUMNS.has(column);
    }
  }
  return finish(frame, firstTime, d, malformed);
}

function finish(frame: CapturedPacket, firstTime: number, d: Dissection, malformed: Malformed | undefined): DecodedPacket {
  return {
    index: frame.index,
    time: frame.time,
    relativeTime: frame.time - firstTime,
    capturedLength: frame.data.length,
    wireLength: frame.origLength,
    src: d.src,
    dst: d.dst,
    protocol: d.protocol,
    info: d.info,
    dmvpn: d.dmvpn,
    ...(malformed ? { malformed } : {}),
    layers: d.layers,
  };
}
