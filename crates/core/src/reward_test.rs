//! The reward test: is a labeler's mean confidently above chance? A Monte Carlo permutation
//! test, exact at δ_reward for a labeler whose labels carry no information.
//!
//! A labeler at chance answers without regard to the task in front of it: its labels, as a
//! sequence over its tasks, are exchangeable and independent of its peers' labels and of the
//! gold answers (a random answer; a constant one; "always the left response", which the
//! per-labeler display shuffle turns into a random canonical answer). Then its own arrangement
//! of labels is just one draw among all the arrangements of the same labels over the same
//! tasks, and the chance that at most `c` of `K` random rearrangements score at least as high
//! as it does is at most `(1 + c) / (K + 1)` (ties count against it). The test
//! rearranges the labels among the labeler's regular tasks, the ones that make the dataset,
//! and keeps its gold labels as they are: knowing every gold answer then cannot make
//! uninformative regular labels pass, since gold counts only up to twice the peer part (see
//! [`Tally::gold_capped_by_peers`]) in every arrangement alike. A labeler without peer items
//! (no one shares its tasks) is judged on gold alone, and its gold labels are rearranged
//! instead. Each rearrangement is scored exactly as settlement scores the real one (peers,
//! their weights, copies), and the labeler is rewarded only when `(1 + c) / (K + 1) ≤
//! δ_reward`.
//!
//! Unlike a concentration bound (Bernstein's, whose radius at δ = 0.2 is about twice the
//! normal quantile's), this is exact at any number of items: a careful labeler is paid as soon
//! as its labels beat their own rearrangements, which at 50 items is most of the time. The
//! rearrangements come from SplitMix64 seeded by keccak256 of a tag and the labeler's address,
//! so `audit` draws the same ones.

use crate::fixed::{Ppm, SCALE};
use crate::score::{Labels, Scorer, Tally};
use crate::strata::Strata;
use crate::synthetic::SplitMix64;
use crate::{Address, B256};
use alloy_primitives::keccak256;

/// Rearrangements per test are `⌈20/δ⌉ − 1`, at least 99 and at most this many minus one.
const ARRANGEMENTS_MAX: u64 = 10_000;

/// The smallest δ_reward a spec may ask for: below it the test would need more than
/// `ARRANGEMENTS_MAX` (10,000) arrangements to leave room for 20 at least as high.
pub const FALSE_REWARD_RATE_MIN: Ppm = match Ppm::new(2_000) {
    Some(rate) => rate,
    None => panic!("0.002 is a rate"),
};

/// The test at one δ_reward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RewardTest {
    /// All arrangements compared, the labeler's own included: K + 1.
    arrangements: u64,
    /// The most random rearrangements that may score at least as high for the test to pass.
    allowed: u64,
}

impl RewardTest {
    /// The test at false reward rate `delta` (at least [`FALSE_REWARD_RATE_MIN`]).
    pub fn at(delta: Ppm) -> RewardTest {
        let delta = u64::from(delta.get().max(FALSE_REWARD_RATE_MIN.get()));
        let arrangements = (20 * SCALE as u64).div_ceil(delta).clamp(100, ARRANGEMENTS_MAX);
        let allowed = (delta * arrangements / SCALE as u64).saturating_sub(1);
        RewardTest { arrangements, allowed }
    }

    /// The p-value in parts per million (rounded up) of a labeler whose own arrangement was
    /// matched or beaten by `as_high` rearrangements: `(1 + as_high) / (K + 1)`.
    pub fn p_ppm(&self, as_high: u64) -> u32 {
        let p = ((1 + as_high) * SCALE as u64).div_ceil(self.arrangements);
        p.min(SCALE as u64) as u32
    }

    /// Whether a p-value from [`RewardTest::p_ppm`] passes at the test's δ.
    pub fn passes(&self, p_ppm: u32, delta: Ppm) -> bool {
        p_ppm <= delta.get().max(FALSE_REWARD_RATE_MIN.get())
    }

    /// The p-value of labeler `i` (scored by `scorer`, address `labeler`): `None` when its
    /// mean is not above zero, which a reward requires besides the test (a mean below zero
    /// can still beat its rearrangements when wrong gold weighs it down in all of them alike).
    /// Counting stops as soon as the test has failed, so a failing p-value is a lower bound.
    pub(crate) fn p_value(&self, scorer: &Scorer, i: usize, labeler: Address) -> Option<u32> {
        let (regular, on_gold) = scorer.labels_of(i);
        let peers = scorer.peers(i);
        let own_tally = scorer.tally_of(&peers, regular, on_gold);
        let own = statistic(&own_tally)?;
        if own <= 0 {
            return None;
        }
        let mut rng = generator_for(b"plumbline/reward-test", labeler);
        let as_high = |s: Option<i64>| s.is_some_and(|s| s >= own);
        // The labels that make the dataset are rearranged; gold only without them.
        let p = if own_tally.peer_n > 0 {
            self.rearranged_p(&mut rng, regular, |regular| {
                as_high(statistic(&scorer.tally_of(&peers, regular, on_gold)))
            })
        } else {
            self.rearranged_p(&mut rng, on_gold, |on_gold| {
                as_high(statistic(&scorer.tally_of(&peers, regular, on_gold)))
            })
        };
        Some(p)
    }

    /// The mirror test on one declared stratum: the p-value that labeler `i`'s labels are
    /// below chance there, `None` when its mean there (the statistic above) is not below zero.
    /// The labeler's regular labels are rearranged over all its regular tasks, as for the
    /// reward test, and each rearrangement's mean on the stratum's tasks is compared with its
    /// own: labels placed to be wrong on the stratum's tasks do worse there than the same
    /// labels placed at random, careful ones better. Exact at any number of items, so a
    /// targeted poisoner with a handful of items in the stratum is caught at the test's δ
    /// (settlement runs it at δ_reward/4), while a labeler at chance there is caught at most
    /// δ of the time. Without peers nothing is rearranged, and the test gives `None`.
    pub(crate) fn stratum_p_value(
        &self,
        scorer: &Scorer,
        i: usize,
        labeler: Address,
        strata: &Strata,
        stratum: usize,
    ) -> Option<u32> {
        let (regular, on_gold) = scorer.labels_of(i);
        let peers = scorer.peers(i);
        let own_tally = scorer.stratum_tally_of(&peers, regular, on_gold, strata, stratum);
        let own = statistic(&own_tally)?;
        if own >= 0 || own_tally.peer_n == 0 {
            return None;
        }
        let mut rng = generator_for(b"plumbline/stratum-test", labeler);
        Some(self.rearranged_p(&mut rng, regular, |regular| {
            let tally = scorer.stratum_tally_of(&peers, regular, on_gold, strata, stratum);
            statistic(&tally).is_some_and(|s| s <= own)
        }))
    }

    /// The p-value of an arrangement among `K` rearrangements of `labels`' values, `counts`
    /// saying whether one is at least as extreme as it: counting stops as soon as the test
    /// has failed, so a failing p-value is a lower bound.
    fn rearranged_p(
        &self,
        rng: &mut SplitMix64,
        labels: &Labels,
        mut counts: impl FnMut(&Labels) -> bool,
    ) -> u32 {
        let mut labels = labels.to_vec();
        let mut as_extreme = 0;
        for _ in 1..self.arrangements {
            shuffle_values(rng, &mut labels);
            if counts(&labels) {
                as_extreme += 1;
                if as_extreme > self.allowed {
                    break;
                }
            }
        }
        self.p_ppm(as_extreme)
    }
}

/// What the test compares: the mean of every item alike with gold capped by the peer part,
/// the reading of a labeler's items that pay uses.
fn statistic(tally: &Tally) -> Option<i64> {
    tally.gold_capped_by_peers().mean()
}

/// A test's rearrangements generator: SplitMix64 seeded by the first eight bytes (big-endian)
/// of keccak256(tag ‖ address), fully specified so that any implementation can redraw them.
/// The reward test's tag is "plumbline/reward-test", the stratum test's
/// "plumbline/stratum-test", the slashing test's "plumbline/slash-test".
pub(crate) fn generator_for(tag: &[u8], labeler: Address) -> SplitMix64 {
    let mut input = tag.to_vec();
    input.extend_from_slice(labeler.as_slice());
    let hash: B256 = keccak256(&input);
    SplitMix64::new(u64::from_be_bytes(hash[..8].try_into().expect("8 bytes")))
}

/// Fisher-Yates over the values, each task keeping its place: for i from the last position
/// down to 1, swap the values at i and `next mod (i + 1)`.
pub(crate) fn shuffle_values(rng: &mut SplitMix64, labels: &mut [(u32, u32)]) {
    for i in (1..labels.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        let (a, b) = (labels[i].1, labels[j].1);
        labels[i].1 = b;
        labels[j].1 = a;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_sizes_itself_to_leave_room_for_twenty_rearrangements() {
        let at = |ppm: u32| RewardTest::at(Ppm::new(ppm).unwrap());
        assert_eq!(at(200_000), RewardTest { arrangements: 100, allowed: 19 });
        assert_eq!(at(500_000), RewardTest { arrangements: 100, allowed: 49 });
        assert_eq!(at(10_000), RewardTest { arrangements: 2_000, allowed: 19 });
        assert_eq!(at(2_000), RewardTest { arrangements: 10_000, allowed: 19 });
        let test = at(200_000);
        assert_eq!(test.p_ppm(19), 200_000);
        assert!(test.passes(test.p_ppm(19), Ppm::new(200_000).unwrap()));
        assert!(!test.passes(test.p_ppm(20), Ppm::new(200_000).unwrap()));
    }

    #[test]
    fn a_shuffle_keeps_tasks_in_place_and_values_as_a_multiset() {
        let mut rng = generator_for(b"plumbline/reward-test", Address::repeat_byte(7));
        let mut labels: Vec<(u32, u32)> = (0..20).map(|t| (t, t % 3)).collect();
        shuffle_values(&mut rng, &mut labels);
        assert!(labels.iter().enumerate().all(|(i, (t, _))| *t == i as u32));
        let mut values: Vec<u32> = labels.iter().map(|(_, v)| *v).collect();
        values.sort_unstable();
        let mut expected: Vec<u32> = (0..20).map(|t| t % 3).collect();
        expected.sort_unstable();
        assert_eq!(values, expected);
    }
}
