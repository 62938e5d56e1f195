/**
 * Wireshark with ESP decryption for the native ESP tests: the esp_sa table
 * (UAT) rows for our SAs, and tshark's JSON over a capture.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '../../../protocols/wire/index.js';
import type { EspSa } from '../../../platform/native/index.js';
import type { TsharkLayers } from '../../wireshark/support.js';

/**
 * tshark -V -T json over `pcap` with ESP decryption on and `uat` as the esp_sa
 * table. UDP checksums are left unchecked (tshark's default): a capture inside
 * a namespace sees locally sent packets before checksum offload fills them in.
 */
export function tsharkEsp(pcap: Uint8Array, uat: readonly string[]): TsharkLayers[] {
  const dir = mkdtempSync(join(tmpdir(), 'esp-tshark-'));
  try {
    const file = join(dir, 'esp.pcap');
    writeFileSync(file, pcap);
    const r = spawnSync('tshark', [
      '-r', file, '-V', '-T', 'json', '--no-duplicate-keys',
      '-o', 'esp.enable_encryption_decode:TRUE', '-o', 'esp.enable_authentication_check:TRUE',
      ...uat.flatMap((u) => ['-o', `uat:esp_sa:${u}`]),
    ], { encoding: 'utf8', timeout: 30_000, maxBuffer: 64 * 1024 * 1024 });
    assert.equal(r.status, 0, `tshark failed: ${r.stderr}`);
    return (JSON.parse(r.stdout) as { _source: { layers: TsharkLayers } }[]).map((d) => d._source.layers);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Wireshark's esp_sa names (packet-ipsec.c) for our algorithms. */
export const WIRESHARK_INTEG: Readonly<Record<string, string>> = {
  'hmac-sha1-96': 'HMAC-SHA-1-96 [RFC2404]',
  'hmac-sha256-128': 'HMAC-SHA-256-128 [RFC4868]',
  'hmac-sha384-192': 'HMAC-SHA-384-192 [RFC4868]',
  'hmac-sha512-256': 'HMAC-SHA-512-256 [RFC4868]',
};

/** One esp_sa UAT row for an AES-CBC SA from src to dst. */
export function uatRow(src: string, dst: string, sa: Pick<EspSa, 'spi' | 'key' | 'integrity' | 'authKey'>): string {
  return `"IPv4","${src}","${dst}","0x${sa.spi.toString(16).padStart(8, '0')}","AES-CBC [RFC3602]","0x${toHex(sa.key)}",` +
    `"${WIRESHARK_INTEG[sa.integrity ?? '']}","0x${toHex(sa.authKey ?? new Uint8Array(0))}"`;
}
