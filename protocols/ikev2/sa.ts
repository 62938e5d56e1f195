/**
 * The body of the Security Association payload, RFC 7296 section 3.3:
 * a list of proposals (3.3.1), each a list of transforms (3.3.2), each with
 * attributes (3.3.5).
 *
 *   Proposal:  | Last Substruc |   RESERVED    |         Proposal Length       |
 *              | Proposal Num  |  Protocol ID  |    SPI Size   |Num  Transforms|
 *              ~                        SPI (variable)                         ~
 *              ~                        <Transforms>                           ~
 *   Transform: | Last Substruc |   RESERVED    |        Transform Length       |
 *              |Transform Type |   RESERVED    |          Transform ID         |
 *              ~                      Transform Attributes                     ~
 *   Attribute: |A|       Attribute Type        |    AF=0  Attribute Length     |
 *              |                               |    AF=1  Attribute Value      |
 *
 * Last Substruc, the lengths, SPI Size and Num Transforms are derived on emit;
 * the parser checks that the received values agree with the structure, so every
 * SA body it accepts re-encodes byte for byte. RESERVED octets are kept.
 */
import { Reader, Writer } from '../wire/index.js';
import { TransformAttr, TransformType, ProtocolId, transformIdName, protocolIdName } from './constants.js';

/** Last Substruc values (RFC 7296 sections 3.3.1 and 3.3.2). */
const MORE_PROPOSALS = 2;
const MORE_TRANSFORMS = 3;
const LAST = 0;

/** Attribute in TV form (AF = 1): a 16-bit value, e.g. Key Length. */
export interface TvAttribute {
  readonly type: number;
  readonly value: number;
}

/** Attribute in TLV form (AF = 0): a variable-length value. */
export interface TlvAttribute {
  readonly type: number;
  readonly data: Uint8Array;
}

export type TransformAttribute = TvAttribute | TlvAttribute;

export interface Transform {
  readonly type: number;
  readonly id: number;
  readonly attributes: readonly TransformAttribute[];
  /** RESERVED octet after Last Substruc, omitted when 0. */
  readonly reserved1?: number;
  /** RESERVED octet after Transform Type, omitted when 0. */
  readonly reserved2?: number;
}

export interface Proposal {
  /** Proposal Num: 1 for the first, counting up; a response echoes the chosen one (section 3.3.1). */
  readonly number: number;
  readonly protocolId: number;
  /** Empty for IKE in IKE_SA_INIT; the sender's inbound SPI (4 octets) for ESP/AH. */
  readonly spi: Uint8Array;
  readonly transforms: readonly Transform[];
  /** RESERVED octet, omitted when 0. */
  readonly reserved?: number;
}

export function isTv(a: TransformAttribute): a is TvAttribute {
  return (a as TvAttribute).value !== undefined;
}

function attributeLength(a: TransformAttribute): number {
  return isTv(a) ? 4 : 4 + a.data.length;
}

export function transformLength(t: Transform): number {
  let n = 8;
  for (const a of t.attributes) n += attributeLength(a);
  return n;
}

export function proposalLength(p: Proposal): number {
  let n = 8 + p.spi.length;
  for (const t of p.transforms) n += transformLength(t);
  return n;
}

export function saBodyLength(proposals: readonly Proposal[]): number {
  let n = 0;
  for (const p of proposals) n += proposalLength(p);
  return n;
}

function parseAttribute(r: Reader): TransformAttribute {
  const word = r.u16();
  const type = word & 0x7fff;
  if (word & 0x8000) return { type, value: r.u16() };
  const len = r.u16();
  return { type, data: r.bytes(len) };
}

function parseTransform(r: Reader, isLast: () => boolean): Transform {
  const last = r.u8();
  const reserved1 = r.u8();
  const length = r.u16();
  if (length < 8) r.fail(`transform length ${length} below 8`, r.offset - 2);
  const body = r.sub(length - 4);
  const type = body.u8();
  const reserved2 = body.u8();
  const id = body.u16();
  const attributes: TransformAttribute[] = [];
  while (body.remaining > 0) attributes.push(parseAttribute(body));
  const expect = isLast() ? LAST : MORE_TRANSFORMS;
  if (last !== expect) r.fail(`transform Last Substruc ${last}, structure says ${expect}`, r.offset - length);
  const t: Transform = { type, id, attributes };
  return withReserved(withReserved(t, 'reserved1', reserved1), 'reserved2', reserved2);
}

function withReserved<T extends object, K extends string>(v: T, key: K, n: number): T {
  return n ? { ...v, [key]: n } : v;
}

function parseProposal(r: Reader, isLast: () => boolean): Proposal {
  const start = r.offset;
  const last = r.u8();
  const reserved = r.u8();
  const length = r.u16();
  if (length < 8) r.fail(`proposal length ${length} below 8`, start + 2);
  const body = r.sub(length - 4);
  const number = body.u8();
  const protocolId = body.u8();
  const spiSize = body.u8();
  const numTransforms = body.u8();
  const spi = body.bytes(spiSize);
  const transforms: Transform[] = [];
  while (body.remaining > 0) transforms.push(parseTransform(body, () => body.remaining === 0));
  if (transforms.length !== numTransforms) {
    body.fail(`proposal says ${numTransforms} transforms, holds ${transforms.length}`, 3);
  }
  const expect = isLast() ? LAST : MORE_PROPOSALS;
  if (last !== expect) r.fail(`proposal Last Substruc ${last}, structure says ${expect}`, start);
  return withReserved({ number, protocolId, spi, transforms }, 'reserved', reserved);
}

/** Parse proposals until the SA payload body is used up. */
export function parseSaBody(r: Reader): Proposal[] {
  const out: Proposal[] = [];
  while (r.remaining > 0) out.push(parseProposal(r, () => r.remaining === 0));
  return out;
}

function emitTransform(t: Transform, last: boolean, w: Writer): void {
  w.u8(last ? LAST : MORE_TRANSFORMS).u8(t.reserved1 ?? 0).u16(transformLength(t));
  w.u8(t.type).u8(t.reserved2 ?? 0).u16(t.id);
  for (const a of t.attributes) {
    if (isTv(a)) w.u16(0x8000 | (a.type & 0x7fff)).u16(a.value);
    else w.u16(a.type & 0x7fff).u16(a.data.length).bytes(a.data);
  }
}

export function emitSaBody(proposals: readonly Proposal[], w: Writer): void {
  proposals.forEach((p, i) => {
    w.u8(i === proposals.length - 1 ? LAST : MORE_PROPOSALS).u8(p.reserved ?? 0).u16(proposalLength(p));
    w.u8(p.number).u8(p.protocolId).u8(p.spi.length).u8(p.transforms.length);
    w.bytes(p.spi);
    p.transforms.forEach((t, j) => emitTransform(t, j === p.transforms.length - 1, w));
  });
}

// ---------------------------------------------------------------------------
// Building and reading proposals

/** The Key Length attribute of a transform (RFC 7296 section 3.3.5), in bits. */
export function keyLength(t: Transform): number | undefined {
  for (const a of t.attributes) if (a.type === TransformAttr.KEY_LENGTH && isTv(a)) return a.value;
  return undefined;
}

export function transform(type: number, id: number, keyBits?: number): Transform {
  return { type, id, attributes: keyBits === undefined ? [] : [{ type: TransformAttr.KEY_LENGTH, value: keyBits }] };
}

export interface ProposalChoice {
  readonly encr: number;
  /** Key length in bits, for ciphers with a variable key (AES: 128, 192, 256). */
  readonly keyLength?: number;
  /** IKE only. */
  readonly prf?: number;
  /** Omitted for AEAD ciphers (RFC 7296 section 3.3.3). */
  readonly integ?: number;
  readonly dh?: number;
  /** ESP/AH only: 0 = no extended sequence numbers. */
  readonly esn?: number;
}

/** An IKE proposal in the order Cisco IOS sends it: ENCR, PRF, INTEG, DH. */
export function ikeProposal(c: ProposalChoice, number = 1): Proposal {
  const t: Transform[] = [transform(TransformType.ENCR, c.encr, c.keyLength)];
  if (c.prf !== undefined) t.push(transform(TransformType.PRF, c.prf));
  if (c.integ !== undefined) t.push(transform(TransformType.INTEG, c.integ));
  if (c.dh !== undefined) t.push(transform(TransformType.DH, c.dh));
  return { number, protocolId: ProtocolId.IKE, spi: new Uint8Array(0), transforms: t };
}

/** An ESP proposal carrying our inbound SPI (RFC 7296 section 3.3.1: 4 octets for ESP). */
export function espProposal(c: ProposalChoice, spi: number, number = 1): Proposal {
  const t: Transform[] = [transform(TransformType.ENCR, c.encr, c.keyLength)];
  if (c.integ !== undefined) t.push(transform(TransformType.INTEG, c.integ));
  if (c.dh !== undefined) t.push(transform(TransformType.DH, c.dh));
  t.push(transform(TransformType.ESN, c.esn ?? 0));
  const s = Uint8Array.of(spi >>> 24, (spi >>> 16) & 0xff, (spi >>> 8) & 0xff, spi & 0xff);
  return { number, protocolId: ProtocolId.ESP, spi: s, transforms: t };
}

export interface ProposalAlgorithms {
  readonly encr: readonly { readonly id: number; readonly keyLength?: number }[];
  readonly prf: readonly number[];
  readonly integ: readonly number[];
  readonly dh: readonly number[];
  readonly esn: readonly number[];
}

/** The transforms of a proposal grouped by type (each list is the sender's preference order). */
export function proposalAlgorithms(p: Proposal): ProposalAlgorithms {
  const encr: { id: number; keyLength?: number }[] = [];
  const prf: number[] = [];
  const integ: number[] = [];
  const dh: number[] = [];
  const esn: number[] = [];
  for (const t of p.transforms) {
    switch (t.type) {
      case TransformType.ENCR: {
        const k = keyLength(t);
        encr.push(k === undefined ? { id: t.id } : { id: t.id, keyLength: k });
        break;
      }
      case TransformType.PRF: prf.push(t.id); break;
      case TransformType.INTEG: integ.push(t.id); break;
      case TransformType.DH: dh.push(t.id); break;
      case TransformType.ESN: esn.push(t.id); break;
    }
  }
  return { encr, prf, integ, dh, esn };
}

/** One line for logs: "#1 IKE ENCR_AES_CBC-128 PRF_HMAC_SHA1 AUTH_HMAC_SHA1_96 MODP_1024". */
export function describeProposal(p: Proposal): string {
  const parts = p.transforms.map((t) => {
    const k = keyLength(t);
    return transformIdName(t.type, t.id) + (k === undefined ? '' : `-${k}`);
  });
  return `#${p.number} ${protocolIdName(p.protocolId)} ${parts.join(' ')}`;
}
