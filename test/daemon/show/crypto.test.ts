/**
 * `show crypto ipsec sa [peer ADDR]` and the crypto section of `show dmvpn
 * detail`: the IKE engine's SAs (a deterministic IkeSim: spoke2 with the hub
 * and with spoke1) joined with dataplane counters, in IOS's layout and as JSON,
 * and the commands as the control socket runs them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IkeSim, type IkeNode } from '../../protocols/ikev2/sim.js';
import { labSim } from '../../protocols/nhrp/sim.js';
import { peersCryptoShow, iosTransform } from '../../../protocols/ikev2/show.js';
import { ipsecPeers, renderIpsecSa, renderCryptoSessionDetails, DEFAULT_LIFETIME_KB, type CryptoSource } from '../../../daemon/show/crypto.js';
import { showDmvpnDetail } from '../../../daemon/show/nhrp.js';
import { Router } from '../../../daemon/router.js';
import { CommandError } from '../../../daemon/control/commands.js';
import { parseConfig } from '../../../daemon/config/index.js';
import { silentLogger } from '../../../daemon/log.js';
import { FakeRtnetlink } from '../../../platform/fake/netlink.js';
import type { SaStats } from '../../../platform/native/esp.js';
import type { TunnelRuntime } from '../../../daemon/tunnel.js';
import type { IpsecRuntime } from '../../../daemon/ipsec.js';

const SPOKE2 = '203.0.113.12';
const HUB = '203.0.113.1';
const SPOKE1 = '203.0.113.11';

/** spoke2 with an SA to the hub and one to spoke1, and dataplane counters for them. */
function world() {
  const sim = new IkeSim();
  const s2 = sim.add('spoke2', { localAddress: SPOKE2 });
  sim.add('hub', { localAddress: HUB });
  sim.add('spoke1', { localAddress: SPOKE1 });
  sim.connect(s2, HUB);
  sim.connect(s2, SPOKE1);
  sim.run(61_000);
  return { sim, s2, stats: stats(s2) };
}

const child = (n: IkeNode, peer: string) => [...n.children.values()].find((c) => c.remote === peer)!;

function stats(s2: IkeNode): SaStats {
  const toHub = child(s2, HUB);
  const toS1 = child(s2, SPOKE1);
  const row = { cipher: 'aes-cbc-128', integrity: 'hmac-sha1-96', esn: false } as const;
  return {
    outbound: [
      { ...row, nbma: HUB, spi: toHub.spiOut, packets: 84, bytes: 84 * 150, seq: 84 },
      { ...row, nbma: SPOKE1, spi: toS1.spiOut, packets: 5, bytes: 5 * 100, seq: 5 },
    ],
    inbound: [
      { ...row, spi: toHub.spiIn, packets: 80, bytes: 80 * 150, seq: 80, replayDrops: 1, authFailures: 2 },
      { ...row, spi: toS1.spiIn, packets: 4, bytes: 4 * 100, seq: 4, replayDrops: 0, authFailures: 0 },
    ],
    protected: [{ nbma: HUB, queued: 0 }, { nbma: SPOKE1, queued: 0 }, { nbma: '203.0.113.13', queued: 3 }],
  };
}

function source(w: ReturnType<typeof world>): CryptoSource {
  return { ifname: 'Tunnel0', localAddress: SPOKE2, peers: peersCryptoShow(w.s2.manager.sas(), w.sim.now), stats: w.stats, lifetimeKilobytes: DEFAULT_LIFETIME_KB };
}

const hex = (n: number): string => `0x${n.toString(16).toUpperCase().padStart(8, '0')}`;

test('ipsec peers: the IKE engine\'s SAs joined with the dataplane\'s counters, per NBMA peer', () => {
  const w = world();
  const peers = ipsecPeers(source(w));
  assert.deepEqual(peers.map((p) => p.peer), [HUB, SPOKE1, '203.0.113.13']);
  const hub = peers[0];
  const c = child(w.s2, HUB);
  assert.equal(hub.status, 'UP-ACTIVE');
  assert.equal(hub.socket, 'Open');
  assert.equal(hub.outboundSpi, c.spiOut);
  assert.equal(hub.transform, 'esp-aes esp-sha-hmac');
  assert.deepEqual(hub.flow, { protocol: 47, local: SPOKE2, remote: HUB });
  assert.deepEqual(hub.encaps, { packets: 84, bytes: 84 * 150 });
  assert.deepEqual(hub.decaps, { packets: 80, bytes: 80 * 150 });
  assert.equal(hub.recvErrors, 3);
  assert.equal(hub.activeSas, 2);
  assert.deepEqual(hub.inbound.map((s) => s.spi), [c.spiIn]);
  assert.equal(hub.inbound[0].remainingKilobytes, DEFAULT_LIFETIME_KB - Math.floor(80 * 150 / 1024));
  // 61 s after the SA came up, of IOS's default 3600 s.
  assert.equal(hub.inbound[0].remainingSeconds, 3600 - 61);
  assert.equal(hub.ike.length, 1);
  assert.equal(hub.ike[0].active, true);
  assert.equal(hub.ike[0].remainingSeconds, 86400 - 61);
  // A protected peer with packets waiting but no SA at all shows as DOWN with its queue.
  assert.deepEqual([peers[2].status, peers[2].socket, peers[2].queued, peers[2].outboundSpi], ['DOWN', 'Closed', 3, null]);
  // The peer filter: one peer, or nothing.
  assert.deepEqual(ipsecPeers(source(w), SPOKE1).map((p) => p.peer), [SPOKE1]);
  assert.deepEqual(ipsecPeers(source(w), '192.0.2.99'), []);
});

test('show crypto ipsec sa peer: IOS\'s per-flow layout, line for line', () => {
  const w = world();
  const c = child(w.s2, SPOKE1);
  const text = renderIpsecSa('Tunnel0', SPOKE2, ipsecPeers(source(w), SPOKE1));
  const spi = (n: number): string => `${hex(n)}(${n})`;
  const sa = (n: number, conn: number, kb: number): string[] => [
    `      spi: ${spi(n)}`,
    '        transform: esp-aes esp-sha-hmac ,',
    '        in use settings ={Transport, }',
    `        conn id: ${2000 + conn}, flow_id: SW:${conn}, sibling_flags 80000000, crypto map: Tunnel0-head-0`,
    `        sa timing: remaining key lifetime (k/sec): (${kb}/3539)`,
    '        IV size: 16 bytes',
    '        replay detection support: Y',
    '        Status: ACTIVE(ACTIVE)',
    '',
  ];
  assert.equal(text, [
    'interface: Tunnel0',
    `    Crypto map tag: Tunnel0-head-0, local addr ${SPOKE2}`,
    '',
    '   protected vrf: (none)',
    `   local  ident (addr/mask/prot/port): (${SPOKE2}/255.255.255.255/47/0)`,
    `   remote ident (addr/mask/prot/port): (${SPOKE1}/255.255.255.255/47/0)`,
    `   current_peer ${SPOKE1} port 500`,
    '     PERMIT, flags={origin_is_acl,}',
    '    #pkts encaps: 5, #pkts encrypt: 5, #pkts digest: 5',
    '    #pkts decaps: 4, #pkts decrypt: 4, #pkts verify: 4',
    '    #pkts compressed: 0, #pkts decompressed: 0',
    '    #pkts not compressed: 0, #pkts compr. failed: 0',
    '    #pkts not decompressed: 0, #pkts decompress failed: 0',
    '    #send errors 0, #recv errors 0',
    '',
    `     local crypto endpt.: ${SPOKE2}, remote crypto endpt.: ${SPOKE1}`,
    `     current outbound spi: ${spi(c.spiOut)}`,
    '     PFS (Y/N): N, DH group: none',
    '',
    '     inbound esp sas:',
    ...sa(c.spiIn, 1, DEFAULT_LIFETIME_KB),
    '     inbound ah sas:',
    '',
    '     inbound pcp sas:',
    '',
    '     outbound esp sas:',
    ...sa(c.spiOut, 2, DEFAULT_LIFETIME_KB),
    '     outbound ah sas:',
    '',
    '     outbound pcp sas:',
    '',
  ].join('\n'));
  assert.equal(renderIpsecSa('Tunnel0', SPOKE2, []), '', 'no peer, no output (IOS prints nothing for an unknown peer)');
});

test('IOS transform words for the ESP suites the dataplane runs', () => {
  const cbc = (bits: number) => ({ id: 12, keyBits: bits, keyMaterial: bits / 8, aead: false, ivSize: 16, blockSize: 16, icvSize: 0, cipher: '' });
  const gcm = (bits: number) => ({ ...cbc(bits), id: 20, aead: true, ivSize: 8, icvSize: 16 });
  const sha = (hash: 'sha1' | 'sha256') => ({ id: hash === 'sha1' ? 2 : 12, hash, keySize: 0, icvSize: 0, iosName: '' });
  assert.equal(iosTransform({ encr: cbc(128), integ: sha('sha1') }), 'esp-aes esp-sha-hmac');
  assert.equal(iosTransform({ encr: cbc(256), integ: sha('sha256') }), 'esp-256-aes esp-sha256-hmac');
  assert.equal(iosTransform({ encr: gcm(128) }), 'esp-gcm');
  assert.equal(iosTransform({ encr: gcm(256) }), 'esp-gcm 256');
});

test('show dmvpn detail: the NHS block, and each NBMA peer\'s crypto session after the table', () => {
  const w = world();
  const nhrp = labSim();
  nhrp.start();
  nhrp.trace('spoke2', '10.0.0.12', '192.168.1.1');
  const view = { engine: nhrp.nodes.get('spoke2')!.engine, ifname: 'Tunnel0', since: nhrp.now };
  const crypto = ipsecPeers(source(w)).filter((p) => p.peer !== '203.0.113.13');
  const text = showDmvpnDetail(view, { up: true, address: '10.0.0.12', source: SPOKE2, protect: 'ipsec-profile' }, nhrp.now, crypto);
  const lines = text.split('\n');
  assert.match(text, /^ {3}Protocol\/Transport: "multi-GRE\/IP", Protect "ipsec-profile" $/m);
  // IOS: the NHS list sits between the interface block and the peer table.
  const at = lines.indexOf('IPv4 NHS:');
  assert.ok(at > 0);
  assert.deepEqual(lines.slice(at - 2, at + 3), ['   nhrp event-publisher : Disabled', '', 'IPv4 NHS:', '10.0.0.1  R priority = 0 cluster = 0', 'Type:Spoke, Total NBMA Peers (v4/v6): 2']);
  const hubSa = w.s2.manager.sas().find((s) => s.peer === HUB)!;
  const c = child(w.s2, HUB);
  const from = lines.indexOf('Crypto Session Details: ');
  assert.ok(from > lines.findIndex((l) => l.includes('192.168.1.0/24')), 'after the peer table');
  assert.deepEqual(lines.slice(from, from + 17), [
    'Crypto Session Details: ',
    '-'.repeat(80),
    '',
    'Interface: Tunnel0',
    `Session: [${hex(hubSa.serial)}]`,
    `  Session ID: ${hubSa.serial}  `,
    `  IKEv2 SA: local ${SPOKE2}/500 remote ${HUB}/500 Active `,
    `          Capabilities:(none) connid:${hubSa.serial} lifetime:23:58:59`,
    '  Crypto Session Status: UP-ACTIVE     ',
    `  fvrf: (none),\tPhase1_id: ${HUB}`,
    `  IPSEC FLOW: permit 47 host ${SPOKE2} host ${HUB} `,
    '        Active SAs: 2, origin: crypto map',
    `        Inbound:  #pkts dec'ed 80 drop 3 life (KB/Sec) ${DEFAULT_LIFETIME_KB - 11}/3539`,
    `        Outbound: #pkts enc'ed 84 drop 0 life (KB/Sec) ${DEFAULT_LIFETIME_KB - 12}/3539`,
    `   Outbound SPI : ${hex(c.spiOut)}, transform : esp-aes esp-sha-hmac `,
    '    Socket State: Open',
    '',
  ]);
  assert.match(text, new RegExp(`^  IPSEC FLOW: permit 47 host ${SPOKE2} host ${SPOKE1} $`, 'm'));
  assert.match(text, /\nPending DMVPN Sessions:\n$/);
  // Without protection the section is there (IOS prints it on every tunnel), and empty.
  const plain = showDmvpnDetail(view, { up: true, address: '10.0.0.12', source: SPOKE2 }, nhrp.now).split('\n');
  const p0 = plain.indexOf('Crypto Session Details: ');
  assert.deepEqual(plain.slice(p0), ['Crypto Session Details: ', '-'.repeat(80), '', 'Pending DMVPN Sessions:', '']);
  assert.deepEqual(renderCryptoSessionDetails([]).slice(-2), ['Pending DMVPN Sessions:', '']);
});

const CONFIG = `crypto ikev2 keyring ike-keyring
 peer dmvpn
  address 0.0.0.0 0.0.0.0
  pre-shared-key Cisco123
crypto ikev2 profile ike-profile
 authentication local pre-share
 authentication remote pre-share
 keyring local ike-keyring
 match identity remote address 0.0.0.0 0.0.0.0
crypto ipsec profile ipsec-profile
 set ikev2-profile ike-profile
interface Tunnel0
 ip address 10.0.0.12 255.255.255.0
 tunnel source 203.0.113.12
 tunnel mode gre multipoint
 tunnel protection ipsec profile ipsec-profile
`;

/** A Router whose one tunnel is spoke2 of the simulations (no sockets, no devices). */
function router() {
  const w = world();
  const nhrp = labSim();
  nhrp.start();
  nhrp.trace('spoke2', '10.0.0.12', '192.168.1.1');
  const { model, diagnostics } = parseConfig(CONFIG, 'x.conf');
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const r = new Router(model, silentLogger(), new FakeRtnetlink());
  r.now = () => w.sim.now;
  const tunnel = {
    name: 'Tunnel0', cfg: model.interfaces.find((i) => i.kind === 'tunnel'), since: nhrp.now,
    engine: nhrp.nodes.get('spoke2')!.engine, engineCfg: { protocolAddress: '10.0.0.12', nbmaAddress: SPOKE2 },
    saStats: () => w.stats, stats: () => ({}),
  };
  r.tunnels.push(tunnel as unknown as TunnelRuntime);
  r.ipsec.set('Tunnel0', { profile: 'ipsec-profile', localAddress: SPOKE2, manager: w.s2.manager } as unknown as IpsecRuntime);
  const run = (line: string) => {
    const { spec, args } = r.commands.resolve(line.split(' '));
    return spec.run(args) as { text: string; data: unknown } | Promise<{ text: string; data: unknown }>;
  };
  return { w, r, run };
}

test('commands: show crypto ipsec sa [peer ADDR], a bad address is refused, an unknown peer prints nothing', async () => {
  const { w, run } = router();
  const all = await run('show crypto ipsec sa');
  assert.equal(all.text.match(/current_peer/g)?.length, 3);
  const data = all.data as { interface: string; sas: SaStats; peers: { peer: string }[] }[];
  assert.equal(data[0].sas.outbound.length, 2, 'the raw SA table stays in --json');
  const one = await run('sh cry ips sa pe 203.0.113.11');
  assert.equal(one.text.match(/current_peer/g)?.length, 1);
  assert.match(one.text, /^ {3}current_peer 203\.0\.113\.11 port 500$/m);
  const d = one.data as { interface: string; sas: SaStats; peers: { peer: string; outboundSpi: number }[] }[];
  assert.deepEqual(d.map((x) => x.peers.map((p) => p.peer)), [[SPOKE1]]);
  assert.deepEqual(d[0].sas.outbound.map((o) => o.nbma), [SPOKE1]);
  assert.deepEqual(d[0].sas.inbound.map((i) => i.spi), [child(w.s2, SPOKE1).spiIn]);
  assert.equal(d[0].peers[0].outboundSpi, child(w.s2, SPOKE1).spiOut);
  assert.deepEqual(await run('show crypto ipsec sa peer 192.0.2.99'), { text: '', data: [] });
  for (const bad of ['203.0.113', '203.0.113.256', 'spoke1']) {
    assert.throws(() => run(`show crypto ipsec sa peer ${bad}`), (e: unknown) => e instanceof CommandError && e.code === 'bad-argument' && e.message.includes(`"${bad}"`));
  }
  assert.throws(() => run('show crypto ipsec sa peer'), (e: unknown) => e instanceof CommandError && e.code === 'bad-argument');
});

test('commands: show dmvpn detail --json carries each NBMA peer\'s crypto session', async () => {
  const { w, run } = router();
  const out = await run('show dmvpn detail');
  assert.match(out.text, /Crypto Session Details: \n-{80}\n\nInterface: Tunnel0\n/);
  const d = out.data as { protect: string; peers: { nbma: string; crypto: { status: string; socket: string; outboundSpi: number; ike: { active: boolean }[] } | null }[] }[];
  assert.equal(d[0].protect, 'ipsec-profile');
  const byNbma = new Map(d[0].peers.map((p) => [p.nbma, p.crypto]));
  assert.deepEqual([...byNbma.keys()], [HUB, SPOKE1]);
  for (const [nbma, c] of byNbma) {
    assert.ok(c, nbma);
    assert.equal(c.status, 'UP-ACTIVE');
    assert.equal(c.socket, 'Open');
    assert.equal(c.outboundSpi, child(w.s2, nbma).spiOut);
    assert.deepEqual(c.ike.map((i) => i.active), [true]);
  }
});
