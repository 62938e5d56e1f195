/**
 * The typed configuration model the IOS reader produces. Every object keeps the
 * source position of the line that created it (and `settingPos` for its single
 * valued settings) so that later semantic checks, and the daemon itself, can
 * point at the line at fault. Settings that IOS defaults are filled in with the
 * IOS default; where the default depends on something only known at run time
 * (the tunnel IP MTU) a `...Configured` flag says whether the value was written.
 *
 * Secrets are `Secret` objects: printing or JSON-encoding a model never shows them.
 */
import type { Secret } from './secret.js';

export interface SourcePos {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** Features that a build of the daemon may or may not implement (see validate()). */
export type Capability = 'nhrp' | 'eigrp' | 'ipsec' | 'kernel-dataplane';

export const ALL_CAPABILITIES: readonly Capability[] = ['nhrp', 'eigrp', 'ipsec', 'kernel-dataplane'];

/** A line that configured a gated feature: validate() reports it when the capability is absent. */
export interface FeatureUse {
  readonly capability: Capability;
  /** The command's keywords, e.g. "ip nhrp map" (never its arguments, which may be secret). */
  readonly command: string;
  readonly pos: SourcePos;
}

export interface Ipv4Prefix {
  readonly address: string;
  readonly mask: string;
  readonly prefixLength: number;
}

export interface PositionedPrefix extends Ipv4Prefix {
  readonly pos: SourcePos;
}

export interface NamedRef {
  readonly name: string;
  readonly pos: SourcePos;
}

export type SettingPositions = Readonly<Record<string, SourcePos>>;

// ---------------------------------------------------------------- interfaces

/** Per-interface EIGRP settings for one autonomous system (`ip ... eigrp AS ...`). */
export interface EigrpInterfaceConfig {
  readonly as: number;
  /** Seconds; IOS default 5. */
  readonly helloInterval: number;
  /** Seconds; IOS default 15. */
  readonly holdTime: number;
  /** IOS default on; DMVPN hubs turn it off so spokes learn each other's routes. */
  readonly splitHorizon: boolean;
  /** IOS default on; off lets spokes see each other as next hop (Phase 2). */
  readonly nextHopSelf: boolean;
  readonly summaries: readonly PositionedPrefix[];
  readonly authMode?: 'md5' | 'hmac-sha-256';
  readonly authPassword?: Secret;
  readonly authKeyChain?: NamedRef;
  readonly pos: SourcePos;
  readonly settingPos: SettingPositions;
}

interface InterfaceCommon {
  /** "Tunnel<n>" or the Linux interface name. */
  readonly name: string;
  readonly pos: SourcePos;
  readonly description?: string;
  readonly address?: PositionedPrefix;
  readonly shutdown: boolean;
  /** kbit/s, as `bandwidth`; the IOS default of the interface type when not written. */
  readonly bandwidth: number;
  /** Tens of microseconds, as `delay`; the IOS default of the interface type when not written. */
  readonly delay: number;
  /** ICMP redirects (`ip redirects`), on by default in IOS. */
  readonly ipRedirects: boolean;
  readonly eigrp: readonly EigrpInterfaceConfig[];
  readonly settingPos: SettingPositions;
}

export interface LinuxInterfaceConfig extends InterfaceCommon {
  readonly kind: 'linux';
}

export type TunnelSource =
  | { readonly kind: 'interface'; readonly name: string; readonly pos: SourcePos }
  | { readonly kind: 'address'; readonly address: string; readonly pos: SourcePos };

export type NhrpMulticastMap =
  | { readonly kind: 'dynamic'; readonly pos: SourcePos }
  | { readonly kind: 'static'; readonly nbma: string; readonly pos: SourcePos };

export interface NhrpStaticMap {
  readonly protocol: string;
  readonly nbma: string;
  readonly pos: SourcePos;
}

export interface NhrpNhs {
  readonly address: string;
  readonly nbma?: string;
  readonly multicast: boolean;
  readonly pos: SourcePos;
}

export interface NhrpConfig {
  /** Without a network-id IOS does not run NHRP on the interface. */
  readonly networkId?: number;
  /** Up to 8 characters, carried in the NHRP Authentication extension. */
  readonly authentication?: Secret;
  /** Seconds; IOS default 7200. */
  readonly holdtime: number;
  /** Seconds between registrations; IOS default one third of the holdtime. */
  readonly registrationTimeout: number;
  readonly registrationTimeoutConfigured: boolean;
  readonly registrationNoUnique: boolean;
  readonly staticMaps: readonly NhrpStaticMap[];
  readonly multicastMaps: readonly NhrpMulticastMap[];
  readonly nhs: readonly NhrpNhs[];
  readonly shortcut: boolean;
  readonly redirect: boolean;
}

export interface TunnelProtection {
  readonly profile: string;
  readonly shared: boolean;
  readonly pos: SourcePos;
}

export type TunnelDataplane = 'auto' | 'kernel' | 'userspace';

export interface TunnelInterfaceConfig extends InterfaceCommon {
  readonly kind: 'tunnel';
  readonly number: number;
  /** Bytes; when not configured, the default for a 1500-byte underlay (see defaultTunnelIpMtu). */
  readonly ipMtu: number;
  readonly ipMtuConfigured: boolean;
  readonly tcpAdjustMss?: number;
  readonly tunnelSource?: TunnelSource;
  /** IOS default is point-to-point GRE ("gre ip"). */
  readonly tunnelMode: 'gre-ip' | 'gre-multipoint';
  readonly tunnelKey?: number;
  /**
   * `tunnel path-mtu-discovery`: the outer header takes DF from the inner packet and the tunnel
   * learns the path MTU. Off by default, as in IOS: the outer DF is clear and routers on the
   * underlay may fragment GRE.
   */
  readonly pathMtuDiscovery: boolean;
  readonly protection?: TunnelProtection;
  /** Our extension `tunnel dataplane kernel|userspace`; auto lets the daemon choose. */
  readonly dataplane: TunnelDataplane;
  readonly nhrp: NhrpConfig;
}

export type InterfaceConfig = LinuxInterfaceConfig | TunnelInterfaceConfig;

// ---------------------------------------------------------------- routing

export interface StaticRoute {
  readonly prefix: string;
  readonly mask: string;
  readonly prefixLength: number;
  readonly nextHop?: string;
  readonly interface?: string;
  /** Administrative distance, default 1. */
  readonly distance: number;
  readonly name?: string;
  readonly tag?: number;
  readonly permanent: boolean;
  readonly pos: SourcePos;
}

export interface EigrpNetwork {
  readonly address: string;
  readonly wildcard?: string;
  readonly pos: SourcePos;
}

export interface EigrpStub {
  readonly connected: boolean;
  readonly summary: boolean;
  readonly static: boolean;
  readonly redistributed: boolean;
  readonly receiveOnly: boolean;
  readonly pos: SourcePos;
}

export interface EigrpRedistribute {
  readonly source: 'connected' | 'static';
  readonly metric?: {
    readonly bandwidth: number;
    readonly delay: number;
    readonly reliability: number;
    readonly load: number;
    readonly mtu: number;
  };
  readonly pos: SourcePos;
}

export interface EigrpProcess {
  readonly as: number;
  readonly pos: SourcePos;
  readonly networks: readonly EigrpNetwork[];
  readonly passiveDefault: boolean;
  /** `passive-interface X` (without default). */
  readonly passiveInterfaces: readonly NamedRef[];
  /** `no passive-interface X` (under passive-interface default). */
  readonly nonPassiveInterfaces: readonly NamedRef[];
  readonly routerId?: string;
  readonly stub?: EigrpStub;
  readonly redistribute: readonly EigrpRedistribute[];
  /** K1..K5, IOS default 1 0 1 0 0. */
  readonly kWeights: readonly [number, number, number, number, number];
  readonly variance: number;
  readonly maximumPaths: number;
  readonly internalDistance: number;
  readonly externalDistance: number;
  readonly autoSummary: boolean;
  readonly settingPos: SettingPositions;
}

export interface KeyChainKey {
  readonly id: number;
  readonly pos: SourcePos;
  readonly keyString?: Secret;
  readonly algorithm?: 'md5' | 'hmac-sha-1' | 'hmac-sha-256' | 'hmac-sha-384' | 'hmac-sha-512';
  readonly settingPos: SettingPositions;
}

export interface KeyChain {
  readonly name: string;
  readonly pos: SourcePos;
  readonly keys: readonly KeyChainKey[];
}

// ---------------------------------------------------------------- crypto

export interface KeyringPeer {
  readonly name: string;
  readonly pos: SourcePos;
  readonly description?: string;
  readonly address?: PositionedPrefix;
  /** `pre-shared-key WORD`: both directions. */
  readonly presharedKey?: Secret;
  readonly presharedKeyLocal?: Secret;
  readonly presharedKeyRemote?: Secret;
  readonly settingPos: SettingPositions;
}

export interface Ikev2Keyring {
  readonly name: string;
  readonly pos: SourcePos;
  readonly peers: readonly KeyringPeer[];
}

export type Ikev2MatchLocal =
  | { readonly kind: 'interface'; readonly name: string; readonly pos: SourcePos }
  | { readonly kind: 'address'; readonly address: string; readonly pos: SourcePos };

export interface Ikev2Dpd {
  readonly interval: number;
  readonly retry: number;
  readonly mode: 'on-demand' | 'periodic';
  readonly pos: SourcePos;
}

export interface Ikev2Profile {
  readonly name: string;
  readonly pos: SourcePos;
  readonly description?: string;
  readonly matchAddressLocal: readonly Ikev2MatchLocal[];
  readonly matchIdentityRemote: readonly PositionedPrefix[];
  readonly authenticationLocal?: 'pre-share';
  readonly authenticationRemote?: 'pre-share';
  readonly keyring?: NamedRef;
  /** IKE SA lifetime in seconds, IOS default 86400. */
  readonly lifetime: number;
  readonly dpd?: Ikev2Dpd;
  readonly settingPos: SettingPositions;
}

export type PfsGroup = 'group2' | 'group5' | 'group14' | 'group19' | 'group20' | 'group21' | 'group31';

export interface IpsecProfile {
  readonly name: string;
  readonly pos: SourcePos;
  readonly ikev2Profile?: NamedRef;
  readonly transformSets: readonly NamedRef[];
  readonly pfs?: { readonly group?: PfsGroup; readonly pos: SourcePos };
  /** IPsec SA lifetime; IOS defaults 3600 s and 4608000 KB. */
  readonly lifetimeSeconds: number;
  readonly lifetimeKilobytes: number;
  readonly settingPos: SettingPositions;
}

export type Ikev2Encryption = 'aes-cbc-128' | 'aes-cbc-192' | 'aes-cbc-256' | 'aes-gcm-128' | 'aes-gcm-256';
export type Ikev2Hash = 'sha1' | 'sha256' | 'sha384' | 'sha512';
export type DhGroup = 2 | 5 | 14 | 19 | 20 | 21 | 31;

export interface Ikev2Proposal {
  readonly name: string;
  readonly pos: SourcePos;
  readonly encryption: readonly Ikev2Encryption[];
  readonly integrity: readonly Ikev2Hash[];
  readonly prf: readonly Ikev2Hash[];
  readonly groups: readonly DhGroup[];
  readonly settingPos: SettingPositions;
}

export interface Ikev2Policy {
  readonly name: string;
  readonly pos: SourcePos;
  readonly proposals: readonly NamedRef[];
  readonly matchAddressLocal: readonly { readonly address: string; readonly pos: SourcePos }[];
}

export type EspCipher = 'esp-aes' | 'esp-gcm';
export type EspIntegrity = 'esp-sha-hmac' | 'esp-sha256-hmac' | 'esp-sha384-hmac' | 'esp-sha512-hmac';

export interface TransformSet {
  readonly name: string;
  readonly pos: SourcePos;
  readonly cipher: EspCipher;
  readonly keyBits: 128 | 192 | 256;
  readonly integrity?: EspIntegrity;
  /** IOS default tunnel; DMVPN normally uses transport. */
  readonly mode: 'tunnel' | 'transport';
}

export interface CryptoConfig {
  readonly keyrings: readonly Ikev2Keyring[];
  readonly ikev2Profiles: readonly Ikev2Profile[];
  readonly ipsecProfiles: readonly IpsecProfile[];
  readonly ikev2Proposals: readonly Ikev2Proposal[];
  readonly ikev2Policies: readonly Ikev2Policy[];
  readonly transformSets: readonly TransformSet[];
}

// ---------------------------------------------------------------- the whole file

export interface ConfigModel {
  /** IOS default "Router". */
  readonly hostname: string;
  /** In order of first appearance. */
  readonly interfaces: readonly InterfaceConfig[];
  readonly staticRoutes: readonly StaticRoute[];
  readonly eigrp: readonly EigrpProcess[];
  readonly keyChains: readonly KeyChain[];
  readonly crypto: CryptoConfig;
  /** Lines that configured gated features (checked by validate against capabilities). */
  readonly featureUses: readonly FeatureUse[];
  readonly settingPos: SettingPositions;
}

// ---------------------------------------------------------------- defaults

/** IOS Tunnel interface defaults: BW 100 Kbit/sec, DLY 50000 usec. */
export const TUNNEL_DEFAULT_BANDWIDTH = 100;
export const TUNNEL_DEFAULT_DELAY = 5000;
/** Ethernet-like Linux interfaces take the GigabitEthernet defaults: BW 1000000 Kbit/sec, DLY 10 usec. */
export const ETHERNET_DEFAULT_BANDWIDTH = 1_000_000;
export const ETHERNET_DEFAULT_DELAY = 1;
/** The Linux loopback takes the IOS Loopback defaults: BW 8000000 Kbit/sec, DLY 5000 usec. */
export const LOOPBACK_DEFAULT_BANDWIDTH = 8_000_000;
export const LOOPBACK_DEFAULT_DELAY = 500;

export const NHRP_DEFAULT_HOLDTIME = 7200;
export const EIGRP_DEFAULT_HELLO = 5;
export const EIGRP_DEFAULT_HOLD = 15;
export const EIGRP_DEFAULT_K: readonly [number, number, number, number, number] = [1, 0, 1, 0, 0];
export const IKEV2_DEFAULT_LIFETIME = 86400;
export const IPSEC_DEFAULT_LIFETIME_SECONDS = 3600;
export const IPSEC_DEFAULT_LIFETIME_KILOBYTES = 4_608_000;
export const DEFAULT_HOSTNAME = 'Router';

export function defaultBandwidth(kind: InterfaceConfig['kind'], name: string): number {
  if (kind === 'tunnel') return TUNNEL_DEFAULT_BANDWIDTH;
  return name === 'lo' ? LOOPBACK_DEFAULT_BANDWIDTH : ETHERNET_DEFAULT_BANDWIDTH;
}

export function defaultDelay(kind: InterfaceConfig['kind'], name: string): number {
  if (kind === 'tunnel') return TUNNEL_DEFAULT_DELAY;
  return name === 'lo' ? LOOPBACK_DEFAULT_DELAY : ETHERNET_DEFAULT_DELAY;
}

/**
 * The IP MTU IOS gives a GRE tunnel that has no `ip mtu`: the underlay MTU less
 * the outer IPv4 header (20) and the GRE header (4, plus 4 with a key: RFC 2890).
 * IPsec overhead is not included; IOS subtracts it once the SA is known.
 */
export function defaultTunnelIpMtu(underlayMtu = 1500, hasKey = false): number {
  return underlayMtu - 20 - 4 - (hasKey ? 4 : 0);
}

/** IOS default registration interval: one third of the NHRP holdtime. */
export function defaultRegistrationTimeout(holdtime: number): number {
  return Math.max(1, Math.floor(holdtime / 3));
}

export function findInterface(model: ConfigModel, name: string): InterfaceConfig | undefined {
  return model.interfaces.find((i) => i.name === name);
}

export function tunnels(model: ConfigModel): TunnelInterfaceConfig[] {
  return model.interfaces.filter((i): i is TunnelInterfaceConfig => i.kind === 'tunnel');
}

/** A deep mutable view of a model type, used while a file is being read. */
export type Draft<T> = T extends Secret ? T : T extends object ? { -readonly [K in keyof T]: Draft<T[K]> } : T;
