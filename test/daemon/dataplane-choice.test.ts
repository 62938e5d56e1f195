/** `tunnel dataplane`: configured choices stand; absent, the kernel where ip_gre and nft are there. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseDataplane } from '../../daemon/dataplane-choice.js';
import { labConfig, labEnvOptions } from '../../scripts/lab/topology.js';

test('configured dataplanes are used whatever the kernel has', () => {
  assert.deepEqual(chooseDataplane('userspace', { ipGre: true, nft: true }), { kind: 'userspace', why: 'configured' });
  assert.deepEqual(chooseDataplane('kernel', { ipGre: false, nft: false }), { kind: 'kernel', why: 'configured' });
});

test('auto: kernel with ip_gre and nft, otherwise userspace with the reason', () => {
  assert.equal(chooseDataplane('auto', { ipGre: true, nft: true }).kind, 'kernel');
  const noGre = chooseDataplane('auto', { ipGre: false, nft: true });
  assert.equal(noGre.kind, 'userspace');
  assert.match(noGre.why, /no ip_gre/);
  const noNft = chooseDataplane('auto', { ipGre: true, nft: false });
  assert.equal(noNft.kind, 'userspace');
  assert.match(noNft.why, /nft/);
});

test('the lab takes its dataplane from DMVPN_LAB_DATAPLANE, and refuses anything else', () => {
  assert.deepEqual(labEnvOptions({}), {});
  assert.deepEqual(labEnvOptions({ DMVPN_LAB_DATAPLANE: 'kernel' }), { dataplane: 'kernel' });
  assert.throws(() => labEnvOptions({ DMVPN_LAB_DATAPLANE: 'kernal' }), /kernel or userspace/);
  assert.match(labConfig('hub', { dataplane: 'kernel' }), /^ tunnel dataplane kernel$/m);
  assert.doesNotMatch(labConfig('spoke1'), /tunnel dataplane/);
  assert.match(labConfig('spoke1', { ipsec: true, transformSet: 'esp-gcm 256', holdtime: 30 }), /crypto ipsec transform-set lab-ts esp-gcm 256\n mode transport[\s\S]* set transform-set lab-ts[\s\S]* ip nhrp holdtime 30$/m);
});
