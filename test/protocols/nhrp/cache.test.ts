import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NhrpCache, NO_FLAGS, networkOf, prefixContains, type CacheEntry } from '../../../protocols/nhrp/cache.js';

function entry(prefix: string, len: number, nextHop: string, nbma: string | undefined, expires?: number): CacheEntry {
  return { prefix, prefixLength: len, type: 'dynamic', nextHop, nbma, flags: NO_FLAGS, holdingTime: 450, created: 0, expires, mtu: 0 };
}

test('cache: longest-prefix match across lengths', () => {
  const c = new NhrpCache();
  c.put(entry('192.168.0.0', 16, '10.0.0.1', '203.0.113.1'));
  c.put(entry('192.168.1.0', 24, '10.0.0.11', '203.0.113.11'));
  c.put(entry('10.0.0.11', 32, '10.0.0.11', '203.0.113.11'));
  assert.equal(c.lookup('192.168.1.1')?.nextHop, '10.0.0.11');
  assert.equal(c.lookup('192.168.2.1')?.nextHop, '10.0.0.1');
  assert.equal(c.lookup('10.0.0.11')?.prefixLength, 32);
  assert.equal(c.lookup('172.16.0.1'), undefined);
  c.delete('192.168.1.0', 24);
  assert.equal(c.lookup('192.168.1.1')?.nextHop, '10.0.0.1');
  assert.equal(c.byNextHop('10.0.0.11').length, 1);
});

test('cache: expiry removes due entries only, static never expires', () => {
  const c = new NhrpCache();
  c.put(entry('10.0.0.11', 32, '10.0.0.11', '203.0.113.11', 1000));
  c.put(entry('10.0.0.12', 32, '10.0.0.12', '203.0.113.12', 2000));
  c.put({ ...entry('10.0.0.1', 32, '10.0.0.1', '203.0.113.1'), type: 'static' });
  assert.equal(c.nextExpiry(), 1000);
  assert.deepEqual(c.expire(1500).map((e) => e.prefix), ['10.0.0.11']);
  assert.equal(c.size, 2);
  assert.deepEqual(c.expire(10_000).map((e) => e.prefix), ['10.0.0.12']);
  assert.equal(c.nextExpiry(), undefined);
  assert.equal(c.all()[0].type, 'static');
});

test('cache: prefix helpers', () => {
  assert.equal(networkOf('192.168.1.77', 24), '192.168.1.0');
  assert.equal(networkOf('10.1.2.3', 0), '0.0.0.0');
  assert.ok(prefixContains('192.168.1.0', 24, '192.168.1.200'));
  assert.ok(!prefixContains('192.168.1.0', 24, '192.168.2.1'));
});

test('cache: a refreshed entry expires at its new time, not the old one; indexes follow', () => {
  const c = new NhrpCache();
  c.put(entry('10.0.0.11', 32, '10.0.0.11', '203.0.113.11', 1000));
  c.put(entry('10.0.0.11', 32, '10.0.0.11', '203.0.113.11', 5000));
  c.put({ ...entry('192.168.1.0', 24, '10.0.0.11', '203.0.113.11', 3000), flags: { ...NO_FLAGS, router: true } });
  assert.equal(c.nextExpiry(), 3000);
  assert.equal(c.byNextHop('10.0.0.11').length, 2);
  assert.equal(c.routerKeys.size, 1);
  assert.deepEqual(c.expire(2000), []);
  assert.deepEqual(c.expire(3000).map((e) => e.prefixLength), [24]);
  assert.equal(c.routerKeys.size, 0);
  assert.equal(c.nextExpiry(), 5000);
  c.delete('10.0.0.11', 32);
  assert.equal(c.nextExpiry(), undefined);
  assert.deepEqual(c.byNextHop('10.0.0.11'), []);
  assert.equal(c.lookup('10.0.0.11'), undefined);
});

test('cache: many entries with random expiries leave in time order (heap property)', () => {
  const c = new NhrpCache();
  let seed = 7;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  for (let i = 0; i < 2000; i++) c.put(entry(`10.1.${i >> 8}.${i & 255}`, 32, `10.1.${i >> 8}.${i & 255}`, '203.0.113.1', rnd() % 100_000));
  let last = -1;
  let n = 0;
  for (let t = 0; t < 100_000 + 997; t += 997) {
    for (const e of c.expire(t)) {
      assert.ok(e.expires! <= t && e.expires! >= last - 997);
      n++;
    }
    last = t;
  }
  assert.equal(n, 2000);
  assert.equal(c.size, 0);
});
