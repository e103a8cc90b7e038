//! The labeler's side: join (assigns a batch and locks the stake), read a batch, commit its
//! labels, reveal them. Each write is authorized by its EIP-712 signature, not by a session.

use super::{Access, Route, router_of};
use crate::error::{AppError, AppResult};
use crate::extract::{Body, Client, MaybeCaller, parse_address, parse_batch, parse_id};
use crate::service::CommitExtras;
use crate::state::AppState;
use crate::views::{BatchView, batch_view};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use plumbline_client::api::{JoinAnswer, RepeatedJoin};
use plumbline_core::B256;
use plumbline_core::client::{SignedCommit, SignedJoin, SignedReveal, labels_root};
use plumbline_core::experiment::Accepted;
use plumbline_core::lifecycle::Phase;
use plumbline_core::seal::SEAL_CHARS_MAX;
use serde::Deserialize;
use serde_json::{Value, json};

/// Longest encrypted label backup stored beside a commit.
pub const BACKUP_BYTES_MAX: usize = 4 * 1024 * 1024;

/// This module's routes.
pub fn routes() -> Vec<Route> {
    vec![
        Route {
            method: "post",
            path: "/experiments/{id}/join",
            summary: "Join with a signed `Join`: lock the stake and get a batch (the same join again returns it to its labeler, signed in)",
            access: Access::Signer,
            body: Some("application/json"),
            responses: &[
                (201, "`BATCH`"),
                (
                    200,
                    "the same join, repeated: `BATCH` when signed in as its labeler, otherwise `{batch_id, labeler, repeat: true}`",
                ),
                (403, "bad signature, wrong signer, or ineligible"),
                (409, "not open, no batch left, nonce out of order, or insufficient balance"),
                (422, "wrong stake or cohort"),
            ],
            handler: post(join),
        },
        Route {
            method: "get",
            path: "/experiments/{id}/labelers/{address}",
            summary: "A labeler's batches in an experiment, the nonce its next `Join` must carry and the server's clock",
            access: Access::Anyone,
            body: None,
            responses: &[
                (200, "`{address, batches: [batch_id], next_nonce, now}`"),
                (404, "unknown experiment"),
            ],
            handler: get(labeler),
        },
        Route {
            method: "get",
            path: "/experiments/{id}/batches/{batch_id}",
            summary: "A batch: its tasks by position in the labeler's order, responses as shown; only its labeler may read it before settlement",
            access: Access::Session,
            body: None,
            responses: &[
                (200, "`BATCH`"),
                (401, "not signed in, before settlement"),
                (403, "another labeler's batch, before settlement"),
                (404, "unknown batch"),
            ],
            handler: get(batch),
        },
        Route {
            method: "post",
            path: "/experiments/{id}/batches/{batch_id}/commit",
            summary: "Commit to a batch's labels with a signed `Commit`, optionally with an encrypted backup and a reveal sealed to the server",
            access: Access::Signer,
            body: Some("application/json"),
            responses: &[
                (201, "`{batch_id, commitment, repeat: false}`"),
                (200, "the same commitment again: `{..., repeat: true}`"),
                (
                    400,
                    "a sealed reveal that does not open, or does not open the commitment, or no sealing key",
                ),
                (403, "bad signature or wrong signer"),
                (404, "unknown batch"),
                (409, "past the commit deadline, too soon, or a different commitment"),
            ],
            handler: post(commit),
        },
        Route {
            method: "get",
            path: "/experiments/{id}/batches/{batch_id}/commit",
            summary: "A batch's accepted commit and its encrypted backup",
            access: Access::Anyone,
            body: None,
            responses: &[
                (200, "`{batch_id, commitment, signature, at, backup}`"),
                (404, "not committed"),
            ],
            handler: get(read_commit),
        },
        Route {
            method: "post",
            path: "/experiments/{id}/batches/{batch_id}/reveal",
            summary: "Reveal a batch's labels and salt with a signed `Reveal`",
            access: Access::Signer,
            body: Some("application/json"),
            responses: &[
                (201, "`{batch_id, labels_root, repeat: false}`"),
                (200, "the same reveal again: `{..., repeat: true}`"),
                (403, "bad signature or wrong signer"),
                (404, "unknown batch"),
                (409, "outside the reveal window, not committed, or a different reveal"),
                (422, "labels or salt do not match the commitment, or break the question"),
            ],
            handler: post(reveal),
        },
    ]
}

/// This module's router.
pub fn router() -> Router<AppState> {
    router_of(routes())
}

fn status_of(accepted: Accepted) -> StatusCode {
    match accepted {
        Accepted::New => StatusCode::CREATED,
        Accepted::Repeat => StatusCode::OK,
    }
}

async fn join(
    State(state): State<AppState>,
    Path(id): Path<String>,
    MaybeCaller(caller): MaybeCaller,
    Client(client): Client,
    Body(join): Body<SignedJoin>,
) -> AppResult<(StatusCode, Json<JoinAnswer>)> {
    let id = parse_id(&id)?;
    state.rate_limit_client(client)?;
    let now = state.now();
    let (batch, new) = state.join(id, &join, now).await?;
    // A signed join becomes public (relayed on chain, in the record), so a repeat shows the
    // batch's tasks only to its labeler: batch views stay private, as gold's secrecy needs.
    if !new && caller != Some(join.labeler) {
        let repeat = RepeatedJoin { batch_id: batch.batch_id, labeler: join.labeler, repeat: true };
        return Ok((StatusCode::OK, Json(JoinAnswer::Repeated(repeat))));
    }
    let (batch, tasks, row) = state.batch(id, batch.batch_id).await?;
    let status = if new { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(JoinAnswer::Batch(batch_view(batch, &tasks, &row.spec)))))
}

async fn labeler(
    State(state): State<AppState>,
    Path((id, address)): Path<(String, String)>,
) -> AppResult<Json<Value>> {
    let (id, address) = (parse_id(&id)?, parse_address(&address)?);
    state.experiment_row(id).await?;
    let log = state.store().log(id).await?;
    let batches: Vec<u64> =
        log.joins.iter().filter(|j| j.join.labeler == address).map(|j| j.batch_id).collect();
    // The nonce counts the labeler's earlier joins in the experiment; a client counts its
    // join's expiry from the server's clock.
    Ok(Json(json!({
        "address": address,
        "next_nonce": batches.len(),
        "batches": batches,
        "now": state.now(),
    })))
}

async fn batch(
    State(state): State<AppState>,
    Path((id, batch_id)): Path<(String, String)>,
    MaybeCaller(caller): MaybeCaller,
) -> AppResult<Json<BatchView>> {
    let (id, batch_id) = (parse_id(&id)?, parse_batch(&batch_id)?);
    let (batch, tasks, row) = state.batch(id, batch_id).await?;
    // Before settlement only the labeler sees its batch: several batches side by side would
    // show which tasks they share, and so which are gold. The record makes all public after.
    if row.phase != Phase::Settled {
        match caller {
            None => {
                return Err(AppError::unauthorized(
                    "sign in as the batch's labeler to read it: batches are private until settlement",
                ));
            }
            Some(address) if address != batch.labeler => {
                return Err(AppError::forbidden(format!(
                    "batch {batch_id} belongs to another labeler"
                )));
            }
            Some(_) => {}
        }
    }
    Ok(Json(batch_view(batch, &tasks, &row.spec)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommitRequest {
    commitment: B256,
    signature: alloy_primitives::Bytes,
    #[serde(default)]
    backup: Option<String>,
    #[serde(default)]
    sealed_reveal: Option<String>,
}

async fn commit(
    State(state): State<AppState>,
    Path((id, batch_id)): Path<(String, String)>,
    Client(client): Client,
    Body(request): Body<CommitRequest>,
) -> AppResult<(StatusCode, Json<Value>)> {
    let (id, batch_id) = (parse_id(&id)?, parse_batch(&batch_id)?);
    state.rate_limit_client(client)?;
    if request.backup.as_ref().is_some_and(|b| b.len() > BACKUP_BYTES_MAX) {
        return Err(AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("`backup` is longer than {BACKUP_BYTES_MAX} bytes"),
        ));
    }
    if request.sealed_reveal.as_ref().is_some_and(|s| s.len() > SEAL_CHARS_MAX) {
        return Err(AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("`sealed_reveal` is longer than {SEAL_CHARS_MAX} characters"),
        ));
    }
    let commit = SignedCommit { commitment: request.commitment, signature: request.signature };
    let extras = CommitExtras {
        backup: request.backup.as_deref(),
        sealed_reveal: request.sealed_reveal.as_deref(),
    };
    let accepted = state.commit(id, batch_id, &commit, extras, state.now()).await?;
    Ok((
        status_of(accepted),
        Json(json!({
            "batch_id": batch_id,
            "commitment": commit.commitment,
            "repeat": accepted == Accepted::Repeat,
        })),
    ))
}

async fn read_commit(
    State(state): State<AppState>,
    Path((id, batch_id)): Path<(String, String)>,
) -> AppResult<Json<Value>> {
    let (id, batch_id) = (parse_id(&id)?, parse_batch(&batch_id)?);
    state.experiment_row(id).await?;
    let log = state.store().log(id).await?;
    let entry = log
        .commits
        .into_iter()
        .find(|c| c.batch_id == batch_id)
        .ok_or_else(|| AppError::not_found(format!("batch {batch_id} has no commit")))?;
    let backup = state.store().commit_backup(id, batch_id).await?;
    Ok(Json(json!({
        "batch_id": batch_id,
        "commitment": entry.commit.commitment,
        "signature": entry.commit.signature,
        "at": entry.at,
        "backup": backup,
    })))
}

async fn reveal(
    State(state): State<AppState>,
    Path((id, batch_id)): Path<(String, String)>,
    Client(client): Client,
    Body(reveal): Body<SignedReveal>,
) -> AppResult<(StatusCode, Json<Value>)> {
    let (id, batch_id) = (parse_id(&id)?, parse_batch(&batch_id)?);
    state.rate_limit_client(client)?;
    let accepted = state.reveal(id, batch_id, &reveal, state.now()).await?;
    let root = labels_root(&reveal.labels).map_err(plumbline_core::Error::from)?;
    Ok((
        status_of(accepted),
        Json(json!({
            "batch_id": batch_id,
            "labels_root": root,
            "repeat": accepted == Accepted::Repeat,
        })),
    ))
}
