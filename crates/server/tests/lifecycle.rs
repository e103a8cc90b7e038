//! The whole experiment lifecycle over HTTP, driven through the router with `oneshot`:
//! sign in, mint, create, import, fund, open, join, commit, restart (the server rebuilds its
//! state from the stored log), reveal, settle, audit the public record, and export.

mod common;

use axum::http::StatusCode;
use common::{Harness, config, id_of, operator};
use plumbline_core::B256;
use plumbline_core::client::{LabelerKey, RevealedLabel};
use plumbline_core::eip712::embedded_domain;
use plumbline_core::label::Label;
use plumbline_core::merkle::{self, payout_leaf};
use plumbline_core::record::{PublicRecord, audit};
use plumbline_core::settle::{Settlement, Tier};
use plumbline_server::demo::{DEMO_TASKS, demo_spec};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// The more helpful response of each regular demo task (the gold tasks carry their answers).
fn helpful(task_id: &str) -> usize {
    match task_id {
        "tea" | "plant-water" | "sleep" | "boil-egg" | "read-more" | "stretch" | "python-list"
        | "save-money" => 0,
        "bike-chain" | "rust-vec" | "git-undo" | "bread-stale" => 1,
        "gold-sky" | "gold-planet" => 0,
        "gold-water" | "gold-hands" => 1,
        other => panic!("unknown demo task {other}"),
    }
}

/// The demo task a batch shows at one position, found by its prompt as a labeler would: a
/// batch names its tasks by position only.
fn demo_task(shown: &Value) -> Value {
    // A chat prompt carries the demo's prompt as its last turn.
    let prompt = match shown["prompt"].as_array() {
        Some(turns) => &turns[turns.len() - 1]["content"],
        None => &shown["prompt"],
    };
    DEMO_TASKS
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|t| t["prompt"] == *prompt)
        .expect("a demo task")
}

/// A labeler's canonical labels for a batch: strong preference for the helpful response, or
/// for the other one when `adversarial`.
fn labels_for(batch: &Value, adversarial: bool) -> Vec<RevealedLabel> {
    batch["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let good = helpful(demo_task(t)["id"].as_str().unwrap());
            let prefers_b = (good == 1) != adversarial;
            let value = if prefers_b { 2 } else { -2 };
            RevealedLabel { task: t["task"].as_u64().unwrap() as u32, label: Label::Int(value) }
        })
        .collect()
}

struct Setup {
    h: Harness,
    id: B256,
    creator_token: String,
    labelers: Vec<LabelerKey>,
    commit_deadline: u64,
    reveal_deadline: u64,
}

const LABELER_CREDITS: u128 = 5_000;

/// Signs everyone in, mints, and creates, imports, funds and opens the demo experiment.
async fn open_experiment() -> Setup {
    open_experiment_with(DEMO_TASKS).await
}

/// The same with other tasks (the demo's counts: 12 regular, 4 gold).
async fn open_experiment_with(tasks: &str) -> Setup {
    let h = Harness::new(config()).await;
    let now = h.state.now();
    let operator_token = h.login(&operator()).await;
    let creator = LabelerKey::derived(42, 1);
    let creator_token = h.login(&creator).await;
    let labelers: Vec<LabelerKey> = (2..6).map(|i| LabelerKey::derived(42, i)).collect();
    let spec = demo_spec(now);
    h.mint(&operator_token, creator.address(), spec.reward_pool + 500).await;
    for labeler in &labelers {
        h.mint(&operator_token, labeler.address(), LABELER_CREDITS).await;
    }

    let (status, experiment) =
        h.call("POST", "/experiments", Some(&creator_token), Some(json!({ "spec": spec }))).await;
    assert_eq!(status, StatusCode::CREATED, "{experiment}");
    assert_eq!(experiment["phase"], "draft");
    assert_eq!(experiment["creator"], json!(creator.address()));
    assert_eq!(experiment["chain_id"], 31337);
    let id = id_of(&experiment["experiment_id"]);

    let path = format!("/experiments/{id}/tasks");
    let body = Some(tasks.as_bytes().to_vec());
    let (status, answer) =
        h.raw("POST", &path, Some(&creator_token), "application/x-ndjson", body).await;
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, json!({"tasks": 16, "regular": 12, "gold": 4}));

    let (status, funded) =
        h.call("POST", &format!("/experiments/{id}/fund"), Some(&creator_token), None).await;
    assert_eq!(status, StatusCode::OK, "{funded}");
    assert_eq!(funded["funded"], true);
    assert_eq!(h.balances(creator.address()).await, (500, 0));

    let (status, opened) =
        h.call("POST", &format!("/experiments/{id}/open"), Some(&creator_token), None).await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    assert_eq!(opened["phase"], "open");
    assert!(opened["seed_hash"].is_string());
    assert_eq!(opened["tasks"], json!({"tasks": 16, "regular": 12, "gold": 4}));

    Setup {
        h,
        id,
        creator_token,
        labelers,
        commit_deadline: spec.commit_deadline,
        reveal_deadline: spec.reveal_deadline,
    }
}

async fn join(h: &Harness, id: B256, key: &LabelerKey, nonce: u64) -> (StatusCode, Value) {
    let join = key.join(&embedded_domain(), id, None, 1_000, nonce);
    h.call(
        "POST",
        &format!("/experiments/{id}/join"),
        None,
        Some(serde_json::to_value(&join).unwrap()),
    )
    .await
}

#[tokio::test]
async fn the_whole_lifecycle_over_http() {
    let Setup { mut h, id, creator_token, labelers, commit_deadline, reveal_deadline } =
        open_experiment().await;
    let domain = embedded_domain();

    // Joins: every labeler once, the first twice; the last labeler labels adversarially.
    let mut batches: Vec<(usize, Value)> = Vec::new();
    for (i, key) in labelers.iter().enumerate() {
        let (status, batch) = join(&h, id, key, 0).await;
        assert_eq!(status, StatusCode::CREATED, "{batch}");
        assert_eq!(batch["labeler"], json!(key.address()));
        assert_eq!(batch["tasks"].as_array().unwrap().len(), 6, "4 regular + 2 gold");
        batches.push((i, batch));
    }
    let (status, second) = join(&h, id, &labelers[0], 1).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    batches.push((0, second));
    // A signed join becomes public, so its repeat shows the tasks only to its labeler.
    let (status, again) = join(&h, id, &labelers[0], 0).await;
    assert_eq!(status, StatusCode::OK, "a repeated join finds its batch: {again}");
    assert_eq!(again["batch_id"], batches[0].1["batch_id"]);
    assert!(again.get("tasks").is_none(), "{again}");
    let first_token = h.login(&labelers[0]).await;
    let repeat = labelers[0].join(&domain, id, None, 1_000, 0);
    let path = format!("/experiments/{id}/join");
    let (status, again) = h
        .call("POST", &path, Some(&first_token), Some(serde_json::to_value(&repeat).unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, batches[0].1, "signed in, the repeat shows the batch");
    assert_eq!(h.balances(labelers[0].address()).await, (LABELER_CREDITS - 2_000, 2_000));
    let (status, mine) = h
        .call("GET", &format!("/experiments/{id}/labelers/{}", labelers[0].address()), None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["next_nonce"], 2);
    assert_eq!(mine["batches"], json!([0, 4]));

    // A batch is private to its labeler until settlement.
    let path = format!("/experiments/{id}/batches/0");
    assert_eq!(h.call("GET", &path, None, None).await.0, StatusCode::UNAUTHORIZED);
    let other_token = h.login(&labelers[1]).await;
    assert_eq!(h.call("GET", &path, Some(&other_token), None).await.0, StatusCode::FORBIDDEN);

    // Shown responses follow `response_order`.
    let (status, read) = h.call("GET", &path, Some(&first_token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, batches[0].1);
    let tasks: Vec<Value> = DEMO_TASKS.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for (position, shown) in read["tasks"].as_array().unwrap().iter().enumerate() {
        assert_eq!(shown["task"], position, "tasks are named by their position only");
        assert!(shown.get("id").is_none() && read.get("block").is_none());
        let task = &demo_task(shown);
        for (p, canonical) in shown["response_order"].as_array().unwrap().iter().enumerate() {
            assert_eq!(
                shown["responses"][p],
                task["responses"][canonical.as_u64().unwrap() as usize]
            );
        }
    }

    // Commits, each repeated once; a different commitment for a committed batch conflicts.
    let mut labels = HashMap::new();
    for (i, batch) in &batches {
        let batch_id = batch["batch_id"].as_u64().unwrap();
        let mine = labels_for(batch, *i == 3);
        let commit = labelers[*i].commit(&domain, id, batch_id, &mine).unwrap();
        let body = json!({"commitment": commit.commitment, "signature": commit.signature, "backup": "ciphertext"});
        let path = format!("/experiments/{id}/batches/{batch_id}/commit");
        let (status, answer) = h.call("POST", &path, None, Some(body.clone())).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        assert_eq!(answer["repeat"], false);
        let (status, answer) = h.call("POST", &path, None, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["repeat"], true);
        labels.insert(batch_id, (*i, mine));
    }
    let mut flipped = labels[&0].1.clone();
    flipped[0].label = Label::Int(-flipped[0].label.as_int().unwrap());
    let other = labelers[0].commit(&domain, id, 0, &flipped).unwrap();
    let (status, answer) = h
        .call(
            "POST",
            &format!("/experiments/{id}/batches/0/commit"),
            None,
            Some(serde_json::to_value(&other).unwrap()),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    let (status, stored) =
        h.call("GET", &format!("/experiments/{id}/batches/0/commit"), None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored["backup"], "ciphertext");

    // A restart loses nothing: the new server rebuilds the experiment from the stored log.
    h.restart(config()).await;
    h.set_clock(commit_deadline).await;
    let (_, experiment) = h.call("GET", &format!("/experiments/{id}"), None, None).await;
    assert_eq!(experiment["phase"], "revealing");

    // Not yet due: no batch is revealed.
    let settle = format!("/experiments/{id}/settle");
    let (status, answer) = h.call("POST", &settle, None, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    let (status, _) =
        h.call("GET", &format!("/experiments/{id}/export?format=jsonl"), None, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "no dataset before settlement");

    // Reveals, each repeated once.
    for (batch_id, (i, mine)) in &labels {
        let reveal = labelers[*i].reveal(&domain, id, *batch_id, mine.clone()).unwrap();
        let path = format!("/experiments/{id}/batches/{batch_id}/reveal");
        let body = serde_json::to_value(&reveal).unwrap();
        let (status, answer) = h.call("POST", &path, None, Some(body.clone())).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        let (status, answer) = h.call("POST", &path, None, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }

    // Every committed batch is revealed: the scheduler settles it before the reveal deadline,
    // once.
    h.state.tick().await;
    let (_, experiment) = h.call("GET", &format!("/experiments/{id}"), None, None).await;
    assert_eq!(experiment["phase"], "settled", "{experiment}");
    let (status, settlement) = h.call("POST", &settle, None, None).await;
    assert_eq!(status, StatusCode::OK, "{settlement}");
    let (status, again) = h.call("POST", &settle, None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, settlement, "settlement is idempotent");
    let (_, stored) = h.call("GET", &format!("/experiments/{id}/settlement"), None, None).await;
    assert_eq!(stored, settlement);
    let settlement: Settlement = serde_json::from_value(settlement).unwrap();
    assert_eq!(settlement.labelers.len(), 4);

    // The public record verifies.
    let (status, record) = h.raw("GET", &format!("/experiments/{id}/record"), None, "", None).await;
    assert_eq!(status, StatusCode::OK);
    let record = PublicRecord::from_json(std::str::from_utf8(&record).unwrap()).unwrap();
    assert!(record.settled_at < reveal_deadline, "settled as soon as all was revealed");
    let report = audit(&record).expect("the server's record passes audit");
    assert_eq!((report.joins, report.commits, report.reveals), (5, 5, 5));
    assert_eq!(record.settlement, settlement);

    // Each payout's proof, as a claim on chain takes it, leads to the settlement's root.
    for l in &settlement.labelers {
        let path = format!("/experiments/{id}/payouts/{}", l.labeler);
        let (status, payout) = h.call("GET", &path, None, None).await;
        assert_eq!(status, StatusCode::OK, "{payout}");
        assert_eq!(payout["amount"], l.payout.to_string());
        let proof: Vec<B256> = serde_json::from_value(payout["proof"].clone()).unwrap();
        let leaf = payout_leaf(l.labeler, plumbline_core::U256::from(l.payout));
        assert!(merkle::verify(settlement.payout_root, leaf, &proof), "{payout}");
    }
    let stranger = format!("/experiments/{id}/payouts/0x{}", "77".repeat(20));
    assert_eq!(h.call("GET", &stranger, None, None).await.0, StatusCode::NOT_FOUND);

    // Money: every labeler got its payout, nothing stays locked, the creator got the refund.
    for l in &settlement.labelers {
        let key = labelers.iter().find(|k| k.address() == l.labeler).unwrap();
        let expected = LABELER_CREDITS - l.stake + l.payout;
        assert_eq!(h.balances(key.address()).await, (expected, 0), "labeler {}", l.labeler);
    }
    let creator = LabelerKey::derived(42, 1).address();
    assert_eq!(h.balances(creator).await, (500 + settlement.totals.refund, 0));
    let (_, health) = h.call("GET", "/health", None, None).await;
    assert_eq!(health["ledger_balanced"], true, "{health}");
    assert_eq!(health["status"], "ok");
    let (_, account) =
        h.call("GET", &format!("/accounts/{}", labelers[0].address()), None, None).await;
    assert_eq!(account["reputation"]["experiments"], 1);
    assert_eq!(account["reputation"]["batches"], 2);

    // Stats.
    let (status, stats) = h.call("GET", &format!("/experiments/{id}/stats"), None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stats["phase"], "settled");
    assert_eq!(stats["batches"], json!({"joined": 5, "committed": 5, "revealed": 5}));
    assert!(stats["agreement"].is_number(), "{stats}");
    assert_eq!(stats["agreement_by_cohort"], json!({}));
    let tiers = &stats["tiers"];
    let tier_total =
        ["rewarded", "even", "slashed"].iter().map(|t| tiers[t].as_u64().unwrap()).sum::<u64>();
    assert_eq!(tier_total, 4);
    let histogram: u64 = stats["score_histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(histogram, 4);

    // Exports.
    let export = async |format: &str| {
        let (status, body) = h
            .raw("GET", &format!("/experiments/{id}/export?format={format}"), None, "", None)
            .await;
        assert_eq!(status, StatusCode::OK, "{format}: {}", String::from_utf8_lossy(&body));
        body
    };
    let trl = String::from_utf8(export("trl").await).unwrap();
    let jsonl = String::from_utf8(export("jsonl").await).unwrap();
    assert_eq!(jsonl.lines().count(), 16);
    let items: Vec<Value> = jsonl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // Where most of a task's labels prefer the helpful response, so does the export. (Which
    // block the adversarial labeler lands in follows the server's random seed; where it is
    // alone with one careful labeler the task is a tie, and any answer is fair.)
    let (mut agree, mut decided) = (0, 0);
    let rows: Vec<Value> = trl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!rows.is_empty());
    for row in &rows {
        let task = tasks.iter().find(|t| t["prompt"] == row["prompt"]).unwrap();
        let good_index = helpful(task["id"].as_str().unwrap());
        let good = &task["responses"][good_index];
        assert!(row["margin"].as_f64().unwrap() > 0.0);
        assert!((0.0..=1.0).contains(&row["confidence"].as_f64().unwrap()));
        assert_ne!(row["chosen"], row["rejected"]);
        let item = items.iter().find(|i| i["prompt"] == row["prompt"]).unwrap();
        let prefers_good = |l: &Value| (l["label"].as_i64().unwrap() > 0) == (good_index == 1);
        let labels = item["labels"].as_array().unwrap();
        let for_good = labels.iter().filter(|l| prefers_good(l)).count();
        if for_good * 2 > labels.len() {
            decided += 1;
            agree += usize::from(&row["chosen"] == good);
        }
    }
    assert!(decided > 0);
    assert!(
        agree * 3 >= decided * 2,
        "{agree} of {decided} pairs with a helpful majority follow it"
    );
    let first: Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(first["cohort_consensus"], json!({}), "no cohorts in this experiment");
    assert!(
        first["labels"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["worker"].as_str().unwrap().starts_with('w'))
    );
    assert!(
        !jsonl.to_lowercase().contains(&format!("{:x}", labelers[0].address())[2..]),
        "no addresses"
    );
    let csv = String::from_utf8(export("csv").await).unwrap();
    assert!(
        csv.starts_with("task,id,prompt,responses,gold,consensus,confidence,agreement,labels\n")
    );
    let raw = String::from_utf8(export("raw").await).unwrap();
    assert!(raw.starts_with("task,worker,label\n"));
    let parquet = export("parquet").await;
    assert_eq!(&parquet[..4], b"PAR1");
    let (status, _) =
        h.call("GET", &format!("/experiments/{id}/export?format=xml"), None, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Only pairs as sure as asked for; and a threshold that is not a probability is refused.
    let sure = String::from_utf8(export("trl&min_confidence=1").await).unwrap();
    assert!(sure.lines().count() <= rows.len());
    let all = String::from_utf8(export("trl&min_confidence=0.5").await).unwrap();
    assert!(all.lines().count() >= rows.len());
    // Strengths run to K = 2 here: a margin above it leaves out every pair.
    assert_eq!(export("trl&min_margin=2.5").await, b"");
    // Each file loads with Hugging Face `datasets` as it is, with every row and column.
    let raw_rows = raw.lines().count() - 1;
    let table = ["task", "id", "prompt", "responses", "gold", "consensus", "confidence"];
    let mut jsonl_columns = table.to_vec();
    jsonl_columns.extend(["agreement", "labels"]);
    let trl_columns = ["prompt", "chosen", "rejected", "margin", "confidence", "gold"];
    // Saved under their download names beside the dataset card, the folder loads by
    // configuration too.
    let card = String::from_utf8(export("card").await).unwrap();
    let name = |suffix: &str| format!("{id}.{suffix}");
    let (trl_file, jsonl_file, csv_file) = (name("trl.jsonl"), name("jsonl"), name("csv"));
    let (parquet_file, raw_file) = (name("parquet"), name("labels.csv"));
    let labels_columns = ["task", "worker", "label"];
    common::check_exports_load_in_python(
        &[
            (&trl_file, trl.as_bytes()),
            (&jsonl_file, jsonl.as_bytes()),
            (&csv_file, csv.as_bytes()),
            (&parquet_file, &parquet),
            (&raw_file, raw.as_bytes()),
            ("README.md", card.as_bytes()),
        ],
        &[
            (
                &trl_file,
                json!({"builder": "json", "rows": rows.len(), "columns": trl_columns, "trl": true}),
            ),
            (&jsonl_file, json!({"builder": "json", "rows": 16, "columns": jsonl_columns})),
            (&csv_file, json!({"builder": "csv", "rows": 16, "columns": table})),
            (&parquet_file, json!({"builder": "parquet", "rows": 16, "columns": table})),
            (&raw_file, json!({"builder": "csv", "rows": raw_rows, "columns": labels_columns})),
            (
                "",
                json!({"builder": "folder", "config": "preferences", "rows": rows.len(),
                       "columns": trl_columns}),
            ),
            ("", json!({"builder": "folder", "config": "tasks", "rows": 16, "columns": table})),
        ],
    );
    // This experiment has no cohorts: no cohort's pairs and no bridge between them.
    for bad in [
        "min_confidence=0.2",
        "min_confidence=x",
        "min_margin=-1",
        "min_margin=x",
        "gold=maybe",
        "cohort=nobody",
        "bridging=true",
        "bridging=maybe",
        "prompt=sideways",
    ] {
        let path = format!("/experiments/{id}/export?format=trl&{bad}");
        let (status, body) = h.call("GET", &path, None, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }

    // After settlement the batches are still readable, replayed from the record.
    let (status, read_again) =
        h.call("GET", &format!("/experiments/{id}/batches/0"), None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read_again, read);
    // The clock moved eight days: the creator's session expired and it signs in again.
    let (status, _) =
        h.call("POST", &format!("/experiments/{id}/cancel"), Some(&creator_token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "sessions expire");
    let creator_token = h.login(&LabelerKey::derived(42, 1)).await;
    let (status, _) =
        h.call("POST", &format!("/experiments/{id}/cancel"), Some(&creator_token), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "a settled experiment cannot be cancelled");
}

#[tokio::test]
async fn the_scheduler_moves_phases_and_settles_once() {
    let Setup { h, id, labelers, commit_deadline, reveal_deadline, .. } = open_experiment().await;
    let domain = embedded_domain();
    let (_, batch) = join(&h, id, &labelers[0], 0).await;
    let mine = labels_for(&batch, false);
    let commit = labelers[0].commit(&domain, id, 0, &mine).unwrap();
    let (status, _) = h
        .call(
            "POST",
            &format!("/experiments/{id}/batches/0/commit"),
            None,
            Some(serde_json::to_value(&commit).unwrap()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let scheduler = plumbline_server::scheduler::spawn(h.state.clone());
    h.set_clock(commit_deadline).await;
    let row = wait_for(&h, id, |phase| phase == "revealing").await;
    assert_eq!(row, "revealing");
    // The labeler never reveals: settlement applies the non-reveal penalty.
    h.set_clock(reveal_deadline).await;
    wait_for(&h, id, |phase| phase == "settled").await;
    scheduler.abort();
    let (_, settlement) = h.call("GET", &format!("/experiments/{id}/settlement"), None, None).await;
    let settlement: Settlement = serde_json::from_value(settlement).unwrap();
    assert_eq!(settlement.labelers[0].non_reveal_penalty, 1_000);
    assert_eq!(h.balances(labelers[0].address()).await, (LABELER_CREDITS - 1_000, 0));
    // A second pass finds nothing to do and pays nothing twice.
    h.state.tick().await;
    assert_eq!(h.balances(labelers[0].address()).await, (LABELER_CREDITS - 1_000, 0));
    let (_, health) = h.call("GET", "/health", None, None).await;
    assert_eq!(health["ledger_balanced"], true);
    assert_eq!(health["now"], reveal_deadline, "the server's clock, which deadlines follow");
    assert_eq!(health["ledger"], "embedded");
    assert_eq!(health["operator"], json!(operator().address()));
}

/// The demo tasks with every gold answer turned around, as an experimenter might to slash the
/// labelers and keep their stakes.
fn inverted_gold_tasks() -> String {
    let invert = |line: &str| {
        let mut task: Value = serde_json::from_str(line).unwrap();
        if let Some(gold) = task["gold"].as_i64() {
            task["gold"] = json!(-gold);
        }
        task.to_string()
    };
    DEMO_TASKS.lines().map(invert).collect::<Vec<_>>().join("\n")
}

/// Every labeler of an open experiment labels one batch carefully; the experiment settles.
async fn label_carefully_and_settle(setup: &Setup) -> Settlement {
    let Setup { h, id, labelers, commit_deadline, reveal_deadline, .. } = setup;
    let (id, commit_deadline, reveal_deadline) = (*id, *commit_deadline, *reveal_deadline);
    let domain = embedded_domain();
    let mut work = Vec::new();
    for (i, key) in labelers.iter().enumerate() {
        let (status, batch) = join(h, id, key, 0).await;
        assert_eq!(status, StatusCode::CREATED, "{batch}");
        let batch_id = batch["batch_id"].as_u64().unwrap();
        let mine = labels_for(&batch, false);
        let commit = labelers[i].commit(&domain, id, batch_id, &mine).unwrap();
        let path = format!("/experiments/{id}/batches/{batch_id}/commit");
        let (status, answer) =
            h.call("POST", &path, None, Some(serde_json::to_value(&commit).unwrap())).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        work.push((i, batch_id, mine));
    }
    h.set_clock(commit_deadline).await;
    for (i, batch_id, mine) in work {
        let reveal = labelers[i].reveal(&domain, id, batch_id, mine).unwrap();
        let path = format!("/experiments/{id}/batches/{batch_id}/reveal");
        let (status, answer) =
            h.call("POST", &path, None, Some(serde_json::to_value(&reveal).unwrap())).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    h.set_clock(reveal_deadline).await;
    let (status, settlement) =
        h.call("POST", &format!("/experiments/{id}/settle"), None, None).await;
    assert_eq!(status, StatusCode::OK, "{settlement}");
    serde_json::from_value(settlement).unwrap()
}

/// The demo tasks with each prompt a conversation: a system message, then the user's turn.
fn chat_tasks() -> String {
    let chat = |line: &str| {
        let mut task: Value = serde_json::from_str(line).unwrap();
        task["prompt"] = json!([
            {"role": "system", "content": "Answer helpfully."},
            {"role": "user", "content": task["prompt"]},
        ]);
        task.to_string()
    };
    DEMO_TASKS.lines().map(chat).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn chat_prompts_export_as_conversations_that_load_in_python() {
    let setup = open_experiment_with(&chat_tasks()).await;
    let (status, batch) = join(&setup.h, setup.id, &setup.labelers[0], 0).await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    assert_eq!(batch["tasks"][0]["prompt"][1]["role"], "user", "the batch shows the conversation");
    // The labelers' first batches were taken by the helper above; the rest label one each.
    let setup = Setup { labelers: setup.labelers[1..].to_vec(), ..setup };
    label_carefully_and_settle(&setup).await;
    let (h, id) = (&setup.h, setup.id);
    let export = |query: &str| {
        let path = format!("/experiments/{id}/export?format=trl{query}");
        async move { h.raw("GET", &path, None, "", None).await.1 }
    };
    let explicit = export("").await;
    let implicit = export("&prompt=implicit").await;
    let rows = String::from_utf8(explicit.clone()).unwrap().lines().count();
    assert!(rows >= 4, "the gold pairs at least");
    let first: Value =
        serde_json::from_str(std::str::from_utf8(&explicit).unwrap().lines().next().unwrap())
            .unwrap();
    assert_eq!(first["prompt"][0], json!({"role": "system", "content": "Answer helpfully."}));
    common::check_exports_load_in_python(
        &[("chat.jsonl", &explicit), ("chat-implicit.jsonl", &implicit)],
        &[
            (
                "chat.jsonl",
                json!({"builder": "json", "rows": rows, "columns": ["prompt", "chosen", "rejected"],
                       "trl": "conversational"}),
            ),
            (
                "chat-implicit.jsonl",
                json!({"builder": "json", "rows": rows, "columns": ["chosen", "rejected"],
                       "trl": "conversational_implicit"}),
            ),
        ],
    );
}

#[tokio::test]
async fn gold_the_labelers_contradict_is_left_out_and_slashes_nobody() {
    let setup = open_experiment_with(&inverted_gold_tasks()).await;
    let settlement = label_carefully_and_settle(&setup).await;
    let (h, id) = (&setup.h, setup.id);
    for l in &settlement.labelers {
        assert_ne!(l.tier, Tier::Slashed, "{l:?}");
        assert_eq!(l.stake_returned, l.stake);
    }
    assert!(settlement.totals.refund <= settlement.totals.reward_pool);
    // Every gold task that enough labels judged is contradicted, so the whole gold set goes.
    let (_, record) = h.raw("GET", &format!("/experiments/{id}/record"), None, "", None).await;
    let record = PublicRecord::from_json(std::str::from_utf8(&record).unwrap()).unwrap();
    let mut labels_on: HashMap<u32, usize> = HashMap::new();
    for batch in record.revealed() {
        for (task, _) in batch.labels {
            *labels_on.entry(task).or_default() += 1;
        }
    }
    let judged = (12..16).any(|t| labels_on.get(&t).copied().unwrap_or(0) >= 3);
    let expected: Vec<u32> = if judged { (12..16).collect() } else { Vec::new() };
    assert_eq!(settlement.gold_dropped, expected, "labels per gold task: {labels_on:?}");
}

async fn wait_for(h: &Harness, id: B256, done: impl Fn(&str) -> bool) -> String {
    for _ in 0..500 {
        let (_, experiment) = h.call("GET", &format!("/experiments/{id}"), None, None).await;
        let stored = h.state.store().experiment(id).await.unwrap().unwrap().phase.to_string();
        if done(&stored) {
            return stored;
        }
        assert_ne!(experiment["phase"], "cancelled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the scheduler did not get there in 10 s");
}

/// Joins, labels and commits one batch; returns the batch id and its labels.
async fn join_and_commit(h: &Harness, id: B256, key: &LabelerKey) -> (u64, Vec<RevealedLabel>) {
    let (status, batch) = join(h, id, key, 0).await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    let batch_id = batch["batch_id"].as_u64().unwrap();
    let labels = labels_for(&batch, false);
    let commit = key.commit(&embedded_domain(), id, batch_id, &labels).unwrap();
    let path = format!("/experiments/{id}/batches/{batch_id}/commit");
    let (status, answer) =
        h.call("POST", &path, None, Some(serde_json::to_value(&commit).unwrap())).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    (batch_id, labels)
}

#[tokio::test]
async fn the_creator_closes_commits_once_every_joined_batch_is_committed() {
    let Setup { mut h, id, creator_token, labelers, commit_deadline, .. } = open_experiment().await;
    let close = format!("/experiments/{id}/close");
    let first = join_and_commit(&h, id, &labelers[0]).await;
    let (status, batch) = join(&h, id, &labelers[1], 0).await;
    assert_eq!(status, StatusCode::CREATED);

    // Not the creator; a joined batch not committed yet.
    let stranger = h.login(&labelers[3]).await;
    let (status, answer) = h.call("POST", &close, Some(&stranger), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let (status, answer) = h.call("POST", &close, Some(&creator_token), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["code"], "not_all_committed");
    assert!(answer["message"].as_str().unwrap().contains("1 of 2 joined batches"), "{answer}");

    // The second labeler commits.
    let second_labels = labels_for(&batch, false);
    let commit = labelers[1].commit(&embedded_domain(), id, 1, &second_labels).unwrap();
    let path = format!("/experiments/{id}/batches/1/commit");
    let (status, _) =
        h.call("POST", &path, None, Some(serde_json::to_value(&commit).unwrap())).await;
    assert_eq!(status, StatusCode::CREATED);
    let now = h.state.now();
    let (status, closed) = h.call("POST", &close, Some(&creator_token), None).await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert_eq!(closed["phase"], "revealing");
    assert_eq!(closed["spec"]["commits_closed_at"], now);
    assert_eq!(closed["commit_deadline"], now);
    assert!(now < commit_deadline);
    let (status, again) = h.call("POST", &close, Some(&creator_token), None).await;
    assert_eq!((status, again["code"].as_str()), (StatusCode::CONFLICT, Some("wrong_phase")));

    // Nobody joins after the close; a restarted server knows it from the store.
    let (status, answer) = join(&h, id, &labelers[2], 0).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    h.restart(config()).await;
    let (status, _) = join(&h, id, &labelers[2], 0).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Both reveal at once; the scheduler settles at its next pass, long before the deadlines.
    for (k, (batch_id, labels)) in [(0, first), (1, (1, second_labels))] {
        let reveal = labelers[k].reveal(&embedded_domain(), id, batch_id, labels).unwrap();
        let path = format!("/experiments/{id}/batches/{batch_id}/reveal");
        let (status, answer) =
            h.call("POST", &path, None, Some(serde_json::to_value(&reveal).unwrap())).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    h.state.tick().await;
    assert_eq!(wait_for(&h, id, |phase| phase == "settled").await, "settled");
    let (_, record) = h.call("GET", &format!("/experiments/{id}/record"), None, None).await;
    let record: PublicRecord = serde_json::from_value(record).unwrap();
    assert_eq!(record.spec.commits_closed_at, Some(now));
    assert_eq!(record.joins.len(), 2);
    audit(&record).unwrap();
}

#[tokio::test]
async fn durations_in_a_spec_become_deadlines_when_the_experiment_opens() {
    let h = Harness::new(config()).await;
    let operator_token = h.login(&operator()).await;
    let creator = LabelerKey::derived(43, 1);
    let creator_token = h.login(&creator).await;
    let mut spec = serde_json::to_value(demo_spec(h.state.now())).unwrap();
    let fields = spec.as_object_mut().unwrap();
    fields.remove("commit_deadline");
    fields.remove("reveal_deadline");
    fields.insert("commit_within".into(), json!("2h"));
    fields.insert("reveal_within".into(), json!("30m"));
    h.mint(&operator_token, creator.address(), 1_000_000).await;
    let (status, draft) =
        h.call("POST", "/experiments", Some(&creator_token), Some(json!({ "spec": spec }))).await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    assert_eq!(
        (draft["commit_deadline"].as_u64(), draft["reveal_deadline"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(draft["spec"]["commit_within"], "2h");
    let id = id_of(&draft["experiment_id"]);
    let body = Some(DEMO_TASKS.as_bytes().to_vec());
    let path = format!("/experiments/{id}/tasks");
    let (status, _) =
        h.raw("POST", &path, Some(&creator_token), "application/x-ndjson", body).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) =
        h.call("POST", &format!("/experiments/{id}/fund"), Some(&creator_token), None).await;
    assert_eq!(status, StatusCode::OK);
    // The draft waits a day: the clock starts at opening, not at creation.
    let opened_at = h.state.now() + 86_400;
    h.set_clock(opened_at).await;
    let creator_token = h.login(&creator).await;
    let (status, opened) =
        h.call("POST", &format!("/experiments/{id}/open"), Some(&creator_token), None).await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    assert_eq!(opened["commit_deadline"], opened_at + 7_200);
    assert_eq!(opened["reveal_deadline"], opened_at + 7_200 + 1_800);
    assert_eq!(opened["spec"]["commit_deadline"], opened_at + 7_200);

    // A bad duration names itself; a spec cannot claim an early close.
    spec["commit_within"] = json!("2 hours");
    let (status, answer) =
        h.call("POST", "/experiments", Some(&creator_token), Some(json!({ "spec": spec }))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .ends_with("field `commit_within`: `2 hours` is not a duration: write a number and a unit (s, m, h or d), for example \"90m\", \"3d\" or \"1d12h\""),
        "{answer}"
    );
    spec["commit_within"] = json!("2h");
    spec["commits_closed_at"] = json!(5);
    let (status, answer) =
        h.call("POST", "/experiments", Some(&creator_token), Some(json!({ "spec": spec }))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("commits_closed_at"), "{answer}");
}
