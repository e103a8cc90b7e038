//! Property tests over random experiments. Each test prints its seed; rerun one with
//! `SEED=<n> cargo test -p plumbline-core --test properties`.

use plumbline_core::fixed::Ppm;
use plumbline_core::label::Label;
use plumbline_core::limits::PEER_WEIGHT_MIN_PPM;
use plumbline_core::merkle;
use plumbline_core::record::audit;
use plumbline_core::reputation::Reputation;
use plumbline_core::score::Tally;
use plumbline_core::settle::{BatchOutcome, Settlement, Tier, settle};
use plumbline_core::spec::{Cohorts, ExperimentSpec, QuestionKind, SlashedFunds};
use plumbline_core::synthetic::{self, Behavior, Params};
use plumbline_core::task::Task;
use plumbline_core::{Address, U256};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::collections::BTreeMap;

fn seed() -> u64 {
    let seed = std::env::var("SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20_261_121);
    eprintln!("SEED={seed}");
    seed
}

fn runner(cases: u32, seed: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

/// A random experiment handed straight to settlement: any kind, any labels, any reveals.
#[derive(Clone, Debug)]
struct Case {
    spec: ExperimentSpec,
    tasks: Vec<Task>,
    batches: Vec<BatchOutcome>,
    reputations: BTreeMap<Address, Reputation>,
}

fn kind_strategy() -> impl Strategy<Value = QuestionKind> {
    prop_oneof![
        Just(QuestionKind::Binary { options: ["no".into(), "yes".into()] }),
        (2u32..6).prop_map(|c| QuestionKind::Choice {
            options: (0..c).map(|i| format!("option {i}")).collect()
        }),
        (1i32..3, 3i32..8).prop_map(|(min, max)| QuestionKind::Rating { min, max }),
        (1u32..4, any::<bool>()).prop_map(|(strength_max, allow_tie)| QuestionKind::Pairwise {
            strength_max,
            allow_tie
        }),
        (2u32..5).prop_map(|n| QuestionKind::Ranking { n }),
        Just(QuestionKind::Text { length_max: 20 }),
    ]
}

/// A valid label of the kind drawn from 64 random bits.
fn label_from(kind: &QuestionKind, bits: u64) -> Label {
    match kind {
        QuestionKind::Binary { .. } => Label::Int((bits % 2) as i64),
        QuestionKind::Choice { options } => Label::Int((bits % options.len() as u64) as i64),
        QuestionKind::Rating { min, max } => {
            Label::Int(i64::from(*min) + (bits % (max - min + 1) as u64) as i64)
        }
        QuestionKind::Pairwise { strength_max, allow_tie } => {
            let k = i64::from(*strength_max);
            let v = (bits % (2 * k as u64 + 1)) as i64 - k;
            Label::Int(if v == 0 && !allow_tie { 1 } else { v })
        }
        QuestionKind::Ranking { n } => {
            let mut order: Vec<u8> = (0..*n as u8).collect();
            let mut b = bits;
            for i in (1..order.len()).rev() {
                order.swap(i, (b % (i as u64 + 1)) as usize);
                b /= i as u64 + 1;
            }
            Label::Ranking(order)
        }
        QuestionKind::Text { .. } => Label::Text(format!("{}", bits % 1000)),
    }
}

/// A label as far from `label` as the kind allows.
fn opposite(kind: &QuestionKind, label: &Label) -> Label {
    match (kind, label) {
        (QuestionKind::Binary { .. }, Label::Int(v)) => Label::Int(1 - v),
        (QuestionKind::Choice { options }, Label::Int(v)) => {
            Label::Int((v + 1) % options.len() as i64)
        }
        (QuestionKind::Rating { min, max }, Label::Int(v)) => {
            Label::Int(i64::from(*min) + i64::from(*max) - v)
        }
        (QuestionKind::Pairwise { strength_max, .. }, Label::Int(v)) => {
            Label::Int(if *v == 0 { i64::from(*strength_max) } else { -v })
        }
        (QuestionKind::Ranking { .. }, Label::Ranking(order)) => {
            Label::Ranking(order.iter().rev().copied().collect())
        }
        (_, other) => other.clone(),
    }
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        kind_strategy(),
        (1u32..16, 0u32..7, 0usize..8, 1usize..25),
        (1u128..1_000_000_000_000, 1u128..1_000_000_000_000_000),
        (0u32..=10_000, 0u32..=10_000, 0usize..2, PEER_WEIGHT_MIN_PPM..=1_000_000),
        (1u32..=500_000, 1u32..=500_000, any::<bool>(), any::<bool>()),
        prop::collection::vec((any::<u64>(), any::<bool>(), any::<u64>()), 0..40),
    )
        .prop_map(|(kind, shape, money, slashing, rates, draws)| {
            let (block_size, gold_per_batch, blocks, labelers) = shape;
            let (stake, pool) = money;
            let (slash_bps, non_reveal_slash_bps, funds, peer_weight) = slashing;
            let (false_slash, false_reward, subjective, with_cohorts) = rates;
            let mut spec = synthetic::binary_spec(block_size, 3, gold_per_batch);
            spec.question.kind = kind.clone();
            spec.stake_per_batch = stake;
            spec.reward_pool = pool;
            spec.slash_bps = slash_bps;
            spec.non_reveal_slash_bps = non_reveal_slash_bps;
            spec.slashed_funds = [SlashedFunds::Redistribute, SlashedFunds::Burn][funds];
            spec.peer_weight = Ppm::new(peer_weight).unwrap();
            spec.false_slash_rate = Ppm::new(false_slash).unwrap();
            spec.false_reward_rate = Ppm::new(false_reward).unwrap();
            spec.subjective = subjective;
            spec.cohorts = with_cohorts.then(|| Cohorts {
                attribute: "region".into(),
                values: vec!["a".into(), "b".into()],
            });
            let gold = if matches!(kind, QuestionKind::Text { .. }) { 0 } else { 10 };
            let regular = blocks * block_size as usize;
            let tasks: Vec<Task> = (0..regular + gold)
                .map(|i| Task {
                    id: format!("t{i}"),
                    prompt: String::new().into(),
                    responses: kind
                        .responses_required()
                        .map_or(Vec::new(), |n| (0..n).map(|r| format!("r{r}")).collect()),
                    gold: (i >= regular).then(|| label_from(&kind, i as u64 * 7919)),
                    meta: Default::default(),
                })
                .collect();
            let mut batches = Vec::new();
            let mut reputations = BTreeMap::new();
            for (n, (bits, revealed, record)) in draws.into_iter().enumerate() {
                let labeler = Address::with_last_byte((bits % labelers as u64) as u8);
                if record % 3 == 0 {
                    let tally = Tally {
                        peer_sum: (record % 2_000_000) as i64 - 1_000_000,
                        peer_n: 1 + record % 50,
                        peer_squares: (1 + record % 50) * (record % 1_000_000),
                        gold_sum: -((record % 700_000) as i64),
                        gold_n: 1 + record % 30,
                        gold_squares: (1 + record % 30) * (record % 700_000),
                    };
                    reputations.insert(labeler, Reputation { tally, ..Reputation::default() });
                }
                let mut task_indices: Vec<u32> = if blocks == 0 {
                    Vec::new()
                } else {
                    let block = (bits >> 8) as usize % blocks;
                    let start = block * block_size as usize;
                    (start as u32..(start + block_size as usize) as u32).collect()
                };
                task_indices.extend(
                    (0..gold_per_batch.min(gold as u32))
                        .map(|g| (regular + (bits as usize >> (16 + g)) % gold.max(1)) as u32),
                );
                task_indices.sort_unstable();
                task_indices.dedup();
                // Labelers copy a latent truth, oppose it, or answer at random, so that every
                // tier is reached.
                let labels = revealed.then(|| {
                    task_indices
                        .iter()
                        .map(|&t| {
                            let truth = label_from(&kind, u64::from(t) * 7919);
                            let label = match record % 3 {
                                0 => truth,
                                1 => opposite(&kind, &truth),
                                _ => label_from(&kind, bits.rotate_left(t) ^ record),
                            };
                            (t, label)
                        })
                        .collect()
                });
                batches.push(BatchOutcome {
                    batch_id: n as u64,
                    labeler,
                    cohort: with_cohorts.then(|| ["a", "b"][(bits % 2) as usize].to_string()),
                    stake,
                    labels,
                });
            }
            Case { spec, tasks, batches, reputations }
        })
}

fn check_invariants(case: &Case, settlement: &Settlement) -> Result<(), TestCaseError> {
    let t = &settlement.totals;
    let stakes: u128 = case.batches.iter().map(|b| b.stake).sum();
    prop_assert_eq!(t.stakes, stakes);
    prop_assert_eq!(
        t.reward_pool + t.stakes,
        t.rewards + t.stakes_returned + t.refund + t.burned,
        "money is conserved exactly"
    );
    prop_assert!(t.rewards <= t.pot, "payouts never exceed the pot");
    prop_assert!(t.refund <= t.reward_pool, "slashed stake never goes to the experimenter");
    for (index, l) in settlement.labelers.iter().enumerate() {
        prop_assert_eq!(l.stake, l.stake_returned + l.lost());
        prop_assert_eq!(l.payout, l.stake_returned + l.reward);
        prop_assert!(!(l.tier == Tier::Rewarded && l.slash > 0), "rewarded and slashed");
        prop_assert!(l.tier == Tier::Rewarded || l.reward == 0, "paid without the tier");
        prop_assert!(l.tier == Tier::Slashed || l.slash == 0, "slashed without the tier");
        if index < 3 {
            let tree = merkle::StandardMerkleTree::from_leaves(
                settlement
                    .labelers
                    .iter()
                    .map(|r| merkle::payout_leaf(r.labeler, U256::from(r.payout)))
                    .collect(),
            )
            .unwrap();
            let leaf = merkle::payout_leaf(l.labeler, U256::from(l.payout));
            prop_assert!(merkle::verify(settlement.payout_root, leaf, &tree.proof(index)));
        }
    }
    Ok(())
}

#[test]
fn any_experiment_conserves_money_and_never_rewards_and_slashes_at_once() {
    let mut runner = runner(400, seed());
    let tiers_seen = std::cell::RefCell::new(BTreeMap::<String, u32>::new());
    runner
        .run(&case_strategy(), |case| {
            let settlement = settle(&case.spec, &case.tasks, &case.batches, &case.reputations);
            check_invariants(&case, &settlement)?;
            for l in &settlement.labelers {
                *tiers_seen.borrow_mut().entry(format!("{:?}", l.tier)).or_default() += 1;
            }
            // Settlement is a pure function: the same input gives the same bytes.
            let again = settle(&case.spec, &case.tasks, &case.batches, &case.reputations);
            prop_assert_eq!(
                serde_json::to_vec(&settlement).unwrap(),
                serde_json::to_vec(&again).unwrap()
            );
            Ok(())
        })
        .unwrap();
    // The generator must reach every tier, or the properties above would hold vacuously.
    let seen = tiers_seen.into_inner();
    eprintln!("tiers seen: {seen:?}");
    assert_eq!(seen.len(), 3, "{seen:?}");
}

#[test]
fn any_protocol_run_produces_a_record_that_verifies() {
    let behavior = prop_oneof![
        (0u32..=1_000_000).prop_map(Behavior::Accurate),
        (0i64..2).prop_map(Behavior::Constant),
        Just(Behavior::Random),
        Just(Behavior::Silent),
    ];
    let strategy = (
        prop::collection::vec(behavior, 1..16),
        (2u32..8, 1u32..4, 0u32..3, 1usize..6),
        any::<u64>(),
    );
    let mut runner = runner(24, seed());
    runner
        .run(&strategy, |(labelers, (block_size, overlap, gold, blocks), run_seed)| {
            let params = Params {
                spec: synthetic::binary_spec(block_size, overlap, gold),
                regular_tasks: blocks * block_size as usize,
                gold_tasks: 4,
                positive_rate: 400_000,
                labelers,
                reputations: BTreeMap::new(),
            };
            let run = synthetic::run(&params, run_seed).unwrap();
            prop_assert!(audit(&run.record).is_ok(), "{:?}", audit(&run.record));
            Ok(())
        })
        .unwrap();
}

#[test]
fn honest_labelers_are_slashed_at_most_delta_of_the_time() {
    // Honest labelers of accuracy 0.7 on binary tasks, among a few random ones, over seeded
    // trials; δ = false_slash_rate = 0.01.
    let base = seed();
    let trials = 150u64;
    let (mut honest, mut slashed) = (0u64, 0u64);
    for trial in 0..trials {
        let mut labelers = vec![Behavior::Accurate(700_000); 10];
        labelers.extend([Behavior::Random; 2]);
        let params = Params {
            spec: synthetic::binary_spec(10, 3, 3),
            regular_tasks: 40,
            gold_tasks: 10,
            positive_rate: 500_000,
            labelers,
            reputations: BTreeMap::new(),
        };
        let run = synthetic::run(&params, base.wrapping_add(trial)).unwrap();
        for address in &run.addresses[..10] {
            if let Some(l) = run.record.settlement.labelers.iter().find(|l| l.labeler == *address) {
                honest += 1;
                slashed += u64::from(l.tier == Tier::Slashed);
            }
        }
    }
    let delta = synthetic::binary_spec(1, 1, 0).false_slash_rate;
    eprintln!("{slashed} of {honest} honest labeler-trials slashed");
    assert!(honest >= 1_000);
    assert!(
        slashed * 1_000_000 <= honest * u64::from(delta.get()),
        "{slashed} of {honest} honest labelers slashed, more than δ"
    );
}
