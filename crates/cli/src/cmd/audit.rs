//! `plumbline audit`.

use super::read_input;
use crate::exit::{Failed, bad_input};
use clap::Args;
use plumbline_core::record::{PublicRecord, audit};
use std::path::PathBuf;

/// Arguments of `audit`.
#[derive(Args)]
pub struct AuditArgs {
    /// The experiment's public record (JSON).
    pub record: PathBuf,
    /// Print the report as one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// Replays the record and compares the recomputed settlement with the published one:
/// exit 0 when it verifies, 1 when it does not (naming the first mismatch), 2 when the record
/// cannot be read.
pub fn run(args: AuditArgs) -> anyhow::Result<()> {
    let text = read_input(&args.record)?;
    let record = PublicRecord::from_json(&text)
        .map_err(|e| bad_input(format!("{} is not a public record: {e}", args.record.display())))?;
    match audit(&record) {
        Ok(report) => {
            if args.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "verified: experiment {} — {} joins, {} commits, {} reveals, {} labelers, \
                     payout root {}",
                    report.experiment_id,
                    report.joins,
                    report.commits,
                    report.reveals,
                    report.labelers,
                    report.payout_root
                );
            }
            Ok(())
        }
        Err(failure) => {
            Err(anyhow::Error::new(Failed(format!("the record does not verify: {failure}"))))
        }
    }
}
