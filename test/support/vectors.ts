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

/** The reference lab text (shared/seed/basic-dmvpn.md): configuration, show output, traceroute. */
export const seedPath = resolve(vectorsDir, '..', 'seed', 'basic-dmvpn.md');
export const haveSeed = existsSync(seedPath);
export const needsSeed = haveSeed ? {} : { skip: `reference lab not found at ${seedPath}` };

/** The lines of the fenced block that follows the line `marker` (e.g. "iosv-0#show dmvpn"). */
export function seedBlock(marker: string): string[] {
  const lines = readFileSync(seedPath, 'utf8').split('\n');
  const at = lines.findIndex((l) => l.trim() === marker);
  if (at < 0) throw new Error(`"${marker}" not found in ${seedPath}`);
  const out: string[] = [];
  for (let i = at + 1; i < lines.length && !lines[i].startsWith('```') && !/^iosv-\d#/.test(lines[i]); i++) out.push(lines[i]);
  return out;
}
