/**
 * IKEv2 engine, interop evidence that does not need a peer daemon: what the
 * engine sends parses with the codec and re-encodes byte for byte, and
 * Wireshark (tshark) decrypts every SK payload of a session with the keys the
 * engine exports in its ikev2_decryption_table format, checking each ICV.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from '../../../protocols/wire/index.js';
import { IpProto, makeIpv4Header, emitIpv4, ipv4Length } from '../../../protocols/ip/ipv4.js';
import { makeUdp, emitUdp, udpLength } from '../../../protocols/ip/udp.js';
import { writePcap, LinkType } from '../../../daemon/capture/pcap.js';
import {
  ikev2Codec, decodeIkeMessage, findPayload, EncrId, IntegId, PrfId, DhGroup, ExchangeType,
} from '../../../protocols/ikev2/wire.js';
import type { IkeProposalConfig, EspTransformConfig } from '../../../protocols/ikev2/policy.js';
import { reencodeIdentical } from '../../support/codec.js';
import { needsTool } from '../../support/tools.js';
import { IkeSim, HUB, SPOKE, type Packet } from './sim.js';

function session(proposal?: IkeProposalConfig, esp?: EspTransformConfig, nat = false): IkeSim {
  const sim = new IkeSim();
  if (nat) sim.nat = { inside: '10.0.0.2', publicAddress: '203.0.113.7', portBase: 40000 };
  const cfg = { ...(proposal ? { proposals: [proposal] } : {}), ...(esp ? { transformSets: [esp] } : {}) };
  sim.add('hub', { localAddress: HUB, ...cfg });
  const spoke = sim.add('spoke', { localAddress: nat ? '10.0.0.2' : SPOKE, ...cfg });
  sim.connect(spoke, HUB);
  const c = [...spoke.children.values()][0];
  sim.apply(spoke, spoke.manager.rekeyChild(c.spiIn, sim.now));
  sim.flush();
  sim.apply(spoke, spoke.manager.rekeyIke(HUB, sim.now));
  sim.flush();
  sim.apply(spoke, spoke.manager.disconnect(HUB, sim.now));
  sim.flush();
  return sim;
}

function ikeBytes(p: Packet): Uint8Array {
  return p.to.port === 4500 || p.from.port === 4500 ? p.bytes.subarray(4) : p.bytes;
}

test('ikev2 interop: every message the engine sends parses with the codec and re-encodes byte for byte', () => {
  const sim = session();
  assert.ok(sim.wire.length >= 12);
  for (const [i, p] of sim.wire.entries()) reencodeIdentical(ikev2Codec, ikeBytes(p), `message ${i}`);
  const init = decodeIkeMessage(sim.wire[0].bytes);
  assert.equal(init.header.exchangeType, ExchangeType.IKE_SA_INIT);
  assert.equal(findPayload(init.payloads, 'Nonce')!.data.length, 32);
  assert.equal(findPayload(init.payloads, 'KE')!.data.length, 64, 'group 19: x | y');
});

function datagram(p: Packet): Uint8Array {
  const udp = makeUdp(p.from.port, p.to.port, p.bytes);
  const ip = { header: makeIpv4Header(p.from.address, p.to.address, IpProto.UDP, udpLength(udp)), payload: encode(udp, (u, w) => emitUdp(u, w, { src: p.from.address, dst: p.to.address }), udpLength) };
  return encode(ip, emitIpv4, ipv4Length);
}

const SUITES: { name: string; proposal?: IkeProposalConfig; esp?: EspTransformConfig; nat?: boolean }[] = [
  { name: 'default (AES-CBC-256, HMAC-SHA-512)' },
  { name: 'AES-CBC-128, HMAC-SHA1-96, MODP-2048, behind a NAT', proposal: { encr: [{ id: EncrId.ENCR_AES_CBC, keyLength: 128 }], integ: [IntegId.AUTH_HMAC_SHA1_96], prf: [PrfId.PRF_HMAC_SHA1], dh: [DhGroup.MODP_2048] }, nat: true },
  { name: 'AES-GCM-256, X25519', proposal: { encr: [{ id: EncrId.ENCR_AES_GCM_16, keyLength: 256 }], integ: [], prf: [PrfId.PRF_HMAC_SHA2_512], dh: [DhGroup.CURVE25519] }, esp: { encr: EncrId.ENCR_AES_GCM_16, keyLength: 256 } },
];

for (const s of SUITES) {
  test(`ikev2 interop: tshark decrypts and integrity-checks every SK payload with our exported keys: ${s.name}`, needsTool('tshark'), () => {
    // Keys are exported while their SA is up: collect them along the session.
    const lines = new Set<string>();
    const replay = new IkeSim();
    if (s.nat) replay.nat = { inside: '10.0.0.2', publicAddress: '203.0.113.7', portBase: 40000 };
    const cfg = { ...(s.proposal ? { proposals: [s.proposal] } : {}), ...(s.esp ? { transformSets: [s.esp] } : {}) };
    replay.add('hub', { localAddress: HUB, ...cfg });
    const spoke = replay.add('spoke', { localAddress: s.nat ? '10.0.0.2' : SPOKE, ...cfg });
    const grab = (): void => {
      for (const l of spoke.manager.wiresharkKeys().ikev2) lines.add(l);
    };
    replay.connect(spoke, HUB);
    grab();
    const c = [...spoke.children.values()][0];
    replay.apply(spoke, spoke.manager.rekeyChild(c.spiIn, replay.now));
    replay.flush();
    replay.apply(spoke, spoke.manager.rekeyIke(HUB, replay.now));
    replay.flush();
    grab();
    replay.apply(spoke, spoke.manager.disconnect(HUB, replay.now));
    replay.flush();
    assert.equal(lines.size, 2, 'the first IKE SA and its rekeyed successor');
    const encrypted = replay.wire.filter((p) => p.bytes.length > 1 && decodeIkeMessage(ikeBytes(p)).header.exchangeType !== ExchangeType.IKE_SA_INIT).length;
    const dir = mkdtempSync(join(tmpdir(), 'ikev2-keys-'));
    try {
      const file = join(dir, 'session.pcap');
      writeFileSync(file, writePcap(replay.wire.map((p) => ({ data: datagram(p) })), LinkType.RAW));
      const args = ['-r', file, '-V', '-o', 'udp.check_checksum:TRUE'];
      for (const l of lines) args.push('-o', `uat:ikev2_decryption_table:${l}`);
      const r = spawnSync('tshark', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      assert.equal(r.status, 0, r.stderr);
      const correct = r.stdout.split('\n').filter((l) => /Integrity Checksum Data: .*\[correct\]/.test(l)).length;
      assert.equal(correct, encrypted, `every one of the ${encrypted} protected messages verified`);
      assert.equal(/incorrect/i.test(r.stdout), false);
      assert.equal(/Malformed/i.test(r.stdout), false);
      for (const inner of ['Identification - Initiator', 'Authentication', 'Traffic Selector - Responder', 'Delete']) {
        assert.ok(r.stdout.includes(`Payload: ${inner}`), `decrypted ${inner} payload visible`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('ikev2 interop: esp_sa lines name both directions with Wireshark\'s algorithm names', () => {
  const sim = new IkeSim();
  sim.add('hub', { localAddress: HUB });
  const spoke = sim.add('spoke', { localAddress: SPOKE });
  sim.connect(spoke, HUB);
  const c = [...spoke.children.values()][0];
  const { esp, ikev2 } = spoke.manager.wiresharkKeys();
  assert.equal(ikev2.length, 1);
  assert.match(ikev2[0], /^[0-9a-f]{16},[0-9a-f]{16},[0-9a-f]{64},[0-9a-f]{64},"AES-CBC-256 \[RFC3602\]",[0-9a-f]{128},[0-9a-f]{128},"HMAC_SHA2_512_256 \[RFC4868\]"$/);
  assert.deepEqual(esp, [
    `"IPv4","${SPOKE}","${HUB}","0x${c.spiOut.toString(16).padStart(8, '0')}","AES-CBC [RFC3602]","0x${Buffer.from(c.outbound.encrKey).toString('hex')}","HMAC-SHA-1-96 [RFC2404]","0x${Buffer.from(c.outbound.integKey).toString('hex')}"`,
    `"IPv4","${HUB}","${SPOKE}","0x${c.spiIn.toString(16).padStart(8, '0')}","AES-CBC [RFC3602]","0x${Buffer.from(c.inbound.encrKey).toString('hex')}","HMAC-SHA-1-96 [RFC2404]","0x${Buffer.from(c.inbound.integKey).toString('hex')}"`,
  ]);
});
