//! The crowd's best of eight over HTTP: one best-of task imported as its pairs, every round's
//! comparisons joined, committed and revealed until the final is decided, a restart in the
//! middle, the record audited, and the winner, ranking and matches exported.

mod common;

use axum::http::StatusCode;
use common::{Harness, config, id_of, operator};
use plumbline_core::B256;
use plumbline_core::client::{LabelerKey, RevealedLabel};
use plumbline_core::duration::Duration;
use plumbline_core::eip712::embedded_domain;
use plumbline_core::fixed::Ppm;
use plumbline_core::label::Label;
use plumbline_core::record::{PublicRecord, audit};
use plumbline_core::rounds::{RoundRule, Rounds};
use plumbline_core::spec::QuestionKind;
use plumbline_core::synthetic::binary_spec;
use serde_json::{Value, json};

const RESPONSES: usize = 8;
const STAKE: u128 = 1_000_000;
const WINDOW: u64 = 600;

/// One best-of task whose response `k` reads `response k`, and gold comparisons.
fn tasks_jsonl() -> String {
    let responses: Vec<String> = (0..RESPONSES).map(|k| format!("response {k}")).collect();
    let mut lines = vec![json!({"id": "p", "prompt": "Which is best?", "responses": responses})];
    for g in 0..40 {
        let pair = [format!("response {}", g % 5), format!("response {}", 10 + g)];
        lines.push(json!({"id": format!("g{g}"), "prompt": "Gold", "responses": pair, "gold": -1}));
    }
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Every labeler prefers the response with the lower number, as a canonical label.
fn labels_for(batch: &Value) -> Vec<RevealedLabel> {
    batch["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|shown| {
            let number = |p: usize| -> u32 {
                let text = shown["responses"][p].as_str().unwrap();
                text.trim_start_matches("response ").parse().unwrap()
            };
            let canonical_first = shown["response_order"][0].as_u64().unwrap() as usize;
            // Shown response 0 is canonical `canonical_first`; the other shown is the other one.
            let (canonical_0, canonical_1) =
                if canonical_first == 0 { (number(0), number(1)) } else { (number(1), number(0)) };
            let value = if canonical_0 < canonical_1 { -1 } else { 1 };
            RevealedLabel { task: shown["task"].as_u64().unwrap() as u32, label: Label::Int(value) }
        })
        .collect()
}

#[tokio::test]
async fn the_crowd_finds_the_best_of_eight_over_http() {
    let mut h = Harness::new(config()).await;
    let now = h.state.now();
    let operator_token = h.login(&operator()).await;
    let creator = LabelerKey::derived(9, 0);
    let creator_token = h.login(&creator).await;
    let keys: Vec<LabelerKey> = (1..=12).map(|i| LabelerKey::derived(9, i)).collect();
    let mut spec = binary_spec(4, 3, 1);
    spec.question.kind = QuestionKind::Pairwise { strength_max: 2, allow_tie: false };
    spec.commit_deadline = now + 3_600;
    spec.reveal_deadline = now + 4_200;
    spec.limits.batches_per_labeler_max = 10;
    spec.rounds = Some(Rounds {
        rule: RoundRule::BestOf,
        count: 8,
        labels_max: 6,
        confidence: Ppm::new(900_000).unwrap(),
        commit_within: Duration::from_secs(WINDOW),
        reveal_within: Duration::from_secs(WINDOW),
    });
    h.mint(&operator_token, creator.address(), spec.reward_pool).await;
    for key in &keys {
        h.mint(&operator_token, key.address(), 20 * STAKE).await;
    }
    let (status, experiment) =
        h.call("POST", "/experiments", Some(&creator_token), Some(json!({ "spec": spec }))).await;
    assert_eq!(status, StatusCode::CREATED, "{experiment}");
    let id: B256 = id_of(&experiment["experiment_id"]);
    let path = format!("/experiments/{id}/tasks");
    let body = Some(tasks_jsonl().into_bytes());
    let (status, summary) =
        h.raw("POST", &path, Some(&creator_token), "application/x-ndjson", body).await;
    assert_eq!(status, StatusCode::OK);
    let summary: Value = serde_json::from_slice(&summary).unwrap();
    assert_eq!(summary["regular"], RESPONSES * (RESPONSES - 1) / 2, "every pair is a task");
    for step in ["fund", "open"] {
        let path = format!("/experiments/{id}/{step}");
        let (status, answer) = h.call("POST", &path, Some(&creator_token), None).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }

    let domain = embedded_domain();
    let mut nonces = vec![0u64; keys.len()];
    let mut commit_deadline = spec.commit_deadline;
    let mut reveal_deadline = spec.reveal_deadline;
    for round in 0..8 {
        let mut work = Vec::new();
        // Labelers join in turn while any of them still gets a block.
        loop {
            let before = work.len();
            for (i, key) in keys.iter().enumerate() {
                let join = key.join(&domain, id, None, STAKE, nonces[i]);
                let path = format!("/experiments/{id}/join");
                let (status, batch) =
                    h.call("POST", &path, None, Some(serde_json::to_value(&join).unwrap())).await;
                if status != StatusCode::CREATED {
                    assert_eq!(batch["code"], "no_batch", "{batch}");
                    continue;
                }
                assert_eq!(batch["round"], round);
                nonces[i] += 1;
                let batch_id = batch["batch_id"].as_u64().unwrap();
                let labels = labels_for(&batch);
                let commit = key.commit(&domain, id, batch_id, &labels).unwrap();
                let path = format!("/experiments/{id}/batches/{batch_id}/commit");
                let body = Some(serde_json::to_value(&commit).unwrap());
                assert_eq!(h.call("POST", &path, None, body).await.0, StatusCode::CREATED);
                work.push((i, batch_id, labels));
            }
            if work.len() == before {
                break;
            }
        }
        if round == 0 {
            assert!(!work.is_empty(), "the first matches are asked");
        }
        h.set_clock(commit_deadline).await;
        for (i, batch_id, labels) in work {
            let reveal = keys[i].reveal(&domain, id, batch_id, labels).unwrap();
            let path = format!("/experiments/{id}/batches/{batch_id}/reveal");
            let body = Some(serde_json::to_value(&reveal).unwrap());
            assert_eq!(h.call("POST", &path, None, body).await.0, StatusCode::CREATED);
        }
        if round == 1 {
            // A restart replays the knockout from the stored log.
            h.restart(config()).await;
        }
        h.set_clock(reveal_deadline).await;
        commit_deadline = reveal_deadline + WINDOW;
        reveal_deadline = commit_deadline + WINDOW;
    }
    h.state.tick().await;
    let (_, experiment) = h.call("GET", &format!("/experiments/{id}"), None, None).await;
    assert_eq!(experiment["phase"], "settled", "{experiment}");

    let (status, record) = h.raw("GET", &format!("/experiments/{id}/record"), None, "", None).await;
    assert_eq!(status, StatusCode::OK);
    let record = PublicRecord::from_json(std::str::from_utf8(&record).unwrap()).unwrap();
    audit(&record).expect("the record of every round verifies");

    // The dashboard's rounds: matches decided grow round by round to all seven.
    let (_, stats) = h.call("GET", &format!("/experiments/{id}/stats"), None, None).await;
    let rounds = &stats["rounds"];
    assert_eq!((rounds["rule"].clone(), rounds["matches"].clone()), (json!("best_of"), json!(7)));
    let decided: Vec<u64> = rounds["by_round"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["confident"].as_u64())
        .collect();
    assert!(decided.windows(2).all(|w| w[0] <= w[1]), "{decided:?}");
    assert_eq!(decided.last(), Some(&7), "{stats}");
    assert_eq!(rounds["by_round"][0]["tasks_asked"], 4, "four first matches");
    assert_eq!(rounds["first_round_tasks"], 4);

    let path = format!("/experiments/{id}/export?format=best_of");
    let (status, results) = h.raw("GET", &path, None, "", None).await;
    assert_eq!(status, StatusCode::OK);
    let results: Value = serde_json::from_slice(&results).unwrap();
    let prompt = &results["prompts"][0];
    assert_eq!(prompt["winner"], 0, "everyone prefers response 0: {prompt}");
    assert_eq!(prompt["responses"][3], "response 3");
    assert_eq!(prompt["matches"].as_array().unwrap().len(), RESPONSES - 1);
    assert_eq!(prompt["ranking"][0]["response"], 0);
    let path = format!("/experiments/{id}/export?format=trl");
    let (status, pairs) = h.raw("GET", &path, None, "", None).await;
    assert_eq!(status, StatusCode::OK);
    let chosen_first = std::str::from_utf8(&pairs)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|row| row["prompt"] == "Which is best?")
        .count();
    assert_eq!(chosen_first, RESPONSES - 1, "one preference pair per decided match");
}
