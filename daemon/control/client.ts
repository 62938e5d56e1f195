/** The dmvpnctl side of the control socket. */
import { createConnection } from 'node:net';
import type { ControlRequest, ControlResponse } from './protocol.js';

export class ControlClientError extends Error {
  override readonly name = 'ControlClientError';
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export function request(path: string, req: ControlRequest, timeoutMs = 5000): Promise<ControlResponse> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new ControlClientError('timeout', `no answer from dmvpnd on ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    s.setEncoding('utf8');
    s.on('connect', () => s.write(JSON.stringify(req) + '\n'));
    s.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      s.end();
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as ControlResponse);
      } catch {
        reject(new ControlClientError('bad-response', `dmvpnd sent a malformed answer on ${path}`));
      }
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? 'is dmvpnd running?' : e.message;
      reject(new ControlClientError(e.code ?? 'connect', `cannot reach dmvpnd at ${path} (${e.code ?? 'error'}): ${why}`));
    });
  });
}
