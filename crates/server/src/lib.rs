#![doc = include_str!("../README.md")]

pub mod card;
pub mod chain;
pub mod demo;
pub mod error;
pub mod export;
pub mod extract;
pub mod fault;
mod group;
pub mod listen;
pub mod practice;
pub mod routes;
pub mod scheduler;
pub mod service;
pub mod siwe;
pub mod state;
pub mod stats;
pub mod views;
pub mod web;

pub use error::{AppError, AppResult};
pub use fault::{Reason, ServiceError, ServiceResult};
pub use state::{AppState, Clock, Config, LedgerVerdict};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::time::Instant;
use tower_http::timeout::TimeoutLayer;

/// The whole HTTP API under `/api/v1`, and the web interface at `/` with its assets under
/// `/assets/`. Tests drive it with `tower::ServiceExt::oneshot`; `plumbline serve` binds it to a
/// socket.
pub fn app(state: AppState) -> Router {
    let config = state.config().clone();
    Router::new()
        .nest("/api/v1", routes::api(&config))
        .merge(web::router())
        .fallback(no_route)
        .layer(DefaultBodyLimit::max(config.json_body_bytes_max))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, config.request_timeout))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

async fn no_route() -> Response {
    AppError::new(
        axum::http::StatusCode::NOT_FOUND,
        "no_route",
        "no such route; see /api/v1/openapi.json",
    )
    .into_response()
}

async fn log_request(request: Request, next: Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status();
    let micros = started.elapsed().as_micros();
    if status.is_server_error() {
        tracing::warn!(%method, %path, status = status.as_u16(), micros, "request failed");
    } else {
        tracing::debug!(%method, %path, status = status.as_u16(), micros, "request");
    }
    response
}
