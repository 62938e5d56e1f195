/**
 * The frame and its link layer: what tshark shows as "Frame" and "Ethernet II"
 * (or Linux cooked capture, BSD loopback, raw IP). The payload itself comes from
 * daemon/capture/pcap.ts stripLink; this adds the addresses and names for display.
 */
import { LinkType, stripLink, type CapturedPacket, type LinkPayload } from '../capture/pcap.js';
import { field, jsonField, group, hex16, type Node } from './tree.js';

const linkTypeNames: Record<number, string> = {
  [LinkType.NULL]: 'BSD loopback',
  [LinkType.ETHERNET]: 'Ethernet',
  [LinkType.RAW]: 'Raw IP',
  [LinkType.RAW_BSD]: 'Raw IP',
  [LinkType.LINUX_SLL]: 'Linux cooked capture v1',
  [LinkType.IPV4]: 'Raw IPv4',
  [LinkType.IPV6]: 'Raw IPv6',
  [LinkType.LINUX_SLL2]: 'Linux cooked capture v2',
};

export function linkTypeName(t: number): string {
  return linkTypeNames[t] ?? `link type ${t}`;
}

/** EtherTypes worth a name in a DMVPN capture (IEEE registry). */
const etherTypeNames: Record<number, string> = {
  0x0800: 'IPv4',
  0x0806: 'ARP',
  0x8035: 'RARP',
  0x8100: '802.1Q VLAN',
  0x86dd: 'IPv6',
  0x8847: 'MPLS',
  0x88a8: '802.1ad',
  0x88cc: 'LLDP',
  0x8909: 'Cisco MetaData',
  /** Cisco's Ethernet keepalive ("Loopback", IEEE 802.3 Annex 57A configuration testing) */
  0x9000: 'Ethernet loopback',
};

export function etherTypeName(t: number): string {
  // Ethernet frames whose type field is a length (<= 1500) carry 802.2 LLC (STP, CDP, DTP).
  if (t <= 1500) return 'LLC';
  return etherTypeNames[t] ?? `EtherType ${hex16(t)}`;
}

function mac(b: Uint8Array, at: number): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push(b[at + i].toString(16).padStart(2, '0'));
  return parts.join(':');
}

/** ISO 8601 UTC with the capture's microseconds (Date keeps only milliseconds). */
export function isoTime(t: number): string {
  const sec = Math.floor(t);
  if (!Number.isFinite(sec) || Math.abs(sec) > 8.64e12) return String(t);
  const micro = Math.round((t - sec) * 1e6);
  const base = new Date(sec * 1000).toISOString().slice(0, 19);
  return `${base}.${String(Math.min(micro, 999999)).padStart(6, '0')}Z`;
}

export function frameNode(p: CapturedPacket): Node {
  const title = `Frame ${p.index}: ${p.data.length} bytes captured (${p.origLength} on the wire), ${linkTypeName(p.linkType)}, ${isoTime(p.time)}`;
  return group('frame', title, [
    field('number', 'Number', p.index),
    field('time', 'Time', p.time, isoTime(p.time)),
    field('capturedLength', 'Captured length', p.data.length),
    field('wireLength', 'Length on the wire', p.origLength),
    field('linkType', 'Link type', p.linkType, `${linkTypeName(p.linkType)} (${p.linkType})`),
  ], { textLeaf: true });
}

/** The link-layer node (undefined for raw IP, which has none). */
export function linkNode(p: CapturedPacket, l: LinkPayload): Node | undefined {
  const d = p.data;
  const et = field('etherType', 'Type', l.etherType, `${etherTypeName(l.etherType)} (${hex16(l.etherType)})`);
  const etName = jsonField('etherTypeName', etherTypeName(l.etherType));
  switch (p.linkType) {
    case LinkType.ETHERNET: {
      const vlans: Node[] = [];
      for (let off = 12; off + 4 <= d.length - l.payload.length - 2; off += 4) {
        const tpid = (d[off] << 8) | d[off + 1];
        if (tpid !== 0x8100 && tpid !== 0x88a8) break;
        vlans.push(field(`vlan${vlans.length ? vlans.length + 1 : ''}`, '802.1Q VLAN ID', ((d[off + 2] << 8) | d[off + 3]) & 0x0fff));
      }
      const src = mac(d, 6);
      const dst = mac(d, 0);
      return group('eth', `Ethernet II, Src: ${src}, Dst: ${dst}`, [field('dst', 'Destination', dst), field('src', 'Source', src), ...vlans, et, etName]);
    }
    case LinkType.LINUX_SLL:
      return group('sll', 'Linux cooked capture v1', [field('packetType', 'Packet type', (d[0] << 8) | d[1]), et, etName]);
    case LinkType.LINUX_SLL2:
      return group('sll2', 'Linux cooked capture v2', [field('ifindex', 'Interface index', ((d[4] << 24) | (d[5] << 16) | (d[6] << 8) | d[7]) >>> 0), et, etName]);
    case LinkType.NULL:
      return group('null', 'BSD loopback', [et, etName]);
    default:
      return undefined;
  }
}

export { stripLink };
