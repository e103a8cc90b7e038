//! The served venue: the server in chain mode, driven over its HTTP API exactly as the
//! simulator's server venue drives it, with the chain's clock moved in step with the server's
//! test clock. The creator escrows the pool on chain before it funds; labelers deposit their
//! stakes on chain. The first `direct_commits` labelers send their first commit to the
//! contract themselves, never to the server, and must still be revealed, settled and paid.
//! Before the reveals, the venue waits until the server's relayer has put every join and
//! commit on chain; at settlement, until the settlement is posted, and past the challenge
//! window until the payouts and the refund are.

use crate::chain::{ChainLabeler, chain_failed, one_ether};
use crate::shape::CHALLENGE_WINDOW_SECS;
use plumbline_chain::{BatchCommit, Market, Terms};
use plumbline_core::client::{SignedCommit, SignedReveal};
use plumbline_core::practice::PracticeRecord;
use plumbline_core::{Address, B256, U256};
use plumbline_sim::Result;
use plumbline_sim::servers::Servers;
use plumbline_sim::venue::{Joining, Opened, Opening, Sent, Settled, Shown, Venue};
use serde_json::Value;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// How long to wait for the server's relayer to reach a state before giving up.
const WAIT_SECS_MAX: u64 = 120;

/// The server in chain mode on `operator`'s market.
pub struct Served<'a> {
    servers: Servers,
    runtime: &'a Runtime,
    operator: &'a Market,
    direct_commits: usize,
    /// The labelers on chain, by roster index.
    labelers: &'a [ChainLabeler],
    /// The round's experiment.
    id: B256,
    /// Batches joined in the round.
    joined: usize,
    /// The commits sent to the contract by their labelers: (labeler, batch).
    pub direct: Vec<(Address, u64)>,
    /// The creator of the round and its market balance before the round.
    pub creator: (Address, U256),
    /// The experiment's relay state once everything is paid (`GET /experiments/{id}/chain`).
    pub relay: Value,
}

impl<'a> Served<'a> {
    /// A venue over `servers`, which run in chain mode on `operator`'s market; `labelers`
    /// have their deposits in the market already.
    pub fn new(
        servers: Servers,
        runtime: &'a Runtime,
        operator: &'a Market,
        labelers: &'a [ChainLabeler],
        direct_commits: usize,
    ) -> Served<'a> {
        Served {
            servers,
            runtime,
            operator,
            direct_commits,
            labelers,
            id: B256::ZERO,
            joined: 0,
            direct: Vec::new(),
            creator: (Address::ZERO, U256::ZERO),
            relay: Value::Null,
        }
    }

    /// Polls the experiment's relay state until `done` holds for it.
    fn wait_for(&self, what: &str, done: impl Fn(&Value) -> bool) -> Result<Value> {
        let started = Instant::now();
        let path = format!("/experiments/{}/chain", self.id);
        loop {
            let status: Value = self.servers.operator().get(&path)?;
            if done(&status) {
                return Ok(status);
            }
            if started.elapsed() > Duration::from_secs(WAIT_SECS_MAX) {
                return Err(chain_failed(format!(
                    "waited {WAIT_SECS_MAX} s for {what}; the relay stands at {status}"
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn chain_now(&self) -> Result<u64> {
        self.runtime.block_on(self.operator.now()).map_err(chain_failed)
    }
}

impl<'a> Venue for Served<'a> {
    /// Server and chain start at the same instant and move together.
    fn round_start(&mut self, round: u32) -> Result<u64> {
        let start = self.servers.round_start(round)?.max(self.chain_now()? + 1);
        self.advance(start)?;
        self.chain_now()
    }

    fn open(&mut self, opening: &Opening) -> Result<Opened> {
        let Opening { round, spec, tasks, pool, .. } = *opening;
        let (runtime, operator) = (self.runtime, self.operator);
        let creator_key = self.servers.creator_key(round);
        let creator =
            operator.with_key(&B256::from(creator_key.secret_bytes())).map_err(chain_failed)?;
        self.creator.0 = creator.account();
        self.creator.1 = runtime
            .block_on(async {
                operator.set_native_balance(creator.account(), one_ether()).await?;
                operator.mint(creator.account(), pool).await?;
                operator.balance_of(creator.account()).await
            })
            .map_err(chain_failed)?;
        let created = self.servers.create(&creator_key, spec, tasks)?;
        self.id = created.experiment_id;
        let chain: Value = self.servers.operator().get("/chain")?;
        let relayer: Address = chain["operator"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| chain_failed("the server names no operator"))?;
        let terms = Terms::of_spec(&created.spec, relayer, Address::ZERO, CHALLENGE_WINDOW_SECS);
        runtime.block_on(creator.create_experiment(self.id, &terms)).map_err(chain_failed)?;
        self.joined = 0;
        self.servers.fund_and_open()
    }

    /// Moves both clocks to `t`, or just past the chain's latest block if that is later
    /// (anvil's time runs on with the wall clock between blocks).
    fn advance(&mut self, t: u64) -> Result<()> {
        let to = t.max(self.chain_now()? + 1);
        self.runtime.block_on(self.operator.mine_at(to)).map_err(chain_failed)?;
        self.servers.advance(to)
    }

    /// A market contract runs one round, so nothing ends before it.
    fn ended_early(&mut self) -> Result<bool> {
        Ok(false)
    }

    fn join(&mut self, joins: &[Joining]) -> Result<Vec<Option<Shown>>> {
        let shown = self.servers.join(joins)?;
        self.joined += shown.iter().flatten().count();
        Ok(shown)
    }

    fn commit(&mut self, commits: &[Sent<SignedCommit>]) -> Result<()> {
        let mut first = HashSet::new();
        let (direct, relayed): (Vec<_>, Vec<_>) = commits
            .iter()
            .partition(|c| c.labeler < self.direct_commits && first.insert(c.labeler));
        for sent in direct {
            let labeler = &self.labelers[sent.labeler];
            let entry = BatchCommit {
                labeler: labeler.key.address(),
                batch_id: sent.batch_id,
                commit: sent.message.clone(),
            };
            self.runtime
                .block_on(labeler.market.commit_batches(self.id, &[entry], 1))
                .map_err(chain_failed)?;
            self.direct.push((labeler.key.address(), sent.batch_id));
        }
        let relayed: Vec<Sent<SignedCommit>> = relayed.into_iter().cloned().collect();
        self.servers.commit(&relayed)?;
        // The last, partial relay transactions go once their oldest entries have waited.
        let now = self.chain_now()?;
        self.advance(now + plumbline_server::chain::RELAY_WAIT_SECS)?;
        let batches = self.joined;
        let relayed = self.wait_for("every join and commit relayed", |s| {
            s["joins"] == batches
                && s["commits"] == batches
                && s["joins_relayed"] == batches
                && s["commits_relayed"] == batches
        })?;
        eprintln!(
            "relayed: {} stake locks, {} commits",
            relayed["joins_relayed"], relayed["commits_relayed"]
        );
        Ok(())
    }

    fn reveal(&mut self, reveals: &[Sent<SignedReveal>]) -> Result<()> {
        self.servers.reveal(reveals)
    }

    fn settle(&mut self, practice: Option<PracticeRecord>) -> Result<Settled> {
        self.wait_for("the settlement posted on chain", |s| !s["settle_tx"].is_null())?;
        let held =
            self.runtime.block_on(self.operator.experiment(self.id)).map_err(chain_failed)?;
        self.advance(held.rootPostedAt + u64::from(held.challengeWindowSecs) + 1)?;
        self.relay =
            self.wait_for("payouts and refund paid on chain", |s| !s["refund_tx"].is_null())?;
        self.servers.settle(practice)
    }

    fn rehearsal(&self) -> Option<Served<'a>> {
        None
    }
}
