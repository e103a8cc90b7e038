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
//!   [`Copies::judge_by_skill`]) earn their labelers nothing in the experiment and are left out
//!   of the export.

use crate::fixed::{Ppm, SCALE, isqrt_ceil, ln_inverse};
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
}

/// How often a labeler agrees with the gold answers: its label agrees with an answer when
/// `a(label, answer)` exceeds one half (the same option; the same side of a pairwise scale;
/// a rating within a quarter of the range; a ranking with most pairs in the same order).
/// Two labels that are identical agree with the answer alike, which is what
/// [`Copies::judge_by_skill`] needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GoldAgreement {
    /// Gold items where the label agrees with the answer.
    pub agreeing: u64,
    /// Gold items.
    pub n: u64,
}

impl GoldAgreement {
    /// Counts one gold item.
    pub fn add(&mut self, agreement: &Agreement, label: &Label, answer: &Label) {
        self.n += 1;
        self.agreeing += u64::from(2 * agreement.between(label, answer) > SCALE);
    }

    /// An upper confidence bound (Hoeffding, `ln_inverse_delta` = ln(1/δ) at scale 10^6) on
    /// the labeler's accuracy, scale 10^6; `None` without gold.
    fn accuracy_upper_bound(&self, ln_inverse_delta: u64) -> Option<u64> {
        if self.n == 0 {
            return None;
        }
        let mean = self.agreeing * SCALE as u64 / self.n;
        let radius = isqrt_ceil(
            (u128::from(ln_inverse_delta) * SCALE as u128).div_ceil(2 * u128::from(self.n)),
        );
        Some((u128::from(mean) + radius).min(SCALE as u128) as u64)
    }
}

impl Copies {
    /// Marks the copy groups that skill does not explain. Two independent labelers of
    /// accuracies p and q give the same answer to a task with probability at most
    /// `p·q + (1 − p)(1 − q)`, so identical labels on n tasks happen by skill with probability
    /// at most that to the n-th power, taken for the two most accurate members at the upper
    /// bounds of their gold accuracy. Where that is below δ, the group answered alike beyond
    /// what its skill explains, which is collusion on some signal or one labeler's work under
    /// several identities: its batches are `unexplained`, and their labelers are paid nothing
    /// and left out of the export. Where it is not (labelers right on everything beside a poor
    /// block look like copies too, and so does a careful labeler's swarm with little gold to
    /// judge by) the plain copy rule stays, as it does for groups with a member without gold.
    pub fn judge_by_skill(&mut self, gold: &[GoldAgreement], ln_inverse_delta: u64) {
        let scale = SCALE as u128;
        for group in &self.groups {
            let bounds: Option<Vec<u64>> = group
                .labelers
                .iter()
                .map(|l| gold[*l as usize].accuracy_upper_bound(ln_inverse_delta))
                .collect();
            let Some(mut bounds) = bounds else { continue };
            bounds.sort_unstable_by(|a, b| b.cmp(a));
            let (p, q) = (u128::from(bounds[0]), u128::from(bounds[1]));
            let same = (p * q + (scale - p) * (scale - q)).div_ceil(scale);
            let unexplained = same < scale
                && u128::from(ln_inverse(Ppm::new(same as u32).expect("a probability")))
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

/// Finds copies: within a block and scoring group, batches with identical labels on at least
/// [`COPY_TASKS_MIN`] tasks that also deviate together from the block's other labelers (their
/// mean agreement with the others below one half) on at least `max(COPY_DEVIATIONS_MIN,
/// ⌈n/10⌉)` tasks. Shared deviations are what independent labelers rarely produce: two
/// careful labelers who are simply right on everything agree perfectly too, but their few
/// errors fall on different tasks. A group with nobody else in its block cannot be told from
/// agreement and is left alone.
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
        if members.len() < 3 || n < COPY_TASKS_MIN {
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
            let group = CopyGroup {
                batches: group.iter().map(|b| b.batch_id).collect(),
                labelers: group.iter().map(|b| b.labeler).collect(),
                tasks: n,
            };
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
        // Nobody else in the block: agreement alone cannot tell.
        let alone = vec![block(0, &wrong_twice), block(1, &wrong_twice)];
        assert_eq!(find_copies(&Agreement::Categorical, &alone), Copies::default());
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
        let ln = ln_inverse(Ppm::new(10_000).unwrap());
        let agreement = |agreeing, n| GoldAgreement { agreeing, n };
        let mut copies = find_copies(&Agreement::Categorical, &batches);
        assert_eq!(copies.count(0), 2);
        // Right on all 50 gold items: identical labels are what skill gives, so the perfect pair
        // keeps the plain copy rule; the constant answerers, at chance on gold, are unexplained.
        let gold = [50, 50, 25, 25, 25].map(|agreeing| agreement(agreeing, 50));
        copies.judge_by_skill(&gold, ln);
        assert_eq!(copies.count(0), 2);
        assert_eq!(copies.unexplained, [2, 3, 4].into());
        // Right on 65% of gold: identical on 40 tasks beyond what that explains.
        let mut copies = find_copies(&Agreement::Categorical, &batches);
        let middling = vec![agreement(33, 50); 5];
        copies.judge_by_skill(&middling, ln);
        assert_eq!(copies.unexplained, [0, 1, 2, 3, 4].into());
        // Without gold the plain copy rule stays.
        let mut copies = find_copies(&Agreement::Categorical, &batches);
        copies.judge_by_skill(&[GoldAgreement::default(); 5], ln);
        assert!(copies.unexplained.is_empty());
    }
}
