/**
 * One FRR nhrpd router of the NHRP interop scenarios (scripts/vm/nhrp-interop.ts): the ip_gre
 * device nhrpd drives, zebra and nhrpd run by test/interop/frr.ts's FrrInstance, what nhrpd expects
 * around it (forwarding and the NFLOG rule behind Phase 3 redirects on a hub), and its state read
 * back as JSON through vtysh.
 *
 * What FRR 8.4 (Debian 12) needs that IOS does not, found by running it:
 * - a host prefix on the GRE device (`gre1: 10.0.0.1/24 is not a host prefix` leaves NHRP without
 *   a protocol address); a spoke reaches the rest of the tunnel subnet through a route via the hub,
 *   which a routing protocol would announce (FRR's nhrpd documentation uses BGP);
 * - the device created on top of the `tunnel source` interface (`dev eth0`): otherwise zebra
 *   rewrites the link, the kernel resets the tunnel's local address and the device loses its
 *   addresses;
 * - no `ip nhrp authentication` (FRR 8.4 has no such command; it came later), so our side runs
 *   without the reference lab's NHRP password.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FrrInstance } from '../../test/interop/frr.js';

/** A row of `show ip nhrp cache json` (FRR 8.4). */
export interface FrrCacheRow {
  readonly interface: string;
  readonly type: string;
  readonly protocol: string;
  readonly nbma: string;
  readonly claimed_nbma: string;
  readonly used: boolean;
  readonly timeout: boolean;
  readonly auth: boolean;
  readonly identity: string;
}

/** A row of `show ip nhrp nhs json` (FRR 8.4): protocol is "(unspec)" until the NHS answered. */
export interface FrrNhsRow {
  readonly interface: string;
  readonly fqdn: string;
  readonly nbma: string;
  readonly protocol: string;
}

export interface FrrNhrpOptions {
  /** The router's network namespace (made by the caller, with eth0 up and addressed). */
  readonly ns: string;
  readonly hostname: string;
  readonly role: 'hub' | 'spoke';
  /** The tunnel source (eth0's address). */
  readonly nbma: string;
  /** The tunnel address (a /32 on gre1). */
  readonly tunnel: string;
  /** The tunnel subnet, e.g. 10.0.0.0/24 (a spoke routes it via the hub). */
  readonly subnet: string;
  /** A spoke's hub: its NBMA address (`ip nhrp nhs dynamic nbma`) and tunnel address (the route's next hop). */
  readonly hub?: { readonly nbma: string; readonly tunnel: string };
  readonly networkId: number;
  readonly holdtime: number;
}

/** The NFLOG group the hub's nhrpd reads forwarded hairpin packets from (`nhrp nflog-group`). */
export const FRR_NFLOG_GROUP = 1;

/** The bound of one vtysh (or ip, nft) command: a loaded host under TCG takes seconds to start one. */
const VTYSH_MS = 60_000;

function run(args: readonly string[]): string {
  const r = spawnSync(args[0], args.slice(1), { encoding: 'utf8', timeout: VTYSH_MS });
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed (${r.status ?? r.signal}): ${(r.stderr ?? '').trim()}`);
  return r.stdout ?? '';
}

/** nhrpd's configuration: the brief's spoke or hub, in FRR's dialect. */
export function frrNhrpConfig(o: FrrNhrpOptions, debugLog: string): string {
  const lines = [
    `hostname ${o.hostname}`,
    `log file ${debugLog} debugging`,
    // Everything but the VICI (strongSwan) client, which only repeats that it has no socket.
    'debug nhrp all',
    'no debug nhrp vici',
  ];
  if (o.role === 'hub') lines.push(`nhrp nflog-group ${FRR_NFLOG_GROUP}`);
  lines.push(
    'interface gre1',
    ` ip nhrp network-id ${o.networkId}`,
    ` ip nhrp holdtime ${o.holdtime}`,
    ' ip nhrp registration no-unique',
  );
  if (o.role === 'hub') {
    lines.push(' ip nhrp map multicast dynamic', ' ip nhrp redirect');
  } else {
    if (!o.hub) throw new Error(`${o.hostname}: a spoke needs its hub`);
    lines.push(` ip nhrp nhs dynamic nbma ${o.hub.nbma}`, ' ip nhrp shortcut');
  }
  lines.push(' tunnel source eth0', 'exit', '');
  return lines.join('\n');
}

/**
 * nftables in a hub's namespace, the equivalent of FRR's documented iptables rule: packets routed
 * from gre1 back out of gre1 go to nhrpd over NFLOG, at most 4 a minute per source/destination
 * pair, so it can send the Traffic Indication that starts a shortcut.
 */
export function frrHubNftables(): string {
  return [
    'table inet frr_nhrp {',
    '  chain hairpin {',
    '    type filter hook forward priority filter; policy accept;',
    '    iifname "gre1" oifname "gre1" meter frr_nhrp_redirect { ip saddr . ip daddr limit rate 4/minute burst 1 packets }' +
      ` log group ${FRR_NFLOG_GROUP} snaplen 128`,
    '  }',
    '}',
    '',
  ].join('\n');
}

export class FrrNhrpRouter {
  readonly frr: FrrInstance;
  readonly debugLog: string;

  constructor(readonly o: FrrNhrpOptions) {
    this.frr = new FrrInstance(o.ns);
    this.debugLog = join(this.frr.dir, 'nhrpd-debug.log');
  }

  /** The GRE device, forwarding and NFLOG (hub), then zebra and nhrpd. */
  async start(): Promise<void> {
    const { ns, nbma, tunnel } = this.o;
    run(['ip', '-n', ns, 'link', 'add', 'gre1', 'type', 'gre', 'local', nbma, 'ttl', '64', 'dev', 'eth0']);
    run(['ip', '-n', ns, 'link', 'set', 'gre1', 'multicast', 'on']);
    run(['ip', '-n', ns, 'addr', 'add', `${tunnel}/32`, 'dev', 'gre1']);
    run(['ip', '-n', ns, 'link', 'set', 'gre1', 'up']);
    // A router, hub or spoke (spoke1 routes its LAN in the reference lab). Forwarding also makes
    // Linux ignore ICMP redirects, as routers do (in a run where FRR's spoke accepted our hub's
    // redirects, its neighbour entry for the shortcut ended at lladdr 0.0.0.0 and the echoes stopped).
    run(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    if (this.o.role === 'hub') {
      const r = spawnSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: frrHubNftables(), encoding: 'utf8', timeout: VTYSH_MS });
      if (r.status !== 0) throw new Error(`nft in ${ns}: ${(r.stderr ?? '').trim()}`);
    } else if (this.o.hub) {
      run(['ip', '-n', ns, 'route', 'add', this.o.subnet, 'via', this.o.hub.tunnel, 'dev', 'gre1', 'onlink']);
    }
    await this.frr.up('nhrpd', frrNhrpConfig(this.o, this.debugLog), `hostname ${this.o.hostname}\n`);
  }

  /** The kernel's neighbour table on gre1 and routing table, where nhrpd's bindings and shortcuts land. */
  kernel(): { neigh: string; routes: string } {
    const ip = (...a: string[]): string => spawnSync('ip', ['-n', this.o.ns, ...a], { encoding: 'utf8', timeout: 10_000 }).stdout ?? '';
    return { neigh: ip('neigh', 'show', 'dev', 'gre1'), routes: ip('route', 'show') + ip('route', 'show', 'cache') };
  }

  /**
   * One vtysh command. Not FrrInstance.vtysh: its 10 s bound is too short on a loaded host under
   * TCG, where a cut-off answer reads as an empty table and a wait polls on in vain.
   */
  vtysh(cmd: string): string {
    const r = spawnSync('ip', ['netns', 'exec', this.o.ns, 'vtysh', '--vty_socket', this.frr.dir, '-c', cmd], { encoding: 'utf8', timeout: VTYSH_MS });
    return (r.stdout ?? '') + (r.stderr ?? '');
  }

  private json<T>(cmd: string): T | undefined {
    const out = this.vtysh(`${cmd} json`);
    try {
      return JSON.parse(out) as T;
    } catch {
      return undefined;
    }
  }

  cache(): FrrCacheRow[] {
    return this.json<{ table?: FrrCacheRow[] }>('show ip nhrp cache')?.table ?? [];
  }

  nhs(): FrrNhsRow[] {
    return this.json<{ table?: FrrNhsRow[] }>('show ip nhrp nhs')?.table ?? [];
  }

  /** `show ip nhrp shortcut json` (its layout is not needed beyond showing it). */
  shortcuts(): unknown {
    return this.json<unknown>('show ip nhrp shortcut') ?? null;
  }

  /** nhrpd's debug log, for the report (read before stop(), which removes the folder). */
  log(): string[] {
    return existsSync(this.debugLog) ? readFileSync(this.debugLog, 'utf8').split('\n').filter((l) => l !== '') : [];
  }

  async stop(): Promise<void> {
    await this.frr.down();
  }
}
