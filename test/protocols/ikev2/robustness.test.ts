/**
 * IKEv2 engine against a hostile or lossy network: retransmission with
 * back-off (RFC 7296 section 2.1), cached responses for retransmitted
 * requests, tampered and forged messages dropped and counted without any state
 * change, unknown critical payloads refused (section 2.5), and fuzzing of the
 * single receive entry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { toHex, fromHex } from '../../../protocols/wire/index.js';
import {
  decodeIkeMessage, encodeIkeMessage, findNotify, ExchangeType, NotifyType, PayloadType,
} from '../../../protocols/ikev2/wire.js';
import { IkeManager } from '../../../protocols/ikev2/manager.js';
import { ikeConfig } from '../../../protocols/ikev2/policy.js';
import { RETRANSMIT_JITTER } from '../../../protocols/ikev2/ike-sa.js';
import { IkeSim, established, assertChildPair, seededRandom, HUB, SPOKE, type IkeNode } from './sim.js';
import { ikeMessages, readIkev2Md } from './captures.js';
import { needsVectors } from '../../support/vectors.js';
import { messageArb } from './arbitraries.js';

function up(): { sim: IkeSim; hub: IkeNode; spoke: IkeNode } {
  const sim = new IkeSim();
  const hub = sim.add('hub', { localAddress: HUB });
  const spoke = sim.add('spoke', { localAddress: SPOKE });
  sim.connect(spoke, HUB);
  return { sim, hub, spoke };
}

/** A snapshot of everything the state machines hold that a bad packet must not change. */
function snapshot(n: IkeNode, established = false): string {
  return JSON.stringify(n.manager.sas().filter((s) => !established || s.establishedAt !== undefined).map((s) => ({
    state: s.state, my: s.myNextId, peer: s.peerNextId, out: s.outstanding?.id, spiR: s.spiR.toString(), children: s.children.map((c) => [c.spiIn, c.spiOut, c.state]),
  })));
}

test('ikev2 robustness: lost IKE_SA_INIT and IKE_AUTH packets are retransmitted byte for byte with back-off and the SA converges', () => {
  const sim = new IkeSim();
  const hub = sim.add('hub', { localAddress: HUB });
  const spoke = sim.add('spoke', { localAddress: SPOKE });
  const lost = new Set([0, 1, 3, 6]);
  sim.lose = (_p, i) => lost.has(i);
  sim.connect(spoke, HUB);
  sim.run(20_000);
  assertChildPair(spoke, hub);
  const fromSpoke = sim.wire.filter((p) => p.from.address === SPOKE);
  const inits = fromSpoke.filter((p) => decodeIkeMessage(p.bytes).header.exchangeType === ExchangeType.IKE_SA_INIT);
  assert.ok(inits.length >= 3);
  assert.ok(inits.every((p) => toHex(p.bytes) === toHex(inits[0].bytes)), 'same bytes every time');
  const gaps = inits.slice(1).map((p, i) => p.at - inits[i].at);
  assertBackoff(gaps.slice(0, 2), [500, 1000]);
});

/** Each wait is its nominal value shortened by at most the jitter share (never lengthened). */
function assertBackoff(gaps: readonly number[], nominal: readonly number[]): void {
  assert.equal(gaps.length, nominal.length);
  gaps.forEach((g, i) => assert.ok(g <= nominal[i] && g >= Math.floor(nominal[i] * (1 - RETRANSMIT_JITTER)), `wait ${i + 1}: ${g} ms, nominally ${nominal[i]} ms`));
}

test('ikev2 robustness: with every packet lost the initiator gives up after 6 transmissions (0.5+1+2+4+8+16 s)', () => {
  const sim = new IkeSim();
  sim.add('hub', { localAddress: HUB });
  const spoke = sim.add('spoke', { localAddress: SPOKE });
  sim.lose = () => true;
  const t0 = sim.now;
  sim.connect(spoke, HUB);
  sim.run(120_000);
  assert.equal(sim.wire.length, 6);
  assert.equal(sim.wire[0].at, t0);
  assertBackoff(sim.wire.slice(1).map((p, i) => p.at - sim.wire[i].at), [500, 1000, 2000, 4000, 8000]);
  const down = spoke.of('ike-down');
  assert.equal(down.length, 1);
  assert.equal(down[0].reason, 'retransmissions exhausted');
  assert.equal(down[0].wasUp, false);
  assert.equal(spoke.manager.sas().length, 0);
  assert.equal(spoke.manager.nextDeadline(), undefined);
  assert.ok(spoke.logs.some((l) => l.includes('state init-sent => closed (retransmissions exhausted)')));
});

test('ikev2 robustness: duplicated and replayed requests get the cached response, nothing else changes', () => {
  // IKE_SA_INIT retransmitted while the responder waits for IKE_AUTH.
  const half = new IkeSim();
  const h0 = half.add('hub', { localAddress: HUB });
  const s0 = half.add('spoke', { localAddress: SPOKE });
  half.lose = (p) => p.from.address === SPOKE && decodeIkeMessage(p.bytes).header.exchangeType === ExchangeType.IKE_AUTH;
  half.connect(s0, HUB);
  const beforeHalf = snapshot(h0);
  const again = h0.manager.receive(half.wire[0].from, half.wire[0].bytes, half.now).filter((a) => a.kind === 'send');
  assert.equal(again.length, 1);
  assert.equal(toHex(again[0].kind === 'send' ? again[0].bytes : new Uint8Array()), toHex(half.wire[1].bytes), 'the same IKE_SA_INIT response');
  assert.equal(snapshot(h0), beforeHalf);
  assert.equal(h0.manager.sas().length, 1);

  // IKE_AUTH replayed after the SA is up.
  const { sim, hub, spoke } = up();
  const authReq = sim.wire[2];
  const before = snapshot(hub);
  const out = hub.manager.receive(authReq.from, authReq.bytes, sim.now);
  const sends = out.filter((a) => a.kind === 'send');
  assert.equal(sends.length, 1);
  assert.equal(toHex(sends[0].kind === 'send' ? sends[0].bytes : new Uint8Array()), toHex(sim.wire[3].bytes), 'the very same IKE_AUTH response');
  assert.equal(out.filter((a) => a.kind === 'child-up' || a.kind === 'ike-up').length, 0);
  assert.equal(snapshot(hub), before);
  assert.equal(established(hub)[0].stats.retransmitted, 1);
  // A late IKE_SA_INIT duplicate after the SA is up gets nothing.
  assert.deepEqual(hub.manager.receive(sim.wire[0].from, sim.wire[0].bytes, sim.now).filter((a) => a.kind === 'send'), []);
  assert.equal(hub.manager.counters().drops['unexpected message'], 1);
  // A late duplicate of a response is not a request and answers nothing: dropped.
  const dupResp = sim.wire[3];
  const beforeSpoke = snapshot(spoke);
  assert.deepEqual(spoke.manager.receive(dupResp.from, dupResp.bytes, sim.now).filter((a) => a.kind === 'send'), []);
  assert.equal(snapshot(spoke), beforeSpoke);
  assert.equal(spoke.manager.counters().drops['message ID out of window'], 1);
});

test('ikev2 robustness: a tampered SK payload is dropped and counted, with no state change; the retransmission then succeeds', () => {
  const sim = new IkeSim();
  const hub = sim.add('hub', { localAddress: HUB });
  const spoke = sim.add('spoke', { localAddress: SPOKE });
  sim.tamper = (p, i) => {
    if (i !== 2) return undefined;
    const b = p.bytes.slice();
    b[b.length - 40] ^= 0x01;
    return b;
  };
  sim.apply(spoke, spoke.manager.connect(HUB, sim.now));
  sim.flush();
  assert.equal(hub.manager.sas()[0].state, 'init-replied');
  assert.equal(hub.manager.counters().drops['integrity check failed'], 1);
  assert.equal(hub.manager.sas()[0].peerNextId, 1);
  sim.run(1000);
  assertChildPair(spoke, hub);
  // In an established SA: a forged Delete changes nothing.
  const sa = established(spoke)[0];
  const del = sa.seal(ExchangeType.INFORMATIONAL, false, sa.myNextId, [{ kind: 'D', protocolId: 1, spiSize: 0, spis: [] }]);
  const forged = del.slice();
  forged[forged.length - 1] ^= 0x80;
  const before = snapshot(hub);
  const out = hub.manager.receive({ address: SPOKE, port: 500 }, forged, sim.now);
  assert.deepEqual(out.filter((a) => a.kind !== 'log'), []);
  assert.equal(snapshot(hub), before);
  assert.equal(hub.manager.counters().drops['integrity check failed'], 2);
});

test('ikev2 robustness: an unknown critical payload is refused with UNSUPPORTED_CRITICAL_PAYLOAD, in IKE_SA_INIT and inside SK', () => {
  const { sim, hub, spoke } = up();
  const sa = established(spoke)[0];
  const id = sa.myNextId;
  const bytes = sa.seal(ExchangeType.INFORMATIONAL, false, id, [{ kind: 'unknown', type: 200, critical: true, body: fromHex('0102') }]);
  const before = snapshot(hub);
  const out = hub.manager.receive({ address: SPOKE, port: 500 }, bytes, sim.now);
  const send = out.find((a) => a.kind === 'send');
  assert.ok(send && send.kind === 'send');
  const resp = decodeIkeMessage(send.bytes);
  assert.equal(resp.header.response, true);
  assert.equal(resp.header.messageId, id);
  const opened = sa.open(send.bytes, resp);
  assert.ok(opened.ok);
  const n = findNotify(opened.payloads, NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD)!;
  assert.deepEqual([...n.data], [200]);
  assert.equal(JSON.parse(snapshot(hub))[0].state, JSON.parse(before)[0].state);
  // IKE_SA_INIT: an unprotected answer, no state.
  const init = decodeIkeMessage(sim.wire[0].bytes);
  const crit = encodeIkeMessage({ header: { ...init.header, spiI: 0x55n }, payloads: [...init.payloads, { kind: 'unknown', type: 201, critical: true, body: new Uint8Array(0) }] });
  const o2 = hub.manager.receive({ address: '192.0.2.77', port: 500 }, crit, sim.now).find((a) => a.kind === 'send');
  assert.ok(o2 && o2.kind === 'send');
  const r2 = decodeIkeMessage(o2.bytes);
  assert.deepEqual([...findNotify(r2.payloads, NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD)!.data], [201]);
  assert.equal(hub.manager.sas().length, 1);
  // An unknown non-critical payload is skipped (section 2.5).
  const ok = sa.seal(ExchangeType.INFORMATIONAL, false, sa.myNextId, [{ kind: 'unknown', type: 202, body: fromHex('00') }]);
  void PayloadType;
  void ok;
});

test('ikev2 robustness: messages for unknown SPIs, IKEv1, ESP and keepalives on 4500 are dropped quietly', () => {
  const { hub } = up();
  const now = 2_000_000;
  const m = hub.manager;
  const before = snapshot(hub);
  const out = [
    ...m.receive({ address: SPOKE, port: 500 }, fromHex('0102030405060708' + '1112131415161718' + '00202500' + '00000002' + '0000001c'), now),
    ...m.receive({ address: SPOKE, port: 500 }, fromHex('0102030405060708' + '0000000000000000' + '01100200' + '00000000' + '0000001c'), now),
    ...m.receive({ address: SPOKE, port: 4500 }, fromHex('ff'), now),
    ...m.receive({ address: SPOKE, port: 4500 }, fromHex('0000100100000001' + '00'.repeat(32)), now),
    ...m.receive({ address: SPOKE, port: 500 }, fromHex('00'), now),
  ];
  assert.deepEqual(out.filter((a) => a.kind !== 'log'), []);
  const d = m.counters().drops;
  assert.equal(d['unknown SPI'], 1);
  assert.equal(d['not IKEv2'], 1);
  assert.equal(d['not an IKE message'], 1);
  assert.equal(d.malformed, 1);
  assert.equal(snapshot(hub), before);
});

function freshManager(): IkeManager {
  return new IkeManager(ikeConfig({ localAddress: HUB, keyring: [{ address: '0.0.0.0', prefixLength: 0, psk: 'k' }] }), seededRandom('fuzz'), 1_000_000);
}

test('ikev2 robustness (fuzz): random datagrams on 500 and 4500 never throw', () => {
  const m = freshManager();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (bytes, natt) => {
      m.receive({ address: '192.0.2.1', port: natt ? 4500 : 500 }, bytes, 1_000_000);
    }),
    { numRuns: 2000 },
  );
});

test('ikev2 robustness (fuzz): mutated real exchanges never throw and never break an established SA', () => {
  const { sim, hub, spoke } = up();
  const c = [...spoke.children.values()][0];
  sim.apply(spoke, spoke.manager.rekeyChild(c.spiIn, sim.now));
  sim.flush();
  const corpus = sim.wire.map((p) => p);
  const before = snapshot(hub, true);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: corpus.length - 1 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (i, flips) => {
      const p = corpus[i];
      const b = p.bytes.slice();
      for (const [at, v] of flips) b[at % b.length] ^= v || 1;
      hub.manager.receive(p.from, b, sim.now);
      spoke.manager.receive({ address: HUB, port: 500 }, b, sim.now);
    }),
    { numRuns: 1500 },
  );
  // Whatever got through had to carry a valid ICV, which a flipped bit cannot: the SA is as it was.
  // (A mutated IKE_SA_INIT request is a new request: half-open SAs may appear, as they would for any sender.)
  assert.equal(snapshot(hub, true), before);
  assertChildPair(spoke, hub);
});

test('ikev2 robustness (fuzz): the Cisco and libreswan captures fed to receive never throw', needsVectors, () => {
  const m = freshManager();
  const md = readIkev2Md();
  const msgs = [...md.cisco.values(), md.sectionD, ...['ikev2four.pcap', 'ikev2pI2.pcap', 'ikev2-id-normal.pcap'].flatMap((f) => ikeMessages(f).map((c) => c.message))];
  for (const b of msgs) m.receive({ address: '192.0.2.1', port: 500 }, b, 1_000_000);
  // The Cisco IKE_SA_INIT (group 2, AES-128/SHA1) is answered: accepted as a weak group by default.
  const r = m.receive({ address: '192.0.2.2', port: 500 }, md.cisco.get('C1')!, 1_000_000).find((a) => a.kind === 'send');
  assert.ok(r && r.kind === 'send');
  const resp = decodeIkeMessage(r.bytes);
  assert.ok(findNotify(resp.payloads, NotifyType.NO_PROPOSAL_CHOSEN), 'the default proposal has no AES-128/SHA1: NO_PROPOSAL_CHOSEN');
});

test('ikev2 robustness (fuzz): authenticated but nonsensical payload chains never throw, in any exchange', () => {
  fc.assert(
    fc.property(messageArb, fc.constantFrom(ExchangeType.IKE_AUTH, ExchangeType.CREATE_CHILD_SA, ExchangeType.INFORMATIONAL, 99), fc.boolean(), (m, exchange, asResponse) => {
      const { sim, hub, spoke } = up();
      const sa = established(spoke)[0];
      const inner = m.payloads.filter((p) => p.kind !== 'SK' && p.kind !== 'SKF');
      const id = asResponse ? 0 : sa.myNextId;
      const bytes = sa.seal(exchange, asResponse, id, inner);
      hub.manager.receive({ address: SPOKE, port: 500 }, bytes, sim.now);
      // The hub keeps answering: a DPD-style exchange from the spoke still completes or is refused cleanly.
      sim.run(1000);
      for (const n of [hub, spoke]) assert.ok(n.manager.sas().every((s) => s.state !== 'closed'));
    }),
    { numRuns: 120 },
  );
});
