/**
 * Small traffic tools the lab benchmarks run inside a host namespace
 * (`ip netns exec NS node dist/scripts/bench/nstool.js ...`):
 *
 *   flood DST PORT SIZE MS   native UDP flood (the addon's bench.flood: a C thread
 *                            with sendmmsg, so the generator is not JavaScript);
 *                            prints "go" when it starts, then {"sent": n}
 *   probe DST PORT           one UDP datagram; prints {"t0": monotonic ms, "wall":
 *                            epoch ms} taken just before the send (CLOCK_MONOTONIC,
 *                            comparable with the parent's process.hrtime)
 */
import { createSocket } from 'node:dgram';
import { bench } from '../../platform/native/index.js';

function monoMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

async function probe(dst: string, port: number): Promise<void> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, r));
  const payload = Buffer.from('dmvpn bench-lab phase3 probe');
  const wall = Date.now();
  const t0 = monoMs();
  await new Promise<void>((resolve, reject) => s.send(payload, port, dst, (e) => (e ? reject(e) : resolve())));
  s.close();
  console.log(JSON.stringify({ t0, wall }));
}

function flood(dst: string, port: number, size: number, ms: number): void {
  process.stdout.write('go\n');
  const f = bench.flood(dst, port, size, ms);
  console.log(JSON.stringify({ sent: f.join() }));
}

const [cmd, ...a] = process.argv.slice(2);
if (cmd === 'flood') flood(a[0], Number(a[1]), Number(a[2]), Number(a[3]));
else if (cmd === 'probe') await probe(a[0], Number(a[1]));
else {
  console.error('usage: nstool flood DST PORT SIZE MS | probe DST PORT');
  process.exitCode = 2;
}
