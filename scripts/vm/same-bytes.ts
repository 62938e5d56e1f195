/**
 * The same DMVPN exchange on each dataplane, captured on the underlay, so that the two captures
 * can be compared byte for byte (scripts/vm/wire-compare.ts). The kernel dataplane needs ip_gre,
 * so this runs inside the kernel VM:
 *
 *   npm run vm -- --cpus 2 --mem 2048 --timeout 1500 -- node dist/scripts/vm/same-bytes.js \
 *     [--dataplanes userspace,kernel] [--json]
 *
 * (`--dataplanes userspace,userspace` runs natively on a host without ip_gre: two runs of one
 * dataplane must match too, which is how the masks were found.)
 *
 * The exchange, in the reference lab (scripts/lab/topology.ts) with `tunnel dataplane <d>` on
 * every tunnel, hub and two spokes (spoke3's namespaces exist but its daemon does not run):
 *   1. tcpdump on the bridge ports of the hub (u0) and of spoke2 (u2): GRE only;
 *   2. the hub starts; spoke1 starts, registers, and its EIGRP adjacency comes up and converges;
 *      then spoke2 the same (one at a time, so that the EIGRP updates carry the same routes
 *      in every run);
 *   3. host h2 pings host h1 once (ToS 0xb8, so the outer ToS copy shows): Phase 3 sends it
 *      through the hub, whose Traffic Indications make both spokes resolve each other;
 *   4. once both spokes hold the shortcut, h2 pings h1 again: straight from spoke to spoke.
 * NO IPsec: ESP ciphertexts differ between any two runs by design (fresh keys and IVs), so the
 * comparison is over clear GRE; the IPsec labs check ESP separately.
 *
 * Output: a transcript on stderr; the comparison report on stdout, or with --json one JSON
 * document { runs: [{ dataplane, points: [{ point, pcap (base64) }], error? }] } for a host test
 * to compare and dissect with tshark. Exit status 0 when both runs completed and compared equal.
 * Everything made is removed at the end, on failure and on SIGINT/SIGTERM too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, labTimeScale, type RouterName } from '../lab/topology.js';
import { parseCapture, stripLink } from '../../daemon/capture/pcap.js';
import { classesOf, compareRuns, renderReport, type PointCapture, type Run } from './wire-compare.js';

type Dataplane = 'userspace' | 'kernel';

/** Capture points: the bridge port of each router's underlay veth. */
const POINTS: readonly { point: RouterName; port: string }[] = [
  { point: 'hub', port: 'u0' },
  { point: 'spoke2', port: 'u2' },
];
/** What the exchange must have put on the wire in each run (else there is nothing to compare). */
export const REQUIRED_CLASSES = [
  'nhrp registration request', 'nhrp registration reply', 'nhrp resolution request', 'nhrp resolution reply',
  'nhrp traffic indication', 'eigrp hello', 'eigrp update', 'icmp echo request', 'icmp echo reply',
] as const;

/** The required classes that a run lacks. */
export function missingClasses(run: Run): string[] {
  const seen = classesOf(run);
  return REQUIRED_CLASSES.filter((c) => !seen.has(c));
}

/** The echo's ToS (DSCP EF): Cisco copies the inner ToS to the GRE header by default. */
const PING_TOS = '0xb8';

export interface SameBytesRun {
  readonly dataplane: Dataplane;
  /** Each point's capture as a pcap file, base64. */
  readonly points: readonly { readonly point: string; readonly pcap: string }[];
  readonly error?: string;
}

function say(s: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${s}\n`);
}

interface Routes { code: string; prefix: string; nextHop: string | null }
interface Dmvpn { peers: { tunnel: string; state: string }[] }

function routes(lab: Lab, r: RouterName): Routes[] {
  return lab.ctlJson<Routes[]>(r, ['show', 'ip', 'route']) ?? [];
}

function hasRoute(lab: Lab, r: RouterName, code: string, prefix: string, nextHop?: string): boolean {
  return routes(lab, r).some((x) => x.code === code && x.prefix === prefix && (nextHop === undefined || x.nextHop === nextHop));
}

function upAtHub(lab: Lab, tunnel: string): boolean {
  return !!lab.ctlJson<Dmvpn[]>('hub', ['show', 'dmvpn'])?.[0]?.peers.some((p) => p.tunnel === tunnel && p.state === 'UP');
}

/** The run in progress, for the signal handler to clean up. */
let active: { lab: Lab; dumps: ChildProcess[] } | undefined;

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms * labTimeScale()));

/** tcpdump on a bridge port, started and listening (it says so on stderr) before we go on. */
async function startCapture(lab: Lab, port: string, file: string): Promise<ChildProcess> {
  const c = spawn('ip', ['netns', 'exec', lab.ns('ul'), 'tcpdump', '-n', '-i', port, '-s', '0', '-U', '--immediate-mode', '-w', file, 'ip proto 47'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  await new Promise<void>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`tcpdump on ${port} did not start: ${err}`)), 30_000 * labTimeScale());
    c.stderr!.on('data', (d: Buffer) => {
      err += String(d);
      if (/listening on/.test(err)) { clearTimeout(t); res(); }
    });
    c.once('exit', (code) => { clearTimeout(t); rej(new Error(`tcpdump on ${port} exited (${code}): ${err}`)); });
  });
  return c;
}

async function stopCapture(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null) return;
  const done = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGINT');
  const t = setTimeout(() => c.kill('SIGKILL'), 10_000 * labTimeScale());
  await done;
  clearTimeout(t);
}

/** Start a spoke and wait for its registration and its EIGRP convergence with what is up already. */
async function bringUpSpoke(lab: Lab, r: 'spoke1' | 'spoke2', lans: readonly number[]): Promise<void> {
  const i = Number(r.slice(-1));
  lab.startDaemon(r);
  await lab.waitFor(`${r} registered at the hub`, () => upAtHub(lab, `10.0.0.1${i}`), 60_000);
  await lab.waitFor(`${r}'s EIGRP routes`, () =>
    lans.filter((l) => l !== i).every((l) => hasRoute(lab, r, 'D', `192.168.${l}.0`)) &&
    hasRoute(lab, 'hub', 'D', `192.168.${i}.0`) &&
    lans.filter((l) => l !== i && l !== 0).every((l) => hasRoute(lab, `spoke${l}` as RouterName, 'D', `192.168.${i}.0`)), 60_000);
  say(`${r}: registered, EIGRP converged`);
}

/** One run of the exchange on one dataplane; the captures come back even when a step failed. */
export async function runExchange(dataplane: Dataplane, tag: string): Promise<SameBytesRun> {
  const lab = new Lab(`sb${process.pid % 10000}${tag}`, undefined, { dataplane });
  const dumps: ChildProcess[] = [];
  let error: string | undefined;
  const files = POINTS.map((p) => ({ ...p, file: join(lab.dir, `${p.point}.pcap`) }));
  active = { lab, dumps };
  try {
    say(`${dataplane}: building the lab (${lab.prefix})`);
    lab.build();
    for (const f of files) dumps.push(await startCapture(lab, f.port, f.file));
    lab.startDaemon('hub');
    await lab.waitFor('the hub\'s control socket', () => lab.ctlJson<Dmvpn[]>('hub', ['show', 'dmvpn']) !== undefined, 60_000);
    say(`${dataplane}: hub up`);
    await bringUpSpoke(lab, 'spoke1', [0, 1]);
    await bringUpSpoke(lab, 'spoke2', [0, 1, 2]);
    // Let the acknowledgments of the last updates go out before the data exchange.
    await pause(2000);
    const ping = ['ping', '-n', '-c', '1', '-W', '5', '-Q', PING_TOS, '192.168.1.10'];
    const first = lab.exec('h2', ping, { check: false, timeoutMs: 20_000 });
    say(`${dataplane}: first ping (through the hub): status ${first.status}`);
    if (first.status !== 0) throw new Error(`the first ping failed: ${first.stdout}${first.stderr}`);
    await lab.waitFor('the shortcuts on both spokes', () =>
      hasRoute(lab, 'spoke2', 'H', '192.168.1.0', '10.0.0.11') && hasRoute(lab, 'spoke1', 'H', '192.168.2.0', '10.0.0.12'), 20_000);
    say(`${dataplane}: both spokes hold the shortcut`);
    const second = lab.exec('h2', ping, { check: false, timeoutMs: 20_000 });
    say(`${dataplane}: second ping (direct): status ${second.status}`);
    if (second.status !== 0) throw new Error(`the second ping failed: ${second.stdout}${second.stderr}`);
    await pause(1000);
  } catch (e) {
    error = (e as Error).message;
    say(`${dataplane}: FAILED: ${error}`);
    for (const r of ['hub', 'spoke1', 'spoke2'] as RouterName[]) say(`--- ${r} log ---\n${lab.log(r).split('\n').slice(-20).join('\n')}`);
  } finally {
    for (const d of dumps) await stopCapture(d).catch(() => undefined);
  }
  const points = files.filter((f) => existsSync(f.file)).map((f) => ({ point: f.point, pcap: readFileSync(f.file).toString('base64') }));
  await lab.destroy();
  active = undefined;
  return { dataplane, points, ...(error !== undefined ? { error } : {}) };
}

/** A run's captures as the comparison wants them: IPv4 datagrams per point, with frame numbers. */
export function toRun(name: string, r: SameBytesRun): Run {
  const points: PointCapture[] = r.points.map((p) => ({
    point: p.point,
    packets: parseCapture(new Uint8Array(Buffer.from(p.pcap, 'base64'))).flatMap((f) => {
      const l = stripLink(f);
      if (!l || l.etherType !== 0x0800 || l.payload.length < 20) return [];
      const total = (l.payload[2] << 8) | l.payload[3];
      return [{ frame: f.index, bytes: l.payload.subarray(0, Math.min(total, l.payload.length)) }];
    }),
  }));
  return { name, points };
}

async function main(argv: readonly string[]): Promise<number> {
  const json = argv.includes('--json');
  const i = argv.indexOf('--dataplanes');
  const dataplanes = (i >= 0 ? argv[i + 1] ?? '' : 'userspace,kernel').split(',').filter(Boolean);
  if (dataplanes.length !== 2 || dataplanes.some((d) => d !== 'userspace' && d !== 'kernel')) {
    process.stderr.write('usage: same-bytes [--dataplanes userspace,kernel] [--json]\n');
    return 2;
  }
  const runs: SameBytesRun[] = [];
  for (const [k, d] of dataplanes.entries()) runs.push(await runExchange(d as Dataplane, String.fromCharCode(97 + k)));
  const names = runs.map((r, k) => (runs[0].dataplane === runs[1].dataplane ? `${r.dataplane}#${k + 1}` : r.dataplane));
  const report = compareRuns(toRun(names[0], runs[0]), toRun(names[1], runs[1]));
  const missing = runs.map((r, k) => missingClasses(toRun(names[k], r)));
  if (json) process.stdout.write(`${JSON.stringify({ runs })}\n`);
  const text = [renderReport(report), ...missing.map((m, k) => (m.length ? `MISSING in ${names[k]}: ${m.join(', ')}` : ''))].filter(Boolean).join('\n');
  process.stderr.write(`${text}\n`);
  if (!json) process.stdout.write(`${text}\n`);
  return runs.every((r) => r.error === undefined) && report.ok && missing.every((m) => m.length === 0) ? 0 : 1;
}

// Run as a program (not when a test imports toRun).
if (process.argv[1]?.endsWith('same-bytes.js')) {
  const onSignal = (): void => {
    say('signal: removing the lab and stopping');
    const a = active;
    for (const d of a?.dumps ?? []) d.kill('SIGKILL');
    void (a ? a.lab.destroy() : Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.exitCode = await main(process.argv.slice(2));
}
