/**
 * dmvpnctl decode FILE [--json] [--all] [--brief]
 *
 * Prints the DMVPN packets (GRE, NHRP, EIGRP, IKE, ESP) of a pcap or pcapng
 * file: a summary line per packet and its field tree (text), or one JSON object
 * per packet and line (--json). Other packets only with --all, as one line.
 *
 * Exit status: 0 when the file was read (malformed packets are reported on
 * their own line and do not change it: a capture of a hostile network is
 * still a good capture); 2 for bad usage, or a file that is missing,
 * unreadable, not a capture, or cut short (the packets before the cut are
 * printed first); 1 if the decoder itself failed on a packet (a bug).
 */
import { readFileSync } from 'node:fs';
import { readCapture, dissectPacket, textLines, summaryLine, packetJson, type DecodedPacket } from '../decode/index.js';

const USAGE = `usage: dmvpnctl decode FILE [--json] [--all] [--brief]
  FILE      a pcap or pcapng capture (Ethernet, raw IP, Linux cooked, BSD loopback)
  --json    one JSON object per packet, one per line, every field named
  --all     also list packets that carry no DMVPN protocol (one line each)
  --brief   summary lines only, no field tree`;

interface Options {
  readonly file: string;
  readonly json: boolean;
  readonly all: boolean;
  readonly brief: boolean;
}

function parseArgs(args: readonly string[]): Options | 'help' | string {
  let file: string | undefined;
  let json = false;
  let all = false;
  let brief = false;
  for (const a of args) {
    if (a === '--help' || a === '-h') return 'help';
    if (a === '--json') json = true;
    else if (a === '--all') all = true;
    else if (a === '--brief') brief = true;
    else if (a.startsWith('-') && a !== '-') return `unknown option "${a}"`;
    else if (file !== undefined) return `one capture file at a time ("${file}", "${a}")`;
    else file = a;
  }
  if (file === undefined) return 'no capture file given';
  return { file, json, all, brief };
}

/** errno codes to stable words for the one-line error. */
const readErrors: Record<string, [string, string]> = {
  ENOENT: ['not-found', 'no such file'],
  EACCES: ['permission-denied', 'permission denied'],
  EPERM: ['permission-denied', 'permission denied'],
  EISDIR: ['is-a-directory', 'is a directory, not a capture file'],
  ENOTDIR: ['not-found', 'a component of the path is not a directory'],
};

function readError(file: string, e: unknown): string {
  const code = (e as { code?: string }).code ?? '';
  const [word, text] = readErrors[code] ?? ['unreadable', (e as Error).message ?? String(e)];
  return `dmvpnctl decode: ${file}: ${text} (${word})`;
}

/** Buffered stdout: one write per 64 KiB instead of one per line. */
class Out {
  private parts: string[] = [];
  private size = 0;
  line(s: string): void {
    this.parts.push(s, '\n');
    this.size += s.length + 1;
    if (this.size >= 65536) this.flush();
  }
  flush(): void {
    if (this.parts.length === 0) return;
    process.stdout.write(this.parts.join(''));
    this.parts = [];
    this.size = 0;
  }
}

export async function decodeCommand(args: string[]): Promise<number> {
  const opts = parseArgs(args);
  if (opts === 'help') {
    console.log(USAGE);
    return 0;
  }
  if (typeof opts === 'string') {
    console.error(`dmvpnctl decode: ${opts}`);
    console.error(USAGE);
    return 2;
  }
  let buf: Uint8Array;
  try {
    buf = new Uint8Array(readFileSync(opts.file));
  } catch (e) {
    console.error(readError(opts.file, e));
    return 2;
  }
  // `dmvpnctl decode x | head` closes the pipe early: stop quietly.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  const read = readCapture(buf);
  const out = new Out();
  const first = read.packets[0]?.time ?? 0;
  let status = 0;
  for (const frame of read.packets) {
    let p: DecodedPacket;
    try {
      p = dissectPacket(frame, first);
    } catch (e) {
      // A decoder bug must not hide the rest of the capture; say which packet and go on.
      out.line(`${frame.index} internal decoder error: ${(e as Error).message ?? String(e)} (please report this packet)`);
      status = 1;
      continue;
    }
    if (!p.dmvpn && !p.malformed && !opts.all) continue;
    if (opts.json) out.line(JSON.stringify(packetJson(p)));
    else if (opts.brief || (!p.dmvpn && !p.malformed)) out.line(summaryLine(p));
    else for (const l of textLines(p)) out.line(l);
  }
  out.flush();
  if (read.error) {
    const e = read.error;
    const after = e.code === 'truncated' ? ` (${read.packets.length} packets before the cut were decoded)` : '';
    console.error(`dmvpnctl decode: ${opts.file}: ${e.message}${after} (${e.code})`);
    return 2;
  }
  return status;
}
