/**
 * Configuration payload body, RFC 7296 section 3.15 (IKEv2's mode-config,
 * which FlexVPN uses to hand out tunnel addresses).
 *
 *   |   CFG Type    |                    RESERVED                   |
 *   ~                   Configuration Attributes                    ~
 *
 *   |R|         Attribute Type      |            Length             |
 *   ~                             Value                             ~
 */
import { Reader, Writer } from '../wire/index.js';

export interface CfgAttribute {
  /** 15-bit attribute type (CfgAttr; Cisco also sends private types in the vendor range). */
  readonly type: number;
  readonly value: Uint8Array;
  /** The R bit (section 3.15.1: MUST be 0, ignored on receipt); omitted when clear. */
  readonly reservedBit?: boolean;
}

export interface CpBody {
  readonly cfgType: number;
  readonly attributes: readonly CfgAttribute[];
  /** The 3 RESERVED octets, omitted when 0. */
  readonly reserved?: number;
}

export function parseCpBody(r: Reader): CpBody {
  const cfgType = r.u8();
  const reserved = r.u24();
  const attributes: CfgAttribute[] = [];
  while (r.remaining > 0) {
    const word = r.u16();
    const len = r.u16();
    const a: CfgAttribute = { type: word & 0x7fff, value: r.bytes(len) };
    attributes.push(word & 0x8000 ? { ...a, reservedBit: true } : a);
  }
  return reserved ? { cfgType, attributes, reserved } : { cfgType, attributes };
}

export function cpBodyLength(b: CpBody): number {
  let n = 4;
  for (const a of b.attributes) n += 4 + a.value.length;
  return n;
}

export function emitCpBody(b: CpBody, w: Writer): void {
  w.u8(b.cfgType).u24(b.reserved ?? 0);
  for (const a of b.attributes) {
    w.u16((a.reservedBit ? 0x8000 : 0) | (a.type & 0x7fff)).u16(a.value.length).bytes(a.value);
  }
}
