/**
 * The reference lab (shared/seed/basic-dmvpn.md) in network namespaces: a hub
 * and three spokes on an underlay bridge (203.0.113.0/24), each router with a
 * LAN (192.168.N.0/24) and a host on it. Every run uses its own name prefix and
 * removes everything it made, even on failure.
 *
 * With `natSpoke`, that spoke sits behind a NAT namespace instead of on the
 * bridge: its eth0 is 172.16.N.2/24 (its NBMA address, default route via the
 * NAT's 172.16.N.1), and the NAT's outside is 203.0.113.10N on the bridge,
 * masquerading everything from 172.16.N.0/24 (UDP onto ports 40000-40999, so
 * that no port, 500 or 4500, survives the translation).
 */
import { spawnSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, readFileSync, existsSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export type RouterName = 'hub' | 'spoke1' | 'spoke2' | 'spoke3';
export const ROUTERS: readonly RouterName[] = ['hub', 'spoke1', 'spoke2', 'spoke3'];

export function routerIndex(r: RouterName): number {
  return r === 'hub' ? 0 : Number(r.slice(-1));
}

export function nbmaOf(r: RouterName): string {
  return r === 'hub' ? '203.0.113.1' : `203.0.113.1${routerIndex(r)}`;
}

export function tunnelOf(r: RouterName): string {
  return r === 'hub' ? '10.0.0.1' : `10.0.0.1${routerIndex(r)}`;
}

/** With `natSpoke: r`: r's own (inside, private) NBMA address, its NAT's inside address, and the NAT's public address. */
export function natInsideOf(r: RouterName): string {
  return `172.16.${routerIndex(r)}.2`;
}
export function natGatewayOf(r: RouterName): string {
  return `172.16.${routerIndex(r)}.1`;
}
export function natPublicOf(r: RouterName): string {
  return `203.0.113.10${routerIndex(r)}`;
}
/** The source ports the lab's NAT gives UDP flows (none of 500 or 4500 survives). */
export const NAT_PORT_RANGE = { min: 40000, max: 40999 } as const;

/** Variations of the reference lab for tests and benchmarks. */
export interface LabOptions {
  /** `tunnel protection ipsec profile` on every tunnel (the reference lab's crypto blocks). */
  readonly ipsec?: boolean;
  /** A `crypto ipsec transform-set` for the IPsec profile, e.g. "esp-gcm 256" (IOS's default set when absent). */
  readonly transformSet?: string;
  /** `ip nhrp holdtime` on every tunnel (the reference lab's 450 s when absent). */
  readonly holdtime?: number;
  /** `tunnel dataplane kernel|userspace` on every tunnel (the daemon chooses when absent). */
  readonly dataplane?: 'kernel' | 'userspace';
  /** Put this spoke behind a NAT (namespace `<prefix>-nat`, nftables masquerade) instead of on the bridge. */
  readonly natSpoke?: Exclude<RouterName, 'hub'>;
  /**
   * DMVPN phase (default 3, the reference lab). Phase 2: the hub passes each spoke's routes on with
   * the spoke as next hop (`no ip next-hop-self eigrp 1`) and sends no redirect, the spokes take no
   * shortcut; a spoke resolves the next hop of its route through the NHS and then sends direct.
   */
  readonly phase?: 2 | 3;
}

/**
 * DMVPN_LAB_DATAPLANE=kernel|userspace runs every lab (tests included) on that dataplane: the
 * kernel-dataplane tests run the same lab tests inside the VM this way.
 */
export function labEnvOptions(env: NodeJS.ProcessEnv = process.env): LabOptions {
  const d = env.DMVPN_LAB_DATAPLANE;
  if (d === undefined || d === '') return {};
  if (d !== 'kernel' && d !== 'userspace') throw new Error(`DMVPN_LAB_DATAPLANE must be kernel or userspace, not ${JSON.stringify(d)}`);
  return { dataplane: d };
}

/** The lab configuration of a router: the reference lab's commands (IPsec aside, and the split-horizon typo corrected). */
export function labConfig(r: RouterName, opts: LabOptions = {}): string {
  const i = routerIndex(r);
  // The reference lab's IPsec template, with the Linux name of the underlay interface.
  const crypto = opts.ipsec ? [
    'crypto ikev2 keyring ike-keyring',
    ' peer dmvpn',
    '  address 0.0.0.0 0.0.0.0',
    '  pre-shared-key Cisco123',
    '!',
    'crypto ikev2 profile ike-profile',
    ' authentication local pre-share',
    ' authentication remote pre-share',
    ' keyring local ike-keyring',
    ' match address local interface eth0',
    ' match identity remote address 0.0.0.0 0.0.0.0',
    '!',
    ...(opts.transformSet ? [`crypto ipsec transform-set lab-ts ${opts.transformSet}`, ' mode transport', '!'] : []),
    'crypto ipsec profile ipsec-profile',
    ' set ikev2-profile ike-profile',
    ...(opts.transformSet ? [' set transform-set lab-ts'] : []),
    '!',
  ] : [];
  const protect = opts.ipsec ? [' tunnel protection ipsec profile ipsec-profile'] : [];
  const holdtime = ` ip nhrp holdtime ${opts.holdtime ?? 450}`;
  const dataplane = opts.dataplane ? [` tunnel dataplane ${opts.dataplane}`] : [];
  const common = [
    `hostname ${r}`,
    '!',
    ...crypto,
    'interface eth0',
    ` ip address ${opts.natSpoke === r ? natInsideOf(r) : nbmaOf(r)} 255.255.255.0`,
    '!',
    'interface lan0',
    ` ip address 192.168.${i}.1 255.255.255.0`,
    '!',
  ];
  if (r === 'hub') {
    return [
      ...common,
      'int tunnel 0',
      ' ip address 10.0.0.1 255.255.255.0',
      ' ip mtu 1400',
      ' ip nhrp authentication Cisco123',
      ' ip nhrp map multicast dynamic',
      ' ip nhrp network-id 100',
      ' tunnel source eth0',
      ' tunnel mode gre multipoint',
      ' bandwidth 1000',
      ' ip tcp adjust-mss 1360',
      holdtime,
      ...(opts.phase === 2 ? [' no ip next-hop-self eigrp 1'] : [' ip nhrp redirect']),
      ' no ip split-horizon eigrp 1',
      ...dataplane,
      ...protect,
      '!',
      'router eigrp 1',
      ' network 192.168.0.0 0.0.0.255',
      ' network 10.0.0.0 0.0.0.255',
      '',
    ].join('\n');
  }
  return [
    ...common,
    'interface tunnel 0',
    ' bandwidth 1000',
    ` ip address ${tunnelOf(r)} 255.255.255.0`,
    ' ip mtu 1400',
    ' ip nhrp authentication Cisco123',
    ' ip nhrp map 10.0.0.1 203.0.113.1',
    ' ip nhrp map multicast 203.0.113.1',
    ' ip nhrp network-id 100',
    holdtime,
    ' ip nhrp nhs 10.0.0.1',
    ...(opts.phase === 2 ? [] : [' ip nhrp shortcut']),
    ' no ip nhrp redirect',
    ' ip tcp adjust-mss 1360',
    ' tunnel source eth0',
    ' tunnel mode gre multipoint',
    ...dataplane,
    ...protect,
    '!',
    'router eigrp 1',
    ` network 192.168.${i}.0 0.0.0.255`,
    ' network 10.0.0.0 0.0.0.255',
    '',
  ].join('\n');
}

/**
 * Inside the kernel VM (QEMU without KVM: every process is several times slower, node's start
 * above all), every wait of the lab is this many times longer. DMVPN_LAB_TIME_SCALE overrides.
 */
export function labTimeScale(env: NodeJS.ProcessEnv = process.env): number {
  const s = Number(env.DMVPN_LAB_TIME_SCALE ?? (env.DMVPN_VM === '1' ? 5 : 1));
  return Number.isFinite(s) && s >= 1 ? s : 1;
}

function sh(args: string[], opts: { check?: boolean; timeoutMs?: number } = {}): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(args[0], args.slice(1), { encoding: 'utf8', timeout: (opts.timeoutMs ?? 20_000) * labTimeScale() });
  const out = { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  if ((opts.check ?? true) && out.status !== 0) throw new Error(`${args.join(' ')} failed (${out.status}): ${out.stderr.trim()}`);
  return out;
}

export class Lab {
  readonly prefix: string;
  readonly dir: string;
  private readonly daemons = new Map<RouterName, ChildProcess>();
  private readonly stopping = new Set<RouterName>();
  private readonly made: string[] = [];
  private readonly captures = new Set<ChildProcess>();

  constructor(prefix = `dl${process.pid % 100000}`, dir?: string, readonly opts: LabOptions = {}) {
    this.prefix = prefix;
    this.dir = dir ?? mkdtempSync(join(tmpdir(), 'dmvpn-lab-'));
  }

  /** The options in force: the constructor's over DMVPN_LAB_DATAPLANE. */
  get options(): LabOptions {
    return { ...labEnvOptions(), ...this.opts };
  }

  /** Start dmvpnd detached from this process (lab up): it outlives the command. Returns its pid. */
  startDetached(r: RouterName): number {
    const fd = openSync(this.logFile(r), 'a');
    const child = spawn('ip', ['netns', 'exec', this.ns(r), process.execPath, join(ROOT, 'bin', 'dmvpnd.js'),
      '--config', this.configPath(r), '--socket', this.socket(r), '--log-format', 'text'], { stdio: ['ignore', fd, fd], detached: true });
    child.unref();
    closeSync(fd);
    return child.pid ?? -1;
  }

  ns(r: RouterName | 'ul' | 'nat' | `h${number}`): string {
    return `${this.prefix}-${r}`;
  }

  /**
   * tcpdump on a node's interface into `file`, each packet written as it comes (-U), given time to
   * start. stop() ends it (SIGINT) and gives it time to write the last packets; destroy() stops
   * any left running.
   */
  async capture(node: RouterName | 'ul' | 'nat', iface: string, file: string, filter: string): Promise<{ stop(): Promise<void> }> {
    const p = spawn('ip', ['netns', 'exec', this.ns(node), 'tcpdump', '--immediate-mode', '-i', iface, '-U', '-w', file, filter], { stdio: 'ignore' });
    this.captures.add(p);
    await new Promise((r) => setTimeout(r, 500 * labTimeScale()));
    return {
      stop: async () => {
        if (!this.captures.delete(p)) return;
        p.kill('SIGINT');
        await new Promise((r) => setTimeout(r, 300 * labTimeScale()));
      },
    };
  }

  exec(r: RouterName | 'ul' | 'nat' | `h${number}`, args: string[], opts: { check?: boolean; timeoutMs?: number } = {}) {
    return sh(['ip', 'netns', 'exec', this.ns(r), ...args], opts);
  }

  socket(r: RouterName): string {
    return join(this.dir, `${r}.sock`);
  }

  logFile(r: RouterName): string {
    return join(this.dir, `${r}.log`);
  }

  /** Build the namespaces, links and addresses (not the daemons). */
  build(): void {
    const ul = this.ns('ul');
    this.addNs(ul);
    sh(['ip', '-n', ul, 'link', 'add', 'br0', 'type', 'bridge']);
    sh(['ip', '-n', ul, 'link', 'set', 'br0', 'up']);
    for (const r of ROUTERS) {
      const i = routerIndex(r);
      const ns = this.ns(r);
      const host = this.ns(`h${i}`);
      this.addNs(ns);
      this.addNs(host);
      sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      sh(['ip', '-n', host, 'link', 'set', 'lo', 'up']);
      if (this.opts.natSpoke === r) this.buildNat(r);
      else {
        // underlay: eth0 in the router, its peer on the bridge
        sh(['ip', '-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `u${i}`, 'netns', ul]);
        sh(['ip', '-n', ul, 'link', 'set', `u${i}`, 'master', 'br0', 'up']);
      }
      sh(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
      // LAN: lan0 in the router, eth0 in the host
      sh(['ip', '-n', ns, 'link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host]);
      sh(['ip', '-n', host, 'addr', 'add', `192.168.${i}.10/24`, 'dev', 'eth0']);
      sh(['ip', '-n', host, 'link', 'set', 'eth0', 'up']);
      sh(['ip', '-n', host, 'route', 'add', 'default', 'via', `192.168.${i}.1`]);
      writeFileSync(join(this.dir, `${r}.conf`), labConfig(r, { ...labEnvOptions(), ...this.opts }));
    }
  }

  /**
   * `r`'s eth0 to the NAT's in0 (172.16.N.0/24), the NAT's out0 on the bridge as
   * natPublicOf(r). The masquerade covers every protocol, so that anything the
   * spoke sent besides UDP (raw ESP, clear GRE) would show on the hub's wire too.
   */
  private buildNat(r: RouterName): void {
    const i = routerIndex(r);
    const nat = this.ns('nat');
    this.addNs(nat);
    sh(['ip', '-n', nat, 'link', 'set', 'lo', 'up']);
    sh(['ip', '-n', this.ns(r), 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'in0', 'netns', nat]);
    sh(['ip', '-n', nat, 'link', 'add', 'out0', 'type', 'veth', 'peer', 'name', `u${i}`, 'netns', this.ns('ul')]);
    sh(['ip', '-n', this.ns('ul'), 'link', 'set', `u${i}`, 'master', 'br0', 'up']);
    sh(['ip', '-n', nat, 'addr', 'add', `${natGatewayOf(r)}/24`, 'dev', 'in0']);
    sh(['ip', '-n', nat, 'addr', 'add', `${natPublicOf(r)}/24`, 'dev', 'out0']);
    sh(['ip', '-n', nat, 'link', 'set', 'in0', 'up']);
    sh(['ip', '-n', nat, 'link', 'set', 'out0', 'up']);
    sh(['ip', 'netns', 'exec', nat, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    // The spoke's address is on eth0 before the daemon starts: the route needs it (the daemon re-adds it: EEXIST is fine).
    sh(['ip', '-n', this.ns(r), 'addr', 'add', `${natInsideOf(r)}/24`, 'dev', 'eth0']);
    sh(['ip', '-n', this.ns(r), 'link', 'set', 'eth0', 'up']);
    sh(['ip', '-n', this.ns(r), 'route', 'add', 'default', 'via', natGatewayOf(r)]);
    const inside = `${natGatewayOf(r).replace(/\.1$/, '.0')}/24`;
    const rules = `table ip labnat {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr ${inside} oifname "out0" meta l4proto udp masquerade to :${NAT_PORT_RANGE.min}-${NAT_PORT_RANGE.max}
    ip saddr ${inside} oifname "out0" masquerade
  }
}
`;
    const res = spawnSync('ip', ['netns', 'exec', nat, 'nft', '-f', '-'], { input: rules, encoding: 'utf8', timeout: 10_000 * labTimeScale() });
    if (res.status !== 0) throw new Error(`nft in ${nat} failed (${res.status}): ${res.stderr.trim()}`);
  }

  private addNs(name: string): void {
    sh(['ip', 'netns', 'add', name]);
    this.made.push(name);
  }

  configPath(r: RouterName): string {
    return join(this.dir, `${r}.conf`);
  }

  /** Start dmvpnd in a router namespace. */
  startDaemon(r: RouterName, extra: string[] = []): void {
    const args = ['netns', 'exec', this.ns(r), process.execPath, join(ROOT, 'bin', 'dmvpnd.js'),
      '--config', this.configPath(r), '--socket', this.socket(r), '--log-format', 'text', '--log-level', 'debug', ...extra];
    const out = join(this.dir, `${r}.log`);
    writeFileSync(out, '');
    const child = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => writeFileSync(out, d, { flag: 'a' }));
    child.stderr?.on('data', (d: Buffer) => writeFileSync(out, d, { flag: 'a' }));
    this.daemons.set(r, child);
  }

  async stopDaemon(r: RouterName, timeoutMs = 5000 * labTimeScale()): Promise<void> {
    this.stopping.add(r);
    const c = this.daemons.get(r);
    if (!c || c.exitCode !== null) return;
    const done = new Promise<void>((res) => c.once('exit', () => res()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    await done;
    clearTimeout(t);
    this.daemons.delete(r);
  }

  log(r: RouterName): string {
    return existsSync(this.logFile(r)) ? readFileSync(this.logFile(r), 'utf8') : '';
  }

  /** dmvpnctl against one router's daemon. */
  ctl(r: RouterName, words: string[]): { status: number; stdout: string; stderr: string } {
    return sh([process.execPath, join(ROOT, 'bin', 'dmvpnctl.js'), ...words, '--socket', this.socket(r)], { check: false, timeoutMs: 10_000 });
  }

  ctlJson<T>(r: RouterName, words: string[]): T | undefined {
    const o = this.ctl(r, [...words, '--json']);
    if (o.status !== 0) return undefined;
    return JSON.parse(o.stdout) as T;
  }

  async waitFor(what: string, ok: () => boolean, timeoutMs = 30_000, stepMs = 250): Promise<void> {
    timeoutMs *= labTimeScale();
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (ok()) return;
      // A daemon that died will not bring the awaited state: say so at once, with its last words.
      for (const [r, c] of this.daemons) {
        if (c.exitCode !== null && c.exitCode !== 0 && !this.stopping.has(r)) {
          throw new Error(`waiting for ${what}: ${r}'s dmvpnd exited with status ${c.exitCode}:\n${this.log(r).split('\n').slice(-8).join('\n')}`);
        }
      }
      await new Promise((r) => setTimeout(r, stepMs));
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  }

  /** Stop every daemon, delete every namespace, remove the temp folder. */
  async destroy(keepDir = false): Promise<void> {
    for (const r of [...this.daemons.keys()]) await this.stopDaemon(r).catch(() => undefined);
    for (const p of this.captures) p.kill('SIGKILL');
    this.captures.clear();
    for (const ns of this.made.reverse()) sh(['ip', 'netns', 'del', ns], { check: false });
    this.made.length = 0;
    if (!keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
