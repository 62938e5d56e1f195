/**
 * A deterministic IKEv2 network for tests: IkeManagers exchange the bytes of
 * their 'send' actions through a FIFO wire, a fake clock jumps from deadline
 * to deadline, random octets come from a seeded generator, and an optional
 * NAT rewrites one node's address and ports. Loss, duplication and tampering
 * are hooks on the wire.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { toHex } from '../../../protocols/wire/index.js';
import { IkeManager } from '../../../protocols/ikev2/manager.js';
import { ikeConfig, type IkeConfig } from '../../../protocols/ikev2/policy.js';
import type { ChildSaInfo, Endpoint, IkeAction } from '../../../protocols/ikev2/engine-types.js';

/** A deterministic stand-in for crypto.randomBytes: SHA-256 in counter mode over a seed. */
export function seededRandom(seed: number | string): (n: number) => Uint8Array {
  let counter = 0;
  let pool = new Uint8Array(0);
  return (n: number) => {
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      if (pool.length === 0) pool = new Uint8Array(createHash('sha256').update(`${seed}/${counter++}`).digest());
      const take = Math.min(pool.length, n - at);
      out.set(pool.subarray(0, take), at);
      pool = pool.subarray(take);
      at += take;
    }
    return out;
  };
}

export interface Packet {
  readonly from: Endpoint;
  readonly to: Endpoint;
  readonly bytes: Uint8Array;
  readonly at: number;
}

export class IkeNode {
  readonly manager: IkeManager;
  readonly actions: IkeAction[] = [];
  /** Installed ESP SAs by inbound SPI, as the daemon would keep them. */
  readonly children = new Map<number, ChildSaInfo>();
  readonly logs: string[] = [];

  constructor(readonly name: string, readonly cfg: IkeConfig, seed: number | string, now: number) {
    this.manager = new IkeManager(cfg, seededRandom(seed), now);
  }

  get address(): string {
    return this.cfg.localAddress;
  }

  record(actions: readonly IkeAction[]): Packet[] {
    const out: Packet[] = [];
    for (const a of actions) {
      this.actions.push(a);
      switch (a.kind) {
        case 'send': out.push({ from: a.from, to: a.to, bytes: a.bytes, at: 0 }); break;
        case 'child-up': this.children.set(a.child.spiIn, a.child); break;
        case 'child-rekeyed': this.children.set(a.child.spiIn, a.child); break;
        case 'child-down': this.children.delete(a.spiIn); break;
        case 'log': this.logs.push(`${a.level}: ${a.msg}`); break;
        default: break;
      }
    }
    return out;
  }

  count(kind: IkeAction['kind']): number {
    return this.actions.filter((a) => a.kind === kind).length;
  }

  of<K extends IkeAction['kind']>(kind: K): Extract<IkeAction, { kind: K }>[] {
    return this.actions.filter((a): a is Extract<IkeAction, { kind: K }> => a.kind === kind);
  }
}

/** A NAT in front of one node: its private address appears as `publicAddress`, ports mapped to base + n. */
export interface Nat {
  readonly inside: string;
  readonly publicAddress: string;
  readonly portBase: number;
}

export class IkeSim {
  now = 1_000_000;
  readonly nodes = new Map<string, IkeNode>();
  readonly queue: Packet[] = [];
  /** Every packet put on the wire (before loss), in order. */
  readonly wire: Packet[] = [];
  /** Return true to lose a packet. */
  lose: (p: Packet, index: number) => boolean = () => false;
  /** Rewrite a packet in flight (tampering); return undefined to keep it as is. */
  tamper: (p: Packet, index: number) => Uint8Array | undefined = () => undefined;
  nat: Nat | undefined;
  private readonly natMap = new Map<string, number>();

  add(name: string, cfg: Partial<IkeConfig> & Pick<IkeConfig, 'localAddress'>, seed: number | string = name): IkeNode {
    const full = ikeConfig({ keyring: [{ address: '0.0.0.0', prefixLength: 0, psk: 'cisco123' }], ...cfg });
    const node = new IkeNode(name, full, seed, this.now);
    this.nodes.set(full.localAddress, node);
    return node;
  }

  node(address: string): IkeNode {
    const n = this.nodes.get(address);
    if (!n) throw new Error(`no node ${address}`);
    return n;
  }

  /** Feed a node's actions to the wire. */
  apply(node: IkeNode, actions: readonly IkeAction[]): void {
    for (const p of node.record(actions)) this.put({ ...p, at: this.now });
  }

  private put(p: Packet): void {
    let pkt = p;
    if (this.nat && p.from.address === this.nat.inside) {
      const k = `${p.from.port}`;
      if (!this.natMap.has(k)) this.natMap.set(k, this.nat.portBase + this.natMap.size);
      pkt = { ...p, from: { address: this.nat.publicAddress, port: this.natMap.get(k)! } };
    }
    this.wire.push(pkt);
    const i = this.wire.length - 1;
    if (this.lose(pkt, i)) return;
    const t = this.tamper(pkt, i);
    this.queue.push(t ? { ...pkt, bytes: t } : pkt);
  }

  private destination(p: Packet): { node: IkeNode; localPort: number } | undefined {
    if (this.nat && p.to.address === this.nat.publicAddress) {
      for (const [inside, outside] of this.natMap) {
        if (outside === p.to.port) return { node: this.node(this.nat.inside), localPort: Number(inside) };
      }
      return undefined;
    }
    const node = this.nodes.get(p.to.address);
    return node ? { node, localPort: p.to.port } : undefined;
  }

  /** Deliver queued packets until the wire is quiet. */
  flush(limit = 10_000): void {
    for (let i = 0; i < limit && this.queue.length > 0; i++) {
      const p = this.queue.shift()!;
      const d = this.destination(p);
      if (!d) continue;
      this.apply(d.node, d.node.manager.receive(p.from, p.bytes, this.now, d.localPort));
    }
  }

  connect(from: IkeNode, to: string): void {
    this.apply(from, from.manager.connect(to, this.now));
    this.flush();
  }

  /** Advance the clock deadline by deadline until `ms` from now, delivering everything in between. */
  run(ms: number): void {
    const until = this.now + ms;
    this.flush();
    for (let guard = 0; guard < 100_000; guard++) {
      let next: number | undefined;
      for (const n of this.nodes.values()) {
        const d = n.manager.nextDeadline();
        if (d !== undefined && (next === undefined || d < next)) next = d;
      }
      if (next === undefined || next > until) break;
      this.now = Math.max(this.now, next);
      for (const n of this.nodes.values()) this.apply(n, n.manager.tick(this.now));
      this.flush();
      // A deadline that tick() does not move forward would spin the daemon's event loop.
      for (const n of this.nodes.values()) {
        const d = n.manager.nextDeadline();
        if (d !== undefined && d <= this.now) throw new Error(`${n.name}: deadline ${d} not after now ${this.now} after tick`);
      }
    }
    this.now = until;
  }
}

/** The established, non-replaced IKE SAs of a node. */
export function established(n: IkeNode): ReturnType<IkeManager['sas']>[number][] {
  return n.manager.sas().filter((s) => s.state === 'established');
}

export const HUB = '198.51.100.1';
export const SPOKE = '192.0.2.10';
export const SPOKE2 = '192.0.2.20';

/** Both ends hold one child pair each and their keys mirror each other. */
export function assertChildPair(a: IkeNode, b: IkeNode): void {
  assert.equal(a.children.size, 1, `${a.name} has one child SA`);
  assert.equal(b.children.size, 1, `${b.name} has one child SA`);
  const ca = [...a.children.values()][0];
  const cb = [...b.children.values()][0];
  assert.equal(ca.spiOut, cb.spiIn);
  assert.equal(ca.spiIn, cb.spiOut);
  assert.equal(toHex(ca.outbound.encrKey), toHex(cb.inbound.encrKey));
  assert.equal(toHex(ca.outbound.integKey), toHex(cb.inbound.integKey));
  assert.equal(toHex(ca.inbound.encrKey), toHex(cb.outbound.encrKey));
  assert.equal(ca.mode, 'transport');
  assert.equal(ca.protocol, 47);
  assert.equal(ca.local, a.address);
  assert.equal(cb.local, b.address);
  assert.notEqual(toHex(ca.outbound.encrKey), toHex(ca.inbound.encrKey));
}

