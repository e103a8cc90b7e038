//! Three replicas of the market on one PostgreSQL database, with 200 simulated labelers spread
//! over them (`plumbline simulate --server URL,URL,URL`), and one replica killed with SIGKILL
//! while labelers commit. Afterwards: the simulator's run succeeded, every experiment that
//! opened settled exactly once (one settlement row, one set of settlement transfers in the
//! journal), no block holds more labelers than its overlap, no commit or reveal was lost,
//! `plumbline audit` verifies every public record, the ledger's check finds no problem, and
//! money is conserved (the balances add up to what was minted).
//!
//! The seed comes from `SEED` (printed at the start); the servers draw their own assignment
//! seeds, so a seed reproduces the labels and the replica killed, not every byte.

mod common;

use common::postgres::{PgDatabase, runtime};
use common::*;
use plumbline_core::lifecycle::Phase;
use plumbline_store::ledger::{TransferKind, settlement_movements};
use plumbline_store::{PgStore, Store, Transfer};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

/// Replicas started on the database.
const REPLICAS: usize = 3;
/// Labelers in the scenario.
const LABELERS: u64 = 200;
/// Batches each labeler takes per experiment.
const BATCHES_PER_LABELER: u64 = 3;
/// Experiments run one after another with the same population.
const ROUNDS: u64 = 2;
/// Stake per batch and reward pool per experiment, in base units.
const STAKE_PER_BATCH: u128 = 1_000;
const REWARD_POOL: u128 = 150_000;
/// The replica is killed once the database holds this many commits of the first experiment
/// (of 600), so that labelers are committing when it dies.
const KILL_AT_COMMITS: i64 = 150;
/// The longest the simulator may take before the test gives up on it.
const SIMULATOR_SECS_MAX: u64 = 300;
/// Client threads of the simulator.
const THREADS: &str = "16";

fn scenario() -> String {
    format!(
        r#"
name = "replicas"
description = "200 labelers over three replicas of one market"
runs = 1
rounds = {ROUNDS}

[question]
kind = "pairwise"
strength_max = 2
allow_tie = false

[tasks]
gold = 40

[market]
block_size = 10
overlap = 3
gold_per_batch = 2
batches_per_labeler = {BATCHES_PER_LABELER}
stake_per_batch = {STAKE_PER_BATCH}
reward_pool = {REWARD_POOL}

[population]
size = {LABELERS}
honest = {{ share = 0.8, skill = {{ uniform = [0.7, 0.95] }} }}
random = {{ share = 0.1 }}
always_left = {{ share = 0.1 }}
"#
    )
}

/// Everything a failure message needs: the simulator's stderr and the end of every replica's
/// log.
fn logs(simulator_stderr: &str, servers: &[Server]) -> String {
    let mut out = format!("--- simulator stderr ---\n{simulator_stderr}\n");
    for (i, server) in servers.iter().enumerate() {
        out += &format!(
            "--- replica {i} ({}) log, last lines ---\n{}\n",
            server.url,
            server.log_tail(30)
        );
    }
    out
}

#[test]
fn three_replicas_with_one_killed_settle_every_experiment_once() {
    let seed: u64 = std::env::var("SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(8);
    eprintln!("SEED={seed} (set SEED={seed} to run the same labels and kill the same replica)");
    let dir = TempDir::new("replicas");
    let database = PgDatabase::fresh("replicas");
    eprintln!("database {}", database.url);
    let (operator_key, operator) = new_key(&dir, "operator.json");
    let mut servers: Vec<Server> = (0..REPLICAS)
        .map(|i| {
            let log = dir.0.join(format!("replica{i}.log"));
            Server::start_logged(&database.url, &log, &operator, free_port())
        })
        .collect();
    let urls: Vec<String> = servers.iter().map(|s| s.url.clone()).collect();
    let scenario = dir.write("replicas.toml", &scenario());

    let stdout_path = dir.0.join("simulate.json");
    let stderr_path = dir.0.join("simulate.log");
    let started = Instant::now();
    let mut simulator = Command::new(binary())
        .args(["simulate", "--scenario", &scenario, "--seed", &seed.to_string()])
        .args(["--server", &urls.join(","), "--operator-key", &operator_key])
        .args(["--threads", THREADS, "--json"])
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("the simulator starts");
    let simulator_stderr = || std::fs::read_to_string(&stderr_path).unwrap_or_default();

    // Kill one replica once labelers are committing; the database says when.
    let victim = (seed % REPLICAS as u64) as usize;
    let rt = runtime();
    let pool = rt
        .block_on(sqlx::PgPool::connect(&database.url))
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", database.url));
    let commits = || -> i64 {
        rt.block_on(sqlx::query_scalar::<_, i64>("SELECT count(*) FROM commits").fetch_one(&pool))
            .expect("counting commits")
    };
    loop {
        if let Some(status) = simulator.try_wait().unwrap() {
            panic!(
                "the simulator ended ({status}) before {KILL_AT_COMMITS} commits were stored \
                 ({} were), so no replica was killed mid-run:\n{}",
                commits(),
                logs(&simulator_stderr(), &servers)
            );
        }
        if commits() >= KILL_AT_COMMITS {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(SIMULATOR_SECS_MAX),
            "no {KILL_AT_COMMITS} commits after {SIMULATOR_SECS_MAX} s:\n{}",
            logs(&simulator_stderr(), &servers)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    servers[victim].kill();
    let at_kill = commits();
    eprintln!(
        "killed replica {victim} ({}) with SIGKILL after {:.1?}, with {at_kill} commits stored",
        urls[victim],
        started.elapsed()
    );

    let status = loop {
        if let Some(status) = simulator.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(SIMULATOR_SECS_MAX) {
            let _ = simulator.kill();
            let _ = simulator.wait();
            panic!(
                "the simulator did not finish in {SIMULATOR_SECS_MAX} s:\n{}",
                logs(&simulator_stderr(), &servers)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!("the simulator finished in {:.1?}", started.elapsed());
    assert!(
        status.success(),
        "the simulator's run over three replicas (replica {victim} killed at {at_kill} \
         commits) failed with {status}:\n{}",
        logs(&simulator_stderr(), &servers)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stdout_path).unwrap())
            .expect("the simulator prints its report as JSON");
    let load = &report["server"];
    assert_eq!(load["errors"], 0, "labeler requests failed: {load}");
    assert!(
        load["failovers"].as_u64().unwrap_or(0) > 0,
        "no request went to another replica after replica {victim} was killed: {load}"
    );
    let downs = load["replicas_down"].as_array().cloned().unwrap_or_default();
    assert!(
        downs.len() == 1 && downs[0].as_str().unwrap_or("").starts_with(&urls[victim]),
        "exactly the killed replica {} is reported down: {load}",
        urls[victim]
    );
    assert_eq!(
        report["dataset"]["server_export_mismatches"], 0,
        "the servers' export is the simulator's: {}",
        report["dataset"]
    );

    // The remaining replicas stop, so that nothing changes under the checks.
    for server in &mut servers {
        server.kill();
    }
    rt.block_on(pool.close());
    check_database(&rt, &database.url, &dir, &logs(&simulator_stderr(), &servers));
}

/// Every experiment that opened settled exactly once and audits; the ledger balances and
/// conserves money.
fn check_database(rt: &tokio::runtime::Runtime, url: &str, dir: &TempDir, logs: &str) {
    let store = rt.block_on(PgStore::open(url)).unwrap_or_else(|e| panic!("opening {url}: {e}"));
    let pool = rt.block_on(sqlx::PgPool::connect(url)).unwrap();

    let experiments = rt.block_on(store.experiments()).unwrap();
    assert_eq!(
        experiments.len() as u64,
        ROUNDS,
        "one experiment per round was created: {:?}",
        experiments.iter().map(|e| (e.experiment_id, e.phase)).collect::<Vec<_>>()
    );
    let mut journal: Vec<Transfer> = Vec::new();
    loop {
        let after = journal.last().map_or(0, |t| t.journal_id);
        let page = rt.block_on(store.journal(after, 10_000)).unwrap();
        if page.is_empty() {
            break;
        }
        journal.extend(page);
    }

    for experiment in &experiments {
        let id = experiment.experiment_id;
        assert!(experiment.opened_at.is_some(), "experiment {id} never opened:\n{logs}");
        assert_eq!(experiment.phase, Phase::Settled, "experiment {id} is not settled:\n{logs}");
        let rows: i64 = rt
            .block_on(
                sqlx::query_scalar("SELECT count(*) FROM settlements WHERE settlement_id = $1")
                    .bind(plumbline_store::ledger::hex(id.as_slice()))
                    .fetch_one(&pool),
            )
            .unwrap();
        assert_eq!(rows, 1, "experiment {id} has {rows} settlement rows");

        // The journal holds exactly the settlement's transfers for it, once.
        let settlement = rt.block_on(store.settlement(id)).unwrap().expect("a stored settlement");
        let key =
            |debit: &dyn ToString, credit: &dyn ToString, amount: u128, kind: TransferKind| {
                (debit.to_string(), credit.to_string(), amount, kind.as_str())
            };
        let mut expected: BTreeMap<_, i64> = BTreeMap::new();
        for m in settlement_movements(id, experiment.creator, &settlement) {
            *expected.entry(key(&m.debit, &m.credit, m.amount, m.kind)).or_default() += 1;
        }
        let mut found: BTreeMap<_, i64> = BTreeMap::new();
        for t in journal.iter().filter(|t| t.experiment_id == Some(id)) {
            if matches!(
                t.kind,
                TransferKind::StakeReturn
                    | TransferKind::Slash
                    | TransferKind::Reward
                    | TransferKind::Burn
                    | TransferKind::Refund
            ) {
                *found.entry(key(&t.debit, &t.credit, t.amount, t.kind)).or_default() += 1;
            }
        }
        let expected_n: i64 = expected.values().sum();
        let found_n: i64 = found.values().sum();
        assert!(
            expected == found,
            "experiment {id}: the journal holds {found_n} settlement transfers where its one \
             settlement makes {expected_n} (settled more than once, or partly)"
        );

        // The public record: nothing lost, no block over its overlap, and the audit verifies.
        let record = rt.block_on(store.record(id)).unwrap().expect("a settled experiment's record");
        let joins = record.joins.len();
        assert_eq!(
            joins as u64,
            LABELERS * BATCHES_PER_LABELER,
            "experiment {id}: every labeler's joins are in the record"
        );
        assert_eq!(record.commits.len(), joins, "experiment {id}: a commit per joined batch");
        assert_eq!(record.reveals.len(), joins, "experiment {id}: a reveal per joined batch");
        let mut per_block: BTreeMap<u32, Vec<plumbline_core::Address>> = BTreeMap::new();
        for batch in record.batches() {
            per_block.entry(batch.block).or_default().push(batch.labeler);
        }
        for (block, labelers) in &per_block {
            assert!(
                labelers.len() <= record.spec.overlap as usize,
                "experiment {id}: block {block} has {} labelers, overlap {}",
                labelers.len(),
                record.spec.overlap
            );
            let mut distinct = labelers.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!(
                distinct.len(),
                labelers.len(),
                "experiment {id}: a labeler twice in block {block}"
            );
        }
        let path = dir.write(&format!("record-{id}.json"), &record.to_json());
        let audit = run(&["audit", &path], &[]);
        let stdout = String::from_utf8_lossy(&audit.stdout);
        assert!(
            audit.status.success() && stdout.starts_with("verified:"),
            "plumbline audit of experiment {id}'s record exits {}: {stdout}{}",
            audit.status,
            String::from_utf8_lossy(&audit.stderr)
        );
    }

    let report = rt.block_on(store.check_ledger()).unwrap();
    assert!(
        report.balanced && report.problems.is_empty(),
        "the ledger check found problems: {:?}",
        report.problems
    );

    // Money is conserved: every balance but issuance's adds up to what was minted, which is
    // what the simulator minted; stakes and escrows are all paid out.
    let minted: u128 =
        journal.iter().filter(|t| t.kind == TransferKind::Mint).map(|t| t.amount).sum();
    let expected_minted = u128::from(ROUNDS)
        * (REWARD_POOL + u128::from(LABELERS * BATCHES_PER_LABELER) * STAKE_PER_BATCH);
    assert_eq!(minted, expected_minted, "the journal's mints are the simulator's");
    let accounts: Vec<(String, String, String)> = rt
        .block_on(
            sqlx::query_as("SELECT ledger_account_id, debits, credits FROM ledger_accounts")
                .fetch_all(&pool),
        )
        .unwrap();
    let mut total: i128 = 0;
    for (account, debits, credits) in &accounts {
        let balance = credits.parse::<i128>().unwrap() - debits.parse::<i128>().unwrap();
        if account == "issuance" {
            assert_eq!(balance, -(minted as i128), "issuance is minus what was minted");
            continue;
        }
        if account.starts_with("locked:") || account.starts_with("escrow:") {
            assert_eq!(balance, 0, "{account} still holds {balance} after every settlement");
        }
        assert!(balance >= 0, "{account} is below zero: {balance}");
        total += balance;
    }
    assert_eq!(total, minted as i128, "the balances add up to what was minted");
    rt.block_on(pool.close());
    rt.block_on(store.close());
}
