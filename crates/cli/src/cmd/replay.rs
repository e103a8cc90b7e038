//! `plumbline replay`: a real dataset through scoring and settlement.

use crate::exit::bad_input;
use clap::Args;
use plumbline_sim::plot::score_against_accuracy;
use plumbline_sim::replay::{ReplayOptions, replay};
use std::path::PathBuf;

/// Arguments of `replay`.
#[derive(Args)]
pub struct ReplayArgs {
    /// Labels in crowd-kit long format: `task,worker,label`.
    #[arg(long)]
    pub input: PathBuf,
    /// Ground truth `task,truth`.
    #[arg(long)]
    pub truth: PathBuf,
    /// Share of the tasks with truth used as hidden gold.
    #[arg(long, default_value_t = 0.1)]
    pub gold_fraction: f64,
    /// Seed of the gold draw.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write an SVG plot of score against true accuracy here.
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

/// Runs `replay`.
pub fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let (data, truth) = super::read_labels_and_truth(&args.input, &args.truth)?;
    let options = ReplayOptions { gold_fraction: args.gold_fraction, seed: args.seed };
    let report = replay(&data, &truth, &options).map_err(bad_input)?;
    if let Some(path) = &args.plot {
        let points: Vec<_> = report
            .per_worker
            .iter()
            .filter_map(|w| Some((w.true_accuracy?, w.score?, w.tier)))
            .collect();
        let title = format!("{}: score against true accuracy", args.input.display());
        std::fs::write(path, score_against_accuracy(&title, &points))
            .map_err(|e| bad_input(format!("cannot write {}: {e}", path.display())))?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!("{:<24} {:>7} {:>8} {:>9} {:>9}", "worker", "labels", "score", "tier", "accuracy");
    for w in &report.per_worker {
        let score = w.score.map_or("-".into(), |s| format!("{s:.3}"));
        let accuracy = w.true_accuracy.map_or("-".into(), |a| format!("{a:.3}"));
        let tier = format!("{:?}", w.tier).to_lowercase();
        println!("{:<24} {:>7} {score:>8} {tier:>9} {accuracy:>9}", w.worker, w.labels);
    }
    println!(
        "{} tasks, {} workers, {} labels; {} gold, {} evaluated (seed {})",
        report.tasks,
        report.workers,
        report.labels,
        report.gold_tasks,
        report.evaluation_tasks,
        report.seed
    );
    println!(
        "workers with accuracy >= 0.8 and >= 20 labels: {} ({} rewarded, {} even, {} slashed)",
        report.accurate.workers,
        report.accurate.rewarded,
        report.accurate.even,
        report.accurate.slashed
    );
    println!(
        "workers with accuracy < 0.6 and >= 20 labels: {} ({} rewarded, {} even, {} slashed)",
        report.inaccurate.workers,
        report.inaccurate.rewarded,
        report.inaccurate.even,
        report.inaccurate.slashed
    );
    println!(
        "exported dataset (slashed left out, Dawid-Skene): {:.2}%; Dawid-Skene over everyone: {:.2}%",
        100.0 * report.exported_accuracy,
        100.0 * report.ds_accuracy
    );
    Ok(())
}
