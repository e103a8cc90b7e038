//! `AppError`: every refusal as JSON `{code, message}` with its status. Client errors say what
//! is wrong; internal errors are logged and answered with a generic message, so nothing about
//! the server's insides leaks.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use plumbline_core::Error as CoreError;
use plumbline_core::assign::AssignError;
use plumbline_core::lifecycle::LifecycleError;
use plumbline_store::StoreError;
use serde::Serialize;

/// An error answer.
#[derive(Debug)]
pub struct AppError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code.
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
}

/// The handlers' result type.
pub type AppResult<T> = Result<T, AppError>;

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
}

impl AppError {
    /// An error with a status, a code and a message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> AppError {
        AppError { status, code, message: message.into() }
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401: no valid session.
    pub fn unauthorized(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: signed in, but not allowed.
    pub fn forbidden(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404: no such thing.
    pub fn not_found(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409: the state does not allow it now.
    pub fn conflict(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 422: well-formed, but breaks a rule.
    pub fn invalid(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }

    /// 500: logged here with its cause; the client sees only that it failed.
    pub fn internal(cause: impl std::fmt::Display) -> AppError {
        tracing::error!(%cause, "internal error");
        AppError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log has the details",
        )
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = ErrorBody { code: self.code, message: &self.message };
        (self.status, Json(body)).into_response()
    }
}

impl From<CoreError> for AppError {
    fn from(e: CoreError) -> AppError {
        use StatusCode as S;
        let message = e.to_string();
        let (status, code) = match &e {
            CoreError::Spec(_) => (S::UNPROCESSABLE_ENTITY, "invalid_spec"),
            CoreError::Label(_) => (S::UNPROCESSABLE_ENTITY, "invalid_label"),
            CoreError::Task(_) => (S::UNPROCESSABLE_ENTITY, "invalid_tasks"),
            CoreError::Merkle(_) => (S::UNPROCESSABLE_ENTITY, "invalid_labels"),
            CoreError::Lifecycle(LifecycleError::WrongPhase { .. }) => (S::CONFLICT, "wrong_phase"),
            CoreError::Lifecycle(LifecycleError::Timing { .. }) => (S::CONFLICT, "deadline"),
            CoreError::Lifecycle(LifecycleError::NotReady { .. }) => (S::CONFLICT, "not_ready"),
            CoreError::Assign(
                AssignError::CohortRequired(_)
                | AssignError::UnknownCohort(_)
                | AssignError::NoCohorts,
            ) => (S::UNPROCESSABLE_ENTITY, "invalid_cohort"),
            CoreError::Assign(_) => (S::CONFLICT, "no_batch"),
            CoreError::Signature(_) => (S::FORBIDDEN, "bad_signature"),
            CoreError::WrongSigner { .. } => (S::FORBIDDEN, "wrong_signer"),
            CoreError::UnknownBatch(_) => (S::NOT_FOUND, "not_found"),
            CoreError::Mismatch { field: "nonce", .. } => (S::CONFLICT, "nonce"),
            CoreError::Mismatch { .. } => (S::UNPROCESSABLE_ENTITY, "mismatch"),
            CoreError::Ineligible => (S::FORBIDDEN, "ineligible"),
            CoreError::NotQualified(_) => (S::FORBIDDEN, "not_qualified"),
            CoreError::Conflict { .. } => (S::CONFLICT, "conflict"),
            CoreError::NotCommitted(_) => (S::CONFLICT, "not_committed"),
            CoreError::NotAllCommitted { .. } => (S::CONFLICT, "not_all_committed"),
            CoreError::Reveal { .. } => (S::UNPROCESSABLE_ENTITY, "reveal_mismatch"),
            // Only the contract's positions, read by the server, name unbacked batches.
            CoreError::Unbacked(_) => (S::BAD_GATEWAY, "chain_inconsistent"),
        };
        AppError::new(status, code, message)
    }
}

impl From<plumbline_core::task::TaskError> for AppError {
    fn from(e: plumbline_core::task::TaskError) -> AppError {
        AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_tasks", e.to_string())
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> AppError {
        match e {
            StoreError::NotFound(_) => AppError::not_found(e.to_string()),
            StoreError::Conflict(_) => AppError::conflict(e.to_string()),
            StoreError::InsufficientFunds { .. } => {
                AppError::new(StatusCode::CONFLICT, "insufficient_funds", e.to_string())
            }
            // Another process moved the state this one decided from; the server retries,
            // and a client seeing this may too.
            StoreError::Stale(_) => {
                AppError::new(StatusCode::SERVICE_UNAVAILABLE, "stale", format!("{e}; retry"))
            }
            StoreError::Corrupt(_) | StoreError::Database(_) => AppError::internal(e),
        }
    }
}
