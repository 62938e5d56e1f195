/**
 * The reference lab on the kernel dataplane, inside the VM (Debian's kernel has ip_gre and esp4),
 * run with DMVPN_LAB_DATAPLANE=kernel: the same lab tests as on the userspace dataplane, with the
 * same expected outputs, plus their kernel-only checks of what the daemon programmed.
 * - test/lab/lab.test.ts: EIGRP and Phase 3; `ip -d link` (a multipoint ip_gre device) and
 *   `ip neigh` (NHRP's mappings as PERMANENT neighbours).
 * - test/lab/lab-ipsec.test.ts: the same with tunnel protection (IKEv2, transport-mode ESP):
 *   `ip xfrm state` holds exactly the SPIs `show crypto ipsec sa` reports, with the negotiated
 *   transform, `ip xfrm policy` the GRE policy pair per peer, the kernel's ESP counters move with
 *   the pings, tshark decrypts the kernel's ESP with the exported keys, and after
 *   `ip xfrm state flush` on the hub the daemon re-installs its states and counts them.
 * - test/lab/lab-natt.test.ts: a spoke behind a NAT; IKE floats to 4500, where the daemon holds a
 *   UDP_ENCAP socket, and its SAs become xfrm states with UDP encapsulation: only UDP crosses the NAT.
 * - test/lab/lab-phase2.test.ts: Phase 2, routes via the other spoke: the device has ARP on with
 *   application probes only, the kernel asks the daemon for the next hop (RTM_GETNEIGH), NHRP
 *   resolves it and its mapping becomes the neighbour entry; then spoke to spoke.
 * Each runs in its own VM boot, so that one failing does not hide the other.
 */
import { needsVm } from './vm-opts.js';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const RUN = fileURLToPath(new URL('../../scripts/vm/run.js', import.meta.url));
const ROOT = resolve(dirname(RUN), '..', '..', '..');

function vmOpts(): { skip?: string } {
  return needsVm('tshark', 'traceroute', 'nft', 'tcpdump');
}

/** One lab test file in one VM boot on the kernel dataplane; its TAP comments become diagnostics. */
function labInVm(t: TestContext, file: string): void {
  const r = spawnSync(process.execPath, [RUN, '--timing', '--cpus', '2', '--mem', '2048', '--timeout', '1700', '--',
    process.execPath, '--test', '--test-concurrency=1', join(ROOT, 'dist', 'test', 'lab', file)], {
    cwd: ROOT, encoding: 'utf8', timeout: 1_790_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, DMVPN_LAB_DATAPLANE: 'kernel' },
  });
  for (const line of r.stdout.split('\n')) if (/^\s*# /.test(line) && !/^\s*# \d\d:\d\d/.test(line)) t.diagnostic(line.trim().slice(2));
  const timing = r.stderr.split('\n').find((l) => l.startsWith('vm: kernel '));
  t.diagnostic(timing ?? 'vm: no timing line');
  assert.equal(r.status, 0, `${file} failed inside the VM:\n${r.stdout.slice(-6000)}\n${r.stderr.slice(-2000)}`);
  assert.match(r.stdout, /^# pass 1$/m);
  assert.match(r.stdout, /^# fail 0$/m);
}

test('kernel dataplane: the reference lab with EIGRP and Phase 3, inside the VM', { ...vmOpts(), timeout: 1_800_000 }, (t) => labInVm(t, 'lab.test.js'));

test('kernel dataplane: the reference lab with IPsec (xfrm states and policies, ESP counters, tshark decryption, SA recovery), inside the VM',
  { ...vmOpts(), timeout: 1_800_000 }, (t) => labInVm(t, 'lab-ipsec.test.js'));

test('kernel dataplane: the NAT lab (a spoke behind a NAT: IKE on a UDP_ENCAP 4500 socket, xfrm states with UDP encapsulation), inside the VM',
  { ...vmOpts(), timeout: 1_800_000 }, (t) => labInVm(t, 'lab-natt.test.js'));

test('kernel dataplane: Phase 2 (a route via another spoke: the kernel asks, NHRP resolves, then spoke to spoke), inside the VM',
  { ...vmOpts(), timeout: 1_800_000 }, (t) => labInVm(t, 'lab-phase2.test.js'));
