/** Walk a capture down to IPv4 datagrams (the layer every golden test starts from). */
import { readFileSync } from 'node:fs';
import { parseCapture, stripLink, type CapturedPacket } from '../../daemon/capture/pcap.js';
import { Reader } from '../../protocols/wire/index.js';
import { parseIpv4, type Ipv4Datagram } from '../../protocols/ip/ipv4.js';

export interface CapturedIpv4 {
  readonly frame: CapturedPacket;
  /** The IPv4 datagram bytes exactly as captured (no link layer, no trailing padding). */
  readonly bytes: Uint8Array;
  readonly ip: Ipv4Datagram;
}

export function ipv4Packets(path: string): CapturedIpv4[] {
  const frames = parseCapture(new Uint8Array(readFileSync(path)));
  const out: CapturedIpv4[] = [];
  for (const frame of frames) {
    const l = stripLink(frame);
    if (!l || l.etherType !== 0x0800) continue;
    const ip = parseIpv4(new Reader(l.payload, 'ipv4'));
    out.push({ frame, bytes: l.payload.subarray(0, ip.header.totalLength), ip });
  }
  return out;
}
