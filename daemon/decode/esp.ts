/**
 * ESP (RFC 4303: only the SPI and sequence number are clear without the SA's
 * keys) and the three things UDP 4500 carries (RFC 3948): a NAT-keepalive, an
 * IKE message behind the non-ESP marker, or ESP.
 */
import { Reader } from '../../protocols/wire/index.js';
import { parseEsp } from '../../protocols/esp/wire.js';
import { classifyUdpEncap, NON_ESP_MARKER_LENGTH } from '../../protocols/esp/udpencap.js';
import { field, group, hex32 } from './tree.js';
import type { Dissection, Next } from './model.js';

export function espLayer(bytes: Uint8Array, d: Dissection, overUdp = false): void {
  const p = parseEsp(new Reader(bytes, 'esp'));
  d.layers.push(
    group('esp', `Encapsulating Security Payload, SPI: ${hex32(p.spi)}`, [
      field('spi', 'SPI', p.spi, `${hex32(p.spi)} (${p.spi})`),
      field('sequence', 'Sequence number', p.seq),
      field('encryptedLength', 'Encrypted data', p.payload.length, `${p.payload.length} bytes (IV, ciphertext, ICV; needs the SA's keys)`),
    ]),
  );
  d.dmvpnProtocol('ESP', `${overUdp ? 'UDP-encapsulated ' : ''}SPI=${hex32(p.spi)} seq=${p.seq}`);
}

/** RFC 3948 section 2: tell the three apart by the first octets, then hand IKE on. */
export function udpEncapLayer(bytes: Uint8Array, d: Dissection): Next | undefined {
  const kind = classifyUdpEncap(bytes);
  switch (kind) {
    case 'keepalive':
      d.layers.push(group('udpencap', 'UDP Encapsulation of IPsec Packets', [field('kind', 'Kind', 'keepalive', 'NAT-keepalive (0xff)')]));
      d.dmvpnProtocol('NAT-T', 'NAT-keepalive');
      return undefined;
    case 'ike':
      d.layers.push(group('udpencap', 'UDP Encapsulation of IPsec Packets', [field('kind', 'Kind', 'ike', 'non-ESP marker (IKE follows)')]));
      return { to: 'ike', bytes: bytes.subarray(NON_ESP_MARKER_LENGTH) };
    case 'esp':
      d.layers.push(group('udpencap', 'UDP Encapsulation of IPsec Packets', [field('kind', 'Kind', 'esp', 'ESP')]));
      espLayer(bytes, d, true);
      return undefined;
  }
}
