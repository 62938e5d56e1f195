/**
 * The request core shared by the rtnetlink and XFRM ports (platform/linux/netlink-channel.ts).
 * Against a scripted kernel (a ChannelSocket that records what is sent and answers when told):
 * matching by sequence number whatever the answer order, each request's own errno, GET answers,
 * dumps as barriers, the window, one datagram per turn, timeouts, socket errors and close. Then
 * against this machine's kernel, without privileges: NETLINK_ROUTE reads pipelined through
 * LinuxRtnetlink, and a send the kernel refuses (NETLINK_USERSOCK has no kernel side).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { endianness } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { PlatformError } from '../../../platform/errors.js';
import { NetlinkChannel, type ChannelSocket } from '../../../platform/linux/netlink-channel.js';
import { LinuxRtnetlink } from '../../../platform/linux/rtnetlink.js';

const LE = endianness() === 'LE';
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_MULTI = 2;
const DUMP = 0x300;

interface Sent {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  readonly payload: Buffer;
}

/** A kernel that answers only when the test says so. */
class ScriptedKernel extends EventEmitter implements ChannelSocket {
  readonly datagrams: Sent[][] = [];
  referenced = false;
  closed = false;
  failNextSend: Error | undefined;
  throwNextSend: Error | undefined;

  send(msg: Buffer[], _options: { port: number }, callback: (error?: Error) => void): void {
    if (this.throwNextSend) {
      const e = this.throwNextSend;
      this.throwNextSend = undefined;
      throw e;
    }
    const all = Buffer.concat(msg);
    const out: Sent[] = [];
    for (let off = 0; off + 16 <= all.length; ) {
      const len = LE ? all.readUInt32LE(off) : all.readUInt32BE(off);
      out.push({
        type: LE ? all.readUInt16LE(off + 4) : all.readUInt16BE(off + 4),
        flags: LE ? all.readUInt16LE(off + 6) : all.readUInt16BE(off + 6),
        seq: LE ? all.readUInt32LE(off + 8) : all.readUInt32BE(off + 8),
        payload: all.subarray(off + 16, off + len),
      });
      off += (len + 3) & ~3;
    }
    this.datagrams.push(out);
    const fail = this.failNextSend;
    this.failNextSend = undefined;
    setImmediate(() => callback(fail));
  }

  private holder: NodeJS.Timeout | undefined;

  /** As a real socket's handle does, a referenced kernel keeps the event loop alive. */
  ref(): void {
    this.referenced = true;
    this.holder ??= setInterval(() => undefined, 60_000);
  }

  unref(): void {
    this.referenced = false;
    clearInterval(this.holder);
    this.holder = undefined;
  }

  close(): void {
    this.closed = true;
    this.unref();
  }

  get sent(): Sent[] {
    return this.datagrams.flat();
  }

  /** Deliver one datagram made of these messages. */
  deliver(...msgs: Buffer[]): void {
    this.emit('message', Buffer.concat(msgs));
  }
}

function header(len: number, type: number, flags: number, seq: number): Buffer {
  const h = Buffer.alloc(16);
  if (LE) {
    h.writeUInt32LE(len, 0);
    h.writeUInt16LE(type, 4);
    h.writeUInt16LE(flags, 6);
    h.writeUInt32LE(seq, 8);
  } else {
    h.writeUInt32BE(len, 0);
    h.writeUInt16BE(type, 4);
    h.writeUInt16BE(flags, 6);
    h.writeUInt32BE(seq, 8);
  }
  return h;
}

function msg(type: number, seq: number, data: Buffer, flags = 0): Buffer {
  const pad = Buffer.alloc(((data.length + 3) & ~3) - data.length);
  return Buffer.concat([header(16 + data.length, type, flags, seq), data, pad]);
}

function s32(v: number): Buffer {
  const b = Buffer.alloc(4);
  if (LE) b.writeInt32LE(v);
  else b.writeInt32BE(v);
  return b;
}

/** NLMSG_ERROR: the negative errno, then the request's header (as with NETLINK_CAP_ACK). */
const ack = (seq: number, errno = 0): Buffer => msg(NLMSG_ERROR, seq, Buffer.concat([s32(-errno), header(16, 0, 0, seq)]));
const done = (seq: number, errno = 0): Buffer => msg(NLMSG_DONE, seq, s32(-errno), NLM_F_MULTI);
const reply = (type: number, seq: number, text: string, flags = 0): Buffer => msg(type, seq, Buffer.from(text), flags);

const names = (t: number): string => `T_${t}`;
function channel(k: ScriptedKernel, more: { timeoutMs?: number; window?: number } = {}): NetlinkChannel {
  return new NetlinkChannel({ protocol: 0, socket: k, timeoutMs: more.timeoutMs ?? 5000, name: names, port: 'test', window: more.window });
}
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
const text = (m: { data: Buffer }[]): string[] => m.map((x) => x.data.toString());

test('netlink channel: answers in any order reach their own request; each refusal names its operation', async () => {
  const k = new ScriptedKernel();
  const ch = channel(k);
  const a = ch.request(24, [Buffer.from('aaaa')], 0, 'adding route a');
  const b = ch.request(24, [Buffer.from('bbbbb')], 0x400, 'adding route b');
  const c = ch.request(18, [Buffer.from('cccc')], 0, 'looking up c');
  await turn();
  // One turn, one datagram; every request has REQUEST|ACK on top of its own flags, and its payload.
  assert.equal(k.datagrams.length, 1);
  const [sa, sb, sc] = k.sent;
  assert.deepEqual(k.sent.map((s) => [s.type, s.flags]), [[24, 5], [24, 0x405], [18, 5]]);
  assert.deepEqual(k.sent.map((s) => s.payload.toString()), ['aaaa', 'bbbbb', 'cccc']);
  assert.equal(new Set(k.sent.map((s) => s.seq)).size, 3, 'distinct sequence numbers');
  assert.equal(k.referenced, true, 'answers due hold the process');
  k.deliver(reply(16, sc!.seq, 'link c'));
  k.deliver(ack(sb!.seq, 17));
  k.deliver(ack(sc!.seq), ack(sa!.seq));
  assert.deepEqual(await a, []);
  await assert.rejects(b, (e: PlatformError) =>
    e.code === 'netlink' && e.errnoCode === 'EEXIST' && e.syscall === 'T_24' && e.message === 'adding route b: File exists (EEXIST)');
  assert.deepEqual(text(await c), ['link c'], 'a GET answers before its ACK');
  assert.equal(ch.outstanding, 0);
  await turn();
  assert.equal(k.referenced, false, 'nothing due: the process may exit');
  ch.close();
  assert.equal(k.closed, true);
});

test('netlink channel: a dump waits for earlier requests, later ones wait for it; multipart over datagrams', async () => {
  const k = new ScriptedKernel();
  const ch = channel(k);
  const before = ch.request(28, [], 0, 'before');
  const dump = ch.request(30, [], DUMP, 'listing');
  const after = ch.request(29, [], 0, 'after');
  await turn();
  assert.deepEqual(k.sent.map((s) => s.type), [28], 'the dump is held back');
  k.deliver(ack(k.sent[0]!.seq));
  await before;
  await turn();
  assert.deepEqual(k.sent.map((s) => s.type), [28, 30]);
  const ds = k.sent[1]!.seq;
  assert.equal(k.sent[1]!.flags, DUMP | 5);
  k.deliver(reply(28, ds, 'n1', NLM_F_MULTI), reply(28, ds, 'n2', NLM_F_MULTI));
  await turn();
  assert.equal(k.sent.length, 2, 'nothing goes while the dump runs');
  k.deliver(reply(28, ds, 'n3', NLM_F_MULTI), done(ds));
  assert.deepEqual(text(await dump), ['n1', 'n2', 'n3']);
  await turn();
  assert.deepEqual(k.sent.map((s) => s.type), [28, 30, 29]);
  k.deliver(ack(k.sent[2]!.seq));
  await after;
  // A dump that fails part way says so in NLMSG_DONE.
  const bad = ch.request(30, [], DUMP, 'listing again');
  await turn();
  const bs = k.sent[3]!.seq;
  k.deliver(reply(28, bs, 'x', NLM_F_MULTI), done(bs, 16));
  await assert.rejects(bad, (e: PlatformError) => e.errnoCode === 'EBUSY' && e.operation === 'listing again');
  ch.close();
});

test('netlink channel: the window bounds answers due; the rest go as answers come, one datagram per turn', async () => {
  const k = new ScriptedKernel();
  const ch = channel(k, { window: 4 });
  const all = Array.from({ length: 10 }, (_, i) => ch.request(24, [Buffer.from([i])], 0, `op ${i}`));
  await turn();
  assert.equal(k.datagrams.length, 1);
  assert.equal(k.sent.length, 4);
  assert.equal(ch.outstanding, 4);
  // Answer the first two in one datagram: two more go, together.
  k.deliver(ack(k.sent[0]!.seq), ack(k.sent[1]!.seq));
  await turn();
  assert.equal(k.sent.length, 6);
  assert.equal(k.datagrams.length, 2);
  while (k.sent.length < 10 || ch.outstanding > 0) {
    const due = k.sent.slice(-ch.outstanding);
    k.deliver(...due.map((s) => ack(s.seq)));
    await turn();
    assert.ok(ch.outstanding <= 4);
  }
  await Promise.all(all);
  assert.deepEqual(k.sent.map((s) => s.payload[0]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'sent in call order');
  ch.close();
});

test('netlink channel: a request with no answer times out alone; its late answer is ignored', async () => {
  const k = new ScriptedKernel();
  const ch = channel(k, { timeoutMs: 40 });
  const lost = ch.request(26, [], 0, 'adding route lost');
  await turn();
  const late = k.sent[0]!.seq;
  await sleep(20);
  const kept = ch.request(26, [], 0, 'adding route kept');
  await assert.rejects(lost, (e: PlatformError) =>
    e.code === 'timeout' && e.errnoCode === 'ETIMEDOUT' && e.message === 'adding route lost: no answer from the kernel within 40 ms (Connection timed out, ETIMEDOUT)');
  k.deliver(ack(late, 17)); // too late: nobody is waiting for it
  k.deliver(ack(k.sent[1]!.seq));
  assert.deepEqual(await kept, []);
  ch.close();
});

test('netlink channel: socket failures: ENOBUFS fails what is due, a refused send fails its requests, close fails the rest', async () => {
  const k = new ScriptedKernel();
  const ch = channel(k);
  const a = ch.request(24, [], 0, 'a');
  const b = ch.request(24, [], 0, 'b');
  await turn();
  k.emit('error', Object.assign(new Error('Error when receiving Netlink message: No buffer space available'), { errno: 105, syscall: 'recvmsg' }));
  for (const p of [a, b]) await assert.rejects(p, (e: PlatformError) => e.code === 'socket' && e.errnoCode === 'ENOBUFS' && e.syscall === 'recvmsg');
  k.failNextSend = Object.assign(new Error('Error when sending Netlink message'), { errno: 111, syscall: 'sendmsg' });
  const c = ch.request(24, [], 0, 'c');
  await assert.rejects(c, (e: PlatformError) => e.code === 'socket' && e.errno === 111 && e.operation === 'c');
  k.throwNextSend = new Error('Netlink socket is closed');
  await assert.rejects(ch.request(24, [], 0, 'd'), (e: PlatformError) => e.code === 'socket' && e.errnoCode === 'EIO' && e.operation === 'd');
  const e = ch.request(24, [], 0, 'e');
  await turn();
  ch.close();
  await assert.rejects(e, (x: PlatformError) => x.code === 'socket' && x.errnoCode === 'EBADF' && x.message === 'e: the test port is closed (Bad file descriptor, EBADF)');
  await assert.rejects(ch.request(24, [], 0, 'f'), (x: PlatformError) => x.errnoCode === 'EBADF' && x.operation === 'f');
});

test('netlink channel: property: whatever the window and answer order, each request gets exactly its own outcome', async () => {
  type Outcome = { kind: 'ack' } | { kind: 'errno'; errno: number } | { kind: 'get'; replies: number };
  const outcome = fc.oneof(
    fc.constant<Outcome>({ kind: 'ack' }),
    fc.integer({ min: 1, max: 130 }).map((errno): Outcome => ({ kind: 'errno', errno })),
    fc.integer({ min: 1, max: 3 }).map((replies): Outcome => ({ kind: 'get', replies })),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(outcome, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 8 }), fc.infiniteStream(fc.nat()), async (plan, window, picks) => {
      const k = new ScriptedKernel();
      const ch = channel(k, { window });
      const results = plan.map((_, i) => ch.request(24, [Buffer.from(`r${i}`)], 0, `op ${i}`).then(
        (m) => ({ ok: text(m) }),
        (e: PlatformError) => ({ errno: e.errno, op: e.operation }),
      ));
      const answered = new Set<number>();
      const it = picks[Symbol.iterator]();
      for (let guard = 0; answered.size < plan.length && guard < 1000; guard++) {
        await turn();
        assert.ok(ch.outstanding <= window, 'never more than the window due');
        const due = k.sent.filter((s) => !answered.has(s.seq));
        if (due.length === 0) continue;
        // Answer a few of those due, in a shuffled order, some in one datagram.
        const n = 1 + (it.next().value as number) % due.length;
        for (let j = due.length - 1; j > 0; j--) {
          const r = (it.next().value as number) % (j + 1);
          [due[j], due[r]] = [due[r]!, due[j]!];
        }
        const chosen = due.slice(0, n);
        const out: Buffer[] = [];
        for (const s of chosen) {
          answered.add(s.seq);
          const i = Number(s.payload.toString().slice(1));
          const o = plan[i]!;
          if (o.kind === 'get') for (let r = 0; r < o.replies; r++) out.push(reply(16, s.seq, `r${i}.${r}`));
          out.push(ack(s.seq, o.kind === 'errno' ? o.errno : 0));
        }
        k.deliver(...out);
      }
      const got = await Promise.all(results);
      plan.forEach((o, i) => {
        if (o.kind === 'errno') assert.deepEqual(got[i], { errno: o.errno, op: `op ${i}` });
        else assert.deepEqual(got[i], { ok: o.kind === 'get' ? Array.from({ length: o.replies }, (_, r) => `r${i}.${r}`) : [] });
      });
      ch.close();
    }),
    { numRuns: 60 },
  );
});

// ---- this machine's kernel, no privilege needed ----

test('netlink channel: NETLINK_ROUTE reads pipelined through LinuxRtnetlink, each with its own answer or errno', async () => {
  const port = new LinuxRtnetlink({ timeoutMs: 5000, window: 8 });
  try {
    const lo = await port.getLink('lo');
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 60; i++) {
      if (i % 3 === 0) calls.push(port.getLink(`nosuch${i}`).then(() => 'found?', (e: PlatformError) => `${e.errnoCode} ${e.operation}`));
      else if (i % 10 === 1) calls.push(port.listLinks().then((l) => l.some((x) => x.name === 'lo')));
      else calls.push(port.getLinkByIndex(lo.index).then((l) => l.name));
    }
    const got = await Promise.all(calls);
    got.forEach((g, i) => {
      if (i % 3 === 0) assert.equal(g, `ENODEV looking up device nosuch${i}`);
      else if (i % 10 === 1) assert.equal(g, true);
      else assert.equal(g, 'lo');
    });
  } finally {
    port.close();
  }
});

test('netlink channel: a send the kernel refuses (NETLINK_USERSOCK has no kernel side) fails each request as a socket error', async () => {
  const ch = new NetlinkChannel({ protocol: 2, timeoutMs: 2000, name: names, port: 'usersock' });
  try {
    const got = await Promise.allSettled([ch.request(16, [Buffer.alloc(4)], 0, 'first'), ch.request(16, [Buffer.alloc(4)], 0, 'second')]);
    assert.deepEqual(got.map((r) => r.status === 'rejected' && [(r.reason as PlatformError).code, (r.reason as PlatformError).errno, (r.reason as PlatformError).operation]),
      [['socket', 111, 'first'], ['socket', 111, 'second']]);
  } finally {
    ch.close();
  }
});
