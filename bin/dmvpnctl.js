#!/usr/bin/env node
// Operator's tool. The TypeScript sources compile to dist/; run `npm run setup` first.
import { existsSync } from 'node:fs';
const entry = new URL('../dist/daemon/ctl/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('dmvpnctl: not built yet; run `npm run setup` in the project folder (npm ci, tsc, native addon)');
  process.exit(2);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
