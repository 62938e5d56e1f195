/**
 * IKEv2 registries (IANA "Internet Key Exchange Version 2 (IKEv2) Parameters"),
 * as `as const` tables with a name function each for logs and show commands.
 * Values come from RFC 7296 section 3 and the RFCs that extended the registries
 * (cited per entry where they are not RFC 7296).
 */

function nameIn(table: Readonly<Record<string, number>>, v: number, fallback: string): string {
  for (const [k, x] of Object.entries(table)) if (x === v) return k;
  return fallback;
}

/** Exchange types, RFC 7296 section 3.1. */
export const ExchangeType = {
  IKE_SA_INIT: 34,
  IKE_AUTH: 35,
  CREATE_CHILD_SA: 36,
  INFORMATIONAL: 37,
  /** RFC 5723 */
  IKE_SESSION_RESUME: 38,
  /** RFC 9242 */
  IKE_INTERMEDIATE: 43,
  /** RFC 9370 */
  IKE_FOLLOWUP_KE: 44,
} as const;

export function exchangeTypeName(v: number): string {
  return nameIn(ExchangeType, v, `EXCHANGE-${v}`);
}

/** Header flag bits, RFC 7296 section 3.1 (bit 3 = I, bit 4 = V, bit 5 = R of the flags octet). */
export const IkeFlag = {
  /** Set in messages sent by the original initiator of the IKE SA. */
  INITIATOR: 0x08,
  /** The sender can speak a higher major version than the one in the header. */
  VERSION: 0x10,
  /** The message is a response to a message with the same message ID. */
  RESPONSE: 0x20,
} as const;

/** Payload types, RFC 7296 section 3.2 (0 = no next payload). */
export const PayloadType = {
  NONE: 0,
  SA: 33,
  KE: 34,
  IDi: 35,
  IDr: 36,
  CERT: 37,
  CERTREQ: 38,
  AUTH: 39,
  NONCE: 40,
  NOTIFY: 41,
  DELETE: 42,
  VENDOR_ID: 43,
  TSi: 44,
  TSr: 45,
  /** Encrypted and Authenticated, section 3.14 */
  SK: 46,
  CP: 47,
  EAP: 48,
  /** RFC 6467 */
  GSPM: 49,
  /** RFC 7383 section 2.5: Encrypted and Authenticated Fragment */
  SKF: 53,
  /** RFC 8019: Puzzle Solution */
  PS: 54,
} as const;

export function payloadTypeName(v: number): string {
  return nameIn(PayloadType, v, `PAYLOAD-${v}`);
}

/** Protocol IDs of proposals, notifies and deletes, RFC 7296 section 3.3.1. */
export const ProtocolId = {
  /** Used by Notify when the notification is not about an SA (the SPI is empty). */
  NONE: 0,
  IKE: 1,
  AH: 2,
  ESP: 3,
} as const;

export function protocolIdName(v: number): string {
  return nameIn(ProtocolId, v, `PROTO-${v}`);
}

/** Transform types, RFC 7296 section 3.3.2. */
export const TransformType = {
  ENCR: 1,
  PRF: 2,
  INTEG: 3,
  /** Diffie-Hellman group (renamed Key Exchange Method by RFC 9370) */
  DH: 4,
  /** Extended Sequence Numbers */
  ESN: 5,
} as const;

export function transformTypeName(v: number): string {
  return nameIn(TransformType, v, `TRANSFORM-${v}`);
}

/** Transform type 1 IDs (encryption), RFC 7296 section 3.3.2 and the IANA registry. */
export const EncrId = {
  ENCR_DES_IV64: 1,
  ENCR_DES: 2,
  ENCR_3DES: 3,
  ENCR_RC5: 4,
  ENCR_IDEA: 5,
  ENCR_CAST: 6,
  ENCR_BLOWFISH: 7,
  ENCR_3IDEA: 8,
  ENCR_DES_IV32: 9,
  ENCR_NULL: 11,
  /** RFC 3602; needs the Key Length attribute */
  ENCR_AES_CBC: 12,
  /** RFC 3686 */
  ENCR_AES_CTR: 13,
  /** RFC 4309 */
  ENCR_AES_CCM_8: 14,
  ENCR_AES_CCM_12: 15,
  ENCR_AES_CCM_16: 16,
  /** RFC 4106 */
  ENCR_AES_GCM_8: 18,
  ENCR_AES_GCM_12: 19,
  ENCR_AES_GCM_16: 20,
  /** RFC 4543 */
  ENCR_NULL_AUTH_AES_GMAC: 21,
  /** RFC 5529 */
  ENCR_CAMELLIA_CBC: 23,
  ENCR_CAMELLIA_CTR: 24,
  ENCR_CAMELLIA_CCM_8: 25,
  ENCR_CAMELLIA_CCM_12: 26,
  ENCR_CAMELLIA_CCM_16: 27,
  /** RFC 7634 */
  ENCR_CHACHA20_POLY1305: 28,
} as const;

/** Transform type 2 IDs (pseudorandom function). */
export const PrfId = {
  PRF_HMAC_MD5: 1,
  PRF_HMAC_SHA1: 2,
  PRF_HMAC_TIGER: 3,
  /** RFC 4434 */
  PRF_AES128_XCBC: 4,
  /** RFC 4868 */
  PRF_HMAC_SHA2_256: 5,
  PRF_HMAC_SHA2_384: 6,
  PRF_HMAC_SHA2_512: 7,
  /** RFC 4615 */
  PRF_AES128_CMAC: 8,
} as const;

/** Transform type 3 IDs (integrity). */
export const IntegId = {
  NONE: 0,
  AUTH_HMAC_MD5_96: 1,
  AUTH_HMAC_SHA1_96: 2,
  AUTH_DES_MAC: 3,
  AUTH_KPDK_MD5: 4,
  AUTH_AES_XCBC_96: 5,
  AUTH_HMAC_MD5_128: 6,
  AUTH_HMAC_SHA1_160: 7,
  AUTH_AES_CMAC_96: 8,
  AUTH_AES_128_GMAC: 9,
  AUTH_AES_192_GMAC: 10,
  AUTH_AES_256_GMAC: 11,
  /** RFC 4868 */
  AUTH_HMAC_SHA2_256_128: 12,
  AUTH_HMAC_SHA2_384_192: 13,
  AUTH_HMAC_SHA2_512_256: 14,
} as const;

/** Transform type 4 IDs (Diffie-Hellman groups). */
export const DhGroup = {
  NONE: 0,
  /** RFC 2409 */
  MODP_768: 1,
  MODP_1024: 2,
  /** RFC 3526 */
  MODP_1536: 5,
  MODP_2048: 14,
  MODP_3072: 15,
  MODP_4096: 16,
  MODP_6144: 17,
  MODP_8192: 18,
  /** RFC 5903 */
  ECP_256: 19,
  ECP_384: 20,
  ECP_521: 21,
  /** RFC 5114 */
  MODP_1024_160: 22,
  MODP_2048_224: 23,
  MODP_2048_256: 24,
  ECP_192: 25,
  ECP_224: 26,
  /** RFC 6954 */
  BRAINPOOL_P224: 27,
  BRAINPOOL_P256: 28,
  BRAINPOOL_P384: 29,
  BRAINPOOL_P512: 30,
  /** RFC 8031 */
  CURVE25519: 31,
  CURVE448: 32,
} as const;

/** Transform type 5 IDs. */
export const EsnId = {
  NO_ESN: 0,
  ESN: 1,
} as const;

/** Name of a transform ID within its type, e.g. (1, 12) => "ENCR_AES_CBC". */
export function transformIdName(type: number, id: number): string {
  switch (type) {
    case TransformType.ENCR: return nameIn(EncrId, id, `ENCR-${id}`);
    case TransformType.PRF: return nameIn(PrfId, id, `PRF-${id}`);
    case TransformType.INTEG: return nameIn(IntegId, id, `INTEG-${id}`);
    case TransformType.DH: return nameIn(DhGroup, id, `DH-${id}`);
    case TransformType.ESN: return nameIn(EsnId, id, `ESN-${id}`);
    default: return `${transformTypeName(type)}-${id}`;
  }
}

export function dhGroupName(id: number): string {
  return nameIn(DhGroup, id, `DH-${id}`);
}

/** Transform attribute types, RFC 7296 section 3.3.5 (Key Length is the only one, in TV form). */
export const TransformAttr = {
  KEY_LENGTH: 14,
} as const;

/** Identification types, RFC 7296 section 3.5. */
export const IdType = {
  ID_IPV4_ADDR: 1,
  ID_FQDN: 2,
  ID_RFC822_ADDR: 3,
  ID_IPV6_ADDR: 5,
  ID_DER_ASN1_DN: 9,
  ID_DER_ASN1_GN: 10,
  ID_KEY_ID: 11,
  /** RFC 4595 */
  ID_FC_NAME: 12,
  /** RFC 7619 */
  ID_NULL: 13,
} as const;

export function idTypeName(v: number): string {
  return nameIn(IdType, v, `ID-${v}`);
}

/** Certificate encodings of CERT and CERTREQ, RFC 7296 section 3.6. */
export const CertEncoding = {
  PKCS7_X509: 1,
  PGP: 2,
  DNS_SIGNED_KEY: 3,
  X509_SIGNATURE: 4,
  KERBEROS_TOKEN: 6,
  CRL: 7,
  ARL: 8,
  SPKI: 9,
  X509_ATTRIBUTE: 10,
  RAW_RSA_KEY: 11,
  HASH_URL_X509_CERT: 12,
  HASH_URL_X509_BUNDLE: 13,
  /** RFC 4806 */
  OCSP_CONTENT: 14,
  /** RFC 7670 */
  RAW_PUBLIC_KEY: 15,
} as const;

export function certEncodingName(v: number): string {
  return nameIn(CertEncoding, v, `CERT-${v}`);
}

/** Authentication methods, RFC 7296 section 3.8. */
export const AuthMethod = {
  RSA_SIG: 1,
  /** Shared Key Message Integrity Code: what "authentication pre-share" uses on IOS */
  SHARED_KEY_MIC: 2,
  DSS_SIG: 3,
  /** RFC 4754 */
  ECDSA_SHA256_P256: 9,
  ECDSA_SHA384_P384: 10,
  ECDSA_SHA512_P521: 11,
  /** RFC 6467 */
  GENERIC_SECURE_PASSWORD: 12,
  /** RFC 7619 */
  NULL_AUTH: 13,
  /** RFC 7427 */
  DIGITAL_SIGNATURE: 14,
} as const;

export function authMethodName(v: number): string {
  return nameIn(AuthMethod, v, `AUTH-${v}`);
}

/**
 * Notify message types, RFC 7296 section 3.10.1: 1..16383 are errors,
 * 16384 and up are status types.
 */
export const NotifyType = {
  UNSUPPORTED_CRITICAL_PAYLOAD: 1,
  INVALID_IKE_SPI: 4,
  INVALID_MAJOR_VERSION: 5,
  INVALID_SYNTAX: 7,
  INVALID_MESSAGE_ID: 9,
  INVALID_SPI: 11,
  NO_PROPOSAL_CHOSEN: 14,
  INVALID_KE_PAYLOAD: 17,
  AUTHENTICATION_FAILED: 24,
  SINGLE_PAIR_REQUIRED: 34,
  NO_ADDITIONAL_SAS: 35,
  INTERNAL_ADDRESS_FAILURE: 36,
  FAILED_CP_REQUIRED: 37,
  TS_UNACCEPTABLE: 38,
  INVALID_SELECTORS: 39,
  /** RFC 4555 */
  UNACCEPTABLE_ADDRESSES: 40,
  UNEXPECTED_NAT_DETECTED: 41,
  /** RFC 5026 */
  USE_ASSIGNED_HoA: 42,
  TEMPORARY_FAILURE: 43,
  CHILD_SA_NOT_FOUND: 44,
  /** RFC 6407 */
  INVALID_GROUP_ID: 45,
  AUTHORIZATION_FAILED: 46,

  INITIAL_CONTACT: 16384,
  SET_WINDOW_SIZE: 16385,
  ADDITIONAL_TS_POSSIBLE: 16386,
  IPCOMP_SUPPORTED: 16387,
  NAT_DETECTION_SOURCE_IP: 16388,
  NAT_DETECTION_DESTINATION_IP: 16389,
  COOKIE: 16390,
  USE_TRANSPORT_MODE: 16391,
  HTTP_CERT_LOOKUP_SUPPORTED: 16392,
  REKEY_SA: 16393,
  ESP_TFC_PADDING_NOT_SUPPORTED: 16394,
  NON_FIRST_FRAGMENTS_ALSO: 16395,
  /** RFC 4555 (MOBIKE) */
  MOBIKE_SUPPORTED: 16396,
  ADDITIONAL_IP4_ADDRESS: 16397,
  ADDITIONAL_IP6_ADDRESS: 16398,
  NO_ADDITIONAL_ADDRESSES: 16399,
  UPDATE_SA_ADDRESSES: 16400,
  COOKIE2: 16401,
  NO_NATS_ALLOWED: 16402,
  /** RFC 4478 */
  AUTH_LIFETIME: 16403,
  /** RFC 4739 */
  MULTIPLE_AUTH_SUPPORTED: 16404,
  ANOTHER_AUTH_FOLLOWS: 16405,
  /** RFC 5685 */
  REDIRECT_SUPPORTED: 16406,
  REDIRECT: 16407,
  REDIRECTED_FROM: 16408,
  /** RFC 5723 */
  TICKET_LT_OPAQUE: 16409,
  TICKET_REQUEST: 16410,
  TICKET_ACK: 16411,
  TICKET_NACK: 16412,
  TICKET_OPAQUE: 16413,
  LINK_ID: 16414,
  USE_WESP_MODE: 16415,
  ROHC_SUPPORTED: 16416,
  EAP_ONLY_AUTHENTICATION: 16417,
  /** RFC 6023 */
  CHILDLESS_IKEV2_SUPPORTED: 16418,
  QUICK_CRASH_DETECTION: 16419,
  /** RFC 6311 */
  IKEV2_MESSAGE_ID_SYNC_SUPPORTED: 16420,
  IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED: 16421,
  IKEV2_MESSAGE_ID_SYNC: 16422,
  IPSEC_REPLAY_COUNTER_SYNC: 16423,
  SECURE_PASSWORD_METHODS: 16424,
  PSK_PERSIST: 16425,
  PSK_CONFIRM: 16426,
  ERX_SUPPORTED: 16427,
  IFOM_CAPABILITY: 16428,
  SENDER_REQUEST_ID: 16429,
  /** RFC 7383 section 2.3 */
  IKEV2_FRAGMENTATION_SUPPORTED: 16430,
  /** RFC 7427 section 4 */
  SIGNATURE_HASH_ALGORITHMS: 16431,
  /** RFC 7791 */
  CLONE_IKE_SA_SUPPORTED: 16432,
  CLONE_IKE_SA: 16433,
  /** RFC 8019 */
  PUZZLE: 16434,
  /** RFC 8784 */
  USE_PPK: 16435,
  PPK_IDENTITY: 16436,
  NO_PPK_AUTH: 16437,
  /** RFC 9242 */
  INTERMEDIATE_EXCHANGE_SUPPORTED: 16438,
  /** RFC 8983 */
  IP4_ALLOWED: 16439,
  IP6_ALLOWED: 16440,
  /** RFC 9370 */
  ADDITIONAL_KEY_EXCHANGE: 16441,
  /** RFC 9347 */
  USE_AGGFRAG: 16442,
} as const;

/** First status type; below it a notify reports an error (RFC 7296 section 3.10.1). */
export const NOTIFY_STATUS_BASE = 16384;

export function notifyTypeName(v: number): string {
  return nameIn(NotifyType, v, v < NOTIFY_STATUS_BASE ? `ERROR-${v}` : `STATUS-${v}`);
}

export function isErrorNotify(v: number): boolean {
  return v > 0 && v < NOTIFY_STATUS_BASE;
}

/** Traffic selector types, RFC 7296 section 3.13.1. */
export const TsType = {
  TS_IPV4_ADDR_RANGE: 7,
  TS_IPV6_ADDR_RANGE: 8,
  /** RFC 4595 */
  TS_FC_ADDR_RANGE: 9,
  /** RFC 9478 */
  TS_SECLABEL: 10,
} as const;

export function tsTypeName(v: number): string {
  return nameIn(TsType, v, `TS-${v}`);
}

/** Configuration payload types, RFC 7296 section 3.15. */
export const CfgType = {
  CFG_REQUEST: 1,
  CFG_REPLY: 2,
  CFG_SET: 3,
  CFG_ACK: 4,
} as const;

export function cfgTypeName(v: number): string {
  return nameIn(CfgType, v, `CFG-${v}`);
}

/** Configuration attribute types, RFC 7296 section 3.15.1 and the IANA registry. */
export const CfgAttr = {
  INTERNAL_IP4_ADDRESS: 1,
  INTERNAL_IP4_NETMASK: 2,
  INTERNAL_IP4_DNS: 3,
  INTERNAL_IP4_NBNS: 4,
  INTERNAL_IP4_DHCP: 6,
  APPLICATION_VERSION: 7,
  INTERNAL_IP6_ADDRESS: 8,
  INTERNAL_IP6_DNS: 10,
  INTERNAL_IP6_DHCP: 12,
  INTERNAL_IP4_SUBNET: 13,
  SUPPORTED_ATTRIBUTES: 14,
  INTERNAL_IP6_SUBNET: 15,
  /** RFC 5026 */
  MIP6_HOME_PREFIX: 16,
  /** RFC 5739 */
  INTERNAL_IP6_LINK: 17,
  INTERNAL_IP6_PREFIX: 18,
  /** RFC 8598 */
  INTERNAL_DNS_DOMAIN: 25,
  INTERNAL_DNSSEC_TA: 26,
} as const;

export function cfgAttrName(v: number): string {
  return nameIn(CfgAttr, v, `CFG-ATTR-${v}`);
}
