/**
 * NHRP extensions (RFC 2332 section 5.3):
 *
 *   |C|u|        Type               |        Length                 |
 *   |                         Value...                              |
 *
 * The list runs from ar$extoff to ar$pktsz. The End extension (type 0) is kept
 * as an ordinary element of the list, because IOS sends it with the C bit set
 * (0x8000) and anything after it must survive too; builders append it.
 * Extensions that carry CIEs (Responder Address 3, Forward/Reverse Transit NHS
 * records 4/5, Cisco NAT Address 9) are parsed into CIEs when their value is a
 * whole number of CIEs; otherwise, like every unknown type, the value is kept raw
 * and re-encoded as received. There is no padding between extensions: IOS sends
 * the 9-byte "CISCO" authentication value as is (ios_nhrp.pcap).
 */
import { Reader, Writer, WireError, bytesEqual } from '../wire/index.js';
import {
  NhrpExtensionType, NhrpAuthType, NHRP_EXTENSION_COMPULSORY, NHRP_EXTENSION_TYPE_MASK,
  NHRP_EXTENSION_HEADER_LENGTH, CISCO_PASSWORD_MAX,
} from './constants.js';
import { type NhrpCie, parseCieList, cieListLength, emitCieList } from './cie.js';

interface ExtensionBase {
  /** Type without the C bit (the u bit, if ever set, stays here). */
  readonly type: number;
  /** The C bit: a receiver that does not know the type must reject the packet. */
  readonly compulsory: boolean;
}

/** Responder Address (3), Forward (4) and Reverse (5) Transit NHS record, Cisco NAT Address (9). */
export interface NhrpCieExtension extends ExtensionBase {
  readonly kind: 'cies';
  readonly cies: readonly NhrpCie[];
}

/**
 * Authentication (7). RFC 2332 section 5.3.4 names the first 4 bytes Reserved and
 * SPI; Cisco and FRR read them as one 32-bit type, 1 = cleartext, followed by the
 * password. Both readings keep the same bytes.
 */
export interface NhrpAuthExtension extends ExtensionBase {
  readonly kind: 'auth';
  readonly authType: number;
  readonly data: Uint8Array;
}

/** Vendor-Private (8, RFC 2332 section 5.3.5): a 24-bit IEEE OUI, then vendor data. */
export interface NhrpVendorExtension extends ExtensionBase {
  readonly kind: 'vendor';
  readonly vendorId: number;
  readonly data: Uint8Array;
}

/** End (0), unknown types, and known types whose value did not have their form. */
export interface NhrpRawExtension extends ExtensionBase {
  readonly kind: 'raw';
  readonly value: Uint8Array;
}

export type NhrpExtension = NhrpCieExtension | NhrpAuthExtension | NhrpVendorExtension | NhrpRawExtension;

function carriesCies(type: number): boolean {
  return (
    type === NhrpExtensionType.RESPONDER_ADDRESS ||
    type === NhrpExtensionType.FORWARD_TRANSIT_NHS ||
    type === NhrpExtensionType.REVERSE_TRANSIT_NHS ||
    type === NhrpExtensionType.NAT_ADDRESS
  );
}

function valueLength(e: NhrpExtension): number {
  switch (e.kind) {
    case 'cies':
      return cieListLength(e.cies);
    case 'auth':
      return 4 + e.data.length;
    case 'vendor':
      return 3 + e.data.length;
    case 'raw':
      return e.value.length;
  }
}

export function extensionLength(e: NhrpExtension): number {
  return NHRP_EXTENSION_HEADER_LENGTH + valueLength(e);
}

export function parseExtension(r: Reader): NhrpExtension {
  r.need(NHRP_EXTENSION_HEADER_LENGTH, 'truncated extension header');
  const word = r.u16();
  const len = r.u16();
  r.need(len, 'extension value runs past ar$pktsz');
  // A window over the value that keeps the parent's origin, so error offsets stay packet offsets.
  const v = new Reader(r.buf, r.protocol, r.start, r.pos + len);
  v.pos = r.pos;
  r.pos += len;
  const type = word & NHRP_EXTENSION_TYPE_MASK;
  const compulsory = (word & NHRP_EXTENSION_COMPULSORY) !== 0;
  if (carriesCies(type)) {
    const at = v.pos;
    try {
      return { kind: 'cies', type, compulsory, cies: parseCieList(v) };
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      // Not a list of CIEs (e.g. RFC 2735's 8-byte Device Capabilities also uses 9): keep it raw.
      v.pos = at;
    }
  } else if (type === NhrpExtensionType.AUTHENTICATION && len >= 4) {
    return { kind: 'auth', type, compulsory, authType: v.u32(), data: v.rest() };
  } else if (type === NhrpExtensionType.VENDOR_PRIVATE && len >= 3) {
    return { kind: 'vendor', type, compulsory, vendorId: v.u24(), data: v.rest() };
  }
  return { kind: 'raw', type, compulsory, value: v.rest() };
}

export function emitExtension(e: NhrpExtension, w: Writer): void {
  const len = valueLength(e);
  if (len > 0xffff) throw new WireError('nhrp', `extension value of ${len} bytes exceeds 65535`, w.pos);
  w.u16((e.compulsory ? NHRP_EXTENSION_COMPULSORY : 0) | (e.type & NHRP_EXTENSION_TYPE_MASK));
  w.u16(len);
  switch (e.kind) {
    case 'cies':
      emitCieList(e.cies, w);
      break;
    case 'auth':
      w.u32(e.authType).bytes(e.data);
      break;
    case 'vendor':
      w.u24(e.vendorId).bytes(e.data);
      break;
    case 'raw':
      w.bytes(e.value);
      break;
  }
}

/** Extensions until the end of the reader's window (ar$pktsz). */
export function parseExtensionList(r: Reader): NhrpExtension[] {
  const out: NhrpExtension[] = [];
  while (r.remaining > 0) out.push(parseExtension(r));
  return out;
}

export function extensionListLength(list: readonly NhrpExtension[]): number {
  let n = 0;
  for (const e of list) n += extensionLength(e);
  return n;
}

export function emitExtensionList(list: readonly NhrpExtension[], w: Writer): void {
  for (const e of list) emitExtension(e, w);
}

// ---- builders and accessors for the protocol engine ----

/** End of Extensions with the C bit set, as IOS sends it (0x8000 0x0000). */
export function endExtension(compulsory = true): NhrpRawExtension {
  return { kind: 'raw', type: NhrpExtensionType.END, compulsory, value: new Uint8Array(0) };
}

export function cieExtension(type: number, cies: readonly NhrpCie[] = [], compulsory = true): NhrpCieExtension {
  return { kind: 'cies', type, compulsory, cies };
}

/** Password bytes as IOS takes them from the config: one byte per character (latin1). */
export function passwordBytes(password: string | Uint8Array): Uint8Array {
  if (password instanceof Uint8Array) return password;
  const out = new Uint8Array(password.length);
  for (let i = 0; i < password.length; i++) {
    const c = password.charCodeAt(i);
    if (c > 0xff) throw new WireError('nhrp', 'password has a character outside latin1', i);
    out[i] = c;
  }
  return out;
}

/** Cisco cleartext authentication (compulsory, type 1, password of at most 8 bytes). */
export function cleartextAuthExtension(password: string | Uint8Array): NhrpAuthExtension {
  const data = passwordBytes(password);
  if (data.length > CISCO_PASSWORD_MAX) {
    throw new WireError('nhrp', `cleartext password is ${data.length} bytes; IOS allows at most ${CISCO_PASSWORD_MAX}`, 0);
  }
  return { kind: 'auth', type: NhrpExtensionType.AUTHENTICATION, compulsory: true, authType: NhrpAuthType.CLEARTEXT, data };
}

/** The first extension of a type, if any. */
export function findExtension(list: readonly NhrpExtension[] | undefined, type: number): NhrpExtension | undefined {
  return list?.find((e) => e.type === type);
}

/** CIEs of the first extension of a type that parsed as CIEs. */
export function extensionCies(list: readonly NhrpExtension[] | undefined, type: number): readonly NhrpCie[] | undefined {
  const e = findExtension(list, type);
  return e?.kind === 'cies' ? e.cies : undefined;
}

/** Replace the first extension of the same type, or insert before End (append if there is none). */
export function setExtension(list: readonly NhrpExtension[] | undefined, ext: NhrpExtension): NhrpExtension[] {
  const out = [...(list ?? [])];
  const same = out.findIndex((e) => e.type === ext.type);
  if (same >= 0) {
    out[same] = ext;
    return out;
  }
  const end = out.findIndex((e) => e.type === NhrpExtensionType.END);
  out.splice(end >= 0 ? end : out.length, 0, ext);
  return out;
}

/** The cleartext password of a Cisco authentication extension (latin1), or undefined. */
export function cleartextPassword(list: readonly NhrpExtension[] | undefined): string | undefined {
  const e = findExtension(list, NhrpExtensionType.AUTHENTICATION);
  if (e?.kind !== 'auth' || e.authType !== NhrpAuthType.CLEARTEXT) return undefined;
  let s = '';
  for (const b of e.data) s += String.fromCharCode(b);
  return s;
}

/** True when the packet carries a cleartext authentication extension with exactly this password. */
export function passwordMatches(list: readonly NhrpExtension[] | undefined, password: string | Uint8Array): boolean {
  const e = findExtension(list, NhrpExtensionType.AUTHENTICATION);
  return e?.kind === 'auth' && e.authType === NhrpAuthType.CLEARTEXT && bytesEqual(e.data, passwordBytes(password));
}
