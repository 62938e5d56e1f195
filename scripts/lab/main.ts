/**
 * `npm run lab`: build the reference lab in network namespaces, run dmvpnd on
 * the hub and the three spokes, show what IOS would show, run the Phase 3
 * traceroute twice, and tear everything down.
 */
import { Lab } from './topology.js';

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error('lab: needs root (network namespaces)');
    return 2;
  }
  const lab = new Lab();
  const keep = process.argv.includes('--keep');
  const stopOnSignal = (): void => {
    void lab.destroy().then(() => process.exit(130));
  };
  process.on('SIGINT', stopOnSignal);
  process.on('SIGTERM', stopOnSignal);
  try {
    lab.build();
    for (const r of ['hub', 'spoke1', 'spoke2', 'spoke3'] as const) lab.startDaemon(r);
    await lab.waitFor('three spokes registered at the hub', () => {
      const d = lab.ctlJson<{ peers: { state: string }[] }[]>('hub', ['show', 'dmvpn']);
      return !!d && d[0]?.peers.filter((p) => p.state === 'UP').length === 3;
    });
    const step = (title: string, text: string): void => console.log(`\n${title}\n${text.trimEnd()}`);
    step('hub# show dmvpn', lab.ctl('hub', ['show', 'dmvpn']).stdout);
    step('hub# show ip nhrp brief', lab.ctl('hub', ['show', 'ip', 'nhrp', 'brief']).stdout);
    step('spoke2# show ip nhrp nhs', lab.ctl('spoke2', ['show', 'ip', 'nhrp', 'nhs']).stdout);
    step('spoke2# traceroute 192.168.1.1', lab.exec('spoke2', ['traceroute', '-n', '-N', '1', '-q', '3', '-w', '1', '192.168.1.1'], { check: false, timeoutMs: 30_000 }).stdout);
    await lab.waitFor('the shortcut on spoke2', () => lab.ctl('spoke2', ['show', 'ip', 'route']).stdout.includes('H     192.168.1.0'), 10_000);
    step('spoke2# traceroute 192.168.1.1', lab.exec('spoke2', ['traceroute', '-n', '-N', '1', '-q', '3', '-w', '1', '192.168.1.1'], { check: false, timeoutMs: 30_000 }).stdout);
    step('spoke2# show dmvpn', lab.ctl('spoke2', ['show', 'dmvpn']).stdout);
    step('spoke2# show ip route', lab.ctl('spoke2', ['show', 'ip', 'route']).stdout);
    step('spoke2# show ip nhrp', lab.ctl('spoke2', ['show', 'ip', 'nhrp']).stdout);
    return 0;
  } catch (e) {
    console.error(`lab: ${(e as Error).message}`);
    for (const r of ['hub', 'spoke1', 'spoke2', 'spoke3'] as const) console.error(`--- ${r} log (tail) ---\n${lab.log(r).split('\n').slice(-15).join('\n')}`);
    return 1;
  } finally {
    if (!keep) await lab.destroy();
    else console.log(`\nlab kept: namespaces ${lab.prefix}-*, files in ${lab.dir}`);
  }
}

process.exitCode = await main();
