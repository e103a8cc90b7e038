//! Dawid-Skene and its one-coin variant, fitted by expectation-maximisation.
//!
//! Both follow crowd-kit's `DawidSkene` and `OneCoinDawidSkene` step for step (start from the
//! majority-vote shares, class priors as the mean posterior, the same evidence lower bound as
//! the stopping rule, the same clipping constant), so that the two agree on real data; the
//! work is laid out for speed instead: labels are a flat array grouped by task, each label is
//! pre-reduced to one index into a flat table of log error rates, one pass over the labels
//! does a whole round, buffers are allocated once before the loop, and large data is split
//! between two threads.

use serde::Serialize;

use crate::Dataset;
use crate::categorical::{Categorical, vote_shares};

/// The floor under error rates, priors and posteriors before taking logs, as in crowd-kit.
const EPS: f64 = 1e-10;

/// Stopping rule of the EM loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DsOptions {
    /// The most EM rounds to run.
    pub n_iter: usize,
    /// Stop when the evidence lower bound per label grows by less than this.
    pub tol: f64,
}

impl Default for DsOptions {
    /// crowd-kit's defaults: 100 rounds, tolerance 1e-5.
    fn default() -> Self {
        Self { n_iter: 100, tol: 1e-5 }
    }
}

/// A fitted Dawid-Skene model: the per-task result plus the parameters behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DawidSkeneModel {
    /// Per-task posteriors, labels and confidences; per-worker skills.
    pub result: Categorical,
    /// The prior probability of each class.
    pub priors: Vec<f64>,
    n_classes: usize,
    errors: Vec<f64>,
}

impl DawidSkeneModel {
    /// The probability that `worker` answers `observed` on a task whose true class is
    /// `truth`. For a worker who never used class `observed` this is 0.
    pub fn error_rate(&self, worker: usize, truth: usize, observed: usize) -> f64 {
        let k = self.n_classes;
        self.errors[(worker * k + observed) * k + truth]
    }
}

/// Data with at least this many labels is split into two halves of tasks, each pass running
/// on two threads. The split depends only on the data, so results do not depend on the
/// machine; below this size a thread costs more than it saves.
const PARALLEL_MIN_LABELS: usize = 200_000;

/// Dawid-Skene: every worker has a full confusion matrix, every task a latent true class.
///
/// A worker's skill is its probability of answering correctly on a random task,
/// `sum_k prior[k] * P(answer k | truth k)`.
pub fn dawid_skene(data: &Dataset, options: &DsOptions) -> DawidSkeneModel {
    let k = data.n_classes();
    let mut step = Step::Full { used: used_classes(data) };
    let fit = run_em(data, options, &mut step, PARALLEL_MIN_LABELS);
    let errors: Vec<f64> = fit.log_err.iter().map(|x| x.exp()).collect();
    let skills = (0..data.n_workers())
        .map(|w| (0..k).map(|c| fit.priors[c] * errors[(w * k + c) * k + c]).sum())
        .collect();
    DawidSkeneModel {
        result: Categorical::from_probs(k, fit.probs, skills, fit.iterations),
        priors: fit.priors,
        n_classes: k,
        errors,
    }
}

/// One-coin Dawid-Skene: each worker answers correctly with probability `skill` whatever the
/// true class, and otherwise picks one of the other classes uniformly.
///
/// The skill is the posterior-weighted share of the worker's correct answers.
pub fn one_coin_dawid_skene(data: &Dataset, options: &DsOptions) -> Categorical {
    let mut seen = vec![0.0; data.n_workers()];
    for l in data.labels() {
        seen[l.worker as usize] += 1.0;
    }
    let mut step = Step::OneCoin { skill: vec![0.0; data.n_workers()], seen };
    let fit = run_em(data, options, &mut step, PARALLEL_MIN_LABELS);
    let Step::OneCoin { skill, .. } = step else { unreachable!("the step keeps its variant") };
    Categorical::from_probs(data.n_classes(), fit.probs, skill, fit.iterations)
}

/// Which classes each worker used at least once, `n_workers * n_classes`.
fn used_classes(data: &Dataset) -> Vec<bool> {
    let k = data.n_classes();
    let mut used = vec![false; data.n_workers() * k];
    for l in data.labels() {
        used[l.worker as usize * k + l.class as usize] = true;
    }
    used
}

/// The M-step of each model. Its sufficient statistics are sums over labels of the label's
/// task posterior, so they are accumulated per task during the E-step pass (see
/// [`Step::accumulate`]) and turned into error rates once per round (see [`Step::finish`]).
enum Step {
    /// Full confusion matrices; statistics are expected counts per (worker, observed, truth).
    /// `used` marks the classes each worker gave at least once.
    Full { used: Vec<bool> },
    /// One accuracy per worker; statistics are expected correct answers per worker. `seen`
    /// counts each worker's labels.
    OneCoin { skill: Vec<f64>, seen: Vec<f64> },
}

impl Step {
    /// Length of the statistics buffer.
    fn stats_len(&self, n_workers: usize, k: usize) -> usize {
        match self {
            Step::Full { .. } => n_workers * k * k,
            Step::OneCoin { .. } => n_workers,
        }
    }

    /// Adds one task's posterior `p` to the statistics of its labels, given as
    /// `worker * K + observed`. `K` is the class count when it is a compile-time constant and 0
    /// otherwise; with a constant `k` the loops over classes unroll.
    #[inline(always)]
    fn accumulate<const K: usize>(&self, k: usize, p: &[f64], labels: &[u32], stats: &mut [f64]) {
        let k = if K == 0 { k } else { K };
        match self {
            Step::Full { .. } => {
                for &idx in labels {
                    let at = idx as usize * k;
                    let row = &mut stats[at..at + k];
                    for c in 0..k {
                        row[c] += p[c];
                    }
                }
            }
            Step::OneCoin { .. } => {
                for &idx in labels {
                    let (w, obs) = (idx as usize / k, idx as usize % k);
                    stats[w] += p[obs];
                }
            }
        }
    }

    /// Turns the statistics into the table of log error rates, laid out as
    /// `[(worker * K + observed) * K + truth]`.
    fn finish(&mut self, k: usize, stats: &[f64], log_err: &mut [f64]) {
        match self {
            Step::Full { used } => {
                // Each column (a true class) is normalised over the answers the worker
                // actually gave, after flooring at EPS, exactly as crowd-kit does.
                for w in 0..used.len() / k.max(1) {
                    for truth in 0..k {
                        let mut total = 0.0;
                        for obs in 0..k {
                            if used[w * k + obs] {
                                total += stats[(w * k + obs) * k + truth].max(EPS);
                            }
                        }
                        for obs in 0..k {
                            let i = (w * k + obs) * k + truth;
                            log_err[i] = if used[w * k + obs] {
                                (stats[i].max(EPS) / total).ln()
                            } else {
                                f64::NEG_INFINITY
                            };
                        }
                    }
                }
            }
            Step::OneCoin { skill, seen } => {
                let off = (k.max(2) - 1) as f64;
                for (w, s) in skill.iter_mut().enumerate() {
                    *s = if seen[w] > 0.0 { stats[w] / seen[w] } else { 0.0 };
                    let right = s.clamp(EPS, 1.0 - EPS).ln();
                    let wrong = ((1.0 - *s) / off).clamp(EPS, 1.0 - EPS).ln();
                    for obs in 0..k {
                        for truth in 0..k {
                            log_err[(w * k + obs) * k + truth] =
                                if obs == truth { right } else { wrong };
                        }
                    }
                }
            }
        }
    }
}

struct EmFit {
    probs: Vec<f64>,
    priors: Vec<f64>,
    log_err: Vec<f64>,
    iterations: usize,
}

/// Runs the EM loop with the class count as a compile-time constant where it is small, so
/// that the per-label loops over classes unroll. Data with at least `parallel_min_labels`
/// labels runs on two threads.
fn run_em(
    data: &Dataset,
    options: &DsOptions,
    step: &mut Step,
    parallel_min_labels: usize,
) -> EmFit {
    let p = parallel_min_labels;
    match data.n_classes() {
        2 => run_em_k::<2>(data, options, step, p),
        3 => run_em_k::<3>(data, options, step, p),
        4 => run_em_k::<4>(data, options, step, p),
        5 => run_em_k::<5>(data, options, step, p),
        _ => run_em_k::<0>(data, options, step, p),
    }
}

/// What one pass reads: the current posteriors and parameters.
struct Pass<'a> {
    k: usize,
    wl: &'a [u32],
    offsets: &'a [usize],
    log_err: &'a [f64],
    log_prior: &'a [f64],
    probs: &'a [f64],
    with_bound: bool,
    step: &'a Step,
}

/// What one pass writes for a range of tasks: their next posteriors, and partial sums.
struct Partial<'a> {
    next: &'a mut [f64],
    stats: &'a mut [f64],
    prior_sum: &'a mut [f64],
}

/// Partial sums of the evidence lower bound from one pass over a range of tasks.
struct BoundParts {
    /// The expected log joint of the current posteriors.
    joint: f64,
    /// The entropy of the next posteriors, which the next pass's bound needs.
    next_entropy: f64,
}

impl Pass<'_> {
    /// For each task in `tasks`: the bound's expected log joint under its current posterior,
    /// its next posterior (from the sums of log error rates of its labels), that posterior's
    /// entropy, and its contribution to the next M-step.
    fn run<const K: usize>(&self, tasks: std::ops::Range<usize>, out: Partial<'_>) -> BoundParts {
        let k = if K == 0 { self.k } else { K };
        let eps_entropy = -EPS * EPS.ln();
        let mut joint = 0.0;
        let mut entropy = 0.0;
        // The entropy of p = exp(d) / total is -sum p d + ln total. The logarithms of the
        // totals (each in [1, K]) are taken of their running product, once in a long while,
        // which saves a logarithm per task.
        let mut total_product = 1.0f64;
        let mut stack = [0.0; MAX_STACK_CLASSES];
        let mut heap = Vec::new();
        let acc_store: &mut [f64] = if k <= MAX_STACK_CLASSES {
            &mut stack
        } else {
            heap.resize(k, 0.0);
            &mut heap
        };
        // Slicing to `k` once up front lets the compiler drop bounds checks in the loops below.
        let log_prior = &self.log_prior[..k];
        let prior_sum = &mut out.prior_sum[..k];
        out.stats.fill(0.0);
        prior_sum.fill(0.0);
        let first = tasks.start;
        for t in tasks {
            let acc = &mut acc_store[..k];
            acc.fill(0.0);
            let labels = &self.wl[self.offsets[t]..self.offsets[t + 1]];
            for &idx in labels {
                let at = idx as usize * k;
                let row = &self.log_err[at..at + k];
                for c in 0..k {
                    acc[c] += row[c];
                }
            }
            if self.with_bound {
                let old = &self.probs[t * k..t * k + k];
                let n_t = labels.len() as f64;
                for c in 0..k {
                    // 0 * ln 0 counts as 0: a class the posterior excludes adds nothing.
                    if old[c] > 0.0 {
                        joint += old[c] * (acc[c] + n_t * log_prior[c]);
                    }
                }
            }
            // acc becomes the log-weights shifted so that the largest is 0.
            let mut max = f64::NEG_INFINITY;
            for c in 0..k {
                acc[c] += log_prior[c];
                max = max.max(acc[c]);
            }
            let local = (t - first) * k;
            let row = &mut out.next[local..local + k];
            let mut total = 0.0;
            for c in 0..k {
                acc[c] -= max;
                row[c] = acc[c].exp();
                total += row[c];
            }
            let inv = 1.0 / total;
            let mut tiny = false;
            for c in 0..k {
                row[c] *= inv;
                entropy -= row[c] * acc[c];
                prior_sum[c] += row[c];
                tiny |= row[c] < EPS;
            }
            if tiny {
                // crowd-kit floors posteriors at EPS before the entropy; swap the exact terms
                // of the floored classes for the floored ones.
                let log_total = total.ln();
                for c in 0..k {
                    if row[c] < EPS {
                        entropy += row[c] * (acc[c] - log_total) + eps_entropy;
                    }
                }
            }
            total_product *= total;
            if total_product > 1e200 {
                entropy += total_product.ln();
                total_product = 1.0;
            }
            self.step.accumulate::<K>(k, row, labels, out.stats);
        }
        entropy += total_product.ln();
        BoundParts { joint, next_entropy: entropy }
    }
}

/// Classes up to this many keep their per-task sums on the stack.
const MAX_STACK_CLASSES: usize = 32;

/// The EM loop shared by both models.
///
/// Each pass over the tasks does three things at once: the evidence lower bound of the
/// current posteriors, the next posteriors (from the same sums of log error rates), and the
/// M-step statistics of those next posteriors. When the bound has stopped growing, the current
/// posteriors are returned, so the result is the one crowd-kit returns after the same number
/// of rounds.
fn run_em_k<const K: usize>(
    data: &Dataset,
    options: &DsOptions,
    step: &mut Step,
    parallel_min_labels: usize,
) -> EmFit {
    let k = if K == 0 { data.n_classes() } else { K };
    let t_n = data.n_tasks();
    let offsets = data.task_offsets();
    let wl: Vec<u32> = data.labels().iter().map(|l| l.worker * k as u32 + l.class).collect();
    let mut probs = vote_shares(data, None);
    let mut priors = column_means(&probs, k, t_n);
    let stats_len = step.stats_len(data.n_workers(), k);
    let mut stats = [vec![0.0; stats_len], vec![0.0; stats_len]];
    let mut log_err = vec![0.0; data.n_workers() * k * k];
    if k > 0 {
        for (t, p) in probs.chunks_exact(k).enumerate() {
            step.accumulate::<K>(k, p, &wl[offsets[t]..offsets[t + 1]], &mut stats[0]);
        }
    }
    step.finish(k, &stats[0], &mut log_err);
    if k <= 1 {
        // One class leaves nothing to infer.
        return EmFit { probs, priors, log_err, iterations: 0 };
    }
    // Tasks before `split` go to the first half, the rest to the second, with about half the
    // labels each.
    let split = if data.n_labels() >= parallel_min_labels {
        offsets.partition_point(|&o| o < data.n_labels() / 2).min(t_n)
    } else {
        t_n
    };
    let mut next = vec![0.0; probs.len()];
    // The entropy of the current posteriors, computed when they were made.
    let mut entropy = 0.0;
    let mut log_prior: Vec<f64> = priors.iter().map(|p| p.max(EPS).ln()).collect();
    let mut prior_sum = [vec![0.0; k], vec![0.0; k]];
    let n_labels = data.n_labels().max(1) as f64;
    let mut loss = f64::NEG_INFINITY;
    let mut iterations = 0;
    for pass in 1..=options.n_iter {
        let with_bound = pass >= 2;
        let reader = Pass {
            k,
            wl: &wl,
            offsets,
            log_err: &log_err,
            log_prior: &log_prior,
            probs: &probs,
            with_bound,
            step,
        };
        let (next_a, next_b) = next.split_at_mut(split * k);
        let [stats_a, stats_b] = &mut stats;
        let [sum_a, sum_b] = &mut prior_sum;
        let first = Partial { next: next_a, stats: stats_a, prior_sum: sum_a };
        let second = Partial { next: next_b, stats: stats_b, prior_sum: sum_b };
        let parts = if split < t_n {
            std::thread::scope(|s| {
                let handle = s.spawn(|| reader.run::<K>(split..t_n, second));
                let a = reader.run::<K>(0..split, first);
                let b = handle.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
                BoundParts {
                    joint: a.joint + b.joint,
                    next_entropy: a.next_entropy + b.next_entropy,
                }
            })
        } else {
            reader.run::<K>(0..t_n, first)
        };
        if with_bound {
            let new_loss = (parts.joint + entropy) / n_labels;
            if new_loss - loss < options.tol {
                return EmFit { probs, priors, log_err, iterations: pass - 1 };
            }
            loss = new_loss;
        }
        std::mem::swap(&mut probs, &mut next);
        entropy = parts.next_entropy;
        let halves = if split < t_n { 2 } else { 1 };
        for c in 0..k {
            let total: f64 = prior_sum[..halves].iter().map(|s| s[c]).sum();
            priors[c] = total / t_n as f64;
            log_prior[c] = priors[c].max(EPS).ln();
        }
        if halves == 2 {
            let [a, b] = &mut stats;
            a.iter_mut().zip(b.iter()).for_each(|(x, y)| *x += y);
        }
        step.finish(k, &stats[0], &mut log_err);
        iterations = pass;
    }
    EmFit { probs, priors, log_err, iterations }
}

/// The mean of each column of a `rows * k` table.
fn column_means(table: &[f64], k: usize, rows: usize) -> Vec<f64> {
    let mut out = vec![0.0; k];
    for row in table.chunks_exact(k.max(1)) {
        out.iter_mut().zip(row).for_each(|(o, p)| *o += p);
    }
    if rows > 0 {
        out.iter_mut().for_each(|o| *o /= rows as f64);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::categorical::majority_vote;

    /// Three workers on four tasks; worker c always answers the opposite of a and b.
    fn adversary() -> Dataset {
        Dataset::from_rows([
            ("t1", "a", "0"),
            ("t1", "b", "0"),
            ("t1", "c", "1"),
            ("t2", "a", "1"),
            ("t2", "b", "1"),
            ("t2", "c", "0"),
            ("t3", "a", "0"),
            ("t3", "b", "1"),
            ("t3", "c", "1"),
            ("t4", "a", "1"),
            ("t4", "c", "0"),
        ])
    }

    #[test]
    fn ds_learns_that_an_adversary_flips_labels() {
        let data = adversary();
        let model = dawid_skene(&data, &DsOptions::default());
        // Majority vote follows b and c on t3; Dawid-Skene learns that c inverts and trusts
        // the agreement of a with the inverse of c.
        assert_eq!(majority_vote(&data).labels[2], 1);
        assert_eq!(model.result.labels, [0, 1, 0, 1]);
        assert!(model.error_rate(2, 0, 1) > 0.99, "c answers 1 when the truth is 0");
        assert!(model.result.skills[2] < 0.01);
        assert!(model.result.skills[0] > 0.99);
        for t in 0..data.n_tasks() {
            let sum: f64 = model.result.task_probs(t).iter().sum();
            assert!((sum - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn ds_first_round_matches_a_hand_computation() {
        // With n_iter = 1 the result is one E-step from the majority-vote start. Two tasks,
        // two workers who agree on t1 and disagree on t2.
        let data = Dataset::from_rows([
            ("t1", "a", "x"),
            ("t1", "b", "x"),
            ("t2", "a", "x"),
            ("t2", "b", "y"),
        ]);
        // Start: t1 = (1, 0), t2 = (0.5, 0.5); priors (0.75, 0.25).
        // Worker a only says x: P(x | x) = P(x | y) = 1.
        // Worker b: counts for truth x: said x 1, said y 0.5 -> (2/3, 1/3);
        //           for truth y: said x 0 (floored to EPS), said y 0.5 -> (~0, ~1).
        // t2 (a: x, b: y): x -> 0.75 * 1 * 1/3 = 0.25, y -> 0.25 * 1 * 1 = 0.25.
        let model = dawid_skene(&data, &DsOptions { n_iter: 1, tol: 1e-5 });
        assert_eq!(model.result.iterations, 1);
        let p = model.result.task_probs(1);
        assert!((p[0] - 0.5).abs() < 1e-8, "{p:?}");
        // t1 (both x): x -> 0.75 * 2/3, y -> 0.25 * EPS-ish.
        assert!(model.result.task_probs(0)[0] > 1.0 - 1e-8);
    }

    #[test]
    fn one_coin_gives_reliable_workers_high_skill() {
        let data = adversary();
        let fit = one_coin_dawid_skene(&data, &DsOptions::default());
        assert_eq!(fit.labels, [0, 1, 0, 1]);
        assert!(fit.skills[2] < 0.05);
        assert!(fit.skills[0] > 0.95);
    }

    #[test]
    fn two_threads_agree_with_one() {
        let spec = crate::SyntheticSpec {
            n_tasks: 300,
            n_workers: 20,
            n_classes: 3,
            labels_per_task: 4,
            accuracy_min: 0.4,
            accuracy_max: 0.9,
        };
        let (data, _) = crate::synthetic(&spec, 11);
        let mut seen = vec![0.0; 20];
        for l in data.labels() {
            seen[l.worker as usize] += 1.0;
        }
        for one_coin in [false, true] {
            let step = || {
                if one_coin {
                    Step::OneCoin { skill: vec![0.0; 20], seen: seen.clone() }
                } else {
                    Step::Full { used: used_classes(&data) }
                }
            };
            let options = DsOptions::default();
            let serial = run_em(&data, &options, &mut step(), usize::MAX);
            let parallel = run_em(&data, &options, &mut step(), 0);
            assert_eq!(serial.iterations, parallel.iterations);
            for (a, b) in serial.probs.iter().zip(&parallel.probs) {
                assert!((a - b).abs() < 1e-9, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn a_single_class_is_certain() {
        let data = Dataset::from_rows([("t1", "a", "x"), ("t2", "b", "x")]);
        let model = dawid_skene(&data, &DsOptions::default());
        assert_eq!(model.result.labels, [0, 0]);
        assert_eq!(model.result.confidence, [1.0, 1.0]);
        assert_eq!(one_coin_dawid_skene(&data, &DsOptions::default()).confidence, [1.0, 1.0]);
    }
}
