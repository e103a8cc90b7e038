//! `POST /test/clock`: sets the server's clock. Only with `--test-clock`.

use super::{Access, Route, router_of};
use crate::error::{AppError, AppResult};
use crate::extract::Body;
use crate::state::{AppState, TIME_MAX};
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use plumbline_client::api::ClockRequest;
use serde_json::{Value, json};

/// This module's routes.
pub fn routes() -> Vec<Route> {
    vec![Route {
        method: "post",
        path: "/test/clock",
        summary: "Set the server's clock (exists only with --test-clock; never backwards)",
        access: Access::Anyone,
        body: Some("application/json"),
        responses: &[
            (200, "`{now}`"),
            (409, "earlier than the clock"),
            (422, "later than year 9999"),
        ],
        handler: post(set_clock),
    }]
}

/// This module's router.
pub fn router() -> Router<AppState> {
    router_of(routes())
}

async fn set_clock(
    State(state): State<AppState>,
    Body(body): Body<ClockRequest>,
) -> AppResult<Json<Value>> {
    if body.now > TIME_MAX {
        return Err(AppError::invalid(format!("`now` must be at most {TIME_MAX}")));
    }
    match state.clock().set(body.now) {
        Ok(now) => Ok(Json(json!({ "now": now }))),
        Err(current) => Err(AppError::conflict(format!(
            "the clock never goes backwards: it is {current}, {} was asked",
            body.now
        ))),
    }
}
