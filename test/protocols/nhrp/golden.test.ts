/**
 * Golden: every NHRP packet in the captures decodes, checksum-verifies and
 * re-encodes byte for byte, and its fields match what tcpdump printed for it
 * (the .out files next to each capture, an independent decoder).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Reader } from '../../../protocols/wire/index.js';
import { parseIpv4Header, IpProto } from '../../../protocols/ip/ipv4.js';
import {
  parseNhrp, nhrpChecksumValid, nhrpCodec, extensionCies, findExtension, cleartextPassword,
  NhrpPacketType, NhrpExtensionType, NhrpAuthType, RegistrationFlag, ResolutionFlag, CiscoCieMtu,
  type NhrpPacket, type NhrpMandatory,
} from '../../../protocols/nhrp/index.js';
import { reencodeIdentical } from '../../support/codec.js';
import { needsVectors, vectorPath } from '../../support/vectors.js';
import { NHRP_CAPTURES, nhrpPackets, nhrpFrame } from './captures.js';

/** One NHRP line of a tcpdump .out file, with the GRE key of its frame. */
interface TcpdumpNhrp {
  frame: number;
  key?: number;
  type: number;
  id?: number;
  trafficCode?: string;
  hop: number;
  srcNbma: string;
  srcProto: string;
  dstProto: string;
  cie?: { code: number; pl: number; mtu: number; htime: number; pref: number; nbma?: string; proto?: string };
}

const TCPDUMP_TYPES: Record<string, number> = {
  'res request': 1, 'res reply': 2, 'reg request': 3, 'reg reply': 4,
  'purge request': 5, 'purge reply': 6, 'error indication': 7, 'traffic indication': 8,
};

const LINE =
  /NHRP: ([a-z]+ [a-z]+), (?:id (\d+)|code <([^>]*)>), hopcnt (\d+), src nbma ([\d.]+), ([\d.]+) -> ([\d.]+)(?: \(code (\d+), pl (\d+), mtu (\d+), htime (\d+), pref (\d+)(?:, nbma ([\d.]+), proto ([\d.]+))?\))?/;

function tcpdumpOut(capture: string): TcpdumpNhrp[] {
  const text = readFileSync(vectorPath('pcap', capture.replace(/\.pcap(ng)?$/, '.out')), 'utf8');
  const out: TcpdumpNhrp[] = [];
  for (const rec of text.split(/\n(?=\s+\d+\s+\d{4}-)/)) {
    const frame = Number(/^\s*(\d+)\s/.exec(rec)?.[1]);
    const m = LINE.exec(rec);
    if (!m) continue;
    const key = /key=0x([0-9a-f]+)/.exec(rec);
    out.push({
      frame,
      key: key ? parseInt(key[1], 16) : undefined,
      type: TCPDUMP_TYPES[m[1]],
      id: m[2] !== undefined ? Number(m[2]) : undefined,
      trafficCode: m[3],
      hop: Number(m[4]),
      srcNbma: m[5],
      srcProto: m[6],
      dstProto: m[7],
      cie: m[8] !== undefined
        ? { code: +m[8], pl: +m[9], mtu: +m[10], htime: +m[11], pref: +m[12], nbma: m[13], proto: m[14] }
        : undefined,
    });
  }
  return out;
}

function mandatory(p: NhrpPacket): NhrpMandatory {
  assert.equal(p.body.kind, 'mandatory');
  return p.body as NhrpMandatory;
}

test('nhrp golden: every captured NHRP packet decodes, verifies and re-encodes byte for byte', needsVectors, () => {
  const counts: Record<string, number> = {};
  for (const file of NHRP_CAPTURES) {
    for (const c of nhrpPackets(file)) {
      const what = `${file}#${c.frame}`;
      const p = reencodeIdentical(nhrpCodec, c.bytes, what);
      assert.ok(nhrpChecksumValid(c.bytes), `${what} checksum`);
      assert.equal(p.version, 1, what);
      assert.notEqual(p.body.kind, 'raw', what);
      assert.notEqual(p.hopCount, 0, `${what}: IOS never sends hop count 0`);
      // The End extension closes every list, with the C bit as IOS sets it.
      const last = p.extensions?.[p.extensions.length - 1];
      assert.ok(last && last.type === NhrpExtensionType.END && last.compulsory, `${what} ends with End (0x8000)`);
      for (const e of p.extensions ?? []) if (e.type !== 0) assert.notEqual(e.kind, 'raw', `${what}: extension ${e.type} is structured`);
      counts[file] = (counts[file] ?? 0) + 1;
    }
  }
  assert.deepEqual(counts, {
    'NHRP_registration.pcap': 4, 'NHRP-responder-address.pcap': 2, 'nhrp.pcapng': 25, 'nhrp-trace.pcap': 4, 'ios_nhrp.pcap': 1,
  });
});

test('nhrp golden: fields agree with tcpdump for every packet', needsVectors, () => {
  let compared = 0;
  for (const file of NHRP_CAPTURES) {
    const expected = tcpdumpOut(file);
    const captured = nhrpPackets(file);
    assert.equal(expected.length, captured.length, `${file}: one tcpdump line per packet`);
    for (const t of expected) {
      const c = captured.find((x) => x.frame === t.frame);
      assert.ok(c, `${file}#${t.frame} present`);
      const what = `${file}#${t.frame}`;
      const p = parseNhrp(new Reader(c.bytes, 'nhrp'));
      assert.equal(c.greKey, t.key, `${what} GRE key`);
      assert.equal(p.type, t.type, `${what} type`);
      assert.equal(p.hopCount, t.hop, `${what} hop count`);
      const b = p.body;
      assert.ok(b.kind === 'mandatory' || b.kind === 'traffic', what);
      assert.equal(b.srcNbma, t.srcNbma, `${what} src nbma`);
      assert.equal(b.srcProto, t.srcProto, `${what} src proto`);
      assert.equal(b.dstProto, t.dstProto, `${what} dst proto`);
      if (b.kind === 'traffic') {
        assert.equal(t.trafficCode, 'NHRP traffic redirect/indirection');
        assert.equal(b.trafficCode, 0);
      } else {
        assert.equal(b.requestId, t.id, `${what} request id`);
        const cie = b.cies[0];
        assert.ok(t.cie && cie, `${what} has a CIE`);
        assert.equal(cie.code, t.cie.code, `${what} code`);
        assert.equal(cie.prefixLength, t.cie.pl, `${what} prefix length`);
        assert.equal(cie.mtu, t.cie.mtu, `${what} mtu`);
        assert.equal(cie.holdingTime, t.cie.htime, `${what} holding time`);
        assert.equal(cie.preference, t.cie.pref, `${what} preference`);
        assert.equal(cie.clientNbma, t.cie.nbma ?? '', `${what} client nbma`);
        assert.equal(cie.clientProto, t.cie.proto ?? '', `${what} client proto`);
      }
      compared++;
    }
  }
  assert.equal(compared, 36);
});

test('nhrp golden: NHRP_registration.pcap (IOS 15, key 2, "NHRPAUTH", NAT extension)', needsVectors, () => {
  const req = parseNhrp(new Reader(nhrpFrame('NHRP_registration.pcap', 1).bytes, 'nhrp'));
  const reqBody = mandatory(req);
  assert.equal(reqBody.flags, RegistrationFlag.U | RegistrationFlag.NAT);
  assert.equal(reqBody.cies[0].mtu, CiscoCieMtu.WITH_KEY);
  assert.deepEqual(req.extensions?.map((e) => [e.type, e.compulsory]), [
    [3, true], [4, true], [5, true], [7, true], [9, false], [0, true],
  ]);
  assert.equal(cleartextPassword(req.extensions), 'NHRPAUTH');
  const auth = findExtension(req.extensions, NhrpExtensionType.AUTHENTICATION);
  assert.equal(auth?.kind === 'auth' && auth.authType, NhrpAuthType.CLEARTEXT);
  assert.deepEqual(extensionCies(req.extensions, NhrpExtensionType.RESPONDER_ADDRESS), []);
  const nat = extensionCies(req.extensions, NhrpExtensionType.NAT_ADDRESS);
  assert.equal(nat?.length, 1);
  assert.equal(nat?.[0].clientNbma, '169.254.100.5');
  assert.equal(nat?.[0].clientProto, '155.1.0.5');
  assert.equal(nat?.[0].holdingTime, 0);
  assert.equal(nat?.[0].prefixLength, 32);

  const rep = parseNhrp(new Reader(nhrpFrame('NHRP_registration.pcap', 2).bytes, 'nhrp'));
  assert.equal(rep.type, NhrpPacketType.REGISTRATION_REPLY);
  assert.equal(mandatory(rep).requestId, 1);
  const responder = extensionCies(rep.extensions, NhrpExtensionType.RESPONDER_ADDRESS);
  assert.equal(responder?.length, 1);
  assert.equal(responder?.[0].clientNbma, '169.254.100.5');
  assert.equal(responder?.[0].clientProto, '155.1.0.5');
  assert.equal(responder?.[0].holdingTime, 7200);
  assert.equal(responder?.[0].mtu, 17912);
  assert.deepEqual(extensionCies(rep.extensions, NhrpExtensionType.NAT_ADDRESS), nat);
});

test('nhrp golden: NHRP-responder-address.pcap (responder differs from the destination)', needsVectors, () => {
  const rep = parseNhrp(new Reader(nhrpFrame('NHRP-responder-address.pcap', 2).bytes, 'nhrp'));
  const b = mandatory(rep);
  assert.equal(b.requestId, 300);
  assert.equal(b.flags, 0x0002, 'this IOS registers without the unique bit');
  assert.equal(b.dstProto, '155.1.0.6');
  const responder = extensionCies(rep.extensions, NhrpExtensionType.RESPONDER_ADDRESS)?.[0];
  assert.equal(responder?.clientNbma, '6.6.6.6');
  assert.equal(responder?.clientProto, '155.1.146.6');
  assert.equal(extensionCies(rep.extensions, NhrpExtensionType.NAT_ADDRESS)?.[0].clientProto, '155.1.0.6');
  assert.equal(cleartextPassword(rep.extensions), 'NHRPAUTH');
});

test('nhrp golden: nhrp.pcapng (one spoke, two hubs, no key, MTU 17916, "OTUS")', needsVectors, () => {
  const all = nhrpPackets('nhrp.pcapng').map((c) => ({ c, p: parseNhrp(new Reader(c.bytes, 'nhrp')) }));
  for (const { c, p } of all) {
    assert.equal(c.greKey, undefined);
    assert.equal(cleartextPassword(p.extensions), 'OTUS');
    assert.equal(mandatory(p).cies[0].mtu, CiscoCieMtu.NO_KEY);
    assert.equal(mandatory(p).flags, 0x8002);
  }
  const hubs = new Set(all.map(({ p }) => extensionCies(p.extensions, NhrpExtensionType.NAT_ADDRESS)?.[0].clientNbma));
  assert.deepEqual([...hubs].sort(), ['100.1.0.14', '100.1.0.15']);
  assert.deepEqual(all.slice(0, 4).map(({ p }) => mandatory(p).requestId), [21, 21, 22, 22]);
});

test('nhrp golden: nhrp-trace.pcap (redirect, forwarded resolution, key 1000, "secret")', needsVectors, () => {
  const [ti, req, fwd, rep] = [1, 2, 3, 4].map((f) => parseNhrp(new Reader(nhrpFrame('nhrp-trace.pcap', f).bytes, 'nhrp')));
  // Traffic Indication carries the start of the data packet that triggered it.
  assert.equal(ti.type, NhrpPacketType.TRAFFIC_INDICATION);
  assert.ok(ti.body.kind === 'traffic');
  assert.equal(ti.body.trigger.length, 28);
  const ip = parseIpv4Header(new Reader(ti.body.trigger, 'ipv4'));
  assert.equal(ip.src, '10.255.255.3');
  assert.equal(ip.dst, '10.255.255.2');
  assert.equal(ip.protocol, IpProto.ICMP);
  assert.equal(findExtension(ti.extensions, NhrpExtensionType.RESPONDER_ADDRESS), undefined);
  assert.equal(cleartextPassword(ti.extensions), 'secret');
  // The NHS forwards: hop count 254 and its own CIE in the Forward Transit NHS record.
  assert.equal(mandatory(req).flags, ResolutionFlag.Q | ResolutionFlag.A | ResolutionFlag.S | ResolutionFlag.NAT);
  assert.equal(fwd.hopCount, 254);
  assert.deepEqual(extensionCies(req.extensions, NhrpExtensionType.FORWARD_TRANSIT_NHS), []);
  const transit = extensionCies(fwd.extensions, NhrpExtensionType.FORWARD_TRANSIT_NHS);
  assert.equal(transit?.length, 1);
  assert.equal(transit?.[0].clientNbma, '192.168.200.1');
  assert.equal(transit?.[0].clientProto, '10.255.255.1');
  // The reply answers with the destination's binding and names the responder.
  const rb = mandatory(rep);
  assert.equal(rb.flags, 0xf802);
  assert.equal(rb.cies[0].clientNbma, '192.168.200.2');
  const responder = extensionCies(rep.extensions, NhrpExtensionType.RESPONDER_ADDRESS)?.[0];
  assert.equal(responder?.clientProto, '10.255.255.2');
  assert.equal(responder?.prefixLength, 0);
  assert.deepEqual(extensionCies(rep.extensions, NhrpExtensionType.FORWARD_TRANSIT_NHS), transit);
  assert.deepEqual(extensionCies(rep.extensions, NhrpExtensionType.NAT_ADDRESS), []);
});

test('nhrp golden: ios_nhrp.pcap (odd length, "CISCO", no NAT extension)', needsVectors, () => {
  const c = nhrpFrame('ios_nhrp.pcap', 1);
  assert.equal(c.bytes.length, 81);
  assert.ok(nhrpChecksumValid(c.bytes));
  const p = parseNhrp(new Reader(c.bytes, 'nhrp'));
  const b = mandatory(p);
  assert.equal(b.flags, RegistrationFlag.U);
  assert.equal(b.cies[0].prefixLength, 255);
  assert.equal(b.cies[0].holdingTime, 30);
  assert.equal(cleartextPassword(p.extensions), 'CISCO');
  assert.equal(findExtension(p.extensions, NhrpExtensionType.NAT_ADDRESS), undefined);
  assert.deepEqual(p.extensions?.map((e) => e.type), [3, 4, 5, 7, 0]);
});
