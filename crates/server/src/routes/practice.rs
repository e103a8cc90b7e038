//! Practice: the creator imports a pool; a signed-in labeler reads its next task and answers it
//! once, getting the expected answer and its explanation back.

use super::{Access, Route, router_of};
use crate::error::AppResult;
use crate::extract::{Body, Caller, RawBody, parse_id};
use crate::practice::{FeedbackView, PracticeView};
use crate::state::{AppState, Config};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

/// This module's routes.
pub fn routes(config: &Config) -> Vec<Route> {
    vec![
        Route {
            method: "post",
            path: "/experiments/{id}/practice",
            summary: "Import the draft's practice tasks from JSONL (each with its answer in `gold` and an optional `explanation`), all or nothing",
            access: Access::Session,
            body: Some("application/x-ndjson"),
            responses: &[
                (200, "`{practice_tasks}`"),
                (403, "not the creator"),
                (409, "not a draft, or practice tasks already imported"),
                (413, "file too large"),
                (422, "a bad line, named by number"),
            ],
            handler: post(import).layer(DefaultBodyLimit::max(config.import_body_bytes_max)),
        },
        Route {
            method: "get",
            path: "/experiments/{id}/practice",
            summary: "The caller's practice: items, the score needed, answered so far, score, whether it qualified, and its next task (responses in its own order)",
            access: Access::Session,
            body: None,
            responses: &[
                (200, "`PRACTICE`"),
                (404, "no practice tasks (`no_practice`)"),
                (409, "the experiment is not open (`wrong_phase`)"),
            ],
            handler: get(standing),
        },
        Route {
            method: "post",
            path: "/experiments/{id}/practice/answers",
            summary: "Answer the caller's current practice task, once: `{task, label}` with the label in the shown order; answers the verdict, the expected answer, its explanation and the new standing",
            access: Access::Session,
            body: Some("application/json"),
            responses: &[
                (200, "`{verdict, answer, explanation, agreement, progress: PRACTICE}`"),
                (404, "no practice tasks (`no_practice`)"),
                (
                    409,
                    "not the current task (`not_current`), every task answered (`practice_done`), or the experiment is not open (`wrong_phase`)",
                ),
                (422, "a label the question does not allow"),
            ],
            handler: post(answer),
        },
    ]
}

/// This module's router.
pub fn router(config: &Config) -> Router<AppState> {
    router_of(routes(config))
}

async fn import(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(caller): Caller,
    body: RawBody,
) -> AppResult<Json<Value>> {
    let id = parse_id(&id)?;
    let text = body.text("practice file")?;
    let count = state.import_practice(id, caller, text, state.now()).await?;
    Ok(Json(json!({ "practice_tasks": count })))
}

async fn standing(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(caller): Caller,
) -> AppResult<Json<PracticeView>> {
    Ok(Json(state.practice(parse_id(&id)?, caller, state.now()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerRequest {
    task: String,
    label: Value,
}

async fn answer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(caller): Caller,
    Body(request): Body<AnswerRequest>,
) -> AppResult<Json<FeedbackView>> {
    let id = parse_id(&id)?;
    let feedback =
        state.answer_practice(id, caller, &request.task, &request.label, state.now()).await?;
    Ok(Json(feedback))
}
