/**
 * The DMVPN dissector: captured frames to field trees (see dissect.ts for the
 * protocol walk), and the text / JSON forms `dmvpnctl decode` prints.
 */
import { readCapture } from '../capture/pcap.js';
import { dissectPacket } from './dissect.js';
import type { DecodedPacket } from './model.js';
import type { CaptureError } from '../capture/pcap.js';

export { dissectPacket } from './dissect.js';
export { readCapture, type CaptureRead } from '../capture/pcap.js';
export { summaryLine, textLines, packetJson } from './render.js';
export type { DecodedPacket, Malformed } from './model.js';
export type { Node, Json } from './tree.js';

export interface DecodedCapture {
  readonly packets: readonly DecodedPacket[];
  /** The capture's own error (not a capture, truncated): packets holds what came before it. */
  readonly error?: CaptureError;
}

/** Decode every frame of a capture file's bytes. */
export function decodeCapture(buf: Uint8Array): DecodedCapture {
  const read = readCapture(buf);
  const first = read.packets[0]?.time ?? 0;
  const packets = read.packets.map((f) => dissectPacket(f, first));
  return read.error ? { packets, error: read.error } : { packets };
}
