import { WireError } from './error.js';

/**
 * A read cursor over a window of one buffer. Every read checks bounds once and
 * throws WireError (never RangeError) when the window is too short.
 * `sub(n)` hands out a child reader over the next n bytes, which is how
 * length-delimited structures (TLVs, extensions, payloads) are parsed without copying.
 */
export class Reader {
  readonly buf: Uint8Array;
  readonly view: DataView;
  /** First byte of the window, absolute index into buf. */
  readonly start: number;
  /** One past the last byte of the window, absolute index into buf. */
  readonly end: number;
  /** Absolute cursor. */
  pos: number;
  readonly protocol: string;

  constructor(buf: Uint8Array, protocol: string, start = 0, end = buf.length, view?: DataView) {
    if (start < 0 || end > buf.length || start > end) {
      throw new WireError(protocol, 'bad window', start, end - start, buf.length - start);
    }
    this.buf = buf;
    // Child readers share their parent's view: one DataView per packet, not per TLV.
    this.view = view ?? new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.start = start;
    this.end = end;
    this.pos = start;
    this.protocol = protocol;
  }

  /** Offset of the cursor relative to the window start. */
  get offset(): number {
    return this.pos - this.start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  get length(): number {
    return this.end - this.start;
  }

  need(n: number, what = 'truncated'): void {
    if (n < 0 || this.pos + n > this.end) {
      throw new WireError(this.protocol, what, this.offset, n, this.remaining);
    }
  }

  fail(reason: string, offset = this.offset): never {
    throw new WireError(this.protocol, reason, offset);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }

  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  u24(): number {
    this.need(3);
    const v = (this.buf[this.pos] << 16) | (this.buf[this.pos + 1] << 8) | this.buf[this.pos + 2];
    this.pos += 3;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  u64(): bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.pos);
    this.pos += 8;
    return v;
  }

  /** A copy of the next n bytes (values outlive the packet buffer). */
  bytes(n: number): Uint8Array {
    this.need(n);
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Everything up to the end of the window, copied. */
  rest(): Uint8Array {
    return this.bytes(this.remaining);
  }

  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  /** A child reader over the next n bytes; this reader moves past them. */
  sub(n: number, protocol = this.protocol): Reader {
    this.need(n);
    const r = new Reader(this.buf, protocol, this.pos, this.pos + n, this.view);
    this.pos += n;
    return r;
  }

  /** Peek at a byte relative to the cursor without moving. */
  peek8(at = 0): number {
    if (this.pos + at >= this.end) {
      throw new WireError(this.protocol, 'truncated', this.offset + at, 1, 0);
    }
    return this.buf[this.pos + at];
  }

  peek16(at = 0): number {
    if (this.pos + at + 2 > this.end) {
      throw new WireError(this.protocol, 'truncated', this.offset + at, 2, Math.max(0, this.end - this.pos - at));
    }
    return this.view.getUint16(this.pos + at);
  }

  /** The window as a view (no copy), e.g. for checksum verification. */
  window(): Uint8Array {
    return this.buf.subarray(this.start, this.end);
  }
}
