//! An experiment's protocol log replayed through the core: the one replay behind `audit`
//! (from a public record) and behind the server (rebuilding a live experiment from its store,
//! or catching up with entries another process appended). Entries go in the order they were
//! accepted: joins, then commits, the creator's early close if any, then reveals. A failure
//! names the entry as the public record does (`commits[3] (batch 7)`).

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

/// Replays joins in order, the first of them at `start.joins` in the log. Each must get the
/// batch it got when it was accepted.
pub fn replay_joins(
    experiment: &mut Experiment,
    joins: &[JoinEntry],
    start: LogPosition,
) -> Result<(), String> {
    for (index, entry) in (start.joins..).zip(joins) {
        let batch = experiment
            .join(&entry.join, entry.at)
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
pub fn replay_commits_and_reveals(
    experiment: &mut Experiment,
    commits: &[CommitEntry],
    commits_closed_at: Option<u64>,
    reveals: &[RevealEntry],
    start: LogPosition,
) -> Result<(), String> {
    for (index, entry) in (start.commits..).zip(commits) {
        experiment
            .commit(entry.batch_id, &entry.commit, entry.at)
            .map_err(|e| format!("commits[{index}] (batch {}): {e}", entry.batch_id))?;
    }
    if let Some(at) = commits_closed_at {
        experiment.close_commits(at).map_err(|e| format!("commits_closed_at {at}: {e}"))?;
    }
    for (index, entry) in (start.reveals..).zip(reveals) {
        experiment
            .reveal(entry.batch_id, &entry.reveal, entry.at)
            .map_err(|e| format!("reveals[{index}] (batch {}): {e}", entry.batch_id))?;
    }
    Ok(())
}
