/**
 * Where the VM's kernel lives: scripts/vm/setup.sh unpacks Debian's distribution kernel
 * (linux-image-amd64's dependency) and busybox-static into the cache folder with `dpkg -x`, and
 * writes the kernel's version to kernel-version. Nothing is installed system-wide, so this machine's
 * /boot and /lib/modules stay as they are.
 */
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VmError } from './modules.js';

export const DEFAULT_CACHE_DIR = '/var/cache/dmvpn-vm';

export interface VmKernel {
  /** The kernel release (uname -r inside the VM), e.g. 6.1.0-56-amd64. */
  readonly version: string;
  /** What QEMU boots: the uncompressed ELF when setup.sh could unpack it (no decompression under TCG), else the bzImage. */
  readonly image: string;
  /** Host path of lib/modules/VERSION; the VM binds it at /lib/modules/VERSION. */
  readonly modulesDir: string;
  /** A statically linked busybox: PID 1 of the initramfs and its modprobe. */
  readonly busybox: string;
  readonly cacheDir: string;
}

export function vmCacheDir(): string {
  return process.env.DMVPN_VM_CACHE || DEFAULT_CACHE_DIR;
}

export function findKernel(cacheDir = vmCacheDir()): VmKernel {
  const hint = `run scripts/vm/setup.sh as root (cache ${cacheDir})`;
  let version: string;
  try {
    version = readFileSync(join(cacheDir, 'kernel-version'), 'utf8').trim();
  } catch {
    throw new VmError('ENOKERNEL', `no VM kernel unpacked: ${hint}`);
  }
  const vmlinuz = join(cacheDir, 'kernel', 'boot', `vmlinuz-${version}`);
  const vmlinux = join(cacheDir, 'kernel', 'boot', `vmlinux-${version}`);
  const modulesDir = join(cacheDir, 'kernel', 'lib', 'modules', version);
  const busybox = join(cacheDir, 'busybox', 'bin', 'busybox');
  for (const p of [vmlinuz, join(modulesDir, 'modules.dep'), busybox]) {
    if (!existsSync(p)) throw new VmError('ENOKERNEL', `${p} is missing: ${hint}`);
  }
  return { version, image: existsSync(vmlinux) ? vmlinux : vmlinuz, modulesDir, busybox, cacheDir };
}

/** Whether the VM can run here: qemu on PATH (checked by the caller) and an unpacked kernel. */
export function kernelReady(cacheDir = vmCacheDir()): boolean {
  try {
    const k = findKernel(cacheDir);
    accessSync(k.image, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}
