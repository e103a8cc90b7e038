//! Accounts: balances and reputation; minting by the operator and the testing faucet in
//! embedded mode.

use super::{Access, Route, router_of};
use crate::error::{AppError, AppResult};
use crate::extract::{Body, Caller, parse_address};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use plumbline_client::api::MintRequest;
use plumbline_core::Amount;
use plumbline_core::limits::AMOUNT_MAX;
use serde_json::{Value, json};

/// This module's routes.
pub fn routes() -> Vec<Route> {
    vec![
        Route {
            method: "get",
            path: "/accounts/{address}",
            summary: "An address's available and locked balances and its reputation",
            access: Access::Anyone,
            body: None,
            responses: &[
                (
                    200,
                    "`{address, available, locked, reputation}`; in chain mode the market's \
                     balances and `market`",
                ),
                (400, "not an address"),
            ],
            handler: get(account),
        },
        Route {
            method: "post",
            path: "/ledger/mint",
            summary: "Issue credits to an address (the operator only, embedded ledger)",
            access: Access::Session,
            body: Some("application/json"),
            responses: &[
                (200, "`{to, amount, available}`"),
                (401, "not signed in"),
                (403, "not the operator"),
                (409, "chain mode: there is no embedded ledger to mint in"),
                (422, "amount out of range"),
            ],
            handler: post(mint),
        },
        Route {
            method: "get",
            path: "/ledger/faucet",
            summary: "The testing faucet: how many credits a signed-in account may top up to",
            access: Access::Anyone,
            body: None,
            responses: &[(200, "`{amount}`: the faucet's amount, null when this server has none")],
            handler: get(faucet),
        },
        Route {
            method: "post",
            path: "/ledger/faucet",
            summary: "Top the caller's available credits up to the faucet's amount (testing, embedded ledger)",
            access: Access::Session,
            body: None,
            responses: &[
                (200, "`{to, amount, available}`: `amount` the credits issued"),
                (401, "not signed in"),
                (404, "this server has no faucet"),
                (409, "the caller already holds the faucet's amount (`code` `enough`)"),
            ],
            handler: post(draw_faucet),
        },
    ]
}

/// This module's router.
pub fn router() -> Router<AppState> {
    router_of(routes())
}

async fn account(
    State(state): State<AppState>,
    Path(address): Path<String>,
) -> AppResult<Json<Value>> {
    let address = parse_address(&address)?;
    let reputation = state.store().reputations(&[address]).await?.remove(&address);
    if let Some(chain) = state.chain() {
        // Chain mode: the money is in the market contract.
        let (available, locked) = state.chain_balances(chain, address).await?;
        return Ok(Json(json!({
            "address": address,
            "available": available.to_string(),
            "locked": locked.to_string(),
            "reputation": reputation,
            "market": chain.market.address(),
        })));
    }
    let balances = state.store().balances(address).await?;
    Ok(Json(json!({
        "address": address,
        "available": balances.available.to_string(),
        "locked": balances.locked.to_string(),
        "reputation": reputation,
    })))
}

async fn mint(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Body(request): Body<MintRequest>,
) -> AppResult<Json<Value>> {
    if state.chain().is_some() {
        return Err(AppError::conflict(
            "the money is on chain: deposit tokens with `plumbline chain deposit`",
        ));
    }
    if state.config().operator != Some(caller) {
        return Err(AppError::forbidden("only the operator may mint"));
    }
    if request.amount == 0 || request.amount > AMOUNT_MAX {
        return Err(AppError::invalid("`amount` must be 1 to 10^36 base units"));
    }
    let balances = state.store().mint(request.to, request.amount, state.now()).await?;
    Ok(Json(json!({
        "to": request.to,
        "amount": request.amount.to_string(),
        "available": balances.available.to_string(),
    })))
}

/// The faucet's amount: none without one, and never in chain mode, where money is tokens.
fn faucet_amount(state: &AppState) -> Option<Amount> {
    state.config().faucet.filter(|_| state.chain().is_none())
}

async fn faucet(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "amount": faucet_amount(&state).map(|a| a.to_string()) }))
}

/// Issues what the caller's available credits lack of the faucet's amount: an account can
/// never hold more from the faucet than that, however often it asks.
async fn draw_faucet(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> AppResult<Json<Value>> {
    let Some(amount) = faucet_amount(&state) else {
        return Err(AppError::not_found(
            "this server has no faucet: the operator enables one with `serve --faucet AMOUNT`",
        ));
    };
    let available = state.store().balances(caller).await?.available;
    if available >= amount {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            "enough",
            format!("you already hold {available} credits; the faucet tops up to {amount}"),
        ));
    }
    let balances = state.store().mint(caller, amount - available, state.now()).await?;
    Ok(Json(json!({
        "to": caller,
        "amount": (amount - available).to_string(),
        "available": balances.available.to_string(),
    })))
}
