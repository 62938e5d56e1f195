/**
 * In-memory RtnetlinkPort for protocol tests and the deterministic simulation. It keeps the
 * kernel's state rules that the daemon can observe and throws the same PlatformErrors, checked in
 * the same order, as platform/linux/rtnetlink.ts against a real kernel (the Linux test runs one
 * scenario on both and compares them):
 *
 * - a missing device is ENODEV; a taken name EEXIST; a link kind not in `linkKinds` is
 *   'unsupported' (EOPNOTSUPP), as when ip_gre is not available; MTU outside [min, max] EINVAL.
 * - addresses: same address and prefix length twice is EEXIST; a further address in a subnet the
 *   device has is secondary; deleting a primary deletes its secondaries (promote_secondaries off);
 *   an unknown address is EADDRNOTAVAIL. A primary on an up device gets the connected route
 *   (proto kernel, scope link, prefsrc).
 * - routes: host bits are EINVAL; a device route on a down device ENETDOWN; a gateway must be
 *   covered by a device route in the main table (on the given device), else ENETUNREACH; one
 *   route per (table, prefix, metric), so a second add is EEXIST and replace overwrites it; a
 *   delete whose selector matches nothing is ESRCH.
 * - neighbours: an lladdr shorter than the device's hardware address is EINVAL, a second add
 *   EEXIST, deleting an unknown one ENOENT. On a point-to-point device (TUN) the kernel keys every
 *   entry by 0.0.0.0 and keeps no lladdr; so does this.
 * - setting a device down, deleting its last address, or deleting it flushes its routes and
 *   neighbours (fib_disable_ip / neigh_ifdown).
 *
 * Not modelled: the local table, multipath, carrier-driven operstate, neighbour ageing.
 */
import { Errno, PlatformError } from '../errors.js';
import {
  checkIfname,
  checkUint,
  describeLinkSpec,
  describeNeighbour,
  describeRoute,
  hasHostBits,
  ipv4Text,
  ipv4ToNumber,
  normalizeNeighbour,
  normalizeRoute,
  parseIpv4Address,
  parseIpv4Prefix,
  prefixContains,
  RouteProtocol,
  RouteScope,
  RouteTable,
  unsupportedKind,
  validateLinkSpec,
  type NormalRoute,
} from '../netlink-values.js';
import type {
  GreParams,
  Ipv4Address,
  Ipv4Route,
  Ipv4RouteSpec,
  Link,
  LinkEvent,
  LinkSpec,
  Neighbour,
  NeighbourRequest,
  NeighbourSpec,
  RouteFilter,
  RtnetlinkPort,
  Subscription,
} from '../ports.js';
import {
  ArpHrd,
  ETH_DATA_LEN,
  fail,
  masked,
  same,
  seedDefaults,
  view,
  ZERO,
  type FakeAddress,
  type FakeLink,
  type FakeLinkSeed,
  type FakeNeighbour,
  type FakeRoute,
} from './netlink-model.js';

export { ArpHrd, type FakeLinkSeed } from './netlink-model.js';

export interface FakeRtnetlinkOptions {
  /** Devices present at start, after lo (index 1), indexed in order from 2. */
  readonly links?: readonly FakeLinkSeed[];
  /** Kinds createLink accepts (default dummy, bridge, ifb, gre). */
  readonly linkKinds?: readonly string[];
}

const DEFAULT_KINDS = ['dummy', 'bridge', 'ifb', 'gre'];

export class FakeRtnetlink implements RtnetlinkPort {
  private readonly links = new Map<number, FakeLink>();
  private addresses: FakeAddress[] = [];
  private routes: FakeRoute[] = [];
  private neighbours: FakeNeighbour[] = [];
  private readonly watchers = new Set<(e: LinkEvent) => void>();
  private readonly neighWatchers = new Set<(r: NeighbourRequest) => void>();
  private readonly kinds: ReadonlySet<string>;
  private nextIndex = 1;
  private failure: number | undefined;
  private closed = false;

  constructor(options: FakeRtnetlinkOptions = {}) {
    this.kinds = new Set(options.linkKinds ?? DEFAULT_KINDS);
    this.insertLink({ ...seedDefaults({ name: 'lo' }, this.nextIndex++), linkType: ArpHrd.LOOPBACK, address: new Uint8Array(6), mtu: 65536, minMtu: 0, maxMtu: 0x7fffffff });
    for (const s of options.links ?? []) this.insertLink(seedDefaults(s, this.nextIndex++));
  }

  // ---- test hooks ----

  /** A device that appeared from outside (another program, a hotplug): emits 'new'. */
  addExternalLink(seed: FakeLinkSeed): Link {
    if (this.byName(seed.name)) throw new Error(`fake: device ${seed.name} exists`);
    const l = seedDefaults(seed, this.nextIndex++);
    this.insertLink(l);
    this.emit({ type: 'new', link: view(l) });
    return view(l);
  }

  setCarrier(name: string, carrier: boolean): void {
    const l = this.byName(name);
    if (!l) throw new Error(`fake: no device ${name}`);
    l.carrier = carrier;
    this.emit({ type: 'new', link: view(l) });
  }

  /** The next mutating call fails with this errno (code 'netlink'), after its own checks pass. */
  failNext(errno: number): void {
    this.failure = errno;
  }

  /** Tell watchers notifications were lost, as ENOBUFS on the real socket does. */
  overrun(): void {
    this.emit({ type: 'overrun', error: new PlatformError({ code: 'socket', errno: Errno.ENOBUFS, syscall: 'recvmsg', operation: 'watching devices' }) });
  }

  // ---- helpers ----

  private insertLink(l: FakeLink): void {
    this.links.set(l.index, l);
    this.nextIndex = Math.max(this.nextIndex, l.index + 1);
  }

  private byName(name: string): FakeLink | undefined {
    for (const l of this.links.values()) if (l.name === name) return l;
    return undefined;
  }

  private name(index: number | undefined): string | undefined {
    return index === undefined ? undefined : this.links.get(index)?.name ?? String(index);
  }

  private live(operation: string): void {
    if (this.closed) throw new PlatformError({ code: 'socket', errno: Errno.EBADF, syscall: 'sendmsg', operation, detail: 'the rtnetlink port is closed' });
  }

  /** The linux layer resolves a name with RTM_GETLINK before the real request. */
  private resolve(name: string, syscall: string, operation: string): FakeLink {
    checkIfname(name, syscall, operation);
    const l = this.byName(name);
    if (!l) throw fail(Errno.ENODEV, 'RTM_GETLINK', operation);
    return l;
  }

  private injected(syscall: string, operation: string): void {
    if (this.failure === undefined) return;
    const errno = this.failure;
    this.failure = undefined;
    throw fail(errno, syscall, operation);
  }

  private emit(event: LinkEvent): void {
    for (const w of [...this.watchers]) {
      queueMicrotask(() => {
        try {
          w(event);
        } catch {
          // as on Linux: a watcher's exception does not reach the others
        }
      });
    }
  }

  private connectedRoutes(l: FakeLink): void {
    if (!l.up) return;
    for (const a of this.addresses) {
      if (a.index !== l.index || a.secondary) continue;
      const net = masked(a.local, a.prefixLength);
      // fib_add_ifaddr: no prefix route for a /32 (prefix == address) nor for 0.0.0.0/x.
      if (a.prefixLength === 32 || ipv4ToNumber(net) === 0) continue;
      const exists = this.routes.some((r) => r.table === RouteTable.MAIN && r.oif === l.index && r.length === a.prefixLength && same(r.dst, net) && r.protocol === RouteProtocol.KERNEL);
      if (!exists) {
        this.routes.push({ dst: net, length: a.prefixLength, type: 'unicast', oif: l.index, metric: 0, table: RouteTable.MAIN, protocol: RouteProtocol.KERNEL, scope: RouteScope.LINK, prefsrc: a.local });
      }
    }
  }

  /** fib_disable_ip + neigh_ifdown: every route through the device and its neighbours go. */
  private flushDevice(index: number): void {
    this.routes = this.routes.filter((r) => r.oif !== index);
    this.neighbours = this.neighbours.filter((n) => n.index !== index);
  }

  // ---- links ----

  async getLink(name: string): Promise<Link> {
    const operation = `looking up device ${name}`;
    this.live(operation);
    return view(this.resolve(name, 'RTM_GETLINK', operation));
  }

  async getLinkByIndex(index: number): Promise<Link> {
    const operation = `looking up device index ${index}`;
    this.live(operation);
    checkUint(index, 0x7fffffff, 'index', 'RTM_GETLINK', operation);
    const l = this.links.get(index);
    if (!l) throw fail(Errno.ENODEV, 'RTM_GETLINK', operation);
    return view(l);
  }

  async listLinks(): Promise<Link[]> {
    this.live('listing devices');
    return [...this.links.values()].sort((a, b) => a.index - b.index).map(view);
  }

  async setLinkUp(name: string, up: boolean): Promise<void> {
    const operation = `setting ${name} ${up ? 'up' : 'down'}`;
    this.live(operation);
    checkIfname(name, 'RTM_NEWLINK', operation);
    const l = this.byName(name);
    if (!l) throw fail(Errno.ENODEV, 'RTM_NEWLINK', operation);
    this.injected('RTM_NEWLINK', operation);
    if (l.up === up) return;
    l.up = up;
    if (up) this.connectedRoutes(l);
    else this.flushDevice(l.index);
    this.emit({ type: 'new', link: view(l) });
  }

  async setLinkMtu(name: string, mtu: number): Promise<void> {
    const operation = `setting mtu ${mtu} on ${name}`;
    this.live(operation);
    checkIfname(name, 'RTM_NEWLINK', operation);
    checkUint(mtu, 0xffffffff, 'mtu', 'RTM_NEWLINK', operation);
    const l = this.byName(name);
    if (!l) throw fail(Errno.ENODEV, 'RTM_NEWLINK', operation);
    if (mtu < l.minMtu || (l.maxMtu > 0 && mtu > l.maxMtu)) throw fail(Errno.EINVAL, 'RTM_NEWLINK', operation);
    this.injected('RTM_NEWLINK', operation);
    if (l.mtu === mtu) return;
    l.mtu = mtu;
    this.emit({ type: 'new', link: view(l) });
  }

  async createLink(spec: LinkSpec): Promise<Link> {
    const operation = `creating ${describeLinkSpec(spec)}`;
    this.live(operation);
    validateLinkSpec(spec, 'RTM_NEWLINK', operation);
    const underlay = spec.kind === 'gre' && spec.underlay !== undefined ? this.resolve(spec.underlay, 'RTM_NEWLINK', operation) : undefined;
    // rtnl_newlink looks the name up before the kind: a taken name is EEXIST even for ip_gre.
    if (this.byName(spec.name)) throw fail(Errno.EEXIST, 'RTM_NEWLINK', operation);
    if (!this.kinds.has(spec.kind)) throw unsupportedKind(spec);
    this.injected('RTM_NEWLINK', operation);
    let seed: FakeLinkSeed = { name: spec.name, kind: spec.kind };
    if (spec.kind === 'gre') {
      const local = spec.local !== undefined ? parseIpv4Address(spec.local, 'RTM_NEWLINK', operation) : undefined;
      const gre: GreParams = {
        ...(spec.key !== undefined ? { key: spec.key } : {}),
        ...(local ? { local: spec.local } : {}),
        ttl: spec.ttl ?? 0,
        tos: spec.tos ?? 0,
        pmtudisc: spec.pmtudisc !== false,
        ...(spec.ignoreDf ? { ignoreDf: true } : {}),
        ...(underlay ? { underlay: underlay.index } : {}),
      };
      // ip_tunnel: MTU = 1500 - (outer IPv4 20 + GRE 4 + key 4 if keyed).
      seed = { ...seed, gre, address: local ?? new Uint8Array(4), mtu: ETH_DATA_LEN - 24 - (spec.key !== undefined ? 4 : 0) };
    }
    const l = seedDefaults({ ...seed, ...(spec.mtu !== undefined ? { mtu: spec.mtu } : {}) }, this.nextIndex++);
    if (l.mtu < l.minMtu || l.mtu > l.maxMtu) {
      this.nextIndex--;
      throw fail(Errno.EINVAL, 'RTM_NEWLINK', operation);
    }
    this.insertLink(l);
    this.emit({ type: 'new', link: view(l) });
    return view(l);
  }

  async deleteLink(name: string): Promise<void> {
    const operation = `deleting device ${name}`;
    this.live(operation);
    checkIfname(name, 'RTM_DELLINK', operation);
    const l = this.byName(name);
    if (!l) throw fail(Errno.ENODEV, 'RTM_DELLINK', operation);
    this.injected('RTM_DELLINK', operation);
    this.flushDevice(l.index);
    this.addresses = this.addresses.filter((a) => a.index !== l.index);
    this.links.delete(l.index);
    this.emit({ type: 'delete', link: view({ ...l, up: false }) });
  }

  async setLinkArp(name: string, on: boolean): Promise<void> {
    const operation = `setting arp ${on ? 'on' : 'off'} on ${name}`;
    this.live(operation);
    checkIfname(name, 'RTM_NEWLINK', operation);
    const l = this.byName(name);
    if (!l) throw fail(Errno.ENODEV, 'RTM_NEWLINK', operation);
    this.injected('RTM_NEWLINK', operation);
    l.arp = on;
  }

  /** No traffic here, so the fake kernel never asks (the listeners are kept until close()). */
  watchNeighbourRequests(listener: (request: NeighbourRequest) => void): Subscription {
    this.neighWatchers.add(listener);
    return { close: () => void this.neighWatchers.delete(listener) };
  }

  watchLinks(listener: (event: LinkEvent) => void): Subscription {
    this.watchers.add(listener);
    return { close: () => void this.watchers.delete(listener) };
  }

  // ---- addresses ----

  async addAddress(dev: string, address: string, opts: { readonly noPrefixRoute?: boolean } = {}): Promise<void> {
    const operation = `adding address ${address} dev ${dev}`;
    this.live(operation);
    const p = parseIpv4Prefix(address, 'RTM_NEWADDR', operation);
    const l = this.resolve(dev, 'RTM_NEWADDR', operation);
    // __inet_insert_ifa: same local and same mask is a duplicate.
    if (this.addresses.some((a) => a.index === l.index && same(a.local, p.address) && a.prefixLength === p.length)) throw fail(Errno.EEXIST, 'RTM_NEWADDR', operation);
    this.injected('RTM_NEWADDR', operation);
    const secondary = this.addresses.some((a) => a.index === l.index && !a.secondary && a.prefixLength === p.length && prefixContains(a.local, p.length, p.address));
    const entry: FakeAddress = { index: l.index, local: p.address, prefixLength: p.length, secondary };
    // Primaries are listed before secondaries, as the kernel keeps them.
    const firstSecondary = this.addresses.findIndex((a) => a.index === l.index && a.secondary);
    if (secondary || firstSecondary < 0) this.addresses.push(entry);
    else this.addresses.splice(firstSecondary, 0, entry);
    if (!opts.noPrefixRoute) this.connectedRoutes(l);
  }

  async deleteAddress(dev: string, address: string): Promise<void> {
    const operation = `deleting address ${address} dev ${dev}`;
    this.live(operation);
    const p = parseIpv4Prefix(address, 'RTM_DELADDR', operation);
    const l = this.resolve(dev, 'RTM_DELADDR', operation);
    const victim = this.addresses.find((a) => a.index === l.index && same(a.local, p.address) && a.prefixLength === p.length);
    if (!victim) throw fail(Errno.EADDRNOTAVAIL, 'RTM_DELADDR', operation);
    this.injected('RTM_DELADDR', operation);
    const gone = (a: FakeAddress): boolean =>
      a === victim || (!victim.secondary && a.secondary && a.index === l.index && a.prefixLength === victim.prefixLength && prefixContains(victim.local, victim.prefixLength, a.local));
    this.addresses = this.addresses.filter((a) => !gone(a));
    if (!victim.secondary) {
      const net = masked(victim.local, victim.prefixLength);
      this.routes = this.routes.filter(
        (r) => !(r.protocol === RouteProtocol.KERNEL && r.oif === l.index && r.length === victim.prefixLength && same(r.dst, net) && r.prefsrc && same(r.prefsrc, victim.local)),
      );
    }
    if (!this.addresses.some((a) => a.index === l.index)) this.flushDevice(l.index);
  }

  async listAddresses(dev?: string): Promise<Ipv4Address[]> {
    const operation = dev === undefined ? 'listing addresses' : `listing addresses of ${dev}`;
    this.live(operation);
    const only = dev === undefined ? undefined : this.resolve(dev, 'RTM_GETADDR', operation).index;
    return this.addresses
      .filter((a) => only === undefined || a.index === only)
      .map((a) => ({ dev: this.name(a.index)!, index: a.index, address: ipv4Text(a.local), prefixLength: a.prefixLength, secondary: a.secondary }));
  }

  // ---- routes ----

  /** Checks the nexthop as fib_check_nh does and returns the output device index. */
  private nexthop(r: NormalRoute, dev: FakeLink | undefined, syscall: string, operation: string): number | undefined {
    if (r.type !== 'unicast') return undefined;
    if (r.gateway === undefined) {
      if (dev && !dev.up) throw fail(Errno.ENETDOWN, syscall, operation);
      return dev?.index;
    }
    // fib_check_nh_v4_gw: the gateway must be reached through a device route (scope link) of the
    // main table, on the given device if one is given.
    let best: FakeRoute | undefined;
    for (const x of this.routes) {
      if (x.table !== RouteTable.MAIN || !prefixContains(x.dst, x.length, r.gateway)) continue;
      if (!best || x.length > best.length || (x.length === best.length && x.metric < best.metric)) best = x;
    }
    if (!best || best.type !== 'unicast' || best.scope < RouteScope.LINK || (dev && best.oif !== dev.index)) throw fail(Errno.ENETUNREACH, syscall, operation);
    if (dev && !dev.up) throw fail(Errno.ENETDOWN, syscall, operation);
    return best.oif;
  }

  private async changeRoute(mode: 'add' | 'replace', route: Ipv4RouteSpec): Promise<void> {
    const operation = `${mode === 'add' ? 'adding' : 'replacing'} ${describeRoute(route)}`;
    this.live(operation);
    const r = normalizeRoute(route, 'RTM_NEWROUTE', operation);
    const dev = r.dev !== undefined ? this.resolve(r.dev, 'RTM_NEWROUTE', operation) : undefined;
    if (hasHostBits(r.dst)) throw fail(Errno.EINVAL, 'RTM_NEWROUTE', operation);
    const oif = this.nexthop(r, dev, 'RTM_NEWROUTE', operation);
    const at = this.routes.findIndex((x) => x.table === r.table && x.length === r.dst.length && same(x.dst, r.dst.address) && x.metric === r.metric);
    if (at >= 0 && mode === 'add') throw fail(Errno.EEXIST, 'RTM_NEWROUTE', operation);
    this.injected('RTM_NEWROUTE', operation);
    const entry: FakeRoute = {
      dst: r.dst.address,
      length: r.dst.length,
      type: r.type ?? 'unicast',
      ...(r.gateway ? { gateway: r.gateway } : {}),
      ...(oif !== undefined ? { oif } : {}),
      metric: r.metric,
      table: r.table,
      protocol: r.protocol,
      scope: r.scope,
    };
    if (at >= 0) this.routes[at] = entry;
    else this.routes.push(entry);
  }

  addRoute(route: Ipv4RouteSpec): Promise<void> {
    return this.changeRoute('add', route);
  }

  replaceRoute(route: Ipv4RouteSpec): Promise<void> {
    return this.changeRoute('replace', route);
  }

  async deleteRoute(route: Ipv4RouteSpec): Promise<void> {
    const operation = `deleting ${describeRoute(route)}`;
    this.live(operation);
    const r = normalizeRoute(route, 'RTM_DELROUTE', operation, true);
    const dev = r.dev !== undefined ? this.resolve(r.dev, 'RTM_DELROUTE', operation) : undefined;
    if (hasHostBits(r.dst)) throw fail(Errno.EINVAL, 'RTM_DELROUTE', operation);
    // fib_table_delete: the first alias (lowest metric) whose given fields all match.
    const candidates = this.routes
      .map((x, i) => ({ x, i }))
      .filter(({ x }) => x.table === r.table && x.length === r.dst.length && same(x.dst, r.dst.address))
      .filter(({ x }) => (r.type === undefined || x.type === r.type) && (r.protocol === 0 || x.protocol === r.protocol) && (r.metric === 0 || x.metric === r.metric))
      .filter(({ x }) => (r.gateway === undefined || (x.gateway !== undefined && same(x.gateway, r.gateway))) && (dev === undefined || x.oif === dev.index))
      .sort((a, b) => a.x.metric - b.x.metric);
    if (candidates.length === 0) throw fail(Errno.ESRCH, 'RTM_DELROUTE', operation);
    this.injected('RTM_DELROUTE', operation);
    this.routes.splice(candidates[0].i, 1);
  }

  async listRoutes(filter: RouteFilter = {}): Promise<Ipv4Route[]> {
    const operation = 'listing routes';
    this.live(operation);
    const table = filter.table ?? RouteTable.MAIN;
    const only = filter.dev === undefined ? undefined : this.resolve(filter.dev, 'RTM_GETROUTE', operation).index;
    return this.routes
      .filter((r) => (table === 'all' ? r.table !== RouteTable.LOCAL : r.table === table))
      .filter((r) => (filter.protocol === undefined || r.protocol === filter.protocol) && (only === undefined || r.oif === only))
      .sort((a, b) => a.table - b.table || ipv4ToNumber(a.dst) - ipv4ToNumber(b.dst) || a.length - b.length || a.metric - b.metric)
      .map((r) => ({
        dst: `${ipv4Text(r.dst)}/${r.length}`,
        type: r.type,
        ...(r.gateway ? { gateway: ipv4Text(r.gateway) } : {}),
        ...(r.oif !== undefined ? { dev: this.name(r.oif)! } : {}),
        metric: r.metric,
        table: r.table,
        protocol: r.protocol,
        scope: r.scope,
        ...(r.prefsrc ? { prefsrc: ipv4Text(r.prefsrc) } : {}),
      }));
  }

  // ---- neighbours ----

  private async changeNeighbour(mode: 'add' | 'replace', n: NeighbourSpec): Promise<void> {
    const operation = `${mode === 'add' ? 'adding' : 'replacing'} ${describeNeighbour(n)}`;
    this.live(operation);
    const nn = normalizeNeighbour(n, 'RTM_NEWNEIGH', operation);
    const l = this.resolve(nn.dev, 'RTM_NEWNEIGH', operation);
    const addrLen = l.address?.length ?? 0;
    if (nn.lladdr.length < addrLen) {
      throw new PlatformError({
        code: 'netlink',
        errno: Errno.EINVAL,
        syscall: 'RTM_NEWNEIGH',
        operation,
        detail: `${l.name} has ${addrLen}-byte link-layer addresses, ${nn.lladdr.length} given`,
      });
    }
    const key = l.pointopoint ? ZERO : nn.address;
    const existing = this.neighbours.find((x) => x.index === l.index && same(x.address, key));
    if (existing && mode === 'add' && !l.pointopoint) throw fail(Errno.EEXIST, 'RTM_NEWNEIGH', operation);
    this.injected('RTM_NEWNEIGH', operation);
    const entry: FakeNeighbour = {
      index: l.index,
      address: key,
      // neigh_update copies dev->addr_len bytes: longer input is cut, a TUN keeps none.
      ...(addrLen > 0 ? { lladdr: nn.lladdr.slice(0, addrLen) } : {}),
      state: nn.state,
    };
    if (existing) this.neighbours[this.neighbours.indexOf(existing)] = entry;
    else this.neighbours.push(entry);
  }

  addNeighbour(neighbour: NeighbourSpec): Promise<void> {
    return this.changeNeighbour('add', neighbour);
  }

  replaceNeighbour(neighbour: NeighbourSpec): Promise<void> {
    return this.changeNeighbour('replace', neighbour);
  }

  async deleteNeighbour(dev: string, address: string): Promise<void> {
    const operation = `deleting neighbour ${address} dev ${dev}`;
    this.live(operation);
    checkIfname(dev, 'RTM_DELNEIGH', operation);
    const a = parseIpv4Address(address, 'RTM_DELNEIGH', operation);
    const l = this.resolve(dev, 'RTM_DELNEIGH', operation);
    const key = l.pointopoint ? ZERO : a;
    const at = this.neighbours.findIndex((x) => x.index === l.index && same(x.address, key));
    if (at < 0) throw fail(Errno.ENOENT, 'RTM_DELNEIGH', operation);
    this.injected('RTM_DELNEIGH', operation);
    this.neighbours.splice(at, 1);
  }

  async listNeighbours(dev?: string): Promise<Neighbour[]> {
    const operation = dev === undefined ? 'listing neighbours' : `listing neighbours of ${dev}`;
    this.live(operation);
    const only = dev === undefined ? undefined : this.resolve(dev, 'RTM_GETNEIGH', operation).index;
    return this.neighbours
      .filter((n) => only === undefined || n.index === only)
      .map((n) => ({ dev: this.name(n.index)!, index: n.index, address: ipv4Text(n.address), ...(n.lladdr ? { lladdr: new Uint8Array(n.lladdr) } : {}), state: n.state }));
  }

  close(): void {
    this.closed = true;
    this.watchers.clear();
    this.neighWatchers.clear();
  }
}
