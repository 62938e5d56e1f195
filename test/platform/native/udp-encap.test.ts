/**
 * The kernel dataplane's UDP-encapsulation socket (platform/native/udp-encap.ts) on this host's
 * loopback: with UDP_ENCAP_ESPINUDP set the kernel hands the socket IKE behind the non-ESP marker
 * (and anything too short to be ESP), takes datagrams that start with a non-zero SPI to xfrm (no
 * state here: dropped), and consumes NAT-keepalives (RFC 3948 section 2). The socket sends IKE
 * behind the marker and keepalives; after close it refuses to send with EBADF; a worker that ends
 * with one open does not take the process down.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { Worker } from 'node:worker_threads';
import { isNativeErrnoError, nativeAvailable } from '../../../platform/native/index.js';
import { UdpEncapSocket } from '../../../platform/native/udp-encap.js';

const opts = nativeAvailable() ? {} : { skip: 'native addon not built (npm run build:native)' };
const LO = '127.0.0.1';

/** An IKE header's worth of bytes (RFC 7296 section 3.1: 28 octets), tagged. */
function ike(tag: number, n = 40): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (tag + i) & 0xff;
  b[0] = 0x11; // an initiator SPI that does not start with zero
  return b;
}

function marked(m: Uint8Array): Uint8Array {
  const b = new Uint8Array(4 + m.length);
  b.set(m, 4);
  return b;
}

async function plainSocket(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, LO, () => r()));
  return s;
}

function send(s: Socket, port: number, bytes: Uint8Array): Promise<void> {
  return new Promise((res, rej) => s.send(bytes, port, LO, (e) => (e ? rej(e) : res())));
}

function until(what: string, ok: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  return new Promise((res, rej) => {
    const tick = (): void => {
      if (ok()) res();
      else if (Date.now() > end) rej(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 10);
    };
    tick();
  });
}

test('udp encap: IKE behind the marker is delivered without it; ESP and keepalives never reach the socket', opts, async () => {
  const got: { message: Uint8Array; src: string; srcPort: number }[] = [];
  const sock = UdpEncapSocket.open({ local: LO, port: 0, onIke: (message, src, srcPort) => got.push({ message, src, srcPort }) });
  const peer = await plainSocket();
  try {
    assert.ok(sock.port > 0);
    const first = ike(1);
    await send(peer, sock.port, marked(first));
    // ESP: a non-zero SPI and more than an ESP header (xfrm4_udp_encap_rcv sends it to xfrm, which has no state).
    const esp = new Uint8Array(64);
    esp.set([0x00, 0x00, 0x12, 0x34, 0, 0, 0, 1]);
    await send(peer, sock.port, esp);
    await send(peer, sock.port, Uint8Array.of(0xff)); // NAT-keepalive
    await send(peer, sock.port, Uint8Array.of(1, 2, 3)); // too short for ESP: the socket's, not IKE
    await send(peer, sock.port, new Uint8Array(12)); // the marker and too little behind it
    const last = ike(2, 300);
    await send(peer, sock.port, marked(last));
    await until('the second IKE message', () => got.length >= 2);
    await new Promise((r) => setTimeout(r, 50));
    const port = peer.address().port;
    assert.deepEqual(got.map((g) => [g.src, g.srcPort, Buffer.from(g.message).toString('hex')]),
      [[LO, port, Buffer.from(first).toString('hex')], [LO, port, Buffer.from(last).toString('hex')]]);
    const st = sock.stats();
    assert.deepEqual([st.ikeRx, st.rxOther, st.rxShort, st.keepaliveRx], [2, 1, 1, 0]);
  } finally {
    sock.close();
    peer.close();
  }
});

test('udp encap: sends IKE behind the non-ESP marker and the one-octet keepalive', opts, async () => {
  const sock = UdpEncapSocket.open({ local: LO, port: 0, onIke: () => undefined });
  const peer = await plainSocket();
  const seen: { msg: Buffer; port: number }[] = [];
  peer.on('message', (msg, r) => seen.push({ msg, port: r.port }));
  try {
    const port = peer.address().port;
    const m = ike(7, 76);
    assert.equal(sock.sendIke(LO, port, m), true);
    assert.equal(sock.sendKeepalive(LO, port), true);
    await until('two datagrams', () => seen.length >= 2);
    assert.deepEqual(seen.map((s) => [s.port, s.msg.toString('hex')]),
      [[sock.port, Buffer.from(marked(m)).toString('hex')], [sock.port, 'ff']]);
    const st = sock.stats();
    assert.deepEqual([st.ikeTx, st.keepaliveTx, st.txErrors], [1, 1, 0]);
    assert.throws(() => sock.sendIke(LO, port, new Uint8Array(27)), RangeError);
    assert.throws(() => sock.sendIke('nowhere', port, m), (e: unknown) => e instanceof TypeError && (e as { code?: string }).code === 'ERR_INVALID_ADDRESS');
    assert.throws(() => sock.sendKeepalive(LO, 0), RangeError);
  } finally {
    sock.close();
    peer.close();
  }
});

test('udp encap: the port is exclusive (EADDRINUSE), and after close sends fail with EBADF and the port is free', opts, () => {
  const a = UdpEncapSocket.open({ local: LO, port: 0, onIke: () => undefined });
  assert.throws(() => UdpEncapSocket.open({ local: LO, port: a.port, onIke: () => undefined }),
    (e: unknown) => isNativeErrnoError(e) && e.code === 'EADDRINUSE' && e.syscall === 'bind' && e.message.includes(`${LO}:${a.port}`));
  a.close();
  a.close();
  assert.throws(() => a.sendIke(LO, 4500, ike(3)), (e: unknown) =>
    isNativeErrnoError(e) && e.code === 'EBADF' && e.message === `sendmsg to ${LO}:4500 failed: Bad file descriptor (EBADF)`);
  assert.throws(() => a.sendKeepalive(LO, 4500), (e: unknown) => isNativeErrnoError(e) && e.code === 'EBADF');
  assert.equal(a.stats().ikeTx, 0);
  const b = UdpEncapSocket.open({ local: LO, port: a.port, onIke: () => undefined });
  assert.equal(b.port, a.port);
  b.close();
  assert.throws(() => UdpEncapSocket.open({ local: '192.0.2.77', port: 0, onIke: () => undefined }),
    (e: unknown) => isNativeErrnoError(e) && e.code === 'EADDRNOTAVAIL');
});

test('udp encap: a worker that exits with a socket open (and one that is terminated) leaves the process whole', opts, async () => {
  const url = new URL('../../../platform/native/udp-encap.js', import.meta.url).href;
  // The open socket keeps the worker's loop alive: it ends by process.exit() or terminate(), and
  // its environment's teardown must close the socket (the async cleanup hook) before the addon goes.
  const code = `
    const { parentPort } = require('node:worker_threads');
    import(${JSON.stringify(url)}).then(({ UdpEncapSocket }) => {
      const s = UdpEncapSocket.open({ local: '127.0.0.1', port: 0, onIke: () => {} });
      parentPort.on('message', () => process.exit(7));
      parentPort.postMessage(s.port);
    });`;
  for (const terminate of [false, true]) {
    const w = new Worker(code, { eval: true });
    const exited = new Promise<number>((res) => w.once('exit', res));
    const port = await new Promise<number>((res, rej) => {
      w.once('message', res);
      w.once('error', rej);
    });
    assert.ok(port > 0);
    if (terminate) await w.terminate();
    else w.postMessage('exit');
    assert.equal(await exited, terminate ? 1 : 7);
    // The worker's socket closed with its environment: the port can be bound again.
    const again = UdpEncapSocket.open({ local: LO, port, onIke: () => undefined });
    again.close();
  }
});
