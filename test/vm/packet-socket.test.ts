/**
 * The packet socket over a real ip_gre multipoint device, in the kernel VM (this machine has no
 * ip_gre): two namespaces joined by a veth underlay (203.0.113.1 and .2), gre1 in each (key 1,
 * no remote, 10.0.0.N/24). Each side runs test/vm/packet-socket-peer.ts: NHRP-type (0x2001)
 * packets to the other's 4-byte NBMA address arrive with the sender's NBMA address as `from`;
 * an IPv4/UDP datagram sent as 0x0800 to the peer's NBMA address (twice, in one sendMany)
 * reaches a UDP socket in the other namespace; the underlay shows the outer IPv4 + GRE headers
 * the kernel built (key 1, TTL 64). One VM boot.
 */
import { needsVm } from './vm-opts.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeAvailable } from '../../platform/native/index.js';
import { ARPHRD } from '../../platform/native/packet-socket.js';
import type { PeerSummary } from './packet-socket-peer.js';

const RUN = fileURLToPath(new URL('../../scripts/vm/run.js', import.meta.url));
const PEER = fileURLToPath(new URL('./packet-socket-peer.js', import.meta.url));
const ROOT = resolve(dirname(RUN), '..', '..', '..');

function vmOpts(): { skip?: string } {
  const vm = needsVm('timeout');
  if (vm.skip !== undefined) return vm;
  if (!nativeAvailable()) return { skip: 'native addon not built (npm run build:native)' };
  return {};
}

// Namespaces live inside the VM only; the names still carry this test's prefix.
const SCRIPT = `set -eu
for n in 1 2; do ip netns add pkv$n; ip -n pkv$n link set lo up; done
ip link add u1 type veth peer name u2
ip link set u1 netns pkv1
ip link set u2 netns pkv2
for n in 1 2; do
  ip -n pkv$n addr add 203.0.113.$n/24 dev u$n
  ip -n pkv$n link set u$n up
  ip -n pkv$n link add gre1 type gre local 203.0.113.$n key 1 ttl 64
  ip -n pkv$n addr add 10.0.0.$n/24 dev gre1
  ip -n pkv$n link set gre1 up
done
set +e
ip netns exec pkv2 node ${JSON.stringify(PEER)} 2 1 u2 & p2=$!
ip netns exec pkv1 node ${JSON.stringify(PEER)} 1 2 u1 & p1=$!
s=0
wait $p1 || s=1
wait $p2 || s=1
exit $s
`;

test('vm: packet socket on ip_gre: NHRP to a 4-byte NBMA address both ways, IPv4 copies via sendMany', { ...vmOpts(), timeout: 300_000 }, (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'vm-packet-'));
  try {
    const script = join(tmp, 'packet-socket.sh');
    writeFileSync(script, SCRIPT);
    const r = spawnSync(process.execPath, [RUN, '--timing', '--timeout', '120', '--', 'sh', script], {
      cwd: ROOT, encoding: 'utf8', timeout: 200_000, env: { ...process.env, TMPDIR: tmp },
    });
    t.diagnostic(r.stderr.split('\n').find((l) => l.startsWith('vm: kernel ')) ?? 'vm: no timing line');
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('{'));
    const peers = new Map(lines.map((l) => JSON.parse(l) as PeerSummary).map((s) => [s.self, s]));
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.equal(peers.size, 2, r.stdout);
    for (const [self, other] of [['1', '2'], ['2', '1']]) {
      const s = peers.get(self)!;
      const myNbma = `203.0.113.${self}`;
      const peerNbma = `203.0.113.${other}`;
      assert.ok(s.done, `peer ${self}: ${JSON.stringify(s)}`);
      assert.deepEqual(s.errors, [], `peer ${self}`);
      // ip_gre's link-layer address is the NBMA address: the device's own is the tunnel source.
      assert.deepEqual(s.open, { hardwareType: ARPHRD.IPGRE, addressLength: 4, address: myNbma });
      // NHRP from the peer: `from` is the sender's NBMA address (the outer source).
      assert.equal(s.hello?.from, peerNbma);
      assert.equal(s.hello?.protocol, 0x2001);
      assert.equal(s.hello?.pktType, 'host');
      assert.match(s.hello?.text ?? '', new RegExp(`^hello \\d+ from ${other}$`));
      // The ack went back to that `from` and arrived from the peer's NBMA address.
      assert.equal(s.ack?.from, peerNbma);
      assert.match(s.ack?.text ?? '', new RegExp(`^ack from ${other} for hello \\d+ from ${self}$`));
      // The IPv4 datagram sent as 0x0800 to our NBMA address was routed to our UDP socket, both copies.
      assert.equal(s.udp?.from, `10.0.0.${other}`);
      assert.equal(s.udp?.port, 5000);
      assert.equal(s.udp?.copies, 2);
      assert.match(s.udp?.text ?? '', new RegExp(`^udp round \\d+ from ${other}$`));
      // What the kernel put on the underlay: outer IPv4 NBMA to NBMA, TTL 64, GRE key 1, per protocol.
      for (const proto of ['0x2001', '0x0800']) {
        const o = s.outer[proto];
        assert.ok(o, `peer ${self}: no outer GRE ${proto} packet seen on the underlay`);
        assert.deepEqual({ src: o.src, dst: o.dst, ttl: o.ttl, key: o.key }, { src: peerNbma, dst: myNbma, ttl: 64, key: 1 }, `GRE ${proto}`);
      }
      assert.ok(s.outer['0x0800'].payloadLength >= 20 + 8, 'the inner IPv4/UDP datagram is the GRE payload');
      assert.ok(s.stats && s.stats.txPackets >= 3 && s.stats.txErrors === 0 && s.stats.txFull === 0, JSON.stringify(s.stats));
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
