#![doc = include_str!("../README.md")]
//!
//! stdout carries only results; messages go to stderr. Exit codes: 0 ok, 1 failure (for
//! example an audit that does not verify), 2 bad input.

mod api;
mod cmd;
mod exit;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Plumbline: a labeling market where quality pays.
#[derive(Parser)]
#[command(name = "plumbline", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Experiment specs.
    #[command(subcommand)]
    Spec(cmd::spec::SpecCommand),
    /// Task files.
    #[command(subcommand)]
    Tasks(cmd::tasks::TasksCommand),
    /// Labeler and operator keys.
    #[command(subcommand)]
    Keys(cmd::keys::KeysCommand),
    /// The market contract on an EVM chain: deploy, deposit, withdraw, claim.
    #[command(subcommand)]
    Chain(cmd::chain::ChainCommand),
    /// Run a whole experiment in process through the real protocol and write its record.
    Demo(cmd::demo::DemoArgs),
    /// Experimenter commands over the HTTP API.
    #[command(subcommand)]
    Experiment(cmd::experiment::ExperimentCommand),
    /// A programmatic labeler over the HTTP API.
    #[command(subcommand)]
    Labeler(cmd::labeler::LabelerCommand),
    /// Credits in the embedded ledger.
    #[command(subcommand)]
    Ledger(cmd::ledger::LedgerCommand),
    /// Infer true labels from crowd labels (majority vote, Dawid-Skene, GLAD, Bradley-Terry...).
    Aggregate(cmd::aggregate::AggregateArgs),
    /// Run a real crowd dataset through scoring and settlement and compare with its truth.
    Replay(cmd::replay::ReplayArgs),
    /// What adaptive rounds buy: dynamic overlap on real data, the crowd's best of N.
    #[command(subcommand)]
    Rounds(cmd::rounds::RoundsCommand),
    /// Recompute an experiment's settlement from its public record and compare it byte for byte.
    Audit(cmd::audit::AuditArgs),
    /// Run the market server (HTTP API on a SQLite file or PostgreSQL; optionally in chain mode).
    Serve(cmd::serve::ServeArgs),
    /// Simulate a labeling market of honest and adversarial labelers through the real protocol.
    Simulate(cmd::simulate::SimulateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Spec(c) => cmd::spec::run(c),
        Command::Tasks(c) => cmd::tasks::run(c),
        Command::Keys(c) => cmd::keys::run(c),
        Command::Chain(c) => cmd::chain::run(c),
        Command::Demo(a) => cmd::demo::run(a),
        Command::Experiment(c) => cmd::experiment::run(c),
        Command::Labeler(c) => cmd::labeler::run(c),
        Command::Ledger(c) => cmd::ledger::run(c),
        Command::Aggregate(a) => cmd::aggregate::run(a),
        Command::Replay(a) => cmd::replay::run(a),
        Command::Rounds(c) => cmd::rounds::run(c),
        Command::Audit(a) => cmd::audit::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Simulate(a) => cmd::simulate::run(a),
    };
    exit::report(result)
}
