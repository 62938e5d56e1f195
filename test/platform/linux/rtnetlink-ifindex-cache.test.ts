/**
 * The device index cache of LinuxRtnetlink (platform/linux/ifindex-cache.ts), pure: link
 * notifications drop what they make stale, and a lookup that raced a drop is not kept. The
 * property drives a model kernel (create, delete, rename, flap) that notifies every change, as
 * RTNLGRP_LINK does, and requires every cached entry to be the kernel's truth at all times.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PlatformError } from '../../../platform/errors.js';
import { IfindexCache } from '../../../platform/linux/ifindex-cache.js';
import type { Link, LinkEvent } from '../../../platform/ports.js';

const link = (name: string, index: number): Link => ({ name, index, linkType: 1, up: true, running: true, mtu: 1500 });
const ev = (type: 'new' | 'delete', name: string, index: number): LinkEvent => ({ type, link: link(name, index) });

test('ifindex cache: delete, re-create, rename and overrun drop the stale entry; flaps keep it', () => {
  const c = new IfindexCache();
  c.set({ ...link('gre1', 5), address: Uint8Array.of(198, 18, 0, 1) }, c.generation);
  c.set(link('eth0', 2), c.generation);
  assert.deepEqual(c.get('gre1'), { index: 5, name: 'gre1', address: Uint8Array.of(198, 18, 0, 1) });
  c.onEvent(ev('new', 'gre1', 5)); // up/down, MTU: same name, same index
  assert.equal(c.get('gre1')?.index, 5);
  c.onEvent(ev('new', 'gre1', 9)); // deleted and re-created before we saw the delete
  assert.equal(c.get('gre1'), undefined);
  c.set(link('gre1', 9), c.generation);
  c.onEvent(ev('new', 'tun9', 9)); // renamed
  assert.equal(c.get('gre1'), undefined);
  assert.equal(c.get('eth0')?.index, 2, 'others stay');
  c.onEvent(ev('delete', 'eth0', 2));
  assert.equal(c.size, 0);
  c.set(link('eth1', 3), c.generation);
  c.onEvent({ type: 'overrun', error: new PlatformError({ code: 'socket', errno: 105, syscall: 'recvmsg', operation: 'watching devices' }) });
  assert.equal(c.get('eth1'), undefined, 'notifications lost: nothing can be trusted');
});

test('ifindex cache: a lookup answered across a drop is not kept; forget is ours to call', () => {
  const c = new IfindexCache();
  c.set(link('gre1', 5), c.generation);
  const asked = c.generation;
  c.onEvent(ev('delete', 'gre1', 5));
  c.set(link('gre1', 5), asked); // the answer predates the delete
  assert.equal(c.get('gre1'), undefined);
  c.set(link('gre1', 6), c.generation);
  assert.equal(c.get('gre1')?.index, 6);
  const g = c.generation;
  c.forget('gre1');
  assert.equal(c.get('gre1'), undefined);
  assert.ok(c.generation > g);
  // A notification about a device not cached still voids a lookup in flight (it may be that one).
  const before = c.generation;
  c.onEvent(ev('new', 'other', 77));
  c.set(link('gre1', 6), before);
  assert.equal(c.get('gre1'), undefined);
});

test('ifindex cache: property: under any sequence of kernel changes, every cached entry is the truth', () => {
  type Op =
    | { op: 'create'; name: number }
    | { op: 'delete'; name: number }
    | { op: 'rename'; from: number; to: number }
    | { op: 'flap'; name: number }
    | { op: 'lookup'; name: number; late: boolean };
  const nameIx = fc.integer({ min: 0, max: 4 });
  const op: fc.Arbitrary<Op> = fc.oneof(
    nameIx.map((name) => ({ op: 'create' as const, name })),
    nameIx.map((name) => ({ op: 'delete' as const, name })),
    fc.tuple(nameIx, nameIx).map(([from, to]) => ({ op: 'rename' as const, from, to })),
    nameIx.map((name) => ({ op: 'flap' as const, name })),
    fc.tuple(nameIx, fc.boolean()).map(([name, late]) => ({ op: 'lookup' as const, name, late })),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const kernel = new Map<string, number>();
      let nextIndex = 10;
      const c = new IfindexCache();
      // A lookup asked earlier and answered now, as with a request in flight.
      let pending: { name: string; index: number; generation: number } | undefined;
      for (const o of ops) {
        switch (o.op) {
          case 'create': {
            const n = `d${o.name}`;
            if (kernel.has(n)) break;
            kernel.set(n, nextIndex);
            c.onEvent(ev('new', n, nextIndex++));
            break;
          }
          case 'delete': {
            const n = `d${o.name}`;
            const i = kernel.get(n);
            if (i === undefined) break;
            kernel.delete(n);
            c.onEvent(ev('delete', n, i));
            break;
          }
          case 'rename': {
            const [f, t] = [`d${o.from}`, `d${o.to}`];
            const i = kernel.get(f);
            if (i === undefined || kernel.has(t)) break;
            kernel.delete(f);
            kernel.set(t, i);
            c.onEvent(ev('new', t, i));
            break;
          }
          case 'flap': {
            const n = `d${o.name}`;
            const i = kernel.get(n);
            if (i !== undefined) c.onEvent(ev('new', n, i));
            break;
          }
          case 'lookup': {
            if (pending) c.set(link(pending.name, pending.index), pending.generation);
            pending = undefined;
            const n = `d${o.name}`;
            const i = kernel.get(n);
            if (i === undefined) break;
            if (o.late) pending = { name: n, index: i, generation: c.generation };
            else c.set(link(n, i), c.generation);
            break;
          }
        }
        for (const n of ['d0', 'd1', 'd2', 'd3', 'd4']) {
          const hit = c.get(n);
          if (hit) assert.equal(hit.index, kernel.get(n), `${n} cached as ${hit.index}, the kernel has ${kernel.get(n)}`);
        }
      }
    }),
    { numRuns: 300 },
  );
});
