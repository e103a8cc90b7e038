//! `GET /health`: liveness and the ledger's verdict.

use super::{Access, Route, router_of};
use crate::error::AppResult;
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

/// This module's routes.
pub fn routes() -> Vec<Route> {
    vec![Route {
        method: "get",
        path: "/health",
        summary: "Liveness, and whether the ledger check passes (run now)",
        access: Access::Anyone,
        body: None,
        responses: &[(200, "`{status, ledger_balanced, journal_entries, version}`")],
        handler: get(health),
    }]
}

/// This module's router.
pub fn router() -> Router<AppState> {
    router_of(routes())
}

async fn health(State(state): State<AppState>) -> AppResult<Json<Value>> {
    let report = state.check_ledger().await?;
    Ok(Json(json!({
        "status": if report.balanced { "ok" } else { "degraded" },
        "ledger_balanced": report.balanced,
        "journal_entries": report.journal_entries,
        "version": env!("CARGO_PKG_VERSION"),
    })))
}
