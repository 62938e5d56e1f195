#!/usr/bin/env node
// The DMVPN daemon. The TypeScript sources compile to dist/; run `npm run setup` first.
import { existsSync } from 'node:fs';
const entry = new URL('../dist/daemon/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('dmvpnd: not built yet; run `npm run setup` in the project folder (npm ci, tsc, native addon)');
  process.exit(2);
}
const { main } = await import(entry.href);
const code = await main(process.argv.slice(2));
if (typeof code === 'number') process.exitCode = code;
