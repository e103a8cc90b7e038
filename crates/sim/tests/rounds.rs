//! Adaptive rounds measured: dynamic overlap on every real dataset with truth, and the crowd's
//! best of 64 in simulation.

use plumbline_core::adaptive::best_of::BestOfRule;
use plumbline_core::adaptive::overlap::OverlapRule;
use plumbline_core::fixed::Ppm;
use plumbline_infer::read::{read_labels, read_truth};
use plumbline_sim::best_of::{self, BestOfSetup};
use plumbline_sim::dynamic_overlap;
use std::path::PathBuf;

fn dataset(name: &str) -> (plumbline_infer::Dataset, std::collections::HashMap<String, String>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets").join(name);
    let data = read_labels(std::fs::File::open(dir.join("labels.csv")).unwrap()).unwrap();
    let truth = read_truth(std::fs::File::open(dir.join("truth.csv")).unwrap()).unwrap();
    (data, truth)
}

fn rule() -> OverlapRule {
    OverlapRule { start: 3, max: u32::MAX, confidence: Ppm::new(990_000).unwrap() }
}

#[test]
fn dynamic_overlap_spends_half_the_labels_on_sentiment_for_the_same_accuracy() {
    let (data, truth) = dataset("sentiment");
    let r = dynamic_overlap::replay(&data, &truth, &rule(), 1).unwrap();
    assert_eq!(r.labels_full, 20_000);
    assert!(r.share <= 0.6, "{r:?}");
    assert!(r.accuracy_dynamic >= r.accuracy_full, "{r:?}");
    assert!(r.accuracy_dynamic > r.accuracy_fixed, "{r:?}");
    assert!(r.rounds > 2);
    // The same seed gives the same replay; another draws labels in another order.
    let again = dynamic_overlap::replay(&data, &truth, &rule(), 1).unwrap();
    assert_eq!((again.labels_dynamic, again.rounds), (r.labels_dynamic, r.rounds));
}

#[test]
fn dynamic_overlap_never_asks_past_its_cap_or_below_its_start() {
    let (data, truth) = dataset("temp");
    let capped = OverlapRule { max: 4, ..rule() };
    let r = dynamic_overlap::replay(&data, &truth, &capped, 3).unwrap();
    assert!(r.labels_dynamic <= 4 * r.tasks, "{r:?}");
    assert!(r.labels_dynamic >= 3 * r.tasks, "{r:?}");
}

#[test]
fn the_crowd_finds_the_best_of_64_within_its_budget() {
    let setup = BestOfSetup { runs: 200, seed: 17, ..BestOfSetup::default() };
    let report = best_of::run(&setup);
    let ours = &report.tournament;
    assert!(ours.best_chosen >= 0.93, "{ours:?}");
    assert!(ours.comparisons_max <= BestOfRule::default().budget, "{ours:?}");
    assert!(ours.per_labeler_max <= setup.per_labeler_max, "{ours:?}");
    assert_eq!(ours.unfinished, 0.0);
    // Fewer comparisons than a knockout with nine votes a match, and at least as often right.
    let peer = &report.replicated_knockout;
    assert!(ours.comparisons_mean < peer.comparisons_mean / 2.0, "{ours:?} {peer:?}");
    assert!(ours.best_chosen >= peer.best_chosen, "{ours:?} {peer:?}");
    // Reproducible from its seed.
    let again = best_of::run(&setup);
    assert_eq!(again.tournament.comparisons_mean, ours.comparisons_mean);
}

#[test]
fn labelers_who_answer_at_random_do_not_pick_the_winner() {
    let setup = BestOfSetup {
        runs: 100,
        seed: 5,
        skill: plumbline_sim::scenario::Skill::Fixed(0.5),
        ..BestOfSetup::default()
    };
    let report = best_of::run(&setup);
    // Chance is 1 in 64; allow sampling error over 100 runs.
    assert!(report.tournament.best_chosen < 0.08, "{:?}", report.tournament);
}
