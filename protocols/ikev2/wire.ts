/**
 * An IKEv2 message, RFC 7296 section 3: the 28-octet header and a chain of
 * payloads. This module is the codec entry point; it re-exports the pieces.
 *
 * Parsing is structural only (section 2.5's semantic checks, such as which
 * payloads an exchange must carry, belong to the state machine). The header's
 * Length must equal the octets the caller hands over: RFC 7296 section 3.1
 * defines it as the length of the whole message, and a UDP datagram carries
 * exactly one message. Octets inside that length after the last payload are
 * not allowed by the RFC but are kept in `trailing`, so even such a message
 * re-encodes byte for byte and the receiver decides what to do with it.
 */
import { Reader, Writer, WireError, encode } from '../wire/index.js';
import { PayloadType, exchangeTypeName, notifyTypeName, payloadTypeName } from './constants.js';
import { IKE_HEADER_LENGTH, IKEV2_MAJOR, type IkeHeader, parseIkeHeader, emitIkeHeader } from './header.js';
import { type Payload, parsePayloads, emitPayloads, payloadsLength, firstPayloadType } from './payloads.js';

export * from './constants.js';
export * from './header.js';
export * from './sa.js';
export * from './selectors.js';
export * from './config.js';
export * from './payloads.js';
export * from './vendor.js';
export * from './build.js';

export interface IkeMessage {
  readonly header: IkeHeader;
  readonly payloads: readonly Payload[];
  /** Octets inside the message Length after the last payload (none in a well-formed message); omitted when empty. */
  readonly trailing?: Uint8Array;
}

export function ikeMessageLength(m: IkeMessage): number {
  return IKE_HEADER_LENGTH + payloadsLength(m.payloads) + (m.trailing?.length ?? 0);
}

export function parseIkeMessage(r: Reader): IkeMessage {
  const start = r.offset;
  const h = parseIkeHeader(r);
  if (h.majorVersion !== IKEV2_MAJOR) {
    const what = h.majorVersion === 1 ? 'IKEv1 (ISAKMP) message' : `major version ${h.majorVersion}`;
    r.fail(`${what} ${h.majorVersion}.${h.minorVersion} is not IKEv2`, start + 17);
  }
  if (h.length < IKE_HEADER_LENGTH) r.fail(`Length ${h.length} below the 28-octet header`, start + 24);
  const body = h.length - IKE_HEADER_LENGTH;
  if (body > r.remaining) throw new WireError(r.protocol, 'message truncated', start, h.length, r.remaining + IKE_HEADER_LENGTH);
  if (body < r.remaining) r.fail(`Length ${h.length} but ${r.remaining - body} more octets follow the message`, start + 24);
  const payloads = parsePayloads(r, h.nextPayload);
  const trailing = r.rest();
  const { nextPayload: _n, length: _l, ...header } = h;
  return trailing.length > 0 ? { header, payloads, trailing } : { header, payloads };
}

export function emitIkeMessage(m: IkeMessage, w: Writer): void {
  const len = ikeMessageLength(m);
  emitIkeHeader(m.header, firstPayloadType(m.payloads), len, w);
  emitPayloads(m.payloads, w);
  if (m.trailing) w.bytes(m.trailing);
}

/** The codec triple for tests, the fuzz script and the benchmark. */
export const ikev2Codec = {
  protocol: 'ikev2',
  parse: parseIkeMessage,
  emit: emitIkeMessage,
  length: ikeMessageLength,
} as const;

export function decodeIkeMessage(bytes: Uint8Array): IkeMessage {
  return parseIkeMessage(new Reader(bytes, 'ikev2'));
}

export function encodeIkeMessage(m: IkeMessage): Uint8Array {
  return encode(m, emitIkeMessage, ikeMessageLength, 'ikev2');
}

/** Short payload tags for logs, in the style of strongSwan's "[ SA KE No N(NATD_S_IP) ]". */
function payloadTag(p: Payload): string {
  switch (p.kind) {
    case 'N': return `N(${notifyTypeName(p.notifyType)})`;
    case 'SK': return `SK{${p.firstPayload === PayloadType.NONE ? '' : payloadTypeName(p.firstPayload)}}`;
    case 'SKF': return `SKF(${p.fragmentNumber}/${p.totalFragments})`;
    case 'unknown': return `?${p.type}${p.critical ? '!' : ''}`;
    default: return p.kind;
  }
}

/** One line: "IKE_SA_INIT request 0 [ SA KE Nonce N(NAT_DETECTION_SOURCE_IP) ]". */
export function describeIkeMessage(m: IkeMessage): string {
  const h = m.header;
  const dir = h.response ? 'response' : 'request';
  return `${exchangeTypeName(h.exchangeType)} ${dir} ${h.messageId} [ ${m.payloads.map(payloadTag).join(' ')} ]`;
}
