/**
 * NAT traversal in the reference lab (RFC 3948, RFC 7296 section 2.23): the
 * reference IPsec configuration on the userspace dataplane, with spoke3 behind
 * a NAT (nftables masquerade; no UDP port survives it) and spoke1 on the
 * underlay as before. The NATed spoke negotiates IKE on 500, floats to 4500
 * through the dataplane's own socket, registers with its private NBMA address,
 * and the hub records the NAT's public address for it (as IOS does: `show
 * dmvpn` lists the NATed address, `show ip nhrp` the claimed one); EIGRP
 * converges and hosts ping between the two LANs. On the hub's wire, the NAT's
 * public address sends and receives only UDP: IKE on 500 and 4500, ESP in UDP
 * and NAT-keepalives on 4500, never ESP (protocol 50) or clear GRE, while
 * spoke1 keeps plain ESP. Wireshark dissects it as UDPENCAP + ESP and, with the
 * keys `show crypto keys --wireshark` prints, decrypts IKE_AUTH and the ESP
 * down to the GRE, NHRP, EIGRP and ICMP inside.
 *
 * DMVPN_LAB_DATAPLANE=kernel runs it on the kernel dataplane (inside the VM,
 * test/vm/lab-kernel.test.ts): UDP 4500 is then a UDP_ENCAP socket, the ESP in
 * UDP is xfrm's (states with encap), and the kernel consumes the keepalives it
 * receives, so the hub counts none: the wire shows them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, labEnvOptions, labTimeScale, natInsideOf, natPublicOf, NAT_PORT_RANGE, type RouterName } from '../../scripts/lab/topology.js';
import { needsTool, isRoot } from '../support/tools.js';
import { nativeAvailable } from '../../platform/native/index.js';
import { fields, expertItems, protocolStack, Severity, JUSTIFIED_NOTES, type TsharkLayers } from '../wireshark/support.js';

function skip(): { skip?: string } {
  if (!isRoot() && process.env.CI !== 'true') return { skip: 'needs root for network namespaces' };
  if (!nativeAvailable()) return { skip: 'native addon not built (the userspace dataplane carries NAT-T)' };
  return needsTool('ip', 'ping', 'tcpdump', 'tshark', 'nft');
}

/** The userspace dataplane unless DMVPN_LAB_DATAPLANE says otherwise. */
const DATAPLANE = labEnvOptions().dataplane ?? 'userspace';
const KERNEL = DATAPLANE === 'kernel';
const NATTED: RouterName = 'spoke3';
const ROUTERS: RouterName[] = ['hub', 'spoke1', NATTED];
const HUB = '203.0.113.1';
const SPOKE1 = '203.0.113.11';
const PUBLIC = natPublicOf(NATTED);
const INSIDE = natInsideOf(NATTED);

interface DmvpnPeer { nbma: string; tunnel: string; state: string; attributes: string }
interface NhrpEntry { prefix: string; nbma: string | null; claimedNbma: string | null; flags: string[] }
interface SaJson {
  peers: { peer: string; port: number }[];
  sas: {
    outbound: { nbma: string; spi: number; encap?: { srcPort: number; dstPort: number } }[];
    inbound: { spi: number; packets: number; natSource?: { address: string; port: number } }[];
  } | null;
}
type Counters = Record<string, number>;
type OutboundRow = NonNullable<SaJson['sas']>['outbound'][number];

/** Wireshark's personal configuration with our keys as its UAT files (as lab-ipsec.test.ts builds it). */
function wiresharkProfile(dir: string, keyDumps: readonly string[]): string {
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
  return home;
}

/** No malformed mark, no expert warning or error, only the EIGRP TTL notes support.ts justifies. */
function assertCleanFrame(l: TsharkLayers, what: string): void {
  assert.equal(l['_ws.malformed'], undefined, `${what}: Wireshark marks it malformed`);
  for (const e of expertItems(l)) {
    assert.ok(e.severity < Severity.WARN, `${what}: expert ${e.severity >= Severity.ERROR ? 'error' : 'warning'}: ${e.message}`);
    if (e.severity >= Severity.NOTE) assert.ok(JUSTIFIED_NOTES.some((re) => re.test(e.message)), `${what}: unexpected expert note: ${e.message}`);
  }
}

const inRange = (p: number): boolean => p >= NAT_PORT_RANGE.min && p <= NAT_PORT_RANGE.max;

test('lab with a spoke behind a NAT: it registers with the NAT\'s address, EIGRP and pings cross, and the hub\'s wire carries only UDP 500/4500 (UDPENCAP + ESP) from it', { ...skip(), timeout: 240_000 * labTimeScale() }, async () => {
  const lab = new Lab(`dn${process.pid % 100000}`, undefined, { ipsec: true, natSpoke: NATTED, dataplane: DATAPLANE });
  try {
    lab.build();
    // The hub's wire: everything the hub sends or receives on the underlay.
    const pcap = join(lab.dir, 'hub-eth0.pcap');
    const dump = await lab.capture('hub', 'eth0', pcap, 'ip');
    const keyDumps: string[] = [];
    let natPort = 0;
    try {
      // The hub first: a spoke's IKE_SA_INIT that reaches it before it listens draws an ICMP port unreachable.
      lab.startDaemon('hub');
      await lab.waitFor('the hub listening', () => lab.ctl('hub', ['show', 'crypto', 'ikev2', 'sa']).status === 0, 20_000);
      for (const r of ROUTERS.filter((x) => x !== 'hub')) lab.startDaemon(r);
      const hubPeers = (): DmvpnPeer[] => lab.ctlJson<{ peers: DmvpnPeer[] }[]>('hub', ['show', 'dmvpn'])?.[0]?.peers ?? [];
      await lab.waitFor('spoke1 and the NATed spoke UP at the hub', () => hubPeers().filter((p) => p.state === 'UP').length === 2, 60_000);

      // The hub knows the NATed spoke by the NAT's public address, flagged N; the claimed one is its private address.
      const natted = hubPeers().find((p) => p.tunnel === '10.0.0.13');
      assert.deepEqual(natted && [natted.nbma, natted.state, natted.attributes], [PUBLIC, 'UP', 'DN']);
      assert.deepEqual(hubPeers().find((p) => p.tunnel === '10.0.0.11')?.nbma, SPOKE1);
      assert.match(lab.ctl('hub', ['show', 'dmvpn']).stdout, new RegExp(`^ +1 ${PUBLIC.replace(/\./g, '\\.')} +10\\.0\\.0\\.13 +UP +\\S+ +DN$`, 'm'));
      const entry = lab.ctlJson<NhrpEntry[][]>('hub', ['show', 'ip', 'nhrp'])?.[0]?.find((e) => e.prefix === '10.0.0.13');
      assert.deepEqual(entry && [entry.nbma, entry.claimedNbma, entry.flags.includes('nat')], [PUBLIC, INSIDE, true]);
      assert.match(lab.ctl('hub', ['show', 'ip', 'nhrp']).stdout, new RegExp(`NBMA address: ${PUBLIC.replace(/\./g, '\\.')} \\n +\\(Claimed NBMA address: ${INSIDE.replace(/\./g, '\\.')}\\)`));

      // IKE at the hub: the SA with the NAT's address moved to 4500 on our side, to a translated port on its side.
      const ikeText = lab.ctl('hub', ['show', 'crypto', 'ikev2', 'sa', 'detailed']).stdout;
      const m = new RegExp(`${HUB.replace(/\./g, '\\.')}/4500 +${PUBLIC.replace(/\./g, '\\.')}/(\\d+) +none/none +READY`).exec(ikeText);
      assert.ok(m, `an IKE SA from ${HUB}/4500 to ${PUBLIC}/<port>:\n${ikeText}`);
      natPort = Number(m[1]);
      assert.ok(inRange(natPort), `the NAT translated the spoke's 4500 to ${natPort}`);
      assert.match(ikeText, /NAT-T is detected outside/);
      assert.match(ikeText, /NAT-T is not detected/, 'spoke1 has no NAT');
      assert.match(lab.ctl(NATTED, ['show', 'crypto', 'ikev2', 'sa', 'detailed']).stdout, /NAT-T is detected inside/);

      // ESP: the hub's outbound SA to the NAT's address is UDP-encapsulated to that port; its inbound SA saw that source.
      // Waited for: the kernel dataplane installs its xfrm states a little after IKE reports the SA.
      let sa: SaJson | undefined;
      const both = (j: SaJson | undefined): boolean => [PUBLIC, SPOKE1].every((n) => j?.sas?.outbound.some((o) => o.nbma === n));
      await lab.waitFor('the hub\'s outbound SAs', () => both(sa = lab.ctlJson<SaJson[]>('hub', ['show', 'crypto', 'ipsec', 'sa'])?.[0]), 15_000);
      const out = sa?.sas?.outbound.find((o) => o.nbma === PUBLIC);
      assert.deepEqual(out?.encap, { srcPort: 4500, dstPort: natPort });
      assert.equal(sa?.sas?.outbound.find((o) => o.nbma === SPOKE1)?.encap, undefined, 'spoke1 keeps plain ESP');
      assert.deepEqual(sa?.peers.find((p) => p.peer === PUBLIC)?.port, natPort);
      // (Waited for, not read once: inside the VM one dmvpnctl round trip can outlast its timeout.)
      const currentPeer = new RegExp(`^ {3}current_peer ${PUBLIC.replace(/\./g, '\\.')} port ${natPort}$`, 'm');
      await lab.waitFor(`current_peer ${PUBLIC} port ${natPort} at the hub`, () => currentPeer.test(lab.ctl('hub', ['show', 'crypto', 'ipsec', 'sa', 'peer', PUBLIC]).stdout), 15_000);
      await lab.waitFor('authenticated ESP-in-UDP from the NAT at the hub', () => {
        if (KERNEL) {
          // xfrm counts what its inbound state (with encap) took; it keeps no last source.
          const s = lab.ctlJson<SaJson[]>('hub', ['show', 'crypto', 'ipsec', 'sa', 'peer', PUBLIC])?.[0]?.sas;
          return !!s?.inbound.some((i) => i.packets > 0);
        }
        const s = lab.ctlJson<SaJson[]>('hub', ['show', 'crypto', 'ipsec', 'sa'])?.[0]?.sas;
        return !!s?.inbound.some((i) => i.natSource?.address === PUBLIC && i.natSource.port === natPort && i.packets > 0);
      }, 15_000);
      // The NATed spoke sends to the hub's 4500 from its own 4500 (which the NAT translates).
      let spokeOut: OutboundRow | undefined;
      await lab.waitFor('the NATed spoke\'s outbound SA', () => !!(spokeOut = lab.ctlJson<SaJson[]>(NATTED, ['show', 'crypto', 'ipsec', 'sa'])?.[0]?.sas?.outbound.find((o) => o.nbma === HUB)), 15_000);
      assert.deepEqual(spokeOut?.encap, { srcPort: 4500, dstPort: 4500 });

      // EIGRP over it, both ways; then hosts ping between the NATed spoke's LAN and the hub's.
      await lab.waitFor('EIGRP routes between the hub and the NATed spoke', () => {
        const d = (r: RouterName): Set<string> => new Set((lab.ctlJson<{ code: string; prefix: string }[]>(r, ['show', 'ip', 'route']) ?? []).filter((x) => x.code === 'D').map((x) => x.prefix));
        return d('hub').has('192.168.3.0') && d(NATTED).has('192.168.0.0') && d(NATTED).has('192.168.1.0');
      }, 60_000);
      assert.equal(lab.exec('h3', ['ping', '-c', '3', '-i', '0.3', '-W', '2', '192.168.0.10'], { check: false, timeoutMs: 15_000 }).status, 0, 'h3 -> h0');
      assert.equal(lab.exec('h0', ['ping', '-c', '3', '-i', '0.3', '-W', '2', '192.168.3.10'], { check: false, timeoutMs: 15_000 }).status, 0, 'h0 -> h3');

      // RFC 3948 section 2.3: the side behind the NAT keeps its mapping with keepalives (every 20 s).
      const counters = (r: RouterName): Counters => lab.ctlJson<{ counters: Counters }[]>(r, ['show', 'dataplane'])?.[0]?.counters ?? {};
      // (The kernel consumes keepalives on its UDP_ENCAP socket: on that dataplane the hub's wire shows them.)
      let sc: Counters = {};
      let hc: Counters = {};
      await lab.waitFor('a NAT-keepalive from the spoke at the hub', () => {
        [sc, hc] = [counters(NATTED), counters('hub')];
        return (sc.natKeepaliveTx ?? 0) >= 1 && (KERNEL ? hc.udpIkeRxPackets !== undefined : (hc.natKeepaliveRx ?? 0) >= 1);
      }, 45_000);
      assert.equal(hc.natKeepaliveTx ?? 0, 0, 'the hub, not behind a NAT, sends none');
      if (!KERNEL) {
        assert.equal(sc.espTxPackets, sc.espUdpTxPackets, 'every ESP packet of the NATed spoke left in UDP');
        assert.ok(sc.espUdpRxPackets > 0);
      }
      assert.ok(sc.udpIkeTxPackets > 0 && (hc.udpIkeRxPackets ?? 0) > 0, 'IKE on 4500 through the dataplane\'s socket');

      for (const r of ROUTERS) {
        let dump = '';
        await lab.waitFor(`${r}'s keys`, () => (dump = lab.ctl(r, ['show', 'crypto', 'keys', '--wireshark']).stdout).includes('# esp_sa'), 15_000);
        keyDumps.push(dump);
      }
    } catch (e) {
      for (const r of ROUTERS) console.error(`--- ${r} log ---\n${lab.log(r).split('\n').slice(-30).join('\n')}`);
      throw e;
    } finally {
      await dump.stop();
    }

    // The hub's wire, with our keys.
    const home = wiresharkProfile(lab.dir, keyDumps);
    const dec = spawnSync('tshark', ['-r', pcap, '-V', '-T', 'json', '--no-duplicate-keys'], {
      encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: 60_000 * labTimeScale(), env: { ...process.env, XDG_CONFIG_HOME: home },
    });
    assert.equal(dec.status, 0, dec.stderr);
    const all = (JSON.parse(dec.stdout) as { _source: { layers: TsharkLayers } }[]).map((d) => d._source.layers);
    const ip = (l: TsharkLayers, k: 'src' | 'dst' | 'proto'): string => fields(l.ip, `ip.${k}`)[0];
    assert.ok(!all.some((l) => ip(l, 'src') === INSIDE || ip(l, 'dst') === INSIDE), 'the private address never reaches the hub\'s wire');
    const frames = all.filter((l) => ip(l, 'src') === PUBLIC || ip(l, 'dst') === PUBLIC);
    const stack = (l: TsharkLayers): string => protocolStack(l).join(':');
    // Only UDP between the hub's 500/4500 and translated ports: no ESP (50), no clear GRE (47).
    const other = frames.filter((l) => ip(l, 'proto') !== '17').map((l) => `${ip(l, 'src')} -> ${ip(l, 'dst')} ${stack(l)} ${fields(l, 'icmp.type').join('/')}`);
    assert.deepEqual(other, [], 'only UDP to and from the NAT');
    for (const l of frames) {
      const [sport, dport] = [Number(fields(l.udp, 'udp.srcport')[0]), Number(fields(l.udp, 'udp.dstport')[0])];
      const [hubPort, natSide] = ip(l, 'src') === HUB ? [sport, dport] : [dport, sport];
      assert.ok((hubPort === 500 || hubPort === 4500) && inRange(natSide), `UDP ${sport} -> ${dport} (${ip(l, 'src')} -> ${ip(l, 'dst')})`);
    }
    assert.ok(all.some((l) => ip(l, 'src') === SPOKE1 && ip(l, 'proto') === '50'), 'spoke1 still speaks plain ESP with the hub');
    frames.forEach((l, i) => assertCleanFrame(l, `frame ${i + 1} (${protocolStack(l).join(':')})`));
    // IKE: IKE_SA_INIT on 500 without a marker; IKE_AUTH on 4500 behind it, decrypted. One request
    // and one response each; a slow run (the VM) may retransmit them, identical, so distinct ones count.
    const distinct = (ls: TsharkLayers[]): number => new Set(ls.map((l) => `${ip(l, 'src')} ${fields(l.udp, 'udp.length')[0]}`)).size;
    const init = frames.filter((l) => fields(l.isakmp, 'isakmp.exchangetype').includes('34'));
    assert.equal(distinct(init), 2);
    assert.ok(init.every((l) => /:udp:isakmp/.test(stack(l)) && [fields(l.udp, 'udp.srcport')[0], fields(l.udp, 'udp.dstport')[0]].includes('500')));
    const auth = frames.filter((l) => fields(l.isakmp, 'isakmp.exchangetype').includes('35'));
    assert.equal(distinct(auth), 2, 'IKE_AUTH request and response');
    for (const l of auth) {
      assert.match(stack(l), /:udp:udpencap:isakmp/);
      assert.deepEqual(fields(l, 'udpencap.non_esp_marker').length, 1, 'behind the non-ESP marker');
      const types = fields(l.isakmp, 'isakmp.typepayload').map(Number);
      for (const t of [46, 39, 33, 44, 45]) assert.ok(types.includes(t), `IKE_AUTH decrypted: payload ${t} (${types.join(' ')})`);
    }
    // ESP in UDP both ways, each packet's ICV good, GRE inside with NHRP, EIGRP and the pings.
    const esp = frames.filter((l) => protocolStack(l).includes('esp'));
    assert.ok(esp.filter((l) => ip(l, 'src') === PUBLIC).length >= 5 && esp.filter((l) => ip(l, 'src') === HUB).length >= 5, `ESP both ways (${esp.length})`);
    for (const l of esp) {
      assert.match(stack(l), /:ip:udp:udpencap:esp:gre:/, `ESP in UDP decrypts to GRE: ${stack(l)}`);
      assert.deepEqual(fields(l, 'esp.icv_good'), ['1']);
      assert.equal(fields(l, 'udpencap.non_esp_marker').length, 0, 'no marker before ESP');
    }
    assert.ok(esp.some((l) => ip(l, 'src') === PUBLIC && protocolStack(l).includes('nhrp')), 'the registration, in ESP in UDP');
    assert.ok(esp.some((l) => protocolStack(l).includes('eigrp')), 'EIGRP inside');
    for (const type of ['8', '0']) assert.ok(esp.some((l) => fields(l, 'icmp.type').includes(type) && fields(l, 'ip.dst').includes(type === '8' ? '192.168.0.10' : '192.168.3.10')), `ICMP type ${type} between the LANs`);
    // NAT-keepalives: the single octet 0xFF from the spoke's mapping to the hub's 4500.
    const keepalives = frames.filter((l) => stack(l).endsWith(':udp:udpencap') && ip(l, 'src') === PUBLIC);
    assert.ok(keepalives.length >= 1, 'a NAT-keepalive on the wire');
    assert.ok(keepalives.every((l) => fields(l.udp, 'udp.dstport')[0] === '4500' && fields(l.udp, 'udp.length')[0] === '9'));
  } finally {
    await lab.destroy();
  }
});
