//! Three servers on one PostgreSQL database, each with its own connections and its own copy of
//! live experiments in memory, as three replicas behind a load balancer. Requests for one
//! experiment land on any of them, at once: every join, commit and reveal is decided from the
//! whole stored log (a replica catches up with what the others appended first), no block gets
//! more labelers than its overlap, nothing is stored twice, sessions work everywhere, and the
//! experiment settles once however many replicas are asked to, after its creator closed
//! commits early on one of them.

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{Server, TempSchema, config, id_of, operator};
use plumbline_core::client::{LabelerKey, RevealedLabel};
use plumbline_core::eip712::embedded_domain;
use plumbline_core::label::Label;
use plumbline_core::record::{PublicRecord, audit};
use plumbline_server::demo::{DEMO_TASKS, demo_spec};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tower::ServiceExt;

const REPLICAS: usize = 3;
const LABELERS: u64 = 6;
/// The demo experiment's room: 3 blocks of 4 regular tasks, each for 3 labelers.
const BATCHES: u64 = 9;

/// A JSON request through its own clone of a router, so that many can be in flight at once.
async fn send(app: Router, method: &'static str, path: String, body: Value) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(format!("/api/v1{path}"))
        .header("content-type", "application/json")
        .body(if body.is_null() { Body::empty() } else { Body::from(body.to_string()) })
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Sends each request to its replica, all at once; the answers in the order given.
async fn all_at_once(
    replicas: &[Server],
    requests: Vec<(usize, &'static str, String, Value)>,
) -> Vec<(StatusCode, Value)> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|(r, method, path, body)| {
            tokio::spawn(send(replicas[r % replicas.len()].app.clone(), method, path, body))
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_share_one_experiment_and_settle_it_once() {
    let schema = TempSchema::fresh().await;
    let mut replicas = Vec::new();
    for _ in 0..REPLICAS {
        replicas.push(schema.replica(config()).await);
    }
    let [first, second, third] = [&replicas[0], &replicas[1], &replicas[2]];
    // One time on every replica's test clock, as synchronized system clocks would give (each
    // test clock starts at the system time of its creation).
    let now = replicas.iter().map(|r| r.state.now()).max().unwrap();
    for replica in &replicas {
        replica.set_clock(now).await;
    }

    // Sessions live in the database: a token from one replica works on the others.
    let operator_token = first.login(&operator()).await;
    let creator = LabelerKey::derived(42, 1);
    let creator_token = second.login(&creator).await;
    let spec = demo_spec(now);
    third.mint(&operator_token, creator.address(), spec.reward_pool).await;
    let (status, experiment) = first
        .call("POST", "/experiments", Some(&creator_token), Some(json!({ "spec": spec })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{experiment}");
    let id = id_of(&experiment["experiment_id"]);
    let tasks = Some(DEMO_TASKS.as_bytes().to_vec());
    let path = format!("/experiments/{id}/tasks");
    let (status, answer) =
        second.raw("POST", &path, Some(&creator_token), "application/x-ndjson", tasks).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer));
    for (replica, step) in [(third, "fund"), (first, "open")] {
        let path = format!("/experiments/{id}/{step}");
        let (status, answer) = replica.call("POST", &path, Some(&creator_token), None).await;
        assert_eq!(status, StatusCode::OK, "{step}: {answer}");
    }

    // Every labeler asks for as many batches as it may, each join on another replica, all
    // at once, round after round: more joins than the blocks have room for, so that the last
    // ones must be refused.
    let keys: Vec<LabelerKey> = (0..LABELERS).map(|n| LabelerKey::derived(42, 10 + n)).collect();
    let per_labeler = spec.limits.batches_per_labeler_max;
    for key in &keys {
        let stakes = u128::from(per_labeler) * spec.stake_per_batch;
        first.mint(&operator_token, key.address(), stakes).await;
    }
    let mut nonces = vec![Some(0u64); keys.len()];
    let mut joined: Vec<(u64, usize, Vec<RevealedLabel>)> = Vec::new();
    for round in 0..per_labeler as usize {
        let asking: Vec<(usize, u64)> =
            nonces.iter().enumerate().filter_map(|(k, n)| n.map(|n| (k, n))).collect();
        let requests = asking
            .iter()
            .map(|&(k, nonce)| {
                let join = keys[k].join(&embedded_domain(), id, None, spec.stake_per_batch, nonce);
                let body = serde_json::to_value(&join).unwrap();
                (k + round, "POST", format!("/experiments/{id}/join"), body)
            })
            .collect();
        let answers = all_at_once(&replicas, requests).await;
        for (&(k, nonce), (status, batch)) in asking.iter().zip(answers) {
            if status == StatusCode::CONFLICT && batch["code"] == "no_batch" {
                nonces[k] = None;
                continue;
            }
            assert_eq!(status, StatusCode::CREATED, "labeler {k}, join {nonce}: {batch}");
            nonces[k] = Some(nonce + 1);
            let labels = batch["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| RevealedLabel {
                    task: t["task"].as_u64().unwrap() as u32,
                    label: Label::Int(1),
                })
                .collect();
            joined.push((batch["batch_id"].as_u64().unwrap(), k, labels));
        }
    }
    joined.sort_by_key(|(batch_id, ..)| *batch_id);
    let ids: Vec<u64> = joined.iter().map(|(batch_id, ..)| *batch_id).collect();
    assert_eq!(ids, (0..BATCHES).collect::<Vec<_>>(), "every block filled, each batch id once");

    // Each batch can be read by its labeler on a replica that did not assign it.
    let mut tokens = Vec::new();
    for key in &keys {
        tokens.push(replicas[0].login(key).await);
    }
    for (batch_id, k, _) in &joined {
        let path = format!("/experiments/{id}/batches/{batch_id}");
        let (status, batch) =
            replicas[(k + 1) % REPLICAS].call("GET", &path, Some(&tokens[*k]), None).await;
        assert_eq!(status, StatusCode::OK, "batch {batch_id}: {batch}");
        assert_eq!(batch["labeler"], json!(keys[*k].address()));
    }
    let mut per_block: BTreeMap<String, u32> = BTreeMap::new();
    let (status, stats) = third.call("GET", &format!("/experiments/{id}/stats"), None, None).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(stats["batches"]["joined"], json!(joined.len()), "{stats}");
    for (batch_id, k, _) in &joined {
        let path = format!("/experiments/{id}/batches/{batch_id}");
        let (_, batch) = first.call("GET", &path, Some(&tokens[*k]), None).await;
        // Batches of one block show the same tasks (gold included), each in its own order.
        let mut prompts: Vec<String> =
            batch["tasks"].as_array().unwrap().iter().map(|t| t["prompt"].to_string()).collect();
        prompts.sort();
        *per_block.entry(prompts.join("|")).or_default() += 1;
    }
    assert!(
        per_block.values().all(|&n| n <= spec.overlap),
        "a block over its overlap: {per_block:?}"
    );

    // Commits, each sent to two replicas at once: each stored once, the repeat harmless.
    let commit_requests = |shift: usize| -> Vec<(usize, &'static str, String, Value)> {
        joined
            .iter()
            .map(|(batch_id, k, labels)| {
                let commit = keys[*k].commit(&embedded_domain(), id, *batch_id, labels).unwrap();
                let path = format!("/experiments/{id}/batches/{batch_id}/commit");
                (*batch_id as usize + shift, "POST", path, serde_json::to_value(&commit).unwrap())
            })
            .collect()
    };
    let mut requests = commit_requests(0);
    requests.extend(commit_requests(1));
    for (status, answer) in all_at_once(&replicas, requests).await {
        assert!(status.is_success(), "{status}: {answer}");
    }

    // Every batch is committed: the creator closes commits on one replica, and the reveals
    // go to the others, whose copies of the experiment learn of the close from the store.
    let path = format!("/experiments/{id}/close");
    let (status, closed) = third.call("POST", &path, Some(&creator_token), None).await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert_eq!(closed["phase"], "revealing");
    let requests = joined
        .iter()
        .map(|(batch_id, k, labels)| {
            let reveal =
                keys[*k].reveal(&embedded_domain(), id, *batch_id, labels.clone()).unwrap();
            let path = format!("/experiments/{id}/batches/{batch_id}/reveal");
            (*batch_id as usize + 2, "POST", path, serde_json::to_value(&reveal).unwrap())
        })
        .collect();
    for (status, answer) in all_at_once(&replicas, requests).await {
        assert!(status.is_success(), "{status}: {answer}");
    }

    // Every commit is revealed, long before the reveal deadline: settled on every replica at
    // once, one settlement, the same for all.
    let requests = (0..REPLICAS)
        .map(|r| (r, "POST", format!("/experiments/{id}/settle"), Value::Null))
        .collect();
    let answers = all_at_once(&replicas, requests).await;
    for (status, answer) in &answers {
        assert_eq!(*status, StatusCode::OK, "{answer}");
        assert_eq!(answer, &answers[0].1, "every replica answers the one settlement");
    }
    let (status, record) =
        second.call("GET", &format!("/experiments/{id}/record"), None, None).await;
    assert_eq!(status, StatusCode::OK, "{record}");
    let record: PublicRecord = serde_json::from_value(record).unwrap();
    assert_eq!(record.commits.len(), joined.len(), "every commit, from every replica, counted");
    assert_eq!(record.reveals.len(), joined.len(), "every reveal counted");
    assert_eq!(record.spec.commits_closed_at, closed["spec"]["commits_closed_at"].as_u64());
    audit(&record).expect("the record audits");
    for replica in &replicas {
        let report = replica.state.check_ledger().await.unwrap();
        assert!(report.balanced, "{:?}", report.problems);
    }
}
