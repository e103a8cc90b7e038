//! What the SQLite and PostgreSQL stores share: the encoding of values in columns, the mapping
//! of rows to the store's types, the guards on phases, the next journal entry, and the ledger
//! check's arithmetic. Only the SQL differs between the two; keeping the rest here means both
//! decode the same data the same way and judge a ledger by the same rules.

use crate::ledger::{self, LedgerAccount, LedgerReport, Transfer, TransferKind, hex};
use crate::{
    ChainRelay, Challenge, ExperimentRow, LogPosition, OnChain, Result, Session, StoreError,
};
use plumbline_core::lifecycle::Phase;
use plumbline_core::record::JoinEntry;
use plumbline_core::reputation::Reputation;
use plumbline_core::{Address, Amount, B256, U256};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};

/// The phases in which joins, commits and reveals are accepted and an experiment can settle.
pub(crate) const LIVE: [Phase; 2] = [Phase::Open, Phase::Revealing];

pub(crate) fn sql_int(value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| StoreError::Conflict(format!("{value} is out of range")))
}

pub(crate) fn from_sql_int(value: i64) -> Result<u64> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative value {value}")))
}

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

pub(crate) fn parse<T: std::str::FromStr>(text: &str, what: &str) -> Result<T> {
    text.parse().map_err(|_| corrupt(format!("{what} {text:?} does not parse")))
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("protocol values always serialize")
}

pub(crate) fn from_json<T: DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| corrupt(format!("{what}: {e}")))
}

pub(crate) fn u256(text: &str) -> Result<U256> {
    U256::from_str_radix(text, 10).map_err(|_| corrupt(format!("amount {text:?} does not parse")))
}

pub(crate) fn amount_of(value: U256, what: &str) -> Result<Amount> {
    Amount::try_from(value).map_err(|_| corrupt(format!("{what} {value} does not fit u128")))
}

pub(crate) fn phase_name(phase: Phase) -> String {
    phase.to_string()
}

pub(crate) fn parse_phase(text: &str) -> Result<Phase> {
    Ok(match text {
        "draft" => Phase::Draft,
        "open" => Phase::Open,
        "revealing" => Phase::Revealing,
        "settled" => Phase::Settled,
        "cancelled" => Phase::Cancelled,
        other => return Err(corrupt(format!("phase {other:?}"))),
    })
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|d| d.is_unique_violation())
}

pub(crate) fn expect_phase(phase: Phase, allowed: &[Phase], action: &str) -> Result<()> {
    if allowed.contains(&phase) {
        Ok(())
    } else {
        Err(StoreError::Conflict(format!("cannot {action}: the experiment is {phase}")))
    }
}

/// Refuses a join or commit once the creator closed commits: another process's copy of the
/// experiment may not know yet (the close adds nothing to the log).
pub(crate) fn expect_commits_open(commits_closed_at: Option<u64>, action: &str) -> Result<()> {
    match commits_closed_at {
        Some(at) => Err(StoreError::Conflict(format!(
            "cannot {action}: the creator closed commits at {at}"
        ))),
        None => Ok(()),
    }
}

/// Refuses an append decided from a copy of the log that another writer has since extended.
pub(crate) fn expect_log(experiment_id: B256, log: LogPosition, seen: LogPosition) -> Result<()> {
    if log == seen {
        Ok(())
    } else {
        Err(StoreError::Stale(format!(
            "experiment {experiment_id}'s log moved on to {log} since {seen}"
        )))
    }
}

/// Refuses a join whose batch is not the next one: batch ids are the join order, without gaps.
/// The join to a chain experiment is refused unless the labeler's free balance in the market
/// (`free`, read before the transaction) covers its stake and the stakes of its joins to open
/// chain experiments that are not locked on chain yet (`pending`, their stored entries, this
/// experiment's included): one balance cannot back joins to two experiments.
pub(crate) fn check_market_stake(
    labeler: Address,
    stake: Amount,
    free: U256,
    pending: &[String],
) -> Result<()> {
    let mut needed = U256::from(stake);
    for text in pending {
        let entry: JoinEntry = from_json(text, "join entry")?;
        needed += U256::from(entry.join.stake);
    }
    if free < needed {
        return Err(StoreError::InsufficientFunds {
            account: format!("market:{labeler} ({} joins not yet locked on chain)", pending.len()),
            available: Amount::try_from(free).unwrap_or(Amount::MAX),
            needed: Amount::try_from(needed).unwrap_or(Amount::MAX),
        });
    }
    Ok(())
}

pub(crate) fn expect_next_batch(log: LogPosition, batch_id: u64) -> Result<()> {
    match batch_id.cmp(&log.joins) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Less => {
            Err(StoreError::Conflict(format!("batch {batch_id} is already assigned")))
        }
        std::cmp::Ordering::Greater => Err(StoreError::Conflict(format!(
            "batch {batch_id} is not the next batch ({})",
            log.joins
        ))),
    }
}

/// Refuses a settlement computed from reputations (`read`) that another settlement has since
/// changed (`stored`, of the same labelers, read inside the settlement's transaction).
pub(crate) fn expect_reputations(
    read: &BTreeMap<Address, Reputation>,
    stored: &BTreeMap<Address, Reputation>,
) -> Result<()> {
    if read == stored {
        Ok(())
    } else {
        Err(StoreError::Stale("labelers' reputations changed since they were read".into()))
    }
}

/// The columns of a row as the store reads them, whatever the database: both schemas keep
/// hex, JSON and money as text and times as 64-bit integers, and differ only in how a flag is
/// stored.
pub(crate) trait Fields {
    fn text(&self, column: &str) -> Result<String>;
    fn opt_text(&self, column: &str) -> Result<Option<String>>;
    fn int(&self, column: &str) -> Result<i64>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>>;
    fn flag(&self, column: &str) -> Result<bool>;
}

impl Fields for sqlx::sqlite::SqliteRow {
    fn text(&self, column: &str) -> Result<String> {
        Ok(self.try_get(column)?)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        Ok(self.try_get(column)?)
    }
    fn int(&self, column: &str) -> Result<i64> {
        Ok(self.try_get(column)?)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        Ok(self.try_get(column)?)
    }
    // SQLite has no boolean type: a flag is an integer, 0 or 1.
    fn flag(&self, column: &str) -> Result<bool> {
        Ok(self.try_get::<i64, _>(column)? != 0)
    }
}

impl Fields for sqlx::postgres::PgRow {
    fn text(&self, column: &str) -> Result<String> {
        Ok(self.try_get(column)?)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        Ok(self.try_get(column)?)
    }
    fn int(&self, column: &str) -> Result<i64> {
        Ok(self.try_get(column)?)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        Ok(self.try_get(column)?)
    }
    fn flag(&self, column: &str) -> Result<bool> {
        Ok(self.try_get(column)?)
    }
}

/// A row of the sealed-reveals query: the batch and its sealed reveal.
pub(crate) fn sealed_reveal_row(row: &impl Fields) -> Result<(u64, String)> {
    Ok((from_sql_int(row.int("batch_id")?)?, row.text("sealed_reveal")?))
}

pub(crate) fn experiment_row(row: &impl Fields) -> Result<ExperimentRow> {
    Ok(ExperimentRow {
        experiment_id: parse(&row.text("experiment_id")?, "experiment id")?,
        creator: parse(&row.text("creator")?, "creator")?,
        spec: from_json(&row.text("spec")?, "spec")?,
        phase: parse_phase(&row.text("phase")?)?,
        funded: row.flag("funded")?,
        seed: row.opt_text("seed")?.map(|s| parse(&s, "seed")).transpose()?,
        tasks_hash: row.opt_text("tasks_hash")?.map(|s| parse(&s, "tasks hash")).transpose()?,
        opened_at: row.opt_int("opened_at")?.map(from_sql_int).transpose()?,
        settled_at: row.opt_int("settled_at")?.map(from_sql_int).transpose()?,
        task_count: from_sql_int(row.int("task_count")?)?,
        gold_count: from_sql_int(row.int("gold_count")?)?,
        practice_count: from_sql_int(row.int("practice_count")?)?,
        market: match (row.opt_int("chain_id")?, row.opt_text("market")?) {
            (Some(chain_id), Some(market)) => Some(OnChain {
                chain_id: from_sql_int(chain_id)?,
                market: parse(&market, "market")?,
            }),
            (None, None) => None,
            _ => return Err(corrupt("an experiment has a chain id or a market, not both")),
        },
        created_at: from_sql_int(row.int("created_at")?)?,
        log: LogPosition {
            joins: from_sql_int(row.int("log_joins")?)?,
            commits: from_sql_int(row.int("log_commits")?)?,
            reveals: from_sql_int(row.int("log_reveals")?)?,
        },
    })
}

pub(crate) fn chain_relay_row(row: &impl Fields) -> Result<ChainRelay> {
    let hash = |column: &str| -> Result<Option<B256>> {
        row.opt_text(column)?.map(|h| parse(&h, "transaction hash")).transpose()
    };
    let time = |column: &str| -> Result<Option<u64>> {
        row.opt_int(column)?.map(from_sql_int).transpose()
    };
    Ok(ChainRelay {
        experiment_id: parse(&row.text("chain_relay_id")?, "experiment id")?,
        from_block: from_sql_int(row.int("from_block")?)?,
        joins_relayed: from_sql_int(row.int("joins_relayed")?)?,
        commits_relayed: from_sql_int(row.int("commits_relayed")?)?,
        last_join_tx: hash("last_join_tx")?,
        last_commit_tx: hash("last_commit_tx")?,
        settle_tx: hash("settle_tx")?,
        settled_at: time("settled_at")?,
        distribute_tx: hash("distribute_tx")?,
        distributed_at: time("distributed_at")?,
        refund_tx: hash("refund_tx")?,
        refunded_at: time("refunded_at")?,
        updated_at: from_sql_int(row.int("updated_at")?)?,
    })
}

/// Refuses relayer state that would undo progress: a cursor moving back, a recorded
/// transaction forgotten, or replaced; but a settlement posted again (after a challenge voided
/// it) before anything was paid out.
pub(crate) fn check_relay_progress(before: &ChainRelay, after: &ChainRelay) -> Result<()> {
    if after.joins_relayed < before.joins_relayed || after.commits_relayed < before.commits_relayed
    {
        return Err(StoreError::Conflict(format!(
            "relay cursors cannot move back: joins {} -> {}, commits {} -> {}",
            before.joins_relayed,
            after.joins_relayed,
            before.commits_relayed,
            after.commits_relayed
        )));
    }
    for (what, was, is) in [
        ("settle", before.settle_tx, after.settle_tx),
        ("distribute", before.distribute_tx, after.distribute_tx),
        ("refund", before.refund_tx, after.refund_tx),
    ] {
        let reposted = what == "settle" && is.is_some() && after.distribute_tx.is_none();
        if let Some(was) = was
            && Some(was) != is
            && !reposted
        {
            return Err(StoreError::Conflict(format!(
                "the {what} transaction is already recorded as {was}"
            )));
        }
    }
    if after.from_block != before.from_block {
        return Err(StoreError::Conflict("the relay's first block cannot change".into()));
    }
    Ok(())
}

/// A transaction hash as stored.
pub(crate) fn opt_hex(value: Option<B256>) -> Option<String> {
    value.map(|v| hex(v.as_slice()))
}

/// An optional time as stored.
pub(crate) fn opt_sql_int(value: Option<u64>) -> Result<Option<i64>> {
    value.map(sql_int).transpose()
}

pub(crate) fn challenge_row(row: &impl Fields) -> Result<Challenge> {
    Ok(Challenge {
        nonce: row.text("challenge_id")?,
        address: parse(&row.text("address")?, "address")?,
        message: row.text("message")?,
        expires_at: from_sql_int(row.int("expires_at")?)?,
        created_at: from_sql_int(row.int("created_at")?)?,
    })
}

pub(crate) fn session_row(row: &impl Fields) -> Result<Session> {
    Ok(Session {
        token_hash: parse(&row.text("session_id")?, "session id")?,
        address: parse(&row.text("address")?, "address")?,
        expires_at: from_sql_int(row.int("expires_at")?)?,
        created_at: from_sql_int(row.int("created_at")?)?,
    })
}

pub(crate) fn transfer_row(row: &impl Fields) -> Result<Transfer> {
    let experiment_id = row.opt_text("experiment_id")?;
    Ok(Transfer {
        journal_id: from_sql_int(row.int("journal_id")?)?,
        debit: parse(&row.text("debit_account")?, "ledger account")?,
        credit: parse(&row.text("credit_account")?, "ledger account")?,
        amount: amount_of(u256(&row.text("amount")?)?, "amount")?,
        kind: parse(&row.text("kind")?, "transfer kind")?,
        experiment_id: experiment_id.map(|e| parse(&e, "experiment id")).transpose()?,
        created_at: from_sql_int(row.int("created_at")?)?,
        prev_hash: parse(&row.text("prev_hash")?, "journal hash")?,
        hash: parse(&row.text("hash")?, "journal hash")?,
    })
}

/// An account's balance from its stored debits and credits (below zero is corruption here:
/// only issuance goes there, and nobody asks for its balance).
pub(crate) fn balance_of(account: &LedgerAccount, debits: &str, credits: &str) -> Result<Amount> {
    let (debits, credits) = (u256(debits)?, u256(credits)?);
    let balance =
        credits.checked_sub(debits).ok_or_else(|| corrupt(format!("{account} is below zero")))?;
    amount_of(balance, "balance")
}

/// Refuses a transfer that would take `debit` (with these totals) below zero, unless it is
/// the one account allowed there.
pub(crate) fn check_cover(
    debit: &LedgerAccount,
    debits: U256,
    credits: U256,
    amount: Amount,
) -> Result<()> {
    if debit.may_be_negative() {
        return Ok(());
    }
    let available = credits.saturating_sub(debits);
    if available < U256::from(amount) {
        return Err(StoreError::InsufficientFunds {
            account: debit.to_string(),
            available: amount_of(available, "balance")?,
            needed: amount,
        });
    }
    Ok(())
}

/// The journal entry that follows `last` (the id and hash of the newest entry, if any).
// The arguments are the entry's fields, as in `ledger::entry_hash`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn next_entry(
    last: Option<(u64, B256)>,
    debit: LedgerAccount,
    credit: LedgerAccount,
    amount: Amount,
    kind: TransferKind,
    experiment_id: Option<B256>,
    now: u64,
) -> Transfer {
    let (journal_id, prev_hash) = match last {
        None => (1, B256::ZERO),
        Some((id, hash)) => (id + 1, hash),
    };
    let hash = ledger::entry_hash(
        prev_hash,
        journal_id,
        &debit,
        &credit,
        amount,
        kind,
        experiment_id,
        now,
    );
    Transfer {
        journal_id,
        debit,
        credit,
        amount,
        kind,
        experiment_id,
        created_at: now,
        prev_hash,
        hash,
    }
}

/// The ledger check's arithmetic, fed by a store in this order: the journal entries from the
/// first (see [`LedgerCheck::next_journal_id`]), the ledger accounts, the experiments, then
/// the count of joins per labeler and experiment in open or revealing experiments. The store
/// reads them all in one snapshot.
#[derive(Default)]
pub(crate) struct LedgerCheck {
    problems: Vec<String>,
    sums: HashMap<LedgerAccount, (U256, U256)>,
    prev_hash: B256,
    /// The journal id the next entry should have, minus one.
    last_id: u64,
    balances: HashMap<LedgerAccount, U256>,
    total_debits: U256,
    total_credits: U256,
    accounts: u64,
    stake_of: HashMap<B256, Amount>,
    locked_expected: HashMap<Address, U256>,
}

impl LedgerCheck {
    /// The journal id to read from next.
    pub(crate) fn next_journal_id(&self) -> u64 {
        self.last_id + 1
    }

    /// One journal entry, in order, or why its row did not decode.
    pub(crate) fn journal_entry(&mut self, entry: Result<Transfer>) {
        let expected_id = self.last_id + 1;
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                self.problems.push(format!("journal entry {expected_id}: {e}"));
                self.last_id = expected_id;
                return;
            }
        };
        if entry.journal_id != expected_id {
            self.problems.push(format!(
                "journal entry {} follows {}: entries are missing",
                entry.journal_id, self.last_id
            ));
        }
        if entry.prev_hash != self.prev_hash {
            self.problems.push(format!(
                "journal entry {}: previous hash does not match entry {}",
                entry.journal_id,
                entry.journal_id - 1
            ));
        }
        if !entry.hash_is_valid() {
            self.problems.push(format!(
                "journal entry {}: hash does not match its fields",
                entry.journal_id
            ));
        }
        let value = U256::from(entry.amount);
        self.sums.entry(entry.debit).or_default().0 += value;
        self.sums.entry(entry.credit).or_default().1 += value;
        self.prev_hash = entry.hash;
        self.last_id = entry.journal_id;
    }

    /// One ledger account as stored, after the whole journal.
    pub(crate) fn account(&mut self, name: &str, debits: &str, credits: &str) -> Result<()> {
        self.accounts += 1;
        let account: LedgerAccount = match name.parse() {
            Ok(account) => account,
            Err(e) => {
                self.problems.push(e);
                return Ok(());
            }
        };
        let (debits, credits) = (u256(debits)?, u256(credits)?);
        let (journal_debits, journal_credits) =
            self.sums.remove(&account).unwrap_or((U256::ZERO, U256::ZERO));
        if (debits, credits) != (journal_debits, journal_credits) {
            self.problems.push(format!(
                "{account}: stored debits {debits} and credits {credits}, the journal sums to \
                 {journal_debits} and {journal_credits}"
            ));
        }
        if credits < debits && !account.may_be_negative() {
            self.problems.push(format!("{account} is below zero"));
        }
        self.total_debits += debits;
        self.total_credits += credits;
        self.balances.insert(account, credits.saturating_sub(debits));
        Ok(())
    }

    /// After the last account: accounts the journal names but nobody stored, and conservation.
    pub(crate) fn accounts_done(&mut self) {
        for account in self.sums.keys() {
            self.problems.push(format!("{account} appears in the journal but has no account"));
        }
        if self.total_debits != self.total_credits {
            self.problems.push(format!(
                "money is not conserved: {} debited, {} credited",
                self.total_debits, self.total_credits
            ));
        }
    }

    /// One experiment: its escrow must hold what its state says. A chain experiment's pool and
    /// stakes are the market contract's, so the ledger holds none of them.
    pub(crate) fn experiment(&mut self, e: &ExperimentRow) {
        if e.market.is_some() {
            self.stake_of.insert(e.experiment_id, 0);
            let escrow = LedgerAccount::Escrow(e.experiment_id);
            let actual = self.balances.get(&escrow).copied().unwrap_or_default();
            if !actual.is_zero() {
                self.problems.push(format!(
                    "{escrow} holds {actual}; a chain experiment's escrow is on chain"
                ));
            }
            return;
        }
        self.stake_of.insert(e.experiment_id, e.spec.stake_per_batch);
        let holds = e.funded && matches!(e.phase, Phase::Draft | Phase::Open | Phase::Revealing);
        let expected = if holds { U256::from(e.spec.reward_pool) } else { U256::ZERO };
        let escrow = LedgerAccount::Escrow(e.experiment_id);
        let actual = self.balances.get(&escrow).copied().unwrap_or_default();
        if actual != expected {
            self.problems.push(format!(
                "{escrow} holds {actual}; a {} experiment{} should hold {expected}",
                e.phase,
                if e.funded { "" } else { " not funded" }
            ));
        }
    }

    /// `n` joins of `labeler` in an open or revealing experiment, after every experiment.
    pub(crate) fn live_joins(&mut self, labeler: Address, experiment: B256, n: u64) {
        let stake = self.stake_of.get(&experiment).copied().unwrap_or_default();
        *self.locked_expected.entry(labeler).or_default() += U256::from(stake) * U256::from(n);
    }

    /// Two-phase stakes: what is locked must be exactly the stakes of joins in experiments
    /// not yet settled. Then the report.
    pub(crate) fn finish(mut self) -> LedgerReport {
        for (account, balance) in &self.balances {
            if let LedgerAccount::Locked(address) = account {
                let expected = self.locked_expected.remove(address).unwrap_or_default();
                if *balance != expected {
                    self.problems.push(format!(
                        "{account} holds {balance}; its unsettled joins staked {expected}"
                    ));
                }
            }
        }
        for (address, expected) in self.locked_expected {
            if !expected.is_zero() {
                self.problems.push(format!(
                    "{} has no locked balance; its unsettled joins staked {expected}",
                    hex(address.as_slice())
                ));
            }
        }
        LedgerReport {
            balanced: self.problems.is_empty(),
            journal_entries: self.last_id,
            accounts: self.accounts,
            problems: self.problems,
        }
    }
}
