/**
 * The per-peer IPsec view of a protected tunnel, and two IOS layouts of it:
 * `show crypto ipsec sa [peer ADDR]` and the "Crypto Session Details" section
 * of `show dmvpn detail`. The IKE engine knows the SAs (SPIs, transform,
 * lifetimes: protocols/ikev2/show.ts); the dataplane counts their packets
 * (SaStats); this file joins the two by SPI and NBMA address.
 *
 * Layouts follow IOS 15 / IOS-XE output on DMVPN hubs and spokes (one flow per
 * NBMA peer: GRE, protocol 47, between the two tunnel sources). Lines IOS prints
 * from state this daemon does not have (path and plaintext MTU of the flow) are
 * left out rather than made up; internal handles IOS prints (Session: [0x...],
 * conn id, flow_id) are derived from the session and SA numbers.
 */
import type { SaStats, InboundSaStats, OutboundSaStats } from '../../platform/native/esp.js';
import type { PeerCryptoShow, ChildSaShow, IkeSaBrief } from '../../protocols/ikev2/show.js';

/** IOS's remaining IKE lifetime: hours:minutes:seconds, hours unbounded. */
function hms(seconds: number): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(Math.floor(seconds / 3600))}:${two(Math.floor((seconds % 3600) / 60))}:${two(seconds % 60)}`;
}

/** IOS `crypto ipsec security-association lifetime kilobytes` default. */
export const DEFAULT_LIFETIME_KB = 4_608_000;

/** What one protected tunnel knows, for these views. */
export interface CryptoSource {
  readonly ifname: string;
  /** The tunnel source (the local crypto endpoint). */
  readonly localAddress: string;
  readonly peers: readonly PeerCryptoShow[];
  /** The dataplane's per-SA counters (undefined while the tunnel is down). */
  readonly stats: SaStats | undefined;
  readonly lifetimeKilobytes: number;
}

export interface EspSaJson {
  readonly spi: number;
  readonly transform: string;
  readonly mode: 'Transport';
  /** The IKE engine's state of the child SA ("installed", "rekeying", "rekeyed", "deleting"). */
  readonly state: string;
  readonly ivSize: number;
  /** Counted by the dataplane (0 when it does not hold the SA). */
  readonly packets: number;
  readonly bytes: number;
  /** Inbound only. */
  readonly replayDrops?: number;
  readonly authFailures?: number;
  readonly remainingKilobytes: number;
  readonly remainingSeconds: number;
  readonly lifetimeSeconds: number;
}

/** One NBMA peer's IPsec state: the flow, its ESP SAs with counters, and its IKE SAs. */
export interface IpsecPeerJson {
  readonly interface: string;
  readonly peer: string;
  readonly port: number;
  readonly localAddress: string;
  /** The protected flow: GRE between the two NBMA addresses. */
  readonly flow: { readonly protocol: 47; readonly local: string; readonly remote: string };
  readonly sessionId: number | null;
  /** UP-ACTIVE, UP-IDLE, DOWN-NEGOTIATING, DOWN. */
  readonly status: string;
  readonly ike: readonly IkeSaBrief[];
  /** The SPI the dataplane sends with now (null: none installed). */
  readonly outboundSpi: number | null;
  readonly transform: string | null;
  readonly pfsGroup: number | null;
  readonly encaps: { readonly packets: number; readonly bytes: number };
  readonly decaps: { readonly packets: number; readonly bytes: number };
  /** Replay and authentication failures of the inbound SAs. */
  readonly recvErrors: number;
  /** Packets waiting in the dataplane for this peer's SA. */
  readonly queued: number;
  /** IOS "Socket State": Open once the dataplane holds an outbound SA for the peer. */
  readonly socket: 'Open' | 'Closed';
  readonly activeSas: number;
  readonly inbound: readonly EspSaJson[];
  readonly outbound: readonly EspSaJson[];
}

function esp(c: ChildSaShow, spi: number, kb: number, s: InboundSaStats | OutboundSaStats | undefined): EspSaJson {
  const bytes = s?.bytes ?? 0;
  const base = {
    spi, transform: c.transform, mode: c.mode, state: c.state, ivSize: c.ivSize, packets: s?.packets ?? 0, bytes,
    remainingKilobytes: Math.max(0, kb - Math.floor(bytes / 1024)), remainingSeconds: c.remainingSeconds, lifetimeSeconds: c.lifetimeSeconds,
  };
  if (s && 'replayDrops' in s) return { ...base, replayDrops: s.replayDrops, authFailures: s.authFailures };
  return base;
}

/**
 * One entry per NBMA peer that has an IKE SA, an outbound ESP SA, or packets
 * waiting for one; `only` restricts it to one peer.
 */
export function ipsecPeers(src: CryptoSource, only?: string): IpsecPeerJson[] {
  const stats = src.stats;
  const outByPeer = new Map((stats?.outbound ?? []).map((o) => [o.nbma, o]));
  const inBySpi = new Map((stats?.inbound ?? []).map((i) => [i.spi, i]));
  const queuedByPeer = new Map((stats?.protected ?? []).map((p) => [p.nbma, p.queued]));
  const ike = new Map(src.peers.map((p) => [p.peer, p]));
  const names = [...new Set([...ike.keys(), ...outByPeer.keys(), ...[...queuedByPeer].filter(([, q]) => q > 0).map(([n]) => n)])];
  return names.filter((n) => only === undefined || n === only).map((peer) => {
    const p = ike.get(peer);
    const children = p?.children ?? [];
    // The dataplane sends with one SA per peer; the others are replaced or on their way out. A
    // dataplane without per-SA counters sends with the newest SA the engine installed.
    const newest = children.filter((c) => c.state === 'installed' || c.state === 'rekeying').at(-1);
    const out = stats ? outByPeer.get(peer) : newest && { spi: newest.spiOut, packets: 0, bytes: 0 };
    const current = children.find((c) => c.spiOut === out?.spi);
    const inbound = children.map((c) => esp(c, c.spiIn, src.lifetimeKilobytes, inBySpi.get(c.spiIn)));
    const outbound = out && current ? [esp(current, out.spi, src.lifetimeKilobytes, stats ? outByPeer.get(peer) : undefined)] : [];
    const sum = (l: readonly EspSaJson[], k: 'packets' | 'bytes'): number => l.reduce((n, x) => n + x[k], 0);
    const live = children.filter((c) => c.state !== 'deleting').length;
    return {
      interface: src.ifname,
      peer,
      port: p?.port ?? 500,
      localAddress: src.localAddress,
      flow: { protocol: 47, local: src.localAddress, remote: peer },
      sessionId: p?.sessionId ?? null,
      status: p?.status ?? (out ? 'UP-NO-IKE' : 'DOWN'),
      ike: p?.ike ?? [],
      outboundSpi: out?.spi ?? null,
      transform: current?.transform ?? children[0]?.transform ?? null,
      pfsGroup: (current ?? children[0])?.pfsGroup ?? null,
      encaps: { packets: sum(outbound, 'packets'), bytes: sum(outbound, 'bytes') },
      decaps: { packets: sum(inbound, 'packets'), bytes: sum(inbound, 'bytes') },
      recvErrors: inbound.reduce((n, x) => n + (x.replayDrops ?? 0) + (x.authFailures ?? 0), 0),
      queued: queuedByPeer.get(peer) ?? 0,
      socket: out ? 'Open' : 'Closed',
      activeSas: 2 * live,
      inbound,
      outbound,
    };
  });
}

const hex8 = (n: number): string => `0x${n.toString(16).toUpperCase().padStart(8, '0')}`;
const spiText = (n: number): string => `${hex8(n)}(${n})`;

/** `show crypto ipsec sa [peer ADDR]` for one tunnel; empty when it has no peer to show. */
export function renderIpsecSa(ifname: string, localAddress: string, peers: readonly IpsecPeerJson[]): string {
  if (peers.length === 0) return '';
  const map = `${ifname}-head-0`;
  const out = [`interface: ${ifname}`, `    Crypto map tag: ${map}, local addr ${localAddress}`, ''];
  let conn = 0;
  const saBlock = (title: string, list: readonly EspSaJson[]): void => {
    out.push(`     ${title} esp sas:`);
    for (const s of list) {
      conn++;
      out.push(
        `      spi: ${spiText(s.spi)}`,
        `        transform: ${s.transform} ,`,
        `        in use settings ={${s.mode}, }`,
        `        conn id: ${2000 + conn}, flow_id: SW:${conn}, sibling_flags 80000000, crypto map: ${map}`,
        `        sa timing: remaining key lifetime (k/sec): (${s.remainingKilobytes}/${s.remainingSeconds})`,
        `        IV size: ${s.ivSize} bytes`,
        '        replay detection support: Y',
        `        Status: ${s.state === 'installed' || s.state === 'rekeying' ? 'ACTIVE(ACTIVE)' : 'ACTIVE(STANDBY)'}`,
        '',
      );
    }
    if (list.length === 0) out.push('');
    out.push(`     ${title} ah sas:`, '', `     ${title} pcp sas:`, '');
  };
  for (const p of peers) {
    const e = p.encaps.packets;
    const d = p.decaps.packets;
    out.push(
      '   protected vrf: (none)',
      `   local  ident (addr/mask/prot/port): (${p.flow.local}/255.255.255.255/47/0)`,
      `   remote ident (addr/mask/prot/port): (${p.flow.remote}/255.255.255.255/47/0)`,
      `   current_peer ${p.peer} port ${p.port}`,
      '     PERMIT, flags={origin_is_acl,}',
      `    #pkts encaps: ${e}, #pkts encrypt: ${e}, #pkts digest: ${e}`,
      `    #pkts decaps: ${d}, #pkts decrypt: ${d}, #pkts verify: ${d}`,
      '    #pkts compressed: 0, #pkts decompressed: 0',
      '    #pkts not compressed: 0, #pkts compr. failed: 0',
      '    #pkts not decompressed: 0, #pkts decompress failed: 0',
      `    #send errors 0, #recv errors ${p.recvErrors}`,
      '',
      `     local crypto endpt.: ${p.flow.local}, remote crypto endpt.: ${p.flow.remote}`,
      `     current outbound spi: ${p.outboundSpi === null ? '0x0(0)' : spiText(p.outboundSpi)}`,
      `     PFS (Y/N): ${p.pfsGroup === null ? 'N' : 'Y'}, DH group: ${p.pfsGroup === null ? 'none' : `group${p.pfsGroup}`}`,
      '',
    );
    saBlock('inbound', p.inbound);
    saBlock('outbound', p.outbound);
  }
  return out.join('\n');
}

/**
 * The "Crypto Session Details" section that ends `show dmvpn detail`: one block
 * per NBMA peer of the tunnel, then IOS's (here always empty) pending list.
 */
export function renderCryptoSessionDetails(peers: readonly IpsecPeerJson[]): string[] {
  const out = ['', 'Crypto Session Details: ', '-'.repeat(80), ''];
  for (const p of peers) {
    out.push(`Interface: ${p.interface}`);
    if (p.sessionId !== null) out.push(`Session: [${hex8(p.sessionId)}]`, `  Session ID: ${p.sessionId}  `);
    for (const i of p.ike) {
      out.push(`  IKEv2 SA: local ${i.local} remote ${i.remote} ${i.active ? 'Active' : 'Inactive'} `);
      out.push(`          Capabilities:${i.capabilities} connid:${i.connId} lifetime:${i.active ? hms(i.remainingSeconds) : '0'}`);
    }
    out.push(`  Crypto Session Status: ${p.status}     `);
    out.push(`  fvrf: (none),\tPhase1_id: ${p.ike.find((i) => i.active)?.remoteId ?? p.peer}`);
    out.push(`  IPSEC FLOW: permit 47 host ${p.flow.local} host ${p.flow.remote} `);
    out.push(`        Active SAs: ${p.activeSas}, origin: crypto map`);
    const inb = p.inbound.find((s) => s.state !== 'deleting' && s.state !== 'rekeyed');
    const outb = p.outbound[0];
    if (inb) out.push(`        Inbound:  #pkts dec'ed ${p.decaps.packets} drop ${p.recvErrors} life (KB/Sec) ${inb.remainingKilobytes}/${inb.remainingSeconds}`);
    if (outb) out.push(`        Outbound: #pkts enc'ed ${p.encaps.packets} drop 0 life (KB/Sec) ${outb.remainingKilobytes}/${outb.remainingSeconds}`);
    if (p.outboundSpi !== null) out.push(`   Outbound SPI : ${hex8(p.outboundSpi)}, transform : ${p.transform ?? ''} `);
    out.push(`    Socket State: ${p.socket}`, '');
  }
  out.push('Pending DMVPN Sessions:', '');
  return out;
}
