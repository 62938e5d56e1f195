/**
 * DUAL transitions driven directly on a topology entry with a recording
 * context: every arrow of the table in dual.ts, including the ACTIVE 0 / 2
 * states a simulation rarely reaches.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dualStep, type DualContext, type DualInput } from '../../../protocols/eigrp/dual.js';
import { INFINITE_DISTANCE, interfaceVector } from '../../../protocols/eigrp/metric.js';
import { newEntry, type Path, type PrefixEntry } from '../../../protocols/eigrp/topology.js';

const V = interfaceVector({ bandwidth: 10_000, delay: 100, mtu: 1500 });

function path(key: string, rd: number, distance: number): Path {
  return { key, source: { kind: 'neighbor', address: key, ifname: 'e0' }, reported: V, rd: BigInt(rd), total: V, distance: BigInt(distance), nextHop: key, originRouter: key };
}

class Rec {
  queries = 0;
  replies: string[] = [];
  changed = 0;
  transitions: string[] = [];
  constructor(readonly targets: string[]) {}
  get ctx(): DualContext {
    return {
      now: 0,
      variance: 1,
      maximumPaths: 4,
      queryTargets: () => this.targets,
      sendQuery: () => void this.queries++,
      sendReply: (_e, n) => void this.replies.push(n),
      changed: () => void this.changed++,
      stateChanged: (_e, from, to, ev) => void this.transitions.push(`${from}>${to}:${ev}`),
    };
  }
}

function input(e: PrefixEntry, rec: Rec, kind: DualInput['kind'], from: string, p: Path | undefined): string {
  const succ = e.successor !== undefined ? e.paths.get(e.successor) : undefined;
  const before = succ ? succ.distance : INFINITE_DISTANCE;
  if (p) e.paths.set(from, p);
  else e.paths.delete(from);
  if (kind === 'reply' || kind === 'neighbor-down') e.replyStatus.delete(from);
  return dualStep(e, { kind, from, successorDistanceBefore: before }, rec.ctx);
}

function learned(rec: Rec, ...paths: Path[]): PrefixEntry {
  const e = newEntry('192.0.2.0/24', '192.0.2.0', 24);
  for (const p of paths) input(e, rec, 'update', p.key, p);
  return e;
}

test('passive: a feasible successor takes over by local computation; FD only goes down', () => {
  const rec = new Rec(['A', 'B']);
  const e = learned(rec, path('A', 10, 20), path('B', 15, 30));
  assert.equal(e.successor, 'A');
  assert.equal(e.fd, 20n);
  assert.equal(input(e, rec, 'update', 'A', path('A', 25, 40)), 'KEEP');
  assert.equal(e.state, 'passive');
  assert.equal(e.successor, 'B', 'B: RD 15 < FD 20');
  assert.equal(e.distance, 30n);
  assert.equal(e.fd, 20n, 'FD is the lowest distance since going passive');
  assert.equal(rec.queries, 0);
});

test('passive -> ACTIVE 1 -> (last reply) passive with FD reset', () => {
  const rec = new Rec(['A', 'C']);
  const e = learned(rec, path('A', 10, 20));
  assert.equal(input(e, rec, 'update', 'A', path('A', 30, 40)), 'NQ_FCN', 'RD 30 is not below FD 20');
  assert.equal(e.state, 'active1');
  assert.equal(rec.queries, 1);
  assert.deepEqual([...e.replyStatus.keys()], ['A', 'C']);
  assert.equal(input(e, rec, 'reply', 'C', undefined), 'KEEP', 'not the last reply');
  assert.equal(input(e, rec, 'reply', 'A', path('A', 30, 40)), 'LR');
  assert.equal(e.state, 'passive');
  assert.equal(e.fd, 40n, 'FD reset to the new distance');
  assert.equal(e.successor, 'A');
  assert.deepEqual(rec.replies, [], 'local origin: nobody to answer');
});

test('ACTIVE 1 -(DINC)-> ACTIVE 0 -(last reply, condition fails)-> ACTIVE 1 again -> passive', () => {
  const rec = new Rec(['A', 'B']);
  const e = learned(rec, path('A', 10, 20), path('B', 50, 60));
  input(e, rec, 'update', 'A', path('A', 30, 40));
  assert.equal(e.state, 'active1');
  assert.equal(e.fd, 40n, 'FD = distance through the successor when going active');
  assert.equal(input(e, rec, 'update', 'A', path('A', 45, 55)), 'DINC');
  assert.equal(e.state, 'active0');
  assert.equal(input(e, rec, 'reply', 'B', path('B', 50, 60)), 'KEEP');
  assert.equal(input(e, rec, 'reply', 'A', path('A', 45, 55)), 'LR_FCN', 'best RD 45 is not below FD 40');
  assert.equal(e.state, 'active1', 'a new diffusing computation');
  assert.equal(rec.queries, 2);
  assert.equal(e.fd, 55n);
  input(e, rec, 'reply', 'B', path('B', 50, 60));
  assert.equal(input(e, rec, 'reply', 'A', path('A', 45, 55)), 'LR');
  assert.equal(e.state, 'passive');
  assert.equal(e.successor, 'A');
});

test('ACTIVE 0 -(last reply, condition holds)-> passive (LR_FCS)', () => {
  const rec = new Rec(['A', 'B']);
  const e = learned(rec, path('A', 10, 20));
  input(e, rec, 'update', 'A', path('A', 30, 40));
  input(e, rec, 'update', 'A', path('A', 45, 55));
  assert.equal(e.state, 'active0');
  input(e, rec, 'reply', 'A', path('A', 45, 55));
  assert.equal(input(e, rec, 'reply', 'B', path('B', 5, 35)), 'LR_FCS', 'B: RD 5 < FD 40');
  assert.equal(e.state, 'passive');
  assert.equal(e.successor, 'B');
  assert.equal(e.fd, 35n);
});

test('query from the successor: ACTIVE 3, and the reply goes to it at the end', () => {
  const rec = new Rec(['A', 'B']);
  const e = learned(rec, path('A', 10, 20));
  assert.equal(input(e, rec, 'query', 'A', undefined), 'Q_FCN');
  assert.equal(e.state, 'active3');
  assert.equal(e.queryOrigin, 'A');
  assert.deepEqual(rec.replies, []);
  input(e, rec, 'reply', 'A', undefined);
  assert.equal(input(e, rec, 'reply', 'B', path('B', 100, 200)), 'LR');
  assert.equal(e.state, 'passive');
  assert.equal(e.successor, 'B');
  assert.deepEqual(rec.replies, ['A'], 'the origin gets its reply');
});

test('ACTIVE 3 -(DINC)-> ACTIVE 2 -> passive with the reply to the origin', () => {
  const rec = new Rec(['A', 'B']);
  const e = learned(rec, path('A', 10, 20));
  input(e, rec, 'query', 'A', path('A', 30, 40));
  assert.equal(e.state, 'active3');
  assert.equal(input(e, rec, 'update', 'A', path('A', 50, 60)), 'DINC');
  assert.equal(e.state, 'active2');
  input(e, rec, 'reply', 'A', path('A', 50, 60));
  assert.equal(input(e, rec, 'reply', 'B', path('B', 1, 45)), 'LR_FCS');
  assert.equal(e.state, 'passive');
  assert.deepEqual(rec.replies, ['A']);
});

test('query from the successor while ACTIVE 1: ACTIVE 2 (QACT), the successor becomes the origin', () => {
  const rec = new Rec(['A', 'B']);
  const e = learned(rec, path('A', 10, 20));
  input(e, rec, 'update', 'A', path('A', 30, 40));
  assert.equal(e.state, 'active1');
  assert.equal(input(e, rec, 'query', 'A', path('A', 30, 40)), 'QACT');
  assert.equal(e.state, 'active2');
  assert.equal(e.queryOrigin, 'A');
  input(e, rec, 'reply', 'B', undefined);
  assert.equal(input(e, rec, 'reply', 'A', undefined), 'LR_FCN', 'nothing feasible: a new computation');
  assert.equal(e.state, 'active3', 'still owing the successor its reply');
  assert.equal(rec.queries, 2);
  input(e, rec, 'reply', 'B', undefined);
  assert.equal(input(e, rec, 'reply', 'A', undefined), 'LR');
  assert.equal(e.state, 'passive');
  assert.deepEqual(rec.replies, ['A']);
  assert.equal(e.distance, INFINITE_DISTANCE);
});

test('active: a query from another neighbour is answered at once; a lost neighbour counts as its reply', () => {
  const rec = new Rec(['A', 'B', 'C']);
  const e = learned(rec, path('A', 10, 20));
  input(e, rec, 'update', 'A', undefined);
  assert.equal(e.state, 'active1');
  assert.equal(input(e, rec, 'query', 'C', undefined), 'KEEP');
  assert.deepEqual(rec.replies, ['C']);
  input(e, rec, 'neighbor-down', 'C', undefined);
  input(e, rec, 'neighbor-down', 'A', undefined);
  assert.equal(e.state, 'active1');
  assert.equal(input(e, rec, 'reply', 'B', undefined), 'LR');
  assert.equal(e.state, 'passive');
  assert.equal(e.successor, undefined);
});

test('nobody to query: the computation ends at once', () => {
  const rec = new Rec([]);
  const e = learned(rec, path('A', 10, 20));
  input(e, rec, 'neighbor-down', 'A', undefined);
  assert.equal(e.state, 'passive');
  assert.equal(rec.queries, 0);
  assert.deepEqual(rec.transitions.slice(-2), ['passive>active1:NQ_FCN', 'active1>passive:LR']);
  assert.equal(e.distance, INFINITE_DISTANCE);
});

test('passive: a query from a non-successor is answered with our distance', () => {
  const rec = new Rec(['A', 'B']);
  const e = learned(rec, path('A', 10, 20));
  assert.equal(input(e, rec, 'query', 'B', undefined), 'KEEP');
  assert.deepEqual(rec.replies, ['B']);
  assert.equal(e.state, 'passive');
});
