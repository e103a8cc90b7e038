//! Reading a market's history back from its events: the commits recorded for an experiment
//! (with the signatures from the transactions that carried them), and the transactions that
//! settled, paid and refunded it. An operator that crashed or was bypassed learns from here
//! what is already on chain.

use crate::bindings::PlumblineMarket;
use crate::market::Market;
use crate::{Error, Result};
use alloy::consensus::Transaction as _;
use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256, Bytes, keccak256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::{SolCall, SolEvent, SolValue};
use std::collections::HashMap;

/// A commit as the market recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainCommit {
    /// The labeler who signed it.
    pub labeler: Address,
    /// The batch.
    pub batch_id: u64,
    /// The commitment.
    pub commitment: B256,
    /// The labeler's 65-byte `r ‖ s ‖ v` signature of the `Commit` message, read from the
    /// transaction's input; `None` when the transaction did not call the market directly (a
    /// contract in between), so its input does not carry the entries.
    pub signature: Option<Bytes>,
    /// The timestamp of the block it was recorded in.
    pub timestamp: u64,
    /// The transaction that recorded it.
    pub transaction: B256,
}

/// Which of an experiment's transactions to look for (see [`Market::last_transaction`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A settlement posted.
    SettlementPosted,
    /// A leaf paid (by `distribute`, `claim` or `claimMany`).
    PayoutClaimed,
    /// The refund paid.
    Refunded,
}

impl Event {
    fn signature_hash(self) -> B256 {
        match self {
            Event::SettlementPosted => PlumblineMarket::SettlementPosted::SIGNATURE_HASH,
            Event::PayoutClaimed => PlumblineMarket::PayoutClaimed::SIGNATURE_HASH,
            Event::Refunded => PlumblineMarket::Refunded::SIGNATURE_HASH,
        }
    }
}

/// One experiment's commits on chain, read incrementally: each [`CommitIndex::update`] reads
/// only the blocks after those it has read, continuing the running `commitsHash` check from
/// where it stopped, so a relayer's pass costs the new events, not the experiment's history.
#[derive(Clone, Debug)]
pub struct CommitIndex {
    id: B256,
    next_block: u64,
    hash: B256,
    commits: Vec<ChainCommit>,
}

impl CommitIndex {
    /// An index of experiment `id` that has read nothing yet; `from_block` is at or before
    /// the experiment's creation.
    pub fn new(id: B256, from_block: u64) -> CommitIndex {
        CommitIndex { id, next_block: from_block, hash: B256::ZERO, commits: Vec::new() }
    }

    /// Reads the blocks from the last one read up to the latest, and returns every commit
    /// recorded so far. On an error the index is as it was, and the next update reads the
    /// same blocks again.
    pub async fn update(&mut self, market: &Market) -> Result<&[ChainCommit]> {
        let latest = market.block_number().await?;
        if latest >= self.next_block {
            let found =
                market.commits_in(self.id, self.next_block, Some(latest), self.hash).await?;
            for c in &found {
                self.hash = chain_commit(self.hash, c.labeler, c.batch_id, c.commitment);
            }
            self.commits.extend(found);
            self.next_block = latest + 1;
        }
        Ok(&self.commits)
    }

    /// The first block the next update reads.
    pub fn next_block(&self) -> u64 {
        self.next_block
    }

    /// Every commit read so far, in the contract's order.
    pub fn commits(&self) -> &[ChainCommit] {
        &self.commits
    }
}

/// The running hash the contract keeps over an experiment's commits:
/// `keccak256(abi.encode(previous, labeler, batchId, commitment))`.
pub fn chain_commit(previous: B256, labeler: Address, batch_id: u64, commitment: B256) -> B256 {
    keccak256((previous, labeler, batch_id, commitment).abi_encode())
}

impl Market {
    /// The latest block's number.
    pub async fn block_number(&self) -> Result<u64> {
        Ok(self.provider().get_block_number().await?)
    }

    /// The block in which experiment `id` was created, if it was.
    pub async fn creation_block(&self, id: B256) -> Result<Option<u64>> {
        let filter = Filter::new()
            .address(self.address())
            .event_signature(PlumblineMarket::ExperimentCreated::SIGNATURE_HASH)
            .topic1(id)
            .from_block(0);
        let logs = self.provider().get_logs(&filter).await?;
        Ok(logs.first().and_then(|log| log.block_number))
    }

    /// Every commit recorded for experiment `id` from block `from_block` on, in the order the
    /// contract recorded them, after checking that they chain into the `commitsHash` each
    /// event reports, starting from `previous` (zero when `from_block` is at or before the
    /// experiment's creation). A gap or a reordering fails with [`Error::Refused`].
    pub async fn commits(
        &self,
        id: B256,
        from_block: u64,
        previous: B256,
    ) -> Result<Vec<ChainCommit>> {
        self.commits_in(id, from_block, None, previous).await
    }

    /// [`Market::commits`] in blocks `from_block..=to_block` (to the latest when `None`).
    async fn commits_in(
        &self,
        id: B256,
        from_block: u64,
        to_block: Option<u64>,
        previous: B256,
    ) -> Result<Vec<ChainCommit>> {
        let mut filter = Filter::new()
            .address(self.address())
            .event_signature(PlumblineMarket::BatchesCommitted::SIGNATURE_HASH)
            .topic1(id)
            .from_block(from_block);
        if let Some(to_block) = to_block {
            filter = filter.to_block(to_block);
        }
        let logs = self.provider().get_logs(&filter).await?;
        let mut running = previous;
        let mut times: HashMap<u64, u64> = HashMap::new();
        let mut commits = Vec::new();
        for log in logs {
            let (transaction, block) = placed(&log)?;
            let event = log
                .log_decode::<PlumblineMarket::BatchesCommitted>()
                .map_err(|e| Error::Refused { call: "BatchesCommitted", reason: e.to_string() })?;
            let event = event.inner.data;
            for entry in &event.commits {
                running = chain_commit(running, entry.labeler, entry.batchId, entry.commitment);
            }
            if running != event.commitsHash {
                return Err(Error::Refused {
                    call: "BatchesCommitted",
                    reason: format!(
                        "transaction {transaction}: the commits seen so far hash to {running}, \
                         the event says {}; some are missing",
                        event.commitsHash
                    ),
                });
            }
            let timestamp = match times.get(&block) {
                Some(&t) => t,
                None => {
                    let t = self.block_time(block).await?;
                    times.insert(block, t);
                    t
                }
            };
            let signatures = self.signatures_in(transaction, id, &event.commits).await?;
            for (entry, signature) in event.commits.iter().zip(signatures) {
                commits.push(ChainCommit {
                    labeler: entry.labeler,
                    batch_id: entry.batchId,
                    commitment: entry.commitment,
                    signature,
                    timestamp,
                    transaction,
                });
            }
        }
        Ok(commits)
    }

    /// The signatures of a `commitBatches` transaction's entries, matched to the entries its
    /// event recorded; all `None` when its input is not that call.
    async fn signatures_in(
        &self,
        transaction: B256,
        id: B256,
        recorded: &[crate::bindings::IPlumblineMarket::CommittedBatch],
    ) -> Result<Vec<Option<Bytes>>> {
        let none = vec![None; recorded.len()];
        let Some(tx) = self.provider().get_transaction_by_hash(transaction).await? else {
            return Ok(none);
        };
        if tx.inner.to() != Some(self.address()) {
            return Ok(none);
        }
        let Ok(call) = PlumblineMarket::commitBatchesCall::abi_decode(tx.inner.input()) else {
            return Ok(none);
        };
        let matches = call.experimentId == id
            && call.commits.len() == recorded.len()
            && call.commits.iter().zip(recorded).all(|(c, r)| {
                c.labeler == r.labeler && c.batchId == r.batchId && c.commitment == r.commitment
            });
        if !matches {
            return Ok(none);
        }
        Ok(call.commits.iter().map(|c| Some(from_erc2098(c.r, c.vs))).collect())
    }

    /// The latest transaction that emitted `event` for experiment `id` from `from_block` on.
    pub async fn last_transaction(
        &self,
        id: B256,
        event: Event,
        from_block: u64,
    ) -> Result<Option<B256>> {
        let filter = Filter::new()
            .address(self.address())
            .event_signature(event.signature_hash())
            .topic1(id)
            .from_block(from_block);
        let logs = self.provider().get_logs(&filter).await?;
        Ok(logs.last().and_then(|log| log.transaction_hash))
    }

    /// The gas of every transaction sent to the market in blocks `from_block..=to_block`, by
    /// the function it called (`createExperiment`, `lockStakes`, …; `other` for input that is
    /// not a market call), from the receipts: `(name, transactions, gas)`, sorted by name.
    pub async fn gas_by_call(
        &self,
        from_block: u64,
        to_block: u64,
    ) -> Result<Vec<(String, u64, u64)>> {
        use PlumblineMarket::PlumblineMarketCalls as Calls;
        use alloy::sol_types::SolInterface;
        let mut by_call: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
        for number in from_block..=to_block {
            let block = self
                .provider()
                .get_block_by_number(BlockNumberOrTag::Number(number))
                .full()
                .await?
                .ok_or_else(|| Error::Refused {
                    call: "eth_getBlockByNumber",
                    reason: format!("the node has no block {number}"),
                })?;
            for tx in block.transactions.txns() {
                if tx.inner.to() != Some(self.address()) {
                    continue;
                }
                let name = match Calls::abi_decode(tx.inner.input()) {
                    Ok(call) => call_name(&call).to_owned(),
                    Err(_) => "other".to_owned(),
                };
                let hash = *tx.inner.tx_hash();
                let receipt =
                    self.provider().get_transaction_receipt(hash).await?.ok_or_else(|| {
                        Error::Refused {
                            call: "eth_getTransactionReceipt",
                            reason: format!("no receipt for {hash}"),
                        }
                    })?;
                let entry = by_call.entry(name).or_default();
                entry.0 += 1;
                entry.1 += receipt.gas_used;
            }
        }
        Ok(by_call.into_iter().map(|(name, (count, gas))| (name, count, gas)).collect())
    }

    async fn block_time(&self, number: u64) -> Result<u64> {
        let block = self.provider().get_block_by_number(BlockNumberOrTag::Number(number)).await?;
        let block = block.ok_or_else(|| Error::Refused {
            call: "eth_getBlockByNumber",
            reason: format!("the node has no block {number}"),
        })?;
        Ok(block.header.timestamp)
    }
}

/// The contract function a decoded call calls.
fn call_name(call: &PlumblineMarket::PlumblineMarketCalls) -> &'static str {
    use PlumblineMarket::PlumblineMarketCalls as Calls;
    match call {
        Calls::createExperiment(_) => "createExperiment",
        Calls::lockStakes(_) => "lockStakes",
        Calls::commitBatches(_) => "commitBatches",
        Calls::settle(_) => "settle",
        Calls::challenge(_) => "challenge",
        Calls::distribute(_) => "distribute",
        Calls::claim(_) => "claim",
        Calls::claimMany(_) => "claimMany",
        Calls::refund(_) => "refund",
        Calls::reclaimStake(_) => "reclaimStake",
        Calls::deposit(_) => "deposit",
        Calls::withdraw(_) => "withdraw",
        _ => "other",
    }
}

fn placed(log: &Log) -> Result<(B256, u64)> {
    match (log.transaction_hash, log.block_number) {
        (Some(hash), Some(block)) => Ok((hash, block)),
        _ => Err(Error::Refused {
            call: "eth_getLogs",
            reason: "a log of a pending block came back".into(),
        }),
    }
}

/// The 65-byte `r ‖ s ‖ v` form of an ERC-2098 `(r, vs)` signature, v being 27 or 28.
pub fn from_erc2098(r: B256, vs: B256) -> Bytes {
    let mut signature = [0u8; 65];
    signature[..32].copy_from_slice(r.as_slice());
    signature[32..64].copy_from_slice(vs.as_slice());
    let odd = signature[32] & 0x80 != 0;
    signature[32] &= 0x7f;
    signature[64] = if odd { 28 } else { 27 };
    Bytes::from(signature.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use plumbline_core::client::LabelerKey;
    use plumbline_core::eip712;

    #[test]
    fn erc2098_round_trips_to_the_signature_signed() {
        for i in 0..8 {
            let key = LabelerKey::derived(3, i);
            let domain = eip712::domain(31337, Address::repeat_byte(0x11));
            let join = key.join(&domain, B256::repeat_byte(1), None, 5, 0);
            let (r, vs) = crate::erc2098(&join.signature).expect("a valid signature");
            let back = from_erc2098(r, vs);
            let original = alloy::primitives::Signature::from_raw(&join.signature).unwrap();
            let again = alloy::primitives::Signature::from_raw(&back).unwrap();
            assert_eq!(original, again);
        }
    }
}
