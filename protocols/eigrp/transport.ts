/**
 * The reliable transport (RTP, RFC 7868 section 5.2): sequence and
 * acknowledgment numbers, one packet in flight per neighbour, unicast
 * retransmission with an RTO from the smoothed round-trip time, multicast
 * with conditional receive (a Hello whose Sequence TLV names the neighbours
 * that must not accept the next CR-flagged multicast, and whose Next
 * Multicast Sequence TLV gives its number), the retry limit, and pacing.
 *
 * Behaviour taken from IOS and the capture EIGRP_adjacency.pcap:
 *   - one sequence counter for unicast and multicast (frames 12, 15, 22);
 *   - every unicast reliable packet carries the last sequence received from
 *     that neighbour in its ack field (frames 15, 20), so an explicit ACK
 *     (a Hello with no TLVs) is sent only when no unicast went out;
 *   - a neighbour with packets still unacknowledged is named in the Sequence
 *     TLV and gets the multicast by unicast later (frames 18-20);
 *   - the first retransmission of an INIT update after 2 s, before any
 *     round-trip sample (frames 12-13).
 * RTO = 6 x SRTT bounded to 200 ms .. 5 s; SRTT = 0.8 x SRTT + 0.2 x sample
 * (Karn: no sample from a retransmitted packet). After 16 retransmissions of
 * one packet the neighbour is reset ("retry limit exceeded").
 * Pacing: reliable packets leave an interface no faster than the configured
 * share (default 50 %) of its bandwidth; Hellos and ACKs are not paced.
 */
import {
  EigrpFlag,
  EigrpOpcode,
  EIGRP_HEADER_LENGTH,
} from './constants.js';
import { buildHello, buildGoodbye } from './build.js';
import { encodeEigrp, type EigrpHeader } from './wire.js';
import type { EigrpTlv } from './tlv.js';
import { authPlaceholder, signPacket } from './auth.js';
import { stubFlags } from './config.js';
import {
  log,
  nextSeq,
  neighborsOn,
  type EngineState,
  type IfaceState,
  type Neighbor,
  type PacedSend,
  type QueuedPacket,
} from './state.js';

export const RTO_MIN_MS = 200;
export const RTO_MAX_MS = 5000;
/** Before any round-trip sample (EIGRP_adjacency.pcap: the INIT went again after 2 s). */
export const RTO_INITIAL_MS = 2000;
/** Retransmissions of one packet before the neighbour is reset (IOS: 16). */
export const RETRY_LIMIT = 16;
/** IPv4 header bytes added by the daemon (pacing and packet sizing). */
const IP_HEADER = 20;

export function rtoFromSrtt(srtt: number): number {
  return Math.min(RTO_MAX_MS, Math.max(RTO_MIN_MS, Math.round(6 * srtt)));
}

export function sampleRtt(n: Neighbor, rtt: number): void {
  const r = Math.max(0, rtt);
  n.srtt = n.srtt === 0 ? r : Math.round(0.8 * n.srtt + 0.2 * r);
  n.rto = rtoFromSrtt(n.srtt);
}

// ---------------------------------------------------------------- encoding

/** Encode a packet for an interface: Authentication TLV first when configured, digest and checksum filled in. */
export function encodeFor(s: EngineState, iface: IfaceState, header: Omit<EigrpHeader, 'as' | 'virtualRouterId'>, tlvs: readonly EigrpTlv[]): Uint8Array {
  const auth = iface.cfg.auth ? authPlaceholder(iface.cfg.auth) : undefined;
  const all = auth ? [auth, ...tlvs] : tlvs;
  const bytes = encodeEigrp({ header: { ...header, as: s.cfg.as, virtualRouterId: 0 }, tlvs: all });
  return auth && iface.cfg.auth ? signPacket(bytes, iface.cfg.auth, iface.cfg.address) : bytes;
}

/** Bytes a packet may hold on the interface (IP MTU less the IP header), and the fixed overhead of header and authentication. */
export function packetBudget(iface: IfaceState): { max: number; overhead: number } {
  const authLen = iface.cfg.auth ? 4 + 20 + (iface.cfg.auth.mode === 'md5' ? 16 : 32) : 0;
  return { max: Math.max(EIGRP_HEADER_LENGTH + authLen + 64, iface.cfg.mtu - IP_HEADER), overhead: EIGRP_HEADER_LENGTH + authLen };
}

function countSent(s: EngineState, bytes: Uint8Array): void {
  const c = s.counters;
  switch (bytes[1]) {
    case EigrpOpcode.HELLO: {
      const ack = (bytes[12] << 24) | (bytes[13] << 16) | (bytes[14] << 8) | bytes[15];
      if (ack !== 0 && !hasParameters(bytes)) c.acks.sent++;
      else c.hellos.sent++;
      break;
    }
    case EigrpOpcode.UPDATE: c.updates.sent++; break;
    case EigrpOpcode.QUERY: c.queries.sent++; break;
    case EigrpOpcode.REPLY: c.replies.sent++; break;
    case EigrpOpcode.SIA_QUERY: c.siaQueries.sent++; break;
    case EigrpOpcode.SIA_REPLY: c.siaReplies.sent++; break;
  }
}

/** Does an encoded Hello carry a Parameters TLV (a real Hello, not an ACK)? */
function hasParameters(bytes: Uint8Array): boolean {
  let at = EIGRP_HEADER_LENGTH;
  while (at + 4 <= bytes.length) {
    const type = (bytes[at] << 8) | bytes[at + 1];
    const len = (bytes[at + 2] << 8) | bytes[at + 3];
    if (type === 0x0001) return true;
    if (len < 4) return false;
    at += len;
  }
  return false;
}

export function emit(s: EngineState, ifname: string, dst: 'multicast' | string, bytes: Uint8Array): void {
  countSent(s, bytes);
  s.out.push({ kind: 'send', ifname, dst, bytes });
}

// ---------------------------------------------------------------- hellos

function helloExtra(s: EngineState): EigrpTlv[] {
  return s.cfg.stub ? [{ kind: 'stub', flags: stubFlags(s.cfg.stub) }] : [];
}

export function helloTlvs(s: EngineState, iface: IfaceState, extra: readonly EigrpTlv[] = []): readonly EigrpTlv[] {
  return buildHello({
    as: s.cfg.as,
    holdTime: iface.cfg.holdTime,
    k: s.cfg.k,
    iosVersion: s.cfg.iosVersion,
    tlvVersion: s.cfg.tlvVersion,
    extra: [...helloExtra(s), ...extra],
  }).tlvs;
}

/** A multicast Hello (RFC 7868 neighbour discovery, section 5.3), and the next one armed. */
export function sendHello(s: EngineState, iface: IfaceState): void {
  emit(s, iface.cfg.name, 'multicast', encodeFor(s, iface, { opcode: EigrpOpcode.HELLO, flags: 0, sequence: 0, ack: 0 }, helloTlvs(s, iface)));
  iface.nextHello = s.now + iface.cfg.helloInterval * 1000;
}

/** Goodbye: a Hello with K1-K5 = 255 (RFC 7868 section 6.7.1), sent on shutdown and interface removal. */
export function sendGoodbye(s: EngineState, iface: IfaceState): void {
  const g = buildGoodbye({ as: s.cfg.as, holdTime: iface.cfg.holdTime, iosVersion: s.cfg.iosVersion, tlvVersion: s.cfg.tlvVersion });
  emit(s, iface.cfg.name, 'multicast', encodeFor(s, iface, { opcode: EigrpOpcode.HELLO, flags: 0, sequence: 0, ack: 0 }, g.tlvs));
}

/** An explicit ACK: a unicast Hello with no TLVs (besides authentication) and the acknowledged number. */
export function sendAck(s: EngineState, n: Neighbor): void {
  const iface = s.ifaces.get(n.ifname);
  if (!iface) return;
  n.ackOwed = false;
  emit(s, n.ifname, n.address, encodeFor(s, iface, { opcode: EigrpOpcode.HELLO, flags: 0, sequence: 0, ack: n.lastRecvSeq }, []));
}

// ---------------------------------------------------------------- pacing

/** Milliseconds the interface must wait after sending `bytes` (bits over the allowed kbit/s = ms). */
export function paceInterval(iface: IfaceState, bytes: number): number {
  const kbps = (iface.cfg.bandwidth * iface.cfg.bandwidthPercent) / 100;
  if (kbps <= 0) return 0;
  return Math.ceil((bytes * 8) / kbps);
}

function emitPaced(s: EngineState, iface: IfaceState, item: PacedSend): void {
  const pkts = item.build(s.now);
  let total = 0;
  for (const p of pkts) {
    emit(s, iface.cfg.name, item.dst, p);
    total += p.length + IP_HEADER;
  }
  item.onSent?.(s.now);
  iface.paceNext = s.now + paceInterval(iface, total);
}

function paced(s: EngineState, iface: IfaceState, item: PacedSend): void {
  if (iface.paceQueue.length === 0 && s.now >= iface.paceNext) emitPaced(s, iface, item);
  else iface.paceQueue.push(item);
}

/** Release what the pacing gate allows now. */
export function flushPacing(s: EngineState, iface: IfaceState): void {
  while (iface.paceQueue.length > 0 && s.now >= iface.paceNext) emitPaced(s, iface, iface.paceQueue.shift() as PacedSend);
}

// ---------------------------------------------------------------- reliable delivery

function newQueued(seq: number, opcode: number, flags: number, tlvs: readonly EigrpTlv[]): QueuedPacket {
  return { seq, opcode, flags, tlvs, sentAt: undefined, lastSentAt: undefined, retransmits: 0, awaitingMulticast: false, scheduled: false };
}

/** Send the head of a neighbour's queue by unicast (first transmission or retransmission). */
export function transmitHead(s: EngineState, n: Neighbor): void {
  const head = n.queue[0];
  const iface = s.ifaces.get(n.ifname);
  if (!head || !iface || head.scheduled) return;
  head.scheduled = true;
  paced(s, iface, {
    dst: n.address,
    build: () => {
      n.ackOwed = false;
      return [encodeFor(s, iface, { opcode: head.opcode, flags: head.flags, sequence: head.seq, ack: n.lastRecvSeq }, head.tlvs)];
    },
    onSent: (now) => {
      head.scheduled = false;
      head.sentAt ??= now;
      head.lastSentAt = now;
    },
  });
}

/** Queue a reliable packet to one neighbour; it leaves now if nothing is ahead of it. */
export function sendUnicastReliable(s: EngineState, n: Neighbor, opcode: number, flags: number, tlvs: readonly EigrpTlv[]): number {
  const seq = nextSeq(s);
  n.queue.push(newQueued(seq, opcode, flags, tlvs));
  if (n.queue.length === 1) transmitHead(s, n);
  return seq;
}

/**
 * One reliable multicast to every up neighbour on the interface. Neighbours
 * still waiting on an earlier packet (and neighbours not up yet) are named in
 * a Sequence TLV so they ignore it; the packet then carries CR, and reaches
 * the named up neighbours by unicast when their turn comes.
 */
export function sendMulticastReliable(s: EngineState, iface: IfaceState, targets: readonly Neighbor[], opcode: number, flags: number, tlvs: readonly EigrpTlv[]): number {
  const seq = nextSeq(s);
  const listed: Neighbor[] = [];
  const inFlight: { n: Neighbor; q: QueuedPacket }[] = [];
  for (const n of targets) {
    const q = newQueued(seq, opcode, flags, tlvs);
    if (n.queue.length > 0) listed.push(n);
    else {
      q.awaitingMulticast = true;
      inFlight.push({ n, q });
    }
    n.queue.push(q);
  }
  for (const n of neighborsOn(s, iface.cfg.name, 'pending')) listed.push(n);
  if (inFlight.length === 0) return seq;
  paced(s, iface, {
    dst: 'multicast',
    build: () => {
      const out: Uint8Array[] = [];
      const cr = listed.length > 0;
      if (cr) {
        const extra: EigrpTlv[] = [
          { kind: 'sequence', addresses: listed.map((n) => n.address) },
          { kind: 'nextMulticastSequence', sequence: seq },
        ];
        out.push(encodeFor(s, iface, { opcode: EigrpOpcode.HELLO, flags: 0, sequence: 0, ack: 0 }, helloTlvs(s, iface, extra)));
      }
      out.push(encodeFor(s, iface, { opcode, flags: flags | (cr ? EigrpFlag.CR : 0), sequence: seq, ack: 0 }, tlvs));
      return out;
    },
    onSent: (now) => {
      for (const { q } of inFlight) {
        if (!q.awaitingMulticast) continue;
        q.awaitingMulticast = false;
        q.sentAt = now;
        q.lastSentAt = now;
      }
    },
  });
  return seq;
}

/**
 * An acknowledgment from a neighbour: if it is for the packet in flight, drop
 * it from the queue, take an RTT sample (Karn), and send the next one.
 * Returns the acknowledged packet, or undefined.
 */
export function handleAck(s: EngineState, n: Neighbor, ack: number): QueuedPacket | undefined {
  const head = n.queue[0];
  if (!head || ack === 0 || head.seq !== ack) return undefined;
  n.queue.shift();
  if (head.retransmits === 0 && head.sentAt !== undefined) sampleRtt(n, s.now - head.sentAt);
  const next = n.queue[0];
  if (next && !next.awaitingMulticast && next.lastSentAt === undefined) transmitHead(s, n);
  return head;
}

/** When the packet in flight to a neighbour must go again (ms), if any. */
export function retransmitDeadline(n: Neighbor): number | undefined {
  const head = n.queue[0];
  if (!head || head.scheduled || head.lastSentAt === undefined) return undefined;
  return head.lastSentAt + n.rto;
}

/**
 * Retransmit what is due. Returns the neighbours that exhausted the retry
 * limit (the caller resets them: DUAL has to run).
 */
export function retransmitDue(s: EngineState): Neighbor[] {
  const dead: Neighbor[] = [];
  for (const n of s.neighbors.values()) {
    const due = retransmitDeadline(n);
    if (due === undefined || s.now < due) continue;
    const head = n.queue[0];
    if (head.retransmits >= RETRY_LIMIT) {
      dead.push(n);
      continue;
    }
    head.retransmits++;
    n.retransTotal++;
    log(s, 'debug', `retransmit seq ${head.seq} to ${n.address} (${n.ifname}), try ${head.retransmits}`);
    transmitHead(s, n);
  }
  return dead;
}
