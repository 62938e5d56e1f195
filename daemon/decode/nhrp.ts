/**
 * NHRP (RFC 2332 with Cisco's DMVPN additions) as a field tree: the fixed
 * header with its checksum verified, the mandatory part by kind (request/reply,
 * Error Indication, Traffic Indication), every CIE and every extension, with
 * the names the codec's constants give.
 */
import { Reader, WireError } from '../../protocols/wire/index.js';
import { parseIpv4Header } from '../../protocols/ip/ipv4.js';
import {
  parseNhrp, nhrpChecksumValid, nhrpPacketTypeName, cieCodeName, errorCodeName, extensionTypeName, trafficCodeName,
  NhrpPacketType, NhrpAfn, NhrpProtocolType, NhrpAuthType, ResolutionFlag, RegistrationFlag, PurgeFlag,
  type NhrpPacket, type NhrpCie, type NhrpExtension, type NhrpAddressing,
} from '../../protocols/nhrp/index.js';
import { field, jsonField, group, list, hex16, bytesField, checksumFields, flagsNode, hexBytes, type Node } from './tree.js';
import { protoName } from './ip.js';
import type { Dissection } from './model.js';

function nameIn(table: Readonly<Record<string, number>>, v: number): string | undefined {
  for (const [k, x] of Object.entries(table)) if (x === v) return k;
  return undefined;
}

/** "registration reply" -> "Registration Reply" (the Info column's form). */
function title(s: string): string {
  return s.replace(/\b[a-z]/g, (c) => c.toUpperCase());
}

/** The flag table of a request/reply type (RFC 2332 sections 5.2.1-5.2.6). */
function flagTable(type: number): Readonly<Record<string, number>> {
  if (type === NhrpPacketType.RESOLUTION_REQUEST || type === NhrpPacketType.RESOLUTION_REPLY) return ResolutionFlag;
  if (type === NhrpPacketType.REGISTRATION_REQUEST || type === NhrpPacketType.REGISTRATION_REPLY) return RegistrationFlag;
  return PurgeFlag;
}

function addr(key: string, label: string, a: string): Node {
  return field(key, label, a, a === '' ? '(none)' : a);
}

function cieNode(c: NhrpCie, i: number): Node {
  const fields: Node[] = [
    field('code', 'Code', c.code, `${c.code} (${cieCodeName(c.code)})`),
    jsonField('codeName', cieCodeName(c.code)),
    field('prefixLength', 'Prefix length', c.prefixLength),
    field('mtu', 'MTU', c.mtu),
    field('holdingTime', 'Holding time', c.holdingTime, `${c.holdingTime} s`),
    addr('clientNbma', 'Client NBMA address', c.clientNbma),
  ];
  if (c.clientNbmaSubaddress !== '') fields.push(addr('clientNbmaSubaddress', 'Client NBMA subaddress', c.clientNbmaSubaddress));
  fields.push(addr('clientProto', 'Client protocol address', c.clientProto), field('preference', 'Preference', c.preference));
  if (c.unused !== 0) fields.push(field('unused', 'Unused', c.unused, hex16(c.unused)));
  if (c.nbmaType !== 0) fields.push(field('nbmaType', 'Client NBMA type bits', c.nbmaType));
  return group('cie', `Client Information Entry ${i + 1}`, fields);
}

function addressing(a: NhrpAddressing): Node[] {
  const out: Node[] = [addr('srcNbma', 'Source NBMA address', a.srcNbma)];
  if (a.srcNbmaSubaddress !== '') out.push(addr('srcNbmaSubaddress', 'Source NBMA subaddress', a.srcNbmaSubaddress));
  out.push(addr('srcProto', 'Source protocol address', a.srcProto), addr('dstProto', 'Destination protocol address', a.dstProto));
  return out;
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (const c of b) s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  return s;
}

function extensionNode(e: NhrpExtension): Node {
  const name = extensionTypeName(e.type);
  const head: Node[] = [
    field('type', 'Type', e.type, `${e.type} (${name})`),
    jsonField('typeName', name),
    field('compulsory', 'Compulsory', e.compulsory),
  ];
  switch (e.kind) {
    case 'cies':
      head.push(list('cies', 'Client information entries', e.cies.map(cieNode)));
      break;
    case 'auth': {
      const kind = e.authType === NhrpAuthType.CLEARTEXT ? 'cleartext' : `type ${e.authType}`;
      head.push(field('authType', 'Authentication type', e.authType, `${e.authType} (${kind})`));
      // RFC 2332 section 5.3.4 cleartext: the password travels in the clear; showing it is what tcpdump does too.
      if (e.authType === NhrpAuthType.CLEARTEXT) head.push(field('password', 'Password', latin1(e.data), `"${latin1(e.data)}"`));
      else head.push(bytesField('data', 'Authentication data', e.data));
      break;
    }
    case 'vendor':
      head.push(field('vendorId', 'Vendor OUI', e.vendorId, `0x${e.vendorId.toString(16).padStart(6, '0')}`), bytesField('data', 'Data', e.data));
      break;
    case 'raw':
      if (e.value.length > 0) head.push(bytesField('value', 'Value', e.value));
      break;
  }
  return group('extension', `${title(name)}${e.compulsory ? ' (compulsory)' : ''}`, head);
}

/** Summary of the IPv4 packet a Traffic Indication quotes (as much as was sent). */
function triggerSummary(b: Uint8Array): { node: Node; text: string } {
  try {
    const h = parseIpv4Header(new Reader(b, 'ipv4'));
    const text = `${h.src} → ${h.dst} ${protoName(h.protocol)}`;
    return { node: field('trigger', 'Trigger packet', hexBytes(b), `IPv4 ${text} (${b.length} bytes quoted)`), text };
  } catch (e) {
    if (!(e instanceof WireError)) throw e;
    return { node: bytesField('trigger', 'Trigger packet', b), text: '' };
  }
}

function info(p: NhrpPacket): string {
  const t = title(nhrpPacketTypeName(p.type));
  const b = p.body;
  switch (b.kind) {
    case 'mandatory': {
      const isReply = p.type === NhrpPacketType.RESOLUTION_REPLY || p.type === NhrpPacketType.REGISTRATION_REPLY || p.type === NhrpPacketType.PURGE_REPLY;
      if (!isReply) return `${t} id=${b.requestId} ${b.srcProto} → ${b.dstProto} nbma=${b.srcNbma}`;
      const c = b.cies[0];
      const code = c ? cieCodeName(c.code) : 'no CIE';
      const answer = p.type === NhrpPacketType.RESOLUTION_REPLY && c ? ` ${c.clientProto}/${c.prefixLength} at ${c.clientNbma}` : '';
      return `${t} id=${b.requestId} code=${code}${answer}`;
    }
    case 'error':
      return `${t} code=${errorCodeName(b.errorCode)} offset=${b.errorOffset} ${b.srcProto} → ${b.dstProto}`;
    case 'traffic': {
      const trig = triggerSummary(b.trigger).text;
      return `${t} code=${trafficCodeName(b.trafficCode)} ${b.srcProto} → ${b.dstProto}${trig ? ` for ${trig}` : ''}`;
    }
    case 'raw':
      return `version ${p.version} type ${p.type} (mandatory part not decoded)`;
  }
}

/**
 * RFC 2332 section 5.2.7: an Error Indication carries the packet in error. When
 * those bytes parse as NHRP they are shown as a nested packet (as Wireshark
 * does); otherwise, or one level down, as bytes.
 */
function erroredPacketNode(b: Uint8Array, depth: number): Node {
  if (depth === 0 && b.length > 0) {
    try {
      const r = new Reader(b, 'nhrp');
      const p = parseNhrp(r);
      return group('erroredPacket', `Packet in error: ${title(nhrpPacketTypeName(p.type))}`, nhrpTree(b, r, p, depth + 1));
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
    }
  }
  return bytesField('erroredPacket', 'Packet in error', b);
}

/** The fixed header, mandatory part and extensions of a parsed packet (`r` is left after it). */
function nhrpTree(bytes: Uint8Array, r: Reader, p: NhrpPacket, depth: number): Node[] {
  // ar$pktsz at offset 10, ar$chksum at 12, ar$extoff at 14 (RFC 2332 section 5.1).
  const pktsz = (bytes[10] << 8) | bytes[11];
  const extoff = (bytes[14] << 8) | bytes[15];
  const typeName = nhrpPacketTypeName(p.type);
  const afn = nameIn(NhrpAfn, p.afn);
  const pro = nameIn(NhrpProtocolType, p.protocolType);
  const fixed: Node[] = [
    field('afn', 'Address family', p.afn, `${p.afn}${afn ? ` (${afn})` : ''}`),
    field('protocolType', 'Protocol type', p.protocolType, `${hex16(p.protocolType)}${pro ? ` (${pro})` : ''}`),
    bytesField('protocolSnap', 'Protocol SNAP', p.protocolSnap),
    field('hopCount', 'Hop count', p.hopCount),
    field('packetSize', 'Packet size', pktsz),
    ...checksumFields(p.checksum, nhrpChecksumValid(bytes, 0, bytes.length) ? 'correct' : 'incorrect'),
    field('extensionOffset', 'Extension offset', extoff),
    field('version', 'Version', p.version),
    field('type', 'Type', p.type, `${p.type} (${typeName})`),
    jsonField('typeName', typeName),
  ];
  const b = p.body;
  const mand: Node[] = [];
  switch (b.kind) {
    case 'mandatory':
      mand.push(flagsNode('flags', 'Flags', b.flags, flagTable(p.type)), field('requestId', 'Request ID', b.requestId), ...addressing(b));
      mand.push(list('cies', 'Client information entries', b.cies.map(cieNode)));
      break;
    case 'error':
      mand.push(
        field('errorCode', 'Error code', b.errorCode, `${b.errorCode} (${errorCodeName(b.errorCode)})`),
        jsonField('errorCodeName', errorCodeName(b.errorCode)),
        field('errorOffset', 'Error offset', b.errorOffset),
        ...addressing(b),
        erroredPacketNode(b.erroredPacket, depth),
      );
      break;
    case 'traffic':
      mand.push(
        field('trafficCode', 'Traffic code', b.trafficCode, `${b.trafficCode} (${trafficCodeName(b.trafficCode)})`),
        jsonField('trafficCodeName', trafficCodeName(b.trafficCode)),
        ...addressing(b),
        triggerSummary(b.trigger).node,
      );
      break;
    case 'raw':
      mand.push(bytesField('bytes', 'Mandatory part (not decoded)', b.bytes));
      break;
  }
  const children: Node[] = [group('header', 'Fixed header', fixed), group('mandatory', 'Mandatory part', mand)];
  if (p.extensions) children.push(list('extensions', 'Extensions', p.extensions.map(extensionNode)));
  if (r.remaining > 0) children.push(field('trailing', 'Bytes after ar$pktsz', r.remaining));
  return children;
}

export function nhrpLayer(bytes: Uint8Array, d: Dissection): void {
  const r = new Reader(bytes, 'nhrp');
  const p = parseNhrp(r);
  const children = nhrpTree(bytes, r, p, 0);
  d.layers.push(group('nhrp', `Next Hop Resolution Protocol (${title(nhrpPacketTypeName(p.type))})`, children));
  d.dmvpnProtocol('NHRP', info(p));
}
