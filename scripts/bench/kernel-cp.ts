/**
 * Control-plane cost of the kernel dataplane: LinuxRtnetlink programming N NBMA neighbour entries
 * (overlay 10.0.x.y -> NBMA 198.18.x.y, permanent) on an ip_gre multipoint device and N onlink
 * NHRP routes (192.168.x.y/32 via those overlay addresses, protocol 191), then deleting them all,
 * against a baseline measured in the same run: `ip -batch` doing the same from a file (one
 * process, one request and one ACK per line, like us). Then the XFRM figures (scripts/bench/xfrm.ts)
 * at min(N, 1000), since states and policies go at only tens to hundreds per second in the VM.
 *
 *   node dist/scripts/bench/kernel-cp.js [N]    (default 10000, at most 65000; as root; ip_gre
 *                                               and esp4 live in the VM:
 *   node dist/scripts/vm/run.js --cpus 2 --mem 2048 -- node dist/scripts/bench/kernel-cp.js)
 *
 * The outer process makes the namespace and re-runs this file inside it (`--inner N`): a netlink
 * socket belongs to the namespace of the process that opens it. Prints figures only; never passes
 * or fails on a time.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LinuxRtnetlink } from '../../platform/linux/rtnetlink.js';
import { RouteProtocol } from '../../platform/netlink-values.js';
import { benchXfrm } from './xfrm.js';

const SELF = fileURLToPath(import.meta.url);
const DEV = 'gre1';
const UNDERLAY = 'kcp0';
const LOCAL = '203.0.113.1';
const MAX_N = 65_000;
const XFRM_MAX = 1000;

export interface Rates {
  readonly ours: number;
  readonly ip: number;
}

export interface KernelCpFigures {
  readonly n: number;
  readonly kernel: string;
  readonly neighbours: { readonly add: Rates; readonly delete: Rates };
  readonly routes: { readonly add: Rates; readonly delete: Rates };
}

/** Index i as the two low octets; +2 keeps 10.0.0.0 and our own 10.0.0.1 out of the neighbours. */
const low = (i: number): [number, number] => [((i + 2) >> 8) & 0xff, (i + 2) & 0xff];
const overlay = (i: number): string => `10.0.${low(i).join('.')}`;
const nbma = (i: number): Uint8Array => Uint8Array.of(198, 18, ...low(i));
const nbmaText = (i: number): string => `198.18.${low(i).join('.')}`;
const prefix = (i: number): string => `192.168.${(i >> 8) & 0xff}.${i & 0xff}/32`;

const ipNeighAdd = (i: number) => `neigh replace ${overlay(i)} lladdr ${nbmaText(i)} dev ${DEV} nud permanent`;
const ipNeighDel = (i: number) => `neigh del ${overlay(i)} dev ${DEV}`;
const ipRouteAdd = (i: number) => `route replace ${prefix(i)} via ${overlay(i)} dev ${DEV} onlink proto ${RouteProtocol.NHRP}`;
const ipRouteDel = (i: number) => `route del ${prefix(i)} dev ${DEV} proto ${RouteProtocol.NHRP}`;

function progress(what: string, n: number, seconds: number): void {
  process.stderr.write(`kernel-cp bench: ${what}: ${n} in ${seconds.toFixed(2)} s\n`);
}

function sh(args: string[]): void {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${(r.stderr || r.error?.message || '').trim()}`);
}

/** n operations through the port, each awaited before the next (as the daemon issues them). */
async function timed(what: string, n: number, op: (i: number) => Promise<void>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await op(i);
  const s = (performance.now() - t0) / 1000;
  progress(what, n, s);
  return n / s;
}

function timedBatch(dir: string, name: string, n: number, line: (i: number) => string): number {
  const file = join(dir, name);
  writeFileSync(file, Array.from({ length: n }, (_, i) => line(i)).join('\n') + '\n');
  const t0 = performance.now();
  const r = spawnSync('ip', ['-batch', file], { encoding: 'utf8', timeout: 600_000 });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`ip -batch ${name} failed: ${(r.stderr || r.error?.message || '').split('\n')[0]}`);
  progress(`ip -batch ${name}`, n, s);
  return n / s;
}

/** The underlay (a dummy holding 203.0.113.1) and the mGRE device: no remote makes it multipoint. */
function buildDevices(): void {
  // Permanent entries are outside neighbour GC since Linux 4.19, so gc_thresh3 (default 1024)
  // does not cap N; the knobs exist only in the initial namespace, so there is nothing to raise here.
  sh(['ip', 'link', 'set', 'lo', 'up']);
  sh(['ip', 'link', 'add', UNDERLAY, 'type', 'dummy']);
  sh(['ip', 'address', 'add', `${LOCAL}/24`, 'dev', UNDERLAY]);
  sh(['ip', 'link', 'set', UNDERLAY, 'up']);
  sh(['ip', 'link', 'add', DEV, 'type', 'gre', 'local', LOCAL, 'key', '100', 'ttl', '255']);
  sh(['ip', 'link', 'set', DEV, 'up']);
  sh(['ip', 'address', 'add', '10.0.0.1/16', 'dev', DEV]);
}

/** Inside the namespace: the measurements, as JSON on stdout. */
async function inner(n: number): Promise<KernelCpFigures> {
  buildDevices();
  const rt = new LinuxRtnetlink({ timeoutMs: 60_000 });
  const dir = mkdtempSync(join(tmpdir(), 'kernel-cp-bench-'));
  const countNeigh = async (): Promise<number> =>
    (await rt.listNeighbours(DEV)).filter((x) => x.state === 'permanent').length;
  const countRoutes = async (): Promise<number> => (await rt.listRoutes({ protocol: RouteProtocol.NHRP })).length;
  const expect = async (what: string, count: () => Promise<number>, want: number): Promise<void> => {
    const have = await count();
    if (have !== want) throw new Error(`${have} ${what} installed, ${want} expected`);
  };
  try {
    const nAdd = await timed('LinuxRtnetlink neighbours added', n, (i) =>
      rt.replaceNeighbour({ dev: DEV, address: overlay(i), lladdr: nbma(i), state: 'permanent' }));
    await expect('neighbours', countNeigh, n);
    const rAdd = await timed('LinuxRtnetlink routes added', n, (i) =>
      rt.replaceRoute({ dst: prefix(i), gateway: overlay(i), dev: DEV, onlink: true, protocol: RouteProtocol.NHRP }));
    await expect('routes', countRoutes, n);
    const rDel = await timed('LinuxRtnetlink routes deleted', n, (i) =>
      rt.deleteRoute({ dst: prefix(i), dev: DEV, protocol: RouteProtocol.NHRP }));
    await expect('routes', countRoutes, 0);
    const nDel = await timed('LinuxRtnetlink neighbours deleted', n, (i) => rt.deleteNeighbour(DEV, overlay(i)));
    await expect('neighbours', countNeigh, 0);

    const ipNAdd = timedBatch(dir, 'neigh-replace', n, ipNeighAdd);
    await expect('neighbours (ip)', countNeigh, n);
    const ipRAdd = timedBatch(dir, 'route-replace', n, ipRouteAdd);
    await expect('routes (ip)', countRoutes, n);
    const ipRDel = timedBatch(dir, 'route-del', n, ipRouteDel);
    await expect('routes (ip)', countRoutes, 0);
    const ipNDel = timedBatch(dir, 'neigh-del', n, ipNeighDel);
    await expect('neighbours (ip)', countNeigh, 0);
    return {
      n, kernel: release(),
      neighbours: { add: { ours: nAdd, ip: ipNAdd }, delete: { ours: nDel, ip: ipNDel } },
      routes: { add: { ours: rAdd, ip: ipRAdd }, delete: { ours: rDel, ip: ipRDel } },
    };
  } finally {
    rt.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const rate = (x: number): string => `${Math.round(x).toLocaleString('en-US')}/s`;

function print(f: KernelCpFigures): void {
  console.log(`kernel-cp: ${f.n} neighbours and ${f.n} routes on ip_gre ${DEV} (multipoint, key 100), kernel ${f.kernel}; baseline ip -batch in the same run`);
  console.log(`${''.padEnd(20)}${'LinuxRtnetlink'.padStart(15)}${'ip -batch'.padStart(12)}${'ratio'.padStart(8)}`);
  const row = (what: string, r: Rates) =>
    console.log(`${what.padEnd(20)}${rate(r.ours).padStart(15)}${rate(r.ip).padStart(12)}${(r.ours / r.ip).toFixed(2).padStart(8)}`);
  row('neighbours added', f.neighbours.add);
  row('neighbours deleted', f.neighbours.delete);
  row('routes added', f.routes.add);
  row('routes deleted', f.routes.delete);
  console.log('(neighbours: 10.0.x.y lladdr 198.18.x.y permanent; routes: 192.168.x.y/32 via 10.0.x.y onlink proto 191;');
  console.log(' LinuxRtnetlink: replace/delete, one request at a time, each awaited; ip -batch: one process reading a file; ratio: LinuxRtnetlink / ip -batch)');
}

/** Make a namespace, measure inside it, print the figures; the namespace is removed in any case. */
export async function benchKernelCp(n: number): Promise<KernelCpFigures> {
  if (!Number.isInteger(n) || n < 1 || n > MAX_N) throw new Error(`N must be 1-${MAX_N}, not ${n}`);
  const ns = `kcpbench-${process.pid}`;
  const add = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8' });
  if (add.status !== 0) throw new Error(`ip netns add ${ns}: ${add.stderr || add.error?.message} (root needed)`);
  try {
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, SELF, '--inner', String(n)], {
      encoding: 'utf8', timeout: 1_800_000, maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (r.status !== 0) throw new Error(`the measurement failed (status ${r.status})${r.error ? `: ${r.error.message}` : ''}`);
    const f = JSON.parse(r.stdout) as KernelCpFigures;
    print(f);
    return f;
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
}

if (process.argv[1] === SELF) {
  const args = process.argv.slice(2);
  if (args[0] === '--inner') {
    process.stdout.write(`${JSON.stringify(await inner(Number(args[1])))}\n`);
  } else {
    const n = args[0] === undefined ? 10_000 : Number(args[0]);
    try {
      await benchKernelCp(n);
      const xn = Math.min(n, XFRM_MAX);
      console.log(`\nxfrm at N = ${xn}${xn < n ? ` (not ${n}: states and policies go at tens to hundreds per second in the VM)` : ''}:`);
      const x = await benchXfrm(xn);
      process.exitCode = x.statesError === undefined ? 0 : 2;
    } catch (e) {
      console.error(`kernel-cp bench: ${(e as Error).message}`);
      process.exitCode = 1;
    }
  }
}
