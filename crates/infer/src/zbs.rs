//! Zero-Based Skill (crowd-kit's `ZeroBasedSkill`): a vote weighted by each worker's skill,
//! where the skills are learned by gradient steps towards each worker's agreement with the
//! current vote.

use crate::Dataset;
use crate::categorical::{Categorical, agreement_with, argmax, vote_shares};

/// The learning schedule of Zero-Based Skill.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZbsOptions {
    /// Rounds of vote and skill update.
    pub n_iter: usize,
    /// The first learning rate.
    pub lr_init: f64,
    /// Every this many rounds the learning rate is multiplied by `lr_reduce_factor`.
    pub lr_steps_to_reduce: usize,
    /// What the learning rate is multiplied by.
    pub lr_reduce_factor: f64,
    /// Added to the starting skill `1/K`, so that every worker starts just above chance.
    pub eps: f64,
}

impl Default for ZbsOptions {
    /// crowd-kit 1.4's defaults.
    fn default() -> Self {
        Self { n_iter: 100, lr_init: 1.0, lr_steps_to_reduce: 20, lr_reduce_factor: 0.5, eps: 1e-5 }
    }
}

/// Fits Zero-Based Skill: every worker starts at skill `1/K + eps`; each round votes with the
/// skills as weights, then moves each skill towards the share of the worker's labels that
/// agree with that vote by the learning rate, which is cut every `lr_steps_to_reduce` rounds.
/// The answer is the vote with the final skills, whose shares are the probabilities.
pub fn zero_based_skill(data: &Dataset, options: &ZbsOptions) -> Categorical {
    let k = data.n_classes();
    let mut skills = vec![1.0 / k.max(1) as f64 + options.eps; data.n_workers()];
    let mut rate = options.lr_init;
    for round in 1..=options.n_iter {
        if options.lr_steps_to_reduce > 0 && round % options.lr_steps_to_reduce == 0 {
            rate *= options.lr_reduce_factor;
        }
        let shares = vote_shares(data, Some(&skills));
        let labels: Vec<u32> =
            shares.chunks_exact(k.max(1)).map(|row| argmax(row).0 as u32).collect();
        let agreement = agreement_with(data, &labels);
        for (skill, agree) in skills.iter_mut().zip(agreement) {
            *skill += rate * (agree - *skill);
        }
    }
    Categorical::from_probs(k, vote_shares(data, Some(&skills)), skills, options.n_iter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{SyntheticSpec, synthetic};

    #[test]
    fn skills_follow_accuracy_and_the_vote_beats_an_unweighted_one() {
        let spec = SyntheticSpec {
            n_tasks: 400,
            n_workers: 20,
            n_classes: 3,
            labels_per_task: 5,
            accuracy_min: 0.3,
            accuracy_max: 0.95,
        };
        let (data, truth) = synthetic(&spec, 3);
        let fit = zero_based_skill(&data, &ZbsOptions::default());
        let right = |labels: &[u32]| labels.iter().zip(&truth).filter(|(a, b)| a == b).count();
        let mv = crate::majority_vote(&data);
        assert!(
            right(&fit.labels) >= right(&mv.labels),
            "{} < {}",
            right(&fit.labels),
            right(&mv.labels)
        );
        // The learned skill orders the workers as their true accuracy does, nearly.
        let accuracy = crate::categorical::agreement_with(&data, &truth);
        let mut concordant = 0;
        let mut pairs = 0;
        for a in 0..accuracy.len() {
            for b in a + 1..accuracy.len() {
                pairs += 1;
                if (accuracy[a] - accuracy[b]) * (fit.skills[a] - fit.skills[b]) > 0.0 {
                    concordant += 1;
                }
            }
        }
        assert!(concordant * 10 >= pairs * 8, "{concordant} of {pairs} pairs ordered alike");
        for row in fit.probs().chunks_exact(3) {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        }
        assert_eq!(fit.iterations, 100);
    }
}
