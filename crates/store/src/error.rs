//! The store's error.

use plumbline_core::Amount;

/// Why a store operation failed. The first five are answers about the data (a caller maps them
/// to client errors); `Database` is a failure of the store itself.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named thing does not exist.
    #[error("{0} does not exist")]
    NotFound(String),
    /// The write conflicts with the stored state (wrong phase, already done).
    #[error("{0}")]
    Conflict(String),
    /// A ledger account cannot cover a transfer.
    #[error("insufficient balance: {account} has {available} available, {needed} needed")]
    InsufficientFunds {
        /// The ledger account debited.
        account: String,
        /// Its balance.
        available: Amount,
        /// The amount asked for.
        needed: Amount,
    },
    /// The write was decided from state that has since moved (another process appended to
    /// the log or settled): read again and decide again.
    #[error("stale: {0}")]
    Stale(String),
    /// Stored data does not decode or breaks an invariant: tampering or a bug.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(Box<dyn std::error::Error + Send + Sync>),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(Box::new(e))
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Database(Box::new(e))
    }
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
