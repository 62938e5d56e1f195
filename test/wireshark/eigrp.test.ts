/**
 * Wireshark's EIGRP and GRE dissectors read the EIGRP packets our builders
 * emit (hello, stub hello, goodbye, ACK, classic and wide updates with internal
 * and external routes, query, reply, SIA query/reply), sent directly over IPv4
 * and inside GRE with a key: no malformed packet, no expert warning, good
 * checksums, and every field both dissectors show has the same value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildHello, buildGoodbye, buildAck, buildUpdate, buildQuery, buildReply, buildSiaQuery, buildSiaReply, classicRoute, wideRoute,
  EigrpFlag, EigrpStubFlag, EIGRP_MULTICAST_IPV4, EIGRP_CLASSIC_INFINITY, type EigrpPacket, type ExternalData,
} from '../../protocols/eigrp/wire.js';
import { dissectPacket, type DecodedPacket } from '../../daemon/decode/index.js';
import { LinkType } from '../../daemon/capture/pcap.js';
import { eigrpDatagram, tunnelled } from '../../scripts/demo.js';
import { needsTool } from '../support/tools.js';
import { layer, child, nodeValues } from '../daemon/decode/support.js';
import { tshark, fields, field1, layersOf, assertClean, JUSTIFIED_NOTES } from './support.js';

const ext: ExternalData = { originatingRouter: '10.0.0.13', originatingAs: 65001, adminTag: 7, externalMetric: 20, reserved: 0, externalProtocol: 3, flags: 0 };
const gig = { delay: 256, bandwidth: 2560, mtu: 1500, hopCount: 0, reliability: 255, load: 1 };
const lan1 = classicRoute({ prefix: '192.168.1.0', prefixLength: 24, ...gig });
const host = classicRoute({ prefix: '10.9.8.7', prefixLength: 32, ...gig, hopCount: 2, internalTag: 3 });
const extC = classicRoute({ prefix: '172.16.0.0', prefixLength: 12, ...gig, external: ext });
const deflt = classicRoute({ prefix: '0.0.0.0', prefixLength: 0, ...gig });
const wide = wideRoute({ prefix: '192.168.3.0', prefixLength: 24, routerId: '10.0.0.13', delay: 10_000_000n, bandwidth: 1_000_000n, mtu: 1500, hopCount: 1, reliability: 255, load: 1 });
const wideExt = wideRoute({ prefix: '198.51.100.0', prefixLength: 25, routerId: '10.0.0.13', delay: 20_000_000n, bandwidth: 100_000n, mtu: 1400, hopCount: 2, reliability: 250, load: 3, external: ext });
const unreachable = classicRoute({ prefix: '192.168.2.0', prefixLength: 24, ...gig, delay: EIGRP_CLASSIC_INFINITY });

const PACKETS: readonly [string, EigrpPacket][] = [
  ['hello', buildHello({ as: 1, holdTime: 15 })],
  ['stub hello', buildHello({ as: 1, holdTime: 15, iosVersion: [15, 9], tlvVersion: [2, 0], stub: EigrpStubFlag.CONNECTED | EigrpStubFlag.SUMMARY })],
  ['goodbye', buildGoodbye({ as: 1, holdTime: 15 })],
  ['ack', buildAck({ as: 1, ack: 41 })],
  ['init update', buildUpdate({ as: 1, sequence: 40, flags: EigrpFlag.INIT, routes: [] })],
  ['classic update', buildUpdate({ as: 1, sequence: 41, ack: 12, flags: EigrpFlag.EOT, routes: [lan1, host, extC, deflt] })],
  ['wide update', buildUpdate({ as: 1, sequence: 42, flags: EigrpFlag.CR, routes: [wide, wideExt] })],
  ['query', buildQuery({ as: 1, sequence: 43, routes: [unreachable] })],
  ['reply', buildReply({ as: 1, sequence: 44, ack: 43, routes: [unreachable] })],
  ['SIA query', buildSiaQuery({ as: 1, sequence: 45, routes: [unreachable] })],
  ['SIA reply', buildSiaReply({ as: 1, sequence: 46, routes: [unreachable] })],
];

const KEY = 1000;

function datagrams(): { what: string; data: Uint8Array }[] {
  const out: { what: string; data: Uint8Array }[] = [];
  for (const [what, p] of PACKETS) {
    const dst = p.header.opcode === 5 && p.header.ack === 0 ? EIGRP_MULTICAST_IPV4 : '10.0.0.1';
    const direct = eigrpDatagram('10.0.0.11', dst, p);
    out.push({ what: `${what} over IPv4`, data: direct });
    out.push({ what: `${what} over GRE`, data: tunnelled('203.0.113.11', '203.0.113.1', direct, KEY) });
  }
  return out;
}

function ours(data: Uint8Array): DecodedPacket {
  return dissectPacket({ index: 1, linkType: LinkType.RAW, time: 0, origLength: data.length, data });
}

test('wireshark eigrp: every packet kind, direct and in GRE, dissects cleanly and agrees field by field', needsTool('tshark'), () => {
  const ds = datagrams();
  const theirs = tshark(ds.map((d) => d.data));
  assert.equal(theirs.length, ds.length);
  theirs.forEach((t, i) => {
    const what = ds[i].what;
    // A goodbye is meant to end the adjacency: Wireshark notes it as "Peer Termination" (RFC 7868 section 6.7.1).
    assertClean(t, what, what.startsWith('goodbye') ? [...JUSTIFIED_NOTES, /^Peer Termination$/] : JUSTIFIED_NOTES);
    const p = ours(ds[i].data);
    assert.equal(p.malformed, undefined, what);
    const e = layer(p, 'eigrp');
    const te = layersOf(t, 'eigrp');
    assert.equal(te.length, 1, `${what}: Wireshark found EIGRP`);
    const w = te[0];
    assert.equal(field1(w, 'eigrp.checksum.status'), '1', `${what}: Wireshark says the checksum is good`);
    assert.equal(child(e, 'checksumStatus')?.value, 'correct');
    assert.equal(Number(field1(w, 'eigrp.opcode')), child(e, 'opcode')?.value, `${what}: opcode`);
    assert.equal(Number(field1(w, 'eigrp.as')), child(e, 'as')?.value, `${what}: AS`);
    assert.equal(Number(field1(w, 'eigrp.seq')), child(e, 'sequence')?.value, `${what}: sequence`);
    assert.equal(Number(field1(w, 'eigrp.ack')), child(e, 'ack')?.value, `${what}: ack`);
    assert.equal(Number(field1(w, 'eigrp.flags')), child(e, 'flags')?.value, `${what}: flags`);
    const tlvs = child(e, 'tlvs');
    assert.deepEqual(fields(w, 'eigrp.tlv_type').map(Number), nodeValues(tlvs, 'type'), `${what}: TLV types`);
    // Destinations: Wireshark shows the prefix length and the zero-filled destination of each.
    const lens = fields(w, 'eigrp.ipv4.prefixlen');
    const dsts = fields(w, 'eigrp.ipv4.destination');
    assert.deepEqual(lens.map((l, j) => `${dsts[j]}/${l}`), nodeValues(tlvs, 'destinations').flat(), `${what}: destinations`);
    assert.deepEqual(fields(w, 'eigrp.ipv4.nexthop'), nodeValues(tlvs, 'nextHop'), `${what}: next hops`);
    // Classic and wide metrics.
    assert.deepEqual(fields(w, 'eigrp.old_metric.delay').map(Number), nodeValues(tlvs, 'delay').filter((v) => typeof v === 'number'), `${what}: classic delay`);
    assert.deepEqual(fields(w, 'eigrp.old_metric.bw').map(Number), nodeValues(tlvs, 'bandwidth').filter((v) => typeof v === 'number'), `${what}: classic bandwidth`);
    assert.deepEqual(fields(w, 'eigrp.metric.delay'), nodeValues(tlvs, 'delay').filter((v) => typeof v === 'string'), `${what}: wide delay`);
    assert.deepEqual(fields(w, 'eigrp.metric.bandwidth'), nodeValues(tlvs, 'bandwidth').filter((v) => typeof v === 'string'), `${what}: wide bandwidth`);
    assert.deepEqual(fields(w, 'eigrp.routerid'), nodeValues(tlvs, 'routerId'), `${what}: router IDs`);
    assert.deepEqual(fields(w, 'eigrp.extdata.origrid'), nodeValues(tlvs, 'originatingRouter'), `${what}: external originator`);
    assert.deepEqual(fields(w, 'eigrp.extdata.as').map(Number), nodeValues(tlvs, 'originatingAs'), `${what}: external AS`);
    assert.deepEqual(fields(w, 'eigrp.extdata.proto').map(Number), nodeValues(tlvs, 'externalProtocol'), `${what}: external protocol`);
    // Parameters and software version.
    for (const k of ['k1', 'k2', 'k3', 'k4', 'k5', 'k6']) assert.deepEqual(fields(w, `eigrp.par.${k}`).map(Number), nodeValues(tlvs, k), `${what}: ${k}`);
    assert.deepEqual(fields(w, 'eigrp.par.holdtime').map(Number), nodeValues(tlvs, 'holdTime'), `${what}: hold time`);
    const ios = nodeValues(tlvs, 'ios') as string[];
    assert.deepEqual(fields(w, 'eigrp.release_version').map(Number), ios.map((v) => { const [a, b] = v.split('.').map(Number); return a * 256 + b; }), `${what}: IOS release`);
    const stub = what.startsWith('stub') ? [EigrpStubFlag.CONNECTED | EigrpStubFlag.SUMMARY] : [];
    assert.deepEqual(fields(w, 'eigrp.stub_options').map(Number), stub, `${what}: stub flags (Wireshark)`);
    if (stub.length) assert.deepEqual(nodeValues(tlvs, 'flags'), stub, `${what}: stub flags (ours)`);
    // In GRE: the key and the payload type.
    if (what.endsWith('over GRE')) {
      assert.equal(Number(field1(t, 'gre.key')), KEY);
      assert.equal(field1(t, 'gre.proto'), '0x0800');
      assert.deepEqual(nodeValues(layer(p, 'gre'), 'key'), [KEY]);
      assert.equal(layersOf(t, 'ip').length, 2, `${what}: IP in GRE in IP`);
    }
    // The packet name our Info column shows matches Wireshark's opcode and ACK/goodbye reading.
    if (what.startsWith('ack')) assert.match(p.info, /^ACK /);
    if (what.startsWith('goodbye')) assert.match(p.info, /^GOODBYE /);
  });
});
