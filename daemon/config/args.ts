/**
 * Typed arguments of the command templates (the placeholders of Cisco's command
 * reference: A.B.C.D, <1-65535>, WORD, LINE, interface names) and their checks.
 * A check either accepts a token, giving its value, or rejects it as a mismatch
 * (the token is not of this shape at all) or as invalid (right shape, bad value:
 * "1500 is out of range 500-1460"), so the matcher can report the most precise
 * reason.
 */
import { ipv4ToU32, u32ToIpv4 } from '../../protocols/wire/addr.js';
import { Secret } from './secret.js';
import { quote } from './diagnostics.js';

export type ArgType =
  | { readonly kind: 'ipv4' }
  | { readonly kind: 'mask' }
  | { readonly kind: 'wildcard' }
  | { readonly kind: 'number'; readonly min: number; readonly max: number }
  | { readonly kind: 'word' }
  | { readonly kind: 'secret'; readonly maxLength?: number }
  | { readonly kind: 'ifname' }
  | { readonly kind: 'tunnel' }
  | { readonly kind: 'line' };

export type ArgValue = string | number | Secret;

export type ArgCheck =
  | { readonly ok: true; readonly value: ArgValue }
  | { readonly ok: false; readonly invalid: boolean; readonly reason: string };

/** The largest IOS Tunnel interface number. */
export const MAX_TUNNEL_NUMBER = 2147483647;

/** Type names of the DSL (`<A.B.C.D:name>`, `<1-255:name>` ...) to types. */
export function argTypeFromSpec(spec: string): ArgType | undefined {
  const range = /^(\d+)-(\d+)$/.exec(spec);
  if (range) return { kind: 'number', min: Number(range[1]), max: Number(range[2]) };
  const secret = /^SECRET(\d*)$/.exec(spec);
  if (secret) return secret[1] ? { kind: 'secret', maxLength: Number(secret[1]) } : { kind: 'secret' };
  switch (spec) {
    case 'A.B.C.D': return { kind: 'ipv4' };
    case 'MASK': return { kind: 'mask' };
    case 'WILDCARD': return { kind: 'wildcard' };
    case 'WORD': return { kind: 'word' };
    case 'IFNAME': return { kind: 'ifname' };
    case 'TUNNEL': return { kind: 'tunnel' };
    case 'LINE': return { kind: 'line' };
    default: return undefined;
  }
}

/** Specific types (addresses, numbers) win over free-form words when both accept a token. */
export function isStrict(t: ArgType): boolean {
  return t.kind === 'ipv4' || t.kind === 'mask' || t.kind === 'wildcard' || t.kind === 'number' || t.kind === 'tunnel';
}

/** The placeholder as IOS help shows it. */
export function typeLabel(t: ArgType): string {
  switch (t.kind) {
    case 'ipv4':
    case 'mask':
    case 'wildcard':
      return 'A.B.C.D';
    case 'number':
    case 'tunnel':
      return t.kind === 'tunnel' ? `<0-${MAX_TUNNEL_NUMBER}>` : `<${t.min}-${t.max}>`;
    case 'word':
    case 'secret':
      return 'WORD';
    case 'ifname':
      return 'interface name';
    case 'line':
      return 'LINE';
  }
}

export function parseIpv4(text: string): number | undefined {
  if (!/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(text)) return undefined;
  try {
    return ipv4ToU32(text);
  } catch {
    return undefined;
  }
}

/** Prefix length of a contiguous netmask, or undefined (255.0.255.0 is not a mask). */
export function maskLength(mask: number): number | undefined {
  const inv = ~mask >>> 0;
  if ((inv & (inv + 1)) !== 0) return undefined;
  let n = 0;
  for (let v = mask >>> 0; v & 0x80000000; v = (v << 1) >>> 0) n++;
  return n;
}

export function prefixMask(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

export function inSubnet(addr: string, network: string, mask: string): boolean {
  const a = parseIpv4(addr);
  const n = parseIpv4(network);
  const m = parseIpv4(mask);
  if (a === undefined || n === undefined || m === undefined) return false;
  return ((a & m) >>> 0) === ((n & m) >>> 0);
}

const IOS_INTERFACE_TYPES =
  /^(gigabitethernet|fastethernet|tengigabitethernet|fortygigabitethernet|hundredgige|ethernet|serial|loopback|port-channel|dialer|virtual-template|virtual-access|multilink|bvi|null)\d/i;

/** The joined IOS spelling of a tunnel (`Tunnel0`, `tu0`): any prefix of "tunnel" of two letters or more. */
const JOINED_TUNNEL = /^(tu|tun|tunn|tunne|tunnel)(\d+)$/i;

function checkIfname(text: string): ArgCheck {
  if (/^[\d.]+$/.test(text)) return { ok: false, invalid: false, reason: 'expected an interface name' };
  const t = JOINED_TUNNEL.exec(text);
  if (t) {
    const n = Number(t[2]);
    if (n > MAX_TUNNEL_NUMBER) return { ok: false, invalid: true, reason: `tunnel number ${t[2]} is out of range 0-${MAX_TUNNEL_NUMBER}` };
    return { ok: true, value: `Tunnel${n}` };
  }
  if (text.includes('/') || IOS_INTERFACE_TYPES.test(text)) {
    return { ok: false, invalid: true, reason: `unknown interface ${quote(text)}: use the Linux interface name (e.g. eth0)` };
  }
  // Linux dev_valid_name(): at most IFNAMSIZ-1 bytes, no '/', ':' or whitespace, not "." or "..".
  if (text === '.' || text === '..' || /[:\s\x00-\x1f\x7f]/.test(text)) {
    return { ok: false, invalid: true, reason: `unknown interface ${quote(text)}: not a valid Linux interface name` };
  }
  if (Buffer.byteLength(text, 'utf8') > 15) {
    return { ok: false, invalid: true, reason: `unknown interface ${quote(text)}: Linux interface names have at most 15 characters` };
  }
  return { ok: true, value: text };
}

function checkNumber(text: string, min: number, max: number): ArgCheck {
  if (!/^[+-]?\d+$/.test(text)) return { ok: false, invalid: false, reason: `expected a number ${min}-${max}` };
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) return { ok: false, invalid: true, reason: `${quote(text)} is out of range ${min}-${max}` };
  return { ok: true, value: n };
}

/**
 * Check one token (or, for LINE, the rest of the line) against a type. Secret
 * tokens are never quoted in a reason.
 */
export function checkArg(t: ArgType, text: string): ArgCheck {
  switch (t.kind) {
    case 'ipv4':
    case 'mask':
    case 'wildcard': {
      const v = parseIpv4(text);
      if (v === undefined) {
        const looks = /^[\d.]+$/.test(text) && text.includes('.');
        return { ok: false, invalid: looks, reason: looks ? `bad IPv4 address ${quote(text)}` : `expected ${typeLabel(t)}` };
      }
      if (t.kind === 'mask' && maskLength(v) === undefined) return { ok: false, invalid: true, reason: `bad network mask ${quote(text)}` };
      if (t.kind === 'wildcard' && maskLength(~v >>> 0) === undefined) return { ok: false, invalid: true, reason: `bad wildcard mask ${quote(text)}` };
      return { ok: true, value: u32ToIpv4(v) };
    }
    case 'number':
      return checkNumber(text, t.min, t.max);
    case 'tunnel': {
      const r = checkNumber(text, 0, MAX_TUNNEL_NUMBER);
      return r.ok ? { ok: true, value: `Tunnel${r.value as number}` } : r;
    }
    case 'word':
      return { ok: true, value: text };
    case 'secret':
      if (t.maxLength !== undefined && text.length > t.maxLength) {
        return { ok: false, invalid: true, reason: `the secret is longer than ${t.maxLength} characters (value not shown)` };
      }
      return { ok: true, value: new Secret(text) };
    case 'ifname':
      return checkIfname(text);
    case 'line':
      return { ok: true, value: text };
  }
}
