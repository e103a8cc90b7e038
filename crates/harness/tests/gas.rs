//! `plumbline-bench` end to end on anvil:
//!
//! - `gas`: 20 labelers join, commit and reveal through the server in chain mode; one of them
//!   never sends its commit to the server and commits on chain directly, and is still
//!   revealed, settled and paid; after the payouts every market balance equals the settlement
//!   exactly (the harness fails otherwise), and the record it writes audits.
//! - `relay-gas`: the same market run in process and relayed as the operator would, paid to
//!   the unit.
//! - A shape that does not make an experiment exits 2 and says why.
//!
//! Needs anvil: `bash contracts/ci.sh` installs it. Without it the harness fails and says so.

use plumbline_core::record::{PublicRecord, audit};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plumbline-bench")).args(args).output().expect("it runs")
}

fn report(output: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {:?}: {stderr}", output.status.code());
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stderr}"))
}

/// A path in the system's temporary directory, removed first.
fn temp_file(name: &str) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("plumbline-harness-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

const SHAPE: [&str; 10] = [
    "--tasks",
    "200",
    "--overlap",
    "5",
    "--tasks-per-batch",
    "50",
    "--batches-per-labeler",
    "1",
    "--seed",
    "7",
];

#[test]
fn twenty_labelers_through_the_server_in_chain_mode_are_paid_exactly_and_audited() {
    let record_path = temp_file("record.json");
    let record_arg = record_path.to_string_lossy().into_owned();
    let mut args = vec!["gas"];
    args.extend(SHAPE);
    args.extend(["--direct-commits", "1", "--record", &record_arg, "--json"]);
    let report = report(&bench(&args));
    assert_eq!(report["labelers"], 20);
    assert_eq!(report["batches"], 20);
    assert_eq!(report["labels"], 1_000);
    // Every labeler and the creator, each to the unit.
    assert_eq!(report["balances_checked"], 21);
    let direct = report["direct_commits"].as_array().unwrap();
    assert_eq!(direct.len(), 1, "{report}");
    assert_ne!(direct[0]["payout"], "0", "the labeler that committed on chain is paid: {report}");
    let relay = &report["relay"];
    assert_eq!(relay["commits"], 20);
    assert_eq!(relay["commits_relayed"], 20);
    for tx in ["last_join_tx", "last_commit_tx", "settle_tx", "distribute_tx", "refund_tx"] {
        assert!(relay[tx].is_string(), "{tx} missing: {relay}");
    }
    // The operator relayed the other 19 commits; the direct one was the labeler's own.
    let gas = &report["gas"];
    assert_eq!(gas["commitBatches"]["transactions"], 2, "{gas}");
    assert_eq!(gas["lockStakes"]["transactions"], 1, "{gas}");
    for call in ["createExperiment", "settle", "distribute", "refund"] {
        assert_eq!(gas[call]["transactions"], 1, "{call}: {gas}");
    }
    let total: u64 = gas.as_object().unwrap().values().map(|v| v["gas"].as_u64().unwrap()).sum();
    assert_eq!(report["gas_total"], total);

    let text = std::fs::read_to_string(&record_path).unwrap();
    let _ = std::fs::remove_file(&record_path);
    let record = PublicRecord::from_json(&text).unwrap();
    audit(&record).unwrap_or_else(|e| panic!("the record does not verify: {e}"));
    assert_eq!(record.chain_id, plumbline_chain::anvil::CHAIN_ID);
    assert_eq!(record.commits.len(), 20);
}

#[test]
fn an_experiment_relayed_from_the_core_pays_every_balance_exactly() {
    let mut args = vec!["relay-gas"];
    args.extend(SHAPE);
    args.extend(["--relay-entries", "8", "--json"]);
    let report = report(&bench(&args));
    assert_eq!((report["labelers"].as_u64(), report["batches"].as_u64()), (Some(20), Some(20)));
    assert_eq!(report["balances_checked"], 21);
    let gas = &report["gas"];
    // 20 joins and 20 commits, 8 to a transaction.
    assert_eq!(gas["lockStakes"]["transactions"], 3, "{gas}");
    assert_eq!(gas["commitBatches"]["transactions"], 3, "{gas}");
    assert!(gas.get("deposit").is_none(), "the labelers' deposits are left out: {gas}");
    let total: u64 = gas.as_object().unwrap().values().map(|v| v["gas"].as_u64().unwrap()).sum();
    assert_eq!(report["gas_total"], total);
    assert_eq!(report["gas_per_label"], total / 1_000);
}

#[test]
fn a_shape_that_is_not_an_experiment_exits_2_naming_the_flag() {
    let output = bench(&["relay-gas", "--tasks", "1000", "--batches-per-labeler", "3"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--batches-per-labeler must divide the batch count (100)"), "{stderr}");
}
