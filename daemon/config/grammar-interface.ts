/**
 * Interface mode (IOS `config-if`). Tunnel interfaces take the whole DMVPN set
 * (NHRP, tunnel, IP); Linux interfaces (the underlay and the LANs) take the
 * address, description, shutdown, bandwidth, delay and the EIGRP per-interface
 * commands. Tunnel-only commands on a Linux interface are an error.
 */
import { maskLength, parseIpv4 } from './args.js';
import { newEigrpIf, removeWhere, type EigrpIfDraft, type InterfaceDraft, type TunnelDraft } from './builder.js';
import { defaultBandwidth, defaultDelay, EIGRP_DEFAULT_HELLO, EIGRP_DEFAULT_HOLD, NHRP_DEFAULT_HOLDTIME } from './model.js';
import { EXIT_ROW, table, type Apply, type Row } from './modes.js';

type A = Apply<InterfaceDraft>;

/** The tunnel this line configures, or an error when the interface is a Linux one. */
function tunnel(a: A): TunnelDraft | undefined {
  if (a.ctx.kind === 'tunnel') return a.ctx;
  a.error(undefined, `"${a.command}" is only valid on a tunnel interface (${a.ctx.name} is a Linux interface)`);
  return undefined;
}

function eigrpIf(a: A): EigrpIfDraft {
  const as = a.m.num('as');
  let e = a.ctx.eigrp.find((x) => x.as === as);
  if (!e) {
    e = newEigrpIf(as, a.pos);
    a.ctx.eigrp.push(e);
  }
  e.settingPos[a.command] = a.pos;
  return e;
}

/** A tunnel-only row whose handler gets the tunnel. */
function t(syntax: string, no: string | undefined, apply: (a: A, tu: TunnelDraft) => void, feature?: Row<InterfaceDraft>['feature']): Row<InterfaceDraft> {
  return {
    syntax,
    no,
    feature,
    apply(a) {
      const tu = tunnel(a);
      if (tu) apply(a, tu);
    },
  };
}

/** An `ip nhrp ...` row: tunnel only, needs the nhrp capability. */
function nhrp(syntax: string, no: string | undefined, apply: (a: A, tu: TunnelDraft) => void): Row<InterfaceDraft> {
  return t(syntax, no, apply, 'nhrp');
}

const AS = '<1-65535:as>';

const rows: Row<InterfaceDraft>[] = [
  {
    syntax: 'ip address <A.B.C.D:address> <MASK:mask>',
    no: 'ip address [<A.B.C.D:address> <MASK:mask>]',
    apply(a) {
      if (a.negated) {
        a.ctx.address = undefined;
        return;
      }
      const address = a.m.str('address');
      const mask = a.m.str('mask');
      const addr = parseIpv4(address) as number;
      const mk = parseIpv4(mask) as number;
      const len = maskLength(mk) as number;
      const host = (addr & ~mk) >>> 0;
      // IOS: "Bad mask /24 for address 10.0.0.0": the network and broadcast addresses are not hosts.
      if (len === 0 || (len <= 30 && (host === 0 || host === (~mk >>> 0)))) {
        a.error('address', `bad mask /${len} for address ${address}`);
        return;
      }
      a.ctx.address = { address, mask, prefixLength: len, pos: a.pos };
    },
  },
  {
    syntax: 'ip redirects',
    no: 'same',
    apply(a) {
      a.ctx.ipRedirects = !a.negated;
      const word = a.m.token('redirects')?.text.toLowerCase();
      if (!a.negated && a.ctx.kind === 'tunnel' && word !== 'redirects') {
        a.warn('redirects', `"ip ${word}" is "ip redirects" (ICMP redirects, already on by default); ` +
          'NHRP Phase 3 redirects on a hub are enabled by "ip nhrp redirect"');
      }
    },
  },
  {
    syntax: 'description <LINE:text>',
    no: 'description [<LINE:text>]',
    apply(a) {
      const text = a.m.optStr('text');
      if (text !== undefined && text.length > 240) {
        a.error('text', 'description is longer than 240 characters');
        return;
      }
      a.ctx.description = a.negated ? undefined : text;
    },
  },
  { syntax: 'shutdown', no: 'same', apply: (a) => void (a.ctx.shutdown = !a.negated) },
  {
    syntax: 'bandwidth <1-100000000:kbps>',
    no: 'bandwidth [<1-100000000:kbps>]',
    apply: (a) => void (a.ctx.bandwidth = a.negated ? defaultBandwidth(a.ctx.kind, a.ctx.name) : a.m.num('kbps')),
  },
  {
    syntax: 'delay <1-16777215:tens-of-usec>',
    no: 'delay [<1-16777215:tens-of-usec>]',
    apply: (a) => void (a.ctx.delay = a.negated ? defaultDelay(a.ctx.kind, a.ctx.name) : a.m.num('tens-of-usec')),
  },
  t('ip mtu <68-17912:bytes>', 'ip mtu [<68-17912:bytes>]', (a, tu) => {
    tu.ipMtuConfigured = !a.negated;
    if (!a.negated) tu.ipMtu = a.m.num('bytes');
  }),
  t('ip tcp adjust-mss <500-1460:mss>', 'ip tcp adjust-mss [<500-1460:mss>]', (a, tu) => {
    tu.tcpAdjustMss = a.negated ? undefined : a.m.num('mss');
  }),

  // NHRP (Cisco's `ip nhrp` interface commands, RFC 2332 with Cisco's extensions)
  nhrp('ip nhrp authentication <SECRET8:string>', 'ip nhrp authentication [<SECRET8:string>]', (a, tu) => {
    tu.nhrp.authentication = a.negated ? undefined : a.m.secret('string');
  }),
  nhrp('ip nhrp map <A.B.C.D:protocol> <A.B.C.D:nbma>', 'same', (a, tu) => {
    const protocol = a.m.str('protocol');
    const nbma = a.m.str('nbma');
    const same = (x: { protocol: string; nbma: string }): boolean => x.protocol === protocol && x.nbma === nbma;
    if (a.negated) removeWhere(tu.nhrp.staticMaps, same);
    else if (!tu.nhrp.staticMaps.some(same)) tu.nhrp.staticMaps.push({ protocol, nbma, pos: a.pos });
  }),
  nhrp('ip nhrp map multicast (dynamic | <A.B.C.D:nbma>)', 'same', (a, tu) => {
    const nbma = a.m.optStr('nbma');
    const same = (x: TunnelDraft['nhrp']['multicastMaps'][number]): boolean =>
      nbma === undefined ? x.kind === 'dynamic' : x.kind === 'static' && x.nbma === nbma;
    if (a.negated) removeWhere(tu.nhrp.multicastMaps, same);
    else if (!tu.nhrp.multicastMaps.some(same)) {
      tu.nhrp.multicastMaps.push(nbma === undefined ? { kind: 'dynamic', pos: a.pos } : { kind: 'static', nbma, pos: a.pos });
    }
  }),
  nhrp('ip nhrp network-id <1-4294967295:id>', 'ip nhrp network-id [<1-4294967295:id>]', (a, tu) => {
    tu.nhrp.networkId = a.negated ? undefined : a.m.num('id');
  }),
  nhrp('ip nhrp holdtime <1-65535:seconds>', 'ip nhrp holdtime [<1-65535:seconds>]', (a, tu) => {
    tu.nhrp.holdtime = a.negated ? NHRP_DEFAULT_HOLDTIME : a.m.num('seconds');
  }),
  nhrp('ip nhrp nhs <A.B.C.D:nhs> [nbma <A.B.C.D:nbma>] [multicast]', 'same', (a, tu) => {
    const address = a.m.str('nhs');
    const i = tu.nhrp.nhs.findIndex((n) => n.address === address);
    if (a.negated) {
      if (i >= 0) tu.nhrp.nhs.splice(i, 1);
      return;
    }
    const n = { address, nbma: a.m.optStr('nbma'), multicast: a.m.has('multicast'), pos: a.pos };
    if (i >= 0) tu.nhrp.nhs[i] = n;
    else tu.nhrp.nhs.push(n);
  }),
  nhrp('ip nhrp shortcut', 'same', (a, tu) => void (tu.nhrp.shortcut = !a.negated)),
  nhrp('ip nhrp redirect', 'same', (a, tu) => void (tu.nhrp.redirect = !a.negated)),
  nhrp('ip nhrp registration no-unique', 'same', (a, tu) => void (tu.nhrp.registrationNoUnique = !a.negated)),
  nhrp('ip nhrp registration timeout <1-65535:seconds>', 'ip nhrp registration timeout [<1-65535:seconds>]', (a, tu) => {
    tu.nhrp.registrationTimeoutConfigured = !a.negated;
    if (!a.negated) tu.nhrp.registrationTimeout = a.m.num('seconds');
  }),

  // Tunnel
  t('tunnel source (<A.B.C.D:address> | <IF:interface>)', 'tunnel source [<A.B.C.D:address> | <IF:interface>]', (a, tu) => {
    if (a.negated) tu.tunnelSource = undefined;
    else {
      const address = a.m.optStr('address');
      tu.tunnelSource = address !== undefined ? { kind: 'address', address, pos: a.pos } : { kind: 'interface', name: a.m.str('interface'), pos: a.pos };
    }
  }),
  t('tunnel mode gre (multipoint | ip)', 'tunnel mode [gre [multipoint | ip]]', (a, tu) => {
    tu.tunnelMode = !a.negated && a.m.has('multipoint') ? 'gre-multipoint' : 'gre-ip';
  }),
  t('tunnel key <0-4294967295:key>', 'tunnel key [<0-4294967295:key>]', (a, tu) => {
    tu.tunnelKey = a.negated ? undefined : a.m.num('key');
  }),
  t('tunnel path-mtu-discovery', 'same', (a, tu) => void (tu.pathMtuDiscovery = !a.negated)),
  t('tunnel protection ipsec profile <WORD:profile> [shared]', 'tunnel protection ipsec profile [<WORD:profile> [shared]]', (a, tu) => {
    tu.protection = a.negated ? undefined : { profile: a.m.str('profile'), shared: a.m.has('shared'), pos: a.pos };
  }, 'ipsec'),
  t('tunnel dataplane (kernel | userspace)', 'tunnel dataplane [kernel | userspace]', (a, tu) => {
    tu.dataplane = a.negated ? 'auto' : a.m.has('kernel') ? 'kernel' : 'userspace';
  }, (m) => (m.has('kernel') ? 'kernel-dataplane' : undefined)),

  // EIGRP per interface (RFC 7868 timers and Cisco's split-horizon / next-hop-self knobs)
  {
    syntax: `ip hello-interval eigrp ${AS} <1-65535:seconds>`,
    no: `ip hello-interval eigrp ${AS} [<1-65535:seconds>]`,
    feature: 'eigrp',
    apply: (a) => void (eigrpIf(a).helloInterval = a.negated ? EIGRP_DEFAULT_HELLO : a.m.num('seconds')),
  },
  {
    syntax: `ip hold-time eigrp ${AS} <1-65535:seconds>`,
    no: `ip hold-time eigrp ${AS} [<1-65535:seconds>]`,
    feature: 'eigrp',
    apply: (a) => void (eigrpIf(a).holdTime = a.negated ? EIGRP_DEFAULT_HOLD : a.m.num('seconds')),
  },
  { syntax: `ip split-horizon eigrp ${AS}`, no: 'same', feature: 'eigrp', apply: (a) => void (eigrpIf(a).splitHorizon = !a.negated) },
  { syntax: `ip next-hop-self eigrp ${AS}`, no: 'same', feature: 'eigrp', apply: (a) => void (eigrpIf(a).nextHopSelf = !a.negated) },
  {
    syntax: `ip summary-address eigrp ${AS} <A.B.C.D:prefix> <MASK:mask>`,
    no: 'same',
    feature: 'eigrp',
    apply(a) {
      const e = eigrpIf(a);
      const address = a.m.str('prefix');
      const mask = a.m.str('mask');
      const same = (s: { address: string; mask: string }): boolean => s.address === address && s.mask === mask;
      if (a.negated) removeWhere(e.summaries, same);
      else if ((((parseIpv4(address) as number) & ~(parseIpv4(mask) as number)) >>> 0) !== 0) {
        a.error('prefix', `inconsistent address and mask: ${address} has host bits set for mask ${mask}`);
      } else if (!e.summaries.some(same)) {
        e.summaries.push({ address, mask, prefixLength: maskLength(parseIpv4(mask) as number) as number, pos: a.pos });
      }
    },
  },
  {
    syntax: `ip authentication mode eigrp ${AS} (md5 | hmac-sha-256 [<SECRET:password>])`,
    no: `ip authentication mode eigrp ${AS} [md5 | hmac-sha-256 [<SECRET:password>]]`,
    feature: 'eigrp',
    apply(a) {
      const e = eigrpIf(a);
      e.authMode = a.negated ? undefined : a.m.has('md5') ? 'md5' : 'hmac-sha-256';
      e.authPassword = a.negated ? undefined : a.m.optSecret('password');
    },
  },
  {
    syntax: `ip authentication key-chain eigrp ${AS} <WORD:chain>`,
    no: `ip authentication key-chain eigrp ${AS} [<WORD:chain>]`,
    feature: 'eigrp',
    apply(a) {
      const e = eigrpIf(a);
      e.authKeyChain = a.negated ? undefined : { name: a.m.str('chain'), pos: a.at('chain') };
    },
  },
  EXIT_ROW as Row<InterfaceDraft>,
];

export const interfaceTable = table('interface', rows);
