/**
 * Semantic checks of a whole model, each pointing at the line at fault:
 * references resolve (tunnel protection -> ipsec profile -> ikev2 profile ->
 * keyring, key chains, proposals, transform sets, tunnels), a DMVPN tunnel has
 * what it needs (address, source, multipoint mode, network-id, an NBMA address
 * for every NHS inside its subnet), nothing conflicts (overlapping subnets,
 * tunnels sharing source and key, one overlay address mapped twice), and every
 * feature the file configures is implemented by this build (feature gating:
 * never silently ignored).
 */
import { inSubnet, parseIpv4, prefixMask } from './args.js';
import { u32ToIpv4 } from '../../protocols/wire/addr.js';
import { diagnostic, orList, suggest, type Diagnostic } from './diagnostics.js';
import {
  tunnels, type Capability, type ConfigModel, type Ikev2Proposal, type InterfaceConfig, type SourcePos, type TunnelInterfaceConfig,
} from './model.js';

const CAPABILITY_TITLE: Readonly<Record<Capability, string>> = {
  'nhrp': 'NHRP',
  'eigrp': 'EIGRP',
  'ipsec': 'IPsec/IKEv2',
  'kernel-dataplane': 'the kernel dataplane',
};

class Checker {
  readonly out: Diagnostic[] = [];
  error(pos: SourcePos, message: string): void {
    this.out.push(diagnostic('error', pos, message));
  }
  warn(pos: SourcePos, message: string): void {
    this.out.push(diagnostic('warning', pos, message));
  }
  /** A reference to a named object that must exist. */
  ref(pos: SourcePos, what: string, name: string, names: readonly string[]): boolean {
    if (names.includes(name)) return true;
    const s = suggest(name, names);
    this.error(pos, `${what} ${JSON.stringify(name)} is not defined${s.length ? `; did you mean ${orList(s.map((x) => JSON.stringify(x)))}?` : ''}`);
    return false;
  }
}

function hasNhrpSettings(t: TunnelInterfaceConfig): boolean {
  const n = t.nhrp;
  return n.authentication !== undefined || n.staticMaps.length > 0 || n.multicastMaps.length > 0 || n.nhs.length > 0 ||
    n.shortcut || n.redirect || n.registrationNoUnique || n.registrationTimeoutConfigured || t.settingPos['ip nhrp holdtime'] !== undefined;
}

/** A tunnel reference must name a tunnel of this file; Linux names are checked at run time. */
function checkInterfaceRef(c: Checker, model: ConfigModel, pos: SourcePos, name: string): void {
  if (name.startsWith('Tunnel') && !model.interfaces.some((i) => i.name === name)) {
    c.error(pos, `unknown interface ${name}: no "interface ${name}" in this file`);
  }
}

function checkTunnel(c: Checker, model: ConfigModel, t: TunnelInterfaceConfig): void {
  const modePos = t.settingPos['tunnel mode gre'] ?? t.pos;
  if (t.tunnelMode !== 'gre-multipoint') {
    c.error(modePos, `${t.name}: point-to-point GRE ("tunnel mode gre ip", the IOS default) is not implemented in this version; use "tunnel mode gre multipoint"`);
  }
  if (!t.address) c.error(t.pos, `${t.name} has no "ip address"`);
  if (!t.tunnelSource) c.error(t.pos, `${t.name} has no "tunnel source"`);
  else if (t.tunnelSource.kind === 'interface' && t.tunnelSource.name.startsWith('Tunnel')) {
    c.error(t.tunnelSource.pos, `tunnel source ${t.tunnelSource.name}: a tunnel cannot carry another tunnel; use the underlay interface or address`);
  }
  if (t.nhrp.networkId === undefined && hasNhrpSettings(t)) {
    c.error(t.pos, `${t.name} has NHRP settings but no "ip nhrp network-id" (IOS runs no NHRP without it)`);
  }
  if (t.protection) {
    c.ref(t.protection.pos, 'crypto ipsec profile', t.protection.profile, model.crypto.ipsecProfiles.map((p) => p.name));
  }
  if (t.tcpAdjustMss !== undefined && t.tcpAdjustMss > t.ipMtu - 40) {
    c.warn(t.settingPos['ip tcp adjust-mss'] ?? t.pos, `ip tcp adjust-mss ${t.tcpAdjustMss} is more than the tunnel IP MTU ${t.ipMtu} less 40 bytes of IP and TCP headers`);
  }

  const seen = new Map<string, { nbma: string; line: number }>();
  for (const m of t.nhrp.staticMaps) {
    const prev = seen.get(m.protocol);
    if (prev && prev.nbma !== m.nbma) {
      c.error(m.pos, `conflicting NHRP map: ${m.protocol} is already mapped to ${prev.nbma} (line ${prev.line})`);
    } else seen.set(m.protocol, { nbma: m.nbma, line: m.pos.line });
    if (t.address && !inSubnet(m.protocol, t.address.address, t.address.mask)) {
      c.warn(m.pos, `NHRP map for ${m.protocol} is outside ${t.name}'s subnet ${subnet(t.address)}`);
    }
  }
  for (const n of t.nhrp.nhs) {
    if (t.address && !inSubnet(n.address, t.address.address, t.address.mask)) {
      c.error(n.pos, `NHS ${n.address} is outside ${t.name}'s subnet ${subnet(t.address)}`);
    } else if (t.address && n.address === t.address.address) {
      c.error(n.pos, `NHS ${n.address} is ${t.name}'s own address`);
    }
    if (n.nbma === undefined && !seen.has(n.address)) {
      c.error(n.pos, `NHS ${n.address} has no NBMA address: add "ip nhrp map ${n.address} NBMA" or "ip nhrp nhs ${n.address} nbma NBMA"`);
    }
  }
}

function subnet(p: { address: string; mask: string; prefixLength: number }): string {
  return `${u32ToIpv4(((parseIpv4(p.address) as number) & (parseIpv4(p.mask) as number)) >>> 0)}/${p.prefixLength}`;
}

function overlaps(a: { address: string; prefixLength: number }, b: { address: string; prefixLength: number }): boolean {
  const len = Math.min(a.prefixLength, b.prefixLength);
  const m = prefixMask(len);
  return (((parseIpv4(a.address) as number) & m) >>> 0) === (((parseIpv4(b.address) as number) & m) >>> 0);
}

function checkConflicts(c: Checker, model: ConfigModel): void {
  const withAddr = model.interfaces.filter((i): i is InterfaceConfig & { address: NonNullable<InterfaceConfig['address']> } => i.address !== undefined);
  for (let i = 0; i < withAddr.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = withAddr[i];
      const b = withAddr[j];
      if (overlaps(a.address, b.address)) {
        c.error(a.address.pos, `${subnet(a.address)} on ${a.name} overlaps ${b.name}'s ${subnet(b.address)} (line ${b.address.pos.line})`);
        break;
      }
    }
  }
  // IOS demultiplexes mGRE tunnels on one source by the GRE key (RFC 2890); two without a
  // distinguishing key cannot both receive (unless they share one IPsec profile with `shared`).
  const ts = tunnels(model).filter((t) => t.tunnelSource !== undefined && t.tunnelMode === 'gre-multipoint');
  const src = (t: TunnelInterfaceConfig): string =>
    t.tunnelSource?.kind === 'address' ? `a:${t.tunnelSource.address}` : `i:${t.tunnelSource?.kind === 'interface' ? t.tunnelSource.name : ''}`;
  for (let i = 0; i < ts.length; i++) {
    const b = ts.slice(0, i).find((x) => src(x) === src(ts[i]) && x.tunnelKey === ts[i].tunnelKey);
    if (b) {
      const pos = ts[i].settingPos['tunnel key'] ?? ts[i].tunnelSource?.pos ?? ts[i].pos;
      c.error(pos, `${ts[i].name} has the same tunnel source and key as ${b.name} (line ${b.pos.line}); give each a different "tunnel key"`);
    }
  }
}

function checkProposal(c: Checker, p: Ikev2Proposal): void {
  const aead = p.encryption.filter((e) => e.startsWith('aes-gcm'));
  const what = `crypto ikev2 proposal ${JSON.stringify(p.name)}`;
  if (p.encryption.length === 0) c.error(p.pos, `${what} has no "encryption"`);
  if (p.groups.length === 0) c.error(p.pos, `${what} has no "group"`);
  if (aead.length > 0 && aead.length !== p.encryption.length) {
    c.error(p.settingPos['encryption'] ?? p.pos, `${what} mixes AES-GCM with AES-CBC; IOS needs separate proposals`);
  } else if (aead.length > 0) {
    if (p.integrity.length > 0) c.error(p.settingPos['integrity'] ?? p.pos, `${what}: AES-GCM is combined-mode (RFC 5282), it takes no "integrity"`);
    if (p.prf.length === 0) c.error(p.pos, `${what}: AES-GCM needs a "prf"`);
  } else if (p.encryption.length > 0 && p.integrity.length === 0) {
    c.error(p.pos, `${what} has no "integrity"`);
  }
}

function checkCrypto(c: Checker, model: ConfigModel): void {
  const cr = model.crypto;
  for (const kr of cr.keyrings) {
    const seen: { key: string; line: number }[] = [];
    for (const peer of kr.peers) {
      const what = `peer ${JSON.stringify(peer.name)} of keyring ${JSON.stringify(kr.name)}`;
      if (!peer.address) c.error(peer.pos, `${what} has no "address"`);
      else {
        const key = `${peer.address.address}/${peer.address.prefixLength}`;
        const dup = seen.find((s) => s.key === key);
        if (dup) c.error(peer.address.pos, `${what}: address ${key} is already used by another peer (line ${dup.line})`);
        seen.push({ key, line: peer.address.pos.line });
      }
      if (!peer.presharedKey && !(peer.presharedKeyLocal && peer.presharedKeyRemote)) {
        c.error(peer.pos, `${what} has no "pre-shared-key" (or both a local and a remote one)`);
      }
    }
  }
  for (const p of cr.ikev2Profiles) {
    const what = `crypto ikev2 profile ${JSON.stringify(p.name)}`;
    // IOS: "IKEv2 profile MUST have: a local and a remote authentication method; a match identity ..."
    if (!p.authenticationLocal || !p.authenticationRemote) c.error(p.pos, `${what} needs "authentication local" and "authentication remote"`);
    if (p.matchIdentityRemote.length === 0) c.error(p.pos, `${what} needs a "match identity remote"`);
    if (p.keyring) c.ref(p.keyring.pos, 'crypto ikev2 keyring', p.keyring.name, cr.keyrings.map((k) => k.name));
    else if (p.authenticationLocal === 'pre-share' || p.authenticationRemote === 'pre-share') {
      c.error(p.pos, `${what} authenticates with pre-shared keys but has no "keyring local"`);
    }
    for (const m of p.matchAddressLocal) if (m.kind === 'interface') checkInterfaceRef(c, model, m.pos, m.name);
  }
  for (const p of cr.ipsecProfiles) {
    const what = `crypto ipsec profile ${JSON.stringify(p.name)}`;
    if (!p.ikev2Profile) c.error(p.pos, `${what} has no "set ikev2-profile" (IKEv1 is not implemented in this version)`);
    else c.ref(p.ikev2Profile.pos, 'crypto ikev2 profile', p.ikev2Profile.name, cr.ikev2Profiles.map((x) => x.name));
    for (const t of p.transformSets) c.ref(t.pos, 'crypto ipsec transform-set', t.name, cr.transformSets.map((x) => x.name));
  }
  for (const p of cr.ikev2Proposals) checkProposal(c, p);
  for (const p of cr.ikev2Policies) {
    for (const r of p.proposals) c.ref(r.pos, 'crypto ikev2 proposal', r.name, cr.ikev2Proposals.map((x) => x.name));
  }
}

function checkEigrp(c: Checker, model: ConfigModel): void {
  const processes = model.eigrp.map((e) => e.as);
  for (const e of model.eigrp) {
    for (const r of [...e.passiveInterfaces, ...e.nonPassiveInterfaces]) checkInterfaceRef(c, model, r.pos, r.name);
  }
  for (const itf of model.interfaces) {
    for (const e of itf.eigrp) {
      if (!processes.includes(e.as)) c.warn(e.pos, `EIGRP ${e.as} is not configured ("router eigrp ${e.as}"): this setting has no effect`);
      if (e.authKeyChain) c.ref(e.authKeyChain.pos, 'key chain', e.authKeyChain.name, model.keyChains.map((k) => k.name));
      if (e.authMode === 'md5' && !e.authKeyChain) {
        c.warn(e.settingPos['ip authentication mode eigrp'] ?? e.pos, `EIGRP ${e.as} MD5 authentication on ${itf.name} has no "ip authentication key-chain eigrp ${e.as}"`);
      }
    }
  }
  for (const kc of model.keyChains) {
    for (const k of kc.keys) if (!k.keyString) c.warn(k.pos, `key ${k.id} of key chain ${JSON.stringify(kc.name)} has no "key-string"`);
  }
}

/**
 * Check a model; `capabilities` are the features this build implements. Every
 * line that configures a missing one is an error "... is not implemented in
 * this version" at that line.
 */
export function validate(model: ConfigModel, capabilities: Iterable<Capability>): Diagnostic[] {
  const caps = new Set(capabilities);
  const c = new Checker();
  for (const u of model.featureUses) {
    if (!caps.has(u.capability)) c.error(u.pos, `"${u.command}" (${CAPABILITY_TITLE[u.capability]}) is not implemented in this version`);
  }
  for (const t of tunnels(model)) checkTunnel(c, model, t);
  checkConflicts(c, model);
  for (const r of model.staticRoutes) if (r.interface) checkInterfaceRef(c, model, r.pos, r.interface);
  checkCrypto(c, model);
  checkEigrp(c, model);
  return c.out;
}
