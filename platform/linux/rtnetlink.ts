/**
 * RtnetlinkPort over a NETLINK_ROUTE socket (rtnetlink(7), RFC 3549), using the `netlink`
 * package for the socket and the fixed message layouts.
 *
 * - One request socket; requests are serialised, because the kernel runs one dump per socket at a
 *   time (a second one gets EBUSY) and the package groups multipart replies per socket, not per
 *   sequence number. Every request is bounded by `timeoutMs`.
 * - A second socket, created on the first watchLinks(), joins RTNLGRP_LINK for RTM_NEWLINK /
 *   RTM_DELLINK notifications, so notifications never interleave with dump replies.
 * - Devices are named; a name is resolved to its index with RTM_GETLINK where the kernel needs the
 *   index (addresses, routes, neighbours); link requests send IFLA_IFNAME and let the kernel look
 *   it up. Either way a missing device is ENODEV.
 * - Every failure is a PlatformError naming the object: "adding route 192.168.2.0/24 via
 *   10.0.0.12 dev dmvpn0: File exists (EEXIST)".
 */
import { createNetlink, parseError, rt, Protocol, FlagsGet, FlagsNew, MessageType, type NetlinkMessage, type NetlinkSocket } from 'netlink';
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
  NeighbourSpec,
  RouteFilter,
  RtnetlinkPort,
  Subscription,
} from '../ports.js';
import { greLinkInfo, simpleLinkInfo } from './netlink-attrs.js';
import { malformedReply, netlinkError, requestFailure, RtmType } from './netlink-errors.js';
import {
  AF_INET,
  addressFromMessage,
  addressPayload,
  linkFromMessage,
  linkPayload,
  neighbourFromMessage,
  neighbourPayload,
  routeFromMessage,
  routePayload,
  type IndexNames,
} from './rtnetlink-codec.js';

/** RTNLGRP_LINK (include/uapi/linux/rtnetlink.h). */
const RTNLGRP_LINK = 1;
const CREATE_EXCL = FlagsNew.CREATE | FlagsNew.EXCL;
const CREATE_REPLACE = FlagsNew.CREATE | FlagsNew.REPLACE;

export interface LinuxRtnetlinkOptions {
  /** Bound on every request, in milliseconds (default 5000). */
  readonly timeoutMs?: number;
}

export class LinuxRtnetlink implements RtnetlinkPort {
  readonly timeoutMs: number;
  private readonly nl: NetlinkSocket;
  private queue: Promise<unknown> = Promise.resolve();
  private watchSocket: NetlinkSocket | undefined;
  private readonly watchers = new Set<(event: LinkEvent) => void>();
  private closed = false;

  constructor(options: LinuxRtnetlinkOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.nl = createNetlink(Protocol.ROUTE);
    // Without a listener an 'error' event would throw; a pending request still ends by timeout.
    this.nl.on('error', () => undefined);
  }

  // ---- the request core ----

  private request(type: number, payload: Uint8Array[], flags: number, operation: string): Promise<NetlinkMessage[]> {
    const run = (): Promise<NetlinkMessage[]> => this.exchange(type, payload, flags, operation);
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async exchange(type: number, payload: Uint8Array[], flags: number, operation: string): Promise<NetlinkMessage[]> {
    if (this.closed) {
      throw new PlatformError({ code: 'socket', errno: Errno.EBADF, syscall: 'sendmsg', operation, detail: 'the rtnetlink port is closed' });
    }
    let replies: NetlinkMessage[];
    try {
      [replies] = await this.nl.request(type, payload, { flags, timeout: this.timeoutMs, checkError: false });
    } catch (e) {
      throw requestFailure(e, type, operation, this.timeoutMs);
    }
    const first = replies[0];
    if (first && first.type === MessageType.ERROR) {
      let errno: number;
      try {
        errno = -parseError(first.data, first.flags).errno;
      } catch (e) {
        throw malformedReply(type, operation, String(e));
      }
      if (errno !== 0) throw netlinkError(errno, type, operation);
      return [];
    }
    return replies;
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
    return (await this.lookup(name, syscall, operation)).index;
  }

  /** RTM_GETLINK by name; `syscall` is only used to report a malformed name. */
  private async lookup(name: string, syscall: number, operation: string): Promise<Link> {
    checkIfname(name, syscallName(syscall), operation);
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

  getLink(name: string): Promise<Link> {
    return this.lookup(name, RtmType.GETLINK, `looking up device ${name}`);
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
    return this.lookup(spec.name, RtmType.GETLINK, `looking up device ${spec.name}`);
  }

  async deleteLink(name: string): Promise<void> {
    const operation = `deleting device ${name}`;
    checkIfname(name, 'RTM_DELLINK', operation);
    await this.request(RtmType.DELLINK, linkPayload({}, { ifname: name }), 0, operation);
  }

  watchLinks(listener: (event: LinkEvent) => void): Subscription {
    if (!this.watchSocket) {
      const s = createNetlink(Protocol.ROUTE);
      s.addMembership(RTNLGRP_LINK);
      s.on('message', (msgs) => this.dispatchLinkEvents(msgs));
      // ENOBUFS here means notifications were dropped: tell watchers to re-read the links.
      s.on('error', (err) => this.emitLink({ type: 'overrun', error: requestFailure(err, RtmType.GETLINK, 'watching devices', this.timeoutMs) }));
      this.watchSocket = s;
    }
    this.watchers.add(listener);
    let open = true;
    return {
      close: () => {
        if (!open) return;
        open = false;
        this.watchers.delete(listener);
        if (this.watchers.size === 0 && this.watchSocket) {
          this.watchSocket.close();
          this.watchSocket = undefined;
        }
      },
    };
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
    const p = parseIpv4Prefix(address, syscallName(type), operation);
    checkIfname(dev, syscallName(type), operation);
    const index = await this.resolveIndex(dev, type, operation);
    await this.request(type, addressPayload(index, p, noPrefixRoute), flags, operation);
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
    const r = normalizeRoute(route, syscallName(type), operation, type === RtmType.DELROUTE);
    const oif = r.dev !== undefined ? await this.resolveIndex(r.dev, type, operation) : undefined;
    await this.request(type, routePayload(r, oif), flags, operation);
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
    const link = await this.lookup(nn.dev, RtmType.NEWNEIGH, operation);
    try {
      await this.request(RtmType.NEWNEIGH, neighbourPayload(link.index, nn), flags, operation);
    } catch (e) {
      throw explainNeighbourError(e, nn.lladdr.length, link);
    }
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
    const index = await this.resolveIndex(dev, RtmType.DELNEIGH, operation);
    await this.request(RtmType.DELNEIGH, neighbourPayload(index, { address: a }), 0, operation);
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

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.nl.close();
    this.watchSocket?.close();
    this.watchSocket = undefined;
    this.watchers.clear();
  }
}

function syscallName(type: number): string {
  return `RTM_${Object.entries(RtmType).find(([, v]) => v === type)?.[0] ?? type}`;
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
