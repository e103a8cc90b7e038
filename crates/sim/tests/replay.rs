//! Replays of every real dataset with truth in `../shared/datasets`.

use plumbline_infer::read::{read_labels, read_truth};
use plumbline_sim::replay::{ReplayOptions, replay};
use std::path::PathBuf;

fn datasets() -> Vec<(String, PathBuf)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets");
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{} must hold the shared datasets: {e}", root.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|dir| dir.join("truth.csv").exists() && dir.join("labels.csv").exists())
        .map(|dir| (dir.file_name().unwrap().to_string_lossy().into_owned(), dir))
        .collect();
    found.sort();
    found
}

#[test]
fn no_accurate_worker_is_slashed_on_any_real_dataset() {
    let all = datasets();
    assert!(all.len() >= 10, "expected the shared datasets with truth, found {}", all.len());
    for (name, dir) in all {
        let data = read_labels(std::fs::File::open(dir.join("labels.csv")).unwrap()).unwrap();
        let truth = read_truth(std::fs::File::open(dir.join("truth.csv")).unwrap()).unwrap();
        let report = replay(&data, &truth, &ReplayOptions::default()).unwrap();
        report.settlement.check().unwrap();
        assert_eq!(
            report.accurate.slashed, 0,
            "{name}: a worker with true accuracy ≥ 0.8 and ≥ 20 labels was slashed"
        );
        assert!(
            report.exported_accuracy >= report.ds_accuracy - 0.02,
            "{name}: exported {:.4} against Dawid-Skene {:.4}",
            report.exported_accuracy,
            report.ds_accuracy
        );
        // The gold tasks are a random draw of the tasks with truth, so the export is about as
        // right on them as on the rest: within sampling error of the gold draw's size.
        let (on_gold, elsewhere) = (report.exported_gold_accuracy, report.exported_accuracy);
        let n = report.gold_tasks as f64;
        let spread = 4.0 * (elsewhere * (1.0 - elsewhere) / n).sqrt() + 1.0 / n;
        assert!(
            (on_gold - elsewhere).abs() <= spread,
            "{name}: {on_gold:.4} right on {n} gold tasks, {elsewhere:.4} elsewhere"
        );
        eprintln!(
            "{name}: accurate {:?}, inaccurate {:?}, exported {:.4}, ds {:.4}",
            report.accurate, report.inaccurate, report.exported_accuracy, report.ds_accuracy
        );
    }
}

#[test]
fn bad_options_are_refused() {
    let data = plumbline_infer::Dataset::from_rows([("t1", "w1", "a"), ("t1", "w2", "b")]);
    let truth = [("t1".to_string(), "a".to_string())].into_iter().collect();
    let bad = ReplayOptions { gold_fraction: 1.5, seed: 1 };
    assert!(replay(&data, &truth, &bad).is_err());
    let nothing = std::collections::HashMap::new();
    assert!(replay(&data, &nothing, &ReplayOptions::default()).is_err());
}
