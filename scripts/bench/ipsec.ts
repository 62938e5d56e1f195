/**
 * ESP throughput of the userspace dataplane: iperf3 TCP from h2 to h1 over the
 * spoke2 -> spoke1 NHRP shortcut with tunnel protection (IKEv2, transform set
 * esp-gcm 256, transport mode), against plain kernel routing on a twin of the
 * lab's namespaces in the same run (the baseline of scripts/bench/dataplane.ts).
 * The issue's goal: >= 20 % of kernel routing.
 *
 * Before measuring it waits for the spoke1-spoke2 SA pair (AES-GCM-256 both
 * ways) and the shortcut routes, and checks on a short capture of the underlay
 * that the spokes exchange ESP and no clear GRE. The SA and dataplane
 * counters, per-thread CPU and drops of the median round are printed with the
 * figures.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nbmaOf } from '../lab/topology.js';
import { ctl, dataplaneCounters, diff, fmtNum, median, row, sleep, waitUntil } from './env.js';
import { LabSession } from './lab-session.js';
import { tcpWithCpu, type TcpResult } from './dataplane.js';

const ROUNDS = 3;
const H1 = '192.168.1.10';
/** The issue's transform set. */
export const TRANSFORM_SET = 'esp-gcm 256';

export interface IpsecFigures {
  readonly tcpKernelMbps: number;
  readonly tcpIpsecMbps: number;
}

interface SaRow {
  readonly nbma?: string;
  readonly spi: number;
  readonly cipher: string;
  readonly packets: number;
  readonly bytes: number;
  readonly authFailures?: number;
  readonly replayDrops?: number;
}
interface IpsecSaJson {
  readonly interface: string;
  readonly sas: { readonly outbound: readonly SaRow[]; readonly inbound: readonly SaRow[] } | null;
}

async function saTo(s: LabSession, from: 'spoke1' | 'spoke2', to: 'spoke1' | 'spoke2'): Promise<SaRow | undefined> {
  const j = await ctl<IpsecSaJson[]>(s.socket(from), ['show', 'crypto', 'ipsec', 'sa'], 2000);
  return j?.[0]?.sas?.outbound.find((o) => o.nbma === nbmaOf(to));
}

async function inboundSas(s: LabSession, r: 'spoke1' | 'spoke2'): Promise<readonly SaRow[]> {
  const j = await ctl<IpsecSaJson[]>(s.socket(r), ['show', 'crypto', 'ipsec', 'sa'], 2000);
  return j?.[0]?.sas?.inbound ?? [];
}

/**
 * A short capture on the underlay bridge while h2 pings h1: packets between the
 * two spokes' NBMA addresses by IP protocol (50 ESP, 47 GRE). tshark reads the
 * capture when present, else tcpdump's own text.
 */
async function underlaySample(s: LabSession): Promise<Map<string, number>> {
  const pcap = join(s.lab.dir, 'ipsec-sample.pcap');
  const a = nbmaOf('spoke1');
  const b = nbmaOf('spoke2');
  const dump = spawn('ip', ['netns', 'exec', s.ns('ul'), 'tcpdump', '-i', 'br0', '-U', '-c', '40', '-w', pcap,
    `host ${a} and host ${b}`], { stdio: 'ignore' });
  try {
    await sleep(500);
    s.lab.exec('h2', ['ping', '-c', '20', '-i', '0.05', '-W', '1', H1], { check: false, timeoutMs: 10_000 });
    await Promise.race([new Promise((r) => dump.once('exit', r)), sleep(2000)]);
  } finally {
    dump.kill('SIGINT');
    await Promise.race([new Promise((r) => dump.once('exit', r)), sleep(1000)]);
  }
  const protos = new Map<string, number>();
  const ts = spawnSync('tshark', ['-r', pcap, '-T', 'fields', '-e', 'ip.proto'], { encoding: 'utf8', timeout: 20_000 });
  if (ts.status === 0) {
    for (const p of ts.stdout.split('\n').filter(Boolean)) protos.set(p, (protos.get(p) ?? 0) + 1);
    return protos;
  }
  const td = spawnSync('tcpdump', ['-nn', '-r', pcap], { encoding: 'utf8', timeout: 20_000 });
  for (const line of (td.stdout ?? '').split('\n').filter(Boolean)) {
    const p = /ESP\(/.test(line) ? '50' : /GREv/.test(line) ? '47' : 'other';
    protos.set(p, (protos.get(p) ?? 0) + 1);
  }
  return protos;
}

function protoText(m: Map<string, number>): string {
  const name: Record<string, string> = { '50': 'ESP', '47': 'GRE', '17': 'UDP', '1': 'ICMP' };
  return [...m].map(([p, n]) => `${n} ${name[p] ?? `proto ${p}`}`).join(', ') || 'nothing captured';
}

export async function runIpsec(): Promise<IpsecFigures> {
  console.log(`\n== ESP dataplane: h2 -> h1 over the spoke2 -> spoke1 shortcut, tunnel protection with ${TRANSFORM_SET} ==`);
  const k = new LabSession(`bk${process.pid % 100000}`);
  const s = new LabSession(`bi${process.pid % 100000}`, { ipsec: true, transformSet: TRANSFORM_SET, dataplane: 'userspace' });
  try {
    k.build();
    k.kernelRouting();
    const ping = k.lab.exec('h2', ['ping', '-c', '1', '-W', '2', H1], { check: false, timeoutMs: 5000 });
    if (ping.status !== 0) throw new Error(`kernel baseline: h2 cannot reach h1: ${ping.stdout}${ping.stderr}`);
    s.build();
    const t0 = Date.now();
    await s.startDaemons();
    await s.ensureShortcuts();
    await waitUntil('the spoke1-spoke2 IPsec SAs (both directions)', async () =>
      (await saTo(s, 'spoke2', 'spoke1')) !== undefined && (await saTo(s, 'spoke1', 'spoke2')) !== undefined, 30_000, 200);
    const sa21 = (await saTo(s, 'spoke2', 'spoke1'))!;
    const sa12 = (await saTo(s, 'spoke1', 'spoke2'))!;
    console.log(`lab up, spokes registered over IKEv2, shortcuts and the spoke-to-spoke SAs in place after ${fmtNum((Date.now() - t0) / 1000)} s`);
    console.log(`SAs: spoke2 -> spoke1 spi 0x${sa21.spi.toString(16)} ${sa21.cipher}; spoke1 -> spoke2 spi 0x${sa12.spi.toString(16)} ${sa12.cipher}`);
    if (sa21.cipher !== 'aes-gcm-256' || sa12.cipher !== 'aes-gcm-256') throw new Error(`the spokes negotiated ${sa21.cipher}/${sa12.cipher}, not aes-gcm-256`);
    const sample = await underlaySample(s);
    console.log(`underlay check (capture on the bridge, spoke1 <-> spoke2 only, while h2 pings h1): ${protoText(sample)}`);
    if ((sample.get('47') ?? 0) > 0) throw new Error(`clear GRE between the spokes: ${protoText(sample)}`);
    if ((sample.get('50') ?? 0) === 0) throw new Error(`no ESP between the spokes: ${protoText(sample)}`);

    console.log('baseline: a twin of the lab with kernel routing (spoke LAN routes via the underlay veths, MTU 1500, no GRE, no ESP, no daemon)');
    console.log(`dmvpnd:   hub + spoke1 + spoke2, tunnel dataplane userspace (TUN + raw GRE/ESP sockets), ${TRANSFORM_SET} transport mode, traffic on the shortcut`);
    console.log(`${ROUNDS} alternating rounds, medians; load average at start: ${loadavg()}`);
    const hubBefore = await dataplaneCounters(s.socket('hub'));
    const dpBefore = { spoke2: await dataplaneCounters(s.socket('spoke2')), spoke1: await dataplaneCounters(s.socket('spoke1')) };
    const in1Before = await inboundSas(s, 'spoke1');
    const tcpK: (TcpResult & { detail: string[] })[] = [];
    const tcpI: (TcpResult & { detail: string[] })[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      tcpK.push(await tcpWithCpu(k));
      tcpI.push(await tcpWithCpu(s));
    }
    const sa21After = await saTo(s, 'spoke2', 'spoke1');
    const in1After = await inboundSas(s, 'spoke1');
    const dp2 = diff(await dataplaneCounters(s.socket('spoke2')), dpBefore.spoke2);
    const dp1 = diff(await dataplaneCounters(s.socket('spoke1')), dpBefore.spoke1);
    const hub = diff(await dataplaneCounters(s.socket('hub')), hubBefore);

    const tk = median(tcpK.map((x) => x.mbps));
    const ti = median(tcpI.map((x) => x.mbps));
    const mid = <T extends { mbps: number }>(xs: T[]): T => [...xs].sort((a, b) => a.mbps - b.mbps)[xs.length >> 1];
    console.log('\nTCP, iperf3, 1 stream, 4 s (first second omitted); the tunnel has MTU 1400 and clamps the MSS to 1360');
    row('kernel routing (baseline)', `${fmtNum(tk, 0)} Mbit/s`, `rounds ${tcpK.map((x) => fmtNum(x.mbps, 0)).join(' ')}`);
    row(`dmvpnd userspace dataplane + ESP ${TRANSFORM_SET}`, `${fmtNum(ti, 0)} Mbit/s`, `rounds ${tcpI.map((x) => fmtNum(x.mbps, 0)).join(' ')}`);
    row('ratio dmvpnd+ESP / kernel', `${fmtNum((100 * ti) / tk)} %`, 'issue goal: >= 20 %');
    const mk = mid(tcpK);
    const mi = mid(tcpI);
    console.log(`    kernel  retransmits ${mk.retransmits}; ${mk.detail.join('; ')}`);
    console.log(`    dmvpnd  retransmits ${mi.retransmits}; ${mi.detail.join('; ')}`);
    const sealed = (sa21After?.packets ?? 0) - sa21.packets;
    const opened = in1After.reduce((n, x) => n + x.packets, 0) - in1Before.reduce((n, x) => n + x.packets, 0);
    const authFail = in1After.reduce((n, x) => n + (x.authFailures ?? 0), 0) - in1Before.reduce((n, x) => n + (x.authFailures ?? 0), 0);
    const replay = in1After.reduce((n, x) => n + (x.replayDrops ?? 0), 0) - in1Before.reduce((n, x) => n + (x.replayDrops ?? 0), 0);
    console.log(`    dmvpnd  over all ${ROUNDS} rounds: spoke2's SA to spoke1 sealed ${sealed} packets, spoke1's inbound SAs opened ${opened} ` +
      `(auth failures ${authFail}, replay drops ${replay})`);
    const pick = (c: Record<string, number>, keys: string[]): string => keys.filter((x) => c[x]).map((x) => `${x} ${c[x]}`).join(', ') || 'none moved';
    console.log(`    dmvpnd  spoke2 counters: ${pick(dp2, ['tunRxPackets', 'espTxPackets', 'greTxPackets', 'espQueued', 'dropSendFail', 'dropEspQueueFull', 'dropTooBig'])}`);
    console.log(`    dmvpnd  spoke1 counters: ${pick(dp1, ['espRxPackets', 'tunTxPackets', 'greRxPackets', 'dropEspAuth', 'dropEspReplay', 'dropEspUnknownSpi', 'dropTunWriteFail'])}`);
    console.log(`    dmvpnd  hub dataplane: ${pick(hub, ['espRxPackets', 'greRxPackets', 'espTxPackets'])} (the shortcut bypasses the hub)`);
    console.log(`load average at end: ${loadavg()}`);
    return { tcpKernelMbps: tk, tcpIpsecMbps: ti };
  } catch (e) {
    for (const r of ['hub', 'spoke1', 'spoke2'] as const) {
      const log = s.lab.log(r).trim();
      if (log) console.error(`--- ${r} log (tail) ---\n${log.split('\n').slice(-12).join('\n')}`);
    }
    throw e;
  } finally {
    await k.close();
    await s.close();
  }
}

function loadavg(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}
