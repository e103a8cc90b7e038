//! An experiment's protocol log: reading it beyond a position, and appending joins, commits
//! and reveals through a [`LogWriter`].

use super::dialect::{Arg, Conn, Dialect, args, value_rows};
use super::ledger::{remember_account, transfer};
use super::{SqlStore, experiment_in};
use crate::common::{
    Fields, LIVE, check_market_stake, expect_commits_open, expect_log, expect_next_batch,
    expect_phase, from_json, from_sql_int, is_unique_violation, sql_int, to_json,
};
use crate::ledger::{LedgerAccount, TransferKind, hex};
use crate::{ExperimentLog, LogPosition, LogWriter, Result, StoreError, StoredCommit};
use async_trait::async_trait;
use plumbline_core::lifecycle::Phase;
use plumbline_core::record::{JoinEntry, RevealEntry};
use plumbline_core::spec::ExperimentSpec;
use plumbline_core::{Amount, B256, U256};
use serde::de::DeserializeOwned;
use sqlx::{Connection, Transaction};

/// Rows per multi-row INSERT when appending commits or reveals: 6 parameters each stays far
/// below either engine's limit on parameters per statement (SQLite's is 32,766).
const APPEND_ROWS_PER_INSERT: usize = 1_000;

/// The log beyond `seen`, read on the caller's connection (see [`crate::Store::log_after`]).
/// Each commit and reveal is stored with its index in the log, so this reads only the tail.
/// With `end`, the position the log is known to stand at, a list that has not moved since
/// `seen` is not read at all: a replica catching up before a commit reads only the commits.
pub(super) async fn log_after_in<D: Dialect>(
    conn: &mut Conn<D>,
    experiment_id: B256,
    seen: LogPosition,
    end: Option<LogPosition>,
) -> Result<ExperimentLog> {
    let id = hex(experiment_id.as_slice());
    let moved = |seen: u64, end: Option<u64>| end.is_none_or(|end| end != seen);
    let after = |table: &str, order: &str| {
        format!(
            "SELECT entry FROM {table} WHERE experiment_id = $1 AND {order} >= $2 ORDER BY {order}"
        )
    };
    let mut log = ExperimentLog::default();
    if moved(seen.joins, end.map(|e| e.joins)) {
        let sql = after("joins", "batch_id");
        log.joins = entries::<D, _>(conn, sql, args![&id, sql_int(seen.joins)?], "join").await?;
    }
    if moved(seen.commits, end.map(|e| e.commits)) {
        let sql = after("commits", "log_index");
        log.commits =
            entries::<D, _>(conn, sql, args![&id, sql_int(seen.commits)?], "commit").await?;
    }
    if moved(seen.reveals, end.map(|e| e.reveals)) {
        let sql = after("reveals", "log_index");
        log.reveals =
            entries::<D, _>(conn, sql, args![&id, sql_int(seen.reveals)?], "reveal").await?;
    }
    Ok(log)
}

/// The `entry` column of each row the query returns, decoded.
async fn entries<D: Dialect, T: DeserializeOwned>(
    conn: &mut Conn<D>,
    sql: String,
    args: Vec<Arg>,
    what: &str,
) -> Result<Vec<T>> {
    D::fetch_all(conn, &sql, args)
        .await?
        .iter()
        .map(|r| from_json(&r.text("entry")?, what))
        .collect()
}

/// Appends a join inside the caller's transaction (see [`LogWriter::append_join`]).
async fn append_join_in<D: Dialect>(
    conn: &mut Conn<D>,
    experiment_id: B256,
    entry: &JoinEntry,
    stake: Amount,
    market_free: Option<U256>,
    seen: LogPosition,
) -> Result<()> {
    let row = experiment_in::<D>(conn, experiment_id).await?;
    expect_phase(&row, &LIVE, "join")?;
    expect_commits_open(&row, "join")?;
    expect_log(&row, seen)?;
    expect_next_batch(&row, entry.batch_id)?;
    let labeler = entry.join.labeler;
    remember_account::<D>(conn, labeler, entry.at).await?;
    if let Some(free) = market_free {
        // The account's row lock orders joins of one labeler to different experiments, so
        // that each sees the others' pending stakes (one writer at a time does the same where
        // there is no lock).
        let lock = format!("SELECT account_id FROM accounts WHERE account_id = $1{}", D::ROW_LOCK);
        D::execute(conn, &lock, args![hex(labeler.as_slice())]).await?;
        let pending = D::fetch_all(
            conn,
            "SELECT j.entry FROM joins j \
             JOIN chain_relays r ON r.chain_relay_id = j.experiment_id \
             JOIN experiments e ON e.experiment_id = j.experiment_id \
             WHERE j.labeler = $1 AND e.phase = 'open' AND j.batch_id >= r.joins_relayed",
            args![hex(labeler.as_slice())],
        )
        .await?
        .iter()
        .map(|r| r.text("entry"))
        .collect::<Result<Vec<_>>>()?;
        check_market_stake(labeler, stake, free, &pending)?;
    }
    let inserted = D::execute(
        conn,
        "INSERT INTO joins (experiment_id, batch_id, labeler, entry, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
        args![
            hex(experiment_id.as_slice()),
            sql_int(entry.batch_id)?,
            hex(labeler.as_slice()),
            to_json(entry),
            sql_int(entry.at)?,
        ],
    )
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
    D::execute(
        conn,
        "UPDATE experiments SET log_joins = log_joins + 1 WHERE experiment_id = $1",
        args![hex(experiment_id.as_slice())],
    )
    .await?;
    // A chain experiment's stakes are locked by the market contract.
    if row.market.is_none() {
        transfer::<D>(
            conn,
            LedgerAccount::Available(labeler),
            LedgerAccount::Locked(labeler),
            stake,
            TransferKind::StakeLock,
            Some(experiment_id),
            entry.at,
        )
        .await?;
    }
    Ok(())
}

/// Appends commits and reveals inside the caller's transaction (see
/// [`LogWriter::append_group`]).
async fn append_group_in<D: Dialect>(
    conn: &mut Conn<D>,
    experiment_id: B256,
    commits: &[StoredCommit],
    reveals: &[RevealEntry],
    seen: LogPosition,
) -> Result<()> {
    let id = hex(experiment_id.as_slice());
    let action = if reveals.is_empty() { "commit" } else { "reveal" };
    let row = experiment_in::<D>(conn, experiment_id).await?;
    expect_phase(&row, &LIVE, action)?;
    if !commits.is_empty() {
        expect_commits_open(&row, "commit")?;
    }
    expect_log(&row, seen)?;
    // Commits before reveals: a reveal's row refers to its batch's commit.
    let mut next_commit = seen.commits;
    for chunk in commits.chunks(APPEND_ROWS_PER_INSERT) {
        let mut values = Vec::with_capacity(chunk.len() * 7);
        for c in chunk {
            values.extend(args![
                &id,
                sql_int(c.entry.batch_id)?,
                sql_int(next_commit)?,
                to_json(&c.entry),
                c.backup.clone(),
                c.sealed_reveal.clone(),
                sql_int(c.entry.at)?,
            ]);
            next_commit += 1;
        }
        let sql = format!(
            "INSERT INTO commits (experiment_id, batch_id, log_index, entry, backup, \
             sealed_reveal, created_at) VALUES {}",
            value_rows(chunk.len(), 7)
        );
        let batches: Vec<u64> = chunk.iter().map(|c| c.entry.batch_id).collect();
        insert_rows::<D>(conn, &sql, values, "committed", &batches).await?;
    }
    let mut next_reveal = seen.reveals;
    for chunk in reveals.chunks(APPEND_ROWS_PER_INSERT) {
        let mut values = Vec::with_capacity(chunk.len() * 5);
        for r in chunk {
            let index = sql_int(next_reveal)?;
            values.extend(args![&id, sql_int(r.batch_id)?, index, to_json(r), sql_int(r.at)?]);
            next_reveal += 1;
        }
        let sql = format!(
            "INSERT INTO reveals (experiment_id, batch_id, log_index, entry, created_at) \
             VALUES {}",
            value_rows(chunk.len(), 5)
        );
        let batches: Vec<u64> = chunk.iter().map(|r| r.batch_id).collect();
        insert_rows::<D>(conn, &sql, values, "revealed", &batches).await?;
    }
    D::execute(
        conn,
        "UPDATE experiments SET log_commits = log_commits + $1, \
         log_reveals = log_reveals + $2 WHERE experiment_id = $3",
        args![sql_int(commits.len() as u64)?, sql_int(reveals.len() as u64)?, &id],
    )
    .await?;
    Ok(())
}

/// Runs a multi-row insert of commits or reveals (`what` they become) of these batches; a
/// batch already stored (or twice in the group) is a conflict.
async fn insert_rows<D: Dialect>(
    conn: &mut Conn<D>,
    sql: &str,
    values: Vec<Arg>,
    what: &str,
    batches: &[u64],
) -> Result<()> {
    match D::execute(conn, sql, values).await {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => {
            let batches: Vec<String> = batches.iter().map(u64::to_string).collect();
            Err(StoreError::Conflict(format!("batch {} is already {what}", batches.join(" or "))))
        }
        Err(e) => Err(e.into()),
    }
}

/// Closes commits early inside the caller's transaction (see [`LogWriter::close_commits`]).
async fn close_commits_in<D: Dialect>(
    conn: &mut Conn<D>,
    experiment_id: B256,
    spec: &ExperimentSpec,
    seen: LogPosition,
) -> Result<()> {
    let row = experiment_in::<D>(conn, experiment_id).await?;
    expect_phase(&row, &[Phase::Open], "close commits")?;
    expect_log(&row, seen)?;
    D::execute(
        conn,
        "UPDATE experiments SET spec = $1, phase = 'revealing', commits_closed_at = $2 \
         WHERE experiment_id = $3",
        args![
            spec.to_json(),
            spec.commits_closed_at.map(sql_int).transpose()?,
            hex(experiment_id.as_slice()),
        ],
    )
    .await?;
    Ok(())
}

/// The log's lock, held by a transaction, and what was read under it.
struct Held<D: Dialect> {
    tx: Transaction<'static, D::Db>,
    position: LogPosition,
    commits_closed_at: Option<u64>,
}

/// A store's [`LogWriter`]. Where several processes write the database (PostgreSQL) it holds a
/// transaction holding the experiment's log lock, which every process's writer takes, and in
/// which the append then runs; a dropped transaction rolls back when its connection returns to
/// the pool, which frees the lock, and so does a process that dies. Where one process writes
/// (SQLite), its writes to one experiment are already one at a time in the server, so there is
/// nothing to hold, and the append runs on the write connection.
struct SqlLogWriter<D: Dialect> {
    store: SqlStore<D>,
    experiment_id: B256,
    held: Option<Held<D>>,
}

/// Takes the right to append to an experiment's log (see [`crate::Store::log_writer`]).
pub(super) async fn log_writer<D: Dialect>(
    store: &SqlStore<D>,
    experiment_id: B256,
) -> Result<Box<dyn LogWriter>> {
    let Some((lock, key)) = D::log_lock(experiment_id) else {
        return Ok(Box::new(SqlLogWriter { store: store.clone(), experiment_id, held: None }));
    };
    let mut tx = store.dialect.pool().begin().await?;
    D::execute(&mut tx, lock, key).await?;
    // Read after the lock, so every append before it is visible (PostgreSQL's READ COMMITTED
    // takes a new snapshot per statement).
    let row = D::fetch_optional(
        &mut tx,
        "SELECT log_joins, log_commits, log_reveals, commits_closed_at FROM experiments \
         WHERE experiment_id = $1",
        args![hex(experiment_id.as_slice())],
    )
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("experiment {experiment_id}")))?;
    let position = LogPosition {
        joins: from_sql_int(row.int("log_joins")?)?,
        commits: from_sql_int(row.int("log_commits")?)?,
        reveals: from_sql_int(row.int("log_reveals")?)?,
    };
    let commits_closed_at = row.opt_int("commits_closed_at")?.map(from_sql_int).transpose()?;
    let held = Some(Held { tx, position, commits_closed_at });
    Ok(Box::new(SqlLogWriter { store: store.clone(), experiment_id, held }))
}

/// Runs `$append` (an expression using `$conn`, the connection) in the transaction holding the
/// log's lock, or in a new transaction on the write connection, and commits it.
macro_rules! append_and_commit {
    ($writer:expr, |$conn:ident| $append:expr) => {{
        let writer = $writer;
        match writer.held {
            Some(mut held) => {
                let $conn = &mut *held.tx;
                $append.await?;
                held.tx.commit().await?;
            }
            None => {
                let mut write = writer.store.dialect.write().await?;
                let mut tx = write.begin().await?;
                let $conn = &mut *tx;
                $append.await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }};
}

#[async_trait]
impl<D: Dialect> LogWriter for SqlLogWriter<D> {
    fn position(&self) -> Option<LogPosition> {
        self.held.as_ref().map(|held| held.position)
    }

    fn commits_closed_at(&self) -> Option<u64> {
        self.held.as_ref().and_then(|held| held.commits_closed_at)
    }

    async fn log_after(&mut self, seen: LogPosition) -> Result<ExperimentLog> {
        match &mut self.held {
            Some(held) => {
                let end = Some(held.position);
                log_after_in::<D>(&mut held.tx, self.experiment_id, seen, end).await
            }
            None => crate::Store::log_after(&self.store, self.experiment_id, seen).await,
        }
    }

    async fn append_join(
        self: Box<Self>,
        entry: &JoinEntry,
        stake: Amount,
        market_free: Option<U256>,
        seen: LogPosition,
    ) -> Result<()> {
        let id = self.experiment_id;
        append_and_commit!(*self, |conn| append_join_in::<D>(
            conn,
            id,
            entry,
            stake,
            market_free,
            seen
        ))
    }

    async fn append_group(
        self: Box<Self>,
        commits: &[StoredCommit],
        reveals: &[RevealEntry],
        seen: LogPosition,
    ) -> Result<()> {
        let id = self.experiment_id;
        append_and_commit!(*self, |conn| append_group_in::<D>(conn, id, commits, reveals, seen))
    }

    async fn close_commits(
        self: Box<Self>,
        spec: &ExperimentSpec,
        seen: LogPosition,
    ) -> Result<()> {
        let id = self.experiment_id;
        append_and_commit!(*self, |conn| close_commits_in::<D>(conn, id, spec, seen))
    }

    async fn release(self: Box<Self>) {
        if let Some(held) = self.held {
            // A failed rollback leaves the connection to be closed by the pool, which frees
            // the lock as well.
            let _ = held.tx.rollback().await;
        }
    }
}
