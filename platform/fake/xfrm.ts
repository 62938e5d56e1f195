/**
 * In-memory XfrmPort: the kernel's SAD and SPD as the daemon can observe them, with the same
 * validation and the same PlatformErrors, checked in the same order, as platform/linux/xfrm.ts
 * against a real kernel (xfrm_add_sa: attributes, then algorithms ENOSYS, then the protocol
 * EPROTONOSUPPORT, then duplicates EEXIST):
 *
 * - a state is keyed by (destination, SPI, protocol); a second add is EEXIST, deleting a missing
 *   one ESRCH. `esp: false` makes every ESP add fail like a kernel without esp4; `algorithms`
 *   lists what the crypto API has (the rest is ENOSYS).
 * - a policy is keyed by (direction, selector): a second add is EEXIST whatever its priority,
 *   deleting a missing one ENOENT. Indexes are allocated as xfrm_gen_index does (8 apart, the
 *   direction in the low bits).
 * - read back, a state shows what the kernel shows: an absent selector as 0.0.0.0/0 any, ESN's
 *   minimum window of 1, the encapsulation type filled in, counters at zero.
 *
 * Not modelled: packets (no counters move), lifetimes and expiry, marks, sub policies.
 */
import { Errno, PlatformError } from '../errors.js';
import type { XfrmOwner, XfrmPolicy, XfrmPolicyId, XfrmPolicySpec, XfrmPort, XfrmSelector, XfrmState, XfrmStateId, XfrmStateSpec } from '../ports.js';
import {
  describePolicy,
  describeState,
  ENOSYS,
  flushOwnedVia,
  fullTemplate,
  IpProto,
  UDP_ENCAP_ESPINUDP,
  unsupportedState,
  validatePolicyId,
  validatePolicySpec,
  validateStateId,
  validateStateSpec,
  XfrmDirNumber,
} from '../xfrm-values.js';

/** XFRM_STATE_ESN (include/uapi/linux/xfrm.h). */
const STATE_ESN = 128;

/** The algorithms KernelEsp uses; a kernel with xfrm_algo and the usual crypto modules has them all. */
export const FAKE_XFRM_ALGORITHMS: readonly string[] = ['rfc4106(gcm(aes))', 'cbc(aes)', 'hmac(sha1)', 'hmac(sha256)', 'hmac(sha384)', 'hmac(sha512)'];

export interface FakeXfrmOptions {
  /** Whether the kernel has the ESP transform (esp4). Default true. */
  readonly esp?: boolean;
  /** Crypto API names available. Default FAKE_XFRM_ALGORITHMS. */
  readonly algorithms?: readonly string[];
}

/** Calls as made, for tests that check the order of kernel operations. */
export type FakeXfrmCall =
  | { readonly op: 'addState' | 'deleteState'; readonly key: string }
  | { readonly op: 'addPolicy' | 'replacePolicy' | 'deletePolicy'; readonly key: string };

const copy = (b: Uint8Array): Uint8Array => Uint8Array.from(b);
const stateKey = (dst: string, spi: number, proto: number): string => `${dst}/${(spi >>> 0).toString(16)}/${proto}`;
const selectorKey = (s: XfrmSelector): string => `${s.src}/${s.srcPrefix}>${s.dst}/${s.dstPrefix}:${s.proto}:${s.sport ?? '*'}:${s.dport ?? '*'}`;
const policyKey = (p: XfrmPolicyId): string => `${p.dir} ${selectorKey(p.selector)}`;

const ANY: XfrmSelector = { src: '0.0.0.0', srcPrefix: 0, dst: '0.0.0.0', dstPrefix: 0, proto: 0 };

export class FakeXfrm implements XfrmPort {
  private readonly esp: boolean;
  private readonly algorithms: ReadonlySet<string>;
  private readonly sad = new Map<string, XfrmState>();
  private readonly spd = new Map<string, XfrmPolicy>();
  private indexGenerator = 0;
  private closed = false;
  /** Every successful change, in order. */
  readonly calls: FakeXfrmCall[] = [];

  constructor(options: FakeXfrmOptions = {}) {
    this.esp = options.esp ?? true;
    this.algorithms = new Set(options.algorithms ?? FAKE_XFRM_ALGORITHMS);
  }

  private open(operation: string): void {
    if (this.closed) throw new PlatformError({ code: 'socket', errno: Errno.EBADF, syscall: 'sendmsg', operation, detail: 'the xfrm port is closed' });
  }

  async addState(spec: XfrmStateSpec): Promise<void> {
    const syscall = 'XFRM_MSG_NEWSA';
    const operation = `adding ${describeState(spec)}`;
    this.open(operation);
    validateStateSpec(spec, syscall, operation);
    const proto = spec.proto ?? IpProto.ESP;
    for (const a of [spec.aead, spec.crypt, spec.auth]) {
      if (a && !this.algorithms.has(a.name)) throw unsupportedState(ENOSYS, spec, syscall, operation);
    }
    if (proto === IpProto.ESP && !this.esp) throw unsupportedState(Errno.EPROTONOSUPPORT, spec, syscall, operation);
    const key = stateKey(spec.dst, spec.spi, proto);
    if (this.sad.has(key)) throw new PlatformError({ code: 'netlink', errno: Errno.EEXIST, syscall, operation });
    const esn = spec.esn ?? false;
    const state: XfrmState = {
      src: spec.src,
      dst: spec.dst,
      spi: spec.spi >>> 0,
      proto,
      reqid: spec.reqid,
      mode: spec.mode ?? 'transport',
      selector: spec.selector ? { ...spec.selector } : ANY,
      ...(spec.aead ? { aead: { ...spec.aead, key: copy(spec.aead.key) } } : {}),
      ...(spec.crypt ? { crypt: { ...spec.crypt, key: copy(spec.crypt.key) } } : {}),
      ...(spec.auth ? { auth: { ...spec.auth, key: copy(spec.auth.key) } } : {}),
      esn,
      replayWindow: Math.max(spec.replayWindow ?? 0, esn ? 1 : 0),
      ...(spec.encap ? { encap: { type: spec.encap.type ?? UDP_ENCAP_ESPINUDP, sport: spec.encap.sport, dport: spec.encap.dport } } : {}),
      flags: esn ? STATE_ESN : 0,
      bytes: 0,
      packets: 0,
      oseq: spec.seq ?? 0,
      seq: 0,
      replayDrops: 0,
      integrityFailures: 0,
    };
    this.sad.set(key, state);
    this.calls.push({ op: 'addState', key });
  }

  async deleteState(id: XfrmStateId): Promise<void> {
    const syscall = 'XFRM_MSG_DELSA';
    const operation = `deleting ${describeState(id)}`;
    this.open(operation);
    validateStateId(id, syscall, operation);
    const key = stateKey(id.dst, id.spi, id.proto ?? IpProto.ESP);
    if (!this.sad.delete(key)) throw new PlatformError({ code: 'netlink', errno: Errno.ESRCH, syscall, operation });
    this.calls.push({ op: 'deleteState', key });
  }

  async states(): Promise<XfrmState[]> {
    this.open('listing xfrm states');
    return [...this.sad.values()].map((s) => ({ ...s }));
  }

  async addPolicy(spec: XfrmPolicySpec, options: { readonly replace?: boolean } = {}): Promise<void> {
    const syscall = options.replace ? 'XFRM_MSG_UPDPOLICY' : 'XFRM_MSG_NEWPOLICY';
    const operation = `${options.replace ? 'replacing' : 'adding'} ${describePolicy(spec)}`;
    this.open(operation);
    validatePolicySpec(spec, syscall, operation);
    const key = policyKey(spec);
    const existing = this.spd.get(key);
    if (existing && !options.replace) throw new PlatformError({ code: 'netlink', errno: Errno.EEXIST, syscall, operation });
    // xfrm_policy_insert: a replaced policy keeps its index; a new one gets xfrm_gen_index's.
    let index = existing?.index;
    if (index === undefined) {
      index = this.indexGenerator | XfrmDirNumber[spec.dir];
      this.indexGenerator += 8;
    }
    this.spd.set(key, {
      dir: spec.dir,
      selector: { ...spec.selector },
      priority: spec.priority,
      action: spec.action ?? 'allow',
      templates: spec.templates.map(fullTemplate),
      index,
    });
    this.calls.push({ op: options.replace ? 'replacePolicy' : 'addPolicy', key });
  }

  async deletePolicy(id: XfrmPolicyId): Promise<void> {
    const syscall = 'XFRM_MSG_DELPOLICY';
    const operation = `deleting ${describePolicy(id)}`;
    this.open(operation);
    validatePolicyId(id, syscall, operation);
    const key = policyKey(id);
    if (!this.spd.delete(key)) throw new PlatformError({ code: 'netlink', errno: Errno.ENOENT, syscall, operation });
    this.calls.push({ op: 'deletePolicy', key });
  }

  async policies(): Promise<XfrmPolicy[]> {
    this.open('listing xfrm policies');
    return [...this.spd.values()].map((p) => ({ ...p }));
  }

  flushOwned(owner: XfrmOwner): Promise<{ states: number; policies: number }> {
    return flushOwnedVia(this, owner);
  }

  close(): void {
    this.closed = true;
  }
}
