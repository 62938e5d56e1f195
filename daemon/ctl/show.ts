/** dmvpnctl show|clear …: forward the words to the daemon, print its answer. */
import { request, ControlClientError } from '../control/client.js';
import { socketPath } from '../control/protocol.js';

/** How long an answer may take by default; counter-reading shows on a loaded machine may need more (--timeout). */
const DEFAULT_TIMEOUT_S = 5;
/** Longest --timeout taken (an hour): a larger number is a typo, not a wish. */
const MAX_TIMEOUT_S = 3600;

export async function controlCommand(words: string[]): Promise<number> {
  let json = false;
  let socket: string | undefined;
  let timeoutS = DEFAULT_TIMEOUT_S;
  const rest: string[] = [];
  for (let i = 0; i < words.length; i++) {
    if (words[i] === '--json') json = true;
    else if (words[i] === '--socket') {
      socket = words[++i];
      if (!socket) {
        console.error('dmvpnctl: --socket needs a path');
        return 2;
      }
    } else if (words[i] === '--timeout') {
      const v = words[++i];
      const n = v !== undefined && /^\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
      if (!(n > 0 && n <= MAX_TIMEOUT_S)) {
        console.error(`dmvpnctl: --timeout needs seconds between 0 and ${MAX_TIMEOUT_S}, got ${v === undefined ? 'nothing' : JSON.stringify(v)}`);
        return 2;
      }
      timeoutS = n;
    } else rest.push(words[i]);
  }
  try {
    const r = await request(socketPath(socket), { words: rest, json }, Math.round(timeoutS * 1000));
    if (!r.ok) {
      console.error(r.error);
      return r.code === 'internal' ? 1 : 2;
    }
    if (json) process.stdout.write(`${JSON.stringify(r.data, null, 2)}\n`);
    else process.stdout.write(r.text ?? '');
    return 0;
  } catch (e) {
    if (e instanceof ControlClientError) {
      console.error(`dmvpnctl: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
