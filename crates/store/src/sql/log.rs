//! An experiment's protocol log: reading it beyond a position, and appending joins, commits
//! and reveals through a [`LogWriter`].

use super::SqlStore;
use super::dialect::{Arg, Conn, Dialect, args, value_rows};
use super::ledger::{remember_account, transfer};
use crate::common::{
    Fields, LIVE, check_market_stake, expect_commits_open, expect_log, expect_next_batch,
    expect_phase, from_json, from_sql_int, is_unique_violation, parse_phase, sql_int, to_json,
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

/// Rows per multi-row INSERT when appending commits or reveals: 7 parameters each stays far
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
    head: Head,
    entry: &JoinEntry,
    stake: Amount,
    market_free: Option<U256>,
    seen: LogPosition,
) -> Result<()> {
    expect_phase(head.phase, &LIVE, "join")?;
    expect_commits_open(head.commits_closed_at, "join")?;
    expect_log(experiment_id, head.log, seen)?;
    expect_next_batch(head.log, entry.batch_id)?;
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
    if !head.on_chain {
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
    head: Head,
    commits: &[StoredCommit],
    reveals: &[RevealEntry],
    seen: LogPosition,
) -> Result<()> {
    let id = hex(experiment_id.as_slice());
    let action = if reveals.is_empty() { "commit" } else { "reveal" };
    expect_phase(head.phase, &LIVE, action)?;
    if !commits.is_empty() {
        expect_commits_open(head.commits_closed_at, "commit")?;
    }
    expect_log(experiment_id, head.log, seen)?;
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
    head: Head,
    spec: &ExperimentSpec,
    seen: LogPosition,
) -> Result<()> {
    expect_phase(head.phase, &[Phase::Open], "close commits")?;
    expect_log(experiment_id, head.log, seen)?;
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

/// What an append checks of its experiment, read with the experiment's row locked. Every
/// append updates that row (its log counts), and so does every change of phase, so none of
/// it moves until the transaction that read it ends.
#[derive(Clone, Copy, Debug)]
struct Head {
    phase: Phase,
    log: LogPosition,
    commits_closed_at: Option<u64>,
    /// Whether the experiment runs on a market contract, which holds its stakes.
    on_chain: bool,
}

/// Reads an experiment's [`Head`] on the caller's transaction, locking its row (PostgreSQL).
/// READ COMMITTED re-reads a locked row once its lock is granted, so a writer that waited
/// sees every append committed before it.
async fn head_in<D: Dialect>(conn: &mut Conn<D>, experiment_id: B256) -> Result<Head> {
    let sql = format!(
        "SELECT phase, log_joins, log_commits, log_reveals, commits_closed_at, market \
         FROM experiments WHERE experiment_id = $1{}",
        D::ROW_LOCK
    );
    let row = D::fetch_optional(conn, &sql, args![hex(experiment_id.as_slice())])
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("experiment {experiment_id}")))?;
    Ok(Head {
        phase: parse_phase(&row.text("phase")?)?,
        log: LogPosition {
            joins: from_sql_int(row.int("log_joins")?)?,
            commits: from_sql_int(row.int("log_commits")?)?,
            reveals: from_sql_int(row.int("log_reveals")?)?,
        },
        commits_closed_at: row.opt_int("commits_closed_at")?.map(from_sql_int).transpose()?,
        on_chain: row.opt_text("market")?.is_some(),
    })
}

/// A transaction holding an experiment's row lock, and the head it read under it.
struct Held<D: Dialect> {
    tx: Transaction<'static, D::Db>,
    head: Head,
}

/// A store's [`LogWriter`]. Where several processes write the database (PostgreSQL) it holds a
/// transaction holding the experiment's row lock, which every process's writer takes first,
/// and in which the append then runs; a dropped transaction rolls back when its connection
/// returns to the pool, which frees the lock, and so does a process that dies. Where one
/// process writes (SQLite), its writes to one experiment are already one at a time in the
/// server, so there is nothing to hold, and the append runs on the write connection.
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
    if !D::SEVERAL_WRITERS {
        return Ok(Box::new(SqlLogWriter { store: store.clone(), experiment_id, held: None }));
    }
    let mut tx = store.dialect.pool().begin().await?;
    let head = head_in::<D>(&mut tx, experiment_id).await?;
    let held = Some(Held { tx, head });
    Ok(Box::new(SqlLogWriter { store: store.clone(), experiment_id, held }))
}

/// Runs `$append` (an expression using `$conn`, the connection, and `$head`, the experiment's
/// head) in the transaction holding the experiment's row lock, or in a new transaction on the
/// write connection, and commits it.
macro_rules! append_and_commit {
    ($writer:expr, |$conn:ident, $head:ident| $append:expr) => {{
        let writer = $writer;
        let id = writer.experiment_id;
        match writer.held {
            Some(mut held) => {
                let $head = held.head;
                let $conn = &mut *held.tx;
                $append.await?;
                held.tx.commit().await?;
            }
            None => {
                let mut write = writer.store.dialect.write().await?;
                let mut tx = write.begin().await?;
                let $head = head_in::<D>(&mut tx, id).await?;
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
        self.held.as_ref().map(|held| held.head.log)
    }

    fn commits_closed_at(&self) -> Option<u64> {
        self.held.as_ref().and_then(|held| held.head.commits_closed_at)
    }

    async fn log_after(&mut self, seen: LogPosition) -> Result<ExperimentLog> {
        match &mut self.held {
            Some(held) => {
                let end = Some(held.head.log);
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
        append_and_commit!(*self, |conn, head| append_join_in::<D>(
            conn,
            id,
            head,
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
        append_and_commit!(*self, |conn, head| append_group_in::<D>(
            conn, id, head, commits, reveals, seen
        ))
    }

    async fn close_commits(
        self: Box<Self>,
        spec: &ExperimentSpec,
        seen: LogPosition,
    ) -> Result<()> {
        let id = self.experiment_id;
        append_and_commit!(*self, |conn, head| close_commits_in::<D>(conn, id, head, spec, seen))
    }

    async fn release(self: Box<Self>) {
        if let Some(held) = self.held {
            // A failed rollback leaves the connection to be closed by the pool, which frees
            // the lock as well.
            let _ = held.tx.rollback().await;
        }
    }
}
