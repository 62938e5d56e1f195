/**
 * The Internet checksum (RFC 1071): one's-complement sum of 16-bit words.
 * Used by IPv4, UDP, GRE (RFC 2784 section 2.5), NHRP (RFC 2332 section 5.2.0.1)
 * and EIGRP (RFC 7868 section 6.6).
 */
export function onesSum(buf: Uint8Array, start = 0, end = buf.length, initial = 0): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (i < end) sum += buf[i] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The checksum value to store: complement of the one's-complement sum. */
export function internetChecksum(buf: Uint8Array, start = 0, end = buf.length, initial = 0): number {
  return ~onesSum(buf, start, end, initial) & 0xffff;
}

/** True when a region that includes its own checksum field sums to 0xffff. */
export function checksumValid(buf: Uint8Array, start = 0, end = buf.length, initial = 0): boolean {
  return onesSum(buf, start, end, initial) === 0xffff;
}
