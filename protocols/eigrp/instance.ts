/**
 * One EIGRP instance (`router eigrp AS`): the engine the daemon wires to
 * sockets. Pure and I/O-free: every entry point takes the time (ms) and
 * returns the actions to execute (packets to send, routes to install or
 * remove, log lines); nextDeadline() says when tick() wants to run next.
 *
 *   receive(ifname, src, bytes, now)   a packet from the raw IP socket (protocol 88)
 *   tick(now)                          timers: hello, hold, retransmission, pacing, SIA
 *   interfaceUp / interfaceDown        link state of a configured interface
 *   setConnected / setRedistributed    connected networks and routes to redistribute
 *   shutdown(now)                      goodbyes, then everything withdrawn
 */
import { WireError } from '../wire/index.js';
import { normalizeConfig, type EigrpConfig, type NormalizedConfig } from './config.js';
import { prefixKey } from './config.js';
import { drop, log, neighborsOn, newState, running, type EngineState, type IfaceState, type Neighbor } from './state.js';
import { flushPacing, retransmitDeadline, retransmitDue, sendGoodbye, sendHello } from './transport.js';
import { flush, nextSiaDeadline, removeNeighborPaths, siaDue, syncLocal, syncRib } from './routes.js';
import { receivePacket, type ReceiveHooks } from './receive.js';
import { showInterfaces, showNeighbors, showTopology, showTraffic } from './show-data.js';
import type { PrefixEntry } from './topology.js';
import type {
  ConnectedPrefix,
  EigrpAction,
  EigrpDropReason,
  InterfaceShow,
  NeighborDownReason,
  NeighborShow,
  RedistributedRoute,
  RouteAddAction,
  TopologyEntryShow,
  TrafficShow,
} from './types.js';

export class EigrpInstance {
  private readonly s: EngineState;
  private readonly hooks: ReceiveHooks;

  constructor(config: EigrpConfig) {
    this.s = newState(normalizeConfig(config));
    for (const cfg of this.s.cfg.interfaces) {
      this.s.ifaces.set(cfg.name, { cfg, up: false, nextHello: undefined, paceNext: 0, paceQueue: [], lastSent: new Map() });
    }
    this.hooks = { neighborDown: (n, reason) => this.neighborDown(n, reason) };
  }

  get config(): NormalizedConfig {
    return this.s.cfg;
  }

  // ---------------------------------------------------------------- inputs

  /** Bring every configured interface up (the daemon's start, once links are known up). */
  start(now: number): EigrpAction[] {
    return this.run(now, () => {
      for (const i of this.s.ifaces.values()) this.up(i);
    });
  }

  interfaceUp(ifname: string, now: number): EigrpAction[] {
    return this.run(now, () => {
      const i = this.s.ifaces.get(ifname);
      if (i) this.up(i);
    });
  }

  /**
   * The interface went down (or EIGRP is removed from it: pass goodbye, and a
   * Goodbye Hello is sent first so neighbours drop us at once).
   */
  interfaceDown(ifname: string, now: number, opts: { readonly goodbye?: boolean } = {}): EigrpAction[] {
    return this.run(now, () => {
      const i = this.s.ifaces.get(ifname);
      if (!i || !i.up) return;
      if (opts.goodbye && running(this.s, i) && !i.cfg.passive) sendGoodbye(this.s, i);
      this.down(i, 'interface down');
    });
  }

  /** An EIGRP packet (the IP payload) from `src` on `ifname`. Never throws; bad packets are counted drops. */
  receive(ifname: string, src: string, bytes: Uint8Array, now: number): EigrpAction[] {
    return this.run(now, () => receivePacket(this.s, ifname, src, bytes, this.hooks));
  }

  tick(now: number): EigrpAction[] {
    return this.run(now, () => {
      const s = this.s;
      for (const i of s.ifaces.values()) flushPacing(s, i);
      for (const n of retransmitDue(s)) this.neighborDown(n, 'retry limit exceeded');
      for (const n of [...s.neighbors.values()]) if (s.now >= n.holdExpires) this.neighborDown(n, 'holding time expired');
      for (const n of siaDue(s)) this.neighborDown(n, 'stuck in active');
      for (const i of s.ifaces.values()) {
        if (running(s, i) && !i.cfg.passive && i.nextHello !== undefined && s.now >= i.nextHello) sendHello(s, i);
      }
    });
  }

  /** The earliest time tick() has work (ms), or undefined when idle. */
  nextDeadline(): number | undefined {
    const s = this.s;
    let d: number | undefined;
    const take = (t: number | undefined): void => {
      if (t !== undefined && (d === undefined || t < d)) d = t;
    };
    for (const i of s.ifaces.values()) {
      if (running(s, i) && !i.cfg.passive) take(i.nextHello);
      if (i.paceQueue.length > 0) take(i.paceNext);
    }
    for (const n of s.neighbors.values()) {
      take(n.holdExpires);
      take(retransmitDeadline(n));
    }
    take(nextSiaDeadline(s));
    return d;
  }

  /** Connected networks outside the EIGRP interfaces (LANs, loopbacks); replaces the previous list. */
  setConnected(prefixes: readonly ConnectedPrefix[], now: number): EigrpAction[] {
    return this.run(now, () => {
      this.s.connected = [...prefixes];
      syncLocal(this.s);
    });
  }

  /** Routes to redistribute (each needs a matching `redistribute` statement); replaces the previous list. */
  setRedistributed(routes: readonly RedistributedRoute[], now: number): EigrpAction[] {
    return this.run(now, () => {
      this.s.redistributed = [...routes];
      syncLocal(this.s);
    });
  }

  /** Goodbye on every interface, then every neighbour and route withdrawn (`no router eigrp`, daemon stop). */
  shutdown(now: number): EigrpAction[] {
    return this.run(now, () => {
      const s = this.s;
      for (const i of s.ifaces.values()) if (running(s, i) && !i.cfg.passive) sendGoodbye(s, i);
      const all = [...s.neighbors.values()];
      for (const n of all) s.neighbors.delete(n.key);
      for (const n of all) {
        this.logDown(n, 'process shutdown');
        removeNeighborPaths(s, n);
      }
      for (const i of s.ifaces.values()) {
        i.up = false;
        i.nextHello = undefined;
        i.paceQueue.length = 0;
        i.lastSent.clear();
      }
      s.connected = [];
      s.redistributed = [];
      syncLocal(s);
      for (const key of [...s.installed.keys()]) syncRib(s, key);
    });
  }

  /** `clear ip eigrp neighbors [address]`: reset adjacencies; they form again from the next Hellos. */
  clearNeighbors(now: number, address?: string): EigrpAction[] {
    return this.run(now, () => {
      for (const n of [...this.s.neighbors.values()]) if (address === undefined || n.address === address) this.neighborDown(n, 'manually cleared');
    });
  }

  // ---------------------------------------------------------------- show data

  showNeighbors(now: number): NeighborShow[] {
    return showNeighbors(this.s, now);
  }

  showTopology(opts: { readonly allLinks?: boolean } = {}, now = this.s.now): TopologyEntryShow[] {
    return showTopology(this.s, opts.allLinks ?? false, now);
  }

  showInterfaces(): InterfaceShow[] {
    return showInterfaces(this.s);
  }

  showTraffic(): TrafficShow {
    return showTraffic(this.s);
  }

  dropCount(reason: EigrpDropReason): number {
    return this.s.drops.get(reason) ?? 0;
  }

  /** The routes currently installed (what the route-add actions built up). */
  routes(): RouteAddAction[] {
    return [...this.s.installed.values()];
  }

  /** A topology entry, for tests and diagnostics. */
  entry(prefix: string, prefixLength: number): Readonly<PrefixEntry> | undefined {
    return this.s.topology.get(prefixKey(prefix, prefixLength));
  }

  neighborState(address: string): 'pending' | 'up' | undefined {
    for (const n of this.s.neighbors.values()) if (n.address === address) return n.state;
    return undefined;
  }

  // ---------------------------------------------------------------- internals

  private run(now: number, fn: () => void): EigrpAction[] {
    const s = this.s;
    s.now = now;
    try {
      fn();
    } catch (e) {
      this.internalError(e);
    }
    try {
      flush(s);
    } catch (e) {
      this.internalError(e);
    }
    return s.out.splice(0, s.out.length);
  }

  private internalError(e: unknown): void {
    if (e instanceof WireError) return drop(this.s, 'malformed packet', e.reason);
    drop(this.s, 'internal error', e instanceof Error ? e.message : String(e));
    log(this.s, 'error', `internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  }

  private up(i: IfaceState): void {
    if (i.up) return;
    i.up = true;
    i.paceNext = this.s.now;
    syncLocal(this.s);
    if (running(this.s, i) && !i.cfg.passive) sendHello(this.s, i);
  }

  private down(i: IfaceState, reason: NeighborDownReason): void {
    for (const n of neighborsOn(this.s, i.cfg.name)) this.neighborDown(n, reason);
    i.up = false;
    i.nextHello = undefined;
    i.paceQueue.length = 0;
    i.lastSent.clear();
    syncLocal(this.s);
  }

  private logDown(n: Neighbor, reason: NeighborDownReason): void {
    log(this.s, n.state === 'up' ? 'notice' : 'debug', `Neighbor ${n.address} (${n.ifname}) is down: ${reason}`);
  }

  private neighborDown(n: Neighbor, reason: NeighborDownReason): void {
    const s = this.s;
    if (s.neighbors.get(n.key) !== n) return;
    s.neighbors.delete(n.key);
    this.logDown(n, reason);
    removeNeighborPaths(s, n);
    const i = s.ifaces.get(n.ifname);
    if (i && neighborsOn(s, i.cfg.name, 'up').length === 0) i.lastSent.clear();
  }
}
