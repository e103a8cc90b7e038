//! `plumbline simulate`: a market simulation over many seeds, in process or against servers.

use crate::exit::{Failed, bad_input};
use clap::Args;
use plumbline_sim::SimError;
use plumbline_sim::scenario::Scenario;
use plumbline_sim::servers::ServerTarget;
use plumbline_sim::simulate::{Options, simulate, write_report};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `simulate`.
#[derive(Args)]
pub struct SimulateArgs {
    /// The scenario (TOML; see `scenarios/` and `docs/simulation.md`).
    #[arg(long)]
    pub scenario: PathBuf,
    /// The first seed (default: the scenario's); run r uses seed + r.
    #[arg(long)]
    pub seed: Option<u64>,
    /// How many runs (default: the scenario's).
    #[arg(long)]
    pub runs: Option<u32>,
    /// Drive running servers over HTTP instead of running in process; labelers are spread
    /// round-robin over the URLs.
    #[arg(long, value_delimiter = ',')]
    pub server: Vec<String>,
    /// The operator's key file for --server (default: the scenario's `server.operator_key`).
    #[arg(long)]
    pub operator_key: Option<PathBuf>,
    /// Threads: runs in parallel in process, client threads with --server (default: one per
    /// core in process, the scenario's `server.threads` with --server).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Write report.json, report.md, roi.svg and scores.svg into this directory.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Print the report as one JSON document instead of markdown.
    #[arg(long)]
    pub json: bool,
    /// Exit 1 when a target of the mechanism is not met.
    #[arg(long)]
    pub check: bool,
}

/// Runs `simulate`.
pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let scenario = Scenario::load(&args.scenario)
        .map_err(|e| bad_input(format!("{}: {e}", args.scenario.display())))?;
    let mut options = Options::of(&scenario);
    if let Some(seed) = args.seed {
        options.seed = seed;
    }
    if let Some(runs) = args.runs {
        if runs == 0 || runs > plumbline_sim::scenario::RUNS_MAX {
            return Err(bad_input(format!(
                "--runs must be 1 to {}",
                plumbline_sim::scenario::RUNS_MAX
            )));
        }
        options.runs = runs;
    }
    if let Some(threads) = args.threads {
        if threads == 0 || threads > 256 {
            return Err(bad_input("--threads must be 1 to 256"));
        }
        options.threads = threads;
    }
    if !args.server.is_empty() {
        let key_file = args
            .operator_key
            .clone()
            .or_else(|| scenario.server.operator_key.as_ref().map(|p| scenario.resolve(p)))
            .ok_or_else(|| {
                bad_input("--server needs the operator's key: pass --operator-key FILE or set server.operator_key")
            })?;
        let operator = crate::api::load_key(Some(&key_file))?;
        let threads = args.threads.map_or(scenario.server.threads, |t| t as u32);
        options.server = Some(ServerTarget { urls: args.server.clone(), operator, threads });
    }

    let started = Instant::now();
    let interactive = std::io::stderr().is_terminal();
    let name = scenario.name.clone();
    let progress = move |done: usize, total: usize| {
        if interactive {
            let width = 30;
            let filled = done * width / total.max(1);
            eprint!(
                "\r{name} [{}{}] {done}/{total} runs",
                "#".repeat(filled),
                ".".repeat(width - filled)
            );
            let _ = std::io::stderr().flush();
        }
    };
    let simulation = simulate(&scenario, &options, &progress).map_err(|e| match e {
        SimError::Parse(_) | SimError::Invalid { .. } | SimError::Tasks(_) => bad_input(e),
        other => anyhow::Error::new(other),
    })?;
    if interactive {
        eprintln!();
    }
    eprintln!(
        "simulated {} run(s) of {} in {:.1} s",
        options.runs,
        scenario.name,
        started.elapsed().as_secs_f64()
    );
    let command = command_line();
    if let Some(dir) = &args.report {
        write_report(&simulation, dir, &command)?;
        eprintln!("wrote the report to {}", dir.display());
    }
    let report = &simulation.report;
    if args.json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", plumbline_sim::report::markdown(report, &command));
    }
    let missed: Vec<&str> =
        report.targets.iter().filter(|t| !t.met).map(|t| t.name.as_str()).collect();
    if args.check && !missed.is_empty() {
        return Err(anyhow::Error::new(Failed(format!("targets not met: {}", missed.join(", ")))));
    }
    Ok(())
}

/// The command line as typed, for the report.
fn command_line() -> String {
    let mut args: Vec<String> = std::env::args().collect();
    if let Some(first) = args.first_mut() {
        *first = "plumbline".into();
    }
    args.iter()
        .map(|a| if a.contains(' ') { format!("'{a}'") } else { a.clone() })
        .collect::<Vec<_>>()
        .join(" ")
}
