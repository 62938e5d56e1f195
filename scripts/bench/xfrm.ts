/**
 * XFRM programming speed: LinuxXfrm installing and deleting N ESP states and N policies (GRE
 * host pairs, as KernelEsp installs them) in a fresh network namespace, three ways
 * (netlink-bench.ts): each call awaited, 64 calls in flight, and the baseline measured in the
 * same run, `ip -batch` doing the same from a file.
 *
 *   node dist/scripts/bench/xfrm.js [N]        (default 10000; as root; ESP states need esp4,
 *                                             so run it in the VM:
 *                                             node dist/scripts/vm/run.js -- node dist/scripts/bench/xfrm.js)
 *
 * The outer process makes the namespace and re-runs this file inside it (`--inner N`), since a
 * netlink socket belongs to the namespace of the process that opens it. Prints figures only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isPlatformError } from '../../platform/errors.js';
import { LinuxXfrm } from '../../platform/linux/xfrm.js';
import type { XfrmPolicySpec, XfrmStateSpec } from '../../platform/ports.js';
import { GRE_TRANSPORT_PRIORITY, KERNEL_ESP_REQID_MIN } from '../../daemon/kernel-esp.js';
import { measureInNamespace, PIPELINE_DEPTH, printRates, timedAwaited, timedIpBatch, timedPipelined, type Rates, type Timer } from './netlink-bench.js';

const SELF = fileURLToPath(import.meta.url);
const LOCAL = '198.18.0.1';
const KEY = '000102030405060708090a0b0c0d0e0f10111213'; // AES-128 key + 4-byte salt (RFC 4106)
const TAG = 'xfrm bench';

/** Per-second rates of one operation: LinuxXfrm two ways, and ip -batch. */
export type XfrmRates = Rates;

export interface XfrmBenchFigures {
  readonly n: number;
  readonly kernel: string;
  readonly states?: { readonly add: XfrmRates; readonly delete: XfrmRates };
  /** Why there are no state figures (the kernel refused ESP states: no esp4). */
  readonly statesError?: string;
  readonly policies: { readonly add: XfrmRates; readonly delete: XfrmRates };
}

/** Peer i: 198.19.x.y (up to 65536). */
const peer = (i: number): string => `198.19.${(i >> 8) & 0xff}.${i & 0xff}`;
const spi = (i: number): number => 0x10000 + i;
const gre = (src: string, dst: string) => ({ src, srcPrefix: 32, dst, dstPrefix: 32, proto: 47 });

function stateSpec(i: number): XfrmStateSpec {
  return {
    src: LOCAL, dst: peer(i), spi: spi(i), reqid: KERNEL_ESP_REQID_MIN + 1, selector: gre(LOCAL, peer(i)),
    aead: { name: 'rfc4106(gcm(aes))', key: Uint8Array.from(Buffer.from(KEY, 'hex')), icvBits: 128 },
  };
}

function policySpec(i: number): XfrmPolicySpec {
  return { dir: 'out', selector: gre(LOCAL, peer(i)), priority: GRE_TRANSPORT_PRIORITY, templates: [{ src: LOCAL, dst: peer(i), reqid: KERNEL_ESP_REQID_MIN + 1 }] };
}

const ipStateAdd = (i: number) =>
  `xfrm state add src ${LOCAL} dst ${peer(i)} proto esp spi ${spi(i)} reqid ${KERNEL_ESP_REQID_MIN + 1} mode transport aead rfc4106(gcm(aes)) 0x${KEY} 128 sel src ${LOCAL}/32 dst ${peer(i)}/32 proto gre`;
const ipStateDel = (i: number) => `xfrm state delete src ${LOCAL} dst ${peer(i)} proto esp spi ${spi(i)}`;
const ipPolicyAdd = (i: number) =>
  `xfrm policy add src ${LOCAL}/32 dst ${peer(i)}/32 proto gre dir out priority ${GRE_TRANSPORT_PRIORITY} tmpl src ${LOCAL} dst ${peer(i)} proto esp reqid ${KERNEL_ESP_REQID_MIN + 1} mode transport`;
const ipPolicyDel = (i: number) => `xfrm policy delete src ${LOCAL}/32 dst ${peer(i)}/32 proto gre dir out`;

/** Add n, check the kernel has n, delete n, check none is left: the two rates. */
async function addDelete(timer: Timer, what: string, n: number, add: (i: number) => Promise<void>, del: (i: number) => Promise<void>, count: () => Promise<number>): Promise<[number, number]> {
  const a = await timer(TAG, `LinuxXfrm ${what} added`, n, add);
  const have = await count();
  if (have !== n) throw new Error(`${have} ${what} installed, ${n} expected`);
  const d = await timer(TAG, `LinuxXfrm ${what} deleted`, n, del);
  if ((await count()) !== 0) throw new Error('left after deleting');
  return [a, d];
}

/** Inside the namespace: the measurements, as JSON on stdout. */
async function inner(n: number): Promise<XfrmBenchFigures> {
  const x = new LinuxXfrm({ timeoutMs: 60_000 });
  const dir = mkdtempSync(join(tmpdir(), 'xfrm-bench-'));
  try {
    let states: XfrmBenchFigures['states'];
    let statesError: string | undefined;
    try {
      // Warm-up: the first state loads and self-tests the crypto modules.
      await x.addState(stateSpec(n));
      await x.deleteState({ dst: peer(n), spi: spi(n) });
    } catch (e) {
      if (!isPlatformError(e)) throw e;
      statesError = e.message;
    }
    if (statesError === undefined) {
      const addS = (i: number) => x.addState(stateSpec(i));
      const delS = (i: number) => x.deleteState({ dst: peer(i), spi: spi(i) });
      const countS = async () => (await x.states()).length;
      const [add, del] = await addDelete(timedAwaited, 'states', n, addS, delS, countS);
      const [pAdd, pDel] = await addDelete(timedPipelined, 'states', n, addS, delS, countS);
      const ipAdd = timedIpBatch(TAG, dir, 'states-add', n, ipStateAdd);
      const ipDel = timedIpBatch(TAG, dir, 'states-del', n, ipStateDel);
      states = { add: { awaited: add, pipelined: pAdd, ip: ipAdd }, delete: { awaited: del, pipelined: pDel, ip: ipDel } };
    }
    const addP = (i: number) => x.addPolicy(policySpec(i));
    const delP = (i: number) => x.deletePolicy(policySpec(i));
    const countP = async () => (await x.policies()).length;
    const [add, del] = await addDelete(timedAwaited, 'policies', n, addP, delP, countP);
    const [pAdd, pDel] = await addDelete(timedPipelined, 'policies', n, addP, delP, countP);
    const ipAdd = timedIpBatch(TAG, dir, 'policies-add', n, ipPolicyAdd);
    const ipDel = timedIpBatch(TAG, dir, 'policies-del', n, ipPolicyDel);
    return {
      n, kernel: release(),
      ...(states ? { states } : {}),
      ...(statesError !== undefined ? { statesError } : {}),
      policies: { add: { awaited: add, pipelined: pAdd, ip: ipAdd }, delete: { awaited: del, pipelined: pDel, ip: ipDel } },
    };
  } finally {
    x.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function print(f: XfrmBenchFigures): void {
  console.log(`xfrm: ${f.n} states and ${f.n} policies, kernel ${f.kernel}; baseline ip -batch in the same run`);
  printRates('LinuxXfrm', [
    ...(f.states ? [['states added', f.states.add], ['states deleted', f.states.delete]] as const : []),
    ['policies added', f.policies.add],
    ['policies deleted', f.policies.delete],
  ]);
  console.log(`(LinuxXfrm: each call awaited before the next, or ${PIPELINE_DEPTH} calls in flight; ip -batch: one process reading a file)`);
  if (f.statesError !== undefined) {
    console.error(`xfrm bench: this kernel refused ESP states, so there are no state figures: ${f.statesError}`);
    console.error('xfrm bench: run it where esp4 exists, e.g. node dist/scripts/vm/run.js -- node dist/scripts/bench/xfrm.js');
  }
}

/** Make a namespace, measure inside it, print the figures; the namespace is removed in any case. */
export async function benchXfrm(n: number): Promise<XfrmBenchFigures> {
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`N must be 1-65535, not ${n}`);
  const f = measureInNamespace<XfrmBenchFigures>('xfrmbench', SELF, n);
  print(f);
  return f;
}

if (process.argv[1] === SELF) {
  const args = process.argv.slice(2);
  if (args[0] === '--inner') {
    process.stdout.write(`${JSON.stringify(await inner(Number(args[1])))}\n`);
  } else {
    try {
      const f = await benchXfrm(args[0] === undefined ? 10_000 : Number(args[0]));
      process.exitCode = f.statesError === undefined ? 0 : 2;
    } catch (e) {
      console.error(`xfrm bench: ${(e as Error).message}`);
      process.exitCode = 1;
    }
  }
}
