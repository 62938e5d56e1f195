/**
 * `router eigrp AS` (IOS `config-router`, classic mode) and `key chain` /
 * `key N` (`config-keychain`, `config-keychain-key`).
 */
import { parseIpv4 } from './args.js';
import { removeWhere, type EigrpDraft, type KeyChainDraft, type KeyDraft } from './builder.js';
import { EIGRP_DEFAULT_K, type KeyChainKey } from './model.js';
import { EXIT_ROW, openBlock, table, type Row } from './modes.js';
import { u32ToIpv4 } from '../../protocols/wire/addr.js';

const STUB = '{connected | summary | static | redistributed | receive-only}';
const METRIC = 'metric <1-4294967295:bandwidth> <0-4294967295:delay> <0-255:reliability> <1-255:load> <1-65535:mtu>';
const WEIGHTS = '<0-0:tos> <0-255:k1> <0-255:k2> <0-255:k3> <0-255:k4> <0-255:k5>';

const eigrpRows: Row<EigrpDraft>[] = [
  {
    syntax: 'network <A.B.C.D:address> [<WILDCARD:wildcard>]',
    no: 'same',
    apply(a) {
      const wildcard = a.m.optStr('wildcard');
      let address = a.m.str('address');
      // IOS stores the network with the wildcard bits cleared (10.0.0.1 0.0.0.255 shows as 10.0.0.0).
      if (wildcard !== undefined) address = u32ToIpv4(((parseIpv4(address) as number) & ~(parseIpv4(wildcard) as number)) >>> 0);
      const same = (n: { address: string; wildcard?: string }): boolean => n.address === address && n.wildcard === wildcard;
      if (a.negated) removeWhere(a.ctx.networks, same);
      else if (!a.ctx.networks.some(same)) a.ctx.networks.push({ address, wildcard, pos: a.pos });
    },
  },
  {
    syntax: 'passive-interface (default | <IF:interface>)',
    no: 'same',
    apply(a) {
      const e = a.ctx;
      const name = a.m.optStr('interface');
      if (name === undefined) {
        // `passive-interface default` resets every per-interface exception, as IOS does.
        e.passiveDefault = !a.negated;
        e.passiveInterfaces = [];
        e.nonPassiveInterfaces = [];
        return;
      }
      // Under `passive-interface default` the list holds the exceptions (`no passive-interface X`).
      const list = e.passiveDefault ? e.nonPassiveInterfaces : e.passiveInterfaces;
      const adding = e.passiveDefault ? a.negated : !a.negated;
      if (!adding) removeWhere(list, (r) => r.name === name);
      else if (!list.some((r) => r.name === name)) list.push({ name, pos: a.at('interface') });
    },
  },
  {
    syntax: 'eigrp router-id <A.B.C.D:id>',
    no: 'eigrp router-id [<A.B.C.D:id>]',
    apply(a) {
      if (a.negated) {
        a.ctx.routerId = undefined;
        return;
      }
      const id = a.m.str('id');
      if (id === '0.0.0.0' || id === '255.255.255.255') {
        a.error('id', `${id} cannot be a router ID`);
        return;
      }
      a.ctx.routerId = id;
    },
  },
  {
    syntax: `eigrp stub ${STUB}`,
    no: 'same',
    apply(a) {
      if (a.negated) {
        a.ctx.stub = undefined;
        return;
      }
      const kinds = a.m.keywords(['connected', 'summary', 'static', 'redistributed', 'receive-only']);
      if (kinds.includes('receive-only') && kinds.length > 1) {
        a.error('receive-only', 'receive-only cannot be combined with other stub options');
        return;
      }
      // A bare `eigrp stub` means `eigrp stub connected summary` (IOS default).
      const k = kinds.length === 0 ? ['connected', 'summary'] : kinds;
      a.ctx.stub = {
        connected: k.includes('connected'), summary: k.includes('summary'), static: k.includes('static'),
        redistributed: k.includes('redistributed'), receiveOnly: k.includes('receive-only'), pos: a.pos,
      };
    },
  },
  {
    syntax: `redistribute (connected | static) [${METRIC}]`,
    no: 'same',
    apply(a) {
      const source = a.m.has('connected') ? 'connected' : 'static';
      const list = a.ctx.redistribute;
      removeWhere(list, (r) => r.source === source);
      if (a.negated) return;
      const metric = a.m.has('metric')
        ? { bandwidth: a.m.num('bandwidth'), delay: a.m.num('delay'), reliability: a.m.num('reliability'), load: a.m.num('load'), mtu: a.m.num('mtu') }
        : undefined;
      list.push({ source, metric, pos: a.pos });
    },
  },
  {
    syntax: `metric weights ${WEIGHTS}`,
    no: `metric weights [${WEIGHTS}]`,
    apply(a) {
      const k = a.negated ? [...EIGRP_DEFAULT_K] : ['k1', 'k2', 'k3', 'k4', 'k5'].map((n) => a.m.num(n));
      a.ctx.kWeights = k as EigrpDraft['kWeights'];
    },
  },
  { syntax: 'variance <1-128:multiplier>', no: 'variance [<1-128:multiplier>]', apply: (a) => void (a.ctx.variance = a.negated ? 1 : a.m.num('multiplier')) },
  { syntax: 'maximum-paths <1-32:paths>', no: 'maximum-paths [<1-32:paths>]', apply: (a) => void (a.ctx.maximumPaths = a.negated ? 4 : a.m.num('paths')) },
  {
    syntax: 'distance eigrp <1-255:internal> <1-255:external>',
    no: 'distance eigrp [<1-255:internal> <1-255:external>]',
    apply(a) {
      a.ctx.internalDistance = a.negated ? 90 : a.m.num('internal');
      a.ctx.externalDistance = a.negated ? 170 : a.m.num('external');
    },
  },
  { syntax: 'auto-summary', no: 'same', apply: (a) => void (a.ctx.autoSummary = !a.negated) },
  EXIT_ROW as Row<EigrpDraft>,
];

const keyChainRows: Row<KeyChainDraft>[] = [
  {
    syntax: 'key <0-2147483647:id>',
    no: 'same',
    enters: 'keychain-key',
    apply(a): KeyDraft | undefined {
      const id = a.m.num('id');
      if (a.negated) {
        removeWhere(a.ctx.keys, (k) => k.id === id);
        return undefined;
      }
      return openBlock(a, a.ctx.keys, (k) => k.id === id, (): KeyDraft => ({ id, pos: a.pos, settingPos: {} }), `key ${id}`);
    },
  },
  EXIT_ROW as Row<KeyChainDraft>,
];

const keyRows: Row<KeyDraft>[] = [
  { syntax: 'key-string <SECRET:string>', no: 'key-string [<SECRET:string>]', apply: (a) => void (a.ctx.keyString = a.negated ? undefined : a.m.secret('string')) },
  {
    syntax: 'cryptographic-algorithm (md5 | hmac-sha-1 | hmac-sha-256 | hmac-sha-384 | hmac-sha-512)',
    no: 'cryptographic-algorithm [md5 | hmac-sha-1 | hmac-sha-256 | hmac-sha-384 | hmac-sha-512]',
    apply(a) {
      a.ctx.algorithm = a.negated ? undefined : a.m.keywords<NonNullable<KeyChainKey['algorithm']>>(['md5', 'hmac-sha-1', 'hmac-sha-256', 'hmac-sha-384', 'hmac-sha-512'])[0];
    },
  },
  EXIT_ROW as Row<KeyDraft>,
];

export const eigrpTable = table('router-eigrp', eigrpRows);
export const keyChainTable = table('keychain', keyChainRows);
export const keyTable = table('keychain-key', keyRows);
