//! The background scheduler: at every tick it moves experiments past their commit deadline to
//! revealing, reveals the sealed reveals left with the operator, and settles those past their
//! reveal deadline, or with every committed batch revealed on the embedded ledger (exactly
//! once; the store refuses a second settlement). In chain mode the relayer's pass follows
//! (`chain::relay`), so a settlement is posted on chain in the tick that stored it.

use crate::fault::ServiceError;
use crate::state::{AppState, system_now_ms};
use plumbline_core::B256;
use plumbline_core::lifecycle::Phase;
use plumbline_core::seal::{self, SealContext};
use tokio::task::JoinHandle;

/// The lease of the process that runs the scheduler.
const SCHEDULER_LEASE: &str = "scheduler";

/// Starts the scheduler on the runtime; abort the handle to stop it.
pub fn spawn(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(state.config().tick);
        // After a slow pass, run the next one soon rather than catching up with a burst.
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            // One process among those sharing the store runs the passes (see `AppState::leads`).
            if state.leads().await {
                state.tick().await;
                state.relay_tick().await;
            }
        }
    })
}

/// Starts the periodic ledger check on the runtime: every `ledger_check_every`, in every
/// process (it only reads), so that each one's `/health` reports a recent verdict without
/// reading the journal itself. Abort the handle to stop it.
pub fn spawn_ledger_checks(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(state.config().ledger_check_every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate, and the server checked just before it started.
        interval.tick().await;
        loop {
            interval.tick().await;
            if let Err(e) = state.check_ledger().await {
                tracing::error!(error = %e, "cannot run the ledger check");
            }
        }
    })
}

impl AppState {
    /// Whether this process runs the scheduler now: of the processes sharing the store, the
    /// one holding its lease, which it renews at every tick; when it dies, another takes over
    /// once the lease expires.
    pub async fn leads(&self) -> bool {
        let ttl = self.config().scheduler_lease.as_millis() as u64;
        match self.store().lease(SCHEDULER_LEASE, &self.0.instance, system_now_ms(), ttl).await {
            Ok(held) => held,
            Err(e) => {
                tracing::error!(error = %e, "scheduler cannot renew its lease");
                false
            }
        }
    }

    /// One pass of the scheduler: marks experiments whose commit deadline passed as revealing,
    /// and settles those whose reveal deadline passed, those with every commit revealed in
    /// their last round, and those with rounds that no later round would add to (see
    /// `Experiment::rounds_over`). Errors are logged; the next pass tries again.
    pub async fn tick(&self) {
        let now = self.now();
        let live = match self.store().experiments_in(&[Phase::Open, Phase::Revealing]).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "scheduler cannot list experiments");
                return;
            }
        };
        for row in live {
            let id = row.experiment_id;
            // The core's rules: time or an early close ends the commit phase.
            let lifecycle = row.lifecycle();
            let revealing = lifecycle.phase_at(now) == Phase::Revealing;
            if row.phase == Phase::Open && revealing {
                match self.store().set_phase(id, Phase::Open, Phase::Revealing).await {
                    Ok(_) => {
                        tracing::info!(experiment_id = %id, "commit deadline passed; revealing")
                    }
                    Err(e) => {
                        tracing::error!(experiment_id = %id, error = %e, "cannot mark revealing")
                    }
                }
            }
            if revealing && now < lifecycle.window_at(now).reveal_deadline {
                self.reveal_sealed(id, now).await;
            }
            // Every commit revealed counts only off chain: the contract takes a settlement only
            // after the reveal deadline.
            let every_commit_revealed = row.log.reveals >= row.log.commits;
            // Whether the rounds are over is read from the live experiment, under its log,
            // only where the lifecycle would settle on it.
            let due = lifecycle.due_for_settlement(
                now,
                self.chain().is_none() && every_commit_revealed,
                false,
            ) || (row.spec.rounds.is_some()
                && lifecycle.due_for_settlement(now, false, true)
                && self.rounds_over(id, now).await);
            if due && let Err(e) = self.settle(id, now).await {
                tracing::error!(experiment_id = %id, error = %e, "scheduled settlement failed");
            }
        }
    }

    /// Reveals the sealed reveals of an experiment's batches that their labelers have not
    /// revealed themselves; once its commit deadline has passed. Failures are logged and tried
    /// again at the next tick. A server restarted without its sealing key leaves them sealed:
    /// their labelers can still reveal themselves.
    async fn reveal_sealed(&self, experiment_id: B256, now: u64) {
        // Without a sealing key no commit carried a sealed reveal: nothing to read each tick.
        let Some(key) = self.config().sealing_key.as_ref() else { return };
        let sealed = match self.store().sealed_reveals(experiment_id).await {
            Ok(sealed) if sealed.is_empty() => return,
            Ok(sealed) => sealed,
            Err(e) => {
                tracing::error!(experiment_id = %experiment_id, error = %e, "cannot read sealed reveals");
                return;
            }
        };
        let batches = match self.batches(experiment_id).await {
            Ok(batches) => batches,
            Err(e) => {
                tracing::error!(experiment_id = %experiment_id, error = %e, "cannot read batches");
                return;
            }
        };
        for (batch_id, sealed) in sealed {
            let Some(batch) = batches.get(batch_id as usize) else { continue };
            let context = SealContext { experiment_id, batch_id, labeler: batch.labeler };
            let revealed = match seal::open_reveal(key, &context, &sealed) {
                Ok(reveal) => self.reveal(experiment_id, batch_id, &reveal, now).await,
                Err(e) => Err(ServiceError::internal(e)),
            };
            match revealed {
                Ok(_) => {
                    tracing::info!(experiment_id = %experiment_id, batch_id, "revealed a sealed reveal")
                }
                Err(e) => tracing::error!(
                    experiment_id = %experiment_id, batch_id, error = %e,
                    "cannot reveal a sealed reveal"
                ),
            }
        }
    }
}
