//! Load benchmark: the real release server over loopback with many concurrent labelers.
//!
//! It starts `plumbline serve --test-clock` on a fresh database, signs in, mints credits,
//! creates, imports, funds and opens a binary experiment (blocks of 10, overlap 5), lets every
//! labeler join its batches, signs every commit and reveal in advance (so the client's
//! cryptography is not measured), and then drives the commit phase and the reveal phase with
//! `CLIENTS` threads, each a blocking HTTP client with one keep-alive connection that sends its
//! next request as soon as the previous one is answered. Every request's latency is recorded,
//! from just before it is sent until its answer is read.
//!
//! Targets (commit phase): at least 2,000 committed labels per second, p99 latency under 50 ms,
//! no errors. The figures go to `bench/results/load.{json,md}`; the process exits with 1 after
//! writing them when a target is missed.
//!
//! Run: `cargo bench -p plumbline --bench load` (CLIENTS=<n> changes the concurrency,
//! SEED=<n> the labels).

#[path = "support/driver.rs"]
mod driver;

use driver::{
    BATCHES_PER_LABELER, BLOCK_SIZE, CLIENTS_DEFAULT, Config, LABELERS, Measurement, OVERLAP,
    Phase, checklist, env_number, load_average, measure, write_results,
};
use serde_json::json;

/// Target: committed labels per second.
const LABELS_PER_SEC_MIN: f64 = 2_000.0;
/// Target: 99th percentile commit latency.
const P99_MS_MAX: f64 = 50.0;

fn main() {
    let seed: u64 = env_number("SEED").unwrap_or(1);
    let clients: usize = env_number("CLIENTS").unwrap_or(CLIENTS_DEFAULT).max(1);
    eprintln!("SEED={seed} CLIENTS={clients}");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load_before = load_average();

    let measured = measure(&Config::one_server(seed, clients));
    let Measurement {
        join: join_phase,
        commit: commit_phase,
        reveal: reveal_phase,
        batches,
        committed,
        revealed,
        health,
        ledger,
        ..
    } = measured;
    let load_after = load_average();

    let labels_per_sec = commit_phase.per_sec() * f64::from(BLOCK_SIZE);
    let commit_p99_ms = commit_phase.percentile_ms(0.99);
    let checks = [
        (
            format!("at least {LABELS_PER_SEC_MIN} committed labels per second"),
            labels_per_sec >= LABELS_PER_SEC_MIN,
        ),
        (format!("commit p99 under {P99_MS_MAX} ms"), commit_p99_ms < P99_MS_MAX),
        (
            "no failed request".into(),
            join_phase.errors + commit_phase.errors + reveal_phase.errors == 0,
        ),
        (
            format!("the server counts all {batches} batches committed and revealed"),
            committed == batches as u64 && revealed == batches as u64,
        ),
        ("the ledger balances afterwards".into(), ledger["balanced"] == true),
    ];
    let passed = checks.iter().all(|(_, ok)| *ok);

    let command = if clients == CLIENTS_DEFAULT {
        "cargo bench -p plumbline --bench load".to_owned()
    } else {
        format!("CLIENTS={clients} cargo bench -p plumbline --bench load")
    };
    let document = json!({
        "benchmark": "load",
        "command": command,
        "seed": seed,
        "cores": cores,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "clients": clients,
        "labelers": LABELERS,
        "batches": batches,
        "labels_per_commit": BLOCK_SIZE,
        "overlap": OVERLAP,
        "committed_labels_per_sec": labels_per_sec,
        "targets": {
            "committed_labels_per_sec_min": LABELS_PER_SEC_MIN,
            "commit_p99_ms_max": P99_MS_MAX,
        },
        "checks": checks.iter().map(|(what, ok)| json!({ "check": what, "passed": ok })).collect::<Vec<_>>(),
        "passed": passed,
        "join": join_phase.summary(),
        "commit": commit_phase.summary(),
        "reveal": reveal_phase.summary(),
        "server": {
            "committed": committed,
            "revealed": revealed,
            "ledger_balanced": ledger["balanced"],
            "journal_entries": ledger["journal_entries"],
            "version": health["version"],
        },
    });
    let row = |name: &str, phase: &Phase| {
        format!(
            "| {name} | {} | {} | {:.2} s | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.3} | {:.3} |\n",
            phase.latencies.len(),
            phase.errors,
            phase.seconds,
            phase.per_sec(),
            phase.percentile_ms(0.50),
            phase.percentile_ms(0.90),
            phase.percentile_ms(0.99),
            phase.percentile_ms(1.0),
            phase.mean_ms(),
            phase.server_cpu_seconds * 1e3 / phase.latencies.len() as f64,
            phase.client_cpu_seconds * 1e3 / phase.latencies.len() as f64,
        )
    };
    let markdown = format!(
        "# Load benchmark\n\n`{command}` (release server over loopback, {cores} cores, \
         {clients} concurrent clients, seed {seed}; load average {} before, {} after)\n\n\
         {labels_per_sec:.0} committed labels per second ({:.0} commits of {BLOCK_SIZE} labels \
         per second); commit latency p50 {:.2} ms, p99 {commit_p99_ms:.2} ms.\n\n\
         | phase | requests | errors | wall | per second | p50 ms | p90 ms | p99 ms | max ms | \
         mean ms | server CPU ms per request | client CPU ms per request |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n{}{}{}\n\
         {LABELERS} labelers with {BATCHES_PER_LABELER} batches each; a binary question, blocks \
         of {BLOCK_SIZE}, overlap {OVERLAP}. Each client thread keeps one connection and sends \
         its next request when the last one is answered; signatures were made beforehand. \
         Latency runs from sending a request to reading its whole answer. The clients share the \
         machine's cores with the server, and the load average counts every runnable process, \
         this benchmark's included. The server answers a commit or reveal only once it is \
         synced to disk (SQLite WAL with `synchronous = FULL`), in groups of those that arrive \
         together.\n\n\
         Checks ({}):\n\n{}",
        load_before,
        load_after,
        commit_phase.per_sec(),
        commit_phase.percentile_ms(0.50),
        row("join", &join_phase),
        row("commit", &commit_phase),
        row("reveal", &reveal_phase),
        if passed { "all passed" } else { "FAILED" },
        checklist(&checks),
    );
    write_results("load", &document, &markdown);
    println!("{document}");
    for message in [&join_phase, &commit_phase, &reveal_phase].iter().flat_map(|p| &p.failures) {
        eprintln!("failed request: {message}");
    }
    if !passed {
        eprintln!("the load benchmark missed its targets; see bench/results/load.md");
        std::process::exit(1);
    }
}
