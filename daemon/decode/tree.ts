/**
 * The decoded form of a packet: a tree of named fields, one subtree per
 * protocol layer, rendered two ways from the same nodes:
 * - text, indented like `tshark -V` ("Label: shown value"), for people;
 * - JSON, keyed by each node's `key`, for scripts (every field named).
 * Layer builders (nhrp.ts, eigrp.ts ...) only make nodes; they never format.
 */

export type Scalar = string | number | boolean;

export interface Node {
  /** JSON name (camelCase). */
  readonly key: string;
  /** Text label. */
  readonly label: string;
  /** The value scripts get; numbers stay numbers, bytes are hex, 64-bit values decimal strings. */
  readonly value?: Scalar | readonly Scalar[];
  /** How the text form shows the value (default: the value itself). */
  readonly show?: string;
  readonly children?: readonly Node[];
  /** JSON: children form an array (CIEs, TLVs, payloads) instead of an object. */
  readonly list?: boolean;
  /** Text: one line only (the shown value already says what the children say, e.g. flag names). */
  readonly textLeaf?: boolean;
  /** JSON only: a name or status the text line of a sibling already shows ("Type: 3 (registration request)"). */
  readonly jsonOnly?: boolean;
}

/** A field for scripts only (the text form shows it inside a sibling's line). */
export function jsonField(key: string, value: Scalar | readonly Scalar[]): Node {
  return { key, label: key, value, jsonOnly: true };
}

/** A leaf field. */
export function field(key: string, label: string, value: Scalar | readonly Scalar[], show?: string): Node {
  return show === undefined ? { key, label, value } : { key, label, value, show };
}

/** A subtree; `value`/`show` are optional (a flags word has both a value and named bits). */
export function group(
  key: string,
  label: string,
  children: readonly Node[],
  opts: { value?: Scalar; show?: string; list?: boolean; textLeaf?: boolean } = {},
): Node {
  return { key, label, children, ...opts };
}

/** A list of like items: JSON array of the items, text one subtree each. */
export function list(key: string, label: string, items: readonly Node[]): Node {
  return { key, label, children: items, list: true, show: `${items.length}` };
}

export function hex16(v: number): string {
  return `0x${v.toString(16).padStart(4, '0')}`;
}

export function hex32(v: number): string {
  return `0x${(v >>> 0).toString(16).padStart(8, '0')}`;
}

/** Hex of bytes, whole (the JSON value). */
export function hexBytes(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += b[i].toString(16).padStart(2, '0');
  return s;
}

/** Hex for text output: long blobs (keys, nonces, ciphertext) are cut after 24 bytes. */
export function hexShort(b: Uint8Array, max = 24): string {
  if (b.length === 0) return '(empty)';
  if (b.length <= max) return hexBytes(b);
  return `${hexBytes(b.subarray(0, max))}… (${b.length} bytes)`;
}

/** A bytes field: JSON hex, text shortened. */
export function bytesField(key: string, label: string, b: Uint8Array): Node {
  return field(key, label, hexBytes(b), hexShort(b));
}

/** Checksum status words, as tshark prints them. */
export type ChecksumStatus = 'correct' | 'incorrect' | 'not present' | 'unverified';

/** The checksum value and its verification, as two named fields. */
export function checksumFields(value: number | undefined, status: ChecksumStatus): Node[] {
  const out: Node[] = [];
  if (value !== undefined) out.push(field('checksum', 'Checksum', value, `${hex16(value)} [${status}]`));
  out.push(value === undefined ? field('checksumStatus', 'Checksum', status) : jsonField('checksumStatus', status));
  return out;
}

/** Names of the bits of `flags` that are set, from a name→bit table; unknown bits as hex. */
export function flagNames(flags: number, table: Readonly<Record<string, number>>): string[] {
  const out: string[] = [];
  let rest = flags >>> 0;
  for (const [k, bit] of Object.entries(table)) {
    if ((rest & bit) !== 0) {
      out.push(k);
      rest = (rest & ~bit) >>> 0;
    }
  }
  if (rest !== 0) out.push(`0x${rest.toString(16)}`);
  return out;
}

/** A flags word: value, its bits by name (JSON `names`), shown as "0x8002 (U, NAT)". */
export function flagsNode(key: string, label: string, flags: number, table: Readonly<Record<string, number>>, width = 4): Node {
  const names = flagNames(flags, table);
  const shown = `0x${(flags >>> 0).toString(16).padStart(width, '0')}${names.length ? ` (${names.join(', ')})` : ''}`;
  return group(key, label, [field('names', 'Set', names, names.join(', ') || 'none')], { value: flags >>> 0, show: shown, textLeaf: true });
}

// ---------------------------------------------------------------------------
// Rendering

function scalarText(v: Scalar | readonly Scalar[]): string {
  if (Array.isArray(v)) return v.join(', ');
  return String(v);
}

/** Text lines of a node and its children, indented by two spaces per level. */
export function renderNode(n: Node, depth: number, out: string[]): void {
  const pad = '  '.repeat(depth);
  const shown = n.show ?? (n.value !== undefined ? scalarText(n.value) : undefined);
  // List items and subtrees without a value are headings.
  out.push(shown === undefined || shown === '' ? `${pad}${n.label}` : `${pad}${n.label}: ${shown}`);
  if (n.children && !n.textLeaf) {
    for (const c of n.children) if (!c.jsonOnly) renderNode(c, depth + 1, out);
  }
}

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** JSON form of a node's content (not keyed by its own key). */
export function nodeJson(n: Node): Json {
  if (!n.children) return n.value === undefined ? null : (n.value as Json);
  if (n.list) return n.children.map(nodeJson);
  const obj: { [k: string]: Json } = {};
  if (n.value !== undefined) obj.value = n.value as Json;
  for (const c of n.children) {
    // Builders keep keys unique within a subtree; a repeat (two TLVs of one kind
    // outside a list) gets a numeric suffix rather than overwriting the first.
    let k = c.key;
    for (let i = 2; k in obj; i++) k = `${c.key}${i}`;
    obj[k] = nodeJson(c);
  }
  return obj;
}
