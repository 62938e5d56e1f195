/**
 * dmvpnd: the daemon's entry point: arguments, configuration, start, signals,
 * systemd readiness. The work lives in router.ts and below.
 */
import { spawnSync } from 'node:child_process';
import { VERSION } from './version.js';
import type { Capability } from './config/model.js';

/** What this build implements; configuring anything else is an error, never ignored. */
export const CAPABILITIES: readonly Capability[] = ['nhrp', 'eigrp', 'ipsec', 'kernel-dataplane'];

const USAGE = `usage: dmvpnd [--config FILE] [--check FILE] [--socket PATH] [--log-level LEVEL] [--log-format json|text] [--version]
  --config FILE      run with this IOS-style configuration (default /etc/dmvpn/dmvpn.conf)
  --check FILE       validate a configuration and exit (0 valid, 1 invalid)
  --socket PATH      control socket for dmvpnctl (default /run/dmvpnd/dmvpnd.sock, or $DMVPN_SOCKET)
  --log-level LEVEL  trace, debug, info (default), warn, error
  --log-format F     json (default, one object per line) or text
  --version          print the version`;

interface Args {
  config: string;
  check?: string;
  socket?: string;
  logLevel?: string;
  logFormat: 'json' | 'text';
}

function parseArgs(argv: string[]): Args | string {
  const a: Args = { config: '/etc/dmvpn/dmvpn.conf', logFormat: 'json' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    const need = (): string | undefined => (v === undefined || v.startsWith('--') ? undefined : (i++, v));
    switch (k) {
      case '--config': { const x = need(); if (!x) return '--config needs a file'; a.config = x; break; }
      case '--check': { const x = need(); if (!x) return '--check needs a file'; a.check = x; break; }
      case '--socket': { const x = need(); if (!x) return '--socket needs a path'; a.socket = x; break; }
      case '--log-level': {
        const x = need();
        if (!x || !['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(x)) return `--log-level needs one of trace, debug, info, warn, error`;
        a.logLevel = x;
        break;
      }
      case '--log-format': { const x = need(); if (x !== 'json' && x !== 'text') return '--log-format needs json or text'; a.logFormat = x; break; }
      default: return `unknown argument "${k}"`;
    }
  }
  return a;
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('--version')) {
    console.log(`dmvpnd ${VERSION}`);
    return 0;
  }
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    console.error(`dmvpnd: ${args}\n${USAGE}`);
    return 2;
  }
  if (args.check) {
    const { checkCommand } = await import('./config/check.js');
    return checkCommand(args.check, CAPABILITIES);
  }
  const { createLogger } = await import('./log.js');
  const log = createLogger({ level: args.logLevel, format: args.logFormat });
  const { loadConfig } = await import('./config/load.js');
  const { ConfigError, formatDiagnostics } = await import('./config/diagnostics.js');
  let model;
  try {
    const loaded = loadConfig(args.config, CAPABILITIES);
    model = loaded.model;
    if (loaded.warnings.length) process.stderr.write(`${formatDiagnostics(loaded.warnings)}\n`);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\ndmvpnd: configuration has errors; not starting\n`);
      return 1;
    }
    throw e;
  }
  const { Router } = await import('./router.js');
  const { ControlServer } = await import('./control/server.js');
  const { socketPath } = await import('./control/protocol.js');
  const router = new Router(model, log);
  const control = new ControlServer(router.commands, log);
  let stopping = false;
  const stop = async (why: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info(`stopping (${why})`);
    notify('STOPPING=1');
    await control.close();
    await router.stop();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  try {
    await router.start();
    await control.listen(socketPath(args.socket));
  } catch (e) {
    const err = e as Error & { code?: string; errnoCode?: string };
    log.fatal({ code: err.code, errno: err.errnoCode }, `start failed: ${err.message}`);
    await router.stop().catch(() => undefined);
    return 1;
  }
  log.info({ hostname: model.hostname, tunnels: router.tunnels.map((t) => t.name), socket: socketPath(args.socket) }, `dmvpnd ${VERSION} running`);
  notify('READY=1');
  return new Promise<number>(() => undefined);
}

/** systemd readiness (Type=notify): systemd-notify speaks the NOTIFY_SOCKET datagram protocol. */
function notify(state: string): void {
  if (!process.env.NOTIFY_SOCKET) return;
  spawnSync('systemd-notify', [state], { stdio: 'ignore' });
}
