/**
 * Lab benchmarks (the NHRP and IPsec issues' figures), in network namespaces,
 * each with a baseline measured in the same run. Prints figures; never passes
 * or fails on a time. Needs root, iperf3 and the built addon (esp: only the
 * addon and openssl).
 *
 *   node dist/scripts/bench-lab.js [dataplane|hub|phase3|esp|ipsec|ike|all|kernel-cp|kernel-tp]   (default all)
 *
 *   dataplane  iperf3 TCP and 64-byte UDP pps between two spokes' LAN hosts over
 *              the NHRP shortcut, against kernel routing on the same namespaces
 *   hub        10,000 spokes registering with one dmvpnd hub (real Registration
 *              Requests from 10,000 NBMA addresses): time to register all,
 *              hub CPU while refreshing at holdtime 450 s, hub RSS
 *   phase3     first packet to installed shortcut route, min/median/max
 *   esp        ESP seal/open per core of 1400-byte packets in the addon (AES-GCM-256,
 *              AES-CBC-128 + HMAC-SHA1-96) against openssl speed
 *   ipsec      iperf3 TCP over the spoke-to-spoke shortcut with esp-gcm 256, against
 *              kernel routing
 *   ike        1,000 simulated IKEv2 spokes bringing up SAs with one dmvpnd hub, with
 *              DH groups 19 and 31, against the same handshakes in-process
 *   kernel-cp  (alone, not in all) control-plane cost of the kernel dataplane, in the VM
 *              (scripts/vm/run.ts): LinuxRtnetlink programming and deleting N NBMA neighbours
 *              and N onlink routes on an ip_gre multipoint device against ip -batch, then the
 *              xfrm figures at min(N, 1000); --kernel-cp-n N changes the 10,000
 *   kernel-tp  (alone, not in all) iperf3 TCP over the spoke-to-spoke shortcut on the kernel
 *              dataplane (ip_gre, then ip_gre + xfrm ESP esp-gcm 256) against plain routing on a
 *              twin lab, in the VM (scripts/bench/kernel-throughput.ts); --no-ipsec, --generic-crypto, --no-rps, --kernel-tp-cpus N
 *              (default 2), --kernel-tp-rounds N (default 5)
 *
 * Options (esp): --esp-seconds S per measurement (default 2).
 * Options (ike): --ike-spokes N changes the 1,000; --ike-groups 19,31 the groups;
 * --dmvpnd PATH measures another build of the hub here too.
 * Options (hub): --dmvpnd PATH measures another build of bin/dmvpnd.js (to
 * compare a change); --spokes N changes the 10,000; --hub-prof DIR writes a V8
 * CPU profile of the hub (node --cpu-prof) when it stops.
 * Everything it makes (namespaces, processes, temp files) is removed at the
 * end, on failure and on SIGINT/SIGTERM.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { closeAll, fmtNum, median } from './bench/env.js';
import { LabSession } from './bench/lab-session.js';
import { runDataplane } from './bench/dataplane.js';
import { runPhase3 } from './bench/phase3.js';
import { runHub, type HubOptions } from './bench/hub.js';
import { MAX_SPOKES } from './bench/hub-addresses.js';
import { runEsp } from './bench/esp.js';
import { runIpsec, TRANSFORM_SET } from './bench/ipsec.js';
import { runIke, type IkeOptions } from './bench/ike.js';

type Section = 'dataplane' | 'hub' | 'phase3' | 'esp' | 'ipsec' | 'ike';
const SECTIONS: readonly Section[] = ['dataplane', 'phase3', 'hub', 'esp', 'ipsec', 'ike'];

function usage(msg: string): number {
  console.error(`bench-lab: ${msg}\nusage: node dist/scripts/bench-lab.js [dataplane|hub|phase3|esp|ipsec|ike|all|kernel-cp|kernel-tp] [--dmvpnd PATH] [--spokes N] [--hub-prof DIR]` +
    ' [--esp-seconds S] [--ike-spokes N] [--ike-groups 19,31]');
  return 2;
}

function preflight(which: readonly Section[]): string | undefined {
  const tools = which.includes('esp') ? ['openssl'] : [];
  if (which.some((w) => w !== 'esp')) {
    if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
    tools.push('ip', 'iperf3', 'ping');
  }
  if (which.includes('ipsec')) tools.push('tcpdump');
  for (const tool of tools) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `needs ${tool} on PATH`;
  }
  return undefined;
}

/** `kernel-cp [--kernel-cp-n N]`: scripts/bench/kernel-cp.ts inside the kernel VM (ip_gre, esp4). */
function kernelCp(argv: readonly string[]): number {
  let n = 10_000;
  for (let i = 1; i < argv.length; i++) {
    if (argv[i] === '--kernel-cp-n') n = Number(argv[++i]);
    else return usage(`kernel-cp: unknown argument "${argv[i]}"`);
  }
  if (!(Number.isInteger(n) && n > 0 && n <= 65_000)) return usage('--kernel-cp-n needs an integer 1..65000');
  return inVm('./bench/kernel-cp.js', [String(n)], 2, 7200);
}

/** Run one of the benchmark scripts inside the kernel VM (scripts/vm/run.ts); its status is ours. */
function inVm(script: string, args: readonly string[], vcpus: number, timeoutS: number): number {
  const here = (rel: string): string => fileURLToPath(new URL(rel, import.meta.url));
  const r = spawnSync(process.execPath, [here('./vm/run.js'), '--cpus', String(vcpus), '--mem', '2048', '--timeout', String(timeoutS), '--',
    process.execPath, here(script), ...args], { stdio: 'inherit' });
  return r.status ?? 1;
}

/** `kernel-tp [--no-ipsec] [--generic-crypto] [--no-rps] [--kernel-tp-cpus N] [--kernel-tp-rounds N]`: scripts/bench/kernel-throughput.ts inside the VM. */
function kernelTp(argv: readonly string[]): number {
  const inner: string[] = [];
  let vcpus = 2;
  for (let i = 1; i < argv.length; i++) {
    if (argv[i] === '--no-ipsec') inner.push('--no-ipsec');
    else if (argv[i] === '--generic-crypto') inner.push('--generic-crypto');
    else if (argv[i] === '--no-rps') inner.push('--no-rps');
    else if (argv[i] === '--kernel-tp-cpus') vcpus = Number(argv[++i]);
    else if (argv[i] === '--kernel-tp-rounds') inner.push('--rounds', argv[++i] ?? '');
    else return usage(`kernel-tp: unknown argument "${argv[i]}"`);
  }
  if (!(Number.isInteger(vcpus) && vcpus >= 1 && vcpus <= 8)) return usage('--kernel-tp-cpus needs an integer 1..8');
  return inVm('./bench/kernel-throughput.js', inner, vcpus, 3600);
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'kernel-cp') return kernelCp(argv);
  if (argv[0] === 'kernel-tp') return kernelTp(argv);
  let which: Section[] = [...SECTIONS];
  const hubOpts: { dmvpnd?: string; spokes?: number; hubProf?: string } = {};
  let espSeconds = 2;
  const ikeOpts: { spokes?: number; groups?: number[] } = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--esp-seconds') espSeconds = Number(argv[++i]);
    else if (a === '--ike-spokes') ikeOpts.spokes = Number(argv[++i]);
    else if (a === '--ike-groups') ikeOpts.groups = (argv[++i] ?? '').split(',').map(Number);
    else if (a === '--dmvpnd') hubOpts.dmvpnd = argv[++i] ?? '';
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
  if (!(espSeconds >= 1 && espSeconds <= 30)) return usage('--esp-seconds needs 1..30');
  if (ikeOpts.spokes !== undefined && !(Number.isInteger(ikeOpts.spokes) && ikeOpts.spokes > 0 && ikeOpts.spokes <= 10_000)) {
    return usage('--ike-spokes needs an integer 1..10000');
  }
  if (ikeOpts.groups && !ikeOpts.groups.every((g) => [14, 19, 20, 21, 31].includes(g))) return usage('--ike-groups takes 14, 19, 20, 21, 31');
  const why = preflight(which);
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
    if (which.includes('esp')) {
      for (const f of await runEsp({ seconds: espSeconds })) {
        summary.push(`esp ${f.op.padEnd(4)} ${f.suite.padEnd(27)} ${fmtNum(f.addonPps / 1000, 0)} kpps per core = ${fmtNum((100 * f.addonPps) / f.opensslPps)} % of openssl speed ` +
          `(${fmtNum(f.opensslPps / 1000, 0)} kpps)${f.suite === 'AES-GCM-256' ? '; goal >= 70 %' : ''}`);
      }
    }
    if (which.includes('ipsec')) {
      const d = await runIpsec();
      summary.push(`ipsec TCP        ${fmtNum(d.tcpIpsecMbps, 0)} Mbit/s with ${TRANSFORM_SET} = ${fmtNum((100 * d.tcpIpsecMbps) / d.tcpKernelMbps)} % of kernel routing (${fmtNum(d.tcpKernelMbps, 0)}); goal >= 20 %`);
    }
    if (which.includes('ike')) {
      for (const g of await runIke({ ...(ikeOpts as IkeOptions), ...(hubOpts.dmvpnd ? { dmvpnd: hubOpts.dmvpnd } : {}) })) {
        summary.push(g.established < g.spokes
          ? `ike group ${g.group}     ${g.established} of ${g.spokes} child SAs, then gave up; goal all < 10 s`
          : `ike group ${g.group}     ${g.spokes} child SAs in ${fmtNum(g.ms / 1000, 2)} s (${fmtNum(g.spokes / (g.ms / 1000), 0)} SAs/s) = ` +
            `${fmtNum(g.ms / g.inProcessMs, 1)} x the in-process handshakes (${fmtNum(g.inProcessMs / 1000, 2)} s); goal < 10 s`);
      }
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
