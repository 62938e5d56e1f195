/**
 * EIGRP numbers: opcodes, header flags, TLV types and the flag fields inside
 * TLVs. RFC 7868 (Cisco's EIGRP) is the reference; where the RFC is silent the
 * values follow what Cisco IOS sends and what Wireshark's and FRR's decoders
 * expect.
 */

/** The only header version in use (RFC 7868 section 6.5: "Version 2"). */
export const EIGRP_VERSION = 2;

/** Fixed header length in bytes (RFC 7868 section 6.5). */
export const EIGRP_HEADER_LENGTH = 20;

/** TLV header: 16-bit type, 16-bit length that counts the header (RFC 7868 section 6.6). */
export const EIGRP_TLV_HEADER_LENGTH = 4;

/** 224.0.0.10, where multicast Hellos, Updates and Queries go (RFC 7868). */
export const EIGRP_MULTICAST_IPV4 = '224.0.0.10';

/**
 * Header opcodes, RFC 7868 section 6.5. There is no ACK opcode on the wire:
 * an ACK is a HELLO with no TLVs and a nonzero acknowledgment number
 * (RFC 7868 section 5; see isAck in build.ts).
 */
export const EigrpOpcode = {
  UPDATE: 1,
  REQUEST: 2,
  QUERY: 3,
  REPLY: 4,
  HELLO: 5,
  /** IPX SAP, obsolete; kept so its name shows in logs. */
  IPX_SAP: 6,
  PROBE: 7,
  SIA_QUERY: 10,
  SIA_REPLY: 11,
} as const;

export function eigrpOpcodeName(op: number): string {
  for (const [k, v] of Object.entries(EigrpOpcode)) if (v === op) return k;
  return `opcode-${op}`;
}

/** Header flag bits (RFC 7868 section 6.5). */
export const EigrpFlag = {
  /** Initialization: first unicast Update to a new neighbour; asks for its full table. */
  INIT: 0x01,
  /** Conditional Receive: accept only after a Hello whose Sequence TLV did not list us. */
  CR: 0x02,
  /** Restart: NSF signalling in Hello and the init Update. */
  RS: 0x04,
  /** End of Table: the start-up Updates to a new peer are complete. */
  EOT: 0x08,
} as const;

/** Names of the set flag bits, e.g. ['INIT', 'EOT']; unknown bits as hex. */
export function eigrpFlagNames(flags: number): string[] {
  const out: string[] = [];
  let rest = flags >>> 0;
  for (const [k, v] of Object.entries(EigrpFlag)) {
    if (rest & v) {
      out.push(k);
      rest &= ~v;
    }
  }
  if (rest) out.push(`0x${(rest >>> 0).toString(16)}`);
  return out;
}

/**
 * TLV types. The high byte is the protocol range (0x00 general, 0x01 IPv4
 * classic, 0x04 IPv6 classic, 0x06 multi-protocol "wide"), the low byte the
 * kind (RFC 7868 section 6.6.1).
 */
export const EigrpTlvType = {
  /** RFC 7868 section 6.7.1: K1-K6 and hold time. */
  PARAMETERS: 0x0001,
  /** RFC 7868 section 6.7.2: MD5 or HMAC-SHA-256 digest. */
  AUTHENTICATION: 0x0002,
  /** RFC 7868 section 6.7.3: peers that must not accept the next CR multicast. */
  SEQUENCE: 0x0003,
  /** RFC 7868 section 6.7.4: release and TLV version. */
  SOFTWARE_VERSION: 0x0004,
  /** RFC 7868 section 6.7.5: sequence number of the next multicast. */
  NEXT_MULTICAST_SEQUENCE: 0x0005,
  /** RFC 7868 section 6.7.6: stub routing flags. */
  STUB: 0x0006,
  /** RFC 7868 section 6.7.7: graceful peer termination. */
  PEER_TERMINATION: 0x0007,
  /** RFC 7868 section 6.7.8: multi-topology ID list (kept raw). */
  PEER_TID_LIST: 0x0008,
  IPV4_REQUEST: 0x0101,
  /** RFC 7868 section 6.8.5: classic IPv4 internal route. */
  IPV4_INTERNAL: 0x0102,
  /** RFC 7868 section 6.8.5: classic IPv4 external route. */
  IPV4_EXTERNAL: 0x0103,
  IPV4_COMMUNITY: 0x0104,
  /** RFC 7868 section 6.8.6 (kept raw). */
  IPV6_INTERNAL: 0x0402,
  IPV6_EXTERNAL: 0x0403,
  IPV6_COMMUNITY: 0x0404,
  MP_REQUEST: 0x0601,
  /** RFC 7868 section 6.9.6: multi-protocol (wide metric) internal route. */
  MP_INTERNAL: 0x0602,
  /** RFC 7868 section 6.9.6: multi-protocol (wide metric) external route. */
  MP_EXTERNAL: 0x0603,
  MP_COMMUNITY: 0x0604,
} as const;

export function eigrpTlvName(type: number): string {
  for (const [k, v] of Object.entries(EigrpTlvType)) if (v === type) return k;
  return `tlv-0x${type.toString(16).padStart(4, '0')}`;
}

/** Stub flags carried in the Peer Stub Information TLV (RFC 7868 section 6.7.6). */
export const EigrpStubFlag = {
  CONNECTED: 0x0001,
  STATIC: 0x0002,
  SUMMARY: 0x0004,
  REDISTRIBUTED: 0x0008,
  LEAK_MAP: 0x0010,
  RECEIVE_ONLY: 0x0020,
} as const;

export function eigrpStubFlagNames(flags: number): string[] {
  return Object.entries(EigrpStubFlag).filter(([, v]) => flags & v).map(([k]) => k);
}

/** Route flags in the metric of route TLVs (RFC 7868 section 6.8.1). */
export const EigrpRouteFlag = {
  SOURCE_WITHDRAW: 0x01,
  CANDIDATE_DEFAULT: 0x02,
  ACTIVE: 0x04,
  /** Replicated from another table (Wireshark's "Route is Replicated"). */
  REPLICATED: 0x08,
} as const;

/** Flags of the external data block (RFC 7868 section 6.8.3). */
export const EigrpExternalFlag = {
  EXTERNAL: 0x01,
  CANDIDATE_DEFAULT: 0x02,
} as const;

/** Originating protocol of an external route (RFC 7868 section 6.8.3). */
export const EigrpExternalProtocol = {
  IGRP: 1,
  EIGRP: 2,
  STATIC: 3,
  RIP: 4,
  HELLO: 5,
  OSPF: 6,
  ISIS: 7,
  EGP: 8,
  BGP: 9,
  IDRP: 10,
  CONNECTED: 11,
} as const;

export function eigrpExternalProtocolName(p: number): string {
  for (const [k, v] of Object.entries(EigrpExternalProtocol)) if (v === p) return k;
  return `protocol-${p}`;
}

/** Authentication types of the Authentication TLV (RFC 7868 section 6.7.2). */
export const EigrpAuthType = {
  MD5: 2,
  SHA256: 3,
} as const;

/** Digest lengths by authentication type. */
export const EIGRP_AUTH_DIGEST_LENGTH: Readonly<Record<number, number>> = { 2: 16, 3: 32 };

/** IANA address family numbers in multi-protocol TLVs (RFC 7868 section 6.9.1). */
export const EigrpAfi = {
  IPV4: 1,
  IPV6: 2,
} as const;

/**
 * K-values that announce a graceful shutdown ("goodbye"): K1-K5 all 255
 * (RFC 7868 section 6.7.1). IOS leaves K6 at 0, as EIGRP_goodbye.pcap shows.
 */
export const EIGRP_GOODBYE_K = 255;

/** Classic metric: a delay of all ones means unreachable (RFC 7868 section 6.8.2). */
export const EIGRP_CLASSIC_INFINITY = 0xffffffff;

/** Wide metric: a 48-bit delay or bandwidth of all ones means unreachable (RFC 7868 section 6.9.2). */
export const EIGRP_WIDE_INFINITY = 0xffffffffffffn;
