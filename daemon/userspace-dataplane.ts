/**
 * The userspace dataplane of one tunnel: a TUN device carries the overlay, the
 * native addon reads it, looks the next hop up in the tables pushed down here,
 * adds GRE (and ESP) and sends on raw IP sockets, in batches, on its own thread.
 * Control packets (NHRP, the handed-up routing protocol), misses and Phase 3
 * hairpins come back as events.
 *
 * With tunnel protection it also owns UDP 4500 of the tunnel source (RFC 3948):
 * ESP-in-UDP to and from peers behind a NAT, NAT-keepalives, and IKE behind the
 * non-ESP marker, which it hands up to the tunnel's IKE runtime (sink.ike) and
 * sends for it (sendIke); IKE on UDP 500 stays a plain socket of the runtime.
 */
import { GreProto } from '../protocols/gre/wire.js';
import { networkOf } from '../protocols/nhrp/cache.js';
import { Dataplane, openTun, openGreSocket, openEspSocket, openUdpEncapSocket, closeFd, type DataplaneEvent } from '../platform/native/index.js';
import type { EspSa, EspSaKeys, SaStats } from '../platform/native/esp.js';
import type { RtnetlinkPort } from '../platform/ports.js';
import { writeSysctl } from '../platform/linux/sysctl.js';
import type { TunnelInterfaceConfig } from './config/model.js';
import type { Logger } from './log.js';
import type { DataplaneSink, TunnelDataplane, DataplanePeer } from './dataplane.js';

export interface UserspaceDataplaneOptions {
  readonly cfg: TunnelInterfaceConfig;
  readonly nbma: string;
  readonly nhsNbma: string | null;
  readonly redirect: boolean;
  /** IP protocol handed up instead of delivered to the kernel (0 = none). */
  readonly handUpProtocol: number;
  /** Tunnel protection: open the ESP socket (protocol 50) and the UDP-encapsulation socket (4500). */
  readonly protected: boolean;
  readonly rtnl: RtnetlinkPort;
  readonly log: Logger;
}

export class UserspaceDataplane implements TunnelDataplane {
  readonly kind = 'userspace' as const;
  private dp: Dataplane | undefined;
  private sink: DataplaneSink | undefined;

  constructor(private readonly o: UserspaceDataplaneOptions) {}

  async start(sink: DataplaneSink): Promise<void> {
    const { rtnl, log, cfg: c } = this.o;
    this.sink = sink;
    if (c.pathMtuDiscovery) {
      // The kernel builds the outer header of the raw GRE and ESP sockets with one DF setting for all
      // packets; copying each inner packet's DF would need IP_HDRINCL on the hot path.
      log.warn({ tunnel: c.name }, 'tunnel path-mtu-discovery: not on the userspace dataplane, the outer DF stays clear (the kernel dataplane copies it from the inner packet)');
    }
    const tun = openTun(c.name, { mtu: c.ipMtu });
    let greFd = -1;
    try {
      greFd = openGreSocket({ local: this.o.nbma, rcvbuf: 8 << 20 });
    } catch (e) {
      closeFd(tun.fd);
      throw e;
    }
    let espFd: number | undefined;
    let espUdpFd: number | undefined;
    if (this.o.protected) {
      try {
        espFd = openEspSocket({ local: this.o.nbma, rcvbuf: 8 << 20 });
        espUdpFd = openUdpEncapSocket({ local: this.o.nbma, rcvbuf: 8 << 20 });
      } catch (e) {
        closeFd(tun.fd);
        closeFd(greFd);
        if (espFd !== undefined) closeFd(espFd);
        throw e;
      }
    }
    this.dp = Dataplane.open({
      tun,
      greFd,
      espFd,
      espUdpFd,
      config: {
        localNbma: this.o.nbma,
        key: c.tunnelKey ?? null,
        mtu: c.ipMtu,
        mssClamp: c.tcpAdjustMss ?? 0,
        redirect: this.o.redirect,
        hairpin: 'kernel',
        fallbackNbma: this.o.nhsNbma,
        handUpProtocol: this.o.handUpProtocol,
      },
      onEvent: (ev) => this.onEvent(ev),
    });
    // The tunnel's own subnet is on-link.
    const net = c.address!;
    this.dp.setRoute(networkOf(net.address, net.prefixLength), net.prefixLength, null);
    await rtnl.addAddress(c.name, `${net.address}/${net.prefixLength}`).catch((e: { errnoCode?: string }) => {
      if (e.errnoCode !== 'EEXIST') throw e;
    });
    await rtnl.setLinkMtu(c.name, c.ipMtu);
    if (!c.shutdown) await rtnl.setLinkUp(c.name, true);
    // A hub forwards tunnel to tunnel: ICMP redirects there would undo Phase 3 (IOS: no ip redirects).
    writeSysctl(`net/ipv4/conf/${c.name}/send_redirects`, '0', log);
    // The kernel sends a redirect when conf/all OR conf/<dev> allows it: the per-device 0 alone does not stop them.
    writeSysctl('net/ipv4/conf/all/send_redirects', '0', log);
    const sockets = this.o.protected ? 'raw GRE and ESP sockets, UDP 4500 for NAT-T' : 'raw GRE socket';
    log.info({ tunnel: c.name, nbma: this.o.nbma, dataplane: 'userspace', key: c.tunnelKey }, `${c.name} up on the userspace dataplane (TUN + ${sockets})`);
  }

  async stop(): Promise<void> {
    this.dp?.close();
    this.dp = undefined;
  }

  private onEvent(ev: DataplaneEvent): void {
    const sink = this.sink!;
    switch (ev.kind) {
      case 'gre':
        if (ev.protocolType === GreProto.NHRP) sink.nhrp(ev.payload, ev.srcNbma);
        else if (ev.protocolType === GreProto.IPV4 && ev.payload.length >= 20) {
          const p = ev.payload;
          sink.inner(`${p[12]}.${p[13]}.${p[14]}.${p[15]}`, p);
        } else sink.ignored(`gre 0x${ev.protocolType.toString(16)}`);
        break;
      case 'miss':
        sink.miss(ev.nextHop);
        break;
      case 'redirect':
        sink.redirect(ev.packet, ev.srcNbma);
        break;
      case 'multicast':
        break;
      case 'ike':
        if (sink.ike) sink.ike(ev.src, ev.srcPort, ev.payload);
        else sink.ignored('ike on udp 4500');
        break;
    }
  }

  sendNhrp(nbma: string, bytes: Uint8Array): boolean {
    return this.dp?.sendGre(nbma, GreProto.NHRP, bytes) ?? false;
  }

  sendInner(datagram: Uint8Array): number {
    return this.dp?.sendInner(datagram) ?? 0;
  }

  setPeer(overlay: string, nbma: string): void {
    this.dp?.setPeer(overlay, nbma);
  }

  deletePeer(overlay: string): void {
    this.dp?.deletePeer(overlay);
  }

  setMulticast(nbmas: readonly string[]): void {
    this.dp?.configure({ multicastNbma: nbmas });
  }

  routeChanged(prefix: string, len: number, nextHop: string | undefined, present: boolean): void {
    const dp = this.dp;
    if (!dp) return;
    if (present) dp.setRoute(prefix, len, nextHop ?? null);
    else dp.deleteRoute(prefix, len);
  }

  peers(): readonly DataplanePeer[] {
    return this.dp?.peers() ?? [];
  }

  stats(): Readonly<Record<string, number>> | undefined {
    return this.dp?.stats();
  }

  saStats(): SaStats | undefined {
    return this.dp?.saStats();
  }

  sendIke(dst: string, dstPort: number, payload: Uint8Array): boolean {
    return this.udpSend(() => this.dp?.sendIke(dst, dstPort, payload), dst, dstPort);
  }

  sendNatKeepalive(dst: string, dstPort: number): boolean {
    return this.udpSend(() => this.dp?.sendNatKeepalive(dst, dstPort), dst, dstPort);
  }

  /** A send on the UDP 4500 socket: an unreachable peer is a logged false, as a full socket is, not an exception in IKE's path. */
  private udpSend(send: () => boolean | undefined, dst: string, dstPort: number): boolean {
    try {
      return send() ?? false;
    } catch (e) {
      this.o.log.debug({ peer: dst, port: dstPort, err: (e as Error).message }, 'UDP 4500 send failed');
      return false;
    }
  }

  // EspTarget: the IKE engine's SAs into this dataplane's ESP.
  setOutboundSa(nbma: string, sa: EspSa): void {
    this.dp?.setOutboundSa(nbma, sa);
  }

  deleteOutboundSa(nbma: string): boolean {
    return this.dp?.deleteOutboundSa(nbma) ?? false;
  }

  setInboundSa(spi: number, sa: EspSaKeys): void {
    this.dp?.setInboundSa(spi, sa);
  }

  deleteInboundSa(spi: number): boolean {
    return this.dp?.deleteInboundSa(spi) ?? false;
  }

  setProtected(nbma: string, on: boolean): void {
    this.dp?.setProtected(nbma, on);
  }
}
