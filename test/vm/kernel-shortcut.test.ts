/**
 * Shortcut refresh on the kernel dataplane, inside the VM (Debian's kernel has ip_gre): the
 * short-holdtime lab test (test/lab/lab-holdtime.test.ts) run with DMVPN_LAB_DATAPLANE=kernel.
 * The kernel keeps no transmit use on the PERMANENT neighbours NHRP's mappings are; the usage
 * signal is the daemon's nftables set counted per route next hop (platform/linux/nftables.ts),
 * so this proves a busy shortcut is refreshed past its holding time and an idle one expires.
 */
import { needsVm } from './vm-opts.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const RUN = fileURLToPath(new URL('../../scripts/vm/run.js', import.meta.url));
const ROOT = resolve(dirname(RUN), '..', '..', '..');

function vmOpts(): { skip?: string } {
  return needsVm('ping', 'nft');
}

test('kernel dataplane: a busy shortcut is refreshed past its holding time, an idle one expires (VM)', { ...vmOpts(), timeout: 1_800_000 }, (t) => {
  const file = join(ROOT, 'dist', 'test', 'lab', 'lab-holdtime.test.js');
  const r = spawnSync(process.execPath, [RUN, '--timing', '--cpus', '2', '--mem', '2048', '--timeout', '1700', '--',
    process.execPath, '--test', '--test-concurrency=1', file], {
    cwd: ROOT, encoding: 'utf8', timeout: 1_790_000, env: { ...process.env, DMVPN_LAB_DATAPLANE: 'kernel' },
  });
  for (const line of r.stdout.split('\n')) if (/^\s*# /.test(line) && !/^\s*# \d\d:\d\d/.test(line)) t.diagnostic(line.trim().slice(2));
  const timing = r.stderr.split('\n').find((l) => l.startsWith('vm: kernel '));
  t.diagnostic(timing ?? 'vm: no timing line');
  assert.equal(r.status, 0, `the holdtime lab test failed inside the VM:\n${r.stdout.slice(-6000)}\n${r.stderr.slice(-3000)}`);
  assert.match(r.stdout, /^# pass 1$/m);
  assert.match(r.stdout, /^# fail 0$/m);
  assert.match(r.stdout, /spoke2 \(kernel dataplane\) sent \d+ packets to 10\.0\.0\.11/, 'it ran on the kernel dataplane');
});
