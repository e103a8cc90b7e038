//! Adaptive rounds inside one experiment: several commit-reveal rounds, each asking for more
//! labels only where the revealed labels are not yet sure. Two rules choose what a later round
//! asks: dynamic overlap ([`crate::adaptive::overlap`]), more labels on the tasks whose vote is
//! not yet confident; and the crowd's best of N ([`crate::knockout`]), the next comparisons of
//! a knockout over each prompt's responses.
//!
//! Round 0 is the experiment as always: every block to `overlap` labelers, between opening and
//! the commit deadline, revealed before the reveal deadline. Each later round opens at the
//! previous round's reveal deadline, takes joins and commits for `commit_within`, then reveals
//! for `reveal_within`. When it opens, its tasks are chosen from every label revealed so far by
//! [`next_round_tasks`], a pure function of the revealed labels in integer arithmetic, so
//! replaying the log (a replica, `plumbline audit`) chooses the same tasks. Labels stay hidden
//! within a round exactly as in a one-round experiment; every round's batches carry a stake
//! and are settled together once the last round's reveal deadline has passed.
//!
//! Dynamic overlap is for binary and choice questions, best of N for pairwise ones; both run on
//! the embedded ledger only: the market contract knows one commit window and one reveal window,
//! so chain mode refuses them.

use crate::Address;
use crate::adaptive::best_of::BestOfRule;
use crate::adaptive::margin_for;
use crate::adaptive::overlap::{Answer, OverlapRule, margin, next_round, peer_weights};
use crate::duration::{DURATION_MAX, Duration};
use crate::fixed::Ppm;
use crate::label::Label;
use crate::task::Task;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Most rounds an experiment under dynamic overlap may run, the first included.
pub const ROUNDS_MAX: u32 = 8;

/// Most rounds a best-of experiment may run: a knockout of 64 takes six levels, and a close
/// match asks again in the rounds after.
pub const BEST_OF_ROUNDS_MAX: u32 = 32;

/// Which rule chooses what a later round asks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundRule {
    /// More labels on the tasks whose weighted vote is not yet confident.
    #[default]
    Overlap,
    /// The next comparisons of a knockout over each prompt's responses.
    BestOf,
}

impl RoundRule {
    fn is_overlap(&self) -> bool {
        *self == RoundRule::Overlap
    }
}

/// The shortest commit or reveal window of a later round.
pub const ROUND_WINDOW_SECS_MIN: u64 = 60;

/// The spec's `[rounds]`: how many rounds, when each later round takes commits and reveals, and
/// which tasks it asks about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rounds {
    /// What a later round asks (dynamic overlap when absent).
    #[serde(default, skip_serializing_if = "RoundRule::is_overlap")]
    pub rule: RoundRule,
    /// Rounds in all, the first included: 2 to [`ROUNDS_MAX`] ([`BEST_OF_ROUNDS_MAX`] for best
    /// of N).
    pub count: u32,
    /// The most labels a task gets over every round (the first round gives it `overlap`); for
    /// best of N, the most votes one match takes.
    pub labels_max: u32,
    /// How sure a task's weighted vote must be of its leading answer to get no more labels;
    /// for best of N, how sure the crowd must be that its winner is the best response.
    pub confidence: Ppm,
    /// How long each later round takes joins and commits, from the previous round's reveal
    /// deadline.
    pub commit_within: Duration,
    /// How long each later round takes reveals, after its commit deadline.
    pub reveal_within: Duration,
}

impl Rounds {
    /// The dynamic-overlap rule behind the choice of tasks, starting at `overlap` labels.
    pub fn rule(&self, overlap: u32) -> OverlapRule {
        OverlapRule { start: overlap, max: self.labels_max, confidence: self.confidence }
    }

    /// The knockout rule of a best-of prompt with `responses` responses: `overlap` first votes
    /// per match, at most `labels_max`, and the default budget for that many responses.
    pub fn best_of_rule(&self, overlap: u32, responses: u32) -> BestOfRule {
        BestOfRule {
            confidence: self.confidence,
            first_votes: overlap,
            match_votes_max: self.labels_max,
            budget: BestOfRule::budget_for(responses),
        }
    }

    /// Whether later rounds play a knockout.
    pub fn is_best_of(&self) -> bool {
        self.rule == RoundRule::BestOf
    }

    /// Checks the rounds against the rest of the spec; `Err` names the field and the rule.
    pub fn validate(&self, overlap: u32) -> Result<(), (&'static str, String)> {
        let max = if self.is_best_of() { BEST_OF_ROUNDS_MAX } else { ROUNDS_MAX };
        if !(2..=max).contains(&self.count) {
            return Err(("rounds.count", format!("must be 2 to {max}")));
        }
        if self.is_best_of() {
            if self.labels_max < overlap || self.labels_max > crate::limits::OVERLAP_MAX {
                return Err((
                    "rounds.labels_max",
                    format!(
                        "the most votes a match takes: at least overlap ({overlap}), its first \
                         votes, and at most {}",
                        crate::limits::OVERLAP_MAX
                    ),
                ));
            }
            crate::adaptive::check_confidence(self.confidence, "best-of")
                .map_err(|rule| ("rounds.confidence", rule))?;
        } else if self.labels_max <= overlap || self.labels_max > crate::limits::OVERLAP_MAX {
            return Err((
                "rounds.labels_max",
                format!(
                    "must be above overlap ({overlap}), so that later rounds can ask for more, \
                     and at most {}",
                    crate::limits::OVERLAP_MAX
                ),
            ));
        }
        if !self.is_best_of() {
            self.rule(overlap).validate().map_err(|rule| ("rounds.confidence", rule))?;
        }
        for (field, window) in [
            ("rounds.commit_within", self.commit_within),
            ("rounds.reveal_within", self.reveal_within),
        ] {
            if window.secs() < ROUND_WINDOW_SECS_MIN || window > DURATION_MAX {
                return Err((
                    field,
                    format!("must be {ROUND_WINDOW_SECS_MIN} seconds to {DURATION_MAX}"),
                ));
            }
        }
        Ok(())
    }
}

/// One round's deadlines (unix seconds): joins and commits before `commit_deadline`, reveals
/// from then until `reveal_deadline`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Joins and commits are taken before this instant.
    pub commit_deadline: u64,
    /// Reveals are taken before this instant.
    pub reveal_deadline: u64,
}

/// Every round's window, the first from the spec's deadlines, each later one following the
/// one before it.
pub fn windows(commit_deadline: u64, reveal_deadline: u64, rounds: Option<&Rounds>) -> Vec<Window> {
    let mut all = vec![Window { commit_deadline, reveal_deadline }];
    if let Some(rounds) = rounds {
        for _ in 1..rounds.count {
            let before = all.last().expect("the first round").reveal_deadline;
            let commit_deadline = before.saturating_add(rounds.commit_within.secs());
            let reveal_deadline = commit_deadline.saturating_add(rounds.reveal_within.secs());
            all.push(Window { commit_deadline, reveal_deadline });
        }
    }
    all
}

/// The round an instant falls in: the first whose reveal deadline is after it (the last round
/// once every deadline has passed). A round starts at the previous round's reveal deadline.
pub fn round_at(windows: &[Window], now: u64) -> u32 {
    let round = windows.iter().position(|w| now < w.reveal_deadline).unwrap_or(windows.len() - 1);
    round as u32
}

/// The regular tasks the next round asks about, ascending: those whose weighted vote over every
/// label revealed so far is below the rule's confidence and that hold fewer than its cap.
/// `revealed` is each revealed batch's labeler and canonical labels, in batch order; a labeler
/// is numbered by its first revealed batch. Gold tasks never need more labels: their answer is
/// known, and they are dealt to every round's blocks as in the first.
pub fn next_round_tasks(
    tasks: &[Task],
    classes: u32,
    rule: &OverlapRule,
    revealed: &[(Address, &[(u32, Label)])],
) -> Vec<u32> {
    let (answers, labelers) = answers_of(tasks.len(), classes, revealed);
    next_round(&answers, classes, labelers, rule)
        .into_iter()
        .filter(|&t| !tasks[t as usize].is_gold())
        .collect()
}

/// How many regular tasks the revealed labels are already `rule.confidence` sure of, by the
/// same weighted vote as [`next_round_tasks`]: what the dashboard shows growing round by round.
pub fn confident_tasks(
    tasks: &[Task],
    classes: u32,
    rule: &OverlapRule,
    revealed: &[(Address, &[(u32, Label)])],
) -> usize {
    let (answers, labelers) = answers_of(tasks.len(), classes, revealed);
    let weights = peer_weights(&answers, classes, labelers);
    let needed = margin_for(rule.confidence, classes);
    (0..tasks.len())
        .filter(|&t| !tasks[t].is_gold() && !answers[t].is_empty())
        .filter(|&t| margin(&answers[t], &weights, classes) >= needed)
        .count()
}

/// Every task's revealed answers, with labelers numbered by their first revealed batch, and how
/// many labelers there are.
fn answers_of(
    task_count: usize,
    classes: u32,
    revealed: &[(Address, &[(u32, Label)])],
) -> (Vec<Vec<Answer>>, usize) {
    let mut index: HashMap<Address, u32> = HashMap::new();
    let mut answers: Vec<Vec<Answer>> = vec![Vec::new(); task_count];
    for (labeler, labels) in revealed {
        let next = index.len() as u32;
        let labeler = *index.entry(*labeler).or_insert(next);
        for (task, label) in labels.iter() {
            // A verified reveal of a binary or choice question holds class indices below
            // `classes`; anything else says nothing about the vote.
            let Some(class) = label.as_int().and_then(|c| u32::try_from(c).ok()) else { continue };
            if class < classes
                && let Some(slot) = answers.get_mut(*task as usize)
            {
                slot.push(Answer { labeler, class });
            }
        }
    }
    (answers, index.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rounds(count: u32) -> Rounds {
        Rounds {
            rule: RoundRule::Overlap,
            count,
            labels_max: 5,
            confidence: Ppm::new(950_000).unwrap(),
            commit_within: Duration::from_secs(600),
            reveal_within: Duration::from_secs(300),
        }
    }

    #[test]
    fn later_rounds_follow_the_first() {
        let all = windows(1_000, 1_500, Some(&rounds(3)));
        assert_eq!(
            all,
            vec![
                Window { commit_deadline: 1_000, reveal_deadline: 1_500 },
                Window { commit_deadline: 2_100, reveal_deadline: 2_400 },
                Window { commit_deadline: 3_000, reveal_deadline: 3_300 },
            ]
        );
        assert_eq!(round_at(&all, 0), 0);
        assert_eq!(round_at(&all, 1_499), 0);
        assert_eq!(round_at(&all, 1_500), 1);
        assert_eq!(round_at(&all, 2_399), 1);
        assert_eq!(round_at(&all, 2_400), 2);
        assert_eq!(round_at(&all, 9_999), 2, "after the last deadline: the last round");
        assert_eq!(windows(1_000, 1_500, None).len(), 1);
    }

    #[test]
    fn rounds_are_checked() {
        assert!(rounds(2).validate(3).is_ok());
        assert_eq!(rounds(1).validate(3).unwrap_err().0, "rounds.count");
        assert_eq!(rounds(ROUNDS_MAX + 1).validate(3).unwrap_err().0, "rounds.count");
        assert_eq!(rounds(2).validate(5).unwrap_err().0, "rounds.labels_max");
        let unsure = Rounds { confidence: Ppm::new(500_000).unwrap(), ..rounds(2) };
        assert_eq!(unsure.validate(3).unwrap_err().0, "rounds.confidence");
        let short = Rounds { reveal_within: Duration::from_secs(59), ..rounds(2) };
        assert_eq!(short.validate(3).unwrap_err().0, "rounds.reveal_within");
    }

    #[test]
    fn a_knockout_may_run_more_rounds_and_start_at_its_cap() {
        let best_of = |count| Rounds { rule: RoundRule::BestOf, count, ..rounds(2) };
        assert!(best_of(BEST_OF_ROUNDS_MAX).validate(3).is_ok());
        assert!(Rounds { labels_max: 3, ..best_of(2) }.validate(3).is_ok());
        assert_eq!(best_of(BEST_OF_ROUNDS_MAX + 1).validate(3).unwrap_err().0, "rounds.count");
        assert_eq!(best_of(4).validate(6).unwrap_err().0, "rounds.labels_max");
        assert_eq!(rounds(ROUNDS_MAX + 1).validate(3).unwrap_err().0, "rounds.count");
        let rule = best_of(4).best_of_rule(3, 64);
        assert_eq!((rule.first_votes, rule.match_votes_max, rule.budget), (3, 5, 400));
        // The rule is written only when it is not the default, so older specs read the same.
        let toml = toml::to_string(&best_of(4)).unwrap();
        assert!(toml.contains("rule = \"best_of\""), "{toml}");
        assert!(!toml::to_string(&rounds(2)).unwrap().contains("rule"));
    }

    #[test]
    fn contested_regular_tasks_are_asked_again_and_gold_never() {
        let task = |gold: bool| Task {
            id: String::new(),
            prompt: String::new().into(),
            responses: Vec::new(),
            gold: gold.then_some(Label::Int(1)),
            meta: Default::default(),
        };
        // Tasks 0 and 1 regular, 2 gold. Five labelers agree on 0, split on 1 and 2.
        let tasks = vec![task(false), task(false), task(true)];
        let labels: Vec<[(u32, Label); 3]> =
            [[1, 0, 0], [1, 1, 1], [1, 0, 1], [1, 1, 0], [1, 0, 1]]
                .iter()
                .map(|l| [0, 1, 2].map(|t| (t, Label::Int(l[t as usize]))))
                .collect();
        let revealed: Vec<(Address, &[(u32, Label)])> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (Address::repeat_byte(i as u8 + 1), &l[..]))
            .collect();
        let rule = Rounds { labels_max: 7, ..rounds(2) }.rule(3);
        assert_eq!(next_round_tasks(&tasks, 2, &rule, &revealed), vec![1]);
        assert_eq!(confident_tasks(&tasks, 2, &rule, &revealed), 1, "task 0 only");
    }
}
