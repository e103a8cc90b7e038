//! The real server and the real CLI through a whole experiment: 20 programmatic labelers (three
//! of whom leave their reveals with the operator and never come back), a passing audit of the
//! public record, and a TRL export.

mod common;

use common::*;

/// Labelers who leave their reveals with the operator.
const LEAVING: usize = 3;

#[test]
fn twenty_labelers_run_a_whole_experiment_through_the_cli() {
    let dir = TempDir::new("e2e");
    let (operator_key, operator) = new_key(&dir, "operator.json");
    let (creator_key, creator) = new_key(&dir, "creator.json");
    let db = dir.0.join("plumbline.db");
    let sealing = ["--sealing-key", operator_key.as_str()];
    let server = Server::start_with(
        &db.to_string_lossy(),
        &db.with_extension("log"),
        &operator,
        free_port(),
        &sealing,
    );
    let url = server.url.clone();
    let env = [("PLUMBLINE_SERVER", url.as_str())];

    let start = now();
    server.set_clock(start);
    run_ok(
        &["ledger", "mint", "--to", &creator, "--amount", "1000000000", "--key", &operator_key],
        &env,
    );
    let spec = dir.write("spec.toml", &pairwise_spec(start, 10, 5, 2));
    let tasks = dir.write("tasks.jsonl", &pairwise_tasks(40, 6));
    let id =
        run_ok(&["experiment", "create", &spec, "--key", &creator_key], &env).trim().to_string();
    run_ok(&["experiment", "import", &id, &tasks, "--key", &creator_key], &env);
    run_ok(&["experiment", "fund", &id, "--key", &creator_key], &env);
    run_ok(&["experiment", "open", &id, "--key", &creator_key], &env);

    // Twenty labelers: sixteen careful ones and four who always pick the left-shown answer.
    let mut labelers = Vec::new();
    for n in 0..20 {
        let (key, address) = new_key(&dir, &format!("labeler{n}.json"));
        run_ok(
            &["ledger", "mint", "--to", &address, "--amount", "5000000", "--key", &operator_key],
            &env,
        );
        let batch: serde_json::Value =
            serde_json::from_str(&run_ok(&["labeler", "join", &id, "--key", &key], &env)).unwrap();
        let batch_id = batch["batch_id"].as_u64().unwrap().to_string();
        let lines: Vec<String> = batch["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|task| {
                // A batch names its tasks by position; the labeler reads what they show.
                let position = task["task"].as_u64().unwrap();
                let index = question_number(task["prompt"].as_str().unwrap());
                let label = if n < 16 {
                    truth_of(index)
                } else {
                    // "Always left": the shown A, mapped back to canonical order.
                    let order = task["response_order"].as_array().unwrap();
                    if order[0] == 0 { -2 } else { 2 }
                };
                format!(r#"{{"id": {position}, "label": {label}}}"#)
            })
            .collect();
        let labels = dir.write(&format!("labels{n}.jsonl"), &lines.join("\n"));
        let mut commit = vec![
            "labeler", "commit", &id, "--batch", &batch_id, "--labels", &labels, "--key", &key,
        ];
        if n < LEAVING {
            commit.push("--leave-reveal");
        }
        run_ok(&commit, &env);
        labelers.push((key, address, batch_id, labels));
    }
    let balance: serde_json::Value =
        serde_json::from_str(&run_ok(&["ledger", "balance", &labelers[0].1], &env)).unwrap();
    assert_eq!(balance["locked"], "1000000", "the stake is locked: {balance}");

    server.set_clock(start + 3_601);
    // The server reveals for those who left their reveals with it, at its next tick.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let stats = server.get(&format!("/experiments/{id}/stats"));
        if stats["batches"]["revealed"] == LEAVING {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no sealed reveal revealed: {stats}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    for (key, _, batch_id, labels) in &labelers[LEAVING..] {
        run_ok(
            &["labeler", "reveal", &id, "--batch", batch_id, "--labels", labels, "--key", key],
            &env,
        );
    }
    server.set_clock(start + 7_201);
    run_ok(&["experiment", "settle", &id], &env);
    let status: serde_json::Value =
        serde_json::from_str(&run_ok(&["experiment", "status", &id], &env)).unwrap();
    assert_eq!(status["experiment"]["phase"], "settled", "{status}");

    let record = dir.path("record.json");
    run_ok(&["experiment", "record", &id, "--out", &record], &env);
    let verified = run_ok(&["audit", &record], &[]);
    assert!(verified.starts_with("verified:"), "{verified}");
    let published: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    let results = published["settlement"]["labelers"].as_array().unwrap();
    assert_eq!(results.len(), 20);
    let result_of = |address: &str| {
        results
            .iter()
            .find(|l| l["labeler"].as_str().unwrap().eq_ignore_ascii_case(address))
            .unwrap()
    };
    // Careful work is never slashed. At 12 items a labeler's tier is mostly luck: always-left
    // labels pass the reward test at its false reward rate, and identical careful labels are
    // copies, not each other's peers, so a careful labeler's only peer may be an always-left
    // one (and with its peer part below zero it owes the chance fee). The simulator measures
    // those rates at realistic sizes.
    for (_, address, _, _) in &labelers[..16] {
        assert_ne!(result_of(address)["tier"], "slashed", "{}", result_of(address));
    }

    let trl = run_ok(&["experiment", "export", &id, "--format", "trl"], &env);
    let rows: Vec<serde_json::Value> =
        trl.lines().map(|l| serde_json::from_str(l).expect("TRL rows are JSON lines")).collect();
    assert!(rows.len() >= 40, "{} TRL rows", rows.len());
    // Always-left labels are random in canonical order, and the server draws the assignment
    // seed, so a block may hold one careful labeler and four of them: the consensus is checked
    // in aggregate, not row by row.
    let mut right = 0;
    for row in &rows {
        for field in ["prompt", "chosen", "rejected"] {
            assert!(row[field].is_string(), "{field} in {row}");
        }
        let index = question_number(row["prompt"].as_str().unwrap());
        let expected = if truth_of(index) > 0 { "Answer B" } else { "Answer A" };
        right += usize::from(row["chosen"].as_str().unwrap().starts_with(expected));
    }
    assert!(right * 10 >= rows.len() * 8, "{right} of {} TRL rows prefer the truth", rows.len());
    // Surer pairs only, without gold; every pair; and the TRL options refused for other formats.
    let export_lines = |extra: &[&str]| {
        let mut args = vec!["experiment", "export", &id, "--format", "trl"];
        args.extend_from_slice(extra);
        run_ok(&args, &env).lines().count()
    };
    assert!(export_lines(&["--min-confidence", "1", "--no-gold"]) <= rows.len());
    assert!(export_lines(&["--min-confidence", "0.5"]) >= rows.len());
    // Strengths here run to 2: a margin above the strongest leaves no pair.
    assert_eq!(export_lines(&["--min-margin", "2.5"]), 0);
    let refused =
        run(&["experiment", "export", &id, "--format", "jsonl", "--min-margin", "1"], &env);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--format trl"));
    let refused = run(&["experiment", "export", &id, "--format", "csv", "--no-gold"], &env);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--format trl"));
    // No cohorts here: the server names the cohort it does not know, spaces and all.
    let refused = run(&["experiment", "export", &id, "--cohort", "north & south"], &env);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("no cohort \"north & south\""), "{stderr}");
    let health = server.get("/health");
    assert_eq!(health["ledger_balanced"], true, "{health}");
    // The full check on demand, straight on the database the server is using.
    let checked = run(&["ledger", "check", "--db", &db.to_string_lossy(), "--json"], &env);
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));
    let report: serde_json::Value = serde_json::from_slice(&checked.stdout).unwrap();
    assert_eq!(report["balanced"], true, "{report}");
    assert!(
        report["journal_entries"].as_u64().unwrap() >= health["journal_entries"].as_u64().unwrap()
    );
    let missing = dir.0.join("nothing-here.db");
    let refused = run(&["ledger", "check", "--db", &missing.to_string_lossy()], &env);
    assert_eq!(refused.status.code(), Some(2));
    assert!(!missing.exists(), "a check must not create the database");
}

#[test]
fn sign_in_messages_name_the_public_url_behind_a_proxy() {
    let dir = TempDir::new("public-url");
    let (_, operator) = new_key(&dir, "operator.json");
    let db = dir.0.join("plumbline.db");
    let log = dir.0.join("serve.log");
    let public = ["--public-url", "https://labels.example.org/"];
    let server = Server::start_with(&db.to_string_lossy(), &log, &operator, free_port(), &public);
    let (status, challenge) =
        server.post("/auth/challenge", &serde_json::json!({ "address": operator }));
    assert_eq!(status, 200, "{challenge}");
    let message = challenge["message"].as_str().unwrap();
    assert!(message.starts_with("labels.example.org wants you to sign in"), "{message}");
    assert!(message.contains("\nURI: https://labels.example.org\n"), "{message}");
}
