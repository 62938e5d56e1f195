/**
 * Turning what can go wrong on a NETLINK_ROUTE socket into PlatformError.
 *
 * The kernel answers a request with NLMSG_ERROR carrying a negative errno (RFC 3549 section
 * 2.3.2.2; 0 is the ACK). The `netlink` package would throw a bare Error("Request rejected:
 * EEXIST") and cannot enable NETLINK_EXT_ACK (it has no setsockopt for it), so the kernel's
 * extended-ack text never arrives: the message is built here from the errno and the operation.
 */
import { Errno, PlatformError } from '../errors.js';

/** rtnetlink message types by number (include/uapi/linux/rtnetlink.h), for `syscall`. */
export const RtmType = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  SETLINK: 19,
  NEWADDR: 20,
  DELADDR: 21,
  GETADDR: 22,
  NEWROUTE: 24,
  DELROUTE: 25,
  GETROUTE: 26,
  NEWNEIGH: 28,
  DELNEIGH: 29,
  GETNEIGH: 30,
} as const;

const RTM_NAME: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(RtmType).map(([k, v]) => [v, `RTM_${k}`]),
);

export function rtmName(type: number): string {
  return RTM_NAME[type] ?? `RTM_${type}`;
}

/** The kernel refused: errno is positive here (the NLMSG_ERROR field negated). */
export function netlinkError(errno: number, type: number, operation: string, detail?: string): PlatformError {
  return new PlatformError({ code: 'netlink', errno, syscall: rtmName(type), operation, detail });
}

/** A reply that does not parse (a kernel newer than the package's struct layouts): EIO. */
export function malformedReply(type: number, operation: string, why: string): PlatformError {
  return new PlatformError({ code: 'netlink', errno: Errno.EIO, syscall: rtmName(type), operation, detail: `unreadable kernel reply: ${why}` });
}

interface ErrnoLike {
  errno?: unknown;
  code?: unknown;
  syscall?: unknown;
  message?: unknown;
}

/**
 * A request that got no answer: the package's timeout ("Timeout has been reached"), a send that
 * failed (its ErrnoException: errno/code/syscall kept), or anything else on the socket.
 */
export function requestFailure(e: unknown, type: number, operation: string, timeoutMs: number): PlatformError {
  if (e instanceof PlatformError) return e;
  const x = (typeof e === 'object' && e !== null ? e : {}) as ErrnoLike;
  const message = typeof x.message === 'string' ? x.message : String(e);
  if (/timeout/i.test(message)) {
    return new PlatformError({
      code: 'timeout',
      errno: Errno.ETIMEDOUT,
      syscall: rtmName(type),
      operation,
      detail: `no answer from the kernel within ${timeoutMs} ms`,
    });
  }
  const errno = typeof x.errno === 'number' ? Math.abs(x.errno) : Errno.EIO;
  const syscall = typeof x.syscall === 'string' ? x.syscall : rtmName(type);
  return new PlatformError({ code: 'socket', errno, syscall, operation, detail: `netlink socket: ${message}` });
}
