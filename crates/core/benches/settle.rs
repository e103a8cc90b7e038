//! Settlement benchmark: 10,000 labelers, 100,000 revealed labels (binary, blocks of 8 with 2
//! gold per batch, overlap 5). Writes `bench/results/settle.{json,md}`.
//!
//! Run: `cargo bench -p plumbline-core --bench settle` (SEED=<n> to change the data).

use plumbline_core::Address;
use plumbline_core::label::Label;
use plumbline_core::settle::{BatchOutcome, Tier, settle};
use plumbline_core::synthetic::{SplitMix64, binary_spec};
use plumbline_core::task::Task;
use std::collections::BTreeMap;
use std::time::Instant;

const LABELERS: usize = 10_000;
const BLOCK_SIZE: u32 = 8;
const GOLD_PER_BATCH: u32 = 2;
const OVERLAP: usize = 5;
const GOLD_TASKS: usize = 200;
const RUNS: usize = 5;
const BUDGET_SECS: f64 = 2.0;

fn main() {
    let seed: u64 = std::env::var("SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    eprintln!("SEED={seed}");
    let mut rng = SplitMix64::new(seed);
    let spec = binary_spec(BLOCK_SIZE, OVERLAP as u32, GOLD_PER_BATCH);
    let blocks = LABELERS / OVERLAP;
    let regular = blocks * BLOCK_SIZE as usize;
    let truth: Vec<i64> = (0..regular + GOLD_TASKS).map(|_| (rng.next_u64() % 2) as i64).collect();
    let tasks: Vec<Task> = (0..regular + GOLD_TASKS)
        .map(|i| Task {
            id: i.to_string(),
            prompt: String::new().into(),
            responses: Vec::new(),
            gold: (i >= regular).then_some(Label::Int(truth[i])),
            meta: Default::default(),
        })
        .collect();
    let batches: Vec<BatchOutcome> = (0..LABELERS)
        .map(|i| {
            // Accuracy from 0.3 to 0.98: a realistic crowd with a tail of bad labelers.
            let accuracy = 300_000 + (rng.next_u64() % 680_000) as u32;
            let block = i / OVERLAP;
            // Two distinct gold tasks.
            let first = rng.below(GOLD_TASKS as u64) as usize;
            let second = (first + 1 + rng.below(GOLD_TASKS as u64 - 1) as usize) % GOLD_TASKS;
            let task_indices: Vec<usize> = (0..BLOCK_SIZE as usize)
                .map(|t| block * BLOCK_SIZE as usize + t)
                .chain([regular + first, regular + second])
                .collect();
            let labels: Vec<(u32, Label)> = task_indices
                .into_iter()
                .map(|task| {
                    let right = rng.chance(accuracy);
                    let value = if right { truth[task] } else { 1 - truth[task] };
                    (task as u32, Label::Int(value))
                })
                .collect();
            let mut address = [0u8; 20];
            address[12..].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            BatchOutcome {
                batch_id: i as u64,
                labeler: Address::from(address),
                cohort: None,
                stake: spec.stake_per_batch,
                labels: Some(labels),
            }
        })
        .collect();
    let labels: usize = batches.iter().map(|b| b.labels.as_ref().map_or(0, Vec::len)).sum();
    let reputations = BTreeMap::new();

    let mut seconds = Vec::new();
    let mut last = None;
    for run in 0..RUNS {
        let start = Instant::now();
        let settlement = settle(&spec, &tasks, &batches, &reputations);
        let elapsed = start.elapsed().as_secs_f64();
        eprintln!("run {}/{RUNS}: {elapsed:.3} s", run + 1);
        seconds.push(elapsed);
        last = Some(settlement);
    }
    seconds.sort_by(f64::total_cmp);
    let median = seconds[RUNS / 2];
    let settlement = last.expect("at least one run");
    let count = |tier| settlement.labelers.iter().filter(|l| l.tier == tier).count();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let command = "cargo bench -p plumbline-core --bench settle";
    let document = serde_json::json!({
        "benchmark": "settle",
        "command": command,
        "seed": seed,
        "labelers": settlement.labelers.len(),
        "revealed_labels": labels,
        "runs": RUNS,
        "seconds_median": median,
        "seconds_min": seconds[0],
        "seconds_max": seconds[RUNS - 1],
        "budget_seconds": BUDGET_SECS,
        "within_budget": median < BUDGET_SECS,
        "cores": cores,
        "tiers": {
            "rewarded": count(Tier::Rewarded),
            "even": count(Tier::Even),
            "slashed": count(Tier::Slashed),
        },
    });
    let markdown = format!(
        "# Settlement benchmark\n\n`{command}` (release, {cores} cores, seed {seed})\n\n\
         | labelers | revealed labels | median | min | max | budget |\n|---|---|---|---|---|---|\n\
         | {} | {labels} | {median:.3} s | {:.3} s | {:.3} s | {BUDGET_SECS} s |\n\n\
         Tiers: {} rewarded, {} even, {} slashed.\n",
        settlement.labelers.len(),
        seconds[0],
        seconds[RUNS - 1],
        count(Tier::Rewarded),
        count(Tier::Even),
        count(Tier::Slashed),
    );
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/results");
    std::fs::create_dir_all(&dir).expect("bench/results can be created");
    std::fs::write(dir.join("settle.json"), format!("{document:#}\n")).expect("write json");
    std::fs::write(dir.join("settle.md"), markdown).expect("write markdown");
    println!("{document}");
    assert!(labels >= 100_000, "the benchmark must settle at least 100,000 labels");
}
