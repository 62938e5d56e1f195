/**
 * The codec test kit of the design (dns-packet's round trip, smoltcp's six):
 * encode at offset 0 and at an offset, check the length, decode back, compare.
 */
import assert from 'node:assert/strict';
import { Reader, Writer, WireError, encode, toHex } from '../../protocols/wire/index.js';

/** Drop keys whose value is undefined, recursively, so optional fields compare equal. */
export function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array) return Array.from(v);
  if (Array.isArray(v)) return v.map(normalize);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = normalize(x);
    return out;
  }
  return v;
}

export function assertSameValue(actual: unknown, expected: unknown, msg?: string): void {
  assert.deepStrictEqual(normalize(actual), normalize(expected), msg);
}

export interface Codec<T> {
  readonly protocol: string;
  parse(r: Reader): T;
  emit(v: T, w: Writer): void;
  length(v: T): number;
}

/** decode(encode(x)) = x; encode writes exactly length(x); encoding at an offset works. */
export function roundTrip<T>(c: Codec<T>, value: T): Uint8Array {
  const bytes = encode(value, c.emit, c.length, c.protocol);
  assert.equal(bytes.length, c.length(value), 'emit wrote length() bytes');
  const back = c.parse(new Reader(bytes, c.protocol));
  assertSameValue(back, value, 'decode(encode(x)) = x');
  const pad = 5;
  const buf = new Uint8Array(bytes.length + pad * 2).fill(0xee);
  const w = new Writer(buf, c.protocol, pad);
  c.emit(value, w);
  assert.equal(w.pos, pad + bytes.length, 'emit at an offset wrote the same length');
  assert.equal(toHex(buf.subarray(pad, pad + bytes.length)), toHex(bytes), 'emit at an offset wrote the same bytes');
  assert.equal(buf[pad - 1], 0xee, 'emit at an offset left the bytes before it alone');
  assert.equal(buf[pad + bytes.length], 0xee, 'emit at an offset left the bytes after it alone');
  const back2 = c.parse(new Reader(buf, c.protocol, pad, pad + bytes.length));
  assertSameValue(back2, value, 'decode at an offset');
  return bytes;
}

/** Parse real bytes and re-emit them: the result must be identical. Returns the value. */
export function reencodeIdentical<T>(c: Codec<T>, bytes: Uint8Array, what = ''): T {
  const v = c.parse(new Reader(bytes, c.protocol));
  assert.equal(c.length(v), bytes.length, `${what} length() equals the captured length`);
  const again = encode(v, c.emit, c.length, c.protocol);
  assert.equal(toHex(again), toHex(bytes), `${what} re-encodes byte for byte`);
  return v;
}

/** Every strict prefix of a valid encoding must fail with WireError (never another error). */
export function assertTruncationsThrowWireError<T>(c: Codec<T>, bytes: Uint8Array, step = 1): void {
  for (let n = 0; n < bytes.length; n += step) {
    try {
      c.parse(new Reader(bytes.subarray(0, n), c.protocol));
    } catch (e) {
      if (!(e instanceof WireError)) throw new Error(`prefix of ${n} bytes threw ${String(e)}, not WireError`);
      continue;
    }
    // A prefix may legitimately parse when the format is self-delimiting at that point.
  }
}

/** Run fn; anything it throws must be a WireError. Returns true when it threw. */
export function throwsOnlyWireError(fn: () => unknown): boolean {
  try {
    fn();
    return false;
  } catch (e) {
    if (e instanceof WireError) return true;
    throw e;
  }
}
