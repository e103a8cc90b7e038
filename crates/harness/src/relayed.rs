//! The relayed venue: the protocol core runs each round in process, in the market contract's
//! domain and from the chain's clock, and once it has settled, the round is relayed on chain
//! as the operator's relayer would: the experiment was created there when it opened (the pool
//! escrowed), then its stake locks and commits go in relay transactions, its settlement is
//! posted after the reveal deadline and paid out after the challenge window, and what is left
//! of the pool is refunded. The chain's clock moves only for those last steps.

use crate::chain::chain_failed;
use crate::shape::CHALLENGE_WINDOW_SECS;
use plumbline_chain::{BatchCommit, Market, Terms, experiment_id};
use plumbline_core::Address;
use plumbline_core::practice::PracticeRecord;
use plumbline_core::record::PublicRecord;
use plumbline_sim::Result;
use plumbline_sim::in_process::InProcess;
use plumbline_sim::venue::{Joining, Opened, Opening, Sent, Settled, Shown, Venue};
use std::collections::HashMap;
use tokio::runtime::Runtime;

/// The protocol core in process, settled on chain by `operator` (also the experiments'
/// creator).
pub struct Relayed<'a> {
    core: InProcess,
    runtime: &'a Runtime,
    operator: &'a Market,
    relay_entries: usize,
}

impl<'a> Relayed<'a> {
    /// A venue for the run of `seed` on `operator`'s market, relaying `relay_entries` entries
    /// to a transaction. The labelers have their deposits in the market already.
    pub fn new(
        seed: u64,
        runtime: &'a Runtime,
        operator: &'a Market,
        relay_entries: usize,
    ) -> Relayed<'a> {
        Relayed {
            core: InProcess::in_domain(seed, operator.chain_id(), operator.address()),
            runtime,
            operator,
            relay_entries,
        }
    }

    /// Relays a settled round: stake locks and commits, then the settlement, the payouts and
    /// the refund, moving the chain's clock past each deadline they wait for.
    fn relay(&self, record: &PublicRecord) -> anyhow::Result<()> {
        let (operator, id, per_tx) = (self.operator, record.experiment_id, self.relay_entries);
        let labeler_of: HashMap<u64, Address> =
            record.joins.iter().map(|j| (j.batch_id, j.join.labeler)).collect();
        let joins: Vec<_> = record.joins.iter().map(|j| j.join.clone()).collect();
        let commits: Vec<BatchCommit> = record
            .commits
            .iter()
            .map(|c| BatchCommit {
                labeler: labeler_of[&c.batch_id],
                batch_id: c.batch_id,
                commit: c.commit.clone(),
            })
            .collect();
        let settlement = &record.settlement;
        self.runtime.block_on(async {
            operator.lock_stakes(id, &joins, per_tx).await?;
            operator.commit_batches(id, &commits, per_tx).await?;
            operator.mine_at(record.spec.reveal_deadline).await?;
            operator.settle(id, settlement).await?;
            // The challenge window runs from the settle transaction's block, whose time the
            // chain chose (a slow machine leaves it a second or more past the one mined above).
            let held = operator.experiment(id).await?;
            operator.mine_at(held.rootPostedAt + u64::from(held.challengeWindowSecs) + 1).await?;
            operator.distribute(id, settlement).await?;
            operator.refund(id).await?;
            Ok::<_, plumbline_chain::Error>(())
        })?;
        Ok(())
    }
}

impl<'a> Venue for Relayed<'a> {
    fn round_start(&mut self, _round: u32) -> Result<u64> {
        self.runtime.block_on(self.operator.now()).map_err(chain_failed)
    }

    fn open(&mut self, opening: &Opening) -> Result<Opened> {
        let Opening { round, spec, tasks, pool, .. } = *opening;
        let start = self.round_start(round)?;
        let operator = self.operator;
        let mut tag = [0u8; 12];
        tag[8..].copy_from_slice(&round.to_be_bytes());
        let id = experiment_id(operator.account(), tag);
        let terms = Terms::of_spec(spec, operator.account(), Address::ZERO, CHALLENGE_WINDOW_SECS);
        self.runtime
            .block_on(async {
                operator.mint(operator.account(), pool).await?;
                operator.create_experiment(id, &terms).await
            })
            .map_err(chain_failed)?;
        self.core.open_as(id, round, spec, tasks, start)
    }

    fn advance(&mut self, t: u64) -> Result<()> {
        self.core.advance(t)
    }

    fn join(&mut self, joins: &[Joining]) -> Result<Vec<Option<Shown>>> {
        self.core.join(joins)
    }

    fn commit(&mut self, commits: &[Sent<plumbline_core::client::SignedCommit>]) -> Result<()> {
        self.core.commit(commits)
    }

    fn reveal(&mut self, reveals: &[Sent<plumbline_core::client::SignedReveal>]) -> Result<()> {
        self.core.reveal(reveals)
    }

    fn ended_early(&mut self) -> Result<bool> {
        self.core.ended_early()
    }

    fn settle(&mut self, practice: Option<PracticeRecord>) -> Result<Settled> {
        let settled = self.core.settle(practice)?;
        eprintln!("relaying on chain...");
        self.relay(&settled.record).map_err(chain_failed)?;
        Ok(settled)
    }

    fn rehearsal(&self) -> Option<Relayed<'a>> {
        None
    }
}
