/**
 * NflogListener with TunnelTaps on a real kernel. Without root: group allocation and argument
 * checks. As root, in network namespaces made here (the listener runs inside them through
 * fixtures/nflog-run.js, because a NETLINK_NETFILTER socket belongs to its namespace):
 * - multicast: a UDP datagram to 224.0.0.10 out of a veth is copied to the group, with the
 *   outgoing ifindex and the exact datagram, and the original is dropped (the sender gets EPERM);
 * - hairpin: a namespace that routes a destination back out of the device it came in on: the
 *   copy has indev = outdev, the Ethernet source in HWADDR, the payload cut at the snaplen, and
 *   the per-pair limit bounds the copies of each source/destination pair;
 * - a group held by another socket is refused with EPERM, and is free again after close().
 * In the kernel VM (ip_gre present), a hub's hairpin copy carries the spoke's NBMA address.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Reader, fromHex, toHex } from '../../../protocols/wire/index.js';
import { PlatformError } from '../../../platform/errors.js';
import { NFLOG_GROUP_BASE, NflogListener, nbmaSourceOf, tapGroups } from '../../../platform/linux/nflog.js';
import { Arphrd, emitNflogPacket, NfInetHook, nflogPacketLength, parseNflogPacket, type NflogPacket } from '../../../platform/linux/nflog-codec.js';
import { kernelReady } from '../../../scripts/vm/kernel.js';
import { isRoot, needsTool } from '../../support/tools.js';
import { reencodeIdentical } from '../../support/codec.js';
import type { EventJson } from './fixtures/nflog-run.js';

const here = dirname(fileURLToPath(import.meta.url));
const runner = join(here, 'fixtures', 'nflog-run.js');
const ROOT = resolve(here, '..', '..', '..', '..');
const asRoot = isRoot() ? needsTool('ip', 'nft') : { skip: 'needs root (creates network namespaces)' };
const codec = { protocol: 'nflog', parse: parseNflogPacket, emit: emitNflogPacket, length: nflogPacketLength };

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

/** `ip` commands, one per line; the first failure stops the setup. */
function ipBatch(lines: string[]): void {
  for (const line of lines) sh('ip', line.split(' '));
}

function fixture<T>(ns: string, args: string[]): T {
  const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, runner, ...args], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `nflog-run ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** The UDP body nflog-run's sender writes for datagram i to dst. */
function body(dst: string, i: number, size: number): string {
  const b = Buffer.alloc(size, 0x61 + (i % 26));
  b.write(`dmvpnd-${dst}-${i}|`);
  return b.toString('hex');
}

const ipv4 = (hex: string, at: number): string => Array.from(fromHex(hex).subarray(at, at + 4)).join('.');

// ---- without root ----

test('nflog: tapGroups gives each tunnel its own pair of groups above the base', () => {
  assert.deepEqual(tapGroups(0), { multicast: NFLOG_GROUP_BASE, redirect: NFLOG_GROUP_BASE + 1 });
  assert.deepEqual(tapGroups(3, 100), { multicast: 106, redirect: 107 });
  const seen = new Set<number>();
  for (let i = 0; i < 1000; i++) {
    const g = tapGroups(i);
    for (const n of [g.multicast, g.redirect]) {
      assert.ok(!seen.has(n), `group ${n} used twice`);
      assert.ok(n >= NFLOG_GROUP_BASE && n <= 0xffff);
      seen.add(n);
    }
  }
  const max = Math.floor((0xffff - NFLOG_GROUP_BASE - 1) / 2);
  assert.equal(tapGroups(max).redirect <= 0xffff, true);
  assert.throws(() => tapGroups(max + 1), (e: PlatformError) => e.code === 'bad-argument' && /tunnel index \d+ is out of range/.test(e.message));
  assert.throws(() => tapGroups(-1), PlatformError);
  assert.throws(() => tapGroups(0, 70000), /group base 70000/);
});

test('nflog: groups and copy range are checked before any socket is opened', async () => {
  assert.throws(() => new NflogListener({ groups: [65536], onPacket: () => undefined }), (e: PlatformError) =>
    e.code === 'bad-argument' && e.message === 'binding nflog group 65536: group 65536 is out of range (0-65535) (Invalid argument, EINVAL)');
  assert.throws(() => new NflogListener({ groups: [1], copyRange: 0, onPacket: () => undefined }), /copy range 0 is out of range/);
  const l = new NflogListener({ groups: [], onPacket: () => undefined });
  await assert.rejects(l.bind(-2), /group -2 is out of range/);
  await l.close();
  await assert.rejects(l.start(), (e: PlatformError) => e.code === 'socket' && /the nflog listener is closed/.test(e.message));
  await l.close(); // twice: still fine
});

// ---- the real kernel ----

interface MulticastRun {
  ifindex: number;
  present: boolean;
  sendErrors: string[];
  events: EventJson[];
  raw: string[];
  status: { present: boolean; complete: boolean; multicast?: { packets: number; bytes: number } };
  stats: { packets: number; drops: Record<string, number>; listenerErrors: number };
  tablesAfter: string;
}

test('nflog: multicast out of the device is copied whole to the group with its outdev, and dropped', asRoot, () => {
  const ns = `nflogt-m-${process.pid}`;
  try {
    ipBatch([
      `netns add ${ns}`,
      `-n ${ns} link set lo up`,
      `-n ${ns} link add veth0 type veth peer name veth1`,
      `-n ${ns} link set veth0 up`,
      `-n ${ns} link set veth1 up`,
      `-n ${ns} addr add 10.77.0.1/24 dev veth0`,
      `-n ${ns} route add 224.0.0.0/4 dev veth0`,
    ]);
    const group = tapGroups(0).multicast;
    const r = fixture<MulticastRun>(ns, ['multicast', 'veth0', String(group), '10.77.0.1', '3']);
    assert.equal(r.present, true, 'present() right after install()');
    assert.deepEqual(r.sendErrors, ['EPERM', 'EPERM', 'EPERM'], 'NF_DROP on LOCAL_OUT: the sender sees EPERM');
    assert.equal(r.events.length, 3);
    r.events.forEach((e, i) => {
      assert.deepEqual([e.group, e.family, e.hook, e.hwProtocol, e.outdev, e.indev], [group, 2, NfInetHook.LOCAL_OUT, 0x0800, r.ifindex, undefined]);
      assert.equal(e.hwAddr, undefined, 'no link-layer source on an outgoing packet');
      assert.equal(e.hwHeader, undefined);
      const ihl = (fromHex(e.payload)[0] & 0x0f) * 4;
      assert.equal(e.payload.length / 2, ihl + 8 + 40, 'the whole datagram');
      assert.equal(ipv4(e.payload, 12), '10.77.0.1');
      assert.equal(ipv4(e.payload, 16), '224.0.0.10');
      assert.equal(e.payload.slice((ihl + 2) * 2, (ihl + 4) * 2), (5555).toString(16).padStart(4, '0'), 'UDP port 5555');
      assert.equal(e.payload.slice((ihl + 8) * 2), body('224.0.0.10', i, 40), `datagram ${i} byte for byte`);
    });
    for (const raw of r.raw) reencodeIdentical(codec, fromHex(raw), 'kernel message');
    assert.deepEqual(r.status, { present: true, complete: true, multicast: { packets: 3, bytes: 3 * 68 } }, 'the rule counted and dropped them');
    assert.deepEqual(r.stats, { packets: 3, drops: {}, listenerErrors: 0 });
    assert.equal(r.tablesAfter.trim(), '', 'remove() left no table (nft list tables)');
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
});

interface ForwardRun {
  ifindex: number;
  mac: string;
  sender: { errors: string[] };
  events: EventJson[];
  raw: string[];
  status: { complete: boolean; redirect?: { packets: number } };
  stats: { packets: number; drops: Record<string, number> };
}

test('nflog: a packet routed back out of the device it came in on is copied once per pair within the limit', asRoot, () => {
  const r0 = `nflogt-r-${process.pid}`;
  const s0 = `nflogt-s-${process.pid}`;
  try {
    ipBatch([
      `netns add ${r0}`,
      `netns add ${s0}`,
      `link add r0 netns ${r0} type veth peer name s0 netns ${s0}`,
      `-n ${r0} link set lo up`,
      `-n ${s0} link set lo up`,
      `-n ${r0} link set r0 up`,
      `-n ${s0} link set s0 up`,
      `-n ${r0} addr add 10.78.0.1/24 dev r0`,
      `-n ${s0} addr add 10.78.0.2/24 dev s0`,
      // 10.79.0.0/24 is behind 10.78.0.3, on the link the packets come from: a hairpin.
      `-n ${r0} route add 10.79.0.0/24 via 10.78.0.3`,
      `-n ${r0} neigh add 10.78.0.3 lladdr 02:00:00:00:00:03 dev r0`,
      `-n ${s0} route add 10.79.0.0/24 via 10.78.0.1`,
    ]);
    sh('ip', ['netns', 'exec', r0, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.r0.send_redirects=0']);
    const senderMac = (JSON.parse(sh('ip', ['-n', s0, '-j', 'link', 'show', 's0'])) as { address: string }[])[0].address.replace(/:/g, '');
    const { multicast, redirect } = tapGroups(1);
    const count = 20;
    const r = fixture<ForwardRun>(r0, ['forward', 'r0', String(multicast), String(redirect), s0, '10.79.0.5,10.79.0.6', String(count), '300']);
    assert.deepEqual(r.sender.errors, [], 'forwarded traffic is not dropped by the tap');
    const perPair = new Map<string, number>();
    for (const e of r.events) {
      assert.deepEqual([e.group, e.hook, e.indev, e.outdev, e.hwType, e.hwLen], [redirect, NfInetHook.FORWARD, r.ifindex, r.ifindex, Arphrd.ETHER, 14]);
      assert.equal(e.hwAddr, senderMac, 'NFULA_HWADDR: the source of the frame it came in with');
      assert.equal(e.hwHeader, `${r.mac}${senderMac}0800`, 'NFULA_HWHEADER: the Ethernet header as received');
      assert.equal(e.payload.length / 2, 128, 'cut at the snaplen');
      assert.equal(ipv4(e.payload, 12), '10.78.0.2');
      const dst = ipv4(e.payload, 16);
      assert.equal(fromHex(e.payload)[8], 63, 'TTL decremented: the copy is of the forwarded packet');
      const text = Buffer.from(fromHex(e.payload).subarray(28)).toString('latin1');
      const m = /^dmvpnd-(10\.79\.0\.[56])-(\d+)\|/.exec(text);
      assert.ok(m && m[1] === dst, `payload names its destination: ${text.slice(0, 30)}`);
      assert.equal(e.payload.slice(56), body(dst, Number(m[2]), 300).slice(0, 200), 'the first 100 bytes of the datagram, exact');
      perPair.set(dst, (perPair.get(dst) ?? 0) + 1);
    }
    // 1/minute with burst 2: a fresh pair may pass `burst` (Linux >= 5.x) or packets + burst (older) copies, never all 20.
    for (const dst of ['10.79.0.5', '10.79.0.6']) {
      const n = perPair.get(dst) ?? 0;
      assert.ok(n >= 1 && n <= 3, `pair 10.78.0.2 -> ${dst}: ${n} copies of ${count}`);
    }
    assert.equal(r.status.redirect?.packets, r.events.length, 'the rule counted exactly the copies made');
    assert.deepEqual(r.stats.drops, {});
    for (const raw of r.raw) reencodeIdentical(codec, fromHex(raw), 'kernel message');
  } finally {
    spawnSync('ip', ['netns', 'del', r0]);
    spawnSync('ip', ['netns', 'del', s0]);
  }
});

test('nflog: a group held by another socket is EPERM with a clear message, and free again after close()', asRoot, () => {
  const ns = `nflogt-b-${process.pid}`;
  try {
    ipBatch([`netns add ${ns}`]);
    const r = fixture<{ error: { code: string; errnoCode: string; message: string } | null; aGroups: number[]; bGroups: number[]; rebound: boolean }>(ns, ['bind-twice', '4242']);
    assert.ok(r.error, 'the second bind failed');
    assert.deepEqual([r.error.code, r.error.errnoCode], ['netlink', 'EPERM']);
    assert.equal(r.error.message, 'binding nflog group 4242: group 4242 is bound by another process, or we lack CAP_NET_ADMIN (Operation not permitted, EPERM)');
    assert.deepEqual([r.aGroups, r.bGroups], [[4242], []], 'the failed start left nothing bound');
    assert.equal(r.rebound, true);
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
});

// ---- ip_gre, in the kernel VM ----

function vmOpts(): { skip?: string } {
  if (!isRoot()) return { skip: 'needs root' };
  const tools = needsTool('qemu-system-x86_64');
  if (tools.skip !== undefined) return tools;
  if (!kernelReady()) {
    if (process.env.CI === 'true') throw new Error('no VM kernel in CI: .ci/run must run scripts/vm/setup.sh');
    return { skip: 'needs the VM kernel (run scripts/vm/setup.sh as root)' };
  }
  return {};
}

// A hub and two spokes on one underlay bridge (NBMA 198.51.100.1-3), an ip_gre multipoint device
// with key 42 in each; spoke a routes 10.99.0.0/24 (behind spoke b) via the hub: a hairpin.
const GRE_SCRIPT = (fixtureJs: string): string => `set -eu
F=${fixtureJs}
ip link add ul type bridge; ip link set ul up
i=1
for n in h a b; do
  ip netns add $n
  ip link add v$n type veth peer name u$n
  ip link set v$n netns $n
  ip link set u$n master ul; ip link set u$n up
  ip -n $n link set lo up
  ip -n $n addr add 198.51.100.$i/24 dev v$n; ip -n $n link set v$n up
  ip -n $n link add gre1 type gre key 42 ttl 64 local 198.51.100.$i
  ip -n $n link set gre1 up
  i=$((i+1))
done
ip -n h addr add 10.0.0.1/24 dev gre1
ip -n a addr add 10.0.0.11/24 dev gre1
ip -n b addr add 10.0.0.12/24 dev gre1
ip -n b addr add 10.99.0.1/32 dev lo
ip -n a neigh add 10.0.0.1 lladdr 198.51.100.1 dev gre1
ip -n a route add 10.99.0.0/24 via 10.0.0.1
ip -n h neigh add 10.0.0.11 lladdr 198.51.100.2 dev gre1
ip -n h neigh add 10.0.0.12 lladdr 198.51.100.3 dev gre1
ip -n h route add 10.99.0.0/24 via 10.0.0.12
ip -n h route add 224.0.0.0/4 dev gre1
ip netns exec h sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.gre1.send_redirects=0
ip netns exec h node $F forward gre1 19712 19713 a 10.99.0.1 4 200
echo @@
ip netns exec h node $F multicast gre1 19712 10.0.0.1 2
`;

test('nflog: on a multipoint ip_gre hub, a hairpin copy carries the spoke\'s NBMA address; multicast out of it is tapped (VM)', { ...vmOpts(), timeout: 300_000 }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'nflogt-vm-'));
  try {
    const script = join(tmp, 'gre.sh');
    writeFileSync(script, GRE_SCRIPT(runner));
    const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'scripts', 'vm', 'run.js'), '--timeout', '240', '--modules', '+nf_tables,nfnetlink_log,nft_log,nft_limit', '--', 'sh', script], {
      cwd: ROOT, encoding: 'utf8', timeout: 280_000, env: { ...process.env, TMPDIR: tmp },
    });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const [fwdText, mcastText] = r.stdout.split('@@\n');
    const fwd = JSON.parse(fwdText) as ForwardRun;
    assert.ok(fwd.events.length >= 1 && fwd.events.length <= 3, `${fwd.events.length} copies of 4`);
    for (const raw of fwd.raw) {
      const p: NflogPacket = reencodeIdentical(codec, fromHex(raw), 'ip_gre hairpin');
      assert.deepEqual([p.hook, p.indev, p.outdev, p.hwType, p.hwLen], [NfInetHook.FORWARD, fwd.ifindex, fwd.ifindex, Arphrd.IPGRE, 28]);
      assert.equal(toHex(p.hwAddr!), 'c6336402', 'ipgre_header_parse: the outer source, spoke a');
      assert.equal(nbmaSourceOf(p), '198.51.100.2');
      const outer = new Reader(p.hwHeader!, 'ip');
      assert.equal(outer.u8(), 0x45);
      assert.equal(ipv4(toHex(p.hwHeader!), 12), '198.51.100.2', 'HWHEADER: the received outer IPv4 header');
      assert.equal(ipv4(toHex(p.hwHeader!), 16), '198.51.100.1');
      assert.equal(toHex(p.hwHeader!.subarray(20)), '200008000000002a', 'then the GRE header (K, IPv4, key 42)');
      assert.equal(ipv4(toHex(p.payload), 12), '10.0.0.11');
      assert.equal(ipv4(toHex(p.payload), 16), '10.99.0.1');
    }
    const mc = JSON.parse(mcastText) as MulticastRun;
    assert.deepEqual(mc.sendErrors, ['EPERM', 'EPERM']);
    assert.equal(mc.events.length, 2);
    for (const e of mc.events) {
      assert.deepEqual([e.hook, e.outdev, e.hwAddr], [NfInetHook.LOCAL_OUT, mc.ifindex, undefined]);
      assert.equal(ipv4(e.payload, 16), '224.0.0.10');
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
