/** show ip route: the IOS layout (codes, classful grouping headers) and JSON. */
import { ipv4ToU32 } from '../../protocols/wire/index.js';
import { ROUTE_CODE, type RibRoute } from '../rib.js';
import { iosUptime } from './format.js';

const CODES = `Codes: L - local, C - connected, S - static, R - RIP, M - mobile, B - BGP
       D - EIGRP, EX - EIGRP external, O - OSPF, IA - OSPF inter area 
       N1 - OSPF NSSA external type 1, N2 - OSPF NSSA external type 2
       E1 - OSPF external type 1, E2 - OSPF external type 2
       i - IS-IS, su - IS-IS summary, L1 - IS-IS level-1, L2 - IS-IS level-2
       ia - IS-IS inter area, * - candidate default, U - per-user static route
       o - ODR, P - periodic downloaded static route, H - NHRP, l - LISP
       a - application route
       + - replicated route, % - next hop override, p - overrides from PfR

Gateway of last resort is not set
`;

function classfulLength(prefix: string): number {
  const first = ipv4ToU32(prefix) >>> 24;
  return first < 128 ? 8 : first < 192 ? 16 : 24;
}

export function routeData(routes: readonly RibRoute[], now: number) {
  return routes.map((r) => ({
    code: ROUTE_CODE[r.source], source: r.source, prefix: r.prefix, prefixLength: r.prefixLength,
    distance: r.distance, metric: r.metric, nextHop: r.nextHop ?? null, interface: r.dev, ageMs: now - r.since,
  }));
}

export function showIpRoute(routes: readonly RibRoute[], now: number): string {
  const out = [CODES];
  // Group by classful network, as IOS does ("10.0.0.0/8 is variably subnetted ...").
  const groups = new Map<string, RibRoute[]>();
  for (const r of routes) {
    const cl = classfulLength(r.prefix);
    const net = ipv4ToU32(r.prefix) & (cl === 8 ? 0xff000000 : cl === 16 ? 0xffff0000 : 0xffffff00);
    const k = `${net >>> 0}/${cl}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  for (const [k, list] of [...groups].sort((a, b) => Number(a[0].split('/')[0]) - Number(b[0].split('/')[0]))) {
    const [netNum, cl] = k.split('/').map(Number);
    const lens = new Set(list.map((r) => r.prefixLength));
    const subnetted = list.length > 1 || list[0].prefixLength !== cl;
    const net = `${netNum >>> 24}.${(netNum >>> 16) & 255}.${(netNum >>> 8) & 255}.${netNum & 255}`;
    if (subnetted && !(list.length === 1 && list[0].prefixLength < cl)) {
      const n = list.length;
      out.push(lens.size > 1
        ? `      ${net}/${cl} is variably subnetted, ${n} subnets, ${lens.size} masks`
        : `      ${net}/${[...lens][0]} is subnetted, ${n} subnet${n > 1 ? 's' : ''}`);
    }
    for (const r of list.sort((a, b) => ipv4ToU32(a.prefix) - ipv4ToU32(b.prefix) || a.prefixLength - b.prefixLength)) {
      const code = ROUTE_CODE[r.source];
      const indent = subnetted && r.prefixLength >= cl ? code.padEnd(9) : code.padEnd(6);
      const target = lens.size > 1 || !subnetted || r.prefixLength < cl ? `${r.prefix}/${r.prefixLength}` : r.prefix;
      if (r.source === 'connected') out.push(`${indent}${target} is directly connected, ${r.dev}`);
      else if (r.blackhole) out.push(`${indent}${target} is a summary, ${iosUptime(now - r.since)}, Null0`);
      else if (r.source === 'static') out.push(`${indent}${target} [${r.distance}/${r.metric}] via ${r.nextHop}`);
      else out.push(`${indent}${target} [${r.distance}/${r.metric}] via ${r.nextHop}, ${iosUptime(now - r.since)}, ${r.dev}`);
    }
  }
  return out.join('\n') + '\n';
}
