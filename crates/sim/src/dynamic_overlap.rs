//! Dynamic overlap replayed on real crowd data: every task starts with `start` of its real
//! labels, drawn in a seeded order, and each round the core's rule
//! ([`plumbline_core::adaptive::overlap::next_round`]) picks the tasks that get one more, until
//! none is picked or their labels run out. The labels collected are then aggregated with
//! Dawid-Skene, as the export would, and compared in the same run with Dawid-Skene over every
//! label (the full overlap) and over a fixed overlap spending the same number of labels.

use crate::replay::ReplayError;
use crate::rng::{Rng, Tag};
use plumbline_core::adaptive::overlap::{Answer, OverlapRule, next_round};
use plumbline_infer::{Dataset, DsOptions, Label, dawid_skene};
use serde::Serialize;
use std::collections::HashMap;

/// The outcome of one replay.
#[derive(Clone, Debug, Serialize)]
pub struct OverlapReplay {
    /// Tasks in the dataset.
    pub tasks: usize,
    /// Tasks with truth, on which accuracy is measured.
    pub evaluated: usize,
    /// Every label in the dataset.
    pub labels_full: usize,
    /// Dawid-Skene over every label.
    pub accuracy_full: f64,
    /// Labels the dynamic overlap collected.
    pub labels_dynamic: usize,
    /// `labels_dynamic / labels_full`.
    pub share: f64,
    /// Dawid-Skene over the labels it collected.
    pub accuracy_dynamic: f64,
    /// Rounds it ran, the first included.
    pub rounds: u32,
    /// Labels of the fixed overlap with the same budget (each task the same share of its
    /// labels, at least one).
    pub labels_fixed: usize,
    /// Dawid-Skene over them.
    pub accuracy_fixed: f64,
}

/// Replays `rule` on `data`, drawing each task's labels in the order `seed` gives.
pub fn replay(
    data: &Dataset,
    truth: &HashMap<String, String>,
    rule: &OverlapRule,
    seed: u64,
) -> Result<OverlapReplay, ReplayError> {
    if data.n_classes() < 2 {
        return Err(ReplayError::TooFewClasses(data.n_classes()));
    }
    let truth_class: Vec<Option<u32>> = (0..data.n_tasks())
        .map(|t| truth.get(data.tasks().name(t as u32)).and_then(|c| data.class_index(c)))
        .collect();
    let evaluated = truth_class.iter().flatten().count();
    if evaluated == 0 {
        return Err(ReplayError::NoTruth);
    }
    let pools: Vec<Vec<Label>> = (0..data.n_tasks())
        .map(|t| {
            let mut pool = data.task_labels(t).to_vec();
            Rng::stream(seed, Tag::Adaptive, &[t as u64]).shuffle(&mut pool);
            pool
        })
        .collect();
    let classes = data.n_classes() as u32;
    let mut taken: Vec<usize> = pools.iter().map(|p| p.len().min(rule.start as usize)).collect();
    let mut rounds = 1;
    loop {
        let answers: Vec<Vec<Answer>> = pools
            .iter()
            .zip(&taken)
            .map(|(pool, &n)| {
                pool[..n].iter().map(|l| Answer { labeler: l.worker, class: l.class }).collect()
            })
            .collect();
        let more: Vec<u32> = next_round(&answers, classes, data.n_workers(), rule)
            .into_iter()
            .filter(|&t| taken[t as usize] < pools[t as usize].len())
            .collect();
        if more.is_empty() {
            break;
        }
        for t in more {
            taken[t as usize] += 1;
        }
        rounds += 1;
    }
    let labels_full = data.n_labels();
    let labels_dynamic: usize = taken.iter().sum();
    let share = labels_dynamic as f64 / labels_full as f64;
    let fixed: Vec<usize> = pools
        .iter()
        .map(|p| ((p.len() as f64 * share).round() as usize).clamp(1, p.len()))
        .collect();
    let accuracy = |counts: &[usize]| -> f64 {
        let labels =
            pools.iter().zip(counts).flat_map(|(pool, &n)| pool[..n].iter().copied()).collect();
        let subset =
            Dataset::from_indices(data.n_tasks(), data.n_workers(), data.n_classes(), labels)
                .expect("indices from the dataset");
        let fit = dawid_skene(&subset, &DsOptions::default());
        let right = truth_class
            .iter()
            .zip(&fit.result.labels)
            .filter(|(truth, label)| truth.is_some_and(|t| t == **label))
            .count();
        right as f64 / evaluated as f64
    };
    Ok(OverlapReplay {
        tasks: data.n_tasks(),
        evaluated,
        labels_full,
        accuracy_full: accuracy(&pools.iter().map(Vec::len).collect::<Vec<_>>()),
        labels_dynamic,
        share,
        accuracy_dynamic: accuracy(&taken),
        rounds,
        labels_fixed: fixed.iter().sum(),
        accuracy_fixed: accuracy(&fixed),
    })
}
