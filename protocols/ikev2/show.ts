/**
 * Show data and IOS-layout text for `show crypto ikev2 sa [detailed]` and
 * `show crypto session`, the per-peer crypto state that `show crypto ipsec sa`
 * and `show dmvpn detail` print (daemon/show/crypto.ts joins it with the
 * dataplane's counters), and the Wireshark key tables.
 *
 * Layouts follow IOS-XE output as collected in genieparser's test data
 * (CiscoTestAutomation/genieparser, src/genie/libs/parser/iosxe/tests/
 * ShowCryptoIkev2Sa, ShowCryptoIkev2SaDetail, ShowCryptoSession).
 *
 * Wireshark tables (the formats strongSwan's save-keys plugin writes,
 * src/libcharon/plugins/save_keys/save_keys_listener.c, with the algorithm names
 * of Wireshark's packet-isakmp.c and packet-esp.c UATs):
 *   ikev2_decryption_table: SPIi,SPIr,SK_ei,SK_er,"encryption alg",SK_ai,SK_ar,"integrity alg"
 *     (SPIs as 16 hex digits, keys in hex without 0x; the GCM keys include the salt)
 *   esp_sa: "IPv4","src","dst","0xSPI","encryption alg","0xkey","authentication alg","0xkey"
 */
import { toHex } from '../wire/index.js';
import { EncrId } from './constants.js';
import type { IkeSa } from './ike-sa.js';
import type { ChildSa, ChildState } from './child.js';
import type { ChildSuite } from './crypto.js';
import type { IkeState } from './engine-types.js';

export interface Ikev2SaShow {
  readonly tunnelId: number;
  readonly local: string;
  readonly remote: string;
  readonly fvrf: string;
  readonly ivrf: string;
  /** IOS status: READY, IN-NEG, DELETE. */
  readonly status: string;
  readonly state: IkeState;
  readonly encr: string;
  readonly keysize: number;
  readonly prf: string;
  readonly hash: string;
  readonly dhGroup: number;
  readonly authSign: 'PSK';
  readonly authVerify: 'PSK';
  readonly lifetime: number;
  readonly activeTime: number;
  readonly localSpi: string;
  readonly remoteSpi: string;
  readonly localId: string;
  readonly remoteId: string;
  readonly localReqMsgId: number;
  readonly remoteReqMsgId: number;
  readonly localNextMsgId: number;
  readonly remoteNextMsgId: number;
  readonly localQueued: number;
  readonly window: 1;
  readonly dpd?: { readonly interval: number; readonly retry: number };
  /** 'inside' when we are behind a NAT, 'outside' when the peer is. */
  readonly nat?: 'inside' | 'outside';
  readonly initiator: boolean;
  readonly weakDh: boolean;
  readonly childSas: number;
}

function status(s: IkeState): string {
  switch (s) {
    case 'established': return 'READY';
    case 'rekeyed': case 'deleting': case 'closed': return 'DELETE';
    default: return 'IN-NEG';
  }
}

const spiHex = (v: bigint): string => v.toString(16).padStart(16, '0').toUpperCase();

export function ikev2SaShow(sa: IkeSa, now: number): Ikev2SaShow {
  const cfg = sa.env.cfg;
  const suite = sa.suite;
  const nat = sa.natLocal ? 'inside' : sa.natRemote ? 'outside' : undefined;
  return {
    tunnelId: sa.serial,
    local: `${sa.local.address}/${sa.local.port}`,
    remote: `${sa.remote.address}/${sa.remote.port}`,
    fvrf: 'none',
    ivrf: 'none',
    status: status(sa.state),
    state: sa.state,
    encr: suite ? (suite.encr.aead ? 'AES-GCM' : 'AES-CBC') : 'unknown',
    keysize: suite?.encr.keyBits ?? 0,
    prf: suite?.prf.iosName ?? 'unknown',
    hash: suite ? suite.integ?.iosName ?? 'None' : 'unknown',
    dhGroup: suite?.dh ?? 0,
    authSign: 'PSK',
    authVerify: 'PSK',
    lifetime: cfg.ikeLifetime,
    activeTime: Math.max(0, Math.floor((now - (sa.establishedAt ?? sa.createdAt)) / 1000)),
    localSpi: spiHex(sa.localSpi),
    remoteSpi: spiHex(sa.initiator ? sa.spiR : sa.spiI),
    localId: cfg.localId ?? cfg.localAddress,
    remoteId: sa.remoteId || sa.peer,
    localReqMsgId: Math.max(0, sa.myNextId - 1),
    remoteReqMsgId: Math.max(0, sa.peerNextId - 1),
    localNextMsgId: sa.myNextId,
    remoteNextMsgId: sa.peerNextId,
    localQueued: sa.myNextId + sa.queue.length,
    window: 1,
    ...(cfg.dpd ? { dpd: { interval: cfg.dpd.interval, retry: cfg.dpd.retry } } : {}),
    ...(nat ? { nat } : {}),
    initiator: sa.initiator,
    weakDh: sa.weak,
    childSas: sa.children.length,
  };
}

/** `show crypto ikev2 sa [detailed]` text. */
export function renderIkev2Sa(rows: readonly Ikev2SaShow[], detailed = false): string {
  const out: string[] = [' IPv4 Crypto IKEv2  SA', ''];
  for (const r of rows) {
    out.push(`${'Tunnel-id'.padEnd(10)}${'Local'.padEnd(22)}${'Remote'.padEnd(22)}${'fvrf/ivrf'.padEnd(21)}Status `);
    out.push(`${String(r.tunnelId).padEnd(10)}${r.local.padEnd(22)}${r.remote.padEnd(22)}${`${r.fvrf}/${r.ivrf}`.padEnd(21)}${r.status.padEnd(7)}`);
    out.push(`      Encr: ${r.encr}, keysize: ${r.keysize}, PRF: ${r.prf}, Hash: ${r.hash}, DH Grp:${r.dhGroup}, Auth sign: ${r.authSign}, Auth verify: ${r.authVerify}`);
    out.push(`      Life/Active Time: ${r.lifetime}/${r.activeTime} sec`);
    if (detailed) {
      const pair = (a: string, b: string): string => `      ${a.padEnd(34)}${b}`;
      out.push(`      CE id: 0, Session-id: ${r.tunnelId}`);
      out.push(`      Status Description: ${r.status === 'READY' ? 'Negotiation done' : r.status === 'IN-NEG' ? 'Negotiation in progress' : 'Deleting IKE SA'}`);
      out.push(pair(`Local spi: ${r.localSpi}`, `Remote spi: ${r.remoteSpi}`));
      out.push(`      Local id: ${r.localId}`);
      out.push(`      Remote id: ${r.remoteId}`);
      out.push(pair(`Local req msg id:  ${r.localReqMsgId}`, `Remote req msg id:  ${r.remoteReqMsgId}`));
      out.push(pair(`Local next msg id: ${r.localNextMsgId}`, `Remote next msg id: ${r.remoteNextMsgId}`));
      out.push(pair(`Local req queued:  ${r.localQueued}`, `Remote req queued:  ${r.remoteNextMsgId}`));
      out.push(pair(`Local window:      ${r.window}`, `Remote window:      ${r.window}`));
      out.push(r.dpd ? `      DPD configured for ${r.dpd.interval} seconds, retry ${r.dpd.retry}` : '      DPD disabled');
      out.push('      Fragmentation not  configured.');
      out.push('      Dynamic Route Update: disabled');
      out.push('      Extended Authentication not configured.');
      out.push(r.nat ? `      NAT-T is detected ${r.nat}` : '      NAT-T is not detected');
      out.push('      Cisco Trust Security SGT is disabled');
      out.push(`      Initiator of SA : ${r.initiator ? 'Yes' : 'No'}`);
    }
    out.push('');
  }
  out.push(' IPv6 Crypto IKEv2  SA', '');
  return out.join('\n');
}

export interface CryptoSessionShow {
  readonly peer: string;
  readonly port: number;
  /** UP-ACTIVE (IKE SA and IPsec SAs), UP-IDLE (IKE SA only), DOWN-NEGOTIATING, DOWN. */
  readonly status: string;
  readonly sessionId: number;
  readonly ike: readonly { readonly local: string; readonly remote: string; readonly active: boolean }[];
  readonly flow: { readonly local: string; readonly remote: string };
  /** Inbound and outbound ESP SAs. */
  readonly activeSas: number;
}

function liveChildren(list: readonly IkeSa[]): number {
  return list.reduce((n, s) => n + s.children.filter((c: ChildSa) => c.state !== 'deleting').length, 0);
}

/** IOS session status of a peer from its IKE SAs (none open: DOWN). */
function sessionStatus(list: readonly IkeSa[]): string {
  if (list.some((s) => s.state === 'established')) return liveChildren(list) > 0 ? 'UP-ACTIVE' : 'UP-IDLE';
  return list.some((s) => s.state !== 'deleting' && s.state !== 'rekeyed' && s.state !== 'closed') ? 'DOWN-NEGOTIATING' : 'DOWN';
}

/** One entry per peer, from its IKE SAs. */
export function cryptoSessionShow(sas: readonly IkeSa[], localAddress: string): CryptoSessionShow[] {
  const byPeer = new Map<string, IkeSa[]>();
  for (const sa of sas) {
    if (sa.state === 'closed') continue;
    byPeer.set(sa.peer, [...(byPeer.get(sa.peer) ?? []), sa]);
  }
  return [...byPeer.entries()].map(([peer, list]) => {
    const children = liveChildren(list);
    const st = sessionStatus(list);
    return {
      peer,
      port: list[0].remote.port,
      status: st,
      sessionId: list[0].serial,
      ike: list.map((s) => ({ local: `${s.local.address}/${s.local.port}`, remote: `${s.remote.address}/${s.remote.port}`, active: s.state === 'established' })),
      flow: { local: localAddress, remote: peer },
      activeSas: 2 * children,
    };
  });
}

/** `show crypto session` text; `ifname` and `profile` come from the tunnel's configuration. */
export function renderCryptoSession(rows: readonly CryptoSessionShow[], ifname: string, profile?: string): string {
  const out: string[] = ['Crypto session current status', ''];
  for (const r of rows) {
    out.push(`Interface: ${ifname}`);
    if (profile) out.push(`Profile: ${profile}`);
    out.push(`Session status: ${r.status}`);
    out.push(`Peer: ${r.peer} port ${r.port}`);
    out.push(`  Session ID: ${r.sessionId} `);
    for (const i of r.ike) out.push(`  IKEv2 SA: local ${i.local} remote ${i.remote} ${i.active ? 'Active' : 'Inactive'}`);
    out.push(`  IPSEC FLOW: permit 47 host ${r.flow.local} host ${r.flow.remote}`);
    out.push(`        Active SAs: ${r.activeSas}, origin: crypto map`);
    out.push('');
  }
  return out.join('\n');
}

// ---- per-peer crypto state ---------------------------------------------------------------------

/** IOS words for an ESP transform set: esp-aes / esp-256-aes / esp-gcm / esp-gcm 256, then the HMAC. */
export function iosTransform(s: ChildSuite): string {
  const e = s.encr;
  const enc = e.aead ? (e.keyBits === 128 ? 'esp-gcm' : `esp-gcm ${e.keyBits}`) : (e.keyBits === 128 ? 'esp-aes' : `esp-${e.keyBits}-aes`);
  if (!s.integ) return enc;
  return `${enc} ${s.integ.hash === 'sha1' ? 'esp-sha-hmac' : `esp-${s.integ.hash}-hmac`}`;
}

export interface ChildSaShow {
  readonly spiIn: number;
  readonly spiOut: number;
  readonly state: ChildState;
  /** IOS transform-set words, e.g. "esp-aes esp-sha-hmac". */
  readonly transform: string;
  readonly mode: 'Transport';
  /** ESP IV octets: 16 for AES-CBC, 8 for AES-GCM (RFC 4106 section 3.1). */
  readonly ivSize: number;
  readonly pfsGroup?: number;
  readonly lifetimeSeconds: number;
  readonly remainingSeconds: number;
  readonly initiator: boolean;
}

export interface IkeSaBrief {
  /** IOS conn-id: the Tunnel-id of `show crypto ikev2 sa`. */
  readonly connId: number;
  readonly local: string;
  readonly remote: string;
  readonly state: IkeState;
  readonly active: boolean;
  readonly remainingSeconds: number;
  /** IOS session capabilities: D (DPD), N (NAT traversal); "(none)". */
  readonly capabilities: string;
  readonly remoteId: string;
}

/** A peer's crypto state as the IKE engine knows it. */
export interface PeerCryptoShow {
  readonly peer: string;
  readonly port: number;
  readonly sessionId: number;
  /** UP-ACTIVE, UP-IDLE, DOWN-NEGOTIATING, DOWN (as `show crypto session`). */
  readonly status: string;
  readonly ike: readonly IkeSaBrief[];
  readonly children: readonly ChildSaShow[];
}

export function childSaShow(sa: IkeSa, c: ChildSa, now: number): ChildSaShow {
  return {
    spiIn: c.spiIn,
    spiOut: c.spiOut,
    state: c.state,
    transform: iosTransform(c.suite),
    mode: 'Transport',
    ivSize: c.suite.encr.ivSize,
    ...(c.suite.dh !== undefined ? { pfsGroup: c.suite.dh } : {}),
    lifetimeSeconds: sa.env.cfg.childLifetime,
    remainingSeconds: Math.max(0, Math.floor((c.expiresAt - now) / 1000)),
    initiator: c.initiator,
  };
}

/** Every peer with an IKE SA that is not closed, in the order of its oldest SA. */
export function peersCryptoShow(sas: readonly IkeSa[], now: number): PeerCryptoShow[] {
  const byPeer = new Map<string, IkeSa[]>();
  for (const sa of sas) {
    if (sa.state === 'closed') continue;
    byPeer.set(sa.peer, [...(byPeer.get(sa.peer) ?? []), sa]);
  }
  return [...byPeer.entries()].map(([peer, list]) => ({
    peer,
    port: list[0].remote.port,
    sessionId: list[0].serial,
    status: sessionStatus(list),
    ike: list.map((sa) => {
      const caps = `${sa.env.cfg.dpd ? 'D' : ''}${sa.natLocal || sa.natRemote ? 'N' : ''}`;
      return {
        connId: sa.serial,
        local: `${sa.local.address}/${sa.local.port}`,
        remote: `${sa.remote.address}/${sa.remote.port}`,
        state: sa.state,
        active: sa.state === 'established',
        remainingSeconds: sa.expiresAt === undefined ? 0 : Math.max(0, Math.floor((sa.expiresAt - now) / 1000)),
        capabilities: caps || '(none)',
        remoteId: sa.remoteId || sa.peer,
      };
    }),
    children: list.flatMap((sa) => sa.children.map((c) => childSaShow(sa, c, now))),
  }));
}

// ---- Wireshark key tables --------------------------------------------------------------------

function ikeEncrName(id: number, bits: number): string {
  return id === EncrId.ENCR_AES_GCM_16 ? `AES-GCM-${bits} with 16 octet ICV [RFC5282]` : `AES-CBC-${bits} [RFC3602]`;
}

const IKE_INTEG: Record<number, string> = {
  2: 'HMAC_SHA1_96 [RFC2404]', 12: 'HMAC_SHA2_256_128 [RFC4868]', 13: 'HMAC_SHA2_384_192 [RFC4868]', 14: 'HMAC_SHA2_512_256 [RFC4868]',
};

const ESP_INTEG: Record<number, string> = {
  2: 'HMAC-SHA-1-96 [RFC2404]', 12: 'HMAC-SHA-256-128 [RFC4868]', 13: 'HMAC-SHA-384-192 [RFC4868]', 14: 'HMAC-SHA-512-256 [RFC4868]',
};

/** The ikev2_decryption_table line of an IKE SA with keys, else undefined. */
export function ikev2DecryptionLine(sa: IkeSa): string | undefined {
  const s = sa.suite;
  const k = sa.keys;
  if (!s || !k || sa.spiR === 0n) return undefined;
  const hex = (v: bigint): string => v.toString(16).padStart(16, '0');
  const integ = s.integ ? IKE_INTEG[s.integ.id] : 'NONE [RFC4306]';
  return `${hex(sa.spiI)},${hex(sa.spiR)},${toHex(k.skEi)},${toHex(k.skEr)},"${ikeEncrName(s.encr.id, s.encr.keyBits)}",${toHex(k.skAi)},${toHex(k.skAr)},"${integ}"`;
}

/** The two esp_sa lines of a child SA: outbound (us to the peer) then inbound. */
export function espSaLines(sa: IkeSa, c: ChildSa): string[] {
  const local = sa.env.cfg.localAddress;
  const enc = c.suite.encr.aead ? 'AES-GCM with 16 octet ICV [RFC4106]' : 'AES-CBC [RFC3602]';
  const auth = c.suite.integ ? ESP_INTEG[c.suite.integ.id] : 'NULL';
  const { ei, ai, er, ar } = c.keys;
  const out = c.initiator ? [ei, ai] : [er, ar];
  const inn = c.initiator ? [er, ar] : [ei, ai];
  const line = (src: string, dst: string, spi: number, k: Uint8Array[]): string =>
    `"IPv4","${src}","${dst}","0x${spi.toString(16).padStart(8, '0')}","${enc}","0x${toHex(k[0])}","${auth}","0x${toHex(k[1])}"`;
  return [line(local, sa.peer, c.spiOut, out), line(sa.peer, local, c.spiIn, inn)];
}

/** Both tables for every SA with keys. */
export function wiresharkKeys(sas: readonly IkeSa[]): { ikev2: string[]; esp: string[] } {
  const ikev2: string[] = [];
  const esp: string[] = [];
  for (const sa of sas) {
    const l = ikev2DecryptionLine(sa);
    if (l) ikev2.push(l);
    for (const c of sa.children) esp.push(...espSaLines(sa, c));
  }
  return { ikev2, esp };
}
