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
 * Recovery: someone may remove our states or policies under us (`ip xfrm state flush`, another IKE
 * daemon's flush). audit(), every ESP_AUDIT_INTERVAL_MS, reads the SAD and SPD and re-installs what
 * the kernel had confirmed and no longer has, with a warning naming the SA (peer, SPI, direction)
 * and a count (statesReinstalled, policiesReinstalled). A re-installed outbound state skips ahead
 * in sequence numbers past any it may have used since the last read: a receiver's replay window
 * would drop the repeats, and with AES-GCM a repeated sequence number is a repeated nonce under
 * one key (RFC 4106 section 3.1). A re-installed inbound state starts a fresh replay window.
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

/**
 * How often audit() looks for states and policies removed under us: one SAD and one SPD dump. A
 * removed inbound state drops the peer's traffic, a removed outbound state ours, until then; a
 * removed policy lets GRE to the peer leave in the clear, so this stays short.
 */
export const ESP_AUDIT_INTERVAL_MS = 5000;

/** Sequence numbers a re-installed outbound state skips at least (ipsec.ts skips as many when it moves an SA). */
export const REINSTALL_SEQ_GAP = 1 << 16;
/**
 * Packets per second one outbound SA may have sent since its sequence number was last read: above
 * what kernel ESP pushes through one SA on one core. The skip grows with the time since that read.
 */
export const SEQ_RATE_BOUND = 1 << 21;
/** The last sequence number of an SA without extended sequence numbers (RFC 4303 section 3.3.3). */
const SEQ_MAX_32 = 0xffff_ffff;

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
  /** How often audit() runs by itself; 0: only when called. Default ESP_AUDIT_INTERVAL_MS. */
  readonly auditIntervalMs?: number;
  /** The clock (ms) for the sequence-number skip of a re-installed outbound state. Default Date.now. */
  readonly now?: () => number;
}

/** A state we asked the kernel for, and what it needs to be installed again. */
interface Installed {
  readonly peer: string;
  readonly dir: 'inbound' | 'outbound';
  spec: XfrmStateSpec;
  /** The kernel took it: from then on, its absence means it was removed under us. */
  confirmed: boolean;
  /** Outbound: the highest sequence number known used, and when it was read (ms). */
  oseq: number;
  seenAt: number;
}

/** What KernelEsp counts (they show in `show dataplane` and `show crypto ipsec sa --json`). */
export interface KernelEspCounters {
  /** Kernel requests that failed (each is logged at error level). */
  readonly failures: number;
  /** States found removed under us and installed again. */
  readonly statesReinstalled: number;
  /** Policies found removed (or replaced by one without our reqid) and installed again. */
  readonly policiesReinstalled: number;
}

interface Peer {
  readonly nbma: string;
  readonly reqid: number;
  protected: boolean;
  /** Whether the policy pair is installed (or queued to be). */
  policies: boolean;
  /** The directions whose policy the kernel took. */
  readonly policiesConfirmed: Set<'in' | 'out'>;
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
  /** Our states by `dst/spi` (the kernel's key for them, with the protocol). */
  private readonly installed = new Map<string, Installed>();
  private readonly now: () => number;
  private auditTimer: NodeJS.Timeout | undefined;
  private auditing = false;
  /** Kernel requests that failed (each is logged at error level). */
  failures = 0;
  statesReinstalled = 0;
  policiesReinstalled = 0;
  lastError: Error | undefined;

  constructor(
    private readonly xfrm: XfrmPort,
    readonly localNbma: string,
    private readonly log: Logger,
    options: KernelEspOptions = {},
  ) {
    this.reqids = options.reqids ?? sharedReqids;
    this.now = options.now ?? Date.now;
    const every = options.auditIntervalMs ?? ESP_AUDIT_INTERVAL_MS;
    if (every > 0) {
      this.auditTimer = setInterval(() => {
        // One audit at a time: on a loaded machine a dump can take longer than the interval.
        if (this.auditing) return;
        this.auditing = true;
        void this.audit().finally(() => { this.auditing = false; });
      }, every);
      this.auditTimer.unref();
    }
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
    if (old !== undefined && old !== sa.spi) this.untrack(nbma, old);
    const rec = this.track(spec, 'outbound', nbma);
    if (old === sa.spi) {
      // The same SPI with new keys: XFRM_MSG_UPDSA keeps the old keys, so delete and add.
      this.enqueue(() => this.deleteState(oldId));
      this.enqueue(async () => {
        await this.xfrm.addState(spec);
        this.confirm(rec);
      });
    } else {
      this.enqueue(async () => {
        await this.addState(spec);
        this.confirm(rec);
      });
      if (old !== undefined) this.enqueue(() => this.deleteState(oldId));
    }
  }

  deleteOutboundSa(nbma: string): boolean {
    const peer = this.peers.get(nbma);
    if (this.closed || peer?.outSpi === undefined) return false;
    const id = { src: this.localNbma, dst: nbma, spi: peer.outSpi };
    this.untrack(nbma, peer.outSpi);
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
    const rec = this.track(spec, 'inbound', peerNbma);
    this.enqueue(async () => {
      await (was !== undefined ? this.xfrm.addState(spec) : this.addState(spec));
      this.confirm(rec);
    });
  }

  deleteInboundSa(spi: number): boolean {
    const nbma = this.inbound.get(spi);
    if (this.closed || nbma === undefined) return false;
    this.inbound.delete(spi);
    this.untrack(this.localNbma, spi);
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

  /**
   * Whether GRE to `nbma` may leave now. Our policy's template is what drops GRE to a protected
   * peer without an SA, and it is installed asynchronously: a packet sent in between (the NHS's
   * first Registration Request, sent right after NHRP maps it) would leave in the clear, as the
   * strongSwan interop in the VM caught. undefined: send now (not protected, or the kernel holds
   * the outbound policy); otherwise a promise, once the requests queued so far are answered, of
   * whether it may be sent then (false: the policy could not be installed, drop it).
   */
  outboundPolicyReady(nbma: string): Promise<boolean> | undefined {
    const peer = this.peers.get(nbma);
    if (!peer?.policies || peer.policiesConfirmed.has('out')) return undefined;
    return this.queue.then(() => {
      const now = this.peers.get(nbma);
      return !now?.policies || now.policiesConfirmed.has('out');
    });
  }

  reqidOf(nbma: string): number | undefined {
    return this.peers.get(nbma)?.reqid;
  }

  counters(): KernelEspCounters {
    return { failures: this.failures, statesReinstalled: this.statesReinstalled, policiesReinstalled: this.policiesReinstalled };
  }

  /**
   * Read the SAD and SPD and install again every state and policy the kernel had taken from us
   * and no longer has; each one is logged (warning) and counted. Runs in the request queue, so it
   * never races our own adds and deletes. Resolves with what it re-installed.
   */
  audit(): Promise<{ readonly states: number; readonly policies: number }> {
    const done = { states: 0, policies: 0 };
    if (this.closed) return Promise.resolve(done);
    this.enqueue(async () => {
      const [states, policies] = [await this.xfrm.states(), await this.xfrm.policies()];
      const now = this.now();
      const present = new Map(states.filter((s) => s.proto === IpProto.ESP).map((s) => [stateKey(s.dst, s.spi), s]));
      for (const rec of [...this.installed.values()]) {
        const key = stateKey(rec.spec.dst, rec.spec.spi);
        if (!rec.confirmed || this.installed.get(key) !== rec) continue;
        const s = present.get(key);
        if (s) {
          if (rec.dir === 'outbound') [rec.oseq, rec.seenAt] = [Math.max(rec.oseq, s.oseq), now];
          continue;
        }
        if (await this.reinstallState(rec, now)) done.states++;
      }
      const have = new Set(policies.filter((p) => p.priority === GRE_TRANSPORT_PRIORITY).map((p) => `${p.dir} ${p.selector.src}>${p.selector.dst}:${p.selector.proto}/${p.templates[0]?.reqid}`));
      for (const peer of [...this.peers.values()]) {
        if (!peer.policies) continue;
        for (const spec of this.policySpecs(peer)) {
          if (!peer.policiesConfirmed.has(spec.dir as 'in' | 'out')) continue;
          if (have.has(`${spec.dir} ${spec.selector.src}>${spec.selector.dst}:${spec.selector.proto}/${peer.reqid}`)) continue;
          if (await this.reinstallPolicy(peer, spec)) done.policies++;
        }
      }
    });
    return this.queue.then(() => done);
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
    if (this.auditTimer) clearInterval(this.auditTimer);
    this.installed.clear();
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
      p = { nbma, reqid: this.reqids.get(this.key(nbma)), protected: false, policies: false, policiesConfirmed: new Set(), inSpis: new Set() };
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
    for (const spec of this.policySpecs(peer)) {
      this.enqueue(async () => {
        await this.xfrm.addPolicy(spec, { replace: true });
        if (this.peers.get(peer.nbma) === peer && peer.policies) peer.policiesConfirmed.add(spec.dir as 'in' | 'out');
      });
    }
  }

  /** Policies stay while the peer is protected or has any SA; then the peer is forgotten. */
  private dropIfIdle(peer: Peer): void {
    if (peer.protected || peer.outSpi !== undefined || peer.inSpis.size > 0) return;
    if (peer.policies) this.enqueuePolicyRemoval(peer);
    peer.policies = false;
    peer.policiesConfirmed.clear();
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

  private track(spec: XfrmStateSpec, dir: Installed['dir'], peer: string): Installed {
    const rec: Installed = { peer, dir, spec, confirmed: false, oseq: spec.seq ?? 0, seenAt: this.now() };
    this.installed.set(stateKey(spec.dst, spec.spi), rec);
    return rec;
  }

  private untrack(dst: string, spi: number): void {
    this.installed.delete(stateKey(dst, spi));
  }

  /** The kernel took the state (unless it was replaced or removed meanwhile). */
  private confirm(rec: Installed): void {
    if (this.installed.get(stateKey(rec.spec.dst, rec.spec.spi)) === rec) rec.confirmed = true;
  }

  /**
   * Install a vanished state again. An outbound one resumes past every sequence number it may
   * have used: the last one read, plus what it could have sent since at SEQ_RATE_BOUND.
   */
  private async reinstallState(rec: Installed, now: number): Promise<boolean> {
    const { src, dst, spi } = rec.spec;
    const name = `${src}->${dst} spi 0x${(spi >>> 0).toString(16)}`;
    let spec = rec.spec;
    if (rec.dir === 'outbound') {
      const since = Math.max(0, now - rec.seenAt);
      let seq = Math.max(rec.oseq, spec.seq ?? 0) + REINSTALL_SEQ_GAP + Math.ceil((since / 1000) * SEQ_RATE_BOUND);
      // Without ESN the counter cannot pass 2^32 - 1; the kernel then stops sending on it until IKE rekeys.
      if (!spec.esn && seq > SEQ_MAX_32) seq = SEQ_MAX_32;
      spec = { ...spec, seq };
    }
    try {
      await this.addState(spec);
    } catch (e) {
      this.fail(e);
      return false;
    }
    rec.spec = spec;
    if (rec.dir === 'outbound') [rec.oseq, rec.seenAt] = [spec.seq ?? 0, now];
    this.statesReinstalled++;
    this.log.warn({ local: this.localNbma, peer: rec.peer, spi: `0x${(spi >>> 0).toString(16)}`, direction: rec.dir, ...(rec.dir === 'outbound' ? { seq: spec.seq } : {}) },
      `xfrm state ${name} (${rec.dir}, peer ${rec.peer}) vanished from the kernel: re-installed`);
    return true;
  }

  private async reinstallPolicy(peer: Peer, spec: XfrmPolicySpec): Promise<boolean> {
    try {
      await this.xfrm.addPolicy(spec, { replace: true });
    } catch (e) {
      this.fail(e);
      return false;
    }
    this.policiesReinstalled++;
    this.log.warn({ local: this.localNbma, peer: peer.nbma, direction: spec.dir, reqid: peer.reqid },
      `xfrm policy ${spec.dir} GRE ${spec.selector.src}->${spec.selector.dst} (peer ${peer.nbma}) vanished from the kernel: re-installed`);
    return true;
  }

  private fail(e: unknown): void {
    this.failures++;
    this.lastError = e instanceof Error ? e : new Error(String(e));
    this.log.error({ err: this.lastError.message, local: this.localNbma }, `kernel ESP: ${this.lastError.message}`);
  }

  private enqueue(work: () => Promise<void>): void {
    this.queue = this.queue.then(work).catch((e: unknown) => this.fail(e));
  }
}

const stateKey = (dst: string, spi: number): string => `${dst}/${spi >>> 0}`;

function isGone(e: unknown): boolean {
  return e instanceof PlatformError && e.code === 'netlink' && (e.errno === Errno.ESRCH || e.errno === Errno.ENOENT);
}
