//! Commits and reveals that arrive together are checked one by one and stored as one group:
//! each request gets its own answer, nothing is answered before the group is stored, and a
//! group that cannot be stored fails as a whole and leaves nothing behind, in the store or in
//! memory.

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{Harness, config, id_of, operator};
use plumbline_core::B256;
use plumbline_core::client::{LabelerKey, RevealedLabel};
use plumbline_core::eip712::embedded_domain;
use plumbline_core::label::Label;
use plumbline_server::demo::{DEMO_TASKS, demo_spec};
use plumbline_store::SqliteStore;
use serde_json::{Value, json};
use tower::ServiceExt;

/// An open demo experiment (3 blocks, overlap 3, up to 3 batches a labeler) whose 9 batches
/// three labelers have joined: each batch with its labeler and honest labels.
struct Joined {
    h: Harness,
    id: B256,
    batches: Vec<(u64, LabelerKey, Vec<RevealedLabel>)>,
    commit_deadline: u64,
}

async fn joined() -> Joined {
    let h = Harness::new(config()).await;
    let operator_token = h.login(&operator()).await;
    let creator = LabelerKey::derived(42, 1);
    let creator_token = h.login(&creator).await;
    let spec = demo_spec(h.state.now());
    h.mint(&operator_token, creator.address(), spec.reward_pool).await;
    let (status, experiment) =
        h.call("POST", "/experiments", Some(&creator_token), Some(json!({ "spec": spec }))).await;
    assert_eq!(status, StatusCode::CREATED, "{experiment}");
    let id = id_of(&experiment["experiment_id"]);
    let tasks = Some(DEMO_TASKS.as_bytes().to_vec());
    let path = format!("/experiments/{id}/tasks");
    let (status, _) =
        h.raw("POST", &path, Some(&creator_token), "application/x-ndjson", tasks).await;
    assert_eq!(status, StatusCode::OK);
    for step in ["fund", "open"] {
        let path = format!("/experiments/{id}/{step}");
        let (status, answer) = h.call("POST", &path, Some(&creator_token), None).await;
        assert_eq!(status, StatusCode::OK, "{step}: {answer}");
    }
    let mut batches = Vec::new();
    for nonce in 0..3 {
        for n in 2..5 {
            let labeler = LabelerKey::derived(42, n);
            if nonce == 0 {
                h.mint(&operator_token, labeler.address(), 3 * spec.stake_per_batch).await;
            }
            let join = labeler.join(&embedded_domain(), id, None, spec.stake_per_batch, nonce);
            let body = Some(serde_json::to_value(&join).unwrap());
            let (status, batch) =
                h.call("POST", &format!("/experiments/{id}/join"), None, body).await;
            assert_eq!(status, StatusCode::CREATED, "{batch}");
            let labels = batch["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| RevealedLabel {
                    task: t["task"].as_u64().unwrap() as u32,
                    label: Label::Int(1),
                })
                .collect();
            batches.push((batch["batch_id"].as_u64().unwrap(), labeler, labels));
        }
    }
    Joined { h, id, batches, commit_deadline: spec.commit_deadline }
}

/// A JSON POST through its own clone of the router, so that many can be in flight at once.
async fn post(app: Router, path: String, body: Value) -> (StatusCode, Value) {
    let request = Request::builder()
        .method("POST")
        .uri(format!("/api/v1{path}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

/// Sends every request at once, each from a task of its own; the answers in the order given.
async fn all_at_once(h: &Harness, requests: Vec<(String, Value)>) -> Vec<(StatusCode, Value)> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|(path, body)| tokio::spawn(post(h.app.clone(), path, body)))
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

fn commits(j: &Joined) -> Vec<(String, Value)> {
    j.batches
        .iter()
        .map(|(batch_id, key, labels)| {
            let commit = key.commit(&embedded_domain(), j.id, *batch_id, labels).unwrap();
            let path = format!("/experiments/{}/batches/{batch_id}/commit", j.id);
            (path, serde_json::to_value(&commit).unwrap())
        })
        .collect()
}

fn reveals(j: &Joined) -> Vec<(String, Value)> {
    j.batches
        .iter()
        .map(|(batch_id, key, labels)| {
            let reveal = key.reveal(&embedded_domain(), j.id, *batch_id, labels.clone()).unwrap();
            let path = format!("/experiments/{}/batches/{batch_id}/reveal", j.id);
            (path, serde_json::to_value(&reveal).unwrap())
        })
        .collect()
}

async fn progress(h: &Harness, id: B256) -> Value {
    let (status, stats) = h.call("GET", &format!("/experiments/{id}/stats"), None, None).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    stats["batches"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_and_reveals_sent_together_are_each_answered_and_all_stored() {
    let mut j = joined().await;
    let id = j.id;

    // Every commit at once, with a repeat of the first and one signed by the wrong labeler.
    let mut wave = commits(&j);
    wave.push(wave[0].clone());
    let (stranger, _, _) = &j.batches[1];
    let forged = j.batches[2].1.commit(&embedded_domain(), id, *stranger, &j.batches[1].2);
    let forged_path = format!("/experiments/{id}/batches/{stranger}/commit");
    wave.push((forged_path, serde_json::to_value(forged.unwrap()).unwrap()));
    let answers = all_at_once(&j.h, wave.clone()).await;
    for (status, answer) in &answers[1..9] {
        assert_eq!(*status, StatusCode::CREATED, "{answer}");
        assert_eq!(answer["repeat"], false);
    }
    // The two copies of the first commit: one is new, the other a repeat, in either order.
    let mut first = [answers[0].0, answers[9].0];
    first.sort();
    assert_eq!(first, [StatusCode::OK, StatusCode::CREATED], "{answers:?}");
    // The forgery is refused for its signature, or, once the real commit is in, as a different
    // commitment for the batch; either way the real one is what is stored.
    let (status, refusal) = &answers[10];
    let code = refusal["code"].as_str().unwrap();
    assert!(
        matches!(
            (*status, code),
            (StatusCode::FORBIDDEN, "wrong_signer") | (StatusCode::CONFLICT, "conflict")
        ),
        "{status} {refusal}"
    );
    assert_eq!(progress(&j.h, id).await, json!({"joined": 9, "committed": 9, "revealed": 0}));
    for (path, commit) in &wave[..9] {
        let (status, stored) = j.h.call("GET", path, None, None).await;
        assert_eq!(status, StatusCode::OK, "{stored}");
        assert_eq!(stored["commitment"], commit["commitment"]);
    }

    // Every reveal at once, each twice.
    j.h.set_clock(j.commit_deadline).await;
    let mut wave = reveals(&j);
    wave.extend(wave.clone());
    let answers = all_at_once(&j.h, wave.clone()).await;
    for n in 0..9 {
        let mut statuses = [answers[n].0, answers[n + 9].0];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::OK, StatusCode::CREATED], "{answers:?}");
    }
    assert_eq!(progress(&j.h, id).await, json!({"joined": 9, "committed": 9, "revealed": 9}));

    // What was stored is the whole truth: rebuilt from it, the server knows every write.
    j.h.restart(config()).await;
    j.h.set_clock(j.commit_deadline).await;
    for (status, answer) in all_at_once(&j.h, wave[..9].to_vec()).await {
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["repeat"], true);
    }
    let ledger = j.h.state.check_ledger().await.unwrap();
    assert!(ledger.balanced, "{:?}", ledger.problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_that_cannot_be_stored_fails_whole_and_leaves_nothing_behind() {
    let j = joined().await;
    let id = j.id;
    // A second connection to the same file makes the database refuse every commit row.
    let tamper = SqliteStore::open(&j.h.db.0).await.unwrap();
    tamper
        .execute_raw(
            "CREATE TRIGGER refuse_commits BEFORE INSERT ON commits \
             BEGIN SELECT RAISE(ABORT, 'the disk is full'); END",
        )
        .await
        .unwrap();
    let wave = commits(&j);
    for (status, answer) in all_at_once(&j.h, wave.clone()).await {
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{answer}");
        assert_eq!(answer["code"], "internal");
    }
    assert_eq!(progress(&j.h, id).await, json!({"joined": 9, "committed": 0, "revealed": 0}));
    let (status, _) = j.h.call("GET", &wave[0].0, None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Once the database takes writes again, the same commits are new: the server did not keep
    // in memory what it failed to store.
    tamper.execute_raw("DROP TRIGGER refuse_commits").await.unwrap();
    tamper.close().await;
    for (status, answer) in all_at_once(&j.h, wave).await {
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        assert_eq!(answer["repeat"], false);
    }
    assert_eq!(progress(&j.h, id).await, json!({"joined": 9, "committed": 9, "revealed": 0}));
}
