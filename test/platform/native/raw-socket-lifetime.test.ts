/**
 * The raw IP socket's lifetime (src/rawsock.cc): its state outlives close() until the JavaScript
 * handle is collected, so a send after close is a clear EBADF (not a use of freed memory), the
 * collection after close is harmless, and a worker that ends with a socket open tears it down
 * through the async cleanup hook instead of crashing the process. Each case runs in a child
 * process (with --expose-gc), so a crash shows as its exit status.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { isRoot } from '../../support/tools.js';
import { nativeAvailable } from '../../../platform/native/index.js';

const opts = !nativeAvailable() ? { skip: 'native addon not built (npm run build:native)' }
  : !isRoot() && process.env.CI !== 'true' ? { skip: 'needs CAP_NET_RAW for a raw socket' } : {};
const RAW = new URL('../../../platform/native/raw-socket.js', import.meta.url).href;
/** An experimental IP protocol number (RFC 3692): nothing else on lo speaks it. */
const PROTO = 253;

function runChild(body: string): { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string } {
  const script = `import(${JSON.stringify(RAW)}).then(async ({ RawIpSocket }) => {\n${body}\n}).catch((e) => { console.error(e); process.exit(3); });`;
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=commonjs', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

test('raw socket: send after close throws EBADF; collecting closed and open sockets is clean', opts, () => {
  const r = runChild(`
    const a = RawIpSocket.open({ protocol: ${PROTO}, device: 'lo', onPacket: () => {} });
    a.close();
    try { a.send('127.0.0.1', new Uint8Array(8)); console.log('sent'); } catch (e) { console.log('after close:', e.code, e.syscall, e.message); }
    a.close();
    // Many closed and unclosed handles for the collector: each is freed once, after its poll handle closed.
    for (let i = 0; i < 50; i++) {
      const s = RawIpSocket.open({ protocol: ${PROTO}, device: 'lo', onPacket: () => {} });
      if (i % 2 === 0) s.close();
    }
    for (let i = 0; i < 5; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); }
    // The earlier handle is still usable to ask: it throws the same error again.
    try { a.send('127.0.0.1', new Uint8Array(8)); } catch (e) { console.log('again:', e.code); }
    console.log('done');
    // Uncollected open sockets keep the loop alive, as any open socket does.
    process.exit(0);`);
  assert.equal(r.signal, null, `the child died of ${r.signal}: ${r.stderr}`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^after close: EBADF sendto sendto failed: Bad file descriptor \(EBADF\)$/m);
  assert.match(r.stdout, /^again: EBADF$/m);
  assert.match(r.stdout, /^done$/m);
});

test('raw socket: a worker that exits or is terminated with a socket open leaves the process whole', opts, () => {
  const r = runChild(`
    const { Worker } = require('node:worker_threads');
    const code = \`
      const { parentPort } = require('node:worker_threads');
      import(${JSON.stringify(RAW)}).then(({ RawIpSocket }) => {
        const s = RawIpSocket.open({ protocol: ${PROTO}, device: 'lo', onPacket: () => {} });
        parentPort.on('message', () => process.exit(5));
        parentPort.postMessage('open');
      });\`;
    for (const terminate of [false, true, false]) {
      const w = new Worker(code, { eval: true });
      const exited = new Promise((res) => w.once('exit', res));
      await new Promise((res, rej) => { w.once('message', res); w.once('error', rej); });
      if (terminate) await w.terminate(); else w.postMessage('exit');
      console.log('worker exit', await exited);
    }
    globalThis.gc();
    console.log('done');`);
  assert.equal(r.signal, null, `the child died of ${r.signal}: ${r.stderr}`);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['worker exit 5', 'worker exit 1', 'worker exit 5', 'done']);
});
