//! Scale benchmark: the load benchmark's market (`benches/support/driver.rs`), split over
//! three experiments, on SQLite with one server, on PostgreSQL with one replica, and on
//! PostgreSQL with three replicas, first with each experiment's requests routed to one
//! replica (as `plumbline-client` and a load balancer hashing the experiment id do), then with
//! client threads spread round-robin over them (every replica writes every experiment), one
//! after the other in the same run so that the figures compare as ratios: committed labels
//! per second and p99 commit latency. Each configuration runs twice, the second time in the
//! reverse order, and the ratios compare the means of its two runs: the same configuration
//! has measured 28% slower a few minutes later in one run, and a drift that steady weighs on
//! every configuration alike in this order.
//!
//! Every run starts on a fresh database (PostgreSQL: one created for it on
//! `PLUMBLINE_TEST_POSTGRES`'s server, default `postgres://postgres@127.0.0.1:5432/test`, and
//! dropped after it). Its checks: no failed request, every batch committed and revealed, the
//! ledger balanced. The figures go to `bench/results/load-scale.{json,md}`; the process exits
//! with 1 after writing them when a check fails.
//!
//! Run: `cargo bench -p plumbline --bench scale` (CLIENTS=<n> changes the concurrency,
//! SEED=<n> the labels).

#[path = "support/driver.rs"]
mod driver;

use driver::{
    BATCHES_PER_LABELER, BLOCK_SIZE, CLIENTS_DEFAULT, Config, Db, LABELERS, Measurement, OVERLAP,
    Phase, Routing, env_number, load_average, measure, write_results,
};
use serde_json::{Value, json};
use std::time::Instant;

/// The configurations compared, in the order of their first runs (their second runs go in
/// the reverse order).
const CONFIGURATIONS: [(Db, usize, Routing); 4] = [
    (Db::Sqlite, 1, Routing::RoundRobin),
    (Db::Postgres, 1, Routing::RoundRobin),
    (Db::Postgres, 3, Routing::ByExperiment),
    (Db::Postgres, 3, Routing::RoundRobin),
];
/// Experiments the labelers are split over.
const EXPERIMENTS: usize = 3;

/// One run of a configuration.
struct Outcome {
    /// Its index in `CONFIGURATIONS`.
    configuration: usize,
    /// 1 or 2.
    run: usize,
    measured: Measurement,
    seconds: f64,
    load_before: String,
    load_after: String,
    checks: Vec<(String, bool)>,
}

impl Outcome {
    fn name(&self) -> String {
        match CONFIGURATIONS[self.configuration] {
            (db, 1, _) => format!("{}, 1 replica", db.name()),
            (db, n, routing) => format!("{}, {n} replicas, {}", db.name(), routing.name()),
        }
    }

    fn replicas(&self) -> usize {
        CONFIGURATIONS[self.configuration].1
    }

    /// The name and which of its runs this was.
    fn run_name(&self) -> String {
        format!("{} (run {})", self.name(), self.run)
    }

    fn passed(&self) -> bool {
        self.checks.iter().all(|(_, ok)| *ok)
    }

    fn summary(&self) -> Value {
        let m = &self.measured;
        let (db, replicas, routing) = CONFIGURATIONS[self.configuration];
        json!({
            "db": db.name(),
            "replicas": replicas,
            "routing": routing.name(),
            "run": self.run,
            "experiment_homes": m.experiment_homes,
            "seconds": self.seconds,
            "load_average_before": self.load_before,
            "load_average_after": self.load_after,
            "committed_labels_per_sec": m.labels_per_sec(),
            "commit_p99_ms": m.commit.percentile_ms(0.99),
            "errors": m.errors(),
            "checks": self.checks.iter().map(|(what, ok)| json!({ "check": what, "passed": ok })).collect::<Vec<_>>(),
            "passed": self.passed(),
            "join": m.join.summary(),
            "commit": m.commit.summary(),
            "reveal": m.reveal.summary(),
            "server": {
                "committed": m.committed,
                "revealed": m.revealed,
                "ledger_balanced": m.ledger["balanced"],
                "journal_entries": m.ledger["journal_entries"],
                "version": m.health["version"],
            },
        })
    }
}

fn main() {
    let seed: u64 = env_number("SEED").unwrap_or(1);
    let clients: usize = env_number("CLIENTS").unwrap_or(CLIENTS_DEFAULT).max(1);
    eprintln!("SEED={seed} CLIENTS={clients}");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();

    let mut outcomes = Vec::new();
    let first = (0..CONFIGURATIONS.len()).map(|c| (c, 1));
    let second = (0..CONFIGURATIONS.len()).rev().map(|c| (c, 2));
    for (configuration, run) in first.chain(second) {
        let (db, replicas, routing) = CONFIGURATIONS[configuration];
        eprintln!("{} with {replicas} server(s), {}", db.name(), routing.name());
        let load_before = load_average();
        let begun = Instant::now();
        let config = Config { seed, clients, db, replicas, experiments: EXPERIMENTS, routing };
        let measured = measure(&config);
        let seconds = begun.elapsed().as_secs_f64();
        let batches = measured.batches as u64;
        let checks = vec![
            ("no failed request".to_owned(), measured.errors() == 0),
            (
                format!("the servers count all {batches} batches committed and revealed"),
                measured.committed == batches && measured.revealed == batches,
            ),
            ("the ledger balances afterwards".to_owned(), measured.ledger["balanced"] == true),
        ];
        for phase in [&measured.join, &measured.commit, &measured.reveal] {
            for message in &phase.failures {
                eprintln!("failed request: {message}");
            }
        }
        outcomes.push(Outcome {
            configuration,
            run,
            measured,
            seconds,
            load_before,
            load_after: load_average(),
            checks,
        });
    }
    let total_secs = started.elapsed().as_secs_f64();
    let passed = outcomes.iter().all(Outcome::passed);

    // A configuration's figure is the mean over its two runs.
    let mean = |configuration: usize, figure: &dyn Fn(&Measurement) -> f64| {
        let runs: Vec<f64> = outcomes
            .iter()
            .filter(|o| o.configuration == configuration)
            .map(|o| figure(&o.measured))
            .collect();
        runs.iter().sum::<f64>() / runs.len() as f64
    };
    let rate = |c: usize| mean(c, &|m| m.labels_per_sec());
    let p99 = |c: usize| mean(c, &|m| m.commit.percentile_ms(0.99));
    let ratios = json!({
        "postgres_1_over_sqlite_1": { "labels_per_sec": rate(1) / rate(0), "commit_p99": p99(1) / p99(0) },
        "postgres_3_by_experiment_over_postgres_1": { "labels_per_sec": rate(2) / rate(1), "commit_p99": p99(2) / p99(1) },
        "postgres_3_round_robin_over_postgres_1": { "labels_per_sec": rate(3) / rate(1), "commit_p99": p99(3) / p99(1) },
    });
    let command = if clients == CLIENTS_DEFAULT {
        "cargo bench -p plumbline --bench scale".to_owned()
    } else {
        format!("CLIENTS={clients} cargo bench -p plumbline --bench scale")
    };
    let document = json!({
        "benchmark": "load-scale",
        "command": command,
        "seed": seed,
        "cores": cores,
        "clients": clients,
        "labelers": LABELERS,
        "experiments": EXPERIMENTS,
        "batches": LABELERS * BATCHES_PER_LABELER,
        "labels_per_commit": BLOCK_SIZE,
        "overlap": OVERLAP,
        "seconds": total_secs,
        "configurations": outcomes.iter().map(Outcome::summary).collect::<Vec<_>>(),
        "ratios": ratios,
        "passed": passed,
    });

    let row = |o: &Outcome| {
        let m = &o.measured;
        format!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {:.0} | {:.0} | {:.3} | {:.0} s |\n",
            o.run_name(),
            m.labels_per_sec(),
            m.commit.percentile_ms(0.50),
            m.commit.percentile_ms(0.99),
            m.commit.percentile_ms(1.0),
            m.errors(),
            m.join.per_sec(),
            m.reveal.per_sec(),
            m.commit.server_cpu_seconds * 1e3 / m.commit.latencies.len() as f64,
            o.seconds,
        )
    };
    let phases = |o: &Outcome| {
        let line = |name: &str, p: &Phase| {
            format!(
                "| {} | {name} | {} | {} | {:.2} s | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
                o.run_name(),
                p.latencies.len(),
                p.errors,
                p.seconds,
                p.per_sec(),
                p.percentile_ms(0.50),
                p.percentile_ms(0.90),
                p.percentile_ms(0.99),
                p.percentile_ms(1.0),
            )
        };
        let m = &o.measured;
        line("join", &m.join) + &line("commit", &m.commit) + &line("reveal", &m.reveal)
    };
    let checks: String = outcomes
        .iter()
        .flat_map(|o| {
            o.checks.iter().map(move |(what, ok)| {
                format!("- [{}] {}: {what}\n", if *ok { "x" } else { " " }, o.run_name())
            })
        })
        .collect();
    let homes = |o: &Outcome| {
        let per_replica: Vec<String> = (0..o.replicas())
            .map(|r| o.measured.experiment_homes.iter().filter(|&&h| h == r).count().to_string())
            .collect();
        per_replica.join(" / ")
    };
    let by_experiment: Vec<String> =
        outcomes.iter().filter(|o| o.configuration == 2).map(homes).collect();
    let markdown = format!(
        "# Scale benchmark\n\n`{command}` (release servers over loopback, {cores} cores, \
         {clients} concurrent clients, seed {seed}; {total_secs:.0} s in all)\n\n\
         The load benchmark's market, twice per configuration (the second runs in the reverse \
         order), each run on a fresh database: {LABELERS} \
         labelers with {BATCHES_PER_LABELER} batches each, split evenly over {EXPERIMENTS} \
         experiments run at once; a binary question, blocks of {BLOCK_SIZE}, overlap \
         {OVERLAP}. Each client thread sends its next request when the last one is answered; \
         signatures were made beforehand. Each of n servers on the machine runs `--threads` \
         cores/n (at least 1) and `--db-connections` 8/n (rounded up): one server's share of \
         the machine and of the database, split between them. With three replicas, *by experiment* sends every request about \
         an experiment to the replica `plumbline-client` picks from its id (here {} \
         experiments on the three replicas in the two runs: ids are random, and drafts are made until each \
         replica is home to its share, as among many experiments), so one replica writes \
         each experiment; \
         *round-robin* keeps client thread k on replica k mod 3, so every replica writes every \
         experiment and each write first replays the others'.\n\n\
         | configuration | committed labels/s | commit p50 ms | commit p99 ms | commit max ms | \
         failed requests | joins/s | reveals/s | server CPU ms per commit | wall |\n\
         |---|---|---|---|---|---|---|---|---|---|\n{}\n\
         Ratios of the means of each configuration's two runs: PostgreSQL on one replica \
         against SQLite: {:.2}× the committed labels per \
         second, {:.2}× the p99 commit latency; three replicas against one on PostgreSQL, by \
         experiment: {:.2}× the labels per second, {:.2}× the p99; round-robin: {:.2}× and \
         {:.2}×.\n\n\
         Server CPU counts every server process and, with PostgreSQL, every `postgres` process \
         of the cluster. The clients, the servers and PostgreSQL share the machine's cores.\n\n\
         | configuration | phase | requests | errors | wall | per second | p50 ms | p90 ms | \
         p99 ms | max ms |\n|---|---|---|---|---|---|---|---|---|---|\n{}\n\
         Checks ({}):\n\n{checks}",
        by_experiment.join(" and "),
        outcomes.iter().map(row).collect::<String>(),
        rate(1) / rate(0),
        p99(1) / p99(0),
        rate(2) / rate(1),
        p99(2) / p99(1),
        rate(3) / rate(1),
        p99(3) / p99(1),
        outcomes.iter().map(phases).collect::<String>(),
        if passed { "all passed" } else { "FAILED" },
    );
    write_results("load-scale", &document, &markdown);
    println!("{document}");
    if !passed {
        eprintln!("a configuration failed its checks; see bench/results/load-scale.md");
        std::process::exit(1);
    }
}
