//! What the routes do, apart from HTTP: every write checks the caller, validates against the
//! core `Experiment` held in memory, persists in one store transaction (with its ledger
//! effect), and only then counts as done. Handlers, the scheduler and `--demo` share it.
//!
//! The in-memory experiment is changed by the core before the store writes; when the write
//! fails, the slot is emptied so that the next request rebuilds it from the stored log, which
//! is the truth. Rebuilding replays the log through the same checks `audit` makes.
//!
//! Commits and reveals, the bulk of the traffic, are written in groups: those that arrive while
//! a group is being written wait, and the next group takes them all, checks each through the
//! core in arrival order, stores the accepted ones in one transaction (one sync to disk for
//! the lot) and only then answers each. Nobody is answered, and nobody else sees the in-memory
//! state, before the group is on disk, exactly as when each write went alone.

use crate::chain::config::domain_of;
use crate::fault::{Reason, ServiceError, ServiceResult, chain_failed};
use crate::group::{Append, Pending};
use crate::state::{AppState, Cached, TIME_MAX};
use plumbline_core::assign::Batch;
use plumbline_core::client::{SignedCommit, SignedJoin, SignedReveal};
use plumbline_core::experiment::{Accepted, Experiment};
use plumbline_core::lifecycle::Phase;
use plumbline_core::log::{self, Signatures};
use plumbline_core::record::{CommitEntry, JoinEntry, PublicRecord, RevealEntry};
use plumbline_core::reputation::Reputation;
use plumbline_core::seal::{self, SealContext};
use plumbline_core::settle::Settlement;
use plumbline_core::spec::ExperimentSpec;
use plumbline_core::task::{self, TaskSummary};
use plumbline_core::{Address, Amount, B256, U256};
use plumbline_store::{
    ExperimentLog, ExperimentRow, LogPosition, LogWriter, NewExperiment, StoreError, StoredCommit,
};
use std::collections::BTreeMap;
use tokio::sync::oneshot;

/// Attempts at a settlement that another process's writes keep making stale.
const SETTLE_ATTEMPTS: u32 = 5;

/// Drafts one address may hold at once: a draft costs nothing until it is funded, so without a
/// bound one free key could fill the store (and every experiment list) with them.
pub const DRAFTS_PER_CREATOR_MAX: usize = 20;

/// Most commits and reveals written in one group, bounding the transaction and the time the
/// experiment stays locked for it.
pub const APPEND_GROUP_MAX: usize = 256;

/// What a commit may leave with the server beside the commitment.
#[derive(Clone, Copy, Default)]
pub struct CommitExtras<'a> {
    /// The client's encrypted backup of its labels, opaque to the server.
    pub backup: Option<&'a str>,
    /// The signed reveal sealed to the server's sealing key (`plumbline_core::seal`).
    pub sealed_reveal: Option<&'a str>,
}

/// A live experiment locked for one request (see `AppState::hold`).
pub(crate) type HeldLive = tokio::sync::OwnedMutexGuard<Option<Cached>>;

pub(crate) fn require_creator(row: &ExperimentRow, caller: Address) -> ServiceResult<()> {
    if row.creator == caller {
        Ok(())
    } else {
        Err(ServiceError::forbidden(format!(
            "only the experiment's creator {} may do this",
            row.creator
        )))
    }
}

/// The error of a write the core accepted in memory but the store refused. The store is the
/// truth: the caller drops the in-memory state, to be rebuilt from the log on the next use.
fn persist_failed(error: StoreError) -> ServiceError {
    ServiceError::from(error)
}

/// The error of a stored log that does not replay through the core: a bug or tampering.
fn broken_log(experiment_id: B256, what: String) -> ServiceError {
    ServiceError::internal(format!("experiment {experiment_id}: stored log fails replay: {what}"))
}

/// Replays log entries through the core, as `audit` does (`plumbline_core::log`), trusting
/// the signatures: every entry in the store was verified by the process that stored it, so a
/// rebuild, and a replica catching up with the others' entries, do not recover them again.
fn replay(
    experiment: &mut Experiment,
    log: &ExperimentLog,
    commits_closed_at: Option<u64>,
    start: LogPosition,
) -> Result<(), String> {
    log::replay_log(
        experiment,
        &log.joins,
        &log.commits,
        commits_closed_at,
        &log.reveals,
        start,
        Signatures::Trusted,
    )
}

impl AppState {
    /// Creates a draft experiment with a fresh random id; the caller becomes its creator.
    pub async fn create_experiment(
        &self,
        creator: Address,
        spec: ExperimentSpec,
        now: u64,
    ) -> ServiceResult<ExperimentRow> {
        spec.validate().map_err(plumbline_core::Error::from)?;
        if spec.commits_closed_at.is_some() {
            return Err(ServiceError::invalid(
                "spec field `commits_closed_at`: is set when the creator closes commits, \
                 never in a spec",
            ));
        }
        if spec.final_reveal_deadline() > TIME_MAX {
            return Err(ServiceError::invalid(format!(
                "spec field `reveal_deadline`: the last round's must be at most {TIME_MAX}"
            )));
        }
        if spec.rounds.is_some() && self.chain().is_some() {
            return Err(ServiceError::invalid(
                "spec field `rounds`: the market contract knows one commit window and one \
                 reveal window, so chain mode runs experiments of one round",
            ));
        }
        if !spec.deadlines_fixed() && self.chain().is_some() {
            return Err(ServiceError::invalid(
                "spec fields `commit_within`, `reveal_within`: the market contract fixes the \
                 deadlines when the pool is escrowed, so chain mode needs commit_deadline and \
                 reveal_deadline (unix seconds)",
            ));
        }
        // A draft whose commit deadline has passed could be funded but never opened.
        if spec.deadlines_fixed() && spec.commit_deadline <= now {
            return Err(ServiceError::invalid(format!(
                "spec field `commit_deadline`: {} is not in the future (the server's clock reads \
                 {now}; deadlines are unix seconds)",
                spec.commit_deadline
            )));
        }
        self.require_pool_at_hand(creator, spec.reward_pool).await?;
        let drafts = self.store().experiments_in(&[Phase::Draft]).await?;
        if drafts.iter().filter(|row| row.creator == creator).count() >= DRAFTS_PER_CREATOR_MAX {
            return Err(ServiceError::new(
                Reason::RateLimited,
                "too_many_drafts",
                format!(
                    "{creator} has {DRAFTS_PER_CREATOR_MAX} drafts: open or cancel one before \
                     creating another"
                ),
            ));
        }
        let (experiment_id, market) = self.new_experiment_id(creator)?;
        let experiment = NewExperiment { experiment_id, creator, spec, market, created_at: now };
        self.store().create_experiment(&experiment).await?;
        self.experiment_row(experiment.experiment_id).await
    }

    /// Refuses a creator who could not fund a draft of `pool` now: drafts and their tasks are
    /// stored for whoever holds the money to run them, not for any fresh key. The funds are
    /// not reserved; `fund` moves them.
    async fn require_pool_at_hand(&self, creator: Address, pool: Amount) -> ServiceResult<()> {
        let (at_hand, where_) = match self.chain() {
            Some(chain) => {
                let market = &chain.market;
                let free = market.balance_of(creator).await.map_err(chain_failed)?;
                let wallet = market.token_balance(creator).await.map_err(chain_failed)?;
                (free.saturating_add(wallet), "in its wallet and market balance together")
            }
            None => (U256::from(self.store().balances(creator).await?.available), "available"),
        };
        if at_hand >= U256::from(pool) {
            return Ok(());
        }
        Err(ServiceError::new(
            Reason::Conflict,
            "insufficient_funds",
            format!(
                "{creator} has {at_hand} {where_}; a draft and its tasks are kept only for a \
                 creator who could fund its reward pool of {pool} now"
            ),
        ))
    }

    /// Imports a draft's tasks from JSONL, all or nothing.
    pub async fn import_tasks(
        &self,
        experiment_id: B256,
        caller: Address,
        text: &str,
        now: u64,
    ) -> ServiceResult<TaskSummary> {
        let row = self.experiment_row(experiment_id).await?;
        require_creator(&row, caller)?;
        if row.phase != Phase::Draft {
            return Err(ServiceError::new(
                Reason::Conflict,
                "wrong_phase",
                format!("cannot import tasks: the experiment is {}", row.phase_at(now)),
            ));
        }
        if row.task_count > 0 {
            return Err(ServiceError::conflict(format!(
                "{} tasks were already imported; an import replaces nothing",
                row.task_count
            )));
        }
        self.require_pool_at_hand(caller, row.spec.reward_pool).await?;
        let tasks = task::parse_for(text, &row.spec)?;
        // Building the core experiment checks every gold answer against the question.
        let (chain_id, contract) = domain_of(&row);
        Experiment::new(experiment_id, chain_id, contract, row.spec, tasks.clone())?;
        self.store().import_tasks(experiment_id, &tasks, now).await?;
        Ok(task::summarize(&tasks))
    }

    /// Moves a draft's reward pool from its creator into escrow.
    pub async fn fund(
        &self,
        experiment_id: B256,
        caller: Address,
        now: u64,
    ) -> ServiceResult<ExperimentRow> {
        let row = self.experiment_row(experiment_id).await?;
        require_creator(&row, caller)?;
        if row.phase == Phase::Draft
            && row.spec.deadlines_fixed()
            && now >= row.spec.commit_deadline
        {
            return Err(ServiceError::new(
                Reason::Conflict,
                "deadline",
                format!(
                    "cannot fund: the commit deadline ({}) has passed, so the experiment could \
                     never open; cancel it and create it again with later deadlines",
                    row.spec.commit_deadline
                ),
            ));
        }
        if row.market.is_some() {
            self.fund_on_chain(&row, now).await?;
        } else {
            self.store().fund(experiment_id, now).await?;
        }
        self.experiment_row(experiment_id).await
    }

    /// Opens a funded draft: draws the assignment seed and publishes its hash.
    pub async fn open(
        &self,
        experiment_id: B256,
        caller: Address,
        now: u64,
    ) -> ServiceResult<ExperimentRow> {
        let row = self.experiment_row(experiment_id).await?;
        require_creator(&row, caller)?;
        let slot = self.slot(experiment_id);
        let mut live = slot.experiment.lock().await;
        if let Some(qualification) = &row.spec.qualification
            && row.practice_count < u64::from(qualification.items)
        {
            return Err(ServiceError::conflict(format!(
                "cannot open: the qualification asks {} practice tasks of each labeler and \
                 {} are imported (POST /experiments/{{id}}/practice)",
                qualification.items, row.practice_count
            )));
        }
        let tasks = self.store().tasks(experiment_id).await?;
        let (chain_id, contract) = domain_of(&row);
        let mut experiment = Experiment::new(experiment_id, chain_id, contract, row.spec, tasks)?;
        let seed = crate::state::random_b256()?;
        experiment.open(seed, row.funded, now)?;
        // The deadlines a spec gave as durations are fixed now.
        let spec = experiment.spec();
        self.store().open(experiment_id, spec, seed, experiment.tasks_hash(), now).await?;
        *live = Some(Cached { experiment, seen: LogPosition::default() });
        drop(live);
        self.experiment_row(experiment_id).await
    }

    /// Ends the commit phase of an open experiment now, before its deadline: the creator's
    /// early close, once every joined batch is committed. Embedded ledger only: a market
    /// contract takes commits until the deadline it was given.
    pub async fn close_commits(
        &self,
        experiment_id: B256,
        caller: Address,
        now: u64,
    ) -> ServiceResult<ExperimentRow> {
        let row = self.experiment_row(experiment_id).await?;
        require_creator(&row, caller)?;
        if row.market.is_some() {
            return Err(ServiceError::conflict(
                "cannot close commits early: the market contract takes commits until its commit \
                 deadline",
            ));
        }
        let (mut live, writer) = self.hold(experiment_id, "close commits").await?;
        let cached = live.as_mut().expect("held live");
        if let Err(e) = cached.experiment.close_commits(now) {
            writer.release().await;
            return Err(e.into());
        }
        if let Err(e) = writer.close_commits(cached.experiment.spec(), cached.seen).await {
            // The core closed in memory what the store did not.
            *live = None;
            return Err(persist_failed(e));
        }
        drop(live);
        self.experiment_row(experiment_id).await
    }

    /// Cancels a draft, refunding its pool if it was funded.
    pub async fn cancel(
        &self,
        experiment_id: B256,
        caller: Address,
        now: u64,
    ) -> ServiceResult<ExperimentRow> {
        let row = self.experiment_row(experiment_id).await?;
        require_creator(&row, caller)?;
        if row.market.is_some() && row.funded {
            return Err(ServiceError::conflict(
                "cannot cancel: the pool is escrowed on chain, where it returns to the creator \
                 only once the experiment is abandoned",
            ));
        }
        self.store().cancel(experiment_id, now).await?;
        self.forget(experiment_id);
        self.experiment_row(experiment_id).await
    }

    /// Rebuilds a live experiment by replaying its stored log through the core, as `audit`
    /// replays a record. Joins replay with an empty reputation: eligibility was checked when
    /// each join was accepted, and reputations have moved on since.
    async fn rebuild(&self, row: &ExperimentRow) -> ServiceResult<Cached> {
        let id = row.experiment_id;
        let (Some(seed), Some(opened_at)) = (row.seed, row.opened_at) else {
            return Err(ServiceError::internal(format!(
                "experiment {id} is live but was never opened"
            )));
        };
        let tasks = self.store().tasks(id).await?;
        let log = self.store().log(id).await?;
        let (chain_id, contract) = domain_of(row);
        let mut experiment = Experiment::new(id, chain_id, contract, row.spec.clone(), tasks)
            .map_err(|e| broken_log(id, e.to_string()))?;
        experiment.open(seed, true, opened_at).map_err(|e| broken_log(id, e.to_string()))?;
        replay(&mut experiment, &log, row.spec.commits_closed_at, LogPosition::default())
            .map_err(|what| broken_log(id, what))?;
        Ok(Cached { experiment, seen: log.end(LogPosition::default()) })
    }

    /// Brings a live experiment up to where the writer says the stored log is: other
    /// processes on the same store may have appended since this one last read it.
    async fn catch_up(&self, cached: &mut Cached, writer: &mut dyn LogWriter) -> ServiceResult<()> {
        let Some(position) = writer.position() else { return Ok(()) };
        // A close by another process is not in the log: the writer reads it beside it.
        let closed = writer
            .commits_closed_at()
            .filter(|_| cached.experiment.spec().commits_closed_at.is_none());
        if position == cached.seen && closed.is_none() {
            return Ok(());
        }
        let id = cached.experiment.id();
        let tail = writer.log_after(cached.seen).await?;
        replay(&mut cached.experiment, &tail, closed, cached.seen)
            .map_err(|what| broken_log(id, what))?;
        cached.seen = tail.end(cached.seen);
        if cached.seen != position {
            return Err(broken_log(id, format!("read up to {}, not {position}", cached.seen)));
        }
        Ok(())
    }

    /// Holds the live experiment for one request: locked in memory, up to date with the stored
    /// log, and with the right to append to it, which the caller uses or gives back. Rebuilds
    /// the experiment first if needed. Refuses experiments that are not open or revealing (by
    /// their stored phase) with 409. A caller whose write fails after the core accepted it
    /// empties the slot (`*live = None`), so that the next use rebuilds from the log.
    ///
    /// The stored row is read only when the experiment is not in memory yet: a filled slot
    /// belongs to an experiment that was open or revealing when it was filled, settling
    /// forgets it, and after settlement the core itself refuses every write. Skipping the
    /// read keeps the database off the path of each commit and reveal but for their append.
    pub(crate) async fn hold(
        &self,
        experiment_id: B256,
        action: &str,
    ) -> ServiceResult<(HeldLive, Box<dyn LogWriter>)> {
        let (slot, mut row) = match self.existing_slot(experiment_id) {
            Some(slot) => (slot, None),
            // Unknown and closed experiments are refused before a slot is made for them.
            None => {
                let row = self.live_row(experiment_id, action).await?;
                (self.slot(experiment_id), Some(row))
            }
        };
        let mut live = slot.experiment.clone().lock_owned().await;
        if live.is_none() {
            let row = match row.take() {
                Some(row) => row,
                None => self.live_row(experiment_id, action).await?,
            };
            *live = Some(self.rebuild(&row).await?);
        }
        let mut writer = self.store().log_writer(experiment_id).await?;
        let cached = live.as_mut().expect("filled above");
        if let Err(e) = self.catch_up(cached, writer.as_mut()).await {
            writer.release().await;
            *live = None;
            return Err(e);
        }
        slot.domain.get_or_init(|| cached.experiment.domain().clone());
        Ok((live, writer))
    }

    /// The stored row of an experiment that is open or revealing; 409 for another phase.
    async fn live_row(&self, experiment_id: B256, action: &str) -> ServiceResult<ExperimentRow> {
        let row = self.experiment_row(experiment_id).await?;
        if !matches!(row.phase, Phase::Open | Phase::Revealing) {
            return Err(ServiceError::new(
                Reason::Conflict,
                "wrong_phase",
                format!("cannot {action}: the experiment is {}", row.phase),
            ));
        }
        Ok(row)
    }

    /// Serves a signed join: locks the stake and assigns a batch. Returns the batch and whether
    /// it is new; the exact same signed join again returns its batch unchanged.
    pub async fn join(
        &self,
        experiment_id: B256,
        join: &SignedJoin,
        now: u64,
    ) -> ServiceResult<(Batch, bool)> {
        // The balance is checked before the core assigns a batch, so that this common refusal
        // leaves the in-memory state untouched; the store checks it again inside its
        // transaction. A chain experiment's stake is checked against the market. These reads
        // come before the log is held (see `LogWriter`).
        let row = self.experiment_row(experiment_id).await?;
        let market_free = self.market_balance(&row, join.labeler).await?;
        self.check_qualified(&row, join.labeler).await?;
        let available = match market_free {
            Some(free) => free,
            None => U256::from(self.store().balances(join.labeler).await?.available),
        };
        if available < U256::from(join.stake) {
            // A retried join whose stake is locked already finds its batch, not a refusal.
            if let Some(batch) = self.joined_before(experiment_id, join).await? {
                return Ok((batch, false));
            }
            return Err(match market_free {
                Some(free) => crate::chain::market_too_low(&row, join, free),
                None => StoreError::InsufficientFunds {
                    account: format!("available:{}", join.labeler),
                    available: Amount::try_from(available).expect("a ledger balance"),
                    needed: join.stake,
                }
                .into(),
            });
        }
        let reputation = self
            .store()
            .reputations(&[join.labeler])
            .await?
            .remove(&join.labeler)
            .unwrap_or_default();
        // Recovered before the experiment is locked, where its domain is known already.
        let signer = self.existing_slot(experiment_id).and_then(|slot| {
            slot.domain.get().map(|d| Experiment::join_signer(d, experiment_id, join))
        });
        let (mut live, writer) = self.hold(experiment_id, "join").await?;
        let cached = live.as_mut().expect("held live");
        let experiment = &mut cached.experiment;
        let assigned = experiment
            .check_eligible(&reputation)
            .and_then(|()| experiment.join_recovered(join, signer, now));
        let batch = match assigned {
            Ok(batch) => batch,
            Err(e) => {
                writer.release().await;
                // A retried join (its answer was lost) finds its batch again.
                if let plumbline_core::Error::Mismatch { field: "nonce", .. } = e
                    && let Some(batch) = experiment.joined_batch(join)
                {
                    return Ok((batch.clone(), false));
                }
                return Err(e.into());
            }
        };
        let entry = JoinEntry { batch_id: batch.batch_id, join: join.clone(), at: now };
        match writer.append_join(&entry, join.stake, market_free, cached.seen).await {
            Ok(()) => {
                cached.seen.joins += 1;
                Ok((batch, true))
            }
            Err(e) => {
                *live = None;
                Err(persist_failed(e))
            }
        }
    }

    /// The batch of a join already accepted, if this very signed join was.
    async fn joined_before(
        &self,
        experiment_id: B256,
        join: &SignedJoin,
    ) -> ServiceResult<Option<Batch>> {
        let (live, writer) = self.hold(experiment_id, "find a repeated join").await?;
        writer.release().await;
        Ok(live.as_ref().expect("held live").experiment.joined_batch(join).cloned())
    }

    /// Whether a live experiment with rounds is over before its last deadline: no label can
    /// still come and no later round would ask anything (`Experiment::rounds_over`). False when
    /// it cannot be read now; the scheduler's next pass asks again.
    pub async fn rounds_over(&self, experiment_id: B256, now: u64) -> bool {
        match self.hold(experiment_id, "check whether its rounds are over").await {
            Ok((live, writer)) => {
                writer.release().await;
                live.as_ref().expect("held live").experiment.rounds_over(now)
            }
            Err(e) => {
                tracing::warn!(%experiment_id, error = %e, "cannot check whether its rounds are over");
                false
            }
        }
    }

    /// Every batch of an experiment, from memory when live, else replayed from its record.
    pub async fn batches(&self, experiment_id: B256) -> ServiceResult<Vec<Batch>> {
        let row = self.experiment_row(experiment_id).await?;
        match row.phase {
            Phase::Open | Phase::Revealing => {
                let (live, writer) = self.hold(experiment_id, "read the batches").await?;
                writer.release().await;
                Ok(live.as_ref().expect("held live").experiment.batches().to_vec())
            }
            Phase::Settled => Ok(self.settled_record(experiment_id).await?.batches()),
            Phase::Draft | Phase::Cancelled => Ok(Vec::new()),
        }
    }

    async fn settled_record(&self, experiment_id: B256) -> ServiceResult<PublicRecord> {
        self.store()
            .record(experiment_id)
            .await?
            .ok_or_else(|| ServiceError::internal("a settled experiment has no record"))
    }

    /// One batch of an experiment and its tasks, from memory when live, else replayed.
    pub async fn batch(
        &self,
        experiment_id: B256,
        batch_id: u64,
    ) -> ServiceResult<(Batch, Vec<plumbline_core::task::Task>, ExperimentRow)> {
        let row = self.experiment_row(experiment_id).await?;
        let missing = || ServiceError::not_found(format!("batch {batch_id} does not exist"));
        match row.phase {
            Phase::Open | Phase::Revealing => {
                let (live, writer) = self.hold(experiment_id, "read a batch").await?;
                writer.release().await;
                let experiment = &live.as_ref().expect("held live").experiment;
                let batch =
                    experiment.batches().get(batch_id as usize).cloned().ok_or_else(missing)?;
                let tasks = batch.tasks.iter().map(|&t| experiment.tasks()[t as usize].clone());
                let found = (batch.clone(), tasks.collect::<Vec<_>>());
                Ok((found.0, found.1, row))
            }
            Phase::Settled => {
                let record = self.settled_record(experiment_id).await?;
                let batch =
                    record.batches().into_iter().nth(batch_id as usize).ok_or_else(missing)?;
                let tasks = batch.tasks.iter().map(|&t| record.tasks[t as usize].clone()).collect();
                Ok((batch, tasks, row))
            }
            Phase::Draft | Phase::Cancelled => Err(missing()),
        }
    }

    /// Accepts a signed commit, with the client's optional backup and the reveal it may leave
    /// sealed with the operator; a repeat is harmless (and keeps what the first one left).
    pub async fn commit(
        &self,
        experiment_id: B256,
        batch_id: u64,
        commit: &SignedCommit,
        left: CommitExtras<'_>,
        now: u64,
    ) -> ServiceResult<Accepted> {
        let append = Append::Commit {
            batch_id,
            commit: commit.clone(),
            backup: left.backup.map(str::to_owned),
            sealed_reveal: left.sealed_reveal.map(str::to_owned),
            signer: None,
        };
        self.append(experiment_id, append, now).await
    }

    /// Accepts a signed reveal; a repeat is harmless.
    pub async fn reveal(
        &self,
        experiment_id: B256,
        batch_id: u64,
        reveal: &SignedReveal,
        now: u64,
    ) -> ServiceResult<Accepted> {
        let append = Append::Reveal { batch_id, reveal: reveal.clone(), signer: None };
        self.append(experiment_id, append, now).await
    }

    /// Queues a commit or reveal for the experiment's next group write and waits for its
    /// answer. The first request to find no group under way starts a task that writes groups
    /// until the queue is empty; a task of its own, so that a client hanging up cannot cut a
    /// write short for the others in its group.
    async fn append(
        &self,
        experiment_id: B256,
        mut append: Append,
        now: u64,
    ) -> ServiceResult<Accepted> {
        let slot = match self.existing_slot(experiment_id) {
            Some(slot) => slot,
            // Unknown and closed experiments are refused before a slot is made for them.
            None => {
                self.live_row(experiment_id, append.action()).await?;
                self.slot(experiment_id)
            }
        };
        // Signature recovery is most of a request's work: done here, on the request's own
        // task, many run at once, and the experiment's one group writer only compares.
        if let Some(domain) = slot.domain.get() {
            match &mut append {
                Append::Commit { batch_id, commit, signer, .. } => {
                    *signer =
                        Some(Experiment::commit_signer(domain, experiment_id, *batch_id, commit));
                }
                Append::Reveal { batch_id, reveal, signer } => {
                    *signer = Experiment::reveal_signer(domain, experiment_id, *batch_id, reveal);
                }
            }
        }
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut appends = slot.appends.lock().expect("the queue never panics holding it");
            appends.pending.push(Pending { append, now, answer });
            !std::mem::replace(&mut appends.draining, true)
        };
        if start {
            tokio::spawn(self.clone().drain(experiment_id, slot));
        }
        answered
            .await
            .unwrap_or_else(|_| Err(ServiceError::internal("a group write ended unanswered")))
    }

    /// Writes groups of the experiment's pending commits and reveals until none is left.
    async fn drain(self, experiment_id: B256, slot: crate::state::LiveSlot) {
        let _draining = Draining(slot.clone());
        loop {
            let mut live = slot.experiment.lock().await;
            let action = {
                let mut appends = slot.appends.lock().expect("the queue never panics holding it");
                match appends.pending.first() {
                    Some(first) => first.append.action(),
                    None => {
                        appends.draining = false;
                        break;
                    }
                }
            };
            self.write_group(experiment_id, &mut live, &slot.appends, action).await;
            if let Some(cached) = live.as_ref() {
                slot.domain.get_or_init(|| cached.experiment.domain().clone());
            }
        }
    }

    /// Checks a group through the core and stores what it accepted, then answers each request.
    /// The group is taken from the queue only once the log is held and read up to date: on a
    /// store shared by replicas, the requests that arrive while this one waits for another's
    /// write join this group instead of waiting for the next. The experiment is out of its
    /// slot meanwhile and goes back only once the group is stored: if the store fails, or
    /// anything panics, the next use rebuilds it from the log.
    async fn write_group(
        &self,
        experiment_id: B256,
        live: &mut Option<Cached>,
        queue: &std::sync::Mutex<crate::state::Appends>,
        action: &str,
    ) {
        let prepared = async {
            let mut cached = match live.take() {
                Some(cached) => cached,
                None => self.rebuild_live(experiment_id, action).await?,
            };
            let mut writer = self.store().log_writer(experiment_id).await?;
            if let Err(e) = self.catch_up(&mut cached, writer.as_mut()).await {
                writer.release().await;
                return Err(e);
            }
            Ok((cached, writer))
        }
        .await;
        let group: Vec<Pending> = {
            let mut appends = queue.lock().expect("the queue never panics holding it");
            let n = appends.pending.len().min(APPEND_GROUP_MAX);
            appends.pending.drain(..n).collect()
        };
        let (mut cached, writer) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => {
                for pending in group {
                    let _ = pending.answer.send(Err(ServiceError::copy(&error)));
                }
                return;
            }
        };
        let (mut commits, mut reveals) = (Vec::new(), Vec::new());
        let mut answers = Vec::with_capacity(group.len());
        for Pending { append, now, answer } in group {
            let result =
                self.apply(&mut cached.experiment, append, now, &mut commits, &mut reveals);
            answers.push((answer, result));
        }
        let stored = if commits.is_empty() && reveals.is_empty() {
            writer.release().await;
            Ok(())
        } else {
            writer.append_group(&commits, &reveals, cached.seen).await
        };
        match stored {
            Ok(()) => {
                cached.seen.commits += commits.len() as u64;
                cached.seen.reveals += reveals.len() as u64;
                *live = Some(cached);
                for (answer, result) in answers {
                    let _ = answer.send(result);
                }
            }
            Err(e) => {
                // What the core accepted in memory is not stored: every request the group
                // accepted fails with the store's error, and the experiment stays out.
                let error = persist_failed(e);
                for (answer, result) in answers {
                    let _ = answer.send(result.and_then(|_| Err(ServiceError::copy(&error))));
                }
            }
        }
    }

    /// Checks one commit or reveal through the core; an accepted new one joins the group's
    /// writes. A refusal changes nothing.
    fn apply(
        &self,
        experiment: &mut Experiment,
        append: Append,
        now: u64,
        commits: &mut Vec<StoredCommit>,
        reveals: &mut Vec<RevealEntry>,
    ) -> ServiceResult<Accepted> {
        match append {
            Append::Commit { batch_id, commit, backup, sealed_reveal, signer } => {
                if let Some(sealed) = &sealed_reveal {
                    let reveal = self.open_sealed(experiment, batch_id, sealed)?;
                    experiment.check_reveal_of(batch_id, commit.commitment, &reveal)?;
                }
                let accepted = experiment.commit_recovered(batch_id, &commit, signer, now)?;
                if accepted == Accepted::New {
                    let entry = CommitEntry { batch_id, commit, at: now };
                    commits.push(StoredCommit { entry, backup, sealed_reveal });
                }
                Ok(accepted)
            }
            Append::Reveal { batch_id, reveal, signer } => {
                let accepted = experiment.reveal_recovered(batch_id, &reveal, signer, now)?;
                if accepted == Accepted::New {
                    reveals.push(RevealEntry { batch_id, reveal, at: now });
                }
                Ok(accepted)
            }
        }
    }

    /// Opens a reveal sealed to this server's sealing key for one of the experiment's batches.
    fn open_sealed(
        &self,
        experiment: &Experiment,
        batch_id: u64,
        sealed: &str,
    ) -> ServiceResult<SignedReveal> {
        let key = self.config().sealing_key.as_ref().ok_or_else(|| {
            ServiceError::new(
                Reason::BadRequest,
                "sealing_unavailable",
                "this server holds no sealing key (`serve --sealing-key`): reveal yourself",
            )
        })?;
        let batch = experiment
            .batches()
            .get(batch_id as usize)
            .ok_or_else(|| ServiceError::not_found(format!("batch {batch_id} does not exist")))?;
        let context =
            SealContext { experiment_id: experiment.id(), batch_id, labeler: batch.labeler };
        seal::open_reveal(key, &context, sealed)
            .map_err(|e| ServiceError::new(Reason::BadRequest, "bad_sealed_reveal", e.to_string()))
    }

    /// Rebuilds an experiment that is open or revealing from its stored log.
    async fn rebuild_live(&self, experiment_id: B256, action: &str) -> ServiceResult<Cached> {
        let row = self.live_row(experiment_id, action).await?;
        self.rebuild(&row).await
    }

    /// Settles an experiment whose reveal deadline has passed, once: a settled experiment
    /// answers with its stored settlement. Updates reputations and checks the ledger after.
    ///
    /// Another process on the same store may settle it first, or settle another experiment
    /// of the same labelers in between (their reputations move); the store refuses the stale
    /// settlement and it is computed again.
    pub async fn settle(&self, experiment_id: B256, now: u64) -> ServiceResult<Settlement> {
        let _one_at_a_time = self.0.settle_lock.lock().await;
        let mut attempts = 0;
        loop {
            if let Some(settlement) = self.store().settlement(experiment_id).await? {
                self.forget(experiment_id);
                return Ok(settlement);
            }
            attempts += 1;
            match self.settle_once(experiment_id, now).await {
                Ok(settlement) => {
                    self.forget(experiment_id);
                    tracing::info!(%experiment_id, "settled");
                    self.check_ledger().await?;
                    return Ok(settlement);
                }
                Err(e) if e.is_stale() && attempts < SETTLE_ATTEMPTS => {
                    tracing::info!(%experiment_id, error = %e, "settling again");
                }
                Err(e) => {
                    // Lost the race to another process: its settlement is the one.
                    if let Some(settlement) = self.store().settlement(experiment_id).await? {
                        self.forget(experiment_id);
                        return Ok(settlement);
                    }
                    return Err(e);
                }
            }
        }
    }

    /// One attempt at settling: the experiment caught up with the stored log, the labelers'
    /// reputations read, the core's settlement stored if neither moved meanwhile.
    async fn settle_once(&self, experiment_id: B256, now: u64) -> ServiceResult<Settlement> {
        let (mut live, writer) = self.hold(experiment_id, "settle").await?;
        // The log is given back before the reads below (see `LogWriter`); the store checks at
        // settlement that it has not grown since.
        writer.release().await;
        let cached = live.as_mut().expect("held live");
        let row = self.experiment_row(experiment_id).await?;
        if self.chain().is_some() && now < row.spec.reveal_deadline {
            return Err(ServiceError::conflict(
                "the market contract takes a settlement only after the reveal deadline",
            ));
        }
        let practice = self.practice_record(&row).await?;
        let practised =
            practice.as_ref().map(|p| p.tallies(&row.spec.question.kind)).unwrap_or_default();
        let mut labelers: Vec<Address> =
            cached.experiment.batches().iter().map(|b| b.labeler).collect();
        labelers.extend(practised.keys());
        let before = self.store().reputations(&labelers).await?;
        let unbacked = self.unbacked(&row, cached.experiment.joins()).await?;
        cached.experiment.set_unbacked(unbacked)?;
        // The core takes the reputations of the batches' labelers only.
        let mut record = cached.experiment.settle(&before, now)?;
        record.practice = practice;
        let mut updated: BTreeMap<Address, Reputation> = BTreeMap::new();
        for result in &record.settlement.labelers {
            let mut reputation = before.get(&result.labeler).copied().unwrap_or_default();
            reputation.update(result);
            updated.insert(result.labeler, reputation);
        }
        for (labeler, tally) in &practised {
            let reputation = updated
                .entry(*labeler)
                .or_insert_with(|| before.get(labeler).copied().unwrap_or_default());
            reputation.add_practice(tally);
        }
        // Every updated labeler is a batch's or a practising one, whose reputation `before` holds.
        match self.store().settle(experiment_id, &record, cached.seen, &before, &updated).await {
            Ok(()) => Ok(record.settlement),
            Err(e) => {
                // The core settled in memory what the store did not.
                *live = None;
                Err(persist_failed(e))
            }
        }
    }
}

/// Held by the task writing an experiment's groups. If that task panics, it lets the next
/// request start a new one, and fails the requests still queued, instead of leaving them to
/// wait forever.
struct Draining(crate::state::LiveSlot);

impl Drop for Draining {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let mut appends = self.0.appends.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        appends.draining = false;
        // Dropping the answer channels fails each waiting request with an internal error.
        appends.pending.clear();
    }
}
