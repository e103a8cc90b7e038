//! An experiment of two rounds over HTTP: the first round's labels are revealed, the second
//! round opens at the first's reveal deadline with blocks of the tasks left unsure, a restart
//! rebuilds both rounds from the stored log, and the record of the whole experiment verifies.
//! One whose first round leaves nothing unsure settles as soon as its reveals are in.

mod common;

use axum::http::StatusCode;
use common::{Harness, config, id_of, operator};
use plumbline_core::B256;
use plumbline_core::client::{LabelerKey, RevealedLabel};
use plumbline_core::duration::Duration;
use plumbline_core::eip712::embedded_domain;
use plumbline_core::fixed::Ppm;
use plumbline_core::label::Label;
use plumbline_core::record::{PublicRecord, audit, replay};
use plumbline_core::rounds::Rounds;
use plumbline_core::spec::ExperimentSpec;
use plumbline_core::synthetic::binary_spec;
use serde_json::{Value, json};
use std::collections::HashMap;

const REGULAR: usize = 30;
const GOLD: usize = 6;
const STAKE: u128 = 1_000_000;

/// The answer of task `t` (its prompt is `question t`): gold tasks first come after the
/// regular ones.
fn truth(t: usize) -> i64 {
    (t % 2) as i64
}

fn tasks_jsonl() -> String {
    (0..REGULAR + GOLD)
        .map(|t| {
            let gold = (t >= REGULAR).then(|| truth(t));
            let mut task = json!({"id": format!("t{t}"), "prompt": format!("question {t}")});
            if let Some(gold) = gold {
                task["gold"] = json!(gold);
            }
            format!("{task}\n")
        })
        .collect()
}

/// The task numbers of a batch (its prompts are `question t`), in the order shown.
fn task_numbers(batch: &Value) -> Vec<usize> {
    batch["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|shown| {
            shown["prompt"].as_str().unwrap().trim_start_matches("question ").parse().unwrap()
        })
        .collect()
}

/// A labeler's labels: the truth, except on `wrong`, a regular task of the batch.
fn labels_for(batch: &Value, wrong: Option<usize>) -> Vec<RevealedLabel> {
    batch["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .zip(task_numbers(batch))
        .map(|(shown, t)| {
            let value = if Some(t) == wrong { 1 - truth(t) } else { truth(t) };
            RevealedLabel { task: shown["task"].as_u64().unwrap() as u32, label: Label::Int(value) }
        })
        .collect()
}

/// Where each block's labelers go wrong: with `split`, the k-th labeler of a block on its k-th
/// regular task (by number), so that three of each first-round block's tasks are split two to
/// one whatever blocks the labelers draw, and the rest are unanimous.
#[derive(Default)]
struct Mistakes {
    split: bool,
    taken: HashMap<Vec<usize>, usize>,
}

impl Mistakes {
    fn wrong_in(&mut self, batch: &Value) -> Option<usize> {
        let mut regular: Vec<usize> =
            task_numbers(batch).into_iter().filter(|&t| t < REGULAR).collect();
        regular.sort_unstable();
        let k = self.taken.entry(regular.clone()).or_default();
        *k += 1;
        regular.get(*k - 1).copied().filter(|_| self.split)
    }
}

struct Work {
    labeler: usize,
    batch_id: u64,
    labels: Vec<RevealedLabel>,
}

async fn join_and_commit(
    h: &Harness,
    id: B256,
    keys: &[LabelerKey],
    labeler: usize,
    nonce: u64,
    mistakes: &mut Mistakes,
) -> Result<(Value, Work), Value> {
    let domain = embedded_domain();
    let join = keys[labeler].join(&domain, id, None, STAKE, nonce);
    let path = format!("/experiments/{id}/join");
    let (status, batch) =
        h.call("POST", &path, None, Some(serde_json::to_value(&join).unwrap())).await;
    if status != StatusCode::CREATED {
        return Err(batch);
    }
    let batch_id = batch["batch_id"].as_u64().unwrap();
    let labels = labels_for(&batch, mistakes.wrong_in(&batch));
    let commit = keys[labeler].commit(&domain, id, batch_id, &labels).unwrap();
    let path = format!("/experiments/{id}/batches/{batch_id}/commit");
    let (status, answer) =
        h.call("POST", &path, None, Some(serde_json::to_value(&commit).unwrap())).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    Ok((batch, Work { labeler, batch_id, labels }))
}

async fn reveal(h: &Harness, id: B256, keys: &[LabelerKey], work: &[Work]) {
    for w in work {
        let reveal =
            keys[w.labeler].reveal(&embedded_domain(), id, w.batch_id, w.labels.clone()).unwrap();
        let path = format!("/experiments/{id}/batches/{}/reveal", w.batch_id);
        let (status, answer) =
            h.call("POST", &path, None, Some(serde_json::to_value(&reveal).unwrap())).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
}

/// A binary spec of blocks of ten with `count` rounds from `now`: round 0 takes commits for an
/// hour and reveals for ten minutes, each later round ten minutes of each.
fn rounds_spec(now: u64, count: u32) -> ExperimentSpec {
    let mut spec = binary_spec(10, 3, 2);
    (spec.commit_deadline, spec.reveal_deadline) = (now + 3_600, now + 4_200);
    spec.limits.batches_per_labeler_max = count;
    spec.rounds = Some(Rounds {
        rule: Default::default(),
        count,
        labels_max: 6,
        confidence: Ppm::new(950_000).unwrap(),
        commit_within: Duration::from_secs(600),
        reveal_within: Duration::from_secs(600),
    });
    spec
}

/// Imports the tasks into the draft `id`, funds and opens it.
async fn import_fund_open(h: &Harness, creator_token: &str, id: B256) {
    let body = Some(tasks_jsonl().into_bytes());
    let path = format!("/experiments/{id}/tasks");
    let (status, _) = h.raw("POST", &path, Some(creator_token), "application/x-ndjson", body).await;
    assert_eq!(status, StatusCode::OK);
    for step in ["fund", "open"] {
        let path = format!("/experiments/{id}/{step}");
        let (status, answer) = h.call("POST", &path, Some(creator_token), None).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
}

#[tokio::test]
async fn an_experiment_of_two_rounds_over_http() {
    let mut h = Harness::new(config()).await;
    let now = h.state.now();
    let operator_token = h.login(&operator()).await;
    let creator = LabelerKey::derived(7, 0);
    let creator_token = h.login(&creator).await;
    let keys: Vec<LabelerKey> = (1..=30).map(|i| LabelerKey::derived(7, i)).collect();
    let spec = rounds_spec(now, 2);
    h.mint(&operator_token, creator.address(), spec.reward_pool).await;
    for key in &keys {
        h.mint(&operator_token, key.address(), 3 * STAKE).await;
    }
    let (status, experiment) =
        h.call("POST", "/experiments", Some(&creator_token), Some(json!({ "spec": spec }))).await;
    assert_eq!(status, StatusCode::CREATED, "{experiment}");
    assert_eq!((experiment["round"].clone(), experiment["rounds"].clone()), (json!(0), json!(2)));
    let id = id_of(&experiment["experiment_id"]);
    // A draft given durations has no deadlines yet: it is before its first round.
    let mut later = spec.clone();
    (later.commit_deadline, later.reveal_deadline) = (0, 0);
    later.commit_within = Some(Duration::from_secs(3_600));
    later.reveal_within = Some(Duration::from_secs(600));
    let (status, draft) =
        h.call("POST", "/experiments", Some(&creator_token), Some(json!({ "spec": later }))).await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    assert_eq!((draft["round"].clone(), draft["rounds"].clone()), (json!(0), json!(2)));
    import_fund_open(&h, &creator_token, id).await;
    let close = format!("/experiments/{id}/close");
    let (status, answer) = h.call("POST", &close, Some(&creator_token), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "rounds close at their deadlines: {answer}");

    // Round 0: three blocks of ten, three labelers each.
    let mut mistakes = Mistakes { split: true, ..Mistakes::default() };
    let mut first = Vec::new();
    for labeler in 0..9 {
        let (batch, work) =
            join_and_commit(&h, id, &keys, labeler, 0, &mut mistakes).await.unwrap();
        assert_eq!(batch["round"], 0);
        first.push(work);
    }
    assert!(
        join_and_commit(&h, id, &keys, 9, 0, &mut mistakes).await.is_err(),
        "every block is full"
    );
    h.set_clock(spec.commit_deadline).await;
    reveal(&h, id, &keys, &first).await;

    // Round 1 opens at the first round's reveal deadline; a restart rebuilds round 0 first.
    h.restart(config()).await;
    h.set_clock(spec.reveal_deadline).await;
    let (_, experiment) = h.call("GET", &format!("/experiments/{id}"), None, None).await;
    assert_eq!(experiment["phase"], "open", "{experiment}");
    assert_eq!(experiment["round"], 1);
    assert_eq!(experiment["commit_deadline"], spec.reveal_deadline + 600);
    assert_eq!(experiment["reveal_deadline"], spec.reveal_deadline + 1_200);
    let settle = format!("/experiments/{id}/settle");
    assert_eq!(h.call("POST", &settle, None, None).await.0, StatusCode::CONFLICT);

    let mut second = Vec::new();
    let mut asked = 0;
    for labeler in 9..30 {
        match join_and_commit(&h, id, &keys, labeler, 0, &mut mistakes).await {
            Ok((batch, work)) => {
                assert_eq!(batch["round"], 1);
                assert_eq!(batch["commit_deadline"], spec.reveal_deadline + 600);
                asked += batch["tasks"].as_array().unwrap().len() - 2;
                second.push(work);
            }
            Err(answer) => assert_eq!(answer["code"], "no_batch", "{answer}"),
        }
        if labeler == 12 {
            // A restart in the middle of round 1 replays both rounds in order.
            h.restart(config()).await;
        }
    }
    assert!(!second.is_empty(), "the split tasks are asked again");
    assert_eq!(asked, 9, "the three split tasks of each block are asked again, no other");

    let round_1_commit = spec.reveal_deadline + 600;
    h.set_clock(round_1_commit).await;
    reveal(&h, id, &keys, &second).await;
    h.state.tick().await;
    let (_, experiment) = h.call("GET", &format!("/experiments/{id}"), None, None).await;
    assert_eq!(experiment["phase"], "settled", "every commit revealed in the last round");

    let (status, record) = h.raw("GET", &format!("/experiments/{id}/record"), None, "", None).await;
    assert_eq!(status, StatusCode::OK);
    let record = PublicRecord::from_json(std::str::from_utf8(&record).unwrap()).unwrap();
    let report = audit(&record).expect("the record of both rounds verifies");
    assert_eq!(report.joins, first.len() + second.len());
    let replayed = replay(&record).unwrap();
    assert_eq!(replayed.batches().iter().filter(|b| b.round == 1).count(), second.len());
    let (_, health) = h.call("GET", "/health", None, None).await;
    assert_eq!(health["ledger_balanced"], true, "{health}");

    // The dashboard's view of the rounds: what each asked and how sure the crowd became.
    let (status, stats) = h.call("GET", &format!("/experiments/{id}/stats"), None, None).await;
    assert_eq!(status, StatusCode::OK);
    let rounds = &stats["rounds"];
    assert_eq!(rounds["count"], 2);
    assert_eq!(rounds["regular_tasks"], REGULAR);
    let by_round = rounds["by_round"].as_array().unwrap();
    assert_eq!(by_round[0]["batches"], 9);
    assert_eq!(by_round[0]["tasks_asked"], REGULAR);
    assert_eq!(by_round[1]["batches"], second.len());
    assert_eq!(by_round[1]["tasks_asked"], asked);
    let sure = |r: usize| by_round[r]["confident"].as_u64().unwrap();
    // No task reached the cap of six labels, so every task not yet sure was asked again.
    assert_eq!(sure(0) + asked as u64, REGULAR as u64, "{stats}");
    assert!(sure(1) <= REGULAR as u64, "{stats}");

    // The dataset holds every task once, with the labels of both rounds.
    let path = format!("/experiments/{id}/export?format=jsonl");
    let (status, export) = h.raw("GET", &path, None, "", None).await;
    assert_eq!(status, StatusCode::OK);
    let rows: Vec<Value> = std::str::from_utf8(&export)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), REGULAR + GOLD);
    let labels: usize = rows.iter().map(|r| r["labels"].as_array().unwrap().len()).sum();
    let given: usize = first.iter().chain(&second).map(|w| w.labels.len()).sum();
    assert_eq!(labels, given, "every revealed label of both rounds is in the dataset");
}

#[tokio::test]
async fn rounds_that_would_ask_nothing_more_settle_once_the_first_reveals_are_in() {
    let h = Harness::new(config()).await;
    let now = h.state.now();
    let operator_token = h.login(&operator()).await;
    let creator = LabelerKey::derived(8, 0);
    let creator_token = h.login(&creator).await;
    let keys: Vec<LabelerKey> = (1..=9).map(|i| LabelerKey::derived(8, i)).collect();
    let spec = rounds_spec(now, 3);
    h.mint(&operator_token, creator.address(), spec.reward_pool).await;
    for key in &keys {
        h.mint(&operator_token, key.address(), STAKE).await;
    }
    let (status, experiment) =
        h.call("POST", "/experiments", Some(&creator_token), Some(json!({ "spec": spec }))).await;
    assert_eq!(status, StatusCode::CREATED, "{experiment}");
    let id = id_of(&experiment["experiment_id"]);
    import_fund_open(&h, &creator_token, id).await;

    // Three labelers agree on every task of each block: nothing is left unsure.
    let mut mistakes = Mistakes::default();
    let mut work = Vec::new();
    for labeler in 0..9 {
        work.push(join_and_commit(&h, id, &keys, labeler, 0, &mut mistakes).await.unwrap().1);
    }
    h.set_clock(spec.commit_deadline).await;
    reveal(&h, id, &keys, &work[..8]).await;
    h.state.tick().await;
    let phase = |e: &Value| e["phase"].as_str().unwrap().to_owned();
    let (_, experiment) = h.call("GET", &format!("/experiments/{id}"), None, None).await;
    assert_eq!(phase(&experiment), "revealing", "a committed batch may still be revealed");
    reveal(&h, id, &keys, &work[8..]).await;
    h.state.tick().await;
    let (_, experiment) = h.call("GET", &format!("/experiments/{id}"), None, None).await;
    assert_eq!(phase(&experiment), "settled", "no later round would ask anything");

    let (_, record) = h.raw("GET", &format!("/experiments/{id}/record"), None, "", None).await;
    let record = PublicRecord::from_json(std::str::from_utf8(&record).unwrap()).unwrap();
    assert_eq!(record.settled_at, spec.commit_deadline, "two rounds before the last deadline");
    audit(&record).expect("the record settled early verifies");
}
