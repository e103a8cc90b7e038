//! [`Market`]: one account's client of a deployed `PlumblineMarket` and its token, over HTTP
//! JSON-RPC with a local key.
//!
//! Every write waits for its receipt, so the calls of one client happen in order and a returned
//! [`Tx`] is mined. Amounts are token base units, as in core.

use crate::anvil;
use crate::bindings::IPlumblineMarket;
use crate::bindings::PlumblineMarket::{self, PlumblineMarketInstance};
use crate::bindings::TestToken::{self, TestTokenInstance};
use crate::convert;
use crate::{Error, Result};
use alloy::contract::{CallBuilder, CallDecoder};
use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::ext::AnvilApi;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest::Url;
use plumbline_core::Amount;
use plumbline_core::client::{SignedCommit, SignedJoin};
use plumbline_core::eip712::{self, Eip712Domain};
use plumbline_core::merkle::{StandardMerkleTree, payout_leaf};
use plumbline_core::settle::Settlement;
use plumbline_core::spec::ExperimentSpec;

/// The most entries the contract takes in one relay or claim call (`ENTRIES_MAX`).
pub const ENTRIES_MAX: usize = 1_000;

/// A mined transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tx {
    /// Its hash.
    pub hash: B256,
    /// The gas its receipt reports.
    pub gas_used: u64,
}

/// The transactions of one relay, in the order they were sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Relay {
    /// One per chunk of entries.
    pub transactions: Vec<Tx>,
}

impl Relay {
    /// The gas of every transaction together.
    pub fn gas_used(&self) -> u64 {
        self.transactions.iter().map(|tx| tx.gas_used).sum()
    }
}

/// A labeler's signed commit to one batch, as relayed: core's [`SignedCommit`] with the batch
/// and its labeler, which the off-chain record keeps beside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchCommit {
    /// The labeler the batch is assigned to, who signed the commit.
    pub labeler: Address,
    /// The batch.
    pub batch_id: u64,
    /// The signed commitment.
    pub commit: SignedCommit,
}

/// Where an experiment stands at the latest block's time: the contract's `Phase`, whose names
/// the ABI does not carry (it passes enums as `uint8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No experiment has this id.
    None,
    /// Stakes and commits are accepted.
    Open,
    /// After the commit deadline, before the reveal deadline: labels are revealed off chain.
    Revealing,
    /// After the reveal deadline, no settlement posted yet.
    AwaitingSettlement,
    /// A settlement is posted and its challenge window is running.
    Challengeable,
    /// The settlement is final: payouts can be claimed and the rest refunded.
    Settled,
    /// No settlement became final in time: stakes and pool go back to their owners.
    Abandoned,
}

impl Phase {
    /// The phase the contract's `uint8` stands for, in the interface's order.
    pub fn from_raw(raw: u8) -> Option<Phase> {
        const PHASES: [Phase; 7] = [
            Phase::None,
            Phase::Open,
            Phase::Revealing,
            Phase::AwaitingSettlement,
            Phase::Challengeable,
            Phase::Settled,
            Phase::Abandoned,
        ];
        PHASES.get(usize::from(raw)).copied()
    }
}

/// The terms an experiment is created with on chain (the contract's `ExperimentConfig`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terms {
    /// `keccak256` of the spec (see [`crate::spec_hash`]).
    pub spec_hash: B256,
    /// The reward pool, pulled from the creator's wallet.
    pub pool: Amount,
    /// The stake each join locks.
    pub stake_per_batch: Amount,
    /// Stake locks and commits are accepted before this (unix seconds).
    pub commit_deadline: u64,
    /// Settlement may be posted from this time on (unix seconds).
    pub reveal_deadline: u64,
    /// How long a posted settlement can be challenged.
    pub challenge_window_secs: u32,
    /// The account that relays and posts the settlement.
    pub operator: Address,
    /// The account that may challenge a settlement, or zero for none.
    pub challenger: Address,
}

impl Terms {
    /// The terms of `spec`: its hash, pool, stake and deadlines, with the given operator,
    /// challenger and challenge window.
    pub fn of_spec(
        spec: &ExperimentSpec,
        operator: Address,
        challenger: Address,
        challenge_window_secs: u32,
    ) -> Terms {
        Terms {
            spec_hash: convert::spec_hash(spec),
            pool: spec.reward_pool,
            stake_per_batch: spec.stake_per_batch,
            commit_deadline: spec.commit_deadline,
            reveal_deadline: spec.reveal_deadline,
            challenge_window_secs,
            operator,
            challenger,
        }
    }

    fn config(&self) -> IPlumblineMarket::ExperimentConfig {
        IPlumblineMarket::ExperimentConfig {
            specHash: self.spec_hash,
            pool: U256::from(self.pool),
            stakePerBatch: U256::from(self.stake_per_batch),
            commitDeadline: self.commit_deadline,
            revealDeadline: self.reveal_deadline,
            challengeWindowSecs: self.challenge_window_secs,
            operator: self.operator,
            challenger: self.challenger,
        }
    }
}

/// One account's client of a deployed market and its token.
#[derive(Clone)]
pub struct Market {
    url: Url,
    provider: DynProvider,
    market: PlumblineMarketInstance<DynProvider>,
    // The test token's ABI is a plain ERC-20 plus `mint`, so it serves for any market token.
    token: TestTokenInstance<DynProvider>,
    account: Address,
    chain_id: u64,
}

impl std::fmt::Debug for Market {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Market")
            .field("url", &self.url.as_str())
            .field("market", self.market.address())
            .field("token", self.token.address())
            .field("account", &self.account)
            .field("chain_id", &self.chain_id)
            .finish()
    }
}

impl Market {
    /// Deploys a market for `token`; with no token, on a local chain, deploys the test token
    /// first (elsewhere that is refused: the test token is open-mint and worth nothing).
    pub async fn deploy(rpc: &str, secret: &B256, token: Option<Address>) -> Result<Market> {
        let (url, provider, account) = connect(rpc, secret)?;
        let chain_id = provider.get_chain_id().await?;
        let token = match token {
            Some(token) => token,
            None if chain_id == anvil::CHAIN_ID => *TestToken::deploy(provider.clone())
                .await
                .map_err(|e| refused("deploy TestToken", e))?
                .address(),
            None => return Err(Error::TestTokenOffLocal { chain_id }),
        };
        let market = PlumblineMarket::deploy(provider.clone(), token)
            .await
            .map_err(|e| refused("deploy PlumblineMarket", e))?;
        Ok(Market::assemble(url, provider, *market.address(), token, account, chain_id))
    }

    /// A client of the market at `market` for the account of `secret`.
    pub async fn connect(rpc: &str, secret: &B256, market: Address) -> Result<Market> {
        let (url, provider, account) = connect(rpc, secret)?;
        let chain_id = provider.get_chain_id().await?;
        let token = PlumblineMarket::new(market, provider.clone())
            .token()
            .call()
            .await
            .map_err(|e| refused("token", e))?;
        Ok(Market::assemble(url, provider, market, token, account, chain_id))
    }

    /// The same market for another account.
    pub fn with_key(&self, secret: &B256) -> Result<Market> {
        let (url, provider, account) = connect(self.url.as_str(), secret)?;
        Ok(Market::assemble(
            url,
            provider,
            *self.market.address(),
            *self.token.address(),
            account,
            self.chain_id,
        ))
    }

    fn assemble(
        url: Url,
        provider: DynProvider,
        market: Address,
        token: Address,
        account: Address,
        chain_id: u64,
    ) -> Market {
        Market {
            url,
            market: PlumblineMarket::new(market, provider.clone()),
            token: TestToken::new(token, provider.clone()),
            provider,
            account,
            chain_id,
        }
    }

    /// The market contract's address.
    pub fn address(&self) -> Address {
        *self.market.address()
    }

    /// The token's address.
    pub fn token(&self) -> Address {
        *self.token.address()
    }

    /// The account this client signs for.
    pub fn account(&self) -> Address {
        self.account
    }

    /// The chain's id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The EIP-712 domain labelers sign in for this market: the one core's experiment needs
    /// (`Experiment::new(id, market.chain_id(), market.address(), …)`).
    pub fn domain(&self) -> Eip712Domain {
        eip712::domain(self.chain_id, self.address())
    }

    /// The underlying provider, for reads this client does not wrap.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    // ---------------------------------------------------------------------------------------
    // Token and balances
    // ---------------------------------------------------------------------------------------

    /// Mints test tokens to `to` (the test token only).
    pub async fn mint(&self, to: Address, amount: Amount) -> Result<Tx> {
        send("mint", self.token.mint(to, U256::from(amount))).await
    }

    /// `account`'s token balance in its wallet.
    pub async fn token_balance(&self, account: Address) -> Result<U256> {
        self.token.balanceOf(account).call().await.map_err(|e| refused("balanceOf", e))
    }

    /// Lets the market pull `amount` more than it may already, if it may not pull that much.
    async fn allow(&self, amount: U256) -> Result<Option<Tx>> {
        let allowance = self
            .token
            .allowance(self.account, self.address())
            .call()
            .await
            .map_err(|e| refused("allowance", e))?;
        if allowance >= amount {
            return Ok(None);
        }
        send("approve", self.token.approve(self.address(), amount)).await.map(Some)
    }

    /// Moves `amount` from this account's wallet into its market balance (approving the market
    /// first if needed).
    pub async fn deposit(&self, amount: Amount) -> Result<Tx> {
        self.allow(U256::from(amount)).await?;
        send("deposit", self.market.deposit(U256::from(amount))).await
    }

    /// Moves `amount` from this account's market balance back to its wallet.
    pub async fn withdraw(&self, amount: Amount) -> Result<Tx> {
        send("withdraw", self.market.withdraw(U256::from(amount))).await
    }

    /// `account`'s free balance in the market.
    pub async fn balance_of(&self, account: Address) -> Result<U256> {
        self.market.balanceOf(account).call().await.map_err(|e| refused("balanceOf", e))
    }

    // ---------------------------------------------------------------------------------------
    // Experiments
    // ---------------------------------------------------------------------------------------

    /// Creates experiment `id` (which must start with this account's address, see
    /// [`crate::experiment_id`]) and escrows its pool from this account's wallet.
    pub async fn create_experiment(&self, id: B256, terms: &Terms) -> Result<Tx> {
        self.allow(U256::from(terms.pool)).await?;
        send("createExperiment", self.market.createExperiment(id, terms.config())).await
    }

    /// Relays signed joins, `per_tx` to a transaction, in order; each locks one stake.
    pub async fn lock_stakes(
        &self,
        id: B256,
        joins: &[SignedJoin],
        per_tx: usize,
    ) -> Result<Relay> {
        let entries = joins
            .iter()
            .enumerate()
            .map(|(i, join)| convert::join_entry(i, join))
            .collect::<Result<Vec<_>>>()?;
        let mut relay = Relay::default();
        for chunk in entries.chunks(chunk_size(per_tx)) {
            let tx = send("lockStakes", self.market.lockStakes(id, chunk.to_vec())).await?;
            relay.transactions.push(tx);
        }
        Ok(relay)
    }

    /// Relays signed commits, `per_tx` to a transaction, in order. A labeler whose commit the
    /// operator leaves out sends its own the same way, from its own client.
    pub async fn commit_batches(
        &self,
        id: B256,
        commits: &[BatchCommit],
        per_tx: usize,
    ) -> Result<Relay> {
        let entries = commits
            .iter()
            .enumerate()
            .map(|(i, c)| convert::commit_entry(i, c.labeler, c.batch_id, &c.commit))
            .collect::<Result<Vec<_>>>()?;
        let mut relay = Relay::default();
        for chunk in entries.chunks(chunk_size(per_tx)) {
            let tx = send("commitBatches", self.market.commitBatches(id, chunk.to_vec())).await?;
            relay.transactions.push(tx);
        }
        Ok(relay)
    }

    /// Posts core's settlement: its payout root and totals (the operator only, from the reveal
    /// deadline). The payouts are checked against the root first.
    pub async fn settle(&self, id: B256, settlement: &Settlement) -> Result<Tx> {
        convert::payout_values(settlement)?;
        let totals = convert::totals(&settlement.totals);
        send("settle", self.market.settle(id, settlement.payout_root, totals)).await
    }

    /// Voids the posted settlement (the challenger only, within the challenge window).
    pub async fn challenge(&self, id: B256) -> Result<Tx> {
        send("challenge", self.market.challenge(id)).await
    }

    /// Pays every leaf of the final settlement in one call: the values sorted by leaf hash, as
    /// the contract rebuilds the root from them.
    pub async fn distribute(&self, id: B256, settlement: &Settlement) -> Result<Tx> {
        let mut leaves: Vec<(B256, IPlumblineMarket::PayoutLeaf)> =
            convert::payout_values(settlement)?
                .into_iter()
                .map(|(labeler, amount)| {
                    (payout_leaf(labeler, amount), IPlumblineMarket::PayoutLeaf { labeler, amount })
                })
                .collect();
        leaves.sort_unstable_by_key(|(hash, _)| *hash);
        let leaves = leaves.into_iter().map(|(_, leaf)| leaf).collect();
        send("distribute", self.market.distribute(id, leaves)).await
    }

    /// Claims `labeler`'s leaf of the final settlement with its proof (anyone may, for anyone).
    pub async fn claim(&self, id: B256, settlement: &Settlement, labeler: Address) -> Result<Tx> {
        let payout = proofs_of(settlement, &[labeler])?.remove(0);
        send("claim", self.market.claim(id, payout.labeler, payout.amount, payout.proof)).await
    }

    /// Claims the leaves of `labelers`, up to [`ENTRIES_MAX`] a transaction.
    pub async fn claim_many(
        &self,
        id: B256,
        settlement: &Settlement,
        labelers: &[Address],
    ) -> Result<Relay> {
        let payouts = proofs_of(settlement, labelers)?;
        let mut relay = Relay::default();
        for chunk in payouts.chunks(ENTRIES_MAX) {
            let tx = send("claimMany", self.market.claimMany(id, chunk.to_vec())).await?;
            relay.transactions.push(tx);
        }
        Ok(relay)
    }

    /// Credits the creator with the settlement's refund and burns the burned stake; once
    /// abandoned, returns the whole pool.
    pub async fn refund(&self, id: B256) -> Result<Tx> {
        send("refund", self.market.refund(id)).await
    }

    /// Returns an abandoned experiment's stakes to `labeler`.
    pub async fn reclaim_stake(&self, id: B256, labeler: Address) -> Result<Tx> {
        send("reclaimStake", self.market.reclaimStake(id, labeler)).await
    }

    /// The experiment as stored.
    pub async fn experiment(&self, id: B256) -> Result<IPlumblineMarket::Experiment> {
        self.market.experiment(id).call().await.map_err(|e| refused("experiment", e))
    }

    /// Where the experiment stands at the latest block's time.
    pub async fn phase(&self, id: B256) -> Result<Phase> {
        let raw = self.market.phaseOf(id).call().await.map_err(|e| refused("phaseOf", e))?;
        Phase::from_raw(raw).ok_or_else(|| Error::Refused {
            call: "phaseOf",
            reason: format!("unknown phase {raw}"),
        })
    }

    /// `labeler`'s standing in the experiment.
    pub async fn position(&self, id: B256, labeler: Address) -> Result<IPlumblineMarket::Position> {
        self.market.positionOf(id, labeler).call().await.map_err(|e| refused("positionOf", e))
    }

    // ---------------------------------------------------------------------------------------
    // Chain time and accounts
    // ---------------------------------------------------------------------------------------

    /// The latest block's timestamp.
    pub async fn now(&self) -> Result<u64> {
        let block = self.provider.get_block_by_number(BlockNumberOrTag::Latest).await?;
        let block = block.ok_or_else(|| Error::Refused {
            call: "eth_getBlockByNumber",
            reason: "the node has no latest block".into(),
        })?;
        Ok(block.header.timestamp)
    }

    /// Mines a block at `timestamp` (anvil only), so that calls after it see that time.
    pub async fn mine_at(&self, timestamp: u64) -> Result<()> {
        self.provider.anvil_set_next_block_timestamp(timestamp).await?;
        self.provider.evm_mine(None).await?;
        Ok(())
    }

    /// Sets `account`'s native balance, for gas (anvil only).
    pub async fn set_native_balance(&self, account: Address, wei: U256) -> Result<()> {
        Ok(self.provider.anvil_set_balance(account, wei).await?)
    }
}

fn connect(rpc: &str, secret: &B256) -> Result<(Url, DynProvider, Address)> {
    let url = Url::parse(rpc)
        .map_err(|e| Error::BadUrl { url: rpc.to_owned(), reason: e.to_string() })?;
    let signer = PrivateKeySigner::from_bytes(secret).map_err(|_| Error::BadKey)?;
    let account = signer.address();
    // Nonces are read from the node for every transaction: the default cache advances even
    // when a transaction is refused at estimation, and the next one would then wait forever
    // behind the gap.
    let provider = ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id()
        .wallet(signer)
        .connect_http(url.clone())
        .erased();
    Ok((url, provider, account))
}

fn chunk_size(per_tx: usize) -> usize {
    per_tx.clamp(1, ENTRIES_MAX)
}

/// The payouts of `labelers` with their proofs, from the settlement's tree.
fn proofs_of(
    settlement: &Settlement,
    labelers: &[Address],
) -> Result<Vec<IPlumblineMarket::Payout>> {
    let values = convert::payout_values(settlement)?;
    let tree = StandardMerkleTree::from_leaves(
        values.iter().map(|&(labeler, amount)| payout_leaf(labeler, amount)).collect(),
    )
    .map_err(|e| Error::Settlement(e.to_string()))?;
    labelers
        .iter()
        .map(|labeler| {
            let index =
                values.iter().position(|(l, _)| l == labeler).ok_or(Error::NoPayout(*labeler))?;
            Ok(IPlumblineMarket::Payout {
                labeler: *labeler,
                amount: values[index].1,
                proof: tree.proof(index),
            })
        })
        .collect()
}

/// Sends a transaction and waits for its receipt.
async fn send<D: CallDecoder>(
    call: &'static str,
    builder: CallBuilder<&DynProvider, D>,
) -> Result<Tx> {
    let pending = builder.send().await.map_err(|e| refused(call, e))?;
    let receipt = pending.get_receipt().await.map_err(|source| Error::Pending { call, source })?;
    let tx = Tx { hash: receipt.transaction_hash, gas_used: receipt.gas_used };
    if !receipt.status() {
        return Err(Error::Reverted { call, hash: tx.hash });
    }
    Ok(tx)
}

/// A refused call, with the contract's (or the token's) custom error decoded where the revert
/// carries one: `PlumblineMarket__WrongSigner { index: 3, … }` says more than revert bytes.
fn refused(call: &'static str, error: alloy::contract::Error) -> Error {
    let reason = if let Some(e) =
        error.as_decoded_interface_error::<PlumblineMarket::PlumblineMarketErrors>()
    {
        format!("{e:?}")
    } else if let Some(e) = error.as_decoded_interface_error::<TestToken::TestTokenErrors>() {
        format!("{e:?}")
    } else {
        error.to_string()
    };
    Error::Refused { call, reason }
}
