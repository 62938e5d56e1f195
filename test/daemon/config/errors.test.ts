/**
 * Every class of error, with its exact FILE:LINE:COL (the column of the word at
 * fault) and message; all errors of a file are reported, not just the first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, formatDiagnostics } from '../../../daemon/config/index.js';
import { allDiags, diags, lines } from './helpers.js';

const TU = 'interface Tunnel0';

test('errors: a misspelt keyword points at the word and suggests the keyword (the lab typo)', () => {
  assert.deepEqual(diags(lines(TU, ' no ip split-horizion eigrp 1'), 'hub.conf'), [
    'hub.conf:2:8: invalid input "split-horizion"; did you mean "split-horizon"?',
  ]);
  assert.deepEqual(diags(lines(TU, ' ip nhrp netwrok-id 100'), 'x.conf'), [
    'x.conf:2:10: invalid input "netwrok-id"; did you mean "network-id"?',
  ]);
  assert.deepEqual(diags(lines(TU, ' tunnel mode gre multipiont'), 'x.conf'), [
    'x.conf:2:18: invalid input "multipiont"; did you mean "multipoint"?',
  ]);
});

test('errors: an unknown command names the word; a near one is suggested', () => {
  assert.deepEqual(diags(lines('hostnme hub', 'frobnicate now'), 'x.conf'), [
    'x.conf:1:1: unknown command "hostnme"; did you mean "hostname"?',
    'x.conf:2:1: unknown command "frobnicate"',
  ]);
  assert.deepEqual(diags(lines(TU, ' no ip nhrp shortcutt'), 'x.conf'), [
    'x.conf:2:13: invalid input "shortcutt"; did you mean "shortcut"?',
  ]);
});

test('errors: ambiguous abbreviation', () => {
  assert.deepEqual(diags(lines(TU, ' tunnel s eth0'), 'x.conf'), []);
  assert.deepEqual(diags(lines('crypto ipsec profile P', ' set t X'), 'x.conf'), []);
  assert.deepEqual(diags(lines('crypto ipsec transform-set T esp-aes esp-sha'), 'x.conf'), [
    'x.conf:1:38: ambiguous abbreviation "esp-sha": could be one of "esp-sha-hmac", "esp-sha256-hmac", "esp-sha384-hmac", "esp-sha512-hmac"',
  ]);
});

test('errors: bad address, bad mask, bad wildcard', () => {
  assert.deepEqual(diags(lines(TU, ' ip address 10.0.0.256 255.255.255.0', ' ip address 10.0.0.1 255.0.255.0', ' ip nhrp map 10.0.0.2 203.0.113'), 'x.conf'), [
    'x.conf:2:13: bad IPv4 address "10.0.0.256"',
    'x.conf:3:22: bad network mask "255.0.255.0"',
    'x.conf:4:23: bad IPv4 address "203.0.113"',
  ]);
  assert.deepEqual(diags(lines('router eigrp 1', ' network 10.0.0.0 0.255.0.255'), 'x.conf'), [
    'x.conf:2:19: bad wildcard mask "0.255.0.255"',
  ]);
  assert.deepEqual(diags(lines(TU, ' ip nhrp map abc 1.2.3.4'), 'x.conf'), [
    'x.conf:2:14: invalid input "abc"; expected "multicast" or A.B.C.D (protocol)',
  ]);
});

test('errors: numbers out of range and not numbers', () => {
  assert.deepEqual(diags(lines(TU, ' ip tcp adjust-mss 1500', ' ip nhrp holdtime 0', ' tunnel key -1', ' ip mtu big'), 'x.conf'), [
    'x.conf:2:20: "1500" is out of range 500-1460',
    'x.conf:3:19: "0" is out of range 1-65535',
    'x.conf:4:13: "-1" is out of range 0-4294967295',
    'x.conf:5:9: invalid input "big"; expected <68-17912> (bytes)',
  ]);
  assert.deepEqual(diags(lines('router eigrp 70000'), 'x.conf'), ['x.conf:1:14: "70000" is out of range 1-65535']);
});

test('errors: a missing argument points one column past the last word', () => {
  assert.deepEqual(diags(lines(TU, ' ip nhrp map 10.0.0.1', ' ip nhrp map multicast', ' tunnel source', 'router eigrp'), 'x.conf'), [
    'x.conf:2:23: incomplete command: expected A.B.C.D (nbma)',
    'x.conf:3:24: incomplete command: expected "dynamic" or A.B.C.D (nbma)',
    'x.conf:4:16: incomplete command: expected one of "tunnel", A.B.C.D (address), an interface name',
    'x.conf:5:14: incomplete command: expected <1-65535> (as)',
  ]);
});

test('errors: extra arguments', () => {
  assert.deepEqual(diags(lines(TU, ' ip mtu 1400 1500', ' ip nhrp shortcut now', ' ip nhrp nhs 10.0.0.1 nbma 203.0.113.1 multicast x'), 'x.conf'), [
    'x.conf:2:14: unexpected extra input "1500"',
    'x.conf:3:19: unexpected extra input "now"',
    'x.conf:4:50: unexpected extra input "x"',
  ]);
});

test('errors: a command given in the wrong mode says where it belongs', () => {
  assert.deepEqual(diags(lines('set ikev2-profile ike-profile', 'interface eth0', ' pre-shared-key local Cisco123', ' network 10.0.0.0'), 'x.conf'), [
    'x.conf:1:1: "set ikev2-profile" is not valid in global configuration mode (config); it belongs in crypto ipsec profile mode (ipsec-profile)',
    'x.conf:3:2: "pre-shared-key" is not valid in interface mode (config-if); it belongs in keyring peer mode (config-ikev2-keyring-peer)',
    'x.conf:4:2: "network" is not valid in interface mode (config-if); it belongs in router eigrp mode (config-router)',
  ]);
  assert.deepEqual(diags(lines('description hello'), 'x.conf'), [
    'x.conf:1:1: "description" is not valid in global configuration mode (config); it belongs in one of interface mode (config-if), keyring peer mode (config-ikev2-keyring-peer), crypto ikev2 profile mode (config-ikev2-profile)',
  ]);
  assert.deepEqual(diags(lines('ip mtu 5'), 'x.conf'), [
    'x.conf:1:8: "5" is out of range 68-17912 ("ip mtu" belongs in interface mode (config-if), not global configuration mode (config))',
  ]);
});

test('errors: tunnel commands on a Linux interface', () => {
  assert.deepEqual(diags(lines('interface eth0', ' ip nhrp network-id 1', ' tunnel source lo', ' ip mtu 1400', ' no ip split-horizon eigrp 1', ' bandwidth 10000'), 'x.conf'), [
    'x.conf:2:2: "ip nhrp network-id" is only valid on a tunnel interface (eth0 is a Linux interface)',
    'x.conf:3:2: "tunnel source" is only valid on a tunnel interface (eth0 is a Linux interface)',
    'x.conf:4:2: "ip mtu" is only valid on a tunnel interface (eth0 is a Linux interface)',
  ]);
});

test('errors: unknown interfaces (IOS names) and the block that follows is still checked', () => {
  assert.deepEqual(diags(lines('interface g0/0', ' ip address 203.0.113.1 255.255.255.0', ' ip mtu 99999', TU, ' tunnel source GigabitEthernet0/0', ' tunnel source Loopback0'), 'x.conf'), [
    'x.conf:1:11: unknown interface "g0/0": use the Linux interface name (e.g. eth0)',
    'x.conf:3:9: "99999" is out of range 68-17912',
    'x.conf:5:16: unknown interface "GigabitEthernet0/0": use the Linux interface name (e.g. eth0)',
    'x.conf:6:16: unknown interface "Loopback0": use the Linux interface name (e.g. eth0)',
  ]);
  assert.deepEqual(diags(lines('interface averyveryverylongname0'), 'x.conf'), [
    'x.conf:1:11: unknown interface "averyveryverylongname0": Linux interface names have at most 15 characters',
  ]);
  // A misspelt block opener still opens its block, so its lines do not cascade into "wrong mode".
  assert.deepEqual(diags(lines('intreface Tunnel0', ' ip nhrp network-id 1', ' ip nhrp holdtime 450'), 'x.conf'), [
    'x.conf:1:1: unknown command "intreface"; did you mean "interface"?',
  ]);
});

test('errors: options given twice, no-form missing, values a line cannot hold', () => {
  assert.deepEqual(diags(lines(
    'ip route 0.0.0.0 0.0.0.0 192.0.2.1 permanent 5 permanent',
    'no end',
    'ip route 10.0.0.1 255.255.255.0 192.0.2.1',
    'hostname 9lives',
    'interface Tunnel0',
    ' ip address 10.0.0.0 255.255.255.0',
    ' ip address 10.0.0.255 255.255.255.0',
    ' description ' + 'x'.repeat(241),
    'router eigrp 1',
    ' eigrp stub connected receive-only',
    ' eigrp router-id 0.0.0.0',
    'crypto ipsec transform-set T1 esp-gcm 256 esp-sha-hmac',
    'crypto ipsec transform-set T2 esp-sha-hmac',
    'crypto ipsec transform-set T3 esp-aes esp-gcm',
    'crypto ipsec transform-set T4 esp-aes 256 esp-sha-hmac esp-sha-hmac',
  ), 'x.conf'), [
    'x.conf:1:48: "permanent" is given more than once',
    'x.conf:2:1: "end" has no "no" form',
    'x.conf:3:10: inconsistent address and mask: 10.0.0.1 has host bits set for mask 255.255.255.0',
    'x.conf:4:10: bad hostname "9lives": use letters, digits and hyphens, starting with a letter (at most 63)',
    'x.conf:6:13: bad mask /24 for address 10.0.0.0',
    'x.conf:7:13: bad mask /24 for address 10.0.0.255',
    'x.conf:8:14: description is longer than 240 characters',
    'x.conf:10:23: receive-only cannot be combined with other stub options',
    'x.conf:11:18: 0.0.0.0 cannot be a router ID',
    'x.conf:12:43: esp-gcm is a combined-mode cipher (RFC 4106): it takes no esp-sha-hmac',
    'x.conf:13:28: a transform set needs exactly one encryption transform (esp-aes or esp-gcm)',
    'x.conf:14:39: a transform set needs exactly one encryption transform (esp-aes or esp-gcm)',
    'x.conf:15:56: "esp-sha-hmac" is given more than once',
  ]);
});

test('errors: every error of the file is reported, in line order, and the good lines still apply', () => {
  const r = parseConfig(lines(TU, ' ip mtu 99999', ' ip nhrp network-id 7', ' ip nhrp holdtime x', ' ip nhrp shortcut', 'bogus'), 'many.conf');
  assert.equal(formatDiagnostics(r.diagnostics), [
    'many.conf:2:9: "99999" is out of range 68-17912',
    'many.conf:4:19: invalid input "x"; expected <1-65535> (seconds)',
    'many.conf:6:1: unknown command "bogus"',
  ].join('\n'));
  const t = r.model.interfaces[0];
  assert.ok(t.kind === 'tunnel' && t.nhrp.networkId === 7 && t.nhrp.shortcut);
});

test('errors: dangling references and unimplemented features come from validation, with positions', () => {
  assert.deepEqual(allDiags(lines(
    'interface Tunnel0',
    ' ip address 10.0.0.1 255.255.255.0',
    ' tunnel source eth0',
    ' tunnel mode gre multipoint',
    ' tunnel protection ipsec profile ipsec-profil',
    ' tunnel dataplane kernel',
    'crypto ipsec profile ipsec-profile',
    ' set ikev2-profile nope',
  ), 'v.conf', ['nhrp', 'ipsec']), [
    'v.conf:6:2: "tunnel dataplane" (the kernel dataplane) is not implemented in this version',
    'v.conf:5:2: crypto ipsec profile "ipsec-profil" is not defined; did you mean "ipsec-profile"?',
    'v.conf:8:20: crypto ikev2 profile "nope" is not defined',
  ]);
});
