/** Helpers for the decoder tests: walk a decoded packet's tree, count protocols. */
import type { DecodedPacket, Node } from '../../../daemon/decode/index.js';

/** Every node of a packet, depth first. */
export function allNodes(p: DecodedPacket): Node[] {
  const out: Node[] = [];
  const walk = (n: Node): void => {
    out.push(n);
    for (const c of n.children ?? []) walk(c);
  };
  for (const l of p.layers) walk(l);
  return out;
}

/** The values of every field with this key in the packet. */
export function values(p: DecodedPacket, key: string): unknown[] {
  return allNodes(p).filter((n) => n.key === key && n.value !== undefined).map((n) => n.value);
}

/** The first layer with this key. */
export function layer(p: DecodedPacket, key: string): Node | undefined {
  return p.layers.find((l) => l.key === key);
}

/** The child of a node by key (or a path of keys). */
export function child(n: Node | undefined, ...path: string[]): Node | undefined {
  let cur = n;
  for (const k of path) cur = cur?.children?.find((c) => c.key === k);
  return cur;
}

export function protocolCounts(ps: readonly DecodedPacket[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of ps) out[p.protocol] = (out[p.protocol] ?? 0) + 1;
  return out;
}

/** The values of every field with this key under one node (a layer), in tree order. */
export function nodeValues(n: Node | undefined, key: string): unknown[] {
  const out: unknown[] = [];
  const walk = (x: Node): void => {
    if (x.key === key && x.value !== undefined) out.push(x.value);
    for (const c of x.children ?? []) walk(c);
  };
  if (n) walk(n);
  return out;
}
