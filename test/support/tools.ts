/**
 * External tools that some tests need (tshark, ip, FRR ...). Outside CI a
 * missing tool skips the test with a message; in CI (CI=true) it is a failure,
 * because .ci/run installs every one of them.
 */
import { spawnSync } from 'node:child_process';

export function haveTool(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** node:test options: run when present, skip with a reason when absent outside CI, fail in CI. */
export function needsTool(...cmds: string[]): { skip?: string } {
  const missing = cmds.filter((c) => !haveTool(c));
  if (missing.length === 0) return {};
  if (process.env.CI === 'true') {
    throw new Error(`required tool(s) missing in CI: ${missing.join(', ')} (.ci/run must install them)`);
  }
  return { skip: `needs ${missing.join(', ')} (not installed)` };
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}
