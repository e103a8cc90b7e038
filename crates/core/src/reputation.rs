//! The reputation record of an address: what it has done across experiments. It gates
//! eligibility, feeds the cumulative slashing bound, and gives aggregation priors.

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
    }

    /// The combined score of the whole record at scale 10^6, if any item was scored.
    pub fn score(&self, peer_weight: Ppm) -> Option<i64> {
        self.tally.score(peer_weight)
    }

    /// Whether the record allows joining an experiment: no record, or a score at least the
    /// spec's `eligibility.reputation_min`.
    pub fn eligible(&self, spec: &ExperimentSpec) -> bool {
        let Some(min) = spec.eligibility.reputation_min else { return true };
        match self.score(spec.peer_weight) {
            None => true,
            Some(score) => score >= (min * SCALE as f64).round() as i64,
        }
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
            reward_bound: None,
            slash_bound: None,
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
}
