//! Peer benchmark: Plumbline against Label Studio, in one run on one machine, from the same
//! load generator.
//!
//! `bench/labelstudio/run.sh` installs Label Studio from PyPI in a venv, starts it on SQLite
//! (its default) with a known user and API token, and runs this target with the server named
//! in `LABEL_STUDIO_URL`, `LABEL_STUDIO_TOKEN` and `LABEL_STUDIO_PID`. It then measures, one
//! after the other:
//!
//! 1. Plumbline: the load benchmark's run through the shared driver
//!    (`benches/support/driver.rs`), of which the commit phase is compared: each commit stores
//!    `BLOCK_SIZE` labels.
//! 2. Label Studio: a project with a binary labeling interface and as many tasks as the load
//!    benchmark imports, then `PEER_LABELS` labels of the same seeded stream sent as
//!    annotations (`benches/support/labelstudio.rs`), each of which stores one task's label.
//!
//! Both timed phases go through the driver's `drive_with`: `CLIENTS` threads, one keep-alive
//! connection each, the next request sent as soon as the last is answered, latency from
//! sending a request to reading its whole answer. Since a request carries 10 labels on one side
//! and one on the other, the figures compare labels stored per second; latency is per request.
//!
//! Checks: no failed Plumbline request, every Plumbline batch committed and revealed, every
//! annotation Label Studio accepted stored. Label Studio's failed requests are figures, not
//! failures of the benchmark: they are how it behaves under this load. The figures go to
//! `bench/results/peer-labelstudio.{json,md}`; the process exits with 1 after writing them
//! when a check fails, and with 2 when not run by the script.
//!
//! Run: `bash bench/labelstudio/run.sh` (CLIENTS=<n>, SEED=<n> and PEER_LABELS=<n> pass
//! through).

#[path = "support/driver.rs"]
mod driver;
#[path = "support/labelstudio.rs"]
mod labelstudio;

use driver::{
    BATCHES_PER_LABELER, BLOCK_SIZE, CLIENTS_DEFAULT, Config, LABELERS, OVERLAP, Phase, TASKS,
    checklist, env_number, load_average, measure, write_results,
};
use labelstudio::LabelStudio;
use serde_json::{Value, json};

/// Labels Label Studio receives unless `PEER_LABELS` says otherwise: the first 40 blocks of
/// the stream, each labeled `OVERLAP` times. Label Studio stores a few labels per second under
/// this load, so this takes about five minutes; all 163,840 of the load benchmark's labels
/// would take most of a day.
const PEER_LABELS_DEFAULT: usize = 40 * OVERLAP as usize * BLOCK_SIZE as usize;

/// Labels Label Studio receives from one client after the timed phase: ten blocks' worth, which
/// takes it a minute or two.
const ONE_CLIENT_LABELS: usize = 10 * OVERLAP as usize * BLOCK_SIZE as usize;

/// One server's timed phase, as the figures show it.
struct Side<'a> {
    name: &'static str,
    phase: &'a Phase,
    labels_per_request: u32,
}

impl Side<'_> {
    /// Labels in the requests the server accepted: those it answered as stored.
    fn labels_stored(&self) -> usize {
        (self.phase.latencies.len() - self.phase.errors) * self.labels_per_request as usize
    }

    fn labels_per_sec(&self) -> f64 {
        self.labels_stored() as f64 / self.phase.seconds
    }

    fn summary(&self) -> Value {
        json!({
            "labels_per_request": self.labels_per_request,
            "labels_stored": self.labels_stored(),
            "labels_stored_per_sec": self.labels_per_sec(),
            "server_cpu_ms_per_label": self.phase.server_cpu_seconds * 1e3
                / self.labels_stored() as f64,
            "requests": self.phase.summary(),
        })
    }

    fn row(&self) -> String {
        let p = self.phase;
        format!(
            "| {} | {} | {} | {} | {:.2} s | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.3} |\n",
            self.name,
            p.latencies.len(),
            self.labels_per_request,
            p.errors,
            p.seconds,
            p.per_sec(),
            self.labels_per_sec(),
            p.percentile_ms(0.50),
            p.percentile_ms(0.90),
            p.percentile_ms(0.99),
            p.percentile_ms(1.0),
            p.server_cpu_seconds * 1e3 / self.labels_stored() as f64,
        )
    }
}

fn main() {
    let Some(peer) = LabelStudio::from_env() else {
        eprintln!("the peer benchmark needs a running Label Studio: bash bench/labelstudio/run.sh");
        std::process::exit(2);
    };
    let seed: u64 = env_number("SEED").unwrap_or(1);
    let clients: usize = env_number("CLIENTS").unwrap_or(CLIENTS_DEFAULT).max(1);
    let peer_labels: usize = env_number("PEER_LABELS").unwrap_or(PEER_LABELS_DEFAULT).max(1);
    eprintln!("SEED={seed} CLIENTS={clients} PEER_LABELS={peer_labels}");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let stack = std::env::var("LABEL_STUDIO_STACK").unwrap_or_else(|_| "unknown".into());

    let load_before = load_average();
    let plumbline = measure(&Config::one_server(seed, clients));
    let load_between = load_average();
    let label_studio = peer.measure(seed, clients, TASKS, peer_labels, ONE_CLIENT_LABELS);
    let load_after = load_average();

    let ours =
        Side { name: "Plumbline commit", phase: &plumbline.commit, labels_per_request: BLOCK_SIZE };
    let theirs = Side {
        name: "Label Studio annotation",
        phase: &label_studio.annotate,
        labels_per_request: 1,
    };
    let alone = Side {
        name: "Label Studio annotation, 1 client (not compared)",
        phase: &label_studio.one_client,
        labels_per_request: 1,
    };
    let ratio = ours.labels_per_sec() / theirs.labels_per_sec();
    let p99_ratio = theirs.phase.percentile_ms(0.99) / ours.phase.percentile_ms(0.99);
    let batches = plumbline.batches as u64;
    let sent = (theirs.phase.latencies.len() + alone.phase.latencies.len()) as u64;
    let accepted = (theirs.labels_stored() + alone.labels_stored()) as u64;
    let stored = label_studio.stored;
    let checks = [
        ("no failed Plumbline request".to_owned(), plumbline.errors() == 0),
        (
            format!("Plumbline counts all {batches} batches committed and revealed"),
            plumbline.committed == batches && plumbline.revealed == batches,
        ),
        // Not equal: a request that met a locked database runs again whole, so Label Studio can
        // store it twice, or store it and still answer 500.
        (
            format!("Label Studio counts at least the {accepted} annotations it accepted stored"),
            stored >= accepted,
        ),
    ];
    let passed = checks.iter().all(|(_, ok)| *ok);
    let release = label_studio.version["release"].as_str().unwrap_or("unknown").to_owned();
    let command = command(clients, seed, peer_labels);
    let locked = label_studio.locked.map_or_else(|| "unknown".to_owned(), |n| n.to_string());
    let unit = format!(
        "labels stored per second: a Plumbline commit stores {BLOCK_SIZE} labels (one batch), \
         a Label Studio annotation stores one task's label"
    );
    let checks_json: Vec<Value> =
        checks.iter().map(|(what, ok)| json!({ "check": what, "passed": ok })).collect();
    let document = json!({
        "benchmark": "peer-labelstudio",
        "command": command,
        "seed": seed,
        "cores": cores,
        "clients": clients,
        "load_average_before": load_before,
        "load_average_between": load_between,
        "load_average_after": load_after,
        "unit": unit,
        "ratio": {
            "labels_stored_per_sec": ratio,
            "label_studio_p99_over_plumbline_p99": p99_ratio,
        },
        "plumbline": {
            "version": plumbline.health["version"],
            "database": "SQLite, WAL, synchronous = FULL, commits written in groups",
            "labelers": LABELERS,
            "batches": plumbline.batches,
            "overlap": OVERLAP,
            "committed": plumbline.committed,
            "revealed": plumbline.revealed,
            "errors_all_phases": plumbline.errors(),
            "commit": ours.summary(),
        },
        "label_studio": {
            "version": release,
            "package": format!("label-studio=={release} from PyPI"),
            "server": "label-studio start: Django's threaded development server, \
                       as the package serves",
            "database": "SQLite (Label Studio's default), settings unchanged",
            "stack": stack,
            "tasks": label_studio.tasks,
            "annotations_sent": sent,
            "annotations_answered_201": accepted,
            "annotations_stored": stored,
            "database_locked_errors": label_studio.locked,
            "annotate": theirs.summary(),
            "annotate_one_client": alone.summary(),
        },
        "checks": checks_json,
        "passed": passed,
    });
    let markdown = format!(
        "# Peer: Label Studio\n\n`{command}` (release Plumbline server and Label Studio \
         {release}, both on SQLite, over loopback, {cores} cores, {clients} concurrent clients, \
         seed {seed}; load average {load_before} before, {load_between} between, {load_after} \
         after)\n\n\
         Plumbline stored {:.0} labels per second, Label Studio {:.0}: **{ratio:.0}×**. \
         Request latency p99: Plumbline {:.2} ms per commit of {BLOCK_SIZE} labels, Label Studio \
         {:.2} ms per annotation of one label ({p99_ratio:.0}×).\n\n\
         | server | requests | labels per request | failed | wall | requests per second | \
         labels stored per second | p50 ms | p90 ms | p99 ms | max ms | server CPU ms per label |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n{}{}{}\n\
         Unit: {unit}, counting the requests answered as stored; both answer only once the \
         labels are stored. Latency is per request.\n\n\
         Plumbline: the load benchmark's run (`cargo bench -p plumbline --bench load`'s \
         driver): {LABELERS} labelers with {BATCHES_PER_LABELER} batches each, a binary \
         question, blocks of {BLOCK_SIZE}, overlap {OVERLAP}; its commit phase is compared \
         (signed commits, checked and synced to disk before the answer: SQLite WAL with \
         `synchronous = FULL`, in groups of those that arrive together).\n\n\
         Label Studio {release}: `pip install label-studio=={release}` in a venv under \
         `target/`, started with `label-studio start` (Django's threaded development server, \
         which is how the package serves) on SQLite, its default, with its settings unchanged \
         ({stack}); legacy API token, `Authorization: Token ...`. One project with a binary \
         `Choices` interface and the {} tasks the load benchmark imports; the first \
         {peer_labels} labels of the same seeded stream (blocks of {BLOCK_SIZE} tasks labeled \
         {OVERLAP} times, a latent truth with 20% noise), shuffled, each sent as \
         `POST /api/tasks/{{id}}/annotations/`. During the timed phase its API met `database is \
         locked` {locked} times, each answered by sleeping a second or more and running the \
         request again (the failed requests were answered 500). After {sent} annotation requests, \
         {accepted} of them answered 201, it counted {stored} annotations: a request that runs \
         again can be stored twice, and one answered 500 can have been stored. The last row, \
         not compared, sends the next {ONE_CLIENT_LABELS} labels of the stream from one client \
         alone, after the timed phase: Label Studio's latency with no other request in \
         flight.\n\n\
         Both phases come from the same load generator, the driver's `drive_with`: each client \
         thread keeps one connection and sends its next request when the last one is answered. \
         Plumbline's signatures were made beforehand. The two servers ran one after the other; \
         the idle one waited. The clients share the machine's cores with the server, and the \
         load average counts every runnable process, this benchmark's included.\n\n\
         Checks ({}):\n\n{}",
        ours.labels_per_sec(),
        theirs.labels_per_sec(),
        ours.phase.percentile_ms(0.99),
        theirs.phase.percentile_ms(0.99),
        ours.row(),
        theirs.row(),
        alone.row(),
        label_studio.tasks,
        if passed { "all passed" } else { "FAILED" },
        checklist(&checks),
    );
    write_results("peer-labelstudio", &document, &markdown);
    println!("{document}");
    let phases = [&plumbline.join, &plumbline.commit, &plumbline.reveal, theirs.phase, alone.phase];
    for message in phases.iter().flat_map(|p| &p.failures) {
        eprintln!("failed request: {message}");
    }
    if !passed {
        eprintln!("the peer benchmark failed a check; see bench/results/peer-labelstudio.md");
        std::process::exit(1);
    }
}

/// The command that reproduces the run, with the settings that differ from the defaults.
fn command(clients: usize, seed: u64, peer_labels: usize) -> String {
    let mut command = String::new();
    for (name, value, default) in [
        ("CLIENTS", clients, CLIENTS_DEFAULT),
        ("SEED", seed as usize, 1),
        ("PEER_LABELS", peer_labels, PEER_LABELS_DEFAULT),
    ] {
        if value != default {
            command.push_str(&format!("{name}={value} "));
        }
    }
    command + "bash bench/labelstudio/run.sh"
}
