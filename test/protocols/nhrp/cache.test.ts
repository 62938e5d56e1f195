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
