//! Bad requests get a clear `{code, message}` with the right status and change nothing:
//! balances, counts and the journal are the same afterwards.

mod common;

use axum::http::StatusCode;
use common::{Harness, config, id_of, operator, personal_sign};
use plumbline_core::B256;
use plumbline_core::client::{LabelerKey, RevealedLabel};
use plumbline_core::eip712::embedded_domain;
use plumbline_core::label::Label;
use plumbline_core::seal::{SealContext, public_key_hex, seal_reveal};
use plumbline_server::Config;
use plumbline_server::demo::{DEMO_TASKS, demo_spec};
use plumbline_server::service::DRAFTS_PER_CREATOR_MAX;
use serde_json::{Value, json};

struct Draft {
    h: Harness,
    id: B256,
    creator_token: String,
    operator_token: String,
}

const CREDITS: u128 = 5_000;

/// A funded draft of the demo experiment with tasks not yet imported.
async fn draft(config: Config) -> Draft {
    let h = Harness::new(config).await;
    let operator_token = h.login(&operator()).await;
    let creator = LabelerKey::derived(42, 1);
    let creator_token = h.login(&creator).await;
    let spec = demo_spec(h.state.now());
    h.mint(&operator_token, creator.address(), spec.reward_pool).await;
    let (status, experiment) =
        h.call("POST", "/experiments", Some(&creator_token), Some(json!({ "spec": spec }))).await;
    assert_eq!(status, StatusCode::CREATED, "{experiment}");
    let id = id_of(&experiment["experiment_id"]);
    Draft { h, id, creator_token, operator_token }
}

async fn import(d: &Draft, text: &str) -> (StatusCode, Value) {
    let path = format!("/experiments/{}/tasks", d.id);
    let (status, body) =
        d.h.raw(
            "POST",
            &path,
            Some(&d.creator_token),
            "application/x-ndjson",
            Some(text.as_bytes().to_vec()),
        )
        .await;
    (status, serde_json::from_slice(&body).unwrap())
}

/// An open demo experiment and a labeler with credits.
async fn open(config: Config) -> (Draft, LabelerKey) {
    let d = draft(config).await;
    let (status, _) = import(&d, DEMO_TASKS).await;
    assert_eq!(status, StatusCode::OK);
    for step in ["fund", "open"] {
        let (status, answer) = d
            .h
            .call("POST", &format!("/experiments/{}/{step}", d.id), Some(&d.creator_token), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{step}: {answer}");
    }
    let labeler = LabelerKey::derived(42, 7);
    d.h.mint(&d.operator_token, labeler.address(), CREDITS).await;
    (d, labeler)
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

/// What a refusal must leave unchanged: the experiment's counts and the journal.
async fn snapshot(h: &Harness, id: B256) -> (Value, Value, u64) {
    let (_, experiment) = h.call("GET", &format!("/experiments/{id}"), None, None).await;
    let (_, stats) = h.call("GET", &format!("/experiments/{id}/stats"), None, None).await;
    let ledger = h.state.check_ledger().await.unwrap();
    assert!(ledger.balanced, "{:?}", ledger.problems);
    (experiment["tasks"].clone(), stats["batches"].clone(), ledger.journal_entries)
}

#[tokio::test]
async fn a_malformed_task_line_is_named_and_nothing_is_imported() {
    let d = draft(config()).await;
    let before = snapshot(&d.h, d.id).await;
    let mut lines: Vec<&str> = DEMO_TASKS.lines().collect();
    lines[2] = r#"{"id": "broken", "prompt": "p", "responses": ["only one"]}"#;
    let (status, body) = import(&d, &lines.join("\n")).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid_tasks");
    assert!(body["message"].as_str().unwrap().starts_with("line 3: "), "{body}");
    let (status, body) =
        import(&d, "{\"id\": \"a\", \"responses\": [\"x\", \"y\"], \"gold\": 7}").await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid_tasks");
    assert_eq!(snapshot(&d.h, d.id).await, before);
    // Nothing was kept, so the good file still imports, once.
    assert_eq!(import(&d, DEMO_TASKS).await.0, StatusCode::OK);
    let (status, body) = import(&d, DEMO_TASKS).await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
}

#[tokio::test]
async fn a_bad_signature_is_forbidden_and_locks_nothing() {
    let (d, labeler) = open(config()).await;
    let before = snapshot(&d.h, d.id).await;
    let domain = embedded_domain();
    let path = format!("/experiments/{}/join", d.id);

    // Signed by someone else on the labeler's behalf.
    let mut forged = LabelerKey::derived(42, 8).join(&domain, d.id, None, 1_000, 0);
    forged.labeler = labeler.address();
    let (status, body) =
        d.h.call("POST", &path, None, Some(serde_json::to_value(&forged).unwrap())).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "wrong_signer");

    // A signature that is not one.
    let mut garbled = labeler.join(&domain, d.id, None, 1_000, 0);
    garbled.signature = vec![0u8; 64].into();
    let (status, body) =
        d.h.call("POST", &path, None, Some(serde_json::to_value(&garbled).unwrap())).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "bad_signature");

    // Signed for another experiment.
    let elsewhere = labeler.join(&domain, B256::repeat_byte(1), None, 1_000, 0);
    let (status, body) =
        d.h.call("POST", &path, None, Some(serde_json::to_value(&elsewhere).unwrap())).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "wrong_signer");

    assert_eq!(d.h.balances(labeler.address()).await, (CREDITS, 0));
    assert_eq!(snapshot(&d.h, d.id).await, before);
    // The honest join still gets batch 0: the refusals left no trace in memory either.
    let good = labeler.join(&domain, d.id, None, 1_000, 0);
    let (status, batch) =
        d.h.call("POST", &path, None, Some(serde_json::to_value(&good).unwrap())).await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    assert_eq!(batch["batch_id"], 0);
}

#[tokio::test]
async fn a_join_presented_after_its_expiry_is_refused_and_changes_nothing() {
    let (d, labeler) = open(config()).await;
    let before = snapshot(&d.h, d.id).await;
    let domain = embedded_domain();
    let path = format!("/experiments/{}/join", d.id);
    let now = d.h.state.now();
    let late = labeler.join_until(&domain, d.id, None, 1_000, 0, now - 1);
    let (status, body) =
        d.h.call("POST", &path, None, Some(serde_json::to_value(&late).unwrap())).await;
    assert_error(status, &body, StatusCode::CONFLICT, "deadline");
    assert!(body["message"].as_str().unwrap().contains("expired"), "{body}");
    // The expiry is signed: moving it forward breaks the signature.
    let mut extended = late.clone();
    extended.expires_at = now + 600;
    let (status, body) =
        d.h.call("POST", &path, None, Some(serde_json::to_value(&extended).unwrap())).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "wrong_signer");
    assert_eq!(d.h.balances(labeler.address()).await, (CREDITS, 0));
    assert_eq!(snapshot(&d.h, d.id).await, before);
    // Accepted up to its last second, and a retry after that still finds its batch.
    let timely = labeler.join_until(&domain, d.id, None, 1_000, 0, now);
    let (status, batch) =
        d.h.call("POST", &path, None, Some(serde_json::to_value(&timely).unwrap())).await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    d.h.set_clock(now + 1).await;
    let (status, again) =
        d.h.call("POST", &path, None, Some(serde_json::to_value(&timely).unwrap())).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["batch_id"], batch["batch_id"]);
}

#[tokio::test]
async fn a_join_without_the_stake_is_refused_and_changes_nothing() {
    let (d, _) = open(config()).await;
    let poor = LabelerKey::derived(42, 9);
    d.h.mint(&d.operator_token, poor.address(), 999).await;
    let before = snapshot(&d.h, d.id).await;
    let join = poor.join(&embedded_domain(), d.id, None, 1_000, 0);
    let path = format!("/experiments/{}/join", d.id);
    let (status, body) =
        d.h.call("POST", &path, None, Some(serde_json::to_value(&join).unwrap())).await;
    assert_error(status, &body, StatusCode::CONFLICT, "insufficient_funds");
    let wrong_stake = poor.join(&embedded_domain(), d.id, None, 999, 0);
    let (status, body) =
        d.h.call("POST", &path, None, Some(serde_json::to_value(&wrong_stake).unwrap())).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "mismatch");
    assert_eq!(d.h.balances(poor.address()).await, (999, 0));
    assert_eq!(snapshot(&d.h, d.id).await, before);
    d.h.mint(&d.operator_token, poor.address(), 1).await;
    let (status, batch) =
        d.h.call("POST", &path, None, Some(serde_json::to_value(&join).unwrap())).await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    assert_eq!(d.h.balances(poor.address()).await, (0, 1_000));
}

fn honest_labels(batch: &Value) -> Vec<RevealedLabel> {
    batch["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| RevealedLabel { task: t["task"].as_u64().unwrap() as u32, label: Label::Int(1) })
        .collect()
}

#[tokio::test]
async fn a_commit_after_the_deadline_conflicts_and_is_not_stored() {
    let (d, labeler) = open(config()).await;
    let domain = embedded_domain();
    let join = labeler.join(&domain, d.id, None, 1_000, 0);
    let (_, batch) =
        d.h.call(
            "POST",
            &format!("/experiments/{}/join", d.id),
            None,
            Some(serde_json::to_value(&join).unwrap()),
        )
        .await;
    let commit = labeler.commit(&domain, d.id, 0, &honest_labels(&batch)).unwrap();
    d.h.set_clock(demo_spec(0).commit_deadline + d.h.state.now()).await;
    let before = snapshot(&d.h, d.id).await;
    let path = format!("/experiments/{}/batches/0/commit", d.id);
    let (status, body) =
        d.h.call("POST", &path, None, Some(serde_json::to_value(&commit).unwrap())).await;
    assert_error(status, &body, StatusCode::CONFLICT, "wrong_phase");
    assert_eq!(snapshot(&d.h, d.id).await, before);
    assert_eq!(before.1, json!({"joined": 1, "committed": 0, "revealed": 0}));
    let (status, _) = d.h.call("GET", &path, None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = d.h.call("POST", "/test/clock", None, Some(json!({"now": 5}))).await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
}

#[tokio::test]
async fn a_reveal_that_does_not_match_its_commitment_is_refused() {
    let (d, labeler) = open(config()).await;
    let domain = embedded_domain();
    let join = labeler.join(&domain, d.id, None, 1_000, 0);
    let (_, batch) =
        d.h.call(
            "POST",
            &format!("/experiments/{}/join", d.id),
            None,
            Some(serde_json::to_value(&join).unwrap()),
        )
        .await;
    let labels = honest_labels(&batch);
    let commit = labeler.commit(&domain, d.id, 0, &labels).unwrap();
    let (status, _) =
        d.h.call(
            "POST",
            &format!("/experiments/{}/batches/0/commit", d.id),
            None,
            Some(serde_json::to_value(&commit).unwrap()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, experiment) = d.h.call("GET", &format!("/experiments/{}", d.id), None, None).await;
    d.h.set_clock(experiment["commit_deadline"].as_u64().unwrap()).await;

    let mut changed = labels.clone();
    changed[0].label = Label::Int(-1);
    let lie = labeler.reveal(&domain, d.id, 0, changed).unwrap();
    let before = snapshot(&d.h, d.id).await;
    let path = format!("/experiments/{}/batches/0/reveal", d.id);
    let (status, body) =
        d.h.call("POST", &path, None, Some(serde_json::to_value(&lie).unwrap())).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "reveal_mismatch");
    assert!(body["message"].as_str().unwrap().contains("do not match the commitment"), "{body}");
    let (status, body) = d.h.call("POST", &path, None, Some(json!({"labels": "nope"}))).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(snapshot(&d.h, d.id).await, before);
    let truth = labeler.reveal(&domain, d.id, 0, labels).unwrap();
    let (status, body) =
        d.h.call("POST", &path, None, Some(serde_json::to_value(&truth).unwrap())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn an_oversized_body_is_refused_before_anything_happens() {
    let small =
        Config { json_body_bytes_max: 2 * 1024, import_body_bytes_max: 8 * 1024, ..config() };
    let d = draft(small).await;
    let before = snapshot(&d.h, d.id).await;
    let mut spec = serde_json::to_value(demo_spec(d.h.state.now())).unwrap();
    spec["question"]["instructions"] = json!("x".repeat(8 * 1024));
    let (status, body) =
        d.h.call("POST", "/experiments", Some(&d.creator_token), Some(json!({ "spec": spec })))
            .await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    let (_, listed) = d.h.call("GET", "/experiments", None, None).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    // The import route has its own, larger limit: the demo file (about 3 KiB) is over the
    // JSON limit but fits under it, and a file past it does not.
    let huge = DEMO_TASKS.repeat(4);
    let (status, body) = import(&d, &huge).await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    assert_eq!(snapshot(&d.h, d.id).await, before);
    assert!(DEMO_TASKS.len() > 2 * 1024);
    assert_eq!(import(&d, DEMO_TASKS).await.0, StatusCode::OK);
}

#[tokio::test]
async fn sessions_roles_and_unknown_things_are_checked() {
    let d = draft(config()).await;
    let id = d.id;
    let stranger = LabelerKey::derived(42, 3);
    let stranger_token = d.h.login(&stranger).await;
    let fund = format!("/experiments/{id}/fund");
    let (status, body) = d.h.call("POST", &fund, None, None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = d.h.call("POST", &fund, Some("not-a-token"), None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = d.h.call("POST", &fund, Some(&stranger_token), None).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let mint = json!({"to": stranger.address(), "amount": "5"});
    let (status, body) = d.h.call("POST", "/ledger/mint", Some(&stranger_token), Some(mint)).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(d.h.balances(stranger.address()).await, (0, 0));
    let unknown = format!("/experiments/{}", B256::repeat_byte(3));
    let (status, body) = d.h.call("GET", &unknown, None, None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = d.h.call("GET", "/experiments/xyz", None, None).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, body) =
        d.h.call("GET", &format!("/experiments/{id}/settlement"), None, None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) =
        d.h.call("POST", &format!("/experiments/{id}/open"), Some(&d.creator_token), None).await;
    assert_error(status, &body, StatusCode::CONFLICT, "not_ready");
    let mut bad_spec = serde_json::to_value(demo_spec(d.h.state.now())).unwrap();
    bad_spec["overlap"] = json!(0);
    let (status, body) =
        d.h.call("POST", "/experiments", Some(&d.creator_token), Some(json!({"spec": bad_spec})))
            .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid_spec");
    assert!(body["message"].as_str().unwrap().contains("overlap"), "{body}");
    // A commit deadline already past is refused at create, and a draft whose deadline passed
    // since is refused at fund: it could never open.
    let mut late = demo_spec(d.h.state.now());
    late.commit_deadline = d.h.state.now();
    let (status, body) =
        d.h.call("POST", "/experiments", Some(&d.creator_token), Some(json!({"spec": late}))).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert!(body["message"].as_str().unwrap().contains("commit_deadline"), "{body}");
    // Cancelling the funded draft refunds its pool.
    let (_, before) =
        d.h.call("GET", &format!("/accounts/{}", LabelerKey::derived(42, 1).address()), None, None)
            .await;
    assert_eq!(d.h.call("POST", &fund, Some(&d.creator_token), None).await.0, StatusCode::OK);
    let (status, cancelled) =
        d.h.call("POST", &format!("/experiments/{id}/cancel"), Some(&d.creator_token), None).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["phase"], "cancelled");
    let (_, after) =
        d.h.call("GET", &format!("/accounts/{}", LabelerKey::derived(42, 1).address()), None, None)
            .await;
    assert_eq!(before["available"], after["available"]);
    // A draft whose commit deadline has passed since it was created cannot be funded.
    let spec = demo_spec(d.h.state.now());
    let (status, late) =
        d.h.call("POST", "/experiments", Some(&d.creator_token), Some(json!({"spec": spec}))).await;
    assert_eq!(status, StatusCode::CREATED, "{late}");
    d.h.set_clock(spec.commit_deadline).await;
    let token = d.h.login(&LabelerKey::derived(42, 1)).await;
    let late_fund = format!("/experiments/{}/fund", id_of(&late["experiment_id"]));
    let (status, body) = d.h.call("POST", &late_fund, Some(&token), None).await;
    assert_error(status, &body, StatusCode::CONFLICT, "deadline");
}

#[tokio::test]
async fn login_needs_the_right_signer_and_a_fresh_challenge() {
    let h = Harness::new(config()).await;
    let key = LabelerKey::derived(42, 4);
    let (_, challenge) =
        h.call("POST", "/auth/challenge", None, Some(json!({"address": key.address()}))).await;
    let message = challenge["message"].as_str().unwrap().to_string();
    let forged = personal_sign(&LabelerKey::derived(42, 5), &message);
    let (status, body) = h
        .call("POST", "/auth/login", None, Some(json!({"message": message, "signature": forged})))
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "wrong_signer");
    // The challenge was used up by that attempt.
    let signature = personal_sign(&key, &message);
    let (status, body) = h
        .call(
            "POST",
            "/auth/login",
            None,
            Some(json!({"message": message, "signature": signature})),
        )
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let token = h.login(&key).await;
    let (status, _) = h.call("GET", "/experiments", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_signed_out_session_token_stops_working() {
    let h = Harness::new(config()).await;
    let token = h.login(&LabelerKey::derived(42, 8)).await;
    let draft = || Some(json!({"spec": {}}));
    let (status, _) = h.call("POST", "/experiments", Some(&token), draft()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "signed in");
    let (status, body) = h.call("POST", "/auth/logout", Some(&token), None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"signed_out": true})));
    let (status, body) = h.call("POST", "/experiments", Some(&token), draft()).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = h.call("POST", "/auth/logout", Some(&token), None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = h.call("POST", "/auth/logout", None, None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn unauthenticated_writes_are_rate_limited_per_client_not_per_named_address() {
    let h = Harness::new(Config { client_rate_burst: 3, client_rate_per_sec: 0, ..config() }).await;
    for i in 0..3 {
        let body = json!({"address": LabelerKey::derived(42, i).address()});
        assert_eq!(h.call("POST", "/auth/challenge", None, Some(body)).await.0, StatusCode::OK);
    }
    // A fourth from the same client is refused, whatever address it names.
    let other = json!({"address": LabelerKey::derived(42, 9).address()});
    let (status, answer) = h.call("POST", "/auth/challenge", None, Some(other)).await;
    assert_error(status, &answer, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}

#[tokio::test]
async fn signed_in_writes_are_rate_limited_per_address() {
    let h = Harness::new(Config { rate_burst: 3, rate_per_sec: 0, ..config() }).await;
    let key = LabelerKey::derived(42, 6);
    let token = h.login(&key).await; // the first of the three, once the signature verifies
    let draft = || Some(json!({"spec": {}}));
    for _ in 0..2 {
        let (status, _) = h.call("POST", "/experiments", Some(&token), draft()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let (status, answer) = h.call("POST", "/experiments", Some(&token), draft()).await;
    assert_error(status, &answer, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let other = h.login(&LabelerKey::derived(42, 7)).await;
    let (status, _) = h.call("POST", "/experiments", Some(&other), draft()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_flood_naming_a_labeler_does_not_lock_it_out_of_revealing() {
    // Anyone may name any address in a sign-in challenge, a join or a reveal; none of that may
    // use up the labeler's own allowance before its signature is checked.
    let (d, labeler) = open(Config { rate_burst: 20, rate_per_sec: 0, ..config() }).await;
    let domain = embedded_domain();
    let join = labeler.join(&domain, d.id, None, 1_000, 0);
    let join_path = format!("/experiments/{}/join", d.id);
    let (_, batch) = d.h.call("POST", &join_path, None, Some(json!(join))).await;
    let labels = honest_labels(&batch);
    let commit = labeler.commit(&domain, d.id, 0, &labels).unwrap();
    let commit_path = format!("/experiments/{}/batches/0/commit", d.id);
    assert_eq!(
        d.h.call("POST", &commit_path, None, Some(json!(commit))).await.0,
        StatusCode::CREATED
    );
    let (_, experiment) = d.h.call("GET", &format!("/experiments/{}", d.id), None, None).await;
    d.h.set_clock(experiment["commit_deadline"].as_u64().unwrap()).await;

    let reveal_path = format!("/experiments/{}/batches/0/reveal", d.id);
    let mut forged = labeler.reveal(&domain, d.id, 0, labels.clone()).unwrap();
    forged.labels[0].label = Label::Int(-1);
    let mut forged_join = json!(join);
    forged_join["nonce"] = json!(7);
    for _ in 0..30 {
        let challenge = json!({"address": labeler.address()});
        assert_eq!(
            d.h.call("POST", "/auth/challenge", None, Some(challenge)).await.0,
            StatusCode::OK
        );
        let (status, _) = d.h.call("POST", &reveal_path, None, Some(json!(forged))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, _) = d.h.call("POST", &join_path, None, Some(forged_join.clone())).await;
        assert_ne!(status, StatusCode::TOO_MANY_REQUESTS);
    }
    let truth = labeler.reveal(&domain, d.id, 0, labels).unwrap();
    let (status, body) = d.h.call("POST", &reveal_path, None, Some(json!(truth))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn the_test_clock_route_exists_only_when_enabled() {
    let h = Harness::new(Config { test_clock: false, ..config() }).await;
    let (status, body) = h.call("POST", "/test/clock", None, Some(json!({"now": 1}))).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "no_route");
    let (_, document) = h.call("GET", "/openapi.json", None, None).await;
    assert!(document["paths"].get("/api/v1/test/clock").is_none());
}

/// The labeler's join to batch 0, its labels, commit and signed reveal, not yet sent.
async fn joined_with_reveal(
    d: &Draft,
    labeler: &LabelerKey,
) -> (plumbline_core::client::SignedCommit, plumbline_core::client::SignedReveal) {
    let domain = embedded_domain();
    let join = labeler.join(&domain, d.id, None, 1_000, 0);
    let path = format!("/experiments/{}/join", d.id);
    let (status, batch) =
        d.h.call("POST", &path, None, Some(serde_json::to_value(&join).unwrap())).await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    let labels = honest_labels(&batch);
    let commit = labeler.commit(&domain, d.id, 0, &labels).unwrap();
    let reveal = labeler.reveal(&domain, d.id, 0, labels).unwrap();
    (commit, reveal)
}

fn sealed(
    to: &k256::PublicKey,
    id: B256,
    labeler: &LabelerKey,
    reveal: &plumbline_core::client::SignedReveal,
) -> String {
    let context = SealContext { experiment_id: id, batch_id: 0, labeler: labeler.address() };
    let ephemeral = LabelerKey::derived(42, 77).sealing_key();
    seal_reveal(to, &context, reveal, &ephemeral, [9; 12])
}

#[tokio::test]
async fn a_sealed_reveal_that_does_not_open_its_commitment_is_refused_and_a_good_one_is_revealed_at_the_deadline()
 {
    let sealing = LabelerKey::derived(42, 99).sealing_key();
    let (d, labeler) = open(Config { sealing_key: Some(sealing.clone()), ..config() }).await;
    let (_, key) = d.h.call("GET", "/sealing-key", None, None).await;
    assert_eq!(key["public_key"], public_key_hex(&sealing.public_key()));
    let (commit, reveal) = joined_with_reveal(&d, &labeler).await;
    let path = format!("/experiments/{}/batches/0/commit", d.id);
    let with = |sealed: String| {
        let mut body = serde_json::to_value(&commit).unwrap();
        body["sealed_reveal"] = json!(sealed);
        body
    };
    let before = snapshot(&d.h, d.id).await;

    // Sealed to another key, altered, or holding labels the commitment does not bind.
    let stranger = LabelerKey::derived(42, 98).sealing_key().public_key();
    let (status, body) =
        d.h.call("POST", &path, None, Some(with(sealed(&stranger, d.id, &labeler, &reveal)))).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_sealed_reveal");
    let (status, body) = d.h.call("POST", &path, None, Some(with("0x1234".into()))).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_sealed_reveal");
    let mut other = reveal.clone();
    other.labels[0].label = Label::Int(-1);
    let lie = sealed(&sealing.public_key(), d.id, &labeler, &other);
    let (status, body) = d.h.call("POST", &path, None, Some(with(lie))).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "reveal_mismatch");
    assert_eq!(snapshot(&d.h, d.id).await, before);

    // A good one is kept with the commit, and revealed by the server once the commit deadline
    // passes, while the labeler never comes back.
    let good = sealed(&sealing.public_key(), d.id, &labeler, &reveal);
    let (status, body) = d.h.call("POST", &path, None, Some(with(good))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    d.h.state.tick().await;
    let (_, stats) = d.h.call("GET", &format!("/experiments/{}/stats", d.id), None, None).await;
    assert_eq!(stats["batches"], json!({"joined": 1, "committed": 1, "revealed": 0}));
    let (_, experiment) = d.h.call("GET", &format!("/experiments/{}", d.id), None, None).await;
    d.h.set_clock(experiment["commit_deadline"].as_u64().unwrap()).await;
    d.h.state.tick().await;
    let (_, stats) = d.h.call("GET", &format!("/experiments/{}/stats", d.id), None, None).await;
    assert_eq!(stats["batches"], json!({"joined": 1, "committed": 1, "revealed": 1}));
    // What the server revealed is the labeler's own signed reveal; revealing it again is a
    // harmless repeat.
    let reveal_path = format!("/experiments/{}/batches/0/reveal", d.id);
    let (status, body) =
        d.h.call("POST", &reveal_path, None, Some(serde_json::to_value(&reveal).unwrap())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_sealed_reveal_without_a_sealing_key_is_refused() {
    let (d, labeler) = open(config()).await;
    let (status, body) = d.h.call("GET", "/sealing-key", None, None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "public_key": null })));
    let (commit, reveal) = joined_with_reveal(&d, &labeler).await;
    let before = snapshot(&d.h, d.id).await;
    let mut body = serde_json::to_value(&commit).unwrap();
    let to = LabelerKey::derived(42, 99).sealing_key().public_key();
    body["sealed_reveal"] = json!(sealed(&to, d.id, &labeler, &reveal));
    let path = format!("/experiments/{}/batches/0/commit", d.id);
    let (status, body) = d.h.call("POST", &path, None, Some(body)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "sealing_unavailable");
    assert_eq!(snapshot(&d.h, d.id).await, before);
}

#[tokio::test]
async fn a_key_without_its_pool_at_hand_keeps_no_draft_and_imports_no_tasks() {
    let h = Harness::new(config()).await;
    let operator_token = h.login(&operator()).await;
    let key = LabelerKey::derived(42, 4);
    let token = h.login(&key).await;
    let pool = demo_spec(h.state.now()).reward_pool;
    let spec = json!({ "spec": demo_spec(h.state.now()) });
    let mine = format!("creator={}&limit=500", key.address());
    // A fresh key, then one a credit short of the pool: refused, and nothing is stored.
    for credits in [0, pool - 1] {
        if credits > 0 {
            h.mint(&operator_token, key.address(), credits).await;
        }
        let (status, body) = h.call("POST", "/experiments", Some(&token), Some(spec.clone())).await;
        assert_error(status, &body, StatusCode::CONFLICT, "insufficient_funds");
        assert!(body["message"].as_str().unwrap().contains("reward pool"), "{body}");
        assert!(listed_ids(&h, &mine).await.is_empty());
    }
    h.mint(&operator_token, key.address(), 1).await;
    let mut drafts = Vec::new();
    for _ in 0..2 {
        let (status, body) = h.call("POST", "/experiments", Some(&token), Some(spec.clone())).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        drafts.push(id_of(&body["experiment_id"]));
    }
    // Funding one draft moves the pool into escrow: the other's tasks are no longer stored.
    let tasks = DEMO_TASKS.as_bytes().to_vec();
    let import = |id: B256| format!("/experiments/{id}/tasks");
    let (status, body) = h
        .raw("POST", &import(drafts[0]), Some(&token), "application/x-ndjson", Some(tasks.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    let (status, body) =
        h.call("POST", &format!("/experiments/{}/fund", drafts[0]), Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) =
        h.raw("POST", &import(drafts[1]), Some(&token), "application/x-ndjson", Some(tasks)).await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_error(status, &body, StatusCode::CONFLICT, "insufficient_funds");
    let (_, view) = h.call("GET", &format!("/experiments/{}", drafts[1]), None, None).await;
    assert_eq!(view["tasks"]["tasks"], 0, "{view}");
}

#[tokio::test]
async fn a_creator_holds_at_most_twenty_drafts_and_lists_are_filtered_and_paged() {
    let h = Harness::new(config()).await;
    let key = LabelerKey::derived(42, 3);
    let token = h.login(&key).await;
    let operator_token = h.login(&operator()).await;
    h.mint(&operator_token, key.address(), demo_spec(h.state.now()).reward_pool).await;
    let spec = json!({ "spec": demo_spec(h.state.now()) });
    let mut ids = Vec::new();
    for _ in 0..DRAFTS_PER_CREATOR_MAX {
        let (status, created) =
            h.call("POST", "/experiments", Some(&token), Some(spec.clone())).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        ids.push(id_of(&created["experiment_id"]));
    }
    let mine = format!("/experiments?creator={}&limit=500", key.address());
    let (_, listed) = h.call("GET", &mine, None, None).await;
    assert_eq!(listed.as_array().unwrap().len(), DRAFTS_PER_CREATOR_MAX);
    let (status, body) = h.call("POST", "/experiments", Some(&token), Some(spec.clone())).await;
    assert_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "too_many_drafts");
    let (_, listed) = h.call("GET", &mine, None, None).await;
    assert_eq!(listed.as_array().unwrap().len(), DRAFTS_PER_CREATOR_MAX, "nothing was created");

    // Lists filter by creator and phase and come in pages, newest first.
    let creator = key.address();
    let all = listed_ids(&h, &format!("creator={creator}&limit=500")).await;
    assert_eq!(listed_ids(&h, &format!("creator={creator}&limit=5")).await, all[..5]);
    assert_eq!(listed_ids(&h, &format!("creator={creator}&limit=5&offset=18")).await, all[18..]);
    assert_eq!(listed_ids(&h, &format!("creator={creator}&phase=draft,open")).await, all);
    assert!(listed_ids(&h, &format!("creator={creator}&phase=open")).await.is_empty());
    for bad in ["phase=done", "limit=501", "offset=-1", "creator=nobody"] {
        let (status, body) = h.call("GET", &format!("/experiments?{bad}"), None, None).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    }

    // A cancelled draft makes room for another.
    let cancel = format!("/experiments/{}/cancel", ids[0]);
    let (status, body) = h.call("POST", &cancel, Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = h.call("POST", "/experiments", Some(&token), Some(spec)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// The ids `GET /experiments?{query}` lists.
async fn listed_ids(h: &Harness, query: &str) -> Vec<B256> {
    let (status, listed) = h.call("GET", &format!("/experiments?{query}"), None, None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    listed.as_array().unwrap().iter().map(|e| id_of(&e["experiment_id"])).collect()
}

#[tokio::test]
async fn the_faucet_tops_an_account_up_to_its_amount_and_no_further() {
    // Off by default: 404, and nothing is issued.
    let h = Harness::new(config()).await;
    let newcomer = LabelerKey::derived(77, 1);
    let token = h.login(&newcomer).await;
    let (_, info) = h.call("GET", "/ledger/faucet", None, None).await;
    assert_eq!(info["amount"], Value::Null);
    let (status, body) = h.call("POST", "/ledger/faucet", Some(&token), None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(h.balances(newcomer.address()).await, (0, 0));

    let h = Harness::new(Config { faucet: Some(5_000), ..config() }).await;
    let token = h.login(&newcomer).await;
    let (_, info) = h.call("GET", "/ledger/faucet", None, None).await;
    assert_eq!(info["amount"], "5000");
    let (status, body) = h.call("POST", "/ledger/faucet", None, None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = h.call("POST", "/ledger/faucet", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["amount"].as_str(), body["available"].as_str()), (Some("5000"), Some("5000")));
    // Asking again issues nothing: it already holds the amount.
    let (status, body) = h.call("POST", "/ledger/faucet", Some(&token), None).await;
    assert_error(status, &body, StatusCode::CONFLICT, "enough");
    assert_eq!(h.balances(newcomer.address()).await, (5_000, 0));
    // An account holding less is topped up by the difference.
    let operator_token = h.login(&operator()).await;
    let other = LabelerKey::derived(77, 2);
    h.mint(&operator_token, other.address(), 1_200).await;
    let other_token = h.login(&other).await;
    let (status, body) = h.call("POST", "/ledger/faucet", Some(&other_token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["amount"], "3800");
    assert_eq!(h.balances(other.address()).await, (5_000, 0));
    let ledger = h.state.check_ledger().await.unwrap();
    assert!(ledger.balanced, "{:?}", ledger.problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_the_last_ledger_check_and_the_periodic_check_finds_tampering() {
    let h = Harness::new(Config {
        ledger_check_every: std::time::Duration::from_millis(50),
        ..config()
    })
    .await;
    // As `serve` does before it listens.
    h.state.check_ledger().await.unwrap();
    let operator_token = h.login(&operator()).await;
    let holder = LabelerKey::derived(78, 1);
    h.mint(&operator_token, holder.address(), 1_000).await;
    let (_, health) = h.call("GET", "/health", None, None).await;
    assert_eq!(health["ledger_balanced"], true, "{health}");
    let checked = health["journal_entries"].clone();

    // A balance edited behind the ledger's back: `/health` does not read the journal, so it
    // still reports the last check.
    let tamper = plumbline_store::SqliteStore::open(&h.db.0).await.unwrap();
    let account = plumbline_store::LedgerAccount::Available(holder.address()).to_string();
    tamper
        .execute_raw(&format!(
            "UPDATE ledger_accounts SET credits = '999999' WHERE ledger_account_id = '{account}'"
        ))
        .await
        .unwrap();
    tamper.close().await;
    let (_, health) = h.call("GET", "/health", None, None).await;
    assert_eq!(health["ledger_balanced"], true, "{health}");
    assert_eq!(health["journal_entries"], checked);

    // The periodic check finds it, and `/health` says so.
    let job = plumbline_server::scheduler::spawn_ledger_checks(h.state.clone());
    let mut degraded = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let (_, health) = h.call("GET", "/health", None, None).await;
        if health["status"] == "degraded" {
            assert_eq!(health["ledger_balanced"], false, "{health}");
            degraded = true;
            break;
        }
    }
    job.abort();
    assert!(degraded, "the periodic check never reported the tampered balance");
}
