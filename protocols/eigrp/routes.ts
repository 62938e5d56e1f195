/**
 * The routing side of the engine: paths in and out of the topology table
 * through DUAL, local origins (connected networks, redistributed routes,
 * summaries), the RIB, and the packets that carry changes: updates, queries,
 * replies and SIA exchanges (RFC 7868 sections 3 and 5.3).
 */
import { EigrpFlag, EigrpOpcode, EigrpRouteFlag } from './constants.js';
import type { EigrpTlv } from './tlv.js';
import {
  INFINITE_DISTANCE,
  addLink,
  composite,
  interfaceVector,
  queryUnreachable,
  ribMetric,
  type MetricVector,
} from './metric.js';
import { anyNetworkMatches, parsePrefixKey, prefixCovers, prefixKey } from './config.js';
import { dualStep, type DualContext, type DualInput } from './dual.js';
import { newEntry, type Path, type PrefixEntry } from './topology.js';
import {
  addToSetMap,
  log,
  neighborsOn,
  running,
  type EngineState,
  type IfaceState,
  type Neighbor,
} from './state.js';
import {
  advertFor,
  advertSignature,
  changeToSend,
  chunkTlvs,
  externalProtocol,
  replySpec,
  routeTlv,
  specFor,
  wantsWide,
  type RouteSpec,
} from './advertise.js';
import { sendAck, sendMulticastReliable, sendUnicastReliable } from './transport.js';
import type { RouteAddAction } from './types.js';

/** Active timer: 3 minutes; a SIA-Query goes out at half of it (RFC 7868 section 4.4, "Active Duration Control" / IOS). */
export const ACTIVE_TIME_MS = 180_000;
export const SIA_QUERY_AFTER_MS = ACTIVE_TIME_MS / 2;
/** IOS sends at most three SIA-Queries for one computation. */
export const SIA_MAX_QUERIES = 3;
/** IOS `metric maximum-hops` default. */
export const MAX_HOPS = 100;
/** Administrative distance of a summary's discard route. */
export const SUMMARY_DISTANCE = 5;

// ---------------------------------------------------------------- DUAL glue

export function dualContext(s: EngineState): DualContext {
  return {
    now: s.now,
    variance: s.cfg.variance,
    maximumPaths: s.cfg.maximumPaths,
    queryTargets: () => {
      const out: string[] = [];
      for (const n of s.neighbors.values()) if (n.state === 'up' && n.stubFlags === undefined) out.push(n.key);
      return out;
    },
    sendQuery: (e) => {
      s.queryPending.add(e.key);
      for (const w of e.replyStatus.values()) w.deadline = s.now + SIA_QUERY_AFTER_MS;
    },
    sendReply: (e, nbr) => addToSetMap(s.replyPending, nbr, e.key),
    changed: (e) => s.dirty.add(e.key),
    stateChanged: (e, from, to, event) => log(s, 'debug', `${e.key}: state ${from} => ${to} (${event})`),
  };
}

function successorDistance(e: PrefixEntry): bigint {
  const p = e.successor !== undefined ? e.paths.get(e.successor) : undefined;
  return p ? p.distance : INFINITE_DISTANCE;
}

/**
 * Put a path into (or, with `path` undefined, take it out of) an entry and
 * run DUAL. A query for an unknown destination is answered "unreachable".
 */
export function applyPath(s: EngineState, key: string, pathKey: string, path: Path | undefined, kind: DualInput['kind']): void {
  let e = s.topology.get(key);
  if (!e) {
    if (kind === 'query') {
      addToSetMap(s.replyPending, pathKey, key);
      return;
    }
    if (!path) return;
    const { prefix, prefixLength } = parsePrefixKey(key);
    e = newEntry(key, prefix, prefixLength);
    s.topology.set(key, e);
  }
  const before = successorDistance(e);
  if (path) e.paths.set(pathKey, path);
  else e.paths.delete(pathKey);
  if (kind === 'reply' || kind === 'neighbor-down') e.replyStatus.delete(pathKey);
  s.dirty.add(key);
  dualStep(e, { kind, from: pathKey, successorDistanceBefore: before }, dualContext(s));
}

/** A path learned from a neighbour; undefined when the route is unreachable or too far. */
export function neighborPath(s: EngineState, n: Neighbor, iface: IfaceState, reported: MetricVector, nextHop: string, external: Path['external'], originRouter: string): Path | undefined {
  const total = addLinkVector(reported, iface);
  const distance = composite(total, s.cfg.k, s.cfg.metricStyle);
  if (distance >= INFINITE_DISTANCE || total.hopCount > MAX_HOPS) return undefined;
  return {
    key: n.key,
    source: { kind: 'neighbor', address: n.address, ifname: n.ifname },
    reported,
    rd: composite(reported, s.cfg.k, s.cfg.metricStyle),
    total,
    distance,
    nextHop,
    external,
    originRouter,
  };
}

function addLinkVector(reported: MetricVector, iface: IfaceState): MetricVector {
  return addLink(reported, interfaceVector(iface.cfg));
}

function localPath(s: EngineState, key: string, source: Path['source'], vector: MetricVector, external?: Path['external']): Path {
  return {
    key,
    source,
    reported: vector,
    rd: 0n,
    total: vector,
    distance: composite(vector, s.cfg.k, s.cfg.metricStyle),
    nextHop: '',
    external,
    originRouter: s.cfg.routerId,
  };
}

// ---------------------------------------------------------------- local origins

/** The local paths the configuration and the daemon's connected/redistributed lists call for. */
function desiredLocal(s: EngineState): Map<string, Map<string, Path>> {
  const want = new Map<string, Map<string, Path>>();
  const put = (key: string, p: Path): void => {
    let m = want.get(key);
    if (!m) want.set(key, (m = new Map()));
    const cur = m.get(p.key);
    if (!cur || p.distance < cur.distance) m.set(p.key, p);
  };
  const redist = (src: string) => s.cfg.redistribute.find((r) => r.source === src);
  const external = (source: string, tag = 0, metric = 0) => ({
    originatingRouter: s.cfg.routerId, originatingAs: s.cfg.as, adminTag: tag >>> 0, externalMetric: metric >>> 0,
    reserved: 0, externalProtocol: externalProtocol(source), flags: 0,
  });
  const connected: { prefix: string; prefixLength: number; ifname: string; vector: MetricVector }[] = [];
  for (const i of s.ifaces.values()) {
    if (!i.up) continue;
    connected.push({ prefix: i.cfg.address, prefixLength: i.cfg.prefixLength, ifname: i.cfg.name, vector: interfaceVector(i.cfg) });
  }
  for (const c of s.connected) {
    const i = s.ifaces.get(c.ifname);
    if (i) continue; // an EIGRP interface's own subnet comes from its configuration
    connected.push({
      prefix: c.prefix, prefixLength: c.prefixLength, ifname: c.ifname,
      vector: interfaceVector({ bandwidth: c.bandwidth ?? 1_000_000, delay: c.delay ?? 1, mtu: c.mtu ?? 1500 }),
    });
  }
  for (const c of connected) {
    const key = prefixKey(c.prefix, c.prefixLength);
    if (anyNetworkMatches(s.cfg.networks, c.prefix)) {
      put(key, localPath(s, 'connected', { kind: 'connected', ifname: c.ifname }, c.vector));
    } else if (redist('connected')) {
      const m = redist('connected')?.metric;
      const v = m ? interfaceVector(m) : c.vector;
      put(key, localPath(s, 'redistributed', { kind: 'redistributed', protocol: 'connected', ifname: c.ifname }, v, external('connected')));
    }
  }
  for (const r of s.redistributed) {
    const cfg = redist(r.source);
    const m = r.metric ?? cfg?.metric;
    if (!cfg || !m) continue;
    put(prefixKey(r.prefix, r.prefixLength), localPath(s, 'redistributed', { kind: 'redistributed', protocol: r.source }, interfaceVector(m), external(r.source, r.tag, r.externalMetric)));
  }
  return want;
}

/** Bring the local paths of the topology in line with the configuration (connected, redistributed). */
export function syncLocal(s: EngineState): void {
  const want = desiredLocal(s);
  for (const [key, e] of [...s.topology]) {
    for (const pk of ['connected', 'redistributed']) {
      if (e.paths.has(pk) && !want.get(key)?.has(pk)) applyPath(s, key, pk, undefined, 'local');
    }
  }
  for (const [key, paths] of want) {
    for (const [pk, p] of paths) {
      const cur = s.topology.get(key)?.paths.get(pk);
      if (!cur || cur.distance !== p.distance || cur.source.kind !== p.source.kind || !sameVector(cur.total, p.total)) {
        applyPath(s, key, pk, p, 'local');
      }
    }
  }
}

function sameVector(a: MetricVector, b: MetricVector): boolean {
  return a.delay === b.delay && a.bandwidth === b.bandwidth && a.mtu === b.mtu && a.hopCount === b.hopCount &&
    a.reliability === b.reliability && a.load === b.load;
}

/**
 * Summaries: present while at least one component is reachable; the vector
 * is the best component's (IOS: the minimum metric among the components).
 */
export function syncSummaries(s: EngineState): void {
  const seen = new Set<string>();
  for (const i of s.ifaces.values()) {
    if (!running(s, i)) continue;
    for (const sum of i.cfg.summaries) {
      const key = prefixKey(sum.prefix, sum.prefixLength);
      if (seen.has(key)) continue;
      seen.add(key);
      let best: MetricVector | undefined;
      let bestD = INFINITE_DISTANCE;
      for (const e of s.topology.values()) {
        if (e.key === key || e.reported === undefined || e.distance >= bestD) continue;
        if (!prefixCovers(sum.prefix, sum.prefixLength, e.prefix, e.prefixLength)) continue;
        if (e.successor === 'summary') continue;
        best = e.reported;
        bestD = e.distance;
      }
      const cur = s.topology.get(key)?.paths.get('summary');
      if (best) {
        const p = localPath(s, 'summary', { kind: 'summary' }, best);
        if (!cur || cur.distance !== p.distance) applyPath(s, key, 'summary', p, 'local');
      } else if (cur) {
        applyPath(s, key, 'summary', undefined, 'local');
      }
    }
  }
  for (const [key, e] of [...s.topology]) {
    if (e.paths.has('summary') && !seen.has(key)) applyPath(s, key, 'summary', undefined, 'local');
  }
}

// ---------------------------------------------------------------- RIB

function desiredRoute(s: EngineState, e: PrefixEntry): RouteAddAction | undefined {
  const used = e.successors.map((k) => e.paths.get(k)).filter((p): p is Path => p !== undefined && p.distance < INFINITE_DISTANCE);
  const first = used[0];
  if (!first) return undefined;
  const base = { kind: 'route-add' as const, prefix: e.prefix, prefixLength: e.prefixLength };
  if (first.source.kind === 'summary') {
    return { ...base, nextHops: [], distance: SUMMARY_DISTANCE, metric: ribMetric(first.distance, s.cfg.metricStyle), external: false, blackhole: true };
  }
  if (first.source.kind !== 'neighbor') return undefined;
  const nextHops = used.flatMap((p) => (p.source.kind === 'neighbor' ? [{ address: p.nextHop, ifname: p.source.ifname }] : []));
  const external = first.external !== undefined;
  return {
    ...base,
    nextHops,
    distance: external ? s.cfg.externalDistance : s.cfg.internalDistance,
    metric: ribMetric(first.distance, s.cfg.metricStyle),
    external,
  };
}

function routeSig(r: RouteAddAction): string {
  return `${r.nextHops.map((h) => `${h.address}%${h.ifname}`).join(',')}|${r.distance}|${r.metric}|${r.external}|${r.blackhole ?? ''}`;
}

export function syncRib(s: EngineState, key: string): void {
  const e = s.topology.get(key);
  const want = e ? desiredRoute(s, e) : undefined;
  const have = s.installed.get(key);
  if (want && (!have || routeSig(want) !== routeSig(have))) {
    s.installed.set(key, want);
    s.out.push(want);
  } else if (!want && have) {
    s.installed.delete(key);
    s.out.push({ ...have, kind: 'route-del' });
  }
}

// ---------------------------------------------------------------- sending changes

/** Up neighbours of a running interface. */
function upNeighbors(s: EngineState, iface: IfaceState): Neighbor[] {
  return running(s, iface) && !iface.cfg.passive ? neighborsOn(s, iface.cfg.name, 'up') : [];
}

/**
 * Send route TLVs to some neighbours on an interface: one multicast when they
 * are all the interface's up neighbours and speak one TLV version, otherwise
 * one unicast each. `tlvsFor(wide)` gives the TLVs in either encoding.
 */
function sendRoutes(s: EngineState, iface: IfaceState, targets: Neighbor[], opcode: number, tlvsFor: (wide: boolean) => EigrpTlv[], lastFlags = 0): void {
  if (targets.length === 0) return;
  const ups = upNeighbors(s, iface);
  const wideSet = new Set(targets.map((n) => wantsWide(s, n)));
  if (targets.length === ups.length && wideSet.size === 1) {
    const chunks = chunkTlvs(iface, tlvsFor([...wideSet][0]));
    chunks.forEach((c, i) => sendMulticastReliable(s, iface, targets, opcode, i === chunks.length - 1 ? lastFlags : 0, c));
    return;
  }
  for (const n of targets) {
    const chunks = chunkTlvs(iface, tlvsFor(wantsWide(s, n)));
    chunks.forEach((c, i) => sendUnicastReliable(s, n, opcode, i === chunks.length - 1 ? lastFlags : 0, c));
  }
}

function sendUpdates(s: EngineState): void {
  for (const iface of s.ifaces.values()) {
    const ups = upNeighbors(s, iface);
    if (ups.length === 0) continue;
    const specs: RouteSpec[] = [];
    for (const key of s.dirty) {
      const e = s.topology.get(key);
      const name = parsePrefixKey(key);
      if (e && e.state !== 'passive') continue;
      const a = e ? advertFor(s, e, iface) : ({ kind: 'unreach' } as const);
      const last = iface.lastSent.get(key);
      const what = changeToSend(a, last);
      if (!what) continue;
      if (e) specs.push(specFor(s, e, what === 'reach' ? a : { kind: 'unreach' }, iface));
      else specs.push({ ...name, vector: queryUnreachable(iface.cfg.mtu), nextHop: '0.0.0.0', originRouter: s.cfg.routerId });
      iface.lastSent.set(key, what === 'reach' ? advertSignature(a) : 'unreach');
    }
    if (specs.length > 0) sendRoutes(s, iface, ups, EigrpOpcode.UPDATE, (wide) => specs.map((r) => routeTlv(r, wide)));
  }
}

/** The full table to a neighbour that just came up, EOT on the last packet (EIGRP_adjacency.pcap frame 15). */
export function sendStartupUpdate(s: EngineState, n: Neighbor): void {
  const iface = s.ifaces.get(n.ifname);
  if (!iface) return;
  const tlvs: EigrpTlv[] = [];
  const wide = wantsWide(s, n);
  for (const e of s.topology.values()) {
    const a = advertFor(s, e, iface);
    if (a.kind !== 'reach') continue;
    tlvs.push(routeTlv(specFor(s, e, a, iface), wide));
    iface.lastSent.set(e.key, advertSignature(a));
  }
  const chunks = tlvs.length > 0 ? chunkTlvs(iface, tlvs) : [[]];
  chunks.forEach((c, i) => sendUnicastReliable(s, n, EigrpOpcode.UPDATE, i === chunks.length - 1 ? EigrpFlag.EOT : 0, c));
}

function sendQueries(s: EngineState): void {
  if (s.queryPending.size === 0) return;
  for (const iface of s.ifaces.values()) {
    const ups = upNeighbors(s, iface);
    const targets = ups.filter((n) => n.stubFlags === undefined);
    if (targets.length === 0) continue;
    // A query tells the neighbours our new distance; only when all of them got it does it stand for an update.
    const everyone = targets.length === ups.length;
    const specs: RouteSpec[] = [];
    for (const key of s.queryPending) {
      const e = s.topology.get(key);
      if (!e || e.state === 'passive') continue;
      const spec = replySpec(s, e, e.prefix, e.prefixLength, undefined, iface);
      specs.push(spec);
      if (everyone) iface.lastSent.set(key, e.reported ? advertSignature({ kind: 'reach', vector: spec.vector, nextHop: '0.0.0.0', external: spec.external, originRouter: spec.originRouter }) : 'unreach');
    }
    if (specs.length > 0) sendRoutes(s, iface, targets, EigrpOpcode.QUERY, (wide) => specs.map((r) => routeTlv(r, wide)));
  }
  s.queryPending.clear();
}

function sendPerNeighbor(s: EngineState, pending: Map<string, Set<string>> | Map<string, Map<string, boolean>>, opcode: number, activeFlag: boolean): void {
  for (const [nk, keys] of pending) {
    const n = s.neighbors.get(nk);
    const iface = n ? s.ifaces.get(n.ifname) : undefined;
    if (!n || !iface || n.state !== 'up') continue;
    const specs: RouteSpec[] = [];
    for (const key of keys.keys()) {
      const e = s.topology.get(key);
      const { prefix, prefixLength } = parsePrefixKey(key);
      const active = activeFlag && keys instanceof Map && keys.get(key) === true;
      specs.push(replySpec(s, e, prefix, prefixLength, n, iface, active ? EigrpRouteFlag.ACTIVE : 0));
    }
    const wide = wantsWide(s, n);
    for (const c of chunkTlvs(iface, specs.map((r) => routeTlv(r, wide)))) sendUnicastReliable(s, n, opcode, 0, c);
  }
  pending.clear();
}

/**
 * Everything an input left to do: summaries, the RIB, updates, queries,
 * replies, SIA packets, owed ACKs; then forget destinations nobody reaches.
 */
export function flush(s: EngineState): void {
  syncSummaries(s);
  for (const key of s.dirty) syncRib(s, key);
  sendUpdates(s);
  sendQueries(s);
  sendPerNeighbor(s, s.replyPending, EigrpOpcode.REPLY, false);
  sendPerNeighbor(s, s.siaQueryPending, EigrpOpcode.SIA_QUERY, false);
  sendPerNeighbor(s, s.siaReplyPending, EigrpOpcode.SIA_REPLY, true);
  for (const n of s.neighbors.values()) if (n.ackOwed) sendAck(s, n);
  for (const key of s.dirty) {
    const e = s.topology.get(key);
    if (e && e.state === 'passive' && e.paths.size === 0) {
      s.topology.delete(key);
      for (const i of s.ifaces.values()) i.lastSent.delete(key);
    }
  }
  s.dirty.clear();
}

// ---------------------------------------------------------------- neighbours and timers

/** A neighbour is gone: its paths leave every entry, and count as replies where we waited (RFC 7868 3.5). */
export function removeNeighborPaths(s: EngineState, n: Neighbor): void {
  for (const e of [...s.topology.values()]) {
    if (e.queryOrigin === n.key) e.queryOrigin = undefined;
    if (e.paths.has(n.key) || e.replyStatus.has(n.key)) applyPath(s, e.key, n.key, undefined, 'neighbor-down');
  }
  s.replyPending.delete(n.key);
  s.siaQueryPending.delete(n.key);
  s.siaReplyPending.delete(n.key);
}

/** SIA: a SIA-Query at half the active time, up to three; no SIA-Reply in time resets the neighbour. */
export function siaDue(s: EngineState): Neighbor[] {
  const stuck = new Set<Neighbor>();
  for (const e of s.topology.values()) {
    if (e.state === 'passive') continue;
    for (const [nk, w] of e.replyStatus) {
      if (s.now < w.deadline) continue;
      const n = s.neighbors.get(nk);
      if (!n) continue;
      if (w.awaitingSiaReply || w.siaQueries >= SIA_MAX_QUERIES) {
        log(s, 'warning', `Route ${e.key} stuck-in-active state in EIGRP-IPv4 ${s.cfg.as}, no reply from ${n.address} (${n.ifname})`);
        stuck.add(n);
        continue;
      }
      w.siaQueries++;
      w.awaitingSiaReply = true;
      w.since = s.now;
      w.deadline = s.now + SIA_QUERY_AFTER_MS;
      addToSetMap(s.siaQueryPending, nk, e.key);
    }
  }
  return [...stuck];
}

export function nextSiaDeadline(s: EngineState): number | undefined {
  let d: number | undefined;
  for (const e of s.topology.values()) {
    if (e.state === 'passive') continue;
    for (const w of e.replyStatus.values()) if (d === undefined || w.deadline < d) d = w.deadline;
  }
  return d;
}
