//! Market simulations through the real protocol: reproducibility, the ordering of strategies on
//! a small market, and the shipped scenarios' validity.

use plumbline_sim::scenario::Scenario;
use plumbline_sim::simulate::{Options, simulate};
use std::path::{Path, PathBuf};

/// The first seed of the test runs: `SEED` in the environment, else 1.
fn seed() -> u64 {
    let seed = std::env::var("SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    eprintln!("SEED={seed}");
    seed
}

/// A small pairwise market with every strategy that has a target. Sizes: 60 identities take 5
/// batches of 20 regular and 6 gold tasks, so each is scored on about 130 items — enough for
/// careful labelers (skill 0.85 to 0.95) to pass the reward test every time. Labelers at chance
/// pass it by luck at its false reward rate and pay the chance fee as often, so their mean ROI
/// is below zero by a few hundredths with a spread of about 0.05 per identity: 12 runs give
/// each such strategy 72 identities, enough for the sign of the mean.
const SMALL: &str = r#"
name = "small"
runs = 12

[question]
kind = "pairwise"
strength_max = 2
allow_tie = false

[tasks]
gold = 60

[market]
block_size = 20
overlap = 5
gold_per_batch = 6
batches_per_labeler = 5
stake_per_batch = 1000
reward_pool = 50000

[population]
size = 60
honest = { share = 0.6, skill = { uniform = [0.85, 0.95] } }
lazy = { share = 0.1 }
random = { share = 0.1 }
always_left = { share = 0.1 }
flipper = { share = 0.1, skill = { fixed = 0.95 } }
"#;

fn small() -> Scenario {
    Scenario::parse(SMALL, Path::new(".")).unwrap()
}

fn options(scenario: &Scenario, seed: u64, threads: usize) -> Options {
    Options { seed, threads, ..Options::of(scenario) }
}

/// Two runs of the small market: enough to compare reports byte for byte.
fn two_runs(scenario: &Scenario, seed: u64, threads: usize) -> Options {
    Options { runs: 2, ..options(scenario, seed, threads) }
}

#[test]
fn the_same_seed_gives_the_same_report_whatever_the_threads() {
    let scenario = small();
    let seed = seed();
    let report = |threads| {
        let simulation =
            simulate(&scenario, &two_runs(&scenario, seed, threads), &|_, _| {}).unwrap();
        serde_json::to_string(&simulation.report).unwrap()
    };
    let one = report(1);
    assert_eq!(one, report(2), "two threads give other bytes than one");
    let other = simulate(&scenario, &two_runs(&scenario, seed + 100, 2), &|_, _| {}).unwrap();
    assert_ne!(one, serde_json::to_string(&other.report).unwrap(), "another seed, same report");
}

#[test]
fn careful_labeling_pays_and_nothing_else_does() {
    let scenario = small();
    let simulation = simulate(&scenario, &options(&scenario, seed(), 2), &|_, _| {}).unwrap();
    let report = &simulation.report;
    let roi = |name: &str| report.strategies[name].roi_mean;
    let honest = roi("honest");
    assert!(honest > 0.0, "honest labelers earn: {honest}");
    for other in ["lazy", "random", "always_left", "flipper"] {
        assert!(roi(other) < honest, "{other} earns {} against honest {honest}", roi(other));
        assert!(roi(other) <= 0.0, "{other} earns {}", roi(other));
    }
    assert_eq!(report.honest_false_slash_rate, 0.0);
    let flipper = &report.strategies["flipper"];
    assert!(flipper.score_mean.unwrap() < 0.0, "flipping scores below chance");
    // The naive rule pays the weak constant answer for agreeing with the median.
    assert!(report.baseline.strategies["lazy"].roi_mean > 0.0);
    for name in ["honest_highest_roi", "uninformative_strategies_at_most_zero"] {
        let target = report.targets.iter().find(|t| t.name == name).unwrap();
        assert!(target.met, "{name}: {}", target.detail);
    }
}

#[test]
fn every_shipped_scenario_parses() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let scenario =
                Scenario::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                scenario.runs >= 20,
                "{}: shipped scenarios run at least 20 seeds",
                scenario.name
            );
            assert_eq!(
                path.file_stem().unwrap().to_string_lossy(),
                scenario.name,
                "a scenario's file is named after it"
            );
            names.push(scenario.name);
        }
    }
    for required in [
        "baseline",
        "spam-30",
        "collusion-15",
        "poison-5",
        "sybil",
        "subjective-minority",
        "gold-sniper",
        "inverted-gold",
        "qualification",
    ] {
        assert!(names.iter().any(|n| n == required), "scenarios/{required}.toml is missing");
    }
}

#[test]
fn a_qualification_admits_careful_labelers_only_and_its_records_audit() {
    let text = format!("{SMALL}\n[qualification]\nitems = 30\nscore_min = 0.15\n");
    let scenario = Scenario::parse(&text, Path::new(".")).unwrap();
    let seed = seed();
    let run = plumbline_sim::in_process::run(&scenario, None, seed).unwrap();
    for round in &run.rounds {
        plumbline_core::record::audit(&round.record).expect("the gated record audits");
        let practice = round.record.practice.as_ref().expect("the record carries the practice");
        assert_eq!(practice.answers.len(), 30 * run.agents.len());
        let qualified = round.qualified.as_ref().unwrap();
        let joined: std::collections::BTreeSet<_> =
            round.record.joins.iter().map(|j| j.join.labeler).collect();
        for (i, q) in qualified.iter().enumerate() {
            assert_eq!(joined.contains(&round.addresses[i]), *q, "only the qualified join");
        }
        let ungated = round.ungated.as_ref().expect("the same experiment with everyone");
        assert!(ungated.record.practice.is_none());
        assert_eq!(ungated.record.joins.len(), run.agents.len() * 5);
    }
    let simulation = simulate(&scenario, &options(&scenario, seed, 2), &|_, _| {}).unwrap();
    let q = simulation.report.qualification.expect("a qualification summary");
    assert!(q.qualified_share["honest"] >= 0.9, "{:?}", q.qualified_share);
    assert_eq!(q.qualified_share["flipper"], 0.0);
    let chance: f64 = ["lazy", "random", "always_left"].iter().map(|g| q.qualified_share[*g]).sum();
    assert!(chance <= 0.5, "chance-level labelers qualify too often: {:?}", q.qualified_share);
    assert!(q.export_accuracy >= q.export_accuracy_without_gate - 0.01, "{q:?}");
}
