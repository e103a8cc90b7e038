//! Replays every dataset with truth in `../shared/datasets` and writes
//! `bench/results/replay.{json,md}`: who is slashed or left unrewarded, and the exported
//! dataset's accuracy beside Dawid-Skene over everyone, and how its confidence is calibrated
//! (expected calibration error, and the reliability diagram in `replay-calibration.svg`).
//!
//! Run: `cargo bench -p plumbline-sim --bench replay`.

use plumbline_infer::metrics::Calibration;
use plumbline_infer::read::{read_labels, read_truth};
use plumbline_sim::plot::reliability_diagram;
use plumbline_sim::replay::{ReplayOptions, replay};
use std::path::PathBuf;
use std::time::Instant;

fn ece(calibration: &Option<Calibration>) -> String {
    calibration.as_ref().map_or("–".into(), |c| format!("{:.3}", c.ece))
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("the shared datasets sit beside the repository")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|d| d.join("truth.csv").exists())
        .collect();
    dirs.sort();
    let options = ReplayOptions::default();
    let command = "cargo bench -p plumbline-sim --bench replay";
    let mut rows = Vec::new();
    let mut calibrations = Vec::new();
    let mut table = String::from(
        "| dataset | workers | accurate (≥0.8, ≥20 labels): slashed | inaccurate (<0.6, ≥20 labels) | of them slashed | unrewarded | exported accuracy | Dawid-Skene over everyone | export's calibration error | raw posterior's | labels left out | seconds |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let data = read_labels(std::fs::File::open(dir.join("labels.csv")).unwrap()).unwrap();
        let truth = read_truth(std::fs::File::open(dir.join("truth.csv")).unwrap()).unwrap();
        let start = Instant::now();
        let report = replay(&data, &truth, &options).unwrap();
        let seconds = start.elapsed().as_secs_f64();
        let unrewarded = report.inaccurate.even + report.inaccurate.slashed;
        eprintln!("{name}: {seconds:.3} s");
        table.push_str(&format!(
            "| {name} | {} | {} of {} | {} | {} | {} | {:.2}% | {:.2}% | {} | {} | {} | {seconds:.3} |\n",
            report.workers,
            report.accurate.slashed,
            report.accurate.workers,
            report.inaccurate.workers,
            report.inaccurate.slashed,
            unrewarded,
            100.0 * report.exported_accuracy,
            100.0 * report.ds_accuracy,
            ece(&report.exported_calibration),
            ece(&report.posterior_calibration),
            report.labels_left_out,
        ));
        rows.push(serde_json::json!({
            "dataset": name,
            "tasks": report.tasks,
            "workers": report.workers,
            "labels": report.labels,
            "gold_tasks": report.gold_tasks,
            "accurate": report.accurate,
            "inaccurate": report.inaccurate,
            "all": report.all,
            "inaccurate_unrewarded": unrewarded,
            "exported_accuracy": report.exported_accuracy,
            "ds_accuracy": report.ds_accuracy,
            "exported_calibration": report.exported_calibration,
            "posterior_calibration": report.posterior_calibration,
            "temperature": report.temperature,
            "floor": report.floor,
            "labels_left_out": report.labels_left_out,
            "seconds": seconds,
        }));
        if let Some(c) = report.exported_calibration {
            calibrations.push((name, c));
        }
    }
    let document = serde_json::json!({
        "benchmark": "replay",
        "command": command,
        "gold_fraction": options.gold_fraction,
        "seed": options.seed,
        "datasets": rows,
    });
    let markdown = format!(
        "# Replay of real crowd data through scoring and settlement\n\n`{command}` (gold fraction {}, seed {}; defaults of the mechanism: δ = 0.01, false reward rate 0.2, λ = 0.5; one stake per worker, no prior reputation)\n\n{table}\nThe export's calibration error is the expected calibration error of its confidence against its accuracy on the evaluation tasks, over {} equal bins of [0, 1]: its confidence is Dawid-Skene's posterior of the exported class recalibrated on the gold tasks (a temperature and a uniform floor that make the gold answers most likely: `temperature` and `floor` in the JSON), as the server's export does; the raw posterior's error is beside it. `replay-calibration.svg` is the export's reliability diagram.\n",
        options.gold_fraction,
        options.seed,
        plumbline_sim::replay::CALIBRATION_BINS
    );
    let series: Vec<(&str, &_)> = calibrations.iter().map(|(n, c)| (n.as_str(), c)).collect();
    let diagram = reliability_diagram("The export's confidence against its accuracy", &series);
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench/results");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("replay.json"), format!("{document:#}\n")).unwrap();
    std::fs::write(out.join("replay.md"), markdown).unwrap();
    std::fs::write(out.join("replay-calibration.svg"), diagram).unwrap();
    println!("{document}");
}
