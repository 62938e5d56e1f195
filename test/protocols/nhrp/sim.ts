/**
 * A deterministic DMVPN simulation over the pure NHRP engine: nodes exchange the
 * bytes of their 'send' actions through an in-memory NBMA network, a fake clock
 * advances, and a tiny forwarding model stands in for the dataplane (routes, and
 * the hub's hairpin that triggers Phase 3 redirects).
 */
import { NhrpEngine } from '../../../protocols/nhrp/engine.js';
import { prefixContains, networkOf } from '../../../protocols/nhrp/cache.js';
import type { NhrpAction, NhrpConfig, RouteAnswer } from '../../../protocols/nhrp/engine-types.js';

export interface SimRoute {
  prefix: string;
  len: number;
  /** overlay next hop via the tunnel, or undefined for a connected LAN */
  via?: string;
  source: 'connected' | 'static' | 'nhrp';
}

export class SimNode {
  readonly engine: NhrpEngine;
  readonly routes: SimRoute[] = [];
  readonly maps = new Map<string, string>();
  multicast: readonly string[] = [];
  readonly logs: string[] = [];
  /** Every action the engine returned, with the simulated time it was carried out at. */
  readonly history: { readonly at: number; readonly action: NhrpAction }[] = [];

  constructor(readonly name: string, readonly cfg: NhrpConfig, lans: string[], now: number) {
    for (const l of lans) {
      const [p, len] = l.split('/');
      this.routes.push({ prefix: p, len: Number(len), source: 'connected' });
    }
    this.routes.push({ prefix: networkOf(cfg.protocolAddress, cfg.prefixLength), len: cfg.prefixLength, source: 'connected', via: undefined });
    this.engine = new NhrpEngine(cfg, { lookup: (a) => this.lookup(a) }, now);
  }

  /** Longest match; NHRP shortcuts win over static at equal length (IOS: next-hop override). */
  route(addr: string): SimRoute | undefined {
    let best: SimRoute | undefined;
    const rank = { nhrp: 2, connected: 3, static: 1 } as const;
    for (const r of this.routes) {
      if (!prefixContains(networkOf(r.prefix, r.len), r.len, addr)) continue;
      if (!best || r.len > best.len || (r.len === best.len && rank[r.source] > rank[best.source])) best = r;
    }
    return best;
  }

  lookup(addr: string): RouteAnswer | undefined {
    if (addr === this.cfg.protocolAddress) return { prefix: addr, prefixLength: 32, local: true };
    const r = this.route(addr);
    if (!r) return undefined;
    const tunnelNet = r.source === 'connected' && r.len === this.cfg.prefixLength && prefixContains(networkOf(this.cfg.protocolAddress, r.len), r.len, addr);
    if (tunnelNet) return { prefix: addr, prefixLength: 32, tunnelNextHop: addr, local: false };
    if (r.via) return { prefix: r.prefix, prefixLength: r.len, tunnelNextHop: r.via, local: false };
    return { prefix: r.prefix, prefixLength: r.len, local: true };
  }
}

export class Sim {
  now = 1_000_000;
  readonly nodes = new Map<string, SimNode>();
  /** NBMA -> node */
  private readonly byNbma = new Map<string, SimNode>();
  readonly wire: { from: string; to: string; bytes: Uint8Array; at: number }[] = [];
  /** Drop packets for which this returns true (loss, partitions). */
  lose: (from: string, to: string) => boolean = () => false;

  add(node: SimNode): SimNode {
    this.nodes.set(node.name, node);
    this.byNbma.set(node.cfg.nbmaAddress, node);
    return node;
  }

  start(): void {
    for (const n of this.nodes.values()) this.apply(n, n.engine.start(this.now));
    this.flush();
  }

  private queue: { from: SimNode; to: string; bytes: Uint8Array }[] = [];

  apply(n: SimNode, actions: NhrpAction[]): void {
    for (const a of actions) {
      n.history.push({ at: this.now, action: a });
      switch (a.kind) {
        case 'send': this.queue.push({ from: n, to: a.nbma, bytes: a.bytes }); break;
        case 'map': n.maps.set(a.proto, a.nbma); break;
        case 'unmap': n.maps.delete(a.proto); break;
        case 'multicast': n.multicast = n.engine.multicastTargets(); break;
        case 'route-add': n.routes.push({ prefix: a.prefix, len: a.prefixLength, via: a.nextHop, source: 'nhrp' }); break;
        case 'route-del': {
          const i = n.routes.findIndex((r) => r.source === 'nhrp' && r.prefix === a.prefix && r.len === a.prefixLength && r.via === a.nextHop);
          if (i >= 0) n.routes.splice(i, 1);
          break;
        }
        case 'log': n.logs.push(a.msg); break;
      }
    }
  }

  /** Deliver queued packets until the network is quiet (bounded). */
  flush(): void {
    for (let guard = 0; guard < 10_000 && this.queue.length > 0; guard++) {
      const { from, to, bytes } = this.queue.shift()!;
      this.wire.push({ from: from.name, to, bytes, at: this.now });
      if (this.lose(from.name, to)) continue;
      const dst = this.byNbma.get(to);
      if (!dst) continue;
      this.apply(dst, dst.engine.receive(bytes, from.cfg.nbmaAddress, this.now));
    }
  }

  /** Advance the clock to `until`, firing engine deadlines in order. */
  advance(ms: number): void {
    const until = this.now + ms;
    for (let guard = 0; guard < 100_000; guard++) {
      let next: number | undefined;
      for (const n of this.nodes.values()) {
        const d = n.engine.nextDeadline();
        if (d !== undefined && d <= until && (next === undefined || d < next)) next = d;
      }
      if (next === undefined) break;
      this.now = Math.max(this.now, next);
      for (const n of this.nodes.values()) {
        const d = n.engine.nextDeadline();
        if (d !== undefined && d <= this.now) this.apply(n, n.engine.tick(this.now));
      }
      this.flush();
    }
    this.now = until;
  }

  /**
   * Send a data packet from node `src` (source address srcAddr) to dst, following
   * routes hop by hop over the overlay; returns the overlay hops taken (like a
   * traceroute). A hub that forwards a packet back into the tunnel calls redirect().
   */
  trace(srcName: string, srcAddr: string, dst: string): string[] {
    try {
      return this.walk(srcName, srcAddr, dst);
    } finally {
      this.flush();
    }
  }

  private walk(srcName: string, srcAddr: string, dst: string): string[] {
    const hops: string[] = [];
    let at = this.nodes.get(srcName)!;
    let cameFromTunnelNbma: string | undefined;
    for (let ttl = 0; ttl < 8; ttl++) {
      const r = at.lookup(dst);
      if (!r) return [...hops, 'unreachable'];
      if (r.local) return hops;
      const nh = r.tunnelNextHop!;
      const nbma = at.maps.get(nh);
      if (!nbma) {
        this.apply(at, at.engine.resolve(nh, this.now));
        return [...hops, `miss ${nh}`];
      }
      if (cameFromTunnelNbma !== undefined) {
        // Forwarded tunnel -> tunnel: Phase 3 redirect to the sender.
        const trigger = ipHeader(srcAddr, dst);
        this.apply(at, at.engine.redirect(trigger, cameFromTunnelNbma, this.now));
      }
      at.engine.noteUsed(nh);
      const next = this.byNbma.get(nbma)!;
      cameFromTunnelNbma = at.cfg.nbmaAddress;
      hops.push(next.cfg.protocolAddress);
      at = next;
    }
    return hops;
  }
}

export function ipHeader(src: string, dst: string): Uint8Array {
  const b = new Uint8Array(28);
  b[0] = 0x45;
  b[3] = 28;
  b[8] = 64;
  b[9] = 1;
  src.split('.').forEach((x, i) => (b[12 + i] = Number(x)));
  dst.split('.').forEach((x, i) => (b[16 + i] = Number(x)));
  return b;
}

/** The reference lab (shared/seed/basic-dmvpn.md) as engine configs. */
export function labConfig(name: 'hub' | 'spoke1' | 'spoke2' | 'spoke3', over: Partial<NhrpConfig> = {}): NhrpConfig {
  const n = name === 'hub' ? 1 : 10 + Number(name.slice(-1));
  const base: NhrpConfig = {
    ifname: 'Tunnel0', protocolAddress: `10.0.0.${n}`, prefixLength: 24, nbmaAddress: `203.0.113.${n}`, networkId: 100,
    holdtime: 450, password: 'Cisco123', staticMaps: [], multicastStatic: [], multicastDynamic: false, nhs: [],
    shortcut: false, redirect: false, registrationUnique: true,
  };
  const role: Partial<NhrpConfig> = name === 'hub'
    ? { multicastDynamic: true, redirect: true }
    : { staticMaps: [{ proto: '10.0.0.1', nbma: '203.0.113.1' }], multicastStatic: ['203.0.113.1'], nhs: [{ proto: '10.0.0.1', nbma: '203.0.113.1' }], shortcut: true };
  return { ...base, ...role, ...over };
}

/** The lab; `over` changes every node's config (e.g. the holdtime). */
export function labSim(over: Partial<NhrpConfig> = {}): Sim {
  const sim = new Sim();
  const hub = sim.add(new SimNode('hub', labConfig('hub', over), ['192.168.0.0/24'], sim.now));
  for (const i of [1, 2, 3]) {
    const s = sim.add(new SimNode(`spoke${i}`, labConfig(`spoke${i}` as 'spoke1', over), [`192.168.${i}.0/24`], sim.now));
    // Static stand-ins for EIGRP: spokes reach every LAN via the hub; the hub reaches each spoke LAN via that spoke.
    s.routes.push({ prefix: '192.168.0.0', len: 16, via: '10.0.0.1', source: 'static' });
    hub.routes.push({ prefix: `192.168.${i}.0`, len: 24, via: `10.0.0.1${i}`, source: 'static' });
  }
  return sim;
}
