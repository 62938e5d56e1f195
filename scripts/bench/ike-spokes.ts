/**
 * The simulated spokes of the IKE benchmark: N IKEv2 initiators, each the
 * project's own engine (protocols/ikev2/manager.ts IkeManager, driven as
 * daemon/ipsec.ts drives it) on its own address and its own UDP socket bound
 * to ADDRESS:500, all in this one process. Runs in the generator namespace
 * (scripts/bench/ike.ts starts it):
 *
 *   ip netns exec NS node dist/scripts/bench/ike-spokes.js --spokes N --group G --timeout-ms T
 *
 * Prints `ready` once every socket is bound, waits for `go` on stdin, then
 * every spoke connects to the hub at once. Counts child SAs as they come up
 * (the initiator's 'child-up') and prints one JSON result line when all are
 * up or the time is over. A spoke whose IKE SA fails before its child is up
 * connects again after RECONNECT_MS, as a dmvpnd spoke does when its next NHRP
 * registration attempt maps the hub again (protocols/nhrp/nhs-client.ts: 1 s). Times are CLOCK_MONOTONIC milliseconds, comparable
 * with the parent's process.hrtime.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { IkeManager } from '../../protocols/ikev2/manager.js';
import type { IkeAction } from '../../protocols/ikev2/engine-types.js';
import { IKE_HUB, ikeBenchIkeConfig, isCookieResponse, spokeAddress } from './ike-setup.js';

export interface SpokesResult {
  readonly spokes: number;
  readonly established: number;
  /** Monotonic ms: `go` read, first IKE_SA_INIT handed to the kernel, last child SA up. */
  readonly goAt: number;
  readonly firstSendAt: number;
  readonly lastUpAt: number;
  /** Child SAs up by 1 s, 2 s ... after the first send. */
  readonly perSecond: readonly number[];
  /** Median time from the first send to a spoke's child SA, ms. */
  readonly medianMs: number;
  /** This process's CPU from `go` to the end, seconds. */
  readonly cpuUser: number;
  readonly cpuSystem: number;
  readonly wallSeconds: number;
  readonly sent: number;
  readonly received: number;
  readonly cookies: number;
  readonly ikeDown: Readonly<Record<string, number>>;
  readonly reconnects: number;
  readonly sendErrors: number;
}

const RECONNECT_MS = 1000;

function parseArgs(argv: string[]): { spokes: number; group: number; timeoutMs: number } {
  const a = { spokes: 1000, group: 19, timeoutMs: 60_000 };
  for (let i = 0; i < argv.length; i += 2) {
    const v = Number(argv[i + 1]);
    if (argv[i] === '--spokes') a.spokes = v;
    else if (argv[i] === '--group') a.group = v;
    else if (argv[i] === '--timeout-ms') a.timeoutMs = v;
    else throw new Error(`ike-spokes: bad argument ${argv[i]}`);
  }
  return a;
}

const monoMs = (): number => Number(process.hrtime.bigint()) / 1e6;

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const base = ikeBenchIkeConfig(args.group, IKE_HUB);
  const random = (n: number): Uint8Array => new Uint8Array(randomBytes(n));
  const managers: IkeManager[] = [];
  const sockets: Socket[] = [];
  const upAt: number[] = [];
  let established = 0;
  let cookies = 0;
  let received = 0;
  let sent = 0;
  let sendErrors = 0;
  let firstSendAt = 0;
  let lastUpAt = 0;
  let reconnects = 0;
  const ikeDown: Record<string, number> = {};
  let finish: (() => void) | undefined;
  let stopped = false;

  const run = (i: number, actions: readonly IkeAction[]): void => {
    for (const a of actions) {
      switch (a.kind) {
        case 'send':
          if (!firstSendAt) firstSendAt = monoMs();
          sent++;
          // No NAT between the namespaces: everything stays on port 500 (a 4500 'from' would be a surprise; sent from 500 anyway).
          sockets[i].send(a.bytes, a.to.port, a.to.address, (e) => {
            if (e) sendErrors++;
          });
          break;
        case 'child-up':
          if (!upAt[i]) {
            upAt[i] = monoMs();
            lastUpAt = upAt[i];
            if (++established === args.spokes) finish?.();
          }
          break;
        case 'ike-down':
          ikeDown[a.reason] = (ikeDown[a.reason] ?? 0) + 1;
          if (!upAt[i] && !stopped) {
            setTimeout(() => {
              if (stopped || upAt[i]) return;
              reconnects++;
              run(i, managers[i].connect(IKE_HUB, Date.now()));
            }, RECONNECT_MS);
          }
          break;
        default:
          break;
      }
    }
  };

  for (let i = 0; i < args.spokes; i++) {
    const address = spokeAddress(i);
    const m = new IkeManager({ ...base, localAddress: address }, random, Date.now());
    const s = createSocket({ type: 'udp4' });
    managers.push(m);
    sockets.push(s);
    s.on('message', (msg, rinfo) => {
      received++;
      const bytes = new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
      if (isCookieResponse(bytes)) cookies++;
      run(i, m.receive({ address: rinfo.address, port: rinfo.port }, bytes, Date.now(), 500));
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(500, address, () => {
        s.off('error', reject);
        resolve();
      });
    });
  }
  process.stdout.write('ready\n');

  const lines = createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => lines.on('line', (l) => l.trim() === 'go' && resolve()));
  const goAt = monoMs();
  const cpu0 = process.cpuUsage();
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const timeout = setTimeout(() => finish?.(), args.timeoutMs);
  // Retransmissions and COOKIE retries: the engines' deadlines, checked every 20 ms (one timer for all).
  const ticker = setInterval(() => {
    const now = Date.now();
    for (let i = 0; i < managers.length; i++) {
      const d = managers[i].nextDeadline();
      if (d !== undefined && d <= now) run(i, managers[i].tick(now));
    }
  }, 20);
  let lastReported = -1;
  let ticks = 0;
  const progress = setInterval(() => {
    // Every second while SAs come up, every 5 s while nothing moves.
    if (established === lastReported && ++ticks % 5 !== 0) return;
    lastReported = established;
    process.stderr.write(`  [spokes] ${((monoMs() - goAt) / 1000).toFixed(1)} s: ${established} of ${args.spokes} child SAs up, ${sent} sent, ${received} received, ${cookies} COOKIE replies\n`);
  }, 1000);
  const now = Date.now();
  for (let i = 0; i < managers.length; i++) run(i, managers[i].connect(IKE_HUB, now));
  await done;
  stopped = true;
  clearTimeout(timeout);
  clearInterval(ticker);
  clearInterval(progress);
  const cpu = process.cpuUsage(cpu0);
  const wallSeconds = (monoMs() - goAt) / 1000;
  const times = upAt.filter((t) => t > 0).map((t) => t - firstSendAt).sort((a, b) => a - b);
  const perSecond: number[] = [];
  for (let s = 1; s <= Math.ceil((times[times.length - 1] ?? 0) / 1000); s++) perSecond.push(times.filter((t) => t <= s * 1000).length);
  const result: SpokesResult = {
    spokes: args.spokes, established, goAt, firstSendAt, lastUpAt, perSecond,
    medianMs: times.length ? times[times.length >> 1] : NaN,
    cpuUser: cpu.user / 1e6, cpuSystem: cpu.system / 1e6, wallSeconds,
    sent, received, cookies, ikeDown, reconnects, sendErrors,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  for (const s of sockets) s.close();
  lines.close();
}

main().catch((e: unknown) => {
  process.stderr.write(`ike-spokes: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
