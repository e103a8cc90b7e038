//! Chance-corrected scores (the heart of settlement), in fixed-point integers.
//!
//! **Peer score** (correlated agreement; Dasgupta–Ghosh, Shnayder et al. 2016). For labelers i
//! and j in the same group sharing the task set S (|S| ≥ 2), each shared task t gives i the item
//! `a(x_it, x_jt) − mean_{t'∈S, t'≠t} a(x_it, x_jt')`: agreement on the same task minus the
//! agreement expected by base rates alone. Per task, i's item is the mean over its peers, each
//! peer weighted by its own chance-corrected gold score clipped at zero (equal weights without
//! gold, or when every peer weighs zero), so that flippers and chance-level peers do not cancel
//! a careful peer's evidence; i's peer tally sums these over its tasks. Agreeing by base rate
//! (everyone answers "A") scores 0, flipping scores below 0, informative labels above 0. This
//! works for any overlap pattern: in a live experiment peers are the labelers of the same block
//! (blocks partition the tasks); in real crowd data they are whoever shares at least two tasks.
//!
//! **Gold score.** For a gold task g with known answer z_g: `a(x_ig, z_g) − mean_{g'≠g}
//! a(x_ig, z_g')` over all gold tasks of the experiment.
//!
//! Two labelers whose batches are copies of each other (see [`crate::screen`]) are not each
//! other's peers, and a group of copies counts as one peer of everyone else.
//!
//! Every item lies in [−1, 1] (scale 10^6). A [`Tally`] keeps integer sums and counts, so
//! scores from several experiments add up exactly in the reputation record.

use crate::fixed::{Ppm, SCALE, isqrt_ceil};
use crate::label::{Agreement, Label};
use crate::screen::Copies;
use crate::strata::Strata;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How many times its peer mean a labeler's gold mean may count for (see
/// [`Tally::gold_capped_by_peers`]).
pub const GOLD_PER_PEER_MAX: i64 = 2;

/// Integer sums and counts of a labeler's peer and gold items.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredTally")]
pub struct Tally {
    /// Sum of peer items (scale 10^6).
    pub peer_sum: i64,
    /// Number of peer items (tasks with at least one peer).
    pub peer_n: u64,
    /// Sum of the squares of peer items (scale 10^6, each square rounded up): the bounds'
    /// variance.
    pub peer_squares: u64,
    /// Sum of gold items (scale 10^6).
    pub gold_sum: i64,
    /// Number of gold items.
    pub gold_n: u64,
    /// Sum of the squares of gold items (scale 10^6, each square rounded up).
    pub gold_squares: u64,
}

/// A tally as stored, possibly before squares were kept (reputations of record version 3):
/// missing squares are taken at their largest, every item at ±1, so that a bound over an old
/// record is never narrower than the items allow.
#[derive(Deserialize)]
struct StoredTally {
    peer_sum: i64,
    peer_n: u64,
    peer_squares: Option<u64>,
    gold_sum: i64,
    gold_n: u64,
    gold_squares: Option<u64>,
}

impl From<StoredTally> for Tally {
    fn from(t: StoredTally) -> Tally {
        let largest = |n: u64| n.saturating_mul(SCALE as u64);
        Tally {
            peer_sum: t.peer_sum,
            peer_n: t.peer_n,
            peer_squares: t.peer_squares.unwrap_or_else(|| largest(t.peer_n)),
            gold_sum: t.gold_sum,
            gold_n: t.gold_n,
            gold_squares: t.gold_squares.unwrap_or_else(|| largest(t.gold_n)),
        }
    }
}

impl Tally {
    /// Adds another tally (another experiment, another batch).
    pub fn add(&mut self, other: &Tally) {
        self.peer_sum += other.peer_sum;
        self.peer_n += other.peer_n;
        self.peer_squares = self.peer_squares.saturating_add(other.peer_squares);
        self.gold_sum += other.gold_sum;
        self.gold_n += other.gold_n;
        self.gold_squares = self.gold_squares.saturating_add(other.gold_squares);
    }

    /// Counts one peer item.
    fn add_peer_item(&mut self, item: i64) {
        self.peer_sum += item;
        self.peer_n += 1;
        self.peer_squares = self.peer_squares.saturating_add(square(item));
    }

    /// Counts one gold item, whose sum is kept apart (see `Scorer::add_gold`).
    fn count_gold_item(&mut self, item: i64) {
        self.gold_n += 1;
        self.gold_squares = self.gold_squares.saturating_add(square(item));
    }

    /// Scored items in all.
    pub fn n(&self) -> u64 {
        self.peer_n + self.gold_n
    }

    /// The gold part alone (subjective questions slash on gold only).
    pub fn gold_only(&self) -> Tally {
        Tally { peer_sum: 0, peer_n: 0, peer_squares: 0, ..*self }
    }

    /// The peer part alone.
    pub fn peers_only(&self) -> Tally {
        Tally { gold_sum: 0, gold_n: 0, gold_squares: 0, ..*self }
    }

    /// The tally with its gold mean capped at [`GOLD_PER_PEER_MAX`] times its peer mean (at
    /// zero when that is negative) where it has peer items: being right on gold counts only as
    /// far as the labels that make the dataset are informative too, so knowing gold pays
    /// nothing on its own. Careful labelers' gold means sit well below twice their peer means
    /// (a peer score is the gold score discounted by the peers' own noise). Capping only
    /// lowers the score, so a bound on the capped score stays valid.
    pub fn gold_capped_by_peers(&self) -> Tally {
        if self.peer_n == 0 || self.gold_n == 0 {
            return *self;
        }
        let cap = (i128::from(GOLD_PER_PEER_MAX)
            * i128::from(self.peer_sum.max(0))
            * i128::from(self.gold_n))
        .div_euclid(i128::from(self.peer_n));
        let cap = i64::try_from(cap).unwrap_or(i64::MAX);
        Tally { gold_sum: self.gold_sum.min(cap), ..*self }
    }

    /// The peer weight in effect: λ when both parts exist, otherwise all weight on the part
    /// that exists.
    fn weight(&self, peer_weight: Ppm) -> i128 {
        match (self.peer_n > 0, self.gold_n > 0) {
            (true, true) => i128::from(peer_weight.get()),
            (true, false) => i128::from(SCALE),
            _ => 0,
        }
    }

    /// The combined score `s = λ·PP + (1 − λ)·G` at scale 10^6 (floored), or `None` without
    /// any scored item.
    pub fn score(&self, peer_weight: Ppm) -> Option<i64> {
        if self.n() == 0 {
            return None;
        }
        let lambda = self.weight(peer_weight);
        let scale = i128::from(SCALE);
        let (pn, gn) = (i128::from(self.peer_n.max(1)), i128::from(self.gold_n.max(1)));
        let numerator = lambda * i128::from(self.peer_sum) * gn
            + (scale - lambda) * i128::from(self.gold_sum) * pn;
        Some(i64::try_from(numerator.div_euclid(scale * pn * gn)).expect("score fits"))
    }

    /// The lower confidence bound at confidence δ (`ln_inverse_delta` = ln(1/δ) at scale 10^6)
    /// of the mean of all items, peer and gold alike, or `None` without any scored item.
    ///
    /// Both parts average zero for a labeler at chance, so any weighting of them is a valid
    /// test, and counting every item once is the most powerful one when gold is a small share
    /// of the items (its few items would otherwise carry half the variance at λ = 0.5). The
    /// waiver of the chance fee reads it on the peer part (the reward itself is decided by
    /// [`crate::reward_test`]).
    pub fn mean_lower_bound(&self, ln_inverse_delta: u64) -> Option<i64> {
        Some(self.mean()? - self.mean_radius(ln_inverse_delta))
    }

    /// The mean of all items, peer and gold alike, at scale 10^6 (floored).
    pub fn mean(&self) -> Option<i64> {
        self.score(self.every_item_alike())
    }

    /// The upper confidence bound at confidence δ of the mean of all items, peer and gold
    /// alike, or `None` without any scored item: the test of "below chance" that slashing
    /// needs, by the same reasoning as [`Tally::mean_lower_bound`].
    pub fn mean_upper_bound(&self, ln_inverse_delta: u64) -> Option<i64> {
        Some(self.mean()? + self.mean_radius(ln_inverse_delta))
    }

    /// The radius of [`Tally::mean_lower_bound`] and [`Tally::mean_upper_bound`].
    pub fn mean_radius(&self, ln_inverse_delta: u64) -> i64 {
        self.radius(self.every_item_alike(), ln_inverse_delta)
    }

    /// The peer weight that counts every item once: the peer items' share.
    fn every_item_alike(&self) -> Ppm {
        let share = u128::from(self.peer_n) * SCALE as u128 / u128::from(self.n().max(1));
        Ppm::new(share as u32).expect("a share is at most one")
    }

    /// The radius at scale 10^6 (rounded up) of a one-sided bound at confidence δ on the
    /// combined score, from Bernstein's inequality: the score is a weighted sum of items with
    /// weights λ/n_P and (1 − λ)/n_G, each item deviating from its mean by at most 2, so with
    /// V = Σ w²·x² and b = 2·max w it overshoots its mean by more than
    /// `b·L/3 + sqrt((b·L/3)² + 2·V·L)`, L = ln(1/δ), with probability at most δ.
    ///
    /// V is the items' second moment about zero, which is their variance under the bounds'
    /// null hypotheses (a labeler at chance, whose items average zero) and above it elsewhere.
    /// Items of careful labelers spread far less than their [−1, 1] range allows, so this
    /// radius is a fraction of Hoeffding's `sqrt(2·L·Σ w²)`; the `b` term keeps it wide when
    /// there are few items, however alike.
    fn radius(&self, peer_weight: Ppm, ln_inverse_delta: u64) -> i64 {
        if self.n() == 0 {
            return 2 * SCALE;
        }
        let lambda = self.weight(peer_weight) as u128;
        let scale = SCALE as u128;
        let parts = [
            (lambda, self.peer_n, self.peer_squares),
            (scale - lambda, self.gold_n, self.gold_squares),
        ];
        // V at scale 10^12 and b at scale 10^6, each term rounded up.
        let mut variance = 0u128;
        let mut largest_weight = 0u128;
        for (weight, n, squares) in parts {
            if n == 0 || weight == 0 {
                continue;
            }
            let n = u128::from(n);
            variance += (weight * weight * u128::from(squares)).div_ceil(scale * n * n);
            largest_weight = largest_weight.max(weight.div_ceil(n));
        }
        let ln = u128::from(ln_inverse_delta);
        let range_term = (2 * largest_weight * ln).div_ceil(3 * scale);
        let squared = range_term * range_term + (2 * variance * ln).div_ceil(scale);
        i64::try_from(range_term + isqrt_ceil(squared)).expect("radius fits")
    }
}

/// x² of an item at scale 10^6, rounded up, at scale 10^6.
fn square(item: i64) -> u64 {
    let magnitude = item.unsigned_abs();
    (magnitude * magnitude).div_ceil(SCALE as u64)
}

/// What scoring finds: a tally per labeler over everything, and per labeler and stratum.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scores {
    /// Per labeler index.
    pub tallies: Vec<Tally>,
    /// Per labeler index and stratum id, at `labeler * strata + stratum`.
    by_stratum: Vec<Tally>,
    strata: usize,
}

impl Scores {
    pub(crate) fn new(labelers: usize, strata: usize) -> Scores {
        Scores {
            tallies: vec![Tally::default(); labelers],
            by_stratum: vec![Tally::default(); labelers * strata],
            strata,
        }
    }

    /// A labeler's tallies per stratum, by stratum id.
    pub fn strata_of(&self, labeler: usize) -> &[Tally] {
        &self.by_stratum[labeler * self.strata..(labeler + 1) * self.strata]
    }
}

/// One labeler's label on one task, as scoring sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// Dense labeler index.
    pub labeler: u32,
    /// Task index.
    pub task: u32,
    /// The labeler's group: peers are compared only within a group (cohorts on subjective
    /// questions; a single group otherwise).
    pub group: u32,
    /// The label, in canonical order.
    pub label: Label,
}

/// Labels interned to dense ids, with the agreement of every pair of ids precomputed when the
/// set is small (all kinds but large rankings), so the base-rate terms become histogram sums.
struct Interned {
    agreement: Agreement,
    values: Vec<Label>,
    table: Option<Vec<i64>>,
}

const TABLE_VALUES_MAX: usize = 512;

impl Interned {
    fn new(agreement: Agreement, values: Vec<Label>) -> Interned {
        let v = values.len();
        let table = (v <= TABLE_VALUES_MAX).then(|| {
            let mut table = vec![0; v * v];
            for (a, x) in values.iter().enumerate() {
                for (b, y) in values.iter().enumerate() {
                    table[a * v + b] = agreement.between(x, y);
                }
            }
            table
        });
        Interned { agreement, values, table }
    }

    fn between(&self, a: u32, b: u32) -> i64 {
        match &self.table {
            Some(table) => table[a as usize * self.values.len() + b as usize],
            None => self.agreement.between(&self.values[a as usize], &self.values[b as usize]),
        }
    }

    /// Σ_v counts[v] · a(x, v): the total agreement of `x` with a multiset of labels.
    fn against_histogram(&self, x: u32, counts: &[u32]) -> i64 {
        counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(v, c)| i64::from(*c) * self.between(x, v as u32))
            .sum()
    }
}

/// Scores every labeler: peer items over shared regular tasks, gold items over gold tasks.
///
/// `observations` holds the labels on regular tasks; `gold_observations` the labels on gold
/// tasks; `gold` maps a gold task to its answer; `copies` the labeler pairs whose batches are
/// copies of each other (see [`crate::screen::find_copies`]); each item also counts in the
/// `strata` of its task. Returns one tally per labeler index below `labelers`, and one per
/// labeler and stratum. Repeated observations of the same (labeler, task) on regular tasks
/// keep the last.
pub fn score<'a>(
    agreement: Agreement,
    labelers: usize,
    observations: &'a [Observation],
    gold_observations: &'a [Observation],
    gold: &'a HashMap<u32, Label>,
    copies: &'a Copies,
    strata: &Strata,
) -> Scores {
    match Scorer::new(agreement, labelers, observations, gold_observations, gold, copies) {
        Some(scorer) => scorer.scores(strata),
        None => Scores::new(labelers, strata.len()),
    }
}

/// One labeler's labels as scoring reads them: (task, value id) pairs.
pub(crate) type Labels = [(u32, u32)];

/// Everything scoring reads, prepared once, so that a labeler's items can be computed for its
/// own labels and for any rearrangement of them among its tasks (see [`crate::reward_test`]).
pub(crate) struct Scorer<'a> {
    interned: Interned,
    copies: &'a Copies,
    /// Per labeler its (task, value id) on regular tasks, sorted by task, the last label of a
    /// task kept.
    regular: Vec<Vec<(u32, u32)>>,
    group_of: Vec<u32>,
    by_task: HashMap<u32, Vec<u32>>,
    /// Per labeler its (task, value id) on gold tasks, in the order seen.
    on_gold: Vec<Vec<(u32, u32)>>,
    /// Gold tasks and their answers' value ids, sorted by task.
    gold_ids: Vec<(u32, u32)>,
    /// How many gold answers hold each value id.
    gold_histogram: Vec<u32>,
    /// How much each labeler counts as a peer (see `peer_weights`).
    weights: Vec<i64>,
}

/// One labeler's items: its peer items by position in its regular list (none where it has no
/// peer), and its gold items' numerators over the common denominator `gold others`.
struct Items {
    peer: Vec<Option<i64>>,
    gold: Vec<i64>,
}

impl<'a> Scorer<'a> {
    /// `None` when the question is not scored.
    pub(crate) fn new(
        agreement: Agreement,
        labelers: usize,
        observations: &'a [Observation],
        gold_observations: &'a [Observation],
        gold: &'a HashMap<u32, Label>,
        copies: &'a Copies,
    ) -> Option<Scorer<'a>> {
        if agreement == Agreement::Unscored {
            return None;
        }
        let mut ids: HashMap<&'a Label, u32> = HashMap::new();
        let mut values = Vec::new();
        let mut intern = |label: &'a Label| -> u32 {
            *ids.entry(label).or_insert_with(|| {
                values.push(label.clone());
                values.len() as u32 - 1
            })
        };
        let mut regular: Vec<Vec<(u32, u32)>> = vec![Vec::new(); labelers];
        let mut group_of = vec![0u32; labelers];
        for o in observations {
            regular[o.labeler as usize].push((o.task, intern(&o.label)));
            group_of[o.labeler as usize] = o.group;
        }
        let mut gold_ids: Vec<(u32, u32)> =
            gold.iter().map(|(task, label)| (*task, intern(label))).collect();
        gold_ids.sort_unstable();
        let mut on_gold: Vec<Vec<(u32, u32)>> = vec![Vec::new(); labelers];
        for o in gold_observations.iter().filter(|o| gold.contains_key(&o.task)) {
            on_gold[o.labeler as usize].push((o.task, intern(&o.label)));
        }
        let interned = Interned::new(agreement, values);
        let mut gold_histogram = vec![0u32; interned.values.len()];
        for &(_, z) in &gold_ids {
            gold_histogram[z as usize] += 1;
        }
        let mut by_task: HashMap<u32, Vec<u32>> = HashMap::new();
        for (labeler, list) in regular.iter_mut().enumerate() {
            // A stable sort keeps the last repeat last; dedup keeps the first of a run, so
            // reverse.
            list.reverse();
            list.sort_by_key(|(task, _)| *task);
            list.dedup_by_key(|(task, _)| *task);
            for &(task, _) in list.iter() {
                by_task.entry(task).or_default().push(labeler as u32);
            }
        }
        let mut scorer = Scorer {
            interned,
            copies,
            regular,
            group_of,
            by_task,
            on_gold,
            gold_ids,
            gold_histogram,
            weights: Vec::new(),
        };
        let gold_tallies: Vec<Tally> = (0..labelers)
            .map(|i| {
                let mut tally = Tally::default();
                scorer.add_gold(&mut tally, &scorer.gold_numerators(&scorer.on_gold[i]));
                tally
            })
            .collect();
        scorer.weights = peer_weights(&gold_tallies, !scorer.gold_ids.is_empty());
        Some(scorer)
    }

    fn labelers(&self) -> usize {
        self.regular.len()
    }

    /// Every labeler's tallies, whole and by stratum.
    pub(crate) fn scores(&self, strata: &Strata) -> Scores {
        let mut scores = Scores::new(self.labelers(), strata.len());
        for i in 0..self.labelers() {
            let (regular, on_gold) = (&self.regular[i], &self.on_gold[i]);
            let items = self.items(&self.peers(i), regular, on_gold);
            self.add_gold(&mut scores.tallies[i], &items.gold);
            for item in items.peer.iter().flatten() {
                scores.tallies[i].add_peer_item(*item);
            }
            for stratum in 0..strata.len() {
                scores.by_stratum[i * strata.len() + stratum] =
                    self.stratum_tally(&items, regular, on_gold, strata, stratum);
            }
        }
        scores
    }

    /// A labeler's tally on one stratum's tasks with `regular` and `on_gold` as its labels
    /// (see [`Scorer::tally_of`]).
    pub(crate) fn stratum_tally_of(
        &self,
        peers: &[usize],
        regular: &Labels,
        on_gold: &Labels,
        strata: &Strata,
        stratum: usize,
    ) -> Tally {
        let items = self.items(peers, regular, on_gold);
        self.stratum_tally(&items, regular, on_gold, strata, stratum)
    }

    fn stratum_tally(
        &self,
        items: &Items,
        regular: &Labels,
        on_gold: &Labels,
        strata: &Strata,
        stratum: usize,
    ) -> Tally {
        let in_stratum = |task: u32| strata.of_task(task).any(|s| s == stratum);
        let mut tally = Tally::default();
        let numerators: Vec<i64> = (on_gold.iter().zip(&items.gold))
            .filter(|((task, _), _)| in_stratum(*task))
            .map(|(_, numerator)| *numerator)
            .collect();
        self.add_gold(&mut tally, &numerators);
        for (&(task, _), item) in regular.iter().zip(&items.peer) {
            if let Some(item) = *item
                && in_stratum(task)
            {
                tally.add_peer_item(item);
            }
        }
        tally
    }

    /// A labeler's tally over the whole experiment with `regular` and `on_gold` as its labels
    /// (its own lists, or the same tasks with the values rearranged) and `peers` its peers
    /// (see [`Scorer::peers`]).
    pub(crate) fn tally_of(&self, peers: &[usize], regular: &Labels, on_gold: &Labels) -> Tally {
        let items = self.items(peers, regular, on_gold);
        let mut tally = Tally::default();
        self.add_gold(&mut tally, &items.gold);
        for item in items.peer.into_iter().flatten() {
            tally.add_peer_item(item);
        }
        tally
    }

    /// Labeler `i`'s own labels on regular tasks and on gold tasks.
    pub(crate) fn labels_of(&self, i: usize) -> (&Labels, &Labels) {
        (&self.regular[i], &self.on_gold[i])
    }

    fn items(&self, peers: &[usize], regular: &Labels, on_gold: &Labels) -> Items {
        Items { peer: self.peer_items(peers, regular), gold: self.gold_numerators(on_gold) }
    }

    /// The peers labeler `i` is scored against: labelers of its group sharing at least two of
    /// its tasks, copies counting as one peer and never as each other's.
    pub(crate) fn peers(&self, i: usize) -> Vec<usize> {
        let mine = &self.regular[i];
        let mut candidates: Vec<usize> = mine
            .iter()
            .flat_map(|(task, _)| self.by_task[task].iter().map(|j| *j as usize))
            .filter(|&j| j != i && self.group_of[j] == self.group_of[i])
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        let mut shared = Vec::new();
        let mut counted: Vec<usize> = Vec::new();
        for j in candidates {
            if self.copies.are_copies(i as u32, j as u32)
                || counted.iter().any(|&k| self.copies.are_copies(k as u32, j as u32))
            {
                continue;
            }
            merge_shared(mine, &self.regular[j], &mut shared);
            if shared.len() >= 2 {
                counted.push(j);
            }
        }
        counted
    }

    /// A labeler's peer item on each of the tasks of `mine` (its tasks, with its own values or
    /// rearranged ones) against `peers`: over each peer, agreement on the task minus its mean
    /// agreement on the other shared tasks; the mean over peers weighted by their `weights`
    /// (the plain mean when every peer weighs zero).
    fn peer_items(&self, peers: &[usize], mine: &Labels) -> Vec<Option<i64>> {
        let interned = &self.interned;
        let use_histogram = interned.table.is_some();
        let mut histogram = vec![0u32; if use_histogram { interned.values.len() } else { 0 }];
        let mut item_sum = vec![0i64; mine.len()];
        let mut item_peers = vec![0u32; mine.len()];
        let mut weighted_sum = vec![0i64; mine.len()];
        let mut weight_sum = vec![0i64; mine.len()];
        let mut shared = Vec::new();
        if mine.len() >= 2 {
            for &j in peers {
                merge_shared(mine, &self.regular[j], &mut shared);
                let others = (shared.len() - 1) as i64;
                if use_histogram {
                    for &(_, _, y) in &shared {
                        histogram[y as usize] += 1;
                    }
                }
                for &(position, x, y) in &shared {
                    let same = interned.between(x, y);
                    let all = if use_histogram {
                        interned.against_histogram(x, &histogram)
                    } else {
                        shared.iter().map(|&(_, _, y2)| interned.between(x, y2)).sum()
                    };
                    let baseline = all - same;
                    let item = div_round(same * others - baseline, others);
                    item_sum[position] += item;
                    item_peers[position] += 1;
                    weighted_sum[position] += self.weights[j] * item;
                    weight_sum[position] += self.weights[j];
                }
                if use_histogram {
                    for &(_, _, y) in &shared {
                        histogram[y as usize] = 0;
                    }
                }
            }
        }
        (0..mine.len())
            .map(|position| match (item_peers[position], weight_sum[position]) {
                (0, _) => None,
                (_, w) if w > 0 => Some(div_round(weighted_sum[position], w)),
                (peers, _) => Some(div_round(item_sum[position], i64::from(peers))),
            })
            .collect()
    }

    /// The numerator of each gold item (over the common denominator, the gold tasks but one):
    /// agreement with the answer times the others, minus agreement with the other answers.
    fn gold_numerators(&self, on_gold: &Labels) -> Vec<i64> {
        if self.gold_ids.len() < 2 {
            return Vec::new();
        }
        let interned = &self.interned;
        let others = (self.gold_ids.len() - 1) as i64;
        on_gold
            .iter()
            .map(|&(task, x)| {
                let at = self.gold_ids.binary_search_by_key(&task, |(t, _)| *t).expect("gold task");
                let same = interned.between(x, self.gold_ids[at].1);
                let all = if interned.table.is_some() {
                    interned.against_histogram(x, &self.gold_histogram)
                } else {
                    self.gold_ids.iter().map(|&(_, z)| interned.between(x, z)).sum()
                };
                same * others - (all - same)
            })
            .collect()
    }

    /// Counts gold items into a tally: every item shares the denominator, so the numerators
    /// are summed exactly and divided once.
    fn add_gold(&self, tally: &mut Tally, numerators: &[i64]) {
        if numerators.is_empty() {
            return;
        }
        let others = (self.gold_ids.len() - 1) as i64;
        for numerator in numerators {
            tally.count_gold_item(div_round(*numerator, others));
        }
        tally.gold_sum += div_round(numerators.iter().sum(), others);
    }
}

/// How much each labeler counts as a peer: its chance-corrected gold score, clipped at zero, so
/// that a flipper or a labeler no better than chance on gold does not cancel a careful peer's
/// evidence; everyone counts alike without gold, and a labeler without gold items counts fully.
fn peer_weights(tallies: &[Tally], with_gold: bool) -> Vec<i64> {
    tallies
        .iter()
        .map(|t| match (with_gold, t.gold_n) {
            (true, n) if n > 0 => div_round(t.gold_sum, n as i64).max(0),
            _ => SCALE,
        })
        .collect()
}

/// The tasks two sorted lists share: (position in `mine`, my value, their value).
fn merge_shared(mine: &[(u32, u32)], theirs: &[(u32, u32)], out: &mut Vec<(usize, u32, u32)>) {
    out.clear();
    let (mut a, mut b) = (0, 0);
    while a < mine.len() && b < theirs.len() {
        match mine[a].0.cmp(&theirs[b].0) {
            std::cmp::Ordering::Less => a += 1,
            std::cmp::Ordering::Greater => b += 1,
            std::cmp::Ordering::Equal => {
                out.push((a, mine[a].1, theirs[b].1));
                a += 1;
                b += 1;
            }
        }
    }
}

/// `n / d` rounded to the nearest integer (halves up), so rounding adds no systematic bias
/// against anyone; `d` > 0.
fn div_round(n: i64, d: i64) -> i64 {
    (2 * n + d).div_euclid(2 * d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(labeler: u32, task: u32, value: i64) -> Observation {
        Observation { labeler, task, group: 0, label: Label::Int(value) }
    }

    /// Categorical tallies of regular and gold labels, without copies or strata.
    fn tallies(
        labelers: usize,
        regular: &[Observation],
        on_gold: &[Observation],
        gold: &HashMap<u32, Label>,
    ) -> Vec<Tally> {
        let none = (Copies::default(), Strata::default());
        score(Agreement::Categorical, labelers, regular, on_gold, gold, &none.0, &none.1).tallies
    }

    #[test]
    fn base_rate_agreement_scores_zero_and_flipping_scores_below() {
        // Two labelers who always answer 1 agree perfectly and learn nothing: score 0.
        let constant: Vec<_> = (0..10).flat_map(|t| [obs(0, t, 1), obs(1, t, 1)]).collect();
        let t = tallies(2, &constant, &[], &HashMap::new());
        assert_eq!(t[0].peer_sum, 0);
        assert_eq!(t[0].peer_n, 10);
        // Informative and agreeing: positive. Exactly flipped: negative.
        let truth = [0, 1, 1, 0, 1, 0, 0, 1, 0, 1];
        let mut agree = Vec::new();
        let mut flip = Vec::new();
        for (t, &z) in truth.iter().enumerate() {
            agree.extend([obs(0, t as u32, z), obs(1, t as u32, z)]);
            flip.extend([obs(0, t as u32, z), obs(1, t as u32, 1 - z)]);
        }
        let good = tallies(2, &agree, &[], &HashMap::new());
        let bad = tallies(2, &flip, &[], &HashMap::new());
        assert!(good[0].peer_sum > 0 && good[1].peer_sum > 0);
        assert!(bad[0].peer_sum < 0 && bad[1].peer_sum < 0);
        // Perfect agreement on a balanced set: a(same) = 1, baseline = 4/9 per item, 5/9 left.
        assert_eq!(good[0].score(Ppm::ONE), Some(555_556));
    }

    #[test]
    fn gold_scores_are_chance_corrected() {
        let gold: HashMap<u32, Label> = (0..4).map(|t| (t, Label::Int((t % 2) as i64))).collect();
        let right: Vec<_> = (0..4).map(|t| obs(0, t, (t % 2) as i64)).collect();
        let constant: Vec<_> = (0..4).map(|t| obs(1, t, 1)).collect();
        let all: Vec<_> = right.into_iter().chain(constant).collect();
        let t = tallies(2, &[], &all, &gold);
        assert_eq!(t[0].gold_n, 4);
        assert!(t[0].gold_sum > 0);
        assert_eq!(t[1].gold_sum, 0, "a constant answer earns nothing on balanced gold");
    }

    #[test]
    fn groups_keep_peers_apart_and_histogram_matches_direct_sum() {
        // Same data scored with a small table and as rankings without one must agree in sign.
        let mut data = Vec::new();
        for t in 0..6u32 {
            data.push(Observation { labeler: 0, task: t, group: 0, label: Label::Int(1) });
            data.push(Observation { labeler: 1, task: t, group: 1, label: Label::Int(0) });
        }
        let t = tallies(2, &data, &[], &HashMap::new());
        assert_eq!(t[0].peer_n, 0, "different groups are never peers");
    }

    #[test]
    fn copies_are_not_each_others_peers_and_count_once_for_the_rest() {
        let truth = [0, 1, 1, 0, 1, 0, 0, 1];
        let mut data = Vec::new();
        for (t, &z) in truth.iter().enumerate() {
            // Labelers 0 and 1 are copies; labeler 2 errs on two tasks.
            let honest = if t < 2 { 1 - z } else { z };
            data.extend([obs(0, t as u32, z), obs(1, t as u32, z), obs(2, t as u32, honest)]);
        }
        let copies = Copies { pairs: [(0, 1)].into(), ..Copies::default() };
        let t = score(
            Agreement::Categorical,
            3,
            &data,
            &[],
            &HashMap::new(),
            &copies,
            &Strata::default(),
        )
        .tallies;
        // Each copy is scored against labeler 2 only, so both score what labeler 2 gives them.
        let versus_two: Vec<_> = data.iter().filter(|o| o.labeler != 1).cloned().collect();
        let pair = tallies(3, &versus_two, &[], &HashMap::new());
        assert_eq!(t[0], pair[0]);
        assert_eq!(t[1], pair[0]);
        // And the two copies count as one peer of labeler 2.
        assert_eq!(t[2], pair[2]);
    }

    #[test]
    fn gold_counts_at_most_twice_what_peers_confirm() {
        // Perfect on gold, nothing on peers: the gold part is worth nothing.
        let sniper = Tally {
            peer_sum: 0,
            peer_n: 100,
            gold_sum: 10_000_000,
            gold_n: 20,
            ..Tally::default()
        };
        assert_eq!(sniper.gold_capped_by_peers().gold_sum, 0);
        assert_eq!(sniper.gold_capped_by_peers().score(Ppm::new(500_000).unwrap()), Some(0));
        // Careful: peer mean 0.2, gold mean 0.3 stays as it is.
        let careful = Tally {
            peer_sum: 20_000_000,
            peer_n: 100,
            gold_sum: 6_000_000,
            gold_n: 20,
            ..Tally::default()
        };
        assert_eq!(careful.gold_capped_by_peers(), careful);
        // Without peers gold is all the evidence there is.
        let alone = Tally { peer_n: 0, peer_sum: 0, ..sniper };
        assert_eq!(alone.gold_capped_by_peers(), alone);
    }

    #[test]
    fn radius_follows_the_spread_of_the_items() {
        // 100 peer items of ±0.5 at δ = 0.01: V = 100 · 0.25 / 100² = 0.0025, b = 2/100, so
        // r = b·L/3 + sqrt((b·L/3)² + 2·V·L) = 0.18552, against Hoeffding's sqrt(2·L/100) =
        // 0.30349, which assumes the items use their whole [−1, 1] range.
        let spread = Tally { peer_n: 100, peer_squares: 25_000_000, ..Tally::default() };
        assert_eq!(spread.radius(Ppm::new(500_000).unwrap(), 4_605_171), 185_520);
        // Items at ±1 use the whole range: wider than Hoeffding, as Bernstein is there.
        let extreme = Tally { peer_squares: 100_000_000, ..spread };
        assert!(extreme.radius(Ppm::new(500_000).unwrap(), 4_605_171) > 303_486);
        assert_eq!(Tally::default().score(Ppm::ONE), None);
        assert_eq!(Tally::default().mean_lower_bound(4_605_171), None);
    }

    #[test]
    fn a_stored_tally_without_squares_is_read_at_the_widest() {
        let old = r#"{"peer_sum": 5000000, "peer_n": 40, "gold_sum": 1000000, "gold_n": 10}"#;
        let tally: Tally = serde_json::from_str(old).unwrap();
        assert_eq!((tally.peer_squares, tally.gold_squares), (40_000_000, 10_000_000));
        let round_trip: Tally =
            serde_json::from_str(&serde_json::to_string(&tally).unwrap()).unwrap();
        assert_eq!(round_trip, tally);
    }

    #[test]
    fn the_mean_bounds_count_every_item_once() {
        // 40 peer items (squares 0.16) and 10 gold items (squares 0.25) at δ = 0.2: the
        // weights are 1/50 each, not λ/40 and (1 − λ)/10.
        let tally = Tally {
            peer_sum: 8_000_000,
            peer_n: 40,
            peer_squares: 6_400_000,
            gold_sum: 3_000_000,
            gold_n: 10,
            gold_squares: 2_500_000,
        };
        let ln = 1_609_438;
        assert_eq!(tally.mean_radius(ln), 130_638);
        assert!(tally.mean_radius(ln) < tally.radius(Ppm::new(500_000).unwrap(), ln));
        // The mean of all items is 11/50 = 0.22.
        assert_eq!(tally.mean_lower_bound(ln), Some(220_000 - 130_638));
        assert_eq!(tally.mean_upper_bound(ln), Some(220_000 + 130_638));
    }

    #[test]
    fn stratum_tallies_split_the_whole() {
        // Tasks alternate between two strata; labeler 1 flips the odd ones.
        let tasks: Vec<crate::task::Task> = (0..12)
            .map(|t| crate::task::Task {
                id: format!("t{t}"),
                prompt: String::new().into(),
                responses: Vec::new(),
                gold: None,
                meta: serde_json::json!({ "odd": t % 2 == 1 }).as_object().cloned().unwrap(),
            })
            .collect();
        let strata = Strata::of(&["odd".into()], &tasks).unwrap();
        let truth = |t: u32| i64::from((t / 2).is_multiple_of(2));
        let gold: HashMap<u32, Label> = (8..12).map(|t| (t, Label::Int(truth(t)))).collect();
        let mut regular = Vec::new();
        let mut on_gold = Vec::new();
        for t in 0..12u32 {
            for labeler in 0..3u32 {
                let flip = labeler == 1 && t % 2 == 1;
                let o = obs(labeler, t, if flip { 1 - truth(t) } else { truth(t) });
                if t >= 8 { on_gold.push(o) } else { regular.push(o) }
            }
        }
        let scores = score(
            Agreement::Categorical,
            3,
            &regular,
            &on_gold,
            &gold,
            &Copies::default(),
            &strata,
        );
        for labeler in 0..3 {
            let whole = scores.tallies[labeler];
            let parts = scores.strata_of(labeler);
            assert_eq!(parts.len(), 2);
            assert_eq!(parts[0].peer_sum + parts[1].peer_sum, whole.peer_sum);
            assert_eq!(parts[0].peer_n + parts[1].peer_n, whole.peer_n);
            assert_eq!(parts[0].gold_n + parts[1].gold_n, whole.gold_n);
        }
        // Stratum 1 is `odd = true`, where labeler 1 flips: below chance there alone.
        let flipper = scores.strata_of(1);
        assert!(flipper[0].score(Ppm::new(500_000).unwrap()).unwrap() > 0);
        assert!(flipper[1].score(Ppm::new(500_000).unwrap()).unwrap() < 0);
    }
}
