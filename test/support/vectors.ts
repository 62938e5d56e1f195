/**
 * Locate the shared golden vectors: $DMVPN_VECTORS, else ../shared/vectors
 * from the project root. In CI (CI=true) they must exist; elsewhere the golden
 * tests skip with a plain message saying where they looked.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export const vectorsDir = process.env.DMVPN_VECTORS
  ? resolve(process.env.DMVPN_VECTORS)
  : resolve(projectRoot, '..', 'shared', 'vectors');

export const haveVectors = existsSync(join(vectorsDir, 'pcap'));

if (!haveVectors && process.env.CI === 'true') {
  throw new Error(`golden vectors missing at ${vectorsDir} (set DMVPN_VECTORS): required in CI`);
}

/** Options for node:test: skip (with the reason) only when vectors are absent outside CI. */
export const needsVectors = haveVectors
  ? {}
  : { skip: `golden vectors not found at ${vectorsDir} (set DMVPN_VECTORS to their folder)` };

export function vectorPath(...parts: string[]): string {
  return join(vectorsDir, ...parts);
}

export function readVector(...parts: string[]): Uint8Array {
  return new Uint8Array(readFileSync(vectorPath(...parts)));
}
