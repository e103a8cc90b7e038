//! `plumbline chain`: the market contract on an EVM chain. Deploy it (with the test token on a
//! local anvil), move tokens in and out of a market balance, and claim a payout from an
//! experiment's public record once its settlement is final.
//!
//! Every command signs with the `--key` file (or `$PLUMBLINE_KEY`, `$PLUMBLINE_KEY_FILE`) and
//! speaks JSON-RPC to `--rpc` (or `$PLUMBLINE_RPC`, else a local anvil on port 8545).

use crate::cmd::read_input;
use crate::exit::bad_input;
use anyhow::Context;
use clap::{Args, Subcommand};
use plumbline_chain::{Error as ChainError, Market};
use plumbline_core::record::PublicRecord;
use plumbline_core::{Address, Amount, B256};
use std::path::PathBuf;

/// The RPC endpoint when neither `--rpc` nor `$PLUMBLINE_RPC` names one: anvil's default.
const DEFAULT_RPC: &str = "http://127.0.0.1:8545";

/// `plumbline chain` subcommands.
#[derive(Subcommand)]
pub enum ChainCommand {
    /// Deploy the market; on a local chain (31337) without --token, the test token too.
    Deploy(DeployArgs),
    /// Mint test tokens (the test token only, on a local chain).
    Mint(AmountArgs),
    /// Move tokens from your wallet into your market balance.
    Deposit(AmountArgs),
    /// Move tokens from your market balance back to your wallet.
    Withdraw(AmountArgs),
    /// Print a market balance and wallet balance (yours by default).
    Balance(BalanceArgs),
    /// Claim a payout leaf of a final settlement, with its proof, from the public record.
    Claim(ClaimArgs),
}

/// The chain and the signing key, shared by every subcommand.
#[derive(Args)]
pub struct ChainConnection {
    /// The JSON-RPC endpoint (default: $PLUMBLINE_RPC, else http://127.0.0.1:8545).
    #[arg(long)]
    pub rpc: Option<String>,
    /// Your key file (default: $PLUMBLINE_KEY, a hex secret, or $PLUMBLINE_KEY_FILE).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

impl ChainConnection {
    fn rpc(&self) -> String {
        self.rpc
            .clone()
            .or_else(|| std::env::var("PLUMBLINE_RPC").ok())
            .unwrap_or_else(|| DEFAULT_RPC.to_owned())
    }

    fn secret(&self) -> anyhow::Result<B256> {
        Ok(B256::from(crate::api::load_key(self.key.as_deref())?.secret_bytes()))
    }
}

/// Arguments of `chain deploy`.
#[derive(Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub connection: ChainConnection,
    /// The ERC-20 the market holds (required off a local chain).
    #[arg(long)]
    pub token: Option<String>,
}

/// The deployed market, for commands and for `--market`.
#[derive(Args)]
pub struct MarketArg {
    /// The market contract (default: $PLUMBLINE_MARKET).
    #[arg(long)]
    pub market: Option<String>,
}

impl MarketArg {
    fn address(&self) -> anyhow::Result<Address> {
        let text =
            self.market.clone().or_else(|| std::env::var("PLUMBLINE_MARKET").ok()).ok_or_else(
                || bad_input("no market: pass --market ADDRESS or set PLUMBLINE_MARKET"),
            )?;
        parse_address("--market", &text)
    }
}

/// Arguments of the commands that move an amount.
#[derive(Args)]
pub struct AmountArgs {
    #[command(flatten)]
    pub connection: ChainConnection,
    #[command(flatten)]
    pub market: MarketArg,
    /// The amount in token base units.
    #[arg(long)]
    pub amount: Amount,
}

/// Arguments of `chain balance`.
#[derive(Args)]
pub struct BalanceArgs {
    #[command(flatten)]
    pub connection: ChainConnection,
    #[command(flatten)]
    pub market: MarketArg,
    /// Whose balances (default: your key's account).
    #[arg(long)]
    pub account: Option<String>,
}

/// Arguments of `chain claim`.
#[derive(Args)]
pub struct ClaimArgs {
    #[command(flatten)]
    pub connection: ChainConnection,
    #[command(flatten)]
    pub market: MarketArg,
    /// The experiment's public record (its id and settlement).
    #[arg(long)]
    pub record: PathBuf,
    /// Whose leaf (default: your key's account); anyone may claim for anyone.
    #[arg(long)]
    pub labeler: Option<String>,
}

/// Runs a `chain` subcommand.
pub fn run(command: ChainCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        match command {
            ChainCommand::Deploy(args) => deploy(args).await,
            ChainCommand::Mint(args) => mint(args).await,
            ChainCommand::Deposit(args) => deposit(args).await,
            ChainCommand::Withdraw(args) => withdraw(args).await,
            ChainCommand::Balance(args) => balance(args).await,
            ChainCommand::Claim(args) => claim(args).await,
        }
    })
}

async fn deploy(args: DeployArgs) -> anyhow::Result<()> {
    let token = args.token.as_deref().map(|t| parse_address("--token", t)).transpose()?;
    let secret = args.connection.secret()?;
    let market =
        Market::deploy(&args.connection.rpc(), &secret, token).await.map_err(chain_error)?;
    if args.connection.json {
        let document = serde_json::json!({
            "chain_id": market.chain_id(),
            "market": market.address(),
            "token": market.token(),
            "deployer": market.account(),
        });
        println!("{document}");
    } else {
        eprintln!("deployed on chain {} by {}", market.chain_id(), market.account());
        println!("market {}", market.address());
        println!("token {}", market.token());
    }
    Ok(())
}

async fn connect(connection: &ChainConnection, market: &MarketArg) -> anyhow::Result<Market> {
    let (address, secret) = (market.address()?, connection.secret()?);
    Market::connect(&connection.rpc(), &secret, address).await.map_err(chain_error)
}

async fn mint(args: AmountArgs) -> anyhow::Result<()> {
    let market = connect(&args.connection, &args.market).await?;
    if market.chain_id() != plumbline_chain::anvil::CHAIN_ID {
        return Err(bad_input("minting is for the test token on a local chain (31337) only"));
    }
    let tx = market.mint(market.account(), args.amount).await.map_err(chain_error)?;
    print_tx(&args.connection, "mint", args.amount, tx)
}

async fn deposit(args: AmountArgs) -> anyhow::Result<()> {
    let market = connect(&args.connection, &args.market).await?;
    let tx = market.deposit(args.amount).await.map_err(chain_error)?;
    print_tx(&args.connection, "deposit", args.amount, tx)
}

async fn withdraw(args: AmountArgs) -> anyhow::Result<()> {
    let market = connect(&args.connection, &args.market).await?;
    let tx = market.withdraw(args.amount).await.map_err(chain_error)?;
    print_tx(&args.connection, "withdraw", args.amount, tx)
}

fn print_tx(
    connection: &ChainConnection,
    what: &str,
    amount: Amount,
    tx: plumbline_chain::Tx,
) -> anyhow::Result<()> {
    if connection.json {
        let document = serde_json::json!({
            what: amount.to_string(),
            "transaction": tx.hash,
            "gas_used": tx.gas_used,
        });
        println!("{document}");
    } else {
        println!("{what} {amount} in {} ({} gas)", tx.hash, tx.gas_used);
    }
    Ok(())
}

async fn balance(args: BalanceArgs) -> anyhow::Result<()> {
    let market = connect(&args.connection, &args.market).await?;
    let account = match &args.account {
        Some(text) => parse_address("--account", text)?,
        None => market.account(),
    };
    let held = market.balance_of(account).await.map_err(chain_error)?;
    let wallet = market.token_balance(account).await.map_err(chain_error)?;
    if args.connection.json {
        let document = serde_json::json!({
            "account": account,
            "market_balance": held.to_string(),
            "wallet_balance": wallet.to_string(),
        });
        println!("{document}");
    } else {
        println!("{account}: {held} in the market, {wallet} in the wallet");
    }
    Ok(())
}

async fn claim(args: ClaimArgs) -> anyhow::Result<()> {
    let text = read_input(&args.record)?;
    let record = PublicRecord::from_json(&text)
        .map_err(|e| bad_input(format!("{} is not a public record: {e}", args.record.display())))?;
    let market = connect(&args.connection, &args.market).await?;
    if record.chain_id != market.chain_id() || record.verifying_contract != market.address() {
        return Err(bad_input(format!(
            "the record is for market {} on chain {}, not {} on chain {}",
            record.verifying_contract,
            record.chain_id,
            market.address(),
            market.chain_id()
        )));
    }
    let labeler = match &args.labeler {
        Some(text) => parse_address("--labeler", text)?,
        None => market.account(),
    };
    let tx = market
        .claim(record.experiment_id, &record.settlement, labeler)
        .await
        .map_err(chain_error)?;
    let amount =
        record.settlement.labelers.iter().find(|l| l.labeler == labeler).map_or(0, |l| l.payout);
    if args.connection.json {
        let document = serde_json::json!({
            "labeler": labeler,
            "claimed": amount.to_string(),
            "transaction": tx.hash,
            "gas_used": tx.gas_used,
        });
        println!("{document}");
    } else {
        println!("claimed {amount} for {labeler} in {} ({} gas)", tx.hash, tx.gas_used);
    }
    Ok(())
}

fn parse_address(flag: &str, text: &str) -> anyhow::Result<Address> {
    text.trim().parse().map_err(|e| bad_input(format!("{flag}: `{text}` is not an address: {e}")))
}

/// A chain error: the user's input when it is (a bad URL or key, a settlement that does not
/// match its root, no leaf for the labeler, the test token off a local chain), else a failure.
fn chain_error(error: ChainError) -> anyhow::Error {
    match error {
        ChainError::BadUrl { .. }
        | ChainError::BadKey
        | ChainError::Settlement(_)
        | ChainError::NoPayout(_)
        | ChainError::TestTokenOffLocal { .. } => bad_input(error),
        other => anyhow::Error::new(other),
    }
}
