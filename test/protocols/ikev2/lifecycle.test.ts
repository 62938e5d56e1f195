/**
 * IKEv2 engine, life of an SA: child and IKE rekeys on their timers and on
 * demand, simultaneous rekeys (RFC 7296 sections 2.8.1 and 2.8.2), delete,
 * dead peer detection and lifetimes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toHex } from '../../../protocols/wire/index.js';
import { decodeIkeMessage, findPayload, ExchangeType, DhGroup } from '../../../protocols/ikev2/wire.js';
import type { IkeConfig } from '../../../protocols/ikev2/policy.js';
import { IkeSim, established, assertChildPair, HUB, SPOKE, type IkeNode } from './sim.js';

function pair(cfg: Partial<IkeConfig> = {}): { sim: IkeSim; hub: IkeNode; spoke: IkeNode } {
  const sim = new IkeSim();
  const hub = sim.add('hub', { ...cfg, localAddress: HUB });
  const spoke = sim.add('spoke', { ...cfg, localAddress: SPOKE });
  sim.connect(spoke, HUB);
  assert.equal(established(spoke).length, 1);
  return { sim, hub, spoke };
}

function exchanges(sim: IkeSim, from = 0): string[] {
  return sim.wire.slice(from).filter((p) => p.bytes.length > 1).map((p) => {
    const b = p.to.port === 4500 ? p.bytes.subarray(4) : p.bytes;
    const h = decodeIkeMessage(b).header;
    return `${h.exchangeType === ExchangeType.CREATE_CHILD_SA ? 'CHILD' : h.exchangeType === ExchangeType.INFORMATIONAL ? 'INFO' : h.exchangeType}${h.response ? 'r' : ''}`;
  });
}

test('ikev2 lifecycle: the child SA is rekeyed before its 3600 s lifetime, then the old one is deleted', () => {
  const { sim, hub, spoke } = pair();
  const old = [...spoke.children.values()][0];
  sim.run(3_000_000);
  assert.equal(spoke.count('child-rekeyed'), 0, 'not before 85 % of the lifetime');
  sim.run(300_000);
  assert.equal(spoke.count('child-rekeyed') + hub.count('child-rekeyed'), 2);
  assertChildPair(spoke, hub);
  const now = [...spoke.children.values()][0];
  assert.notEqual(now.spiIn, old.spiIn);
  assert.notEqual(toHex(now.inbound.encrKey), toHex(old.inbound.encrKey));
  const rk = spoke.of('child-rekeyed')[0];
  assert.deepEqual(rk.replaced, { spiIn: old.spiIn, spiOut: old.spiOut });
  assert.deepEqual(spoke.of('child-down').map((d) => [d.spiIn, d.reason]), [[old.spiIn, 'rekeyed']]);
  assert.deepEqual(hub.of('child-down').map((d) => [d.spiOut, d.reason]), [[old.spiIn, 'rekeyed']]);
  assert.equal(spoke.count('ike-down') + hub.count('ike-down'), 0);
  // Over a day: 24 rekeys each way at most, never two pairs left behind, the IKE SA rekeyed too.
  sim.run(86_400_000);
  assertChildPair(spoke, hub);
  assert.equal(established(spoke).length, 1);
  assert.equal(established(hub).length, 1);
  assert.ok(spoke.count('child-rekeyed') >= 24);
  assert.equal(spoke.count('ike-down') + hub.count('ike-down'), 0);
});

test('ikev2 lifecycle: a child rekey with PFS carries KE and both keys still agree', () => {
  const { sim, hub, spoke } = pair({ pfsGroup: DhGroup.ECP_384 });
  const start = sim.wire.length;
  const c = [...spoke.children.values()][0];
  sim.apply(spoke, spoke.manager.rekeyChild(c.spiIn, sim.now));
  sim.flush();
  assertChildPair(spoke, hub);
  const req = sim.wire[start];
  const m = decodeIkeMessage(req.bytes);
  assert.equal(m.header.exchangeType, ExchangeType.CREATE_CHILD_SA);
  const opened = established(hub)[0].open(req.bytes, m);
  assert.ok(opened.ok);
  assert.equal(findPayload(opened.payloads, 'KE')!.group, DhGroup.ECP_384);
  assert.equal([...spoke.children.values()][0].pfsGroup, DhGroup.ECP_384);
  assert.deepEqual(exchanges(sim, start), ['CHILD', 'CHILDr', 'INFO', 'INFOr']);
});

test('ikev2 lifecycle: the IKE SA is rekeyed with new SPIs and SKEYSEED; children move; no ike-down', () => {
  const { sim, hub, spoke } = pair({ ikeLifetime: 600 });
  const before = established(spoke)[0];
  const child = [...spoke.children.values()][0];
  sim.run(560_000);
  const after = established(spoke);
  assert.equal(after.length, 1);
  assert.notEqual(after[0], before);
  assert.notEqual(after[0].spiI, before.spiI);
  assert.notEqual(toHex(after[0].keys!.skD), toHex(before.keys!.skD));
  assert.equal(established(hub).length, 1);
  assert.equal(established(hub)[0].spiI, after[0].spiI);
  assert.equal(toHex(established(hub)[0].keys!.skD), toHex(after[0].keys!.skD));
  assert.equal(spoke.manager.sas().length, 1, 'the old IKE SA is gone after its Delete');
  assert.equal(hub.manager.sas().length, 1);
  assert.equal(spoke.count('ike-down') + hub.count('ike-down'), 0);
  assert.equal(spoke.count('child-down') + hub.count('child-down'), 0);
  assert.equal(after[0].children.length, 1);
  assert.equal(after[0].children[0].spiIn, child.spiIn);
  // The new SA's message IDs start again at 0; a child rekey now runs through it.
  sim.apply(spoke, spoke.manager.rekeyChild(child.spiIn, sim.now));
  sim.flush();
  assertChildPair(spoke, hub);
  assert.equal(spoke.count('child-rekeyed'), 1);
});

test('ikev2 lifecycle: simultaneous child rekey: the SA with the lowest nonce is deleted by its creator (2.8.1)', () => {
  for (const seed of ['x', 'y', 'z', 'w']) {
    const sim = new IkeSim();
    const hub = sim.add('hub', { localAddress: HUB }, `hub-${seed}`);
    const spoke = sim.add('spoke', { localAddress: SPOKE }, `spoke-${seed}`);
    sim.connect(spoke, HUB);
    const c = [...spoke.children.values()][0];
    sim.apply(spoke, spoke.manager.rekeyChild(c.spiIn, sim.now));
    sim.apply(hub, hub.manager.rekeyChild(c.spiOut, sim.now));
    sim.flush();
    assertChildPair(spoke, hub);
    assert.equal(spoke.count('child-rekeyed'), 2, 'both exchanges completed');
    assert.equal(hub.count('child-rekeyed'), 2);
    const reasons = [...spoke.of('child-down'), ...hub.of('child-down')].map((d) => d.reason).sort();
    assert.deepEqual(reasons, ['rekey collision', 'rekey collision', 'rekeyed', 'rekeyed']);
    const survivor = [...spoke.children.values()][0];
    assert.notEqual(survivor.spiIn, c.spiIn);
    assert.equal(established(spoke)[0].children.every((x) => x.state === 'installed'), true);
    assert.equal(established(hub)[0].children.every((x) => x.state === 'installed'), true);
  }
});

test('ikev2 lifecycle: simultaneous IKE SA rekey converges on one new IKE SA on both sides (2.8.2)', () => {
  for (const seed of ['x', 'y', 'z', 'w']) {
    const sim = new IkeSim();
    const hub = sim.add('hub', { localAddress: HUB }, `hub-${seed}`);
    const spoke = sim.add('spoke', { localAddress: SPOKE }, `spoke-${seed}`);
    sim.connect(spoke, HUB);
    const child = [...spoke.children.values()][0];
    sim.apply(spoke, spoke.manager.rekeyIke(HUB, sim.now));
    sim.apply(hub, hub.manager.rekeyIke(SPOKE, sim.now));
    sim.flush();
    sim.run(1000);
    assert.equal(spoke.manager.sas().length, 1, `${seed}: spoke keeps one IKE SA`);
    assert.equal(hub.manager.sas().length, 1, `${seed}: hub keeps one IKE SA`);
    const [s] = established(spoke);
    const [h] = established(hub);
    assert.equal(s.spiI, h.spiI);
    assert.equal(s.spiR, h.spiR);
    assert.equal(toHex(s.keys!.skD), toHex(h.keys!.skD));
    assert.equal(s.children.length, 1);
    assert.equal(h.children.length, 1);
    assert.equal(s.children[0].spiIn, child.spiIn);
    assert.equal(spoke.count('ike-down') + hub.count('ike-down'), 0);
    // And it still works: a DPD-style exchange and a child rekey go through.
    sim.apply(spoke, spoke.manager.rekeyChild(child.spiIn, sim.now));
    sim.flush();
    assertChildPair(spoke, hub);
  }
});

test('ikev2 lifecycle: disconnect deletes the IKE SA and its children on both sides', () => {
  const { sim, hub, spoke } = pair();
  const start = sim.wire.length;
  sim.apply(spoke, spoke.manager.disconnect(HUB, sim.now));
  sim.flush();
  assert.deepEqual(exchanges(sim, start), ['INFO', 'INFOr']);
  assert.equal(spoke.manager.sas().length + hub.manager.sas().length, 0);
  assert.equal(spoke.of('ike-down')[0].reason, 'deleted locally');
  assert.equal(spoke.of('ike-down')[0].wasUp, true);
  assert.equal(hub.of('ike-down')[0].reason, 'deleted by peer');
  assert.equal(spoke.children.size + hub.children.size, 0);
  assert.equal(hub.of('child-down')[0].reason, 'deleted by peer');
  // NHRP asks again: a fresh SA comes up.
  sim.connect(spoke, HUB);
  assertChildPair(spoke, hub);
});

test('ikev2 lifecycle: DPD detects a dead peer after its retries and takes the SA down', () => {
  const { sim, hub, spoke } = pair({ dpd: { interval: 10, retry: 2 } });
  let dead = false;
  sim.lose = (p) => dead && (p.to.address === HUB || p.from.address === HUB);
  sim.run(30_000);
  assert.equal(established(spoke).length, 1, 'liveness checks answered while the hub is alive');
  const probes = exchanges(sim).filter((e) => e === 'INFO').length;
  assert.ok(probes >= 2, `${probes} DPD requests`);
  dead = true;
  const t0 = sim.now;
  sim.run(60_000);
  const down = spoke.of('ike-down');
  assert.equal(down.length, 1);
  assert.equal(down[0].reason, 'dead peer detected');
  assert.equal(spoke.of('child-down')[0].reason, 'dead peer detected');
  assert.equal(spoke.manager.sas().length, 0);
  assert.ok(sim.now - t0 <= 60_000);
  assert.ok(spoke.logs.some((l) => l.includes('no answer from 198.51.100.1 after 6 transmissions of a liveness check')));
  void hub;
});

test('ikev2 lifecycle: a peer that stops answering fails a rekey by retransmission limit (IKE SA down)', () => {
  const { sim, hub, spoke } = pair();
  sim.lose = (p) => p.from.address === HUB;
  const c = [...spoke.children.values()][0];
  sim.apply(spoke, spoke.manager.rekeyChild(c.spiIn, sim.now));
  sim.run(40_000);
  assert.equal(spoke.of('ike-down')[0]?.reason, 'retransmissions exhausted');
  const rekeys = exchanges(sim).filter((e) => e === 'CHILD');
  assert.equal(rekeys.length, 6, 'the same request sent 6 times');
  void hub;
});

test('ikev2 lifecycle: the half-open responder SA times out when IKE_AUTH never comes', () => {
  const sim = new IkeSim();
  const hub = sim.add('hub', { localAddress: HUB });
  const spoke = sim.add('spoke', { localAddress: SPOKE });
  sim.lose = (p) => p.from.address === SPOKE && decodeIkeMessage(p.bytes).header.exchangeType === ExchangeType.IKE_AUTH;
  sim.connect(spoke, HUB);
  assert.equal(hub.manager.sas()[0].state, 'init-replied');
  sim.run(40_000);
  assert.equal(hub.manager.sas().length, 0);
  assert.equal(hub.of('ike-down')[0].reason, 'half-open timeout');
  assert.equal(spoke.of('ike-down')[0].reason, 'retransmissions exhausted');
});

test('ikev2 lifecycle: show crypto ikev2 sa and show crypto session follow the IOS layout', async () => {
  const { sim, hub, spoke } = pair({ dpd: { interval: 60, retry: 3 } });
  sim.run(735_000);
  const { renderIkev2Sa, renderCryptoSession } = await import('../../../protocols/ikev2/show.js');
  const rows = hub.manager.showIkev2Sa(sim.now);
  const text = renderIkev2Sa(rows, true).split('\n');
  assert.equal(text[2], 'Tunnel-id Local                 Remote                fvrf/ivrf            Status ');
  assert.equal(text[3], `${String(rows[0].tunnelId).padEnd(10)}198.51.100.1/500      192.0.2.10/500        none/none            READY  `);
  assert.equal(text[4], '      Encr: AES-CBC, keysize: 256, PRF: SHA512, Hash: SHA512, DH Grp:19, Auth sign: PSK, Auth verify: PSK');
  assert.equal(text[5], '      Life/Active Time: 86400/735 sec');
  assert.match(text[8], /^ {6}Local spi: [0-9A-F]{16} {7}Remote spi: [0-9A-F]{16}$/);
  assert.equal(text[9], '      Local id: 198.51.100.1');
  assert.equal(text[10], '      Remote id: 192.0.2.10');
  assert.ok(text.includes('      DPD configured for 60 seconds, retry 3'));
  assert.ok(text.includes('      Initiator of SA : No'));
  assert.ok(text.includes('      NAT-T is not detected'));
  const sess = renderCryptoSession(spoke.manager.showCryptoSession(), 'Tunnel0', 'ike-profile').split('\n');
  assert.deepEqual(sess.slice(0, 10), [
    'Crypto session current status', '', 'Interface: Tunnel0', 'Profile: ike-profile', 'Session status: UP-ACTIVE',
    'Peer: 198.51.100.1 port 500', `  Session ID: ${established(spoke)[0].serial} `,
    '  IKEv2 SA: local 192.0.2.10/500 remote 198.51.100.1/500 Active',
    '  IPSEC FLOW: permit 47 host 192.0.2.10 host 198.51.100.1', '        Active SAs: 2, origin: crypto map',
  ]);
});

test('ikev2 lifecycle: a hub that requires PFS refuses a rekey without KE, and its own PFS rekey replaces the child in time', () => {
  const sim = new IkeSim();
  const hub = sim.add('hub', { localAddress: HUB, pfsGroup: DhGroup.MODP_2048 });
  const spoke = sim.add('spoke', { localAddress: SPOKE });
  sim.connect(spoke, HUB);
  const c = [...spoke.children.values()][0];
  sim.apply(spoke, spoke.manager.rekeyChild(c.spiIn, sim.now));
  sim.flush();
  assert.ok(spoke.logs.some((l) => l.includes('child SA rekey failed: peer answered NO_PROPOSAL_CHOSEN')));
  assert.equal(spoke.children.get(c.spiIn)?.spiIn, c.spiIn, 'the old child stays');
  sim.run(3_700_000);
  assertChildPair(spoke, hub);
  const now = [...spoke.children.values()][0];
  assert.notEqual(now.spiIn, c.spiIn);
  assert.equal(now.pfsGroup, DhGroup.MODP_2048);
  assert.equal(spoke.of('child-down').filter((d) => d.reason === 'lifetime expired').length, 0);
});
