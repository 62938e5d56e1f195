/**
 * A raw IPv4 socket for one protocol on one interface, polled on Node's event
 * loop by the addon (src/rawsock.cc): what EIGRP uses on LAN interfaces. The
 * kernel builds the IP header (TTL as given, precedence 6); received datagrams
 * arrive whole, IP header included.
 */
import { isIpv4, ipv4ToU32 } from '../../protocols/wire/index.js';
import { loadNative, type NativeRawHandle } from './binding.js';

export interface RawIpSocketOptions {
  readonly protocol: number;
  readonly device: string;
  /** Multicast groups to join on the device, e.g. ["224.0.0.10"]. */
  readonly groups?: readonly string[];
  /** Unicast and multicast TTL (EIGRP: 2, as IOS sends it). */
  readonly ttl?: number;
  readonly onPacket: (datagram: Uint8Array, from: string) => void;
}

export class RawIpSocket {
  private closed = false;
  private constructor(private readonly handle: NativeRawHandle, readonly device: string, readonly protocol: number) {}

  static open(o: RawIpSocketOptions): RawIpSocket {
    const h = loadNative().rawOpen(o.protocol, o.device, o.groups ?? [], o.ttl ?? 2, o.onPacket);
    return new RawIpSocket(h, o.device, o.protocol);
  }

  /** False when the socket buffer is full (the caller counts it and retries later). */
  send(dst: string, payload: Uint8Array): boolean {
    if (!isIpv4(dst)) throw Object.assign(new TypeError(`dst must be a dotted IPv4 address, got ${JSON.stringify(dst)}`), { code: 'ERR_INVALID_ADDRESS' });
    return loadNative().rawSend(this.handle, ipv4ToU32(dst), payload);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    loadNative().rawClose(this.handle);
  }
}
