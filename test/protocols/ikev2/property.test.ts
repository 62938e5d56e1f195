import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Reader, toHex } from '../../../protocols/wire/index.js';
import { ikev2Codec, parseIkeMessage, encodeIkeMessage } from '../../../protocols/ikev2/wire.js';
import { roundTrip, throwsOnlyWireError } from '../../support/codec.js';
import { haveVectors } from '../../support/vectors.js';
import { messageArb } from './arbitraries.js';
import { ikeMessages, readIkev2Md } from './captures.js';

/**
 * The codec's contract on any input: it throws nothing but WireError, and
 * whatever it accepts re-encodes to exactly the octets it read (every field
 * is either kept or checked against the structure).
 */
function parseIsCanonical(bytes: Uint8Array): void {
  let parsed: ReturnType<typeof parseIkeMessage> | undefined;
  throwsOnlyWireError(() => { parsed = parseIkeMessage(new Reader(bytes, 'ikev2')); });
  if (parsed) assert.equal(toHex(encodeIkeMessage(parsed)), toHex(bytes));
}

test('ikev2 property: emit then parse is the identity on generated messages (at an offset too)', () => {
  fc.assert(fc.property(messageArb, (m) => { roundTrip(ikev2Codec, m); }), { numRuns: 500 });
});

test('ikev2 property: arbitrary octets throw only WireError, and what parses re-encodes identically', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), parseIsCanonical), { numRuns: 2000 });
});

/** A well-formed header and generic payload headers around random bodies: the body parsers get the octets. */
const randomBodies = fc
  .array(fc.tuple(fc.integer({ min: 33, max: 54 }), fc.uint8Array({ maxLength: 60 }), fc.integer({ min: 0, max: 255 })), { maxLength: 6 })
  .map((ps) => {
    const total = 28 + ps.reduce((n, [, b]) => n + 4 + b.length, 0);
    const out = new Uint8Array(total);
    const dv = new DataView(out.buffer);
    out[16] = ps.length ? ps[0][0] : 0;
    out[17] = 0x20;
    dv.setUint32(24, total);
    let at = 28;
    ps.forEach(([, body, flags], i) => {
      out[at] = i + 1 < ps.length ? ps[i + 1][0] : 0;
      out[at + 1] = flags;
      dv.setUint16(at + 2, 4 + body.length);
      out.set(body, at + 4);
      at += 4 + body.length;
    });
    return out;
  });

test('ikev2 property: random payload bodies inside a well-formed chain', () => {
  let accepted = 0;
  fc.assert(fc.property(randomBodies, (b) => {
    parseIsCanonical(b);
    if (!throwsOnlyWireError(() => parseIkeMessage(new Reader(b, 'ikev2')))) accepted++;
  }), { numRuns: 3000 });
  assert.ok(accepted > 300, `enough random chains parse to exercise re-encoding (${accepted})`);
});

test('ikev2 property: generated messages with octets changed, cut or added', () => {
  const mutated = fc.tuple(messageArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.integer({ min: -8, max: 8 }))
    .map(([m, edits, cut]) => mutate(encodeIkeMessage(m), edits, cut));
  fc.assert(fc.property(mutated, parseIsCanonical), { numRuns: 1000 });
});

function mutate(src: Uint8Array, edits: [number, number][], cut: number): Uint8Array {
  const b = cut >= 0 ? Uint8Array.of(...src, ...new Uint8Array(cut).fill(0x41)) : src.slice(0, Math.max(0, src.length + cut));
  for (const [at, v] of edits) if (b.length > 0) b[at % b.length] = v;
  return b;
}

test('ikev2 property: mutated captured messages throw only WireError', { skip: haveVectors ? undefined : 'needs the shared vectors' }, () => {
  const seeds: Uint8Array[] = [];
  for (const f of ['ikev2four.pcap', 'ikev2pI2.pcap', 'ikev2-id-normal.pcap']) for (const c of ikeMessages(f)) seeds.push(c.message);
  const md = readIkev2Md();
  seeds.push(...md.cisco.values(), md.sectionD);
  const arb = fc.tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.integer({ min: -40, max: 8 }))
    .map(([m, edits, cut]) => mutate(m, edits, cut));
  fc.assert(fc.property(arb, parseIsCanonical), { numRuns: 3000 });
});
