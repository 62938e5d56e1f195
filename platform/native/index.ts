/**
 * Typed facade over the native userspace mGRE dataplane (DESIGN.md "userspace").
 *
 * The overlay is a TUN device (IFF_TUN | IFF_NO_PI); the underlay a raw IPv4
 * socket for IP protocol 47. A native thread moves data packets both ways in
 * batches; JavaScript, the NHRP control plane, pushes the tables down
 * (overlay address -> NBMA address, prefix -> overlay next hop) and receives
 * what needs it: NHRP and other non-IPv4 GRE payloads, misses (no mapping: time
 * to send an NHRP Resolution Request), multicast packets, and on a hub the
 * packets that route back into the tunnel (time for a Traffic Indication).
 *
 * Lookup for a packet to D: the peer table at D (host entries), else the
 * longest prefix covering D gives an overlay next hop N (or "on-link": N = D),
 * then the peer table at N. 224.0.0.0/4 and 255.255.255.255 are copied to every
 * address of the multicast NBMA list (`ip nhrp map multicast`).
 */
import { ipv4ToU32, isIpv4, u32ToIpv4 } from '../../protocols/wire/index.js';
import { loadNative, type NativeBinding, type NativeHandle, type RawConfig, type RawEvent, type RawResolvedConfig } from './binding.js';

import { fromRawSaStats, toRawSa, type EspSa, type EspSaKeys, type SaStats } from './esp.js';
import type { EspCipher, EspIntegrity } from './esp.js';

export { NativeLoadError, loadNative, addonCandidates, type NativeBinding } from './binding.js';
export * from './esp.js';

/** Every counter of `stats()`, in the addon's order (src/common.h DP_COUNTERS). */
export const COUNTER_NAMES = [
  'tunRxPackets', 'tunRxBytes', 'greTxPackets', 'greTxBytes', 'greRxPackets', 'greRxBytes',
  'tunTxPackets', 'tunTxBytes', 'multicastPackets', 'multicastCopies', 'missPackets', 'fallbackPackets',
  'controlPackets', 'hairpinPackets', 'hairpinTtlExpired', 'redirectEvents', 'mssClamped',
  'eventsQueued', 'eventsDelivered', 'jsGreTxPackets', 'jsTunTxPackets',
  'dropNoMapping', 'dropNoMulticastTarget', 'dropNotIpv4', 'dropTooBig', 'dropTooShort', 'dropTruncated',
  'dropBadOuterIp', 'dropBadGre', 'dropBadChecksum', 'dropWrongKey', 'dropBadInner',
  'dropTunWriteFail', 'dropSendFail', 'dropEventOverflow',
  'espTxPackets', 'espTxBytes', 'espRxPackets', 'espRxBytes', 'espQueued', 'espQueueFlushed',
  'dropEspQueueFull', 'dropEspQueueExpired', 'dropEspSeqExhausted', 'dropEspEncryptFail', 'dropEspTooShort',
  'dropEspUnknownSpi', 'dropEspReplay', 'dropEspAuth', 'dropEspBadPadding', 'dropEspBadNextHeader',
  'udpRxPackets', 'udpRxBytes', 'udpIkeRxPackets', 'udpIkeTxPackets', 'natKeepaliveRx', 'natKeepaliveTx',
  'espUdpRxPackets', 'espUdpTxPackets', 'dropUdpEncapShort',
  'tunRxGsoPackets', 'tunTxGroPackets',
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];
/** Counters since the dataplane was created (packets, bytes, drops per reason). */
export type DataplaneStats = { readonly [K in CounterName]: number };

/** A platform error from a system call, shaped like Node's own (fs, net). */
export interface NativeErrnoError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
}
export function isNativeErrnoError(e: unknown): e is NativeErrnoError {
  return e instanceof Error && typeof (e as Partial<NativeErrnoError>).syscall === 'string' &&
    typeof (e as Partial<NativeErrnoError>).errno === 'number';
}

export interface TunDevice {
  readonly fd: number;
  /** The interface name the kernel gave (the requested one, or "dmvpn%d" expanded). */
  readonly name: string;
}

export interface GreSocketOptions {
  /** Local NBMA address to bind: the source of what we send, the only destination we receive. */
  readonly local: string;
  /** SO_BINDTODEVICE: keep the underlay on one interface (or VRF device). */
  readonly device?: string;
  readonly sndbuf?: number;
  readonly rcvbuf?: number;
}

export interface DataplaneConfig {
  /** Our NBMA address (the GRE socket's bind address). */
  readonly localNbma: string;
  /** GRE key (RFC 2890), `tunnel key`; null or absent = no key. */
  readonly key?: number | null;
  /** Outer TTL, default 255 (IOS tunnel default). */
  readonly ttl?: number;
  /** Outer ToS byte, or 'inherit' (default) to copy the inner packet's, Cisco's `tunnel tos` default. */
  readonly tos?: number | 'inherit';
  /** Largest inner packet sent; larger ones are dropped (dropTooBig). Default 1472. */
  readonly mtu?: number;
  /** `ip tcp adjust-mss`: clamp the MSS of TCP SYNs both ways; 0 or absent = off. */
  readonly mssClamp?: number;
  /** `ip nhrp map multicast`: NBMA addresses that get a copy of every multicast packet. */
  readonly multicastNbma?: readonly string[];
  /** `ip nhrp redirect` (hub): report packets that come in and go back out the tunnel. */
  readonly redirect?: boolean;
  /** How such packets are forwarded: through the kernel (default) or re-encapsulated at once. */
  readonly hairpin?: 'kernel' | 'direct';
  /** Also hand multicast packets read from the TUN up as events. */
  readonly reportMulticast?: boolean;
  /** Inner IPv4 protocol handed up (as a 'gre' event with protocolType 0x0800) instead of written to the TUN; 0 = none. */
  readonly handUpProtocol?: number;
  /** Where misses go while NHRP resolves (usually the NHS); null = drop them. */
  readonly fallbackNbma?: string | null;
  /** At most one miss event per next hop per interval (default 1000 ms; 0 = every packet). */
  readonly missIntervalMs?: number;
  /** At most one redirect event per (source NBMA, destination) per interval (default 1000 ms). */
  readonly redirectIntervalMs?: number;
}
export type DataplaneConfigUpdate = Partial<DataplaneConfig>;

/** The configuration in force, every field filled in. */
export interface ResolvedDataplaneConfig {
  readonly localNbma: string;
  readonly key: number | null;
  readonly ttl: number;
  readonly tos: number | 'inherit';
  readonly mtu: number;
  readonly mssClamp: number;
  readonly multicastNbma: readonly string[];
  readonly redirect: boolean;
  readonly hairpin: 'kernel' | 'direct';
  readonly reportMulticast: boolean;
  readonly handUpProtocol: number;
  readonly fallbackNbma: string | null;
  readonly missIntervalMs: number;
  readonly redirectIntervalMs: number;
}

/** A GRE payload that is not IPv4: NHRP (0x2001) and anything else. */
export interface GreEvent {
  readonly kind: 'gre';
  readonly srcNbma: string;
  readonly dstNbma: string;
  readonly protocolType: number;
  /** First 16 bits of the GRE header (C, K, S bits, version). */
  readonly flags: number;
  readonly key?: number;
  /** Present when the GRE came in UDP-encapsulated ESP (NAT-T): the outer UDP source port. */
  readonly srcPort?: number;
  /** The GRE payload (for NHRP: the NHRP packet). */
  readonly payload: Uint8Array;
}
/** A TUN packet with no NBMA mapping; nextHop is the overlay address to resolve. */
export interface MissEvent {
  readonly kind: 'miss';
  readonly dst: string;
  readonly nextHop: string;
  readonly packet: Uint8Array;
}
export interface MulticastEvent {
  readonly kind: 'multicast';
  readonly src: string;
  readonly dst: string;
  readonly packet: Uint8Array;
}
/** Hub: a packet from srcNbma to overlay dst that goes back out to dstNbma. */
export interface RedirectEvent {
  readonly kind: 'redirect';
  readonly srcNbma: string;
  readonly dstNbma: string;
  readonly src: string;
  readonly dst: string;
  /** The inner IPv4 packet as it arrived (a Traffic Indication quotes its start). */
  readonly packet: Uint8Array;
}
/**
 * An IKE message received on the UDP-encapsulation socket (port 4500) behind
 * the non-ESP marker (RFC 3948 section 2.2). src/srcPort are the outer source
 * as received, so behind a NAT the translated address and port: answer there
 * with sendIke(), and use srcPort as the outbound SA's encap.dstPort.
 */
export interface IkeEvent {
  readonly kind: 'ike';
  readonly src: string;
  readonly srcPort: number;
  /** The IKE message (header onwards), the 4 marker octets removed. */
  readonly payload: Uint8Array;
}
export type DataplaneEvent = GreEvent | MissEvent | MulticastEvent | RedirectEvent | IkeEvent;

export interface PeerMapping {
  readonly overlay: string;
  readonly nbma: string;
}
export interface PeerEntry extends PeerMapping {
  readonly txPackets: number;
  readonly txBytes: number;
}
export interface RouteEntry {
  readonly prefix: string;
  readonly length: number;
  /** Overlay next hop, or null for on-link (the destination itself is resolved). */
  readonly nextHop: string | null;
}
export type Resolution =
  | { readonly kind: 'peer'; readonly nbma: string; readonly nextHop: string }
  | { readonly kind: 'miss'; readonly nextHop: string }
  | { readonly kind: 'multicast' };

export interface DataplaneOptions {
  readonly tun: TunDevice;
  /** From openGreSocket(). The dataplane owns both fds from here on (close() closes them). */
  readonly greFd: number;
  /** From openEspSocket(): ESP (protocol 50) is sent and received there; owned from here on. */
  readonly espFd?: number;
  /**
   * From openUdpEncapSocket(): UDP 4500, shared by IKE (sendIke, 'ike' events)
   * and ESP-in-UDP (outbound SAs with `encap`, and any ESP arriving there); owned from here on.
   */
  readonly espUdpFd?: number;
  readonly config: DataplaneConfig;
  readonly onEvent?: (event: DataplaneEvent) => void;
  readonly peers?: readonly PeerMapping[];
  readonly routes?: readonly RouteEntry[];
  /** Start the thread at once (default true). */
  readonly start?: boolean;
}

function addr(s: string, what: string): number {
  if (typeof s !== 'string' || !isIpv4(s)) {
    throw Object.assign(new TypeError(`${what} must be a dotted IPv4 address, got ${JSON.stringify(s)}`), { code: 'ERR_INVALID_ADDRESS' });
  }
  return ipv4ToU32(s);
}

function prefixU32(prefix: string, length: number): number {
  if (!Number.isInteger(length) || length < 0 || length > 32) {
    throw Object.assign(new RangeError(`prefix length ${length} is not 0..32`), { code: 'ERR_OUT_OF_RANGE' });
  }
  const p = addr(prefix, 'prefix');
  const mask = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
  if ((p & ~mask) >>> 0 !== 0) {
    throw Object.assign(new RangeError(`${prefix}/${length} has host bits set`), { code: 'ERR_INVALID_PREFIX' });
  }
  return p;
}

function toRawConfig(c: DataplaneConfigUpdate): RawConfig {
  const raw: RawConfig = {};
  if (c.localNbma !== undefined) raw.localNbma = addr(c.localNbma, 'localNbma');
  if (c.key !== undefined) raw.key = c.key;
  if (c.ttl !== undefined) raw.ttl = c.ttl;
  if (c.tos !== undefined) raw.tos = c.tos === 'inherit' ? -1 : c.tos;
  if (c.mtu !== undefined) raw.mtu = c.mtu;
  if (c.mssClamp !== undefined) raw.mssClamp = c.mssClamp;
  if (c.multicastNbma !== undefined) raw.multicastNbma = c.multicastNbma.map((a) => addr(a, 'multicastNbma[]'));
  if (c.redirect !== undefined) raw.redirect = c.redirect;
  if (c.hairpin !== undefined) raw.hairpinDirect = c.hairpin === 'direct';
  if (c.reportMulticast !== undefined) raw.reportMulticast = c.reportMulticast;
  if (c.handUpProtocol !== undefined) raw.handUpProtocol = c.handUpProtocol;
  if (c.fallbackNbma !== undefined) raw.fallbackNbma = c.fallbackNbma === null ? 0 : addr(c.fallbackNbma, 'fallbackNbma');
  if (c.missIntervalMs !== undefined) raw.missIntervalMs = c.missIntervalMs;
  if (c.redirectIntervalMs !== undefined) raw.redirectIntervalMs = c.redirectIntervalMs;
  return raw;
}

function fromRawConfig(r: RawResolvedConfig): ResolvedDataplaneConfig {
  return {
    localNbma: u32ToIpv4(r.localNbma),
    key: r.key,
    ttl: r.ttl,
    tos: r.tos < 0 ? 'inherit' : r.tos,
    mtu: r.mtu,
    mssClamp: r.mssClamp,
    multicastNbma: r.multicastNbma.map(u32ToIpv4),
    redirect: r.redirect,
    hairpin: r.hairpinDirect ? 'direct' : 'kernel',
    reportMulticast: r.reportMulticast,
    handUpProtocol: r.handUpProtocol,
    fallbackNbma: r.fallbackNbma === 0 ? null : u32ToIpv4(r.fallbackNbma),
    missIntervalMs: r.missIntervalMs,
    redirectIntervalMs: r.redirectIntervalMs,
  };
}

function fromRawEvent(e: RawEvent): DataplaneEvent {
  switch (e.kind) {
    case 'gre': {
      const ev: GreEvent = {
        kind: 'gre', srcNbma: u32ToIpv4(e.srcNbma), dstNbma: u32ToIpv4(e.dstNbma),
        protocolType: e.protocolType, flags: e.flags, payload: e.packet,
        ...(e.srcPort === undefined ? {} : { srcPort: e.srcPort }),
      };
      return e.key === undefined ? ev : { ...ev, key: e.key };
    }
    case 'miss':
      return { kind: 'miss', dst: u32ToIpv4(e.dst), nextHop: u32ToIpv4(e.nextHop), packet: e.packet };
    case 'multicast':
      return { kind: 'multicast', src: u32ToIpv4(e.src), dst: u32ToIpv4(e.dst), packet: e.packet };
    case 'redirect':
      return {
        kind: 'redirect', srcNbma: u32ToIpv4(e.srcNbma), dstNbma: u32ToIpv4(e.dstNbma),
        src: u32ToIpv4(e.src), dst: u32ToIpv4(e.dst), packet: e.packet,
      };
    case 'ike':
      return { kind: 'ike', src: u32ToIpv4(e.src), srcPort: e.srcPort, payload: e.packet };
  }
}

/** The addon's version string, e.g. "dmvpn_native 0.1.0 (N-API 8)". */
export function nativeVersion(): string {
  return loadNative().version();
}

/** True when the addon is built and loads. */
export function nativeAvailable(): boolean {
  try {
    loadNative();
    return true;
  } catch {
    return false;
  }
}

/** Create (or attach to) a TUN device; mtu sets the interface MTU. Throws NativeErrnoError. */
export function openTun(name: string, opts: { readonly mtu?: number } = {}): TunDevice {
  return loadNative().openTun(name, opts.mtu);
}

/** Open the raw IPv4 protocol-47 socket bound to the local NBMA address. Returns the fd. */
export function openGreSocket(opts: GreSocketOptions): number {
  return loadNative().openGreSocket(addr(opts.local, 'local'), opts.device, opts.sndbuf, opts.rcvbuf);
}

/** Open the raw IPv4 protocol-50 (ESP) socket bound to the local NBMA address. Returns the fd. */
export function openEspSocket(opts: GreSocketOptions): number {
  return loadNative().openEspSocket(addr(opts.local, 'local'), opts.device, opts.sndbuf, opts.rcvbuf);
}

/** Options of openUdpEncapSocket(). */
export interface UdpEncapSocketOptions {
  /** Local NBMA address to bind (the address IKE runs on). */
  readonly local: string;
  /** Default 4500 (RFC 3948 section 2). */
  readonly port?: number;
  readonly device?: string;
  readonly sndbuf?: number;
  readonly rcvbuf?: number;
}

/**
 * Open the UDP socket for NAT traversal (RFC 3948): bound to local:port with
 * SO_REUSEADDR. Give it to Dataplane.open({ espUdpFd }); IKE on port 4500
 * then goes through the dataplane (sendIke, 'ike' events), not a node:dgram socket.
 */
export function openUdpEncapSocket(opts: UdpEncapSocketOptions): number {
  return loadNative().openUdpEncapSocket(addr(opts.local, 'local'), opts.port, opts.device, opts.sndbuf, opts.rcvbuf);
}

/** Close an fd from openTun/openGreSocket that was never given to a Dataplane. */
export function closeFd(fd: number): void {
  loadNative().closeFd(fd);
}

/** Handles by facade object, for the bench helpers (the class keeps its own private). */
const handles = new WeakMap<Dataplane, NativeHandle>();

export class Dataplane {
  private handler: ((event: DataplaneEvent) => void) | undefined;
  private isClosed = false;

  private constructor(
    private readonly native: NativeBinding,
    private readonly handle: NativeHandle,
    /** The TUN interface name. */
    readonly tunName: string,
  ) {
    handles.set(this, handle);
  }

  /** Build the dataplane over the two fds, load the tables, and (by default) start it. */
  static open(opts: DataplaneOptions): Dataplane {
    const native = loadNative();
    let raw: RawConfig;
    try {
      raw = toRawConfig(opts.config);
    } catch (e) {
      native.closeFd(opts.tun.fd);
      native.closeFd(opts.greFd);
      if (opts.espFd !== undefined) native.closeFd(opts.espFd);
      if (opts.espUdpFd !== undefined) native.closeFd(opts.espUdpFd);
      throw e;
    }
    let self: Dataplane | undefined;
    let handle: NativeHandle;
    try {
      handle = native.create(opts.tun.fd, opts.greFd, raw, (events) => self?.dispatch(events));
    } catch (e) {
      if (opts.espUdpFd !== undefined) native.closeFd(opts.espUdpFd);
      throw e;
    }
    self = new Dataplane(native, handle, opts.tun.name);
    self.handler = opts.onEvent;
    try {
      if (opts.espFd !== undefined) native.espAttach(handle, opts.espFd);
      if (opts.espUdpFd !== undefined) {
        const fd = opts.espUdpFd;
        try {
          native.espUdpAttach(handle, fd);
        } catch (e) {
          native.closeFd(fd); // not owned by the dataplane yet
          throw e;
        }
      }
      for (const p of opts.peers ?? []) self.setPeer(p.overlay, p.nbma);
      for (const r of opts.routes ?? []) self.setRoute(r.prefix, r.length, r.nextHop);
      if (opts.start !== false) self.start();
    } catch (e) {
      self.close();
      throw e;
    }
    return self;
  }

  private dispatch(events: RawEvent[]): void {
    const h = this.handler;
    if (!h || this.isClosed) return;
    for (const e of events) {
      try {
        h(fromRawEvent(e));
      } catch (err) {
        // An exception must not vanish inside the native callback (Node 20
        // only warns there), nor cost the rest of the batch: rethrow it as
        // an ordinary uncaught exception.
        process.nextTick(() => {
          throw err;
        });
      }
    }
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Replace (or remove) the event handler. */
  setEventHandler(handler: ((event: DataplaneEvent) => void) | undefined): void {
    this.handler = handler;
  }

  start(): void {
    this.native.start(this.handle);
  }

  /** Change some settings; the rest stay. Takes effect from the next batch. */
  configure(update: DataplaneConfigUpdate): void {
    this.native.configure(this.handle, toRawConfig(update));
  }

  config(): ResolvedDataplaneConfig {
    return fromRawConfig(this.native.getConfig(this.handle));
  }

  /** Packets to overlay address `overlay` (or routed via it) go to NBMA address `nbma`. */
  setPeer(overlay: string, nbma: string): void {
    this.native.peerSet(this.handle, addr(overlay, 'overlay'), addr(nbma, 'nbma'));
  }

  deletePeer(overlay: string): boolean {
    return this.native.peerDelete(this.handle, addr(overlay, 'overlay'));
  }

  /** Returns how many entries were removed. */
  clearPeers(): number {
    return this.native.peerClear(this.handle);
  }

  peers(): PeerEntry[] {
    return this.native.peerDump(this.handle)
      .sort((a, b) => a.overlay - b.overlay)
      .map((p) => ({ overlay: u32ToIpv4(p.overlay), nbma: u32ToIpv4(p.nbma), txPackets: p.txPackets, txBytes: p.txBytes }));
  }

  /** prefix/length is reached through overlay next hop `nextHop` (null: on-link). */
  setRoute(prefix: string, length: number, nextHop: string | null): void {
    const nh = nextHop === null ? 0 : addr(nextHop, 'nextHop');
    this.native.routeSet(this.handle, prefixU32(prefix, length), length, nh);
  }

  deleteRoute(prefix: string, length: number): boolean {
    return this.native.routeDelete(this.handle, prefixU32(prefix, length), length);
  }

  clearRoutes(): number {
    return this.native.routeClear(this.handle);
  }

  /** Longest prefixes first, then by prefix. */
  routes(): RouteEntry[] {
    return this.native.routeDump(this.handle)
      .sort((a, b) => b.length - a.length || a.prefix - b.prefix)
      .map((r) => ({ prefix: u32ToIpv4(r.prefix), length: r.length, nextHop: r.nextHop === 0 ? null : u32ToIpv4(r.nextHop) }));
  }

  /** What the dataplane would do with a packet to `dst` right now. */
  lookup(dst: string): Resolution {
    const r = this.native.lookup(this.handle, addr(dst, 'dst'));
    if (r.kind === 'peer') return { kind: 'peer', nbma: u32ToIpv4(r.nbma), nextHop: u32ToIpv4(r.nextHop) };
    if (r.kind === 'miss') return { kind: 'miss', nextHop: u32ToIpv4(r.nextHop) };
    return { kind: 'multicast' };
  }

  /**
   * Send `payload` in GRE (with the configured key) to `nbma`: NHRP with
   * protocolType 0x2001. False when the socket buffer is full (counted);
   * throws NativeErrnoError for other failures (no route to the NBMA ...).
   */
  sendGre(nbma: string, protocolType: number, payload: Uint8Array): boolean {
    return this.native.sendGre(this.handle, addr(nbma, 'nbma'), protocolType, payload);
  }

  /** Send `bytes` as the whole IP payload (GRE header included, unchecked). */
  sendRaw(nbma: string, bytes: Uint8Array): boolean {
    return this.native.sendRaw(this.handle, addr(nbma, 'nbma'), bytes);
  }

  /** Deliver an IP packet to the host as if it came out of the tunnel. */
  writeTun(packet: Uint8Array): boolean {
    return this.native.writeTun(this.handle, packet);
  }

  /**
   * Send an overlay IPv4 packet as if it had been read from the TUN (lookup,
   * clamp, encapsulate): for packets JavaScript queued during a resolution.
   * Returns the number of GRE packets sent (0 for a miss without fallback).
   */
  sendInner(packet: Uint8Array): number {
    return this.native.sendInner(this.handle, packet);
  }

  /**
   * ESP for GRE to `nbma` from now on (replaces the SA in place: rekey).
   * Packets queued for a protected peer are sent at once. With `sa.encap` the
   * ESP goes in UDP from the espUdpFd socket to nbma:encap.dstPort (NAT-T;
   * throws ERR_DMVPN_NO_UDP_SOCKET without that socket, RangeError when
   * encap.srcPort is not its port); without, as IP protocol 50 (needs espFd).
   * Switching a peer between the two is another setOutboundSa.
   */
  setOutboundSa(nbma: string, sa: EspSa): void {
    this.native.espSetOutbound(this.handle, addr(nbma, 'nbma'), toRawSa(sa.spi, sa));
  }

  /** GRE to `nbma` goes in the clear again (or is queued, if the peer is protected). */
  deleteOutboundSa(nbma: string): boolean {
    return this.native.espDeleteOutbound(this.handle, addr(nbma, 'nbma'));
  }

  /** ESP received with this SPI is verified and decrypted with `sa` (fresh 1024-packet replay window). */
  setInboundSa(spi: number, sa: EspSaKeys): void {
    this.native.espSetInbound(this.handle, toRawSa(spi, sa));
  }

  deleteInboundSa(spi: number): boolean {
    return this.native.espDeleteInbound(this.handle, spi);
  }

  /**
   * A protected peer never gets clear GRE: without an SA its packets wait (32 at
   * most, 2 s) for setOutboundSa(). Turning protection off drops what waits.
   */
  setProtected(nbma: string, on: boolean): void {
    this.native.espSetProtected(this.handle, addr(nbma, 'nbma'), on);
  }

  /** Per-SA counters (`show crypto ipsec sa`). */
  saStats(): SaStats {
    return fromRawSaStats(this.native.espStats(this.handle));
  }

  /** Send `bytes` as the whole ESP payload (SPI onwards), unchecked: for tests and tooling. */
  sendEspRaw(nbma: string, bytes: Uint8Array): boolean {
    return this.native.espSendRaw(this.handle, addr(nbma, 'nbma'), bytes);
  }

  /**
   * Send an IKE message to dst:dstPort from the UDP-encapsulation socket,
   * behind the non-ESP marker (RFC 3948 section 2.2; the 4 zero octets are
   * added here). False when the socket buffer is full (counted); throws
   * NativeErrnoError on other failures, ERR_DMVPN_NO_UDP_SOCKET without espUdpFd.
   */
  sendIke(dst: string, dstPort: number, payload: Uint8Array): boolean {
    return this.native.espSendIke(this.handle, addr(dst, 'dst'), dstPort, payload);
  }

  /**
   * Send a NAT-keepalive (the single octet 0xFF, RFC 3948 section 2.3) to
   * dst:dstPort from the UDP-encapsulation socket. The peer behind a NAT sends
   * these (IOS: `crypto isakmp nat keepalive`) so its mapping stays.
   */
  sendNatKeepalive(dst: string, dstPort: number): boolean {
    return this.native.espSendNatKeepalive(this.handle, addr(dst, 'dst'), dstPort);
  }

  stats(): DataplaneStats {
    const raw = this.native.stats(this.handle);
    const out: Record<string, number> = {};
    for (const k of COUNTER_NAMES) out[k] = raw[k] ?? 0;
    return out as DataplaneStats;
  }

  /**
   * True when the TUN was moved to the virtio header with TCP segmentation and
   * checksum offload (src/tun_io.cc): the kernel hands over TCP super-packets,
   * split here before GRE/ESP, and decapsulated TCP is merged per flow on the
   * way back in. DMVPN_TUN_OFFLOAD=0 in the environment keeps the plain TUN.
   */
  tunOffload(): boolean {
    return this.native.tunOffload(this.handle);
  }

  /** Keep the Node process alive while open (the default). */
  ref(): this {
    this.native.ref(this.handle, true);
    return this;
  }

  unref(): this {
    this.native.ref(this.handle, false);
    return this;
  }

  /** Stop the thread, close the TUN and the socket, release the callback. Idempotent. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.native.close(this.handle);
  }
}

/** bench.esp's result: packets done, wall-clock and calling-thread CPU nanoseconds. */
export interface EspBenchResult {
  readonly packets: number;
  readonly wallNs: number;
  readonly cpuNs: number;
}

/** Benchmark helpers (scripts/bench-dataplane.ts); not used by the daemon. */
export const bench = {
  /** Start a native UDP flood to dst:port for durationMs; join() returns datagrams sent. */
  flood(dst: string, port: number, size: number, durationMs: number, src?: string): { join(): number } {
    const native = loadNative();
    const h = native.benchFloodStart(addr(dst, 'dst'), port, size, durationMs, src === undefined ? undefined : addr(src, 'src'));
    return { join: () => native.benchFloodJoin(h) };
  },
  /** TUN read + GRE send with no lookup for durationMs (blocks); returns packets sent. */
  baseline(tunFd: number, greFd: number, nbma: string, durationMs: number): number {
    return loadNative().benchBaseline(tunFd, greFd, addr(nbma, 'nbma'), durationMs);
  },
  /** Nanoseconds for `rounds` lookups of every address in `dsts` (host order). */
  resolve(dp: Dataplane, dsts: Uint32Array, rounds: number): number {
    return loadNative().benchResolve(handleOf(dp), dsts, rounds);
  },
  /**
   * ESP of one SA in a tight loop on the calling thread for durationMs (blocks):
   * "seal" as the dataplane seals a GRE packet of `size` bytes for a peer
   * (sequence, IV, copy, Sa::seal), "open" as it opens one (Sa::open with the
   * replay check). Returns packets done and the wall-clock and thread CPU time.
   */
  esp(cipher: EspCipher, integrity: EspIntegrity | undefined, op: 'seal' | 'open', size: number, durationMs: number): EspBenchResult {
    return loadNative().benchEsp(cipher, integrity, op, size, durationMs);
  },
};

function handleOf(dp: Dataplane): NativeHandle {
  const h = handles.get(dp);
  if (!h) throw new TypeError('not a Dataplane');
  return h;
}
