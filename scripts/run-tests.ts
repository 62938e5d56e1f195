/**
 * Run every compiled test file (dist/test/**\/*.test.js) with node:test.
 * Node 20's --test takes no globs, so the files are listed here.
 * Arguments filter by substring: `npm test -- nhrp` runs the files whose path contains "nhrp".
 */
import { readdirSync, statSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';

const distTest = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'test');

function walk(dir: string, acc: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, acc);
    else if (p.endsWith('.test.js')) acc.push(p);
  }
  return acc;
}

const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const files = walk(distTest).filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error(`no test files matched ${filters.join(' ') || '(all)'}`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
