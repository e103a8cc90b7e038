//! The API's answers (`EXPERIMENT`, `BATCH`, ...), built from stored rows and core values.
//! Their types are `plumbline_client::api`'s, so the server and its clients share one
//! definition.

pub use plumbline_client::api::{BatchTaskView, BatchView, ExperimentView, TaskCounts};
use plumbline_core::assign::{Batch, seed_hash};
use plumbline_core::lifecycle::Phase;
use plumbline_core::spec::ExperimentSpec;
use plumbline_core::task::Task;
use plumbline_store::ExperimentRow;

/// The view of a stored experiment at `now`.
pub fn experiment_view(row: ExperimentRow, now: u64) -> ExperimentView {
    let lifecycle = row.lifecycle();
    // A draft's deadlines may still be durations (0 until it opens): it is before round 0.
    let round = match row.phase {
        Phase::Draft | Phase::Cancelled => 0,
        _ => lifecycle.round_at(now),
    };
    let window = lifecycle.windows[round as usize];
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
        commit_deadline: if round == 0 { row.spec.commits_end() } else { window.commit_deadline },
        reveal_deadline: window.reveal_deadline,
        round,
        rounds: lifecycle.windows.len() as u32,
        chain_id: crate::chain::config::domain_of(&row).0,
        verifying_contract: crate::chain::config::domain_of(&row).1,
        spec: row.spec,
    }
}

/// The view of a batch; `tasks` are the batch's tasks in its order.
pub fn batch_view(batch: Batch, tasks: &[Task], spec: &ExperimentSpec) -> BatchView {
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
        round: batch.round,
        commit_deadline: if batch.round == 0 {
            spec.commits_end()
        } else {
            spec.round_windows()[batch.round as usize].commit_deadline
        },
        work_secs_min: u64::from(spec.block_size) * u64::from(spec.limits.seconds_per_task_min),
        tasks: views,
    }
}
