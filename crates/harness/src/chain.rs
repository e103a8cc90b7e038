//! What both gas harnesses do on chain: fund the labelers, check the money after the payouts,
//! and sum the gas of the market's transactions.

use anyhow::ensure;
use plumbline_chain::Market;
use plumbline_core::client::LabelerKey;
use plumbline_core::record::PublicRecord;
use plumbline_core::{Address, Amount, B256, U256};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

/// A failure on chain or in the relay, as the simulator's error (the venues on chain report
/// through it).
pub fn chain_failed(error: impl std::fmt::Display) -> plumbline_sim::SimError {
    plumbline_sim::SimError::Server { url: "chain".into(), message: error.to_string() }
}

/// Where burned stakes go.
const BURN_ADDRESS: &str = "0x000000000000000000000000000000000000dEaD";

/// A labeler on chain: its key, and its client of the market, signing with that key.
pub struct ChainLabeler {
    /// Its key.
    pub key: LabelerKey,
    /// The market, as this labeler.
    pub market: Market,
    /// What it deposited.
    pub deposit: Amount,
}

/// Gives each labeler gas money, `deposit` tokens and deposits them in the market: one stake
/// more than its joins lock, so that its balance stays non-zero as a returning labeler's does
/// (crediting an emptied balance costs a fresh storage write).
pub fn fund_labelers(
    runtime: &Runtime,
    operator: &Market,
    keys: &[LabelerKey],
    deposit: Amount,
) -> anyhow::Result<Vec<ChainLabeler>> {
    eprintln!("funding {} labelers...", keys.len());
    runtime.block_on(async {
        let mut labelers = Vec::with_capacity(keys.len());
        for key in keys {
            let market = operator.with_key(&B256::from(key.secret_bytes()))?;
            let address = key.address();
            operator.set_native_balance(address, one_ether()).await?;
            operator.mint(address, deposit).await?;
            market.deposit(deposit).await?;
            labelers.push(ChainLabeler { key: key.clone(), market, deposit });
        }
        Ok(labelers)
    })
}

/// 10^18 wei.
pub fn one_ether() -> U256 {
    U256::from(10u64).pow(U256::from(18))
}

/// Checks the money once every payout and the refund are made: every labeler's market balance
/// is exactly its deposit less its stakes plus its payout, the creator's is its balance before
/// plus the refund, the burn address holds what was burned, and the market holds exactly the
/// balances it owes. Answers how many balances were checked.
pub fn check_money(
    runtime: &Runtime,
    operator: &Market,
    record: &PublicRecord,
    labelers: &[ChainLabeler],
    creator: Address,
    creator_before: U256,
) -> anyhow::Result<usize> {
    let settlement = &record.settlement;
    ensure!(
        record.chain_id == operator.chain_id() && record.verifying_contract == operator.address(),
        "the record is not of this market"
    );
    runtime.block_on(async {
        let mut owed = U256::ZERO;
        for labeler in labelers {
            let address = labeler.key.address();
            let result = settlement.labelers.iter().find(|l| l.labeler == address);
            let payout = result.map_or(0, |l| l.payout);
            let joined = record.joins.iter().filter(|j| j.join.labeler == address).count();
            let stakes = record.spec.stake_per_batch * joined as Amount;
            let expected = U256::from(labeler.deposit - stakes) + U256::from(payout);
            let actual = operator.balance_of(address).await?;
            ensure!(
                actual == expected,
                "{address}: market balance {actual}, the settlement says {expected}"
            );
            owed += actual;
        }
        let balance = operator.balance_of(creator).await?;
        let refund = U256::from(settlement.totals.refund);
        ensure!(
            balance == creator_before + refund,
            "the creator's market balance is {balance}, its balance before {creator_before} and \
             the refund {refund}"
        );
        owed += balance;
        let burned = operator.token_balance(BURN_ADDRESS.parse()?).await?;
        ensure!(
            burned == U256::from(settlement.totals.burned),
            "burned {burned}, the settlement says {}",
            settlement.totals.burned
        );
        let held = operator.token_balance(operator.address()).await?;
        ensure!(held == owed, "the market holds {held} tokens and owes {owed}");
        Ok(labelers.len() + 1)
    })
}

/// The gas of every market transaction in blocks `first..=last`, by the function called: the
/// total and `{name: {transactions, gas}}`.
pub fn gas_by_call(
    runtime: &Runtime,
    operator: &Market,
    first: u64,
    last: u64,
) -> anyhow::Result<(u64, Value)> {
    let by_call = runtime.block_on(operator.gas_by_call(first, last))?;
    let total = by_call.iter().map(|(_, _, gas)| gas).sum();
    let breakdown: serde_json::Map<String, Value> = by_call
        .iter()
        .map(|(name, count, gas)| (name.clone(), json!({ "transactions": count, "gas": gas })))
        .collect();
    Ok((total, Value::Object(breakdown)))
}
