/**
 * `tunnel protection ipsec profile NAME` on one tunnel: the IKEv2 engine on UDP
 * 500/4500 of the tunnel source, its child SAs pushed into the dataplane's ESP
 * (transport mode, GRE between NBMA addresses), and SAs brought up on demand
 * for every NBMA peer NHRP maps (the NHS at start, spokes when a shortcut is
 * resolved). Packets to a peer whose SA is not up yet wait briefly in the
 * dataplane's queue instead of leaving in the clear.
 *
 * When NHRP forgets a dynamic peer (its cache entry expired unused or was
 * cleared) and no other mapping uses its NBMA address, its IKE SA is deleted
 * (INFORMATIONAL Delete, RFC 7296 section 1.4.1) with its child SAs, as IOS
 * closes the crypto socket of an NHRP entry that goes away; the NHS's SA is
 * never torn down this way. A peer that NHRP still maps but whose SA went
 * away (deleted by the other side when its own entry expired, dead peer,
 * failed negotiation) gets a new SA on demand, when packets wait for it.
 *
 * NAT traversal (RFC 3948, RFC 7296 section 2.23): IKE starts on UDP 500 and
 * moves to 4500 when the NAT_DETECTION notifies show a NAT. With the userspace
 * dataplane, port 4500 is the dataplane's own socket (IKE behind the non-ESP
 * marker, ESP-in-UDP and NAT-keepalives share it), so IKE on 4500 leaves through
 * `EspTarget.sendIke` and arrives through `receiveEncapsulated`; a child SA with
 * a NAT between the peers sends ESP in UDP to the peer's port as IKE last saw it,
 * and follows it when the peer's NAT maps it to another port (an authenticated
 * IKE message, or ESP, from there). The side behind the NAT sends the keepalives.
 * Without it (the kernel dataplane today) a node:dgram socket holds 4500 and ESP
 * is never UDP-encapsulated.
 */
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { IkeManager } from '../protocols/ikev2/manager.js';
import { ikeConfig, type KeyringPeer, type IkeProposalConfig, type EspTransformConfig } from '../protocols/ikev2/policy.js';
import type { ChildSaInfo, Endpoint, IkeAction } from '../protocols/ikev2/engine-types.js';
import type { EspSa } from '../platform/native/esp.js';
import { NON_ESP_MARKER_LENGTH, NAT_KEEPALIVE_OCTET } from '../protocols/esp/udpencap.js';
import type { ConfigModel, TunnelInterfaceConfig } from './config/model.js';
import type { Logger } from './log.js';

export const IKE_PORT = 500;
export const NATT_PORT = 4500;

/** What the IPsec runtime needs of its tunnel's dataplane. */
export interface EspTarget {
  setOutboundSa(nbma: string, sa: EspSa): void;
  deleteOutboundSa(nbma: string): boolean;
  /** `peer`: the NBMA address the SA's packets come from (the kernel's xfrm state is keyed by it). */
  setInboundSa(spi: number, sa: Omit<EspSa, 'spi'>, peer: string): void;
  deleteInboundSa(spi: number): boolean;
  setProtected(nbma: string, on: boolean): void;
  /**
   * Packets waiting per protected peer without an SA (the on-demand trigger); absent: never polled.
   * With NAT-T, also the outbound SAs' sequence numbers and where each inbound SA's last
   * authenticated ESP-in-UDP packet came from (platform/native/esp.ts SaStats).
   */
  saStats?(): EspTargetStats | undefined;
  /** NAT-T through the dataplane: an IKE message (no non-ESP marker: the dataplane adds it) from UDP 4500. */
  sendIke?(dst: string, dstPort: number, payload: Uint8Array): boolean;
  /** NAT-T through the dataplane: a NAT-keepalive (RFC 3948 section 2.3) from UDP 4500. */
  sendNatKeepalive?(dst: string, dstPort: number): boolean;
}

/** What the runtime reads of the dataplane's SA counters (a subset of the native SaStats). */
export interface EspTargetStats {
  readonly protected: readonly { readonly nbma: string; readonly queued: number }[];
  readonly outbound?: readonly { readonly nbma: string; readonly spi: number; readonly seq: number }[];
  readonly inbound?: readonly { readonly spi: number; readonly natSource?: { readonly address: string; readonly port: number } }[];
}

export interface IpsecOptions {
  /**
   * Who holds UDP 4500. 'dataplane': the userspace dataplane's UDP-encapsulation
   * socket (IKE through EspTarget.sendIke and receiveEncapsulated(), child SAs
   * with a NAT get UDP encapsulation); 'socket' (default): a node:dgram socket,
   * and ESP always leaves as IP protocol 50.
   */
  readonly natTraversal?: 'dataplane' | 'socket';
}

/** How often mapped peers without an SA are checked for waiting packets. */
const DEMAND_POLL_MS = 1000;
/** At most one on-demand negotiation per peer this often (a peer that refuses us is not hammered). */
const DEMAND_MIN_INTERVAL_MS = 10_000;
/** How often the dataplane's inbound SAs are checked for a peer whose NAT moved it to another port. */
const NAT_POLL_MS = 2000;
/**
 * Sequence numbers skipped when an outbound SA is re-installed for a new peer
 * port: the dataplane thread may send with the old copy between our read of
 * its sequence number and the replacement, and a sequence number (the AES-GCM
 * nonce) must never be used twice with one key. The receiver's replay window
 * simply moves on.
 */
const REINSTALL_SEQ_GAP = 1 << 16;
/** The last sequence number of an SA without extended sequence numbers (RFC 4303 section 3.3.3). */
const SEQ_MAX_32 = 0xffff_ffff;
/** IKE SA states in which a peer counts as connected or connecting. */
const LIVE_STATES: ReadonlySet<string> = new Set(['init-sent', 'auth-sent', 'init-replied', 'established']);
/** Exchanges that cannot carry a Delete yet (no authenticated SA on both sides). */
const NEGOTIATING_STATES: ReadonlySet<string> = new Set(['init-sent', 'auth-sent', 'init-replied']);

/** The IKEv2 engine's configuration from the IOS crypto blocks a tunnel refers to. */
export function ikeConfigFor(model: ConfigModel, t: TunnelInterfaceConfig, localAddress: string) {
  const ipsec = model.crypto.ipsecProfiles.find((p) => p.name === t.protection!.profile)!;
  const ike = model.crypto.ikev2Profiles.find((p) => p.name === ipsec.ikev2Profile?.name);
  const ring = model.crypto.keyrings.find((k) => k.name === ike?.keyring?.name);
  const keyring: KeyringPeer[] = (ring?.peers ?? []).flatMap((p) => p.address ? [{
    address: p.address.address, prefixLength: p.address.prefixLength,
    psk: p.presharedKey?.reveal(), pskLocal: p.presharedKeyLocal?.reveal(), pskRemote: p.presharedKeyRemote?.reveal(),
  }] : []);
  // IOS uses a proposal through a policy; with no policy, its smart defaults.
  const proposals: IkeProposalConfig[] = model.crypto.ikev2Policies
    .flatMap((pol) => pol.proposals.map((ref) => model.crypto.ikev2Proposals.find((x) => x.name === ref.name)))
    .flatMap((pr) => (pr ? [{
      encr: pr.encryption.map((e) => ({ id: e.startsWith('aes-gcm') ? ENCR_AES_GCM_16 : ENCR_AES_CBC, keyLength: Number(e.slice(-3)) })),
      integ: pr.integrity.map((h) => INTEG_ID[h]),
      // IOS: without `prf`, the integrity algorithms serve as PRFs.
      prf: (pr.prf.length ? pr.prf : pr.integrity).map((h) => PRF_ID[h]),
      dh: [...pr.groups],
    }] : []));
  const transformSets: EspTransformConfig[] = ipsec.transformSets
    .map((ref) => model.crypto.transformSets.find((t) => t.name === ref.name))
    .flatMap((t) => (t ? [{
      encr: t.cipher === 'esp-gcm' ? ENCR_AES_GCM_16 : ENCR_AES_CBC,
      keyLength: t.keyBits,
      integ: t.cipher === 'esp-gcm' || !t.integrity ? undefined : ESP_INTEG_ID[t.integrity],
    }] : []));
  const pfs = ipsec.pfs?.group ? Number(ipsec.pfs.group.slice(5)) : undefined;
  return ikeConfig({
    localAddress, keyring,
    ...(proposals.length ? { proposals } : {}),
    ...(transformSets.length ? { transformSets } : {}),
    ...(pfs !== undefined ? { pfsGroup: pfs } : {}),
    ikeLifetime: ike?.lifetime ?? 86400,
    childLifetime: ipsec.lifetimeSeconds,
    dpd: ike?.dpd ? { interval: ike.dpd.interval, retry: ike.dpd.retry } : undefined,
  });
}

/** IANA IKEv2 transform IDs (RFC 7296 section 3.3.2, RFC 4106, RFC 4868). */
const ENCR_AES_CBC = 12;
const ENCR_AES_GCM_16 = 20;
const INTEG_ID = { sha1: 2, sha256: 12, sha384: 13, sha512: 14 } as const;
const PRF_ID = { sha1: 2, sha256: 5, sha384: 6, sha512: 7 } as const;
const ESP_INTEG_ID = { 'esp-sha-hmac': 2, 'esp-sha256-hmac': 12, 'esp-sha384-hmac': 13, 'esp-sha512-hmac': 14 } as const;

/** The dataplane's cipher names for a negotiated child SA (transform IDs of RFC 7296 / IANA). */
export function espKeys(c: ChildSaInfo, dir: 'inbound' | 'outbound'): Omit<EspSa, 'spi'> {
  const k = c[dir];
  if (c.encr.id === 20) {
    return { cipher: c.encr.keyBits === 256 ? 'aes-gcm-256' : 'aes-gcm-128', key: k.encrKey };
  }
  if (c.encr.id !== 12) throw new Error(`ESP cipher ${c.encr.name} is not supported by the dataplane`);
  const integrity = ({ 2: 'hmac-sha1-96', 12: 'hmac-sha256-128', 13: 'hmac-sha384-192', 14: 'hmac-sha512-256' } as Partial<Record<number, EspSa['integrity']>>)[c.integ?.id ?? 0];
  if (!integrity) throw new Error(`ESP integrity ${c.integ?.name ?? 'none'} is not supported by the dataplane`);
  return { cipher: c.encr.keyBits === 256 ? 'aes-cbc-256' : 'aes-cbc-128', key: k.encrKey, integrity, authKey: k.integKey };
}

/** One local IKE port: where the engine's datagrams from it leave. */
interface IkePort {
  send(to: Endpoint, bytes: Uint8Array): void;
  close(): void;
}

/** The outbound SA the dataplane sends with for a peer, as installed, and the inbound SPI of its child. */
interface InstalledSa {
  readonly sa: EspSa;
  readonly spiIn: number;
}

export class IpsecRuntime {
  readonly manager: IkeManager;
  private readonly ports = new Map<number, IkePort>();
  private timer: NodeJS.Timeout | undefined;
  /** The deadline `timer` is armed for, and whether a re-arm waits for the end of this turn. */
  private timerAt: number | undefined;
  private armQueued = false;
  private stopped = false;
  readonly profile: string;
  /** NBMA peers NHRP maps on the tunnel. */
  private readonly mapped = new Set<string>();
  /** Mapped peers whose IKE SA went away: a new one is negotiated when packets wait for them. */
  private readonly idle = new Set<string>();
  private readonly lastDemand = new Map<string, number>();
  /** Unmapped peers whose SA is still being negotiated: deleted once the exchange settles. */
  private readonly unmapPending = new Set<string>();
  private demandTimer: NodeJS.Timeout | undefined;
  /** The outbound SA the dataplane holds per peer, so an old SA's end never removes a newer one. */
  private readonly outbound = new Map<string, InstalledSa>();
  /** The NHSs' NBMA addresses: their SAs stay whatever NHRP does. */
  private readonly nhs: ReadonlySet<string>;
  /** UDP 4500 is the dataplane's (NAT-T through it) rather than a node:dgram socket's. */
  private readonly natViaDataplane: boolean;
  /** Per inbound SPI, the source port of its last authenticated ESP-in-UDP packet when last looked at. */
  private readonly natSeen = new Map<number, number>();
  private natTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly localAddress: string,
    cfg: ReturnType<typeof ikeConfigFor>,
    profile: string,
    private readonly esp: EspTarget,
    private readonly log: Logger,
    private readonly now: () => number,
    nhs: readonly string[] = [],
    opts: IpsecOptions = {},
  ) {
    this.profile = profile;
    this.nhs = new Set(nhs);
    this.natViaDataplane = opts.natTraversal === 'dataplane';
    this.manager = new IkeManager(cfg, (n) => new Uint8Array(randomBytes(n)), now());
  }

  async start(): Promise<void> {
    await this.bind(IKE_PORT);
    if (this.natViaDataplane) this.ports.set(NATT_PORT, this.dataplanePort());
    else await this.bind(NATT_PORT);
    const natt = this.natViaDataplane ? ':4500 (the dataplane\'s socket, with ESP-in-UDP)' : ':4500';
    this.log.info({ profile: this.profile, local: this.localAddress }, `IKEv2 listening on ${this.localAddress}:500 and ${natt}`);
  }

  private async bind(port: number): Promise<void> {
    // 4 MiB (the kernel caps it at net.core.rmem_max): a hub that restarts gets every spoke's
    // IKE_SA_INIT in one burst, which the default buffer (about 208 KB) mostly drops.
    const s = createSocket({ type: 'udp4', reuseAddr: true, recvBufferSize: 4 << 20 });
    s.on('message', (msg, rinfo) => {
      if (this.stopped) return;
      this.run(this.manager.receive({ address: rinfo.address, port: rinfo.port }, new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), this.now(), port));
    });
    s.on('error', (e) => this.log.warn({ port, err: e.message }, 'IKE socket error'));
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(port, this.localAddress, () => {
        s.off('error', reject);
        resolve();
      });
    });
    this.ports.set(port, { send: (to, bytes) => s.send(bytes, to.port, to.address), close: () => s.close() });
  }

  /**
   * UDP 4500 through the dataplane: the engine's datagrams there are a
   * NAT-keepalive (the octet 0xFF) or IKE behind the non-ESP marker, which the
   * dataplane adds itself (RFC 3948 sections 2.2 and 2.3).
   */
  private dataplanePort(): IkePort {
    const isKeepalive = (b: Uint8Array): boolean => b.length === 1 && b[0] === NAT_KEEPALIVE_OCTET;
    const isMarked = (b: Uint8Array): boolean => b.length > NON_ESP_MARKER_LENGTH && b[0] === 0 && b[1] === 0 && b[2] === 0 && b[3] === 0;
    return {
      send: (to, bytes) => {
        let sent: boolean | undefined;
        if (isKeepalive(bytes)) sent = this.esp.sendNatKeepalive?.(to.address, to.port);
        else if (isMarked(bytes)) sent = this.esp.sendIke?.(to.address, to.port, bytes.subarray(NON_ESP_MARKER_LENGTH));
        if (!sent) this.log.debug({ peer: to.address, port: to.port }, 'IKE datagram for UDP 4500 not sent (no dataplane, or its socket is full)');
      },
      close: () => undefined,
    };
  }

  /**
   * IKE the dataplane received on UDP 4500, the non-ESP marker removed (src and
   * srcPort as they arrived: behind a NAT, its public address and port).
   */
  receiveEncapsulated(src: string, srcPort: number, payload: Uint8Array): void {
    if (this.stopped) return;
    const marked = new Uint8Array(NON_ESP_MARKER_LENGTH + payload.length);
    marked.set(payload, NON_ESP_MARKER_LENGTH);
    this.run(this.manager.receive({ address: src, port: srcPort }, marked, this.now(), NATT_PORT));
    // An authenticated message from a new port moved the IKE SA there (RFC 7296 section 2.23): the ESP follows.
    this.followNat();
  }

  /** NHRP mapped an NBMA peer: protect it and bring its SA up (no-op when one exists). */
  peerMapped(nbma: string): void {
    if (this.stopped || nbma === this.localAddress) return;
    this.mapped.add(nbma);
    this.idle.delete(nbma);
    this.unmapPending.delete(nbma);
    this.esp.setProtected(nbma, true);
    this.run(this.manager.connect(nbma, this.now()));
  }

  /**
   * NHRP no longer maps anything to this NBMA address: delete the IKE SA with
   * it (and so its child SAs, whose ESP SAs leave the dataplane when the
   * Delete is answered or times out) and stop protecting it. Never the NHS's.
   */
  peerUnmapped(nbma: string): void {
    if (this.stopped || nbma === this.localAddress || this.nhs.has(nbma)) return;
    this.mapped.delete(nbma);
    this.idle.delete(nbma);
    this.lastDemand.delete(nbma);
    this.esp.setProtected(nbma, false);
    // Closing an SA in the middle of IKE_AUTH would leave the peer holding its half, with no Delete
    // to tell it (one needs the authenticated SA): wait for the exchange to end (run() comes back).
    if (this.negotiating(nbma)) this.unmapPending.add(nbma);
    else this.deletePeerSas(nbma);
  }

  private deletePeerSas(nbma: string): void {
    this.unmapPending.delete(nbma);
    if (this.hasLiveSa(nbma)) this.log.info({ peer: nbma }, `NHRP no longer maps ${nbma}: deleting the IKE SA with it`);
    this.run(this.manager.disconnect(nbma, this.now()));
  }

  private negotiating(nbma: string): boolean {
    return this.manager.sas().some((sa) => sa.peer === nbma && NEGOTIATING_STATES.has(sa.state));
  }

  /**
   * Packets wait for `nbma`'s SA (the poll of the dataplane's queues, or a kernel
   * acquire): negotiate one if NHRP maps the peer and none is up or under way.
   */
  trafficWaiting(nbma: string): void {
    if (this.stopped || !this.mapped.has(nbma) || this.hasLiveSa(nbma)) return;
    const now = this.now();
    if (now - (this.lastDemand.get(nbma) ?? -Infinity) < DEMAND_MIN_INTERVAL_MS) return;
    this.lastDemand.set(nbma, now);
    this.idle.delete(nbma);
    this.log.info({ peer: nbma }, `packets wait for ${nbma}: negotiating a new IKE SA`);
    this.run(this.manager.connect(nbma, now));
  }

  private hasLiveSa(nbma: string): boolean {
    return this.manager.sas().some((sa) => sa.peer === nbma && LIVE_STATES.has(sa.state));
  }

  /** Poll the dataplane's queues while some mapped peer has no SA. */
  private armDemand(): void {
    if (this.demandTimer || this.stopped || !this.esp.saStats) return;
    this.demandTimer = setInterval(() => {
      for (const n of [...this.idle]) if (!this.mapped.has(n) || this.hasLiveSa(n)) this.idle.delete(n);
      if (this.idle.size === 0) {
        clearInterval(this.demandTimer);
        this.demandTimer = undefined;
        return;
      }
      for (const p of this.esp.saStats?.()?.protected ?? []) if (p.queued > 0 && this.idle.has(p.nbma)) this.trafficWaiting(p.nbma);
    }, DEMAND_POLL_MS);
    this.demandTimer.unref();
  }

  // ---- NAT traversal ------------------------------------------------------------------------

  /** UDP encapsulation for a child SA: when a NAT lies between us and the dataplane can do it. */
  private encapFor(peer: string, c: ChildSaInfo): Pick<EspSa, 'encap'> {
    if (!c.natT) return {};
    if (!this.natViaDataplane) {
      this.log.warn({ peer }, `a NAT lies between us and ${peer}, but this dataplane cannot send ESP in UDP: ESP leaves as IP protocol 50 and may not get through`);
      return {};
    }
    // Our end is the dataplane's socket, whatever port the engine names (it floated to 4500).
    return { encap: { srcPort: NATT_PORT, dstPort: c.natT.dstPort } };
  }

  /** Look for moved NAT mappings while some outbound SA is UDP-encapsulated. */
  private armNatPoll(): void {
    if (this.natTimer || this.stopped) return;
    this.natTimer = setInterval(() => {
      if (![...this.outbound.values()].some((o) => o.sa.encap)) {
        clearInterval(this.natTimer);
        this.natTimer = undefined;
        return;
      }
      this.followNat();
    }, NAT_POLL_MS);
    this.natTimer.unref();
  }

  /**
   * Keep every UDP-encapsulated outbound SA pointed at the peer's current port
   * (RFC 7296 section 2.23, a NAT that dropped a live mapping and made another):
   * ESP that the dataplane authenticated from a port not seen before moves the
   * IKE SA (the engine decides whether it may: only toward a peer behind a NAT,
   * never when we are behind one), and the ESP goes where the IKE SA now points,
   * which an authenticated IKE message from a new port also moves.
   */
  private followNat(): void {
    if (this.stopped) return;
    const natted = [...this.outbound].filter(([, o]) => o.sa.encap);
    if (natted.length === 0) return;
    const stats = this.esp.saStats?.();
    const sources = new Map((stats?.inbound ?? []).flatMap((i) => (i.natSource ? [[i.spi, i.natSource] as const] : [])));
    for (const [peer, o] of natted) {
      const src = sources.get(o.spiIn);
      if (!src || src.address !== peer || this.natSeen.get(o.spiIn) === src.port) continue;
      this.natSeen.set(o.spiIn, src.port);
      this.run(this.manager.natMappingChanged({ address: peer, port: src.port }));
    }
    const ikeBySpiOut = new Map<number, { local: Endpoint; remote: Endpoint }>();
    for (const sa of this.manager.sas()) if (sa.state !== 'closed') for (const c of sa.children) ikeBySpiOut.set(c.spiOut, sa);
    for (const [peer, o] of natted) {
      const ike = ikeBySpiOut.get(o.sa.spi);
      if (!ike || ike.local.port !== NATT_PORT || ike.remote.address !== peer || ike.remote.port === o.sa.encap?.dstPort) continue;
      if (this.outbound.get(peer) !== o) continue; // replaced meanwhile
      this.moveOutbound(peer, o, ike.remote.port, stats);
    }
  }

  /**
   * The same outbound SA, to the peer's new port. Its sequence numbers go on
   * from past the dataplane's (REINSTALL_SEQ_GAP); an SA whose numbers that
   * would run out, or whose count the dataplane does not report, is rekeyed
   * instead: the new child gets the new port from the IKE SA.
   */
  private moveOutbound(peer: string, o: InstalledSa, port: number, stats: EspTargetStats | undefined): void {
    const row = stats?.outbound?.find((x) => x.nbma === peer && x.spi === o.sa.spi);
    const seq = row === undefined ? undefined : row.seq + REINSTALL_SEQ_GAP;
    if (seq === undefined || (!o.sa.esn && seq >= SEQ_MAX_32)) {
      this.log.info({ peer, port }, `${peer}'s NAT moved it to port ${port}: rekeying its IPsec SA`);
      this.run(this.manager.rekeyChild(o.spiIn, this.now()));
      return;
    }
    const sa: EspSa = { ...o.sa, seq, encap: { srcPort: NATT_PORT, dstPort: port } };
    try {
      this.esp.setOutboundSa(peer, sa);
      this.outbound.set(peer, { sa, spiIn: o.spiIn });
      this.log.info({ peer, port, spiOut: sa.spi.toString(16) }, `${peer}'s NAT moved it to port ${port}: ESP in UDP goes there now`);
    } catch (e) {
      this.log.error({ peer, err: (e as Error).message }, 'could not move the IPsec SA to the new port');
    }
  }

  stop(): void {
    if (this.stopped) return;
    for (const sa of this.manager.sas()) this.run(this.manager.disconnect(sa.peer, this.now()));
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.demandTimer) clearInterval(this.demandTimer);
    if (this.natTimer) clearInterval(this.natTimer);
    setTimeout(() => {
      for (const p of this.ports.values()) p.close();
      this.ports.clear();
    }, 50);
  }

  private run(actions: readonly IkeAction[]): void {
    for (const a of actions) {
      switch (a.kind) {
        case 'send':
          (this.ports.get(a.from.port) ?? this.ports.get(IKE_PORT))?.send(a.to, a.bytes);
          break;
        case 'child-up':
        case 'child-rekeyed': {
          const c = a.child;
          try {
            this.esp.setInboundSa(c.spiIn, espKeys(c, 'inbound'), a.peer);
            const sa: EspSa = { spi: c.spiOut, ...espKeys(c, 'outbound'), ...this.encapFor(a.peer, c) };
            this.esp.setOutboundSa(a.peer, sa);
            this.outbound.set(a.peer, { sa, spiIn: c.spiIn });
            if (sa.encap) this.armNatPoll();
            const natt = sa.encap ? `, ESP in UDP to port ${sa.encap.dstPort} (NAT-T)` : '';
            this.log.info({ peer: a.peer, spiIn: c.spiIn.toString(16), spiOut: c.spiOut.toString(16), cipher: c.encr.name, ...(sa.encap ? { natPort: sa.encap.dstPort } : {}) },
              `IPsec SA with ${a.peer} ${a.kind === 'child-up' ? 'up' : 'rekeyed'}${natt}`);
          } catch (e) {
            this.log.error({ peer: a.peer, err: (e as Error).message }, 'could not install the IPsec SA');
          }
          break;
        }
        case 'child-down':
          this.esp.deleteInboundSa(a.spiIn);
          this.natSeen.delete(a.spiIn);
          // Only the SA the dataplane sends with: an old SA ending after a new one came up leaves it alone.
          if (a.reason !== 'rekeyed' && this.outbound.get(a.peer)?.sa.spi === a.spiOut) {
            this.esp.deleteOutboundSa(a.peer);
            this.outbound.delete(a.peer);
          }
          this.log.info({ peer: a.peer, reason: a.reason }, `IPsec SA with ${a.peer} down`);
          break;
        case 'ike-up':
          this.log.info({ peer: a.peer }, `IKEv2 SA with ${a.peer} up`);
          break;
        case 'ike-down':
          this.log.info({ peer: a.peer, reason: a.reason }, `IKEv2 SA with ${a.peer} down: ${a.reason}`);
          if (this.mapped.has(a.peer) && !this.hasLiveSa(a.peer)) {
            this.idle.add(a.peer);
            this.armDemand();
          }
          break;
        case 'log':
          this.log[a.level]({ ike: true, ...(a.fields ?? {}) }, a.msg);
          break;
      }
    }
    for (const nbma of [...this.unmapPending]) if (!this.negotiating(nbma)) this.deletePeerSas(nbma);
    this.arm();
  }

  /**
   * Re-arm the engine's timer at most once per event-loop turn: a burst of datagrams read in
   * one poll phase (every spoke at once after a restart) looks at the deadline once, and the
   * timer is only replaced when the deadline moved.
   */
  private arm(): void {
    if (this.stopped || this.armQueued) return;
    this.armQueued = true;
    setImmediate(() => {
      this.armQueued = false;
      if (this.stopped) return;
      const d = this.manager.nextDeadline();
      if (d === this.timerAt) return;
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = d;
      if (d === undefined) return;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.timerAt = undefined;
        this.run(this.manager.tick(this.now()));
      }, Math.max(0, Math.min(d - this.now(), 2 ** 31 - 1)));
    });
  }
}
