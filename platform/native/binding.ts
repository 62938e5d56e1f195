/**
 * The raw shape of the compiled addon (platform/native/src/*.cc) and its loader.
 * Addresses cross the boundary as IPv4 in host order (uint32 numbers); the
 * facade in index.ts turns them into dotted strings. Nothing here is `any`:
 * the module object is checked for every function before it is trusted.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Opaque handle to a native dataplane (an N-API external). */
export interface NativeHandle {
  readonly __brand: 'dmvpn-dataplane';
}
/** Opaque handle to a raw IP socket (rawsock.cc). */
export interface NativeRawHandle {
  readonly __brand: 'dmvpn-raw';
}
/** Opaque handle to an AF_PACKET socket (packet_socket.cc). */
export interface NativePacketHandle {
  readonly __brand: 'dmvpn-packet';
}
/** What packetOpen returns: the handle and the device as af_packet reports it. */
export interface RawPacketOpen {
  readonly handle: NativePacketHandle;
  readonly ifindex: number;
  /** ARPHRD_* of the device (1 Ethernet, 778 ip_gre). */
  readonly hardwareType: number;
  /** The device's own link-layer address (its local NBMA address on ip_gre). */
  readonly address: Uint8Array;
}
/** An errno error of a packet socket, naming its device. */
export interface RawPacketError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly device: string;
}
/** Counters of one packet socket (rxDrops: the kernel's receive-queue drops). */
export interface RawPacketStats {
  readonly rxPackets: number;
  readonly rxBytes: number;
  readonly rxDrops: number;
  readonly rxTruncated: number;
  readonly txPackets: number;
  readonly txBytes: number;
  readonly txFull: number;
  readonly txErrors: number;
}
/** Opaque handle to the kernel dataplane's UDP-encapsulation socket (udp_encap.cc). */
export interface NativeUdpEncapHandle {
  readonly __brand: 'dmvpn-udpencap';
}
/** Counters of one UDP-encapsulation socket. */
export interface RawUdpEncapStats {
  readonly ikeRx: number;
  readonly ikeTx: number;
  readonly keepaliveRx: number;
  readonly keepaliveTx: number;
  readonly rxShort: number;
  readonly rxOther: number;
  readonly rxTruncated: number;
  readonly txFull: number;
  readonly txErrors: number;
}
/** Opaque handle to a benchmark flood thread. */
export interface NativeFloodHandle {
  readonly __brand: 'dmvpn-flood';
}

export interface RawConfig {
  key?: number | null;
  localNbma?: number;
  ttl?: number;
  tos?: number;
  mtu?: number;
  mssClamp?: number;
  redirect?: boolean;
  hairpinDirect?: boolean;
  reportMulticast?: boolean;
  handUpProtocol?: number;
  fallbackNbma?: number;
  missIntervalMs?: number;
  redirectIntervalMs?: number;
  multicastNbma?: number[];
}

export interface RawResolvedConfig {
  readonly key: number | null;
  readonly localNbma: number;
  readonly ttl: number;
  readonly tos: number;
  readonly mtu: number;
  readonly mssClamp: number;
  readonly redirect: boolean;
  readonly hairpinDirect: boolean;
  readonly reportMulticast: boolean;
  readonly handUpProtocol: number;
  readonly fallbackNbma: number;
  readonly missIntervalMs: number;
  readonly redirectIntervalMs: number;
  readonly multicastNbma: readonly number[];
}

export type RawEvent =
  | {
      readonly kind: 'gre';
      readonly srcNbma: number;
      readonly dstNbma: number;
      readonly protocolType: number;
      readonly flags: number;
      readonly key?: number;
      /** Present when the GRE came in UDP-encapsulated ESP: the outer UDP source port. */
      readonly srcPort?: number;
      readonly packet: Uint8Array;
    }
  | { readonly kind: 'miss'; readonly dst: number; readonly nextHop: number; readonly packet: Uint8Array }
  | { readonly kind: 'multicast'; readonly dst: number; readonly src: number; readonly packet: Uint8Array }
  | {
      readonly kind: 'redirect';
      readonly srcNbma: number;
      readonly dstNbma: number;
      readonly src: number;
      readonly dst: number;
      readonly packet: Uint8Array;
    }
  /** IKE on the UDP-encapsulation socket; packet is the message after the non-ESP marker. */
  | { readonly kind: 'ike'; readonly src: number; readonly srcPort: number; readonly packet: Uint8Array };

export interface RawPeer {
  readonly overlay: number;
  readonly nbma: number;
  readonly txPackets: number;
  readonly txBytes: number;
}
export interface RawRoute {
  readonly prefix: number;
  readonly length: number;
  readonly nextHop: number;
}
export interface RawResolution {
  readonly kind: 'peer' | 'miss' | 'multicast';
  readonly nbma: number;
  readonly nextHop: number;
}

/** Exactly the functions the addon exports (src/addon.cc, ops.cc, bench.cc). */
export interface NativeBinding {
  version(): string;
  openTun(name: string, mtu?: number): { fd: number; name: string };
  openGreSocket(local: number, device: string | undefined, sndbuf: number | undefined, rcvbuf: number | undefined): number;
  closeFd(fd: number): void;
  create(tunFd: number, greFd: number, config: RawConfig, onEvents: (events: RawEvent[]) => void): NativeHandle;
  start(h: NativeHandle): void;
  close(h: NativeHandle): void;
  ref(h: NativeHandle, on: boolean): void;
  configure(h: NativeHandle, config: RawConfig): void;
  getConfig(h: NativeHandle): RawResolvedConfig;
  peerSet(h: NativeHandle, overlay: number, nbma: number): void;
  peerDelete(h: NativeHandle, overlay: number): boolean;
  peerClear(h: NativeHandle): number;
  peerDump(h: NativeHandle): RawPeer[];
  routeSet(h: NativeHandle, prefix: number, length: number, nextHop: number): void;
  routeDelete(h: NativeHandle, prefix: number, length: number): boolean;
  routeClear(h: NativeHandle): number;
  routeDump(h: NativeHandle): RawRoute[];
  lookup(h: NativeHandle, dst: number): RawResolution;
  sendGre(h: NativeHandle, nbma: number, protocolType: number, payload: Uint8Array): boolean;
  sendRaw(h: NativeHandle, nbma: number, bytes: Uint8Array): boolean;
  writeTun(h: NativeHandle, packet: Uint8Array): boolean;
  sendInner(h: NativeHandle, packet: Uint8Array): number;
  stats(h: NativeHandle): Record<string, number>;
  counterNames(): string[];
  benchFloodStart(dst: number, port: number, size: number, durationMs: number, src: number | undefined): NativeFloodHandle;
  benchFloodJoin(f: NativeFloodHandle): number;
  benchBaseline(tunFd: number, greFd: number, nbma: number, durationMs: number): number;
  benchResolve(h: NativeHandle, dsts: Uint32Array, rounds: number): number;
  benchEsp(cipher: string, integrity: string | undefined, op: 'seal' | 'open', size: number, durationMs: number): RawEspBenchResult;
  rawOpen(protocol: number, device: string, groups: readonly string[], ttl: number, onPacket: (datagram: Uint8Array, from: string) => void): NativeRawHandle;
  rawSend(h: NativeRawHandle, dst: number, payload: Uint8Array): boolean;
  rawClose(h: NativeRawHandle): void;
  packetOpen(
    device: string, protocol: number, rcvbuf: number | undefined,
    onPacket: (payload: Uint8Array, from: Uint8Array, protocol: number, pktType: number) => void,
    onError: ((err: RawPacketError) => void) | undefined,
  ): RawPacketOpen;
  packetSend(h: NativePacketHandle, to: Uint8Array, payload: Uint8Array, protocol: number): boolean;
  packetSendMany(h: NativePacketHandle, to: readonly Uint8Array[], payload: Uint8Array, protocol: number): number;
  packetStats(h: NativePacketHandle): RawPacketStats;
  packetState(h: NativePacketHandle): 'up' | 'down' | 'closed';
  packetClose(h: NativePacketHandle): void;
  udpEncapOpen(
    local: number, port: number, device: string | undefined,
    onIke: (message: Uint8Array, src: number, srcPort: number) => void,
    onError: ((err: Error & { readonly code: string; readonly errno: number; readonly syscall: string }) => void) | undefined,
  ): { handle: NativeUdpEncapHandle; port: number };
  udpEncapSendIke(h: NativeUdpEncapHandle, dst: number, dstPort: number, message: Uint8Array): boolean;
  udpEncapSendKeepalive(h: NativeUdpEncapHandle, dst: number, dstPort: number): boolean;
  udpEncapStats(h: NativeUdpEncapHandle): RawUdpEncapStats;
  udpEncapClose(h: NativeUdpEncapHandle): void;
  openEspSocket(local: number, device: string | undefined, sndbuf: number | undefined, rcvbuf: number | undefined): number;
  espAttach(h: NativeHandle, espFd: number): void;
  espSetOutbound(h: NativeHandle, nbma: number, sa: RawSa): void;
  espDeleteOutbound(h: NativeHandle, nbma: number): boolean;
  espSetInbound(h: NativeHandle, sa: RawSa): void;
  espDeleteInbound(h: NativeHandle, spi: number): boolean;
  espSetProtected(h: NativeHandle, nbma: number, on: boolean): void;
  espStats(h: NativeHandle): RawSaStats;
  espSendRaw(h: NativeHandle, nbma: number, bytes: Uint8Array): boolean;
  espSeal(sa: RawSa, seq: number, iv: Uint8Array, payload: Uint8Array): Uint8Array;
  espOpen(sa: RawSa, packet: Uint8Array): RawEspOpenResult;
  /** Test hook: the explicit IVs of the next `count` packets of a fresh outbound SA, back to back. */
  espIvs(sa: RawSa, count: number): Uint8Array;
  /** True when the dataplane's TUN carries the virtio header with offloads (src/tun_io.cc). */
  tunOffload(h: NativeHandle): boolean;
  /** Test hook: the packets one TUN read (virtio header + packet) turns into; null when dropped. */
  offloadSplit(vnetHdr: Uint8Array, packet: Uint8Array): Uint8Array[] | null;
  /** Test hook: the TUN writes (virtio header + packet) for one receive batch of packets. */
  offloadMerge(packets: Uint8Array[]): { vnet: Uint8Array; packet: Uint8Array }[];
  openUdpEncapSocket(local: number, port: number | undefined, device: string | undefined, sndbuf: number | undefined, rcvbuf: number | undefined): number;
  espUdpAttach(h: NativeHandle, espUdpFd: number): void;
  espSendIke(h: NativeHandle, dst: number, dstPort: number, payload: Uint8Array): boolean;
  espSendNatKeepalive(h: NativeHandle, dst: number, dstPort: number): boolean;
}

/** An ESP SA as src/esp_ops.cc parses it (see esp.ts for the meaning of each field). */
export interface RawSa {
  spi: number;
  cipher: string;
  integrity?: string;
  key: Uint8Array;
  authKey?: Uint8Array;
  esn?: boolean;
  seq?: number;
  /** Outbound only: ESP-in-UDP (RFC 3948). */
  encap?: { srcPort: number; dstPort: number };
}
export interface RawSaRow {
  readonly spi: number;
  readonly cipher: string;
  readonly integrity?: string;
  readonly esn: boolean;
  readonly packets: number;
  readonly bytes: number;
  readonly seq: number;
  readonly nbma?: number;
  readonly replayDrops?: number;
  readonly authFailures?: number;
  readonly encapSrcPort?: number;
  readonly encapDstPort?: number;
  readonly natSrc?: number;
  readonly natSrcPort?: number;
}
export interface RawSaStats {
  readonly outbound: readonly RawSaRow[];
  readonly inbound: readonly RawSaRow[];
  readonly protected: readonly { readonly nbma: number; readonly queued: number }[];
}
/** bench.cc benchEsp: packets done, and the wall-clock and calling-thread CPU time they took. */
export interface RawEspBenchResult {
  readonly packets: number;
  readonly wallNs: number;
  readonly cpuNs: number;
}
export interface RawEspOpenResult {
  readonly status: string;
  readonly payload?: Uint8Array;
}

const FUNCTIONS: readonly (keyof NativeBinding)[] = [
  'version', 'openTun', 'openGreSocket', 'closeFd', 'create', 'start', 'close', 'ref', 'configure', 'getConfig',
  'peerSet', 'peerDelete', 'peerClear', 'peerDump', 'routeSet', 'routeDelete', 'routeClear', 'routeDump', 'lookup',
  'sendGre', 'sendRaw', 'writeTun', 'sendInner', 'stats', 'counterNames',
  'benchFloodStart', 'benchFloodJoin', 'benchBaseline', 'benchResolve', 'benchEsp', 'rawOpen', 'rawSend', 'rawClose',
  'openEspSocket', 'espAttach', 'espSetOutbound', 'espDeleteOutbound', 'espSetInbound', 'espDeleteInbound',
  'espSetProtected', 'espStats', 'espSendRaw', 'espSeal', 'espOpen', 'espIvs',
  'tunOffload', 'offloadSplit', 'offloadMerge',
  'openUdpEncapSocket', 'espUdpAttach', 'espSendIke', 'espSendNatKeepalive',
  'packetOpen', 'packetSend', 'packetSendMany', 'packetStats', 'packetState', 'packetClose',
  'udpEncapOpen', 'udpEncapSendIke', 'udpEncapSendKeepalive', 'udpEncapStats', 'udpEncapClose',
];

/** The addon is missing or is not the one this facade was written for. */
export class NativeLoadError extends Error {
  readonly code = 'ERR_DMVPN_NATIVE';
  constructor(message: string, readonly tried: readonly string[]) {
    super(message);
    this.name = 'NativeLoadError';
  }
}

/** Where the compiled addon may be, first match wins. */
export function addonCandidates(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  const out: string[] = [];
  if (process.env.DMVPN_NATIVE_ADDON) out.push(resolve(process.env.DMVPN_NATIVE_ADDON));
  // Run from the source tree, or compiled to dist/platform/native/.
  out.push(resolve(here, 'build', 'Release', 'dmvpn_native.node'));
  out.push(resolve(here, '..', '..', '..', 'platform', 'native', 'build', 'Release', 'dmvpn_native.node'));
  return out;
}

function isBinding(m: unknown): m is NativeBinding {
  if (typeof m !== 'object' || m === null) return false;
  const rec = m as Record<string, unknown>;
  return FUNCTIONS.every((f) => typeof rec[f] === 'function');
}

let cached: NativeBinding | undefined;

/** Load (once) and check the addon; throws NativeLoadError naming the paths tried. */
export function loadNative(): NativeBinding {
  if (cached) return cached;
  const tried = addonCandidates();
  const path = tried.find((p) => existsSync(p));
  if (!path) {
    throw new NativeLoadError(`native addon not built (run npm run build:native); looked in ${tried.join(', ')}`, tried);
  }
  const mod: unknown = createRequire(import.meta.url)(path);
  if (!isBinding(mod)) {
    const rec: Record<string, unknown> = typeof mod === 'object' && mod !== null ? (mod as Record<string, unknown>) : {};
    const missing = FUNCTIONS.filter((f) => typeof rec[f] !== 'function');
    throw new NativeLoadError(`${path} is not the dmvpn dataplane addon (missing ${missing.join(', ')})`, tried);
  }
  cached = mod;
  return mod;
}
