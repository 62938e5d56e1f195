/**
 * What running against FRR's nhrpd (test/vm/frr-nhrpd.test.ts) found, kept as engine tests:
 * a client that does not know its NHS's protocol address (FRR's `ip nhrp nhs dynamic nbma`)
 * registers to its own address and learns the NHS's from the reply; and a resolution request
 * from a peer we already resolved does not downgrade our authoritative entry to an implicit one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reader, encode } from '../../../protocols/wire/index.js';
import { parseNhrp, emitNhrp, nhrpLength, type NhrpPacket } from '../../../protocols/nhrp/wire.js';
import { NhrpCieCode, NhrpPacketType } from '../../../protocols/nhrp/constants.js';
import { makeRegistrationRequest, makeResolutionReply, makeResolutionRequest } from '../../../protocols/nhrp/build.js';
import { makeCie } from '../../../protocols/nhrp/cie.js';
import { NhrpEngine } from '../../../protocols/nhrp/engine.js';
import type { NhrpAction } from '../../../protocols/nhrp/engine-types.js';
import { labConfig } from './sim.js';

const bytesOf = (p: NhrpPacket): Uint8Array => encode(p, emitNhrp, nhrpLength);

function sent(out: readonly NhrpAction[]): { nbma: string; packet: NhrpPacket }[] {
  return out.flatMap((a) => (a.kind === 'send' ? [{ nbma: a.nbma, packet: parseNhrp(new Reader(a.bytes, 'nhrp')) }] : []));
}

function mandatory(p: NhrpPacket) {
  assert.equal(p.body.kind, 'mandatory');
  return p.body.kind === 'mandatory' ? p.body : assert.fail('no mandatory part');
}

// FRR 8.4 has no NHRP authentication: the hub runs without a password, as in the interop lab.
const hubConfig = labConfig('hub', { password: undefined });

test('hub: a registration addressed to the client itself (NHS unknown, RFC 2332 5.2.3) is accepted; the reply names the hub', () => {
  const hub = new NhrpEngine(hubConfig, { lookup: () => undefined }, 0);
  hub.start(0);
  // FRR's request: destination protocol address = its own, no U flag (`registration no-unique`).
  const req = makeRegistrationRequest({ srcNbma: '203.0.113.11', srcProto: '10.0.0.11', requestId: 1, nhsProto: '10.0.0.11', holdingTime: 450, unique: false, mtu: 0 });
  const out = hub.receive(bytesOf(req), '203.0.113.11', 1000);
  assert.ok(out.some((a) => a.kind === 'map' && a.proto === '10.0.0.11' && a.nbma === '203.0.113.11'), 'the client is mapped');
  const [reply] = sent(out);
  assert.equal(reply.nbma, '203.0.113.11');
  assert.equal(reply.packet.type, NhrpPacketType.REGISTRATION_REPLY);
  const b = mandatory(reply.packet);
  assert.equal(b.cies[0].code, NhrpCieCode.SUCCESS);
  assert.equal(b.requestId, 1);
  assert.equal(b.srcProto, '10.0.0.11');
  assert.equal(b.dstProto, '10.0.0.1', 'FRR learns its NHS\'s protocol address from the reply\'s destination');
  const e = hub.cache.get('10.0.0.11', 32)!;
  assert.equal(e.type, 'dynamic');
  assert.ok(e.flags.registered && !e.flags.unique);
});

test('hub: a registration to the hub\'s own address still gets the hub in the reply; one to a third address is refused', () => {
  const hub = new NhrpEngine(hubConfig, { lookup: () => undefined }, 0);
  hub.start(0);
  const ok = sent(hub.receive(bytesOf(makeRegistrationRequest({ srcNbma: '203.0.113.12', srcProto: '10.0.0.12', requestId: 7, nhsProto: '10.0.0.1' })), '203.0.113.12', 0));
  assert.equal(mandatory(ok[0].packet).dstProto, '10.0.0.1');
  assert.equal(mandatory(ok[0].packet).cies[0].code, NhrpCieCode.SUCCESS);
  const other = sent(hub.receive(bytesOf(makeRegistrationRequest({ srcNbma: '203.0.113.13', srcProto: '10.0.0.13', requestId: 8, nhsProto: '10.0.0.99' })), '203.0.113.13', 0));
  assert.equal(mandatory(other[0].packet).cies[0].code, NhrpCieCode.ADMINISTRATIVELY_PROHIBITED);
  assert.equal(hub.cache.get('10.0.0.13', 32), undefined);
});

test('spoke: a resolution request from a peer it resolved keeps the authoritative entry', () => {
  const cfg = labConfig('spoke2', { password: undefined });
  const spoke = new NhrpEngine(cfg, { lookup: () => undefined }, 0);
  spoke.start(0);
  const [ask] = sent(spoke.resolve('10.0.0.11', 1000));
  assert.equal(ask.packet.type, NhrpPacketType.RESOLUTION_REQUEST);
  // FRR's answer (as captured: flags Q|A|D|S, its own binding, holding time 450).
  const answer = makeResolutionReply(ask.packet, {
    cies: [makeCie({ prefixLength: 32, mtu: 0, holdingTime: 450, clientNbma: '203.0.113.11', clientProto: '10.0.0.11' })],
    responder: makeCie({ prefixLength: 0, mtu: 0, holdingTime: 450, clientNbma: '203.0.113.11', clientProto: '10.0.0.11' }),
    flags: 0xe800,
  });
  spoke.receive(bytesOf(answer), '203.0.113.1', 2000);
  const resolved = spoke.cache.get('10.0.0.11', 32)!;
  assert.ok(resolved.flags.authoritative && !resolved.flags.implicit);
  // Then FRR resolves us in turn, straight to our NBMA address.
  const theirs = makeResolutionRequest({ srcNbma: '203.0.113.11', srcProto: '10.0.0.11', requestId: 2, target: '10.0.0.12', mtu: 0, holdingTime: 450 });
  const replies = sent(spoke.receive(bytesOf(theirs), '203.0.113.11', 3000));
  assert.equal(replies[0].packet.type, NhrpPacketType.RESOLUTION_REPLY);
  assert.equal(replies[0].nbma, '203.0.113.11');
  const after = spoke.cache.get('10.0.0.11', 32)!;
  assert.equal(after.nbma, '203.0.113.11');
  assert.ok(after.flags.authoritative && !after.flags.implicit, `flags stay those of the resolution: ${JSON.stringify(after.flags)}`);
  assert.equal(after.expires, resolved.expires);
});

test('spoke: a resolution request from a new peer still creates an implicit entry', () => {
  const spoke = new NhrpEngine(labConfig('spoke2', { password: undefined }), { lookup: () => undefined }, 0);
  spoke.start(0);
  const theirs = makeResolutionRequest({ srcNbma: '203.0.113.13', srcProto: '10.0.0.13', requestId: 3, target: '10.0.0.12', mtu: 0, holdingTime: 450 });
  const out = spoke.receive(bytesOf(theirs), '203.0.113.13', 0);
  assert.ok(out.some((a) => a.kind === 'map' && a.proto === '10.0.0.13' && a.nbma === '203.0.113.13'));
  assert.ok(spoke.cache.get('10.0.0.13', 32)!.flags.implicit);
});
