import { WireError } from './error.js';

/** Dotted-quad text of 4 bytes (the common NBMA / protocol address form). */
export function ipv4ToString(b: Uint8Array, at = 0): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

export function ipv4ToU32(s: string): number {
  const p = s.split('.');
  if (p.length !== 4) throw new WireError('ipv4', `bad address "${s}"`, 0);
  let v = 0;
  for (const part of p) {
    if (!/^\d{1,3}$/.test(part)) throw new WireError('ipv4', `bad address "${s}"`, 0);
    const n = Number(part);
    if (n > 255) throw new WireError('ipv4', `bad address "${s}"`, 0);
    v = v * 256 + n;
  }
  return v >>> 0;
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
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function fromHex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new WireError('hex', 'bad hex string', 0);
  return new Uint8Array(Buffer.from(clean, 'hex'));
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
