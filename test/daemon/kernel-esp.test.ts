/**
 * KernelEsp (daemon/kernel-esp.ts) over the in-memory XFRM port: the ESP transforms map to the
 * kernel's algorithms, a protected peer has its required-ESP policy pair before any SA, states
 * carry the GRE selector, reqid, replay window and NAT-T encapsulation, rekeys are make-before-
 * break, policies follow the rule "protected or any SA", failures are logged and never thrown at
 * the IKE engine, and close() / removeLeftoverEsp() remove ours only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { pino } from 'pino';
import { FakeXfrm } from '../../platform/fake/xfrm.js';
import { applyEspOps, espOp } from './kernel-esp-ops.js';
import { PlatformError } from '../../platform/errors.js';
import type { EspSaKeys } from '../../platform/native/esp.js';
import type { XfrmState } from '../../platform/ports.js';
import { isOwnedPolicy, isOwnedState } from '../../platform/xfrm-values.js';
import type { EspTarget } from '../../daemon/ipsec.js';
import {
  espAlgorithms,
  GRE_TRANSPORT_PRIORITY,
  INBOUND_REPLAY_WINDOW,
  KERNEL_ESP_OWNER,
  KERNEL_ESP_REQID_MIN,
  KernelEsp,
  removeLeftoverEsp,
  ReqidPool,
} from '../../daemon/kernel-esp.js';
import { silentLogger } from '../../daemon/log.js';

const LOCAL = '203.0.113.1';
const P1 = '203.0.113.11';
const P2 = '203.0.113.12';
const k = (n: number, from = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);
const GCM: EspSaKeys = { cipher: 'aes-gcm-256', key: k(36) };
const CBC: EspSaKeys = { cipher: 'aes-cbc-128', key: k(16, 0x20), integrity: 'hmac-sha256-128', authKey: k(32, 0x40) };

function setup(fakeOptions = {}) {
  const xfrm = new FakeXfrm(fakeOptions);
  const esp = new KernelEsp(xfrm, LOCAL, silentLogger(), { reqids: new ReqidPool() });
  return { xfrm, esp };
}

const gre = (src: string, dst: string) => ({ src, srcPrefix: 32, dst, dstPrefix: 32, proto: 47 });
const find = (states: XfrmState[], spi: number) => states.find((s) => s.spi === spi);

test('kernel esp: the dataplane\'s transforms map to the kernel\'s algorithms', () => {
  assert.deepEqual(espAlgorithms({ cipher: 'aes-gcm-128', key: k(20) }), { aead: { name: 'rfc4106(gcm(aes))', key: k(20), icvBits: 128 } });
  assert.deepEqual(espAlgorithms(GCM), { aead: { name: 'rfc4106(gcm(aes))', key: k(36), icvBits: 128 } }, 'key bits cover the salt: 288');
  assert.deepEqual(espAlgorithms({ cipher: 'aes-cbc-256', key: k(32), integrity: 'hmac-sha1-96', authKey: k(20) }), {
    crypt: { name: 'cbc(aes)', key: k(32) }, auth: { name: 'hmac(sha1)', key: k(20), truncBits: 96 },
  });
  assert.deepEqual(espAlgorithms(CBC).auth, { name: 'hmac(sha256)', key: k(32, 0x40), truncBits: 128 });
  // RFC 4868's longer HMACs, should the dataplane's type grow them.
  const wider = (integrity: string, n: number) => espAlgorithms({ ...CBC, integrity, authKey: k(n) } as unknown as EspSaKeys).auth;
  assert.deepEqual(wider('hmac-sha384-192', 48), { name: 'hmac(sha384)', key: k(48), truncBits: 192 });
  assert.deepEqual(wider('hmac-sha512-256', 64), { name: 'hmac(sha512)', key: k(64), truncBits: 256 });
  const bad = (sa: EspSaKeys, re: RegExp) => assert.throws(() => espAlgorithms(sa), (e: PlatformError) => e.code === 'bad-argument' && re.test(e.message));
  bad({ cipher: 'aes-gcm-128', key: k(16) }, /aes-gcm-128 takes a 20-byte key, 16 given/);
  bad({ ...GCM, integrity: 'hmac-sha1-96' }, /takes no separate integrity/);
  bad({ cipher: 'aes-cbc-128', key: k(16) }, /needs an integrity algorithm/);
  bad({ ...CBC, authKey: k(20) }, /hmac-sha256-128 takes a 32-byte key, 20 given/);
});

test('kernel esp: KernelEsp is the IPsec runtime\'s EspTarget', () => {
  const { esp } = setup();
  const target: EspTarget = esp;
  assert.equal(typeof target.setInboundSa, 'function');
});

test('kernel esp: a protected peer has its required-ESP policy pair before any SA', async () => {
  const { xfrm, esp } = setup();
  esp.setProtected(P1, true);
  await esp.settled();
  const reqid = esp.reqidOf(P1)!;
  assert.equal(reqid, KERNEL_ESP_REQID_MIN);
  const pols = await xfrm.policies();
  const byDir = (d: string) => pols.find((p) => p.dir === d)!;
  assert.equal(pols.length, 2);
  assert.deepEqual({ ...byDir('out'), index: 0 }, {
    dir: 'out', selector: gre(LOCAL, P1), priority: GRE_TRANSPORT_PRIORITY, action: 'allow', index: 0,
    templates: [{ src: LOCAL, dst: P1, proto: 50, spi: 0, reqid, mode: 'transport', optional: false }],
  });
  assert.deepEqual({ ...byDir('in'), index: 0 }, {
    dir: 'in', selector: gre(P1, LOCAL), priority: GRE_TRANSPORT_PRIORITY, action: 'allow', index: 0,
    templates: [{ src: P1, dst: LOCAL, proto: 50, spi: 0, reqid, mode: 'transport', optional: false }],
  });
  assert.ok(pols.every((p) => isOwnedPolicy(p, KERNEL_ESP_OWNER)));
  assert.deepEqual(await xfrm.states(), [], 'no SA yet: the kernel drops GRE to the peer instead of sending it clear');
  esp.setProtected(P1, true);
  await esp.settled();
  assert.equal(xfrm.calls.length, 2, 'protecting twice sends nothing more');
});

test('kernel esp: states carry the GRE selector, reqid, window, ESN, sequence and NAT-T ports', async () => {
  const { xfrm, esp } = setup();
  esp.setInboundSa(0x1001, { ...GCM, esn: true }, P1, { sport: 4501, dport: 4500 });
  esp.setOutboundSa(P1, { spi: 0x2001, ...CBC, seq: 41 }, { sport: 4500, dport: 4501 });
  await esp.settled();
  assert.equal(esp.failures, 0);
  const st = await xfrm.states();
  const reqid = esp.reqidOf(P1)!;
  assert.deepEqual(find(st, 0x1001), {
    src: P1, dst: LOCAL, spi: 0x1001, proto: 50, reqid, mode: 'transport', selector: gre(P1, LOCAL),
    aead: { name: 'rfc4106(gcm(aes))', key: k(36), icvBits: 128 }, esn: true, replayWindow: INBOUND_REPLAY_WINDOW,
    encap: { type: 2, sport: 4501, dport: 4500 }, flags: 128, bytes: 0, packets: 0, oseq: 0, seq: 0, replayDrops: 0, integrityFailures: 0,
  });
  const out = find(st, 0x2001)!;
  assert.deepEqual([out.src, out.dst, out.reqid, out.replayWindow, out.esn, out.oseq], [LOCAL, P1, reqid, 0, false, 41]);
  assert.deepEqual(out.selector, gre(LOCAL, P1));
  assert.deepEqual(out.crypt, { name: 'cbc(aes)', key: k(16, 0x20) });
  assert.deepEqual(out.encap, { type: 2, sport: 4500, dport: 4501 });
  assert.ok(st.every((s) => isOwnedState(s, KERNEL_ESP_OWNER)));
  assert.equal((await xfrm.policies()).length, 2, 'an SA brings its policies even without setProtected');
  assert.deepEqual(esp.peerList(), [{ nbma: P1, reqid, protected: false, policies: true, outSpi: 0x2001, inSpis: [0x1001] }]);
});

test('kernel esp: rekeys are make-before-break; the same SPI with new keys is replaced', async () => {
  const { xfrm, esp } = setup();
  esp.setOutboundSa(P1, { spi: 0x2001, ...GCM });
  esp.setInboundSa(0x1001, GCM, P1);
  await esp.settled();
  const mark = xfrm.calls.length;
  // What IpsecRuntime does on child-rekeyed, then child-down (rekeyed) for the old inbound SA.
  esp.setInboundSa(0x1002, GCM, P1);
  esp.setOutboundSa(P1, { spi: 0x2002, ...GCM });
  await esp.settled();
  assert.deepEqual((await xfrm.states()).map((s) => s.spi).sort(), [0x1001, 0x1002, 0x2002], 'both inbound SAs while the peer switches');
  assert.deepEqual(xfrm.calls.slice(mark).map((c) => c.op), ['addState', 'addState', 'deleteState'], 'new outbound before the old one goes');
  assert.ok(esp.deleteInboundSa(0x1001));
  assert.equal(esp.deleteInboundSa(0x1001), false, 'unknown SPI');
  esp.setOutboundSa(P1, { spi: 0x2002, ...GCM, key: k(36, 0x99) });
  await esp.settled();
  const st = await xfrm.states();
  assert.deepEqual(st.map((s) => s.spi).sort(), [0x1002, 0x2002]);
  assert.deepEqual(find(st, 0x2002)!.aead!.key, k(36, 0x99), 'XFRM_MSG_UPDSA would have kept the old keys');
  assert.equal(esp.reqidOf(P1), KERNEL_ESP_REQID_MIN, 'one reqid for the peer across rekeys');
  assert.equal(esp.failures, 0);
});

test('kernel esp: policies exist while the peer is protected or has an SA; reqids are per peer', async () => {
  const { xfrm, esp } = setup();
  esp.setProtected(P1, true);
  esp.setOutboundSa(P2, { spi: 0x3001, ...GCM });
  await esp.settled();
  const r1 = esp.reqidOf(P1)!;
  const r2 = esp.reqidOf(P2)!;
  assert.notEqual(r1, r2);
  assert.equal((await xfrm.policies()).length, 4);
  assert.ok(esp.deleteOutboundSa(P2));
  assert.equal(esp.deleteOutboundSa(P2), false);
  await esp.settled();
  assert.deepEqual((await xfrm.policies()).map((p) => p.templates[0].reqid), [r1, r1], 'P2 has no SA and is not protected: its policies went');
  assert.equal(esp.reqidOf(P2), undefined);
  esp.setOutboundSa(P1, { spi: 0x2001, ...GCM });
  esp.deleteOutboundSa(P1);
  await esp.settled();
  assert.equal((await xfrm.policies()).length, 2, 'P1 is still protected: GRE to it is dropped, not sent clear');
  esp.setProtected(P1, false);
  esp.setProtected('198.51.100.9', false);
  await esp.settled();
  assert.deepEqual(await xfrm.policies(), []);
  assert.deepEqual(esp.peerList(), []);
  esp.setProtected(P2, true);
  assert.equal(esp.reqidOf(P2), KERNEL_ESP_REQID_MIN, 'released reqids are reused');
});

test('kernel esp: kernel failures are logged and counted, never thrown; wrong keys are thrown at once', async () => {
  const lines: string[] = [];
  const log = pino({ level: 'error' }, { write: (l: string) => void lines.push(l) });
  const xfrm = new FakeXfrm({ esp: false });
  const esp = new KernelEsp(xfrm, LOCAL, log, { reqids: new ReqidPool() });
  esp.setOutboundSa(P1, { spi: 0xc0ffee, ...CBC });
  await esp.settled();
  assert.equal(esp.failures, 1);
  assert.ok(esp.lastError instanceof PlatformError && esp.lastError.code === 'unsupported');
  assert.match(lines.join(''), /adding xfrm state 203\.0\.113\.1->203\.0\.113\.11 spi 0xc0ffee esp: the kernel has no esp transform/);
  assert.equal((await xfrm.policies()).length, 2, 'the policies stand: without the state GRE is dropped, never clear');
  assert.throws(() => esp.setInboundSa(0x1001, { cipher: 'aes-gcm-128', key: k(3) }, P1), (e: PlatformError) => e.code === 'bad-argument');
  assert.throws(() => esp.setOutboundSa(P1, { spi: 7, ...GCM }), /SPI 7 is out of range/);
  assert.throws(() => esp.setOutboundSa(P2, { spi: 0x3000, ...GCM, key: k(5) }), /takes a 36-byte key/);
  assert.deepEqual(esp.peerList().map((p) => p.nbma), [P1], 'a peer met only through wrong keys is not kept');
});

test('kernel esp: leftovers with our SPI or selector are taken over; close() and removeLeftoverEsp() remove ours only', async () => {
  const { xfrm, esp } = setup();
  // A crashed run left an inbound state with the SPI we now get, and a policy with an old reqid.
  await xfrm.addState({ src: P1, dst: LOCAL, spi: 0x1001, reqid: KERNEL_ESP_REQID_MIN + 9, crypt: { name: 'cbc(aes)', key: k(16) } });
  await xfrm.addPolicy({ dir: 'out', selector: gre(LOCAL, P1), priority: GRE_TRANSPORT_PRIORITY, templates: [{ src: LOCAL, dst: P1, reqid: KERNEL_ESP_REQID_MIN + 9 }] });
  // Another IKE daemon's objects.
  await xfrm.addPolicy({ dir: 'out', selector: gre(LOCAL, P2), priority: 1000, templates: [{ src: LOCAL, dst: P2, reqid: 7 }] });
  await xfrm.addState({ src: LOCAL, dst: P2, spi: 0x5000, reqid: 7, aead: { name: 'rfc4106(gcm(aes))', key: k(20), icvBits: 128 } });
  esp.setInboundSa(0x1001, GCM, P1);
  esp.setOutboundSa(P1, { spi: 0x2001, ...GCM });
  await esp.settled();
  assert.equal(esp.failures, 0);
  const reqid = esp.reqidOf(P1)!;
  assert.equal(find(await xfrm.states(), 0x1001)!.reqid, reqid, 'the leftover state was replaced');
  assert.equal((await xfrm.policies()).find((p) => p.dir === 'out' && p.selector.dst === P1)!.templates[0].reqid, reqid, 'UPDPOLICY took the old policy over');
  await esp.close();
  assert.deepEqual((await xfrm.policies()).map((p) => p.templates[0].reqid), [7], 'only the other daemon\'s policy is left');
  assert.deepEqual((await xfrm.states()).map((s) => s.spi), [0x5000]);
  esp.setProtected(P1, true);
  assert.equal(esp.deleteOutboundSa(P1), false, 'a closed KernelEsp ignores calls');
  await esp.settled();
  assert.equal((await xfrm.policies()).length, 1);

  // A run that never closed: removeLeftoverEsp clears it at the next start.
  const crashed = new KernelEsp(xfrm, LOCAL, silentLogger(), { reqids: new ReqidPool() });
  crashed.setProtected(P1, true);
  crashed.setOutboundSa(P1, { spi: 0x2003, ...CBC });
  await crashed.settled();
  assert.deepEqual(await removeLeftoverEsp(xfrm), { states: 1, policies: 2 });
  assert.deepEqual((await xfrm.states()).map((s) => s.spi), [0x5000]);
  assert.equal((await xfrm.policies()).length, 1);
});

test('kernel esp: any sequence of calls leaves the kernel matching the bookkeeping', async () => {
  const peers = [P1, P2, '203.0.113.13'];
  const op = espOp(peers);
  await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 25 }), async (ops) => {
    const { xfrm, esp } = setup();
    applyEspOps(esp, ops, GCM, CBC);
    await esp.settled();
    assert.equal(esp.failures, 0);
    const want = esp.peerList();
    const states = await xfrm.states();
    const pols = await xfrm.policies();
    const expectStates = want.flatMap((p) => [
      ...(p.outSpi !== undefined ? [`${LOCAL}>${p.nbma}:${p.outSpi}:${p.reqid}`] : []),
      ...p.inSpis.map((s) => `${p.nbma}>${LOCAL}:${s}:${p.reqid}`),
    ]).sort();
    assert.deepEqual(states.map((s) => `${s.src}>${s.dst}:${s.spi}:${s.reqid}`).sort(), expectStates);
    assert.deepEqual(pols.map((p) => `${p.dir}:${p.selector.src}>${p.selector.dst}:${p.templates[0].reqid}`).sort(),
      want.flatMap((p) => [`in:${p.nbma}>${LOCAL}:${p.reqid}`, `out:${LOCAL}>${p.nbma}:${p.reqid}`]).sort());
    for (const p of want) assert.ok(p.protected || p.outSpi !== undefined || p.inSpis.length > 0, 'no idle peer is kept');
    await esp.close();
    assert.deepEqual([(await xfrm.states()).length, (await xfrm.policies()).length], [0, 0]);
  }), { numRuns: 200 });
});
