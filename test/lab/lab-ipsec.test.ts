/**
 * The reference lab with tunnel protection on, as the reference configures it
 * (IKEv2 keyring with a PSK for 0.0.0.0/0, profile, ipsec profile): the underlay
 * carries only IKE and ESP between NBMA addresses, never clear GRE; EIGRP and
 * Phase 3 work through it, and the spoke-to-spoke SA comes up on demand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Lab, type RouterName } from '../../scripts/lab/topology.js';
import { needsTool, isRoot } from '../support/tools.js';

const opts = !isRoot() && process.env.CI !== 'true' ? { skip: 'needs root for network namespaces' } : needsTool('ip', 'traceroute', 'tcpdump', 'tshark');
const ROUTERS: RouterName[] = ['hub', 'spoke1', 'spoke2', 'spoke3'];

function hops(out: string): string[] {
  return out.split('\n').filter((l) => /^\s*\d+\s/.test(l)).map((l) => (l.match(/\d+\.\d+\.\d+\.\d+/) ?? ['*'])[0]);
}

test('lab with IPsec: only IKE and ESP on the underlay, EIGRP and Phase 3 through it, spoke-to-spoke SA on demand', { ...opts, timeout: 240_000 }, async () => {
  const lab = new Lab(`di${process.pid % 100000}`, undefined, { ipsec: true });
  try {
    lab.build();
    const pcap = join(lab.dir, 'underlay.pcap');
    const dump = spawn('ip', ['netns', 'exec', lab.ns('ul'), 'tcpdump', '--immediate-mode', '-i', 'br0', '-U', '-w', pcap, 'ip'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 500));
      for (const r of ROUTERS) lab.startDaemon(r);
      await lab.waitFor('three spokes UP at the hub', () => {
        const d = lab.ctlJson<{ peers: { state: string }[] }[]>('hub', ['show', 'dmvpn']);
        return d?.[0]?.peers.filter((p) => p.state === 'UP').length === 3;
      }, 60_000);
      await lab.waitFor('EIGRP routes to every LAN', () => ROUTERS.every((r, idx) => {
        const routes = lab.ctlJson<{ code: string; prefix: string }[]>(r, ['show', 'ip', 'route']) ?? [];
        const d = new Set(routes.filter((x) => x.code === 'D').map((x) => x.prefix));
        return [0, 1, 2, 3].filter((i) => i !== idx).every((i) => d.has(`192.168.${i}.0`));
      }), 60_000);
      const tr = ['traceroute', '-n', '-N', '1', '-q', '1', '-w', '1', '192.168.1.1'];
      assert.deepEqual(hops(lab.exec('spoke2', tr, { check: false, timeoutMs: 40_000 }).stdout), ['10.0.0.1', '192.168.1.1']);
      await lab.waitFor('the NHRP shortcut on spoke2', () => /^H {5}192\.168\.1\.0\/24/m.test(lab.ctl('spoke2', ['show', 'ip', 'route']).stdout), 15_000);
      // The spoke-to-spoke SA comes up on demand; the first packets wait in the dataplane meanwhile.
      await lab.waitFor('an IPsec SA between spoke2 and spoke1', () => {
        const s = lab.ctlJson<{ interface: string; sas: { outbound: { nbma: string }[] } | null }[]>('spoke2', ['show', 'crypto', 'ipsec', 'sa']);
        return !!s?.[0]?.sas?.outbound.some((o) => o.nbma === '203.0.113.11');
      }, 20_000);
      assert.deepEqual(hops(lab.exec('spoke2', tr, { check: false, timeoutMs: 40_000 }).stdout), ['192.168.1.1']);
      assert.equal(lab.exec('h2', ['ping', '-c', '2', '-W', '2', '192.168.1.10'], { check: false, timeoutMs: 10_000 }).status, 0);
      assert.match(lab.ctl('hub', ['show', 'crypto', 'ikev2', 'sa']).stdout, /203\.0\.113\.1[123]/);
      const keys = lab.ctl('spoke2', ['show', 'crypto', 'keys', '--wireshark']).stdout;
      assert.match(keys, /# esp_sa\n"IPv4","203\.0\.113\./);
    } catch (e) {
      for (const r of ROUTERS) console.error(`--- ${r} log ---\n${lab.log(r).split('\n').slice(-25).join('\n')}`);
      throw e;
    } finally {
      dump.kill('SIGINT');
      await new Promise((r) => setTimeout(r, 300));
    }
    // Between NBMA addresses: IKE (UDP 500) and ESP, and no clear GRE at all.
    const ts = spawnSync('tshark', ['-r', pcap, '-Y', 'ip.src == 203.0.113.0/24 && ip.dst == 203.0.113.0/24', '-T', 'fields', '-e', 'ip.proto', '-e', 'udp.dstport'], { encoding: 'utf8' });
    assert.equal(ts.status, 0, ts.stderr);
    const rows = ts.stdout.trim().split('\n').map((l) => l.split('\t'));
    const protos = new Map<string, number>();
    for (const [p] of rows) protos.set(p, (protos.get(p) ?? 0) + 1);
    assert.equal(protos.get('47') ?? 0, 0, `no clear GRE on the underlay (${[...protos].join(' ')})`);
    assert.ok((protos.get('50') ?? 0) > 20, `ESP carries the tunnel (${[...protos].join(' ')})`);
    assert.ok(rows.some(([p, port]) => p === '17' && port === '500'), 'IKE on UDP 500');
  } finally {
    await lab.destroy();
  }
});
