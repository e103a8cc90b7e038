//! `plumbline rounds`: what adaptive rounds buy, measured before an experiment uses them.
//! `overlap` replays dynamic overlap on a real crowd dataset; `best-of` simulates the crowd's
//! best of N against a replicated knockout.

use crate::exit::bad_input;
use clap::{Args, Subcommand};
use plumbline_core::adaptive::best_of::BestOfRule;
use plumbline_core::adaptive::overlap::OverlapRule;
use plumbline_core::fixed::Ppm;
use plumbline_sim::best_of::{BestOfSetup, MethodSummary};
use std::path::PathBuf;

/// The `rounds` subcommands.
#[derive(Subcommand)]
pub enum RoundsCommand {
    /// Replay dynamic overlap on a crowd dataset with truth: the labels it needs and the
    /// accuracy it reaches, against every label and against a fixed overlap of the same size.
    Overlap(OverlapArgs),
    /// Simulate the crowd's best of N responses: how often the best is chosen, with how many
    /// comparisons, against a replicated knockout on the same responses and labelers.
    BestOf(BestOfArgs),
}

/// Arguments of `rounds overlap`.
#[derive(Args)]
pub struct OverlapArgs {
    /// Labels in crowd-kit long format: `task,worker,label`.
    #[arg(long)]
    pub input: PathBuf,
    /// Ground truth `task,truth`.
    #[arg(long)]
    pub truth: PathBuf,
    /// Labels every task gets in the first round.
    #[arg(long, default_value_t = 3)]
    pub start: u32,
    /// The most labels a task gets (default: all it has).
    #[arg(long, default_value_t = u32::MAX)]
    pub max: u32,
    /// How sure a task's weighted vote must be before it gets no more labels.
    #[arg(long, default_value_t = 0.99)]
    pub confidence: f64,
    /// Seed of the order in which each task's labels arrive.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print one JSON document instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `rounds best-of`.
#[derive(Args)]
pub struct BestOfArgs {
    /// Responses per prompt (2 to 64).
    #[arg(long, default_value_t = 64)]
    pub responses: u32,
    /// Labelers available.
    #[arg(long, default_value_t = 20)]
    pub labelers: u32,
    /// The most comparisons one labeler is asked.
    #[arg(long, default_value_t = 40)]
    pub per_labeler: u32,
    /// Practice comparisons with known answers each labeler answered before (its vote weight).
    #[arg(long, default_value_t = 10)]
    pub gold: u32,
    /// Spread of response quality under Bradley-Terry (default: none, the better response is
    /// always the truth and only the labelers' skill is noise).
    #[arg(long)]
    pub spread: Option<f64>,
    /// The chance, under the vote model, that the winner is the best.
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
    /// The most comparisons one tournament asks for (default: 6.25 per response, 400 for 64).
    #[arg(long)]
    pub budget: Option<u32>,
    /// Votes per match of the replicated knockout it is compared with.
    #[arg(long, default_value_t = 9)]
    pub peer_votes: u32,
    /// Runs.
    #[arg(long, default_value_t = 1000)]
    pub runs: u32,
    /// Also play the tournament this many times as rounds of one experiment through the
    /// protocol (joins, commits, reveals, settlement), without a spread.
    #[arg(long, default_value_t = 0)]
    pub experiment_runs: u32,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print one JSON document instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// Runs a `rounds` subcommand.
pub fn run(command: RoundsCommand) -> anyhow::Result<()> {
    match command {
        RoundsCommand::Overlap(args) => overlap(args),
        RoundsCommand::BestOf(args) => best_of(args),
    }
}

fn overlap(args: OverlapArgs) -> anyhow::Result<()> {
    let confidence =
        Ppm::from_f64(args.confidence).map_err(|e| bad_input(format!("--confidence: {e}")))?;
    let rule = OverlapRule { start: args.start, max: args.max, confidence };
    rule.validate().map_err(bad_input)?;
    let (data, truth) = super::read_labels_and_truth(&args.input, &args.truth)?;
    let r = plumbline_sim::dynamic_overlap::replay(&data, &truth, &rule, args.seed)
        .map_err(bad_input)?;
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
        return Ok(());
    }
    println!("{} tasks, {} with truth; seed {}", r.tasks, r.evaluated, args.seed);
    println!("{:<28} {:>8} {:>7} {:>9}", "", "labels", "share", "accuracy");
    let row = |name: &str, labels: usize, accuracy: f64| {
        let share = labels as f64 / r.labels_full as f64;
        println!("{name:<28} {labels:>8} {share:>7.3} {:>9.4}", accuracy);
    };
    row("every label", r.labels_full, r.accuracy_full);
    row(&format!("dynamic overlap ({} rounds)", r.rounds), r.labels_dynamic, r.accuracy_dynamic);
    row("fixed overlap, same budget", r.labels_fixed, r.accuracy_fixed);
    Ok(())
}

fn best_of(args: BestOfArgs) -> anyhow::Result<()> {
    if args.labelers == 0 || args.per_labeler == 0 || args.runs == 0 || args.peer_votes == 0 {
        return Err(bad_input(
            "--labelers, --per-labeler, --runs and --peer-votes must be positive",
        ));
    }
    if args.spread.is_some_and(|s| !(s.is_finite() && s > 0.0)) {
        return Err(bad_input("--spread must be a positive number"));
    }
    if args.spread.is_some() && args.experiment_runs > 0 {
        return Err(bad_input("--experiment-runs plays responses without a spread"));
    }
    let confidence =
        Ppm::from_f64(args.confidence).map_err(|e| bad_input(format!("--confidence: {e}")))?;
    let budget = args.budget.unwrap_or(BestOfRule::budget_for(args.responses));
    let rule = BestOfRule { confidence, budget, ..BestOfRule::default() };
    rule.validate(args.responses).map_err(bad_input)?;
    let setup = BestOfSetup {
        responses: args.responses,
        labelers: args.labelers,
        per_labeler_max: args.per_labeler,
        gold: args.gold,
        spread: args.spread,
        rule,
        peer_votes: args.peer_votes,
        runs: args.runs,
        seed: args.seed,
        ..BestOfSetup::default()
    };
    let mut report = plumbline_sim::best_of::run(&setup);
    if args.experiment_runs > 0 {
        report.in_experiment =
            Some(plumbline_sim::best_of::run_in_experiments(&setup, args.experiment_runs));
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!(
        "best of {} with {} labelers (at most {} comparisons each), {} runs, seed {}",
        args.responses, args.labelers, args.per_labeler, args.runs, args.seed
    );
    println!(
        "{:<28} {:>6} {:>9} {:>8} {:>12} {:>7}",
        "", "best", "compared", "most", "per labeler", "rounds"
    );
    let row = |name: &str, m: &MethodSummary| {
        println!(
            "{name:<28} {:>6.3} {:>9.1} {:>8} {:>12} {:>7.1}",
            m.best_chosen, m.comparisons_mean, m.comparisons_max, m.per_labeler_max, m.rounds_mean
        );
    };
    row("adaptive tournament", &report.tournament);
    row(&format!("knockout, {} votes a match", args.peer_votes), &report.replicated_knockout);
    if let Some(m) = &report.in_experiment {
        row(&format!("as rounds, {} experiments", args.experiment_runs), m);
    }
    Ok(())
}
