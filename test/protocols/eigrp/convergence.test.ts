/**
 * Deterministic simulations: adjacency, route exchange, hold-timer loss with
 * and without a feasible successor, goodbye, and convergence under loss.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EigrpOpcode } from '../../../protocols/eigrp/constants.js';
import { Sim, eth, rng, type SimRouter } from './sim.js';

const fa = (prefix: string, ifname = 'fa0') => ({ prefix, prefixLength: 24, ifname, bandwidth: 100_000, delay: 10 });
const NET10 = [{ address: '10.0.0.0' }, { address: '192.168.0.0', wildcard: '0.0.255.255' }];

function lanOfThree(seed = 1): { sim: Sim; r: SimRouter[] } {
  const sim = new Sim(seed);
  const r = [1, 2, 3].map((i) => sim.addRouter(`R${i}`, { as: 100, routerId: `${i}.${i}.${i}.${i}`, interfaces: [eth('e0', `10.0.0.${i}`)], networks: NET10 }));
  for (const x of r) sim.attach('lan', x.name, 'e0');
  sim.start();
  r.forEach((x, i) => sim.apply(x, x.eigrp.setConnected([fa(`192.168.${i + 1}.0`)], 0)));
  return { sim, r };
}

test('three routers on one LAN: INIT handshakes, every LAN learned with the classic metric', () => {
  const { sim, r } = lanOfThree();
  sim.run(10_000);
  for (const [i, x] of r.entries()) {
    const nbrs = x.eigrp.showNeighbors(sim.now);
    assert.equal(nbrs.length, 2, `${x.name} has two neighbours`);
    assert.ok(nbrs.every((n) => n.state === 'up' && n.queueCount === 0));
    assert.deepEqual(nbrs.map((n) => n.handle).sort(), [0, 1]);
    for (const j of [1, 2, 3]) {
      if (j === i + 1) continue;
      const route = x.route(`192.168.${j}.0/24`);
      assert.ok(route, `${x.name} learned 192.168.${j}.0/24`);
      assert.equal(route.metric, 284160, '256 x (1000 + 10 + 100)');
      assert.deepEqual(route.nextHops, [{ address: `10.0.0.${j}`, ifname: 'e0' }]);
    }
    assert.equal(x.rib.size, 2);
    assert.ok(x.logs.some((l) => l.startsWith('notice: Neighbor') && l.endsWith('is up: new adjacency')));
  }
});

/** R1 - R2 (10 Mbit/s), R1 - R3 (10 Mbit/s), R2 - R3 (100 Mbit/s); R3 has 192.168.3.0/24. */
function triangle(): { sim: Sim; r1: SimRouter; r2: SimRouter; r3: SimRouter } {
  const sim = new Sim(7);
  const fast = { bandwidth: 100_000, delay: 10 };
  const r1 = sim.addRouter('R1', { as: 1, routerId: '1.1.1.1', interfaces: [eth('e0', '10.0.12.1'), eth('e1', '10.0.13.1')], networks: NET10 });
  const r2 = sim.addRouter('R2', { as: 1, routerId: '2.2.2.2', interfaces: [eth('e0', '10.0.12.2'), eth('e1', '10.0.23.2', 24, fast)], networks: NET10 });
  const r3 = sim.addRouter('R3', { as: 1, routerId: '3.3.3.3', interfaces: [eth('e0', '10.0.13.3'), eth('e1', '10.0.23.3', 24, fast)], networks: NET10 });
  sim.attach('a', 'R1', 'e0');
  sim.attach('a', 'R2', 'e0');
  sim.attach('b', 'R1', 'e1');
  sim.attach('b', 'R3', 'e0');
  sim.attach('c', 'R2', 'e1');
  sim.attach('c', 'R3', 'e1');
  sim.start();
  sim.apply(r3, r3.eigrp.setConnected([fa('192.168.3.0')], 0));
  sim.run(10_000);
  return { sim, r1, r2, r3 };
}

test('feasible successor: the direct link dies, the backup path takes over without going active', () => {
  const { sim, r1 } = triangle();
  const e = r1.eigrp.entry('192.168.3.0', 24);
  assert.ok(e);
  assert.equal(e.fd, 284160n, 'successor: R3 directly, 256 x (1000 + 10 + 100)');
  const viaR2 = e.paths.get('10.0.12.2%e0');
  assert.ok(viaR2);
  assert.equal(viaR2.rd, 30720n, 'R2 reports 256 x (100 + 10 + 10)');
  assert.equal(viaR2.distance, 286720n);
  assert.ok(r1.eigrp.showTopology().find((t) => t.prefix === '192.168.3.0')?.paths.some((p) => p.address === '10.0.12.2' && p.feasible && !p.successor), 'R2 is a feasible successor');

  const queriesBefore = r1.eigrp.showTraffic().queries.sent;
  const logsBefore = r1.logs.length;
  sim.member('R1', 'e1').cut = true;
  sim.run(20_000);
  assert.ok(r1.logs.slice(logsBefore).includes('notice: Neighbor 10.0.13.3 (e1) is down: holding time expired'));
  const route = r1.route('192.168.3.0/24');
  assert.ok(route);
  assert.deepEqual(route.nextHops, [{ address: '10.0.12.2', ifname: 'e0' }]);
  assert.equal(route.metric, 286720);
  assert.equal(r1.eigrp.showTraffic().queries.sent, queriesBefore, 'no query: a feasible successor existed');
  assert.ok(!r1.logs.slice(logsBefore).some((l) => l.includes('192.168.3.0/24: state passive => active')), 'never active');
});

test('no feasible successor: hold timer, DUAL queries and replies, the route is withdrawn everywhere', () => {
  const sim = new Sim(3);
  const r1 = sim.addRouter('R1', { as: 1, routerId: '1.1.1.1', interfaces: [eth('e0', '10.0.12.1')], networks: NET10 });
  const r2 = sim.addRouter('R2', { as: 1, routerId: '2.2.2.2', interfaces: [eth('e0', '10.0.12.2'), eth('e1', '10.0.23.2')], networks: NET10 });
  const r3 = sim.addRouter('R3', { as: 1, routerId: '3.3.3.3', interfaces: [eth('e0', '10.0.23.3')], networks: NET10 });
  sim.attach('a', 'R1', 'e0');
  sim.attach('a', 'R2', 'e0');
  sim.attach('b', 'R2', 'e1');
  sim.attach('b', 'R3', 'e0');
  sim.start();
  sim.apply(r3, r3.eigrp.setConnected([fa('192.168.3.0')], 0));
  sim.run(10_000);
  assert.ok(r1.route('192.168.3.0/24'), 'learned across two hops');
  assert.equal(r1.route('192.168.3.0/24')?.metric, 256 * (1000 + 10 + 100 + 100));

  sim.member('R2', 'e1').cut = true;
  sim.run(20_000);
  for (const x of [r1, r2]) {
    assert.equal(x.route('192.168.3.0/24'), undefined, `${x.name} withdrew the route`);
    assert.equal(x.eigrp.entry('192.168.3.0', 24), undefined, `${x.name} forgot the destination`);
    assert.ok(x.eigrp.showTopology().every((t) => t.code === 'P'), `${x.name} all passive`);
  }
  assert.ok(r2.logs.includes('debug: 192.168.3.0/24: state passive => active1 (NQ_FCN)'), 'R2 lost its successor: active, local origin');
  assert.ok(r1.logs.includes('debug: 192.168.3.0/24: state passive => active3 (Q_FCN)'), 'R1 queried by its successor: active, oij=3');
  assert.ok(r1.logs.includes('debug: 192.168.3.0/24: state active3 => passive (LR)'));
  assert.ok(r2.logs.includes('debug: 192.168.3.0/24: state active1 => passive (LR)'));
  assert.ok(r2.eigrp.showTraffic().queries.sent >= 1 && r2.eigrp.showTraffic().replies.received >= 1);
  assert.ok(r1.eigrp.showTraffic().queries.received >= 1 && r1.eigrp.showTraffic().replies.sent >= 1);
});

test('goodbye: a shut-down neighbour is dropped at once, not after the hold time', () => {
  const { sim, r } = lanOfThree(5);
  sim.run(10_000);
  const [r1, r2] = r;
  const t0 = sim.now;
  sim.apply(r2, r2.eigrp.shutdown(sim.now));
  assert.deepEqual(r2.rib.size, 0, 'the shut-down router withdrew its routes');
  sim.run(50);
  assert.ok(r1.logs.includes('notice: Neighbor 10.0.0.2 (e0) is down: Interface Goodbye received'));
  assert.equal(r1.route('192.168.2.0/24'), undefined);
  assert.ok(r1.route('192.168.3.0/24'), 'R3\'s route stays');
  assert.ok(sim.now - t0 < 1000);
  sim.run(30_000);
  assert.equal(r1.eigrp.neighborState('10.0.0.2'), undefined, 'a shut-down router stays gone');
});

test('retransmission: with 30 % of reliable packets and ACKs lost, everything converges', () => {
  const { sim, r } = lanOfThree(11);
  const lose = rng(99);
  sim.dropIf = (_from, _to, bytes) => {
    const isPlainHello = bytes[1] === EigrpOpcode.HELLO && bytes[12] === 0 && bytes[13] === 0 && bytes[14] === 0 && bytes[15] === 0;
    return !isPlainHello && lose() < 0.3;
  };
  sim.run(60_000);
  let retrans = 0;
  for (const x of r) {
    const nbrs = x.eigrp.showNeighbors(sim.now);
    assert.equal(nbrs.filter((n) => n.state === 'up').length, 2, `${x.name} neighbours up`);
    assert.equal(x.rib.size, 2, `${x.name} has both other LANs`);
    retrans += nbrs.reduce((a, n) => a + n.retransmissions, 0);
  }
  assert.ok(retrans > 0, 'packets were retransmitted');
  sim.dropIf = undefined;
  // A later change still gets through.
  sim.apply(r[2], r[2].eigrp.setConnected([], sim.now));
  sim.run(5_000);
  assert.equal(r[0].route('192.168.3.0/24'), undefined);
});

test('retry limit: a neighbour that never acknowledges is reset after 16 retransmissions', () => {
  const { sim, r } = lanOfThree(2);
  sim.run(10_000);
  // R3 stops acknowledging (and sending anything but Hellos): R1's next update to it goes unanswered.
  sim.dropIf = (from, _to, bytes) => from.router.name === 'R3' && !(bytes[1] === EigrpOpcode.HELLO && bytes[12] === 0 && bytes[13] === 0 && bytes[14] === 0 && bytes[15] === 0);
  sim.apply(r[0], r[0].eigrp.setConnected([fa('192.168.1.0'), fa('192.168.10.0', 'fa1')], sim.now));
  sim.run(15_000);
  assert.ok(r[0].logs.includes('notice: Neighbor 10.0.0.3 (e0) is down: retry limit exceeded'), r[0].logs.filter((l) => l.startsWith('notice')).join('\n'));
});
