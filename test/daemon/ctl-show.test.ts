/**
 * `dmvpnctl show … --timeout S`: how long the operator's tool waits for the daemon's answer
 * (5 s by default; counter-reading shows on a loaded machine can take longer), and a clear usage
 * error for a value that is not a number of seconds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../support/vectors.js';

function dmvpnctl(...args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [join(projectRoot, 'bin', 'dmvpnctl.js'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('close', (status) => resolve({ status, stderr }));
  });
}

test('dmvpnctl show --timeout: a daemon that never answers is given up on after the given time', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctl-timeout-'));
  const path = join(dir, 'silent.sock');
  const held: Socket[] = [];
  const server = createServer((s) => void held.push(s));
  await new Promise<void>((r) => server.listen(path, r));
  try {
    const r = await dmvpnctl('show', 'dmvpn', '--socket', path, '--timeout', '0.4');
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim(), `dmvpnctl: no answer from dmvpnd on ${path} within 400 ms`);
  } finally {
    for (const s of held) s.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dmvpnctl show --timeout: not a number of seconds is a usage error (exit 2, one line)', async () => {
  for (const [value, shown] of [['abc', '"abc"'], ['0', '"0"'], ['-1', '"-1"'], ['99999', '"99999"'], [undefined, 'nothing']] as const) {
    const r = await dmvpnctl('show', 'dmvpn', '--socket', '/nonexistent/x.sock', ...(value === undefined ? ['--timeout'] : ['--timeout', value]));
    assert.equal(r.status, 2, `--timeout ${value}`);
    assert.equal(r.stderr.trim(), `dmvpnctl: --timeout needs seconds between 0 and 3600, got ${shown}`);
  }
});
