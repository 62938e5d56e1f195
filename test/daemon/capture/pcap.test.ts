import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseCapture, readCapture, writePcap, stripLink, CaptureError, LinkType } from '../../../daemon/capture/pcap.js';
import { needsVectors, vectorPath } from '../../support/vectors.js';

test('pcap: write then read back, raw IP link type', () => {
  const file = writePcap([{ data: Uint8Array.of(0x45, 1, 2) }, { data: Uint8Array.of(0x45, 3) }]);
  const pkts = parseCapture(file);
  assert.equal(pkts.length, 2);
  assert.equal(pkts[1].index, 2);
  assert.equal(pkts[0].linkType, LinkType.RAW);
  assert.deepEqual(stripLink(pkts[1])?.payload, Uint8Array.of(0x45, 3));
});

test('pcap: not a capture, truncated record, bad pcapng block', () => {
  assert.throws(() => parseCapture(new TextEncoder().encode('hello world, not a pcap')), (e: unknown) => e instanceof CaptureError && e.code === 'not-a-capture');
  assert.throws(() => parseCapture(Uint8Array.of(1)), CaptureError);
  const file = writePcap([{ data: new Uint8Array(40) }]);
  assert.throws(() => parseCapture(file.subarray(0, file.length - 3)), (e: unknown) => e instanceof CaptureError && e.code === 'truncated');
  const ng = Uint8Array.of(0x0a, 0x0d, 0x0d, 0x0a, 5, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a);
  assert.throws(() => parseCapture(ng), (e: unknown) => e instanceof CaptureError && e.code === 'bad-block');
});

test('pcap: reads the Ethernet pcap and the pcapng vectors', needsVectors, () => {
  const a = parseCapture(new Uint8Array(readFileSync(vectorPath('pcap', 'NHRP_registration.pcap'))));
  assert.equal(a.length, 4);
  assert.equal(stripLink(a[0])?.etherType, 0x0800);
  const b = parseCapture(new Uint8Array(readFileSync(vectorPath('pcap', 'nhrp.pcapng'))));
  assert.equal(b.length, 25);
  assert.equal(stripLink(b[0])?.etherType, 0x0800);
});

test('pcap: a capture cut mid-record keeps the packets before the cut beside the error', () => {
  const file = writePcap([{ data: Uint8Array.of(0x45, 1) }, { data: Uint8Array.of(0x45, 2) }, { data: new Uint8Array(40) }]);
  const r = readCapture(file.subarray(0, file.length - 10));
  assert.equal(r.packets.length, 2);
  assert.equal(r.error?.code, 'truncated');
  assert.deepEqual(readCapture(file).packets.length, 3);
  assert.equal(readCapture(file).error, undefined);
  assert.equal(readCapture(Uint8Array.of(1, 2)).error?.code, 'not-a-capture');
});
