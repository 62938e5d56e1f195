/**
 * Lab benchmarks (the NHRP issue's figures), in network namespaces, each with a
 * baseline measured in the same run. Prints figures; never passes or fails on a
 * time. Needs root, iperf3 and the built addon.
 *
 *   node dist/scripts/bench-lab.js [dataplane|hub|phase3|all]   (default all)
 *
 *   dataplane  iperf3 TCP and 64-byte UDP pps between two spokes' LAN hosts over
 *              the NHRP shortcut, against kernel routing on the same namespaces
 *   hub        10,000 spokes registering with one dmvpnd hub (real Registration
 *              Requests from 10,000 NBMA addresses): time to register all,
 *              hub CPU while refreshing at holdtime 450 s, hub RSS
 *   phase3     first packet to installed shortcut route, min/median/max
 *
 * Options (hub): --dmvpnd PATH measures another build of bin/dmvpnd.js (to
 * compare a change); --spokes N changes the 10,000; --hub-prof DIR writes a V8
 * CPU profile of the hub (node --cpu-prof) when it stops.
 * Everything it makes (namespaces, processes, temp files) is removed at the
 * end, on failure and on SIGINT/SIGTERM.
 */
import { spawnSync } from 'node:child_process';
import { closeAll, fmtNum, median } from './bench/env.js';
import { LabSession } from './bench/lab-session.js';
import { runDataplane } from './bench/dataplane.js';
import { runPhase3 } from './bench/phase3.js';
import { runHub, type HubOptions } from './bench/hub.js';
import { MAX_SPOKES } from './bench/hub-addresses.js';

type Section = 'dataplane' | 'hub' | 'phase3';
const SECTIONS: readonly Section[] = ['dataplane', 'phase3', 'hub'];

function usage(msg: string): number {
  console.error(`bench-lab: ${msg}\nusage: node dist/scripts/bench-lab.js [dataplane|hub|phase3|all] [--dmvpnd PATH] [--spokes N] [--hub-prof DIR]`);
  return 2;
}

function preflight(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  for (const tool of ['ip', 'iperf3', 'ping']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `needs ${tool} on PATH`;
  }
  return undefined;
}

async function main(argv: string[]): Promise<number> {
  let which: Section[] = [...SECTIONS];
  const hubOpts: { dmvpnd?: string; spokes?: number; hubProf?: string } = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--dmvpnd') hubOpts.dmvpnd = argv[++i] ?? '';
    else if (a === '--spokes') hubOpts.spokes = Number(argv[++i]);
    else if (a === '--hub-prof') hubOpts.hubProf = argv[++i] ?? '';
    else if (a === 'all') which = [...SECTIONS];
    else if ((SECTIONS as readonly string[]).includes(a)) which = [a as Section];
    else return usage(`unknown argument "${a}"`);
  }
  if (hubOpts.spokes !== undefined && !(Number.isInteger(hubOpts.spokes) && hubOpts.spokes > 0 && hubOpts.spokes <= MAX_SPOKES)) {
    return usage(`--spokes needs an integer 1..${MAX_SPOKES}`);
  }
  if (hubOpts.dmvpnd === '' || hubOpts.hubProf === '') return usage('--dmvpnd and --hub-prof need a path');
  const why = preflight();
  if (why) return usage(why);

  let stopping = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    console.error(`\nbench-lab: ${sig}: removing namespaces and processes`);
    void closeAll().finally(() => process.exit(130));
    setTimeout(() => process.exit(130), 15_000).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const started = Date.now();
  console.log(`bench-lab: ${which.join(', ')} (figures only; baselines measured in this run)`);
  let status = 0;
  let session: LabSession | undefined;
  const summary: string[] = [];
  try {
    const needLab = which.includes('dataplane') || which.includes('phase3');
    if (needLab) {
      session = new LabSession();
      session.build();
    }
    if (which.includes('dataplane')) {
      const d = await runDataplane(session!, { keepDaemons: which.includes('phase3') });
      summary.push(`dataplane TCP    ${fmtNum(d.tcpDmvpnMbps, 0)} Mbit/s = ${fmtNum((100 * d.tcpDmvpnMbps) / d.tcpKernelMbps)} % of kernel routing (${fmtNum(d.tcpKernelMbps, 0)}); goal >= 30 %`);
      summary.push(`dataplane UDP64  ${fmtNum(d.udpDmvpnPps / 1000)} kpps through spoke2 = ${fmtNum((100 * d.udpDmvpnPps) / d.udpKernelPps)} % of kernel routing (${fmtNum(d.udpKernelPps / 1000)} kpps); goal 500 kpps`);
    }
    if (which.includes('phase3')) {
      const p = await runPhase3(session!);
      const ms = [...p.ms].sort((a, b) => a - b);
      summary.push(`phase3           first packet -> shortcut min ${fmtNum(ms[0])} / median ${fmtNum(median(ms))} / max ${fmtNum(ms[ms.length - 1])} ms; goal < 50 ms`);
    }
    if (session) {
      await session.close();
      session = undefined;
    }
    if (which.includes('hub')) {
      const h = await runHub(hubOpts as HubOptions);
      summary.push(Number.isNaN(h.registerMs) && h.registered < h.spokes
        ? `hub              ${h.registered} of ${h.spokes} registered, then ${Number.isNaN(h.rssMiB) ? 'the hub exited' : 'gave up'}; goal all < 1 s`
        : `hub              ${h.spokes} registered in ${fmtNum(h.registerMs, 0)} ms (goal < 1000), refresh CPU ${fmtNum(h.refreshCpuPct, 2)} % (goal < 2), RSS ${fmtNum(h.rssMiB, 0)} MiB (goal < 200)`);
    }
  } catch (e) {
    // After a signal the teardown makes the running step fail: that is not news.
    if (stopping) return 130;
    console.error(`bench-lab: ${(e as Error).stack ?? String(e)}`);
    for (const r of ['hub', 'spoke1', 'spoke2'] as const) {
      const log = session?.lab.log(r).trim();
      if (log) console.error(`--- ${r} log (tail) ---\n${log.split('\n').slice(-8).join('\n')}`);
    }
    status = 1;
  } finally {
    await session?.close();
    await closeAll();
  }
  if (stopping) return 130;
  if (summary.length) console.log(`\n== summary ==\n${summary.map((l) => `  ${l}`).join('\n')}`);
  console.log(`\nbench-lab: done in ${Math.round((Date.now() - started) / 1000)} s`);
  return status;
}

process.exitCode = await main(process.argv.slice(2));
