/**
 * The reference lab end to end with real packets: four dmvpnd processes in
 * network namespaces on the userspace dataplane, registration, show output,
 * the Phase 3 traceroute (through the hub, then direct), what the underlay
 * carries (tshark), and a clean stop that purges at the hub.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Lab, labTimeScale, type RouterName } from '../../scripts/lab/topology.js';
import { needsTool, isRoot } from '../support/tools.js';

const opts = !isRoot() && process.env.CI !== 'true' ? { skip: 'needs root for network namespaces' } : needsTool('ip', 'traceroute', 'tcpdump', 'tshark');

function hops(out: string): string[] {
  return out.split('\n').filter((l) => /^\s*\d+\s/.test(l)).map((l) => (l.match(/\d+\.\d+\.\d+\.\d+/) ?? ['*'])[0]);
}

test('lab: hub and three spokes register, EIGRP carries the LANs, Phase 3 builds the spoke-to-spoke shortcut', { ...opts, timeout: 240_000 * labTimeScale() }, async (t) => {
  const lab = new Lab(`dt${process.pid % 100000}`);
  try {
    lab.build();
    const pcap = join(lab.dir, 'underlay.pcap');
    const dump = await lab.capture('ul', 'br0', pcap, 'ip proto 47');
    try {
      for (const r of ['hub', 'spoke1', 'spoke2', 'spoke3'] as RouterName[]) lab.startDaemon(r);
      await lab.waitFor('three spokes UP at the hub', () => {
        const d = lab.ctlJson<{ type: string; peers: { nbma: string; tunnel: string; state: string; attributes: string }[] }[]>('hub', ['show', 'dmvpn']);
        return d?.[0]?.peers.filter((p) => p.state === 'UP' && p.attributes === 'D').length === 3;
      }, 60_000);
      // EIGRP AS 1 over the tunnel, as the reference lab configures it: every router learns every LAN.
      await lab.waitFor('EIGRP routes to every LAN', () => (['hub', 'spoke1', 'spoke2', 'spoke3'] as RouterName[]).every((r, idx) => {
        const routes = lab.ctlJson<{ code: string; prefix: string; nextHop: string | null }[]>(r, ['show', 'ip', 'route']) ?? [];
        const d = new Set(routes.filter((x) => x.code === 'D').map((x) => x.prefix));
        return [0, 1, 2, 3].filter((i) => i !== idx).every((i) => d.has(`192.168.${i}.0`));
      }), 30_000);
      const nbrs = lab.ctlJson<{ neighbors: { address: string }[] }[]>('hub', ['show', 'ip', 'eigrp', 'neighbors'])!;
      assert.deepEqual(nbrs[0].neighbors.map((n) => n.address).sort(), ['10.0.0.11', '10.0.0.12', '10.0.0.13']);
      assert.match(lab.ctl('spoke2', ['show', 'ip', 'route']).stdout, /^D {5}192\.168\.1\.0\/24 \[90\/\d+\] via 10\.0\.0\.1, [0-9:]{8}, Tunnel0$/m);
      const dm = lab.ctlJson<{ type: string; peers: { nbma: string; tunnel: string }[] }[]>('hub', ['show', 'dmvpn'])!;
      assert.equal(dm[0].type, 'Hub');
      assert.deepEqual(dm[0].peers.map((p) => [p.nbma, p.tunnel]), [['203.0.113.11', '10.0.0.11'], ['203.0.113.12', '10.0.0.12'], ['203.0.113.13', '10.0.0.13']]);
      const brief = lab.ctl('hub', ['show', 'ip', 'nhrp', 'brief']).stdout;
      assert.match(brief, /^Tu0 {6}10\.0\.0\.12 {42}203\.0\.113\.12$/m);
      assert.match(brief, /^ {9}10\.0\.0\.12\/32 {32}D\/r/m);
      assert.match(lab.ctl('spoke2', ['show', 'ip', 'nhrp', 'nhs']).stdout, /^10\.0\.0\.1 {2}R/m);

      // Phase 3: the first traceroute goes through the hub, the hub redirects, the second goes direct.
      // One probe per hop: the shortcut can be in place within milliseconds, before a second probe of hop 1.
      const tr = ['traceroute', '-n', '-N', '1', '-q', '1', '-w', '1', '192.168.1.1'];
      const first = lab.exec('spoke2', tr, { check: false, timeoutMs: 40_000 }).stdout;
      assert.deepEqual(hops(first), ['10.0.0.1', '192.168.1.1'], first);
      await lab.waitFor('the NHRP shortcut on spoke2', () => /^H {5}192\.168\.1\.0\/24 \[250\/1\] via 10\.0\.0\.11/m.test(lab.ctl('spoke2', ['show', 'ip', 'route']).stdout), 10_000);
      const second = lab.exec('spoke2', tr, { check: false, timeoutMs: 40_000 }).stdout;
      assert.deepEqual(hops(second), ['192.168.1.1'], second);
      // The kernel carries the shortcut too, as an NHRP route (protocol 191).
      const kroute = lab.exec('spoke2', ['ip', '-N', '-j', 'route', 'show', '192.168.1.0/24']).stdout;
      assert.deepEqual(JSON.parse(kroute).map((r: { gateway: string; dev: string; protocol: string }) => [r.gateway, r.dev, String(r.protocol)]), [['10.0.0.11', 'Tunnel0', '191']]);
      if (lab.options.dataplane === 'kernel') {
        // What the daemon programmed: a multipoint ip_gre device and NHRP's mappings as neighbours.
        const show = (r: RouterName, args: string[]): string => lab.exec(r, args).stdout;
        t.diagnostic(`spoke2: ip -d link show Tunnel0\n${show('spoke2', ['ip', '-d', 'link', 'show', 'Tunnel0'])}`);
        t.diagnostic(`spoke2: ip neigh show dev Tunnel0\n${show('spoke2', ['ip', 'neigh', 'show', 'dev', 'Tunnel0'])}`);
        t.diagnostic(`hub: ip neigh show dev Tunnel0\n${show('hub', ['ip', 'neigh', 'show', 'dev', 'Tunnel0'])}`);
        const link = JSON.parse(show('spoke2', ['ip', '-d', '-j', 'link', 'show', 'Tunnel0']))[0] as { link_type: string; linkinfo: { info_kind: string; info_data: Record<string, unknown> } };
        assert.equal(link.link_type, 'gre');
        assert.equal(link.linkinfo.info_kind, 'gre');
        assert.equal(link.linkinfo.info_data.local, '203.0.113.12');
        assert.ok(!link.linkinfo.info_data.remote || link.linkinfo.info_data.remote === 'any', 'no remote: multipoint');
        const neigh = (r: RouterName) => (JSON.parse(show(r, ['ip', '-j', 'neigh', 'show', 'dev', 'Tunnel0'])) as { dst: string; lladdr: string; state: string[] }[])
          .map((n) => `${n.dst} ${n.lladdr} ${n.state.join(',')}`).sort();
        assert.deepEqual(neigh('spoke2'), ['10.0.0.1 203.0.113.1 PERMANENT', '10.0.0.11 203.0.113.11 PERMANENT']);
        assert.deepEqual(neigh('hub'), ['10.0.0.11 203.0.113.11 PERMANENT', '10.0.0.12 203.0.113.12 PERMANENT', '10.0.0.13 203.0.113.13 PERMANENT']);
      }
      // Hosts on the LANs reach each other over the shortcut.
      assert.equal(lab.exec('h2', ['ping', '-c', '2', '-W', '2', '192.168.1.10'], { check: false, timeoutMs: 10_000 }).status, 0);
      const sdm = lab.ctl('spoke2', ['show', 'dmvpn']).stdout;
      assert.match(sdm, /^ {5}2 203\.0\.113\.11 {10}10\.0\.0\.11 {4}UP [0-9:]{8} {5}D$/m);
      assert.match(sdm, /^ {29}10\.0\.0\.11 {4}UP [0-9:]{8} {3}DT1$/m);
      // `ip tcp adjust-mss 1360`: a TCP connection between the LAN hosts over the shortcut has its
      // SYN's MSS (1460 from a 1500-byte LAN) rewritten by the dataplane, which counts it.
      const mssBefore = lab.ctlJson<{ counters: Record<string, number> }[]>('spoke2', ['show', 'dataplane'])![0].counters.mssClamped;
      const server = spawn('ip', ['netns', 'exec', lab.ns('h1'), process.execPath, '-e',
        `const s=require('net').createServer((c)=>c.end('ok')).listen(8080,()=>{console.log('listening');setTimeout(()=>s.close(),${8000 * labTimeScale()})})`], { stdio: ['ignore', 'pipe', 'ignore'] });
      try {
        // Wait for the server to listen (node starts slowly inside the VM).
        await new Promise<void>((res) => {
          const t = setTimeout(res, 5000 * labTimeScale());
          server.stdout!.once('data', () => { clearTimeout(t); res(); });
        });
        const client = lab.exec('h2', [process.execPath, '-e',
          "require('net').connect(8080,'192.168.1.10').on('data',(d)=>{console.log(String(d));process.exit(0)}).on('error',(e)=>{console.error(e.message);process.exit(1)})"],
        { check: false, timeoutMs: 10_000 });
        assert.equal(client.stdout.trim(), 'ok', client.stderr);
      } finally {
        server.kill();
      }
      const mssAfter = lab.ctlJson<{ counters: Record<string, number> }[]>('spoke2', ['show', 'dataplane'])![0].counters.mssClamped;
      assert.ok(mssAfter > mssBefore, `spoke2 clamped the SYN's MSS (${mssBefore} -> ${mssAfter})`);
      const hubTraffic = lab.ctlJson<{ sent: Record<string, number> }[]>('hub', ['show', 'ip', 'nhrp', 'traffic'])!;
      assert.ok((hubTraffic[0].sent['traffic indication'] ?? 0) >= 1, 'hub sent a traffic indication');

      // A clean stop purges the spoke at the hub at once (no waiting for the holdtime).
      await lab.stopDaemon('spoke3');
      await lab.waitFor('spoke3 gone from the hub', () => {
        const d = lab.ctlJson<{ peers: { tunnel: string }[] }[]>('hub', ['show', 'dmvpn']);
        return !!d && !d[0].peers.some((p) => p.tunnel === '10.0.0.13');
      }, 10_000);
    } catch (e) {
      for (const r of ['hub', 'spoke1', 'spoke2', 'spoke3'] as RouterName[]) console.error(`--- ${r} log ---\n${lab.log(r).split('\n').slice(-25).join('\n')}`);
      throw e;
    } finally {
      await dump.stop();
    }
    // Wireshark dissects everything the daemons put on the underlay, with no malformed packet.
    const ts = spawnSync('tshark', ['-r', pcap, '-T', 'fields', '-e', 'nhrp.hdr.op.type', '-e', '_ws.malformed', '-e', '_ws.expert.severity'], { encoding: 'utf8' });
    assert.equal(ts.status, 0, ts.stderr);
    const rows = ts.stdout.trim().split('\n').map((l) => l.split('\t'));
    const types = new Set(rows.map((r) => r[0]).filter(Boolean));
    for (const t of ['3', '4', '1', '2', '8', '5']) assert.ok(types.has(t), `NHRP type ${t} on the wire (saw ${[...types].join(',')})`);
    assert.ok(rows.every((r) => !r[1]), 'no malformed packet');
  } finally {
    await lab.destroy();
  }
  const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  assert.ok(!left.includes(lab.prefix), `namespaces left behind: ${left}`);
});
