//! Replays every dataset with truth in `../shared/datasets` and writes
//! `bench/results/replay.{json,md}`: who is slashed or left unrewarded, and the exported
//! dataset's accuracy beside Dawid-Skene over everyone, and how its confidence is calibrated
//! (expected calibration error, and the reliability diagram in `replay-calibration.svg`).
//! Then again over ten gold draws (seeds 1–10), beside the calibration error that perfectly
//! calibrated confidences would show on as many tasks: how much of the error is the measure's
//! own noise.
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

/// Gold draws the spread is measured over.
const DRAWS: u64 = 10;

/// The expected calibration error of predictions as binned in `c` if each were right with
/// exactly its bin's mean confidence: `Σ (n_b / n) · E|X/n_b − p_b|` with `X ~ Binomial(n_b,
/// p_b)`. What a perfectly calibrated export would show on as many tasks.
fn ece_noise(c: &Calibration) -> f64 {
    let total: usize = c.bins.iter().map(|b| b.n).sum();
    c.bins
        .iter()
        .map(|b| {
            let (n, p) = (b.n, b.confidence.clamp(1e-12, 1.0 - 1e-12));
            let mut ln_choose = 0.0;
            let mut expected = 0.0;
            for k in 0..=n {
                if k > 0 {
                    ln_choose += ((n - k + 1) as f64).ln() - (k as f64).ln();
                }
                let ln_pmf = ln_choose + k as f64 * p.ln() + (n - k) as f64 * (1.0 - p).ln();
                expected += ln_pmf.exp() * (k as f64 / n as f64 - p).abs();
            }
            b.n as f64 / total as f64 * expected
        })
        .sum()
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
    let mut draws_table = String::from(
        "| dataset | export's calibration error: mean (min–max) | perfectly calibrated, same bins: mean | export's accuracy on the gold tasks less on the evaluation tasks (min to max) | export above / equal to / below Dawid-Skene over everyone | export less Dawid-Skene, mean (points) |\n|---|---|---:|---|---|---:|\n",
    );
    let mut draws_rows = Vec::new();
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
            "exported_gold_accuracy": report.exported_gold_accuracy,
            "exported_calibration": report.exported_calibration,
            "posterior_calibration": report.posterior_calibration,
            "temperature": report.temperature,
            "floor": report.floor,
            "labels_left_out": report.labels_left_out,
            "seconds": seconds,
        }));
        if let Some(c) = report.exported_calibration {
            calibrations.push((name.clone(), c));
        }
        let (mut errors, mut noises, mut order) = (Vec::new(), Vec::new(), [0u32; 3]);
        let (mut gaps, mut leads) = (Vec::new(), Vec::new());
        for seed in 1..=DRAWS {
            let drawn = ReplayOptions { seed, ..options.clone() };
            let report = replay(&data, &truth, &drawn).unwrap();
            if let Some(c) = &report.exported_calibration {
                errors.push(c.ece);
                noises.push(ece_noise(c));
            }
            gaps.push(report.exported_gold_accuracy - report.exported_accuracy);
            leads.push(report.exported_accuracy - report.ds_accuracy);
            let cmp = report.exported_accuracy.partial_cmp(&report.ds_accuracy).unwrap();
            order[match cmp {
                std::cmp::Ordering::Greater => 0,
                std::cmp::Ordering::Equal => 1,
                std::cmp::Ordering::Less => 2,
            }] += 1;
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let (low, high) =
            errors.iter().fold((f64::INFINITY, 0.0f64), |(l, h), e| (l.min(*e), h.max(*e)));
        let gap = |pick: fn(f64, f64) -> f64| gaps.iter().copied().fold(gaps[0], pick);
        draws_table.push_str(&format!(
            "| {name} | {:.3} ({low:.3}–{high:.3}) | {:.3} | {:+.3} to {:+.3} | {} / {} / {} | {:+.2} |\n",
            mean(&errors),
            mean(&noises),
            gap(f64::min),
            gap(f64::max),
            order[0],
            order[1],
            order[2],
            100.0 * mean(&leads),
        ));
        draws_rows.push(serde_json::json!({
            "dataset": name,
            "exported_ece": errors,
            "perfectly_calibrated_ece": noises,
            "gold_minus_evaluation_accuracy": gaps,
            "export_above_equal_below_ds": order,
            "export_minus_ds_accuracy": leads,
        }));
    }
    let document = serde_json::json!({
        "benchmark": "replay",
        "command": command,
        "gold_fraction": options.gold_fraction,
        "seed": options.seed,
        "datasets": rows,
        "gold_draws": draws_rows,
    });
    let markdown = format!(
        "# Replay of real crowd data through scoring and settlement\n\n`{command}` (gold fraction {}, seed {}; defaults of the mechanism: δ = 0.01, false reward rate 0.2, λ = 0.5; one stake per worker, no prior reputation)\n\n{table}\nThe export's calibration error is the expected calibration error of its confidence against its accuracy on the evaluation tasks, over {} equal bins of [0, 1]: its confidence is Dawid-Skene's posterior of the exported class recalibrated on the gold tasks (a temperature and a uniform floor that make the gold answers most likely: `temperature` and `floor` in the JSON), as the server's export does; the raw posterior's error is beside it. `replay-calibration.svg` is the export's reliability diagram.\n\n## Over {DRAWS} gold draws\n\nThe same replay with the gold tasks drawn with seeds 1–{DRAWS}. Beside the export's calibration error, the error that predictions with the same bins would show if each were right with exactly its bin's confidence (the expectation over the binomial): the part of the measure that is its own noise on this many tasks. Then how far the export's accuracy on the gold tasks, which its confidence is recalibrated to, stands from its accuracy on the evaluation tasks, which the calibration error is measured on: a recalibration that fits the gold tasks exactly is off by about that much on the rest.\n\n{draws_table}",
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
