/**
 * The ESP plaintext that gets encrypted, RFC 4303 sections 2.3 to 2.6:
 *
 *   Payload Data | Padding (0-255) | Pad Length | Next Header
 *
 * Section 2.4: the plaintext must fill a whole number of cipher blocks, and in
 * any case Pad Length and Next Header must end on a 4-octet boundary so the ICV
 * is aligned. When the cipher does not define its own padding the default
 * applies: the padding octets are 1, 2, 3, ... and the receiver SHOULD check
 * them. Next Header 59 marks a dummy packet to drop (section 2.6).
 *
 * The crypto that turns this plaintext into the packet's opaque payload lives
 * with the SA; this module only lays out and checks the octets.
 */
import { Writer, WireError } from '../wire/index.js';

/** Next Header values that ESP carries in a DMVPN (IANA protocol numbers). */
export const EspNextHeader = {
  /** Tunnel mode: an IPv4 packet */
  IPV4: 4,
  TCP: 6,
  UDP: 17,
  /** Tunnel mode: an IPv6 packet */
  IPV6: 41,
  /** Transport mode over mGRE: the GRE packet (DMVPN tunnel protection) */
  GRE: 47,
  /** RFC 4303 section 2.6: dummy packet (traffic flow confidentiality); discard */
  NO_NEXT_HEADER: 59,
} as const;

export function espNextHeaderName(v: number): string {
  for (const [k, x] of Object.entries(EspNextHeader)) if (x === v) return k;
  return `proto-${v}`;
}

/** The ESP trailer octets after the padding. */
export const ESP_TRAILER = 2;
const MAX_PAD = 255;

/** Alignment for a cipher block size: at least 4 (RFC 4303 section 2.4). */
export function espAlignment(blockSize: number): number {
  if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > 256) throw new RangeError(`bad block size ${blockSize}`);
  return Math.max(4, blockSize);
}

/** Padding octets needed after `payloadLength` octets of data. */
export function espPadLength(payloadLength: number, blockSize: number): number {
  const align = espAlignment(blockSize);
  const pad = (align - ((payloadLength + ESP_TRAILER) % align)) % align;
  if (pad > MAX_PAD) throw new RangeError(`block size ${blockSize} needs ${pad} octets of padding, more than 255`);
  return pad;
}

/** Length of the plaintext (data + padding + trailer) for `payloadLength` octets of data. */
export function espPlaintextLength(payloadLength: number, blockSize: number): number {
  return payloadLength + espPadLength(payloadLength, blockSize) + ESP_TRAILER;
}

/** Write data, default padding 1, 2, 3, ..., Pad Length and Next Header into a caller's buffer. */
export function emitEspPlaintext(payload: Uint8Array, nextHeader: number, blockSize: number, w: Writer): void {
  const pad = espPadLength(payload.length, blockSize);
  w.bytes(payload);
  for (let i = 1; i <= pad; i++) w.u8(i);
  w.u8(pad).u8(nextHeader);
}

/** The plaintext as a new buffer. */
export function buildEspPlaintext(payload: Uint8Array, nextHeader: number, blockSize: number): Uint8Array {
  const w = new Writer(new Uint8Array(espPlaintextLength(payload.length, blockSize)), 'esp');
  emitEspPlaintext(payload, nextHeader, blockSize, w);
  return w.buf;
}

export interface EspPlaintext {
  /** The protected data: a view into the decrypted buffer (no copy). */
  readonly payload: Uint8Array;
  readonly padLength: number;
  readonly nextHeader: number;
}

export interface EspPlaintextOptions {
  /** Check the default 1, 2, 3, ... padding (RFC 4303 section 2.4 SHOULD); default true. */
  readonly checkPadding?: boolean;
  /** When given, the plaintext length must be a multiple of espAlignment(blockSize). */
  readonly blockSize?: number;
}

/** Split a decrypted plaintext into data, padding and trailer. */
export function parseEspPlaintext(plain: Uint8Array, opts: EspPlaintextOptions = {}): EspPlaintext {
  const n = plain.length;
  if (n < ESP_TRAILER) throw new WireError('esp', 'plaintext shorter than the trailer', 0, ESP_TRAILER, n);
  if (opts.blockSize !== undefined && n % espAlignment(opts.blockSize) !== 0) {
    throw new WireError('esp', `plaintext of ${n} octets is not a multiple of ${espAlignment(opts.blockSize)}`, 0);
  }
  const padLength = plain[n - 2];
  const nextHeader = plain[n - 1];
  const dataEnd = n - ESP_TRAILER - padLength;
  if (dataEnd < 0) throw new WireError('esp', `Pad Length ${padLength} exceeds the plaintext`, n - 2);
  if (opts.checkPadding ?? true) {
    for (let i = 0; i < padLength; i++) {
      if (plain[dataEnd + i] !== i + 1) throw new WireError('esp', `padding octet ${i + 1} is ${plain[dataEnd + i]}`, dataEnd + i);
    }
  }
  return { payload: plain.subarray(0, dataEnd), padLength, nextHeader };
}
