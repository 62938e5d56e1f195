/**
 * Reading a capture for the decoder. parseCapture (daemon/capture/pcap.ts)
 * takes a file whole or not at all; a capture that tcpdump is still writing, or
 * that was cut by a full disk, ends in the middle of a record. Here such a file
 * gives the packets before the cut *and* the error, so `dmvpnctl decode` can
 * print them and still fail with exit status 2.
 */
import { parseCapture, CaptureError, type CapturedPacket } from '../capture/pcap.js';

export interface CaptureRead {
  readonly packets: readonly CapturedPacket[];
  /** Set when the file is not a capture, or is cut short (packets then holds what came before the cut). */
  readonly error?: CaptureError;
}

const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BOM = 0x1a2b3c4d;

/** Bytes of the file that hold whole records (classic pcap) or whole blocks (pcapng). */
function completePrefix(buf: Uint8Array): number {
  if (buf.length < 4) return 0;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const be = dv.getUint32(0, false);
  if (be === PCAPNG_SHB) {
    let little = true;
    let off = 0;
    while (off + 12 <= buf.length) {
      if (dv.getUint32(off, false) === PCAPNG_SHB) little = dv.getUint32(off + 8, true) === PCAPNG_BOM;
      const len = dv.getUint32(off + 4, little);
      if (len < 12 || off + len > buf.length) break;
      off += len;
    }
    return off;
  }
  const little = dv.getUint32(0, true) === PCAP_MAGIC_US || dv.getUint32(0, true) === PCAP_MAGIC_NS;
  if (!little && be !== PCAP_MAGIC_US && be !== PCAP_MAGIC_NS) return 0;
  if (buf.length < 24) return 0;
  let off = 24;
  while (off + 16 <= buf.length) {
    const incl = dv.getUint32(off + 8, little);
    if (off + 16 + incl > buf.length) break;
    off += 16 + incl;
  }
  return off;
}

/** Parse a capture; on truncation keep the packets before the cut. Throws nothing but bugs. */
export function readCapture(buf: Uint8Array): CaptureRead {
  try {
    return { packets: parseCapture(buf) };
  } catch (e) {
    if (!(e instanceof CaptureError)) throw e;
    if (e.code !== 'truncated') return { packets: [], error: e };
    const cut = completePrefix(buf);
    try {
      return { packets: cut > 0 ? parseCapture(buf.subarray(0, cut)) : [], error: e };
    } catch (e2) {
      if (!(e2 instanceof CaptureError)) throw e2;
      return { packets: [], error: e };
    }
  }
}
