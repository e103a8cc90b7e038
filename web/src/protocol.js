// The labeler's side of the protocol in the browser: EIP-712 messages, label encodings, the
// labels root, the commitment and the salt. Everything here must give the bytes that
// `crates/core` computes (see docs/protocol.md); `web/tests/protocol.test.mjs` checks it against
// the cross-implementation vectors in crates/core/tests/vectors, and the end-to-end test has the
// server verify every commit and reveal the browser makes.

import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import {
  bytesToHex,
  encodeAbiParameters,
  hexToBytes,
  keccak256,
  stringToHex,
  zeroHash,
} from 'viem';

export const DOMAIN_NAME = 'Plumbline';
export const DOMAIN_VERSION = '1';

// Field order and types are part of each type hash, so they are written exactly as the
// `sol!` structs in crates/core/src/eip712.rs declare them.
export const TYPES = {
  Join: [
    { name: 'experimentId', type: 'bytes32' },
    { name: 'labeler', type: 'address' },
    { name: 'cohort', type: 'bytes32' },
    { name: 'stake', type: 'uint256' },
    { name: 'nonce', type: 'uint64' },
    { name: 'expiresAt', type: 'uint64' },
  ],
  Commit: [
    { name: 'experimentId', type: 'bytes32' },
    { name: 'batchId', type: 'uint64' },
    { name: 'commitment', type: 'bytes32' },
  ],
  Salt: [
    { name: 'experimentId', type: 'bytes32' },
    { name: 'batchId', type: 'uint64' },
  ],
  Reveal: [
    { name: 'experimentId', type: 'bytes32' },
    { name: 'batchId', type: 'uint64' },
    { name: 'labelsRoot', type: 'bytes32' },
    { name: 'salt', type: 'bytes32' },
  ],
};

/** The EIP-712 domain an experiment's messages are signed in (`chain_id` and
 * `verifying_contract` come from the server's `EXPERIMENT`). */
export function domainOf(experiment) {
  return {
    name: DOMAIN_NAME,
    version: DOMAIN_VERSION,
    chainId: Number(experiment.chain_id),
    verifyingContract: experiment.verifying_contract,
  };
}

/** A typed-data request for one of the four messages, ready for `signTypedData`. */
export function typedData(experiment, primaryType, message) {
  return {
    domain: domainOf(experiment),
    types: { [primaryType]: TYPES[primaryType] },
    primaryType,
    message,
  };
}

/** The `cohort` field of a `Join`: keccak256 of the cohort's UTF-8 name, or zero. */
export function cohortHash(name) {
  return name == null || name === '' ? zeroHash : keccak256(stringToHex(name));
}

/** How long a signed join stays valid, from the server's clock (`JOIN_VALID_SECS` in
 * crates/core/src/client.rs). */
export const JOIN_VALID_SECS = 600;

/** The `Join` message, which the server may accept until `expiresAt` (unix seconds). */
export function joinMessage(experimentId, labeler, cohort, stake, nonce, expiresAt) {
  return {
    experimentId,
    labeler,
    cohort: cohortHash(cohort),
    stake: BigInt(stake),
    nonce: BigInt(nonce),
    expiresAt: BigInt(expiresAt),
  };
}

/** The bytes of a label as committed in its Merkle leaf: `abi.encode(int256(v))` for integer
 * labels, one byte per position for rankings, UTF-8 for text. */
export function encodeLabel(label) {
  if (typeof label === 'number' || typeof label === 'bigint') {
    return encodeAbiParameters([{ type: 'int256' }], [BigInt(label)]);
  }
  if (Array.isArray(label)) {
    for (const index of label) {
      if (!Number.isInteger(index) || index < 0 || index > 255) {
        throw new Error(`a ranking holds response indices 0..255, got ${index}`);
      }
    }
    return bytesToHex(Uint8Array.from(label));
  }
  if (typeof label === 'string') {
    return stringToHex(label);
  }
  throw new Error(`not a label: ${JSON.stringify(label)}`);
}

/** The root of an OpenZeppelin StandardMerkleTree over `(uint64 task, bytes label)` leaves
 * given as `[task, hexBytes]`. */
export function leavesRoot(leaves) {
  if (leaves.length === 0) {
    throw new Error('a batch without labels has no root');
  }
  return StandardMerkleTree.of(leaves.map(([task, bytes]) => [BigInt(task), bytes]), ['uint64', 'bytes']).root;
}

/** The labels root of a batch: `labels` is `[{task, label}]` with labels in canonical response
 * order. */
export function labelsRoot(labels) {
  return leavesRoot(labels.map(({ task, label }) => [task, encodeLabel(label)]));
}

/** `keccak256(abi.encode(experimentId, batchId, labeler, labelsRoot, salt))`. */
export function commitmentOf(experimentId, batchId, labeler, root, salt) {
  return keccak256(encodeAbiParameters(
    [{ type: 'bytes32' }, { type: 'uint64' }, { type: 'address' }, { type: 'bytes32' }, { type: 'bytes32' }],
    [experimentId, BigInt(batchId), labeler, root, salt],
  ));
}

/** A 65-byte signature with its recovery byte as 27 or 28. Wallets may answer with 0 or 1; the
 * salt is the hash of the signature's bytes, so it must not depend on which form came back. */
export function normalizeSignature(signature) {
  const bytes = hexToBytes(signature);
  if (bytes.length !== 65) {
    throw new Error(`a signature is 65 bytes, got ${bytes.length}`);
  }
  if (bytes[64] === 0 || bytes[64] === 1) {
    bytes[64] += 27;
  }
  return bytesToHex(bytes);
}

/** The salt of a batch from the signature of its `Salt` message. */
export function saltFromSignature(signature) {
  return keccak256(normalizeSignature(signature));
}

/** The canonical label of an answer given in the shown order. Pairwise: a swapped pair flips the
 * sign. Ranking: shown positions become canonical response indices. Other kinds are unchanged. */
export function toCanonical(kind, shownLabel, responseOrder) {
  if (kind === 'pairwise') {
    const swapped = responseOrder.length === 2 && responseOrder[0] === 1;
    return swapped ? -shownLabel : shownLabel;
  }
  if (kind === 'ranking') {
    return shownLabel.map(position => responseOrder[position]);
  }
  return shownLabel;
}

/** The inverse of `toCanonical`: a canonical label in the order a labeler was shown. */
export function toShown(kind, canonicalLabel, responseOrder) {
  if (kind === 'pairwise') {
    return toCanonical(kind, canonicalLabel, responseOrder);
  }
  if (kind === 'ranking') {
    return canonicalLabel.map(index => responseOrder.indexOf(index));
  }
  return canonicalLabel;
}

/** The combined reputation score at scale 10^6, as `Tally::score` computes it (floored), or
 * null without a scored item. `peerWeight` is the spec's fraction (0.5). */
export function reputationScore(tally, peerWeight) {
  if (!tally) return null;
  const peerN = BigInt(tally.peer_n);
  const goldN = BigInt(tally.gold_n);
  if (peerN + goldN === 0n) return null;
  const scale = 1_000_000n;
  let lambda;
  if (peerN > 0n && goldN > 0n) lambda = BigInt(Math.round(peerWeight * 1e6));
  else if (peerN > 0n) lambda = scale;
  else lambda = 0n;
  const pn = peerN > 0n ? peerN : 1n;
  const gn = goldN > 0n ? goldN : 1n;
  const numerator = lambda * BigInt(tally.peer_sum) * gn + (scale - lambda) * BigInt(tally.gold_sum) * pn;
  const denominator = scale * pn * gn;
  // Euclidean division, as Rust's div_euclid: the quotient is floored for a positive divisor.
  let quotient = numerator / denominator;
  if (numerator % denominator !== 0n && numerator < 0n) quotient -= 1n;
  return Number(quotient);
}

/** The score eligibility reads (`Reputation::eligibility_score`): null for a newcomer; a
 * batch not revealed counts as chance, diluting a positive score by the share revealed. */
export function eligibilityScore(reputation, peerWeight) {
  if (!reputation || Number(reputation.batches) === 0) return null;
  const score = BigInt(reputationScore(reputation.tally, peerWeight) ?? 0);
  const batches = BigInt(reputation.batches);
  const revealed = batches - BigInt(reputation.non_reveals);
  const product = score * revealed;
  // Floored like Rust's div_euclid for a positive divisor.
  let diluted = product / batches;
  if (product % batches !== 0n && product < 0n) diluted -= 1n;
  return Number(score < diluted ? score : diluted);
}

/** Whether a reputation record allows joining a spec (`Reputation::eligible`). */
export function eligible(reputation, spec) {
  const min = spec.eligibility?.reputation_min;
  if (min == null) return true;
  const score = eligibilityScore(reputation, spec.peer_weight);
  return score == null || score >= Math.round(min * 1e6);
}
