//! `plumbline experiment ...`: the experimenter's side, over the HTTP API.

use super::{Connection, read_input};
use crate::exit::bad_input;
use clap::{Args, Subcommand};
use plumbline_client::Client;
use plumbline_client::api::{CreateRequest, ExperimentView};
use std::path::{Path, PathBuf};

/// Experiment commands.
#[derive(Subcommand)]
pub enum ExperimentCommand {
    /// Create an experiment from a spec file; prints its id.
    Create {
        /// The spec (TOML, or JSON when the name ends in .json).
        spec: PathBuf,
        #[command(flatten)]
        connection: Connection,
    },
    /// Import a JSONL task file (all or nothing).
    Import {
        /// The experiment id.
        id: String,
        /// The JSONL task file.
        tasks: PathBuf,
        #[command(flatten)]
        connection: Connection,
    },
    /// Import a draft's practice pool from a JSONL file, checked here first (all or nothing;
    /// once): tasks with their answer in `gold` and an optional `explanation`.
    Practice {
        /// The experiment id.
        id: String,
        /// The JSONL practice file.
        practice: PathBuf,
        #[command(flatten)]
        connection: Connection,
    },
    /// Escrow the reward pool: from your ledger balance, or for an experiment on chain, create
    /// it in the market from your wallet (--chain-rpc) and have the server check it.
    Fund(FundArgs),
    /// Open the experiment to labelers.
    Open(IdArgs),
    /// End the commit phase now, once every joined batch is committed (embedded ledger only):
    /// reveals open at once and settlement follows the last one.
    Close(IdArgs),
    /// Cancel a draft experiment and refund its pool.
    Cancel(IdArgs),
    /// Show the experiment and its live stats.
    Status(IdArgs),
    /// Settle now (allowed once the reveal deadline has passed, or on the embedded ledger once
    /// every committed batch is revealed).
    Settle(IdArgs),
    /// Download the dataset of a settled experiment.
    Export {
        /// The experiment id.
        id: String,
        /// trl, jsonl, csv, parquet, raw or card (the dataset card, README.md).
        #[arg(long, default_value = "trl")]
        format: String,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// trl: the least confidence of a pair, from 0.5 to 1 (the server's default is 0.7).
        #[arg(long)]
        min_confidence: Option<f64>,
        /// trl: the least margin of a pair, the consensus strength on the question's −K..K
        /// scale (the server's default is 0, any pair that prefers a side).
        #[arg(long)]
        min_margin: Option<f64>,
        /// trl: leave out the gold tasks (by default they are pairs with the gold answer).
        #[arg(long)]
        no_gold: bool,
        /// trl: the consensus of this cohort's labels alone.
        #[arg(long, conflicts_with = "bridging")]
        cohort: Option<String>,
        /// trl: only the pairs every cohort's consensus agrees on.
        #[arg(long)]
        bridging: bool,
        /// trl: TRL's implicit-prompt form: the prompt in front of both responses, no prompt
        /// column.
        #[arg(long)]
        implicit_prompt: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Download the public record of a settled experiment (for `plumbline audit`).
    Record {
        /// The experiment id.
        id: String,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        connection: Connection,
    },
}

/// An experiment id and a connection.
#[derive(Args)]
pub struct IdArgs {
    /// The experiment id.
    pub id: String,
    #[command(flatten)]
    pub connection: Connection,
}

/// Arguments of `experiment fund`.
#[derive(Args)]
pub struct FundArgs {
    /// The experiment id.
    pub id: String,
    #[command(flatten)]
    pub connection: Connection,
    /// For an experiment on chain: the chain's JSON-RPC endpoint. Your key creates the
    /// experiment in the market and escrows the pool from your wallet (approving the market
    /// if needed) before the server is asked to check it.
    #[arg(long)]
    pub chain_rpc: Option<String>,
    /// For an experiment on chain: how long a posted settlement can be challenged (3,600 to
    /// 2,592,000 seconds).
    #[arg(long, default_value_t = 3_600)]
    pub challenge_window_secs: u32,
    /// For an experiment on chain: the account that may challenge a settlement, none by
    /// default; the server funds only an escrow whose challenger is its operator or none.
    #[arg(long)]
    pub challenger: Option<String>,
}

const EXPORT_FORMATS: [&str; 6] = ["trl", "jsonl", "csv", "parquet", "raw", "card"];

/// Runs an experiment command.
pub fn run(command: ExperimentCommand) -> anyhow::Result<()> {
    match command {
        ExperimentCommand::Create { spec, connection } => {
            let spec = super::spec::load(&spec)?;
            let api = connection.signed_in()?;
            let spec = serde_json::to_value(spec)?;
            let created: ExperimentView = api.post_once("/experiments", &CreateRequest { spec })?;
            println!("{}", created.experiment_id);
            eprintln!("created a draft experiment: {:?}", created.title);
        }
        ExperimentCommand::Import { id, tasks, connection } => {
            let text = read_input(&tasks)?;
            let api = connection.signed_in()?;
            let path = format!("/experiments/{id}/tasks");
            let summary: serde_json::Value = api.post_text(&path, "application/x-ndjson", &text)?;
            println!("{summary}");
        }
        ExperimentCommand::Practice { id, practice, connection } => {
            import_practice(&id, &practice, &connection)?
        }
        ExperimentCommand::Fund(a) => fund(a)?,
        ExperimentCommand::Open(a) => print_action(a, "open")?,
        ExperimentCommand::Close(a) => print_action(a, "close")?,
        ExperimentCommand::Cancel(a) => print_action(a, "cancel")?,
        ExperimentCommand::Settle(a) => print_action(a, "settle")?,
        ExperimentCommand::Status(IdArgs { id, connection }) => {
            let api = connection.anonymous();
            let experiment: serde_json::Value = api.get(&format!("/experiments/{id}"))?;
            let stats: serde_json::Value = api.get(&format!("/experiments/{id}/stats"))?;
            let document = serde_json::json!({ "experiment": experiment, "stats": stats });
            println!("{document:#}");
        }
        ExperimentCommand::Export {
            id,
            format,
            out,
            min_confidence,
            min_margin,
            no_gold,
            cohort,
            bridging,
            implicit_prompt,
            connection,
        } => {
            if !EXPORT_FORMATS.contains(&format.as_str()) {
                return Err(bad_input(format!(
                    "unknown export format {format:?}; use one of {}",
                    EXPORT_FORMATS.join(", ")
                )));
            }
            if format != "trl"
                && (min_confidence.is_some()
                    || min_margin.is_some()
                    || no_gold
                    || cohort.is_some()
                    || bridging
                    || implicit_prompt)
            {
                return Err(bad_input(
                    "--min-confidence, --min-margin, --no-gold, --cohort, --bridging and \
                     --implicit-prompt apply to --format trl",
                ));
            }
            let mut query = vec![("format", format)];
            if let Some(c) = min_confidence {
                query.push(("min_confidence", c.to_string()));
            }
            if let Some(m) = min_margin {
                query.push(("min_margin", m.to_string()));
            }
            if no_gold {
                query.push(("gold", "false".into()));
            }
            if let Some(cohort) = cohort {
                query.push(("cohort", cohort));
            }
            if bridging {
                query.push(("bridging", "true".into()));
            }
            if implicit_prompt {
                query.push(("prompt", "implicit".into()));
            }
            let api = connection.anonymous();
            let bytes = api.get_bytes(&format!("/experiments/{id}/export"), &query)?;
            write_out(out, &bytes)?;
        }
        ExperimentCommand::Record { id, out, connection } => {
            let api = connection.anonymous();
            let bytes = api.get_bytes(&format!("/experiments/{id}/record"), &[])?;
            write_out(out, &bytes)?;
        }
    }
    Ok(())
}

/// Checks a practice file against the experiment's question, naming the first bad line, and
/// that it holds the tasks the qualification asks of each labeler (a pool is imported once),
/// before sending it.
fn import_practice(id: &str, file: &Path, connection: &Connection) -> anyhow::Result<()> {
    let text = read_input(file)?;
    let api = connection.signed_in()?;
    let experiment: ExperimentView = api.get(&format!("/experiments/{id}"))?;
    let spec = experiment.spec;
    let pool = plumbline_core::practice::parse_jsonl(&text, &spec.question.kind)
        .map_err(|e| bad_input(format!("{}: {e}", file.display())))?;
    if let Some(qualification) = &spec.qualification
        && pool.len() < qualification.items as usize
    {
        return Err(bad_input(format!(
            "{}: {} practice tasks, but the qualification asks {} of each labeler",
            file.display(),
            pool.len(),
            qualification.items
        )));
    }
    let path = format!("/experiments/{id}/practice");
    let summary: serde_json::Value = api.post_text(&path, "application/x-ndjson", &text)?;
    println!("{summary}");
    eprintln!("imported {} practice tasks", summary["practice_tasks"]);
    Ok(())
}

fn print_action(args: IdArgs, action: &str) -> anyhow::Result<()> {
    let api = if action == "settle" {
        args.connection.anonymous()
    } else {
        args.connection.signed_in()?
    };
    let answer: serde_json::Value =
        api.post(&format!("/experiments/{}/{action}", args.id), &serde_json::json!({}))?;
    println!("{answer:#}");
    Ok(())
}

fn fund(args: FundArgs) -> anyhow::Result<()> {
    let api = args.connection.signed_in()?;
    let experiment: ExperimentView = api.get(&format!("/experiments/{}", args.id))?;
    let domain = experiment.domain();
    let contract = domain.verifying_contract.unwrap_or_default();
    if !contract.is_zero() {
        let Some(rpc) = &args.chain_rpc else {
            return Err(bad_input(format!(
                "experiment {} keeps its money in market {contract} on chain {}: pass \
                 --chain-rpc URL to create it there from your wallet",
                args.id,
                domain.chain_id.unwrap_or_default()
            )));
        };
        create_on_chain(&args, &api, &experiment, rpc, contract)?;
    }
    let answer: serde_json::Value =
        api.post(&format!("/experiments/{}/fund", args.id), &serde_json::json!({}))?;
    println!("{answer:#}");
    Ok(())
}

/// Creates the experiment in the market with its spec's terms and the server's operator,
/// escrowing the pool from the key's wallet; an experiment already there is left as it is.
fn create_on_chain(
    args: &FundArgs,
    api: &Client,
    experiment: &ExperimentView,
    rpc: &str,
    contract: plumbline_core::Address,
) -> anyhow::Result<()> {
    use plumbline_chain::{Market, Terms};
    let (id, spec) = (experiment.experiment_id, &experiment.spec);
    let chain: serde_json::Value = api.get("/chain")?;
    let operator: plumbline_core::Address = chain["operator"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("the server names no operator"))?;
    let challenger = match &args.challenger {
        Some(text) => {
            text.trim().parse().map_err(|e| bad_input(format!("--challenger `{text}`: {e}")))?
        }
        None => plumbline_core::Address::ZERO,
    };
    let secret = plumbline_core::B256::from(args.connection.key()?.secret_bytes());
    let terms = Terms::of_spec(spec, operator, challenger, args.challenge_window_secs);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let market = Market::connect(rpc, &secret, contract).await?;
        if market.experiment(id).await?.creator != plumbline_core::Address::ZERO {
            eprintln!("experiment {id} already exists on chain");
            return Ok(());
        }
        let tx = market.create_experiment(id, &terms).await?;
        eprintln!(
            "created on chain {} in {} ({} gas), {} escrowed",
            market.chain_id(),
            tx.hash,
            tx.gas_used,
            terms.pool
        );
        Ok::<(), plumbline_chain::Error>(())
    })?;
    Ok(())
}

fn write_out(out: Option<PathBuf>, bytes: &[u8]) -> anyhow::Result<()> {
    match out {
        Some(path) => {
            std::fs::write(&path, bytes)
                .map_err(|e| bad_input(format!("cannot write {}: {e}", path.display())))?;
            eprintln!("wrote {} bytes to {}", bytes.len(), path.display());
        }
        None => {
            use std::io::Write;
            std::io::stdout().write_all(bytes)?;
        }
    }
    Ok(())
}
