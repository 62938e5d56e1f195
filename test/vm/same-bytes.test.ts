/**
 * Both dataplanes put the same bytes on the wire: scripts/vm/same-bytes.ts runs the same exchange
 * (hub and two spokes: registration, EIGRP adjacency, a ping from spoke2's LAN to spoke1's that
 * Phase 3 moves from the hub to the shortcut) once on the userspace and once on the kernel
 * dataplane, in one boot of the kernel VM, capturing GRE on the hub's and spoke2's underlay ports.
 * This file compares the captures (scripts/vm/wire-compare.ts): per class and flow, outer IPv4
 * header, GRE header and the whole GRE payload, byte for byte after the named masks (MASKS); and
 * Wireshark dissects every frame of both runs with no malformed mark or expert warning.
 * Without IPsec: ESP ciphertexts differ between any two runs by design (fresh keys and IVs).
 *
 * The VM reads the project over 9p while it runs, for minutes; a build running meanwhile (tsc
 * rewrites every file of dist/) would hand it half-written modules. So the VM runs a snapshot of
 * dist/ (with bin/, package.json and the native addon) taken when the files stopped changing.
 * Outside CI a missing VM kernel or tool skips it, like test/vm/vm.test.ts; in CI it fails.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { missingClasses, toRun, type SameBytesRun } from '../../scripts/vm/same-bytes.js';
import { compareRuns, renderReport } from '../../scripts/vm/wire-compare.js';
import { needsVm } from './vm-opts.js';
import { assertClean, tsharkCapture } from '../wireshark/support.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** Two runs of a few minutes each under TCG (a busy host doubles that), and the boot. */
const VM_TIMEOUT_S = 1700;

const opts = needsVm('timeout', 'tshark', 'tcpdump', 'nft');

function files(dir: string, acc: string[] = []): string[] {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) files(p, acc);
    else acc.push(p);
  }
  return acc;
}

/** A copy of what the VM runs, taken again until it matches the tree file for file (bounded). */
function snapshot(): string {
  const snap = mkdtempSync(join(tmpdir(), 'dmvpn-same-bytes-'));
  const addon = join(ROOT, 'platform', 'native', 'build', 'Release', 'dmvpn_native.node');
  for (let attempt = 1; ; attempt++) {
    rmSync(join(snap, 'dist'), { recursive: true, force: true });
    cpSync(join(ROOT, 'dist'), join(snap, 'dist'), { recursive: true });
    const differ = files(join(ROOT, 'dist')).filter((f) => {
      const c = join(snap, 'dist', relative(join(ROOT, 'dist'), f));
      return !existsSync(c) || !readFileSync(c).equals(readFileSync(f));
    });
    if (differ.length === 0) break;
    if (attempt >= 5) throw new Error(`dist/ kept changing while it was copied (${differ.length} files), e.g. ${differ[0]}`);
    spawnSync('sleep', ['3']);
  }
  cpSync(join(ROOT, 'bin'), join(snap, 'bin'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(snap, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(snap, 'node_modules'));
  mkdirSync(join(snap, 'platform', 'native', 'build', 'Release'), { recursive: true });
  cpSync(addon, join(snap, 'platform', 'native', 'build', 'Release', 'dmvpn_native.node'));
  return snap;
}

let runs: SameBytesRun[] = [];
let runError = '';
let snap = '';

before(() => {
  if (opts.skip !== undefined) return;
  snap = snapshot();
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(snap, 'dist', 'scripts', 'vm', 'run.js'), '--timing', '--cpus', '2', '--mem', '2048', '--timeout', String(VM_TIMEOUT_S), '--',
    process.execPath, join(snap, 'dist', 'scripts', 'vm', 'same-bytes.js'), '--json', '--dataplanes', 'userspace,kernel'], {
    cwd: snap, encoding: 'utf8', timeout: (VM_TIMEOUT_S + 60) * 1000, maxBuffer: 256 << 20,
  });
  const timing = (r.stderr ?? '').split('\n').find((l) => l.startsWith('vm: kernel '));
  process.stderr.write(`${timing ?? 'vm: no timing line'} (wall ${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('{"runs"'));
  if (line) {
    runs = (JSON.parse(line) as { runs: SameBytesRun[] }).runs;
    // Keep the captures for whoever reads a failure (the snapshot folder goes in after()).
    const keep = join(tmpdir(), `dmvpn-same-bytes-${process.pid}.json`);
    writeFileSync(keep, `${line}\n`);
    process.stderr.write(`same-bytes: the VM's report with both runs' captures: ${keep}\n`);
  }
  else runError = `no report from the VM (status ${r.status}):\n${(r.stdout ?? '').slice(-3000)}\n${(r.stderr ?? '').slice(-6000)}`;
  // The transcript (steps, each run's failure with the daemons' last words) for whoever reads a failure.
  if (r.status !== 0) process.stderr.write(`${(r.stderr ?? '').slice(-8000)}\n`);
});

after(() => {
  if (snap) rmSync(snap, { recursive: true, force: true });
});

function run(dataplane: 'userspace' | 'kernel'): SameBytesRun {
  assert.equal(runError, '', runError);
  const r = runs.find((x) => x.dataplane === dataplane);
  assert.ok(r, `no ${dataplane} run in the report`);
  return r;
}

test('same bytes: each dataplane ran the whole exchange (registration, EIGRP, Phase 3 ping) and captured it', opts, () => {
  for (const d of ['userspace', 'kernel'] as const) {
    const r = run(d);
    assert.equal(r.error, undefined, `${d}: ${r.error}`);
    assert.deepEqual(r.points.map((p) => p.point), ['hub', 'spoke2']);
    assert.deepEqual(missingClasses(toRun(d, r)), [], `${d}: classes missing from the captures`);
  }
});

test('same bytes: userspace and kernel dataplanes, identical on the wire after the named masks', opts, (t) => {
  const report = compareRuns(toRun('userspace', run('userspace')), toRun('kernel', run('kernel')));
  const text = renderReport(report);
  for (const l of text.split('\n')) t.diagnostic(l);
  assert.ok(report.groups.length > 0, 'nothing compared');
  assert.ok(report.ok, text);
});

test('same bytes: Wireshark dissects both captures cleanly', opts, () => {
  for (const d of ['userspace', 'kernel'] as const) {
    for (const p of run(d).points) {
      const frames = tsharkCapture(new Uint8Array(Buffer.from(p.pcap, 'base64')));
      assert.ok(frames.length > 20, `${d} ${p.point}: ${frames.length} frames`);
      frames.forEach((l, i) => assertClean(l, `${d} ${p.point} frame ${i + 1}`));
    }
  }
});
