/**
 * Three namespaces for the NAT-traversal tests, a spoke behind a NAT and a hub:
 *
 *   spoke (S)                    nat (N)                            hub (H)
 *   vS 10.1.0.2/24 ---- vN1 10.1.0.1/24   vN2 198.51.100.1/24 ---- vH 198.51.100.2/24
 *   default via 10.1.0.1         forwarding; UDP from 10.1.0.0/24 out of vN2 is
 *                                masqueraded to 198.51.100.1, ports 40000-40099
 *
 * The port range makes the translation visible: the spoke's 4500 never
 * survives it. N's own sockets (198.51.100.1) are not translated, so a plain
 * UDP socket there talks to the hub directly. Every name carries a per-run
 * prefix; cleanup() never throws and removes everything.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sh, delay, withTimeout, Capture } from './netns.js';
import type { NattCommand, NattNodeSpec } from './fixtures/natt-node.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'natt-node.js');
const PREFIX_RE = /^dpu(\d+)-/;

export const SPOKE = '10.1.0.2';
export const NAT_INSIDE = '10.1.0.1';
export const NAT_OUTSIDE = '198.51.100.1';
export const HUB = '198.51.100.2';
export const NAT_PORTS = { min: 40000, max: 40099 } as const;

export interface NodeEvent {
  readonly kind: string;
  readonly [field: string]: unknown;
}

/** A natt-node fixture in a namespace, driven over stdin/stdout. */
export class NattNode {
  readonly events: NodeEvent[] = [];
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exited = false;
  private readyResolve: ((tun: string) => void) | undefined;
  readonly ready: Promise<string>;
  stderr = '';

  constructor(readonly ns: string, spec: NattNodeSpec, private readonly child: ChildProcess = spawn('ip', ['netns', 'exec', ns, process.execPath, FIXTURE, JSON.stringify(spec)], { stdio: ['pipe', 'pipe', 'pipe'] })) {
    this.ready = new Promise((resolve) => (this.readyResolve = resolve));
    createInterface({ input: child.stdout! }).on('line', (line) => this.onLine(line));
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    child.on('exit', () => {
      this.exited = true;
      for (const w of this.waiting.values()) w.reject(new Error(`fixture in ${ns} exited: ${this.stderr.trim()}`));
      this.waiting.clear();
    });
  }

  private onLine(line: string): void {
    let msg: { type: string; id?: number; result?: unknown; error?: string; event?: NodeEvent; tun?: string };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      return;
    }
    if (msg.type === 'ready') this.readyResolve?.(msg.tun ?? '');
    else if (msg.type === 'event' && msg.event) this.events.push(msg.event);
    else if (msg.type === 'reply' && msg.id !== undefined) {
      const w = this.waiting.get(msg.id);
      this.waiting.delete(msg.id);
      if (msg.error !== undefined) w?.reject(new Error(msg.error));
      else w?.resolve(msg.result);
    }
  }

  waitReady(ms = 5000): Promise<string> {
    const died = new Promise<string>((_, rej) => this.child.once('exit', () => rej(new Error(`fixture in ${this.ns} exited: ${this.stderr}`))));
    return withTimeout(Promise.race([this.ready, died]), ms, `fixture ready in ${this.ns}`);
  }

  request<T>(cmd: NattCommand, ms = 5000): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`fixture in ${this.ns} has exited: ${this.stderr}`));
    const id = this.nextId++;
    const p = new Promise<unknown>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    this.child.stdin!.write(`${JSON.stringify({ id, ...cmd })}\n`);
    return withTimeout(p, ms, `${cmd.cmd} in ${this.ns}`) as Promise<T>;
  }

  stats(): Promise<Record<string, number>> {
    return this.request<Record<string, number>>({ cmd: 'stats' });
  }

  /** Wait (bounded) until the stats satisfy pred. */
  async statsUntil(pred: (s: Record<string, number>) => boolean, ms: number, what: string): Promise<Record<string, number>> {
    const end = Date.now() + ms;
    for (;;) {
      const s = await this.stats();
      if (pred(s)) return s;
      if (Date.now() > end) throw new Error(`${what}: not reached within ${ms} ms in ${this.ns}: ${JSON.stringify(s)}`);
      await delay(25);
    }
  }

  /** Wait (bounded) for an event that matches; it is removed from the list. */
  async waitEvent(pred: (e: NodeEvent) => boolean, ms: number, what: string): Promise<NodeEvent> {
    const end = Date.now() + ms;
    for (;;) {
      const i = this.events.findIndex(pred);
      if (i >= 0) return this.events.splice(i, 1)[0];
      if (Date.now() > end) throw new Error(`no ${what} event within ${ms} ms in ${this.ns}; got ${JSON.stringify(this.events.map((x) => x.kind))}`);
      await delay(20);
    }
  }

  async stop(ms = 2000): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    try {
      this.child.stdin!.end(`${JSON.stringify({ id: 0, cmd: 'exit' })}\n`);
      await withTimeout(gone, ms, `fixture exit in ${this.ns}`);
    } catch {
      this.child.kill('SIGKILL');
      await withTimeout(gone, ms, `fixture kill in ${this.ns}`).catch(() => undefined);
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export class NatLab {
  readonly prefix = `dpu${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
  readonly s = `${this.prefix}s`;
  readonly n = `${this.prefix}n`;
  readonly h = `${this.prefix}h`;
  readonly nodes: NattNode[] = [];
  readonly captures: Capture[] = [];
  private created: string[] = [];

  setup(): void {
    // Namespaces of earlier runs whose test process is gone.
    for (const line of (spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '').split('\n')) {
      const name = line.split(' ')[0];
      const m = PREFIX_RE.exec(name);
      if (m && !alive(Number(m[1]))) spawnSync('ip', ['netns', 'del', name], { timeout: 10_000 });
    }
    for (const ns of [this.s, this.n, this.h]) {
      sh('ip', ['netns', 'add', ns]);
      this.created.push(ns);
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    sh('ip', ['-n', this.s, 'link', 'add', 'vS', 'type', 'veth', 'peer', 'name', 'vN1', 'netns', this.n]);
    sh('ip', ['-n', this.h, 'link', 'add', 'vH', 'type', 'veth', 'peer', 'name', 'vN2', 'netns', this.n]);
    sh('ip', ['-n', this.s, 'addr', 'add', `${SPOKE}/24`, 'dev', 'vS']);
    sh('ip', ['-n', this.n, 'addr', 'add', `${NAT_INSIDE}/24`, 'dev', 'vN1']);
    sh('ip', ['-n', this.n, 'addr', 'add', `${NAT_OUTSIDE}/24`, 'dev', 'vN2']);
    sh('ip', ['-n', this.h, 'addr', 'add', `${HUB}/24`, 'dev', 'vH']);
    for (const [ns, dev] of [[this.s, 'vS'], [this.n, 'vN1'], [this.n, 'vN2'], [this.h, 'vH']]) sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    sh('ip', ['-n', this.s, 'route', 'add', 'default', 'via', NAT_INSIDE]);
    sh('ip', ['netns', 'exec', this.n, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    this.nat();
  }

  /** The masquerade rule in N (nft reads the ruleset from stdin). */
  private nat(): void {
    const rules = `table ip dpunat {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 10.1.0.0/24 oifname "vN2" meta l4proto udp masquerade to :${NAT_PORTS.min}-${NAT_PORTS.max}
  }
}
`;
    const r = spawnSync('ip', ['netns', 'exec', this.n, 'nft', '-f', '-'], { input: rules, encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0) throw new Error(`nft in ${this.n}: ${r.stderr}`);
  }

  async startNode(ns: string, spec: NattNodeSpec, overlay?: string): Promise<NattNode> {
    const node = new NattNode(ns, spec);
    this.nodes.push(node);
    const tun = await node.waitReady();
    if (overlay && tun) {
      sh('ip', ['-n', ns, 'addr', 'add', overlay, 'dev', tun]);
      sh('ip', ['-n', ns, 'link', 'set', tun, 'up']);
    }
    return node;
  }

  async capture(ns: string, iface: string): Promise<Capture> {
    const c = await Capture.start(ns, iface);
    this.captures.push(c);
    return c;
  }

  /** Never throws: captures, fixtures, namespaces. */
  async cleanup(): Promise<void> {
    for (const c of this.captures) c.kill();
    await Promise.all(this.nodes.map((n) => n.stop().catch(() => undefined)));
    for (const ns of this.created) spawnSync('ip', ['netns', 'del', ns], { timeout: 10_000 });
    this.created = [];
  }
}
