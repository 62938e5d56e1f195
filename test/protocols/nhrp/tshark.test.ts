/**
 * Wireshark's NHRP dissector reads what the builders emit, including the kinds no
 * golden capture has (purge, error indication): same types, ids, codes, a good
 * checksum and no malformed or expert warnings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { encode } from '../../../protocols/wire/index.js';
import { emitIpv4, ipv4Length, makeIpv4Header, IpProto } from '../../../protocols/ip/ipv4.js';
import { emitGre, greLength, makeGre, GreProto } from '../../../protocols/gre/wire.js';
import { writePcap, LinkType } from '../../../daemon/capture/pcap.js';
import {
  emitNhrp, nhrpLength, makeCie, makeRegistrationRequest, makeRegistrationReply, makeResolutionRequest,
  makeResolutionReply, makePurgeRequest, makePurgeReply, makeErrorIndication, makeTrafficIndication, forwardedByNhs,
  NhrpErrorCode, CiscoCieMtu, type NhrpPacket,
} from '../../../protocols/nhrp/index.js';
import { needsTool } from '../../support/tools.js';

function datagram(p: NhrpPacket): Uint8Array {
  const gre = encode(makeGre(GreProto.NHRP, encode(p, emitNhrp, nhrpLength), { key: 1000 }), emitGre, greLength);
  return encode({ header: makeIpv4Header('192.0.2.3', '192.0.2.1', IpProto.GRE, gre.length), payload: gre }, emitIpv4, ipv4Length);
}

test('nhrp tshark: Wireshark dissects every packet kind the builders make, checksums good', needsTool('tshark'), () => {
  const spoke = { srcNbma: '192.0.2.3', srcProto: '10.0.0.3', password: 'secret' };
  const nhs = makeCie({ mtu: CiscoCieMtu.WITH_KEY, holdingTime: 7200, clientNbma: '192.0.2.1', clientProto: '10.0.0.1' });
  const reg = makeRegistrationRequest({ ...spoke, requestId: 11, nhsProto: '10.0.0.1', nhsNbma: '192.0.2.1', mtu: CiscoCieMtu.WITH_KEY });
  const res = makeResolutionRequest({ ...spoke, requestId: 12, target: '10.0.0.2' });
  const purge = makePurgeRequest({ ...spoke, requestId: 13, dstProto: '10.0.0.2', cies: [makeCie({ mtu: 0, holdingTime: 0, clientProto: '10.0.0.3' })] });
  const packets: NhrpPacket[] = [
    reg,
    makeRegistrationReply(reg, { responder: nhs }),
    res,
    forwardedByNhs(res, nhs),
    makeResolutionReply(res, { cies: [makeCie({ mtu: 17912, holdingTime: 7200, clientNbma: '192.0.2.2', clientProto: '10.0.0.2' })], responder: nhs }),
    purge,
    makePurgeReply(purge),
    makeErrorIndication({ ...spoke, errorCode: NhrpErrorCode.LOOP_DETECTED, errorOffset: 20, dstProto: '10.0.0.1', erroredPacket: encode(res, emitNhrp, nhrpLength) }),
    makeTrafficIndication({ srcNbma: '192.0.2.1', srcProto: '10.0.0.1', dstProto: '10.0.0.3', trigger: Uint8Array.of(0x45, 0, 0, 20, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 3, 10, 0, 0, 2) }),
  ];
  const dir = mkdtempSync(join(tmpdir(), 'nhrp-tshark-'));
  try {
    const file = join(dir, 'nhrp.pcap');
    writeFileSync(file, writePcap(packets.map((p) => ({ data: datagram(p) })), LinkType.RAW));
    const fields = ['nhrp.hdr.op.type', 'nhrp.hdr.chksum.status', 'nhrp.reqid', 'nhrp.err.code', 'nhrp.hdr.hopcnt', '_ws.malformed', '_ws.expert.severity'];
    const r = spawnSync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=f', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.trim().split('\n').map((l) => l.split('|'));
    assert.equal(rows.length, packets.length);
    rows.forEach(([type, ck, reqid, err, hop, malformed, expert], i) => {
      const what = `packet ${i + 1} (${r.stdout.split('\n')[i]})`;
      assert.equal(Number(type), packets[i].type, what);
      assert.equal(ck, '1', `${what}: checksum good`); // Wireshark's checksum status 1 = Good
      assert.equal(malformed, '', `${what}: not malformed`);
      assert.equal(expert, '', `${what}: no expert info`);
      assert.equal(Number(hop), packets[i].hopCount, what);
      const b = packets[i].body;
      if (b.kind === 'mandatory') assert.equal(Number(reqid), b.requestId, what);
      if (b.kind === 'error') assert.equal(Number(err), NhrpErrorCode.LOOP_DETECTED, what);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
