//! The shape of a measured experiment, shared by both gas harnesses, and the simulator
//! scenario it is run as: binary tasks with a latent truth, every labeler careful (right nine
//! times in ten), each taking the same number of batches, no gold and no spare blocks, so that
//! every task gets exactly `overlap` labels.

use anyhow::{Context, bail};
use clap::Args;
use plumbline_sim::scenario::Scenario;

/// How big the experiment is.
#[derive(Args, Clone, Debug)]
pub struct Shape {
    /// Regular tasks.
    #[arg(long, default_value_t = 1_000)]
    pub tasks: u32,
    /// Labels per task.
    #[arg(long, default_value_t = 5)]
    pub overlap: u32,
    /// Tasks per batch (the spec's block size).
    #[arg(long, default_value_t = 50)]
    pub tasks_per_batch: u32,
    /// Batches each labeler takes.
    #[arg(long, default_value_t = 2)]
    pub batches_per_labeler: u32,
    /// Entries per relay transaction.
    #[arg(long, default_value_t = plumbline_server::chain::RELAY_ENTRIES)]
    pub relay_entries: usize,
    /// Seed of the labelers' keys and answers.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Stake locked per batch, in base units.
pub const STAKE_PER_BATCH: u64 = 1_000_000;
/// The experimenter's reward pool, in base units.
pub const REWARD_POOL: u64 = 1_000_000_000;
/// The challenge window the experiment is created with: the contract's shortest.
pub const CHALLENGE_WINDOW_SECS: u32 = 3_600;

impl Shape {
    /// Batches in all: every task in `overlap` batches.
    pub fn batches(&self) -> u32 {
        self.tasks / self.tasks_per_batch * self.overlap
    }

    /// Labelers: every batch taken, each labeler taking `batches_per_labeler`.
    pub fn labelers(&self) -> u32 {
        self.batches() / self.batches_per_labeler
    }

    /// Labels in all.
    pub fn labels(&self) -> u64 {
        u64::from(self.tasks) * u64::from(self.overlap)
    }

    /// Refuses a shape that does not fill whole batches with whole labelers.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.tasks == 0 || self.overlap == 0 || self.tasks_per_batch == 0 {
            bail!("--tasks, --overlap and --tasks-per-batch must be positive");
        }
        if !self.tasks.is_multiple_of(self.tasks_per_batch) {
            bail!("--tasks-per-batch must divide --tasks ({})", self.tasks);
        }
        let batches = self.batches();
        if self.batches_per_labeler == 0 || !batches.is_multiple_of(self.batches_per_labeler) {
            bail!("--batches-per-labeler must divide the batch count ({batches})");
        }
        if self.relay_entries == 0 {
            bail!("--relay-entries must be positive");
        }
        Ok(())
    }

    /// The simulator scenario of this shape, run once from `seed`.
    pub fn scenario(&self) -> anyhow::Result<Scenario> {
        let text = format!(
            r#"
name = "gas"
description = "An experiment measured on chain: careful labelers on binary tasks."
runs = 1
seed = {seed}

[question]
kind = "binary"
options = ["no", "yes"]
instructions = "Answer yes or no."

[tasks]
gold = 0
spare_blocks = 0

[market]
block_size = {block}
overlap = {overlap}
batches_per_labeler = {batches}
stake_per_batch = {STAKE_PER_BATCH}
reward_pool = {REWARD_POOL}

[population]
size = {labelers}
honest = {{ share = 1.0, skill = {{ fixed = 0.9 }} }}
"#,
            seed = self.seed,
            block = self.tasks_per_batch,
            overlap = self.overlap,
            batches = self.batches_per_labeler,
            labelers = self.labelers(),
        );
        Scenario::parse(&text, std::path::Path::new(".")).context("the gas scenario does not parse")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(tasks: u32, overlap: u32, per_batch: u32, per_labeler: u32) -> Shape {
        Shape {
            tasks,
            overlap,
            tasks_per_batch: per_batch,
            batches_per_labeler: per_labeler,
            relay_entries: 50,
            seed: 1,
        }
    }

    #[test]
    fn the_default_shape_is_a_scenario_with_exactly_its_tasks_and_labelers() {
        let shape = shape(1_000, 5, 50, 2);
        shape.check().unwrap();
        assert_eq!((shape.batches(), shape.labelers(), shape.labels()), (100, 50, 5_000));
        let scenario = shape.scenario().unwrap();
        assert_eq!(scenario.regular_tasks(), 1_000);
        assert_eq!(scenario.identities(), 50);
    }

    #[test]
    fn shapes_that_do_not_divide_are_refused_by_name() {
        let message = |s: Shape| s.check().unwrap_err().to_string();
        assert!(message(shape(0, 5, 50, 2)).contains("--tasks"));
        assert!(message(shape(1_010, 5, 50, 2)).contains("--tasks-per-batch must divide"));
        assert!(message(shape(1_000, 5, 50, 3)).contains("--batches-per-labeler"));
    }
}
