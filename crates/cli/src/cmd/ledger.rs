//! `plumbline ledger ...`: credits in the embedded ledger.

use super::Connection;
use crate::exit::bad_input;
use clap::Subcommand;

/// Ledger commands.
#[derive(Subcommand)]
pub enum LedgerCommand {
    /// Run the full ledger check on a database: every journal entry's hash chain and sums,
    /// every account against its entries, every experiment's escrow and locked stakes. Exits 1
    /// when anything is wrong. Reads only; a running server may share the database.
    Check {
        /// The SQLite file or the PostgreSQL URL the server runs on.
        #[arg(long, default_value = "plumbline.db")]
        db: String,
        /// Print one JSON document instead of a summary.
        #[arg(long)]
        json: bool,
    },
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
        LedgerCommand::Check { db, json } => return check(&db, json),
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

/// `ledger check`: the full check, straight on the database.
fn check(db: &str, json: bool) -> anyhow::Result<()> {
    // A check must not create the database it was asked about.
    if !plumbline_store::is_postgres_url(db) && !std::path::Path::new(db).exists() {
        return Err(bad_input(format!("no database at {db}")));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    let report = runtime.block_on(async {
        let store = plumbline_store::open(db).await?;
        let report = store.check_ledger().await;
        store.close().await;
        report
    });
    let report = report.map_err(|e| anyhow::anyhow!("cannot check the ledger of {db}: {e}"))?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "balanced": report.balanced,
                "journal_entries": report.journal_entries,
                "accounts": report.accounts,
                "problems": report.problems,
            })
        );
    } else {
        println!(
            "{}: {} journal entries and {} accounts checked",
            if report.balanced { "balanced" } else { "NOT BALANCED" },
            report.journal_entries,
            report.accounts
        );
        for problem in &report.problems {
            println!("  {problem}");
        }
    }
    if report.balanced {
        Ok(())
    } else {
        Err(anyhow::Error::new(crate::exit::Failed("the ledger check failed".into())))
    }
}
