/**
 * The daemon side of the control socket. Each line is a request; each answer is
 * one line. Bad requests get a specific error, never a dropped connection
 * without a word, and never a daemon crash.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { mkdirSync, unlinkSync, existsSync, chmodSync } from 'node:fs';
import { dirname } from 'node:path';
import { CommandError, type CommandTable } from './commands.js';
import { MAX_REQUEST_BYTES, type ControlRequest, type ControlResponse } from './protocol.js';
import type { Logger } from '../log.js';

export class ControlServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly table: CommandTable, private readonly log: Logger) {}

  async listen(path: string): Promise<void> {
    mkdirSync(dirname(path), { recursive: true });
    if (existsSync(path)) unlinkSync(path);
    const server = createServer((s) => this.accept(s));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    chmodSync(path, 0o660);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Answer one request (also used in-process by tests). */
  async handle(req: unknown): Promise<ControlResponse> {
    if (!isRequest(req)) return { ok: false, code: 'bad-request', error: 'request must be {"words": [string...], "json": boolean}' };
    try {
      const { spec, args } = this.table.resolve(req.words);
      const r = await spec.run(args);
      return req.json ? { ok: true, data: r.data } : { ok: true, text: r.text };
    } catch (e) {
      if (e instanceof CommandError) return { ok: false, code: e.code, error: e.message };
      this.log.error({ err: e, words: req.words }, 'control command failed');
      return { ok: false, code: 'internal', error: `% internal error: ${(e as Error).message}` };
    }
  }

  private accept(s: Socket): void {
    this.sockets.add(s);
    s.setEncoding('utf8');
    let buf = '';
    s.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_REQUEST_BYTES) {
        s.end(JSON.stringify({ ok: false, code: 'bad-request', error: 'request too long' }) + '\n');
        buf = '';
        return;
      }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let parsed: unknown;
        try {
          parsed = JSON.parse(line);
        } catch {
          s.write(JSON.stringify({ ok: false, code: 'bad-request', error: 'request is not JSON' }) + '\n');
          continue;
        }
        void this.handle(parsed).then((r) => {
          if (!s.destroyed) s.write(JSON.stringify(r) + '\n');
        });
      }
    });
    s.on('error', () => s.destroy());
    s.on('close', () => this.sockets.delete(s));
  }
}

function isRequest(x: unknown): x is ControlRequest {
  if (!x || typeof x !== 'object') return false;
  const o = x as Record<string, unknown>;
  return Array.isArray(o.words) && o.words.every((w) => typeof w === 'string') && o.words.length <= 32 && typeof o.json === 'boolean';
}
