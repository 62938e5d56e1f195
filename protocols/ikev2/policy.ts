/**
 * What the IKEv2 engine is configured with (the IOS keyring, proposal,
 * transform set, profile and ipsec profile folded into one plain object), its
 * IOS defaults, and proposal selection (RFC 7296 sections 2.7 and 3.3.6).
 *
 * Defaults follow IOS-XE's smart defaults:
 *  - IKEv2 proposal "default": AES-CBC-256 / SHA512 SHA384 / PRF SHA512 SHA384 /
 *    groups 19, 14, 21 (and 5 on older releases), as `show crypto ikev2 proposal`
 *    prints it on IOS-XE (genieparser test data, CiscoTestAutomation/genieparser
 *    src/genie/libs/parser/iosxe/tests/ShowCryptoIkev2Proposal/cli/equal/golden_output_output.txt).
 *    Group 5 is not offered here; old peers that insist on 2 or 5 are accepted
 *    with a warning while `allowWeakDh` is set.
 *  - transform set default_transform_set_1: esp-aes (128) esp-sha-hmac; IOS's
 *    default_transform_set_0 (esp-3des) is left out. Mode transport for DMVPN.
 *  - lifetimes: IKE SA 86400 s, IPsec SA 3600 s; DPD off unless configured.
 */
import { EncrId, IntegId, PrfId, DhGroup, ProtocolId, TransformType, EsnId } from './constants.js';
import { type Proposal, type Transform, transform, proposalAlgorithms } from './sa.js';
import { type EncrAlg, type IkeSuite, type ChildSuite, encrAlg, integAlg, prfAlg } from './crypto.js';
import { dhGroupInfo, isWeakDhGroup } from './dh.js';
import { ipv4ToU32 } from '../wire/index.js';

export interface IkeProposalConfig {
  /** Ciphers with their key length in bits (AES-CBC 128/192/256, AES-GCM-16 128/256). */
  readonly encr: readonly { readonly id: number; readonly keyLength: number }[];
  /** Empty for an AEAD-only proposal. */
  readonly integ: readonly number[];
  readonly prf: readonly number[];
  readonly dh: readonly number[];
}

/** One `crypto ipsec transform-set`. */
export interface EspTransformConfig {
  readonly encr: number;
  readonly keyLength: number;
  /** Omitted for AES-GCM. */
  readonly integ?: number;
}

/** `crypto ikev2 keyring` peer: an address/mask and its pre-shared key(s). */
export interface KeyringPeer {
  readonly address: string;
  readonly prefixLength: number;
  /** `pre-shared-key X`: both directions. */
  readonly psk?: string;
  /** `pre-shared-key local X`: what we sign with. */
  readonly pskLocal?: string;
  /** `pre-shared-key remote X`: what the peer signs with. */
  readonly pskRemote?: string;
}

export interface IkeConfig {
  /** Our NBMA address: the IKE endpoint and the GRE selector. */
  readonly localAddress: string;
  /** `identity local address X`: the ID_IPV4_ADDR we send; defaults to `localAddress`. */
  readonly localId?: string;
  readonly keyring: readonly KeyringPeer[];
  readonly proposals: readonly IkeProposalConfig[];
  readonly transformSets: readonly EspTransformConfig[];
  /** `set pfs groupN`: a KE payload in CREATE_CHILD_SA for child rekeys. */
  readonly pfsGroup?: number;
  /** IKE SA lifetime, seconds (IOS `lifetime` in the IKEv2 profile, default 86400). */
  readonly ikeLifetime: number;
  /** IPsec SA lifetime, seconds (IOS default 3600). */
  readonly childLifetime: number;
  /** `dpd <interval> <retry> periodic`, seconds; undefined = off (IOS default). */
  readonly dpd?: { readonly interval: number; readonly retry: number };
  /** Retransmission (RFC 7296 section 2.1): first wait, doubling, and how many transmissions in all. */
  readonly retransmit: { readonly initialMs: number; readonly tries: number };
  /**
   * Half-open (responder) SAs before IKE_SA_INIT must carry a COOKIE (section 2.6). IOS sends
   * none unless `crypto ikev2 cookie-challenge N` (1 to 1000) is configured; the default
   * (DEFAULT_COOKIE_THRESHOLD) is a safety net above any hub's simultaneous spokes instead.
   */
  readonly cookieThreshold: number;
  /** Seconds a responder waits for IKE_AUTH before dropping a half-open SA. */
  readonly halfOpenTimeout: number;
  /** Accept DH groups 2 and 5 when a peer offers nothing stronger (logged as weak). */
  readonly allowWeakDh: boolean;
  /** Send the Vendor IDs an IOS DMVPN spoke sends (vendor.ts). */
  readonly ciscoVendorIds: boolean;
  /** Send INITIAL_CONTACT in IKE_AUTH when no other SA with the peer exists (section 2.4). */
  readonly initialContact: boolean;
  /** NAT-keepalive interval (RFC 3948 section 2.3) when we are behind a NAT, seconds. */
  readonly natKeepalive: number;
}

/** IOS-XE's "default" IKEv2 proposal without group 5 (see the file comment). */
export const DEFAULT_IKE_PROPOSAL: IkeProposalConfig = {
  encr: [{ id: EncrId.ENCR_AES_CBC, keyLength: 256 }],
  integ: [IntegId.AUTH_HMAC_SHA2_512_256, IntegId.AUTH_HMAC_SHA2_384_192],
  prf: [PrfId.PRF_HMAC_SHA2_512, PrfId.PRF_HMAC_SHA2_384],
  dh: [DhGroup.ECP_256, DhGroup.MODP_2048, DhGroup.ECP_521],
};

/**
 * Half-open SAs before COOKIEs are demanded by default. IOS challenges only when configured
 * (`crypto ikev2 cookie-challenge`); a low default made every spoke of a restarted hub pay a
 * second IKE_SA_INIT round trip (1,000 spokes, threshold 64: over 900 COOKIE replies) and opened
 * a race between a cookie retry and a late answer to the first request. Legitimate half-open
 * SAs stay below the number of spokes; above it, a flood from spoofed sources still meets cookies
 * before it can hold more state.
 */
export const DEFAULT_COOKIE_THRESHOLD = 4096;

/** IOS default_transform_set_1: esp-aes esp-sha-hmac. */
export const DEFAULT_TRANSFORM_SET: EspTransformConfig = { encr: EncrId.ENCR_AES_CBC, keyLength: 128, integ: IntegId.AUTH_HMAC_SHA1_96 };

export function ikeConfig(c: Partial<IkeConfig> & Pick<IkeConfig, 'localAddress' | 'keyring'>): IkeConfig {
  return {
    proposals: [DEFAULT_IKE_PROPOSAL],
    transformSets: [DEFAULT_TRANSFORM_SET],
    ikeLifetime: 86400,
    childLifetime: 3600,
    retransmit: { initialMs: 500, tries: 6 },
    cookieThreshold: DEFAULT_COOKIE_THRESHOLD,
    halfOpenTimeout: 30,
    allowWeakDh: true,
    ciscoVendorIds: false,
    initialContact: true,
    natKeepalive: 20,
    ...c,
  };
}

/** The keyring entry for a peer address: the longest matching address/mask, as IOS picks it. */
export function lookupKeyring(cfg: IkeConfig, address: string): KeyringPeer | undefined {
  let best: KeyringPeer | undefined;
  let a: number;
  try {
    a = ipv4ToU32(address);
  } catch {
    return undefined;
  }
  for (const k of cfg.keyring) {
    const mask = k.prefixLength === 0 ? 0 : (0xffffffff << (32 - k.prefixLength)) >>> 0;
    if (((ipv4ToU32(k.address) & mask) >>> 0) !== ((a & mask) >>> 0)) continue;
    if (!best || k.prefixLength > best.prefixLength) best = k;
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Offers

function transforms(type: number, ids: readonly number[]): Transform[] {
  return ids.map((id) => transform(type, id));
}

/** Our IKE proposals as SA payload proposals, numbered from 1; `spi` is empty in IKE_SA_INIT, 8 octets in a rekey. */
export function offerIkeProposals(cfg: IkeConfig, spi: Uint8Array = new Uint8Array(0)): Proposal[] {
  return cfg.proposals.map((p, i) => ({
    number: i + 1,
    protocolId: ProtocolId.IKE,
    spi,
    transforms: [
      ...p.encr.map((e) => transform(TransformType.ENCR, e.id, e.keyLength)),
      ...transforms(TransformType.PRF, p.prf),
      ...transforms(TransformType.INTEG, p.encr.every((e) => encrAlg(e.id, e.keyLength)?.aead) ? [] : p.integ),
      ...transforms(TransformType.DH, p.dh),
    ],
  }));
}

/** Our ESP proposals carrying our inbound SPI, with the PFS group when a KE goes with them. */
export function offerEspProposals(cfg: IkeConfig, spi: number, pfsGroup?: number): Proposal[] {
  const s = Uint8Array.of(spi >>> 24, (spi >>> 16) & 0xff, (spi >>> 8) & 0xff, spi & 0xff);
  return cfg.transformSets.map((t, i) => ({
    number: i + 1,
    protocolId: ProtocolId.ESP,
    spi: s,
    transforms: [
      transform(TransformType.ENCR, t.encr, t.keyLength),
      ...(t.integ !== undefined ? [transform(TransformType.INTEG, t.integ)] : []),
      ...(pfsGroup !== undefined ? [transform(TransformType.DH, pfsGroup)] : []),
      transform(TransformType.ESN, EsnId.NO_ESN),
    ],
  }));
}

// ---------------------------------------------------------------------------------------------
// Responder: choose from the peer's proposals

export type IkeSelection =
  | { readonly ok: true; readonly proposal: Proposal; readonly suite: IkeSuite; readonly weak: boolean }
  /** A proposal matched but with another DH group than the KE payload's: answer INVALID_KE_PAYLOAD. */
  | { readonly ok: false; readonly invalidKe?: number };

interface IkePick {
  readonly number: number;
  readonly encr: EncrAlg;
  readonly integ?: number;
  readonly prf: number;
  readonly dh: number;
}

function pickIke(peer: Proposal, ours: IkeProposalConfig, dhOk: (g: number) => boolean, keGroup: number | undefined): IkePick | undefined {
  const a = proposalAlgorithms(peer);
  let encr: EncrAlg | undefined;
  for (const e of a.encr) {
    const alg = encrAlg(e.id, e.keyLength);
    if (alg && ours.encr.some((o) => o.id === e.id && o.keyLength === e.keyLength)) {
      encr = alg;
      break;
    }
  }
  if (!encr) return undefined;
  let integ: number | undefined;
  if (!encr.aead) {
    integ = a.integ.find((i) => ours.integ.includes(i) && integAlg(i) !== undefined);
    if (integ === undefined) return undefined;
  } else if (a.integ.some((i) => i !== IntegId.NONE)) {
    // RFC 7296 section 3.3: an AEAD proposal carries no integrity transform (or only NONE).
    if (a.encr.every((e) => encrAlg(e.id, e.keyLength)?.aead)) return undefined;
  }
  const prf = a.prf.find((p) => ours.prf.includes(p) && prfAlg(p) !== undefined);
  if (prf === undefined) return undefined;
  const groups = a.dh.filter((g) => dhOk(g) && dhGroupInfo(g) !== undefined);
  if (groups.length === 0) return undefined;
  const dh = keGroup !== undefined && groups.includes(keGroup) ? keGroup : groups[0];
  return { number: peer.number, encr, integ, prf, dh };
}

function chosenIkeProposal(p: IkePick, spi: Uint8Array): Proposal {
  return {
    number: p.number,
    protocolId: ProtocolId.IKE,
    spi,
    transforms: [
      transform(TransformType.ENCR, p.encr.id, p.encr.keyBits),
      transform(TransformType.PRF, p.prf),
      ...(p.integ !== undefined ? [transform(TransformType.INTEG, p.integ)] : []),
      transform(TransformType.DH, p.dh),
    ],
  };
}

/**
 * Pick an IKE proposal: our proposals in our order, each against the peer's in
 * theirs; a match whose group is the KE payload's wins over one that would need
 * an INVALID_KE_PAYLOAD round trip. Weak groups (2, 5) only in a last pass, and
 * only when nothing else matched.
 */
export function selectIkeProposal(cfg: IkeConfig, offered: readonly Proposal[], keGroup: number | undefined, spi: Uint8Array = new Uint8Array(0)): IkeSelection {
  const ike = offered.filter((p) => p.protocolId === ProtocolId.IKE);
  const configured = (g: number, ours: IkeProposalConfig): boolean => ours.dh.includes(g);
  const passes: ((g: number, ours: IkeProposalConfig) => boolean)[] = [configured];
  if (cfg.allowWeakDh) passes.push((g, ours) => configured(g, ours) || isWeakDhGroup(g));
  for (const dhPass of passes) {
    let fallback: IkePick | undefined;
    for (const ours of cfg.proposals) {
      for (const peer of ike) {
        const pick = pickIke(peer, ours, (g) => dhPass(g, ours), keGroup);
        if (!pick) continue;
        if (keGroup === undefined || pick.dh === keGroup) {
          const suite: IkeSuite = { encr: pick.encr, integ: pick.integ !== undefined ? integAlg(pick.integ) : undefined, prf: prfAlg(pick.prf)!, dh: pick.dh };
          // Weak only when the peer pushed us past our configured groups.
          return { ok: true, proposal: chosenIkeProposal(pick, spi), suite, weak: isWeakDhGroup(pick.dh) && !ours.dh.includes(pick.dh) };
        }
        fallback ??= pick;
      }
    }
    if (fallback) return { ok: false, invalidKe: fallback.dh };
  }
  return { ok: false };
}

export type EspSelection =
  | { readonly ok: true; readonly proposal: Proposal; readonly suite: ChildSuite; readonly peerSpi: number }
  | { readonly ok: false; readonly invalidKe?: number };

function spiOf(p: Proposal): number | undefined {
  if (p.spi.length !== 4) return undefined;
  return ((p.spi[0] << 24) | (p.spi[1] << 16) | (p.spi[2] << 8) | p.spi[3]) >>> 0;
}

/** Where an ESP proposal is negotiated: IKE_AUTH (no PFS possible), or CREATE_CHILD_SA with or without a KE payload. */
export type EspContext = { readonly exchange: 'auth' } | { readonly exchange: 'child'; readonly keGroup?: number };

/**
 * Pick an ESP proposal against our transform sets, in our order. In IKE_AUTH a
 * DH transform offered is ignored (section 1.2: the IKE_SA_INIT exchange's
 * shared secret is used). In CREATE_CHILD_SA a KE payload asks for PFS: its
 * group must be offered and acceptable (our `pfsGroup` if set, else any strong
 * group), otherwise the group we would take is returned for INVALID_KE_PAYLOAD;
 * with `pfsGroup` set, a request without a KE is refused. Extended sequence
 * numbers are refused: IOS runs without them.
 */
export function selectEspProposal(cfg: IkeConfig, offered: readonly Proposal[], ourSpi: number, ctx: EspContext): EspSelection {
  let fallback: number | undefined;
  const keGroup = ctx.exchange === 'child' ? ctx.keGroup : undefined;
  if (ctx.exchange === 'child' && keGroup === undefined && cfg.pfsGroup !== undefined) return { ok: false };
  for (const ts of cfg.transformSets) {
    const encr = encrAlg(ts.encr, ts.keyLength);
    if (!encr) continue;
    for (const peer of offered) {
      if (peer.protocolId !== ProtocolId.ESP) continue;
      const peerSpi = spiOf(peer);
      if (peerSpi === undefined || peerSpi < 256) continue;
      const a = proposalAlgorithms(peer);
      if (!a.encr.some((e) => e.id === ts.encr && e.keyLength === ts.keyLength)) continue;
      if (!encr.aead && (ts.integ === undefined || !a.integ.includes(ts.integ))) continue;
      if (a.esn.length > 0 && !a.esn.includes(EsnId.NO_ESN)) continue;
      let dh: number | undefined;
      if (keGroup !== undefined) {
        const acceptable = (g: number): boolean => (cfg.pfsGroup !== undefined ? g === cfg.pfsGroup : dhGroupInfo(g) !== undefined && !isWeakDhGroup(g));
        const groups = a.dh.filter(acceptable);
        if (!groups.includes(keGroup)) {
          if (groups.length > 0) fallback ??= groups[0];
          continue;
        }
        dh = keGroup;
      }
      const proposal: Proposal = {
        number: peer.number,
        protocolId: ProtocolId.ESP,
        spi: Uint8Array.of(ourSpi >>> 24, (ourSpi >>> 16) & 0xff, (ourSpi >>> 8) & 0xff, ourSpi & 0xff),
        transforms: [
          transform(TransformType.ENCR, ts.encr, ts.keyLength),
          ...(encr.aead ? [] : [transform(TransformType.INTEG, ts.integ!)]),
          ...(dh !== undefined ? [transform(TransformType.DH, dh)] : []),
          transform(TransformType.ESN, EsnId.NO_ESN),
        ],
      };
      const integ = encr.aead ? undefined : integAlg(ts.integ!);
      return { ok: true, proposal, suite: { encr, integ, dh }, peerSpi };
    }
  }
  return fallback !== undefined ? { ok: false, invalidKe: fallback } : { ok: false };
}

// ---------------------------------------------------------------------------------------------
// Initiator: check the responder's choice against what we offered

function oneOfEach(chosen: Proposal, offered: readonly Proposal[]): ReturnType<typeof proposalAlgorithms> | undefined {
  const ours = offered.find((p) => p.number === chosen.number && p.protocolId === chosen.protocolId);
  if (!ours) return undefined;
  const c = proposalAlgorithms(chosen);
  const o = proposalAlgorithms(ours);
  if (c.encr.length !== 1 || c.prf.length > 1 || c.integ.length > 1 || c.dh.length > 1 || c.esn.length > 1) return undefined;
  const e = c.encr[0];
  if (!o.encr.some((x) => x.id === e.id && x.keyLength === e.keyLength)) return undefined;
  if (c.prf.some((x) => !o.prf.includes(x)) || c.integ.some((x) => !o.integ.includes(x))) return undefined;
  if (c.dh.some((x) => !o.dh.includes(x)) || c.esn.some((x) => !o.esn.includes(x))) return undefined;
  return c;
}

/** The IKE suite of a responder's SA payload, if it is one of our offers reduced to one transform per type. */
export function acceptIkeChoice(chosen: readonly Proposal[], offered: readonly Proposal[]): IkeSuite | undefined {
  if (chosen.length !== 1) return undefined;
  const c = oneOfEach(chosen[0], offered);
  if (!c || c.prf.length !== 1 || c.dh.length !== 1) return undefined;
  const encr = encrAlg(c.encr[0].id, c.encr[0].keyLength);
  const prf = prfAlg(c.prf[0]);
  if (!encr || !prf || !dhGroupInfo(c.dh[0])) return undefined;
  if (encr.aead) return c.integ.length === 0 || c.integ[0] === IntegId.NONE ? { encr, prf, dh: c.dh[0] } : undefined;
  const integ = c.integ.length === 1 ? integAlg(c.integ[0]) : undefined;
  return integ ? { encr, integ, prf, dh: c.dh[0] } : undefined;
}

/** The ESP suite and the peer's SPI from a responder's SA payload. */
export function acceptEspChoice(chosen: readonly Proposal[], offered: readonly Proposal[]): { suite: ChildSuite; peerSpi: number } | undefined {
  if (chosen.length !== 1) return undefined;
  const c = oneOfEach(chosen[0], offered);
  const peerSpi = spiOf(chosen[0]);
  if (!c || peerSpi === undefined || peerSpi < 256) return undefined;
  if (c.esn.length === 1 && c.esn[0] !== EsnId.NO_ESN) return undefined;
  const encr = encrAlg(c.encr[0].id, c.encr[0].keyLength);
  if (!encr) return undefined;
  const dh = c.dh.length === 1 && c.dh[0] !== DhGroup.NONE ? c.dh[0] : undefined;
  if (encr.aead) return { suite: { encr, dh }, peerSpi };
  const integ = c.integ.length === 1 ? integAlg(c.integ[0]) : undefined;
  return integ ? { suite: { encr, integ, dh }, peerSpi } : undefined;
}
