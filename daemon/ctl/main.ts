/**
 * dmvpnctl: the operator's tool. Subcommands: decode (captures).
 * Errors are one line with a stable code; exit 2 for usage and unreadable input.
 */
import { VERSION } from '../version.js';

const USAGE = `usage: dmvpnctl <command> [options]
  show WORDS… [--json]   ask the running daemon, e.g. show dmvpn, show ip nhrp brief, show ip route
                         (--socket PATH or $DMVPN_SOCKET to pick the daemon; --timeout S to wait
                         longer than 5 s for the answer)
  decode FILE [--json] [--all] [--brief]
                         print the DMVPN packets (GRE, NHRP, EIGRP, IKEv2, ESP) of a pcap/pcapng file
  version                print the version`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'version':
    case '--version':
      console.log(`dmvpnctl ${VERSION}`);
      return 0;
    case 'show':
    case 'sh':
    case 'clear': {
      const { controlCommand } = await import('./show.js');
      return controlCommand(cmd === 'clear' ? ['clear', ...rest] : ['show', ...rest]);
    }
    case 'decode': {
      const { decodeCommand } = await import('./decode.js');
      return decodeCommand(rest);
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      console.error(`dmvpnctl: unknown command "${cmd}"`);
      console.error(USAGE);
      return 2;
  }
}
