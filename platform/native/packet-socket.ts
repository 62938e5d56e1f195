/**
 * An AF_PACKET datagram socket on one device for one link-layer protocol,
 * polled on Node's event loop by the addon (src/packet_socket.cc). The kernel
 * dataplane sends and receives NHRP with it (protocol type 0x2001 over an
 * ip_gre multipoint device, as IOS and FRR nhrpd do), and replicates overlay
 * multicast as unicast IPv4 (0x0800) to each NBMA address.
 *
 * Link-layer addresses are the device's own kind: on ip_gre the 4-byte NBMA
 * IPv4 address (the kernel adds outer IPv4 + GRE with the device's key, and a
 * received packet's `from` is the sender's NBMA address); on Ethernet/veth a
 * 6-byte MAC. `addressLength` says which.
 *
 * The device going down is reported through onError (code ENETDOWN; receiving
 * resumes by itself when it is up again); the device going away (deleted, or
 * moved to another namespace) is reported once as ENODEV and closes the socket.
 */
import { loadNative, type NativeBinding, type NativePacketHandle, type RawPacketStats } from './binding.js';
import type { NativeErrnoError } from './index.js';

/** Ethertypes the daemon uses (IEEE registry; 0x2001 is what Cisco puts in GRE for NHRP). */
export const ETHERTYPE = {
  IPV4: 0x0800,
  NHRP: 0x2001,
} as const;

/** Device hardware types (linux/if_arp.h ARPHRD_*) the tests and the daemon meet. */
export const ARPHRD = {
  ETHER: 1,
  IPGRE: 778,
  LOOPBACK: 772,
  NONE: 0xfffe,
} as const;

/** sll_pkttype of a received packet, in the kernel's order (PACKET_HOST = 0 ...). */
export const PACKET_TYPES = ['host', 'broadcast', 'multicast', 'otherhost', 'outgoing'] as const;
export type PacketType = (typeof PACKET_TYPES)[number];

/** An error from the socket's system calls; `device` names the interface. */
export interface PacketSocketError extends NativeErrnoError {
  readonly device: string;
}

export type PacketSocketStats = RawPacketStats;

/** 'down': the device is down (nothing arrives, sends fail); 'closed': closed, or the device is gone. */
export type PacketSocketState = 'up' | 'down' | 'closed';

export interface PacketSocketOptions {
  /** The device to bind, e.g. the ip_gre multipoint device "gre1". */
  readonly device: string;
  /** The link-layer protocol received, and sent by default: 0x2001 for NHRP. */
  readonly protocol: number;
  /** SO_RCVBUF(FORCE) in bytes; default the kernel's. */
  readonly rcvbuf?: number;
  /** Each received packet: payload, sender's link-layer address, its protocol and packet type. */
  readonly onPacket: (payload: Uint8Array, from: Uint8Array, protocol: number, pktType: PacketType) => void;
  /** Device down (ENETDOWN), device gone (ENODEV, the socket is then closed), other receive errors. */
  readonly onError?: (err: PacketSocketError) => void;
}

export class PacketSocket {
  private closed = false;

  private constructor(
    private readonly native: NativeBinding,
    private readonly handle: NativePacketHandle,
    readonly device: string,
    /** The bound protocol (host order). */
    readonly protocol: number,
    readonly ifindex: number,
    /** ARPHRD_* of the device. */
    readonly hardwareType: number,
    /** The device's own link-layer address (on ip_gre: its local NBMA address). */
    readonly address: Uint8Array,
  ) {}

  /** Bind to `device` for `protocol`. Throws a PacketSocketError (ENODEV for an unknown device, EPERM without CAP_NET_RAW). */
  static open(o: PacketSocketOptions): PacketSocket {
    const native = loadNative();
    const onPacket = o.onPacket;
    if (typeof onPacket !== 'function') {
      throw Object.assign(new TypeError('onPacket must be a function'), { code: 'ERR_INVALID_ARG_TYPE' });
    }
    const r = native.packetOpen(o.device, o.protocol, o.rcvbuf, (payload, from, protocol, type) => {
      onPacket(payload, from, protocol, PACKET_TYPES[type] ?? 'host');
    }, o.onError);
    return new PacketSocket(native, r.handle, o.device, o.protocol, r.ifindex, r.hardwareType, r.address);
  }

  /** Bytes in a link-layer address of this device (4 on ip_gre, 6 on Ethernet). */
  get addressLength(): number {
    return this.address.length;
  }

  get state(): PacketSocketState {
    return this.closed ? 'closed' : this.native.packetState(this.handle);
  }

  /**
   * Send one packet to `to` (exactly addressLength bytes) as `protocol` (default: the bound one).
   * False when the socket buffer is full (counted in txFull). Throws RangeError ERR_INVALID_ADDRESS
   * for an address of the wrong length, a PacketSocketError for EMSGSIZE (larger than the MTU),
   * ENETDOWN, ENXIO (device gone) or EBADF (closed).
   */
  send(to: Uint8Array, payload: Uint8Array, protocol: number = this.protocol): boolean {
    return this.native.packetSend(this.handle, to, payload, protocol);
  }

  /**
   * The same packet to each address in one sendmmsg batch (multicast replicated as unicast).
   * Returns how many were sent: fewer when the buffer filled (the rest counted in txFull). Every
   * address is checked first; an error before anything was sent throws as for send().
   */
  sendMany(to: readonly Uint8Array[], payload: Uint8Array, protocol: number = this.protocol): number {
    return this.native.packetSendMany(this.handle, to, payload, protocol);
  }

  /** Counters since open; still readable after close. */
  stats(): PacketSocketStats {
    return this.native.packetStats(this.handle);
  }

  /** Stop receiving and release the socket; safe to call more than once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.packetClose(this.handle);
  }
}
