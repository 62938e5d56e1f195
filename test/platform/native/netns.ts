/**
 * Network-namespace plumbing for the dataplane tests: two namespaces joined by
 * a veth, a fixture node in each, tcpdump captures. Everything is named with a
 * per-run prefix and removed in cleanup(), which never throws; every wait has a
 * time bound.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCapture, stripLink } from '../../../daemon/capture/pcap.js';
import { Reader } from '../../../protocols/wire/index.js';
import { parseIpv4, type Ipv4Datagram } from '../../../protocols/ip/ipv4.js';
import type { Command, NodeSpec } from './fixtures/dataplane-node.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'dataplane-node.js');
const PREFIX_RE = /^dpn(\d+)-/;

export function sh(cmd: string, args: readonly string[], timeoutMs = 10_000): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Exit status of a command (no throw), e.g. for ping. */
export function status(cmd: string, args: readonly string[], timeoutMs = 10_000): number {
  const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: timeoutMs });
  return r.status ?? -1;
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Remove namespaces left by earlier runs whose test process is gone. */
export function removeStaleNamespaces(): void {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0];
    const m = PREFIX_RE.exec(name);
    if (m && !alive(Number(m[1]))) spawnSync('ip', ['netns', 'del', name]);
  }
}

export interface FixtureEvent {
  readonly kind: string;
  readonly [field: string]: unknown;
}

/** A fixture node: a dataplane in a namespace, driven over stdin/stdout. */
export class FixtureNode {
  readonly events: FixtureEvent[] = [];
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readyResolve: ((tun: string) => void) | undefined;
  private exited = false;
  readonly ready: Promise<string>;
  stderr = '';

  private constructor(readonly ns: string, private readonly child: ChildProcess) {
    this.ready = new Promise((resolve) => (this.readyResolve = resolve));
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => this.onLine(line));
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    child.on('exit', () => {
      this.exited = true;
      for (const w of this.waiting.values()) w.reject(new Error(`fixture in ${ns} exited: ${this.stderr.trim()}`));
      this.waiting.clear();
    });
  }

  static spawn(ns: string, spec: NodeSpec): FixtureNode {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, FIXTURE, JSON.stringify(spec)], { stdio: ['pipe', 'pipe', 'pipe'] });
    return new FixtureNode(ns, child);
  }

  private onLine(line: string): void {
    let msg: { type: string; id?: number; result?: unknown; error?: string; event?: FixtureEvent; tun?: string };
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

  async waitReady(ms = 5000): Promise<string> {
    return withTimeout(
      Promise.race([this.ready, new Promise<string>((_, rej) => this.child.once('exit', () => rej(new Error(`fixture in ${this.ns} exited: ${this.stderr}`))))]),
      ms,
      `fixture ready in ${this.ns}`,
    );
  }

  request<T>(cmd: Command, ms = 5000): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`fixture in ${this.ns} has exited: ${this.stderr}`));
    const id = this.nextId++;
    const p = new Promise<unknown>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    this.child.stdin!.write(`${JSON.stringify({ id, ...cmd })}\n`);
    return withTimeout(p, ms, `${cmd.cmd} in ${this.ns}`) as Promise<T>;
  }

  stats(): Promise<Record<string, number>> {
    return this.request<Record<string, number>>({ cmd: 'stats' });
  }

  /** Wait until an event matches (bounded). */
  async waitEvent(pred: (e: FixtureEvent) => boolean, ms: number, what: string): Promise<FixtureEvent> {
    const end = Date.now() + ms;
    for (;;) {
      const e = this.events.find(pred);
      if (e) return e;
      if (Date.now() > end) throw new Error(`no ${what} event within ${ms} ms in ${this.ns}; got ${JSON.stringify(this.events.map((x) => x.kind))}`);
      await delay(20);
    }
  }

  /** Ask it to close the dataplane and exit; kill it if it does not within the bound. */
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

/** tcpdump writing pcap to its stdout, collected in memory. */
export class Capture {
  private readonly chunks: Buffer[] = [];
  private err = '';
  private done: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    child.stdout!.on('data', (d: Buffer) => this.chunks.push(d));
    child.stderr!.on('data', (d: Buffer) => (this.err += d.toString()));
    this.done = new Promise((r) => child.once('exit', () => r()));
  }

  static async start(ns: string, iface: string, ms = 5000): Promise<Capture> {
    const child = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-i', iface, '-n', '-U', '--immediate-mode', '-s', '0', '-Z', 'root', '-w', '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const c = new Capture(child);
    const end = Date.now() + ms;
    while (!c.err.includes('listening on')) {
      if (Date.now() > end || child.exitCode !== null) {
        child.kill('SIGKILL');
        throw new Error(`tcpdump on ${ns}/${iface} did not start: ${c.err}`);
      }
      await delay(20);
    }
    return c;
  }

  /** Stop and return the IPv4 datagrams seen. */
  async stop(ms = 3000): Promise<Ipv4Datagram[]> {
    await delay(150); // let packets still in flight reach tcpdump
    if (this.child.exitCode === null) this.child.kill('SIGINT');
    await withTimeout(this.done, ms, 'tcpdump exit').catch(() => {
      this.child.kill('SIGKILL');
    });
    const buf = new Uint8Array(Buffer.concat(this.chunks));
    if (buf.length === 0) return [];
    const out: Ipv4Datagram[] = [];
    for (const frame of parseCapture(buf)) {
      const l = stripLink(frame);
      if (!l || l.etherType !== 0x0800) continue;
      try {
        out.push(parseIpv4(new Reader(l.payload, 'ipv4')));
      } catch {
        // a frame cut short by the snap length or a foreign packet: not ours
      }
    }
    return out;
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/**
 * Two namespaces A and B joined by veth vA/vB, 203.0.113.1/24 and .2/24.
 * Extra addresses: .3 on A (a third NBMA for the hub test), .4 on B (the second
 * multicast target).
 */
export class TwoNamespaces {
  readonly prefix = `dpn${process.pid}-${Math.random().toString(36).slice(2, 7)}`;
  readonly a = `${this.prefix}a`;
  readonly b = `${this.prefix}b`;
  readonly nodes: FixtureNode[] = [];
  readonly captures: Capture[] = [];
  private created: string[] = [];

  setup(): void {
    removeStaleNamespaces();
    for (const ns of [this.a, this.b]) {
      sh('ip', ['netns', 'add', ns]);
      this.created.push(ns);
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    sh('ip', ['-n', this.a, 'link', 'add', 'vA', 'type', 'veth', 'peer', 'name', 'vB', 'netns', this.b]);
    sh('ip', ['-n', this.a, 'addr', 'add', '203.0.113.1/24', 'dev', 'vA']);
    sh('ip', ['-n', this.a, 'addr', 'add', '203.0.113.3/24', 'dev', 'vA']);
    sh('ip', ['-n', this.b, 'addr', 'add', '203.0.113.2/24', 'dev', 'vB']);
    sh('ip', ['-n', this.b, 'addr', 'add', '203.0.113.4/24', 'dev', 'vB']);
    sh('ip', ['-n', this.a, 'link', 'set', 'vA', 'up']);
    sh('ip', ['-n', this.b, 'link', 'set', 'vB', 'up']);
  }

  async startNode(ns: string, spec: NodeSpec, overlay: string): Promise<FixtureNode> {
    const node = FixtureNode.spawn(ns, spec);
    this.nodes.push(node);
    const tun = await node.waitReady();
    sh('ip', ['-n', ns, 'addr', 'add', overlay, 'dev', tun]);
    sh('ip', ['-n', ns, 'link', 'set', tun, 'up']);
    return node;
  }

  async capture(ns: string, iface: string): Promise<Capture> {
    const c = await Capture.start(ns, iface);
    this.captures.push(c);
    return c;
  }

  /** Never throws: stop captures and fixtures, delete the namespaces. */
  async cleanup(): Promise<void> {
    for (const c of this.captures) c.kill();
    await Promise.all(this.nodes.map((n) => n.stop().catch(() => undefined)));
    for (const ns of this.created) spawnSync('ip', ['netns', 'del', ns], { timeout: 10_000 });
    this.created = [];
  }
}
