/**
 * Interop with a real IKEv2 implementation: strongSwan's charon in one network
 * namespace, our engine (udp-peer.ts on real UDP sockets) in another, a veth
 * pair between them, PSK authentication with IPv4 address identities and a
 * transport-mode GRE child SA, as a DMVPN spoke would negotiate.
 *
 *  - we initiate: IKE SA and child proposal agreed; charon then rekeys the IKE
 *    SA (we answer as responder, section 2.18) and deletes it (we see the Delete);
 *  - charon initiates: we answer IKE_SA_INIT and IKE_AUTH as responder.
 *
 * Where the kernel has no ESP (esp4 missing, as in many containers) charon
 * cannot install the child SA and answers the child with NO_PROPOSAL_CHOSEN
 * after selecting our proposal; the test then checks charon's log for the
 * proposal it selected. Every process and namespace is removed afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { needsTool, isRoot } from '../../support/tools.js';

const OURS = '10.99.0.1';
const CHARON = '10.99.0.2';
const PSK = 'cisco123';
const PEER_SCRIPT = resolve(dirname(fileURLToPath(import.meta.url)), 'udp-peer.js');

function options(): { skip?: string } {
  const tools = needsTool('swanctl', 'charon-systemd', 'ip');
  if (tools.skip) return tools;
  if (!isRoot()) return { skip: 'needs root for network namespaces' };
  return {};
}

function sh(cmd: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Lab {
  readonly dir: string;
  readonly nsOurs: string;
  readonly nsCharon: string;
  readonly uri: string;
  charon?: ChildProcess;
}

function setUp(proposal = 'aes256-sha512-ecp256'): Lab {
  const tag = `${process.pid}`;
  const lab: Lab = { dir: mkdtempSync(join(tmpdir(), 'ikev2-swan-')), nsOurs: `ikeo${tag}`, nsCharon: `ikec${tag}`, uri: '' };
  const uri = `unix://${lab.dir}/charon.vici`;
  Object.assign(lab, { uri });
  for (const cmd of [
    ['netns', 'add', lab.nsOurs], ['netns', 'add', lab.nsCharon],
    ['link', 'add', 'vo', 'netns', lab.nsOurs, 'type', 'veth', 'peer', 'name', 'vc', 'netns', lab.nsCharon],
    ['-n', lab.nsOurs, 'addr', 'add', `${OURS}/24`, 'dev', 'vo'], ['-n', lab.nsCharon, 'addr', 'add', `${CHARON}/24`, 'dev', 'vc'],
    ['-n', lab.nsOurs, 'link', 'set', 'vo', 'up'], ['-n', lab.nsCharon, 'link', 'set', 'vc', 'up'],
    ['-n', lab.nsOurs, 'link', 'set', 'lo', 'up'], ['-n', lab.nsCharon, 'link', 'set', 'lo', 'up'],
  ]) {
    const r = sh('ip', cmd);
    assert.equal(r.status, 0, `ip ${cmd.join(' ')}: ${r.stderr}`);
  }
  writeFileSync(join(lab.dir, 'strongswan.conf'), `charon {
  load_modular = yes
  install_routes = no
  install_virtual_ip = no
  plugins {
    include /etc/strongswan.d/charon/*.conf
    vici {
      socket = ${uri}
    }
  }
  filelog {
    log {
      path = ${lab.dir}/charon.log
      default = 1
      ike = 2
      cfg = 2
      flush_line = yes
    }
  }
}
`);
  writeFileSync(join(lab.dir, 'swanctl.conf'), `connections {
  dmvpn {
    version = 2
    local_addrs = ${CHARON}
    remote_addrs = ${OURS}
    proposals = ${proposal}
    dpd_delay = 5s
    local {
      auth = psk
      id = ${CHARON}
    }
    remote {
      auth = psk
      id = ${OURS}
    }
    children {
      gre {
        local_ts = ${CHARON}/32[gre]
        remote_ts = ${OURS}/32[gre]
        mode = transport
        esp_proposals = aes128-sha1
      }
    }
  }
}
secrets {
  ike-peer {
    id-1 = ${OURS}
    secret = ${PSK}
  }
}
`);
  lab.charon = spawn('ip', ['netns', 'exec', lab.nsCharon, 'charon-systemd'], { env: { ...process.env, STRONGSWAN_CONF: join(lab.dir, 'strongswan.conf') }, stdio: 'ignore' });
  return lab;
}

async function loadCharon(lab: Lab): Promise<void> {
  for (let i = 0; i < 50 && !existsSync(join(lab.dir, 'charon.vici')); i++) await sleep(100);
  const r = swanctl(lab, ['--load-all', '--file', join(lab.dir, 'swanctl.conf')]);
  assert.equal(r.status, 0, r.stderr + r.stdout);
}

function swanctl(lab: Lab, args: string[]): { status: number | null; stdout: string; stderr: string } {
  return sh('ip', ['netns', 'exec', lab.nsCharon, 'swanctl', ...args, '--uri', lab.uri]);
}

function tearDown(lab: Lab): void {
  if (lab.charon?.pid !== undefined && lab.charon.exitCode === null) lab.charon.kill('SIGTERM');
  sh('ip', ['netns', 'del', lab.nsOurs]);
  sh('ip', ['netns', 'del', lab.nsCharon]);
  rmSync(lab.dir, { recursive: true, force: true });
}

/** Run our engine in its namespace; resolves with its JSON action lines when it exits. */
function ours(lab: Lab, args: string[]): { done: Promise<Record<string, unknown>[]>; lines: () => Record<string, unknown>[]; proc: ChildProcess } {
  const proc = spawn('ip', ['netns', 'exec', lab.nsOurs, process.execPath, PEER_SCRIPT, '--local', OURS, '--peer', CHARON, '--psk', PSK, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  const parse = (): Record<string, unknown>[] => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const done = new Promise<Record<string, unknown>[]>((res) => proc.on('exit', () => res(parse())));
  return { done, lines: parse, proc };
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  for (let t = 0; t < ms && !cond(); t += 100) await sleep(100);
}

function childAgreed(lab: Lab, ourLines: Record<string, unknown>[]): void {
  const log = readFileSync(join(lab.dir, 'charon.log'), 'utf8');
  if (ourLines.some((l) => l.kind === 'child-up')) return;
  // No ESP in this kernel: charon agreed on our proposal and selectors, then could not install it.
  assert.match(log, /selected proposal: ESP:AES_CBC_128\/HMAC_SHA1_96\/NO_EXT_SEQ/);
  assert.match(log, /unable to add SAD entry/);
}

const SUITES = [
  { name: 'AES-CBC-256/SHA-512/ECP-256 (our default)', ours: 'default', charon: 'aes256-sha512-ecp256', shown: /AES_CBC-256\/HMAC_SHA2_512_256\/PRF_HMAC_SHA2_512\/ECP_256/ },
  { name: 'AES-GCM-256/X25519', ours: 'gcm', charon: 'aes256gcm16-prfsha256-x25519', shown: /AES_GCM_16-256\/PRF_HMAC_SHA2_256\/CURVE_25519/ },
];

for (const suite of SUITES) {
  test(`ikev2 strongSwan: our initiator brings an IKE SA up with charon (PSK, IPv4 IDs, ${suite.name}), charon rekeys and deletes it`, options(), async () => {
    const lab = setUp(suite.charon);
    const peer = { proc: undefined as ChildProcess | undefined };
    try {
      await loadCharon(lab);
      const run = ours(lab, ['--initiate', '--exit-on', 'never', '--timeout', '12000', '--proposal', suite.ours]);
      peer.proc = run.proc;
      await until(() => run.lines().some((l) => l.kind === 'ike-up'));
      const up = run.lines().find((l) => l.kind === 'ike-up');
      assert.ok(up, 'ike-up from our engine');
      let sas = swanctl(lab, ['--list-sas']).stdout;
      assert.match(sas, /dmvpn: #\d+, ESTABLISHED, IKEv2/);
      assert.ok(sas.includes(`${String(up.spiI)}_i`), `charon shows our SPI: ${sas}`);
      assert.match(sas, suite.shown);
      childAgreed(lab, run.lines());
      // charon rekeys the IKE SA: we answer as responder and keep going without an ike-down.
      const rk = swanctl(lab, ['--rekey', '--ike', 'dmvpn']);
      assert.equal(rk.status, 0, rk.stderr);
      await until(() => run.lines().some((l) => typeof l.msg === 'string' && l.msg.includes('created by rekeying')));
      await sleep(500);
      sas = swanctl(lab, ['--list-sas']).stdout;
      assert.match(sas, /ESTABLISHED/);
      assert.ok(!sas.includes(`${String(up.spiI)}_i`), 'a new IKE SA with new SPIs');
      assert.equal(run.lines().filter((l) => l.kind === 'ike-down').length, 0);
      // charon deletes it: we see the Delete.
      swanctl(lab, ['--terminate', '--ike', 'dmvpn']);
      await until(() => run.lines().some((l) => l.kind === 'ike-down'));
      const down = run.lines().find((l) => l.kind === 'ike-down');
      assert.equal(down?.reason, 'deleted by peer');
      run.proc.kill('SIGTERM');
      await run.done;
    } finally {
      if (peer.proc && peer.proc.exitCode === null) peer.proc.kill('SIGKILL');
      tearDown(lab);
    }
  });
}

test('ikev2 strongSwan: charon initiates and our responder completes IKE_SA_INIT and IKE_AUTH', options(), async () => {
  const lab = setUp();
  const peer = { proc: undefined as ChildProcess | undefined };
  try {
    await loadCharon(lab);
    const run = ours(lab, ['--exit-on', 'never', '--timeout', '8000']);
    peer.proc = run.proc;
    await sleep(300);
    swanctl(lab, ['--initiate', '--child', 'gre', '--timeout', '5']);
    await until(() => run.lines().some((l) => l.kind === 'ike-up'));
    const up = run.lines().find((l) => l.kind === 'ike-up');
    assert.ok(up, 'ike-up from our responder');
    assert.equal(up.initiator, false);
    const sas = swanctl(lab, ['--list-sas']).stdout;
    assert.match(sas, /dmvpn: #\d+, ESTABLISHED, IKEv2/);
    assert.ok(sas.includes(`${String(up.spiR)}_r`), `charon shows our SPI as responder: ${sas}`);
    const log = readFileSync(join(lab.dir, 'charon.log'), 'utf8');
    assert.match(log, /authentication of '10\.99\.0\.1' with pre-shared key successful/);
    childAgreed(lab, run.lines());
    run.proc.kill('SIGTERM');
    await run.done;
  } finally {
    if (peer.proc && peer.proc.exitCode === null) peer.proc.kill('SIGKILL');
    tearDown(lab);
  }
});
