/**
 * IOS abbreviations and modes: any unambiguous prefix of a keyword, in any
 * case; the interface spellings of IOS; block structure by mode, not indentation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, tunnels, type TunnelInterfaceConfig } from '../../../daemon/config/index.js';
import { diags, lines, model, plain } from './helpers.js';

test('abbrev: the four lab spellings of Tunnel0 (and tu0, TUNNEL 0) name the same interface', () => {
  for (const head of ['int tunnel 0', 'int Tunnel0', 'interface tunnel 0', 'interface Tunnel0', 'int tu0', 'in tu 0', 'INTERFACE TUNNEL 0', 'interface Tunnel00']) {
    const m = model(lines(head, ' ip mtu 1400'));
    assert.equal(m.interfaces.length, 1, head);
    assert.equal(m.interfaces[0].name, 'Tunnel0', head);
    assert.equal((m.interfaces[0] as TunnelInterfaceConfig).ipMtu, 1400, head);
  }
});

test('abbrev: re-entering an interface under another spelling adds to the same block', () => {
  const text = lines('interface Tunnel0', ' ip nhrp network-id 5', 'int tu 0', ' ip nhrp holdtime 300');
  assert.deepEqual(diags(text, 'r.conf'), ['r.conf:3:1: warning: "interface Tunnel0" is opened again (first at line 1); the settings are merged']);
  const m = model(text);
  assert.equal(m.interfaces.length, 1);
  const t = tunnels(m)[0];
  assert.equal(t.nhrp.networkId, 5);
  assert.equal(t.nhrp.holdtime, 300);
});

test('abbrev: Linux interface names are taken as written', () => {
  const m = model(lines('interface eth0', ' ip address 192.0.2.1 255.255.255.0', 'interface lan0', 'interface lo', 'interface ens3.100', 'interface wg-hub_1'));
  assert.deepEqual(m.interfaces.map((i) => [i.name, i.kind]), [['eth0', 'linux'], ['lan0', 'linux'], ['lo', 'linux'], ['ens3.100', 'linux'], ['wg-hub_1', 'linux']]);
  assert.equal(m.interfaces[2].bandwidth, 8000000, 'lo takes the IOS loopback defaults');
  assert.equal(m.interfaces[2].delay, 500);
  assert.equal(m.interfaces[0].bandwidth, 1000000);
});

test('abbrev: keyword prefixes and case are accepted everywhere', () => {
  const long = model(lines(
    'interface Tunnel0',
    ' ip address 10.0.0.1 255.255.255.0',
    ' ip nhrp map multicast dynamic',
    ' ip nhrp network-id 100',
    ' ip nhrp registration no-unique',
    ' tunnel mode gre multipoint',
    ' tunnel source eth0',
    ' ip tcp adjust-mss 1360',
    ' no ip split-horizon eigrp 1',
    'router eigrp 1',
    ' network 10.0.0.0 0.0.0.255',
    ' passive-interface default',
  ));
  const short = model(lines(
    'INT TU0',
    ' IP ADD 10.0.0.1 255.255.255.0',
    ' ip nh map mu dyn',
    ' Ip Nhrp Net 100',
    ' ip nhrp reg no-u',
    ' tun mo gre multi',
    ' tun so eth0',
    ' ip tc ad 1360',
    ' no ip sp eig 1',
    'rou ei 1',
    ' net 10.0.0.0 0.0.0.255',
    ' pass def',
  ));
  assert.deepEqual(plain(short), plain(long));
});

test('abbrev: an exact keyword wins over a longer one it prefixes (key vs key-string, group 2 vs 20)', () => {
  const m = model(lines('key chain K', ' key 1', '  key-string abc', ' key 2', '  key-s def', 'crypto ikev2 proposal P', ' group 2 20 21'));
  assert.deepEqual(m.keyChains[0].keys.map((k) => [k.id, k.keyString?.reveal()]), [[1, 'abc'], [2, 'def']]);
  assert.deepEqual(m.crypto.ikev2Proposals[0].groups, [2, 20, 21]);
});

test('abbrev: ambiguous prefixes are errors listing the candidates', () => {
  assert.deepEqual(diags(lines('interface Tunnel0', ' ip h eigrp 1 5'), 'a.conf'), [
    'a.conf:2:5: ambiguous abbreviation "h": could be "hello-interval" or "hold-time"',
  ]);
  assert.deepEqual(diags(lines('interface Tunnel0', ' ip nhrp re'), 'a.conf'), [
    'a.conf:2:10: ambiguous abbreviation "re": could be "redirect" or "registration"',
  ]);
  assert.deepEqual(diags(lines('router eigrp 1', ' n 10.0.0.0'), 'a.conf'), [
    'a.conf:2:2: ambiguous abbreviation "n": could be "network" or "no"',
  ]);
  assert.deepEqual(diags(lines('crypto ikev2 p X'), 'a.conf'), [
    'a.conf:1:14: ambiguous abbreviation "p": could be one of "policy", "profile", "proposal"',
  ]);
  assert.deepEqual(diags(lines('crypto ikev2 proposal P', ' group 1'), 'a.conf'), [
    'a.conf:2:8: ambiguous abbreviation "1": could be "14" or "19"',
  ]);
});

test('abbrev: a prefix resolves in the innermost mode first (ip r in an interface is ip redirects)', () => {
  const m = model(lines('interface eth0', ' no ip r', 'ip ro 0.0.0.0 0.0.0.0 192.0.2.254'));
  assert.equal(m.interfaces[0].ipRedirects, false);
  assert.equal(m.staticRoutes.length, 1);
});

test('modes: indentation is not significant; a global command closes the block', () => {
  const flat = model(lines('interface Tunnel0', 'ip nhrp network-id 1', 'ip route 10.9.0.0 255.255.0.0 Tunnel0', 'interface eth0', 'shutdown'));
  const indented = model(lines('interface Tunnel0', '      ip nhrp network-id 1', '\tip route 10.9.0.0 255.255.0.0 Tunnel0', 'interface eth0', '   shutdown'));
  assert.deepEqual(plain(flat), plain(indented));
  assert.equal(flat.staticRoutes[0].interface, 'Tunnel0');
  assert.equal(flat.interfaces[1].shutdown, true);
  assert.equal(flat.interfaces[0].shutdown, false);
});

test('modes: exit and ! leave one level (the keyring-peer " !" of IOS output closes just the peer)', () => {
  const m = model(lines(
    'crypto ikev2 keyring KR',
    ' peer a',
    '  address 192.0.2.0 255.255.255.0',
    '  pre-shared-key one',
    ' !',
    ' peer b',
    '  address 198.51.100.7',
    '  pre-shared-key two',
    ' exit',
    ' peer c',
    '  address 203.0.113.0 255.255.255.0',
    '  pre-shared-key three',
    '!',
    'hostname h1',
  ));
  assert.deepEqual(m.crypto.keyrings[0].peers.map((p) => [p.name, p.address?.prefixLength]), [['a', 24], ['b', 32], ['c', 24]]);
  assert.equal(m.hostname, 'h1');
});

test('modes: ! ends an interface block, so an interface command after it is in the wrong mode', () => {
  assert.deepEqual(diags(lines('interface Tunnel0', ' ip mtu 1400', '!', ' ip nhrp holdtime 300'), 'm.conf'), [
    'm.conf:4:2: "ip nhrp holdtime" is not valid in global configuration mode (config); it belongs in interface mode (config-if) (the config-if block ended at line 3)',
  ]);
});

test('modes: end stops reading; text after it is a warning', () => {
  const r = parseConfig(lines('hostname a', 'end', '!', 'hostname b'), 'e.conf');
  assert.equal(r.model.hostname, 'a');
  assert.deepEqual(r.diagnostics.map((d) => `${d.severity} ${d.line}:${d.column} ${d.message}`), ['warning 4:1 text after "end" (line 2) is ignored']);
});

test('lexing: CRLF, a byte-order mark, tabs, blank lines and comments', () => {
  const text = '\uFEFF! comment\r\nhostname crlf\r\n\r\n   \r\ninterface\tTunnel0\r\n\tip  mtu\t1400 \r\n!\r\n';
  const r = parseConfig(text, 'c.conf');
  assert.deepEqual(r.diagnostics, []);
  assert.equal(r.model.hostname, 'crlf');
  assert.equal(tunnels(r.model)[0].ipMtu, 1400);
  assert.deepEqual(parseConfig('hostname x\r\nip mtu 5\r\n', 'c.conf').diagnostics.map((d) => [d.line, d.column]), [[2, 8]]);
});

test('no: negation restores IOS defaults and removes list entries', () => {
  const m = model(lines(
    'interface Tunnel0',
    ' ip nhrp holdtime 300',
    ' no ip nhrp holdtime',
    ' ip mtu 1400',
    ' no ip mtu',
    ' ip nhrp map 10.0.0.1 192.0.2.1',
    ' ip nhrp map 10.0.0.2 192.0.2.2',
    ' no ip nhrp map 10.0.0.1 192.0.2.1',
    ' ip nhrp nhs 10.0.0.2',
    ' no ip nhrp nhs 10.0.0.2',
    ' tunnel key 7',
    ' no tunnel key',
    ' tunnel path-mtu-discovery',
    ' no tunnel path-mtu-discovery',
    ' bandwidth 5',
    ' no bandwidth',
    ' ip nhrp shortcut',
    ' no ip nhrp shortcut',
    ' no ip redirects',
  ));
  const t = tunnels(m)[0];
  assert.equal(t.nhrp.holdtime, 7200);
  assert.equal(t.ipMtuConfigured, false);
  assert.equal(t.ipMtu, 1476, 'IOS default tunnel IP MTU over a 1500-byte underlay');
  assert.deepEqual(t.nhrp.staticMaps.map((x) => x.protocol), ['10.0.0.2']);
  assert.deepEqual(t.nhrp.nhs, []);
  assert.equal(t.tunnelKey, undefined);
  assert.equal(t.pathMtuDiscovery, false, 'IOS default: no PMTUD on the tunnel, outer DF clear');
  assert.equal(t.bandwidth, 100);
  assert.equal(t.nhrp.shortcut, false);
  assert.equal(t.ipRedirects, false);
  assert.equal(model(lines('interface Tunnel0', ' tunnel key 1')).interfaces[0].kind === 'tunnel' &&
    (model(lines('interface Tunnel0', ' tunnel key 1')).interfaces[0] as TunnelInterfaceConfig).ipMtu, 1472, 'a GRE key takes 4 more bytes');
  assert.deepEqual(model(lines('interface Tunnel0', 'no interface Tunnel0')).interfaces, []);
});

test('defaults: registration timeout is a third of the holdtime unless set', () => {
  assert.equal(tunnels(model(lines('interface Tunnel0', ' ip nhrp holdtime 450')))[0].nhrp.registrationTimeout, 150);
  assert.equal(tunnels(model(lines('interface Tunnel0')))[0].nhrp.registrationTimeout, 2400);
  const t = tunnels(model(lines('interface Tunnel0', ' ip nhrp registration timeout 60', ' ip nhrp holdtime 450')))[0];
  assert.equal(t.nhrp.registrationTimeout, 60);
  assert.equal(t.nhrp.registrationTimeoutConfigured, true);
});
