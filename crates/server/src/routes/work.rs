//! A labeler's work in one experiment: each of its batches with whether and when it was
//! committed and revealed, and the server's clock. The web interface reads this to know what
//! to offer (label, wait, reveal) without probing routes that answer 404 until something
//! happened, and to show deadlines against the server's time rather than the browser's. And
//! the odds the join screen shows: how likely a labeler like this one is to be rewarded here.

use super::{Access, Route, router_of};
use crate::error::AppResult;
use crate::extract::{parse_address, parse_id};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use plumbline_core::odds::Odds;
use serde_json::{Value, json};
use std::collections::HashMap;

/// This module's routes.
pub fn routes() -> Vec<Route> {
    vec![
        Route {
            method: "get",
            path: "/experiments/{id}/labelers/{address}/work",
            summary: "A labeler's batches with their commit and reveal times, and the server's clock",
            access: Access::Anyone,
            body: None,
            responses: &[
                (
                    200,
                    "`{address, now, next_nonce, batches: [{batch_id, cohort?, assigned_at, committed_at, commitment, revealed_at}]}`",
                ),
                (400, "not an id or not an address"),
                (404, "unknown experiment"),
            ],
            handler: get(work),
        },
        Route {
            method: "get",
            path: "/experiments/{id}/labelers/{address}/odds",
            summary: "How likely a labeler like this one is to be rewarded here, by batches taken (an estimate)",
            access: Access::Anyone,
            body: None,
            responses: &[
                (
                    200,
                    "`{address, odds: [{batches, items, rewarded, basis}]}`: `rewarded` from 0 to 1, `basis` `record` (its reputation, once it holds 30 items) or `careful_labelers` (the simulator's careful labelers at that many items)",
                ),
                (400, "not an id or not an address"),
                (404, "unknown experiment"),
            ],
            handler: get(odds),
        },
    ]
}

/// Batches the odds are shown for, at most.
const ODDS_BATCHES_MAX: u32 = 10;

async fn odds(
    State(state): State<AppState>,
    Path((id, address)): Path<(String, String)>,
) -> AppResult<Json<Value>> {
    let (id, address) = (parse_id(&id)?, parse_address(&address)?);
    let row = state.experiment_row(id).await?;
    let reputation = state.store().reputations(&[address]).await?.remove(&address);
    let record = reputation.as_ref().map(|r| &r.tally);
    let most = row.spec.limits.batches_per_labeler_max.clamp(1, ODDS_BATCHES_MAX);
    let odds: Vec<Odds> =
        (1..=u64::from(most)).map(|b| plumbline_core::odds::odds(&row.spec, b, record)).collect();
    Ok(Json(json!({ "address": address, "odds": odds })))
}

/// This module's router.
pub fn router() -> Router<AppState> {
    router_of(routes())
}

async fn work(
    State(state): State<AppState>,
    Path((id, address)): Path<(String, String)>,
) -> AppResult<Json<Value>> {
    let (id, address) = (parse_id(&id)?, parse_address(&address)?);
    let now = state.now();
    state.experiment_row(id).await?;
    let log = state.store().log(id).await?;
    let commits: HashMap<u64, _> = log.commits.iter().map(|c| (c.batch_id, c)).collect();
    let reveals: HashMap<u64, u64> = log.reveals.iter().map(|r| (r.batch_id, r.at)).collect();
    let batches: Vec<Value> = log
        .joins
        .iter()
        .filter(|j| j.join.labeler == address)
        .map(|j| {
            let commit = commits.get(&j.batch_id);
            let mut batch = json!({
                "batch_id": j.batch_id,
                "assigned_at": j.at,
                "committed_at": commit.map(|c| c.at),
                "commitment": commit.map(|c| c.commit.commitment),
                "revealed_at": reveals.get(&j.batch_id),
            });
            if let Some(cohort) = &j.join.cohort {
                batch["cohort"] = json!(cohort);
            }
            batch
        })
        .collect();
    // The nonce counts the labeler's earlier joins, as `GET .../labelers/{address}` says.
    Ok(Json(json!({
        "address": address,
        "now": now,
        "next_nonce": batches.len(),
        "batches": batches,
    })))
}
