//! `plumbline tasks check`.

use super::read_input;
use crate::exit::bad_input;
use clap::{Args, Subcommand};
use plumbline_core::strata::Strata;
use plumbline_core::task;
use std::path::PathBuf;

/// Task file commands.
#[derive(Subcommand)]
pub enum TasksCommand {
    /// Validate a JSONL task file against a spec: all or nothing, naming the first bad line.
    Check(CheckArgs),
}

/// Arguments of `tasks check`.
#[derive(Args)]
pub struct CheckArgs {
    /// The JSONL task file.
    pub tasks: PathBuf,
    /// The experiment spec the tasks are for.
    #[arg(long)]
    pub spec: PathBuf,
    /// Print the summary as one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// Runs a tasks command.
pub fn run(command: TasksCommand) -> anyhow::Result<()> {
    let TasksCommand::Check(args) = command;
    let spec = super::spec::load(&args.spec)?;
    let text = read_input(&args.tasks)?;
    let tasks = task::parse_for(&text, &spec)
        .map_err(|e| bad_input(format!("{}: {e}", args.tasks.display())))?;
    let strata = Strata::of(&spec.strata, &tasks)
        .map_err(|e| bad_input(format!("{}: {e}", args.tasks.display())))?;
    let summary = task::summarize(&tasks);
    if summary.gold < spec.gold_per_batch as usize {
        return Err(bad_input(format!(
            "{}: {} gold tasks, but the spec puts {} in every batch",
            args.tasks.display(),
            summary.gold,
            spec.gold_per_batch
        )));
    }
    // A best-of experiment's first round asks only each prompt's first matches.
    let groups = match spec.rounds.as_ref().filter(|r| r.is_best_of()) {
        Some(_) => plumbline_core::knockout::groups(&tasks).map_err(bad_input)?,
        None => Vec::new(),
    };
    let (matches, first_matches) = plumbline_core::knockout::match_counts(&groups);
    let first_round = match groups.len() {
        0 => summary.regular,
        _ => first_matches as usize,
    };
    let blocks = first_round.div_ceil(spec.block_size as usize);
    let batches = blocks * spec.overlap as usize;
    if args.json {
        let mut document = serde_json::json!({
            "tasks": summary.tasks, "regular": summary.regular, "gold": summary.gold,
            "blocks": blocks, "batches": batches, "strata": strata.len(),
        });
        if !groups.is_empty() {
            document["prompts"] = groups.len().into();
            document["matches"] = matches.into();
        }
        println!("{document}");
    } else {
        let strata = match strata.len() {
            0 => String::new(),
            n => format!("; {n} strata"),
        };
        let first = if groups.is_empty() {
            String::new()
        } else {
            let prompts = match groups.len() {
                1 => "1 best-of prompt".to_owned(),
                n => format!("{n} best-of prompts"),
            };
            format!("; {prompts}, {matches} matches to decide, the first round's")
        };
        println!(
            "ok: {} tasks ({} regular, {} gold){first} in {blocks} blocks: room for {batches} \
             batches{strata}",
            summary.tasks, summary.regular, summary.gold
        );
    }
    Ok(())
}
