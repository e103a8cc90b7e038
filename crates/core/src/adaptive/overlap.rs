//! Dynamic overlap: spend labels where they matter. Every task starts with `start` labels; after
//! each round's reveal, a task whose weighted vote is not yet `confidence` sure of its leader
//! gets one more label in the next round, until it holds `max`.
//!
//! A labeler's weight is [`vote_weight`] of how often it agreed with the plain majority of the
//! other labels on the tasks it labeled (tasks where the others tie say nothing), so no gold is
//! needed and a labeler who answers at random quickly weighs nothing. A task is confident when
//! its leading class leads every other by [`margin_for`] the confidence; with equal weights of a
//! typical labeler (0.7 right on two classes), that is four unanswered votes at 0.99.

use super::{margin_for, vote_weight};
use crate::fixed::Ppm;
use serde::{Deserialize, Serialize};

/// How many labels a task gets, and how sure its vote must be to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlapRule {
    /// Labels every task gets in the first round.
    pub start: u32,
    /// The most labels a task gets.
    pub max: u32,
    /// How sure the weighted vote must be of its leader before a task gets no more labels.
    pub confidence: Ppm,
}

impl OverlapRule {
    /// Checks the rule: at least one label to start, a cap not below it, a confidence strictly
    /// between one half and one.
    pub fn validate(&self) -> Result<(), String> {
        if self.start == 0 || self.max < self.start {
            return Err(format!(
                "overlap must start at one label or more and its max ({}) may not be below its start ({})",
                self.max, self.start
            ));
        }
        super::check_confidence(self.confidence, "overlap")?;
        Ok(())
    }
}

/// One revealed label: who gave it and which class it chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The labeler's index among the experiment's labelers.
    pub labeler: u32,
    /// The class chosen, below the question's number of classes.
    pub class: u32,
}

/// Every labeler's weight from its agreement with its peers' plain majority.
pub fn peer_weights(tasks: &[Vec<Answer>], classes: u32, labelers: usize) -> Vec<u64> {
    let mut right = vec![0u64; labelers];
    let mut answered = vec![0u64; labelers];
    let mut counts = vec![0u32; classes as usize];
    for answers in tasks {
        counts.iter_mut().for_each(|c| *c = 0);
        for a in answers {
            counts[a.class as usize] += 1;
        }
        for a in answers {
            counts[a.class as usize] -= 1;
            if let Some(majority) = strict_leader(&counts) {
                answered[a.labeler as usize] += 1;
                right[a.labeler as usize] += u64::from(majority == a.class as usize);
            }
            counts[a.class as usize] += 1;
        }
    }
    right.iter().zip(&answered).map(|(&r, &n)| vote_weight(r, n, classes)).collect()
}

/// The class with strictly more votes than any other, if there is one.
fn strict_leader(counts: &[u32]) -> Option<usize> {
    let (best, &top) =
        counts.iter().enumerate().max_by_key(|&(i, &c)| (c, std::cmp::Reverse(i)))?;
    let tied = counts.iter().filter(|&&c| c == top).count() > 1;
    (top > 0 && !tied).then_some(best)
}

/// The weighted vote's lead of its leading class over the next (scale 10^6).
pub fn margin(answers: &[Answer], weights: &[u64], classes: u32) -> u64 {
    let mut evidence = vec![0u64; classes as usize];
    for a in answers {
        evidence[a.class as usize] += weights[a.labeler as usize];
    }
    evidence.sort_unstable_by(|a, b| b.cmp(a));
    evidence[0] - evidence[1]
}

/// The tasks that get one more label next round: below the rule's confidence and below its
/// cap, in task order.
pub fn next_round(
    tasks: &[Vec<Answer>],
    classes: u32,
    labelers: usize,
    rule: &OverlapRule,
) -> Vec<u32> {
    let weights = peer_weights(tasks, classes, labelers);
    let needed = margin_for(rule.confidence, classes);
    (0..tasks.len() as u32)
        .filter(|&t| {
            let answers = &tasks[t as usize];
            answers.len() < rule.max as usize && margin(answers, &weights, classes) < needed
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(classes: &[(u32, u32)]) -> Vec<Answer> {
        classes.iter().map(|&(labeler, class)| Answer { labeler, class }).collect()
    }

    fn rule(start: u32, max: u32, confidence: u32) -> OverlapRule {
        OverlapRule { start, max, confidence: Ppm::new(confidence).unwrap() }
    }

    #[test]
    fn contested_tasks_get_more_labels_and_unanimous_ones_stop() {
        // Four labelers who agree everywhere except on task 2.
        let tasks = vec![
            answers(&[(0, 1), (1, 1), (2, 1), (3, 1)]),
            answers(&[(0, 0), (1, 0), (2, 0), (3, 0)]),
            answers(&[(0, 0), (1, 1), (2, 0), (3, 1)]),
            answers(&[(0, 1), (1, 1), (2, 1), (3, 1)]),
        ];
        assert_eq!(next_round(&tasks, 2, 4, &rule(3, 6, 950_000)), vec![2]);
        // At the cap nothing more is asked.
        assert!(next_round(&tasks, 2, 4, &rule(3, 4, 950_000)).is_empty());
    }

    #[test]
    fn a_labeler_who_disagrees_with_its_peers_weighs_nothing() {
        // Labeler 3 always contradicts the other three.
        let tasks: Vec<Vec<Answer>> = (0..12)
            .map(|t| {
                let c = t % 2;
                answers(&[(0, c), (1, c), (2, c), (3, 1 - c)])
            })
            .collect();
        let weights = peer_weights(&tasks, 2, 4);
        assert_eq!(weights[3], 0);
        assert!(weights[0] > 2_000_000, "{weights:?}");
        // Its dissent does not hold a task open.
        assert!(next_round(&tasks, 2, 4, &rule(3, 8, 990_000)).is_empty());
    }

    #[test]
    fn ties_among_the_others_say_nothing_about_a_labeler() {
        let tasks = vec![answers(&[(0, 0), (1, 0), (2, 1)])];
        let weights = peer_weights(&tasks, 2, 3);
        // Labeler 2 disagreed with a 2–0 majority; 0 and 1 each saw a 1–1 tie.
        assert_eq!(weights[0], vote_weight(0, 0, 2));
        assert_eq!(weights[2], vote_weight(0, 1, 2));
    }

    #[test]
    fn rules_out_of_range_are_refused() {
        assert!(rule(3, 5, 990_000).validate().is_ok());
        assert!(rule(0, 5, 990_000).validate().is_err());
        assert!(rule(4, 3, 990_000).validate().is_err());
        assert!(rule(3, 5, 500_000).validate().is_err());
        assert!(rule(3, 5, 1_000_000).validate().is_err());
    }
}
