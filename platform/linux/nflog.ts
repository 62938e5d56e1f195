/**
 * NflogListener: receives the packets that nftables `log group N` rules copy to user space,
 * over one NETLINK_NETFILTER socket (protocol 12) from the `netlink` package.
 *
 * - start() opens the socket and binds every configured group with one NFULNL_MSG_CONFIG each:
 *   NFULA_CFG_CMD bind, NFULA_CFG_MODE copy-packet with the copy range, NFULA_CFG_NLBUFSIZ,
 *   NFULA_CFG_TIMEOUT and NFULA_CFG_QTHRESH (nfulnl_recv_config applies the command first, then
 *   the parameters to the new instance). Each request waits for the kernel's ACK, bounded.
 * - Queue threshold 1 by default: the kernel flushes every packet at once. The taps carry EIGRP
 *   hellos (which must leave within their hello interval, RFC 7868 section 5.3.1) and redirect
 *   triggers, both low rate, so latency matters more than batching. Larger thresholds still
 *   work: the package groups the NLM_F_MULTI batch up to its NLMSG_DONE.
 * - A group belongs to one netlink port: binding one that another socket holds is EPERM
 *   (nfulnl_recv_config: peer_portid differs); binding it twice on our socket is EBUSY. Closing
 *   the socket destroys our instances (NETLINK_URELEASE), so a crash leaves no group bound.
 * - Malformed messages are counted drops (per reason), never exceptions; a listener that
 *   throws is counted too. ENOBUFS on the socket means the kernel dropped copies: counted as
 *   'socket overrun'.
 *
 * The socket belongs to the network namespace it was created in, like the nftables rules.
 */
import { createNetlink, parseError, MessageType, type NetlinkMessage, type NetlinkSocket } from 'netlink';
import { Errno, PlatformError } from '../errors.js';
import { encode } from '../../protocols/wire/index.js';
import {
  decodeNflogMessage,
  emitNflogConfig,
  greOuterSource,
  NETLINK_NETFILTER,
  NFLOG_COPY_RANGE_MAX,
  NflogCmd,
  nflogConfigLength,
  NflogCopyMode,
  NflogMsgType,
  type NflogConfig,
  type NflogPacket,
} from './nflog-codec.js';

export type { NflogPacket } from './nflog-codec.js';
export { hookName, NfInetHook } from './nflog-codec.js';

const SYSCALL = 'NFULNL_MSG_CONFIG';

export interface NflogListenerOptions {
  /** Log groups to bind (0-65535), as the nftables rules name them. */
  readonly groups: readonly number[];
  /** Called once per logged packet; an exception is counted and swallowed. */
  readonly onPacket: (packet: NflogPacket) => void;
  /** Bytes of each packet copied (NFULA_CFG_MODE copy_range); default the kernel's maximum. */
  readonly copyRange?: number;
  /** Packets the kernel batches before it sends (NFULA_CFG_QTHRESH); default 1. */
  readonly queueThreshold?: number;
  /** Flush timeout of a partial batch in 1/100 s (NFULA_CFG_TIMEOUT); default 1. */
  readonly flushTimeoutCs?: number;
  /** Kernel buffer per batch (NFULA_CFG_NLBUFSIZ); default 64 KiB: one full-size copy fits. */
  readonly bufferSize?: number;
  /** SO_RCVBUF of the socket; default 1 MiB (an EIGRP update burst at convergence). */
  readonly receiveBufferSize?: number;
  /** Bound on each configuration request, in milliseconds (default 5000). */
  readonly timeoutMs?: number;
}

export interface NflogStatistics {
  /** Packet messages decoded and delivered. */
  readonly packets: number;
  /** Messages not delivered, by reason (WireError reasons, 'netlink framing', 'socket overrun' ...). */
  readonly drops: Readonly<Record<string, number>>;
  /** Exceptions thrown by onPacket. */
  readonly listenerErrors: number;
}

const MAX_GROUP = 0xffff;

export class NflogListener {
  private nl: NetlinkSocket | undefined;
  private readonly bound = new Set<number>();
  private readonly dropCounts = new Map<string, number>();
  private delivered = 0;
  private listenerErrors = 0;
  private closed = false;
  private queue: Promise<unknown> = Promise.resolve();
  readonly timeoutMs: number;

  constructor(private readonly options: NflogListenerOptions) {
    this.timeoutMs = options.timeoutMs ?? 5000;
    for (const g of options.groups) checkGroup(g, `binding nflog group ${g}`);
    const range = options.copyRange ?? NFLOG_COPY_RANGE_MAX;
    if (!Number.isInteger(range) || range < 1 || range > NFLOG_COPY_RANGE_MAX) {
      throw badArgument(`binding nflog groups ${options.groups.join(', ')}`, `copy range ${range} is out of range (1-${NFLOG_COPY_RANGE_MAX})`);
    }
  }

  /** Open the socket and bind every configured group. On failure nothing stays bound. */
  async start(): Promise<void> {
    if (this.closed) throw closedError('starting the nflog listener');
    if (this.nl) return;
    let nl: NetlinkSocket;
    try {
      nl = createNetlink(NETLINK_NETFILTER);
    } catch (e) {
      throw socketError(e, 'opening a NETLINK_NETFILTER socket');
    }
    this.nl = nl;
    nl.on('message', (msgs) => this.receive(msgs));
    nl.on('invalid', () => this.drop('netlink framing'));
    nl.on('truncatedMessage', () => this.drop('truncated datagram'));
    // recvmsg ENOBUFS: the socket buffer was full and the kernel dropped copies.
    nl.on('error', (err) => this.drop(err.code === 'ENOBUFS' ? 'socket overrun' : `socket error ${String(err.code)}`));
    try {
      nl.setRecvBufferSize(this.options.receiveBufferSize ?? 1 << 20);
      for (const g of this.options.groups) await this.bind(g);
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  /** Bind one more group (idempotent for a group we hold). */
  async bind(group: number): Promise<void> {
    const operation = `binding nflog group ${group}`;
    checkGroup(group, operation);
    return this.serial(async () => {
      if (this.bound.has(group)) return;
      await this.configure(
        {
          group,
          command: NflogCmd.BIND,
          copyMode: NflogCopyMode.PACKET,
          copyRange: this.options.copyRange ?? NFLOG_COPY_RANGE_MAX,
          bufferSize: this.options.bufferSize ?? 1 << 16,
          timeout: this.options.flushTimeoutCs ?? 1,
          queueThreshold: this.options.queueThreshold ?? 1,
        },
        operation,
      );
      this.bound.add(group);
    });
  }

  /** Unbind a group we hold; a group we do not hold is a no-op. */
  async unbind(group: number): Promise<void> {
    const operation = `unbinding nflog group ${group}`;
    checkGroup(group, operation);
    return this.serial(async () => {
      if (!this.bound.has(group)) return;
      this.bound.delete(group);
      await this.configure({ group, command: NflogCmd.UNBIND }, operation);
    });
  }

  get groups(): readonly number[] {
    return [...this.bound].sort((a, b) => a - b);
  }

  /** Every message not delivered, all reasons together. */
  get drops(): number {
    let n = 0;
    for (const v of this.dropCounts.values()) n += v;
    return n;
  }

  statistics(): NflogStatistics {
    return { packets: this.delivered, drops: Object.fromEntries(this.dropCounts), listenerErrors: this.listenerErrors };
  }

  /**
   * Unbind every group (bounded; best effort) and close the socket. Never rejects, so callers
   * may leave it unawaited; closing the socket alone would also release the groups.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const nl = this.nl;
    if (!nl) return;
    for (const g of [...this.bound]) {
      try {
        await this.configure({ group: g, command: NflogCmd.UNBIND }, `unbinding nflog group ${g}`, true);
      } catch {
        // the socket close below releases it anyway
      }
    }
    this.bound.clear();
    this.nl = undefined;
    try {
      nl.close();
    } catch {
      // already closed
    }
  }

  // ---- internals ----

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async configure(c: NflogConfig, operation: string, closing = false): Promise<void> {
    const nl = this.nl;
    if (!nl || (this.closed && !closing)) throw closedError(operation);
    const payload = encode(c, emitNflogConfig, nflogConfigLength, 'nflog');
    let replies: NetlinkMessage[];
    try {
      [replies] = await nl.request(NflogMsgType.CONFIG, [payload], { timeout: this.timeoutMs, checkError: false });
    } catch (e) {
      throw requestError(e, operation, this.timeoutMs);
    }
    const first = replies[0];
    if (!first || first.type !== MessageType.ERROR) return;
    let errno: number;
    try {
      errno = -parseError(first.data, first.flags).errno;
    } catch (e) {
      throw new PlatformError({ code: 'netlink', errno: Errno.EIO, syscall: SYSCALL, operation, detail: `unreadable kernel reply: ${String(e)}` });
    }
    if (errno === 0) return;
    throw configError(errno, c, operation);
  }

  /**
   * The receive entry: every netlink message from the socket comes through here (public so a
   * test can feed it bytes). Packets go to onPacket; anything else is counted, never thrown.
   */
  receive(msgs: readonly { readonly type: number; readonly data: Uint8Array }[]): void {
    for (const m of msgs) {
      const d = decodeNflogMessage(m.type, m.data);
      if (d.kind === 'control') continue;
      if (d.kind === 'drop') {
        this.drop(d.reason);
        continue;
      }
      this.delivered++;
      try {
        this.options.onPacket(d.packet);
      } catch {
        this.listenerErrors++;
      }
    }
  }

  private drop(reason: string): void {
    this.dropCounts.set(reason, (this.dropCounts.get(reason) ?? 0) + 1);
  }
}

/**
 * nflog groups of one tunnel: `multicast = base + 2 * index`, `redirect = base + 2 * index + 1`,
 * so tunnels with distinct indexes never share a group. The default base keeps clear of the
 * small numbers people give ulogd and FRR nhrpd (`nhrp nflog-group`, usually 1-10).
 */
export const NFLOG_GROUP_BASE = 0x4d00;

export function tapGroups(index: number, base = NFLOG_GROUP_BASE): { readonly multicast: number; readonly redirect: number } {
  const operation = `choosing nflog groups for tunnel index ${index}`;
  const max = Math.floor((MAX_GROUP - base - 1) / 2);
  if (!Number.isInteger(base) || base < 0 || base > MAX_GROUP - 1) throw badArgument(operation, `group base ${base} is out of range (0-${MAX_GROUP - 1})`);
  if (!Number.isInteger(index) || index < 0 || index > max) throw badArgument(operation, `tunnel index ${index} is out of range (0-${max} with base ${base})`);
  return { multicast: base + 2 * index, redirect: base + 2 * index + 1 };
}

/** The event a consumer most often wants from a hairpin copy: who sent it over the tunnel. */
export function nbmaSourceOf(packet: NflogPacket): string | undefined {
  return greOuterSource(packet);
}

// ---- errors ----

function checkGroup(group: number, operation: string): void {
  if (!Number.isInteger(group) || group < 0 || group > MAX_GROUP) throw badArgument(operation, `group ${group} is out of range (0-${MAX_GROUP})`);
}

function badArgument(operation: string, detail: string): PlatformError {
  return new PlatformError({ code: 'bad-argument', errno: Errno.EINVAL, syscall: SYSCALL, operation, detail });
}

function closedError(operation: string): PlatformError {
  return new PlatformError({ code: 'socket', errno: Errno.EBADF, syscall: SYSCALL, operation, detail: 'the nflog listener is closed' });
}

function configError(errno: number, c: NflogConfig, operation: string): PlatformError {
  if (c.command === NflogCmd.BIND && errno === Errno.EPERM) {
    return new PlatformError({
      code: 'netlink', errno, syscall: SYSCALL, operation,
      detail: `group ${c.group} is bound by another process, or we lack CAP_NET_ADMIN`,
    });
  }
  if (c.command === NflogCmd.BIND && errno === Errno.EBUSY) {
    return new PlatformError({ code: 'netlink', errno, syscall: SYSCALL, operation, detail: `group ${c.group} is already bound on this socket` });
  }
  return new PlatformError({ code: 'netlink', errno, syscall: SYSCALL, operation });
}

interface ErrnoLike {
  errno?: unknown;
  syscall?: unknown;
  message?: unknown;
}

function requestError(e: unknown, operation: string, timeoutMs: number): PlatformError {
  if (e instanceof PlatformError) return e;
  const x = (typeof e === 'object' && e !== null ? e : {}) as ErrnoLike;
  const message = typeof x.message === 'string' ? x.message : String(e);
  if (/timeout/i.test(message)) {
    return new PlatformError({ code: 'timeout', errno: Errno.ETIMEDOUT, syscall: SYSCALL, operation, detail: `no answer from the kernel within ${timeoutMs} ms` });
  }
  return socketError(e, operation);
}

function socketError(e: unknown, operation: string): PlatformError {
  const x = (typeof e === 'object' && e !== null ? e : {}) as ErrnoLike;
  const message = typeof x.message === 'string' ? x.message : String(e);
  const errno = typeof x.errno === 'number' ? Math.abs(x.errno) : Errno.EIO;
  const syscall = typeof x.syscall === 'string' ? x.syscall : SYSCALL;
  return new PlatformError({ code: 'socket', errno, syscall, operation, detail: `netlink socket: ${message}` });
}
