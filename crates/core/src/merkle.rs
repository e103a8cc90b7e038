//! Merkle trees that match OpenZeppelin's `StandardMerkleTree` bit for bit.
//!
//! Labels are committed as the root of a tree over `(uint64 position, bytes label)` leaves (the
//! task's position in the labeler's batch), and settlement publishes the root of a tree over
//! `(address account, uint256 amount)` leaves. Both
//! roots are checked by the contract with OpenZeppelin's `MerkleProof` and built by clients with
//! the npm package `@openzeppelin/merkle-tree`, so this module reproduces that package exactly:
//!
//! - a leaf is `keccak256(bytes.concat(keccak256(abi.encode(values...))))`; hashing twice keeps a
//!   64-byte leaf preimage from being mistaken for an internal node;
//! - an internal node is `keccak256` of its two children, smaller one first, so a proof needs no
//!   left/right flags;
//! - the tree is the array that `makeMerkleTree` builds: `2n - 1` nodes, the root at 0, the
//!   children of node `i` at `2i + 1` and `2i + 2`, and the leaves, sorted by hash, stored from the
//!   last slot backwards;
//! - a proof lists the siblings from the leaf up to (not including) the root, as `getProof` does.
//!
//! The cross-implementation vectors in `tests/vectors/merkle.json` pin all of this down.

use alloy_primitives::{Address, B256, Keccak256, U256, keccak256};

/// The most leaves one tree may hold.
///
/// A label batch or a payout list is far smaller; the limit keeps a malformed request from
/// allocating without bound (a full tree of this size takes 1 GiB of nodes), and it lets node
/// positions be stored as `u32`.
pub const LEAVES_MAX: usize = 1 << 24;

// Node positions are stored as `u32`, which the largest tree must fit.
const _: () = assert!(2 * LEAVES_MAX - 1 <= u32::MAX as usize);

/// Why a Merkle tree could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// The tree was given no leaves. OpenZeppelin's library refuses an empty tree as well, and
    /// there is no root that would commit to nothing.
    #[error("a Merkle tree needs at least one leaf")]
    NoLeaves,
    /// The tree was given more than [`LEAVES_MAX`] leaves.
    #[error("a Merkle tree holds at most {leaves_max} leaves, got {leaves}")]
    TooManyLeaves {
        /// How many leaves were given.
        leaves: usize,
        /// The limit, [`LEAVES_MAX`].
        leaves_max: usize,
    },
}

/// A Merkle tree laid out exactly as OpenZeppelin's `StandardMerkleTree` lays it out (with the
/// default `sortLeaves: true`), so that its root and proofs are byte-identical to the npm
/// package's and verify in the contract's `MerkleProof.verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandardMerkleTree {
    /// The `2n - 1` nodes: the root at 0, the children of node `i` at `2i + 1` and `2i + 2`, and
    /// the leaves in ascending hash order from the last slot backwards.
    nodes: Vec<B256>,
    /// For each value, in the order the leaves were given, the slot of its leaf in `nodes`.
    leaf_slots: Vec<u32>,
}

impl StandardMerkleTree {
    /// Builds the tree over leaf hashes given in value order (for example from [`label_leaf`] or
    /// [`payout_leaf`]). Proofs are later asked for by the same positions.
    pub fn from_leaves(leaves: Vec<B256>) -> Result<Self, MerkleError> {
        check_leaf_count(leaves.len())?;
        let leaf_count = leaves.len();
        let node_count = 2 * leaf_count - 1;

        // OpenZeppelin sorts the hashed values with JavaScript's stable sort, so equal leaves
        // keep their value order. Sorting (hash, value index) pairs gives the same order.
        let mut sorted: Vec<(B256, u32)> = leaves.iter().copied().zip(0u32..).collect();
        sorted.sort_unstable();

        // The caller's vector is reused as node storage to save one allocation.
        let mut nodes = leaves;
        nodes.clear();
        nodes.resize(node_count, B256::ZERO);
        let mut leaf_slots = vec![0u32; leaf_count];
        for (rank, &(leaf, value_index)) in sorted.iter().enumerate() {
            let slot = node_count - 1 - rank;
            nodes[slot] = leaf;
            leaf_slots[value_index as usize] = slot as u32;
        }
        for i in (0..node_count - leaf_count).rev() {
            nodes[i] = hash_pair(nodes[2 * i + 1], nodes[2 * i + 2]);
        }
        Ok(Self { nodes, leaf_slots })
    }

    /// The root, which commits to every leaf.
    pub fn root(&self) -> B256 {
        self.nodes[0]
    }

    /// The proof for the value at `value_index`, the position its leaf had in
    /// [`from_leaves`](Self::from_leaves): the sibling hashes from the leaf up to the root, the
    /// same list as OpenZeppelin's `tree.getProof(value_index)`. A single-leaf tree has an empty
    /// proof, because the leaf is the root.
    ///
    /// # Panics
    ///
    /// If `value_index >= self.len()`.
    pub fn proof(&self, value_index: usize) -> Vec<B256> {
        let mut slot = self.leaf_slots[value_index] as usize;
        // A node in slot `s` sits at depth floor(log2(s + 1)), which is the proof's length.
        let mut proof = Vec::with_capacity((slot + 1).ilog2() as usize);
        while slot > 0 {
            let sibling = if slot % 2 == 1 { slot + 1 } else { slot - 1 };
            proof.push(self.nodes[sibling]);
            slot = (slot - 1) / 2;
        }
        proof
    }

    /// How many leaves (values) the tree holds.
    pub fn len(&self) -> usize {
        self.leaf_slots.len()
    }

    /// Always false: a tree has at least one leaf.
    pub fn is_empty(&self) -> bool {
        self.leaf_slots.is_empty()
    }
}

/// Whether `proof` proves that `leaf` is in the tree with `root`, with the semantics of
/// OpenZeppelin's `MerkleProof.verify`: the leaf is hashed up with each proof element in turn,
/// each pair sorted, and the result is compared with the root.
pub fn verify(root: B256, leaf: B256, proof: &[B256]) -> bool {
    proof.iter().fold(leaf, |node, &sibling| hash_pair(node, sibling)) == root
}

/// The leaf for label `label` of the task at `task_index` in a batch: the standard leaf of the
/// value `(uint64 task_index, bytes label)`.
pub fn label_leaf(task_index: u64, label: &[u8]) -> B256 {
    // `abi.encode(uint64, bytes)` is the task index in one word, the offset of the bytes (two
    // words, 0x40), their length, and then the bytes padded with zeros to whole words. Streaming
    // it into the hasher saves copying the label.
    let mut head = [0u8; 96];
    head[24..32].copy_from_slice(&task_index.to_be_bytes());
    head[63] = 0x40;
    head[88..96].copy_from_slice(&(label.len() as u64).to_be_bytes());
    let padding = (32 - label.len() % 32) % 32;
    let mut hasher = Keccak256::new();
    hasher.update(head);
    hasher.update(label);
    hasher.update(&[0u8; 32][..padding]);
    keccak256(hasher.finalize())
}

/// The leaf for a payout of `amount` base units to `account`: the standard leaf of the value
/// `(address account, uint256 amount)`.
pub fn payout_leaf(account: Address, amount: U256) -> B256 {
    // `abi.encode(address, uint256)` is the address left-padded to a word, then the amount.
    let mut encoded = [0u8; 64];
    encoded[12..32].copy_from_slice(account.as_slice());
    encoded[32..].copy_from_slice(&amount.to_be_bytes::<32>());
    keccak256(keccak256(encoded))
}

/// The root over a batch's labels, given as `(task_index, label)` in the order the client holds
/// them; the same root as `StandardMerkleTree.of(labels, ["uint64", "bytes"]).root`.
pub fn labels_root(labels: &[(u64, Vec<u8>)]) -> Result<B256, MerkleError> {
    check_leaf_count(labels.len())?;
    let leaves = labels.iter().map(|(task_index, label)| label_leaf(*task_index, label)).collect();
    Ok(StandardMerkleTree::from_leaves(leaves)?.root())
}

/// The root over a settlement's payouts; the same root as
/// `StandardMerkleTree.of(payouts, ["address", "uint256"]).root`.
pub fn payouts_root(payouts: &[(Address, U256)]) -> Result<B256, MerkleError> {
    check_leaf_count(payouts.len())?;
    let leaves = payouts.iter().map(|&(account, amount)| payout_leaf(account, amount)).collect();
    Ok(StandardMerkleTree::from_leaves(leaves)?.root())
}

/// Checks the leaf count before any hashing, so that an oversized input fails at once.
fn check_leaf_count(leaves: usize) -> Result<(), MerkleError> {
    if leaves == 0 {
        return Err(MerkleError::NoLeaves);
    }
    if leaves > LEAVES_MAX {
        return Err(MerkleError::TooManyLeaves { leaves, leaves_max: LEAVES_MAX });
    }
    Ok(())
}

/// The parent of two nodes: `keccak256` of the smaller one followed by the larger one, as
/// OpenZeppelin's `Hashes.commutativeKeccak256` computes it. Byte order on 32-byte arrays is the
/// same as numeric order on the `bytes32` values.
fn hash_pair(a: B256, b: B256) -> B256 {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    let mut preimage = [0u8; 64];
    preimage[..32].copy_from_slice(low.as_slice());
    preimage[32..].copy_from_slice(high.as_slice());
    keccak256(preimage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::Bytes;
    use alloy_sol_types::SolValue;

    fn labels(count: usize) -> Vec<(u64, Vec<u8>)> {
        (0..count)
            .map(|i| {
                let label = vec![i as u8; i % 70];
                (i as u64 * 3 + 1, label)
            })
            .collect()
    }

    fn tree_of(labels: &[(u64, Vec<u8>)]) -> StandardMerkleTree {
        let leaves = labels.iter().map(|(t, l)| label_leaf(*t, l)).collect();
        StandardMerkleTree::from_leaves(leaves).unwrap()
    }

    #[test]
    fn label_leaf_matches_abi_encode_params() {
        for (task_index, label) in labels(70).into_iter().chain([(u64::MAX, vec![])]) {
            let encoded = (task_index, Bytes::from(label.clone())).abi_encode_params();
            assert_eq!(label_leaf(task_index, &label), keccak256(keccak256(encoded)));
        }
    }

    proptest::proptest! {
        // The label leaf encodes by hand to avoid copying the label; any length and content
        // must give the same bytes as the ABI encoder.
        #[test]
        fn label_leaf_matches_abi_encoder_for_any_label(
            task_index: u64,
            label in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
        ) {
            let encoded = (task_index, Bytes::from(label.clone())).abi_encode_params();
            proptest::prop_assert_eq!(label_leaf(task_index, &label), keccak256(keccak256(encoded)));
        }
    }

    #[test]
    fn payout_leaf_matches_abi_encode_params() {
        let account = Address::repeat_byte(0xab);
        for amount in [U256::ZERO, U256::from(1u64), U256::MAX, U256::from(u128::MAX)] {
            let encoded = (account, amount).abi_encode_params();
            assert_eq!(payout_leaf(account, amount), keccak256(keccak256(encoded)));
        }
    }

    #[test]
    fn single_leaf_tree_is_its_leaf() {
        let leaf = label_leaf(7, b"\x01");
        let tree = StandardMerkleTree::from_leaves(vec![leaf]).unwrap();
        assert_eq!(tree.root(), leaf);
        assert_eq!(tree.len(), 1);
        assert!(!tree.is_empty());
        assert!(tree.proof(0).is_empty());
        assert!(verify(tree.root(), leaf, &[]));
        assert!(!verify(tree.root(), label_leaf(7, b"\x02"), &[]));
    }

    #[test]
    fn every_proof_verifies_for_sizes_1_to_17() {
        for size in 1..=17 {
            let labels = labels(size);
            let tree = tree_of(&labels);
            assert_eq!(tree.len(), size);
            assert_eq!(labels_root(&labels).unwrap(), tree.root());
            for (i, (task_index, label)) in labels.iter().enumerate() {
                let proof = tree.proof(i);
                assert!(verify(tree.root(), label_leaf(*task_index, label), &proof), "{size} {i}");
            }
        }
    }

    #[test]
    fn tampered_proof_fails() {
        let labels = labels(9);
        let tree = tree_of(&labels);
        let leaf = label_leaf(labels[4].0, &labels[4].1);
        let proof = tree.proof(4);
        assert!(verify(tree.root(), leaf, &proof));
        for i in 0..proof.len() {
            let mut tampered = proof.clone();
            tampered[i].0[31] ^= 1;
            assert!(!verify(tree.root(), leaf, &tampered));
        }
        assert!(!verify(tree.root(), leaf, &proof[1..]));
        assert!(!verify(tree.root(), label_leaf(labels[4].0, b"other"), &proof));
        let other_leaf = label_leaf(labels[5].0, &labels[5].1);
        assert!(!verify(tree.root(), other_leaf, &proof));
    }

    #[test]
    fn root_does_not_depend_on_value_order() {
        // Leaves are sorted by hash before the tree is built, so the same set of labels gives
        // the same root in any order, while each proof still follows its value.
        let labels = labels(11);
        let mut reversed = labels.clone();
        reversed.reverse();
        assert_eq!(labels_root(&labels).unwrap(), labels_root(&reversed).unwrap());
        let tree = tree_of(&labels);
        let reversed_tree = tree_of(&reversed);
        assert_eq!(tree.proof(0), reversed_tree.proof(10));
    }

    #[test]
    fn duplicate_leaves_each_get_a_proof() {
        let leaf = payout_leaf(Address::repeat_byte(1), U256::from(5u64));
        let other = payout_leaf(Address::repeat_byte(2), U256::from(5u64));
        let tree = StandardMerkleTree::from_leaves(vec![leaf, other, leaf]).unwrap();
        assert_ne!(tree.proof(0), tree.proof(2));
        for i in 0..3 {
            let value = if i == 1 { other } else { leaf };
            assert!(verify(tree.root(), value, &tree.proof(i)));
        }
    }

    #[test]
    fn leaf_count_is_limited() {
        assert_eq!(StandardMerkleTree::from_leaves(vec![]), Err(MerkleError::NoLeaves));
        assert_eq!(labels_root(&[]), Err(MerkleError::NoLeaves));
        assert_eq!(payouts_root(&[]), Err(MerkleError::NoLeaves));
        // Building a tree past the limit would take gigabytes, so the shared check that every
        // constructor runs first is tested on its own.
        assert_eq!(check_leaf_count(LEAVES_MAX), Ok(()));
        assert_eq!(
            check_leaf_count(LEAVES_MAX + 1),
            Err(MerkleError::TooManyLeaves { leaves: LEAVES_MAX + 1, leaves_max: LEAVES_MAX })
        );
    }

    #[test]
    fn two_leaf_root_is_the_sorted_pair() {
        let a = payout_leaf(Address::repeat_byte(1), U256::from(1u64));
        let b = payout_leaf(Address::repeat_byte(2), U256::from(2u64));
        let (low, high) = if a < b { (a, b) } else { (b, a) };
        let expected = keccak256([low.as_slice(), high.as_slice()].concat());
        assert_eq!(payouts_root(&[(Address::repeat_byte(1), U256::from(1u64))]).unwrap(), a);
        let tree = StandardMerkleTree::from_leaves(vec![a, b]).unwrap();
        assert_eq!(tree.root(), expected);
        assert_eq!(tree.proof(0), vec![b]);
        assert_eq!(tree.proof(1), vec![a]);
    }
}
