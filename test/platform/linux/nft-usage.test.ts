/**
 * nft-usage: `nft -j list set` output (as nft 1.0.6 prints it, captured on this host) into
 * per-next-hop counters, refusal of anything that is not our set, and the totals that only
 * grow across element timeouts and table re-installs (a property over random readings).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PlatformError } from '../../../platform/errors.js';
import { parseSetCounters, TxTotals, type NextHopCount } from '../../../platform/linux/nft-usage.js';

const META = '{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}';
const SET_HEAD = '"family": "ip", "name": "tx_nexthops", "table": "dmvpnd_Tunnel0", "type": "ipv4_addr", "handle": 2, "size": 65535, "flags": ["timeout"], "timeout": 600';

function doc(elem?: string): string {
  return `{"nftables": [${META}, {"set": {${SET_HEAD}${elem !== undefined ? `, "elem": ${elem}` : ''}}}]}`;
}

const parse = (out: string): NextHopCount[] => parseSetCounters(out, 'dmvpnd_Tunnel0', 'tx_nexthops', 'reading the usage set');

function refused(out: string, message: RegExp): void {
  assert.throws(() => parse(out), (e: unknown) => {
    assert.ok(e instanceof PlatformError, String(e));
    assert.deepEqual([e.code, e.errnoCode, e.syscall], ['netlink', 'EIO', 'nft']);
    assert.match(e.message, message);
    return true;
  });
}

test('nft-usage: the elements nft prints, with counters and expiry', () => {
  const out = doc('[{"elem": {"val": "10.0.0.7", "expires": 599, "counter": {"packets": 2, "bytes": 168}}}, '
    + '{"elem": {"val": "10.0.0.9", "expires": 12, "counter": {"packets": 3, "bytes": 252}}}]');
  assert.deepEqual(parse(out), [
    { nextHop: '10.0.0.7', packets: 2, bytes: 168, expiresS: 599 },
    { nextHop: '10.0.0.9', packets: 3, bytes: 252, expiresS: 12 },
  ]);
});

test('nft-usage: an empty set has no "elem"; a bare value or a null counter counts nothing', () => {
  assert.deepEqual(parse(doc()), []);
  assert.deepEqual(parse(doc('[]')), []);
  assert.deepEqual(parse(doc('["10.0.0.5", {"elem": {"val": "10.0.0.6", "counter": null}}]')), [
    { nextHop: '10.0.0.5', packets: 0, bytes: 0 },
    { nextHop: '10.0.0.6', packets: 0, bytes: 0 },
  ]);
  // Counters above 2^32 (a busy hub over weeks) stay exact.
  assert.equal(parse(doc('[{"elem": {"val": "10.0.0.5", "counter": {"packets": 8589934593, "bytes": 1099511627776}}}]'))[0].packets, 8589934593);
});

test('nft-usage: output that is not our set is refused with a PlatformError', () => {
  refused('Error: No such file', /reading the usage set: nft -j printed something that is not JSON/);
  refused('{"x": []}', /no "nftables" array/);
  refused(`{"nftables": [${META}]}`, /no set tx_nexthops of table ip dmvpnd_Tunnel0/);
  refused(doc().replace('"dmvpnd_Tunnel0"', '"other"'), /no set tx_nexthops/);
  refused(doc().replace('"family": "ip"', '"family": "inet"'), /no set tx_nexthops/);
  refused(doc('{"elem": 1}'), /elements of set tx_nexthops are not an array/);
  refused(doc('[{"elem": {"val": "10.0.0.256"}}]'), /holds "10\.0\.0\.256", not an IPv4 next hop/);
  refused(doc('[{"elem": {"val": {"prefix": {"addr": "10.0.0.0", "len": 24}}}}]'), /not an IPv4 next hop/);
  refused(doc('[{"elem": {"val": "10.0.0.1", "counter": {"packets": -1, "bytes": 0}}}]'), /counter of 10\.0\.0\.1 .* not two non-negative integers/);
  refused(doc('[{"elem": {"val": "10.0.0.1", "counter": {"packets": 1}}}]'), /not two non-negative integers/);
});

test('nft-usage: parsing random JSON throws nothing but PlatformError', () => {
  fc.assert(fc.property(fc.json(), (j) => {
    for (const out of [j, doc(j), doc(`[${j}]`)]) {
      try {
        parse(out);
      } catch (e) {
        if (!(e instanceof PlatformError)) throw e;
      }
    }
  }), { numRuns: 300 });
});

test('nft-usage: totals add what each reading adds, and restart when an element timed out or the table came back', () => {
  const t = new TxTotals();
  const c = (nextHop: string, packets: number, bytes = packets * 100): NextHopCount => ({ nextHop, packets, bytes });
  t.update([c('10.0.0.7', 2), c('10.0.0.9', 0)]);
  assert.deepEqual(t.get('10.0.0.7'), { packets: 2, bytes: 200 });
  assert.deepEqual(t.get('10.0.0.9'), { packets: 0, bytes: 0 });
  assert.equal(t.get('10.0.0.8'), undefined);
  t.update([c('10.0.0.7', 5), c('10.0.0.9', 0)]);
  assert.deepEqual(t.get('10.0.0.7'), { packets: 5, bytes: 500 });
  // 10.0.0.7 timed out (absent) and came back with 1: all of it is new.
  t.update([c('10.0.0.9', 4)]);
  t.update([c('10.0.0.7', 1), c('10.0.0.9', 6)]);
  assert.deepEqual(t.get('10.0.0.7'), { packets: 6, bytes: 600 });
  assert.deepEqual(t.get('10.0.0.9'), { packets: 6, bytes: 600 });
  // Came back between two readings with fewer packets than before: a restart too.
  t.update([c('10.0.0.7', 1), c('10.0.0.9', 2)]);
  assert.deepEqual(t.get('10.0.0.9'), { packets: 8, bytes: 800 });
  // The table installed again: the first reading is all new even when it is larger.
  t.restart();
  t.update([c('10.0.0.7', 3), c('10.0.0.9', 10)]);
  assert.deepEqual(t.get('10.0.0.7'), { packets: 9, bytes: 900 }, '6 + 3');
  assert.deepEqual(t.get('10.0.0.9'), { packets: 18, bytes: 1800 });
  assert.equal(t.size, 2);
});

test('nft-usage: totals never go back, and equal the packets counted when every restart is seen', () => {
  // A model of one next hop's element: each step sends some packets, or times the element out
  // (it restarts from zero), or re-installs the table; a reading comes after every step.
  const step = fc.oneof(
    fc.record({ kind: fc.constant('send' as const), n: fc.integer({ min: 0, max: 1000 }) }),
    fc.record({ kind: fc.constant('timeout' as const) }),
    fc.record({ kind: fc.constant('reinstall' as const) }),
  );
  fc.assert(fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
    const t = new TxTotals();
    let element: number | undefined;
    let sent = 0;
    let before = 0;
    for (const s of steps) {
      if (s.kind === 'send') {
        if (s.n > 0) element = (element ?? 0) + s.n;
        sent += s.n;
      } else if (s.kind === 'timeout') element = undefined;
      else {
        element = undefined;
        t.restart();
      }
      t.update(element === undefined ? [] : [{ nextHop: '10.0.0.7', packets: element, bytes: element * 64 }]);
      const now = t.get('10.0.0.7')?.packets ?? 0;
      assert.ok(now >= before, 'never back');
      assert.equal(now, sent, 'every packet counted once');
      assert.equal(t.get('10.0.0.7')?.bytes ?? 0, sent * 64);
      before = now;
    }
  }), { numRuns: 300 });
});
