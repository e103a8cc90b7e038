//! Adaptive rounds end to end in memory: later rounds ask only about the tasks whose revealed
//! labels are not yet sure, the whole experiment settles once, and its record verifies.

use plumbline_core::duration::Duration;
use plumbline_core::fixed::Ppm;
use plumbline_core::record::{audit, replay};
use plumbline_core::rounds::{Rounds, next_round_tasks};
use plumbline_core::settle::Tier;
use plumbline_core::synthetic::{self, Behavior, Params};
use std::collections::BTreeMap;

fn rounds_spec(count: u32) -> plumbline_core::spec::ExperimentSpec {
    let mut spec = synthetic::binary_spec(20, 3, 4);
    spec.rounds = Some(Rounds {
        rule: Default::default(),
        count,
        labels_max: 7,
        confidence: Ppm::new(950_000).unwrap(),
        commit_within: Duration::from_secs(3_600),
        reveal_within: Duration::from_secs(3_600),
    });
    spec.limits.batches_per_labeler_max = count;
    spec.validate().unwrap();
    spec
}

/// 30 first-round places (10 blocks of 20 tasks, 3 labelers each) and 90 labelers of skill 0.8
/// to 0.9: the rest join in later rounds.
fn run(seed: u64, count: u32) -> synthetic::Run {
    let labelers = (0..90).map(|i| Behavior::Accurate(800_000 + (i % 3) * 50_000)).collect();
    let params = Params {
        spec: rounds_spec(count),
        regular_tasks: 200,
        gold_tasks: 40,
        positive_rate: 500_000,
        labelers,
        reputations: BTreeMap::new(),
    };
    synthetic::run(&params, seed).expect("the run follows the protocol")
}

#[test]
fn later_rounds_ask_only_about_contested_tasks_and_the_record_verifies() {
    for seed in [1, 2, 3] {
        let run = run(seed, 3);
        let record = &run.record;
        audit(record).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let experiment = replay(record).unwrap();
        let batches = experiment.batches();
        assert_eq!(record.batches(), batches, "seed {seed}: the export's batches are the log's");
        let in_round = |r: u32| batches.iter().filter(move |b| b.round == r);
        assert_eq!(in_round(0).count(), 30, "seed {seed}: every first-round block to three");
        assert!(in_round(1).count() > 0, "seed {seed}: the second round asks for more");

        // The second round's regular tasks are exactly those the first round left unsure.
        let spec = record.spec.clone();
        let rule = spec.rounds.as_ref().unwrap().rule(spec.overlap);
        let first: Vec<_> = experiment
            .outcomes()
            .into_iter()
            .filter(|o| batches[o.batch_id as usize].round == 0)
            .collect();
        let revealed: Vec<_> =
            first.iter().map(|o| (o.labeler, o.labels.as_deref().unwrap())).collect();
        let unsure = next_round_tasks(&record.tasks, 2, &rule, &revealed);
        let mut asked: Vec<u32> = in_round(1)
            .flat_map(|b| b.tasks.iter().copied())
            .filter(|&t| !record.tasks[t as usize].is_gold())
            .collect();
        asked.sort_unstable();
        assert_eq!(asked, unsure, "seed {seed}");
        assert!(unsure.len() < 200, "seed {seed}: unanimous tasks are not asked again");

        // Nobody sees a task twice, gold included.
        for labeler in run.addresses.iter() {
            let mut seen: Vec<u32> = batches
                .iter()
                .filter(|b| b.labeler == *labeler)
                .flat_map(|b| b.tasks.iter().copied())
                .collect();
            let all = seen.len();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), all, "seed {seed}: {labeler} saw a task twice");
        }

        // One settlement covers every round; careful labelers are paid in every round.
        let settlement = &record.settlement;
        settlement.check().unwrap();
        let later: Vec<_> = in_round(1).chain(in_round(2)).map(|b| b.labeler).collect();
        let slashed = settlement.labelers.iter().filter(|l| l.tier == Tier::Slashed).count();
        assert_eq!(slashed, 0, "seed {seed}: careful labelers are never slashed");
        assert!(
            settlement
                .labelers
                .iter()
                .any(|l| later.contains(&l.labeler) && l.tier == Tier::Rewarded),
            "seed {seed}: a later round's labeler is paid"
        );
    }
}

#[test]
fn an_experiment_of_one_round_runs_as_before() {
    let mut spec = synthetic::binary_spec(20, 3, 4);
    spec.limits.batches_per_labeler_max = 3;
    let params = Params {
        spec,
        regular_tasks: 200,
        gold_tasks: 40,
        positive_rate: 500_000,
        labelers: vec![Behavior::Accurate(850_000); 90],
        reputations: BTreeMap::new(),
    };
    let run = synthetic::run(&params, 1).unwrap();
    audit(&run.record).unwrap();
    let experiment = replay(&run.record).unwrap();
    assert_eq!(experiment.batches().len(), 30);
    assert!(experiment.batches().iter().all(|b| b.round == 0));
}

#[test]
fn a_tampered_first_round_changes_the_later_rounds_and_fails_the_audit() {
    let run = run(4, 2);
    let mut record = run.record.clone();
    // Drop one first-round reveal: the second round would have asked about other tasks.
    let experiment = replay(&record).unwrap();
    let first_round = record
        .reveals
        .iter()
        .position(|r| experiment.batches()[r.batch_id as usize].round == 0)
        .unwrap();
    record.reveals.remove(first_round);
    assert!(audit(&record).is_err());
}

/// Careful labelers who are always right, `silent` of them committing without revealing: two
/// or three agreeing labels make every task sure, so no later round asks anything.
fn unanimous_run(silent: usize) -> synthetic::Run {
    let mut labelers = vec![Behavior::Silent; silent];
    labelers.resize(90, Behavior::Accurate(1_000_000));
    let params = Params {
        spec: rounds_spec(3),
        regular_tasks: 200,
        gold_tasks: 40,
        positive_rate: 500_000,
        labelers,
        reputations: BTreeMap::new(),
    };
    synthetic::run(&params, 7).expect("the run follows the protocol")
}

#[test]
fn rounds_that_would_ask_nothing_end_the_experiment_once_no_label_can_come() {
    let run = unanimous_run(0);
    let experiment = replay(&run.record).unwrap();
    assert!(experiment.batches().iter().all(|b| b.round == 0), "nothing is asked again");
    let windows = run.record.spec.round_windows();
    let (commit, reveal) = (windows[0].commit_deadline, windows[0].reveal_deadline);
    assert!(!experiment.rounds_over(commit - 1), "the first round takes commits");
    assert!(experiment.rounds_over(commit + 1), "every commit revealed, nothing left to ask");
    assert!(experiment.rounds_over(reveal + 1), "the second round has no block to join");

    // Settled as the first round's reveals end, the record verifies and pays as at the end.
    let record = replay(&run.record).unwrap().settle(&BTreeMap::new(), commit + 1).unwrap();
    assert_eq!(record.settled_at, commit + 1);
    audit(&record).unwrap();
    assert_eq!(record.settlement, run.record.settlement);
}

#[test]
fn a_batch_still_to_reveal_keeps_the_experiment_open_until_its_round_ends() {
    let run = unanimous_run(1);
    let experiment = replay(&run.record).unwrap();
    let windows = run.record.spec.round_windows();
    let (commit, reveal) = (windows[0].commit_deadline, windows[0].reveal_deadline);
    assert!(experiment.batches().iter().all(|b| b.round == 0), "nothing is asked again");
    assert!(!experiment.rounds_over(commit + 1), "a committed batch may still be revealed");
    assert!(experiment.rounds_over(reveal), "its round is over, and the next asks nothing");
    audit(&replay(&run.record).unwrap().settle(&BTreeMap::new(), reveal).unwrap()).unwrap();
}

#[test]
fn an_experiment_whose_later_rounds_ask_more_does_not_end_early() {
    let run = run(5, 3);
    let windows = run.record.spec.round_windows();
    // The record's later rounds began after the first round's reveals: settling then refuses.
    let at = windows[0].commit_deadline + 1;
    assert!(!replay(&run.record).unwrap().rounds_over(at));
    let refused = replay(&run.record).unwrap().settle(&BTreeMap::new(), at);
    assert!(refused.unwrap_err().to_string().contains("later round"), "settling before them");
    let mut early = run.record.clone();
    early.settled_at = at;
    assert!(audit(&early).is_err(), "a record settled before its later rounds fails the audit");
}
