/**
 * Metric arithmetic against numbers IOS prints, each worked out by hand from
 * RFC 7868 section 5.6.1 (classic) and 5.6.2 (wide).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_K_VALUES } from '../../../protocols/eigrp/build.js';
import {
  INFINITE_DISTANCE,
  addLink,
  classicBandwidthFromKbps,
  classicComposite,
  classicDelayFromPs,
  classicFromVector,
  classicMetricOf,
  interfaceVector,
  kbpsFromClassicBandwidth,
  psFromClassicDelay,
  ribMetric,
  vectorFromClassic,
  vectorFromWide,
  wideComposite,
  wideFromVector,
} from '../../../protocols/eigrp/metric.js';

const K = DEFAULT_K_VALUES;

test('classic composite: FastEthernet, 256 x (10^7/100000 + 100 usec/10) = 256 x 110 = 28160', () => {
  assert.equal(classicMetricOf(100_000, 10, K), 28160n);
});

test('classic composite: T1, 256 x (floor(10^7/1544) + 20000 usec/10) = 256 x (6476 + 2000) = 2169856', () => {
  assert.equal(classicMetricOf(1544, 2000, K), 2169856n);
});

test('classic composite: tunnel with bandwidth 1000 and delay 50000 usec = 256 x (10000 + 5000) = 3840000', () => {
  assert.equal(classicMetricOf(1000, 5000, K), 3840000n);
});

test('classic composite: IOS default tunnel (BW 100 kbit, DLY 50000 usec) = 256 x (100000 + 5000) = 26880000', () => {
  assert.equal(classicMetricOf(100, 5000, K), 26880000n);
});

test('classic composite: a path adds delays and keeps the slowest link (FastEthernet LAN behind 10 Mbit/s)', () => {
  // EIGRP_adjacency.pcap: R2 reports 192.168.2.0/24 with FastEthernet values; R1 adds its Ethernet link.
  const lan = interfaceVector({ bandwidth: 100_000, delay: 10, mtu: 1500 });
  const link = interfaceVector({ bandwidth: 10_000, delay: 100, mtu: 1500 });
  const total = addLink(lan, link);
  assert.equal(classicComposite(lan, K), 28160n, 'reported distance');
  assert.equal(classicComposite(total, K), 256n * (1000n + 110n), 'feasible distance 284160');
  assert.equal(total.hopCount, 1);
});

test('classic composite with K5: 256 x (BW + delay) x K5 / (reliability + K4)', () => {
  const k = { k1: 1, k2: 0, k3: 1, k4: 0, k5: 1, k6: 0 };
  const v = { ...interfaceVector({ bandwidth: 100_000, delay: 10, mtu: 1500 }), reliability: 128 };
  // 28160 x 1 / 128 = 220
  assert.equal(classicComposite(v, k), 220n);
});

test('classic composite with K2: load term BW / (256 - load)', () => {
  const k = { k1: 1, k2: 1, k3: 1, k4: 0, k5: 0, k6: 0 };
  const v = { ...interfaceVector({ bandwidth: 10_000, delay: 100, mtu: 1500 }), load: 255 };
  // BW x 256 = 256000; 256000 + 256000 / 1 + 25600 = 537600
  assert.equal(classicComposite(v, k), 537600n);
});

test('wide composite: FastEthernet 6553600 + 6553600 = 13107200, RIB 102400 (rib-scale 128)', () => {
  const v = interfaceVector({ bandwidth: 100_000, delay: 10, mtu: 1500 });
  const d = wideComposite(v, K);
  assert.equal(d, 13107200n);
  assert.equal(ribMetric(d, 'wide'), 102400);
});

test('wide composite: GigabitEthernet (10 usec) 655360 + 655360 = 1310720, RIB 10240', () => {
  const d = wideComposite(interfaceVector({ bandwidth: 1_000_000, delay: 1, mtu: 1500 }), K);
  assert.equal(d, 1310720n);
  assert.equal(ribMetric(d, 'wide'), 10240);
});

test('unreachable vectors have infinite distance in both styles', () => {
  const v = vectorFromClassic({ delay: 0xffffffff, bandwidth: 0, mtu: 1500, hopCount: 0, reliability: 0, load: 0, internalTag: 0, flags: 0 });
  assert.equal(classicComposite(v, K), INFINITE_DISTANCE);
  assert.equal(wideComposite(v, K), INFINITE_DISTANCE);
  assert.equal(ribMetric(INFINITE_DISTANCE, 'classic'), 0xffffffff);
});

test('classic units: the capture values map to kbit/s and picoseconds and back', () => {
  assert.equal(kbpsFromClassicBandwidth(25600), 100_000);
  assert.equal(kbpsFromClassicBandwidth(256000), 10_000);
  assert.equal(classicBandwidthFromKbps(1544), 6476 * 256);
  assert.equal(psFromClassicDelay(2560), 100_000_000n, '2560 = 100 usec');
  assert.equal(classicDelayFromPs(100_000_000n), 2560);
});

test('property: any classic delay survives the picosecond round trip', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 0xfffffffe }), (d) => classicDelayFromPs(psFromClassicDelay(d)) === d));
});

test('property: interface bandwidths survive the classic round trip', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 10_000_000 }), (kbps) => {
    const b = classicBandwidthFromKbps(kbps);
    return classicBandwidthFromKbps(kbpsFromClassicBandwidth(b)) === b;
  }));
});

test('wide encoding round trip keeps the vector', () => {
  const v = addLink(interfaceVector({ bandwidth: 100_000, delay: 10, mtu: 1500 }), interfaceVector({ bandwidth: 1000, delay: 5000, mtu: 1400 }));
  assert.deepEqual(vectorFromWide(wideFromVector(v)), v);
  assert.deepEqual(vectorFromClassic(classicFromVector(v)), v);
});
