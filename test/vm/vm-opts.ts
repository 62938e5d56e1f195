/**
 * What the VM tests share: the gate (needsVm: the host tools a test needs and the VM kernel of
 * scripts/vm/setup.sh), and one boot of a scenario runner whose JSON report a test asserts on
 * (runVmReports). Outside CI a missing one skips the test and says why; in CI (CI=true) a missing kernel fails it,
 * as a missing tool does in needsTool.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kernelReady } from '../../scripts/vm/kernel.js';
import { needsTool } from '../support/tools.js';

export function needsVm(...tools: string[]): { skip?: string } {
  const found = needsTool('qemu-system-x86_64', ...tools);
  if (found.skip !== undefined) return found;
  if (!kernelReady()) {
    if (process.env.CI === 'true') throw new Error('no VM kernel in CI: .ci/run must run scripts/vm/setup.sh');
    return { skip: 'needs the VM kernel (run scripts/vm/setup.sh as root)' };
  }
  return {};
}

const RUN = fileURLToPath(new URL('../../scripts/vm/run.js', import.meta.url));
const ROOT = resolve(dirname(RUN), '..', '..', '..');

/** What a scenario runner printed as its --json report, or why there is none. */
export interface VmReports<R> {
  readonly reports: R[];
  /** Empty when the report was read. */
  readonly runError: string;
  /** Where the runner's stderr (its transcript) was kept when a scenario failed or no report came; empty otherwise. */
  readonly transcriptPath: string;
}

/**
 * One VM boot running `runner` (a script of scripts/vm printing a JSON array of scenario reports on
 * stdout, its transcript on stderr); the boot's timing goes to stderr. `name` names the kept transcript.
 */
export function runVmReports<R extends { readonly ok: boolean }>(name: string, runner: string, args: readonly string[], timeoutS: number, maxBuffer = 256 << 20): VmReports<R> {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [RUN, '--timing', '--cpus', '2', '--mem', '2048', '--timeout', String(timeoutS), '--', process.execPath, runner, ...args], {
    cwd: ROOT, encoding: 'utf8', timeout: (timeoutS + 60) * 1000, maxBuffer,
  });
  const timing = (r.stderr ?? '').split('\n').find((l) => l.startsWith('vm: kernel '));
  process.stderr.write(`${timing ?? 'vm: no timing line'} (wall ${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
  let reports: R[] = [];
  let runError = '';
  try {
    reports = JSON.parse(r.stdout) as R[];
  } catch {
    runError = `no JSON report (exit ${r.status ?? r.signal}):\n${(r.stderr ?? '').split('\n').slice(-60).join('\n')}`;
  }
  let transcriptPath = '';
  if (runError !== '' || reports.some((x) => !x.ok)) {
    // The whole transcript (both sides' show commands, logs, Wireshark's detail) for whoever debugs it.
    transcriptPath = join(tmpdir(), `${name}-${process.pid}.log`);
    writeFileSync(transcriptPath, r.stderr ?? '');
    process.stderr.write(`the runner's transcript: ${transcriptPath}\n`);
  }
  return { reports, runError, transcriptPath };
}
