import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reader, Writer, WireError, fromHex, toHex, encode } from '../../../protocols/wire/index.js';
import {
  parseNhrp, emitNhrp, nhrpLength, nhrpChecksumValid, nhrpCodec, withoutChecksum, bodyKind,
  parseCie, emitCie, cieLength, makeCie, parseExtension, emitExtension, extensionLength,
  makeRegistrationRequest, findExtension, extensionCies, setExtension, cleartextAuthExtension, cleartextPassword,
  passwordMatches, endExtension, cieExtension, nhrpAddress, nhrpAddressBytes,
  nhrpPacketTypeName, errorCodeName, cieCodeName, extensionTypeName, trafficCodeName,
  NhrpPacketType, NhrpErrorCode, NhrpCieCode, NhrpExtensionType, RegistrationFlag, ResolutionFlag, PurgeFlag,
  type NhrpPacket, type NhrpCie, type NhrpExtension,
} from '../../../protocols/nhrp/index.js';
import { roundTrip, assertTruncationsThrowWireError, assertSameValue, type Codec } from '../../support/codec.js';

const cieCodec: Codec<NhrpCie> = { protocol: 'nhrp', parse: parseCie, emit: emitCie, length: cieLength };
const extCodec: Codec<NhrpExtension> = { protocol: 'nhrp', parse: parseExtension, emit: emitExtension, length: extensionLength };

/**
 * A registration request laid out by hand from RFC 2332 sections 5.1-5.3 in the
 * shape IOS uses (checksum computed independently, outside this codec):
 * spoke NBMA 192.0.2.1, tunnel 10.0.0.2, NHS 10.0.0.1 at NBMA 198.51.100.1,
 * request ID 7, MTU 17916, password "test".
 */
const HAND = fromHex(
  '0001 0800 0000000000 ff 0068 4aaa 0034 01 03 04 00' + // fixed header
    '04 04 8002 00000007 c0000201 0a000002 0a000001' + // mandatory part
    '00 20 0000 45fc 1c20 00 00 00 00' + // CIE: code 0, /32, MTU 17916, 7200 s, no addresses
    '8003 0000 8004 0000 8005 0000' + // responder, forward and reverse transit: compulsory, empty
    '8007 0008 00000001 74657374' + // authentication: compulsory, cleartext "test"
    '0009 0014 0020 0000 45fc 0000 04 00 04 00 c6336401 0a000001' + // Cisco NAT address: NHS, holding time 0
    '8000 0000', // End, compulsory
);

const handValue = (): NhrpPacket =>
  makeRegistrationRequest({
    requestId: 7, srcNbma: '192.0.2.1', srcProto: '10.0.0.2', nhsProto: '10.0.0.1', nhsNbma: '198.51.100.1', password: 'test',
  });

test('nhrp: deconstruct a registration request field by field', () => {
  const p = parseNhrp(new Reader(HAND, 'nhrp'));
  assert.equal(p.afn, 1);
  assert.equal(p.protocolType, 0x0800);
  assert.deepEqual(p.protocolSnap, new Uint8Array(5));
  assert.equal(p.hopCount, 255);
  assert.equal(p.checksum, 0x4aaa);
  assert.equal(p.version, 1);
  assert.equal(p.type, NhrpPacketType.REGISTRATION_REQUEST);
  assert.equal(p.body.kind, 'mandatory');
  if (p.body.kind !== 'mandatory') return;
  assert.equal(p.body.flags, RegistrationFlag.U | RegistrationFlag.NAT);
  assert.equal(p.body.requestId, 7);
  assert.equal(p.body.srcNbma, '192.0.2.1');
  assert.equal(p.body.srcNbmaSubaddress, '');
  assert.equal(p.body.srcProto, '10.0.0.2');
  assert.equal(p.body.dstProto, '10.0.0.1');
  assert.equal(p.body.cies.length, 1);
  assertSameValue(p.body.cies[0], makeCie({ prefixLength: 32, mtu: 17916, holdingTime: 7200 }));
  assert.deepEqual(p.extensions?.map((e) => [e.type, e.compulsory, e.kind]), [
    [3, true, 'cies'], [4, true, 'cies'], [5, true, 'cies'], [7, true, 'auth'], [9, false, 'cies'], [0, true, 'raw'],
  ]);
  assert.equal(cleartextPassword(p.extensions), 'test');
  const nat = extensionCies(p.extensions, NhrpExtensionType.NAT_ADDRESS);
  assert.equal(nat?.[0].clientNbma, '198.51.100.1');
  assert.equal(nat?.[0].clientProto, '10.0.0.1');
  assert.equal(nat?.[0].holdingTime, 0);
  assert.ok(nhrpChecksumValid(HAND));
});

test('nhrp: construct the same bytes with makeRegistrationRequest (checksum computed)', () => {
  const v = handValue();
  assert.equal(v.checksum, undefined);
  assert.equal(toHex(encode(v, emitNhrp, nhrpLength)), toHex(HAND));
});

test('nhrp: too short and inconsistent headers are WireErrors', () => {
  assertTruncationsThrowWireError(nhrpCodec, HAND);
  // Every strict prefix fails: ar$pktsz announces more than is there.
  for (let n = 0; n < HAND.length; n++) assert.throws(() => parseNhrp(new Reader(HAND.subarray(0, n), 'nhrp')), WireError);
  const bad = (patch: (b: Uint8Array) => void, re: RegExp) => {
    const b = HAND.slice();
    patch(b);
    assert.throws(() => parseNhrp(new Reader(b, 'nhrp')), (e: unknown) => e instanceof WireError && re.test(e.message));
  };
  bad((b) => { b[10] = 0; b[11] = 19; }, /shorter than the fixed header/);
  bad((b) => { b[11] = 0x69; }, /runs past the packet/);
  bad((b) => { b[15] = 0x13; }, /ar\$extoff 19/);
  bad((b) => { b[15] = 0x69; }, /ar\$extoff 105/);
  bad((b) => { b[15] = 0x33; }, /truncated CIE/); // mandatory part one byte short of its CIE
  bad((b) => { b[15] = 0x35; }, /truncated CIE/); // one stray byte after the CIE
  bad((b) => { b[11] = 0x66; }, /truncated extension header/); // ar$pktsz cuts End in half
  bad((b) => { b[55] = 0x09; }, /runs past ar\$pktsz/); // responder value swallows 9 bytes, the next header is garbage
  bad((b) => { b[20] = 0xff; }, /truncated/); // source protocol length 255
});

test('nhrp: parse takes ar$pktsz bytes and leaves the cursor after them', () => {
  const buf = new Uint8Array(HAND.length + 3);
  buf.set(HAND);
  buf.set([1, 2, 3], HAND.length);
  const r = new Reader(buf, 'nhrp');
  const p = parseNhrp(r);
  assert.equal(r.pos, HAND.length);
  assert.equal(r.remaining, 3);
  assert.equal(nhrpLength(p), HAND.length);
  // extoff 0: no extensions, CIEs run to ar$pktsz.
  const noExt = encode({ ...handValue(), extensions: undefined }, emitNhrp, nhrpLength);
  assert.equal(noExt.length, 52);
  assert.equal((noExt[14] << 8) | noExt[15], 0);
  const back = parseNhrp(new Reader(noExt, 'nhrp'));
  assert.equal(back.extensions, undefined);
  assert.equal(back.body.kind === 'mandatory' && back.body.cies.length, 1);
});

test('nhrp: emit fills ar$pktsz, ar$extoff and the checksum, or keeps a given checksum', () => {
  const v = handValue();
  const b = encode(v, emitNhrp, nhrpLength);
  assert.equal((b[10] << 8) | b[11], 104);
  assert.equal((b[14] << 8) | b[15], 52);
  assert.ok(nhrpChecksumValid(b));
  const kept = encode({ ...v, checksum: 0x1234 }, emitNhrp, nhrpLength);
  assert.equal((kept[12] << 8) | kept[13], 0x1234);
  assert.ok(!nhrpChecksumValid(kept));
  // An empty but present extension list points ar$extoff at the end of the packet.
  const empty = encode({ ...v, extensions: [] }, emitNhrp, nhrpLength);
  assert.equal((empty[14] << 8) | empty[15], empty.length);
  assert.deepEqual(parseNhrp(new Reader(empty, 'nhrp')).extensions, []);
  // Addresses that do not fit are refused at emit, as WireError.
  assert.throws(() => encode({ ...v, body: { ...(v.body as object), srcNbma: 'zz' } } as NhrpPacket, emitNhrp, nhrpLength), WireError);
  assert.throws(
    () => encode({ ...v, body: { ...(v.body as object), srcNbma: '00'.repeat(64) } } as NhrpPacket, emitNhrp, nhrpLength),
    /63/,
  );
  assert.throws(() => encode({ ...v, protocolSnap: new Uint8Array(4) }, emitNhrp, nhrpLength), /5 bytes/);
});

test('nhrp: length adds fixed header, mandatory part, CIEs and extensions', () => {
  const v = handValue();
  assert.equal(nhrpLength(v), 104);
  assert.equal(nhrpLength({ ...v, extensions: undefined }), 20 + 20 + 12);
  const c = makeCie({ mtu: 1514, holdingTime: 7200, clientNbma: '192.0.2.2', clientProto: '2001db8000000000000000000000000a' });
  assert.equal(cieLength(c), 12 + 4 + 16);
  assert.equal(extensionLength(cieExtension(4, [c, c])), 4 + 2 * 32);
  assert.equal(extensionLength(cleartextAuthExtension('CISCO')), 4 + 4 + 5);
  assert.equal(extensionLength(endExtension()), 4);
});

test('nhrp: round trips (at an offset too) for every body kind', () => {
  const v = { ...handValue(), checksum: 0xbeef };
  roundTrip(nhrpCodec, v);
  roundTrip(nhrpCodec, { ...v, extensions: undefined });
  roundTrip(nhrpCodec, { ...v, extensions: [] });
  const addressing = { srcNbmaType: 0, srcNbmaSubaddressType: 0, srcNbma: '192.0.2.1', srcNbmaSubaddress: '', srcProto: '10.0.0.2', dstProto: '10.0.0.9' };
  roundTrip(nhrpCodec, {
    ...v, type: NhrpPacketType.ERROR_INDICATION,
    body: { kind: 'error', unused: 0, errorCode: NhrpErrorCode.AUTHENTICATION_FAILURE, errorOffset: 40, ...addressing, erroredPacket: HAND },
    extensions: undefined,
  });
  roundTrip(nhrpCodec, {
    ...v, type: NhrpPacketType.TRAFFIC_INDICATION,
    body: { kind: 'traffic', unused: 0, trafficCode: 0, unused2: 0, ...addressing, trigger: Uint8Array.of(0x45, 0, 0, 20) },
  });
  // NSAP-style 20-byte NBMA with the E.164 type bit, a subaddress, IPv6 protocol addresses.
  roundTrip(nhrpCodec, {
    ...v, afn: 3, protocolType: 0x86dd,
    body: {
      kind: 'mandatory', flags: ResolutionFlag.Q, requestId: 0xffffffff, srcNbmaType: 1, srcNbmaSubaddressType: 0,
      srcNbma: '47'.repeat(20), srcNbmaSubaddress: '01', srcProto: '2001db8' + '0'.repeat(24) + '1', dstProto: '',
      cies: [makeCie({ mtu: 0, holdingTime: 0, nbmaType: 1, clientNbma: '39'.repeat(20), clientNbmaSubaddress: 'ab', preference: 255, unused: 0xffff })],
    },
  });
  // Version 0 (MARS) and unknown types keep their mandatory part as bytes, with ar$shtl/ar$sstl.
  roundTrip(nhrpCodec, { ...v, version: 0, body: { kind: 'raw', shtl: 0x44, sstl: 0x81, bytes: Uint8Array.of(1, 2, 3) } });
  roundTrip(nhrpCodec, { ...v, type: 200, body: { kind: 'raw', shtl: 4, sstl: 0, bytes: new Uint8Array(0) } });
  assert.equal(bodyKind(1, 0), 'raw');
  assert.equal(bodyKind(1, 9), 'raw');
  assert.equal(bodyKind(2, 3), 'raw');
});

test('nhrp CIE: deconstruct, construct, too short, round trip', () => {
  const bytes = fromHex('0e 20 0000 05ea 0000 04 00 04 ff c0000202 0a000002');
  const c = parseCie(new Reader(bytes, 'nhrp'));
  assert.equal(c.code, NhrpCieCode.ALREADY_REGISTERED);
  assert.equal(c.prefixLength, 32);
  assert.equal(c.mtu, 1514);
  assert.equal(c.holdingTime, 0);
  assert.equal(c.preference, 255);
  assert.equal(c.clientNbma, '192.0.2.2');
  assert.equal(c.clientProto, '10.0.0.2');
  const built = makeCie({ code: 14, mtu: 1514, holdingTime: 0, preference: 255, clientNbma: '192.0.2.2', clientProto: '10.0.0.2' });
  assert.equal(toHex(encode(built, emitCie, cieLength)), toHex(bytes));
  assertTruncationsThrowWireError(cieCodec, bytes);
  for (let n = 0; n < bytes.length; n++) assert.throws(() => parseCie(new Reader(bytes.subarray(0, n), 'nhrp')), WireError);
  roundTrip(cieCodec, c);
  roundTrip(cieCodec, makeCie({ mtu: 17912, holdingTime: 7200 }));
});

test('nhrp extensions: an unknown extension survives, compulsory or not', () => {
  const v = handValue();
  const unknown: NhrpExtension = { kind: 'raw', type: 0x1234, compulsory: true, value: Uint8Array.of(9, 8, 7) };
  const withUnknown = { ...v, extensions: setExtension(v.extensions, unknown) };
  assert.deepEqual(withUnknown.extensions.map((e) => e.type), [3, 4, 5, 7, 9, 0x1234, 0]);
  const bytes = encode(withUnknown, emitNhrp, nhrpLength);
  assert.equal(toHex(bytes.subarray(bytes.length - 11, bytes.length - 4)), '92340003090807');
  const back = parseNhrp(new Reader(bytes, 'nhrp'));
  assertSameValue(findExtension(back.extensions, 0x1234), unknown);
  assert.equal(toHex(encode(back, emitNhrp, nhrpLength)), toHex(bytes));
  // The u bit stays part of the type; vendor-private keeps its OUI and data.
  roundTrip(extCodec, { kind: 'raw', type: 0x4003, compulsory: false, value: Uint8Array.of(1) });
  roundTrip(extCodec, { kind: 'vendor', type: 8, compulsory: false, vendorId: 0x00000c, data: Uint8Array.of(1, 2) });
  // Extensions after End are kept in order too.
  roundTrip(nhrpCodec, { ...v, checksum: 1, extensions: [endExtension(), unknown, endExtension(false)] });
});

test('nhrp extensions: values that are not CIEs, or too short, stay raw and re-encode', () => {
  // RFC 2735 Device Capabilities shares type 9 (8 bytes): not a CIE list.
  const devcap = fromHex('0009 0008 00000001 00000000');
  const e = parseExtension(new Reader(devcap, 'nhrp'));
  assert.equal(e.kind, 'raw');
  assert.equal(toHex(encode(e, emitExtension, extensionLength)), toHex(devcap));
  // A responder address whose CIE lengths overrun the value.
  const overrun = fromHex('8003 000c 00200000 05ea1c20 04000400');
  assert.equal(parseExtension(new Reader(overrun, 'nhrp')).kind, 'raw');
  assert.equal(parseExtension(new Reader(fromHex('8007 0002 0000'), 'nhrp')).kind, 'raw');
  assert.equal(parseExtension(new Reader(fromHex('0008 0002 0000'), 'nhrp')).kind, 'raw');
  assertTruncationsThrowWireError(extCodec, fromHex('8007 0009 00000001 434953434f'));
  assert.throws(() => parseExtension(new Reader(fromHex('8007 0009 00000001 4349'), 'nhrp')), /runs past/);
});

test('nhrp extensions: authentication helpers follow Cisco cleartext', () => {
  const a = cleartextAuthExtension('NHRPAUTH');
  assert.equal(toHex(encode(a, emitExtension, extensionLength)), '8007000c000000014e48525041555448');
  assert.throws(() => cleartextAuthExtension('123456789'), /at most 8/);
  assert.throws(() => cleartextAuthExtension('caf\u20ac'), WireError);
  const list = [a, endExtension()];
  assert.equal(cleartextPassword(list), 'NHRPAUTH');
  assert.ok(passwordMatches(list, 'NHRPAUTH'));
  assert.ok(!passwordMatches(list, 'NHRPAUTX'));
  assert.ok(!passwordMatches([endExtension()], 'NHRPAUTH'));
  assert.equal(cleartextPassword(undefined), undefined);
  // setExtension replaces in place, or inserts before End, or appends.
  const r = cieExtension(3, [makeCie({ mtu: 1, holdingTime: 2 })]);
  assert.deepEqual(setExtension(list, r).map((e) => e.type), [7, 3, 0]);
  assert.deepEqual(setExtension([a], r).map((e) => e.type), [7, 3]);
  assert.deepEqual(setExtension(setExtension(list, r), cleartextAuthExtension('x')).map((e) => e.type), [7, 3, 0]);
});

test('nhrp checksum: verifies, fails on any flipped bit, handles odd lengths and truncation', () => {
  assert.ok(nhrpChecksumValid(HAND));
  for (const i of [0, 14, 15, 50, HAND.length - 1]) {
    const b = HAND.slice();
    b[i] ^= 0x10;
    assert.ok(!nhrpChecksumValid(b), `flipped byte ${i}`);
  }
  // Odd length: "CISCO" makes the authentication value 9 bytes (as in ios_nhrp.pcap).
  const odd = encode({ ...handValue(), extensions: [cleartextAuthExtension('CISCO'), endExtension()] }, emitNhrp, nhrpLength);
  assert.equal(odd.length % 2, 1);
  assert.ok(nhrpChecksumValid(odd));
  // At an offset inside a larger buffer, with trailing bytes after ar$pktsz.
  const big = new Uint8Array(HAND.length + 9).fill(0xaa);
  big.set(HAND, 4);
  assert.ok(nhrpChecksumValid(big, 4));
  assert.ok(!nhrpChecksumValid(HAND.subarray(0, 60)));
  assert.ok(!nhrpChecksumValid(HAND.subarray(0, 10)));
  // withoutChecksum lets emit recompute after a change.
  const p = parseNhrp(new Reader(HAND, 'nhrp'));
  const changed = encode(withoutChecksum({ ...p, hopCount: 254 }), emitNhrp, nhrpLength);
  assert.ok(nhrpChecksumValid(changed));
  const w = new Writer(new Uint8Array(HAND.length), 'nhrp');
  emitNhrp({ ...p, hopCount: 254 }, w);
  assert.ok(!nhrpChecksumValid(w.buf), 'a kept checksum is written as is');
});

test('nhrp addresses: dotted for 4 bytes, hex otherwise, empty for none', () => {
  assert.equal(nhrpAddress(Uint8Array.of(10, 255, 255, 1)), '10.255.255.1');
  assert.equal(nhrpAddress(new Uint8Array(0)), '');
  assert.equal(nhrpAddress(Uint8Array.of(0xab, 0xcd)), 'abcd');
  assert.deepEqual(nhrpAddressBytes('abcd'), Uint8Array.of(0xab, 0xcd));
  assert.deepEqual(nhrpAddressBytes(''), new Uint8Array(0));
  assert.throws(() => nhrpAddressBytes('abc'), WireError);
  assert.throws(() => nhrpAddressBytes('ab cd'), WireError);
  assert.throws(() => nhrpAddressBytes('10.0.0.256'), WireError);
});

test('nhrp names and numbers follow RFC 2332 and Cisco', () => {
  assert.equal(nhrpPacketTypeName(3), 'registration request');
  assert.equal(nhrpPacketTypeName(8), 'traffic indication');
  assert.equal(nhrpPacketTypeName(99), 'type 99');
  // RFC 2332 section 5.2.7, exactly.
  assert.deepEqual(Object.values(NhrpErrorCode), [1, 3, 6, 7, 8, 9, 10, 11, 15]);
  assert.equal(errorCodeName(NhrpErrorCode.LOOP_DETECTED), 'NHRP loop detected');
  assert.equal(errorCodeName(NhrpErrorCode.AUTHENTICATION_FAILURE), 'authentication failure');
  assert.equal(errorCodeName(2), 'error 2');
  // RFC 2332 sections 5.2.2 and 5.2.4.
  assert.deepEqual(Object.values(NhrpCieCode), [0, 4, 5, 12, 13, 14]);
  assert.equal(cieCodeName(13), 'binding exists but is not unique');
  assert.equal(cieCodeName(14), 'unique internetworking layer address already registered');
  assert.equal(extensionTypeName(9), 'NAT address');
  assert.equal(extensionTypeName(0), 'end');
  assert.equal(extensionTypeName(0x1234), 'extension 4660');
  assert.equal(trafficCodeName(0), 'redirect');
  assert.equal(RegistrationFlag.U | RegistrationFlag.NAT, 0x8002);
  assert.equal(ResolutionFlag.Q | ResolutionFlag.A | ResolutionFlag.S | ResolutionFlag.NAT, 0xc802);
  assert.equal(PurgeFlag.N, 0x8000);
  assert.equal(NhrpExtensionType.RESPONDER_ADDRESS, 3);
  assert.equal(NhrpExtensionType.AUTHENTICATION, 7);
});

test('nhrp: emit refuses a body whose kind does not match version and type', () => {
  const v = handValue();
  assert.throws(() => encode({ ...v, type: NhrpPacketType.ERROR_INDICATION }, emitNhrp, nhrpLength), /mandatory body cannot be sent as version 1 type 7/);
  assert.throws(() => encode({ ...v, version: 2 }, emitNhrp, nhrpLength), WireError);
  // Error offsets inside extension values count from the fixed header.
  const b = HAND.slice();
  b[88] = 0x3f; // NAT extension's CIE: client NBMA length 63
  const p = parseNhrp(new Reader(b, 'nhrp'));
  assert.equal(findExtension(p.extensions, NhrpExtensionType.NAT_ADDRESS)?.kind, 'raw');
  b[55] = 0x40; // responder value of 64 bytes runs past ar$pktsz
  assert.throws(() => parseNhrp(new Reader(b, 'nhrp')), (e: unknown) => e instanceof WireError && e.offset === 56);
});
