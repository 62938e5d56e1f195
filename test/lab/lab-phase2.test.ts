/**
 * DMVPN Phase 2 with real packets: the reference lab with the hub passing each spoke's LAN on with
 * the spoke itself as EIGRP next hop (`no ip next-hop-self eigrp 1`, no redirect, no shortcut on the
 * spokes). spoke2's route to spoke1's LAN points at 10.0.0.11, which it has no mapping for: traffic
 * on that route makes it resolve 10.0.0.11 through the NHS, after which the packets go spoke to spoke.
 * On the userspace dataplane the first packets go via the NHS meanwhile; on the kernel dataplane
 * (test/vm/lab-kernel runs this file in the VM) the kernel holds them on the neighbour entry and
 * asks the daemon (RTM_GETNEIGH), as IOS's CEF asks NHRP for an incomplete adjacency.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Lab, labTimeScale, type RouterName } from '../../scripts/lab/topology.js';
import { needsTool, isRoot } from '../support/tools.js';

const opts = !isRoot() && process.env.CI !== 'true' ? { skip: 'needs root for network namespaces' } : needsTool('ip', 'traceroute', 'tcpdump', 'tshark');
const ROUTERS: RouterName[] = ['hub', 'spoke1', 'spoke2', 'spoke3'];

interface NhrpEntry { prefix: string; nbma: string | null; type: string }
type Traffic = { sent: Record<string, number> }[];

function hops(out: string): string[] {
  return out.split('\n').filter((l) => /^\s*\d+\s/.test(l)).map((l) => (l.match(/\d+\.\d+\.\d+\.\d+/) ?? ['*'])[0]);
}

test('lab phase 2: a spoke resolves its route\'s next hop through the NHS, then sends spoke to spoke', { ...opts, timeout: 240_000 * labTimeScale() }, async (t) => {
  const lab = new Lab(`dp${process.pid % 100000}`, undefined, { phase: 2 });
  try {
    lab.build();
    const pcap = join(lab.dir, 'underlay.pcap');
    const dump = await lab.capture('ul', 'br0', pcap, 'ip proto 47');
    try {
      for (const r of ROUTERS) lab.startDaemon(r);
      await lab.waitFor('three spokes UP at the hub', () => {
        const d = lab.ctlJson<{ peers: { state: string }[] }[]>('hub', ['show', 'dmvpn']);
        return d?.[0]?.peers.filter((p) => p.state === 'UP').length === 3;
      }, 60_000);
      // Phase 2: the hub keeps the originating spoke as next hop.
      await lab.waitFor('spoke2\'s route to spoke1\'s LAN via spoke1', () =>
        /^D {5}192\.168\.1\.0\/24 \[90\/\d+\] via 10\.0\.0\.11, [0-9:]{8}, Tunnel0$/m.test(lab.ctl('spoke2', ['show', 'ip', 'route']).stdout), 45_000);
      const entry = (): NhrpEntry | undefined => lab.ctlJson<NhrpEntry[][]>('spoke2', ['show', 'ip', 'nhrp'])?.[0]?.find((e) => e.prefix === '10.0.0.11');
      assert.equal(entry(), undefined, 'no mapping for spoke1 before any traffic');

      // Traffic on the route: resolved through the hub, then direct.
      const ping = lab.exec('h2', ['ping', '-c', '5', '-i', '0.3', '-W', '2', '192.168.1.10'], { check: false, timeoutMs: 20_000 });
      assert.match(ping.stdout, / [1-5] received/, `some echoes answered while spoke1 was resolved:\n${ping.stdout}`);
      await lab.waitFor('spoke2 maps 10.0.0.11 to 203.0.113.11', () => entry()?.nbma === '203.0.113.11', 15_000);
      assert.equal(lab.exec('h2', ['ping', '-c', '3', '-W', '2', '192.168.1.10'], { check: false, timeoutMs: 15_000 }).status, 0);
      const tr = lab.exec('spoke2', ['traceroute', '-n', '-N', '1', '-q', '1', '-w', '1', '192.168.1.1'], { check: false, timeoutMs: 40_000 }).stdout;
      assert.deepEqual(hops(tr), ['192.168.1.1'], `direct to spoke1, not through the hub:\n${tr}`);
      const sdm = lab.ctl('spoke2', ['show', 'dmvpn']).stdout;
      assert.match(sdm, /^ {5}1 203\.0\.113\.11 {10}10\.0\.0\.11 {4}UP [0-9:]{8} {5}D$/m, sdm);
      if (lab.options.dataplane === 'kernel') {
        const neigh = JSON.parse(lab.exec('spoke2', ['ip', '-j', 'neigh', 'show', 'dev', 'Tunnel0', 'to', '10.0.0.11']).stdout) as { lladdr?: string }[];
        t.diagnostic(`spoke2: ip neigh show dev Tunnel0\n${lab.exec('spoke2', ['ip', 'neigh', 'show', 'dev', 'Tunnel0']).stdout}`);
        assert.deepEqual(neigh.map((n) => n.lladdr), ['203.0.113.11']);
      }
      // No Phase 3 here: the hub never sends a Traffic Indication.
      assert.equal(lab.ctlJson<Traffic>('hub', ['show', 'ip', 'nhrp', 'traffic'])?.[0]?.sent['traffic indication'] ?? 0, 0);
    } catch (e) {
      for (const r of ROUTERS) console.error(`--- ${r} log ---\n${lab.log(r).split('\n').slice(-25).join('\n')}`);
      throw e;
    } finally {
      await dump.stop();
    }
    // On the wire: spoke2 asked the hub, spoke1 answered spoke2 directly, and the echoes then went spoke to spoke.
    const ts = spawnSync('tshark', ['-r', pcap, '-T', 'fields', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'nhrp.hdr.op.type', '-e', 'icmp.type', '-e', '_ws.malformed'], { encoding: 'utf8' });
    assert.equal(ts.status, 0, ts.stderr);
    const rows = ts.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
    const ip = (r: string[]): string => `${r[0].split(',')[0]} > ${r[1].split(',')[0]}`;
    assert.ok(rows.some((r) => r[2] === '1' && ip(r) === '203.0.113.12 > 203.0.113.1'), 'resolution request from spoke2 to the hub');
    assert.ok(rows.some((r) => r[2] === '2' && ip(r) === '203.0.113.11 > 203.0.113.12'), 'resolution reply from spoke1 to spoke2');
    assert.ok(rows.some((r) => r[3].split(',').includes('8') && ip(r) === '203.0.113.12 > 203.0.113.11'), 'echo requests spoke to spoke');
    assert.ok(!rows.some((r) => r[2] === '8'), 'no traffic indication');
    assert.deepEqual(rows.filter((r) => (r[4] ?? '') !== ''), [], 'nothing malformed');
  } finally {
    await lab.destroy();
  }
});
