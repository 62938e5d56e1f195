/**
 * One `router eigrp AS` process: the pure EIGRP engine wired to the interfaces
 * (the tunnel through the userspace dataplane, LAN interfaces through raw IP
 * sockets), its routes into the RIB, its timer, its show commands.
 */
import { EigrpInstance } from '../protocols/eigrp/instance.js';
import type { EigrpAction } from '../protocols/eigrp/types.js';
import type { EigrpConfig, EigrpInterfaceSpec } from '../protocols/eigrp/config.js';
import { encode, ipv4ToU32 } from '../protocols/wire/index.js';
import { networkOf } from '../protocols/nhrp/cache.js';
import { emitIpv4, ipv4Length, makeIpv4Header, IpProto } from '../protocols/ip/ipv4.js';
import { RawIpSocket } from '../platform/native/raw-socket.js';
import type { ConfigModel, EigrpProcess, InterfaceConfig } from './config/model.js';
import type { Rib } from './rib.js';
import type { TunnelRuntime } from './tunnel.js';
import type { Logger } from './log.js';

/** RFC 7868 section 5.2: EIGRP's multicast group. */
export const EIGRP_MULTICAST = '224.0.0.10';
/** IOS sends EIGRP with TTL 2 and precedence 6 (the captures show both). */
const EIGRP_TTL = 2;
const EIGRP_TOS = 0xc0;

export interface EigrpDeps {
  readonly rib: Rib;
  readonly log: Logger;
  readonly now: () => number;
  readonly tunnels: readonly TunnelRuntime[];
}

/** Build the engine's configuration from the IOS model. */
export function eigrpConfig(model: ConfigModel, p: EigrpProcess): EigrpConfig {
  const interfaces: EigrpInterfaceSpec[] = [];
  for (const i of model.interfaces) {
    if (!i.address || i.shutdown) continue;
    const per = i.eigrp.find((e) => e.as === p.as);
    const passive = p.passiveInterfaces.some((x) => x.name === i.name) || (p.passiveDefault && !p.nonPassiveInterfaces.some((x) => x.name === i.name));
    const keys = per?.authKeyChain
      ? (model.keyChains.find((k) => k.name === per.authKeyChain!.name)?.keys ?? []).flatMap((k) => (k.keyString ? [{ id: k.id, secret: k.keyString.reveal() }] : []))
      : per?.authPassword ? [{ id: 0, secret: per.authPassword.reveal() }] : [];
    interfaces.push({
      name: i.name,
      address: i.address.address,
      prefixLength: i.address.prefixLength,
      bandwidth: i.bandwidth,
      delay: i.delay,
      mtu: i.kind === 'tunnel' ? i.ipMtu : 1500,
      helloInterval: per?.helloInterval,
      holdTime: per?.holdTime,
      splitHorizon: per?.splitHorizon,
      nextHopSelf: per?.nextHopSelf,
      passive,
      summaries: per?.summaries.map((s) => ({ prefix: s.address, prefixLength: s.prefixLength })),
      auth: per?.authMode && keys.length ? { mode: per.authMode, keys } : undefined,
      multipoint: i.kind === 'tunnel',
      nbma: i.kind === 'tunnel',
    });
  }
  const highest = interfaces.map((i) => i.address).sort((a, b) => ipv4ToU32(b) - ipv4ToU32(a))[0] ?? '0.0.0.0';
  const k = p.kWeights;
  return {
    as: p.as,
    routerId: p.routerId ?? highest,
    k: { k1: k[0], k2: k[1], k3: k[2], k4: k[3], k5: k[4], k6: 0 },
    interfaces,
    networks: p.networks.map((n) => ({ address: n.address, wildcard: n.wildcard })),
    stub: p.stub ? { connected: p.stub.connected, summary: p.stub.summary, static: p.stub.static, redistributed: p.stub.redistributed, receiveOnly: p.stub.receiveOnly } : undefined,
    redistribute: p.redistribute.map((r) => ({ source: r.source, metric: r.metric })),
    variance: p.variance,
    maximumPaths: p.maximumPaths,
    internalDistance: p.internalDistance,
    externalDistance: p.externalDistance,
  };
}

export class EigrpRuntime {
  readonly engine: EigrpInstance;
  private readonly sockets = new Map<string, RawIpSocket>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  readonly sendFailures: Record<string, number> = {};

  constructor(readonly process: EigrpProcess, readonly cfg: EigrpConfig, private readonly model: ConfigModel, private readonly deps: EigrpDeps) {
    this.engine = new EigrpInstance(cfg);
  }

  get as(): number {
    return this.process.as;
  }

  private iface(name: string): InterfaceConfig | undefined {
    return this.model.interfaces.find((i) => i.name === name);
  }

  /** Open the transports (before the tunnels start, so they hand EIGRP up). */
  prepare(): void {
    for (const spec of this.cfg.interfaces) {
      if (spec.passive) continue;
      const t = this.deps.tunnels.find((x) => x.name === spec.name);
      if (t) {
        t.handUpProtocol = IpProto.EIGRP;
        t.onInner = (src, d) => this.receive(spec.name, src, d);
      }
    }
  }

  start(): void {
    const now = this.deps.now();
    for (const spec of this.cfg.interfaces) {
      if (spec.passive || this.deps.tunnels.some((t) => t.name === spec.name)) continue;
      if (this.iface(spec.name)?.kind !== 'linux') continue;
      try {
        this.sockets.set(spec.name, RawIpSocket.open({
          protocol: IpProto.EIGRP, device: spec.name, groups: [EIGRP_MULTICAST], ttl: EIGRP_TTL,
          onPacket: (d, from) => this.receive(spec.name, from, d),
        }));
      } catch (e) {
        this.deps.log.warn({ interface: spec.name, err: (e as Error).message }, `EIGRP cannot listen on ${spec.name}`);
      }
    }
    this.run(this.engine.setConnected(this.connected(), now));
    this.run(this.engine.start(now));
    if (this.cfg.redistribute?.some((r) => r.source === 'static')) {
      const statics = this.model.staticRoutes.map((r) => ({ prefix: r.prefix, prefixLength: r.prefixLength, source: 'static', tag: r.tag }));
      this.run(this.engine.setRedistributed(statics, now));
    }
  }

  private connected() {
    return this.cfg.interfaces.map((i) => ({ prefix: networkOf(i.address, i.prefixLength), prefixLength: i.prefixLength, ifname: i.name }));
  }

  stop(): void {
    if (this.stopped) return;
    this.run(this.engine.shutdown(this.deps.now()));
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
  }

  private receive(ifname: string, src: string, datagram: Uint8Array): void {
    if (this.stopped) return;
    const ihl = (datagram[0] & 0x0f) * 4;
    if (datagram.length < ihl || datagram[9] !== IpProto.EIGRP) return;
    this.run(this.engine.receive(ifname, src, datagram.subarray(ihl), this.deps.now()));
  }

  private send(ifname: string, dst: string, bytes: Uint8Array): void {
    const spec = this.cfg.interfaces.find((i) => i.name === ifname);
    if (!spec) return;
    const to = dst === 'multicast' ? EIGRP_MULTICAST : dst;
    const t = this.deps.tunnels.find((x) => x.name === ifname);
    let ok = false;
    if (t) {
      const datagram = encode({ header: makeIpv4Header(spec.address, to, IpProto.EIGRP, bytes.length, { ttl: EIGRP_TTL, tos: EIGRP_TOS }), payload: bytes }, emitIpv4, ipv4Length);
      ok = t.sendInner(datagram) > 0;
    } else {
      ok = this.sockets.get(ifname)?.send(to, bytes) ?? false;
    }
    if (!ok) this.sendFailures[ifname] = (this.sendFailures[ifname] ?? 0) + 1;
  }

  run(actions: readonly EigrpAction[]): void {
    const { rib, log } = this.deps;
    for (const a of actions) {
      switch (a.kind) {
        case 'send':
          if (!this.stopped) this.send(a.ifname, a.dst, a.bytes);
          break;
        case 'route-add': {
          const source = a.external ? 'eigrp-external' : 'eigrp';
          rib.remove(a.prefix, a.prefixLength, 'eigrp');
          rib.remove(a.prefix, a.prefixLength, 'eigrp-external');
          if (a.blackhole) {
            rib.add({ prefix: a.prefix, prefixLength: a.prefixLength, source, dev: 'Null0', distance: a.distance, metric: a.metric, blackhole: true, since: this.deps.now() });
          } else {
            for (const nh of a.nextHops) rib.add({ prefix: a.prefix, prefixLength: a.prefixLength, source, nextHop: nh.address, dev: nh.ifname, distance: a.distance, metric: a.metric, since: this.deps.now() });
          }
          break;
        }
        case 'route-del':
          rib.remove(a.prefix, a.prefixLength, 'eigrp');
          rib.remove(a.prefix, a.prefixLength, 'eigrp-external');
          break;
        case 'log': {
          const level = a.level === 'notice' ? 'info' : a.level === 'warning' ? 'warn' : a.level;
          log[level]({ eigrp: this.as }, a.msg);
          break;
        }
      }
    }
    this.arm();
  }

  private arm(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const d = this.engine.nextDeadline();
    if (d === undefined) return;
    this.timer = setTimeout(() => this.run(this.engine.tick(this.deps.now())), Math.max(0, Math.min(d - this.deps.now(), 2 ** 31 - 1)));
  }
}
