//! Bradley-Terry and noisy Bradley-Terry for pairwise judgements, ties included.
//!
//! Each item has a strength `p > 0`. In Davidson's extension of Bradley-Terry (JASA 65(329),
//! 1970) item `i` beats `j` with probability `p_i / D`, loses with `p_j / D` and ties with
//! `nu sqrt(p_i p_j) / D`, where `D = p_i + p_j + nu sqrt(p_i p_j)`; with no tie in the data
//! `nu` is 0 and this is plain Bradley-Terry. Strengths are fitted by the fixed-point updates
//! of Hunter (Ann. Statist. 32(1), 2004), minorise-maximise for plain Bradley-Terry, and `nu`
//! by its own stationary condition, until no log-strength (nor `log nu`) moves by more than
//! the tolerance. Every item also plays `prior_games` virtual games, half won and half lost,
//! against a reference item of strength 1: without them an item that never wins has strength
//! 0 and items in separate groups have no common scale. Reported scores are strengths divided
//! by their sum, as in crowd-kit.

use serde::Serialize;

use crate::{Comparison, Comparisons, Outcome};

/// What a pairwise aggregator concludes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    /// Each item's strength as a share of the total; they sum to 1.
    pub scores: Vec<f64>,
    /// Per item, the mean probability the fitted model gives to the observed outcomes of its
    /// comparisons, in `[0, 1]`; high when the item's results are consistent.
    pub confidence: Vec<f64>,
    /// Per worker, the share of its judgements that agree with the fitted order (a tie, in the
    /// judgement or in the scores, counts half), in `[0, 1]`.
    pub skills: Vec<f64>,
    /// Davidson's tie parameter `nu`: 0 when no judgement is a tie; two items of equal strength
    /// tie with probability `nu / (2 + nu)`.
    pub tie: f64,
    /// How many rounds the fit ran.
    pub iterations: usize,
}

/// Options of the Bradley-Terry fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BtOptions {
    /// The most rounds to run.
    pub n_iter: usize,
    /// Stop when no log-strength moves by more than this in a round.
    pub tol: f64,
    /// Virtual games each item plays against a reference of strength 1, half of them won.
    pub prior_games: f64,
}

impl Default for BtOptions {
    /// 10,000 rounds, tolerance 1e-6, one virtual game.
    fn default() -> Self {
        Self { n_iter: 10_000, tol: 1e-6, prior_games: 1.0 }
    }
}

/// Fits Bradley-Terry strengths (Davidson's model when some judgements are ties).
pub fn bradley_terry(data: &Comparisons, options: &BtOptions) -> Scores {
    let weights = vec![1.0; data.comparisons().len()];
    let mut strength = vec![1.0; data.n_items()];
    let mut tie = starting_tie(data);
    let iterations = fit_weighted(data, &weights, &mut strength, &mut tie, options.n_iter, options);
    finish(data, &strength, tie, |_| 1.0, |_, _| 0.5, iterations)
}

/// Options of the noisy Bradley-Terry fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoisyBtOptions {
    /// The most EM rounds to run.
    pub n_iter: usize,
    /// Stop when the log posterior per comparison grows by less than this.
    pub tol: f64,
    /// Strength updates per M-step.
    pub m_step_iter: usize,
    /// Virtual games each item plays against a reference of strength 1, as in [`BtOptions`].
    pub prior_games: f64,
}

impl Default for NoisyBtOptions {
    /// 100 rounds, tolerance 1e-5 (crowd-kit's), 10 strength updates per round, one virtual game.
    fn default() -> Self {
        Self { n_iter: 100, tol: 1e-5, m_step_iter: 10, prior_games: 1.0 }
    }
}

/// A fitted noisy Bradley-Terry model.
#[derive(Debug, Clone, PartialEq)]
pub struct NoisyBtModel {
    /// Scores, confidences, and skills (here each worker's probability of judging faithfully).
    pub result: Scores,
    /// Each worker's probability of picking the left item when not judging faithfully.
    pub left_bias: Vec<f64>,
    /// Each worker's probability of calling a tie when not judging faithfully (0 without ties).
    pub tie_bias: Vec<f64>,
}

/// Where an outcome's entry is in a worker's bias: left, right, tie.
fn outcome_index(outcome: Outcome) -> usize {
    match outcome {
        Outcome::Left => 0,
        Outcome::Right => 1,
        Outcome::Tie => 2,
    }
}

/// Noisy Bradley-Terry, the model of crowd-kit's `NoisyBradleyTerry`: worker `w` judges
/// faithfully (by the Bradley-Terry law, Davidson's with ties) with probability `gamma_w`, and
/// otherwise answers from its own bias `q_w` over left, right (and tie, when the data has
/// ties) whatever the items are, which also captures position bias.
///
/// Fitted by expectation-maximisation over the latent "faithful" flag of each judgement,
/// starting from plain Bradley-Terry strengths, `gamma = 0.9` and an even bias; `gamma` carries
/// one virtual success and one virtual failure, and the bias one virtual answer of each
/// outcome, so that none reaches 0 or 1.
pub fn noisy_bradley_terry(data: &Comparisons, options: &NoisyBtOptions) -> NoisyBtModel {
    let bt = BtOptions { prior_games: options.prior_games, ..BtOptions::default() };
    let cmp = data.comparisons();
    let w_n = data.n_workers();
    let outcomes = if data.has_ties() { 3 } else { 2 };
    let mut strength = vec![1.0; data.n_items()];
    let mut tie = starting_tie(data);
    fit_weighted(data, &vec![1.0; cmp.len()], &mut strength, &mut tie, bt.n_iter, &bt);
    let mut gamma = vec![0.9; w_n];
    let even = 1.0 / outcomes as f64;
    let mut bias = vec![[even, even, if outcomes == 3 { even } else { 0.0 }]; w_n];
    let mut faithful = vec![0.0; cmp.len()];
    let (mut r_sum, mut n_sum) = (vec![0.0; w_n], vec![0.0; w_n]);
    let mut unfaithful = vec![[0.0; 3]; w_n];
    let mut previous = f64::NEG_INFINITY;
    let mut iterations = 0;
    for round in 0..=options.n_iter {
        // E-step: how likely each judgement was faithful, and the log likelihood.
        let mut loglik = 0.0;
        for (c, r) in cmp.iter().zip(faithful.iter_mut()) {
            let w = c.worker as usize;
            let f = gamma[w] * law(&strength, tie, c);
            let u = (1.0 - gamma[w]) * bias[w][outcome_index(c.outcome)];
            *r = f / (f + u);
            loglik += (f + u).ln();
        }
        let prior: f64 = strength
            .iter()
            .map(|p| options.prior_games * (0.5 * p.ln() - (1.0 + p).ln()))
            .sum::<f64>()
            + gamma
                .iter()
                .zip(&bias)
                .map(|(g, q)| {
                    g.ln() + (1.0 - g).ln() + q[..outcomes].iter().map(|x| x.ln()).sum::<f64>()
                })
                .sum::<f64>();
        let objective = (loglik + prior) / cmp.len().max(1) as f64;
        if round == options.n_iter || objective - previous < options.tol {
            break;
        }
        previous = objective;
        // M-step: worker parameters in closed form, strengths by weighted updates.
        r_sum.fill(0.0);
        n_sum.fill(0.0);
        unfaithful.fill([0.0; 3]);
        for (c, r) in cmp.iter().zip(&faithful) {
            let w = c.worker as usize;
            r_sum[w] += r;
            n_sum[w] += 1.0;
            unfaithful[w][outcome_index(c.outcome)] += 1.0 - r;
        }
        for w in 0..w_n {
            gamma[w] = (r_sum[w] + 1.0) / (n_sum[w] + 2.0);
            let total: f64 = unfaithful[w].iter().sum::<f64>() + outcomes as f64;
            for o in 0..outcomes {
                bias[w][o] = (unfaithful[w][o] + 1.0) / total;
            }
        }
        fit_weighted(data, &faithful, &mut strength, &mut tie, options.m_step_iter, &bt);
        iterations = round + 1;
    }
    let gamma_out = gamma.clone();
    let result = finish(
        data,
        &strength,
        tie,
        |w| gamma_out[w],
        |w, outcome| bias[w][outcome_index(outcome)],
        iterations,
    );
    NoisyBtModel {
        result: Scores { skills: gamma, ..result },
        left_bias: bias.iter().map(|q| q[0]).collect(),
        tie_bias: bias.iter().map(|q| q[2]).collect(),
    }
}

/// `nu` to start from: 1 when some judgement is a tie, else 0 (plain Bradley-Terry).
fn starting_tie(data: &Comparisons) -> f64 {
    if data.has_ties() { 1.0 } else { 0.0 }
}

/// The probability the model gives to what the judgement said.
fn law(strength: &[f64], tie: f64, c: &Comparison) -> f64 {
    let (a, b) = (strength[c.left as usize], strength[c.right as usize]);
    let root = (a * b).sqrt();
    let d = a + b + tie * root;
    match c.outcome {
        Outcome::Left => a / d,
        Outcome::Right => b / d,
        Outcome::Tie => tie * root / d,
    }
}

/// Runs up to `rounds` updates of the strengths (and of `tie` when it is above 0), counting
/// comparison `c` with weight `weights[c]`; returns the rounds run. A tie is half a win for
/// each side in the numerator; the denominators are the derivatives of `log D`.
fn fit_weighted(
    data: &Comparisons,
    weights: &[f64],
    strength: &mut [f64],
    tie: &mut f64,
    rounds: usize,
    options: &BtOptions,
) -> usize {
    let n = strength.len();
    let half = options.prior_games / 2.0;
    let mut wins = vec![half; n];
    let mut tie_weight = 0.0;
    for (c, w) in data.comparisons().iter().zip(weights) {
        match c.decided() {
            Some((winner, _)) => wins[winner as usize] += w,
            None => {
                wins[c.left as usize] += w / 2.0;
                wins[c.right as usize] += w / 2.0;
                tie_weight += w;
            }
        }
    }
    let mut denom = vec![0.0; n];
    let mut iterations = 0;
    for round in 1..=rounds {
        for (d, p) in denom.iter_mut().zip(strength.iter()) {
            *d = options.prior_games / (p + 1.0);
        }
        let mut tie_denom = 0.0;
        for (c, w) in data.comparisons().iter().zip(weights) {
            let (a, b) = (c.left as usize, c.right as usize);
            let root = (strength[a] * strength[b]).sqrt();
            let share = w / (strength[a] + strength[b] + *tie * root);
            denom[a] += share * (1.0 + *tie * root / (2.0 * strength[a]));
            denom[b] += share * (1.0 + *tie * root / (2.0 * strength[b]));
            tie_denom += share * root;
        }
        let mut change: f64 = 0.0;
        for i in 0..n {
            if denom[i] > 0.0 && wins[i] > 0.0 {
                let new = wins[i] / denom[i];
                change = change.max((new / strength[i]).ln().abs());
                strength[i] = new;
            }
        }
        if *tie > 0.0 && tie_weight > 0.0 && tie_denom > 0.0 {
            let new = tie_weight / tie_denom;
            change = change.max((new / *tie).ln().abs());
            *tie = new;
        }
        iterations = round;
        if change < options.tol {
            break;
        }
    }
    iterations
}

/// Normalises strengths into scores and adds confidences and skills. `faithful(w)` and
/// `noise(w, outcome)` describe how worker `w` judges, for the confidence of the outcomes.
fn finish(
    data: &Comparisons,
    strength: &[f64],
    tie: f64,
    faithful: impl Fn(usize) -> f64,
    noise: impl Fn(usize, Outcome) -> f64,
    iterations: usize,
) -> Scores {
    let total: f64 = strength.iter().sum();
    let scores = strength.iter().map(|p| p / total).collect();
    let mut fit = vec![0.0; strength.len()];
    let mut games = vec![0.0; strength.len()];
    let mut agree = vec![0.0; data.n_workers()];
    let mut judged = vec![0.0; data.n_workers()];
    for c in data.comparisons() {
        let w = c.worker as usize;
        let g = faithful(w);
        let p = g * law(strength, tie, c) + (1.0 - g) * noise(w, c.outcome);
        for item in [c.left as usize, c.right as usize] {
            fit[item] += p;
            games[item] += 1.0;
        }
        agree[w] += match c.decided() {
            Some((winner, loser)) => {
                match strength[winner as usize].partial_cmp(&strength[loser as usize]) {
                    Some(std::cmp::Ordering::Greater) => 1.0,
                    Some(std::cmp::Ordering::Equal) => 0.5,
                    _ => 0.0,
                }
            }
            None => 0.5,
        };
        judged[w] += 1.0;
    }
    let ratio = |a: &[f64], b: &[f64]| -> Vec<f64> {
        a.iter().zip(b).map(|(x, n)| if *n > 0.0 { (x / n).clamp(0.0, 1.0) } else { 0.0 }).collect()
    };
    Scores {
        scores,
        confidence: ratio(&fit, &games),
        skills: ratio(&agree, &judged),
        tie,
        iterations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bradley_terry_matches_the_closed_form_for_two_items() {
        // a beats b 3 times of 4. With one virtual game each against a reference of strength
        // 1, the fixed point satisfies p = (w + 1/2) / (n/(p + q) + 1/(p + 1)); solve it by
        // iteration here and compare.
        let mut data = Comparisons::new();
        for left_won in [true, true, true, false] {
            data.push("w", "a", "b", left_won).expect("distinct items");
        }
        let fit = bradley_terry(&data, &BtOptions::default());
        let (mut p, mut q) = (1.0f64, 1.0f64);
        for _ in 0..100_000 {
            p = 3.5 / (4.0 / (p + q) + 1.0 / (p + 1.0));
            q = 1.5 / (4.0 / (p + q) + 1.0 / (q + 1.0));
        }
        assert!((fit.scores[0] - p / (p + q)).abs() < 1e-6, "{:?} vs {}", fit.scores, p / (p + q));
        assert!(fit.scores[0] > 0.6 && fit.scores[0] < 0.75);
        assert_eq!(fit.skills, [0.75]);
    }

    #[test]
    fn bradley_terry_recovers_a_chain() {
        // a > b > c > d, each pair judged with the stronger winning 4 times of 5.
        let items = ["a", "b", "c", "d"];
        let mut data = Comparisons::new();
        for i in 0..4 {
            for j in i + 1..4 {
                for round in 0..5 {
                    data.push("w", items[i], items[j], round != 0).expect("distinct");
                }
            }
        }
        let fit = bradley_terry(&data, &BtOptions::default());
        let s = &fit.scores;
        assert!(s[0] > s[1] && s[1] > s[2] && s[2] > s[3], "{s:?}");
        assert!((s.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn ties_fit_davidsons_model_and_leave_a_tie_free_fit_alone() {
        // a and b are equal and tie half the time; both beat c three times of four.
        let mut data = Comparisons::new();
        for round in 0..40 {
            let outcome = match round % 4 {
                0 | 1 => Outcome::Tie,
                2 => Outcome::Left,
                _ => Outcome::Right,
            };
            data.push_outcome("w", "a", "b", outcome).expect("distinct");
            for strong in ["a", "b"] {
                data.push(if round % 2 == 0 { "u" } else { "v" }, strong, "c", round % 4 != 3)
                    .expect("distinct");
            }
        }
        let fit = bradley_terry(&data, &BtOptions::default());
        let s = &fit.scores;
        assert!((s[0] - s[1]).abs() < 0.02 && s[1] > 2.0 * s[2], "{s:?}");
        // nu is at its maximum likelihood: the 20 ties equal the expected number of ties
        // over every game, sum of nu sqrt(p_i p_j) / D (scores serve as strengths: the ratio
        // does not depend on their scale).
        let expected: f64 = data
            .comparisons()
            .iter()
            .map(|c| {
                let (a, b) = (s[c.left as usize], s[c.right as usize]);
                fit.tie * (a * b).sqrt() / (a + b + fit.tie * (a * b).sqrt())
            })
            .sum();
        assert!((expected - 20.0).abs() < 0.05, "nu {} expects {expected} ties", fit.tie);
        assert!(fit.iterations < BtOptions::default().n_iter, "converged by the tolerance");
        // Every tie counts half towards its worker's agreement.
        assert!((fit.skills[0] - 0.5).abs() < 1e-12, "{:?}", fit.skills);
        let noisy = noisy_bradley_terry(&data, &NoisyBtOptions::default());
        assert!(noisy.result.tie > 0.0 && noisy.tie_bias.iter().all(|q| *q > 0.0 && *q < 1.0));

        // Without ties nothing changes: nu stays 0.
        let mut plain = Comparisons::new();
        for left_won in [true, true, false] {
            plain.push("w", "a", "b", left_won).expect("distinct");
        }
        let fit = bradley_terry(&plain, &BtOptions::default());
        assert_eq!(fit.tie, 0.0);
        assert_eq!(noisy_bradley_terry(&plain, &NoisyBtOptions::default()).tie_bias, [0.0]);
    }

    #[test]
    fn noisy_bt_discounts_a_worker_who_always_picks_left() {
        // Truth: a > b > c > d. Two good workers see each pair in both orders; a lazy worker
        // always picks the left item, and sees every pair with the weaker item on the left.
        let items = ["a", "b", "c", "d"];
        let mut data = Comparisons::new();
        for i in 0..4 {
            for j in i + 1..4 {
                for w in ["good1", "good2"] {
                    data.push(w, items[i], items[j], true).expect("distinct");
                    data.push(w, items[j], items[i], false).expect("distinct");
                }
                for _ in 0..3 {
                    data.push("lazy", items[j], items[i], true).expect("distinct");
                }
            }
        }
        let plain = bradley_terry(&data, &BtOptions::default());
        let noisy = noisy_bradley_terry(&data, &NoisyBtOptions::default());
        let s = &noisy.result.scores;
        assert!(s[0] > s[1] && s[1] > s[2] && s[2] > s[3], "{s:?}");
        // Plain Bradley-Terry lets the lazy worker drag the order towards a tie or worse.
        assert!(plain.scores[0] - plain.scores[3] < s[0] - s[3]);
        assert!(noisy.result.skills[2] < 0.3, "{:?}", noisy.result.skills);
        assert!(noisy.left_bias[2] > 0.8);
        assert!(noisy.result.skills[0] > 0.8);
    }
}
