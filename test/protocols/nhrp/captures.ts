/** NHRP packets out of the golden captures: IPv4 -> GRE (protocol type 0x2001) -> NHRP bytes. */
import { Reader } from '../../../protocols/wire/index.js';
import { IpProto } from '../../../protocols/ip/ipv4.js';
import { parseGre, GreProto } from '../../../protocols/gre/wire.js';
import { ipv4Packets } from '../../support/pcap.js';
import { vectorPath } from '../../support/vectors.js';

export const NHRP_CAPTURES = [
  'NHRP_registration.pcap',
  'NHRP-responder-address.pcap',
  'nhrp.pcapng',
  'nhrp-trace.pcap',
  'ios_nhrp.pcap',
] as const;

export interface CapturedNhrp {
  readonly file: string;
  /** 1-based frame number, as tcpdump's .out files number them. */
  readonly frame: number;
  readonly greKey?: number;
  /** The NHRP packet: the GRE payload, exactly as captured. */
  readonly bytes: Uint8Array;
}

export function nhrpPackets(file: string): CapturedNhrp[] {
  const out: CapturedNhrp[] = [];
  for (const p of ipv4Packets(vectorPath('pcap', file))) {
    if (p.ip.header.protocol !== IpProto.GRE) continue;
    const g = parseGre(new Reader(p.ip.payload, 'gre'));
    if (g.header.protocolType !== GreProto.NHRP) continue;
    out.push({ file, frame: p.frame.index, greKey: g.header.key, bytes: g.payload });
  }
  return out;
}

/** One captured packet by file and frame number. */
export function nhrpFrame(file: string, frame: number): CapturedNhrp {
  const p = nhrpPackets(file).find((x) => x.frame === frame);
  if (!p) throw new Error(`${file} has no NHRP packet in frame ${frame}`);
  return p;
}
