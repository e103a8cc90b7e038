//! The market's loop, written once over a [`Venue`]: a run is a sequence of `rounds`
//! experiments over the same population, and every round goes through the real protocol —
//! each identity a derived secp256k1 key, a signed `Join` (stake locked, batch assigned),
//! labels mapped back from the shown response order, a signed commitment over the labels'
//! Merkle root after the work's minimum time, a signed reveal after the commit deadline, and
//! settlement after the reveal deadline. With adaptive rounds in the spec, joins, commits and
//! reveals repeat in every round's window before settlement.
//!
//! Joins go batch by batch: every identity's first batch (in a seeded order), then every
//! second batch, and so on, so that each block is filled by a mix of strategies.
//!
//! With a qualification, every identity first answers its practice draw, and only those who
//! qualify join; the same experiment is then run again with everyone admitted, on a
//! [`Venue::rehearsal`] of the venue, so that a run measures the export with the gate against
//! the export without it on the very same labels.

use crate::agents::{Agent, roster};
use crate::error::{Result, SimError};
use crate::rng::{Rng, Tag};
use crate::scenario::Scenario;
use crate::tasks::{self, Pool, Truth};
use crate::venue::{Joining, Opened, Opening, Sent, Venue};
use plumbline_core::client::{LabelerKey, RevealedLabel};
use plumbline_core::label::Label;
use plumbline_core::practice::{self, PracticeAnswer, PracticeRecord, PracticeTask};
use plumbline_core::record::PublicRecord;
use plumbline_core::spec::ExperimentSpec;
use plumbline_core::{Address, B256};
use std::collections::BTreeMap;

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

/// Runs one seed of a scenario at `venue`.
pub fn run<V: Venue>(
    scenario: &Scenario,
    pool: Option<&Pool>,
    seed: u64,
    venue: &mut V,
) -> Result<Run> {
    let agents = roster(scenario, seed);
    let keys: Vec<LabelerKey> = (0..agents.len()).map(|i| identity_key(seed, i)).collect();
    let addresses: Vec<Address> = keys.iter().map(LabelerKey::address).collect();
    let population = Population { scenario, pool, seed, agents: &agents, keys: &keys };
    let mut rounds = Vec::new();
    for round in 0..scenario.rounds {
        let rehearsal = venue.rehearsal();
        let mut outcome = population.round(round, venue, Gate::Practice)?;
        if scenario.qualification.is_some() {
            let mut everyone = rehearsal.ok_or_else(|| SimError::Server {
                url: String::new(),
                message: "a scenario with a qualification runs in process only (without --server)"
                    .into(),
            })?;
            let ungated = population.round(round, &mut everyone, Gate::Open)?;
            outcome.ungated = Some(Box::new(Round { addresses: addresses.clone(), ..ungated }));
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

/// A run's scenario and population: who labels, with which keys, from which random streams.
struct Population<'a> {
    scenario: &'a Scenario,
    pool: Option<&'a Pool>,
    seed: u64,
    agents: &'a [Agent],
    keys: &'a [LabelerKey],
}

/// What the joins of a round came to.
struct Labeling {
    /// Every batch joined, with its labels.
    labeled: Vec<Labeled>,
    /// Labels poisoners replaced on triggered tasks: (batch id, task) → the honest label.
    unpoisoned: BTreeMap<(u64, u32), Label>,
    /// Joins refused because no block was left that the identity had not done.
    joins_refused: usize,
}

/// Each identity's joins so far (its next nonce) and labels given (its place in its session),
/// carried from one commit-reveal round of an experiment to the next.
struct Sessions {
    nonces: Vec<u64>,
    positions: Vec<u64>,
}

impl Sessions {
    fn new(identities: usize) -> Sessions {
        Sessions { nonces: vec![0; identities], positions: vec![0; identities] }
    }
}

/// A labeler's batch with its labels, signed and sent once the work is done.
struct Labeled {
    labeler: usize,
    batch_id: u64,
    labels: Vec<RevealedLabel>,
}

impl Population<'_> {
    /// One round at `venue`: open, joins, commits, reveals, settlement.
    fn round(&self, round: u32, venue: &mut impl Venue, gate: Gate) -> Result<Round> {
        let (scenario, seed) = (self.scenario, self.seed);
        let start = venue.round_start(round)?;
        let mut spec = scenario.spec(start)?;
        if gate == Gate::Open {
            spec.qualification = None;
        }
        let set = tasks::draw(
            scenario,
            self.pool,
            seed,
            round,
            scenario.regular_tasks(),
            scenario.tasks.gold,
        )?;
        let market = &scenario.market;
        let opened = venue.open(&Opening {
            round,
            spec: &spec,
            tasks: &set.tasks,
            pool: u128::from(market.reward_pool),
            labelers: self.keys,
            // Enough for every batch an identity may take, later rounds' included.
            stakes: u128::from(market.stake_per_batch)
                * u128::from(spec.limits.batches_per_labeler_max),
        })?;
        let practice = match spec.qualification {
            Some(_) => Some(self.practise(round, word(seed, round, 1), &spec, start)?),
            None => None,
        };
        let joined_at = start + 1;

        let excluded: Vec<bool> = match &practice {
            Some((qualified, _)) => qualified.iter().map(|q| !q).collect(),
            None => vec![false; self.agents.len()],
        };
        // Every commit-reveal round of the experiment: one unless the spec has adaptive rounds,
        // whose later rounds open at the previous round's reveal deadline.
        let windows = spec.round_windows();
        let work_secs = u64::from(spec.block_size) * u64::from(spec.limits.seconds_per_task_min);
        let mut sessions = Sessions::new(self.agents.len());
        let (mut unpoisoned, mut joins_refused) = (BTreeMap::new(), 0);
        let mut ended_early = false;
        for (stage, window) in windows.iter().enumerate() {
            let opens = if stage == 0 { joined_at } else { windows[stage - 1].reveal_deadline };
            venue.advance(opens)?;
            // Rounds that would ask nothing more end the experiment (`docs/protocol.md`, Rounds).
            if stage > 0 && venue.ended_early()? {
                ended_early = true;
                break;
            }
            let labeling = self.labeling(
                round,
                stage as u32,
                venue,
                &spec,
                &opened,
                &set,
                excluded.clone(),
                &mut sessions,
            )?;
            unpoisoned.extend(labeling.unpoisoned);
            joins_refused += labeling.joins_refused;
            venue.advance(opens + work_secs)?;
            let commits = labeling
                .labeled
                .iter()
                .map(|l| {
                    let commit = self.keys[l.labeler].commit(
                        &opened.domain,
                        opened.id,
                        l.batch_id,
                        &l.labels,
                    );
                    let message = commit.map_err(plumbline_core::Error::from)?;
                    Ok(Sent { labeler: l.labeler, batch_id: l.batch_id, message })
                })
                .collect::<Result<Vec<_>>>()?;
            venue.commit(&commits)?;
            venue.advance(window.commit_deadline)?;
            let reveals = labeling
                .labeled
                .into_iter()
                .map(|l| {
                    let reveal = self.keys[l.labeler].reveal(
                        &opened.domain,
                        opened.id,
                        l.batch_id,
                        l.labels,
                    );
                    let message = reveal.map_err(plumbline_core::Error::from)?;
                    Ok(Sent { labeler: l.labeler, batch_id: l.batch_id, message })
                })
                .collect::<Result<Vec<_>>>()?;
            venue.reveal(&reveals)?;
        }
        if !ended_early {
            venue.advance(spec.final_reveal_deadline())?;
        }
        let (qualified, published) = practice.unzip();
        let settled = venue.settle(published)?;
        Ok(Round {
            record: settled.record,
            truth: set.truth,
            addresses: Vec::new(),
            unpoisoned,
            joins_refused,
            server_export: settled.export_classes,
            qualified,
            ungated: None,
        })
    }

    /// The joins of one commit-reveal round (`stage`, 0 unless the spec has adaptive rounds),
    /// batch by batch, and the labels each identity gives its batches: `batches_per_labeler`
    /// batches in the first round, one more in each later round. Identities marked `done` (not
    /// qualified) do not join; one refused a batch joins no more in this round.
    #[allow(clippy::too_many_arguments)]
    fn labeling(
        &self,
        round: u32,
        stage: u32,
        venue: &mut impl Venue,
        spec: &ExperimentSpec,
        opened: &Opened,
        set: &tasks::TaskSet,
        mut done: Vec<bool>,
        sessions: &mut Sessions,
    ) -> Result<Labeling> {
        let seed = self.seed;
        let Sessions { nonces, positions } = sessions;
        let mut out =
            Labeling { labeled: Vec::new(), unpoisoned: BTreeMap::new(), joins_refused: 0 };
        let batches = if stage == 0 { self.scenario.market.batches_per_labeler } else { 1 };
        for b in 0..batches {
            let mut order: Vec<usize> = (0..self.agents.len()).collect();
            // The first round's join order is the one an experiment of one round has.
            let mut stream = vec![u64::from(round), u64::from(b)];
            if stage > 0 {
                stream.push(u64::from(stage));
            }
            Rng::stream(seed, Tag::JoinOrder, &stream).shuffle(&mut order);
            let joins: Vec<Joining> = order
                .into_iter()
                .filter(|&i| !done[i])
                .map(|i| {
                    let (agent, key) = (&self.agents[i], &self.keys[i]);
                    let cohort = spec.cohorts.as_ref().map(|_| agent.cohort);
                    let stake = spec.stake_per_batch;
                    let join = key.join(&opened.domain, opened.id, cohort, stake, nonces[i]);
                    Joining { labeler: i, key, join }
                })
                .collect();
            let shown = venue.join(&joins)?;
            for (joining, batch) in joins.iter().zip(shown) {
                let i = joining.labeler;
                let Some(batch) = batch else {
                    out.joins_refused += 1;
                    done[i] = true;
                    continue;
                };
                nonces[i] += 1;
                let mut labels = Vec::with_capacity(batch.tasks.len());
                for (position, (task, order)) in batch.tasks.iter().enumerate() {
                    let truth = &set.truth[*task as usize];
                    let kind = &spec.question.kind;
                    let answer =
                        self.agents[i].answer(kind, seed, round, *task, truth, order, positions[i]);
                    positions[i] += 1;
                    if let Some(honest) = answer.unpoisoned {
                        out.unpoisoned.insert((batch.batch_id, *task), honest);
                    }
                    labels.push(RevealedLabel { task: position as u32, label: answer.label });
                }
                out.labeled.push(Labeled { labeler: i, batch_id: batch.batch_id, labels });
            }
        }
        Ok(out)
    }

    /// Every identity answers its practice draw from a pool of the scenario's gold-like
    /// tasks; returns whether each qualified and the answers, as the record publishes them.
    fn practise(
        &self,
        round: u32,
        experiment_seed: B256,
        spec: &ExperimentSpec,
        at: u64,
    ) -> Result<(Vec<bool>, PracticeRecord)> {
        let scenario = self.scenario;
        let qualification = spec.qualification.as_ref().expect("practice needs a qualification");
        let size = scenario.qualification.as_ref().map_or(0, |q| q.practice_tasks);
        let practice_round = PRACTICE_ROUND | round;
        let set = tasks::draw(scenario, self.pool, self.seed, practice_round, 0, size)?;
        let kind = &spec.question.kind;
        let tasks: Vec<PracticeTask> = set
            .tasks
            .into_iter()
            .map(|task| PracticeTask { task, explanation: String::new() })
            .collect();
        let mut qualified = Vec::with_capacity(self.agents.len());
        let mut published = Vec::new();
        for (agent, key) in self.agents.iter().zip(self.keys) {
            let labeler = key.address();
            let drawn =
                practice::draw(experiment_seed, labeler, &tasks, qualification.items as usize);
            let mut answers = Vec::with_capacity(drawn.len());
            for (position, &t) in drawn.iter().enumerate() {
                let order = practice::response_order(&tasks[t].task);
                let truth = &set.truth[t];
                let label = agent
                    .answer(
                        kind,
                        self.seed,
                        practice_round,
                        t as u32,
                        truth,
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
            let standing =
                practice::standing(kind, Some(qualification), &tasks, &answers, drawn.len());
            qualified.push(standing.qualified == Some(true));
        }
        Ok((qualified, PracticeRecord { tasks, answers: published }))
    }
}
