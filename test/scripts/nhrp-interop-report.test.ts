/**
 * The analysis behind the FRR nhrpd interop test (scripts/vm/nhrp-interop-report.ts), checked on
 * the host against real captures, so that test/vm/frr-nhrpd.test.ts's assertions about NHRP
 * packets and echo paths rest on a reading that is known to be right.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyseCapture, compareCaches } from '../../scripts/vm/nhrp-interop-report.js';
import type { FrrCacheRow } from '../../scripts/vm/nhrp-interop-frr.js';
import type { NhrpEntryJson } from '../../daemon/show/nhrp.js';
import { needsVectors, vectorPath } from '../support/vectors.js';
import { needsTool } from '../support/tools.js';

const opts = { ...needsVectors, ...needsTool('tshark') };

test('capture analysis: echoes in GRE keep their outer (NBMA) and inner (tunnel) addresses', opts, () => {
  const r = analyseCapture(vectorPath('pcap', 'various_gre.pcap'), '10.172.64.6', '10.172.64.7');
  assert.equal(r.echoes.length, 10);
  assert.deepEqual(r.echoes.slice(0, 2).map((e) => [e.frame, e.src, e.dst, e.innerSrc, e.innerDst, e.kind]), [
    [25, '10.172.64.6', '10.172.64.7', '172.17.1.54', '172.17.1.55', 'request'],
    [26, '10.172.64.7', '10.172.64.6', '172.17.1.55', '172.17.1.54', 'reply'],
  ]);
  assert.ok(r.echoes.every((e) => e.epoch > 1.4e9 && e.epoch < 1.6e9), 'epoch seconds from the capture');
  assert.equal(r.directEchoes, 10);
  // Other addresses: the same echoes are not "direct" between them.
  assert.equal(analyseCapture(vectorPath('pcap', 'various_gre.pcap'), '10.172.64.6', '10.172.64.8').directEchoes, 0);
});

test('capture analysis: NHRP packets, and the echo a Traffic Indication quotes is no echo on the wire', opts, () => {
  const r = analyseCapture(vectorPath('pcap', 'nhrp-trace.pcap'), '192.168.200.3', '192.168.200.2');
  assert.deepEqual(r.packets.map((p) => [p.src, p.dst, p.type, p.srcProto, p.dstProto, p.code, p.requestId]), [
    ['192.168.200.1', '192.168.200.3', 'traffic-indication', '10.255.255.1', '10.255.255.3', null, null],
    ['192.168.200.3', '192.168.200.1', 'resolution-request', '10.255.255.3', '10.255.255.2', 0, 5],
    ['192.168.200.1', '192.168.200.2', 'resolution-request', '10.255.255.3', '10.255.255.2', 0, 5],
    ['192.168.200.2', '192.168.200.3', 'resolution-reply', '10.255.255.3', '10.255.255.2', 0, 5],
  ]);
  assert.deepEqual([r.echoes, r.directEchoes, r.unreachables, r.redirects], [[], 0, [], []]);
});

test('cache comparison: rows by protocol address, each side\'s view of itself filled in', () => {
  const frr: FrrCacheRow[] = [
    { interface: 'gre1', type: 'nhs', protocol: '10.0.0.1', nbma: '203.0.113.1', claimed_nbma: '203.0.113.1', used: false, timeout: true, auth: false, identity: '' },
    { interface: 'gre1', type: 'dynamic', protocol: '10.0.0.12', nbma: '203.0.113.12', claimed_nbma: '203.0.113.12', used: false, timeout: true, auth: false, identity: '' },
    { interface: 'gre1', type: 'local', protocol: '10.0.0.11', nbma: '203.0.113.11', claimed_nbma: '203.0.113.11', used: false, timeout: false, auth: false, identity: '-' },
  ];
  const ours = [
    { prefix: '10.0.0.11', prefixLength: 32, type: 'dynamic', nbma: '203.0.113.11' },
    { prefix: '10.0.0.1', prefixLength: 32, type: 'static', nbma: '203.0.113.1' },
    { prefix: '192.168.0.0', prefixLength: 24, type: 'dynamic', nbma: '203.0.113.11' },
  ] as unknown as NhrpEntryJson[];
  assert.deepEqual(compareCaches(frr, ours, { protocol: '10.0.0.12', nbma: '203.0.113.12' }), [
    { protocol: '10.0.0.1', frr: { type: 'nhs', nbma: '203.0.113.1' }, ours: { type: 'static', nbma: '203.0.113.1' } },
    { protocol: '10.0.0.11', frr: { type: 'local', nbma: '203.0.113.11' }, ours: { type: 'dynamic', nbma: '203.0.113.11' } },
    { protocol: '10.0.0.12', frr: { type: 'dynamic', nbma: '203.0.113.12' }, ours: { type: 'local', nbma: '203.0.113.12' } },
  ]);
});
