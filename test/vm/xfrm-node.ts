/**
 * LinuxXfrm and KernelEsp in whatever network namespace this is started in, for the VM test
 * (test/vm/xfrm.test.ts), where the kernel has esp4. Starting node in the VM costs about ten
 * seconds (its files come over 9p), so each process does a whole part and prints one JSON line:
 *
 *   xfrm-node.js scenario
 *       the XFRM scenario (install, list, `ip -s xfrm policy`, `ip xfrm state`, teardown), then
 *       the KernelEsp lifecycle, in this namespace.
 *   xfrm-node.js peer a|b LOCAL PEER DIR TRANSFORM...
 *       one end of the GRE-over-ESP run; the two ends step together through files in DIR.
 *       a: ping in the clear; protect (no SA) and ping (must fail); then per transform both ends
 *       install their SAs, a pings and reads its states, both flush.
 *
 * Both ends derive the same keys and SPIs from the addresses and the transform.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LinuxXfrm } from '../../platform/linux/xfrm.js';
import type { EspSaKeys } from '../../platform/native/esp.js';
import type { XfrmPort } from '../../platform/ports.js';
import { KernelEsp, removeLeftoverEsp, ReqidPool } from '../../daemon/kernel-esp.js';
import { silentLogger } from '../../daemon/log.js';
import { installPhase, listPolicies, listStates, plain, teardownPhase } from '../platform/linux/fixtures/xfrm-scenario.js';

const KEY_BYTES: Readonly<Record<string, number>> = { 'aes-gcm-128': 20, 'aes-gcm-256': 36, 'aes-cbc-128': 16, 'aes-cbc-256': 32 };
const AUTH_BYTES: Readonly<Record<string, number>> = { 'hmac-sha1-96': 20, 'hmac-sha256-128': 32, 'hmac-sha384-192': 48, 'hmac-sha512-256': 64 };

/** Keys for the direction src -> dst of "cipher[/integrity][+esn]": both ends compute the same. */
export function directionKeys(transform: string, src: string, dst: string): EspSaKeys {
  const [suite, flag] = transform.split('+');
  const [cipher, integrity] = suite.split('/');
  const h = (label: string, n: number) => new Uint8Array(createHash('sha512').update(`${label}|${transform}|${src}>${dst}`).digest().subarray(0, n));
  const keys = { cipher, key: h('enc', KEY_BYTES[cipher]), ...(integrity ? { integrity, authKey: h('auth', AUTH_BYTES[integrity]) } : {}), esn: flag === 'esn' };
  return keys as EspSaKeys;
}

/** The SPI of the SA for src -> dst: 0x10000 | last octets. */
export function directionSpi(src: string, dst: string): number {
  const last = (a: string) => Number(a.split('.')[3]);
  return 0x10000 | (last(src) << 8) | last(dst);
}

export interface Snapshot {
  readonly step: string;
  readonly policies: unknown[];
  readonly states: unknown[];
  readonly failures: number;
}

export const LC_LOCAL = '198.51.100.1';
export const LC_PEER = '198.51.100.2';

/**
 * protect -> SAs (GCM+ESN inbound with NAT-T, CBC+SHA-256 outbound) -> rekey (new SPIs, old
 * inbound deleted) -> SAs deleted (policies stay: protected) -> unprotected (nothing) -> again,
 * then close() (nothing). The test runs the same function over FakeXfrm and compares.
 */
export async function lifecycle(xfrm: XfrmPort): Promise<Snapshot[]> {
  const esp = new KernelEsp(xfrm, LC_LOCAL, silentLogger(), { reqids: new ReqidPool() });
  const out: Snapshot[] = [];
  const snap = async (step: string): Promise<void> => {
    await esp.settled();
    out.push({
      step,
      policies: listPolicies((await xfrm.policies()).map((p) => ({ ...p, index: 0 }))),
      states: listStates(await xfrm.states()),
      failures: esp.failures,
    });
  };
  const gcm = directionKeys('aes-gcm-256+esn', LC_PEER, LC_LOCAL);
  const cbc = directionKeys('aes-cbc-128/hmac-sha256-128', LC_LOCAL, LC_PEER);
  esp.setProtected(LC_PEER, true);
  await snap('protected');
  esp.setInboundSa(0x1001, gcm, LC_PEER, { sport: 4501, dport: 4500 });
  esp.setOutboundSa(LC_PEER, { spi: 0x2001, ...cbc, seq: 7 });
  await snap('SAs up');
  esp.setInboundSa(0x1002, gcm, LC_PEER);
  esp.setOutboundSa(LC_PEER, { spi: 0x2002, ...cbc });
  esp.deleteInboundSa(0x1001);
  await snap('rekeyed');
  esp.deleteOutboundSa(LC_PEER);
  esp.deleteInboundSa(0x1002);
  await snap('SAs down, still protected');
  esp.setProtected(LC_PEER, false);
  await snap('unprotected');
  esp.setProtected(LC_PEER, true);
  esp.setOutboundSa(LC_PEER, { spi: 0x2003, ...cbc });
  esp.setInboundSa(0x1003, gcm, LC_PEER);
  await snap('up again');
  await esp.close();
  await snap('closed');
  return out;
}

function ip(...args: string[]): string {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function scenario(): Promise<unknown> {
  const first = new LinuxXfrm({ timeoutMs: 30_000 });
  const install = await installPhase(first);
  const list = { policies: plain(await first.policies()), states: plain(await first.states()) };
  const ipPolicy = ip('-s', 'xfrm', 'policy');
  const ipState = ip('xfrm', 'state');
  first.close();
  const teardown = await teardownPhase(new LinuxXfrm({ timeoutMs: 30_000 }));
  const x = new LinuxXfrm({ timeoutMs: 30_000 });
  try {
    return { install, list, ipPolicy, ipState, teardown, lifecycle: await lifecycle(x) };
  } finally {
    x.close();
  }
}

/** Wait (bounded) for the other end's mark. */
async function waitFor(dir: string, mark: string): Promise<void> {
  const until = Date.now() + 60_000;
  while (!existsSync(join(dir, mark))) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${mark}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function ping(count: number): boolean {
  return spawnSync('ping', ['-c', String(count), '-i', '0.2', '-W', '2', '10.0.0.2'], { stdio: 'ignore', timeout: 20_000 }).status === 0;
}

async function peer(side: string, local: string, remote: string, dir: string, transforms: string[]): Promise<unknown> {
  const other = side === 'a' ? 'b' : 'a';
  const mark = (m: string) => writeFileSync(join(dir, `${side}-${m}`), '');
  const xfrm = new LinuxXfrm({ timeoutMs: 30_000 });
  const out: Record<string, unknown> = {};
  try {
    mark('ready');
    await waitFor(dir, `${other}-ready`);
    if (side === 'a') {
      out.clear = ping(1);
      const esp = new KernelEsp(xfrm, local, silentLogger(), { reqids: new ReqidPool() });
      esp.setProtected(remote, true);
      await esp.settled();
      out.protectFailures = esp.failures;
      out.protectedPing = ping(2);
      out.protectFlush = await removeLeftoverEsp(xfrm);
      mark('protect-done');
    } else {
      await waitFor(dir, 'a-protect-done');
    }
    const rounds: unknown[] = [];
    for (const [i, t] of transforms.entries()) {
      // KernelEsp instances are left unclosed on purpose: removeLeftoverEsp() cleans up, as after a crash.
      const esp = new KernelEsp(xfrm, local, silentLogger(), { reqids: new ReqidPool() });
      esp.setProtected(remote, true);
      esp.setInboundSa(directionSpi(remote, local), directionKeys(t, remote, local), remote);
      esp.setOutboundSa(remote, { spi: directionSpi(local, remote), ...directionKeys(t, local, remote) });
      await esp.settled();
      const round: Record<string, unknown> = { transform: t, failures: esp.failures, error: esp.lastError?.message };
      mark(`up-${i}`);
      await waitFor(dir, `${other}-up-${i}`);
      if (side === 'a') {
        round.ping = ping(3);
        round.states = plain(await xfrm.states());
        mark(`pinged-${i}`);
      } else {
        await waitFor(dir, `a-pinged-${i}`);
      }
      round.flush = await removeLeftoverEsp(xfrm);
      mark(`flushed-${i}`);
      await waitFor(dir, `${other}-flushed-${i}`);
      rounds.push(round);
    }
    out.rounds = rounds;
    return out;
  } finally {
    xfrm.close();
  }
}

async function main(): Promise<unknown> {
  const [mode, ...args] = process.argv.slice(2);
  if (mode === 'scenario') return scenario();
  if (mode === 'peer') {
    const [side, local, remote, dir, ...transforms] = args;
    return peer(side, local, remote, dir, transforms);
  }
  throw new Error(`unknown mode ${mode}`);
}

// Imported by the test for lifecycle() and the key derivation; runs only as a script.
if (process.argv[1]?.endsWith('xfrm-node.js')) {
  setTimeout(() => {
    process.stderr.write('xfrm-node: watchdog expired\n');
    process.exit(3);
  }, 240_000).unref();
  process.stdout.write(`${JSON.stringify(await main())}\n`);
}
