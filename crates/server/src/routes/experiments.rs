//! Experiments: create, list, import tasks, fund, open, cancel; settle and read the
//! settlement, the public record, live stats and the exported dataset.

use super::{Access, Route, router_of};
use crate::error::{AppError, AppResult};
use crate::export::{self, Format};
use crate::extract::{Body, Caller, RawBody, parse_address, parse_id};
use crate::state::{AppState, Config};
use crate::views::{ExperimentView, experiment_view};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use plumbline_client::api::CreateRequest;
use plumbline_core::spec::ExperimentSpec;
use serde_json::{Value, json};
use std::collections::HashMap;

/// This module's routes.
pub fn routes(config: &Config) -> Vec<Route> {
    vec![
        Route {
            method: "post",
            path: "/experiments",
            summary: "Create a draft experiment from a spec; the caller becomes its creator",
            access: Access::Session,
            body: Some("application/json"),
            responses: &[
                (201, "`EXPERIMENT`"),
                (401, "not signed in"),
                (409, "`insufficient_funds`: the caller could not fund the reward pool now"),
                (422, "a spec field breaks a rule"),
                (429, "`too_many_drafts`: the caller holds 20 drafts"),
            ],
            handler: post(create),
        },
        Route {
            method: "get",
            path: "/experiments",
            summary: "Experiments, newest first: `?phase=open,revealing` and `?creator=ADDRESS` filter, `?limit=N` (1 to 500, 100 by default) and `?offset=N` page",
            access: Access::Anyone,
            body: None,
            responses: &[
                (200, "`[EXPERIMENT]`"),
                (400, "an unknown phase, a bad address, limit or offset"),
            ],
            handler: get(list),
        },
        Route {
            method: "get",
            path: "/experiments/{id}",
            summary: "One experiment",
            access: Access::Anyone,
            body: None,
            responses: &[(200, "`EXPERIMENT`"), (404, "unknown experiment")],
            handler: get(one),
        },
        Route {
            method: "post",
            path: "/experiments/{id}/tasks",
            summary: "Import the draft's tasks from JSONL, all or nothing",
            access: Access::Session,
            body: Some("application/x-ndjson"),
            responses: &[
                (200, "`{tasks, regular, gold}`"),
                (403, "not the creator"),
                (
                    409,
                    "not a draft, tasks already imported, or the caller could not fund the reward pool now",
                ),
                (413, "file too large"),
                (422, "a bad line, named by number"),
            ],
            handler: post(import).layer(DefaultBodyLimit::max(config.import_body_bytes_max)),
        },
        Route {
            method: "post",
            path: "/experiments/{id}/fund",
            summary: "Move the reward pool from the creator's balance into escrow",
            access: Access::Session,
            body: None,
            responses: &[
                (200, "`EXPERIMENT` with `funded: true`"),
                (403, "not the creator"),
                (409, "not an unfunded draft, or insufficient balance"),
            ],
            handler: post(fund),
        },
        Route {
            method: "post",
            path: "/experiments/{id}/open",
            summary: "Open a funded draft: draw the assignment seed and publish its hash",
            access: Access::Session,
            body: None,
            responses: &[
                (200, "`EXPERIMENT` with `phase: \"open\"` and `seed_hash`"),
                (403, "not the creator"),
                (409, "not a funded draft with tasks, or past the commit deadline"),
            ],
            handler: post(open),
        },
        Route {
            method: "post",
            path: "/experiments/{id}/close",
            summary: "End the commit phase now, once every joined batch is committed (embedded ledger only); reveals open at once and settlement follows the last one",
            access: Access::Session,
            body: None,
            responses: &[
                (200, "`EXPERIMENT` with `phase: \"revealing\"` and `commits_closed_at`"),
                (403, "not the creator"),
                (
                    409,
                    "not open (`wrong_phase`), a joined batch not committed (`not_all_committed`), an experiment with rounds (`not_ready`), or chain mode (`conflict`)",
                ),
            ],
            handler: post(close),
        },
        Route {
            method: "post",
            path: "/experiments/{id}/cancel",
            summary: "Cancel a draft and refund its pool",
            access: Access::Session,
            body: None,
            responses: &[
                (200, "`EXPERIMENT` with `phase: \"cancelled\"`"),
                (403, "not the creator"),
                (409, "not a draft"),
            ],
            handler: post(cancel),
        },
        Route {
            method: "post",
            path: "/experiments/{id}/settle",
            summary: "Settle once the reveal deadline has passed, or once every committed batch is revealed on the embedded ledger (with rounds: in the last round, or once no later round would ask anything; the scheduler does it too); idempotent",
            access: Access::Anyone,
            body: None,
            responses: &[(200, "`SETTLEMENT`"), (409, "not yet due, or not open")],
            handler: post(settle),
        },
        Route {
            method: "get",
            path: "/experiments/{id}/settlement",
            summary: "The settlement",
            access: Access::Anyone,
            body: None,
            responses: &[(200, "`SETTLEMENT`"), (404, "not settled")],
            handler: get(settlement),
        },
        Route {
            method: "get",
            path: "/experiments/{id}/record",
            summary: "The public record for `plumbline audit`",
            access: Access::Anyone,
            body: None,
            responses: &[(200, "the public record"), (404, "not settled")],
            handler: get(record),
        },
        Route {
            method: "get",
            path: "/experiments/{id}/stats",
            summary: "Progress, agreement (Krippendorff's alpha), score histogram and tiers",
            access: Access::Anyone,
            body: None,
            responses: &[
                (200, "`{phase, batches, agreement, score_histogram, tiers}`"),
                (404, "unknown experiment"),
            ],
            handler: get(stats),
        },
        Route {
            method: "get",
            path: "/experiments/{id}/export",
            summary: "The dataset: ?format=trl|jsonl|csv|parquet|raw|card|best_of (a best-of \
                      experiment's winner, ranking and matches), after settlement; for trl \
                      also ?gold=true|false, ?min_confidence=0.5..1 (default 0.7), \
                      ?min_margin=0.. (default 0), ?cohort=NAME or ?bridging=true, and ?prompt=implicit (the prompt in \
                      front of both responses, no prompt column)",
            access: Access::Anyone,
            body: None,
            responses: &[
                (200, "the dataset"),
                (
                    400,
                    "unknown format, or a gold, min_confidence, min_margin, cohort, bridging or \
                     prompt that is not one",
                ),
                (409, "not settled yet"),
                (422, "trl for a question that is not pairwise"),
            ],
            handler: get(export_dataset),
        },
    ]
}

/// This module's router.
pub fn router(config: &Config) -> Router<AppState> {
    router_of(routes(config))
}

async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Body(request): Body<CreateRequest>,
) -> AppResult<(StatusCode, Json<ExperimentView>)> {
    let now = state.now();
    let spec = ExperimentSpec::from_value(request.spec).map_err(plumbline_core::Error::from)?;
    let row = state.create_experiment(caller, spec, now).await?;
    Ok((StatusCode::CREATED, Json(experiment_view(row, now))))
}

/// Experiments a list answers with when it names no limit, and at most.
const LIST_LIMIT_DEFAULT: usize = 100;
const LIST_LIMIT_MAX: usize = 500;

async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> AppResult<Json<Vec<ExperimentView>>> {
    let phases: Option<Vec<String>> = query.get("phase").map(|text| {
        text.split(',').map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect()
    });
    const PHASES: [&str; 5] = ["draft", "open", "revealing", "settled", "cancelled"];
    if let Some(unknown) = phases.iter().flatten().find(|p| !PHASES.contains(&p.as_str())) {
        return Err(AppError::bad_request(format!(
            "unknown phase {unknown:?}: name some of {}",
            PHASES.join(", ")
        )));
    }
    let creator = query.get("creator").map(|a| parse_address(a)).transpose()?;
    let number = |name: &str, default: usize, most: usize| -> AppResult<usize> {
        match query.get(name) {
            None => Ok(default),
            Some(text) => text.parse::<usize>().ok().filter(|n| *n <= most).ok_or_else(|| {
                AppError::bad_request(format!("`{name}` must be a whole number up to {most}"))
            }),
        }
    };
    let limit = number("limit", LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX)?.max(1);
    let offset = number("offset", 0, usize::MAX)?;
    let now = state.now();
    let rows = state.store().experiments().await?;
    let views = rows
        .into_iter()
        .filter(|row| creator.is_none_or(|c| row.creator == c))
        .map(|row| experiment_view(row, now))
        .filter(|view| {
            phases.as_ref().is_none_or(|wanted| wanted.iter().any(|p| *p == view.phase.to_string()))
        })
        .skip(offset)
        .take(limit)
        .collect();
    Ok(Json(views))
}

async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> AppResult<Json<ExperimentView>> {
    let now = state.now();
    let row = state.experiment_row(parse_id(&id)?).await?;
    Ok(Json(experiment_view(row, now)))
}

async fn import(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(caller): Caller,
    body: RawBody,
) -> AppResult<Json<Value>> {
    let id = parse_id(&id)?;
    let text = body.text("task file")?;
    let summary = state.import_tasks(id, caller, text, state.now()).await?;
    Ok(Json(json!({ "tasks": summary.tasks, "regular": summary.regular, "gold": summary.gold })))
}

async fn fund(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(caller): Caller,
) -> AppResult<Json<ExperimentView>> {
    let now = state.now();
    let row = state.fund(parse_id(&id)?, caller, now).await?;
    Ok(Json(experiment_view(row, now)))
}

async fn open(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(caller): Caller,
) -> AppResult<Json<ExperimentView>> {
    let now = state.now();
    let row = state.open(parse_id(&id)?, caller, now).await?;
    Ok(Json(experiment_view(row, now)))
}

async fn close(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(caller): Caller,
) -> AppResult<Json<ExperimentView>> {
    let now = state.now();
    let row = state.close_commits(parse_id(&id)?, caller, now).await?;
    Ok(Json(experiment_view(row, now)))
}

async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller(caller): Caller,
) -> AppResult<Json<ExperimentView>> {
    let now = state.now();
    let row = state.cancel(parse_id(&id)?, caller, now).await?;
    Ok(Json(experiment_view(row, now)))
}

async fn settle(State(state): State<AppState>, Path(id): Path<String>) -> AppResult<Json<Value>> {
    let settlement = state.settle(parse_id(&id)?, state.now()).await?;
    Ok(Json(serde_json::to_value(settlement).map_err(AppError::internal)?))
}

async fn settlement(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> AppResult<Json<Value>> {
    let id = parse_id(&id)?;
    state.experiment_row(id).await?;
    let settlement = state
        .store()
        .settlement(id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("experiment {id} is not settled")))?;
    Ok(Json(serde_json::to_value(settlement).map_err(AppError::internal)?))
}

async fn record(State(state): State<AppState>, Path(id): Path<String>) -> AppResult<Response> {
    let id = parse_id(&id)?;
    state.experiment_row(id).await?;
    let record = state
        .store()
        .record(id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("experiment {id} is not settled")))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], record.to_json()).into_response())
}

async fn stats(State(state): State<AppState>, Path(id): Path<String>) -> AppResult<Json<Value>> {
    let id = parse_id(&id)?;
    let now = state.now();
    let row = state.experiment_row(id).await?;
    let log = state.store().log(id).await?;
    let settlement = state.store().settlement(id).await?;
    let phase = row.phase_at(now);
    // Revealed labels name tasks by position in their batch; the batches map them to tasks.
    let batches = if log.reveals.is_empty() { Vec::new() } else { state.batches(id).await? };
    // Gold answers are public once settled, and only then.
    let tasks = match settlement {
        Some(_) => state.store().tasks(id).await?,
        None => Vec::new(),
    };
    let settled = settlement.as_ref().map(|s| (s, tasks.as_slice()));
    let mut document = crate::stats::stats(&row.spec, phase, &log, &batches, settled);
    if settlement.is_some()
        && let Some(record) = state.store().record(id).await?
    {
        document["session_filter"] = crate::stats::session_filter(&record);
    }
    if row.spec.rounds.is_some()
        && let Some(seed) = row.seed
    {
        let batches = state.batches(id).await?;
        let tasks = state.store().tasks(id).await?;
        if let Some(rounds) = crate::stats::rounds_progress(&row.spec, &tasks, &log, &batches, seed)
        {
            document["rounds"] = rounds;
        }
    }
    Ok(Json(document))
}

async fn export_dataset(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    let format = match query.get("format") {
        Some(name) => Format::parse(name)?,
        None => {
            return Err(AppError::bad_request(
                "name a format: ?format=trl|jsonl|csv|parquet|raw|card|best_of",
            ));
        }
    };
    state.experiment_row(id).await?;
    let record = state.store().record(id).await?.ok_or_else(|| {
        AppError::new(
            StatusCode::CONFLICT,
            "wrong_phase",
            "the dataset is exported after settlement",
        )
    })?;
    let trl = trl_options(&query)?;
    let dataset = export::export_with(&record, format, &trl)?;
    let disposition = format!("attachment; filename=\"{}\"", format.file_name(&id.to_string()));
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (HeaderName::from_static(LEFT_OUT_HEADER), dataset.left_out.to_string()),
        ],
        dataset.bytes,
    )
        .into_response())
}

/// The header that counts the pairs the TRL options left out.
const LEFT_OUT_HEADER: &str = "x-plumbline-left-out";

/// `?gold=true|false`, `?min_confidence=0.5..1`, `?min_margin=0..`, `?cohort=NAME` or
/// `?bridging=true`, and `?prompt=explicit|implicit` for the TRL format.
fn trl_options(query: &HashMap<String, String>) -> AppResult<export::TrlOptions> {
    let mut options = export::TrlOptions::default();
    if let Some(gold) = query.get("gold") {
        options.gold = gold
            .parse()
            .map_err(|_| AppError::bad_request(format!("gold is true or false, not {gold:?}")))?;
    }
    match (query.get("cohort"), query.get("bridging").map(String::as_str)) {
        (Some(_), Some("true")) => {
            return Err(AppError::bad_request("name a cohort or ask for bridging, not both"));
        }
        (Some(cohort), _) => options.from = export::PairsFrom::Cohort(cohort.clone()),
        (None, Some("true")) => options.from = export::PairsFrom::Bridging,
        (None, Some("false") | None) => {}
        (None, Some(other)) => {
            return Err(AppError::bad_request(format!("bridging is true or false, not {other:?}")));
        }
    }
    match query.get("prompt").map(String::as_str) {
        None | Some("explicit") => {}
        Some("implicit") => options.implicit_prompt = true,
        Some(other) => {
            return Err(AppError::bad_request(format!(
                "prompt is explicit or implicit, not {other:?}"
            )));
        }
    }
    if let Some(text) = query.get("min_confidence") {
        options.min_confidence =
            text.parse::<f64>().ok().filter(|c| (0.5..=1.0).contains(c)).ok_or_else(|| {
                AppError::bad_request(format!(
                    "min_confidence is a number from 0.5 to 1, not {text:?}"
                ))
            })?;
    }
    if let Some(text) = query.get("min_margin") {
        options.min_margin =
            text.parse::<f64>().ok().filter(|m| m.is_finite() && *m >= 0.0).ok_or_else(|| {
                AppError::bad_request(format!(
                    "min_margin is a number from 0 (the question's strengths run from 1 to K), \
                     not {text:?}"
                ))
            })?;
    }
    Ok(options)
}
