/**
 * Wireshark's ISAKMP, ESP and UDP-encapsulation dissectors read what our
 * IKEv2 and ESP encoders emit: IKE_SA_INIT request and response shaped like
 * Cisco IOS (its vendor IDs, NAT detection, fragmentation), a notify-only
 * response, IKE_AUTH with an SK payload on 500 and behind the non-ESP marker on
 * 4500, ESP on IP protocol 50 and in UDP 4500, and a NAT-keepalive. No
 * malformed packet, no expert warning, checksums good, and the fields agree.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildSaInitRequest, buildSaInitResponse, buildSaInitNotifyResponse, encodeIkeMessage, ikeProposal, notify, invalidKeData,
  CISCO_SA_INIT_VENDOR_IDS, CiscoVendorId, EncrId, PrfId, IntegId, DhGroup, NotifyType, ProtocolId, ExchangeType, PayloadType,
  type IkeMessage,
} from '../../protocols/ikev2/wire.js';
import { encode } from '../../protocols/wire/index.js';
import { IpProto } from '../../protocols/ip/ipv4.js';
import { UdpPort } from '../../protocols/ip/udp.js';
import { emitEsp, espLength } from '../../protocols/esp/wire.js';
import { withNonEspMarker, NAT_KEEPALIVE } from '../../protocols/esp/udpencap.js';
import { dissectPacket, type DecodedPacket, type Node } from '../../daemon/decode/index.js';
import { LinkType } from '../../daemon/capture/pcap.js';
import { ipv4, udp, filler } from '../../scripts/demo.js';
import { needsTool } from '../support/tools.js';
import { layer, child, nodeValues } from '../daemon/decode/support.js';
import { tshark, fields, field1, layersOf, assertClean, plainHex } from './support.js';

const SPOKE = '192.0.2.13';
const HUB = '198.51.100.1';
const spiI = 0x1122334455667788n;
const spiR = 0x99aabbccddeeff00n;

/** Our vendor-ID names and Wireshark's for the same octets (packet-isakmp.c's VID table). */
const VID_NAMES: Record<string, string> = {
  'CISCO-DELETE-REASON': 'Cisco Delete Reason Supported',
  'CISCO(COPYRIGHT)': 'Cisco Copyright',
  'CISCO-GRE-MODE (02)': 'Cisco GRE Mode Supported',
  FRAGMENTATION: 'Cisco Fragmentation',
};

function messages(): { what: string; data: Uint8Array }[] {
  const proposal = ikeProposal({ encr: EncrId.ENCR_AES_CBC, keyLength: 256, prf: PrfId.PRF_HMAC_SHA2_256, integ: IntegId.AUTH_HMAC_SHA2_256_128, dh: DhGroup.MODP_2048 });
  const alt = ikeProposal({ encr: EncrId.ENCR_AES_CBC, keyLength: 128, prf: PrfId.PRF_HMAC_SHA1, integ: IntegId.AUTH_HMAC_SHA1_96, dh: DhGroup.MODP_1536 }, 2);
  const sp = { address: SPOKE, port: UdpPort.IKE };
  const hp = { address: HUB, port: UdpPort.IKE };
  const common = {
    dhGroup: DhGroup.MODP_2048, natNotifyProtocolId: ProtocolId.IKE, vendorIds: CISCO_SA_INIT_VENDOR_IDS,
    notifies: [notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED)], trailingVendorIds: [CiscoVendorId.FRAGMENTATION],
  };
  const req = buildSaInitRequest({ ...common, spiI, proposals: [proposal, alt], keyExchange: filler('kei', 256), nonce: filler('ni', 32), nat: { source: sp, destination: hp } });
  const resp = buildSaInitResponse({ ...common, spiI, spiR, proposals: [proposal], keyExchange: filler('ker', 256), nonce: filler('nr', 32), nat: { source: hp, destination: sp } });
  const invalidKe = buildSaInitNotifyResponse(req.header, NotifyType.INVALID_KE_PAYLOAD, invalidKeData(DhGroup.MODP_2048));
  const auth = (response: boolean, first: number): IkeMessage => ({
    header: { spiI, spiR, majorVersion: 2, minorVersion: 0, exchangeType: ExchangeType.IKE_AUTH, initiator: !response, response, higherVersion: false, messageId: 1 },
    payloads: [{ kind: 'SK', firstPayload: first, body: filler(`sk${response}`, 16 + 256 + 16) }],
  });
  const on500 = (src: string, dst: string, m: IkeMessage): Uint8Array => ipv4(src, dst, IpProto.UDP, udp(src, dst, UdpPort.IKE, UdpPort.IKE, encodeIkeMessage(m)));
  const on4500 = (src: string, dst: string, payload: Uint8Array): Uint8Array => ipv4(src, dst, IpProto.UDP, udp(src, dst, UdpPort.IKE_NATT, UdpPort.IKE_NATT, payload));
  const esp = (spi: number, seq: number): Uint8Array => encode({ spi, seq, payload: filler(`esp${spi}${seq}`, 16 + 96 + 16) }, emitEsp, espLength, 'esp');
  return [
    { what: 'IKE_SA_INIT request', data: on500(SPOKE, HUB, req) },
    { what: 'IKE_SA_INIT INVALID_KE_PAYLOAD response', data: on500(HUB, SPOKE, invalidKe) },
    { what: 'IKE_SA_INIT response', data: on500(HUB, SPOKE, resp) },
    { what: 'IKE_AUTH request on 500', data: on500(SPOKE, HUB, auth(false, PayloadType.IDi)) },
    { what: 'IKE_AUTH request on 4500', data: on4500(SPOKE, HUB, withNonEspMarker(encodeIkeMessage(auth(false, PayloadType.IDi)))) },
    { what: 'IKE_AUTH response on 4500', data: on4500(HUB, SPOKE, withNonEspMarker(encodeIkeMessage(auth(true, PayloadType.IDr)))) },
    { what: 'ESP', data: ipv4(SPOKE, HUB, IpProto.ESP, esp(0xc0de0001, 1)) },
    { what: 'ESP in UDP 4500', data: on4500(HUB, SPOKE, esp(0x0b0e0001, 77)) },
    { what: 'NAT-keepalive', data: on4500(SPOKE, HUB, NAT_KEEPALIVE) },
  ];
}

function ours(data: Uint8Array): DecodedPacket {
  return dissectPacket({ index: 1, linkType: LinkType.RAW, time: 0, origLength: data.length, data });
}

/** Our top-level IKE payloads. */
function payloadNodes(ike: Node | undefined): Node[] {
  return [...(child(ike, 'payloads')?.children ?? [])];
}

test('wireshark ike/esp: IKEv2 and ESP on every port and form dissect cleanly and agree', needsTool('tshark'), () => {
  const ms = messages();
  const theirs = tshark(ms.map((m) => m.data));
  assert.equal(theirs.length, ms.length);
  theirs.forEach((t, i) => {
    const what = ms[i].what;
    assertClean(t, what);
    const p = ours(ms[i].data);
    assert.equal(p.malformed, undefined, what);
    assert.deepEqual(fields(t, 'udp.checksum.status'), what === 'ESP' ? [] : ['1'], `${what}: Wireshark finds the UDP checksum good`);
    assert.deepEqual(nodeValues(layer(p, 'udp'), 'checksumStatus'), what === 'ESP' ? [] : ['correct'], `${what}: so do we`);
  });
});

test('wireshark ike/esp: header, payload, vendor ID, notify and proposal fields agree', needsTool('tshark'), () => {
  const ms = messages();
  const theirs = tshark(ms.map((m) => m.data));
  let vids = 0;
  theirs.forEach((t, i) => {
    const what = ms[i].what;
    const p = ours(ms[i].data);
    const isakmp = layersOf(t, 'isakmp');
    const ike = layer(p, 'ikev2');
    if (isakmp.length === 0) {
      assert.equal(ike, undefined, `${what}: neither sees IKE`);
      return;
    }
    const w = isakmp[0];
    assert.equal(plainHex(field1(w, 'isakmp.ispi')), (child(ike, 'spiI')?.value as string).slice(2), `${what}: SPIi`);
    assert.equal(plainHex(field1(w, 'isakmp.rspi')), (child(ike, 'spiR')?.value as string).slice(2), `${what}: SPIr`);
    assert.equal(Number(field1(w, 'isakmp.exchangetype')), child(ike, 'exchangeType')?.value, `${what}: exchange`);
    assert.equal(Number(field1(w, 'isakmp.flags')), child(ike, 'flags')?.value, `${what}: flags`);
    assert.equal(Number(field1(w, 'isakmp.messageid')), child(ike, 'messageId')?.value, `${what}: message ID`);
    assert.equal(Number(field1(w, 'isakmp.length')), child(ike, 'length')?.value, `${what}: length`);
    // Top-level payload chain (Wireshark's own "isakmp.typepayload" at the message level).
    const top = w['isakmp.typepayload'];
    const theirTypes = (Array.isArray(top) ? top : [top]).map(Number);
    const payloads = payloadNodes(ike);
    assert.deepEqual(theirTypes, payloads.map((n) => child(n, 'type')?.value), `${what}: payload types`);
    // Vendor IDs: the same octets, and the same vendor by name.
    assert.deepEqual(fields(w, 'isakmp.vid_bytes').map(plainHex), payloads.filter((n) => child(n, 'type')?.value === 43).map((n) => child(n, 'data')?.value), `${what}: VID octets`);
    const ourVids = nodeValues(ike, 'vendor') as string[];
    assert.deepEqual(fields(w, 'isakmp.vid_string'), ourVids.map((v) => VID_NAMES[v] ?? v), `${what}: VID names`);
    vids += ourVids.length;
    // Notifies, KE, nonce, proposals.
    assert.deepEqual(fields(w, 'isakmp.notify.msgtype').map(Number), nodeValues(ike, 'notifyType'), `${what}: notify types`);
    assert.deepEqual(fields(w, 'isakmp.notify.protoid').map(Number), payloads.filter((n) => child(n, 'type')?.value === 41).map((n) => child(n, 'protocolId')?.value), `${what}: notify protocol IDs`);
    assert.deepEqual(fields(w, 'isakmp.key_exchange.dh_group').map(Number), nodeValues(ike, 'group'), `${what}: DH group`);
    assert.deepEqual(fields(w, 'isakmp.nonce').map(plainHex), payloads.filter((n) => child(n, 'type')?.value === 40).map((n) => child(n, 'data')?.value), `${what}: nonce`);
    assert.deepEqual(fields(w, 'isakmp.prop.number').map(Number), nodeValues(ike, 'number'), `${what}: proposal numbers`);
    assert.deepEqual(fields(w, 'isakmp.tf.type').map(Number), payloads.flatMap((n) => nodeValues(child(n, 'proposals'), 'type')), `${what}: transform types`);
    const ids = ['encr', 'prf', 'integ', 'dh'].flatMap((k) => fields(w, `isakmp.tf.id.${k}`)).map(Number).sort((a, b) => a - b);
    assert.deepEqual(ids, (nodeValues(ike, 'id') as number[]).sort((a, b) => a - b), `${what}: transform IDs`);
    assert.deepEqual(fields(w, 'isakmp.ike2.attr.key_length').map(Number), nodeValues(ike, 'keyLength'), `${what}: key lengths`);
  });
  assert.ok(vids >= 8, 'the Cisco VIDs were compared');
});

test('wireshark ike/esp: ESP, UDP encapsulation and the keepalive agree', needsTool('tshark'), () => {
  const ms = messages();
  const theirs = tshark(ms.map((m) => m.data));
  theirs.forEach((t, i) => {
    const what = ms[i].what;
    const p = ours(ms[i].data);
    const esp = layer(p, 'esp');
    assert.deepEqual(fields(t, 'esp.spi').map(Number), nodeValues(esp, 'spi'), `${what}: SPI`);
    assert.deepEqual(fields(t, 'esp.sequence').map(Number), nodeValues(esp, 'sequence'), `${what}: sequence`);
    const enc = layer(p, 'udpencap');
    const kind = child(enc, 'kind')?.value;
    assert.equal(fields(t, 'udpencap.nat_keepalive').length, kind === 'keepalive' ? 1 : 0, `${what}: keepalive`);
    assert.equal(fields(t, 'udpencap.non_esp_marker').length, kind === 'ike' ? 1 : 0, `${what}: non-ESP marker`);
    assert.equal(layersOf(t, 'udpencap').length, enc ? 1 : 0, `${what}: UDP encapsulation`);
  });
  assert.equal(ours(ms[8].data).info, 'NAT-keepalive');
  assert.equal(ours(ms[7].data).info, 'UDP-encapsulated SPI=0x0b0e0001 seq=77');
});
