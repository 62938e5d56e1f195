/**
 * Micro-benchmark of the native userspace dataplane's encapsulation path
 * (TUN -> lookup -> GRE -> raw socket) against a baseline measured in the same
 * run: the same TUN read + raw send loop with a fixed header and no lookup,
 * no checks, no counters. Prints figures only; it never fails on a time.
 *
 *   sudo node dist/scripts/bench-dataplane.js
 *
 * It builds two network namespaces (A with the TUN, B at the far end of a
 * veth), re-runs itself inside A, and removes both namespaces at the end.
 * A native thread floods UDP at an overlay address so the kernel routes
 * packets into the TUN faster than JavaScript could generate them. Takes ~25 s.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Dataplane, bench, closeFd, openGreSocket, openTun } from '../platform/native/index.js';

const RUN_MS = 1000;
const ROUNDS = 5;
const SIZES = [64, 1200] as const;
const A_NBMA = '203.0.113.1';
const B_NBMA = '203.0.113.2';

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const fmt = (pps: number): string => `${(pps / 1000).toFixed(1).padStart(8)} kpps`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

async function inner(): Promise<void> {
  // Two TUNs so that baseline and dataplane runs can alternate (the machine's
  // load drifts; alternating and taking medians keeps the ratio honest).
  const baseTun = openTun('base0', { mtu: 1400 });
  const dpTun = openTun('dmvpn0', { mtu: 1400 });
  ip('addr', 'add', '10.0.0.1/24', 'dev', baseTun.name);
  ip('addr', 'add', '10.0.1.1/24', 'dev', dpTun.name);
  ip('link', 'set', baseTun.name, 'up');
  ip('link', 'set', dpTun.name, 'up');
  const baseFd = openGreSocket({ local: A_NBMA, sndbuf: 4 << 20 });
  const dp = Dataplane.open({
    tun: dpTun,
    greFd: openGreSocket({ local: A_NBMA, sndbuf: 4 << 20 }),
    config: { localNbma: A_NBMA, key: 1, mtu: 1400 },
    peers: [{ overlay: '10.0.1.2', nbma: B_NBMA }],
    routes: [{ prefix: '10.0.1.0', length: 24, nextHop: null }],
  });
  try {
    console.log(`encapsulation path: UDP flood into a TUN, ${ROUNDS} alternating runs of ${RUN_MS} ms each, medians`);
    console.log(`${'payload'.padEnd(9)}${'offered'.padStart(14)}${'baseline'.padStart(14)}${'dataplane'.padStart(14)}   ratio`);
    for (const size of SIZES) {
      const base: number[] = [];
      const data: number[] = [];
      const offered: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const f1 = bench.flood('10.0.0.2', 9, size, RUN_MS);
        const sent = bench.baseline(baseTun.fd, baseFd, B_NBMA, RUN_MS);
        offered.push((f1.join() * 1000) / RUN_MS);
        base.push((sent * 1000) / RUN_MS);
        const f2 = bench.flood('10.0.1.2', 9, size, RUN_MS);
        const s0 = dp.stats();
        await sleep(RUN_MS);
        const s1 = dp.stats();
        offered.push((f2.join() * 1000) / RUN_MS);
        data.push(((s1.greTxPackets - s0.greTxPackets) * 1000) / RUN_MS);
      }
      const b = median(base);
      const d = median(data);
      console.log(`${`${size} B`.padEnd(9)}${fmt(median(offered))}${fmt(b)}${fmt(d)}   ${(d / b).toFixed(2)}`);
    }
    const s = dp.stats();
    console.log(`dataplane drops: sendFail ${s.dropSendFail}, noMapping ${s.dropNoMapping}, notIpv4 ${s.dropNotIpv4}`);

    // The lookup alone: 10 000 peers, 1 000 routes, random destinations.
    for (let i = 0; i < 10_000; i++) dp.setPeer(`10.${(i >> 8) & 0xff}.${i & 0xff}.1`, `198.51.${(i >> 8) & 0xff}.${i & 0xff}`);
    for (let i = 0; i < 1000; i++) dp.setRoute(`172.${16 + (i >> 8)}.${i & 0xff}.0`, 24, `10.0.${i & 0xff}.1`);
    dp.setRoute('0.0.0.0', 0, '10.0.0.1');
    const dsts = new Uint32Array(4096);
    let seed = 12345;
    for (let i = 0; i < dsts.length; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const pick = seed % 3;
      dsts[i] = pick === 0 ? ((10 << 24) | (seed & 0x00ffff00) | 1) >>> 0 : pick === 1 ? ((172 << 24) | (16 << 16) | (seed & 0x3ffff)) >>> 0 : seed;
    }
    const rounds = 200;
    const ns = bench.resolve(dp, dsts, rounds);
    console.log(`lookup alone: ${(ns / (dsts.length * rounds)).toFixed(1)} ns per packet (10k peers, 1k routes)`);
  } finally {
    dp.close();
    closeFd(baseFd);
    closeFd(baseTun.fd);
  }
}

function outer(): void {
  if (process.getuid?.() !== 0) {
    console.log('bench-dataplane: needs root (network namespaces, TUN, raw sockets); skipped');
    return;
  }
  const prefix = `dpb${process.pid}`;
  const a = `${prefix}a`;
  const b = `${prefix}b`;
  const made: string[] = [];
  try {
    for (const ns of [a, b]) {
      ip('netns', 'add', ns);
      made.push(ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    ip('-n', a, 'link', 'add', 'vA', 'type', 'veth', 'peer', 'name', 'vB', 'netns', b);
    ip('-n', a, 'addr', 'add', `${A_NBMA}/24`, 'dev', 'vA');
    ip('-n', b, 'addr', 'add', `${B_NBMA}/24`, 'dev', 'vB');
    ip('-n', a, 'link', 'set', 'vA', 'up');
    ip('-n', b, 'link', 'set', 'vB', 'up');
    const r = spawnSync('ip', ['netns', 'exec', a, process.execPath, fileURLToPath(import.meta.url), '--inner'], { stdio: 'inherit', timeout: 60_000 });
    if (r.status !== 0) console.error(`bench-dataplane: inner run ended with ${r.status ?? r.signal}`);
  } finally {
    for (const ns of made) spawnSync('ip', ['netns', 'del', ns]);
  }
}

if (process.argv.includes('--inner')) await inner();
else outer();
