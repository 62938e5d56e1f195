/**
 * NHRP numbers: RFC 2332 (NBMA Next Hop Resolution Protocol) plus the Cisco
 * additions that DMVPN uses (draft-detienne-dmvpn: Traffic Indication, the NAT
 * flag and the NAT Address extension). Every table has a name function for logs.
 */

/** Size of the fixed header (RFC 2332 section 5.1): ar$afn .. ar$sstl. */
export const NHRP_FIXED_HEADER_LENGTH = 20;
/** Size of a Client Information Entry before its addresses (RFC 2332 section 5.2.0.1). */
export const NHRP_CIE_HEADER_LENGTH = 12;
/** Size of an extension header: C|u|Type and Length (RFC 2332 section 5.3). */
export const NHRP_EXTENSION_HEADER_LENGTH = 4;

/** ar$op.version (RFC 2332 section 5.1): 1 is NHRP as RFC 2332 defines it (0 is MARS). */
export const NHRP_VERSION = 1;

/** ar$afn values seen in NHRP over GRE (IANA address family numbers, RFC 2332 section 5.1). */
export const NhrpAfn = {
  IPV4: 1,
  IPV6: 2,
} as const;

/** ar$pro.type for the protocols carried over DMVPN (EtherType form, RFC 2332 section 5.1). */
export const NhrpProtocolType = {
  IPV4: 0x0800,
  IPV6: 0x86dd,
} as const;

/**
 * ar$op.type (RFC 2332 section 5.1 and the IANA registry); 8 is Cisco's Traffic
 * Indication (draft-detienne-dmvpn-01, Figure 4).
 */
export const NhrpPacketType = {
  RESOLUTION_REQUEST: 1,
  RESOLUTION_REPLY: 2,
  REGISTRATION_REQUEST: 3,
  REGISTRATION_REPLY: 4,
  PURGE_REQUEST: 5,
  PURGE_REPLY: 6,
  ERROR_INDICATION: 7,
  TRAFFIC_INDICATION: 8,
} as const;

const packetTypeNames: Record<number, string> = {
  1: 'resolution request',
  2: 'resolution reply',
  3: 'registration request',
  4: 'registration reply',
  5: 'purge request',
  6: 'purge reply',
  7: 'error indication',
  8: 'traffic indication',
};

export function nhrpPacketTypeName(t: number): string {
  return packetTypeNames[t] ?? `type ${t}`;
}

/**
 * Flags of Resolution Request/Reply (RFC 2332 sections 5.2.1 and 5.2.2).
 * NAT (0x0002) is Cisco's: the sender can handle NAT and understands the NAT
 * Address extension; IOS and FRR set it (seen as 0xc802/0xf802 in nhrp-trace.pcap).
 */
export const ResolutionFlag = {
  /** Q: the requester is a router (clear for a host). */
  Q: 0x8000,
  /** A: authoritative information only (request) / the answer is authoritative (reply). */
  A: 0x4000,
  /** D: the destination's binding is stable (reply). */
  D: 0x2000,
  /** U: uniqueness, only a CIE registered as unique answers. */
  U: 0x1000,
  /** S: the source's binding is stable. */
  S: 0x0800,
  /** Cisco: NAT capable. */
  NAT: 0x0002,
} as const;

/**
 * Flags of Registration Request/Reply (RFC 2332 sections 5.2.3 and 5.2.4).
 * IOS sends 0x8002: unique plus Cisco's NAT bit.
 */
export const RegistrationFlag = {
  /** U: the registration is unique; a later registration of the same address with another NBMA fails (code 14). */
  U: 0x8000,
  /** Cisco: NAT capable. */
  NAT: 0x0002,
} as const;

/** Flags of Purge Request/Reply (RFC 2332 sections 5.2.5 and 5.2.6). */
export const PurgeFlag = {
  /** N: no reply is wanted. */
  N: 0x8000,
  /** Cisco: NAT capable (Wireshark decodes it here too). */
  NAT: 0x0002,
} as const;

/**
 * Error Indication codes, exactly as RFC 2332 section 5.2.7 numbers them.
 * (OpenNHRP and FRR nhrpd define Loop Detected as 2; the RFC says 3.)
 */
export const NhrpErrorCode = {
  UNRECOGNIZED_EXTENSION: 1,
  LOOP_DETECTED: 3,
  PROTOCOL_ADDRESS_UNREACHABLE: 6,
  PROTOCOL_ERROR: 7,
  SDU_SIZE_EXCEEDED: 8,
  INVALID_EXTENSION: 9,
  INVALID_RESOLUTION_REPLY: 10,
  AUTHENTICATION_FAILURE: 11,
  HOP_COUNT_EXCEEDED: 15,
} as const;

const errorCodeNames: Record<number, string> = {
  1: 'unrecognized extension',
  3: 'NHRP loop detected',
  6: 'protocol address unreachable',
  7: 'protocol error',
  8: 'NHRP SDU size exceeded',
  9: 'invalid extension',
  10: 'invalid NHRP resolution reply received',
  11: 'authentication failure',
  15: 'hop count exceeded',
};

export function errorCodeName(c: number): string {
  return errorCodeNames[c] ?? `error ${c}`;
}

/**
 * CIE codes (RFC 2332 section 5.2.0.1: "in general a NAK code"), values from
 * sections 5.2.2 (resolution reply: 0, 4, 5, 12, 13) and 5.2.4 (registration
 * reply: 0, 4, 5, 14). FRR nhrpd and OpenNHRP define "no binding" as 11;
 * Wireshark and the RFC use 12.
 */
export const NhrpCieCode = {
  SUCCESS: 0,
  ADMINISTRATIVELY_PROHIBITED: 4,
  INSUFFICIENT_RESOURCES: 5,
  NO_BINDING_EXISTS: 12,
  BINDING_NOT_UNIQUE: 13,
  ALREADY_REGISTERED: 14,
} as const;

const cieCodeNames: Record<number, string> = {
  0: 'success',
  4: 'administratively prohibited',
  5: 'insufficient resources',
  12: 'no internetworking layer address to NBMA address binding exists',
  13: 'binding exists but is not unique',
  14: 'unique internetworking layer address already registered',
};

export function cieCodeName(c: number): string {
  return cieCodeNames[c] ?? `code ${c}`;
}

/**
 * Extension types (RFC 2332 section 5.3; the C bit is separate, see COMPULSORY).
 * 9 is Cisco's NAT Address extension, which carries CIEs (FRR nhrpd, Wireshark);
 * RFC 2735 reused 9 for Device Capabilities (8 bytes), which this codec keeps raw.
 */
export const NhrpExtensionType = {
  END: 0,
  RESPONDER_ADDRESS: 3,
  FORWARD_TRANSIT_NHS: 4,
  REVERSE_TRANSIT_NHS: 5,
  AUTHENTICATION: 7,
  VENDOR_PRIVATE: 8,
  NAT_ADDRESS: 9,
} as const;

/** The C (compulsory) bit of an extension's type word (RFC 2332 section 5.3). */
export const NHRP_EXTENSION_COMPULSORY = 0x8000;
/** Type bits of the type word: everything but C. The u bit (0x4000) stays part of the type so it re-encodes. */
export const NHRP_EXTENSION_TYPE_MASK = 0x7fff;

const extensionTypeNames: Record<number, string> = {
  0: 'end',
  3: 'responder address',
  4: 'forward transit NHS record',
  5: 'reverse transit NHS record',
  7: 'authentication',
  8: 'vendor private',
  9: 'NAT address',
};

export function extensionTypeName(t: number): string {
  return extensionTypeNames[t] ?? `extension ${t}`;
}

/** Traffic codes of the Traffic Indication (draft-detienne-dmvpn-01, Figure 4). */
export const NhrpTrafficCode = {
  /** "NHRP Traffic Redirect/Indirection": a better path may exist. */
  REDIRECT: 0,
} as const;

export function trafficCodeName(c: number): string {
  return c === NhrpTrafficCode.REDIRECT ? 'redirect' : `traffic code ${c}`;
}

/**
 * Authentication extension types as Cisco and FRR read the first 4 bytes of the
 * extension (RFC 2332 section 5.3.4 calls them Reserved and SPI).
 */
export const NhrpAuthType = {
  /** Cleartext password, at most 8 bytes ("ip nhrp authentication"). */
  CLEARTEXT: 1,
} as const;

/** Longest cleartext password IOS accepts. */
export const CISCO_PASSWORD_MAX = 8;

/**
 * CIE MTU values IOS puts in registrations: 17916 on a tunnel without a key and
 * 17912 with a GRE key (4 bytes less), as NHRP_registration.pcap and nhrp.pcapng show.
 */
export const CiscoCieMtu = {
  NO_KEY: 17916,
  WITH_KEY: 17912,
} as const;

/** Registration holding time IOS uses by default (seconds; "ip nhrp holdtime"). */
export const CISCO_DEFAULT_HOLDING_TIME = 7200;

/** Hop count IOS sends (it drops NHRP packets with hop count 0). */
export const CISCO_HOP_COUNT = 255;
