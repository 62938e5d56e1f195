import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Reader, encode } from '../../../protocols/wire/index.js';
import { parseNhrp, emitNhrp, nhrpLength } from '../../../protocols/nhrp/wire.js';
import { NhrpPacketType, NhrpCieCode } from '../../../protocols/nhrp/constants.js';
import { makeRegistrationRequest } from '../../../protocols/nhrp/build.js';
import { NhrpEngine } from '../../../protocols/nhrp/engine.js';
import { labSim, labConfig, SimNode, Sim } from './sim.js';

function types(sim: Sim, from?: string): string[] {
  return sim.wire.filter((w) => !from || w.from === from).map((w) => {
    const p = parseNhrp(new Reader(w.bytes, 'nhrp'));
    return `${w.from}>${w.to}:${p.type}`;
  });
}

test('engine: spokes register with the hub; the hub maps each and builds its multicast list', () => {
  const sim = labSim();
  sim.start();
  const hub = sim.nodes.get('hub')!;
  assert.deepEqual([...hub.maps.entries()].sort(), [
    ['10.0.0.11', '203.0.113.11'], ['10.0.0.12', '203.0.113.12'], ['10.0.0.13', '203.0.113.13'],
  ]);
  assert.deepEqual(hub.multicast, ['203.0.113.11', '203.0.113.12', '203.0.113.13']);
  const e = hub.engine.cache.get('10.0.0.12')!;
  assert.equal(e.type, 'dynamic');
  assert.ok(e.flags.registered && e.flags.unique);
  assert.equal(e.holdingTime, 450);
  const s2 = sim.nodes.get('spoke2')!;
  assert.equal(s2.engine.nhs()[0].client.state, 'responding');
  assert.deepEqual(s2.multicast, ['203.0.113.1']);
  assert.equal(hub.engine.role, 'Hub');
  assert.equal(s2.engine.role, 'Spoke');
  // The registration on the wire is what IOS sends: flags 0x8002, CIE holdtime 450, auth.
  const reg = sim.wire.find((w) => w.from === 'spoke2')!;
  const p = parseNhrp(new Reader(reg.bytes, 'nhrp'));
  assert.equal(p.type, NhrpPacketType.REGISTRATION_REQUEST);
  assert.equal(p.body.kind === 'mandatory' && p.body.flags, 0x8002);
  assert.equal(p.body.kind === 'mandatory' && p.body.cies[0].holdingTime, 450);
});

test('engine: registrations refresh every holdtime/3 and the hub entry never lapses while spokes live', () => {
  const sim = labSim();
  sim.start();
  const before = sim.wire.length;
  sim.advance(3600_000);
  const regs = types(sim, 'spoke1').filter((t) => t.endsWith(':3')).length;
  assert.ok(regs >= 24 && regs <= 26, `spoke1 sent ${regs} registrations in an hour (every 150 s)`);
  assert.ok(sim.wire.length > before);
  assert.ok(sim.nodes.get('hub')!.engine.cache.get('10.0.0.11'));
});

test('engine: a dead spoke expires from the hub after its holdtime, and leaves the multicast list', () => {
  const sim = labSim();
  sim.start();
  sim.lose = (from) => from === 'spoke3';
  sim.advance(460_000 + 150_000);
  const hub = sim.nodes.get('hub')!;
  assert.equal(hub.engine.cache.get('10.0.0.13'), undefined);
  assert.ok(!hub.maps.has('10.0.0.13'));
  assert.deepEqual(hub.multicast, ['203.0.113.11', '203.0.113.12']);
});

test('engine: Phase 3 — hub redirect, spoke resolution through the hub, shortcut route installed', () => {
  const sim = labSim();
  sim.start();
  sim.wire.length = 0;
  // First traceroute from spoke2 to spoke1's LAN goes through the hub (hops 10.0.0.1, 10.0.0.11).
  assert.deepEqual(sim.trace('spoke2', '10.0.0.12', '192.168.1.1'), ['10.0.0.1', '10.0.0.11']);
  const seen = types(sim);
  assert.ok(seen.includes('hub>203.0.113.12:8'), `traffic indication sent: ${seen.join(' ')}`);
  assert.ok(seen.includes('spoke2>203.0.113.1:1'), 'resolution request to the hub');
  assert.ok(seen.includes('hub>203.0.113.11:1'), 'hub forwarded it to spoke1');
  assert.ok(seen.includes('spoke1>203.0.113.12:2'), 'spoke1 answered spoke2 directly');
  const s2 = sim.nodes.get('spoke2')!;
  assert.ok(s2.routes.some((r) => r.source === 'nhrp' && r.prefix === '192.168.1.0' && r.len === 24 && r.via === '10.0.0.11'));
  assert.equal(s2.maps.get('10.0.0.11'), '203.0.113.11');
  // spoke1 learned spoke2 from the request.
  assert.equal(sim.nodes.get('spoke1')!.maps.get('10.0.0.12'), '203.0.113.12');
  // Second traceroute goes direct.
  assert.deepEqual(sim.trace('spoke2', '10.0.0.12', '192.168.1.1'), ['10.0.0.11']);
  // The forwarded request carried the hub in the Forward Transit NHS record and hop count 254.
  const fwd = sim.wire.find((w) => w.from === 'hub' && w.to === '203.0.113.11' && parseNhrp(new Reader(w.bytes, 'nhrp')).type === 1)!;
  assert.equal(parseNhrp(new Reader(fwd.bytes, 'nhrp')).hopCount, 254);
});

test('engine: unused shortcuts expire with their holdtime; the route goes away', () => {
  const sim = labSim();
  sim.start();
  sim.trace('spoke2', '10.0.0.12', '192.168.1.1');
  const s2 = sim.nodes.get('spoke2')!;
  assert.ok(s2.routes.some((r) => r.source === 'nhrp'));
  // Mark it unused and wait past the holdtime (the refresh only happens while used).
  const e = s2.engine.cache.get('192.168.1.0', 24)!;
  s2.engine.cache.put({ ...e, flags: { ...e.flags, used: false } });
  sim.advance(451_000);
  assert.ok(!s2.routes.some((r) => r.source === 'nhrp'), 'shortcut route removed');
  assert.equal(s2.engine.cache.get('192.168.1.0', 24), undefined);
});

test('engine: a used shortcut is refreshed before it expires', () => {
  const sim = labSim();
  sim.start();
  sim.trace('spoke2', '10.0.0.12', '192.168.1.1');
  sim.wire.length = 0;
  sim.advance(400_000);
  assert.ok(types(sim, 'spoke2').some((t) => t.endsWith(':1')), 'a refreshing resolution request was sent');
  const s2 = sim.nodes.get('spoke2')!;
  assert.ok(s2.engine.cache.get('192.168.1.0', 24)!.expires! > sim.now + 300_000);
});

test('engine: unique registration from another NBMA is refused with code 14; no-unique replaces', () => {
  const hub = new NhrpEngine(labConfig('hub'), { lookup: () => undefined }, 0);
  hub.start(0);
  const reg = (nbma: string, unique: boolean, id: number) => encode(makeRegistrationRequest({
    srcNbma: nbma, srcProto: '10.0.0.11', password: 'Cisco123', requestId: id, nhsProto: '10.0.0.1', holdingTime: 450, unique,
  }), emitNhrp, nhrpLength);
  hub.receive(reg('203.0.113.11', true, 1), '203.0.113.11', 10);
  const out = hub.receive(reg('203.0.113.99', true, 2), '203.0.113.99', 20);
  const reply = out.find((a) => a.kind === 'send')!;
  assert.equal(reply.kind === 'send' && reply.nbma, '203.0.113.99');
  const rp = parseNhrp(new Reader(reply.kind === 'send' ? reply.bytes : new Uint8Array(), 'nhrp'));
  assert.equal(rp.body.kind === 'mandatory' && rp.body.cies[0].code, NhrpCieCode.ALREADY_REGISTERED);
  assert.equal(hub.cache.get('10.0.0.11')!.nbma, '203.0.113.11');
  // Outside the tunnel network: administratively prohibited.
  const outside = encode(makeRegistrationRequest({ srcNbma: '203.0.113.50', srcProto: '10.9.9.9', password: 'Cisco123', requestId: 3, nhsProto: '10.0.0.1' }), emitNhrp, nhrpLength);
  const o2 = hub.receive(outside, '203.0.113.50', 30).find((a) => a.kind === 'send');
  const p2 = parseNhrp(new Reader(o2 && o2.kind === 'send' ? o2.bytes : new Uint8Array(), 'nhrp'));
  assert.equal(p2.body.kind === 'mandatory' && p2.body.cies[0].code, NhrpCieCode.ADMINISTRATIVELY_PROHIBITED);
});

test('engine: NAT — a registration whose claimed NBMA differs from the outer source is mapped to the outer source', () => {
  const hub = new NhrpEngine(labConfig('hub'), { lookup: () => undefined }, 0);
  hub.start(0);
  const bytes = encode(makeRegistrationRequest({ srcNbma: '192.168.77.2', srcProto: '10.0.0.13', password: 'Cisco123', requestId: 1, nhsProto: '10.0.0.1' }), emitNhrp, nhrpLength);
  const out = hub.receive(bytes, '203.0.113.13', 0);
  assert.ok(out.some((a) => a.kind === 'map' && a.proto === '10.0.0.13' && a.nbma === '203.0.113.13'));
  const e = hub.cache.get('10.0.0.13')!;
  assert.ok(e.flags.nat);
  assert.equal(e.claimedNbma, '192.168.77.2');
});

test('engine: wrong password, bad checksum, hop count 0 and garbage are counted drops', () => {
  const hub = new NhrpEngine(labConfig('hub'), { lookup: () => undefined }, 0);
  hub.start(0);
  const good = encode(makeRegistrationRequest({ srcNbma: '203.0.113.11', srcProto: '10.0.0.11', password: 'wrong', requestId: 1, nhsProto: '10.0.0.1' }), emitNhrp, nhrpLength);
  const answer = hub.receive(good, '203.0.113.11', 0).filter((a) => a.kind === 'send');
  assert.equal(answer.length, 1, 'only the Error Indication goes out');
  const ei = parseNhrp(new Reader(answer[0].kind === 'send' ? answer[0].bytes : new Uint8Array(), 'nhrp'));
  assert.equal(ei.type, NhrpPacketType.ERROR_INDICATION);
  assert.equal(ei.body.kind === 'error' && ei.body.errorCode, 11);
  const flipped = encode(makeRegistrationRequest({ srcNbma: '203.0.113.11', srcProto: '10.0.0.11', password: 'Cisco123', requestId: 1, nhsProto: '10.0.0.1' }), emitNhrp, nhrpLength);
  flipped[27] ^= 0x40; // the request ID: still parses, checksum now wrong
  hub.receive(flipped, '203.0.113.11', 0);
  const hop0 = encode({ ...makeRegistrationRequest({ srcNbma: '203.0.113.11', srcProto: '10.0.0.11', password: 'Cisco123', requestId: 1, nhsProto: '10.0.0.1' }), hopCount: 0 }, emitNhrp, nhrpLength);
  hub.receive(hop0, '203.0.113.11', 0);
  hub.receive(Uint8Array.of(1, 2, 3), '203.0.113.11', 0);
  const d = hub.counters().drops;
  assert.equal(d['authentication failure'], 1);
  assert.equal(hub.counters().sent['error indication'], 1, 'a bad password is answered with an Error Indication');
  assert.equal(d['bad checksum'], 1);
  assert.equal(d['hop count zero'], 1);
  assert.equal(d['malformed'], 1);
  assert.equal(hub.cache.size, 0);
});

test('engine: arbitrary bytes into receive() never throw', () => {
  const hub = new NhrpEngine(labConfig('hub'), { lookup: () => undefined }, 0);
  hub.start(0);
  const seed = encode(makeRegistrationRequest({ srcNbma: '203.0.113.11', srcProto: '10.0.0.11', password: 'Cisco123', requestId: 1, nhsProto: '10.0.0.1' }), emitNhrp, nhrpLength);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(seed.length - 1), fc.integer({ min: 0, max: 255 }), (junk, at, v) => {
    hub.receive(junk, '203.0.113.11', 0);
    const m = seed.slice();
    m[at] = v;
    hub.receive(m, '203.0.113.11', 0);
  }), { numRuns: 2000 });
});

test('engine: clean stop purges at the NHS and the hub forgets the spoke', () => {
  const sim = labSim();
  sim.start();
  const s1 = sim.nodes.get('spoke1')!;
  sim.apply(s1, s1.engine.stop(sim.now));
  sim.flush();
  assert.equal(sim.nodes.get('hub')!.engine.cache.get('10.0.0.11'), undefined);
});

test('engine: the hub rate-limits redirects per pair', () => {
  const sim = labSim();
  sim.start();
  const hub = sim.nodes.get('hub')!;
  const trig = new Uint8Array(28);
  trig[0] = 0x45;
  [10, 0, 0, 12].forEach((x, i) => (trig[12 + i] = x));
  [192, 168, 1, 1].forEach((x, i) => (trig[16 + i] = x));
  const sends = [0, 100, 200].map((dt) => hub.engine.redirect(trig, '203.0.113.12', sim.now + dt).filter((a) => a.kind === 'send').length);
  assert.deepEqual(sends, [1, 0, 0]);
  assert.equal(hub.engine.counters().drops['redirect rate limited'], 2);
  assert.equal(hub.engine.redirect(trig, '203.0.113.12', sim.now + 9000).filter((a) => a.kind === 'send').length, 1);
});

test('engine: loop in the forward transit record gets an Error Indication (code 3)', () => {
  const sim = labSim();
  sim.start();
  const hub = sim.nodes.get('hub')!;
  void SimNode;
  // A request that already passed through the hub.
  const s2 = sim.nodes.get('spoke2')!;
  const acts = s2.engine.resolve('192.168.1.1', sim.now);
  const req = acts.find((a) => a.kind === 'send')!;
  const once = hub.engine.receive(req.kind === 'send' ? req.bytes : new Uint8Array(), '203.0.113.12', sim.now).find((a) => a.kind === 'send')!;
  const again = hub.engine.receive(once.kind === 'send' ? once.bytes : new Uint8Array(), '203.0.113.11', sim.now);
  const ei = again.find((a) => a.kind === 'send');
  assert.ok(ei && ei.kind === 'send');
  const p = parseNhrp(new Reader(ei.bytes, 'nhrp'));
  assert.equal(p.type, NhrpPacketType.ERROR_INDICATION);
  assert.equal(p.body.kind === 'error' && p.body.errorCode, 3);
});

test('engine: clear ip nhrp forgets dynamic entries and their routes, keeps static ones', () => {
  const sim = labSim();
  sim.start();
  sim.trace('spoke2', '10.0.0.12', '192.168.1.1');
  const s2 = sim.nodes.get('spoke2')!;
  sim.apply(s2, s2.engine.clear());
  assert.deepEqual(s2.engine.cache.all().map((e) => e.type), ['static']);
  assert.ok(!s2.routes.some((r) => r.source === 'nhrp'));
  assert.ok(!s2.maps.has('10.0.0.11'));
  const hub = sim.nodes.get('hub')!;
  sim.apply(hub, hub.engine.clear());
  assert.equal(hub.engine.cache.size, 0);
  sim.advance(151_000);
  assert.equal(hub.engine.cache.size, 3, 'the spokes registered again on their next refresh');
});

test('engine: a spoke that stops purges its bindings at the spokes that resolved it', () => {
  const sim = labSim();
  sim.start();
  sim.trace('spoke2', '10.0.0.12', '192.168.1.1');
  const s2 = sim.nodes.get('spoke2')!;
  assert.ok(s2.routes.some((r) => r.source === 'nhrp' && r.via === '10.0.0.11'));
  const s1 = sim.nodes.get('spoke1')!;
  sim.apply(s1, s1.engine.stop(sim.now));
  sim.flush();
  assert.ok(!s2.routes.some((r) => r.source === 'nhrp'), 'the shortcut via spoke1 is gone at once');
  assert.ok(!s2.maps.has('10.0.0.11'));
  assert.equal(sim.nodes.get('hub')!.engine.cache.get('10.0.0.11'), undefined);
});
