/** loadConfig (ConfigError, code 'config') and `dmvpnd --check FILE` (checkCommand). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, checkCommand, ConfigError, ALL_CAPABILITIES } from '../../../daemon/config/index.js';
import { FIXTURES, lines } from './helpers.js';

function withFile(text: string, fn: (path: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'dmvpn-check-'));
  try {
    const f = join(dir, 'dmvpn.conf');
    writeFileSync(f, text);
    fn(f);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('loadConfig: errors throw one ConfigError with code "config" and FILE:LINE:COL lines', () => {
  withFile(lines('interface Tunnel0', ' ip mtu 99999', ' ip nhrp network-id 1', 'router eigrp 1'), (f) => {
    assert.throws(() => loadConfig(f, ['nhrp']), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.code, 'config');
      assert.equal(e.name, 'ConfigError');
      assert.equal(e.message, [
        `${f}:1:1: Tunnel0: point-to-point GRE ("tunnel mode gre ip", the IOS default) is not implemented in this version; use "tunnel mode gre multipoint"`,
        `${f}:1:1: Tunnel0 has no "ip address"`,
        `${f}:1:1: Tunnel0 has no "tunnel source"`,
        `${f}:2:9: "99999" is out of range 68-17912`,
        `${f}:4:1: "router eigrp" (EIGRP) is not implemented in this version`,
      ].join('\n'));
      assert.equal(e.diagnostics.length, 5);
      return true;
    });
  });
});

test('loadConfig: a file that cannot be read is a ConfigError too', () => {
  assert.throws(() => loadConfig('/nonexistent/dmvpn.conf', ALL_CAPABILITIES), (e: unknown) =>
    e instanceof ConfigError && e.code === 'config' && e.message === '/nonexistent/dmvpn.conf:1:1: cannot read the configuration: ENOENT');
});

test('loadConfig: warnings come back with the model', () => {
  const { model, warnings } = loadConfig(`${FIXTURES}hub.conf`, ALL_CAPABILITIES);
  assert.equal(model.hostname, 'hub');
  assert.deepEqual(warnings.map((w) => [w.severity, w.line]), [['warning', 39]]);
});

test('checkCommand: prints every diagnostic and a summary, returns 0 for a valid file and 1 otherwise', () => {
  let out = '';
  const write = (t: string): void => void (out += t);
  assert.equal(checkCommand(`${FIXTURES}spoke1.conf`, ALL_CAPABILITIES, write), 0);
  assert.equal(out, `${FIXTURES}spoke1.conf: configuration OK\n`);

  out = '';
  assert.equal(checkCommand(`${FIXTURES}hub.conf`, ALL_CAPABILITIES, write), 0);
  assert.match(out, /hub\.conf:39:5: warning: "ip redirect" is "ip redirects"/);
  assert.match(out, /hub\.conf: configuration OK, 1 warning\n$/);

  out = '';
  assert.equal(checkCommand(`${FIXTURES}hub.conf`, ['nhrp', 'eigrp'], write), 1);
  assert.match(out, /: 4 errors, 1 warning\n$/);

  out = '';
  assert.equal(checkCommand('/nonexistent.conf', ALL_CAPABILITIES, write), 1);
  assert.equal(out, '/nonexistent.conf:1:1: cannot read the configuration: ENOENT\n');
});
