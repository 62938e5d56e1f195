/**
 * `dmvpnctl decode` as an operator runs it (node bin/dmvpnctl.js): text and
 * JSON output, --all and --brief, and the exit statuses the README documents:
 * 0 file read (malformed packets are reported in line), 2 usage or a file that
 * is missing, unreadable, not a capture, or cut short, always one line on
 * stderr and never a stack trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writePcap } from '../../../daemon/capture/pcap.js';
import { IpProto } from '../../../protocols/ip/ipv4.js';
import { GreProto } from '../../../protocols/gre/wire.js';
import { makeRegistrationRequest } from '../../../protocols/nhrp/index.js';
import { sampleCapture, samplePackets, ipv4, gre, nhrpBytes } from '../../../scripts/demo.js';
import { projectRoot, needsVectors, vectorPath } from '../../support/vectors.js';

function dmvpnctl(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(projectRoot, 'bin', 'dmvpnctl.js'), ...args], { encoding: 'utf8', cwd: projectRoot });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'decode-cli-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One line, no stack trace ("    at fn (file:line)"). */
function assertOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${stderr}`);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(stderr, /^\s+at /m);
}

test('dmvpnctl decode: text output of the demo capture, summary lines and trees', () => {
  withDir((dir) => {
    const file = join(dir, 'sample.pcap');
    writeFileSync(file, sampleCapture());
    const r = dmvpnctl('decode', file);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    const summaries = r.stdout.split('\n').filter((l) => /^\d+ \d+\.\d{6} /.test(l));
    assert.equal(summaries.length, samplePackets().length);
    assert.equal(summaries[1], '2 0.002100 203.0.113.1 → 203.0.113.11 NHRP Registration Reply id=1 code=success');
    assert.match(r.stdout, /^ {2}Next Hop Resolution Protocol \(Registration Request\)$/m);
    assert.match(r.stdout, /^ {6}Checksum: 0x[0-9a-f]{4} \[correct\]$/m);
    assert.match(r.stdout, /^ {8}Password: "Cisco123"$/m);
    assert.match(r.stdout, /Payload: VENDOR_ID: CISCO-GRE-MODE \(02\)/);
    const brief = dmvpnctl('decode', '--brief', file);
    assert.deepEqual(brief.stdout.trimEnd().split('\n'), summaries);
  });
});

test('dmvpnctl decode --json: one JSON object per line, every field named', () => {
  withDir((dir) => {
    const file = join(dir, 'sample.pcap');
    writeFileSync(file, sampleCapture({ key: 42 }));
    const r = dmvpnctl('decode', file, '--json');
    assert.equal(r.status, 0, r.stderr);
    const objs = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(objs.length, samplePackets().length);
    const reply = objs[1] as { protocol: string; info: string; layers: Record<string, unknown>[] };
    assert.equal(reply.protocol, 'NHRP');
    const greLayer = reply.layers.find((l) => l.layer === 'gre') as { key: number; protocolTypeName: string };
    assert.equal(greLayer.key, 42);
    assert.equal(greLayer.protocolTypeName, 'NHRP');
    const nhrp = reply.layers.find((l) => l.layer === 'nhrp') as {
      header: { typeName: string; checksumStatus: string };
      mandatory: { requestId: number; cies: { codeName: string; holdingTime: number; mtu: number }[] };
      extensions: { typeName: string }[];
    };
    assert.equal(nhrp.header.typeName, 'registration reply');
    assert.equal(nhrp.header.checksumStatus, 'correct');
    assert.equal(nhrp.mandatory.requestId, 1);
    assert.deepEqual(nhrp.mandatory.cies.map((c) => [c.codeName, c.holdingTime, c.mtu]), [['success', 450, 1400]]);
    assert.ok(nhrp.extensions.some((e) => e.typeName === 'authentication'));
    const init = objs[14] as { layers: { layer: string; spiI?: string; payloads?: { typeName: string; vendor?: string }[] }[] };
    const ike = init.layers.find((l) => l.layer === 'ikev2');
    assert.equal(ike?.spiI, '0x5a17c0de00000013', '64-bit SPIs are strings');
    assert.ok(ike?.payloads?.some((p) => p.vendor === 'CISCO-GRE-MODE (02)'));
    const esp = objs[18] as { layers: { layer: string; spi?: number; sequence?: number }[] };
    assert.deepEqual(esp.layers.find((l) => l.layer === 'esp'), { layer: 'esp', title: 'Encapsulating Security Payload, SPI: 0xc0de0013', spi: 0xc0de0013, sequence: 1, encryptedLength: 176 });
  });
});

test('dmvpnctl decode: only DMVPN packets unless --all', () => {
  withDir((dir) => {
    const file = join(dir, 'mixed.pcap');
    const tcp = ipv4('192.0.2.1', '192.0.2.2', IpProto.TCP, new Uint8Array(20));
    writeFileSync(file, writePcap([{ data: tcp }, { data: samplePackets()[0].data }]));
    const some = dmvpnctl('decode', '--brief', file);
    assert.equal(some.status, 0);
    assert.deepEqual(some.stdout.trimEnd().split('\n').map((l) => l.split(' ')[0]), ['2']);
    const all = dmvpnctl('decode', '--all', file);
    assert.equal(all.status, 0);
    assert.match(all.stdout, /^1 0\.000000 192\.0\.2\.1 → 192\.0\.2\.2 TCP not a DMVPN protocol: TCP$/m);
    assert.doesNotMatch(all.stdout, /Transmission Control/, 'non-DMVPN packets are one line');
  });
});

test('dmvpnctl decode: a malformed NHRP packet gets its line, decoding goes on, exit 0', () => {
  withDir((dir) => {
    const reg = makeRegistrationRequest({ srcNbma: '203.0.113.11', srcProto: '10.0.0.11', requestId: 5, nhsProto: '10.0.0.1' });
    const n = nhrpBytes(reg);
    n[14] = 0;
    n[15] = 19; // ar$extoff 19: inside the fixed header
    const bad = ipv4('203.0.113.11', '203.0.113.1', IpProto.GRE, gre(GreProto.NHRP, n));
    const file = join(dir, 'bad.pcap');
    writeFileSync(file, writePcap([{ data: bad }, { data: samplePackets()[0].data }]));
    const r = dmvpnctl('decode', file);
    assert.equal(r.status, 0, 'malformed packets do not change the exit status');
    assert.match(r.stdout, /^1 0\.000000 203\.0\.113\.11 → 203\.0\.113\.1 NHRP malformed: nhrp: ar\$extoff 19 is outside 20\.\.\d+ at offset 14$/m);
    assert.match(r.stdout, /^ {2}\[Malformed packet: nhrp: ar\$extoff 19 is outside 20\.\.\d+ at offset 14\]$/m);
    assert.match(r.stdout, /^2 1\.000000 203\.0\.113\.11 → 203\.0\.113\.1 NHRP Registration Request id=1 /m);
    const j = dmvpnctl('decode', '--json', file);
    const first = JSON.parse(j.stdout.split('\n')[0]) as { malformed: { protocol: string; offset: number } };
    assert.deepEqual({ protocol: first.malformed.protocol, offset: first.malformed.offset }, { protocol: 'nhrp', offset: 14 });
  });
});

test('dmvpnctl decode: missing, directory, garbage, empty and truncated files exit 2 with one line', () => {
  withDir((dir) => {
    const missing = dmvpnctl('decode', join(dir, 'nope.pcap'));
    assert.equal(missing.status, 2);
    assert.equal(missing.stdout, '');
    assertOneLine(missing.stderr, /^dmvpnctl decode: .*nope\.pcap: no such file \(not-found\)$/);

    writeFileSync(join(dir, 'plain'), 'x');
    const notDir = dmvpnctl('decode', join(dir, 'plain', 'x.pcap'));
    assert.equal(notDir.status, 2);
    assertOneLine(notDir.stderr, /a component of the path is not a directory \(not-found\)$/);

    mkdirSync(join(dir, 'sub'));
    const isDir = dmvpnctl('decode', join(dir, 'sub'));
    assert.equal(isDir.status, 2);
    assertOneLine(isDir.stderr, /is a directory, not a capture file \(is-a-directory\)$/);

    writeFileSync(join(dir, 'garbage.pcap'), 'GET / HTTP/1.1\r\nHost: example\r\n\r\n');
    const garbage = dmvpnctl('decode', join(dir, 'garbage.pcap'));
    assert.equal(garbage.status, 2);
    assertOneLine(garbage.stderr, /garbage\.pcap: unknown magic 0x[0-9a-f]{8}: not a pcap or pcapng file \(not-a-capture\)$/);

    writeFileSync(join(dir, 'empty.pcap'), '');
    const empty = dmvpnctl('decode', join(dir, 'empty.pcap'));
    assert.equal(empty.status, 2);
    assertOneLine(empty.stderr, /\(not-a-capture\)$/);

    // Cut inside the last packet: the packets before the cut are printed, then the error.
    const whole = sampleCapture();
    writeFileSync(join(dir, 'cut.pcap'), whole.subarray(0, whole.length - 30));
    const cut = dmvpnctl('decode', '--brief', join(dir, 'cut.pcap'));
    assert.equal(cut.status, 2);
    assert.equal(cut.stdout.trimEnd().split('\n').length, samplePackets().length - 1);
    assertOneLine(cut.stderr, /cut\.pcap: packet 21: \d+ bytes announced, \d+ present \(20 packets before the cut were decoded\) \(truncated\)$/);
  });
});

test('dmvpnctl decode: bad usage exits 2 with the usage text', () => {
  for (const args of [[], ['--json'], ['a.pcap', 'b.pcap'], ['--bogus', 'a.pcap']]) {
    const r = dmvpnctl('decode', ...args);
    assert.equal(r.status, 2, args.join(' '));
    assert.match(r.stderr, /^dmvpnctl decode: /);
    assert.match(r.stderr, /usage: dmvpnctl decode FILE \[--json\] \[--all\] \[--brief\]/);
    assert.equal(r.stdout, '');
  }
  const help = dmvpnctl('decode', '--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^usage: dmvpnctl decode FILE/);
});

test('dmvpnctl decode: a real Cisco capture', needsVectors, () => {
  const r = dmvpnctl('decode', '--brief', vectorPath('pcap', 'NHRP_registration.pcap'));
  assert.equal(r.status, 0);
  assert.deepEqual(r.stdout.trimEnd().split('\n'), [
    '1 0.000000 169.254.100.1 → 169.254.100.5 NHRP Registration Request id=1 155.1.0.1 → 155.1.0.5 nbma=169.254.100.1',
    '2 0.001895 169.254.100.5 → 169.254.100.1 NHRP Registration Reply id=1 code=success',
    '3 0.998648 169.254.100.1 → 169.254.100.5 NHRP Registration Request id=2 155.1.0.1 → 155.1.0.5 nbma=169.254.100.1',
    '4 0.999003 169.254.100.5 → 169.254.100.1 NHRP Registration Reply id=2 code=success',
  ]);
});
