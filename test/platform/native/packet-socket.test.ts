/**
 * The AF_PACKET socket (platform/native/packet-socket.ts). This machine has no ip_gre, so the
 * traffic runs over a veth pair between two network namespaces (6-byte MAC addresses, made-up
 * ethertypes 0x2001/0x2002); test/vm/packet-socket.test.ts does the same over ip_gre. A helper
 * process in each namespace (fixtures/packet-peer.ts) holds the sockets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isNativeErrnoError, nativeAvailable } from '../../../platform/native/index.js';
import { ARPHRD, PacketSocket } from '../../../platform/native/packet-socket.js';
import { isRoot, needsTool } from '../../support/tools.js';
import type { PeerCommand, PeerError, PeerOutput } from './fixtures/packet-peer.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'packet-peer.js');
const native = nativeAvailable() ? {} : { skip: 'native addon not built (npm run build:native)' };
const netns = !isRoot() && process.env.CI !== 'true' ? { skip: 'needs root for network namespaces' } : { ...needsTool('ip'), ...native };

const NHRP = 0x2001;
const OTHER = 0x2002;
const BROADCAST = 'ffffffffffff';
const MULTICAST = '01005e000001';
const STRANGER = '020000000099';

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function sh(...a: string[]): string {
  const r = spawnSync(a[0], a.slice(1), { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`${a.join(' ')}: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

/** A payload of n bytes, different per tag (longer than Ethernet's 46-byte minimum: no padding question). */
function payload(tag: number, n = 64): string {
  return Buffer.from(Array.from({ length: n }, (_, i) => (tag * 31 + i) & 0xff)).toString('hex');
}

type Packet = Extract<PeerOutput, { type: 'packet' }>;
type ErrorEvent = Extract<PeerOutput, { type: 'error' }>;

/** The helper process in one namespace. */
class Peer {
  readonly packets: Packet[] = [];
  readonly errors: ErrorEvent[] = [];
  private readonly waiting = new Map<number, (o: Extract<PeerOutput, { type: 'reply' }>) => void>();
  private nextId = 1;
  private stderr = '';
  private exited = false;
  private readonly child: ChildProcess;

  constructor(readonly ns: string) {
    this.child = spawn('ip', ['netns', 'exec', ns, process.execPath, FIXTURE], { stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const o = JSON.parse(line) as PeerOutput;
      if (o.type === 'packet') this.packets.push(o);
      else if (o.type === 'error') this.errors.push(o);
      else this.waiting.get(o.id)?.(o);
    });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.child.on('exit', () => (this.exited = true));
  }

  /** Wait for the helper's ready line (reply id 0). */
  ready(): Promise<unknown> {
    return this.reply(0, 'ready');
  }

  private reply(id: number, what: string, ms = 5000): Promise<Extract<PeerOutput, { type: 'reply' }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${what} in ${this.ns}: no reply within ${ms} ms (exited ${this.exited}) ${this.stderr}`));
      }, ms);
      this.waiting.set(id, (o) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(o);
      });
    });
  }

  /** Run a command; its error comes back as the rejection, with code/syscall/device. */
  async call<T = unknown>(c: PeerCommand): Promise<T> {
    const id = this.nextId++;
    const p = this.reply(id, c.cmd);
    this.child.stdin!.write(`${JSON.stringify({ id, ...c })}\n`);
    const o = await p;
    if (o.error) throw Object.assign(new Error(o.error.message), o.error);
    return o.result as T;
  }

  /** The error a command fails with (the test fails if it succeeds). */
  async failure(c: PeerCommand): Promise<PeerError> {
    try {
      await this.call(c);
    } catch (e) {
      return e as PeerError;
    }
    throw new Error(`${c.cmd} in ${this.ns} succeeded; expected an error`);
  }

  async until<T>(find: () => T | undefined, what: string, ms = 3000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const x = find();
      if (x !== undefined) return x;
      if (Date.now() > end) throw new Error(`${this.ns}: no ${what} within ${ms} ms; packets ${JSON.stringify(this.packets)} errors ${JSON.stringify(this.errors)}`);
      await delay(20);
    }
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.stdin!.end(`${JSON.stringify({ id: -1, cmd: 'exit' })}\n`);
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(t);
  }
}

interface Pair {
  readonly a: Peer;
  readonly b: Peer;
  readonly nsB: string;
  /** MAC addresses of vA and vB, as hex. */
  readonly macA: string;
  readonly macB: string;
}

/** Two namespaces joined by veth vA/vB, a helper in each with an NHRP (0x2001) socket named "nhrp". */
async function withPair(f: (p: Pair) => Promise<void>): Promise<void> {
  const prefix = `pks${process.pid}`;
  const nsA = `${prefix}a`;
  const nsB = `${prefix}b`;
  const peers: Peer[] = [];
  try {
    for (const ns of [nsA, nsB]) sh('ip', 'netns', 'add', ns);
    sh('ip', '-n', nsA, 'link', 'add', 'vA', 'type', 'veth', 'peer', 'name', 'vB', 'netns', nsB);
    sh('ip', '-n', nsA, 'link', 'set', 'vA', 'up');
    sh('ip', '-n', nsB, 'link', 'set', 'vB', 'up');
    await linkReady(nsA, 'vA');
    await linkReady(nsB, 'vB');
    const a = new Peer(nsA);
    const b = new Peer(nsB);
    peers.push(a, b);
    await Promise.all([a.ready(), b.ready()]);
    const oa = await a.call<{ address: string }>({ cmd: 'open', name: 'nhrp', device: 'vA', protocol: NHRP });
    const ob = await b.call<{ address: string }>({ cmd: 'open', name: 'nhrp', device: 'vB', protocol: NHRP });
    await f({ a, b, nsB, macA: oa.address, macB: ob.address });
  } finally {
    await Promise.all(peers.map((p) => p.stop().catch(() => undefined)));
    for (const ns of [nsA, nsB]) spawnSync('ip', ['netns', 'del', ns], { timeout: 10_000 });
  }
}

/**
 * A veth end comes up in two steps: carrier on, then (asynchronously, from linkwatch) its qdisc
 * is activated and its operstate set. A frame sent in between can be dropped while sendto()
 * reports success, so wait for "state UP" and a qdisc other than noop.
 */
async function linkReady(ns: string, dev: string): Promise<void> {
  const end = Date.now() + 5000;
  for (;;) {
    const l = sh('ip', '-n', ns, 'link', 'show', dev);
    if (/state UP/.test(l) && !/qdisc noop/.test(l)) return;
    if (Date.now() > end) throw new Error(`${ns}/${dev} not ready within 5 s: ${l}`);
    await delay(20);
  }
}

function macOf(ns: string, dev: string): string {
  return /link\/ether ([0-9a-f:]{17})/.exec(sh('ip', '-n', ns, 'link', 'show', dev))![1].replaceAll(':', '');
}

test('packet socket: bad arguments give clear errors, close is idempotent', { ...native }, () => {
  const onPacket = (): void => undefined;
  for (const device of ['nope0', '', 'x'.repeat(20)]) {
    assert.throws(() => PacketSocket.open({ device, protocol: NHRP, onPacket }), (e: unknown) =>
      isNativeErrnoError(e) && e.code === 'ENODEV' && e.errno === -19 && e.syscall === 'if_nametoindex' &&
      (e as { device?: string }).device === device && e.message === `if_nametoindex on ${device} failed: No such device (ENODEV)`);
  }
  for (const protocol of [0, 0x10000, -1]) {
    assert.throws(() => PacketSocket.open({ device: 'lo', protocol, onPacket }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  }
  assert.throws(() => PacketSocket.open({ device: 'lo', protocol: 1.5, onPacket }), { name: 'TypeError' });
  assert.throws(() => PacketSocket.open({ device: 'lo', protocol: NHRP, onPacket: 'no' as unknown as () => void }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: 'onPacket must be a function' });
  assert.throws(() => PacketSocket.open({ device: 'lo', protocol: NHRP, onPacket, onError: 1 as unknown as () => void }), { name: 'TypeError', message: /onError must be a function/ });

  if (!isRoot()) return; // opening a packet socket needs CAP_NET_RAW
  // Nothing below reaches the wire: every call fails its checks first.
  const s = PacketSocket.open({ device: 'lo', protocol: 0x88b5, onPacket });
  assert.equal(s.hardwareType, ARPHRD.LOOPBACK);
  assert.equal(s.addressLength, 6);
  assert.deepEqual([...s.address], [0, 0, 0, 0, 0, 0]);
  assert.equal(s.state, 'up');
  const good = new Uint8Array(6);
  assert.throws(() => s.send(new Uint8Array(4), new Uint8Array(60)), {
    name: 'RangeError', code: 'ERR_INVALID_ADDRESS', message: 'to must be a 6-byte link-layer address for lo (got 4 bytes)',
  });
  assert.throws(() => s.sendMany([good, good, new Uint8Array(7)], new Uint8Array(60)), { code: 'ERR_INVALID_ADDRESS', message: /^to\[\] must be a 6-byte/ });
  assert.throws(() => s.sendMany(good as unknown as Uint8Array[], new Uint8Array(60)), { name: 'TypeError' });
  assert.throws(() => s.send([0, 0, 0, 0, 0, 0] as unknown as Uint8Array, new Uint8Array(60)), { name: 'TypeError', message: /to must be a Uint8Array/ });
  assert.throws(() => s.send(good, new Uint8Array(65536)), { name: 'RangeError', message: /payload is out of range \(at most 65535 bytes\)/ });
  assert.throws(() => s.send(good, new Uint8Array(60), 0), { name: 'RangeError', message: /protocol/ });
  assert.deepEqual(s.stats(), { rxPackets: 0, rxBytes: 0, rxDrops: 0, rxTruncated: 0, txPackets: 0, txBytes: 0, txFull: 0, txErrors: 0 }, 'the checks ran before any send');
  s.close();
  s.close();
  assert.equal(s.state, 'closed');
  assert.throws(() => s.send(good, new Uint8Array(60)), (e: unknown) =>
    isNativeErrnoError(e) && e.code === 'EBADF' && e.syscall === 'sendto' && e.message.startsWith('sendto on lo failed'));
  assert.equal(s.stats().txPackets, 0, 'stats stay readable after close');
});

test('packet socket: frames across a veth carry payload, sender MAC, protocol and packet type', { ...netns, timeout: 30_000 }, async () => {
  await withPair(async ({ a, b, nsB, macA, macB }) => {
    assert.equal(macA, macOf(`pks${process.pid}a`, 'vA'), 'the socket reports its device\'s own address');
    assert.equal(macB, macOf(nsB, 'vB'));
    await b.call({ cmd: 'open', name: 'other', device: 'vB', protocol: OTHER });

    // One frame each way: the receiver sees the sender's MAC, the bound protocol, 'host'.
    assert.equal(await a.call({ cmd: 'send', name: 'nhrp', to: macB, payload: payload(1) }), true);
    const got = await b.until(() => b.packets.find((p) => p.payload === payload(1)), 'frame from A');
    assert.deepEqual(got, { type: 'packet', name: 'nhrp', payload: payload(1), from: macA, protocol: NHRP, pktType: 'host' });
    assert.equal(await b.call({ cmd: 'send', name: 'nhrp', to: got.from, payload: payload(2, 200) }), true);
    const back = await a.until(() => a.packets.find((p) => p.payload === payload(2, 200)), 'reply from B');
    assert.deepEqual(back, { type: 'packet', name: 'nhrp', payload: payload(2, 200), from: macB, protocol: NHRP, pktType: 'host' });

    // sendMany: one sendmmsg to four addresses; the kernel classifies each on arrival.
    const sent = await a.call({ cmd: 'sendMany', name: 'nhrp', to: [macB, BROADCAST, MULTICAST, STRANGER], payload: payload(3) });
    assert.equal(sent, 4);
    const copies = await b.until(() => {
      const c = b.packets.filter((p) => p.payload === payload(3));
      return c.length === 4 ? c : undefined;
    }, 'four copies');
    assert.deepEqual(copies.map((p) => p.pktType).sort(), ['broadcast', 'host', 'multicast', 'otherhost']);
    assert.ok(copies.every((p) => p.from === macA && p.protocol === NHRP && p.name === 'nhrp'));

    // Another protocol on the same socket: only B's 0x2002 socket takes it.
    await a.call({ cmd: 'send', name: 'nhrp', to: macB, payload: payload(4), protocol: OTHER });
    const other = await b.until(() => b.packets.find((p) => p.payload === payload(4)), 'frame as 0x2002');
    assert.deepEqual(other, { type: 'packet', name: 'other', payload: payload(4), from: macA, protocol: OTHER, pktType: 'host' });

    // Errors from the kernel name the device; nothing was sent for them.
    const big = await a.failure({ cmd: 'send', name: 'nhrp', to: macB, payload: payload(5, 2000) });
    assert.equal(big.code, 'EMSGSIZE');
    assert.equal(big.syscall, 'sendto');
    assert.equal(big.device, 'vA');
    assert.match(big.message, /^sendto on vA failed: Message too long \(EMSGSIZE\)$/);
    const bigMany = await a.failure({ cmd: 'sendMany', name: 'nhrp', to: [macB, macB], payload: payload(5, 2000) });
    assert.equal(bigMany.code, 'EMSGSIZE');
    assert.equal(bigMany.syscall, 'sendmmsg');
    const short = await a.failure({ cmd: 'send', name: 'nhrp', to: macB.slice(2), payload: payload(5) });
    assert.equal(short.code, 'ERR_INVALID_ADDRESS');
    assert.match(short.message, /6-byte link-layer address for vA \(got 5 bytes\)/);

    await delay(100);
    assert.equal(b.packets.filter((p) => p.name === 'other').length, 1, '0x2001 frames never reach the 0x2002 socket');
    assert.equal(b.packets.filter((p) => p.name === 'nhrp' && p.protocol !== NHRP).length, 0);
    const sa = await a.call<Record<string, number>>({ cmd: 'stats', name: 'nhrp' });
    assert.equal(sa.txPackets, 1 + 4 + 1);
    assert.equal(sa.txBytes, 64 + 4 * 64 + 64);
    assert.equal(sa.txErrors, 1 + 2, 'EMSGSIZE counted (send: 1, sendMany: both)');
    assert.equal(sa.rxPackets, 1);
    const sb = await b.call<Record<string, number>>({ cmd: 'stats', name: 'nhrp' });
    assert.equal(sb.rxPackets, 1 + 4);
    assert.equal(sb.rxBytes, 64 + 4 * 64);
    assert.equal(sb.rxDrops, 0);
    assert.equal(sb.txPackets, 1);
    assert.deepEqual([...a.errors, ...b.errors], [], 'no error events');
  });
});

test('packet socket: device down, up again, then deleted under the open socket', { ...netns, timeout: 30_000 }, async () => {
  await withPair(async ({ a, b, nsB, macA, macB }) => {
    sh('ip', '-n', nsB, 'link', 'set', 'vB', 'down');
    const down = await b.until(() => b.errors.find((e) => e.error.code === 'ENETDOWN'), 'ENETDOWN event');
    assert.equal(down.error.device, 'vB');
    assert.match(down.error.message, / on vB: the device is down; receiving resumes when it is up$/);
    assert.equal(await b.call({ cmd: 'state', name: 'nhrp' }), 'down');
    const sendDown = await b.failure({ cmd: 'send', name: 'nhrp', to: macA, payload: payload(1) });
    assert.equal(sendDown.code, 'ENETDOWN');

    sh('ip', '-n', nsB, 'link', 'set', 'vB', 'up');
    const end = Date.now() + 5000;
    while ((await b.call({ cmd: 'state', name: 'nhrp' })) !== 'up') {
      assert.ok(Date.now() < end, 'state back to up within 5 s');
      await delay(50);
    }
    // Receiving resumes by itself (the veth carrier takes a moment: send until one arrives).
    for (let i = 0; !b.packets.some((p) => p.payload === payload(2)); i++) {
      assert.ok(i < 50, 'a frame arrives after the device is up again');
      await a.call({ cmd: 'send', name: 'nhrp', to: macB, payload: payload(2) });
      await delay(100);
    }
    assert.equal(b.errors.length, 1, 'one event for the outage');

    const cpu0 = await b.call<number>({ cmd: 'cpu' });
    // Deleted, and a send in the same tick: the send itself fails (the ifindex no longer exists).
    const enxio = await b.failure({ cmd: 'deleteThenSend', name: 'nhrp', device: 'vB', to: macA, payload: payload(3) });
    assert.deepEqual({ code: enxio.code, syscall: enxio.syscall, device: enxio.device }, { code: 'ENXIO', syscall: 'sendto', device: 'vB' });
    const gone = await b.until(() => b.errors.find((e) => e.error.code === 'ENODEV'), 'ENODEV event');
    assert.equal(gone.error.device, 'vB');
    assert.match(gone.error.message, /on vB: the device is gone \(deleted or moved to another namespace\); the socket is closed$/);
    assert.equal(await b.call({ cmd: 'state', name: 'nhrp' }), 'closed');
    // The peer end went with it: A's socket says so too.
    await a.until(() => a.errors.find((e) => e.error.code === 'ENODEV'), 'ENODEV event on A');
    const after = await b.failure({ cmd: 'send', name: 'nhrp', to: macA, payload: payload(3) });
    assert.equal(after.code, 'EBADF');
    assert.equal(await b.call({ cmd: 'close', name: 'nhrp' }), 'closed');
    assert.equal(await b.call({ cmd: 'close', name: 'nhrp' }), 'closed', 'closing twice is safe');

    // No spinning and no repeated events: a busy loop would burn about a second of CPU here.
    await delay(1000);
    const cpu = (await b.call<number>({ cmd: 'cpu' })) - cpu0;
    assert.ok(cpu < 400, `helper used ${cpu.toFixed(0)} ms of CPU in the second after the device went`);
    const late = b.errors.slice(1);
    assert.equal(late.filter((e) => e.error.code === 'ENODEV').length, 1, 'device gone: reported once');
    assert.ok(late.every((e) => e.error.code === 'ENODEV' || e.error.code === 'ENETDOWN'), JSON.stringify(late));
    assert.equal(late.at(-1)!.error.code, 'ENODEV', 'nothing after the socket closed');
    // A new device of the same name is a new ifindex: a fresh socket binds to it.
    sh('ip', '-n', nsB, 'link', 'add', 'vB', 'type', 'veth', 'peer', 'name', 'vC');
    const reopened = await b.call<{ addressLength: number }>({ cmd: 'open', name: 'again', device: 'vB', protocol: NHRP });
    assert.equal(reopened.addressLength, 6);
  });
});
