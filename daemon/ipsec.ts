/**
 * `tunnel protection ipsec profile NAME` on one tunnel: the IKEv2 engine on UDP
 * 500/4500 of the tunnel source, its child SAs pushed into the dataplane's ESP
 * (transport mode, GRE between NBMA addresses), and SAs brought up on demand
 * for every NBMA peer NHRP maps (the NHS at start, spokes when a shortcut is
 * resolved). Packets to a peer whose SA is not up yet wait briefly in the
 * dataplane's queue instead of leaving in the clear.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { IkeManager } from '../protocols/ikev2/manager.js';
import { ikeConfig, type KeyringPeer, type IkeProposalConfig, type EspTransformConfig } from '../protocols/ikev2/policy.js';
import type { ChildSaInfo, IkeAction } from '../protocols/ikev2/engine-types.js';
import type { EspSa } from '../platform/native/esp.js';
import type { ConfigModel, TunnelInterfaceConfig } from './config/model.js';
import type { Logger } from './log.js';

export const IKE_PORT = 500;
export const NATT_PORT = 4500;

/** What the IPsec runtime needs of its tunnel's dataplane. */
export interface EspTarget {
  setOutboundSa(nbma: string, sa: EspSa): void;
  deleteOutboundSa(nbma: string): boolean;
  setInboundSa(spi: number, sa: Omit<EspSa, 'spi'>): void;
  deleteInboundSa(spi: number): boolean;
  setProtected(nbma: string, on: boolean): void;
}

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
  const integrity = c.integ?.id === 12 ? 'hmac-sha256-128' : c.integ?.id === 2 ? 'hmac-sha1-96' : undefined;
  if (!integrity) throw new Error(`ESP integrity ${c.integ?.name ?? 'none'} is not supported by the dataplane`);
  return { cipher: c.encr.keyBits === 256 ? 'aes-cbc-256' : 'aes-cbc-128', key: k.encrKey, integrity, authKey: k.integKey };
}

export class IpsecRuntime {
  readonly manager: IkeManager;
  private sockets = new Map<number, Socket>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  readonly profile: string;

  constructor(
    readonly localAddress: string,
    cfg: ReturnType<typeof ikeConfigFor>,
    profile: string,
    private readonly esp: EspTarget,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {
    this.profile = profile;
    this.manager = new IkeManager(cfg, (n) => new Uint8Array(randomBytes(n)), now());
  }

  async start(): Promise<void> {
    for (const port of [IKE_PORT, NATT_PORT]) {
      const s = createSocket({ type: 'udp4', reuseAddr: true });
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
      this.sockets.set(port, s);
    }
    this.log.info({ profile: this.profile, local: this.localAddress }, `IKEv2 listening on ${this.localAddress}:500 and :4500`);
  }

  /** NHRP mapped an NBMA peer: protect it and bring its SA up (no-op when one exists). */
  peerMapped(nbma: string): void {
    if (this.stopped || nbma === this.localAddress) return;
    this.esp.setProtected(nbma, true);
    this.run(this.manager.connect(nbma, this.now()));
  }

  stop(): void {
    if (this.stopped) return;
    for (const sa of this.manager.sas()) this.run(this.manager.disconnect(sa.peer, this.now()));
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    setTimeout(() => {
      for (const s of this.sockets.values()) s.close();
      this.sockets.clear();
    }, 50);
  }

  private run(actions: readonly IkeAction[]): void {
    for (const a of actions) {
      switch (a.kind) {
        case 'send': {
          const s = this.sockets.get(a.from.port) ?? this.sockets.get(IKE_PORT);
          s?.send(a.bytes, a.to.port, a.to.address);
          break;
        }
        case 'child-up':
        case 'child-rekeyed': {
          const c = a.child;
          try {
            this.esp.setInboundSa(c.spiIn, espKeys(c, 'inbound'));
            this.esp.setOutboundSa(a.peer, { spi: c.spiOut, ...espKeys(c, 'outbound') });
            this.log.info({ peer: a.peer, spiIn: c.spiIn.toString(16), spiOut: c.spiOut.toString(16), cipher: c.encr.name }, `IPsec SA with ${a.peer} ${a.kind === 'child-up' ? 'up' : 'rekeyed'}`);
          } catch (e) {
            this.log.error({ peer: a.peer, err: (e as Error).message }, 'could not install the IPsec SA');
          }
          break;
        }
        case 'child-down':
          this.esp.deleteInboundSa(a.spiIn);
          if (a.reason !== 'rekeyed') this.esp.deleteOutboundSa(a.peer);
          this.log.info({ peer: a.peer, reason: a.reason }, `IPsec SA with ${a.peer} down`);
          break;
        case 'ike-up':
          this.log.info({ peer: a.peer }, `IKEv2 SA with ${a.peer} up`);
          break;
        case 'ike-down':
          this.log.info({ peer: a.peer, reason: a.reason }, `IKEv2 SA with ${a.peer} down: ${a.reason}`);
          break;
        case 'log':
          this.log[a.level]({ ike: true, ...(a.fields ?? {}) }, a.msg);
          break;
      }
    }
    this.arm();
  }

  private arm(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const d = this.manager.nextDeadline();
    if (d === undefined) return;
    this.timer = setTimeout(() => this.run(this.manager.tick(this.now())), Math.max(0, Math.min(d - this.now(), 2 ** 31 - 1)));
  }
}
