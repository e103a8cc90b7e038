//! Practice and qualification over HTTP: the creator imports a practice pool, labelers answer
//! their draws once each and see the answer and why, only a labeler who qualified may join,
//! and the public record carries the practice so that `audit` checks every join's
//! qualification again.

mod common;

use axum::http::StatusCode;
use common::{Harness, config, id_of, operator};
use plumbline_core::B256;
use plumbline_core::client::{LabelerKey, RevealedLabel};
use plumbline_core::eip712::embedded_domain;
use plumbline_core::label::Label;
use plumbline_core::record::{PublicRecord, audit};
use plumbline_core::spec::Qualification;
use plumbline_server::demo::{DEMO_TASKS, demo_spec};
use serde_json::{Value, json};

/// Six practice pairs; the answer prefers B on even ids. Three a side, so that any draw of
/// four holds both sides and a careful answer scores well above chance (a draw all on one side
/// would score a careful labeler at exactly 0).
fn practice_file() -> String {
    (0..6u32)
        .map(|i| {
            let answer = answer_at(i);
            json!({"id": format!("p{i}"), "prompt": format!("practice {i}"),
                   "responses": ["first", "second"], "gold": answer,
                   "explanation": format!("because of {i}")})
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn answer_at(i: u32) -> i64 {
    if i.is_multiple_of(2) { 2 } else { -1 }
}

fn answer_of(id: &str) -> i64 {
    answer_at(id.trim_start_matches('p').parse().unwrap())
}

/// The label in shown order that gives the canonical `label` for a task shown with `order`.
fn shown(label: i64, task: &Value) -> i64 {
    if task["response_order"] == json!([1, 0]) { -label } else { label }
}

struct Setup {
    h: Harness,
    id: B256,
    creator_token: String,
    operator_token: String,
    reveal_deadline: u64,
}

async fn setup() -> Setup {
    let h = Harness::new(config()).await;
    let operator_token = h.login(&operator()).await;
    let creator = LabelerKey::derived(43, 1);
    let creator_token = h.login(&creator).await;
    let mut spec = demo_spec(h.state.now());
    spec.qualification = Some(Qualification { items: 4, score_min: 0.3 });
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
    let (status, _) =
        h.call("POST", &format!("/experiments/{id}/fund"), Some(&creator_token), None).await;
    assert_eq!(status, StatusCode::OK);
    Setup { h, id, creator_token, operator_token, reveal_deadline: spec.reveal_deadline }
}

async fn import_practice(s: &Setup, text: &str) -> (StatusCode, Value) {
    let path = format!("/experiments/{}/practice", s.id);
    let body = Some(text.as_bytes().to_vec());
    let (status, body) =
        s.h.raw("POST", &path, Some(&s.creator_token), "application/x-ndjson", body).await;
    (status, serde_json::from_slice(&body).unwrap())
}

async fn answer(s: &Setup, token: &str, task: &str, label: i64) -> (StatusCode, Value) {
    let path = format!("/experiments/{}/practice/answers", s.id);
    s.h.call("POST", &path, Some(token), Some(json!({"task": task, "label": label}))).await
}

async fn join(s: &Setup, key: &LabelerKey) -> (StatusCode, Value) {
    let join = key.join(&embedded_domain(), s.id, None, 1_000, 0);
    let path = format!("/experiments/{}/join", s.id);
    s.h.call("POST", &path, None, Some(serde_json::to_value(&join).unwrap())).await
}

/// Answers a labeler's whole draw, right or inverted; returns the last progress.
async fn practise(s: &Setup, token: &str, right: bool) -> Value {
    let path = format!("/experiments/{}/practice", s.id);
    let (status, mut progress) = s.h.call("GET", &path, Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{progress}");
    assert_eq!((progress["items"].as_u64(), progress["required"].as_bool()), (Some(4), Some(true)));
    while let Some(task) = progress["task"].as_object().cloned() {
        let task = Value::Object(task);
        let id = task["id"].as_str().unwrap().to_string();
        let truth = answer_of(&id);
        let label = shown(if right { truth } else { -truth }, &task);
        let (status, feedback) = answer(s, token, &id, label).await;
        assert_eq!(status, StatusCode::OK, "{feedback}");
        assert_eq!(feedback["verdict"], if right { "right" } else { "wrong" }, "{feedback}");
        assert_eq!(feedback["answer"], shown(truth, &task), "the answer comes in shown order");
        assert_eq!(feedback["explanation"], format!("because of {}", &id[1..]));
        // Answered once: the same task again is no longer current.
        let (status, again) = answer(s, token, &id, label).await;
        assert_eq!(status, StatusCode::CONFLICT, "{again}");
        progress = feedback["progress"].clone();
    }
    assert_eq!(progress["answered"], 4);
    progress
}

#[tokio::test]
async fn only_labelers_who_pass_practice_join_and_audit_checks_it() {
    let s = setup().await;
    let open = format!("/experiments/{}/open", s.id);
    let (status, body) = s.h.call("POST", &open, Some(&s.creator_token), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "no practice pool yet: {body}");

    // A bad file is named by line and imports nothing; the good one imports once.
    let (status, body) = import_practice(&s, "{\"id\":\"x\",\"responses\":[\"a\",\"b\"]}").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["message"], "line 1: a practice task needs its answer in `gold`");
    assert_eq!(
        import_practice(&s, &practice_file()).await,
        (StatusCode::OK, json!({"practice_tasks": 6}))
    );
    assert_eq!(import_practice(&s, &practice_file()).await.0, StatusCode::CONFLICT);
    let (status, opened) = s.h.call("POST", &open, Some(&s.creator_token), None).await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    assert_eq!(opened["practice_tasks"], 6);

    let keys: Vec<LabelerKey> = (2..5).map(|i| LabelerKey::derived(43, i)).collect();
    let mut tokens: Vec<String> = Vec::new();
    for key in &keys {
        s.h.mint(&s.operator_token, key.address(), 5_000).await;
        tokens.push(s.h.login(key).await);
    }

    // Not practised yet: refused, nothing locked.
    let (status, body) = join(&s, &keys[0]).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_qualified")));
    assert!(body["message"].as_str().unwrap().contains("0 of 4"), "{body}");
    assert_eq!(s.h.balances(keys[0].address()).await, (5_000, 0));

    // Someone else's current task is not this labeler's to answer.
    let (_, first) =
        s.h.call("GET", &format!("/experiments/{}/practice", s.id), Some(&tokens[0]), None).await;
    let (_, other) =
        s.h.call("GET", &format!("/experiments/{}/practice", s.id), Some(&tokens[1]), None).await;
    if first["task"]["id"] != other["task"]["id"] {
        let (status, body) = answer(&s, &tokens[0], other["task"]["id"].as_str().unwrap(), 1).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("not_current")));
    }

    // Careful in practice: qualifies and joins.
    let passed = practise(&s, &tokens[0], true).await;
    assert_eq!(passed["qualified"], true, "{passed}");
    assert!(passed["score"].as_f64().unwrap() > 0.3, "{passed}");
    let (status, batch) = join(&s, &keys[0]).await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");

    // Inverted in practice: fails, is refused, and cannot try again.
    let failed = practise(&s, &tokens[1], false).await;
    assert_eq!(failed["qualified"], false, "{failed}");
    let (status, body) = join(&s, &keys[1]).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_qualified")));
    assert!(body["message"].as_str().unwrap().contains("below the 0.30"), "{body}");
    let (status, body) = answer(&s, &tokens[1], "p0", 2).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("practice_done")));

    // The qualified labeler's work settles; the record carries the practice and audits.
    let domain = embedded_domain();
    let batch_id = batch["batch_id"].as_u64().unwrap();
    let labels: Vec<RevealedLabel> = (0..batch["tasks"].as_array().unwrap().len() as u32)
        .map(|task| RevealedLabel { task, label: Label::Int(1) })
        .collect();
    let commit = keys[0].commit(&domain, s.id, batch_id, &labels).unwrap();
    let path = format!("/experiments/{}/batches/{batch_id}/commit", s.id);
    let (status, body) =
        s.h.call("POST", &path, None, Some(serde_json::to_value(&commit).unwrap())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    s.h.set_clock(s.reveal_deadline - 30).await;
    let late = s.h.login(&keys[2]).await;
    let (status, body) =
        s.h.call("GET", &format!("/experiments/{}/practice", s.id), Some(&late), None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("wrong_phase")),
        "practice closes with commits"
    );
    let reveal = keys[0].reveal(&domain, s.id, batch_id, labels).unwrap();
    let path = format!("/experiments/{}/batches/{batch_id}/reveal", s.id);
    let (status, body) =
        s.h.call("POST", &path, None, Some(serde_json::to_value(&reveal).unwrap())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    s.h.set_clock(s.reveal_deadline).await;
    let (status, body) =
        s.h.call("POST", &format!("/experiments/{}/settle", s.id), None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, record) =
        s.h.raw("GET", &format!("/experiments/{}/record", s.id), None, "", None).await;
    let record = PublicRecord::from_json(std::str::from_utf8(&record).unwrap()).unwrap();
    let practice = record.practice.as_ref().expect("the record carries the practice");
    // Two labelers answered four each.
    assert_eq!((practice.tasks.len(), practice.answers.len()), (6, 8));
    audit(&record).expect("the record audits");

    // Practice enters each practising labeler's reputation, apart from its scored items.
    for (key, joined) in [(&keys[0], true), (&keys[1], false)] {
        let (_, account) =
            s.h.call("GET", &format!("/accounts/{}", key.address()), None, None).await;
        let reputation = &account["reputation"];
        assert_eq!(reputation["practice"]["gold_n"], 4, "{account}");
        assert_eq!(reputation["experiments"], u64::from(joined), "{account}");
    }

    // A record whose qualified labeler's practice was changed does not.
    let mut forged = record.clone();
    let answers = &mut forged.practice.as_mut().unwrap().answers;
    for a in answers.iter_mut().filter(|a| a.labeler == keys[0].address()) {
        a.label = Label::Int(-a.label.as_int().unwrap());
    }
    let failure = audit(&forged).unwrap_err().to_string();
    assert!(failure.contains("had not qualified"), "{failure}");
}

#[tokio::test]
async fn the_demo_offers_optional_practice() {
    let h = Harness::new(config()).await;
    let labeler = LabelerKey::derived(44, 1);
    let seeded = plumbline_server::demo::seed(&h.state, operator().address(), &[labeler.address()])
        .await
        .unwrap();
    let (_, experiment) =
        h.call("GET", &format!("/experiments/{}", seeded.experiment_id), None, None).await;
    assert_eq!(experiment["practice_tasks"], 6, "{experiment}");
    let token = h.login(&labeler).await;
    let path = format!("/experiments/{}/practice", seeded.experiment_id);
    let (status, practice) = h.call("GET", &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{practice}");
    assert_eq!(
        (practice["items"].as_u64(), practice["required"].as_bool()),
        (Some(6), Some(false))
    );
    // Optional practice: joining needs none.
    let join = labeler.join(&embedded_domain(), seeded.experiment_id, None, 1_000, 0);
    let path = format!("/experiments/{}/join", seeded.experiment_id);
    let (status, body) =
        h.call("POST", &path, None, Some(serde_json::to_value(&join).unwrap())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
