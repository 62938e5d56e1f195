/**
 * ESP per core: how many 1400-byte GRE packets one SA seals and opens per
 * second of CPU in the addon (bench.esp: the dataplane's own Sa::seal/Sa::open
 * with its sequence, IV and copies, on this thread), against `openssl speed`
 * on the same machine in the same run (the goal: >= 70 % of
 * `openssl speed -evp aes-256-gcm`). AES-GCM-256, and AES-CBC-128 with
 * HMAC-SHA1-96 (IOS's default transform set), whose baseline is openssl's
 * AES-128-CBC and HMAC(SHA1) figures combined (1 / (1/a + 1/b) packets/s: ESP
 * runs the two one after the other over the same bytes).
 *
 * Both sides are CPU-time rates: openssl speed times its own user CPU (no
 * -elapsed), the addon reports its thread's CPU time. Rounds alternate between
 * the two and medians are compared, as the machine is shared.
 */
import { readFileSync } from 'node:fs';
import { bench, type EspCipher, type EspIntegrity } from '../../platform/native/index.js';
import { fmtNum, median, row } from './env.js';
import { opensslVersion, runOpensslSpeed, type Baseline, type SpeedWhat } from './openssl-speed.js';

export interface EspOptions {
  /** Seconds per measurement (openssl -seconds, and the addon loop). */
  readonly seconds?: number;
  readonly rounds?: number;
  readonly size?: number;
}

export interface EspFigure {
  readonly suite: string;
  readonly op: 'seal' | 'open';
  readonly addonPps: number;
  readonly opensslPps: number;
}

interface Suite {
  readonly name: string;
  readonly cipher: EspCipher;
  readonly integrity?: EspIntegrity;
  /** The openssl speed runs whose per-packet times add up to one ESP packet. */
  readonly baseline: (op: 'seal' | 'open') => readonly SpeedWhat[];
  /** A second baseline shown for comparison (not the issue's). */
  readonly also?: (op: 'seal' | 'open') => SpeedWhat;
}

const SUITES: readonly Suite[] = [
  {
    name: 'AES-GCM-256', cipher: 'aes-gcm-256', baseline: (op) => [{ evp: 'aes-256-gcm', decrypt: op === 'open' }],
    also: (op) => ({ evp: 'aes-256-gcm', decrypt: op === 'open', aead: true }),
  },
  {
    name: 'AES-CBC-128 + HMAC-SHA1-96', cipher: 'aes-cbc-128', integrity: 'hmac-sha1-96',
    baseline: (op) => [{ evp: 'aes-128-cbc', decrypt: op === 'open' }, { hmac: 'sha1' }],
  },
];

interface Round {
  readonly addonPps: number;
  readonly addonWallPps: number;
  readonly opensslPps: number;
  readonly baselines: readonly Baseline[];
  readonly also?: Baseline;
}

/** One ESP packet's worth of the baseline runs: their per-packet times add up. */
function combined(runs: readonly Baseline[]): number {
  return 1 / runs.reduce((s, b) => s + 1 / b.opsPerSecond, 0);
}

function gbit(pps: number, size: number): string {
  return `${fmtNum((pps * size * 8) / 1e9, 2)} Gbit/s`;
}

function kpps(pps: number): string {
  return `${fmtNum(pps / 1000, 0)} kpps`;
}

export async function runEsp(opts: EspOptions = {}): Promise<EspFigure[]> {
  const seconds = opts.seconds ?? 2;
  const rounds = opts.rounds ?? 2;
  const size = opts.size ?? 1400;
  console.log(`\n== ESP seal/open per core: ${size}-byte GRE packets, one SA, the addon vs openssl speed ==`);
  console.log(`openssl CLI: ${opensslVersion()}; the addon: Node's OpenSSL ${process.versions.openssl}`);
  console.log(`CPU: ${cpuModel()}; ${rounds} alternating rounds of ${seconds} s per figure, medians; load average ${loadavg()}`);
  const out: EspFigure[] = [];
  const notes = new Set<string>();
  const commands = new Set<string>();
  for (const s of SUITES) {
    for (const op of ['seal', 'open'] as const) {
      const rs: Round[] = [];
      for (let r = 0; r < rounds; r++) {
        const baselines = s.baseline(op).map((b) => runOpensslSpeed(b, size, seconds));
        const a = bench.esp(s.cipher, s.integrity, op, size, seconds * 1000);
        let also: Baseline | undefined;
        try {
          also = s.also ? runOpensslSpeed(s.also(op), size, seconds) : undefined;
        } catch (e) {
          notes.add(`no -aead figure from this openssl: ${(e as Error).message.split('\n')[0].slice(0, 200)}`);
        }
        rs.push({
          addonPps: a.packets / (a.cpuNs / 1e9), addonWallPps: a.packets / (a.wallNs / 1e9),
          opensslPps: combined(baselines), baselines, ...(also ? { also } : {}),
        });
        for (const b of [...baselines, ...(also ? [also] : [])]) {
          commands.add(b.command);
          if (b.note) notes.add(b.note);
        }
      }
      const ad = median(rs.map((x) => x.addonPps));
      const os = median(rs.map((x) => x.opensslPps));
      const what = `${s.name} ${op}`;
      console.log(`\n${what}`);
      row('addon bench.esp (per CPU second)', kpps(ad), `${gbit(ad, size)}; rounds ${rs.map((x) => kpps(x.addonPps)).join(', ')}; per wall-clock second ${kpps(median(rs.map((x) => x.addonWallPps)))}`);
      const parts = rs[0].baselines.map((b, i) => `${b.figure.algorithm} ${kpps(median(rs.map((x) => x.baselines[i].opsPerSecond)))}`);
      row(`baseline: openssl speed${s.baseline(op).length > 1 ? ' (combined)' : ''}`, kpps(os), `${gbit(os, size)}; ${parts.join(' + ')}`);
      row(`ratio addon / openssl, ${op}`, `${fmtNum((100 * ad) / os)} %`, s.cipher === 'aes-gcm-256' ? 'issue goal: >= 70 %' : '');
      const alsoPps = rs.every((x) => x.also) ? median(rs.map((x) => x.also!.opsPerSecond)) : NaN;
      if (Number.isFinite(alsoPps)) {
        row('openssl speed -aead (nonce, AAD, tag per packet)', kpps(alsoPps), `${gbit(alsoPps, size)}; addon / this: ${fmtNum((100 * ad) / alsoPps)} %`);
      }
      out.push({ suite: s.name, op, addonPps: ad, opensslPps: os });
    }
  }
  console.log('\nnotes:');
  console.log(`  baselines: ${[...commands].join('; ')}`);
  console.log(`  seal = next sequence + IV, copy of the GRE packet into the ESP buffer, Sa::seal (what Dataplane::espSendOne does before sendmsg);`);
  console.log(`  open = a copy of the ESP packet into the receive buffer (the dataplane's recvmmsg does that copy in the kernel), Sa::open with the replay check.`);
  console.log(`  ESP encrypts ${size} bytes + padding + 2-byte trailer and authenticates the 8-byte header too; openssl speed processes exactly ${size} bytes.`);
  console.log('  openssl speed -evp without -aead streams the cipher over one context: no per-packet nonce, AAD or tag (and with -decrypt no tag check);');
  console.log('  the addon does all of these per packet, as -aead does (its AAD is 13 bytes, ESP\'s 8).');
  for (const n of notes) console.log(`  NOTE: ${n}`);
  return out;
}

function cpuModel(): string {
  const m = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
  return m ? m[1] : 'unknown';
}

function loadavg(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}
