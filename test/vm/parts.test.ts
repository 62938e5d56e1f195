/**
 * The kernel VM runner's parts that need no VM: the newc cpio writer (against its reader and
 * against busybox's cpio when the VM cache has one), module load order over modules.dep, the
 * command line, and job.sh (run here by /bin/sh, so quoting is checked by a real shell).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { cpioArchive, parseCpio, type CpioEntry } from '../../scripts/vm/cpio.js';
import { loadOrder, moduleName, parseModuleIndex, stripModuleSignature, VmError } from '../../scripts/vm/modules.js';
import { parseArgs } from '../../scripts/vm/args.js';
import { DEFAULT_MODULES, jobScript } from '../../scripts/vm/vm.js';
import { initScript, BOOT_MODULES } from '../../scripts/vm/initramfs.js';
import { vmCacheDir } from '../../scripts/vm/kernel.js';

test('vm cpio: newc header fields, 4-byte alignment and the trailer', () => {
  const a = cpioArchive([{ kind: 'file', path: '/init', data: Buffer.from('#!/bin/sh\n'), mode: 0o755 }]);
  const h = a.toString('ascii', 0, 110);
  assert.equal(h.slice(0, 6), '070701');
  assert.equal(parseInt(h.slice(14, 22), 16), 0o100755, 'mode: regular file 0755');
  assert.equal(parseInt(h.slice(54, 62), 16), 10, 'filesize');
  assert.equal(parseInt(h.slice(94, 102), 16), 5, 'namesize counts the NUL of "init"');
  assert.equal(a.toString('ascii', 110, 115), 'init\0', 'the leading slash is dropped');
  // 110 + 5 = 115, padded to 116; data 10 bytes padded to 12: the trailer starts at 128.
  assert.equal(a.toString('ascii', 128, 134), '070701');
  assert.equal(a.toString('ascii', 128 + 110, 128 + 120), 'TRAILER!!!');
  assert.equal(a.length % 4, 0);
});

const entryArb: fc.Arbitrary<CpioEntry> = fc.oneof(
  fc.record({ kind: fc.constant('dir' as const), path: fc.stringMatching(/^[a-z]{1,12}$/), mode: fc.integer({ min: 0, max: 0o7777 }) }),
  fc.record({
    kind: fc.constant('file' as const), path: fc.stringMatching(/^[a-z]{1,12}$/),
    data: fc.uint8Array({ maxLength: 37 }), mode: fc.integer({ min: 0, max: 0o7777 }),
  }),
  fc.record({ kind: fc.constant('symlink' as const), path: fc.stringMatching(/^[a-z]{1,12}$/), target: fc.stringMatching(/^[a-z/.]{1,20}$/) }),
  fc.record({
    kind: fc.constant('chardev' as const), path: fc.stringMatching(/^[a-z]{1,12}$/),
    major: fc.integer({ min: 0, max: 255 }), minor: fc.integer({ min: 0, max: 255 }), mode: fc.integer({ min: 0, max: 0o7777 }),
  }),
);

test('vm cpio: reading back any archive gives the entries written', () => {
  fc.assert(fc.property(fc.array(entryArb, { maxLength: 8 }), (entries) => {
    const back = parseCpio(cpioArchive(entries));
    // fast-check's records have a null prototype; compare against plain objects.
    assert.deepEqual(back, entries.map((e) => ({ ...e })));
  }));
});

test('vm cpio: busybox cpio lists and extracts what we write', (t) => {
  const busybox = join(vmCacheDir(), 'busybox', 'bin', 'busybox');
  if (!existsSync(busybox)) {
    t.skip('no busybox in the VM cache (scripts/vm/setup.sh)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'vm-cpio-'));
  try {
    const archive = cpioArchive([
      { kind: 'dir', path: 'etc' },
      { kind: 'file', path: 'etc/motd', data: Buffer.from('hello\n') },
      { kind: 'symlink', path: 'motd', target: 'etc/motd' },
    ]);
    const list = spawnSync(busybox, ['cpio', '-t'], { input: archive, encoding: 'utf8' });
    assert.equal(list.status, 0, list.stderr);
    assert.deepEqual(list.stdout.trim().split('\n'), ['etc', 'etc/motd', 'motd']);
    const x = spawnSync(busybox, ['cpio', '-i', '-d'], { input: archive, cwd: dir, encoding: 'utf8' });
    assert.equal(x.status, 0, x.stderr);
    assert.equal(spawnSync('cat', [join(dir, 'motd')], { encoding: 'utf8' }).stdout, 'hello\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('vm cpio: a truncated or foreign archive is refused', () => {
  const a = cpioArchive([{ kind: 'file', path: 'x', data: Buffer.alloc(8) }]);
  assert.throws(() => parseCpio(a.subarray(0, 50)), /truncated header/);
  assert.throws(() => parseCpio(a.subarray(0, 115)), /truncated data of x/);
  assert.throws(() => parseCpio(Buffer.from('070707' + '0'.repeat(104))), /bad magic/);
});

// The shape of busybox depmod's output for 9p: dependencies listed, but not in load order
// (fscache itself needs netfs).
const DEP = [
  'kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/fscache/fscache.ko kernel/fs/netfs/netfs.ko',
  'kernel/fs/fscache/fscache.ko: kernel/fs/netfs/netfs.ko',
  'kernel/fs/netfs/netfs.ko:',
  'kernel/net/9p/9pnet.ko:',
  'kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio_ring.ko',
  'kernel/drivers/virtio/virtio_ring.ko:',
  'kernel/net/ipv4/ip_gre.ko: kernel/net/ipv4/ip_tunnel.ko kernel/net/ipv4/gre.ko',
  'kernel/net/ipv4/ip_tunnel.ko:',
  'kernel/net/ipv4/gre.ko:',
  'kernel/drivers/net/nlmon-x.ko.xz:',
  'kernel/loop/a.ko: kernel/loop/b.ko',
  'kernel/loop/b.ko: kernel/loop/a.ko',
  '',
].join('\n');

test('vm modules: every module comes after all it depends on, each once', () => {
  const index = parseModuleIndex(DEP, 'kernel/net/ipv4/gre.ko\n');
  const order = loadOrder(index, ['9p', '9pnet_virtio', 'ip_gre']).map((m) => m.name);
  assert.deepEqual(order, ['9pnet', 'netfs', 'fscache', '9p', 'virtio_ring', '9pnet_virtio', 'ip_tunnel', 'ip_gre']);
  assert.ok(!order.includes('gre'), 'a built-in module is not inserted');
  assert.deepEqual(loadOrder(index, ['gre']), []);
});

test('vm modules: names are the kernel\'s (dash is underscore, compression suffix dropped)', () => {
  assert.equal(moduleName('kernel/drivers/net/nlmon-x.ko.xz'), 'nlmon_x');
  const index = parseModuleIndex(DEP);
  assert.deepEqual(loadOrder(index, ['nlmon-x']).map((m) => m.path), ['kernel/drivers/net/nlmon-x.ko.xz']);
});

test('vm modules: an unknown module, a missing dependency and a cycle are errors', () => {
  const index = parseModuleIndex(DEP + 'kernel/z.ko: kernel/gone.ko\n');
  assert.throws(() => loadOrder(index, ['ip_gree']), (e: unknown) => e instanceof VmError && e.code === 'EUNKNOWNMODULE' && /ip_gree/.test(e.message));
  assert.throws(() => loadOrder(index, ['z']), /module z depends on gone, which is missing/);
  assert.throws(() => loadOrder(index, ['a']), (e: unknown) => e instanceof VmError && e.code === 'EMODULECYCLE');
});

test('vm modules: the appended signature is cut off; an unsigned module stays as it is', () => {
  const body = Buffer.from('\x7fELF module body');
  const sig = Buffer.alloc(37, 0xab);
  const info = Buffer.from([0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, sig.length]);
  const signed = Buffer.concat([body, sig, info, Buffer.from('~Module signature appended~\n')]);
  assert.deepEqual(stripModuleSignature(signed), body);
  assert.deepEqual(stripModuleSignature(body), body);
  const lying = Buffer.concat([Buffer.from('x'), info, Buffer.from('~Module signature appended~\n')]);
  assert.deepEqual(stripModuleSignature(lying), lying, 'a signature longer than the file is not trusted');
});

test('vm args: flags, the command after --, module lists', () => {
  const a = parseArgs(['--timeout', '20', '--mem', '512', '--cpus', '2', '--timing', '--', 'sh', '-c', 'exit 3']);
  assert.deepEqual(a.vm.command, ['sh', '-c', 'exit 3']);
  assert.equal(a.vm.timeoutMs, 20_000);
  assert.equal(a.vm.memMiB, 512);
  assert.equal(a.vm.cpus, 2);
  assert.equal(a.timing, true);
  assert.equal(a.vm.modules, undefined, 'the defaults apply');
  assert.deepEqual(parseArgs(['--modules', 'ip_gre,esp4', '--', 'true']).vm.modules, ['ip_gre', 'esp4']);
  assert.deepEqual(parseArgs(['--modules', '+sch_netem', '--', 'true']).vm.modules, [...DEFAULT_MODULES, 'sch_netem']);
  assert.deepEqual(parseArgs(['--', 'node', '--timeout', '5']).vm.command, ['node', '--timeout', '5'], 'flags after -- are the command\'s');
  for (const bad of [['true'], ['--'], ['--timeout', 'x', '--', 'true'], ['--bogus', '--', 'true'], ['--mem']]) {
    assert.throws(() => parseArgs(bad), (e: unknown) => e instanceof VmError && e.code === 'EUSAGE', bad.join(' '));
  }
});

test('vm job.sh: a real shell gets back the exact arguments, environment and directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vm-job-'));
  try {
    const odd = `it's "quoted" $HOME \`x\` \\ ; | & \n second line`;
    const script = jobScript(['sh', '-c', 'printf "[%s]\\n" "$@"; printf "%s|%s|%s\\n" "$ODD" "$DMVPN_VM" "$PWD"', 'sh', "a'b", 'c d', ''], dir, {
      ODD: odd, 'NOT-A-NAME': 'dropped', NODE_TEST_CONTEXT: 'child-v8',
    });
    assert.doesNotMatch(script, /NOT-A-NAME|NODE_TEST_CONTEXT/);
    writeFileSync(join(dir, 'job.sh'), script);
    const r = spawnSync('/bin/sh', [join(dir, 'job.sh')], { encoding: 'utf8', env: {} });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `[a'b]\n[c d]\n[]\n${odd}|1|${dir}\n`);
    const missing = jobScript(['true'], join(dir, 'nope'), {});
    writeFileSync(join(dir, 'job.sh'), missing);
    assert.equal(spawnSync('/bin/sh', [join(dir, 'job.sh')], { stdio: 'ignore' }).status, 125, 'a missing directory is a harness failure');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('vm init: busybox sh accepts /init, and it mounts, loads and powers off in that order', (t) => {
  const init = initScript({ version: '6.1.0-0-amd64', modulesDir: '/var/cache/x y/lib/modules/6.1.0-0-amd64' });
  const order = ['insmod "$m"', 'mount -t 9p', 'mount -t overlay', '/proc/sys/kernel/modprobe', 'insmod /job/modules.d/', 'chroot $R /bin/sh', 'dmvpn-vm: command exit'];
  const at = order.map((s) => init.indexOf(s));
  assert.ok(at.every((p) => p >= 0), 'every step is there');
  assert.deepEqual([...at].sort((x, y) => x - y), at, 'in order');
  assert.ok(init.trimEnd().endsWith('\noff'), 'it ends by powering off');
  assert.match(init, /off\(\) \{ sync; echo o > \/proc\/sysrq-trigger;/);
  assert.ok(BOOT_MODULES.every((m) => ['virtio_pci', 'virtio_mmio', '9pnet_virtio', '9p', 'overlay'].includes(m)));
  assert.match(init, /MODDIR='\/var\/cache\/x y\/lib\/modules\/6\.1\.0-0-amd64'/);
  const busybox = join(vmCacheDir(), 'busybox', 'bin', 'busybox');
  if (!existsSync(busybox)) {
    t.skip('no busybox in the VM cache (scripts/vm/setup.sh)');
    return;
  }
  const r = spawnSync(busybox, ['sh', '-n'], { input: init, encoding: 'utf8' });
  assert.equal(r.status, 0, `syntax: ${r.stderr}`);
});
