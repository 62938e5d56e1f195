/**
 * One mGRE tunnel on the userspace dataplane: the TUN device, the raw GRE socket
 * and the native dataplane, the NHRP engine, and the glue that carries NHRP's
 * actions out (packets, peer mappings, multicast list, shortcut routes) and the
 * dataplane's events in (NHRP packets, misses, Phase 3 hairpins).
 */
import { NhrpEngine } from '../protocols/nhrp/engine.js';
import type { NhrpAction, NhrpConfig as EngineConfig, RouteView } from '../protocols/nhrp/engine-types.js';
import { GreProto } from '../protocols/gre/wire.js';
import { networkOf } from '../protocols/nhrp/cache.js';
import { Dataplane, openTun, openGreSocket, openEspSocket, closeFd, type DataplaneEvent, type DataplaneStats } from '../platform/native/index.js';
import type { EspSa, EspSaKeys } from '../platform/native/esp.js';
import type { RtnetlinkPort } from '../platform/ports.js';
import type { TunnelInterfaceConfig } from './config/model.js';
import type { Rib } from './rib.js';
import type { Logger } from './log.js';
import { writeSysctl } from '../platform/linux/sysctl.js';

/** How often per-peer transmit counters are read to mark shortcuts as used. */
const USAGE_POLL_MS = 5000;

export interface TunnelDeps {
  readonly rtnl: RtnetlinkPort;
  readonly rib: Rib;
  readonly log: Logger;
  readonly now: () => number;
}

export class TunnelRuntime {
  readonly engine: NhrpEngine;
  readonly since: number;
  private dataplane: Dataplane | undefined;
  private timer: NodeJS.Timeout | undefined;
  private usageTimer: NodeJS.Timeout | undefined;
  private lastTx = new Map<string, number>();
  private stopped = false;
  private multicastPushPending = false;
  readonly ignored: Record<string, number> = {};
  /** A routing protocol on the tunnel (EIGRP) gets its inner packets here: (source address, IP datagram). */
  onInner: ((src: string, datagram: Uint8Array) => void) | undefined;
  /** IP protocol handed up instead of delivered to the kernel (0 = none); set before start(). */
  handUpProtocol = 0;
  /** Tunnel protection: open the ESP socket at start; NHRP's mapped peers are reported here. */
  protectedMode = false;
  onMapped: ((nbma: string) => void) | undefined;

  constructor(
    readonly cfg: TunnelInterfaceConfig,
    readonly engineCfg: EngineConfig,
    private readonly deps: TunnelDeps,
  ) {
    this.since = deps.now();
    const routes: RouteView = { lookup: (a) => this.lookup(a) };
    this.engine = new NhrpEngine(engineCfg, routes, this.since);
  }

  get name(): string {
    return this.cfg.name;
  }

  /** What the NHRP engine asks of the routing table. */
  private lookup(addr: string): ReturnType<RouteView['lookup']> {
    const e = this.engineCfg;
    if (addr === e.protocolAddress) return { prefix: addr, prefixLength: 32, local: true };
    const r = this.deps.rib.lookup(addr);
    if (!r) return undefined;
    if (r.dev === this.name) {
      if (r.source === 'connected') return { prefix: addr, prefixLength: 32, tunnelNextHop: addr, local: false };
      return { prefix: r.prefix, prefixLength: r.prefixLength, tunnelNextHop: r.nextHop, local: false };
    }
    // Connected elsewhere (a LAN of ours) is local; anything else is not ours to answer.
    return { prefix: r.prefix, prefixLength: r.prefixLength, local: r.source === 'connected' };
  }

  async start(): Promise<void> {
    const { rtnl, log } = this.deps;
    const c = this.cfg;
    const tun = openTun(this.name, { mtu: c.ipMtu });
    let greFd = -1;
    try {
      greFd = openGreSocket({ local: this.engineCfg.nbmaAddress, rcvbuf: 8 << 20 });
    } catch (e) {
      closeFd(tun.fd);
      throw e;
    }
    let espFd: number | undefined;
    if (this.protectedMode) {
      try {
        espFd = openEspSocket({ local: this.engineCfg.nbmaAddress, rcvbuf: 8 << 20 });
      } catch (e) {
        closeFd(tun.fd);
        closeFd(greFd);
        throw e;
      }
    }
    const nhsNbma = this.engineCfg.nhs[0]?.nbma ?? null;
    this.dataplane = Dataplane.open({
      tun,
      greFd,
      espFd,
      config: {
        localNbma: this.engineCfg.nbmaAddress,
        key: c.tunnelKey ?? null,
        mtu: c.ipMtu,
        mssClamp: c.tcpAdjustMss ?? 0,
        redirect: this.engineCfg.redirect,
        hairpin: 'kernel',
        fallbackNbma: nhsNbma,
        handUpProtocol: this.handUpProtocol,
      },
      onEvent: (ev) => this.onEvent(ev),
    });
    // Tunnel routes through the dataplane: the tunnel's own subnet is on-link.
    const net = c.address!;
    this.dataplane.setRoute(networkOf(net.address, net.prefixLength), net.prefixLength, null);
    await rtnl.addAddress(this.name, `${net.address}/${net.prefixLength}`).catch((e: { errnoCode?: string }) => {
      if (e.errnoCode !== 'EEXIST') throw e;
    });
    await rtnl.setLinkMtu(this.name, c.ipMtu);
    if (!c.shutdown) await rtnl.setLinkUp(this.name, true);
    // A hub forwards tunnel to tunnel: ICMP redirects there would undo Phase 3 (IOS: no ip redirects).
    writeSysctl(`net/ipv4/conf/${this.name}/send_redirects`, '0', log);
    log.info({ tunnel: this.name, nbma: this.engineCfg.nbmaAddress, dataplane: 'userspace', key: c.tunnelKey }, `${this.name} up on the userspace dataplane (TUN + raw GRE socket)`);
    this.run(this.engine.start(this.deps.now()));
    this.usageTimer = setInterval(() => this.pollUsage(), USAGE_POLL_MS);
    this.usageTimer.unref();
  }

  /** Clean stop: purge registrations, give the packets a moment to leave, close the dataplane. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.run(this.engine.stop(this.deps.now()));
    if (this.timer) clearTimeout(this.timer);
    if (this.usageTimer) clearInterval(this.usageTimer);
    await new Promise((r) => setTimeout(r, 100));
    this.dataplane?.close();
    this.dataplane = undefined;
  }

  /** Send an IP datagram into the overlay (multicast is replicated to the NHRP multicast list). */
  sendInner(datagram: Uint8Array): number {
    return this.dataplane?.sendInner(datagram) ?? 0;
  }

  // EspTarget (daemon/ipsec.ts): the IKE engine's SAs into this tunnel's ESP.
  setOutboundSa(nbma: string, sa: EspSa): void {
    this.dataplane?.setOutboundSa(nbma, sa);
  }

  deleteOutboundSa(nbma: string): boolean {
    return this.dataplane?.deleteOutboundSa(nbma) ?? false;
  }

  setInboundSa(spi: number, sa: EspSaKeys): void {
    this.dataplane?.setInboundSa(spi, sa);
  }

  deleteInboundSa(spi: number): boolean {
    return this.dataplane?.deleteInboundSa(spi) ?? false;
  }

  setProtected(nbma: string, on: boolean): void {
    this.dataplane?.setProtected(nbma, on);
  }

  saStats() {
    return this.dataplane?.saStats();
  }

  stats(): DataplaneStats | undefined {
    return this.dataplane?.stats();
  }

  peers() {
    return this.dataplane?.peers() ?? [];
  }

  /** Push a RIB change for a route through this tunnel to the dataplane's table. */
  routeChanged(prefix: string, len: number, nextHop: string | undefined, present: boolean): void {
    const dp = this.dataplane;
    if (!dp) return;
    if (present) dp.setRoute(prefix, len, nextHop ?? null);
    else dp.deleteRoute(prefix, len);
  }

  private onEvent(ev: DataplaneEvent): void {
    const now = this.deps.now();
    switch (ev.kind) {
      case 'gre':
        if (ev.protocolType === GreProto.NHRP) this.run(this.engine.receive(ev.payload, ev.srcNbma, now));
        else if (ev.protocolType === GreProto.IPV4 && this.onInner && ev.payload.length >= 20) {
          const p = ev.payload;
          this.onInner(`${p[12]}.${p[13]}.${p[14]}.${p[15]}`, p);
        }
        else this.ignored[`gre 0x${ev.protocolType.toString(16)}`] = (this.ignored[`gre 0x${ev.protocolType.toString(16)}`] ?? 0) + 1;
        break;
      case 'miss':
        this.run(this.engine.resolve(ev.nextHop, now));
        break;
      case 'redirect':
        this.run(this.engine.redirect(ev.packet, ev.srcNbma, now));
        break;
      case 'multicast':
        break;
    }
  }

  /** Carry out the engine's actions, then re-arm the one timer. */
  run(actions: readonly NhrpAction[]): void {
    const { log, rib } = this.deps;
    for (const a of actions) {
      switch (a.kind) {
        case 'send':
          if (!this.dataplane?.sendGre(a.nbma, GreProto.NHRP, a.bytes)) log.debug({ nbma: a.nbma }, 'NHRP send failed');
          break;
        case 'map':
          this.dataplane?.setPeer(a.proto, a.nbma);
          this.onMapped?.(a.nbma);
          break;
        case 'unmap':
          this.dataplane?.deletePeer(a.proto);
          break;
        case 'multicast':
          this.scheduleMulticastPush();
          break;
        case 'route-add':
          rib.add({ prefix: a.prefix, prefixLength: a.prefixLength, source: 'nhrp', nextHop: a.nextHop, dev: this.name, distance: 250, metric: 1, since: this.deps.now() });
          break;
        case 'route-del':
          rib.remove(a.prefix, a.prefixLength, 'nhrp', a.nextHop);
          break;
        case 'log':
          log[a.level]({ tunnel: this.name, ...(a.fields ?? {}) }, a.msg);
          break;
      }
    }
    this.arm();
  }

  /**
   * The multicast list changes with every new registration on a hub; pushing the
   * whole list (thousands of addresses, each parsed and checked by the facade)
   * per registration made a burst of N registrations O(N^2). Push it once per
   * turn of the event loop instead, after the whole batch of events.
   */
  private scheduleMulticastPush(): void {
    if (this.multicastPushPending) return;
    this.multicastPushPending = true;
    setImmediate(() => {
      this.multicastPushPending = false;
      try {
        this.dataplane?.configure({ multicastNbma: this.engine.multicastTargets() });
      } catch (e) {
        this.deps.log.error({ tunnel: this.name, err: (e as Error).message }, 'could not update the multicast list');
      }
    });
  }

  private arm(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const d = this.engine.nextDeadline();
    if (d === undefined) return;
    const wait = Math.max(0, Math.min(d - this.deps.now(), 2 ** 31 - 1));
    this.timer = setTimeout(() => this.run(this.engine.tick(this.deps.now())), wait);
  }

  private pollUsage(): void {
    for (const p of this.peers()) {
      const prev = this.lastTx.get(p.overlay) ?? 0;
      if (p.txPackets > prev) this.engine.noteUsed(p.overlay);
      this.lastTx.set(p.overlay, p.txPackets);
    }
  }
}
