/**
 * The command line of scripts/vm/run.ts, apart from it so that tests can check it without a boot.
 */
import { resolve } from 'node:path';
import { DEFAULT_MODULES, type VmOptions } from './vm.js';
import { VmError } from './modules.js';

export const USAGE = 'usage: run.js [--timeout S] [--modules a,b|+a,b] [--mem MiB] [--cpus N] [--cwd DIR] [--log FILE] [--verbose] [--timing] -- COMMAND...';

export interface CliOptions {
  readonly vm: Omit<VmOptions, 'signal'>;
  readonly timing: boolean;
}

function positive(flag: string, v: string | undefined): number {
  const n = Number(v);
  if (v === undefined || !Number.isFinite(n) || n <= 0) throw new VmError('EUSAGE', `${flag} needs a positive number\n${USAGE}`);
  return n;
}

export function parseArgs(argv: readonly string[]): CliOptions {
  const dash = argv.indexOf('--');
  const flags = dash < 0 ? argv : argv.slice(0, dash);
  const command = dash < 0 ? [] : argv.slice(dash + 1);
  if (command.length === 0) throw new VmError('EUSAGE', `no command given\n${USAGE}`);
  let timeoutMs: number | undefined;
  let modules: string[] | undefined;
  let memMiB: number | undefined;
  let cpus: number | undefined;
  let cwd: string | undefined;
  let logPath: string | undefined;
  let verbose = false;
  let timing = false;
  for (let i = 0; i < flags.length; i++) {
    const f = flags[i];
    const value = (): string => {
      const v = flags[++i];
      if (v === undefined) throw new VmError('EUSAGE', `${f} needs a value\n${USAGE}`);
      return v;
    };
    switch (f) {
      case '--timeout': timeoutMs = positive(f, value()) * 1000; break;
      case '--mem': memMiB = Math.round(positive(f, value())); break;
      case '--cpus': cpus = Math.round(positive(f, value())); break;
      case '--cwd': cwd = resolve(value()); break;
      case '--log': logPath = resolve(value()); break;
      case '--verbose': verbose = true; break;
      case '--timing': timing = true; break;
      case '--modules': {
        const v = value();
        const list = v.replace(/^\+/, '').split(',').map((s) => s.trim()).filter((s) => s !== '');
        modules = v.startsWith('+') ? [...DEFAULT_MODULES, ...list] : list;
        break;
      }
      default: throw new VmError('EUSAGE', `unknown option ${f}\n${USAGE}`);
    }
  }
  return { vm: { command, timeoutMs, modules, memMiB, cpus, cwd, logPath, verbose }, timing };
}
