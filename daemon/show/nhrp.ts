/**
 * show dmvpn, show ip nhrp [brief], show ip nhrp nhs [detail], show ip nhrp
 * traffic: the IOS layouts (the reference lab's output is the model), and the
 * same data as JSON.
 */
import type { NhrpEngine } from '../../protocols/nhrp/engine.js';
import type { CacheEntry } from '../../protocols/nhrp/cache.js';
import { nhsStatusLetter } from '../../protocols/nhrp/nhs-client.js';
import { iosUptime, lpad, rpad, shortIfName } from './format.js';
import { renderCryptoSessionDetails, type IpsecPeerJson } from './crypto.js';

export interface TunnelView {
  readonly engine: NhrpEngine;
  readonly ifname: string;
  /** When the tunnel came up (ms), for entries whose peer has no better time. */
  readonly since: number;
}

const DMVPN_LEGEND = `Legend: Attrb --> S - Static, D - Dynamic, I - Incomplete
        N - NATed, L - Local, X - No Socket
        T1 - Route Installed, T2 - Nexthop-override
        C - CTS Capable, I2 - Temporary
        # Ent --> Number of NHRP entries with same NBMA peer
        NHS Status: E --> Expecting Replies, R --> Responding, W --> Waiting
        UpDn Time --> Up or Down Time for a Tunnel
==========================================================================`;

export interface DmvpnPeerJson {
  readonly nbma: string;
  readonly entries: number;
  readonly tunnel: string;
  readonly state: string;
  readonly upDownMs: number;
  readonly upDown: string;
  readonly attributes: string;
  readonly targets: { readonly network: string; readonly attributes: string }[];
}

function attrb(e: CacheEntry): string {
  let a = e.type === 'static' ? 'S' : e.type === 'incomplete' || e.type === 'negative' ? 'I' : 'D';
  if (e.flags.nat) a += 'N';
  if (e.flags.router) a += 'T1';
  return a;
}

export function dmvpnData(t: TunnelView, now: number): { type: string; peers: DmvpnPeerJson[]; interface: string } {
  const e = t.engine;
  const groups = new Map<string, CacheEntry[]>();
  for (const c of e.cache.all()) {
    const key = c.nbma ?? `incomplete:${c.nextHop}`;
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  const peers: DmvpnPeerJson[] = [];
  for (const [nbma, list] of groups) {
    const peerEntry = list.find((c) => c.prefixLength === 32 && c.prefix === c.nextHop) ?? list[0];
    const nhs = e.nhs().find((n) => n.proto === peerEntry.nextHop);
    const state = peerEntry.type === 'incomplete' || peerEntry.type === 'negative' ? 'NHRP' : nhs && nhs.client.state !== 'responding' ? 'NHRP' : 'UP';
    const since = nhs ? nhs.client.since : peerEntry.created;
    peers.push({
      nbma: nbma.startsWith('incomplete:') ? 'UNKNOWN' : nbma,
      entries: list.length,
      tunnel: peerEntry.nextHop,
      state,
      upDownMs: now - since,
      upDown: iosUptime(now - since),
      attributes: attrb(peerEntry),
      targets: list.filter((c) => c !== peerEntry).map((c) => ({ network: `${c.prefix}/${c.prefixLength}`, attributes: attrb(c) })),
    });
  }
  peers.sort((a, b) => a.nbma.localeCompare(b.nbma, 'en', { numeric: true }));
  return { interface: t.ifname, type: e.role, peers };
}

export function showDmvpn(t: TunnelView, now: number): string {
  const d = dmvpnData(t, now);
  const lines = [DMVPN_LEGEND, '', `Interface: ${t.ifname}, IPv4 NHRP Details `, `Type:${d.type}, NHRP Peers:${d.peers.length}, `, ''];
  lines.push(' # Ent  Peer NBMA Addr Peer Tunnel Add State  UpDn Tm Attrb');
  lines.push(' ----- --------------- --------------- ----- -------- -----');
  for (const p of d.peers) {
    lines.push(`${lpad(p.entries, 6)} ${rpad(p.nbma, 15)} ${lpad(p.tunnel, 15)} ${lpad(p.state, 5)} ${lpad(p.upDown, 8)} ${lpad(p.attributes, 5)}`);
    for (const x of p.targets) lines.push(`${lpad('', 6)} ${rpad('', 15)} ${lpad(p.tunnel, 15)} ${lpad(p.state, 5)} ${lpad(p.upDown, 8)} ${lpad(x.attributes, 5)}`);
  }
  lines.push('');
  return lines.join('\n');
}

function flagWords(e: CacheEntry): string[] {
  const f: string[] = [];
  if (e.flags.unique) f.push('unique');
  if (e.flags.registered) f.push('registered');
  if (e.flags.used) f.push('used');
  if (e.flags.router) f.push('router', 'rib', 'nho');
  if (e.flags.implicit) f.push('implicit');
  if (e.flags.nhop) f.push('nhop');
  if (e.flags.nat) f.push('nat');
  if (e.type === 'negative') f.push('negative');
  return f;
}

export interface NhrpEntryJson {
  readonly interface: string;
  readonly target: string;
  readonly prefix: string;
  readonly prefixLength: number;
  readonly nextHop: string;
  readonly nbma: string | null;
  readonly claimedNbma: string | null;
  readonly type: string;
  readonly flags: string[];
  readonly createdMs: number;
  readonly expiresInMs: number | null;
  readonly holdingTime: number;
}

export function nhrpData(t: TunnelView, now: number): NhrpEntryJson[] {
  return t.engine.cache.all().map((e) => ({
    interface: t.ifname,
    target: `${e.prefix}/${e.prefixLength}`,
    prefix: e.prefix,
    prefixLength: e.prefixLength,
    nextHop: e.nextHop,
    nbma: e.nbma ?? null,
    claimedNbma: e.claimedNbma ?? null,
    type: e.type,
    flags: flagWords(e),
    createdMs: now - e.created,
    expiresInMs: e.expires === undefined ? null : Math.max(0, e.expires - now),
    holdingTime: e.holdingTime,
  }));
}

export function showIpNhrp(t: TunnelView, now: number): string {
  const out: string[] = [];
  for (const e of t.engine.cache.all()) {
    const incomplete = e.type === 'incomplete' || e.type === 'negative';
    out.push(incomplete ? `${e.prefix}/${e.prefixLength}` : `${e.prefix}/${e.prefixLength} via ${e.nextHop}`);
    const exp = e.expires === undefined ? 'never expire ' : `expire ${iosUptime(e.expires - now)}`;
    out.push(`   ${t.ifname} created ${iosUptime(now - e.created)}, ${exp}`);
    out.push(`   Type: ${incomplete ? 'incomplete' : e.type}, Flags: ${flagWords(e).join(' ')} `);
    if (incomplete) out.push('   Cache hits: 0');
    else out.push(`   NBMA address: ${e.nbma} ${e.claimedNbma ? `\n    (Claimed NBMA address: ${e.claimedNbma}) ` : ''}`);
  }
  return out.join('\n') + (out.length ? '\n' : '');
}

function briefFlags(e: CacheEntry): string {
  let f = '';
  // The reference lab's hub lists its (unique) registered spokes as "D/r": IOS
  // prints the u only for a unique binding that did not come from a registration.
  if (e.flags.unique && !e.flags.registered) f += 'u';
  if (e.flags.registered) f += 'r';
  if (e.flags.authoritative) f += 'a';
  if (e.flags.router) f += 't';
  if (e.flags.nat) f += 'c';
  return `${e.type === 'static' ? 'S' : 'D'}/${f}`;
}

export function showIpNhrpBrief(t: TunnelView): string {
  const out = [
    '****************************************************************************',
    '    NOTE: Link-Local, No-socket and Incomplete entries are not displayed',
    '****************************************************************************',
    'Legend: Type --> S - Static, D - Dynamic',
    '        Flags --> u - unique, r - registered, e - temporary, c - claimed',
    '        a - authoritative, t - route',
    '============================================================================',
    '',
    'Intf     NextHop Address                                    NBMA Address',
    '         Target Network                              T/Flag',
    '-------- ------------------------------------------- ------ ----------------',
  ];
  for (const e of t.engine.cache.all()) {
    if (e.type === 'incomplete' || e.type === 'negative' || !e.nbma) continue;
    out.push(`${rpad(shortIfName(t.ifname), 8)} ${rpad(e.nextHop, 43)} ${rpad('', 6)} ${e.nbma}`);
    out.push(`${rpad('', 8)} ${rpad(`${e.prefix}/${e.prefixLength}`, 43)} ${rpad(briefFlags(e), 6)}`);
  }
  return out.join('\n') + '\n';
}

export function nhsData(t: TunnelView, now: number) {
  return t.engine.nhs().map((n) => ({
    interface: t.ifname,
    nhs: n.proto,
    nbma: n.nbma,
    state: n.client.state,
    status: nhsStatusLetter(n.client.state) + (n.client.state === 'responding' && n.client.outstanding.length > 0 ? 'E' : ''),
    priority: 0,
    cluster: 0,
    requestsSent: n.client.sent,
    requestsFailed: n.client.failures,
    repliesReceived: n.client.replies,
    lastCode: n.client.lastCode ?? null,
    sinceMs: now - n.client.since,
  }));
}

export function showIpNhrpNhs(t: TunnelView, now: number, detail: boolean): string {
  const out = ['Legend: E=Expecting replies, R=Responding, W=Waiting', `${t.ifname}:`];
  for (const n of nhsData(t, now)) {
    out.push(detail
      ? `${rpad(n.nhs, 9)} ${rpad(n.status, 2)} NBMA Address: ${n.nbma} priority = 0 cluster = 0  req-sent ${n.requestsSent}  req-failed ${n.requestsFailed}  repl-recv ${n.repliesReceived}`
      : `${rpad(n.nhs, 9)} ${rpad(n.status, 2)} NBMA Address: ${n.nbma} priority = 0 cluster = 0`);
  }
  return out.join('\n') + '\n';
}

const TYPES = ['Resolution Request', 'Resolution Reply', 'Registration Request', 'Registration Reply', 'Purge Request', 'Purge Reply', 'Error Indication', 'Traffic Indication'];

export function trafficData(t: TunnelView) {
  return { interface: t.ifname, ...t.engine.counters() };
}

export function showIpNhrpTraffic(t: TunnelView): string {
  const c = t.engine.counters();
  const row = (m: Record<string, number>): string[] => {
    const cells = TYPES.map((k) => `${m[k.toLowerCase()] ?? 0} ${k}`);
    return [cells.slice(0, 3).join('  '), cells.slice(3, 6).join('  '), cells.slice(6).join('  ')].map((l) => `         ${l}`);
  };
  const total = (m: Record<string, number>): number => Object.values(m).reduce((a, b) => a + b, 0);
  const out = [`${t.ifname}: Max-send limit:10000Pkts/10Sec, Usage:0%`, `   Sent: Total ${total(c.sent)}`, ...row(c.sent), `   Rcvd: Total ${total(c.received)}`, ...row(c.received)];
  out.push(`   Forwarded: ${c.forwarded}`);
  const drops = Object.entries(c.drops);
  out.push(`   Dropped: Total ${drops.reduce((a, [, v]) => a + v, 0)}`);
  for (const [k, v] of drops.sort()) out.push(`         ${v} ${k}`);
  return out.join('\n') + '\n';
}

export interface TunnelDetail {
  readonly up: boolean;
  readonly address: string;
  readonly source: string;
  readonly protect?: string;
}

/**
 * show dmvpn detail: the interface block, the NHSs a spoke registers with, one
 * line per NHRP entry with its target network, then (IOS prints it on every
 * tunnel, empty without protection) the crypto session of each NBMA peer.
 */
export function showDmvpnDetail(t: TunnelView, d: TunnelDetail, now: number, crypto: readonly IpsecPeerJson[] = []): string {
  const data = dmvpnData(t, now);
  const state = d.up ? 'up/up' : 'down/down';
  const lines = [DMVPN_LEGEND, '', `Interface ${t.ifname} is ${state}, Addr. is ${d.address}, VRF "" `,
    `   Tunnel Src./Dest. addr: ${d.source}/Multipoint, Tunnel VRF ""`,
    `   Protocol/Transport: "multi-GRE/IP", Protect "${d.protect ?? ''}" `,
    '   Interface State Control: Disabled',
    '   nhrp event-publisher : Disabled'];
  const nhs = nhsData(t, now);
  if (nhs.length) lines.push('', 'IPv4 NHS:', ...nhs.map((n) => `${n.nhs}  ${n.status} priority = ${n.priority} cluster = ${n.cluster}`));
  lines.push(`Type:${data.type}, Total NBMA Peers (v4/v6): ${data.peers.length}`, '',
    '# Ent  Peer NBMA Addr Peer Tunnel Add State  UpDn Tm Attrb    Target Network',
    '----- --------------- --------------- ----- -------- ----- -----------------');
  for (const p of data.peers) {
    const first = `${p.tunnel}/32`;
    lines.push(`${lpad(p.entries, 5)} ${rpad(p.nbma, 15)} ${lpad(p.tunnel, 15)} ${lpad(p.state, 5)} ${lpad(p.upDown, 8)} ${lpad(p.attributes, 5)} ${lpad(first, 17)}`);
    for (const x of p.targets) lines.push(`${lpad('', 5)} ${rpad('', 15)} ${lpad(p.tunnel, 15)} ${lpad(p.state, 5)} ${lpad(p.upDown, 8)} ${lpad(x.attributes, 5)} ${lpad(x.network, 17)}`);
  }
  lines.push('', ...renderCryptoSessionDetails(crypto));
  return lines.join('\n');
}
