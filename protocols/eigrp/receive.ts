/**
 * Received packets: the checks every packet passes (checksum, structure, AS,
 * subnet, authentication), neighbour discovery and the INIT handshake from
 * Hellos and Updates (RFC 7868 section 5.3), acknowledgments, conditional
 * receive, and the route TLVs of Updates, Queries, Replies and SIA packets.
 * Anything wrong ends in drop(reason); nothing here throws for bad input.
 */
import { WireError, isIpv4 } from '../wire/index.js';
import { EigrpFlag, EigrpOpcode, EigrpRouteFlag, EIGRP_HEADER_LENGTH } from './constants.js';
import { decodeEigrp, eigrpChecksumValid, type EigrpPacket } from './wire.js';
import { findTlv, isGoodbye, routeTlvs } from './build.js';
import { verifyPacket } from './auth.js';
import { inPrefix, prefixKey } from './config.js';
import { isUnreachable, vectorFromClassic, vectorFromWide } from './metric.js';
import { neighborKey } from './topology.js';
import { addToSetMap, drop, log, running, type EngineState, type IfaceState, type Neighbor } from './state.js';
import { RTO_INITIAL_MS, handleAck, sendHello, sendUnicastReliable } from './transport.js';
import { applyPath, neighborPath, sendStartupUpdate } from './routes.js';
import type { NeighborDownReason } from './types.js';

/** Hooks the instance provides (neighbour loss runs DUAL and logs). */
export interface ReceiveHooks {
  neighborDown(n: Neighbor, reason: NeighborDownReason): void;
}

export function receivePacket(s: EngineState, ifname: string, src: string, bytes: Uint8Array, hooks: ReceiveHooks): void {
  const iface = s.ifaces.get(ifname);
  if (!iface || !running(s, iface)) return drop(s, 'unknown interface', ifname);
  if (iface.cfg.passive) return drop(s, 'passive interface', ifname);
  if (src === iface.cfg.address) return drop(s, 'own packet');
  if (bytes.length < EIGRP_HEADER_LENGTH) return drop(s, 'truncated', `${bytes.length} bytes from ${src}`);
  if (!eigrpChecksumValid(bytes)) return drop(s, 'bad checksum', `from ${src}`);
  let pkt: EigrpPacket;
  try {
    pkt = decodeEigrp(bytes);
  } catch (e) {
    if (e instanceof WireError) return drop(s, 'malformed packet', `from ${src}: ${e.reason}`);
    throw e;
  }
  const h = pkt.header;
  if (h.as !== s.cfg.as) return drop(s, 'wrong AS', `AS ${h.as} from ${src}`);
  if (h.virtualRouterId !== 0) return drop(s, 'wrong virtual router', `from ${src}`);
  if (!isIpv4(src) || !inPrefix(src, iface.cfg.address, iface.cfg.prefixLength)) return drop(s, 'not on common subnet', `${src} on ${ifname}`);
  if (iface.cfg.auth) {
    const fail = verifyPacket(bytes, pkt, iface.cfg.auth, src);
    if (fail) return drop(s, fail, `from ${src} on ${ifname}`);
  } else if (pkt.tlvs.some((t) => t.kind === 'authentication')) {
    return drop(s, 'unexpected authentication', `from ${src} on ${ifname}`);
  }
  switch (h.opcode) {
    case EigrpOpcode.HELLO:
      return onHello(s, iface, src, pkt, hooks);
    case EigrpOpcode.UPDATE:
    case EigrpOpcode.QUERY:
    case EigrpOpcode.REPLY:
    case EigrpOpcode.SIA_QUERY:
    case EigrpOpcode.SIA_REPLY:
      return onReliable(s, iface, src, pkt, hooks);
    default:
      return drop(s, 'unsupported opcode', `${h.opcode} from ${src}`);
  }
}

function lowestFreeHandle(s: EngineState): number {
  const used = new Set([...s.neighbors.values()].map((n) => n.handle));
  let h = 0;
  while (used.has(h)) h++;
  return h;
}

/** A new neighbour: pending until both INITs are acknowledged; our INIT goes at once (frame 12). */
function createNeighbor(s: EngineState, iface: IfaceState, src: string, holdTime: number): Neighbor {
  const n: Neighbor = {
    key: neighborKey(src, iface.cfg.name),
    address: src,
    ifname: iface.cfg.name,
    state: 'pending',
    handle: lowestFreeHandle(s),
    createdAt: s.now,
    upSince: undefined,
    holdTime,
    holdExpires: s.now + holdTime * 1000,
    iosVersion: [0, 0],
    tlvVersion: [1, 2],
    stubFlags: undefined,
    queue: [],
    lastRecvSeq: 0,
    ackOwed: false,
    srtt: 0,
    rto: RTO_INITIAL_MS,
    retransTotal: 0,
    initAcked: false,
    initReceived: false,
    crAccept: false,
    crSeq: undefined,
  };
  s.neighbors.set(n.key, n);
  log(s, 'debug', `new neighbor ${src} (${iface.cfg.name}), sending INIT`);
  sendUnicastReliable(s, n, EigrpOpcode.UPDATE, EigrpFlag.INIT, []);
  return n;
}

/** Both INITs acknowledged: the adjacency is up, and the full table goes to the new neighbour. */
function maybeUp(s: EngineState, n: Neighbor): void {
  if (n.state !== 'pending' || !n.initAcked || !n.initReceived) return;
  n.state = 'up';
  n.upSince = s.now;
  log(s, 'notice', `Neighbor ${n.address} (${n.ifname}) is up: new adjacency`);
  sendStartupUpdate(s, n);
}

function ack(s: EngineState, n: Neighbor, value: number): void {
  const acked = handleAck(s, n, value);
  if (acked && acked.opcode === EigrpOpcode.UPDATE && (acked.flags & EigrpFlag.INIT) !== 0) {
    n.initAcked = true;
    maybeUp(s, n);
  }
}

function kMatches(s: EngineState, p: { k1: number; k2: number; k3: number; k4: number; k5: number; k6: number }): boolean {
  const k = s.cfg.k;
  return p.k1 === k.k1 && p.k2 === k.k2 && p.k3 === k.k3 && p.k4 === k.k4 && p.k5 === k.k5 && p.k6 === k.k6;
}

function onHello(s: EngineState, iface: IfaceState, src: string, pkt: EigrpPacket, hooks: ReceiveHooks): void {
  const key = neighborKey(src, iface.cfg.name);
  let n = s.neighbors.get(key);
  const params = findTlv(pkt, 'parameters');
  if (!params && pkt.header.ack !== 0) {
    // An ACK: a Hello with no TLVs but authentication (RFC 7868 section 5.2).
    s.counters.acks.received++;
    if (!n) return drop(s, 'unknown neighbor', `ACK from ${src}`);
    n.holdExpires = Math.max(n.holdExpires, s.now + n.holdTime * 1000);
    ack(s, n, pkt.header.ack);
    return;
  }
  s.counters.hellos.received++;
  if (!params) return drop(s, 'hello without parameters', `from ${src}`);
  if (isGoodbye(pkt)) {
    // IOS's older goodbye lists the neighbours it ends; an empty list (the RFC form) ends all.
    const pt = findTlv(pkt, 'peerTermination');
    if (n && (!pt || pt.addresses.length === 0 || pt.addresses.includes(iface.cfg.address))) hooks.neighborDown(n, 'Interface Goodbye received');
    return;
  }
  if (!kMatches(s, params)) {
    if (n) hooks.neighborDown(n, 'K-value mismatch');
    return drop(s, 'K-value mismatch', `from ${src} on ${iface.cfg.name}`);
  }
  const holdTime = Math.max(1, params.holdTime);
  if (!n) {
    n = createNeighbor(s, iface, src, holdTime);
    // IOS answers a new neighbour with a Hello straight away (EIGRP_adjacency.pcap frame 10).
    sendHello(s, iface);
  }
  n.holdTime = holdTime;
  n.holdExpires = s.now + holdTime * 1000;
  const ver = findTlv(pkt, 'softwareVersion');
  if (ver) {
    n.iosVersion = [ver.iosMajor, ver.iosMinor];
    n.tlvVersion = [ver.tlvMajor, ver.tlvMinor];
  }
  const stub = findTlv(pkt, 'stub');
  n.stubFlags = stub ? stub.flags : undefined;
  const seqTlv = findTlv(pkt, 'sequence');
  const nms = findTlv(pkt, 'nextMulticastSequence');
  if (seqTlv || nms) {
    // Conditional receive (RFC 7868 section 5.2): named neighbours must not take the next CR packet; the others may.
    n.crAccept = !(seqTlv?.addresses ?? []).includes(iface.cfg.address);
    n.crSeq = nms?.sequence;
  }
  if (pkt.header.ack !== 0) ack(s, n, pkt.header.ack);
}

function opcodeCounter(s: EngineState, opcode: number) {
  switch (opcode) {
    case EigrpOpcode.UPDATE: return s.counters.updates;
    case EigrpOpcode.QUERY: return s.counters.queries;
    case EigrpOpcode.REPLY: return s.counters.replies;
    case EigrpOpcode.SIA_QUERY: return s.counters.siaQueries;
    default: return s.counters.siaReplies;
  }
}

function onReliable(s: EngineState, iface: IfaceState, src: string, pkt: EigrpPacket, hooks: ReceiveHooks): void {
  const h = pkt.header;
  opcodeCounter(s, h.opcode).received++;
  let n = s.neighbors.get(neighborKey(src, iface.cfg.name));
  if (!n) return drop(s, 'unknown neighbor', `${h.opcode} from ${src}`);
  n.holdExpires = Math.max(n.holdExpires, s.now + n.holdTime * 1000);
  const isInit = h.opcode === EigrpOpcode.UPDATE && (h.flags & EigrpFlag.INIT) !== 0;
  if (isInit && n.state === 'up') {
    // An INIT from an established neighbour: it restarted (IOS "peer restarted").
    const hold = n.holdTime;
    hooks.neighborDown(n, 'peer restarted');
    n = createNeighbor(s, iface, src, hold);
  }
  if (h.ack !== 0) ack(s, n, h.ack);
  if ((h.flags & EigrpFlag.CR) !== 0) {
    const ok = n.crAccept && (n.crSeq === undefined || n.crSeq === h.sequence);
    n.crAccept = false;
    if (!ok) return drop(s, 'conditional receive', `seq ${h.sequence} from ${src}`);
  }
  if (h.sequence !== 0) {
    if (h.sequence === n.lastRecvSeq) {
      n.ackOwed = true;
      return drop(s, 'duplicate sequence', `seq ${h.sequence} from ${src}`);
    }
    // A peer whose INIT we have already taken may follow it at once with its table,
    // before our own INIT is acknowledged (FRR eigrpd does, and does not resend it):
    // accept that; anything earlier waits for the handshake.
    if (n.state !== 'up' && !isInit && !n.initReceived) return drop(s, 'neighbor not up', `seq ${h.sequence} from ${src}`);
    n.lastRecvSeq = h.sequence;
    n.ackOwed = true;
  } else if (n.state !== 'up') {
    return drop(s, 'neighbor not up', `from ${src}`);
  }
  if (isInit) {
    n.initReceived = true;
    maybeUp(s, n);
    return;
  }
  processRoutes(s, iface, n, pkt);
}

/** Route TLVs of an Update, Query, Reply, SIA-Query or SIA-Reply. */
function processRoutes(s: EngineState, iface: IfaceState, n: Neighbor, pkt: EigrpPacket): void {
  const op = pkt.header.opcode;
  for (const t of routeTlvs(pkt)) {
    if (t.kind === 'wideRoute' && t.topologyId !== 0) continue;
    const vector = t.kind === 'classicRoute' ? vectorFromClassic(t.metric) : vectorFromWide(t.metric);
    const routeFlags = t.kind === 'classicRoute' ? t.metric.flags : t.metric.flags >>> 8;
    const originRouter = t.kind === 'wideRoute' ? t.routerId : t.external?.originatingRouter ?? n.address;
    // A third-party next hop is honoured when it is on the interface's subnet (the Next Hop field, RFC 7868 sections 6.8 and 6.9).
    const nextHop = t.nextHop !== '0.0.0.0' && t.nextHop !== iface.cfg.address && inPrefix(t.nextHop, iface.cfg.address, iface.cfg.prefixLength) ? t.nextHop : n.address;
    // Our own redistributed routes coming back are ignored (IOS: originating router ID check).
    if (t.external && t.external.originatingRouter === s.cfg.routerId) continue;
    for (const d of t.destinations) {
      const key = prefixKey(d.prefix, d.prefixLength);
      const path = isUnreachable(vector) ? undefined : neighborPath(s, n, iface, vector, nextHop, t.external, originRouter);
      switch (op) {
        case EigrpOpcode.UPDATE:
          applyPath(s, key, n.key, path, 'update');
          break;
        case EigrpOpcode.QUERY:
          applyPath(s, key, n.key, path, 'query');
          break;
        case EigrpOpcode.REPLY: {
          const e = s.topology.get(key);
          applyPath(s, key, n.key, path, e?.replyStatus.has(n.key) ? 'reply' : 'update');
          break;
        }
        case EigrpOpcode.SIA_QUERY: {
          const e = s.topology.get(key);
          if (e && e.state !== 'passive' && e.queryOrigin === n.key) {
            let m = s.siaReplyPending.get(n.key);
            if (!m) s.siaReplyPending.set(n.key, (m = new Map()));
            m.set(key, true);
          } else {
            addToSetMap(s.replyPending, n.key, key);
          }
          break;
        }
        case EigrpOpcode.SIA_REPLY: {
          const e = s.topology.get(key);
          const w = e?.replyStatus.get(n.key);
          if (!w) break;
          if (routeFlags & EigrpRouteFlag.ACTIVE) w.awaitingSiaReply = false;
          else applyPath(s, key, n.key, path, 'reply');
          break;
        }
      }
    }
  }
}
