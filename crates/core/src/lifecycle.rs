//! The experiment lifecycle as a state machine over phases. Every transition and guard takes
//! `now` (unix seconds) as an argument; the deadlines come from the spec.
//!
//! `Draft → Open → Revealing → Settled`, and `Draft → Cancelled`. `Open` becomes `Revealing`
//! at the commit deadline, or earlier when the creator closes commits once every joined batch
//! is committed; `Settled` needs the settlement itself, which may run once the reveal deadline
//! has passed or every committed batch is revealed. An experiment with rounds (see
//! [`crate::rounds`]) is `Open` again at each later round's start and `Revealing` after its
//! commit deadline; it settles after the last round.

use crate::rounds::{Window, round_at};
use crate::spec::ExperimentSpec;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The phase of an experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Being prepared: tasks imported, funded; nothing is accepted from labelers.
    Draft,
    /// Joins and commits are accepted until the commit deadline.
    Open,
    /// Reveals are accepted until the reveal deadline; then it may be settled.
    Revealing,
    /// Settled: payouts are final.
    Settled,
    /// Cancelled before opening; the pool was refunded.
    Cancelled,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Draft => "draft",
            Phase::Open => "open",
            Phase::Revealing => "revealing",
            Phase::Settled => "settled",
            Phase::Cancelled => "cancelled",
        })
    }
}

/// An action refused in the current phase, or out of time.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// The action is not allowed in this phase.
    #[error("cannot {action}: the experiment is {phase}")]
    WrongPhase {
        /// What was attempted.
        action: &'static str,
        /// The phase it is in.
        phase: Phase,
    },
    /// A deadline or a minimum time forbids the action now.
    #[error("cannot {action}: {reason}")]
    Timing {
        /// What was attempted.
        action: &'static str,
        /// Which deadline or minimum.
        reason: String,
    },
    /// A precondition other than time is missing.
    #[error("cannot {action}: {reason}")]
    NotReady {
        /// What was attempted.
        action: &'static str,
        /// What is missing.
        reason: String,
    },
}

/// What an experiment must have before it opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// Whether the reward pool is escrowed.
    pub funded: bool,
    /// Regular tasks imported.
    pub regular_tasks: usize,
    /// Gold tasks imported.
    pub gold_tasks: usize,
}

/// The lifecycle of one experiment: its stored phase and its deadlines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    /// The stored phase (time may have moved it on; see [`Lifecycle::phase_at`]).
    pub phase: Phase,
    /// Every round's deadlines, from the spec: one window unless it has rounds.
    pub windows: Vec<Window>,
    /// When the creator closed commits, if it did before the commit deadline.
    #[serde(default)]
    pub closed_at: Option<u64>,
}

impl Lifecycle {
    /// A new experiment in `Draft`.
    pub fn new(spec: &ExperimentSpec) -> Lifecycle {
        Lifecycle {
            phase: Phase::Draft,
            windows: spec.round_windows(),
            closed_at: spec.commits_closed_at,
        }
    }

    /// The round `now` falls in (0 for an experiment of one round).
    pub fn round_at(&self, now: u64) -> u32 {
        round_at(&self.windows, now)
    }

    /// The deadlines of the round `now` falls in.
    pub fn window_at(&self, now: u64) -> Window {
        self.windows[self.round_at(now) as usize]
    }

    /// The phase at `now`: a live experiment is open in a round until that round's commit
    /// deadline (or the creator's close), and revealing from then on.
    pub fn phase_at(&self, now: u64) -> Phase {
        match self.phase {
            Phase::Open | Phase::Revealing => {
                let round = self.round_at(now);
                let closed = round == 0 && self.closed_at.is_some_and(|at| now >= at);
                if now >= self.windows[round as usize].commit_deadline || closed {
                    Phase::Revealing
                } else {
                    Phase::Open
                }
            }
            phase => phase,
        }
    }

    /// The last round's reveal deadline.
    pub fn final_reveal_deadline(&self) -> u64 {
        self.windows.last().expect("at least one round").reveal_deadline
    }

    /// Whether `now` is in the last round.
    fn in_last_round(&self, now: u64) -> bool {
        self.round_at(now) as usize + 1 == self.windows.len()
    }

    /// Moves the stored phase on by time; returns the new phase when it changed.
    pub fn tick(&mut self, now: u64) -> Option<Phase> {
        let next = self.phase_at(now);
        (next != self.phase).then(|| {
            self.phase = next;
            next
        })
    }

    /// Whether the scheduler should settle now: revealing, and past the (last round's)
    /// reveal deadline or, in the last round, with every committed batch revealed; or, with
    /// rounds, once `rounds_over` (no label can still come and no later round would ask
    /// anything, as [`crate::experiment::Experiment::rounds_over`] decides), while revealing or
    /// in a later round's commit phase.
    pub fn due_for_settlement(
        &self,
        now: u64,
        every_commit_revealed: bool,
        rounds_over: bool,
    ) -> bool {
        match self.phase_at(now) {
            Phase::Revealing => {
                now >= self.final_reveal_deadline()
                    || (every_commit_revealed && self.in_last_round(now))
                    || rounds_over
            }
            Phase::Open => rounds_over && self.round_at(now) > 0,
            _ => false,
        }
    }

    /// Draft → Open. Needs funding, enough tasks, and time left before the commit deadline.
    pub fn open(
        &mut self,
        spec: &ExperimentSpec,
        ready: Readiness,
        now: u64,
    ) -> Result<(), LifecycleError> {
        const ACTION: &str = "open";
        self.expect(ACTION, Phase::Draft, now)?;
        if !ready.funded {
            return Err(LifecycleError::NotReady {
                action: ACTION,
                reason: "the reward pool is not funded".into(),
            });
        }
        if ready.regular_tasks == 0 {
            return Err(LifecycleError::NotReady {
                action: ACTION,
                reason: "no regular tasks are imported".into(),
            });
        }
        if ready.gold_tasks < spec.gold_per_batch as usize {
            return Err(LifecycleError::NotReady {
                action: ACTION,
                reason: format!(
                    "{} gold tasks are imported but each batch needs {}",
                    ready.gold_tasks, spec.gold_per_batch
                ),
            });
        }
        if now >= self.windows[0].commit_deadline {
            return Err(LifecycleError::Timing {
                action: ACTION,
                reason: "the commit deadline has passed".into(),
            });
        }
        self.phase = Phase::Open;
        Ok(())
    }

    /// Draft → Cancelled.
    pub fn cancel(&mut self, now: u64) -> Result<(), LifecycleError> {
        self.expect("cancel", Phase::Draft, now)?;
        self.phase = Phase::Cancelled;
        Ok(())
    }

    /// A labeler may join (and be assigned a batch) now.
    pub fn check_join(&self, now: u64) -> Result<(), LifecycleError> {
        self.expect("join", Phase::Open, now)
    }

    /// A commit for a batch assigned at `assigned_at` may be accepted now: before the commit
    /// deadline of the round it was assigned in, and no sooner than `work_secs_min` after
    /// assignment (fast-response ban).
    pub fn check_commit(
        &self,
        assigned_at: u64,
        work_secs_min: u64,
        now: u64,
    ) -> Result<(), LifecycleError> {
        self.expect("commit", Phase::Open, now)?;
        self.expect_round("commit", assigned_at, now)?;
        let earliest = assigned_at.saturating_add(work_secs_min);
        if now < earliest {
            return Err(LifecycleError::Timing {
                action: "commit",
                reason: format!(
                    "labels arrived {} s after assignment; the minimum is {work_secs_min} s",
                    now.saturating_sub(assigned_at)
                ),
            });
        }
        Ok(())
    }

    /// A reveal of a batch assigned at `assigned_at` may be accepted now: after the commit
    /// deadline and before the reveal deadline of the round it was assigned in.
    pub fn check_reveal(&self, assigned_at: u64, now: u64) -> Result<(), LifecycleError> {
        self.expect("reveal", Phase::Revealing, now)?;
        self.expect_round("reveal", assigned_at, now)?;
        if now >= self.window_at(now).reveal_deadline {
            return Err(LifecycleError::Timing {
                action: "reveal",
                reason: "the reveal deadline has passed".into(),
            });
        }
        Ok(())
    }

    /// Revealing → Settled, once the (last round's) reveal deadline has passed, or earlier in
    /// the last round once every committed batch is revealed, or once `rounds_over` (see
    /// [`Lifecycle::due_for_settlement`]): nothing can change the outcome any more.
    pub fn settle(
        &mut self,
        now: u64,
        every_commit_revealed: bool,
        rounds_over: bool,
    ) -> Result<(), LifecycleError> {
        if !self.due_for_settlement(now, every_commit_revealed, rounds_over) {
            // Not due: out of the revealing phase, the phase is what is wrong.
            self.expect("settle", Phase::Revealing, now)?;
            let reason = if self.in_last_round(now) {
                "the reveal deadline has not passed and a committed batch is not revealed"
            } else {
                "a later round has yet to run"
            };
            return Err(LifecycleError::Timing { action: "settle", reason: reason.into() });
        }
        self.phase = Phase::Settled;
        Ok(())
    }

    /// A batch is committed and revealed in the round it was assigned in.
    fn expect_round(
        &self,
        action: &'static str,
        assigned_at: u64,
        now: u64,
    ) -> Result<(), LifecycleError> {
        let (assigned, current) = (self.round_at(assigned_at), self.round_at(now));
        if assigned == current {
            Ok(())
        } else {
            Err(LifecycleError::Timing {
                action,
                reason: format!("the batch belongs to round {assigned}, which has ended"),
            })
        }
    }

    fn expect(&self, action: &'static str, phase: Phase, now: u64) -> Result<(), LifecycleError> {
        let current = self.phase_at(now);
        if current == phase {
            Ok(())
        } else {
            Err(LifecycleError::WrongPhase { action, phase: current })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::SpecFormat;

    fn spec() -> ExperimentSpec {
        let text = include_str!("../tests/data/pairwise.toml");
        ExperimentSpec::parse(text, SpecFormat::Toml).unwrap()
    }

    const READY: Readiness = Readiness { funded: true, regular_tasks: 10, gold_tasks: 2 };

    #[test]
    fn full_path_follows_time() {
        let spec = spec();
        let mut life = Lifecycle::new(&spec);
        let (commit, reveal) = (spec.commit_deadline, spec.reveal_deadline);
        assert!(life.check_join(0).is_err(), "draft takes no joins");
        life.open(&spec, READY, commit - 100).unwrap();
        life.check_join(commit - 1).unwrap();
        assert!(life.check_commit(commit - 50, 60, commit - 1).is_err(), "too fast");
        life.check_commit(commit - 100, 60, commit - 1).unwrap();
        assert!(life.check_reveal(commit - 100, commit - 1).is_err(), "no reveals while open");
        assert_eq!(life.tick(commit), Some(Phase::Revealing));
        assert!(life.check_commit(0, 0, commit).is_err(), "commit after the deadline");
        life.check_reveal(commit - 100, reveal - 1).unwrap();
        assert!(!life.due_for_settlement(reveal - 1, false, false));
        assert!(life.settle(reveal - 1, false, false).is_err());
        assert!(life.due_for_settlement(reveal, false, false));
        life.settle(reveal, false, false).unwrap();
        assert_eq!(life.phase, Phase::Settled);
        assert!(life.settle(reveal + 1, true, false).is_err(), "settles exactly once");
    }

    #[test]
    fn every_commit_revealed_settles_before_the_reveal_deadline_but_not_while_open() {
        let spec = spec();
        let mut life = Lifecycle::new(&spec);
        let (commit, reveal) = (spec.commit_deadline, spec.reveal_deadline);
        life.open(&spec, READY, commit - 100).unwrap();
        assert!(!life.due_for_settlement(commit - 1, true, false), "commits are still open");
        assert!(life.settle(commit - 1, true, false).is_err());
        assert!(life.due_for_settlement(commit, true, false));
        assert!(!life.due_for_settlement(commit, false, false));
        life.settle(reveal - 1, true, false).unwrap();
        assert_eq!(life.phase, Phase::Settled);
    }

    #[test]
    fn rounds_open_again_after_each_reveal_deadline_and_settle_after_the_last() {
        let mut spec = spec();
        spec.rounds = Some(crate::rounds::Rounds {
            rule: Default::default(),
            count: 2,
            labels_max: 9,
            confidence: crate::fixed::Ppm::new(950_000).unwrap(),
            commit_within: crate::duration::Duration::from_secs(600),
            reveal_within: crate::duration::Duration::from_secs(300),
        });
        let mut life = Lifecycle::new(&spec);
        let (commit, reveal) = (spec.commit_deadline, spec.reveal_deadline);
        let (commit_2, reveal_2) = (reveal + 600, reveal + 900);
        life.open(&spec, READY, commit - 100).unwrap();
        assert_eq!(life.phase_at(commit), Phase::Revealing);
        assert_eq!(life.phase_at(reveal), Phase::Open, "the second round opens");
        assert_eq!(life.round_at(reveal), 1);
        life.check_join(reveal).unwrap();
        assert!(life.check_commit(commit - 100, 0, reveal).is_err(), "a first-round batch");
        life.check_commit(reveal, 0, commit_2 - 1).unwrap();
        assert!(life.check_reveal(commit - 100, commit_2).is_err(), "its round has ended");
        life.check_reveal(reveal, commit_2).unwrap();
        assert!(!life.due_for_settlement(commit, true, false), "a later round has yet to run");
        assert!(
            life.settle(reveal - 1, true, false).unwrap_err().to_string().contains("later round")
        );
        assert!(
            life.due_for_settlement(commit_2, true, false),
            "the last round, every commit revealed"
        );
        assert!(life.due_for_settlement(reveal_2, false, false));
        life.settle(reveal_2, false, false).unwrap();
    }

    #[test]
    fn rounds_with_nothing_left_to_ask_settle_early_but_never_in_the_first_commit_phase() {
        let mut spec = spec();
        spec.rounds = Some(crate::rounds::Rounds {
            rule: Default::default(),
            count: 3,
            labels_max: 9,
            confidence: crate::fixed::Ppm::new(950_000).unwrap(),
            commit_within: crate::duration::Duration::from_secs(600),
            reveal_within: crate::duration::Duration::from_secs(300),
        });
        let (commit, reveal) = (spec.commit_deadline, spec.reveal_deadline);
        let mut life = Lifecycle::new(&spec);
        life.open(&spec, READY, commit - 100).unwrap();
        assert!(!life.due_for_settlement(commit - 1, true, true), "the first round is open");
        assert!(life.clone().settle(commit - 1, true, true).is_err());
        assert!(!life.due_for_settlement(commit, true, false), "a later round may ask more");
        assert!(life.due_for_settlement(commit, false, true), "revealing, nothing left");
        assert!(life.due_for_settlement(reveal, false, true), "a later round that asks nothing");
        assert!(!life.due_for_settlement(reveal, false, false));
        life.clone().settle(commit, false, true).unwrap();
        life.settle(reveal + 1, false, true).unwrap();
        assert_eq!(life.phase, Phase::Settled);
    }

    #[test]
    fn open_needs_funding_tasks_and_time() {
        let spec = spec();
        let mut life = Lifecycle::new(&spec);
        let now = spec.commit_deadline - 1000;
        let unfunded = Readiness { funded: false, ..READY };
        assert!(life.open(&spec, unfunded, now).unwrap_err().to_string().contains("funded"));
        let no_gold = Readiness { gold_tasks: 1, ..READY };
        assert!(life.open(&spec, no_gold, now).unwrap_err().to_string().contains("gold"));
        assert!(life.open(&spec, READY, spec.commit_deadline).is_err());
        assert_eq!(life.phase, Phase::Draft, "failed opens change nothing");
        life.cancel(now).unwrap();
        assert!(life.open(&spec, READY, now).is_err());
    }
}
