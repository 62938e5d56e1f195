/**
 * Pre-shared keys and other secrets never show: not in error messages (even
 * when the mistake is next to the key), not in JSON, util.inspect, String() or
 * the redacted running-config; the protocol code gets them with reveal().
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  parseConfig, renderRunningConfig, loadConfig, ConfigError, Secret, ALL_CAPABILITIES, tunnels, formatDiagnostics,
} from '../../../daemon/config/index.js';
import { fixture, lines } from './helpers.js';

const KEY = 'Cisco123';

test('secrets: the model holds them as Secret; every printable view hides them', () => {
  const m = parseConfig(fixture('hub.conf'), 'hub.conf').model;
  const psk = m.crypto.keyrings[0].peers[0].presharedKey;
  assert.ok(psk instanceof Secret);
  assert.equal(psk.reveal(), KEY);
  assert.equal(tunnels(m)[0].nhrp.authentication?.reveal(), KEY);
  for (const shown of [JSON.stringify(m), inspect(m, { depth: null }), String(psk), `${psk}`, renderRunningConfig(m), renderRunningConfig(m, { redact: true })]) {
    assert.ok(!shown.includes(KEY), shown.slice(0, 200));
  }
  assert.match(JSON.stringify(m), /"presharedKey":"<removed>"/);
  assert.match(renderRunningConfig(m), /^ {2}pre-shared-key <removed>$/m);
  assert.match(renderRunningConfig(m, { redact: false }), /^ {2}pre-shared-key Cisco123$/m);
  assert.ok(psk.equals(new Secret(KEY)) && !psk.equals(new Secret('other')));
});

test('secrets: error messages around a key never repeat it', () => {
  const text = lines(
    'crypto ikev2 keyring k',
    ' peer p',
    '  pre-shared-key Cisco123 trailing',
    '  pre-shared-key local Cisco123 456',
    '  pre-shared-kye Cisco123',
    'interface Tunnel0',
    ' ip nhrp authentication Cisco123456',
    ' pre-shared-key Cisco123',
    ' ip authentication mode eigrp 1 hmac-sha-256 Cisco123 x',
    'key chain kc',
    ' key 1',
    '  key-string Cisco123 Cisco123',
    'ip nhrp authentication Cisco123',
  );
  const r = parseConfig(text, 's.conf');
  const out = formatDiagnostics(r.diagnostics);
  assert.equal(out, [
    's.conf:3:27: unexpected extra input after a secret (not shown)',
    's.conf:4:33: unexpected extra input after a secret (not shown)',
    's.conf:5:3: unknown command "pre-shared-kye"; did you mean "pre-shared-key"?',
    's.conf:7:25: the secret is longer than 8 characters (value not shown)',
    's.conf:8:2: "pre-shared-key" is not valid in interface mode (config-if); it belongs in keyring peer mode (config-ikev2-keyring-peer)',
    's.conf:9:55: unexpected extra input after a secret (not shown)',
    's.conf:12:23: unexpected extra input after a secret (not shown)',
    's.conf:13:1: "ip nhrp authentication" is not valid in key chain key mode (config-keychain-key); it belongs in interface mode (config-if) (the config-if block ended at line 10)',
  ].join('\n'));
  assert.ok(!out.includes('Cisco'));
  assert.ok(!out.includes('trailing') && !out.includes('456'), 'words after a secret may be part of it');
  assert.ok(!JSON.stringify(r.model.featureUses).includes('Cisco'));
});

test('secrets: a ConfigError from loadConfig never carries the key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dmvpn-cfg-'));
  try {
    const f = join(dir, 'bad.conf');
    writeFileSync(f, lines('crypto ikev2 keyring k', ' peer p', '  pre-shared-key Cisco123 oops', 'interface Tunnel0', ' ip nhrp authentication Cisco1234'));
    assert.throws(() => loadConfig(f, ALL_CAPABILITIES), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.ok(!e.message.includes('Cisco') && !inspect(e).includes('Cisco') && !JSON.stringify(e.diagnostics).includes('Cisco'));
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
