/**
 * Whole captures through both dissectors. The demo capture (every DMVPN
 * protocol our encoders emit, with and without a GRE key) must dissect
 * cleanly in Wireshark; on it and on every vector capture, our protocol stack,
 * checksum verdicts and NHRP fields must be the ones Wireshark reports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { decodeCapture, type DecodedPacket } from '../../daemon/decode/index.js';
import { sampleCapture, nhrpDatagram, nhrpBytes, ipv4 } from '../../scripts/demo.js';
import { writePcap } from '../../daemon/capture/pcap.js';
import {
  makeCie, makeRegistrationRequest, makeRegistrationReply, makeResolutionRequest, makeResolutionReply, makePurgeRequest, makePurgeReply,
  makeErrorIndication, makeTrafficIndication, forwardedByNhs, CiscoCieMtu, NhrpCieCode, NhrpErrorCode, type NhrpPacket,
} from '../../protocols/nhrp/index.js';
import { needsTool } from '../support/tools.js';
import { needsVectors, vectorPath, readVector } from '../support/vectors.js';
import { layer, child, nodeValues } from '../daemon/decode/support.js';
import type { Node } from '../../daemon/decode/index.js';
import { tsharkCapture, fields, layersOf, assertClean, protocolStack, type TsharkLayers } from './support.js';

/** Wireshark protocol names -> our layer keys; names not listed are outside what we decode. */
const LAYER_OF: Record<string, string> = {
  ip: 'ipv4', ipv6: 'ipv6', udp: 'udp', gre: 'gre', cmd: 'cmd', nhrp: 'nhrp', eigrp: 'eigrp', esp: 'esp', udpencap: 'udpencap', isakmp: 'ike',
};

function ourStack(p: DecodedPacket): string[] {
  return p.layers.map((l) => (l.key === 'ikev1' || l.key === 'ikev2' ? 'ike' : l.key)).filter((k) => Object.values(LAYER_OF).includes(k));
}

/**
 * Wireshark's stack cut to the protocols we decode. Where we stop (ICMP, PIM in
 * a tunnel; LLC, ARP on the link) so does the comparison; Wireshark's ESP inside
 * UDP-encapsulation and ours line up one to one.
 */
function theirStack(t: TsharkLayers): string[] {
  const out: string[] = [];
  for (const p of protocolStack(t)) {
    const k = LAYER_OF[p];
    if (k === undefined) {
      if (out.length > 0 && !['ethertype', 'vlan', 'raw', 'eth', 'null'].includes(p)) break;
      continue;
    }
    out.push(k);
    // Wireshark also dissects the data packet a Traffic Indication quotes; ours shows it as an NHRP field.
    if (k === 'nhrp') break;
  }
  return out;
}

/** Checksum verdicts per layer, in order: Wireshark status 1 = good, 0 = bad, 2 = unverified. */
function theirChecksums(t: TsharkLayers): string[] {
  const out: string[] = [];
  const ipLayers = theirStack(t).filter((k) => k === 'ipv4').length;
  for (const [proto, key] of [['ip', 'ip.checksum.status'], ['udp', 'udp.checksum.status'], ['gre', 'gre.checksum.status'], ['nhrp', 'nhrp.hdr.chksum.status'], ['eigrp', 'eigrp.checksum.status']] as const) {
    const ls = layersOf(t, proto);
    for (const l of proto === 'ip' ? ls.slice(0, ipLayers) : ls) {
      // The IP status sits at the top of its layer; NHRP's inside the fixed-header subtree.
      const s = proto === 'ip' ? [l[key]].filter((x) => typeof x === 'string') : fields(l, key);
      for (const v of s) out.push(`${proto}:${v === '1' ? 'correct' : v === '0' ? 'incorrect' : 'unverified'}`);
    }
  }
  return out;
}

function ourChecksums(p: DecodedPacket): string[] {
  const out: string[] = [];
  for (const [proto, key] of [['ip', 'ipv4'], ['udp', 'udp'], ['gre', 'gre'], ['nhrp', 'nhrp'], ['eigrp', 'eigrp']] as const) {
    for (const l of p.layers.filter((x) => x.key === key)) {
      const s = nodeValues(l, 'checksumStatus')[0];
      if (s === 'correct' || s === 'incorrect') out.push(`${proto}:${s}`);
    }
  }
  return out;
}

/** Values of `key` under every node keyed `parent`, in tree order (an Error Indication nests the packet in error). */
function under(n: Node | undefined, parent: string, key: string): unknown[] {
  const out: unknown[] = [];
  const walk = (x: Node): void => {
    if (x.key === parent) {
      const c = child(x, key);
      if (c?.value !== undefined) out.push(c.value);
    }
    for (const y of x.children ?? []) walk(y);
  };
  if (n) walk(n);
  return out;
}

/** The NHRP fields both dissectors show, Wireshark's names on the left, every occurrence in document order. */
function compareNhrp(t: TsharkLayers, p: DecodedPacket, what: string): void {
  const w = layersOf(t, 'nhrp')[0];
  const n = layer(p, 'nhrp');
  if (!w) {
    assert.equal(n, undefined, `${what}: neither sees NHRP`);
    return;
  }
  const num = (name: string): number[] => fields(w, name).map(Number);
  assert.deepEqual(num('nhrp.hdr.op.type'), under(n, 'header', 'type'), `${what}: type`);
  assert.deepEqual(num('nhrp.hdr.hopcnt'), under(n, 'header', 'hopCount'), `${what}: hop count`);
  assert.deepEqual(num('nhrp.hdr.pktsz'), under(n, 'header', 'packetSize'), `${what}: packet size`);
  assert.deepEqual(num('nhrp.hdr.extoff'), under(n, 'header', 'extensionOffset'), `${what}: extension offset`);
  assert.deepEqual(fields(w, 'nhrp.hdr.chksum.status'), under(n, 'header', 'checksumStatus').map((s) => (s === 'correct' ? '1' : '0')), `${what}: checksum`);
  assert.deepEqual(fields(w, 'nhrp.src.nbma.addr'), under(n, 'mandatory', 'srcNbma'), `${what}: source NBMA`);
  assert.deepEqual(fields(w, 'nhrp.src.prot.addr'), under(n, 'mandatory', 'srcProto'), `${what}: source protocol address`);
  assert.deepEqual(fields(w, 'nhrp.dst.prot.addr'), under(n, 'mandatory', 'dstProto'), `${what}: destination protocol address`);
  assert.deepEqual(num('nhrp.reqid'), under(n, 'mandatory', 'requestId'), `${what}: request ID`);
  assert.deepEqual(num('nhrp.flags'), under(n, 'mandatory', 'flags'), `${what}: flags`);
  // CIEs in document order: the mandatory part's, then each extension's.
  assert.deepEqual(num('nhrp.htime'), nodeValues(n, 'holdingTime'), `${what}: CIE holding times`);
  assert.deepEqual(num('nhrp.mtu'), nodeValues(n, 'mtu'), `${what}: CIE MTUs`);
  assert.deepEqual(num('nhrp.code'), nodeValues(n, 'code'), `${what}: CIE codes`);
  assert.deepEqual(num('nhrp.prefix'), nodeValues(n, 'prefixLength'), `${what}: CIE prefix lengths`);
  assert.deepEqual(fields(w, 'nhrp.client.nbma.addr'), nodeValues(n, 'clientNbma').filter((a) => a !== ''), `${what}: client NBMA addresses`);
  assert.deepEqual(fields(w, 'nhrp.client.prot.addr'), nodeValues(n, 'clientProto').filter((a) => a !== ''), `${what}: client protocol addresses`);
  assert.deepEqual(num('nhrp.ext.type'), under(n, 'extension', 'type'), `${what}: extension types`);
  assert.deepEqual(num('nhrp.ext.c'), (nodeValues(n, 'compulsory') as boolean[]).map((c) => (c ? 1 : 0)), `${what}: compulsory bits`);
  // Wireshark reads the authentication value as RFC 2332 section 5.3.4 lays it out (Reserved, SPI,
  // a 4-byte "source address", data); Cisco's reading is a 32-bit type 1 and the password. Same bytes.
  const pw = nodeValues(n, 'password');
  const theirPw = fields(w, 'nhrp.auth_ext.src_addr').map((a, j) => {
    const data = fields(w, 'nhrp.auth_ext.data')[j] ?? '';
    return Buffer.concat([Buffer.from(a.split('.').map(Number)), Buffer.from(data.replace(/:/g, ''), 'hex')]).toString('latin1');
  });
  assert.deepEqual(theirPw, pw, `${what}: password`);
  assert.deepEqual(num('nhrp.auth_ext.spi'), nodeValues(n, 'authType'), `${what}: authentication type`);
}

function compare(file: string, capture: Uint8Array, strict: boolean): number {
  const theirs = tsharkCapture(capture);
  const ours = decodeCapture(capture).packets;
  assert.equal(theirs.length, ours.length, `${file}: frame count`);
  let dmvpn = 0;
  theirs.forEach((t, i) => {
    const p = ours[i];
    const what = `${file}#${p.index} (${p.protocol} ${p.info})`;
    if (strict) assertClean(t, what);
    assert.equal(p.malformed, undefined, what);
    assert.deepEqual(ourStack(p), theirStack(t), `${what}: protocol stack`);
    if (p.dmvpn) dmvpn++;
    assert.deepEqual(ourChecksums(p), theirChecksums(t).filter((s) => !s.endsWith('unverified')), `${what}: checksum verdicts`);
    compareNhrp(t, p, what);
    assert.deepEqual(fields(t, 'gre.key').map(Number), p.layers.filter((l) => l.key === 'gre').flatMap((l) => nodeValues(l, 'key')), `${what}: GRE keys`);
    assert.deepEqual(fields(t, 'eigrp.opcode').map(Number), nodeValues(layer(p, 'eigrp'), 'opcode'), `${what}: EIGRP opcode`);
    assert.deepEqual(fields(t, 'esp.spi').map(Number), nodeValues(layer(p, 'esp'), 'spi'), `${what}: ESP SPI`);
  });
  return dmvpn;
}

test('wireshark combined: the demo capture dissects cleanly and agrees with ours, keyed and not', needsTool('tshark'), () => {
  for (const key of [undefined, 1000]) {
    const n = compare(`demo key=${key ?? 'none'}`, sampleCapture({ key }), true);
    assert.equal(n, 21);
  }
});

test('wireshark combined: every vector capture, our stack, checksums and NHRP fields equal Wireshark\'s', { ...needsVectors, ...needsTool('tshark') }, () => {
  const files = readdirSync(vectorPath('pcap')).filter((f) => f.endsWith('.pcap') || f.endsWith('.pcapng'));
  let dmvpn = 0;
  // Real captures carry what real networks carry (truncated IKEv1 guesses, old checksums): expert info is not ours to judge.
  for (const f of files) dmvpn += compare(f, readVector('pcap', f), false);
  // The DMVPN rows of test/daemon/decode/decode.test.ts's EXPECTED table, summed.
  assert.equal(dmvpn, 247, 'DMVPN packets compared');
});

test('wireshark combined: every NHRP packet type in keyed GRE, field by field', needsTool('tshark'), () => {
  const spoke = { srcNbma: '203.0.113.12', srcProto: '10.0.0.12', password: 'Cisco123' };
  const nhs = makeCie({ mtu: CiscoCieMtu.WITH_KEY, holdingTime: 450, clientNbma: '203.0.113.1', clientProto: '10.0.0.1' });
  const reg = makeRegistrationRequest({ ...spoke, requestId: 11, nhsProto: '10.0.0.1', nhsNbma: '203.0.113.1', mtu: CiscoCieMtu.WITH_KEY, holdingTime: 450 });
  const res = makeResolutionRequest({ ...spoke, requestId: 12, target: '192.168.1.10' });
  const purge = makePurgeRequest({ ...spoke, requestId: 13, dstProto: '10.0.0.11', cies: [makeCie({ mtu: 0, holdingTime: 0, clientProto: '192.168.2.0', prefixLength: 24 })] });
  const packets: NhrpPacket[] = [
    reg,
    makeRegistrationReply(reg, { responder: nhs }),
    makeRegistrationReply(reg, { responder: nhs, code: NhrpCieCode.ALREADY_REGISTERED }),
    res,
    forwardedByNhs(res, nhs),
    makeResolutionReply(res, { cies: [makeCie({ prefixLength: 24, mtu: 1400, holdingTime: 450, clientNbma: '203.0.113.11', clientProto: '10.0.0.11' })], responder: nhs }),
    makeResolutionReply(res, { cies: [makeCie({ code: NhrpCieCode.NO_BINDING_EXISTS, mtu: 0, holdingTime: 0 })], responder: nhs }),
    purge,
    makePurgeReply(purge),
    makeErrorIndication({ ...spoke, errorCode: NhrpErrorCode.AUTHENTICATION_FAILURE, errorOffset: 0, dstProto: '10.0.0.1', erroredPacket: nhrpBytes(res) }),
    makeTrafficIndication({ srcNbma: '203.0.113.1', srcProto: '10.0.0.1', password: 'Cisco123', dstProto: '192.168.2.10', trigger: ipv4('192.168.2.10', '192.168.1.10', 1, new Uint8Array(8)) }),
  ];
  const capture = writePcap(packets.map((p) => ({ data: nhrpDatagram('203.0.113.12', '203.0.113.1', p, 77) })));
  const theirs = tsharkCapture(capture);
  const ours = decodeCapture(capture).packets;
  theirs.forEach((t, i) => {
    const what = `NHRP ${ours[i].info}`;
    assertClean(t, what);
    assert.equal(ours[i].malformed, undefined, what);
    assert.deepEqual(fields(t, 'gre.key').map(Number), [77]);
    assert.equal(fields(t, 'nhrp.hdr.chksum.status')[0], '1', `${what}: Wireshark: checksum good`);
    compareNhrp(t, ours[i], what);
    assert.deepEqual(fields(t, 'nhrp.err.code').map(Number), nodeValues(layer(ours[i], 'nhrp'), 'errorCode'), `${what}: error code`);
    // Wireshark 4.0 shows no traffic-code field, but it dissects the quoted trigger packet: same addresses as our summary.
    const quoted = layersOf(t, 'nhrp').flatMap((l) => [...fields(l, 'ip.src'), ...fields(l, 'ip.dst')]);
    if (quoted.length) assert.match(ours[i].info, new RegExp(` for ${quoted[0]} → ${quoted[1]} `), `${what}: trigger packet`);
    assert.equal(quoted.length > 0, nodeValues(layer(ours[i], 'nhrp'), 'trafficCode').length > 0, `${what}: trigger only in a Traffic Indication`);
  });
});
