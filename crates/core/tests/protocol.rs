//! End-to-end protocol runs in memory: real keys, signatures, commits, reveals, settlement,
//! and an audit of the public record, including records that were tampered with.

use plumbline_core::assign::Batch;
use plumbline_core::client::{LabelerKey, RevealedLabel};
use plumbline_core::eip712::EMBEDDED_CHAIN_ID;
use plumbline_core::experiment::{Accepted, Experiment};
use plumbline_core::fixed::Ppm;
use plumbline_core::label::Label;
use plumbline_core::lifecycle::Phase;
use plumbline_core::limits::PEER_WEIGHT_MIN_PPM;
use plumbline_core::record::{PublicRecord, audit};
use plumbline_core::reputation::Reputation;
use plumbline_core::settle::{LabelerResult, Tier};
use plumbline_core::spec::{ExperimentSpec, SpecFormat};
use plumbline_core::synthetic::{self, Behavior, GoldAnswers, Params};
use plumbline_core::task::Task;
use plumbline_core::{Address, B256, Error};
use std::collections::BTreeMap;

fn mixed_run(seed: u64) -> synthetic::Run {
    let mut labelers = vec![Behavior::Accurate(950_000); 12];
    labelers.extend([Behavior::Accurate(50_000); 3]);
    labelers.extend([Behavior::Constant(1); 3]);
    labelers.extend([Behavior::Random; 3]);
    labelers.extend([Behavior::Silent; 3]);
    let params = Params {
        spec: synthetic::binary_spec(80, 4, 30),
        regular_tasks: 480,
        gold_tasks: 60,
        positive_rate: 500_000,
        labelers,
        // The flippers bring a record of earlier evidence against them (e^4): slashing adds up
        // the career's evidence, so a known bad actor is caught without hundreds of new items.
        reputations: (12..15).map(|i| (i, flipper_record())).collect(),
    };
    synthetic::run(&params, seed).expect("the run follows the protocol")
}

fn flipper_record() -> Reputation {
    let mut record = Reputation { experiments: 2, batches: 2, ..Reputation::default() };
    record.tally.gold_sum = -400_000 * 200;
    record.tally.gold_n = 200;
    record.slash_evidence = 4_000_000;
    record
}

fn tier_of(run: &synthetic::Run, index: usize) -> Tier {
    result_of(run, index).tier
}

fn result_of(run: &synthetic::Run, index: usize) -> &LabelerResult {
    let address = run.addresses[index];
    run.record.settlement.labelers.iter().find(|l| l.labeler == address).expect("settled")
}

#[test]
fn a_mixed_crowd_settles_as_designed_and_the_record_verifies() {
    let run = mixed_run(7);
    let settlement = &run.record.settlement;
    settlement.check().unwrap();
    // Peer scores depend on who shares a block: an accurate labeler whose peers are mostly
    // flippers can land even, but never slashed, and most are rewarded.
    let rewarded = (0..12).filter(|&i| tier_of(&run, i) == Tier::Rewarded).count();
    assert!(rewarded >= 10, "{rewarded} of 12 accurate labelers rewarded");
    for i in 0..12 {
        assert_ne!(tier_of(&run, i), Tier::Slashed, "accurate labeler {i}");
    }
    for i in 12..15 {
        assert_eq!(tier_of(&run, i), Tier::Slashed, "flipper {i} with a bad record");
    }
    for i in 15..21 {
        assert_eq!(tier_of(&run, i), Tier::Even, "constant or random labeler {i}");
    }
    for i in 21..24 {
        let address = run.addresses[i];
        let silent = settlement.labelers.iter().find(|l| l.labeler == address).unwrap();
        assert_eq!(silent.revealed_batches, 0);
        assert_eq!(silent.non_reveal_penalty, silent.stake, "100% of an unrevealed stake");
    }
    let report = audit(&run.record).expect("the record verifies");
    assert_eq!(report.labelers, 24);
    // The record survives a JSON round trip and still verifies.
    let again = PublicRecord::from_json(&run.record.to_json()).unwrap();
    assert_eq!(again, run.record);
    audit(&again).unwrap();
}

/// 12 careful labelers (90% right) and 4 who know every gold answer but answer a constant on
/// the regular tasks.
fn sniper_run(seed: u64, gold: GoldAnswers, peer_weight: u32) -> synthetic::Run {
    let mut labelers = vec![Behavior::Accurate(900_000); 12];
    labelers.extend([Behavior::GoldSniper(1); 4]);
    let mut spec = synthetic::binary_spec(150, 4, 20);
    spec.peer_weight = Ppm::new(peer_weight).unwrap();
    let params = Params {
        spec,
        regular_tasks: 600,
        gold_tasks: 40,
        positive_rate: 500_000,
        labelers,
        reputations: BTreeMap::new(),
    };
    synthetic::run_with_gold(&params, seed, gold).expect("the run follows the protocol")
}

/// How many of labeler `i`'s block mates are careful (indices below 12).
fn careful_mates(run: &synthetic::Run, i: usize) -> usize {
    let batches = run.record.batches();
    let block = batches.iter().find(|b| b.labeler == run.addresses[i]).expect("a batch").block;
    batches
        .iter()
        .filter(|b| b.block == block && b.labeler != run.addresses[i])
        .filter(|b| run.addresses[..12].contains(&b.labeler))
        .count()
}

#[test]
fn knowing_every_gold_answer_does_not_pay_without_informative_regular_labels() {
    for seed in 0..5 {
        let run = sniper_run(seed, GoldAnswers::True, 500_000);
        // A careful labeler with careful block mates is paid; one whose block mates are mostly
        // snipers has too little peer evidence to show.
        for i in 0..12 {
            if careful_mates(&run, i) >= 2 {
                assert_eq!(tier_of(&run, i), Tier::Rewarded, "careful labeler {i}, seed {seed}");
            }
        }
        for i in 12..16 {
            assert_eq!(tier_of(&run, i), Tier::Even, "gold sniper {i}, seed {seed}");
        }
        assert!(run.record.settlement.gold_dropped.is_empty());
    }
}

#[test]
fn inverted_gold_is_dropped_slashes_nobody_and_returns_no_stake_to_the_creator() {
    for seed in 0..5 {
        // The experimenter leans on its gold as hard as the spec allows.
        let run = sniper_run(seed, GoldAnswers::Inverted, PEER_WEIGHT_MIN_PPM);
        let settlement = &run.record.settlement;
        assert_eq!(settlement.gold_dropped.len(), 40, "seed {seed}: the gold set is dropped");
        for l in &settlement.labelers {
            assert_ne!(l.tier, Tier::Slashed, "seed {seed}: {l:?}");
        }
        for i in 0..12 {
            if careful_mates(&run, i) >= 2 {
                assert_eq!(tier_of(&run, i), Tier::Rewarded, "careful labeler {i}, seed {seed}");
            }
        }
        // Careful labelers keep their whole stake; what the snipers lose to the chance fee for
        // their uninformative regular labels goes to the pot, not to the creator.
        for i in 0..12 {
            let l = result_of(&run, i);
            assert_eq!(l.stake_returned, l.stake, "careful labeler {i}, seed {seed}");
        }
        let t = &settlement.totals;
        assert!(t.refund <= t.reward_pool, "the creator gets back at most its own pool");
        audit(&run.record).unwrap();
    }
}

#[test]
fn audit_names_the_first_mismatch() {
    let run = mixed_run(11);
    let mut paid_more = run.record.clone();
    paid_more.settlement.labelers[0].reward += 1;
    paid_more.settlement.labelers[0].payout += 1;
    paid_more.settlement.totals.rewards += 1;
    paid_more.settlement.totals.refund -= 1;
    let e = audit(&paid_more).unwrap_err().to_string();
    assert!(e.starts_with("settlement.labelers[0]."), "{e}");

    let mut unbalanced = run.record.clone();
    unbalanced.settlement.totals.refund += 1;
    let e = audit(&unbalanced).unwrap_err().to_string();
    assert!(e.contains("not conserved"), "{e}");

    let mut relabeled = run.record.clone();
    let label = &mut relabeled.reveals[0].reveal.labels[0].label;
    *label = Label::Int(1 - label.as_int().unwrap());
    let e = audit(&relabeled).unwrap_err().to_string();
    assert!(e.contains("reveals[0]") && e.contains("do not match the commitment"), "{e}");

    let mut reseeded = run.record.clone();
    reseeded.seed = B256::repeat_byte(1);
    assert!(audit(&reseeded).unwrap_err().to_string().contains("seed"));

    // Gold changed after the labels were seen: the tasks no longer hash to the commitment
    // published at open, even with a settlement recomputed to match.
    let mut regolded = run.record.clone();
    let gold = regolded.tasks.iter_mut().find(|t| t.gold.is_some()).expect("a gold task");
    gold.gold = gold.gold.as_ref().map(|g| Label::Int(1 - g.as_int().unwrap()));
    let e = audit(&regolded).unwrap_err().to_string();
    assert!(e.contains("tasks_hash"), "{e}");
    let mut retasked = run.record.clone();
    retasked.tasks[0].prompt = format!("{} (edited)", retasked.tasks[0].prompt.to_text()).into();
    assert!(audit(&retasked).unwrap_err().to_string().contains("tasks_hash"));

    let mut reordered = run.record.clone();
    reordered.joins.swap(0, 1);
    assert!(audit(&reordered).unwrap_err().to_string().contains("joins[0]"));
}

#[test]
fn a_join_is_accepted_until_its_expiry_and_the_audit_checks_it() {
    let (mut experiment, keys) = small_experiment();
    let domain = experiment.domain().clone();
    let (id, stake) = (experiment.id(), experiment.spec().stake_per_batch);
    let join = keys[0].join_until(&domain, id, None, stake, 0, 1_010);
    let refused = experiment.join(&join, 1_011).unwrap_err();
    assert!(refused.to_string().contains("expired at 1010, before 1011"), "{refused}");
    let batch = experiment.join(&join, 1_010).unwrap();
    let labels = labels_for(&batch, 1);
    let commit = keys[0].commit(&domain, id, batch.batch_id, &labels).unwrap();
    experiment.commit(batch.batch_id, &commit, 2_000).unwrap();
    let reveal = keys[0].reveal(&domain, id, batch.batch_id, labels).unwrap();
    experiment.reveal(batch.batch_id, &reveal, experiment.spec().commit_deadline).unwrap();
    let record = experiment.settle(&BTreeMap::new(), experiment.spec().reveal_deadline).unwrap();
    audit(&record).unwrap();
    // A record that says the join came after its expiry does not verify.
    let mut late = record.clone();
    late.joins[0].at = 1_011;
    let e = audit(&late).unwrap_err().to_string();
    assert!(e.contains("joins[0]") && e.contains("expired"), "{e}");
}

fn small_experiment() -> (Experiment, Vec<LabelerKey>) {
    small_experiment_in(EMBEDDED_CHAIN_ID, Address::ZERO)
}

/// Eight tasks, batches of four, up to two a labeler, three labelers' keys; signed in the
/// domain of `verifying_contract` on `chain_id`.
fn small_experiment_in(
    chain_id: u64,
    verifying_contract: Address,
) -> (Experiment, Vec<LabelerKey>) {
    let mut spec = synthetic::binary_spec(4, 2, 0);
    spec.limits.batches_per_labeler_max = 2;
    let tasks = (0..8)
        .map(|i| Task {
            id: format!("t{i}"),
            prompt: String::new().into(),
            responses: Vec::new(),
            gold: None,
            meta: Default::default(),
        })
        .collect();
    let mut experiment =
        Experiment::new(B256::repeat_byte(9), chain_id, verifying_contract, spec, tasks).unwrap();
    experiment.open(B256::repeat_byte(2), true, 1_000).unwrap();
    let keys = (0..3).map(|i| LabelerKey::derived(5, i)).collect();
    (experiment, keys)
}

fn labels_for(batch: &Batch, value: i64) -> Vec<RevealedLabel> {
    batch.label_with(|_, _| Label::Int(value))
}

#[test]
fn signers_recovered_before_the_lock_are_still_checked_against_the_batch() {
    let (mut experiment, keys) = small_experiment();
    let domain = experiment.domain().clone();
    let id = experiment.id();
    let stake = experiment.spec().stake_per_batch;
    let batch = experiment.join(&keys[0].join(&domain, id, None, stake, 0), 1_001).unwrap();
    let labels = labels_for(&batch, 1);
    let commit = keys[0].commit(&domain, id, batch.batch_id, &labels).unwrap();
    let before_deadline = experiment.spec().commit_deadline - 1;

    // Recovered beforehand, the signer is the labeler's key; anyone else's is refused, and so
    // is a signature that recovers nobody.
    let recovered = Experiment::commit_signer(&domain, id, batch.batch_id, &commit);
    assert_eq!(recovered, Ok(keys[0].address()));
    let someone_else = Some(Ok(keys[1].address()));
    assert!(matches!(
        experiment.commit_recovered(batch.batch_id, &commit, someone_else, before_deadline),
        Err(Error::WrongSigner { .. })
    ));
    let nobody = Some(Err(plumbline_core::eip712::SignatureError::Invalid));
    assert!(experiment.commit_recovered(batch.batch_id, &commit, nobody, before_deadline).is_err());
    assert_eq!(
        experiment
            .commit_recovered(batch.batch_id, &commit, Some(recovered), before_deadline)
            .unwrap(),
        Accepted::New
    );

    let after_deadline = experiment.spec().commit_deadline;
    let reveal = keys[0].reveal(&domain, id, batch.batch_id, labels).unwrap();
    let recovered = Experiment::reveal_signer(&domain, id, batch.batch_id, &reveal).unwrap();
    assert_eq!(recovered, Ok(keys[0].address()));
    assert!(matches!(
        experiment.reveal_recovered(
            batch.batch_id,
            &reveal,
            Some(Ok(keys[2].address())),
            after_deadline
        ),
        Err(Error::WrongSigner { .. })
    ));
    assert_eq!(
        experiment
            .reveal_recovered(batch.batch_id, &reveal, Some(recovered), after_deadline)
            .unwrap(),
        Accepted::New
    );
}

#[test]
fn a_trusted_replay_skips_the_signatures_and_checks_everything_else() {
    use plumbline_core::log::{LogPosition, Signatures, replay_log};
    use plumbline_core::record::{CommitEntry, JoinEntry};
    let (mut live, keys) = small_experiment();
    let domain = live.domain().clone();
    let id = live.id();
    let join = keys[0].join(&domain, id, None, live.spec().stake_per_batch, 0);
    let batch = live.join(&join, 1_001).unwrap();
    let labels = labels_for(&batch, 1);
    let commit = keys[0].commit(&domain, id, batch.batch_id, &labels).unwrap();
    let mut forged = commit.clone();
    forged.signature = keys[1].commit(&domain, id, batch.batch_id, &labels).unwrap().signature;
    let joins = vec![JoinEntry { batch_id: batch.batch_id, join, at: 1_001 }];
    let in_time = live.spec().commit_deadline - 1;
    let late = live.spec().commit_deadline;
    let cases = [
        (Signatures::Verify, &commit, in_time, true),
        (Signatures::Trusted, &commit, in_time, true),
        // Only an auditor's replay recovers the signer again.
        (Signatures::Verify, &forged, in_time, false),
        (Signatures::Trusted, &forged, in_time, true),
        // Time and phase are checked whatever the replay trusts.
        (Signatures::Trusted, &commit, late, false),
    ];
    for (signatures, commit, at, accepted) in cases {
        let (mut replayed, _) = small_experiment();
        let commits = vec![CommitEntry { batch_id: batch.batch_id, commit: commit.clone(), at }];
        let start = LogPosition::default();
        let result = replay_log(&mut replayed, &joins, &commits, None, &[], start, signatures);
        assert_eq!(result.is_ok(), accepted, "{signatures:?} at {at}: {result:?}");
    }
}

#[test]
fn bad_requests_are_refused_and_change_nothing() {
    let (mut experiment, keys) = small_experiment();
    let domain = experiment.domain().clone();
    let id = experiment.id();
    let stake = experiment.spec().stake_per_batch;

    // A join signed by another key, with the wrong stake, or the wrong nonce.
    let mut forged = keys[0].join(&domain, id, None, stake, 0);
    forged.labeler = keys[1].address();
    assert!(matches!(experiment.join(&forged, 1_001), Err(Error::WrongSigner { .. })));
    let cheap = keys[0].join(&domain, id, None, stake - 1, 0);
    assert!(matches!(experiment.join(&cheap, 1_001), Err(Error::Mismatch { .. })));
    let replay = keys[0].join(&domain, id, None, stake, 3);
    assert!(matches!(experiment.join(&replay, 1_001), Err(Error::Mismatch { .. })));
    assert!(experiment.batches().is_empty());

    let batch = experiment.join(&keys[0].join(&domain, id, None, stake, 0), 1_001).unwrap();
    let labels = labels_for(&batch, 1);
    let commit = keys[0].commit(&domain, id, batch.batch_id, &labels).unwrap();
    let before_deadline = experiment.spec().commit_deadline - 1;

    // A commit signed by someone else, then the real one, its repeat, and a conflict.
    let stolen = keys[1].commit(&domain, id, batch.batch_id, &labels).unwrap();
    assert!(matches!(
        experiment.commit(batch.batch_id, &stolen, before_deadline),
        Err(Error::WrongSigner { .. })
    ));
    assert_eq!(experiment.commit(batch.batch_id, &commit, before_deadline).unwrap(), Accepted::New);
    assert_eq!(
        experiment.commit(batch.batch_id, &commit, before_deadline).unwrap(),
        Accepted::Repeat
    );
    let other = keys[0].commit(&domain, id, batch.batch_id, &labels_for(&batch, 0)).unwrap();
    assert!(matches!(
        experiment.commit(batch.batch_id, &other, before_deadline),
        Err(Error::Conflict { .. })
    ));

    // A second labeler commits too late.
    let late = experiment.join(&keys[1].join(&domain, id, None, stake, 0), 1_002).unwrap();
    let late_commit = keys[1].commit(&domain, id, late.batch_id, &labels_for(&late, 1)).unwrap();
    let after_deadline = experiment.spec().commit_deadline;
    assert!(matches!(
        experiment.commit(late.batch_id, &late_commit, after_deadline),
        Err(Error::Lifecycle(_))
    ));

    // Reveals: a mismatch is refused, the true one accepted, repeated harmlessly.
    let lie = keys[0].reveal(&domain, id, batch.batch_id, labels_for(&batch, 0)).unwrap();
    assert!(matches!(
        experiment.reveal(batch.batch_id, &lie, after_deadline),
        Err(Error::Reveal { .. })
    ));
    let reveal_deadline = experiment.spec().reveal_deadline;
    assert!(
        experiment.settle(&BTreeMap::new(), reveal_deadline - 1).is_err(),
        "a committed batch is not revealed yet"
    );
    let truth = keys[0].reveal(&domain, id, batch.batch_id, labels).unwrap();
    assert_eq!(experiment.reveal(batch.batch_id, &truth, after_deadline).unwrap(), Accepted::New);
    assert_eq!(
        experiment.reveal(batch.batch_id, &truth, after_deadline + 1).unwrap(),
        Accepted::Repeat
    );
    assert!(matches!(
        experiment.reveal(late.batch_id, &lie, after_deadline),
        Err(Error::NotCommitted(_))
    ));

    assert!(
        experiment.settle(&BTreeMap::new(), after_deadline - 1).is_err(),
        "not while commits are open"
    );
    let mut draft = Experiment::new(
        B256::repeat_byte(8),
        EMBEDDED_CHAIN_ID,
        Address::ZERO,
        experiment.spec().clone(),
        experiment.tasks().to_vec(),
    )
    .unwrap();
    assert!(draft.settle(&BTreeMap::new(), reveal_deadline).is_err(), "a draft never settles");
    // Every committed batch is revealed: it settles before the reveal deadline, and the record
    // of that verifies.
    let record = experiment.settle(&BTreeMap::new(), reveal_deadline - 1).unwrap();
    assert_eq!(record.commits.len(), 1);
    assert_eq!(record.reveals.len(), 1);
    audit(&record).unwrap();
    assert!(experiment.settle(&BTreeMap::new(), reveal_deadline + 1).is_err(), "settles once");
}

#[test]
fn a_record_verifies_after_a_labelers_reputation_fell_below_the_minimum() {
    // The experiment required a reputation of at least −0.1 and every labeler met it when it
    // joined; by settlement one of them had fallen far below. Eligibility was the server's
    // check at join time, so the record must still verify.
    let mut labelers = vec![Behavior::Accurate(900_000); 6];
    labelers.push(Behavior::Random);
    let mut spec = synthetic::binary_spec(20, 3, 4);
    spec.eligibility.reputation_min = Some(-0.1);
    let params = Params {
        spec,
        regular_tasks: 40,
        gold_tasks: 8,
        positive_rate: 500_000,
        labelers,
        reputations: BTreeMap::new(),
    };
    let run = synthetic::run(&params, 21).unwrap();
    let mut record = run.record.clone();
    let fallen = run.addresses[0];
    let mut bad = Reputation::default();
    bad.tally.gold_sum = -900_000 * 50;
    bad.tally.gold_n = 50;
    record.reputations.insert(fallen, bad);
    // Settlement reads the reputations as of settlement, so it is recomputed with the new one.
    let outcomes = outcomes_of(&record);
    record.settlement =
        plumbline_core::settle::settle(&record.spec, &record.tasks, &outcomes, &record.reputations);
    audit(&record).expect("eligibility is not re-checked from later reputations");
}

/// The batch outcomes a record describes.
fn outcomes_of(record: &PublicRecord) -> Vec<plumbline_core::settle::BatchOutcome> {
    plumbline_core::record::replay(record).expect("the log replays").outcomes()
}

#[test]
fn commits_close_early_only_once_every_joined_batch_is_committed_and_the_record_shows_it() {
    let (mut experiment, keys) = small_experiment();
    let domain = experiment.domain().clone();
    let id = experiment.id();
    let stake = experiment.spec().stake_per_batch;
    let deadline = experiment.spec().commit_deadline;
    let first = experiment.join(&keys[0].join(&domain, id, None, stake, 0), 1_001).unwrap();
    let second = experiment.join(&keys[1].join(&domain, id, None, stake, 0), 1_002).unwrap();
    let commit_of = |k: usize, batch: &Batch| {
        keys[k].commit(&domain, id, batch.batch_id, &labels_for(batch, 1)).unwrap()
    };
    experiment.commit(first.batch_id, &commit_of(0, &first), 2_000).unwrap();
    // One joined batch is not committed: closing would cut its labeler off.
    let refused = experiment.close_commits(2_001).unwrap_err();
    assert!(refused.to_string().contains("1 of 2 joined batches are not committed"), "{refused}");
    assert_eq!(experiment.phase_at(2_001), Phase::Open, "a refusal changes nothing");
    experiment.commit(second.batch_id, &commit_of(1, &second), 2_002).unwrap();
    experiment.close_commits(2_003).unwrap();
    assert_eq!(experiment.spec().commits_closed_at, Some(2_003));
    assert_eq!(experiment.phase_at(2_003), Phase::Revealing);
    assert!(experiment.close_commits(2_004).is_err(), "closes once");
    // Nobody joins or commits after the close; reveals are taken at once.
    assert!(experiment.join(&keys[2].join(&domain, id, None, stake, 0), 2_004).is_err());
    for (k, batch) in [(0, &first), (1, &second)] {
        let reveal = keys[k].reveal(&domain, id, batch.batch_id, labels_for(batch, 1)).unwrap();
        experiment.reveal(batch.batch_id, &reveal, 2_010).unwrap();
    }
    let record = experiment.settle(&BTreeMap::new(), 2_011).unwrap();
    assert!(record.settled_at < deadline, "settled long before the commit deadline");
    audit(&record).unwrap();

    // A record that closed commits with a joined batch uncommitted, or whose close came
    // before a commit it lists, or on a market contract, does not verify.
    let mut cut_off = record.clone();
    cut_off.commits.retain(|c| c.batch_id == first.batch_id);
    cut_off.reveals.retain(|r| r.batch_id == first.batch_id);
    let e = audit(&cut_off).unwrap_err().to_string();
    assert!(e.contains("commits_closed_at 2003") && e.contains("1 of 2 joined batches"), "{e}");
    let mut early = record.clone();
    early.spec.commits_closed_at = Some(2_001);
    let e = audit(&early).unwrap_err().to_string();
    assert!(e.contains("a join or commit was accepted at 2002, after 2001"), "{e}");
    let mut on_chain = record.clone();
    on_chain.verifying_contract = Address::repeat_byte(1);
    let e = audit(&on_chain).unwrap_err().to_string();
    assert!(e.contains("a market contract does not allow"), "{e}");
}

#[test]
fn unbacked_batches_hold_no_stake_are_not_scored_and_must_be_what_the_contract_could_leave() {
    let (mut experiment, keys) = small_experiment_in(31_337, Address::repeat_byte(7));
    let domain = experiment.domain().clone();
    let id = experiment.id();
    let stake = experiment.spec().stake_per_batch;
    // Labeler 0 joins twice, labelers 1 and 2 once; every batch is committed and revealed.
    let mut batches = Vec::new();
    for (at, (k, nonce)) in [(0, 0), (1, 0), (0, 1), (2, 0)].into_iter().enumerate() {
        let join = keys[k].join(&domain, id, None, stake, nonce);
        batches.push((k, experiment.join(&join, 1_001 + at as u64).unwrap()));
    }
    for (k, batch) in &batches {
        let commit = keys[*k].commit(&domain, id, batch.batch_id, &labels_for(batch, 1)).unwrap();
        experiment.commit(batch.batch_id, &commit, 2_000).unwrap();
    }
    let reveal_at = experiment.spec().commit_deadline;
    for (k, batch) in &batches {
        let reveal = keys[*k].reveal(&domain, id, batch.batch_id, labels_for(batch, 1)).unwrap();
        experiment.reveal(batch.batch_id, &reveal, reveal_at).unwrap();
    }
    // The contract locked labeler 0's first stake and labeler 1's, not labeler 0's second
    // nor labeler 2's (batches 2 and 3).
    experiment.set_unbacked([2, 3].into()).unwrap();
    let record = experiment.settle(&BTreeMap::new(), experiment.spec().reveal_deadline).unwrap();
    assert_eq!(record.unbacked, vec![2, 3]);
    let result = |k: usize| result_in(&record, keys[k].address());
    assert_eq!((result(0).batches, result(0).revealed_batches, result(0).stake), (2, 1, stake));
    assert_eq!((result(2).batches, result(2).revealed_batches, result(2).stake), (1, 0, 0));
    assert_eq!((result(2).non_reveal_penalty, result(2).payout), (0, 0));
    assert_eq!(record.settlement.totals.stakes, 2 * stake, "the stakes the contract holds");
    assert_eq!(record.revealed().len(), 2, "only backed batches' labels count");
    audit(&record).unwrap();

    // Lists the contract cannot have left: a labeler's earlier join unbacked and a later one
    // backed, a batch never joined, out of order, or any at all in the embedded ledger.
    for (unbacked, says) in [
        (vec![0, 3], "locks a labeler's joins in order"),
        (vec![2, 3, 9], "batch 9 was never joined"),
        (vec![3, 2], "not ascending and distinct"),
        (vec![2, 2, 3], "not ascending and distinct"),
        (vec![2], "settlement"),
    ] {
        let mut tampered = record.clone();
        tampered.unbacked = unbacked.clone();
        let e = audit(&tampered).unwrap_err().to_string();
        assert!(e.contains(says), "{unbacked:?}: {e}");
    }
    let (mut embedded, keys) = small_experiment();
    let domain = embedded.domain().clone();
    let join = keys[0].join(&domain, embedded.id(), None, stake, 0);
    embedded.join(&join, 1_001).unwrap();
    let refused = embedded.set_unbacked([0].into()).unwrap_err();
    assert!(refused.to_string().contains("embedded ledger locks every stake"), "{refused}");
}

fn result_in(record: &PublicRecord, labeler: Address) -> &LabelerResult {
    record.settlement.labelers.iter().find(|l| l.labeler == labeler).expect("settled")
}

#[test]
fn deadlines_given_as_durations_are_fixed_at_opening_and_checked_in_the_record() {
    let text = include_str!("data/pairwise.toml")
        .replace("commit_deadline = 1800000000", "commit_within = \"2h\"")
        .replace("reveal_deadline = 1800086400", "reveal_within = \"1d\"");
    let spec = ExperimentSpec::parse(&text, SpecFormat::Toml).unwrap();
    assert!(!spec.deadlines_fixed());
    // Half durations, or durations beside deadlines that do not follow from them, are refused.
    let half = text.replace("reveal_within = \"1d\"", "reveal_deadline = 1800086400");
    let e = ExperimentSpec::parse(&half, SpecFormat::Toml).unwrap_err().to_string();
    assert!(e.contains("reveal_within") && e.contains("needed with commit_within"), "{e}");
    let both =
        text.replace("commit_within", "commit_deadline = 5\nreveal_deadline = 9\ncommit_within");
    let e = ExperimentSpec::parse(&both, SpecFormat::Toml).unwrap_err().to_string();
    assert!(e.contains("durations or the deadlines"), "{e}");
    let bad = text.replace("\"2h\"", "\"2 hours\"");
    let e = ExperimentSpec::parse(&bad, SpecFormat::Toml).unwrap_err().to_string();
    assert!(e.contains("`2 hours` is not a duration") && e.contains("line"), "{e}");

    let tasks: Vec<Task> = (0..10)
        .map(|i| Task {
            id: format!("t{i}"),
            prompt: "p".to_string().into(),
            responses: vec!["a".into(), "b".into()],
            gold: (i < 2).then_some(Label::Int(1)),
            meta: Default::default(),
        })
        .collect();
    let mut experiment =
        Experiment::new(B256::repeat_byte(3), EMBEDDED_CHAIN_ID, Address::ZERO, spec, tasks)
            .unwrap();
    experiment.open(B256::repeat_byte(4), true, 1_000_000).unwrap();
    assert_eq!(experiment.spec().commit_deadline, 1_000_000 + 7_200);
    assert_eq!(experiment.spec().reveal_deadline, 1_000_000 + 7_200 + 86_400);
    assert_eq!(experiment.phase_at(1_007_199), Phase::Open);
    assert_eq!(experiment.phase_at(1_007_200), Phase::Revealing);
    // Nobody joined: settled at the reveal deadline, and the record's deadlines are checked
    // against its opening time.
    let record = experiment.settle(&BTreeMap::new(), 1_000_000 + 7_200 + 86_400).unwrap();
    audit(&record).unwrap();
    let mut moved = record.clone();
    moved.spec.commit_deadline += 3_600;
    moved.spec.reveal_deadline += 3_600;
    let e = audit(&moved).unwrap_err().to_string();
    assert!(e.contains("do not follow from commit_within"), "{e}");
}
