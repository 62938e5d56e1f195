/**
 * The crypto blocks as IOS writes them for DMVPN with IKEv2 (RFC 7296) and ESP
 * (RFC 4303): ikev2 keyring / peer, ikev2 profile, ipsec profile, ikev2
 * proposal and policy, and the transform-set sub-mode.
 */
import { maskLength, parseIpv4 } from './args.js';
import {
  removeWhere, type Ikev2ProfileDraft, type IpsecProfileDraft, type KeyringDraft, type PeerDraft,
  type PolicyDraft, type ProposalDraft, type TransformSetDraft,
} from './builder.js';
import { IKEV2_DEFAULT_LIFETIME, IPSEC_DEFAULT_LIFETIME_KILOBYTES, IPSEC_DEFAULT_LIFETIME_SECONDS, type DhGroup, type Ikev2Encryption, type Ikev2Hash, type PfsGroup } from './model.js';
import { EXIT_ROW, openBlock, table, type Apply, type Row } from './modes.js';

function prefix(a: Apply<unknown>, defaultMask = '255.255.255.255'): { address: string; mask: string; prefixLength: number } | undefined {
  const address = a.m.str('address');
  const mask = a.m.optStr('mask') ?? defaultMask;
  const mk = parseIpv4(mask) as number;
  if ((((parseIpv4(address) as number) & ~mk) >>> 0) !== 0) {
    a.error('address', `inconsistent address and mask: ${address} has host bits set for mask ${mask}`);
    return undefined;
  }
  return { address, mask, prefixLength: maskLength(mk) as number };
}

const keyringRows: Row<KeyringDraft>[] = [
  {
    syntax: 'peer <WORD:name>',
    no: 'same',
    enters: 'keyring-peer',
    apply(a): PeerDraft | undefined {
      const name = a.m.str('name');
      if (a.negated) {
        removeWhere(a.ctx.peers, (p) => p.name === name);
        return undefined;
      }
      return openBlock(a, a.ctx.peers, (p) => p.name === name, (): PeerDraft => ({ name, pos: a.pos, settingPos: {} }), `peer ${name}`);
    },
  },
  EXIT_ROW as Row<KeyringDraft>,
];

const peerRows: Row<PeerDraft>[] = [
  {
    syntax: 'address <A.B.C.D:address> [<MASK:mask>]',
    no: 'address [<A.B.C.D:address> [<MASK:mask>]]',
    apply(a) {
      if (a.negated) {
        a.ctx.address = undefined;
        return;
      }
      const p = prefix(a);
      if (p) a.ctx.address = { ...p, pos: a.pos };
    },
  },
  {
    syntax: 'pre-shared-key [local | remote] <SECRET:key>',
    no: 'pre-shared-key [local | remote] [<SECRET:key>]',
    apply(a) {
      const key = a.negated ? undefined : a.m.secret('key');
      if (a.m.has('local')) a.ctx.presharedKeyLocal = key;
      else if (a.m.has('remote')) a.ctx.presharedKeyRemote = key;
      else a.ctx.presharedKey = key;
    },
  },
  { syntax: 'description <LINE:text>', no: 'description [<LINE:text>]', apply: (a) => void (a.ctx.description = a.negated ? undefined : a.m.str('text')) },
  EXIT_ROW as Row<PeerDraft>,
];

const profileRows: Row<Ikev2ProfileDraft>[] = [
  {
    syntax: 'match address local (interface <IF:interface> | <A.B.C.D:address>)',
    no: 'same',
    apply(a) {
      const address = a.m.optStr('address');
      const name = a.m.optStr('interface');
      const same = (x: Ikev2ProfileDraft['matchAddressLocal'][number]): boolean =>
        x.kind === 'address' ? x.address === address : x.name === name;
      if (a.negated) removeWhere(a.ctx.matchAddressLocal, same);
      else if (!a.ctx.matchAddressLocal.some(same)) {
        a.ctx.matchAddressLocal.push(address !== undefined ? { kind: 'address', address, pos: a.pos } : { kind: 'interface', name: name as string, pos: a.at('interface') });
      }
    },
  },
  {
    syntax: 'match identity remote address <A.B.C.D:address> [<MASK:mask>]',
    no: 'same',
    apply(a) {
      const p = prefix(a);
      if (!p) return;
      const same = (x: { address: string; mask: string }): boolean => x.address === p.address && x.mask === p.mask;
      if (a.negated) removeWhere(a.ctx.matchIdentityRemote, same);
      else if (!a.ctx.matchIdentityRemote.some(same)) a.ctx.matchIdentityRemote.push({ ...p, pos: a.pos });
    },
  },
  {
    syntax: 'authentication (local | remote) pre-share',
    no: 'same',
    apply(a) {
      const v = a.negated ? undefined : 'pre-share';
      if (a.m.has('local')) a.ctx.authenticationLocal = v;
      else a.ctx.authenticationRemote = v;
      a.ctx.settingPos[a.m.has('local') ? 'authentication local' : 'authentication remote'] = a.pos;
    },
  },
  {
    syntax: 'keyring local <WORD:name>',
    no: 'keyring [local [<WORD:name>]]',
    apply: (a) => void (a.ctx.keyring = a.negated ? undefined : { name: a.m.str('name'), pos: a.at('name') }),
  },
  { syntax: 'lifetime <120-86400:seconds>', no: 'lifetime [<120-86400:seconds>]', apply: (a) => void (a.ctx.lifetime = a.negated ? IKEV2_DEFAULT_LIFETIME : a.m.num('seconds')) },
  {
    syntax: 'dpd <10-3600:interval> <2-60:retry> (on-demand | periodic)',
    no: 'dpd [<10-3600:interval> <2-60:retry> (on-demand | periodic)]',
    apply(a) {
      a.ctx.dpd = a.negated ? undefined : { interval: a.m.num('interval'), retry: a.m.num('retry'), mode: a.m.has('periodic') ? 'periodic' : 'on-demand', pos: a.pos };
    },
  },
  { syntax: 'description <LINE:text>', no: 'description [<LINE:text>]', apply: (a) => void (a.ctx.description = a.negated ? undefined : a.m.str('text')) },
  EXIT_ROW as Row<Ikev2ProfileDraft>,
];

const PFS = 'group2 | group5 | group14 | group19 | group20 | group21 | group31';

const ipsecProfileRows: Row<IpsecProfileDraft>[] = [
  {
    syntax: 'set ikev2-profile <WORD:name>',
    no: 'set ikev2-profile [<WORD:name>]',
    apply: (a) => void (a.ctx.ikev2Profile = a.negated ? undefined : { name: a.m.str('name'), pos: a.at('name') }),
  },
  {
    syntax: 'set transform-set <WORD:name>+',
    no: 'set transform-set [<WORD:name>+]',
    apply(a) {
      const names = a.m.all('name') as string[];
      if (names.length > 6) {
        a.error(undefined, 'at most 6 transform sets');
        return;
      }
      const toks = a.m.captures.filter((c) => c.el.t === 'arg' && c.el.name === 'name').map((c) => a.m.tokens[c.token]);
      a.ctx.transformSets = a.negated ? [] : names.map((name, i) => ({ name, pos: { ...a.pos, column: toks[i].col } }));
    },
  },
  {
    syntax: `set pfs [${PFS}]`,
    no: 'same',
    apply(a) {
      const group = a.m.keywords<PfsGroup>(['group2', 'group5', 'group14', 'group19', 'group20', 'group21', 'group31'])[0];
      a.ctx.pfs = a.negated ? undefined : { group, pos: a.pos };
    },
  },
  {
    syntax: 'set security-association lifetime (seconds <120-2592000:seconds> | kilobytes <2560-4294967295:kilobytes>)',
    no: 'set security-association lifetime (seconds [<120-2592000:seconds>] | kilobytes [<2560-4294967295:kilobytes>])',
    apply(a) {
      if (a.m.has('seconds')) a.ctx.lifetimeSeconds = a.negated ? IPSEC_DEFAULT_LIFETIME_SECONDS : a.m.num('seconds');
      else a.ctx.lifetimeKilobytes = a.negated ? IPSEC_DEFAULT_LIFETIME_KILOBYTES : a.m.num('kilobytes');
    },
  },
  EXIT_ROW as Row<IpsecProfileDraft>,
];

/** Additive list commands (IOS merges `encryption a` then `encryption b` into `encryption a b`). */
function listRow<T extends string | number>(
  syntax: string,
  words: readonly string[],
  get: (p: ProposalDraft) => T[],
  conv: (w: string) => T,
): Row<ProposalDraft> {
  return {
    syntax: `${syntax} {${words.join(' | ')}}+`,
    no: `${syntax} {${words.join(' | ')}}`,
    apply(a) {
      const given = a.m.keywords(words).map(conv);
      const list = get(a.ctx);
      if (a.negated) {
        if (given.length === 0) list.length = 0;
        else removeWhere(list, (x) => given.includes(x));
        return;
      }
      for (const g of given) if (!list.includes(g)) list.push(g);
    },
  };
}

const HASHES: readonly Ikev2Hash[] = ['sha1', 'sha256', 'sha384', 'sha512'];

const proposalRows: Row<ProposalDraft>[] = [
  listRow<Ikev2Encryption>('encryption', ['aes-cbc-128', 'aes-cbc-192', 'aes-cbc-256', 'aes-gcm-128', 'aes-gcm-256'], (p) => p.encryption, (w) => w as Ikev2Encryption),
  listRow<Ikev2Hash>('integrity', HASHES, (p) => p.integrity, (w) => w as Ikev2Hash),
  listRow<Ikev2Hash>('prf', HASHES, (p) => p.prf, (w) => w as Ikev2Hash),
  listRow<DhGroup>('group', ['2', '5', '14', '19', '20', '21', '31'], (p) => p.groups, (w) => Number(w) as DhGroup),
  EXIT_ROW as Row<ProposalDraft>,
];

const policyRows: Row<PolicyDraft>[] = [
  {
    syntax: 'proposal <WORD:name>',
    no: 'same',
    apply(a) {
      const name = a.m.str('name');
      if (a.negated) removeWhere(a.ctx.proposals, (p) => p.name === name);
      else if (!a.ctx.proposals.some((p) => p.name === name)) a.ctx.proposals.push({ name, pos: a.at('name') });
    },
  },
  {
    syntax: 'match address local <A.B.C.D:address>',
    no: 'same',
    apply(a) {
      const address = a.m.str('address');
      if (a.negated) removeWhere(a.ctx.matchAddressLocal, (x) => x.address === address);
      else if (!a.ctx.matchAddressLocal.some((x) => x.address === address)) a.ctx.matchAddressLocal.push({ address, pos: a.pos });
    },
  },
  EXIT_ROW as Row<PolicyDraft>,
];

const transformSetRows: Row<TransformSetDraft>[] = [
  {
    syntax: 'mode (transport | tunnel)',
    no: 'mode [transport | tunnel]',
    apply: (a) => void (a.ctx.mode = !a.negated && a.m.has('transport') ? 'transport' : 'tunnel'),
  },
  EXIT_ROW as Row<TransformSetDraft>,
];

export const keyringTable = table('ikev2-keyring', keyringRows);
export const peerTable = table('keyring-peer', peerRows);
export const ikev2ProfileTable = table('ikev2-profile', profileRows);
export const ipsecProfileTable = table('ipsec-profile', ipsecProfileRows);
export const proposalTable = table('ikev2-proposal', proposalRows);
export const policyTable = table('ikev2-policy', policyRows);
export const transformSetTable = table('transform-set', transformSetRows);
