/**
 * The "newc" cpio format (magic 070701) that the kernel unpacks as an initramfs
 * (Documentation/driver-api/early-userspace/buffer-format.rst): per entry a 110-byte ASCII header of
 * thirteen 8-digit hex fields, the NUL-terminated name, padding to 4 bytes, the data, padding to 4
 * bytes; the archive ends with an entry named TRAILER!!!. Written here so that building an
 * initramfs needs no cpio tool; uncompressed, because unpacking is faster than inflating under TCG.
 */

export type CpioEntry =
  | { readonly kind: 'dir'; readonly path: string; readonly mode?: number }
  | { readonly kind: 'file'; readonly path: string; readonly data: Uint8Array; readonly mode?: number }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string }
  | { readonly kind: 'chardev'; readonly path: string; readonly major: number; readonly minor: number; readonly mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const HEADER = 110;
const TRAILER = 'TRAILER!!!';

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

function header(ino: number, mode: number, nlink: number, size: number, nameSize: number, rdev: readonly [number, number]): string {
  // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
  const f = [ino, mode, 0, 0, nlink, 0, size, 0, 0, rdev[0], rdev[1], nameSize, 0];
  return '070701' + f.map((v) => v.toString(16).padStart(8, '0')).join('');
}

/** An uncompressed newc archive of `entries` (paths without a leading slash; parents before children). */
export function cpioArchive(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const push = (name: string, mode: number, nlink: number, data: Uint8Array, rdev: readonly [number, number] = [0, 0]): void => {
    const nameBytes = Buffer.from(name + '\0', 'utf8');
    const head = Buffer.from(header(name === TRAILER ? 0 : ino++, mode, nlink, data.length, nameBytes.length, rdev), 'ascii');
    parts.push(head, nameBytes, Buffer.alloc(pad4(HEADER + nameBytes.length)), Buffer.from(data), Buffer.alloc(pad4(data.length)));
  };
  for (const e of entries) {
    const path = e.path.replace(/^\/+/, '');
    if (e.kind === 'dir') push(path, S_IFDIR | (e.mode ?? 0o755), 2, new Uint8Array(0));
    else if (e.kind === 'file') push(path, S_IFREG | (e.mode ?? 0o644), 1, e.data);
    else if (e.kind === 'symlink') push(path, S_IFLNK | 0o777, 1, Buffer.from(e.target, 'utf8'));
    else push(path, S_IFCHR | (e.mode ?? 0o600), 1, new Uint8Array(0), [e.major, e.minor]);
  }
  push(TRAILER, 0, 1, new Uint8Array(0));
  return Buffer.concat(parts);
}

/** Read back a newc archive (for tests and for inspecting a cached initramfs). */
export function parseCpio(buf: Uint8Array): CpioEntry[] {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: CpioEntry[] = [];
  let off = 0;
  for (;;) {
    if (off + HEADER > b.length) throw new Error(`cpio: truncated header at ${off}`);
    const magic = b.toString('ascii', off, off + 6);
    if (magic !== '070701') throw new Error(`cpio: bad magic ${JSON.stringify(magic)} at ${off}`);
    const field = (i: number): number => parseInt(b.toString('ascii', off + 6 + i * 8, off + 14 + i * 8), 16);
    const mode = field(1);
    const size = field(6);
    const nameSize = field(11);
    const rdevMajor = field(9);
    const rdevMinor = field(10);
    const nameStart = off + HEADER;
    const name = b.toString('utf8', nameStart, nameStart + nameSize - 1);
    const dataStart = nameStart + nameSize + pad4(HEADER + nameSize);
    if (dataStart + size > b.length) throw new Error(`cpio: truncated data of ${name}`);
    const data = b.subarray(dataStart, dataStart + size);
    off = dataStart + size + pad4(size);
    if (name === TRAILER) return out;
    const type = mode & 0o170000;
    if (type === S_IFDIR) out.push({ kind: 'dir', path: name, mode: mode & 0o7777 });
    else if (type === S_IFLNK) out.push({ kind: 'symlink', path: name, target: data.toString('utf8') });
    else if (type === S_IFREG) out.push({ kind: 'file', path: name, data: new Uint8Array(data), mode: mode & 0o7777 });
    else if (type === S_IFCHR) out.push({ kind: 'chardev', path: name, major: rdevMajor, minor: rdevMinor, mode: mode & 0o7777 });
    else throw new Error(`cpio: unsupported file type ${type.toString(8)} for ${name}`);
  }
}
