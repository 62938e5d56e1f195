/**
 * A tunnel's dataplane delivers packets before its start() returns (its sockets are open): what
 * arrives then must not be handled into a dataplane that is not there yet. The lab caught a hub
 * that took two spokes' registrations in that window: it answered them into the void and never
 * installed their mappings, so its unicast to them (the EIGRP INIT) was lost for good while its
 * multicast list, pushed a turn later, still reached them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, type TunnelInterfaceConfig } from '../../daemon/config/index.js';
import { TunnelRuntime, START_BACKLOG } from '../../daemon/tunnel.js';
import { engineConfig } from '../../daemon/router.js';
import { Rib } from '../../daemon/rib.js';
import { silentLogger } from '../../daemon/log.js';
import { FakeRtnetlink } from '../../platform/fake/netlink.js';
import type { DataplaneSink, TunnelDataplane } from '../../daemon/dataplane.js';
import { makeRegistrationRequest } from '../../protocols/nhrp/index.js';
import { nhrpBytes } from '../../scripts/demo.js';

const HUB = `interface Tunnel0
 ip address 10.0.0.1 255.255.255.0
 ip nhrp network-id 1
 ip nhrp map multicast dynamic
 tunnel source 203.0.113.1
 tunnel mode gre multipoint
`;

function hubTunnel(): TunnelInterfaceConfig {
  const { model, diagnostics } = parseConfig(HUB, 'hub.conf');
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  return model.interfaces.find((i) => i.kind === 'tunnel') as TunnelInterfaceConfig;
}

/** A dataplane that records what it is asked to do, and lets the test feed the sink during start(). */
class RecordingDataplane implements TunnelDataplane {
  readonly kind = 'userspace' as const;
  readonly sent: string[] = [];
  readonly peers_: [string, string][] = [];
  started = false;
  constructor(private readonly duringStart: (sink: DataplaneSink) => void, private readonly fail = false) {}
  async start(sink: DataplaneSink): Promise<void> {
    this.duringStart(sink);
    await new Promise((r) => setImmediate(r));
    if (this.fail) throw new Error('TUN: Operation not permitted');
    this.started = true;
  }
  async stop(): Promise<void> {}
  sendNhrp(nbma: string): boolean {
    assert.ok(this.started, 'NHRP sent before the dataplane was up');
    this.sent.push(nbma);
    return true;
  }
  sendInner(): number { return 0; }
  setPeer(overlay: string, nbma: string): void {
    assert.ok(this.started, 'mapping installed before the dataplane was up');
    this.peers_.push([overlay, nbma]);
  }
  deletePeer(): void {}
  setMulticast(): void {}
  routeChanged(): void {}
  peers() { return []; }
  stats() { return undefined; }
  saStats() { return undefined; }
  setOutboundSa(): void {}
  deleteOutboundSa(): boolean { return false; }
  setInboundSa(): void {}
  deleteInboundSa(): boolean { return false; }
  setProtected(): void {}
}

function registration(spoke: number): Uint8Array {
  return nhrpBytes(makeRegistrationRequest({ srcNbma: `203.0.113.${10 + spoke}`, srcProto: `10.0.0.${10 + spoke}`, requestId: spoke, nhsProto: '10.0.0.1', nhsNbma: '203.0.113.1' }));
}

function runtime(dp: TunnelDataplane): TunnelRuntime {
  const cfg = hubTunnel();
  return new TunnelRuntime(cfg, engineConfig(cfg, '203.0.113.1'), { rtnl: new FakeRtnetlink(), rib: new Rib(), log: silentLogger(), now: () => 1000, dataplane: () => dp });
}

test('tunnel start: registrations that arrive while the dataplane starts are answered and mapped once it is up', async () => {
  const inner: string[] = [];
  const dp = new RecordingDataplane((sink) => {
    sink.nhrp(registration(2), '203.0.113.12');
    sink.nhrp(registration(3), '203.0.113.13');
    sink.inner('10.0.0.13', new Uint8Array(20));
  });
  const t = runtime(dp);
  t.onInner = (src) => inner.push(src);
  await t.start();
  assert.deepEqual(dp.peers_, [['10.0.0.12', '203.0.113.12'], ['10.0.0.13', '203.0.113.13']]);
  assert.deepEqual(dp.sent, ['203.0.113.12', '203.0.113.13'], 'each registration answered');
  assert.deepEqual(inner, ['10.0.0.13'], 'the routing protocol gets what came meanwhile, in order');
  assert.deepEqual([...t.engine.multicastTargets()].sort(), ['203.0.113.12', '203.0.113.13']);
  await t.stop();
});

test('tunnel start: past the backlog bound, packets are dropped and counted, the held ones still handled', async () => {
  const dp = new RecordingDataplane((sink) => {
    for (let i = 0; i < START_BACKLOG; i++) sink.ignored('gre 0x88be');
    sink.nhrp(registration(2), '203.0.113.12');
    for (let i = 0; i < START_BACKLOG + 5; i++) sink.miss('10.0.0.99');
  });
  const t = runtime(dp);
  await t.start();
  assert.equal(t.ignored['over the start backlog'], 6, 'the registration and 1023 of the 1029 misses were held, 6 dropped');
  assert.equal(t.ignored['gre 0x88be'], START_BACKLOG, 'counting needs no dataplane: not held');
  assert.deepEqual(dp.peers_, [['10.0.0.12', '203.0.113.12']]);
  await t.stop();
});

test('tunnel start: a dataplane that fails to start leaves nothing handled later', async () => {
  let late: DataplaneSink | undefined;
  const dp = new RecordingDataplane((sink) => {
    late = sink;
    sink.nhrp(registration(2), '203.0.113.12');
  }, true);
  const t = runtime(dp);
  await assert.rejects(t.start(), /Operation not permitted/);
  late!.nhrp(registration(3), '203.0.113.13');
  assert.deepEqual(dp.peers_, []);
  assert.deepEqual(dp.sent, []);
  assert.deepEqual(t.engine.multicastTargets(), []);
});
