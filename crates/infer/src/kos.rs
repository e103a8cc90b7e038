//! KOS (Karger, Oh and Shah, "Budget-optimal task allocation for reliable crowdsourcing
//! systems", Operations Research 62(1), 2014): belief propagation for binary labels. Each
//! (task, worker) edge carries a task message `x`, the evidence for the task's class from the
//! task's other workers, and a worker message `y`, the worker's reliability as judged on its
//! other tasks; a task's answer is the sign of its workers' reliabilities times their labels.

use crate::categorical::Categorical;
use crate::synthetic::SplitMix64;
use crate::{Dataset, Error, Result};

/// The rounds and the draw of the starting reliabilities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KosOptions {
    /// Message-passing rounds.
    pub n_iter: usize,
    /// Seeds the starting reliabilities, drawn from N(1, 1) as in the paper.
    pub seed: u64,
}

impl Default for KosOptions {
    /// crowd-kit 1.4's 100 rounds.
    fn default() -> Self {
        Self { n_iter: 100, seed: 0 }
    }
}

/// Fits KOS on binary labels (class 0 counts as +1, class 1 as −1). Unlike crowd-kit, which
/// lets the messages grow until they pass 10^300 and then stops, the worker messages are
/// scaled to a largest magnitude of 1 after each round: the signs, and so the answers, are
/// those of the unscaled messages, and all `n_iter` rounds run. The probabilities are 1 for
/// the answer (KOS estimates no posterior); a task whose evidence is exactly balanced gets
/// its plain vote shares. The skills are each worker's agreement with the answers.
pub fn kos(data: &Dataset, options: &KosOptions) -> Result<Categorical> {
    if data.n_classes() != 2 {
        return Err(Error::NotBinary { method: "kos", classes: data.n_classes() });
    }
    let labels = data.labels();
    let sign: Vec<f64> = labels.iter().map(|l| if l.class == 0 { 1.0 } else { -1.0 }).collect();
    let mut rng = SplitMix64(options.seed);
    let mut y: Vec<f64> = labels.iter().map(|_| 1.0 + rng.normal()).collect();
    let mut x = vec![0.0; labels.len()];
    let mut per_task = vec![0.0; data.n_tasks()];
    let mut per_worker = vec![0.0; data.n_workers()];
    for _ in 0..options.n_iter {
        // x(i→j) = Σ over the task's other edges of A·y.
        per_task.fill(0.0);
        for (e, l) in labels.iter().enumerate() {
            per_task[l.task as usize] += sign[e] * y[e];
        }
        for (e, l) in labels.iter().enumerate() {
            x[e] = per_task[l.task as usize] - sign[e] * y[e];
        }
        // y(j→i) = Σ over the worker's other edges of A·x.
        per_worker.fill(0.0);
        for (e, l) in labels.iter().enumerate() {
            per_worker[l.worker as usize] += sign[e] * x[e];
        }
        for (e, l) in labels.iter().enumerate() {
            y[e] = per_worker[l.worker as usize] - sign[e] * x[e];
        }
        let largest = y.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        if largest > 0.0 && largest.is_finite() {
            y.iter_mut().for_each(|v| *v /= largest);
        }
    }
    per_task.fill(0.0);
    for (e, l) in labels.iter().enumerate() {
        per_task[l.task as usize] += sign[e] * y[e];
    }
    let shares = crate::categorical::vote_shares(data, None);
    let mut probs = Vec::with_capacity(data.n_tasks() * 2);
    for (t, evidence) in per_task.iter().enumerate() {
        if *evidence > 0.0 {
            probs.extend([1.0, 0.0]);
        } else if *evidence < 0.0 {
            probs.extend([0.0, 1.0]);
        } else {
            probs.extend_from_slice(&shares[2 * t..2 * t + 2]);
        }
    }
    let mut answers = Categorical::from_probs(2, probs, Vec::new(), options.n_iter);
    answers.skills = crate::categorical::agreement_with(data, &answers.labels);
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{SyntheticSpec, synthetic};

    #[test]
    fn kos_recovers_a_binary_crowd_and_refuses_more_classes() {
        let spec = SyntheticSpec {
            n_tasks: 300,
            n_workers: 30,
            n_classes: 2,
            labels_per_task: 5,
            accuracy_min: 0.55,
            accuracy_max: 0.9,
        };
        let (data, truth) = synthetic(&spec, 7);
        let fit = kos(&data, &KosOptions::default()).unwrap();
        let right = fit.labels.iter().zip(&truth).filter(|(a, b)| a == b).count();
        let mv = crate::majority_vote(&data);
        let mv_right = mv.labels.iter().zip(&truth).filter(|(a, b)| a == b).count();
        assert!(right + 3 >= mv_right, "KOS {right} against majority vote {mv_right} of 300");
        assert!(right > 240, "{right} of 300");
        assert_eq!(fit, kos(&data, &KosOptions::default()).unwrap(), "the same seed, the same fit");
        let three = SyntheticSpec { n_classes: 3, ..spec };
        let error = kos(&synthetic(&three, 7).0, &KosOptions::default()).unwrap_err();
        assert!(error.to_string().contains("binary"), "{error}");
    }
}
