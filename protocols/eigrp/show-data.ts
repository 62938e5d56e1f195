/**
 * The plain objects behind `show ip eigrp neighbors|topology|interfaces|traffic`
 * (show.ts renders them in IOS layout; `--json` prints them as they are).
 */
import { INFINITE_DISTANCE } from './metric.js';
import { feasible, sortedPaths, type PrefixEntry } from './topology.js';
import { stateCode } from './dual.js';
import { neighborsOn, running, type EngineState } from './state.js';
import { paceInterval } from './transport.js';
import {
  EIGRP_DROP_REASONS,
  type EigrpDropReason,
  type InterfaceShow,
  type NeighborShow,
  type TopologyEntryShow,
  type TopologyPathShow,
  type TrafficShow,
} from './types.js';

export function showNeighbors(s: EngineState, now: number): NeighborShow[] {
  return [...s.neighbors.values()]
    .sort((a, b) => b.handle - a.handle)
    .map((n) => ({
      handle: n.handle,
      address: n.address,
      ifname: n.ifname,
      holdSeconds: Math.max(0, Math.floor((n.holdExpires - now) / 1000)),
      uptimeMs: Math.max(0, now - (n.upSince ?? n.createdAt)),
      srttMs: n.srtt,
      rtoMs: n.rto,
      queueCount: n.queue.length,
      lastSequence: n.lastRecvSeq,
      state: n.state,
      version: `${n.iosVersion[0]}.${n.iosVersion[1]}/${n.tlvVersion[0]}.${n.tlvVersion[1]}`,
      retransmissions: n.retransTotal,
      retries: n.queue[0]?.retransmits ?? 0,
      stubFlags: n.stubFlags,
      holdTime: n.holdTime,
      prefixes: [...s.topology.values()].filter((e) => e.paths.has(n.key)).length,
    }));
}

function pathShow(e: PrefixEntry, key: string): TopologyPathShow | undefined {
  const p = e.paths.get(key);
  if (!p) return undefined;
  const src = p.source;
  return {
    kind: src.kind,
    address: src.kind === 'neighbor' ? src.address : undefined,
    ifname: src.kind === 'neighbor' || src.kind === 'connected' ? src.ifname : src.kind === 'redistributed' ? src.ifname : undefined,
    distance: p.distance,
    reportedDistance: p.rd,
    successor: e.successors.includes(key),
    feasible: feasible(p, e.fd),
    external: p.external !== undefined,
    replyPending: e.replyStatus.has(key),
    protocol: src.kind === 'redistributed' ? src.protocol : undefined,
  };
}

/**
 * Topology entries, sorted by prefix. Without all-links only successors and
 * feasible successors are listed (IOS); with it every path.
 */
export function showTopology(s: EngineState, allLinks: boolean, now: number): TopologyEntryShow[] {
  const out: TopologyEntryShow[] = [];
  const entries = [...s.topology.values()].sort((a, b) => {
    const pa = a.prefix.split('.').map(Number);
    const pb = b.prefix.split('.').map(Number);
    for (let i = 0; i < 4; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
    return a.prefixLength - b.prefixLength;
  });
  for (const e of entries) {
    const keys = [...e.successors, ...sortedPaths(e).map((p) => p.key).filter((k) => !e.successors.includes(k))];
    const paths = keys
      .map((k) => pathShow(e, k))
      .filter((p): p is TopologyPathShow => p !== undefined && (allLinks || p.successor || p.feasible || p.replyPending));
    // Neighbours we wait on without a path from them show as unreachable with ", r" (IOS).
    for (const k of e.replyStatus.keys()) {
      if (e.paths.has(k)) continue;
      const [address, ifname] = k.split('%');
      paths.push({ kind: 'neighbor', address, ifname, distance: INFINITE_DISTANCE, reportedDistance: INFINITE_DISTANCE, successor: false, feasible: false, external: false, replyPending: true });
    }
    if (!allLinks && paths.length === 0 && e.state === 'passive') continue;
    out.push({
      prefix: e.prefix,
      prefixLength: e.prefixLength,
      code: stateCode(e.state),
      state: e.state,
      successors: e.successors.length,
      fd: e.fd,
      replies: e.replyStatus.size,
      activeMs: e.activeSince !== undefined ? now - e.activeSince : undefined,
      queryOrigin: e.queryOrigin === undefined ? undefined : e.queryOrigin === 'local' ? 'Local origin' : e.queryOrigin.split('%')[0],
      paths,
    });
  }
  return out;
}

export function showInterfaces(s: EngineState): InterfaceShow[] {
  const out: InterfaceShow[] = [];
  for (const i of s.ifaces.values()) {
    if (!running(s, i)) continue;
    const peers = neighborsOn(s, i.cfg.name, 'up');
    const srtts = peers.map((n) => n.srtt);
    const pending = new Set<string>();
    for (const n of peers) for (const q of n.queue) for (const t of q.tlvs) if (t.kind === 'classicRoute' || t.kind === 'wideRoute') for (const d of t.destinations) pending.add(`${d.prefix}/${d.prefixLength}`);
    out.push({
      ifname: i.cfg.name,
      peers: peers.length,
      xmitUnreliable: 0,
      xmitReliable: i.paceQueue.length + peers.reduce((a, n) => a + n.queue.length, 0),
      meanSrttMs: srtts.length ? Math.round(srtts.reduce((a, b) => a + b, 0) / srtts.length) : 0,
      pacingUnreliableMs: 0,
      // IOS shows the pacing interval of a full-size packet.
      pacingReliableMs: paceInterval(i, i.cfg.mtu),
      multicastFlowTimerMs: srtts.length ? Math.max(...srtts.map((x) => Math.min(5000, Math.max(50, 6 * x)))) : 0,
      pendingRoutes: pending.size,
      helloInterval: i.cfg.helloInterval,
      holdTime: i.cfg.holdTime,
      splitHorizon: i.cfg.splitHorizon,
      nextHopSelf: i.cfg.nextHopSelf,
      passive: i.cfg.passive,
      authMode: i.cfg.auth?.mode,
    });
  }
  return out;
}

export function showTraffic(s: EngineState): TrafficShow {
  const c = s.counters;
  const drops: Partial<Record<EigrpDropReason, number>> = {};
  let total = 0;
  for (const r of EIGRP_DROP_REASONS) {
    const v = s.drops.get(r);
    if (v) {
      drops[r] = v;
      total += v;
    }
  }
  const copy = (x: { sent: number; received: number }) => ({ sent: x.sent, received: x.received });
  return {
    as: s.cfg.as,
    hellos: copy(c.hellos),
    updates: copy(c.updates),
    queries: copy(c.queries),
    replies: copy(c.replies),
    acks: copy(c.acks),
    siaQueries: copy(c.siaQueries),
    siaReplies: copy(c.siaReplies),
    // Packets are handed in one by one: the queue never holds more than the one being processed.
    inputQueue: { current: 0, max: 2000, highest: total > 0 || c.hellos.received > 0 ? 1 : 0, drops: total },
    drops,
  };
}
