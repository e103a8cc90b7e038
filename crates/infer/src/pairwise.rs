//! Bradley-Terry and noisy Bradley-Terry for pairwise judgements.
//!
//! Each item has a strength `p > 0`; the item `i` beats `j` with probability
//! `p_i / (p_i + p_j)`. Strengths are fitted by Hunter's minorise-maximise updates (Ann.
//! Statist. 32(1), 2004), which raise the likelihood at every step. Every item also plays
//! `prior_games` virtual games, half won and half lost, against a reference item of strength
//! 1: without them an item that never wins has strength 0 and items in separate groups have
//! no common scale. Reported scores are strengths divided by their sum, as in crowd-kit.

use serde::Serialize;

use crate::Comparisons;

/// What a pairwise aggregator concludes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    /// Each item's strength as a share of the total; they sum to 1.
    pub scores: Vec<f64>,
    /// Per item, the mean probability the fitted model gives to the observed outcomes of its
    /// comparisons, in `[0, 1]`; high when the item's results are consistent.
    pub confidence: Vec<f64>,
    /// Per worker, the share of its judgements that agree with the fitted order (ties in
    /// score count half), in `[0, 1]`.
    pub skills: Vec<f64>,
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
    /// 1,000 rounds, tolerance 1e-8, one virtual game.
    fn default() -> Self {
        Self { n_iter: 1000, tol: 1e-8, prior_games: 1.0 }
    }
}

/// Fits Bradley-Terry strengths.
pub fn bradley_terry(data: &Comparisons, options: &BtOptions) -> Scores {
    let weights = vec![1.0; data.comparisons().len()];
    let mut strength = vec![1.0; data.n_items()];
    let iterations = fit_weighted(data, &weights, &mut strength, options.n_iter, options);
    finish(data, &strength, |_| 1.0, |_, _| 0.5, iterations)
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
}

/// Noisy Bradley-Terry, the model of crowd-kit's `NoisyBradleyTerry`: worker `w` judges
/// faithfully (by the Bradley-Terry law) with probability `gamma_w`, and otherwise picks the
/// left item with probability `q_w` whatever the items are, which also captures position bias.
///
/// Fitted by expectation-maximisation over the latent "faithful" flag of each judgement,
/// starting from plain Bradley-Terry strengths, `gamma = 0.9` and `q = 0.5`; each `gamma` and
/// `q` carries one virtual success and one virtual failure so that none reaches 0 or 1.
pub fn noisy_bradley_terry(data: &Comparisons, options: &NoisyBtOptions) -> NoisyBtModel {
    let bt = BtOptions { prior_games: options.prior_games, ..BtOptions::default() };
    let cmp = data.comparisons();
    let w_n = data.n_workers();
    let mut strength = vec![1.0; data.n_items()];
    fit_weighted(data, &vec![1.0; cmp.len()], &mut strength, bt.n_iter, &bt);
    let mut gamma = vec![0.9; w_n];
    let mut left = vec![0.5; w_n];
    let mut faithful = vec![0.0; cmp.len()];
    let (mut r_sum, mut n_sum, mut left_sum, mut unfaithful_sum) =
        (vec![0.0; w_n], vec![0.0; w_n], vec![0.0; w_n], vec![0.0; w_n]);
    let mut previous = f64::NEG_INFINITY;
    let mut iterations = 0;
    for round in 0..=options.n_iter {
        // E-step: how likely each judgement was faithful, and the log likelihood.
        let mut loglik = 0.0;
        for (c, r) in cmp.iter().zip(faithful.iter_mut()) {
            let w = c.worker as usize;
            let (win, lose) = (strength[c.winner() as usize], strength[c.loser() as usize]);
            let f = gamma[w] * win / (win + lose);
            let u = (1.0 - gamma[w]) * if c.left_won { left[w] } else { 1.0 - left[w] };
            *r = f / (f + u);
            loglik += (f + u).ln();
        }
        let prior: f64 = strength
            .iter()
            .map(|p| options.prior_games * (0.5 * p.ln() - (1.0 + p).ln()))
            .sum::<f64>()
            + gamma
                .iter()
                .zip(&left)
                .map(|(g, q)| g.ln() + (1.0 - g).ln() + q.ln() + (1.0 - q).ln())
                .sum::<f64>();
        let objective = (loglik + prior) / cmp.len().max(1) as f64;
        if round == options.n_iter || objective - previous < options.tol {
            break;
        }
        previous = objective;
        // M-step: worker parameters in closed form, strengths by weighted MM updates.
        r_sum.fill(0.0);
        n_sum.fill(0.0);
        left_sum.fill(0.0);
        unfaithful_sum.fill(0.0);
        for (c, r) in cmp.iter().zip(&faithful) {
            let w = c.worker as usize;
            r_sum[w] += r;
            n_sum[w] += 1.0;
            unfaithful_sum[w] += 1.0 - r;
            if c.left_won {
                left_sum[w] += 1.0 - r;
            }
        }
        for w in 0..w_n {
            gamma[w] = (r_sum[w] + 1.0) / (n_sum[w] + 2.0);
            left[w] = (left_sum[w] + 1.0) / (unfaithful_sum[w] + 2.0);
        }
        fit_weighted(data, &faithful, &mut strength, options.m_step_iter, &bt);
        iterations = round + 1;
    }
    let gamma_out = gamma.clone();
    let result = finish(
        data,
        &strength,
        |w| gamma_out[w],
        |w, left_won| if left_won { left[w] } else { 1.0 - left[w] },
        iterations,
    );
    NoisyBtModel { result: Scores { skills: gamma, ..result }, left_bias: left }
}

/// Runs up to `rounds` MM updates of the strengths, counting comparison `c` with weight
/// `weights[c]`; returns the rounds run.
fn fit_weighted(
    data: &Comparisons,
    weights: &[f64],
    strength: &mut [f64],
    rounds: usize,
    options: &BtOptions,
) -> usize {
    let n = strength.len();
    let half = options.prior_games / 2.0;
    let mut wins = vec![half; n];
    for (c, w) in data.comparisons().iter().zip(weights) {
        wins[c.winner() as usize] += w;
    }
    let mut denom = vec![0.0; n];
    let mut iterations = 0;
    for round in 1..=rounds {
        for (d, p) in denom.iter_mut().zip(strength.iter()) {
            *d = options.prior_games / (p + 1.0);
        }
        for (c, w) in data.comparisons().iter().zip(weights) {
            let (a, b) = (c.left as usize, c.right as usize);
            let share = w / (strength[a] + strength[b]);
            denom[a] += share;
            denom[b] += share;
        }
        let mut change: f64 = 0.0;
        for i in 0..n {
            if denom[i] > 0.0 && wins[i] > 0.0 {
                let new = wins[i] / denom[i];
                change = change.max((new / strength[i]).ln().abs());
                strength[i] = new;
            }
        }
        iterations = round;
        if change < options.tol {
            break;
        }
    }
    iterations
}

/// Normalises strengths into scores and adds confidences and skills. `faithful(w)` and
/// `noise(w, left_won)` describe how worker `w` judges, for the confidence of the outcomes.
fn finish(
    data: &Comparisons,
    strength: &[f64],
    faithful: impl Fn(usize) -> f64,
    noise: impl Fn(usize, bool) -> f64,
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
        let (win, lose) = (strength[c.winner() as usize], strength[c.loser() as usize]);
        let g = faithful(w);
        let p = g * win / (win + lose) + (1.0 - g) * noise(w, c.left_won);
        for item in [c.left as usize, c.right as usize] {
            fit[item] += p;
            games[item] += 1.0;
        }
        agree[w] += match win.partial_cmp(&lose) {
            Some(std::cmp::Ordering::Greater) => 1.0,
            Some(std::cmp::Ordering::Equal) => 0.5,
            _ => 0.0,
        };
        judged[w] += 1.0;
    }
    let ratio = |a: &[f64], b: &[f64]| -> Vec<f64> {
        a.iter().zip(b).map(|(x, n)| if *n > 0.0 { (x / n).clamp(0.0, 1.0) } else { 0.0 }).collect()
    };
    Scores { scores, confidence: ratio(&fit, &games), skills: ratio(&agree, &judged), iterations }
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
