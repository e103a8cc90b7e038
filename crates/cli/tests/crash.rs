//! Kill the server with SIGKILL in the middle of a commit load and of a reveal load, restart
//! it on the same database: no acknowledged commit or reveal is lost, nothing is paid twice,
//! and the ledger balances.

mod common;

use common::*;
use plumbline_core::B256;
use plumbline_core::client::{LabelerKey, RevealedLabel};
use plumbline_core::eip712::embedded_domain;
use plumbline_core::label::Label;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const LABELERS: u64 = 60;
const MINT: u128 = 10_000_000;
const STAKE: u128 = 1_000_000;

/// Sends `requests` (path, body) from four threads until they run out or the server dies;
/// returns the indices the server acknowledged with a 2xx. The server is killed with SIGKILL
/// once `kill_after` requests have been acknowledged.
fn load_and_kill(
    server: &mut Server,
    requests: Vec<(String, serde_json::Value)>,
    kill_after: usize,
) -> Vec<usize> {
    let requests = Arc::new(requests);
    let next = Arc::new(Mutex::new(0usize));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let dead = Arc::new(AtomicBool::new(false));
    let url = server.url.clone();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (requests, next, acknowledged, dead, url) =
                (requests.clone(), next.clone(), acknowledged.clone(), dead.clone(), url.clone());
            std::thread::spawn(move || {
                let client = plumbline_client::Client::with_timeout(&url, Duration::from_secs(5));
                loop {
                    let index = {
                        let mut n = next.lock().unwrap();
                        if *n == requests.len() || dead.load(Ordering::SeqCst) {
                            return;
                        }
                        *n += 1;
                        *n - 1
                    };
                    let (path, body) = &requests[index];
                    match client.post::<serde_json::Value>(path, body) {
                        Ok(_) => acknowledged.lock().unwrap().push(index),
                        Err(plumbline_client::ClientError::Refused { refusal, .. }) => {
                            panic!("{path}: {refusal}")
                        }
                        Err(_) => {
                            dead.store(true, Ordering::SeqCst);
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    while acknowledged.lock().unwrap().len() < kill_after {
        std::thread::sleep(Duration::from_millis(1));
    }
    server.kill();
    dead.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.join().unwrap();
    }
    let mut acknowledged = acknowledged.lock().unwrap().clone();
    acknowledged.sort_unstable();
    acknowledged
}

#[test]
fn sigkill_during_commits_and_reveals_loses_nothing_acknowledged_and_pays_once() {
    let dir = TempDir::new("crash");
    let db = dir.0.join("crash.db");
    let port = free_port();
    let (operator_key, operator) = test_key(77, 0);
    let (creator_key, creator) = test_key(77, 1);
    let mut server = Server::start(&db, &operator, port);
    let start = now();
    server.set_clock(start);

    let operator_token = server.sign_in(&operator_key);
    let labelers: Vec<LabelerKey> = (0..LABELERS).map(|i| LabelerKey::derived(78, i)).collect();
    for address in
        std::iter::once(creator.clone()).chain(labelers.iter().map(|k| k.address().to_string()))
    {
        let amount = if address == creator { "1000000000".to_string() } else { MINT.to_string() };
        let body = serde_json::json!({ "to": address, "amount": amount }).to_string();
        let (status, answer) =
            server.post_as(&operator_token, "/ledger/mint", "application/json", body);
        assert_eq!(status, 200, "{answer}");
    }
    let token = server.sign_in(&creator_key);
    let spec: serde_json::Value = toml_to_json(&pairwise_spec(start, 10, 5, 2));
    let (status, created) = server.post_as(
        &token,
        "/experiments",
        "application/json",
        serde_json::json!({ "spec": spec }).to_string(),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["experiment_id"].as_str().unwrap().to_string();
    let experiment_id: B256 = id.parse().unwrap();
    let tasks = pairwise_tasks(120, 6);
    let (status, answer) =
        server.post_as(&token, &format!("/experiments/{id}/tasks"), "application/x-ndjson", tasks);
    assert_eq!(status, 200, "{answer}");
    for action in ["fund", "open"] {
        let (status, answer) = server.post_as(
            &token,
            &format!("/experiments/{id}/{action}"),
            "application/json",
            "{}".into(),
        );
        assert_eq!(status, 200, "{action}: {answer}");
    }

    // Every labeler joins; labels follow the latent truth.
    let domain = embedded_domain();
    let mut batches = Vec::new();
    for key in &labelers {
        let join = key.join(&domain, experiment_id, None, STAKE, 0);
        let (status, batch) =
            server.post(&format!("/experiments/{id}/join"), &serde_json::to_value(&join).unwrap());
        assert_eq!(status, 201, "{batch}");
        let labels: Vec<RevealedLabel> = batch["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let index = question_number(t["prompt"].as_str().unwrap());
                RevealedLabel {
                    task: t["task"].as_u64().unwrap() as u32,
                    label: Label::Int(truth_of(index)),
                }
            })
            .collect();
        batches.push((batch["batch_id"].as_u64().unwrap(), labels));
    }
    let commits: Vec<(String, serde_json::Value)> = labelers
        .iter()
        .zip(&batches)
        .map(|(key, (batch_id, labels))| {
            let commit = key.commit(&domain, experiment_id, *batch_id, labels).unwrap();
            (
                format!("/experiments/{id}/batches/{batch_id}/commit"),
                serde_json::to_value(&commit).unwrap(),
            )
        })
        .collect();

    // Commit load, SIGKILL halfway, restart: every acknowledged commit is a repeat now.
    let acknowledged = load_and_kill(&mut server, commits.clone(), commits.len() / 2);
    assert!(acknowledged.len() >= commits.len() / 2);
    server = Server::start(&db, &operator, port);
    server.set_clock(start + 10);
    for (index, (path, body)) in commits.iter().enumerate() {
        let (status, answer) = server.post(path, body);
        if acknowledged.binary_search(&index).is_ok() {
            assert_eq!(status, 200, "acknowledged commit {index} was lost: {answer}");
            assert_eq!(answer["repeat"], true, "{answer}");
        } else {
            assert!(status == 200 || status == 201, "commit {index}: {status} {answer}");
        }
    }

    // Reveal load, SIGKILL, restart: every acknowledged reveal is a repeat now.
    server.set_clock(start + 3_601);
    let reveals: Vec<(String, serde_json::Value)> = labelers
        .iter()
        .zip(&batches)
        .map(|(key, (batch_id, labels))| {
            let reveal = key.reveal(&domain, experiment_id, *batch_id, labels.clone()).unwrap();
            (
                format!("/experiments/{id}/batches/{batch_id}/reveal"),
                serde_json::to_value(&reveal).unwrap(),
            )
        })
        .collect();
    let acknowledged = load_and_kill(&mut server, reveals.clone(), reveals.len() / 3);
    server = Server::start(&db, &operator, port);
    server.set_clock(start + 3_602);
    for (index, (path, body)) in reveals.iter().enumerate() {
        let (status, answer) = server.post(path, body);
        if acknowledged.binary_search(&index).is_ok() {
            assert_eq!(status, 200, "acknowledged reveal {index} was lost: {answer}");
        } else {
            assert!(status == 200 || status == 201, "reveal {index}: {status} {answer}");
        }
    }

    // Settle, kill right after, restart and settle again: paid once.
    server.set_clock(start + 7_201);
    let (status, first) = server.post(&format!("/experiments/{id}/settle"), &serde_json::json!({}));
    assert_eq!(status, 200, "{first}");
    server.kill();
    server = Server::start(&db, &operator, port);
    server.set_clock(start + 7_300);
    let (status, second) =
        server.post(&format!("/experiments/{id}/settle"), &serde_json::json!({}));
    assert_eq!(status, 200, "{second}");
    assert_eq!(first, second, "settling again changes nothing");

    let record: plumbline_core::record::PublicRecord =
        serde_json::from_value(server.get(&format!("/experiments/{id}/record"))).unwrap();
    plumbline_core::record::audit(&record).expect("the record verifies");
    assert_eq!(record.commits.len(), LABELERS as usize);
    assert_eq!(record.reveals.len(), LABELERS as usize);
    for result in &record.settlement.labelers {
        let account = server.get(&format!("/accounts/{}", result.labeler));
        let available: u128 = account["available"].as_str().unwrap().parse().unwrap();
        assert_eq!(available, MINT - STAKE + result.payout, "paid exactly once: {account}");
        assert_eq!(account["locked"], "0");
    }
    assert_eq!(server.get("/health")["ledger_balanced"], true);
}

/// The JSON form of a TOML spec.
fn toml_to_json(text: &str) -> serde_json::Value {
    let spec =
        plumbline_core::spec::ExperimentSpec::parse(text, plumbline_core::spec::SpecFormat::Toml)
            .unwrap();
    serde_json::to_value(spec).unwrap()
}
