/**
 * What the NHRP engine is configured with, what it asks of the routing table,
 * and the actions it returns for the daemon to carry out.
 */

export interface NhrpNhsConfig {
  /** The NHS's protocol (tunnel) address. */
  readonly proto: string;
  /** Its NBMA address (from `ip nhrp nhs X nbma Y` or the static map of X). */
  readonly nbma: string;
}

export interface NhrpConfig {
  /** Tunnel interface name as shown (IOS style, e.g. "Tunnel0"). */
  readonly ifname: string;
  /** Our protocol address on the tunnel and its prefix length. */
  readonly protocolAddress: string;
  readonly prefixLength: number;
  /** Our NBMA address (the tunnel source). */
  readonly nbmaAddress: string;
  readonly networkId: number;
  /** Holding time we advertise, seconds (IOS default 7200). */
  readonly holdtime: number;
  /** Registration interval, seconds (IOS default holdtime / 3). */
  readonly registrationInterval?: number;
  /** `ip nhrp authentication` (cleartext, at most 8 bytes). */
  readonly password?: string;
  /** GRE key: IOS then advertises CIE MTU 17912 instead of 17916. */
  readonly greKey?: number;
  readonly staticMaps: readonly { readonly proto: string; readonly nbma: string }[];
  readonly multicastStatic: readonly string[];
  readonly multicastDynamic: boolean;
  readonly nhs: readonly NhrpNhsConfig[];
  /** `ip nhrp shortcut`: act on Traffic Indications and install shortcut routes. */
  readonly shortcut: boolean;
  /** `ip nhrp redirect`: send Traffic Indications for traffic hairpinned through us. */
  readonly redirect: boolean;
  /** Register with the unique flag (`no ip nhrp registration no-unique`). */
  readonly registrationUnique: boolean;
}

/** What the routing table says about an address (the daemon's RIB answers). */
export interface RouteAnswer {
  readonly prefix: string;
  readonly prefixLength: number;
  /** The overlay next hop when the route leaves through this tunnel. */
  readonly tunnelNextHop?: string;
  /** True when the address is ours or on a directly connected non-tunnel network. */
  readonly local: boolean;
}

export interface RouteView {
  lookup(addr: string): RouteAnswer | undefined;
}

export type NhrpAction =
  /** Send an NHRP packet (GRE type 0x2001) to an NBMA address. */
  | { readonly kind: 'send'; readonly nbma: string; readonly bytes: Uint8Array }
  /** Tell the dataplane that overlay address `proto` is reached at `nbma`. */
  | { readonly kind: 'map'; readonly proto: string; readonly nbma: string; readonly permanent: boolean }
  | { readonly kind: 'unmap'; readonly proto: string }
  /** The multicast list changed: read it with engine.multicastTargets() (once per batch). */
  | { readonly kind: 'multicast' }
  /** A shortcut route (IOS code H): prefix via an overlay next hop on the tunnel. */
  | { readonly kind: 'route-add'; readonly prefix: string; readonly prefixLength: number; readonly nextHop: string }
  | { readonly kind: 'route-del'; readonly prefix: string; readonly prefixLength: number; readonly nextHop: string }
  | { readonly kind: 'log'; readonly level: 'debug' | 'info' | 'warn'; readonly msg: string; readonly fields?: Readonly<Record<string, unknown>> };

/** Reasons a received packet is dropped; each is a counter in `show ip nhrp traffic`. */
export const NhrpDropReason = {
  MALFORMED: 'malformed',
  BAD_CHECKSUM: 'bad checksum',
  BAD_VERSION: 'unsupported version',
  BAD_ADDRESS_FAMILY: 'unsupported address family',
  AUTH_FAILURE: 'authentication failure',
  HOP_COUNT_ZERO: 'hop count zero',
  UNEXPECTED: 'unexpected packet',
  UNKNOWN_REQUEST_ID: 'unknown request id',
  LOOP: 'loop detected',
  NO_ROUTE: 'no route to forward',
  REDIRECT_RATE_LIMITED: 'redirect rate limited',
  UNSUPPORTED_TYPE: 'unsupported packet type',
} as const;

export type NhrpDropReasonName = (typeof NhrpDropReason)[keyof typeof NhrpDropReason];
