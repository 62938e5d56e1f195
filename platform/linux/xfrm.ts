/**
 * XfrmPort over a NETLINK_XFRM socket (protocol 6; net/xfrm/xfrm_user.c), with the `netlink`
 * package for the socket and platform/linux/xfrm-codec.ts for the payloads.
 *
 * - One socket, driven by the request core shared with rtnetlink.ts (netlink-channel.ts): requests
 *   go out in call order, answers are matched by sequence number, so calls made without awaiting
 *   each other are pipelined; a dump goes alone. Each is bounded by `timeoutMs`. A request that
 *   timed out may still complete in the kernel: callers re-read (states(), policies()) rather
 *   than assume.
 * - Every failure is a PlatformError naming the object: "adding xfrm state
 *   203.0.113.11->203.0.113.1 spi 0xc0ffee esp: File exists (EEXIST)". A kernel without the
 *   protocol (no esp4: EPROTONOSUPPORT) or an algorithm (ENOSYS) gives code 'unsupported'.
 * - NEWSA and NEWPOLICY are exclusive by their type (UPDSA/UPDPOLICY replace), so no
 *   NLM_F_CREATE/EXCL is sent, as with iproute2.
 * - The kernel checks a new state in this order (xfrm_add_sa): attributes (EINVAL), algorithms
 *   (ENOSYS), protocol (EPROTONOSUPPORT), then duplicates (EEXIST). The fake follows it.
 */
import { FlagsGet, type NetlinkMessage } from 'netlink';
import { Reader } from '../../protocols/wire/index.js';
import { Errno, PlatformError } from '../errors.js';
import type { XfrmOwner, XfrmPolicy, XfrmPolicyId, XfrmPolicySpec, XfrmPort, XfrmState, XfrmStateId, XfrmStateSpec } from '../ports.js';
import {
  describePolicy,
  describeState,
  ENOSYS,
  flushOwnedVia,
  unsupportedState,
  validatePolicyId,
  validatePolicySpec,
  validateStateId,
  validateStateSpec,
} from '../xfrm-values.js';
import {
  XfrmMsg,
  xfrmMsgName,
} from './xfrm-codec.js';
import {
  encodePolicyIdMessage,
  encodePolicyMessage,
  encodeSaIdMessage,
  encodeSaMessage,
  parsePolicyMessage,
  parseSaMessage,
} from './xfrm-attrs.js';
import {
  policyFromMessage,
  policyIdMessage,
  policyMessage,
  stateFromMessage,
  stateIdMessage,
  stateMessage,
} from './xfrm-messages.js';
import { malformedError, NetlinkChannel, refusedError, socketFailure } from './netlink-channel.js';

/** NETLINK_XFRM (include/uapi/linux/netlink.h). */
export const NETLINK_XFRM = 6;

export interface LinuxXfrmOptions {
  /**
   * Bound on every request, in milliseconds (default 10000: the first state with an algorithm
   * makes the kernel load and self-test its crypto modules, which took over 5 s in the VM).
   */
  readonly timeoutMs?: number;
  /** Requests in flight at most (default 64; see netlink-channel.ts). */
  readonly window?: number;
}

export class LinuxXfrm implements XfrmPort {
  readonly timeoutMs: number;
  private readonly channel: NetlinkChannel;
  private closed = false;

  constructor(options: LinuxXfrmOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.channel = new NetlinkChannel({ protocol: NETLINK_XFRM, timeoutMs: this.timeoutMs, name: xfrmMsgName, port: 'xfrm', window: options.window });
  }

  // ---- the request core: netlink-channel.ts, shared with rtnetlink.ts ----

  private request(type: number, payload: Uint8Array, flags: number, operation: string): Promise<NetlinkMessage[]> {
    return this.channel.request(type, [payload], flags, operation);
  }

  // ---- states ----

  async addState(spec: XfrmStateSpec): Promise<void> {
    const operation = `adding ${describeState(spec)}`;
    const syscall = xfrmMsgName(XfrmMsg.NEWSA);
    validateStateSpec(spec, syscall, operation);
    try {
      await this.request(XfrmMsg.NEWSA, encodeSaMessage(stateMessage(spec)), 0, operation);
    } catch (e) {
      if (e instanceof PlatformError && e.code === 'netlink' && (e.errno === Errno.EPROTONOSUPPORT || e.errno === ENOSYS)) {
        throw unsupportedState(e.errno, spec, syscall, operation);
      }
      throw e;
    }
  }

  async deleteState(id: XfrmStateId): Promise<void> {
    const operation = `deleting ${describeState(id)}`;
    validateStateId(id, xfrmMsgName(XfrmMsg.DELSA), operation);
    await this.request(XfrmMsg.DELSA, encodeSaIdMessage(stateIdMessage(id)), 0, operation);
  }

  async states(): Promise<XfrmState[]> {
    const operation = 'listing xfrm states';
    // An empty payload: xfrm_dump_sa parses no filter attributes then (iproute2 sends an empty
    // XFRMA_ADDRESS_FILTER, which filters nothing either).
    const msgs = await this.request(XfrmMsg.GETSA, new Uint8Array(0), FlagsGet.DUMP, operation);
    const out: XfrmState[] = [];
    for (const m of msgs) {
      if (m.type !== XfrmMsg.NEWSA) continue;
      try {
        out.push(stateFromMessage(parseSaMessage(readerOf(m.data))));
      } catch (e) {
        throw xfrmMalformed(XfrmMsg.GETSA, operation, String(e));
      }
    }
    return out;
  }

  // ---- policies ----

  async addPolicy(spec: XfrmPolicySpec, options: { readonly replace?: boolean } = {}): Promise<void> {
    const type = options.replace ? XfrmMsg.UPDPOLICY : XfrmMsg.NEWPOLICY;
    const operation = `${options.replace ? 'replacing' : 'adding'} ${describePolicy(spec)}`;
    validatePolicySpec(spec, xfrmMsgName(type), operation);
    await this.request(type, encodePolicyMessage(policyMessage(spec)), 0, operation);
  }

  async deletePolicy(id: XfrmPolicyId): Promise<void> {
    const operation = `deleting ${describePolicy(id)}`;
    validatePolicyId(id, xfrmMsgName(XfrmMsg.DELPOLICY), operation);
    await this.request(XfrmMsg.DELPOLICY, encodePolicyIdMessage(policyIdMessage(id)), 0, operation);
  }

  async policies(): Promise<XfrmPolicy[]> {
    const operation = 'listing xfrm policies';
    const msgs = await this.request(XfrmMsg.GETPOLICY, new Uint8Array(0), FlagsGet.DUMP, operation);
    const out: XfrmPolicy[] = [];
    for (const m of msgs) {
      if (m.type !== XfrmMsg.NEWPOLICY) continue;
      let p: XfrmPolicy | undefined;
      try {
        p = policyFromMessage(parsePolicyMessage(readerOf(m.data)));
      } catch (e) {
        throw xfrmMalformed(XfrmMsg.GETPOLICY, operation, String(e));
      }
      if (p) out.push(p);
    }
    return out;
  }

  flushOwned(owner: XfrmOwner): Promise<{ states: number; policies: number }> {
    return flushOwnedVia(this, owner);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.channel.close();
  }
}

function readerOf(b: Uint8Array): Reader {
  return new Reader(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), 'xfrm');
}

/** The kernel refused: errno positive (the NLMSG_ERROR field negated). */
export function xfrmError(errno: number, type: number, operation: string, detail?: string): PlatformError {
  return refusedError(xfrmMsgName(type), errno, operation, detail);
}

/** A reply that does not parse: EIO. */
export function xfrmMalformed(type: number, operation: string, why: string): PlatformError {
  return malformedError(xfrmMsgName(type), operation, why);
}

/**
 * No answer: the package's timeout ("Timeout has been reached"), a send that failed (its
 * ErrnoException keeps errno and syscall), or anything else on the socket. As
 * netlink-errors.ts requestFailure, with XFRM message names.
 */
export function xfrmRequestFailure(e: unknown, type: number, operation: string, timeoutMs: number): PlatformError {
  return socketFailure(e, xfrmMsgName(type), operation, timeoutMs);
}
