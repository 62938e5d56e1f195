/**
 * `tunnel protection` on the kernel dataplane: the IKE engine's child SAs as XFRM transport-mode
 * ESP states, and per NBMA peer a pair of policies that send GRE to that peer only through ESP
 * and accept GRE from it only out of ESP. The EspTarget of daemon/ipsec.ts over an XfrmPort.
 *
 * Per peer (one reqid, stable while the peer has anything installed):
 *
 *   policy out  GRE local/32 -> peer/32  tmpl esp transport local->peer reqid R  (required)
 *   policy in   GRE peer/32 -> local/32  tmpl esp transport peer->local reqid R  (required)
 *   state       local->peer spi = the peer's inbound SPI        (outbound, one at a time)
 *   state       peer->local spi = ours, replay window 1024      (inbound, old and new over a rekey)
 *
 * A required template with action 'allow' is what keeps GRE from leaving in the clear: with no
 * state for the template the kernel drops the packet (net.core.xfrm_larval_drop, on by default)
 * instead of sending it, and an inbound GRE packet that did not come out of a matching state fails
 * the policy check. So setProtected(peer, true) installs the policies before any SA exists, and
 * they stay while the peer is protected or has an SA (the rule is: policies exist iff protected or
 * any SA); the native dataplane queues where the kernel drops, the guarantee is the same.
 *
 * EspTarget's calls are synchronous; kernel work is queued in call order and runs one request at
 * a time. Failures are logged and counted, never thrown at the IKE engine; wrong key material is
 * thrown at once (a bug, not a kernel condition). settled() resolves when the queue is empty.
 *
 * What is ours: reqids in KERNEL_ESP_OWNER's range and policies at GRE_TRANSPORT_PRIORITY, so
 * removeLeftoverEsp() after a crash and close() never touch another IKE daemon's entries.
 * Tunnels sharing an NBMA source need one KernelEsp between them (IOS: `tunnel protection ...
 * shared`): the kernel keys policies by addresses, not by GRE key.
 */
import { Errno, PlatformError } from '../platform/errors.js';
import type { EspSa, EspSaKeys } from '../platform/native/esp.js';
import type { XfrmAeadAlgorithm, XfrmAlgorithm, XfrmAuthAlgorithm, XfrmOwner, XfrmPolicySpec, XfrmPort, XfrmSelector, XfrmStateSpec } from '../platform/ports.js';
import { IpProto, validateStateSpec } from '../platform/xfrm-values.js';
import type { EspTarget } from './ipsec.js';
import type { Logger } from './log.js';

/**
 * The priority strongSwan (5.5 and later, kernel_netlink_ipsec.c get_priority) gives a default
 * policy with /32 source and destination and a protocol: 400000 - 64 * 512 - 256 - 1. A host
 * policy that strongSwan would install for the same GRE traffic sorts the same, and a broader
 * policy (a subnet, any protocol) always loses to ours.
 */
export const GRE_TRANSPORT_PRIORITY = 366975;

/** Our reqids: far above strongSwan's (counting from 1) and libreswan's (16384 up). */
export const KERNEL_ESP_REQID_MIN = 0x64000000;
export const KERNEL_ESP_REQID_MAX = 0x6400ffff;

export const KERNEL_ESP_OWNER: XfrmOwner = { reqidMin: KERNEL_ESP_REQID_MIN, reqidMax: KERNEL_ESP_REQID_MAX, priority: GRE_TRANSPORT_PRIORITY };

/**
 * Inbound anti-replay window, in packets: the native dataplane's, and the largest IOS
 * configures (`crypto ipsec security-association replay window-size 1024`). The kernel's
 * legacy window tops out at 32; a wider one goes through XFRMA_REPLAY_ESN_VAL with or without
 * ESN (see platform/linux/xfrm-messages.ts). 1024 leaves room for the reordering of multi-queue NICs and
 * per-CPU crypto at high rates, for 128 bytes of bitmap per SA.
 */
export const INBOUND_REPLAY_WINDOW = 1024;

/** ESP in UDP (RFC 3948): the UDP ports of the packets the SA carries (source, destination). */
export interface EspEncap {
  readonly sport: number;
  readonly dport: number;
}

/** GRE between two NBMA addresses, host to host. */
export function greSelector(src: string, dst: string): XfrmSelector {
  return { src, srcPrefix: 32, dst, dstPrefix: 32, proto: IpProto.GRE };
}

/** Integrity transforms by the dataplane's names: crypto API name, ICV bits, key bytes (RFC 2404, RFC 4868). */
const AUTH: Readonly<Record<string, { readonly name: string; readonly truncBits: number; readonly keyLength: number }>> = {
  'hmac-sha1-96': { name: 'hmac(sha1)', truncBits: 96, keyLength: 20 },
  'hmac-sha256-128': { name: 'hmac(sha256)', truncBits: 128, keyLength: 32 },
  'hmac-sha384-192': { name: 'hmac(sha384)', truncBits: 192, keyLength: 48 },
  'hmac-sha512-256': { name: 'hmac(sha512)', truncBits: 256, keyLength: 64 },
};

/** Encryption transforms: crypto API name and key bytes (AES-GCM: the key plus the 4-byte salt, RFC 4106 section 8.1). */
const CIPHER: Readonly<Record<string, { readonly aead: boolean; readonly name: string; readonly keyLength: number }>> = {
  'aes-gcm-128': { aead: true, name: 'rfc4106(gcm(aes))', keyLength: 20 },
  'aes-gcm-256': { aead: true, name: 'rfc4106(gcm(aes))', keyLength: 36 },
  'aes-cbc-128': { aead: false, name: 'cbc(aes)', keyLength: 16 },
  'aes-cbc-256': { aead: false, name: 'cbc(aes)', keyLength: 32 },
};

/** The AES-GCM ICV: 16 bytes, the only size the dataplane and IOS negotiate (ENCR_AES_GCM_16). */
const GCM_ICV_BITS = 128;

/**
 * The XFRM algorithms for an SA's keys. The key lengths are checked here because the kernel's
 * answer to a wrong one is a bare EINVAL.
 */
export function espAlgorithms(sa: EspSaKeys, operation = 'mapping ESP keys'): { aead?: XfrmAeadAlgorithm; crypt?: XfrmAlgorithm; auth?: XfrmAuthAlgorithm } {
  const bad = (detail: string): PlatformError => new PlatformError({ code: 'bad-argument', errno: Errno.EINVAL, syscall: 'XFRM_MSG_NEWSA', operation, detail });
  const c = CIPHER[sa.cipher];
  if (!c) throw bad(`cipher ${sa.cipher} has no kernel equivalent`);
  if (sa.key.length !== c.keyLength) throw bad(`${sa.cipher} takes a ${c.keyLength}-byte key, ${sa.key.length} given`);
  if (c.aead) {
    if (sa.integrity !== undefined) throw bad(`${sa.cipher} takes no separate integrity algorithm`);
    return { aead: { name: c.name, key: sa.key, icvBits: GCM_ICV_BITS } };
  }
  const a = sa.integrity === undefined ? undefined : AUTH[sa.integrity];
  if (!a) throw bad(`${sa.cipher} needs an integrity algorithm (${Object.keys(AUTH).join(', ')}), ${sa.integrity ?? 'none'} given`);
  const authKey = sa.authKey ?? new Uint8Array(0);
  if (authKey.length !== a.keyLength) throw bad(`${sa.integrity} takes a ${a.keyLength}-byte key, ${authKey.length} given`);
  return { crypt: { name: c.name, key: sa.key }, auth: { name: a.name, key: authKey, truncBits: a.truncBits } };
}

/** Remove every state and policy in KERNEL_ESP_OWNER (what a crashed run left). Run once at start. */
export function removeLeftoverEsp(xfrm: XfrmPort): Promise<{ readonly states: number; readonly policies: number }> {
  return xfrm.flushOwned(KERNEL_ESP_OWNER);
}

/** reqids by key, lowest free first; shared by the KernelEsp instances of one process by default. */
export class ReqidPool {
  private readonly byKey = new Map<string, number>();
  private readonly used = new Set<number>();
  constructor(readonly min = KERNEL_ESP_REQID_MIN, readonly max = KERNEL_ESP_REQID_MAX) {}

  get(key: string): number {
    const have = this.byKey.get(key);
    if (have !== undefined) return have;
    for (let r = this.min; r <= this.max; r++) {
      if (this.used.has(r)) continue;
      this.used.add(r);
      this.byKey.set(key, r);
      return r;
    }
    throw new PlatformError({ code: 'bad-argument', errno: Errno.ENOSPC, syscall: 'XFRM_MSG_NEWPOLICY', operation: `allocating a reqid for ${key}`, detail: `all ${this.max - this.min + 1} reqids are in use` });
  }

  release(key: string): void {
    const r = this.byKey.get(key);
    if (r === undefined) return;
    this.byKey.delete(key);
    this.used.delete(r);
  }
}

const sharedReqids = new ReqidPool();

export interface KernelEspOptions {
  /** Default: one pool for the whole process. */
  readonly reqids?: ReqidPool;
}

interface Peer {
  readonly nbma: string;
  readonly reqid: number;
  protected: boolean;
  /** Whether the policy pair is installed (or queued to be). */
  policies: boolean;
  /** SPI of the outbound state (the peer's inbound SPI). */
  outSpi?: number;
  readonly inSpis: Set<number>;
}

/** One peer as `show` and tests see it. */
export interface KernelEspPeer {
  readonly nbma: string;
  readonly reqid: number;
  readonly protected: boolean;
  readonly policies: boolean;
  readonly outSpi?: number;
  readonly inSpis: readonly number[];
}

export class KernelEsp implements EspTarget {
  private readonly peers = new Map<string, Peer>();
  private readonly inbound = new Map<number, string>();
  private queue: Promise<void> = Promise.resolve();
  private readonly reqids: ReqidPool;
  private closed = false;
  /** Kernel requests that failed (each is logged at error level). */
  failures = 0;
  lastError: Error | undefined;

  constructor(
    private readonly xfrm: XfrmPort,
    readonly localNbma: string,
    private readonly log: Logger,
    options: KernelEspOptions = {},
  ) {
    this.reqids = options.reqids ?? sharedReqids;
  }

  // ---- EspTarget ----

  /** ESP for GRE to `nbma` from now on: a new SPI is added before the old state goes (rekey). */
  setOutboundSa(nbma: string, sa: EspSa, encap?: EspEncap): void {
    if (this.closed) return;
    const peer = this.peer(nbma);
    const spec = this.checked(peer, () => this.stateSpec(this.localNbma, nbma, sa.spi, peer.reqid, sa, 0, encap, 'outbound'));
    this.ensurePolicies(peer);
    const old = peer.outSpi;
    peer.outSpi = sa.spi;
    const oldId = { src: this.localNbma, dst: nbma, spi: old ?? 0 };
    if (old === sa.spi) {
      // The same SPI with new keys: XFRM_MSG_UPDSA keeps the old keys, so delete and add.
      this.enqueue(() => this.deleteState(oldId));
      this.enqueue(() => this.xfrm.addState(spec));
    } else {
      this.enqueue(() => this.addState(spec));
      if (old !== undefined) this.enqueue(() => this.deleteState(oldId));
    }
  }

  deleteOutboundSa(nbma: string): boolean {
    const peer = this.peers.get(nbma);
    if (this.closed || peer?.outSpi === undefined) return false;
    const id = { src: this.localNbma, dst: nbma, spi: peer.outSpi };
    peer.outSpi = undefined;
    this.enqueue(() => this.deleteState(id));
    this.dropIfIdle(peer);
    return true;
  }

  /** ESP from `peerNbma` with our SPI `spi`; an earlier state with that SPI is replaced. */
  setInboundSa(spi: number, sa: EspSaKeys, peerNbma: string, encap?: EspEncap): void {
    if (this.closed) return;
    const peer = this.peer(peerNbma);
    const spec = this.checked(peer, () => this.stateSpec(peerNbma, this.localNbma, spi, peer.reqid, sa, INBOUND_REPLAY_WINDOW, encap, 'inbound'));
    const was = this.inbound.get(spi);
    if (was !== undefined) {
      const id = { src: was, dst: this.localNbma, spi };
      this.enqueue(() => this.deleteState(id));
      const wasPeer = this.peers.get(was);
      wasPeer?.inSpis.delete(spi);
      if (wasPeer && wasPeer !== peer) this.dropIfIdle(wasPeer);
    }
    this.ensurePolicies(peer);
    peer.inSpis.add(spi);
    this.inbound.set(spi, peerNbma);
    this.enqueue(() => (was !== undefined ? this.xfrm.addState(spec) : this.addState(spec)));
  }

  deleteInboundSa(spi: number): boolean {
    const nbma = this.inbound.get(spi);
    if (this.closed || nbma === undefined) return false;
    this.inbound.delete(spi);
    const id = { src: nbma, dst: this.localNbma, spi };
    this.enqueue(() => this.deleteState(id));
    const peer = this.peers.get(nbma);
    if (peer) {
      peer.inSpis.delete(spi);
      this.dropIfIdle(peer);
    }
    return true;
  }

  /** A protected peer never gets clear GRE: its policies go in now, before any SA. */
  setProtected(nbma: string, on: boolean): void {
    if (this.closed) return;
    if (on) {
      const peer = this.peer(nbma);
      peer.protected = true;
      this.ensurePolicies(peer);
      return;
    }
    const peer = this.peers.get(nbma);
    if (!peer) return;
    peer.protected = false;
    this.dropIfIdle(peer);
  }

  // ---- for show commands, tests and shutdown ----

  /** Resolves when every kernel request queued so far has been answered. */
  settled(): Promise<void> {
    return this.queue;
  }

  reqidOf(nbma: string): number | undefined {
    return this.peers.get(nbma)?.reqid;
  }

  peerList(): KernelEspPeer[] {
    return [...this.peers.values()].map((p) => ({
      nbma: p.nbma,
      reqid: p.reqid,
      protected: p.protected,
      policies: p.policies,
      ...(p.outSpi !== undefined ? { outSpi: p.outSpi } : {}),
      inSpis: [...p.inSpis].sort((a, b) => a - b),
    }));
  }

  /**
   * Remove everything this instance installed (policies, then states) and stop. The port stays
   * open: it belongs to the caller. Later EspTarget calls are ignored.
   */
  async close(): Promise<void> {
    if (this.closed) return this.queue;
    this.closed = true;
    for (const peer of this.peers.values()) {
      if (peer.policies) this.enqueuePolicyRemoval(peer);
      if (peer.outSpi !== undefined) {
        const id = { src: this.localNbma, dst: peer.nbma, spi: peer.outSpi };
        this.enqueue(() => this.deleteState(id));
      }
      for (const spi of peer.inSpis) {
        const id = { src: peer.nbma, dst: this.localNbma, spi };
        this.enqueue(() => this.deleteState(id));
      }
      this.reqids.release(this.key(peer.nbma));
    }
    this.peers.clear();
    this.inbound.clear();
    return this.queue;
  }

  // ---- internals ----

  private key(nbma: string): string {
    return `${this.localNbma}>${nbma}`;
  }

  private peer(nbma: string): Peer {
    let p = this.peers.get(nbma);
    if (!p) {
      p = { nbma, reqid: this.reqids.get(this.key(nbma)), protected: false, policies: false, inSpis: new Set() };
      this.peers.set(nbma, p);
    }
    return p;
  }

  /** Build a spec; if it throws (wrong keys), a peer made just for it is forgotten again. */
  private checked(peer: Peer, build: () => XfrmStateSpec): XfrmStateSpec {
    try {
      return build();
    } catch (e) {
      this.dropIfIdle(peer);
      throw e;
    }
  }

  private stateSpec(src: string, dst: string, spi: number, reqid: number, sa: EspSaKeys, replayWindow: number, encap: EspEncap | undefined, dir: string): XfrmStateSpec {
    const operation = `installing the ${dir} SA ${src}->${dst} spi 0x${(spi >>> 0).toString(16)}`;
    const spec: XfrmStateSpec = {
      src,
      dst,
      spi,
      proto: IpProto.ESP,
      reqid,
      mode: 'transport',
      selector: greSelector(src, dst),
      ...espAlgorithms(sa, operation),
      esn: sa.esn ?? false,
      replayWindow,
      ...(dir === 'outbound' && sa.seq ? { seq: sa.seq } : {}),
      ...(encap ? { encap: { sport: encap.sport, dport: encap.dport } } : {}),
    };
    validateStateSpec(spec, 'XFRM_MSG_NEWSA', operation);
    return spec;
  }

  private policySpecs(peer: Peer): [XfrmPolicySpec, XfrmPolicySpec] {
    const local = this.localNbma;
    return [
      { dir: 'out', selector: greSelector(local, peer.nbma), priority: GRE_TRANSPORT_PRIORITY, action: 'allow', templates: [{ src: local, dst: peer.nbma, proto: IpProto.ESP, reqid: peer.reqid, mode: 'transport' }] },
      { dir: 'in', selector: greSelector(peer.nbma, local), priority: GRE_TRANSPORT_PRIORITY, action: 'allow', templates: [{ src: peer.nbma, dst: local, proto: IpProto.ESP, reqid: peer.reqid, mode: 'transport' }] },
    ];
  }

  private ensurePolicies(peer: Peer): void {
    if (peer.policies) return;
    peer.policies = true;
    // UPDPOLICY: idempotent, and it takes over a leftover for the same selector in one step.
    for (const spec of this.policySpecs(peer)) this.enqueue(() => this.xfrm.addPolicy(spec, { replace: true }));
  }

  /** Policies stay while the peer is protected or has any SA; then the peer is forgotten. */
  private dropIfIdle(peer: Peer): void {
    if (peer.protected || peer.outSpi !== undefined || peer.inSpis.size > 0) return;
    if (peer.policies) this.enqueuePolicyRemoval(peer);
    peer.policies = false;
    this.peers.delete(peer.nbma);
    this.reqids.release(this.key(peer.nbma));
  }

  private enqueuePolicyRemoval(peer: Peer): void {
    for (const spec of this.policySpecs(peer)) {
      this.enqueue(async () => {
        try {
          await this.xfrm.deletePolicy({ dir: spec.dir, selector: spec.selector });
        } catch (e) {
          if (!isGone(e)) throw e;
        }
      });
    }
  }

  /** Add a state; one with the same SPI left by a crashed run is replaced. */
  private async addState(spec: XfrmStateSpec): Promise<void> {
    try {
      await this.xfrm.addState(spec);
    } catch (e) {
      if (!(e instanceof PlatformError && e.code === 'netlink' && e.errno === Errno.EEXIST)) throw e;
      await this.deleteState(spec);
      await this.xfrm.addState(spec);
    }
  }

  private async deleteState(id: { src: string; dst: string; spi: number }): Promise<void> {
    try {
      await this.xfrm.deleteState({ ...id, proto: IpProto.ESP });
    } catch (e) {
      if (!isGone(e)) throw e;
      this.log.debug({ spi: id.spi.toString(16), dst: id.dst }, 'xfrm state was already gone');
    }
  }

  private enqueue(work: () => Promise<void>): void {
    this.queue = this.queue.then(work).catch((e: unknown) => {
      this.failures++;
      this.lastError = e instanceof Error ? e : new Error(String(e));
      this.log.error({ err: this.lastError.message, local: this.localNbma }, `kernel ESP: ${this.lastError.message}`);
    });
  }
}

function isGone(e: unknown): boolean {
  return e instanceof PlatformError && e.code === 'netlink' && (e.errno === Errno.ESRCH || e.errno === Errno.ENOENT);
}
