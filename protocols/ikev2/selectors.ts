/**
 * Traffic Selector payload bodies, RFC 7296 section 3.13.
 *
 *   | Number of TSs |                 RESERVED                      |
 *   ~                       <Traffic Selectors>                     ~
 *
 *   |   TS Type     |IP Protocol ID*|       Selector Length         |
 *   |           Start Port*         |           End Port*           |
 *   ~                         Starting Address*                     ~
 *   ~                         Ending Address*                       ~
 *
 * Types 7 (IPv4 range, 16 octets) and 8 (IPv6 range, 40 octets) are decoded
 * with their addresses as text; any other type (RFC 4595 Fibre Channel,
 * RFC 9478 security labels) is kept as opaque octets so it re-encodes.
 */
import { Reader, Writer, WireError, ipv4ToString, ipv4Bytes } from '../wire/index.js';
import { TsType } from './constants.js';

/** An address range selector (TS_IPV4_ADDR_RANGE or TS_IPV6_ADDR_RANGE). */
export interface AddressRangeSelector {
  readonly tsType: typeof TsType.TS_IPV4_ADDR_RANGE | typeof TsType.TS_IPV6_ADDR_RANGE;
  /** IP protocol number, 0 = any (section 3.13.1). GRE (47) for a DMVPN tunnel-protection SA. */
  readonly ipProtocol: number;
  readonly startPort: number;
  readonly endPort: number;
  /** Dotted quad for type 7, RFC 5952 text for type 8. */
  readonly startAddress: string;
  readonly endAddress: string;
}

/** A selector of a type this codec does not decode: the octet after TS Type and everything after Selector Length. */
export interface OpaqueSelector {
  readonly tsType: number;
  /** The second octet (IP Protocol ID in the range types, RESERVED in others). */
  readonly second: number;
  readonly data: Uint8Array;
}

export type TrafficSelector = AddressRangeSelector | OpaqueSelector;

export function isAddressRange(ts: TrafficSelector): ts is AddressRangeSelector {
  return (ts as AddressRangeSelector).startAddress !== undefined;
}

const RANGE_LENGTH: Record<number, number> = { [TsType.TS_IPV4_ADDR_RANGE]: 16, [TsType.TS_IPV6_ADDR_RANGE]: 40 };

export function selectorLength(ts: TrafficSelector): number {
  return isAddressRange(ts) ? RANGE_LENGTH[ts.tsType] : 4 + ts.data.length;
}

function parseSelector(r: Reader): TrafficSelector {
  const start = r.offset;
  const tsType = r.u8();
  const second = r.u8();
  const length = r.u16();
  const want = RANGE_LENGTH[tsType];
  if (want !== undefined && length !== want) r.fail(`traffic selector type ${tsType} length ${length}, must be ${want}`, start + 2);
  if (length < 4) r.fail(`selector length ${length} below 4`, start + 2);
  const body = r.sub(length - 4);
  if (want === undefined) return { tsType, second, data: body.rest() };
  const startPort = body.u16();
  const endPort = body.u16();
  const n = tsType === TsType.TS_IPV4_ADDR_RANGE ? 4 : 16;
  const text = n === 4 ? ipv4ToString : ipv6ToString;
  const startAddress = text(body.bytes(n));
  const endAddress = text(body.bytes(n));
  return { tsType: tsType as AddressRangeSelector['tsType'], ipProtocol: second, startPort, endPort, startAddress, endAddress };
}

function emitSelector(ts: TrafficSelector, w: Writer): void {
  if (isAddressRange(ts)) {
    w.u8(ts.tsType).u8(ts.ipProtocol).u16(selectorLength(ts)).u16(ts.startPort).u16(ts.endPort);
    const bytes = ts.tsType === TsType.TS_IPV4_ADDR_RANGE ? ipv4Bytes : ipv6Bytes;
    w.bytes(bytes(ts.startAddress)).bytes(bytes(ts.endAddress));
  } else {
    w.u8(ts.tsType).u8(ts.second).u16(4 + ts.data.length).bytes(ts.data);
  }
}

export interface TsBody {
  readonly selectors: readonly TrafficSelector[];
  /** The 3 RESERVED octets after Number of TSs, omitted when 0. */
  readonly reserved?: number;
}

export function parseTsBody(r: Reader): TsBody {
  const count = r.u8();
  const reserved = r.u24();
  const selectors: TrafficSelector[] = [];
  while (r.remaining > 0) selectors.push(parseSelector(r));
  if (selectors.length !== count) r.fail(`Number of TSs ${count}, payload holds ${selectors.length}`, 0);
  return reserved ? { selectors, reserved } : { selectors };
}

export function tsBodyLength(b: TsBody): number {
  let n = 4;
  for (const s of b.selectors) n += selectorLength(s);
  return n;
}

export function emitTsBody(b: TsBody, w: Writer): void {
  w.u8(b.selectors.length).u24(b.reserved ?? 0);
  for (const s of b.selectors) emitSelector(s, w);
}

/** A selector covering one IPv4 range, any port (0-65535), for protocol `ipProtocol` (0 = any). */
export function ipv4Selector(startAddress: string, endAddress = startAddress, ipProtocol = 0, startPort = 0, endPort = 65535): AddressRangeSelector {
  return { tsType: TsType.TS_IPV4_ADDR_RANGE, ipProtocol, startPort, endPort, startAddress, endAddress };
}

// ---------------------------------------------------------------------------
// IPv6 text (RFC 5952: lower case, longest run of two or more zero groups as "::")

export function ipv6ToString(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i] << 8) | b[i + 1]);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

export function ipv6Bytes(s: string): Uint8Array {
  const bad = (): never => { throw new WireError('ikev2', `bad IPv6 address "${s}"`, 0); };
  const halves = s.split('::');
  if (halves.length > 2) bad();
  const groups = (t: string): number[] => (t === '' ? [] : t.split(':').map((x) => (/^[0-9a-fA-F]{1,4}$/.test(x) ? parseInt(x, 16) : bad())));
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) bad();
  const all = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((x, i) => { out[2 * i] = x >> 8; out[2 * i + 1] = x & 0xff; });
  return out;
}
