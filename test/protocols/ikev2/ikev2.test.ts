import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reader, WireError, fromHex, toHex } from '../../../protocols/wire/index.js';
import {
  ikev2Codec, decodeIkeMessage, encodeIkeMessage, parseIkeHeader, ikeVersion, describeIkeMessage,
  ExchangeType, PayloadType, TransformType, EncrId, PrfId, IntegId, DhGroup, NotifyType, IdType, AuthMethod,
  ProtocolId, TsType, CfgType, CfgAttr, CertEncoding, IkeFlag,
  exchangeTypeName, payloadTypeName, transformIdName, notifyTypeName, isErrorNotify, idTypeName, authMethodName,
  protocolIdName, tsTypeName, cfgTypeName, dhGroupName,
  findPayload, findNotify, unsupportedCriticalPayload, proposalAlgorithms, describeProposal, ikeProposal, espProposal,
  keyLength, idText, idPayload, ipv4Selector, ipv6ToString, ipv6Bytes,
  recognizeVendorId, vendorIdName, vendorIdLabel, CiscoVendorId,
  type IkeMessage, type IkeHeader, type Payload,
} from '../../../protocols/ikev2/wire.js';
import { roundTrip, assertTruncationsThrowWireError } from '../../support/codec.js';

/**
 * A hand-made IKE_SA_INIT request (RFC 7296 section 1.2): SA with one IKE
 * proposal (AES-CBC-256, PRF-HMAC-SHA2-256, HMAC-SHA2-256-128, MODP-2048),
 * KE (group 14, 8 octets standing in for the public value), a 16-octet nonce
 * and N(IKEV2_FRAGMENTATION_SUPPORTED).
 */
const SA_INIT_HEX = [
  '0102030405060708 0000000000000000 21 20 22 08 00000000 00000078', // header, 120 octets
  '22 00 0030', // SA, next KE
  '00 00 002c 01 01 00 04', // proposal 1, IKE, no SPI, 4 transforms
  '03 00 000c 01 00 000c 800e 0100', // ENCR_AES_CBC, Key Length 256 (TV)
  '03 00 0008 02 00 0005', // PRF_HMAC_SHA2_256
  '03 00 0008 03 00 000c', // AUTH_HMAC_SHA2_256_128
  '00 00 0008 04 00 000e', // DH 14, last
  '28 00 0010 000e 0000 1122334455667788', // KE, next Nonce
  '29 00 0014 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf', // Nonce, next N
  '00 00 0008 00 00 402e', // N(IKEV2_FRAGMENTATION_SUPPORTED), last
].join('');

const header = (h: Partial<IkeHeader> = {}): IkeHeader => ({
  spiI: 0x0102030405060708n, spiR: 0n, majorVersion: 2, minorVersion: 0, exchangeType: ExchangeType.IKE_SA_INIT,
  initiator: true, response: false, higherVersion: false, messageId: 0, ...h,
});

const SA_INIT_VALUE: IkeMessage = {
  header: header(),
  payloads: [
    { kind: 'SA', proposals: [ikeProposal({ encr: EncrId.ENCR_AES_CBC, keyLength: 256, prf: PrfId.PRF_HMAC_SHA2_256, integ: IntegId.AUTH_HMAC_SHA2_256_128, dh: DhGroup.MODP_2048 })] },
    { kind: 'KE', group: 14, data: fromHex('1122334455667788') },
    { kind: 'Nonce', data: fromHex('a0a1a2a3a4a5a6a7a8a9aaabacadaeaf') },
    { kind: 'N', protocolId: 0, notifyType: NotifyType.IKEV2_FRAGMENTATION_SUPPORTED, spi: new Uint8Array(0), data: new Uint8Array(0) },
  ],
};

test('ikev2: deconstruct a hand-made IKE_SA_INIT request', () => {
  const bytes = fromHex(SA_INIT_HEX);
  const m = decodeIkeMessage(bytes);
  assert.equal(m.header.spiI, 0x0102030405060708n);
  assert.equal(m.header.spiR, 0n);
  assert.equal(m.header.majorVersion, 2);
  assert.equal(m.header.minorVersion, 0);
  assert.equal(m.header.exchangeType, ExchangeType.IKE_SA_INIT);
  assert.equal(m.header.initiator, true);
  assert.equal(m.header.response, false);
  assert.equal(m.header.messageId, 0);
  assert.deepEqual(m.payloads.map((p) => p.kind), ['SA', 'KE', 'Nonce', 'N']);
  const sa = findPayload(m.payloads, 'SA');
  assert.ok(sa);
  assert.equal(sa.proposals.length, 1);
  const p = sa.proposals[0];
  assert.equal(p.number, 1);
  assert.equal(p.protocolId, ProtocolId.IKE);
  assert.equal(p.spi.length, 0);
  assert.deepEqual(proposalAlgorithms(p), {
    encr: [{ id: EncrId.ENCR_AES_CBC, keyLength: 256 }], prf: [PrfId.PRF_HMAC_SHA2_256],
    integ: [IntegId.AUTH_HMAC_SHA2_256_128], dh: [DhGroup.MODP_2048], esn: [],
  });
  assert.equal(describeProposal(p), '#1 IKE ENCR_AES_CBC-256 PRF_HMAC_SHA2_256 AUTH_HMAC_SHA2_256_128 MODP_2048');
  assert.equal(findPayload(m.payloads, 'KE')?.group, 14);
  assert.equal(toHex(findPayload(m.payloads, 'Nonce')!.data), 'a0a1a2a3a4a5a6a7a8a9aaabacadaeaf');
  assert.ok(findNotify(m.payloads, NotifyType.IKEV2_FRAGMENTATION_SUPPORTED));
  assert.equal(describeIkeMessage(m), 'IKE_SA_INIT request 0 [ SA KE Nonce N(IKEV2_FRAGMENTATION_SUPPORTED) ]');
  const h = parseIkeHeader(new Reader(bytes, 'ikev2'));
  assert.equal(h.nextPayload, PayloadType.SA);
  assert.equal(h.length, 120);
});

test('ikev2: construct the same message from values, byte for byte', () => {
  assert.equal(toHex(encodeIkeMessage(SA_INIT_VALUE)), toHex(fromHex(SA_INIT_HEX)));
  assert.equal(ikev2Codec.length(SA_INIT_VALUE), 120);
});

test('ikev2: header flags I, V, R and reserved flag bits', () => {
  const m: IkeMessage = { header: header({ initiator: false, response: true, higherVersion: true, flagsReserved: 0x81, messageId: 7 }), payloads: [] };
  const b = encodeIkeMessage(m);
  assert.equal(b.length, 28);
  assert.equal(b[16], PayloadType.NONE);
  assert.equal(b[17], 0x20);
  assert.equal(b[19], IkeFlag.RESPONSE | IkeFlag.VERSION | 0x81);
  roundTrip(ikev2Codec, m);
});

test('ikev2: too short and malformed input throw WireError', () => {
  const bytes = fromHex(SA_INIT_HEX);
  assertTruncationsThrowWireError(ikev2Codec, bytes);
  const bad = (hex: string | Uint8Array, re: RegExp): void => {
    const b = typeof hex === 'string' ? fromHex(hex) : hex;
    assert.throws(() => decodeIkeMessage(b), (e: unknown) => e instanceof WireError && re.test(e.message));
  };
  const patch = (at: number, ...v: number[]): Uint8Array => { const b = bytes.slice(); b.set(v, at); return b; };
  bad(patch(17, 0x10), /IKEv1/); // version 1.0
  bad(patch(17, 0x30), /major version 3/);
  bad(patch(27, 0x79), /truncated/); // Length says one more than there is
  bad(Uint8Array.of(...bytes, 0), /more octets follow/);
  bad(patch(27, 0x10), /below the 28-octet header/);
  bad(patch(28 + 2, 0x00, 0x03), /length 3 below 4/); // SA payload length 3
  bad(patch(32, 0x02), /Last Substruc/); // proposal says more follow
  bad(patch(32 + 7, 0x05), /5 transforms, holds 4/);
  bad(patch(32 + 8, 0x00), /transform Last Substruc/);
  bad(patch(32 + 8 + 2, 0x00, 0x07), /transform length 7/);
  // Delete of 2 SPIs of 4 octets in a body that holds only 4.
  const del = encodeIkeMessage({ header: header(), payloads: [{ kind: 'D', protocolId: ProtocolId.ESP, spiSize: 4, spis: [fromHex('01020304')] }] });
  del[28 + 4 + 3] = 2;
  bad(del, /delete of 2 SPIs/);
  // A TS_IPV4_ADDR_RANGE whose Selector Length is not 16.
  const ts = encodeIkeMessage({ header: header(), payloads: [{ kind: 'TSi', selectors: [ipv4Selector('10.0.0.1')] }] });
  ts[28 + 4 + 4 + 3] = 20;
  bad(ts, /length 20, must be 16/);
  ts[28 + 4 + 4 + 3] = 16;
  ts[28 + 4] = 2;
  bad(ts, /Number of TSs 2, payload holds 1/);
});

test('ikev2: emit refuses an SK payload that is not last and a Delete SPI of the wrong size', () => {
  const sk: Payload = { kind: 'SK', firstPayload: PayloadType.IDi, body: new Uint8Array(16) };
  assert.throws(() => encodeIkeMessage({ header: header(), payloads: [sk, { kind: 'V', data: Uint8Array.of(1) }] }), WireError);
  assert.throws(() => encodeIkeMessage({ header: header(), payloads: [{ kind: 'D', protocolId: 3, spiSize: 4, spis: [Uint8Array.of(1)] }] }), WireError);
});

/** One message per payload kind, each round-tripped (at an offset too). */
const EVERY_KIND: Payload[] = [
  { kind: 'SA', critical: true, proposals: [
    ikeProposal({ encr: EncrId.ENCR_AES_GCM_16, keyLength: 256, prf: PrfId.PRF_HMAC_SHA2_384, dh: DhGroup.ECP_384 }),
    { ...espProposal({ encr: EncrId.ENCR_AES_CBC, keyLength: 128, integ: IntegId.AUTH_HMAC_SHA1_96 }, 0xc0ffee01, 2), reserved: 9 },
    { number: 3, protocolId: ProtocolId.AH, spi: fromHex('aabbccdd'), transforms: [
      { type: TransformType.INTEG, id: 12, attributes: [{ type: 99, data: fromHex('0102') }], reserved1: 1, reserved2: 2 },
    ] },
  ] },
  { kind: 'KE', group: DhGroup.CURVE25519, data: new Uint8Array(32).fill(7), reserved: 0x1234 },
  idPayload('IDi', IdType.ID_IPV4_ADDR, '10.0.3.1'),
  { ...idPayload('IDr', IdType.ID_FQDN, 'hub.example.net'), reserved: 1 },
  { kind: 'CERT', encoding: CertEncoding.X509_SIGNATURE, data: fromHex('3082') },
  { kind: 'CERTREQ', encoding: CertEncoding.X509_SIGNATURE, data: new Uint8Array(40).fill(0xab) },
  { kind: 'AUTH', method: AuthMethod.SHARED_KEY_MIC, data: new Uint8Array(20).fill(1) },
  { kind: 'Nonce', data: new Uint8Array(32).fill(2) },
  { kind: 'N', protocolId: ProtocolId.ESP, notifyType: NotifyType.REKEY_SA, spi: fromHex('01020304'), data: new Uint8Array(0) },
  { kind: 'N', protocolId: 0, notifyType: NotifyType.INVALID_KE_PAYLOAD, spi: new Uint8Array(0), data: fromHex('000e') },
  { kind: 'D', protocolId: ProtocolId.ESP, spiSize: 4, spis: [fromHex('01020304'), fromHex('05060708')] },
  { kind: 'D', protocolId: ProtocolId.IKE, spiSize: 0, spis: [] },
  { kind: 'V', data: CiscoVendorId.GRE_MODE },
  { kind: 'TSi', selectors: [ipv4Selector('10.0.0.1', '10.0.0.1', 47), ipv4Selector('0.0.0.0', '255.255.255.255')] },
  { kind: 'TSr', reserved: 5, selectors: [
    { tsType: TsType.TS_IPV6_ADDR_RANGE, ipProtocol: 0, startPort: 0, endPort: 65535, startAddress: '2001:db8::1', endAddress: '2001:db8::ffff' },
    { tsType: TsType.TS_SECLABEL, second: 0, data: fromHex('73797374656d5f75') },
  ] },
  { kind: 'CP', cfgType: CfgType.CFG_REQUEST, attributes: [
    { type: CfgAttr.INTERNAL_IP4_ADDRESS, value: new Uint8Array(0) },
    { type: CfgAttr.INTERNAL_IP4_DNS, value: fromHex('08080808'), reservedBit: true },
  ] },
  { kind: 'EAP', message: fromHex('0201000501') },
  { kind: 'unknown', type: 200, body: fromHex('deadbeef') },
  { kind: 'unknown', type: 49, critical: true, headerReserved: 0x7f, body: new Uint8Array(0) },
];

test('ikev2: every payload kind round-trips, alone and in one chain', () => {
  for (const p of EVERY_KIND) roundTrip(ikev2Codec, { header: header({ exchangeType: ExchangeType.IKE_AUTH, messageId: 1 }), payloads: [p] });
  roundTrip(ikev2Codec, { header: header(), payloads: EVERY_KIND });
  const sk: Payload = { kind: 'SK', firstPayload: PayloadType.IDi, critical: true, body: new Uint8Array(48).fill(9) };
  roundTrip(ikev2Codec, { header: header(), payloads: [...EVERY_KIND, sk] });
  const skf: Payload = { kind: 'SKF', firstPayload: 0, fragmentNumber: 2, totalFragments: 3, body: new Uint8Array(40).fill(3) };
  roundTrip(ikev2Codec, { header: header(), payloads: [skf] });
  roundTrip(ikev2Codec, { header: header(), payloads: [{ kind: 'V', data: Uint8Array.of(1) }], trailing: fromHex('0000') });
});

test('ikev2: an unknown payload between known ones survives, and a critical one is reported', () => {
  const unknown: Payload = { kind: 'unknown', type: 250, body: fromHex('0102030405') };
  const m: IkeMessage = { header: header(), payloads: [{ kind: 'Nonce', data: new Uint8Array(16) }, unknown, { kind: 'V', data: Uint8Array.of(9) }] };
  const bytes = encodeIkeMessage(m);
  const back = decodeIkeMessage(bytes);
  assert.deepEqual(back.payloads[1], unknown);
  assert.equal(back.payloads[2].kind, 'V');
  assert.equal(toHex(encodeIkeMessage(back)), toHex(bytes));
  assert.equal(unsupportedCriticalPayload(back.payloads), undefined);
  const crit = decodeIkeMessage(encodeIkeMessage({ ...m, payloads: [m.payloads[0], { ...unknown, critical: true }] }));
  assert.equal(unsupportedCriticalPayload(crit.payloads), 250);
});

test('ikev2: ikeVersion tells IKEv1 from IKEv2 and never throws', () => {
  const v2 = fromHex(SA_INIT_HEX);
  assert.deepEqual(ikeVersion(v2), { major: 2, minor: 0 });
  const v1 = v2.slice();
  v1[17] = 0x10;
  assert.deepEqual(ikeVersion(v1), { major: 1, minor: 0 });
  assert.equal(ikeVersion(v2.subarray(0, 27)), undefined);
  assert.equal(ikeVersion(new Uint8Array(28)), undefined); // Length 0
  const padded = Uint8Array.of(0, 0, 0, 0, ...v2);
  assert.deepEqual(ikeVersion(padded, 4), { major: 2, minor: 0 });
});

test('ikev2: registry names', () => {
  assert.equal(exchangeTypeName(ExchangeType.IKE_SA_INIT), 'IKE_SA_INIT');
  assert.equal(exchangeTypeName(ExchangeType.INFORMATIONAL), 'INFORMATIONAL');
  assert.equal(exchangeTypeName(99), 'EXCHANGE-99');
  assert.equal(payloadTypeName(53), 'SKF');
  assert.equal(payloadTypeName(46), 'SK');
  assert.equal(transformIdName(TransformType.ENCR, 20), 'ENCR_AES_GCM_16');
  assert.equal(transformIdName(TransformType.PRF, 7), 'PRF_HMAC_SHA2_512');
  assert.equal(transformIdName(TransformType.INTEG, 13), 'AUTH_HMAC_SHA2_384_192');
  assert.equal(transformIdName(TransformType.DH, 31), 'CURVE25519');
  assert.equal(transformIdName(TransformType.ESN, 0), 'NO_ESN');
  assert.equal(dhGroupName(2), 'MODP_1024');
  assert.equal(notifyTypeName(17), 'INVALID_KE_PAYLOAD');
  assert.equal(notifyTypeName(38), 'TS_UNACCEPTABLE');
  assert.equal(notifyTypeName(16391), 'USE_TRANSPORT_MODE');
  assert.equal(notifyTypeName(16431), 'SIGNATURE_HASH_ALGORITHMS');
  assert.equal(notifyTypeName(9999), 'ERROR-9999');
  assert.equal(notifyTypeName(40000), 'STATUS-40000');
  assert.ok(isErrorNotify(NotifyType.AUTHENTICATION_FAILED));
  assert.ok(!isErrorNotify(NotifyType.INITIAL_CONTACT));
  assert.equal(idTypeName(1), 'ID_IPV4_ADDR');
  assert.equal(authMethodName(2), 'SHARED_KEY_MIC');
  assert.equal(protocolIdName(3), 'ESP');
  assert.equal(tsTypeName(7), 'TS_IPV4_ADDR_RANGE');
  assert.equal(cfgTypeName(2), 'CFG_REPLY');
});

test('ikev2: identities as text', () => {
  const id = idPayload('IDi', IdType.ID_IPV4_ADDR, '10.0.3.1');
  assert.equal(toHex(id.data), '0a000301');
  assert.equal(idText(id.idType, id.data), '10.0.3.1');
  assert.equal(idText(IdType.ID_FQDN, fromHex('77657374')), 'west');
  assert.equal(idText(IdType.ID_IPV4_ADDR, fromHex('de')), 'de'); // not an address: hex
  assert.equal(idText(IdType.ID_IPV6_ADDR, ipv6Bytes('fe80::1')), 'fe80::1');
});

test('ikev2: IPv6 text both ways (RFC 5952 form)', () => {
  for (const s of ['::', '::1', '2001:db8::', 'fe80::1:0:0:2', '2001:db8:0:1:1:1:1:1', '1:0:0:2::3', '0:1::']) {
    assert.equal(ipv6ToString(ipv6Bytes(s)), s);
  }
  assert.equal(ipv6ToString(ipv6Bytes('2001:DB8:0:0:0:0:0:1')), '2001:db8::1');
  for (const s of ['1::2::3', '1:2:3:4:5:6:7', '12345::', 'g::1', '1:2:3:4:5:6:7:8:9']) assert.throws(() => ipv6Bytes(s), WireError);
});

test('ikev2: vendor IDs by name', () => {
  assert.equal(vendorIdName(CiscoVendorId.DELETE_REASON), 'CISCO-DELETE-REASON');
  assert.equal(vendorIdName(CiscoVendorId.COPYRIGHT), 'CISCO(COPYRIGHT)');
  assert.deepEqual(recognizeVendorId(CiscoVendorId.GRE_MODE), { name: 'CISCO-GRE-MODE', detail: '02' });
  assert.equal(vendorIdName(CiscoVendorId.DYNAMIC_ROUTE), 'CISCO-DYNAMIC-ROUTE');
  assert.equal(vendorIdName(fromHex('4048b7d56ebce88525e7de7f00d6c2d3')), 'FRAGMENTATION');
  assert.deepEqual(recognizeVendorId(fromHex('4048b7d56ebce88525e7de7f00d6c2d380000000')), { name: 'FRAGMENTATION', detail: '80000000' });
  assert.equal(vendorIdName(fromHex('882fe56d6fd20dbc2251613b2ebe5beb')), 'strongSwan');
  assert.equal(vendorIdName(fromHex('4a131c81070358455c5728f20e95452f')), 'RFC 3947');
  assert.equal(vendorIdName(fromHex('afcad71368a1f1c96b8696fc77570100')), 'DPD');
  assert.equal(vendorIdName(fromHex('1e2b516905991c7d7c96fcbfb587e46100000009')), 'MS NT5 ISAKMPOAKLEY');
  assert.equal(vendorIdName(Uint8Array.from('OEkRbGXRvmPE', (c) => c.charCodeAt(0))), 'Openswan/libreswan');
  assert.equal(vendorIdName(fromHex('00112233')), undefined);
  assert.equal(vendorIdLabel(Uint8Array.from('ACME', (c) => c.charCodeAt(0))), '"ACME"');
  assert.equal(vendorIdLabel(fromHex('0011')), '0011');
  assert.equal(vendorIdLabel(CiscoVendorId.GRE_MODE), 'CISCO-GRE-MODE (02)');
});

test('ikev2: transform helpers', () => {
  const p = espProposal({ encr: EncrId.ENCR_AES_GCM_16, keyLength: 256, esn: 1 }, 0x11223344);
  assert.equal(toHex(p.spi), '11223344');
  assert.equal(keyLength(p.transforms[0]), 256);
  assert.equal(keyLength(p.transforms[1]), undefined);
  assert.deepEqual(proposalAlgorithms(p).esn, [1]);
  assert.deepEqual(proposalAlgorithms(p).integ, []);
});
