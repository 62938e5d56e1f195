/**
 * Semantic validation: references resolve, a DMVPN tunnel is complete, nothing
 * conflicts, and every configured feature is one this build implements.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, validate, formatDiagnostic, ALL_CAPABILITIES, type Capability } from '../../../daemon/config/index.js';
import { fixture, lines } from './helpers.js';

function check(text: string, caps: readonly Capability[] = ALL_CAPABILITIES): string[] {
  const r = parseConfig(text, 'v.conf');
  assert.deepEqual(r.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic), [], 'the text itself parses');
  return validate(r.model, caps).map(formatDiagnostic);
}

const TUNNEL = ['interface Tunnel0', ' ip address 10.0.0.11 255.255.255.0', ' tunnel source eth0', ' tunnel mode gre multipoint', ' ip nhrp network-id 1'];

test('validate: an NHS needs an NBMA address (static map or nbma form) and must be in the tunnel subnet', () => {
  assert.deepEqual(check(lines(...TUNNEL, ' ip nhrp nhs 10.0.0.1', ' ip nhrp nhs 10.0.1.1 nbma 192.0.2.1', ' ip nhrp nhs 10.0.0.11 nbma 192.0.2.2')), [
    'v.conf:6:2: NHS 10.0.0.1 has no NBMA address: add "ip nhrp map 10.0.0.1 NBMA" or "ip nhrp nhs 10.0.0.1 nbma NBMA"',
    "v.conf:7:2: NHS 10.0.1.1 is outside Tunnel0's subnet 10.0.0.0/24",
    "v.conf:8:2: NHS 10.0.0.11 is Tunnel0's own address",
  ]);
  assert.deepEqual(check(lines(...TUNNEL, ' ip nhrp map 10.0.0.1 192.0.2.1', ' ip nhrp nhs 10.0.0.1', ' ip nhrp nhs 10.0.0.2 nbma 192.0.2.2 multicast')), []);
});

test('validate: a DMVPN tunnel needs an address, a source, multipoint mode, and a network-id for NHRP', () => {
  assert.deepEqual(check(lines('interface Tunnel3', ' ip nhrp holdtime 300', 'interface Tunnel4', ' tunnel mode gre ip', ' tunnel source Tunnel3')), [
    'v.conf:1:1: Tunnel3: point-to-point GRE ("tunnel mode gre ip", the IOS default) is not implemented in this version; use "tunnel mode gre multipoint"',
    'v.conf:1:1: Tunnel3 has no "ip address"',
    'v.conf:1:1: Tunnel3 has no "tunnel source"',
    'v.conf:1:1: Tunnel3 has NHRP settings but no "ip nhrp network-id" (IOS runs no NHRP without it)',
    'v.conf:4:2: Tunnel4: point-to-point GRE ("tunnel mode gre ip", the IOS default) is not implemented in this version; use "tunnel mode gre multipoint"',
    'v.conf:3:1: Tunnel4 has no "ip address"',
    'v.conf:5:2: tunnel source Tunnel3: a tunnel cannot carry another tunnel; use the underlay interface or address',
  ]);
  assert.deepEqual(check(lines('interface Tunnel0', ' ip address 10.0.0.1 255.255.255.0', ' tunnel source 192.0.2.1', ' tunnel mode gre multipoint')), []);
});

test('validate: conflicts: overlapping subnets, shared source and key, one overlay address mapped twice', () => {
  assert.deepEqual(check(lines(
    ...TUNNEL,
    ' ip nhrp map 10.0.0.1 192.0.2.1',
    ' ip nhrp map 10.0.0.1 192.0.2.9',
    ' ip nhrp map 10.9.0.1 192.0.2.5',
    'interface Tunnel1',
    ' ip address 10.0.0.200 255.255.255.128',
    ' tunnel source eth0',
    ' tunnel mode gre multipoint',
    'interface Tunnel2',
    ' ip address 10.2.0.1 255.255.255.0',
    ' tunnel source eth0',
    ' tunnel mode gre multipoint',
    ' tunnel key 5',
  )), [
    'v.conf:7:2: conflicting NHRP map: 10.0.0.1 is already mapped to 192.0.2.1 (line 6)',
    "v.conf:8:2: warning: NHRP map for 10.9.0.1 is outside Tunnel0's subnet 10.0.0.0/24",
    "v.conf:10:2: 10.0.0.128/25 on Tunnel1 overlaps Tunnel0's 10.0.0.0/24 (line 2)",
    'v.conf:11:2: Tunnel1 has the same tunnel source and key as Tunnel0 (line 1); give each a different "tunnel key"',
  ]);
});

test('validate: crypto references resolve, with suggestions', () => {
  assert.deepEqual(check(lines(
    'crypto ikev2 keyring ike-keyring',
    ' peer a',
    '  address 0.0.0.0 0.0.0.0',
    ' peer b',
    '  address 0.0.0.0 0.0.0.0',
    '  pre-shared-key local x',
    'crypto ikev2 profile ike-profile',
    ' keyring local ike-keyrng',
    ' match address local interface Tunnel7',
    'crypto ikev2 profile p2',
    ' authentication local pre-share',
    ' authentication remote pre-share',
    ' match identity remote address 0.0.0.0 0.0.0.0',
    'crypto ipsec profile ipsec-profile',
    ' set transform-set TS1 TS2',
    'crypto ipsec transform-set TS1 esp-aes 256 esp-sha256-hmac',
    ' mode transport',
    'crypto ikev2 policy pol',
    ' proposal prop1',
    'crypto ikev2 proposal prop',
    ' encryption aes-cbc-256',
    ' integrity sha256',
    ' group 19',
  )), [
    'v.conf:2:2: peer "a" of keyring "ike-keyring" has no "pre-shared-key" (or both a local and a remote one)',
    'v.conf:5:3: peer "b" of keyring "ike-keyring": address 0.0.0.0/0 is already used by another peer (line 3)',
    'v.conf:4:2: peer "b" of keyring "ike-keyring" has no "pre-shared-key" (or both a local and a remote one)',
    'v.conf:7:1: crypto ikev2 profile "ike-profile" needs "authentication local" and "authentication remote"',
    'v.conf:7:1: crypto ikev2 profile "ike-profile" needs a "match identity remote"',
    'v.conf:8:16: crypto ikev2 keyring "ike-keyrng" is not defined; did you mean "ike-keyring"?',
    'v.conf:9:32: unknown interface Tunnel7: no "interface Tunnel7" in this file',
    'v.conf:10:1: crypto ikev2 profile "p2" authenticates with pre-shared keys but has no "keyring local"',
    'v.conf:14:1: crypto ipsec profile "ipsec-profile" has no "set ikev2-profile" (IKEv1 is not implemented in this version)',
    'v.conf:15:24: crypto ipsec transform-set "TS2" is not defined; did you mean "TS1"?',
    'v.conf:19:11: crypto ikev2 proposal "prop1" is not defined; did you mean "prop"?',
  ]);
});

test('validate: IKEv2 proposals need the transforms their cipher calls for', () => {
  assert.deepEqual(check(lines(
    'crypto ikev2 proposal empty',
    'crypto ikev2 proposal gcm',
    ' encryption aes-gcm-256',
    ' integrity sha256',
    ' group 19',
    'crypto ikev2 proposal mixed',
    ' encryption aes-gcm-128 aes-cbc-128',
    ' prf sha256',
    ' group 14',
    'crypto ikev2 proposal good-gcm',
    ' encryption aes-gcm-256',
    ' prf sha384',
    ' group 20 19',
  )), [
    'v.conf:1:1: crypto ikev2 proposal "empty" has no "encryption"',
    'v.conf:1:1: crypto ikev2 proposal "empty" has no "group"',
    'v.conf:4:2: crypto ikev2 proposal "gcm": AES-GCM is combined-mode (RFC 5282), it takes no "integrity"',
    'v.conf:2:1: crypto ikev2 proposal "gcm": AES-GCM needs a "prf"',
    'v.conf:7:2: crypto ikev2 proposal "mixed" mixes AES-GCM with AES-CBC; IOS needs separate proposals',
  ]);
});

test('validate: EIGRP references and settings without a process', () => {
  assert.deepEqual(check(lines(
    'key chain eigrp-key',
    ' key 1',
    'interface eth0',
    ' ip authentication mode eigrp 1 md5',
    ' ip hello-interval eigrp 2 10',
    ' ip authentication key-chain eigrp 1 eigrp-keys',
    'router eigrp 1',
    ' passive-interface Tunnel9',
    ' passive-interface lan0',
    'ip route 10.9.0.0 255.255.0.0 Tunnel9',
  )), [
    'v.conf:10:1: unknown interface Tunnel9: no "interface Tunnel9" in this file',
    'v.conf:8:20: unknown interface Tunnel9: no "interface Tunnel9" in this file',
    'v.conf:6:38: key chain "eigrp-keys" is not defined; did you mean "eigrp-key"?',
    'v.conf:5:2: warning: EIGRP 2 is not configured ("router eigrp 2"): this setting has no effect',
    'v.conf:2:2: warning: key 1 of key chain "eigrp-key" has no "key-string"',
  ]);
  assert.deepEqual(check(lines('interface eth0', ' ip authentication mode eigrp 1 md5', 'router eigrp 1')), [
    'v.conf:2:2: warning: EIGRP 1 MD5 authentication on eth0 has no "ip authentication key-chain eigrp 1"',
  ]);
});

test('feature gating: every line configuring a missing capability is an error at that line', () => {
  const hub = fixture('hub.conf');
  const at = (needle: string): number => hub.split('\n').findIndex((l) => l.includes(needle)) + 1;
  const r = parseConfig(hub, 'hub.conf');
  assert.deepEqual(validate(r.model, ALL_CAPABILITIES), []);
  assert.deepEqual(validate(r.model, ['nhrp', 'ipsec']).map(formatDiagnostic), [
    `hub.conf:${at('no ip split-horizon')}:2: "no ip split-horizon eigrp" (EIGRP) is not implemented in this version`,
    `hub.conf:${at('router eigrp 1')}:1: "router eigrp" (EIGRP) is not implemented in this version`,
  ]);
  assert.deepEqual(validate(r.model, ['nhrp', 'eigrp']).map(formatDiagnostic), [
    `hub.conf:${at('crypto ikev2 keyring')}:1: "crypto ikev2 keyring" (IPsec/IKEv2) is not implemented in this version`,
    `hub.conf:${at('crypto ikev2 profile')}:1: "crypto ikev2 profile" (IPsec/IKEv2) is not implemented in this version`,
    `hub.conf:${at('crypto ipsec profile')}:1: "crypto ipsec profile" (IPsec/IKEv2) is not implemented in this version`,
    `hub.conf:${at('tunnel protection')}:2: "tunnel protection ipsec profile" (IPsec/IKEv2) is not implemented in this version`,
  ]);
  const noNhrp = validate(r.model, ['eigrp', 'ipsec']).map(formatDiagnostic);
  assert.deepEqual(noNhrp, ['ip nhrp authentication', 'ip nhrp map multicast', 'ip nhrp network-id', 'ip nhrp holdtime'].map(
    (c) => `hub.conf:${at(c)}:2: "${c}" (NHRP) is not implemented in this version`,
  ));
});

test('feature gating: the kernel dataplane is gated, userspace and the default are not', () => {
  const base = [...TUNNEL];
  assert.deepEqual(check(lines(...base, ' tunnel dataplane userspace'), ['nhrp']), []);
  assert.deepEqual(check(lines(...base), ['nhrp']), []);
  assert.deepEqual(check(lines(...base, ' tunnel dataplane kernel'), ['nhrp']), [
    'v.conf:6:2: "tunnel dataplane" (the kernel dataplane) is not implemented in this version',
  ]);
  assert.deepEqual(check(lines(...base, ' tunnel dataplane kernel'), ['nhrp', 'kernel-dataplane']), []);
});
