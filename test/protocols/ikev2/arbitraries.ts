/**
 * fast-check arbitraries for IKEv2 messages. Every value generated is one the
 * parser gives back: optional RESERVED fields appear only when non-zero, an
 * SK/SKF envelope only as the last payload, unknown payloads only with types
 * the codec does not decode, IPv6 selector addresses in RFC 5952 text.
 */
import fc from 'fast-check';
import {
  TsType, ipv6ToString,
  type IkeMessage, type IkeHeader, type Payload, type Proposal, type Transform, type TransformAttribute,
  type TrafficSelector, type CfgAttribute,
} from '../../../protocols/ikev2/wire.js';
import { u32ToIpv4 } from '../../../protocols/wire/index.js';

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = (maxLength: number, minLength = 0): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength, maxLength });

/** `{ [key]: n }` with n > 0, or `{}` (the parser omits zero RESERVED fields). */
function opt<K extends string>(key: K, max: number): fc.Arbitrary<{ [P in K]?: number }> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant({}) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max }).map((n) => ({ [key]: n }) as { [P in K]?: number }) },
  );
}

const flags = fc.record({ c: fc.boolean(), r: fc.integer({ min: 0, max: 0x7f }) }).map(({ c, r }) => ({
  ...(c ? { critical: true } : {}), ...(r ? { headerReserved: r } : {}),
}));

const attribute: fc.Arbitrary<TransformAttribute> = fc.oneof(
  fc.record({ type: fc.integer({ min: 0, max: 0x7fff }), value: u16 }),
  fc.record({ type: fc.integer({ min: 0, max: 0x7fff }), data: bytes(8) }),
);

const transformArb: fc.Arbitrary<Transform> = fc
  .tuple(u8, u16, fc.array(attribute, { maxLength: 3 }), opt('reserved1', 0xff), opt('reserved2', 0xff))
  .map(([type, id, attributes, r1, r2]) => ({ type, id, attributes, ...r1, ...r2 }));

const proposalArb: fc.Arbitrary<Proposal> = fc
  .tuple(u8, u8, bytes(8), fc.array(transformArb, { maxLength: 6 }), opt('reserved', 0xff))
  .map(([number, protocolId, spi, transforms, r]) => ({ number, protocolId, spi, transforms, ...r }));

const ipv4 = u32.map(u32ToIpv4);
const ipv6 = bytes(16, 16).map(ipv6ToString);

const selectorArb: fc.Arbitrary<TrafficSelector> = fc.oneof(
  fc.record({ tsType: fc.constant(TsType.TS_IPV4_ADDR_RANGE), ipProtocol: u8, startPort: u16, endPort: u16, startAddress: ipv4, endAddress: ipv4 }),
  fc.record({ tsType: fc.constant(TsType.TS_IPV6_ADDR_RANGE), ipProtocol: u8, startPort: u16, endPort: u16, startAddress: ipv6, endAddress: ipv6 }),
  fc.record({ tsType: u8.filter((t) => t !== 7 && t !== 8), second: u8, data: bytes(12) }),
);

const cfgAttrArb: fc.Arbitrary<CfgAttribute> = fc
  .tuple(fc.integer({ min: 0, max: 0x7fff }), bytes(8), fc.boolean())
  .map(([type, value, r]) => (r ? { type, value, reservedBit: true } : { type, value }));

/** Types the codec keeps raw: not 0 (end of chain) and not a decoded payload type. */
const unknownType = fc.integer({ min: 1, max: 255 }).filter((t) => !(t >= 33 && t <= 48) && t !== 53);

const deleteArb = fc.integer({ min: 0, max: 8 }).chain((spiSize) =>
  fc.record({ protocolId: u8, spis: fc.array(bytes(spiSize, spiSize), { maxLength: 4 }) }).map((d) => ({ kind: 'D' as const, spiSize, ...d })),
);

/** A payload that may appear anywhere in a chain. */
const plainPayload: fc.Arbitrary<Payload> = fc.tuple(flags, fc.oneof(
  fc.array(proposalArb, { maxLength: 3 }).map((proposals) => ({ kind: 'SA' as const, proposals })),
  fc.tuple(u16, bytes(32), opt('reserved', 0xffff)).map(([group, data, r]) => ({ kind: 'KE' as const, group, data, ...r })),
  fc.tuple(fc.constantFrom('IDi' as const, 'IDr' as const), u8, bytes(20), opt('reserved', 0xffffff)).map(([kind, idType, data, r]) => ({ kind, idType, data, ...r })),
  fc.tuple(fc.constantFrom('CERT' as const, 'CERTREQ' as const), u8, bytes(24)).map(([kind, encoding, data]) => ({ kind, encoding, data })),
  fc.tuple(u8, bytes(24), opt('reserved', 0xffffff)).map(([method, data, r]) => ({ kind: 'AUTH' as const, method, data, ...r })),
  bytes(40).map((data) => ({ kind: 'Nonce' as const, data })),
  fc.record({ protocolId: u8, notifyType: u16, spi: bytes(8), data: bytes(24) }).map((n) => ({ kind: 'N' as const, ...n })),
  deleteArb,
  bytes(24).map((data) => ({ kind: 'V' as const, data })),
  fc.tuple(fc.constantFrom('TSi' as const, 'TSr' as const), fc.array(selectorArb, { maxLength: 4 }), opt('reserved', 0xffffff)).map(([kind, selectors, r]) => ({ kind, selectors, ...r })),
  fc.tuple(u8, fc.array(cfgAttrArb, { maxLength: 4 }), opt('reserved', 0xffffff)).map(([cfgType, attributes, r]) => ({ kind: 'CP' as const, cfgType, attributes, ...r })),
  bytes(16).map((message) => ({ kind: 'EAP' as const, message })),
  fc.tuple(unknownType, bytes(16)).map(([type, body]) => ({ kind: 'unknown' as const, type, body })),
)).map(([f, p]) => ({ ...p, ...f }) as Payload);

/** SK or SKF, only ever last. */
const envelope: fc.Arbitrary<Payload> = fc.tuple(flags, fc.oneof(
  fc.record({ firstPayload: u8, body: bytes(64) }).map((s) => ({ kind: 'SK' as const, ...s })),
  fc.record({ firstPayload: u8, fragmentNumber: u16, totalFragments: u16, body: bytes(64) }).map((s) => ({ kind: 'SKF' as const, ...s })),
)).map(([f, p]) => ({ ...p, ...f }) as Payload);

export const headerArb: fc.Arbitrary<IkeHeader> = fc
  .record({
    spiI: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    spiR: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    minorVersion: fc.integer({ min: 0, max: 15 }),
    exchangeType: u8,
    initiator: fc.boolean(),
    response: fc.boolean(),
    higherVersion: fc.boolean(),
    reserved: fc.integer({ min: 0, max: 0xff }).map((f) => f & ~0x38),
    messageId: u32,
  })
  .map(({ reserved, ...h }) => ({ ...h, majorVersion: 2, ...(reserved ? { flagsReserved: reserved } : {}) }));

export const messageArb: fc.Arbitrary<IkeMessage> = fc
  .tuple(headerArb, fc.array(plainPayload, { maxLength: 6 }), fc.option(envelope, { nil: undefined }), fc.option(bytes(8, 1), { nil: undefined }))
  .map(([header, payloads, sk, trailing]) => ({
    header,
    payloads: sk ? [...payloads, sk] : payloads,
    ...(trailing ? { trailing } : {}),
  }));
