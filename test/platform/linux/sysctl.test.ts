import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeSysctl } from '../../../platform/linux/sysctl.js';

test('sysctl: a setting that does not exist is a logged failure, not an exception', () => {
  const warnings: string[] = [];
  const ok = writeSysctl('net/ipv4/conf/no-such-interface0/send_redirects', '0', { warn: (_f, m) => warnings.push(m) });
  assert.equal(ok, false);
  assert.deepEqual(warnings, ['could not set net.ipv4.conf.no-such-interface0.send_redirects=0']);
});
