//! Aggregators for numeric labels: mean, median, and their reliability-weighted versions.

use serde::Serialize;

use crate::NumericDataset;

/// What a numeric aggregator concludes.
///
/// Confidence and skill use the agreement of the rating kind, `1 - |x - y| / (max - min)`,
/// with `max - min` the range of all labels in the dataset: a task's confidence is the mean
/// agreement of its labels with the estimate, a worker's skill the mean agreement of its
/// labels with the estimates of their tasks. Both lie in `[0, 1]`; when every label is the
/// same, both are 1.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Numeric {
    /// The estimate for each task.
    pub values: Vec<f64>,
    /// Each task's mean agreement of its labels with the estimate, in `[0, 1]`.
    pub confidence: Vec<f64>,
    /// Each worker's mean agreement with the estimates, in `[0, 1]`.
    pub skills: Vec<f64>,
    /// How many rounds an iterative method ran; 0 for one-pass methods.
    pub iterations: usize,
}

/// The plain mean of each task's labels.
pub fn mean(data: &NumericDataset) -> Numeric {
    let values = (0..data.n_tasks())
        .map(|t| {
            let labels = data.task_labels(t);
            labels.iter().map(|l| l.value).sum::<f64>() / labels.len().max(1) as f64
        })
        .collect();
    finish(data, values, 0)
}

/// The median of each task's labels; with an even count, the mean of the two middle ones.
pub fn median(data: &NumericDataset) -> Numeric {
    let mut scratch = Vec::new();
    let values = (0..data.n_tasks())
        .map(|t| {
            scratch.clear();
            scratch.extend(data.task_labels(t).iter().map(|l| l.value));
            scratch.sort_unstable_by(f64::total_cmp);
            let n = scratch.len();
            match n {
                0 => 0.0,
                _ if n % 2 == 1 => scratch[n / 2],
                _ => (scratch[n / 2 - 1] + scratch[n / 2]) / 2.0,
            }
        })
        .collect();
    finish(data, values, 0)
}

/// Stopping rule of the reliability-weighted mean.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightedMeanOptions {
    /// The most rounds to run.
    pub n_iter: usize,
    /// Stop when no estimate moves by more than this fraction of the label range.
    pub tol: f64,
    /// Pseudo-labels at the pooled variance added to every worker's own, so that a worker
    /// with one label that happens to be exact does not get infinite weight.
    pub prior_labels: f64,
}

impl Default for WeightedMeanOptions {
    /// 100 rounds, tolerance 1e-9, one pseudo-label.
    fn default() -> Self {
        Self { n_iter: 100, tol: 1e-9, prior_labels: 1.0 }
    }
}

/// The reliability-weighted mean: each worker's labels are the truth plus noise of a variance
/// of its own, and each task's estimate weights labels by the inverse of that variance.
///
/// Estimates and variances are fitted by alternating the two updates from the plain mean,
/// which is maximum likelihood for the Gaussian noise model with a conjugate-style prior on
/// each variance.
pub fn weighted_mean(data: &NumericDataset, options: &WeightedMeanOptions) -> Numeric {
    let fit = fit_reliability(data, options);
    finish(data, fit.values, fit.iterations)
}

/// The reliability-weighted median: each task's weighted median of its labels, with the
/// worker weights of [`weighted_mean`]. It resists a single wild label on a task the way the
/// median does, while still letting reliable workers count for more.
///
/// The weighted median is the smallest label whose cumulative weight, in sorted order,
/// reaches half the task's total; when it reaches exactly half, the mean of that label and the
/// next, as for the plain median with an even count.
pub fn weighted_median(data: &NumericDataset, options: &WeightedMeanOptions) -> Numeric {
    let fit = fit_reliability(data, options);
    let mut scratch: Vec<(f64, f64)> = Vec::new();
    let values = (0..data.n_tasks())
        .map(|t| {
            scratch.clear();
            scratch.extend(data.task_labels(t).iter().map(|l| (l.value, fit.weight(l.worker))));
            weighted_median_of(&mut scratch)
        })
        .collect();
    finish(data, values, fit.iterations)
}

fn weighted_median_of(pairs: &mut [(f64, f64)]) -> f64 {
    pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = pairs.iter().map(|p| p.1).sum();
    let mut cumulative = 0.0;
    for (i, &(value, weight)) in pairs.iter().enumerate() {
        cumulative += weight;
        if cumulative > total / 2.0 {
            return value;
        }
        if cumulative == total / 2.0 {
            return pairs.get(i + 1).map_or(value, |next| (value + next.0) / 2.0);
        }
    }
    pairs.last().map_or(0.0, |p| p.0)
}

/// The fitted Gaussian worker-noise model behind [`weighted_mean`] and [`weighted_median`].
struct Reliability {
    values: Vec<f64>,
    /// Inverse noise variance per worker; empty when every label agrees and all weigh the same.
    weights: Vec<f64>,
    iterations: usize,
}

impl Reliability {
    fn weight(&self, worker: u32) -> f64 {
        self.weights.get(worker as usize).copied().unwrap_or(1.0)
    }
}

fn fit_reliability(data: &NumericDataset, options: &WeightedMeanOptions) -> Reliability {
    let mut values = mean(data).values;
    let labels = data.labels();
    let n = labels.len();
    let pooled = labels.iter().map(|l| (l.value - values[l.task as usize]).powi(2)).sum::<f64>()
        / n.max(1) as f64;
    let range = label_range(data);
    if n == 0 || pooled <= 0.0 || range <= 0.0 {
        // Every worker agrees with every estimate: there is nothing to weight.
        return Reliability { values, weights: Vec::new(), iterations: 0 };
    }
    let w_n = data.n_workers();
    let mut sq = vec![0.0; w_n];
    let mut seen = vec![0.0; w_n];
    let mut weight = vec![0.0; w_n];
    let mut iterations = 0;
    for round in 1..=options.n_iter {
        sq.fill(0.0);
        seen.fill(0.0);
        for l in labels {
            sq[l.worker as usize] += (l.value - values[l.task as usize]).powi(2);
            seen[l.worker as usize] += 1.0;
        }
        for w in 0..w_n {
            let variance =
                (sq[w] + options.prior_labels * pooled) / (seen[w] + options.prior_labels);
            weight[w] = 1.0 / variance.max(f64::MIN_POSITIVE);
        }
        let mut change: f64 = 0.0;
        for (t, value) in values.iter_mut().enumerate() {
            let (mut num, mut den) = (0.0, 0.0);
            for l in data.task_labels(t) {
                num += weight[l.worker as usize] * l.value;
                den += weight[l.worker as usize];
            }
            if den > 0.0 {
                let new = num / den;
                change = change.max((new - *value).abs());
                *value = new;
            }
        }
        iterations = round;
        if change <= options.tol * range {
            break;
        }
    }
    Reliability { values, weights: weight, iterations }
}

/// The spread of all labels, `max - min`.
fn label_range(data: &NumericDataset) -> f64 {
    let (lo, hi) = data
        .labels()
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), l| (lo.min(l.value), hi.max(l.value)));
    if hi >= lo { hi - lo } else { 0.0 }
}

/// Adds confidences and skills to the estimates.
fn finish(data: &NumericDataset, values: Vec<f64>, iterations: usize) -> Numeric {
    let range = label_range(data);
    let agreement = |x: f64, y: f64| if range > 0.0 { 1.0 - (x - y).abs() / range } else { 1.0 };
    let confidence = (0..data.n_tasks())
        .map(|t| {
            let labels = data.task_labels(t);
            let total: f64 = labels.iter().map(|l| agreement(l.value, values[t])).sum();
            (total / labels.len().max(1) as f64).clamp(0.0, 1.0)
        })
        .collect();
    let mut agree = vec![0.0; data.n_workers()];
    let mut seen = vec![0.0; data.n_workers()];
    for l in data.labels() {
        agree[l.worker as usize] += agreement(l.value, values[l.task as usize]);
        seen[l.worker as usize] += 1.0;
    }
    let skills = agree
        .iter()
        .zip(&seen)
        .map(|(a, n)| if *n > 0.0 { (a / n).clamp(0.0, 1.0) } else { 0.0 })
        .collect();
    Numeric { values, confidence, skills, iterations }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(rows: &[(&str, &str, f64)]) -> NumericDataset {
        NumericDataset::from_rows(rows.iter().copied()).expect("finite values")
    }

    #[test]
    fn mean_and_median_by_hand() {
        let d = data(&[
            ("t1", "a", 1.0),
            ("t1", "b", 2.0),
            ("t1", "c", 6.0),
            ("t2", "a", 4.0),
            ("t2", "b", 5.0),
        ]);
        let m = mean(&d);
        assert_eq!(m.values, [3.0, 4.5]);
        // Range 5: t1 agreements 1 - 2/5, 1 - 1/5, 1 - 3/5 -> mean 0.6.
        assert!((m.confidence[0] - 0.6).abs() < 1e-12);
        let md = median(&d);
        assert_eq!(md.values, [2.0, 4.5]);
        // Worker c: |6 - 2| / 5 off the median.
        assert!((md.skills[2] - 0.2).abs() < 1e-12);
    }

    #[test]
    fn weighted_mean_discounts_a_noisy_worker() {
        // a and b are within 0.1 of the truth everywhere; c is off by 3 on every task.
        let mut rows = Vec::new();
        let names: Vec<String> = (0..10).map(|t| format!("t{t}")).collect();
        for (t, name) in names.iter().enumerate() {
            let truth = t as f64;
            rows.push((name.as_str(), "a", truth + 0.1));
            rows.push((name.as_str(), "b", truth - 0.1));
            rows.push((name.as_str(), "c", truth + 3.0));
        }
        let d = data(&rows);
        let plain = mean(&d);
        let fitted = weighted_mean(&d, &WeightedMeanOptions::default());
        for t in 0..10 {
            assert!((plain.values[t] - t as f64 - 1.0).abs() < 1e-9);
            assert!((fitted.values[t] - t as f64).abs() < 0.2, "{:?}", fitted.values);
        }
        assert!(fitted.skills[2] < fitted.skills[0]);
        assert!(fitted.iterations >= 1);
    }

    #[test]
    fn weighted_median_by_hand() {
        // Weights 1, 2, 1 on 1, 5, 3: half of 4 is reached exactly at 3 (1 + 1), so the median
        // is the mean of 3 and the next label, 5.
        assert_eq!(weighted_median_of(&mut [(1.0, 1.0), (5.0, 2.0), (3.0, 1.0)]), 4.0);
        // Weights 1, 1, 2 on 1, 5, 3: more than half at 3.
        assert_eq!(weighted_median_of(&mut [(1.0, 1.0), (5.0, 1.0), (3.0, 2.0)]), 3.0);
        // Weights 1, 3 on 1, 9: more than half at 9.
        assert_eq!(weighted_median_of(&mut [(9.0, 3.0), (1.0, 1.0)]), 9.0);
        assert_eq!(weighted_median_of(&mut [(2.0, 1.0)]), 2.0);
    }

    #[test]
    fn weighted_median_follows_reliable_workers() {
        // a and b are exact on ten tasks; c and d are off by 2 and 3. On the last task a alone
        // faces c and d: the plain median follows the two, the weighted one follows a.
        let names: Vec<String> = (0..11).map(|t| format!("t{t}")).collect();
        let mut rows = Vec::new();
        for (t, name) in names.iter().enumerate().take(10) {
            let truth = t as f64;
            rows.extend([
                (name.as_str(), "a", truth),
                (name.as_str(), "b", truth),
                (name.as_str(), "c", truth + 2.0),
                (name.as_str(), "d", truth - 3.0),
            ]);
        }
        rows.extend([("t10", "a", 5.0), ("t10", "c", 9.0), ("t10", "d", 8.0)]);
        let d = data(&rows);
        assert_eq!(median(&d).values[10], 8.0);
        let fit = weighted_median(&d, &WeightedMeanOptions::default());
        assert_eq!(fit.values[10], 5.0);
        assert_eq!(fit.values[3], 3.0);
    }

    #[test]
    fn unanimous_labels_are_certain() {
        let d = data(&[("t1", "a", 3.0), ("t1", "b", 3.0)]);
        let w = weighted_mean(&d, &WeightedMeanOptions::default());
        assert_eq!(w.values, [3.0]);
        assert_eq!(w.confidence, [1.0]);
        assert_eq!(w.skills, [1.0, 1.0]);
    }
}
