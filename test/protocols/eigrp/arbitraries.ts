/**
 * fast-check arbitraries for EIGRP packets: every decoded TLV kind, unknown
 * TLVs, and canonical values only (those that decode back to themselves), so
 * emit-then-parse must be the identity.
 */
import fc from 'fast-check';
import { addrToString, ipv4ToString } from '../../../protocols/wire/index.js';
import {
  ipv4DestinationOctets,
  type EigrpPacket,
  type EigrpTlv,
  type ExternalData,
  type Ipv4Destination,
  type ClassicMetric,
  type WideMetric,
} from '../../../protocols/eigrp/wire.js';

export const u8 = fc.integer({ min: 0, max: 0xff });
export const u16 = fc.integer({ min: 0, max: 0xffff });
export const u24 = fc.integer({ min: 0, max: 0xffffff });
export const u32 = fc.integer({ min: 0, max: 0xffffffff });
export const u48 = fc.bigInt({ min: 0n, max: (1n << 48n) - 1n });

export const ipv4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => ipv4ToString(b));

/** Any address length the address lists carry: IPv4, IPv6, or others (shown as hex). */
export const listAddress = fc.oneof(
  ipv4,
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => addrToString(b)),
  fc.uint8Array({ maxLength: 20 }).filter((b) => b.length !== 4 && b.length !== 16).map((b) => addrToString(b)),
);

/** A destination whose prefix holds only the octets that go on the wire. */
export const destination: fc.Arbitrary<Ipv4Destination> = fc.integer({ min: 0, max: 32 }).chain((prefixLength) => {
  const n = ipv4DestinationOctets(prefixLength);
  return fc.uint8Array({ minLength: n, maxLength: n }).map((b) => {
    const full = new Uint8Array(4);
    full.set(b);
    return { prefixLength, prefix: ipv4ToString(full) };
  });
});

export const external: fc.Arbitrary<ExternalData> = fc.record({
  originatingRouter: ipv4,
  originatingAs: u32,
  adminTag: u32,
  externalMetric: u32,
  reserved: u16,
  externalProtocol: u8,
  flags: u8,
});

export const classicMetric: fc.Arbitrary<ClassicMetric> = fc.record({
  delay: u32,
  bandwidth: u32,
  mtu: u24,
  hopCount: u8,
  reliability: u8,
  load: u8,
  internalTag: u8,
  flags: u8,
});

export const wideMetric: fc.Arbitrary<WideMetric> = fc.record({
  priority: u8,
  reliability: u8,
  load: u8,
  mtu: u24,
  hopCount: u8,
  delay: u48,
  bandwidth: u48,
  reserved: u16,
  flags: u16,
  extendedMetrics: fc.integer({ min: 0, max: 6 }).chain((words) => fc.uint8Array({ minLength: words * 2, maxLength: words * 2 })),
});

/** Types this codec keeps raw (never one it decodes). */
const rawTypes = fc.constantFrom(0x0008, 0x0009, 0x0101, 0x0104, 0x0402, 0x0403, 0x0404, 0x0601, 0x0604, 0x00f2, 0x0999, 0xffff);

export const unknownTlv: fc.Arbitrary<EigrpTlv> = fc.oneof(
  fc.record({ kind: fc.constant('unknown' as const), type: rawTypes, value: fc.uint8Array({ maxLength: 40 }) }),
  // A wide route of another address family (IPv6 here) stays raw too.
  fc.tuple(fc.constantFrom(0x0602, 0x0603), u16, fc.uint8Array({ maxLength: 40 })).map(([type, tid, rest]) => {
    const value = new Uint8Array(4 + rest.length);
    value.set([tid >> 8, tid & 0xff, 0, 2]);
    value.set(rest, 4);
    return { kind: 'unknown' as const, type, value };
  }),
);

const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined });

export const tlv: fc.Arbitrary<EigrpTlv> = fc.oneof(
  fc.record({ kind: fc.constant('parameters' as const), k1: u8, k2: u8, k3: u8, k4: u8, k5: u8, k6: u8, holdTime: u16 }),
  fc.record({
    kind: fc.constant('authentication' as const),
    authType: u16,
    keyId: u32,
    keySequence: u32,
    padding: fc.uint8Array({ minLength: 8, maxLength: 8 }),
    digest: fc.oneof(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 40 })),
  }),
  fc.record({ kind: fc.constant('sequence' as const), addresses: fc.array(listAddress, { maxLength: 4 }) }),
  fc.record({ kind: fc.constant('softwareVersion' as const), iosMajor: u8, iosMinor: u8, tlvMajor: u8, tlvMinor: u8 }),
  fc.record({ kind: fc.constant('nextMulticastSequence' as const), sequence: u32 }),
  fc.record({ kind: fc.constant('stub' as const), flags: u16 }),
  fc.record({ kind: fc.constant('peerTermination' as const), addresses: fc.array(listAddress, { maxLength: 3 }) }),
  fc.record({
    kind: fc.constant('classicRoute' as const),
    nextHop: ipv4,
    external: opt(external),
    metric: classicMetric,
    destinations: fc.array(destination, { maxLength: 3 }),
  }),
  fc.record({
    kind: fc.constant('wideRoute' as const),
    topologyId: u16,
    routerId: ipv4,
    metric: wideMetric,
    nextHop: ipv4,
    external: opt(external),
    destinations: fc.array(destination, { maxLength: 3 }),
  }),
  unknownTlv,
);

/** A packet with a stated checksum (so it decodes back to itself). */
export const packet: fc.Arbitrary<EigrpPacket> = fc.record({
  header: fc.record({
    opcode: u8,
    checksum: u16,
    flags: u32,
    sequence: u32,
    ack: u32,
    virtualRouterId: u16,
    as: u16,
  }),
  tlvs: fc.array(tlv, { maxLength: 6 }),
});
