/**
 * The one error type a platform port throws (rtnetlink here; xfrm, sockets and TUN may share it).
 *
 * DESIGN.md: errors for users carry a stable `code`, a one-line message naming the object at
 * fault, and no stack trace unless asked for; platform errors keep errno/syscall the way Node's
 * ErrnoException does. Node puts the errno name ("EEXIST") in `code`; here `code` is our stable
 * category and the errno name is in `errnoCode`, so callers can branch on either.
 *
 * Pure: no I/O, so the in-memory fakes throw exactly the same objects as the Linux layer.
 */

/** Stable categories. New ones may be added; existing ones never change meaning. */
export type PlatformErrorCode =
  /** The kernel refused a netlink request; `errno` says why. */
  | 'netlink'
  /** The kernel lacks the feature (e.g. no ip_gre link type); the daemon can fall back to TUN. */
  | 'unsupported'
  /** A value could not be encoded (malformed prefix, address, MTU out of u32 ...); never sent. */
  | 'bad-argument'
  /** No answer within the bound. */
  | 'timeout'
  /** The socket itself failed (send error, closed). */
  | 'socket';

/**
 * Linux errno numbers (include/uapi/asm-generic/errno-base.h and errno.h) with the glibc
 * strerror() text, so messages read like iproute2's "RTNETLINK answers: File exists".
 */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOSPC: 28,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  EMSGSIZE: 90,
  EPROTONOSUPPORT: 93,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ENETUNREACH: 101,
  ENOBUFS: 105,
  ETIMEDOUT: 110,
  EHOSTUNREACH: 113,
} as const;

export type ErrnoName = keyof typeof Errno;

const ERRNO_TEXT: Readonly<Record<number, string>> = {
  1: 'Operation not permitted',
  2: 'No such file or directory',
  3: 'No such process',
  4: 'Interrupted system call',
  5: 'Input/output error',
  6: 'No such device or address',
  7: 'Argument list too long',
  9: 'Bad file descriptor',
  11: 'Resource temporarily unavailable',
  12: 'Cannot allocate memory',
  13: 'Permission denied',
  14: 'Bad address',
  16: 'Device or resource busy',
  17: 'File exists',
  19: 'No such device',
  22: 'Invalid argument',
  23: 'Too many open files in system',
  24: 'Too many open files',
  28: 'No space left on device',
  34: 'Numerical result out of range',
  36: 'File name too long',
  38: 'Function not implemented',
  90: 'Message too long',
  93: 'Protocol not supported',
  95: 'Operation not supported',
  97: 'Address family not supported by protocol',
  98: 'Address already in use',
  99: 'Cannot assign requested address',
  100: 'Network is down',
  101: 'Network is unreachable',
  105: 'No buffer space available',
  110: 'Connection timed out',
  113: 'No route to host',
};

const ERRNO_NAME: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(Errno).map(([name, n]) => [n, name]),
);

/** "EEXIST" for 17; `E<n>` for numbers this table does not know. */
export function errnoName(errno: number): string {
  return ERRNO_NAME[errno] ?? `E${errno}`;
}

/** "File exists" for 17; "Unknown error n" (glibc's wording) otherwise. */
export function errnoText(errno: number): string {
  return ERRNO_TEXT[errno] ?? `Unknown error ${errno}`;
}

export interface PlatformErrorInit {
  readonly code: PlatformErrorCode;
  /** Positive Linux errno (17, not -17). */
  readonly errno: number;
  /** The request that failed: a netlink message type such as "RTM_NEWROUTE", or a syscall name. */
  readonly syscall: string;
  /** What we were doing, naming the object: "adding route 192.168.2.0/24 via 10.0.0.12 dev dmvpn0". */
  readonly operation: string;
  /** Replaces the "File exists (EEXIST)" part when the errno alone would mislead. */
  readonly detail?: string;
}

export class PlatformError extends Error {
  override readonly name = 'PlatformError';
  readonly code: PlatformErrorCode;
  readonly errno: number;
  /** The errno's symbolic name, what Node would put in `code`: "EEXIST". */
  readonly errnoCode: string;
  readonly syscall: string;
  readonly operation: string;

  constructor(init: PlatformErrorInit) {
    const name = errnoName(init.errno);
    const detail = init.detail ?? errnoText(init.errno);
    const suffix = init.detail === undefined ? `(${name})` : `(${errnoText(init.errno)}, ${name})`;
    super(`${init.operation}: ${detail} ${suffix}`);
    this.code = init.code;
    this.errno = init.errno;
    this.errnoCode = name;
    this.syscall = init.syscall;
    this.operation = init.operation;
  }

  /** The fields a test or a `--json` error report compares; no stack. */
  toJSON(): { code: PlatformErrorCode; errno: number; errnoCode: string; syscall: string; operation: string; message: string } {
    return { code: this.code, errno: this.errno, errnoCode: this.errnoCode, syscall: this.syscall, operation: this.operation, message: this.message };
  }
}

export function isPlatformError(e: unknown): e is PlatformError {
  return e instanceof PlatformError;
}
