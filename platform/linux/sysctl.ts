/** Kernel settings the daemon needs (ip_forward, per-tunnel send_redirects), written under /proc/sys. */
import { writeFileSync } from 'node:fs';

export interface SysctlLog {
  warn(fields: Record<string, unknown>, msg: string): void;
}

/** Write one setting; a failure (read-only /proc in a container) is logged, not fatal. Returns success. */
export function writeSysctl(path: string, value: string, log: SysctlLog): boolean {
  try {
    writeFileSync(`/proc/sys/${path}`, value);
    return true;
  } catch (e) {
    log.warn({ sysctl: path, err: (e as Error).message }, `could not set ${path.replace(/\//g, '.')}=${value}`);
    return false;
  }
}
