/**
 * Mutable drafts of the model while a file is read, their constructors with the
 * IOS defaults, and finalize(), which fills the defaults that depend on other
 * settings (tunnel IP MTU on the key, registration interval on the holdtime).
 */
import {
  DEFAULT_HOSTNAME, EIGRP_DEFAULT_HELLO, EIGRP_DEFAULT_HOLD, EIGRP_DEFAULT_K, IKEV2_DEFAULT_LIFETIME,
  IPSEC_DEFAULT_LIFETIME_KILOBYTES, IPSEC_DEFAULT_LIFETIME_SECONDS, NHRP_DEFAULT_HOLDTIME, defaultBandwidth, defaultDelay,
  defaultRegistrationTimeout, defaultTunnelIpMtu,
  type ConfigModel, type Draft, type EigrpInterfaceConfig, type EigrpProcess, type Ikev2Keyring, type Ikev2Policy,
  type Ikev2Profile, type Ikev2Proposal, type InterfaceConfig, type IpsecProfile, type KeyChain, type KeyChainKey,
  type KeyringPeer, type LinuxInterfaceConfig, type SourcePos, type TransformSet, type TunnelInterfaceConfig,
} from './model.js';

export type ModelDraft = Draft<ConfigModel>;
export type InterfaceDraft = Draft<InterfaceConfig>;
export type TunnelDraft = Draft<TunnelInterfaceConfig>;
export type LinuxDraft = Draft<LinuxInterfaceConfig>;
export type EigrpIfDraft = Draft<EigrpInterfaceConfig>;
export type EigrpDraft = Draft<EigrpProcess>;
export type KeyChainDraft = Draft<KeyChain>;
export type KeyDraft = Draft<KeyChainKey>;
export type KeyringDraft = Draft<Ikev2Keyring>;
export type PeerDraft = Draft<KeyringPeer>;
export type Ikev2ProfileDraft = Draft<Ikev2Profile>;
export type IpsecProfileDraft = Draft<IpsecProfile>;
export type ProposalDraft = Draft<Ikev2Proposal>;
export type PolicyDraft = Draft<Ikev2Policy>;
export type TransformSetDraft = Draft<TransformSet>;

export function newModel(): ModelDraft {
  return {
    hostname: DEFAULT_HOSTNAME,
    interfaces: [],
    staticRoutes: [],
    eigrp: [],
    keyChains: [],
    crypto: { keyrings: [], ikev2Profiles: [], ipsecProfiles: [], ikev2Proposals: [], ikev2Policies: [], transformSets: [] },
    featureUses: [],
    settingPos: {},
  };
}

export function newInterface(name: string, pos: SourcePos): InterfaceDraft {
  const common = { name, pos, shutdown: false, ipRedirects: true, eigrp: [], settingPos: {} };
  const t = /^Tunnel(\d+)$/.exec(name);
  if (!t) return { ...common, kind: 'linux', bandwidth: defaultBandwidth('linux', name), delay: defaultDelay('linux', name) };
  return {
    ...common,
    kind: 'tunnel',
    number: Number(t[1]),
    bandwidth: defaultBandwidth('tunnel', name),
    delay: defaultDelay('tunnel', name),
    ipMtu: defaultTunnelIpMtu(),
    ipMtuConfigured: false,
    tunnelMode: 'gre-ip',
    pathMtuDiscovery: false,
    dataplane: 'auto',
    nhrp: {
      holdtime: NHRP_DEFAULT_HOLDTIME,
      registrationTimeout: defaultRegistrationTimeout(NHRP_DEFAULT_HOLDTIME),
      registrationTimeoutConfigured: false,
      registrationNoUnique: false,
      staticMaps: [],
      multicastMaps: [],
      nhs: [],
      shortcut: false,
      redirect: false,
    },
  };
}

export function newEigrpIf(as: number, pos: SourcePos): EigrpIfDraft {
  return { as, helloInterval: EIGRP_DEFAULT_HELLO, holdTime: EIGRP_DEFAULT_HOLD, splitHorizon: true, nextHopSelf: true, summaries: [], pos, settingPos: {} };
}

export function isDefaultEigrpIf(e: EigrpIfDraft): boolean {
  return e.helloInterval === EIGRP_DEFAULT_HELLO && e.holdTime === EIGRP_DEFAULT_HOLD && e.splitHorizon && e.nextHopSelf &&
    e.summaries.length === 0 && e.authMode === undefined && e.authKeyChain === undefined;
}

export function newEigrp(as: number, pos: SourcePos): EigrpDraft {
  return {
    as, pos, networks: [], passiveDefault: false, passiveInterfaces: [], nonPassiveInterfaces: [], redistribute: [],
    kWeights: [...EIGRP_DEFAULT_K] as EigrpDraft['kWeights'], variance: 1, maximumPaths: 4, internalDistance: 90,
    externalDistance: 170, autoSummary: false, settingPos: {},
  };
}

export function newIkev2Profile(name: string, pos: SourcePos): Ikev2ProfileDraft {
  return { name, pos, matchAddressLocal: [], matchIdentityRemote: [], lifetime: IKEV2_DEFAULT_LIFETIME, settingPos: {} };
}

export function newIpsecProfile(name: string, pos: SourcePos): IpsecProfileDraft {
  return {
    name, pos, transformSets: [], lifetimeSeconds: IPSEC_DEFAULT_LIFETIME_SECONDS,
    lifetimeKilobytes: IPSEC_DEFAULT_LIFETIME_KILOBYTES, settingPos: {},
  };
}

/** Find by key or create and append (IOS re-entering a block adds to it). */
export function findOrAdd<T>(list: T[], match: (x: T) => boolean, make: () => T): T {
  const found = list.find(match);
  if (found) return found;
  const x = make();
  list.push(x);
  return x;
}

export function removeWhere<T>(list: T[], match: (x: T) => boolean): void {
  for (let i = list.length - 1; i >= 0; i--) if (match(list[i])) list.splice(i, 1);
}

/** Fill the defaults that depend on other settings, drop per-AS EIGRP entries that say nothing. */
export function finalize(m: ModelDraft): ConfigModel {
  for (const itf of m.interfaces) {
    itf.eigrp = itf.eigrp.filter((e) => !isDefaultEigrpIf(e));
    if (itf.kind !== 'tunnel') continue;
    if (!itf.ipMtuConfigured) itf.ipMtu = defaultTunnelIpMtu(1500, itf.tunnelKey !== undefined);
    if (!itf.nhrp.registrationTimeoutConfigured) itf.nhrp.registrationTimeout = defaultRegistrationTimeout(itf.nhrp.holdtime);
  }
  return m;
}
