/**
 * The Linux XFRM layer against this machine's kernel. Without root: error conversion and the
 * closed port. As root, inside a network namespace made and removed here: the shared scenario
 * (fixtures/xfrm-scenario.ts) through LinuxXfrm must give the same transcript as FakeXfrm, what
 * LinuxXfrm reads must be what `ip -s xfrm policy` / `ip xfrm state` read, and the policies must
 * work natively. This kernel has XFRM netlink but no esp4 (and no gcm): states are refused with
 * EPROTONOSUPPORT (or ENOSYS for a missing algorithm), which the port turns into code
 * 'unsupported'; the VM test (test/vm/xfrm.test.ts) runs the same scenario where states work.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Errno, PlatformError } from '../../../platform/errors.js';
import { FAKE_XFRM_ALGORITHMS, FakeXfrm } from '../../../platform/fake/xfrm.js';
import { LinuxXfrm, xfrmError, xfrmRequestFailure } from '../../../platform/linux/xfrm.js';
import { XfrmMsg } from '../../../platform/linux/xfrm-codec.js';
import { ENOSYS } from '../../../platform/xfrm-values.js';
import type { XfrmPolicy, XfrmState } from '../../../platform/ports.js';
import { isRoot, needsTool } from '../../support/tools.js';
import { ipView, parseIpPolicies, parseIpStates } from './fixtures/xfrm-ip.js';
import { installPhase, OUT_POLICY, plain, teardownPhase, type Step } from './fixtures/xfrm-scenario.js';

const RUN = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'xfrm-run.js');
const asRoot = isRoot() ? needsTool('ip') : { skip: 'needs root (creates a network namespace)' };

// ---- without the kernel ----

test('xfrm: kernel errno and socket failures become PlatformErrors naming the object', () => {
  const e = xfrmError(Errno.ESRCH, XfrmMsg.DELSA, 'deleting xfrm state 203.0.113.11->203.0.113.1 spi 0xc0ffee esp');
  assert.equal(e.message, 'deleting xfrm state 203.0.113.11->203.0.113.1 spi 0xc0ffee esp: No such process (ESRCH)');
  assert.deepEqual([e.code, e.errno, e.errnoCode, e.syscall], ['netlink', 3, 'ESRCH', 'XFRM_MSG_DELSA']);
  const t = xfrmRequestFailure(new Error('Timeout has been reached'), XfrmMsg.GETSA, 'listing xfrm states', 5000);
  assert.deepEqual([t.code, t.errnoCode, t.syscall], ['timeout', 'ETIMEDOUT', 'XFRM_MSG_GETSA']);
  assert.equal(t.message, 'listing xfrm states: no answer from the kernel within 5000 ms (Connection timed out, ETIMEDOUT)');
  const s = xfrmRequestFailure(Object.assign(new Error('send failed'), { errno: -105, syscall: 'sendmsg' }), XfrmMsg.NEWSA, 'adding', 5000);
  assert.deepEqual([s.code, s.errno, s.syscall], ['socket', 105, 'sendmsg']);
});

test('xfrm: a closed port refuses with code socket; bad arguments never reach the kernel', async () => {
  const port = new LinuxXfrm({ timeoutMs: 2000 });
  // Validation runs before the request: these fail the same way with or without privileges.
  await assert.rejects(port.addPolicy({ ...OUT_POLICY, priority: -1 }), (e: PlatformError) => e.code === 'bad-argument' && /priority -1 is out of range/.test(e.message));
  await assert.rejects(port.deleteState({ dst: '203.0.113.1', spi: 0x1_0000_0000 }), (e: PlatformError) => e.code === 'bad-argument' && e.syscall === 'XFRM_MSG_DELSA');
  await assert.rejects(port.addState({ src: 'x', dst: '203.0.113.1', spi: 0x1000, reqid: 1, crypt: { name: 'cbc(aes)', key: new Uint8Array(16) } }),
    (e: PlatformError) => e.code === 'bad-argument' && /source "x" is not an IPv4 address/.test(e.message));
  port.close();
  port.close();
  await assert.rejects(port.policies(), (e: PlatformError) => e.code === 'socket' && e.errnoCode === 'EBADF' && e.operation === 'listing xfrm policies');
});

// ---- the kernel, in a namespace ----

function run(ns: string, phase: 'install' | 'list' | 'teardown' | 'pipeline'): unknown {
  const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, RUN, phase], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `xfrm-run ${phase}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

function ip(ns: string, ...args: string[]): string {
  const r = spawnSync('ip', ['-n', ns, ...args], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const outcome = (steps: Step[], name: string) => steps.find((s) => s.step === name)?.outcome;
const errnoOf = (steps: Step[], name: string): string | undefined => {
  const o = outcome(steps, name);
  return o === undefined || o === 'ok' ? undefined : o.errnoCode;
};

test('xfrm: the scenario on this kernel equals the fake\'s, and iproute2 reads what LinuxXfrm reads', { ...asRoot, timeout: 120_000 }, async () => {
  const ns = `xfrmt-${process.pid}`;
  spawnSync('ip', ['netns', 'del', ns]);
  assert.equal(spawnSync('ip', ['netns', 'add', ns]).status, 0);
  try {
    const install = run(ns, 'install') as Step[];
    // The policies work natively: no kernel refuses them for want of esp4.
    for (const s of ['add out policy', 'add in policy', 'add foreign policy', 'replace out policy']) assert.equal(outcome(install, s), 'ok', s);
    assert.equal(errnoOf(install, 'add out policy again, other priority'), 'EEXIST', 'a policy is keyed by direction and selector, not priority');
    assert.deepEqual(install.find((s) => s.step === 'replace keeps the index')?.value, true, 'XFRM_MSG_UPDPOLICY replaced in place');

    // States: what this kernel can do decides the fake's configuration; everything else must agree.
    const out = outcome(install, 'add outbound state');
    const esp = out === 'ok';
    const inbound = outcome(install, 'add inbound state');
    const gcm = inbound === 'ok' || inbound?.errno !== ENOSYS;
    if (!esp) {
      assert.ok(out !== undefined && out.code === 'unsupported' && out.errnoCode === 'EPROTONOSUPPORT', JSON.stringify(out));
      assert.match(out.message, /^adding xfrm state 203\.0\.113\.1->203\.0\.113\.11 spi 0xc0ffee esp: the kernel has no esp transform \(module esp4 missing\)/);
    } else {
      assert.equal(errnoOf(install, 'add outbound state again'), 'EEXIST');
    }
    const fake = new FakeXfrm({ esp, algorithms: FAKE_XFRM_ALGORITHMS.filter((a) => gcm || !a.startsWith('rfc4106')) });
    assert.deepEqual(install, plain(await installPhase(fake)), 'install: kernel and fake agree step by step');

    // iproute2 reads the same objects.
    const listed = run(ns, 'list') as { policies: XfrmPolicy[]; states: (XfrmState & { aead?: { key: string } })[] };
    const ipPolicies = parseIpPolicies(ip(ns, '-s', 'xfrm', 'policy'));
    assert.equal(ipPolicies.length, 3);
    const key = (p: { dir: string; index: number }) => `${p.dir}${p.index}`;
    assert.deepEqual(plain([...ipPolicies].sort((a, b) => key(a).localeCompare(key(b)))), [...listed.policies].sort((a, b) => key(a).localeCompare(key(b))));
    const ipStates = parseIpStates(ip(ns, 'xfrm', 'state'));
    assert.equal(ipStates.length, esp ? 3 : 0);
    const spiOrder = (a: { spi: number }, b: { spi: number }) => a.spi - b.spi;
    assert.deepEqual(plain(ipStates.sort(spiOrder)), plain(listed.states.map((s) => ipView(s as XfrmState)).sort(spiOrder)));

    const teardown = run(ns, 'teardown') as Step[];
    assert.equal(errnoOf(teardown, 'delete a missing state'), 'ESRCH');
    assert.equal(errnoOf(teardown, 'delete a missing policy'), 'ENOENT');
    assert.deepEqual(teardown.find((s) => s.step === 'flush ours')?.value, { states: esp ? 2 : 0, policies: 2 });
    assert.deepEqual(teardown.find((s) => s.step === 'concurrent requests are queued')?.value, ['added', 2, 'deleted', esp ? 1 : 0, 1]);
    assert.deepEqual(teardown, plain(await teardownPhase(fake)), 'teardown: kernel and fake agree step by step');
    assert.equal(ip(ns, 'xfrm', 'policy').trim(), '', 'nothing left');
    assert.equal(ip(ns, 'xfrm', 'state').trim(), '');
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
});

test('xfrm: policies added and deleted with every request in flight together keep their own outcomes', { ...asRoot, timeout: 120_000 }, () => {
  const ns = `xfrmp-${process.pid}`;
  spawnSync('ip', ['netns', 'del', ns]);
  assert.equal(spawnSync('ip', ['netns', 'add', ns]).status, 0);
  try {
    const t = run(ns, 'pipeline') as { adds: string[]; listed: number; deletes: string[]; left: number };
    assert.deepEqual(t.adds.slice(0, 40), Array(40).fill('ok'));
    assert.equal(t.adds[40], 'EEXIST: adding xfrm policy out 203.0.113.1/32->198.19.0.4/32 proto gre: File exists (EEXIST)', 'the duplicate fails alone, naming itself');
    assert.equal(t.listed, 40);
    assert.deepEqual(t.deletes.slice(0, 40), Array(40).fill('ok'));
    assert.match(t.deletes[40]!, /^ENOENT: deleting xfrm policy out 203\.0\.113\.1\/32->198\.19\.0\.41\/32 proto gre: /);
    assert.equal(t.left, 0);
    assert.equal(ip(ns, 'xfrm', 'policy').trim(), '');
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
});
