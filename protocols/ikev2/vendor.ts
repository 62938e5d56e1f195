/**
 * Vendor ID recognition (RFC 7296 section 3.12: the content is whatever the
 * vendor chose; a receiver that does not recognise it ignores it).
 *
 * Cisco IOS sends its VIDs as plain ASCII: "CISCO-DELETE-REASON" (it will put
 * a reason in its Delete notifications), the 2009 copyright string (marks an
 * IOS peer), "CISCO-GRE-MODE" followed by one octet (0x02 from a GRE
 * tunnel-protection / DMVPN profile, as in the IOS-to-IOS IKE_SA_INIT captures),
 * "CISCO-DYNAMIC-ROUTE" and "FLEXVPN-SUPPORTED"; plus the FRAGMENTATION VID
 * (an MD5-looking constant that Cisco's VPN 3000 introduced and strongSwan also
 * sends, sometimes with extra octets after it). strongSwan's own VID is
 * MD5("strongSwan"); libreswan and Openswan send 12 octets beginning "OE".
 * The table follows the VID lists in strongSwan's ike_vendor.c and libreswan's
 * vendor.c. The IKEv1-era ones are included because they show up on the same
 * ports and naming them makes a capture readable.
 */
import { fromHex, bytesEqual } from '../wire/index.js';

interface KnownVid {
  readonly name: string;
  readonly bytes: Uint8Array;
  /** 'prefix': the VID starts with `bytes` and may carry more octets (reported in `detail`). */
  readonly match: 'exact' | 'prefix';
}

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** The VIDs Cisco IOS sends, as octets, so the daemon can send the same set. */
export const CiscoVendorId = {
  DELETE_REASON: ascii('CISCO-DELETE-REASON'),
  COPYRIGHT: ascii('CISCO(COPYRIGHT)&Copyright (c) 2009 Cisco Systems, Inc.'),
  /** With the 0x02 octet IOS appends for a GRE (DMVPN / tunnel protection) profile. */
  GRE_MODE: Uint8Array.of(...ascii('CISCO-GRE-MODE'), 0x02),
  DYNAMIC_ROUTE: ascii('CISCO-DYNAMIC-ROUTE'),
  FLEXVPN_SUPPORTED: ascii('FLEXVPN-SUPPORTED'),
  FRAGMENTATION: fromHex('4048b7d56ebce88525e7de7f00d6c2d3'),
} as const;

/** The VIDs an IOS DMVPN spoke puts in its IKE_SA_INIT, in its order (FRAGMENTATION goes last, after the notifies). */
export const CISCO_SA_INIT_VENDOR_IDS: readonly Uint8Array[] = [
  CiscoVendorId.DELETE_REASON,
  CiscoVendorId.COPYRIGHT,
  CiscoVendorId.GRE_MODE,
];

const KNOWN: readonly KnownVid[] = [
  { name: 'CISCO-DELETE-REASON', bytes: CiscoVendorId.DELETE_REASON, match: 'exact' },
  { name: 'CISCO(COPYRIGHT)', bytes: CiscoVendorId.COPYRIGHT, match: 'exact' },
  { name: 'CISCO-GRE-MODE', bytes: ascii('CISCO-GRE-MODE'), match: 'prefix' },
  { name: 'CISCO-DYNAMIC-ROUTE', bytes: CiscoVendorId.DYNAMIC_ROUTE, match: 'exact' },
  { name: 'FLEXVPN-SUPPORTED', bytes: CiscoVendorId.FLEXVPN_SUPPORTED, match: 'exact' },
  { name: 'FRAGMENTATION', bytes: CiscoVendorId.FRAGMENTATION, match: 'prefix' },
  /** MD5("strongSwan") */
  { name: 'strongSwan', bytes: fromHex('882fe56d6fd20dbc2251613b2ebe5beb'), match: 'exact' },
  /** Windows: 16 octets then a 4-octet version */
  { name: 'MS NT5 ISAKMPOAKLEY', bytes: fromHex('1e2b516905991c7d7c96fcbfb587e461'), match: 'prefix' },
  /** MD5("CISCO-UNITY") with the last two octets replaced by the version (IKEv1 remote access) */
  { name: 'Cisco-Unity', bytes: fromHex('12f5f28c457168a9702d9fe274cc'), match: 'prefix' },
  /** RFC 3706 Dead Peer Detection (IKEv1) */
  { name: 'DPD', bytes: fromHex('afcad71368a1f1c96b8696fc77570100'), match: 'exact' },
  /** MD5("RFC 3947"): IKEv1 NAT traversal */
  { name: 'RFC 3947', bytes: fromHex('4a131c81070358455c5728f20e95452f'), match: 'exact' },
  { name: 'draft-ietf-ipsec-nat-t-ike-02', bytes: fromHex('cd60464335df21f87cfdb2fc68b6a448'), match: 'exact' },
  { name: 'draft-ietf-ipsec-nat-t-ike-02\\n', bytes: fromHex('90cb80913ebb696e086381b5ec427b1f'), match: 'exact' },
  { name: 'draft-ietf-ipsec-nat-t-ike-03', bytes: fromHex('7d9419a65310ca6f2c179d9215529d56'), match: 'exact' },
];

export interface VendorIdInfo {
  readonly name: string;
  /** Octets after a prefix match, in hex (e.g. "02" after CISCO-GRE-MODE). */
  readonly detail?: string;
}

function startsWith(data: Uint8Array, prefix: Uint8Array): boolean {
  if (data.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (data[i] !== prefix[i]) return false;
  return true;
}

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** Recognise a Vendor ID payload's data; undefined for one this table does not know. */
export function recognizeVendorId(data: Uint8Array): VendorIdInfo | undefined {
  for (const k of KNOWN) {
    if (k.match === 'exact' ? bytesEqual(data, k.bytes) : startsWith(data, k.bytes)) {
      const extra = data.subarray(k.bytes.length);
      return extra.length > 0 ? { name: k.name, detail: hex(extra) } : { name: k.name };
    }
  }
  // libreswan / Openswan: "OE" and ten printable characters derived from the build (libreswan vendor.c).
  if (data.length === 12 && data[0] === 0x4f && data[1] === 0x45 && data.every((c) => (c >= 0x20 && c < 0x7f) || c === 0x0a)) {
    return { name: 'Openswan/libreswan' };
  }
  return undefined;
}

/** The name of a known Vendor ID, or undefined. */
export function vendorIdName(data: Uint8Array): string | undefined {
  return recognizeVendorId(data)?.name;
}

/** A name for logs in every case: the known name, printable ASCII in quotes, else hex. */
export function vendorIdLabel(data: Uint8Array): string {
  const k = recognizeVendorId(data);
  if (k) return k.detail ? `${k.name} (${k.detail})` : k.name;
  if (data.length > 0 && data.every((c) => c >= 0x20 && c < 0x7f)) return `"${String.fromCharCode(...data)}"`;
  return hex(data);
}
