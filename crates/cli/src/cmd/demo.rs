//! `plumbline demo`: a whole experiment in process, through the real protocol.

use crate::exit::bad_input;
use clap::Args;
use plumbline_core::settle::Tier;
use plumbline_core::synthetic::{self, Behavior, Params};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Arguments of `demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// Seed of the run; the same seed gives the same record, byte for byte.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Directory for the public record (`record.json`).
    #[arg(long, default_value = "plumbline-demo")]
    pub out: PathBuf,
    /// Print the settlement as one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The demo crowd: careful, sloppy, lazy, random, adversarial and silent labelers.
const CROWD: [(&str, Behavior, usize); 6] = [
    ("careful (95% right)", Behavior::Accurate(950_000), 10),
    ("sloppy (75% right)", Behavior::Accurate(750_000), 4),
    ("lazy (always \"yes\")", Behavior::Constant(1), 2),
    ("random", Behavior::Random, 2),
    ("adversarial (10% right)", Behavior::Accurate(100_000), 2),
    ("silent (never reveals)", Behavior::Silent, 2),
];

/// Runs a 22-labeler binary experiment from open to settlement, writes its public record, and
/// prints who was rewarded, left even or slashed.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let labelers: Vec<Behavior> =
        CROWD.iter().flat_map(|(_, behavior, n)| std::iter::repeat_n(*behavior, *n)).collect();
    let kinds: Vec<&str> =
        CROWD.iter().flat_map(|(name, _, n)| std::iter::repeat_n(*name, *n)).collect();
    let params = Params {
        spec: synthetic::binary_spec(80, 4, 30),
        regular_tasks: 480,
        gold_tasks: 60,
        positive_rate: 500_000,
        labelers,
        reputations: BTreeMap::new(),
    };
    eprintln!(
        "running {} labelers through join, commit, reveal and settlement (seed {})...",
        kinds.len(),
        args.seed
    );
    let run = synthetic::run(&params, args.seed)?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| bad_input(format!("cannot create {}: {e}", args.out.display())))?;
    let record_path = args.out.join("record.json");
    std::fs::write(&record_path, run.record.to_json())?;
    let settlement = &run.record.settlement;
    if args.json {
        println!("{}", serde_json::to_string(settlement)?);
    } else {
        println!(
            "{:<44} {:<26} {:>9} {:>9} {:>12}",
            "labeler", "behaviour", "score", "tier", "payout"
        );
        for (address, kind) in run.addresses.iter().zip(&kinds) {
            let Some(l) = settlement.labelers.iter().find(|l| l.labeler == *address) else {
                continue;
            };
            let score = l.score.map_or("-".to_string(), |s| format!("{:.3}", s as f64 / 1e6));
            let tier = match l.tier {
                _ if l.revealed_batches == 0 => "no reveal",
                Tier::Rewarded => "rewarded",
                Tier::Even => "even",
                Tier::Slashed => "slashed",
            };
            println!("{address:<44} {kind:<26} {score:>9} {tier:>9} {:>12}", l.payout);
        }
        let t = &settlement.totals;
        println!(
            "pool {} + stakes {} = rewards {} + stakes returned {} + refund {} + burned {}",
            t.reward_pool, t.stakes, t.rewards, t.stakes_returned, t.refund, t.burned
        );
    }
    eprintln!(
        "wrote the public record to {}; check it with: plumbline audit {}",
        record_path.display(),
        record_path.display()
    );
    Ok(())
}
