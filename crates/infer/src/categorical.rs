//! The result shared by every categorical aggregator, majority vote, and Wawa.

use serde::Serialize;

use crate::Dataset;

/// What a categorical aggregator concludes.
///
/// Per task: a probability for each class, the most probable class (ties go to the smallest
/// class index, see [`Dataset`] for the class order) and that class's probability as the
/// confidence. Per worker: a skill, which for every method in this crate is the worker's
/// estimated probability of giving the true class, in `[0, 1]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Categorical {
    n_classes: usize,
    probs: Vec<f64>,
    /// The chosen class of each task.
    pub labels: Vec<u32>,
    /// The probability of the chosen class of each task, in `[0, 1]`.
    pub confidence: Vec<f64>,
    /// Each worker's estimated probability of giving the true class, in `[0, 1]`.
    pub skills: Vec<f64>,
    /// How many rounds an iterative method ran; 0 for one-pass methods.
    pub iterations: usize,
}

impl Categorical {
    /// Wraps per-task class probabilities (`n_tasks * n_classes`, rows summing to 1) and
    /// derives the labels and confidences from them.
    pub(crate) fn from_probs(
        n_classes: usize,
        probs: Vec<f64>,
        skills: Vec<f64>,
        iterations: usize,
    ) -> Self {
        let n_tasks = probs.len().checked_div(n_classes).unwrap_or(0);
        let mut labels = Vec::with_capacity(n_tasks);
        let mut confidence = Vec::with_capacity(n_tasks);
        if n_classes > 0 {
            for row in probs.chunks_exact(n_classes) {
                let (k, p) = argmax(row);
                labels.push(k as u32);
                confidence.push(p.clamp(0.0, 1.0));
            }
        }
        Self { n_classes, probs, labels, confidence, skills, iterations }
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Number of tasks.
    pub fn n_tasks(&self) -> usize {
        self.labels.len()
    }

    /// The class probabilities of task `task`, indexed by class.
    pub fn task_probs(&self, task: usize) -> &[f64] {
        &self.probs[task * self.n_classes..(task + 1) * self.n_classes]
    }

    /// All class probabilities, task after task.
    pub fn probs(&self) -> &[f64] {
        &self.probs
    }
}

/// Majority vote: each task gets the class most workers chose.
///
/// The probabilities are the vote shares; ties go to the smallest class index. A worker's
/// skill is the share of its labels that agree with the majority.
pub fn majority_vote(data: &Dataset) -> Categorical {
    let probs = vote_shares(data, None);
    let labels = Categorical::from_probs(data.n_classes(), probs, Vec::new(), 0);
    let skills = agreement_with(data, &labels.labels);
    Categorical { skills, ..labels }
}

/// Wawa ("worker agreement with aggregate"): majority vote, then a second vote in which each
/// worker counts with weight equal to its agreement with the first.
///
/// A task whose workers all have weight 0 keeps its plain vote shares rather than becoming a
/// uniform guess. The reported skill is the weight, the agreement with the majority vote.
pub fn wawa(data: &Dataset) -> Categorical {
    let mv = majority_vote(data);
    let probs = vote_shares(data, Some(&mv.skills));
    Categorical::from_probs(data.n_classes(), probs, mv.skills, 1)
}

/// Per task, the (optionally weighted) share of labels per class. A task without labels, or
/// whose weights are all zero, falls back to the unweighted shares, then to uniform.
pub(crate) fn vote_shares(data: &Dataset, weights: Option<&[f64]>) -> Vec<f64> {
    let k = data.n_classes();
    let mut probs = vec![0.0; data.n_tasks() * k];
    for (t, row) in probs.chunks_exact_mut(k.max(1)).enumerate() {
        let labels = data.task_labels(t);
        if let Some(w) = weights {
            for l in labels {
                row[l.class as usize] += w[l.worker as usize];
            }
        }
        let total: f64 = row.iter().sum();
        if total <= 0.0 {
            row.fill(0.0);
            for l in labels {
                row[l.class as usize] += 1.0;
            }
        }
        normalize_or_uniform(row);
    }
    probs
}

/// Per worker, the share of its labels equal to `labels[task]`; 0 for a worker with none.
pub(crate) fn agreement_with(data: &Dataset, labels: &[u32]) -> Vec<f64> {
    let mut agree = vec![0.0; data.n_workers()];
    let mut count = vec![0.0; data.n_workers()];
    for l in data.labels() {
        count[l.worker as usize] += 1.0;
        if labels[l.task as usize] == l.class {
            agree[l.worker as usize] += 1.0;
        }
    }
    agree.iter().zip(&count).map(|(a, n)| if *n > 0.0 { a / n } else { 0.0 }).collect()
}

/// The first index of the largest value, so that ties go to the smallest index.
pub(crate) fn argmax(row: &[f64]) -> (usize, f64) {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, &p) in row.iter().enumerate() {
        if p > best.1 {
            best = (i, p);
        }
    }
    if best.1 == f64::NEG_INFINITY { (0, 0.0) } else { best }
}

/// Scales a row of non-negative weights to sum to 1, or makes it uniform when it sums to 0.
pub(crate) fn normalize_or_uniform(row: &mut [f64]) {
    let total: f64 = row.iter().sum();
    if total > 0.0 && total.is_finite() {
        row.iter_mut().for_each(|p| *p /= total);
    } else {
        let u = 1.0 / row.len() as f64;
        row.fill(u);
    }
}

/// Turns a row of log-weights into probabilities in place and returns the log of their sum,
/// shifting by the maximum first so that nothing overflows or underflows to all zeros.
pub(crate) fn softmax_in_place(row: &mut [f64]) -> f64 {
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        let u = 1.0 / row.len() as f64;
        row.fill(u);
        return f64::NEG_INFINITY;
    }
    let mut total = 0.0;
    for x in row.iter_mut() {
        *x = (*x - max).exp();
        total += *x;
    }
    row.iter_mut().for_each(|p| *p /= total);
    max + total.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(rows: &[(&str, &str, &str)]) -> Dataset {
        Dataset::from_rows(rows.iter().copied())
    }

    #[test]
    fn majority_vote_counts_and_breaks_ties_to_the_smallest_class() {
        let d = data(&[
            ("t1", "a", "x"),
            ("t1", "b", "x"),
            ("t1", "c", "y"),
            ("t2", "a", "y"),
            ("t2", "b", "x"),
        ]);
        let mv = majority_vote(&d);
        assert_eq!(mv.labels, [0, 0]);
        assert_eq!(mv.task_probs(0), [2.0 / 3.0, 1.0 / 3.0]);
        assert_eq!(mv.confidence, [2.0 / 3.0, 0.5]);
        // a: agrees on t1, not on t2; b: agrees on both; c: disagrees.
        assert_eq!(mv.skills, [0.5, 1.0, 0.0]);
    }

    #[test]
    fn wawa_lets_reliable_workers_outvote_unreliable_ones() {
        // On t1..t3 the workers a, b agree with the majority and c, d do not; on t4 the two
        // unreliable workers outnumber the one reliable worker, yet lose under Wawa.
        let d = data(&[
            ("t1", "a", "x"),
            ("t1", "b", "x"),
            ("t1", "c", "y"),
            ("t2", "a", "y"),
            ("t2", "b", "y"),
            ("t2", "d", "x"),
            ("t3", "a", "x"),
            ("t3", "b", "x"),
            ("t3", "c", "y"),
            ("t3", "d", "y"),
            ("t4", "a", "y"),
            ("t4", "c", "x"),
            ("t4", "d", "x"),
        ]);
        let mv = majority_vote(&d);
        assert_eq!(mv.labels[3], 0);
        let w = wawa(&d);
        // Skills from majority vote: a 3/4, b 3/3, c 1/3, d 1/3 (t3 ties to x, so c and d miss it).
        assert_eq!(w.skills, [0.75, 1.0, 1.0 / 3.0, 1.0 / 3.0]);
        // t4: y gets 0.75, x gets 2/3.
        assert_eq!(w.labels[3], 1);
        let p = w.task_probs(3);
        assert!((p[1] - 0.75 / (0.75 + 2.0 / 3.0)).abs() < 1e-12);
    }

    #[test]
    fn softmax_survives_huge_log_weights() {
        // exp(-1000) underflows to 0, so a naive softmax would divide 0 by 0.
        let mut row = [-1000.0, -1000.0 + 2f64.ln()];
        let lse = softmax_in_place(&mut row);
        assert!((row[0] - 1.0 / 3.0).abs() < 1e-12, "{row:?}");
        assert!((lse - (-1000.0 + 3f64.ln())).abs() < 1e-12);
    }
}
