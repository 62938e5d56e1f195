/**
 * A deterministic simulator for EIGRP engines: routers joined by in-memory
 * multi-access segments, a fake clock in ms, per-segment loss from a seeded
 * RNG, and a RIB per router built from the route-add/route-del actions.
 * Multicast reaches every other member of the segment; unicast the member with
 * the destination address. Every packet takes `latencyMs`.
 */
import { EigrpInstance } from '../../../protocols/eigrp/instance.js';
import type { EigrpConfig } from '../../../protocols/eigrp/config.js';
import { decodeEigrp, eigrpPacketName } from '../../../protocols/eigrp/wire.js';
import type { EigrpAction, RouteAddAction, SendAction } from '../../../protocols/eigrp/types.js';

/** mulberry32: small, seedable, good enough for loss decisions. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Member {
  readonly router: SimRouter;
  readonly ifname: string;
  readonly address: string;
  /** Cut: nothing in or out (the engine is not told; hold timers notice). */
  cut: boolean;
  /**
   * NBMA: where this member's multicast goes (a DMVPN spoke's NHRP multicast
   * map names only the hub); undefined = every member (a LAN, or the hub).
   */
  multicastTo: readonly string[] | undefined;
}

export interface Segment {
  readonly name: string;
  readonly members: Member[];
  loss: number;
}

export interface SentRecord {
  readonly at: number;
  readonly from: string;
  readonly action: SendAction;
}

export class SimRouter {
  readonly rib = new Map<string, RouteAddAction>();
  readonly logs: string[] = [];
  readonly sent: SentRecord[] = [];
  constructor(readonly name: string, readonly eigrp: EigrpInstance) {}

  route(prefix: string): RouteAddAction | undefined {
    return this.rib.get(prefix);
  }
}

interface InFlight {
  readonly at: number;
  readonly order: number;
  readonly to: Member;
  readonly src: string;
  readonly bytes: Uint8Array;
}

export class Sim {
  now = 0;
  latencyMs = 1;
  readonly routers = new Map<string, SimRouter>();
  readonly segments = new Map<string, Segment>();
  private readonly inflight: InFlight[] = [];
  private order = 0;
  private readonly random: () => number;
  /** Optional veto over single deliveries (true = drop). */
  dropIf: ((from: Member, to: Member, bytes: Uint8Array) => boolean) | undefined;
  /** Every delivered packet, for tests that look at the exchange. */
  readonly trace: { at: number; from: string; to: string; what: string }[] = [];

  constructor(seed = 1) {
    this.random = rng(seed);
  }

  addRouter(name: string, config: EigrpConfig): SimRouter {
    const r = new SimRouter(name, new EigrpInstance(config));
    this.routers.set(name, r);
    return r;
  }

  router(name: string): SimRouter {
    const r = this.routers.get(name);
    if (!r) throw new Error(`no router ${name}`);
    return r;
  }

  /** Put a router's interface on a segment (its address comes from the router's config). */
  attach(segment: string, routerName: string, ifname: string, multicastTo?: readonly string[]): Member {
    const r = this.router(routerName);
    const cfg = r.eigrp.config.interfaces.find((i) => i.name === ifname);
    if (!cfg) throw new Error(`${routerName} has no interface ${ifname}`);
    let seg = this.segments.get(segment);
    if (!seg) this.segments.set(segment, (seg = { name: segment, members: [], loss: 0 }));
    const m: Member = { router: r, ifname, address: cfg.address, cut: false, multicastTo };
    seg.members.push(m);
    return m;
  }

  member(routerName: string, ifname: string): Member {
    for (const seg of this.segments.values()) for (const m of seg.members) if (m.router.name === routerName && m.ifname === ifname) return m;
    throw new Error(`${routerName} ${ifname} not attached`);
  }

  private segmentOf(r: SimRouter, ifname: string): { seg: Segment; me: Member } | undefined {
    for (const seg of this.segments.values()) {
      const me = seg.members.find((m) => m.router === r && m.ifname === ifname);
      if (me) return { seg, me };
    }
    return undefined;
  }

  /** Execute a router's actions: deliver packets, keep its RIB, collect logs. */
  apply(r: SimRouter, actions: readonly EigrpAction[]): void {
    for (const a of actions) {
      switch (a.kind) {
        case 'log':
          r.logs.push(`${a.level}: ${a.msg}`);
          break;
        case 'route-add':
          r.rib.set(`${a.prefix}/${a.prefixLength}`, a);
          break;
        case 'route-del':
          r.rib.delete(`${a.prefix}/${a.prefixLength}`);
          break;
        case 'send': {
          r.sent.push({ at: this.now, from: r.name, action: a });
          const where = this.segmentOf(r, a.ifname);
          if (!where || where.me.cut) break;
          for (const to of where.seg.members) {
            if (to === where.me || to.cut) continue;
            if (a.dst !== 'multicast' && a.dst !== to.address) continue;
            if (a.dst === 'multicast' && where.me.multicastTo && !where.me.multicastTo.includes(to.address)) continue;
            if (where.seg.loss > 0 && this.random() < where.seg.loss) continue;
            if (this.dropIf?.(where.me, to, a.bytes)) continue;
            this.inflight.push({ at: this.now + this.latencyMs, order: this.order++, to, src: where.me.address, bytes: a.bytes });
          }
          break;
        }
      }
    }
  }

  start(): void {
    for (const r of this.routers.values()) this.apply(r, r.eigrp.start(this.now));
  }

  private nextEvent(): number | undefined {
    let t: number | undefined;
    for (const f of this.inflight) if (t === undefined || f.at < t) t = f.at;
    for (const r of this.routers.values()) {
      const d = r.eigrp.nextDeadline();
      if (d !== undefined && (t === undefined || d < t)) t = d;
    }
    return t;
  }

  /** Run until `until` (absolute ms), delivering packets and firing timers in time order. */
  runUntil(until: number): void {
    for (let guard = 0; guard < 5_000_000; guard++) {
      const t = this.nextEvent();
      if (t === undefined || t > until) break;
      this.now = Math.max(this.now, t);
      const due = this.inflight.filter((f) => f.at <= this.now).sort((a, b) => a.at - b.at || a.order - b.order);
      for (const f of due) this.inflight.splice(this.inflight.indexOf(f), 1);
      for (const f of due) {
        if (f.to.cut) continue;
        this.trace.push({ at: this.now, from: f.src, to: `${f.to.router.name}`, what: describe(f.bytes) });
        this.apply(f.to.router, f.to.router.eigrp.receive(f.to.ifname, f.src, f.bytes, this.now));
      }
      for (const r of this.routers.values()) {
        const d = r.eigrp.nextDeadline();
        if (d !== undefined && d <= this.now) this.apply(r, r.eigrp.tick(this.now));
      }
    }
    this.now = Math.max(this.now, until);
  }

  run(ms: number): void {
    this.runUntil(this.now + ms);
  }

  /** Run at most `ms` until `done()` holds; returns whether it did. */
  runFor(ms: number, done: () => boolean, step = 100): boolean {
    const end = this.now + ms;
    while (this.now < end) {
      if (done()) return true;
      this.runUntil(Math.min(end, this.now + step));
    }
    return done();
  }
}

function describe(bytes: Uint8Array): string {
  try {
    const p = decodeEigrp(bytes);
    return `${eigrpPacketName(p)} seq ${p.header.sequence} ack ${p.header.ack}`;
  } catch {
    return 'undecodable';
  }
}

/** A typical test interface: Ethernet-like, 10 Mbit/s, 1000 usec. */
export function eth(name: string, address: string, prefixLength = 24, extra: Partial<import('../../../protocols/eigrp/config.js').EigrpInterfaceSpec> = {}) {
  return { name, address, prefixLength, bandwidth: 10_000, delay: 100, mtu: 1500, ...extra };
}
