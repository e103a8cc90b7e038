//! Practice and qualification through the real server and the real CLI: the creator imports a
//! practice pool (a bad file is refused here, naming its line), a labeler who practises with
//! the right answers qualifies and joins, one who answers wrongly does not and its join is
//! refused with a hint to practise, and an answers file missing the next task of a draw stops
//! before anything is sent for it.

mod common;

use common::*;
use serde_json::{Value, json};

/// Practice tasks in the pool; the qualification asks every one of them, so each labeler's
/// draw is the whole pool (in its own order) and the score does not depend on the draw.
const POOL: usize = 8;

/// The practice pool: pairs whose answer prefers B on even ids and A on odd ones.
fn practice_file() -> String {
    (0..POOL)
        .map(|i| {
            json!({"id": format!("p{i}"), "prompt": format!("Practice {i}?"),
                   "responses": [format!("Practice A {i}"), format!("Practice B {i}")],
                   "gold": truth_of(i), "explanation": format!("Because of {i}.\nSee the guide.")})
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// An answers file for the whole pool, in canonical order: the answers, or their opposites.
fn answers_file(right: bool, except: Option<&str>) -> String {
    (0..POOL)
        .filter(|i| except != Some(format!("p{i}").as_str()))
        .map(|i| {
            let label = if right { truth_of(i) } else { -truth_of(i) };
            json!({"task": format!("p{i}"), "label": label}).to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn labelers_practise_through_the_cli_and_only_the_qualified_join() {
    let dir = TempDir::new("practice");
    let (operator_key, operator) = new_key(&dir, "operator.json");
    let (creator_key, creator) = new_key(&dir, "creator.json");
    let db = dir.0.join("plumbline.db");
    let server = Server::start(&db, &operator, free_port());
    let env = [("PLUMBLINE_SERVER", server.url.as_str())];
    let start = now();
    server.set_clock(start);
    let mint = |to: &str, amount: &str| {
        run_ok(&["ledger", "mint", "--to", to, "--amount", amount, "--key", &operator_key], &env);
    };
    mint(&creator, "1000000000");

    let spec = pairwise_spec(start, 10, 2, 2) + "\n[qualification]\nitems = 8\nscore_min = 0.3\n";
    let spec = dir.write("spec.toml", &spec);
    let tasks = dir.write("tasks.jsonl", &pairwise_tasks(20, 4));
    let id =
        run_ok(&["experiment", "create", &spec, "--key", &creator_key], &env).trim().to_string();
    run_ok(&["experiment", "import", &id, &tasks, "--key", &creator_key], &env);
    run_ok(&["experiment", "fund", &id, "--key", &creator_key], &env);

    // A bad practice file is refused before it is sent, naming the file and the line.
    let mut lines: Vec<String> = practice_file().lines().map(String::from).collect();
    lines[2] = r#"{"id": "p2", "responses": ["a", "b"], "explanation": "no answer"}"#.into();
    let bad = dir.write("bad-practice.jsonl", &lines.join("\n"));
    let refused = run(&["experiment", "practice", &id, &bad, "--key", &creator_key], &env);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(&format!("{bad}: line 3: a practice task needs its answer in `gold`")),
        "{stderr}"
    );
    assert!(!stderr.contains("the server refused"), "checked here, not sent: {stderr}");
    // A pool smaller than the qualification's items could never open: refused too.
    let small = dir.write("small-practice.jsonl", &lines[..2].join("\n"));
    let refused = run(&["experiment", "practice", &id, &small, "--key", &creator_key], &env);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("2 practice tasks, but the qualification asks 8"), "{stderr}");

    let practice = dir.write("practice.jsonl", &practice_file());
    let imported: Value = serde_json::from_str(&run_ok(
        &["experiment", "practice", &id, &practice, "--key", &creator_key],
        &env,
    ))
    .unwrap();
    assert_eq!(imported, json!({ "practice_tasks": POOL }));
    run_ok(&["experiment", "open", &id, "--key", &creator_key], &env);

    let labeler = |name: &str| {
        let (key, address) = new_key(&dir, &format!("{name}.json"));
        mint(&address, "5000000");
        key
    };
    let (careful, careless, forgetful) =
        (labeler("careful"), labeler("careless"), labeler("forgetful"));

    // Before practising: the standing and the first task, and a join refused with the hint.
    let shown = run_ok(&["labeler", "practice", &id, "--key", &careful], &env);
    assert!(
        shown.starts_with("practice: 0 of 8 answered, score none; 0.30 is required to join"),
        "{shown}"
    );
    assert!(shown.contains("\nnext task p"), "{shown}");
    assert!(shown.contains("\n  A: Practice ") && shown.contains("\n  B: Practice "), "{shown}");
    let standing: Value = serde_json::from_str(&run_ok(
        &["labeler", "practice", &id, "--json", "--key", &careful],
        &env,
    ))
    .unwrap();
    assert_eq!(
        (standing["answered"].as_u64(), standing["required"].as_bool()),
        (Some(0), Some(true))
    );
    let first = standing["task"]["id"].as_str().unwrap().to_string();
    let join = |key: &str| run(&["labeler", "join", &id, "--key", key], &env);
    let refused = join(&careful);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("(403 not_qualified)") && stderr.contains("0 of 8"), "{stderr}");
    assert!(
        stderr.contains(&format!("hint: this experiment admits only labelers who pass its practice: practise first with `plumbline labeler practice {id} --answers FILE`")),
        "{stderr}"
    );

    // An answers file without the draw's next task stops there, naming it, and sends nothing.
    let partial = dir.write("partial.jsonl", &answers_file(true, Some(&first)));
    let stopped =
        run(&["labeler", "practice", &id, "--answers", &partial, "--key", &careful], &env);
    assert_eq!(stopped.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&stopped.stderr);
    assert!(stderr.contains(&format!("has no answer for practice task \"{first}\"")), "{stderr}");
    let standing: Value = serde_json::from_str(&run_ok(
        &["labeler", "practice", &id, "--json", "--key", &careful],
        &env,
    ))
    .unwrap();
    assert_eq!(
        (standing["answered"].as_u64(), standing["task"]["id"].as_str()),
        (Some(0), Some(first.as_str()))
    );

    // Right answers (canonical order in the file, shown order on the wire): every task right,
    // each explained, qualified; the join goes through.
    let right = dir.write("right.jsonl", &answers_file(true, None));
    let out = run_ok(&["labeler", "practice", &id, "--answers", &right, "--key", &careful], &env);
    assert_eq!(out.matches(": right\n  Because of ").count(), POOL, "{out}");
    assert_eq!(out.matches("\n  See the guide.").count(), POOL, "{out}");
    let last = out.lines().last().unwrap();
    assert!(last.starts_with("practice: 8 of 8 answered, score 0.57"), "{out}");
    assert!(last.ends_with(": qualified"), "{out}");
    let batch: Value =
        serde_json::from_str(&run_ok(&["labeler", "join", &id, "--key", &careful], &env)).unwrap();
    assert!(batch["batch_id"].is_u64(), "{batch}");
    // Run again, there is nothing left to answer: the same standing, still exit 0.
    let again = run_ok(&["labeler", "practice", &id, "--answers", &right, "--key", &careful], &env);
    assert_eq!(again.trim(), last, "{again}");

    // Wrong answers: every task wrong, with its expected answer (canonical); not qualified,
    // exit 1; the join is refused with the hint.
    let wrong = dir.write("wrong.jsonl", &answers_file(false, None));
    let failed =
        run(&["labeler", "practice", &id, "--answers", &wrong, "--json", "--key", &careless], &env);
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("not qualified: practice score -0.57 is below the 0.30"), "{stderr}");
    let report: Value = serde_json::from_slice(&failed.stdout).unwrap();
    let answered = report["answered"].as_array().unwrap();
    assert_eq!(answered.len(), POOL);
    for entry in answered {
        let i: usize = entry["task"].as_str().unwrap()[1..].parse().unwrap();
        assert_eq!(entry["verdict"], "wrong", "{entry}");
        assert_eq!(entry["answer"], truth_of(i), "the answer in canonical order: {entry}");
        assert_eq!(entry["label"], -truth_of(i), "{entry}");
        assert_eq!(entry["explanation"], format!("Because of {i}.\nSee the guide."));
    }
    assert_eq!(report["progress"]["qualified"], false, "{report}");
    let refused = join(&careless);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("(403 not_qualified)") && stderr.contains("below the 0.30"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("hint: this experiment admits only labelers who pass its practice: practise first with `plumbline labeler practice {id} --answers FILE`")), "{stderr}");
    let balance: Value =
        serde_json::from_str(&run_ok(&["ledger", "balance", "--key", &careless], &env)).unwrap();
    assert_eq!(balance["locked"], "0", "a refused join locks nothing: {balance}");

    // An answers file that does not parse is named by line before anything is sent.
    let garbled = dir.write(
        "garbled.jsonl",
        "{\"task\": \"p0\", \"label\": 2}\n{\"task\": \"p1\", \"label\": \"B\"}",
    );
    let refused =
        run(&["labeler", "practice", &id, "--answers", &garbled, "--key", &forgetful], &env);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains(&format!("{garbled}: line 2: ")), "{stderr}");
}
