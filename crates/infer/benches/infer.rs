//! Dawid-Skene against crowd-kit's `DawidSkene` on every dataset with a truth and on a seeded
//! crowd shaped like a large real one (four unbalanced classes, a long tail of workers, repeated
//! labels), keeping the last of a worker's repeated labels on a task and, where there are
//! repeats, every one (crowd-kit's default); plus a 1,000,000-label synthetic crowd.
//!
//! Run with `cargo bench -p plumbline-infer --bench infer`. crowd-kit runs in the same
//! invocation through `bench/infer/crowdkit_ds.py`, with the Python interpreter named by
//! `PLUMBLINE_CROWDKIT_PYTHON` (default `bench/infer/.venv/bin/python`; see
//! `bench/infer/README.md`). Figures go to `bench/results/infer-ds.json` and `.md`; the exit
//! status is non-zero when a target is missed (accuracy within 0.3 points of crowd-kit on every
//! dataset, at least 50 times faster both in the fit alone and end to end, reading the CSV
//! included, and the synthetic fit under one second).

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use plumbline_infer::read::{read_labels_keeping, read_truth};
use plumbline_infer::{
    Dataset, DawidSkeneModel, DsOptions, Repeats, SyntheticSpec, dawid_skene, metrics, synthetic,
};
use serde_json::{Value, json};

const COMMAND: &str = "cargo bench -p plumbline-infer --bench infer";
const MAX_GAP_POINTS: f64 = 0.3;
const MIN_SPEEDUP: f64 = 50.0;
const SYNTHETIC_SECONDS_MAX: f64 = 1.0;
const SYNTHETIC_SEED: u64 = 20_240_601;
/// crowd-kit fits are slow; the median of three keeps the run short and steady enough.
const CROWDKIT_RUNS: usize = 3;

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("infer bench: a target was missed, see the report");
            ExitCode::FAILURE
        }
        Err(message) => {
            eprintln!("infer bench: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let datasets_dir = root.join("../shared/datasets");
    let mut folders = datasets_with_truth(&datasets_dir)?;
    folders.push(write_shaped_crowd(&root.join("target/bench-infer/shaped"))?);
    let mut with_repeats = Vec::new();
    for folder in &folders {
        if load(folder, Repeats::All)?.0.n_labels() > load(folder, Repeats::Last)?.0.n_labels() {
            with_repeats.push(folder.clone());
        }
    }
    let options = DsOptions::default();

    let python = std::env::var_os("PLUMBLINE_CROWDKIT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("bench/infer/.venv/bin/python"));
    eprintln!("running crowd-kit with {} ...", python.display());
    let script = root.join("bench/infer/crowdkit_ds.py");
    let mut rows = Vec::new();
    let mut met = true;
    let mut crowdkit = Value::Null;
    for (repeats, folders) in [(Repeats::Last, &folders), (Repeats::All, &with_repeats)] {
        crowdkit = run_crowdkit(&python, &script, folders, repeats)?;
        let ck_results: HashMap<String, &Value> = crowdkit["results"]
            .as_array()
            .ok_or("crowd-kit output has no results")?
            .iter()
            .filter_map(|r| Some((r["dataset"].as_str()?.to_owned(), r)))
            .collect();
        for folder in folders {
            let (row, ok) = compare(folder, repeats, &options, &ck_results)?;
            rows.push(row);
            met &= ok;
        }
    }

    let synthetic_row = run_synthetic(&options);
    // The target holds for the worst case, all 100 rounds, not only for the rounds this
    // particular crowd needs.
    let synthetic_seconds = synthetic_row["full_rounds_seconds"].as_f64().unwrap_or(f64::INFINITY);
    met &= synthetic_seconds < SYNTHETIC_SECONDS_MAX;

    let report = json!({
        "command": COMMAND,
        "machine": machine(),
        "crowdkit": {
            "version": crowdkit["crowdkit_version"],
            "pandas": crowdkit["pandas_version"],
            "python": crowdkit["python_version"],
        },
        "options": { "n_iter": options.n_iter, "tol": options.tol },
        "timing": "median wall-clock seconds of the fit alone, data already in memory \
                   (`seconds`), and end to end, reading labels.csv and fitting \
                   (`end_to_end_seconds`)",
        "datasets": rows,
        "synthetic": synthetic_row,
        "targets": {
            "accuracy_diff_points_max": MAX_GAP_POINTS,
            "speedup_min": MIN_SPEEDUP,
            "synthetic_fit_seconds_max": SYNTHETIC_SECONDS_MAX,
            "met": met,
        },
    });
    let out_dir = root.join("bench/results");
    fs::create_dir_all(&out_dir)
        .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    let json_text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())? + "\n";
    write(&out_dir.join("infer-ds.json"), &json_text)?;
    write(&out_dir.join("infer-ds.md"), &markdown(&report))?;
    eprintln!("wrote {}", out_dir.join("infer-ds.{json,md}").display());
    Ok(met)
}

/// Our Dawid-Skene against crowd-kit's result for one dataset under one repeat policy: the
/// report row, and whether it meets the accuracy and speed targets.
fn compare(
    folder: &Path,
    repeats: Repeats,
    options: &DsOptions,
    ck_results: &HashMap<String, &Value>,
) -> Result<(Value, bool), String> {
    let name = folder.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_owned();
    let (data, truth) = load(folder, repeats)?;
    let (seconds, runs, model) = time_fit(|| dawid_skene(&data, options));
    let (e2e_seconds, e2e_runs, e2e_model) = time_fit(|| read_and_fit(folder, repeats, options));
    if e2e_model?.result.labels != model.result.labels {
        return Err(format!("{name}: reading and fitting again gave other labels"));
    }
    let ours = accuracy(&data, &truth, &model.result.labels);
    let ck = ck_results.get(&name).ok_or(format!("crowd-kit skipped {name}"))?;
    let ck_accuracy = ck["accuracy"].as_f64().ok_or("crowd-kit gave no accuracy")?;
    let ck_seconds = ck["seconds"].as_f64().ok_or("crowd-kit gave no time")?;
    let ck_e2e_seconds =
        ck["end_to_end_seconds"].as_f64().ok_or("crowd-kit gave no end-to-end time")?;
    // Equal accuracies computed on two sides can differ in the last bit; show them as 0.
    let gap = 100.0 * (ours - ck_accuracy);
    let gap = if gap.abs() < 1e-9 { 0.0 } else { gap };
    let speedup = ck_seconds / seconds;
    let e2e_speedup = ck_e2e_seconds / e2e_seconds;
    let ok = gap.abs() <= MAX_GAP_POINTS && speedup >= MIN_SPEEDUP && e2e_speedup >= MIN_SPEEDUP;
    let policy = repeats_name(repeats);
    eprintln!(
        "{name:>12} ({policy:>4}): ours {:.2}% in {} ({} rounds; {} with reading), crowd-kit {:.2}% in {} ({} with reading), {gap:+.2} points, {speedup:.0}x (end to end {e2e_speedup:.0}x){}",
        100.0 * ours,
        human(seconds),
        model.result.iterations,
        human(e2e_seconds),
        100.0 * ck_accuracy,
        human(ck_seconds),
        human(ck_e2e_seconds),
        if ok { "" } else { "  <- target missed" },
    );
    let row = json!({
        "dataset": name,
        "repeats": policy,
        "tasks": data.n_tasks(),
        "workers": data.n_workers(),
        "classes": data.n_classes(),
        "labels": data.n_labels(),
        "tasks_scored": ck["tasks_scored"],
        "ours": {
            "accuracy": ours,
            "seconds": seconds,
            "runs": runs,
            "end_to_end_seconds": e2e_seconds,
            "end_to_end_runs": e2e_runs,
            "iterations": model.result.iterations,
        },
        "crowdkit": {
            "accuracy": ck_accuracy,
            "seconds": ck_seconds,
            "read_seconds": ck["read_seconds"],
            "end_to_end_seconds": ck_e2e_seconds,
            "runs": ck["runs"],
        },
        "accuracy_diff_points": gap,
        "speedup": speedup,
        "end_to_end_speedup": e2e_speedup,
    });
    Ok((row, ok))
}

/// What `plumbline aggregate --method ds` does before printing: read `labels.csv` from disk
/// and fit.
fn read_and_fit(
    folder: &Path,
    repeats: Repeats,
    options: &DsOptions,
) -> Result<DawidSkeneModel, String> {
    let path = folder.join("labels.csv");
    let file = File::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let data =
        read_labels_keeping(file, repeats).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(dawid_skene(&data, options))
}

fn repeats_name(repeats: Repeats) -> &'static str {
    match repeats {
        Repeats::Last => "last",
        Repeats::All => "all",
    }
}

/// A seeded crowd shaped like a large real one, written as `labels.csv` and `truth.csv` into
/// `dir` for both sides to read: 20,000 tasks of four classes in proportions 55/25/13/7%,
/// 766 workers whose activity falls off as 1/rank (a long tail), four or five workers per
/// task, each worker right with its own probability in [0.45, 0.95] and otherwise mostly
/// answering the next class; 8% of labels are a worker labeling the same task again (a fresh
/// answer, at the end of the file), and 4,460 tasks have a truth.
fn write_shaped_crowd(dir: &Path) -> Result<PathBuf, String> {
    const TASKS: usize = 20_000;
    const WORKERS: usize = 766;
    const TRUTH_TASKS: usize = 4_460;
    let mut rng = SplitMix(SHAPED_SEED);
    let priors = [0.55, 0.25, 0.13, 0.07];
    let skill: Vec<f64> = (0..WORKERS).map(|_| 0.45 + 0.5 * rng.unit()).collect();
    let mut activity = Vec::with_capacity(WORKERS);
    let mut total = 0.0;
    for w in 0..WORKERS {
        total += 1.0 / (w + 1) as f64;
        activity.push(total);
    }
    let answer = |rng: &mut SplitMix, worker: usize, truth: usize| {
        if rng.unit() < skill[worker] {
            truth
        } else if rng.unit() < 0.6 {
            (truth + 1) % 4
        } else {
            (truth + 1 + (rng.unit() * 3.0) as usize) % 4
        }
    };
    let mut labels = String::from("task,worker,label\n");
    let mut repeats = Vec::new();
    let mut truth = Vec::with_capacity(TASKS);
    for t in 0..TASKS {
        let u = rng.unit();
        let mut class = priors.len() - 1;
        let mut cumulative = 0.0;
        for (c, p) in priors.iter().enumerate() {
            cumulative += p;
            if u < cumulative {
                class = c;
                break;
            }
        }
        truth.push(class);
        let mut chosen: Vec<usize> = Vec::new();
        let wanted = if rng.unit() < 0.5 { 4 } else { 5 };
        while chosen.len() < wanted {
            let x = rng.unit() * total;
            let w = activity.partition_point(|&a| a < x).min(WORKERS - 1);
            if !chosen.contains(&w) {
                chosen.push(w);
            }
        }
        for &w in &chosen {
            labels += &format!("t{t},w{w},{}\n", answer(&mut rng, w, class));
            if rng.unit() < 0.08 {
                repeats.push((t, w));
            }
        }
    }
    for (t, w) in repeats {
        labels += &format!("t{t},w{w},{}\n", answer(&mut rng, w, truth[t]));
    }
    let mut truth_csv = String::from("task,truth\n");
    // Every task where ⌊t·4460/20000⌋ steps up: 4,460 of them, spread evenly.
    for (t, class) in truth
        .iter()
        .enumerate()
        .filter(|(t, _)| t * TRUTH_TASKS / TASKS != (t + 1) * TRUTH_TASKS / TASKS)
    {
        truth_csv += &format!("t{t},{class}\n");
    }
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    write(&dir.join("labels.csv"), &labels)?;
    write(&dir.join("truth.csv"), &truth_csv)?;
    Ok(dir.to_owned())
}

const SHAPED_SEED: u64 = 20_261_206;

/// SplitMix64, for the shaped crowd.
struct SplitMix(u64);

impl SplitMix {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Every folder under `dir` with both `labels.csv` and `truth.csv`, by name.
fn datasets_with_truth(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("labels.csv").is_file() && p.join("truth.csv").is_file())
        .collect();
    out.sort();
    if out.is_empty() {
        return Err(format!("no dataset with truth.csv under {}", dir.display()));
    }
    Ok(out)
}

fn load(folder: &Path, repeats: Repeats) -> Result<(Dataset, HashMap<String, String>), String> {
    let open = |name: &str| {
        let path = folder.join(name);
        File::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))
    };
    let data = read_labels_keeping(open("labels.csv")?, repeats)
        .map_err(|e| format!("{}: {e}", folder.display()))?;
    let truth = read_truth(open("truth.csv")?).map_err(|e| format!("{}: {e}", folder.display()))?;
    Ok((data, truth))
}

/// Accuracy over the tasks that have both labels and a truth, as the Python side computes it.
fn accuracy(data: &Dataset, truth: &HashMap<String, String>, labels: &[u32]) -> f64 {
    let predicted: Vec<&str> =
        labels.iter().map(|&c| data.classes()[c as usize].as_str()).collect();
    let truth: Vec<Option<&str>> =
        data.tasks().names().iter().map(|t| truth.get(t).map(String::as_str)).collect();
    metrics::accuracy(&predicted, &truth).unwrap_or(0.0)
}

/// Runs `fit` once to warm up, then `runs` times, and returns the median time, the number of
/// timed runs, and the last result.
fn median_of<T>(runs: usize, mut fit: impl FnMut() -> T) -> (f64, usize, T) {
    let mut result = fit();
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        result = std::hint::black_box(fit());
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times.len(), result)
}

/// Runs `fit` once to warm up, then repeatedly for at least half a second (5 to 1,000 runs),
/// and returns the median time, the number of timed runs, and the last result.
fn time_fit<T>(mut fit: impl FnMut() -> T) -> (f64, usize, T) {
    let mut result = fit();
    let mut times = Vec::new();
    let started = Instant::now();
    while times.len() < 5 || (started.elapsed() < Duration::from_millis(500) && times.len() < 1000)
    {
        let t = Instant::now();
        result = std::hint::black_box(fit());
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times.len(), result)
}

fn run_crowdkit(
    python: &Path,
    script: &Path,
    folders: &[PathBuf],
    repeats: Repeats,
) -> Result<Value, String> {
    let output = Command::new(python)
        .arg(script)
        .args(["--method", "ds", "--repeat", &CROWDKIT_RUNS.to_string()])
        .args(["--repeats", repeats_name(repeats)])
        .args(folders)
        .output()
        .map_err(|e| {
            format!(
                "cannot run {}: {e}; create the environment with `python3 -m venv bench/infer/.venv \
                 && bench/infer/.venv/bin/pip install -r bench/infer/requirements.txt`, or point \
                 PLUMBLINE_CROWDKIT_PYTHON at a Python that has crowd-kit",
                python.display()
            )
        })?;
    if !output.status.success() {
        return Err(format!(
            "crowd-kit script failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("crowd-kit output is not JSON: {e}"))
}

/// Dawid-Skene on a seeded one-coin crowd of 1,000,000 labels.
fn run_synthetic(options: &DsOptions) -> Value {
    let spec = SyntheticSpec {
        n_tasks: 100_000,
        n_workers: 1_000,
        n_classes: 4,
        labels_per_task: 10,
        accuracy_min: 0.35,
        accuracy_max: 0.9,
    };
    let build = Instant::now();
    let (data, truth) = synthetic(&spec, SYNTHETIC_SEED);
    let build_seconds = build.elapsed().as_secs_f64();
    let (fit_seconds, runs, model) = median_of(5, || dawid_skene(&data, options));
    // The same crowd with the stopping rule switched off: the full 100 rounds, the most the
    // default options ever run.
    let all_rounds = DsOptions { tol: f64::NEG_INFINITY, ..*options };
    let (full_seconds, _, full) = median_of(3, || dawid_skene(&data, &all_rounds));
    let truth: Vec<Option<u32>> = truth.into_iter().map(Some).collect();
    let acc = metrics::accuracy(&model.result.labels, &truth).unwrap_or(0.0);
    let mv = plumbline_infer::majority_vote(&data);
    let mv_acc = metrics::accuracy(&mv.labels, &truth).unwrap_or(0.0);
    eprintln!(
        "   synthetic: {} labels, fit in {} ({} rounds, median of {runs}), all {} rounds in {}, accuracy {:.2}% (majority vote {:.2}%)",
        data.n_labels(),
        human(fit_seconds),
        model.result.iterations,
        full.result.iterations,
        human(full_seconds),
        100.0 * acc,
        100.0 * mv_acc,
    );
    json!({
        "labels": data.n_labels(),
        "tasks": spec.n_tasks,
        "workers": spec.n_workers,
        "classes": spec.n_classes,
        "labels_per_task": spec.labels_per_task,
        "worker_accuracy": [spec.accuracy_min, spec.accuracy_max],
        "seed": SYNTHETIC_SEED,
        "build_seconds": build_seconds,
        "fit_seconds": fit_seconds,
        "runs": runs,
        "iterations": model.result.iterations,
        "full_rounds": full.result.iterations,
        "full_rounds_seconds": full_seconds,
        "accuracy": acc,
        "majority_vote_accuracy": mv_acc,
    })
}

fn machine() -> Value {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "os": std::env::consts::OS,
        "rustc": rustc,
        "threads": "one below 200,000 labels (every real dataset), two above (the synthetic crowd)",
    })
}

fn markdown(report: &Value) -> String {
    let mut md = String::new();
    md += "# Dawid-Skene: plumbline-infer against crowd-kit\n\n";
    md += &format!("Produced by `{}`.\n\n", report["command"].as_str().unwrap_or(COMMAND));
    let m = &report["machine"];
    md += &format!(
        "Machine: {} ({} cores), {}; crowd-kit {} on pandas {}, Python {}. Dawid-Skene runs on \
         one thread below 200,000 labels (every real dataset) and on two above. \
         Times are medians of wall-clock seconds, of the fit alone with the data already in \
         memory (`fit`), and end to end (`e2e`): reading `labels.csv` from disk and fitting, \
         which for crowd-kit is `pandas.read_csv` (and `drop_duplicates` for `last`) followed \
         by `fit_predict`, and for ours `read_labels_keeping` followed by `dawid_skene`, as \
         `plumbline aggregate` does. \
         Both sides use 100 rounds at most and tolerance 1e-5. Both keep the last label \
         of a worker's repeated labels on a task (`last`), and, on the datasets that have \
         repeats, every one (`all`, crowd-kit's default). `shaped` is a seeded crowd shaped \
         like a large real one (20,000 tasks of four classes at 55/25/13/7%, 766 workers with \
         activity falling off as 1/rank, four or five labels per task, 8% of labels repeated, \
         4,460 tasks with a truth).\n\n",
        m["cpu"].as_str().unwrap_or("?"),
        m["cores"],
        m["rustc"].as_str().unwrap_or("?"),
        report["crowdkit"]["version"].as_str().unwrap_or("?"),
        report["crowdkit"]["pandas"].as_str().unwrap_or("?"),
        report["crowdkit"]["python"].as_str().unwrap_or("?"),
    );
    md += "| dataset | repeats | labels | ours | crowd-kit | diff (points) | ours (fit) | crowd-kit (fit) | speedup (fit) | ours (e2e) | crowd-kit (e2e) | speedup (e2e) |\n";
    md += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for r in report["datasets"].as_array().into_iter().flatten() {
        md += &format!(
            "| {} | {} | {} | {:.2}% | {:.2}% | {:+.2} | {} | {} | {:.0}x | {} | {} | {:.0}x |\n",
            r["dataset"].as_str().unwrap_or("?"),
            r["repeats"].as_str().unwrap_or("?"),
            r["labels"],
            100.0 * r["ours"]["accuracy"].as_f64().unwrap_or(0.0),
            100.0 * r["crowdkit"]["accuracy"].as_f64().unwrap_or(0.0),
            r["accuracy_diff_points"].as_f64().unwrap_or(0.0),
            human(r["ours"]["seconds"].as_f64().unwrap_or(0.0)),
            human(r["crowdkit"]["seconds"].as_f64().unwrap_or(0.0)),
            r["speedup"].as_f64().unwrap_or(0.0),
            human(r["ours"]["end_to_end_seconds"].as_f64().unwrap_or(0.0)),
            human(r["crowdkit"]["end_to_end_seconds"].as_f64().unwrap_or(0.0)),
            r["end_to_end_speedup"].as_f64().unwrap_or(0.0),
        );
    }
    let s = &report["synthetic"];
    md += &format!(
        "\nSynthetic crowd (seed {}): {} labels, {} tasks, {} workers, {} classes, {} labels per \
         task, worker accuracy uniform in [{}, {}]. Dawid-Skene fit: **{}** ({} rounds until the \
         bound stops growing, median of {} runs); with the stopping rule off, all {} rounds: \
         **{}**. Building the dataset: {}. Accuracy against the planted truth {:.2}% (majority \
         vote {:.2}%).\n",
        s["seed"],
        s["labels"],
        s["tasks"],
        s["workers"],
        s["classes"],
        s["labels_per_task"],
        s["worker_accuracy"][0],
        s["worker_accuracy"][1],
        human(s["fit_seconds"].as_f64().unwrap_or(0.0)),
        s["iterations"],
        s["runs"],
        s["full_rounds"],
        human(s["full_rounds_seconds"].as_f64().unwrap_or(0.0)),
        human(s["build_seconds"].as_f64().unwrap_or(0.0)),
        100.0 * s["accuracy"].as_f64().unwrap_or(0.0),
        100.0 * s["majority_vote_accuracy"].as_f64().unwrap_or(0.0),
    );
    let t = &report["targets"];
    md += &format!(
        "\nTargets: accuracy within {} points of crowd-kit on every dataset, at least {}x faster \
         both in the fit and end to end, synthetic fit (all 100 rounds) under {} s. \
         Met: **{}**.\n",
        t["accuracy_diff_points_max"].as_f64().unwrap_or(MAX_GAP_POINTS),
        t["speedup_min"].as_f64().unwrap_or(MIN_SPEEDUP),
        t["synthetic_fit_seconds_max"].as_f64().unwrap_or(SYNTHETIC_SECONDS_MAX),
        if t["met"].as_bool() == Some(true) { "yes" } else { "no" },
    );
    let missed: Vec<String> = report["datasets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            r["accuracy_diff_points"].as_f64().is_none_or(|g| g.abs() > MAX_GAP_POINTS)
                || r["speedup"].as_f64().is_none_or(|x| x < MIN_SPEEDUP)
                || r["end_to_end_speedup"].as_f64().is_none_or(|x| x < MIN_SPEEDUP)
        })
        .map(|r| {
            format!(
                "{} ({}): {:+.2} points, {:.0}x fit, {:.0}x end to end",
                r["dataset"].as_str().unwrap_or("?"),
                r["repeats"].as_str().unwrap_or("?"),
                r["accuracy_diff_points"].as_f64().unwrap_or(f64::NAN),
                r["speedup"].as_f64().unwrap_or(0.0),
                r["end_to_end_speedup"].as_f64().unwrap_or(0.0),
            )
        })
        .collect();
    if !missed.is_empty() {
        md += &format!("Missed on: {}.\n", missed.join("; "));
    }
    md
}

fn human(seconds: f64) -> String {
    if seconds >= 1.0 {
        format!("{seconds:.2} s")
    } else if seconds >= 1e-3 {
        format!("{:.2} ms", seconds * 1e3)
    } else {
        format!("{:.1} µs", seconds * 1e6)
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
