#![doc = include_str!("../README.md")]

mod common;
mod error;
pub mod ledger;
mod postgres;
mod sql;
mod sqlite;

pub use error::{Result, StoreError};
pub use ledger::{LedgerAccount, LedgerReport, Transfer, TransferKind};
pub use postgres::{PgEngine, PgStore};
pub use sql::SqlStore;
pub use sqlite::{SqliteEngine, SqliteStore};

use async_trait::async_trait;
use plumbline_core::lifecycle::{Lifecycle, Phase};
pub use plumbline_core::log::LogPosition;
use plumbline_core::practice::{PracticeAnswer, PracticeTask};
use plumbline_core::record::{CommitEntry, JoinEntry, PublicRecord, RevealEntry};
use plumbline_core::reputation::Reputation;
use plumbline_core::settle::Settlement;
use plumbline_core::spec::ExperimentSpec;
use plumbline_core::task::Task;
use plumbline_core::{Address, Amount, B256, U256};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Whether `db` names a PostgreSQL database (a `postgres://` or `postgresql://` URL) rather
/// than a SQLite file.
pub fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// PostgreSQL connections a process keeps unless told otherwise ([`open_with_pool`]).
pub const PG_CONNECTIONS_DEFAULT: u32 = 8;

/// Opens the store that `db` names: a PostgreSQL database for a `postgres://` or
/// `postgresql://` URL, otherwise the SQLite file at that path (created if missing). Pending
/// migrations are applied either way.
pub async fn open(db: &str) -> Result<Arc<dyn Store>> {
    open_with_pool(db, PG_CONNECTIONS_DEFAULT).await
}

/// [`open`], keeping at most `pg_connections` (at least 1) connections to a PostgreSQL
/// database. A SQLite file's are fixed: one writer and a few readers.
pub async fn open_with_pool(db: &str, pg_connections: u32) -> Result<Arc<dyn Store>> {
    if is_postgres_url(db) {
        Ok(Arc::new(PgStore::open_pooled(db, pg_connections).await?))
    } else {
        Ok(Arc::new(SqliteStore::open(Path::new(db)).await?))
    }
}

/// A Sign-In with Ethereum challenge, answered once by a login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// The nonce inside the message; the challenge's key.
    pub nonce: String,
    /// The address that asked to sign in.
    pub address: Address,
    /// The exact EIP-4361 text the address must sign.
    pub message: String,
    /// After this instant the challenge is void.
    pub expires_at: u64,
    /// When it was issued.
    pub created_at: u64,
}

/// A signed-in session. The token itself is never stored, only its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// keccak256 of the bearer token.
    pub token_hash: B256,
    /// Who signed in.
    pub address: Address,
    /// After this instant the token is void.
    pub expires_at: u64,
    /// When it was issued.
    pub created_at: u64,
}

/// An address's money in the embedded ledger.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Balances {
    /// Free to spend: fund experiments, lock as stake.
    pub available: Amount,
    /// Locked as stake in experiments not yet settled.
    pub locked: Amount,
}

/// A new experiment, in draft.
#[derive(Clone, Debug, PartialEq)]
pub struct NewExperiment {
    /// Its id.
    pub experiment_id: B256,
    /// Who created it (and funds it, and receives refunds).
    pub creator: Address,
    /// The validated spec.
    pub spec: ExperimentSpec,
    /// The market contract holding its money, or `None` for the embedded ledger.
    pub market: Option<OnChain>,
    /// When it was created.
    pub created_at: u64,
}

/// Where an experiment's money is held on an EVM chain: its pool and stakes are in the market
/// contract, and the embedded ledger moves none of it. Also the EIP-712 domain its messages are
/// signed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OnChain {
    /// The chain's id.
    pub chain_id: u64,
    /// The `PlumblineMarket` contract.
    pub market: Address,
}

/// The relayer's progress on one chain experiment, what it needs to resume after a crash:
/// cursors into the experiment's log (everything before them is on chain) and the
/// transactions that settled, distributed and refunded it, each sent once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainRelay {
    /// The experiment.
    pub experiment_id: B256,
    /// The block from which the indexer reads the market's events for it.
    pub from_block: u64,
    /// Joins, in log order, whose stakes are locked on chain.
    pub joins_relayed: u64,
    /// Commits, in log order, recorded on chain (by the relayer or by their labelers).
    pub commits_relayed: u64,
    /// The latest stake-lock relay.
    pub last_join_tx: Option<B256>,
    /// The latest commit relay.
    pub last_commit_tx: Option<B256>,
    /// The transaction that posted the settlement.
    pub settle_tx: Option<B256>,
    /// When it was posted.
    pub settled_at: Option<u64>,
    /// The transaction that paid every payout.
    pub distribute_tx: Option<B256>,
    /// When it was paid.
    pub distributed_at: Option<u64>,
    /// The transaction that refunded the rest to the creator.
    pub refund_tx: Option<B256>,
    /// When it was refunded.
    pub refunded_at: Option<u64>,
    /// When this state last changed.
    pub updated_at: u64,
}

/// An experiment as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct ExperimentRow {
    /// Its id.
    pub experiment_id: B256,
    /// Its creator.
    pub creator: Address,
    /// The spec.
    pub spec: ExperimentSpec,
    /// The stored phase. Time moves `Open` on to `Revealing` before the store hears of it;
    /// [`ExperimentRow::phase_at`] gives the phase at an instant.
    pub phase: Phase,
    /// Whether the reward pool is in escrow.
    pub funded: bool,
    /// The assignment seed, set when it opened (secret until settlement).
    pub seed: Option<B256>,
    /// The commitment to the task list and gold answers, set when it opened.
    pub tasks_hash: Option<B256>,
    /// When it opened.
    pub opened_at: Option<u64>,
    /// When it settled.
    pub settled_at: Option<u64>,
    /// Tasks imported.
    pub task_count: u64,
    /// Gold tasks among them.
    pub gold_count: u64,
    /// Practice tasks imported.
    pub practice_count: u64,
    /// The market contract holding its money, or `None` for the embedded ledger.
    pub market: Option<OnChain>,
    /// When it was created.
    pub created_at: u64,
    /// How far its protocol log goes.
    pub log: LogPosition,
}

impl ExperimentRow {
    /// Its lifecycle: the stored phase with the spec's deadlines and early close.
    pub fn lifecycle(&self) -> Lifecycle {
        Lifecycle { phase: self.phase, ..Lifecycle::new(&self.spec) }
    }

    /// Its phase at `now`: time, or an early close, moves `Open` on to `Revealing`.
    pub fn phase_at(&self, now: u64) -> Phase {
        self.lifecycle().phase_at(now)
    }
}

/// What is written for an accepted commit: the entry, the client's optional encrypted backup
/// of its labels (read back alone by [`Store::commit_backup`], never with the log), and the
/// reveal it may have left sealed with the operator (read by [`Store::sealed_reveals`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCommit {
    /// The commit as the protocol logs it.
    pub entry: CommitEntry,
    /// The backup, opaque to the server.
    pub backup: Option<String>,
    /// The reveal sealed to the operator's sealing key (`plumbline_core::seal`), checked
    /// against the commitment before it was accepted.
    pub sealed_reveal: Option<String>,
}

/// An experiment's protocol log, in the order it was accepted: what a replay through the core
/// `Experiment` needs to rebuild its state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExperimentLog {
    /// Joins by batch id.
    pub joins: Vec<JoinEntry>,
    /// Commits in the order they were accepted (without their backups, which only
    /// [`Store::commit_backup`] reads: logs are read often, backups are large and rarely
    /// wanted).
    pub commits: Vec<CommitEntry>,
    /// Reveals in the order they were accepted.
    pub reveals: Vec<RevealEntry>,
}

impl ExperimentLog {
    /// The position this log reaches when it follows on from `start`.
    pub fn end(&self, start: LogPosition) -> LogPosition {
        LogPosition {
            joins: start.joins + self.joins.len() as u64,
            commits: start.commits + self.commits.len() as u64,
            reveals: start.reveals + self.reveals.len() as u64,
        }
    }
}

/// The right to append to one experiment's log, from [`Store::log_writer`]. While a process
/// holds it, no other process appends to that log, so the process can bring its in-memory copy
/// up to [`LogWriter::position`], decide, and append without racing anyone. It ends with one
/// append, or with [`LogWriter::release`]; dropped, it is given back all the same.
///
/// Reads made while holding it go through it: a process holding several writers must not wait
/// for another connection of its own.
#[async_trait]
pub trait LogWriter: Send {
    /// Where the stored log is, when other processes may have moved it since this one last
    /// looked; `None` when only this process writes the store, so its own copy is current.
    fn position(&self) -> Option<LogPosition>;

    /// When the creator closed commits, when other processes may have done it since this one
    /// last looked (a close adds nothing to the log); `None` when only this process writes.
    fn commits_closed_at(&self) -> Option<u64>;

    /// The entries beyond `seen` (see [`Store::log_after`]).
    async fn log_after(&mut self, seen: LogPosition) -> Result<ExperimentLog>;

    /// Appends a join to the log and locks its stake (available → locked) in one transaction,
    /// if the log is still at `seen`, and gives the log back. Fails with
    /// [`StoreError::InsufficientFunds`] when the labeler cannot cover the stake. A chain
    /// experiment's stakes are locked by the market contract: its joins lock nothing here, and
    /// `market_free` is the labeler's free balance there, read before; the join is refused with
    /// [`StoreError::InsufficientFunds`] unless it covers this stake and those of the labeler's
    /// joins to open chain experiments not yet locked on chain, checked atomically with the
    /// append.
    async fn append_join(
        self: Box<Self>,
        entry: &JoinEntry,
        stake: Amount,
        market_free: Option<U256>,
        seen: LogPosition,
    ) -> Result<()>;

    /// Appends a group of accepted commits (with the clients' optional backups) and reveals, in
    /// their order, all or none, if the experiment is open or revealing and its log still at
    /// `seen`, and gives the log back. The server gathers the commits and reveals that arrive
    /// together into one group, so that they share one transaction and one sync to disk.
    async fn append_group(
        self: Box<Self>,
        commits: &[StoredCommit],
        reveals: &[RevealEntry],
        seen: LogPosition,
    ) -> Result<()>;

    /// Closes commits early and gives the log back: stores `spec` (which carries the close)
    /// and moves the phase to revealing, if the experiment is open and its log is still at
    /// `seen` (the caller checked that every joined batch is committed there).
    async fn close_commits(self: Box<Self>, spec: &ExperimentSpec, seen: LogPosition)
    -> Result<()>;

    /// Gives the log back without appending.
    async fn release(self: Box<Self>);
}

/// Persistence of the market. Implementations keep every write atomic: a log entry and its
/// ledger effect are stored together or not at all, and a refused write changes nothing.
///
/// Guards that depend on stored state (an experiment's phase, funding, balances) are checked
/// inside the write's transaction, so two racing requests cannot both pass them.
///
/// Several server processes may share one store (PostgreSQL). Each keeps live experiments in
/// memory and decides from that copy, so every append names the [`LogPosition`] its copy has
/// seen and settlement the reputations it read; the store refuses the write with
/// [`StoreError::Stale`] when they moved, and the server catches up and decides again.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a new challenge.
    async fn put_challenge(&self, challenge: &Challenge) -> Result<()>;

    /// Removes and returns the challenge with this nonce, if it exists and has not expired at
    /// `now`. A challenge can be taken once.
    async fn take_challenge(&self, nonce: &str, now: u64) -> Result<Option<Challenge>>;

    /// Stores a session and records the address as an account.
    async fn put_session(&self, session: &Session) -> Result<()>;

    /// The session with this token hash, if it has not expired at `now`.
    async fn session(&self, token_hash: B256, now: u64) -> Result<Option<Session>>;

    /// Ends the session with this token hash (sign-out); whether there was one.
    async fn end_session(&self, token_hash: B256) -> Result<bool>;

    /// An address's balances (zero for an address never seen).
    async fn balances(&self, address: Address) -> Result<Balances>;

    /// Issues `amount` new base units to `to`'s available balance from the issuance account.
    /// Returns the new balances.
    async fn mint(&self, to: Address, amount: Amount, now: u64) -> Result<Balances>;

    /// Creates a draft experiment. Its id must be new.
    async fn create_experiment(&self, experiment: &NewExperiment) -> Result<()>;

    /// One experiment.
    async fn experiment(&self, experiment_id: B256) -> Result<Option<ExperimentRow>>;

    /// Every experiment, newest first.
    async fn experiments(&self) -> Result<Vec<ExperimentRow>>;

    /// The experiments whose stored phase is one of `phases`, oldest first.
    async fn experiments_in(&self, phases: &[Phase]) -> Result<Vec<ExperimentRow>>;

    /// Imports the tasks of a draft experiment that has none yet (a conflict otherwise).
    async fn import_tasks(&self, experiment_id: B256, tasks: &[Task], now: u64) -> Result<()>;

    /// The tasks of an experiment, in import order.
    async fn tasks(&self, experiment_id: B256) -> Result<Vec<Task>>;

    /// Imports the practice pool of a draft experiment that has none yet (a conflict
    /// otherwise).
    async fn import_practice(&self, experiment_id: B256, tasks: &[PracticeTask]) -> Result<()>;

    /// The practice pool of an experiment, in import order.
    async fn practice_tasks(&self, experiment_id: B256) -> Result<Vec<PracticeTask>>;

    /// Practice answers: one labeler's in the order given, or everyone's by labeler.
    async fn practice_answers(
        &self,
        experiment_id: B256,
        labeler: Option<Address>,
    ) -> Result<Vec<PracticeAnswer>>;

    /// Stores a practice answer at `position` of its labeler's draw; `false`, storing nothing,
    /// when an answer already holds that place.
    async fn add_practice_answer(
        &self,
        experiment_id: B256,
        position: u64,
        answer: &PracticeAnswer,
    ) -> Result<bool>;

    /// Moves the reward pool from the creator's available balance into the experiment's
    /// escrow. The experiment must be an unfunded draft. A chain experiment's pool is escrowed
    /// by the market contract (the caller verified it there): it is only marked funded.
    async fn fund(&self, experiment_id: B256, now: u64) -> Result<()>;

    /// Draft → Open with the spec as opened (its deadlines fixed), the assignment seed and
    /// the commitment to the tasks. The experiment must be a funded draft.
    async fn open(
        &self,
        experiment_id: B256,
        spec: &ExperimentSpec,
        seed: B256,
        tasks_hash: B256,
        now: u64,
    ) -> Result<()>;

    /// Draft → Cancelled, refunding the escrow to the creator if it was funded (a chain
    /// experiment's escrow is the contract's, and stays there).
    async fn cancel(&self, experiment_id: B256, now: u64) -> Result<()>;

    /// Moves the stored phase from `from` to `to`; false when it was not in `from`.
    async fn set_phase(&self, experiment_id: B256, from: Phase, to: Phase) -> Result<bool>;

    /// The protocol log of an experiment.
    async fn log(&self, experiment_id: B256) -> Result<ExperimentLog> {
        self.log_after(experiment_id, LogPosition::default()).await
    }

    /// The entries of an experiment's log beyond `seen` (joins from batch `seen.joins`, commits
    /// and reveals after the first `seen.commits` and `seen.reveals`), read from one snapshot.
    async fn log_after(&self, experiment_id: B256, seen: LogPosition) -> Result<ExperimentLog>;

    /// The client's encrypted backup stored beside a batch's commit; `None` without a commit
    /// or without a backup.
    async fn commit_backup(&self, experiment_id: B256, batch_id: u64) -> Result<Option<String>>;

    /// The sealed reveals of an experiment's batches that are committed and not yet revealed,
    /// by batch id.
    async fn sealed_reveals(&self, experiment_id: B256) -> Result<Vec<(u64, String)>>;

    /// Takes the right to append to an experiment's log, waiting while another process holds
    /// it. An unknown experiment gives [`StoreError::NotFound`], here (PostgreSQL, which reads
    /// the log's position as it takes the experiment's row lock) or at the first append
    /// (SQLite, whose writes queue on its one write connection instead).
    async fn log_writer(&self, experiment_id: B256) -> Result<Box<dyn LogWriter>>;

    /// The stored reputations of these addresses (addresses without one are absent).
    async fn reputations(&self, addresses: &[Address]) -> Result<BTreeMap<Address, Reputation>>;

    /// Settles an experiment once: stores the settlement and its public record, moves the
    /// money as the settlement says (stakes returned or slashed, rewards paid from escrow,
    /// burns, the refund to the creator), writes the labelers' `updated` reputations and marks
    /// it settled, all in one transaction. A second settlement is a conflict. A chain
    /// experiment's money moves on chain: its settlement moves nothing here. The settlement
    /// was computed from the log up to `seen` and the reputations `read` (absent: none
    /// stored); if the log has grown since, or a stored reputation differs because another
    /// experiment settled meanwhile, it is refused as [`StoreError::Stale`].
    async fn settle(
        &self,
        experiment_id: B256,
        record: &PublicRecord,
        seen: LogPosition,
        read: &BTreeMap<Address, Reputation>,
        updated: &BTreeMap<Address, Reputation>,
    ) -> Result<()>;

    /// Takes or renews the lease `name` for `holder` until `now_ms + ttl_ms` (wall-clock
    /// milliseconds), if it is free, expired, or already `holder`'s. Returns whether `holder`
    /// holds it. Processes sharing the store use it so that one of them at a time runs a job.
    async fn lease(&self, name: &str, holder: &str, now_ms: u64, ttl_ms: u64) -> Result<bool>;

    /// The settlement of a settled experiment.
    async fn settlement(&self, experiment_id: B256) -> Result<Option<Settlement>>;

    /// The public record of a settled experiment.
    async fn record(&self, experiment_id: B256) -> Result<Option<PublicRecord>>;

    /// Journal entries with ids above `after`, oldest first, at most `limit`.
    async fn journal(&self, after: u64, limit: u32) -> Result<Vec<Transfer>>;

    /// Verifies the ledger: hash chain, balances against the journal, conservation, stakes
    /// and escrows against the experiments. Problems are reported, not raised.
    async fn check_ledger(&self) -> Result<LedgerReport>;

    /// Closes the store's connections, waiting for writes in progress to finish. Later calls
    /// fail.
    async fn close(&self);

    /// The relayer's state of a chain experiment, once its escrow was verified.
    async fn chain_relay(&self, experiment_id: B256) -> Result<Option<ChainRelay>>;

    /// Stores the relayer's state of a chain experiment. Cursors never move back and a
    /// recorded transaction is never replaced: such a write is a conflict and changes nothing.
    async fn put_chain_relay(&self, relay: &ChainRelay) -> Result<()>;
}
