/**
 * Reads the `tcpdump -vv` text that sits next to each EIGRP capture (the
 * .out files), so the golden tests can hold every decoded field against what
 * an independent decoder printed for the same frame.
 */
import { readFileSync } from 'node:fs';

export interface OutRoute {
  readonly prefix: string;
  readonly prefixLength: number;
  /** "self" in tcpdump's words is next hop 0.0.0.0. */
  readonly nextHop: string;
  /** tcpdump prints the scaled delay divided by 100. */
  readonly delayDiv100: number;
  readonly bandwidth: number;
  readonly mtu: number;
  readonly hopCount: number;
  readonly reliability: number;
  readonly load: number;
}

export interface OutTlv {
  readonly type: number;
  readonly length: number;
  params?: { holdTime: number; k: number[] };
  software?: { ios: [number, number]; tlv: [number, number] };
  route?: OutRoute;
  /** Hex dump lines of TLVs tcpdump does not decode. */
  hex: string;
}

export interface OutFrame {
  readonly index: number;
  opcode?: number;
  /** Non-verbose lines name the packet type only ("EIGRP Hello, length: 40"). */
  typeName?: string;
  checksum?: number;
  flagName?: string;
  sequence?: number;
  ack?: number;
  vrid?: number;
  as?: number;
  /** tcpdump's "length": bytes after the 20-byte header (or the whole packet in non-verbose lines). */
  length?: number;
  readonly tlvs: OutTlv[];
}

export function readTcpdumpOut(path: string): Map<number, OutFrame> {
  const frames = new Map<number, OutFrame>();
  let cur: OutFrame | undefined;
  let tlv: OutTlv | undefined;
  let pendingRoute: { prefix: string; prefixLength: number; nextHop: string } | undefined;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    let m = /^\s*(\d+)\s+\d{4}-\d\d-\d\d /.exec(line);
    if (m) {
      cur = { index: Number(m[1]), tlvs: [] };
      frames.set(cur.index, cur);
      tlv = undefined;
      m = /EIGRP (\w+), length: (\d+)\s*$/.exec(line);
      if (m) {
        cur.typeName = m[1];
        cur.length = Number(m[2]);
      }
      continue;
    }
    if (!cur) continue;
    if ((m = /EIGRP v\d+, opcode: .*\((\d+)\), chksum: 0x([0-9a-f]+), Flags: \[(.*)\]/.exec(line))) {
      cur.opcode = Number(m[1]);
      cur.checksum = parseInt(m[2], 16);
      cur.flagName = m[3];
    } else if ((m = /seq: 0x([0-9a-f]+), ack: 0x([0-9a-f]+), VRID: (\d+), AS: (\d+), length: (\d+)/.exec(line))) {
      cur.sequence = parseInt(m[1], 16);
      cur.ack = parseInt(m[2], 16);
      cur.vrid = Number(m[3]);
      cur.as = Number(m[4]);
      cur.length = Number(m[5]);
    } else if ((m = /TLV \(0x([0-9a-f]{4})\), length: (\d+)/.exec(line))) {
      tlv = { type: parseInt(m[1], 16), length: Number(m[2]), hex: '' };
      cur.tlvs.push(tlv);
    } else if (tlv && (m = /holdtime: (\d+)s, k1 (\d+), k2 (\d+), k3 (\d+), k4 (\d+), k5 (\d+)/.exec(line))) {
      tlv.params = { holdTime: Number(m[1]), k: m.slice(2, 7).map(Number) };
    } else if (tlv && (m = /IOS version: (\d+)\.(\d+), EIGRP version (\d+)\.(\d+)/.exec(line))) {
      tlv.software = { ios: [Number(m[1]), Number(m[2])], tlv: [Number(m[3]), Number(m[4])] };
    } else if (tlv && (m = /IPv4 prefix:\s+([\d.]+)\/(\d+), nexthop: (\S+)/.exec(line))) {
      pendingRoute = { prefix: m[1], prefixLength: Number(m[2]), nextHop: m[3] === 'self' ? '0.0.0.0' : m[3] };
    } else if (tlv && pendingRoute && (m = /delay (\d+) ms, bandwidth (\d+) Kbps, mtu (\d+), hop (\d+), reliability (\d+), load (\d+)/.exec(line))) {
      const [delayDiv100, bandwidth, mtu, hopCount, reliability, load] = m.slice(1, 7).map(Number);
      tlv.route = { ...pendingRoute, delayDiv100, bandwidth, mtu, hopCount, reliability, load };
      pendingRoute = undefined;
    } else if (tlv && (m = /^\s+0x[0-9a-f]{4}:\s+([0-9a-f ]+)$/.exec(line))) {
      tlv.hex += m[1].replace(/\s+/g, '');
    }
  }
  return frames;
}

/** tcpdump names one flag value (tok2str, not a bit list); "none" for anything else. */
export const TCPDUMP_FLAG: Readonly<Record<string, number>> = {
  none: 0,
  Init: 0x01,
  'Conditionally Received': 0x02,
  'End-of-Table': 0x08,
};
