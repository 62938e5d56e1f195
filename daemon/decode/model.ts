/**
 * What the dissector produces per captured packet, and the small mutable state
 * that the layer decoders fill in on the way down (layers, addresses, the
 * protocol and info columns).
 */
import type { Node } from './tree.js';

export interface Malformed {
  /** Protocol whose codec rejected the bytes (WireError.protocol). */
  readonly protocol: string;
  readonly reason: string;
  /** Offset of the problem from the start of that protocol's bytes. */
  readonly offset: number;
  /** "malformed: nhrp: ar$pktsz runs past the packet at offset 0: need 300 bytes, have 80" */
  readonly message: string;
}

export interface DecodedPacket {
  /** 1-based frame number, as Wireshark numbers frames. */
  readonly index: number;
  /** Seconds since the epoch. */
  readonly time: number;
  /** Seconds since the first packet of the capture. */
  readonly relativeTime: number;
  readonly capturedLength: number;
  readonly wireLength: number;
  /** Innermost IP source and destination (what tshark's columns show). */
  readonly src?: string;
  readonly dst?: string;
  /** Protocol column: NHRP, EIGRP, IKEv2, IKEv1, ESP, NAT-T, GRE, or the non-DMVPN protocol. */
  readonly protocol: string;
  /** Info column. */
  readonly info: string;
  /** True when the packet carries GRE, NHRP, EIGRP, IKE or ESP. */
  readonly dmvpn: boolean;
  readonly malformed?: Malformed;
  readonly layers: readonly Node[];
}

/** Where the walk goes next: the bytes of the next protocol and what it needs to know. */
export type Next =
  | { readonly to: 'ipv4' | 'ipv6' | 'gre' | 'nhrp' | 'eigrp' | 'esp' | 'udpencap' | 'ike' | 'cmd'; readonly bytes: Uint8Array }
  | { readonly to: 'udp'; readonly bytes: Uint8Array; readonly pseudo: PseudoHeader };

/** What the UDP checksum covers besides the datagram (RFC 768; RFC 8200 section 8.1). */
export interface PseudoHeader {
  readonly version: 4 | 6;
  readonly src: string;
  readonly dst: string;
  /** Raw addresses, for the IPv6 sum. */
  readonly srcBytes: Uint8Array;
  readonly dstBytes: Uint8Array;
}

/** The state of one packet's walk. */
export class Dissection {
  readonly layers: Node[] = [];
  src?: string;
  dst?: string;
  protocol = '';
  info = '';
  dmvpn = false;
  /** Nesting of IP inside GRE; bounded so a crafted packet cannot recurse without end. */
  ipDepth = 0;

  /** Set the columns for a DMVPN protocol. */
  dmvpnProtocol(protocol: string, info: string): void {
    this.protocol = protocol;
    this.info = info;
    this.dmvpn = true;
  }

  /** Columns for a packet (or payload) that is not one of ours: "not a DMVPN protocol: TCP". */
  notDmvpn(what: string, detail = ''): void {
    if (this.dmvpn) {
      // Inside a tunnel: the packet is still DMVPN (GRE); say what it carries.
      this.info = `${this.info} carrying ${what}${detail ? ` ${detail}` : ''}`;
      return;
    }
    this.protocol = what;
    this.info = `not a DMVPN protocol: ${what}${detail ? ` (${detail})` : ''}`;
  }
}
