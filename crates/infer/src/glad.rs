//! GLAD (Whitehill et al., NeurIPS 2009): worker ability and task difficulty together.
//!
//! Worker `w` answers task `t` correctly with probability `sigmoid(alpha_w * beta_t)`, where
//! `alpha_w` is the worker's ability (negative for a worker who gets things backwards) and
//! `beta_t = exp(b_t) > 0` the task's easiness; a wrong answer picks one of the other classes
//! uniformly. Priors follow crowd-kit's `GLAD`: `alpha ~ N(1, 1)`, `b ~ N(1, 1)`, a uniform
//! class prior, and the same starting point `alpha = 1`, `b = 1`.
//!
//! The M-step is block-coordinate ascent, one Fisher-scoring step for all abilities and then
//! one for all easinesses, each halved until the objective does not fall, so every EM round
//! is guaranteed not to lower the posterior.

use crate::Dataset;
use crate::categorical::{Categorical, softmax_in_place};

/// Stopping rules and step limits of GLAD.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GladOptions {
    /// The most EM rounds to run.
    pub n_iter: usize,
    /// Stop when the log posterior per label grows by less than this.
    pub tol: f64,
    /// The most ascent rounds within one M-step.
    pub m_step_max_iter: usize,
    /// Stop an M-step when one ascent round gains less than this in the objective.
    pub m_step_tol: f64,
}

impl Default for GladOptions {
    /// crowd-kit's defaults: 100 rounds, tolerance 1e-5, 25 M-step rounds, M-step tolerance 1e-2.
    fn default() -> Self {
        Self { n_iter: 100, tol: 1e-5, m_step_max_iter: 25, m_step_tol: 1e-2 }
    }
}

/// A fitted GLAD model.
#[derive(Debug, Clone, PartialEq)]
pub struct GladModel {
    /// Per-task posteriors, labels and confidences; per-worker skills, each the worker's mean
    /// probability of a correct answer over the tasks it labelled.
    pub result: Categorical,
    /// Each worker's ability `alpha`.
    pub alphas: Vec<f64>,
    /// Each task's easiness `beta = exp(b)`.
    pub betas: Vec<f64>,
}

/// Fits GLAD by expectation-maximisation.
pub fn glad(data: &Dataset, options: &GladOptions) -> GladModel {
    let k = data.n_classes();
    let t_n = data.n_tasks();
    let w_n = data.n_workers();
    let mut alpha = vec![1.0f64; w_n];
    let mut b = vec![1.0f64; t_n];
    let mut probs = vec![0.0; t_n * k];
    if k <= 1 {
        probs.fill(1.0);
        let result = Categorical::from_probs(k, probs, vec![1.0; w_n], 0);
        return GladModel { result, alphas: alpha, betas: b.iter().map(|x| x.exp()).collect() };
    }
    let log_wrong_share = ((k - 1) as f64).ln();
    let log_prior = -(k as f64).ln();
    let n_labels = data.n_labels().max(1) as f64;
    let mut state = Scratch::new(w_n, t_n);
    let mut previous = f64::NEG_INFINITY;
    let mut iterations = 0;
    for round in 0..=options.n_iter {
        // E-step: the posterior of each task's class, and the log evidence it sums to.
        let mut evidence = 0.0;
        for t in 0..t_n {
            let beta = b[t].exp();
            let row = &mut probs[t * k..(t + 1) * k];
            row.fill(0.0);
            let mut base = 0.0;
            for l in data.task_labels(t) {
                let x = alpha[l.worker as usize] * beta;
                let (wrong_term, right_term) = softplus_pair(x);
                let (right, wrong) = (-right_term, -wrong_term - log_wrong_share);
                base += wrong;
                row[l.class as usize] += right - wrong;
            }
            row.iter_mut().for_each(|r| *r += base + log_prior);
            evidence += softmax_in_place(row);
        }
        let objective = (evidence + log_normal_prior(&alpha, &b)) / n_labels;
        if round == options.n_iter || objective - previous < options.tol {
            break;
        }
        previous = objective;
        m_step(data, &probs, &mut alpha, &mut b, options, &mut state);
        iterations = round + 1;
    }
    let mut correct = vec![0.0; w_n];
    let mut seen = vec![0.0; w_n];
    for l in data.labels() {
        let w = l.worker as usize;
        correct[w] += sigmoid(alpha[w] * b[l.task as usize].exp());
        seen[w] += 1.0;
    }
    let skills = correct.iter().zip(&seen).map(|(c, n)| if *n > 0.0 { c / n } else { 0.0 });
    GladModel {
        result: Categorical::from_probs(k, probs, skills.collect(), iterations),
        alphas: alpha,
        betas: b.iter().map(|x| x.exp()).collect(),
    }
}

/// Buffers reused across M-steps.
struct Scratch {
    grad_w: Vec<f64>,
    hess_w: Vec<f64>,
    grad_t: Vec<f64>,
    hess_t: Vec<f64>,
    start_w: Vec<f64>,
    start_t: Vec<f64>,
}

impl Scratch {
    fn new(w_n: usize, t_n: usize) -> Self {
        Self {
            grad_w: vec![0.0; w_n],
            hess_w: vec![0.0; w_n],
            grad_t: vec![0.0; t_n],
            hess_t: vec![0.0; t_n],
            start_w: vec![0.0; w_n],
            start_t: vec![0.0; t_n],
        }
    }
}

/// Raises `Q(alpha, b) = sum over labels of q ln s + (1 - q) ln(1 - s) + log priors`, where `s`
/// is the probability of a correct answer and `q` the posterior that the answer is correct.
fn m_step(
    data: &Dataset,
    probs: &[f64],
    alpha: &mut [f64],
    b: &mut [f64],
    options: &GladOptions,
    s: &mut Scratch,
) {
    let k = data.n_classes();
    let mut q_now = objective(data, probs, alpha, b);
    for _ in 0..options.m_step_max_iter {
        let q_start = q_now;
        // Abilities: gradient and expected curvature per worker.
        s.grad_w.iter_mut().zip(alpha.iter()).for_each(|(g, a)| *g = -(a - 1.0));
        s.hess_w.fill(1.0);
        for t in 0..b.len() {
            let beta = b[t].exp();
            for l in data.task_labels(t) {
                let w = l.worker as usize;
                let sig = sigmoid(alpha[w] * beta);
                let q = probs[t * k + l.class as usize];
                s.grad_w[w] += (q - sig) * beta;
                s.hess_w[w] += sig * (1.0 - sig) * beta * beta;
            }
        }
        s.start_w.copy_from_slice(alpha);
        q_now = line_search(q_now, alpha, &s.start_w, &s.grad_w, &s.hess_w, |a| {
            objective(data, probs, a, b)
        });
        // Easinesses, with the abilities just updated.
        s.grad_t.iter_mut().zip(b.iter()).for_each(|(g, x)| *g = -(x - 1.0));
        s.hess_t.fill(1.0);
        for t in 0..b.len() {
            let beta = b[t].exp();
            for l in data.task_labels(t) {
                let x = alpha[l.worker as usize] * beta;
                let sig = sigmoid(x);
                let q = probs[t * k + l.class as usize];
                s.grad_t[t] += (q - sig) * x;
                s.hess_t[t] += sig * (1.0 - sig) * x * x;
            }
        }
        s.start_t.copy_from_slice(b);
        q_now = line_search(q_now, b, &s.start_t, &s.grad_t, &s.hess_t, |x| {
            objective(data, probs, alpha, x)
        });
        if q_now - q_start < options.m_step_tol {
            break;
        }
    }
}

/// Moves `params` from `start` along `grad / hess`, halving the step until the objective is
/// no lower than `current`; keeps `start` if no step helps. Returns the objective reached.
fn line_search(
    current: f64,
    params: &mut [f64],
    start: &[f64],
    grad: &[f64],
    hess: &[f64],
    mut eval: impl FnMut(&[f64]) -> f64,
) -> f64 {
    let mut step = 1.0;
    for _ in 0..20 {
        for i in 0..params.len() {
            params[i] = start[i] + step * grad[i] / hess[i];
        }
        let value = eval(params);
        if value >= current {
            return value;
        }
        step *= 0.5;
    }
    params.copy_from_slice(start);
    current
}

/// The M-step objective: expected complete-data log likelihood plus the log priors.
fn objective(data: &Dataset, probs: &[f64], alpha: &[f64], b: &[f64]) -> f64 {
    let k = data.n_classes();
    let mut total = log_normal_prior(alpha, b);
    for t in 0..b.len() {
        let beta = b[t].exp();
        for l in data.task_labels(t) {
            let x = alpha[l.worker as usize] * beta;
            let q = probs[t * k + l.class as usize];
            let (at_x, at_minus_x) = softplus_pair(x);
            total += -q * at_minus_x - (1.0 - q) * at_x;
        }
    }
    total
}

/// Log density, up to a constant, of the `N(1, 1)` priors on every `alpha` and `b`.
fn log_normal_prior(alpha: &[f64], b: &[f64]) -> f64 {
    let sq = |v: &[f64]| v.iter().map(|x| (x - 1.0) * (x - 1.0)).sum::<f64>();
    -0.5 * (sq(alpha) + sq(b))
}

/// `ln(1 + e^x)` without overflow.
#[cfg(test)]
fn softplus(x: f64) -> f64 {
    if x > 0.0 { x + (-x).exp().ln_1p() } else { x.exp().ln_1p() }
}

/// `(softplus(x), softplus(-x))`, bit for bit, from one exponential and one logarithm: the
/// two share `ln(1 + e^-|x|)`. Every label needs both in every evaluation of the objective,
/// and these two calls were most of GLAD's time.
fn softplus_pair(x: f64) -> (f64, f64) {
    let shared = (-x.abs()).exp().ln_1p();
    if x > 0.0 { (x + shared, shared) } else { (shared, -x + shared) }
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 { 1.0 / (1.0 + (-x).exp()) } else { x.exp() / (1.0 + x.exp()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softplus_pair_is_two_softplus_calls_bit_for_bit() {
        for x in [-800.0, -30.5, -1.0, -1e-9, -0.0, 0.0, 1e-300, 0.3, 2.0, 37.0, 710.0] {
            let (a, b) = softplus_pair(x);
            assert_eq!(
                (a.to_bits(), b.to_bits()),
                (softplus(x).to_bits(), softplus(-x).to_bits()),
                "{x}"
            );
        }
    }

    #[test]
    fn softplus_and_sigmoid_are_stable() {
        assert!((softplus(0.0) - 2f64.ln()).abs() < 1e-15);
        assert_eq!(softplus(1000.0), 1000.0);
        assert!(softplus(-1000.0) >= 0.0);
        assert_eq!(sigmoid(0.0), 0.5);
        assert!(sigmoid(-1000.0) >= 0.0 && sigmoid(1000.0) <= 1.0);
    }

    #[test]
    fn glad_separates_good_and_bad_workers() {
        // Workers a, b, c agree on every task; d answers the opposite of them.
        let mut rows = Vec::new();
        for t in 0..12 {
            let truth = if t % 3 == 0 { "1" } else { "0" };
            let flipped = if truth == "1" { "0" } else { "1" };
            let task = format!("t{t}");
            for w in ["a", "b", "c"] {
                rows.push((task.clone(), w.to_owned(), truth.to_owned()));
            }
            rows.push((task, "d".to_owned(), flipped.to_owned()));
        }
        let data = Dataset::from_rows(rows);
        let model = glad(&data, &GladOptions::default());
        let expected: Vec<u32> = (0..12).map(|t| u32::from(t % 3 == 0)).collect();
        assert_eq!(model.result.labels, expected);
        assert!(model.alphas[0] > 1.0 && model.alphas[3] < 0.0, "{:?}", model.alphas);
        assert!(model.result.skills[0] > 0.9 && model.result.skills[3] < 0.1);
        assert!(model.result.iterations >= 1);
    }

    #[test]
    fn every_em_round_raises_the_posterior() {
        let data = Dataset::from_rows([
            ("t1", "a", "x"),
            ("t1", "b", "y"),
            ("t1", "c", "x"),
            ("t2", "a", "y"),
            ("t2", "b", "y"),
            ("t3", "a", "x"),
            ("t3", "c", "y"),
            ("t3", "b", "z"),
        ]);
        let mut last = f64::NEG_INFINITY;
        for n_iter in 0..8 {
            let options = GladOptions { n_iter, tol: f64::NEG_INFINITY, ..GladOptions::default() };
            let m = glad(&data, &options);
            let b: Vec<f64> = m.betas.iter().map(|x| x.ln()).collect();
            let value = log_evidence(&data, &m.alphas, &b) + log_normal_prior(&m.alphas, &b);
            assert!(value >= last - 1e-9, "round {n_iter}: {value} < {last}");
            last = value;
        }
    }

    fn log_evidence(data: &Dataset, alpha: &[f64], b: &[f64]) -> f64 {
        let k = data.n_classes();
        let mut total = 0.0;
        for (t, bt) in b.iter().enumerate() {
            let mut row = vec![-(k as f64).ln(); k];
            for l in data.task_labels(t) {
                let x = alpha[l.worker as usize] * bt.exp();
                for (c, r) in row.iter_mut().enumerate() {
                    *r += if c == l.class as usize {
                        -softplus(-x)
                    } else {
                        -softplus(x) - ((k - 1) as f64).ln()
                    };
                }
            }
            total += softmax_in_place(&mut row);
        }
        total
    }
}
