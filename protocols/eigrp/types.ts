/**
 * The engine's interface to the daemon: the actions it asks for, the routes
 * the daemon feeds it, the closed list of drop reasons, and the plain objects
 * behind the show commands.
 */
import type { RedistributeMetric } from './config.js';

export interface NextHop {
  readonly address: string;
  readonly ifname: string;
}

/** Send an EIGRP packet (the IP payload; the daemon adds IP protocol 88, TTL 2, TOS 0xC0). */
export interface SendAction {
  readonly kind: 'send';
  readonly ifname: string;
  /** 'multicast' = 224.0.0.10 (on a tunnel the daemon replicates it through the NHRP multicast map). */
  readonly dst: 'multicast' | string;
  readonly bytes: Uint8Array;
}

/** Install or replace the EIGRP route for a prefix. */
export interface RouteAddAction {
  readonly kind: 'route-add';
  readonly prefix: string;
  readonly prefixLength: number;
  /** Empty for a blackhole (Null0) route. */
  readonly nextHops: readonly NextHop[];
  /** Administrative distance: 90 internal, 170 external, 5 summary. */
  readonly distance: number;
  /** The RIB metric (classic composite, or the wide composite / 128). */
  readonly metric: number;
  readonly external: boolean;
  /** A summary's discard route (IOS "via Null0"). */
  readonly blackhole?: true;
}

/** Remove the EIGRP route for a prefix (carries what was installed). */
export interface RouteDelAction {
  readonly kind: 'route-del';
  readonly prefix: string;
  readonly prefixLength: number;
  readonly nextHops: readonly NextHop[];
  readonly distance: number;
  readonly metric: number;
  readonly external: boolean;
  readonly blackhole?: true;
}

export type LogLevel = 'debug' | 'info' | 'notice' | 'warning' | 'error';

export interface LogAction {
  readonly kind: 'log';
  readonly level: LogLevel;
  readonly msg: string;
}

export type EigrpAction = SendAction | RouteAddAction | RouteDelAction | LogAction;

/** A connected network the daemon reports (interfaces other than the EIGRP interfaces, e.g. a LAN). */
export interface ConnectedPrefix {
  readonly prefix: string;
  readonly prefixLength: number;
  readonly ifname: string;
  /** Interface metric when ifname is not an EIGRP interface; defaults to GigabitEthernet (1000000 kbit/s, 10 usec). */
  readonly bandwidth?: number;
  /** Tens of microseconds. */
  readonly delay?: number;
  readonly mtu?: number;
}

/** A route to redistribute (static routes, other protocols). */
export interface RedistributedRoute {
  readonly prefix: string;
  readonly prefixLength: number;
  /** 'static', 'connected', ... ; must match a `redistribute` statement. */
  readonly source: string;
  readonly tag?: number;
  /** Metric of the originating protocol (external data "external metric"). */
  readonly externalMetric?: number;
  /** Overrides the redistribute statement's metric. */
  readonly metric?: RedistributeMetric;
}

/** Why a packet was dropped: the closed list `show ip eigrp traffic` counts. */
export const EIGRP_DROP_REASONS = [
  'unknown interface',
  'passive interface',
  'own packet',
  'truncated',
  'bad checksum',
  'malformed packet',
  'wrong AS',
  'wrong virtual router',
  'unsupported opcode',
  'not on common subnet',
  'missing authentication',
  'authentication type mismatch',
  'unknown key',
  'bad digest',
  'unexpected authentication',
  'K-value mismatch',
  'hello without parameters',
  'unknown neighbor',
  'neighbor not up',
  'conditional receive',
  'duplicate sequence',
  'internal error',
] as const;

export type EigrpDropReason = (typeof EIGRP_DROP_REASONS)[number];

/** Why a neighbour went down (IOS's words in "%DUAL-5-NBRCHANGE"). */
export type NeighborDownReason =
  | 'holding time expired'
  | 'peer restarted'
  | 'retry limit exceeded'
  | 'K-value mismatch'
  | 'Interface Goodbye received'
  | 'interface down'
  | 'stuck in active'
  | 'manually cleared'
  | 'process shutdown';

// ---------------------------------------------------------------- show data

export interface NeighborShow {
  /** IOS "H": the order in which adjacencies came up. */
  readonly handle: number;
  readonly address: string;
  readonly ifname: string;
  /** Seconds left on the hold timer. */
  readonly holdSeconds: number;
  readonly uptimeMs: number;
  readonly srttMs: number;
  readonly rtoMs: number;
  /** Packets waiting for acknowledgment. */
  readonly queueCount: number;
  /** Last sequence number received. */
  readonly lastSequence: number;
  readonly state: 'pending' | 'up';
  /** "12.4/1.2": IOS release / EIGRP TLV version of the peer. */
  readonly version: string;
  readonly retransmissions: number;
  readonly retries: number;
  /** EigrpStubFlag bits when the peer is a stub. */
  readonly stubFlags?: number;
  readonly holdTime: number;
  /** Destinations we hold a path for through this neighbour. */
  readonly prefixes: number;
}

export interface TopologyPathShow {
  readonly kind: 'neighbor' | 'connected' | 'redistributed' | 'summary';
  readonly address?: string;
  readonly ifname?: string;
  readonly distance: bigint;
  readonly reportedDistance: bigint;
  readonly successor: boolean;
  readonly feasible: boolean;
  readonly external: boolean;
  /** A Reply from this neighbour is outstanding (IOS prints ", r"). */
  readonly replyPending: boolean;
  /** For redistributed routes: the source protocol ("static", "connected"). */
  readonly protocol?: string;
}

export interface TopologyEntryShow {
  readonly prefix: string;
  readonly prefixLength: number;
  /** P (passive) or A (active). */
  readonly code: 'P' | 'A';
  readonly state: string;
  readonly successors: number;
  readonly fd: bigint;
  /** Replies outstanding ("r" status). */
  readonly replies: number;
  readonly activeMs?: number;
  readonly queryOrigin?: string;
  readonly paths: readonly TopologyPathShow[];
}

export interface InterfaceShow {
  readonly ifname: string;
  readonly peers: number;
  readonly xmitUnreliable: number;
  readonly xmitReliable: number;
  readonly meanSrttMs: number;
  readonly pacingUnreliableMs: number;
  readonly pacingReliableMs: number;
  readonly multicastFlowTimerMs: number;
  readonly pendingRoutes: number;
  readonly helloInterval: number;
  readonly holdTime: number;
  readonly splitHorizon: boolean;
  readonly nextHopSelf: boolean;
  readonly passive: boolean;
  readonly authMode?: string;
}

export interface TrafficCounts {
  readonly sent: number;
  readonly received: number;
}

export interface TrafficShow {
  readonly as: number;
  readonly hellos: TrafficCounts;
  readonly updates: TrafficCounts;
  readonly queries: TrafficCounts;
  readonly replies: TrafficCounts;
  readonly acks: TrafficCounts;
  readonly siaQueries: TrafficCounts;
  readonly siaReplies: TrafficCounts;
  readonly inputQueue: { readonly current: number; readonly max: number; readonly highest: number; readonly drops: number };
  readonly drops: Readonly<Partial<Record<EigrpDropReason, number>>>;
}
