/**
 * RtnetlinkPort over a NETLINK_ROUTE socket (rtnetlink(7), RFC 3549), using the `netlink`
 * package for the socket and the fixed message layouts.
 *
 * - One request socket (netlink-channel.ts): requests go out in call order, answers are matched
 *   by sequence number, so calls made without awaiting each other are pipelined (several per
 *   sendmsg); a dump goes alone. Every request is bounded by `timeoutMs`.
 * - A second socket joins RTNLGRP_LINK for RTM_NEWLINK / RTM_DELLINK notifications: for
 *   watchLinks(), and to keep the device index cache true, so notifications never interleave with
 *   dump replies.
 * - Devices are named; where the kernel needs the index (addresses, routes, neighbours) the name
 *   is resolved with RTM_GETLINK once and cached (ifindex-cache.ts). A request that answers
 *   ENODEV with a cached index is retried once after a fresh lookup (the device was re-created
 *   before its notification was read). Link requests send IFLA_IFNAME and let the kernel look it
 *   up. Either way a missing device is ENODEV.
 * - Every failure is a PlatformError naming the object: "adding route 192.168.2.0/24 via
 *   10.0.0.12 dev dmvpn0: File exists (EEXIST)".
 */
import { createNetlink, rt, Protocol, FlagsGet, FlagsNew, type NetlinkMessage, type NetlinkSocket } from 'netlink';
import { Errno, PlatformError } from '../errors.js';
import {
  checkIfname,
  checkUint,
  describeLinkSpec,
  describeNeighbour,
  describeRoute,
  normalizeNeighbour,
  normalizeRoute,
  parseIpv4Address,
  parseIpv4Prefix,
  RouteTable,
  unsupportedKind,
  validateLinkSpec,
} from '../netlink-values.js';
import type {
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
import { greLinkInfo, simpleLinkInfo } from './netlink-attrs.js';
import { IfindexCache, type CachedLink } from './ifindex-cache.js';
import { NetlinkChannel } from './netlink-channel.js';
import { malformedReply, netlinkError, requestFailure, rtmName, RtmType } from './netlink-errors.js';
import {
  AF_INET,
  addressFromMessage,
  addressPayload,
  linkFromMessage,
  linkPayload,
  neighbourFromMessage,
  neighbourPayload,
  neighbourRequestFrom,
  routeFromMessage,
  routePayload,
  type IndexNames,
} from './rtnetlink-codec.js';

/** RTNLGRP_LINK (include/uapi/linux/rtnetlink.h). */
const RTNLGRP_LINK = 1;
const RTNLGRP_NEIGH = 3;
const CREATE_EXCL = FlagsNew.CREATE | FlagsNew.EXCL;
const CREATE_REPLACE = FlagsNew.CREATE | FlagsNew.REPLACE;

export interface LinuxRtnetlinkOptions {
  /** Bound on every request, in milliseconds (default 5000). */
  readonly timeoutMs?: number;
  /** Requests in flight at most (default 64; see netlink-channel.ts). */
  readonly window?: number;
}

export class LinuxRtnetlink implements RtnetlinkPort {
  readonly timeoutMs: number;
  private readonly channel: NetlinkChannel;
  /** RTNLGRP_LINK: for the watchers and the index cache; open from the first use of either. */
  private eventSocket: NetlinkSocket | undefined;
  private readonly watchers = new Set<(event: LinkEvent) => void>();
  /** RTNLGRP_NEIGH, opened by the first watchNeighbourRequests(). */
  private neighSocket: NetlinkSocket | undefined;
  private readonly neighWatchers = new Set<(request: NeighbourRequest) => void>();
  private readonly links = new IfindexCache();
  private readonly lookups = new Map<string, Promise<CachedLink>>();
  private closed = false;

  constructor(options: LinuxRtnetlinkOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.channel = new NetlinkChannel({ protocol: Protocol.ROUTE, timeoutMs: this.timeoutMs, name: rtmName, port: 'rtnetlink', window: options.window });
  }

  // ---- the request core ----

  private request(type: number, payload: Uint8Array[], flags: number, operation: string): Promise<NetlinkMessage[]> {
    return this.channel.request(type, payload, flags, operation);
  }

  private parse<T>(type: number, operation: string, msgs: NetlinkMessage[], expect: number, fn: (m: rt.Message) => T | undefined): T[] {
    const out: T[] = [];
    for (const m of msgs) {
      if (m.type !== expect) continue;
      let parsed: rt.Message;
      try {
        parsed = rt.parseMessage(m.type, m.data);
      } catch (e) {
        throw malformedReply(type, operation, String(e));
      }
      const v = fn(parsed);
      if (v !== undefined) out.push(v);
    }
    return out;
  }

  private async resolveIndex(name: string, syscall: number, operation: string): Promise<number> {
    return (await this.resolveLink(name, syscall, operation)).index;
  }

  /** The cached link, or a lookup that fills the cache (the notifications keep it true from then). */
  private resolveLink(name: string, syscall: number, operation: string): Promise<CachedLink> {
    const hit = this.links.get(name);
    if (hit) return Promise.resolve(hit);
    // Callers that miss together share one lookup (a burst of routes on a device not yet seen).
    // If it fails, the others ask again, so that each error names its own caller's operation.
    const shared = this.lookups.get(name);
    if (shared) return shared.catch(() => this.lookup(name, syscall, operation));
    this.openEvents();
    const generation = this.links.generation;
    const pending = this.lookup(name, syscall, operation).then(
      (link) => {
        this.lookups.delete(name);
        this.links.set(link, generation);
        return link;
      },
      (e: unknown) => {
        this.lookups.delete(name);
        throw e;
      },
    );
    this.lookups.set(name, pending);
    return pending;
  }

  /**
   * Run a request against a device's index; ENODEV with a cached index means the device went away
   * or was re-created before we read its notification: forget it and try once more afresh.
   */
  private async onDevice<T>(dev: string, syscall: number, operation: string, fn: (link: CachedLink) => Promise<T>): Promise<T> {
    checkIfname(dev, rtmName(syscall), operation);
    const cached = this.links.get(dev);
    if (cached) {
      try {
        return await fn(cached);
      } catch (e) {
        if (!(e instanceof PlatformError && e.code === 'netlink' && e.errno === Errno.ENODEV)) throw e;
        this.links.forget(dev);
      }
    }
    return fn(await this.resolveLink(dev, syscall, operation));
  }

  /** RTM_GETLINK by name; `syscall` is only used to report a malformed name. */
  private async lookup(name: string, syscall: number, operation: string): Promise<Link> {
    checkIfname(name, rtmName(syscall), operation);
    const msgs = await this.request(RtmType.GETLINK, linkPayload({}, { ifname: name }), 0, operation);
    const links = this.parse(RtmType.GETLINK, operation, msgs, RtmType.NEWLINK, (m) => (m.kind === 'link' ? linkFromMessage(m) : undefined));
    if (links.length === 0) throw malformedReply(RtmType.GETLINK, operation, 'no link in the answer');
    return links[0];
  }

  private async indexNames(operation: string): Promise<IndexNames> {
    const links = await this.dumpLinks(operation);
    return new Map(links.map((l) => [l.index, l.name]));
  }

  private async dumpLinks(operation: string): Promise<Link[]> {
    const msgs = await this.request(RtmType.GETLINK, linkPayload({}, {}), FlagsGet.DUMP, operation);
    return this.parse(RtmType.GETLINK, operation, msgs, RtmType.NEWLINK, (m) =>
      m.kind === 'link' && (m.data.family ?? 0) === 0 ? linkFromMessage(m) : undefined,
    );
  }

  // ---- links ----

  /** Always asked of the kernel (flags and MTU change); the answer refreshes the index cache. */
  async getLink(name: string): Promise<Link> {
    this.openEvents();
    const generation = this.links.generation;
    const link = await this.lookup(name, RtmType.GETLINK, `looking up device ${name}`);
    this.links.set(link, generation);
    return link;
  }

  async getLinkByIndex(index: number): Promise<Link> {
    const operation = `looking up device index ${index}`;
    checkUint(index, 0x7fffffff, 'index', 'RTM_GETLINK', operation);
    if (index === 0) throw netlinkError(Errno.ENODEV, RtmType.GETLINK, operation);
    const msgs = await this.request(RtmType.GETLINK, linkPayload({ index }, {}), 0, operation);
    const links = this.parse(RtmType.GETLINK, operation, msgs, RtmType.NEWLINK, (m) => (m.kind === 'link' ? linkFromMessage(m) : undefined));
    if (links.length === 0) throw malformedReply(RtmType.GETLINK, operation, 'no link in the answer');
    return links[0];
  }

  listLinks(): Promise<Link[]> {
    return this.dumpLinks('listing devices');
  }

  async setLinkUp(name: string, up: boolean): Promise<void> {
    const operation = `setting ${name} ${up ? 'up' : 'down'}`;
    checkIfname(name, 'RTM_NEWLINK', operation);
    await this.request(RtmType.NEWLINK, linkPayload({ flags: up ? { up: true } : {}, change: { up: true } }, { ifname: name }), 0, operation);
  }

  async setLinkArp(name: string, on: boolean): Promise<void> {
    const operation = `setting arp ${on ? 'on' : 'off'} on ${name}`;
    checkIfname(name, 'RTM_NEWLINK', operation);
    await this.request(RtmType.NEWLINK, linkPayload({ flags: on ? {} : { noarp: true }, change: { noarp: true } }, { ifname: name }), 0, operation);
  }

  async setLinkMtu(name: string, mtu: number): Promise<void> {
    const operation = `setting mtu ${mtu} on ${name}`;
    checkIfname(name, 'RTM_NEWLINK', operation);
    checkUint(mtu, 0xffffffff, 'mtu', 'RTM_NEWLINK', operation);
    await this.request(RtmType.NEWLINK, linkPayload({}, { ifname: name, mtu }), 0, operation);
  }

  async createLink(spec: LinkSpec): Promise<Link> {
    const operation = `creating ${describeLinkSpec(spec)}`;
    validateLinkSpec(spec, 'RTM_NEWLINK', operation);
    let linkinfo: Uint8Array;
    if (spec.kind === 'gre') {
      const underlay = spec.underlay !== undefined ? await this.resolveIndex(spec.underlay, RtmType.NEWLINK, operation) : undefined;
      linkinfo = greLinkInfo(spec, underlay);
    } else {
      linkinfo = simpleLinkInfo(spec.kind);
    }
    const attrs = { ifname: spec.name, linkinfo: Buffer.from(linkinfo), ...(spec.mtu !== undefined ? { mtu: spec.mtu } : {}) };
    try {
      await this.request(RtmType.NEWLINK, linkPayload({}, attrs), CREATE_EXCL, operation);
    } catch (e) {
      // rtnl_newlink: no rtnl_link_ops for the kind (module absent, autoload failed) is EOPNOTSUPP.
      if (e instanceof PlatformError && e.code === 'netlink' && e.errno === Errno.EOPNOTSUPP) throw unsupportedKind(spec);
      throw e;
    }
    this.links.forget(spec.name);
    return this.getLink(spec.name);
  }

  async deleteLink(name: string): Promise<void> {
    const operation = `deleting device ${name}`;
    checkIfname(name, 'RTM_DELLINK', operation);
    this.links.forget(name);
    try {
      await this.request(RtmType.DELLINK, linkPayload({}, { ifname: name }), 0, operation);
    } finally {
      this.links.forget(name);
    }
  }

  watchLinks(listener: (event: LinkEvent) => void): Subscription {
    this.openEvents();
    this.watchers.add(listener);
    let open = true;
    return {
      close: () => {
        if (!open) return;
        open = false;
        this.watchers.delete(listener);
      },
    };
  }

  /**
   * The RTNLGRP_LINK socket, opened once and kept until close(): the index cache depends on it.
   * It does not hold the process open (the package unreferences a socket with no request due).
   */
  private openEvents(): void {
    if (this.eventSocket || this.closed) return;
    const s = createNetlink(Protocol.ROUTE);
    s.addMembership(RTNLGRP_LINK);
    s.on('message', (msgs) => this.dispatchLinkEvents(msgs));
    // ENOBUFS here means notifications were dropped: tell watchers to re-read the links.
    s.on('error', (err) => this.emitLink({ type: 'overrun', error: requestFailure(err, RtmType.GETLINK, 'watching devices', this.timeoutMs) }));
    this.eventSocket = s;
  }

  private dispatchLinkEvents(msgs: NetlinkMessage[]): void {
    for (const m of msgs) {
      if (m.type !== RtmType.NEWLINK && m.type !== RtmType.DELLINK) continue;
      let parsed: rt.LinkMessage;
      try {
        parsed = rt.parseLinkMessage(m.data);
      } catch {
        continue; // a notification we cannot read is skipped, like the package's 'invalid' ones
      }
      if ((parsed.data.family ?? 0) !== 0) continue; // AF_BRIDGE port notifications
      this.emitLink({ type: m.type === RtmType.NEWLINK ? 'new' : 'delete', link: linkFromMessage(parsed) });
    }
  }

  private emitLink(event: LinkEvent): void {
    this.links.onEvent(event);
    for (const w of [...this.watchers]) {
      try {
        w(event);
      } catch {
        // a watcher's exception must not stop the others nor the socket
      }
    }
  }

  // ---- addresses ----

  private async changeAddress(type: number, flags: number, verb: string, dev: string, address: string, noPrefixRoute = false): Promise<void> {
    const operation = `${verb} address ${address} dev ${dev}`;
    const p = parseIpv4Prefix(address, rtmName(type), operation);
    await this.onDevice(dev, type, operation, (link) => this.request(type, addressPayload(link.index, p, noPrefixRoute), flags, operation));
  }

  addAddress(dev: string, address: string, opts: { readonly noPrefixRoute?: boolean } = {}): Promise<void> {
    return this.changeAddress(RtmType.NEWADDR, CREATE_EXCL, 'adding', dev, address, opts.noPrefixRoute === true);
  }

  deleteAddress(dev: string, address: string): Promise<void> {
    return this.changeAddress(RtmType.DELADDR, 0, 'deleting', dev, address);
  }

  async listAddresses(dev?: string): Promise<Ipv4Address[]> {
    const operation = dev === undefined ? 'listing addresses' : `listing addresses of ${dev}`;
    const only = dev === undefined ? undefined : await this.resolveIndex(dev, RtmType.GETADDR, operation);
    const names = await this.indexNames(operation);
    const msgs = await this.request(RtmType.GETADDR, addressDumpPayload(), FlagsGet.DUMP, operation);
    return this.parse(RtmType.GETADDR, operation, msgs, RtmType.NEWADDR, (m) =>
      m.kind === 'address' ? addressFromMessage(m, names) : undefined,
    ).filter((a) => only === undefined || a.index === only);
  }

  // ---- routes ----

  private async changeRoute(type: number, flags: number, verb: string, route: Ipv4RouteSpec): Promise<void> {
    const operation = `${verb} ${describeRoute(route)}`;
    const r = normalizeRoute(route, rtmName(type), operation, type === RtmType.DELROUTE);
    if (r.dev === undefined) await this.request(type, routePayload(r, undefined), flags, operation);
    else await this.onDevice(r.dev, type, operation, (link) => this.request(type, routePayload(r, link.index), flags, operation));
  }

  addRoute(route: Ipv4RouteSpec): Promise<void> {
    return this.changeRoute(RtmType.NEWROUTE, CREATE_EXCL, 'adding', route);
  }

  replaceRoute(route: Ipv4RouteSpec): Promise<void> {
    return this.changeRoute(RtmType.NEWROUTE, CREATE_REPLACE, 'replacing', route);
  }

  deleteRoute(route: Ipv4RouteSpec): Promise<void> {
    return this.changeRoute(RtmType.DELROUTE, 0, 'deleting', route);
  }

  async listRoutes(filter: RouteFilter = {}): Promise<Ipv4Route[]> {
    const operation = 'listing routes';
    const table = filter.table ?? RouteTable.MAIN;
    const only = filter.dev === undefined ? undefined : await this.resolveIndex(filter.dev, RtmType.GETROUTE, operation);
    const names = await this.indexNames(operation);
    const msgs = await this.request(RtmType.GETROUTE, routeDumpPayload(), FlagsGet.DUMP, operation);
    const onlyName = only === undefined ? undefined : names.get(only);
    return this.parse(RtmType.GETROUTE, operation, msgs, RtmType.NEWROUTE, (m) => (m.kind === 'route' ? routeFromMessage(m, names) : undefined)).filter(
      (r) =>
        (table === 'all' ? r.table !== RouteTable.LOCAL : r.table === table) &&
        (filter.protocol === undefined || r.protocol === filter.protocol) &&
        (onlyName === undefined || r.dev === onlyName),
    );
  }

  // ---- neighbours ----

  private async changeNeighbour(flags: number, verb: string, n: NeighbourSpec): Promise<void> {
    const operation = `${verb} ${describeNeighbour(n)}`;
    const nn = normalizeNeighbour(n, 'RTM_NEWNEIGH', operation);
    await this.onDevice(nn.dev, RtmType.NEWNEIGH, operation, async (link) => {
      try {
        await this.request(RtmType.NEWNEIGH, neighbourPayload(link.index, nn), flags, operation);
      } catch (e) {
        throw explainNeighbourError(e, nn.lladdr.length, link);
      }
    });
  }

  addNeighbour(neighbour: NeighbourSpec): Promise<void> {
    return this.changeNeighbour(CREATE_EXCL, 'adding', neighbour);
  }

  replaceNeighbour(neighbour: NeighbourSpec): Promise<void> {
    return this.changeNeighbour(CREATE_REPLACE, 'replacing', neighbour);
  }

  async deleteNeighbour(dev: string, address: string): Promise<void> {
    const operation = `deleting neighbour ${address} dev ${dev}`;
    checkIfname(dev, 'RTM_DELNEIGH', operation);
    const a = parseIpv4Address(address, 'RTM_DELNEIGH', operation);
    await this.onDevice(dev, RtmType.DELNEIGH, operation, (link) => this.request(RtmType.DELNEIGH, neighbourPayload(link.index, { address: a }), 0, operation));
  }

  async listNeighbours(dev?: string): Promise<Neighbour[]> {
    const operation = dev === undefined ? 'listing neighbours' : `listing neighbours of ${dev}`;
    const only = dev === undefined ? undefined : await this.resolveIndex(dev, RtmType.GETNEIGH, operation);
    const names = await this.indexNames(operation);
    const msgs = await this.request(RtmType.GETNEIGH, neighbourDumpPayload(), FlagsGet.DUMP, operation);
    return this.parse(RtmType.GETNEIGH, operation, msgs, RtmType.NEWNEIGH, (m) =>
      m.kind === 'neighbor' ? neighbourFromMessage(m, names) : undefined,
    ).filter((n) => only === undefined || n.index === only);
  }

  watchNeighbourRequests(listener: (request: NeighbourRequest) => void): Subscription {
    if (!this.neighSocket && !this.closed) {
      const s = createNetlink(Protocol.ROUTE);
      s.addMembership(RTNLGRP_NEIGH);
      s.on('message', (msgs) => {
        for (const m of msgs) {
          if (m.type !== RtmType.GETNEIGH) continue;
          const r = neighbourRequestFrom(m.data);
          if (r) for (const w of [...this.neighWatchers]) w(r);
        }
      });
      // ENOBUFS: requests were lost; the kernel asks again while the traffic lasts (app_solicit).
      s.on('error', () => undefined);
      this.neighSocket = s;
    }
    this.neighWatchers.add(listener);
    return { close: () => void this.neighWatchers.delete(listener) };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.channel.close();
    this.eventSocket?.close();
    this.eventSocket = undefined;
    this.neighSocket?.close();
    this.neighSocket = undefined;
    this.neighWatchers.clear();
    this.watchers.clear();
    this.links.clear();
  }
}

/**
 * neigh_add() refuses an lladdr shorter than the device's hardware address with a bare EINVAL;
 * say which lengths clashed (a 4-byte NBMA address on an Ethernet device is the usual case).
 */
export function explainNeighbourError(e: unknown, lladdrLength: number, link: Pick<Link, 'address' | 'name'>): unknown {
  const devLength = link.address?.length ?? 0;
  if (e instanceof PlatformError && e.code === 'netlink' && e.errno === Errno.EINVAL && lladdrLength < devLength) {
    return new PlatformError({
      code: 'netlink',
      errno: e.errno,
      syscall: e.syscall,
      operation: e.operation,
      detail: `${link.name} has ${devLength}-byte link-layer addresses, ${lladdrLength} given`,
    });
  }
  return e;
}

const addressDumpPayload = (): Uint8Array[] => {
  const b = Buffer.alloc(8);
  b[0] = AF_INET;
  return [b];
};
const routeDumpPayload = (): Uint8Array[] => {
  const b = Buffer.alloc(12);
  b[0] = AF_INET;
  return [b];
};
const neighbourDumpPayload = (): Uint8Array[] => {
  const b = Buffer.alloc(12);
  b[0] = AF_INET;
  return [b];
};
