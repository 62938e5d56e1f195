/**
 * The Linux rtnetlink layer. Without root: attribute encodings, error conversion, reads in the
 * current namespace. As root: the shared scenario runs inside a fresh network namespace
 * (`ip netns exec NS node fixtures/netlink-run.js`), every checkpoint is cross-checked against
 * `ip -j`, and the whole transcript must equal the fake's on the same scenario.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { endianness } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FakeRtnetlink } from '../../../platform/fake/netlink.js';
import { Errno, PlatformError } from '../../../platform/errors.js';
import { normalizeRoute, RouteProtocol } from '../../../platform/netlink-values.js';
import { greLinkInfo, IflaGre, IflaInfo, parseAttrs, parseLinkInfo, simpleLinkInfo } from '../../../platform/linux/netlink-attrs.js';
import { netlinkError, requestFailure, RtmType } from '../../../platform/linux/netlink-errors.js';
import { routePayload } from '../../../platform/linux/rtnetlink-codec.js';
import { explainNeighbourError, LinuxRtnetlink } from '../../../platform/linux/rtnetlink.js';
import { isRoot, needsTool } from '../../support/tools.js';
import { expectedOutcomes, runScenario, runTunScenario, type Transcript } from './fixtures/netlink-scenario.js';

const here = dirname(fileURLToPath(import.meta.url));
const runner = join(here, 'fixtures', 'netlink-run.js');
const LE = endianness() === 'LE';
const leOnly = LE ? {} : { skip: 'byte vectors are written for little-endian hosts' };
const asRoot = isRoot() ? needsTool('ip') : { skip: 'needs root (creates network namespaces)' };
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const cat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]));

// ---- encodings ----

test('rtnetlink: mGRE IFLA_LINKINFO bytes (kind "gre", key both ways, local, pmtudisc, tos, ttl)', leOnly, () => {
  const info = greLinkInfo({ kind: 'gre', name: 'dmvpn0', key: 42, local: '10.0.0.1', ttl: 64 });
  const expected =
    '0800010067726500' + // IFLA_INFO_KIND "gre\0"
    '44000200' + // IFLA_INFO_DATA, 68 bytes
    '080004000000002a' + '080005000000002a' + // IKEY, OKEY 42 big-endian (RFC 2890 key)
    '0600020020000000' + '0600030020000000' + // IFLAGS, OFLAGS = GRE_KEY (0x2000) big-endian
    '080006000a000001' + // LOCAL 10.0.0.1
    '05000a0001000000' + '0500090000000000' + '0500080040000000'; // PMTUDISC 1, TOS 0, TTL 64
  assert.equal(hex(info), expected);
  assert.equal(hex(simpleLinkInfo('bridge')), '0b00010062726964676500' + '00');
});

test('rtnetlink: GRE link info decodes back to the parameters', () => {
  assert.deepEqual(parseLinkInfo(greLinkInfo({ kind: 'gre', name: 'g', key: 0xfffffffe, local: '192.0.2.1', ttl: 255, tos: 1 }, 7)), {
    kind: 'gre',
    gre: { key: 0xfffffffe, local: '192.0.2.1', ttl: 255, tos: 1, pmtudisc: true, underlay: 7 },
  });
  // No key, no local, pmtudisc off: a keyless tunnel from any address.
  assert.deepEqual(parseLinkInfo(greLinkInfo({ kind: 'gre', name: 'g', pmtudisc: false })), { kind: 'gre', gre: { ttl: 0, tos: 0, pmtudisc: false } });
  // IOS's default: no pmtudisc, DF ignored (IFLA_GRE_IGNORE_DF 19 = 1).
  const iosDefault = greLinkInfo({ kind: 'gre', name: 'g', ttl: 255, pmtudisc: false, ignoreDf: true });
  assert.equal(hex(parseAttrs(parseAttrs(iosDefault).get(IflaInfo.DATA)!).get(IflaGre.IGNORE_DF)!), '01');
  assert.deepEqual(parseLinkInfo(iosDefault), { kind: 'gre', gre: { ttl: 255, tos: 0, pmtudisc: false, ignoreDf: true } });
  assert.deepEqual(parseLinkInfo(simpleLinkInfo('veth')), { kind: 'veth' });
  assert.deepEqual(parseLinkInfo(new Uint8Array([1, 0])), {}, 'a truncated attribute stream yields nothing, no throw');
});

test('rtnetlink: GRE attributes match what iproute2 sends for the same tunnel', { ...asRoot, ...needsTool('ip', 'strace') }, () => {
  const ns = `dmvpn-gre-${process.pid}`;
  assert.equal(spawnSync('ip', ['netns', 'add', ns]).status, 0);
  try {
    // strace shows the request even when the kernel then refuses it (no ip_gre here).
    const r = spawnSync('ip', ['netns', 'exec', ns, 'strace', '-f', '-e', 'trace=sendmsg', '-xx', '-s', '4096', 'ip', 'link', 'add', 'g0', 'type', 'gre', 'local', '10.0.0.1', 'key', '42', 'ttl', '64', 'pmtudisc'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    const m = /nla_type=IFLA_INFO_DATA\}, "((?:\\x[0-9a-f]{2})+)"/.exec(r.stderr);
    assert.ok(m, `no IFLA_INFO_DATA in strace output:\n${r.stderr.slice(0, 2000)}`);
    const theirs = parseAttrs(Uint8Array.from(Buffer.from(m[1].replace(/\\x/g, ''), 'hex')));
    const ours = parseAttrs(parseAttrs(greLinkInfo({ kind: 'gre', name: 'g0', key: 42, local: '10.0.0.1', ttl: 64 })).get(IflaInfo.DATA)!);
    for (const [type, bytes] of ours) assert.equal(hex(bytes), hex(theirs.get(type) ?? new Uint8Array()), `IFLA_GRE type ${type}`);
    for (const t of [IflaGre.IKEY, IflaGre.OKEY, IflaGre.IFLAGS, IflaGre.OFLAGS, IflaGre.LOCAL, IflaGre.TTL, IflaGre.PMTUDISC]) assert.ok(ours.has(t));
    assert.ok(!theirs.has(IflaGre.REMOTE) && !ours.has(IflaGre.REMOTE), 'multipoint: no remote on either side');
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
});

test('rtnetlink: route messages put big table ids in RTA_TABLE and leave delete selectors open', () => {
  const rtmsg = (r: Uint8Array[]) => {
    const b = cat(...r);
    return { family: b[0], dstLen: b[1], table: b[4], protocol: b[5], scope: b[6], type: b[7], attrs: parseAttrs(b.subarray(12)) };
  };
  const add = rtmsg(routePayload(normalizeRoute({ dst: '0.0.0.0/0', type: 'blackhole', table: 300, metric: 7, protocol: RouteProtocol.EIGRP }, 'RTM_NEWROUTE', 'x'), undefined));
  assert.deepEqual([add.family, add.dstLen, add.table, add.protocol, add.scope, add.type], [2, 0, 0, 192, 0, 6]);
  assert.equal(new DataView(add.attrs.get(15)!.buffer, add.attrs.get(15)!.byteOffset).getUint32(0, LE), 300, 'RTA_TABLE');
  assert.ok(!add.attrs.has(1), 'no RTA_DST for a default route');
  const del = rtmsg(routePayload(normalizeRoute({ dst: '192.168.2.0/24' }, 'RTM_DELROUTE', 'x', true), undefined));
  assert.deepEqual([del.dstLen, del.table, del.protocol, del.scope, del.type], [24, 254, 0, 255, 0], 'type/protocol any, scope NOWHERE');
  assert.equal(hex(del.attrs.get(1)!), 'c0a80200');
  const dev = rtmsg(routePayload(normalizeRoute({ dst: '10.1.0.0/16', dev: 'd', metric: 5 }, 'RTM_NEWROUTE', 'x'), 9));
  assert.deepEqual([dev.scope, dev.type, dev.protocol], [253, 1, RouteProtocol.STATIC], 'a device route is scope link, static by default');
});

// ---- errors ----

test('rtnetlink: kernel errno becomes a PlatformError naming the object', () => {
  const e = netlinkError(Errno.EEXIST, RtmType.NEWROUTE, 'adding route 192.168.2.0/24 via 10.0.0.12 dev dmvpn0');
  assert.ok(e instanceof PlatformError);
  assert.equal(e.message, 'adding route 192.168.2.0/24 via 10.0.0.12 dev dmvpn0: File exists (EEXIST)');
  assert.deepEqual([e.code, e.errno, e.errnoCode, e.syscall], ['netlink', 17, 'EEXIST', 'RTM_NEWROUTE']);
  assert.deepEqual(Object.keys(e.toJSON()).sort(), ['code', 'errno', 'errnoCode', 'message', 'operation', 'syscall']);
  assert.equal(netlinkError(250, RtmType.GETLINK, 'x').message, 'x: Unknown error 250 (E250)');
});

test('rtnetlink: timeouts and socket failures keep their errno and syscall', () => {
  const t = requestFailure(new Error('Timeout has been reached'), RtmType.GETROUTE, 'listing routes', 5000);
  assert.deepEqual([t.code, t.errnoCode, t.syscall], ['timeout', 'ETIMEDOUT', 'RTM_GETROUTE']);
  assert.equal(t.message, 'listing routes: no answer from the kernel within 5000 ms (Connection timed out, ETIMEDOUT)');
  const s = requestFailure(Object.assign(new Error('Couldn\'t receive'), { errno: 105, code: 'ENOBUFS', syscall: 'recvmsg' }), RtmType.GETLINK, 'watching devices', 5000);
  assert.deepEqual([s.code, s.errno, s.errnoCode, s.syscall], ['socket', 105, 'ENOBUFS', 'recvmsg']);
});

test('rtnetlink: a short lladdr EINVAL says which lengths clashed', () => {
  const e = netlinkError(Errno.EINVAL, RtmType.NEWNEIGH, 'adding neighbour 10.0.0.2 lladdr 192.0.2.1 dev eth0');
  const x = explainNeighbourError(e, 4, { name: 'eth0', address: new Uint8Array(6) }) as PlatformError;
  assert.equal(x.message, 'adding neighbour 10.0.0.2 lladdr 192.0.2.1 dev eth0: eth0 has 6-byte link-layer addresses, 4 given (Invalid argument, EINVAL)');
  assert.equal(explainNeighbourError(e, 4, { name: 'gre0', address: new Uint8Array(4) }), e, 'same length: the kernel had another reason');
});

// ---- the real socket ----

test('rtnetlink: reads need no privilege; a closed port refuses with code socket', async () => {
  const port = new LinuxRtnetlink({ timeoutMs: 5000 });
  try {
    const lo = await port.getLink('lo');
    assert.equal(lo.linkType, 772);
    assert.deepEqual(await port.getLinkByIndex(lo.index), lo);
    assert.ok((await port.listLinks()).some((l) => l.name === 'lo'));
    assert.ok((await port.listAddresses('lo')).some((a) => a.address === '127.0.0.1' && a.prefixLength === 8) || !lo.up);
    await assert.rejects(port.getLink('no-such-dev0'), (e: PlatformError) => e.code === 'netlink' && e.errnoCode === 'ENODEV' && e.syscall === 'RTM_GETLINK');
    await assert.rejects(port.getLink('x'.repeat(16)), (e: PlatformError) => e.code === 'bad-argument');
    // Concurrent calls are queued: the kernel allows one dump per socket at a time.
    const many = await Promise.all([port.listLinks(), port.listRoutes({ table: 'all' }), port.getLink('lo'), port.listNeighbours(), port.listAddresses(), port.listLinks()]);
    assert.deepEqual(many[0], many[5]);
    assert.equal(many[2].index, lo.index);
  } finally {
    port.close();
  }
  await assert.rejects(port.getLink('lo'), (e: PlatformError) => e.code === 'socket' && e.errnoCode === 'EBADF');
});

// ---- in a network namespace ----

function ip(...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, stderr: r.stderr };
}

let nsCounter = 0;
async function inNamespace<T>(setup: string[][], body: (ns: string) => Promise<T> | T): Promise<T> {
  const ns = `dmvpn-nl-${process.pid}-${++nsCounter}`;
  const add = ip('netns', 'add', ns);
  assert.equal(add.status, 0, `ip netns add: ${add.stderr}`);
  try {
    for (const cmd of setup) {
      const r = ip('-n', ns, ...cmd);
      assert.equal(r.status, 0, `ip -n ${ns} ${cmd.join(' ')}: ${r.stderr}`);
    }
    return await body(ns);
  } finally {
    const del = ip('netns', 'del', ns);
    assert.equal(del.status, 0, `ip netns del ${ns}: ${del.stderr}`);
  }
}

function runFixture(ns: string, ...args: string[]): unknown {
  const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, runner, ...args], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `fixture failed (status ${r.status}, ${r.error?.message ?? ''}):\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Can this kernel make gre devices? Asked in a namespace, so nothing is left behind. */
function kernelHasGre(ns: string): boolean {
  const ok = ip('-n', ns, 'link', 'add', 'grep0', 'type', 'gre', 'local', '10.9.9.9').status === 0;
  if (ok) ip('-n', ns, 'link', 'del', 'grep0');
  return ok;
}

function assertOutcomes(t: Transcript, greAvailable: boolean, who: string): void {
  const want = expectedOutcomes(greAvailable);
  assert.deepEqual(t.outcomes.map((o) => o.step), Object.keys(want), `${who}: steps`);
  for (const o of t.outcomes) {
    const w = want[o.step];
    if (w === 'ok') assert.ok(o.ok, `${who}: ${o.step} should succeed, got ${o.ok ? '' : o.error.message}`);
    else assert.ok(!o.ok && o.error.code === w[0] && o.error.errnoCode === w[1], `${who}: ${o.step} should fail ${w.join('/')}, got ${JSON.stringify(o)}`);
  }
}

test('rtnetlink: links, addresses, routes, neighbours in a namespace, checked with ip -j and against the fake', asRoot, async () => {
  await inNamespace([['link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1'], ['link', 'set', 'v1', 'up']], async (ns) => {
    const gre = kernelHasGre(ns);
    const kernel = runFixture(ns, 'scenario', 'v0', gre ? '1' : '0') as Transcript;
    assertOutcomes(kernel, gre, 'kernel');

    // Every checkpoint: what the port reads equals what ip -j shows.
    assert.equal(kernel.checkpoints.length, 9);
    for (const c of kernel.checkpoints) assert.deepEqual(c.port, c.ip, `checkpoint "${c.label}": port vs ip -j`);

    // Spot checks that the state is the one intended.
    const at = (label: string) => kernel.checkpoints.find((c) => c.label === label)!.port;
    assert.deepEqual(at('up').routes, [{ dst: '10.0.0.0/24', type: 'unicast', dev: 'v0', metric: 0, table: 254, protocol: RouteProtocol.KERNEL, scope: 253, prefsrc: '10.0.0.1' }]);
    const routes = at('routes').routes;
    assert.ok(routes.some((r) => r.dst === '192.168.2.0/24' && r.gateway === '10.0.0.13' && r.protocol === RouteProtocol.EIGRP && r.metric === 0), 'replaced in place');
    assert.ok(routes.some((r) => r.dst === '10.99.0.0/16' && r.type === 'blackhole' && r.protocol === RouteProtocol.EIGRP && r.dev === undefined));
    assert.ok(routes.some((r) => r.dst === '192.168.5.0/24' && r.protocol === RouteProtocol.NHRP && r.scope === 253));
    assert.ok(routes.some((r) => r.dst === '0.0.0.0/0' && r.table === 300 && r.type === 'blackhole'));
    assert.deepEqual(at('neighbours').neighbours.find((n) => n.address === '10.0.0.22'), { address: '10.0.0.22', lladdr: '02:00:00:00:00:22', state: 'permanent' }, '8 bytes cut to 6');
    assert.equal(at('neighbours').neighbours.find((n) => n.address === '10.0.0.20')?.state, 'reachable');
    assert.deepEqual(at('after deleting the last address').neighbours, [], 'the last address takes the neighbours with it');
    assert.deepEqual(at('down').routes.filter((r) => r.dev === 'v0'), [], 'down flushes the device routes');
    const watch = kernel.outcomes.find((o) => o.step === 'watch');
    assert.deepEqual(watch && watch.ok ? watch.value : undefined, { mtuChange: true, created: true, deleted: true });
    const greStep = kernel.outcomes.find((o) => o.step === 'create mGRE')!;
    if (!gre) {
      assert.ok(!greStep.ok);
      assert.equal(greStep.error.message, 'creating gre device dmvpn0: ip_gre unavailable: this kernel has no "gre" link type (Operation not supported, EOPNOTSUPP)');
    }

    // The fake, given the same devices, must give the same transcript: outcomes (messages
    // included) and states.
    const fake = new FakeRtnetlink({ links: [{ name: 'v0', kind: 'veth' }, { name: 'v1', kind: 'veth', up: true }], linkKinds: gre ? ['bridge', 'gre'] : ['bridge'] });
    const mirrored = JSON.parse(JSON.stringify(await runScenario(fake, { dev: 'v0', greAvailable: gre }))) as Transcript;
    fake.close();
    const skipGreValue = (o: Transcript['outcomes'][number]) => (o.step === 'create mGRE' && o.ok ? { step: o.step, ok: true } : o);
    assert.deepEqual(mirrored.outcomes.map(skipGreValue), kernel.outcomes.map(skipGreValue));
    assert.deepEqual(
      mirrored.checkpoints.map((c) => c.port),
      kernel.checkpoints.map((c) => c.port),
    );
  });
});

test('rtnetlink: ARP off and on, and the kernel asking for a next hop it has no entry for (RTM_GETNEIGH)', asRoot, async () => {
  await inNamespace([['link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1'], ['link', 'set', 'v1', 'up']], async (ns) => {
    const r = runFixture(ns, 'solicit', 'v0') as { noarp: boolean; arp: boolean; index: number; requests: { index: number; address: string }[]; neighbour?: string[] };
    assert.equal(r.noarp, true, 'setLinkArp(false) sets NOARP');
    assert.equal(r.arp, true, 'setLinkArp(true) clears it');
    assert.ok(r.requests.length >= 1, 'at least one request');
    assert.deepEqual(r.requests[0], { index: r.index, address: '10.0.0.77' });
    assert.deepEqual(r.neighbour, ['INCOMPLETE'], 'the kernel holds the traffic on an incomplete entry meanwhile');
  });
});

test('rtnetlink: TUN keeps no per-address neighbours (keyed 0.0.0.0, no lladdr); the fake agrees', asRoot, async () => {
  await inNamespace([['tuntap', 'add', 'mode', 'tun', 'name', 'tun0']], async (ns) => {
    const k = runFixture(ns, 'tun', 'tun0') as Awaited<ReturnType<typeof runTunScenario>> & { ipNeighbours: { address: string }[] };
    assert.ok(k.outcomes.every((o) => o.ok), JSON.stringify(k.outcomes));
    assert.deepEqual(k.neighbours, [{ address: '0.0.0.0', state: 'permanent' }]);
    assert.deepEqual(k.ipNeighbours.map((n) => n.address), ['0.0.0.0']);
    assert.deepEqual(k.link, { name: 'tun0', kind: 'tun', up: true, mtu: 1500, addrLen: 0 });
    const fake = new FakeRtnetlink({ links: [{ name: 'tun0', kind: 'tun' }] });
    const f = await runTunScenario(fake, 'tun0');
    assert.deepEqual(JSON.parse(JSON.stringify(f)), { outcomes: k.outcomes, neighbours: k.neighbours, link: k.link });
  });
});
