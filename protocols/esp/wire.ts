/**
 * ESP, RFC 4303 section 2: the cleartext header and the protected rest.
 *
 *   |               Security Parameters Index (SPI)                 |  ^ cleartext
 *   |                      Sequence Number                          |  v
 *   |                    Payload Data* (variable)                   |  ^ IV (if the
 *   ~                                                               ~  | cipher has one),
 *   |               |     Padding (0-255 bytes)                     |  | ciphertext of
 *   |                               |  Pad Length   | Next Header   |  v data + trailer
 *   |         Integrity Check Value-ICV   (variable)                |
 *
 * Before decryption only SPI and Sequence Number mean anything, so the packet
 * value keeps everything after them as one opaque `payload` (IV + ciphertext +
 * ICV). The plaintext trailer is in trailer.ts, RFC 3948 UDP encapsulation in
 * udpencap.ts. ESP is a hot-path header, so besides the value codec there is
 * an allocation-free view for the dataplane.
 */
import { Reader, Writer, WireError } from '../wire/index.js';

export const ESP_HEADER = 8;

/** Offsets for the view and the native addon's mirror. */
export const EspOff = { SPI: 0, SEQ: 4, PAYLOAD: 8 } as const;

/** An ESP packet as it travels: the header fields and the protected octets. */
export interface EspPacket {
  /** RFC 4303 section 2.1: never 0 on the wire (0 is reserved for local use; RFC 3948 uses it as the non-ESP marker). */
  readonly spi: number;
  /** RFC 4303 section 2.2: the low 32 bits of the (possibly extended) sequence number. */
  readonly seq: number;
  /** IV + ciphertext + ICV, opaque until the SA's algorithms are applied. */
  readonly payload: Uint8Array;
}

/** Parse an ESP packet that fills the reader's window. */
export function parseEsp(r: Reader): EspPacket {
  const at = r.offset;
  const spi = r.u32();
  if (spi === 0) r.fail('SPI 0 is reserved (RFC 4303 section 2.1)', at);
  const seq = r.u32();
  return { spi, seq, payload: r.rest() };
}

export function espLength(p: EspPacket): number {
  return ESP_HEADER + p.payload.length;
}

export function emitEsp(p: EspPacket, w: Writer): void {
  w.u32(p.spi).u32(p.seq).bytes(p.payload);
}

export const espCodec = {
  protocol: 'esp',
  parse: parseEsp,
  emit: emitEsp,
  length: espLength,
} as const;

/**
 * An allocation-free view over an ESP packet in place (smoltcp's Packet<T>):
 * `check()` once, then getters and setters trust the bytes.
 */
export class EspView {
  private readonly dv: DataView;
  constructor(readonly buf: Uint8Array, readonly at = 0, readonly end = buf.length) {
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  check(): this {
    const avail = this.end - this.at;
    if (this.at < 0 || this.end > this.buf.length || avail < ESP_HEADER) {
      throw new WireError('esp', 'truncated', 0, ESP_HEADER, Math.max(0, avail));
    }
    if (this.spi === 0) throw new WireError('esp', 'SPI 0 is reserved (RFC 4303 section 2.1)', 0);
    return this;
  }

  get spi(): number { return this.dv.getUint32(this.at + EspOff.SPI); }
  set spi(v: number) { this.dv.setUint32(this.at + EspOff.SPI, v >>> 0); }
  get seq(): number { return this.dv.getUint32(this.at + EspOff.SEQ); }
  set seq(v: number) { this.dv.setUint32(this.at + EspOff.SEQ, v >>> 0); }
  get length(): number { return this.end - this.at; }
  /** IV + ciphertext + ICV, as a view (no copy). */
  payload(): Uint8Array { return this.buf.subarray(this.at + EspOff.PAYLOAD, this.end); }
}
