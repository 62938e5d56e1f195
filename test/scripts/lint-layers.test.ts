import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { checkProtocolSource, lintProject } from '../../scripts/lint-layers.js';
import { projectRoot } from '../support/vectors.js';

test('lint: flags I/O modules, platform imports and clock reads in protocols/', () => {
  const file = join(projectRoot, 'protocols', 'nhrp', 'x.ts');
  const src = [
    "import { readFileSync } from 'node:fs';",
    "import * as net from 'net';",
    "import { x } from '../../platform/linux/rtnetlink.js';",
    "import { y } from '../../platform/native/index.js';",
    "import { createHash } from 'node:crypto';",
    "import { Reader } from '../wire/index.js';",
    'const t = Date.now();',
    'setTimeout(() => 0, 1);',
    'const d = new Date();',
    'const e = new Date(0);',
  ].join('\n');
  const f = checkProtocolSource(file, src, projectRoot);
  assert.deepEqual(f.map((x) => x.line), [1, 2, 3, 4, 7, 8, 9]);
  assert.match(f[0].message, /node:fs/);
  assert.match(f[2].message, /platform\/linux/);
});

test('lint: the project itself is clean', () => {
  assert.deepEqual(lintProject(projectRoot), []);
});
