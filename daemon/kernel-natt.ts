/**
 * NAT traversal (RFC 3948) on the kernel dataplane: the tunnel source's UDP 4500 socket and the
 * xfrm states' UDP encapsulation.
 *
 * - The socket (platform/native/udp-encap.ts) has UDP_ENCAP_ESPINUDP set: the kernel decapsulates
 *   ESP in UDP arriving on it and hands it to xfrm, consumes NAT-keepalives, and leaves the socket
 *   only IKE behind the non-ESP marker, which goes up to the tunnel's IKE runtime (sink.ike) as on
 *   the userspace dataplane. IKE to 4500 and NAT-keepalives leave through it.
 * - ESP in UDP leaves by the outbound state's encap (sport 4500, dport the peer's port as IKE saw
 *   it, behind a NAT its translated one). The kernel accepts ESP in UDP only into an inbound state
 *   with the same encapsulation type (and plain ESP only into one without: xfrm_input compares
 *   them), so a peer's inbound states carry encap too. The IKE runtime gives the ports with the
 *   outbound SA, which comes right after the inbound one: EncapBook remembers each peer's encap
 *   and which inbound SAs must be installed again when it appears or goes.
 */
import type { EspSa, EspSaKeys } from '../platform/native/esp.js';
import { UdpEncapSocket, NATT_UDP_PORT, type UdpEncapStats } from '../platform/native/udp-encap.js';
import type { EspEncap } from './kernel-esp.js';
import type { Logger } from './log.js';

/** An inbound SA to install (again) with the encapsulation it needs. */
export interface InboundSaSpec {
  readonly spi: number;
  readonly sa: EspSaKeys;
  readonly peer: string;
  readonly encap?: EspEncap;
}

/**
 * Per peer, the UDP encapsulation of its SAs (from the outbound SA the IKE runtime installs), and
 * the inbound SAs' keys so they can follow it. Pure bookkeeping: KernelDataplane applies it.
 */
export class EncapBook {
  private readonly peerEncap = new Map<string, EspEncap>();
  private readonly inbound = new Map<number, { sa: EspSaKeys; peer: string; encap?: EspEncap }>();

  /** The encap an inbound SA from `peer` gets now (undefined: plain ESP). */
  inboundSa(spi: number, sa: EspSaKeys, peer: string): EspEncap | undefined {
    const encap = this.peerEncap.get(peer);
    this.inbound.set(spi, { sa, peer, ...(encap ? { encap } : {}) });
    return encap;
  }

  deleteInbound(spi: number): void {
    this.inbound.delete(spi);
  }

  /**
   * The kernel's encap for an outbound SA to `peer`, and the peer's inbound SAs to install again
   * because encapsulation appeared or went (a change of the peer's port alone needs none: the
   * kernel accepts ESP in UDP from any port into a state with encap, and reports the new one).
   */
  outboundSa(peer: string, sa: EspSa): { readonly encap?: EspEncap; readonly reinstall: readonly InboundSaSpec[] } {
    // Outbound: our port, then the peer's. Inbound the same two, the other way round.
    const encap = sa.encap ? { sport: sa.encap.srcPort, dport: sa.encap.dstPort } : undefined;
    const inEncap = sa.encap ? { sport: sa.encap.dstPort, dport: sa.encap.srcPort } : undefined;
    if (inEncap) this.peerEncap.set(peer, inEncap);
    else this.peerEncap.delete(peer);
    const reinstall: InboundSaSpec[] = [];
    for (const [spi, i] of this.inbound) {
      if (i.peer !== peer || (i.encap === undefined) === (inEncap === undefined)) continue;
      if (inEncap) i.encap = inEncap;
      else delete i.encap;
      reinstall.push({ spi, sa: i.sa, peer, ...(inEncap ? { encap: inEncap } : {}) });
    }
    return { ...(encap ? { encap } : {}), reinstall };
  }
}

export interface KernelNattOptions {
  /** The tunnel source address: the socket binds it. */
  readonly local: string;
  /** `tunnel source <interface>`: the socket is bound to it too. */
  readonly device?: string;
  /** Default 4500 (tests: 0, an ephemeral port). */
  readonly port?: number;
  readonly log: Logger;
  /** IKE that arrived on the socket, the marker removed. */
  readonly onIke: (src: string, srcPort: number, message: Uint8Array) => void;
}

/** The UDP 4500 socket of one kernel-dataplane tunnel with tunnel protection. */
export class KernelNatt {
  private socket: UdpEncapSocket | undefined;
  private last: UdpEncapStats | undefined;

  constructor(private readonly o: KernelNattOptions) {}

  /** Bind the socket. Throws when the port is taken (another IKE daemon) or the kernel lacks UDP_ENCAP. */
  open(): void {
    if (this.socket) return;
    this.socket = UdpEncapSocket.open({
      local: this.o.local, port: this.o.port ?? NATT_UDP_PORT, ...(this.o.device ? { device: this.o.device } : {}),
      onIke: (message, src, srcPort) => this.o.onIke(src, srcPort, message),
      onError: (err) => this.o.log.debug({ local: this.o.local, err: err.message }, 'UDP 4500 receive error'),
    });
  }

  get port(): number | undefined {
    return this.socket?.port;
  }

  sendIke(dst: string, dstPort: number, message: Uint8Array): boolean {
    return this.send(() => this.socket?.sendIke(dst, dstPort, message), dst, dstPort);
  }

  sendNatKeepalive(dst: string, dstPort: number): boolean {
    return this.send(() => this.socket?.sendKeepalive(dst, dstPort), dst, dstPort);
  }

  /** An unreachable peer is a logged false, as a full socket is, never an exception in IKE's path. */
  private send(op: () => boolean | undefined, dst: string, dstPort: number): boolean {
    try {
      return op() ?? false;
    } catch (e) {
      this.o.log.debug({ peer: dst, port: dstPort, err: (e as Error).message }, 'UDP 4500 send failed');
      return false;
    }
  }

  /** Counters under the userspace dataplane's names where they mean the same. */
  counters(): Record<string, number> {
    const s = this.socket?.stats() ?? this.last;
    if (!s) return {};
    return {
      udpIkeRxPackets: s.ikeRx, udpIkeTxPackets: s.ikeTx, natKeepaliveTx: s.keepaliveTx,
      udpEncapRxOther: s.rxOther + s.rxShort + s.rxTruncated, udpEncapTxFull: s.txFull, udpEncapTxErrors: s.txErrors,
    };
  }

  close(): void {
    if (!this.socket) return;
    this.last = this.socket.stats();
    this.socket.close();
    this.socket = undefined;
  }
}
