/**
 * Proposal selection, keyring lookup and traffic selector narrowing, without
 * the state machine around them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ikeConfig, lookupKeyring, offerIkeProposals, offerEspProposals, selectIkeProposal, selectEspProposal, acceptIkeChoice, acceptEspChoice,
  DEFAULT_IKE_PROPOSAL,
} from '../../../protocols/ikev2/policy.js';
import { narrowSelectors, acceptSelectors, offerSelectors, compareBytes, lowestNonce, rekeyTime } from '../../../protocols/ikev2/child.js';
import { ikeProposal, espProposal, ipv4Selector, proposalAlgorithms, EncrId, IntegId, PrfId, DhGroup, EsnId } from '../../../protocols/ikev2/wire.js';
import { seededRandom } from './sim.js';

const cfg = ikeConfig({
  localAddress: '198.51.100.1',
  keyring: [
    { address: '0.0.0.0', prefixLength: 0, psk: 'any' },
    { address: '192.0.2.0', prefixLength: 24, psk: 'lan' },
    { address: '192.0.2.10', prefixLength: 32, pskLocal: 'mine', pskRemote: 'theirs' },
  ],
});

test('ikev2 policy: the keyring picks the longest matching address/mask, as IOS does', () => {
  assert.equal(lookupKeyring(cfg, '192.0.2.10')?.pskRemote, 'theirs');
  assert.equal(lookupKeyring(cfg, '192.0.2.11')?.psk, 'lan');
  assert.equal(lookupKeyring(cfg, '203.0.113.1')?.psk, 'any');
  assert.equal(lookupKeyring(ikeConfig({ localAddress: '198.51.100.1', keyring: [] }), '192.0.2.1'), undefined);
  assert.equal(lookupKeyring(cfg, '2001:db8::1'), undefined, 'an IPv6 peer matches no IPv4 entry and does not throw');
});

test('ikev2 policy: the responder takes the KE group when it can, else asks for one with INVALID_KE_PAYLOAD', () => {
  const offer = [ikeProposal({ encr: EncrId.ENCR_AES_CBC, keyLength: 256, prf: PrfId.PRF_HMAC_SHA2_384, integ: IntegId.AUTH_HMAC_SHA2_384_192, dh: DhGroup.ECP_521 })];
  const sel = selectIkeProposal(cfg, offer, DhGroup.ECP_521);
  assert.ok(sel.ok);
  assert.deepEqual(proposalAlgorithms(sel.proposal), {
    encr: [{ id: EncrId.ENCR_AES_CBC, keyLength: 256 }], prf: [PrfId.PRF_HMAC_SHA2_384], integ: [IntegId.AUTH_HMAC_SHA2_384_192], dh: [DhGroup.ECP_521], esn: [],
  });
  assert.equal(sel.weak, false);
  const two = [{ ...offer[0], transforms: [...offer[0].transforms, ...ikeProposal({ encr: 12, dh: DhGroup.ECP_256 }).transforms.slice(1)] }];
  assert.deepEqual(selectIkeProposal(cfg, two, DhGroup.MODP_3072), { ok: false, invalidKe: DhGroup.ECP_521 });
  // Nothing in common.
  const des = [ikeProposal({ encr: EncrId.ENCR_3DES, prf: PrfId.PRF_HMAC_SHA1, integ: IntegId.AUTH_HMAC_SHA1_96, dh: DhGroup.MODP_2048 })];
  assert.deepEqual(selectIkeProposal(cfg, des, DhGroup.MODP_2048), { ok: false });
  // A weak group only when the peer offers nothing else, and flagged.
  const weak = [ikeProposal({ encr: EncrId.ENCR_AES_CBC, keyLength: 256, prf: PrfId.PRF_HMAC_SHA2_512, integ: IntegId.AUTH_HMAC_SHA2_512_256, dh: DhGroup.MODP_1536 })];
  const w = selectIkeProposal(cfg, weak, DhGroup.MODP_1536);
  assert.ok(w.ok && w.weak);
  assert.deepEqual(selectIkeProposal({ ...cfg, allowWeakDh: false }, weak, DhGroup.MODP_1536), { ok: false });
});

test('ikev2 policy: AES-GCM proposals carry no integrity transform, and one that adds one to an AEAD-only offer is refused', () => {
  const gcmCfg = { ...cfg, proposals: [{ encr: [{ id: EncrId.ENCR_AES_GCM_16, keyLength: 128 }], integ: [], prf: [PrfId.PRF_HMAC_SHA2_256], dh: [DhGroup.ECP_256] }] };
  const ours = offerIkeProposals(gcmCfg);
  assert.deepEqual(proposalAlgorithms(ours[0]).integ, []);
  const sel = selectIkeProposal(gcmCfg, ours, DhGroup.ECP_256);
  assert.ok(sel.ok);
  assert.equal(sel.suite.integ, undefined);
  assert.ok(acceptIkeChoice([sel.proposal], ours));
  const withInteg = [ikeProposal({ encr: EncrId.ENCR_AES_GCM_16, keyLength: 128, prf: PrfId.PRF_HMAC_SHA2_256, integ: IntegId.AUTH_HMAC_SHA1_96, dh: DhGroup.ECP_256 })];
  assert.deepEqual(selectIkeProposal(gcmCfg, withInteg, DhGroup.ECP_256), { ok: false });
});

test('ikev2 policy: the initiator accepts only one transform per type from what it offered', () => {
  const ours = offerIkeProposals(cfg);
  const sel = selectIkeProposal(cfg, ours, DhGroup.ECP_256);
  assert.ok(sel.ok);
  assert.ok(acceptIkeChoice([sel.proposal], ours));
  assert.equal(acceptIkeChoice(ours, ours), undefined, 'the whole offer echoed back is not a choice');
  const other = ikeProposal({ encr: EncrId.ENCR_AES_CBC, keyLength: 128, prf: PrfId.PRF_HMAC_SHA1, integ: IntegId.AUTH_HMAC_SHA1_96, dh: DhGroup.ECP_256 });
  assert.equal(acceptIkeChoice([other], ours), undefined, 'not something we offered');
  assert.equal(acceptIkeChoice([{ ...sel.proposal, number: 9 }], ours), undefined, 'no such proposal number');
  assert.deepEqual(proposalAlgorithms(ours[0]), {
    encr: [{ id: EncrId.ENCR_AES_CBC, keyLength: 256 }], prf: DEFAULT_IKE_PROPOSAL.prf, integ: DEFAULT_IKE_PROPOSAL.integ, dh: DEFAULT_IKE_PROPOSAL.dh, esn: [],
  });
});

test('ikev2 policy: ESP selection: transform sets in order, no ESN, PFS group rules, SPI below 256 refused', () => {
  const offer = offerEspProposals(cfg, 0x11223344);
  const sel = selectEspProposal(cfg, offer, 0x55667788, { exchange: 'auth' });
  assert.ok(sel.ok);
  assert.equal(sel.peerSpi, 0x11223344);
  assert.deepEqual([...sel.proposal.spi], [0x55, 0x66, 0x77, 0x88]);
  assert.ok(acceptEspChoice([sel.proposal], offer));
  const esnOnly = [espProposal({ encr: EncrId.ENCR_AES_CBC, keyLength: 128, integ: IntegId.AUTH_HMAC_SHA1_96, esn: EsnId.ESN }, 0x11223344)];
  assert.deepEqual(selectEspProposal(cfg, esnOnly, 1000, { exchange: 'auth' }), { ok: false });
  assert.deepEqual(selectEspProposal(cfg, offerEspProposals(cfg, 7), 1000, { exchange: 'auth' }), { ok: false });
  // PFS: the KE group must be in the proposal; a required group without KE is refused.
  const pfs = offerEspProposals(cfg, 0x11223344, DhGroup.ECP_384);
  const p1 = selectEspProposal(cfg, pfs, 1000, { exchange: 'child', keGroup: DhGroup.ECP_384 });
  assert.ok(p1.ok && p1.suite.dh === DhGroup.ECP_384);
  const wants14 = { ...cfg, pfsGroup: DhGroup.MODP_2048 };
  assert.deepEqual(selectEspProposal(wants14, pfs, 1000, { exchange: 'child', keGroup: DhGroup.ECP_384 }), { ok: false });
  assert.deepEqual(selectEspProposal(wants14, offerEspProposals(cfg, 0x11223344), 1000, { exchange: 'child' }), { ok: false });
  const both = offerEspProposals(cfg, 0x11223344).map((p) => ({ ...p, transforms: [...p.transforms, ...offerEspProposals(cfg, 1, DhGroup.MODP_2048)[0].transforms.filter((t) => t.type === 4)] }));
  assert.deepEqual(selectEspProposal(wants14, both, 1000, { exchange: 'child', keGroup: DhGroup.ECP_256 }), { ok: false, invalidKe: DhGroup.MODP_2048 });
});

test('ikev2 policy: traffic selectors narrow to GRE between the two hosts, or are unacceptable', () => {
  const any = [ipv4Selector('0.0.0.0', '255.255.255.255', 0)];
  const n = narrowSelectors(any, any, ['192.0.2.10'], '198.51.100.1')!;
  assert.deepEqual(n.tsi, [ipv4Selector('192.0.2.10', '192.0.2.10', 47)]);
  assert.deepEqual(n.tsr, [ipv4Selector('198.51.100.1', '198.51.100.1', 47)]);
  assert.equal(narrowSelectors([ipv4Selector('192.0.2.10', '192.0.2.10', 6)], any, ['192.0.2.10'], '198.51.100.1'), undefined, 'TCP only');
  assert.equal(narrowSelectors(any, [ipv4Selector('10.0.0.0', '10.255.255.255', 47)], ['192.0.2.10'], '198.51.100.1'), undefined, 'not our address');
  assert.equal(narrowSelectors([ipv4Selector('192.0.2.10', '192.0.2.10', 47, 1, 2)], any, ['192.0.2.10'], '198.51.100.1'), undefined, 'a port range for GRE');
  // Behind a NAT the initiator names its private address (its ID).
  assert.equal(narrowSelectors([ipv4Selector('10.0.0.2', '10.0.0.2', 47)], any, ['203.0.113.7', '10.0.0.2'], '198.51.100.1')!.initiator, '10.0.0.2');
  const offer = offerSelectors('192.0.2.10', '198.51.100.1');
  assert.equal(acceptSelectors(offer, n.tsi, n.tsr), true);
  assert.equal(acceptSelectors(offer, [ipv4Selector('192.0.2.0', '192.0.2.255', 47)], n.tsr), false, 'wider than offered');
  assert.equal(acceptSelectors(offer, n.tsi, [ipv4Selector('198.51.100.1', '198.51.100.1', 0)]), false, 'any protocol is wider than GRE');
});

test('ikev2 policy: nonce order and rekey jitter', () => {
  assert.ok(compareBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 3)) < 0);
  assert.ok(compareBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 0)) < 0);
  assert.deepEqual([...lowestNonce(Uint8Array.of(9), Uint8Array.of(3))], [3]);
  const r = seededRandom(1);
  for (let i = 0; i < 50; i++) {
    const t = rekeyTime(0, 3600, r);
    assert.ok(t >= 3600 * 1000 * 0.85 && t <= 3600 * 1000 * 0.9, `${t}`);
  }
});
