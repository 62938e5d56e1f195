import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newNhsClient, stepNhsClient, nhsStatusLetter, type NhsClient, type NhsEvent, type NhsAction } from '../../../protocols/nhrp/nhs-client.js';

const timing = { holdtime: 450, interval: 150 };

function driver() {
  let id = 0;
  let c: NhsClient = newNhsClient(0);
  const sent: { at: number; id: number }[] = [];
  const reasons: string[] = [];
  const step = (ev: NhsEvent, now: number): NhsAction[] => {
    const r = stepNhsClient(c, ev, now, timing, () => ++id);
    c = r.client;
    if (r.reason !== 'unchanged') reasons.push(r.reason);
    for (const a of r.actions) if (a.kind === 'send-registration') sent.push({ at: now, id: a.requestId });
    return r.actions;
  };
  /** Fire timers up to `until` as the daemon would. */
  const runUntil = (until: number): void => {
    for (let guard = 0; guard < 10_000 && c.deadline !== undefined && c.deadline <= until; guard++) step({ kind: 'timer' }, c.deadline);
  };
  return { step, runUntil, get c() { return c; }, sent, reasons };
}

test('nhs client: unanswered registrations back off 1, 2, 4 ... 64 s with fresh request IDs', () => {
  const d = driver();
  d.step({ kind: 'start' }, 0);
  assert.equal(d.c.state, 'expecting');
  assert.equal(nhsStatusLetter(d.c.state), 'E');
  d.runUntil(300_000);
  const gaps = d.sent.slice(1).map((s, i) => (s.at - d.sent[i].at) / 1000);
  assert.deepEqual(gaps.slice(0, 8), [1, 2, 4, 8, 16, 32, 64, 64]);
  assert.deepEqual(d.sent.map((s) => s.id), d.sent.map((_, i) => i + 1), 'a new request ID per send');
});

test('nhs client: a good reply makes it responding; refresh every holdtime/3', () => {
  const d = driver();
  d.step({ kind: 'start' }, 0);
  d.step({ kind: 'reply', requestId: 1, code: 0 }, 50);
  assert.equal(d.c.state, 'responding');
  assert.equal(nhsStatusLetter(d.c.state), 'R');
  assert.equal(d.c.deadline, 150_050);
  assert.equal(d.c.registeredUntil, 450_050);
  d.runUntil(150_050);
  assert.equal(d.sent.length, 2);
  d.step({ kind: 'reply', requestId: 2, code: 0 }, 150_100);
  assert.equal(d.c.deadline, 300_100);
  assert.deepEqual(d.reasons, ['started', 'registration accepted']);
});

test('nhs client: replies with unknown or stale request IDs change nothing', () => {
  const d = driver();
  d.step({ kind: 'start' }, 0);
  d.step({ kind: 'reply', requestId: 99, code: 0 }, 10);
  assert.equal(d.c.state, 'expecting');
});

test('nhs client: a rejection keeps probing and records the code', () => {
  const d = driver();
  d.step({ kind: 'start' }, 0);
  d.step({ kind: 'reply', requestId: 1, code: 14 }, 10);
  assert.equal(d.c.state, 'expecting');
  assert.equal(d.c.lastCode, 14);
  d.runUntil(1000);
  assert.equal(d.sent.length, 2);
});

test('nhs client: three unanswered refreshes take the NHS down, then probing resumes', () => {
  const d = driver();
  d.step({ kind: 'start' }, 0);
  d.step({ kind: 'reply', requestId: 1, code: 0 }, 0);
  d.runUntil(500_000);
  assert.equal(d.c.state, 'expecting');
  assert.ok(d.reasons.includes('no reply to 3 registrations') || d.reasons.includes('registration expired'), d.reasons.join(','));
});

test('nhs client: stop sends a purge only when registered', () => {
  const d = driver();
  d.step({ kind: 'start' }, 0);
  assert.deepEqual(d.step({ kind: 'stop' }, 5).map((a) => a.kind), []);
  d.step({ kind: 'start' }, 10);
  const id = d.sent[d.sent.length - 1].id;
  d.step({ kind: 'reply', requestId: id, code: 0 }, 20);
  assert.deepEqual(d.step({ kind: 'stop' }, 30).map((a) => a.kind), ['send-purge']);
  assert.equal(d.c.state, 'down');
  assert.equal(d.c.deadline, undefined);
});
