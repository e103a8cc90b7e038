//! Running a scenario over many seeds and writing its report.
//!
//! In process, runs are independent and spread over threads; each run's outcome depends only
//! on its seed, so the report is the same bytes whatever the thread count. With servers, runs
//! go one after the other (each drives the servers with its own client threads).

use crate::analysis::{RunOutcome, analyze};
use crate::chart::roi_chart;
use crate::error::{Result, SimError};
use crate::in_process::{self, START};
use crate::plot::score_against_accuracy;
use crate::report::{self, Report, ServerStats};
use crate::scenario::Scenario;
use crate::servers::{self, ServerTarget};
use crate::tasks::Pool;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How to run a scenario.
#[derive(Clone, Debug)]
pub struct Options {
    /// The first seed; run r uses `seed + r`.
    pub seed: u64,
    /// How many runs.
    pub runs: u32,
    /// Threads for in-process runs.
    pub threads: usize,
    /// Drive these servers instead of running in process.
    pub server: Option<ServerTarget>,
}

impl Options {
    /// The scenario's own seed and run count, one thread per core.
    pub fn of(scenario: &Scenario) -> Options {
        Options {
            seed: scenario.seed,
            runs: scenario.runs,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            server: None,
        }
    }
}

/// A full simulation: its report and the first run's score plot points.
#[derive(Clone, Debug)]
pub struct Simulation {
    /// The report.
    pub report: Report,
    /// Score against true label accuracy, per labeler of the first run's first experiment.
    pub points: Vec<crate::analysis::ScorePoint>,
}

/// Runs a scenario; `progress(done, total)` is called after each run.
pub fn simulate(
    scenario: &Scenario,
    options: &Options,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Simulation> {
    let pool = if scenario.tasks.is_synthetic() {
        None
    } else {
        Some(Pool::load(&scenario.resolve(Path::new(&scenario.tasks.source)))?)
    };
    let total = options.runs as usize;
    let seeds: Vec<u64> =
        (0..options.runs).map(|r| options.seed.wrapping_add(u64::from(r))).collect();
    let (outcomes, mode, server) = match &options.server {
        None => (
            in_process(scenario, pool.as_ref(), &seeds, options.threads, progress)?,
            "in_process",
            None,
        ),
        Some(target) => {
            let mut stats = ServerStats::default();
            let mut outcomes = Vec::new();
            for (done, seed) in seeds.iter().enumerate() {
                let run = servers::run(scenario, pool.as_ref(), *seed, target, &mut stats)?;
                outcomes.push(analyze(&run.agents, &run.rounds, &scenario.baseline, run.seed));
                progress(done + 1, total);
            }
            (outcomes, "server", Some(stats))
        }
    };
    let spec = scenario.spec(START)?;
    let points = outcomes.first().map(|o| o.points.clone()).unwrap_or_default();
    Ok(Simulation { report: report::build(scenario, &spec, &outcomes, mode, server), points })
}

fn in_process(
    scenario: &Scenario,
    pool: Option<&Pool>,
    seeds: &[u64],
    threads: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<RunOutcome>> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<Result<RunOutcome>>>> =
        Mutex::new(seeds.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, seeds.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= seeds.len() {
                        break;
                    }
                    let outcome = in_process::run(scenario, pool, seeds[i])
                        .map(|run| analyze(&run.agents, &run.rounds, &scenario.baseline, run.seed));
                    slots.lock().expect("no thread panics holding it")[i] = Some(outcome);
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1, seeds.len());
                }
            });
        }
    });
    slots
        .into_inner()
        .expect("no thread panics holding it")
        .into_iter()
        .map(|slot| slot.expect("every run was taken"))
        .collect()
}

/// Writes `report.json`, `report.md`, `roi.svg` and `scores.svg` into `dir` (created if
/// missing); `command` is the command line recorded in the markdown.
pub fn write_report(simulation: &Simulation, dir: &Path, command: &str) -> Result<()> {
    let io = |e: std::io::Error| SimError::Write {
        path: dir.display().to_string(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let report = &simulation.report;
    let json = serde_json::to_string_pretty(report).expect("reports serialize");
    std::fs::write(dir.join("report.json"), json + "\n").map_err(io)?;
    std::fs::write(dir.join("report.md"), report::markdown(report, command)).map_err(io)?;
    std::fs::write(dir.join("roi.svg"), roi_chart(report)).map_err(io)?;
    let title = format!("{}: score against true label accuracy (first run)", report.scenario);
    std::fs::write(dir.join("scores.svg"), score_against_accuracy(&title, &simulation.points))
        .map_err(io)?;
    Ok(())
}
