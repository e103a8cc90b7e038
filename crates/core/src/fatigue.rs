//! Where a labeler tired: the tail of a session whose quality fell, which the dataset's
//! consensus weighs apart from the rest of its labeler's labels.
//!
//! A session is a batch's labels in the order its labeler gave them. Each label's evidence is
//! its agreement a(x, y) (`Agreement`) with the gold answer on a gold task, or else its mean
//! agreement with the other labels on its task; a label with neither is skipped. The session's
//! evidence is cut at the boundaries of [`SESSION_PARTS`] equal parts, and at each cut the fall
//! from before to after is standardized as a two-sample difference of means:
//!
//! `T = (mean before − mean after) · √(before · after / n)`.
//!
//! The largest `T` over the cuts is tested against the same statistic on rearrangements of the
//! session's evidence (a fall that position does not explain is as likely anywhere), drawn from
//! SplitMix64 seeded by keccak256 of a tag and the batch id. The session tired from the cut when
//! `(1 + exceedances) / (1 + REARRANGEMENTS)` is at most [`LEVEL_PPM`] (the draws stop as soon
//! as it cannot be): a labeler whose quality does not change is cut in about one session in
//! twenty, which costs little, since a cut tail keeps the weight its own agreement earns.
//!
//! The consensus models weigh each labeler by its agreement with the rest; a tired tail counted
//! as the same labeler would borrow the weight its fresh labels earned, and left out it would
//! lose what it still knows. So the export counts it as a labeler of its own, weighed by its own
//! agreement (`docs/protocol.md`, "The dataset"). Nothing here moves money: settlement scores
//! every revealed label.

use crate::label::{Agreement, Label};
use crate::record::RevealedBatch;
use crate::spec::QuestionKind;
use crate::synthetic::SplitMix64;
use crate::task::Task;
use alloy_primitives::keccak256;
use std::collections::HashMap;

/// Parts of a session whose boundaries are the candidate cuts.
pub const SESSION_PARTS: usize = 5;

/// The fewest labels with evidence for a session to be tested.
pub const SESSION_EVIDENCE_MIN: usize = 20;

/// The test's level in parts per million.
pub const LEVEL_PPM: u64 = 50_000;

/// Rearrangements drawn at most.
pub const REARRANGEMENTS: u64 = 999;

/// Per batch (in the order given), the position in its labels from which its labeler had
/// tired, if it had.
pub fn tired_from(
    kind: &QuestionKind,
    tasks: &[Task],
    batches: &[RevealedBatch],
) -> Vec<Option<usize>> {
    let agreement = Agreement::of(kind);
    if agreement == Agreement::Unscored {
        return vec![None; batches.len()];
    }
    let mut on_task: HashMap<u32, Vec<&Label>> = HashMap::new();
    for batch in batches {
        for (task, label) in &batch.labels {
            on_task.entry(*task).or_default().push(label);
        }
    }
    batches
        .iter()
        .map(|batch| {
            // (position in the batch, evidence at scale 10^6)
            let evidence: Vec<(usize, i64)> = batch
                .labels
                .iter()
                .enumerate()
                .filter_map(|(position, (task, label))| {
                    let x = evidence_of(&agreement, tasks, &on_task, *task, label)?;
                    Some((position, x))
                })
                .collect();
            let values: Vec<i64> = evidence.iter().map(|(_, x)| *x).collect();
            let cut = tired_cut(&values, batch.batch_id)?;
            Some(evidence[cut].0)
        })
        .collect()
}

/// The name the consensus models know a label's labeler by: `labeler`, or for a label in a
/// tired tail `labeler` followed by " (tired)", another labeler to them.
pub fn voice(labeler: &str, tired: bool) -> String {
    if tired { format!("{labeler} (tired)") } else { labeler.to_owned() }
}

/// A label's evidence: agreement with the gold answer, else the mean agreement with the other
/// labels on its task; `None` with neither.
fn evidence_of(
    agreement: &Agreement,
    tasks: &[Task],
    on_task: &HashMap<u32, Vec<&Label>>,
    task: u32,
    label: &Label,
) -> Option<i64> {
    if let Some(answer) = tasks.get(task as usize).and_then(|t| t.gold.as_ref()) {
        return Some(agreement.between(label, answer));
    }
    agreement.with_others(label, on_task.get(&task)?)
}

/// The index in `values` from which the session's quality fell, when the fall is significant.
fn tired_cut(values: &[i64], batch_id: u64) -> Option<usize> {
    if values.len() < SESSION_EVIDENCE_MIN {
        return None;
    }
    let (observed, cut) = largest_fall(values);
    if observed <= 0.0 {
        return None;
    }
    let mut rng = generator_for(batch_id);
    let mut shuffled = values.to_vec();
    let mut exceedances = 0u64;
    for _ in 0..REARRANGEMENTS {
        for i in (1..shuffled.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            shuffled.swap(i, j);
        }
        if largest_fall(&shuffled).0 >= observed {
            exceedances += 1;
            if !significant(exceedances) {
                return None;
            }
        }
    }
    Some(cut)
}

/// Whether a fall that `exceedances` rearrangements reached can be significant.
fn significant(exceedances: u64) -> bool {
    (1 + exceedances) * 1_000_000 <= LEVEL_PPM * (1 + REARRANGEMENTS)
}

/// The largest standardized fall over the cuts, and the index where it starts.
fn largest_fall(values: &[i64]) -> (f64, usize) {
    let n = values.len();
    let total: i64 = values.iter().sum();
    let mut best = (f64::NEG_INFINITY, n);
    for part in 1..SESSION_PARTS {
        let cut = part * n / SESSION_PARTS;
        let before: i64 = values[..cut].iter().sum();
        let (b, a) = (cut as f64, (n - cut) as f64);
        let fall = (before as f64 / b - (total - before) as f64 / a) * (b * a / n as f64).sqrt();
        if fall > best.0 {
            best = (fall, cut);
        }
    }
    best
}

/// The rearrangements' generator for a batch.
fn generator_for(batch_id: u64) -> SplitMix64 {
    let mut seed = b"plumbline/session-test".to_vec();
    seed.extend_from_slice(&batch_id.to_be_bytes());
    let hash = keccak256(&seed);
    SplitMix64::new(u64::from_be_bytes(hash[..8].try_into().expect("8 bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Address;

    /// A batch of `n` binary labels on tasks `0..n`, right (1) at the positions `right` says.
    fn session(batch_id: u64, n: u32, right: impl Fn(u32) -> bool) -> RevealedBatch {
        RevealedBatch {
            batch_id,
            labeler: Address::repeat_byte(batch_id as u8),
            cohort: None,
            labels: (0..n).map(|t| (t, Label::Int(i64::from(right(t))))).collect(),
        }
    }

    /// `n` tasks, gold (answer 1) or not.
    fn tasks(n: u32, gold: bool) -> Vec<Task> {
        (0..n)
            .map(|t| Task {
                id: t.to_string(),
                prompt: String::new().into(),
                responses: Vec::new(),
                gold: gold.then_some(Label::Int(1)),
                meta: Default::default(),
            })
            .collect()
    }

    #[test]
    fn a_session_that_falls_to_chance_loses_its_tail_and_a_steady_one_does_not() {
        let kind = QuestionKind::Binary { options: ["no".into(), "yes".into()] };
        let tasks = tasks(60, true);
        // Right throughout the first 36 labels, then right on every other one.
        let tired = session(1, 60, |t| t < 36 || t % 2 == 0);
        // Right on four labels of five, evenly.
        let steady = session(2, 60, |t| t % 5 != 0);
        let cuts = tired_from(&kind, &tasks, &[tired, steady]);
        assert_eq!(cuts, vec![Some(36), None]);
    }

    #[test]
    fn short_sessions_unscored_kinds_and_rising_quality_are_left_alone() {
        let kind = QuestionKind::Binary { options: ["no".into(), "yes".into()] };
        let tasks = tasks(60, true);
        let short = session(1, SESSION_EVIDENCE_MIN as u32 - 1, |t| t < 5);
        let rising = session(2, 60, |t| t >= 24 || t % 2 == 0);
        assert_eq!(tired_from(&kind, &tasks, &[short, rising]), vec![None, None]);
        let text = QuestionKind::Text { length_max: 100 };
        assert_eq!(tired_from(&text, &tasks, &[session(3, 60, |t| t < 30)]), vec![None]);
    }

    #[test]
    fn peers_are_evidence_where_there_is_no_gold() {
        let kind = QuestionKind::Binary { options: ["no".into(), "yes".into()] };
        let tasks = tasks(60, false);
        // Every batch has its own order (`assign`): the peers see the tasks backwards, so the
        // tired labeler's tail lowers the start of their sessions, not their end.
        let peers = (10..13).map(|b| {
            let mut batch = session(b, 60, |_| true);
            batch.labels.reverse();
            batch
        });
        let mut batches = vec![session(1, 60, |t| t < 36 || t % 2 == 0)];
        batches.extend(peers);
        let cuts = tired_from(&kind, &tasks, &batches);
        assert_eq!(cuts, vec![Some(36), None, None, None]);
    }

    #[test]
    fn the_test_is_reproducible_and_rarely_cuts_a_steady_labeler() {
        let kind = QuestionKind::Binary { options: ["no".into(), "yes".into()] };
        let tasks = tasks(50, true);
        let mut rng = SplitMix64::new(42);
        let steady: Vec<RevealedBatch> = (0..300)
            .map(|b| {
                let right: Vec<bool> = (0..50).map(|_| rng.below(10) < 7).collect();
                session(b, 50, |t| right[t as usize])
            })
            .collect();
        let cuts = tired_from(&kind, &tasks, &steady);
        assert_eq!(cuts, tired_from(&kind, &tasks, &steady), "same record, same cuts");
        let cut = cuts.iter().filter(|c| c.is_some()).count();
        // About 15 expected at a 5% level; 27 is beyond the binomial's 99.9th percentile.
        assert!(cut <= 27, "{cut} of 300 steady sessions cut at a 5% level");
    }
}
