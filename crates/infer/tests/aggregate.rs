//! The `plumbline aggregate` face: method names, CSV in, rows and metrics out.

use plumbline_infer::method::{Rows, format_number};
use plumbline_infer::{Error, InputKind, Method, Repeats, aggregate};

const LABELS: &str = "task,worker,label
t1,a,cat
t1,b,cat
t1,c,dog
t2,a,dog
t2,b,dog
t2,c,dog
t3,a,cat
t3,c,dog
";

fn run(
    method: Method,
    labels: &str,
    truth: Option<&str>,
) -> Result<plumbline_infer::Aggregate, Error> {
    run_keeping(method, Repeats::Last, labels, truth)
}

fn run_keeping(
    method: Method,
    repeats: Repeats,
    labels: &str,
    truth: Option<&str>,
) -> Result<plumbline_infer::Aggregate, Error> {
    let mut labels = labels.as_bytes();
    match truth {
        Some(t) => {
            let mut t = t.as_bytes();
            aggregate(method, repeats, &mut labels, Some(&mut t))
        }
        None => aggregate(method, repeats, &mut labels, None),
    }
}

#[test]
fn repeated_labels_count_once_or_every_time_as_asked() {
    // `a` says dog twice on t1, b says cat. Kept last, one vote each (a tie, which the
    // smallest class name wins); kept all, dog has two votes to one.
    let labels = "task,worker,label\nt1,a,dog\nt1,b,cat\nt1,a,dog\n";
    let label = |repeats| match run_keeping(Method::Mv, repeats, labels, None).unwrap().rows {
        Rows::Labels(rows) => rows[0].label.clone(),
        Rows::Scores(_) => unreachable!("a categorical method"),
    };
    assert_eq!(label(Repeats::Last), "cat");
    assert_eq!(label(Repeats::All), "dog");
}

#[test]
fn majority_vote_prints_task_label_confidence() {
    let out = run(Method::Mv, LABELS, Some("task,truth\nt1,cat\nt2,dog\nt3,dog\nt9,cat\n"))
        .expect("valid input");
    let mut csv = Vec::new();
    out.write_csv(&mut csv).expect("writes to memory");
    // t3 is a tie between cat and dog; the smallest class name wins.
    assert_eq!(
        String::from_utf8(csv).expect("UTF-8"),
        "task,label,confidence\nt1,cat,0.666667\nt2,dog,1\nt3,cat,0.5\n"
    );
    assert_eq!(out.header(), "task,label,confidence");
    let metrics = out.metrics.expect("truth given");
    // t9 is not in the labels, so three tasks are scored, two of them right.
    assert_eq!(metrics.tasks, 3);
    assert_eq!(metrics.accuracy, Some(2.0 / 3.0));
    assert_eq!(metrics.to_string(), "tasks=3 accuracy=0.666667 f1_macro=0.666667");
    assert_eq!(out.workers.len(), 3);
}

#[test]
fn every_method_runs_on_its_input_kind() {
    let numeric = "task,worker,label\nt1,a,1\nt1,b,2\nt2,a,4\nt2,b,5\nt2,c,9\n";
    let pairwise = "worker,left,right,label\na,x,y,x\nb,x,y,x\na,y,z,y\nb,z,x,x\n";
    for method in Method::ALL {
        let input = match method.input() {
            InputKind::Categorical => LABELS,
            InputKind::Numeric => numeric,
            InputKind::Pairwise => pairwise,
        };
        let out = run(method, input, None).unwrap_or_else(|e| panic!("{method}: {e}"));
        match (&out.rows, method.input()) {
            (Rows::Labels(rows), InputKind::Categorical | InputKind::Numeric) => {
                assert!(!rows.is_empty());
                assert!(rows.iter().all(|r| (0.0..=1.0).contains(&r.confidence)), "{method}");
            }
            (Rows::Scores(rows), InputKind::Pairwise) => {
                let total: f64 = rows.iter().map(|r| r.score).sum();
                assert!((total - 1.0).abs() < 1e-9, "{method}");
                assert!(rows[0].score > rows[2].score, "{method}: x beats z");
            }
            _ => panic!("{method}: wrong kind of rows"),
        }
        assert!(out.workers.iter().all(|w| (0.0..=1.0).contains(&w.skill)), "{method}");
        assert!(!method.description().is_empty());
    }
}

#[test]
fn numeric_methods_report_errors_against_truth() {
    let labels = "task,worker,label\nt1,a,1\nt1,b,3\nt2,a,4\nt2,b,4\n";
    let out = run(Method::Mean, labels, Some("task,truth\nt1,1\nt2,5\n")).expect("valid");
    let Rows::Labels(rows) = &out.rows else { panic!("labels expected") };
    assert_eq!(rows[0].label, "2");
    let m = out.metrics.expect("truth given");
    assert_eq!(m.mae, Some(1.0));
    assert_eq!(m.rmse, Some(1.0));
    assert_eq!(m.accuracy, None);
    let bad = run(Method::Median, labels, Some("task,truth\nt1,1\nt2,five\n"));
    assert_eq!(
        bad.expect_err("not a number").to_string(),
        "line 3: `truth` must be a finite number, found \"five\""
    );
}

#[test]
fn pairwise_methods_refuse_a_truth_file() {
    let pairwise = "worker,left,right,label\na,x,y,x\n";
    let err = run(Method::Bt, pairwise, Some("task,truth\nx,1\n")).expect_err("no truth");
    assert!(matches!(err, Error::TruthNotSupported { method: "bt" }));
}

#[test]
fn bad_input_is_reported_with_its_line() {
    let err = run(Method::Ds, "task,worker\nt,w\n", None).expect_err("no label column");
    assert_eq!(
        err.to_string(),
        "line 1: the header has no column `label` (required columns: task,worker,label)"
    );
    let err = run(Method::Wmean, "task,worker,label\nt,w,1\nt,v,lots\n", None)
        .expect_err("non-numeric label");
    assert_eq!(err.to_string(), "line 3: `label` must be a finite number, found \"lots\"");
    let err = run(Method::NoisyBt, "worker,left,right,label\nw,a,a,a\n", None)
        .expect_err("self comparison");
    assert_eq!(err.to_string(), "line 2: the item \"a\" is compared with itself");
}

#[test]
fn json_output_has_rows_workers_and_metrics() {
    let out = run(Method::Ds, LABELS, Some("task,truth\nt1,cat\n")).expect("valid input");
    let json = serde_json::to_value(&out).expect("serialisable");
    assert_eq!(json["method"], "ds");
    assert_eq!(json["rows"][0]["task"], "t1");
    assert!(json["rows"][0]["confidence"].is_f64());
    assert_eq!(json["workers"][0]["worker"], "a");
    assert_eq!(json["metrics"]["tasks"], 1);
    assert!(json["metrics"].get("mae").is_none());
}

#[test]
fn scores_print_with_six_significant_digits() {
    let out = run(Method::Bt, "worker,left,right,label\na,x,y,x\nb,x,y,y\n", None).expect("valid");
    let mut csv = Vec::new();
    out.write_csv(&mut csv).expect("writes to memory");
    assert_eq!(String::from_utf8(csv).expect("UTF-8"), "item,score\nx,0.5\ny,0.5\n");
    assert_eq!(format_number(1.0 / 3.0), "0.333333");
}
