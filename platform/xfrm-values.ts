/**
 * Constants and pure helpers shared by the Linux XFRM layer (platform/linux/xfrm.ts) and its fake
 * (platform/fake/xfrm.ts): the same validation, the same defaults, the same words in errors, and
 * the same rule for which states and policies are ours. No I/O.
 */
import { Errno, PlatformError } from './errors.js';
import { ipv4 } from './netlink-values.js';
import type {
  XfrmDir,
  XfrmMode,
  XfrmOwner,
  XfrmPolicy,
  XfrmPolicyId,
  XfrmPolicySpec,
  XfrmSelector,
  XfrmState,
  XfrmStateId,
  XfrmStateSpec,
  XfrmTemplate,
} from './ports.js';

/** IP protocol numbers (IANA; include/uapi/linux/in.h) that XFRM messages carry. */
export const IpProto = { ANY: 0, ICMP: 1, TCP: 6, UDP: 17, GRE: 47, ESP: 50, AH: 51, COMP: 108 } as const;

const PROTO_NAME: Readonly<Record<number, string>> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 47: 'gre', 50: 'esp', 51: 'ah', 108: 'comp' };

/** "esp", "gre" ... as iproute2 prints them; the number otherwise. */
export function protoName(p: number): string {
  return PROTO_NAME[p] ?? String(p);
}

/** AF_INET (include/linux/socket.h). */
export const AF_INET = 2;

/** XFRM_MODE_* (include/uapi/linux/xfrm.h). */
export const XfrmModeNumber: Readonly<Record<XfrmMode, number>> = { transport: 0, tunnel: 1, ro: 2, in_trigger: 3, beet: 4 };
/** XFRM_POLICY_IN / OUT / FWD (include/uapi/linux/xfrm.h). */
export const XfrmDirNumber: Readonly<Record<XfrmDir, number>> = { in: 0, out: 1, fwd: 2 };

export function modeFromNumber(n: number): XfrmMode {
  const m = (Object.keys(XfrmModeNumber) as XfrmMode[]).find((k) => XfrmModeNumber[k] === n);
  return m ?? 'transport';
}

export function dirFromNumber(n: number): XfrmDir | undefined {
  return (Object.keys(XfrmDirNumber) as XfrmDir[]).find((k) => XfrmDirNumber[k] === n);
}

/** UDP_ENCAP_ESPINUDP (include/uapi/linux/udp.h): RFC 3948 ESP in UDP, no non-IKE marker. */
export const UDP_ENCAP_ESPINUDP = 2;

/**
 * The largest anti-replay window: XFRMA_REPLAY_ESN_MAX (4096) bytes of bitmap is what the header
 * allows, but verify_replay() (net/xfrm/xfrm_user.c) caps bmp_len at 4096 / 4 / 8 = 128 words,
 * which is 4096 packets.
 */
export const MAX_REPLAY_WINDOW = 4096;

/** CRYPTO_MAX_ALG_NAME is 64 with the terminating NUL (alg_name[64] in struct xfrm_algo). */
export const MAX_ALG_NAME = 63;

/** XFRM_MAX_DEPTH (include/net/xfrm.h): templates per policy. */
export const MAX_TEMPLATES = 6;

/** SPIs 1-255 are reserved by IANA and 0 is for local use (RFC 4303 section 2.1). */
export const MIN_SPI = 256;

/** ENOSYS: xfrm_user answers it when the crypto API has no such algorithm (attach_one_algo). */
export const ENOSYS = 38;

export function badArgument(syscall: string, operation: string, detail: string): PlatformError {
  return new PlatformError({ code: 'bad-argument', errno: Errno.EINVAL, syscall, operation, detail });
}

function checkAddress(text: string, what: string, syscall: string, operation: string): void {
  if (!ipv4(text)) throw badArgument(syscall, operation, `${what} "${text}" is not an IPv4 address`);
}

function checkInt(value: number | undefined, min: number, max: number, what: string, syscall: string, operation: string): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < min || value > max) throw badArgument(syscall, operation, `${what} ${value} is out of range (${min}-${max})`);
}

function checkMode(mode: string | undefined, syscall: string, operation: string): void {
  if (mode !== undefined && !(mode in XfrmModeNumber)) throw badArgument(syscall, operation, `mode "${mode}" is not one of ${Object.keys(XfrmModeNumber).join(', ')}`);
}

/** 0x00c0ffee prints as 0xc0ffee. */
export function spiText(spi: number): string {
  return `0x${(spi >>> 0).toString(16)}`;
}

export function describeSelector(s: XfrmSelector): string {
  const port = (p: number | undefined, w: string): string => (p === undefined ? '' : ` ${w} ${p}`);
  return `${s.src}/${s.srcPrefix}->${s.dst}/${s.dstPrefix}${s.proto ? ` proto ${protoName(s.proto)}` : ''}${port(s.sport, 'sport')}${port(s.dport, 'dport')}`;
}

/** "xfrm state 203.0.113.11->203.0.113.1 spi 0xc0ffee esp". */
export function describeState(s: XfrmStateSpec | XfrmStateId): string {
  const ends = s.src !== undefined ? `${s.src}->${s.dst}` : `dst ${s.dst}`;
  return `xfrm state ${ends} spi ${spiText(s.spi)} ${protoName(s.proto ?? IpProto.ESP)}`;
}

/** "xfrm policy out 203.0.113.1/32->203.0.113.11/32 proto gre". */
export function describePolicy(p: XfrmPolicyId): string {
  return `xfrm policy ${p.dir} ${describeSelector(p.selector)}`;
}

export function validateSelector(s: XfrmSelector, syscall: string, operation: string): void {
  checkAddress(s.src, 'selector source', syscall, operation);
  checkAddress(s.dst, 'selector destination', syscall, operation);
  checkInt(s.srcPrefix, 0, 32, 'selector source prefix length', syscall, operation);
  checkInt(s.dstPrefix, 0, 32, 'selector destination prefix length', syscall, operation);
  checkInt(s.proto, 0, 255, 'selector protocol', syscall, operation);
  checkInt(s.sport, 0, 0xffff, 'selector source port', syscall, operation);
  checkInt(s.dport, 0, 0xffff, 'selector destination port', syscall, operation);
}

export function validateStateId(id: XfrmStateId, syscall: string, operation: string): void {
  checkAddress(id.dst, 'destination', syscall, operation);
  if (id.src !== undefined) checkAddress(id.src, 'source', syscall, operation);
  checkInt(id.spi, MIN_SPI, 0xffffffff, 'SPI', syscall, operation);
  checkInt(id.proto, 0, 255, 'protocol', syscall, operation);
}

/**
 * The checks verify_newsa_info() and verify_replay() (net/xfrm/xfrm_user.c) make, done before
 * sending so the message names our field rather than the kernel's bare EINVAL.
 */
export function validateStateSpec(s: XfrmStateSpec, syscall: string, operation: string): void {
  validateStateId(s, syscall, operation);
  checkAddress(s.src, 'source', syscall, operation);
  checkInt(s.reqid, 0, 0xffffffff, 'reqid', syscall, operation);
  checkMode(s.mode, syscall, operation);
  if (s.selector) validateSelector(s.selector, syscall, operation);
  for (const [what, a] of [['AEAD', s.aead], ['encryption', s.crypt], ['integrity', s.auth]] as const) {
    if (!a) continue;
    if (a.name.length === 0 || new TextEncoder().encode(a.name).length > MAX_ALG_NAME) {
      throw badArgument(syscall, operation, `${what} algorithm name "${a.name}" must be 1-${MAX_ALG_NAME} bytes`);
    }
    if (a.key.length > 0xffff) throw badArgument(syscall, operation, `${what} key of ${a.key.length} bytes is too long`);
  }
  checkInt(s.aead?.icvBits, 0, 0xffffffff, 'AEAD ICV length', syscall, operation);
  checkInt(s.auth?.truncBits, 0, 0xffffffff, 'integrity truncation length', syscall, operation);
  const proto = s.proto ?? IpProto.ESP;
  if (proto === IpProto.ESP) {
    if (!s.aead && !s.crypt) throw badArgument(syscall, operation, 'an ESP state needs an AEAD or an encryption algorithm');
    if (s.aead && (s.crypt || s.auth)) throw badArgument(syscall, operation, 'an AEAD state takes no separate encryption or integrity algorithm');
  }
  checkInt(s.replayWindow, 0, MAX_REPLAY_WINDOW, 'replay window', syscall, operation);
  checkInt(s.seq, 0, s.esn ? Number.MAX_SAFE_INTEGER : 0xffffffff, 'sequence number', syscall, operation);
  if (s.encap) {
    checkInt(s.encap.type, 0, 0xffff, 'encapsulation type', syscall, operation);
    checkInt(s.encap.sport, 1, 0xffff, 'encapsulation source port', syscall, operation);
    checkInt(s.encap.dport, 1, 0xffff, 'encapsulation destination port', syscall, operation);
  }
}

export function validatePolicyId(p: XfrmPolicyId, syscall: string, operation: string): void {
  if (!(p.dir in XfrmDirNumber)) throw badArgument(syscall, operation, `direction "${p.dir}" is not in, out or fwd`);
  validateSelector(p.selector, syscall, operation);
}

export function validatePolicySpec(p: XfrmPolicySpec, syscall: string, operation: string): void {
  validatePolicyId(p, syscall, operation);
  checkInt(p.priority, 0, 0xffffffff, 'priority', syscall, operation);
  if (p.action !== undefined && p.action !== 'allow' && p.action !== 'block') throw badArgument(syscall, operation, `action "${p.action}" is not allow or block`);
  if (p.templates.length > MAX_TEMPLATES) throw badArgument(syscall, operation, `${p.templates.length} templates, at most ${MAX_TEMPLATES}`);
  for (const t of p.templates) {
    checkAddress(t.src, 'template source', syscall, operation);
    checkAddress(t.dst, 'template destination', syscall, operation);
    checkInt(t.reqid, 0, 0xffffffff, 'template reqid', syscall, operation);
    checkInt(t.spi, 0, 0xffffffff, 'template SPI', syscall, operation);
    checkInt(t.proto, 0, 255, 'template protocol', syscall, operation);
    checkMode(t.mode, syscall, operation);
  }
}

/** A template with its defaults filled in, as the kernel reports it back. */
export function fullTemplate(t: XfrmTemplate): Required<XfrmTemplate> {
  return {
    src: t.src,
    dst: t.dst,
    proto: t.proto ?? IpProto.ESP,
    spi: t.spi ?? 0,
    reqid: t.reqid,
    mode: t.mode ?? 'transport',
    optional: t.optional ?? false,
  };
}

/** The kernel refused the protocol or an algorithm: code 'unsupported', with the missing piece named. */
export function unsupportedState(errno: number, spec: XfrmStateSpec, syscall: string, operation: string): PlatformError {
  const proto = protoName(spec.proto ?? IpProto.ESP);
  const detail =
    errno === Errno.EPROTONOSUPPORT
      ? `the kernel has no ${proto} transform (module ${proto === 'esp' ? 'esp4' : proto === 'ah' ? 'ah4' : 'ipcomp'} missing)`
      : `the kernel's crypto API lacks ${[spec.aead, spec.crypt, spec.auth].flatMap((a) => (a ? [a.name] : [])).join(' or ')}`;
  return new PlatformError({ code: 'unsupported', errno, syscall, operation, detail });
}

export function reqidOwned(reqid: number, owner: XfrmOwner): boolean {
  return reqid >= owner.reqidMin && reqid <= owner.reqidMax;
}

export function isOwnedState(s: Pick<XfrmState, 'reqid'>, owner: XfrmOwner): boolean {
  return reqidOwned(s.reqid, owner);
}

export function isOwnedPolicy(p: Pick<XfrmPolicy, 'priority' | 'templates'>, owner: XfrmOwner): boolean {
  if (owner.priority !== undefined && p.priority !== owner.priority) return false;
  return p.templates.length > 0 && p.templates.every((t) => reqidOwned(t.reqid, owner));
}

interface Flushable {
  states(): Promise<XfrmState[]>;
  policies(): Promise<XfrmPolicy[]>;
  deleteState(id: XfrmStateId): Promise<void>;
  deletePolicy(id: XfrmPolicyId): Promise<void>;
}

/**
 * Delete what `owner` marks as ours: policies first (so no packet finds a policy whose SA has just
 * gone and is dropped for it), then states. An entry that vanished meanwhile (ESRCH/ENOENT) is
 * not an error.
 */
export async function flushOwnedVia(port: Flushable, owner: XfrmOwner): Promise<{ states: number; policies: number }> {
  let policies = 0;
  let states = 0;
  const gone = (e: unknown): boolean => e instanceof PlatformError && e.code === 'netlink' && (e.errno === Errno.ESRCH || e.errno === Errno.ENOENT);
  for (const p of (await port.policies()).filter((x) => isOwnedPolicy(x, owner))) {
    try {
      await port.deletePolicy({ dir: p.dir, selector: p.selector });
      policies++;
    } catch (e) {
      if (!gone(e)) throw e;
    }
  }
  for (const s of (await port.states()).filter((x) => isOwnedState(x, owner))) {
    try {
      await port.deleteState({ dst: s.dst, spi: s.spi, proto: s.proto, src: s.src });
      states++;
    } catch (e) {
      if (!gone(e)) throw e;
    }
  }
  return { states, policies };
}
