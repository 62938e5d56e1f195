/**
 * The reference lab (scripts/lab/topology.ts) as the dataplane and Phase 3
 * benchmarks use it, in one of two modes: plain kernel routing (the baseline:
 * the spokes' LAN routes point over the underlay veths, no daemon), or dmvpnd on
 * the hub and two spokes. The dataplane benchmark runs one session of each side
 * by side; the dmvpnd one then serves the Phase 3 benchmark in an `all` run.
 */
import { prefixContains } from '../../protocols/nhrp/cache.js';
import { Lab, nbmaOf, type LabOptions, type RouterName } from '../lab/topology.js';
import { Scope, ctl, daemonPid, sh, waitUntil } from './env.js';

interface DmvpnJson {
  readonly peers: readonly { readonly state: string; readonly tunnel: string }[];
}
interface RouteJson {
  readonly code: string;
  readonly prefix: string;
  readonly prefixLength: number;
  readonly nextHop: string | null;
}

/** The two spokes whose hosts talk (h1 at 192.168.1.10, h2 at 192.168.2.10). */
export const SPOKES: readonly RouterName[] = ['spoke1', 'spoke2'];

export class LabSession {
  readonly lab: Lab;
  readonly scope = new Scope();
  private mode: 'none' | 'kernel' | 'dmvpn' = 'none';

  constructor(prefix = `bl${process.pid % 100000}`, opts: LabOptions = {}) {
    this.lab = new Lab(prefix, undefined, opts);
    this.scope.defer(() => this.lab.destroy());
  }

  ns(r: RouterName | 'ul' | `h${number}`): string {
    return this.lab.ns(r);
  }

  socket(r: RouterName): string {
    return this.lab.socket(r);
  }

  get daemonsUp(): boolean {
    return this.mode === 'dmvpn';
  }

  /**
   * Build the lab, tuned alike for both benchmark variants: bridge netfilter off on
   * the underlay bridge (a host with br_netfilter loaded would run iptables on
   * every bridged frame), and h1 drops UDP to the discard port in nftables, so
   * that a flood is not answered with ICMP port unreachables.
   */
  build(): void {
    this.lab.build();
    for (const k of ['iptables', 'ip6tables', 'arptables']) {
      sh(['ip', 'netns', 'exec', this.ns('ul'), 'sysctl', '-qw', `net.bridge.bridge-nf-call-${k}=0`], { check: false });
    }
    const h1 = ['ip', 'netns', 'exec', this.ns('h1'), 'nft'];
    if (sh([...h1, 'add', 'table', 'ip', 'bench'], { check: false }).status === 0) {
      sh([...h1, 'add', 'chain', 'ip', 'bench', 'input', '{ type filter hook input priority 0; }']);
      sh([...h1, 'add', 'rule', 'ip', 'bench', 'input', 'udp', 'dport', '9', 'drop']);
    }
  }

  /**
   * The baseline: the same namespaces, addresses and veths, the kernel forwarding
   * between the spokes' LANs over the underlay directly (no GRE, no daemon).
   */
  kernelRouting(): void {
    for (const r of SPOKES) {
      const i = Number(r.slice(-1));
      const ns = this.ns(r);
      sh(['ip', '-n', ns, 'addr', 'replace', `${nbmaOf(r)}/24`, 'dev', 'eth0']);
      sh(['ip', '-n', ns, 'addr', 'replace', `192.168.${i}.1/24`, 'dev', 'lan0']);
      sh(['ip', '-n', ns, 'link', 'set', 'lan0', 'up']);
      sh(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    }
    sh(['ip', '-n', this.ns('spoke2'), 'route', 'replace', '192.168.1.0/24', 'via', nbmaOf('spoke1')]);
    sh(['ip', '-n', this.ns('spoke1'), 'route', 'replace', '192.168.2.0/24', 'via', nbmaOf('spoke2')]);
    this.mode = 'kernel';
  }

  private undoKernelRouting(): void {
    sh(['ip', '-n', this.ns('spoke2'), 'route', 'del', '192.168.1.0/24'], { check: false });
    sh(['ip', '-n', this.ns('spoke1'), 'route', 'del', '192.168.2.0/24'], { check: false });
  }

  /** Start dmvpnd on the hub and both spokes and wait for the two registrations. */
  async startDaemons(): Promise<void> {
    if (this.mode === 'dmvpn') return;
    if (this.mode === 'kernel') this.undoKernelRouting();
    for (const r of ['hub', ...SPOKES] as RouterName[]) this.lab.startDaemon(r);
    this.mode = 'dmvpn';
    await waitUntil('both spokes registered at the hub', async () => {
      const d = await ctl<DmvpnJson[]>(this.socket('hub'), ['show', 'dmvpn'], 2000);
      return (d?.[0]?.peers.filter((p) => p.state === 'UP').length ?? 0) >= SPOKES.length;
    }, 20_000, 100);
    // The LANs are learned by the lab's routing protocol (EIGRP): wait for each spoke's route to the other.
    await waitUntil('the routes between the spoke LANs', async () =>
      (await this.hasRoute('spoke2', '192.168.1.0/24')) && (await this.hasRoute('spoke1', '192.168.2.0/24')), 30_000, 100);
  }

  /** True when the router's RIB has a route (any source) for exactly this prefix, or a covering one. */
  async hasRoute(r: RouterName, prefix: string): Promise<boolean> {
    const routes = await ctl<RouteJson[]>(this.socket(r), ['show', 'ip', 'route'], 2000);
    const [net, len] = prefix.split('/');
    return !!routes?.some((x) => x.code !== 'C' && x.code !== 'L' && x.prefixLength <= Number(len) &&
      x.nextHop !== null && prefixContains(x.prefix, x.prefixLength, net));
  }

  pid(r: RouterName): number {
    const pid = daemonPid(this.ns(r));
    if (pid === undefined) throw new Error(`no dmvpnd running in ${this.ns(r)}`);
    return pid;
  }

  /** True when the spoke's RIB holds the NHRP (H) route for prefix. */
  async hasShortcut(r: RouterName, prefix: string): Promise<boolean> {
    const routes = await ctl<RouteJson[]>(this.socket(r), ['show', 'ip', 'route'], 2000);
    return !!routes?.some((x) => x.code === 'H' && `${x.prefix}/${x.prefixLength}` === prefix);
  }

  /**
   * Send traffic both ways through the hub until each spoke has its shortcut to the
   * other's LAN (the hub's redirect -> Traffic Indication -> Resolution -> H route).
   */
  async ensureShortcuts(): Promise<void> {
    await waitUntil('the shortcuts on spoke1 and spoke2', async () => {
      if ((await this.hasShortcut('spoke2', '192.168.1.0/24')) && (await this.hasShortcut('spoke1', '192.168.2.0/24'))) return true;
      this.lab.exec('h2', ['ping', '-c', '2', '-i', '0.2', '-W', '1', '192.168.1.10'], { check: false, timeoutMs: 5000 });
      return false;
    }, 20_000, 200);
  }

  async close(): Promise<void> {
    await this.scope.close();
  }
}
