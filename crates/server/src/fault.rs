//! `ServiceError`: why the service (everything below the routes: writes, the scheduler, the
//! relayer, exports) refused or failed, in its own terms. Each refusal has a [`Reason`] and the
//! API's stable `code`; only the routes turn it into an HTTP status (`crate::error`).

use plumbline_core::Error as CoreError;
use plumbline_core::assign::AssignError;
use plumbline_core::lifecycle::LifecycleError;
use plumbline_core::task::TaskError;
use plumbline_store::StoreError;

/// What kind of refusal an error is, for whoever answers the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The request is malformed.
    BadRequest,
    /// No valid session.
    Unauthorized,
    /// The caller may not do this.
    Forbidden,
    /// No such thing.
    NotFound,
    /// The state does not allow it now.
    Conflict,
    /// Well-formed, but breaks a rule.
    Invalid,
    /// The caller sent too much, too fast.
    RateLimited,
    /// Another process moved the state this one decided from: retry.
    Stale,
    /// The chain did not answer, or answered what the server cannot reconcile.
    Chain,
    /// A failure inside the server, not the caller's doing.
    Internal,
}

/// Why an operation of the service was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The core refused it: a protocol rule.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The store refused it, or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The service refused it.
    #[error("{message}")]
    Refused {
        /// Its kind.
        reason: Reason,
        /// The API's stable code.
        code: &'static str,
        /// What went wrong, for people.
        message: String,
    },
    /// It failed inside the server: logged where it is answered, never shown to a caller.
    #[error("{0}")]
    Internal(String),
}

/// The service's result type.
pub type ServiceResult<T> = Result<T, ServiceError>;

impl From<TaskError> for ServiceError {
    fn from(e: TaskError) -> ServiceError {
        ServiceError::new(Reason::Invalid, "invalid_tasks", e.to_string())
    }
}

impl ServiceError {
    /// A refusal with its reason, code and message.
    pub fn new(reason: Reason, code: &'static str, message: impl Into<String>) -> ServiceError {
        ServiceError::Refused { reason, code, message: message.into() }
    }

    /// The request is malformed.
    pub fn bad_request(message: impl Into<String>) -> ServiceError {
        ServiceError::new(Reason::BadRequest, "bad_request", message)
    }

    /// No valid session.
    pub fn unauthorized(message: impl Into<String>) -> ServiceError {
        ServiceError::new(Reason::Unauthorized, "unauthorized", message)
    }

    /// Signed in, but not allowed.
    pub fn forbidden(message: impl Into<String>) -> ServiceError {
        ServiceError::new(Reason::Forbidden, "forbidden", message)
    }

    /// No such thing.
    pub fn not_found(message: impl Into<String>) -> ServiceError {
        ServiceError::new(Reason::NotFound, "not_found", message)
    }

    /// The state does not allow it now.
    pub fn conflict(message: impl Into<String>) -> ServiceError {
        ServiceError::new(Reason::Conflict, "conflict", message)
    }

    /// Well-formed, but breaks a rule.
    pub fn invalid(message: impl Into<String>) -> ServiceError {
        ServiceError::new(Reason::Invalid, "invalid", message)
    }

    /// A failure inside the server.
    pub fn internal(cause: impl std::fmt::Display) -> ServiceError {
        ServiceError::Internal(cause.to_string())
    }

    /// Its kind and the API's code.
    pub fn kind(&self) -> (Reason, &'static str) {
        match self {
            ServiceError::Core(e) => core_kind(e),
            ServiceError::Store(e) => match e {
                StoreError::NotFound(_) => (Reason::NotFound, "not_found"),
                StoreError::Conflict(_) => (Reason::Conflict, "conflict"),
                StoreError::InsufficientFunds { .. } => (Reason::Conflict, "insufficient_funds"),
                StoreError::Stale(_) => (Reason::Stale, "stale"),
                StoreError::Corrupt(_) | StoreError::Database(_) => (Reason::Internal, "internal"),
            },
            ServiceError::Refused { reason, code, .. } => (*reason, code),
            ServiceError::Internal(_) => (Reason::Internal, "internal"),
        }
    }

    /// Whether another process moved the state this was decided from, so that deciding again
    /// may succeed.
    pub fn is_stale(&self) -> bool {
        self.kind().0 == Reason::Stale
    }

    /// The same error again, for each request of a group that failed as a whole.
    pub fn copy(&self) -> ServiceError {
        match self.kind() {
            (Reason::Internal, _) => ServiceError::Internal(self.to_string()),
            (reason, code) => ServiceError::new(reason, code, self.to_string()),
        }
    }
}

/// The kind and code of each protocol refusal.
fn core_kind(e: &CoreError) -> (Reason, &'static str) {
    use Reason as R;
    match e {
        CoreError::Spec(_) => (R::Invalid, "invalid_spec"),
        CoreError::Label(_) => (R::Invalid, "invalid_label"),
        CoreError::Task(_) => (R::Invalid, "invalid_tasks"),
        CoreError::Merkle(_) => (R::Invalid, "invalid_labels"),
        CoreError::Lifecycle(LifecycleError::WrongPhase { .. }) => (R::Conflict, "wrong_phase"),
        CoreError::Lifecycle(LifecycleError::Timing { .. }) => (R::Conflict, "deadline"),
        CoreError::Lifecycle(LifecycleError::NotReady { .. }) => (R::Conflict, "not_ready"),
        CoreError::Assign(
            AssignError::CohortRequired(_) | AssignError::UnknownCohort(_) | AssignError::NoCohorts,
        ) => (R::Invalid, "invalid_cohort"),
        CoreError::Assign(_) => (R::Conflict, "no_batch"),
        CoreError::Signature(_) => (R::Forbidden, "bad_signature"),
        CoreError::WrongSigner { .. } => (R::Forbidden, "wrong_signer"),
        CoreError::UnknownBatch(_) => (R::NotFound, "not_found"),
        CoreError::Mismatch { field: "nonce", .. } => (R::Conflict, "nonce"),
        CoreError::Mismatch { .. } => (R::Invalid, "mismatch"),
        CoreError::Ineligible => (R::Forbidden, "ineligible"),
        CoreError::NotQualified(_) => (R::Forbidden, "not_qualified"),
        CoreError::Conflict { .. } => (R::Conflict, "conflict"),
        CoreError::NotCommitted(_) => (R::Conflict, "not_committed"),
        CoreError::NotAllCommitted { .. } => (R::Conflict, "not_all_committed"),
        CoreError::Reveal { .. } => (R::Invalid, "reveal_mismatch"),
        // Only the contract's positions, read by the server, name unbacked batches.
        CoreError::Unbacked(_) => (R::Chain, "chain_inconsistent"),
    }
}

/// A failure to talk to the chain, or a transaction it refused: not the caller's fault.
pub(crate) fn chain_failed(error: plumbline_chain::Error) -> ServiceError {
    tracing::warn!(error = %error, "chain call failed");
    ServiceError::new(Reason::Chain, "chain_unavailable", format!("the chain: {error}"))
}
