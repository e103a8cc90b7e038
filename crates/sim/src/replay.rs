//! Replays of real crowd data through scoring and settlement.

use plumbline_core::label::Label;
use plumbline_core::settle::{BatchOutcome, Settlement, Tier, settle};
use plumbline_core::spec::{ExperimentSpec, QuestionKind};
use plumbline_core::synthetic::{SplitMix64, binary_spec};
use plumbline_core::task::Task;
use plumbline_core::{Address, B256};
use plumbline_infer::metrics::{Calibration, calibration};
use plumbline_infer::{Dataset, DsOptions, calibrated_confidence, dawid_skene};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// What can go wrong before a replay starts.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The dataset has fewer than two classes, so nothing can be scored.
    #[error("the labels use {0} class(es); a replay needs at least 2")]
    TooFewClasses(usize),
    /// More classes than a choice question holds.
    #[error("the labels use {0} classes; at most {max} are supported", max = plumbline_core::limits::CHOICE_OPTIONS_MAX)]
    TooManyClasses(usize),
    /// No task of the truth file appears among the labels.
    #[error("no task of the truth file appears in the labels")]
    NoTruth,
    /// The gold fraction is outside [0, 1).
    #[error("the gold fraction must be at least 0 and below 1, got {0}")]
    GoldFraction(f64),
}

/// How to replay.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// Share of the tasks with truth that become hidden gold.
    pub gold_fraction: f64,
    /// Seed of the gold draw.
    pub seed: u64,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions { gold_fraction: 0.1, seed: 1 }
    }
}

/// One worker's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct WorkerOutcome {
    /// The worker's name in the dataset.
    pub worker: String,
    /// Labels given.
    pub labels: usize,
    /// Combined score (−1..1), when anything was scored.
    pub score: Option<f64>,
    /// The tier settlement gave it.
    pub tier: Tier,
    /// Accuracy on tasks with truth that were not gold, when it labeled any.
    pub true_accuracy: Option<f64>,
    /// How many such tasks it labeled.
    pub truth_labels: usize,
}

/// Counts over the workers with at least [`WORKER_LABELS_MIN`] labels.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TierCounts {
    /// Workers in the group.
    pub workers: usize,
    /// Of them rewarded.
    pub rewarded: usize,
    /// Left even.
    pub even: usize,
    /// Slashed.
    pub slashed: usize,
}

/// The fewest labels for a worker to count in the accuracy groups.
pub const WORKER_LABELS_MIN: usize = 20;

/// Bins of the export's reliability diagram.
pub const CALIBRATION_BINS: usize = 10;

/// The replay's report.
#[derive(Clone, Debug, Serialize)]
pub struct ReplayReport {
    /// Tasks labeled.
    pub tasks: usize,
    /// Workers.
    pub workers: usize,
    /// Labels (after keeping the last of repeated worker-task pairs).
    pub labels: usize,
    /// Classes, in index order.
    pub classes: Vec<String>,
    /// Tasks used as hidden gold.
    pub gold_tasks: usize,
    /// Tasks with truth that were not gold: where accuracies are measured.
    pub evaluation_tasks: usize,
    /// The gold draw's seed.
    pub seed: u64,
    /// Per worker, in order of first appearance.
    pub per_worker: Vec<WorkerOutcome>,
    /// Workers with true accuracy ≥ 0.8 and enough labels.
    pub accurate: TierCounts,
    /// Workers with true accuracy < 0.6 and enough labels.
    pub inaccurate: TierCounts,
    /// All workers.
    pub all: TierCounts,
    /// Dawid-Skene over the labels of labelers not slashed, on the evaluation tasks (a task
    /// left without labels counts as wrong).
    pub exported_accuracy: f64,
    /// Dawid-Skene over everyone, on the same tasks.
    pub ds_accuracy: f64,
    /// The export's accuracy on the gold tasks (whose answers its model does not see): what
    /// its confidence is recalibrated to, so a calibration fitted on them inherits the gap
    /// between this and `exported_accuracy`.
    pub exported_gold_accuracy: f64,
    /// How the export's confidence (the posterior of its class tempered on the gold tasks)
    /// matches its accuracy on the evaluation tasks it has labels for, over ten bins.
    pub exported_calibration: Option<Calibration>,
    /// The same for Dawid-Skene's raw posterior.
    pub posterior_calibration: Option<Calibration>,
    /// The temperature fitted on the gold tasks.
    pub temperature: f64,
    /// The uniform floor fitted with it.
    pub floor: f64,
    /// Labels left out of the export.
    pub labels_left_out: usize,
    /// The settlement itself.
    #[serde(skip)]
    pub settlement: Settlement,
}

/// Replays `data` against `truth` (task name → class name).
pub fn replay(
    data: &Dataset,
    truth: &HashMap<String, String>,
    options: &ReplayOptions,
) -> Result<ReplayReport, ReplayError> {
    let classes = data.classes().to_vec();
    if classes.len() < 2 {
        return Err(ReplayError::TooFewClasses(classes.len()));
    }
    if classes.len() > plumbline_core::limits::CHOICE_OPTIONS_MAX {
        return Err(ReplayError::TooManyClasses(classes.len()));
    }
    if !(0.0..1.0).contains(&options.gold_fraction) {
        return Err(ReplayError::GoldFraction(options.gold_fraction));
    }
    // Truth as class indices, for tasks that have labels and a truth among the classes.
    let truth_class: Vec<Option<u32>> = (0..data.n_tasks())
        .map(|t| truth.get(data.tasks().name(t as u32)).and_then(|c| data.class_index(c)))
        .collect();
    let mut with_truth: Vec<usize> =
        (0..data.n_tasks()).filter(|&t| truth_class[t].is_some()).collect();
    if with_truth.is_empty() {
        return Err(ReplayError::NoTruth);
    }
    // A seeded shuffle of the tasks with truth; the first share becomes gold.
    let mut rng = SplitMix64::new(options.seed);
    for i in (1..with_truth.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        with_truth.swap(i, j);
    }
    let gold_count = (options.gold_fraction * with_truth.len() as f64).round() as usize;
    let mut is_gold = vec![false; data.n_tasks()];
    for &t in &with_truth[..gold_count] {
        is_gold[t] = true;
    }

    let spec = replay_spec(&classes);
    let tasks: Vec<Task> = (0..data.n_tasks())
        .map(|t| Task {
            id: data.tasks().name(t as u32).to_owned(),
            prompt: String::new().into(),
            responses: Vec::new(),
            gold: is_gold[t]
                .then(|| Label::Int(i64::from(truth_class[t].expect("gold has truth")))),
            meta: Default::default(),
        })
        .collect();
    let mut per_worker_labels: Vec<Vec<(u32, Label)>> = vec![Vec::new(); data.n_workers()];
    for label in data.labels() {
        per_worker_labels[label.worker as usize]
            .push((label.task, Label::Int(i64::from(label.class))));
    }
    let addresses: Vec<Address> = (0..data.n_workers()).map(worker_address).collect();
    let batches: Vec<BatchOutcome> = per_worker_labels
        .into_iter()
        .enumerate()
        .map(|(w, labels)| BatchOutcome {
            batch_id: w as u64,
            labeler: addresses[w],
            cohort: None,
            stake: spec.stake_per_batch,
            labels: Some(labels),
        })
        .collect();
    let settlement = settle(&spec, &tasks, &batches, &BTreeMap::new());
    let result_of: HashMap<Address, usize> =
        settlement.labelers.iter().enumerate().map(|(i, l)| (l.labeler, i)).collect();

    let evaluation: Vec<bool> =
        (0..data.n_tasks()).map(|t| truth_class[t].is_some() && !is_gold[t]).collect();
    let mut right = vec![0usize; data.n_workers()];
    let mut counted = vec![0usize; data.n_workers()];
    let mut given = vec![0usize; data.n_workers()];
    for label in data.labels() {
        let w = label.worker as usize;
        given[w] += 1;
        if evaluation[label.task as usize] {
            counted[w] += 1;
            right[w] += usize::from(truth_class[label.task as usize] == Some(label.class));
        }
    }
    let per_worker: Vec<WorkerOutcome> = (0..data.n_workers())
        .map(|w| {
            let result = &settlement.labelers[result_of[&addresses[w]]];
            WorkerOutcome {
                worker: data.workers().name(w as u32).to_owned(),
                labels: given[w],
                score: result.score.map(|s| s as f64 / 1e6),
                tier: result.tier,
                true_accuracy: (counted[w] > 0).then(|| right[w] as f64 / counted[w] as f64),
                truth_labels: counted[w],
            }
        })
        .collect();
    let group = |keep: &dyn Fn(&WorkerOutcome) -> bool| {
        let mut counts = TierCounts::default();
        for outcome in per_worker.iter().filter(|o| keep(o)) {
            counts.workers += 1;
            match outcome.tier {
                Tier::Rewarded => counts.rewarded += 1,
                Tier::Even => counts.even += 1,
                Tier::Slashed => counts.slashed += 1,
            }
        }
        counts
    };
    let enough = |o: &WorkerOutcome| o.labels >= WORKER_LABELS_MIN;
    let accurate = group(&|o| enough(o) && o.true_accuracy.is_some_and(|a| a >= 0.8));
    let inaccurate = group(&|o| enough(o) && o.true_accuracy.is_some_and(|a| a < 0.6));
    let all = group(&|_| true);

    let slashed: Vec<bool> = per_worker.iter().map(|o| o.tier == Tier::Slashed).collect();
    let kept: Vec<plumbline_infer::Label> =
        data.labels().iter().filter(|l| !slashed[l.worker as usize]).copied().collect();
    let labels_left_out = data.n_labels() - kept.len();
    let exported = Dataset::from_indices(data.n_tasks(), data.n_workers(), classes.len(), kept)
        .expect("indices come from the dataset");
    let exported_fit = dawid_skene(&exported, &DsOptions::default());
    let everyone_fit = dawid_skene(data, &DsOptions::default());
    let has_labels: Vec<bool> =
        (0..data.n_tasks()).map(|t| !exported.task_labels(t).is_empty()).collect();
    let accuracy_of = |predicted: &[u32], covered: &dyn Fn(usize) -> bool| {
        let mut hits = 0usize;
        let mut total = 0usize;
        for t in (0..data.n_tasks()).filter(|&t| evaluation[t]) {
            total += 1;
            hits += usize::from(covered(t) && Some(predicted[t]) == truth_class[t]);
        }
        hits as f64 / total.max(1) as f64
    };
    let exported_accuracy = accuracy_of(&exported_fit.result.labels, &|t| has_labels[t]);
    let gold_right = (0..data.n_tasks())
        .filter(|&t| is_gold[t])
        .filter(|&t| has_labels[t] && Some(exported_fit.result.labels[t]) == truth_class[t])
        .count();
    let exported_gold_accuracy = gold_right as f64 / gold_count.max(1) as f64;
    let ds_accuracy = accuracy_of(&everyone_fit.result.labels, &|_| true);
    // The export's confidence is the posterior tempered on the gold tasks (see
    // `plumbline_infer::calibrated_confidence`); the raw posterior is measured beside it.
    let gold_class: Vec<Option<u32>> =
        (0..data.n_tasks()).map(|t| truth_class[t].filter(|_| is_gold[t])).collect();
    let (recalibration, confidence) = calibrated_confidence(&exported_fit.result, &gold_class);
    let calibration_of = |confidence: &[f64]| {
        let predictions: Vec<(f64, bool)> = (0..data.n_tasks())
            .filter(|&t| evaluation[t] && has_labels[t])
            .map(|t| (confidence[t], Some(exported_fit.result.labels[t]) == truth_class[t]))
            .collect();
        calibration(&predictions, CALIBRATION_BINS)
    };
    let exported_calibration = calibration_of(&confidence);
    let posterior_calibration = calibration_of(&exported_fit.result.confidence);

    Ok(ReplayReport {
        tasks: data.n_tasks(),
        workers: data.n_workers(),
        labels: data.n_labels(),
        classes,
        gold_tasks: gold_count,
        evaluation_tasks: evaluation.iter().filter(|e| **e).count(),
        seed: options.seed,
        per_worker,
        accurate,
        inaccurate,
        all,
        exported_accuracy,
        ds_accuracy,
        exported_gold_accuracy,
        exported_calibration,
        posterior_calibration,
        temperature: recalibration.temperature,
        floor: recalibration.floor,
        labels_left_out,
        settlement,
    })
}

/// A spec for the replay: the question's classes, defaults for everything the mechanism uses.
fn replay_spec(classes: &[String]) -> ExperimentSpec {
    let mut spec = binary_spec(1, 1, 0);
    spec.title = "Replay of crowd data".into();
    spec.question.kind = if classes.len() == 2 {
        QuestionKind::Binary { options: [classes[0].clone(), classes[1].clone()] }
    } else {
        QuestionKind::Choice { options: classes.to_vec() }
    };
    spec
}

/// A stand-in address per worker: distinct, and ordered like the worker indices.
fn worker_address(worker: usize) -> Address {
    let mut bytes = B256::ZERO;
    bytes[24..].copy_from_slice(&(worker as u64 + 1).to_be_bytes());
    Address::from_word(bytes)
}
