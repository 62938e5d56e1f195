/**
 * The fuzz script, small: 2,000 mutated inputs per codec (seeded from the
 * vectors and the demo capture) crash nothing and whatever parses re-encodes
 * byte for byte; the mutations are deterministic per seed; and every saved
 * crasher in test/vectors/crashers replays cleanly now.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { TARGETS, loadSeeds, runFuzz, replay, mutate, Rng } from '../../scripts/fuzz.js';
import { projectRoot, haveVectors } from '../support/vectors.js';

const CRASHERS = join(projectRoot, 'test', 'vectors', 'crashers');

test('fuzz: 2,000 inputs per codec, no crash, every parsed input re-encodes exactly', () => {
  const { seeds } = loadSeeds();
  const dir = mkdtempSync(join(tmpdir(), 'fuzz-'));
  const lines: string[] = [];
  try {
    const reports = runFuzz({ iterations: 2000, seed: 7, codecs: Object.keys(TARGETS), crashersDir: dir, seeds, log: (l) => lines.push(l) });
    assert.deepEqual(reports.map((r) => r.codec), ['ipv4', 'udp', 'gre', 'nhrp', 'eigrp', 'ikev2', 'esp', 'udpencap', 'pcap', 'decode']);
    for (const r of reports) {
      assert.equal(r.crashes, 0, `${r.codec}: ${lines.join('\n')}`);
      assert.equal(r.mismatches, 0, `${r.codec}: ${lines.join('\n')}`);
      assert.equal(r.inputs, 2000);
      assert.equal(r.parsed + r.rejected, r.inputs);
      // Both outcomes occur: the mutations reach past the first check, and the seeds are real.
      assert.ok(r.parsed > 0 && r.rejected > 0, `${r.codec}: parsed ${r.parsed}, rejected ${r.rejected}`);
    }
    assert.deepEqual(readdirSync(dir), [], 'nothing written');
    if (haveVectors) assert.ok(seeds.nhrp.length >= 40 && seeds.eigrp.length >= 100 && seeds.ikev2.length >= 20, 'seeded from the vectors');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fuzz: the same seed gives the same inputs', () => {
  const { seeds } = loadSeeds();
  const run = (s: number): string[] => {
    const rng = new Rng(s);
    return Array.from({ length: 50 }, () => Buffer.from(mutate(rng.pick(seeds.nhrp), rng, seeds.nhrp)).toString('hex'));
  };
  assert.deepEqual(run(3), run(3));
  assert.notDeepEqual(run(3), run(4));
});

test('fuzz: a crash is caught, reported and saved (a target that throws TypeError)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fuzz-'));
  const lines: string[] = [];
  const saved = TARGETS.esp;
  try {
    (TARGETS as Record<string, unknown>).esp = { name: 'esp', run: (b: Uint8Array) => { if (b.length % 2) throw new TypeError('odd'); return 'parsed'; } };
    const [r] = runFuzz({ iterations: 200, seed: 1, codecs: ['esp'], crashersDir: dir, seeds: { esp: [Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2)] }, log: (l) => lines.push(l) });
    assert.ok(r.crashes > 0);
    assert.match(lines[0], /^fuzz esp: CRASH input \d+: TypeError: odd/);
    assert.equal(r.files.length, 1);
    assert.match(readdirSync(dir)[0], /^esp-[0-9a-f]{12}\.bin$/);
  } finally {
    (TARGETS as Record<string, unknown>).esp = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fuzz: every saved crasher replays: it parses (and re-encodes) or is rejected, nothing else', () => {
  assert.ok(existsSync(join(CRASHERS, 'README.md')), 'the crashers folder is kept in the tree');
  const files = readdirSync(CRASHERS).filter((f) => f.endsWith('.bin'));
  for (const f of files) {
    const out = replay(f, new Uint8Array(readFileSync(join(CRASHERS, f))));
    assert.ok(out === 'parsed' || out === 'rejected', `${f}: ${JSON.stringify(out)}`);
  }
  // With no crasher saved yet, the replay itself is checked on inputs of every codec's kind.
  const { seeds } = loadSeeds();
  for (const codec of Object.keys(TARGETS)) {
    const out = replay(`${codec}-000000000000.bin`, seeds[codec][0]);
    assert.ok(out === 'parsed', `${codec}: its first seed parses (${JSON.stringify(out)})`);
    assert.equal(replay(`${codec}-000000000000.bin`, new Uint8Array(0)), 'rejected', `${codec}: empty input is rejected`);
  }
});

test('fuzz: the command line runs, prints the table and exits 0; bad arguments exit 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fuzz-'));
  try {
    const script = join(projectRoot, 'dist', 'scripts', 'fuzz.js');
    const r = spawnSync(process.execPath, [script, '--iterations', '300', '--seed', '5', '--codec', 'nhrp,eigrp', '--crashers', dir], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^nhrp +\d+ +300 +\d+ +\d+ +0 +0 +[\d,]+\/s$/m);
    assert.match(r.stdout, /^eigrp +\d+ +300 /m);
    assert.match(r.stdout, /no crashes, every parsed input re-encoded byte for byte/);
    const bad = spawnSync(process.execPath, [script, '--codec', 'bogus'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^fuzz: --codec takes/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
