//! What one run shows: per identity its stake, payout under the mechanism and under the naive
//! baseline, tiers, score and true accuracy; for the dataset, the accuracy of the export beside
//! majority vote and Dawid-Skene over all labels, and how many attacked tasks the poison turned.
//!
//! **The export** is the server's (`docs/http-api.md`, "Export"): the labels
//! [`PublicRecord::exported`] keeps, workers under per-experiment pseudonyms, Dawid-Skene for
//! binary and choice questions, the reliability-weighted mean for pairwise strengths (its sign is the preferred
//! response), over every revealed label including gold tasks. Majority vote and Dawid-Skene
//! "over all labels" keep everyone; for pairwise they vote on the preferred side, ties to A.
//! Accuracy is measured on the regular tasks that received at least one label, against the
//! canonical (majority cohort's) truth; a task whose labels were all left out counts as wrong.
//!
//! **Poisoned fraction.** Among the regular tasks carrying the trigger that at least one
//! poisoner labeled (the attacked tasks), the share whose consensus is the poisoners' target
//! and would not have been had the poisoners answered those tasks honestly (the simulator knows
//! their honest labels). This counts what the poison changed, not the aggregator's ordinary
//! mistakes on those tasks.

use crate::agents::Agent;
use crate::baseline::{self, NaiveResult};
use crate::market::Round;
use crate::scenario::{BaselineRule, Group};
use crate::tasks::other_preference;
use plumbline_core::Address;
use plumbline_core::fatigue::voice;
use plumbline_core::record::PublicRecord;
use plumbline_core::score::Tally;
use plumbline_core::settle::Tier;
use plumbline_core::spec::QuestionKind;
use plumbline_infer::{
    Dataset, DsOptions, NumericDataset, SidesOptions, dawid_skene, majority_vote, preferred_sides,
};
use std::collections::{BTreeMap, HashSet};

/// One identity's outcome over all rounds of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct IdentityOutcome {
    /// Its strategy.
    pub group: Group,
    /// Its Sybil swarm, if any.
    pub swarm: Option<u32>,
    /// Stake locked over all rounds.
    pub stake: u128,
    /// What the mechanism paid back (stake returned plus rewards).
    pub payout: u128,
    /// What the naive rule would have paid back.
    pub baseline_payout: u128,
    /// Rounds rewarded, even, slashed under the mechanism.
    pub tiers: [u32; 3],
    /// The same under the naive rule.
    pub baseline_tiers: [u32; 3],
    /// Mean combined score over rounds with a score (−1..1).
    pub score: Option<f64>,
    /// Regular labels that match its own cohort's truth.
    pub right: u64,
    /// Regular labels given.
    pub regular_labels: u64,
    /// Its tallies (peer and gold items, their sums and squares) added over all rounds.
    pub tally: Tally,
    /// Its tier in each round, `None` where it took no part.
    pub round_tiers: Vec<Option<Tier>>,
    /// Rounds in which it owed the copy fee (caught answering alike beyond skill).
    pub copy_fee_rounds: u32,
    /// Rounds in which it owed the chance fee (even, below zero, peers not vouching).
    pub chance_fee_rounds: u32,
    /// With a qualification: rounds it practised in.
    pub practised: u32,
    /// ... and rounds it qualified in.
    pub qualified: u32,
}

impl IdentityOutcome {
    /// (payout − stake) / stake under the mechanism.
    pub fn roi(&self) -> f64 {
        roi(self.payout, self.stake)
    }

    /// The same under the naive rule.
    pub fn baseline_roi(&self) -> f64 {
        roi(self.baseline_payout, self.stake)
    }
}

/// Return on stake, net of the stake.
pub fn roi(payout: u128, stake: u128) -> f64 {
    if stake == 0 { 0.0 } else { (payout as f64 - stake as f64) / stake as f64 }
}

/// Additive counts about the dataset, summed over rounds (and over runs by the report).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DatasetCounts {
    /// Regular tasks with at least one revealed label.
    pub evaluated: u64,
    /// Of them right in the export.
    pub export_right: u64,
    /// Right by majority vote over all labels.
    pub majority_vote_right: u64,
    /// Right by Dawid-Skene over all labels.
    pub ds_right: u64,
    /// Right by majority vote over the labels the naive rule keeps (not slashed by it).
    pub baseline_right: u64,
    /// Attacked tasks (triggered, labeled by a poisoner).
    pub attacked: u64,
    /// Attacked tasks the poison turned in the export.
    pub export_poisoned: u64,
    /// ... by majority vote over all labels.
    pub majority_vote_poisoned: u64,
    /// ... by Dawid-Skene over all labels.
    pub ds_poisoned: u64,
    /// ... by the naive rule's dataset.
    pub baseline_poisoned: u64,
    /// Revealed labels in all.
    pub labels: u64,
    /// Of them on regular tasks: over `evaluated`, the labels a task got (adaptive rounds
    /// spend them where the crowd is unsure).
    pub regular_labels: u64,
    /// Of them left out of the export (slashed labelers', strata below chance).
    pub labels_left_out: u64,
    /// Exported labels from the ends of sessions where their labeler tired.
    pub labels_tired: u64,
    /// Regular tasks the export gets right with every label counted as its labeler's.
    pub untired_export_right: u64,
    /// Joins refused for want of a block the identity had not done.
    pub joins_refused: u64,
    /// Tasks whose consensus class in a server's own export differs from the simulator's.
    pub export_mismatches: u64,
    /// With a qualification: regular tasks with labels when everyone is admitted.
    pub ungated_evaluated: u64,
    /// ... of them right in that export.
    pub ungated_export_right: u64,
}

impl DatasetCounts {
    /// Adds another round's or run's counts.
    pub fn add(&mut self, o: &DatasetCounts) {
        self.evaluated += o.evaluated;
        self.export_right += o.export_right;
        self.majority_vote_right += o.majority_vote_right;
        self.ds_right += o.ds_right;
        self.baseline_right += o.baseline_right;
        self.attacked += o.attacked;
        self.export_poisoned += o.export_poisoned;
        self.majority_vote_poisoned += o.majority_vote_poisoned;
        self.ds_poisoned += o.ds_poisoned;
        self.baseline_poisoned += o.baseline_poisoned;
        self.labels += o.labels;
        self.regular_labels += o.regular_labels;
        self.labels_left_out += o.labels_left_out;
        self.labels_tired += o.labels_tired;
        self.untired_export_right += o.untired_export_right;
        self.joins_refused += o.joins_refused;
        self.export_mismatches += o.export_mismatches;
        self.ungated_evaluated += o.ungated_evaluated;
        self.ungated_export_right += o.ungated_export_right;
    }
}

/// A labeler's point for the score plot: true accuracy, score, tier.
pub type ScorePoint = (f64, f64, Tier);

/// What one run shows.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// The run's seed.
    pub seed: u64,
    /// Per identity (index = roster index).
    pub identities: Vec<IdentityOutcome>,
    /// The dataset, summed over rounds.
    pub dataset: DatasetCounts,
    /// The first round's labelers for the score plot.
    pub points: Vec<ScorePoint>,
}

/// Analyzes a run.
pub fn analyze(agents: &[Agent], rounds: &[Round], rule: &BaselineRule, seed: u64) -> RunOutcome {
    let mut identities: Vec<IdentityOutcome> = agents
        .iter()
        .map(|a| IdentityOutcome {
            group: a.group,
            swarm: a.swarm,
            stake: 0,
            payout: 0,
            baseline_payout: 0,
            tiers: [0; 3],
            baseline_tiers: [0; 3],
            score: None,
            right: 0,
            regular_labels: 0,
            tally: Tally::default(),
            round_tiers: vec![None; rounds.len()],
            copy_fee_rounds: 0,
            chance_fee_rounds: 0,
            practised: 0,
            qualified: 0,
        })
        .collect();
    let mut score_sums = vec![(0.0, 0u32); agents.len()];
    let mut dataset = DatasetCounts::default();
    let mut points = Vec::new();
    for (r, round) in rounds.iter().enumerate() {
        let record = &round.record;
        let index: BTreeMap<Address, usize> =
            round.addresses.iter().enumerate().map(|(i, a)| (*a, i)).collect();
        let naive = baseline::settle(record, rule);
        let accuracy = label_accuracy(agents, round, &index);
        for result in &record.settlement.labelers {
            let i = index[&result.labeler];
            let o = &mut identities[i];
            o.stake += result.stake;
            o.payout += result.payout;
            o.tiers[tier_slot(result.tier)] += 1;
            o.tally.add(&result.tally);
            o.round_tiers[r] = Some(result.tier);
            o.copy_fee_rounds += u32::from(result.copy_fee > 0);
            o.chance_fee_rounds += u32::from(result.chance_fee > 0);
            if let Some(score) = result.score {
                score_sums[i].0 += score as f64 / 1e6;
                score_sums[i].1 += 1;
            }
            let NaiveResult { tier, payout, .. } = &naive[&result.labeler];
            o.baseline_payout += payout;
            o.baseline_tiers[tier_slot(*tier)] += 1;
            let (right, given) = accuracy[i];
            o.right += right;
            o.regular_labels += given;
            if r == 0 && given > 0 {
                let score = result.score.map_or(0.0, |s| s as f64 / 1e6);
                points.push((right as f64 / given as f64, score, result.tier));
            }
        }
        let mut counts = dataset_counts(round, &naive);
        counts.joins_refused = round.joins_refused as u64;
        for (o, qualified) in identities.iter_mut().zip(round.qualified.iter().flatten()) {
            o.practised += 1;
            o.qualified += u32::from(*qualified);
        }
        if let Some(ungated) = &round.ungated {
            let everyone = dataset_counts(ungated, &baseline::settle(&ungated.record, rule));
            counts.ungated_evaluated = everyone.evaluated;
            counts.ungated_export_right = everyone.export_right;
        }
        dataset.add(&counts);
    }
    for (o, (sum, n)) in identities.iter_mut().zip(score_sums) {
        o.score = (n > 0).then(|| sum / f64::from(n));
    }
    RunOutcome { seed, identities, dataset, points }
}

fn tier_slot(tier: Tier) -> usize {
    match tier {
        Tier::Rewarded => 0,
        Tier::Even => 1,
        Tier::Slashed => 2,
    }
}

/// The class a label votes for: the preferred side for pairwise, the value otherwise.
fn class_of(kind: &QuestionKind, value: i64) -> i64 {
    match kind {
        QuestionKind::Pairwise { .. } => value.signum(),
        _ => value,
    }
}

/// The class the poisoners push on a task of this truth.
fn target_of(kind: &QuestionKind, truth: i64) -> i64 {
    class_of(kind, other_preference(kind, truth))
}

/// Per identity (right, given) over its regular labels, against its own cohort's truth.
fn label_accuracy(
    agents: &[Agent],
    round: &Round,
    index: &BTreeMap<Address, usize>,
) -> Vec<(u64, u64)> {
    let record = &round.record;
    let kind = &record.spec.question.kind;
    let mut out = vec![(0u64, 0u64); agents.len()];
    for batch in record.revealed() {
        let i = index[&batch.labeler];
        for (task, label) in &batch.labels {
            if record.tasks[*task as usize].is_gold() {
                continue;
            }
            let truth = &round.truth[*task as usize];
            let own =
                if agents[i].group == Group::HonestMinority { truth.minority } else { truth.value };
            let value = label.as_int().expect("simulated labels are integers");
            out[i].1 += 1;
            out[i].0 += u64::from(class_of(kind, value) == class_of(kind, own));
        }
    }
    out
}

/// One revealed label as the aggregators see it.
struct Row {
    batch_id: u64,
    task: u32,
    worker: String,
    /// From the end of a session where its labeler tired (the export weighs it apart).
    tired: bool,
    value: i64,
    /// The honest value a poisoner replaced here, if any.
    unpoisoned: Option<i64>,
    address: Address,
}

/// A row with the label actually given.
fn actual(r: &Row) -> (&Row, i64) {
    (r, r.value)
}

/// A row with the label a poisoner would have given honestly.
fn counterfactual(r: &Row) -> (&Row, i64) {
    (r, r.unpoisoned.unwrap_or(r.value))
}

/// The server's pseudonym of a labeler in an experiment.
fn pseudonym(record: &PublicRecord, address: Address) -> String {
    let mut bytes = [0u8; 52];
    bytes[..32].copy_from_slice(record.experiment_id.as_slice());
    bytes[32..].copy_from_slice(address.as_slice());
    let hash = alloy_primitives::keccak256(bytes);
    format!("w{}", &alloy_primitives::hex::encode(hash)[..8])
}

/// How a consensus is formed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    /// The server's export aggregator.
    Export,
    /// The same with every label counted as its labeler's, tired or not.
    ExportUntired,
    /// Majority vote on classes.
    MajorityVote,
    /// Dawid-Skene on classes.
    DawidSkene,
}

/// The consensus class of every task that has labels.
fn consensus<'a>(
    kind: &QuestionKind,
    method: Method,
    rows: impl Iterator<Item = (&'a Row, i64)>,
) -> BTreeMap<u32, i64> {
    // The export takes a tired tail as another labeler's.
    let voice = |r: &Row| voice(&r.worker, method == Method::Export && r.tired);
    let rows: Vec<(u32, String, i64)> = rows.map(|(r, v)| (r.task, voice(r), v)).collect();
    let mut out = BTreeMap::new();
    if rows.is_empty() {
        return out;
    }
    match (method, kind) {
        (Method::Export | Method::ExportUntired, QuestionKind::Pairwise { .. }) => {
            let data = NumericDataset::from_rows(
                rows.iter().map(|(t, w, v)| (t.to_string(), w.clone(), *v as f64)),
            )
            .expect("integer labels are finite");
            let sides = preferred_sides(&data, &SidesOptions::default());
            for t in 0..data.n_tasks() {
                let task: u32 = data.tasks().name(t as u32).parse().expect("task indices");
                let value = sides.value(t);
                // A consensus of exactly zero prefers nothing, as in the TRL export.
                let class = if value > 1e-9 {
                    1
                } else if value < -1e-9 {
                    -1
                } else {
                    0
                };
                out.insert(task, class);
            }
        }
        _ => {
            let data = Dataset::from_rows(
                rows.iter()
                    .map(|(t, w, v)| (t.to_string(), w.clone(), class_of(kind, *v).to_string())),
            );
            let result = match method {
                Method::MajorityVote => majority_vote(&data),
                _ => dawid_skene(&data, &DsOptions::default()).result,
            };
            for t in 0..data.n_tasks() {
                let task: u32 = data.tasks().name(t as u32).parse().expect("task indices");
                let class: i64 = data.classes()[result.labels[t] as usize]
                    .parse()
                    .expect("classes are integers");
                out.insert(task, class);
            }
        }
    }
    out
}

fn dataset_counts(round: &Round, naive: &BTreeMap<Address, NaiveResult>) -> DatasetCounts {
    let record = &round.record;
    let kind = &record.spec.question.kind;
    let mut rows = Vec::new();
    for batch in record.revealed() {
        let address = batch.labeler;
        let worker = pseudonym(record, address);
        for (task, label) in &batch.labels {
            let unpoisoned =
                round.unpoisoned.get(&(batch.batch_id, *task)).and_then(|label| label.as_int());
            rows.push(Row {
                batch_id: batch.batch_id,
                task: *task,
                worker: worker.clone(),
                tired: false,
                value: label.as_int().expect("simulated labels are integers"),
                unpoisoned,
                address,
            });
        }
    }
    let exported_batches = record.exported();
    let exported: HashSet<(u64, u32)> = exported_batches
        .iter()
        .flat_map(|b| b.labels.iter().map(move |(task, _)| (b.batch_id, *task)))
        .collect();
    let tired: HashSet<(u64, u32)> = exported_batches
        .iter()
        .zip(record.tired_from(&exported_batches))
        .filter_map(|(b, from)| Some(b.labels[from?..].iter().map(|(task, _)| (b.batch_id, *task))))
        .flatten()
        .collect();
    for row in &mut rows {
        row.tired = tired.contains(&(row.batch_id, row.task));
    }
    let naive_slashed: HashSet<Address> =
        naive.iter().filter(|(_, r)| r.tier == Tier::Slashed).map(|(a, _)| *a).collect();
    let kept = |r: &&Row| exported.contains(&(r.batch_id, r.task));
    let naive_kept = |r: &&Row| !naive_slashed.contains(&r.address);

    let export = consensus(kind, Method::Export, rows.iter().filter(kept).map(actual));
    let untired = consensus(kind, Method::ExportUntired, rows.iter().filter(kept).map(actual));
    let mv = consensus(kind, Method::MajorityVote, rows.iter().map(actual));
    let ds = consensus(kind, Method::DawidSkene, rows.iter().map(actual));
    let base = consensus(kind, Method::MajorityVote, rows.iter().filter(naive_kept).map(actual));

    let labeled: HashSet<u32> = rows.iter().map(|r| r.task).collect();
    let regular: Vec<u32> = (0..record.tasks.len() as u32)
        .filter(|&t| !record.tasks[t as usize].is_gold() && labeled.contains(&t))
        .collect();
    let right = |predicted: &BTreeMap<u32, i64>, t: u32| {
        u64::from(predicted.get(&t) == Some(&class_of(kind, round.truth[t as usize].value)))
    };
    let mut counts = DatasetCounts {
        evaluated: regular.len() as u64,
        labels: rows.len() as u64,
        regular_labels: rows.iter().filter(|r| !record.tasks[r.task as usize].is_gold()).count()
            as u64,
        labels_left_out: (rows.len() - exported.len()) as u64,
        labels_tired: tired.len() as u64,
        ..DatasetCounts::default()
    };
    if let Some(server) = &round.server_export {
        counts.export_mismatches = export.iter().filter(|(t, c)| server.get(t) != Some(c)).count()
            as u64
            + server.keys().filter(|t| !export.contains_key(t)).count() as u64;
    }
    for &t in &regular {
        counts.export_right += right(&export, t);
        counts.untired_export_right += right(&untired, t);
        counts.majority_vote_right += right(&mv, t);
        counts.ds_right += right(&ds, t);
        counts.baseline_right += right(&base, t);
    }

    let attacked: Vec<u32> = {
        let mut hit: Vec<u32> = rows
            .iter()
            .filter(|r| r.unpoisoned.is_some() && !record.tasks[r.task as usize].is_gold())
            .map(|r| r.task)
            .collect();
        hit.sort_unstable();
        hit.dedup();
        hit
    };
    counts.attacked = attacked.len() as u64;
    if !attacked.is_empty() {
        let export_cf =
            consensus(kind, Method::Export, rows.iter().filter(kept).map(counterfactual));
        let mv_cf = consensus(kind, Method::MajorityVote, rows.iter().map(counterfactual));
        let ds_cf = consensus(kind, Method::DawidSkene, rows.iter().map(counterfactual));
        let base_cf = consensus(
            kind,
            Method::MajorityVote,
            rows.iter().filter(naive_kept).map(counterfactual),
        );
        let turned = |actual: &BTreeMap<u32, i64>, cf: &BTreeMap<u32, i64>| {
            attacked
                .iter()
                .filter(|&&t| {
                    let target = target_of(kind, round.truth[t as usize].value);
                    actual.get(&t) == Some(&target) && cf.get(&t) != Some(&target)
                })
                .count() as u64
        };
        counts.export_poisoned = turned(&export, &export_cf);
        counts.majority_vote_poisoned = turned(&mv, &mv_cf);
        counts.ds_poisoned = turned(&ds, &ds_cf);
        counts.baseline_poisoned = turned(&base, &base_cf);
    }
    counts
}
