/**
 * Who may become a neighbour: K-values, AS number, authentication (MD5 and
 * HMAC-SHA-256) with the right and the wrong key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EigrpAuthType } from '../../../protocols/eigrp/constants.js';
import { decodeEigrp, eigrpChecksumValid } from '../../../protocols/eigrp/wire.js';
import { EigrpInstance } from '../../../protocols/eigrp/instance.js';
import type { EigrpAuthConfig, EigrpConfig } from '../../../protocols/eigrp/config.js';
import { verifyPacket } from '../../../protocols/eigrp/auth.js';
import { Sim, eth, type SimRouter } from './sim.js';

function pair(a: Partial<EigrpConfig>, b: Partial<EigrpConfig>, auth?: [EigrpAuthConfig | undefined, EigrpAuthConfig | undefined]): { sim: Sim; r1: SimRouter; r2: SimRouter } {
  const sim = new Sim(4);
  const networks = [{ address: '10.0.0.0' }, { address: '192.168.0.0', wildcard: '0.0.255.255' }];
  const r1 = sim.addRouter('R1', { as: 100, routerId: '1.1.1.1', interfaces: [eth('e0', '10.0.0.1', 24, { auth: auth?.[0] })], networks, ...a });
  const r2 = sim.addRouter('R2', { as: 100, routerId: '2.2.2.2', interfaces: [eth('e0', '10.0.0.2', 24, { auth: auth?.[1] })], networks, ...b });
  sim.attach('lan', 'R1', 'e0');
  sim.attach('lan', 'R2', 'e0');
  sim.start();
  sim.apply(r2, r2.eigrp.setConnected([{ prefix: '192.168.2.0', prefixLength: 24, ifname: 'fa0' }], 0));
  sim.run(20_000);
  return { sim, r1, r2 };
}

test('K-value mismatch: no adjacency, every Hello counted as a drop', () => {
  const { r1, r2, sim } = pair({}, { k: { k1: 1, k2: 0, k3: 1, k4: 0, k5: 1, k6: 0 } });
  assert.equal(r1.eigrp.showNeighbors(sim.now).length, 0);
  assert.equal(r2.eigrp.showNeighbors(sim.now).length, 0);
  assert.ok(r1.eigrp.dropCount('K-value mismatch') >= 4);
  assert.ok(r1.eigrp.showTraffic().drops['K-value mismatch'] === r1.eigrp.dropCount('K-value mismatch'));
});

test('K-values changed on an established neighbour take it down with the reason', () => {
  const { sim, r1 } = pair({}, {});
  assert.equal(r1.eigrp.neighborState('10.0.0.2'), 'up');
  // A Hello from 10.0.0.2 with other K-values.
  const other = new EigrpInstance({ as: 100, routerId: '2.2.2.2', k: { k1: 1, k2: 1, k3: 1, k4: 0, k5: 0, k6: 0 }, interfaces: [eth('e0', '10.0.0.2')], networks: [{ address: '10.0.0.0' }] });
  const hello = other.start(sim.now).find((a) => a.kind === 'send');
  assert.ok(hello && hello.kind === 'send');
  sim.apply(r1, r1.eigrp.receive('e0', '10.0.0.2', hello.bytes, sim.now));
  assert.ok(r1.logs.includes('notice: Neighbor 10.0.0.2 (e0) is down: K-value mismatch'));
  assert.equal(r1.route('192.168.2.0/24'), undefined);
});

test('wrong AS: dropped and counted, no adjacency', () => {
  const { sim, r1 } = pair({}, { as: 200 });
  assert.equal(r1.eigrp.showNeighbors(sim.now).length, 0);
  assert.ok(r1.eigrp.dropCount('wrong AS') >= 4);
});

const md5 = (secret: string, id = 1): EigrpAuthConfig => ({ mode: 'md5', keys: [{ id, secret }] });
const sha = (secret: string, id = 1): EigrpAuthConfig => ({ mode: 'hmac-sha-256', keys: [{ id, secret }] });

for (const [name, make, type] of [['MD5', md5, EigrpAuthType.MD5], ['HMAC-SHA-256', sha, EigrpAuthType.SHA256]] as const) {
  test(`${name} authentication with the right key: adjacency, routes, every packet signed`, () => {
    const { sim, r1, r2 } = pair({}, {}, [make('cisco'), make('cisco')]);
    assert.equal(r1.eigrp.neighborState('10.0.0.2'), 'up');
    assert.ok(r1.route('192.168.2.0/24'));
    const sent = r2.sent.map((s) => s.action.bytes);
    assert.ok(sent.length > 5);
    for (const b of sent) {
      const p = decodeEigrp(b);
      const first = p.tlvs[0];
      assert.ok(first && first.kind === 'authentication' && first.authType === type, 'Authentication TLV first');
      assert.ok(eigrpChecksumValid(b), 'checksum computed after the digest');
      assert.equal(verifyPacket(b, p, make('cisco'), '10.0.0.2'), undefined);
    }
    assert.equal(r1.eigrp.dropCount('bad digest'), 0);
    void sim;
  });

  test(`${name} authentication with the wrong key: dropped as a bad digest`, () => {
    const { sim, r1 } = pair({}, {}, [make('cisco'), make('wrong')]);
    assert.equal(r1.eigrp.showNeighbors(sim.now).length, 0);
    assert.ok(r1.eigrp.dropCount('bad digest') >= 4);
  });
}

test('authentication: an unknown key ID, a missing TLV, an unexpected TLV, a different mode', () => {
  let r = pair({}, {}, [md5('cisco', 1), md5('cisco', 2)]);
  assert.ok(r.r1.eigrp.dropCount('unknown key') >= 4);
  r = pair({}, {}, [md5('cisco'), undefined]);
  assert.ok(r.r1.eigrp.dropCount('missing authentication') >= 4);
  assert.ok(r.r2.eigrp.dropCount('unexpected authentication') >= 4);
  r = pair({}, {}, [md5('cisco'), sha('cisco')]);
  assert.ok(r.r1.eigrp.dropCount('authentication type mismatch') >= 4);
  assert.equal(r.r1.eigrp.showNeighbors(r.sim.now).length, 0);
});

test('HMAC-SHA-256 binds the sender address: a packet replayed from another address fails', () => {
  const { r2 } = pair({}, {}, [sha('cisco'), sha('cisco')]);
  const b = r2.sent[0].action.bytes;
  assert.equal(verifyPacket(b, decodeEigrp(b), sha('cisco'), '10.0.0.2'), undefined);
  assert.equal(verifyPacket(b, decodeEigrp(b), sha('cisco'), '10.0.0.9'), 'bad digest');
});

test('packets from off the interface subnet and our own multicast echo are dropped', () => {
  const { sim, r1, r2 } = pair({}, {});
  const hello = r2.sent[0].action.bytes;
  sim.apply(r1, r1.eigrp.receive('e0', '172.16.0.9', hello, sim.now));
  assert.equal(r1.eigrp.dropCount('not on common subnet'), 1);
  sim.apply(r1, r1.eigrp.receive('e0', '10.0.0.1', hello, sim.now));
  assert.equal(r1.eigrp.dropCount('own packet'), 1);
  sim.apply(r1, r1.eigrp.receive('nope0', '10.0.0.2', hello, sim.now));
  assert.equal(r1.eigrp.dropCount('unknown interface'), 1);
});
