import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../daemon/config/index.js';
import { ikeConfigFor, espKeys } from '../../daemon/ipsec.js';
import type { TunnelInterfaceConfig } from '../../daemon/config/model.js';
import type { ChildSaInfo } from '../../protocols/ikev2/engine-types.js';

const BASE = `crypto ikev2 keyring ike-keyring
 peer dmvpn
  address 0.0.0.0 0.0.0.0
  pre-shared-key Cisco123
crypto ikev2 profile ike-profile
 authentication local pre-share
 authentication remote pre-share
 keyring local ike-keyring
 match address local interface eth0
 match identity remote address 0.0.0.0 0.0.0.0
`;

function tunnelOf(text: string) {
  const { model, diagnostics } = parseConfig(text, 'x.conf');
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  return { model, t: model.interfaces.find((i) => i.kind === 'tunnel') as TunnelInterfaceConfig };
}

const TUNNEL = `interface Tunnel0
 ip address 10.0.0.12 255.255.255.0
 tunnel source eth0
 tunnel mode gre multipoint
 tunnel protection ipsec profile ipsec-profile
`;

test('ipsec config: the reference lab crypto gives the keyring PSK and IOS smart defaults', () => {
  const { model, t } = tunnelOf(`${BASE}crypto ipsec profile ipsec-profile\n set ikev2-profile ike-profile\n${TUNNEL}`);
  const c = ikeConfigFor(model, t, '203.0.113.12');
  assert.deepEqual(c.keyring, [{ address: '0.0.0.0', prefixLength: 0, psk: 'Cisco123', pskLocal: undefined, pskRemote: undefined }]);
  assert.equal(c.proposals[0].encr[0].id, 12);
  assert.equal(c.transformSets[0].keyLength, 128);
  assert.equal(c.transformSets[0].integ, 2);
  assert.equal(c.localAddress, '203.0.113.12');
});

test('ipsec config: a proposal through a policy, a transform set and PFS are honoured', () => {
  const { model, t } = tunnelOf(`${BASE}crypto ikev2 proposal P1
 encryption aes-gcm-256
 prf sha384
 group 20
crypto ikev2 policy POL
 proposal P1
crypto ipsec transform-set TS esp-aes 256 esp-sha256-hmac
 mode transport
crypto ipsec profile ipsec-profile
 set ikev2-profile ike-profile
 set transform-set TS
 set pfs group19
${TUNNEL}`);
  const c = ikeConfigFor(model, t, '203.0.113.12');
  assert.deepEqual(c.proposals, [{ encr: [{ id: 20, keyLength: 256 }], integ: [], prf: [6], dh: [20] }]);
  assert.deepEqual(c.transformSets, [{ encr: 12, keyLength: 256, integ: 12 }]);
  assert.equal(c.pfsGroup, 19);
});

test('ipsec: negotiated suites map to the dataplane names; unsupported ones are refused clearly', () => {
  const keys = { encrKey: new Uint8Array(16), integKey: new Uint8Array(20) };
  const base = { spiIn: 0x1000, spiOut: 0x2000, inbound: keys, outbound: keys } as unknown as ChildSaInfo;
  assert.deepEqual(espKeys({ ...base, encr: { id: 12, keyBits: 128, name: 'aes-cbc' }, integ: { id: 2, name: 'sha1', icvBits: 96 } }, 'inbound'),
    { cipher: 'aes-cbc-128', key: keys.encrKey, integrity: 'hmac-sha1-96', authKey: keys.integKey });
  assert.equal(espKeys({ ...base, encr: { id: 20, keyBits: 256, name: 'gcm' } }, 'outbound').cipher, 'aes-gcm-256');
  assert.throws(() => espKeys({ ...base, encr: { id: 12, keyBits: 128, name: 'aes-cbc' }, integ: { id: 14, name: 'sha512', icvBits: 256 } }, 'inbound'), /not supported/);
});
