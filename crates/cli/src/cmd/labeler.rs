//! `plumbline labeler ...`: a programmatic labeler that reads its labels from a file.

use super::{Connection, read_input};
use crate::exit::{Failed, bad_input};
use anyhow::Context;
use clap::Subcommand;
use plumbline_client::Client;
use plumbline_client::api::{BatchView, ExperimentView};
use plumbline_core::B256;
use plumbline_core::assign::{to_canonical, to_shown};
use plumbline_core::client::{JOIN_VALID_SECS, RevealedLabel, SignedCommit, SignedJoin};
use plumbline_core::label::Label;
use plumbline_core::seal::{SealContext, public_key_from_hex, seal_reveal};
use plumbline_core::spec::QuestionKind;
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
    /// Practise before joining: answer your practice tasks from a file, each once, printing
    /// the verdict and explanation of each and then your score; or, without --answers, show
    /// your standing and current task.
    Practice(PracticeArgs),
}

/// Arguments of `labeler practice`.
#[derive(clap::Args)]
pub struct PracticeArgs {
    /// The experiment id.
    pub id: String,
    /// Answer your practice tasks from this file: JSON lines `{"task": ID, "label": LABEL}`, a
    /// practice task's id and its label in canonical response order. Lines for tasks outside
    /// your draw are ignored; a task of your draw with no line stops here, unanswered.
    #[arg(long)]
    pub answers: Option<PathBuf>,
    /// Print one JSON document: the standing and current task, or with --answers
    /// `{answered: [...], progress}`.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connection: Connection,
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
            let experiment: ExperimentView = api.get(&format!("/experiments/{id}"))?;
            let experiment_id = parse_id(&id)?;
            let stake = experiment.spec.stake_per_batch;
            let mine: serde_json::Value =
                api.get(&format!("/experiments/{id}/labelers/{}", key.address()))?;
            let nonce = mine["next_nonce"].as_u64().unwrap_or(0);
            let server_now = mine["now"]
                .as_u64()
                .ok_or_else(|| anyhow::anyhow!("the server did not say what time it is"))?;
            let domain = experiment.domain();
            let expires_at = server_now.saturating_add(JOIN_VALID_SECS);
            let join: SignedJoin =
                key.join_until(&domain, experiment_id, cohort.as_deref(), stake, nonce, expires_at);
            let batch: serde_json::Value =
                api.post(&format!("/experiments/{id}/join"), &join).map_err(|e| {
                    crate::api::hint_on(e.into(), "not_qualified", || practice_hint(&id))
                })?;
            println!("{batch:#}");
        }
        LabelerCommand::Commit { labels: args, leave_reveal } => {
            let (api, key, experiment, labels) = prepare(&args)?;
            let domain = experiment.domain();
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
            let domain = experiment.domain();
            let reveal = key.reveal(&domain, parse_id(&args.id)?, args.batch, labels)?;
            let answer: serde_json::Value = api.post(
                &format!("/experiments/{}/batches/{}/reveal", args.id, args.batch),
                &reveal,
            )?;
            println!("{answer}");
        }
        LabelerCommand::Practice(args) => practice(args)?,
    }
    Ok(())
}

/// What to do when a join is refused for want of a qualification.
fn practice_hint(id: &str) -> String {
    format!(
        "this experiment admits only labelers who pass its practice: practise first with \
         `plumbline labeler practice {id} --answers FILE`; `plumbline labeler practice {id}` \
         shows where you stand"
    )
}

/// `labeler practice`: shows the standing, or answers the draw from the answers file.
fn practice(args: PracticeArgs) -> anyhow::Result<()> {
    let text = args.answers.as_deref().map(read_input).transpose()?;
    let api = args.connection.signed_in()?;
    let path = format!("/experiments/{}/practice", args.id);
    let mut progress: serde_json::Value = api.get(&path)?;
    let (Some(text), Some(file)) = (text, args.answers.as_deref()) else {
        if args.json {
            println!("{progress:#}");
        } else {
            print_standing(&progress);
            print_task(&progress);
        }
        return Ok(());
    };
    let experiment: ExperimentView = api.get(&format!("/experiments/{}", args.id))?;
    let kind = experiment.spec.question.kind;
    let given = read_practice_answers(file, &text, &kind)?;
    let mut answered = Vec::new();
    let mut stopped = None;
    while let Some(task) = progress.get("task").filter(|t| t.is_object()).cloned() {
        let id = task["id"].as_str().context("the practice task has no id")?.to_owned();
        let order: Vec<u8> = serde_json::from_value(task["response_order"].clone())
            .context("the practice task has no response order")?;
        let Some(label) = given.get(&id) else {
            stopped = Some(bad_input(format!(
                "{} has no answer for practice task {id:?}, the next of your draw: nothing was \
                 sent for it ({} of {} answered)",
                file.display(),
                progress["answered"],
                progress["items"]
            )));
            break;
        };
        let body = serde_json::json!({ "task": id, "label": to_shown(label, &order) });
        let feedback: serde_json::Value = api.post(&format!("{path}/answers"), &body)?;
        // The expected answer comes in the order shown; the file's labels are canonical.
        let answer = Label::from_json(&feedback["answer"], &kind)
            .map(|shown| to_canonical(&shown, &order))
            .map_err(|e| anyhow::anyhow!("the server's answer to {id:?}: {e}"))?;
        let entry = serde_json::json!({
            "task": id,
            "label": label,
            "verdict": feedback["verdict"],
            "agreement": feedback["agreement"],
            "answer": answer,
            "explanation": feedback["explanation"],
        });
        if !args.json {
            print_feedback(&entry);
        }
        answered.push(entry);
        progress = feedback["progress"].clone();
    }
    if args.json {
        let document = serde_json::json!({ "answered": answered, "progress": progress });
        println!("{document:#}");
    } else {
        print_standing(&progress);
    }
    if let Some(error) = stopped {
        return Err(error);
    }
    if progress["qualified"] == false {
        return Err(anyhow::Error::new(Failed(format!(
            "not qualified: practice score {} is below the {} required to join",
            score_text(&progress["score"]),
            score_text(&progress["score_min"])
        ))));
    }
    Ok(())
}

/// Reads a practice answers file: JSON lines `{"task": ID, "label": LABEL}`, labels canonical,
/// each task once.
fn read_practice_answers(
    path: &std::path::Path,
    text: &str,
    kind: &QuestionKind,
) -> anyhow::Result<HashMap<String, Label>> {
    let bad = |line: usize, e: String| bad_input(format!("{}: line {line}: {e}", path.display()));
    let mut answers = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(index + 1, e.to_string()))?;
        let Some(task) = row["task"].as_str() else {
            return Err(bad(index + 1, "`task` must be a practice task's id (a string)".into()));
        };
        let label =
            Label::from_json(&row["label"], kind).map_err(|e| bad(index + 1, e.to_string()))?;
        if answers.insert(task.to_owned(), label).is_some() {
            return Err(bad(index + 1, format!("task {task:?} is answered twice")));
        }
    }
    Ok(answers)
}

/// A score from the server (−1..1), or `none` before there is one.
fn score_text(score: &serde_json::Value) -> String {
    score.as_f64().map_or("none".into(), |s| format!("{s:.2}"))
}

/// One answered task: its verdict, the expected answer when it was not right, and why.
fn print_feedback(entry: &serde_json::Value) {
    let verdict = entry["verdict"].as_str().unwrap_or("?");
    let task = entry["task"].as_str().unwrap_or_default();
    if verdict == "right" {
        println!("{task}: right");
    } else {
        println!("{task}: {verdict}, the answer is {}", entry["answer"]);
    }
    for line in entry["explanation"].as_str().unwrap_or_default().lines() {
        println!("  {line}");
    }
}

/// The standing: answered of items, the score, and whether it qualified.
fn print_standing(progress: &serde_json::Value) {
    let required = match progress["score_min"].as_f64() {
        Some(min) if progress["required"] == true => format!("; {min:.2} is required to join"),
        _ => "; optional, not required to join".into(),
    };
    let outcome = match progress["qualified"].as_bool() {
        Some(true) => "qualified",
        Some(false) => "not qualified",
        None => "in progress",
    };
    println!(
        "practice: {} of {} answered, score {}{required}: {outcome}",
        progress["answered"],
        progress["items"],
        score_text(&progress["score"])
    );
}

/// The current task, responses in the order shown to this labeler.
fn print_task(progress: &serde_json::Value) {
    let task = &progress["task"];
    let Some(id) = task["id"].as_str() else { return };
    println!("next task {id}: {}", task["prompt"].as_str().unwrap_or_default());
    let responses = task["responses"].as_array().map(Vec::as_slice).unwrap_or_default();
    let letters = responses.len() <= 26;
    for (shown, response) in responses.iter().enumerate() {
        let mark =
            if letters { char::from(b'A' + shown as u8).to_string() } else { shown.to_string() };
        println!("  {mark}: {}", response.as_str().unwrap_or_default());
    }
    let order = &task["response_order"];
    let identity = order
        .as_array()
        .is_none_or(|o| o.iter().enumerate().all(|(i, c)| c.as_u64() == Some(i as u64)));
    if !identity {
        println!(
            "  (shown in the order {order} of the task's responses; --answers labels are in the task's own order)"
        );
    }
}

/// The server's sealing key, or an error naming why a reveal cannot be left with it.
fn sealing_key(api: &Client) -> anyhow::Result<k256::PublicKey> {
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

type Prepared = (Client, plumbline_core::client::LabelerKey, ExperimentView, Vec<RevealedLabel>);

/// Loads the key, the experiment, the batch, and the labels file mapped onto the batch's tasks.
fn prepare(args: &LabelsArgs) -> anyhow::Result<Prepared> {
    let key = args.connection.key()?;
    // Batches are private to their labeler until settlement.
    let api = args.connection.signed_in()?;
    let experiment: ExperimentView = api.get(&format!("/experiments/{}", args.id))?;
    let kind = experiment.spec.question.kind.clone();
    let batch: BatchView = api.get(&format!("/experiments/{}/batches/{}", args.id, args.batch))?;
    if batch.labeler != key.address() {
        return Err(bad_input(format!("batch {} is not yours", args.batch)));
    }
    let given = read_labels(&args.labels, &kind)?;
    let tasks: Vec<u32> = batch.tasks.iter().map(|task| task.task).collect();
    let labels = labels_for_batch(given, &tasks, &args.labels, args.batch)?;
    Ok((api, key, experiment, labels))
}

/// The labels of a batch's tasks, in the batch's order. A task without a label, or a label
/// for a task the batch does not have (a typo, or another batch's file), is refused: the
/// commitment would otherwise bind labels the labeler did not mean.
fn labels_for_batch(
    mut given: HashMap<String, Label>,
    tasks: &[u32],
    path: &std::path::Path,
    batch: u64,
) -> anyhow::Result<Vec<RevealedLabel>> {
    let mut labels = Vec::with_capacity(tasks.len());
    for &task in tasks {
        let label = given
            .remove(&task.to_string())
            .ok_or_else(|| bad_input(format!("{} has no label for task {task}", path.display())))?;
        labels.push(RevealedLabel { task, label });
    }
    if !given.is_empty() {
        let mut unknown: Vec<String> = given.into_keys().collect();
        unknown.sort();
        return Err(bad_input(format!(
            "{} labels tasks that batch {batch} does not have: {} (its tasks are {})",
            path.display(),
            unknown.join(", "),
            tasks.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(labels)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_labels_file_must_label_exactly_the_batchs_tasks() {
        let path = std::path::Path::new("labels.jsonl");
        let given = |ids: &[&str]| -> HashMap<String, Label> {
            ids.iter().map(|id| (id.to_string(), Label::Int(1))).collect()
        };
        let labels = labels_for_batch(given(&["7", "3"]), &[3, 7], path, 2).unwrap();
        assert_eq!(labels.iter().map(|l| l.task).collect::<Vec<_>>(), [3, 7]);
        let missing = labels_for_batch(given(&["3"]), &[3, 7], path, 2).unwrap_err();
        assert!(missing.to_string().contains("no label for task 7"), "{missing}");
        let unknown = labels_for_batch(given(&["3", "7", "70", "8"]), &[3, 7], path, 2);
        let message = unknown.unwrap_err().to_string();
        assert!(message.contains("does not have: 70, 8 (its tasks are 3, 7)"), "{message}");
    }
}
