//! What settlement screens out of the evidence before it pays anyone.
//!
//! - **Gold the crowd contradicts.** The experimenter writes the gold answers, and gold is often
//!   simply wrong; an experimenter could even invert it on purpose to slash honest labelers. A
//!   gold task is dropped from scoring when at least [`GOLD_LABELS_MIN`] labels were given on it
//!   and the crowd's own answer fits them better than the gold answer by more than a third of
//!   their weight (for a binary question: more than two thirds of the labels contradict gold).
//!   A split crowd keeps the task. When more than half of the gold tasks judged (those with
//!   enough labels) are contradicted, or the crowd's answers fit better than gold by more than
//!   a third of the labels' weight over all judged tasks together, the whole gold set is
//!   dropped. Dropped tasks are listed in
//!   the settlement for the experimenter to see.
//! - **Copies.** Batches of one block whose labels are identical and share errors that the rest
//!   of the block does not make are one piece of work submitted several times (see
//!   [`find_copies`]). Copies are not each other's peers and count as one peer of
//!   everyone else (see [`crate::score`]), and each copy is paid for a `1/c` share of its items,
//!   c being the number of identical batches in its block, so a copying swarm earns what one
//!   labeler doing the work once earns. Copies that their labelers' gold accuracy does not
//!   explain (collusion on a signal, or one labeler's work under several identities; see
//!   [`Copies::judge_by_skill`]), and identical batches that make up a whole block, which
//!   agreement alone cannot call copies, when skill does not explain them either, earn their
//!   labelers nothing in the experiment, cost them the copy fee and are left out of the export.

use crate::fixed::{Ppm, SCALE, ln_inverse, ln_inverse_split, ln_ratio_ceil, ln_ratio_floor};
use crate::label::{Agreement, Label};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Fewest labels on a gold task before the crowd may overrule its answer.
pub const GOLD_LABELS_MIN: usize = 3;

/// Fewest regular tasks in a block on which identical labels can mark batches as copies.
pub const COPY_TASKS_MIN: usize = 5;

/// Fewest tasks on which identical batches must deviate together from the rest of their block
/// to be called copies (and at least a tenth of the block's tasks).
pub const COPY_DEVIATIONS_MIN: usize = 2;

/// One revealed batch's labels on its block's regular tasks, sorted by task.
#[derive(Clone, Debug)]
pub struct BlockLabels<'a> {
    /// The batch.
    pub batch_id: u64,
    /// Its labeler's index in scoring.
    pub labeler: u32,
    /// Its scoring group (cohort on subjective questions with cohorts, otherwise 0).
    pub group: u32,
    /// Its regular labels, sorted by task.
    pub labels: Vec<(u32, &'a Label)>,
}

/// The copies found in an experiment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Copies {
    /// Labeler index pairs `(low, high)` whose batches in some block are copies. Labelers who
    /// copy in one block are not trusted as each other's peers in any other they share.
    pub pairs: HashSet<(u32, u32)>,
    /// Per batch with copies, the number of identical batches in its block (itself included).
    pub counts: HashMap<u64, u32>,
    /// Each group of identical batches in a block.
    pub groups: Vec<CopyGroup>,
    /// Batches whose copies their labelers' gold accuracy cannot explain (see
    /// [`Copies::judge_by_skill`]).
    pub unexplained: HashSet<u64>,
}

/// Identical batches of one block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyGroup {
    /// The batches.
    pub batches: Vec<u64>,
    /// Their labelers' indices.
    pub labelers: Vec<u32>,
    /// The regular tasks they label alike.
    pub tasks: usize,
    /// The group is its whole block: nobody else's labels tell whether it deviates, so it is
    /// not called copies, only judged by skill (see [`Copies::judge_by_skill`]).
    pub whole_block: bool,
}

/// Whether a labeler's label agrees with each gold answer, in the order it revealed them: a
/// label agrees with an answer when `a(label, answer)` exceeds one half (the same option; the
/// same side of a pairwise scale; a rating within a quarter of the range; a ranking with most
/// pairs in the same order). Two labels that are identical agree with the answer alike, which
/// is what [`Copies::judge_by_skill`] needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GoldAgreement {
    /// One entry per gold item: whether the label agrees with the answer.
    pub agrees: Vec<bool>,
}

impl GoldAgreement {
    /// Counts one gold item.
    pub fn add(&mut self, agreement: &Agreement, label: &Label, answer: &Label) {
        self.agrees.push(2 * agreement.between(label, answer) > SCALE);
    }
}

impl Copies {
    /// Marks the copy groups that skill does not explain. c independent labelers of accuracies
    /// p_1..p_c give the same answer to a task with probability at most `Π p_i + Π (1 − p_i)`,
    /// which is at most `g(ā) = ā^c + (1 − ā)^c` for their mean accuracy ā (the arithmetic mean
    /// bounds the geometric one). ā is bounded from the members' pooled gold items (each
    /// member's first m, m the fewest any member has, so that the pool weighs them alike) by
    /// the Chernoff bounds at δ/2 on either side, and g, convex, is largest at one end of that
    /// interval. Identical labels on n tasks then happen by skill with probability at most that
    /// largest g to the n-th power; where it is below δ, the group answered alike beyond what
    /// its skill explains, which is collusion on some signal or one labeler's work under
    /// several identities: its batches are `unexplained`, and their labelers are paid nothing
    /// and left out of the export. Where it is not (labelers right on everything beside a poor
    /// block look like copies too) the plain copy rule stays, as it does for groups with a
    /// member without gold.
    pub fn judge_by_skill(&mut self, gold: &[GoldAgreement], delta: Ppm) {
        let ln_inverse_delta = ln_inverse(delta);
        let ln_inverse_half = ln_inverse_split(delta, 2);
        for group in &self.groups {
            let members: Vec<&[bool]> =
                group.labelers.iter().map(|l| gold[*l as usize].agrees.as_slice()).collect();
            let m = members.iter().map(|a| a.len()).min().unwrap_or(0);
            if m == 0 {
                continue;
            }
            let agreeing = members.iter().flat_map(|a| &a[..m]).filter(|a| **a).count() as u64;
            let items = (m * members.len()) as u64;
            let (low, high) = chernoff_interval(agreeing, items, ln_inverse_half);
            let c = members.len() as u32;
            let same = all_alike(low, c).max(all_alike(high, c));
            let unexplained = same < SCALE as u64
                && u128::from(ln_ratio_floor(SCALE as u128, u128::from(same)))
                    * group.tasks as u128
                    > u128::from(ln_inverse_delta);
            if unexplained {
                self.unexplained.extend(&group.batches);
            }
        }
    }

    /// Whether two labelers copied each other in a block they share.
    pub fn are_copies(&self, a: u32, b: u32) -> bool {
        self.pairs.contains(&(a.min(b), a.max(b)))
    }

    /// The number of identical batches in the block of `batch_id`, itself included.
    pub fn count(&self, batch_id: u64) -> u32 {
        self.counts.get(&batch_id).copied().unwrap_or(1)
    }
}

/// `a^c + (1 − a)^c` at scale 10^6 for `a` at scale 10^6, rounded up: the chance that c
/// independent labelers of mean accuracy a answer a task alike is at most this.
fn all_alike(a: u64, c: u32) -> u64 {
    let scale = SCALE as u128;
    let power = |x: u128| (0..c).fold(scale, |acc, _| (acc * x).div_ceil(scale));
    let a = u128::from(a);
    (power(a) + power(scale - a)).min(scale) as u64
}

/// The Chernoff (Kullback-Leibler) confidence interval, at scale 10^6, on the mean of `n`
/// independent items in {0, 1} of which `k` are 1, each end failing with probability at most
/// δ' for `ln_inverse` = ln(1/δ') at scale 10^6: the mean μ is above `k/n` with
/// `n · KL(k/n ‖ μ) > ln(1/δ')` with probability at most δ', and below alike. The divergence
/// is rounded down, so each end is at least as wide as the exact one.
fn chernoff_interval(k: u64, n: u64, ln_inverse: u64) -> (u64, u64) {
    let high = chernoff_upper(k, n, ln_inverse);
    let low = SCALE as u64 - chernoff_upper(n - k, n, ln_inverse);
    (low, high)
}

/// The largest μ (scale 10^6) with `n · KL(k/n ‖ μ) ≤ ln_inverse`, found by bisection on
/// μ ≥ k/n, where the divergence grows with μ.
fn chernoff_upper(k: u64, n: u64, ln_inverse: u64) -> u64 {
    let scale = SCALE as u128;
    let (k, n) = (u128::from(k), u128::from(n));
    // n·KL(k/n ‖ μ) at scale 10^6 with μ = mu/10^6, rounded down:
    // k·ln(k/(nμ)) + (n − k)·ln((n − k)/(n(1 − μ))), the first term at most 0.
    let divergence = |mu: u128| -> u128 {
        let gain = if k > 0 { k * u128::from(ln_ratio_ceil(n * mu, k * scale)) } else { 0 };
        let loss = if k < n {
            (n - k) * u128::from(ln_ratio_floor((n - k) * scale, n * (scale - mu)))
        } else {
            0
        };
        loss.saturating_sub(gain)
    };
    let (mut fits, mut fails) = ((k * scale).div_ceil(n), scale);
    if fits >= scale || divergence(scale - 1) <= u128::from(ln_inverse) {
        return SCALE as u64;
    }
    // divergence(fits) = 0 within rounding, divergence(fails) > ln_inverse.
    while fails - fits > 1 {
        let mid = (fits + fails) / 2;
        if divergence(mid) <= u128::from(ln_inverse) { fits = mid } else { fails = mid }
    }
    fits as u64
}

/// Finds copies: within a block and scoring group, batches with identical labels on at least
/// [`COPY_TASKS_MIN`] tasks that also deviate together from the block's other labelers (their
/// mean agreement with the others below one half) on at least `max(COPY_DEVIATIONS_MIN,
/// ⌈n/10⌉)` tasks. Shared deviations are what independent labelers rarely produce: two
/// careful labelers who are simply right on everything agree perfectly too, but their few
/// errors fall on different tasks. A group that is its whole block cannot be told from
/// agreement: it is kept as a `whole_block` group, which only skill can judge.
pub fn find_copies(agreement: &Agreement, batches: &[BlockLabels]) -> Copies {
    let mut copies = Copies::default();
    if *agreement == Agreement::Unscored {
        return copies;
    }
    let mut blocks: BTreeMap<(u32, Vec<u32>), Vec<&BlockLabels>> = BTreeMap::new();
    for batch in batches {
        let tasks = batch.labels.iter().map(|(t, _)| *t).collect();
        blocks.entry((batch.group, tasks)).or_default().push(batch);
    }
    for members in blocks.values() {
        let n = members[0].labels.len();
        if members.len() < 2 || n < COPY_TASKS_MIN {
            continue;
        }
        let mut identical: HashMap<Vec<&Label>, Vec<&BlockLabels>> = HashMap::new();
        for member in members {
            identical
                .entry(member.labels.iter().map(|(_, l)| *l).collect())
                .or_default()
                .push(member);
        }
        for (labels, group) in &identical {
            if group.len() < 2 {
                continue;
            }
            let others: Vec<&&BlockLabels> = members
                .iter()
                .filter(|m| !group.iter().any(|g| g.batch_id == m.batch_id))
                .collect();
            let group = CopyGroup {
                batches: group.iter().map(|b| b.batch_id).collect(),
                labelers: group.iter().map(|b| b.labeler).collect(),
                tasks: n,
                whole_block: others.is_empty(),
            };
            if group.whole_block {
                copies.groups.push(group);
                continue;
            }
            let deviations = (0..n)
                .filter(|&t| {
                    let with_others: i64 =
                        others.iter().map(|o| agreement.between(labels[t], o.labels[t].1)).sum();
                    2 * with_others < SCALE * others.len() as i64
                })
                .count();
            if deviations < COPY_DEVIATIONS_MIN.max(n.div_ceil(10)) {
                continue;
            }
            group.record(&mut copies.pairs, &mut copies.counts);
            copies.groups.push(group);
        }
    }
    // Groups come out of a hash map: sort them so that everything built from them is
    // deterministic.
    copies.groups.sort_by(|a, b| a.batches.cmp(&b.batches));
    copies
}

impl CopyGroup {
    fn record(&self, pairs: &mut HashSet<(u32, u32)>, counts: &mut HashMap<u64, u32>) {
        for (a, first) in self.labelers.iter().enumerate() {
            counts.insert(self.batches[a], self.batches.len() as u32);
            for second in &self.labelers[a + 1..] {
                pairs.insert((*first.min(second), *first.max(second)));
            }
        }
    }
}

/// The gold tasks whose answer the crowd contradicts, ascending. `labels` are the labels
/// given on gold tasks as `(task, label)`; `gold` maps each gold task to its answer.
pub fn contradicted_gold(
    agreement: &Agreement,
    labels: &[(u32, &Label)],
    gold: &HashMap<u32, Label>,
) -> Vec<u32> {
    if *agreement == Agreement::Unscored {
        return Vec::new();
    }
    let mut by_task: BTreeMap<u32, Vec<&Label>> = BTreeMap::new();
    for (task, label) in labels {
        if gold.contains_key(task) {
            by_task.entry(*task).or_default().push(label);
        }
    }
    let mut contradicted = Vec::new();
    let (mut judged, mut judged_labels, mut judged_shortfall) = (0usize, 0i64, 0i64);
    for (task, labels) in by_task.iter().filter(|(_, labels)| labels.len() >= GOLD_LABELS_MIN) {
        let k = labels.len() as i64;
        let short = shortfall(agreement, &gold[task], labels);
        if 3 * short > k * SCALE {
            contradicted.push(*task);
        }
        judged += 1;
        judged_labels += k;
        judged_shortfall += short;
    }
    // Gold that the crowd contradicts more often than not, or by more than a third of the
    // labels' weight over all the judged tasks together, is untrustworthy as a whole: what the
    // crowd happened not to contradict is no better. The second test catches gold inverted on
    // purpose where the truth is a weak preference, which a noisy crowd contradicts on each
    // task by a little less than a third.
    if 2 * contradicted.len() > judged || 3 * judged_shortfall > judged_labels * SCALE {
        let mut all: Vec<u32> = gold.keys().copied().collect();
        all.sort_unstable();
        return all;
    }
    contradicted
}

/// How much better than the gold answer the crowd's own answer fits its labels: `Σ a(x, c) −
/// Σ a(x, z)` at scale 10^6 (exact integers), c being the label given that agrees best with all
/// the labels (the majority for categorical questions). A task is contradicted when this is
/// more than a third of the labels' weight, `k/3`.
fn shortfall(agreement: &Agreement, answer: &Label, labels: &[&Label]) -> i64 {
    let fit =
        |candidate: &Label| -> i64 { labels.iter().map(|x| agreement.between(x, candidate)).sum() };
    // Distinct labels only: the candidates are few where labels repeat.
    let mut candidates: Vec<&Label> = Vec::new();
    for label in labels {
        if !candidates.contains(label) {
            candidates.push(label);
        }
    }
    let best = candidates.iter().map(|c| fit(c)).max().unwrap_or(0);
    (best - fit(answer)).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(v: i64) -> Label {
        Label::Int(v)
    }

    #[test]
    fn a_unanimous_crowd_against_the_gold_answer_drops_it() {
        let gold: HashMap<u32, Label> = (7..12).map(|t| (t, int(0))).collect();
        let (one, zero) = (int(1), int(0));
        let labels = vec![
            // Task 7: three labelers say 1 against gold 0: dropped.
            (7, &one),
            (7, &one),
            (7, &one),
            // Task 8: two say 1, one sides with gold: kept.
            (8, &one),
            (8, &one),
            (8, &zero),
            // Task 9: only two labels: too few to overrule.
            (9, &one),
            (9, &one),
            // Tasks 10 and 11: the crowd agrees with gold.
            (10, &zero),
            (10, &zero),
            (10, &zero),
            (11, &zero),
            (11, &zero),
            (11, &zero),
        ];
        assert_eq!(contradicted_gold(&Agreement::Categorical, &labels, &gold), vec![7]);
    }

    #[test]
    fn strength_counts_when_the_crowd_overrules_pairwise_gold() {
        let linear = Agreement::Linear { range: 4 };
        let gold: HashMap<u32, Label> = (0..4).map(|t| (t, int(-2))).collect();
        let (strong_b, weak_b, strong_a) = (int(2), int(1), int(-2));
        // The crowd prefers B on task 0 (against gold A); on task 1 one labeler sides with A,
        // on tasks 2 and 3 two do.
        let labels = vec![
            (0, &strong_b),
            (0, &strong_b),
            (0, &weak_b),
            (1, &strong_b),
            (1, &strong_a),
            (1, &weak_b),
            (2, &strong_a),
            (2, &strong_a),
            (2, &weak_b),
            (3, &strong_a),
            (3, &strong_a),
            (3, &weak_b),
        ];
        assert_eq!(contradicted_gold(&linear, &labels, &gold), vec![0]);
    }

    #[test]
    fn gold_the_crowd_contradicts_over_all_its_tasks_is_dropped_whole() {
        // Inverted gold: two strong preferences the crowd overrules, and seven weak ones that
        // a noisy crowd contradicts by a little less than a third each. Two of nine is not a
        // majority, but over the nine tasks the crowd fits its own answers better by more than
        // a third of the labels' weight.
        let linear = Agreement::Linear { range: 4 };
        let (strong_b, weak_b, weak_a) = (int(2), int(1), int(-1));
        let gold: HashMap<u32, Label> =
            (0..9).map(|t| (t, if t < 2 { int(-2) } else { int(-1) })).collect();
        let mut labels = Vec::new();
        for task in 0..9 {
            let (right, dissent) = if task < 2 { (&strong_b, &weak_b) } else { (&weak_b, &weak_a) };
            labels.extend([(task, right), (task, right), (task, right), (task, right)]);
            labels.push((task, dissent));
        }
        assert_eq!(contradicted_gold(&linear, &labels, &gold), (0..9).collect::<Vec<_>>());
        // The same crowd on gold that tells the truth on the weak tasks: only the two strong
        // tasks go.
        let honest: HashMap<u32, Label> =
            (0..9).map(|t| (t, if t < 2 { int(-2) } else { int(1) })).collect();
        assert_eq!(contradicted_gold(&linear, &labels, &honest), vec![0, 1]);
    }

    fn block<'a>(batch_id: u64, labels: &[&'a Label]) -> BlockLabels<'a> {
        BlockLabels {
            batch_id,
            labeler: batch_id as u32,
            group: 0,
            labels: labels.iter().enumerate().map(|(t, l)| (t as u32, *l)).collect(),
        }
    }

    #[test]
    fn identical_batches_that_share_errors_are_copies_and_careful_agreement_is_not() {
        let (a, b) = (int(0), int(1));
        let truth: Vec<&Label> = (0..10).map(|t| if t % 3 == 0 { &b } else { &a }).collect();
        let mut wrong_twice = truth.clone();
        wrong_twice[1] = &b;
        wrong_twice[2] = &b;
        let mut wrong_once = truth.clone();
        wrong_once[4] = &b;
        // Three copies of a labeler who errs on two tasks, beside two careful labelers.
        let swarm = vec![
            block(0, &wrong_twice),
            block(1, &wrong_twice),
            block(2, &wrong_twice),
            block(3, &truth),
            block(4, &wrong_once),
        ];
        let copies = find_copies(&Agreement::Categorical, &swarm);
        assert_eq!(copies.count(0), 3);
        assert_eq!(copies.count(3), 1);
        assert!(copies.are_copies(2, 0) && copies.are_copies(1, 2) && !copies.are_copies(0, 3));
        // Two careful labelers who are right on everything agree perfectly without copying.
        let careful = vec![block(0, &truth), block(1, &truth), block(2, &wrong_once)];
        assert_eq!(find_copies(&Agreement::Categorical, &careful), Copies::default());
        // Nobody else in the block: agreement alone cannot tell, so they are not copies, and
        // only skill may judge them.
        let alone = vec![block(0, &wrong_twice), block(1, &wrong_twice)];
        let copies = find_copies(&Agreement::Categorical, &alone);
        assert!(copies.pairs.is_empty() && copies.counts.is_empty());
        assert_eq!(copies.groups.len(), 1);
        assert!(copies.groups[0].whole_block);
    }

    #[test]
    fn a_block_of_identical_labelers_is_unexplained_only_when_skill_cannot_explain_it() {
        let (a, b) = (int(0), int(1));
        let labels: Vec<&Label> = (0..40).map(|t| if t % 3 == 0 { &b } else { &a }).collect();
        let whole = vec![block(0, &labels), block(1, &labels), block(2, &labels)];
        let delta = Ppm::new(10_000).unwrap();
        let agreement =
            |agreeing: usize| GoldAgreement { agrees: (0..10).map(|i| i < agreeing).collect() };
        let judged = |agreeing| {
            let mut copies = find_copies(&Agreement::Categorical, &whole);
            copies.judge_by_skill(&vec![agreement(agreeing); 3], delta);
            copies
        };
        // Right on 6 of 10 gold items each: three labelers that good are not identical on 40
        // tasks by chance; they are paid nothing, though no copy share applies.
        let caught = judged(6);
        assert_eq!(caught.unexplained, [0, 1, 2].into());
        assert_eq!(caught.count(0), 1);
        // Right on every gold item: perfect labelers agree perfectly, and nothing happens.
        assert_eq!(judged(10).unexplained, HashSet::new());
    }

    #[test]
    fn copies_that_gold_accuracy_does_not_explain_are_unexplained() {
        let (a, b) = (int(0), int(1));
        // 40 tasks; two perfect labelers beside three who always answer `a`: the perfect pair
        // deviates from its block together, so it looks like copies.
        let truth: Vec<&Label> = (0..40).map(|t| if t % 2 == 0 { &b } else { &a }).collect();
        let constant: Vec<&Label> = vec![&a; 40];
        let batches = vec![
            block(0, &truth),
            block(1, &truth),
            block(2, &constant),
            block(3, &constant),
            block(4, &constant),
        ];
        let delta = Ppm::new(10_000).unwrap();
        let agreement = |agreeing: usize, n: usize| GoldAgreement {
            agrees: (0..n).map(|i| i < agreeing).collect(),
        };
        let mut copies = find_copies(&Agreement::Categorical, &batches);
        assert_eq!(copies.count(0), 2);
        // Right on all 50 gold items: identical labels are what skill gives, so the perfect pair
        // keeps the plain copy rule; the constant answerers, at chance on gold, are unexplained.
        let gold = [50, 50, 25, 25, 25].map(|agreeing| agreement(agreeing, 50));
        copies.judge_by_skill(&gold, delta);
        assert_eq!(copies.count(0), 2);
        assert_eq!(copies.unexplained, [2, 3, 4].into());
        // Right on 65% of gold: identical on 40 tasks beyond what that explains.
        let mut copies = find_copies(&Agreement::Categorical, &batches);
        copies.judge_by_skill(&vec![agreement(33, 50); 5], delta);
        assert_eq!(copies.unexplained, [0, 1, 2, 3, 4].into());
        // A pair with ten gold items each, 13 of 20 right, is caught (one item each was not
        // enough for the bound on each labeler alone); 17 of 20 is not.
        let pair = |first, second| {
            let mut gold = vec![agreement(0, 10); 5];
            gold[0] = agreement(first, 10);
            gold[1] = agreement(second, 10);
            let mut copies = find_copies(&Agreement::Categorical, &batches);
            copies.judge_by_skill(&gold, delta);
            copies.unexplained.contains(&0)
        };
        assert!(pair(6, 7));
        assert!(!pair(9, 8));
        // The pool takes as many items from each member: extra items of one member do not
        // count, so they cannot make the pair look less accurate than its other member is.
        let mut uneven = vec![agreement(25, 50); 5];
        uneven[0] = agreement(10, 10);
        uneven[1] = GoldAgreement { agrees: [vec![true; 10], vec![false; 40]].concat() };
        let mut copies = find_copies(&Agreement::Categorical, &batches);
        copies.judge_by_skill(&uneven, delta);
        assert!(!copies.unexplained.contains(&0), "the first ten of each are all right");
        // Without gold the plain copy rule stays.
        let mut copies = find_copies(&Agreement::Categorical, &batches);
        copies.judge_by_skill(&vec![GoldAgreement::default(); 5], delta);
        assert!(copies.unexplained.is_empty());
    }

    #[test]
    fn the_chernoff_interval_holds_the_mean_and_tightens_with_items() {
        let ln = ln_inverse(Ppm::new(5_000).unwrap());
        // 13 of 20 at δ' = 0.005: about [0.30, 0.91].
        let (low, high) = chernoff_interval(13, 20, ln);
        assert!((290_000..320_000).contains(&low), "{low}");
        assert!((900_000..925_000).contains(&high), "{high}");
        // Symmetric, and the ends are the extremes when every item is alike.
        assert_eq!(chernoff_interval(7, 20, ln), (SCALE as u64 - high, SCALE as u64 - low));
        assert_eq!(chernoff_interval(20, 20, ln).1, SCALE as u64);
        assert_eq!(chernoff_interval(0, 20, ln).0, 0);
        let (low_more, high_more) = chernoff_interval(130, 200, ln);
        assert!(low_more > low && high_more < high);
        // Against the exact divergence in floating point: the end is where n·KL = ln(1/δ').
        let kl = |p: f64, q: f64| p * (p / q).ln() + (1.0 - p) * ((1.0 - p) / (1.0 - q)).ln();
        let at_high = 20.0 * kl(0.65, high as f64 / 1e6);
        assert!((at_high - ln as f64 / 1e6).abs() < 1e-3, "{at_high}");
    }

    #[test]
    fn all_alike_is_the_chance_that_c_labelers_agree() {
        assert_eq!(all_alike(500_000, 2), 500_000);
        assert_eq!(all_alike(900_000, 2), 820_000);
        assert_eq!(all_alike(900_000, 3), 730_000);
        assert_eq!(all_alike(SCALE as u64, 5), SCALE as u64);
    }
}
