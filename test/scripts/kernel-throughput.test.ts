/**
 * The pure parts of the kernel throughput benchmark (scripts/bench/kernel-throughput.ts): the
 * reader of `ip -s xfrm state` (its ESP check), the shortcut-route check on `ip -N -j route`, and
 * the figures table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  acceleratedCryptoModules,
  cryptoInUse,
  isNhrpShortcut,
  parseProcCrypto,
  parseXfrmStates,
  rpsMask,
  tcpLossCounters,
  tcpLossText,
  throughputTable,
} from '../../scripts/bench/kernel-throughput.js';

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

// ---- what the ESP figure rests on: the crypto driver, the CPU's acceleration, TCP's view of reordering ----

/** /proc/crypto as the VM showed it with aesni_intel loaded and two ESP states up (fields trimmed). */
const PROC_CRYPTO = `name         : __rfc4106(gcm(aes))
driver       : cryptd(__rfc4106-gcm-aesni)
module       : cryptd
priority     : 450
refcnt       : 15
selftest     : passed
internal     : yes
type         : aead
async        : yes

name         : rfc4106(gcm(aes))
driver       : rfc4106-gcm-aesni
module       : aesni_intel
priority     : 400
refcnt       : 15
selftest     : passed
internal     : no
type         : aead
async        : yes

name         : rfc4106(gcm(aes))
driver       : rfc4106(gcm_base(ctr(aes-generic),ghash-generic))
module       : gcm
priority     : 100
refcnt       : 1
selftest     : passed
internal     : no
type         : aead
async        : no

name         : aes
driver       : aes-generic
module       : kernel
priority     : 100
refcnt       : 1
selftest     : passed
internal     : no
type         : cipher
blocksize    : 16
`;

test('parseProcCrypto reads every block; cryptoInUse picks the highest-priority rfc4106(gcm(aes)) with users', () => {
  const impls = parseProcCrypto(PROC_CRYPTO);
  assert.equal(impls.length, 4);
  assert.deepEqual(impls[3], { name: 'aes', driver: 'aes-generic', module: 'kernel', priority: 100, refcnt: 1 });
  assert.deepEqual(cryptoInUse(impls), { name: 'rfc4106(gcm(aes))', driver: 'rfc4106-gcm-aesni', module: 'aesni_intel', priority: 400, refcnt: 15, async: true });
  // The internal __rfc4106 entry has another name; a registered but unused implementation (refcnt 1) is not "in use".
  assert.equal(cryptoInUse(impls.filter((i) => i.module !== 'aesni_intel')), undefined);
  assert.equal(cryptoInUse(parseProcCrypto('')), undefined);
  // Without aesni_intel, as in the VM before the fix: the template instance on aes-generic.
  const generic = PROC_CRYPTO.replace('refcnt       : 1\nselftest     : passed\ninternal     : no\ntype         : aead\nasync        : no', 'refcnt       : 9\nselftest     : passed\ninternal     : no\ntype         : aead\nasync        : no');
  assert.equal(cryptoInUse(parseProcCrypto(generic).filter((i) => i.module !== 'aesni_intel'))?.driver, 'rfc4106(gcm_base(ctr(aes-generic),ghash-generic))');
  assert.equal(cryptoInUse(parseProcCrypto(generic).filter((i) => i.module !== 'aesni_intel'))?.async, false);
});

test('acceleratedCryptoModules: aesni_intel for the aes flag, ghash_clmulni_intel for pclmulqdq, only as whole words', () => {
  const cpu = (flags: string): string => `processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: ${flags}\nbugs\t\t:\n\nprocessor\t: 1\nflags\t\t: ${flags}\n`;
  assert.deepEqual(acceleratedCryptoModules(cpu('fpu sse2 pclmulqdq ssse3 sse4_2 aes avx avx2 vaes')), ['aesni_intel', 'ghash_clmulni_intel']);
  assert.deepEqual(acceleratedCryptoModules(cpu('fpu sse2 aes')), ['aesni_intel']);
  // vaes or vpclmulqdq alone are not the flags the modules bind to.
  assert.deepEqual(acceleratedCryptoModules(cpu('fpu sse2 vaes vpclmulqdq')), []);
  assert.deepEqual(acceleratedCryptoModules(''), []);
});

test('tcpLossCounters and tcpLossText: retransmissions, the spurious ones (D-SACK) and reorderings, as growth', () => {
  // nstat -asz lines: name, value, rate.
  const before = tcpLossCounters('#kernel\nTcpRetransSegs                  10                 0.0\nTcpExtTCPSACKReorder            2                  0.0\n');
  assert.deepEqual(before, { retransSegs: 10, dsackRecv: 0, sackReorder: 2 });
  // The figures of the first diagnostic run (h2 over one iperf3 round on GRE + ESP).
  const after = tcpLossCounters('#kernel\nTcpRetransSegs 156 0.0\nTcpExtTCPDSACKRecv 129 0.0\nTcpExtTCPSACKReorder 1417 0.0\nTcpExtTCPDSACKRecvSegs 131 0.0\n');
  assert.deepEqual(after, { retransSegs: 156, dsackRecv: 129, sackReorder: 1417 });
  assert.equal(tcpLossText(before, after), "h2's TCP retransmitted 146 segments, D-SACK proved 129 of them spurious (88 %), and it detected 1415 reorderings");
  assert.match(tcpLossText(after, after), /retransmitted 0 segments, D-SACK proved 0 of them spurious \(0 %\)/);
});

test('throughputTable: the per-packet baseline (GSO off) gets its row and a second ratio; notes follow the direct line', () => {
  const lines = throughputTable([
    { dataplane: 'kernel', subject: 'GRE + ESP esp-gcm 256', plain: [200, 200, 200], plainPerPacket: [40, 50, 60], shortcut: [10, 10, 10], direct: 'sealed 9', notes: ['crypto: rfc4106-gcm-aesni'] },
  ], { cpus: 2, kernel: 'k', inVm: true });
  const off = lines.find((l) => l.includes('plain routing, GSO off at h2 (beside GRE + ESP'))!;
  assert.match(off, /\s50\s+40 50 60\s*$/);
  const esp = lines.find((l) => l.includes('shortcut, GRE + ESP'))!;
  assert.match(esp, /\s10\s+10 10 10\s+0\.05 \(5 %\); per packet \(\/ GSO off\): 0\.20 \(20 %\)$/);
  assert.deepEqual(lines.slice(-2), ['  GRE + ESP esp-gcm 256: sealed 9', '  GRE + ESP esp-gcm 256: crypto: rfc4106-gcm-aesni']);
});

test('rpsMask: one bit per CPU in hex, as rps_cpus takes it, at least one CPU', () => {
  assert.equal(rpsMask(1), '1');
  assert.equal(rpsMask(2), '3');
  assert.equal(rpsMask(8), 'ff');
  assert.equal(rpsMask(36), 'fffffffff');
  assert.equal(rpsMask(0), '1');
});
