/**
 * Kernel module dependency resolution over a modules tree (lib/modules/VERSION), the way
 * `modprobe --show-depends` does it, without needing kmod on this machine: modules.dep gives each
 * module's direct dependencies, modules.builtin the ones compiled into the kernel.
 * The load order is a depth-first post-order, so every module comes after all it depends on
 * (modules.dep lists a module's dependencies, but busybox's depmod does not order them).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export class VmError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'VmError';
  }
}

/** One loadable module: its path relative to the modules tree and its direct dependencies (names). */
export interface ModuleEntry {
  readonly name: string;
  readonly path: string;
  readonly deps: readonly string[];
}

export interface ModuleIndex {
  readonly modules: ReadonlyMap<string, ModuleEntry>;
  readonly builtin: ReadonlySet<string>;
}

/**
 * The kernel's name for a module file: the basename without .ko (and a compression suffix), with
 * '-' as '_' (the kernel treats the two as the same character in module names).
 */
export function moduleName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

/** Parse modules.dep ("kernel/a/x.ko: kernel/b/y.ko kernel/c/z.ko") and modules.builtin (one path per line). */
export function parseModuleIndex(modulesDep: string, modulesBuiltin = ''): ModuleIndex {
  const modules = new Map<string, ModuleEntry>();
  for (const line of modulesDep.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const path = line.slice(0, colon).trim();
    const deps = line.slice(colon + 1).trim().split(/\s+/).filter((d) => d !== '').map(moduleName);
    const name = moduleName(path);
    modules.set(name, { name, path, deps });
  }
  const builtin = new Set(modulesBuiltin.split('\n').map((l) => l.trim()).filter((l) => l !== '').map(moduleName));
  return { modules, builtin };
}

export function readModuleIndex(modulesDir: string): ModuleIndex {
  let dep: string;
  try {
    dep = readFileSync(join(modulesDir, 'modules.dep'), 'utf8');
  } catch {
    throw new VmError('ENOMODULES', `no modules.dep in ${modulesDir} (run scripts/vm/setup.sh)`);
  }
  let builtin = '';
  try {
    builtin = readFileSync(join(modulesDir, 'modules.builtin'), 'utf8');
  } catch {
    // A kernel without built-in modules lists none.
  }
  return parseModuleIndex(dep, builtin);
}

/**
 * The modules to insert, in order, to load `names` and everything they depend on. Built-in modules
 * are satisfied already and left out; an unknown name is an error (a typo must not pass silently).
 */
export function loadOrder(index: ModuleIndex, names: readonly string[]): ModuleEntry[] {
  const out: ModuleEntry[] = [];
  const done = new Set<string>();
  const visiting = new Set<string>();
  const visit = (raw: string, from: string | undefined): void => {
    const name = moduleName(raw);
    if (done.has(name) || index.builtin.has(name)) return;
    const entry = index.modules.get(name);
    if (!entry) {
      throw new VmError('EUNKNOWNMODULE', from === undefined ? `no kernel module named ${raw}` : `module ${from} depends on ${raw}, which is missing`);
    }
    // depmod refuses cycles; a broken index must not recurse forever.
    if (visiting.has(name)) throw new VmError('EMODULECYCLE', `module dependency cycle through ${name}`);
    visiting.add(name);
    for (const d of entry.deps) visit(d, name);
    visiting.delete(name);
    done.add(name);
    out.push(entry);
  };
  for (const n of names) visit(n, undefined);
  return out;
}

const SIG_MARKER = Buffer.from('~Module signature appended~\n', 'ascii');
/** struct module_signature (include/linux/module_signature.h): five u8, three pad bytes, __be32 sig_len. */
const SIG_INFO = 12;

/**
 * A module file without its appended signature. Checking a distribution module's signature
 * (RSA over SHA-512) takes tens of milliseconds per module under TCG, and this kernel, booted
 * without Secure Boot, loads unsigned modules (it only marks itself tainted). The code is the
 * distribution's, byte for byte; a file without a signature comes back as it is.
 */
export function stripModuleSignature(ko: Buffer): Buffer {
  if (ko.length < SIG_MARKER.length + SIG_INFO || !ko.subarray(ko.length - SIG_MARKER.length).equals(SIG_MARKER)) return ko;
  const info = ko.length - SIG_MARKER.length - SIG_INFO;
  const sigLen = ko.readUInt32BE(info + 8);
  if (sigLen > info) return ko;
  return ko.subarray(0, info - sigLen);
}
