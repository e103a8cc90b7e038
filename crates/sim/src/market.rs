//! The in-process driver: every identity goes through the real protocol of
//! [`plumbline_core::experiment::Experiment`], exactly as the server drives it — a derived
//! secp256k1 key, a signed `Join` (stake locked, batch assigned by the seeded PRF), labels
//! mapped back from the shown response order, a signed commitment over the labels' Merkle
//! root, a signed reveal after the commit deadline, and settlement with each identity's
//! reputation so far. A run is a sequence of `rounds` experiments over the same population;
//! reputation carries from one to the next, so a repeat offender's cumulative record can slash
//! it sooner.
//!
//! With a qualification, every identity first answers its practice draw, and only those who
//! qualify join; the same experiment is then run again with everyone admitted, so that a run
//! measures the export with the gate against the export without it on the very same labels.
//!
//! Joins go batch by batch: every identity's first batch (in a seeded order), then every
//! second batch, and so on, so that each block is filled by a mix of strategies.

use crate::agents::{Agent, roster};
use crate::error::Result;
use crate::rng::{Rng, Tag};
use crate::scenario::Scenario;
use crate::tasks::{self, Pool, Truth};
use plumbline_core::assign::AssignError;
use plumbline_core::client::{LabelerKey, RevealedLabel};
use plumbline_core::eip712::EMBEDDED_CHAIN_ID;
use plumbline_core::experiment::Experiment;
use plumbline_core::label::Label;
use plumbline_core::practice::{self, PracticeAnswer, PracticeRecord, PracticeTask};
use plumbline_core::record::PublicRecord;
use plumbline_core::reputation::Reputation;
use plumbline_core::spec::ExperimentSpec;
use plumbline_core::{Address, B256};
use std::collections::BTreeMap;

/// When the first simulated experiment opens (unix seconds); later rounds open a week apart.
pub const START: u64 = 1_800_000_000;
/// Seconds between the openings of consecutive rounds.
const ROUND_SECS: u64 = 86_400 * 7;

/// One settled experiment of a run, with what the simulator knows about it.
#[derive(Clone, Debug)]
pub struct Round {
    /// The public record the protocol produced.
    pub record: PublicRecord,
    /// What the simulator knows about each task (index = task index).
    pub truth: Vec<Truth>,
    /// Each identity's address (index = roster index).
    pub addresses: Vec<Address>,
    /// Labels poisoners replaced on triggered tasks: (batch id, task) → the honest label.
    pub unpoisoned: BTreeMap<(u64, u32), Label>,
    /// Joins refused because no block was left that the identity had not done.
    pub joins_refused: usize,
    /// With `--server`: the consensus class of each task in the server's own export, to check
    /// the simulator's export against.
    pub server_export: Option<BTreeMap<u32, i64>>,
    /// With a qualification: whether each identity (roster index) qualified in practice.
    pub qualified: Option<Vec<bool>>,
    /// With a qualification: the same experiment with everyone admitted.
    pub ungated: Option<Box<Round>>,
}

/// A run: its seed, its population, and its settled experiments.
#[derive(Clone, Debug)]
pub struct Run {
    /// The run's seed.
    pub seed: u64,
    /// The population (index = identity).
    pub agents: Vec<Agent>,
    /// One entry per round.
    pub rounds: Vec<Round>,
}

/// The key of identity `index` in a run: derived from the seed, so a rerun signs the same.
pub fn identity_key(seed: u64, index: usize) -> LabelerKey {
    LabelerKey::derived(seed, index as u64)
}

/// A 32-byte value from the run's experiment stream.
pub(crate) fn word(seed: u64, round: u32, what: u64) -> B256 {
    let mut rng = Rng::stream(seed, Tag::Experiment, &[u64::from(round), what]);
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_be_bytes());
    }
    B256::from(bytes)
}

/// Runs one seed of a scenario in process.
pub fn run(scenario: &Scenario, pool: Option<&Pool>, seed: u64) -> Result<Run> {
    let agents = roster(scenario, seed);
    let keys: Vec<LabelerKey> = (0..agents.len()).map(|i| identity_key(seed, i)).collect();
    let addresses: Vec<Address> = keys.iter().map(LabelerKey::address).collect();
    let mut reputations: BTreeMap<Address, Reputation> = BTreeMap::new();
    let mut rounds = Vec::new();
    for round in 0..scenario.rounds {
        let start = START + u64::from(round) * ROUND_SECS;
        let gated = Gate::Practice;
        let mut outcome =
            one_round(scenario, pool, seed, round, start, &agents, &keys, &reputations, gated)?;
        if scenario.qualification.is_some() {
            let everyone = Gate::Open;
            let ungated = one_round(
                scenario,
                pool,
                seed,
                round,
                start,
                &agents,
                &keys,
                &reputations,
                everyone,
            )?;
            outcome.ungated = Some(Box::new(Round { addresses: addresses.clone(), ..ungated }));
        }
        for result in &outcome.record.settlement.labelers {
            reputations.entry(result.labeler).or_default().update(result);
        }
        if let Some(practice) = &outcome.record.practice {
            for (labeler, tally) in practice.tallies(&scenario.question.kind) {
                reputations.entry(labeler).or_default().add_practice(&tally);
            }
        }
        rounds.push(Round { addresses: addresses.clone(), ..outcome });
    }
    Ok(Run { seed, agents, rounds })
}

/// Whether an experiment keeps the scenario's qualification or admits everyone.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Gate {
    Practice,
    Open,
}

/// Where practice answers and practice tasks take their random streams: apart from every
/// experiment's.
const PRACTICE_ROUND: u32 = 1 << 31;

/// Every identity answers its practice draw from a pool of the scenario's gold-like tasks;
/// returns whether each qualified and the answers, as the record publishes them.
#[allow(clippy::too_many_arguments)]
fn practise(
    scenario: &Scenario,
    pool: Option<&Pool>,
    seed: u64,
    round: u32,
    experiment_seed: B256,
    spec: &ExperimentSpec,
    agents: &[Agent],
    keys: &[LabelerKey],
    at: u64,
) -> Result<(Vec<bool>, PracticeRecord)> {
    let qualification = spec.qualification.as_ref().expect("practice needs a qualification");
    let size = scenario.qualification.as_ref().map_or(0, |q| q.practice_tasks);
    let practice_round = PRACTICE_ROUND | round;
    let set = tasks::draw(scenario, pool, seed, practice_round, 0, size)?;
    let kind = &spec.question.kind;
    let tasks: Vec<PracticeTask> = set
        .tasks
        .into_iter()
        .map(|task| PracticeTask { task, explanation: String::new() })
        .collect();
    let mut qualified = Vec::with_capacity(agents.len());
    let mut published = Vec::new();
    for (agent, key) in agents.iter().zip(keys) {
        let labeler = key.address();
        let drawn = practice::draw(experiment_seed, labeler, &tasks, qualification.items as usize);
        let mut answers = Vec::with_capacity(drawn.len());
        for (position, &t) in drawn.iter().enumerate() {
            let order = practice::response_order(&tasks[t].task);
            let label = agent
                .answer(
                    kind,
                    seed,
                    practice_round,
                    t as u32,
                    &set.truth[t],
                    &order,
                    position as u64,
                )
                .label;
            published.push(PracticeAnswer {
                labeler,
                task: tasks[t].task.id.clone(),
                label: label.clone(),
                at,
            });
            answers.push((t, label));
        }
        let standing = practice::standing(kind, Some(qualification), &tasks, &answers, drawn.len());
        qualified.push(standing.qualified == Some(true));
    }
    Ok((qualified, PracticeRecord { tasks, answers: published }))
}

#[allow(clippy::too_many_arguments)]
fn one_round(
    scenario: &Scenario,
    pool: Option<&Pool>,
    seed: u64,
    round: u32,
    start: u64,
    agents: &[Agent],
    keys: &[LabelerKey],
    reputations: &BTreeMap<Address, Reputation>,
    gate: Gate,
) -> Result<Round> {
    let mut spec = scenario.spec(start)?;
    if gate == Gate::Open {
        spec.qualification = None;
    }
    let set =
        tasks::draw(scenario, pool, seed, round, scenario.regular_tasks(), scenario.tasks.gold)?;
    let id = word(seed, round, 0);
    let mut experiment =
        Experiment::new(id, EMBEDDED_CHAIN_ID, Address::ZERO, spec.clone(), set.tasks)?;
    experiment.open(word(seed, round, 1), true, start)?;
    let domain = experiment.domain().clone();
    let kind = spec.question.kind.clone();
    let work_secs = u64::from(spec.block_size) * u64::from(spec.limits.seconds_per_task_min);
    let joined_at = start + 1;
    let practice = match spec.qualification {
        Some(_) => {
            let seed_word = word(seed, round, 1);
            Some(practise(scenario, pool, seed, round, seed_word, &spec, agents, keys, start)?)
        }
        None => None,
    };

    let mut nonces = vec![0u64; agents.len()];
    let mut positions = vec![0u64; agents.len()];
    let mut done: Vec<bool> = match &practice {
        Some((qualified, _)) => qualified.iter().map(|q| !q).collect(),
        None => vec![false; agents.len()],
    };
    let mut unpoisoned = BTreeMap::new();
    let mut pending = Vec::new();
    let mut joins_refused = 0;
    for b in 0..scenario.market.batches_per_labeler {
        let mut order: Vec<usize> = (0..agents.len()).collect();
        Rng::stream(seed, Tag::JoinOrder, &[u64::from(round), u64::from(b)]).shuffle(&mut order);
        for i in order {
            if done[i] {
                continue;
            }
            let (agent, key) = (&agents[i], &keys[i]);
            let cohort = spec.cohorts.as_ref().map(|_| agent.cohort);
            let join = key.join(&domain, id, cohort, spec.stake_per_batch, nonces[i]);
            let reputation = reputations.get(&key.address()).copied().unwrap_or_default();
            experiment.check_eligible(&reputation)?;
            let batch = match experiment.join(&join, joined_at) {
                Ok(batch) => batch,
                Err(plumbline_core::Error::Assign(AssignError::NoBlockLeft)) => {
                    joins_refused += 1;
                    done[i] = true;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            nonces[i] += 1;
            let labels: Vec<RevealedLabel> = batch.label_with(|task, order| {
                let truth = &set.truth[task as usize];
                let answer = agent.answer(&kind, seed, round, task, truth, order, positions[i]);
                positions[i] += 1;
                if let Some(honest) = answer.unpoisoned {
                    unpoisoned.insert((batch.batch_id, task), honest);
                }
                answer.label
            });
            let commit = key
                .commit(&domain, id, batch.batch_id, &labels)
                .map_err(plumbline_core::Error::from)?;
            experiment.commit(batch.batch_id, &commit, joined_at + work_secs)?;
            pending.push((i, batch.batch_id, labels));
        }
    }
    for (i, batch_id, labels) in pending {
        let reveal =
            keys[i].reveal(&domain, id, batch_id, labels).map_err(plumbline_core::Error::from)?;
        experiment.reveal(batch_id, &reveal, spec.commit_deadline)?;
    }
    let mut record = experiment.settle(reputations, spec.reveal_deadline)?;
    let qualified = practice.map(|(qualified, published)| {
        record.practice = Some(published);
        qualified
    });
    Ok(Round {
        record,
        truth: set.truth,
        addresses: Vec::new(),
        unpoisoned,
        joins_refused,
        server_export: None,
        qualified,
        ungated: None,
    })
}
