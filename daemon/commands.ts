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
import { renderIkev2Sa, renderCryptoSession } from '../protocols/ikev2/show.js';
import { renderNeighbors, renderTopology, renderInterfaces, renderTraffic } from '../protocols/eigrp/show.js';

function views(r: Router): { t: TunnelRuntime; v: TunnelView }[] {
  return r.tunnels.map((t) => ({ t, v: { engine: t.engine, ifname: t.name, since: t.since } }));
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
    run: () => {
      const now = r.now();
      const vs = views(r);
      const detail = (t: TunnelRuntime) => ({
        up: !t.cfg.shutdown, address: t.engineCfg.protocolAddress, source: t.engineCfg.nbmaAddress, protect: t.cfg.protection?.profile,
      });
      return {
        text: vs.map(({ t, v }) => showDmvpnDetail(v, detail(t), now)).join('\n'),
        data: vs.map(({ t, v }) => ({ ...dmvpnData(v, now), ...detail(t), nhs: nhsData(v, now) })),
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
    words: ['show', 'dataplane'], help: 'userspace dataplane counters and tables',
    run: () => {
      const data = r.tunnels.map((t) => ({ tunnel: t.name, counters: t.stats() ?? {}, peers: t.peers(), ignored: t.ignored }));
      const text = data.map((d) => [`${d.tunnel}:`, ...Object.entries(d.counters).filter(([, v]) => v !== 0).map(([k, v]) => `  ${k.padEnd(28)} ${v}`),
        '  peers:', ...d.peers.map((p) => `    ${p.overlay.padEnd(16)} ${p.nbma.padEnd(16)} tx ${p.txPackets} pkts ${p.txBytes} bytes`)].join('\n')).join('\n');
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
  add({
    words: ['show', 'crypto', 'ipsec', 'sa'], help: 'ESP SAs with packet, byte and drop counters',
    run: () => {
      const data = r.tunnels.map((t) => ({ interface: t.name, sas: t.saStats() ?? null, counters: t.stats() ?? null }));
      const lines: string[] = [];
      for (const d of data) {
        lines.push(`interface: ${d.interface}`);
        for (const o of d.sas?.outbound ?? []) lines.push(`   peer ${o.nbma}  outbound esp sa: spi 0x${o.spi.toString(16)} ${o.cipher}${o.integrity ? ` ${o.integrity}` : ''}  #pkts encaps: ${o.packets}, bytes ${o.bytes}`);
        for (const i of d.sas?.inbound ?? []) lines.push(`   inbound esp sa: spi 0x${i.spi.toString(16)} ${i.cipher}${i.integrity ? ` ${i.integrity}` : ''}  #pkts decaps: ${i.packets}, bytes ${i.bytes}, replay drops ${i.replayDrops}, auth failures ${i.authFailures}`);
      }
      return { text: lines.join('\n') + '\n', data };
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
