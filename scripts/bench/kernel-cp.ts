/**
 * Control-plane cost of the kernel dataplane: LinuxRtnetlink programming N NBMA neighbour entries
 * (overlay 10.0.x.y -> NBMA 198.18.x.y, permanent) on an ip_gre multipoint device and N onlink
 * NHRP routes (192.168.x.y/32 via those overlay addresses, protocol 191), then deleting them all,
 * three ways (netlink-bench.ts): each call awaited, 64 calls in flight, and the baseline measured
 * in the same run, `ip -batch` doing the same from a file. Then the XFRM figures
 * (scripts/bench/xfrm.ts) at min(N, 1000), since states and policies cost more in the VM.
 *
 *   node dist/scripts/bench/kernel-cp.js [N]    (default 10000, at most 65000; as root; ip_gre
 *                                               and esp4 live in the VM:
 *   node dist/scripts/vm/run.js --cpus 2 --mem 2048 -- node dist/scripts/bench/kernel-cp.js)
 *
 * The outer process makes the namespace and re-runs this file inside it (`--inner N`). Prints
 * figures only; never passes or fails on a time.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LinuxRtnetlink } from '../../platform/linux/rtnetlink.js';
import { RouteProtocol } from '../../platform/netlink-values.js';
import { measureInNamespace, PIPELINE_DEPTH, printRates, timedAwaited, timedIpBatch, timedPipelined, type Rates, type Timer } from './netlink-bench.js';
import { benchXfrm } from './xfrm.js';

const SELF = fileURLToPath(import.meta.url);
const DEV = 'gre1';
const UNDERLAY = 'kcp0';
const LOCAL = '203.0.113.1';
const MAX_N = 65_000;
const XFRM_MAX = 1000;
const TAG = 'kernel-cp bench';

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

function sh(args: string[]): void {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${(r.stderr || r.error?.message || '').trim()}`);
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
  const neighAdd = (i: number) => rt.replaceNeighbour({ dev: DEV, address: overlay(i), lladdr: nbma(i), state: 'permanent' });
  const routeAdd = (i: number) => rt.replaceRoute({ dst: prefix(i), gateway: overlay(i), dev: DEV, onlink: true, protocol: RouteProtocol.NHRP });
  const routeDel = (i: number) => rt.deleteRoute({ dst: prefix(i), dev: DEV, protocol: RouteProtocol.NHRP });
  const neighDel = (i: number) => rt.deleteNeighbour(DEV, overlay(i));
  /** Add neighbours, add routes, delete routes, delete neighbours, checking the kernel after each. */
  const round = async (timer: Timer): Promise<[number, number, number, number]> => {
    const nAdd = await timer(TAG, 'LinuxRtnetlink neighbours added', n, neighAdd);
    await expect('neighbours', countNeigh, n);
    const rAdd = await timer(TAG, 'LinuxRtnetlink routes added', n, routeAdd);
    await expect('routes', countRoutes, n);
    const rDel = await timer(TAG, 'LinuxRtnetlink routes deleted', n, routeDel);
    await expect('routes', countRoutes, 0);
    const nDel = await timer(TAG, 'LinuxRtnetlink neighbours deleted', n, neighDel);
    await expect('neighbours', countNeigh, 0);
    return [nAdd, rAdd, rDel, nDel];
  };
  try {
    const awaited = await round(timedAwaited);
    const pipelined = await round(timedPipelined);
    const ipNAdd = timedIpBatch(TAG, dir, 'neigh-replace', n, ipNeighAdd);
    await expect('neighbours (ip)', countNeigh, n);
    const ipRAdd = timedIpBatch(TAG, dir, 'route-replace', n, ipRouteAdd);
    await expect('routes (ip)', countRoutes, n);
    const ipRDel = timedIpBatch(TAG, dir, 'route-del', n, ipRouteDel);
    await expect('routes (ip)', countRoutes, 0);
    const ipNDel = timedIpBatch(TAG, dir, 'neigh-del', n, ipNeighDel);
    await expect('neighbours (ip)', countNeigh, 0);
    const three = (k: number, ip: number): Rates => ({ awaited: awaited[k]!, pipelined: pipelined[k]!, ip });
    return {
      n, kernel: release(),
      neighbours: { add: three(0, ipNAdd), delete: three(3, ipNDel) },
      routes: { add: three(1, ipRAdd), delete: three(2, ipRDel) },
    };
  } finally {
    rt.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function print(f: KernelCpFigures): void {
  console.log(`kernel-cp: ${f.n} neighbours and ${f.n} routes on ip_gre ${DEV} (multipoint, key 100), kernel ${f.kernel}; baseline ip -batch in the same run`);
  printRates('LinuxRtnetlink', [
    ['neighbours added', f.neighbours.add],
    ['neighbours deleted', f.neighbours.delete],
    ['routes added', f.routes.add],
    ['routes deleted', f.routes.delete],
  ]);
  console.log('(neighbours: 10.0.x.y lladdr 198.18.x.y permanent; routes: 192.168.x.y/32 via 10.0.x.y onlink proto 191;');
  console.log(` LinuxRtnetlink replace/delete, each call awaited before the next, or ${PIPELINE_DEPTH} calls in flight; ip -batch: one process reading a file)`);
}

/** Make a namespace, measure inside it, print the figures; the namespace is removed in any case. */
export async function benchKernelCp(n: number): Promise<KernelCpFigures> {
  if (!Number.isInteger(n) || n < 1 || n > MAX_N) throw new Error(`N must be 1-${MAX_N}, not ${n}`);
  const f = measureInNamespace<KernelCpFigures>('kcpbench', SELF, n);
  print(f);
  return f;
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
