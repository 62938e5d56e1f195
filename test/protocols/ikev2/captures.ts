/**
 * What the IKE golden tests read: the IKE messages in the shared captures
 * (UDP 500 as is, UDP 4500 after the non-ESP marker), the hex blocks of
 * ikev2.md, and tcpdump's decode of the same frames in the .out files.
 */
import { readFileSync } from 'node:fs';
import { Reader, fromHex } from '../../../protocols/wire/index.js';
import { IpProto } from '../../../protocols/ip/ipv4.js';
import { parseUdp, UdpPort } from '../../../protocols/ip/udp.js';
import { classifyUdpEncap, NON_ESP_MARKER_LENGTH } from '../../../protocols/esp/udpencap.js';
import { ipv4Packets } from '../../support/pcap.js';
import { vectorPath } from '../../support/vectors.js';

export interface CapturedUdp {
  readonly index: number;
  readonly src: string;
  readonly dst: string;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly payload: Uint8Array;
}

export function udpDatagrams(file: string): CapturedUdp[] {
  const out: CapturedUdp[] = [];
  for (const p of ipv4Packets(vectorPath('pcap', file))) {
    if (p.ip.header.protocol !== IpProto.UDP) continue;
    const u = parseUdp(new Reader(p.ip.payload, 'udp'));
    out.push({ index: p.frame.index, src: p.ip.header.src, dst: p.ip.header.dst, srcPort: u.srcPort, dstPort: u.dstPort, payload: u.payload });
  }
  return out;
}

export interface CapturedIke extends CapturedUdp {
  /** The IKE message: the UDP payload on port 500, the octets after the marker on 4500. */
  readonly message: Uint8Array;
  readonly natT: boolean;
}

/** Every IKE message (any version) in a capture. */
export function ikeMessages(file: string): CapturedIke[] {
  const out: CapturedIke[] = [];
  for (const d of udpDatagrams(file)) {
    const natT = d.srcPort === UdpPort.IKE_NATT || d.dstPort === UdpPort.IKE_NATT;
    if (natT) {
      if (classifyUdpEncap(d.payload) === 'ike') out.push({ ...d, message: d.payload.subarray(NON_ESP_MARKER_LENGTH), natT });
    } else if (d.srcPort === UdpPort.IKE || d.dstPort === UdpPort.IKE) {
      out.push({ ...d, message: d.payload, natT });
    }
  }
  return out;
}

export interface Ikev2Md {
  /** The "#### C… " hex blocks, by their label (C1 .. C4). */
  readonly cisco: ReadonlyMap<string, Uint8Array>;
  /** The IKE_SA_INIT request of section D ("msg=…"). */
  readonly sectionD: Uint8Array;
  /** Section D's Ni for that message. */
  readonly sectionDNonce: Uint8Array;
}

export function readIkev2Md(): Ikev2Md {
  const text = readFileSync(vectorPath('ikev2.md'), 'utf8');
  const cisco = new Map<string, Uint8Array>();
  for (const m of text.matchAll(/^#### (C\d)[^\n]*\n```hex\n([0-9a-f\s]+)```/gm)) cisco.set(m[1], fromHex(m[2]));
  const msg = /IKE_SA_INIT\(I\) msg=([0-9a-f]+)/.exec(text);
  const auth = text.slice(text.indexOf('testComputeAUTH'));
  const ni = /Ni=([0-9a-f]+)/.exec(auth);
  if (!msg || !ni) throw new Error('ikev2.md: section D message or nonce not found');
  return { cisco, sectionD: fromHex(msg[1]), sectionDNonce: fromHex(ni[1]) };
}

/** One top-level payload as tcpdump printed it. */
export interface OutPayload {
  /** tcpdump's tag: sa, v2ke, nonce, n, v2e, v2vid, v2IDi ... */
  readonly tag: string;
  readonly critical: boolean;
  readonly len?: number;
  readonly notifyType?: number;
  readonly protocolId?: number;
}

export interface OutIkeFrame {
  readonly index: number;
  readonly major: number;
  readonly minor: number;
  readonly messageId: number;
  readonly spiI?: string;
  readonly spiR?: string;
  /** tcpdump's exchange word: ikev2_init, ikev2_auth, child_sa, inf2 ... */
  readonly exchange: string;
  /** Flag letters in brackets, e.g. "I" or "R". */
  readonly flags: string;
  readonly payloads: OutPayload[];
}

/** Read tcpdump's verbose ISAKMP decode (the .out next to a capture). */
export function readTcpdumpIke(file: string): OutIkeFrame[] {
  const lines = readFileSync(vectorPath('pcap', file), 'utf8').split('\n');
  const out: OutIkeFrame[] = [];
  let index = 0;
  let cur: OutIkeFrame | undefined;
  for (const line of lines) {
    const f = /^\s+(\d+)\s+\S+ \S+ IP /.exec(line);
    if (f) { index = Number(f[1]); cur = undefined; continue; }
    const h = /isakmp (\d)\.(\d) msgid ([0-9a-f]{8})(?: cookie ([0-9a-f]{16})->([0-9a-f]{16}))?: \S+\s+(\w+)\[(\w*)\]/.exec(line);
    if (h) {
      cur = { index, major: Number(h[1]), minor: Number(h[2]), messageId: parseInt(h[3], 16), spiI: h[4], spiR: h[5], exchange: h[6], flags: h[7], payloads: [] };
      out.push(cur);
      continue;
    }
    const p = /^ {4}\((\w+)(\[C\])?:(.*)$/.exec(line);
    if (p && cur) {
      const len = /\blen=(\d+)/.exec(p[3]);
      const nt = /type=(\d+)/.exec(p[3]);
      const pid = /prot_id=#(\d+)/.exec(p[3]);
      cur.payloads.push({
        tag: p[1], critical: p[2] !== undefined,
        ...(len ? { len: Number(len[1]) } : {}),
        ...(nt ? { notifyType: Number(nt[1]) } : {}),
        ...(pid ? { protocolId: Number(pid[1]) } : {}),
      });
    }
  }
  return out;
}
