//! `plumbline aggregate`: truth inference over crowd labels.

use crate::exit::bad_input;
use clap::Args;
use plumbline_infer::{Method, Repeats, aggregate};
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `aggregate`.
#[derive(Args)]
pub struct AggregateArgs {
    /// Labels in crowd-kit long format: `task,worker,label` (pairwise: `worker,left,right,label`).
    #[arg(long)]
    pub input: PathBuf,
    /// mv, wawa, ds, onecoin, glad, mace, mmsr, zbs, kos (binary labels), mean, median, wmean, bt or
    /// noisybt.
    #[arg(long)]
    pub method: String,
    /// Ground truth `task,truth`: metrics go to stderr (or into the JSON document).
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// A worker's repeated labels on one task: `all` counts each (crowd-kit's default), `last`
    /// keeps the last one only.
    #[arg(long, default_value = "all")]
    pub repeats: String,
    /// Write the CSV here instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Print one JSON document (rows, workers, metrics, counts, seconds) on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs `aggregate`.
pub fn run(args: AggregateArgs) -> anyhow::Result<()> {
    let method: Method = args.method.parse().map_err(bad_input)?;
    let repeats: Repeats = args.repeats.parse().map_err(bad_input)?;
    let input = super::read_input(&args.input)?;
    let truth = args.truth.as_deref().map(super::read_input).transpose()?;
    let labels = input.lines().skip(1).filter(|l| !l.trim().is_empty()).count();
    let start = Instant::now();
    let result = aggregate(
        method,
        repeats,
        &mut input.as_bytes(),
        truth.as_ref().map(|t| t.as_bytes()).as_mut().map(|t| t as &mut dyn std::io::Read),
    )
    .map_err(|e| bad_input(format!("{}: {e}", args.input.display())))?;
    let seconds = start.elapsed().as_secs_f64();
    let tasks = match &result.rows {
        plumbline_infer::method::Rows::Labels(rows) => rows.len(),
        plumbline_infer::method::Rows::Scores(rows) => rows.len(),
    };
    if let Some(path) = &args.output {
        let mut file = std::fs::File::create(path)
            .map_err(|e| bad_input(format!("cannot create {}: {e}", path.display())))?;
        result.write_csv(&mut file)?;
    }
    if args.json {
        let mut document = serde_json::to_value(&result)?;
        let fields = document.as_object_mut().expect("an object");
        if let Some(metrics) = &result.metrics {
            for (key, value) in serde_json::to_value(metrics)?.as_object().expect("an object") {
                if key != "tasks" {
                    fields.insert(key.clone(), value.clone());
                }
            }
            fields.insert("truth_tasks".into(), metrics.tasks.into());
        }
        fields.insert("tasks".into(), tasks.into());
        fields.insert("workers".into(), result.workers.len().into());
        fields.insert("labels".into(), labels.into());
        fields.insert("seconds".into(), seconds.into());
        if args.output.is_some() {
            fields.remove("rows");
        }
        println!("{}", serde_json::to_string(&document)?);
    } else {
        if args.output.is_none() {
            result.write_csv(&mut std::io::stdout().lock())?;
        }
        if let Some(metrics) = &result.metrics {
            eprintln!("{method}: {metrics} ({tasks} tasks, {labels} labels, {seconds:.3} s)");
        }
        for note in &result.notes {
            eprintln!("note: {note}");
        }
    }
    Ok(())
}
