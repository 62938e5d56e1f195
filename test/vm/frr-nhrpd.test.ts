/**
 * NHRP against a real peer: FRR's nhrpd (Debian 12's FRR 8.4) needs the kernel's ip_gre, so the
 * scenarios of scripts/vm/nhrp-interop.ts run in one boot of the kernel VM, for each of our
 * dataplanes, and this file asserts on their JSON report:
 *   (a) FRR's spoke (`ip nhrp nhs dynamic nbma`) registers with our hub: our `show ip nhrp` and
 *       `show dmvpn` list it, FRR's `show ip nhrp nhs`/`cache` show our hub as its NHS;
 *   (b) our spoke registers with FRR's hub (`map multicast dynamic`, `redirect`);
 *   (c) a ping from FRR's spoke to ours, through either hub, makes both spokes resolve each
 *       other (Phase 3: the hub's Traffic Indication, Resolution Requests and Replies both ways,
 *       all answered with success): FRR's `show ip nhrp cache` and our `show ip nhrp` agree,
 *       each holding the other spoke's own NBMA address; and in the capture on the underlay
 *       bridge the first echo went to the hub while every echo of a later ping went straight
 *       between the spokes' NBMA addresses.
 * Also, in every scenario: no ICMP unreachable on the underlay, and our hub sends no ICMP redirect
 * (IOS hubs run `no ip redirects`; NHRP redirects instead).
 * The scenarios run once in the VM (before()); each test reads its part of the JSON report, and a
 * failure prints the failed steps, the daemons' logs and where the whole transcript was kept.
 * Outside CI a missing VM kernel (or FRR) skips it, like test/vm/vm.test.ts; in CI it fails.
 */
import { before, test } from 'node:test';
import { needsVm, runVmReports } from './vm-opts.js';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { EchoRow, FrrState, OurState, ScenarioReport } from '../../scripts/vm/nhrp-interop-report.js';

const INTEROP = fileURLToPath(new URL('../../scripts/vm/nhrp-interop.js', import.meta.url));

/** Our dataplanes, each against both hubs (DMVPN_INTEROP_DATAPLANES narrows it, e.g. "userspace"). */
const DATAPLANES = (process.env.DMVPN_INTEROP_DATAPLANES ?? 'userspace,kernel').split(',').filter(Boolean) as ('userspace' | 'kernel')[];
const HUBS = ['ours', 'frr'] as const;
/** The VM's bound: four scenarios of one minute each under TCG on an idle host, up to eight on a loaded one, and the boot. */
const VM_TIMEOUT_S = 2400;

function vmOpts(): { skip?: string } {
  return needsVm('timeout', '/usr/lib/frr/nhrpd', '/usr/lib/frr/zebra', 'vtysh', 'tshark', 'tcpdump', 'nft');
}
const opts = vmOpts();

let reports: ScenarioReport[] = [];
let runError = '';
/** Where the runner's transcript was kept, when a scenario failed. */
let transcriptPath = '';

before(() => {
  if (opts.skip !== undefined) return;
  ({ reports, runError, transcriptPath } = runVmReports<ScenarioReport>('frr-nhrpd', INTEROP, ['--json', '--dataplane', DATAPLANES.join(',')], VM_TIMEOUT_S));
}, { timeout: (VM_TIMEOUT_S + 90) * 1000 });

function report(hub: 'ours' | 'frr', dataplane: string): ScenarioReport {
  assert.equal(runError, '', runError);
  const r = reports.find((x) => x.hub === hub && x.dataplane === dataplane);
  assert.ok(r, `no report for hub ${hub}, dataplane ${dataplane}`);
  return r;
}

/** The steps of the scenario that failed, up to a phase ('registration' leaves the resolution out). */
function failedSteps(r: ScenarioReport, upTo: 'registration' | 'all'): ScenarioReport['steps'] {
  // Reading the capture counts for every check: the packets are evidence for all of them.
  return r.steps.filter((s) => !s.ok && (upTo === 'all' || s.phase !== 'resolution'));
}

/** Everything a failed assertion should show: the failed steps, then the transcript's evidence. */
function why(r: ScenarioReport): string {
  const failed = r.steps.filter((s) => !s.ok).map((s) => `${s.name}: ${s.error}`);
  const logs = Object.entries(r.evidence?.logs ?? {}).map(([k, v]) => `--- ${k}\n${v.slice(-25).join('\n')}`);
  return [...failed, ...logs, r.evidence?.summary ?? '', transcriptPath && `(the runner's transcript: ${transcriptPath})`].join('\n');
}

const HUB_NBMA = '203.0.113.1';
const FRR_NBMA = '203.0.113.11';
const FRR_TUNNEL = '10.0.0.11';
const OUR_NBMA = '203.0.113.12';
const OUR_TUNNEL = '10.0.0.12';

const echoes = (rows: readonly EchoRow[]): string =>
  rows.map((e) => `${e.frame} ${e.src} > ${e.dst} ${e.kind} ${e.innerSrc} > ${e.innerDst}`).join('\n') || '(none)';
const entry = (s: OurState, proto: string) => s.nhrp.find((e) => e.prefix === proto && e.prefixLength === 32);
const frrRow = (s: FrrState, proto: string) => s.cache.find((c) => c.protocol === proto);

for (const dataplane of DATAPLANES) {
  test(`FRR nhrpd spoke registers with our hub (${dataplane} dataplane): both sides show it`, { ...opts, timeout: 10_000 }, () => {
    const r = report('ours', dataplane);
    assert.deepEqual(failedSteps(r, 'registration'), [], why(r));
    const reg = r.registered!;
    const hub = reg.hub.ours!;
    // Our hub: FRR's registration (no-unique, so no U flag) next to our spoke's (unique).
    const frr = entry(hub, '10.0.0.11')!;
    assert.deepEqual([frr.type, frr.nbma, frr.flags.includes('registered'), frr.flags.includes('unique')], ['dynamic', '203.0.113.11', true, false]);
    const ours = entry(hub, '10.0.0.12')!;
    assert.deepEqual([ours.type, ours.nbma, ours.flags.includes('unique')], ['dynamic', '203.0.113.12', true]);
    assert.deepEqual(hub.dmvpn!.peers.map((p) => [p.nbma, p.tunnel, p.state, p.attributes]), [
      ['203.0.113.11', '10.0.0.11', 'UP', 'D'], ['203.0.113.12', '10.0.0.12', 'UP', 'D'],
    ]);
    assert.match(hub.text.dmvpn, /^ +1 203\.0\.113\.11 +10\.0\.0\.11 +UP +[0-9:]{8} +D$/m);
    // FRR's spoke learnt our hub's protocol address from the reply (it registered to its own).
    assert.deepEqual(reg.frrSpoke.nhs.map((n) => [n.nbma, n.protocol]), [['203.0.113.1', '10.0.0.1']]);
    assert.deepEqual(frrRow(reg.frrSpoke, '10.0.0.1') && [frrRow(reg.frrSpoke, '10.0.0.1')!.type, frrRow(reg.frrSpoke, '10.0.0.1')!.nbma], ['nhs', '203.0.113.1']);
    assert.match(reg.frrSpoke.text.nhs, /^gre1 +203\.0\.113\.1 +203\.0\.113\.1 +10\.0\.0\.1\s*$/m);
    // On the wire: FRR asked with itself as the destination, we answered success naming the hub.
    const req = r.packets.find((p) => p.type === 'registration-request' && p.src === '203.0.113.11')!;
    assert.deepEqual([req.srcProto, req.dstProto], ['10.0.0.11', '10.0.0.11']);
    const rep = r.packets.find((p) => p.type === 'registration-reply' && p.dst === '203.0.113.11' && p.code === 0)!;
    assert.deepEqual([rep.src, rep.srcProto, rep.dstProto], ['203.0.113.1', '10.0.0.11', '10.0.0.1']);
    assert.deepEqual(r.unreachables, [], 'no ICMP unreachable on the underlay');
  });

  test(`our hub sends no ICMP redirect when it forwards spoke to spoke (${dataplane} dataplane)`, { ...opts, timeout: 10_000 }, () => {
    const r = report('ours', dataplane);
    assert.ok(r.pings.first && r.pings.first.received > 0, why(r));
    // Phase 3 is the hub's NHRP Traffic Indication; IOS DMVPN hubs run `no ip redirects`, and an
    // ICMP redirect naming another spoke's tunnel address is no use to a spoke without its binding.
    assert.ok(r.packets.some((p) => p.type === 'traffic-indication' && p.src === '203.0.113.1'), 'the hub sent a Traffic Indication');
    assert.deepEqual(r.redirects, [], 'ICMP redirects from our hub');
  });

  test(`our spoke registers with an FRR nhrpd hub (${dataplane} dataplane)`, { ...opts, timeout: 10_000 }, () => {
    const r = report('frr', dataplane);
    assert.deepEqual(failedSteps(r, 'registration'), [], why(r));
    const reg = r.registered!;
    const hub = reg.hub.frr!;
    assert.deepEqual([frrRow(hub, '10.0.0.12')?.type, frrRow(hub, '10.0.0.12')?.nbma], ['dynamic', '203.0.113.12']);
    assert.deepEqual([frrRow(hub, '10.0.0.11')?.type, frrRow(hub, '10.0.0.11')?.nbma], ['dynamic', '203.0.113.11']);
    assert.match(hub.text.cache, /^gre1 +dynamic +10\.0\.0\.12 +203\.0\.113\.12 /m);
    assert.deepEqual(reg.ourSpoke.nhs.map((n) => [n.nhs, n.nbma, n.state, n.status]), [['10.0.0.1', '203.0.113.1', 'responding', 'R']]);
    assert.match(reg.ourSpoke.text.nhs, /^10\.0\.0\.1 +R +NBMA Address: 203\.0\.113\.1 /m);
    const rep = r.packets.find((p) => p.type === 'registration-reply' && p.dst === '203.0.113.12')!;
    assert.deepEqual([rep.code, rep.srcProto, rep.dstProto], [0, '10.0.0.12', '10.0.0.1']);
    assert.deepEqual(r.unreachables, [], 'no ICMP unreachable on the underlay');
  });

  for (const hub of HUBS) {
    test(`FRR spoke and our spoke resolve each other through ${hub === 'ours' ? 'our' : 'FRR\'s'} hub (${dataplane} dataplane)`, { ...opts, timeout: 10_000 }, () => {
      const r = report(hub, dataplane);
      assert.deepEqual(failedSteps(r, 'all'), [], why(r));
      assert.ok(r.pings.first!.received >= 1, 'the first ping got through the hub');
      assert.deepEqual([r.pings.second!.transmitted, r.pings.second!.received], [3, 3]);
      const res = r.resolved!;
      // The caches, side by side: each spoke maps the other to the other's own NBMA address.
      const row = (p: string) => r.comparison.find((c) => c.protocol === p);
      assert.deepEqual(row('10.0.0.12'), { protocol: '10.0.0.12', frr: { type: 'dynamic', nbma: '203.0.113.12' }, ours: { type: 'local', nbma: '203.0.113.12' } });
      assert.deepEqual(row('10.0.0.11'), { protocol: '10.0.0.11', frr: { type: 'local', nbma: '203.0.113.11' }, ours: { type: 'dynamic', nbma: '203.0.113.11' } });
      assert.deepEqual(row('10.0.0.1'), { protocol: '10.0.0.1', frr: { type: 'nhs', nbma: '203.0.113.1' }, ours: { type: 'static', nbma: '203.0.113.1' } });
      assert.match(res.frrSpoke.text.cache, /^gre1 +dynamic +10\.0\.0\.12 +203\.0\.113\.12 /m);
      assert.match(res.ourSpoke.text.nhrp, /^10\.0\.0\.11\/32 via 10\.0\.0\.11\n.*\n +Type: dynamic, .*\n +NBMA address: 203\.0\.113\.11/m);
      assert.ok(res.ourSpoke.dmvpn!.peers.some((p) => p.nbma === '203.0.113.11' && p.tunnel === '10.0.0.11' && p.state === 'UP'));
      // Both resolutions happened on the wire and were answered with success.
      for (const [asker, target] of [['10.0.0.11', '10.0.0.12'], ['10.0.0.12', '10.0.0.11']]) {
        assert.ok(r.packets.some((p) => p.type === 'resolution-request' && p.srcProto === asker && p.dstProto === target), `${asker} asked for ${target}`);
        assert.ok(r.packets.some((p) => p.type === 'resolution-reply' && p.srcProto === asker && p.dstProto === target && p.code === 0), `${asker} got ${target}`);
      }
      // The hub pointed FRR's spoke at the shortcut: a Traffic Indication from the hub to 203.0.113.11.
      assert.ok(r.packets.some((p) => p.type === 'traffic-indication' && p.src === '203.0.113.1' && p.dst === '203.0.113.11'), 'the hub sent FRR a Traffic Indication');
      // The echo path, from the capture on the underlay bridge: the first echo request went to the
      // hub's NBMA address; every echo of the second ping (3 requests, 3 replies) went straight
      // between the spokes' NBMA addresses and none through the hub.
      assert.ok(r.echoes.some((e) => e.kind === 'request' && e.src === FRR_NBMA && e.dst === HUB_NBMA && e.innerSrc === FRR_TUNNEL && e.innerDst === OUR_TUNNEL),
        `the first echo went through the hub:\n${echoes(r.echoes)}`);
      // (At least one of each: a loaded host may stop the capture before it wrote the last pair.)
      const late = r.echoes.filter((e) => e.epoch * 1000 >= r.pings.second!.startedAt);
      const lateReq = late.filter((e) => e.kind === 'request' && e.src === FRR_NBMA && e.dst === OUR_NBMA && e.innerDst === OUR_TUNNEL).length;
      const lateRep = late.filter((e) => e.kind === 'reply' && e.src === OUR_NBMA && e.dst === FRR_NBMA && e.innerDst === FRR_TUNNEL).length;
      assert.ok(lateReq >= 1 && lateRep >= 1 && lateReq + lateRep === late.length, `the second ping's echoes, all straight between the spokes:\n${echoes(late)}`);
      assert.ok(r.directEchoes >= 6, `echoes went straight between the spokes (${r.directEchoes})`);
      assert.deepEqual(r.unreachables, [], 'no ICMP unreachable on the underlay');
      // No NHRP error went either way.
      assert.deepEqual(r.packets.filter((p) => p.type === 'error-indication'), []);
      assert.deepEqual(r.packets.filter((p) => p.type.endsWith('-reply') && p.code !== 0), [], 'every reply succeeded');
    });
  }
}
