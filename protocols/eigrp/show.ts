/**
 * `show ip eigrp ...` text in the layout of IOS 15 (classic mode, "EIGRP-IPv4"
 * headers). Pure formatting of the objects show-data.ts builds; the column
 * positions are IOS's, so output can be read against a router's side by side:
 *
 *   EIGRP-IPv4 Neighbors for AS(100)
 *   H   Address                 Interface              Hold Uptime   SRTT   RTO  Q  Seq
 *                                                      (sec)         (ms)       Cnt Num
 *   0   10.0.0.2                Et0/0                    12 00:01:02   10   200  0  25
 */
import { EigrpStubFlag } from './constants.js';
import { INFINITE_DISTANCE } from './metric.js';
import type { InterfaceShow, NeighborShow, TopologyEntryShow, TopologyPathShow, TrafficShow } from './types.js';

/** IOS's short interface names: Tunnel0 -> Tu0, Ethernet0/0 -> Et0/0; other names as they are. */
export function shortIfName(name: string): string {
  const table: [RegExp, string][] = [
    [/^Tunnel/i, 'Tu'],
    [/^GigabitEthernet/i, 'Gi'],
    [/^FastEthernet/i, 'Fa'],
    [/^TenGigabitEthernet/i, 'Te'],
    [/^Ethernet/i, 'Et'],
    [/^Serial/i, 'Se'],
    [/^Loopback/i, 'Lo'],
    [/^Dialer/i, 'Di'],
  ];
  for (const [re, short] of table) if (re.test(name)) return name.replace(re, short);
  return name;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** IOS uptime: hh:mm:ss under a day, then 1d02h, then 2w3d. */
export function formatUptime(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const days = Math.floor(s / 86400);
  if (days >= 7) return `${Math.floor(days / 7)}w${days % 7}d`;
  if (days >= 1) return `${days}d${pad2(Math.floor((s % 86400) / 3600))}h`;
  return `${pad2(Math.floor(s / 3600))}:${pad2(Math.floor((s % 3600) / 60))}:${pad2(s % 60)}`;
}

function distance(d: bigint): string {
  return d >= INFINITE_DISTANCE ? 'Infinity' : d.toString();
}

function stubWords(flags: number): string {
  const words: string[] = [];
  if (flags & EigrpStubFlag.CONNECTED) words.push('CONNECTED');
  if (flags & EigrpStubFlag.STATIC) words.push('STATIC');
  if (flags & EigrpStubFlag.SUMMARY) words.push('SUMMARY');
  if (flags & EigrpStubFlag.REDISTRIBUTED) words.push('REDISTRIBUTED');
  if (flags & EigrpStubFlag.RECEIVE_ONLY) words.push('RECEIVE-ONLY');
  return words.join(' ');
}

export function renderNeighbors(as: number, list: readonly NeighborShow[], detail = false): string {
  const lines = [
    `EIGRP-IPv4 Neighbors for AS(${as})`,
    'H   Address                 Interface              Hold Uptime   SRTT   RTO  Q  Seq',
    '                                                   (sec)         (ms)       Cnt Num',
  ];
  for (const n of list) {
    lines.push(
      `${String(n.handle).padEnd(4)}${n.address.padEnd(24)}${shortIfName(n.ifname).padEnd(23)}` +
        `${String(n.holdSeconds).padStart(4)} ${formatUptime(n.uptimeMs).padEnd(8)} ${String(n.srttMs).padStart(4)} ` +
        `${String(n.rtoMs).padStart(5)} ${String(n.queueCount).padStart(2)}  ${n.lastSequence}`,
    );
    if (!detail) continue;
    lines.push(`   Version ${n.version}, Retrans: ${n.retransmissions}, Retries: ${n.retries}${n.state === 'up' ? `, Prefixes: ${n.prefixes}` : ''}`);
    if (n.state === 'pending') lines.push('   Waiting for Init Ack');
    lines.push('   Topology-ids from peer - 0 ');
    if (n.stubFlags !== undefined) {
      lines.push(`   Stub Peer Advertising (${stubWords(n.stubFlags)} ) Routes`);
      lines.push('   Suppressing queries');
    }
  }
  return lines.join('\n') + '\n';
}

function viaLine(p: TopologyPathShow): string {
  switch (p.kind) {
    case 'connected':
      return `        via Connected, ${p.ifname ?? ''}`;
    case 'summary':
      return `        via Summary (${distance(p.distance)}/0), Null0`;
    case 'redistributed':
      return `        via R${p.protocol ?? 'static'} (${distance(p.distance)}/0)`;
    case 'neighbor':
      return `        via ${p.address} (${distance(p.distance)}/${distance(p.reportedDistance)})${p.replyPending ? ', r' : ''}, ${p.ifname ?? ''}`;
  }
}

export function renderTopology(as: number, routerId: string, list: readonly TopologyEntryShow[]): string {
  const lines = [
    `EIGRP-IPv4 Topology Table for AS(${as})/ID(${routerId})`,
    'Codes: P - Passive, A - Active, U - Update, Q - Query, R - Reply,',
    '       r - reply Status, s - sia Status ',
    '',
  ];
  for (const e of list) {
    const codes = e.code === 'A' && e.replies > 0 ? ', Q' : '';
    lines.push(`${e.code} ${e.prefix}/${e.prefixLength}, ${e.successors} successors, FD is ${distance(e.fd)}${codes}`);
    if (e.code === 'A') {
      lines.push(`    ${e.replies} replies, active ${formatUptime(e.activeMs ?? 0)}, query-origin: ${e.queryOrigin ?? 'Local origin'}`);
    }
    for (const p of e.paths) lines.push(viaLine(p));
  }
  return lines.join('\n') + '\n';
}

export function renderInterfaces(as: number, list: readonly InterfaceShow[], detail = false): string {
  const lines = [
    `EIGRP-IPv4 Interfaces for AS(${as})`,
    '                              Xmit Queue   PeerQ        Mean   Pacing Time   Multicast    Pending',
    'Interface              Peers  Un/Reliable  Un/Reliable  SRTT   Un/Reliable   Flow Timer   Routes',
  ];
  for (const i of list) {
    lines.push(
      `${shortIfName(i.ifname).padEnd(23)}${String(i.peers).padStart(3)}` +
        `${`${i.xmitUnreliable}/${i.xmitReliable}`.padStart(11)}${'0/0'.padStart(10)}` +
        `${String(i.meanSrttMs).padStart(12)}${`${i.pacingUnreliableMs}/${i.pacingReliableMs}`.padStart(10)}` +
        `${String(i.multicastFlowTimerMs).padStart(13)}${String(i.pendingRoutes).padStart(12)}`,
    );
    if (!detail) continue;
    lines.push(`  Hello-interval is ${i.helloInterval}, Hold-time is ${i.holdTime}`);
    lines.push(`  Split-horizon is ${i.splitHorizon ? 'enabled' : 'disabled'}`);
    lines.push(`  Next-hop-self is ${i.nextHopSelf ? 'enabled' : 'disabled'}`);
    lines.push(`  Authentication mode is ${i.authMode ?? 'not set'}`);
  }
  return lines.join('\n') + '\n';
}

export function renderTraffic(t: TrafficShow): string {
  const pair = (c: { sent: number; received: number }): string => `${c.sent}/${c.received}`;
  const q = t.inputQueue;
  const lines = [
    `EIGRP-IPv4 Traffic Statistics for AS(${t.as})`,
    `  Hellos sent/received: ${pair(t.hellos)}`,
    `  Updates sent/received: ${pair(t.updates)}`,
    `  Queries sent/received: ${pair(t.queries)}`,
    `  Replies sent/received: ${pair(t.replies)}`,
    `  Acks sent/received: ${pair(t.acks)}`,
    `  SIA-Queries sent/received: ${pair(t.siaQueries)}`,
    `  SIA-Replies sent/received: ${pair(t.siaReplies)}`,
    `  Input Queue: ${q.current}/${q.max}/${q.highest}/${q.drops} (current/max/highest/drops)`,
  ];
  const drops = Object.entries(t.drops);
  if (drops.length > 0) {
    lines.push('  Packets dropped:');
    for (const [reason, n] of drops) lines.push(`    ${reason}: ${n}`);
  }
  return lines.join('\n') + '\n';
}
