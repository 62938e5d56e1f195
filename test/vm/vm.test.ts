/**
 * The kernel VM runner end to end: Debian's distribution kernel boots under QEMU (TCG), runs
 * commands on this machine's root filesystem, and has what the kernel dataplane needs: an ip_gre
 * multipoint device, a ping over GRE between two network namespaces, transport-mode ESP states
 * (esp4 and xfrm_user, autoloaded). Exit statuses, output and the environment come back through;
 * the timeout kills the VM and leaves no QEMU behind. Each test prints its boot and total times.
 */
import { needsVm } from './vm-opts.js';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findKernel } from '../../scripts/vm/kernel.js';
import { DEFAULT_MODULES } from '../../scripts/vm/vm.js';

const RUN = fileURLToPath(new URL('../../scripts/vm/run.js', import.meta.url));
const ROOT = resolve(dirname(RUN), '..', '..', '..');

function vmOpts(): { skip?: string } {
  return needsVm('timeout');
}
const opts = vmOpts();

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly wallMs: number;
}

/** run.js with --timing under its own TMPDIR (so a leftover QEMU would be recognisable by its job folder). */
function vm(t: TestContext, tmp: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Run {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [RUN, '--timing', ...args], {
    cwd: ROOT, encoding: 'utf8', timeout: 300_000, env: { ...process.env, TMPDIR: tmp, ...env },
  });
  const wallMs = performance.now() - t0;
  const timing = r.stderr.split('\n').find((l) => l.startsWith('vm: kernel '));
  t.diagnostic(`${timing ?? 'vm: no timing line'} (wall ${(wallMs / 1000).toFixed(2)} s)`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, wallMs };
}

function withTmp<T>(f: (tmp: string) => T): T {
  const tmp = mkdtempSync(join(tmpdir(), 'vm-test-'));
  try {
    return f(tmp);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** QEMU processes whose command line mentions `dir` (their job folder lives under it). */
function qemuUnder(dir: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes('qemu-system') && cmd.includes(dir)) out.push(Number(pid));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

test('vm: the distribution kernel runs node from this machine; status, output, directory and environment come back', { ...opts, timeout: 300_000 }, (t) => {
  withTmp((tmp) => {
    const odd = `it's "odd" $HOME`;
    const r = vm(t, tmp, ['--', 'sh', '-c', [
      'uname -r',
      'node -e "console.log(process.version)"',
      'pwd',
      'printf "%s|%s\\n" "$VM_TEST_ODD" "$DMVPN_VM"',
      'cut -d" " -f1 /proc/modules | sort | tr "\\n" " "; echo',
      'echo to-stderr >&2',
      'exit 3',
    ].join('; ')], { VM_TEST_ODD: odd });
    assert.equal(r.status, 3, r.stderr);
    const [kernel, node, cwd, env, modules] = r.stdout.split('\n');
    assert.equal(kernel, findKernel().version);
    assert.notEqual(kernel, release(), 'not the host\'s kernel');
    assert.equal(node, process.version, 'the host\'s node binary');
    assert.equal(cwd, ROOT);
    assert.equal(env, `${odd}|1`);
    for (const m of [...DEFAULT_MODULES, '9p', 'overlay']) {
      assert.ok(modules.split(' ').includes(m), `${m} loaded by default (${modules})`);
    }
    assert.match(r.stderr, /^to-stderr$/m);
    assert.doesNotMatch(r.stdout, /to-stderr|Linux version|dmvpn-vm:/, 'stdout has the command\'s output only');
    assert.match(r.stderr, /^vm: kernel \S+, boot \d+\.\d\d s, command \d+\.\d\d s, total \d+\.\d\d s$/m);
  });
});

// Two namespaces joined by a veth pair (the underlay, 198.51.100.0/24), a GRE multipoint device in
// each (key 42, no remote) and NHRP-style neighbour entries mapping the peer's tunnel address to
// its NBMA address: the shape of the kernel dataplane. Then ESP transport-mode states.
const DATAPLANE = `set -eu
ip netns add vmt
ip -n vmt link add gre1 type gre key 42 ttl 64 local 203.0.113.1
ip -n vmt -d link show gre1
echo @@
ip netns add a
ip netns add b
ip link add va type veth peer name vb
ip link set va netns a
ip link set vb netns b
for n in a b; do ip -n $n link set lo up; done
ip -n a addr add 198.51.100.1/24 dev va; ip -n a link set va up
ip -n b addr add 198.51.100.2/24 dev vb; ip -n b link set vb up
ip -n a link add gre1 type gre key 42 ttl 64 local 198.51.100.1
ip -n b link add gre1 type gre key 42 ttl 64 local 198.51.100.2
ip -n a addr add 10.0.0.1/24 dev gre1; ip -n a link set gre1 up
ip -n b addr add 10.0.0.2/24 dev gre1; ip -n b link set gre1 up
ip -n a neigh add 10.0.0.2 lladdr 198.51.100.2 dev gre1
ip -n b neigh add 10.0.0.1 lladdr 198.51.100.1 dev gre1
ip netns exec a ping -c 2 -W 5 10.0.0.2
echo @@
ip xfrm state add src 198.51.100.1 dst 198.51.100.2 proto esp spi 0x1000 reqid 1 mode transport \\
  enc 'cbc(aes)' 0x000102030405060708090a0b0c0d0e0f auth-trunc 'hmac(sha256)' 0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f 128
ip xfrm state
echo @@
cut -d' ' -f1 /proc/modules | sort | tr '\\n' ' '
`;

test('vm: ip_gre multipoint device, a ping over GRE between namespaces, an ESP transport state', { ...opts, timeout: 300_000 }, (t) => {
  withTmp((tmp) => {
    // The script lives in this machine's /tmp: the VM sees it through the overlay.
    const script = join(tmp, 'dataplane.sh');
    writeFileSync(script, DATAPLANE);
    // Only ip_gre and veth up front: esp4 and xfrm_user must come from the kernel's autoloader.
    const r = vm(t, tmp, ['--modules', 'ip_gre,veth', '--', 'sh', script]);
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const [link, ping, xfrm, modules] = r.stdout.split('@@\n');
    assert.match(link, /gre1@NONE: <NOARP> mtu 1472/);
    assert.match(link, /link\/gre 203\.0\.113\.1 brd 0\.0\.0\.0/);
    assert.match(link, /gre remote any local 203\.0\.113\.1 ttl 64 ikey 0\.0\.0\.42 okey 0\.0\.0\.42/);
    assert.match(ping, /2 packets transmitted, 2 received, 0% packet loss/);
    assert.match(xfrm, /^src 198\.51\.100\.1 dst 198\.51\.100\.2\n\tproto esp spi 0x00001000 reqid 1 mode transport$/m);
    assert.match(xfrm, /auth-trunc hmac\(sha256\) 0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f 128/);
    assert.match(xfrm, /enc cbc\(aes\) 0x000102030405060708090a0b0c0d0e0f/);
    const loaded = modules.trim().split(' ');
    for (const m of ['ip_gre', 'veth', 'esp4', 'xfrm_user', 'xfrm_algo']) assert.ok(loaded.includes(m), `${m} loaded (${modules})`);
    assert.ok(!loaded.includes('bridge'), '--modules replaced the default list');
  });
});

test('vm: the timeout kills a hung command (124) and no QEMU is left', { ...opts, timeout: 300_000 }, (t) => {
  withTmp((tmp) => {
    const r = vm(t, tmp, ['--timeout', '20', '--', 'sleep', '1000']);
    assert.equal(r.status, 124, r.stderr);
    assert.match(r.stderr, /vm: timed out after 20 s; killed the VM \(console log: /);
    assert.ok(r.wallMs < 60_000, `returned ${(r.wallMs / 1000).toFixed(1)} s after start`);
    assert.deepEqual(qemuUnder(tmp), []);
  });
});

test('vm: an unknown module is refused before any boot (125)', { ...opts, timeout: 60_000 }, (t) => {
  withTmp((tmp) => {
    const r = vm(t, tmp, ['--modules', 'ip_gre,no_such_module', '--', 'true']);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /^vm: no kernel module named no_such_module$/m);
    assert.deepEqual(readdirSync(tmp), [], 'no job folder was made');
  });
});
