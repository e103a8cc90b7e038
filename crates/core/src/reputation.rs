//! The reputation record of an address: what it has done across experiments. It gates
//! eligibility, carries the slashing test's evidence, and gives aggregation priors.

use crate::fixed::{Ppm, SCALE};
use crate::score::Tally;
use crate::settle::{LabelerResult, Tier};
use crate::spec::ExperimentSpec;
use serde::{Deserialize, Serialize};

/// Counts and sums over every settled experiment of one address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reputation {
    /// Settled experiments taken part in.
    pub experiments: u64,
    /// Batches taken.
    pub batches: u64,
    /// Batches not revealed.
    pub non_reveals: u64,
    /// Experiments in which it was rewarded.
    pub rewarded: u64,
    /// Experiments in which it was slashed.
    pub slashed: u64,
    /// Experiments settled while it stood marked for copies its gold accuracy did not explain
    /// (collusion, or one labeler's work under several identities), from the first in which
    /// they were found: while above zero it is paid nothing and its labels are not exported.
    #[serde(default)]
    pub colluded: u64,
    /// Peer and gold sums and counts.
    pub tally: Tally,
    /// Practice items (as gold items), kept apart from `tally`: practice costs and pays
    /// nothing, so it never enters the bounds that decide who is paid or slashed.
    #[serde(default)]
    pub practice: Tally,
    /// The career's evidence that it is below chance: the sum of the natural logs of the
    /// slashing test's e-values that counted, at scale 10^6 (see [`crate::slash_test`]).
    #[serde(default)]
    pub slash_evidence: i64,
    /// Whether its last experiment's mean was above zero: then the next experiment's e-value
    /// does not count, so that careful work piles up no evidence against it and no shield
    /// either.
    #[serde(default)]
    pub cleared: bool,
}

impl Reputation {
    /// Folds one settled experiment's result into the record.
    pub fn update(&mut self, result: &LabelerResult) {
        self.experiments += 1;
        self.batches += result.batches;
        self.non_reveals += result.batches - result.revealed_batches;
        self.rewarded += u64::from(result.tier == Tier::Rewarded);
        self.slashed += u64::from(result.tier == Tier::Slashed);
        self.colluded += u64::from(result.unexplained_copies);
        self.tally.add(&result.tally);
        self.slash_evidence = result.slash_evidence;
        self.cleared = result.tally.mean().is_some_and(|m| m > 0);
    }

    /// The career's slashing evidence after an experiment whose slashing test gave `p_ppm`:
    /// its e-value counts unless the previous experiment cleared the labeler. Whether it
    /// counts depends only on the past, so the product of the e-values stays a supermartingale
    /// for a labeler at chance or above, and reaches `1/δ` with probability at most δ.
    pub fn slash_evidence_after(&self, p_ppm: u32) -> i64 {
        if self.cleared {
            self.slash_evidence
        } else {
            self.slash_evidence.saturating_add(crate::slash_test::ln_e_value(p_ppm))
        }
    }

    /// Folds one experiment's practice into the record.
    pub fn add_practice(&mut self, practice: &Tally) {
        self.practice.add(practice);
    }

    /// The combined score of the whole record at scale 10^6, if any item was scored.
    pub fn score(&self, peer_weight: Ppm) -> Option<i64> {
        self.tally.score(peer_weight)
    }

    /// The score eligibility reads, at scale 10^6: `None` without any batch (a newcomer).
    /// A batch not revealed counts as a batch at chance, so that not revealing never keeps a
    /// record clean: a positive score is diluted by the share of batches revealed, a record of
    /// unrevealed batches alone is at 0, and a negative score stays as it is.
    pub fn eligibility_score(&self, peer_weight: Ppm) -> Option<i64> {
        if self.batches == 0 {
            return None;
        }
        let score = i128::from(self.score(peer_weight).unwrap_or(0));
        let revealed = i128::from(self.batches.saturating_sub(self.non_reveals));
        let diluted = (score * revealed).div_euclid(i128::from(self.batches));
        Some(i64::try_from(score.min(diluted)).expect("at most the score"))
    }

    /// Whether the record allows joining an experiment: no record, or an
    /// [`Reputation::eligibility_score`] at least the spec's `eligibility.reputation_min`.
    pub fn eligible(&self, spec: &ExperimentSpec) -> bool {
        let Some(min) = spec.eligibility.reputation_min else { return true };
        self.eligibility_score(spec.peer_weight)
            .is_none_or(|score| score >= (min * SCALE as f64).round() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::binary_spec;
    use crate::{Address, fixed::Ppm};

    fn result(tier: Tier, gold_sum: i64, gold_n: u64) -> LabelerResult {
        LabelerResult {
            labeler: Address::ZERO,
            batches: 2,
            revealed_batches: 1,
            tally: Tally { gold_sum, gold_n, ..Tally::default() },
            score: None,
            reward_p_ppm: None,
            slash_p_ppm: 1_000_000,
            slash_evidence: 0,
            tier,
            below_chance_in: Vec::new(),
            pay_share_ppm: 1_000_000,
            unexplained_copies: false,
            stake: 2,
            slash: 0,
            non_reveal_penalty: 1,
            chance_fee: 0,
            copy_fee: 0,
            stake_returned: 1,
            reward: 0,
            payout: 1,
        }
    }

    #[test]
    fn updates_accumulate_and_gate_eligibility() {
        let mut record = Reputation::default();
        record.update(&result(Tier::Rewarded, 300_000, 1));
        record.update(&result(Tier::Slashed, -900_000, 3));
        assert_eq!(record.experiments, 2);
        assert_eq!(record.batches, 4);
        assert_eq!(record.non_reveals, 2);
        assert_eq!((record.rewarded, record.slashed), (1, 1));
        assert_eq!(record.score(Ppm::ONE), Some(-150_000));

        let mut spec = binary_spec(4, 2, 1);
        assert!(record.eligible(&spec), "no minimum");
        spec.eligibility.reputation_min = Some(-0.1);
        assert!(!record.eligible(&spec));
        assert!(Reputation::default().eligible(&spec), "newcomers may join");
        spec.eligibility.reputation_min = Some(-0.2);
        assert!(record.eligible(&spec));
    }

    #[test]
    fn batches_not_revealed_count_as_chance_for_eligibility() {
        let mut spec = binary_spec(4, 2, 1);
        spec.eligibility.reputation_min = Some(0.2);
        // Half its batches unrevealed: a score of 0.3 counts as 0.15.
        let mut record = Reputation::default();
        record.update(&result(Tier::Rewarded, 300_000, 1));
        assert_eq!(record.eligibility_score(Ppm::ONE), Some(150_000));
        assert!(!record.eligible(&spec));
        spec.eligibility.reputation_min = Some(0.15);
        assert!(record.eligible(&spec));
        // Nothing revealed at all is chance, not a clean record.
        let mut silent = Reputation::default();
        silent.update(&LabelerResult { revealed_batches: 0, ..result(Tier::Even, 0, 0) });
        assert_eq!(silent.eligibility_score(Ppm::ONE), Some(0));
        assert!(!silent.eligible(&spec));
        // A negative score is not improved by diluting it.
        let mut poor = Reputation::default();
        poor.update(&result(Tier::Slashed, -400_000, 1));
        assert_eq!(poor.eligibility_score(Ppm::ONE), Some(-400_000));
    }
}
