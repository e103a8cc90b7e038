//! The dataset of a settled experiment, built from its public record: per task the consensus
//! label with its confidence (from `plumbline-infer`), the per-item agreement, and the labels
//! that made it under per-experiment pseudonyms. Labels of slashed labelers are left out, and so
//! are a labeler's labels in a declared stratum where it is below chance.
//!
//! Consensus by kind: Dawid-Skene posteriors for binary and choice questions; for pairwise
//! strengths the preferred side from a Dawid-Skene model over sides with strength as evidence
//! (see [`plumbline_infer::preferred_sides`]), its posterior as the confidence and the mean
//! strength on that side as the value; the reliability-weighted mean for ratings;
//! Plackett-Luce for rankings; none for free text. Class and side confidences are recalibrated
//! on the gold tasks (see [`plumbline_infer::fit_recalibration`]).

use crate::fault::{ServiceError, ServiceResult};
use alloy_primitives::keccak256;
use plumbline_core::label::{Agreement, Label};
use plumbline_core::record::PublicRecord;
use plumbline_core::spec::QuestionKind;
use plumbline_core::task::{Message, Prompt, Role};
use plumbline_core::{Address, B256};
use plumbline_infer::{
    Dataset, DsOptions, NumericDataset, PlOptions, Rankings, SidesOptions, WeightedMeanOptions,
    calibrated_confidence, dawid_skene, fit_recalibration, plackett_luce, preferred_sides,
    weighted_mean,
};
use serde_json::{Value, json};
use std::sync::Arc;

/// Export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// TRL preference pairs (JSONL of `prompt, chosen, rejected, margin, confidence`).
    Trl,
    /// One JSON object per task, with everything.
    Jsonl,
    /// One CSV row per task; nested values as JSON.
    Csv,
    /// The CSV's columns as Apache Parquet.
    Parquet,
    /// crowd-kit's long format: `task, worker, label`.
    Raw,
    /// The dataset card (`README.md`, see [`crate::card`]).
    Card,
    /// A best-of experiment's results: per prompt the winner, a ranking with how sure each
    /// place is, and every decided match (see [`best_of`]).
    BestOf,
}

impl Format {
    /// The format named in `?format=`.
    pub fn parse(name: &str) -> ServiceResult<Format> {
        Ok(match name {
            "trl" => Format::Trl,
            "jsonl" => Format::Jsonl,
            "csv" => Format::Csv,
            "parquet" => Format::Parquet,
            "raw" => Format::Raw,
            "card" => Format::Card,
            "best_of" => Format::BestOf,
            other => {
                return Err(ServiceError::bad_request(format!(
                    "unknown format {other:?}: use trl, jsonl, csv, parquet, raw, card or best_of"
                )));
            }
        })
    }

    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Trl | Format::Jsonl => "jsonl",
            Format::Csv | Format::Raw => "csv",
            Format::Parquet => "parquet",
            Format::Card => "md",
            Format::BestOf => "json",
        }
    }

    /// The download's file name: distinct for every format, so two downloads of one
    /// experiment never overwrite each other.
    pub fn file_name(self, experiment: &str) -> String {
        match self {
            Format::Trl => format!("{experiment}.trl.jsonl"),
            Format::Raw => format!("{experiment}.labels.csv"),
            Format::Card => "README.md".into(),
            Format::BestOf => format!("{experiment}.best-of.json"),
            _ => format!("{experiment}.{}", self.extension()),
        }
    }

    /// The media type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Trl | Format::Jsonl => "application/x-ndjson",
            Format::Csv | Format::Raw => "text/csv; charset=utf-8",
            Format::Parquet => "application/vnd.apache.parquet",
            Format::Card => "text/markdown; charset=utf-8",
            Format::BestOf => "application/json",
        }
    }
}

/// A labeler's name in one experiment's dataset: `w` and the first 8 hex digits of
/// `keccak256(experiment_id ‖ address)`. Stable within the experiment, unlinkable across
/// experiments without the address.
pub fn pseudonym(experiment_id: B256, address: Address) -> String {
    let mut bytes = [0u8; 52];
    bytes[..32].copy_from_slice(experiment_id.as_slice());
    bytes[32..].copy_from_slice(address.as_slice());
    format!("w{}", &alloy_primitives::hex::encode(keccak256(bytes))[..8])
}

/// One label in the dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelRow {
    /// Task index.
    pub task: u32,
    /// The labeler's pseudonym.
    pub worker: String,
    /// The labeler's cohort.
    pub cohort: Option<String>,
    /// The canonical label.
    pub label: Label,
    /// It comes after the point where its labeler tired in that session (see
    /// [`plumbline_core::fatigue`]): the consensus weighs it as another labeler's.
    pub tired: bool,
}

impl LabelRow {
    /// Who the consensus models take the label to be from: the labeler, or its tired self.
    pub fn voice(&self) -> String {
        plumbline_core::fatigue::voice(&self.worker, self.tired)
    }
}

/// One task's aggregate.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Item {
    /// The consensus label as JSON (a class, a mean value, a ranking).
    pub consensus: Option<Value>,
    /// The consensus value for pairwise questions: sign is the preferred response.
    pub value: Option<f64>,
    /// The aggregator's confidence in the consensus, in [0, 1].
    pub confidence: Option<f64>,
    /// Mean agreement a(x, y) over pairs of this task's labels, in [0, 1].
    pub agreement: Option<f64>,
    /// Indices into the label rows.
    pub labels: Vec<usize>,
}

/// The labels that go into the dataset (see [`PublicRecord::exported`]), in reveal order.
pub fn label_rows(record: &PublicRecord) -> Vec<LabelRow> {
    let exported = record.exported();
    let tired = record.tired_from(&exported);
    let mut rows = Vec::new();
    for (batch, tired_from) in exported.into_iter().zip(tired) {
        let worker = pseudonym(record.experiment_id, batch.labeler);
        for (position, (task, label)) in batch.labels.into_iter().enumerate() {
            rows.push(LabelRow {
                task,
                worker: worker.clone(),
                cohort: batch.cohort.clone(),
                label,
                tired: tired_from.is_some_and(|from| position >= from),
            });
        }
    }
    rows
}

/// The gold answer of every task (index = task index) that scoring kept: what the export's
/// confidence is calibrated against.
pub fn gold_answers(record: &PublicRecord) -> Vec<Option<i64>> {
    record
        .tasks
        .iter()
        .enumerate()
        .map(|(i, task)| {
            let dropped = record.settlement.gold_dropped.contains(&(i as u32));
            task.gold.as_ref().and_then(Label::as_int).filter(|_| !dropped)
        })
        .collect()
}

/// The aggregate of every task (index = task index). Confidences are the model's posteriors
/// recalibrated on the tasks with a `gold` answer (see [`plumbline_infer::fit_recalibration`]).
pub fn aggregate(kind: &QuestionKind, gold: &[Option<i64>], rows: &[LabelRow]) -> Vec<Item> {
    let task_count = gold.len();
    let mut items = vec![Item::default(); task_count];
    for (i, row) in rows.iter().enumerate() {
        if let Some(item) = items.get_mut(row.task as usize) {
            item.labels.push(i);
        }
    }
    let agreement_of = Agreement::of(kind);
    if !matches!(kind, QuestionKind::Text { .. }) {
        for item in &mut items {
            item.agreement =
                mean_pairwise(&agreement_of, item.labels.iter().map(|&i| &rows[i].label));
        }
    }
    if rows.is_empty() {
        return items;
    }
    match kind {
        QuestionKind::Binary { .. } | QuestionKind::Choice { .. } => {
            let data = Dataset::from_rows(rows.iter().filter_map(|r| {
                let value = r.label.as_int()?;
                Some((r.task.to_string(), r.voice(), value.to_string()))
            }));
            let model = dawid_skene(&data, &DsOptions::default());
            let known: Vec<Option<u32>> = (0..data.n_tasks())
                .map(|t| {
                    let task = data.tasks().name(t as u32).parse::<usize>().ok()?;
                    data.class_index(&gold.get(task).copied().flatten()?.to_string())
                })
                .collect();
            let (_, confidence) = calibrated_confidence(&model.result, &known);
            for (t, confidence) in confidence.into_iter().enumerate() {
                let Ok(task) = data.tasks().name(t as u32).parse::<usize>() else { continue };
                let class = &data.classes()[model.result.labels[t] as usize];
                if let (Some(item), Ok(value)) = (items.get_mut(task), class.parse::<i64>()) {
                    item.consensus = Some(json!(value));
                    item.confidence = Some(confidence);
                }
            }
        }
        QuestionKind::Pairwise { .. } => {
            let Some(data) = numeric(rows) else { return items };
            let sides = preferred_sides(&data, &SidesOptions::default());
            // Posteriors over (first, second) and the known side where gold says which.
            let posterior = |t: usize| [1.0 - sides.second[t], sides.second[t]];
            let posteriors: Vec<[f64; 2]> = (0..data.n_tasks()).map(posterior).collect();
            let known = (0..data.n_tasks()).filter_map(|t| {
                let task = data.tasks().name(t as u32).parse::<usize>().ok()?;
                let answer = gold.get(task).copied().flatten().filter(|a| *a != 0)?;
                Some((&posteriors[t][..], usize::from(answer > 0)))
            });
            let recalibration = fit_recalibration(known);
            for (t, posterior) in posteriors.iter().enumerate() {
                let Ok(task) = data.tasks().name(t as u32).parse::<usize>() else { continue };
                if let Some(item) = items.get_mut(task) {
                    let value = sides.value(t);
                    let calibrated = recalibration.apply(posterior);
                    item.value = Some(value);
                    item.consensus = Some(json!(value));
                    item.confidence = Some(calibrated[0].max(calibrated[1]));
                }
            }
        }
        QuestionKind::Rating { .. } => {
            let Some(data) = numeric(rows) else { return items };
            let fit = weighted_mean(&data, &WeightedMeanOptions::default());
            for t in 0..data.n_tasks() {
                let Ok(task) = data.tasks().name(t as u32).parse::<usize>() else { continue };
                if let Some(item) = items.get_mut(task) {
                    item.value = Some(fit.values[t]);
                    item.consensus = Some(json!(fit.values[t]));
                    item.confidence = Some(fit.confidence[t]);
                }
            }
        }
        QuestionKind::Ranking { n } => {
            let mut rankings = Rankings::new();
            for r in rows {
                if let Label::Ranking(order) = &r.label {
                    let names: Vec<String> =
                        order.iter().map(|p| format!("{}:{p}", r.task)).collect();
                    // A malformed ranking never reaches a record (the reveal was checked).
                    let _ = rankings.push(&r.voice(), &names);
                }
            }
            let fit = plackett_luce(&rankings, &PlOptions::default());
            let score_of = |task: usize, response: u32| {
                rankings.items().get(&format!("{task}:{response}")).map(|i| fit.scores[i as usize])
            };
            for (task, item) in items.iter_mut().enumerate() {
                if item.labels.is_empty() {
                    continue;
                }
                let mut order: Vec<u32> = (0..*n).collect();
                // Stronger first; equal strengths keep the canonical order.
                order.sort_by(|&a, &b| {
                    let (sa, sb) =
                        (score_of(task, a).unwrap_or(0.0), score_of(task, b).unwrap_or(0.0));
                    sb.total_cmp(&sa).then(a.cmp(&b))
                });
                let consensus = Label::Ranking(order.iter().map(|&r| r as u8).collect());
                let sum: i64 = item
                    .labels
                    .iter()
                    .map(|&i| agreement_of.between(&rows[i].label, &consensus))
                    .sum();
                item.confidence = Some(sum as f64 / (item.labels.len() as f64 * 1e6));
                item.consensus = Some(json!(order));
            }
        }
        QuestionKind::Text { .. } => {}
    }
    items
}

/// The integer labels as a numeric dataset (`None` when there are none).
fn numeric(rows: &[LabelRow]) -> Option<NumericDataset> {
    let numeric =
        rows.iter().filter_map(|r| Some((r.task.to_string(), r.voice(), r.label.as_int()? as f64)));
    NumericDataset::from_rows(numeric).ok()
}

fn mean_pairwise<'a>(
    agreement: &Agreement,
    labels: impl Iterator<Item = &'a Label>,
) -> Option<f64> {
    let labels: Vec<&Label> = labels.collect();
    let (mut sum, mut pairs) = (0i64, 0u64);
    for (i, x) in labels.iter().enumerate() {
        for y in &labels[i + 1..] {
            sum += agreement.between(x, y);
            pairs += 1;
        }
    }
    (pairs > 0).then(|| sum as f64 / (pairs as f64 * 1e6))
}

fn label_json(label: &Label) -> Value {
    serde_json::to_value(label).expect("labels serialize")
}

/// What the TRL format keeps.
#[derive(Clone, Debug, PartialEq)]
pub struct TrlOptions {
    /// Whether gold tasks are exported (with the gold answer as `chosen`).
    pub gold: bool,
    /// The least confidence of a consensus pair to be exported.
    pub min_confidence: f64,
    /// The least margin (the consensus strength |value| on the question's −K..K scale, or a
    /// gold answer's strength) of a pair to be exported; 0 keeps every pair that prefers a side.
    pub min_margin: f64,
    /// Whose labels make the consensus.
    pub from: PairsFrom,
    /// TRL's implicit-prompt form: `chosen` and `rejected` each carry the prompt, and there is
    /// no `prompt` column (what reward-model trainers take as well as DPO).
    pub implicit_prompt: bool,
}

impl Default for TrlOptions {
    /// Everyone's consensus; gold included; pairs whose side is less than 70% likely left out;
    /// any margin.
    fn default() -> Self {
        Self {
            gold: true,
            min_confidence: 0.7,
            min_margin: 0.0,
            from: PairsFrom::Everyone,
            implicit_prompt: false,
        }
    }
}

/// Whose labels make a TRL export's consensus (on subjective questions, cohorts may differ).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PairsFrom {
    /// Every exported label.
    Everyone,
    /// One cohort's labels alone.
    Cohort(String),
    /// The pairs every cohort agrees on: each cohort's consensus prefers the same response
    /// (the value is their mean, the confidence the least of theirs).
    Bridging,
}

/// What weighing tired session tails apart did to the consensus (see
/// [`plumbline_core::fatigue`]).
#[derive(Clone, Debug, PartialEq)]
pub struct SessionFilter {
    /// Labels from the ends of sessions where their labeler tired.
    pub tired_labels: usize,
    /// Labelers with such a tail.
    pub tired_labelers: usize,
    /// Gold tasks whose consensus can be set against the gold answer.
    pub gold_tasks: usize,
    /// Of them, the share where the consensus agrees with it, with tired tails weighed apart.
    pub gold_agreement: Option<f64>,
    /// The same with every label counted as its labeler's.
    pub gold_agreement_untired: Option<f64>,
}

/// How the session filter changed the consensus: the tired labels, and agreement with the
/// gold answers with and without weighing them apart. The gold answers are evidence of where a
/// session fell, so the agreement is an optimistic reading for both.
pub fn session_filter(record: &PublicRecord) -> SessionFilter {
    let kind = &record.spec.question.kind;
    let rows = label_rows(record);
    let gold = gold_answers(record);
    let tired: Vec<&LabelRow> = rows.iter().filter(|r| r.tired).collect();
    let tired_labelers: std::collections::HashSet<&str> =
        tired.iter().map(|r| r.worker.as_str()).collect();
    let agreement = |items: &[Item]| {
        let hits: Vec<bool> = items
            .iter()
            .zip(&gold)
            .filter_map(|(item, answer)| {
                let answer = (*answer)?;
                match kind {
                    QuestionKind::Binary { .. } | QuestionKind::Choice { .. } => {
                        Some(item.consensus.as_ref()?.as_i64()? == answer)
                    }
                    QuestionKind::Pairwise { .. } if answer != 0 => {
                        Some(item.value? * answer as f64 > 0.0)
                    }
                    _ => None,
                }
            })
            .collect();
        let share = (!hits.is_empty())
            .then(|| hits.iter().filter(|h| **h).count() as f64 / hits.len() as f64);
        (hits.len(), share)
    };
    let (gold_tasks, gold_agreement) = agreement(&aggregate(kind, &gold, &rows));
    let gold_agreement_untired = if tired.is_empty() {
        gold_agreement
    } else {
        let untired: Vec<LabelRow> =
            rows.iter().map(|r| LabelRow { tired: false, ..r.clone() }).collect();
        agreement(&aggregate(kind, &gold, &untired)).1
    };
    SessionFilter {
        tired_labels: tired.len(),
        tired_labelers: tired_labelers.len(),
        gold_tasks,
        gold_agreement,
        gold_agreement_untired,
    }
}

/// An export's bytes and the rows the TRL options left out (0 for other formats).
#[derive(Debug)]
pub struct Exported {
    /// The file.
    pub bytes: Vec<u8>,
    /// Tasks with a preferred side left out for their confidence or because they are gold.
    pub left_out: usize,
}

/// The dataset in `format` (see [`export_with`] for the TRL options).
pub fn export(record: &PublicRecord, format: Format) -> ServiceResult<Vec<u8>> {
    Ok(export_with(record, format, &TrlOptions::default())?.bytes)
}

/// The dataset in `format`, with `trl` choosing what the TRL format keeps.
pub fn export_with(
    record: &PublicRecord,
    format: Format,
    trl_options: &TrlOptions,
) -> ServiceResult<Exported> {
    let kind = &record.spec.question.kind;
    if format == Format::Trl && !matches!(kind, QuestionKind::Pairwise { .. }) {
        return Err(ServiceError::invalid(format!(
            "the trl format holds preference pairs; this question is {}",
            kind.name()
        )));
    }
    if format == Format::Card {
        let bytes = crate::card::dataset_card(record).into_bytes();
        return Ok(Exported { bytes, left_out: 0 });
    }
    if format == Format::BestOf {
        let bytes = serde_json::to_vec_pretty(&best_of(record)?).map_err(ServiceError::internal)?;
        return Ok(Exported { bytes, left_out: 0 });
    }
    let rows = label_rows(record);
    let gold = gold_answers(record);
    // Everyone's consensus, computed only where the format uses it (a cohort's or the bridging
    // TRL pairs do not).
    let everyone = || aggregate(kind, &gold, &rows);
    // Per-cohort consensus: the same aggregator over each cohort's labels alone.
    let by_cohort = || -> Vec<(&str, Vec<Item>)> {
        let cohorts = record.spec.cohorts.iter().flat_map(|c| c.values.iter());
        cohorts.map(|cohort| (cohort.as_str(), cohort_items(kind, &gold, &rows, cohort))).collect()
    };
    let mut left_out = 0;
    let bytes = match format {
        Format::Trl => {
            let items = match &trl_options.from {
                PairsFrom::Everyone => everyone(),
                PairsFrom::Cohort(cohort) => {
                    if record.spec.cohort_index(cohort).is_none() {
                        return Err(ServiceError::bad_request(format!(
                            "this experiment has no cohort {cohort:?}"
                        )));
                    }
                    cohort_items(kind, &gold, &rows, cohort)
                }
                PairsFrom::Bridging => {
                    let per_cohort = by_cohort();
                    if per_cohort.len() < 2 {
                        return Err(ServiceError::bad_request(
                            "a bridging consensus needs an experiment with cohorts",
                        ));
                    }
                    bridge(record.tasks.len(), &per_cohort)
                }
            };
            let (bytes, dropped) = trl(record, &items, &gold, trl_options);
            left_out = dropped;
            bytes
        }
        Format::Jsonl => jsonl(record, &rows, &everyone(), &by_cohort()),
        Format::Csv => csv_table(record, &rows, &everyone()).map_err(ServiceError::internal)?,
        Format::Parquet => {
            parquet_table(record, &rows, &everyone()).map_err(ServiceError::internal)?
        }
        Format::Raw => raw(record, &rows).map_err(ServiceError::internal)?,
        Format::Card | Format::BestOf => {
            unreachable!(
                "the card and the best-of results are written above, without the consensus"
            )
        }
    };
    Ok(Exported { bytes, left_out })
}

/// A best-of experiment's results (see [`plumbline_core::knockout`]), replayed from its record:
/// per prompt its id, prompt and responses; the winner (`null` when the rounds ran out before
/// the final was decided) with the chance, under the vote model, that it is the best; every
/// response best first, with the matches it won, the level of the match it lost and how sure
/// the crowd was of that loss; and every decided match as a preference pair, with its votes
/// and confidence. The pairs are also in the TRL export, one row per asked pair.
pub fn best_of(record: &PublicRecord) -> ServiceResult<Value> {
    if !record.spec.rounds.as_ref().is_some_and(|r| r.is_best_of()) {
        return Err(ServiceError::invalid(
            "the best_of format holds a best-of experiment's results; this one has no knockout",
        ));
    }
    let experiment = plumbline_core::record::replay(record).map_err(ServiceError::internal)?;
    let groups = experiment.groups();
    let prompts: Vec<Value> = groups
        .iter()
        .zip(experiment.knockouts())
        .map(|(group, knockout)| {
            let first = &record.tasks[group.pair_task(0, 1) as usize];
            // Response i is the first of the pair (i, i + 1), and the last is the second of (0, it).
            let response = |i: u32| {
                let (other, side) = if i + 1 < group.responses { (i + 1, 0) } else { (0, 1) };
                record.tasks[group.pair_task(i, other) as usize].responses[side].clone()
            };
            let responses: Vec<String> = (0..group.responses).map(response).collect();
            let ranking: Vec<Value> = knockout
                .ranking()
                .iter()
                .map(|s| {
                    json!({
                        "response": s.response,
                        "wins": s.wins,
                        "lost_at_level": s.lost_at,
                        "loss_confidence": s.lost_confidence,
                    })
                })
                .collect();
            let matches: Vec<Value> = knockout
                .matches()
                .filter_map(|m| {
                    Some(json!({
                        "level": m.level,
                        "chosen": m.winner?,
                        "rejected": m.loser()?,
                        "votes": m.votes,
                        "confidence": m.confidence(),
                    }))
                })
                .collect();
            json!({
                "task": group.id,
                "prompt": first.prompt,
                "responses": responses,
                "winner": knockout.winner(),
                "winner_confidence": knockout.winner_confidence(),
                "comparisons": knockout.votes_used(),
                "ranking": ranking,
                "matches": matches,
            })
        })
        .collect();
    Ok(json!({ "experiment": format!("{:#x}", record.experiment_id), "prompts": prompts }))
}

/// The aggregate over one cohort's labels alone.
fn cohort_items(
    kind: &QuestionKind,
    gold: &[Option<i64>],
    rows: &[LabelRow],
    cohort: &str,
) -> Vec<Item> {
    let mine: Vec<LabelRow> =
        rows.iter().filter(|r| r.cohort.as_deref() == Some(cohort)).cloned().collect();
    aggregate(kind, gold, &mine)
}

/// Per task, the side every cohort's consensus prefers, where they all prefer one: the mean
/// of their values, at the least of their confidences; no consensus elsewhere.
fn bridge(task_count: usize, per_cohort: &[(&str, Vec<Item>)]) -> Vec<Item> {
    (0..task_count)
        .map(|t| {
            let sides: Vec<(f64, Option<f64>)> = per_cohort
                .iter()
                .filter_map(|(_, items)| Some((items[t].value?, items[t].confidence)))
                .collect();
            let agreed = sides.len() == per_cohort.len()
                && (sides.iter().all(|(v, _)| *v > 1e-9) || sides.iter().all(|(v, _)| *v < -1e-9));
            if !agreed {
                return Item::default();
            }
            let value = sides.iter().map(|(v, _)| v).sum::<f64>() / sides.len() as f64;
            let confidence = sides.iter().filter_map(|(_, c)| *c).reduce(f64::min);
            Item {
                value: Some(value),
                consensus: Some(json!(value)),
                confidence,
                ..Item::default()
            }
        })
        .collect()
}

/// TRL preference pairs. A gold task (one the crowd did not overrule) is the experimenter's
/// answer, at confidence 1, marked `gold`; any other task is its consensus, kept when its
/// confidence reaches `min_confidence`; either is kept when its margin reaches `min_margin`.
/// Tasks without labels make no pair; a tie prefers nothing and is left out. `gold` is
/// [`gold_answers`]. Returns the lines and the tasks left out (ties, and the pairs the options
/// leave out).
fn trl(
    record: &PublicRecord,
    items: &[Item],
    gold: &[Option<i64>],
    options: &TrlOptions,
) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut left_out = 0;
    // One form for the whole file, so that every row has the same column types: chat when any
    // task's prompt is a conversation.
    let conversational = record.tasks.iter().any(|t| t.prompt.is_messages());
    for ((task, item), gold) in record.tasks.iter().zip(items).zip(gold.iter().copied()) {
        let (value, confidence) = match gold {
            Some(answer) => (answer as f64, Some(1.0)),
            None => match item.value {
                Some(value) => (value, item.confidence),
                None => continue,
            },
        };
        let kept = value.abs() >= 1e-9
            && value.abs() >= options.min_margin
            && match gold {
                Some(_) => options.gold,
                None => confidence.is_some_and(|c| c >= options.min_confidence),
            };
        if !kept {
            left_out += 1;
            continue;
        }
        let (chosen, rejected) = if value > 0.0 { (1, 0) } else { (0, 1) };
        let mut line = preference(
            &task.prompt,
            &task.responses[chosen],
            &task.responses[rejected],
            conversational,
            options.implicit_prompt,
        );
        line.insert("margin".into(), json!(value.abs()));
        line.insert("confidence".into(), json!(confidence));
        line.insert("gold".into(), json!(gold.is_some()));
        let line = Value::Object(line);
        out.extend_from_slice(line.to_string().as_bytes());
        out.push(b'\n');
    }
    (out, left_out)
}

/// A TRL preference row's `prompt`, `chosen` and `rejected`, in TRL's standard form (strings)
/// or conversational form (lists of `{role, content}`, a text prompt becoming one user
/// message), with the prompt explicit or implicit (in front of both responses: concatenated
/// text, or the conversation followed by the assistant's turn).
fn preference(
    prompt: &Prompt,
    chosen: &str,
    rejected: &str,
    conversational: bool,
    implicit: bool,
) -> serde_json::Map<String, Value> {
    let mut row = serde_json::Map::new();
    if conversational {
        let turn = |content: &str| Message { role: Role::Assistant, content: content.to_owned() };
        let messages = prompt.messages();
        let completion = |content: &str| {
            if implicit {
                json!(messages.iter().cloned().chain([turn(content)]).collect::<Vec<_>>())
            } else {
                json!([turn(content)])
            }
        };
        if !implicit {
            row.insert("prompt".into(), json!(messages));
        }
        row.insert("chosen".into(), completion(chosen));
        row.insert("rejected".into(), completion(rejected));
    } else {
        let text = prompt.to_text();
        if implicit {
            row.insert("chosen".into(), json!(format!("{text}{chosen}")));
            row.insert("rejected".into(), json!(format!("{text}{rejected}")));
        } else {
            row.insert("prompt".into(), json!(text));
            row.insert("chosen".into(), json!(chosen));
            row.insert("rejected".into(), json!(rejected));
        }
    }
    row
}

fn labels_json(rows: &[LabelRow], item: &Item) -> Value {
    Value::Array(
        item.labels
            .iter()
            .map(|&i| {
                let row = &rows[i];
                let mut label = json!({ "worker": row.worker, "label": label_json(&row.label) });
                if let Some(cohort) = &row.cohort {
                    label["cohort"] = json!(cohort);
                }
                if row.tired {
                    label["tired"] = json!(true);
                }
                label
            })
            .collect(),
    )
}

fn jsonl(
    record: &PublicRecord,
    rows: &[LabelRow],
    items: &[Item],
    by_cohort: &[(&str, Vec<Item>)],
) -> Vec<u8> {
    let mut out = Vec::new();
    for (index, (task, item)) in record.tasks.iter().zip(items).enumerate() {
        let cohort_consensus: serde_json::Map<String, Value> = by_cohort
            .iter()
            .map(|(cohort, items)| (cohort.to_string(), json!(items[index].consensus)))
            .collect();
        let mut line = json!({
            "task": index,
            "id": task.id,
            "prompt": task.prompt,
            "responses": task.responses,
            "gold": task.gold.as_ref().map(label_json),
            "consensus": item.consensus,
            "cohort_consensus": cohort_consensus,
            "confidence": item.confidence,
            "agreement": item.agreement,
            "labels": labels_json(rows, item),
        });
        if !task.meta.is_empty() {
            line["meta"] = Value::Object(task.meta.clone());
        }
        out.extend_from_slice(line.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

/// The per-task table shared by CSV and Parquet: nested values as JSON text.
struct Table {
    task: Vec<i64>,
    id: Vec<String>,
    prompt: Vec<String>,
    responses: Vec<String>,
    gold: Vec<Option<String>>,
    consensus: Vec<Option<String>>,
    confidence: Vec<Option<f64>>,
    agreement: Vec<Option<f64>>,
    labels: Vec<String>,
}

const COLUMNS: [&str; 9] =
    ["task", "id", "prompt", "responses", "gold", "consensus", "confidence", "agreement", "labels"];

fn table(record: &PublicRecord, rows: &[LabelRow], items: &[Item]) -> Table {
    let n = record.tasks.len();
    let mut t = Table {
        task: Vec::with_capacity(n),
        id: Vec::with_capacity(n),
        prompt: Vec::with_capacity(n),
        responses: Vec::with_capacity(n),
        gold: Vec::with_capacity(n),
        consensus: Vec::with_capacity(n),
        confidence: Vec::with_capacity(n),
        agreement: Vec::with_capacity(n),
        labels: Vec::with_capacity(n),
    };
    for (index, (task, item)) in record.tasks.iter().zip(items).enumerate() {
        t.task.push(index as i64);
        t.id.push(task.id.clone());
        t.prompt.push(task.prompt.to_text());
        t.responses.push(json!(task.responses).to_string());
        t.gold.push(task.gold.as_ref().map(|g| label_json(g).to_string()));
        t.consensus.push(item.consensus.as_ref().map(Value::to_string));
        t.confidence.push(item.confidence);
        t.agreement.push(item.agreement);
        t.labels.push(labels_json(rows, item).to_string());
    }
    t
}

fn csv_table(
    record: &PublicRecord,
    rows: &[LabelRow],
    items: &[Item],
) -> Result<Vec<u8>, csv::Error> {
    let t = table(record, rows, items);
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(COLUMNS)?;
    let number = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
    for i in 0..t.task.len() {
        writer.write_record([
            t.task[i].to_string().as_str(),
            &spreadsheet_safe(&t.id[i]),
            &spreadsheet_safe(&t.prompt[i]),
            &t.responses[i],
            t.gold[i].as_deref().unwrap_or(""),
            t.consensus[i].as_deref().unwrap_or(""),
            &number(t.confidence[i]),
            &number(t.agreement[i]),
            &t.labels[i],
        ])?;
    }
    writer.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// Free text as a CSV cell a spreadsheet shows rather than runs: text a spreadsheet would read
/// as a formula (a first character `=`, `+`, `-`, `@`, tab or carriage return) gets a leading
/// `'`. Labelers write text labels, so an export must not carry their formulas to the
/// experimenter's spreadsheet. Numbers are written as numbers and never pass through here.
fn spreadsheet_safe(text: &str) -> std::borrow::Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}").into(),
        _ => text.into(),
    }
}

fn raw(record: &PublicRecord, rows: &[LabelRow]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(["task", "worker", "label"])?;
    for row in rows {
        let label = match &row.label {
            Label::Int(v) => v.to_string(),
            Label::Ranking(order) => json!(order).to_string(),
            Label::Text(text) => spreadsheet_safe(text).into_owned(),
        };
        let id = spreadsheet_safe(&record.tasks[row.task as usize].id);
        writer.write_record([id.as_ref(), &row.worker, &label])?;
    }
    writer.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// The Parquet schema of the per-task table.
const PARQUET_SCHEMA: &str = "message dataset {
    REQUIRED INT64 task;
    REQUIRED BYTE_ARRAY id (UTF8);
    REQUIRED BYTE_ARRAY prompt (UTF8);
    REQUIRED BYTE_ARRAY responses (UTF8);
    OPTIONAL BYTE_ARRAY gold (UTF8);
    OPTIONAL BYTE_ARRAY consensus (UTF8);
    OPTIONAL DOUBLE confidence;
    OPTIONAL DOUBLE agreement;
    REQUIRED BYTE_ARRAY labels (UTF8);
}";

fn parquet_table(
    record: &PublicRecord,
    rows: &[LabelRow],
    items: &[Item],
) -> parquet::errors::Result<Vec<u8>> {
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;

    let t = table(record, rows, items);
    let schema = Arc::new(parquet::schema::parser::parse_message_type(PARQUET_SCHEMA)?);
    let mut out = Vec::new();
    let mut writer =
        SerializedFileWriter::new(&mut out, schema, Arc::new(WriterProperties::builder().build()))?;
    let mut group = writer.next_row_group()?;
    let bytes = |values: &[String]| -> Vec<ByteArray> {
        values.iter().map(|s| ByteArray::from(s.as_str())).collect()
    };
    // Optional columns write only the present values, with definition level 1 for present
    // and 0 for null.
    let optional_bytes = |values: &[Option<String>]| -> (Vec<ByteArray>, Vec<i16>) {
        let present = values.iter().flatten().map(|s| ByteArray::from(s.as_str())).collect();
        (present, values.iter().map(|v| i16::from(v.is_some())).collect())
    };
    let optional_doubles = |values: &[Option<f64>]| -> (Vec<f64>, Vec<i16>) {
        (
            values.iter().flatten().copied().collect(),
            values.iter().map(|v| i16::from(v.is_some())).collect(),
        )
    };
    let mut column = 0;
    while let Some(mut writer) = group.next_column()? {
        match column {
            0 => {
                writer.typed::<Int64Type>().write_batch(&t.task, None, None)?;
            }
            1 | 2 | 3 | 8 => {
                let values = match column {
                    1 => &t.id,
                    2 => &t.prompt,
                    3 => &t.responses,
                    _ => &t.labels,
                };
                writer.typed::<ByteArrayType>().write_batch(&bytes(values), None, None)?;
            }
            4 | 5 => {
                let (values, levels) =
                    optional_bytes(if column == 4 { &t.gold } else { &t.consensus });
                writer.typed::<ByteArrayType>().write_batch(&values, Some(&levels), None)?;
            }
            _ => {
                let (values, levels) =
                    optional_doubles(if column == 6 { &t.confidence } else { &t.agreement });
                writer.typed::<DoubleType>().write_batch(&values, Some(&levels), None)?;
            }
        }
        writer.close()?;
        column += 1;
    }
    group.close()?;
    writer.close()?;
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use plumbline_core::settle::Tier;
    use plumbline_core::synthetic::{self, Behavior, Params};
    use std::collections::{BTreeMap, HashSet};

    /// A settled binary experiment: five careful labelers and one who is almost always wrong.
    pub(crate) fn record() -> PublicRecord {
        with_sixth(Behavior::Accurate(20_000)).record
    }

    /// A settled binary experiment of five careful labelers and a sixth who behaves as `sixth`.
    fn with_sixth(sixth: Behavior) -> synthetic::Run {
        let mut labelers = vec![Behavior::Accurate(950_000); 5];
        labelers.push(sixth);
        let params = Params {
            spec: synthetic::binary_spec(30, 3, 8),
            regular_tasks: 60,
            gold_tasks: 12,
            positive_rate: 500_000,
            labelers,
            reputations: BTreeMap::new(),
        };
        synthetic::run(&params, 3).unwrap()
    }

    #[test]
    fn a_tired_tail_is_weighed_apart_marked_and_reported() {
        let run = with_sixth(Behavior::Tiring { ppm: 950_000, fresh: 19 });
        let record = run.record;
        let rows = label_rows(&record);
        let tiring = pseudonym(record.experiment_id, run.addresses[5]);
        let tired: Vec<&LabelRow> = rows.iter().filter(|r| r.tired).collect();
        // Its 38 labels are cut at a fifth's boundary: the first after it tired is 22.
        let its_tail = tired.iter().filter(|r| r.worker == tiring).count();
        assert_eq!(its_tail, 16, "{tired:?}");
        assert!(tired.iter().all(|r| r.voice() == format!("{} (tired)", r.worker)));
        let labelers: HashSet<&str> = tired.iter().map(|r| r.worker.as_str()).collect();

        let jsonl = String::from_utf8(export(&record, Format::Jsonl).unwrap()).unwrap();
        assert_eq!(jsonl.matches("\"tired\":true").count(), tired.len());
        let filter = session_filter(&record);
        assert_eq!((filter.tired_labels, filter.tired_labelers), (tired.len(), labelers.len()));
        assert_eq!(filter.gold_tasks, 12);
        assert!(filter.gold_agreement.is_some() && filter.gold_agreement_untired.is_some());
        let card = crate::card::dataset_card(&record);
        let line = match labelers.len() {
            1 => format!("{} labels of 1 labeler come after", tired.len()),
            n => format!("{} labels of {n} labelers come after", tired.len()),
        };
        assert!(card.contains(&line), "{card}");
    }

    #[test]
    fn pseudonyms_are_stable_per_experiment_and_differ_across() {
        let a = Address::repeat_byte(7);
        let p = pseudonym(B256::repeat_byte(1), a);
        assert_eq!(p, pseudonym(B256::repeat_byte(1), a));
        assert_ne!(p, pseudonym(B256::repeat_byte(2), a));
        assert_eq!(p.len(), 9);
        assert!(p.starts_with('w'));
    }

    #[test]
    fn slashed_labels_are_left_out_and_names_are_pseudonyms() {
        let record = record();
        let slashed: Vec<Address> = record
            .settlement
            .labelers
            .iter()
            .filter(|l| l.tier == Tier::Slashed)
            .map(|l| l.labeler)
            .collect();
        let rows = label_rows(&record);
        let workers: HashSet<&str> = rows.iter().map(|r| r.worker.as_str()).collect();
        for address in &slashed {
            assert!(!workers.contains(pseudonym(record.experiment_id, *address).as_str()));
        }
        let raw = String::from_utf8(export(&record, Format::Raw).unwrap()).unwrap();
        for l in &record.settlement.labelers {
            assert!(
                !raw.to_lowercase().contains(&format!("{:x}", l.labeler)[2..]),
                "address leaked"
            );
        }
    }

    /// Three labelers on 44 preference pairs, as a first try in the browser: "a" matches the
    /// truth every time, "b" misses every seventh pair weakly, "c" misses two pairs in five at
    /// full strength. The truth prefers the second response on even tasks.
    fn three_labelers() -> (Vec<LabelRow>, Vec<i64>) {
        let truth: Vec<i64> = (0..44).map(|t| if t % 2 == 0 { 1 } else { -1 }).collect();
        let mut rows = Vec::new();
        for (t, side) in truth.iter().enumerate() {
            let t32 = t as u32;
            let labels = [
                ("a", side * if t % 3 == 0 { 1 } else { 2 }),
                ("b", if t % 7 == 3 { -side } else { side * 2 }),
                ("c", if t % 5 < 2 { -side * 2 } else { side * 2 }),
            ];
            for (worker, label) in labels {
                rows.push(LabelRow {
                    task: t32,
                    worker: worker.into(),
                    cohort: None,
                    label: Label::Int(label),
                    tired: false,
                });
            }
        }
        (rows, truth)
    }

    #[test]
    fn pairwise_consensus_follows_the_majority_and_is_at_least_as_right_as_majority_vote() {
        let kind = QuestionKind::Pairwise { strength_max: 2, allow_tie: false };
        let (rows, truth) = three_labelers();
        let items = aggregate(&kind, &vec![None; truth.len()], &rows);
        let (mut right, mut majority_right) = (0, 0);
        for (t, item) in items.iter().enumerate() {
            let sides: Vec<i64> =
                item.labels.iter().map(|&i| rows[i].label.as_int().unwrap().signum()).collect();
            let majority = sides.iter().sum::<i64>().signum();
            let chosen = item.value.unwrap().signum() as i64;
            // Against a majority that includes the most reliable labeler, never; where "b"
            // and "c" are wrong together, "a" may outweigh them.
            if sides[0] == majority {
                assert_eq!(chosen, majority, "task {t}: labels {sides:?}");
            }
            right += usize::from(chosen == truth[t]);
            majority_right += usize::from(majority == truth[t]);
            let confidence = item.confidence.unwrap();
            assert!((0.5..=1.0).contains(&confidence), "task {t}: {confidence}");
        }
        assert!(right > majority_right, "{right} against majority vote's {majority_right}");
    }

    #[test]
    fn trl_pairs_gold_by_its_answer_and_leaves_out_unsure_pairs() {
        let mut record = record();
        record.tasks.truncate(4);
        for task in &mut record.tasks {
            task.responses = vec!["first".into(), "second".into()];
            task.gold = None;
        }
        // Gold the crowd contradicts but did not overrule, and gold it overruled.
        record.tasks[0].gold = Some(Label::Int(-2));
        record.tasks[1].gold = Some(Label::Int(2));
        record.settlement.gold_dropped = vec![1];
        let item = |value: f64, confidence: f64| Item {
            value: Some(value),
            confidence: Some(confidence),
            ..Item::default()
        };
        let items = [item(1.0, 0.9), item(-1.0, 0.95), item(2.0, 0.6), item(0.0, 0.5)];
        let pairs = |options: TrlOptions| {
            let (bytes, left_out) = trl(&record, &items, &gold_answers(&record), &options);
            let rows: Vec<Value> = String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            (rows, left_out)
        };
        // The tie is left out and counted with the unsure pair.
        let (rows, left_out) = pairs(TrlOptions::default());
        assert_eq!((rows.len(), left_out), (2, 2), "{rows:?}");
        assert_eq!(
            (&rows[0]["chosen"], &rows[0]["gold"], &rows[0]["confidence"]),
            (&json!("first"), &json!(true), &json!(1.0))
        );
        assert_eq!((&rows[1]["chosen"], &rows[1]["gold"]), (&json!("first"), &json!(false)));
        let (rows, left_out) = pairs(TrlOptions { gold: false, ..TrlOptions::default() });
        assert_eq!((rows.len(), left_out), (1, 3));
        let (rows, left_out) = pairs(TrlOptions { min_confidence: 0.5, ..TrlOptions::default() });
        assert_eq!((rows.len(), left_out), (3, 1), "the tie is never a pair");
        // A margin threshold leaves out the weak preference, gold or not.
        let strong = TrlOptions { min_confidence: 0.5, min_margin: 1.5, ..TrlOptions::default() };
        let (rows, left_out) = pairs(strong);
        assert_eq!((rows.len(), left_out), (2, 2));
        assert!(rows.iter().all(|r| r["margin"] == json!(2.0)), "{rows:?}");
    }

    #[test]
    fn chat_prompts_make_conversational_rows_and_the_prompt_can_be_implicit() {
        let mut record = record();
        record.tasks.truncate(2);
        for task in &mut record.tasks {
            task.responses = vec!["first".into(), "second".into()];
            task.gold = None;
        }
        record.tasks[0].prompt = "Q: sky? A:".to_owned().into();
        let items = [
            Item { value: Some(1.0), confidence: Some(0.9), ..Item::default() },
            Item { value: Some(-1.0), confidence: Some(0.9), ..Item::default() },
        ];
        let rows = |record: &PublicRecord, implicit_prompt: bool| -> Vec<Value> {
            let options = TrlOptions { implicit_prompt, ..TrlOptions::default() };
            let (bytes, _) = trl(record, &items, &gold_answers(record), &options);
            String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        };
        // Text prompts: TRL's standard form, explicit or implicit (prompt then response).
        let standard = rows(&record, false);
        assert_eq!(
            (&standard[0]["prompt"], &standard[0]["chosen"], &standard[0]["rejected"]),
            (&json!("Q: sky? A:"), &json!("second"), &json!("first"))
        );
        let implicit = rows(&record, true);
        assert!(implicit[0].get("prompt").is_none(), "{implicit:?}");
        assert_eq!(implicit[0]["chosen"], json!("Q: sky? A:second"));

        // A conversation anywhere makes every row conversational.
        record.tasks[1].prompt = Prompt::Messages(vec![
            Message { role: Role::System, content: "Be brief.".into() },
            Message { role: Role::User, content: "Hi".into() },
        ]);
        let chat = rows(&record, false);
        assert_eq!(chat[0]["prompt"], json!([{"role": "user", "content": "Q: sky? A:"}]));
        assert_eq!(chat[0]["chosen"], json!([{"role": "assistant", "content": "second"}]));
        assert_eq!(chat[1]["prompt"][0], json!({"role": "system", "content": "Be brief."}));
        assert_eq!(chat[1]["rejected"], json!([{"role": "assistant", "content": "second"}]));
        let implicit = rows(&record, true);
        assert!(implicit[1].get("prompt").is_none());
        assert_eq!(
            implicit[1]["chosen"],
            json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                   {"role": "assistant", "content": "first"}])
        );
        // The tables keep a conversation as its JSON.
        let csv = String::from_utf8(export(&record, Format::Csv).unwrap()).unwrap();
        assert!(csv.contains(r#"[{""role"":""system"",""content"":""Be brief.""}"#), "{csv}");
    }

    #[test]
    fn cohorts_have_their_own_pairs_and_the_bridge_keeps_those_they_share() {
        let kind = QuestionKind::Pairwise { strength_max: 2, allow_tie: false };
        let row = |task: u32, worker: &str, cohort: &str, label: i64| LabelRow {
            task,
            worker: worker.into(),
            cohort: Some(cohort.into()),
            label: Label::Int(label),
            tired: false,
        };
        let rows = vec![
            // Both cohorts prefer the second response of task 0; they split on task 1; only
            // "x" labels task 2.
            row(0, "a", "x", 2),
            row(0, "b", "x", 2),
            row(0, "c", "y", 1),
            row(0, "d", "y", 2),
            row(1, "a", "x", 2),
            row(1, "b", "x", 2),
            row(1, "c", "y", -2),
            row(1, "d", "y", -2),
            row(2, "a", "x", -2),
        ];
        let gold = [None, None, None];
        let per_cohort = vec![
            ("x", cohort_items(&kind, &gold, &rows, "x")),
            ("y", cohort_items(&kind, &gold, &rows, "y")),
        ];
        assert!(per_cohort[0].1[1].value.unwrap() > 0.0 && per_cohort[1].1[1].value.unwrap() < 0.0);
        let bridged = bridge(3, &per_cohort);
        assert!(bridged[0].value.unwrap() > 0.0);
        let least = per_cohort.iter().map(|(_, i)| i[0].confidence.unwrap()).fold(1.0, f64::min);
        assert_eq!(bridged[0].confidence, Some(least));
        assert_eq!(bridged[1], Item::default(), "the cohorts disagree");
        assert_eq!(bridged[2], Item::default(), "one cohort has no say");
    }

    #[test]
    fn every_format_downloads_under_its_own_name() {
        let formats = [
            Format::Trl,
            Format::Jsonl,
            Format::Csv,
            Format::Parquet,
            Format::Raw,
            Format::Card,
            Format::BestOf,
        ];
        let names: HashSet<String> = formats.iter().map(|f| f.file_name("e")).collect();
        assert_eq!(names.len(), formats.len(), "{names:?}");
    }

    #[test]
    fn a_best_of_export_names_the_winner_ranks_every_response_and_lists_the_matches() {
        use plumbline_core::synthetic::knockout;
        let params = knockout::Params { responses: 8, ..knockout::Params::default() };
        let done = knockout::run(&params, 3).unwrap();
        let bytes = export(&done.record, Format::BestOf).unwrap();
        let results: Value = serde_json::from_slice(&bytes).unwrap();
        let prompt = &results["prompts"][0];
        assert_eq!(prompt["task"], "prompt");
        let responses: Vec<&str> =
            prompt["responses"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
        let expected: Vec<String> = (0..8).map(|i| format!("response {i}")).collect();
        assert_eq!(responses, expected);
        let winner = prompt["winner"].as_u64().expect("a winner");
        assert_eq!(prompt["ranking"][0]["response"], winner);
        assert_eq!(prompt["ranking"].as_array().unwrap().len(), 8);
        assert_eq!(prompt["matches"].as_array().unwrap().len(), 7, "seven matches decide eight");
        assert!(prompt["winner_confidence"].as_f64().unwrap() > 0.5);
        // Any other experiment is refused, and the best-of experiment's pairs load as TRL.
        assert!(best_of(&record()).is_err());
        let trl = export(&done.record, Format::Trl).unwrap();
        assert!(String::from_utf8(trl).unwrap().lines().count() >= 7);
    }

    #[test]
    fn one_pairwise_label_is_not_certain() {
        let kind = QuestionKind::Pairwise { strength_max: 2, allow_tie: false };
        let rows = vec![LabelRow {
            task: 0,
            worker: "w".into(),
            cohort: None,
            label: Label::Int(2),
            tired: false,
        }];
        let items = aggregate(&kind, &[None], &rows);
        assert!(items[0].value.unwrap() > 0.0);
        assert!(items[0].confidence.unwrap() < 0.9, "{:?}", items[0]);
    }

    #[test]
    fn consensus_recovers_the_gold_answers() {
        let record = record();
        let items =
            aggregate(&record.spec.question.kind, &gold_answers(&record), &label_rows(&record));
        let mut right = 0;
        let mut gold = 0;
        for (task, item) in record.tasks.iter().zip(&items) {
            if let (Some(Label::Int(answer)), Some(consensus)) = (&task.gold, &item.consensus) {
                gold += 1;
                right += usize::from(consensus == &json!(answer));
                let confidence = item.confidence.unwrap();
                assert!((0.0..=1.0).contains(&confidence));
            }
        }
        assert!(gold > 0 && right * 10 >= gold * 9, "{right} of {gold} gold answers recovered");
    }

    #[test]
    fn parquet_reads_back_with_every_row() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let record = record();
        let bytes = export(&record, Format::Parquet).unwrap();
        let reader = SerializedFileReader::new(axum::body::Bytes::from(bytes)).unwrap();
        let schema = reader.metadata().file_metadata().schema_descr();
        let names: Vec<&str> = schema.columns().iter().map(|c| c.name()).collect();
        assert_eq!(names, COLUMNS);
        let rows: Vec<_> = reader.get_row_iter(None).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(rows.len(), record.tasks.len());
        let first = rows[0].to_string();
        assert!(first.contains(&format!("id: \"{}\"", record.tasks[0].id)), "{first}");
    }

    #[test]
    fn csv_has_a_header_and_a_row_per_task() {
        let record = record();
        let text = String::from_utf8(export(&record, Format::Csv).unwrap()).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), COLUMNS);
        assert_eq!(reader.records().count(), record.tasks.len());
        assert!(export(&record, Format::Trl).is_err(), "binary questions have no preference pairs");
    }

    #[test]
    fn csv_formula_injection_in_text_labels_is_defused() {
        let record = record();
        let row = |label: &str| LabelRow {
            task: 0,
            worker: "w1".into(),
            cohort: None,
            label: Label::Text(label.into()),
            tired: false,
        };
        let rows = vec![row("=HYPERLINK(\"http://x\", \"click\")"), row("@SUM(A1)"), row("fine")];
        let text = String::from_utf8(raw(&record, &rows).unwrap()).unwrap();
        let labels: Vec<String> = csv::Reader::from_reader(text.as_bytes())
            .records()
            .map(|r| r.unwrap()[2].to_string())
            .collect();
        assert_eq!(labels, ["'=HYPERLINK(\"http://x\", \"click\")", "'@SUM(A1)", "fine"]);
        let numbers = vec![LabelRow { label: Label::Int(-1), ..row("") }];
        let text = String::from_utf8(raw(&record, &numbers).unwrap()).unwrap();
        assert!(text.ends_with(",w1,-1\n"), "a negative number stays a number: {text}");
    }
}
