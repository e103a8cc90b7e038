//! `plumbline-bench`: harnesses that measure a whole market on a fresh anvil (see the crate's
//! README). Exit 0 when the measurement is made and the money checks out, 2 for arguments
//! that do not make an experiment, 1 for anything else.

use clap::{Args, Parser, Subcommand};
use plumbline_harness::gas::{Measured, relay_gas, server_gas};
use plumbline_harness::shape::Shape;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "plumbline-bench",
    version,
    about = "Harnesses that measure a whole Plumbline market"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Gas of one experiment through the server in chain mode on a fresh anvil.
    Gas(ServerGasArgs),
    /// Gas of one experiment run in process and relayed on a fresh anvil as the operator
    /// would, without the server.
    RelayGas(RelayGasArgs),
}

#[derive(Args)]
struct ServerGasArgs {
    #[command(flatten)]
    shape: Shape,
    /// Labelers whose first commit never reaches the server: they commit on chain themselves.
    #[arg(long, default_value_t = 0)]
    direct_commits: u32,
    #[command(flatten)]
    output: Output,
}

#[derive(Args)]
struct RelayGasArgs {
    #[command(flatten)]
    shape: Shape,
    #[command(flatten)]
    output: Output,
}

#[derive(Args)]
struct Output {
    /// Also write the experiment's public record here.
    #[arg(long)]
    record: Option<PathBuf>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let shape = match &cli.command {
        Command::Gas(args) => &args.shape,
        Command::RelayGas(args) => &args.shape,
    };
    if let Err(e) = shape.check() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (measured, output, what) = match command {
        Command::Gas(args) => {
            let dir =
                std::env::temp_dir().join(format!("plumbline-bench-gas-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let measured = server_gas(&args.shape, args.direct_commits, &runtime, &dir);
            let _ = std::fs::remove_dir_all(&dir);
            (measured?, args.output, "through the server")
        }
        Command::RelayGas(args) => {
            (relay_gas(&args.shape, &runtime)?, args.output, "relayed from the core")
        }
    };
    runtime.shutdown_timeout(Duration::from_secs(5));
    print(&measured, &output, what)
}

fn print(measured: &Measured, output: &Output, what: &str) -> anyhow::Result<()> {
    if let Some(path) = &output.record {
        std::fs::write(path, measured.record.to_json())
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    let report = &measured.report;
    if output.json {
        println!("{report}");
        return Ok(());
    }
    println!(
        "{} labels ({} tasks x {}, {} batches of {}, {} labelers) {what}: {} gas, {} per label",
        report["labels"],
        report["tasks"],
        report["overlap"],
        report["batches"],
        report["tasks_per_batch"],
        report["labelers"],
        report["gas_total"],
        report["gas_per_label"]
    );
    for (name, call) in report["gas"].as_object().into_iter().flatten() {
        println!("  {name}: {} transactions, {} gas", call["transactions"], call["gas"]);
    }
    Ok(())
}
