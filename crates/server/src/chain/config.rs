//! The chain setup of a server in chain mode, and the EIP-712 domain of an experiment: what the
//! rest of the server reads about the chain without talking to it.

use plumbline_chain::Market;
use plumbline_core::Address;
use plumbline_core::eip712::{EMBEDDED_CHAIN_ID, EMBEDDED_VERIFYING_CONTRACT};
use plumbline_store::{ExperimentRow, OnChain};

/// Entries per relay transaction: 50 stake locks or commits, in arrival order. The contract's
/// gas per label stays under 1,000 at this size (`contracts/README.md`, Gas).
pub const RELAY_ENTRIES: usize = 50;

/// How long a join or commit waits for its relay transaction to fill up before it is sent in
/// a partial one.
pub const RELAY_WAIT_SECS: u64 = 60;

/// How long before the commit deadline every waiting join and commit is relayed, full
/// transaction or not: the contract refuses both from the deadline on.
pub const RELAY_MARGIN_SECS: u64 = 600;

/// The chain setup of a server in chain mode.
#[derive(Clone, Debug)]
pub struct ChainConfig {
    /// The market, as the operator's client: relays, settlements and payouts are sent with
    /// the operator's key.
    pub market: Market,
    /// Entries per stake-lock or commit relay transaction. A full transaction is sent as soon
    /// as its entries are in; a partial one waits (see [`RELAY_WAIT_SECS`]).
    pub relay_entries: usize,
    /// How long the oldest waiting entry waits before a partial relay transaction is sent.
    pub relay_wait_secs: u64,
}

impl ChainConfig {
    /// Chain mode on `market` (connected with the operator's key), relaying
    /// [`RELAY_ENTRIES`] entries a transaction.
    pub fn new(market: Market) -> ChainConfig {
        ChainConfig { market, relay_entries: RELAY_ENTRIES, relay_wait_secs: RELAY_WAIT_SECS }
    }

    /// Where the experiments of this server keep their money.
    pub fn on_chain(&self) -> OnChain {
        OnChain { chain_id: self.market.chain_id(), market: self.market.address() }
    }

    /// The operator: it relays and settles, and experiments must name it on chain.
    pub fn operator(&self) -> Address {
        self.market.account()
    }
}

/// The EIP-712 domain an experiment's messages are signed in, as (chain id, verifying
/// contract): the market's on chain, the embedded one otherwise.
pub fn domain_of(row: &ExperimentRow) -> (u64, Address) {
    match row.market {
        Some(on_chain) => (on_chain.chain_id, on_chain.market),
        None => (EMBEDDED_CHAIN_ID, EMBEDDED_VERIFYING_CONTRACT),
    }
}
