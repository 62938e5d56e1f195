/**
 * The kernel dataplane's usage signal on this host (no ip_gre here, so no start()): in a
 * namespace where a veth carries the tunnel's name and the daemon's nftables table with its
 * usage set, traffic routed out of the device shows up in peers() as per-peer txPackets and
 * txBytes, totals that only grow (what daemon/tunnel.ts turns into NHRP's "used" marks), also
 * across a table re-installed under it. The rest of the dataplane runs inside the VM
 * (test/vm/lab-kernel.test.ts, test/vm/kernel-shortcut.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { KernelDataplane } from '../../daemon/kernel-dataplane.js';
import type { TunnelInterfaceConfig } from '../../daemon/config/model.js';
import { silentLogger } from '../../daemon/log.js';
import { FakeRtnetlink } from '../../platform/fake/netlink.js';
import { FakeXfrm } from '../../platform/fake/xfrm.js';
import { TunnelTaps } from '../../platform/linux/nftables.js';
import { isRoot, needsTool } from '../support/tools.js';

const asRoot = isRoot() ? needsTool('ip', 'nft', 'ping') : { skip: 'needs root (creates a network namespace)' };

function sh(args: string[]): string {
  const r = spawnSync(args[0], args.slice(1), { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('kernel dataplane: per-peer transmit totals from the nftables usage set', asRoot, async () => {
  const ns = `kdpu-${process.pid}`;
  sh(['ip', 'netns', 'add', ns]);
  try {
    const ip = (...args: string[]): string => sh(['ip', '-n', ns, ...args]);
    ip('link', 'add', 'Tunnel0', 'type', 'veth', 'peer', 'name', 'far');
    ip('link', 'set', 'Tunnel0', 'up');
    ip('link', 'set', 'far', 'up');
    ip('addr', 'add', '10.0.0.12/24', 'dev', 'Tunnel0');
    // A shortcut route through 10.0.0.11, as the router installs it; 10.0.0.13 is reached on-link.
    ip('route', 'add', '192.168.1.0/24', 'via', '10.0.0.11', 'dev', 'Tunnel0');
    for (const n of ['11', '13']) ip('neigh', 'add', `10.0.0.${n}`, 'lladdr', `02:00:00:00:00:${n}`, 'dev', 'Tunnel0', 'nud', 'permanent');
    const nft = ['ip', 'netns', 'exec', ns, 'nft'];
    // The table start() installs (the same name: dmvpnd_<tunnel>).
    const taps = new TunnelTaps('Tunnel0', { nft });
    await taps.install({ device: 'Tunnel0', multicastGroup: 9, txUsage: true });

    const rtnl = new FakeRtnetlink({ links: [{ name: 'Tunnel0', kind: 'gre' }] });
    const dp = new KernelDataplane({
      // Only the name is read before start().
      cfg: { name: 'Tunnel0' } as TunnelInterfaceConfig,
      nbma: '203.0.113.12', nhsOverlay: '10.0.0.1', redirect: false, handUpProtocol: 0, protected: false, index: 0,
      rtnl, xfrm: () => new FakeXfrm(), log: silentLogger(), nextHopOf: () => undefined, onRecovered: () => undefined,
      enqueue: (op) => op().catch(() => undefined), nft,
    });
    dp.setPeer('10.0.0.1', '203.0.113.1', true);
    dp.setPeer('10.0.0.11', '203.0.113.11', false);
    dp.setPeer('10.0.0.13', '203.0.113.13', false);
    await dp.settled();
    const tx = (): Record<string, [number | undefined, number | undefined]> =>
      Object.fromEntries(dp.peers().map((p) => [p.overlay, [p.txPackets, p.txBytes]]));
    assert.deepEqual(tx(), { '10.0.0.1': [0, 0], '10.0.0.11': [0, 0], '10.0.0.13': [0, 0] }, 'counted, nothing yet');

    const ping = (dst: string, count: number): void => {
      spawnSync('ip', ['netns', 'exec', ns, 'ping', '-n', '-q', '-c', String(count), '-i', '0.2', '-W', '1', dst], { timeout: 20_000 });
    };
    ping('192.168.1.10', 3);
    await dp.readUsage();
    assert.deepEqual(tx(), { '10.0.0.1': [0, 0], '10.0.0.11': [3, 3 * 84], '10.0.0.13': [0, 0] });
    ping('10.0.0.13', 2);
    ping('192.168.1.10', 1);
    await Promise.all([dp.readUsage(), dp.readUsage()]); // one nft run for both
    assert.deepEqual(tx(), { '10.0.0.1': [0, 0], '10.0.0.11': [4, 4 * 84], '10.0.0.13': [2, 2 * 84] });

    // The table replaced under the dataplane (someone else re-installed it): the new set starts
    // from zero and the totals go on from where they were.
    await taps.install({ device: 'Tunnel0', multicastGroup: 9, txUsage: true });
    ping('192.168.1.10', 1);
    await dp.readUsage();
    assert.deepEqual(tx()['10.0.0.11'], [5, 5 * 84]);
    assert.deepEqual(tx()['10.0.0.13'], [2, 2 * 84]);

    // No set at all (flushed): the totals stay, the read counts as done, nothing throws.
    sh([...nft, 'flush', 'ruleset']);
    await dp.readUsage();
    assert.deepEqual(tx()['10.0.0.11'], [5, 5 * 84]);
    const s = dp.stats();
    assert.deepEqual([s.usageReads, s.usageReadFailures], [4, 0]);
    await dp.stop();
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
});
