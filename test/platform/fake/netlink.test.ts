/**
 * The in-memory rtnetlink fake. The Linux test (as root) proves it gives the kernel's transcript
 * on the shared scenario; these tests run anywhere and pin its behaviour down on their own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ArpHrd, FakeRtnetlink } from '../../../platform/fake/netlink.js';
import { Errno, type PlatformError } from '../../../platform/errors.js';
import { nbmaLladdr, RouteProtocol } from '../../../platform/netlink-values.js';
import type { LinkEvent } from '../../../platform/ports.js';
import { expectedOutcomes, runScenario, runTunScenario } from '../linux/fixtures/netlink-scenario.js';

const isErr = (code: string, errnoCode: string, message?: string) => (e: PlatformError) =>
  e.code === code && e.errnoCode === errnoCode && (message === undefined || e.message === message);

function withVeth(opts: { linkKinds?: string[] } = {}): FakeRtnetlink {
  return new FakeRtnetlink({ links: [{ name: 'v0', kind: 'veth' }, { name: 'v1', kind: 'veth', up: true }], ...opts });
}

test('fake: the shared scenario gives the expected outcome at every step', async () => {
  for (const gre of [false, true]) {
    const port = withVeth({ linkKinds: gre ? ['bridge', 'gre'] : ['bridge'] });
    const t = await runScenario(port, { dev: 'v0', greAvailable: gre, watchTimeoutMs: 1000 });
    const want = expectedOutcomes(gre);
    assert.deepEqual(t.outcomes.map((o) => o.step), Object.keys(want));
    for (const o of t.outcomes) {
      const w = want[o.step];
      if (w === 'ok') assert.ok(o.ok, `${o.step}: ${o.ok ? '' : o.error.message}`);
      else assert.ok(!o.ok && o.error.code === w[0] && o.error.errnoCode === w[1], `${o.step}: ${JSON.stringify(o)}`);
    }
    const at = (label: string) => t.checkpoints.find((c) => c.label === label)!.port;
    assert.deepEqual(at('down with address').routes, [], 'no connected route while down');
    assert.equal(at('up').routes.length, 1);
    assert.deepEqual(
      at('addresses').addresses,
      [
        { address: '10.0.0.1', prefixLength: 24, secondary: false },
        { address: '10.0.0.2', prefixLength: 24, secondary: true },
        { address: '10.5.0.1', prefixLength: 16, secondary: false },
      ],
    );
    assert.deepEqual(at('after deleting the primary').addresses, [{ address: '10.5.0.1', prefixLength: 16, secondary: false }]);
    assert.deepEqual(at('after deleting the last address').routes.map((r) => r.dst), ['10.77.0.0/16', '0.0.0.0/0']);
    port.close();
  }
});

test('fake: messages read like the kernel layer\'s (the brief\'s example, on an mGRE device)', async () => {
  const port = new FakeRtnetlink({ links: [{ name: 'eth0' }] });
  await port.setLinkUp('eth0', true);
  await port.addAddress('eth0', '192.0.2.1/24');
  const tun = await port.createLink({ kind: 'gre', name: 'dmvpn0', key: 42, local: '192.0.2.1', ttl: 255, underlay: 'eth0' });
  assert.deepEqual(
    { type: tun.linkType, mtu: tun.mtu, address: tun.address, gre: tun.gre },
    { type: ArpHrd.IPGRE, mtu: 1472, address: Uint8Array.of(192, 0, 2, 1), gre: { key: 42, local: '192.0.2.1', ttl: 255, tos: 0, pmtudisc: true, underlay: 2 } },
  );
  await port.setLinkUp('dmvpn0', true);
  await port.addAddress('dmvpn0', '10.0.0.1/24');
  const route = { dst: '192.168.2.0/24', gateway: '10.0.0.12', dev: 'dmvpn0', protocol: RouteProtocol.NHRP };
  await port.addRoute(route);
  await assert.rejects(port.addRoute(route), isErr('netlink', 'EEXIST', 'adding route 192.168.2.0/24 via 10.0.0.12 dev dmvpn0: File exists (EEXIST)'));
  await assert.rejects(port.addRoute({ ...route, dev: 'dmvpn9' }), isErr('netlink', 'ENODEV', 'adding route 192.168.2.0/24 via 10.0.0.12 dev dmvpn9: No such device (ENODEV)'));
  await assert.rejects(port.deleteRoute({ dst: '192.168.3.0/24', table: 100 }), isErr('netlink', 'ESRCH', 'deleting route 192.168.3.0/24 table 100: No such process (ESRCH)'));
  await assert.rejects(port.createLink({ kind: 'gre', name: 'dmvpn1', underlay: 'nope0' }), isErr('netlink', 'ENODEV'));
  await assert.rejects(port.createLink({ kind: 'gre', name: 'dmvpn1', ttl: 64, ignoreDf: true }), isErr('bad-argument', 'EINVAL'));
  // IOS's default on ip_gre: a fixed TTL, no pmtudisc, DF never set.
  await port.createLink({ kind: 'gre', name: 'dmvpn2', ttl: 255, pmtudisc: false, ignoreDf: true });
  assert.deepEqual((await port.getLink('dmvpn2'))?.gre, { ttl: 255, tos: 0, pmtudisc: false, ignoreDf: true });
  port.close();
});

test('fake: NHRP mappings on ip_gre take the 4-byte NBMA address as lladdr', async () => {
  const port = new FakeRtnetlink();
  await port.createLink({ kind: 'gre', name: 'dmvpn0', key: 1 });
  await port.addNeighbour({ dev: 'dmvpn0', address: '10.0.0.12', lladdr: nbmaLladdr('198.51.100.12') });
  await port.replaceNeighbour({ dev: 'dmvpn0', address: '10.0.0.13', lladdr: nbmaLladdr('198.51.100.13'), state: 'reachable' });
  await assert.rejects(
    port.addNeighbour({ dev: 'dmvpn0', address: '10.0.0.12', lladdr: nbmaLladdr('198.51.100.99') }),
    isErr('netlink', 'EEXIST', 'adding neighbour 10.0.0.12 lladdr 198.51.100.99 dev dmvpn0: File exists (EEXIST)'),
  );
  assert.deepEqual(
    (await port.listNeighbours('dmvpn0')).map((n) => [n.address, n.lladdr, n.state]),
    [
      ['10.0.0.12', Uint8Array.of(198, 51, 100, 12), 'permanent'],
      ['10.0.0.13', Uint8Array.of(198, 51, 100, 13), 'reachable'],
    ],
  );
  await port.deleteNeighbour('dmvpn0', '10.0.0.12');
  await assert.rejects(port.deleteNeighbour('dmvpn0', '10.0.0.12'), isErr('netlink', 'ENOENT'));
  assert.throws(() => nbmaLladdr('198.51.100'), isErr('bad-argument', 'EINVAL'));
});

test('fake: TUN neighbours collapse to 0.0.0.0 without lladdr, as the kernel does', async () => {
  const port = new FakeRtnetlink({ links: [{ name: 'tun0', kind: 'tun' }] });
  const t = await runTunScenario(port, 'tun0');
  assert.ok(t.outcomes.every((o) => o.ok));
  assert.deepEqual(t.neighbours, [{ address: '0.0.0.0', state: 'permanent' }]);
  assert.deepEqual(t.link, { name: 'tun0', kind: 'tun', up: true, mtu: 1500, addrLen: 0 });
});

test('fake: link watchers see external devices, changes, deletes and overruns', async () => {
  const port = withVeth();
  const events: LinkEvent[] = [];
  const sub = port.watchLinks((e) => events.push(e));
  const thrower = port.watchLinks(() => {
    throw new Error('a bad watcher');
  });
  port.addExternalLink({ name: 'eth9' });
  await port.setLinkUp('eth9', true);
  await port.setLinkUp('eth9', true); // no change, no event
  await port.setLinkMtu('eth9', 9000);
  port.setCarrier('eth9', false);
  port.overrun();
  await port.deleteLink('eth9');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    events.map((e) => (e.type === 'overrun' ? ['overrun', e.error.errnoCode] : [e.type, e.link.name, e.link.up, e.link.running, e.link.mtu])),
    [
      ['new', 'eth9', false, false, 1500],
      ['new', 'eth9', true, true, 1500],
      ['new', 'eth9', true, true, 9000],
      ['new', 'eth9', true, false, 9000],
      ['overrun', 'ENOBUFS'],
      ['delete', 'eth9', false, false, 9000],
    ],
  );
  sub.close();
  thrower.close();
  await port.setLinkUp('v0', true);
  await new Promise((r) => setImmediate(r));
  assert.equal(events.length, 6, 'closed subscriptions hear nothing');
});

test('fake: failNext makes the next change fail after its own checks; close ends the port', async () => {
  const port = withVeth();
  port.failNext(Errno.ENOBUFS);
  await assert.rejects(port.getLink('nope0'), isErr('netlink', 'ENODEV'), 'reads are not affected');
  await assert.rejects(port.setLinkUp('v0', true), isErr('netlink', 'ENOBUFS', 'setting v0 up: No buffer space available (ENOBUFS)'));
  assert.equal((await port.getLink('v0')).up, false, 'a failed change changes nothing');
  await port.setLinkUp('v0', true);
  port.close();
  await assert.rejects(port.listLinks(), isErr('socket', 'EBADF'));
});

test('fake: unsupported link kinds say which module is missing', async () => {
  const port = new FakeRtnetlink({ linkKinds: [] });
  await assert.rejects(
    port.createLink({ kind: 'gre', name: 'dmvpn0', key: 7 }),
    isErr('unsupported', 'EOPNOTSUPP', 'creating gre device dmvpn0: ip_gre unavailable: this kernel has no "gre" link type (Operation not supported, EOPNOTSUPP)'),
  );
  await assert.rejects(port.createLink({ kind: 'dummy', name: 'd0' }), isErr('unsupported', 'EOPNOTSUPP'));
  await assert.rejects(port.createLink({ kind: 'gre', name: 'lo' }), isErr('netlink', 'EEXIST'), 'a taken name is checked first, as rtnl_newlink does');
});

test('fake: routes behave as a set keyed by (table, prefix, metric)', async () => {
  const route = fc.record({
    a: fc.integer({ min: 0, max: 3 }),
    len: fc.constantFrom(8, 16, 24, 32),
    metric: fc.constantFrom(0, 10, 20),
    table: fc.constantFrom(254, 100, 1000),
  });
  await fc.assert(
    fc.asyncProperty(fc.array(route, { maxLength: 12 }), fc.integer(), async (rs, seed) => {
      const port = new FakeRtnetlink();
      const key = (r: (typeof rs)[number]) => `${r.table} ${10 + r.a}.0.0.0/${r.len} ${r.metric}`;
      const spec = (r: (typeof rs)[number]) => ({ dst: `${10 + r.a}.0.0.0/${r.len}`, type: 'blackhole' as const, metric: r.metric, table: r.table, protocol: RouteProtocol.EIGRP });
      const model = new Set<string>();
      for (const r of rs) {
        if (model.has(key(r))) await assert.rejects(port.addRoute(spec(r)), isErr('netlink', 'EEXIST'));
        else await port.addRoute(spec(r));
        model.add(key(r));
      }
      const listed = await port.listRoutes({ table: 'all', protocol: RouteProtocol.EIGRP });
      assert.deepEqual(new Set(listed.map((x) => `${x.table} ${x.dst} ${x.metric}`)), model);
      const order = [...model].sort((x, y) => ((x.length * 31 + seed) % 7) - ((y.length * 31 + seed) % 7));
      for (const k of order) {
        const [table, dst, metric] = k.split(' ');
        await port.deleteRoute({ dst, table: Number(table), metric: Number(metric), protocol: RouteProtocol.EIGRP });
      }
      assert.deepEqual(await port.listRoutes({ table: 'all' }), []);
      for (const k of order) {
        const [table, dst] = k.split(' ');
        await assert.rejects(port.deleteRoute({ dst, table: Number(table) }), isErr('netlink', 'ESRCH'));
      }
    }),
    { numRuns: 100 },
  );
});
