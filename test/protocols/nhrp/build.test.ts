/**
 * The builders produce what Cisco sends: each captured packet is rebuilt from
 * its meaning (addresses, ids, options) and must match the capture byte for byte,
 * checksum included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reader, toHex, encode } from '../../../protocols/wire/index.js';
import {
  parseNhrp, emitNhrp, nhrpLength, nhrpChecksumValid, nhrpCodec, makeCie, extensionCies, cleartextPassword,
  makeRegistrationRequest, makeRegistrationReply, makeResolutionRequest, makeResolutionReply, forwardedByNhs,
  makeTrafficIndication, makePurgeRequest, makePurgeReply, makeErrorIndication, requestExtensions, withoutChecksum,
  NhrpPacketType, NhrpExtensionType, NhrpErrorCode, NhrpCieCode, PurgeFlag, RegistrationFlag, CiscoCieMtu,
  type NhrpPacket, type NhrpMandatory,
} from '../../../protocols/nhrp/index.js';
import { roundTrip } from '../../support/codec.js';
import { needsVectors } from '../../support/vectors.js';
import { nhrpFrame } from './captures.js';

const bytesOf = (p: NhrpPacket): string => toHex(encode(p, emitNhrp, nhrpLength));
const captured = (file: string, frame: number): string => toHex(nhrpFrame(file, frame).bytes);
const parsed = (file: string, frame: number): NhrpPacket => parseNhrp(new Reader(nhrpFrame(file, frame).bytes, 'nhrp'));

test('nhrp build: registration request and reply as IOS 15 sends them (NHRP_registration.pcap)', needsVectors, () => {
  for (const [frame, requestId] of [[1, 1], [3, 2]]) {
    const req = makeRegistrationRequest({
      requestId, srcNbma: '169.254.100.1', srcProto: '155.1.0.1', nhsProto: '155.1.0.5', nhsNbma: '169.254.100.5',
      mtu: CiscoCieMtu.WITH_KEY, password: 'NHRPAUTH',
    });
    assert.equal(bytesOf(req), captured('NHRP_registration.pcap', frame), `request frame ${frame}`);
    // The NHS answers from the request as received.
    const rep = makeRegistrationReply(parsed('NHRP_registration.pcap', frame), {
      responder: makeCie({ mtu: 17912, holdingTime: 7200, clientNbma: '169.254.100.5', clientProto: '155.1.0.5' }),
    });
    assert.equal(bytesOf(rep), captured('NHRP_registration.pcap', frame + 1), `reply frame ${frame + 1}`);
  }
});

test('nhrp build: a registration without the unique bit, answered by another address (NHRP-responder-address.pcap)', needsVectors, () => {
  const req = makeRegistrationRequest({
    requestId: 300, srcNbma: '155.1.79.2', srcProto: '155.1.0.9', nhsProto: '155.1.0.6', nhsNbma: '6.6.6.6',
    mtu: CiscoCieMtu.WITH_KEY, password: 'NHRPAUTH', unique: false,
  });
  assert.equal(bytesOf(req), captured('NHRP-responder-address.pcap', 1));
  const rep = makeRegistrationReply(req, {
    responder: makeCie({ mtu: 17912, holdingTime: 7200, clientNbma: '6.6.6.6', clientProto: '155.1.146.6' }),
  });
  assert.equal(bytesOf(rep), captured('NHRP-responder-address.pcap', 2));
});

test('nhrp build: unkeyed tunnel, two hubs (nhrp.pcapng)', needsVectors, () => {
  const req = makeRegistrationRequest({
    requestId: 21, srcNbma: '100.1.2.27', srcProto: '10.65.0.3', nhsProto: '10.65.0.1', nhsNbma: '100.1.0.14', password: 'OTUS',
  });
  assert.equal(bytesOf(req), captured('nhrp.pcapng', 1));
  const rep = makeRegistrationReply(req, {
    responder: makeCie({ mtu: CiscoCieMtu.NO_KEY, holdingTime: 7200, clientNbma: '100.1.0.14', clientProto: '10.65.0.1' }),
  });
  assert.equal(bytesOf(rep), captured('nhrp.pcapng', 2));
  const hub2 = makeRegistrationRequest({
    requestId: 1, srcNbma: '100.1.2.27', srcProto: '10.64.0.3', nhsProto: '10.64.0.1', nhsNbma: '100.1.0.15', password: 'OTUS',
  });
  assert.equal(bytesOf(hub2), captured('nhrp.pcapng', 5));
});

test('nhrp build: registration without NAT support (ios_nhrp.pcap: flags 0x8000, /255, 30 s, "CISCO")', needsVectors, () => {
  const req = makeRegistrationRequest({
    requestId: 5, srcNbma: '10.0.12.2', srcProto: '192.168.0.2', nhsProto: '192.168.0.1',
    natCapable: false, prefixLength: 255, mtu: 1514, holdingTime: 30, password: 'CISCO',
  });
  assert.equal(bytesOf(req), captured('ios_nhrp.pcap', 1));
});

test('nhrp build: redirect, resolution, forwarding and reply (nhrp-trace.pcap)', needsVectors, () => {
  const hub = { srcNbma: '192.168.200.1', srcProto: '10.255.255.1', password: 'secret' };
  const ti = parsed('nhrp-trace.pcap', 1);
  assert.ok(ti.body.kind === 'traffic');
  const redirect = makeTrafficIndication({ ...hub, dstProto: '10.255.255.3', trigger: ti.body.trigger });
  assert.equal(bytesOf(redirect), captured('nhrp-trace.pcap', 1));

  const req = makeResolutionRequest({
    requestId: 5, srcNbma: '192.168.200.3', srcProto: '10.255.255.3', target: '10.255.255.2', mtu: 1514, password: 'secret',
  });
  assert.equal(bytesOf(req), captured('nhrp-trace.pcap', 2));

  const fwd = forwardedByNhs(parsed('nhrp-trace.pcap', 2), makeCie({
    prefixLength: 0, mtu: 1514, holdingTime: 7200, clientNbma: hub.srcNbma, clientProto: hub.srcProto,
  }));
  assert.equal(fwd.checksum, undefined);
  assert.equal(bytesOf(fwd), captured('nhrp-trace.pcap', 3));

  const self = { mtu: 1514, holdingTime: 7200, clientNbma: '192.168.200.2', clientProto: '10.255.255.2' };
  const rep = makeResolutionReply(fwd, { cies: [makeCie(self)], responder: makeCie({ ...self, prefixLength: 0 }) });
  assert.equal(bytesOf(rep), captured('nhrp-trace.pcap', 4));
});

test('nhrp build: forwarding a reply records the NHS in the Reverse Transit NHS record', () => {
  const req = makeResolutionRequest({ requestId: 9, srcNbma: '192.0.2.3', srcProto: '10.0.0.3', target: '10.0.0.2' });
  const me = makeCie({ prefixLength: 0, mtu: 17916, holdingTime: 7200, clientNbma: '192.0.2.1', clientProto: '10.0.0.1' });
  const rep = makeResolutionReply(req, { cies: [], responder: me, hopCount: 1 });
  const once = forwardedByNhs(rep, me);
  assert.equal(once.hopCount, 0);
  assert.deepEqual(extensionCies(once.extensions, NhrpExtensionType.REVERSE_TRANSIT_NHS), [me]);
  assert.deepEqual(extensionCies(once.extensions, NhrpExtensionType.FORWARD_TRANSIT_NHS), []);
  assert.throws(() => forwardedByNhs(once, me), /hop count exceeded/);
  // Without any extensions, the record is added in front of a new End.
  const bare = forwardedByNhs({ ...req, extensions: undefined }, me);
  assert.deepEqual(bare.extensions?.map((e) => e.type), [NhrpExtensionType.FORWARD_TRANSIT_NHS, NhrpExtensionType.END]);
});

test('nhrp build: registration NAK zeroes the holding time and keeps the request id', () => {
  const req = makeRegistrationRequest({ requestId: 42, srcNbma: '192.0.2.5', srcProto: '10.0.0.5', nhsProto: '10.0.0.1', nhsNbma: '192.0.2.1' });
  const nak = makeRegistrationReply(req, {
    code: NhrpCieCode.ALREADY_REGISTERED,
    responder: makeCie({ mtu: 17916, holdingTime: 7200, clientNbma: '192.0.2.1', clientProto: '10.0.0.1' }),
  });
  const b = nak.body as NhrpMandatory;
  assert.equal(nak.type, NhrpPacketType.REGISTRATION_REPLY);
  assert.equal(b.requestId, 42);
  assert.equal(b.flags, RegistrationFlag.U | RegistrationFlag.NAT);
  assert.deepEqual(b.cies.map((c) => [c.code, c.holdingTime]), [[14, 0]]);
  const bytes = encode(nak, emitNhrp, nhrpLength);
  assert.ok(nhrpChecksumValid(bytes));
  roundTrip(nhrpCodec, parseNhrp(new Reader(bytes, 'nhrp')));
  assert.throws(() => makeRegistrationReply({ ...req, type: 7, body: { kind: 'raw', shtl: 0, sstl: 0, bytes: new Uint8Array(0) } }, {
    responder: b.cies[0],
  }), /no request\/reply mandatory part/);
});

test('nhrp build: purge request and reply', () => {
  const purged = makeCie({ prefixLength: 32, mtu: 0, holdingTime: 0, clientProto: '10.0.0.7' });
  const req = makePurgeRequest({
    requestId: 3, srcNbma: '192.0.2.1', srcProto: '10.0.0.1', dstProto: '10.0.0.9', cies: [purged], noReply: false, password: 'k',
  });
  const b = req.body as NhrpMandatory;
  assert.equal(req.type, NhrpPacketType.PURGE_REQUEST);
  assert.equal(b.flags, PurgeFlag.NAT);
  const quiet = makePurgeRequest({
    requestId: 4, srcNbma: '192.0.2.1', srcProto: '10.0.0.1', dstProto: '10.0.0.9', cies: [], noReply: true, natCapable: false,
  });
  assert.equal((quiet.body as NhrpMandatory).flags, PurgeFlag.N);
  const rep = makePurgeReply(req);
  assert.equal(rep.type, NhrpPacketType.PURGE_REPLY);
  assert.deepEqual((rep.body as NhrpMandatory).cies, [purged]);
  assert.equal(cleartextPassword(rep.extensions), 'k');
  for (const p of [req, rep]) {
    const bytes = encode(p, emitNhrp, nhrpLength);
    assert.ok(nhrpChecksumValid(bytes));
    const back = parseNhrp(new Reader(bytes, 'nhrp'));
    assert.equal(toHex(encode(withoutChecksum(back), emitNhrp, nhrpLength)), toHex(bytes));
  }
});

test('nhrp build: error indication carries the packet in error and no extensions by default', () => {
  const bad = encode(makeResolutionRequest({ requestId: 1, srcNbma: '192.0.2.3', srcProto: '10.0.0.3', target: '10.0.0.2', password: 'wrong' }), emitNhrp, nhrpLength);
  const err = makeErrorIndication({
    srcNbma: '192.0.2.1', srcProto: '10.0.0.1', dstProto: '10.0.0.3',
    errorCode: NhrpErrorCode.AUTHENTICATION_FAILURE, errorOffset: 64, erroredPacket: bad,
  });
  const bytes = encode(err, emitNhrp, nhrpLength);
  assert.equal((bytes[14] << 8) | bytes[15], 0, 'ar$extoff 0');
  assert.ok(nhrpChecksumValid(bytes));
  const back = parseNhrp(new Reader(bytes, 'nhrp'));
  assert.ok(back.body.kind === 'error');
  assert.equal(back.body.errorCode, 11);
  assert.equal(back.body.errorOffset, 64);
  assert.equal(back.body.dstProto, '10.0.0.3');
  // The packet in error is itself an NHRP packet the receiver can decode.
  assert.equal(cleartextPassword(parseNhrp(new Reader(back.body.erroredPacket, 'nhrp')).extensions), 'wrong');
});

test('nhrp build: request extension layout and IPv6 defaults', () => {
  const s = { srcNbma: '192.0.2.1', srcProto: '10.0.0.1' };
  assert.deepEqual(requestExtensions(s).map((e) => [e.type, e.compulsory]), [[3, true], [4, true], [5, true], [9, false], [0, true]]);
  assert.deepEqual(requestExtensions({ ...s, password: 'p', natCapable: false }, { responder: false }).map((e) => e.type), [4, 5, 7, 0]);
  const v6 = makeResolutionRequest({
    requestId: 1, srcNbma: '20010db8000000000000000000000001', srcProto: '20010db8000000000000000000000002', target: '20010db8000000000000000000000003',
  });
  assert.equal(v6.afn, 2);
  assert.equal(v6.protocolType, 0x86dd);
  roundTrip(nhrpCodec, { ...v6, checksum: 7 });
});
