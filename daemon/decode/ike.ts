/**
 * IKE on UDP 500 and (after the non-ESP marker) 4500. IKEv2 (RFC 7296) is
 * decoded payload by payload with the registry names and the vendor IDs Cisco
 * sends; the encrypted SK/SKF payloads show their clear parts only. IKEv1
 * (ISAKMP, RFC 2408) shares the 28-octet header, so it is recognised and
 * named by its header, not decoded and not counted as malformed.
 */
import { Reader } from '../../protocols/wire/index.js';
import {
  parseIkeMessage, parseIkeHeader, ikeVersion, describeIkeMessage, vendorIdLabel, recognizeVendorId, idText, isTv, keyLength,
  exchangeTypeName, payloadTypeName, protocolIdName, transformTypeName, transformIdName, dhGroupName, idTypeName,
  certEncodingName, authMethodName, notifyTypeName, isErrorNotify, tsTypeName, cfgTypeName, cfgAttrName, isAddressRange,
  payloadType, IkeFlag,
  type Payload, type Proposal, type Transform, type TrafficSelector, type IkeWireHeader,
} from '../../protocols/ikev2/wire.js';
import { field, jsonField, group, list, bytesField, flagsNode, hexBytes, type Node } from './tree.js';
import type { Dissection } from './model.js';

function spiText(v: bigint): string {
  return `0x${v.toString(16).padStart(16, '0')}`;
}

/** The header fields; `flags` is the flags octet as sent (its bits mean different things in IKEv1 and IKEv2). */
function headerFields(h: IkeWireHeader, flags: number, flagTable: Readonly<Record<string, number>>, exchangeName: string): Node[] {
  // Payload type numbers differ between IKEv1 (RFC 2408 section 3.1) and IKEv2; only IKEv2's are named.
  const next = h.majorVersion === 2 ? `${payloadTypeName(h.nextPayload)} (${h.nextPayload})` : `${h.nextPayload}`;
  return [
    field('spiI', 'Initiator SPI', spiText(h.spiI)),
    field('spiR', 'Responder SPI', spiText(h.spiR)),
    field('nextPayload', 'Next payload', h.nextPayload, next),
    field('version', 'Version', `${h.majorVersion}.${h.minorVersion}`),
    field('exchangeType', 'Exchange type', h.exchangeType, `${exchangeName} (${h.exchangeType})`),
    jsonField('exchangeName', exchangeName),
    flagsNode('flags', 'Flags', flags, flagTable, 2),
    field('messageId', 'Message ID', h.messageId),
    field('length', 'Length', h.length),
  ];
}

const Ikev2Flags = { INITIATOR: IkeFlag.INITIATOR, VERSION: IkeFlag.VERSION, RESPONSE: IkeFlag.RESPONSE } as const;

function transformNode(t: Transform): Node {
  const k = keyLength(t);
  const name = transformIdName(t.type, t.id);
  const out: Node[] = [
    field('type', 'Type', t.type, `${transformTypeName(t.type)} (${t.type})`),
    field('id', 'ID', t.id, `${name} (${t.id})`),
    jsonField('name', name),
  ];
  if (k !== undefined) out.push(field('keyLength', 'Key length', k));
  for (const a of t.attributes) {
    if (isTv(a)) {
      if (a.type !== 14) out.push(field(`attr${a.type}`, `Attribute ${a.type}`, a.value));
    } else {
      out.push(bytesField(`attr${a.type}`, `Attribute ${a.type}`, a.data));
    }
  }
  return group('transform', `${transformTypeName(t.type)}: ${name}${k !== undefined ? `-${k}` : ''}`, out, { textLeaf: true });
}

function proposalNode(p: Proposal): Node {
  const fields: Node[] = [field('number', 'Number', p.number), field('protocolId', 'Protocol', p.protocolId, protocolIdName(p.protocolId))];
  if (p.spi.length > 0) fields.push(field('spi', 'SPI', hexBytes(p.spi), `0x${hexBytes(p.spi)}`));
  fields.push(list('transforms', 'Transforms', p.transforms.map(transformNode)));
  return group('proposal', `Proposal ${p.number}: ${protocolIdName(p.protocolId)}`, fields);
}

function selectorNode(ts: TrafficSelector): Node {
  if (isAddressRange(ts)) {
    return group('selector', `${tsTypeName(ts.tsType)} ${ts.startAddress}-${ts.endAddress}`, [
      field('tsType', 'Type', ts.tsType, tsTypeName(ts.tsType)),
      field('ipProtocol', 'IP protocol', ts.ipProtocol),
      field('startPort', 'Start port', ts.startPort),
      field('endPort', 'End port', ts.endPort),
      field('startAddress', 'Start address', ts.startAddress),
      field('endAddress', 'End address', ts.endAddress),
    ]);
  }
  return group('selector', tsTypeName(ts.tsType), [field('tsType', 'Type', ts.tsType, tsTypeName(ts.tsType)), bytesField('data', 'Data', ts.data)]);
}

function payloadFields(p: Payload): Node[] {
  switch (p.kind) {
    case 'SA':
      return [list('proposals', 'Proposals', p.proposals.map(proposalNode))];
    case 'KE':
      return [field('group', 'DH group', p.group, `${dhGroupName(p.group)} (${p.group})`), bytesField('data', 'Key exchange data', p.data)];
    case 'IDi':
    case 'IDr':
      return [field('idType', 'ID type', p.idType, `${idTypeName(p.idType)} (${p.idType})`), field('id', 'Identification', idText(p.idType, p.data))];
    case 'CERT':
    case 'CERTREQ':
      return [field('encoding', 'Encoding', p.encoding, certEncodingName(p.encoding)), bytesField('data', 'Data', p.data)];
    case 'AUTH':
      return [field('method', 'Method', p.method, `${authMethodName(p.method)} (${p.method})`), bytesField('data', 'Authentication data', p.data)];
    case 'Nonce':
      return [bytesField('data', 'Nonce', p.data), field('length', 'Nonce length', p.data.length)];
    case 'N': {
      const name = notifyTypeName(p.notifyType);
      const out: Node[] = [
        field('notifyType', 'Notify type', p.notifyType, `${name} (${p.notifyType})`),
        jsonField('notifyName', name),
        field('error', 'Error', isErrorNotify(p.notifyType)),
        field('protocolId', 'Protocol', p.protocolId, `${protocolIdName(p.protocolId)} (${p.protocolId})`),
      ];
      if (p.spi.length > 0) out.push(bytesField('spi', 'SPI', p.spi));
      if (p.data.length > 0) out.push(bytesField('data', 'Notification data', p.data));
      return out;
    }
    case 'D':
      return [
        field('protocolId', 'Protocol', p.protocolId, protocolIdName(p.protocolId)),
        field('spis', 'SPIs', p.spis.map(hexBytes), p.spis.map(hexBytes).join(', ') || '(the IKE SA)'),
      ];
    case 'V': {
      const known = recognizeVendorId(p.data);
      const out: Node[] = [field('vendor', 'Vendor ID', vendorIdLabel(p.data)), field('known', 'Known', known !== undefined)];
      if (known?.detail) out.push(field('detail', 'Detail', known.detail));
      out.push(bytesField('data', 'Data', p.data));
      return out;
    }
    case 'TSi':
    case 'TSr':
      return [list('selectors', 'Traffic selectors', p.selectors.map(selectorNode))];
    case 'SK':
      return [
        field('firstPayload', 'First inner payload', p.firstPayload, `${payloadTypeName(p.firstPayload)} (${p.firstPayload})`),
        field('encryptedLength', 'Encrypted data', p.body.length, `${p.body.length} bytes (IV, ciphertext, ICV; needs the SA's keys)`),
      ];
    case 'SKF':
      return [
        field('fragmentNumber', 'Fragment number', p.fragmentNumber),
        field('totalFragments', 'Total fragments', p.totalFragments),
        field('firstPayload', 'First inner payload', p.firstPayload, `${payloadTypeName(p.firstPayload)} (${p.firstPayload})`),
        field('encryptedLength', 'Encrypted data', p.body.length, `${p.body.length} bytes`),
      ];
    case 'CP':
      return [
        field('cfgType', 'Configuration type', p.cfgType, cfgTypeName(p.cfgType)),
        list('attributes', 'Attributes', p.attributes.map((a) => group('attribute', cfgAttrName(a.type), [field('type', 'Type', a.type, cfgAttrName(a.type)), bytesField('value', 'Value', a.value)]))),
      ];
    case 'EAP':
      return [bytesField('message', 'EAP message', p.message)];
    case 'unknown':
      return [bytesField('body', 'Body', p.body)];
  }
}

function payloadLabel(p: Payload): string {
  const type = payloadType(p);
  const name = payloadTypeName(type);
  if (p.kind === 'N') return `${name}: ${notifyTypeName(p.notifyType)}`;
  if (p.kind === 'V') return `${name}: ${vendorIdLabel(p.data)}`;
  return name;
}

function payloadNode(p: Payload): Node {
  const type = payloadType(p);
  return group('payload', `Payload: ${payloadLabel(p)}`, [
    field('type', 'Type', type, `${payloadTypeName(type)} (${type})`),
    jsonField('typeName', payloadTypeName(type)),
    field('critical', 'Critical', p.critical ?? false),
    ...payloadFields(p),
  ]);
}

/** IKEv1 exchange types, RFC 2408 section 3.1 and RFC 2409 (Quick Mode, New Group Mode). */
const Ikev1Exchange: Record<number, string> = {
  1: 'Base',
  2: 'Identity Protection (Main Mode)',
  3: 'Authentication Only',
  4: 'Aggressive',
  5: 'Informational',
  32: 'Quick Mode',
  33: 'New Group Mode',
};

/** ISAKMP header flags, RFC 2408 section 3.1. */
const Ikev1Flags = { ENCRYPTION: 0x01, COMMIT: 0x02, AUTHENTICATION_ONLY: 0x04 } as const;

function ikev1Layer(bytes: Uint8Array, d: Dissection): void {
  const h = parseIkeHeader(new Reader(bytes, 'isakmp'));
  const exchange = Ikev1Exchange[h.exchangeType] ?? `exchange ${h.exchangeType}`;
  const fields = headerFields(h, bytes[19], Ikev1Flags, exchange);
  fields.push(field('decoded', 'Payloads', false, 'not decoded (IKEv1; DMVPN here uses IKEv2)'));
  d.layers.push(group('ikev1', `Internet Security Association and Key Management Protocol (IKEv1 ${exchange})`, fields));
  const encrypted = bytes[19] & Ikev1Flags.ENCRYPTION ? ' encrypted' : '';
  d.dmvpnProtocol('IKEv1', `${exchange}${encrypted} (not decoded)`);
}

/** IKE at the start of `bytes` (the UDP payload on 500, after the marker on 4500). */
export function ikeLayer(bytes: Uint8Array, d: Dissection): void {
  if (ikeVersion(bytes)?.major === 1) {
    ikev1Layer(bytes, d);
    return;
  }
  const r = new Reader(bytes, 'ikev2');
  const wire = parseIkeHeader(new Reader(bytes, 'ikev2'));
  const m = parseIkeMessage(r);
  const exchange = exchangeTypeName(m.header.exchangeType);
  const children: Node[] = [...headerFields(wire, bytes[19], Ikev2Flags, exchange), list('payloads', 'Payloads', m.payloads.map(payloadNode))];
  if (m.trailing) children.push(bytesField('trailing', 'Octets after the last payload', m.trailing));
  const dir = m.header.response ? 'response' : 'request';
  d.layers.push(group('ikev2', `Internet Key Exchange Version 2 (${exchange} ${dir})`, children));
  d.dmvpnProtocol('IKEv2', describeIkeMessage(m));
}
