//! The load benchmarks' driver, shared by `load` (SQLite, one server) and `scale` (SQLite
//! against PostgreSQL, one replica against three): it starts release servers on a fresh
//! database, creates and opens binary experiments, and drives the join, commit and reveal
//! phases with concurrent keep-alive clients, timing every request.
//!
//! Per run: `plumbline serve --test-clock` on a fresh database (a SQLite file in a temporary
//! directory, or a PostgreSQL database created for the run and dropped after it), one or
//! several replicas on it. The operator signs in, mints credits; the creator creates, imports,
//! funds and opens one or several binary experiments (blocks of 10, overlap 5), the labelers
//! split evenly over them; every labeler joins its batches; every commit and reveal is signed
//! in advance (so the client's cryptography is not measured); then the commit phase and the
//! reveal phase are driven with `clients` threads, each a blocking HTTP client with keep-alive
//! connections that sends its next request as soon as the previous one is answered: thread k
//! to replica k mod n, or each request to its experiment's replica ([`Routing`]). Every
//! request's latency is recorded, from just before it is sent until its answer is read.
#![allow(dead_code)]

use plumbline_client::api::{BatchTaskView, BatchView, CreateRequest, ExperimentView, MintRequest};
use plumbline_client::{Client, Repeat, Replicas};
use plumbline_core::client::{LabelerKey, RevealedLabel};
use plumbline_core::eip712::embedded_domain;
use plumbline_core::label::Label;
use plumbline_core::synthetic::{SplitMix64, binary_spec};
use plumbline_core::{Address, B256};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[allow(dead_code)]
#[path = "../../tests/common/postgres.rs"]
mod postgres;

/// Labelers taking part.
pub const LABELERS: usize = 512;
/// Batches each labeler joins, commits and reveals: 16,384 in all, 163,840 labels.
pub const BATCHES_PER_LABELER: usize = 32;
/// Regular tasks per batch: one commit carries this many labels.
pub const BLOCK_SIZE: u32 = 10;
/// Labelers per block.
pub const OVERLAP: u32 = 5;
/// Blocks beyond the exact need, in percent, so that the last joins still find a block the
/// labeler has not done yet (a labeler never gets the same block twice).
const SPARE_BLOCKS_PERCENT: usize = 10;
/// The most experiments created while looking for ids that spread over the replicas.
const DRAFTS_MAX: usize = 64;
/// Tasks the experiment imports: every block the labelers need, and the spare ones.
pub const TASKS: usize =
    LABELERS * BATCHES_PER_LABELER / OVERLAP as usize * (100 + SPARE_BLOCKS_PERCENT) / 100
        * BLOCK_SIZE as usize;
/// Concurrent client threads unless `CLIENTS` says otherwise.
pub const CLIENTS_DEFAULT: usize = 32;
/// Longest any single request may take before the benchmark counts it as failed.
const REQUEST_TIMEOUT_SECS: u64 = 30;

/// Where the servers keep the market.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    /// A SQLite file (one server only).
    Sqlite,
    /// A PostgreSQL database created for the run on `PLUMBLINE_TEST_POSTGRES`'s server
    /// (default `postgres://postgres@127.0.0.1:5432/test`).
    Postgres,
}

impl Db {
    /// Its name in the figures.
    pub fn name(self) -> &'static str {
        match self {
            Db::Sqlite => "sqlite",
            Db::Postgres => "postgres",
        }
    }
}

/// One run's set-up.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Seeds the keys and the labels.
    pub seed: u64,
    /// Concurrent client threads.
    pub clients: usize,
    /// The database.
    pub db: Db,
    /// Server processes on it.
    pub replicas: usize,
    /// Experiments the labelers are split over (labeler i takes part in experiment i mod n),
    /// all run at once; each imports the tasks its labelers need.
    pub experiments: usize,
    /// Which replica each request goes to.
    pub routing: Routing,
}

impl Config {
    /// One server on SQLite with one experiment: the load benchmark's market.
    pub fn one_server(seed: u64, clients: usize) -> Config {
        Config {
            seed,
            clients,
            db: Db::Sqlite,
            replicas: 1,
            experiments: 1,
            routing: Routing::RoundRobin,
        }
    }
}

/// How the clients' requests are spread over the replicas (a load balancer's rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routing {
    /// Client thread k sends everything to replica k mod n, so every replica writes every
    /// experiment.
    RoundRobin,
    /// A request about an experiment goes to that experiment's replica
    /// (`Replicas::experiment_home`), so one replica writes each experiment.
    ByExperiment,
}

impl Routing {
    /// Its name in the figures.
    pub fn name(self) -> &'static str {
        match self {
            Routing::RoundRobin => "round-robin",
            Routing::ByExperiment => "by experiment",
        }
    }
}

/// What one run measured.
pub struct Measurement {
    pub join: Phase,
    pub commit: Phase,
    pub reveal: Phase,
    /// Batches the labelers asked for.
    pub batches: usize,
    /// Batches the servers count committed and revealed at the end of each phase.
    pub committed: u64,
    pub revealed: u64,
    /// The replica each experiment's requests go to under [`Routing::ByExperiment`].
    pub experiment_homes: Vec<usize>,
    /// `GET /health` of the first replica at the end.
    pub health: Value,
    /// `plumbline ledger check --json` on the database once the servers stopped: the full
    /// check over every entry the run wrote (`/health` reports only the last periodic one).
    pub ledger: Value,
}

impl Measurement {
    /// Committed labels per second in the commit phase.
    pub fn labels_per_sec(&self) -> f64 {
        self.commit.per_sec() * f64::from(BLOCK_SIZE)
    }

    /// Failed requests in all phases.
    pub fn errors(&self) -> usize {
        self.join.errors + self.commit.errors + self.reveal.errors
    }
}

/// CPU seconds of the servers, and of the database's processes with PostgreSQL.
fn cpu_of(servers: &[Server], db: Db) -> f64 {
    let servers: f64 = servers.iter().map(Server::cpu_seconds).sum();
    servers + if db == Db::Postgres { postgres_cpu_seconds() } else { 0.0 }
}

/// CPU seconds used so far by every process named `postgres` (the cluster's backends and
/// workers). A backend that exits during a phase takes its time with it; the servers keep
/// their connections open, so few do.
fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0.0 };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "postgres")
        })
        .map(|pid| cpu_seconds(&pid))
        .sum()
}

/// Runs one configuration: starts its servers, drives the three phases, stops them.
pub fn measure(config: &Config) -> Measurement {
    let Config { seed, clients, db, replicas, experiments, routing } = *config;
    assert!(experiments >= 1, "at least one experiment");
    assert!(replicas >= 1, "at least one replica");
    assert!(db == Db::Postgres || replicas == 1, "several replicas need PostgreSQL");
    let dir = TempDir::new();
    let database = match db {
        Db::Sqlite => None,
        Db::Postgres => Some(postgres::PgDatabase::fresh("load")),
    };
    let db_arg = match &database {
        None => dir.0.join("load.db").to_string_lossy().into_owned(),
        Some(database) => database.url.clone(),
    };
    let operator = LabelerKey::derived(seed, 0);
    let creator = LabelerKey::derived(seed, 1);
    let labelers: Vec<LabelerKey> =
        (0..LABELERS).map(|i| LabelerKey::derived(seed, 2 + i as u64)).collect();
    let mut servers: Vec<Server> = (0..replicas)
        .map(|i| {
            Server::start(
                &db_arg,
                &dir.0.join(format!("server{i}.log")),
                operator.address(),
                replicas,
            )
        })
        .collect();
    let urls: Vec<String> = servers.iter().map(|s| s.url.clone()).collect();
    let timeout = Some(Duration::from_secs(REQUEST_TIMEOUT_SECS));
    let replicas = Arc::new(Replicas::new(&urls, timeout));
    let mut client = Client::on(&replicas, 0);
    // Every replica has a clock of its own; each is set alike.
    let clocks = Client::on(&replicas, 0);
    let set_clocks = |now: u64| {
        let test = clocks.set_test_clocks(now).expect("the servers' clocks are set");
        assert!(test, "the servers run with --test-clock");
    };

    // Set-up, not timed: credits, the experiment, its tasks.
    let start = unix_now();
    set_clocks(start);
    client.login(&operator).expect("the operator signs in");
    let batches = LABELERS * BATCHES_PER_LABELER;
    // The experiment with the most labelers sets how many tasks each imports.
    let blocks = LABELERS.div_ceil(experiments) * BATCHES_PER_LABELER / OVERLAP as usize
        * (100 + SPARE_BLOCKS_PERCENT)
        / 100;
    let mut spec = binary_spec(BLOCK_SIZE, OVERLAP, 0);
    spec.title = "Load benchmark".into();
    spec.commit_deadline = start + 3_600;
    spec.reveal_deadline = start + 7_200;
    spec.limits.batches_per_labeler_max = BATCHES_PER_LABELER as u32;
    let labeler_credit = spec.stake_per_batch * BATCHES_PER_LABELER as u128;
    // The operator's writes are rate limited; the client waits a refusal out.
    let mint = |to: Address, amount: u128| {
        let _: Value =
            client.post_once("/ledger/mint", &MintRequest { to, amount }).expect("a mint");
    };
    mint(creator.address(), spec.reward_pool * experiments as u128);
    for labeler in &labelers {
        mint(labeler.address(), labeler_credit);
    }
    client.login(&creator).expect("the creator signs in");
    let spec_json = serde_json::to_value(&spec).expect("a spec serializes");
    let tasks: String = (0..blocks * BLOCK_SIZE as usize)
        .map(|i| format!("{{\"id\": \"t{i}\", \"prompt\": \"Is statement {i} true?\"}}\n"))
        .collect();
    // Ids are random, so a few experiments can hash to the same replica. Among many, each
    // replica is home to its share; drafts are created until every replica is home to at most
    // its share of the experiments run, and the rest stay drafts.
    let home_of =
        |id: B256| replicas.experiment_home(&format!("/experiments/{id}")).expect("an id");
    let share = experiments.div_ceil(urls.len());
    let mut homes = vec![0; urls.len()];
    let mut ids: Vec<B256> = Vec::with_capacity(experiments);
    for _ in 0..DRAFTS_MAX {
        if ids.len() == experiments {
            break;
        }
        let experiment: ExperimentView = client
            .post_once("/experiments", &CreateRequest { spec: spec_json.clone() })
            .expect("the experiment is created");
        let id = experiment.experiment_id;
        if homes[home_of(id)] == share {
            continue;
        }
        homes[home_of(id)] += 1;
        let _: Value = client
            .post_text(&format!("/experiments/{id}/tasks"), "application/x-ndjson", &tasks)
            .expect("the tasks are imported");
        for step in ["fund", "open"] {
            let _: Value =
                client.post_once(&format!("/experiments/{id}/{step}"), &json!({})).expect(step);
        }
        ids.push(id);
    }
    assert_eq!(ids.len(), experiments, "{DRAFTS_MAX} drafts give every replica its share");
    let experiment_of = |labeler: usize| ids[labeler % experiments];
    let experiment_homes = ids.iter().map(|id| home_of(*id)).collect();
    let domain = embedded_domain();

    // Joins, timed on their own: each labeler's joins go in nonce order, labelers in parallel.
    let mut joins = Vec::with_capacity(batches);
    for round in 0..BATCHES_PER_LABELER {
        for (index, labeler) in labelers.iter().enumerate() {
            let experiment_id = experiment_of(index);
            let join =
                labeler.join(&domain, experiment_id, None, spec.stake_per_batch, round as u64);
            joins.push((index, serde_json::to_string(&join).expect("a join serializes")));
        }
    }
    let join_phase = charged(&servers, db, || {
        drive(&urls, routing, clients, &joins, |(labeler, body)| Request {
            path: format!("/experiments/{}/join", experiment_of(*labeler)),
            body: body.clone(),
            expect: 201,
            // A labeler's next join must carry the next nonce, so its joins never overlap.
            lane: Some(*labeler),
        })
    });
    let assigned: Vec<(usize, u64, Vec<u32>)> = join_phase
        .answers
        .iter()
        .zip(&joins)
        .filter_map(|(answer, (labeler, _))| {
            let batch: BatchView = serde_json::from_slice(answer.as_deref()?).ok()?;
            // A batch names its tasks by position; the prompt says which task each is.
            let number = |t: &BatchTaskView| -> Option<u32> {
                t.prompt
                    .to_text()
                    .strip_prefix("Is statement ")?
                    .strip_suffix(" true?")?
                    .parse()
                    .ok()
            };
            let tasks = batch.tasks.iter().map(number).collect::<Option<Vec<u32>>>()?;
            Some((*labeler, batch.batch_id, tasks))
        })
        .collect();

    // Every commit and reveal signed before anything is timed, on every core. Labels follow a
    // latent truth with 20% noise, like a careful crowd.
    let signing = Instant::now();
    let sign = |(labeler, batch_id, tasks): &(usize, u64, Vec<u32>)| {
        let key = &labelers[*labeler];
        let experiment_id = experiment_of(*labeler);
        let mut rng = SplitMix64::new(seed ^ batch_id.rotate_left(32));
        let labels: Vec<RevealedLabel> = tasks
            .iter()
            .enumerate()
            .map(|(position, &task)| {
                let truth = i64::from(task % 2);
                let value = if rng.chance(800_000) { truth } else { 1 - truth };
                RevealedLabel { task: position as u32, label: Label::Int(value) }
            })
            .collect();
        let commit = key.commit(&domain, experiment_id, *batch_id, &labels).expect("labels root");
        let reveal = key.reveal(&domain, experiment_id, *batch_id, labels).expect("labels root");
        let commit = serde_json::to_string(&commit).expect("a commit serializes");
        let reveal = serde_json::to_string(&reveal).expect("a reveal serializes");
        ((experiment_id, *batch_id, commit), (experiment_id, *batch_id, reveal))
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    type Signed = (B256, u64, String);
    let signed: Vec<(Signed, Signed)> = std::thread::scope(|scope| {
        let workers: Vec<_> = assigned
            .chunks(assigned.len().div_ceil(cores).max(1))
            .map(|chunk| scope.spawn(move || chunk.iter().map(sign).collect::<Vec<_>>()))
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("a signing thread")).collect()
    });
    let (mut commits, mut reveals): (Vec<_>, Vec<_>) = signed.into_iter().unzip();
    let mut rng = SplitMix64::new(seed);
    // Labelers' commits interleave as they would in a crowd, not one labeler after another.
    shuffle(&mut commits, &mut rng);
    shuffle(&mut reveals, &mut rng);
    eprintln!("signed {} commits and reveals in {:.1?}", commits.len(), signing.elapsed());

    // A commit or a reveal, by the batch's path and the signed body.
    let to_batch = |step: &'static str| {
        move |(id, batch_id, body): &Signed| Request {
            path: format!("/experiments/{id}/batches/{batch_id}/{step}"),
            body: body.clone(),
            expect: 201,
            lane: None,
        }
    };
    let commit_phase =
        charged(&servers, db, || drive(&urls, routing, clients, &commits, to_batch("commit")));
    let committed = count(&client, &ids, "committed");

    set_clocks(spec.commit_deadline);
    let reveal_phase =
        charged(&servers, db, || drive(&urls, routing, clients, &reveals, to_batch("reveal")));
    let revealed = count(&client, &ids, "revealed");
    let health: Value = client.get("/health").expect("the health");
    for server in &mut servers {
        server.stop();
    }
    let ledger = check_ledger(&db_arg);
    drop(database);
    Measurement {
        join: join_phase,
        commit: commit_phase,
        reveal: reveal_phase,
        batches,
        committed,
        revealed,
        experiment_homes,
        health,
        ledger,
    }
}

/// Runs one timed phase and charges it the CPU time the servers (with PostgreSQL, the
/// database too) and this process spent meanwhile.
fn charged(servers: &[Server], db: Db, run: impl FnOnce() -> Phase) -> Phase {
    let (cpu, own) = (cpu_of(servers, db), cpu_seconds("self"));
    let mut phase = run();
    phase.server_cpu_seconds = cpu_of(servers, db) - cpu;
    phase.client_cpu_seconds = cpu_seconds("self") - own;
    phase
}

/// The batches the servers count `committed` or `revealed` over these experiments.
fn count(client: &Client, ids: &[B256], what: &str) -> u64 {
    ids.iter()
        .map(|id| {
            let stats: Value = client.get(&format!("/experiments/{id}/stats")).expect("the stats");
            stats["batches"][what].as_u64().unwrap_or(0)
        })
        .sum()
}

/// The full ledger check on `db` through `plumbline ledger check`.
fn check_ledger(db: &str) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_plumbline"))
        .args(["ledger", "check", "--db", db, "--json"])
        .output()
        .expect("the ledger check runs");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "the ledger check answered no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Checks as a markdown task list.
pub fn checklist(checks: &[(String, bool)]) -> String {
    checks
        .iter()
        .map(|(what, ok)| format!("- [{}] {what}\n", if *ok { "x" } else { " " }))
        .collect()
}

/// Writes `bench/results/NAME.json` and `NAME.md`.
pub fn write_results(name: &str, document: &Value, markdown: &str) {
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/results");
    std::fs::create_dir_all(&results).expect("bench/results can be created");
    std::fs::write(results.join(format!("{name}.json")), format!("{document:#}\n"))
        .expect("write json");
    std::fs::write(results.join(format!("{name}.md")), markdown).expect("write markdown");
}

pub fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs()
}

/// The one-minute load average, so the figures say how busy the machine was.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

/// CPU seconds (user and system) a process has used so far, from `/proc/<pid>/stat`; zero
/// where there is no `/proc`.
pub fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
    // The fields after the command name, which is in parentheses and may hold spaces.
    let ticks = stat.ok().and_then(|s| {
        let fields = s.rsplit_once(')')?.1.split_whitespace().skip(11).take(2);
        Some(fields.map(|f| f.parse::<u64>().unwrap_or(0)).sum::<u64>())
    });
    // Linux counts in USER_HZ ticks, 100 per second on the platforms it commonly runs on.
    ticks.map_or(0.0, |t| t as f64 / 100.0)
}

pub fn shuffle<T>(items: &mut [T], rng: &mut SplitMix64) {
    for i in (1..items.len()).rev() {
        items.swap(i, rng.below(i as u64 + 1) as usize);
    }
}

/// A fresh directory under the system's temporary one, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let run = RUNS.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("plumbline-load-{}-{run}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Request threads for each of `replicas` servers on this machine: its cores split between
/// them, at least one each. More threads than cores only add switching between them.
fn threads_per_replica(replicas: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / replicas).max(1)
}

/// PostgreSQL connections for each of `replicas` servers sharing one database on this
/// machine: one server's default split between them, as the cores are.
fn connections_per_replica(replicas: usize) -> u32 {
    plumbline_store::PG_CONNECTIONS_DEFAULT.div_ceil(replicas as u32)
}

/// The release server, stopped (SIGTERM, then SIGKILL) when done or dropped.
struct Server {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Server {
    /// Starts `plumbline serve --test-clock` on `db` (a SQLite path or a PostgreSQL URL) on a
    /// free port, as one of `replicas` on this machine, its stderr in `log`, and waits until
    /// it is healthy.
    fn start(db: &str, log: &Path, operator: Address, replicas: usize) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_plumbline"))
            .args(["serve", "--db", db, "--addr", &addr])
            .args(["--operator", &operator.to_string(), "--test-clock"])
            .args(["--threads", &threads_per_replica(replicas).to_string()])
            .args(["--db-connections", &connections_per_replica(replicas).to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("the server log"))
            .spawn()
            .expect("the server starts");
        let server = Server { child, url: format!("http://{addr}"), log: log.to_path_buf() };
        let client = Client::with_timeout(&server.url, Duration::from_secs(REQUEST_TIMEOUT_SECS));
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if client.get::<Value>("/health").is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not become healthy in 30 s; its log:\n{}", server.log_text());
    }

    /// CPU seconds the server has used so far.
    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(&self.child.id().to_string())
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Asks the server to shut down gracefully, as an operator would, and kills it if it does
    /// not within ten seconds.
    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("the server did not stop on SIGTERM; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One request of a timed phase.
pub struct Request {
    pub path: String,
    pub body: String,
    pub expect: u16,
    /// Requests in the same lane are sent one after another, in order, by one client.
    pub lane: Option<usize>,
}

/// What a timed phase measured.
pub struct Phase {
    pub seconds: f64,
    /// CPU time the servers (and with PostgreSQL, the database) spent during the phase.
    pub server_cpu_seconds: f64,
    /// CPU time the benchmark's clients spent during the phase.
    pub client_cpu_seconds: f64,
    /// Each request's latency in seconds, sorted.
    pub latencies: Vec<f64>,
    pub errors: usize,
    /// The first few failures, for the log.
    pub failures: Vec<String>,
    /// The answer to each request, in the order given, when it had the expected status.
    answers: Vec<Option<Vec<u8>>>,
}

/// Failures kept for the log.
const FAILURES_KEPT: usize = 10;
/// Characters of a failed request's answer kept for the log.
const FAILURE_CHARS_MAX: usize = 300;

impl Phase {
    pub fn per_sec(&self) -> f64 {
        self.latencies.len() as f64 / self.seconds
    }

    /// The nearest-rank percentile, in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let rank = (p * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1] * 1e3
    }

    pub fn mean_ms(&self) -> f64 {
        self.latencies.iter().sum::<f64>() / self.latencies.len() as f64 * 1e3
    }

    pub fn summary(&self) -> Value {
        json!({
            "requests": self.latencies.len(),
            "errors": self.errors,
            "seconds": self.seconds,
            "requests_per_sec": self.per_sec(),
            "server_cpu_seconds": self.server_cpu_seconds,
            "server_cpu_ms_per_request": self.server_cpu_seconds * 1e3 / self.latencies.len() as f64,
            "client_cpu_seconds": self.client_cpu_seconds,
            "client_cpu_ms_per_request": self.client_cpu_seconds * 1e3 / self.latencies.len() as f64,
            "latency_ms": {
                "p50": self.percentile_ms(0.50),
                "p90": self.percentile_ms(0.90),
                "p99": self.percentile_ms(0.99),
                "p999": self.percentile_ms(0.999),
                "max": self.percentile_ms(1.0),
                "mean": self.mean_ms(),
            },
        })
    }
}

/// Why a request failed, on one line: the status and the start of the answer, or the error.
fn failure<E: std::fmt::Debug>(result: Result<(u16, Vec<u8>), E>) -> String {
    match result {
        Ok((status, body)) => {
            // One line, even for an HTML error page.
            let text = String::from_utf8_lossy(&body);
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let text: String = text.chars().take(FAILURE_CHARS_MAX).collect();
            format!("answered {status}: {text}")
        }
        Err(e) => format!("{e:?}"),
    }
}

/// Sends every request from `clients` threads, each with its own keep-alive connections, as
/// fast as the servers answer: thread k to server k mod n, or each request to its
/// experiment's server (`routing`). Requests are dealt to the threads in turn, except that all
/// the requests of one lane go to the same thread, in order.
fn drive<T: Sync>(
    urls: &[String],
    routing: Routing,
    clients: usize,
    items: &[T],
    request: impl Fn(&T) -> Request + Sync,
) -> Phase {
    let timeout = Some(Duration::from_secs(REQUEST_TIMEOUT_SECS));
    let connect = |thread: usize| match routing {
        Routing::RoundRobin => {
            Client::on(&Arc::new(Replicas::new(&[&urls[thread % urls.len()]], timeout)), 0)
        }
        Routing::ByExperiment => Client::on(&Arc::new(Replicas::new(urls, timeout)), thread),
    };
    drive_with(clients, items, request, connect, |client, r| {
        let request = plumbline_client::Request {
            method: "POST",
            path: &r.path,
            query: &[],
            body: Some(("application/json", &r.body)),
            token: None,
            repeat: Repeat::Safe,
        };
        client.send(&request).map(|answer| (answer.status, answer.body))
    })
}

/// The load generator itself, for any server: `clients` threads, each opening its own
/// connection with `connect(thread)` (one keep-alive connection per thread), send every request
/// with `send` as fast as the server answers, the next as soon as the last is answered. The
/// peer benchmark drives Label Studio through it, so both servers meet the same clients.
/// Requests are dealt to the threads in turn, except that all the requests of one lane go to
/// the same thread, in order. Latency runs from just before `send` until it returns the whole
/// answer; a request fails when `send` errs or answers another status than expected.
pub fn drive_with<T: Sync, C, E: std::fmt::Debug>(
    clients: usize,
    items: &[T],
    request: impl Fn(&T) -> Request + Sync,
    connect: impl Fn(usize) -> C + Sync,
    send: impl Fn(&mut C, &Request) -> Result<(u16, Vec<u8>), E> + Sync,
) -> Phase {
    let requests: Vec<Request> = items.iter().map(&request).collect();
    let queues: Vec<Vec<usize>> = {
        let mut queues = vec![Vec::new(); clients];
        let mut shared = 0;
        for (index, r) in requests.iter().enumerate() {
            let lane = r.lane.unwrap_or_else(|| {
                shared += 1;
                shared
            });
            queues[lane % clients].push(index);
        }
        queues
    };
    let answers: Vec<Mutex<Option<Vec<u8>>>> = requests.iter().map(|_| Mutex::new(None)).collect();
    let failures = Mutex::new(Vec::new());
    let errors = AtomicUsize::new(0);
    let started = Instant::now();
    let mut latencies: Vec<f64> = std::thread::scope(|scope| {
        let workers: Vec<_> = queues
            .iter()
            .enumerate()
            .map(|(thread, queue)| {
                let (requests, answers, failures, errors) =
                    (&requests, &answers, &failures, &errors);
                let (connect, send) = (&connect, &send);
                scope.spawn(move || {
                    // Its own client: one keep-alive connection to its server.
                    let mut client = connect(thread);
                    let mut latencies = Vec::with_capacity(queue.len());
                    for &index in queue {
                        let r = &requests[index];
                        let sent = Instant::now();
                        let result = send(&mut client, r);
                        latencies.push(sent.elapsed().as_secs_f64());
                        match result {
                            Ok((status, body)) if status == r.expect => {
                                *answers[index].lock().expect("unpoisoned") = Some(body);
                            }
                            other => {
                                errors.fetch_add(1, Ordering::Relaxed);
                                let mut kept = failures.lock().expect("unpoisoned");
                                if kept.len() < FAILURES_KEPT {
                                    kept.push(format!("{}: {}", r.path, failure(other)));
                                }
                            }
                        }
                    }
                    latencies
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("a client thread")).collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    Phase {
        seconds,
        server_cpu_seconds: 0.0,
        client_cpu_seconds: 0.0,
        latencies,
        errors: errors.into_inner(),
        failures: failures.into_inner().expect("unpoisoned"),
        answers: answers.into_iter().map(|a| a.into_inner().expect("unpoisoned")).collect(),
    }
}
