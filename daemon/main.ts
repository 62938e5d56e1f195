/**
 * dmvpnd: the daemon's entry point. Argument handling only; the work lives in
 * the modules it calls.
 */
import { VERSION } from './version.js';

const USAGE = `usage: dmvpnd [--config FILE] [--check FILE] [--version]
  --config FILE   run with this IOS-style configuration (default /etc/dmvpn/dmvpn.conf)
  --check FILE    validate a configuration and exit (0 valid, 1 invalid)
  --version       print the version`;

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('--version')) {
    console.log(`dmvpnd ${VERSION}`);
    return 0;
  }
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  console.error('dmvpnd: the daemon cannot run a tunnel yet (configuration and the NHRP dataplane are the next milestones)');
  console.error(USAGE);
  return 2;
}
