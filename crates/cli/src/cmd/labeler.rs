//! `plumbline labeler ...`: a programmatic labeler that reads its labels from a file.

use super::{Connection, read_input};
use crate::exit::bad_input;
use clap::Subcommand;
use plumbline_core::B256;
use plumbline_core::client::{RevealedLabel, SignedCommit, SignedJoin};
use plumbline_core::label::Label;
use plumbline_core::seal::{SealContext, public_key_from_hex, seal_reveal};
use plumbline_core::spec::{Question, QuestionKind};
use std::collections::HashMap;
use std::path::PathBuf;

/// Labeler commands.
#[derive(Subcommand)]
pub enum LabelerCommand {
    /// Join an experiment: locks one batch's stake and prints the batch (JSON).
    Join {
        /// The experiment id.
        id: String,
        /// The cohort you belong to, when the experiment has cohorts.
        #[arg(long)]
        cohort: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Commit a batch's labels (before the commit deadline).
    Commit {
        #[command(flatten)]
        labels: LabelsArgs,
        /// Leave the signed reveal with the operator, sealed to the server's sealing key, so
        /// that the server reveals for you when the commit deadline passes (the operator can
        /// read these labels before then; other labelers cannot).
        #[arg(long)]
        leave_reveal: bool,
    },
    /// Reveal a batch's labels (after the commit deadline); the salt comes from your key.
    Reveal(LabelsArgs),
}

/// A batch and the file of its labels.
#[derive(clap::Args)]
pub struct LabelsArgs {
    /// The experiment id.
    pub id: String,
    /// The batch id `join` printed.
    #[arg(long)]
    pub batch: u64,
    /// The labels: JSON lines `{"id": POSITION, "label": LABEL}` (or one JSON object mapping
    /// positions to labels), a task's position being its `task` in the batch `join` printed,
    /// labels in canonical response order.
    #[arg(long)]
    pub labels: PathBuf,
    #[command(flatten)]
    pub connection: Connection,
}

/// Runs a labeler command.
pub fn run(command: LabelerCommand) -> anyhow::Result<()> {
    match command {
        LabelerCommand::Join { id, cohort, connection } => {
            let key = connection.key()?;
            // Signed in, so that a repeated join shows the batch too.
            let api = connection.signed_in()?;
            let experiment: serde_json::Value = api.get(&format!("/experiments/{id}"))?;
            let experiment_id = parse_id(&id)?;
            let stake = experiment["spec"]["stake_per_batch"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| anyhow::anyhow!("the experiment has no stake_per_batch"))?;
            let mine: serde_json::Value =
                api.get(&format!("/experiments/{id}/labelers/{}", key.address()))?;
            let nonce = mine["next_nonce"].as_u64().unwrap_or(0);
            let domain = crate::api::domain_of(&experiment);
            let join: SignedJoin =
                key.join(&domain, experiment_id, cohort.as_deref(), stake, nonce);
            let batch: serde_json::Value = api.post(&format!("/experiments/{id}/join"), &join)?;
            println!("{batch:#}");
        }
        LabelerCommand::Commit { labels: args, leave_reveal } => {
            let (api, key, experiment, labels) = prepare(&args)?;
            let domain = crate::api::domain_of(&experiment);
            let experiment_id = parse_id(&args.id)?;
            let commit: SignedCommit = key.commit(&domain, experiment_id, args.batch, &labels)?;
            let mut body = serde_json::to_value(&commit)?;
            if leave_reveal {
                let operator = sealing_key(&api)?;
                let reveal = key.reveal(&domain, experiment_id, args.batch, labels)?;
                let context =
                    SealContext { experiment_id, batch_id: args.batch, labeler: key.address() };
                let (ephemeral, iv) = seal_randomness()?;
                body["sealed_reveal"] =
                    seal_reveal(&operator, &context, &reveal, &ephemeral, iv).into();
            }
            let answer: serde_json::Value = api
                .post(&format!("/experiments/{}/batches/{}/commit", args.id, args.batch), &body)?;
            println!("{answer}");
        }
        LabelerCommand::Reveal(args) => {
            let (api, key, experiment, labels) = prepare(&args)?;
            let domain = crate::api::domain_of(&experiment);
            let reveal = key.reveal(&domain, parse_id(&args.id)?, args.batch, labels)?;
            let answer: serde_json::Value = api.post(
                &format!("/experiments/{}/batches/{}/reveal", args.id, args.batch),
                &reveal,
            )?;
            println!("{answer}");
        }
    }
    Ok(())
}

/// The server's sealing key, or an error naming why a reveal cannot be left with it.
fn sealing_key(api: &crate::api::Api) -> anyhow::Result<k256::PublicKey> {
    let answer: serde_json::Value = api.get("/sealing-key")?;
    let text = answer["public_key"].as_str().ok_or_else(|| {
        bad_input("this server holds no sealing key (serve --sealing-key): reveal yourself")
    })?;
    public_key_from_hex(text)
        .ok_or_else(|| anyhow::anyhow!("the server's sealing key {text:?} is not a secp256k1 key"))
}

/// A fresh ephemeral key and iv for one seal.
fn seal_randomness() -> anyhow::Result<(k256::SecretKey, [u8; 12])> {
    let mut iv = [0u8; 12];
    getrandom::fill(&mut iv).map_err(|e| anyhow::anyhow!("the system has no randomness: {e}"))?;
    Ok((super::keys::new_key()?.sealing_key(), iv))
}

type Prepared =
    (crate::api::Api, plumbline_core::client::LabelerKey, serde_json::Value, Vec<RevealedLabel>);

/// Loads the key, the experiment, the batch, and the labels file mapped onto the batch's tasks.
fn prepare(args: &LabelsArgs) -> anyhow::Result<Prepared> {
    let key = args.connection.key()?;
    // Batches are private to their labeler until settlement.
    let api = args.connection.signed_in()?;
    let experiment: serde_json::Value = api.get(&format!("/experiments/{}", args.id))?;
    let question: Question = serde_json::from_value(experiment["spec"]["question"].clone())
        .map_err(|e| anyhow::anyhow!("the experiment's question does not parse: {e}"))?;
    let kind = question.kind;
    let batch: serde_json::Value =
        api.get(&format!("/experiments/{}/batches/{}", args.id, args.batch))?;
    if batch["labeler"].as_str().map(str::to_lowercase)
        != Some(key.address().to_string().to_lowercase())
    {
        return Err(bad_input(format!("batch {} is not yours", args.batch)));
    }
    let given = read_labels(&args.labels, &kind)?;
    let mut labels = Vec::new();
    for task in batch["tasks"].as_array().into_iter().flatten() {
        let position = task["task"].as_u64().unwrap_or_default() as u32;
        let label = given.get(&position.to_string()).ok_or_else(|| {
            bad_input(format!("{} has no label for task {position}", args.labels.display()))
        })?;
        labels.push(RevealedLabel { task: position, label: label.clone() });
    }
    Ok((api, key, experiment, labels))
}

fn read_labels(
    path: &std::path::Path,
    kind: &QuestionKind,
) -> anyhow::Result<HashMap<String, Label>> {
    let text = read_input(path)?;
    let bad = |line: usize, e: String| bad_input(format!("{}: line {line}: {e}", path.display()));
    let mut labels = HashMap::new();
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(&text)
        && !map.contains_key("id")
    {
        for (id, value) in map {
            let label = Label::from_json(&value, kind).map_err(|e| bad(1, format!("{id}: {e}")))?;
            labels.insert(id, label);
        }
        return Ok(labels);
    }
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(index + 1, e.to_string()))?;
        let id = match &row["id"] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => return Err(bad(index + 1, "`id` must be a string or number".into())),
        };
        let label =
            Label::from_json(&row["label"], kind).map_err(|e| bad(index + 1, e.to_string()))?;
        labels.insert(id, label);
    }
    Ok(labels)
}

fn parse_id(id: &str) -> anyhow::Result<B256> {
    id.parse()
        .map_err(|_| bad_input(format!("{id:?} is not an experiment id (0x and 64 hex digits)")))
}
