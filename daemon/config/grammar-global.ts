/**
 * Global configuration mode (IOS `config`): hostname, static routes, and the
 * commands that open a block (interface, router eigrp, key chain, crypto ...).
 */
import { maskLength, parseIpv4 } from './args.js';
import {
  findOrAdd, newEigrp, newIkev2Profile, newInterface, newIpsecProfile, removeWhere,
  type EigrpDraft, type KeyChainDraft, type KeyringDraft, type ModelDraft, type PolicyDraft, type ProposalDraft,
  type TransformSetDraft,
} from './builder.js';
import { DEFAULT_HOSTNAME, type EspCipher, type EspIntegrity, type SourcePos } from './model.js';
import { EXIT_ROW, openBlock, table, type Apply, type Row } from './modes.js';

const ROUTE_TARGET = '(<A.B.C.D:nexthop> | <IF:interface> [<A.B.C.D:nexthop>])';
const ROUTE_OPTIONS = '{<1-255:distance> | name <WORD:name> | tag <1-4294967295:tag> | permanent}';
const TRANSFORMS =
  '{esp-aes [128 | 192 | 256] | esp-gcm [128 | 192 | 256] | esp-sha-hmac | esp-sha256-hmac | esp-sha384-hmac | esp-sha512-hmac}';

/** IOS hostname rules (RFC 1035 labels): letter first, letters, digits and hyphens, at most 63. */
const HOSTNAME = /^[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

function route(a: Apply<ModelDraft>): void {
  const { m } = a;
  const prefix = m.str('prefix');
  const mask = m.str('mask');
  const nextHop = m.optStr('nexthop');
  const itf = m.optStr('interface');
  const p = parseIpv4(prefix) as number;
  const mk = parseIpv4(mask) as number;
  const same = (r: ModelDraft['staticRoutes'][number]): boolean =>
    r.prefix === prefix && r.mask === mask && (a.negated ? (nextHop === undefined || r.nextHop === nextHop) && (itf === undefined || r.interface === itf) : r.nextHop === nextHop && r.interface === itf);
  if (a.negated) {
    removeWhere(a.model.staticRoutes, same);
    return;
  }
  if (((p & ~mk) >>> 0) !== 0) {
    a.error('prefix', `inconsistent address and mask: ${prefix} has host bits set for mask ${mask}`);
    return;
  }
  const r = {
    prefix, mask, prefixLength: maskLength(mk) as number, nextHop, interface: itf, distance: m.optNum('distance') ?? 1,
    name: m.optStr('name'), tag: m.optNum('tag'), permanent: m.has('permanent'), pos: a.pos,
  };
  const i = a.model.staticRoutes.findIndex(same);
  // IOS keeps one route per prefix and next hop; writing it again replaces its options.
  if (i >= 0) a.model.staticRoutes[i] = r;
  else a.model.staticRoutes.push(r);
}

function transformSet(a: Apply<ModelDraft>): TransformSetDraft | undefined {
  const { m } = a;
  const name = m.str('name');
  const list = a.model.crypto.transformSets;
  if (a.negated) {
    removeWhere(list, (t) => t.name === name);
    return undefined;
  }
  const ciphers = m.keywords<EspCipher>(['esp-aes', 'esp-gcm']);
  const integrity = m.keywords<EspIntegrity>(['esp-sha-hmac', 'esp-sha256-hmac', 'esp-sha384-hmac', 'esp-sha512-hmac']);
  if (ciphers.length !== 1) {
    a.error(ciphers.length ? ciphers[1] : 'name', 'a transform set needs exactly one encryption transform (esp-aes or esp-gcm)');
    return undefined;
  }
  if (integrity.length > 1) {
    a.error(integrity[1], 'a transform set takes at most one integrity transform');
    return undefined;
  }
  if (ciphers[0] === 'esp-gcm' && integrity.length === 1) {
    a.error(integrity[0], `esp-gcm is a combined-mode cipher (RFC 4106): it takes no ${integrity[0]}`);
    return undefined;
  }
  if (ciphers[0] === 'esp-aes' && integrity.length === 0) a.warn('esp-aes', 'esp-aes without an integrity transform leaves ESP unauthenticated');
  const bits = Number(m.keywords(['128', '192', '256'])[0] ?? 128) as 128 | 192 | 256;
  const ts = findOrAdd(list, (t) => t.name === name, (): TransformSetDraft => ({ name, pos: a.pos, cipher: ciphers[0], keyBits: bits, mode: 'tunnel' }));
  ts.cipher = ciphers[0];
  ts.keyBits = bits;
  ts.integrity = integrity[0];
  return ts;
}

/** Open (or with `no`, delete) a named block kept in `list`. */
function block<T extends { name: string; pos: SourcePos }>(list: (a: Apply<ModelDraft>) => T[], make: (name: string, a: Apply<ModelDraft>) => T) {
  return (a: Apply<ModelDraft>): T | undefined => {
    const name = a.m.str('name');
    if (a.negated) {
      removeWhere(list(a), (x) => x.name === name);
      return undefined;
    }
    return openBlock(a, list(a), (x) => x.name === name, () => make(name, a), `${a.command} ${name}`);
  };
}

const rows: Row<ModelDraft>[] = [
  {
    syntax: 'hostname <WORD:name>',
    no: 'hostname [<WORD:name>]',
    apply(a) {
      if (a.negated) {
        a.model.hostname = DEFAULT_HOSTNAME;
        return;
      }
      const name = a.m.str('name');
      if (!HOSTNAME.test(name)) {
        a.error('name', `bad hostname ${JSON.stringify(name)}: use letters, digits and hyphens, starting with a letter (at most 63)`);
        return;
      }
      a.model.hostname = name;
    },
  },
  {
    syntax: 'interface <IF:name>',
    no: 'same',
    enters: 'interface',
    apply(a) {
      const name = a.m.str('name');
      if (a.negated) {
        removeWhere(a.model.interfaces, (i) => i.name === name);
        return undefined;
      }
      return openBlock(a, a.model.interfaces, (i) => i.name === name, () => newInterface(name, a.pos), `interface ${name}`);
    },
  },
  {
    syntax: `ip route <A.B.C.D:prefix> <MASK:mask> ${ROUTE_TARGET} ${ROUTE_OPTIONS}`,
    no: `ip route <A.B.C.D:prefix> <MASK:mask> [${ROUTE_TARGET} ${ROUTE_OPTIONS}]`,
    apply: route,
  },
  {
    syntax: 'router eigrp <1-65535:as>',
    no: 'same',
    enters: 'router-eigrp',
    feature: 'eigrp',
    apply(a): EigrpDraft | undefined {
      const as = a.m.num('as');
      if (a.negated) {
        removeWhere(a.model.eigrp, (e) => e.as === as);
        return undefined;
      }
      return openBlock(a, a.model.eigrp, (e) => e.as === as, () => newEigrp(as, a.pos), `router eigrp ${as}`);
    },
  },
  {
    syntax: 'key chain <WORD:name>',
    no: 'same',
    enters: 'keychain',
    apply: block((a) => a.model.keyChains, (name, a): KeyChainDraft => ({ name, pos: a.pos, keys: [] })),
  },
  {
    syntax: 'crypto ikev2 keyring <WORD:name>',
    no: 'same',
    enters: 'ikev2-keyring',
    feature: 'ipsec',
    apply: block((a) => a.model.crypto.keyrings, (name, a): KeyringDraft => ({ name, pos: a.pos, peers: [] })),
  },
  {
    syntax: 'crypto ikev2 profile <WORD:name>',
    no: 'same',
    enters: 'ikev2-profile',
    feature: 'ipsec',
    apply: block((a) => a.model.crypto.ikev2Profiles, (name, a) => newIkev2Profile(name, a.pos)),
  },
  {
    syntax: 'crypto ikev2 proposal <WORD:name>',
    no: 'same',
    enters: 'ikev2-proposal',
    feature: 'ipsec',
    apply: block((a) => a.model.crypto.ikev2Proposals, (name, a): ProposalDraft => ({ name, pos: a.pos, encryption: [], integrity: [], prf: [], groups: [], settingPos: {} })),
  },
  {
    syntax: 'crypto ikev2 policy <WORD:name>',
    no: 'same',
    enters: 'ikev2-policy',
    feature: 'ipsec',
    apply: block((a) => a.model.crypto.ikev2Policies, (name, a): PolicyDraft => ({ name, pos: a.pos, proposals: [], matchAddressLocal: [] })),
  },
  {
    syntax: 'crypto ipsec profile <WORD:name>',
    no: 'same',
    enters: 'ipsec-profile',
    feature: 'ipsec',
    apply: block((a) => a.model.crypto.ipsecProfiles, (name, a) => newIpsecProfile(name, a.pos)),
  },
  {
    syntax: `crypto ipsec transform-set <WORD:name> ${TRANSFORMS}+`,
    no: `crypto ipsec transform-set <WORD:name> ${TRANSFORMS}`,
    enters: 'transform-set',
    feature: 'ipsec',
    apply: transformSet,
  },
  { syntax: 'end', control: 'end', apply: () => undefined },
  EXIT_ROW as Row<ModelDraft>,
];

export const globalTable = table('global', rows);
