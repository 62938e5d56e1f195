/**
 * The native addon on its own: it loads, its tables and configuration behave,
 * its counters count, and bad input (arguments or packets) gives typed errors
 * or counted drops, never a crash. Runs in the current namespace with a
 * throw-away TUN (gone when its fd closes) and the raw GRE socket bound to a
 * random 127/8 address, so the dataplane talks to itself over loopback.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isRoot } from '../../support/tools.js';
import {
  Dataplane, openTun, openGreSocket, closeFd, nativeVersion, nativeAvailable, loadNative, isNativeErrnoError,
  COUNTER_NAMES, type DataplaneConfig, type DataplaneEvent, type DataplaneStats,
} from '../../../platform/native/index.js';
import { GreProto } from '../../../protocols/gre/wire.js';
import { IpProto } from '../../../protocols/ip/ipv4.js';
import { gre, ipv4, icmpEcho, rxOutcomes } from './packets.js';
import { delay } from './netns.js';

const LOOP = `127.${1 + Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;

function skipReason(): string | undefined {
  if (!nativeAvailable()) return 'native addon not built';
  if (!isRoot()) return 'needs root (TUN and raw sockets)';
  return undefined;
}

let tunSeq = 0;
function openDataplane(config: Partial<DataplaneConfig>, opts: { start?: boolean; onEvent?: (e: DataplaneEvent) => void; rcvbuf?: number } = {}): Dataplane {
  const tun = openTun(`dpt${process.pid % 100000}x${tunSeq++}`);
  const greFd = openGreSocket({ local: LOOP, rcvbuf: opts.rcvbuf });
  return Dataplane.open({ tun, greFd, config: { localNbma: LOOP, ...config }, start: opts.start ?? false, onEvent: opts.onEvent });
}

async function until(dp: Dataplane, pred: (s: DataplaneStats) => boolean, ms: number, what: string): Promise<DataplaneStats> {
  const end = Date.now() + ms;
  for (;;) {
    const s = dp.stats();
    if (pred(s)) return s;
    if (Date.now() > end) throw new Error(`${what} not reached in ${ms} ms: ${JSON.stringify(s)}`);
    await delay(10);
  }
}

test('native: the addon loads and reports its version', { skip: nativeAvailable() ? undefined : 'native addon not built' }, () => {
  assert.match(nativeVersion(), /^dmvpn_native \d+\.\d+\.\d+ \(N-API 8\)$/);
  assert.deepEqual(loadNative().counterNames(), [...COUNTER_NAMES], 'facade and addon agree on the counters');
});

describe('native dataplane (loopback)', { skip: skipReason() }, () => {
  test('peer table: set, replace, delete, clear, dump', () => {
    const dp = openDataplane({});
    try {
      dp.setPeer('10.0.0.2', '192.0.2.2');
      dp.setPeer('10.0.0.3', '192.0.2.3');
      dp.setPeer('10.0.0.2', '192.0.2.22');
      assert.deepEqual(dp.peers().map((p) => [p.overlay, p.nbma]), [['10.0.0.2', '192.0.2.22'], ['10.0.0.3', '192.0.2.3']]);
      assert.equal(dp.deletePeer('10.0.0.3'), true);
      assert.equal(dp.deletePeer('10.0.0.3'), false);
      assert.equal(dp.clearPeers(), 1);
      assert.deepEqual(dp.peers(), []);
    } finally {
      dp.close();
    }
  });

  test('lookup: peers first, then the longest prefix, on-link routes, misses, multicast', () => {
    const dp = openDataplane({});
    try {
      dp.setPeer('10.0.0.1', '192.0.2.1');
      dp.setPeer('10.0.0.2', '192.0.2.2');
      dp.setRoute('0.0.0.0', 0, '10.0.0.1');
      dp.setRoute('172.16.0.0', 12, '10.0.0.1');
      dp.setRoute('172.16.5.0', 24, '10.0.0.2');
      dp.setRoute('10.0.0.0', 24, null);
      dp.setRoute('192.168.9.0', 24, '10.0.0.9');
      assert.deepEqual(dp.lookup('10.0.0.2'), { kind: 'peer', nbma: '192.0.2.2', nextHop: '10.0.0.2' });
      assert.deepEqual(dp.lookup('172.16.5.7'), { kind: 'peer', nbma: '192.0.2.2', nextHop: '10.0.0.2' });
      assert.deepEqual(dp.lookup('172.17.0.1'), { kind: 'peer', nbma: '192.0.2.1', nextHop: '10.0.0.1' });
      assert.deepEqual(dp.lookup('8.8.8.8'), { kind: 'peer', nbma: '192.0.2.1', nextHop: '10.0.0.1' });
      assert.deepEqual(dp.lookup('10.0.0.77'), { kind: 'miss', nextHop: '10.0.0.77' }, 'on-link, unresolved');
      assert.deepEqual(dp.lookup('192.168.9.1'), { kind: 'miss', nextHop: '10.0.0.9' }, 'next hop unresolved');
      assert.deepEqual(dp.lookup('224.0.0.10'), { kind: 'multicast' });
      assert.deepEqual(dp.lookup('255.255.255.255'), { kind: 'multicast' });
      assert.deepEqual(dp.routes().map((r) => `${r.prefix}/${r.length}>${r.nextHop ?? 'on-link'}`),
        ['10.0.0.0/24>on-link', '172.16.5.0/24>10.0.0.2', '192.168.9.0/24>10.0.0.9', '172.16.0.0/12>10.0.0.1', '0.0.0.0/0>10.0.0.1']);
      assert.equal(dp.deleteRoute('172.16.5.0', 24), true);
      assert.equal(dp.deleteRoute('172.16.5.0', 24), false);
      assert.deepEqual(dp.lookup('172.16.5.7'), { kind: 'peer', nbma: '192.0.2.1', nextHop: '10.0.0.1' });
      assert.equal(dp.clearRoutes(), 4);
      assert.deepEqual(dp.lookup('8.8.8.8'), { kind: 'miss', nextHop: '8.8.8.8' });
    } finally {
      dp.close();
    }
  });

  test('lookup agrees with a naive longest-prefix match (property)', () => {
    const dp = openDataplane({});
    try {
      const route = fc.record({ prefix: fc.integer({ min: 0, max: 0xffffffff }), length: fc.integer({ min: 0, max: 32 }), nh: fc.integer({ min: 1, max: 8 }) });
      fc.assert(fc.property(fc.array(route, { maxLength: 12 }), fc.array(fc.integer({ min: 0, max: 0xdfffffff }), { minLength: 1, maxLength: 20 }), (routes, dsts) => {
        dp.clearRoutes();
        dp.clearPeers();
        for (let i = 1; i <= 8; i++) dp.setPeer(`10.255.0.${i}`, `192.0.2.${i}`);
        const table = new Map<string, { p: number; l: number; nh: number }>();
        for (const r of routes) {
          const mask = r.length === 0 ? 0 : (0xffffffff << (32 - r.length)) >>> 0;
          const p = (r.prefix & mask) >>> 0;
          table.set(`${p}/${r.length}`, { p, l: r.length, nh: r.nh });
          dp.setRoute(u32(p), r.length, `10.255.0.${r.nh}`);
        }
        for (const d of dsts) {
          let best: { l: number; nh: number } | undefined;
          for (const e of table.values()) {
            const mask = e.l === 0 ? 0 : (0xffffffff << (32 - e.l)) >>> 0;
            if (((d & mask) >>> 0) === e.p && (!best || e.l > best.l)) best = e;
          }
          const got = dp.lookup(u32(d));
          if (best) assert.deepEqual(got, { kind: 'peer', nbma: `192.0.2.${best.nh}`, nextHop: `10.255.0.${best.nh}` });
          else if (!u32(d).startsWith('10.255.0.')) assert.equal(got.kind, 'miss');
        }
      }), { numRuns: 100 });
    } finally {
      dp.close();
    }
  });

  test('configure is partial and config() shows what is in force', () => {
    const dp = openDataplane({ key: 7, mssClamp: 1360 });
    try {
      const c0 = dp.config();
      assert.equal(c0.key, 7);
      assert.equal(c0.ttl, 255);
      assert.equal(c0.tos, 'inherit');
      assert.equal(c0.mtu, 1472);
      assert.equal(c0.hairpin, 'kernel');
      assert.equal(c0.fallbackNbma, null);
      dp.configure({ ttl: 64, tos: 0xb8, multicastNbma: ['192.0.2.1', '192.0.2.2'], hairpin: 'direct', fallbackNbma: '192.0.2.9' });
      const c1 = dp.config();
      assert.deepEqual({ ...c1 }, {
        ...c0, ttl: 64, tos: 0xb8, multicastNbma: ['192.0.2.1', '192.0.2.2'], hairpin: 'direct', fallbackNbma: '192.0.2.9',
      });
      dp.configure({ key: null, fallbackNbma: null });
      assert.equal(dp.config().key, null);
      assert.equal(dp.config().fallbackNbma, null);
    } finally {
      dp.close();
    }
  });

  test('bad arguments throw typed errors; system call failures keep code, errno and syscall', () => {
    const dp = openDataplane({});
    try {
      assert.throws(() => dp.setPeer('10.0.0', '192.0.2.1'), { name: 'TypeError', code: 'ERR_INVALID_ADDRESS' });
      assert.throws(() => dp.setRoute('10.0.0.1', 24, null), { code: 'ERR_INVALID_PREFIX' });
      assert.throws(() => dp.setRoute('10.0.0.0', 33, null), { name: 'RangeError' });
      assert.throws(() => dp.configure({ ttl: 0 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
      assert.throws(() => dp.configure({ mtu: 1400.5 }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
      assert.throws(() => dp.configure({ key: -1 }), { name: 'RangeError' });
      assert.throws(() => dp.sendGre(LOOP, 0x10000, new Uint8Array(1)), { name: 'RangeError' });
      assert.throws(() => dp.sendGre(LOOP, 0x2001, new Uint8Array(70000)), { name: 'RangeError' });
      assert.equal(dp.config().ttl, 255, 'a rejected configure changes nothing');
    } finally {
      dp.close();
    }
    assert.throws(() => openTun('x'.repeat(40)), (e: unknown) => isNativeErrnoError(e) && e.code === 'ENAMETOOLONG');
    assert.throws(() => openGreSocket({ local: LOOP, device: 'no-such-dev0' }),
      (e: unknown) => isNativeErrnoError(e) && e.code === 'ENODEV' && e.syscall === 'setsockopt(SO_BINDTODEVICE)' && e.errno < 0);
    const fd = openGreSocket({ local: LOOP, sndbuf: 1 << 20, rcvbuf: 1 << 20 });
    closeFd(fd);
    assert.throws(() => closeFd(fd), (e: unknown) => isNativeErrnoError(e) && e.code === 'EBADF');
  });

  test('sendInner: peer, miss, fallback, multicast copies, MTU and non-IPv4 are counted', () => {
    const dp = openDataplane({ key: 5, mtu: 1000 });
    try {
      dp.setPeer('10.0.0.2', LOOP);
      const echo = ipv4('10.0.0.1', '10.0.0.2', IpProto.ICMP, icmpEcho());
      assert.equal(dp.sendInner(echo), 1);
      assert.equal(dp.sendInner(ipv4('10.0.0.1', '10.0.0.99', IpProto.ICMP, icmpEcho())), 0);
      dp.configure({ fallbackNbma: LOOP });
      assert.equal(dp.sendInner(ipv4('10.0.0.1', '10.0.0.99', IpProto.ICMP, icmpEcho())), 1);
      assert.equal(dp.sendInner(ipv4('10.0.0.1', '224.0.0.10', 88, new Uint8Array(20))), 0, 'empty multicast list');
      dp.configure({ multicastNbma: [LOOP, LOOP] });
      assert.equal(dp.sendInner(ipv4('10.0.0.1', '224.0.0.10', 88, new Uint8Array(20))), 2);
      assert.equal(dp.sendInner(ipv4('10.0.0.1', '10.0.0.2', IpProto.UDP, new Uint8Array(1000))), 0, 'above the MTU');
      assert.equal(dp.sendInner(Uint8Array.of(0x60, 0, 0, 0, 0, 0, 0x3a, 64)), 0, 'IPv6');
      assert.equal(dp.sendInner(Uint8Array.of(0x45, 0, 0, 99, 0, 0)), 0, 'truncated IPv4');
      assert.equal(dp.sendInner(new Uint8Array(0)), 0, 'empty');
      const s = dp.stats();
      assert.equal(s.greTxPackets, 4);
      assert.equal(s.missPackets, 2);
      assert.equal(s.dropNoMapping, 1);
      assert.equal(s.fallbackPackets, 1);
      assert.equal(s.multicastPackets, 2);
      assert.equal(s.multicastCopies, 2);
      assert.equal(s.dropNoMulticastTarget, 1);
      assert.equal(s.dropTooBig, 1);
      assert.equal(s.dropNotIpv4, 2);
      assert.equal(s.dropBadInner, 1);
      assert.equal(s.greTxBytes, 4 * 8 + echo.length * 2 + 40 * 2);
      const peer = dp.peers()[0];
      assert.deepEqual([peer.txPackets, peer.txBytes], [1, echo.length]);
      for (const k of COUNTER_NAMES) assert.equal(typeof s[k], 'number', k);
    } finally {
      dp.close();
    }
  });

  test('loopback: NHRP comes back up with key and source; malformed datagrams are counted drops', { timeout: 20_000 }, async () => {
    const events: DataplaneEvent[] = [];
    const dp = openDataplane({ key: 0xdeadbeef }, { start: true, onEvent: (e) => events.push(e) });
    try {
      assert.equal(dp.sendGre(LOOP, GreProto.NHRP, Uint8Array.of(1, 2, 3)), true);
      await until(dp, (s) => s.eventsDelivered >= 1, 3000, 'NHRP event');
      await delay(20);
      assert.deepEqual(events.map((e) => e.kind), ['gre']);
      const e = events[0];
      assert.ok(e.kind === 'gre');
      assert.deepEqual({ src: e.srcNbma, dst: e.dstNbma, proto: e.protocolType, key: e.key, flags: e.flags },
        { src: LOOP, dst: LOOP, proto: 0x2001, key: 0xdeadbeef, flags: 0x2000 });
      assert.deepEqual([...e.payload], [1, 2, 3]);

      const bad: [Uint8Array, keyof DataplaneStats][] = [
        [new Uint8Array(0), 'dropTooShort'],
        [gre(GreProto.NHRP, Uint8Array.of(1), { key: 1 }), 'dropWrongKey'],
        [gre(GreProto.NHRP, Uint8Array.of(1)), 'dropWrongKey'],
        [Uint8Array.of(0x20, 0x07, 0x20, 0x01, 0xde, 0xad, 0xbe, 0xef), 'dropBadGre'],
        [Uint8Array.of(0x90, 0x00, 0x20, 0x01, 0, 0), 'dropTooShort'],
        [gre(GreProto.IPV4, Uint8Array.of(0x45, 0, 0, 20), { key: 0xdeadbeef }), 'dropTooShort'],
      ];
      for (const [bytes, counter] of bad) {
        const before = dp.stats();
        assert.equal(dp.sendRaw(LOOP, bytes), true);
        const after = await until(dp, (s) => rxOutcomes(s) > rxOutcomes(before), 3000, counter);
        assert.equal(after[counter] - before[counter], 1, counter);
      }
      // A well-formed keyed IPv4 payload is decapsulated: the TUN is down here,
      // so the write fails and that too is a counted drop, not a crash.
      const before = dp.stats();
      dp.sendRaw(LOOP, gre(GreProto.IPV4, ipv4('10.0.0.1', '10.0.0.2', IpProto.ICMP, icmpEcho()), { key: 0xdeadbeef }));
      const after = await until(dp, (s) => rxOutcomes(s) > rxOutcomes(before), 3000, 'decap');
      assert.equal(after.dropTunWriteFail - before.dropTunWriteFail, 1);
      assert.equal(events.length, 1, 'nothing malformed reached JavaScript');
    } finally {
      dp.close();
    }
  });

  test('fuzz: every datagram received is accounted for exactly once (property)', { timeout: 60_000 }, async () => {
    let events = 0;
    // Loopback delivers in the sender's context: a burst of 400 lands in the
    // socket buffer before the dataplane thread runs, so make room for it.
    const dp = openDataplane({ key: 42 }, { start: true, onEvent: () => events++, rcvbuf: 8 << 20 });
    try {
      const keyed = fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 80 }))
        .map(([bits, proto, rest]) => [(bits & 0xb000) | 0x2000 | (bits & 1), proto, rest] as const)
        .map(([flags, proto, rest]) => Uint8Array.of(flags >> 8, flags & 0xff, proto >> 8, proto & 0xff, 0, 0, 0, 42, ...rest));
      const inner = fc.uint8Array({ minLength: 0, maxLength: 60 }).map((b) => gre(GreProto.IPV4, b.length > 0 ? Uint8Array.of(0x45, ...b) : b, { key: 42 }));
      const inputs = fc.sample(fc.oneof(fc.uint8Array({ maxLength: 120 }), keyed, inner), { numRuns: 400, seed: 2784 });
      for (const bytes of inputs) dp.sendRaw(LOOP, bytes);
      const s = await until(dp, (x) => rxOutcomes(x) >= inputs.length, 10_000, 'all fuzz datagrams accounted for');
      assert.equal(s.greRxPackets, inputs.length);
      assert.equal(rxOutcomes(s), inputs.length, JSON.stringify(s));
      await until(dp, (x) => x.eventsDelivered === x.controlPackets, 3000, 'events delivered');
      await delay(20);
      assert.equal(events, s.controlPackets);
    } finally {
      dp.close();
    }
  });

  test('close is idempotent; sends after close fail with EBADF; Node can exit', () => {
    const dp = openDataplane({}, { start: true });
    dp.close();
    dp.close();
    assert.equal(dp.closed, true);
    assert.throws(() => dp.sendGre(LOOP, 0x2001, new Uint8Array(4)), (e: unknown) => isNativeErrnoError(e) && e.code === 'EBADF');
    assert.throws(() => dp.writeTun(new Uint8Array(20)), (e: unknown) => isNativeErrnoError(e) && e.code === 'EBADF');
    assert.equal(typeof dp.stats().greTxPackets, 'number');
  });
});

function u32(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}
