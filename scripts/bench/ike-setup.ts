/**
 * What the IKE benchmark's parts share (scripts/bench/ike.ts, ike-spokes.ts):
 * the addresses, the hub's IOS configuration with tunnel protection and an
 * IKEv2 proposal/policy for one DH group, the IkeConfig the daemon derives
 * from it (daemon/ipsec.ts ikeConfigFor, so the simulated spokes offer exactly
 * what the hub accepts), and the baseline: the same handshakes between
 * IkeManagers in one process, bytes handed over in memory.
 */
import { randomBytes } from 'node:crypto';
import { checkConfigText } from '../../daemon/config/load.js';
import { hasErrors } from '../../daemon/config/diagnostics.js';
import { ALL_CAPABILITIES, tunnels } from '../../daemon/config/model.js';
import { ikeConfigFor } from '../../daemon/ipsec.js';
import { IkeManager } from '../../protocols/ikev2/manager.js';
import type { IkeConfig } from '../../protocols/ikev2/policy.js';
import type { Endpoint, IkeAction } from '../../protocols/ikev2/engine-types.js';
import { ipv4ToU32, u32ToIpv4 } from '../../protocols/wire/index.js';

export const IKE_HUB = '203.0.113.1';
export const IKE_GEN = '203.0.113.2';
/** Spokes' NBMA addresses: 198.18.0.1 and up (RFC 2544 benchmarking range). */
export const IKE_SPOKE_FIRST = '198.18.0.1';
export const IKE_SPOKE_RANGE = '198.18.0.0/15';
export const IKE_PSK = 'Cisco123';

export function spokeAddress(i: number): string {
  return u32ToIpv4(ipv4ToU32(IKE_SPOKE_FIRST) + i);
}

/**
 * A router of the benchmark in IOS words: the reference lab's keyring and
 * profiles, an IKEv2 proposal (AES-CBC-256, SHA-256) with only `group`, the
 * transform set esp-gcm 256 in transport mode, and tunnel protection on an
 * mGRE tunnel on the userspace dataplane.
 */
export function ikeBenchConfig(group: number, address = IKE_HUB): string {
  return [
    'hostname hub',
    '!',
    'crypto ikev2 proposal bench',
    ' encryption aes-cbc-256',
    ' integrity sha256',
    ` group ${group}`,
    '!',
    'crypto ikev2 policy bench',
    ' proposal bench',
    '!',
    'crypto ikev2 keyring ike-keyring',
    ' peer dmvpn',
    '  address 0.0.0.0 0.0.0.0',
    `  pre-shared-key ${IKE_PSK}`,
    '!',
    'crypto ikev2 profile ike-profile',
    ' authentication local pre-share',
    ' authentication remote pre-share',
    ' keyring local ike-keyring',
    ' match address local interface eth0',
    ' match identity remote address 0.0.0.0 0.0.0.0',
    '!',
    'crypto ipsec transform-set bench-ts esp-gcm 256',
    ' mode transport',
    '!',
    'crypto ipsec profile ipsec-profile',
    ' set ikev2-profile ike-profile',
    ' set transform-set bench-ts',
    '!',
    'interface eth0',
    ` ip address ${address} 255.255.255.0`,
    '!',
    'interface Tunnel0',
    ' ip address 10.0.0.1 255.255.0.0',
    ' ip mtu 1400',
    ' ip nhrp network-id 100',
    ' ip nhrp map multicast dynamic',
    ' ip nhrp holdtime 450',
    ' tunnel source eth0',
    ' tunnel mode gre multipoint',
    ' tunnel dataplane userspace',
    ' tunnel protection ipsec profile ipsec-profile',
    '!',
    '',
  ].join('\n');
}

/** The IKE engine's configuration the daemon builds from ikeBenchConfig, for a local address. */
export function ikeBenchIkeConfig(group: number, localAddress: string): IkeConfig {
  const { model, diagnostics } = checkConfigText(ikeBenchConfig(group), 'ike-bench.conf', ALL_CAPABILITIES);
  if (hasErrors(diagnostics)) throw new Error(`ike bench config: ${diagnostics.map((d) => d.message).join('; ')}`);
  const t = tunnels(model)[0];
  return ikeConfigFor(model, t, localAddress);
}

export interface InProcessResult {
  readonly ms: number;
  /** CPU of this process meanwhile (user + system), seconds. */
  readonly cpuSeconds: number;
  readonly established: number;
  readonly datagrams: number;
  readonly cookies: number;
}

/** True for an IKE_SA_INIT response whose first payload is a COOKIE notify (RFC 7296 section 2.6). */
export function isCookieResponse(b: Uint8Array): boolean {
  // Header: next payload at 16, exchange type at 18, flags at 19 (0x20 response); a Notify
  // payload's type sits at 34..35 after its generic header, protocol ID and SPI size.
  return b.length >= 36 && b[16] === 41 && b[18] === 34 && (b[19] & 0x20) !== 0 && ((b[34] << 8) | b[35]) === 16390;
}

/**
 * `n` initiators (each its own IkeManager and address) and one responder in
 * this process: every initiator connects at once, then datagrams go through a
 * FIFO until it is empty (the responder's COOKIE threshold applies as on the
 * wire). Measures the protocol and crypto work of both sides on one thread.
 */
export function inProcessHandshakes(n: number, group: number): InProcessResult {
  const hubCfg = ikeBenchIkeConfig(group, IKE_HUB);
  const random = (k: number): Uint8Array => new Uint8Array(randomBytes(k));
  const now = (): number => Date.now();
  const hub = new IkeManager(hubCfg, random, now());
  const spokes = new Map<string, IkeManager>();
  for (let i = 0; i < n; i++) {
    const a = spokeAddress(i);
    spokes.set(a, new IkeManager({ ...hubCfg, localAddress: a }, random, now()));
  }
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const queue: { from: Endpoint; to: Endpoint; bytes: Uint8Array }[] = [];
  let established = 0;
  let datagrams = 0;
  let cookies = 0;
  const run = (actions: readonly IkeAction[]): void => {
    for (const a of actions) {
      if (a.kind === 'send') queue.push(a);
      else if (a.kind === 'child-up' && a.child.initiator) established++;
    }
  };
  for (const m of spokes.values()) run(m.connect(IKE_HUB, now()));
  for (let i = 0; i < queue.length; i++) {
    const p = queue[i];
    datagrams++;
    if (p.to.address === IKE_HUB) run(hub.receive(p.from, p.bytes, now(), p.to.port));
    else {
      if (isCookieResponse(p.bytes)) cookies++;
      const m = spokes.get(p.to.address);
      if (m) run(m.receive(p.from, p.bytes, now(), p.to.port));
    }
  }
  const cpu = process.cpuUsage(cpu0);
  return { ms: performance.now() - t0, cpuSeconds: (cpu.user + cpu.system) / 1e6, established, datagrams, cookies };
}
