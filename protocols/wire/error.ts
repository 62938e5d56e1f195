/**
 * The one error a codec throws. It names the protocol, where in the buffer the
 * problem was found, and (for truncation) how many bytes were needed and present,
 * so a drop counter and a debug log line can say exactly what was wrong.
 */
export class WireError extends Error {
  override readonly name = 'WireError';
  constructor(
    /** Protocol whose codec rejected the bytes, e.g. "nhrp", "eigrp". */
    readonly protocol: string,
    /** Short reason, stable enough to be used as a drop-counter key. */
    readonly reason: string,
    /** Byte offset (from the start of the reader's window) where the problem is. */
    readonly offset: number,
    /** Bytes needed at `offset` (0 when the error is not a truncation). */
    readonly needed = 0,
    /** Bytes available at `offset`. */
    readonly available = 0,
  ) {
    super(
      needed > 0
        ? `${protocol}: ${reason} at offset ${offset}: need ${needed} bytes, have ${available}`
        : `${protocol}: ${reason} at offset ${offset}`,
    );
  }
}

export function isWireError(e: unknown): e is WireError {
  return e instanceof WireError;
}
