/** The raw IP socket in a namespace pair: multicast and unicast both ways, bad input refused. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRoot, needsTool } from '../../support/tools.js';

const opts = !isRoot() && process.env.CI !== 'true' ? { skip: 'needs root for network namespaces' } : needsTool('ip');
const here = dirname(fileURLToPath(import.meta.url));

function sh(...a: string[]) {
  const r = spawnSync(a[0], a.slice(1), { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`${a.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('raw socket: protocol 88 multicast to 224.0.0.10 and unicast reply across a veth', { ...opts, timeout: 30_000 }, () => {
  const p = `rs${process.pid % 100000}`;
  const a = `${p}a`;
  const b = `${p}b`;
  try {
    sh('ip', 'netns', 'add', a);
    sh('ip', 'netns', 'add', b);
    sh('ip', '-n', a, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v0', 'netns', b);
    sh('ip', '-n', a, 'addr', 'add', '192.168.50.1/24', 'dev', 'v0');
    sh('ip', '-n', b, 'addr', 'add', '192.168.50.2/24', 'dev', 'v0');
    sh('ip', '-n', a, 'link', 'set', 'v0', 'up');
    sh('ip', '-n', b, 'link', 'set', 'v0', 'up');
    const fixture = join(here, 'fixtures', 'raw-peer.js');
    // b listens and answers each multicast with a unicast; a sends and waits for the answer.
    const listener = spawnSync('sh', ['-c',
      `ip netns exec ${b} node ${fixture} listen & sleep 0.5; ip netns exec ${a} node ${fixture} send; wait`], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(listener.status, 0, listener.stderr);
    assert.match(listener.stdout, /listener got 16 bytes from 192\.168\.50\.1 to 224\.0\.0\.10 ttl 2 proto 88/);
    assert.match(listener.stdout, /sender got a reply from 192\.168\.50\.2: hello back/);
    assert.match(listener.stdout, /bad dst refused: ERR_INVALID_ADDRESS/);
    assert.match(listener.stdout, /unknown device refused: ENODEV/);
  } finally {
    spawnSync('ip', ['netns', 'del', a]);
    spawnSync('ip', ['netns', 'del', b]);
  }
});
