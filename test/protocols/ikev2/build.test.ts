import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex, fromHex, encode } from '../../../protocols/wire/index.js';
import { IpProto, makeIpv4Header, emitIpv4, ipv4Length } from '../../../protocols/ip/ipv4.js';
import { makeUdp, emitUdp, udpLength } from '../../../protocols/ip/udp.js';
import { withNonEspMarker } from '../../../protocols/esp/udpencap.js';
import { writePcap, LinkType } from '../../../daemon/capture/pcap.js';
import { needsTool } from '../../support/tools.js';
import {
  buildSaInitRequest, buildSaInitResponse, buildSaInitNotifyResponse, natDetectionHash, natDetectionNotifies, notify,
  invalidKeData, ikeProposal, encodeIkeMessage, decodeIkeMessage, describeIkeMessage, findNotify, findPayload,
  vendorIdName, CISCO_SA_INIT_VENDOR_IDS, CiscoVendorId,
  ExchangeType, EncrId, PrfId, IntegId, DhGroup, NotifyType, ProtocolId,
} from '../../../protocols/ikev2/wire.js';

const proposal = ikeProposal({ encr: EncrId.ENCR_AES_CBC, keyLength: 256, prf: PrfId.PRF_HMAC_SHA2_256, integ: IntegId.AUTH_HMAC_SHA2_256_128, dh: DhGroup.MODP_2048 });
const spiI = 0x1122334455667788n;
const spiR = 0x99aabbccddeeff00n;
const spoke = { address: '192.0.2.10', port: 500 };
const hub = { address: '198.51.100.1', port: 500 };

test('ikev2 build: NAT detection hash is SHA-1 over SPIi, SPIr, address and port (RFC 7296 section 2.23)', () => {
  const manual = createHash('sha1')
    .update(fromHex('1122334455667788' + '0000000000000000' + 'c000020a' + '01f4'))
    .digest('hex');
  assert.equal(toHex(natDetectionHash(spiI, 0n, '192.0.2.10', 500)), manual);
  const v6 = createHash('sha1').update(fromHex('1122334455667788' + '99aabbccddeeff00' + '20010db8000000000000000000000001' + '1194')).digest('hex');
  assert.equal(toHex(natDetectionHash(spiI, spiR, '2001:db8::1', 4500)), v6);
  const [src, dst] = natDetectionNotifies(spiI, 0n, spoke, hub);
  assert.equal(src.notifyType, NotifyType.NAT_DETECTION_SOURCE_IP);
  assert.equal(dst.notifyType, NotifyType.NAT_DETECTION_DESTINATION_IP);
  assert.equal(src.protocolId, 0);
  assert.equal(toHex(dst.data), toHex(natDetectionHash(spiI, 0n, hub.address, hub.port)));
});

test('ikev2 build: IKE_SA_INIT request in Cisco order, with VIDs and NAT detection', () => {
  const ke = new Uint8Array(256).fill(5);
  const nonce = new Uint8Array(32).fill(6);
  const m = buildSaInitRequest({
    spiI, proposals: [proposal], dhGroup: DhGroup.MODP_2048, keyExchange: ke, nonce,
    nat: { source: spoke, destination: hub }, natNotifyProtocolId: ProtocolId.IKE,
    vendorIds: CISCO_SA_INIT_VENDOR_IDS,
    notifies: [notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED)],
    trailingVendorIds: [CiscoVendorId.FRAGMENTATION],
  });
  assert.equal(m.header.spiR, 0n);
  assert.equal(m.header.initiator, true);
  assert.equal(m.header.response, false);
  assert.equal(m.header.messageId, 0);
  assert.equal(m.header.exchangeType, ExchangeType.IKE_SA_INIT);
  const back = decodeIkeMessage(encodeIkeMessage(m));
  assert.equal(
    describeIkeMessage(back),
    'IKE_SA_INIT request 0 [ SA KE Nonce V V V N(NAT_DETECTION_SOURCE_IP) N(NAT_DETECTION_DESTINATION_IP) N(IKEV2_FRAGMENTATION_SUPPORTED) V ]',
  );
  assert.deepEqual(back.payloads.filter((p) => p.kind === 'V').map((p) => vendorIdName(p.data)), ['CISCO-DELETE-REASON', 'CISCO(COPYRIGHT)', 'CISCO-GRE-MODE', 'FRAGMENTATION']);
  assert.equal(findNotify(back.payloads, NotifyType.NAT_DETECTION_SOURCE_IP)!.protocolId, ProtocolId.IKE);
  assert.equal(findPayload(back.payloads, 'KE')!.group, DhGroup.MODP_2048);
  assert.deepEqual(findPayload(back.payloads, 'KE')!.data, ke);
});

test('ikev2 build: a retried request echoes the COOKIE first (RFC 7296 section 2.6)', () => {
  const m = buildSaInitRequest({ spiI, proposals: [proposal], dhGroup: 14, keyExchange: new Uint8Array(8), nonce: new Uint8Array(16), cookie: fromHex('00010203') });
  const n = m.payloads[0];
  assert.equal(n.kind, 'N');
  assert.equal(n.kind === 'N' && n.notifyType, NotifyType.COOKIE);
  assert.equal(m.payloads[1].kind, 'SA');
});

test('ikev2 build: IKE_SA_INIT response carries SPIr, the R flag and the chosen proposal', () => {
  const m = buildSaInitResponse({ spiI, spiR, proposals: [proposal], dhGroup: 14, keyExchange: new Uint8Array(256), nonce: new Uint8Array(32), nat: { source: hub, destination: spoke } });
  assert.equal(m.header.initiator, false);
  assert.equal(m.header.response, true);
  assert.equal(m.header.spiR, spiR);
  const back = decodeIkeMessage(encodeIkeMessage(m));
  assert.equal(describeIkeMessage(back), 'IKE_SA_INIT response 0 [ SA KE Nonce N(NAT_DETECTION_SOURCE_IP) N(NAT_DETECTION_DESTINATION_IP) ]');
  assert.equal(toHex(findNotify(back.payloads, NotifyType.NAT_DETECTION_SOURCE_IP)!.data), toHex(natDetectionHash(spiI, spiR, hub.address, 500)));
  assert.throws(() => buildSaInitResponse({ spiI, spiR, proposals: [proposal, proposal], dhGroup: 14, keyExchange: new Uint8Array(1), nonce: new Uint8Array(16) }), RangeError);
});

test('ikev2 build: INVALID_KE_PAYLOAD and COOKIE answers carry one notify and SPIr zero', () => {
  const req = buildSaInitRequest({ spiI, proposals: [proposal], dhGroup: 2, keyExchange: new Uint8Array(128), nonce: new Uint8Array(16) });
  const m = buildSaInitNotifyResponse(req.header, NotifyType.INVALID_KE_PAYLOAD, invalidKeData(DhGroup.MODP_2048));
  const b = encodeIkeMessage(m);
  assert.equal(b.length, 28 + 8 + 2);
  const back = decodeIkeMessage(b);
  assert.equal(back.header.spiR, 0n);
  assert.equal(back.header.response, true);
  assert.equal(toHex(findNotify(back.payloads, NotifyType.INVALID_KE_PAYLOAD)!.data), '000e');
});

test('ikev2 build: tshark dissects our IKE_SA_INIT (port 500, and 4500 behind the marker) as we meant it', needsTool('tshark'), () => {
  const m = buildSaInitRequest({
    spiI, proposals: [proposal], dhGroup: DhGroup.MODP_2048, keyExchange: new Uint8Array(256).fill(1), nonce: new Uint8Array(32).fill(2),
    nat: { source: spoke, destination: hub }, vendorIds: CISCO_SA_INIT_VENDOR_IDS, trailingVendorIds: [CiscoVendorId.FRAGMENTATION],
  });
  const ike = encodeIkeMessage(m);
  const datagram = (port: number, payload: Uint8Array): Uint8Array => {
    const udp = makeUdp(port, port, payload);
    const ip = { header: makeIpv4Header(spoke.address, hub.address, IpProto.UDP, udpLength(udp)), payload: encode(udp, (u, w) => emitUdp(u, w, { src: spoke.address, dst: hub.address }), udpLength) };
    return encode(ip, emitIpv4, ipv4Length);
  };
  const dir = mkdtempSync(join(tmpdir(), 'ikev2-'));
  const file = join(dir, 'sa-init.pcap');
  try {
    writeFileSync(file, writePcap([{ data: datagram(500, ike) }, { data: datagram(4500, withNonEspMarker(ike)) }], LinkType.RAW));
    const r = spawnSync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|', '-e', 'isakmp.ispi', '-e', 'isakmp.exchangetype', '-e', 'isakmp.prop.number', '-e', 'isakmp.tf.id.encr', '-e', 'isakmp.key_exchange.dh_group', '-e', 'isakmp.notify.msgtype', '-e', '_ws.malformed'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 2);
    for (const line of lines) {
      const [ispi, exch, prop, encr, dh, notifies, malformed] = line.split('|');
      assert.equal(ispi, '1122334455667788');
      assert.equal(exch, String(ExchangeType.IKE_SA_INIT));
      assert.equal(prop, '1');
      assert.equal(encr, String(EncrId.ENCR_AES_CBC));
      assert.equal(dh, String(DhGroup.MODP_2048));
      assert.equal(notifies, `${NotifyType.NAT_DETECTION_SOURCE_IP},${NotifyType.NAT_DETECTION_DESTINATION_IP}`);
      assert.equal(malformed ?? '', '', 'no malformed-packet mark');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
