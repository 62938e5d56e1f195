import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toHex } from '../../../protocols/wire/index.js';
import {
  EigrpFlag,
  EigrpOpcode,
  EigrpRouteFlag,
  EigrpStubFlag,
  EIGRP_CLASSIC_INFINITY,
  buildAck,
  buildGoodbye,
  buildHello,
  buildQuery,
  buildReply,
  buildSiaQuery,
  buildSiaReply,
  buildUpdate,
  classicRoute,
  decodeEigrp,
  eigrpChecksumValid,
  eigrpFlagNames,
  eigrpOpcodeName,
  eigrpPacketName,
  eigrpStubFlagNames,
  eigrpTlvName,
  eigrpExternalProtocolName,
  encodeEigrp,
  findTlv,
  isAck,
  isGoodbye,
  routeTlvs,
  wideRoute,
} from '../../../protocols/eigrp/wire.js';
import { assertSameValue } from '../../support/codec.js';

test('eigrp build: a Hello carries parameters then software version, sequence and ack 0', () => {
  const p = buildHello({ as: 100, holdTime: 15 });
  assert.equal(p.header.opcode, EigrpOpcode.HELLO);
  assert.equal(p.header.checksum, undefined);
  assert.deepEqual([p.header.sequence, p.header.ack, p.header.flags], [0, 0, 0]);
  assertSameValue(p.tlvs, [
    { kind: 'parameters', k1: 1, k2: 0, k3: 1, k4: 0, k5: 0, k6: 0, holdTime: 15 },
    { kind: 'softwareVersion', iosMajor: 12, iosMinor: 4, tlvMajor: 1, tlvMinor: 2 },
  ]);
  const bytes = encodeEigrp(p);
  assert.equal(bytes.length, 40);
  assert.ok(eigrpChecksumValid(bytes));
  assert.equal(eigrpPacketName(decodeEigrp(bytes)), 'HELLO');

  const stub = buildHello({ as: 1, holdTime: 240, k: { k1: 1, k2: 1, k3: 1, k4: 0, k5: 0, k6: 0 }, stub: EigrpStubFlag.CONNECTED | EigrpStubFlag.SUMMARY, iosVersion: [15, 1], tlvVersion: [2, 0] });
  assert.equal(findTlv(stub, 'stub')?.flags, 5);
  assert.equal(findTlv(stub, 'parameters')?.holdTime, 240);
  assert.equal(findTlv(stub, 'softwareVersion')?.tlvMajor, 2);
  assert.deepEqual(eigrpStubFlagNames(5), ['CONNECTED', 'SUMMARY']);
});

test('eigrp build: goodbye sets K1-K5 to 255 and is told apart from a Hello', () => {
  const g = buildGoodbye({ as: 100, holdTime: 15 });
  const k = findTlv(g, 'parameters');
  assert.ok(k);
  assert.deepEqual([k.k1, k.k2, k.k3, k.k4, k.k5, k.k6], [255, 255, 255, 255, 255, 0]);
  assert.ok(isGoodbye(g));
  assert.ok(!isGoodbye(buildHello({ as: 100, holdTime: 15 })));
  assert.equal(eigrpPacketName(g), 'GOODBYE');
});

test('eigrp build: an ACK is a Hello with no TLVs and a nonzero ack', () => {
  const a = buildAck({ as: 100, ack: 0x18 });
  assert.ok(isAck(a));
  assert.equal(a.tlvs.length, 0);
  const bytes = encodeEigrp(a);
  assert.equal(bytes.length, 20);
  assert.equal(toHex(bytes.subarray(0, 2)), '0205');
  assert.equal(toHex(bytes.subarray(12, 16)), '00000018');
  assert.ok(eigrpChecksumValid(bytes));
  assert.ok(!isAck(buildAck({ as: 100, ack: 0 })), 'ack 0 is a plain Hello');
  assert.ok(!isAck(buildHello({ as: 100, holdTime: 15 })));
  assert.equal(eigrpPacketName(a), 'ACK');
});

test('eigrp build: update, query, reply and SIA packets carry classic and wide routes', () => {
  const routes = [
    classicRoute({ prefix: '192.168.1.0', prefixLength: 24, delay: 2560, bandwidth: 25600, mtu: 1500, hopCount: 0, reliability: 255, load: 1 }),
    wideRoute({ prefix: '10.0.0.4', prefixLength: 30, routerId: '1.1.1.1', delay: 1_000_000n, bandwidth: 1_000_000n, mtu: 1500, hopCount: 1, reliability: 255, load: 1 }),
  ];
  const u = buildUpdate({ as: 100, sequence: 0x18, ack: 0x17, flags: EigrpFlag.EOT, routes });
  assert.equal(u.header.opcode, EigrpOpcode.UPDATE);
  assert.deepEqual(eigrpFlagNames(u.header.flags), ['EOT']);
  const back = decodeEigrp(encodeEigrp(u));
  assertSameValue(back.tlvs, routes);
  assert.equal(routeTlvs(back).length, 2);
  assert.equal(routes[0].nextHop, '0.0.0.0', 'next hop defaults to "via the sender"');

  const down = classicRoute({ prefix: '192.168.4.0', prefixLength: 24, delay: EIGRP_CLASSIC_INFINITY, bandwidth: 0, mtu: 1500, hopCount: 0, reliability: 0, load: 0, flags: EigrpRouteFlag.ACTIVE });
  const builders: [typeof buildQuery, number][] = [
    [buildQuery, EigrpOpcode.QUERY],
    [buildReply, EigrpOpcode.REPLY],
    [buildSiaQuery, EigrpOpcode.SIA_QUERY],
    [buildSiaReply, EigrpOpcode.SIA_REPLY],
  ];
  for (const [build, opcode] of builders) {
    const p = build({ as: 100, sequence: 5, routes: [down] });
    assert.equal(p.header.opcode, opcode);
    const bytes = encodeEigrp(p);
    assert.ok(eigrpChecksumValid(bytes));
    assertSameValue(decodeEigrp(bytes).tlvs, [down]);
  }
  const init = buildUpdate({ as: 100, sequence: 0x17, flags: EigrpFlag.INIT, routes: [] });
  assert.equal(encodeEigrp(init).length, 20);
});

test('eigrp names: opcodes, flags, TLVs and external protocols have log names', () => {
  assert.equal(eigrpOpcodeName(5), 'HELLO');
  assert.equal(eigrpOpcodeName(10), 'SIA_QUERY');
  assert.equal(eigrpOpcodeName(99), 'opcode-99');
  assert.deepEqual(eigrpFlagNames(0), []);
  assert.deepEqual(eigrpFlagNames(EigrpFlag.INIT | EigrpFlag.CR | 0x100), ['INIT', 'CR', '0x100']);
  assert.equal(eigrpTlvName(0x0102), 'IPV4_INTERNAL');
  assert.equal(eigrpTlvName(0x0abc), 'tlv-0x0abc');
  assert.equal(eigrpExternalProtocolName(6), 'OSPF');
  assert.equal(eigrpExternalProtocolName(77), 'protocol-77');
});
