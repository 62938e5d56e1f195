import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../daemon/config/index.js';
import { pino } from 'pino';
import { ikeConfigFor, espKeys, IpsecRuntime, type EspTarget } from '../../daemon/ipsec.js';
import type { TunnelInterfaceConfig } from '../../daemon/config/model.js';
import type { ChildSaInfo, IkeAction } from '../../protocols/ikev2/engine-types.js';
import { ikeConfig } from '../../protocols/ikev2/policy.js';
import type { EspSa } from '../../platform/native/esp.js';
import { silentLogger, type Logger } from '../../daemon/log.js';
import { isRoot } from '../support/tools.js';
import { TunnelRuntime } from '../../daemon/tunnel.js';
import { engineConfig } from '../../daemon/router.js';
import { Rib } from '../../daemon/rib.js';
import { FakeRtnetlink } from '../../platform/fake/netlink.js';
import type { NhrpAction } from '../../protocols/nhrp/engine-types.js';

const BASE = `crypto ikev2 keyring ike-keyring
 peer dmvpn
  address 0.0.0.0 0.0.0.0
  pre-shared-key Cisco123
crypto ikev2 profile ike-profile
 authentication local pre-share
 authentication remote pre-share
 keyring local ike-keyring
 match address local interface eth0
 match identity remote address 0.0.0.0 0.0.0.0
`;

function tunnelOf(text: string) {
  const { model, diagnostics } = parseConfig(text, 'x.conf');
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  return { model, t: model.interfaces.find((i) => i.kind === 'tunnel') as TunnelInterfaceConfig };
}

const TUNNEL = `interface Tunnel0
 ip address 10.0.0.12 255.255.255.0
 tunnel source eth0
 tunnel mode gre multipoint
 tunnel protection ipsec profile ipsec-profile
`;

test('ipsec config: the reference lab crypto gives the keyring PSK and IOS smart defaults', () => {
  const { model, t } = tunnelOf(`${BASE}crypto ipsec profile ipsec-profile\n set ikev2-profile ike-profile\n${TUNNEL}`);
  const c = ikeConfigFor(model, t, '203.0.113.12');
  assert.deepEqual(c.keyring, [{ address: '0.0.0.0', prefixLength: 0, psk: 'Cisco123', pskLocal: undefined, pskRemote: undefined }]);
  assert.equal(c.proposals[0].encr[0].id, 12);
  assert.equal(c.transformSets[0].keyLength, 128);
  assert.equal(c.transformSets[0].integ, 2);
  assert.equal(c.localAddress, '203.0.113.12');
});

test('ipsec config: a proposal through a policy, a transform set and PFS are honoured', () => {
  const { model, t } = tunnelOf(`${BASE}crypto ikev2 proposal P1
 encryption aes-gcm-256
 prf sha384
 group 20
crypto ikev2 policy POL
 proposal P1
crypto ipsec transform-set TS esp-aes 256 esp-sha256-hmac
 mode transport
crypto ipsec profile ipsec-profile
 set ikev2-profile ike-profile
 set transform-set TS
 set pfs group19
${TUNNEL}`);
  const c = ikeConfigFor(model, t, '203.0.113.12');
  assert.deepEqual(c.proposals, [{ encr: [{ id: 20, keyLength: 256 }], integ: [], prf: [6], dh: [20] }]);
  assert.deepEqual(c.transformSets, [{ encr: 12, keyLength: 256, integ: 12 }]);
  assert.equal(c.pfsGroup, 19);
});

test('ipsec: negotiated suites map to the dataplane names; unsupported ones are refused clearly', () => {
  const keys = { encrKey: new Uint8Array(16), integKey: new Uint8Array(20) };
  const base = { spiIn: 0x1000, spiOut: 0x2000, inbound: keys, outbound: keys } as unknown as ChildSaInfo;
  assert.deepEqual(espKeys({ ...base, encr: { id: 12, keyBits: 128, name: 'aes-cbc' }, integ: { id: 2, name: 'sha1', icvBits: 96 } }, 'inbound'),
    { cipher: 'aes-cbc-128', key: keys.encrKey, integrity: 'hmac-sha1-96', authKey: keys.integKey });
  assert.equal(espKeys({ ...base, encr: { id: 20, keyBits: 256, name: 'gcm' } }, 'outbound').cipher, 'aes-gcm-256');
  assert.throws(() => espKeys({ ...base, encr: { id: 12, keyBits: 128, name: 'aes-cbc' }, integ: { id: 5, name: 'aes-xcbc-96', icvBits: 96 } }, 'inbound'), /not supported/);
});

// ---- the runtime: SAs follow NHRP's mappings ----------------------------------------------------

/** The dataplane's ESP tables as the runtime programs them, with a settable queue per protected peer. */
class FakeEsp implements EspTarget {
  readonly outbound = new Map<string, number>();
  readonly inbound = new Map<number, string>();
  readonly protectedPeers = new Set<string>();
  readonly queued = new Map<string, number>();
  readonly deletedOutbound: number[] = [];
  setOutboundSa(nbma: string, sa: EspSa): void {
    this.outbound.set(nbma, sa.spi);
  }
  deleteOutboundSa(nbma: string): boolean {
    const spi = this.outbound.get(nbma);
    if (spi !== undefined) this.deletedOutbound.push(spi);
    return this.outbound.delete(nbma);
  }
  setInboundSa(spi: number, _sa: Omit<EspSa, 'spi'>, peer: string): void {
    this.inbound.set(spi, peer);
  }
  deleteInboundSa(spi: number): boolean {
    return this.inbound.delete(spi);
  }
  setProtected(nbma: string, on: boolean): void {
    if (on) this.protectedPeers.add(nbma);
    else this.protectedPeers.delete(nbma);
  }
  saStats() {
    return { protected: [...this.protectedPeers].map((nbma) => ({ nbma, queued: this.queued.get(nbma) ?? 0 })) };
  }
  inboundFrom(peer: string): number[] {
    return [...this.inbound].filter(([, p]) => p === peer).map(([spi]) => spi);
  }
}

function capturingLogger(): { log: Logger; lines: { msg: string; peer?: string; reason?: string }[] } {
  const lines: { msg: string; peer?: string; reason?: string }[] = [];
  return { log: pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) }), lines };
}

const keyring = [{ address: '0.0.0.0', prefixLength: 0, psk: 'lab-psk' }];

function node(address: string, nhs: string[] = []) {
  const esp = new FakeEsp();
  const { log, lines } = capturingLogger();
  const rt = new IpsecRuntime(address, ikeConfig({ localAddress: address, keyring }), 'ipsec-profile', esp, log, () => Date.now(), nhs);
  return { rt, esp, lines, address };
}

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const up = (n: ReturnType<typeof node>, peer: string): boolean =>
  n.rt.manager.sas().some((s) => s.peer === peer && s.state === 'established' && s.children.length > 0) && n.esp.outbound.has(peer);
const anySa = (n: ReturnType<typeof node>, peer: string): boolean => n.rt.manager.sas().some((s) => s.peer === peer);

// Real UDP on loopback port 500 (root): three runtimes, addresses no lab or other test uses.
const SPOKE_A = '127.77.0.12';
const SPOKE_B = '127.77.0.11';
const NHS = '127.77.0.1';
const rootOnly = isRoot() ? {} : { skip: 'binds UDP port 500: needs root' };

test('ipsec runtime: an unmapped spoke loses its IKE SA (INFORMATIONAL Delete), its ESP SAs and its protection; the NHS keeps its SA', { ...rootOnly, timeout: 30_000 }, async () => {
  const a = node(SPOKE_A, [NHS]);
  const b = node(SPOKE_B);
  const h = node(NHS);
  try {
    for (const n of [a, b, h]) await n.rt.start();
    a.rt.peerMapped(NHS);
    a.rt.peerMapped(SPOKE_B);
    await until('SAs from A to the NHS and to B', () => up(a, NHS) && up(a, SPOKE_B) && up(b, SPOKE_A) && up(h, SPOKE_A));
    const nhsSpi = a.esp.outbound.get(NHS);
    const inFromB = a.esp.inboundFrom(SPOKE_B);
    assert.equal(inFromB.length, 1);
    // NHRP unmaps the NHS (it never does for a static entry; the runtime refuses anyway): nothing changes.
    a.rt.peerUnmapped(NHS);
    // And unmaps B: A deletes the IKE SA, B learns it from A's Delete, not from a timeout.
    a.rt.peerUnmapped(SPOKE_B);
    await until('no SA between A and B on either side', () => !anySa(a, SPOKE_B) && !anySa(b, SPOKE_A));
    assert.equal(a.esp.outbound.has(SPOKE_B), false, 'A sends nothing to B with the old SA');
    assert.deepEqual(a.esp.inboundFrom(SPOKE_B), [], 'nor accepts it from B');
    assert.equal(a.esp.protectedPeers.has(SPOKE_B), false, 'B is no longer protected at A');
    assert.equal(b.esp.outbound.has(SPOKE_A), false);
    assert.deepEqual(b.esp.inboundFrom(SPOKE_A), []);
    assert.ok(b.lines.some((l) => l.peer === SPOKE_A && l.reason === 'deleted by peer'), 'B closed the SA on A\'s INFORMATIONAL Delete');
    assert.ok(a.lines.some((l) => l.msg === `NHRP no longer maps ${SPOKE_B}: deleting the IKE SA with it`));
    // The NHS's SA is the same one, still installed and protected.
    assert.ok(up(a, NHS));
    assert.equal(a.esp.outbound.get(NHS), nhsSpi);
    assert.ok(a.esp.protectedPeers.has(NHS));
    // Mapped again (a new shortcut): a new SA on demand.
    a.rt.peerMapped(SPOKE_B);
    await until('a new SA from A to B', () => up(a, SPOKE_B) && up(b, SPOKE_A));
    assert.notDeepEqual(a.esp.inboundFrom(SPOKE_B), inFromB);
  } finally {
    for (const n of [a, b, h]) n.rt.stop();
    await new Promise((r) => setTimeout(r, 150));
  }
});

test('ipsec runtime: a peer still mapped after the other side deleted the SA gets a new one when packets wait for it', { ...rootOnly, timeout: 30_000 }, async () => {
  const a = node(SPOKE_A);
  const b = node(SPOKE_B);
  try {
    for (const n of [a, b]) await n.rt.start();
    a.rt.peerMapped(SPOKE_B);
    b.rt.peerMapped(SPOKE_A);
    await until('an SA between A and B', () => up(a, SPOKE_B) && up(b, SPOKE_A));
    // A's entry for B expires first; B still maps A.
    a.rt.peerUnmapped(SPOKE_B);
    await until('the SA deleted on both sides', () => !anySa(a, SPOKE_B) && !anySa(b, SPOKE_A));
    assert.ok(b.esp.protectedPeers.has(SPOKE_A), 'B keeps protecting A: nothing leaves in the clear');
    // Idle: no negotiation without traffic.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(anySa(b, SPOKE_A), false, 'no SA while nothing waits');
    // Packets for A queue in B's dataplane: B negotiates.
    b.esp.queued.set(SPOKE_A, 2);
    await until('B brought a new SA up on demand', () => up(b, SPOKE_A) && up(a, SPOKE_B), 5000);
    assert.ok(b.lines.some((l) => l.msg === `packets wait for ${SPOKE_A}: negotiating a new IKE SA`));
    assert.ok(b.rt.manager.sas().find((s) => s.peer === SPOKE_A)?.initiator, 'B initiated it');
  } finally {
    for (const n of [a, b]) n.rt.stop();
    await new Promise((r) => setTimeout(r, 150));
  }
});

test('ipsec runtime: an old child SA ending after a new one came up leaves the new outbound SA in place', () => {
  const esp = new FakeEsp();
  const rt = new IpsecRuntime('192.0.2.1', ikeConfig({ localAddress: '192.0.2.1', keyring }), 'p', esp, silentLogger(), () => 0);
  const run = (actions: IkeAction[]): void => (rt as unknown as { run(a: readonly IkeAction[]): void }).run(actions);
  const keys = { encrKey: new Uint8Array(16), integKey: new Uint8Array(20) };
  const info = (spiIn: number, spiOut: number) => ({
    spiIn, spiOut, encr: { id: 12, keyBits: 128, name: 'AES-CBC-128' }, integ: { id: 2, name: 'HMAC-SHA1-96', icvBits: 96 },
    inbound: keys, outbound: keys, keys: { ei: keys.encrKey, ai: keys.integKey, er: keys.encrKey, ar: keys.integKey },
    initiator: true, mode: 'transport', local: '192.0.2.1', remote: '192.0.2.2', protocol: 47, lifetimeSeconds: 3600,
  }) as ChildSaInfo;
  run([{ kind: 'child-up', peer: '192.0.2.2', child: info(0x1001, 0x2001) }]);
  // A second IKE SA (the peer re-connected while our Delete of the first was in flight).
  run([{ kind: 'child-up', peer: '192.0.2.2', child: info(0x1002, 0x2002) }]);
  run([{ kind: 'child-down', peer: '192.0.2.2', spiIn: 0x1001, spiOut: 0x2001, reason: 'deleted locally' }]);
  assert.equal(esp.outbound.get('192.0.2.2'), 0x2002, 'the newer SA still sends');
  assert.deepEqual([...esp.inbound.keys()], [0x1002]);
  run([{ kind: 'child-down', peer: '192.0.2.2', spiIn: 0x1002, spiOut: 0x2002, reason: 'deleted by peer' }]);
  assert.equal(esp.outbound.has('192.0.2.2'), false);
  assert.deepEqual(esp.deletedOutbound, [0x2002]);
  rt.stop();
});

test('ipsec runtime: unmapped while IKE_AUTH is under way, the SA is deleted once it is up (no half left at the peer)', { ...rootOnly, timeout: 30_000 }, async () => {
  const a = node(SPOKE_A);
  const b = node(SPOKE_B);
  try {
    for (const n of [a, b]) await n.rt.start();
    a.rt.peerMapped(SPOKE_B);
    assert.equal(a.rt.manager.sas()[0]?.state, 'init-sent');
    a.rt.peerUnmapped(SPOKE_B);
    await until('the SA up and then deleted on both sides', () =>
      a.lines.some((l) => l.msg === `NHRP no longer maps ${SPOKE_B}: deleting the IKE SA with it`) && !anySa(a, SPOKE_B) && !anySa(b, SPOKE_A));
    assert.ok(b.lines.some((l) => l.peer === SPOKE_A && l.reason === 'deleted by peer'));
    assert.equal(b.esp.outbound.has(SPOKE_A), false);
  } finally {
    for (const n of [a, b]) n.rt.stop();
    await new Promise((r) => setTimeout(r, 150));
  }
});

test('tunnel: onUnmapped fires when the last NHRP mapping of an NBMA address goes, and for the old address when a mapping moves', () => {
  const { t: cfg } = tunnelOf(`${BASE}crypto ipsec profile ipsec-profile\n set ikev2-profile ike-profile\n${TUNNEL}`);
  const tunnel = new TunnelRuntime(cfg, engineConfig(cfg, '203.0.113.12'), {
    rtnl: new FakeRtnetlink(), rib: new Rib(), log: silentLogger(), now: () => 0,
    dataplane: () => { throw new Error('not started'); },
  });
  const gone: string[] = [];
  tunnel.onUnmapped = (nbma) => gone.push(nbma);
  const map = (proto: string, nbma: string): NhrpAction => ({ kind: 'map', proto, nbma, permanent: false });
  const unmap = (proto: string): NhrpAction => ({ kind: 'unmap', proto });
  // Two overlay addresses behind one NBMA address: only the second unmap releases it.
  tunnel.run([map('10.0.0.11', '203.0.113.11'), map('10.0.0.21', '203.0.113.11'), map('10.0.0.13', '203.0.113.13')]);
  tunnel.run([unmap('10.0.0.11')]);
  assert.deepEqual(gone, []);
  tunnel.run([unmap('10.0.0.21')]);
  assert.deepEqual(gone, ['203.0.113.11']);
  // A refresh of the same mapping changes nothing; a mapping that moves releases the old address.
  tunnel.run([map('10.0.0.13', '203.0.113.13')]);
  tunnel.run([map('10.0.0.13', '198.51.100.13')]);
  assert.deepEqual(gone, ['203.0.113.11', '203.0.113.13']);
  // Unmapping what was never mapped reports nothing.
  tunnel.run([unmap('10.0.0.99')]);
  tunnel.run([unmap('10.0.0.13')]);
  assert.deepEqual(gone, ['203.0.113.11', '203.0.113.13', '198.51.100.13']);
});

// ---- NAT traversal through the dataplane (RFC 3948, RFC 7296 section 2.23) ---------------------

/**
 * A FakeEsp that also stands for the dataplane's UDP 4500 socket: it keeps the
 * whole outbound SAs (encapsulation, sequence number), reports their sequence
 * numbers and a settable outer source per inbound SA, and hands what it sends
 * on 4500 to `wire`.
 */
class FakeNattEsp extends FakeEsp {
  readonly sas = new Map<string, EspSa>();
  readonly natSource = new Map<number, { address: string; port: number }>();
  readonly ikeSent: { dst: string; port: number; payload: Uint8Array }[] = [];
  readonly keepalives: { dst: string; port: number }[] = [];
  constructor(private readonly wire: (dst: string, port: number, payload: Uint8Array) => void) {
    super();
  }
  override setOutboundSa(nbma: string, sa: EspSa): void {
    super.setOutboundSa(nbma, sa);
    this.sas.set(nbma, sa);
  }
  override deleteOutboundSa(nbma: string): boolean {
    this.sas.delete(nbma);
    return super.deleteOutboundSa(nbma);
  }
  override saStats() {
    return {
      ...super.saStats(),
      // As if 1000 packets had left with each SA since it was (re)installed.
      outbound: [...this.sas].map(([nbma, sa]) => ({ nbma, spi: sa.spi, seq: (sa.seq ?? 0) + 1000 })),
      inbound: [...this.inbound.keys()].map((spi) => ({ spi, ...(this.natSource.has(spi) ? { natSource: this.natSource.get(spi)! } : {}) })),
    };
  }
  sendIke(dst: string, port: number, payload: Uint8Array): boolean {
    this.ikeSent.push({ dst, port, payload });
    setImmediate(() => this.wire(dst, port, payload));
    return true;
  }
  sendNatKeepalive(dst: string, port: number): boolean {
    this.keepalives.push({ dst, port });
    return true;
  }
}

// The spoke's engine believes it is 10.1.0.2 (its inside address) while its IKE leaves from
// SPOKE_OUT: to both engines' NAT_DETECTION hashes, a NAT lies between them.
const NAT_HUB = '127.77.1.1';
const SPOKE_OUT = '127.77.1.12';
const SPOKE_INSIDE = '10.1.0.2';

test('ipsec runtime, NAT-T through the dataplane: IKE floats to its 4500, ESP goes in UDP to the translated port, the spoke sends keepalives, and the hub follows the NAT to new ports (ESP, then IKE)', { ...rootOnly, timeout: 30_000 }, async () => {
  // The NAT in front of the spoke's 4500: what the hub sends to its current port reaches the spoke.
  const nat = { port: 40001, stale: 0 };
  let hubRt: IpsecRuntime | undefined;
  let spokeRt: IpsecRuntime | undefined;
  const spokeEsp = new FakeNattEsp((dst, port, payload) => {
    assert.deepEqual([dst, port], [NAT_HUB, 4500]);
    hubRt?.receiveEncapsulated(SPOKE_OUT, nat.port, payload);
  });
  const hubEsp = new FakeNattEsp((dst, port, payload) => {
    assert.equal(dst, SPOKE_OUT);
    if (port === nat.port) spokeRt?.receiveEncapsulated(NAT_HUB, 4500, payload);
    else nat.stale++;
  });
  const hubLog = capturingLogger();
  hubRt = new IpsecRuntime(NAT_HUB, ikeConfig({ localAddress: NAT_HUB, keyring }), 'p', hubEsp, hubLog.log, () => Date.now(), [], { natTraversal: 'dataplane' });
  spokeRt = new IpsecRuntime(SPOKE_OUT, ikeConfig({ localAddress: SPOKE_INSIDE, keyring, natKeepalive: 1 }), 'p', spokeEsp, silentLogger(), () => Date.now(), [NAT_HUB], { natTraversal: 'dataplane' });
  const hub = hubRt;
  const spoke = spokeRt;
  try {
    await hub.start();
    await spoke.start();
    spoke.peerMapped(NAT_HUB);
    await until('SAs up on both sides', () => hubEsp.sas.has(SPOKE_OUT) && spokeEsp.sas.has(NAT_HUB));
    const hubIke = () => hub.manager.sas().find((s) => s.state === 'established')!;
    assert.equal(hubIke().natRemote, true);
    assert.equal(spoke.manager.sas()[0].natLocal, true);
    // IKE_AUTH onwards went through the dataplanes' 4500, without the marker (the dataplane adds it).
    assert.ok(spokeEsp.ikeSent.length >= 1 && hubEsp.ikeSent.length >= 1);
    assert.ok([...spokeEsp.ikeSent, ...hubEsp.ikeSent].every((m) => m.payload[17] === 0x20 && m.payload[18] >= 34), 'IKEv2 headers (version 2.0, IKE_AUTH or later) at offset 0');
    // The hub sends ESP in UDP to where the NAT put the spoke's 4500; the spoke to the hub's 4500.
    assert.deepEqual(hubEsp.sas.get(SPOKE_OUT)?.encap, { srcPort: 4500, dstPort: 40001 });
    assert.deepEqual(spokeEsp.sas.get(NAT_HUB)?.encap, { srcPort: 4500, dstPort: 4500 });
    assert.deepEqual(hubIke().remote, { address: SPOKE_OUT, port: 40001 });
    // The side behind the NAT keeps its mapping alive (RFC 3948 section 2.3); the hub does not.
    await until('a keepalive from the spoke', () => spokeEsp.keepalives.length >= 1, 5000);
    assert.deepEqual(spokeEsp.keepalives[0], { dst: NAT_HUB, port: 4500 });
    assert.deepEqual(hubEsp.keepalives, []);

    // The NAT drops the mapping and makes another: authenticated ESP arrives from port 40077.
    const spi = hubEsp.sas.get(SPOKE_OUT)!.spi;
    const [spiIn] = hubEsp.inboundFrom(SPOKE_OUT);
    nat.port = 40077;
    hubEsp.natSource.set(spiIn, { address: SPOKE_OUT, port: 40077 });
    await until('the hub\'s ESP follows to 40077', () => hubEsp.sas.get(SPOKE_OUT)?.encap?.dstPort === 40077, 5000);
    let moved = hubEsp.sas.get(SPOKE_OUT)!;
    assert.equal(moved.spi, spi, 'the same SA, not a new one');
    assert.equal(moved.seq, 1000 + 65536, 'its sequence numbers go on past the dataplane\'s');
    assert.deepEqual(hubIke().remote, { address: SPOKE_OUT, port: 40077 }, 'IKE follows too');
    assert.ok(hubLog.lines.some((l) => l.msg === `${SPOKE_OUT}'s NAT moved it to port 40077: ESP in UDP goes there now`));

    // Then an authenticated IKE message from yet another port (the spoke rekeys its IKE SA through the new mapping).
    nat.port = 40123;
    (spoke as unknown as { run(a: readonly IkeAction[]): void }).run(spoke.manager.rekeyIke(NAT_HUB, Date.now()));
    await until('the hub\'s ESP follows to 40123', () => hubEsp.sas.get(SPOKE_OUT)?.encap?.dstPort === 40123, 5000);
    moved = hubEsp.sas.get(SPOKE_OUT)!;
    assert.equal(moved.spi, spi);
    assert.equal(moved.seq, 1000 + 65536 + 1000 + 65536);
    await until('the IKE rekey done', () => hub.manager.sas().filter((s) => s.state === 'established').length === 1 && hubIke().remote.port === 40123);
    assert.equal(nat.stale, 0, 'nothing went to a port the NAT had dropped');
    // A stale ESP source (the mapping seen before) does not pull it back.
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(hubEsp.sas.get(SPOKE_OUT)?.encap?.dstPort, 40123);
  } finally {
    hub.stop();
    spoke.stop();
    await new Promise((r) => setTimeout(r, 150));
  }
});

test('ipsec runtime: a child SA with a NAT is UDP-encapsulated only where the dataplane owns 4500; elsewhere it says why not', () => {
  const keys = { encrKey: new Uint8Array(16), integKey: new Uint8Array(20) };
  const child = {
    spiIn: 0x1001, spiOut: 0x2001, encr: { id: 12, keyBits: 128, name: 'AES-CBC-128' }, integ: { id: 2, name: 'HMAC-SHA1-96', icvBits: 96 },
    inbound: keys, outbound: keys, keys: { ei: keys.encrKey, ai: keys.integKey, er: keys.encrKey, ar: keys.integKey },
    initiator: false, mode: 'transport', local: '192.0.2.1', remote: '198.51.100.7', protocol: 47, lifetimeSeconds: 3600,
    natT: { srcPort: 4500, dstPort: 31001 },
  } as ChildSaInfo;
  for (const natTraversal of ['dataplane', 'socket'] as const) {
    const esp = new FakeNattEsp(() => undefined);
    const { log, lines } = capturingLogger();
    const rt = new IpsecRuntime('192.0.2.1', ikeConfig({ localAddress: '192.0.2.1', keyring }), 'p', esp, log, () => 0, [], { natTraversal });
    (rt as unknown as { run(a: readonly IkeAction[]): void }).run([{ kind: 'child-up', peer: '198.51.100.7', child }]);
    const sa = esp.sas.get('198.51.100.7');
    assert.equal(sa?.spi, 0x2001);
    if (natTraversal === 'dataplane') {
      assert.deepEqual(sa?.encap, { srcPort: 4500, dstPort: 31001 });
      assert.ok(lines.some((l) => l.msg === 'IPsec SA with 198.51.100.7 up, ESP in UDP to port 31001 (NAT-T)'));
    } else {
      assert.equal(sa?.encap, undefined);
      assert.ok(lines.some((l) => /cannot send ESP in UDP/.test(l.msg)));
    }
    // Without a NAT, never encapsulated.
    (rt as unknown as { run(a: readonly IkeAction[]): void }).run([{ kind: 'child-rekeyed', peer: '198.51.100.7', replaced: { spiIn: 0x1001, spiOut: 0x2001 }, child: { ...child, spiIn: 0x1002, spiOut: 0x2002, natT: undefined } }]);
    assert.equal(esp.sas.get('198.51.100.7')?.encap, undefined);
    rt.stop();
  }
});
