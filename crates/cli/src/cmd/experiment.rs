//! `plumbline experiment ...`: the experimenter's side, over the HTTP API.

use super::{Connection, read_input};
use crate::exit::bad_input;
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// Experiment commands.
#[derive(Subcommand)]
pub enum ExperimentCommand {
    /// Create an experiment from a spec file; prints its id.
    Create {
        /// The spec (TOML, or JSON when the name ends in .json).
        spec: PathBuf,
        #[command(flatten)]
        connection: Connection,
    },
    /// Import a JSONL task file (all or nothing).
    Import {
        /// The experiment id.
        id: String,
        /// The JSONL task file.
        tasks: PathBuf,
        #[command(flatten)]
        connection: Connection,
    },
    /// Escrow the reward pool from your balance.
    Fund(IdArgs),
    /// Open the experiment to labelers.
    Open(IdArgs),
    /// Cancel a draft experiment and refund its pool.
    Cancel(IdArgs),
    /// Show the experiment and its live stats.
    Status(IdArgs),
    /// Settle now (allowed once the reveal deadline has passed).
    Settle(IdArgs),
    /// Download the dataset of a settled experiment.
    Export {
        /// The experiment id.
        id: String,
        /// trl, jsonl, csv, parquet or raw.
        #[arg(long, default_value = "trl")]
        format: String,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Download the public record of a settled experiment (for `plumbline audit`).
    Record {
        /// The experiment id.
        id: String,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        connection: Connection,
    },
}

/// An experiment id and a connection.
#[derive(Args)]
pub struct IdArgs {
    /// The experiment id.
    pub id: String,
    #[command(flatten)]
    pub connection: Connection,
}

const EXPORT_FORMATS: [&str; 5] = ["trl", "jsonl", "csv", "parquet", "raw"];

/// Runs an experiment command.
pub fn run(command: ExperimentCommand) -> anyhow::Result<()> {
    match command {
        ExperimentCommand::Create { spec, connection } => {
            let spec = super::spec::load(&spec)?;
            let api = connection.signed_in()?;
            let created: serde_json::Value =
                api.post("/experiments", &serde_json::json!({ "spec": spec }))?;
            println!("{}", created["experiment_id"].as_str().unwrap_or_default());
            eprintln!("created a draft experiment: {}", created["title"]);
        }
        ExperimentCommand::Import { id, tasks, connection } => {
            let text = read_input(&tasks)?;
            let api = connection.signed_in()?;
            let path = format!("/experiments/{id}/tasks");
            let summary: serde_json::Value = api.post_text(&path, "application/x-ndjson", text)?;
            println!("{summary}");
        }
        ExperimentCommand::Fund(a) => print_action(a, "fund")?,
        ExperimentCommand::Open(a) => print_action(a, "open")?,
        ExperimentCommand::Cancel(a) => print_action(a, "cancel")?,
        ExperimentCommand::Settle(a) => print_action(a, "settle")?,
        ExperimentCommand::Status(IdArgs { id, connection }) => {
            let api = connection.anonymous();
            let experiment: serde_json::Value = api.get(&format!("/experiments/{id}"))?;
            let stats: serde_json::Value = api.get(&format!("/experiments/{id}/stats"))?;
            let document = serde_json::json!({ "experiment": experiment, "stats": stats });
            println!("{document:#}");
        }
        ExperimentCommand::Export { id, format, out, connection } => {
            if !EXPORT_FORMATS.contains(&format.as_str()) {
                return Err(bad_input(format!(
                    "unknown export format {format:?}; use one of {}",
                    EXPORT_FORMATS.join(", ")
                )));
            }
            let api = connection.anonymous();
            let bytes = api.get_bytes(&format!("/experiments/{id}/export?format={format}"))?;
            write_out(out, &bytes)?;
        }
        ExperimentCommand::Record { id, out, connection } => {
            let api = connection.anonymous();
            let bytes = api.get_bytes(&format!("/experiments/{id}/record"))?;
            write_out(out, &bytes)?;
        }
    }
    Ok(())
}

fn print_action(args: IdArgs, action: &str) -> anyhow::Result<()> {
    let api = if action == "settle" {
        args.connection.anonymous()
    } else {
        args.connection.signed_in()?
    };
    let answer: serde_json::Value =
        api.post(&format!("/experiments/{}/{action}", args.id), &serde_json::json!({}))?;
    println!("{answer:#}");
    Ok(())
}

fn write_out(out: Option<PathBuf>, bytes: &[u8]) -> anyhow::Result<()> {
    match out {
        Some(path) => {
            std::fs::write(&path, bytes)
                .map_err(|e| bad_input(format!("cannot write {}: {e}", path.display())))?;
            eprintln!("wrote {} bytes to {}", bytes.len(), path.display());
        }
        None => {
            use std::io::Write;
            std::io::stdout().write_all(bytes)?;
        }
    }
    Ok(())
}
