//! `plumbline ledger ...`: credits in the embedded ledger.

use super::Connection;
use crate::exit::bad_input;
use clap::Subcommand;

/// Ledger commands.
#[derive(Subcommand)]
pub enum LedgerCommand {
    /// Mint credits to an address (the operator's key only, embedded ledger only).
    Mint {
        /// Who receives them.
        #[arg(long)]
        to: String,
        /// How many base units.
        #[arg(long)]
        amount: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Show an account's available and locked balance and reputation (yours by default).
    Balance {
        /// The address; defaults to your key's.
        address: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
}

/// Runs a ledger command.
pub fn run(command: LedgerCommand) -> anyhow::Result<()> {
    match command {
        LedgerCommand::Mint { to, amount, connection } => {
            plumbline_core::amount::parse(&amount).map_err(bad_input)?;
            let api = connection.signed_in()?;
            let answer: serde_json::Value =
                api.post_once("/ledger/mint", &serde_json::json!({ "to": to, "amount": amount }))?;
            println!("{answer}");
        }
        LedgerCommand::Balance { address, connection } => {
            let address = match address {
                Some(a) => a,
                None => connection.key()?.address().to_string(),
            };
            let api = connection.anonymous();
            let account: serde_json::Value = api.get(&format!("/accounts/{address}"))?;
            println!("{account:#}");
        }
    }
    Ok(())
}
