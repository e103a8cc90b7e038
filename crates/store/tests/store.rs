//! Store tests, each run against both implementations: a temporary SQLite file, and a fresh
//! PostgreSQL schema. They cover the ledger's conservation and hash chain, two-phase stakes
//! through a whole settled experiment, transactions that roll back on error, and (PostgreSQL
//! only) several stores writing to one database at once. Every append goes through a
//! [`Store::log_writer`], as the server's do (see [`Appends`]).
//!
//! PostgreSQL is found at `PLUMBLINE_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`); `crates/store/ci-postgres.sh` starts it and
//! creates the database. When it cannot be reached the PostgreSQL tests fail: a backend that
//! was not tested must not look like one that passed.

use plumbline_core::label::Label;
use plumbline_core::lifecycle::Phase;
use plumbline_core::practice::{self, PracticeAnswer};
use plumbline_core::record::{CommitEntry, JoinEntry, PublicRecord, RevealEntry};
use plumbline_core::reputation::Reputation;
use plumbline_core::settle::Tier;
use plumbline_core::synthetic::{self, Behavior, Params};
use plumbline_core::{Address, Amount, B256, U256};
use plumbline_store::{
    Balances, ChainRelay, Challenge, LedgerAccount, LogPosition, NewExperiment, OnChain, PgStore,
    Session, SqliteStore, Store, StoreError, StoredCommit, TransferKind,
};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

/// The appends the tests make, each through a [`plumbline_store::LogWriter`] taken for it
/// from [`Store::log_writer`], the only way the server appends: on PostgreSQL the writer holds
/// the experiment's row lock, so racing appends run one at a time, and a loser whose copy
/// is now behind is refused as stale. `seen` is passed through unchanged, so a test can still
/// append from a position it knows to be stale.
trait Appends: Store {
    /// [`plumbline_store::LogWriter::append_join`] on a writer taken for `id`.
    async fn append_join(
        &self,
        id: B256,
        entry: &JoinEntry,
        stake: Amount,
        market_free: Option<U256>,
        seen: LogPosition,
    ) -> Result<(), StoreError> {
        self.log_writer(id).await?.append_join(entry, stake, market_free, seen).await
    }

    /// [`plumbline_store::LogWriter::append_group`] on a writer taken for `id`.
    async fn append_group(
        &self,
        id: B256,
        commits: &[StoredCommit],
        reveals: &[RevealEntry],
        seen: LogPosition,
    ) -> Result<(), StoreError> {
        self.log_writer(id).await?.append_group(commits, reveals, seen).await
    }

    /// A group of one commit, with its optional backup and no sealed reveal.
    async fn append_commit(
        &self,
        id: B256,
        entry: &CommitEntry,
        backup: Option<&str>,
        seen: LogPosition,
    ) -> Result<(), StoreError> {
        let commit = StoredCommit {
            entry: entry.clone(),
            backup: backup.map(str::to_owned),
            sealed_reveal: None,
        };
        self.append_group(id, &[commit], &[], seen).await
    }

    /// A group of one reveal.
    async fn append_reveal(
        &self,
        id: B256,
        entry: &RevealEntry,
        seen: LogPosition,
    ) -> Result<(), StoreError> {
        self.append_group(id, &[], std::slice::from_ref(entry), seen).await
    }
}

impl<S: Store + ?Sized> Appends for S {}

/// A fresh database for one test, and how to open stores on it.
trait Backend: Sized {
    type Store: Store;
    /// A new, empty database.
    async fn fresh() -> Self;
    /// A store on it (several may be open at once).
    async fn open(&self) -> Self::Store;
    /// Raw SQL behind the store's back, for tampering.
    async fn raw(store: &Self::Store, sql: &str) -> u64;
}

fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{prefix}_{}_{}_{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A fresh database file in the system's temporary directory, removed when dropped.
struct TempDb(PathBuf);

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

impl Backend for TempDb {
    type Store = SqliteStore;

    async fn fresh() -> TempDb {
        let path = std::env::temp_dir().join(format!("{}.db", unique_name("plumbline-store-test")));
        let _ = std::fs::remove_file(&path);
        TempDb(path)
    }

    async fn open(&self) -> SqliteStore {
        SqliteStore::open(&self.0).await.unwrap()
    }

    async fn raw(store: &SqliteStore, sql: &str) -> u64 {
        store.execute_raw(sql).await.unwrap()
    }
}

/// A fresh schema in the test database, dropped with everything in it when dropped.
struct TempSchema {
    url: String,
    schema: String,
}

fn postgres_url() -> String {
    std::env::var("PLUMBLINE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

async fn connect(url: &str) -> PgConnection {
    PgConnection::connect(url).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL at {url} is unreachable ({e}): run crates/store/ci-postgres.sh, or set \
             PLUMBLINE_TEST_POSTGRES to a database these tests may create schemas in"
        )
    })
}

impl Backend for TempSchema {
    type Store = PgStore;

    async fn fresh() -> TempSchema {
        let url = postgres_url();
        let schema = unique_name("plumbline_test");
        let mut conn = connect(&url).await;
        sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        TempSchema { url, schema }
    }

    async fn open(&self) -> PgStore {
        let options = PgConnectOptions::from_str(&self.url)
            .unwrap()
            .options([("search_path", self.schema.as_str())])
            .application_name(&self.schema);
        PgStore::open_with(options, plumbline_store::PG_CONNECTIONS_DEFAULT).await.unwrap()
    }

    async fn raw(store: &PgStore, sql: &str) -> u64 {
        store.execute_raw(sql).await.unwrap()
    }
}

impl Drop for TempSchema {
    fn drop(&mut self) {
        // Drop cannot await, and the test's runtime may be the one calling it: a thread with
        // a runtime of its own drops the schema.
        let (url, schema) = (self.url.clone(), self.schema.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&url).await?;
                // The test's own connections may still hold locks: a refused write's rollback
                // is sent when its connection goes back to the pool, a task the blocked test
                // runtime will not run again. Ending them releases the locks, so the drop
                // cannot wait forever.
                sqlx::query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE application_name = $1",
                )
                .bind(&schema)
                .execute(&mut conn)
                .await?;
                sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&mut conn).await?;
                conn.close().await
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test schema {}", self.schema);
        }
    }
}

/// Runs each named test, generic over [`Backend`], once on SQLite and once on PostgreSQL, as
/// `NAME::sqlite` and `NAME::postgres`.
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[tokio::test]
            async fn sqlite() {
                super::$test::<super::TempDb>().await;
            }

            #[tokio::test]
            async fn postgres() {
                super::$test::<super::TempSchema>().await;
            }
        }
    )*};
}

on_both_backends!(
    minting_is_journaled_and_conserved,
    practice_is_imported_once_and_each_place_answered_once,
    tampering_with_the_journal_or_balances_is_detected,
    a_settled_experiment_moves_stakes_in_two_phases_and_conserves_money,
    a_failed_write_rolls_back_everything,
    cancelling_a_funded_draft_refunds_the_pool,
    challenges_are_taken_once_and_sessions_expire,
    data_survives_reopening,
    a_group_of_commits_and_reveals_is_stored_whole_or_not_at_all,
    writes_decided_from_a_stale_copy_are_refused_and_the_tail_can_be_read,
    closing_commits_stores_the_close_and_refuses_later_joins_and_commits,
    a_lease_has_one_holder_until_it_expires,
    a_chain_experiment_logs_the_protocol_but_moves_no_ledger_money,
    the_relay_state_only_moves_forward,
    a_market_balance_backs_one_labelers_pending_joins_across_experiments,
);

const NOW: u64 = 1_999_990_000;

fn address(byte: u8) -> Address {
    Address::repeat_byte(byte)
}

/// A settled synthetic experiment: careful, random, adversarial and silent labelers.
fn settled_record() -> PublicRecord {
    let mut labelers = vec![Behavior::Accurate(950_000); 6];
    labelers.extend([Behavior::Random, Behavior::Accurate(50_000), Behavior::Silent]);
    let params = Params {
        spec: synthetic::binary_spec(40, 3, 10),
        regular_tasks: 120,
        gold_tasks: 20,
        positive_rate: 500_000,
        labelers,
        reputations: BTreeMap::new(),
    };
    synthetic::run(&params, 7).expect("the synthetic run settles").record
}

/// Stores the record's experiment up to (not including) settlement, as a server would.
async fn replay_into(store: &impl Store, record: &PublicRecord, creator: Address) {
    let id = record.experiment_id;
    store.mint(creator, record.spec.reward_pool, NOW).await.unwrap();
    for join in &record.joins {
        store.mint(join.join.labeler, record.spec.stake_per_batch, NOW).await.unwrap();
    }
    let experiment = NewExperiment {
        experiment_id: id,
        creator,
        spec: record.spec.clone(),
        market: None,
        created_at: NOW,
    };
    store.create_experiment(&experiment).await.unwrap();
    store.import_tasks(id, &record.tasks, NOW).await.unwrap();
    store.fund(id, NOW).await.unwrap();
    store.open(id, &record.spec, record.seed, record.tasks_hash, record.opened_at).await.unwrap();
    for join in &record.joins {
        store
            .append_join(id, join, record.spec.stake_per_batch, None, at(store, id).await)
            .await
            .unwrap();
    }
    for commit in &record.commits {
        store.append_commit(id, commit, Some("backup"), at(store, id).await).await.unwrap();
    }
    for reveal in &record.reveals {
        store.append_reveal(id, reveal, at(store, id).await).await.unwrap();
    }
}

/// Where the experiment's stored log is now.
async fn at(store: &impl Store, id: B256) -> LogPosition {
    store.experiment(id).await.unwrap().expect("the experiment exists").log
}

/// The stored reputations of a settlement's labelers: what a server reads before settling.
async fn reputations_of(
    store: &impl Store,
    record: &PublicRecord,
) -> BTreeMap<Address, Reputation> {
    let labelers: Vec<Address> = record.settlement.labelers.iter().map(|l| l.labeler).collect();
    store.reputations(&labelers).await.unwrap()
}

async fn assert_balanced(store: &impl Store) -> u64 {
    let report = store.check_ledger().await.unwrap();
    assert!(report.balanced, "ledger problems: {:#?}", report.problems);
    report.journal_entries
}

async fn minting_is_journaled_and_conserved<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open().await;
    assert_eq!(assert_balanced(&store).await, 0);
    let after = store.mint(address(1), 500, NOW).await.unwrap();
    assert_eq!(after, Balances { available: 500, locked: 0 });
    store.mint(address(1), 250, NOW + 1).await.unwrap();
    store.mint(address(2), u128::from(u64::MAX) * 1000, NOW + 2).await.unwrap();
    assert_eq!(store.balances(address(1)).await.unwrap().available, 750);
    assert_eq!(store.balances(address(3)).await.unwrap(), Balances::default());
    assert_eq!(assert_balanced(&store).await, 3);
    let journal = store.journal(0, 10).await.unwrap();
    assert_eq!(journal.len(), 3);
    assert!(journal.iter().all(|t| t.kind == TransferKind::Mint && t.hash_is_valid()));
    assert_eq!(journal[1].prev_hash, journal[0].hash, "entries chain");
    assert_eq!(journal[0].debit, LedgerAccount::Issuance);
}

async fn tampering_with_the_journal_or_balances_is_detected<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open().await;
    for i in 0..4u8 {
        store.mint(address(i + 1), 100, NOW).await.unwrap();
    }
    assert_balanced(&store).await;

    // An amount edited in place breaks that entry's hash and the balances it fed.
    B::raw(&store, "UPDATE journal SET amount = '1000' WHERE journal_id = 2").await;
    let report = store.check_ledger().await.unwrap();
    assert!(!report.balanced);
    assert!(
        report.problems.iter().any(|p| p.contains("entry 2: hash does not match")),
        "{:#?}",
        report.problems
    );
    B::raw(&store, "UPDATE journal SET amount = '100' WHERE journal_id = 2").await;
    assert_balanced(&store).await;

    // Re-hashing the edited entry does not help: the next entry still names the old hash.
    B::raw(&store, "UPDATE journal SET hash = prev_hash WHERE journal_id = 2").await;
    let problems = store.check_ledger().await.unwrap().problems;
    assert!(problems.iter().any(|p| p.contains("entry 3: previous hash")), "{problems:#?}");
    let db2 = B::fresh().await;
    let store = db2.open().await;
    for i in 0..4u8 {
        store.mint(address(i + 1), 100, NOW).await.unwrap();
    }

    // A deleted entry leaves a gap and balances the journal no longer explains.
    B::raw(&store, "DELETE FROM journal WHERE journal_id = 3").await;
    let problems = store.check_ledger().await.unwrap().problems;
    assert!(problems.iter().any(|p| p.contains("entries are missing")), "{problems:#?}");
    assert!(problems.iter().any(|p| p.contains("the journal sums")), "{problems:#?}");

    // A balance edited without a journal entry breaks conservation.
    let db3 = B::fresh().await;
    let store = db3.open().await;
    store.mint(address(1), 100, NOW).await.unwrap();
    let name = LedgerAccount::Available(address(1)).to_string();
    B::raw(
        &store,
        &format!(
            "UPDATE ledger_accounts SET credits = '1000000' WHERE ledger_account_id = '{name}'"
        ),
    )
    .await;
    let problems = store.check_ledger().await.unwrap().problems;
    assert!(problems.iter().any(|p| p.contains("not conserved")), "{problems:#?}");
    assert!(problems.iter().any(|p| p.contains("the journal sums")), "{problems:#?}");
}

async fn a_settled_experiment_moves_stakes_in_two_phases_and_conserves_money<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open().await;
    let record = settled_record();
    let settlement = &record.settlement;
    assert!(settlement.labelers.iter().any(|l| l.tier == Tier::Rewarded));
    assert!(settlement.labelers.iter().any(|l| l.non_reveal_penalty > 0));
    let creator = address(0xee);
    let id = record.experiment_id;
    replay_into(&store, &record, creator).await;
    let stake = record.spec.stake_per_batch;

    // Phase one: every stake is locked, the pool sits in escrow.
    for join in &record.joins {
        let b = store.balances(join.join.labeler).await.unwrap();
        assert_eq!(b, Balances { available: 0, locked: stake });
    }
    assert_eq!(store.balances(creator).await.unwrap().available, 0);
    assert_balanced(&store).await;
    let log = store.log(id).await.unwrap();
    assert_eq!(log.joins, record.joins);
    assert_eq!(log.reveals, record.reveals);
    assert_eq!(log.commits, record.commits);
    // Backups stay out of log reads; they are read one at a time.
    let first = log.commits[0].batch_id;
    assert_eq!(store.commit_backup(id, first).await.unwrap().as_deref(), Some("backup"));
    assert_eq!(store.commit_backup(id, u64::from(u32::MAX)).await.unwrap(), None);

    // Phase two: settlement returns, slashes and pays.
    let mut updated = BTreeMap::new();
    for l in &settlement.labelers {
        let mut r = Reputation::default();
        r.update(l);
        updated.insert(l.labeler, r);
    }
    assert_eq!(store.tasks(id).await.unwrap(), record.tasks);
    let read = reputations_of(&store, &record).await;
    store.settle(id, &record, at(&store, id).await, &read, &updated).await.unwrap();
    let entries = assert_balanced(&store).await;
    for l in &settlement.labelers {
        let b = store.balances(l.labeler).await.unwrap();
        assert_eq!(b, Balances { available: l.payout, locked: 0 }, "labeler {}", l.labeler);
    }
    let refund = store.balances(creator).await.unwrap().available;
    assert_eq!(refund, settlement.totals.refund);
    let row = store.experiment(id).await.unwrap().unwrap();
    assert_eq!(row.phase, Phase::Settled);
    assert_eq!(row.settled_at, Some(record.settled_at));
    assert_eq!(store.settlement(id).await.unwrap().as_ref(), Some(settlement));
    assert_eq!(store.record(id).await.unwrap().as_ref(), Some(&record));
    let labeler = settlement.labelers[0].labeler;
    assert_eq!(store.reputations(&[labeler]).await.unwrap()[&labeler], updated[&labeler]);

    // Settling again is refused and writes nothing.
    let again = store.settle(id, &record, at(&store, id).await, &read, &updated).await.unwrap_err();
    assert!(matches!(again, StoreError::Conflict(_)), "{again}");
    assert_eq!(assert_balanced(&store).await, entries);
}

async fn a_failed_write_rolls_back_everything<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open().await;
    let record = settled_record();
    let id = record.experiment_id;
    let creator = address(0xee);
    let spec = &record.spec;

    // Funding without the money changes nothing.
    let experiment = NewExperiment {
        experiment_id: id,
        creator,
        spec: spec.clone(),
        market: None,
        created_at: NOW,
    };
    store.create_experiment(&experiment).await.unwrap();
    store.import_tasks(id, &record.tasks, NOW).await.unwrap();
    let err = store.fund(id, NOW).await.unwrap_err();
    assert!(
        matches!(err, StoreError::InsufficientFunds { needed, .. } if needed == spec.reward_pool)
    );
    assert!(!store.experiment(id).await.unwrap().unwrap().funded);
    assert!(matches!(
        store.open(id, &record.spec, B256::ZERO, B256::ZERO, NOW).await,
        Err(StoreError::Conflict(_))
    ));
    store.mint(creator, spec.reward_pool, NOW).await.unwrap();
    store.fund(id, NOW).await.unwrap();
    assert!(matches!(store.fund(id, NOW).await, Err(StoreError::Conflict(_))));
    let second_import = store.import_tasks(id, &record.tasks, NOW).await.unwrap_err();
    assert!(second_import.to_string().contains("already imported"), "{second_import}");
    store.open(id, &record.spec, record.seed, record.tasks_hash, record.opened_at).await.unwrap();

    // A join whose stake cannot be locked leaves neither the join nor a transfer behind: the
    // join row is written first in the transaction, so this shows the rollback.
    let entries = assert_balanced(&store).await;
    let first = &record.joins[0];
    let err = store.append_join(id, first, spec.stake_per_batch, None, at(&store, id).await).await;
    let err = err.unwrap_err();
    assert!(matches!(err, StoreError::InsufficientFunds { .. }), "{err}");
    assert!(store.log(id).await.unwrap().joins.is_empty());
    assert_eq!(assert_balanced(&store).await, entries);

    // With the money it goes through, once.
    store.mint(first.join.labeler, spec.stake_per_batch * 2, NOW).await.unwrap();
    store.append_join(id, first, spec.stake_per_batch, None, at(&store, id).await).await.unwrap();
    let err = store.append_join(id, first, spec.stake_per_batch, None, at(&store, id).await).await;
    let err = err.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    let b = store.balances(first.join.labeler).await.unwrap();
    assert_eq!(b, Balances { available: spec.stake_per_batch, locked: spec.stake_per_batch });
    assert_balanced(&store).await;

    // A commit for a batch never assigned violates the log's foreign key and is refused.
    let mut stray = record.commits[0].clone();
    stray.batch_id = 99;
    assert!(store.append_commit(id, &stray, None, at(&store, id).await).await.is_err());
    assert!(store.log(id).await.unwrap().commits.is_empty());
}

async fn cancelling_a_funded_draft_refunds_the_pool<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open().await;
    let spec = synthetic::binary_spec(4, 2, 1);
    let id = B256::repeat_byte(9);
    let creator = address(5);
    store.mint(creator, spec.reward_pool + 7, NOW).await.unwrap();
    let experiment =
        NewExperiment { experiment_id: id, creator, spec, market: None, created_at: NOW };
    store.create_experiment(&experiment).await.unwrap();
    assert!(matches!(store.create_experiment(&experiment).await, Err(StoreError::Conflict(_))));
    store.fund(id, NOW).await.unwrap();
    assert_eq!(store.balances(creator).await.unwrap().available, 7);
    store.cancel(id, NOW).await.unwrap();
    assert_eq!(store.balances(creator).await.unwrap().available, experiment.spec.reward_pool + 7);
    assert!(matches!(store.cancel(id, NOW).await, Err(StoreError::Conflict(_))));
    assert_balanced(&store).await;
    let listed = store.experiments().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].phase, Phase::Cancelled);
    let cancelled = store.experiments_in(&[Phase::Open, Phase::Cancelled]).await.unwrap();
    assert_eq!(cancelled, listed);
    assert!(store.experiments_in(&[Phase::Open, Phase::Revealing]).await.unwrap().is_empty());
    assert!(!store.set_phase(id, Phase::Open, Phase::Revealing).await.unwrap(), "not open");
    assert!(store.set_phase(id, Phase::Cancelled, Phase::Cancelled).await.unwrap());
}

async fn practice_is_imported_once_and_each_place_answered_once<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open().await;
    let spec = synthetic::binary_spec(4, 2, 1);
    let id = B256::repeat_byte(9);
    let experiment = NewExperiment {
        experiment_id: id,
        creator: address(5),
        spec,
        market: None,
        created_at: NOW,
    };
    store.create_experiment(&experiment).await.unwrap();
    let text = "{\"id\":\"a\",\"gold\":1,\"explanation\":\"why\"}\n{\"id\":\"b\",\"gold\":0}";
    let pool = practice::parse_jsonl(text, &experiment.spec.question.kind).unwrap();
    store.import_practice(id, &pool).await.unwrap();
    assert!(matches!(store.import_practice(id, &pool).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.practice_tasks(id).await.unwrap(), pool);
    assert_eq!(store.experiment(id).await.unwrap().unwrap().practice_count, 2);

    let answer = |labeler: u8, task: &str, at: u64| PracticeAnswer {
        labeler: address(labeler),
        task: task.into(),
        label: Label::Int(1),
        at,
    };
    assert!(store.add_practice_answer(id, 0, &answer(2, "b", NOW)).await.unwrap());
    assert!(!store.add_practice_answer(id, 0, &answer(2, "a", NOW)).await.unwrap(), "place taken");
    assert!(store.add_practice_answer(id, 1, &answer(2, "a", NOW + 1)).await.unwrap());
    assert!(store.add_practice_answer(id, 0, &answer(1, "a", NOW)).await.unwrap());
    let mine = store.practice_answers(id, Some(address(2))).await.unwrap();
    assert_eq!(mine, vec![answer(2, "b", NOW), answer(2, "a", NOW + 1)]);
    assert_eq!(store.practice_answers(id, None).await.unwrap().len(), 3);

    // Only a draft takes a pool.
    store.cancel(id, NOW).await.unwrap();
    let other = NewExperiment { experiment_id: B256::repeat_byte(8), ..experiment };
    store.create_experiment(&other).await.unwrap();
    store.cancel(other.experiment_id, NOW).await.unwrap();
    assert!(matches!(
        store.import_practice(other.experiment_id, &pool).await,
        Err(StoreError::Conflict(_))
    ));
}

async fn challenges_are_taken_once_and_sessions_expire<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open().await;
    let challenge = Challenge {
        nonce: "n1".into(),
        address: address(1),
        message: "sign me".into(),
        expires_at: NOW + 60,
        created_at: NOW,
    };
    store.put_challenge(&challenge).await.unwrap();
    assert_eq!(store.take_challenge("n1", NOW + 1).await.unwrap(), Some(challenge.clone()));
    assert_eq!(store.take_challenge("n1", NOW + 1).await.unwrap(), None, "taken once");
    store.put_challenge(&Challenge { nonce: "n2".into(), ..challenge.clone() }).await.unwrap();
    assert_eq!(store.take_challenge("n2", NOW + 60).await.unwrap(), None, "expired");

    let session = Session {
        token_hash: B256::repeat_byte(3),
        address: address(1),
        expires_at: NOW + 100,
        created_at: NOW,
    };
    store.put_session(&session).await.unwrap();
    assert_eq!(store.session(session.token_hash, NOW + 99).await.unwrap(), Some(session.clone()));
    assert_eq!(store.session(session.token_hash, NOW + 100).await.unwrap(), None);
    assert_eq!(store.session(B256::repeat_byte(4), NOW).await.unwrap(), None);
    assert!(store.end_session(session.token_hash).await.unwrap(), "signed out");
    assert_eq!(store.session(session.token_hash, NOW + 1).await.unwrap(), None);
    assert!(!store.end_session(session.token_hash).await.unwrap(), "once");
}

async fn data_survives_reopening<B: Backend>() {
    let db = B::fresh().await;
    {
        let store = db.open().await;
        store.mint(address(1), 42, NOW).await.unwrap();
        store.close().await;
    }
    let store = db.open().await;
    assert_eq!(store.balances(address(1)).await.unwrap().available, 42);
    assert_eq!(assert_balanced(&store).await, 1);
}

async fn a_group_of_commits_and_reveals_is_stored_whole_or_not_at_all<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open().await;
    let record = settled_record();
    let id = record.experiment_id;
    let spec = &record.spec;
    let unknown = B256::repeat_byte(7);
    let stored = |c: &CommitEntry| StoredCommit {
        entry: c.clone(),
        backup: Some(format!("backup of {}", c.batch_id)),
        sealed_reveal: Some(format!("sealed {}", c.batch_id)),
    };
    let commits: Vec<StoredCommit> = record.commits.iter().map(stored).collect();

    // Not open yet: refused, nothing stored.
    let creator = address(0xee);
    store.mint(creator, spec.reward_pool, NOW).await.unwrap();
    let experiment = NewExperiment {
        experiment_id: id,
        creator,
        spec: spec.clone(),
        market: None,
        created_at: NOW,
    };
    store.create_experiment(&experiment).await.unwrap();
    let early = store.append_group(id, &commits[..1], &[], at(&store, id).await).await;
    let early = early.unwrap_err();
    assert!(matches!(early, StoreError::Conflict(_)), "{early}");
    let missing = store.append_group(unknown, &commits[..1], &[], LogPosition::default()).await;
    let missing = missing.unwrap_err();
    assert!(matches!(missing, StoreError::NotFound(_)), "{missing}");
    store.import_tasks(id, &record.tasks, NOW).await.unwrap();
    store.fund(id, NOW).await.unwrap();
    store.open(id, &record.spec, record.seed, record.tasks_hash, record.opened_at).await.unwrap();
    for join in &record.joins {
        store.mint(join.join.labeler, spec.stake_per_batch, NOW).await.unwrap();
        store
            .append_join(id, join, spec.stake_per_batch, None, at(&store, id).await)
            .await
            .unwrap();
    }
    let seen = at(&store, id).await;

    // A batch twice in one group: the whole group is refused, commits and reveals alike.
    let mut twice = commits[..3].to_vec();
    twice.push(commits[0].clone());
    let refused = store.append_group(id, &twice, &[], seen).await.unwrap_err();
    assert!(matches!(refused, StoreError::Conflict(_)), "{refused}");
    let mut reveals = record.reveals.clone();
    reveals.push(reveals[0].clone());
    let refused = store.append_group(id, &commits, &reveals, seen).await.unwrap_err();
    assert!(matches!(refused, StoreError::Conflict(_)), "{refused}");
    let log = store.log(id).await.unwrap();
    assert_eq!((log.joins.len(), log.commits.len(), log.reveals.len()), (record.joins.len(), 0, 0));

    // Every commit and all reveals but the last in one group, in order; the sealed reveals
    // left are those of the batches not revealed.
    let (revealed, last) = record.reveals.split_at(record.reveals.len() - 1);
    store.append_group(id, &commits, revealed, seen).await.unwrap();
    let unrevealed: Vec<(u64, String)> = commits
        .iter()
        .filter(|c| revealed.iter().all(|r| r.batch_id != c.entry.batch_id))
        .map(|c| (c.entry.batch_id, c.sealed_reveal.clone().unwrap()))
        .collect();
    assert!(unrevealed.iter().any(|(batch, _)| *batch == last[0].batch_id));
    assert_eq!(store.sealed_reveals(id).await.unwrap(), unrevealed);
    store.append_group(id, &[], last, at(&store, id).await).await.unwrap();
    assert!(store.sealed_reveals(id).await.unwrap().len() < unrevealed.len());
    // The log is the record's.
    let log = store.log(id).await.unwrap();
    assert_eq!(log.joins, record.joins);
    assert_eq!(log.commits, record.commits);
    assert_eq!(log.reveals, record.reveals);
    for commit in &commits {
        let backup = store.commit_backup(id, commit.entry.batch_id).await.unwrap();
        assert_eq!(backup, commit.backup);
    }
    let again = store.append_group(id, &[], &record.reveals[..1], at(&store, id).await).await;
    let again = again.unwrap_err();
    assert!(matches!(again, StoreError::Conflict(_)), "{again}");
    assert_eq!(store.log(id).await.unwrap(), log);
    assert_balanced(&store).await;
}

async fn writes_decided_from_a_stale_copy_are_refused_and_the_tail_can_be_read<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open().await;
    let record = settled_record();
    let id = record.experiment_id;
    let creator = address(0xee);
    replay_into(&store, &record, creator).await;
    let (joins, commits, reveals) =
        (record.joins.len() as u64, record.commits.len() as u64, record.reveals.len() as u64);
    let end = LogPosition { joins, commits, reveals };
    assert_eq!(at(&store, id).await, end);

    // The tail beyond a position is exactly the entries after it, each kind in its order.
    let seen = LogPosition { joins: joins - 1, commits: commits - 2, reveals: 0 };
    let tail = store.log_after(id, seen).await.unwrap();
    assert_eq!(tail.joins, record.joins[record.joins.len() - 1..]);
    assert_eq!(tail.commits, record.commits[record.commits.len() - 2..]);
    assert_eq!(tail.reveals, record.reveals);
    assert_eq!(tail.end(seen), end);
    assert_eq!(store.log_after(id, end).await.unwrap(), Default::default());
    // A writer, which knows where the log ends, reads the same tail.
    let mut writer = store.log_writer(id).await.unwrap();
    assert_eq!(writer.log_after(seen).await.unwrap(), tail);
    let commits_only = LogPosition { commits: commits - 2, ..end };
    let tail = writer.log_after(commits_only).await.unwrap();
    assert_eq!((tail.joins.len(), tail.reveals.len()), (0, 0));
    assert_eq!(tail.commits, record.commits[record.commits.len() - 2..]);
    writer.release().await;

    // A write from a copy that missed some entries is refused as stale and stores nothing,
    // whether or not it would otherwise have been accepted.
    let entries = assert_balanced(&store).await;
    let reveal = &record.reveals[0];
    let stale = store.append_reveal(id, reveal, seen).await.unwrap_err();
    assert!(matches!(stale, StoreError::Stale(_)), "{stale}");
    let mut next = record.joins[0].clone();
    next.batch_id = joins;
    let stale =
        store.append_join(id, &next, record.spec.stake_per_batch, None, seen).await.unwrap_err();
    assert!(matches!(stale, StoreError::Stale(_)), "{stale}");
    // From the current position, a join must take the next batch.
    next.batch_id = joins + 1;
    let gap =
        store.append_join(id, &next, record.spec.stake_per_batch, None, end).await.unwrap_err();
    assert!(matches!(gap, StoreError::Conflict(_)), "{gap}");
    assert_eq!(at(&store, id).await, end);
    assert_eq!(assert_balanced(&store).await, entries);

    // A settlement computed from reputations that have changed since is refused as stale.
    let labeler = record.settlement.labelers[0].labeler;
    let mut updated = BTreeMap::new();
    for l in &record.settlement.labelers {
        let mut r = Reputation::default();
        r.update(l);
        updated.insert(l.labeler, r);
    }
    let mut read = reputations_of(&store, &record).await;
    assert!(read.is_empty(), "no reputation is stored before the first settlement");
    read.insert(labeler, updated[&labeler]);
    let stale = store.settle(id, &record, at(&store, id).await, &read, &updated).await.unwrap_err();
    assert!(matches!(stale, StoreError::Stale(_)), "{stale}");
    assert_eq!(store.experiment(id).await.unwrap().unwrap().phase, Phase::Open, "not settled");
    assert_eq!(assert_balanced(&store).await, entries);
    // So is one computed from a log that has grown since.
    let behind = LogPosition { reveals: reveals - 1, ..end };
    let stale = store.settle(id, &record, behind, &BTreeMap::new(), &updated).await.unwrap_err();
    assert!(matches!(stale, StoreError::Stale(_)), "{stale}");
    assert_eq!(assert_balanced(&store).await, entries);
    store.settle(id, &record, end, &BTreeMap::new(), &updated).await.unwrap();
}

async fn closing_commits_stores_the_close_and_refuses_later_joins_and_commits<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open().await;
    let mut record = settled_record();
    let id = record.experiment_id;
    let held_back = record.commits.pop().expect("a commit");
    record.reveals.clear();
    replay_into(&store, &record, address(0xee)).await;
    let end = at(&store, id).await;
    let mut closed = record.spec.clone();
    closed.commits_closed_at = Some(record.opened_at + 10);

    // From a copy that missed an entry: refused, nothing changes.
    let behind = LogPosition { commits: end.commits - 1, ..end };
    let stale = store.log_writer(id).await.unwrap().close_commits(&closed, behind).await;
    assert!(matches!(stale, Err(StoreError::Stale(_))), "{stale:?}");
    let row = store.experiment(id).await.unwrap().unwrap();
    assert_eq!((row.phase, row.spec.commits_closed_at), (Phase::Open, None));

    store.log_writer(id).await.unwrap().close_commits(&closed, end).await.unwrap();
    let row = store.experiment(id).await.unwrap().unwrap();
    assert_eq!(row.phase, Phase::Revealing);
    assert_eq!(row.spec, closed);
    // Another process's copy that does not know of the close cannot join or commit.
    let mut next = record.joins[0].clone();
    next.batch_id = end.joins;
    let refused =
        store.append_join(id, &next, record.spec.stake_per_batch, None, end).await.unwrap_err();
    assert!(refused.to_string().contains("closed commits"), "{refused}");
    let refused = store.append_commit(id, &held_back, None, end).await.unwrap_err();
    assert!(refused.to_string().contains("closed commits"), "{refused}");
    let again = store.log_writer(id).await.unwrap().close_commits(&closed, end).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(at(&store, id).await, end);
    assert_balanced(&store).await;
}

async fn a_lease_has_one_holder_until_it_expires<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open().await;
    assert!(store.lease("scheduler", "a", 1_000, 500).await.unwrap(), "a free lease is taken");
    assert!(!store.lease("scheduler", "b", 1_200, 500).await.unwrap(), "it is a's until 1,500");
    assert!(store.lease("other", "b", 1_200, 500).await.unwrap(), "leases are independent");
    assert!(store.lease("scheduler", "a", 1_400, 500).await.unwrap(), "a renews it to 1,900");
    assert!(!store.lease("scheduler", "b", 1_800, 500).await.unwrap(), "renewed, so still a's");
    assert!(store.lease("scheduler", "b", 1_900, 500).await.unwrap(), "expired: b takes it");
    assert!(!store.lease("scheduler", "a", 1_950, 500).await.unwrap(), "now it is b's");
}

/// Both of two concurrent attempts: how many succeeded, and the failures (which must be
/// conflicts: the loser of a race is told so, it does not break anything).
fn tally(results: Vec<Result<(), StoreError>>) -> usize {
    let mut won = 0;
    for result in results {
        match result {
            Ok(()) => won += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("a racing write failed with {e}, not a conflict"),
        }
    }
    won
}

/// Writes at the log's current position until the write is not refused as stale, as a server
/// does after catching up.
async fn until_fresh<F, Fut>(store: &impl Store, id: B256, mut write: F) -> Result<(), StoreError>
where
    F: FnMut(LogPosition) -> Fut,
    Fut: std::future::Future<Output = Result<(), StoreError>>,
{
    loop {
        match write(at(store, id).await).await {
            Err(StoreError::Stale(_)) => continue,
            other => return other,
        }
    }
}

/// Two stores on one PostgreSQL database, as two server processes would be, write at once:
/// every join, commit, reveal and the settlement is attempted through both, while mints
/// through both race them for the journal. The appends take each store's log writer, so they
/// queue for the experiment's row lock, one at a time: the loser of a race finds the log
/// moved past the position it read and is refused as stale, reads again and is refused as a
/// conflict, its batch being taken. Each batch is stored once, the settlement happens once, the
/// journal stays one unbroken chain and the ledger balances.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_postgres_stores_writing_at_once_keep_one_ledger() {
    use std::sync::Arc;
    let db = TempSchema::fresh().await;
    let stores = [Arc::new(db.open().await), Arc::new(db.open().await)];
    let record = settled_record();
    let id = record.experiment_id;
    let spec = record.spec.clone();
    let stake = spec.stake_per_batch;
    let creator = address(0xee);
    let first = &stores[0];
    first.mint(creator, spec.reward_pool, NOW).await.unwrap();
    let experiment = NewExperiment {
        experiment_id: id,
        creator,
        spec: spec.clone(),
        market: None,
        created_at: NOW,
    };
    first.create_experiment(&experiment).await.unwrap();
    first.import_tasks(id, &record.tasks, NOW).await.unwrap();
    first.fund(id, NOW).await.unwrap();
    stores[1]
        .open(id, &record.spec, record.seed, record.tasks_hash, record.opened_at)
        .await
        .unwrap();
    // Twice the stake each, so a lost race can only be the batch already taken, never money.
    for join in &record.joins {
        first.mint(join.join.labeler, stake * 2, NOW).await.unwrap();
    }

    let minters: Vec<Address> = (0..8u8).map(|i| address(0x70 + i)).collect();
    let mut mints = tokio::task::JoinSet::new();
    for (i, &to) in minters.iter().cycle().take(record.joins.len()).enumerate() {
        let store = stores[i % 2].clone();
        mints.spawn(async move { store.mint(to, 1, NOW).await.map(|_| ()) });
    }
    // Each store goes through the joins in order, as a server assigns batches, racing the
    // other for each one.
    let mut joins = tokio::task::JoinSet::new();
    for store in &stores {
        let (store, entries) = (store.clone(), record.joins.clone());
        joins.spawn(async move {
            let mut results = Vec::new();
            for join in entries {
                let write = |seen| {
                    let (store, join) = (store.clone(), join.clone());
                    async move { store.append_join(id, &join, stake, None, seen).await }
                };
                results.push(until_fresh(store.as_ref(), id, write).await);
            }
            results
        });
    }
    let results = joins.join_all().await.into_iter().flatten().collect();
    assert_eq!(tally(results), record.joins.len(), "each batch joined once");

    let mut groups = tokio::task::JoinSet::new();
    for commit in &record.commits {
        for store in &stores {
            let (store, commit) = (
                store.clone(),
                StoredCommit { entry: commit.clone(), backup: None, sealed_reveal: None },
            );
            groups.spawn(async move {
                let write = |seen| {
                    let (store, commit) = (store.clone(), commit.clone());
                    async move { store.append_group(id, &[commit], &[], seen).await }
                };
                until_fresh(store.as_ref(), id, write).await
            });
        }
    }
    assert_eq!(tally(groups.join_all().await), record.commits.len(), "each batch committed once");
    let mut groups = tokio::task::JoinSet::new();
    for reveal in &record.reveals {
        for store in &stores {
            let (store, reveal) = (store.clone(), reveal.clone());
            groups.spawn(async move {
                let write = |seen| {
                    let (store, reveal) = (store.clone(), reveal.clone());
                    async move { store.append_group(id, &[], &[reveal], seen).await }
                };
                until_fresh(store.as_ref(), id, write).await
            });
        }
    }
    assert_eq!(tally(groups.join_all().await), record.reveals.len(), "each batch revealed once");
    assert_eq!(tally(mints.join_all().await), record.joins.len(), "every mint went through");

    let log = stores[1].log(id).await.unwrap();
    assert_eq!(log.joins, record.joins);
    assert_eq!(log.commits.len(), record.commits.len());
    assert_eq!(log.reveals.len(), record.reveals.len());
    for store in &stores {
        assert_balanced(store.as_ref()).await;
    }

    let mut settles = tokio::task::JoinSet::new();
    for store in &stores {
        let (store, record) = (store.clone(), record.clone());
        let none = BTreeMap::new();
        settles.spawn(async move {
            let seen = at(store.as_ref(), id).await;
            store.settle(id, &record, seen, &none, &none).await
        });
    }
    assert_eq!(tally(settles.join_all().await), 1, "settled once");
    let entries = assert_balanced(stores[0].as_ref()).await;
    let journal = stores[1].journal(0, u32::MAX).await.unwrap();
    assert_eq!(journal.len() as u64, entries);
    for (i, pair) in journal.windows(2).enumerate() {
        assert_eq!(pair[1].journal_id, pair[0].journal_id + 1, "entry {i} has a successor");
        assert_eq!(pair[1].prev_hash, pair[0].hash, "the chain does not fork after entry {i}");
    }
    for l in &record.settlement.labelers {
        let b = stores[0].balances(l.labeler).await.unwrap();
        // What each labeler was minted beyond the one stake it locked is still available.
        assert_eq!(b, Balances { available: l.payout + stake, locked: 0 });
    }
}

/// The record's experiment stored with its money on chain: the log is kept exactly as for an
/// embedded experiment, but no join, settlement or funding moves ledger money.
async fn replay_on_chain(store: &impl Store, record: &PublicRecord, creator: Address) -> OnChain {
    let id = record.experiment_id;
    let market = OnChain { chain_id: 31337, market: address(0x5a) };
    let experiment = NewExperiment {
        experiment_id: id,
        creator,
        spec: record.spec.clone(),
        market: Some(market),
        created_at: NOW,
    };
    store.create_experiment(&experiment).await.unwrap();
    store.import_tasks(id, &record.tasks, NOW).await.unwrap();
    // Nobody holds a ledger balance: the pool and stakes are the contract's.
    store.fund(id, NOW).await.unwrap();
    store.open(id, &record.spec, record.seed, record.tasks_hash, record.opened_at).await.unwrap();
    for join in &record.joins {
        store
            .append_join(id, join, record.spec.stake_per_batch, None, at(store, id).await)
            .await
            .unwrap();
    }
    for commit in &record.commits {
        store.append_commit(id, commit, None, at(store, id).await).await.unwrap();
    }
    for reveal in &record.reveals {
        store.append_reveal(id, reveal, at(store, id).await).await.unwrap();
    }
    market
}

async fn a_chain_experiment_logs_the_protocol_but_moves_no_ledger_money<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open().await;
    let record = settled_record();
    let id = record.experiment_id;
    let creator = address(0xee);
    // An embedded-ledger balance elsewhere must come through untouched.
    store.mint(address(0x77), 1_000, NOW).await.unwrap();
    let market = replay_on_chain(&store, &record, creator).await;
    let row = store.experiment(id).await.unwrap().unwrap();
    assert_eq!(row.market, Some(market));
    assert!(row.funded);
    assert_eq!(store.log(id).await.unwrap().joins, record.joins);
    for join in &record.joins {
        assert_eq!(store.balances(join.join.labeler).await.unwrap(), Balances::default());
    }
    assert_eq!(assert_balanced(&store).await, 1);

    let updated: BTreeMap<Address, Reputation> = record
        .settlement
        .labelers
        .iter()
        .map(|l| {
            let mut r = Reputation::default();
            r.update(l);
            (l.labeler, r)
        })
        .collect();
    let read = reputations_of(&store, &record).await;
    store.settle(id, &record, at(&store, id).await, &read, &updated).await.unwrap();
    assert_eq!(store.experiment(id).await.unwrap().unwrap().phase, Phase::Settled);
    assert_eq!(store.record(id).await.unwrap().as_ref(), Some(&record));
    let labeler = record.settlement.labelers[0].labeler;
    assert_eq!(store.reputations(&[labeler]).await.unwrap()[&labeler], updated[&labeler]);
    for l in &record.settlement.labelers {
        assert_eq!(store.balances(l.labeler).await.unwrap(), Balances::default());
    }
    assert_eq!(store.balances(creator).await.unwrap(), Balances::default());
    assert_eq!(assert_balanced(&store).await, 1, "settling on chain journals nothing");
    assert_eq!(store.balances(address(0x77)).await.unwrap().available, 1_000);

    // Money in a chain experiment's escrow account is a problem the check names.
    let escrow = LedgerAccount::Escrow(id);
    B::raw(
        &store,
        &format!(
            "INSERT INTO ledger_accounts (ledger_account_id, debits, credits, created_at) \
             VALUES ('{escrow}', '0', '5', 0)"
        ),
    )
    .await;
    let problems = store.check_ledger().await.unwrap().problems;
    assert!(problems.iter().any(|p| p.contains("escrow is on chain")), "{problems:#?}");
}

async fn the_relay_state_only_moves_forward<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open().await;
    let record = settled_record();
    let id = record.experiment_id;
    assert_eq!(store.chain_relay(id).await.unwrap(), None);

    // Only a chain experiment has relay state.
    let embedded = B256::repeat_byte(0x42);
    let experiment = NewExperiment {
        experiment_id: embedded,
        creator: address(1),
        spec: record.spec.clone(),
        market: None,
        created_at: NOW,
    };
    store.create_experiment(&experiment).await.unwrap();
    let refused = ChainRelay { experiment_id: embedded, ..ChainRelay::default() };
    let error = store.put_chain_relay(&refused).await.unwrap_err();
    assert!(matches!(error, StoreError::Conflict(_)), "{error}");
    assert_eq!(store.chain_relay(embedded).await.unwrap(), None);

    replay_on_chain(&store, &record, address(0xee)).await;
    let mut relay =
        ChainRelay { experiment_id: id, from_block: 12, updated_at: NOW, ..ChainRelay::default() };
    store.put_chain_relay(&relay).await.unwrap();
    relay.joins_relayed = 50;
    relay.last_join_tx = Some(B256::repeat_byte(1));
    relay.updated_at = NOW + 1;
    store.put_chain_relay(&relay).await.unwrap();
    relay.commits_relayed = 3;
    relay.settle_tx = Some(B256::repeat_byte(2));
    relay.settled_at = Some(NOW + 2);
    store.put_chain_relay(&relay).await.unwrap();
    // Reopening finds it: a restarted relayer resumes from here.
    drop(store);
    let store = db.open().await;
    assert_eq!(store.chain_relay(id).await.unwrap().as_ref(), Some(&relay));

    // Going back, or forgetting or replacing a recorded transaction, is a conflict that changes
    // nothing; but a settlement is posted again after a challenge, until payouts are made.
    let paid = ChainRelay { distribute_tx: Some(B256::repeat_byte(4)), ..relay.clone() };
    for bad in [
        ChainRelay { joins_relayed: 49, ..relay.clone() },
        ChainRelay { commits_relayed: 2, ..relay.clone() },
        ChainRelay { settle_tx: None, ..relay.clone() },
        ChainRelay { from_block: 13, ..relay.clone() },
        ChainRelay { settle_tx: Some(B256::repeat_byte(9)), ..paid.clone() },
    ] {
        let error = store.put_chain_relay(&bad).await.unwrap_err();
        assert!(matches!(error, StoreError::Conflict(_)), "{error}");
    }
    assert_eq!(store.chain_relay(id).await.unwrap().as_ref(), Some(&relay));
    relay.settle_tx = Some(B256::repeat_byte(9));
    store.put_chain_relay(&relay).await.unwrap();
    assert_eq!(store.chain_relay(id).await.unwrap().as_ref(), Some(&relay));
    let missing = ChainRelay { experiment_id: B256::repeat_byte(3), ..relay.clone() };
    assert!(matches!(store.put_chain_relay(&missing).await, Err(StoreError::NotFound(_))));
}

async fn a_market_balance_backs_one_labelers_pending_joins_across_experiments<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open().await;
    let record = settled_record();
    let stake = record.spec.stake_per_batch;
    // Two open chain experiments, their relays at the start.
    let ids = [B256::repeat_byte(0x61), B256::repeat_byte(0x62)];
    for id in ids {
        let experiment = NewExperiment {
            experiment_id: id,
            creator: address(0xee),
            spec: record.spec.clone(),
            market: Some(OnChain { chain_id: 31337, market: address(0x5a) }),
            created_at: NOW,
        };
        store.create_experiment(&experiment).await.unwrap();
        store.import_tasks(id, &record.tasks, NOW).await.unwrap();
        store.fund(id, NOW).await.unwrap();
        store
            .open(id, &record.spec, record.seed, record.tasks_hash, record.opened_at)
            .await
            .unwrap();
        let relay = ChainRelay { experiment_id: id, updated_at: NOW, ..ChainRelay::default() };
        store.put_chain_relay(&relay).await.unwrap();
    }
    // One labeler's joins (the store does not check signatures; the core does).
    let join = |batch_id| JoinEntry { batch_id, ..record.joins[0].clone() };
    let free = |stakes: u128| Some(U256::from(stakes * stake));
    let append = |id, batch_id, market_free| {
        let store = &store;
        async move {
            store.append_join(id, &join(batch_id), stake, market_free, at(store, id).await).await
        }
    };
    append(ids[0], 0, free(1)).await.unwrap();
    // The same single stake cannot back a join to the second experiment, which stays as it was.
    let refused = append(ids[1], 0, free(1)).await.unwrap_err();
    assert!(matches!(refused, StoreError::InsufficientFunds { .. }), "{refused}");
    assert_eq!(store.log(ids[1]).await.unwrap().joins.len(), 0);
    append(ids[1], 0, free(2)).await.unwrap();
    // Once the first experiment's join is locked on chain, only the second's is pending: a
    // balance of one more stake pays for one more join.
    let relayed = ChainRelay {
        experiment_id: ids[0],
        joins_relayed: 1,
        updated_at: NOW,
        ..ChainRelay::default()
    };
    store.put_chain_relay(&relayed).await.unwrap();
    let refused = append(ids[0], 1, free(1)).await.unwrap_err();
    assert!(matches!(refused, StoreError::InsufficientFunds { .. }), "{refused}");
    append(ids[0], 1, free(2)).await.unwrap();
}

/// An experiment's commits and reveals, in the order they were accepted.
type LogOf = (B256, Vec<CommitEntry>, Vec<RevealEntry>);

/// Commits and reveals of two experiments, inserted as a store before log indexes did
/// (version 7), interleaved and not in batch order: each experiment's list reads back, once
/// the store opens and numbers them, in the order the rows went in.
fn rows_before_log_indexes() -> (Vec<String>, [LogOf; 2]) {
    let record = settled_record();
    let in_order = |id: B256, rotate: usize| {
        let (mut commits, mut reveals) = (record.commits.clone(), record.reveals.clone());
        commits.reverse();
        reveals.rotate_left(rotate);
        (id, commits, reveals)
    };
    let experiments = [in_order(B256::repeat_byte(1), 1), in_order(B256::repeat_byte(2), 3)];
    let mut statements = Vec::new();
    let mut insert = |table: &str, id: &str, batch_id: u64, entry: String, at: u64| {
        let entry = entry.replace('\'', "''");
        statements.push(format!(
            "INSERT INTO {table} (experiment_id, batch_id, entry, created_at) \
             VALUES ('{id}', {batch_id}, '{entry}', {at})"
        ));
    };
    for i in 0..record.commits.len().max(record.reveals.len()) {
        for (id, commits, reveals) in &experiments {
            let id = plumbline_store::ledger::hex(id.as_slice());
            if let Some(c) = commits.get(i) {
                insert("commits", &id, c.batch_id, serde_json::to_string(c).unwrap(), c.at);
            }
            if let Some(r) = reveals.get(i) {
                insert("reveals", &id, r.batch_id, serde_json::to_string(r).unwrap(), r.at);
            }
        }
    }
    (statements, experiments)
}

/// The migrations before log indexes, of the folder `sqlx::migrate!` embedded.
fn before_log_indexes(mut migrator: sqlx::migrate::Migrator) -> sqlx::migrate::Migrator {
    let kept: Vec<_> = migrator.migrations.iter().filter(|m| m.version < 8).cloned().collect();
    migrator.migrations = kept.into();
    migrator
}

async fn assert_read_in_insertion_order(store: &impl Store, experiments: &[LogOf]) {
    for (id, commits, reveals) in experiments {
        let log = store.log_after(*id, LogPosition::default()).await.unwrap();
        assert_eq!(&log.commits, commits);
        assert_eq!(&log.reveals, reveals);
        let seen = LogPosition { joins: 0, commits: 5, reveals: 7 };
        let tail = store.log_after(*id, seen).await.unwrap();
        assert_eq!(tail.commits, commits[5..]);
        assert_eq!(tail.reveals, reveals[7..]);
    }
}

#[tokio::test]
async fn a_log_stored_before_log_indexes_keeps_its_order_on_sqlite() {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
    let db = TempDb::fresh().await;
    let (statements, experiments) = rows_before_log_indexes();
    // The rows stand alone: no joins or experiments for their foreign keys to refer to.
    let options =
        SqliteConnectOptions::new().filename(&db.0).create_if_missing(true).foreign_keys(false);
    let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
    before_log_indexes(sqlx::migrate!("./migrations")).run(&mut conn).await.unwrap();
    for statement in &statements {
        sqlx::query(statement).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
    assert_read_in_insertion_order(&db.open().await, &experiments).await;
}

#[tokio::test]
async fn a_log_stored_before_log_indexes_keeps_its_order_on_postgres() {
    let db = TempSchema::fresh().await;
    let (statements, experiments) = rows_before_log_indexes();
    let options = PgConnectOptions::from_str(&db.url)
        .unwrap()
        .options([("search_path", db.schema.as_str())])
        .application_name(&db.schema);
    let mut conn = PgConnection::connect_with(&options).await.unwrap();
    before_log_indexes(sqlx::migrate!("./migrations_pg")).run(&mut conn).await.unwrap();
    // The rows stand alone: foreign keys are not checked for this session's writes.
    sqlx::query("SET session_replication_role = replica").execute(&mut conn).await.unwrap();
    for statement in &statements {
        sqlx::query(statement).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
    assert_read_in_insertion_order(&db.open().await, &experiments).await;
}
