//! `plumbline spec check`.

use super::read_input;
use crate::exit::bad_input;
use clap::{Args, Subcommand};
use plumbline_core::spec::{ExperimentSpec, SpecFormat};
use std::path::{Path, PathBuf};

/// Spec commands.
#[derive(Subcommand)]
pub enum SpecCommand {
    /// Validate an experiment spec (TOML, or JSON when the name ends in .json).
    Check(CheckArgs),
}

/// Arguments of `spec check`.
#[derive(Args)]
pub struct CheckArgs {
    /// The spec file.
    pub spec: PathBuf,
    /// Print the normalized spec as one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// Runs a spec command.
pub fn run(command: SpecCommand) -> anyhow::Result<()> {
    match command {
        SpecCommand::Check(args) => {
            let spec = load(&args.spec)?;
            if args.json {
                println!("{}", spec.to_json());
            } else {
                println!(
                    "ok: {} question, blocks of {} × overlap {}, {} gold per batch, \
                     stake {} per batch, pool {}, {}",
                    spec.question.kind.name(),
                    spec.block_size,
                    spec.overlap,
                    spec.gold_per_batch,
                    spec.stake_per_batch,
                    spec.reward_pool,
                    timing(&spec)
                );
            }
            Ok(())
        }
    }
}

/// When the phases end, in words, and the later rounds if any.
fn timing(spec: &ExperimentSpec) -> String {
    let first = match (spec.commit_within, spec.reveal_within) {
        (Some(commit), Some(reveal)) => {
            format!("commits for {commit} from opening, reveals for {reveal} after")
        }
        _ => format!(
            "commits until {}, reveals until {} (unix seconds)",
            spec.commit_deadline, spec.reveal_deadline
        ),
    };
    match &spec.rounds {
        Some(rounds) if rounds.is_best_of() => format!(
            "{first}; then up to {} more rounds of commits for {} and reveals for {}, each \
             asking the next comparisons of a knockout over each prompt's responses, until its \
             winner is {} sure (at most {} votes a match, {} in its first round)",
            rounds.count - 1,
            rounds.commit_within,
            rounds.reveal_within,
            rounds.confidence.as_f64(),
            rounds.labels_max,
            spec.overlap
        ),
        Some(rounds) => format!(
            "{first}; then {} more rounds of commits for {} and reveals for {}, each asking \
             for more labels where they are below {} sure, up to {} a task",
            rounds.count - 1,
            rounds.commit_within,
            rounds.reveal_within,
            rounds.confidence.as_f64(),
            rounds.labels_max
        ),
        None => first,
    }
}

/// Reads and validates a spec file; every problem is bad input.
pub fn load(path: &Path) -> anyhow::Result<ExperimentSpec> {
    let text = read_input(path)?;
    let format = SpecFormat::from_path(&path.to_string_lossy());
    ExperimentSpec::parse(&text, format).map_err(|e| bad_input(format!("{}: {e}", path.display())))
}
