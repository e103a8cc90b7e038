//! Chain mode: the same API with the money in a `PlumblineMarket` contract instead of the
//! embedded ledger. The protocol log, checks and settlement stay exactly as in embedded mode;
//! what changes is where money is held and where messages are signed:
//!
//! - an experiment's id is its creator's address and 12 random bytes (the contract requires
//!   it), and its EIP-712 domain is (chain id, market) rather than the embedded one;
//! - the creator escrows the pool on chain itself (`createExperiment`), and funding here only
//!   checks that escrow's terms against the spec;
//! - a join needs the labeler's free balance in the market, not in the ledger;
//! - the relayer ([`relay`]) carries joins and commits to the contract in batches, adopts
//!   commits that labelers sent there themselves, and posts, pays out and refunds each
//!   settlement once.

pub mod config;
pub mod relay;

pub use config::{ChainConfig, RELAY_ENTRIES, RELAY_MARGIN_SECS, RELAY_WAIT_SECS, domain_of};

use crate::fault::{Reason, ServiceError, ServiceResult, chain_failed};
use crate::state::{AppState, random_b256};
use plumbline_chain::Terms;
use plumbline_core::client::SignedJoin;
use plumbline_core::lifecycle::Phase;
use plumbline_core::record::JoinEntry;
use plumbline_core::{Address, B256, U256};
use plumbline_store::{ChainRelay, ExperimentRow, OnChain};
use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};

impl AppState {
    /// The chain setup, in chain mode.
    pub fn chain(&self) -> Option<&ChainConfig> {
        self.config().chain.as_ref()
    }

    /// The chain setup for an experiment whose money is on chain: it must be this server's
    /// market.
    pub(crate) fn chain_of(&self, row: &ExperimentRow) -> ServiceResult<&ChainConfig> {
        match (self.chain(), row.market) {
            (Some(chain), Some(on_chain)) if chain.on_chain() == on_chain => Ok(chain),
            (_, Some(on_chain)) => Err(ServiceError::conflict(format!(
                "experiment {} keeps its money in market {} on chain {}, which this server \
                 does not serve",
                row.experiment_id, on_chain.market, on_chain.chain_id
            ))),
            (_, None) => Err(ServiceError::conflict(format!(
                "experiment {} keeps its money in the embedded ledger",
                row.experiment_id
            ))),
        }
    }

    /// A new experiment's id and where its money will be: in chain mode the creator's address
    /// and 12 random bytes, on this server's market; otherwise 32 random bytes.
    pub(crate) fn new_experiment_id(
        &self,
        creator: Address,
    ) -> ServiceResult<(B256, Option<OnChain>)> {
        let random = random_b256()?;
        match self.chain() {
            Some(chain) => {
                let mut tag = [0u8; 12];
                tag.copy_from_slice(&random[..12]);
                Ok((plumbline_chain::experiment_id(creator, tag), Some(chain.on_chain())))
            }
            None => Ok((random, None)),
        }
    }

    /// Funds a chain experiment: checks that the creator created it on chain with the terms
    /// of its spec and this server as operator (so the pool is in the contract's escrow), then
    /// marks it funded and starts its relay state. A mismatch is refused and changes nothing.
    pub(crate) async fn fund_on_chain(&self, row: &ExperimentRow, now: u64) -> ServiceResult<()> {
        let chain = self.chain_of(row)?;
        let market = &chain.market;
        let id = row.experiment_id;
        if row.phase != Phase::Draft || row.funded {
            return Err(ServiceError::conflict(if row.funded {
                "the experiment is already funded".to_string()
            } else {
                format!("cannot fund: the experiment is {}", row.phase)
            }));
        }
        let held = market.experiment(id).await.map_err(chain_failed)?;
        if held.creator == Address::ZERO {
            return Err(ServiceError::new(
                Reason::Conflict,
                "not_on_chain",
                format!(
                    "experiment {id} does not exist in market {} yet: create it on chain first \
                     (createExperiment with the spec's terms and operator {}; \
                     `plumbline experiment fund --chain-rpc URL` does it)",
                    market.address(),
                    chain.operator()
                ),
            ));
        }
        let wanted = Terms::of_spec(&row.spec, chain.operator(), Address::ZERO, 0);
        let mut wrong = Vec::new();
        let mut differ = |field: &str, on_chain: String, expected: String| {
            if on_chain != expected {
                wrong.push(format!("{field} is {on_chain} on chain, the spec says {expected}"));
            }
        };
        differ("creator", held.creator.to_string(), row.creator.to_string());
        differ("specHash", held.specHash.to_string(), wanted.spec_hash.to_string());
        differ("pool", held.pool.to_string(), wanted.pool.to_string());
        differ("stakePerBatch", held.stakePerBatch.to_string(), wanted.stake_per_batch.to_string());
        differ(
            "commitDeadline",
            held.commitDeadline.to_string(),
            wanted.commit_deadline.to_string(),
        );
        differ(
            "revealDeadline",
            held.revealDeadline.to_string(),
            wanted.reveal_deadline.to_string(),
        );
        differ("operator", held.operator.to_string(), wanted.operator.to_string());
        // A challenge voids the posted settlement; a challenger who challenges every one runs
        // the experiment into abandonment, where the pool goes back to the creator. So only
        // the operator, which posts settlements, or nobody may hold that right.
        if held.challenger != Address::ZERO && held.challenger != chain.operator() {
            wrong.push(format!(
                "challenger is {} on chain; it must be the operator {} or none ({}): a \
                 challenger can void every settlement until the pool goes back to the creator",
                held.challenger,
                chain.operator(),
                Address::ZERO
            ));
        }
        if !wrong.is_empty() {
            return Err(ServiceError::new(
                Reason::Conflict,
                "chain_terms_mismatch",
                format!("the experiment on chain does not match its spec: {}", wrong.join("; ")),
            ));
        }
        let from_block = match market.creation_block(id).await.map_err(chain_failed)? {
            Some(block) => block,
            None => market.block_number().await.map_err(chain_failed)?,
        };
        // The relay state first: a fund retried after a failure writes the same state again.
        let relay =
            ChainRelay { experiment_id: id, from_block, updated_at: now, ..ChainRelay::default() };
        match self.store().chain_relay(id).await? {
            Some(existing) if existing.from_block == from_block => {}
            _ => self.store().put_chain_relay(&relay).await?,
        }
        self.store().fund(id, now).await?;
        tracing::info!(experiment_id = %id, from_block, "escrow verified on chain; funded");
        Ok(())
    }

    /// For a join to a chain experiment, which its labeler pays from its free balance in the
    /// market: that balance, or `None` for an embedded experiment, whose ledger the caller
    /// reads. A balance below the stake is a quick refusal (see [`market_too_low`]); the store
    /// checks the rest, the labeler's joins not yet locked on chain in every open chain
    /// experiment, atomically with the append.
    pub(crate) async fn market_balance(
        &self,
        row: &ExperimentRow,
        labeler: Address,
    ) -> ServiceResult<Option<U256>> {
        if row.market.is_none() {
            return Ok(None);
        }
        let chain = self.chain_of(row)?;
        Ok(Some(chain.market.balance_of(labeler).await.map_err(chain_failed)?))
    }

    /// An address's balances in chain mode: free in the market, and locked as stakes of
    /// this server's chain experiments not yet paid out (from the contract's positions).
    pub(crate) async fn chain_balances(
        &self,
        chain: &ChainConfig,
        address: Address,
    ) -> ServiceResult<(U256, U256)> {
        let market = &chain.market;
        let available = market.balance_of(address).await.map_err(chain_failed)?;
        let mut locked = U256::ZERO;
        let rows =
            self.store().experiments_in(&[Phase::Open, Phase::Revealing, Phase::Settled]).await?;
        for row in rows.iter().filter(|r| r.market == Some(chain.on_chain())) {
            if row.phase == Phase::Settled {
                let relay = self.store().chain_relay(row.experiment_id).await?;
                if relay.is_some_and(|r| r.distribute_tx.is_some()) {
                    continue;
                }
            }
            let position =
                market.position(row.experiment_id, address).await.map_err(chain_failed)?;
            locked += U256::from(row.spec.stake_per_batch) * U256::from(position.joins);
        }
        Ok((available, locked))
    }

    /// The batches of a chain experiment whose stakes the contract never locked (see
    /// [`plumbline_core::record::PublicRecord::unbacked`]), from each labeler's position in
    /// the market: it locked the labeler's first `joins` joins. Read only once the chain has
    /// passed the commit deadline, after which nothing more is locked; embedded experiments
    /// have none.
    pub(crate) async fn unbacked(
        &self,
        row: &ExperimentRow,
        joins: &[JoinEntry],
    ) -> ServiceResult<BTreeSet<u64>> {
        if row.market.is_none() {
            return Ok(BTreeSet::new());
        }
        let market = &self.chain_of(row)?.market;
        let chain_now = market.now().await.map_err(chain_failed)?;
        if chain_now < row.spec.commit_deadline {
            return Err(ServiceError::conflict(format!(
                "the chain is at {chain_now}, before the commit deadline {}: stakes may still be \
                 locked",
                row.spec.commit_deadline
            )));
        }
        let mut locked: HashMap<Address, u64> = HashMap::new();
        let mut unbacked = BTreeSet::new();
        for entry in joins {
            let labeler = entry.join.labeler;
            let joins_locked = match locked.entry(labeler) {
                Entry::Occupied(known) => *known.get(),
                Entry::Vacant(unknown) => {
                    let position = market.position(row.experiment_id, labeler).await;
                    *unknown.insert(position.map_err(chain_failed)?.joins)
                }
            };
            if entry.join.nonce >= joins_locked {
                unbacked.insert(entry.batch_id);
            }
        }
        Ok(unbacked)
    }
}

/// The refusal of a join whose labeler's free market balance is below its stake.
pub(crate) fn market_too_low(row: &ExperimentRow, join: &SignedJoin, free: U256) -> ServiceError {
    let market = row.market.map(|m| m.market.to_string()).unwrap_or_default();
    ServiceError::new(
        Reason::Conflict,
        "insufficient_funds",
        format!(
            "{} has {free} free in market {market}; this join needs {} (deposit with \
             `plumbline chain deposit`)",
            join.labeler, join.stake
        ),
    )
}
