/**
 * One mGRE tunnel: the NHRP engine and the glue that carries its actions out
 * (packets, peer mappings, multicast list, shortcut routes) to the tunnel's
 * dataplane (kernel or userspace, daemon/dataplane.ts) and the dataplane's
 * events (NHRP packets, misses, Phase 3 hairpins) in.
 */
import { NhrpEngine } from '../protocols/nhrp/engine.js';
import type { NhrpAction, NhrpConfig as EngineConfig, RouteView } from '../protocols/nhrp/engine-types.js';
import type { EspSa, EspSaKeys, SaStats } from '../platform/native/esp.js';
import type { RtnetlinkPort } from '../platform/ports.js';
import type { TunnelInterfaceConfig } from './config/model.js';
import type { Rib } from './rib.js';
import type { Logger } from './log.js';
import type { DataplanePeer, DataplaneSink, TunnelDataplane } from './dataplane.js';

/** How often per-peer transmit counters are read to mark shortcuts as used. */
const USAGE_POLL_MS = 5000;
/**
 * Dataplane events held while the dataplane starts (its sockets receive before start() returns):
 * a hub restarting under its spokes gets a registration from each at once. Past the bound they are
 * dropped and counted (the senders retry).
 */
export const START_BACKLOG = 1024;

export interface TunnelDeps {
  readonly rtnl: RtnetlinkPort;
  readonly rib: Rib;
  readonly log: Logger;
  readonly now: () => number;
  /** Builds the tunnel's dataplane when it starts (after handUpProtocol and protectedMode are set). */
  readonly dataplane: (t: TunnelRuntime) => TunnelDataplane;
}

export class TunnelRuntime {
  readonly engine: NhrpEngine;
  readonly since: number;
  private dataplane: TunnelDataplane | undefined;
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
  /** NHRP no longer maps anything to this NBMA address (its entries expired or were cleared). */
  onUnmapped: ((nbma: string) => void) | undefined;
  /** IKE the dataplane received on its UDP 4500 socket (NAT-T), for the tunnel's IpsecRuntime. */
  onIke: ((src: string, srcPort: number, payload: Uint8Array) => void) | undefined;
  /** For onUnmapped: NHRP's mappings (overlay -> NBMA) and how many use each NBMA, kept O(1) for a hub's mass expiry. */
  private readonly mappedNbma = new Map<string, string>();
  private readonly nbmaUsers = new Map<string, number>();

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
    const dp = this.deps.dataplane(this);
    // Until start() returns there is no dataplane to carry the engine's actions out: a registration
    // handled then would be answered into the void and its mapping never installed, while the
    // engine counts it as done (a hub restarted under its spokes lost their unicast that way).
    // So what arrives meanwhile waits, and is handled in order once the tunnel is up.
    let held: (() => void)[] | undefined = [];
    let failed = false;
    const whenUp = (f: () => void): void => {
      if (failed) return;
      if (!held) f();
      else if (held.length < START_BACKLOG) held.push(f);
      else this.ignored['over the start backlog'] = (this.ignored['over the start backlog'] ?? 0) + 1;
    };
    const sink: DataplaneSink = {
      nhrp: (payload, srcNbma) => whenUp(() => this.run(this.engine.receive(payload, srcNbma, this.deps.now()))),
      inner: (src, datagram) => whenUp(() => this.onInner?.(src, datagram)),
      miss: (nextHop) => whenUp(() => this.run(this.engine.resolve(nextHop, this.deps.now()))),
      redirect: (packet, srcNbma) => whenUp(() => this.run(this.engine.redirect(packet, srcNbma, this.deps.now()))),
      ignored: (what) => void (this.ignored[what] = (this.ignored[what] ?? 0) + 1),
      ike: (src, srcPort, payload) => whenUp(() => this.onIke?.(src, srcPort, payload)),
    };
    try {
      await dp.start(sink);
    } catch (e) {
      failed = true;
      held = undefined;
      throw e;
    }
    this.dataplane = dp;
    this.run(this.engine.start(this.deps.now()));
    const backlog = held;
    held = undefined;
    for (const f of backlog) f();
    this.usageTimer = setInterval(() => this.pollUsage(), USAGE_POLL_MS);
    this.usageTimer.unref();
  }

  /** Which dataplane moves this tunnel's packets (undefined before start). */
  get dataplaneKind(): TunnelDataplane['kind'] | undefined {
    return this.dataplane?.kind;
  }

  /** Clean stop: purge registrations, give the packets a moment to leave, close the dataplane. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.run(this.engine.stop(this.deps.now()));
    if (this.timer) clearTimeout(this.timer);
    if (this.usageTimer) clearInterval(this.usageTimer);
    await new Promise((r) => setTimeout(r, 100));
    await this.dataplane?.stop();
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

  setInboundSa(spi: number, sa: EspSaKeys, peer: string): void {
    this.dataplane?.setInboundSa(spi, sa, peer);
  }

  deleteInboundSa(spi: number): boolean {
    return this.dataplane?.deleteInboundSa(spi) ?? false;
  }

  setProtected(nbma: string, on: boolean): void {
    this.dataplane?.setProtected(nbma, on);
  }

  /** Counters the kernel keeps (the kernel dataplane's nftables and xfrm counters), read now. */
  async refreshStats(): Promise<void> {
    await this.dataplane?.refresh?.();
  }

  saStats(): SaStats | undefined {
    return this.dataplane?.saStats();
  }

  /** NAT-T through the dataplane's UDP 4500 socket (false: none, or it is full). */
  sendIke(dst: string, dstPort: number, payload: Uint8Array): boolean {
    return this.dataplane?.sendIke?.(dst, dstPort, payload) ?? false;
  }

  sendNatKeepalive(dst: string, dstPort: number): boolean {
    return this.dataplane?.sendNatKeepalive?.(dst, dstPort) ?? false;
  }

  stats(): Readonly<Record<string, number>> | undefined {
    return this.dataplane?.stats();
  }

  peers(): readonly DataplanePeer[] {
    return this.dataplane?.peers() ?? [];
  }

  /** Push a RIB change for a route through this tunnel to the dataplane's table. */
  routeChanged(prefix: string, len: number, nextHop: string | undefined, present: boolean): void {
    this.dataplane?.routeChanged(prefix, len, nextHop, present);
  }

  /** Carry out the engine's actions, then re-arm the one timer. */
  run(actions: readonly NhrpAction[]): void {
    const { log, rib } = this.deps;
    for (const a of actions) {
      switch (a.kind) {
        case 'send':
          if (!this.dataplane?.sendNhrp(a.nbma, a.bytes)) log.debug({ nbma: a.nbma }, 'NHRP send failed');
          break;
        case 'map':
          this.dataplane?.setPeer(a.proto, a.nbma, a.permanent);
          this.trackMapping(a.proto, a.nbma);
          this.onMapped?.(a.nbma);
          break;
        case 'unmap':
          this.dataplane?.deletePeer(a.proto);
          this.trackMapping(a.proto, undefined);
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
        this.dataplane?.setMulticast(this.engine.multicastTargets());
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

  /** Follow `proto`'s mapping (undefined: gone); the last mapping of an NBMA address going away calls onUnmapped. */
  private trackMapping(proto: string, nbma: string | undefined): void {
    const unmapped = this.onUnmapped;
    const prev = this.mappedNbma.get(proto);
    if (!unmapped || prev === nbma) return;
    if (nbma === undefined) this.mappedNbma.delete(proto);
    else {
      this.mappedNbma.set(proto, nbma);
      this.nbmaUsers.set(nbma, (this.nbmaUsers.get(nbma) ?? 0) + 1);
    }
    if (prev === undefined) return;
    const left = (this.nbmaUsers.get(prev) ?? 1) - 1;
    if (left > 0) this.nbmaUsers.set(prev, left);
    else {
      this.nbmaUsers.delete(prev);
      unmapped(prev);
    }
  }

  private pollUsage(): void {
    let marked = false;
    for (const p of this.peers()) {
      if (p.txPackets === undefined) continue;
      const prev = this.lastTx.get(p.overlay) ?? 0;
      if (p.txPackets > prev) {
        this.engine.noteUsed(p.overlay);
        marked = true;
      }
      this.lastTx.set(p.overlay, p.txPackets);
    }
    // A used shortcut's deadline moves earlier (its refresh, a third of the holding time before it
    // expires): without a new timer the refresh would wait for the expiry tick and lapse with it.
    if (marked) this.arm();
  }
}
