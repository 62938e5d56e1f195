/**
 * The Basic DMVPN lab (shared/seed/basic-dmvpn.md): its configuration lines, as
 * a Linux host writes them (eth0 for g0/0), read into the expected model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseConfig, validate, formatDiagnostic, renderRunningConfig, loadConfig, ALL_CAPABILITIES, tunnels,
  type TunnelInterfaceConfig,
} from '../../../daemon/config/index.js';
import { FIXTURES, fixture, plain, lines } from './helpers.js';

/** 1-based line of the first line of `text` that contains `needle`. */
function lineOf(text: string, needle: string): number {
  const i = text.split('\n').findIndex((l) => l.includes(needle));
  assert.ok(i >= 0, `fixture has "${needle}"`);
  return i + 1;
}

// The lab's commands in the lab's order, prompts stripped, g0/0 -> eth0 (trailing blanks kept).
const LAB_IPSEC = [
  'crypto ikev2 keyring ike-keyring',
  'peer dmvpn',
  'address 0.0.0.0 0.0.0.0 ',
  'pre-shared-key Cisco123',
  'exit',
  'crypto ikev2 profile ike-profile',
  'authentication local pre-share',
  'authentication remote pre-share',
  'keyring local ike-keyring',
  'match address local interface eth0',
  'match identity remote address 0.0.0.0 0.0.0.0',
  'exit',
  'crypto ipsec profile ipsec-profile',
  'set ikev2-profile ike-profile',
  'exit',
];
const LAB_HUB = [
  'int tunnel 0        ',
  'ip address 10.0.0.1 255.255.255.0',
  'ip mtu 1400',
  'ip nhrp authentication Cisco123',
  'ip nhrp map multicast dynamic',
  'ip nhrp network-id 100',
  'tunnel source eth0 ',
  'tunnel mode gre multipoint',
  'tunnel protection ipsec profile ipsec-profile',
  'bandwidth 1000',
  'ip tcp adjust-mss 1360',
  'ip nhrp holdtime 450',
  'ip redirect',
  'no ip split-horizion eigrp 1',
];
const LAB_SPOKE = [
  'interface tunnel 0',
  'bandwidth 1000',
  'ip address 10.0.0.12 255.255.255.0',
  'ip mtu 1400',
  'ip nhrp authentication Cisco123',
  'ip nhrp map 10.0.0.1 203.0.113.1',
  'ip nhrp map multicast 203.0.113.1',
  'ip nhrp network-id 100',
  'ip nhrp holdtime 450',
  'ip nhrp nhs 10.0.0.1',
  'ip nhrp shortcut',
  'no ip nhrp redirect',
  'ip tcp adjust-mss 1360',
  'tunnel source eth0',
  'tunnel mode gre multipoint',
  'tunnel protection ipsec profile ipsec-profile',
];
const LAB_EIGRP = ['router eigrp 1', 'network 192.168.3.0 0.0.0.255', 'network 10.0.0.0 0.0.0.255'];

test('lab: the hub lines verbatim give exactly the ip redirect warning and the split-horizion typo', () => {
  const text = lines(...LAB_IPSEC, ...LAB_HUB, ...LAB_EIGRP);
  const r = parseConfig(text, 'hub.conf');
  const redirectLine = LAB_IPSEC.length + LAB_HUB.indexOf('ip redirect') + 1;
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
    `hub.conf:${redirectLine}:4: warning: "ip redirect" is "ip redirects" (ICMP redirects, already on by default); NHRP Phase 3 redirects on a hub are enabled by "ip nhrp redirect"`,
    `hub.conf:${redirectLine + 1}:7: invalid input "split-horizion"; did you mean "split-horizon"?`,
  ]);
  // The bad line changes nothing: split horizon stays on (the IOS default).
  const tu = tunnels(r.model)[0];
  assert.deepEqual(tu.eigrp, []);
  assert.equal(tu.ipRedirects, true);
  // Everything else of the lab is there, and validates (eth0 is the host's, not in the file).
  assert.equal(tu.nhrp.holdtime, 450);
  assert.deepEqual(validate(r.model, ALL_CAPABILITIES).map(formatDiagnostic), []);
});

test('lab: the spoke lines and the EIGRP lines verbatim are accepted without a diagnostic', () => {
  const r = parseConfig(lines(...LAB_IPSEC, ...LAB_SPOKE, ...LAB_EIGRP), 'spoke2.conf');
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual(validate(r.model, ALL_CAPABILITIES), []);
  const tu = tunnels(r.model)[0];
  assert.deepEqual(plain(tu.nhrp.staticMaps), [{ protocol: '10.0.0.1', nbma: '203.0.113.1' }]);
  assert.deepEqual(plain(tu.nhrp.nhs), [{ address: '10.0.0.1', multicast: false }]);
  assert.equal(tu.nhrp.shortcut, true);
  assert.equal(tu.nhrp.redirect, false);
});

const LAB_CRYPTO = {
  keyrings: [{
    name: 'ike-keyring',
    peers: [{ name: 'dmvpn', address: { address: '0.0.0.0', mask: '0.0.0.0', prefixLength: 0 }, presharedKey: { secret: 'Cisco123' } }],
  }],
  ikev2Profiles: [{
    name: 'ike-profile',
    matchAddressLocal: [{ kind: 'interface', name: 'eth0' }],
    matchIdentityRemote: [{ address: '0.0.0.0', mask: '0.0.0.0', prefixLength: 0 }],
    authenticationLocal: 'pre-share',
    authenticationRemote: 'pre-share',
    keyring: { name: 'ike-keyring' },
    lifetime: 86400,
  }],
  ipsecProfiles: [{ name: 'ipsec-profile', ikev2Profile: { name: 'ike-profile' }, transformSets: [], lifetimeSeconds: 3600, lifetimeKilobytes: 4608000 }],
  ikev2Proposals: [],
  ikev2Policies: [],
  transformSets: [],
};

function eigrp1(lan: string): unknown {
  return {
    as: 1,
    networks: [{ address: lan, wildcard: '0.0.0.255' }, { address: '10.0.0.0', wildcard: '0.0.0.255' }],
    passiveDefault: false, passiveInterfaces: [], nonPassiveInterfaces: [], redistribute: [], kWeights: [1, 0, 1, 0, 0],
    variance: 1, maximumPaths: 4, internalDistance: 90, externalDistance: 170, autoSummary: false,
  };
}

function linux(name: string, address: string, description?: string): unknown {
  return {
    name, kind: 'linux', shutdown: false, ipRedirects: true, eigrp: [], bandwidth: 1000000, delay: 1,
    address: { address, mask: '255.255.255.0', prefixLength: 24 }, ...(description ? { description } : {}),
  };
}

test('lab: fixtures/hub.conf reads into the expected model, IOS defaults filled in', () => {
  const text = fixture('hub.conf');
  const r = parseConfig(text, 'hub.conf');
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
    `hub.conf:${lineOf(text, ' ip redirect')}:5: warning: "ip redirect" is "ip redirects" (ICMP redirects, already on by default); NHRP Phase 3 redirects on a hub are enabled by "ip nhrp redirect"`,
  ]);
  assert.deepEqual(plain(r.model), {
    hostname: 'hub',
    interfaces: [
      linux('eth0', '203.0.113.1', 'underlay'),
      linux('lan0', '192.168.0.1'),
      {
        name: 'Tunnel0', kind: 'tunnel', number: 0, shutdown: false, ipRedirects: true,
        eigrp: [{ as: 1, helloInterval: 5, holdTime: 15, splitHorizon: false, nextHopSelf: true, summaries: [] }],
        bandwidth: 1000, delay: 5000, ipMtu: 1400, ipMtuConfigured: true, tcpAdjustMss: 1360,
        address: { address: '10.0.0.1', mask: '255.255.255.0', prefixLength: 24 },
        tunnelSource: { kind: 'interface', name: 'eth0' }, tunnelMode: 'gre-multipoint', pathMtuDiscovery: false, dataplane: 'auto',
        protection: { profile: 'ipsec-profile', shared: false },
        nhrp: {
          networkId: 100, authentication: { secret: 'Cisco123' }, holdtime: 450, registrationTimeout: 150,
          registrationTimeoutConfigured: false, registrationNoUnique: false, staticMaps: [],
          multicastMaps: [{ kind: 'dynamic' }], nhs: [], shortcut: false, redirect: false,
        },
      },
    ],
    staticRoutes: [],
    eigrp: [eigrp1('192.168.0.0')],
    keyChains: [],
    crypto: LAB_CRYPTO,
  });
  assert.deepEqual(validate(r.model, ALL_CAPABILITIES), []);
});

test('lab: every object keeps the position of the line that made it', () => {
  const text = fixture('hub.conf');
  const m = parseConfig(text, 'hub.conf').model;
  const tu = m.interfaces[2] as TunnelInterfaceConfig;
  assert.deepEqual(tu.pos, { file: 'hub.conf', line: lineOf(text, 'int tunnel 0'), column: 1 });
  assert.deepEqual(tu.address?.pos, { file: 'hub.conf', line: lineOf(text, '10.0.0.1 255'), column: 2 });
  assert.deepEqual(tu.protection?.pos, { file: 'hub.conf', line: lineOf(text, 'tunnel protection'), column: 2 });
  assert.deepEqual(tu.settingPos['ip nhrp holdtime'], { file: 'hub.conf', line: lineOf(text, 'holdtime 450'), column: 2 });
  assert.deepEqual(tu.nhrp.multicastMaps[0].pos.line, lineOf(text, 'map multicast dynamic'));
  assert.equal(m.crypto.keyrings[0].peers[0].pos.line, lineOf(text, 'peer dmvpn'));
  assert.equal(m.crypto.keyrings[0].peers[0].pos.column, 2);
  assert.deepEqual(m.crypto.ikev2Profiles[0].keyring?.pos, { file: 'hub.conf', line: lineOf(text, 'keyring local'), column: 16 });
  assert.equal(m.eigrp[0].networks[1].pos.line, lineOf(text, 'network 10.0.0.0'));
  assert.deepEqual(m.featureUses.map((u) => `${u.capability}:${u.command}@${u.pos.line}`), [
    `ipsec:crypto ikev2 keyring@${lineOf(text, 'crypto ikev2 keyring')}`,
    `ipsec:crypto ikev2 profile@${lineOf(text, 'crypto ikev2 profile')}`,
    `ipsec:crypto ipsec profile@${lineOf(text, 'crypto ipsec profile')}`,
    `nhrp:ip nhrp authentication@${lineOf(text, 'nhrp authentication')}`,
    `nhrp:ip nhrp map multicast@${lineOf(text, 'map multicast')}`,
    `nhrp:ip nhrp network-id@${lineOf(text, 'network-id')}`,
    `ipsec:tunnel protection ipsec profile@${lineOf(text, 'tunnel protection')}`,
    `nhrp:ip nhrp holdtime@${lineOf(text, 'holdtime')}`,
    `eigrp:no ip split-horizon eigrp@${lineOf(text, 'split-horizon')}`,
    `eigrp:router eigrp@${lineOf(text, 'router eigrp')}`,
  ]);
});

for (const n of [1, 2, 3]) {
  test(`lab: fixtures/spoke${n}.conf reads into the expected model and validates`, () => {
    const r = parseConfig(fixture(`spoke${n}.conf`), `spoke${n}.conf`);
    assert.deepEqual(r.diagnostics, []);
    assert.deepEqual(validate(r.model, ALL_CAPABILITIES), []);
    assert.deepEqual(plain(r.model), {
      hostname: `spoke${n}`,
      interfaces: [
        linux('eth0', `203.0.113.1${n}`),
        linux('lan0', `192.168.${n}.1`),
        {
          name: 'Tunnel0', kind: 'tunnel', number: 0, shutdown: false, ipRedirects: true, eigrp: [],
          bandwidth: 1000, delay: 5000, ipMtu: 1400, ipMtuConfigured: true, tcpAdjustMss: 1360,
          address: { address: `10.0.0.1${n}`, mask: '255.255.255.0', prefixLength: 24 },
          tunnelSource: { kind: 'interface', name: 'eth0' }, tunnelMode: 'gre-multipoint', pathMtuDiscovery: false, dataplane: 'auto',
          protection: { profile: 'ipsec-profile', shared: false },
          nhrp: {
            networkId: 100, authentication: { secret: 'Cisco123' }, holdtime: 450, registrationTimeout: 150,
            registrationTimeoutConfigured: false, registrationNoUnique: false,
            staticMaps: [{ protocol: '10.0.0.1', nbma: '203.0.113.1' }],
            multicastMaps: [{ kind: 'static', nbma: '203.0.113.1' }],
            nhs: [{ address: '10.0.0.1', multicast: false }], shortcut: true, redirect: false,
          },
        },
      ],
      staticRoutes: [],
      eigrp: [eigrp1(`192.168.${n}.0`)],
      keyChains: [],
      crypto: LAB_CRYPTO,
    });
  });
}

test('lab: loadConfig reads every fixture; the rendered running-config reads back to the same model', () => {
  for (const f of ['hub.conf', 'spoke1.conf', 'spoke2.conf', 'spoke3.conf']) {
    const { model, warnings } = loadConfig(FIXTURES + f, ALL_CAPABILITIES);
    assert.equal(warnings.filter((w) => w.severity === 'error').length, 0);
    const text = renderRunningConfig(model, { redact: false });
    const back = parseConfig(text, 'rendered.conf');
    assert.deepEqual(back.diagnostics.filter((d) => d.severity === 'error'), [], text);
    assert.deepEqual(plain(back.model), plain(model), f);
  }
});

test('lab: the hub renders as IOS prints it', () => {
  const m = parseConfig(fixture('hub.conf'), 'hub.conf').model;
  assert.equal(renderRunningConfig(m), [
    '!',
    'hostname hub',
    '!',
    'crypto ikev2 keyring ike-keyring',
    ' peer dmvpn',
    '  address 0.0.0.0 0.0.0.0',
    '  pre-shared-key <removed>',
    ' !',
    '!',
    'crypto ikev2 profile ike-profile',
    ' match identity remote address 0.0.0.0 0.0.0.0',
    ' match address local interface eth0',
    ' authentication remote pre-share',
    ' authentication local pre-share',
    ' keyring local ike-keyring',
    '!',
    'crypto ipsec profile ipsec-profile',
    ' set ikev2-profile ike-profile',
    '!',
    'interface eth0',
    ' description underlay',
    ' ip address 203.0.113.1 255.255.255.0',
    '!',
    'interface lan0',
    ' ip address 192.168.0.1 255.255.255.0',
    '!',
    'interface Tunnel0',
    ' bandwidth 1000',
    ' ip address 10.0.0.1 255.255.255.0',
    ' ip mtu 1400',
    ' no ip split-horizon eigrp 1',
    ' ip nhrp authentication <removed>',
    ' ip nhrp map multicast dynamic',
    ' ip nhrp network-id 100',
    ' ip nhrp holdtime 450',
    ' ip tcp adjust-mss 1360',
    ' tunnel source eth0',
    ' tunnel mode gre multipoint',
    ' tunnel protection ipsec profile ipsec-profile',
    '!',
    'router eigrp 1',
    ' network 192.168.0.0 0.0.0.255',
    ' network 10.0.0.0 0.0.0.255',
    '!',
    'end',
    '',
  ].join('\n'));
});
