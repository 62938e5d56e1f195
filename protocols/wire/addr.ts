import { WireError } from './error.js';

/** Dotted-quad text of 4 bytes (the common NBMA / protocol address form). */
export function ipv4ToString(b: Uint8Array, at = 0): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/** Dotted quad to a 32-bit number; one pass over the characters (it runs per packet). */
export function ipv4ToU32(s: string): number {
  let v = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) throw new WireError('ipv4', `bad address "${s}"`, 0);
    } else if (c === 46 && digits > 0 && dots < 3) {
      v = v * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else {
      throw new WireError('ipv4', `bad address "${s}"`, 0);
    }
  }
  if (dots !== 3 || digits === 0) throw new WireError('ipv4', `bad address "${s}"`, 0);
  return (v * 256 + part) >>> 0;
}

export function u32ToIpv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

export function ipv4Bytes(s: string): Uint8Array {
  const v = ipv4ToU32(s);
  return Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}

export function isIpv4(s: string): boolean {
  try {
    ipv4ToU32(s);
    return true;
  } catch {
    return false;
  }
}

/** Text form of an address of any length: IPv4 dotted, IPv6 (16 bytes) colon, else hex. */
export function addrToString(b: Uint8Array): string {
  if (b.length === 4) return ipv4ToString(b);
  if (b.length === 16) {
    const parts: string[] = [];
    for (let i = 0; i < 16; i += 2) parts.push(((b[i] << 8) | b[i + 1]).toString(16));
    return parts.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
  }
  return toHex(b);
}

export function toHex(b: Uint8Array): string {
  if (b.length === 0) return '';
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function fromHex(s: string): Uint8Array {
  if (s.length === 0) return new Uint8Array(0);
  const clean = s.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new WireError('hex', 'bad hex string', 0);
  return new Uint8Array(Buffer.from(clean, 'hex'));
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
