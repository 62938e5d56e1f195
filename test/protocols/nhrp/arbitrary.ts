/**
 * fast-check arbitraries for NHRP values. Every value they generate is one that
 * parse can give back: a body kind consistent with version/type, raw extensions
 * only where no structured form applies, a checksum always present.
 */
import fc from 'fast-check';
import {
  type NhrpAddress, type NhrpCie, type NhrpExtension, type NhrpPacket, type NhrpBody, type NhrpAddressing,
  nhrpAddress,
} from '../../../protocols/nhrp/index.js';

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const typeBits = fc.integer({ min: 0, max: 3 });
const bytes = (maxLength: number, minLength = 0) => fc.uint8Array({ minLength, maxLength });

/** Mostly IPv4 and IPv6 lengths, sometimes absent or odd lengths. */
function address(maxLength: number): fc.Arbitrary<NhrpAddress> {
  return fc
    .oneof(
      { weight: 4, arbitrary: bytes(4, 4) },
      { weight: 1, arbitrary: bytes(16, 16) },
      { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
      { weight: 1, arbitrary: bytes(maxLength) },
    )
    .map(nhrpAddress);
}

export const nbmaAddressArb = address(20);
export const protoAddressArb = address(20);

export const cieArb: fc.Arbitrary<NhrpCie> = fc.record({
  code: u8,
  prefixLength: u8,
  unused: u16,
  mtu: u16,
  holdingTime: u16,
  nbmaType: typeBits,
  nbmaSubaddressType: typeBits,
  preference: u8,
  clientNbma: nbmaAddressArb,
  clientNbmaSubaddress: fc.oneof({ weight: 4, arbitrary: fc.constant('') }, { weight: 1, arbitrary: address(8) }),
  clientProto: protoAddressArb,
});

const CIE_TYPES = [3, 4, 5, 9] as const;
const STRUCTURED = new Set<number>([3, 4, 5, 7, 8, 9]);

export const extensionArb: fc.Arbitrary<NhrpExtension> = fc.oneof(
  fc.record({
    kind: fc.constant('cies' as const),
    type: fc.constantFrom(...CIE_TYPES),
    compulsory: fc.boolean(),
    cies: fc.array(cieArb, { maxLength: 3 }),
  }),
  fc.record({ kind: fc.constant('auth' as const), type: fc.constant(7), compulsory: fc.boolean(), authType: u32, data: bytes(12) }),
  fc.record({
    kind: fc.constant('vendor' as const),
    type: fc.constant(8),
    compulsory: fc.boolean(),
    vendorId: fc.integer({ min: 0, max: 0xffffff }),
    data: bytes(12),
  }),
  // Unknown types, End among them.
  fc.record({
    kind: fc.constant('raw' as const),
    type: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0x7fff })).filter((t) => !STRUCTURED.has(t)),
    compulsory: fc.boolean(),
    value: bytes(16),
  }),
  // Known types whose value is too short for their form stay raw.
  fc.record({ kind: fc.constant('raw' as const), type: fc.constant(7), compulsory: fc.boolean(), value: bytes(3) }),
  fc.record({ kind: fc.constant('raw' as const), type: fc.constant(8), compulsory: fc.boolean(), value: bytes(2) }),
  fc.record({ kind: fc.constant('raw' as const), type: fc.constantFrom(...CIE_TYPES), compulsory: fc.boolean(), value: bytes(11, 1) }),
);

const addressingArb: fc.Arbitrary<NhrpAddressing> = fc.record({
  srcNbmaType: typeBits,
  srcNbmaSubaddressType: typeBits,
  srcNbma: nbmaAddressArb,
  srcNbmaSubaddress: fc.oneof({ weight: 4, arbitrary: fc.constant('') }, { weight: 1, arbitrary: address(8) }),
  srcProto: protoAddressArb,
  dstProto: protoAddressArb,
});

/** [version, type, body] triples whose body kind matches what parse picks for version/type. */
const versionTypeBodyArb: fc.Arbitrary<[number, number, NhrpBody]> = fc.oneof(
  fc.tuple(
    fc.constant(1),
    fc.integer({ min: 1, max: 6 }),
    fc.tuple(addressingArb, u16, u32, fc.array(cieArb, { maxLength: 4 })).map(
      ([a, flags, requestId, cies]): NhrpBody => ({ kind: 'mandatory', flags, requestId, ...a, cies }),
    ),
  ),
  fc.tuple(
    fc.constant(1),
    fc.constant(7),
    fc.tuple(addressingArb, u16, u16, u16, bytes(40)).map(
      ([a, unused, errorCode, errorOffset, erroredPacket]): NhrpBody => ({ kind: 'error', unused, errorCode, errorOffset, ...a, erroredPacket }),
    ),
  ),
  fc.tuple(
    fc.constant(1),
    fc.constant(8),
    fc.tuple(addressingArb, u16, u16, u16, bytes(40)).map(
      ([a, unused, trafficCode, unused2, trigger]): NhrpBody => ({ kind: 'traffic', unused, trafficCode, unused2, ...a, trigger }),
    ),
  ),
  fc.tuple(
    fc.oneof(fc.constant(1), u8),
    u8,
    fc.record({ kind: fc.constant('raw' as const), shtl: u8, sstl: u8, bytes: bytes(32) }),
  ).filter(([version, type]) => version !== 1 || type === 0 || type > 8),
);

export const nhrpPacketArb: fc.Arbitrary<NhrpPacket> = fc
  .record({
    afn: u16,
    protocolType: u16,
    protocolSnap: bytes(5, 5),
    hopCount: u8,
    checksum: u16,
    vtb: versionTypeBodyArb,
    extensions: fc.option(fc.array(extensionArb, { maxLength: 6 }), { nil: undefined }),
  })
  .map(({ vtb: [version, type, body], ...rest }): NhrpPacket => ({ ...rest, version, type, body }));
