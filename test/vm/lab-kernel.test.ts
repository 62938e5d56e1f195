/**
 * The reference lab on the kernel dataplane, inside the VM (Debian's kernel has ip_gre): the same
 * lab test as on the userspace dataplane (test/lab/lab.test.ts, with the same expected outputs),
 * run with DMVPN_LAB_DATAPLANE=kernel, plus its kernel-only checks of what the daemon programmed
 * (ip -d link, ip neigh). The IPsec lab on the kernel dataplane does not fit a VM run yet.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kernelReady } from '../../scripts/vm/kernel.js';
import { needsTool } from '../support/tools.js';

const RUN = fileURLToPath(new URL('../../scripts/vm/run.js', import.meta.url));
const ROOT = resolve(dirname(RUN), '..', '..', '..');

function vmOpts(): { skip?: string } {
  const tools = needsTool('qemu-system-x86_64', 'tshark', 'traceroute', 'nft');
  if (tools.skip !== undefined) return tools;
  if (!kernelReady()) {
    if (process.env.CI === 'true') throw new Error('no VM kernel in CI: .ci/run must run scripts/vm/setup.sh');
    return { skip: 'needs the VM kernel (run scripts/vm/setup.sh as root)' };
  }
  return {};
}

test('kernel dataplane: the reference lab with EIGRP and Phase 3, inside the VM', { ...vmOpts(), timeout: 1_800_000 }, (t) => {
  const files = ['lab.test.js'].map((f) => join(ROOT, 'dist', 'test', 'lab', f));
  const r = spawnSync(process.execPath, [RUN, '--timing', '--cpus', '2', '--mem', '2048', '--timeout', '1700', '--',
    process.execPath, '--test', '--test-concurrency=1', ...files], {
    cwd: ROOT, encoding: 'utf8', timeout: 1_790_000, env: { ...process.env, DMVPN_LAB_DATAPLANE: 'kernel' },
  });
  for (const line of r.stdout.split('\n')) if (/^\s*# /.test(line) && !/^\s*# \d\d:\d\d/.test(line)) t.diagnostic(line.trim().slice(2));
  const timing = r.stderr.split('\n').find((l) => l.startsWith('vm: kernel '));
  t.diagnostic(timing ?? 'vm: no timing line');
  assert.equal(r.status, 0, `the lab tests failed inside the VM:\n${r.stdout.slice(-6000)}\n${r.stderr.slice(-2000)}`);
  assert.match(r.stdout, /^# pass 1$/m);
  assert.match(r.stdout, /^# fail 0$/m);
});
