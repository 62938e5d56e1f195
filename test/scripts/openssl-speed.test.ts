/**
 * The reader of `openssl speed` output (the ESP benchmark's baseline), on real
 * output of OpenSSL 3.0.19 in both layouts: the table for people (one column
 * with -bytes, six with the default sizes) and the machine-readable -mr form.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nearestFigure, parseOpensslSpeed } from '../../scripts/bench/openssl-speed.js';

const TABLE_ONE_SIZE = `Doing AES-256-GCM for 1s on 1400 size blocks: 905991 AES-256-GCM's in 0.89s
version: 3.0.19
built on: Fri Apr  3 12:29:32 2026 UTC
options: bn(64,64)
compiler: gcc -fPIC -pthread -m64 -Wa,--noexecstack -Wall -O2 -DNDEBUG
CPUINFO: OPENSSL_ia32cap=0xfffa3203078bffff:0x400684219c07ab
The 'numbers' are in 1000s of bytes per second processed.
type           1400 bytes
AES-256-GCM    1425154.38k
`;

const TABLE_DEFAULT_SIZES = `The 'numbers' are in 1000s of bytes per second processed.
type             16 bytes     64 bytes    256 bytes   1024 bytes   8192 bytes  16384 bytes
AES-256-GCM      35019.17k   110979.58k   437075.01k   993876.99k  2092826.62k  2315796.48k
`;

const HMAC_TABLE = `Doing hmac(sha1) for 1s on 1400 size blocks: 846095 hmac(sha1)'s in 1.00s
version: 3.0.19
The 'numbers' are in 1000s of bytes per second processed.
type           1400 bytes
hmac(sha1)     1184533.00k
`;

// stdout then stderr, as the runner joins them: +DT/+R go to stderr.
const MR_ONE_SIZE = `+H:1400
+F:25:AES-256-GCM:1107431956.52
+DT:AES-256-GCM:1:1400
+R:727741:AES-256-GCM:0.920000
`;

const MR_DEFAULT_SIZES = `+H:16:64:256:1024:8192:16384
+F:25:AES-256-GCM:31459337.63:116369454.55:408859151.52:1234701195.88:2511402408.08:2352059733.33
+DT:AES-256-GCM:1:16
+R:1820616:AES-256-GCM:0.960000
+DT:AES-256-GCM:1:64
`;

test('table with -bytes: one figure in bytes per second, and the progress line', () => {
  const r = parseOpensslSpeed(TABLE_ONE_SIZE);
  assert.deepEqual(r.figures, [{ algorithm: 'AES-256-GCM', blockSize: 1400, bytesPerSecond: 1425154380 }]);
  assert.deepEqual(r.runs, [{ count: 905991, seconds: 0.89, blockSize: 1400 }]);
});

test('table with the default sizes: one figure per column; the nearest to 1400 is 1024', () => {
  const r = parseOpensslSpeed(TABLE_DEFAULT_SIZES);
  assert.deepEqual(r.figures.map((f) => f.blockSize), [16, 64, 256, 1024, 8192, 16384]);
  assert.equal(r.figures[3].bytesPerSecond, 993876990);
  assert.ok(r.figures.every((f) => f.algorithm === 'AES-256-GCM'));
  assert.equal(nearestFigure(r.figures, 1400)?.blockSize, 1024);
  assert.equal(nearestFigure(r.figures, 16)?.blockSize, 16);
  assert.equal(nearestFigure([], 1400), undefined);
});

test('an HMAC row: the name with parentheses', () => {
  const r = parseOpensslSpeed(HMAC_TABLE);
  assert.deepEqual(r.figures, [{ algorithm: 'hmac(sha1)', blockSize: 1400, bytesPerSecond: 1184533000 }]);
  assert.equal(r.runs[0].count, 846095);
});

test('-mr with -bytes: +F in bytes per second (no k), +R count and seconds', () => {
  const r = parseOpensslSpeed(MR_ONE_SIZE);
  assert.deepEqual(r.figures, [{ algorithm: 'AES-256-GCM', blockSize: 1400, bytesPerSecond: 1107431956.52 }]);
  assert.deepEqual(r.runs, [{ count: 727741, seconds: 0.92, blockSize: 1400 }]);
});

test('-mr with the default sizes: +H gives the columns of +F', () => {
  const r = parseOpensslSpeed(MR_DEFAULT_SIZES);
  assert.deepEqual(r.figures.map((f) => [f.blockSize, f.bytesPerSecond]), [
    [16, 31459337.63], [64, 116369454.55], [256, 408859151.52], [1024, 1234701195.88], [8192, 2511402408.08], [16384, 2352059733.33],
  ]);
  assert.deepEqual(r.runs, [{ count: 1820616, seconds: 0.96, blockSize: 16 }]);
});

test('both layouts of one measurement agree on the unit', () => {
  // The same algorithm measured twice is within a factor of 2, not 1000 (k vs bytes).
  const a = parseOpensslSpeed(TABLE_ONE_SIZE).figures[0].bytesPerSecond;
  const b = parseOpensslSpeed(MR_ONE_SIZE).figures[0].bytesPerSecond;
  assert.ok(a / b > 0.5 && a / b < 2, `${a} vs ${b}`);
});

test('text without figures gives none', () => {
  assert.deepEqual(parseOpensslSpeed('speed: Unknown option: -bytes\nspeed: Use -help for summary.\n'), { figures: [], runs: [] });
  assert.deepEqual(parseOpensslSpeed('type 16 bytes\nfoo bar\n').figures, []);
});
