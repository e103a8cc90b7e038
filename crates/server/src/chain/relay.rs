//! The relayer: at every scheduler tick, for each of this server's chain experiments, it
//!
//! 1. reads the commits recorded on chain since its last pass (checking the contract's
//!    running `commitsHash`; the whole history only on its first pass in this process) and
//!    adopts into the log, through the same core checks as an HTTP commit, those that
//!    labelers sent there themselves because the operator ignored them;
//! 2. locks the stakes of joins not yet relayed (`lockStakes`) and records the commits not yet
//!    on chain (`commitBatches`), in log order and in transactions of
//!    [`ChainConfig::relay_entries`] entries, moving its stored cursor only after each receipt.
//!    A join its labeler's free market balance no longer backs (it withdrew after joining)
//!    is left out for good, so that it cannot make the experiment's locks revert.
//!    A full transaction goes as soon as its entries are in; a partial one once its oldest
//!    entry has waited [`ChainConfig::relay_wait_secs`], or when the commit deadline is near
//!    ([`super::RELAY_MARGIN_SECS`]): few, full transactions are what keeps gas per label low;
//! 3. once the store has settled the experiment, posts the settlement (`settle`), posts it
//!    again when a challenge voided it, and when its challenge window is over pays every
//!    payout (`distribute`) and the refund (`refund`).
//!
//! It is crash-safe: everything before a stored cursor is on chain; after a restart it
//! resumes from the cursors, and what a crash left on chain unrecorded is found there again
//! (the contract skips stake locks already made, commits already on chain are not sent twice,
//! and a settlement, payout or refund already made is recorded from its event, not resent).

use super::{ChainConfig, RELAY_MARGIN_SECS};
use crate::fault::{ServiceError, ServiceResult, chain_failed};
use crate::service::CommitExtras;
use crate::state::AppState;
use plumbline_chain::{BatchCommit, ChainCommit, CommitIndex, Event, Market, Phase as ChainPhase};
use plumbline_core::client::{SignedCommit, SignedJoin};
use plumbline_core::lifecycle::Phase;
use plumbline_core::record::JoinEntry;
use plumbline_core::{Address, B256, U256};
use plumbline_store::{ChainRelay, ExperimentLog, ExperimentRow};
use std::collections::{HashMap, HashSet};

/// Of `entries`, the joins whose stakes the contract can lock now, in order: those whose
/// labeler's free market balance still covers them, after its earlier joins in the list.
/// The others are left out for good (the relay moves past them), or one labeler's
/// withdrawal would make every lock of the experiment revert; settlement finds them unbacked
/// from the contract's positions (see [`AppState::unbacked`]). Joins the contract locked
/// already are left out too. A balance that falls after this read makes the transaction
/// revert, and the next tick reads again.
async fn lockable(
    market: &Market,
    id: B256,
    entries: &[JoinEntry],
) -> ServiceResult<Vec<SignedJoin>> {
    use std::collections::hash_map::Entry;
    // Per labeler: the nonce the contract expects next, and its free balance, as this list
    // leaves them.
    let mut left: HashMap<Address, (u64, U256)> = HashMap::new();
    let mut joins = Vec::new();
    for entry in entries {
        let join = &entry.join;
        let labeler = join.labeler;
        let (nonce, balance) = match left.entry(labeler) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(unknown) => {
                let locked = market.position(id, labeler).await.map_err(chain_failed)?.joins;
                let free = market.balance_of(labeler).await.map_err(chain_failed)?;
                unknown.insert((locked, free))
            }
        };
        let stake = U256::from(join.stake);
        if join.nonce < *nonce {
            continue;
        }
        if join.nonce == *nonce && *balance >= stake {
            *nonce += 1;
            *balance -= stake;
            joins.push(join.clone());
        } else {
            tracing::warn!(
                experiment_id = %id, batch_id = entry.batch_id, labeler = %labeler,
                free = %balance, "the labeler's market balance no longer backs its join; \
                 its batch is unbacked"
            );
        }
    }
    Ok(joins)
}

/// The contract's payout modes (`PayoutMode`, passed as `uint8`).
const PAYOUT_UNPAID: u8 = 0;
const PAYOUT_DISTRIBUTED: u8 = 2;

impl AppState {
    /// One pass of the relayer over every chain experiment of this server that is not
    /// finished on chain. Errors are logged; the next pass tries again from the stored state.
    pub async fn relay_tick(&self) {
        let Some(chain) = self.chain().cloned() else { return };
        let rows = match self
            .store()
            .experiments_in(&[Phase::Open, Phase::Revealing, Phase::Settled])
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "relayer cannot list experiments");
                return;
            }
        };
        for row in rows.iter().filter(|r| r.market == Some(chain.on_chain())) {
            if let Err(e) = self.relay_experiment(&chain, row).await {
                tracing::error!(experiment_id = %row.experiment_id, error = %e, "relay failed");
            }
        }
    }

    /// Brings one experiment's on-chain state up to its log.
    async fn relay_experiment(
        &self,
        chain: &ChainConfig,
        row: &ExperimentRow,
    ) -> ServiceResult<()> {
        let id = row.experiment_id;
        let Some(mut relay) = self.store().chain_relay(id).await? else {
            return Ok(());
        };
        if relay.refund_tx.is_some() {
            return Ok(());
        }
        let market = &chain.market;
        if row.phase == Phase::Settled {
            // Its log is final: nothing more to adopt or relay.
            self.0.chain_commits.lock().expect("not poisoned").remove(&id);
            let chain_now = market.now().await.map_err(chain_failed)?;
            return self.finish_on_chain(market, &mut relay, chain_now).await;
        }
        let on_chain = self.commits_on_chain(market, id, relay.from_block).await?;
        let mut log = self.store().log(id).await?;
        if self.adopt(id, &log, &on_chain).await {
            log = self.store().log(id).await?;
        }
        let chain_now = market.now().await.map_err(chain_failed)?;
        if chain_now < row.spec.commit_deadline {
            // A partial transaction goes once its oldest entry has waited long enough, or
            // when the deadline is near, by the server's clock or the chain's.
            let now = self.now().max(chain_now);
            let near_deadline = now.saturating_add(RELAY_MARGIN_SECS) >= row.spec.commit_deadline;
            let due = |oldest_at: u64| {
                near_deadline || now >= oldest_at.saturating_add(chain.relay_wait_secs)
            };
            self.relay_joins(chain, &mut relay, &log, &due).await?;
            self.relay_commits(chain, &mut relay, &log, &on_chain, &due).await?;
        }
        Ok(())
    }

    /// Every commit on chain for experiment `id`, reading only the blocks the last pass did
    /// not (see [`CommitIndex`]); the experiment's first pass in this process reads from
    /// `from_block`, its creation.
    async fn commits_on_chain(
        &self,
        market: &Market,
        id: B256,
        from_block: u64,
    ) -> ServiceResult<Vec<ChainCommit>> {
        let taken = self.0.chain_commits.lock().expect("not poisoned").remove(&id);
        let mut index = taken.unwrap_or_else(|| CommitIndex::new(id, from_block));
        let read = index.update(market).await.map(<[ChainCommit]>::to_vec);
        self.0.chain_commits.lock().expect("not poisoned").insert(id, index);
        read.map_err(chain_failed)
    }

    /// Appends to the log the commits found on chain for batches the log has no commit for,
    /// each checked by the core as if it had come over HTTP at its block's time. Returns
    /// whether any was adopted.
    async fn adopt(&self, id: B256, log: &ExperimentLog, on_chain: &[ChainCommit]) -> bool {
        let logged: HashSet<u64> = log.commits.iter().map(|c| c.batch_id).collect();
        let mut adopted = false;
        for found in on_chain.iter().filter(|c| !logged.contains(&c.batch_id)) {
            let Some(signature) = found.signature.clone() else {
                tracing::warn!(
                    experiment_id = %id, batch_id = found.batch_id, transaction = %found.transaction,
                    "a commit on chain came through another contract; its signature is unknown"
                );
                continue;
            };
            let commit = SignedCommit { commitment: found.commitment, signature };
            match self
                .commit(id, found.batch_id, &commit, CommitExtras::default(), found.timestamp)
                .await
            {
                Ok(_) => {
                    adopted = true;
                    tracing::info!(
                        experiment_id = %id, batch_id = found.batch_id, labeler = %found.labeler,
                        transaction = %found.transaction, "adopted a commit sent on chain"
                    );
                }
                Err(e) => tracing::warn!(
                    experiment_id = %id, batch_id = found.batch_id, error = %e,
                    "a commit on chain is not valid for the log"
                ),
            }
        }
        adopted
    }

    /// Locks the stakes of the joins after the cursor, a transaction at a time; a partial one
    /// only when `due` says its oldest entry (by its time) has waited enough.
    async fn relay_joins(
        &self,
        chain: &ChainConfig,
        relay: &mut ChainRelay,
        log: &ExperimentLog,
        due: &impl Fn(u64) -> bool,
    ) -> ServiceResult<()> {
        let per_tx = chain.relay_entries.max(1);
        while (relay.joins_relayed as usize) < log.joins.len() {
            let start = relay.joins_relayed as usize;
            let end = (start + per_tx).min(log.joins.len());
            if end - start < per_tx && !due(log.joins[start].at) {
                break;
            }
            let joins =
                lockable(&chain.market, relay.experiment_id, &log.joins[start..end]).await?;
            if !joins.is_empty() {
                let sent = chain
                    .market
                    .lock_stakes(relay.experiment_id, &joins, per_tx)
                    .await
                    .map_err(chain_failed)?;
                relay.last_join_tx = sent.transactions.last().map(|tx| tx.hash);
            }
            relay.joins_relayed = end as u64;
            self.save_relay(relay).await?;
            tracing::info!(experiment_id = %relay.experiment_id, joins = end, "stakes locked on chain");
        }
        Ok(())
    }

    /// Records the commits after the cursor that are not on chain yet, a transaction at a
    /// time; a partial one only when `due` says its oldest entry has waited enough.
    async fn relay_commits(
        &self,
        chain: &ChainConfig,
        relay: &mut ChainRelay,
        log: &ExperimentLog,
        on_chain: &[ChainCommit],
        due: &impl Fn(u64) -> bool,
    ) -> ServiceResult<()> {
        let per_tx = chain.relay_entries.max(1);
        let recorded: HashSet<(u64, B256)> =
            on_chain.iter().map(|c| (c.batch_id, c.commitment)).collect();
        let labeler_of: HashMap<u64, Address> =
            log.joins.iter().map(|e| (e.batch_id, e.join.labeler)).collect();
        while (relay.commits_relayed as usize) < log.commits.len() {
            let start = relay.commits_relayed as usize;
            let end = (start + per_tx).min(log.commits.len());
            let commits: Vec<BatchCommit> = log.commits[start..end]
                .iter()
                .filter(|e| !recorded.contains(&(e.batch_id, e.commit.commitment)))
                .map(|e| BatchCommit {
                    labeler: labeler_of[&e.batch_id],
                    batch_id: e.batch_id,
                    commit: e.commit.clone(),
                })
                .collect();
            if let Some(oldest) = log.commits[start..end]
                .iter()
                .find(|e| !recorded.contains(&(e.batch_id, e.commit.commitment)))
                && end - start < per_tx
                && !due(oldest.at)
            {
                break;
            }
            if !commits.is_empty() {
                let sent = chain
                    .market
                    .commit_batches(relay.experiment_id, &commits, per_tx)
                    .await
                    .map_err(chain_failed)?;
                relay.last_commit_tx = sent.transactions.last().map(|tx| tx.hash);
            }
            relay.commits_relayed = end as u64;
            self.save_relay(relay).await?;
            tracing::info!(experiment_id = %relay.experiment_id, commits = end, "commits recorded on chain");
        }
        Ok(())
    }

    /// Posts the stored settlement, then pays it out and refunds the rest once it is final.
    /// Each step runs once: what is already on chain is recorded from its event instead.
    async fn finish_on_chain(
        &self,
        market: &Market,
        relay: &mut ChainRelay,
        chain_now: u64,
    ) -> ServiceResult<()> {
        let id = relay.experiment_id;
        let settlement = self.store().settlement(id).await?.ok_or_else(|| {
            ServiceError::internal(format!("settled experiment {id} has no settlement"))
        })?;
        let held = market.experiment(id).await.map_err(chain_failed)?;
        if relay.settle_tx.is_some() && relay.distribute_tx.is_none() && held.payoutRoot.is_zero() {
            // A challenge voided the posted settlement (the challenger can only be the
            // operator, see `fund_on_chain`): post it again, or the experiment would be
            // abandoned and the pool go back to the creator.
            tracing::warn!(experiment_id = %id, "the posted settlement was challenged; posting it again");
            relay.settle_tx = None;
            relay.settled_at = None;
        }
        if relay.settle_tx.is_none() {
            let hash = if held.payoutRoot == settlement.payout_root {
                self.found(market, id, Event::SettlementPosted, relay.from_block).await?
            } else {
                market.settle(id, &settlement).await.map_err(chain_failed)?.hash
            };
            relay.settle_tx = Some(hash);
            relay.settled_at = Some(chain_now);
            self.save_relay(relay).await?;
            tracing::info!(experiment_id = %id, transaction = %hash, "settlement posted on chain");
        }
        if relay.distribute_tx.is_none() {
            if market.phase(id).await.map_err(chain_failed)? != ChainPhase::Settled {
                // Still in its challenge window.
                return Ok(());
            }
            let hash = match held.payoutMode {
                PAYOUT_UNPAID => {
                    market.distribute(id, &settlement).await.map_err(chain_failed)?.hash
                }
                PAYOUT_DISTRIBUTED => {
                    self.found(market, id, Event::PayoutClaimed, relay.from_block).await?
                }
                // Someone claimed a leaf with its proof: the operator claims the rest.
                _ => {
                    let mut unclaimed = Vec::new();
                    for l in &settlement.labelers {
                        let position =
                            market.position(id, l.labeler).await.map_err(chain_failed)?;
                        if !position.claimed {
                            unclaimed.push(l.labeler);
                        }
                    }
                    if unclaimed.is_empty() {
                        self.found(market, id, Event::PayoutClaimed, relay.from_block).await?
                    } else {
                        let sent = market
                            .claim_many(id, &settlement, &unclaimed)
                            .await
                            .map_err(chain_failed)?;
                        sent.transactions.last().map(|tx| tx.hash).unwrap_or_default()
                    }
                }
            };
            relay.distribute_tx = Some(hash);
            relay.distributed_at = Some(chain_now);
            self.save_relay(relay).await?;
            tracing::info!(experiment_id = %id, transaction = %hash, "payouts paid on chain");
        }
        if relay.refund_tx.is_none() {
            let held = market.experiment(id).await.map_err(chain_failed)?;
            let hash = if held.refunded {
                self.found(market, id, Event::Refunded, relay.from_block).await?
            } else {
                market.refund(id).await.map_err(chain_failed)?.hash
            };
            relay.refund_tx = Some(hash);
            relay.refunded_at = Some(chain_now);
            self.save_relay(relay).await?;
            tracing::info!(experiment_id = %id, transaction = %hash, "refund paid on chain");
        }
        Ok(())
    }

    /// The transaction that emitted `event` for the experiment, which the chain says happened.
    async fn found(
        &self,
        market: &Market,
        id: B256,
        event: Event,
        from_block: u64,
    ) -> ServiceResult<B256> {
        market.last_transaction(id, event, from_block).await.map_err(chain_failed)?.ok_or_else(
            || ServiceError::internal(format!("experiment {id}: no {event:?} event found")),
        )
    }

    async fn save_relay(&self, relay: &mut ChainRelay) -> ServiceResult<()> {
        relay.updated_at = self.now();
        Ok(self.store().put_chain_relay(relay).await?)
    }
}
