//! An experiment's protocol log replayed through the core: the one replay behind `audit`
//! (from a public record) and behind the server (rebuilding a live experiment from its store,
//! or catching up with entries another process appended). Entries go in the order they were
//! accepted: joins, then commits, the creator's early close if any, then reveals, round after
//! round when the experiment has rounds (a round's joins are assigned from the reveals of the
//! rounds before it, see [`crate::rounds`]). A failure names the entry as the public record
//! does (`commits[3] (batch 7)`).

use crate::experiment::Experiment;
use crate::record::{CommitEntry, JoinEntry, RevealEntry};

/// How far an experiment's protocol log goes: the entries of each kind so far. The log only
/// grows, so equal positions mean equal logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogPosition {
    /// Joins (batch ids `0..joins`).
    pub joins: u64,
    /// Commits.
    pub commits: u64,
    /// Reveals.
    pub reveals: u64,
}

impl std::fmt::Display for LogPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} joins, {} commits, {} reveals", self.joins, self.commits, self.reveals)
    }
}

/// Whether a replay recovers every entry's signer again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signatures {
    /// Recover every signer: an auditor reading a public record.
    Verify,
    /// Take each entry's signer to be the labeler it belongs to: a server reading its own
    /// store, every entry of which was verified by the process that stored it. Everything else
    /// (phases, times, nonces, commitments) is checked as ever, and `audit` still recovers
    /// every signature of the record the store publishes.
    Trusted,
}

/// Replays a stretch of the log whose first entries stand at `start`: round by round (every
/// entry falls in the round of its time, since each round's joins, commits and reveals are
/// taken inside its window), a round's joins, then its commits, the early close if any, then
/// its reveals.
pub fn replay_log(
    experiment: &mut Experiment,
    joins: &[JoinEntry],
    commits: &[CommitEntry],
    commits_closed_at: Option<u64>,
    reveals: &[RevealEntry],
    start: LogPosition,
    signatures: Signatures,
) -> Result<(), String> {
    let rounds = experiment.spec().round_windows().len() as u32;
    let mut done = LogPosition::default();
    for round in 0..rounds {
        // This round's entries: those left before the first of a later round.
        let in_round = |at: u64| experiment.round_at(at) <= round;
        let end = LogPosition {
            joins: done.joins + count_while(&joins[done.joins as usize..], |e| in_round(e.at)),
            commits: done.commits
                + count_while(&commits[done.commits as usize..], |e| in_round(e.at)),
            reveals: done.reveals
                + count_while(&reveals[done.reveals as usize..], |e| in_round(e.at)),
        };
        let at = LogPosition {
            joins: start.joins + done.joins,
            commits: start.commits + done.commits,
            reveals: start.reveals + done.reveals,
        };
        let range = |from: u64, to: u64| from as usize..to as usize;
        replay_joins(experiment, &joins[range(done.joins, end.joins)], at, signatures)?;
        replay_commits_and_reveals(
            experiment,
            &commits[range(done.commits, end.commits)],
            commits_closed_at.filter(|_| round == 0),
            &reveals[range(done.reveals, end.reveals)],
            at,
            signatures,
        )?;
        done = end;
    }
    Ok(())
}

/// How many of `items` come before the first that `keep` refuses.
fn count_while<T>(items: &[T], keep: impl Fn(&T) -> bool) -> u64 {
    items.iter().take_while(|item| keep(item)).count() as u64
}

/// Replays joins in order, the first of them at `start.joins` in the log. Each must get the
/// batch it got when it was accepted.
fn replay_joins(
    experiment: &mut Experiment,
    joins: &[JoinEntry],
    start: LogPosition,
    signatures: Signatures,
) -> Result<(), String> {
    for (index, entry) in (start.joins..).zip(joins) {
        let signer = (signatures == Signatures::Trusted).then_some(Ok(entry.join.labeler));
        let batch = experiment
            .join_recovered(&entry.join, signer, entry.at)
            .map_err(|e| format!("joins[{index}] (batch {}): {e}", entry.batch_id))?;
        if batch.batch_id != entry.batch_id {
            return Err(format!(
                "joins[{index}] (batch {}) was assigned batch {}",
                entry.batch_id, batch.batch_id
            ));
        }
    }
    Ok(())
}

/// Replays commits, closes commits at `commits_closed_at` if the creator did, then replays
/// reveals; the first commit and reveal given stand at `start` in the log.
fn replay_commits_and_reveals(
    experiment: &mut Experiment,
    commits: &[CommitEntry],
    commits_closed_at: Option<u64>,
    reveals: &[RevealEntry],
    start: LogPosition,
    signatures: Signatures,
) -> Result<(), String> {
    // The labeler each batch was assigned to, when the replay trusts the store's signatures.
    let trusted = |experiment: &Experiment, batch_id: u64| {
        let batch = experiment.batches().get(batch_id as usize);
        batch.filter(|_| signatures == Signatures::Trusted).map(|b| Ok(b.labeler))
    };
    for (index, entry) in (start.commits..).zip(commits) {
        let signer = trusted(experiment, entry.batch_id);
        experiment
            .commit_recovered(entry.batch_id, &entry.commit, signer, entry.at)
            .map_err(|e| format!("commits[{index}] (batch {}): {e}", entry.batch_id))?;
    }
    if let Some(at) = commits_closed_at {
        experiment.close_commits(at).map_err(|e| format!("commits_closed_at {at}: {e}"))?;
    }
    for (index, entry) in (start.reveals..).zip(reveals) {
        let signer = trusted(experiment, entry.batch_id);
        experiment
            .reveal_recovered(entry.batch_id, &entry.reveal, signer, entry.at)
            .map_err(|e| format!("reveals[{index}] (batch {}): {e}", entry.batch_id))?;
    }
    Ok(())
}
