/**
 * IKEv2 and kernel ESP interop with strongSwan's charon (Debian 12's 5.9, charon-systemd and
 * swanctl), run inside the kernel VM because both sides need the kernel's esp4 and ip_gre:
 *
 *   npm run vm -- --cpus 2 --mem 2048 --timeout 1500 -- node dist/scripts/vm/strongswan-kernel.js \
 *     [--role spoke,hub] [--json]
 *
 * Each scenario builds three namespaces (prefix sk<pid>-<n>): an underlay bridge (203.0.113.0/24,
 * the reference lab's addresses, captured), ours and charon's. Ours runs dmvpnd with the reference
 * lab's configuration on `tunnel dataplane kernel` with `tunnel protection ipsec profile` (IKEv2,
 * PSK Cisco123, IOS's default transform set, transport mode). Charon's namespace holds charon
 * (swanctl: PSK, IPv4 address identities, a transport-mode child for GRE between the two NBMA
 * addresses) and a plain ip_gre multipoint device with a permanent neighbour for our tunnel
 * address, so that a ping over the tunnel is GRE inside kernel ESP on both ends.
 *
 *   --role spoke  dmvpnd is spoke2 (203.0.113.12 / 10.0.0.12), its NHS is charon's side
 *                 (203.0.113.1 / 10.0.0.1): our side initiates. The IPsec profile's lifetime is
 *                 120 s, so our side rekeys the child SA while a ping series runs.
 *   --role hub    dmvpnd is the hub (203.0.113.1 / 10.0.0.1); charon's side is spoke1
 *                 (203.0.113.11 / 10.0.0.11) and initiates (`swanctl --initiate`), then registers
 *                 with our hub over the tunnel (an NHRP Registration Request sent by this script,
 *                 run as `register` in charon's namespace), and charon rekeys the child SA
 *                 (`swanctl --rekey`) while a ping series runs.
 *
 * The report (with --json, one JSON document on stdout; the transcript goes to stderr): both sides'
 * view of the SAs (swanctl --list-sas, our `show crypto ipsec sa` and `show crypto ikev2 sa`, and
 * `ip xfrm state` in both namespaces) once established and after the rekey, the pings, the NHRP
 * registration's answer, and what crossed the underlay by IP protocol, with the ESP SPIs seen.
 * Exit status 0 when every scenario's steps passed. Everything made is removed at the end, on
 * failure and on SIGINT/SIGTERM too.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, labConfig, nbmaOf, tunnelOf, type RouterName } from '../lab/topology.js';
import { request } from '../../daemon/control/client.js';
import type { IpsecPeerJson } from '../../daemon/show/crypto.js';
import type { Ikev2SaShow } from '../../protocols/ikev2/show.js';
import type { NhrpEntryJson } from '../../daemon/show/nhrp.js';
import { Reader, encode, ipv4Bytes, ipv4ToString } from '../../protocols/wire/index.js';
import { makeRegistrationRequest } from '../../protocols/nhrp/build.js';
import { emitNhrp, nhrpLength, parseNhrp } from '../../protocols/nhrp/wire.js';
import { NhrpPacketType } from '../../protocols/nhrp/constants.js';
import { ETHERTYPE, PacketSocket } from '../../platform/native/packet-socket.js';
import {
  parseListSas, pingReport, renderReport, summariseCapture, xfrmStateRows,
  type CaptureReport, type CharonChild, type KernelState, type PingReport, type Role, type SaSnapshot, type ScenarioReport, type StepReport,
} from './strongswan-kernel-report.js';

const PSK = 'Cisco123';
const SELF = fileURLToPath(import.meta.url);
/** Our IPsec profile's lifetime in the spoke role (IOS's minimum): our side rekeys at 85-90 % of it. */
const SHORT_LIFETIME_S = 120;
/** Bounds of the waits (the VM runs under TCG: generous, but every wait ends). */
const START_MS = 120_000;
const SA_MS = 90_000;
const REKEY_PING = { count: 150, interval: 0.2 } as const;

interface Exec {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

function run(args: readonly string[], o: { check?: boolean; timeoutMs?: number; input?: string; env?: NodeJS.ProcessEnv } = {}): Exec {
  const r = spawnSync(args[0], args.slice(1), { encoding: 'utf8', timeout: o.timeoutMs ?? 30_000, input: o.input, env: o.env ?? process.env });
  const out = { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  if ((o.check ?? true) && out.status !== 0) throw new Error(`${args.join(' ')}: exit ${out.status}: ${out.stderr.trim() || out.stdout.trim()}`);
  return out;
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `cond` every `everyMs` until it holds; throws naming `what` after `limitMs`. */
async function until(what: string, cond: () => Promise<boolean> | boolean, limitMs: number, everyMs = 1000): Promise<void> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() >= deadline) throw new Error(`${what}: not after ${Math.round(limitMs / 1000)} s`);
    await pause(everyMs);
  }
}

function kernelStates(ns: string): KernelState[] {
  return xfrmStateRows(run(['ip', '-n', ns, 'xfrm', 'state']).stdout);
}

class Scenario {
  private readonly lab: Lab;
  private readonly steps: StepReport[] = [];
  private readonly made: string[] = [];
  private readonly t0 = Date.now();
  private readonly ourRouter: RouterName;
  private readonly theirRouter: RouterName;
  readonly ours: { nbma: string; tunnel: string };
  readonly charon: { nbma: string; tunnel: string };
  private charonProc: ChildProcess | undefined;
  private capture: ChildProcess | undefined;

  constructor(readonly role: Role, prefix: string, private readonly say: (s: string) => void) {
    this.lab = new Lab(prefix);
    this.ourRouter = role === 'spoke' ? 'spoke2' : 'hub';
    this.theirRouter = role === 'spoke' ? 'hub' : 'spoke1';
    this.ours = { nbma: nbmaOf(this.ourRouter), tunnel: tunnelOf(this.ourRouter) };
    this.charon = { nbma: nbmaOf(this.theirRouter), tunnel: tunnelOf(this.theirRouter) };
  }

  private get nsOurs(): string {
    return this.lab.ns(this.ourRouter);
  }

  private get nsCharon(): string {
    return this.lab.ns(this.theirRouter);
  }

  private file(name: string): string {
    return join(this.lab.dir, name);
  }

  private async step<T>(name: string, f: () => T | Promise<T>): Promise<T> {
    const t = Date.now();
    try {
      const v = await f();
      this.steps.push({ name, ok: true, ms: Date.now() - t });
      this.say(`  ok   ${name} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
      return v;
    } catch (e) {
      const error = (e as Error).message;
      this.steps.push({ name, ok: false, ms: Date.now() - t, error });
      this.say(`  FAIL ${name}: ${error}`);
      throw e;
    }
  }

  /** Underlay bridge; ours with eth0 (addressed by dmvpnd) and an empty lan0; charon's with eth0 and gre1. */
  private build(): void {
    const ul = this.lab.ns('ul');
    for (const ns of [ul, this.nsOurs, this.nsCharon]) {
      run(['ip', 'netns', 'add', ns]);
      this.made.push(ns);
    }
    const batch = (ns: string, lines: string[]): void => void run(['ip', '-n', ns, '-batch', '-'], { input: `${lines.join('\n')}\n` });
    batch(ul, ['link set lo up', 'link add br0 type bridge', 'link set br0 up']);
    batch(this.nsOurs, ['link set lo up', `link add eth0 type veth peer name u0 netns ${ul}`, 'link set eth0 up', 'link add lan0 type dummy', 'link set lan0 up']);
    batch(this.nsCharon, [
      'link set lo up', `link add eth0 type veth peer name u1 netns ${ul}`, `addr add ${this.charon.nbma}/24 dev eth0`, 'link set eth0 up',
      // A multipoint ip_gre device like ours (no key: the reference lab's tunnels have none), TTL 255 as IOS.
      `link add gre1 type gre local ${this.charon.nbma} ttl 255`, `addr add ${this.charon.tunnel}/24 dev gre1`, 'link set gre1 up',
      `neigh add ${this.ours.tunnel} lladdr ${this.ours.nbma} dev gre1 nud permanent`,
    ]);
    batch(ul, ['link set u0 master br0 up', 'link set u1 master br0 up']);
  }

  private startCapture(): void {
    // -Z root: tcpdump would drop to its own user, which cannot write into the lab's private folder.
    this.capture = spawn('ip', ['netns', 'exec', this.lab.ns('ul'), 'tcpdump', '-n', '-i', 'br0', '-U', '-Z', 'root', '-w', this.file('underlay.pcap'), 'ip'], { stdio: 'ignore' });
  }

  private async stopProcess(p: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(signal);
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  }

  /** Charon's configuration: transport-mode GRE between the NBMA addresses, as a DMVPN peer negotiates it. */
  private writeCharonConfig(): void {
    const me = this.charon.nbma;
    const peer = this.ours.nbma;
    writeFileSync(this.file('strongswan.conf'), [
      'charon {',
      '  load_modular = yes',
      '  install_routes = no',
      '  plugins {',
      '    include /etc/strongswan.d/charon/*.conf',
      '    vici {',
      `      socket = unix://${this.file('vici')}`,
      '    }',
      '  }',
      '  filelog {',
      '    log {',
      `      path = ${this.file('charon.log')}`,
      '      default = 1',
      '      ike = 2',
      '      knl = 2',
      '      chd = 2',
      '      flush_line = yes',
      '    }',
      '  }',
      '}',
      '',
    ].join('\n'));
    writeFileSync(this.file('swanctl.conf'), [
      'connections {',
      '  dmvpn {',
      '    version = 2',
      `    local_addrs = ${me}`,
      `    remote_addrs = ${peer}`,
      '    mobike = no',
      // Our IKE default (IOS's smart default proposal: AES-CBC-256, SHA-512, group 19).
      '    proposals = aes256-sha512-ecp256',
      '    local {',
      '      auth = psk',
      `      id = ${me}`,
      '    }',
      '    remote {',
      '      auth = psk',
      `      id = ${peer}`,
      '    }',
      '    children {',
      '      gre {',
      `        local_ts = ${me}/32[gre]`,
      `        remote_ts = ${peer}/32[gre]`,
      '        mode = transport',
      // IOS's default transform set (esp-aes esp-sha-hmac).
      '        esp_proposals = aes128-sha1',
      '      }',
      '    }',
      '  }',
      '}',
      'secrets {',
      '  ike-lab {',
      `    id-a = ${me}`,
      `    id-b = ${peer}`,
      `    secret = ${PSK}`,
      '  }',
      '}',
      '',
    ].join('\n'));
  }

  private swanctl(args: readonly string[], timeoutMs = 30_000): Exec {
    return run(['ip', 'netns', 'exec', this.nsCharon, 'swanctl', ...args, '--uri', `unix://${this.file('vici')}`], { check: false, timeoutMs });
  }

  private async startCharon(): Promise<void> {
    this.writeCharonConfig();
    this.charonProc = spawn('ip', ['netns', 'exec', this.nsCharon, 'charon-systemd'], {
      env: { ...process.env, STRONGSWAN_CONF: this.file('strongswan.conf') }, stdio: 'ignore',
    });
    await until('charon\'s vici socket', () => existsSync(this.file('vici')) || this.charonProc?.exitCode !== null, START_MS, 250);
    if (this.charonProc.exitCode !== null) throw new Error(`charon exited (${this.charonProc.exitCode})`);
    const r = this.swanctl(['--load-all', '--file', this.file('swanctl.conf')]);
    if (r.status !== 0) throw new Error(`swanctl --load-all: ${r.stderr.trim() || r.stdout.trim()}`);
  }

  private ourConfig(): string {
    const cfg = labConfig(this.ourRouter, { ipsec: true, dataplane: 'kernel' });
    if (this.role !== 'spoke') return cfg;
    // A short IPsec SA lifetime: our side rekeys the child SA during the scenario.
    const at = ' set ikev2-profile ike-profile\n';
    if (!cfg.includes(at)) throw new Error('the lab configuration has no ipsec profile');
    return cfg.replace(at, `${at} set security-association lifetime seconds ${SHORT_LIFETIME_S}\n`);
  }

  private async startOurs(): Promise<void> {
    writeFileSync(this.lab.configPath(this.ourRouter), this.ourConfig());
    this.lab.startDaemon(this.ourRouter);
    await until('dmvpnd answering on its control socket', async () => (await this.show(['show', 'version'])) !== undefined, START_MS)
      .catch((e: Error) => {
        throw new Error(`${e.message}\n${this.lab.log(this.ourRouter).split('\n').slice(-20).join('\n')}`);
      });
  }

  private async show<T>(words: string[], json = true): Promise<T | undefined> {
    try {
      const res = await request(this.lab.socket(this.ourRouter), { words, json }, 15_000);
      if (!res.ok) return undefined;
      return (json ? res.data : res.text) as T;
    } catch {
      return undefined;
    }
  }

  private async ourIpsec(): Promise<IpsecPeerJson | null> {
    const rows = await this.show<{ peers: IpsecPeerJson[] }[]>(['show', 'crypto', 'ipsec', 'sa']);
    return rows?.flatMap((r) => r.peers).find((p) => p.peer === this.charon.nbma) ?? null;
  }

  private async snapshot(): Promise<SaSnapshot> {
    const text = this.swanctl(['--list-sas']).stdout;
    return {
      charon: { ike: parseListSas(text), text },
      ours: {
        ipsec: await this.ourIpsec(),
        ike: (await this.show<Ikev2SaShow[]>(['show', 'crypto', 'ikev2', 'sa'])) ?? [],
        text: (await this.show<string>(['show', 'crypto', 'ipsec', 'sa'], false)) ?? '',
      },
      kernel: { ours: kernelStates(this.nsOurs), charon: kernelStates(this.nsCharon) },
    };
  }

  /** Charon's installed child and ours agree: its inbound SPI is our outbound SPI and the other way round. */
  private async agreed(): Promise<{ charon: CharonChild; ours: IpsecPeerJson } | undefined> {
    const child = parseListSas(this.swanctl(['--list-sas']).stdout).filter((s) => s.state === 'ESTABLISHED')
      .flatMap((s) => s.children).filter((c) => c.state === 'INSTALLED').at(-1);
    const ours = await this.ourIpsec();
    if (!child || !ours || ours.outboundSpi !== child.spiIn) return undefined;
    if (!ours.inbound.some((s) => s.spi === child.spiOut && s.state === 'installed')) return undefined;
    return { charon: child, ours };
  }

  private ping(count: number, interval: number): Promise<PingReport> {
    const p = spawn('ip', ['netns', 'exec', this.nsCharon, 'ping', '-n', '-c', String(count), '-i', String(interval), '-W', '2',
      '-I', this.charon.tunnel, this.ours.tunnel], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (d: Buffer) => void (out += d.toString()));
    p.stderr!.on('data', (d: Buffer) => void (out += d.toString()));
    const kill = setTimeout(() => p.kill('SIGKILL'), (count * interval + 30) * 1000);
    return new Promise((r) => p.on('exit', () => {
      clearTimeout(kill);
      r(pingReport(out));
    }));
  }

  /** Charon's side registers with our hub: this script's `register` mode in charon's namespace. */
  private register(): { code: number; from: string } {
    const r = run(['ip', 'netns', 'exec', this.nsCharon, process.execPath, SELF, 'register', 'gre1', this.charon.nbma, this.charon.tunnel,
      this.ours.nbma, this.ours.tunnel, PSK], { check: false, timeoutMs: START_MS });
    const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
    if (!line) throw new Error(`no answer to the Registration Request (exit ${r.status}): ${r.stderr.trim()}`);
    const reply = JSON.parse(line) as { code?: number; from?: string; error?: string };
    if (reply.code === undefined || reply.from === undefined) throw new Error(reply.error ?? line);
    return { code: reply.code, from: reply.from };
  }

  async run(): Promise<ScenarioReport> {
    let established: SaSnapshot | null = null;
    let rekeyed: SaSnapshot | null = null;
    let first: PingReport | null = null;
    let rekeyPing: PingReport | null = null;
    let registration: ScenarioReport['registration'] = null;
    let nhrpEntry: NhrpEntryJson | null = null;
    let failed = false;
    try {
      await this.step('namespaces: underlay bridge, ours, charon\'s with gre1', () => this.build());
      this.startCapture();
      if (this.role === 'spoke') {
        await this.step('charon up with its configuration loaded', () => this.startCharon());
        await this.step('dmvpnd (spoke, kernel dataplane) answering', () => this.startOurs());
      } else {
        await this.step('dmvpnd (hub, kernel dataplane) answering', () => this.startOurs());
        await this.step('charon up with its configuration loaded', () => this.startCharon());
        await this.step('charon initiates (swanctl --initiate --child gre)', () => {
          const r = this.swanctl(['--initiate', '--child', 'gre', '--timeout', '60'], 90_000);
          if (r.status !== 0) throw new Error(`swanctl --initiate: ${r.stdout.split('\n').slice(-8).join('\n')}`);
        });
      }
      const up = await this.step('IKE and child SA established, SPIs agree', async () => {
        let got: Awaited<ReturnType<Scenario['agreed']>>;
        await until('both sides holding the same child SA', async () => (got = await this.agreed()) !== undefined, SA_MS);
        return got!;
      });
      established = await this.snapshot();
      if (this.role === 'hub') {
        registration = await this.step('charon\'s side registers with our hub through ESP', () => this.register());
        nhrpEntry = await this.step('our hub maps charon\'s side', async () => {
          let e: NhrpEntryJson | undefined;
          await until('the NHRP entry', async () => {
            e = (await this.show<NhrpEntryJson[][]>(['show', 'ip', 'nhrp']))?.flat().find((x) => x.prefix === this.charon.tunnel && x.nbma === this.charon.nbma);
            return e !== undefined;
          }, 30_000);
          return e!;
        });
      }
      first = await this.step('ping over the tunnel (GRE in ESP)', async () => {
        const p = await this.ping(5, 0.5);
        if (p.received === 0) throw new Error(`no echo reply:\n${p.output}`);
        return p;
      });
      rekeyPing = await this.step(`the child SA rekeyed by ${this.role === 'spoke' ? 'us' : 'charon'} while pings run`, async () => {
        if (this.role === 'spoke') {
          // Our rekey comes at 85-90 % of the lifetime: start the series shortly before.
          await until('the child SA near its rekey time', async () => ((await this.ourIpsec())?.outbound[0]?.remainingSeconds ?? 0) <= 25, SHORT_LIFETIME_S * 1000);
        }
        const series = this.ping(REKEY_PING.count, REKEY_PING.interval);
        if (this.role === 'hub') {
          await pause(5000);
          const r = this.swanctl(['--rekey', '--child', 'gre']);
          if (r.status !== 0) throw new Error(`swanctl --rekey: ${r.stderr.trim() || r.stdout.trim()}`);
        }
        await until('new SPIs on both sides', async () => {
          const now = await this.agreed();
          return now !== undefined && now.charon.spiIn !== up.charon.spiIn && now.charon.spiOut !== up.charon.spiOut;
        }, SA_MS);
        const p = await series;
        if (p.received === 0) throw new Error(`no echo reply:\n${p.output}`);
        return p;
      });
      // The old SAs' Delete exchange has had time to finish.
      await pause(3000);
      rekeyed = await this.snapshot();
    } catch {
      failed = true;
    }
    await this.stopProcess(this.capture, 'SIGINT');
    let capture: CaptureReport | null = null;
    try {
      const pcap = this.file('underlay.pcap');
      if (existsSync(pcap)) capture = summariseCapture(readFileSync(pcap), this.ours.nbma, this.charon.nbma);
    } catch (e) {
      this.steps.push({ name: 'reading the underlay capture', ok: false, ms: 0, error: (e as Error).message });
    }
    const ok = !failed && this.steps.every((s) => s.ok);
    return {
      role: this.role, initiator: this.role === 'spoke' ? 'ours' : 'charon', rekeyedBy: this.role === 'spoke' ? 'ours' : 'charon',
      ours: this.ours, charon: this.charon, ok, ms: Date.now() - this.t0, steps: this.steps,
      established, rekeyed, pings: { first, rekey: rekeyPing }, registration, nhrpEntry, capture,
      ...(ok ? {} : { logs: this.logs() }),
    };
  }

  private logs(): Record<string, readonly string[]> {
    const charonLog = this.file('charon.log');
    return {
      dmvpnd: this.lab.log(this.ourRouter).split('\n').slice(-80),
      charon: existsSync(charonLog) ? readFileSync(charonLog, 'utf8').split('\n').slice(-80) : [],
    };
  }

  /** Stop charon, dmvpnd and the capture, delete the namespaces (and whatever still runs in them) and the folder. */
  async destroy(): Promise<void> {
    await this.stopProcess(this.capture, 'SIGINT').catch(() => undefined);
    await this.stopProcess(this.charonProc, 'SIGTERM').catch(() => undefined);
    await this.lab.destroy().catch(() => undefined);
    for (const ns of this.made.reverse()) {
      for (const pid of run(['ip', 'netns', 'pids', ns], { check: false }).stdout.split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
      run(['ip', 'netns', 'del', ns], { check: false });
    }
    this.made.length = 0;
  }
}

/**
 * `register DEV SRC-NBMA SRC-PROTO NHS-NBMA NHS-PROTO PASSWORD`: an NHRP Registration Request to
 * the NHS through the ip_gre device DEV (a packet socket for 0x2001: the kernel adds GRE and, when
 * a policy says so, ESP), every 3 s until the Registration Reply comes; prints it as JSON.
 */
async function register(args: readonly string[]): Promise<number> {
  const [device, srcNbma, srcProto, nhsNbma, nhsProto, password] = args;
  if (password === undefined) {
    process.stderr.write('usage: strongswan-kernel.js register DEV SRC-NBMA SRC-PROTO NHS-NBMA NHS-PROTO PASSWORD\n');
    return 2;
  }
  const requestId = 1 + Math.floor(Math.random() * 0xffff);
  const bytes = encode(makeRegistrationRequest({ srcNbma, srcProto, password, requestId, nhsProto, nhsNbma, holdingTime: 450 }), emitNhrp, nhrpLength, 'nhrp');
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let tries = 0;
    const finish = (line: object, status: number): void => {
      clearInterval(timer);
      sock.close();
      process.stdout.write(`${JSON.stringify(line)}\n`);
      resolve(status);
    };
    const sock = PacketSocket.open({
      device, protocol: ETHERTYPE.NHRP,
      onPacket: (payload, from) => {
        let p;
        try {
          p = parseNhrp(new Reader(payload, 'nhrp'));
        } catch {
          return;
        }
        if (p.type !== NhrpPacketType.REGISTRATION_REPLY || p.body.kind !== 'mandatory' || p.body.requestId !== requestId) return;
        const code = p.body.cies[0]?.code ?? -1;
        finish({ code, from: ipv4ToString(from) }, code === 0 ? 0 : 1);
      },
    });
    const send = (): void => {
      if (++tries > 20) return finish({ error: `no Registration Reply after ${tries - 1} requests` }, 1);
      sock.send(ipv4Bytes(nhsNbma), bytes);
    };
    timer = setInterval(send, 3000);
    send();
  });
}

async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === 'register') return register(argv.slice(1));
  let roles: Role[] = ['spoke', 'hub'];
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--json') json = true;
    else if (argv[i] === '--role') {
      const list = (argv[++i] ?? '').split(',').filter(Boolean);
      if (list.length === 0 || list.some((x) => x !== 'spoke' && x !== 'hub')) {
        process.stderr.write('strongswan-kernel: --role takes spoke, hub or both\n');
        return 2;
      }
      roles = list as Role[];
    } else {
      process.stderr.write(`strongswan-kernel: unknown argument "${argv[i]}" (--role spoke,hub  --json)\n`);
      return 2;
    }
  }
  const say = (s: string): void => void (json ? process.stderr : process.stdout).write(`${s}\n`);
  if (process.getuid?.() !== 0) {
    say('strongswan-kernel: needs root (network namespaces)');
    return 2;
  }
  if (!existsSync('/sys/module/ip_gre') || !existsSync('/sys/module/esp4')) {
    say('strongswan-kernel: needs the kernel\'s ip_gre and esp4; run it in the VM: npm run vm -- --cpus 2 --mem 2048 --timeout 1500 -- node dist/scripts/vm/strongswan-kernel.js');
    return 2;
  }
  const reports: ScenarioReport[] = [];
  let current: Scenario | undefined;
  const onSignal = (): void => {
    void (current?.destroy() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  for (const [n, role] of roles.entries()) {
    say(`== dmvpnd as ${role} with charon`);
    current = new Scenario(role, `sk${process.pid % 10000}-${n}`, say);
    try {
      const r = await current.run();
      reports.push(r);
      say(renderReport(r));
    } finally {
      await current.destroy();
      current = undefined;
    }
  }
  if (json) process.stdout.write(`${JSON.stringify(reports, null, 1)}\n`);
  const failed = reports.filter((r) => !r.ok).map((r) => r.role);
  say(failed.length === 0 ? `strongswan-kernel: all ${reports.length} scenarios passed` : `strongswan-kernel: FAILED ${failed.join(', ')}`);
  return failed.length === 0 ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
