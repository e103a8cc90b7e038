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
//! A label moves only among tasks that look alike ([`Looks`]): on a pairwise question, tasks
//! whose longer response is on the same side. A labeler who reads nothing but the lengths
//! (always the longer response, a cheap signal anyone can compute from the public tasks and
//! one that agrees with careful peers more often than not) then gives the same labels in every
//! rearrangement and is not paid for it, while a careful labeler's labels still beat their
//! own rearrangements: within a side, which task gets which label is what its reading adds.
//!
//! Unlike a concentration bound (Bernstein's, whose radius at δ = 0.2 is about twice the
//! normal quantile's), this is exact at any number of items: a careful labeler is paid as soon
//! as its labels beat their own rearrangements, which at 50 items is most of the time. The
//! rearrangements come from SplitMix64 seeded by keccak256 of a tag and the labeler's address,
//! so `audit` draws the same ones.

use crate::fixed::{Ppm, SCALE};
use crate::score::{Labels, Scorer, Tally};
use crate::spec::QuestionKind;
use crate::strata::Strata;
use crate::synthetic::SplitMix64;
use crate::task::Task;
use crate::{Address, B256};
use alloy_primitives::keccak256;
use std::cmp::Ordering;

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

    /// The most rearrangements that may score higher while the labeler's own still beats
    /// at least half of them (ties aside).
    fn median_count(&self) -> u64 {
        (self.arrangements / 2).saturating_sub(1)
    }

    /// The test of labeler `i` (scored by `scorer`, address `labeler`): `None` when its mean
    /// is not above zero, which a reward requires besides the test (a mean below zero can
    /// still beat its rearrangements when wrong gold weighs it down in all of them alike).
    /// Counting stops once more than half of the rearrangements score strictly higher, so a
    /// failing p-value is a lower bound.
    pub(crate) fn p_value(
        &self,
        scorer: &Scorer,
        looks: &Looks,
        i: usize,
        labeler: Address,
    ) -> Option<Verdict> {
        let (regular, on_gold) = scorer.labels_of(i);
        let peers = scorer.peers(i);
        let own_tally = scorer.tally_of(&peers, regular, on_gold);
        let own = statistic(&own_tally)?;
        if own <= 0 {
            return None;
        }
        let mut rng = generator_for(b"plumbline/reward-test", labeler);
        let compare = |s: Option<i64>| s.map_or(Ordering::Less, |s| s.cmp(&own));
        let stop = |counts: Counts| counts.above > self.median_count();
        // The labels that make the dataset are rearranged; gold only without them.
        let counts = if own_tally.peer_n > 0 {
            self.rearrange(&mut rng, looks, regular, stop, |regular| {
                compare(statistic(&scorer.tally_of(&peers, regular, on_gold)))
            })
        } else {
            self.rearrange(&mut rng, looks, on_gold, stop, |on_gold| {
                compare(statistic(&scorer.tally_of(&peers, regular, on_gold)))
            })
        };
        Some(Verdict {
            p_ppm: self.p_ppm(counts.at_least),
            beaten_by_most: counts.above > self.median_count(),
        })
    }

    /// The mirror test on one declared stratum: the p-value that labeler `i`'s labels are
    /// below chance there, `None` when its mean there (the statistic above) is not below zero.
    /// The labeler's regular labels are rearranged over its regular tasks, as for the reward
    /// test, and each rearrangement's mean on the stratum's tasks is compared with its
    /// own: labels placed to be wrong on the stratum's tasks do worse there than the same
    /// labels placed at random, careful ones better. Exact at any number of items, so a
    /// targeted poisoner with a handful of items in the stratum is caught at the test's δ
    /// (settlement runs it at δ_reward/4), while a labeler at chance there is caught at most
    /// δ of the time. Without peers nothing is rearranged, and the test gives `None`.
    pub(crate) fn stratum_p_value(
        &self,
        scorer: &Scorer,
        looks: &Looks,
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
        // Mirrored: a rearrangement at most as high as its own counts against it.
        let stop = |counts: Counts| counts.at_least > self.allowed;
        let counts = self.rearrange(&mut rng, looks, regular, stop, |regular| {
            let tally = scorer.stratum_tally_of(&peers, regular, on_gold, strata, stratum);
            statistic(&tally).map_or(Ordering::Less, |s| own.cmp(&s))
        });
        Some(self.p_ppm(counts.at_least))
    }

    /// Counts how `K` rearrangements of `labels`' values among tasks that look alike compare
    /// with the labeler's own arrangement (`compare`: `Greater` when one is more extreme in the
    /// direction tested), until `stop` says enough are known.
    fn rearrange(
        &self,
        rng: &mut SplitMix64,
        looks: &Looks,
        labels: &Labels,
        stop: impl Fn(Counts) -> bool,
        mut compare: impl FnMut(&Labels) -> Ordering,
    ) -> Counts {
        let mut labels = labels.to_vec();
        let alike = looks.positions_alike(&labels);
        let mut counts = Counts::default();
        for _ in 1..self.arrangements {
            shuffle_values_alike(rng, &mut labels, &alike);
            match compare(&labels) {
                Ordering::Greater => {
                    counts.at_least += 1;
                    counts.above += 1;
                }
                Ordering::Equal => counts.at_least += 1,
                Ordering::Less => {}
            }
            if stop(counts) {
                break;
            }
        }
        counts
    }
}

/// What the reward test found for one labeler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// The p-value, in ppm (a lower bound when it fails).
    pub p_ppm: u32,
    /// More than half of the rearrangements scored strictly higher than its own labels: placed
    /// where it placed them, they are worth less than the same labels placed at random among
    /// tasks that look alike. Labels the lengths alone decide tie with every rearrangement
    /// and are not beaten.
    pub beaten_by_most: bool,
}

/// Rearrangements counted so far: at least as extreme as the labeler's own, and strictly more.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    at_least: u64,
    above: u64,
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
        swap_values(labels, i, j);
    }
}

/// [`shuffle_values`] within each list of positions of `alike` in turn: for each list, for i
/// from its last entry down to its second, swap the values at its i-th and `next mod (i + 1)`-th
/// positions. With one list holding every position it draws exactly what `shuffle_values` does.
fn shuffle_values_alike(rng: &mut SplitMix64, labels: &mut [(u32, u32)], alike: &[Vec<usize>]) {
    for positions in alike {
        for i in (1..positions.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            swap_values(labels, positions[i], positions[j]);
        }
    }
}

/// Swaps two labels' values, each task keeping its place.
fn swap_values(labels: &mut [(u32, u32)], i: usize, j: usize) {
    let (a, b) = (labels[i].1, labels[j].1);
    labels[i].1 = b;
    labels[j].1 = a;
}

/// How each task looks before anyone reads it, as far as a cheap signal goes: on a pairwise
/// question, which response is longer (in Unicode scalar values); on any other question, or
/// where the lengths are equal, nothing. The rearrangement tests move a label only among tasks
/// that look alike, so what a labeler could have answered from the look alone is the same in
/// every rearrangement and earns nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Looks(Vec<Look>);

/// One task's look, in the order the rearrangements visit them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Look {
    /// The first response (A) is longer.
    FirstLonger,
    /// The second response (B) is longer.
    SecondLonger,
    /// No cheap signal: equal lengths, or not a pairwise question.
    Plain,
}

impl Looks {
    /// The looks of `tasks` (by index) under a question of `kind`.
    pub(crate) fn of(kind: &QuestionKind, tasks: &[Task]) -> Looks {
        let pairwise = matches!(kind, QuestionKind::Pairwise { .. });
        Looks(
            tasks
                .iter()
                .map(|task| match (pairwise, task.responses.as_slice()) {
                    (true, [a, b]) => match a.chars().count().cmp(&b.chars().count()) {
                        Ordering::Greater => Look::FirstLonger,
                        Ordering::Less => Look::SecondLonger,
                        Ordering::Equal => Look::Plain,
                    },
                    _ => Look::Plain,
                })
                .collect(),
        )
    }

    /// The positions in `labels` of each look that occurs, looks in order, positions in list
    /// order.
    fn positions_alike(&self, labels: &Labels) -> Vec<Vec<usize>> {
        let mut alike: Vec<Vec<usize>> = vec![Vec::new(); 3];
        for (position, (task, _)) in labels.iter().enumerate() {
            let look = self.0.get(*task as usize).copied().unwrap_or(Look::Plain);
            alike[look as usize].push(position);
        }
        alike.retain(|positions| !positions.is_empty());
        alike
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
    fn labels_move_only_among_tasks_that_look_alike() {
        let pair = |a: &str, b: &str| Task {
            id: a.into(),
            prompt: String::new().into(),
            responses: vec![a.into(), b.into()],
            gold: None,
            meta: Default::default(),
        };
        // A longer, B longer, equal, and a character count that differs from the byte count.
        let tasks = vec![pair("long", "s"), pair("s", "long"), pair("ab", "cd"), pair("éé", "abc")];
        let pairwise = QuestionKind::Pairwise { strength_max: 2, allow_tie: false };
        let looks = Looks::of(&pairwise, &tasks);
        let labels: Vec<(u32, u32)> = (0..40).map(|i| (i % 4, i)).collect();
        let alike = looks.positions_alike(&labels);
        assert_eq!(alike.len(), 3);
        let look_of = |position: usize| alike.iter().position(|p| p.contains(&position)).unwrap();
        assert_eq!(look_of(3), look_of(1), "2 characters against 3: B is longer");
        let mut shuffled = labels.clone();
        let mut rng = generator_for(b"plumbline/reward-test", Address::repeat_byte(7));
        for _ in 0..20 {
            shuffle_values_alike(&mut rng, &mut shuffled, &alike);
            for (position, (_, value)) in shuffled.iter().enumerate() {
                assert_eq!(
                    look_of(position),
                    look_of(*value as usize),
                    "value {value} moved looks"
                );
            }
        }
        // On any other question every task looks alike, and the draws are the plain shuffle's.
        let rating = QuestionKind::Rating { min: 1, max: 5 };
        let one = Looks::of(&rating, &tasks).positions_alike(&labels);
        assert_eq!(one, vec![(0..40).collect::<Vec<_>>()]);
        let (mut plain, mut alike_once) = (labels.clone(), labels.clone());
        shuffle_values(&mut generator_for(b"t", Address::ZERO), &mut plain);
        shuffle_values_alike(&mut generator_for(b"t", Address::ZERO), &mut alike_once, &one);
        assert_eq!(plain, alike_once);
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
