/**
 * `npm run lab`: the reference lab in network namespaces.
 *   npm run lab                  build it, run the Phase 3 demonstration, tear it down
 *   npm run lab -- up [--phase2] build it and leave it running (cleans a previous one first); --phase2:
 *                                the hub keeps the spokes as next hops, no redirect, no shortcut
 *   npm run lab -- exec NODE CMD…  run a command in a router's namespace (dmvpnctl talks to that router)
 *   npm run lab -- down          stop the daemons and remove everything the lab made
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, ROOT, ROUTERS, routerIndex, type RouterName } from './topology.js';

const UP_PREFIX = 'dmvpn-lab';
const UP_DIR = '/run/dmvpn-lab';
const STATE = join(UP_DIR, 'state.json');

interface UpState {
  readonly pids: Record<string, number>;
}

async function waitRegistered(lab: Lab): Promise<void> {
  await lab.waitFor('three spokes registered at the hub', () => {
    const d = lab.ctlJson<{ peers: { state: string }[] }[]>('hub', ['show', 'dmvpn']);
    return !!d && d[0]?.peers.filter((p) => p.state === 'UP').length === 3;
  });
  // EIGRP: every router learns every other LAN.
  await lab.waitFor('EIGRP routes to every LAN on every router', () => ROUTERS.every((r) => {
    const routes = lab.ctlJson<{ code: string; prefix: string }[]>(r, ['show', 'ip', 'route']) ?? [];
    const learned = new Set(routes.filter((x) => x.code === 'D').map((x) => x.prefix));
    return [0, 1, 2, 3].filter((i) => i !== routerIndex(r)).every((i) => learned.has(`192.168.${i}.0`));
  }));
}

function down(): void {
  if (existsSync(STATE)) {
    const st = JSON.parse(readFileSync(STATE, 'utf8')) as UpState;
    for (const pid of Object.values(st.pids)) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
  }
  spawnSync('sleep', ['0.5']);
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of list.split('\n')) {
    const ns = line.split(' ')[0];
    if (ns.startsWith(`${UP_PREFIX}-`)) {
      spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout?.split('\n').filter(Boolean).forEach((pid) => {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          /* gone */
        }
      });
      spawnSync('ip', ['netns', 'del', ns]);
    }
  }
  rmSync(UP_DIR, { recursive: true, force: true });
}

async function up(args: readonly string[]): Promise<number> {
  const unknown = args.filter((a) => a !== '--phase2');
  if (unknown.length > 0) {
    console.error(`lab up: unknown option "${unknown[0]}" (--phase2)`);
    return 2;
  }
  down();
  mkdirSync(UP_DIR, { recursive: true });
  const lab = new Lab(UP_PREFIX, UP_DIR, args.includes('--phase2') ? { phase: 2 } : {});
  lab.build();
  const pids: Record<string, number> = {};
  for (const r of ROUTERS) pids[r] = lab.startDetached(r);
  writeFileSync(STATE, JSON.stringify({ pids } satisfies UpState));
  await waitRegistered(lab);
  console.log(`lab up: routers ${ROUTERS.join(', ')} in namespaces ${UP_PREFIX}-<router>; hosts in ${UP_PREFIX}-h0..h3`);
  console.log(`configurations and logs: ${UP_DIR}/<router>.conf, <router>.log`);
  console.log('try: npm run lab -- exec hub dmvpnctl show dmvpn');
  return 0;
}

function exec(node: string, cmd: string[]): number {
  if (!(ROUTERS as readonly string[]).includes(node) && !/^h[0-3]$/.test(node)) {
    console.error(`lab exec: unknown node "${node}" (routers: ${ROUTERS.join(', ')}; hosts: h0-h3)`);
    return 2;
  }
  if (cmd.length === 0) {
    console.error('lab exec: give a command, e.g. npm run lab -- exec spoke2 traceroute -n 192.168.1.1');
    return 2;
  }
  const argv = cmd[0] === 'dmvpnctl' ? [process.execPath, join(ROOT, 'bin', 'dmvpnctl.js'), ...cmd.slice(1)] : cmd;
  const r = spawnSync('ip', ['netns', 'exec', `${UP_PREFIX}-${node}`, ...argv], {
    stdio: 'inherit', env: { ...process.env, DMVPN_SOCKET: join(UP_DIR, `${node}.sock`) },
  });
  return r.status ?? 1;
}

async function demo(ipsec: boolean): Promise<number> {
  const lab = new Lab(undefined, undefined, { ipsec });
  const stopOnSignal = (): void => {
    void lab.destroy().then(() => process.exit(130));
  };
  process.on('SIGINT', stopOnSignal);
  process.on('SIGTERM', stopOnSignal);
  const tr = ['traceroute', '-n', '-N', '1', '-q', '3', '-w', '1', '192.168.1.1'];
  try {
    lab.build();
    for (const r of ROUTERS) lab.startDaemon(r);
    await waitRegistered(lab);
    const step = (title: string, text: string): void => console.log(`\n${title}\n${text.trimEnd()}`);
    step('hub# show dmvpn', lab.ctl('hub', ['show', 'dmvpn']).stdout);
    step('hub# show ip nhrp brief', lab.ctl('hub', ['show', 'ip', 'nhrp', 'brief']).stdout);
    step('spoke2# show ip nhrp nhs', lab.ctl('spoke2', ['show', 'ip', 'nhrp', 'nhs']).stdout);
    step('hub# show ip eigrp neighbors', lab.ctl('hub', ['show', 'ip', 'eigrp', 'neighbors']).stdout);
    step('spoke2# show ip route', lab.ctl('spoke2', ['show', 'ip', 'route']).stdout);
    step('spoke2# traceroute 192.168.1.1', lab.exec('spoke2', tr, { check: false, timeoutMs: 40_000 }).stdout);
    await lab.waitFor('the shortcut on spoke2', () => lab.ctl('spoke2', ['show', 'ip', 'route']).stdout.includes('H     192.168.1.0'), 10_000);
    step('spoke2# traceroute 192.168.1.1', lab.exec('spoke2', tr, { check: false, timeoutMs: 40_000 }).stdout);
    step('spoke2# show dmvpn', lab.ctl('spoke2', ['show', 'dmvpn']).stdout);
    step('spoke2# show ip route', lab.ctl('spoke2', ['show', 'ip', 'route']).stdout);
    step('spoke2# show ip nhrp', lab.ctl('spoke2', ['show', 'ip', 'nhrp']).stdout);
    return 0;
  } catch (e) {
    console.error(`lab: ${(e as Error).message}`);
    for (const r of ROUTERS as readonly RouterName[]) console.error(`--- ${r} log (tail) ---\n${lab.log(r).split('\n').slice(-15).join('\n')}`);
    return 1;
  } finally {
    await lab.destroy();
  }
}

async function main(argv: string[]): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error('lab: needs root (network namespaces)');
    return 2;
  }
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case 'run': return demo(rest.includes('--ipsec'));
    case '--ipsec': return demo(true);
    case 'up': return up(rest);
    case 'down': down(); console.log('lab down'); return 0;
    case 'exec': return exec(rest[0] ?? '', rest.slice(1));
    default:
      console.error(`lab: unknown command "${cmd}" (run, up, exec NODE CMD..., down)`);
      return 2;
  }
}

process.exitCode = await main(process.argv.slice(2));
