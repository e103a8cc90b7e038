//! [`Store`] on a SQL database, once for both engines.

use super::dialect::{Arg, Dialect, args, placeholders, value_rows};
use super::ledger::{ledger_balance, remember_account, transfer};
use super::log::{log_after_in, log_writer};
use super::{SqlStore, experiment_in, reputations_in};
use crate::common::{
    Fields, LIVE, LedgerCheck, balance_of, chain_relay_row, challenge_row, check_relay_progress,
    corrupt, expect_log, expect_phase, expect_reputations, experiment_row, from_json, from_sql_int,
    is_unique_violation, opt_hex, opt_sql_int, parse, phase_name, sealed_reveal_row, session_row,
    sql_int, to_json, transfer_row,
};
use crate::ledger::{
    LedgerAccount, LedgerReport, Transfer, TransferKind, hex, settlement_movements,
};
use crate::{
    Balances, ChainRelay, Challenge, ExperimentLog, ExperimentRow, LogPosition, LogWriter,
    NewExperiment, Result, Session, Store, StoreError,
};
use async_trait::async_trait;
use plumbline_core::lifecycle::Phase;
use plumbline_core::limits::AMOUNT_MAX;
use plumbline_core::practice::{PracticeAnswer, PracticeTask};
use plumbline_core::record::PublicRecord;
use plumbline_core::reputation::Reputation;
use plumbline_core::settle::Settlement;
use plumbline_core::spec::ExperimentSpec;
use plumbline_core::task::Task;
use plumbline_core::{Address, Amount, B256};
use serde::Serialize;
use sqlx::Connection;
use sqlx::pool::PoolConnection;
use std::collections::BTreeMap;

/// Rows per multi-row INSERT when importing tasks: 4 parameters each stays far below either
/// engine's limit on parameters per statement (SQLite's is 32,766).
const TASK_ROWS_PER_INSERT: usize = 500;

/// Journal entries read per query while checking the ledger, to bound memory.
const JOURNAL_PAGE_ENTRIES: i64 = 10_000;

// Users name `SqliteStore` or `PgStore`; which hooks an engine supplies is the store's own
// business.
#[expect(private_bounds)]
impl<D: Dialect> SqlStore<D> {
    /// A connection for reads.
    async fn read(&self) -> Result<PoolConnection<D::Db>> {
        Ok(self.dialect.pool().acquire().await?)
    }

    /// The rows of one experiment's `table` (tasks or practice tasks), in import order.
    async fn imported<T: serde::de::DeserializeOwned>(
        &self,
        table: &str,
        experiment_id: B256,
        what: &str,
    ) -> Result<Vec<T>> {
        let sql = format!("SELECT task FROM {table} WHERE experiment_id = $1 ORDER BY task_index");
        let rows =
            D::fetch_all(&mut *self.read().await?, &sql, args![hex(experiment_id.as_slice())])
                .await?;
        rows.iter().map(|row| from_json(&row.text("task")?, what)).collect()
    }

    /// Imports tasks or practice tasks into a draft experiment that has none of them yet, and
    /// stores their counts.
    async fn import<T: Serialize>(
        &self,
        experiment_id: B256,
        tasks: &[T],
        import: Import,
    ) -> Result<()> {
        let mut writer = self.dialect.write().await?;
        let mut tx = writer.begin().await?;
        let row = experiment_in::<D>(&mut tx, experiment_id).await?;
        expect_phase(row.phase, &[Phase::Draft], &format!("import {}", import.what))?;
        let already = (import.imported)(&row);
        if already > 0 {
            return Err(StoreError::Conflict(format!(
                "{already} {} were already imported; an import replaces nothing",
                import.what
            )));
        }
        let id = hex(experiment_id.as_slice());
        let columns = if import.created_at.is_some() { 4 } else { 3 };
        for (chunk_index, chunk) in tasks.chunks(TASK_ROWS_PER_INSERT).enumerate() {
            let first = chunk_index * TASK_ROWS_PER_INSERT;
            let mut values = Vec::with_capacity(chunk.len() * columns);
            for (i, task) in chunk.iter().enumerate() {
                values.extend(args![&id, (first + i) as i64, to_json(task)]);
                values.extend(import.created_at.map(Arg::from));
            }
            let sql = format!(
                "INSERT INTO {} (experiment_id, task_index, task{}) VALUES {}",
                import.table,
                if import.created_at.is_some() { ", created_at" } else { "" },
                value_rows(chunk.len(), columns)
            );
            D::execute(&mut tx, &sql, values).await?;
        }
        let mut counts = import.counts;
        counts.push(Arg::from(id));
        D::execute(&mut tx, import.count_update, counts).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// What [`SqlStore::import`] imports: into which table, and which counts it sets.
struct Import {
    table: &'static str,
    /// What the rows are, for messages.
    what: &'static str,
    /// How many of them the experiment already has.
    imported: fn(&ExperimentRow) -> u64,
    /// When they were imported, for a table that keeps it.
    created_at: Option<i64>,
    /// The statement that stores their counts in the experiment's row, the experiment's id
    /// its last parameter.
    count_update: &'static str,
    /// The counts, its first parameters.
    counts: Vec<Arg>,
}

#[async_trait]
impl<D: Dialect> Store for SqlStore<D> {
    async fn put_challenge(&self, challenge: &Challenge) -> Result<()> {
        let mut writer = self.dialect.write().await?;
        let mut tx = writer.begin().await?;
        // Expired challenges are useless; dropping them here keeps the table small.
        D::execute(
            &mut tx,
            "DELETE FROM challenges WHERE expires_at <= $1",
            args![sql_int(challenge.created_at)?],
        )
        .await?;
        D::execute(
            &mut tx,
            "INSERT INTO challenges (challenge_id, address, message, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
            args![
                &challenge.nonce,
                hex(challenge.address.as_slice()),
                &challenge.message,
                sql_int(challenge.expires_at)?,
                sql_int(challenge.created_at)?,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn take_challenge(&self, nonce: &str, now: u64) -> Result<Option<Challenge>> {
        // One statement: of two processes taking the same challenge at once, one deletes the
        // row and gets it, the other finds nothing.
        let row = D::fetch_optional(
            &mut *self.dialect.write().await?,
            "DELETE FROM challenges WHERE challenge_id = $1 RETURNING *",
            args![nonce],
        )
        .await?;
        let Some(row) = row else { return Ok(None) };
        let challenge = challenge_row(&row)?;
        Ok((challenge.expires_at > now).then_some(challenge))
    }

    async fn put_session(&self, session: &Session) -> Result<()> {
        let mut writer = self.dialect.write().await?;
        let mut tx = writer.begin().await?;
        D::execute(
            &mut tx,
            "DELETE FROM sessions WHERE expires_at <= $1",
            args![sql_int(session.created_at)?],
        )
        .await?;
        D::execute(
            &mut tx,
            "INSERT INTO sessions (session_id, address, expires_at, created_at) \
             VALUES ($1, $2, $3, $4)",
            args![
                hex(session.token_hash.as_slice()),
                hex(session.address.as_slice()),
                sql_int(session.expires_at)?,
                sql_int(session.created_at)?,
            ],
        )
        .await?;
        remember_account::<D>(&mut tx, session.address, session.created_at).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session(&self, token_hash: B256, now: u64) -> Result<Option<Session>> {
        let row = D::fetch_optional(
            &mut *self.read().await?,
            "SELECT * FROM sessions WHERE session_id = $1 AND expires_at > $2",
            args![hex(token_hash.as_slice()), sql_int(now)?],
        )
        .await?;
        row.map(|row| session_row(&row)).transpose()
    }

    async fn end_session(&self, token_hash: B256) -> Result<bool> {
        let done = D::execute(
            &mut *self.dialect.write().await?,
            "DELETE FROM sessions WHERE session_id = $1",
            args![hex(token_hash.as_slice())],
        )
        .await?;
        Ok(done > 0)
    }

    async fn balances(&self, address: Address) -> Result<Balances> {
        let (available, locked) =
            (LedgerAccount::Available(address), LedgerAccount::Locked(address));
        // One statement reads one snapshot, so a join moving stake from one balance to the
        // other in the meantime is seen whole or not at all.
        let rows = D::fetch_all(
            &mut *self.read().await?,
            "SELECT ledger_account_id, debits, credits FROM ledger_accounts \
             WHERE ledger_account_id IN ($1, $2)",
            args![available.to_string(), locked.to_string()],
        )
        .await?;
        let mut balances = Balances::default();
        for row in &rows {
            let name = row.text("ledger_account_id")?;
            let account = if name == available.to_string() { &available } else { &locked };
            let balance = balance_of(account, &row.text("debits")?, &row.text("credits")?)?;
            if account == &available {
                balances.available = balance;
            } else {
                balances.locked = balance;
            }
        }
        Ok(balances)
    }

    async fn mint(&self, to: Address, amount: Amount, now: u64) -> Result<Balances> {
        let mut writer = self.dialect.write().await?;
        let mut tx = writer.begin().await?;
        remember_account::<D>(&mut tx, to, now).await?;
        let available = LedgerAccount::Available(to);
        transfer::<D>(
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
            available: ledger_balance::<D>(&mut tx, &available).await?,
            locked: ledger_balance::<D>(&mut tx, &LedgerAccount::Locked(to)).await?,
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
        let mut writer = self.dialect.write().await?;
        let mut tx = writer.begin().await?;
        remember_account::<D>(&mut tx, experiment.creator, experiment.created_at).await?;
        let spec = &experiment.spec;
        let inserted = D::execute(
            &mut tx,
            "INSERT INTO experiments (experiment_id, creator, title, spec, phase, funded, \
             commit_deadline, reveal_deadline, chain_id, market, created_at) \
             VALUES ($1, $2, $3, $4, 'draft', FALSE, $5, $6, $7, $8, $9)",
            args![
                hex(experiment.experiment_id.as_slice()),
                hex(experiment.creator.as_slice()),
                &spec.title,
                spec.to_json(),
                sql_int(spec.commit_deadline)?,
                sql_int(spec.reveal_deadline)?,
                experiment.market.map(|m| sql_int(m.chain_id)).transpose()?,
                experiment.market.map(|m| hex(m.market.as_slice())),
                sql_int(experiment.created_at)?,
            ],
        )
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
        let row = D::fetch_optional(
            &mut *self.read().await?,
            "SELECT * FROM experiments WHERE experiment_id = $1",
            args![hex(experiment_id.as_slice())],
        )
        .await?;
        row.as_ref().map(experiment_row).transpose()
    }

    async fn experiments(&self) -> Result<Vec<ExperimentRow>> {
        let sql =
            format!("SELECT * FROM experiments ORDER BY created_at DESC, {} DESC", D::INSERT_ORDER);
        let rows = D::fetch_all(&mut *self.read().await?, &sql, args![]).await?;
        rows.iter().map(experiment_row).collect()
    }

    async fn experiments_in(&self, phases: &[Phase]) -> Result<Vec<ExperimentRow>> {
        if phases.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT * FROM experiments WHERE phase IN ({}) ORDER BY created_at, {}",
            placeholders(1, phases.len()),
            D::INSERT_ORDER
        );
        let names = phases.iter().map(|p| Arg::from(phase_name(*p))).collect();
        let rows = D::fetch_all(&mut *self.read().await?, &sql, names).await?;
        rows.iter().map(experiment_row).collect()
    }

    async fn import_tasks(&self, experiment_id: B256, tasks: &[Task], now: u64) -> Result<()> {
        let gold = tasks.iter().filter(|t| t.is_gold()).count();
        let import = Import {
            table: "tasks",
            what: "tasks",
            imported: |row| row.task_count,
            created_at: Some(sql_int(now)?),
            count_update: "UPDATE experiments SET task_count = $1, gold_count = $2 \
                           WHERE experiment_id = $3",
            counts: args![tasks.len() as i64, gold as i64],
        };
        self.import(experiment_id, tasks, import).await
    }

    async fn tasks(&self, experiment_id: B256) -> Result<Vec<Task>> {
        self.imported("tasks", experiment_id, "task").await
    }

    async fn fund(&self, experiment_id: B256, now: u64) -> Result<()> {
        let mut writer = self.dialect.write().await?;
        let mut tx = writer.begin().await?;
        let row = experiment_in::<D>(&mut tx, experiment_id).await?;
        expect_phase(row.phase, &[Phase::Draft], "fund")?;
        if row.funded {
            return Err(StoreError::Conflict("the experiment is already funded".into()));
        }
        if row.market.is_none() {
            transfer::<D>(
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
        D::execute(
            &mut tx,
            "UPDATE experiments SET funded = TRUE WHERE experiment_id = $1",
            args![hex(experiment_id.as_slice())],
        )
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
        let mut writer = self.dialect.write().await?;
        let mut tx = writer.begin().await?;
        let row = experiment_in::<D>(&mut tx, experiment_id).await?;
        expect_phase(row.phase, &[Phase::Draft], "open")?;
        if !row.funded {
            return Err(StoreError::Conflict("cannot open: the reward pool is not funded".into()));
        }
        if row.task_count == 0 {
            return Err(StoreError::Conflict("cannot open: no tasks are imported".into()));
        }
        D::execute(
            &mut tx,
            "UPDATE experiments SET phase = 'open', spec = $1, seed = $2, tasks_hash = $3, \
             opened_at = $4 WHERE experiment_id = $5",
            args![
                spec.to_json(),
                hex(seed.as_slice()),
                hex(tasks_hash.as_slice()),
                sql_int(now)?,
                hex(experiment_id.as_slice()),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn cancel(&self, experiment_id: B256, now: u64) -> Result<()> {
        let mut writer = self.dialect.write().await?;
        let mut tx = writer.begin().await?;
        let row = experiment_in::<D>(&mut tx, experiment_id).await?;
        expect_phase(row.phase, &[Phase::Draft], "cancel")?;
        if row.funded && row.market.is_none() {
            transfer::<D>(
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
        D::execute(
            &mut tx,
            "UPDATE experiments SET phase = 'cancelled' WHERE experiment_id = $1",
            args![hex(experiment_id.as_slice())],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_phase(&self, experiment_id: B256, from: Phase, to: Phase) -> Result<bool> {
        // A compare-and-set: of two processes moving the same phase, the second finds it
        // moved (the UPDATE's row lock orders them) and changes nothing.
        let done = D::execute(
            &mut *self.dialect.write().await?,
            "UPDATE experiments SET phase = $1 WHERE experiment_id = $2 AND phase = $3",
            args![phase_name(to), hex(experiment_id.as_slice()), phase_name(from)],
        )
        .await?;
        Ok(done == 1)
    }

    async fn log_after(&self, experiment_id: B256, seen: LogPosition) -> Result<ExperimentLog> {
        // One snapshot, so the three lists agree with each other.
        let mut tx = self.snapshot().await?;
        let log = log_after_in::<D>(&mut tx, experiment_id, seen, None).await?;
        tx.commit().await?;
        Ok(log)
    }

    async fn commit_backup(&self, experiment_id: B256, batch_id: u64) -> Result<Option<String>> {
        let row = D::fetch_optional(
            &mut *self.read().await?,
            "SELECT backup FROM commits WHERE experiment_id = $1 AND batch_id = $2",
            args![hex(experiment_id.as_slice()), sql_int(batch_id)?],
        )
        .await?;
        Ok(match row {
            Some(row) => row.opt_text("backup")?,
            None => None,
        })
    }

    async fn import_practice(&self, experiment_id: B256, tasks: &[PracticeTask]) -> Result<()> {
        let import = Import {
            table: "practice_tasks",
            what: "practice tasks",
            imported: |row| row.practice_count,
            created_at: None,
            count_update: "UPDATE experiments SET practice_count = $1 WHERE experiment_id = $2",
            counts: args![tasks.len() as i64],
        };
        self.import(experiment_id, tasks, import).await
    }

    async fn practice_tasks(&self, experiment_id: B256) -> Result<Vec<PracticeTask>> {
        self.imported("practice_tasks", experiment_id, "practice task").await
    }

    async fn practice_answers(
        &self,
        experiment_id: B256,
        labeler: Option<Address>,
    ) -> Result<Vec<PracticeAnswer>> {
        let rows = D::fetch_all(
            &mut *self.read().await?,
            "SELECT answer FROM practice_answers WHERE experiment_id = $1 \
             AND ($2 IS NULL OR labeler = $2) ORDER BY labeler, position",
            args![hex(experiment_id.as_slice()), labeler.map(|a| hex(a.as_slice()))],
        )
        .await?;
        rows.iter().map(|row| from_json(&row.text("answer")?, "practice answer")).collect()
    }

    async fn add_practice_answer(
        &self,
        experiment_id: B256,
        position: u64,
        answer: &PracticeAnswer,
    ) -> Result<bool> {
        let inserted = D::execute(
            &mut *self.dialect.write().await?,
            "INSERT INTO practice_answers (experiment_id, labeler, position, answer, at) \
             VALUES ($1, $2, $3, $4, $5)",
            args![
                hex(experiment_id.as_slice()),
                hex(answer.labeler.as_slice()),
                sql_int(position)?,
                to_json(answer),
                sql_int(answer.at)?,
            ],
        )
        .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn sealed_reveals(&self, experiment_id: B256) -> Result<Vec<(u64, String)>> {
        let rows = D::fetch_all(
            &mut *self.read().await?,
            "SELECT c.batch_id, c.sealed_reveal FROM commits c WHERE c.experiment_id = $1 \
             AND c.sealed_reveal IS NOT NULL AND NOT EXISTS (SELECT 1 FROM reveals r \
             WHERE r.experiment_id = c.experiment_id AND r.batch_id = c.batch_id) \
             ORDER BY c.batch_id",
            args![hex(experiment_id.as_slice())],
        )
        .await?;
        rows.iter().map(sealed_reveal_row).collect()
    }

    async fn log_writer(&self, experiment_id: B256) -> Result<Box<dyn LogWriter>> {
        log_writer(self, experiment_id).await
    }

    async fn lease(&self, name: &str, holder: &str, now_ms: u64, ttl_ms: u64) -> Result<bool> {
        let taken = D::execute(
            &mut *self.dialect.write().await?,
            "INSERT INTO leases (lease_id, holder, expires_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (lease_id) DO UPDATE SET holder = excluded.holder, \
             expires_at_ms = excluded.expires_at_ms \
             WHERE leases.holder = excluded.holder OR leases.expires_at_ms <= $4",
            args![name, holder, sql_int(now_ms.saturating_add(ttl_ms))?, sql_int(now_ms)?],
        )
        .await?;
        Ok(taken == 1)
    }

    async fn reputations(&self, addresses: &[Address]) -> Result<BTreeMap<Address, Reputation>> {
        reputations_in::<D>(&mut *self.read().await?, addresses).await
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
        let mut writer = self.dialect.write().await?;
        let mut tx = writer.begin().await?;
        if let Some(lock) = D::SETTLEMENT_LOCK {
            // Taken first, before any other lock, so that it never closes a cycle with them.
            D::execute(&mut tx, lock, args![]).await?;
        }
        let row = experiment_in::<D>(&mut tx, experiment_id).await?;
        expect_phase(row.phase, &LIVE, "settle")?;
        expect_log(experiment_id, row.log, seen)?;
        let labelers: Vec<Address> = updated.keys().copied().collect();
        expect_reputations(read, &reputations_in::<D>(&mut tx, &labelers).await?)?;
        let inserted = D::execute(
            &mut tx,
            "INSERT INTO settlements (settlement_id, settlement, record, created_at) \
             VALUES ($1, $2, $3, $4)",
            args![&id, to_json(&record.settlement), record.to_json(), sql_int(now)?],
        )
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict("the experiment is already settled".into()));
            }
            other => other?,
        };
        if row.market.is_none() {
            for m in settlement_movements(experiment_id, row.creator, &record.settlement) {
                transfer::<D>(
                    &mut tx,
                    m.debit,
                    m.credit,
                    m.amount,
                    m.kind,
                    Some(experiment_id),
                    now,
                )
                .await?;
            }
            let left = ledger_balance::<D>(&mut tx, &LedgerAccount::Escrow(experiment_id)).await?;
            if left != 0 {
                return Err(corrupt(format!(
                    "settling experiment {experiment_id} would leave {left} in its escrow"
                )));
            }
        }
        // In address order (the map's), so two settlements touching the same labelers lock
        // their rows in the same order.
        for (address, reputation) in updated {
            D::execute(
                &mut tx,
                "INSERT INTO reputations (reputation_id, reputation, updated_at, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (reputation_id) DO UPDATE SET \
                 reputation = excluded.reputation, updated_at = excluded.updated_at",
                args![hex(address.as_slice()), to_json(reputation), sql_int(now)?, sql_int(now)?],
            )
            .await?;
        }
        D::execute(
            &mut tx,
            "UPDATE experiments SET phase = 'settled', settled_at = $1 WHERE experiment_id = $2",
            args![sql_int(now)?, &id],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn settlement(&self, experiment_id: B256) -> Result<Option<Settlement>> {
        let row = D::fetch_optional(
            &mut *self.read().await?,
            "SELECT settlement FROM settlements WHERE settlement_id = $1",
            args![hex(experiment_id.as_slice())],
        )
        .await?;
        let Some(row) = row else { return Ok(None) };
        let settlement: Settlement = from_json(&row.text("settlement")?, "settlement")?;
        // A stored settlement is checked whenever it is read, not only when it was written.
        settlement.check().map_err(|e| corrupt(format!("settlement: {e}")))?;
        Ok(Some(settlement))
    }

    async fn record(&self, experiment_id: B256) -> Result<Option<PublicRecord>> {
        let row = D::fetch_optional(
            &mut *self.read().await?,
            "SELECT record FROM settlements WHERE settlement_id = $1",
            args![hex(experiment_id.as_slice())],
        )
        .await?;
        let Some(row) = row else { return Ok(None) };
        let record = PublicRecord::from_json(&row.text("record")?)
            .map_err(|e| corrupt(format!("record: {e}")))?;
        record.settlement.check().map_err(|e| corrupt(format!("record settlement: {e}")))?;
        Ok(Some(record))
    }

    async fn journal(&self, after: u64, limit: u32) -> Result<Vec<Transfer>> {
        let rows = D::fetch_all(
            &mut *self.read().await?,
            "SELECT * FROM journal WHERE journal_id > $1 ORDER BY journal_id LIMIT $2",
            args![sql_int(after)?, i64::from(limit)],
        )
        .await?;
        rows.iter().map(transfer_row).collect()
    }

    async fn close(&self) {
        SqlStore::close(self).await;
    }

    async fn check_ledger(&self) -> Result<LedgerReport> {
        // One snapshot: writes landing in the middle of the check cannot look like an
        // imbalance.
        let mut tx = self.snapshot().await?;
        let mut check = LedgerCheck::default();
        loop {
            let rows = D::fetch_all(
                &mut tx,
                "SELECT * FROM journal WHERE journal_id >= $1 ORDER BY journal_id LIMIT $2",
                args![sql_int(check.next_journal_id())?, JOURNAL_PAGE_ENTRIES],
            )
            .await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                check.journal_entry(transfer_row(row));
            }
        }
        for row in &D::fetch_all(&mut tx, "SELECT * FROM ledger_accounts", args![]).await? {
            let name = row.text("ledger_account_id")?;
            check.account(&name, &row.text("debits")?, &row.text("credits")?)?;
        }
        check.accounts_done();
        for row in &D::fetch_all(&mut tx, "SELECT * FROM experiments", args![]).await? {
            check.experiment(&experiment_row(row)?);
        }
        let live_joins = D::fetch_all(
            &mut tx,
            "SELECT j.labeler AS labeler, j.experiment_id AS experiment_id, COUNT(*) AS n \
             FROM joins j JOIN experiments e ON e.experiment_id = j.experiment_id \
             WHERE e.phase IN ('open', 'revealing') GROUP BY j.labeler, j.experiment_id",
            args![],
        )
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
        let row = D::fetch_optional(
            &mut *self.read().await?,
            "SELECT * FROM chain_relays WHERE chain_relay_id = $1",
            args![hex(experiment_id.as_slice())],
        )
        .await?;
        row.as_ref().map(chain_relay_row).transpose()
    }

    async fn put_chain_relay(&self, relay: &ChainRelay) -> Result<()> {
        let id = hex(relay.experiment_id.as_slice());
        let mut writer = self.dialect.write().await?;
        let mut tx = writer.begin().await?;
        // The experiment's row lock orders this write after any other relayer's.
        let row = experiment_in::<D>(&mut tx, relay.experiment_id).await?;
        if row.market.is_none() {
            return Err(StoreError::Conflict(format!(
                "experiment {} is on the embedded ledger, not on chain",
                relay.experiment_id
            )));
        }
        let before = D::fetch_optional(
            &mut tx,
            "SELECT * FROM chain_relays WHERE chain_relay_id = $1",
            args![&id],
        )
        .await?;
        if let Some(before) = before {
            check_relay_progress(&chain_relay_row(&before)?, relay)?;
        }
        D::execute(
            &mut tx,
            "INSERT INTO chain_relays (chain_relay_id, from_block, joins_relayed, \
             commits_relayed, last_join_tx, last_commit_tx, settle_tx, settled_at, \
             distribute_tx, distributed_at, refund_tx, refunded_at, updated_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (chain_relay_id) DO UPDATE SET \
             joins_relayed = excluded.joins_relayed, commits_relayed = excluded.commits_relayed, \
             last_join_tx = excluded.last_join_tx, last_commit_tx = excluded.last_commit_tx, \
             settle_tx = excluded.settle_tx, settled_at = excluded.settled_at, \
             distribute_tx = excluded.distribute_tx, distributed_at = excluded.distributed_at, \
             refund_tx = excluded.refund_tx, refunded_at = excluded.refunded_at, \
             updated_at = excluded.updated_at",
            args![
                &id,
                sql_int(relay.from_block)?,
                sql_int(relay.joins_relayed)?,
                sql_int(relay.commits_relayed)?,
                opt_hex(relay.last_join_tx),
                opt_hex(relay.last_commit_tx),
                opt_hex(relay.settle_tx),
                opt_sql_int(relay.settled_at)?,
                opt_hex(relay.distribute_tx),
                opt_sql_int(relay.distributed_at)?,
                opt_hex(relay.refund_tx),
                opt_sql_int(relay.refunded_at)?,
                sql_int(relay.updated_at)?,
                sql_int(relay.updated_at)?,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
