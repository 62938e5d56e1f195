/**
 * `tunnel dataplane kernel|userspace`, or the daemon's choice when absent: the
 * kernel where ip_gre can be used (and nft is there for the multicast and
 * Phase 3 taps), otherwise userspace. The reason is logged in one line.
 */
import { existsSync, readdirSync } from 'node:fs';
import { release } from 'node:os';
import { delimiter, join } from 'node:path';
import type { DataplaneKind } from './dataplane.js';

export interface DataplaneChoice {
  readonly kind: DataplaneKind;
  readonly why: string;
}

export interface KernelProbe {
  /** ip_gre is loaded (/sys/module/ip_gre) or loadable (a module file for the running kernel). */
  readonly ipGre: boolean;
  readonly nft: boolean;
}

export function chooseDataplane(configured: 'auto' | DataplaneKind, probe: KernelProbe = probeKernel()): DataplaneChoice {
  if (configured === 'userspace') return { kind: 'userspace', why: 'configured' };
  if (configured === 'kernel') return { kind: 'kernel', why: 'configured' };
  if (!probe.ipGre) return { kind: 'userspace', why: 'the kernel has no ip_gre module' };
  if (!probe.nft) return { kind: 'userspace', why: 'ip_gre is available but nft (nftables), which the kernel dataplane needs for multicast and Phase 3, is not installed' };
  return { kind: 'kernel', why: 'ip_gre is available' };
}

export function probeKernel(): KernelProbe {
  return { ipGre: ipGreAvailable(), nft: onPath('nft') };
}

function ipGreAvailable(): boolean {
  if (existsSync('/sys/module/ip_gre')) return true;
  const dir = join('/lib/modules', release(), 'kernel', 'net', 'ipv4');
  try {
    return readdirSync(dir).some((f) => f.startsWith('ip_gre.ko'));
  } catch {
    return false;
  }
}

function onPath(cmd: string): boolean {
  const dirs = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter).concat(['/usr/sbin', '/sbin']);
  return dirs.some((d) => d && existsSync(join(d, cmd)));
}
