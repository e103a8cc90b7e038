//! Dawid-Skene and its one-coin variant, fitted by expectation-maximisation.
//!
//! Both follow crowd-kit's `DawidSkene` and `OneCoinDawidSkene` step for step (start from the
//! majority-vote shares, class priors as the mean posterior, the same evidence lower bound as
//! the stopping rule, the same clipping constant), so that the two agree on real data.
//!
//! The work is laid out so that a round costs a few additions and multiplications per label
//! and little per task, since real crowds give each task only four or five labels:
//!
//! - each label is pre-reduced to one row index, `worker * K + observed`, into flat tables of
//!   error rates and of their logarithms;
//! - the E-step multiplies error rates rather than exponentiating sums of their logarithms, so
//!   a task costs one logarithm (for its entropy) instead of one exponential per class;
//! - crowd-kit's floor under posteriors in the entropy is taken with `max`, not a branch:
//!   whether a class falls below the floor is a coin toss the processor cannot predict, and
//!   the mispredictions cost more than the arithmetic;
//! - the bound's expected log joint is summed over the M-step's table (workers × K²) rather
//!   than over the labels, from the statistics the M-step gathers anyway, so the bound of a
//!   round is known as soon as its M-step is done;
//! - buffers are allocated once before the loop, and large data is split between two threads.

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
    let errors = fit.rates.err;
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

/// The tables a round reads, laid out as `[(worker * K + observed) * K + truth]`: the
/// probability that the worker answers `observed` on a task of class `truth`, and its
/// logarithm. For an answer the worker never gave, the rate is 0 and its logarithm -inf.
struct Rates {
    err: Vec<f64>,
    log_err: Vec<f64>,
}

/// The M-step of each model. Its statistics are, per worker, observed answer and true class,
/// the sum over the worker's labels with that answer of the task's posterior for that class;
/// they are gathered during the E-step pass and turned into error rates by [`Step::finish`].
enum Step {
    /// Full confusion matrices. `used` marks the classes each worker gave at least once.
    Full { used: Vec<bool> },
    /// One accuracy per worker, from the statistics' diagonal. `seen` counts each worker's
    /// labels.
    OneCoin { skill: Vec<f64>, seen: Vec<f64> },
}

impl Step {
    /// Turns the statistics into error rates and their logarithms.
    fn finish(&mut self, k: usize, stats: &[f64], rates: &mut Rates) {
        let Rates { err, log_err } = rates;
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
                            (err[i], log_err[i]) = if used[w * k + obs] {
                                let rate = stats[i].max(EPS) / total;
                                (rate, rate.ln())
                            } else {
                                (0.0, f64::NEG_INFINITY)
                            };
                        }
                    }
                }
            }
            Step::OneCoin { skill, seen } => {
                let off = (k.max(2) - 1) as f64;
                for (w, s) in skill.iter_mut().enumerate() {
                    let correct: f64 = (0..k).map(|c| stats[(w * k + c) * k + c]).sum();
                    *s = if seen[w] > 0.0 { correct / seen[w] } else { 0.0 };
                    let right = s.clamp(EPS, 1.0 - EPS);
                    let wrong = ((1.0 - *s) / off).clamp(EPS, 1.0 - EPS);
                    let (log_right, log_wrong) = (right.ln(), wrong.ln());
                    for obs in 0..k {
                        for truth in 0..k {
                            let i = (w * k + obs) * k + truth;
                            (err[i], log_err[i]) =
                                if obs == truth { (right, log_right) } else { (wrong, log_wrong) };
                        }
                    }
                }
            }
        }
    }
}

/// The bound's expected log joint, `sum over labels and classes of P(class) (ln P(answer |
/// class) + ln prior(class))`, summed over the statistics table instead of over the labels:
/// each entry of `stats` already is the sum of `P(class)` over the labels that share a
/// worker, an answer and a class.
fn expected_log_joint(k: usize, stats: &[f64], log_err: &[f64], log_prior: &[f64]) -> f64 {
    let mut total = 0.0;
    for (stat, log) in stats.chunks_exact(k).zip(log_err.chunks_exact(k)) {
        for c in 0..k {
            // A class no posterior gives weight counts 0, also against a rate of 0 (-inf).
            if stat[c] > 0.0 {
                total += stat[c] * (log[c] + log_prior[c]);
            }
        }
    }
    total
}

struct EmFit {
    probs: Vec<f64>,
    priors: Vec<f64>,
    rates: Rates,
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

/// A task's products of error rates are brought back towards 1 after every this many labels,
/// if their largest has fallen below [`RESCALE_BELOW`], so that tasks with many labels do not
/// underflow. A rate is at least `EPS / labels`, over 1e-20 for any `u32` count of labels, so
/// the largest product after eight more labels and a prior is still above 1e-170, far from
/// the smallest normal number (2.2e-308).
const RESCALE_EVERY: usize = 8;
const RESCALE_BELOW: f64 = 1e-100;

/// The logarithm of EPS.
const LN_EPS: f64 = -23.025_850_929_940_457;

/// What one E-step pass reads: the current parameters.
struct Pass<'a> {
    k: usize,
    rows: &'a [u32],
    offsets: &'a [usize],
    rates: &'a Rates,
    /// Class priors floored at EPS, and their logarithms.
    prior: &'a [f64],
    log_prior: &'a [f64],
}

/// What one pass writes for a range of tasks: their posteriors, and partial sums.
struct Partial<'a> {
    next: &'a mut [f64],
    stats: &'a mut [f64],
    prior_sum: &'a mut [f64],
}

impl Pass<'_> {
    /// For each task in `tasks`: its posterior, written to `out.next`, and its share of the
    /// M-step statistics and of the class totals. Returns the summed entropy of the
    /// posteriors.
    fn run<const K: usize>(&self, tasks: std::ops::Range<usize>, out: Partial<'_>) -> f64 {
        let k = if K == 0 { self.k } else { K };
        // Per-task scratch on the stack: the posterior is built here rather than in `out.next`
        // so that the compiler knows the statistics written below cannot change it, and
        // keeps it in registers instead of reloading it after every store.
        let mut stack = [[0.0; MAX_STACK_CLASSES]; 2];
        let mut heap = Vec::new();
        let [p, acc]: [&mut [f64]; 2] = if k <= MAX_STACK_CLASSES {
            let [p, acc] = &mut stack;
            [&mut p[..k], &mut acc[..k]]
        } else {
            heap.resize(2 * k, 0.0);
            let (p, acc) = heap.split_at_mut(k);
            [p, acc]
        };
        // Slicing to `k` once up front lets the compiler drop bounds checks in the loops below.
        let prior_sum = &mut out.prior_sum[..k];
        out.stats.fill(0.0);
        prior_sum.fill(0.0);
        let mut entropy = 0.0;
        let first = tasks.start;
        for t in tasks {
            let labels = &self.rows[self.offsets[t]..self.offsets[t + 1]];
            entropy += self.posterior::<K>(labels, p, acc);
            let local = (t - first) * k;
            out.next[local..local + k].copy_from_slice(p);
            for c in 0..k {
                prior_sum[c] += p[c];
            }
            for &row in labels {
                let at = row as usize * k;
                let stat = &mut out.stats[at..at + k];
                for c in 0..k {
                    stat[c] += p[c];
                }
            }
        }
        entropy
    }

    /// One task's posterior from the rows of its labels, written to `p`, and its entropy.
    /// `acc` is scratch space of K entries.
    #[inline(always)]
    fn posterior<const K: usize>(&self, labels: &[u32], p: &mut [f64], acc: &mut [f64]) -> f64 {
        let k = if K == 0 { self.k } else { K };
        let (p, acc) = (&mut p[..k], &mut acc[..k]);
        let (prior, log_prior) = (&self.prior[..k], &self.log_prior[..k]);
        // The likelihood of each class as a product of error rates, and its logarithm as a
        // sum, which the entropy needs; `log_scale` is what rescaling took out of the product.
        p.fill(1.0);
        acc.fill(0.0);
        let mut log_scale = 0.0;
        for (n, &row) in labels.iter().enumerate() {
            let at = row as usize * k;
            let (err, log_err) = (&self.rates.err[at..at + k], &self.rates.log_err[at..at + k]);
            for c in 0..k {
                p[c] *= err[c];
                acc[c] += log_err[c];
            }
            if n % RESCALE_EVERY == RESCALE_EVERY - 1 {
                let max = p.iter().fold(0.0, |m: f64, &x| m.max(x));
                if max < RESCALE_BELOW {
                    p.iter_mut().for_each(|x| *x /= max);
                    log_scale += max.ln();
                }
            }
        }
        let mut total = 0.0;
        for c in 0..k {
            p[c] *= prior[c];
            total += p[c];
        }
        let log_total = total.ln() + log_scale;
        let inv = 1.0 / total;
        let mut entropy = 0.0;
        for c in 0..k {
            p[c] *= inv;
            // crowd-kit floors posteriors at EPS before the entropy. Flooring both the
            // posterior and its logarithm, ln(prior) + sum of log rates - ln(total), with `max`
            // rather than a branch matters: whether a class is below EPS is a coin toss the
            // processor cannot predict.
            let log_p = (log_prior[c] + acc[c] - log_total).max(LN_EPS);
            entropy -= p[c].max(EPS) * log_p;
        }
        entropy
    }
}

/// Classes up to this many keep their per-task sums on the stack.
const MAX_STACK_CLASSES: usize = 32;

/// The EM loop shared by both models, round for round crowd-kit's: an E-step pass over the
/// tasks (posteriors, their entropy, and the M-step statistics), the M-step, and the
/// evidence lower bound of the new posteriors, which stops the loop when it grows by less
/// than the tolerance per label.
fn run_em_k<const K: usize>(
    data: &Dataset,
    options: &DsOptions,
    step: &mut Step,
    parallel_min_labels: usize,
) -> EmFit {
    let k = if K == 0 { data.n_classes() } else { K };
    let t_n = data.n_tasks();
    let offsets = data.task_offsets();
    let rows: Vec<u32> = data.labels().iter().map(|l| l.worker * k as u32 + l.class).collect();
    let mut probs = vote_shares(data, None);
    let mut priors = column_means(&probs, k, t_n);
    let table_len = data.n_workers() * k * k;
    let mut stats = [vec![0.0; table_len], vec![0.0; table_len]];
    let mut rates = Rates { err: vec![0.0; table_len], log_err: vec![0.0; table_len] };
    for (t, p) in probs.chunks_exact(k.max(1)).enumerate() {
        for &row in &rows[offsets[t]..offsets[t + 1]] {
            let at = row as usize * k;
            stats[0][at..at + k].iter_mut().zip(p).for_each(|(s, x)| *s += x);
        }
    }
    step.finish(k, &stats[0], &mut rates);
    if k <= 1 {
        // One class leaves nothing to infer.
        return EmFit { probs, priors, rates, iterations: 0 };
    }
    // Tasks before `split` go to the first half, the rest to the second, with about half the
    // labels each.
    let split = if data.n_labels() >= parallel_min_labels {
        offsets.partition_point(|&o| o < data.n_labels() / 2).min(t_n)
    } else {
        t_n
    };
    let mut next = vec![0.0; probs.len()];
    let (mut prior, mut log_prior) = (vec![0.0; k], vec![0.0; k]);
    floor_priors(&priors, &mut prior, &mut log_prior);
    let mut prior_sum = [vec![0.0; k], vec![0.0; k]];
    let n_labels = data.n_labels().max(1) as f64;
    let mut loss = f64::NEG_INFINITY;
    let mut iterations = 0;
    for round in 1..=options.n_iter {
        let reader =
            Pass { k, rows: &rows, offsets, rates: &rates, prior: &prior, log_prior: &log_prior };
        let (next_a, next_b) = next.split_at_mut(split * k);
        let [stats_a, stats_b] = &mut stats;
        let [sum_a, sum_b] = &mut prior_sum;
        let first = Partial { next: next_a, stats: stats_a, prior_sum: sum_a };
        let second = Partial { next: next_b, stats: stats_b, prior_sum: sum_b };
        let entropy = if split < t_n {
            std::thread::scope(|s| {
                let handle = s.spawn(|| reader.run::<K>(split..t_n, second));
                let a = reader.run::<K>(0..split, first);
                a + handle.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
            })
        } else {
            reader.run::<K>(0..t_n, first)
        };
        std::mem::swap(&mut probs, &mut next);
        let halves = if split < t_n { 2 } else { 1 };
        for c in 0..k {
            let total: f64 = prior_sum[..halves].iter().map(|s| s[c]).sum();
            priors[c] = total / t_n as f64;
        }
        floor_priors(&priors, &mut prior, &mut log_prior);
        if halves == 2 {
            let [a, b] = &mut stats;
            a.iter_mut().zip(b.iter()).for_each(|(x, y)| *x += y);
        }
        step.finish(k, &stats[0], &mut rates);
        iterations = round;
        let joint = expected_log_joint(k, &stats[0], &rates.log_err, &log_prior);
        let bound = (joint + entropy) / n_labels;
        if bound - loss < options.tol {
            break;
        }
        loss = bound;
    }
    EmFit { probs, priors, rates, iterations }
}

/// The priors floored at EPS, as crowd-kit clips them in both the E-step and the bound, and
/// their logarithms.
fn floor_priors(priors: &[f64], floored: &mut [f64], logs: &mut [f64]) {
    for ((p, f), l) in priors.iter().zip(floored.iter_mut()).zip(logs.iter_mut()) {
        *f = p.max(EPS);
        *l = f.ln();
    }
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
    fn a_task_with_hundreds_of_labels_keeps_a_valid_posterior() {
        // 300 workers on one task: a product of 300 error rates underflows unless it is
        // rescaled on the way. Each worker also labels a task of its own, agreeing with the
        // crowd's majority on the big task, so that rates stay far from 1.
        let mut rows = Vec::new();
        for w in 0..300 {
            let answer = if w % 4 == 0 { "b" } else { "a" };
            rows.push(("big".to_owned(), format!("w{w}"), answer.to_owned()));
            rows.push((format!("t{w}"), format!("w{w}"), "a".to_owned()));
            rows.push((format!("t{w}"), format!("v{}", w % 7), "b".to_owned()));
        }
        let data = Dataset::from_rows(rows);
        for model in [
            dawid_skene(&data, &DsOptions::default()).result,
            one_coin_dawid_skene(&data, &DsOptions::default()),
        ] {
            let p = model.task_probs(0);
            assert!(p.iter().all(|x| x.is_finite()), "{p:?}");
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{p:?}");
            assert_eq!(data.classes()[model.labels[0] as usize], "a");
        }
    }

    #[test]
    fn the_joint_summed_over_the_table_equals_the_sum_over_labels() {
        let data = adversary();
        let k = data.n_classes();
        let probs = [0.9, 0.1, 0.2, 0.8, 0.6, 0.4, 0.0, 1.0];
        let mut step = Step::Full { used: used_classes(&data) };
        let mut stats = vec![0.0; data.n_workers() * k * k];
        for l in data.labels() {
            for c in 0..k {
                stats[(l.worker as usize * k + l.class as usize) * k + c] +=
                    probs[l.task as usize * k + c];
            }
        }
        let len = stats.len();
        let mut rates = Rates { err: vec![0.0; len], log_err: vec![0.0; len] };
        step.finish(k, &stats, &mut rates);
        let log_prior = [0.3f64.ln(), 0.7f64.ln()];
        let mut by_label = 0.0;
        for l in data.labels() {
            for c in 0..k {
                let p = probs[l.task as usize * k + c];
                let i = (l.worker as usize * k + l.class as usize) * k + c;
                if p > 0.0 {
                    by_label += p * (rates.log_err[i] + log_prior[c]);
                }
            }
        }
        let by_table = expected_log_joint(k, &stats, &rates.log_err, &log_prior);
        assert!((by_label - by_table).abs() < 1e-12, "{by_label} vs {by_table}");
    }

    #[test]
    fn the_floor_constant_is_the_log_of_eps() {
        assert_eq!(LN_EPS, EPS.ln());
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
