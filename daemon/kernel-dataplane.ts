/**
 * The kernel dataplane of one tunnel: the kernel moves the packets, the daemon
 * programs it over netlink.
 *
 * - The tunnel is an ip_gre device with no remote (multipoint), the tunnel
 *   source as local address, the key, TTL 255 and PMTU discovery, created (or
 *   adopted when it exists) at start and removed at stop if we created it.
 * - NHRP mappings are neighbour entries on it (overlay address -> NBMA address
 *   as the 4-byte link-layer address), PERMANENT so the kernel neither probes
 *   nor garbage-collects them; dynamic ones follow NHRP's cache (removed with it).
 * - NHRP packets go over a packet socket (ethertype 0x2001) bound to the
 *   device: the kernel adds outer IP and GRE to the sll_addr given.
 * - Multicast (EIGRP) cannot leave a device without a remote; an nftables rule
 *   copies what leaves the device to 224.0.0.0/4 into a log group and drops it,
 *   and the daemon sends one copy to each NBMA address of the multicast list
 *   (ethertype 0x0800 on the packet socket).
 * - Phase 3 on a hub: a rate-limited nftables rule logs packets forwarded from
 *   the tunnel back into it; each becomes a Traffic Indication to the sender.
 * - Tunnel protection: IKE's child SAs become xfrm states and policies
 *   (daemon/kernel-esp.ts). NAT-T: IKE on UDP 4500 goes through a UDP_ENCAP socket of ours, and
 *   a NATed peer's states carry UDP encapsulation (daemon/kernel-natt.ts).
 * - Recovery: when the device disappears under us it is re-created with its
 *   address, neighbours, taps and sockets, and the router re-installs the routes.
 */
import { internetChecksum, ipv4Bytes, ipv4ToString } from '../protocols/wire/index.js';
import { GreProto } from '../protocols/gre/wire.js';
import { PacketSocket } from '../platform/native/packet-socket.js';
import { RawIpSocket } from '../platform/native/raw-socket.js';
import type { EspCipher, EspIntegrity, EspSa, EspSaKeys, SaStats } from '../platform/native/esp.js';
import type { LinkEvent, NeighbourRequest, RtnetlinkPort, Subscription, XfrmPort, XfrmState } from '../platform/ports.js';
import { PlatformError } from '../platform/errors.js';
import { writeSysctl } from '../platform/linux/sysctl.js';
import { RouteProtocol } from '../platform/netlink-values.js';
import { networkOf } from '../protocols/nhrp/cache.js';
import { NflogListener, nbmaSourceOf, tapGroups, type NflogPacket } from '../platform/linux/nflog.js';
import { TunnelTaps, type TapsStatus } from '../platform/linux/nftables.js';
import { TxTotals } from '../platform/linux/nft-usage.js';
import type { TunnelInterfaceConfig } from './config/model.js';
import type { Logger } from './log.js';
import { KernelEsp, removeLeftoverEsp, SEQ_RATE_BOUND } from './kernel-esp.js';
import { EncapBook, KernelNatt } from './kernel-natt.js';
import type { DataplanePeer, DataplaneSink, TunnelDataplane } from './dataplane.js';

const IPPROTO_ESP = 50;

/** KernelEsp's counters under the names `show dataplane` prints (states and policies re-installed after removal under us). */
function espCounters(esp: KernelEsp): Record<string, number> {
  const c = esp.counters();
  return { espKernelFailures: c.failures, espStatesReinstalled: c.statesReinstalled, espPoliciesReinstalled: c.policiesReinstalled };
}

/** The dataplane's names of an xfrm state's algorithms (the kernel's names, read back). */
function suiteOf(s: XfrmState): { cipher: EspCipher; integrity?: EspIntegrity } {
  if (s.aead) return { cipher: s.aead.key.length - 4 === 32 ? 'aes-gcm-256' : 'aes-gcm-128' };
  const cipher: EspCipher = s.crypt?.key.length === 32 ? 'aes-cbc-256' : 'aes-cbc-128';
  const integrity = AUTH_NAMES[s.auth?.name ?? ''];
  return integrity ? { cipher, integrity } : { cipher };
}

const AUTH_NAMES: Readonly<Record<string, EspIntegrity>> = {
  'hmac(sha1)': 'hmac-sha1-96', 'hmac(sha256)': 'hmac-sha256-128', 'hmac(sha384)': 'hmac-sha384-192', 'hmac(sha512)': 'hmac-sha512-256',
};

/**
 * The redirect tap sees a forwarded datagram after ip_forward decremented its TTL; the Traffic
 * Indication carries it as it arrived (as IOS and the userspace dataplane send it), so put the
 * hop back: TTL + 1 and the header checksum recomputed.
 */
function asReceived(datagram: Uint8Array): Uint8Array {
  const ihl = (datagram[0] & 0x0f) * 4;
  if (datagram.length < 20 || ihl < 20 || datagram.length < ihl || datagram[8] === 255) return datagram;
  const d = datagram.slice();
  d[8] += 1;
  d[10] = 0;
  d[11] = 0;
  const ck = internetChecksum(d, 0, ihl);
  d[10] = ck >> 8;
  d[11] = ck & 0xff;
  return d;
}

/** Ethertype of IPv4 frames on the packet socket (multicast copies, RFC 894's value). */
const ETH_P_IP = 0x0800;
/** Cisco's default tunnel TTL. */
const TUNNEL_TTL = 255;
/**
 * IFLA_GRE_TOS 1 is ip_gre's "inherit": the outer ToS is the inner IPv4 datagram's (0 for NHRP),
 * Cisco's `tunnel tos` default and what the userspace dataplane does. (A fixed 0 cleared EIGRP's
 * 0xc0 and a host's DSCP on the wire; found by comparing both dataplanes' captures.)
 */
const TUNNEL_TOS_INHERIT = 1;
/** Groups the handed-up protocol listens on (EIGRP: 224.0.0.10, RFC 7868 section 5.3). */
const HANDUP_GROUPS: Readonly<Record<number, readonly string[]>> = { 88: ['224.0.0.10'] };
/** Re-creation attempts after the device vanished, and the pause between them. */
const RECOVERY_ATTEMPTS = 5;
const RECOVERY_PAUSE_MS = 500;
/** How often the nftables taps are checked (someone may flush the ruleset). */
const AUDIT_INTERVAL_MS = 30_000;
/**
 * How often the per-next-hop transmit counters are read (while NHRP holds dynamic mappings): the
 * tunnel polls peers() at the same pace, so a shortcut's use is seen within two periods, well
 * inside the refresh lead of any holding time above 30 s (protocols/nhrp/shortcut.ts).
 */
const USAGE_READ_MS = 5000;

export interface KernelDataplaneOptions {
  readonly cfg: TunnelInterfaceConfig;
  readonly nbma: string;
  /** `tunnel source <interface>`: the underlay device the tunnel is bound to. */
  readonly underlay?: string;
  /**
   * A spoke's NHS (overlay address): the tunnel's subnet is routed via it, so an overlay address
   * with no NHRP mapping yet is reached through the hub (as IOS sends it to the NHS) instead of
   * stalling on a neighbour entry that nothing would resolve. Undefined on a hub.
   */
  readonly nhsOverlay?: string;
  /** `ip nhrp redirect`: tap hairpinned packets for Phase 3. */
  readonly redirect: boolean;
  readonly handUpProtocol: number;
  readonly protected: boolean;
  /** A unique small number per tunnel (nflog groups are derived from it). */
  readonly index: number;
  readonly rtnl: RtnetlinkPort;
  /** Opened lazily, only with tunnel protection. */
  readonly xfrm: () => XfrmPort;
  readonly log: Logger;
  /** The overlay next hop of the route to an address (to find the sender of a hairpinned packet). */
  readonly nextHopOf: (addr: string) => string | undefined;
  /** The device was re-created: routes through it must be installed again. */
  readonly onRecovered: () => void;
  /**
   * The router's queue of kernel changes: neighbours go through it too, so a shortcut's
   * neighbour entry is in place before its route (NHRP maps, then routes), and a packet never
   * meets the route without the NBMA address.
   */
  readonly enqueue: (op: () => Promise<void>, what: string) => Promise<void>;
  /** The nft command line prefix (default ["nft"]); tests run it in a namespace. */
  readonly nft?: readonly string[];
}

type Counter = 'nhrpIn' | 'nhrpOut' | 'nhrpSendFailures' | 'innerOut' | 'innerSendFailures' | 'multicastTapped' | 'multicastCopies'
  | 'multicastCopyFailures' | 'multicastAwaitingPolicy' | 'neighbourRequests' | 'redirectsTapped' | 'redirectsUnattributed' | 'neighbourErrors' | 'deviceRecreated' | 'tapsReinstalled';

export class KernelDataplane implements TunnelDataplane {
  readonly kind = 'kernel' as const;
  private sink: DataplaneSink | undefined;
  private created = false;
  private stopped = false;
  private nhrpSocket: PacketSocket | undefined;
  private innerSocket: RawIpSocket | undefined;
  private nflog: NflogListener | undefined;
  private taps: TunnelTaps | undefined;
  private watch: Subscription | undefined;
  private neighWatch: Subscription | undefined;
  /** The device's index: the kernel's neighbour requests name it. */
  private ifindex = 0;
  private esp: KernelEsp | undefined;
  /** Tunnel protection: UDP 4500 (NAT-T) and the SAs' UDP encapsulation (daemon/kernel-natt.ts). */
  private natt: KernelNatt | undefined;
  private readonly encaps = new EncapBook();
  private recovering = false;
  private taps_: TapsStatus | undefined;
  private espStats: SaStats | undefined;
  private espStatsAt = 0;
  private auditTimer: NodeJS.Timeout | undefined;
  private neighbourQueue: Promise<void> = Promise.resolve();
  private readonly peerMap = new Map<string, { nbma: string; permanent: boolean }>();
  /** What left the device per route next hop (the nftables usage set): the shortcuts' usage signal. */
  private readonly usage = new TxTotals();
  private usageTimer: NodeJS.Timeout | undefined;
  private usageReading: Promise<void> | undefined;
  private readonly usageCounters = { usageReads: 0, usageReadFailures: 0 };
  private multicast: Uint8Array[] = [];
  private multicastNbmas: readonly string[] = [];
  private readonly counters: Record<Counter, number> = {
    nhrpIn: 0, nhrpOut: 0, nhrpSendFailures: 0, innerOut: 0, innerSendFailures: 0, multicastTapped: 0, multicastCopies: 0,
    multicastCopyFailures: 0, multicastAwaitingPolicy: 0, neighbourRequests: 0, redirectsTapped: 0, redirectsUnattributed: 0, neighbourErrors: 0, deviceRecreated: 0, tapsReinstalled: 0,
  };

  constructor(private readonly o: KernelDataplaneOptions) {}

  private get name(): string {
    return this.o.cfg.name;
  }

  /** nflog groups of this tunnel: multicast copies and hairpins. */
  get groups(): { readonly multicast: number; readonly redirect: number } {
    return tapGroups(this.o.index);
  }

  async start(sink: DataplaneSink): Promise<void> {
    this.sink = sink;
    const c = this.o.cfg;
    await this.bringUpDevice();
    this.setSysctls();
    if (this.o.protected) {
      // States and policies a previous run left behind (a crash) would shadow the new ones.
      const left = await removeLeftoverEsp(this.o.xfrm());
      if (left.states || left.policies) this.o.log.warn({ tunnel: this.name, ...left }, 'removed xfrm states and policies left by an earlier run');
      this.esp = new KernelEsp(this.o.xfrm(), this.o.nbma, this.o.log);
      this.natt = new KernelNatt({
        local: this.o.nbma, ...(this.o.underlay ? { device: this.o.underlay } : {}), log: this.o.log,
        onIke: (src, srcPort, message) => this.sink?.ike?.(src, srcPort, message),
      });
      this.natt.open();
    }
    this.nflog = new NflogListener({
      groups: [this.groups.multicast, ...(this.o.redirect ? [this.groups.redirect] : [])],
      onPacket: (p) => this.onTapped(p),
    });
    await this.nflog.start();
    await this.installTaps();
    this.openSockets();
    this.watch = this.o.rtnl.watchLinks((ev) => this.onLinkEvent(ev));
    this.neighWatch = this.o.rtnl.watchNeighbourRequests((r) => this.onNeighbourRequest(r));
    this.auditTimer = setInterval(() => void this.audit().catch((e: Error) => this.o.log.warn({ tunnel: this.name, err: e.message }, 'tap audit failed')), AUDIT_INTERVAL_MS);
    this.auditTimer.unref();
    // Only dynamic mappings expire and need a usage signal; a spoke with just its NHS reads nothing.
    this.usageTimer = setInterval(() => {
      for (const m of this.peerMap.values()) {
        if (m.permanent) continue;
        void this.readUsage();
        return;
      }
    }, USAGE_READ_MS);
    this.usageTimer.unref();
    this.o.log.info({ tunnel: c.name, nbma: this.o.nbma, dataplane: 'kernel', key: c.tunnelKey, created: this.created },
      `${c.name} up on the kernel dataplane (ip_gre multipoint device${this.created ? ', created' : ', adopted'})`);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.auditTimer) clearInterval(this.auditTimer);
    if (this.usageTimer) clearInterval(this.usageTimer);
    this.watch?.close();
    this.neighWatch?.close();
    this.nhrpSocket?.close();
    this.innerSocket?.close();
    this.natt?.close();
    await this.neighbourQueue;
    await this.esp?.close().catch((e: Error) => this.o.log.warn({ tunnel: this.name, err: e.message }, 'removing xfrm states failed'));
    await this.taps?.remove().catch((e: Error) => this.o.log.warn({ tunnel: this.name, err: e.message }, 'removing the nftables taps failed'));
    await this.nflog?.close();
    if (this.created) {
      await this.o.rtnl.deleteLink(this.name).catch((e: Error) => this.o.log.warn({ tunnel: this.name, err: e.message }, `could not remove ${this.name}`));
    } else {
      for (const overlay of this.peerMap.keys()) await this.o.rtnl.deleteNeighbour(this.name, overlay).catch(() => undefined);
    }
  }

  /** Create the ip_gre device, or adopt an existing one that matches; address, MTU, up. */
  private async bringUpDevice(): Promise<void> {
    const { rtnl, cfg: c } = this.o;
    let link = await rtnl.getLink(this.name).catch((e: PlatformError) => {
      if (e.errnoCode === 'ENODEV') return undefined;
      throw e;
    });
    if (link && link.kind !== 'gre') {
      throw new Error(`${this.name} exists and is not an ip_gre device (kind ${link.kind ?? 'unknown'}); remove it or rename the tunnel`);
    }
    if (link?.gre) {
      const g = link.gre;
      if (g.remote !== undefined) throw new Error(`${this.name} exists with remote ${g.remote}; a multipoint tunnel has none`);
      if (g.key !== c.tunnelKey) this.o.log.warn({ tunnel: this.name }, `${this.name} exists with key ${g.key ?? 'none'}, configured ${c.tunnelKey ?? 'none'}: adopting it as it is`);
      const df = g.pmtudisc ? 'set on every packet' : g.ignoreDf ? 'never set' : 'copied from the inner packet';
      const wanted = c.pathMtuDiscovery ? 'copied from the inner packet' : 'never set';
      if (df !== wanted) this.o.log.warn({ tunnel: this.name }, `${this.name} exists with the outer DF ${df}, configured ${wanted}: adopting it as it is`);
    }
    if (!link) {
      link = await rtnl.createLink({
        kind: 'gre', name: this.name, local: this.o.nbma, ttl: TUNNEL_TTL, tos: TUNNEL_TOS_INHERIT,
        // IOS: DF copied from the inner packet with `tunnel path-mtu-discovery`, never set without it.
        // ip_gre's pmtudisc would set DF on every packet; with it off, ignore_df decides between the two.
        pmtudisc: false, ignoreDf: !c.pathMtuDiscovery,
        ...(c.tunnelKey !== undefined ? { key: c.tunnelKey } : {}),
        ...(this.o.underlay ? { underlay: this.o.underlay } : {}),
      });
      this.created = true;
    }
    this.ifindex = link.index;
    // ip_gre comes up with NOARP: a next hop without an entry would then take the device's own
    // address as its link-layer address (GRE to ourselves). With ARP on and only application
    // probes (setSysctls), the kernel holds such traffic and asks the daemon (onNeighbourRequest).
    await rtnl.setLinkArp(this.name, true);
    const net = c.address!;
    const nhs = this.o.nhsOverlay;
    await rtnl.addAddress(this.name, `${net.address}/${net.prefixLength}`, { noPrefixRoute: nhs !== undefined }).catch((e: PlatformError) => {
      if (e.errnoCode !== 'EEXIST') throw e;
    });
    await rtnl.setLinkMtu(this.name, c.ipMtu);
    if (!c.shutdown) await rtnl.setLinkUp(this.name, true);
    if (nhs !== undefined) {
      await rtnl.replaceRoute({
        dst: `${networkOf(net.address, net.prefixLength)}/${net.prefixLength}`, gateway: nhs, dev: this.name, onlink: true, protocol: RouteProtocol.NHRP,
      });
    }
  }

  /**
   * ip_forward (the router sets it), ip_forward_use_pmtu (forwarded packets honour the tunnel's
   * learned path MTU), and no ICMP redirects on the tunnel (they would undo Phase 3; IOS: no ip redirects).
   */
  private setSysctls(): void {
    const log = this.o.log;
    writeSysctl('net/ipv4/ip_forward_use_pmtu', '1', log);
    writeSysctl(`net/ipv4/conf/${this.name}/send_redirects`, '0', log);
    // The kernel sends a redirect when conf/all OR conf/<dev> allows it: the per-device 0 alone does not stop them.
    writeSysctl('net/ipv4/conf/all/send_redirects', '0', log);
    writeSysctl(`net/ipv4/conf/${this.name}/accept_redirects`, '0', log);
    // Joining 224.0.0.10 on the tunnel made the kernel send IGMP reports, which the multicast tap
    // then copied to every NBMA peer; IOS sends none over the tunnel (link-local groups need none).
    writeSysctl('net/ipv4/igmp_link_local_mcast_reports', '0', log);
    // Next hops are resolved by NHRP, never by ARP over GRE: no unicast or multicast ARP probes, only
    // application probes (RTM_GETNEIGH to the daemon), three a retransmit interval (1 s) apart before
    // the entry fails; a new packet for a failed entry starts another round.
    for (const [name, value] of [['ucast_solicit', '0'], ['mcast_solicit', '0'], ['mcast_resolicit', '0'], ['app_solicit', '3']]) {
      writeSysctl(`net/ipv4/neigh/${this.name}/${name}`, value, log);
    }
  }

  private async installTaps(): Promise<void> {
    this.taps ??= new TunnelTaps(this.name, this.o.nft ? { nft: this.o.nft } : {});
    await this.taps.install({
      device: this.name,
      multicastGroup: this.groups.multicast,
      txUsage: true,
      ...(this.o.redirect ? { redirectGroup: this.groups.redirect } : {}),
      ...(this.o.cfg.tcpAdjustMss ? { mssClamp: this.o.cfg.tcpAdjustMss } : {}),
    });
    // A new table: the usage set's counters start from zero.
    this.usage.restart();
  }

  private openSockets(): void {
    this.nhrpSocket = PacketSocket.open({
      device: this.name,
      protocol: GreProto.NHRP,
      rcvbuf: 4 << 20,
      onPacket: (payload, from) => {
        if (from.length !== 4) return;
        this.counters.nhrpIn++;
        this.sink?.nhrp(payload, ipv4ToString(from));
      },
      onError: (err) => this.o.log.warn({ tunnel: this.name, err: err.message }, 'NHRP packet socket error'),
    });
    const proto = this.o.handUpProtocol;
    if (proto) {
      this.innerSocket = RawIpSocket.open({
        protocol: proto, device: this.name, groups: HANDUP_GROUPS[proto] ?? [], ttl: 2,
        onPacket: (d, from) => this.sink?.inner(from, d),
      });
    }
  }

  private onTapped(p: NflogPacket): void {
    if (this.stopped || p.payload.length < 20) return;
    if (p.group === this.groups.multicast) {
      this.counters.multicastTapped++;
      if (!this.nhrpSocket || this.multicast.length === 0) return;
      const targets = this.multicastReady();
      this.counters.multicastAwaitingPolicy += this.multicast.length - targets.length;
      if (targets.length === 0) return;
      let sent = 0;
      try {
        sent = this.nhrpSocket.sendMany(targets, p.payload, ETH_P_IP);
      } catch (e) {
        this.o.log.debug({ tunnel: this.name, err: (e as Error).message }, 'multicast copies failed');
      }
      this.counters.multicastCopies += sent;
      this.counters.multicastCopyFailures += targets.length - sent;
    } else if (p.group === this.groups.redirect) {
      this.counters.redirectsTapped++;
      // The sender's NBMA address: the outer source, when the kernel reports the GRE "hardware"
      // address; otherwise the NBMA of the overlay next hop towards the packet's source.
      let nbma = nbmaSourceOf(p);
      if (!nbma) {
        const nh = this.o.nextHopOf(ipv4ToString(p.payload, 12));
        nbma = nh === undefined ? undefined : this.peerMap.get(nh)?.nbma;
      }
      if (!nbma) {
        this.counters.redirectsUnattributed++;
        return;
      }
      this.sink?.redirect(asReceived(p.payload), nbma);
    }
  }

  /**
   * The kernel has traffic for a next hop on the tunnel with no neighbour entry (a route via a spoke
   * NHRP has not mapped: Phase 2) and holds it on an INCOMPLETE entry while it asks us. NHRP
   * resolves the address (its reply becomes the entry, and the kernel sends what it held); a mapping
   * we already have is programmed again (someone flushed the neighbours).
   */
  private onNeighbourRequest(r: NeighbourRequest): void {
    if (this.stopped || this.recovering || r.index !== this.ifindex) return;
    this.counters.neighbourRequests++;
    const m = this.peerMap.get(r.address);
    if (m) this.programNeighbour(r.address, m.nbma, m.permanent);
    else this.sink?.miss(r.address);
  }

  private onLinkEvent(ev: LinkEvent): void {
    if (this.stopped || this.recovering) return;
    if (ev.type === 'delete' && ev.link.name === this.name) void this.recover();
  }

  /** The device was removed under us: re-create it and everything that hangs off it. */
  private async recover(): Promise<void> {
    this.recovering = true;
    const log = this.o.log;
    log.warn({ tunnel: this.name }, `${this.name} was removed; re-creating it`);
    this.nhrpSocket?.close();
    this.innerSocket?.close();
    this.nhrpSocket = undefined;
    this.innerSocket = undefined;
    try {
      for (let attempt = 1; attempt <= RECOVERY_ATTEMPTS && !this.stopped; attempt++) {
        try {
          this.created = false;
          await this.bringUpDevice();
          this.setSysctls();
          await this.installTaps();
          this.openSockets();
          for (const [overlay, m] of this.peerMap) {
            this.programNeighbour(overlay, m.nbma, m.permanent);
            this.hostRoute(overlay, true);
          }
          this.counters.deviceRecreated++;
          log.warn({ tunnel: this.name, attempt }, `${this.name} re-created`);
          this.o.onRecovered();
          return;
        } catch (e) {
          log.error({ tunnel: this.name, attempt, err: (e as Error).message }, `re-creating ${this.name} failed`);
          await new Promise((r) => setTimeout(r, RECOVERY_PAUSE_MS));
        }
      }
    } finally {
      this.recovering = false;
    }
  }

  /** Still there? (The daemon's periodic check: re-install the taps if someone flushed the ruleset.) */
  async audit(): Promise<void> {
    if (this.stopped || this.recovering || !this.taps) return;
    if (!(await this.taps.present())) {
      this.o.log.warn({ tunnel: this.name }, `the nftables taps of ${this.name} vanished; re-installing them`);
      await this.installTaps();
      this.counters.tapsReinstalled++;
    }
  }

  sendNhrp(nbma: string, bytes: Uint8Array): boolean {
    // A protected peer's packet waits for its outbound policy: sent before it, it leaves in the clear.
    const ready = this.esp?.outboundPolicyReady(nbma);
    if (ready) {
      void ready.then((ok) => ok && !this.stopped && this.sendNhrp(nbma, bytes));
      return true;
    }
    let ok = false;
    try {
      ok = this.nhrpSocket?.send(ipv4Bytes(nbma), bytes) ?? false;
    } catch (e) {
      this.o.log.debug({ tunnel: this.name, nbma, err: (e as Error).message }, 'NHRP send failed');
    }
    if (ok) this.counters.nhrpOut++;
    else this.counters.nhrpSendFailures++;
    return ok;
  }

  /** Through the kernel: unicast follows the routes and neighbours, multicast comes back through the tap. */
  sendInner(datagram: Uint8Array): number {
    const s = this.innerSocket;
    if (!s || datagram.length < 20) return 0;
    const ihl = (datagram[0] & 0x0f) * 4;
    const dst = ipv4ToString(datagram, 16);
    const multicast = (datagram[16] & 0xf0) === 0xe0;
    let ok = false;
    try {
      ok = s.send(dst, datagram.subarray(ihl));
    } catch (e) {
      // The multicast tap logs the datagram to us and drops it, so the kernel answers EPERM:
      // for multicast that is the expected way out (the copies leave from onTapped).
      if (multicast && (e as { code?: string }).code === 'EPERM') ok = true;
      else this.o.log.debug({ tunnel: this.name, dst, err: (e as Error).message }, 'inner send failed');
    }
    if (ok) this.counters.innerOut++;
    else this.counters.innerSendFailures++;
    return ok ? (multicast ? this.multicast.length : 1) : 0;
  }

  setPeer(overlay: string, nbma: string, permanent: boolean): void {
    const prev = this.peerMap.get(overlay);
    if (prev && prev.nbma === nbma && prev.permanent === permanent) return;
    this.peerMap.set(overlay, { nbma, permanent });
    this.programNeighbour(overlay, nbma, permanent);
    if (!prev) this.hostRoute(overlay, true);
  }

  /** On a spoke, a mapped peer other than the NHS is reached directly: a /32 on the device. */
  private hostRoute(overlay: string, present: boolean): void {
    if (this.o.nhsOverlay === undefined || overlay === this.o.nhsOverlay) return;
    const route = { dst: `${overlay}/32`, dev: this.name, protocol: RouteProtocol.NHRP };
    this.o.enqueue(async () => {
      try {
        if (present) await this.o.rtnl.replaceRoute(route);
        else await this.o.rtnl.deleteRoute(route);
      } catch (e) {
        const code = (e as PlatformError).errnoCode;
        if (!present && (code === 'ESRCH' || code === 'ENODEV')) return;
        throw e;
      }
    }, `${present ? 'adding' : 'removing'} the host route to ${overlay} on ${this.name}`);
  }

  private programNeighbour(overlay: string, nbma: string, permanent: boolean): void {
    this.neighbourQueue = this.o.enqueue(async () => {
      try {
        // PERMANENT for dynamic entries too: the kernel garbage-collects unused NOARP entries after
        // gc_stale_time, and a shortcut must last as long as NHRP keeps it (we remove it then).
        await this.o.rtnl.replaceNeighbour({ dev: this.name, address: overlay, lladdr: ipv4Bytes(nbma), state: 'permanent' });
      } catch (e) {
        this.counters.neighbourErrors++;
        throw e;
      }
    }, `programming neighbour ${overlay} -> ${nbma} on ${this.name}`);
  }

  deletePeer(overlay: string): void {
    if (!this.peerMap.delete(overlay)) return;
    this.hostRoute(overlay, false);
    this.neighbourQueue = this.o.enqueue(async () => {
      try {
        await this.o.rtnl.deleteNeighbour(this.name, overlay);
      } catch (e) {
        const code = (e as PlatformError).errnoCode;
        if (code === 'ENOENT' || code === 'ENODEV') return;
        this.counters.neighbourErrors++;
        throw e;
      }
    }, `removing neighbour ${overlay} from ${this.name}`);
  }

  setMulticast(nbmas: readonly string[]): void {
    this.multicast = nbmas.map((a) => ipv4Bytes(a));
    this.multicastNbmas = [...nbmas];
  }

  /**
   * The multicast list less the protected peers whose outbound policy the kernel does not hold yet:
   * a copy to one of them would leave as clear GRE (as NHRP would, see sendNhrp). Routing-protocol
   * multicast repeats (EIGRP hellos; updates go again by unicast when unacknowledged), so the copy is
   * not held, only counted (multicastAwaitingPolicy).
   */
  private multicastReady(): Uint8Array[] {
    const esp = this.esp;
    if (!esp) return this.multicast;
    const out: Uint8Array[] = [];
    this.multicastNbmas.forEach((nbma, i) => {
      if (esp.outboundPolicyReady(nbma) === undefined) out.push(this.multicast[i]);
    });
    return out;
  }

  /** Kernel routes through the device are programmed by the router like every other route. */
  routeChanged(): void {}

  peers(): readonly DataplanePeer[] {
    return [...this.peerMap].map(([overlay, m]) => {
      const tx = this.usage.get(overlay);
      return { overlay, nbma: m.nbma, txPackets: tx?.packets ?? 0, txBytes: tx?.bytes ?? 0 };
    });
  }

  /**
   * Read the transmit counters per next hop from the usage set now (the timer does it every
   * USAGE_READ_MS): peers() then reports them as txPackets/txBytes, totals that only grow,
   * which the tunnel turns into NHRP's "used" marks as it does the userspace dataplane's.
   */
  async readUsage(): Promise<void> {
    if (this.stopped || this.recovering) return;
    if (this.usageReading) return this.usageReading;
    const taps = (this.taps ??= new TunnelTaps(this.name, this.o.nft ? { nft: this.o.nft } : {}));
    this.usageReading = (async () => {
      try {
        const elements = await taps.usage();
        this.usageCounters.usageReads++;
        if (elements) this.usage.update(elements);
      } catch (e) {
        this.usageCounters.usageReadFailures++;
        this.o.log.debug({ tunnel: this.name, err: (e as Error).message }, 'reading the nftables usage set failed');
      } finally {
        this.usageReading = undefined;
      }
    })();
    return this.usageReading;
  }

  /** Neighbour programming settles (tests and `show` after a burst). */
  settled(): Promise<void> {
    return this.neighbourQueue;
  }

  /** The nftables counters (read with nft, so only when asked). */
  async refresh(): Promise<void> {
    if (this.stopped || !this.taps) return;
    await this.readUsage();
    this.taps_ = await this.taps.status().catch(() => this.taps_);
    if (this.esp) [this.espStats, this.espStatsAt] = await this.readEspStats(this.esp).then((st) => [st, Date.now()] as const, () => [this.espStats, this.espStatsAt] as const);
  }

  /** The xfrm states this tunnel installed, with the kernel's counters, as `show crypto ipsec sa` wants them. */
  private async readEspStats(esp: KernelEsp): Promise<SaStats> {
    const peers = esp.peerList();
    const reqids = new Set(peers.map((p) => p.reqid));
    const mine = (await this.o.xfrm().states()).filter((s) => s.proto === IPPROTO_ESP && reqids.has(s.reqid));
    const local = this.o.nbma;
    return {
      outbound: mine.filter((s) => s.src === local).map((s) => ({ ...suiteOf(s), spi: s.spi, esn: s.esn, packets: s.packets, bytes: s.bytes, nbma: s.dst, seq: s.oseq,
        ...(s.encap ? { encap: { srcPort: s.encap.sport, dstPort: s.encap.dport } } : {}) }))
        .sort((a, b) => a.spi - b.spi),
      inbound: mine.filter((s) => s.dst === local).map((s) => ({
        ...suiteOf(s), spi: s.spi, esn: s.esn, packets: s.packets, bytes: s.bytes, seq: s.seq, replayDrops: s.replayDrops, authFailures: s.integrityFailures,
      })).sort((a, b) => a.spi - b.spi),
      // The kernel holds packets for a peer without a state itself (xfrm acquire); it does not count them here.
      protected: peers.filter((p) => p.protected).map((p) => ({ nbma: p.nbma, queued: 0 })),
    };
  }

  stats(): Readonly<Record<string, number>> {
    const s = this.nhrpSocket?.stats();
    const t = this.taps_;
    return { ...this.counters, ...this.usageCounters, ...(t?.mssClamped ? { mssClamped: t.mssClamped.packets } : {}), ...(t?.multicast ? { multicastRuleHits: t.multicast.packets } : {}),
      ...(t?.redirect ? { redirectRuleHits: t.redirect.packets } : {}), ...(s ? { packetSocketRx: s.rxPackets, packetSocketTx: s.txPackets, packetSocketTxErrors: s.txErrors, packetSocketRxDrops: s.rxDrops } : {}), ...(this.nflog ? { nflogDrops: this.nflog.drops } : {}),
      ...(this.esp ? espCounters(this.esp) : {}), ...this.natt?.counters() };
  }

  saStats(): SaStats | undefined {
    return this.espStats;
  }

  setOutboundSa(nbma: string, sa: EspSa): void {
    if (!this.esp) return;
    const { encap, reinstall } = this.encaps.outboundSa(nbma, sa);
    // The same SPI again: the IKE runtime moves the SA to a NAT's new port, past the sequence
    // number it read in saStats(). That was read at the last `show`; the kernel may have sent
    // many since: skip as many as it could have (AES-GCM must never repeat a nonce, RFC 4106).
    if (this.esp.peerList().some((p) => p.nbma === nbma && p.outSpi === sa.spi)) {
      const since = this.espStatsAt ? Math.max(0, Date.now() - this.espStatsAt) : 0;
      const seq = (sa.seq ?? 0) + Math.ceil((since / 1000) * SEQ_RATE_BOUND);
      sa = { ...sa, seq: sa.esn ? seq : Math.min(seq, 0xffff_ffff) };
    }
    this.esp.setOutboundSa(nbma, sa, encap);
    for (const i of reinstall) this.esp.setInboundSa(i.spi, i.sa, i.peer, i.encap);
  }

  deleteOutboundSa(nbma: string): boolean {
    return this.esp?.deleteOutboundSa(nbma) ?? false;
  }

  setInboundSa(spi: number, sa: EspSaKeys, peer: string): void {
    if (this.esp) this.esp.setInboundSa(spi, sa, peer, this.encaps.inboundSa(spi, sa, peer));
  }

  /** NAT-T: IKE to dst:dstPort from UDP 4500, behind the non-ESP marker (added here). */
  sendIke(dst: string, dstPort: number, payload: Uint8Array): boolean {
    return this.natt?.sendIke(dst, dstPort, payload) ?? false;
  }

  /** NAT-T: a keepalive from UDP 4500 (RFC 3948 section 2.3). */
  sendNatKeepalive(dst: string, dstPort: number): boolean {
    return this.natt?.sendNatKeepalive(dst, dstPort) ?? false;
  }

  deleteInboundSa(spi: number): boolean {
    this.encaps.deleteInbound(spi);
    return this.esp?.deleteInboundSa(spi) ?? false;
  }

  setProtected(nbma: string, on: boolean): void {
    this.esp?.setProtected(nbma, on);
  }
}
