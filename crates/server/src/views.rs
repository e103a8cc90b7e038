//! The JSON shapes the API answers with (`EXPERIMENT`, `BATCH`, ...), built from stored rows
//! and core values.

use plumbline_core::assign::{Batch, seed_hash};
use plumbline_core::lifecycle::Phase;
use plumbline_core::spec::ExperimentSpec;
use plumbline_core::task::Task;
use plumbline_core::{Address, B256};
use plumbline_store::ExperimentRow;
use serde::Serialize;

/// Task counts of an experiment.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct TaskCounts {
    /// All tasks.
    pub tasks: u64,
    /// Regular tasks.
    pub regular: u64,
    /// Gold tasks.
    pub gold: u64,
}

/// `EXPERIMENT`.
#[derive(Clone, Debug, Serialize)]
pub struct ExperimentView {
    /// Its id.
    pub experiment_id: B256,
    /// Who created it.
    pub creator: Address,
    /// The spec's title.
    pub title: String,
    /// The phase now.
    pub phase: Phase,
    /// Whether the reward pool was put in escrow.
    pub funded: bool,
    /// The spec.
    pub spec: ExperimentSpec,
    /// Task counts.
    pub tasks: TaskCounts,
    /// Practice tasks in its pool (see `POST /experiments/{id}/practice`).
    pub practice_tasks: u64,
    /// keccak256 of the assignment seed, once open.
    pub seed_hash: Option<B256>,
    /// The commitment to the task list and gold answers, once open; the public record's tasks
    /// must hash to it (see `plumbline audit`).
    pub tasks_hash: Option<B256>,
    /// When the commit phase ends: the spec's commit deadline, or the creator's early close
    /// (`spec.commits_closed_at`). 0 while a draft gives its deadlines as durations, which
    /// are fixed when it opens.
    pub commit_deadline: u64,
    /// From the spec; 0 like `commit_deadline` until durations are fixed.
    pub reveal_deadline: u64,
    /// The EIP-712 domain's chain id.
    pub chain_id: u64,
    /// The EIP-712 domain's verifying contract.
    pub verifying_contract: Address,
}

impl ExperimentView {
    /// The view of a stored experiment at `now`.
    pub fn new(row: ExperimentRow, now: u64) -> ExperimentView {
        ExperimentView {
            experiment_id: row.experiment_id,
            creator: row.creator,
            title: row.spec.title.clone(),
            phase: row.phase_at(now),
            funded: row.funded,
            tasks: TaskCounts {
                tasks: row.task_count,
                regular: row.task_count - row.gold_count,
                gold: row.gold_count,
            },
            practice_tasks: row.practice_count,
            seed_hash: row.seed.map(seed_hash),
            tasks_hash: row.tasks_hash,
            commit_deadline: row.spec.commits_end(),
            reveal_deadline: row.spec.reveal_deadline,
            chain_id: crate::chain::config::domain_of(&row).0,
            verifying_contract: crate::chain::config::domain_of(&row).1,
            spec: row.spec,
        }
    }
}

/// One task of a batch, as the labeler sees it: by its position in the batch only, so that
/// nothing tells gold from regular tasks (not the experiment's task index, not the
/// experimenter's id).
#[derive(Clone, Debug, Serialize)]
pub struct BatchTaskView {
    /// The task's position in this batch; labels are committed and revealed by it.
    pub task: u32,
    /// The prompt: text, or chat messages.
    pub prompt: plumbline_core::task::Prompt,
    /// The responses in the order shown to this labeler.
    pub responses: Vec<String>,
    /// `response_order[p]`: the canonical index of shown response p.
    pub response_order: Vec<u8>,
}

/// `BATCH`.
#[derive(Clone, Debug, Serialize)]
pub struct BatchView {
    /// The batch id (its place in the join log).
    pub batch_id: u64,
    /// Its labeler.
    pub labeler: Address,
    /// The labeler's cohort.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cohort: Option<String>,
    /// When it was assigned.
    pub assigned_at: u64,
    /// Commits are accepted before this instant (earlier if the creator closes commits).
    pub commit_deadline: u64,
    /// The commit is refused sooner than this after assignment.
    pub work_secs_min: u64,
    /// The tasks in the labeler's order; gold tasks are not marked.
    pub tasks: Vec<BatchTaskView>,
}

impl BatchView {
    /// The view of a batch; `tasks` are the batch's tasks in its order.
    pub fn new(batch: Batch, tasks: &[Task], spec: &ExperimentSpec) -> BatchView {
        let views = batch
            .tasks
            .iter()
            .zip(tasks)
            .zip(&batch.response_orders)
            .enumerate()
            .map(|(position, ((_, task), order))| {
                let order: Vec<u8> = if order.is_empty() {
                    (0..task.responses.len() as u8).collect()
                } else {
                    order.clone()
                };
                BatchTaskView {
                    task: position as u32,
                    prompt: task.prompt.clone(),
                    responses: order.iter().map(|&c| task.responses[c as usize].clone()).collect(),
                    response_order: order,
                }
            })
            .collect();
        BatchView {
            batch_id: batch.batch_id,
            labeler: batch.labeler,
            cohort: batch.cohort,
            assigned_at: batch.assigned_at,
            commit_deadline: spec.commits_end(),
            work_secs_min: u64::from(spec.block_size) * u64::from(spec.limits.seconds_per_task_min),
            tasks: views,
        }
    }
}
