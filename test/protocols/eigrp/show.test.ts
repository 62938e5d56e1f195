/**
 * Show commands: the data of a small DMVPN-like cloud rendered in IOS layout,
 * compared line for line (column positions included).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatUptime, renderInterfaces, renderNeighbors, renderTopology, renderTraffic, shortIfName } from '../../../protocols/eigrp/show.js';
import { Sim, eth } from './sim.js';

function cloud() {
  const sim = new Sim(1);
  const nets = [{ address: '10.0.0.0' }, { address: '192.168.0.0', wildcard: '0.0.255.255' }];
  const tun = { bandwidth: 1000, delay: 5000 };
  const r1 = sim.addRouter('R1', { as: 100, routerId: '10.0.0.1', interfaces: [eth('Tunnel0', '10.0.0.1', 24, { ...tun, splitHorizon: false })], networks: nets });
  const r2 = sim.addRouter('R2', { as: 100, routerId: '10.0.0.11', interfaces: [eth('Tunnel0', '10.0.0.11', 24, tun)], networks: nets, stub: { connected: true, summary: true } });
  sim.addRouter('R3', { as: 100, routerId: '10.0.0.12', interfaces: [eth('Tunnel0', '10.0.0.12', 24, tun)], networks: nets });
  for (const r of ['R1', 'R2', 'R3']) sim.attach('c', r, 'Tunnel0');
  sim.start();
  sim.apply(r1, r1.eigrp.setConnected([{ prefix: '192.168.1.0', prefixLength: 24, ifname: 'Ethernet0/0', bandwidth: 10000, delay: 100 }], 0));
  sim.apply(r2, r2.eigrp.setConnected([{ prefix: '192.168.11.0', prefixLength: 24, ifname: 'Ethernet0/0', bandwidth: 10000, delay: 100 }], 0));
  sim.run(65_000);
  return { sim, r1 };
}

test('show ip eigrp neighbors [detail]', () => {
  const { sim, r1 } = cloud();
  const list = r1.eigrp.showNeighbors(sim.now);
  assert.equal(renderNeighbors(100, list), [
    'EIGRP-IPv4 Neighbors for AS(100)',
    'H   Address                 Interface              Hold Uptime   SRTT   RTO  Q  Seq',
    '                                                   (sec)         (ms)       Cnt Num',
    '1   10.0.0.12               Tu0                      10 00:01:04    2   200  0  5',
    '0   10.0.0.11               Tu0                      10 00:01:04    2   200  0  4',
    '',
  ].join('\n'));
  const detail = renderNeighbors(100, list, true).split('\n');
  assert.deepEqual(detail.slice(6, 12), [
    '0   10.0.0.11               Tu0                      10 00:01:04    2   200  0  4',
    '   Version 12.4/1.2, Retrans: 0, Retries: 0, Prefixes: 1',
    '   Topology-ids from peer - 0 ',
    '   Stub Peer Advertising (CONNECTED SUMMARY ) Routes',
    '   Suppressing queries',
    '',
  ]);
  // Column positions are IOS's: Hold ends under "Hold", the Q count under "Q", Seq starts under "Seq".
  const [header, , row] = renderNeighbors(100, list).split('\n').slice(1);
  assert.equal(row.indexOf('10 00:01:04') + 1, header.indexOf('Hold') + 3);
  assert.equal(row.lastIndexOf('0  5'), header.indexOf('Q'));
  assert.equal(row.length - 1, header.indexOf('Seq'));
});

test('show ip eigrp topology', () => {
  const { r1 } = cloud();
  assert.equal(renderTopology(100, '10.0.0.1', r1.eigrp.showTopology()), [
    'EIGRP-IPv4 Topology Table for AS(100)/ID(10.0.0.1)',
    'Codes: P - Passive, A - Active, U - Update, Q - Query, R - Reply,',
    '       r - reply Status, s - sia Status ',
    '',
    'P 10.0.0.0/24, 1 successors, FD is 3840000',
    '        via Connected, Tunnel0',
    'P 192.168.1.0/24, 1 successors, FD is 281600',
    '        via Connected, Ethernet0/0',
    'P 192.168.11.0/24, 1 successors, FD is 3865600',
    '        via 10.0.0.11 (3865600/281600), Tunnel0',
    '',
  ].join('\n'));
});

test('show ip eigrp topology: an active entry with its reply status', () => {
  const text = renderTopology(1, '1.1.1.1', [{
    prefix: '192.168.9.0', prefixLength: 24, code: 'A', state: 'active1', successors: 0, fd: 284160n, replies: 1, activeMs: 4000, queryOrigin: 'Local origin',
    paths: [{ kind: 'neighbor', address: '10.0.0.3', ifname: 'Ethernet0/0', distance: (1n << 64n) - 1n, reportedDistance: (1n << 64n) - 1n, successor: false, feasible: false, external: false, replyPending: true }],
  }]);
  assert.deepEqual(text.split('\n').slice(4, 7), [
    'A 192.168.9.0/24, 0 successors, FD is 284160, Q',
    '    1 replies, active 00:00:04, query-origin: Local origin',
    '        via 10.0.0.3 (Infinity/Infinity), r, Ethernet0/0',
  ]);
});

test('show ip eigrp interfaces [detail]', () => {
  const { r1 } = cloud();
  assert.equal(renderInterfaces(100, r1.eigrp.showInterfaces(), true), [
    'EIGRP-IPv4 Interfaces for AS(100)',
    '                              Xmit Queue   PeerQ        Mean   Pacing Time   Multicast    Pending',
    'Interface              Peers  Un/Reliable  Un/Reliable  SRTT   Un/Reliable   Flow Timer   Routes',
    'Tu0                      2        0/0       0/0           2      0/24           50           0',
    '  Hello-interval is 5, Hold-time is 15',
    '  Split-horizon is disabled',
    '  Next-hop-self is enabled',
    '  Authentication mode is not set',
    '',
  ].join('\n'));
});

test('show ip eigrp traffic, with drops by reason', () => {
  const { sim, r1 } = cloud();
  r1.eigrp.receive('Tunnel0', '10.0.0.12', new Uint8Array([2, 5, 0, 0]), sim.now);
  const text = renderTraffic(r1.eigrp.showTraffic());
  assert.deepEqual(text.split('\n'), [
    'EIGRP-IPv4 Traffic Statistics for AS(100)',
    '  Hellos sent/received: 15/30',
    '  Updates sent/received: 5/6',
    '  Queries sent/received: 0/0',
    '  Replies sent/received: 0/0',
    '  Acks sent/received: 6/4',
    '  SIA-Queries sent/received: 0/0',
    '  SIA-Replies sent/received: 0/0',
    '  Input Queue: 0/2000/1/1 (current/max/highest/drops)',
    '  Packets dropped:',
    '    truncated: 1',
    '',
  ]);
});

test('IOS short interface names and uptimes', () => {
  assert.equal(shortIfName('Tunnel0'), 'Tu0');
  assert.equal(shortIfName('GigabitEthernet0/1'), 'Gi0/1');
  assert.equal(shortIfName('FastEthernet0/0'), 'Fa0/0');
  assert.equal(shortIfName('eth0'), 'eth0');
  assert.equal(formatUptime(62_000), '00:01:02');
  assert.equal(formatUptime(26 * 3600_000), '1d02h');
  assert.equal(formatUptime(16 * 86400_000), '2w2d');
});
