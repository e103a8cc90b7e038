//! The SQLite implementation of [`Store`]: one file, WAL, migrations embedded in the binary.
//!
//! Writes go through one dedicated connection behind an async mutex, so write transactions
//! queue for it instead of failing with "database is locked" when two of them try to upgrade
//! their locks at once; reads use a pool and, thanks to WAL, never wait for a writer.
//!
//! The writer is a plain connection rather than a pool of one because a pool pings its
//! connection's worker thread each time the connection goes back: on the write path, which is
//! serial, that round trip between threads cost as much as the write itself.

use crate::common::{
    Fields, LIVE, LedgerCheck, balance_of, chain_relay_row, challenge_row, check_cover,
    check_market_stake, check_relay_progress, corrupt, expect_commits_open, expect_log,
    expect_next_batch, expect_phase, expect_reputations, experiment_row, from_json, from_sql_int,
    is_unique_violation, next_entry, opt_hex, opt_sql_int, parse, phase_name, sealed_reveal_row,
    session_row, sql_int, to_json, transfer_row, u256,
};
use crate::ledger::{self, LedgerAccount, LedgerReport, Transfer, TransferKind, hex};
use crate::{
    Balances, ChainRelay, Challenge, ExperimentLog, ExperimentRow, LogPosition, LogWriter,
    NewExperiment, Result, Session, Store, StoreError, StoredCommit,
};
use async_trait::async_trait;
use plumbline_core::lifecycle::Phase;
use plumbline_core::limits::AMOUNT_MAX;
use plumbline_core::practice::{PracticeAnswer, PracticeTask};
use plumbline_core::record::{CommitEntry, JoinEntry, PublicRecord, RevealEntry};
use plumbline_core::reputation::Reputation;
use plumbline_core::settle::Settlement;
use plumbline_core::spec::ExperimentSpec;
use plumbline_core::task::Task;
use plumbline_core::{Address, Amount, B256, U256};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Row, SqliteConnection, SqlitePool};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

/// Rows per multi-row INSERT when importing tasks: 4 parameters each stays far below SQLite's
/// limit of 32,766 parameters per statement.
const TASK_ROWS_PER_INSERT: usize = 500;

/// Rows per multi-row INSERT when appending commits or reveals: 5 parameters each stays far
/// below the same limit.
const APPEND_ROWS_PER_INSERT: usize = 1_000;

/// Journal entries read per query while checking the ledger, to bound memory.
const JOURNAL_PAGE_ENTRIES: i64 = 10_000;

/// How long a connection waits for a lock held by another process before failing.
const BUSY_TIMEOUT_SECS: u64 = 10;

/// Connections of the read pool.
const READ_CONNECTIONS_MAX: u32 = 4;

/// The SQLite store.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// The one write connection; `None` once closed.
    writer: Arc<Mutex<Option<SqliteConnection>>>,
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL syncs the WAL on every commit: an acknowledged commit or reveal survives a
            // power cut, not only a crash of the process.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(BUSY_TIMEOUT_SECS));
        let mut writer = SqliteConnection::connect_with(&options).await?;
        sqlx::migrate!("./migrations").run(&mut writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS_MAX)
            // A local file cannot drop a connection the way a network database can; a ping
            // before each use would only add a round trip to the connection's thread.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        Ok(SqliteStore { writer: Arc::new(Mutex::new(Some(writer))), reader })
    }

    /// The write connection, once it is free. A request cancelled in the middle of a
    /// transaction leaves its rollback queued on the connection, ahead of the next user's
    /// statements.
    async fn writer(&self) -> Result<MappedMutexGuard<'_, SqliteConnection>> {
        MutexGuard::try_map(self.writer.lock().await, Option::as_mut)
            .map_err(|_| StoreError::from(sqlx::Error::PoolClosed))
    }

    /// Runs raw SQL on the write connection. For tests that must reach behind the trait, such
    /// as tampering with the journal to see the check catch it.
    pub async fn execute_raw(&self, sql: &str) -> Result<u64> {
        let mut writer = self.writer().await?;
        Ok(sqlx::query(sql).execute(&mut *writer).await?.rows_affected())
    }

    /// Closes the write connection and the read pool, waiting for them to finish. Later calls
    /// fail.
    pub async fn close(&self) {
        if let Some(writer) = self.writer.lock().await.take() {
            // Every transaction on it has ended by now, so a failure to close loses nothing.
            let _ = writer.close().await;
        }
        self.reader.close().await;
    }
}

async fn remember_account(conn: &mut SqliteConnection, address: Address, now: u64) -> Result<()> {
    sqlx::query("INSERT OR IGNORE INTO accounts (account_id, created_at) VALUES (?, ?)")
        .bind(hex(address.as_slice()))
        .bind(sql_int(now)?)
        .execute(conn)
        .await?;
    Ok(())
}

/// An account's debits and credits, creating the account (at zero) if it is new.
async fn ledger_totals(
    conn: &mut SqliteConnection,
    account: &LedgerAccount,
    now: u64,
) -> Result<(U256, U256)> {
    let name = account.to_string();
    sqlx::query(
        "INSERT OR IGNORE INTO ledger_accounts (ledger_account_id, debits, credits, created_at) \
         VALUES (?, '0', '0', ?)",
    )
    .bind(&name)
    .bind(sql_int(now)?)
    .execute(&mut *conn)
    .await?;
    let row =
        sqlx::query("SELECT debits, credits FROM ledger_accounts WHERE ledger_account_id = ?")
            .bind(&name)
            .fetch_one(&mut *conn)
            .await?;
    Ok((u256(&row.try_get::<String, _>("debits")?)?, u256(&row.try_get::<String, _>("credits")?)?))
}

/// An account's balance without creating it (zero when it does not exist).
async fn ledger_balance(conn: &mut SqliteConnection, account: &LedgerAccount) -> Result<Amount> {
    let row =
        sqlx::query("SELECT debits, credits FROM ledger_accounts WHERE ledger_account_id = ?")
            .bind(account.to_string())
            .fetch_optional(conn)
            .await?;
    let Some(row) = row else { return Ok(0) };
    balance_of(account, &row.text("debits")?, &row.text("credits")?)
}

/// Moves `amount` from `debit` to `credit` and appends the journal entry, chained to the last
/// one. Refuses to take an account other than issuance below zero.
async fn transfer(
    conn: &mut SqliteConnection,
    debit: LedgerAccount,
    credit: LedgerAccount,
    amount: Amount,
    kind: TransferKind,
    experiment_id: Option<B256>,
    now: u64,
) -> Result<()> {
    assert_ne!(debit, credit, "a transfer moves money between two different accounts");
    if amount == 0 {
        return Ok(());
    }
    let value = U256::from(amount);
    let (debits, credits) = ledger_totals(conn, &debit, now).await?;
    check_cover(&debit, debits, credits, amount)?;
    let new_debits = debits.checked_add(value).ok_or_else(|| corrupt("debits overflow"))?;
    sqlx::query("UPDATE ledger_accounts SET debits = ? WHERE ledger_account_id = ?")
        .bind(new_debits.to_string())
        .bind(debit.to_string())
        .execute(&mut *conn)
        .await?;
    let (_, credit_credits) = ledger_totals(conn, &credit, now).await?;
    let new_credits =
        credit_credits.checked_add(value).ok_or_else(|| corrupt("credits overflow"))?;
    sqlx::query("UPDATE ledger_accounts SET credits = ? WHERE ledger_account_id = ?")
        .bind(new_credits.to_string())
        .bind(credit.to_string())
        .execute(&mut *conn)
        .await?;
    let last = sqlx::query("SELECT journal_id, hash FROM journal ORDER BY journal_id DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    let last = match last {
        None => None,
        Some(row) => Some((
            from_sql_int(row.int("journal_id")?)?,
            parse(&row.text("hash")?, "journal hash")?,
        )),
    };
    let entry = next_entry(last, debit, credit, amount, kind, experiment_id, now);
    sqlx::query(
        "INSERT INTO journal (journal_id, debit_account, credit_account, amount, kind, \
         experiment_id, prev_hash, hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(sql_int(entry.journal_id)?)
    .bind(debit.to_string())
    .bind(credit.to_string())
    .bind(amount.to_string())
    .bind(kind.as_str())
    .bind(experiment_id.map(|e| hex(e.as_slice())))
    .bind(hex(entry.prev_hash.as_slice()))
    .bind(hex(entry.hash.as_slice()))
    .bind(sql_int(now)?)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Runs a multi-row insert of commits or reveals (`what` they become) of these batches.
async fn insert_rows(
    conn: &mut SqliteConnection,
    mut insert: sqlx::QueryBuilder<'_, sqlx::Sqlite>,
    what: &str,
    batches: &[u64],
) -> Result<()> {
    match insert.build().execute(conn).await {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => {
            let batches: Vec<String> = batches.iter().map(u64::to_string).collect();
            Err(StoreError::Conflict(format!("batch {} is already {what}", batches.join(" or "))))
        }
        Err(e) => Err(e.into()),
    }
}

/// The experiment's phase and funding inside a transaction, or `NotFound`.
async fn experiment_in(conn: &mut SqliteConnection, experiment_id: B256) -> Result<ExperimentRow> {
    let row = sqlx::query("SELECT * FROM experiments WHERE experiment_id = ?")
        .bind(hex(experiment_id.as_slice()))
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("experiment {experiment_id}")))?;
    experiment_row(&row)
}

/// The stored reputations of these addresses, read on this connection.
async fn reputations_in(
    conn: &mut SqliteConnection,
    addresses: &[Address],
) -> Result<BTreeMap<Address, Reputation>> {
    let mut found = BTreeMap::new();
    for address in addresses {
        let row = sqlx::query("SELECT reputation FROM reputations WHERE reputation_id = ?")
            .bind(hex(address.as_slice()))
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(row) = row {
            let reputation = from_json(&row.try_get::<String, _>("reputation")?, "reputation")?;
            found.insert(*address, reputation);
        }
    }
    Ok(found)
}

/// The log writer of a SQLite store: one process writes the file, and its writes to one
/// experiment are already one at a time in the server, so there is nothing to hold.
struct SqliteLogWriter {
    store: SqliteStore,
    experiment_id: B256,
}

#[async_trait]
impl LogWriter for SqliteLogWriter {
    fn position(&self) -> Option<LogPosition> {
        None
    }

    fn commits_closed_at(&self) -> Option<u64> {
        None
    }

    async fn log_after(&mut self, seen: LogPosition) -> Result<ExperimentLog> {
        self.store.log_after(self.experiment_id, seen).await
    }

    async fn append_join(
        self: Box<Self>,
        entry: &JoinEntry,
        stake: Amount,
        market_free: Option<U256>,
        seen: LogPosition,
    ) -> Result<()> {
        self.store.append_join(self.experiment_id, entry, stake, market_free, seen).await
    }

    async fn append_group(
        self: Box<Self>,
        commits: &[StoredCommit],
        reveals: &[RevealEntry],
        seen: LogPosition,
    ) -> Result<()> {
        self.store.append_group(self.experiment_id, commits, reveals, seen).await
    }

    async fn close_commits(
        self: Box<Self>,
        spec: &ExperimentSpec,
        seen: LogPosition,
    ) -> Result<()> {
        let mut writer = self.store.writer().await?;
        let mut tx = writer.begin().await?;
        let row = experiment_in(&mut tx, self.experiment_id).await?;
        expect_phase(&row, &[Phase::Open], "close commits")?;
        expect_log(&row, seen)?;
        sqlx::query("UPDATE experiments SET spec = ?, phase = 'revealing' WHERE experiment_id = ?")
            .bind(spec.to_json())
            .bind(hex(self.experiment_id.as_slice()))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn release(self: Box<Self>) {}
}

/// The appends behind [`SqliteLogWriter`]: with one process writing the file, they need no
/// lock beyond the write connection.
impl SqliteStore {
    /// Appends a join, for [`SqliteLogWriter`] (see [`LogWriter::append_join`]).
    async fn append_join(
        &self,
        experiment_id: B256,
        entry: &JoinEntry,
        stake: Amount,
        market_free: Option<U256>,
        seen: LogPosition,
    ) -> Result<()> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin().await?;
        let row = experiment_in(&mut tx, experiment_id).await?;
        expect_phase(&row, &LIVE, "join")?;
        expect_commits_open(&row, "join")?;
        expect_log(&row, seen)?;
        expect_next_batch(&row, entry.batch_id)?;
        let labeler = entry.join.labeler;
        remember_account(&mut tx, labeler, entry.at).await?;
        if let Some(free) = market_free {
            // One writer at a time: the sum cannot change before this transaction commits.
            let pending: Vec<String> = sqlx::query_scalar(
                "SELECT j.entry FROM joins j \
             JOIN chain_relays r ON r.chain_relay_id = j.experiment_id \
             JOIN experiments e ON e.experiment_id = j.experiment_id \
             WHERE j.labeler = ? AND e.phase = 'open' AND j.batch_id >= r.joins_relayed",
            )
            .bind(hex(labeler.as_slice()))
            .fetch_all(&mut *tx)
            .await?;
            check_market_stake(labeler, stake, free, &pending)?;
        }
        let inserted = sqlx::query(
            "INSERT INTO joins (experiment_id, batch_id, labeler, entry, created_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(hex(experiment_id.as_slice()))
        .bind(sql_int(entry.batch_id)?)
        .bind(hex(labeler.as_slice()))
        .bind(to_json(entry))
        .bind(sql_int(entry.at)?)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!(
                    "batch {} is already assigned",
                    entry.batch_id
                )));
            }
            other => other?,
        };
        sqlx::query("UPDATE experiments SET log_joins = log_joins + 1 WHERE experiment_id = ?")
            .bind(hex(experiment_id.as_slice()))
            .execute(&mut *tx)
            .await?;
        if row.market.is_none() {
            transfer(
                &mut tx,
                LedgerAccount::Available(labeler),
                LedgerAccount::Locked(labeler),
                stake,
                TransferKind::StakeLock,
                Some(experiment_id),
                entry.at,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Appends commits and reveals, for [`SqliteLogWriter`] (see [`LogWriter::append_group`]).
    async fn append_group(
        &self,
        experiment_id: B256,
        commits: &[StoredCommit],
        reveals: &[RevealEntry],
        seen: LogPosition,
    ) -> Result<()> {
        let id = hex(experiment_id.as_slice());
        let action = if reveals.is_empty() { "commit" } else { "reveal" };
        let mut writer = self.writer().await?;
        let mut tx = writer.begin().await?;
        let row = experiment_in(&mut tx, experiment_id).await?;
        expect_phase(&row, &LIVE, action)?;
        if !commits.is_empty() {
            expect_commits_open(&row, "commit")?;
        }
        expect_log(&row, seen)?;
        // Commits before reveals: a reveal's row refers to its batch's commit.
        for chunk in commits.chunks(APPEND_ROWS_PER_INSERT) {
            let rows = chunk
                .iter()
                .map(|c| Ok((sql_int(c.entry.batch_id)?, to_json(&c.entry), sql_int(c.entry.at)?)))
                .collect::<Result<Vec<_>>>()?;
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO commits (experiment_id, batch_id, entry, backup, sealed_reveal, created_at) ",
            );
            insert.push_values(rows.into_iter().zip(chunk), |mut row, ((batch, entry, at), c)| {
                row.push_bind(id.clone())
                    .push_bind(batch)
                    .push_bind(entry)
                    .push_bind(c.backup.clone())
                    .push_bind(c.sealed_reveal.clone())
                    .push_bind(at);
            });
            let batches: Vec<u64> = chunk.iter().map(|c| c.entry.batch_id).collect();
            insert_rows(&mut tx, insert, "committed", &batches).await?;
        }
        for chunk in reveals.chunks(APPEND_ROWS_PER_INSERT) {
            let rows = chunk
                .iter()
                .map(|r| Ok((sql_int(r.batch_id)?, to_json(r), sql_int(r.at)?)))
                .collect::<Result<Vec<_>>>()?;
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO reveals (experiment_id, batch_id, entry, created_at) ",
            );
            insert.push_values(rows, |mut row, (batch, entry, at)| {
                row.push_bind(id.clone()).push_bind(batch).push_bind(entry).push_bind(at);
            });
            let batches: Vec<u64> = chunk.iter().map(|r| r.batch_id).collect();
            insert_rows(&mut tx, insert, "revealed", &batches).await?;
        }
        sqlx::query(
            "UPDATE experiments SET log_commits = log_commits + ?, log_reveals = log_reveals + ? \
             WHERE experiment_id = ?",
        )
        .bind(sql_int(commits.len() as u64)?)
        .bind(sql_int(reveals.len() as u64)?)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn put_challenge(&self, challenge: &Challenge) -> Result<()> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin().await?;
        // Expired challenges are useless; dropping them here keeps the table small.
        sqlx::query("DELETE FROM challenges WHERE expires_at <= ?")
            .bind(sql_int(challenge.created_at)?)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO challenges (challenge_id, address, message, expires_at, created_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&challenge.nonce)
        .bind(hex(challenge.address.as_slice()))
        .bind(&challenge.message)
        .bind(sql_int(challenge.expires_at)?)
        .bind(sql_int(challenge.created_at)?)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn take_challenge(&self, nonce: &str, now: u64) -> Result<Option<Challenge>> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin().await?;
        let row = sqlx::query("SELECT * FROM challenges WHERE challenge_id = ?")
            .bind(nonce)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        sqlx::query("DELETE FROM challenges WHERE challenge_id = ?")
            .bind(nonce)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let challenge = challenge_row(&row)?;
        Ok((challenge.expires_at > now).then_some(challenge))
    }

    async fn put_session(&self, session: &Session) -> Result<()> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin().await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
            .bind(sql_int(session.created_at)?)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (session_id, address, expires_at, created_at) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(hex(session.token_hash.as_slice()))
        .bind(hex(session.address.as_slice()))
        .bind(sql_int(session.expires_at)?)
        .bind(sql_int(session.created_at)?)
        .execute(&mut *tx)
        .await?;
        remember_account(&mut tx, session.address, session.created_at).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session(&self, token_hash: B256, now: u64) -> Result<Option<Session>> {
        let row = sqlx::query("SELECT * FROM sessions WHERE session_id = ? AND expires_at > ?")
            .bind(hex(token_hash.as_slice()))
            .bind(sql_int(now)?)
            .fetch_optional(&self.reader)
            .await?;
        row.map(|row| session_row(&row)).transpose()
    }

    async fn end_session(&self, token_hash: B256) -> Result<bool> {
        let mut writer = self.writer().await?;
        let done = sqlx::query("DELETE FROM sessions WHERE session_id = ?")
            .bind(hex(token_hash.as_slice()))
            .execute(&mut *writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn balances(&self, address: Address) -> Result<Balances> {
        let mut conn = self.reader.acquire().await?;
        Ok(Balances {
            available: ledger_balance(&mut conn, &LedgerAccount::Available(address)).await?,
            locked: ledger_balance(&mut conn, &LedgerAccount::Locked(address)).await?,
        })
    }

    async fn mint(&self, to: Address, amount: Amount, now: u64) -> Result<Balances> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin().await?;
        remember_account(&mut tx, to, now).await?;
        let available = LedgerAccount::Available(to);
        transfer(
            &mut tx,
            LedgerAccount::Issuance,
            available,
            amount,
            TransferKind::Mint,
            None,
            now,
        )
        .await?;
        let balances = Balances {
            available: ledger_balance(&mut tx, &available).await?,
            locked: ledger_balance(&mut tx, &LedgerAccount::Locked(to)).await?,
        };
        // Capping every balance keeps sums of many balances inside u128 (see AMOUNT_MAX).
        if balances.available > AMOUNT_MAX {
            return Err(StoreError::Conflict(format!(
                "minting {amount} would take {to}'s balance above 10^36 base units"
            )));
        }
        tx.commit().await?;
        Ok(balances)
    }

    async fn create_experiment(&self, experiment: &NewExperiment) -> Result<()> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin().await?;
        remember_account(&mut tx, experiment.creator, experiment.created_at).await?;
        let spec = &experiment.spec;
        let inserted = sqlx::query(
            "INSERT INTO experiments (experiment_id, creator, title, spec, phase, funded, \
             commit_deadline, reveal_deadline, chain_id, market, created_at) \
             VALUES (?, ?, ?, ?, 'draft', 0, ?, ?, ?, ?, ?)",
        )
        .bind(hex(experiment.experiment_id.as_slice()))
        .bind(hex(experiment.creator.as_slice()))
        .bind(&spec.title)
        .bind(spec.to_json())
        .bind(sql_int(spec.commit_deadline)?)
        .bind(sql_int(spec.reveal_deadline)?)
        .bind(experiment.market.map(|m| sql_int(m.chain_id)).transpose()?)
        .bind(experiment.market.map(|m| hex(m.market.as_slice())))
        .bind(sql_int(experiment.created_at)?)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!(
                    "experiment {} already exists",
                    experiment.experiment_id
                )));
            }
            other => other?,
        };
        tx.commit().await?;
        Ok(())
    }

    async fn experiment(&self, experiment_id: B256) -> Result<Option<ExperimentRow>> {
        let row = sqlx::query("SELECT * FROM experiments WHERE experiment_id = ?")
            .bind(hex(experiment_id.as_slice()))
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(experiment_row).transpose()
    }

    async fn experiments(&self) -> Result<Vec<ExperimentRow>> {
        let rows = sqlx::query("SELECT * FROM experiments ORDER BY created_at DESC, rowid DESC")
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(experiment_row).collect()
    }

    async fn experiments_in(&self, phases: &[Phase]) -> Result<Vec<ExperimentRow>> {
        if phases.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; phases.len()].join(", ");
        let sql = format!(
            "SELECT * FROM experiments WHERE phase IN ({marks}) ORDER BY created_at, rowid"
        );
        let mut query = sqlx::query(&sql);
        for phase in phases {
            query = query.bind(phase_name(*phase));
        }
        let rows = query.fetch_all(&self.reader).await?;
        rows.iter().map(experiment_row).collect()
    }

    async fn import_tasks(&self, experiment_id: B256, tasks: &[Task], now: u64) -> Result<()> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin().await?;
        let row = experiment_in(&mut tx, experiment_id).await?;
        expect_phase(&row, &[Phase::Draft], "import tasks")?;
        if row.task_count > 0 {
            return Err(StoreError::Conflict(format!(
                "{} tasks were already imported; an import replaces nothing",
                row.task_count
            )));
        }
        let id = hex(experiment_id.as_slice());
        let created_at = sql_int(now)?;
        for (chunk_index, chunk) in tasks.chunks(TASK_ROWS_PER_INSERT).enumerate() {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO tasks (experiment_id, task_index, task, created_at) ",
            );
            let first = chunk_index * TASK_ROWS_PER_INSERT;
            insert.push_values(chunk.iter().enumerate(), |mut row, (i, task)| {
                row.push_bind(id.clone())
                    .push_bind((first + i) as i64)
                    .push_bind(to_json(task))
                    .push_bind(created_at);
            });
            insert.build().execute(&mut *tx).await?;
        }
        let gold = tasks.iter().filter(|t| t.is_gold()).count();
        sqlx::query(
            "UPDATE experiments SET task_count = ?, gold_count = ? WHERE experiment_id = ?",
        )
        .bind(tasks.len() as i64)
        .bind(gold as i64)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn tasks(&self, experiment_id: B256) -> Result<Vec<Task>> {
        let rows =
            sqlx::query("SELECT task FROM tasks WHERE experiment_id = ? ORDER BY task_index")
                .bind(hex(experiment_id.as_slice()))
                .fetch_all(&self.reader)
                .await?;
        rows.iter().map(|row| from_json(&row.try_get::<String, _>("task")?, "task")).collect()
    }

    async fn fund(&self, experiment_id: B256, now: u64) -> Result<()> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin().await?;
        let row = experiment_in(&mut tx, experiment_id).await?;
        expect_phase(&row, &[Phase::Draft], "fund")?;
        if row.funded {
            return Err(StoreError::Conflict("the experiment is already funded".into()));
        }
        if row.market.is_none() {
            transfer(
                &mut tx,
                LedgerAccount::Available(row.creator),
                LedgerAccount::Escrow(experiment_id),
                row.spec.reward_pool,
                TransferKind::Fund,
                Some(experiment_id),
                now,
            )
            .await?;
        }
        sqlx::query("UPDATE experiments SET funded = 1 WHERE experiment_id = ?")
            .bind(hex(experiment_id.as_slice()))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn open(
        &self,
        experiment_id: B256,
        spec: &ExperimentSpec,
        seed: B256,
        tasks_hash: B256,
        now: u64,
    ) -> Result<()> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin().await?;
        let row = experiment_in(&mut tx, experiment_id).await?;
        expect_phase(&row, &[Phase::Draft], "open")?;
        if !row.funded {
            return Err(StoreError::Conflict("cannot open: the reward pool is not funded".into()));
        }
        if row.task_count == 0 {
            return Err(StoreError::Conflict("cannot open: no tasks are imported".into()));
        }
        sqlx::query(
            "UPDATE experiments SET phase = 'open', spec = ?, seed = ?, tasks_hash = ?, \
             opened_at = ? WHERE experiment_id = ?",
        )
        .bind(spec.to_json())
        .bind(hex(seed.as_slice()))
        .bind(hex(tasks_hash.as_slice()))
        .bind(sql_int(now)?)
        .bind(hex(experiment_id.as_slice()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn cancel(&self, experiment_id: B256, now: u64) -> Result<()> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin().await?;
        let row = experiment_in(&mut tx, experiment_id).await?;
        expect_phase(&row, &[Phase::Draft], "cancel")?;
        if row.funded && row.market.is_none() {
            transfer(
                &mut tx,
                LedgerAccount::Escrow(experiment_id),
                LedgerAccount::Available(row.creator),
                row.spec.reward_pool,
                TransferKind::Cancel,
                Some(experiment_id),
                now,
            )
            .await?;
        }
        sqlx::query("UPDATE experiments SET phase = 'cancelled' WHERE experiment_id = ?")
            .bind(hex(experiment_id.as_slice()))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_phase(&self, experiment_id: B256, from: Phase, to: Phase) -> Result<bool> {
        let done =
            sqlx::query("UPDATE experiments SET phase = ? WHERE experiment_id = ? AND phase = ?")
                .bind(phase_name(to))
                .bind(hex(experiment_id.as_slice()))
                .bind(phase_name(from))
                .execute(&mut *self.writer().await?)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn log_after(&self, experiment_id: B256, seen: LogPosition) -> Result<ExperimentLog> {
        let id = hex(experiment_id.as_slice());
        // One read transaction, so the three lists come from the same snapshot. Commits and
        // reveals of one experiment are inserted by one writer at a time, so their rowids
        // follow the order they were accepted in.
        let mut tx = self.reader.begin().await?;
        let joins = sqlx::query(
            "SELECT entry FROM joins WHERE experiment_id = ? AND batch_id >= ? ORDER BY batch_id",
        )
        .bind(&id)
        .bind(sql_int(seen.joins)?)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| from_json::<JoinEntry>(&r.try_get::<String, _>("entry")?, "join"))
        .collect::<Result<Vec<_>>>()?;
        let commits = sqlx::query(
            "SELECT entry FROM commits WHERE experiment_id = ? ORDER BY rowid LIMIT -1 OFFSET ?",
        )
        .bind(&id)
        .bind(sql_int(seen.commits)?)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| from_json::<CommitEntry>(&r.try_get::<String, _>("entry")?, "commit"))
        .collect::<Result<Vec<_>>>()?;
        let reveals = sqlx::query(
            "SELECT entry FROM reveals WHERE experiment_id = ? ORDER BY rowid LIMIT -1 OFFSET ?",
        )
        .bind(&id)
        .bind(sql_int(seen.reveals)?)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| from_json::<RevealEntry>(&r.try_get::<String, _>("entry")?, "reveal"))
        .collect::<Result<Vec<_>>>()?;
        tx.commit().await?;
        Ok(ExperimentLog { joins, commits, reveals })
    }

    async fn commit_backup(&self, experiment_id: B256, batch_id: u64) -> Result<Option<String>> {
        let row =
            sqlx::query("SELECT backup FROM commits WHERE experiment_id = ? AND batch_id = ?")
                .bind(hex(experiment_id.as_slice()))
                .bind(sql_int(batch_id)?)
                .fetch_optional(&self.reader)
                .await?;
        Ok(match row {
            Some(row) => row.try_get("backup")?,
            None => None,
        })
    }

    async fn import_practice(&self, experiment_id: B256, tasks: &[PracticeTask]) -> Result<()> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin().await?;
        let row = experiment_in(&mut tx, experiment_id).await?;
        expect_phase(&row, &[Phase::Draft], "import practice tasks")?;
        if row.practice_count > 0 {
            return Err(StoreError::Conflict(format!(
                "{} practice tasks were already imported; an import replaces nothing",
                row.practice_count
            )));
        }
        let id = hex(experiment_id.as_slice());
        for (chunk_index, chunk) in tasks.chunks(TASK_ROWS_PER_INSERT).enumerate() {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO practice_tasks (experiment_id, task_index, task) ",
            );
            let first = chunk_index * TASK_ROWS_PER_INSERT;
            insert.push_values(chunk.iter().enumerate(), |mut row, (i, task)| {
                row.push_bind(id.clone()).push_bind((first + i) as i64).push_bind(to_json(task));
            });
            insert.build().execute(&mut *tx).await?;
        }
        sqlx::query("UPDATE experiments SET practice_count = ? WHERE experiment_id = ?")
            .bind(tasks.len() as i64)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn practice_tasks(&self, experiment_id: B256) -> Result<Vec<PracticeTask>> {
        let rows = sqlx::query(
            "SELECT task FROM practice_tasks WHERE experiment_id = ? ORDER BY task_index",
        )
        .bind(hex(experiment_id.as_slice()))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| from_json(&row.try_get::<String, _>("task")?, "practice task"))
            .collect()
    }

    async fn practice_answers(
        &self,
        experiment_id: B256,
        labeler: Option<Address>,
    ) -> Result<Vec<PracticeAnswer>> {
        let rows = sqlx::query(
            "SELECT answer FROM practice_answers WHERE experiment_id = ? \
             AND (? IS NULL OR labeler = ?) ORDER BY labeler, position",
        )
        .bind(hex(experiment_id.as_slice()))
        .bind(labeler.map(|a| hex(a.as_slice())))
        .bind(labeler.map(|a| hex(a.as_slice())))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| from_json(&row.try_get::<String, _>("answer")?, "practice answer"))
            .collect()
    }

    async fn add_practice_answer(
        &self,
        experiment_id: B256,
        position: u64,
        answer: &PracticeAnswer,
    ) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO practice_answers (experiment_id, labeler, position, answer, at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(hex(experiment_id.as_slice()))
        .bind(hex(answer.labeler.as_slice()))
        .bind(sql_int(position)?)
        .bind(to_json(answer))
        .bind(sql_int(answer.at)?)
        .execute(&mut *self.writer().await?)
        .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn sealed_reveals(&self, experiment_id: B256) -> Result<Vec<(u64, String)>> {
        let rows = sqlx::query(
            "SELECT c.batch_id, c.sealed_reveal FROM commits c WHERE c.experiment_id = ? \
             AND c.sealed_reveal IS NOT NULL AND NOT EXISTS (SELECT 1 FROM reveals r \
             WHERE r.experiment_id = c.experiment_id AND r.batch_id = c.batch_id) \
             ORDER BY c.batch_id",
        )
        .bind(hex(experiment_id.as_slice()))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(sealed_reveal_row).collect()
    }

    async fn log_writer(&self, experiment_id: B256) -> Result<Box<dyn LogWriter>> {
        Ok(Box::new(SqliteLogWriter { store: self.clone(), experiment_id }))
    }

    async fn lease(&self, name: &str, holder: &str, now_ms: u64, ttl_ms: u64) -> Result<bool> {
        let mut writer = self.writer().await?;
        let taken = sqlx::query(
            "INSERT INTO leases (lease_id, holder, expires_at_ms) VALUES (?, ?, ?) \
             ON CONFLICT (lease_id) DO UPDATE SET holder = excluded.holder, \
             expires_at_ms = excluded.expires_at_ms \
             WHERE leases.holder = excluded.holder OR leases.expires_at_ms <= ?",
        )
        .bind(name)
        .bind(holder)
        .bind(sql_int(now_ms.saturating_add(ttl_ms))?)
        .bind(sql_int(now_ms)?)
        .execute(&mut *writer)
        .await?;
        Ok(taken.rows_affected() == 1)
    }

    async fn reputations(&self, addresses: &[Address]) -> Result<BTreeMap<Address, Reputation>> {
        let mut conn = self.reader.acquire().await?;
        reputations_in(&mut conn, addresses).await
    }

    async fn settle(
        &self,
        experiment_id: B256,
        record: &PublicRecord,
        seen: LogPosition,
        read: &BTreeMap<Address, Reputation>,
        updated: &BTreeMap<Address, Reputation>,
    ) -> Result<()> {
        if record.experiment_id != experiment_id {
            return Err(StoreError::Conflict("the record is of another experiment".into()));
        }
        record
            .settlement
            .check()
            .map_err(|e| StoreError::Conflict(format!("the settlement is inconsistent: {e}")))?;
        let now = record.settled_at;
        let id = hex(experiment_id.as_slice());
        let mut writer = self.writer().await?;
        let mut tx = writer.begin().await?;
        let row = experiment_in(&mut tx, experiment_id).await?;
        expect_phase(&row, &LIVE, "settle")?;
        expect_log(&row, seen)?;
        let labelers: Vec<Address> = updated.keys().copied().collect();
        expect_reputations(read, &reputations_in(&mut tx, &labelers).await?)?;
        let inserted = sqlx::query(
            "INSERT INTO settlements (settlement_id, settlement, record, created_at) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(to_json(&record.settlement))
        .bind(record.to_json())
        .bind(sql_int(now)?)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict("the experiment is already settled".into()));
            }
            other => other?,
        };
        if row.market.is_none() {
            for m in ledger::settlement_movements(experiment_id, row.creator, &record.settlement) {
                transfer(&mut tx, m.debit, m.credit, m.amount, m.kind, Some(experiment_id), now)
                    .await?;
            }
            let left = ledger_balance(&mut tx, &LedgerAccount::Escrow(experiment_id)).await?;
            if left != 0 {
                return Err(corrupt(format!(
                    "settling experiment {experiment_id} would leave {left} in its escrow"
                )));
            }
        }
        for (address, reputation) in updated {
            sqlx::query(
                "INSERT INTO reputations (reputation_id, reputation, updated_at, created_at) \
                 VALUES (?, ?, ?, ?) ON CONFLICT (reputation_id) DO UPDATE SET \
                 reputation = excluded.reputation, updated_at = excluded.updated_at",
            )
            .bind(hex(address.as_slice()))
            .bind(to_json(reputation))
            .bind(sql_int(now)?)
            .bind(sql_int(now)?)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE experiments SET phase = 'settled', settled_at = ? WHERE experiment_id = ?",
        )
        .bind(sql_int(now)?)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn settlement(&self, experiment_id: B256) -> Result<Option<Settlement>> {
        let row = sqlx::query("SELECT settlement FROM settlements WHERE settlement_id = ?")
            .bind(hex(experiment_id.as_slice()))
            .fetch_optional(&self.reader)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let settlement: Settlement =
            from_json(&row.try_get::<String, _>("settlement")?, "settlement")?;
        // A stored settlement is checked whenever it is read, not only when it was written.
        settlement.check().map_err(|e| corrupt(format!("settlement: {e}")))?;
        Ok(Some(settlement))
    }

    async fn record(&self, experiment_id: B256) -> Result<Option<PublicRecord>> {
        let row = sqlx::query("SELECT record FROM settlements WHERE settlement_id = ?")
            .bind(hex(experiment_id.as_slice()))
            .fetch_optional(&self.reader)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let record = PublicRecord::from_json(&row.try_get::<String, _>("record")?)
            .map_err(|e| corrupt(format!("record: {e}")))?;
        record.settlement.check().map_err(|e| corrupt(format!("record settlement: {e}")))?;
        Ok(Some(record))
    }

    async fn journal(&self, after: u64, limit: u32) -> Result<Vec<Transfer>> {
        let rows =
            sqlx::query("SELECT * FROM journal WHERE journal_id > ? ORDER BY journal_id LIMIT ?")
                .bind(sql_int(after)?)
                .bind(i64::from(limit))
                .fetch_all(&self.reader)
                .await?;
        rows.iter().map(transfer_row).collect()
    }

    async fn close(&self) {
        SqliteStore::close(self).await;
    }

    async fn check_ledger(&self) -> Result<LedgerReport> {
        // One read transaction: every query below sees the same snapshot, so a write landing
        // in the middle of the check cannot look like an imbalance.
        let mut tx = self.reader.begin().await?;
        let mut check = LedgerCheck::default();
        loop {
            let rows = sqlx::query(
                "SELECT * FROM journal WHERE journal_id >= ? ORDER BY journal_id LIMIT ?",
            )
            .bind(sql_int(check.next_journal_id())?)
            .bind(JOURNAL_PAGE_ENTRIES)
            .fetch_all(&mut *tx)
            .await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                check.journal_entry(transfer_row(row));
            }
        }
        let accounts = sqlx::query("SELECT * FROM ledger_accounts").fetch_all(&mut *tx).await?;
        for row in &accounts {
            let name = row.text("ledger_account_id")?;
            check.account(&name, &row.text("debits")?, &row.text("credits")?)?;
        }
        check.accounts_done();
        let experiments = sqlx::query("SELECT * FROM experiments").fetch_all(&mut *tx).await?;
        for row in &experiments {
            check.experiment(&experiment_row(row)?);
        }
        let live_joins = sqlx::query(
            "SELECT j.labeler AS labeler, j.experiment_id AS experiment_id, COUNT(*) AS n \
             FROM joins j JOIN experiments e ON e.experiment_id = j.experiment_id \
             WHERE e.phase IN ('open', 'revealing') GROUP BY j.labeler, j.experiment_id",
        )
        .fetch_all(&mut *tx)
        .await?;
        for row in &live_joins {
            let labeler = parse(&row.text("labeler")?, "labeler")?;
            let experiment = parse(&row.text("experiment_id")?, "experiment id")?;
            check.live_joins(labeler, experiment, from_sql_int(row.int("n")?)?);
        }
        tx.commit().await?;
        Ok(check.finish())
    }

    async fn chain_relay(&self, experiment_id: B256) -> Result<Option<ChainRelay>> {
        let row = sqlx::query("SELECT * FROM chain_relays WHERE chain_relay_id = ?")
            .bind(hex(experiment_id.as_slice()))
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(chain_relay_row).transpose()
    }

    async fn put_chain_relay(&self, relay: &ChainRelay) -> Result<()> {
        let id = hex(relay.experiment_id.as_slice());
        let mut writer = self.writer().await?;
        let mut tx = writer.begin().await?;
        let row = experiment_in(&mut tx, relay.experiment_id).await?;
        if row.market.is_none() {
            return Err(StoreError::Conflict(format!(
                "experiment {} is on the embedded ledger, not on chain",
                relay.experiment_id
            )));
        }
        let before = sqlx::query("SELECT * FROM chain_relays WHERE chain_relay_id = ?")
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(before) = before {
            check_relay_progress(&chain_relay_row(&before)?, relay)?;
        }
        sqlx::query(
            "INSERT INTO chain_relays (chain_relay_id, from_block, joins_relayed, \
             commits_relayed, last_join_tx, last_commit_tx, settle_tx, settled_at, \
             distribute_tx, distributed_at, refund_tx, refunded_at, updated_at, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (chain_relay_id) DO UPDATE SET \
             joins_relayed = excluded.joins_relayed, commits_relayed = excluded.commits_relayed, \
             last_join_tx = excluded.last_join_tx, last_commit_tx = excluded.last_commit_tx, \
             settle_tx = excluded.settle_tx, settled_at = excluded.settled_at, \
             distribute_tx = excluded.distribute_tx, distributed_at = excluded.distributed_at, \
             refund_tx = excluded.refund_tx, refunded_at = excluded.refunded_at, \
             updated_at = excluded.updated_at",
        )
        .bind(&id)
        .bind(sql_int(relay.from_block)?)
        .bind(sql_int(relay.joins_relayed)?)
        .bind(sql_int(relay.commits_relayed)?)
        .bind(opt_hex(relay.last_join_tx))
        .bind(opt_hex(relay.last_commit_tx))
        .bind(opt_hex(relay.settle_tx))
        .bind(opt_sql_int(relay.settled_at)?)
        .bind(opt_hex(relay.distribute_tx))
        .bind(opt_sql_int(relay.distributed_at)?)
        .bind(opt_hex(relay.refund_tx))
        .bind(opt_sql_int(relay.refunded_at)?)
        .bind(sql_int(relay.updated_at)?)
        .bind(sql_int(relay.updated_at)?)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
