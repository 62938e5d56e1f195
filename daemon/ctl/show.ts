/** dmvpnctl show|clear …: forward the words to the daemon, print its answer. */
import { request, ControlClientError } from '../control/client.js';
import { socketPath } from '../control/protocol.js';

export async function controlCommand(words: string[]): Promise<number> {
  let json = false;
  let socket: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < words.length; i++) {
    if (words[i] === '--json') json = true;
    else if (words[i] === '--socket') {
      socket = words[++i];
      if (!socket) {
        console.error('dmvpnctl: --socket needs a path');
        return 2;
      }
    } else rest.push(words[i]);
  }
  try {
    const r = await request(socketPath(socket), { words: rest, json });
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
