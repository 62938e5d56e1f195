/**
 * LinuxRtnetlink with many requests in flight, and its device index cache, in a network
 * namespace made and removed here (fixtures/rtnetlink-pipeline-run.ts runs inside it): every
 * request keeps its own errno and names its own object, what the kernel holds afterwards is what
 * was asked, and a device deleted, re-created or renamed behind the port's back is never
 * programmed by a stale index.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRoot, needsTool } from '../../support/tools.js';

const runner = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'rtnetlink-pipeline-run.js');
const asRoot = isRoot() ? needsTool('ip') : { skip: 'needs root (creates a network namespace)' };

interface Transcript {
  routeAdds: string[];
  neighbourAdds: string[];
  ipRoutes: number;
  ipNeighbours: number;
  routeDeletes: string[];
  listed: number;
  routesLeft: number;
  indexChanged: boolean;
  recreated: string;
  recreatedOn: string[];
  renamedOld: string;
  renamedNew: string;
  ownRecreate: string;
}

test('rtnetlink pipeline: requests in flight together keep their own errors; the index cache never uses a stale index', { ...asRoot, timeout: 120_000 }, () => {
  const ns = `rtpipe-${process.pid}`;
  const ip = (...args: string[]) => spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  ip('netns', 'del', ns);
  assert.equal(ip('netns', 'add', ns).status, 0);
  try {
    for (const args of [['link', 'set', 'lo', 'up'], ['link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1'], ['link', 'set', 'v0', 'up'], ['link', 'set', 'v1', 'up'], ['address', 'add', '10.0.0.1/24', 'dev', 'v0']]) {
      const r = ip('-n', ns, ...args);
      assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
    }
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, runner], { encoding: 'utf8', timeout: 90_000 });
    assert.equal(r.status, 0, `fixture failed (status ${r.status}):\n${r.stderr}`);
    const t = JSON.parse(r.stdout) as Transcript;

    const N = 48;
    const failedAdds = t.routeAdds.map((o, i) => [i, o] as const).filter(([, o]) => o !== 'ok');
    assert.deepEqual(failedAdds, [
      [7, 'netlink EEXIST: adding route 192.168.7.0/24 via 10.0.0.17 dev v0: File exists (EEXIST)'],
      [30, 'netlink EEXIST: adding route 192.168.30.0/24 via 10.0.0.40 dev v0: File exists (EEXIST)'],
    ]);
    const failedNeighbours = t.neighbourAdds.map((o, i) => [i, o] as const).filter(([, o]) => o !== 'ok');
    assert.equal(failedNeighbours.length, 1);
    assert.equal(failedNeighbours[0]![0], 5);
    assert.match(failedNeighbours[0]![1], /^netlink EINVAL: adding neighbour 10\.0\.0\.15 .*v0 has 6-byte link-layer addresses, 4 given/);
    assert.equal(t.ipRoutes, N, 'ip sees every route (46 ours, 2 there before)');
    assert.equal(t.ipNeighbours, N - 1);
    // listRoutes is a link dump, then a route dump asked for once the first ends: by then the
    // deletes called beside it are queued, and the dump, going alone, sees all of them done.
    assert.equal(t.listed, 0, 'a listing among pipelined deletes answers whole, after them');
    assert.deepEqual(t.routeDeletes.slice(0, N), Array(N).fill('ok'));
    assert.deepEqual(t.routeDeletes.slice(N).map((o) => o.split(':')[0]), ['netlink ESRCH', 'netlink ESRCH']);
    assert.match(t.routeDeletes[N]!, /deleting route 192\.168\.48\.0\/24 dev v0: No such process/);
    assert.equal(t.routesLeft, 0);

    assert.equal(t.indexChanged, true, 'v0 came back with another index');
    assert.equal(t.recreated, 'ok', 'a stale cached index is retried after a fresh lookup');
    assert.deepEqual(t.recreatedOn, ['v0']);
    assert.match(t.renamedOld, /^netlink ENODEV: adding route 192\.168\.202\.0\/24 dev v0/, 'not programmed on the renamed device');
    assert.equal(t.renamedNew, 'ok');
    assert.equal(t.ownRecreate, 'ok', 'our own delete and create need no notification');
  } finally {
    const del = ip('netns', 'del', ns);
    assert.equal(del.status, 0, `ip netns del ${ns}: ${del.stderr}`);
  }
});
