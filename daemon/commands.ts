/** The operator commands the daemon answers over its control socket. */
import type { Router } from './router.js';
import type { TunnelRuntime } from './tunnel.js';
import { CommandError, type CommandResult } from './control/commands.js';
import {
  showDmvpn, showDmvpnDetail, dmvpnData, showIpNhrp, nhrpData, showIpNhrpBrief, showIpNhrpNhs, nhsData, showIpNhrpTraffic, trafficData,
  type TunnelView,
} from './show/nhrp.js';
import { showIpRoute, routeData } from './show/route.js';
import { renderRunningConfig } from './config/render.js';
import { VERSION } from './version.js';
import type { EigrpRuntime } from './eigrp.js';
import { renderIkev2Sa, renderCryptoSession, peersCryptoShow } from '../protocols/ikev2/show.js';
import { ipsecPeers, renderIpsecSa, DEFAULT_LIFETIME_KB, type CryptoSource, type IpsecPeerJson } from './show/crypto.js';
import { isIpv4 } from '../protocols/wire/index.js';
import type { SaStats } from '../platform/native/esp.js';
import { renderNeighbors, renderTopology, renderInterfaces, renderTraffic } from '../protocols/eigrp/show.js';

function views(r: Router): { t: TunnelRuntime; v: TunnelView }[] {
  return r.tunnels.map((t) => ({ t, v: { engine: t.engine, ifname: t.name, since: t.since } }));
}

/** A protected tunnel's IKE SAs and ESP counters (undefined without `tunnel protection`). */
function cryptoSource(r: Router, t: TunnelRuntime, now: number): CryptoSource | undefined {
  const s = r.ipsec.get(t.name);
  if (!s) return undefined;
  const profile = r.model.crypto.ipsecProfiles.find((p) => p.name === s.profile);
  return {
    ifname: t.name, localAddress: s.localAddress, peers: peersCryptoShow(s.manager.sas(), now), stats: t.saStats(),
    lifetimeKilobytes: profile?.lifetimeKilobytes ?? DEFAULT_LIFETIME_KB,
  };
}

/**
 * `show crypto ipsec sa [peer ADDR]`: IOS's per-flow layout; --json keeps the
 * dataplane's raw SA table (`sas`) beside the per-peer view. With a peer, only
 * the tunnels that have it, and only its SAs: nothing at all for an unknown peer.
 */
function showIpsecSa(r: Router, only?: string): CommandResult {
  const now = r.now();
  interface Row { interface: string; localAddress: string; peers: IpsecPeerJson[]; sas: SaStats | null; counters?: Readonly<Record<string, number>> | null }
  const data = r.tunnels.flatMap((t): Row[] => {
    const src = cryptoSource(r, t, now);
    const peers = src ? ipsecPeers(src, only) : [];
    const sas = t.saStats() ?? null;
    if (only === undefined) return [{ interface: t.name, localAddress: t.engineCfg.nbmaAddress, peers, sas, counters: t.stats() ?? null }];
    if (peers.length === 0) return [];
    const spis = new Set(peers.flatMap((p) => p.inbound.map((i) => i.spi)));
    const mine = sas && {
      outbound: sas.outbound.filter((o) => o.nbma === only),
      inbound: sas.inbound.filter((i) => spis.has(i.spi)),
      protected: sas.protected.filter((q) => q.nbma === only),
    };
    return [{ interface: t.name, localAddress: t.engineCfg.nbmaAddress, peers, sas: mine }];
  });
  const text = data.map((d) => renderIpsecSa(d.interface, d.localAddress, d.peers)).filter((x) => x).join('\n');
  return { text, data };
}

function perTunnel(r: Router, text: (v: TunnelView, now: number) => string, data: (v: TunnelView, now: number) => unknown): CommandResult {
  const now = r.now();
  const vs = views(r);
  return { text: vs.map(({ v }) => text(v, now)).join('\n'), data: vs.map(({ v }) => data(v, now)) };
}

export function registerShowCommands(r: Router): void {
  const add = r.commands.add.bind(r.commands);
  add({ words: ['show', 'dmvpn'], help: 'DMVPN peers per tunnel', run: () => perTunnel(r, showDmvpn, dmvpnData) });
  add({
    words: ['show', 'dmvpn', 'detail'], help: 'DMVPN peers with their target networks',
    run: async () => {
      await Promise.all(r.tunnels.map((t) => t.refreshStats?.()));
      const now = r.now();
      const vs = views(r);
      const detail = (t: TunnelRuntime) => ({
        up: !t.cfg.shutdown, address: t.engineCfg.protocolAddress, source: t.engineCfg.nbmaAddress, protect: t.cfg.protection?.profile,
      });
      // Each NBMA peer's crypto session (IOS: the crypto socket NHRP opened for it), in the order of the peer table.
      const crypto = (t: TunnelRuntime, v: TunnelView): { list: IpsecPeerJson[]; byPeer: Map<string, IpsecPeerJson> } => {
        const src = cryptoSource(r, t, now);
        const byPeer = new Map((src ? ipsecPeers(src) : []).map((p) => [p.peer, p]));
        const list = dmvpnData(v, now).peers.flatMap((p) => byPeer.get(p.nbma) ?? []);
        return { list, byPeer };
      };
      const out = vs.map(({ t, v }) => ({ t, v, c: crypto(t, v) }));
      return {
        text: out.map(({ t, v, c }) => showDmvpnDetail(v, detail(t), now, c.list)).join('\n'),
        data: out.map(({ t, v, c }) => {
          const d = dmvpnData(v, now);
          return { ...d, ...detail(t), nhs: nhsData(v, now), peers: d.peers.map((p) => ({ ...p, crypto: c.byPeer.get(p.nbma) ?? null })) };
        }),
      };
    },
  });
  add({ words: ['show', 'ip', 'nhrp'], help: 'NHRP cache (detail)', run: () => perTunnel(r, showIpNhrp, (v, now) => nhrpData(v, now)) });
  add({ words: ['show', 'ip', 'nhrp', 'detail'], help: 'NHRP cache (detail)', run: () => perTunnel(r, showIpNhrp, (v, now) => nhrpData(v, now)) });
  add({
    words: ['clear', 'ip', 'nhrp'], help: 'forget dynamic NHRP entries',
    run: () => {
      for (const t of r.tunnels) t.run(t.engine.clear());
      return { text: '', data: { cleared: r.tunnels.map((t) => t.name) } };
    },
  });
  add({ words: ['show', 'ip', 'nhrp', 'brief'], help: 'NHRP cache (brief)', run: () => perTunnel(r, (v) => showIpNhrpBrief(v), (v, now) => nhrpData(v, now)) });
  add({
    words: ['show', 'ip', 'nhrp', 'nhs'], help: 'NHS status', args: { min: 0, max: 1, help: 'an optional "detail"' },
    run: (args) => {
      if (args.length && !'detail'.startsWith(args[0].toLowerCase())) throw new CommandError('bad-argument', `% Invalid input "${args[0]}": expected "detail"`);
      return perTunnel(r, (v, now) => showIpNhrpNhs(v, now, args.length > 0), (v, now) => nhsData(v, now));
    },
  });
  add({ words: ['show', 'ip', 'nhrp', 'traffic'], help: 'NHRP packet counters', run: () => perTunnel(r, (v) => showIpNhrpTraffic(v), (v) => trafficData(v)) });
  add({ words: ['show', 'ip', 'route'], help: 'routing table', run: () => ({ text: showIpRoute(r.rib.table(), r.now()), data: routeData(r.rib.table(), r.now()) }) });
  add({
    words: ['show', 'running-config'], help: 'the configuration in use (secrets removed)',
    run: () => ({ text: renderRunningConfig(r.model, { redact: true }), data: { text: renderRunningConfig(r.model, { redact: true }) } }),
  });
  add({
    words: ['show', 'dataplane'], help: 'dataplane counters and tables (kernel or userspace)',
    run: async () => {
      await Promise.all(r.tunnels.map((t) => t.refreshStats?.()));
      const data = r.tunnels.map((t) => ({ tunnel: t.name, dataplane: t.dataplaneKind ?? null, counters: t.stats() ?? {}, peers: t.peers(), ignored: t.ignored }));
      const text = data.map((d) => [`${d.tunnel} (${d.dataplane ?? 'not started'} dataplane):`, ...Object.entries(d.counters).filter(([, v]) => v !== 0).map(([k, v]) => `  ${k.padEnd(28)} ${v}`),
        '  peers:', ...d.peers.map((p) => `    ${p.overlay.padEnd(16)} ${p.nbma.padEnd(16)} ${p.txPackets === undefined ? '' : `tx ${p.txPackets} pkts ${p.txBytes ?? 0} bytes`}`.trimEnd())].join('\n')).join('\n');
      return { text: text + '\n', data };
    },
  });
  const eigrpShow = (words: string[], help: string, args: { min: number; max: number; help: string } | undefined,
    run: (e: EigrpRuntime, now: number, args: readonly string[]) => { text: string; data: unknown }) =>
    add({
      words, help, args,
      run: (a) => {
        const now = r.now();
        const out = r.eigrp.map((e) => run(e, now, a));
        return { text: out.map((o) => o.text).join('\n'), data: out.map((o, i) => ({ as: r.eigrp[i].as, ...((o.data ?? {}) as object) })) };
      },
    });
  const detailArg = (a: readonly string[], word: string): boolean => {
    if (a.length && !word.startsWith(a[0].toLowerCase())) throw new CommandError('bad-argument', `% Invalid input "${a[0]}": expected "${word}"`);
    return a.length > 0;
  };
  eigrpShow(['show', 'ip', 'eigrp', 'neighbors'], 'EIGRP neighbours', { min: 0, max: 1, help: 'an optional "detail"' }, (e, now, a) => {
    const list = e.engine.showNeighbors(now);
    return { text: renderNeighbors(e.as, list, detailArg(a, 'detail')), data: { neighbors: list } };
  });
  eigrpShow(['show', 'ip', 'eigrp', 'topology'], 'EIGRP topology table', { min: 0, max: 1, help: 'an optional "all-links"' }, (e, _now, a) => {
    const list = e.engine.showTopology({ allLinks: detailArg(a, 'all-links') });
    return { text: renderTopology(e.as, e.cfg.routerId, list), data: { routerId: e.cfg.routerId, topology: list } };
  });
  eigrpShow(['show', 'ip', 'eigrp', 'interfaces'], 'EIGRP interfaces', { min: 0, max: 1, help: 'an optional "detail"' }, (e, _now, a) => {
    const list = e.engine.showInterfaces();
    return { text: renderInterfaces(e.as, list, detailArg(a, 'detail')), data: { interfaces: list } };
  });
  eigrpShow(['show', 'ip', 'eigrp', 'traffic'], 'EIGRP packet counters', undefined, (e) => {
    const t = e.engine.showTraffic();
    return { text: renderTraffic(t), data: { traffic: t, sendFailures: e.sendFailures } };
  });
  add({
    words: ['show', 'crypto', 'ikev2', 'sa'], help: 'IKEv2 SAs', args: { min: 0, max: 1, help: 'an optional "detailed"' },
    run: (a) => {
      const detailed = detailArg(a, 'detailed');
      const now = r.now();
      const rows = [...r.ipsec.values()].flatMap((s) => s.manager.showIkev2Sa(now));
      return { text: renderIkev2Sa(rows, detailed), data: rows };
    },
  });
  add({
    words: ['show', 'crypto', 'session'], help: 'crypto sessions per peer',
    run: () => {
      const out = [...r.ipsec.entries()].map(([ifname, s]) => ({ ifname, profile: s.profile, rows: s.manager.showCryptoSession() }));
      return { text: out.map((o) => renderCryptoSession(o.rows, o.ifname, o.profile)).join('\n'), data: out };
    },
  });
  const refreshed = async (): Promise<void> => void (await Promise.all(r.tunnels.map((t) => t.refreshStats?.())));
  add({ words: ['show', 'crypto', 'ipsec', 'sa'], help: 'ESP SAs per peer with packet, byte and error counters', run: async () => (await refreshed(), showIpsecSa(r)) });
  add({
    words: ['show', 'crypto', 'ipsec', 'sa', 'peer'], help: 'ESP SAs with one NBMA peer', args: { min: 1, max: 1, help: "the peer's IPv4 address" },
    run: (a) => {
      if (!isIpv4(a[0])) throw new CommandError('bad-argument', `% Invalid IPv4 address "${a[0]}" after "show crypto ipsec sa peer"`);
      return refreshed().then(() => showIpsecSa(r, a[0]));
    },
  });
  add({
    words: ['show', 'crypto', 'keys'], help: 'session keys for Wireshark (--wireshark): ikev2_decryption_table and esp_sa lines',
    args: { min: 0, max: 1, help: 'an optional "wireshark"' },
    run: (a) => {
      if (a.length && !['wireshark', '--wireshark'].includes(a[0].toLowerCase())) throw new CommandError('bad-argument', `% Invalid input "${a[0]}": expected "--wireshark"`);
      const keys = [...r.ipsec.values()].map((s) => s.manager.wiresharkKeys());
      const ikev2 = keys.flatMap((k) => k.ikev2);
      const esp = keys.flatMap((k) => k.esp);
      return { text: `# ikev2_decryption_table\n${ikev2.join('\n')}\n# esp_sa\n${esp.join('\n')}\n`, data: { ikev2, esp } };
    },
  });
  add({ words: ['show', 'version'], help: 'daemon version', run: () => ({ text: `dmvpnd ${VERSION}, uptime ${Math.round((r.now() - r.started) / 1000)} s\n`, data: { version: VERSION, uptimeMs: r.now() - r.started } }) });
}
