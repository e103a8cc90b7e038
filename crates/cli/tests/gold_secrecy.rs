//! A gold sniper against the real server: six identities of one actor, each with its own key,
//! read every public route and their own batches, pool what they see, and try to tell which of
//! their tasks are gold. The experiment is the worst case for the old design: gold imported last,
//! under ids that say "gold".

mod common;

use common::*;
use plumbline_core::B256;
use plumbline_core::eip712::embedded_domain;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const REGULAR: usize = 60;
const GOLD: usize = 30;
const BLOCK: usize = 10;
const GOLD_PER_BATCH: usize = 3;
const SNIPERS: u64 = 6;

/// Neutral prompts: the content itself must not give gold away in this test.
fn prompt(i: usize) -> String {
    format!("Which answer is better? ({:016x})", (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

fn tasks() -> String {
    (0..REGULAR + GOLD)
        .map(|i| {
            let (id, gold) = if i >= REGULAR {
                (format!("gold-{i}"), format!(r#", "gold": {}"#, truth_of(i)))
            } else {
                (format!("task-{i}"), String::new())
            };
            format!(
                r#"{{"id": "{id}", "prompt": "{}", "responses": ["A {i}", "B {i}"]{gold}}}"#,
                prompt(i)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn get_as(server: &Server, token: Option<&str>, path: &str) -> (u16, Value) {
    server.send(token, "GET", path, None)
}

#[test]
fn a_gold_sniper_reading_every_public_route_cannot_tell_gold_from_regular_tasks() {
    let dir = TempDir::new("gold-secrecy");
    let (operator_key, operator) = new_key(&dir, "operator.json");
    let (creator_key, creator) = new_key(&dir, "creator.json");
    let server = Server::start(&dir.0.join("plumbline.db"), &operator, free_port());
    let env = [("PLUMBLINE_SERVER", server.url.as_str())];
    let start = now();
    server.set_clock(start);
    run_ok(
        &["ledger", "mint", "--to", &creator, "--amount", "1000000000", "--key", &operator_key],
        &env,
    );
    let spec =
        dir.write("spec.toml", &pairwise_spec(start, BLOCK as u32, 3, GOLD_PER_BATCH as u32));
    let tasks = dir.write("tasks.jsonl", &tasks());
    let id =
        run_ok(&["experiment", "create", &spec, "--key", &creator_key], &env).trim().to_string();
    run_ok(&["experiment", "import", &id, &tasks, "--key", &creator_key], &env);
    run_ok(&["experiment", "fund", &id, "--key", &creator_key], &env);
    run_ok(&["experiment", "open", &id, "--key", &creator_key], &env);
    let experiment_id: B256 = id.parse().unwrap();
    let opened = server.get(&format!("/experiments/{id}"));
    assert!(opened["tasks_hash"].is_string(), "the task list is committed at open: {opened}");

    // Credits one stake to a labeler, which then joins: its batch.
    let fund_and_join = |key: &plumbline_core::client::LabelerKey, address: &str| -> Value {
        let mint = ["ledger", "mint", "--to", address, "--amount", "1000000", "--key"];
        run_ok(&[&mint[..], &[operator_key.as_str()]].concat(), &env);
        let join = key.join(&embedded_domain(), experiment_id, None, 1_000_000, 0);
        let (status, batch) =
            server.post(&format!("/experiments/{id}/join"), &serde_json::to_value(&join).unwrap());
        assert_eq!(status, 201, "{batch}");
        batch
    };

    // A careful labeler whose batch the sniper would like to read too.
    let (other, other_address) = test_key(7, 99);
    let other_batch = fund_and_join(&other, &other_address);

    // The sniper's identities join and read everything they may.
    let mut views: Vec<Value> = Vec::new();
    for n in 0..SNIPERS {
        let (key, address) = test_key(11, n);
        let batch = fund_and_join(&key, &address);
        let token = server.sign_in(&key);
        let path = format!("/experiments/{id}/batches/{}", batch["batch_id"]);
        let (status, read) = get_as(&server, Some(&token), &path);
        assert_eq!((status, &read), (200, &batch), "its own batch, signed in");
        for public in [
            format!("/experiments/{id}"),
            format!("/experiments/{id}/stats"),
            format!("/experiments/{id}/labelers/{address}"),
            format!("/experiments/{id}/labelers/{address}/work"),
            format!("/experiments/{id}/labelers/{other_address}/work"),
        ] {
            let (status, answer) = get_as(&server, None, &public);
            assert_eq!(status, 200, "{public}: {answer}");
            let text = answer.to_string();
            assert!(!text.contains("gold-") && !text.contains("\"block\""), "{public}: {text}");
        }
        // Nobody else's batch, signed in or not; nor the repeat of someone else's join.
        let theirs = format!("/experiments/{id}/batches/{}", other_batch["batch_id"]);
        assert_eq!(get_as(&server, None, &theirs).0, 401);
        assert_eq!(get_as(&server, Some(&token), &theirs).0, 403);
        let repeat = other.join(&embedded_domain(), experiment_id, None, 1_000_000, 0);
        let (status, answer) = server
            .post(&format!("/experiments/{id}/join"), &serde_json::to_value(&repeat).unwrap());
        assert_eq!(status, 200, "{answer}");
        assert!(answer.get("tasks").is_none(), "a replayed join shows no tasks: {answer}");
        views.push(batch);
    }

    // Each task as the sniper sees it: only a position, the prompt, the responses, their order.
    let is_gold = |prompt_text: &str| (REGULAR..REGULAR + GOLD).any(|i| prompt(i) == prompt_text);
    for batch in &views {
        assert!(batch.get("block").is_none());
        for (position, task) in batch["tasks"].as_array().unwrap().iter().enumerate() {
            let keys: BTreeSet<&str> =
                task.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys, BTreeSet::from(["prompt", "response_order", "responses", "task"]));
            assert_eq!(task["task"], position, "a position, not the task's index");
        }
    }

    // Pooled, batches either show the same tasks (one block) or share none: gold is shared
    // exactly like regular tasks, so "seen in two different blocks" finds nothing.
    let sets: Vec<BTreeSet<String>> = views
        .iter()
        .map(|b| b["tasks"].as_array().unwrap().iter().map(|t| t["prompt"].to_string()).collect())
        .collect();
    let mut seen_in: BTreeMap<&String, BTreeSet<&BTreeSet<String>>> = BTreeMap::new();
    for set in &sets {
        for task in set {
            seen_in.entry(task).or_default().insert(set);
        }
    }
    let cross_block: Vec<_> = seen_in.iter().filter(|(_, blocks)| blocks.len() > 1).collect();
    assert!(cross_block.is_empty(), "tasks shared across blocks: {cross_block:?}");

    // Nor does numbering: the guess that used to find every gold task, the highest task numbers
    // of each batch (gold was imported last), is now right about as often as chance (3 in 13).
    let (mut right, mut guesses) = (0, 0);
    for batch in &views {
        let shown = batch["tasks"].as_array().unwrap();
        for task in &shown[shown.len() - GOLD_PER_BATCH..] {
            guesses += 1;
            right += usize::from(is_gold(task["prompt"].as_str().unwrap()));
        }
    }
    let gold_seen: usize = views
        .iter()
        .flat_map(|b| b["tasks"].as_array().unwrap().iter())
        .filter(|t| is_gold(t["prompt"].as_str().unwrap()))
        .count();
    assert_eq!(gold_seen, SNIPERS as usize * GOLD_PER_BATCH, "every batch holds its gold");
    // With 18 guesses at a 3-in-13 base rate, 16 or more right has probability below 1e-8; the
    // old design put every gold task there.
    assert!(right < 16, "the sniper found gold by position: {right} of {guesses}");
}
