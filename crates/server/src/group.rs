//! The commits and reveals waiting for their experiment's next group write (see `service`):
//! the queue the live state holds, apart from the service that drains it.

use crate::fault::ServiceResult;
use plumbline_core::client::{SignedCommit, SignedReveal};
use plumbline_core::experiment::{Accepted, Recovered};
use tokio::sync::oneshot;

/// A commit or reveal waiting for its experiment's next group write.
pub(crate) struct Pending {
    pub(crate) append: Append,
    pub(crate) now: u64,
    pub(crate) answer: oneshot::Sender<ServiceResult<Accepted>>,
}

/// A commit or reveal as it waits.
pub(crate) enum Append {
    Commit {
        batch_id: u64,
        commit: SignedCommit,
        backup: Option<String>,
        sealed_reveal: Option<String>,
        /// Recovered before queueing when the experiment's domain was known.
        signer: Option<Recovered>,
    },
    Reveal {
        batch_id: u64,
        reveal: SignedReveal,
        signer: Option<Recovered>,
    },
}

impl Append {
    pub(crate) fn action(&self) -> &'static str {
        match self {
            Append::Commit { .. } => "commit",
            Append::Reveal { .. } => "reveal",
        }
    }
}
