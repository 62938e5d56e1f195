/**
 * A minimal IKEv2 endpoint around IkeManager on real UDP sockets (ports 500
 * and 4500 of one address), for the strongSwan interop test. It plays the
 * daemon: feeds datagrams and the clock in, sends what the engine returns, and
 * prints every action as a JSON line on stdout. With `--exit-on child` it
 * exits 0 once an IKE SA and a child SA are up, 1 on ike-down or timeout; with
 * `--exit-on never` it runs until `--timeout` ms and exits 0.
 *
 *   node udp-peer.js --local A --peer B --psk K [--initiate] [--timeout ms] [--exit-on child|never] [--proposal gcm]
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { IkeManager } from '../../../protocols/ikev2/manager.js';
import { ikeConfig, DEFAULT_IKE_PROPOSAL } from '../../../protocols/ikev2/policy.js';
import { EncrId, PrfId, DhGroup } from '../../../protocols/ikev2/constants.js';
import type { IkeAction } from '../../../protocols/ikev2/engine-types.js';

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  if (fallback === undefined) throw new Error(`--${name} is required`);
  return fallback;
}

const local = arg('local');
const peer = arg('peer');
const psk = arg('psk');
const initiate = process.argv.includes('--initiate');
const timeout = Number(arg('timeout', '20000'));
const exitOn = arg('exit-on', 'child');
const gcm = arg('proposal', 'default') === 'gcm';

const cfg = ikeConfig({
  localAddress: local,
  keyring: [{ address: peer, prefixLength: 32, psk }],
  proposals: gcm ? [{ encr: [{ id: EncrId.ENCR_AES_GCM_16, keyLength: 256 }], integ: [], prf: [PrfId.PRF_HMAC_SHA2_256], dh: [DhGroup.CURVE25519] }] : [DEFAULT_IKE_PROPOSAL],
  dpd: { interval: 5, retry: 2 },
});
const mgr = new IkeManager(cfg, (n) => new Uint8Array(randomBytes(n)), Date.now());
const sockets = new Map<number, Socket>();
let ikeUp = false;
let childUp = false;
let finished = false;
let timer: NodeJS.Timeout | undefined;

function finish(code: number): void {
  if (finished) return;
  finished = true;
  if (timer) clearTimeout(timer);
  for (const s of sockets.values()) s.close();
  process.stdout.write(`${JSON.stringify({ kind: 'exit', code })}\n`, () => process.exit(code));
}

function print(a: IkeAction): void {
  const plain = JSON.stringify(a, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString(16).padStart(16, '0') : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v));
  process.stdout.write(`${plain}\n`);
}

function run(actions: IkeAction[]): void {
  for (const a of actions) {
    if (a.kind === 'send') {
      sockets.get(a.from.port)?.send(a.bytes, a.to.port, a.to.address);
      print({ ...a, bytes: new Uint8Array(0) });
      continue;
    }
    print(a);
    if (a.kind === 'ike-up') ikeUp = true;
    if (a.kind === 'child-up') childUp = true;
    if (a.kind === 'ike-down' && exitOn === 'child') finish(1);
  }
  if (ikeUp && childUp && exitOn === 'child') finish(0);
  arm();
}

function arm(): void {
  if (timer) clearTimeout(timer);
  const d = mgr.nextDeadline();
  if (d !== undefined) timer = setTimeout(() => run(mgr.tick(Date.now())), Math.max(0, d - Date.now()));
}

let bound = 0;
for (const port of [500, 4500]) {
  const s = createSocket('udp4');
  s.on('message', (msg, rinfo) => run(mgr.receive({ address: rinfo.address, port: rinfo.port }, new Uint8Array(msg), Date.now(), port)));
  s.bind(port, local, () => {
    if (++bound === 2 && initiate) run(mgr.connect(peer, Date.now()));
  });
  sockets.set(port, s);
}
setTimeout(() => finish(exitOn === 'never' ? 0 : 1), timeout).unref();
