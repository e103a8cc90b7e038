//! `AppError`: every refusal as JSON `{code, message}` with its status, the HTTP face of a
//! [`ServiceError`]. Client errors say what is wrong; internal errors are logged and answered
//! with a generic message, so nothing about the server's insides leaks.

use crate::fault::{Reason, ServiceError};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use plumbline_core::Error as CoreError;
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

    // The routes' own refusals: the same reasons and codes as the service's, so that each
    // kind's status and code is stated once (`ServiceError`'s constructors, and the mapping
    // below).

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> AppError {
        ServiceError::bad_request(message).into()
    }

    /// 401: no valid session.
    pub fn unauthorized(message: impl Into<String>) -> AppError {
        ServiceError::unauthorized(message).into()
    }

    /// 403: signed in, but not allowed.
    pub fn forbidden(message: impl Into<String>) -> AppError {
        ServiceError::forbidden(message).into()
    }

    /// 404: no such thing.
    pub fn not_found(message: impl Into<String>) -> AppError {
        ServiceError::not_found(message).into()
    }

    /// 409: the state does not allow it now.
    pub fn conflict(message: impl Into<String>) -> AppError {
        ServiceError::conflict(message).into()
    }

    /// 422: well-formed, but breaks a rule.
    pub fn invalid(message: impl Into<String>) -> AppError {
        ServiceError::invalid(message).into()
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

impl From<ServiceError> for AppError {
    fn from(e: ServiceError) -> AppError {
        use StatusCode as S;
        let (reason, code) = e.kind();
        let status = match reason {
            Reason::BadRequest => S::BAD_REQUEST,
            Reason::Unauthorized => S::UNAUTHORIZED,
            Reason::Forbidden => S::FORBIDDEN,
            Reason::NotFound => S::NOT_FOUND,
            Reason::Conflict => S::CONFLICT,
            Reason::Invalid => S::UNPROCESSABLE_ENTITY,
            Reason::RateLimited => S::TOO_MANY_REQUESTS,
            // Another process moved the state this one decided from; the server retries,
            // and a client seeing this may too.
            Reason::Stale => {
                return AppError::new(S::SERVICE_UNAVAILABLE, code, format!("{e}; retry"));
            }
            Reason::Chain => S::BAD_GATEWAY,
            Reason::Internal => return AppError::internal(e),
        };
        AppError::new(status, code, e.to_string())
    }
}

/// Errors of the layers below, met directly by a route.
macro_rules! through_service {
    ($($error:ty),*) => {$(
        impl From<$error> for AppError {
            fn from(e: $error) -> AppError {
                AppError::from(ServiceError::from(e))
            }
        }
    )*};
}
through_service!(CoreError, StoreError, plumbline_core::task::TaskError);
