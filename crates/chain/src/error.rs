//! The crate's error.

use alloy::primitives::{Address, B256};
use std::path::PathBuf;

/// What went wrong talking to the chain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The RPC URL does not parse.
    #[error("invalid RPC URL `{url}`: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The secret key is not a valid secp256k1 scalar.
    #[error("invalid secret key")]
    BadKey,
    /// The node could not be reached or answered with an error.
    #[error("RPC: {0}")]
    Rpc(#[from] alloy::transports::TransportError),
    /// A call or transaction was refused before it was mined; `reason` names the contract's
    /// custom error and its values when the revert carries one.
    #[error("{call}: {reason}")]
    Refused {
        /// The contract function.
        call: &'static str,
        /// The decoded revert, or the node's message.
        reason: String,
    },
    /// Waiting for a transaction's receipt failed.
    #[error("{call}: {source}")]
    Pending {
        /// The contract function.
        call: &'static str,
        /// The cause.
        source: alloy::providers::PendingTransactionError,
    },
    /// A transaction was mined but reverted.
    #[error("{call}: transaction {hash} reverted")]
    Reverted {
        /// The contract function.
        call: &'static str,
        /// The transaction.
        hash: B256,
    },
    /// A labeler's signature is not a 65-byte `r ‖ s ‖ v` signature.
    #[error("entry {index}: the signature is not a 65-byte signature with v in 0, 1, 27, 28")]
    BadSignature {
        /// The entry's position in the relay.
        index: usize,
    },
    /// The test token was asked for off a local chain.
    #[error("the test token is only for a local chain (31337), not chain {chain_id}; pass a token")]
    TestTokenOffLocal {
        /// The chain's id.
        chain_id: u64,
    },
    /// The settlement is not one that can be paid out as given.
    #[error("settlement: {0}")]
    Settlement(String),
    /// The labeler has no leaf in the settlement.
    #[error("{0} has no payout in the settlement")]
    NoPayout(Address),
    /// The anvil binary is not where it was looked for.
    #[error(
        "anvil not found at {}: run `bash contracts/ci.sh` (or `npm ci` in contracts/) to \
         install it, or set PLUMBLINE_ANVIL to an anvil binary",
        path.display()
    )]
    AnvilMissing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// Anvil did not start.
    #[error("anvil: {0}")]
    Anvil(String),
}

/// The crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
