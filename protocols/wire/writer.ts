import { WireError } from './error.js';

/**
 * A write cursor over a caller-provided buffer (emit writes exactly xLength(value)
 * bytes, so the caller sizes the buffer first). Overruns throw WireError: an
 * emitter that overruns its own length function is a bug, and the test suite
 * asserts on it.
 */
export class Writer {
  readonly buf: Uint8Array;
  readonly view: DataView;
  pos: number;
  readonly protocol: string;

  constructor(buf: Uint8Array, protocol = 'wire', pos = 0) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = pos;
    this.protocol = protocol;
  }

  static alloc(n: number, protocol = 'wire'): Writer {
    return new Writer(new Uint8Array(n), protocol);
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) {
      throw new WireError(this.protocol, 'emit overrun', this.pos, n, this.buf.length - this.pos);
    }
  }

  u8(v: number): this {
    this.need(1);
    this.buf[this.pos++] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    this.need(2);
    this.view.setUint16(this.pos, v & 0xffff);
    this.pos += 2;
    return this;
  }

  u24(v: number): this {
    this.need(3);
    this.buf[this.pos] = (v >>> 16) & 0xff;
    this.buf[this.pos + 1] = (v >>> 8) & 0xff;
    this.buf[this.pos + 2] = v & 0xff;
    this.pos += 3;
    return this;
  }

  u32(v: number): this {
    this.need(4);
    this.view.setUint32(this.pos, v >>> 0);
    this.pos += 4;
    return this;
  }

  u64(v: bigint): this {
    this.need(8);
    this.view.setBigUint64(this.pos, BigInt.asUintN(64, v));
    this.pos += 8;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.need(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  zeros(n: number): this {
    this.need(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
    return this;
  }

  /** Reserve n bytes now, fill them later with patch16/patch32 (lengths, checksums). */
  reserve(n: number): number {
    const at = this.pos;
    this.zeros(n);
    return at;
  }

  patch16(at: number, v: number): void {
    this.view.setUint16(at, v & 0xffff);
  }

  patch32(at: number, v: number): void {
    this.view.setUint32(at, v >>> 0);
  }
}

/**
 * The codec contract of the design: emit a value into a fresh buffer of exactly
 * `length(value)` bytes and check the emitter wrote all of them.
 */
export function encode<T>(
  value: T,
  emit: (v: T, w: Writer) => void,
  length: (v: T) => number,
  protocol = 'wire',
): Uint8Array {
  const n = length(value);
  const w = new Writer(new Uint8Array(n), protocol);
  emit(value, w);
  if (w.pos !== n) throw new WireError(protocol, `emit wrote ${w.pos} bytes, length said ${n}`, w.pos);
  return w.buf;
}
