//! The first try in the browser, at its size: three careful labelers (Beta(8, 2) skill) label
//! 40 pairwise tasks each, 32 shared in one block and 8 gold, through the real protocol. At
//! least two of the three must be rewarded in most experiments (it was none of three before
//! the Bernstein bounds).

use plumbline_core::settle::Tier;
use plumbline_sim::in_process;
use plumbline_sim::scenario::Scenario;
use std::path::Path;

const SCENARIO: &str = r#"
name = "three-careful"
description = "Three careful labelers, one batch of 32 regular and 8 gold pairwise tasks each."

[question]
kind = "pairwise"
strength_max = 2
allow_tie = false
instructions = "Which response is better?"

[tasks]
gold = 8
spare_blocks = 0

[market]
block_size = 32
overlap = 3
gold_per_batch = 8
batches_per_labeler = 1
stake_per_batch = 1000000
reward_pool = 3000000

[population]
size = 3
honest = { share = 1.0, skill = { beta = [8.0, 2.0] } }
"#;

const RUNS: u64 = 200;

#[test]
fn three_careful_labelers_on_forty_pairs_are_mostly_rewarded_two_or_more() {
    let scenario = Scenario::parse(SCENARIO, Path::new(".")).unwrap();
    let mut two_or_more = 0;
    let mut rewarded = 0;
    for seed in 1..=RUNS {
        let run =
            in_process::run(&scenario, None, seed).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let settlement = &run.rounds[0].record.settlement;
        let n = settlement.labelers.iter().filter(|l| l.tier == Tier::Rewarded).count();
        assert!(settlement.labelers.iter().all(|l| l.tier != Tier::Slashed), "seed {seed}");
        rewarded += n;
        two_or_more += usize::from(n >= 2);
    }
    // Measured over seeds 1 to 200: printed, and held to at least 95% (98.5% under the exact
    // reward test).
    let share = two_or_more as f64 / RUNS as f64;
    println!(
        "at least two of three rewarded in {two_or_more} of {RUNS} experiments; {rewarded} of {} labelers rewarded",
        3 * RUNS
    );
    assert!(share >= 0.95, "at least two rewarded in only {two_or_more} of {RUNS}");
}
