//! Chain mode's routes: the market this server relays to, each experiment's relay progress,
//! and every settled experiment's payout proofs (for claims on chain).

use super::{Access, Route, router_of};
use crate::error::{AppError, AppResult};
use crate::extract::{parse_address, parse_id};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use plumbline_core::U256;
use plumbline_core::merkle::{StandardMerkleTree, payout_leaf};
use serde_json::{Value, json};

/// This module's routes.
pub fn routes() -> Vec<Route> {
    vec![
        Route {
            method: "get",
            path: "/chain",
            summary: "Chain mode: the chain, market, token and operator experiments must name",
            access: Access::Anyone,
            body: None,
            responses: &[
                (200, "`{chain_id, market, token, operator, relay_entries}`"),
                (404, "the server keeps money in its embedded ledger"),
            ],
            handler: get(chain),
        },
        Route {
            method: "get",
            path: "/experiments/{id}/chain",
            summary: "A chain experiment's relay progress: cursors and transaction hashes",
            access: Access::Anyone,
            body: None,
            responses: &[
                (
                    200,
                    "`{experiment_id, chain_id, market, joins, joins_relayed, commits, \
                     commits_relayed, last_join_tx, last_commit_tx, settle_tx, settled_at, \
                     distribute_tx, distributed_at, refund_tx, refunded_at}`",
                ),
                (404, "unknown experiment, or its money is not on chain"),
            ],
            handler: get(relay),
        },
        Route {
            method: "get",
            path: "/experiments/{id}/payouts/{address}",
            summary: "A labeler's payout in the settlement and its Merkle proof, for a claim",
            access: Access::Anyone,
            body: None,
            responses: &[
                (200, "`{experiment_id, labeler, amount, payout_root, proof}`"),
                (400, "not an id or an address"),
                (404, "unknown experiment, not settled, or no payout for the address"),
            ],
            handler: get(payout),
        },
    ]
}

/// This module's router.
pub fn router() -> Router<AppState> {
    router_of(routes())
}

async fn chain(State(state): State<AppState>) -> AppResult<Json<Value>> {
    let chain = state.chain().ok_or_else(|| {
        AppError::not_found("this server keeps money in its embedded ledger, not on a chain")
    })?;
    Ok(Json(json!({
        "chain_id": chain.market.chain_id(),
        "market": chain.market.address(),
        "token": chain.market.token(),
        "operator": chain.operator(),
        "relay_entries": chain.relay_entries,
    })))
}

async fn relay(State(state): State<AppState>, Path(id): Path<String>) -> AppResult<Json<Value>> {
    let id = parse_id(&id)?;
    let row = state.experiment_row(id).await?;
    let on_chain = row.market.ok_or_else(|| {
        AppError::not_found(format!("experiment {id} keeps its money in the embedded ledger"))
    })?;
    let relay = state.store().chain_relay(id).await?.unwrap_or_default();
    let log = state.store().log(id).await?;
    Ok(Json(json!({
        "experiment_id": id,
        "chain_id": on_chain.chain_id,
        "market": on_chain.market,
        "from_block": relay.from_block,
        "joins": log.joins.len(),
        "joins_relayed": relay.joins_relayed,
        "commits": log.commits.len(),
        "commits_relayed": relay.commits_relayed,
        "last_join_tx": relay.last_join_tx,
        "last_commit_tx": relay.last_commit_tx,
        "settle_tx": relay.settle_tx,
        "settled_at": relay.settled_at,
        "distribute_tx": relay.distribute_tx,
        "distributed_at": relay.distributed_at,
        "refund_tx": relay.refund_tx,
        "refunded_at": relay.refunded_at,
    })))
}

async fn payout(
    State(state): State<AppState>,
    Path((id, address)): Path<(String, String)>,
) -> AppResult<Json<Value>> {
    let (id, labeler) = (parse_id(&id)?, parse_address(&address)?);
    state.experiment_row(id).await?;
    let settlement = state
        .store()
        .settlement(id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("experiment {id} is not settled")))?;
    // The tree is built from the payouts in the settlement's order, as its root was.
    let leaves: Vec<_> =
        settlement.labelers.iter().map(|l| payout_leaf(l.labeler, U256::from(l.payout))).collect();
    let index = settlement.labelers.iter().position(|l| l.labeler == labeler).ok_or_else(|| {
        AppError::not_found(format!("{labeler} has no payout in experiment {id}"))
    })?;
    let tree = StandardMerkleTree::from_leaves(leaves).map_err(AppError::internal)?;
    if tree.root() != settlement.payout_root {
        return Err(AppError::internal(format!(
            "experiment {id}: payouts do not rebuild the root"
        )));
    }
    Ok(Json(json!({
        "experiment_id": id,
        "labeler": labeler,
        "amount": settlement.labelers[index].payout.to_string(),
        "payout_root": settlement.payout_root,
        "proof": tree.proof(index),
    })))
}
