//! Sign-In with Ethereum: a challenge to sign, the login that answers it with a bearer token,
//! and the logout that ends it. Only the token's hash is stored.

use super::{Access, Route, router_of};
use crate::error::{AppError, AppResult};
use crate::extract::{Body, Client};
use crate::siwe;
use crate::state::{AppState, random_b256};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use plumbline_client::api::{
    Challenge as ChallengeAnswer, ChallengeRequest, LoginRequest, Session as SessionAnswer,
};
use plumbline_core::eip712::{personal_hash, recover};
use plumbline_store::{Challenge, Session};
use serde_json::{Value, json};

/// This module's routes.
pub fn routes() -> Vec<Route> {
    vec![
        Route {
            method: "post",
            path: "/auth/challenge",
            summary: "Get an EIP-4361 (Sign-In with Ethereum) message to sign",
            access: Access::Anyone,
            body: Some("application/json"),
            responses: &[(200, "`{message, nonce, expires_at}`"), (429, "rate limited")],
            handler: post(challenge),
        },
        Route {
            method: "post",
            path: "/auth/login",
            summary: "Exchange the signed message for a bearer token",
            access: Access::Anyone,
            body: Some("application/json"),
            responses: &[
                (200, "`{token, address, expires_at}`"),
                (400, "malformed signature or message"),
                (401, "unknown, used or expired challenge"),
                (403, "signed by someone else"),
            ],
            handler: post(login),
        },
        Route {
            method: "post",
            path: "/auth/logout",
            summary: "End the session whose token is sent (sign out)",
            access: Access::Session,
            body: None,
            responses: &[(200, "`{signed_out: true}`"), (401, "no live session")],
            handler: post(logout),
        },
    ]
}

/// This module's router.
pub fn router() -> Router<AppState> {
    router_of(routes())
}

async fn challenge(
    State(state): State<AppState>,
    Client(client): Client,
    Body(request): Body<ChallengeRequest>,
) -> AppResult<Json<ChallengeAnswer>> {
    state.rate_limit_client(client)?;
    let now = state.now();
    let config = state.config();
    // EIP-4361 nonces are alphanumeric: 32 hex digits of randomness.
    let nonce = alloy_primitives::hex::encode(&random_b256()?[..16]);
    let expires_at = now + config.challenge_secs;
    let message = siwe::message(
        &config.siwe_domain,
        &config.siwe_uri,
        request.address,
        &nonce,
        now,
        expires_at,
    );
    let stored = Challenge {
        nonce: nonce.clone(),
        address: request.address,
        message: message.clone(),
        expires_at,
        created_at: now,
    };
    state.store().put_challenge(&stored).await?;
    Ok(Json(ChallengeAnswer { message, nonce, expires_at }))
}

/// Ends the caller's session: its token stops working at once, on every replica.
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> AppResult<Json<Value>> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| AppError::unauthorized("send `Authorization: Bearer TOKEN`"))?;
    let hash = alloy_primitives::keccak256(token.as_bytes());
    if !state.store().end_session(hash).await? {
        return Err(AppError::unauthorized("the session token is unknown or expired"));
    }
    Ok(Json(json!({ "signed_out": true })))
}

async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    Body(request): Body<LoginRequest>,
) -> AppResult<Json<SessionAnswer>> {
    state.rate_limit_client(client)?;
    let now = state.now();
    let nonce = siwe::nonce_of(&request.message)
        .ok_or_else(|| AppError::bad_request("the message has no `Nonce:` line"))?;
    let signature = alloy_primitives::hex::decode(&request.signature)
        .map_err(|_| AppError::bad_request("`signature` is not hex"))?;
    let challenge = state
        .store()
        .take_challenge(nonce, now)
        .await?
        .ok_or_else(|| AppError::unauthorized("the challenge is unknown, used or expired"))?;
    if challenge.message != request.message {
        return Err(AppError::unauthorized("the message is not the one this server issued"));
    }
    let signer = recover(personal_hash(request.message.as_bytes()), &signature).map_err(|e| {
        AppError::new(axum::http::StatusCode::FORBIDDEN, "bad_signature", e.to_string())
    })?;
    if signer != challenge.address {
        return Err(AppError::new(
            axum::http::StatusCode::FORBIDDEN,
            "wrong_signer",
            format!("the signature is by {signer}, not by {}", challenge.address),
        ));
    }
    // Sessions are charged to their signer only once its signature is verified.
    state.rate_limit(signer)?;
    let token = alloy_primitives::hex::encode(random_b256()?);
    let expires_at = now + state.config().session_secs;
    let session = Session {
        token_hash: alloy_primitives::keccak256(token.as_bytes()),
        address: signer,
        expires_at,
        created_at: now,
    };
    state.store().put_session(&session).await?;
    Ok(Json(SessionAnswer { token, address: signer, expires_at }))
}
