/**
 * The reference lab with tunnel protection on, as the reference configures it
 * (IKEv2 keyring with a PSK for 0.0.0.0/0, profile, ipsec profile): the underlay
 * carries only IKE and ESP between NBMA addresses, never clear GRE; EIGRP and
 * Phase 3 work through it, the spoke-to-spoke SA comes up on demand, shows in
 * `show crypto ipsec sa peer` and `show dmvpn detail`, and goes (INFORMATIONAL
 * Delete) when NHRP forgets the spoke, while the hub's SA stays. Wireshark,
 * given the keys `dmvpnctl show crypto keys --wireshark` prints as its UAT
 * files, decrypts our IKE_AUTH and ESP and dissects the GRE and NHRP inside.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, type RouterName } from '../../scripts/lab/topology.js';
import { needsTool, isRoot } from '../support/tools.js';
import { fields, expertItems, protocolStack, Severity, JUSTIFIED_NOTES, type TsharkLayers } from '../wireshark/support.js';

const opts = !isRoot() && process.env.CI !== 'true' ? { skip: 'needs root for network namespaces' } : needsTool('ip', 'traceroute', 'tcpdump', 'tshark');
const ROUTERS: RouterName[] = ['hub', 'spoke1', 'spoke2', 'spoke3'];
const HUB = '203.0.113.1';
const SPOKE1 = '203.0.113.11';
const SPOKE2 = '203.0.113.12';

function hops(out: string): string[] {
  return out.split('\n').filter((l) => /^\s*\d+\s/.test(l)).map((l) => (l.match(/\d+\.\d+\.\d+\.\d+/) ?? ['*'])[0]);
}

interface IkeRow { remote: string; localSpi: string; status: string }

/**
 * No malformed mark, no warning or error, only justified notes. Beyond the EIGRP
 * TTL notes (support.ts), each for a stated reason:
 * - "Time To Live" only 1: traceroute's first probe leaves with TTL 1 by design,
 *   and the ICMP errors and Traffic Indications that follow quote it;
 * - "Bogus IP version", an error, inside an NHRP Traffic Indication that quotes
 *   an ICMP error: the engine quotes the trigger's IP header and first 8 octets,
 *   and Wireshark's NHRP dissector hands everything after the mandatory part to
 *   the quoted packet's dissector (packet-nhrp.c: tvb_new_subset_remaining), so
 *   the ICMP dissector reads our NHRP extensions as the error's embedded IP header.
 */
function assertCleanFrame(l: TsharkLayers, what: string): void {
  assert.equal(fields(l, '_ws.malformed').length, 0, `${what}: Wireshark marks it malformed`);
  assert.equal(l['_ws.malformed'], undefined, `${what}: Wireshark marks it malformed`);
  const quotesIcmpError = fields(l, 'nhrp.hdr.op.type').includes('8') && fields(l, 'icmp.type').some((t) => t === '3' || t === '11');
  const notes = [...JUSTIFIED_NOTES, /^"Time To Live" only 1$/];
  for (const e of expertItems(l)) {
    if (quotesIcmpError && e.message === 'Bogus IP version') continue;
    assert.ok(e.severity < Severity.WARN, `${what}: expert ${e.severity >= Severity.ERROR ? 'error' : 'warning'}: ${e.message}`);
    if (e.severity >= Severity.NOTE) assert.ok(notes.some((re) => re.test(e.message)), `${what}: unexpected expert note: ${e.message}`);
  }
}
interface CryptoPeer { peer: string; status: string; socket: string; outboundSpi: number | null; activeSas: number }

/**
 * Wireshark's personal configuration with our keys as its UAT files (the lines
 * of `show crypto keys --wireshark`, from every router, as they are) and ESP
 * decryption on; returns the directory for XDG_CONFIG_HOME.
 */
function wiresharkProfile(dir: string, keyDumps: readonly string[]): { home: string; ike: number; esp: number } {
  const ike = new Set<string>();
  const esp = new Set<string>();
  for (const dump of keyDumps) {
    let table: Set<string> | undefined;
    for (const line of dump.split('\n')) {
      if (line === '# ikev2_decryption_table') table = ike;
      else if (line === '# esp_sa') table = esp;
      else if (line.trim()) table?.add(line);
    }
  }
  const home = join(dir, 'xdg');
  mkdirSync(join(home, 'wireshark'), { recursive: true });
  writeFileSync(join(home, 'wireshark', 'ikev2_decryption_table'), [...ike].join('\n') + '\n');
  writeFileSync(join(home, 'wireshark', 'esp_sa'), [...esp].join('\n') + '\n');
  writeFileSync(join(home, 'wireshark', 'preferences'), 'esp.enable_encryption_decode: TRUE\nesp.enable_authentication_check: TRUE\n');
  return { home, ike: ike.size, esp: esp.size };
}

test('lab with IPsec: only IKE and ESP on the underlay, EIGRP and Phase 3 through it, spoke-to-spoke SA on demand and gone when NHRP forgets the spoke; Wireshark decrypts it all', { ...opts, timeout: 240_000 }, async () => {
  const lab = new Lab(`di${process.pid % 100000}`, undefined, { ipsec: true });
  try {
    lab.build();
    const pcap = join(lab.dir, 'underlay.pcap');
    const dump = spawn('ip', ['netns', 'exec', lab.ns('ul'), 'tcpdump', '--immediate-mode', '-i', 'br0', '-U', '-w', pcap, 'ip'], { stdio: 'ignore' });
    const keyDumps: string[] = [];
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
        return !!s?.[0]?.sas?.outbound.some((o) => o.nbma === SPOKE1);
      }, 20_000);
      assert.deepEqual(hops(lab.exec('spoke2', tr, { check: false, timeoutMs: 40_000 }).stdout), ['192.168.1.1']);
      assert.equal(lab.exec('h2', ['ping', '-c', '2', '-W', '2', '192.168.1.10'], { check: false, timeoutMs: 10_000 }).status, 0);
      assert.match(lab.ctl('hub', ['show', 'crypto', 'ikev2', 'sa']).stdout, /203\.0\.113\.1[123]/);

      // show crypto ipsec sa peer: that peer's flow only; nothing for an unknown peer; a clear error for a bad address.
      const peerSa = lab.ctlJson<{ interface: string; peers: CryptoPeer[] }[]>('spoke2', ['show', 'crypto', 'ipsec', 'sa', 'peer', SPOKE1]);
      // Both spokes map each other at once and may both initiate: one IKE SA, or two (4 ESP SAs), as IOS can.
      assert.deepEqual(peerSa?.map((d) => [d.interface, d.peers.map((p) => [p.peer, p.status, p.activeSas >= 2])]), [['Tunnel0', [[SPOKE1, 'UP-ACTIVE', true]]]]);
      const peerText = lab.ctl('spoke2', ['show', 'crypto', 'ipsec', 'sa', 'peer', SPOKE1]).stdout;
      assert.match(peerText, new RegExp(`^ {3}current_peer ${SPOKE1} port 500$`, 'm'));
      assert.equal(peerText.match(/current_peer/g)?.length, 1);
      assert.match(peerText, /^ {4}#pkts encaps: [1-9]\d*, /m);
      assert.equal(lab.ctl('spoke2', ['show', 'crypto', 'ipsec', 'sa', 'peer', '203.0.113.99']).stdout, '');
      const bad = lab.ctl('spoke2', ['show', 'crypto', 'ipsec', 'sa', 'peer', '203.0.113']);
      assert.notEqual(bad.status, 0);
      assert.match(bad.stderr, /Invalid IPv4 address "203\.0\.113"/);
      // show dmvpn detail: each NBMA peer's crypto session, in the text and the JSON.
      const detail = lab.ctlJson<{ peers: { nbma: string; crypto: CryptoPeer | null }[] }[]>('spoke2', ['show', 'dmvpn', 'detail']);
      for (const nbma of [HUB, SPOKE1]) {
        const c = detail?.[0]?.peers.find((p) => p.nbma === nbma)?.crypto;
        assert.deepEqual(c && [c.status, c.socket, c.outboundSpi !== null], ['UP-ACTIVE', 'Open', true], `spoke2's crypto session with ${nbma}`);
      }
      assert.match(lab.ctl('spoke2', ['show', 'dmvpn', 'detail']).stdout, new RegExp(`Crypto Session Details: \\n-{80}\\n[\\s\\S]*^ {2}IPSEC FLOW: permit 47 host ${SPOKE2} host ${SPOKE1} $[\\s\\S]*^ {4}Socket State: Open$`, 'm'));

      // The keys, from every router while every SA is up (an SA's keys go with it).
      for (const r of ROUTERS) keyDumps.push(lab.ctl(r, ['show', 'crypto', 'keys', '--wireshark']).stdout);
      assert.match(keyDumps[2], /# esp_sa\n"IPv4","203\.0\.113\./);

      // NHRP forgets spoke1 on spoke2 (`clear ip nhrp`; an unused shortcut's expiry takes the same
      // path): spoke2 deletes the IKE SA with spoke1, spoke1 learns it from the Delete. The hub's SA stays.
      const ikeSas = (r: RouterName): IkeRow[] => lab.ctlJson<IkeRow[]>(r, ['show', 'crypto', 'ikev2', 'sa']) ?? [];
      const hubSa = ikeSas('spoke2').find((s) => s.remote === `${HUB}/500`);
      assert.equal(hubSa?.status, 'READY');
      assert.equal(lab.ctl('spoke2', ['clear', 'ip', 'nhrp']).status, 0);
      await lab.waitFor('no SA between spoke2 and spoke1 on either side', () =>
        !ikeSas('spoke2').some((s) => s.remote.startsWith(`${SPOKE1}/`)) && !ikeSas('spoke1').some((s) => s.remote.startsWith(`${SPOKE2}/`)), 15_000);
      const after = lab.ctlJson<{ peers: unknown[]; sas: { outbound: { nbma: string }[] } | null }[]>('spoke2', ['show', 'crypto', 'ipsec', 'sa']);
      assert.equal(after?.[0]?.sas?.outbound.some((o) => o.nbma === SPOKE1), false, 'the ESP SAs left the dataplane');
      assert.deepEqual(lab.ctlJson('spoke2', ['show', 'crypto', 'ipsec', 'sa', 'peer', SPOKE1]), []);
      assert.deepEqual(ikeSas('spoke2').filter((s) => s.remote === `${HUB}/500`).map((s) => [s.localSpi, s.status]), [[hubSa?.localSpi, 'READY']], 'the NHS\'s SA is the same one');
    } catch (e) {
      for (const r of ROUTERS) console.error(`--- ${r} log ---\n${lab.log(r).split('\n').slice(-25).join('\n')}`);
      throw e;
    } finally {
      dump.kill('SIGINT');
      await new Promise((r) => setTimeout(r, 300));
    }
    // Wireshark with our keys as its UAT files, on every frame between NBMA addresses.
    const profile = wiresharkProfile(lab.dir, keyDumps);
    assert.ok(profile.ike >= 4 && profile.esp >= 8, `keys for every SA (${profile.ike} IKE, ${profile.esp} ESP)`);
    const dec = spawnSync('tshark', ['-r', pcap, '-Y', 'ip.src == 203.0.113.0/24 && ip.dst == 203.0.113.0/24', '-V', '-T', 'json', '--no-duplicate-keys'], {
      encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, env: { ...process.env, XDG_CONFIG_HOME: profile.home },
    });
    assert.equal(dec.status, 0, dec.stderr);
    const frames = (JSON.parse(dec.stdout) as { _source: { layers: TsharkLayers } }[]).map((d) => d._source.layers);
    // The outer header's fields come first (decrypted frames carry a second, inner IP header).
    const ip = (l: TsharkLayers, k: 'src' | 'dst' | 'proto'): string => fields(l.ip, `ip.${k}`)[0];
    // Only IKE (UDP 500) and ESP, and no clear GRE at all.
    const protos = new Map<string, number>();
    for (const l of frames) protos.set(ip(l, 'proto'), (protos.get(ip(l, 'proto')) ?? 0) + 1);
    assert.equal(protos.get('47') ?? 0, 0, `no clear GRE on the underlay (${[...protos].join(' ')})`);
    assert.ok((protos.get('50') ?? 0) > 20, `ESP carries the tunnel (${[...protos].join(' ')})`);
    assert.ok(frames.some((l) => ip(l, 'proto') === '17' && fields(l.udp, 'udp.dstport')[0] === '500'), 'IKE on UDP 500');
    // Every frame dissects cleanly; IKE_AUTH and ESP decrypt; ESP carries GRE with NHRP and EIGRP inside.
    frames.forEach((l, i) => assertCleanFrame(l, `frame ${i + 1} (${protocolStack(l).join(':')})`));
    // IKE_AUTH (exchange 35): the decrypted request carries IDi, AUTH, SA, TSi, TSr and N(USE_TRANSPORT_MODE).
    const auth = frames.filter((l) => fields(l.isakmp, 'isakmp.exchangetype').includes('35'));
    assert.ok(auth.length >= 8, `IKE_AUTH of four IKE SAs (${auth.length} messages)`);
    for (const l of auth) {
      const types = fields(l.isakmp, 'isakmp.typepayload').map(Number);
      const what = `IKE_AUTH ${ip(l, 'src')} -> ${ip(l, 'dst')}`;
      assert.ok(types.includes(46), `${what}: an SK payload`);
      const request = types.includes(35);
      for (const t of [request ? 35 : 36, 39, 33, 44, 45, 41]) assert.ok(types.includes(t), `${what}: decrypted payload ${t} (${types.join(' ')})`);
      assert.ok(fields(l.isakmp, 'isakmp.notify.msgtype').map(Number).includes(16391), `${what}: N(USE_TRANSPORT_MODE)`);
    }
    // ESP: decrypted to GRE (with the tunnel key) carrying NHRP and EIGRP.
    const esp = frames.filter((l) => protocolStack(l).includes('esp'));
    const inner = esp.filter((l) => protocolStack(l).includes('gre'));
    assert.equal(inner.length, esp.length, `every ESP packet decrypts (${inner.length} of ${esp.length})`);
    assert.ok(esp.every((l) => fields(l, 'esp.icv_good').includes('1')), 'and its ICV (HMAC-SHA1-96) checks out in Wireshark');
    assert.ok(inner.some((l) => protocolStack(l).includes('nhrp')), 'NHRP inside ESP');
    assert.ok(inner.some((l) => protocolStack(l).includes('eigrp')), 'EIGRP inside ESP');
    assert.ok(inner.some((l) => ip(l, 'src') === SPOKE2 && ip(l, 'dst') === SPOKE1 && protocolStack(l).includes('icmp')), 'the ping, spoke to spoke, inside ESP');
    // The INFORMATIONAL Delete (exchange 37) spoke2 sent spoke1 for the IKE SA (protocol 1) when NHRP forgot it.
    const deletes = frames.filter((l) => ip(l, 'src') === SPOKE2 && ip(l, 'dst') === SPOKE1 && fields(l.isakmp, 'isakmp.exchangetype').includes('37')
      && fields(l.isakmp, 'isakmp.typepayload').map(Number).includes(42));
    assert.ok(deletes.length >= 1, 'an INFORMATIONAL Delete from spoke2 to spoke1 on the wire');
    assert.ok(deletes.every((l) => fields(l.isakmp, 'isakmp.delete.protoid').map(Number).includes(1)), 'it deletes the IKE SA');
  } finally {
    await lab.destroy();
  }
});
