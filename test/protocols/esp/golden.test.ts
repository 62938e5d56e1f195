import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createDecipheriv } from 'node:crypto';
import { Reader, fromHex } from '../../../protocols/wire/index.js';
import { IpProto, parseIpv4 } from '../../../protocols/ip/ipv4.js';
import { parseUdp, UdpPort } from '../../../protocols/ip/udp.js';
import { espCodec, parseEsp } from '../../../protocols/esp/wire.js';
import { udpEncapCodec, classifyUdpEncap } from '../../../protocols/esp/udpencap.js';
import { parseEspPlaintext, EspNextHeader } from '../../../protocols/esp/trailer.js';
import { ikeVersion } from '../../../protocols/ikev2/header.js';
import { reencodeIdentical } from '../../support/codec.js';
import { ipv4Packets } from '../../support/pcap.js';
import { needsVectors, vectorPath } from '../../support/vectors.js';

function espOverIp(file: string): { index: number; bytes: Uint8Array }[] {
  return ipv4Packets(vectorPath('pcap', file))
    .filter((p) => p.ip.header.protocol === IpProto.ESP)
    .map((p) => ({ index: p.frame.index, bytes: p.ip.payload }));
}

function udp4500(file: string): { index: number; bytes: Uint8Array }[] {
  const out: { index: number; bytes: Uint8Array }[] = [];
  for (const p of ipv4Packets(vectorPath('pcap', file))) {
    if (p.ip.header.protocol !== IpProto.UDP) continue;
    const u = parseUdp(new Reader(p.ip.payload, 'udp'));
    if (u.dstPort === UdpPort.IKE_NATT || u.srcPort === UdpPort.IKE_NATT) out.push({ index: p.frame.index, bytes: u.payload });
  }
  return out;
}

/** "spi=0x12345678,seq=0x1" per frame from tcpdump's decode next to the capture. */
function tcpdumpEsp(file: string): Map<number, { spi: number; seq: number }> {
  const out = new Map<number, { spi: number; seq: number }>();
  for (const line of readFileSync(vectorPath('pcap', file), 'utf8').split('\n')) {
    const m = /^\s+(\d+)\s.*ESP\(spi=0x([0-9a-f]+),seq=0x([0-9a-f]+)\)/.exec(line);
    if (m) out.set(Number(m[1]), { spi: parseInt(m[2], 16), seq: parseInt(m[3], 16) });
  }
  return out;
}

test('esp golden: every ESP packet (IP protocol 50) in 02-sunrise-sunset-esp re-encodes byte for byte', needsVectors, () => {
  const pkts = espOverIp('02-sunrise-sunset-esp.pcap');
  assert.equal(pkts.length, 8);
  pkts.forEach((p, i) => {
    const e = reencodeIdentical(espCodec, p.bytes, `frame ${p.index}`);
    assert.equal(e.spi, 0x12345678);
    assert.equal(e.seq, i + 1);
    assert.equal(e.payload.length, 108);
  });
});

test('esp golden: espudp1 on UDP 4500 is ESP, fields as tcpdump printed them', needsVectors, () => {
  const want = tcpdumpEsp('espudp1.out');
  const pkts = udp4500('espudp1.pcap');
  assert.equal(pkts.length, 8);
  for (const p of pkts) {
    assert.equal(classifyUdpEncap(p.bytes), 'esp');
    const v = reencodeIdentical(udpEncapCodec, p.bytes, `frame ${p.index}`);
    assert.equal(v.kind, 'esp');
    if (v.kind !== 'esp') continue;
    assert.deepEqual({ spi: v.packet.spi, seq: v.packet.seq }, want.get(p.index));
  }
});

test('esp golden: isakmp4500 mixes IKEv1 behind the marker, keepalives and ESP on one port', needsVectors, () => {
  const counts = { ike: 0, keepalive: 0, esp: 0 };
  let seq = 0;
  for (const p of udp4500('isakmp4500.pcap')) {
    const kind = classifyUdpEncap(p.bytes);
    const v = reencodeIdentical(udpEncapCodec, p.bytes, `frame ${p.index}`);
    assert.equal(v.kind, kind);
    counts[kind]++;
    if (v.kind === 'ike') assert.deepEqual(ikeVersion(v.message), { major: 1, minor: 0 }, `frame ${p.index} is IKEv1`);
    if (v.kind === 'keepalive') assert.equal(p.bytes.length, 1);
    if (v.kind === 'esp') {
      assert.equal(v.packet.spi, 0xf4dc0ae5);
      assert.equal(v.packet.seq, ++seq);
    }
  }
  // Read off tshark: 11 ISAKMP frames on 4500, 4 NAT-keepalives, 8 ESP (SPI 0xf4dc0ae5, seq 1..8).
  assert.deepEqual(counts, { ike: 11, keepalive: 4, esp: 8 });
});

test('esp golden: 02-sunrise-sunset-esp decrypts (3DES-CBC) to a tunnelled IPv4 packet with default padding', needsVectors, () => {
  // The key of tcpdump's own test for this capture (tests/TESTLIST, "esp1": 0x12345678@192.1.2.45
  // 3des-cbc-hmac96:0x4043…5758); the esp-secrets.txt next to the capture holds the keys of another one.
  const key = fromHex('4043434545464649494a4a4c4c4f4f515152525454575758');
  for (const p of [...espOverIp('02-sunrise-sunset-esp.pcap'), ...udp4500('espudp1.pcap')]) {
    const e = parseEsp(new Reader(p.bytes, 'esp'));
    // 3DES: an 8-octet IV; HMAC-SHA1-96: a 12-octet ICV.
    const iv = e.payload.subarray(0, 8);
    const ct = e.payload.subarray(8, e.payload.length - 12);
    const d = createDecipheriv('des-ede3-cbc', key, iv);
    d.setAutoPadding(false);
    const plain = new Uint8Array(Buffer.concat([d.update(ct), d.final()]));
    const t = parseEspPlaintext(plain, { blockSize: 8 });
    assert.equal(t.nextHeader, EspNextHeader.IPV4);
    assert.equal(t.padLength, 2);
    const inner = parseIpv4(new Reader(t.payload, 'ipv4'));
    assert.equal(inner.header.totalLength, t.payload.length);
    assert.equal(inner.header.protocol, IpProto.ICMP);
  }
});
