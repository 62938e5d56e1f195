/**
 * The reference lab with tunnel protection on, as the reference configures it
 * (IKEv2 keyring with a PSK for 0.0.0.0/0, profile, ipsec profile): the underlay
 * carries only IKE and ESP between NBMA addresses, never clear GRE; EIGRP and
 * Phase 3 work through it, the spoke-to-spoke SA comes up on demand, shows in
 * `show crypto ipsec sa peer` and `show dmvpn detail`, and goes (INFORMATIONAL
 * Delete) when NHRP forgets the spoke, while the hub's SA stays. Wireshark,
 * given the keys `dmvpnctl show crypto keys --wireshark` prints as its UAT
 * files, decrypts our IKE_AUTH and ESP and dissects the GRE and NHRP inside.
 *
 * With DMVPN_LAB_DATAPLANE=kernel (inside the VM: test/vm/lab-kernel.test.ts) the same test runs
 * on the kernel dataplane, plus what only the kernel can show: `ip xfrm state` holds transport-mode
 * ESP states between the NBMA addresses with the negotiated transform and exactly the SPIs
 * `show crypto ipsec sa` reports; `ip xfrm policy` holds the GRE policy pair of every peer; the
 * kernel's ESP counters move with the pings; and after `ip xfrm state flush` on the hub the daemon
 * re-installs its states (a warning, a counter) and traffic through the hub flows again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, labTimeScale, type RouterName } from '../../scripts/lab/topology.js';
import { needsTool, isRoot } from '../support/tools.js';
import { parseIpPolicies, parseIpStates, type IpState } from '../platform/linux/fixtures/xfrm-ip.js';
import { GRE_TRANSPORT_PRIORITY, KERNEL_ESP_REQID_MAX, KERNEL_ESP_REQID_MIN } from '../../daemon/kernel-esp.js';
import { fields, expertItems, protocolStack, Severity, JUSTIFIED_NOTES, type TsharkLayers } from '../wireshark/support.js';

const opts = !isRoot() && process.env.CI !== 'true' ? { skip: 'needs root for network namespaces' } : needsTool('ip', 'traceroute', 'tcpdump', 'tshark');
const ROUTERS: RouterName[] = ['hub', 'spoke1', 'spoke2', 'spoke3'];
const HUB = '203.0.113.1';
const SPOKE1 = '203.0.113.11';
const SPOKE2 = '203.0.113.12';
const SPOKE3 = '203.0.113.13';

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
/**
 * Outbound SPIs the hub re-installed after `ip xfrm state flush` (kernel dataplane): such a state
 * starts its sequence numbers far past the last one read, by design (an AES-GCM nonce must never
 * repeat, RFC 4106 section 3; a receiver takes a gap, RFC 4303 section 3.4.3), so Wireshark's
 * "Wrong Sequence Number ... missing" on those SPIs, and on those only, is expected.
 */
const skippedSpis = new Set<number>();

function assertCleanFrame(l: TsharkLayers, what: string): void {
  assert.equal(fields(l, '_ws.malformed').length, 0, `${what}: Wireshark marks it malformed`);
  assert.equal(l['_ws.malformed'], undefined, `${what}: Wireshark marks it malformed`);
  const quotesIcmpError = fields(l, 'nhrp.hdr.op.type').includes('8') && fields(l, 'icmp.type').some((t) => t === '3' || t === '11');
  const notes = [...JUSTIFIED_NOTES, /^"Time To Live" only 1$/];
  for (const e of expertItems(l)) {
    if (quotesIcmpError && e.message === 'Bogus IP version') continue;
    const gap = /^Wrong Sequence Number for SPI ([0-9a-f]+) - \d+ missing$/.exec(e.message);
    if (gap && skippedSpis.has(parseInt(gap[1], 16))) continue;
    assert.ok(e.severity < Severity.WARN, `${what}: expert ${e.severity >= Severity.ERROR ? 'error' : 'warning'}: ${e.message}`);
    if (e.severity >= Severity.NOTE) assert.ok(notes.some((re) => re.test(e.message)), `${what}: unexpected expert note: ${e.message}`);
  }
}
interface CryptoPeer { peer: string; status: string; socket: string; outboundSpi: number | null; activeSas: number }
interface EspSa { spi: number; transform: string; state: string }
interface IpsecPeer extends CryptoPeer { localAddress: string; inbound: EspSa[]; outbound: EspSa[] }

/**
 * dmvpnctl, asked again until the daemon answers (status 0). The show commands with counters read
 * the kernel's first (nft, an xfrm dump): inside the VM that can outlast dmvpnctl's 5 s.
 */
async function ctlSure(lab: Lab, r: RouterName, words: string[]): Promise<string> {
  let out = '';
  await lab.waitFor(`${r} answering ${words.join(' ')}`, () => {
    const o = lab.ctl(r, words);
    out = o.stdout;
    return o.status === 0;
  }, 30_000, 500);
  return out;
}

async function ctlJsonSure<T>(lab: Lab, r: RouterName, words: string[]): Promise<T> {
  return JSON.parse(await ctlSure(lab, r, [...words, '--json'])) as T;
}

// ---- the kernel dataplane: what `ip xfrm` shows ----

/** The kernel algorithms of an IOS transform set (crypto API name, key bytes; HMAC name, key bytes, ICV bits). */
const KERNEL_TRANSFORM: Readonly<Record<string, { enc: [string, number]; auth?: [string, number, number] }>> = {
  'esp-aes esp-sha-hmac': { enc: ['cbc(aes)', 16], auth: ['hmac(sha1)', 20, 96] },
  'esp-256-aes esp-sha-hmac': { enc: ['cbc(aes)', 32], auth: ['hmac(sha1)', 20, 96] },
  'esp-aes esp-sha256-hmac': { enc: ['cbc(aes)', 16], auth: ['hmac(sha256)', 32, 128] },
  'esp-256-aes esp-sha256-hmac': { enc: ['cbc(aes)', 32], auth: ['hmac(sha256)', 32, 128] },
  'esp-gcm': { enc: ['rfc4106(gcm(aes))', 20] },
  'esp-gcm 256': { enc: ['rfc4106(gcm(aes))', 36] },
};

const ours = (s: { proto: number; reqid: number; spi: number }): boolean =>
  s.proto === 50 && s.spi !== 0 && s.reqid >= KERNEL_ESP_REQID_MIN && s.reqid <= KERNEL_ESP_REQID_MAX;

/** The daemon's ESP states in r's kernel (`ip xfrm state`; larval acquire states, SPI 0, left out). */
function kernelStates(lab: Lab, r: RouterName): IpState[] {
  return parseIpStates(lab.exec(r, ['ip', 'xfrm', 'state']).stdout).filter(ours);
}

/** Packets through each of r's ESP states, by "dst/spi" (`ip -s xfrm state`: "lifetime current:" then "N(bytes), M(packets)"). */
function kernelPackets(lab: Lab, r: RouterName): Map<string, number> {
  const out = new Map<string, number>();
  let key: string | undefined;
  let dst = '';
  for (const line of lab.exec(r, ['ip', '-s', 'xfrm', 'state']).stdout.split('\n')) {
    const head = /^src \S+ dst (\S+)/.exec(line);
    if (head) [dst, key] = [head[1], undefined];
    const id = /^\s+proto esp spi 0x([0-9a-f]+)/.exec(line);
    if (id) key = `${dst}/${parseInt(id[1], 16)}`;
    const cur = /(\d+)\(bytes\), (\d+)\(packets\)/.exec(line);
    if (cur && key !== undefined && !out.has(key)) out.set(key, Number(cur[2]));
  }
  return out;
}

/**
 * r's kernel holds exactly the ESP states `show crypto ipsec sa` reports (each peer's outbound SPI,
 * its live inbound SPIs, nothing else of ours), transport mode between the NBMA addresses with a
 * GRE selector and the negotiated transform's algorithms; and per peer the GRE policy pair that
 * requires them. Returns the number of states.
 */
async function assertKernelSas(lab: Lab, r: RouterName, local: string, peersWanted: readonly string[]): Promise<number> {
  const shown = (await ctlJsonSure<{ peers: IpsecPeer[] }[]>(lab, r, ['show', 'crypto', 'ipsec', 'sa']))[0]?.peers ?? [];
  const states = kernelStates(lab, r);
  const policies = parseIpPolicies(lab.exec(r, ['ip', '-s', 'xfrm', 'policy']).stdout).filter((p) => p.priority === GRE_TRANSPORT_PRIORITY);
  const what = (s: IpState): string => `${r}: ${s.src}->${s.dst} spi 0x${s.spi.toString(16)}`;
  assert.deepEqual(shown.map((p) => p.peer).sort(), [...peersWanted].sort(), `${r}: the peers of show crypto ipsec sa`);
  const accounted = new Set<string>();
  for (const p of shown) {
    assert.ok(p.outboundSpi !== null, `${r}: an outbound SA to ${p.peer}`);
    const wanted = [
      { src: local, dst: p.peer, spi: p.outboundSpi, transform: p.outbound[0]?.transform },
      ...p.inbound.filter((i) => i.state === 'installed' || i.state === 'rekeying').map((i) => ({ src: p.peer, dst: local, spi: i.spi, transform: i.transform })),
    ];
    const all = new Set([p.outboundSpi, ...p.inbound.map((i) => i.spi)]);
    for (const s of states.filter((x) => (x.src === p.peer || x.dst === p.peer) && all.has(x.spi))) accounted.add(`${s.dst}/${s.spi}`);
    let reqid: number | undefined;
    for (const w of wanted) {
      const s = states.find((x) => x.src === w.src && x.dst === w.dst && x.spi === w.spi);
      assert.ok(s, `${r}: no kernel state ${w.src}->${w.dst} spi 0x${w.spi.toString(16)} (kernel: ${states.map((x) => `${x.src}->${x.dst} 0x${x.spi.toString(16)}`).join(', ')})`);
      assert.equal(s.mode, 'transport', `${what(s)}: transport mode`);
      assert.deepEqual(s.selector, { src: w.src, srcPrefix: 32, dst: w.dst, dstPrefix: 32, proto: 47 }, `${what(s)}: GRE between the NBMA addresses`);
      const t = KERNEL_TRANSFORM[w.transform ?? ''];
      assert.ok(t, `${what(s)}: transform ${w.transform}`);
      const enc = s.aead ?? s.crypt;
      assert.deepEqual([enc?.name, enc?.key.length], t.enc, `${what(s)}: ${w.transform}'s cipher`);
      assert.deepEqual(s.auth && [s.auth.name, s.auth.key.length, s.auth.truncBits], t.auth, `${what(s)}: ${w.transform}'s integrity`);
      if (s.aead) assert.equal(s.aead.icvBits, 128, `${what(s)}: a 16-byte GCM ICV`);
      reqid ??= s.reqid;
      assert.equal(s.reqid, reqid, `${what(s)}: one reqid per peer`);
    }
    // The policy pair: GRE to the peer only through ESP, GRE from it only out of ESP (level required).
    for (const [dir, src, dst] of [['out', local, p.peer], ['in', p.peer, local]] as const) {
      const pol = policies.filter((x) => x.dir === dir && x.selector.src === src && x.selector.dst === dst);
      assert.equal(pol.length, 1, `${r}: one GRE policy ${dir} ${src}->${dst}`);
      assert.deepEqual(pol[0].selector, { src, srcPrefix: 32, dst, dstPrefix: 32, proto: 47 });
      assert.equal(pol[0].action, 'allow');
      assert.deepEqual(pol[0].templates.map((x) => [x.src, x.dst, x.proto, x.reqid, x.mode, x.optional]), [[src, dst, 50, reqid, 'transport', false]],
        `${r}: the ${dir} policy requires ESP in transport mode with the peer's states' reqid`);
    }
  }
  assert.deepEqual(states.filter((s) => !accounted.has(`${s.dst}/${s.spi}`)).map(what), [], `${r}: kernel states that show crypto ipsec sa does not know`);
  assert.equal(policies.length, 2 * shown.length, `${r}: exactly one policy pair per peer`);
  return states.length;
}

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

/** The SPIs of r's kernel states from `peer` (inbound) and to it (outbound). */
function spisWith(lab: Lab, r: RouterName, local: string, peer: string): { inbound: string[]; outbound: string[] } {
  const st = kernelStates(lab, r);
  return {
    inbound: st.filter((s) => s.src === peer && s.dst === local).map((s) => `${s.dst}/${s.spi}`),
    outbound: st.filter((s) => s.src === local && s.dst === peer).map((s) => `${s.dst}/${s.spi}`),
  };
}

/**
 * The kernel dataplane's own evidence: the xfrm states and policies the daemons programmed, their
 * counters moving with the pings, and recovery from `ip xfrm state flush` on the hub.
 */
async function kernelChecks(lab: Lab, t: { diagnostic(msg: string): void }): Promise<void> {
  t.diagnostic(`spoke2: ip xfrm policy\n${lab.exec('spoke2', ['ip', 'xfrm', 'policy']).stdout}`);
  const hubStates = await assertKernelSas(lab, 'hub', HUB, [SPOKE1, SPOKE2, SPOKE3]);
  await assertKernelSas(lab, 'spoke2', SPOKE2, [HUB, SPOKE1]);
  t.diagnostic(`hub: ${hubStates} ESP states in the kernel`);

  // The kernel's ESP counters move with the pings: spoke to spoke on spoke2's states with spoke1,
  // through the hub on the hub's states with spoke3.
  const sum = (m: Map<string, number>, keys: readonly string[]): number => keys.reduce((n, k) => n + (m.get(k) ?? 0), 0);
  const s2 = spisWith(lab, 'spoke2', SPOKE2, SPOKE1);
  const h3 = spisWith(lab, 'hub', HUB, SPOKE3);
  const before = { s2: kernelPackets(lab, 'spoke2'), hub: kernelPackets(lab, 'hub') };
  assert.equal(lab.exec('h2', ['ping', '-c', '5', '-i', '0.2', '-W', '2', '192.168.1.10'], { check: false, timeoutMs: 20_000 }).status, 0, 'h2 -> h1');
  assert.equal(lab.exec('h3', ['ping', '-c', '5', '-i', '0.2', '-W', '2', '192.168.0.10'], { check: false, timeoutMs: 20_000 }).status, 0, 'h3 -> h0');
  const after = { s2: kernelPackets(lab, 'spoke2'), hub: kernelPackets(lab, 'hub') };
  const moved = (w: 's2' | 'hub', keys: readonly string[]): number => sum(after[w], keys) - sum(before[w], keys);
  assert.ok(moved('s2', s2.outbound) >= 5, `spoke2's ESP state to spoke1 carried the 5 echo requests (${moved('s2', s2.outbound)})`);
  assert.ok(moved('s2', s2.inbound) >= 5, `spoke2's ESP states from spoke1 carried the 5 replies (${moved('s2', s2.inbound)})`);
  assert.ok(moved('hub', h3.inbound) >= 5, `the hub's ESP states from spoke3 carried the 5 echo requests (${moved('hub', h3.inbound)})`);
  assert.ok(moved('hub', h3.outbound) >= 5, `the hub's ESP state to spoke3 carried the 5 replies (${moved('hub', h3.outbound)})`);

  // Recovery: states removed under the daemon come back (on its periodic check), with a warning
  // naming each SA and a counter; traffic through the hub flows again.
  const reinstalled = (): number => lab.ctlJson<{ counters: Record<string, number> }[]>('hub', ['show', 'dataplane'])?.[0]?.counters.espStatesReinstalled ?? 0;
  const spis = kernelStates(lab, 'hub').map((s) => `${s.src}->${s.dst}/${s.spi}`).sort();
  const counted = (await ctlJsonSure<{ counters: Record<string, number> }[]>(lab, 'hub', ['show', 'dataplane']))[0].counters.espStatesReinstalled;
  assert.equal(typeof counted, 'number', 'show dataplane --json counts re-installed ESP states');
  for (const st of kernelStates(lab, 'hub')) if (st.src === HUB) skippedSpis.add(st.spi);
  lab.exec('hub', ['ip', 'xfrm', 'state', 'flush']);
  await lab.waitFor('the hub re-installs the ESP states flushed under it', () =>
    reinstalled() >= counted + spis.length && kernelStates(lab, 'hub').length === spis.length, 30_000, 1000);
  assert.deepEqual(kernelStates(lab, 'hub').map((s) => `${s.src}->${s.dst}/${s.spi}`).sort(), spis, 'the same SAs, by SPI');
  await lab.waitFor('h3 reaching h0 through the hub again', () =>
    lab.exec('h3', ['ping', '-c', '1', '-W', '2', '192.168.0.10'], { check: false, timeoutMs: 10_000 }).status === 0, 30_000, 500);
  await assertKernelSas(lab, 'hub', HUB, [SPOKE1, SPOKE2, SPOKE3]);
  // The log reaches the file through this process's pipe: give it time to arrive.
  let warned: string[] = [];
  await lab.waitFor('a warning per re-installed SA in the hub\'s log', () => {
    warned = lab.log('hub').split('\n').filter((l) => /xfrm state .* vanished/.test(l));
    return warned.length >= spis.length;
  }, 20_000, 500).catch(() => undefined);
  t.diagnostic(`hub: ${warned.length} re-install warnings, e.g. ${warned[0] ?? 'none'}`);
  assert.ok(warned.length >= spis.length, `a warning per re-installed SA (${warned.length} of ${spis.length})`);
  assert.match(warned.join('\n'), new RegExp(`${SPOKE3.replace(/\./g, '\\.')}.*spi 0x[0-9a-f]+ .*(inbound|outbound)`), 'naming the peer, SPI and direction');
}

test('lab with IPsec: only IKE and ESP on the underlay, EIGRP and Phase 3 through it, spoke-to-spoke SA on demand and gone when NHRP forgets the spoke; Wireshark decrypts it all', { ...opts, timeout: 240_000 * labTimeScale() }, async (t) => {
  const lab = new Lab(`di${process.pid % 100000}`, undefined, { ipsec: true });
  try {
    lab.build();
    const pcap = join(lab.dir, 'underlay.pcap');
    const dump = await lab.capture('ul', 'br0', pcap, 'ip');
    const keyDumps: string[] = [];
    try {
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
      const peerSa = await ctlJsonSure<{ interface: string; peers: CryptoPeer[] }[]>(lab, 'spoke2', ['show', 'crypto', 'ipsec', 'sa', 'peer', SPOKE1]);
      // Both spokes map each other at once and may both initiate: one IKE SA, or two (4 ESP SAs), as IOS can.
      assert.deepEqual(peerSa.map((d) => [d.interface, d.peers.map((p) => [p.peer, p.status, p.activeSas >= 2])]), [['Tunnel0', [[SPOKE1, 'UP-ACTIVE', true]]]]);
      const peerText = await ctlSure(lab, 'spoke2', ['show', 'crypto', 'ipsec', 'sa', 'peer', SPOKE1]);
      assert.match(peerText, new RegExp(`^ {3}current_peer ${SPOKE1} port 500$`, 'm'));
      assert.equal(peerText.match(/current_peer/g)?.length, 1);
      assert.match(peerText, /^ {4}#pkts encaps: [1-9]\d*, /m);
      assert.equal(await ctlSure(lab, 'spoke2', ['show', 'crypto', 'ipsec', 'sa', 'peer', '203.0.113.99']), '');
      const bad = lab.ctl('spoke2', ['show', 'crypto', 'ipsec', 'sa', 'peer', '203.0.113']);
      assert.notEqual(bad.status, 0);
      assert.match(bad.stderr, /Invalid IPv4 address "203\.0\.113"/);
      // show dmvpn detail: each NBMA peer's crypto session, in the text and the JSON.
      const detail = await ctlJsonSure<{ peers: { nbma: string; crypto: CryptoPeer | null }[] }[]>(lab, 'spoke2', ['show', 'dmvpn', 'detail']);
      for (const nbma of [HUB, SPOKE1]) {
        const c = detail[0]?.peers.find((p) => p.nbma === nbma)?.crypto;
        assert.deepEqual(c && [c.status, c.socket, c.outboundSpi !== null], ['UP-ACTIVE', 'Open', true], `spoke2's crypto session with ${nbma}`);
      }
      assert.match(await ctlSure(lab, 'spoke2', ['show', 'dmvpn', 'detail']), new RegExp(`Crypto Session Details: \\n-{80}\\n[\\s\\S]*^ {2}IPSEC FLOW: permit 47 host ${SPOKE2} host ${SPOKE1} $[\\s\\S]*^ {4}Socket State: Open$`, 'm'));

      // The keys, from every router while every SA is up (an SA's keys go with it).
      for (const r of ROUTERS) keyDumps.push(await ctlSure(lab, r, ['show', 'crypto', 'keys', '--wireshark']));
      assert.match(keyDumps[2], /# esp_sa\n"IPv4","203\.0\.113\./);

      if (lab.options.dataplane === 'kernel') await kernelChecks(lab, t);

      // NHRP forgets spoke1 on spoke2 (`clear ip nhrp`; an unused shortcut's expiry takes the same
      // path): spoke2 deletes the IKE SA with spoke1, spoke1 learns it from the Delete. The hub's SA stays.
      const ikeSas = (r: RouterName): IkeRow[] => lab.ctlJson<IkeRow[]>(r, ['show', 'crypto', 'ikev2', 'sa']) ?? [];
      const hubSa = (await ctlJsonSure<IkeRow[]>(lab, 'spoke2', ['show', 'crypto', 'ikev2', 'sa'])).find((s) => s.remote === `${HUB}/500`);
      assert.equal(hubSa?.status, 'READY');
      assert.equal(lab.ctl('spoke2', ['clear', 'ip', 'nhrp']).status, 0);
      await lab.waitFor('no SA between spoke2 and spoke1 on either side', () =>
        !ikeSas('spoke2').some((s) => s.remote.startsWith(`${SPOKE1}/`)) && !ikeSas('spoke1').some((s) => s.remote.startsWith(`${SPOKE2}/`)), 15_000);
      const after = await ctlJsonSure<{ peers: unknown[]; sas: { outbound: { nbma: string }[] } | null }[]>(lab, 'spoke2', ['show', 'crypto', 'ipsec', 'sa']);
      assert.equal(after[0]?.sas?.outbound.some((o) => o.nbma === SPOKE1), false, 'the ESP SAs left the dataplane');
      assert.deepEqual(await ctlJsonSure(lab, 'spoke2', ['show', 'crypto', 'ipsec', 'sa', 'peer', SPOKE1]), []);
      assert.deepEqual((await ctlJsonSure<IkeRow[]>(lab, 'spoke2', ['show', 'crypto', 'ikev2', 'sa'])).filter((s) => s.remote === `${HUB}/500`).map((s) => [s.localSpi, s.status]), [[hubSa?.localSpi, 'READY']], 'the NHS\'s SA is the same one');
    } catch (e) {
      // Inside the VM a failure is expensive to reproduce: say more.
      const lines = labTimeScale() > 1 ? 80 : 25;
      for (const r of ROUTERS) console.error(`--- ${r} log ---\n${lab.log(r).split('\n').slice(-lines).join('\n')}`);
      if (lab.options.dataplane === 'kernel') {
        for (const r of ['hub', 'spoke2'] as const) console.error(`--- ${r}: ip xfrm policy ---\n${lab.exec(r, ['ip', 'xfrm', 'policy'], { check: false }).stdout}`);
      }
      throw e;
    } finally {
      await dump.stop();
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
