/**
 * TunnelTaps: the two nftables rules the kernel dataplane needs, in a table the daemon owns
 * (`table ip dmvpnd_<tunnel>`), so nothing else in the host's ruleset is touched.
 *
 *   output  chain: oifname "<dev>" ip daddr 224.0.0.0/4 counter log group <G1> drop
 *     A multipoint ip_gre device has no remote, so the kernel cannot deliver multicast out of it
 *     (the neighbour for a group address maps to the device's all-zero broadcast). The copy goes
 *     to the daemon, which sends one unicast GRE copy per NBMA address of the NHRP multicast list
 *     (IOS `ip nhrp map multicast`); the undeliverable original is dropped. The sender sees the
 *     drop: sendmsg() fails with EPERM (NF_DROP on LOCAL_OUT), which is expected here.
 *   forward chain: iifname "<dev>" oifname "<dev>" limit (total) update @pairs { saddr . daddr
 *     limit (per pair) } counter log group <G2> snaplen <N>
 *     A packet a hub forwards from the tunnel back into it is spoke-to-spoke traffic through the
 *     hub: the trigger of an NHRP Traffic Indication (Phase 3, IOS `ip nhrp redirect`). The
 *     packet is still forwarded; only a copy of its first bytes is logged. IOS limits
 *     indications per source/destination pair and so does the NHRP engine; the dynamic set
 *     here keys a limiter on the same pair so a busy flow costs a few copies a minute, and the
 *     total limit in front bounds the copy rate when many pairs hairpin at once.
 *
 *   postrouting chain: oifname "<dev>" update @tx_nexthops { rt ip nexthop counter }
 *     What leaves the device, counted per route next hop (the overlay address whose neighbour
 *     entry carries the NBMA address): the kernel keeps no transmit use on the PERMANENT
 *     neighbours NHRP's mappings are, so this set is the usage signal that keeps a busy
 *     shortcut refreshed and lets an idle one lapse (IOS's "used" flag). `rt ip nexthop` is the
 *     gateway of the route, or the destination itself on a connected route (rt_nexthop()), so
 *     a hub counts per spoke and a spoke per shortcut peer. Postrouting sees forwarded and
 *     local packets alike, after routing and before the neighbour lookup. The elements time
 *     out when idle, so next hops no longer used leave the set; the daemon reads it with
 *     `nft -j list set` (usage(), parsed in nft-usage.ts).
 *
 * The whole table is applied in one `nft -f -` transaction ("table; delete table; table { … }"):
 * installing replaces any previous version atomically and never leaves half a table. nft is
 * spawned with a time bound; its stderr ("/dev/stdin:7:3-20: Error: …") becomes a PlatformError
 * naming the rule on that line. Names are validated before nft runs: a device name goes inside
 * a quoted nft string, so quotes, backslashes and spaces are refused.
 */
import { spawn } from 'node:child_process';
import { Errno, errnoText, PlatformError, type PlatformErrorCode } from '../errors.js';
import { parseSetCounters, type NextHopCount } from './nft-usage.js';

/** Default copy rate bounds of the redirect tap. */
export const DEFAULT_REDIRECT_RATE: RedirectRate = {
  // IOS sends at most one Traffic Indication per pair every `ip nhrp redirect timeout` (8 s by
  // default), i.e. 7.5 a minute: 10 a minute leaves the decision to the NHRP engine.
  packets: 10,
  per: 'minute',
  burst: 2,
  totalPerSecond: 200,
};

/** Bytes of a hairpinned packet copied: its IP header and the start of its payload, which the
 * Traffic Indication quotes (FRR nhrpd uses --nflog-range 128 for the same purpose). */
export const DEFAULT_REDIRECT_SNAPLEN = 128;

export interface RedirectRate {
  /** Copies per pair (source . destination) per `per`. */
  readonly packets: number;
  readonly per: 'second' | 'minute' | 'hour';
  /**
   * Copies a new (or long idle) pair may take at once, then `packets` per `per`. Measured on
   * Linux 6.1 and 6.18: a fresh limiter passes exactly `burst` packets (nft_limit starts with
   * burst tokens; older kernels started with packets + burst). At least 1: the kernel turns a
   * packet burst of 0 into 5.
   */
  readonly burst?: number;
  /** Bound on all copies together, per second. */
  readonly totalPerSecond?: number;
}

export interface TapSpec {
  /** The tunnel device (the nft rules match it by name, so it may come and go). */
  readonly device: string;
  /** Group of the multicast copies (output chain). */
  readonly multicastGroup: number;
  /** Group of the hairpin copies (forward chain); absent: no forward chain (not a Phase 3 hub). */
  readonly redirectGroup?: number;
  readonly redirectRate?: RedirectRate;
  readonly redirectSnaplen?: number;
  /**
   * `ip tcp adjust-mss N`: TCP SYNs entering or leaving the tunnel (forwarded or our own) with a
   * larger MSS option get N, as IOS rewrites them on the interface. Absent: no rewriting.
   */
  readonly mssClamp?: number;
  /** Count what leaves the device per route next hop (the postrouting chain and its set). */
  readonly txUsage?: boolean;
}

export interface TunnelTapsOptions {
  /** The nft command line prefix; default ["nft"]. Tests use ["ip", "netns", "exec", NS, "nft"]. */
  readonly nft?: readonly string[];
  /** Bound on every nft run, in milliseconds (default 10000). */
  readonly timeoutMs?: number;
}

export interface TapCounter {
  readonly packets: number;
  readonly bytes: number;
}

export interface TapsStatus {
  /** The table exists. */
  readonly present: boolean;
  /** The table holds every rule of the last install() (with its log group). */
  readonly complete: boolean;
  /** Packets the multicast rule copied (and dropped). */
  readonly multicast?: TapCounter;
  /** Packets the redirect rule copied. */
  readonly redirect?: TapCounter;
  /** SYNs whose MSS the clamp rules rewrote. */
  readonly mssClamped?: TapCounter;
  /** The usage rule is there (when the last install() asked for it). */
  readonly txUsage?: boolean;
}

/** Prefix of every table this daemon owns. */
export const TABLE_PREFIX = 'dmvpnd_';
const SET_NAME = 'redirect_pairs';
/** The set of next hops the tunnel transmits to, with a counter each. */
export const TX_SET_NAME = 'tx_nexthops';
/**
 * How long an idle next hop stays in the set (seconds): far longer than the daemon's read
 * interval (seconds), so no use goes unseen, and short enough that next hops that are gone
 * leave. An element that times out and comes back starts from zero again (nft-usage.ts copes).
 */
export const TX_SET_TIMEOUT_S = 600;
const IFNAMSIZ_MAX = 15;
const MAX_OUTPUT = 1 << 20;
/** The usage set at its full size (65535 elements of about 90 bytes of JSON each) fits. */
const MAX_USAGE_OUTPUT = 16 << 20;

export class TunnelTaps {
  /** `dmvpnd_<tunnel>`, family ip. */
  readonly table: string;
  readonly timeoutMs: number;
  private readonly nft: readonly string[];
  private spec: TapSpec | undefined;

  constructor(readonly tunnel: string, options: TunnelTapsOptions = {}) {
    checkName(tunnel, 'tunnel', `preparing the nftables taps of ${tunnel}`);
    this.table = `${TABLE_PREFIX}${tunnel}`;
    this.nft = options.nft ?? ['nft'];
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** Install (or replace) the table atomically. */
  async install(spec: TapSpec): Promise<void> {
    const operation = `installing nftables table ip ${this.table}`;
    const script = tapsRuleset(this.table, spec, operation);
    await runNft(this.nft, ['-f', '-'], script.text, script.labels, operation, this.timeoutMs);
    this.spec = spec;
  }

  /** Remove the table; a table that is not there is not an error. */
  async remove(): Promise<void> {
    const operation = `removing nftables table ip ${this.table}`;
    const text = `table ip ${this.table}\ndelete table ip ${this.table}\n`;
    await runNft(this.nft, ['-f', '-'], text, ['the table', 'the table'], operation, this.timeoutMs);
    this.spec = undefined;
  }

  /** Whether the table and every rule of the last install() are still there (for recovery). */
  async present(): Promise<boolean> {
    return (await this.status()).complete;
  }

  /** The table's state and the taps' counters, read with `nft -j list table`. */
  async status(): Promise<TapsStatus> {
    const operation = `reading nftables table ip ${this.table}`;
    let out: string;
    try {
      out = await runNft(this.nft, ['-j', 'list', 'table', 'ip', this.table], '', [], operation, this.timeoutMs);
    } catch (e) {
      if (e instanceof PlatformError && e.code === 'netlink' && e.errno === Errno.ENOENT) return { present: false, complete: false };
      throw e;
    }
    return readStatus(out, this.table, this.spec, operation);
  }

  /**
   * The per-next-hop transmit counters (`nft -j list set ip <table> tx_nexthops`), as nft
   * printed them. Undefined when the set is not there (not installed, or flushed away).
   */
  async usage(): Promise<readonly NextHopCount[] | undefined> {
    const operation = `reading nftables set ${TX_SET_NAME} of table ip ${this.table}`;
    let out: string;
    try {
      out = await runNft(this.nft, ['-j', 'list', 'set', 'ip', this.table, TX_SET_NAME], '', [], operation, this.timeoutMs, MAX_USAGE_OUTPUT);
    } catch (e) {
      if (e instanceof PlatformError && e.code === 'netlink' && e.errno === Errno.ENOENT) return undefined;
      throw e;
    }
    return parseSetCounters(out, this.table, TX_SET_NAME, operation);
  }

  /** Re-install when the table or one of its rules vanished; true when it did. */
  async ensure(): Promise<boolean> {
    if (!this.spec) return false;
    if (await this.present()) return false;
    await this.install(this.spec);
    return true;
  }
}

// ---- the ruleset ----

export interface NftScript {
  readonly text: string;
  /** What each line is, for error messages: labels[i] names line i + 1. */
  readonly labels: readonly string[];
}

/** The nft script of a tunnel's table. Validates everything that goes into it. */
export function tapsRuleset(table: string, spec: TapSpec, operation = `installing nftables table ip ${table}`): NftScript {
  checkIdentifier(table, operation);
  checkName(spec.device, 'device', operation);
  checkGroup(spec.multicastGroup, 'multicast group', operation);
  const lines: [string, string][] = [];
  const add = (text: string, label: string): void => {
    lines.push([text, label]);
  };
  const dev = `"${spec.device}"`;
  add(`table ip ${table}`, 'the table');
  add(`delete table ip ${table}`, 'the table');
  add(`table ip ${table} {`, 'the table');
  if (spec.redirectGroup !== undefined) {
    checkGroup(spec.redirectGroup, 'redirect group', operation);
    if (spec.redirectGroup === spec.multicastGroup) throw badArgument(operation, `redirect group ${spec.redirectGroup} is the multicast group`);
    const rate = spec.redirectRate ?? DEFAULT_REDIRECT_RATE;
    checkCount(rate.packets, 'redirect rate', operation);
    const burst = rate.burst ?? DEFAULT_REDIRECT_RATE.burst ?? 1;
    checkCount(burst, 'redirect burst', operation);
    const total = rate.totalPerSecond ?? DEFAULT_REDIRECT_RATE.totalPerSecond ?? 200;
    checkCount(total, 'total redirect rate', operation);
    if (!['second', 'minute', 'hour'].includes(rate.per)) throw badArgument(operation, `redirect rate unit "${String(rate.per)}" is not second, minute or hour`);
    const snaplen = spec.redirectSnaplen ?? DEFAULT_REDIRECT_SNAPLEN;
    checkCount(snaplen, 'redirect snaplen', operation, 20, 0xffff);
    // An idle pair's limiter is forgotten after one rate unit (at least a minute): it would be full again by then.
    const timeout = rate.per === 'hour' ? '1h' : '1m';
    add(`\tset ${SET_NAME} {`, `the per-pair limiter set ${SET_NAME}`);
    add('\t\ttype ipv4_addr . ipv4_addr', `the per-pair limiter set ${SET_NAME}`);
    add('\t\tsize 65535', `the per-pair limiter set ${SET_NAME}`);
    add('\t\tflags dynamic,timeout', `the per-pair limiter set ${SET_NAME}`);
    add(`\t\ttimeout ${timeout}`, `the per-pair limiter set ${SET_NAME}`);
    add('\t}', `the per-pair limiter set ${SET_NAME}`);
    add('\tchain forward {', 'chain forward');
    add('\t\ttype filter hook forward priority filter; policy accept;', 'chain forward');
    add(
      `\t\tiifname ${dev} oifname ${dev} limit rate ${total}/second burst ${total} packets ` +
        `update @${SET_NAME} { ip saddr . ip daddr limit rate ${rate.packets}/${rate.per} burst ${burst} packets } ` +
        `counter log group ${spec.redirectGroup} snaplen ${snaplen}`,
      `the redirect rule (chain forward, log group ${spec.redirectGroup})`,
    );
    add('\t}', 'chain forward');
  }
  if (spec.txUsage) {
    const what = `the transmit usage set ${TX_SET_NAME}`;
    add(`\tset ${TX_SET_NAME} {`, what);
    add('\t\ttype ipv4_addr', what);
    add('\t\tsize 65535', what);
    add('\t\tflags dynamic,timeout', what);
    add(`\t\ttimeout ${TX_SET_TIMEOUT_S}s`, what);
    add('\t}', what);
    add('\tchain postrouting {', 'chain postrouting');
    add('\t\ttype filter hook postrouting priority filter; policy accept;', 'chain postrouting');
    // The counter lives in each element (a dynset expression), which kernels before 5.11 support too.
    add(`\t\toifname ${dev} update @${TX_SET_NAME} { rt ip nexthop counter }`, 'the transmit usage rule (chain postrouting)');
    add('\t}', 'chain postrouting');
  }
  if (spec.mssClamp !== undefined) {
    checkCount(spec.mssClamp, 'adjust-mss', operation, 500, 1460);
    const n = spec.mssClamp;
    // Mangle priority: before the filter chains; SYN without RST, an MSS option above N.
    const clamp = (dir: string): string => `\t\t${dir} ${dev} tcp flags & (syn | rst) == syn tcp option maxseg size > ${n} counter tcp option maxseg size set ${n}`;
    for (const [chain, hook] of [['mss_forward', 'forward'], ['mss_output', 'output']] as const) {
      add(`\tchain ${chain} {`, `chain ${chain}`);
      add(`\t\ttype filter hook ${hook} priority mangle; policy accept;`, `chain ${chain}`);
      if (hook === 'forward') add(clamp('iifname'), `the MSS clamp (chain ${chain}, in)`);
      add(clamp('oifname'), `the MSS clamp (chain ${chain}, out)`);
      add('\t}', `chain ${chain}`);
    }
  }
  add('\tchain output {', 'chain output');
  add('\t\ttype filter hook output priority filter; policy accept;', 'chain output');
  add(`\t\toifname ${dev} ip daddr 224.0.0.0/4 counter log group ${spec.multicastGroup} drop`, `the multicast rule (chain output, log group ${spec.multicastGroup})`);
  add('\t}', 'chain output');
  add('}', 'the table');
  return { text: lines.map(([t]) => t).join('\n') + '\n', labels: lines.map(([, l]) => l) };
}

// ---- reading the table back ----

type Json = Record<string, unknown>;

function readStatus(out: string, table: string, spec: TapSpec | undefined, operation: string): TapsStatus {
  let doc: { nftables?: Json[] };
  try {
    doc = JSON.parse(out) as { nftables?: Json[] };
  } catch {
    throw new PlatformError({ code: 'netlink', errno: Errno.EIO, syscall: 'nft', operation, detail: 'nft -j printed something that is not JSON' });
  }
  const items = doc.nftables ?? [];
  const present = items.some((i) => (i.table as Json | undefined)?.name === table);
  const rules = items.map((i) => i.rule as Json | undefined).filter((r): r is Json => r !== undefined && r.table === table);
  const find = (chain: string, group: number, verdict?: string): TapCounter | undefined => {
    for (const r of rules) {
      if (r.chain !== chain) continue;
      const expr = Array.isArray(r.expr) ? (r.expr as Json[]) : [];
      const log = expr.find((e) => e.log !== undefined)?.log as Json | undefined;
      if (log?.group !== group) continue;
      if (verdict !== undefined && !expr.some((e) => verdict in e)) continue;
      const c = expr.find((e) => e.counter !== undefined)?.counter as Json | undefined;
      return { packets: Number(c?.packets ?? 0), bytes: Number(c?.bytes ?? 0) };
    }
    return undefined;
  };
  if (!spec) return { present, complete: present };
  let mssClamped: TapCounter | undefined;
  for (const r of rules) {
    if (r.chain !== 'mss_forward' && r.chain !== 'mss_output') continue;
    const expr = Array.isArray(r.expr) ? (r.expr as Json[]) : [];
    const c = expr.find((e) => e.counter !== undefined)?.counter as Json | undefined;
    mssClamped = { packets: (mssClamped?.packets ?? 0) + Number(c?.packets ?? 0), bytes: (mssClamped?.bytes ?? 0) + Number(c?.bytes ?? 0) };
  }
  const multicast = find('output', spec.multicastGroup, 'drop');
  const redirect = spec.redirectGroup !== undefined ? find('forward', spec.redirectGroup) : undefined;
  const txUsage = rules.some((r) => r.chain === 'postrouting' && Array.isArray(r.expr) && (r.expr as Json[]).some((e) => (e.set as Json | undefined)?.set === `@${TX_SET_NAME}`));
  const complete = present && multicast !== undefined && (spec.redirectGroup === undefined || redirect !== undefined) && (spec.mssClamp === undefined || mssClamped !== undefined)
    && (!spec.txUsage || txUsage);
  return { present, complete, ...(multicast ? { multicast } : {}), ...(redirect ? { redirect } : {}), ...(mssClamped ? { mssClamped } : {}), ...(spec.txUsage ? { txUsage } : {}) };
}

// ---- running nft ----

/**
 * Run nft with `args`, feeding `stdin`; resolve with its stdout. A failure becomes a
 * PlatformError naming the labelled line nft complains about. Exported for the tests.
 */
export function runNft(
  command: readonly string[],
  args: readonly string[],
  stdin: string,
  labels: readonly string[],
  operation: string,
  timeoutMs: number,
  maxOutput = MAX_OUTPUT,
): Promise<string> {
  const [bin, ...pre] = command;
  return new Promise((resolve, reject) => {
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(bin, [...pre, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (e) {
      reject(spawnFailure(e, bin, operation));
      return;
    }
    let out = '';
    let err = '';
    let done = false;
    const finish = (f: () => void): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      f();
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(() =>
        reject(new PlatformError({ code: 'timeout', errno: Errno.ETIMEDOUT, syscall: 'nft', operation, detail: `nft did not finish within ${timeoutMs} ms` })),
      );
    }, timeoutMs);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      if (out.length < maxOutput) out += d;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (err.length < MAX_OUTPUT) err += d;
    });
    child.on('error', (e) => finish(() => reject(spawnFailure(e, bin, operation))));
    child.on('close', (code, signal) =>
      finish(() => {
        if (code === 0) resolve(out);
        else reject(nftFailure(err, labels, operation, code, signal));
      }),
    );
    // nft may exit before reading all of its input (an early error): that is reported by 'close'.
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(stdin);
  });
}

const ERRNO_BY_TEXT: ReadonlyMap<string, number> = new Map(Object.values(Errno).map((n) => [errnoText(n), n]));
const UNSUPPORTED: ReadonlySet<number> = new Set([Errno.EOPNOTSUPP, Errno.EAFNOSUPPORT, Errno.EPROTONOSUPPORT]);

/** nft's stderr to a PlatformError: "/dev/stdin:LINE:COL-COL: Error: TEXT" names the line at fault. */
export function nftFailure(stderr: string, labels: readonly string[], operation: string, code: number | null, signal: NodeJS.Signals | null = null): PlatformError {
  const lines = stderr.split('\n').map((l) => l.trimEnd());
  const at = lines.map((l) => /^(?:[^:\s]+):(\d+):\d+(?:-\d+)?: Error: (.*)$/.exec(l)).find((m) => m !== null);
  const bare = lines.map((l) => /^Error: (.*)$/.exec(l)).find((m) => m !== null);
  const message = at?.[2] ?? bare?.[1] ?? (lines.find((l) => l !== '') || (signal ? `nft killed by ${signal}` : `nft exited with status ${code}`));
  const line = at ? Number(at[1]) : undefined;
  const where = line !== undefined ? ` in ${labels[line - 1] ?? `line ${line}`}` : '';
  // "Could not process rule: No such file or directory" carries the kernel's errno text.
  const errnoMatch = [...ERRNO_BY_TEXT.keys()].find((t) => message.endsWith(t) || message.includes(`${t};`));
  const errno = errnoMatch !== undefined ? ERRNO_BY_TEXT.get(errnoMatch)! : Errno.EINVAL;
  const kind: PlatformErrorCode = errnoMatch === undefined ? 'bad-argument' : UNSUPPORTED.has(errno) ? 'unsupported' : 'netlink';
  return new PlatformError({ code: kind, errno, syscall: 'nft', operation, detail: `nft refused${where}: ${message}` });
}

function spawnFailure(e: unknown, bin: string, operation: string): PlatformError {
  const x = e as { code?: unknown; errno?: unknown; message?: unknown };
  if (x.code === 'ENOENT') {
    return new PlatformError({
      code: 'unsupported', errno: Errno.ENOENT, syscall: 'nft', operation,
      detail: `${bin} not found: the kernel dataplane needs nftables (install the nft command)`,
    });
  }
  const errno = typeof x.errno === 'number' ? Math.abs(x.errno) : Errno.EIO;
  return new PlatformError({ code: 'socket', errno, syscall: 'nft', operation, detail: `could not run ${bin}: ${String(x.message ?? e)}` });
}

// ---- validation ----

function badArgument(operation: string, detail: string): PlatformError {
  return new PlatformError({ code: 'bad-argument', errno: Errno.EINVAL, syscall: 'nft', operation, detail });
}

/**
 * A device (or tunnel) name that can sit inside an nft quoted string and in a table name:
 * 1-15 bytes (IFNAMSIZ - 1) of letters, digits, '_', '-', '.', starting with a letter or '_'.
 * Stricter than the kernel (which allows most bytes) on purpose: nothing to escape.
 */
function checkName(name: string, what: string, operation: string): void {
  if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_.-]{0,14}$/.test(name) || name.length > IFNAMSIZ_MAX) {
    throw badArgument(operation, `${what} name ${JSON.stringify(name)} is not usable in nftables (1-15 of A-Z a-z 0-9 _ - ., starting with a letter or _)`);
  }
}

function checkIdentifier(table: string, operation: string): void {
  if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(table) || table.length > 255) throw badArgument(operation, `table name ${JSON.stringify(table)} is not an nft identifier`);
}

function checkGroup(group: number, what: string, operation: string): void {
  if (!Number.isInteger(group) || group < 0 || group > 0xffff) throw badArgument(operation, `${what} ${group} is out of range (0-65535)`);
}

function checkCount(n: number, what: string, operation: string, min = 1, max = 1_000_000): void {
  if (!Number.isInteger(n) || n < min || n > max) throw badArgument(operation, `${what} ${n} is out of range (${min}-${max})`);
}
