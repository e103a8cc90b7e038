//! The crate's error: one variant per module that can refuse input.

use crate::assign::AssignError;
use crate::eip712::SignatureError;
use crate::label::LabelError;
use crate::lifecycle::LifecycleError;
use crate::merkle::MerkleError;
use crate::spec::SpecError;
use crate::task::TaskError;

/// Everything the core can refuse. Each variant carries a message fit for the user.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A spec breaks a rule.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A label does not fit its question.
    #[error(transparent)]
    Label(#[from] LabelError),
    /// A task file is rejected.
    #[error(transparent)]
    Task(#[from] TaskError),
    /// The lifecycle refuses an action now.
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// A join cannot be served.
    #[error(transparent)]
    Assign(#[from] AssignError),
    /// A Merkle tree cannot be built.
    #[error(transparent)]
    Merkle(#[from] MerkleError),
    /// A signature is malformed or does not recover.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// No batch has this id.
    #[error("batch {0} does not exist")]
    UnknownBatch(u64),
    /// A message was signed by someone other than the account it speaks for.
    #[error("the signature is by {signer}, not by {expected}")]
    WrongSigner {
        /// Who had to sign.
        expected: crate::Address,
        /// Who signed.
        signer: crate::Address,
    },
    /// A field of a request differs from what the experiment requires.
    #[error("`{field}` must be {expected}, got {got}")]
    Mismatch {
        /// The field.
        field: &'static str,
        /// The required value.
        expected: String,
        /// The value given.
        got: String,
    },
    /// The labeler's reputation is below the experiment's minimum.
    #[error("the labeler's reputation is below this experiment's minimum")]
    Ineligible,
    /// The experiment requires a qualification the labeler has not passed.
    #[error("{0}")]
    NotQualified(String),
    /// A repeat of an earlier request with different content.
    #[error("batch {batch_id}: a different {what} was already accepted")]
    Conflict {
        /// The batch.
        batch_id: u64,
        /// "commit" or "reveal".
        what: &'static str,
    },
    /// A reveal for a batch that was never committed.
    #[error("batch {0} was not committed, so it cannot be revealed")]
    NotCommitted(u64),
    /// Commits cannot close early while a joined batch is uncommitted: its labeler would be
    /// cut off.
    #[error("cannot close commits: {uncommitted} of {joined} joined batches are not committed yet")]
    NotAllCommitted {
        /// Joined batches without a commit.
        uncommitted: usize,
        /// Joined batches.
        joined: usize,
    },
    /// A list of unbacked batches (see [`crate::record::PublicRecord::unbacked`]) that the
    /// market contract could not have produced.
    #[error("unbacked batches: {0}")]
    Unbacked(String),
    /// A reveal does not match its batch or its commitment.
    #[error("batch {batch_id}: {reason}")]
    Reveal {
        /// The batch.
        batch_id: u64,
        /// What does not match.
        reason: String,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
