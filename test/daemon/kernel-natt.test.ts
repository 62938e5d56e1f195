/**
 * NAT-T on the kernel dataplane (daemon/kernel-natt.ts). EncapBook over KernelEsp and the
 * in-memory XFRM port, driven as KernelDataplane drives them (the IKE runtime's inbound SA first,
 * then the outbound one with the ports): a NATed peer's outbound state gets encap 4500 -> its
 * translated port, its inbound states the same ports the other way round (the kernel takes ESP in
 * UDP only into a state with encap), installed again when encapsulation appears; a peer without
 * NAT keeps plain states; rekeys get encap at once. KernelNatt on loopback: IKE behind the marker
 * goes up without it, IKE and keepalives go out, counters under the dataplane's names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { FakeXfrm } from '../../platform/fake/xfrm.js';
import type { EspSa, EspSaKeys } from '../../platform/native/esp.js';
import { nativeAvailable } from '../../platform/native/index.js';
import { KernelEsp, ReqidPool } from '../../daemon/kernel-esp.js';
import { EncapBook, KernelNatt } from '../../daemon/kernel-natt.js';
import { silentLogger } from '../../daemon/log.js';

const LOCAL = '203.0.113.1';
const NATTED = '198.51.100.7';
const PLAIN = '203.0.113.11';
const GCM: EspSaKeys = { cipher: 'aes-gcm-128', key: Uint8Array.from({ length: 20 }, (_, i) => i + 1) };

/** KernelDataplane's setInboundSa / setOutboundSa, over a KernelEsp without its audit timer. */
function setup() {
  const xfrm = new FakeXfrm();
  const esp = new KernelEsp(xfrm, LOCAL, silentLogger(), { reqids: new ReqidPool(), auditIntervalMs: 0 });
  const book = new EncapBook();
  return {
    xfrm,
    esp,
    inbound: (spi: number, peer: string) => esp.setInboundSa(spi, GCM, peer, book.inboundSa(spi, GCM, peer)),
    outbound: (peer: string, sa: EspSa) => {
      const { encap, reinstall } = book.outboundSa(peer, sa);
      esp.setOutboundSa(peer, sa, encap);
      for (const i of reinstall) esp.setInboundSa(i.spi, i.sa, i.peer, i.encap);
    },
    deleteInbound: (spi: number) => {
      book.deleteInbound(spi);
      esp.deleteInboundSa(spi);
    },
  };
}

test('kernel NAT-T: a NATed peer\'s states carry UDP encapsulation both ways; a plain peer\'s none', async () => {
  const { xfrm, esp, inbound, outbound } = setup();
  inbound(0x1001, NATTED);
  outbound(NATTED, { ...GCM, spi: 0x2001, encap: { srcPort: 4500, dstPort: 61001 } });
  inbound(0x1002, PLAIN);
  outbound(PLAIN, { ...GCM, spi: 0x2002 });
  await esp.settled();
  const states = await xfrm.states();
  const enc = (spi: number) => {
    const s = states.find((x) => x.spi === spi);
    assert.ok(s, `state 0x${spi.toString(16)}`);
    return s.encap;
  };
  assert.deepEqual(enc(0x2001), { type: 2, sport: 4500, dport: 61001 }, 'outbound: from our 4500 to the NAT\'s port');
  assert.deepEqual(enc(0x1001), { type: 2, sport: 61001, dport: 4500 }, 'inbound: re-installed with the same ports');
  assert.equal(enc(0x2002), undefined);
  assert.equal(enc(0x1002), undefined);
  assert.equal(states.length, 4);
  assert.equal(esp.failures, 0);

  // A rekey: the new inbound SA has encap from the start (no re-install); the old one keeps its own.
  const before = xfrm.calls.length;
  inbound(0x1003, NATTED);
  outbound(NATTED, { ...GCM, spi: 0x2003, encap: { srcPort: 4500, dstPort: 61001 } });
  await esp.settled();
  const adds = xfrm.calls.slice(before).filter((c) => c.op === 'addState');
  assert.equal(adds.length, 2, 'one inbound and one outbound add');
  const after = await xfrm.states();
  assert.deepEqual(after.find((s) => s.spi === 0x1003)?.encap, { type: 2, sport: 61001, dport: 4500 });
  assert.deepEqual(after.find((s) => s.spi === 0x1001)?.encap, { type: 2, sport: 61001, dport: 4500 });

  // The NAT moved the peer: only the outbound state follows (the kernel takes ESP in UDP from any port).
  outbound(NATTED, { ...GCM, spi: 0x2003, seq: 100, encap: { srcPort: 4500, dstPort: 62002 } });
  await esp.settled();
  const moved = await xfrm.states();
  assert.deepEqual(moved.find((s) => s.spi === 0x2003)?.encap, { type: 2, sport: 4500, dport: 62002 });
  assert.deepEqual(moved.find((s) => s.spi === 0x1003)?.encap, { type: 2, sport: 61001, dport: 4500 });
  await esp.close();
});

test('kernel NAT-T: EncapBook re-installs a peer\'s inbound SAs only when encapsulation appears or goes', () => {
  const book = new EncapBook();
  assert.equal(book.inboundSa(1, GCM, NATTED), undefined);
  assert.equal(book.inboundSa(2, GCM, PLAIN), undefined);
  const on = book.outboundSa(NATTED, { ...GCM, spi: 10, encap: { srcPort: 4500, dstPort: 4500 } });
  assert.deepEqual(on.encap, { sport: 4500, dport: 4500 });
  assert.deepEqual(on.reinstall.map((r) => [r.spi, r.peer, r.encap]), [[1, NATTED, { sport: 4500, dport: 4500 }]]);
  assert.deepEqual(book.outboundSa(NATTED, { ...GCM, spi: 10, encap: { srcPort: 4500, dstPort: 5000 } }).reinstall, []);
  assert.deepEqual(book.inboundSa(3, GCM, NATTED), { sport: 5000, dport: 4500 });
  book.deleteInbound(1);
  const off = book.outboundSa(NATTED, { ...GCM, spi: 11 });
  assert.equal(off.encap, undefined);
  assert.deepEqual(off.reinstall.map((r) => [r.spi, r.encap]), [[3, undefined]], 'back to plain ESP');
  assert.deepEqual(book.outboundSa(PLAIN, { ...GCM, spi: 12 }), { reinstall: [] });
});

const native = nativeAvailable() ? {} : { skip: 'native addon not built (npm run build:native)' };

test('kernel NAT-T: the UDP 4500 socket hands IKE up without the marker and sends IKE and keepalives', native, async () => {
  const ikes: [string, number, string][] = [];
  const natt = new KernelNatt({ local: '127.0.0.1', port: 0, log: silentLogger(), onIke: (src, port, m) => ikes.push([src, port, Buffer.from(m).toString('hex')]) });
  assert.deepEqual(natt.counters(), {}, 'nothing before open');
  natt.open();
  const peer: Socket = createSocket('udp4');
  const got: Buffer[] = [];
  peer.on('message', (m) => got.push(m));
  await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()));
  try {
    const port = peer.address().port;
    const msg = Buffer.alloc(36, 0x5a);
    await new Promise<void>((r, j) => peer.send(Buffer.concat([Buffer.alloc(4), msg]), natt.port!, '127.0.0.1', (e) => (e ? j(e) : r())));
    assert.equal(natt.sendIke('127.0.0.1', port, msg), true);
    assert.equal(natt.sendNatKeepalive('127.0.0.1', port), true);
    const end = Date.now() + 3000;
    while ((ikes.length < 1 || got.length < 2) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(ikes, [['127.0.0.1', port, msg.toString('hex')]]);
    assert.deepEqual(got.map((g) => g.toString('hex')), [`00000000${msg.toString('hex')}`, 'ff']);
    assert.equal(natt.sendIke('not-an-address', port, msg), false, 'a bad destination is a false, not a throw');
  } finally {
    peer.close();
    natt.close();
  }
  assert.equal(natt.sendIke('127.0.0.1', 4500, Buffer.alloc(36)), false, 'closed: false');
  const c = natt.counters();
  assert.deepEqual([c.udpIkeRxPackets, c.udpIkeTxPackets, c.natKeepaliveTx], [1, 1, 1], 'still readable after close');
});
