//! The real `plumbline` binary, run in a temporary directory.

use plumbline_core::synthetic::{self, Behavior, Params};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn plumbline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plumbline")).args(args).output().expect("the binary runs")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("plumbline-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const SPEC: &str = include_str!("../../core/tests/data/pairwise.toml");

#[test]
fn help_lists_the_commands() {
    let output = plumbline(&["--help"]);
    assert_eq!(code(&output), 0);
    for command in ["spec", "tasks", "keys", "audit"] {
        assert!(stdout(&output).contains(command), "{command} in --help");
    }
}

#[test]
fn spec_check_accepts_good_specs_and_names_the_broken_rule() {
    let dir = TempDir::new("spec");
    let good = dir.write("spec.toml", SPEC);
    let output = plumbline(&["spec", "check", &good]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(stdout(&output).starts_with("ok: pairwise"));

    let json = plumbline(&["spec", "check", &good, "--json"]);
    let as_json = dir.write("spec.json", &stdout(&json));
    assert_eq!(code(&plumbline(&["spec", "check", &as_json])), 0, "the JSON form reads back");

    let bad = dir.write("bad.toml", &SPEC.replace("overlap = 3", "overlap = 0"));
    let output = plumbline(&["spec", "check", &bad]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("spec field `overlap`: must be 1 to 100"),
        "{}",
        stderr(&output)
    );
    assert!(stdout(&output).is_empty(), "errors go to stderr only");

    let malformed = dir.write("malformed.toml", "schema_version = [");
    let output = plumbline(&["spec", "check", &malformed]);
    assert_eq!(code(&output), 2);
    assert!(stderr(&output).contains("does not parse"), "{}", stderr(&output));

    assert_eq!(code(&plumbline(&["spec", "check", &dir.path("missing.toml")])), 2);
}

#[test]
fn every_example_spec_and_its_tasks_check() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut kinds = Vec::new();
    for entry in std::fs::read_dir(&examples).unwrap() {
        let folder = entry.unwrap().path();
        if !folder.is_dir() {
            continue;
        }
        let spec = folder.join("spec.toml").to_string_lossy().into_owned();
        let tasks = folder.join("tasks.jsonl").to_string_lossy().into_owned();
        let output = plumbline(&["spec", "check", &spec]);
        assert_eq!(code(&output), 0, "{spec}: {}", stderr(&output));
        // Durations, not dates: an example never goes stale.
        assert!(stdout(&output).contains("from opening"), "{spec}: {}", stdout(&output));
        kinds.push(stdout(&output).split_whitespace().nth(1).unwrap().to_string());
        let output = plumbline(&["tasks", "check", &tasks, "--spec", &spec]);
        assert_eq!(code(&output), 0, "{tasks}: {}", stderr(&output));
    }
    kinds.sort();
    assert_eq!(kinds, ["binary", "choice", "pairwise", "ranking", "rating", "text"]);
}

#[test]
fn a_spec_with_rounds_says_when_its_later_rounds_run() {
    let dir = TempDir::new("rounds");
    let rounds = "\n[rounds]\ncount = 3\nlabels_max = 7\nconfidence = 0.95\n\
                  commit_within = \"1d\"\nreveal_within = \"12h\"\n";
    let binary = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/binary/spec.toml"),
    )
    .unwrap();
    let limits = "\n[limits]\nbatches_per_labeler_max = 3\n";
    let spec = dir.write("rounds.toml", &format!("{binary}{limits}{rounds}"));
    let output = plumbline(&["spec", "check", &spec]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(
        stdout(&output).contains("then 2 more rounds of commits for 1d"),
        "{}",
        stdout(&output)
    );
    let one_batch = dir.write("one-batch.toml", &format!("{binary}{rounds}"));
    let output = plumbline(&["spec", "check", &one_batch]);
    assert_eq!(code(&output), 2);
    assert!(stderr(&output).contains("limits.batches_per_labeler_max"), "{}", stderr(&output));
}

#[test]
fn a_best_of_spec_and_its_tasks_check_as_a_knockout() {
    let dir = TempDir::new("best-of");
    let rounds = "\n[rounds]\nrule = \"best_of\"\ncount = 20\nlabels_max = 9\n\
                  confidence = 0.95\ncommit_within = \"1h\"\nreveal_within = \"1h\"\n";
    let spec = dir.write("best-of.toml", &format!("{SPEC}{rounds}"));
    let output = plumbline(&["spec", "check", &spec]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(
        stdout(&output).contains("a knockout over each prompt's responses"),
        "{}",
        stdout(&output)
    );
    let mut lines = vec![serde_json::json!({
        "id": "p", "prompt": "Say hi", "responses": (0..8).map(|i| format!("r{i}")).collect::<Vec<_>>()
    })
    .to_string()];
    lines.push(r#"{"id": "g1", "responses": ["a", "b"], "gold": -1}"#.into());
    lines.push(r#"{"id": "g2", "responses": ["a", "b"], "gold": 1}"#.into());
    let tasks = dir.write("tasks.jsonl", &lines.join("\n"));
    let output = plumbline(&["tasks", "check", &tasks, "--spec", &spec, "--json"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!((summary["regular"].clone(), summary["matches"].clone()), (28.into(), 7.into()));
    let one = dir.write("one.jsonl", r#"{"id": "p", "responses": ["alone"]}"#);
    let output = plumbline(&["tasks", "check", &one, "--spec", &spec]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("line 1: a best-of task compares 2 to 64"),
        "{}",
        stderr(&output)
    );

    let output = plumbline(&[
        "rounds",
        "best-of",
        "--runs",
        "2",
        "--responses",
        "8",
        "--experiment-runs",
        "2",
        "--json",
    ]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(report["in_experiment"]["comparisons_max"].as_u64().unwrap() <= 50);
    let output =
        plumbline(&["rounds", "best-of", "--experiment-runs", "2", "--spread", "2", "--runs", "1"]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
}

#[test]
fn tasks_check_is_all_or_nothing_with_line_numbers() {
    let dir = TempDir::new("tasks");
    let spec = dir.write("spec.toml", SPEC);
    let mut lines: Vec<String> = (0..12)
        .map(|i| format!(r#"{{"id": "t{i}", "prompt": "p", "responses": ["a", "b"]}}"#))
        .collect();
    lines.push(r#"{"id": "g1", "responses": ["a", "b"], "gold": 2}"#.into());
    lines.push(r#"{"id": "g2", "responses": ["a", "b"], "gold": -1}"#.into());
    let good = dir.write("tasks.jsonl", &lines.join("\n"));
    let output = plumbline(&["tasks", "check", &good, "--spec", &spec, "--json"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(summary["tasks"], 14);
    assert_eq!(summary["gold"], 2);
    assert_eq!(summary["blocks"], 2);

    let mut broken = lines.clone();
    broken[4] = r#"{"id": "t4", "prompt": "p", "responses": ["a", "b"#.into();
    let bad = dir.write("bad.jsonl", &broken.join("\n"));
    let output = plumbline(&["tasks", "check", &bad, "--spec", &spec]);
    assert_eq!(code(&output), 2);
    assert!(stderr(&output).contains("line 5:"), "{}", stderr(&output));

    let mut wrong_kind = lines.clone();
    wrong_kind[12] = r#"{"id": "g1", "responses": ["a", "b"], "gold": "left"}"#.into();
    let bad = dir.write("wrong-kind.jsonl", &wrong_kind.join("\n"));
    let output = plumbline(&["tasks", "check", &bad, "--spec", &spec]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("line 13: `gold`: a pairwise label must be an integer"),
        "{}",
        stderr(&output)
    );

    // Strata: each value of a declared meta key is one; a nested value is refused.
    let stratified = dir.write(
        "stratified.toml",
        &SPEC.replace(
            "reveal_deadline = 1800086400",
            "reveal_deadline = 1800086400\nstrata = [\"topic\"]",
        ),
    );
    let mut topics = lines.clone();
    topics[0] = r#"{"id": "t0", "responses": ["a", "b"], "meta": {"topic": "law"}}"#.into();
    topics[1] = r#"{"id": "t1", "responses": ["a", "b"], "meta": {"topic": "health"}}"#.into();
    let good = dir.write("topics.jsonl", &topics.join("\n"));
    let output = plumbline(&["tasks", "check", &good, "--spec", &stratified, "--json"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(summary["strata"], 2);
    topics[1] = r#"{"id": "t1", "responses": ["a", "b"], "meta": {"topic": ["law"]}}"#.into();
    let bad = dir.write("nested.jsonl", &topics.join("\n"));
    let output = plumbline(&["tasks", "check", &bad, "--spec", &stratified]);
    assert_eq!(code(&output), 2);
    assert!(stderr(&output).contains("task `t1`: meta `topic`"), "{}", stderr(&output));
}

#[test]
fn keys_new_writes_a_private_key_file_once() {
    let dir = TempDir::new("keys");
    let out = dir.path("key.json");
    let output = plumbline(&["keys", "new", "--out", &out]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let key: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(stdout(&output).trim(), key["address"].as_str().unwrap());
    assert_eq!(key["private_key"].as_str().unwrap().len(), 66);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = plumbline(&["keys", "new", "--out", &out]);
    assert_eq!(code(&again), 2, "an existing key file is never overwritten");
    let printed = plumbline(&["keys", "new"]);
    assert_ne!(stdout(&printed), std::fs::read_to_string(&out).unwrap());
}

fn record_file(dir: &TempDir) -> (String, plumbline_core::record::PublicRecord) {
    let mut labelers = vec![Behavior::Accurate(900_000); 8];
    labelers.extend([Behavior::Random, Behavior::Silent]);
    let params = Params {
        spec: synthetic::binary_spec(20, 3, 5),
        regular_tasks: 60,
        gold_tasks: 10,
        positive_rate: 500_000,
        labelers,
        reputations: BTreeMap::new(),
    };
    let run = synthetic::run(&params, 3).unwrap();
    (dir.write("record.json", &run.record.to_json()), run.record)
}

#[test]
fn audit_exits_0_1_or_2() {
    let dir = TempDir::new("audit");
    let (path, record) = record_file(&dir);
    let output = plumbline(&["audit", &path]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(stdout(&output).starts_with("verified:"));

    let mut tampered = record.clone();
    tampered.settlement.totals.slashed += 1;
    let bad = dir.write("tampered.json", &tampered.to_json());
    let output = plumbline(&["audit", &bad]);
    assert_eq!(code(&output), 1);
    assert!(stderr(&output).contains("settlement.totals.slashed"), "{}", stderr(&output));

    let garbage = dir.write("garbage.json", "{\"record_version\": 1");
    assert_eq!(code(&plumbline(&["audit", &garbage])), 2);
    assert_eq!(code(&plumbline(&["audit", &dir.path("missing.json")])), 2);
    assert!(Path::new(&path).exists());
}

fn datasets() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets")
}

#[test]
fn aggregate_reproduces_dawid_skene_on_real_data() {
    let data = datasets().join("sentiment");
    let labels = data.join("labels.csv").to_string_lossy().into_owned();
    let truth = data.join("truth.csv").to_string_lossy().into_owned();
    let output = plumbline(&[
        "aggregate",
        "--input",
        &labels,
        "--method",
        "ds",
        "--truth",
        &truth,
        "--json",
    ]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let document: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(document["accuracy"].as_f64().unwrap() >= 0.96, "{}", document["accuracy"]);
    assert_eq!(document["tasks"], 1000);
    assert_eq!(document["workers"], 85);
    assert_eq!(document["labels"], 20000);
    assert!(document["seconds"].as_f64().is_some());

    let dir = TempDir::new("aggregate");
    let out = dir.path("out.csv");
    let output = plumbline(&["aggregate", "--input", &labels, "--method", "mv", "--output", &out]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let csv = std::fs::read_to_string(&out).unwrap();
    assert!(csv.starts_with("task,label,confidence\n"));
    assert_eq!(csv.lines().count(), 1001);
}

#[test]
fn aggregate_refuses_bad_input_with_exit_2() {
    let dir = TempDir::new("aggregate-bad");
    let cases = [
        ("no-column.csv", "task,worker\nt1,w1\n", "ds"),
        ("empty.csv", "", "ds"),
        ("text.csv", "task,worker,label\nt1,w1,good\n", "mean"),
    ];
    for (name, text, method) in cases {
        let path = dir.write(name, text);
        let output = plumbline(&["aggregate", "--input", &path, "--method", method]);
        assert_eq!(code(&output), 2, "{name}: {}", stderr(&output));
        assert!(stdout(&output).is_empty(), "{name}");
    }
    let good = dir.write("good.csv", "task,worker,label\nt1,w1,a\n");
    assert_eq!(code(&plumbline(&["aggregate", "--input", &good, "--method", "best"])), 2);
    let repeats = ["aggregate", "--input", &good, "--method", "mv", "--repeats", "every"];
    let output = plumbline(&repeats);
    assert_eq!(code(&output), 2);
    assert!(stderr(&output).contains("expected `last` or `all`"), "{}", stderr(&output));
}

#[test]
fn replay_reports_tiers_accuracy_and_a_plot() {
    let data = datasets().join("temp");
    let labels = data.join("labels.csv").to_string_lossy().into_owned();
    let truth = data.join("truth.csv").to_string_lossy().into_owned();
    let dir = TempDir::new("replay");
    let plot = dir.path("plot.svg");
    let output = plumbline(&[
        "replay", "--input", &labels, "--truth", &truth, "--seed", "7", "--json", "--plot", &plot,
    ]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["workers"], 76);
    assert_eq!(report["accurate"]["slashed"], 0);
    assert!(report["exported_accuracy"].as_f64().unwrap() > 0.9);
    assert!(report["per_worker"][0]["tier"].is_string());
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.matches("<circle").count() > 70);

    let output =
        plumbline(&["replay", "--input", &labels, "--truth", &truth, "--gold-fraction", "1.5"]);
    assert_eq!(code(&output), 2);
}

#[test]
fn rounds_measures_dynamic_overlap_and_the_best_of_n() {
    let data = datasets().join("wsd");
    let labels = data.join("labels.csv").to_string_lossy().into_owned();
    let truth = data.join("truth.csv").to_string_lossy().into_owned();
    let output = plumbline(&["rounds", "overlap", "--input", &labels, "--truth", &truth, "--json"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["labels_full"], 1770);
    assert!(report["share"].as_f64().unwrap() < 0.5);
    let output = plumbline(&["rounds", "overlap", "--input", &labels, "--truth", &truth]);
    assert!(stdout(&output).contains("fixed overlap, same budget"), "{}", stdout(&output));
    for bad in [["--confidence", "1"], ["--start", "0"]] {
        let output = plumbline(&[
            "rounds", "overlap", "--input", &labels, "--truth", &truth, bad[0], bad[1],
        ]);
        assert_eq!(code(&output), 2, "{bad:?}");
    }

    let output = plumbline(&["rounds", "best-of", "--runs", "20", "--responses", "16", "--json"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["setup"]["rule"]["budget"], 100);
    assert!(report["tournament"]["comparisons_max"].as_u64().unwrap() <= 100);
    for bad in [["--responses", "65"], ["--budget", "10"], ["--spread", "-1"], ["--runs", "0"]] {
        let output = plumbline(&["rounds", "best-of", bad[0], bad[1]]);
        assert_eq!(code(&output), 2, "{bad:?}: {}", stderr(&output));
    }
}

#[test]
fn serve_refuses_a_thread_count_out_of_range_before_writing_anything() {
    let dir = TempDir::new("threads");
    let db = dir.path("market.db");
    for threads in ["0", "513", "two"] {
        let output = plumbline(&["serve", "--db", &db, "--threads", threads]);
        assert_eq!(code(&output), 2, "{threads}: {}", stderr(&output));
        assert!(stderr(&output).contains("--threads"), "{}", stderr(&output));
    }
    assert!(!std::path::Path::new(&db).exists(), "nothing was written");
}

#[test]
fn serve_refuses_a_database_connection_count_out_of_range_before_writing_anything() {
    let dir = TempDir::new("connections");
    let db = dir.path("market.db");
    for connections in ["0", "1025", "eight"] {
        let output = plumbline(&["serve", "--db", &db, "--db-connections", connections]);
        assert_eq!(code(&output), 2, "{connections}: {}", stderr(&output));
        assert!(stderr(&output).contains("--db-connections"), "{}", stderr(&output));
    }
    assert!(!std::path::Path::new(&db).exists(), "nothing was written");
}

#[test]
fn serve_refuses_a_bad_faucet_before_writing_anything() {
    let dir = TempDir::new("faucet");
    let db = dir.path("market.db");
    for amount in ["0", "abc", "1000000000000000000000000000000000001"] {
        let output = plumbline(&["serve", "--db", &db, "--faucet", amount]);
        assert_eq!(code(&output), 2, "{amount}: {}", stderr(&output));
        assert!(stderr(&output).contains("--faucet"), "{}", stderr(&output));
    }
    let key = dir.path("missing-key.json");
    let chain = [
        "serve",
        "--db",
        &db,
        "--faucet",
        "10",
        "--chain-rpc",
        "http://127.0.0.1:1",
        "--market",
        "0x0000000000000000000000000000000000000001",
        "--operator-key",
        &key,
    ];
    let output = plumbline(&chain);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("in chain mode the money is tokens"), "{}", stderr(&output));
    assert!(!std::path::Path::new(&db).exists(), "nothing was written");
}
