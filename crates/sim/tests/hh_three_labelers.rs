//! The first try in the browser, replayed: three labelers on 44 pairs of Anthropic's HH
//! harmless set, agreeing with the original choice 100%, 85% and 60% of the time. The export's
//! pairwise consensus (`plumbline_infer::preferred_sides`, as the server builds it) must follow
//! a majority that includes the best labeler, and agree with HH at least as often as majority
//! vote does.

use plumbline_infer::{NumericDataset, SidesOptions, preferred_sides};
use plumbline_sim::tasks::Pool;
use std::path::PathBuf;

const PAIRS: usize = 44;

#[test]
fn three_labelers_on_hh_pairs_get_a_consensus_at_least_as_right_as_majority_vote() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/datasets/hh_harmless_pairs");
    let pool = Pool::load(&dir).expect("the shared HH pairs sit beside the repository");
    assert!(pool.pairs.len() >= PAIRS);
    // Which response is shown second alternates in a fixed, irregular pattern, so the HH
    // choice is the second response on about half the tasks: +1 where it is, −1 where not.
    let truth: Vec<i64> = (0..PAIRS).map(|t| if (t * 7 + 3) % 11 < 5 { 1 } else { -1 }).collect();
    let mut rows = Vec::new();
    for (t, (side, pair)) in truth.iter().zip(&pool.pairs).enumerate() {
        assert!(!pair.chosen.is_empty() && pair.chosen != pair.rejected, "task {t}");
        let task = format!("t{t}");
        // "careful" always matches HH, sure of itself two times in three; "good" misses
        // 7 of 44 (84%) weakly; "poor" misses 18 of 44 (59%), as strongly as it answers
        // anything.
        let careful = side * if t % 3 == 0 { 1 } else { 2 };
        let good = if t % 6 == 5 || t == 40 { -side } else { side * 2 };
        let poor = if t % 5 < 2 || t == 42 { -side * 2 } else { side * 2 };
        for (worker, label) in [("careful", careful), ("good", good), ("poor", poor)] {
            rows.push((task.clone(), worker.to_owned(), label as f64));
        }
    }
    let data = NumericDataset::from_rows(rows.iter().cloned()).unwrap();
    let sides = preferred_sides(&data, &SidesOptions::default());
    let (mut right, mut majority_right) = (0, 0);
    for (t, side) in truth.iter().enumerate() {
        let index = data.tasks().get(&format!("t{t}")).unwrap() as usize;
        let labels: Vec<i64> =
            data.task_labels(index).iter().map(|l| (l.value as i64).signum()).collect();
        let careful_side = labels[0];
        let majority = labels.iter().sum::<i64>().signum();
        let chosen = sides.value(index).signum() as i64;
        if careful_side == majority {
            assert_eq!(chosen, majority, "task {t}: labels {labels:?}");
        }
        right += usize::from(chosen == *side);
        majority_right += usize::from(majority == *side);
    }
    // Measured: 44 of 44 against majority vote's 39.
    assert!(
        right >= majority_right,
        "the consensus matches HH on {right} of {PAIRS}, majority vote on {majority_right}"
    );
}
