// The browser's protocol code against the cross-implementation vectors that pin crates/core
// down (crates/core/tests/vectors, generated with viem and @openzeppelin/merkle-tree): label
// encodings, labels roots, EIP-712 signatures of all four messages, salts, commitments and the
// sign-in signature, and sealed reveals. The same functions run in the bundle the end-to-end test drives.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bytesToHex, hashTypedData, hexToString } from 'viem';
import {
  commitmentOf, encodeLabel, leavesRoot, saltFromSignature, typedData, labelsRoot, toCanonical, toShown,
  normalizeSignature, reputationScore, cohortHash, joinMessage, eligibilityScore, eligible,
} from '../src/protocol.js';
import { LocalSigner } from '../src/wallet.js';
import { seal, sealContext, sealReveal } from '../src/seal.js';

const here = dirname(fileURLToPath(import.meta.url));
const vectors = join(here, '..', '..', 'crates', 'core', 'tests', 'vectors');
const merkle = JSON.parse(readFileSync(join(vectors, 'merkle.json'), 'utf8'));
const eip712 = JSON.parse(readFileSync(join(vectors, 'eip712.json'), 'utf8'));
const seals = JSON.parse(readFileSync(join(vectors, 'seal.json'), 'utf8')).seals;

const experimentOf = domain => ({ chain_id: Number(domain.chain_id), verifying_contract: domain.verifying_contract });

// The generator's labels cycle through the core's encodings by position (tools/vectors).
function labelAt(i) {
  switch (i % 10) {
    case 2: return i - 10;
    case 4: return `rationale ${i}: response B is more factual and better sourced`;
    case 8: return [3, 0, 2, 1];
    case 9: return -i;
    default: return null;
  }
}

test('labels roots match OpenZeppelin StandardMerkleTree on every vector', () => {
  for (const tree of merkle.labels) {
    const leaves = tree.values.map(v => [v.task_index, v.label]);
    assert.equal(leavesRoot(leaves), tree.root, tree.name);
  }
});

test('label encodings are the bytes the core commits', () => {
  let checked = 0;
  for (const tree of merkle.labels) {
    // The two-value tree is written out by hand in the generator, not by position.
    if (tree.name === 'two') continue;
    tree.values.forEach((value, i) => {
      const label = labelAt(i);
      if (label === null || (tree.name === 'sixteen' && i === 9)) return;
      assert.equal(encodeLabel(label), value.label, `${tree.name}[${i}]`);
      checked += 1;
    });
  }
  assert.ok(checked >= 10, `checked ${checked} encodings`);
  const two = merkle.labels.find(t => t.name === 'two');
  assert.equal(labelsRoot([{ task: 1, label: -1 }, { task: 0, label: '' }]), two.root);
});

test('EIP-712 digests and signatures match viem and the core', async () => {
  for (const vector of eip712.typed) {
    const signer = new LocalSigner(vector.private_key);
    assert.equal(signer.address, vector.signer);
    const fields = typedData(experimentOf(vector.domain), vector.primary_type, {}).types[vector.primary_type];
    const message = {};
    for (const { name, type } of fields) {
      message[name] = type.startsWith('uint') ? BigInt(vector.message[name]) : vector.message[name];
    }
    const request = typedData(experimentOf(vector.domain), vector.primary_type, message);
    assert.equal(hashTypedData(request), vector.digest, vector.primary_type);
    assert.equal(await signer.signTypedData(request), vector.signature, vector.primary_type);
  }
});

test('a Join built from a cohort name signs as the core signs it', async () => {
  const vector = eip712.typed.find(v => v.primary_type === 'Join' && v.message.cohort !== `0x${'00'.repeat(32)}`);
  const signer = new LocalSigner(vector.private_key);
  const name = vector.message.cohort === cohortHash('region:EU') ? 'region:EU' : 'lang:de';
  const message = joinMessage(vector.message.experimentId, signer.address, name, vector.message.stake, vector.message.nonce, vector.message.expiresAt);
  const signature = await signer.signTypedData(typedData(experimentOf(vector.domain), 'Join', message));
  assert.equal(signature, vector.signature);
});

test('salts and commitments follow the core', async () => {
  for (const vector of eip712.salts) {
    const signer = new LocalSigner(vector.private_key);
    const request = typedData(experimentOf(vector.domain), 'Salt', {
      experimentId: vector.experiment_id, batchId: BigInt(vector.batch_id),
    });
    const signature = await signer.signTypedData(request);
    assert.equal(signature, vector.signature);
    assert.equal(saltFromSignature(signature), vector.salt);
  }
  for (const vector of eip712.commitments) {
    assert.equal(
      commitmentOf(vector.experiment_id, vector.batch_id, vector.labeler, vector.labels_root, vector.salt),
      vector.commitment,
    );
  }
});

test('a recovery byte of 0 or 1 gives the same salt as 27 or 28', () => {
  const signature = eip712.salts[0].signature;
  const v = parseInt(signature.slice(-2), 16);
  const lowered = `${signature.slice(0, -2)}${(v - 27).toString(16).padStart(2, '0')}`;
  assert.equal(normalizeSignature(lowered), signature);
  assert.equal(saltFromSignature(lowered), eip712.salts[0].salt);
});

test('the sign-in signature is the EIP-191 signature the server checks', async () => {
  const vector = eip712.personal[0];
  const signer = new LocalSigner(vector.private_key);
  assert.equal(await signer.signMessage(hexToString(vector.message)), vector.signature);
});

test('answers map back to the canonical response order', () => {
  assert.equal(toCanonical('pairwise', -2, [1, 0]), 2, 'a swapped pair flips the sign');
  assert.equal(toCanonical('pairwise', -2, [0, 1]), -2);
  assert.deepEqual(toCanonical('ranking', [0, 2, 1], [2, 0, 1]), [2, 1, 0]);
  assert.deepEqual(toShown('ranking', [2, 1, 0], [2, 0, 1]), [0, 2, 1]);
  assert.equal(toCanonical('rating', 4, []), 4);
});

test('reputation scores floor like the core', () => {
  assert.equal(reputationScore({ peer_sum: 1_500_000, peer_n: 3, gold_sum: 0, gold_n: 0 }, 0.5), 500_000);
  assert.equal(reputationScore({ peer_sum: -1, peer_n: 3, gold_sum: 0, gold_n: 0 }, 0.5), -1);
  assert.equal(reputationScore({ peer_sum: 0, peer_n: 0, gold_sum: 0, gold_n: 0 }, 0.5), null);
  assert.equal(reputationScore({ peer_sum: 600_000, peer_n: 2, gold_sum: 900_000, gold_n: 3 }, 0.5), 300_000);
  // Eligibility counts a batch not revealed as chance, as the core does.
  const tally = { peer_sum: 0, peer_n: 0, gold_sum: 300_000, gold_n: 1 };
  assert.equal(eligibilityScore({ batches: 2, non_reveals: 1, tally }, 0.5), 150_000);
  assert.equal(eligibilityScore({ batches: 1, non_reveals: 1, tally: { peer_sum: 0, peer_n: 0, gold_sum: 0, gold_n: 0 } }, 0.5), 0);
  assert.equal(eligibilityScore({ batches: 2, non_reveals: 1, tally: { ...tally, gold_sum: -400_000 } }, 0.5), -400_000);
  assert.equal(eligibilityScore(null, 0.5), null);
  const spec = { peer_weight: 0.5, eligibility: { reputation_min: 0.2 } };
  assert.equal(eligible({ batches: 2, non_reveals: 1, tally }, spec), false);
  assert.equal(eligible({ batches: 2, non_reveals: 0, tally }, spec), true);
  assert.equal(eligible(null, spec), true);
});

test('sealed reveals are the bytes the core opens', async () => {
  for (const v of seals) {
    const context = sealContext(v.experiment_id, v.batch_id, v.labeler);
    assert.equal(bytesToHex(context), v.context.toLowerCase());
    const options = { ephemeral: v.ephemeral_private_key, iv: v.iv };
    const sealed = await seal(v.operator_public_key, context, new TextEncoder().encode(v.plaintext), options);
    assert.equal(bytesToHex(sealed), v.sealed);
  }
  const v = seals[0];
  const reveal = JSON.parse(v.plaintext);
  const options = { ephemeral: v.ephemeral_private_key, iv: v.iv };
  assert.equal(await sealReveal(v.operator_public_key, v.experiment_id, v.batch_id, v.labeler, reveal, options), v.sealed);
  // Fresh randomness by default: two seals of the same reveal differ.
  const one = await sealReveal(v.operator_public_key, v.experiment_id, v.batch_id, v.labeler, reveal);
  const two = await sealReveal(v.operator_public_key, v.experiment_id, v.batch_id, v.labeler, reveal);
  assert.notEqual(one, two);
  assert.equal(one.length, two.length);
});
