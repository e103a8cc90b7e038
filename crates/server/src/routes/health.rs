//! `GET /health`: liveness and the last ledger check's verdict (the check itself runs at
//! start, after each settlement and periodically, never in the request); `GET /sealing-key`:
//! the key reveals may be sealed to.

use super::{Access, Route, router_of};
use crate::error::AppResult;
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use plumbline_core::seal::public_key_hex;
use serde_json::{Value, json};

/// This module's routes.
pub fn routes() -> Vec<Route> {
    vec![
        Route {
            method: "get",
            path: "/health",
            summary: "Liveness, and the verdict of the last full ledger check (run at start, after each settlement and periodically)",
            access: Access::Anyone,
            body: None,
            responses: &[(
                200,
                "`{status, ledger_balanced, ledger_checked_at, journal_entries, version, now, ledger, operator}`",
            )],
            handler: get(health),
        },
        Route {
            method: "get",
            path: "/sealing-key",
            summary: "The public key labelers may seal their reveals to at commit, for the server to reveal them at the deadline",
            access: Access::Anyone,
            body: None,
            responses: &[
                (200, "`{public_key}`: 0x and the 33-byte compressed secp256k1 key"),
                (404, "this server holds no reveals"),
            ],
            handler: get(sealing_key),
        },
    ]
}

/// This module's router.
pub fn router() -> Router<AppState> {
    router_of(routes())
}

async fn health(State(state): State<AppState>) -> AppResult<Json<Value>> {
    let verdict = state.ledger_verdict().await?;
    Ok(Json(json!({
        "status": if verdict.balanced { "ok" } else { "degraded" },
        "ledger_balanced": verdict.balanced,
        "ledger_checked_at": verdict.checked_at,
        "journal_entries": verdict.journal_entries,
        "version": env!("CARGO_PKG_VERSION"),
        // Deadlines are measured by this clock, which a client's may differ from.
        "now": state.now(),
        // Who may mint credits, where the money is in the embedded ledger.
        "ledger": if state.chain().is_some() { "chain" } else { "embedded" },
        "operator": state.config().operator,
    })))
}

async fn sealing_key(State(state): State<AppState>) -> Json<Value> {
    let key = state.config().sealing_key.as_ref().map(|k| public_key_hex(&k.public_key()));
    Json(json!({ "public_key": key }))
}
