/** Every block of the dialect reads into the values it says (crypto, EIGRP, key chains, routes). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, validate, renderRunningConfig, ALL_CAPABILITIES, formatDiagnostic } from '../../../daemon/config/index.js';
import { lines, plain } from './helpers.js';

const FULL = lines(
  'hostname hub-1',
  'key chain KC',
  ' key 1',
  '  key-string s3cret',
  '  cryptographic-algorithm hmac-sha-256',
  'crypto ikev2 proposal PR',
  ' encryption aes-gcm-256',
  ' encryption aes-gcm-128 aes-gcm-256',
  ' prf sha256',
  ' group 19 14',
  'crypto ikev2 policy POL',
  ' proposal PR',
  ' match address local 203.0.113.1',
  'crypto ikev2 keyring KR',
  ' peer a',
  '  description branch offices',
  '  address 198.51.100.0 255.255.255.0',
  '  pre-shared-key local L1',
  '  pre-shared-key remote R1',
  'crypto ikev2 profile IP',
  ' match identity remote address 0.0.0.0 0.0.0.0',
  ' match address local 203.0.113.1',
  ' authentication local pre-share',
  ' authentication remote pre-share',
  ' keyring local KR',
  ' lifetime 3600',
  ' dpd 10 3 periodic',
  'crypto ipsec transform-set TS esp-aes 256 esp-sha256-hmac',
  ' mode transport',
  'crypto ipsec transform-set GCM esp-gcm',
  'crypto ipsec profile IPS',
  ' set transform-set TS GCM',
  ' set pfs group19',
  ' set ikev2-profile IP',
  ' set security-association lifetime seconds 1800',
  'interface eth0',
  ' ip address 203.0.113.1 255.255.255.0',
  'interface Tunnel5',
  ' ip address 10.5.0.1 255.255.0.0',
  ' ip nhrp network-id 5',
  ' ip nhrp nhs 10.5.0.2 nbma 198.51.100.2 multicast',
  ' ip nhrp registration timeout 30',
  ' ip authentication mode eigrp 10 md5',
  ' ip authentication key-chain eigrp 10 KC',
  ' ip hello-interval eigrp 10 20',
  ' ip hold-time eigrp 10 60',
  ' no ip next-hop-self eigrp 10',
  ' ip summary-address eigrp 10 192.168.0.0 255.255.0.0',
  ' delay 1000',
  ' tunnel source 203.0.113.1',
  ' tunnel mode gre multipoint',
  ' tunnel key 55',
  ' tunnel path-mtu-discovery',
  ' tunnel protection ipsec profile IPS shared',
  ' tunnel dataplane userspace',
  'router eigrp 10',
  ' network 10.5.0.1 0.0.255.255',
  ' passive-interface default',
  ' no passive-interface Tunnel5',
  ' eigrp router-id 10.5.0.1',
  ' eigrp stub connected static',
  ' redistribute connected metric 10000 100 255 1 1400',
  ' metric weights 0 1 0 1 0 0',
  ' variance 2',
  ' maximum-paths 6',
  ' distance eigrp 80 160',
  'ip route 0.0.0.0 0.0.0.0 203.0.113.254 250 name default-route tag 9 permanent',
  'ip route 192.168.0.0 255.255.0.0 tunnel 5 10.5.0.2',
);

test('model: crypto, EIGRP, key chains and routes read into their typed values', () => {
  const r = parseConfig(FULL, 'full.conf');
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual(validate(r.model, ALL_CAPABILITIES).map(formatDiagnostic), []);
  const m = plain(r.model) as Record<string, unknown>;
  assert.equal(m.hostname, 'hub-1');
  assert.deepEqual(m.keyChains, [{ name: 'KC', keys: [{ id: 1, keyString: { secret: 's3cret' }, algorithm: 'hmac-sha-256' }] }]);
  assert.deepEqual(m.crypto, {
    keyrings: [{ name: 'KR', peers: [{
      name: 'a', description: 'branch offices', address: { address: '198.51.100.0', mask: '255.255.255.0', prefixLength: 24 },
      presharedKeyLocal: { secret: 'L1' }, presharedKeyRemote: { secret: 'R1' },
    }] }],
    ikev2Profiles: [{
      name: 'IP', matchAddressLocal: [{ kind: 'address', address: '203.0.113.1' }],
      matchIdentityRemote: [{ address: '0.0.0.0', mask: '0.0.0.0', prefixLength: 0 }],
      authenticationLocal: 'pre-share', authenticationRemote: 'pre-share', keyring: { name: 'KR' }, lifetime: 3600,
      dpd: { interval: 10, retry: 3, mode: 'periodic' },
    }],
    ipsecProfiles: [{
      name: 'IPS', ikev2Profile: { name: 'IP' }, transformSets: [{ name: 'TS' }, { name: 'GCM' }], pfs: { group: 'group19' },
      lifetimeSeconds: 1800, lifetimeKilobytes: 4608000,
    }],
    ikev2Proposals: [{ name: 'PR', encryption: ['aes-gcm-256', 'aes-gcm-128'], integrity: [], prf: ['sha256'], groups: [19, 14] }],
    ikev2Policies: [{ name: 'POL', proposals: [{ name: 'PR' }], matchAddressLocal: [{ address: '203.0.113.1' }] }],
    transformSets: [
      { name: 'TS', cipher: 'esp-aes', keyBits: 256, integrity: 'esp-sha256-hmac', mode: 'transport' },
      { name: 'GCM', cipher: 'esp-gcm', keyBits: 128, mode: 'tunnel' },
    ],
  });
  const tu = (m.interfaces as Record<string, unknown>[])[1];
  assert.deepEqual(tu.eigrp, [{
    as: 10, helloInterval: 20, holdTime: 60, splitHorizon: true, nextHopSelf: false, authMode: 'md5', authKeyChain: { name: 'KC' },
    summaries: [{ address: '192.168.0.0', mask: '255.255.0.0', prefixLength: 16 }],
  }]);
  assert.equal(tu.delay, 1000);
  assert.equal(tu.ipMtu, 1472, 'no ip mtu: 1500 - 20 (IP) - 8 (GRE with key)');
  assert.equal(tu.dataplane, 'userspace');
  assert.equal(tu.pathMtuDiscovery, true);
  assert.deepEqual(tu.tunnelSource, { kind: 'address', address: '203.0.113.1' });
  assert.deepEqual(tu.protection, { profile: 'IPS', shared: true });
  assert.deepEqual((tu.nhrp as Record<string, unknown>).nhs, [{ address: '10.5.0.2', nbma: '198.51.100.2', multicast: true }]);
  assert.equal((tu.nhrp as Record<string, unknown>).registrationTimeout, 30);
  assert.deepEqual(m.eigrp, [{
    as: 10, networks: [{ address: '10.5.0.0', wildcard: '0.0.255.255' }], passiveDefault: true, passiveInterfaces: [],
    nonPassiveInterfaces: [{ name: 'Tunnel5' }], routerId: '10.5.0.1',
    stub: { connected: true, summary: false, static: true, redistributed: false, receiveOnly: false },
    redistribute: [{ source: 'connected', metric: { bandwidth: 10000, delay: 100, reliability: 255, load: 1, mtu: 1400 } }],
    kWeights: [1, 0, 1, 0, 0], variance: 2, maximumPaths: 6, internalDistance: 80, externalDistance: 160, autoSummary: false,
  }]);
  assert.deepEqual(m.staticRoutes, [
    { prefix: '0.0.0.0', mask: '0.0.0.0', prefixLength: 0, nextHop: '203.0.113.254', distance: 250, name: 'default-route', tag: 9, permanent: true },
    { prefix: '192.168.0.0', mask: '255.255.0.0', prefixLength: 16, nextHop: '10.5.0.2', interface: 'Tunnel5', distance: 1, permanent: false },
  ]);
  const back = parseConfig(renderRunningConfig(r.model, { redact: false }), 'back.conf');
  assert.deepEqual(back.diagnostics, []);
  assert.deepEqual(plain(back.model), plain(r.model));
});
