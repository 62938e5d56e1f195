/**
 * IKEv2 engine at hub scale: the COOKIE retry racing a late answer to the first
 * IKE_SA_INIT (RFC 7296 section 2.6), the deadline heap and the incremental
 * half-open count against a full scan after random operations, bounded
 * retransmission jitter (section 2.1), and the COOKIE threshold's default.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { toHex } from '../../../protocols/wire/index.js';
import { decodeIkeMessage, encodeIkeMessage, findNotify, findPayload, ExchangeType, NotifyType, DhGroup } from '../../../protocols/ikev2/wire.js';
import { sameInitRequest } from '../../../protocols/ikev2/manager.js';
import { RETRANSMIT_JITTER, type IkeEnv } from '../../../protocols/ikev2/ike-sa.js';
import { DEFAULT_COOKIE_THRESHOLD, DEFAULT_IKE_PROPOSAL } from '../../../protocols/ikev2/policy.js';
import { DeadlineHeap } from '../../../protocols/ikev2/deadline-heap.js';
import { IkeSim, established, assertChildPair, HUB, SPOKE, SPOKE2, type IkeNode, type Packet } from './sim.js';

const SUPERSEDED = 'answer to a superseded request';

/** Take the first queued packet that matches out of the wire's queue (tests that order deliveries by hand). */
function take(sim: IkeSim, what: string, match: (p: Packet) => boolean): Packet {
  const i = sim.queue.findIndex(match);
  assert.ok(i >= 0, `a queued packet: ${what}`);
  return sim.queue.splice(i, 1)[0];
}

/** Hand one packet to its destination; returns what the receiver sent in answer. */
function deliver(sim: IkeSim, p: Packet): Packet[] {
  const node = sim.node(p.to.address);
  const before = sim.queue.length;
  sim.apply(node, node.manager.receive(p.from, p.bytes, sim.now, p.to.port));
  return sim.queue.slice(before);
}

const exchange = (p: Packet): number => decodeIkeMessage(p.bytes).header.exchangeType;
const isInit = (from: string) => (p: Packet): boolean => p.from.address === from && exchange(p) === ExchangeType.IKE_SA_INIT;
const isAuth = (from: string) => (p: Packet): boolean => p.from.address === from && exchange(p) === ExchangeType.IKE_AUTH;
const cookieOf = (p: Packet): Uint8Array | undefined => findNotify(decodeIkeMessage(p.bytes).payloads, NotifyType.COOKIE)?.data;
const answersWithSa = (p: Packet): boolean => findPayload(decodeIkeMessage(p.bytes).payloads, 'SA') !== undefined;

/** Let the spoke's retransmission timer fire once: a second copy of its outstanding request goes out. */
function retransmit(sim: IkeSim, spoke: IkeNode): void {
  const d = spoke.manager.nextDeadline();
  assert.ok(d !== undefined);
  sim.now = d;
  sim.apply(spoke, spoke.manager.tick(sim.now));
}

test('ikev2 scale: a late COOKIE reply to a retransmitted first IKE_SA_INIT is dropped and counted; IKE_AUTH succeeds', () => {
  const sim = new IkeSim();
  const hub = sim.add('hub', { localAddress: HUB, cookieThreshold: 0 });
  const spoke = sim.add('spoke', { localAddress: SPOKE });
  sim.apply(spoke, spoke.manager.connect(HUB, sim.now));
  retransmit(sim, spoke); // copy B of the first request, sent before any answer came
  const copyA = take(sim, 'first request', isInit(SPOKE));
  const copyB = take(sim, 'its retransmission', isInit(SPOKE));
  assert.equal(toHex(copyA.bytes), toHex(copyB.bytes));
  const [cookieA] = deliver(sim, copyA);
  const [cookieB] = deliver(sim, copyB);
  assert.equal(toHex(cookieOf(cookieA)!), toHex(cookieOf(cookieB)!), 'the same challenge for both copies');
  assert.equal(hub.manager.sas().length, 0, 'no responder state before the cookie comes back');

  // The first COOKIE makes the spoke resend with it; the second answers a request it has replaced.
  take(sim, 'cookie A', (p) => p === cookieA);
  take(sim, 'cookie B', (p) => p === cookieB);
  const retry = deliver(sim, cookieA);
  assert.equal(retry.length, 1);
  assert.equal(toHex(cookieOf(retry[0])!), toHex(cookieOf(cookieA)!));
  const sentBefore = spoke.manager.counters().sent;
  for (let i = 0; i < 4; i++) assert.deepEqual(deliver(sim, cookieB), [], 'nothing sent for a superseded answer');
  assert.equal(spoke.manager.counters().drops[SUPERSEDED], 4);
  assert.equal(spoke.manager.counters().sent, sentBefore);
  assert.equal(spoke.manager.sas()[0].initRetries, 1, 'four late challenges do not use up the retries (3)');

  sim.flush();
  assert.equal(established(spoke).length, 1);
  assert.equal(established(hub).length, 1);
  assertChildPair(spoke, hub);
  assert.equal(spoke.of('ike-down').length + hub.of('ike-down').length, 0);
  assert.equal(sim.wire.filter((p) => cookieOf(p) && p.from.address === SPOKE).length, 1, 'one request with the cookie');
});

test('ikev2 scale: a late answer to the first IKE_SA_INIT after the COOKIE retry: the hub accepts IKE_AUTH over the request the spoke signed', () => {
  // The race the hub benchmark showed: copy A of a spoke's first request meets the threshold
  // (COOKIE), copy B arrives after another spoke left half-open state and makes an SA; the
  // spoke resends with the cookie, then takes the SA answer to copy B and signs the request
  // it sent last. Nothing in that answer says which request it answers.
  const sim = new IkeSim();
  const hub = sim.add('hub', { localAddress: HUB, cookieThreshold: 1 });
  const spoke = sim.add('spoke', { localAddress: SPOKE });
  const other = sim.add('other', { localAddress: SPOKE2 });
  sim.apply(other, other.manager.connect(HUB, sim.now));
  const otherAnswer = deliver(sim, take(sim, 'other spoke request', isInit(SPOKE2)));
  assert.equal(hub.manager.counters().halfOpen, 1);

  sim.apply(spoke, spoke.manager.connect(HUB, sim.now));
  retransmit(sim, spoke);
  const copyA = take(sim, 'first request', isInit(SPOKE));
  const copyB = take(sim, 'its retransmission', isInit(SPOKE));
  const [cookie] = deliver(sim, copyA);
  assert.ok(cookieOf(cookie), 'half-open at the threshold: COOKIE');
  // The other spoke authenticates: the hub is below the threshold again.
  take(sim, 'answer to the other spoke', (p) => p === otherAnswer[0]);
  deliver(sim, otherAnswer[0]);
  deliver(sim, take(sim, 'other IKE_AUTH', isAuth(SPOKE2)));
  assert.equal(hub.manager.counters().halfOpen, 0);
  const [lateSa] = deliver(sim, copyB);
  assert.ok(answersWithSa(lateSa), 'copy B makes an SA');

  take(sim, 'cookie', (p) => p === cookie);
  take(sim, 'late SA answer', (p) => p === lateSa);
  const [withCookie] = deliver(sim, cookie);
  assert.ok(cookieOf(withCookie));
  const [auth] = deliver(sim, lateSa);
  assert.equal(exchange(auth), ExchangeType.IKE_AUTH, 'the spoke goes on with the answer it got');
  assert.equal(toHex(spoke.manager.sas()[0].initRequest!), toHex(withCookie.bytes), 'and signs the request it sent last');

  // The retry reaches the hub first: the same SA, answered from cache, and kept for IKE_AUTH.
  take(sim, 'retry with cookie', (p) => p === withCookie);
  const [cached] = deliver(sim, withCookie);
  assert.equal(toHex(cached.bytes), toHex(lateSa.bytes), 'the cached answer, byte for byte');
  assert.equal(hub.manager.sas().filter((s) => s.peer === SPOKE).length, 1);
  sim.flush();
  assert.equal(established(spoke).length, 1);
  assert.equal(established(hub).filter((s) => s.peer === SPOKE).length, 1);
  assert.equal(spoke.of('ike-down').length + hub.of('ike-down').length, 0, 'no AUTHENTICATION_FAILED');
  assert.ok(!hub.logs.some((l) => l.includes('AUTHENTICATION_FAILED')));
  assert.equal(toHex(hub.manager.sas().find((s) => s.peer === SPOKE)!.initRequest!), toHex(withCookie.bytes));
  // The cached answer that arrived after the spoke moved on is dropped by it, not acted on.
  assert.equal(spoke.manager.counters().drops['unexpected message'], 1);
});

test('ikev2 scale: a late INVALID_KE_PAYLOAD for the group the spoke already switched to is dropped, not fatal', () => {
  const sim = new IkeSim();
  const hub = sim.add('hub', { localAddress: HUB, proposals: [{ ...DEFAULT_IKE_PROPOSAL, dh: [DhGroup.MODP_2048] }] });
  const spoke = sim.add('spoke', { localAddress: SPOKE, proposals: [{ ...DEFAULT_IKE_PROPOSAL, dh: [DhGroup.ECP_256, DhGroup.MODP_2048] }] });
  sim.apply(spoke, spoke.manager.connect(HUB, sim.now));
  retransmit(sim, spoke);
  const [a, b] = [take(sim, 'first request', isInit(SPOKE)), take(sim, 'its retransmission', isInit(SPOKE))];
  const [invA] = deliver(sim, a);
  const [invB] = deliver(sim, b);
  take(sim, 'answer A', (p) => p === invA);
  take(sim, 'answer B', (p) => p === invB);
  assert.equal(deliver(sim, invA).length, 1, 'retry with group 14');
  assert.deepEqual(deliver(sim, invB), [], 'the second answer names the group already in use');
  assert.equal(spoke.manager.counters().drops[SUPERSEDED], 1);
  sim.flush();
  assert.equal(established(spoke).length, 1);
  assert.equal(established(spoke)[0].suite!.dh, DhGroup.MODP_2048);
  assertChildPair(spoke, hub);
});

test('ikev2 scale: sameInitRequest sees through a COOKIE in front and nothing else', () => {
  const sim = new IkeSim();
  sim.add('hub', { localAddress: HUB, cookieThreshold: 0 });
  const spoke = sim.add('spoke', { localAddress: SPOKE });
  sim.connect(spoke, HUB);
  const inits = sim.wire.filter(isInit(SPOKE));
  const [plain, cookied] = [inits[0].bytes, inits.find((p) => cookieOf(p))!.bytes];
  assert.ok(sameInitRequest(plain, plain));
  assert.ok(sameInitRequest(plain, cookied));
  assert.ok(sameInitRequest(cookied, plain));
  const m = decodeIkeMessage(cookied);
  const otherCookie = encodeIkeMessage({ ...m, payloads: m.payloads.map((p, i) => (i === 0 && p.kind === 'N' ? { ...p, data: new Uint8Array(20).fill(7) } : p)) });
  assert.ok(sameInitRequest(cookied, otherCookie));
  const otherNonce = encodeIkeMessage({ ...m, payloads: m.payloads.map((p) => (p.kind === 'Nonce' ? { ...p, data: new Uint8Array(p.data.length).fill(1) } : p)) });
  assert.ok(!sameInitRequest(cookied, otherNonce));
  const otherSpi = encodeIkeMessage({ ...m, header: { ...m.header, spiI: m.header.spiI ^ 1n } });
  assert.ok(!sameInitRequest(cookied, otherSpi));
  assert.ok(!sameInitRequest(plain, plain.subarray(0, 20)));
});

// ---- deadlines and the half-open count ------------------------------------------------------

type Op =
  | { kind: 'connect'; spoke: number; hubFirst: boolean }
  | { kind: 'deliver'; n: number; lose: boolean }
  | { kind: 'advance'; ms: number }
  | { kind: 'disconnect'; spoke: number; fromHub: boolean }
  | { kind: 'rekey-child'; spoke: number; both: boolean }
  | { kind: 'rekey-ike'; spoke: number; side: 'hub' | 'spoke' | 'both' }
  | { kind: 'restart'; spoke: number }
  | { kind: 'replay'; index: number };

// Weighted so that exchanges mostly complete and SAs live long enough to be rekeyed, collide,
// time out and be replaced by a rebooted peer's INITIAL_CONTACT.
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('connect' as const), spoke: fc.nat(3), hubFirst: fc.boolean() }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('deliver' as const), n: fc.integer({ min: 1, max: 12 }), lose: fc.integer({ min: 0, max: 9 }).map((x) => x === 0) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 3000, max: 90_000 })) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('disconnect' as const), spoke: fc.nat(3), fromHub: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('rekey-child' as const), spoke: fc.nat(3), both: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('rekey-ike' as const), spoke: fc.nat(3), side: fc.constantFrom('hub' as const, 'spoke' as const, 'both' as const) }) },
  // The spoke reboots: a new engine on its address, whose next IKE_AUTH carries INITIAL_CONTACT.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const), spoke: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('replay' as const), index: fc.nat() }) },
);

/** What a full scan of the SAs gives: the earliest deadline and the responder SAs waiting for IKE_AUTH. */
function scan(n: IkeNode): { deadline: number | undefined; halfOpen: number } {
  let deadline: number | undefined;
  for (const sa of n.manager.sas()) {
    const d = sa.deadline();
    if (d !== undefined && (deadline === undefined || d < deadline)) deadline = d;
  }
  return { deadline, halfOpen: n.manager.sas().filter((s) => s.state === 'init-replied').length };
}

test('ikev2 scale (property): nextDeadline and the half-open count equal a full scan of the SAs after any operations', () => {
  fc.assert(fc.property(fc.array(opArb, { minLength: 30, maxLength: 80, size: 'max' }), fc.integer(), (ops, seed) => {
    const sim = new IkeSim();
    // Short lifetimes and DPD so that rekeys, liveness checks, expiries and collisions happen.
    const timers = { ikeLifetime: 300, childLifetime: 120, dpd: { interval: 20, retry: 3 }, halfOpenTimeout: 10, cookieThreshold: 2 };
    const hub = sim.add('hub', { localAddress: HUB, ...timers }, `hub/${seed}`);
    const spokes = [0, 1, 2, 3].map((i) => sim.add(`s${i}`, { localAddress: `192.0.2.${10 + i}`, ...timers }, `s${i}/${seed}`));
    let nodes = [hub, ...spokes];
    let restarts = 0;
    const everUsed = new Set<number>();
    const loseNext = new Set<number>();
    sim.lose = (_p, i) => loseNext.delete(i);
    const check = (where: string): void => {
      for (const n of nodes) {
        const full = scan(n);
        assert.equal(n.manager.nextDeadline(), full.deadline, `${n.name} nextDeadline after ${where}`);
        assert.equal(n.manager.counters().halfOpen, full.halfOpen, `${n.name} half-open count after ${where}`);
        assert.ok(n.manager.sas().every((s) => s.state !== 'closed'), `${n.name}: closed SAs leave the indexes`);
        // The child SPI index the engine draws new SPIs against (private: reached through its env).
        const env = (n.manager as unknown as { env: IkeEnv }).env;
        const inUse = new Set(n.manager.sas().flatMap((s) => s.children.map((c) => c.spiIn)));
        for (const spi of inUse) assert.ok(env.childSpiInUse(spi), `${n.name}: child SPI ${spi} in use`);
        for (const spi of inUse) everUsed.add(spi);
        for (const spi of [256, 0x1234_5678, ...everUsed]) assert.equal(env.childSpiInUse(spi), inUse.has(spi), `${n.name}: child SPI ${spi} free again`);
      }
    };
    for (const op of ops) {
      const s = spokes['spoke' in op ? op.spoke : 0];
      switch (op.kind) {
        case 'connect':
          if (op.hubFirst) sim.apply(hub, hub.manager.connect(s.address, sim.now));
          else sim.apply(s, s.manager.connect(HUB, sim.now));
          break;
        case 'deliver':
          for (let i = 0; i < op.n && sim.queue.length > 0; i++) {
            const p = sim.queue.shift()!;
            if (op.lose) continue;
            const to = sim.nodes.get(p.to.address);
            if (to) sim.apply(to, to.manager.receive(p.from, p.bytes, sim.now, p.to.port));
          }
          break;
        case 'advance': {
          // Deadline by deadline, as the daemon's timer does.
          const until = sim.now + op.ms;
          for (let guard = 0; guard < 10_000; guard++) {
            const next = nodes.map((n) => n.manager.nextDeadline()).filter((d): d is number => d !== undefined && d <= until).sort((a, b) => a - b)[0];
            if (next === undefined) break;
            sim.now = Math.max(sim.now, next);
            for (const n of nodes) sim.apply(n, n.manager.tick(sim.now));
            sim.flush(50);
            check('tick');
          }
          sim.now = until;
          break;
        }
        case 'disconnect':
          if (op.fromHub) sim.apply(hub, hub.manager.disconnect(s.address, sim.now));
          else sim.apply(s, s.manager.disconnect(HUB, sim.now));
          break;
        case 'rekey-child': {
          // Both ends at once: a collision (section 2.8.1).
          const c = [...s.children.values()][0];
          if (c) sim.apply(s, s.manager.rekeyChild(c.spiIn, sim.now));
          if (c && op.both) sim.apply(hub, hub.manager.rekeyChild(c.spiOut, sim.now));
          break;
        }
        case 'rekey-ike':
          if (op.side !== 'spoke') sim.apply(hub, hub.manager.rekeyIke(s.address, sim.now));
          if (op.side !== 'hub') sim.apply(s, s.manager.rekeyIke(HUB, sim.now));
          break;
        case 'restart': {
          const i = spokes.indexOf(s);
          spokes[i] = sim.add(s.name, { localAddress: s.address, ...timers }, `${s.name}/${seed}/${++restarts}`);
          nodes = [hub, ...spokes];
          break;
        }
        case 'replay':
          if (sim.wire.length > 0) {
            const p = sim.wire[op.index % sim.wire.length];
            const to = sim.nodes.get(p.to.address);
            if (to) sim.apply(to, to.manager.receive(p.from, p.bytes, sim.now, p.to.port));
          }
          break;
      }
      check(op.kind);
    }
  }), { numRuns: 60 });
});

test('ikev2 scale: DeadlineHeap keeps the minimum through random sets, moves and removals', () => {
  fc.assert(fc.property(fc.array(fc.tuple(fc.nat(30), fc.option(fc.integer({ min: 0, max: 1000 }), { nil: undefined })), { maxLength: 300 }), fc.integer({ min: 0, max: 1000 }), (ops, now) => {
    const heap = new DeadlineHeap<number>();
    const model = new Map<number, number>();
    for (const [item, at] of ops) {
      heap.set(item, at);
      if (at === undefined) model.delete(item);
      else model.set(item, at);
      assert.equal(heap.size, model.size);
      assert.equal(heap.peekTime(), model.size ? Math.min(...model.values()) : undefined);
      assert.equal(heap.timeOf(item), at);
    }
    const due: number[] = [];
    for (let x = heap.popDue(now); x !== undefined; x = heap.popDue(now)) due.push(x);
    assert.deepEqual(due.map((x) => model.get(x)!), [...model.values()].filter((t) => t <= now).sort((a, b) => a - b));
    assert.ok(heap.peekTime() === undefined || heap.peekTime()! > now);
  }));
});

// ---- retransmission jitter and the COOKIE threshold ------------------------------------------

test('ikev2 scale: retransmission waits are jittered within bounds, so spokes that start together spread out', () => {
  const sim = new IkeSim();
  const spokes = Array.from({ length: 200 }, (_, i) => sim.add(`s${i}`, { localAddress: `192.0.2.${i + 1}` }));
  sim.lose = () => true; // nobody answers
  const t0 = sim.now;
  for (const s of spokes) sim.apply(s, s.manager.connect(HUB, sim.now));
  sim.run(40_000);
  const nominal = [500, 1000, 2000, 4000, 8000];
  const firstWaits: number[] = [];
  for (const s of spokes) {
    const sends = sim.wire.filter((p) => p.from.address === s.address);
    assert.equal(sends.length, 6, 'six transmissions, then give up');
    assert.equal(sends[0].at, t0);
    const gaps = sends.slice(1).map((p, i) => p.at - sends[i].at);
    gaps.forEach((g, i) => assert.ok(g <= nominal[i] && g >= Math.floor(nominal[i] * (1 - RETRANSMIT_JITTER)), `${s.name}: wait ${g} for ${nominal[i]}`));
    firstWaits.push(gaps[0]);
    assert.equal(s.of('ike-down')[0]?.reason, 'retransmissions exhausted');
  }
  // A quarter of 500 ms is 125 possible milliseconds; 200 spokes must not bunch on a few of them.
  assert.ok(new Set(firstWaits).size >= 60, `first retransmissions spread over ${new Set(firstWaits).size} distinct milliseconds`);
  const mean = firstWaits.reduce((a, b) => a + b, 0) / firstWaits.length;
  assert.ok(mean > 500 * (1 - RETRANSMIT_JITTER) + 30 && mean < 500 - 30, `mean first wait ${mean} ms sits inside the band`);
});

test('ikev2 scale: by default 300 spokes connecting at once get no COOKIE; with a threshold configured they do and still come up', () => {
  assert.ok(DEFAULT_COOKIE_THRESHOLD >= 1000, 'above the largest IOS cookie-challenge setting');
  for (const cookieThreshold of [undefined, 50]) {
    const sim = new IkeSim();
    const hub = sim.add('hub', { localAddress: HUB, ...(cookieThreshold !== undefined ? { cookieThreshold } : {}) });
    const spokes = Array.from({ length: 300 }, (_, i) => sim.add(`s${i}`, { localAddress: `10.1.${i >> 7}.${(i & 127) + 1}` }));
    for (const s of spokes) sim.apply(s, s.manager.connect(HUB, sim.now));
    sim.flush(100_000);
    sim.run(5000);
    assert.equal(established(hub).length, 300);
    assert.ok(spokes.every((s) => established(s).length === 1));
    if (cookieThreshold === undefined) assert.equal(hub.manager.counters().cookiesSent, 0);
    else assert.ok(hub.manager.counters().cookiesSent >= 300 - cookieThreshold);
    assert.equal(hub.manager.counters().halfOpen, 0);
  }
});

test('ikev2 scale: retransmitted requests are answered from cache by their octets; a copy from a new port still takes the authenticated path', () => {
  const sim = new IkeSim();
  const hub = sim.add('hub', { localAddress: HUB });
  const spoke = sim.add('spoke', { localAddress: SPOKE });
  sim.connect(spoke, HUB);
  const [init, , auth, authAnswer] = sim.wire;
  assert.equal(exchange(auth), ExchangeType.IKE_AUTH);
  const sa = established(hub)[0];
  const received = hub.manager.counters().received;
  for (const [req, answer] of [[auth, authAnswer], [init, undefined]] as const) {
    const out = hub.manager.receive(req.from, req.bytes, sim.now, req.to.port).filter((a) => a.kind === 'send');
    if (answer) {
      assert.equal(out.length, 1);
      assert.equal(toHex(out[0].kind === 'send' ? out[0].bytes : new Uint8Array()), toHex(answer.bytes), 'the cached IKE_AUTH answer');
    } else {
      assert.equal(out.length, 0, 'an IKE_SA_INIT copy for an SA past it gets nothing');
    }
  }
  assert.equal(hub.manager.counters().received, received + 2);
  assert.equal(sa.stats.retransmitted, 1);
  // The same octets from another port: authenticated first, then IKE follows the peer there (section 2.23).
  const moved = { address: SPOKE, port: 5000 };
  const out = hub.manager.receive(moved, auth.bytes, sim.now, 500).filter((a) => a.kind === 'send');
  assert.equal(out.length, 1);
  assert.deepEqual(out[0].kind === 'send' ? out[0].to : undefined, moved);
  assert.deepEqual(sa.remote, moved);
  assert.equal(sa.stats.retransmitted, 2);
  // A copy with one octet changed is not a retransmission: integrity check, drop, count.
  const bad = auth.bytes.slice();
  bad[bad.length - 1] ^= 1;
  assert.deepEqual(hub.manager.receive(moved, bad, sim.now, 500).filter((a) => a.kind === 'send'), []);
  assert.equal(hub.manager.counters().drops['integrity check failed'], 1);
});
