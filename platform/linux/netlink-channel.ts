/**
 * The request core shared by the NETLINK_ROUTE and NETLINK_XFRM ports: one socket, requests
 * matched to their answers by sequence number, several in flight (netlink(7), RFC 3549 section 2.3).
 *
 * Why not the `netlink` package's NetlinkSocket.request(): it asks the socket for its address
 * (getsockname) and arms a timer for every request, and it groups multipart replies per socket,
 * not per sequence number, so two requests cannot be in flight at once. Its RawNetlinkSocket is
 * kept (the native socket, send queue and receive loop); framing and matching are here.
 *
 * - Requests go out in call order. Those made in the same turn of the event loop share one
 *   sendmsg (the kernel's netlink_rcv_skb walks every message of a datagram and answers each),
 *   up to `window` answers outstanding: every request carries NLM_F_ACK, and the answers must fit
 *   the receive buffer, or the kernel drops them (netlink_overrun, ENOBUFS).
 * - A request ends on its NLMSG_ERROR (errno 0 is the ACK; a GET's answer comes before it), a
 *   dump on NLMSG_DONE. A dump goes alone: it waits for every earlier request, and later ones wait
 *   for it, because the kernel runs one dump per socket (EBUSY) and a listing must not see a
 *   change asked for after it.
 * - Each request is bounded by `timeoutMs` from its send; one timer serves them all. A request
 *   that timed out may still complete in the kernel: callers re-read rather than assume.
 * - Every failure is a PlatformError naming the operation; syscall is the message type's name.
 */
import { RawNetlinkSocket, type NetlinkMessage } from 'netlink';
import { endianness } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Errno, PlatformError } from '../errors.js';

/** include/uapi/linux/netlink.h */
const NLMSG_HDRLEN = 16;
const NLMSG_NOOP = 1;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLMSG_OVERRUN = 4;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
/** NLM_F_ROOT | NLM_F_MATCH */
const NLM_F_DUMP = 0x300;

const LE = endianness() === 'LE';
/** One sendmsg carries at most this many bytes (netlink_sendmsg refuses more than sk_sndbuf - 32). */
const MAX_DATAGRAM = 64 * 1024;
/** Receive buffer asked for; the kernel caps it at net.core.rmem_max. */
const RECV_BUFFER = 1 << 20;

/**
 * What the channel needs of a socket: the package's RawNetlinkSocket, or a scripted kernel in
 * tests. `send` takes the datagram's pieces; `message` gives one received datagram.
 */
export interface ChannelSocket {
  send(msg: Buffer[], options: { port: number }, callback: (error?: Error) => void): void;
  on(event: 'message', listener: (msg: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  ref(): void;
  unref(): void;
  close(): void;
}

export interface NetlinkChannelOptions {
  /** Netlink protocol: 0 NETLINK_ROUTE, 6 NETLINK_XFRM. */
  readonly protocol: number;
  /** Instead of opening a socket for `protocol` (tests). */
  readonly socket?: ChannelSocket;
  /** Bound on every request, in milliseconds. */
  readonly timeoutMs: number;
  /** The message type's name for errors ("RTM_NEWROUTE", "XFRM_MSG_NEWSA"). */
  readonly name: (type: number) => string;
  /** The port's name, for "the rtnetlink port is closed". */
  readonly port: string;
  /**
   * Answers outstanding at most (default 64). Each ACK costs the receive buffer about 1 KB of
   * skb (a failure echoes the request too), so 64 stay well inside the 208 KB default.
   */
  readonly window?: number;
}

interface Request {
  readonly type: number;
  readonly flags: number;
  readonly payload: readonly Uint8Array[];
  readonly operation: string;
  readonly dump: boolean;
  readonly resolve: (replies: NetlinkMessage[]) => void;
  readonly reject: (e: PlatformError) => void;
}

interface InFlight {
  readonly req: Request;
  readonly deadline: number;
  readonly replies: NetlinkMessage[];
}

/** The kernel refused: errno positive (the NLMSG_ERROR field negated). */
export function refusedError(syscall: string, errno: number, operation: string, detail?: string): PlatformError {
  return new PlatformError({ code: 'netlink', errno, syscall, operation, detail });
}

/** An answer that does not parse: EIO. */
export function malformedError(syscall: string, operation: string, why: string): PlatformError {
  return new PlatformError({ code: 'netlink', errno: Errno.EIO, syscall, operation, detail: `unreadable kernel reply: ${why}` });
}

/** No answer within the bound. */
export function timeoutError(syscall: string, operation: string, timeoutMs: number): PlatformError {
  return new PlatformError({ code: 'timeout', errno: Errno.ETIMEDOUT, syscall, operation, detail: `no answer from the kernel within ${timeoutMs} ms` });
}

/**
 * What failed on the socket itself: the package's ErrnoException (errno, sometimes negative, and
 * syscall kept), a timeout message, or anything else (EIO).
 */
export function socketFailure(e: unknown, syscall: string, operation: string, timeoutMs: number): PlatformError {
  if (e instanceof PlatformError) return e;
  const x = (typeof e === 'object' && e !== null ? e : {}) as { errno?: unknown; syscall?: unknown; message?: unknown };
  const message = typeof x.message === 'string' ? x.message : String(e);
  if (/timeout/i.test(message)) return timeoutError(syscall, operation, timeoutMs);
  const errno = typeof x.errno === 'number' ? Math.abs(x.errno) : Errno.EIO;
  return new PlatformError({ code: 'socket', errno, syscall: typeof x.syscall === 'string' ? x.syscall : syscall, operation, detail: `netlink socket: ${message}` });
}

export class NetlinkChannel {
  readonly timeoutMs: number;
  private readonly raw: ChannelSocket;
  private readonly name: (type: number) => string;
  private readonly port: string;
  private readonly window: number;
  /** Asked for, not yet sent, in call order. */
  private readonly waiting: Request[] = [];
  private waitingHead = 0;
  /** Sent, by sequence number; a Map keeps send order, so the first entry times out first. */
  private readonly inFlight = new Map<number, InFlight>();
  private dumping = false;
  private seq = 0;
  private flushQueued = false;
  private timer: NodeJS.Timeout | undefined;
  private referenced = false;
  private unrefQueued = false;
  private closed = false;

  constructor(options: NetlinkChannelOptions) {
    this.timeoutMs = options.timeoutMs;
    this.name = options.name;
    this.port = options.port;
    this.window = Math.max(1, options.window ?? 64);
    this.raw = options.socket ?? openSocket(options.protocol);
    this.raw.unref();
    this.raw.on('message', (msg) => this.receive(msg));
    // ENOBUFS: answers were dropped; which ones is unknown, so everything outstanding fails and
    // callers re-read. Anything else (the poll failed) has closed the socket.
    this.raw.on('error', (err) => this.failAll(err));
  }

  /**
   * Send one request (NLM_F_REQUEST | NLM_F_ACK | flags) and resolve with its answers: none for
   * an ACK, the messages of a GET or a dump (NLMSG_DONE removed). A refusal rejects with the errno.
   */
  request(type: number, payload: readonly Uint8Array[], flags: number, operation: string): Promise<NetlinkMessage[]> {
    return new Promise<NetlinkMessage[]>((resolve, reject) => {
      if (this.closed) {
        reject(new PlatformError({ code: 'socket', errno: Errno.EBADF, syscall: 'sendmsg', operation, detail: `the ${this.port} port is closed` }));
        return;
      }
      this.waiting.push({ type, flags, payload, operation, dump: (flags & NLM_F_DUMP) === NLM_F_DUMP, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Idle: send at the end of this job, with whatever else it asks for. Busy: at the end of this
   * turn, so the requests that this turn's answers lead to share one sendmsg.
   */
  private schedule(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    if (this.inFlight.size === 0) queueMicrotask(this.flush);
    else setImmediate(this.flush);
  }

  /** Answers outstanding now (for tests and figures). */
  get outstanding(): number {
    return this.inFlight.size;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const why = (op: string): PlatformError =>
      new PlatformError({ code: 'socket', errno: Errno.EBADF, syscall: 'sendmsg', operation: op, detail: `the ${this.port} port is closed` });
    for (const f of this.inFlight.values()) f.req.reject(why(f.req.operation));
    this.inFlight.clear();
    for (let i = this.waitingHead; i < this.waiting.length; i++) this.waiting[i]!.reject(why(this.waiting[i]!.operation));
    this.waiting.length = 0;
    this.waitingHead = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.raw.close();
  }

  // ---- sending ----

  private readonly flush = (): void => {
    this.flushQueued = false;
    this.pump();
  };

  private pump(): void {
    if (this.closed) return;
    let batch: [InFlight, Buffer[]][] = [];
    let bytes = 0;
    const now = performance.now();
    while (this.waitingHead < this.waiting.length && !this.dumping) {
      const req = this.waiting[this.waitingHead]!;
      if (req.dump && (this.inFlight.size > 0 || batch.length > 0)) break;
      if (this.inFlight.size >= this.window) break;
      const seq = this.nextSeq();
      const bufs = frame(req, seq);
      const len = bufs.reduce((a, b) => a + b.length, 0);
      if (batch.length > 0 && bytes + len > MAX_DATAGRAM) {
        this.send(batch);
        batch = [];
        bytes = 0;
      }
      this.waitingHead++;
      const f: InFlight = { req, deadline: now + this.timeoutMs, replies: [] };
      this.inFlight.set(seq, f);
      batch.push([f, bufs]);
      bytes += len;
      if (req.dump) this.dumping = true;
    }
    if (this.waitingHead === this.waiting.length) {
      this.waiting.length = 0;
      this.waitingHead = 0;
    } else if (this.waitingHead > 1024) {
      this.waiting.splice(0, this.waitingHead);
      this.waitingHead = 0;
    }
    if (batch.length > 0) this.send(batch);
    this.housekeep();
  }

  private nextSeq(): number {
    do {
      this.seq = (this.seq % 0xffffffff) + 1;
    } while (this.inFlight.has(this.seq));
    return this.seq;
  }

  private send(batch: readonly [InFlight, Buffer[]][]): void {
    const bufs = batch.flatMap(([, b]) => b);
    const fail = (e: unknown): void => {
      for (const [f] of batch) {
        const seq = seqOf(this.inFlight, f);
        if (seq === undefined) continue;
        this.finish(seq, f);
        f.req.reject(socketFailure(e, this.name(f.req.type), f.req.operation, this.timeoutMs));
      }
      this.schedule(); // not pump(): this may run inside pump's loop
    };
    try {
      this.raw.send(bufs, { port: 0 }, (error) => {
        if (error !== undefined && error !== null) fail(error);
      });
    } catch (e) {
      fail(e);
    }
  }

  // ---- receiving ----

  private receive(msg: Buffer): void {
    let off = 0;
    let ended = false;
    while (msg.length - off >= NLMSG_HDRLEN) {
      const len = LE ? msg.readUInt32LE(off) : msg.readUInt32BE(off);
      if (len < NLMSG_HDRLEN || len > msg.length - off) break; // a broken frame: the rest is unreadable
      const type = LE ? msg.readUInt16LE(off + 4) : msg.readUInt16BE(off + 4);
      const flags = LE ? msg.readUInt16LE(off + 6) : msg.readUInt16BE(off + 6);
      const seq = LE ? msg.readUInt32LE(off + 8) : msg.readUInt32BE(off + 8);
      const port = LE ? msg.readUInt32LE(off + 12) : msg.readUInt32BE(off + 12);
      const data = msg.subarray(off + NLMSG_HDRLEN, off + len);
      off += (len + 3) & ~3;
      const f = this.inFlight.get(seq);
      if (f === undefined || type === NLMSG_NOOP || type === NLMSG_OVERRUN) continue; // late (timed out) or not ours
      if (type === NLMSG_ERROR) {
        this.finish(seq, f);
        ended = true;
        if (data.length < 4) {
          f.req.reject(malformedError(this.name(f.req.type), f.req.operation, `NLMSG_ERROR of ${data.length} bytes`));
          continue;
        }
        const errno = -(LE ? data.readInt32LE(0) : data.readInt32BE(0));
        if (errno !== 0) f.req.reject(refusedError(this.name(f.req.type), errno, f.req.operation));
        else f.req.resolve(f.replies);
      } else if (type === NLMSG_DONE && f.req.dump) {
        this.finish(seq, f);
        ended = true;
        // A dump that failed part way says so in NLMSG_DONE's int (netlink_dump: dump_done_errno).
        const errno = data.length >= 4 ? -(LE ? data.readInt32LE(0) : data.readInt32BE(0)) : 0;
        if (errno > 0) f.req.reject(refusedError(this.name(f.req.type), errno, f.req.operation));
        else f.req.resolve(f.replies);
      } else {
        f.replies.push({ type, flags, seq, port, data } as NetlinkMessage);
      }
    }
    // A flush already queued sends what waits (and what this turn's answers lead to) at once.
    if (ended && !this.flushQueued) this.pump();
  }

  private finish(seq: number, f: InFlight): void {
    this.inFlight.delete(seq);
    if (f.req.dump) this.dumping = false;
  }

  private failAll(err: unknown): void {
    const all = [...this.inFlight.values()];
    this.inFlight.clear();
    this.dumping = false;
    for (const f of all) f.req.reject(socketFailure(err, this.name(f.req.type), f.req.operation, this.timeoutMs));
    this.pump();
  }

  // ---- the one timer, and keeping the process alive while answers are due ----

  private housekeep(): void {
    if (this.closed) return;
    if (this.inFlight.size > 0) {
      if (!this.referenced) {
        this.referenced = true;
        this.raw.ref();
      }
      if (this.timer === undefined) this.arm(this.timeoutMs);
    } else if (this.referenced && !this.unrefQueued) {
      // Let go of the process after this turn, not at once: a caller awaiting one request after
      // another sends the next in the same turn, and the socket then stays referenced throughout.
      this.unrefQueued = true;
      setImmediate(() => {
        this.unrefQueued = false;
        if (this.inFlight.size === 0 && this.referenced && !this.closed) {
          this.referenced = false;
          this.raw.unref();
        }
      });
    }
  }

  private arm(ms: number): void {
    // Unreferenced: the socket holds the process while answers are due, the timer never does.
    this.timer = setTimeout(() => this.expire(), Math.max(1, Math.ceil(ms)));
    this.timer.unref();
  }

  private expire(): void {
    this.timer = undefined;
    const now = performance.now();
    for (const [seq, f] of this.inFlight) {
      if (f.deadline > now) break;
      this.finish(seq, f);
      f.req.reject(timeoutError(this.name(f.req.type), f.req.operation, this.timeoutMs));
    }
    const first = this.inFlight.values().next();
    if (!first.done) this.arm(first.value.deadline - now);
    this.pump();
  }
}

function openSocket(protocol: number): ChannelSocket {
  // Port 0: the kernel picks one at bind; nlmsg_pid stays 0 in what we send, as iproute2 does.
  const s = new RawNetlinkSocket(protocol, { localPort: 0 } as ConstructorParameters<typeof RawNetlinkSocket>[1]);
  try {
    s.setRecvBufferSize(RECV_BUFFER);
  } catch {
    // the default buffer still holds `window` answers
  }
  return s;
}

function seqOf(inFlight: ReadonlyMap<number, InFlight>, f: InFlight): number | undefined {
  for (const [seq, g] of inFlight) if (g === f) return seq;
  return undefined;
}

/** nlmsghdr in host order (netlink(7)), then the payload's pieces, padded to 4 bytes. */
function frame(req: Request, seq: number): Buffer[] {
  let len = NLMSG_HDRLEN;
  for (const p of req.payload) len += p.length;
  const pad = ((len + 3) & ~3) - len;
  const h = Buffer.allocUnsafe(NLMSG_HDRLEN);
  const flags = req.flags | NLM_F_REQUEST | NLM_F_ACK;
  if (LE) {
    h.writeUInt32LE(len, 0);
    h.writeUInt16LE(req.type, 4);
    h.writeUInt16LE(flags, 6);
    h.writeUInt32LE(seq, 8);
    h.writeUInt32LE(0, 12);
  } else {
    h.writeUInt32BE(len, 0);
    h.writeUInt16BE(req.type, 4);
    h.writeUInt16BE(flags, 6);
    h.writeUInt32BE(seq, 8);
    h.writeUInt32BE(0, 12);
  }
  const out: Buffer[] = [h];
  for (const p of req.payload) out.push(Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength));
  if (pad > 0) out.push(Buffer.alloc(pad));
  return out;
}
