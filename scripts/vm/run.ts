/**
 * Run a command under Debian's distribution kernel (which has ip_gre, esp4, xfrm_user) in a QEMU VM:
 *
 *   node dist/scripts/vm/run.js [--timeout S] [--modules a,b|+a,b] [--mem MiB] [--cpus N]
 *                               [--cwd DIR] [--log FILE] [--verbose] [--timing] -- COMMAND...
 *
 * The command runs as root in the VM, chrooted into an overlay of this machine's root filesystem,
 * in the same working directory (default: the current one) with the same environment (plus
 * DMVPN_VM=1). Its stdout and stderr are this program's; its exit status is this program's, or 124
 * when the timeout (default 600 s, boot included) killed the VM, 125 when the VM itself failed.
 * --modules replaces the default list of modules loaded before the command; +a,b adds to it.
 * Set up first with scripts/vm/setup.sh (as root).
 */
import { parseArgs, type CliOptions } from './args.js';
import { EXIT_HARNESS, runVm, VmError } from './vm.js';

async function main(): Promise<number> {
  let cli: CliOptions;
  try {
    cli = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`vm: ${(e as Error).message}\n`);
    return 2;
  }
  // A reader that goes away (`| head`) must not kill the run before it has stopped its VM.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  const abort = new AbortController();
  const stop = (): void => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.once('SIGHUP', stop);
  try {
    const r = await runVm({ ...cli.vm, signal: abort.signal });
    const s = (ms: number | undefined): string => (ms === undefined ? '-' : `${(ms / 1000).toFixed(2)} s`);
    if (cli.timing) {
      process.stderr.write(`vm: kernel ${r.kernelVersion}, boot ${s(r.bootMs)}, command ${s(r.commandMs)}, total ${s(r.totalMs)}\n`);
    }
    if (r.error !== undefined) {
      process.stderr.write(`vm: ${r.error}${r.logPath ? ` (console log: ${r.logPath})` : ''}\n`);
    }
    return r.status;
  } catch (e) {
    if (e instanceof VmError) {
      process.stderr.write(`vm: ${e.message}\n`);
      return EXIT_HARNESS;
    }
    throw e;
  }
}

process.exitCode = await main();
