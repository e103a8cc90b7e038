//! Plackett-Luce for rankings.
//!
//! A ranking is read as a sequence of choices: the best item is chosen from all of them with
//! probability proportional to its strength, the second from the rest, and so on. Strengths
//! are fitted by Hunter's minorise-maximise updates (Ann. Statist. 32(1), 2004), with the same
//! virtual games against a reference of strength 1 as Bradley-Terry, for the same reasons.
//! Plackett-Luce on rankings of two items is exactly Bradley-Terry.

use crate::Rankings;
use crate::pairwise::Scores;

/// Options of the Plackett-Luce fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlOptions {
    /// The most rounds to run.
    pub n_iter: usize,
    /// Stop when no log-strength moves by more than this in a round.
    pub tol: f64,
    /// Virtual games each item plays against a reference of strength 1, half of them won.
    pub prior_games: f64,
}

impl Default for PlOptions {
    /// 1,000 rounds, tolerance 1e-8, one virtual game.
    fn default() -> Self {
        Self { n_iter: 1000, tol: 1e-8, prior_games: 1.0 }
    }
}

/// Fits Plackett-Luce strengths.
///
/// Scores are strengths as shares of their total. An item's confidence is the share of the
/// ordered pairs it is part of, over all rankings, that agree with the fitted order; a
/// worker's skill is the same share over its own rankings, which is `(1 + Kendall tau) / 2`
/// against the fitted order, the agreement used for rankings elsewhere in Plumbline.
pub fn plackett_luce(data: &Rankings, options: &PlOptions) -> Scores {
    let n = data.n_items();
    let half = options.prior_games / 2.0;
    // An item "wins" a stage each time it is chosen before the last position.
    let mut wins = vec![half; n];
    for r in data.rankings() {
        for &item in &r.order[..r.order.len() - 1] {
            wins[item as usize] += 1.0;
        }
    }
    let mut strength = vec![1.0; n];
    let mut denom = vec![0.0; n];
    let mut suffix = Vec::new();
    let mut iterations = 0;
    for round in 1..=options.n_iter {
        for (d, p) in denom.iter_mut().zip(&strength) {
            *d = options.prior_games / (p + 1.0);
        }
        for r in data.rankings() {
            // suffix[s] = total strength of the items still in play at stage s.
            suffix.clear();
            let mut total = 0.0;
            for &item in r.order.iter().rev() {
                total += strength[item as usize];
                suffix.push(total);
            }
            suffix.reverse();
            // The item at position q takes part in stages 0..=q (the last stage being the
            // one before a single item is left), each adding 1 / suffix[stage].
            let stages = r.order.len() - 1;
            let mut running = 0.0;
            for (q, &item) in r.order.iter().enumerate() {
                if q < stages {
                    running += 1.0 / suffix[q];
                }
                denom[item as usize] += running;
            }
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
    let total: f64 = strength.iter().sum();
    let scores: Vec<f64> = strength.iter().map(|p| p / total).collect();
    let mut agree_item = vec![0.0; n];
    let mut pairs_item = vec![0.0; n];
    let mut agree_worker = vec![0.0; data.n_workers()];
    let mut pairs_worker = vec![0.0; data.n_workers()];
    for r in data.rankings() {
        for (q, &a) in r.order.iter().enumerate() {
            for &b in &r.order[q + 1..] {
                // The ranking puts a above b; the fit agrees if a is stronger.
                let credit = match strength[a as usize].partial_cmp(&strength[b as usize]) {
                    Some(std::cmp::Ordering::Greater) => 1.0,
                    Some(std::cmp::Ordering::Equal) => 0.5,
                    _ => 0.0,
                };
                for item in [a as usize, b as usize] {
                    agree_item[item] += credit;
                    pairs_item[item] += 1.0;
                }
                agree_worker[r.worker as usize] += credit;
                pairs_worker[r.worker as usize] += 1.0;
            }
        }
    }
    let ratio = |a: &[f64], b: &[f64]| -> Vec<f64> {
        a.iter().zip(b).map(|(x, n)| if *n > 0.0 { x / n } else { 0.0 }).collect()
    };
    Scores {
        scores,
        confidence: ratio(&agree_item, &pairs_item),
        skills: ratio(&agree_worker, &pairs_worker),
        tie: 0.0,
        iterations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Comparisons;
    use crate::pairwise::{BtOptions, bradley_terry};

    #[test]
    fn two_item_rankings_equal_bradley_terry() {
        let mut rankings = Rankings::new();
        let mut comparisons = Comparisons::new();
        for (order, left_won) in [(["a", "b"], true), (["a", "b"], true), (["b", "a"], false)] {
            rankings.push("w", &order).expect("valid");
            comparisons.push("w", "a", "b", left_won).expect("distinct");
        }
        // Both fits run to a tolerance far below the comparison's.
        let pl = plackett_luce(&rankings, &PlOptions { tol: 1e-12, ..PlOptions::default() });
        let bt = bradley_terry(&comparisons, &BtOptions { tol: 1e-12, ..BtOptions::default() });
        for (x, y) in pl.scores.iter().zip(&bt.scores) {
            assert!((x - y).abs() < 1e-9, "{:?} vs {:?}", pl.scores, bt.scores);
        }
    }

    #[test]
    fn plackett_luce_recovers_the_consensus_and_scores_workers() {
        let mut r = Rankings::new();
        for _ in 0..3 {
            r.push("good", &["a", "b", "c", "d"]).expect("valid");
        }
        r.push("other", &["b", "a", "c", "d"]).expect("valid");
        r.push("contrarian", &["d", "c", "b", "a"]).expect("valid");
        let fit = plackett_luce(&r, &PlOptions::default());
        let s = &fit.scores;
        assert!(s[0] > s[1] && s[1] > s[2] && s[2] > s[3], "{s:?}");
        assert_eq!(fit.skills[0], 1.0);
        // One swapped pair of six.
        assert!((fit.skills[1] - 5.0 / 6.0).abs() < 1e-12);
        assert_eq!(fit.skills[2], 0.0);
        assert!(fit.iterations > 1);
    }

    #[test]
    fn one_step_matches_a_hand_computation() {
        // One ranking a > b > c, no virtual games, all strengths 1 at the start. Stage 1 has
        // all three items (sum 3), stage 2 has b and c (sum 2). Denominators: a 1/3,
        // b 1/3 + 1/2, c 1/3 + 1/2; wins: a 1, b 1, c 0 (c keeps its strength).
        let mut r = Rankings::new();
        r.push("w", &["a", "b", "c"]).expect("valid");
        let fit = plackett_luce(&r, &PlOptions { n_iter: 1, tol: 0.0, prior_games: 0.0 });
        let (a, b, c) = (3.0, 1.0 / (1.0 / 3.0 + 0.5), 1.0);
        let total = a + b + c;
        let expected = [a / total, b / total, c / total];
        for (x, y) in fit.scores.iter().zip(expected) {
            assert!((x - y).abs() < 1e-12, "{:?} vs {expected:?}", fit.scores);
        }
    }
}
