/**
 * TunnelTaps. Without root: the exact ruleset, input validation before nft runs, nft's errors
 * turned into PlatformErrors naming the rule, a missing nft, the time bound. As root, inside a
 * fresh network namespace (nft run as `ip netns exec NS nft`): install, idempotent re-install,
 * the presence check after the table or a rule vanished, ensure(), remove(), all cross-checked
 * with `nft list`; the usage set counting what leaves a (veth) device per route next hop, for
 * local and forwarded packets, read back with usage().
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { PlatformError } from '../../../platform/errors.js';
import { DEFAULT_REDIRECT_RATE, nftFailure, runNft, tapsRuleset, TunnelTaps, TX_SET_NAME, TX_SET_TIMEOUT_S } from '../../../platform/linux/nftables.js';
import { isRoot, needsTool } from '../../support/tools.js';

const asRoot = isRoot() ? needsTool('ip', 'nft') : { skip: 'needs root (creates a network namespace)' };
const NO_NFT = ['/nonexistent/dmvpnd-test/nft'];

async function rejects(p: Promise<unknown>, check: Partial<Record<'code' | 'errnoCode' | 'syscall', string>>, message?: RegExp): Promise<PlatformError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof PlatformError, `a PlatformError, got ${String(e)}`);
    for (const [k, v] of Object.entries(check)) assert.equal(e[k as keyof PlatformError], v, `${k} of "${e.message}"`);
    if (message) assert.match(e.message, message);
    return e;
  }
  assert.fail('expected a rejection');
}

// ---- the ruleset ----

test('nftables: the ruleset of a Phase 3 hub: per-pair limited forward copies, multicast copy and drop', () => {
  const s = tapsRuleset('dmvpnd_dmvpn0', {
    device: 'dmvpn0', multicastGroup: 19712, redirectGroup: 19713, redirectRate: { packets: 4, per: 'minute', burst: 1, totalPerSecond: 50 }, redirectSnaplen: 96,
  });
  assert.equal(s.text, [
    'table ip dmvpnd_dmvpn0',
    'delete table ip dmvpnd_dmvpn0',
    'table ip dmvpnd_dmvpn0 {',
    '\tset redirect_pairs {',
    '\t\ttype ipv4_addr . ipv4_addr',
    '\t\tsize 65535',
    '\t\tflags dynamic,timeout',
    '\t\ttimeout 1m',
    '\t}',
    '\tchain forward {',
    '\t\ttype filter hook forward priority filter; policy accept;',
    '\t\tiifname "dmvpn0" oifname "dmvpn0" limit rate 50/second burst 50 packets update @redirect_pairs { ip saddr . ip daddr limit rate 4/minute burst 1 packets } counter log group 19713 snaplen 96',
    '\t}',
    '\tchain output {',
    '\t\ttype filter hook output priority filter; policy accept;',
    '\t\toifname "dmvpn0" ip daddr 224.0.0.0/4 counter log group 19712 drop',
    '\t}',
    '}',
    '',
  ].join('\n'));
  assert.equal(s.labels.length, s.text.split('\n').length - 1, 'one label per line');
  assert.equal(s.labels[11], 'the redirect rule (chain forward, log group 19713)');
  assert.equal(s.labels[15], 'the multicast rule (chain output, log group 19712)');
});

test('nftables: a spoke (no redirect group) gets the output chain only; defaults fill the redirect rule', () => {
  const spoke = tapsRuleset('dmvpnd_t', { device: 't', multicastGroup: 5 }).text;
  assert.doesNotMatch(spoke, /forward|redirect_pairs/);
  assert.match(spoke, /oifname "t" ip daddr 224\.0\.0\.0\/4 counter log group 5 drop/);
  const hub = tapsRuleset('dmvpnd_t', { device: 't', multicastGroup: 5, redirectGroup: 6 }).text;
  const r = DEFAULT_REDIRECT_RATE;
  assert.ok(hub.includes(`limit rate ${r.packets}/${r.per} burst ${r.burst} packets } counter log group 6 snaplen 128`), hub);
  assert.ok(hub.includes(`limit rate ${r.totalPerSecond}/second burst ${r.totalPerSecond} packets update`), hub);
});

// ---- bad input never reaches nft ----

test('nftables: device names with quotes, spaces, backslashes or too many bytes are refused before nft runs', async () => {
  // With a nft that does not exist, reaching nft would be 'unsupported': 'bad-argument' proves it never ran.
  const taps = new TunnelTaps('dmvpn0', { nft: NO_NFT });
  for (const device of ['dm"vpn', 'dm vpn', 'dm\\vpn', "dm'vpn", 'dmvpn0;drop', '', 'a23456789012345x', '-dmvpn', 'dm\nvpn', 'dmvpné']) {
    await rejects(taps.install({ device, multicastGroup: 1 }), { code: 'bad-argument', syscall: 'nft' }, /device name .* is not usable in nftables/);
  }
  assert.throws(() => new TunnelTaps('tun "0"', { nft: NO_NFT }), (e: PlatformError) => e.code === 'bad-argument' && /tunnel name "tun \\"0\\""/.test(e.message));
  assert.throws(() => tapsRuleset('bad table', { device: 'x', multicastGroup: 1 }), /table name "bad table" is not an nft identifier/);
});

test('nftables: groups, rates and snaplen out of range are refused before nft runs', async () => {
  const taps = new TunnelTaps('t0', { nft: NO_NFT });
  const bad: [Parameters<TunnelTaps['install']>[0], RegExp][] = [
    [{ device: 't0', multicastGroup: 70000 }, /multicast group 70000 is out of range \(0-65535\)/],
    [{ device: 't0', multicastGroup: -1 }, /multicast group -1/],
    [{ device: 't0', multicastGroup: 1.5 }, /multicast group 1\.5/],
    [{ device: 't0', multicastGroup: 1, redirectGroup: 65536 }, /redirect group 65536/],
    [{ device: 't0', multicastGroup: 1, redirectGroup: 1 }, /redirect group 1 is the multicast group/],
    [{ device: 't0', multicastGroup: 1, redirectGroup: 2, redirectRate: { packets: 0, per: 'minute' } }, /redirect rate 0/],
    [{ device: 't0', multicastGroup: 1, redirectGroup: 2, redirectRate: { packets: 1, per: 'minute', burst: 0 } }, /redirect burst 0/],
    [{ device: 't0', multicastGroup: 1, redirectGroup: 2, redirectRate: { packets: 1, per: 'day' as 'hour' } }, /unit "day"/],
    [{ device: 't0', multicastGroup: 1, redirectGroup: 2, redirectSnaplen: 10 }, /redirect snaplen 10 is out of range \(20-65535\)/],
  ];
  for (const [spec, message] of bad) await rejects(taps.install(spec), { code: 'bad-argument' }, message);
});

// ---- nft's failures ----

test('nftables: a missing nft is a clear "unsupported" error', async () => {
  const taps = new TunnelTaps('dmvpn0', { nft: NO_NFT });
  await rejects(taps.install({ device: 'dmvpn0', multicastGroup: 1 }), { code: 'unsupported', errnoCode: 'ENOENT', syscall: 'nft' },
    /^installing nftables table ip dmvpnd_dmvpn0: \/nonexistent\/dmvpnd-test\/nft not found: the kernel dataplane needs nftables/);
  await rejects(taps.present(), { code: 'unsupported' });
  await rejects(taps.remove(), { code: 'unsupported' });
});

test('nftables: nft\'s stderr becomes an error naming the rule on the line at fault', () => {
  const labels = ['the table', 'the table', 'the redirect rule (chain forward, log group 6)'];
  const kernel = nftFailure('/dev/stdin:3:13-18: Error: Could not process rule: No such file or directory\nadd rule ip x y accept\n            ^^^^^^\n', labels, 'installing x', 1);
  assert.deepEqual([kernel.code, kernel.errnoCode, kernel.syscall], ['netlink', 'ENOENT', 'nft']);
  assert.equal(kernel.message, 'installing x: nft refused in the redirect rule (chain forward, log group 6): Could not process rule: No such file or directory (No such file or directory, ENOENT)');
  const syntax = nftFailure('/dev/stdin:2:15-19: Error: syntax error, unexpected accept\n', labels, 'installing x', 1);
  assert.deepEqual([syntax.code, syntax.errnoCode], ['bad-argument', 'EINVAL']);
  assert.match(syntax.message, /nft refused in the table: syntax error, unexpected accept/);
  const unsupported = nftFailure('/dev/stdin:1:8-8: Error: Could not process rule: Operation not supported\n', labels, 'installing x', 1);
  assert.deepEqual([unsupported.code, unsupported.errnoCode], ['unsupported', 'EOPNOTSUPP']);
  const perm = nftFailure('Error: Could not process rule: Operation not permitted\n', labels, 'installing x', 1);
  assert.deepEqual([perm.code, perm.errnoCode], ['netlink', 'EPERM']);
  assert.equal(nftFailure('', labels, 'installing x', 2).message, 'installing x: nft refused: nft exited with status 2 (Invalid argument, EINVAL)');
  assert.match(nftFailure('/dev/stdin:9:1-2: Error: x\n', labels, 'op', 1).message, /nft refused in line 9: x/);
});

test('nftables: nft is bounded in time', async () => {
  const t0 = Date.now();
  await rejects(runNft(['sleep'], ['30'], '', [], 'installing x', 300), { code: 'timeout', errnoCode: 'ETIMEDOUT' }, /nft did not finish within 300 ms/);
  assert.ok(Date.now() - t0 < 5000);
});

// ---- the real thing ----

function nsExec(ns: string, args: string[]): string {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('nftables: install, re-install, vanish, ensure, remove in a namespace, checked with nft list', asRoot, async () => {
  const ns = `nflogt-nft-${process.pid}`;
  assert.equal(spawnSync('ip', ['netns', 'add', ns]).status, 0);
  try {
    const nft = ['ip', 'netns', 'exec', ns, 'nft'];
    const taps = new TunnelTaps('dmvpn-1.x', { nft });
    assert.equal(taps.table, 'dmvpnd_dmvpn-1.x');
    assert.equal(await taps.present(), false, 'nothing installed yet');
    assert.deepEqual(await taps.status(), { present: false, complete: false });
    const spec = { device: 'dmvpn-1.x', multicastGroup: 19712, redirectGroup: 19713 };
    await taps.install(spec);
    assert.match(nsExec(ns, ['nft', 'list', 'tables']), /^table ip dmvpnd_dmvpn-1\.x$/m);
    const listed = nsExec(ns, ['nft', 'list', 'table', 'ip', 'dmvpnd_dmvpn-1.x']);
    assert.match(listed, /oifname "dmvpn-1\.x" ip daddr 224\.0\.0\.0\/4 counter packets 0 bytes 0 log group 19712 drop/);
    assert.match(listed, /iifname "dmvpn-1\.x" oifname "dmvpn-1\.x" limit rate 200\/second burst 200 packets update @redirect_pairs \{ ip saddr \. ip daddr limit rate 10\/minute burst 2 packets \} counter packets 0 bytes 0 log group 19713 snaplen 128/);
    assert.deepEqual(await taps.status(), { present: true, complete: true, multicast: { packets: 0, bytes: 0 }, redirect: { packets: 0, bytes: 0 } });

    // Installing again replaces the table in one transaction: still one table, one rule per chain.
    await taps.install(spec);
    assert.equal(nsExec(ns, ['nft', 'list', 'tables']).trim().split('\n').length, 1);
    assert.equal(nsExec(ns, ['nft', 'list', 'table', 'ip', 'dmvpnd_dmvpn-1.x']).match(/log group/g)?.length, 2);

    // Someone flushes the ruleset: present() says so, ensure() puts the table back.
    nsExec(ns, ['nft', 'flush', 'ruleset']);
    assert.equal(await taps.present(), false);
    assert.equal(await taps.ensure(), true);
    assert.equal(await taps.present(), true);
    assert.equal(await taps.ensure(), false, 'nothing to do when complete');

    // A rule deleted but the table left: present but incomplete.
    nsExec(ns, ['nft', 'flush', 'chain', 'ip', 'dmvpnd_dmvpn-1.x', 'forward']);
    const st = await taps.status();
    assert.deepEqual([st.present, st.complete, st.redirect], [true, false, undefined]);

    // A spoke's taps on the same tunnel: the forward chain disappears with the re-install.
    await taps.install({ device: 'dmvpn-1.x', multicastGroup: 19712 });
    assert.doesNotMatch(nsExec(ns, ['nft', 'list', 'table', 'ip', 'dmvpnd_dmvpn-1.x']), /chain forward/);
    assert.equal(await taps.present(), true);

    await taps.remove();
    assert.equal(nsExec(ns, ['nft', 'list', 'tables']).trim(), '', 'the table is gone');
    await taps.remove(); // absent: still fine
    assert.equal(await taps.ensure(), false, 'nothing to re-install after remove()');
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
});

test('nftables: real nft refusals name the line at fault; a refused batch changes nothing', asRoot, async () => {
  const ns = `nflogt-nfe-${process.pid}`;
  assert.equal(spawnSync('ip', ['netns', 'add', ns]).status, 0);
  try {
    const nft = ['ip', 'netns', 'exec', ns, 'nft'];
    const script = 'table ip t1\nadd rule ip nosuch output accept\n';
    await rejects(runNft(nft, ['-f', '-'], script, ['the table', 'the rule into nosuch'], 'installing t1', 10_000),
      { code: 'netlink', errnoCode: 'ENOENT' }, /^installing t1: nft refused in the rule into nosuch: (Could not process rule: )?No such file or directory/);
    assert.equal(nsExec(ns, ['nft', 'list', 'tables']).trim(), '', 'the batch is atomic: t1 was not created');
    const syntax = 'table ip t1 {\n chain c {\n  oifname "x" bogus thing\n }\n}\n';
    await rejects(runNft(nft, ['-f', '-'], syntax, ['t', 'c', 'the bogus rule'], 'installing t1', 10_000),
      { code: 'bad-argument' }, /nft refused in the bogus rule: /);
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
});

// ---- the usage set (transmit counters per route next hop) ----

test('nftables: the usage set and its postrouting rule, counted per route next hop', () => {
  const s = tapsRuleset('dmvpnd_Tunnel0', { device: 'Tunnel0', multicastGroup: 5, txUsage: true });
  const lines = s.text.split('\n');
  const at = lines.indexOf(`\tset ${TX_SET_NAME} {`);
  assert.ok(at > 0, s.text);
  assert.deepEqual(lines.slice(at, at + 10), [
    '\tset tx_nexthops {',
    '\t\ttype ipv4_addr',
    '\t\tsize 65535',
    '\t\tflags dynamic,timeout',
    `\t\ttimeout ${TX_SET_TIMEOUT_S}s`,
    '\t}',
    '\tchain postrouting {',
    '\t\ttype filter hook postrouting priority filter; policy accept;',
    '\t\toifname "Tunnel0" update @tx_nexthops { rt ip nexthop counter }',
    '\t}',
  ]);
  assert.equal(s.labels[at + 8], 'the transmit usage rule (chain postrouting)');
  assert.doesNotMatch(tapsRuleset('dmvpnd_Tunnel0', { device: 'Tunnel0', multicastGroup: 5 }).text, /postrouting|tx_nexthops/, 'only when asked');
});

test('nftables: the usage set in a namespace counts what leaves the device per next hop, local and forwarded', asRoot, async () => {
  const ns = `nflogt-nfu-${process.pid}`;
  const src = `nflogt-nfs-${process.pid}`;
  assert.equal(spawnSync('ip', ['netns', 'add', ns]).status, 0);
  try {
    assert.equal(spawnSync('ip', ['netns', 'add', src]).status, 0);
    const ip = (n: string, args: string[]): void => void nsExec(n, ['ip', ...args]);
    // "Tunnel0" is a veth here: the rule matches the device by name. 10.0.0.7 is a gateway, 10.0.0.9 on-link.
    ip(ns, ['link', 'add', 'Tunnel0', 'type', 'veth', 'peer', 'name', 'far']);
    ip(ns, ['link', 'set', 'Tunnel0', 'up']);
    ip(ns, ['link', 'set', 'far', 'up']);
    ip(ns, ['addr', 'add', '10.0.0.1/24', 'dev', 'Tunnel0']);
    ip(ns, ['route', 'add', '192.168.5.0/24', 'via', '10.0.0.7', 'dev', 'Tunnel0']);
    for (const n of ['7', '9']) ip(ns, ['neigh', 'add', `10.0.0.${n}`, 'lladdr', `02:00:00:00:00:0${n}`, 'dev', 'Tunnel0', 'nud', 'permanent']);
    // A LAN host in its own namespace whose packets the router forwards into the tunnel.
    ip(ns, ['link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', src]);
    ip(ns, ['addr', 'add', '172.31.0.1/24', 'dev', 'lan0']);
    ip(ns, ['link', 'set', 'lan0', 'up']);
    ip(src, ['addr', 'add', '172.31.0.2/24', 'dev', 'eth0']);
    ip(src, ['link', 'set', 'eth0', 'up']);
    ip(src, ['route', 'add', 'default', 'via', '172.31.0.1']);
    nsExec(ns, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);

    const taps = new TunnelTaps('Tunnel0', { nft: ['ip', 'netns', 'exec', ns, 'nft'] });
    assert.equal(await taps.usage(), undefined, 'no table: no set');
    await taps.install({ device: 'Tunnel0', multicastGroup: 7, txUsage: true });
    assert.deepEqual(await taps.usage(), [], 'nothing sent yet');
    const st = await taps.status();
    assert.deepEqual([st.complete, st.txUsage], [true, true]);

    const ping = (n: string, dst: string, count: number): void => {
      spawnSync('ip', ['netns', 'exec', n, 'ping', '-n', '-q', '-c', String(count), '-i', '0.2', '-W', '1', dst], { timeout: 20_000 });
    };
    ping(ns, '192.168.5.9', 2); // local, via the gateway 10.0.0.7
    ping(src, '192.168.5.10', 3); // forwarded, via 10.0.0.7
    ping(src, '10.0.0.9', 1); // forwarded, on-link: the next hop is the destination
    ping(ns, '172.31.0.2', 1); // not through the tunnel: not counted
    const byHop = new Map((await taps.usage())!.map((e) => [e.nextHop, e]));
    assert.deepEqual([...byHop.keys()].sort(), ['10.0.0.7', '10.0.0.9']);
    assert.equal(byHop.get('10.0.0.7')!.packets, 5);
    assert.equal(byHop.get('10.0.0.7')!.bytes, 5 * 84);
    assert.equal(byHop.get('10.0.0.9')!.packets, 1);
    const exp = byHop.get('10.0.0.9')!.expiresS!;
    assert.ok(exp > TX_SET_TIMEOUT_S - 60 && exp <= TX_SET_TIMEOUT_S, `expires in ${exp} s`);

    // The rule gone (the chain flushed): the table is incomplete, and ensure() brings it back.
    nsExec(ns, ['nft', 'flush', 'chain', 'ip', 'dmvpnd_Tunnel0', 'postrouting']);
    assert.deepEqual([(await taps.status()).complete, (await taps.status()).txUsage], [false, false]);
    assert.equal(await taps.ensure(), true);
    assert.deepEqual(await taps.usage(), [], 'a new table: a new, empty set');
    await taps.remove();
    assert.equal(await taps.usage(), undefined);
  } finally {
    spawnSync('ip', ['netns', 'del', src]);
    spawnSync('ip', ['netns', 'del', ns]);
  }
});

test('nftables: output is bounded, more generously for the usage set (a full set is megabytes of JSON)', async () => {
  const big = ['sh', '-c', 'head -c 3000000 /dev/zero | tr "\\0" x'];
  const capped = await runNft(big, [], '', [], 'reading', 10_000);
  assert.ok(capped.length >= 1 << 20 && capped.length < (1 << 20) + (1 << 17), `1 MiB by default (${capped.length})`);
  assert.equal((await runNft(big, [], '', [], 'reading', 10_000, 16 << 20)).length, 3_000_000);
});
