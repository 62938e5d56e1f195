/**
 * Run FRR daemons (zebra plus one protocol daemon) inside a network namespace
 * made by the test, with every path (config, pid, vty and zserv sockets) in a
 * temp folder, and read their state back through vtysh.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const FRR_BIN = '/usr/lib/frr';

export class FrrInstance {
  readonly dir: string;
  private readonly procs: ChildProcess[] = [];

  constructor(readonly ns: string) {
    this.dir = mkdtempSync(join(tmpdir(), 'frr-'));
    chmodSync(this.dir, 0o777);
  }

  private start(daemon: string, config: string): void {
    const conf = join(this.dir, `${daemon}.conf`);
    writeFileSync(conf, config);
    const args = ['netns', 'exec', this.ns, join(FRR_BIN, daemon), '-f', conf, '-i', join(this.dir, `${daemon}.pid`),
      '-z', join(this.dir, 'zserv.api'), '--vty_socket', this.dir, '-u', 'frr', '-g', 'frr', '--log', `file:${join(this.dir, `${daemon}.log`)}`, '--log-level', process.env.DMVPN_KEEP_FRR ? 'debug' : 'info'];
    const p = spawn('ip', args, { stdio: 'ignore' });
    this.procs.push(p);
  }

  /** zebra first (the protocol daemon connects to it), then the protocol daemon. */
  async up(daemon: string, config: string, zebraConfig = 'hostname frr\n'): Promise<void> {
    this.start('zebra', zebraConfig);
    await new Promise((r) => setTimeout(r, 700));
    this.start(daemon, config);
    await new Promise((r) => setTimeout(r, 700));
  }

  vtysh(cmd: string): string {
    const r = spawnSync('ip', ['netns', 'exec', this.ns, 'vtysh', '--vty_socket', this.dir, '-c', cmd], { encoding: 'utf8', timeout: 10_000 });
    return (r.stdout ?? '') + (r.stderr ?? '');
  }

  /** Apply configuration lines through vtysh (configure terminal). */
  configure(lines: readonly string[]): string {
    const args = ['netns', 'exec', this.ns, 'vtysh', '--vty_socket', this.dir, '-c', 'configure terminal'];
    for (const l of lines) if (l.trim() !== '!') args.push('-c', l.trim());
    const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
    return (r.stdout ?? '') + (r.stderr ?? '');
  }

  async down(): Promise<void> {
    for (const p of this.procs) if (p.exitCode === null) p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    for (const p of this.procs) if (p.exitCode === null) p.kill('SIGKILL');
    if (!process.env.DMVPN_KEEP_FRR) rmSync(this.dir, { recursive: true, force: true });
  }
}
