/**
 * The model back as IOS configuration text, in the order and indentation of
 * `show running-config`. Settings equal to their IOS default are left out, as
 * IOS does. With `redact` (the default) every secret prints as <removed>; the
 * unredacted text parses back to the same model (the round-trip tests rely on it).
 */
import {
  defaultBandwidth, defaultDelay, EIGRP_DEFAULT_HELLO, EIGRP_DEFAULT_HOLD, EIGRP_DEFAULT_K, IKEV2_DEFAULT_LIFETIME,
  IPSEC_DEFAULT_LIFETIME_KILOBYTES, IPSEC_DEFAULT_LIFETIME_SECONDS, NHRP_DEFAULT_HOLDTIME, DEFAULT_HOSTNAME,
  type ConfigModel, type EigrpProcess, type InterfaceConfig, type StaticRoute,
} from './model.js';
import { REDACTED, type Secret } from './secret.js';

export interface RenderOptions {
  /** Print secrets as <removed> (default true). */
  readonly redact?: boolean;
}

class Out {
  readonly lines: string[] = [];
  constructor(private readonly redact: boolean) {}
  line(indent: number, text: string): void {
    this.lines.push(`${' '.repeat(indent)}${text}`);
  }
  bang(indent = 0): void {
    this.line(indent, '!');
  }
  secret(s: Secret): string {
    return this.redact ? REDACTED : s.reveal();
  }
}

function renderInterface(o: Out, itf: InterfaceConfig): void {
  o.line(0, `interface ${itf.name}`);
  if (itf.description !== undefined) o.line(1, `description ${itf.description}`);
  if (itf.bandwidth !== defaultBandwidth(itf.kind, itf.name)) o.line(1, `bandwidth ${itf.bandwidth}`);
  if (itf.address) o.line(1, `ip address ${itf.address.address} ${itf.address.mask}`);
  if (!itf.ipRedirects) o.line(1, 'no ip redirects');
  if (itf.kind === 'tunnel' && itf.ipMtuConfigured) o.line(1, `ip mtu ${itf.ipMtu}`);
  for (const e of itf.eigrp) {
    if (e.authMode === 'md5') o.line(1, `ip authentication mode eigrp ${e.as} md5`);
    if (e.authMode === 'hmac-sha-256') {
      o.line(1, `ip authentication mode eigrp ${e.as} hmac-sha-256${e.authPassword ? ` ${o.secret(e.authPassword)}` : ''}`);
    }
    if (e.authKeyChain) o.line(1, `ip authentication key-chain eigrp ${e.as} ${e.authKeyChain.name}`);
    if (e.helloInterval !== EIGRP_DEFAULT_HELLO) o.line(1, `ip hello-interval eigrp ${e.as} ${e.helloInterval}`);
    if (e.holdTime !== EIGRP_DEFAULT_HOLD) o.line(1, `ip hold-time eigrp ${e.as} ${e.holdTime}`);
    if (!e.nextHopSelf) o.line(1, `no ip next-hop-self eigrp ${e.as}`);
    if (!e.splitHorizon) o.line(1, `no ip split-horizon eigrp ${e.as}`);
    for (const s of e.summaries) o.line(1, `ip summary-address eigrp ${e.as} ${s.address} ${s.mask}`);
  }
  if (itf.kind === 'tunnel') {
    const n = itf.nhrp;
    if (n.authentication) o.line(1, `ip nhrp authentication ${o.secret(n.authentication)}`);
    for (const m of n.staticMaps) o.line(1, `ip nhrp map ${m.protocol} ${m.nbma}`);
    for (const m of n.multicastMaps) o.line(1, `ip nhrp map multicast ${m.kind === 'dynamic' ? 'dynamic' : m.nbma}`);
    if (n.networkId !== undefined) o.line(1, `ip nhrp network-id ${n.networkId}`);
    if (n.holdtime !== NHRP_DEFAULT_HOLDTIME) o.line(1, `ip nhrp holdtime ${n.holdtime}`);
    for (const s of n.nhs) o.line(1, `ip nhrp nhs ${s.address}${s.nbma !== undefined ? ` nbma ${s.nbma}` : ''}${s.multicast ? ' multicast' : ''}`);
    if (n.registrationTimeoutConfigured) o.line(1, `ip nhrp registration timeout ${n.registrationTimeout}`);
    if (n.registrationNoUnique) o.line(1, 'ip nhrp registration no-unique');
    if (n.shortcut) o.line(1, 'ip nhrp shortcut');
    if (n.redirect) o.line(1, 'ip nhrp redirect');
    if (itf.tcpAdjustMss !== undefined) o.line(1, `ip tcp adjust-mss ${itf.tcpAdjustMss}`);
  }
  if (itf.delay !== defaultDelay(itf.kind, itf.name)) o.line(1, `delay ${itf.delay}`);
  if (itf.shutdown) o.line(1, 'shutdown');
  if (itf.kind === 'tunnel') {
    const src = itf.tunnelSource;
    if (src) o.line(1, `tunnel source ${src.kind === 'address' ? src.address : src.name}`);
    if (itf.tunnelMode === 'gre-multipoint') o.line(1, 'tunnel mode gre multipoint');
    if (itf.tunnelKey !== undefined) o.line(1, `tunnel key ${itf.tunnelKey}`);
    if (itf.pathMtuDiscovery) o.line(1, 'tunnel path-mtu-discovery');
    if (itf.dataplane !== 'auto') o.line(1, `tunnel dataplane ${itf.dataplane}`);
    if (itf.protection) o.line(1, `tunnel protection ipsec profile ${itf.protection.profile}${itf.protection.shared ? ' shared' : ''}`);
  }
  o.bang();
}

function renderEigrp(o: Out, e: EigrpProcess): void {
  o.line(0, `router eigrp ${e.as}`);
  if (e.kWeights.some((k, i) => k !== EIGRP_DEFAULT_K[i])) o.line(1, `metric weights 0 ${e.kWeights.join(' ')}`);
  for (const n of e.networks) o.line(1, `network ${n.address}${n.wildcard !== undefined ? ` ${n.wildcard}` : ''}`);
  for (const r of e.redistribute) {
    const m = r.metric;
    o.line(1, `redistribute ${r.source}${m ? ` metric ${m.bandwidth} ${m.delay} ${m.reliability} ${m.load} ${m.mtu}` : ''}`);
  }
  if (e.passiveDefault) {
    o.line(1, 'passive-interface default');
    for (const p of e.nonPassiveInterfaces) o.line(1, `no passive-interface ${p.name}`);
  } else {
    for (const p of e.passiveInterfaces) o.line(1, `passive-interface ${p.name}`);
  }
  if (e.variance !== 1) o.line(1, `variance ${e.variance}`);
  if (e.maximumPaths !== 4) o.line(1, `maximum-paths ${e.maximumPaths}`);
  if (e.internalDistance !== 90 || e.externalDistance !== 170) o.line(1, `distance eigrp ${e.internalDistance} ${e.externalDistance}`);
  if (e.autoSummary) o.line(1, 'auto-summary');
  if (e.routerId !== undefined) o.line(1, `eigrp router-id ${e.routerId}`);
  if (e.stub) {
    const s = e.stub;
    const kinds = [s.connected && 'connected', s.summary && 'summary', s.static && 'static', s.redistributed && 'redistributed', s.receiveOnly && 'receive-only'];
    o.line(1, ['eigrp stub', ...kinds.filter((k): k is string => typeof k === 'string')].join(' '));
  }
  o.bang();
}

function renderRoute(r: StaticRoute): string {
  const parts = ['ip route', r.prefix, r.mask];
  if (r.interface !== undefined) parts.push(r.interface);
  if (r.nextHop !== undefined) parts.push(r.nextHop);
  if (r.distance !== 1) parts.push(String(r.distance));
  if (r.tag !== undefined) parts.push('tag', String(r.tag));
  if (r.permanent) parts.push('permanent');
  if (r.name !== undefined) parts.push('name', r.name);
  return parts.join(' ');
}

function renderCrypto(o: Out, m: ConfigModel): void {
  const c = m.crypto;
  for (const p of c.ikev2Proposals) {
    o.line(0, `crypto ikev2 proposal ${p.name}`);
    if (p.encryption.length) o.line(1, `encryption ${p.encryption.join(' ')}`);
    if (p.integrity.length) o.line(1, `integrity ${p.integrity.join(' ')}`);
    if (p.prf.length) o.line(1, `prf ${p.prf.join(' ')}`);
    if (p.groups.length) o.line(1, `group ${p.groups.join(' ')}`);
    o.bang();
  }
  for (const p of c.ikev2Policies) {
    o.line(0, `crypto ikev2 policy ${p.name}`);
    for (const a of p.matchAddressLocal) o.line(1, `match address local ${a.address}`);
    for (const r of p.proposals) o.line(1, `proposal ${r.name}`);
    o.bang();
  }
  for (const k of c.keyrings) {
    o.line(0, `crypto ikev2 keyring ${k.name}`);
    for (const p of k.peers) {
      o.line(1, `peer ${p.name}`);
      if (p.description !== undefined) o.line(2, `description ${p.description}`);
      if (p.address) o.line(2, `address ${p.address.address} ${p.address.mask}`);
      if (p.presharedKey) o.line(2, `pre-shared-key ${o.secret(p.presharedKey)}`);
      if (p.presharedKeyLocal) o.line(2, `pre-shared-key local ${o.secret(p.presharedKeyLocal)}`);
      if (p.presharedKeyRemote) o.line(2, `pre-shared-key remote ${o.secret(p.presharedKeyRemote)}`);
      o.bang(1);
    }
    o.bang();
  }
  for (const p of c.ikev2Profiles) {
    o.line(0, `crypto ikev2 profile ${p.name}`);
    if (p.description !== undefined) o.line(1, `description ${p.description}`);
    for (const r of p.matchIdentityRemote) o.line(1, `match identity remote address ${r.address} ${r.mask}`);
    for (const l of p.matchAddressLocal) o.line(1, `match address local ${l.kind === 'address' ? l.address : `interface ${l.name}`}`);
    if (p.authenticationRemote) o.line(1, `authentication remote ${p.authenticationRemote}`);
    if (p.authenticationLocal) o.line(1, `authentication local ${p.authenticationLocal}`);
    if (p.keyring) o.line(1, `keyring local ${p.keyring.name}`);
    if (p.lifetime !== IKEV2_DEFAULT_LIFETIME) o.line(1, `lifetime ${p.lifetime}`);
    if (p.dpd) o.line(1, `dpd ${p.dpd.interval} ${p.dpd.retry} ${p.dpd.mode}`);
    o.bang();
  }
  for (const t of c.transformSets) {
    o.line(0, `crypto ipsec transform-set ${t.name} ${t.cipher}${t.keyBits !== 128 ? ` ${t.keyBits}` : ''}${t.integrity ? ` ${t.integrity}` : ''}`);
    if (t.mode !== 'tunnel') o.line(1, `mode ${t.mode}`);
    o.bang();
  }
  for (const p of c.ipsecProfiles) {
    o.line(0, `crypto ipsec profile ${p.name}`);
    if (p.lifetimeSeconds !== IPSEC_DEFAULT_LIFETIME_SECONDS) o.line(1, `set security-association lifetime seconds ${p.lifetimeSeconds}`);
    if (p.lifetimeKilobytes !== IPSEC_DEFAULT_LIFETIME_KILOBYTES) o.line(1, `set security-association lifetime kilobytes ${p.lifetimeKilobytes}`);
    if (p.transformSets.length) o.line(1, `set transform-set ${p.transformSets.map((t) => t.name).join(' ')}`);
    if (p.pfs) o.line(1, `set pfs${p.pfs.group ? ` ${p.pfs.group}` : ''}`);
    if (p.ikev2Profile) o.line(1, `set ikev2-profile ${p.ikev2Profile.name}`);
    o.bang();
  }
}

export function renderRunningConfig(model: ConfigModel, opts: RenderOptions = {}): string {
  const o = new Out(opts.redact ?? true);
  o.bang();
  if (model.hostname !== DEFAULT_HOSTNAME) {
    o.line(0, `hostname ${model.hostname}`);
    o.bang();
  }
  for (const kc of model.keyChains) {
    o.line(0, `key chain ${kc.name}`);
    for (const k of kc.keys) {
      o.line(1, `key ${k.id}`);
      if (k.keyString) o.line(2, `key-string ${o.secret(k.keyString)}`);
      if (k.algorithm) o.line(2, `cryptographic-algorithm ${k.algorithm}`);
    }
    o.bang();
  }
  renderCrypto(o, model);
  for (const itf of model.interfaces) renderInterface(o, itf);
  for (const e of model.eigrp) renderEigrp(o, e);
  for (const r of model.staticRoutes) o.line(0, renderRoute(r));
  if (model.staticRoutes.length) o.bang();
  o.line(0, 'end');
  return `${o.lines.join('\n')}\n`;
}
