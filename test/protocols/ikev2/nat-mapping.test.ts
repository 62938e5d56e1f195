/**
 * IKEv2 engine, NAT mapping changes (RFC 7296 section 2.23): an authenticated
 * packet from a new port of a peer behind a NAT moves the IKE SA there, but
 * only on the side that is not behind a NAT itself, only the port, and only
 * for SAs with that peer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeIkeMessage } from '../../../protocols/ikev2/wire.js';
import { IkeSim, established, HUB, SPOKE } from './sim.js';

const INSIDE = '10.0.0.2';
const PUBLIC = '203.0.113.7';

function natted(): { sim: IkeSim; hub: ReturnType<IkeSim['add']>; spoke: ReturnType<IkeSim['add']> } {
  const sim = new IkeSim();
  sim.nat = { inside: INSIDE, publicAddress: PUBLIC, portBase: 31000 };
  const hub = sim.add('hub', { localAddress: HUB });
  const spoke = sim.add('spoke', { localAddress: INSIDE });
  sim.connect(spoke, HUB);
  return { sim, hub, spoke };
}

test('ikev2 NAT mapping: the side outside the NAT follows the peer to its new port; later IKE goes there', () => {
  const { sim, hub } = natted();
  const h = established(hub)[0];
  assert.deepEqual(h.remote, { address: PUBLIC, port: 31001 });
  const actions = hub.manager.natMappingChanged({ address: PUBLIC, port: 31555 });
  assert.deepEqual(h.remote, { address: PUBLIC, port: 31555 });
  assert.deepEqual(h.local.port, 4500);
  assert.ok(actions.some((a) => a.kind === 'log' && a.level === 'info' && /NAT mapping moved: port 31001 => 31555/.test(a.msg)), 'logged once');
  // The same port again changes nothing and says nothing.
  assert.deepEqual(hub.manager.natMappingChanged({ address: PUBLIC, port: 31555 }), []);
  // The next request (an IKE rekey) leaves for the new port, from 4500, behind the non-ESP marker.
  const before = sim.wire.length;
  sim.apply(hub, hub.manager.rekeyIke(PUBLIC, sim.now));
  const sent = sim.wire.slice(before);
  assert.equal(sent.length, 1);
  assert.deepEqual([sent[0].from.port, sent[0].to.address, sent[0].to.port], [4500, PUBLIC, 31555]);
  assert.deepEqual([...sent[0].bytes.subarray(0, 4)], [0, 0, 0, 0]);
  assert.equal(decodeIkeMessage(sent[0].bytes.subarray(4)).header.spiI, h.spiI);
  // A child SA made from now on carries the new port for its UDP encapsulation.
  assert.deepEqual(h.natT(), { srcPort: 4500, dstPort: 31555 });
});

test('ikev2 NAT mapping: ignored behind a NAT, for another address, and for a peer with no NAT between us', () => {
  const { spoke, hub } = natted();
  const s = established(spoke)[0];
  // The spoke is behind the NAT: a validated packet from elsewhere must not move it (section 2.23, DoS).
  assert.deepEqual(spoke.manager.natMappingChanged({ address: HUB, port: 7777 }), []);
  assert.deepEqual(s.remote, { address: HUB, port: 4500 });
  // Another address is another peer: nothing moves.
  hub.manager.natMappingChanged({ address: '203.0.113.8', port: 31555 });
  assert.equal(established(hub)[0].remote.port, 31001);

  // No NAT at all: IKE stays on 500 and nothing follows an ESP port.
  const plain = new IkeSim();
  const a = plain.add('hub', { localAddress: HUB });
  const b = plain.add('spoke', { localAddress: SPOKE });
  plain.connect(b, HUB);
  assert.deepEqual(a.manager.natMappingChanged({ address: SPOKE, port: 4500 }), []);
  assert.deepEqual(established(a)[0].remote, { address: SPOKE, port: 500 });
});
