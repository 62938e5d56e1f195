/**
 * LinuxXfrm and KernelEsp in the kernel VM, where esp4 exists (this machine has none). One boot:
 *
 * 1. The XFRM scenario (test/platform/linux/fixtures/xfrm-scenario.ts) through LinuxXfrm in a
 *    namespace: its transcript equals FakeXfrm's with ESP and every algorithm, and `ip -s xfrm
 *    policy` / `ip xfrm state` read the same policies and states (algorithms, keys, SPIs, reqids,
 *    ESN window, NAT-T ports, selectors, start sequence) as LinuxXfrm.
 * 2. The KernelEsp lifecycle (protect, SAs, rekey, delete, unprotect, close) over LinuxXfrm:
 *    every snapshot equals the same lifecycle over FakeXfrm.
 * 3. Packets: two namespaces with mGRE devices (key 42) over a veth. Clear GRE pings; once one
 *    side is protected without SAs the ping fails (dropped, not sent clear); with KernelEsp SAs
 *    on both sides it pings again for each transform (AES-GCM-128, AES-GCM-256 with ESN,
 *    AES-CBC with HMAC-SHA1-96, -SHA-256-128, -SHA-512-256), and the states' counters show the
 *    echo requests and replies went through ESP.
 */
import { needsVm } from './vm-opts.js';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FakeXfrm } from '../../platform/fake/xfrm.js';
import type { XfrmPolicy, XfrmState } from '../../platform/ports.js';
import { ipView, parseIpPolicies, parseIpStates } from '../platform/linux/fixtures/xfrm-ip.js';
import { installPhase, plain, teardownPhase, type Step } from '../platform/linux/fixtures/xfrm-scenario.js';
import { directionSpi, lifecycle, type Snapshot } from './xfrm-node.js';

const RUN = fileURLToPath(new URL('../../scripts/vm/run.js', import.meta.url));
const NODE_SCRIPT = fileURLToPath(new URL('./xfrm-node.js', import.meta.url));
const ROOT = resolve(dirname(RUN), '..', '..', '..');

function vmOpts(): { skip?: string } {
  return needsVm('timeout');
}

const TRANSFORMS = ['aes-gcm-128', 'aes-gcm-256+esn', 'aes-cbc-128/hmac-sha1-96', 'aes-cbc-256/hmac-sha256-128', 'aes-cbc-256/hmac-sha512-256'];
const A = '198.51.100.1';
const B = '198.51.100.2';

// Namespaces live inside the VM only; their names still carry this test's prefix (xv). printf, not
// echo: dash's echo would turn the JSON's \n escapes into newlines.
const script = (node: string): string => `set -eu
N=${node}
X=${NODE_SCRIPT}
ip netns add xvs
printf 'SCENARIO %s\n' "$(ip netns exec xvs $N $X scenario)"
ip netns add xva; ip netns add xvb
ip link add va type veth peer name vb
ip link set va netns xva; ip link set vb netns xvb
for n in a b; do ip -n xv$n link set lo up; done
ip -n xva addr add ${A}/24 dev va; ip -n xva link set va up
ip -n xvb addr add ${B}/24 dev vb; ip -n xvb link set vb up
ip -n xva link add gre1 type gre key 42 ttl 64 local ${A}
ip -n xvb link add gre1 type gre key 42 ttl 64 local ${B}
ip -n xva addr add 10.0.0.1/24 dev gre1; ip -n xva link set gre1 up
ip -n xvb addr add 10.0.0.2/24 dev gre1; ip -n xvb link set gre1 up
ip -n xva neigh add 10.0.0.2 lladdr ${B} dev gre1
ip -n xvb neigh add 10.0.0.1 lladdr ${A} dev gre1
D=$(mktemp -d)
ip netns exec xvb $N $X peer b ${B} ${A} $D ${TRANSFORMS.join(' ')} > $D/b.json &
printf 'PEER_A %s\n' "$(ip netns exec xva $N $X peer a ${A} ${B} $D ${TRANSFORMS.join(' ')})"
wait $!
printf 'PEER_B %s\n' "$(cat $D/b.json)"
`;

function tagged(out: string, tag: string): unknown {
  const line = out.split('\n').find((l) => l.startsWith(`${tag} `));
  assert.ok(line, `no ${tag} line in\n${out}`);
  return JSON.parse(line.slice(tag.length + 1));
}

interface Scenario {
  install: Step[];
  list: { policies: XfrmPolicy[]; states: XfrmState[] };
  ipPolicy: string;
  ipState: string;
  teardown: Step[];
  lifecycle: Snapshot[];
}
interface Round {
  transform: string;
  failures: number;
  error?: string;
  ping?: boolean;
  states?: XfrmState[];
  flush: { states: number; policies: number };
}
interface PeerRun {
  clear?: boolean;
  protectFailures?: number;
  protectedPing?: boolean;
  protectFlush?: { states: number; policies: number };
  rounds: Round[];
}

test('vm: LinuxXfrm and KernelEsp with esp4: scenario, ip readback, lifecycle, GRE over ESP', { ...vmOpts(), timeout: 600_000 }, async (t: TestContext) => {
  const tmp = mkdtempSync(join(tmpdir(), 'vm-xfrm-'));
  let out: string;
  try {
    const file = join(tmp, 'xfrm.sh');
    writeFileSync(file, script(process.execPath));
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [RUN, '--timing', '--timeout', '500', '--modules', 'ip_gre,veth', '--', 'sh', file], {
      cwd: ROOT, encoding: 'utf8', timeout: 560_000, env: { ...process.env, TMPDIR: tmp },
    });
    t.diagnostic(`${r.stderr.split('\n').find((l) => l.startsWith('vm: kernel ')) ?? 'vm: no timing line'} (wall ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    out = r.stdout;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const sc = tagged(out, 'SCENARIO') as Scenario;

  // 1. The scenario: the kernel with esp4 and the fake with ESP agree step by step.
  const fake = new FakeXfrm();
  assert.deepEqual(sc.install, plain(await installPhase(fake)));
  for (const s of ['add outbound state', 'add inbound state', 'add foreign state']) assert.equal(sc.install.find((x) => x.step === s)?.outcome, 'ok', s);
  const dup = sc.install.find((x) => x.step === 'add outbound state again')?.outcome;
  assert.ok(dup !== undefined && dup !== 'ok');
  assert.equal(dup.message, 'adding xfrm state 203.0.113.1->203.0.113.11 spi 0xc0ffee esp: File exists (EEXIST)');
  assert.deepEqual(sc.teardown, plain(await teardownPhase(fake)));
  assert.deepEqual(sc.teardown.find((x) => x.step === 'flush ours')?.value, { states: 2, policies: 2 });
  assert.deepEqual(sc.teardown.find((x) => x.step === 'delete a missing state')?.outcome, {
    code: 'netlink', errno: 3, errnoCode: 'ESRCH', syscall: 'XFRM_MSG_DELSA', message: 'deleting xfrm state 203.0.113.11->203.0.113.1 spi 0xdead esp: No such process (ESRCH)',
  });

  // ... and iproute2 reads what LinuxXfrm read: algorithms, keys, SPIs, reqids, window, encap, selectors.
  const byIndex = (a: { index: number }, b: { index: number }) => a.index - b.index;
  assert.deepEqual(plain(parseIpPolicies(sc.ipPolicy).sort(byIndex)), [...sc.list.policies].sort(byIndex));
  const ipStates = parseIpStates(sc.ipState);
  assert.equal(ipStates.length, 3);
  const bySpi = (a: { spi: number }, b: { spi: number }) => a.spi - b.spi;
  assert.deepEqual(plain(ipStates.sort(bySpi)), plain(sc.list.states.map(ipView).sort(bySpi)));
  assert.match(sc.ipState, /aead rfc4106\(gcm\(aes\)\) 0x808182[0-9a-f]{66} 128/, 'AES-256-GCM key with its salt, 128-bit ICV');
  assert.match(sc.ipState, /encap type espinudp sport 4501 dport 4500 addr 0\.0\.0\.0/);
  assert.match(sc.ipState, /replay-window 0 flag esn/);
  assert.match(sc.ipState, /replay_window 1024, bitmap-length 32/);
  assert.match(sc.ipState, /auth-trunc hmac\(sha512\) 0x0102[0-9a-f]{124} 256/);
  assert.match(sc.ipState, /anti-replay context: seq 0x0, oseq 0x63/, 'the foreign state starts sending after sequence 99');
  assert.match(sc.ipPolicy, /dir out action allow index \d+ priority 366975 ptype main/);

  // 2. KernelEsp's lifecycle: the kernel's SAD and SPD equal the fake's at every step.
  assert.deepEqual(sc.lifecycle, plain(await lifecycle(new FakeXfrm())));
  assert.deepEqual(sc.lifecycle.map((s) => [s.step, s.policies.length, s.states.length, s.failures]), [
    ['protected', 2, 0, 0], ['SAs up', 2, 2, 0], ['rekeyed', 2, 2, 0], ['SAs down, still protected', 2, 0, 0],
    ['unprotected', 0, 0, 0], ['up again', 2, 2, 0], ['closed', 0, 0, 0],
  ]);

  // 3. Packets.
  const a = tagged(out, 'PEER_A') as PeerRun;
  const b = tagged(out, 'PEER_B') as PeerRun;
  assert.equal(a.clear, true, 'GRE in the clear before any protection');
  assert.equal(a.protectFailures, 0);
  assert.equal(a.protectedPing, false, 'protected without an SA: dropped, never sent clear');
  assert.deepEqual(a.protectFlush, { states: 0, policies: 2 });
  assert.deepEqual(a.rounds.map((r) => r.transform), TRANSFORMS);
  for (const [i, tr] of TRANSFORMS.entries()) {
    const [ra, rb] = [a.rounds[i], b.rounds[i]];
    assert.equal(ra.failures, 0, `a ${tr}: ${ra.error}`);
    assert.equal(rb.failures, 0, `b ${tr}: ${rb.error}`);
    assert.equal(ra.ping, true, `ping over GRE/ESP with ${tr}`);
    const outSa = ra.states!.find((s) => s.spi === directionSpi(A, B))!;
    const inSa = ra.states!.find((s) => s.spi === directionSpi(B, A))!;
    assert.ok(outSa.packets >= 3 && inSa.packets >= 3, `${tr}: ${outSa.packets} packets out, ${inSa.packets} in through ESP`);
    assert.equal(inSa.integrityFailures + inSa.replayDrops, 0);
    assert.equal(outSa.esn, tr.endsWith('+esn'));
    assert.deepEqual([ra.flush, rb.flush], [{ states: 2, policies: 2 }, { states: 2, policies: 2 }]);
  }
});
