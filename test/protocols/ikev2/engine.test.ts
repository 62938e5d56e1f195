/**
 * IKEv2 engine, negotiation: two (and three) managers bring SAs up over the
 * simulated wire with every DH group and cipher family, and the ways a
 * negotiation can go wrong or take a detour (wrong PSK, INVALID_KE_PAYLOAD,
 * COOKIE, NAT, no proposal).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toHex } from '../../../protocols/wire/index.js';
import {
  decodeIkeMessage, encodeIkeMessage, findPayload, findNotify, proposalAlgorithms, idText, describeIkeMessage, vendorIdName,
  EncrId, IntegId, PrfId, DhGroup, NotifyType, ExchangeType, IdType,
} from '../../../protocols/ikev2/wire.js';
import { DEFAULT_IKE_PROPOSAL, type IkeProposalConfig, type EspTransformConfig } from '../../../protocols/ikev2/policy.js';
import { NON_ESP_MARKER_LENGTH } from '../../../protocols/esp/udpencap.js';
import { needsVectors } from '../../support/vectors.js';
import { readIkev2Md } from './captures.js';
import { IkeSim, established, assertChildPair, HUB, SPOKE, SPOKE2, type IkeNode } from './sim.js';

function up(sim: IkeSim, a: IkeNode, b: IkeNode): void {
  assert.equal(established(a).length, 1, `${a.name} has an established IKE SA`);
  assert.equal(established(b).length, 1, `${b.name} has an established IKE SA`);
  const [sa, sb] = [established(a)[0], established(b)[0]];
  assert.equal(sa.spiI, sb.spiI);
  assert.equal(sa.spiR, sb.spiR);
  assert.equal(toHex(sa.keys!.skD), toHex(sb.keys!.skD));
  assert.equal(a.count('ike-up'), 1);
  assert.equal(b.count('ike-up'), 1);
  assertChildPair(a, b);
  void sim;
}

const CIPHERS: { name: string; ike: Omit<IkeProposalConfig, 'dh'>; esp: EspTransformConfig }[] = [
  { name: 'AES-CBC-128/SHA1', ike: { encr: [{ id: EncrId.ENCR_AES_CBC, keyLength: 128 }], integ: [IntegId.AUTH_HMAC_SHA1_96], prf: [PrfId.PRF_HMAC_SHA1] }, esp: { encr: EncrId.ENCR_AES_CBC, keyLength: 128, integ: IntegId.AUTH_HMAC_SHA1_96 } },
  { name: 'AES-CBC-192/SHA256', ike: { encr: [{ id: EncrId.ENCR_AES_CBC, keyLength: 192 }], integ: [IntegId.AUTH_HMAC_SHA2_256_128], prf: [PrfId.PRF_HMAC_SHA2_256] }, esp: { encr: EncrId.ENCR_AES_CBC, keyLength: 192, integ: IntegId.AUTH_HMAC_SHA2_256_128 } },
  { name: 'AES-CBC-256/SHA384', ike: { encr: [{ id: EncrId.ENCR_AES_CBC, keyLength: 256 }], integ: [IntegId.AUTH_HMAC_SHA2_384_192], prf: [PrfId.PRF_HMAC_SHA2_384] }, esp: { encr: EncrId.ENCR_AES_CBC, keyLength: 256, integ: IntegId.AUTH_HMAC_SHA2_384_192 } },
  { name: 'AES-CBC-256/SHA512', ike: { encr: [{ id: EncrId.ENCR_AES_CBC, keyLength: 256 }], integ: [IntegId.AUTH_HMAC_SHA2_512_256], prf: [PrfId.PRF_HMAC_SHA2_512] }, esp: { encr: EncrId.ENCR_AES_CBC, keyLength: 256, integ: IntegId.AUTH_HMAC_SHA2_512_256 } },
  { name: 'AES-GCM-128', ike: { encr: [{ id: EncrId.ENCR_AES_GCM_16, keyLength: 128 }], integ: [], prf: [PrfId.PRF_HMAC_SHA2_256] }, esp: { encr: EncrId.ENCR_AES_GCM_16, keyLength: 128 } },
  { name: 'AES-GCM-256', ike: { encr: [{ id: EncrId.ENCR_AES_GCM_16, keyLength: 256 }], integ: [], prf: [PrfId.PRF_HMAC_SHA2_512] }, esp: { encr: EncrId.ENCR_AES_GCM_16, keyLength: 256 } },
];

for (const c of CIPHERS) {
  test(`ikev2 engine: IKE and child SA up with ${c.name}, either side initiating`, () => {
    for (const initiator of ['spoke', 'hub'] as const) {
      const sim = new IkeSim();
      const cfg = { proposals: [{ ...c.ike, dh: [DhGroup.ECP_256] }], transformSets: [c.esp] };
      const hub = sim.add('hub', { localAddress: HUB, ...cfg });
      const spoke = sim.add('spoke', { localAddress: SPOKE, ...cfg });
      if (initiator === 'spoke') sim.connect(spoke, HUB);
      else sim.connect(hub, SPOKE);
      up(sim, spoke, hub);
      const sa = established(spoke)[0];
      assert.equal(sa.suite!.encr.keyBits, c.ike.encr[0].keyLength);
      assert.equal(sa.suite!.encr.aead, c.ike.encr[0].id === EncrId.ENCR_AES_GCM_16);
      const child = [...spoke.children.values()][0];
      assert.equal(child.encr.id, c.esp.encr);
      assert.equal(child.integ?.id, c.esp.integ);
      // Four messages, no retransmission.
      assert.equal(sim.wire.length, 4);
    }
  });
}

for (const group of [DhGroup.MODP_1024, DhGroup.MODP_1536, DhGroup.MODP_2048, DhGroup.ECP_256, DhGroup.ECP_384, DhGroup.ECP_521, DhGroup.CURVE25519]) {
  test(`ikev2 engine: SA up with DH group ${group}`, () => {
    const sim = new IkeSim();
    const proposals = [{ ...DEFAULT_IKE_PROPOSAL, dh: [group] }];
    const hub = sim.add('hub', { localAddress: HUB, proposals });
    const spoke = sim.add('spoke', { localAddress: SPOKE, proposals });
    sim.connect(spoke, HUB);
    up(sim, spoke, hub);
    assert.equal(established(hub)[0].suite!.dh, group);
    const init = decodeIkeMessage(sim.wire[0].bytes);
    assert.equal(findPayload(init.payloads, 'KE')!.group, group);
    // Configured explicitly, so not flagged as a peer's weak choice.
    assert.equal(established(hub)[0].weak, false);
  });
}

test('ikev2 engine: the default proposal is IOS-XE\'s (AES-CBC-256, SHA512/384, groups 19 14 21) and the SA comes up with it', () => {
  const sim = new IkeSim();
  const hub = sim.add('hub', { localAddress: HUB });
  const spoke = sim.add('spoke', { localAddress: SPOKE });
  sim.connect(spoke, HUB);
  up(sim, spoke, hub);
  const init = decodeIkeMessage(sim.wire[0].bytes);
  const a = proposalAlgorithms(findPayload(init.payloads, 'SA')!.proposals[0]);
  assert.deepEqual(a.encr, [{ id: EncrId.ENCR_AES_CBC, keyLength: 256 }]);
  assert.deepEqual(a.integ, [IntegId.AUTH_HMAC_SHA2_512_256, IntegId.AUTH_HMAC_SHA2_384_192]);
  assert.deepEqual(a.prf, [PrfId.PRF_HMAC_SHA2_512, PrfId.PRF_HMAC_SHA2_384]);
  assert.deepEqual(a.dh, [DhGroup.ECP_256, DhGroup.MODP_2048, DhGroup.ECP_521]);
  const child = [...spoke.children.values()][0];
  assert.equal(child.encr.name, 'AES-CBC-128');
  assert.equal(child.integ?.name, 'HMAC-SHA1-96');
  assert.equal(child.lifetimeSeconds, 3600);
});

test('ikev2 engine: an old peer that only offers group 2 is accepted with a warning (and refused without allowWeakDh)', () => {
  for (const allowWeakDh of [true, false]) {
    const sim = new IkeSim();
    const hub = sim.add('hub', { localAddress: HUB, allowWeakDh });
    const spoke = sim.add('spoke', { localAddress: SPOKE, proposals: [{ ...DEFAULT_IKE_PROPOSAL, dh: [DhGroup.MODP_1024] }] });
    sim.connect(spoke, HUB);
    if (allowWeakDh) {
      up(sim, spoke, hub);
      assert.equal(established(hub)[0].weak, true);
      assert.ok(hub.logs.some((l) => l.startsWith('warn:') && l.includes('weak DH group MODP_1024')));
    } else {
      assert.equal(established(spoke).length, 0);
      assert.equal(findNotify(decodeIkeMessage(sim.wire[1].bytes).payloads, NotifyType.NO_PROPOSAL_CHOSEN)?.notifyType, NotifyType.NO_PROPOSAL_CHOSEN);
      assert.equal(spoke.of('ike-down')[0].reason, 'no proposal chosen');
      assert.equal(hub.manager.sas().length, 0, 'a refusal keeps no state');
    }
  }
});

test('ikev2 engine: IKE_AUTH carries ID_IPV4_ADDR, USE_TRANSPORT_MODE and GRE selectors between the NBMA addresses', () => {
  const sim = new IkeSim();
  const hub = sim.add('hub', { localAddress: HUB });
  const spoke = sim.add('spoke', { localAddress: SPOKE });
  sim.connect(spoke, HUB);
  const sa = established(hub)[0];
  const req = decodeIkeMessage(sim.wire[2].bytes);
  assert.equal(req.header.exchangeType, ExchangeType.IKE_AUTH);
  const opened = sa.open(sim.wire[2].bytes, req);
  assert.ok(opened.ok);
  assert.equal(describeIkeMessage({ header: req.header, payloads: opened.payloads }),
    'IKE_AUTH request 1 [ IDi N(INITIAL_CONTACT) AUTH N(USE_TRANSPORT_MODE) SA TSi TSr ]');
  const id = findPayload(opened.payloads, 'IDi')!;
  assert.equal(id.idType, IdType.ID_IPV4_ADDR);
  assert.equal(idText(id.idType, id.data), SPOKE);
  const tsi = findPayload(opened.payloads, 'TSi')!.selectors;
  assert.deepEqual(tsi, [{ tsType: 7, ipProtocol: 47, startPort: 0, endPort: 65535, startAddress: SPOKE, endAddress: SPOKE }]);
  const resp = decodeIkeMessage(sim.wire[3].bytes);
  const ro = established(spoke)[0].open(sim.wire[3].bytes, resp);
  assert.ok(ro.ok);
  assert.equal(describeIkeMessage({ header: resp.header, payloads: ro.payloads }), 'IKE_AUTH response 1 [ IDr AUTH N(USE_TRANSPORT_MODE) SA TSi TSr ]');
  assert.equal(sa.remoteId, SPOKE);
  assert.equal(established(spoke)[0].remoteId, HUB);
});

test('ikev2 engine: a wrong PSK gives AUTHENTICATION_FAILED on both sides and clear log lines', () => {
  const sim = new IkeSim();
  const hub = sim.add('hub', { localAddress: HUB, keyring: [{ address: '0.0.0.0', prefixLength: 0, psk: 'right' }] });
  const spoke = sim.add('spoke', { localAddress: SPOKE, keyring: [{ address: HUB, prefixLength: 32, psk: 'wrong' }] });
  sim.connect(spoke, HUB);
  assert.equal(established(spoke).length + established(hub).length, 0);
  assert.ok(hub.logs.some((l) => l.startsWith('warn:') && l.includes('authentication of 192.0.2.10') && l.includes('AUTH does not match the pre-shared key')), hub.logs.join('\n'));
  assert.ok(spoke.logs.some((l) => l.startsWith('warn:') && l.includes('rejected our authentication (AUTHENTICATION_FAILED)')));
  assert.equal(spoke.of('ike-down')[0].reason, 'peer reported authentication failure');
  assert.equal(spoke.of('ike-down')[0].wasUp, false);
  assert.equal(hub.of('ike-down')[0].reason, 'authentication failed');
  assert.equal(spoke.count('child-up') + hub.count('child-up'), 0);
  assert.equal(hub.manager.sas().length + spoke.manager.sas().length, 0);
  // The responder's answer is the notify alone, inside SK.
  const resp = decodeIkeMessage(sim.wire[3].bytes);
  assert.equal(resp.header.exchangeType, ExchangeType.IKE_AUTH);
  assert.equal(resp.payloads[0].kind, 'SK');
});

test('ikev2 engine: a responder whose AUTH is wrong (local/remote keys) is refused by the initiator with an INFORMATIONAL', () => {
  const sim = new IkeSim();
  const hub = sim.add('hub', { localAddress: HUB, keyring: [{ address: '0.0.0.0', prefixLength: 0, pskLocal: 'hub-key', pskRemote: 'spoke-key' }] });
  const spoke = sim.add('spoke', { localAddress: SPOKE, keyring: [{ address: HUB, prefixLength: 32, pskLocal: 'spoke-key', pskRemote: 'not-the-hub-key' }] });
  sim.connect(spoke, HUB);
  assert.equal(hub.count('ike-up'), 1, 'the hub authenticated the spoke');
  assert.ok(spoke.logs.some((l) => l.startsWith('warn:') && l.includes('its AUTH does not match the pre-shared key')));
  assert.ok(hub.logs.some((l) => l.includes('could not authenticate us (AUTHENTICATION_FAILED)')));
  assert.equal(hub.of('ike-down')[0].reason, 'peer reported authentication failure');
  assert.equal(hub.of('child-down').length, 1);
  assert.equal(hub.manager.sas().length + spoke.manager.sas().length, 0);
  // With matching local/remote keys the same pair comes up.
  const ok = new IkeSim();
  const h2 = ok.add('hub', { localAddress: HUB, keyring: [{ address: '0.0.0.0', prefixLength: 0, pskLocal: 'hub-key', pskRemote: 'spoke-key' }] });
  const s2 = ok.add('spoke', { localAddress: SPOKE, keyring: [{ address: HUB, prefixLength: 32, pskLocal: 'spoke-key', pskRemote: 'hub-key' }] });
  ok.connect(s2, HUB);
  up(ok, s2, h2);
});

test('ikev2 engine: INVALID_KE_PAYLOAD makes the initiator retry with the group the responder wants', () => {
  const sim = new IkeSim();
  const hub = sim.add('hub', { localAddress: HUB, proposals: [{ ...DEFAULT_IKE_PROPOSAL, dh: [DhGroup.MODP_2048] }] });
  const spoke = sim.add('spoke', { localAddress: SPOKE, proposals: [{ ...DEFAULT_IKE_PROPOSAL, dh: [DhGroup.ECP_256, DhGroup.MODP_2048] }] });
  sim.connect(spoke, HUB);
  up(sim, spoke, hub);
  const msgs = sim.wire.map((p) => decodeIkeMessage(p.bytes));
  assert.equal(findPayload(msgs[0].payloads, 'KE')!.group, DhGroup.ECP_256);
  const inv = findNotify(msgs[1].payloads, NotifyType.INVALID_KE_PAYLOAD)!;
  assert.equal(toHex(inv.data), '000e');
  assert.equal(msgs[1].header.spiR, 0n);
  assert.equal(findPayload(msgs[2].payloads, 'KE')!.group, DhGroup.MODP_2048);
  assert.equal(msgs[2].header.spiI, msgs[0].header.spiI);
  assert.equal(established(spoke)[0].suite!.dh, DhGroup.MODP_2048);
  assert.equal(sim.wire.length, 6);
});

test('ikev2 engine: COOKIE round trip under load keeps no responder state until the cookie comes back', () => {
  const sim = new IkeSim();
  const hub = sim.add('hub', { localAddress: HUB, cookieThreshold: 0 });
  const spoke = sim.add('spoke', { localAddress: SPOKE });
  // Deliver the first request alone: the hub answers with a COOKIE and remembers nothing.
  sim.apply(spoke, spoke.manager.connect(HUB, sim.now));
  const first = sim.queue.shift()!;
  sim.apply(hub, hub.manager.receive(first.from, first.bytes, sim.now));
  assert.equal(hub.manager.sas().length, 0);
  const cookieMsg = decodeIkeMessage(sim.queue[0].bytes);
  const cookie = findNotify(cookieMsg.payloads, NotifyType.COOKIE)!;
  assert.equal(cookie.data.length, 36);
  assert.equal(cookieMsg.payloads.length, 1);
  sim.flush();
  up(sim, spoke, hub);
  const retry = decodeIkeMessage(sim.wire[2].bytes);
  assert.equal(retry.payloads[0].kind, 'N');
  assert.equal(toHex((retry.payloads[0] as { data: Uint8Array }).data), toHex(cookie.data));
  assert.deepEqual(retry.payloads.slice(1), decodeIkeMessage(sim.wire[0].bytes).payloads, 'the retry is the first request with the cookie in front');
  assert.equal(hub.manager.counters().cookiesSent, 1);
  // A forged cookie is answered with a fresh challenge and counted.
  const forged = retry.payloads.map((p, i) => (i === 0 ? { ...p, data: new Uint8Array(36) } : p));
  const before = hub.manager.counters().drops['bad cookie'] ?? 0;
  const out = hub.manager.receive({ address: '192.0.2.99', port: 500 }, encodeIkeMessage({ header: { ...retry.header, spiI: 77n }, payloads: forged }), sim.now);
  assert.equal(hub.manager.counters().drops['bad cookie'], before + 1);
  assert.equal(out.filter((a) => a.kind === 'send').length, 1);
  assert.equal(hub.manager.sas().length, 1);
});

test('ikev2 engine: NAT detected, IKE floats to 4500 behind the non-ESP marker, child SAs are UDP-encapsulated, keepalives flow', () => {
  const sim = new IkeSim();
  sim.nat = { inside: '10.0.0.2', publicAddress: '203.0.113.7', portBase: 31000 };
  const hub = sim.add('hub', { localAddress: HUB });
  const spoke = sim.add('spoke', { localAddress: '10.0.0.2' });
  sim.connect(spoke, HUB);
  assert.equal(established(spoke).length, 1);
  assert.equal(established(hub).length, 1);
  const s = established(spoke)[0];
  const h = established(hub)[0];
  assert.equal(s.natLocal, true);
  assert.equal(h.natRemote, true);
  assert.equal(sim.wire[2].to.port, 4500);
  assert.deepEqual([...sim.wire[2].bytes.subarray(0, NON_ESP_MARKER_LENGTH)], [0, 0, 0, 0]);
  assert.equal(decodeIkeMessage(sim.wire[2].bytes.subarray(4)).header.exchangeType, ExchangeType.IKE_AUTH);
  const sc = [...spoke.children.values()][0];
  const hc = [...hub.children.values()][0];
  assert.deepEqual(sc.natT, { srcPort: 4500, dstPort: 4500 });
  assert.deepEqual(hc.natT, { srcPort: 4500, dstPort: 31001 });
  assert.equal(hc.remote, '203.0.113.7');
  assert.equal(hub.manager.showIkev2Sa(sim.now)[0].nat, 'outside');
  sim.run(21_000);
  const keepalives = sim.wire.filter((p) => p.bytes.length === 1 && p.bytes[0] === 0xff);
  assert.ok(keepalives.length >= 1);
  assert.equal(keepalives[0].from.address, '203.0.113.7');
  assert.equal(hub.manager.counters().drops['not an IKE message'] ?? 0, 0);
});

test('ikev2 engine: three managers, hub and two spokes, plus a spoke-to-spoke SA on demand', () => {
  const sim = new IkeSim();
  const hub = sim.add('hub', { localAddress: HUB });
  const s1 = sim.add('s1', { localAddress: SPOKE });
  const s2 = sim.add('s2', { localAddress: SPOKE2 });
  sim.connect(s1, HUB);
  sim.connect(s2, HUB);
  sim.connect(s1, SPOKE2);
  assert.equal(established(hub).length, 2);
  assert.equal(established(s1).length, 2);
  assert.equal(established(s2).length, 2);
  assert.equal(hub.children.size, 2);
  assert.equal(s1.children.size, 2);
  // connect() again is a no-op while an SA exists.
  assert.deepEqual(s1.manager.connect(SPOKE2, sim.now).filter((a) => a.kind === 'send'), []);
  const s1ToS2 = [...s1.children.values()].find((c) => c.remote === SPOKE2)!;
  const s2FromS1 = [...s2.children.values()].find((c) => c.remote === SPOKE)!;
  assert.equal(s1ToS2.spiOut, s2FromS1.spiIn);
  assert.equal(toHex(s1ToS2.outbound.encrKey), toHex(s2FromS1.inbound.encrKey));
  assert.deepEqual(hub.manager.showCryptoSession().map((r) => [r.peer, r.status, r.activeSas]), [[SPOKE, 'UP-ACTIVE', 2], [SPOKE2, 'UP-ACTIVE', 2]]);
});

test('ikev2 engine: simultaneous connect from both spokes converges to working SAs on both', () => {
  const sim = new IkeSim();
  const a = sim.add('a', { localAddress: SPOKE });
  const b = sim.add('b', { localAddress: SPOKE2 });
  sim.apply(a, a.manager.connect(SPOKE2, sim.now));
  sim.apply(b, b.manager.connect(SPOKE, sim.now));
  sim.flush();
  assert.ok(established(a).length >= 1);
  assert.equal(established(a).length, established(b).length);
  for (const c of a.children.values()) {
    const peer = b.children.get(c.spiOut)!;
    assert.ok(peer, 'every child of a has its pair on b');
    assert.equal(toHex(peer.inbound.encrKey), toHex(c.outbound.encrKey));
  }
});

test('ikev2 engine: no common ESP transform set keeps the IKE SA up without a child', () => {
  const sim = new IkeSim();
  const hub = sim.add('hub', { localAddress: HUB, transformSets: [{ encr: EncrId.ENCR_AES_GCM_16, keyLength: 256 }] });
  const spoke = sim.add('spoke', { localAddress: SPOKE });
  sim.connect(spoke, HUB);
  assert.equal(established(hub).length, 1);
  assert.equal(established(spoke).length, 1);
  assert.equal(hub.children.size + spoke.children.size, 0);
  assert.ok(spoke.logs.some((l) => l.includes('refused the child SA: NO_PROPOSAL_CHOSEN')));
  assert.equal(spoke.manager.showCryptoSession()[0].status, 'UP-IDLE');
});

test('ikev2 engine: a Cisco IOS IKE_SA_INIT (ikev2.md C1: its VIDs, group 2, AES-128/SHA1) is answered by a hub configured for it', needsVectors, () => {
  const sim = new IkeSim();
  const hub = sim.add('hub', {
    localAddress: HUB,
    proposals: [{ encr: [{ id: EncrId.ENCR_AES_CBC, keyLength: 128 }], integ: [IntegId.AUTH_HMAC_SHA1_96], prf: [PrfId.PRF_HMAC_SHA1], dh: [DhGroup.MODP_1024] }],
  });
  const c1 = readIkev2Md().cisco.get('C1')!;
  const out = hub.manager.receive({ address: '192.0.2.2', port: 500 }, c1, sim.now);
  const send = out.find((a) => a.kind === 'send');
  assert.ok(send && send.kind === 'send');
  const r = decodeIkeMessage(send.bytes);
  assert.equal(describeIkeMessage(r), 'IKE_SA_INIT response 0 [ SA KE Nonce N(NAT_DETECTION_SOURCE_IP) N(NAT_DETECTION_DESTINATION_IP) ]');
  assert.deepEqual(proposalAlgorithms(findPayload(r.payloads, 'SA')!.proposals[0]), {
    encr: [{ id: EncrId.ENCR_AES_CBC, keyLength: 128 }], prf: [PrfId.PRF_HMAC_SHA1], integ: [IntegId.AUTH_HMAC_SHA1_96], dh: [DhGroup.MODP_1024], esn: [],
  });
  assert.equal(findPayload(r.payloads, 'KE')!.data.length, 128);
  assert.equal(r.header.spiI, decodeIkeMessage(c1).header.spiI);
  const sa = hub.manager.sas()[0];
  assert.equal(sa.state, 'init-replied');
  // The C1 capture was made between two other addresses: its NAT hashes do not match ours, so a NAT is assumed.
  assert.equal(sa.natRemote || sa.natLocal, true);
});

test('ikev2 engine: with Cisco vendor IDs on both sides (as IOS sends them) the SA comes up', () => {
  const sim = new IkeSim();
  const hub = sim.add('hub', { localAddress: HUB, ciscoVendorIds: true });
  const spoke = sim.add('spoke', { localAddress: SPOKE, ciscoVendorIds: true });
  sim.connect(spoke, HUB);
  assertChildPair(spoke, hub);
  const init = decodeIkeMessage(sim.wire[0].bytes);
  assert.deepEqual(init.payloads.filter((p) => p.kind === 'V').map((p) => vendorIdName(p.data)), ['CISCO-DELETE-REASON', 'CISCO(COPYRIGHT)', 'CISCO-GRE-MODE']);
  assert.equal(findNotify(init.payloads, NotifyType.NAT_DETECTION_SOURCE_IP)!.protocolId, 1, 'IOS puts Protocol ID 1 on its NAT notifies');
});

test('ikev2 engine: a rebooted spoke\'s INITIAL_CONTACT clears the hub\'s stale SA before the new one comes up', () => {
  const sim = new IkeSim();
  const hub = sim.add('hub', { localAddress: HUB });
  const first = sim.add('spoke', { localAddress: SPOKE }, 'boot-1');
  sim.connect(first, HUB);
  const stale = established(hub)[0];
  const rebooted = sim.add('spoke', { localAddress: SPOKE }, 'boot-2');
  sim.connect(rebooted, HUB);
  assert.equal(stale.state, 'closed');
  assert.deepEqual(hub.of('ike-down').map((d) => [d.reason, d.wasUp]), [['initial contact', true]]);
  assert.equal(hub.of('child-down')[0].reason, 'initial contact');
  assert.equal(established(hub).length, 1);
  assertChildPair(rebooted, hub);
});

test('ikev2 engine: `identity local address` sends another ID_IPV4_ADDR than the NBMA address; the PSK is still found by address', () => {
  const sim = new IkeSim();
  const hub = sim.add('hub', { localAddress: HUB });
  const spoke = sim.add('spoke', { localAddress: SPOKE, localId: '10.255.0.1' });
  sim.connect(spoke, HUB);
  assertChildPair(spoke, hub);
  assert.equal(established(hub)[0].remoteId, '10.255.0.1');
  assert.equal(spoke.manager.showIkev2Sa(sim.now)[0].localId, '10.255.0.1');
});
