//! Seeded synthetic experiments run end to end through the real protocol (keys, signatures,
//! commits, reveals, settlement): binary tasks with a latent truth and labelers of chosen
//! behaviour. Tests, property tests, benchmarks and demos build on it; every run is
//! reproducible from its seed.

use crate::client::{LabelerKey, RevealedLabel};
use crate::eip712::EMBEDDED_CHAIN_ID;
use crate::experiment::Experiment;
use crate::label::Label;
use crate::record::PublicRecord;
use crate::reputation::Reputation;
use crate::spec::{ExperimentSpec, Question, QuestionKind};
use crate::task::Task;
use crate::{Address, B256, Result, assign::to_canonical};
use std::collections::BTreeMap;

pub mod knockout;

/// SplitMix64: a tiny, well-mixed deterministic generator, enough for simulations.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// True with probability `ppm / 10^6`.
    pub fn chance(&mut self, ppm: u32) -> bool {
        self.next_u64() % 1_000_000 < u64::from(ppm)
    }

    /// A uniform integer in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// How a synthetic labeler answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behavior {
    /// The truth with this probability (ppm), otherwise the other answer.
    Accurate(u32),
    /// Always this answer.
    Constant(i64),
    /// A fair coin.
    Random,
    /// Commits but never reveals.
    Silent,
    /// Tires: the truth with probability `ppm` for the first `fresh` labels of its batch (in
    /// the order shown), a fair coin after.
    Tiring {
        /// Accuracy while fresh (ppm).
        ppm: u32,
        /// Labels given before it tires.
        fresh: usize,
    },
    /// Knows which tasks are gold and their true answers (the worst case of a labeler who
    /// found gold): the truth on gold, this constant answer on every regular task.
    GoldSniper(i64),
}

/// The gold answers the experimenter writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GoldAnswers {
    /// The latent truth.
    True,
    /// The opposite of the truth: an experimenter trying to slash honest labelers.
    Inverted,
}

/// What to simulate.
#[derive(Clone, Debug)]
pub struct Params {
    /// The spec (its question must be binary).
    pub spec: ExperimentSpec,
    /// Regular tasks.
    pub regular_tasks: usize,
    /// Gold tasks.
    pub gold_tasks: usize,
    /// Probability (ppm) that a task's truth is 1.
    pub positive_rate: u32,
    /// One entry per labeler, each joining once (once per round when the spec has rounds).
    pub labelers: Vec<Behavior>,
    /// Reputations before the experiment, by labeler index.
    pub reputations: BTreeMap<usize, Reputation>,
}

/// A binary spec with the given shape and the documented defaults elsewhere.
pub fn binary_spec(block_size: u32, overlap: u32, gold_per_batch: u32) -> ExperimentSpec {
    ExperimentSpec {
        schema_version: crate::limits::SCHEMA_VERSION,
        title: "Synthetic binary experiment".into(),
        question: Question {
            kind: QuestionKind::Binary { options: ["no".into(), "yes".into()] },
            instructions: "Answer yes or no.".into(),
            rationale: false,
        },
        subjective: false,
        block_size,
        overlap,
        gold_per_batch,
        stake_per_batch: 1_000_000,
        reward_pool: 1_000_000_000,
        slash_bps: 5_000,
        non_reveal_slash_bps: 10_000,
        slashed_funds: Default::default(),
        false_slash_rate: crate::fixed::Ppm::new(10_000).expect("0.01"),
        false_reward_rate: crate::fixed::Ppm::new(200_000).expect("0.2"),
        peer_weight: crate::fixed::Ppm::new(500_000).expect("0.5"),
        commit_deadline: 2_000_000_000,
        reveal_deadline: 2_000_086_400,
        commit_within: None,
        reveal_within: None,
        commits_closed_at: None,
        eligibility: Default::default(),
        qualification: None,
        limits: Default::default(),
        cohorts: None,
        strata: Vec::new(),
        rounds: None,
    }
}

/// The outcome of a run: the record and the labelers' keys (index = labeler index).
#[derive(Debug)]
pub struct Run {
    /// The public record.
    pub record: PublicRecord,
    /// Labeler addresses by index.
    pub addresses: Vec<Address>,
    /// The latent truth of every task (gold answers included).
    pub truth: Vec<i64>,
}

/// Runs a synthetic experiment through the protocol from open to settlement.
pub fn run(params: &Params, seed: u64) -> Result<Run> {
    run_with_gold(params, seed, GoldAnswers::True)
}

/// [`run`] with the gold answers the experimenter chose.
pub fn run_with_gold(params: &Params, seed: u64, gold: GoldAnswers) -> Result<Run> {
    let mut rng = SplitMix64::new(seed);
    let spec = params.spec.clone();
    let total = params.regular_tasks + params.gold_tasks;
    let truth: Vec<i64> = (0..total).map(|_| i64::from(rng.chance(params.positive_rate))).collect();
    let tasks: Vec<Task> = (0..total)
        .map(|i| Task {
            id: format!("task-{i}"),
            prompt: format!("Synthetic question {i}").into(),
            responses: Vec::new(),
            gold: (i >= params.regular_tasks).then_some(Label::Int(match gold {
                GoldAnswers::True => truth[i],
                GoldAnswers::Inverted => 1 - truth[i],
            })),
            meta: Default::default(),
        })
        .collect();
    let experiment_id = B256::from(alloy_primitives::keccak256(seed.to_be_bytes()));
    let mut experiment =
        Experiment::new(experiment_id, EMBEDDED_CHAIN_ID, Address::ZERO, spec.clone(), tasks)?;
    let opened_at = spec.commit_deadline - 10_000;
    let assignment_seed = B256::from(alloy_primitives::keccak256((seed ^ 0xa55a).to_be_bytes()));
    experiment.open(assignment_seed, true, opened_at)?;

    let keys: Vec<LabelerKey> =
        (0..params.labelers.len()).map(|i| LabelerKey::derived(seed, i as u64)).collect();
    let reputations: BTreeMap<Address, Reputation> =
        params.reputations.iter().map(|(i, r)| (keys[*i].address(), *r)).collect();
    let domain = experiment.domain().clone();
    // Every labeler joins once per round while a block is left for it (see `crate::rounds`):
    // joins and commits inside the round's commit window, reveals just after it.
    let windows = spec.round_windows();
    let mut joined = vec![0u64; keys.len()];
    for (round, window) in windows.iter().enumerate() {
        let opens = if round == 0 { opened_at } else { windows[round - 1].reveal_deadline };
        let mut pending = Vec::new();
        for (i, (key, behavior)) in keys.iter().zip(&params.labelers).enumerate() {
            let join_at = (opens + 1 + i as u64 % 5_000).min(window.commit_deadline - 2);
            let join = key.join(&domain, experiment_id, None, spec.stake_per_batch, joined[i]);
            let reputation = reputations.get(&key.address()).copied().unwrap_or_default();
            experiment.check_eligible(&reputation)?;
            let batch = match experiment.join(&join, join_at) {
                Ok(batch) => batch,
                // The first round's blocks are full; a later round may still have a block for
                // a labeler who has seen none of its tasks.
                Err(crate::Error::Assign(crate::assign::AssignError::NoBlockLeft))
                    if round == 0 =>
                {
                    break;
                }
                Err(crate::Error::Assign(crate::assign::AssignError::NoBlockLeft)) => continue,
                Err(e) => return Err(e),
            };
            joined[i] += 1;
            let mut position = 0;
            let labels: Vec<RevealedLabel> = batch.label_with(|task, order| {
                let is_gold = task as usize >= params.regular_tasks;
                let now = match *behavior {
                    Behavior::Tiring { ppm, fresh } if position < fresh => Behavior::Accurate(ppm),
                    Behavior::Tiring { .. } => Behavior::Random,
                    other => other,
                };
                position += 1;
                let shown = answer(now, truth[task as usize], is_gold, &mut rng);
                to_canonical(&Label::Int(shown), order)
            });
            let commit = key.commit(&domain, experiment_id, batch.batch_id, &labels)?;
            experiment.commit(batch.batch_id, &commit, window.commit_deadline - 1)?;
            if *behavior != Behavior::Silent {
                pending.push((i, batch.batch_id, labels));
            }
        }
        for (i, batch_id, labels) in pending {
            let reveal = keys[i].reveal(&domain, experiment_id, batch_id, labels)?;
            experiment.reveal(batch_id, &reveal, window.commit_deadline + 1)?;
        }
    }
    let record = experiment.settle(&reputations, spec.final_reveal_deadline())?;
    Ok(Run { record, addresses: keys.iter().map(LabelerKey::address).collect(), truth })
}

fn answer(behavior: Behavior, truth: i64, is_gold: bool, rng: &mut SplitMix64) -> i64 {
    match behavior {
        Behavior::Accurate(ppm) => {
            if rng.chance(ppm) {
                truth
            } else {
                1 - truth
            }
        }
        Behavior::Constant(value) => value,
        Behavior::GoldSniper(_) if is_gold => truth,
        Behavior::GoldSniper(value) => value,
        Behavior::Random | Behavior::Silent | Behavior::Tiring { .. } => rng.below(2) as i64,
    }
}
