/**
 * The engine's internal state: interfaces, neighbours with their reliable
 * transport, the topology table, pending work and counters. Functions in
 * transport.ts, routes.ts and receive.ts operate on it; instance.ts owns it.
 */
import type { EigrpTlv } from './tlv.js';
import { networkMatches, type NormalizedConfig, type NormalizedInterface } from './config.js';
import type { PrefixEntry } from './topology.js';
import type {
  ConnectedPrefix,
  EigrpAction,
  EigrpDropReason,
  LogLevel,
  RedistributedRoute,
  RouteAddAction,
} from './types.js';

/** A reliable packet waiting for its acknowledgment (RFC 7868 section 5.2 / IOS's retransmission list). */
export interface QueuedPacket {
  readonly seq: number;
  readonly opcode: number;
  /** Header flags without CR (added only to the multicast copy). */
  readonly flags: number;
  readonly tlvs: readonly EigrpTlv[];
  /** First transmission time (RTT sample when acknowledged without a retransmission). */
  sentAt: number | undefined;
  lastSentAt: number | undefined;
  retransmits: number;
  /** Waiting to go out in a multicast that has not left yet (pacing). */
  awaitingMulticast: boolean;
  /** Handed to the pacing gate and not sent yet. */
  scheduled: boolean;
}

export interface Neighbor {
  readonly key: string;
  readonly address: string;
  readonly ifname: string;
  state: 'pending' | 'up';
  handle: number;
  readonly createdAt: number;
  upSince: number | undefined;
  /** Hold time the peer announced, seconds. */
  holdTime: number;
  holdExpires: number;
  iosVersion: readonly [number, number];
  tlvVersion: readonly [number, number];
  stubFlags: number | undefined;
  // Reliable transport.
  readonly queue: QueuedPacket[];
  /** Last sequence number accepted from the peer (0: none yet). */
  lastRecvSeq: number;
  /** A reliable packet came in and no unicast has carried its ack yet. */
  ackOwed: boolean;
  srtt: number;
  rto: number;
  /** Retransmissions over the neighbour's life (show "Retrans"). */
  retransTotal: number;
  // INIT handshake (RFC 7868 section 5.3, initialization; EIGRP_adjacency.pcap frames 12-16).
  initAcked: boolean;
  initReceived: boolean;
  // Conditional receive: the last Hello's Sequence TLV said whether to take the next CR packet.
  crAccept: boolean;
  crSeq: number | undefined;
}

/** A reliable transmission waiting for the interface's pacing gate. */
export interface PacedSend {
  readonly dst: 'multicast' | string;
  /** Encodes at transmission time (so the ack field is current); may return several packets (CR Hello + multicast). */
  readonly build: (now: number) => Uint8Array[];
  readonly onSent?: (now: number) => void;
}

export interface IfaceState {
  readonly cfg: NormalizedInterface;
  /** Link up (interfaceUp / interfaceDown). */
  up: boolean;
  nextHello: number | undefined;
  paceNext: number;
  readonly paceQueue: PacedSend[];
  /** Per prefix, what we last told this interface (advertise.ts signatures). */
  readonly lastSent: Map<string, string>;
}

export interface Counter {
  sent: number;
  received: number;
}

export interface Counters {
  readonly hellos: Counter;
  readonly updates: Counter;
  readonly queries: Counter;
  readonly replies: Counter;
  readonly acks: Counter;
  readonly siaQueries: Counter;
  readonly siaReplies: Counter;
}

export interface EngineState {
  readonly cfg: NormalizedConfig;
  readonly ifaces: Map<string, IfaceState>;
  readonly neighbors: Map<string, Neighbor>;
  readonly topology: Map<string, PrefixEntry>;
  /** Next reliable sequence number (one counter for unicast and multicast, as IOS: the captures). */
  seq: number;
  connected: readonly ConnectedPrefix[];
  redistributed: readonly RedistributedRoute[];
  readonly installed: Map<string, RouteAddAction>;
  /** Entries whose advertisement or route may have changed. */
  readonly dirty: Set<string>;
  readonly queryPending: Set<string>;
  readonly replyPending: Map<string, Set<string>>;
  readonly siaQueryPending: Map<string, Set<string>>;
  /** Neighbour -> prefix -> still active (the SIA-Reply's active flag). */
  readonly siaReplyPending: Map<string, Map<string, boolean>>;
  readonly out: EigrpAction[];
  readonly counters: Counters;
  readonly drops: Map<EigrpDropReason, number>;
  now: number;
}

export function counter(): Counter {
  return { sent: 0, received: 0 };
}

export function newState(cfg: NormalizedConfig): EngineState {
  return {
    cfg,
    ifaces: new Map(),
    neighbors: new Map(),
    topology: new Map(),
    seq: cfg.initialSequence,
    connected: [],
    redistributed: [],
    installed: new Map(),
    dirty: new Set(),
    queryPending: new Set(),
    replyPending: new Map(),
    siaQueryPending: new Map(),
    siaReplyPending: new Map(),
    out: [],
    counters: {
      hellos: counter(), updates: counter(), queries: counter(), replies: counter(),
      acks: counter(), siaQueries: counter(), siaReplies: counter(),
    },
    drops: new Map(),
    now: 0,
  };
}

export function log(s: EngineState, level: LogLevel, msg: string): void {
  s.out.push({ kind: 'log', level, msg });
}

/** The one drop path (DESIGN.md "Errors and bad input"): count per reason, log at debug. */
export function drop(s: EngineState, reason: EigrpDropReason, detail = ''): void {
  s.drops.set(reason, (s.drops.get(reason) ?? 0) + 1);
  log(s, 'debug', `drop: ${reason}${detail ? ` (${detail})` : ''}`);
}

/** Allocate a reliable sequence number; 0 is never used (it marks unreliable packets). */
export function nextSeq(s: EngineState): number {
  const v = s.seq;
  s.seq = (s.seq + 1) >>> 0;
  if (s.seq === 0) s.seq = 1;
  return v;
}

export function neighborsOn(s: EngineState, ifname: string, state?: 'up' | 'pending'): Neighbor[] {
  const out: Neighbor[] = [];
  for (const n of s.neighbors.values()) if (n.ifname === ifname && (state === undefined || n.state === state)) out.push(n);
  return out;
}

export function addToSetMap(m: Map<string, Set<string>>, k: string, v: string): void {
  let set = m.get(k);
  if (!set) {
    set = new Set();
    m.set(k, set);
  }
  set.add(v);
}

/** Is the interface running EIGRP (configured, link up, covered by a network statement)? */
export function running(s: EngineState, i: IfaceState): boolean {
  return i.up && s.cfg.networks.some((n) => networkMatches(n, i.cfg.address));
}
