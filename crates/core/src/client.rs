//! The labeler's side of the protocol: everything a client signs and computes, from its key
//! alone. Pure, so the CLI's programmatic labeler, the simulator and the tests share it.

use crate::eip712::{self, Commit, Join, Reveal, SIGNATURE_LEN};
use crate::label::Label;
use crate::merkle::{self, MerkleError};
use crate::{Address, Amount, B256, U256};
use alloy_sol_types::Eip712Domain;
use k256::ecdsa::SigningKey;
use serde::{Deserialize, Serialize};

/// How long a client's signed join stays valid, from the server's clock when it signs: long
/// enough for a slow network, short enough that a join that went astray is not accepted when
/// the labeler no longer means it.
pub const JOIN_VALID_SECS: u64 = 600;

/// A signed request to join and lock a stake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedJoin {
    /// The labeler.
    pub labeler: Address,
    /// Its declared cohort, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cohort: Option<String>,
    /// The stake it agrees to lock.
    #[serde(with = "crate::amount")]
    pub stake: Amount,
    /// How many batches it joined in this experiment before.
    pub nonce: u64,
    /// The last unix second at which the join may be accepted.
    pub expires_at: u64,
    /// EIP-712 signature of the `Join` message.
    pub signature: alloy_primitives::Bytes,
}

/// A signed commitment to a batch's labels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCommit {
    /// The commitment.
    pub commitment: B256,
    /// EIP-712 signature of the `Commit` message.
    pub signature: alloy_primitives::Bytes,
}

/// A signed reveal: the labels and the salt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedReveal {
    /// Labels by position in the batch, in canonical response order.
    pub labels: Vec<RevealedLabel>,
    /// The commitment's salt.
    pub salt: B256,
    /// EIP-712 signature of the `Reveal` message.
    pub signature: alloy_primitives::Bytes,
}

/// One revealed label: the task's position in the labeler's batch and the label in canonical
/// response order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevealedLabel {
    /// The task's position in the batch as shown to the labeler (`Batch::tasks[task]` is its
    /// index in the experiment, which the labeler is never told).
    pub task: u32,
    /// The label.
    pub label: Label,
}

/// The root over a batch's labels: leaves `(uint64 position, bytes label)`.
pub fn labels_root(labels: &[RevealedLabel]) -> Result<B256, MerkleError> {
    let leaves: Vec<(u64, Vec<u8>)> =
        labels.iter().map(|l| (u64::from(l.task), l.label.encode())).collect();
    merkle::labels_root(&leaves)
}

/// A labeler's key and the messages it signs.
#[derive(Clone)]
pub struct LabelerKey {
    key: SigningKey,
    address: Address,
}

impl std::fmt::Debug for LabelerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        write!(f, "LabelerKey({})", self.address)
    }
}

impl LabelerKey {
    /// A key from its 32 secret bytes; `None` if they are not a valid secp256k1 scalar.
    pub fn from_bytes(secret: &[u8; 32]) -> Option<LabelerKey> {
        let key = SigningKey::from_slice(secret).ok()?;
        let address = eip712::address_of(&key);
        Some(LabelerKey { key, address })
    }

    /// A key derived from a seed and an index, for simulations and tests (never for money).
    pub fn derived(seed: u64, index: u64) -> LabelerKey {
        let mut counter = 0u64;
        loop {
            let mut input = [0u8; 24];
            input[..8].copy_from_slice(&seed.to_be_bytes());
            input[8..16].copy_from_slice(&index.to_be_bytes());
            input[16..].copy_from_slice(&counter.to_be_bytes());
            if let Some(key) = LabelerKey::from_bytes(&alloy_primitives::keccak256(input).0) {
                return key;
            }
            counter += 1;
        }
    }

    /// The secret bytes (for writing a key file).
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.key.to_bytes().into()
    }

    /// The same secret as a key reveals can be sealed to (`crate::seal`).
    pub fn sealing_key(&self) -> k256::SecretKey {
        k256::SecretKey::from(self.key.as_nonzero_scalar())
    }

    /// The address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Signs a personal message (EIP-191), as Sign-In with Ethereum asks.
    pub fn sign_personal(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        eip712::sign_hash(&self.key, eip712::personal_hash(message))
    }

    /// Signs a request to join `experiment_id` that never expires (for tests and simulations,
    /// whose clocks are their own); a client signs with [`LabelerKey::join_until`].
    pub fn join(
        &self,
        domain: &Eip712Domain,
        experiment_id: B256,
        cohort: Option<&str>,
        stake: Amount,
        nonce: u64,
    ) -> SignedJoin {
        self.join_until(domain, experiment_id, cohort, stake, nonce, u64::MAX)
    }

    /// Signs a request to join `experiment_id` that may be accepted until `expires_at` (unix
    /// seconds) and not after.
    pub fn join_until(
        &self,
        domain: &Eip712Domain,
        experiment_id: B256,
        cohort: Option<&str>,
        stake: Amount,
        nonce: u64,
        expires_at: u64,
    ) -> SignedJoin {
        let message = Join {
            experimentId: experiment_id,
            labeler: self.address,
            cohort: eip712::cohort_hash(cohort),
            stake: U256::from(stake),
            nonce,
            expiresAt: expires_at,
        };
        SignedJoin {
            labeler: self.address,
            cohort: cohort.map(str::to_owned),
            stake,
            nonce,
            expires_at,
            signature: eip712::sign_typed(&self.key, &message, domain).to_vec().into(),
        }
    }

    /// The salt of a batch, recomputed from the key.
    pub fn salt(&self, domain: &Eip712Domain, experiment_id: B256, batch_id: u64) -> B256 {
        eip712::salt_for(&self.key, domain, experiment_id, batch_id)
    }

    /// Commits to a batch's labels.
    pub fn commit(
        &self,
        domain: &Eip712Domain,
        experiment_id: B256,
        batch_id: u64,
        labels: &[RevealedLabel],
    ) -> Result<SignedCommit, MerkleError> {
        let root = labels_root(labels)?;
        let salt = self.salt(domain, experiment_id, batch_id);
        let commitment = eip712::commitment(experiment_id, batch_id, self.address, root, salt);
        let message = Commit { experimentId: experiment_id, batchId: batch_id, commitment };
        let signature = eip712::sign_typed(&self.key, &message, domain);
        Ok(SignedCommit { commitment, signature: signature.to_vec().into() })
    }

    /// Reveals a batch's labels.
    pub fn reveal(
        &self,
        domain: &Eip712Domain,
        experiment_id: B256,
        batch_id: u64,
        labels: Vec<RevealedLabel>,
    ) -> Result<SignedReveal, MerkleError> {
        let root = labels_root(&labels)?;
        let salt = self.salt(domain, experiment_id, batch_id);
        let message =
            Reveal { experimentId: experiment_id, batchId: batch_id, labelsRoot: root, salt };
        let signature: [u8; SIGNATURE_LEN] = eip712::sign_typed(&self.key, &message, domain);
        Ok(SignedReveal { labels, salt, signature: signature.to_vec().into() })
    }
}
