//! Extractors whose refusals are `AppError`s: JSON and raw bodies (400, 413, 415, 422), the
//! signed-in caller (401), and path values (400).

use crate::error::{AppError, AppResult};
use crate::state::{AppState, RateKey};
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use plumbline_core::{Address, B256};
use serde::de::DeserializeOwned;

fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid",
        _ => "bad_request",
    }
}

/// A JSON body. Refusals keep axum's status (400 syntax, 413 too large, 415 not JSON, 422 the
/// wrong shape) but answer in the API's error form.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> AppError {
    let status = rejection.status();
    AppError::new(status, code_of(status), rejection.body_text())
}

/// A raw body, within the route's size limit.
pub struct RawBody(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        match axum::body::Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(RawBody(bytes)),
            Err(rejection) => Err(bytes_rejection(rejection)),
        }
    }
}

impl RawBody {
    /// The body as UTF-8 text; `what` names it in the error.
    pub fn text(&self, what: &str) -> AppResult<&str> {
        std::str::from_utf8(&self.0)
            .map_err(|e| AppError::bad_request(format!("the {what} is not UTF-8: {e}")))
    }
}

fn bytes_rejection(rejection: BytesRejection) -> AppError {
    let status = rejection.status();
    AppError::new(status, code_of(status), rejection.body_text())
}

/// The signed-in caller, from `Authorization: Bearer TOKEN`. Each authenticated request also
/// counts against the caller's rate limit.
pub struct Caller(pub Address);

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        match MaybeCaller::from_request_parts(parts, state).await? {
            MaybeCaller(Some(address)) => Ok(Caller(address)),
            MaybeCaller(None) => {
                Err(AppError::unauthorized("sign in and send `Authorization: Bearer TOKEN`"))
            }
        }
    }
}

/// The signed-in caller when the request carries `Authorization`, `None` when it does not; a
/// header that does not name a live session is refused all the same.
pub struct MaybeCaller(pub Option<Address>);

impl FromRequestParts<AppState> for MaybeCaller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            return Ok(MaybeCaller(None));
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                AppError::unauthorized("the Authorization header must be `Bearer TOKEN`")
            })?;
        let address = state.authenticate(token).await?;
        state.rate_limit(address)?;
        Ok(MaybeCaller(Some(address)))
    }
}

/// The client's rate-limit key: its IP address when the server was started with connection
/// info (as `plumbline serve` is), otherwise one shared key for in-process callers.
pub struct Client(pub RateKey);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let info = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
        Ok(Client(info.map_or(RateKey::UnknownClient, |c| RateKey::Client(c.0.ip()))))
    }
}

/// Parses a 32-byte id from a path segment.
pub fn parse_id(text: &str) -> Result<B256, AppError> {
    text.parse()
        .map_err(|_| AppError::bad_request(format!("{text:?} is not a 0x-prefixed 32-byte id")))
}

/// Parses an address from a path segment.
pub fn parse_address(text: &str) -> Result<Address, AppError> {
    text.parse().map_err(|_| AppError::bad_request(format!("{text:?} is not an address")))
}

/// Parses a batch id from a path segment.
pub fn parse_batch(text: &str) -> Result<u64, AppError> {
    text.parse().map_err(|_| AppError::bad_request(format!("{text:?} is not a batch id")))
}
