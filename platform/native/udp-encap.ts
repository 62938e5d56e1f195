/**
 * The kernel dataplane's UDP 4500 socket for NAT traversal (RFC 3948), from the
 * addon (src/udp_encap.cc). The socket has UDP_ENCAP_ESPINUDP set, so the kernel
 * takes ESP in UDP arriving on it straight to xfrm (whose inbound state must
 * carry the same encapsulation) and consumes NAT-keepalives; what is left for
 * the socket is IKE behind the non-ESP marker, handed to `onIke` without the
 * marker. Outbound ESP in UDP is the xfrm state's own (its encap ports); this
 * socket sends IKE (the marker added here) and NAT-keepalives.
 *
 * Polled on Node's event loop; closing it (or the environment ending, as a
 * worker does) stops delivery at once.
 */
import { ipv4ToU32, isIpv4, u32ToIpv4 } from '../../protocols/wire/index.js';
import { loadNative, type NativeBinding, type NativeUdpEncapHandle, type RawUdpEncapStats } from './binding.js';
import type { NativeErrnoError } from './index.js';

/** UDP port of NAT traversal (RFC 3948 section 1: IKE floats there, ESP in UDP shares it). */
export const NATT_UDP_PORT = 4500;

export type UdpEncapStats = RawUdpEncapStats;

export interface UdpEncapSocketOptions {
  /** The tunnel source: the address the socket binds. */
  readonly local: string;
  /** Default 4500; 0 binds an ephemeral port (tests). */
  readonly port?: number;
  /** SO_BINDTODEVICE, e.g. the `tunnel source` interface. */
  readonly device?: string;
  /** An IKE message that came behind the non-ESP marker (removed), with its source as received. */
  readonly onIke: (message: Uint8Array, src: string, srcPort: number) => void;
  /** Receive errors (an ICMP error queued on the socket, for one). */
  readonly onError?: (err: NativeErrnoError) => void;
}

function address(a: string, what: string): number {
  if (!isIpv4(a)) throw Object.assign(new TypeError(`${what} must be a dotted IPv4 address, got ${JSON.stringify(a)}`), { code: 'ERR_INVALID_ADDRESS' });
  return ipv4ToU32(a);
}

export class UdpEncapSocket {
  private closed = false;

  private constructor(
    private readonly native: NativeBinding,
    private readonly handle: NativeUdpEncapHandle,
    readonly local: string,
    /** The bound port (the one asked for, or the ephemeral one given). */
    readonly port: number,
  ) {}

  /** Bind and set UDP_ENCAP. Throws a NativeErrnoError (EADDRINUSE, EADDRNOTAVAIL, ENOPROTOOPT without xfrm). */
  static open(o: UdpEncapSocketOptions): UdpEncapSocket {
    const native = loadNative();
    const onIke = o.onIke;
    if (typeof onIke !== 'function') throw Object.assign(new TypeError('onIke must be a function'), { code: 'ERR_INVALID_ARG_TYPE' });
    const r = native.udpEncapOpen(address(o.local, 'local'), o.port ?? NATT_UDP_PORT, o.device,
      (message, src, srcPort) => onIke(message, u32ToIpv4(src), srcPort), o.onError);
    return new UdpEncapSocket(native, r.handle, o.local, r.port);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * An IKE message (header onwards) to dst:dstPort behind the non-ESP marker. False when the
   * socket buffer is full (counted in txFull). Throws a NativeErrnoError for other send errors
   * (EBADF once closed) and a RangeError for something shorter than an IKE header.
   */
  sendIke(dst: string, dstPort: number, message: Uint8Array): boolean {
    return this.native.udpEncapSendIke(this.handle, address(dst, 'dst'), dstPort, message);
  }

  /** A NAT-keepalive (the single octet 0xFF, RFC 3948 section 2.3) to dst:dstPort. */
  sendKeepalive(dst: string, dstPort: number): boolean {
    return this.native.udpEncapSendKeepalive(this.handle, address(dst, 'dst'), dstPort);
  }

  /** Counters since open; still readable after close. */
  stats(): UdpEncapStats {
    return this.native.udpEncapStats(this.handle);
  }

  /** Stop receiving and release the port; safe to call more than once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.udpEncapClose(this.handle);
  }
}
