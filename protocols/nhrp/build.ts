/**
 * Builders for the packets the protocol engine sends, shaped like what Cisco IOS
 * sends (the golden captures are the reference: test/protocols/nhrp/build.test.ts
 * rebuilds them byte for byte):
 * - hop count 255, ar$afn/ar$pro.type from the address lengths, no subaddress;
 * - requests carry Responder Address, Forward and Reverse Transit NHS record
 *   (all compulsory and empty), then Authentication (compulsory) when a password
 *   is set, then Cisco's NAT Address (not compulsory) when NAT capable, then End
 *   (compulsory);
 * - replies copy the request's mandatory part and extensions and fill in the
 *   Responder Address (RFC 2332 section 5.3.1).
 * Every builder leaves the checksum undefined so emit computes it.
 */
import { WireError } from '../wire/index.js';
import {
  NhrpAfn, NhrpProtocolType, NhrpPacketType, NhrpExtensionType, NhrpTrafficCode, NHRP_VERSION,
  ResolutionFlag, RegistrationFlag, PurgeFlag, CiscoCieMtu, CISCO_DEFAULT_HOLDING_TIME, CISCO_HOP_COUNT,
} from './constants.js';
import { type NhrpAddress, type NhrpCie, makeCie, nhrpAddressLength } from './cie.js';
import {
  type NhrpExtension, endExtension, cieExtension, cleartextAuthExtension, setExtension, extensionCies,
} from './extensions.js';
import type { NhrpPacket, NhrpMandatory, NhrpAddressing } from './wire.js';

/** What every request builder needs to know about the sender. */
export interface NhrpSender {
  /** Our NBMA address (tunnel source). */
  readonly srcNbma: NhrpAddress;
  /** Our protocol (tunnel) address. */
  readonly srcProto: NhrpAddress;
  /** Cleartext password ("ip nhrp authentication"), at most 8 bytes. */
  readonly password?: string | Uint8Array;
  /** Set Cisco's NAT flag and add the NAT Address extension (default true, as IOS 15 does). */
  readonly natCapable?: boolean;
  readonly hopCount?: number;
  /** Override ar$afn / ar$pro.type (default: from the address lengths). */
  readonly afn?: number;
  readonly protocolType?: number;
}

function header(s: NhrpSender, type: number, body: NhrpPacket['body'], extensions: readonly NhrpExtension[] | undefined): NhrpPacket {
  return {
    afn: s.afn ?? (nhrpAddressLength(s.srcNbma) === 16 ? NhrpAfn.IPV6 : NhrpAfn.IPV4),
    protocolType: s.protocolType ?? (nhrpAddressLength(s.srcProto) === 16 ? NhrpProtocolType.IPV6 : NhrpProtocolType.IPV4),
    protocolSnap: new Uint8Array(5),
    hopCount: s.hopCount ?? CISCO_HOP_COUNT,
    version: NHRP_VERSION,
    type,
    body,
    extensions,
  };
}

function addressing(s: NhrpSender, dstProto: NhrpAddress): NhrpAddressing {
  return { srcNbmaType: 0, srcNbmaSubaddressType: 0, srcNbma: s.srcNbma, srcNbmaSubaddress: '', srcProto: s.srcProto, dstProto };
}

/** The extension list of a request, in the order IOS sends it. */
export function requestExtensions(
  s: NhrpSender,
  opts: { responder?: boolean; nat?: readonly NhrpCie[] } = {},
): NhrpExtension[] {
  const out: NhrpExtension[] = [];
  if (opts.responder ?? true) out.push(cieExtension(NhrpExtensionType.RESPONDER_ADDRESS));
  out.push(cieExtension(NhrpExtensionType.FORWARD_TRANSIT_NHS));
  out.push(cieExtension(NhrpExtensionType.REVERSE_TRANSIT_NHS));
  if (s.password !== undefined) out.push(cleartextAuthExtension(s.password));
  if (s.natCapable ?? true) out.push(cieExtension(NhrpExtensionType.NAT_ADDRESS, opts.nat ?? [], false));
  out.push(endExtension());
  return out;
}

export interface RegistrationRequestOptions extends NhrpSender {
  readonly requestId: number;
  /** The NHS's protocol address (destination protocol address). */
  readonly nhsProto: NhrpAddress;
  /** The NHS's NBMA address: IOS puts it, with nhsProto, in the NAT Address extension. */
  readonly nhsNbma?: NhrpAddress;
  /** Default 7200 s. */
  readonly holdingTime?: number;
  /** Default 17916; CiscoCieMtu.WITH_KEY (17912) on a keyed tunnel. */
  readonly mtu?: number;
  /** Default 32 (IOS 15); some IOS send 255. */
  readonly prefixLength?: number;
  readonly preference?: number;
  /** Flag U (default true). */
  readonly unique?: boolean;
}

/**
 * Registration Request (RFC 2332 section 5.2.3) as IOS sends it: flags 0x8002,
 * one CIE without addresses (the client is the packet's source), and the NHS in
 * the NAT Address extension with holding time 0 (NHRP_registration.pcap).
 */
export function makeRegistrationRequest(o: RegistrationRequestOptions): NhrpPacket {
  const nat = o.natCapable ?? true;
  const mtu = o.mtu ?? CiscoCieMtu.NO_KEY;
  const prefixLength = o.prefixLength ?? 32;
  const preference = o.preference ?? 0;
  const cie = makeCie({ prefixLength, mtu, holdingTime: o.holdingTime ?? CISCO_DEFAULT_HOLDING_TIME, preference });
  const natCies =
    nat && o.nhsNbma !== undefined
      ? [makeCie({ prefixLength, mtu, holdingTime: 0, preference, clientNbma: o.nhsNbma, clientProto: o.nhsProto })]
      : [];
  const body: NhrpMandatory = {
    kind: 'mandatory',
    flags: ((o.unique ?? true) ? RegistrationFlag.U : 0) | (nat ? RegistrationFlag.NAT : 0),
    requestId: o.requestId,
    ...addressing(o, o.nhsProto),
    cies: [cie],
  };
  return header(o, NhrpPacketType.REGISTRATION_REQUEST, body, requestExtensions(o, { nat: natCies }));
}

export interface ResolutionRequestOptions extends NhrpSender {
  readonly requestId: number;
  /** The protocol address to resolve. */
  readonly target: NhrpAddress;
  /** Default Q|A|S plus NAT when NAT capable (0xc802, nhrp-trace.pcap). */
  readonly flags?: number;
  /** CIE MTU (default 17916) and holding time (default 7200) offered for our own binding. */
  readonly mtu?: number;
  readonly holdingTime?: number;
  /** Default 0: "no equivalence information" (RFC 2332 section 5.2.0.1). */
  readonly prefixLength?: number;
}

/** Resolution Request (RFC 2332 section 5.2.1). */
export function makeResolutionRequest(o: ResolutionRequestOptions): NhrpPacket {
  const nat = o.natCapable ?? true;
  const flags = o.flags ?? (ResolutionFlag.Q | ResolutionFlag.A | ResolutionFlag.S | (nat ? ResolutionFlag.NAT : 0));
  const cie = makeCie({ prefixLength: o.prefixLength ?? 0, mtu: o.mtu ?? CiscoCieMtu.NO_KEY, holdingTime: o.holdingTime ?? CISCO_DEFAULT_HOLDING_TIME });
  const body: NhrpMandatory = { kind: 'mandatory', flags, requestId: o.requestId, ...addressing(o, o.target), cies: [cie] };
  return header(o, NhrpPacketType.RESOLUTION_REQUEST, body, requestExtensions(o));
}

export interface PurgeRequestOptions extends NhrpSender {
  readonly requestId: number;
  /** Where the purge goes (the station holding the cached binding). */
  readonly dstProto: NhrpAddress;
  /** The bindings to purge (RFC 2332 section 5.2.5: client protocol address and prefix). */
  readonly cies: readonly NhrpCie[];
  /** Flag N: no reply wanted. */
  readonly noReply?: boolean;
}

/**
 * Purge Request (RFC 2332 section 5.2.5). No capture of an IOS purge exists in
 * the vectors; it follows the extension layout of the captured requests.
 */
export function makePurgeRequest(o: PurgeRequestOptions): NhrpPacket {
  const flags = (o.noReply ? PurgeFlag.N : 0) | ((o.natCapable ?? true) ? PurgeFlag.NAT : 0);
  const body: NhrpMandatory = { kind: 'mandatory', flags, requestId: o.requestId, ...addressing(o, o.dstProto), cies: o.cies };
  return header(o, NhrpPacketType.PURGE_REQUEST, body, requestExtensions(o));
}

function requestBody(request: NhrpPacket, what: string): NhrpMandatory {
  if (request.body.kind !== 'mandatory') throw new WireError('nhrp', `${what}: the request has no request/reply mandatory part`, 20);
  return request.body;
}

/** A reply's extensions: the request's, with the Responder Address filled (RFC 2332 section 5.3.1). */
function replyExtensions(request: NhrpPacket, responder: NhrpCie | undefined): readonly NhrpExtension[] | undefined {
  if (responder === undefined) return request.extensions;
  return setExtension(request.extensions ?? [endExtension()], cieExtension(NhrpExtensionType.RESPONDER_ADDRESS, [responder]));
}

function reply(request: NhrpPacket, type: number, body: NhrpMandatory, responder: NhrpCie | undefined, hopCount?: number): NhrpPacket {
  // RFC 2332 section 5.1: a responder sets ar$hopcnt as if it sent a request of its own.
  return {
    afn: request.afn,
    protocolType: request.protocolType,
    protocolSnap: request.protocolSnap,
    hopCount: hopCount ?? CISCO_HOP_COUNT,
    version: request.version,
    type,
    body,
    extensions: replyExtensions(request, responder),
  };
}

export interface RegistrationReplyOptions {
  /** Our CIE for the Responder Address extension (the NHS's NBMA and protocol address). */
  readonly responder: NhrpCie;
  /** CIE code for every CIE (default success); a NAK also zeroes the holding time (RFC 2332 section 5.2.0.1). */
  readonly code?: number;
  readonly hopCount?: number;
  /**
   * The NHS's own protocol address, for the Destination Protocol Address (default: the request's).
   * A client that does not know its NHS's address registers to its own (RFC 2332 section 5.2.3;
   * `ip nhrp nhs dynamic` on FRR and IOS) and learns the NHS's from this field of the reply.
   */
  readonly nhsProto?: string;
}

/** Registration Reply (RFC 2332 section 5.2.4): the request's mandatory part with the CIE codes set. */
export function makeRegistrationReply(request: NhrpPacket, o: RegistrationReplyOptions): NhrpPacket {
  const b = requestBody(request, 'registration reply');
  const code = o.code ?? 0;
  const cies = b.cies.map((c) => (code === 0 ? { ...c, code } : { ...c, code, holdingTime: 0 }));
  return reply(request, NhrpPacketType.REGISTRATION_REPLY, { ...b, dstProto: o.nhsProto ?? b.dstProto, cies }, o.responder, o.hopCount);
}

export interface ResolutionReplyOptions {
  /** The answer: the binding(s) found, or one NAK CIE. */
  readonly cies: readonly NhrpCie[];
  readonly responder: NhrpCie;
  /** Default: the request's flags plus A, D and U (0xf802 for a 0xc802 request, nhrp-trace.pcap). */
  readonly flags?: number;
  readonly hopCount?: number;
}

/** Resolution Reply (RFC 2332 section 5.2.2). */
export function makeResolutionReply(request: NhrpPacket, o: ResolutionReplyOptions): NhrpPacket {
  const b = requestBody(request, 'resolution reply');
  const flags = o.flags ?? (b.flags | ResolutionFlag.A | ResolutionFlag.D | ResolutionFlag.U);
  return reply(request, NhrpPacketType.RESOLUTION_REPLY, { ...b, flags, cies: o.cies }, o.responder, o.hopCount);
}

/** Purge Reply (RFC 2332 section 5.2.6): the request's mandatory part, sent back. */
export function makePurgeReply(request: NhrpPacket, o: { responder?: NhrpCie; hopCount?: number } = {}): NhrpPacket {
  const b = requestBody(request, 'purge reply');
  return reply(request, NhrpPacketType.PURGE_REPLY, b, o.responder, o.hopCount);
}

/**
 * The packet an NHS forwards: hop count one less, its own CIE appended to the
 * Forward Transit NHS record of a request or the Reverse Transit NHS record of a
 * reply (RFC 2332 sections 5.3.2 and 5.3.3; nhrp-trace.pcap frames 2 and 3).
 * The caller checks the hop count first: at 0 it answers Hop Count Exceeded.
 */
export function forwardedByNhs(p: NhrpPacket, transit: NhrpCie): NhrpPacket {
  if (p.hopCount === 0) throw new WireError('nhrp', 'hop count exceeded: cannot forward', 8);
  const isReply =
    p.type === NhrpPacketType.RESOLUTION_REPLY || p.type === NhrpPacketType.REGISTRATION_REPLY || p.type === NhrpPacketType.PURGE_REPLY;
  const type = isReply ? NhrpExtensionType.REVERSE_TRANSIT_NHS : NhrpExtensionType.FORWARD_TRANSIT_NHS;
  const records = extensionCies(p.extensions, type) ?? [];
  const extensions = setExtension(p.extensions ?? [endExtension()], cieExtension(type, [...records, transit]));
  const { checksum: _stale, ...rest } = p;
  return { ...rest, hopCount: p.hopCount - 1, extensions };
}

export interface ErrorIndicationOptions extends NhrpSender {
  readonly errorCode: number;
  /** Offset in the packet in error, from its fixed header. */
  readonly errorOffset: number;
  /** The sender of the packet in error (the indication goes back to it). */
  readonly dstProto: NhrpAddress;
  /** The NHRP packet in error, as received. */
  readonly erroredPacket: Uint8Array;
  /** Extensions to add (Wireshark notes RFC 2332 section 5.2.7 expects none): default none. */
  readonly extensions?: readonly NhrpExtension[];
}

/** Error Indication (RFC 2332 section 5.2.7). */
export function makeErrorIndication(o: ErrorIndicationOptions): NhrpPacket {
  return header(
    o,
    NhrpPacketType.ERROR_INDICATION,
    { kind: 'error', unused: 0, errorCode: o.errorCode, errorOffset: o.errorOffset, ...addressing(o, o.dstProto), erroredPacket: o.erroredPacket },
    o.extensions,
  );
}

/**
 * The part of the data packet a Traffic Indication quotes, as IOS quotes it: the IP
 * header and the first 8 bytes after it, like an ICMP error (RFC 792). In
 * nhrp-trace.pcap frame 1, a 100-byte ICMP echo is quoted in 28 bytes (extension
 * offset 68); that frame is IOS's, not OpenNHRP's (OpenNHRP quotes the whole packet
 * with hop count 0 or 1 and at most a Forward Transit record, where the frame has hop
 * count 255, both transit records, authentication and Cisco's NAT Address extension).
 * A receiver only needs the addresses; Wireshark, which hands everything after the
 * mandatory part to the quoted packet's dissector, reads the extensions as the rest of
 * the packet (for a TCP segment or an ICMP error it then reports errors on IOS's own
 * indications as on ours).
 */
export function trafficIndicationQuote(packet: Uint8Array): Uint8Array {
  const ihl = Math.max(20, (packet[0] & 0x0f) * 4);
  return packet.slice(0, Math.min(packet.length, ihl + 8));
}

export interface TrafficIndicationOptions extends NhrpSender {
  /** The station told to find a better path (the source of the trigger packet in nhrp-trace.pcap). */
  readonly dstProto: NhrpAddress;
  /** The start of the data packet that triggered the redirect: see trafficIndicationQuote. */
  readonly trigger: Uint8Array;
  readonly trafficCode?: number;
}

/**
 * Traffic Indication (Cisco "NHRP redirect", draft-detienne-dmvpn-01 Figure 4),
 * with the extensions of nhrp-trace.pcap frame 1: transit records, authentication,
 * empty NAT Address, End; no Responder Address.
 */
export function makeTrafficIndication(o: TrafficIndicationOptions): NhrpPacket {
  return header(
    o,
    NhrpPacketType.TRAFFIC_INDICATION,
    {
      kind: 'traffic', unused: 0, trafficCode: o.trafficCode ?? NhrpTrafficCode.REDIRECT, unused2: 0,
      ...addressing(o, o.dstProto), trigger: o.trigger,
    },
    requestExtensions(o, { responder: false }),
  );
}
