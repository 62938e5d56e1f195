/**
 * The pure parts of the kernel throughput benchmark (scripts/bench/kernel-throughput.ts): the
 * reader of `ip -s xfrm state` (its ESP check), the shortcut-route check on `ip -N -j route`, and
 * the figures table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isNhrpShortcut, parseXfrmStates, throughputTable } from '../../scripts/bench/kernel-throughput.js';

// iproute2's layout for two transport-mode ESP states (AES-GCM with a 1024-packet ESN window, then a
// plain one without counters' companions), keys shortened.
const XFRM_S = `src 203.0.113.12 dst 203.0.113.11
\tproto esp spi 0xc2f1a005(3270615045) reqid 1677721602(0x64000002) mode transport
\treplay-window 0 seq 0x00000000 flag esn (0x00000080)
\taead rfc4106(gcm(aes)) 0x00112233445566778899aabbccddeeff0011223344556677 (288 bits) 128
\tanti-replay esn context:
\t seq-hi 0x0, seq 0x0, oseq-hi 0x0, oseq 0x1d4c
\t replay_window 1024, bitmap-length 32
\tsel src 0.0.0.0/0 dst 0.0.0.0/0 uid 0
\tlifetime config:
\t  limit: soft (INF)(bytes), hard (INF)(bytes)
\t  limit: soft (INF)(packets), hard (INF)(packets)
\t  expire add: soft 3420(sec), hard 3600(sec)
\t  expire use: soft 0(sec), hard 0(sec)
\tlifetime current:
\t  10945280(bytes), 7500(packets)
\t  add 2026-11-24 19:40:01 use 2026-11-24 19:40:05
\tstats:
\t  replay-window 0 replay 0 failed 0
src 203.0.113.12 dst 203.0.113.11
\tproto esp spi 0x0000a001(40961) reqid 1677721602(0x64000002) mode transport
\treplay-window 0 seq 0x00000000 flag  (0x00000000)
\tsel src 0.0.0.0/0 dst 0.0.0.0/0 uid 0
\tlifetime config:
\t  limit: soft (INF)(bytes), hard (INF)(bytes)
\t  limit: soft (INF)(packets), hard (INF)(packets)
\tlifetime current:
\t  0(bytes), 0(packets)
\t  add 2026-11-24 19:41:00 use -
\tstats:
\t  replay-window 0 replay 0 failed 0
`;

test('parseXfrmStates reads addresses, SPI and the current counters of each state', () => {
  assert.deepEqual(parseXfrmStates(XFRM_S), [
    { src: '203.0.113.12', dst: '203.0.113.11', proto: 'esp', spi: 0xc2f1a005, bytes: 10945280, packets: 7500 },
    { src: '203.0.113.12', dst: '203.0.113.11', proto: 'esp', spi: 0xa001, bytes: 0, packets: 0 },
  ]);
});

test('parseXfrmStates: no states, and states listed without -s (no counters), give nothing', () => {
  assert.deepEqual(parseXfrmStates(''), []);
  const noStats = XFRM_S.split('\n').filter((l) => !/lifetime|limit|expire|\(bytes\)|add 2026|stats|replay 0/.test(l)).join('\n');
  assert.deepEqual(parseXfrmStates(noStats), []);
});

test('isNhrpShortcut: only the single protocol-191 route via the peer on Tunnel0', () => {
  const route = (gateway: string, dev: string, protocol: string | number): string =>
    JSON.stringify([{ dst: '192.168.1.0/24', gateway, dev, protocol, flags: ['onlink'] }]);
  assert.equal(isNhrpShortcut(route('10.0.0.11', 'Tunnel0', '191'), '10.0.0.11'), true);
  assert.equal(isNhrpShortcut(route('10.0.0.11', 'Tunnel0', 191), '10.0.0.11'), true);
  // The EIGRP route via the hub (protocol 192), a route elsewhere, or none at all is not the shortcut.
  assert.equal(isNhrpShortcut(route('10.0.0.1', 'Tunnel0', '192'), '10.0.0.11'), false);
  assert.equal(isNhrpShortcut(route('10.0.0.11', 'eth0', '191'), '10.0.0.11'), false);
  assert.equal(isNhrpShortcut('[]', '10.0.0.11'), false);
  assert.equal(isNhrpShortcut('', '10.0.0.11'), false);
});

test('throughputTable: medians, rounds and the shortcut / plain ratio per comparison, with the VM note', () => {
  const lines = throughputTable([
    { dataplane: 'kernel', subject: 'GRE', plain: [100, 300, 200], shortcut: [150, 50, 100], direct: 'hub received 3' },
    { dataplane: 'kernel', subject: 'GRE + ESP esp-gcm 256', plain: [200, 200, 200], shortcut: [40, 60, 50], direct: 'sealed 9' },
  ], { cpus: 2, kernel: '6.1.0-x-amd64', inVm: true });
  assert.match(lines[0], /2 vCPUs under QEMU TCG .*absolute figures mean little/);
  const grePlain = lines.find((l) => l.includes("plain routing (beside GRE)"))!;
  assert.match(grePlain, /\s200\s+100 300 200\s*$/);
  const gre = lines.find((l) => l.includes('kernel dataplane shortcut, GRE '))!;
  assert.match(gre, /\s100\s+150 50 100\s+0\.50 \(50 %\)$/);
  const esp = lines.find((l) => l.includes('shortcut, GRE + ESP'))!;
  assert.match(esp, /\s50\s+40 60 50\s+0\.25 \(25 %\)$/);
  assert.ok(lines.includes('  GRE: hub received 3'));
  assert.match(throughputTable([], { cpus: 1, kernel: 'k', inVm: false })[0], /not in the VM/);
});
