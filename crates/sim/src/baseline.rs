//! The naive baseline: the seed idea's rule, settled over the very same revealed labels as the
//! mechanism so that the two can be compared labeler for labeler.
//!
//! Per regular task, the majority label of everyone who revealed it (categorical: the most
//! frequent value, ties to the smallest; pairwise: the lower median, which sits on the side
//! most labelers chose). Per labeler, the mean distance `1 − a(x, majority)` of its labels
//! (the question's own agreement function; gold is not used, the rule knows no gold):
//!
//! - *close* (distance ≤ `close`, 0.25 by default): paid from the pot in proportion to
//!   `n · (1 − distance)`;
//! - *far*: nothing, stake returned;
//! - *outlier* (distance > `outlier`, 0.5 by default): loses `slash_bps` of its stake.
//!
//! The pot, non-reveal penalties and where slashed stake goes follow the spec exactly as the
//! mechanism's settlement does, so only the rule differs. Nothing here is chance-corrected or
//! cohort-aware: agreeing with a focal answer pays, and a minority that sees things
//! differently is an outlier.

use crate::scenario::BaselineRule;
use plumbline_core::Address;
use plumbline_core::label::{Agreement, Label};
use plumbline_core::record::PublicRecord;
use plumbline_core::settle::Tier;
use plumbline_core::spec::{QuestionKind, SlashedFunds};
use std::collections::BTreeMap;

/// One labeler's outcome under the naive rule.
#[derive(Clone, Debug, PartialEq)]
pub struct NaiveResult {
    /// Its tier (rewarded = close, even = far, slashed = outlier).
    pub tier: Tier,
    /// Mean distance to the majority over its regular labels, when it revealed any.
    pub distance: Option<f64>,
    /// Stake locked.
    pub stake: u128,
    /// What it gets back: stake returned plus reward.
    pub payout: u128,
}

/// Settles a record's revealed labels by the naive rule.
pub fn settle(record: &PublicRecord, rule: &BaselineRule) -> BTreeMap<Address, NaiveResult> {
    let spec = &record.spec;
    let kind = &spec.question.kind;
    let agreement = Agreement::of(kind);

    // Every revealed regular label by task.
    let revealed = record.revealed();
    let mut by_task: BTreeMap<u32, Vec<i64>> = BTreeMap::new();
    for batch in &revealed {
        for (task, label) in &batch.labels {
            if !record.tasks[*task as usize].is_gold()
                && let Some(v) = label.as_int()
            {
                by_task.entry(*task).or_default().push(v);
            }
        }
    }
    let majority: BTreeMap<u32, i64> =
        by_task.into_iter().map(|(t, mut values)| (t, majority_of(kind, &mut values))).collect();

    // Per labeler: distance sums over its revealed regular labels, stakes by batch.
    #[derive(Default)]
    struct Acc {
        distance_sum: f64,
        n: u64,
        stake: u128,
        revealed_stake: u128,
        penalty: u128,
    }
    let mut acc: BTreeMap<Address, Acc> = BTreeMap::new();
    let revealed: BTreeMap<u64, &Vec<(u32, Label)>> =
        revealed.iter().map(|r| (r.batch_id, &r.labels)).collect();
    for join in &record.joins {
        let entry = acc.entry(join.join.labeler).or_default();
        let stake = spec.stake_per_batch;
        entry.stake += stake;
        match revealed.get(&join.batch_id) {
            Some(labels) => {
                entry.revealed_stake += stake;
                for (task, label) in labels.iter() {
                    if let Some(m) = majority.get(task) {
                        let a = agreement.between(label, &Label::Int(*m)) as f64 / 1e6;
                        entry.distance_sum += 1.0 - a;
                        entry.n += 1;
                    }
                }
            }
            None => {
                entry.penalty += stake * u128::from(spec.non_reveal_bps_effective()) / 10_000;
            }
        }
    }

    let mut results: BTreeMap<Address, NaiveResult> = BTreeMap::new();
    let mut slashed_total = 0u128;
    let mut weights: BTreeMap<Address, f64> = BTreeMap::new();
    for (address, a) in &acc {
        let distance = (a.n > 0).then(|| a.distance_sum / a.n as f64);
        let tier = match distance {
            Some(d) if d <= rule.close => Tier::Rewarded,
            Some(d) if d > rule.outlier => Tier::Slashed,
            _ => Tier::Even,
        };
        let slash = if tier == Tier::Slashed {
            a.revealed_stake * u128::from(spec.slash_bps) / 10_000
        } else {
            0
        };
        slashed_total += slash + a.penalty;
        if tier == Tier::Rewarded {
            weights.insert(*address, a.n as f64 * (1.0 - distance.unwrap_or(1.0)));
        }
        let returned = a.stake - slash - a.penalty;
        results.insert(*address, NaiveResult { tier, distance, stake: a.stake, payout: returned });
    }
    let pot = spec.reward_pool
        + match spec.slashed_funds {
            SlashedFunds::Redistribute => slashed_total,
            SlashedFunds::Burn => 0,
        };
    let total: f64 = weights.values().sum();
    if total > 0.0 {
        for (address, w) in weights {
            // Floored shares, as in the mechanism; the baseline is a reference, so floating
            // point is fine here.
            let share = (pot as f64 * w / total).floor() as u128;
            results.get_mut(&address).expect("weighted labelers have results").payout += share;
        }
    }
    results
}

/// The majority label of a task's labels: the most frequent value (ties to the smallest) for
/// categorical questions, the lower median for pairwise strengths.
fn majority_of(kind: &QuestionKind, values: &mut [i64]) -> i64 {
    values.sort_unstable();
    match kind {
        QuestionKind::Pairwise { .. } | QuestionKind::Rating { .. } => {
            values[(values.len() - 1) / 2]
        }
        _ => {
            let mut best = (0usize, values[0]);
            let mut i = 0;
            while i < values.len() {
                let j = values[i..].iter().take_while(|v| **v == values[i]).count();
                if j > best.0 {
                    best = (j, values[i]);
                }
                i += j;
            }
            best.1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_is_plurality_or_lower_median() {
        let binary = QuestionKind::Binary { options: ["a".into(), "b".into()] };
        assert_eq!(majority_of(&binary, &mut [1, 0, 1]), 1);
        assert_eq!(majority_of(&binary, &mut [1, 0]), 0, "ties go to the smallest");
        let pairwise = QuestionKind::Pairwise { strength_max: 2, allow_tie: false };
        assert_eq!(majority_of(&pairwise, &mut [2, -1, 1, 2, -2]), 1);
        assert_eq!(majority_of(&pairwise, &mut [2, -1]), -1);
    }
}
