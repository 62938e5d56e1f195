/**
 * KernelEsp's recovery (daemon/kernel-esp.ts audit()) over the in-memory XFRM port: states and
 * policies removed under the daemon (`ip xfrm state flush`, `ip xfrm policy flush`, another
 * daemon taking a selector) are installed again with the same keys, reqid and selector, each
 * with a warning naming the SA (peer, SPI, direction) and a count; an outbound state resumes past
 * every sequence number it may have used; what we removed ourselves, what the kernel never took,
 * and what is still there are left alone; the audit runs by itself on its interval and stops at
 * close().
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { pino } from 'pino';
import { FakeXfrm } from '../../platform/fake/xfrm.js';
import { applyEspOps, espOp } from './kernel-esp-ops.js';
import type { EspSaKeys } from '../../platform/native/esp.js';
import type { XfrmPolicy, XfrmState } from '../../platform/ports.js';
import { GRE_TRANSPORT_PRIORITY, KernelEsp, REINSTALL_SEQ_GAP, ReqidPool, SEQ_RATE_BOUND } from '../../daemon/kernel-esp.js';

const LOCAL = '203.0.113.1';
const P1 = '203.0.113.11';
const P2 = '203.0.113.12';
const k = (n: number, from = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);
const GCM: EspSaKeys = { cipher: 'aes-gcm-256', key: k(36) };
const CBC: EspSaKeys = { cipher: 'aes-cbc-128', key: k(16, 0x20), integrity: 'hmac-sha1-96', authKey: k(20, 0x40) };

interface Line { level: number; msg: string; peer?: string; spi?: string; direction?: string; seq?: number }

/** A KernelEsp on a fake kernel, with a hand-driven clock, its warnings captured, no timer. */
function setup(fakeOptions = {}) {
  const xfrm = new FakeXfrm(fakeOptions);
  const lines: Line[] = [];
  const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l) as Line) });
  const clock = { t: 1_000_000 };
  const esp = new KernelEsp(xfrm, LOCAL, log, { reqids: new ReqidPool(), auditIntervalMs: 0, now: () => clock.t });
  return { xfrm, esp, lines, clock };
}

/** What `ip xfrm state flush` does to the SAD (the fake has no flush: delete each). */
async function flushStates(xfrm: FakeXfrm, which: (s: XfrmState) => boolean = () => true): Promise<XfrmState[]> {
  const gone = (await xfrm.states()).filter(which);
  for (const s of gone) await xfrm.deleteState({ dst: s.dst, spi: s.spi, proto: s.proto });
  return gone;
}

async function flushPolicies(xfrm: FakeXfrm, which: (p: XfrmPolicy) => boolean = () => true): Promise<XfrmPolicy[]> {
  const gone = (await xfrm.policies()).filter(which);
  for (const p of gone) await xfrm.deletePolicy({ dir: p.dir, selector: p.selector });
  return gone;
}

/** A state as compared before and after: everything but the counters and the sequence numbers. */
const shape = (s: XfrmState) => ({ ...s, oseq: 0, seq: 0, bytes: 0, packets: 0 });
const byKey = (l: XfrmState[]) => new Map(l.map((s) => [`${s.dst}/${s.spi}`, s]));

test('kernel esp recovery: flushed states come back with their keys, reqid and selector, each logged by peer, SPI and direction, and counted', async () => {
  const { xfrm, esp, lines } = setup();
  esp.setProtected(P1, true);
  esp.setOutboundSa(P1, { spi: 0x2001, ...CBC });
  esp.setInboundSa(0x1001, CBC, P1);
  esp.setOutboundSa(P2, { spi: 0x3001, ...GCM });
  esp.setInboundSa(0x1002, GCM, P2);
  await esp.settled();
  const before = byKey(await xfrm.states());
  assert.deepEqual(await esp.audit(), { states: 0, policies: 0 }, 'nothing missing: nothing to do');
  assert.equal(lines.length, 0);

  await flushStates(xfrm);
  const mark = xfrm.calls.length;
  assert.deepEqual(await esp.audit(), { states: 4, policies: 0 });
  const after = byKey(await xfrm.states());
  assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort(), 'the same SAs, by destination and SPI');
  for (const [key, s] of after) assert.deepEqual(shape(s), shape(before.get(key)!), `${key}: the same keys, reqid, selector, mode, window`);
  assert.deepEqual(xfrm.calls.slice(mark).map((c) => c.op), ['addState', 'addState', 'addState', 'addState'], 'adds only: the policies were still there');
  assert.deepEqual(esp.counters(), { failures: 0, statesReinstalled: 4, policiesReinstalled: 0 });
  const warned = lines.filter((l) => l.level === 40).map((l) => [l.peer, l.spi, l.direction]).sort();
  assert.deepEqual(warned, [[P1, '0x1001', 'inbound'], [P1, '0x2001', 'outbound'], [P2, '0x1002', 'inbound'], [P2, '0x3001', 'outbound']]);
  assert.match(lines.find((l) => l.spi === '0x2001')!.msg, /^xfrm state 203\.0\.113\.1->203\.0\.113\.11 spi 0x2001 \(outbound, peer 203\.0\.113\.11\) vanished from the kernel: re-installed$/);
  assert.deepEqual(await esp.audit(), { states: 0, policies: 0 }, 'once back, they stay back');
  assert.equal(esp.counters().statesReinstalled, 4);

  // Only some gone (`ip xfrm state delete` of one SA): only that one comes back.
  await flushStates(xfrm, (s) => s.spi === 0x1002);
  assert.deepEqual(await esp.audit(), { states: 1, policies: 0 });
  assert.equal(lines.at(-1)!.spi, '0x1002');
});

test('kernel esp recovery: a re-installed outbound state resumes past every sequence number it may have used', async () => {
  const { xfrm, esp, clock, lines } = setup();
  esp.setOutboundSa(P1, { spi: 0x2001, ...GCM, seq: 41 });
  await esp.settled();
  // Read once by an audit 2 s later (the fake moves no packets: oseq stays 41), flushed, found 3 s after that.
  clock.t += 2000;
  await esp.audit();
  await flushStates(xfrm);
  clock.t += 3000;
  await esp.audit();
  const seq = 41 + REINSTALL_SEQ_GAP + 3 * SEQ_RATE_BOUND;
  assert.equal((await xfrm.states())[0].oseq, seq, 'the last sequence number read, the gap, and 3 s at the rate bound');
  assert.equal(lines.at(-1)!.seq, seq, 'the warning says where it resumed');
  // Flushed again at once: it resumes from there, not from 41.
  await flushStates(xfrm);
  await esp.audit();
  assert.equal((await xfrm.states())[0].oseq, seq + REINSTALL_SEQ_GAP);
  // Without ESN the counter stops at 2^32 - 1 (the kernel then refuses to send on it until a rekey).
  esp.setOutboundSa(P2, { spi: 0x3001, ...CBC, seq: 0xffff_0000 });
  await esp.settled();
  await flushStates(xfrm, (s) => s.spi === 0x3001);
  await esp.audit();
  assert.equal((await xfrm.states()).find((s) => s.spi === 0x3001)!.oseq, 0xffff_ffff);
  // With ESN it goes on past 2^32.
  esp.setOutboundSa(P2, { spi: 0x3002, ...CBC, esn: true, seq: 0xffff_0000 });
  await esp.settled();
  await flushStates(xfrm, (s) => s.spi === 0x3002);
  await esp.audit();
  assert.equal((await xfrm.states()).find((s) => s.spi === 0x3002)!.oseq, 0xffff_0000 + REINSTALL_SEQ_GAP);
  // An inbound state needs no skip: its replay window starts afresh.
  esp.setInboundSa(0x1001, GCM, P1);
  await esp.settled();
  await flushStates(xfrm, (s) => s.spi === 0x1001);
  await esp.audit();
  assert.equal((await xfrm.states()).find((s) => s.spi === 0x1001)!.oseq, 0);
});

test('kernel esp recovery: flushed policies, or ours taken over by another reqid, come back; GRE is never left unprotected for long', async () => {
  const { xfrm, esp, lines } = setup();
  esp.setProtected(P1, true);
  esp.setOutboundSa(P2, { spi: 0x3001, ...GCM });
  await esp.settled();
  const before = (await xfrm.policies()).map((p) => ({ ...p, index: 0 }));
  await flushPolicies(xfrm, (p) => p.selector.dst === P1 || p.selector.src === P1);
  // Someone replaces our outbound policy to P2 with one that requires their own reqid.
  await xfrm.addPolicy({ dir: 'out', selector: { src: LOCAL, srcPrefix: 32, dst: P2, dstPrefix: 32, proto: 47 }, priority: GRE_TRANSPORT_PRIORITY,
    templates: [{ src: LOCAL, dst: P2, reqid: 7, mode: 'transport' }] }, { replace: true });
  assert.deepEqual(await esp.audit(), { states: 0, policies: 3 });
  const key = (p: XfrmPolicy) => `${p.dir} ${p.selector.src}>${p.selector.dst}`;
  assert.deepEqual((await xfrm.policies()).map((p) => ({ ...p, index: 0 })).sort((a, b) => key(a).localeCompare(key(b))),
    before.sort((a, b) => key(a).localeCompare(key(b))), 'the same policy pairs, with our reqids');
  assert.deepEqual(esp.counters(), { failures: 0, statesReinstalled: 0, policiesReinstalled: 3 });
  assert.deepEqual(lines.map((l) => [l.peer, l.direction]).sort(), [[P1, 'in'], [P1, 'out'], [P2, 'out']]);
  assert.match(lines.find((l) => l.peer === P1 && l.direction === 'out')!.msg, /^xfrm policy out GRE 203\.0\.113\.1->203\.0\.113\.11 \(peer 203\.0\.113\.11\) vanished from the kernel: re-installed$/);
});

test('kernel esp recovery: what we removed ourselves, what the kernel never took, and what is being installed are left alone', async () => {
  const { xfrm, esp } = setup();
  esp.setOutboundSa(P1, { spi: 0x2001, ...GCM });
  esp.setInboundSa(0x1001, GCM, P1);
  await esp.settled();
  esp.deleteInboundSa(0x1001);
  esp.deleteOutboundSa(P1);
  await esp.settled();
  assert.deepEqual(await esp.audit(), { states: 0, policies: 0 });
  assert.deepEqual([(await xfrm.states()).length, (await xfrm.policies()).length], [0, 0]);

  // An audit queued before an SA is set runs before the SA's add: the SA is not "missing" then.
  const audit = esp.audit();
  esp.setInboundSa(0x1002, GCM, P2);
  assert.deepEqual(await audit, { states: 0, policies: 0 });
  await esp.settled();
  assert.equal((await xfrm.states()).length, 1);

  // A rekey replaced the outbound SA: the old SPI is not brought back.
  esp.setOutboundSa(P2, { spi: 0x3001, ...GCM });
  esp.setOutboundSa(P2, { spi: 0x3002, ...GCM });
  await esp.settled();
  await flushStates(xfrm);
  assert.deepEqual(await esp.audit(), { states: 2, policies: 0 });
  assert.deepEqual((await xfrm.states()).map((s) => s.spi).sort((a, b) => a - b), [0x1002, 0x3002]);

  // A state the kernel refused (no esp4) is counted as a failure once, and not retried by every audit.
  const noEsp = setup({ esp: false });
  noEsp.esp.setOutboundSa(P1, { spi: 0x2001, ...GCM });
  await noEsp.esp.settled();
  assert.equal(noEsp.esp.counters().failures, 1);
  assert.deepEqual(await noEsp.esp.audit(), { states: 0, policies: 0 });
  assert.deepEqual(noEsp.esp.counters(), { failures: 1, statesReinstalled: 0, policiesReinstalled: 0 });
});

test('kernel esp recovery: the audit runs by itself on its interval, and stops at close()', async () => {
  const xfrm = new FakeXfrm();
  const log = pino({ level: 'silent' });
  const esp = new KernelEsp(xfrm, LOCAL, log, { reqids: new ReqidPool(), auditIntervalMs: 20 });
  esp.setOutboundSa(P1, { spi: 0x2001, ...GCM });
  esp.setInboundSa(0x1001, GCM, P1);
  await esp.settled();
  await flushStates(xfrm);
  await flushPolicies(xfrm);
  const end = Date.now() + 5000;
  while ((await xfrm.states()).length < 2 || (await xfrm.policies()).length < 2) {
    assert.ok(Date.now() < end, 'the periodic audit re-installed everything within 5 s');
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.deepEqual(esp.counters(), { failures: 0, statesReinstalled: 2, policiesReinstalled: 2 });
  await esp.close();
  assert.deepEqual([(await xfrm.states()).length, (await xfrm.policies()).length], [0, 0]);
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual([(await xfrm.states()).length, (await xfrm.policies()).length], [0, 0], 'no audit after close() brings anything back');
  assert.deepEqual(await esp.audit(), { states: 0, policies: 0 });
});

test('kernel esp recovery: after any calls and any removal under it, one audit restores exactly what was installed', async () => {
  const peers = [P1, P2, '203.0.113.13'];
  const op = espOp(peers);
  await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 25 }), fc.array(fc.boolean(), { minLength: 32, maxLength: 32 }), async (ops, remove) => {
    const { xfrm, esp } = setup();
    applyEspOps(esp, ops, GCM, CBC);
    await esp.settled();
    const states = (await xfrm.states()).map(shape);
    const policies = (await xfrm.policies()).map((p) => ({ ...p, index: 0 }));
    let i = 0;
    const gone = (await flushStates(xfrm, () => remove[i++ % 32])).length;
    const gonePolicies = (await flushPolicies(xfrm, () => remove[i++ % 32])).length;
    assert.deepEqual(await esp.audit(), { states: gone, policies: gonePolicies });
    const sort = <T>(l: T[]): T[] => l.map((x) => [JSON.stringify(x, (_, v: unknown) => (v instanceof Uint8Array ? [...v] : v)), x] as const).sort((a, b) => a[0].localeCompare(b[0])).map((x) => x[1]);
    assert.deepEqual(sort((await xfrm.states()).map(shape)), sort(states));
    assert.deepEqual(sort((await xfrm.policies()).map((p) => ({ ...p, index: 0 }))), sort(policies));
    assert.deepEqual(esp.counters(), { failures: 0, statesReinstalled: gone, policiesReinstalled: gonePolicies });
    await esp.close();
  }), { numRuns: 150 });
});
