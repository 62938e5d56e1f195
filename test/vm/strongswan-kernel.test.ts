/**
 * strongSwan's charon as a DMVPN peer of dmvpnd on the kernel dataplane: both need the kernel's
 * esp4 and ip_gre, so scripts/vm/strongswan-kernel.ts runs its two scenarios in one boot of the
 * kernel VM and this file asserts on its JSON report:
 *   (a) dmvpnd as a spoke whose NHS is charon's side initiates; dmvpnd as a hub answers charon's
 *       initiation: the IKE SA (PSK, IPv4 address identities, AES-CBC-256/SHA-512/group 19) and
 *       the transport-mode GRE child SA (esp-aes esp-sha-hmac) come up, and swanctl --list-sas,
 *       our `show crypto ikev2 sa` / `show crypto ipsec sa` and `ip xfrm state` on both ends
 *       name the same SPIs;
 *   (b) a ping over the tunnel (charon's side: a plain ip_gre device) is answered, and in the hub
 *       scenario charon's side registers with our hub through ESP (Registration Reply, success);
 *   (c) the underlay carries only ESP and IKE between the NBMA addresses, never bare GRE;
 *   (d) a child SA rekey (ours by lifetime in the spoke scenario, charon's `swanctl --rekey` in
 *       the hub scenario) during a ping series loses at most a few echoes, and the new SPIs are
 *       the kernel's and the wire's.
 * Outside CI a missing VM kernel (or strongSwan) skips it, like test/vm/vm.test.ts; in CI it fails.
 * The report's readers (swanctl, ip xfrm, ping, the capture) are checked here without the VM.
 */
import { before, test } from 'node:test';
import { needsVm, runVmReports } from './vm-opts.js';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { KERNEL_ESP_REQID_MAX, KERNEL_ESP_REQID_MIN } from '../../daemon/kernel-esp.js';
import {
  parseListSas, pingReport, summariseCapture, xfrmStateRows, type CharonChild, type KernelState, type SaSnapshot, type ScenarioReport,
} from '../../scripts/vm/strongswan-kernel-report.js';
import { LinkType, writePcap } from '../../daemon/capture/pcap.js';
import { emitIpv4, ipv4Length, makeIpv4Header } from '../../protocols/ip/ipv4.js';
import { encode } from '../../protocols/wire/index.js';

const RUNNER = fileURLToPath(new URL('../../scripts/vm/strongswan-kernel.js', import.meta.url));
/** Two scenarios of three to eight minutes each under TCG (the spoke's waits for its own rekey), and the boot. */
const VM_TIMEOUT_S = 1500;
/** Echoes a rekey may cost (the peer can switch to the new SA a moment before we install it). */
const REKEY_LOSS_MAX = 3;

function vmOpts(): { skip?: string } {
  return needsVm('timeout', 'charon-systemd', 'swanctl', 'tcpdump');
}
const opts = vmOpts();

let reports: ScenarioReport[] = [];
let runError = '';
let transcriptPath = '';

before(() => {
  if (opts.skip !== undefined) return;
  // DMVPN_STRONGSWAN_REPORT=FILE: assert on a report saved from the runner's --json, without a boot.
  const saved = process.env.DMVPN_STRONGSWAN_REPORT;
  if (saved) {
    reports = JSON.parse(readFileSync(saved, 'utf8')) as ScenarioReport[];
    return;
  }
  ({ reports, runError, transcriptPath } = runVmReports<ScenarioReport>('strongswan-kernel', RUNNER, ['--json'], VM_TIMEOUT_S, 64 << 20));
}, { timeout: (VM_TIMEOUT_S + 90) * 1000 });

function report(role: 'spoke' | 'hub'): ScenarioReport {
  assert.equal(runError, '', runError);
  const r = reports.find((x) => x.role === role);
  assert.ok(r, `no report for the ${role} scenario`);
  return r;
}

function why(r: ScenarioReport): string {
  const failed = r.steps.filter((s) => !s.ok).map((s) => `${s.name}: ${s.error}`);
  const logs = Object.entries(r.logs ?? {}).map(([k, v]) => `--- ${k}\n${v.slice(-30).join('\n')}`);
  return [...failed, ...logs, transcriptPath && `(the runner's transcript: ${transcriptPath})`].join('\n');
}

/** Charon's one installed child SA in a snapshot. */
function charonChild(s: SaSnapshot): CharonChild {
  const ike = s.charon.ike.filter((x) => x.state === 'ESTABLISHED');
  assert.equal(ike.length, 1, s.charon.text);
  const installed = ike[0].children.filter((c) => c.state === 'INSTALLED');
  assert.equal(installed.length, 1, s.charon.text);
  return installed[0];
}

const hasState = (list: readonly KernelState[], src: string, dst: string, spi: number): boolean =>
  list.some((k) => k.src === src && k.dst === dst && k.spi === spi && k.mode === 'transport');

/** Both ends hold the child SA `c` (charon's view) as transport-mode xfrm states, ours in our reqid range. */
function assertKernelHolds(r: ScenarioReport, s: SaSnapshot, c: CharonChild): void {
  const toCharon = [r.ours.nbma, r.charon.nbma, c.spiIn] as const;
  const toUs = [r.charon.nbma, r.ours.nbma, c.spiOut] as const;
  for (const [side, list] of [['ours', s.kernel.ours], ['charon\'s', s.kernel.charon]] as const) {
    assert.ok(hasState(list, ...toCharon), `${side} kernel: ${toCharon.join(' -> ')} spi ${c.spiIn.toString(16)}`);
    assert.ok(hasState(list, ...toUs), `${side} kernel: ${toUs.join(' -> ')} spi ${c.spiOut.toString(16)}`);
  }
  for (const k of s.kernel.ours.filter((x) => x.spi === c.spiIn || x.spi === c.spiOut)) {
    assert.ok(k.reqid >= KERNEL_ESP_REQID_MIN && k.reqid <= KERNEL_ESP_REQID_MAX, `our reqid ${k.reqid}`);
    assert.equal(k.algorithms, 'cbc(aes) hmac(sha1)');
  }
}

for (const role of ['spoke', 'hub'] as const) {
  const who = role === 'spoke' ? 'we initiate' : 'charon initiates';

  test(`strongSwan on the kernel dataplane, dmvpnd as ${role} (${who}): IKE and child SA up, SPIs agree everywhere`, { ...opts, timeout: 10_000 }, () => {
    const r = report(role);
    assert.deepEqual(r.steps.filter((s) => !s.ok), [], why(r));
    const s = r.established!;
    const ike = s.charon.ike[0];
    assert.equal(ike.state, 'ESTABLISHED');
    assert.equal(ike.charonInitiated, role === 'hub');
    assert.equal(ike.proposal, 'AES_CBC-256/HMAC_SHA2_512_256/PRF_HMAC_SHA2_512/ECP_256');
    // Our IKE SA: the same SPIs, the right initiator.
    const ours = s.ours.ike.filter((x) => x.remote === `${r.charon.nbma}/500`);
    assert.equal(ours.length, 1, JSON.stringify(s.ours.ike));
    assert.deepEqual([ours[0].state, ours[0].initiator], ['established', role === 'spoke']);
    assert.deepEqual([ours[0].encr, ours[0].keysize, ours[0].hash, ours[0].prf, ours[0].dhGroup], ['AES-CBC', 256, 'SHA512', 'SHA512', 19]);
    assert.deepEqual([ours[0].localId, ours[0].remoteId], [r.ours.nbma, r.charon.nbma]);
    const [mine, theirs] = role === 'spoke' ? [ike.spiI, ike.spiR] : [ike.spiR, ike.spiI];
    assert.deepEqual([ours[0].localSpi, ours[0].remoteSpi], [mine.toUpperCase(), theirs.toUpperCase()]);
    // The child SA: transport-mode GRE with IOS's default transform set, the same SPIs on both sides.
    const c = charonChild(s);
    assert.deepEqual([c.name, c.mode, c.proposal], ['gre', 'TRANSPORT', 'ESP:AES_CBC-128/HMAC_SHA1_96']);
    const ipsec = s.ours.ipsec!;
    assert.equal(ipsec.status, 'UP-ACTIVE');
    assert.deepEqual(ipsec.flow, { protocol: 47, local: r.ours.nbma, remote: r.charon.nbma });
    assert.equal(ipsec.outboundSpi, c.spiIn, 'our outbound SPI is charon\'s inbound SPI');
    assert.ok(ipsec.inbound.some((i) => i.spi === c.spiOut && i.state === 'installed'), 'charon\'s outbound SPI is our inbound SPI');
    assert.match(ipsec.transform ?? '', /esp-aes/);
    assert.match(s.ours.text, new RegExp(`current outbound spi: 0x${c.spiIn.toString(16).toUpperCase().padStart(8, '0')}`));
    assertKernelHolds(r, s, c);
  });

  test(`strongSwan on the kernel dataplane, dmvpnd as ${role}: pings go GRE in ESP, the underlay has no bare GRE`, { ...opts, timeout: 10_000 }, () => {
    const r = report(role);
    assert.deepEqual(r.steps.filter((s) => !s.ok), [], why(r));
    const p = r.pings.first!;
    assert.deepEqual([p.received, p.transmitted], [5, 5], p.output);
    if (role === 'hub') {
      // Charon's side registered with our hub through the tunnel: our Registration Reply came back in ESP.
      assert.deepEqual(r.registration, { code: 0, from: r.ours.nbma });
      assert.equal(r.nhrpEntry?.type, 'dynamic');
      assert.ok(r.nhrpEntry?.flags.includes('registered'), JSON.stringify(r.nhrpEntry));
    }
    const cap = r.capture!;
    assert.equal(cap.gre, 0, 'clear GRE on the underlay');
    assert.deepEqual(cap.other, [], 'only ESP and IKE between the NBMA addresses');
    assert.ok(cap.ike >= 4, `IKE exchanges on the wire (${cap.ike})`);
    assert.ok(cap.esp >= 2 * (5 + 100), `the pings' ESP on the wire (${cap.esp})`);
  });

  test(`strongSwan on the kernel dataplane, dmvpnd as ${role}: ${role === 'spoke' ? 'our' : 'charon\'s'} child SA rekey keeps the pings going`, { ...opts, timeout: 10_000 }, () => {
    const r = report(role);
    assert.deepEqual(r.steps.filter((s) => !s.ok), [], why(r));
    assert.equal(r.rekeyedBy, role === 'spoke' ? 'ours' : 'charon');
    const old = charonChild(r.established!);
    const s = r.rekeyed!;
    const c = charonChild(s);
    assert.notEqual(c.spiIn, old.spiIn);
    assert.notEqual(c.spiOut, old.spiOut);
    // Still one IKE SA, the same on both sides; our side sends with the new SA.
    assert.deepEqual(s.charon.ike.map((x) => [x.spiI, x.spiR]), r.established!.charon.ike.map((x) => [x.spiI, x.spiR]));
    assert.equal(s.ours.ipsec!.outboundSpi, c.spiIn);
    assert.ok(s.ours.ipsec!.inbound.some((i) => i.spi === c.spiOut && i.state === 'installed'));
    assertKernelHolds(r, s, c);
    assert.ok(!hasState(s.kernel.ours, r.ours.nbma, r.charon.nbma, old.spiIn), 'our old outbound state is gone');
    // The pings across the rekey.
    const p = r.pings.rekey!;
    assert.equal(p.transmitted, 150, p.output);
    assert.ok(p.transmitted - p.received <= REKEY_LOSS_MAX, `${p.transmitted - p.received} echoes lost across the rekey:\n${p.output}`);
    // On the wire: every ESP packet carries one of the two SAs' SPIs in its direction, and the new ones carried traffic.
    const cap = r.capture!;
    const ok = (src: string, spi: number): boolean => (src === r.ours.nbma ? [old.spiIn, c.spiIn] : [old.spiOut, c.spiOut]).includes(spi);
    assert.deepEqual(cap.espSpis.filter((x) => !ok(x.src, x.spi)), [], 'ESP with an SPI neither side announced');
    for (const [src, spi] of [[r.ours.nbma, c.spiIn], [r.charon.nbma, c.spiOut]] as const) {
      assert.ok((cap.espSpis.find((x) => x.src === src && x.spi === spi)?.packets ?? 0) >= 50, `ESP from ${src} with the new SPI ${spi.toString(16)}`);
    }
  });
}

// ---- the report's readers, on the host ----

/** `swanctl --list-sas` from the VM (charon 5.9.8), mid-rekey: the old child SA still listed. */
const LIST_SAS = `dmvpn: #1, ESTABLISHED, IKEv2, 999fa643be4d263e_i 900e4cff7436e598_r*
  local  '203.0.113.1' @ 203.0.113.1[500]
  remote '203.0.113.12' @ 203.0.113.12[500]
  AES_CBC-256/HMAC_SHA2_512_256/PRF_HMAC_SHA2_512/ECP_256
  established 149s ago, rekeying in 12930s
  gre: #1, reqid 1, REKEYED, TRANSPORT, ESP:AES_CBC-128/HMAC_SHA1_96
    installed 110s ago
    in  ca321523,   1234 bytes,    12 packets,     9s ago
    out 3a04f830,   1234 bytes,    12 packets,     9s ago
    local  203.0.113.1/32[gre]
    remote 203.0.113.12/32[gre]
  gre: #2, reqid 1, INSTALLED, TRANSPORT, ESP:AES_CBC-128/HMAC_SHA1_96
    installed 39s ago, rekeying in 3292s, expires in 3921s
    in  c5f55287,  12056 bytes,   137 packets,     8s ago
    out ab29cc9b,  11792 bytes,   134 packets,     8s ago
    local  203.0.113.1/32[gre]
    remote 203.0.113.12/32[gre]
`;

test('strongswan-kernel report: swanctl --list-sas reads into IKE SAs with their child SAs and SPIs', () => {
  const [ike, ...more] = parseListSas(LIST_SAS);
  assert.deepEqual(more, []);
  assert.deepEqual({ ...ike, children: undefined }, {
    name: 'dmvpn', state: 'ESTABLISHED', spiI: '999fa643be4d263e', spiR: '900e4cff7436e598', charonInitiated: false,
    proposal: 'AES_CBC-256/HMAC_SHA2_512_256/PRF_HMAC_SHA2_512/ECP_256', children: undefined,
  });
  assert.deepEqual(ike.children, [
    { name: 'gre', state: 'REKEYED', mode: 'TRANSPORT', proposal: 'ESP:AES_CBC-128/HMAC_SHA1_96', spiIn: 0xca321523, spiOut: 0x3a04f830 },
    { name: 'gre', state: 'INSTALLED', mode: 'TRANSPORT', proposal: 'ESP:AES_CBC-128/HMAC_SHA1_96', spiIn: 0xc5f55287, spiOut: 0xab29cc9b },
  ]);
  // charon's star on the initiator SPI: it initiated.
  assert.equal(parseListSas(LIST_SAS.replace('_i 900e4cff7436e598_r*', '_i* 900e4cff7436e598_r'))[0].charonInitiated, true);
  assert.deepEqual(parseListSas('no IKE_SAs found\n'), []);
});

test('strongswan-kernel report: ip xfrm state and ping summaries', () => {
  const text = `src 203.0.113.12 dst 203.0.113.1
\tproto esp spi 0xc5f55287 reqid 1677721600 mode transport
\treplay-window 0 flag af-unspec
\tauth-trunc hmac(sha1) 0x${'11'.repeat(20)} 96
\tenc cbc(aes) 0x${'22'.repeat(16)}
\tanti-replay context: seq 0x0, oseq 0x89, bitmap 0x00000000
\tsel src 203.0.113.12/32 dst 203.0.113.1/32 proto gre
`;
  assert.deepEqual(xfrmStateRows(text), [
    { src: '203.0.113.12', dst: '203.0.113.1', spi: 0xc5f55287, reqid: 1677721600, mode: 'transport', algorithms: 'cbc(aes) hmac(sha1)' },
  ]);
  const p = pingReport('PING 10.0.0.12 (10.0.0.12) from 10.0.0.1 : 56(84) bytes of data.\n...\n150 packets transmitted, 148 received, 1.33333% packet loss, time 30021ms\nrtt min/avg/max/mdev = 1/2/3/0.5 ms\n');
  assert.deepEqual([p.transmitted, p.received], [150, 148]);
  assert.deepEqual([pingReport('ping: connect: Network is unreachable').transmitted, pingReport('').received], [0, 0]);
});

test('strongswan-kernel report: the capture by IP protocol, ESP by SPI, clear GRE named by what it carries', () => {
  const A = '203.0.113.12';
  const B = '203.0.113.1';
  const ip = (src: string, dst: string, proto: number, payload: Uint8Array): { data: Uint8Array } =>
    ({ data: encode({ header: makeIpv4Header(src, dst, proto, payload.length), payload }, emitIpv4, ipv4Length) });
  const esp = (spi: number): Uint8Array => Uint8Array.from([spi >>> 24, (spi >>> 16) & 0xff, (spi >>> 8) & 0xff, spi & 0xff, 0, 0, 0, 1, 9, 9]);
  const udp = (sport: number, dport: number): Uint8Array => Uint8Array.from([sport >> 8, sport & 0xff, dport >> 8, dport & 0xff, 0, 12, 0, 0, 1, 2, 3, 4]);
  const nhrpInGre = Uint8Array.from([0, 0, 0x20, 0x01, 0, 1, 8, 0]);
  const pcap = writePcap([
    ip(A, B, 17, udp(500, 500)), ip(B, A, 17, udp(500, 500)), ip(A, B, 17, udp(4500, 4500)),
    ip(A, B, 50, esp(0xc5f55287)), ip(A, B, 50, esp(0xc5f55287)), ip(B, A, 50, esp(0xab29cc9b)),
    ip(A, B, 47, nhrpInGre), ip(A, '224.0.0.22', 2, new Uint8Array(8)), ip(A, B, 1, new Uint8Array(8)),
  ], LinkType.RAW);
  const c = summariseCapture(pcap, A, B);
  assert.deepEqual([c.packets, c.ike, c.esp, c.gre], [9, 3, 3, 1]);
  assert.deepEqual(c.espSpis, [
    { src: A, dst: B, spi: 0xc5f55287, packets: 2 }, { src: B, dst: A, spi: 0xab29cc9b, packets: 1 },
  ]);
  assert.deepEqual(c.other, [`#7 ${A} -> ${B} GRE (clear) type 0x2001, 28 bytes`, `#9 ${A} -> ${B} protocol 1`]);
  assert.deepEqual(c.elsewhere, [`#8 ${A} -> 224.0.0.22 protocol 2`]);
});
