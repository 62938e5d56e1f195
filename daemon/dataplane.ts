/**
 * What a tunnel's control plane (NHRP, EIGRP over the tunnel, tunnel protection)
 * asks of the dataplane that moves its packets. Two implementations, chosen per
 * tunnel by `tunnel dataplane kernel|userspace`:
 *
 * - userspace-dataplane.ts: TUN + raw GRE/ESP sockets + the native addon's tables;
 * - kernel-dataplane.ts: an ip_gre multipoint device, neighbour entries, xfrm, and
 *   packet sockets for NHRP, all programmed over netlink.
 *
 * NHRP and EIGRP cannot tell which one they run on.
 */
import type { EspTarget } from './ipsec.js';
import type { SaStats } from '../platform/native/esp.js';

export type DataplaneKind = 'kernel' | 'userspace';

/** What the dataplane hands up to the tunnel. */
export interface DataplaneSink {
  /** An NHRP packet (GRE protocol 0x2001) from an NBMA address. */
  nhrp(payload: Uint8Array, srcNbma: string): void;
  /** A datagram of the handed-up protocol (EIGRP) from the overlay, IP header included. */
  inner(src: string, datagram: Uint8Array): void;
  /** Traffic for an overlay next hop with no NBMA mapping (Phase 2 resolution). */
  miss(nextHop: string): void;
  /** A packet the hub forwarded from the tunnel back into it (Phase 3), and the NBMA it came from. */
  redirect(packet: Uint8Array, srcNbma: string): void;
  /** Something arrived that nothing here handles (counted for `show dataplane`). */
  ignored(what: string): void;
  /**
   * IKE that arrived on the dataplane's UDP 4500 socket (NAT-T, RFC 3948), the
   * non-ESP marker removed; src and srcPort as received (behind a NAT: its public ones).
   */
  ike?(src: string, srcPort: number, payload: Uint8Array): void;
}

export interface DataplanePeer {
  readonly overlay: string;
  readonly nbma: string;
  /** Packets sent to the peer, where the dataplane counts them (undefined: not counted). */
  readonly txPackets?: number;
  readonly txBytes?: number;
}

export interface TunnelDataplane extends EspTarget {
  readonly kind: DataplaneKind;
  /** Bring the device up, open the sockets, start delivering events to the sink. */
  start(sink: DataplaneSink): Promise<void>;
  /** Close everything this dataplane opened or created. */
  stop(): Promise<void>;
  sendNhrp(nbma: string, bytes: Uint8Array): boolean;
  /** An IP datagram into the overlay (multicast goes to every NBMA of the multicast list). Returns copies sent. */
  sendInner(datagram: Uint8Array): number;
  setPeer(overlay: string, nbma: string, permanent: boolean): void;
  deletePeer(overlay: string): void;
  setMulticast(nbmas: readonly string[]): void;
  /** A RIB route through this tunnel appeared (present) or went. */
  routeChanged(prefix: string, len: number, nextHop: string | undefined, present: boolean): void;
  peers(): readonly DataplanePeer[];
  stats(): Readonly<Record<string, number>> | undefined;
  saStats(): SaStats | undefined;
  /** Bring counters kept outside the process (nftables, xfrm) up to date before a `show`. */
  refresh?(): Promise<void>;
  /**
   * NAT-T (RFC 3948), where the dataplane owns UDP 4500 (userspace with tunnel protection):
   * an IKE message to dst:dstPort behind the non-ESP marker (added here), and a NAT-keepalive.
   */
  sendIke?(dst: string, dstPort: number, payload: Uint8Array): boolean;
  sendNatKeepalive?(dst: string, dstPort: number): boolean;
}
