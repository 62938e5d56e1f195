/**
 * NHRP interoperability with FRR's nhrpd (Debian 12's FRR 8.4), run inside the kernel VM because
 * nhrpd drives an ip_gre device:
 *
 *   npm run vm -- --cpus 2 --mem 2048 --timeout 2400 -- node dist/scripts/vm/nhrp-interop.js \
 *     [--hub ours,frr] [--dataplane userspace,kernel] [--json]
 *
 * (Defaults: both hubs, both dataplanes. A scenario takes one minute under TCG on an idle host,
 * up to eight on a loaded one, mostly node, vtysh and tshark starting; the VM's default 600 s is
 * too short for all four.)
 *
 * Each scenario builds network namespaces on an underlay bridge (203.0.113.0/24, the reference
 * lab's addresses) and runs three routers:
 *   hub     203.0.113.1  / 10.0.0.1   dmvpnd with the reference lab's hub tunnel (--hub ours), or
 *                                     FRR's nhrpd with `ip nhrp map multicast dynamic` and
 *                                     `ip nhrp redirect` (--hub frr)
 *   spoke1  203.0.113.11 / 10.0.0.11  FRR's nhrpd: `ip nhrp nhs dynamic nbma 203.0.113.1`,
 *                                     `registration no-unique`, `shortcut`
 *   spoke2  203.0.113.12 / 10.0.0.12  dmvpnd with the reference lab's spoke configuration
 * and proves, from both sides' show commands and the packets on the underlay: both spokes
 * register with the hub; a ping from FRR's spoke to ours triggers NHRP resolution (Phase 3:
 * the hub's Traffic Indication, then Resolution Requests and Replies between the spokes); both
 * spokes then hold each other's binding and the next pings go straight between them.
 * No IPsec, and no NHRP authentication (FRR 8.4 has none). Our side uses the dataplane named by
 * --dataplane (`tunnel dataplane …`); one scenario per hub and dataplane.
 *
 * Output: the transcript (steps, show commands, packets), and with --json the reports as one JSON
 * document on stdout (the transcript then goes to stderr). Exit status 0 when every scenario passed.
 * Everything made is removed at the end, on failure and on SIGINT/SIGTERM too. The daemons load
 * a copy of the native addon taken at the start (a rebuild in the shared tree cannot pull it away
 * mid-run).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, ROOT, labConfig, nbmaOf, tunnelOf, type LabOptions } from '../lab/topology.js';
import type { DmvpnPeerJson, NhrpEntryJson } from '../../daemon/show/nhrp.js';
import { request } from '../../daemon/control/client.js';
import { FrrNhrpRouter } from './nhrp-interop-frr.js';
import {
  analyseCapture, compareCaches, nhrpDetail, renderComparison, renderEchoes, renderPackets,
  type DataplaneKind, type FrrState, type HubKind, type OurState, type PingReport, type ScenarioReport, type Snapshot, type StepReport,
} from './nhrp-interop-report.js';

const HUB = { nbma: nbmaOf('hub'), tunnel: tunnelOf('hub') } as const;
const FRR_SPOKE = { nbma: nbmaOf('spoke1'), tunnel: tunnelOf('spoke1') } as const;
const OUR_SPOKE = { nbma: nbmaOf('spoke2'), tunnel: tunnelOf('spoke2') } as const;
const SUBNET = '10.0.0.0/24';
const NETWORK_ID = 100;
const HOLDTIME = 450;

/**
 * Bounds of the waits. The VM runs under TCG on a shared host: a step that takes a second idle
 * took over a minute in a loaded run (process starts, vtysh), so the bounds are generous; but
 * every wait ends, and a daemon that died ends its wait at once.
 */
const START_MS = 180_000;
const REGISTER_MS = 180_000;
const RESOLVE_MS = 120_000;
/** How long to wait for a loadable native addon (another build of it may be under way in the shared tree). */
const ADDON_MS = 300_000;

function sh(args: readonly string[], opts: { check?: boolean; timeoutMs?: number; input?: string } = {}): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(args[0], args.slice(1), { encoding: 'utf8', timeout: opts.timeoutMs ?? 60_000, input: opts.input });
  const out = { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  if ((opts.check ?? true) && out.status !== 0) throw new Error(`${args.join(' ')} failed (${out.status}): ${out.stderr.trim()}`);
  return out;
}

/** Our configuration: the reference lab's, without `ip nhrp authentication` (FRR 8.4 cannot authenticate). */
function ourConfig(r: 'hub' | 'spoke2', dataplane: DataplaneKind): string {
  const opts: LabOptions = { dataplane, holdtime: HOLDTIME };
  return labConfig(r, opts).split('\n').filter((l) => !l.trim().startsWith('ip nhrp authentication')).join('\n');
}

/** Several `ip` commands in one process (in namespace `ns`, or the current one). */
function ipBatch(ns: string | undefined, lines: readonly string[]): void {
  sh(['ip', ...(ns ? ['-n', ns] : []), '-batch', '-'], { input: `${lines.join('\n')}\n` });
}

/**
 * With ip_gre loaded, every namespace has the fallback device gre0; a GRE packet that no GRE
 * device claims (all of them, where dmvpnd reads GRE from a raw socket) makes the kernel answer
 * with an ICMP port unreachable: noise on the wire that IOS does not send, and that a peer may act
 * on. Dropped where the userspace dataplane runs (with the kernel dataplane our ip_gre device
 * claims the packets).
 */
const DROP_GRE_UNREACHABLES = [
  'table ip dmvpn_interop {',
  '  chain output {',
  '    type filter hook output priority filter; policy accept;',
  // ICMP header (8 bytes), then the quoted IP header: its protocol byte is the 18th of the ICMP message.
  '    icmp type destination-unreachable icmp code port-unreachable @th,136,8 47 drop',
  '  }',
  '}',
  '',
].join('\n');

function dropGreUnreachables(ns: string): void {
  sh(['ip', 'netns', 'exec', ns, 'nft', '-f', '-'], { input: DROP_GRE_UNREACHABLES });
}

/** Bounded polling with an asynchronous condition. */
async function waitFor(what: string, ok: () => Promise<boolean> | boolean, timeoutMs: number, stepMs = 500): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
}

/**
 * The native addon, copied once into the VM's own tmpfs and named to every dmvpnd started here
 * (DMVPN_NATIVE_ADDON). The tree is shared with other work, and a rebuild under way removes
 * build/Release for minutes: a run lost a scenario to ERR_DLOPEN_FAILED that way. Returns the
 * copy's folder (for removal).
 */
async function snapshotNativeAddon(): Promise<string> {
  const src = process.env.DMVPN_NATIVE_ADDON ?? join(ROOT, 'platform', 'native', 'build', 'Release', 'dmvpn_native.node');
  const dir = mkdtempSync(join(tmpdir(), 'nhrp-interop-addon-'));
  const copy = join(dir, 'dmvpn_native.node');
  let why = 'not there';
  await waitFor('a loadable native addon', () => {
    try {
      // Settled for 10 s (a linker may be writing it), and loadable.
      if (Date.now() - statSync(src).mtimeMs < 10_000) {
        why = 'written in the last 10 s';
        return false;
      }
      copyFileSync(src, copy);
      createRequire(import.meta.url)(copy);
      return true;
    } catch (e) {
      why = (e as Error).message;
      return false;
    }
  }, ADDON_MS, 5000).catch((e: Error) => {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${e.message} (${src}: ${why})`);
  });
  process.env.DMVPN_NATIVE_ADDON = copy;
  return dir;
}

function parsePing(startedAt: number, output: string): PingReport {
  const m = /(\d+) packets transmitted, (\d+) received/.exec(output);
  return { startedAt, transmitted: m ? Number(m[1]) : 0, received: m ? Number(m[2]) : 0, output: output.trim() };
}

class Scenario {
  readonly lab: Lab;
  private readonly namespaces: string[] = [];
  private readonly steps: StepReport[] = [];
  private phase: StepReport['phase'] = 'registration';
  private frrSpoke: FrrNhrpRouter | undefined;
  private frrHub: FrrNhrpRouter | undefined;
  private capture: ChildProcess | undefined;
  private readonly pcap: string;
  private readonly t0 = Date.now();

  constructor(readonly hub: HubKind, readonly dataplane: DataplaneKind, prefix: string, private readonly say: (s: string) => void) {
    // The lab's daemon handling (start, logs, stop) and naming; the namespaces and configurations are ours.
    this.lab = new Lab(prefix);
    this.pcap = join(this.lab.dir, 'underlay.pcap');
  }

  private async step<T>(name: string, f: () => T | Promise<T>): Promise<T> {
    const t = Date.now();
    try {
      const v = await f();
      this.steps.push({ name, phase: this.phase, ok: true, ms: Date.now() - t });
      this.say(`  ok   ${name} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
      return v;
    } catch (e) {
      const error = (e as Error).message;
      this.steps.push({ name, phase: this.phase, ok: false, ms: Date.now() - t, error });
      this.say(`  FAIL ${name}: ${error}`);
      throw e;
    }
  }

  private ns(r: 'ul' | 'hub' | 'spoke1' | 'spoke2'): string {
    return this.lab.ns(r);
  }

  /** The underlay bridge and a namespace per router, eth0 on the bridge (one `ip -batch` per namespace: process starts are dear under TCG). */
  private build(): void {
    const ul = this.ns('ul');
    const routers = [['hub', HUB.nbma], ['spoke1', FRR_SPOKE.nbma], ['spoke2', OUR_SPOKE.nbma]] as const;
    const all = [ul, ...routers.map(([r]) => this.ns(r))];
    ipBatch(undefined, all.map((ns) => `netns add ${ns}`));
    this.namespaces.push(...all);
    ipBatch(ul, ['link set lo up', 'link add br0 type bridge', 'link set br0 up']);
    routers.forEach(([r, nbma], i) => {
      // dmvpnd addresses the interfaces its configuration names; FRR's routers get theirs here.
      const ours = r === 'spoke2' || (r === 'hub' && this.hub === 'ours');
      ipBatch(this.ns(r), [
        'link set lo up',
        `link add eth0 type veth peer name u${i} netns ${ul}`,
        'link set eth0 up',
        // The lab configuration's LAN interface, with nothing behind it: these scenarios are about the tunnel.
        ...(ours ? ['link add lan0 type dummy', 'link set lan0 up'] : [`addr add ${nbma}/24 dev eth0`]),
      ]);
      if (ours && this.dataplane === 'userspace') dropGreUnreachables(this.ns(r));
    });
    ipBatch(ul, routers.map((_, i) => `link set u${i} master br0 up`));
  }

  private startCapture(): void {
    // -Z root: tcpdump would drop to its own user, which cannot write into the lab's private folder.
    this.capture = spawn('ip', ['netns', 'exec', this.ns('ul'), 'tcpdump', '-n', '-i', 'br0', '-U', '-Z', 'root', '-w', this.pcap, 'ip'], { stdio: 'ignore' });
  }

  private async stopCapture(): Promise<void> {
    const c = this.capture;
    this.capture = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    // SIGINT drops what tcpdump has not read yet (a slow tcpdump lost the last echoes so): first
    // let the file stop growing, 3 s unchanged, at most 20 s.
    let size = -1;
    let stable = 0;
    for (let i = 0; i < 40 && stable < 6; i++) {
      const now = existsSync(this.pcap) ? statSync(this.pcap).size : 0;
      stable = now === size ? stable + 1 : 0;
      size = now;
      await new Promise((r) => setTimeout(r, 500));
    }
    const done = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGINT');
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    await done;
    clearTimeout(t);
  }

  /** dmvpnd with its configuration (not waited for: node starts slowly under TCG, FRR starts meanwhile). */
  private startOurs(r: 'hub' | 'spoke2'): void {
    writeFileSync(this.lab.configPath(r), ourConfig(r, this.dataplane));
    this.lab.startDaemon(r);
  }

  private async answering(r: 'hub' | 'spoke2'): Promise<void> {
    await waitFor(`dmvpnd (${r}) on its control socket`, async () => {
      // A daemon that failed to start will not answer: say so now, with its last words (below).
      if (/^\S+ FATAL /m.test(this.lab.log(r))) throw new Error(`dmvpnd (${r}) failed to start`);
      return (await this.show(r, ['show', 'version'])) !== undefined;
    }, START_MS)
      .catch((e: Error) => {
        throw new Error(`${e.message}\n${this.lab.log(r).split('\n').slice(-20).join('\n')}`);
      });
  }

  /** One show command of ours, asked over the control socket (no dmvpnctl process). */
  private async show<T>(r: 'hub' | 'spoke2', words: string[], json = true): Promise<T | undefined> {
    try {
      const res = await request(this.lab.socket(r), { words, json }, 10_000);
      if (!res.ok) return undefined;
      return (json ? res.data : res.text) as T;
    } catch {
      return undefined;
    }
  }

  private async nhrp(r: 'hub' | 'spoke2'): Promise<NhrpEntryJson[]> {
    return (await this.show<NhrpEntryJson[][]>(r, ['show', 'ip', 'nhrp']))?.[0] ?? [];
  }

  private async ours(r: 'hub' | 'spoke2'): Promise<OurState> {
    const text = async (words: string[]): Promise<string> => (await this.show<string>(r, words, false)) ?? '';
    return {
      nhrp: await this.nhrp(r),
      dmvpn: (await this.show<{ interface: string; type: string; peers: DmvpnPeerJson[] }[]>(r, ['show', 'dmvpn']))?.[0] ?? null,
      nhs: (await this.show<OurState['nhs'][]>(r, ['show', 'ip', 'nhrp', 'nhs']))?.[0] ?? [],
      traffic: (await this.show<NonNullable<OurState['traffic']>[]>(r, ['show', 'ip', 'nhrp', 'traffic']))?.[0] ?? null,
      text: { dmvpn: await text(['show', 'dmvpn']), nhrp: await text(['show', 'ip', 'nhrp']), nhs: await text(['show', 'ip', 'nhrp', 'nhs']) },
    };
  }

  private frrState(f: FrrNhrpRouter): FrrState {
    return {
      cache: f.cache(), nhs: f.nhs(), shortcuts: f.shortcuts(), kernel: f.kernel(),
      text: { cache: f.vtysh('show ip nhrp cache'), nhs: f.vtysh('show ip nhrp nhs'), shortcut: f.vtysh('show ip nhrp shortcut') },
    };
  }

  private async snapshot(): Promise<Snapshot> {
    return {
      hub: this.hub === 'ours' ? { ours: await this.ours('hub') } : { frr: this.frrState(this.frrHub!) },
      frrSpoke: this.frrState(this.frrSpoke!),
      ourSpoke: await this.ours('spoke2'),
    };
  }

  /** Does the hub hold a registration for `proto` at `nbma`? */
  private async hubHas(proto: string, nbma: string): Promise<boolean> {
    if (this.hub === 'ours') {
      return (await this.nhrp('hub')).some((e) => e.prefix === proto && e.prefixLength === 32 && e.nbma === nbma && e.flags.includes('registered'));
    }
    return this.frrHub!.cache().some((c) => c.protocol === proto && c.nbma === nbma && c.type === 'dynamic');
  }

  private ping(count: number): PingReport {
    const startedAt = Date.now();
    const r = sh(['ip', 'netns', 'exec', this.ns('spoke1'), 'ping', '-n', '-c', String(count), '-i', '0.5', '-W', '2', '-I', FRR_SPOKE.tunnel, OUR_SPOKE.tunnel],
      { check: false, timeoutMs: 30_000 + count * 3000 });
    return parsePing(startedAt, r.stdout + r.stderr);
  }

  async run(): Promise<ScenarioReport> {
    let registered: Snapshot | null = null;
    let resolved: Snapshot | null = null;
    let atFailure: Snapshot | null = null;
    let first: PingReport | null = null;
    let second: PingReport | null = null;
    let failed = false;
    try {
      await this.step('namespaces on the underlay bridge', () => this.build());
      this.startCapture();
      // The hub first, ready before the spokes ask (their registration retries back off to a minute).
      await this.step(`hub: ${this.hub === 'ours' ? 'dmvpnd' : 'FRR nhrpd'}, answering`, async () => {
        if (this.hub === 'ours') {
          this.startOurs('hub');
          await this.answering('hub');
        } else {
          this.frrHub = new FrrNhrpRouter({
            ns: this.ns('hub'), hostname: 'hub', role: 'hub', nbma: HUB.nbma, tunnel: HUB.tunnel, subnet: SUBNET, networkId: NETWORK_ID, holdtime: HOLDTIME,
          });
          await this.frrHub.start();
          await waitFor('FRR\'s hub holding its own tunnel address', () => this.frrHub!.cache().some((c) => c.type === 'local' && c.protocol === HUB.tunnel), START_MS);
        }
      });
      await this.step(`spoke2: dmvpnd (${this.dataplane} dataplane)`, () => this.startOurs('spoke2'));
      await this.step('spoke1: FRR nhrpd (NHS dynamic)', async () => {
        this.frrSpoke = new FrrNhrpRouter({
          ns: this.ns('spoke1'), hostname: 'spoke1', role: 'spoke', nbma: FRR_SPOKE.nbma, tunnel: FRR_SPOKE.tunnel, subnet: SUBNET,
          hub: HUB, networkId: NETWORK_ID, holdtime: HOLDTIME,
        });
        await this.frrSpoke.start();
      });
      await this.step('spoke2: dmvpnd answering', () => this.answering('spoke2'));
      await this.step('the hub holds both spokes\' registrations', () => waitFor('both registrations at the hub',
        async () => (await this.hubHas(FRR_SPOKE.tunnel, FRR_SPOKE.nbma)) && (await this.hubHas(OUR_SPOKE.tunnel, OUR_SPOKE.nbma)), REGISTER_MS));
      await this.step('FRR\'s spoke knows its NHS (from the registration reply)', () => waitFor('FRR\'s NHS entry',
        () => this.frrSpoke!.nhs().some((n) => n.protocol === HUB.tunnel && n.nbma === HUB.nbma) &&
          this.frrSpoke!.cache().some((c) => c.type === 'nhs' && c.protocol === HUB.tunnel && c.nbma === HUB.nbma), REGISTER_MS));
      await this.step('our spoke\'s NHS is responding', () => waitFor('our NHS responding', async () =>
        ((await this.show<OurState['nhs'][]>('spoke2', ['show', 'ip', 'nhrp', 'nhs']))?.[0] ?? []).some((n) => n.nhs === HUB.tunnel && n.state === 'responding'), REGISTER_MS));
      registered = await this.snapshot();
      this.phase = 'resolution';
      first = await this.step('ping FRR spoke -> our spoke (through the hub)', () => {
        const p = this.ping(5);
        if (p.received === 0) throw new Error(`no echo reply:\n${p.output}`);
        return p;
      });
      await this.step('both spokes resolved each other', () => waitFor('the spokes\' bindings for each other', async () => {
        const frr = this.frrSpoke!.cache().some((c) => c.protocol === OUR_SPOKE.tunnel && c.nbma === OUR_SPOKE.nbma && c.type === 'dynamic');
        const ours = (await this.nhrp('spoke2')).some((e) => e.prefix === FRR_SPOKE.tunnel && e.prefixLength === 32 && e.nbma === FRR_SPOKE.nbma);
        // Keep traffic flowing while waiting (each direction's first packet through the hub starts a resolution).
        if (!frr || !ours) this.ping(1);
        return frr && ours;
      }, RESOLVE_MS, 1000));
      resolved = await this.snapshot();
      second = await this.step('ping again: every echo answered', () => {
        const p = this.ping(3);
        if (p.received !== p.transmitted) throw new Error(`${p.received}/${p.transmitted} answered:\n${p.output}`);
        return p;
      });
    } catch {
      failed = true;
      // What both sides hold at the failure (the last good snapshot is from before it).
      if (this.frrSpoke) atFailure = await this.snapshot().catch(() => null);
    }
    await this.stopCapture();
    const tAnalysis = Date.now();
    const steps = [...this.steps];
    const pcap = existsSync(this.pcap) ? this.pcap : undefined;
    const analyse = <T>(what: string, f: (pcap: string) => T, none: T): T => {
      if (!pcap) return none;
      try {
        return f(pcap);
      } catch (e) {
        steps.push({ name: what, phase: 'capture', ok: false, ms: 0, error: (e as Error).message });
        return none;
      }
    };
    const capture = analyse('reading the capture', (p) => analyseCapture(p, FRR_SPOKE.nbma, OUR_SPOKE.nbma), { packets: [], directEchoes: 0, echoes: [], unreachables: [], redirects: [], summary: [] });
    const comparison = resolved
      ? compareCaches(resolved.frrSpoke.cache, resolved.ourSpoke.nhrp, { protocol: OUR_SPOKE.tunnel, nbma: OUR_SPOKE.nbma })
      : [];
    this.say(`  (capture read in ${((Date.now() - tAnalysis) / 1000).toFixed(1)} s)`);
    if (!failed && capture.directEchoes === 0) steps.push({ name: 'echoes straight between the spokes', phase: 'resolution', ok: false, ms: 0, error: 'no ICMP echo between the spokes\' NBMA addresses' });
    const ok = steps.every((s) => s.ok);
    const report: ScenarioReport = {
      hub: this.hub, dataplane: this.dataplane, ok, ms: Date.now() - this.t0, steps, registered, resolved, atFailure,
      pings: { first, second }, packets: capture.packets, directEchoes: capture.directEchoes, echoes: capture.echoes, unreachables: capture.unreachables, redirects: capture.redirects, comparison,
      ...(ok ? {} : { evidence: { logs: this.logs(), summary: capture.summary.slice(0, 400).join('\n'), tshark: analyse('Wireshark\'s detail of the NHRP packets', nhrpDetail, '') } }),
    };
    return report;
  }

  private logs(): Record<string, string[]> {
    const tail = (lines: string[]): string[] => lines.slice(-80);
    const out: Record<string, string[]> = { 'spoke2 (dmvpnd)': tail(this.lab.log('spoke2').split('\n')) };
    if (this.hub === 'ours') out['hub (dmvpnd)'] = tail(this.lab.log('hub').split('\n'));
    if (this.frrHub) out['hub (FRR nhrpd)'] = tail(this.frrHub.log());
    if (this.frrSpoke) out['spoke1 (FRR nhrpd)'] = tail(this.frrSpoke.log());
    return out;
  }

  /** Stop every daemon and capture, delete every namespace and the lab folder. */
  async destroy(): Promise<void> {
    await this.stopCapture().catch(() => undefined);
    for (const f of [this.frrSpoke, this.frrHub]) await f?.stop().catch(() => undefined);
    await this.lab.destroy().catch(() => undefined);
    for (const ns of this.namespaces.reverse()) {
      // Anything still running in a namespace (a daemon that ignored SIGTERM) goes with it.
      for (const pid of sh(['ip', 'netns', 'pids', ns], { check: false }).stdout.split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
      sh(['ip', 'netns', 'del', ns], { check: false });
    }
    this.namespaces.length = 0;
  }
}

function renderOurs(name: string, s: OurState): string {
  return [`${name}# show dmvpn`, s.text.dmvpn.trimEnd(), `${name}# show ip nhrp`, s.text.nhrp.trimEnd(), `${name}# show ip nhrp nhs`, s.text.nhs.trimEnd()].join('\n');
}

function renderFrr(name: string, s: FrrState): string {
  return [
    `${name}# show ip nhrp cache`, s.text.cache.trimEnd(), `${name}# show ip nhrp nhs`, s.text.nhs.trimEnd(), `${name}# show ip nhrp shortcut`, s.text.shortcut.trimEnd(),
    `${name}$ ip neigh show dev gre1`, s.kernel.neigh.trimEnd(), `${name}$ ip route`, s.kernel.routes.trimEnd(),
  ].join('\n');
}

/** The transcript of a finished scenario: both sides' show commands, the caches compared, the packets. */
function renderReport(r: ScenarioReport): string {
  const out = [`== hub ${r.hub}, our dataplane ${r.dataplane}: ${r.ok ? 'PASS' : 'FAIL'} (${(r.ms / 1000).toFixed(1)} s)`];
  const snap = r.atFailure ?? r.resolved ?? r.registered;
  if (snap) {
    out.push(`-- ${r.atFailure ? 'at the failure' : r.resolved ? 'after the resolution' : 'after the registrations'}`);
    if (snap.hub.ours) out.push(renderOurs('hub', snap.hub.ours));
    if (snap.hub.frr) out.push(renderFrr('hub (FRR)', snap.hub.frr));
    out.push(renderFrr('spoke1 (FRR)', snap.frrSpoke), renderOurs('spoke2', snap.ourSpoke));
  }
  if (r.comparison.length > 0) out.push('-- the spokes\' caches side by side', renderComparison(r.comparison));
  for (const [k, p] of Object.entries(r.pings)) if (p) out.push(`-- ${k} ping: ${p.received}/${p.transmitted} answered`);
  out.push(`-- NHRP on the underlay (${r.packets.length} packets); ${r.directEchoes} ICMP echoes straight between the spokes`, renderPackets(r.packets));
  out.push('-- ICMP echoes in GRE on the underlay', renderEchoes(r.echoes));
  if (r.unreachables.length > 0) out.push('-- ICMP unreachables on the underlay', ...r.unreachables);
  if (r.redirects.length > 0) out.push('-- ICMP redirects in the tunnel', ...r.redirects);
  if (r.evidence) {
    for (const [k, lines] of Object.entries(r.evidence.logs)) out.push(`-- ${k} log (tail)`, ...lines);
    out.push('-- the underlay, packet by packet', r.evidence.summary, '-- tshark -V of the NHRP packets', r.evidence.tshark);
  }
  return out.join('\n') + '\n';
}

function parseList<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T[] {
  const items = (value ?? '').split(',').filter(Boolean);
  const bad = items.filter((x) => !(allowed as readonly string[]).includes(x));
  if (items.length === 0 || bad.length > 0) throw new Error(`${flag}: expected a comma-separated list of ${allowed.join(', ')}`);
  return items as T[];
}

async function main(argv: readonly string[]): Promise<number> {
  let hubs: HubKind[] = ['ours', 'frr'];
  let dataplanes: DataplaneKind[] = ['userspace', 'kernel'];
  let json = false;
  try {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i];
      if (a === '--json') json = true;
      else if (a === '--hub') hubs = parseList('--hub', argv[++i], ['ours', 'frr'] as const);
      else if (a === '--dataplane') dataplanes = parseList('--dataplane', argv[++i], ['userspace', 'kernel'] as const);
      else throw new Error(`unknown argument "${a}" (--hub ours,frr  --dataplane userspace,kernel  --json)`);
    }
  } catch (e) {
    process.stderr.write(`nhrp-interop: ${(e as Error).message}\n`);
    return 2;
  }
  const say = (s: string): void => void (json ? process.stderr : process.stdout).write(`${s}\n`);
  if (process.getuid?.() !== 0) {
    say('nhrp-interop: needs root (network namespaces)');
    return 2;
  }
  if (!existsSync('/sys/module/ip_gre')) {
    say('nhrp-interop: FRR\'s nhrpd needs the kernel\'s ip_gre; run it in the VM: npm run vm -- --cpus 2 --mem 2048 --timeout 2400 -- node dist/scripts/vm/nhrp-interop.js');
    return 2;
  }
  let addonDir: string;
  try {
    addonDir = await snapshotNativeAddon();
  } catch (e) {
    say(`nhrp-interop: ${(e as Error).message}`);
    return 2;
  }
  const reports: ScenarioReport[] = [];
  let current: Scenario | undefined;
  const onSignal = (): void => {
    void (current?.destroy() ?? Promise.resolve()).finally(() => {
      rmSync(addonDir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let n = 0;
  try {
    for (const dataplane of dataplanes) {
      for (const hub of hubs) {
        say(`== hub ${hub}, our dataplane ${dataplane}`);
        current = new Scenario(hub, dataplane, `ni${process.pid % 10000}-${n++}`, say);
        try {
          const r = await current.run();
          reports.push(r);
          say(renderReport(r));
        } finally {
          await current.destroy();
          current = undefined;
        }
      }
    }
  } finally {
    rmSync(addonDir, { recursive: true, force: true });
  }
  if (json) process.stdout.write(`${JSON.stringify(reports, null, 1)}\n`);
  const failed = reports.filter((r) => !r.ok).map((r) => `hub ${r.hub}/${r.dataplane}`);
  say(failed.length === 0 ? `nhrp-interop: all ${reports.length} scenarios passed` : `nhrp-interop: FAILED ${failed.join(', ')}`);
  return failed.length === 0 ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
