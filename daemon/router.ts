/**
 * The daemon: configuration in, interfaces and tunnels up, routes programmed,
 * operator commands answered. One per process.
 */
import { LinuxRtnetlink } from '../platform/linux/rtnetlink.js';
import { RouteProtocol } from '../platform/netlink-values.js';
import type { RtnetlinkPort } from '../platform/ports.js';
import { networkOf, prefixContains } from '../protocols/nhrp/cache.js';
import { CISCO_PASSWORD_MAX } from '../protocols/nhrp/constants.js';
import type { NhrpConfig as EngineConfig } from '../protocols/nhrp/engine-types.js';
import type { ConfigModel, TunnelInterfaceConfig, LinuxInterfaceConfig } from './config/model.js';
import { Rib, ADMIN_DISTANCE, type RibRoute, type RouteSource } from './rib.js';
import { TunnelRuntime } from './tunnel.js';
import { chooseDataplane } from './dataplane-choice.js';
import { UserspaceDataplane } from './userspace-dataplane.js';
import { KernelDataplane } from './kernel-dataplane.js';
import { LinuxXfrm } from '../platform/linux/xfrm.js';
import type { XfrmPort } from '../platform/ports.js';
import type { TunnelDataplane } from './dataplane.js';
import { writeSysctl } from '../platform/linux/sysctl.js';
import { EigrpRuntime, eigrpConfig } from './eigrp.js';
import { IpsecRuntime, ikeConfigFor } from './ipsec.js';
import { CommandTable } from './control/commands.js';
import { registerShowCommands } from './commands.js';
import type { Logger } from './log.js';

const KERNEL_PROTOCOL: Readonly<Record<RouteSource, number>> = {
  connected: RouteProtocol.KERNEL,
  static: RouteProtocol.STATIC,
  nhrp: RouteProtocol.NHRP,
  eigrp: RouteProtocol.EIGRP,
  'eigrp-external': RouteProtocol.EIGRP,
};

export class Router {
  readonly rib = new Rib();
  readonly tunnels: TunnelRuntime[] = [];
  readonly eigrp: EigrpRuntime[] = [];
  readonly ipsec = new Map<string, IpsecRuntime>();
  readonly commands = new CommandTable();
  readonly started = Date.now();
  private kernelQueue: Promise<void> = Promise.resolve();
  private xfrmPort: XfrmPort | undefined;
  /** Each tunnel's dataplane kind, chosen when the tunnel is created. */
  private readonly dataplaneKinds = new Map<string, 'kernel' | 'userspace'>();
  readonly kernelErrors: { at: number; message: string }[] = [];

  constructor(
    readonly model: ConfigModel,
    readonly log: Logger,
    readonly rtnl: RtnetlinkPort = new LinuxRtnetlink(),
    private readonly openXfrm: () => XfrmPort = () => new LinuxXfrm(),
  ) {
    this.rib.listen({ changed: (p, l, best, prev) => this.onRibChange(p, l, best, prev) });
    registerShowCommands(this);
  }

  now(): number {
    return Date.now();
  }

  async start(): Promise<void> {
    writeSysctl('net/ipv4/ip_forward', '1', this.log);
    for (const i of this.model.interfaces) if (i.kind === 'linux') await this.applyLinuxInterface(i);
    for (const i of this.model.interfaces) if (i.kind === 'tunnel') await this.createTunnel(i);
    for (const p of this.model.eigrp) {
      const e = new EigrpRuntime(p, eigrpConfig(this.model, p), this.model, { rib: this.rib, log: this.log, now: () => this.now(), tunnels: this.tunnels });
      e.prepare();
      this.eigrp.push(e);
    }
    for (const t of this.tunnels) await this.startTunnel(t);
    for (const r of this.model.staticRoutes) {
      const dev = r.interface ?? (r.nextHop ? this.devFor(r.nextHop) : undefined);
      if (!dev) {
        this.log.warn({ route: `${r.prefix}/${r.prefixLength}` }, `static route ${r.prefix}/${r.prefixLength} via ${r.nextHop}: next hop is not on a connected network; not installed`);
        continue;
      }
      this.rib.add({ prefix: r.prefix, prefixLength: r.prefixLength, source: 'static', nextHop: r.nextHop, dev, distance: r.distance, metric: 0, since: this.now() });
    }
    for (const e of this.eigrp) e.start();
  }

  async stop(): Promise<void> {
    // Goodbyes first, while the tunnels can still carry them.
    for (const e of this.eigrp) e.stop();
    if (this.eigrp.length) await new Promise((r) => setTimeout(r, 50));
    for (const s of this.ipsec.values()) s.stop();
    if (this.ipsec.size) await new Promise((r) => setTimeout(r, 100));
    for (const t of this.tunnels) await t.stop();
    for (const r of this.rib.table()) {
      if (r.source === 'connected' || this.tunnels.some((t) => t.name === r.dev)) continue;
      await this.kernel(() => this.rtnl.deleteRoute({ dst: `${r.prefix}/${r.prefixLength}`, protocol: KERNEL_PROTOCOL[r.source] }), `removing route ${r.prefix}/${r.prefixLength}`);
    }
    await this.kernelQueue;
    this.xfrmPort?.close();
    this.rtnl.close();
  }

  private async applyLinuxInterface(i: LinuxInterfaceConfig): Promise<void> {
    if (i.address) {
      await this.rtnl.addAddress(i.name, `${i.address.address}/${i.address.prefixLength}`).catch((e: { errnoCode?: string; message: string }) => {
        if (e.errnoCode !== 'EEXIST') this.log.warn({ interface: i.name }, e.message);
      });
      this.rib.add({ prefix: i.address.address, prefixLength: i.address.prefixLength, source: 'connected', dev: i.name, distance: 0, metric: 0, since: this.now() });
    }
    await this.rtnl.setLinkUp(i.name, !i.shutdown).catch((e: Error) => this.log.warn({ interface: i.name }, e.message));
  }

  private async createTunnel(c: TunnelInterfaceConfig): Promise<void> {
    const nbma = await this.tunnelSourceAddress(c);
    const index = this.tunnels.length;
    const choice = chooseDataplane(c.dataplane);
    this.dataplaneKinds.set(c.name, choice.kind);
    this.log.info({ tunnel: c.name, dataplane: choice.kind }, `${c.name}: ${choice.kind} dataplane (${choice.why})`);
    const ecfg = engineConfig(c, nbma);
    this.tunnels.push(new TunnelRuntime(c, ecfg, {
      rtnl: this.rtnl, rib: this.rib, log: this.log, now: () => this.now(),
      dataplane: (t) => this.makeDataplane(choice.kind, t, index),
    }));
  }

  private makeDataplane(kind: 'kernel' | 'userspace', t: TunnelRuntime, index: number): TunnelDataplane {
    const c = t.cfg;
    const e = t.engineCfg;
    if (kind === 'userspace') {
      return new UserspaceDataplane({
        cfg: c, nbma: e.nbmaAddress, nhsNbma: e.nhs[0]?.nbma ?? null, redirect: e.redirect,
        handUpProtocol: t.handUpProtocol, protected: t.protectedMode, rtnl: this.rtnl, log: this.log,
      });
    }
    return new KernelDataplane({
      cfg: c, nbma: e.nbmaAddress, redirect: e.redirect, handUpProtocol: t.handUpProtocol, protected: t.protectedMode, index,
      ...(e.nhs[0] ? { nhsOverlay: e.nhs[0].proto } : {}),
      ...(c.tunnelSource?.kind === 'interface' ? { underlay: c.tunnelSource.name } : {}),
      rtnl: this.rtnl, log: this.log,
      xfrm: () => (this.xfrmPort ??= this.openXfrm()),
      nextHopOf: (addr) => {
        const r = this.rib.lookup(addr);
        return r?.dev === c.name ? r.nextHop : undefined;
      },
      onRecovered: () => this.reinstallRoutes(c.name),
      enqueue: (op, what) => this.kernel(op, what),
    });
  }

  /** A tunnel device was re-created: the kernel dropped its routes with it; put them back. */
  private reinstallRoutes(dev: string): void {
    for (const r of this.rib.table()) {
      if (r.dev !== dev || r.source === 'connected') continue;
      this.onRibChange(r.prefix, r.prefixLength, r, undefined);
    }
  }

  private async startTunnel(t: TunnelRuntime): Promise<void> {
    const c = t.cfg;
    if (c.protection) {
      const cfg = ikeConfigFor(this.model, c, t.engineCfg.nbmaAddress);
      // Both dataplanes own UDP 4500 (ESP-in-UDP and IKE share it, RFC 3948): the userspace one reads it
      // itself, the kernel one holds a UDP_ENCAP socket (daemon/kernel-natt.ts) and xfrm takes the ESP.
      const natTraversal = 'dataplane';
      const ipsec = new IpsecRuntime(t.engineCfg.nbmaAddress, cfg, c.protection.profile, t, this.log, () => this.now(), t.engineCfg.nhs.map((n) => n.nbma), { natTraversal });
      t.protectedMode = true;
      t.onMapped = (nbma) => ipsec.peerMapped(nbma);
      t.onUnmapped = (nbma) => ipsec.peerUnmapped(nbma);
      t.onIke = (src, srcPort, payload) => ipsec.receiveEncapsulated(src, srcPort, payload);
      this.ipsec.set(t.name, ipsec);
      await ipsec.start();
    }
    await t.start();
    this.rib.add({ prefix: c.address!.address, prefixLength: c.address!.prefixLength, source: 'connected', dev: c.name, distance: 0, metric: 0, since: this.now() });
  }

  private async tunnelSourceAddress(c: TunnelInterfaceConfig): Promise<string> {
    const src = c.tunnelSource!;
    if (src.kind === 'address') return src.address;
    const addrs = await this.rtnl.listAddresses(src.name);
    const a = addrs.find((x) => !x.secondary) ?? addrs[0];
    if (!a) throw new Error(`${c.name}: tunnel source ${src.name} has no IPv4 address`);
    return a.address;
  }

  /** The interface whose connected network holds an address. */
  private devFor(addr: string): string | undefined {
    for (const r of this.rib.table()) if (r.source === 'connected' && prefixContains(networkOf(r.prefix, r.prefixLength), r.prefixLength, addr)) return r.dev;
    return undefined;
  }

  private onRibChange(prefix: string, len: number, best: RibRoute | undefined, prev: RibRoute | undefined): void {
    // The tunnels' dataplane tables follow every route through them.
    for (const t of this.tunnels) {
      if (prev?.dev === t.name && best?.dev !== t.name) t.routeChanged(prefix, len, undefined, false);
      if (best?.dev === t.name && best.source !== 'connected') t.routeChanged(prefix, len, best.nextHop, true);
    }
    if (best?.source === 'connected' || (!best && prev?.source === 'connected')) return;
    const dst = `${prefix}/${len}`;
    if (best) {
      this.kernel(() => this.rtnl.replaceRoute({
        dst, gateway: best.blackhole ? undefined : best.nextHop, dev: best.blackhole ? undefined : best.dev,
        // Next hops on a multipoint tunnel are on-link whether or not a route says so.
        onlink: !best.blackhole && best.nextHop !== undefined && this.tunnels.some((t) => t.name === best.dev),
        type: best.blackhole ? 'blackhole' : 'unicast', protocol: KERNEL_PROTOCOL[best.source],
      }), `installing route ${dst} via ${best.nextHop ?? best.dev}`);
    } else if (prev) {
      this.kernel(() => this.rtnl.deleteRoute({ dst, protocol: KERNEL_PROTOCOL[prev.source] }), `removing route ${dst}`);
    }
  }

  /** Serialise kernel changes; a failure is logged and kept for `show`, never fatal. */
  private kernel(op: () => Promise<void>, what: string): Promise<void> {
    this.kernelQueue = this.kernelQueue.then(op).catch((e: Error) => {
      this.kernelErrors.push({ at: this.now(), message: e.message });
      if (this.kernelErrors.length > 50) this.kernelErrors.shift();
      this.log.warn({ err: e.message }, `${what} failed`);
    });
    return this.kernelQueue;
  }
}

/** The engine's view of a tunnel's configuration. */
export function engineConfig(c: TunnelInterfaceConfig, nbma: string): EngineConfig {
  const n = c.nhrp;
  const staticMaps = n.staticMaps.map((m) => ({ proto: m.protocol, nbma: m.nbma }));
  const nhs = n.nhs.map((x) => ({ proto: x.address, nbma: x.nbma ?? staticMaps.find((m) => m.proto === x.address)?.nbma ?? '' })).filter((x) => x.nbma);
  const password = n.authentication?.reveal();
  return {
    ifname: c.name,
    protocolAddress: c.address!.address,
    prefixLength: c.address!.prefixLength,
    nbmaAddress: nbma,
    networkId: n.networkId ?? 0,
    holdtime: n.holdtime,
    registrationInterval: n.registrationTimeoutConfigured ? n.registrationTimeout : undefined,
    password: password === undefined ? undefined : password.slice(0, CISCO_PASSWORD_MAX),
    greKey: c.tunnelKey,
    staticMaps,
    multicastStatic: n.multicastMaps.flatMap((m) => (m.kind === 'static' ? [m.nbma] : [])),
    multicastDynamic: n.multicastMaps.some((m) => m.kind === 'dynamic'),
    nhs,
    shortcut: n.shortcut,
    redirect: n.redirect,
    registrationUnique: !n.registrationNoUnique,
  };
}

export { ADMIN_DISTANCE };
