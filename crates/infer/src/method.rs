//! The face `plumbline aggregate` uses: a method name, CSV in, rows to print out.

use std::fmt;
use std::io::{Read, Write};
use std::str::FromStr;

use serde::{Serialize, Serializer};

use crate::metrics::{accuracy, f1_macro, mae, rmse};
use crate::read::{
    read_comparisons, read_labels_keeping, read_numeric_labels_keeping, read_truth_rows,
};
use crate::{
    BtOptions, Dataset, DsOptions, Error, GladOptions, KosOptions, MaceOptions, MmsrOptions,
    NoisyBtOptions, NumericDataset, Repeats, Result, WeightedMeanOptions, ZbsOptions,
};

/// An aggregation method, named as on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `mv`: majority vote.
    Mv,
    /// `wawa`: majority vote weighted by agreement with the majority.
    Wawa,
    /// `ds`: Dawid-Skene.
    Ds,
    /// `onecoin`: one-coin Dawid-Skene.
    OneCoin,
    /// `glad`: GLAD, worker ability and task difficulty.
    Glad,
    /// `mace`: MACE, workers who know or spam.
    Mace,
    /// `mmsr`: M-MSR, reliabilities from pairwise agreement.
    Mmsr,
    /// `zbs`: Zero-Based Skill, a vote weighted by learned skills.
    Zbs,
    /// `kos`: KOS belief propagation (binary labels).
    Kos,
    /// `mean`: mean of numeric labels.
    Mean,
    /// `median`: median of numeric labels.
    Median,
    /// `wmean`: reliability-weighted mean of numeric labels.
    Wmean,
    /// `bt`: Bradley-Terry over pairwise judgements.
    Bt,
    /// `noisybt`: noisy Bradley-Terry over pairwise judgements.
    NoisyBt,
}

/// The kind of CSV a method reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// `task,worker,label` with class names as labels.
    Categorical,
    /// `task,worker,label` with numbers as labels.
    Numeric,
    /// `worker,left,right,label` with the winner as label.
    Pairwise,
}

/// Every accepted name, for messages.
const NAMES: &str =
    "mv, wawa, ds, onecoin, glad, mace, mmsr, zbs, kos, mean, median, wmean, bt, noisybt";

impl Method {
    /// Every method, in the order of the command-line help.
    pub const ALL: [Method; 14] = [
        Method::Mv,
        Method::Wawa,
        Method::Ds,
        Method::OneCoin,
        Method::Glad,
        Method::Mace,
        Method::Mmsr,
        Method::Zbs,
        Method::Kos,
        Method::Mean,
        Method::Median,
        Method::Wmean,
        Method::Bt,
        Method::NoisyBt,
    ];

    /// The command-line name.
    pub const fn name(self) -> &'static str {
        match self {
            Method::Mv => "mv",
            Method::Wawa => "wawa",
            Method::Ds => "ds",
            Method::OneCoin => "onecoin",
            Method::Glad => "glad",
            Method::Mace => "mace",
            Method::Mmsr => "mmsr",
            Method::Zbs => "zbs",
            Method::Kos => "kos",
            Method::Mean => "mean",
            Method::Median => "median",
            Method::Wmean => "wmean",
            Method::Bt => "bt",
            Method::NoisyBt => "noisybt",
        }
    }

    /// The kind of input the method reads.
    pub const fn input(self) -> InputKind {
        match self {
            Method::Mv
            | Method::Wawa
            | Method::Ds
            | Method::OneCoin
            | Method::Glad
            | Method::Mace
            | Method::Mmsr
            | Method::Zbs
            | Method::Kos => InputKind::Categorical,
            Method::Mean | Method::Median | Method::Wmean => InputKind::Numeric,
            Method::Bt | Method::NoisyBt => InputKind::Pairwise,
        }
    }

    /// One line for help text.
    pub const fn description(self) -> &'static str {
        match self {
            Method::Mv => "majority vote (ties go to the smallest class)",
            Method::Wawa => "majority vote weighted by each worker's agreement with it",
            Method::Ds => "Dawid-Skene: a confusion matrix per worker, fitted by EM",
            Method::OneCoin => "one-coin Dawid-Skene: one accuracy per worker",
            Method::Glad => "GLAD: worker ability and task difficulty",
            Method::Mace => "MACE: workers who either know the answer or spam",
            Method::Mmsr => "M-MSR: reliabilities from pairwise agreement, robust to adversaries",
            Method::Zbs => "Zero-Based Skill: a vote weighted by skills learned from agreement",
            Method::Kos => "KOS: belief propagation over workers and tasks (binary labels)",
            Method::Mean => "mean of numeric labels",
            Method::Median => "median of numeric labels",
            Method::Wmean => "reliability-weighted mean of numeric labels",
            Method::Bt => "Bradley-Terry scores from pairwise judgements",
            Method::NoisyBt => "Bradley-Terry with per-worker faithfulness and position bias",
        }
    }
}

impl FromStr for Method {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| Error::UnknownMethod { name: name.to_owned(), expected: NAMES })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Method {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// One output row of a labelling method.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskLabel {
    /// The task's name.
    pub task: String,
    /// The chosen class, or the estimate written as a number.
    pub label: String,
    /// How sure the method is, in `[0, 1]`.
    pub confidence: f64,
}

/// One output row of a scoring method.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemScore {
    /// The item's name.
    pub item: String,
    /// The item's share of the total strength; all scores sum to 1.
    pub score: f64,
}

/// One worker's estimated skill, in `[0, 1]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerSkill {
    /// The worker's name.
    pub worker: String,
    /// What the skill means depends on the method; see the crate documentation.
    pub skill: f64,
}

/// The rows a method produces.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Rows {
    /// `task,label,confidence`, one per task in order of first appearance.
    Labels(Vec<TaskLabel>),
    /// `item,score`, one per item in order of first appearance.
    Scores(Vec<ItemScore>),
}

/// How the output compares with a truth file, over the tasks that are in both.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TruthMetrics {
    /// How many tasks were scored.
    pub tasks: usize,
    /// Share of exact matches (categorical methods).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// Macro-averaged F1 (categorical methods).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f1_macro: Option<f64>,
    /// Mean absolute error (numeric methods).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mae: Option<f64>,
    /// Root mean squared error (numeric methods).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rmse: Option<f64>,
}

impl fmt::Display for TruthMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tasks={}", self.tasks)?;
        for (name, value) in [
            ("accuracy", self.accuracy),
            ("f1_macro", self.f1_macro),
            ("mae", self.mae),
            ("rmse", self.rmse),
        ] {
            if let Some(v) = value {
                write!(f, " {name}={}", format_number(v))?;
            }
        }
        Ok(())
    }
}

/// The outcome of one `aggregate` run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Aggregate {
    /// The method that ran.
    pub method: Method,
    /// The rows to print.
    pub rows: Rows,
    /// Per-worker skills, in order of first appearance.
    pub workers: Vec<WorkerSkill>,
    /// How many rounds the method ran (0 for one-pass methods).
    pub iterations: usize,
    /// Scores against the truth file, when one was given.
    pub metrics: Option<TruthMetrics>,
    /// What the reader should know about how the input was read or fitted, in words.
    pub notes: Vec<String>,
}

impl Aggregate {
    /// The CSV header of [`Aggregate::rows`].
    pub fn header(&self) -> &'static str {
        match self.rows {
            Rows::Labels(_) => "task,label,confidence",
            Rows::Scores(_) => "item,score",
        }
    }

    /// Writes the rows as CSV with a header, numbers to six significant digits.
    pub fn write_csv(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let mut w = csv::Writer::from_writer(out);
        match &self.rows {
            Rows::Labels(rows) => {
                w.write_record(["task", "label", "confidence"])?;
                for r in rows {
                    w.write_record([r.task.as_str(), &r.label, &format_number(r.confidence)])?;
                }
            }
            Rows::Scores(rows) => {
                w.write_record(["item", "score"])?;
                for r in rows {
                    w.write_record([r.item.as_str(), &format_number(r.score)])?;
                }
            }
        }
        w.flush()
    }
}

/// Runs `method` over the CSV in `labels` with default options, keeping what `repeats` says of
/// a worker's repeated labels on one task (pairwise judgements are all kept whatever it says),
/// and scores the result against the `task,truth` CSV in `truth` when given (accuracy and macro
/// F1 for categorical methods, MAE and RMSE for numeric ones; pairwise methods take no truth).
pub fn aggregate(
    method: Method,
    repeats: Repeats,
    labels: &mut dyn Read,
    truth: Option<&mut dyn Read>,
) -> Result<Aggregate> {
    if method.input() == InputKind::Pairwise && truth.is_some() {
        return Err(Error::TruthNotSupported { method: method.name() });
    }
    match method.input() {
        InputKind::Categorical => {
            let data = read_labels_keeping(labels, repeats)?;
            let fit = run_categorical(method, &data)?;
            let rows = (0..data.n_tasks())
                .map(|t| TaskLabel {
                    task: data.tasks().name(t as u32).to_owned(),
                    label: data.classes()[fit.labels[t] as usize].clone(),
                    confidence: fit.confidence[t],
                })
                .collect();
            let metrics = truth.map(|t| categorical_metrics(&data, &fit.labels, t)).transpose()?;
            Ok(Aggregate {
                method,
                rows: Rows::Labels(rows),
                workers: skills(data.workers().names(), &fit.skills),
                iterations: fit.iterations,
                metrics,
                notes: Vec::new(),
            })
        }
        InputKind::Numeric => {
            let data = read_numeric_labels_keeping(labels, repeats)?;
            let fit = match method {
                Method::Mean => crate::mean(&data),
                Method::Median => crate::median(&data),
                _ => crate::weighted_mean(&data, &WeightedMeanOptions::default()),
            };
            let rows = (0..data.n_tasks())
                .map(|t| TaskLabel {
                    task: data.tasks().name(t as u32).to_owned(),
                    label: format_number(fit.values[t]),
                    confidence: fit.confidence[t],
                })
                .collect();
            let metrics = truth.map(|t| numeric_metrics(&data, &fit.values, t)).transpose()?;
            Ok(Aggregate {
                method,
                rows: Rows::Labels(rows),
                workers: skills(data.workers().names(), &fit.skills),
                iterations: fit.iterations,
                metrics,
                notes: Vec::new(),
            })
        }
        InputKind::Pairwise => {
            let data = read_comparisons(labels)?;
            let fit = if method == Method::Bt {
                crate::bradley_terry(&data, &BtOptions::default())
            } else {
                crate::noisy_bradley_terry(&data, &NoisyBtOptions::default()).result
            };
            let rows = data
                .items()
                .names()
                .iter()
                .zip(&fit.scores)
                .map(|(item, &score)| ItemScore { item: item.clone(), score })
                .collect();
            let mut notes = Vec::new();
            if data.unanswered() > 0 {
                notes.push(format!(
                    "{} rows with an empty label (no answer) were left out",
                    data.unanswered()
                ));
            }
            if fit.tie > 0.0 {
                notes.push(format!(
                    "ties fitted by Davidson's model: nu = {:.4}, so two equal items tie with \
                     probability {:.3}",
                    fit.tie,
                    fit.tie / (2.0 + fit.tie)
                ));
            }
            Ok(Aggregate {
                method,
                rows: Rows::Scores(rows),
                workers: skills(data.workers().names(), &fit.skills),
                iterations: fit.iterations,
                metrics: None,
                notes,
            })
        }
    }
}

/// Runs a categorical method with its default options; KOS refuses data that is not binary.
pub fn run_categorical(method: Method, data: &Dataset) -> Result<crate::Categorical> {
    Ok(match method {
        Method::Wawa => crate::wawa(data),
        Method::Ds => crate::dawid_skene(data, &DsOptions::default()).result,
        Method::OneCoin => crate::one_coin_dawid_skene(data, &DsOptions::default()),
        Method::Glad => crate::glad(data, &GladOptions::default()).result,
        Method::Mace => crate::mace(data, &MaceOptions::default()).result,
        Method::Mmsr => crate::mmsr(data, &MmsrOptions::default()).result,
        Method::Zbs => crate::zero_based_skill(data, &ZbsOptions::default()),
        Method::Kos => crate::kos(data, &KosOptions::default())?,
        _ => crate::majority_vote(data),
    })
}

fn skills(names: &[String], skills: &[f64]) -> Vec<WorkerSkill> {
    names.iter().zip(skills).map(|(n, &s)| WorkerSkill { worker: n.clone(), skill: s }).collect()
}

/// Truth classes that no worker used still count: as misses for accuracy and as their own
/// class for F1.
fn categorical_metrics(
    data: &Dataset,
    labels: &[u32],
    truth: &mut dyn Read,
) -> Result<TruthMetrics> {
    let rows = read_truth_rows(truth)?;
    let mut extra: Vec<String> = Vec::new();
    let mut by_task: Vec<Option<u32>> = vec![None; data.n_tasks()];
    for row in rows {
        let Some(t) = data.tasks().get(&row.task) else { continue };
        let class = data.class_index(&row.truth).unwrap_or_else(|| {
            let at = extra.iter().position(|e| *e == row.truth).unwrap_or_else(|| {
                extra.push(row.truth.clone());
                extra.len() - 1
            });
            (data.n_classes() + at) as u32
        });
        by_task[t as usize] = Some(class);
    }
    Ok(TruthMetrics {
        tasks: by_task.iter().flatten().count(),
        accuracy: accuracy(labels, &by_task),
        f1_macro: f1_macro(labels, &by_task),
        mae: None,
        rmse: None,
    })
}

fn numeric_metrics(
    data: &NumericDataset,
    values: &[f64],
    truth: &mut dyn Read,
) -> Result<TruthMetrics> {
    let rows = read_truth_rows(truth)?;
    let mut by_task: Vec<Option<f64>> = vec![None; data.n_tasks()];
    for row in rows {
        let value = crate::data::parse_finite(&row.truth).ok_or(Error::NotNumeric {
            line: row.line,
            column: "truth",
            value: row.truth.clone(),
        })?;
        if let Some(t) = data.tasks().get(&row.task) {
            by_task[t as usize] = Some(value);
        }
    }
    Ok(TruthMetrics {
        tasks: by_task.iter().flatten().count(),
        accuracy: None,
        f1_macro: None,
        mae: mae(values, &by_task),
        rmse: rmse(values, &by_task),
    })
}

/// Six significant digits without trailing zeros: short enough to read, precise enough for
/// confidences and score shares.
pub fn format_number(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return if x.is_finite() { "0".to_owned() } else { x.to_string() };
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = (5 - magnitude).max(0) as usize;
    let text = format!("{x:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in Method::ALL {
            assert_eq!(m.name().parse::<Method>().expect("known"), m);
            assert_eq!(m.to_string(), m.name());
        }
        let err = "dawid".parse::<Method>().expect_err("unknown");
        assert!(err.to_string().contains("noisybt"));
    }

    #[test]
    fn numbers_print_short() {
        assert_eq!(format_number(0.5), "0.5");
        assert_eq!(format_number(1.0), "1");
        assert_eq!(format_number(2.0 / 3.0), "0.666667");
        assert_eq!(format_number(0.003559121), "0.00355912");
        assert_eq!(format_number(1234.5678), "1234.57");
        assert_eq!(format_number(-0.25), "-0.25");
        assert_eq!(format_number(0.0), "0");
    }
}
