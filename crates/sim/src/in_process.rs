//! The in-process venue: each round is a [`plumbline_core::experiment::Experiment`] driven
//! exactly as the server drives it, at times the market's loop gives. Each identity's
//! reputation carries from one round to the next, so a repeat offender's cumulative record
//! can slash it sooner. Everything follows from the run's seed.

use crate::error::Result;
use crate::market::{self, Run, word};
use crate::scenario::Scenario;
use crate::tasks::Pool;
use crate::venue::{Joining, Opened, Opening, Sent, Settled, Shown, Venue};
use plumbline_core::assign::AssignError;
use plumbline_core::client::{SignedCommit, SignedReveal};
use plumbline_core::eip712::EMBEDDED_CHAIN_ID;
use plumbline_core::experiment::Experiment;
use plumbline_core::practice::PracticeRecord;
use plumbline_core::reputation::Reputation;
use plumbline_core::spec::ExperimentSpec;
use plumbline_core::task::Task;
use plumbline_core::{Address, B256, Error};
use std::collections::BTreeMap;

/// When the first simulated experiment opens (unix seconds); later rounds open a week apart.
pub const START: u64 = 1_800_000_000;
/// Seconds between the openings of consecutive rounds.
const ROUND_SECS: u64 = 86_400 * 7;

/// Runs one seed of a scenario in process.
pub fn run(scenario: &Scenario, pool: Option<&Pool>, seed: u64) -> Result<Run> {
    market::run(scenario, pool, seed, &mut InProcess::new(seed))
}

/// The protocol core in process, for one run.
#[derive(Clone)]
pub struct InProcess {
    seed: u64,
    chain_id: u64,
    contract: Address,
    now: u64,
    reputations: BTreeMap<Address, Reputation>,
    experiment: Option<Experiment>,
}

impl InProcess {
    /// A venue for the run of `seed`, in the embedded ledger's domain: experiment ids and
    /// assignment seeds follow from the seed.
    pub fn new(seed: u64) -> InProcess {
        InProcess::in_domain(seed, EMBEDDED_CHAIN_ID, Address::ZERO)
    }

    /// A venue whose messages are signed in the domain of the market contract `contract` on
    /// chain `chain_id`, for a venue that settles there.
    pub fn in_domain(seed: u64, chain_id: u64, contract: Address) -> InProcess {
        InProcess {
            seed,
            chain_id,
            contract,
            now: START,
            reputations: BTreeMap::new(),
            experiment: None,
        }
    }

    /// Opens round `round`'s experiment as `id` at `start`.
    pub fn open_as(
        &mut self,
        id: B256,
        round: u32,
        spec: &ExperimentSpec,
        tasks: &[Task],
        start: u64,
    ) -> Result<Opened> {
        let mut experiment =
            Experiment::new(id, self.chain_id, self.contract, spec.clone(), tasks.to_vec())?;
        experiment.open(word(self.seed, round, 1), true, start)?;
        let domain = experiment.domain().clone();
        self.experiment = Some(experiment);
        self.now = start;
        Ok(Opened { id, domain })
    }

    fn experiment(&mut self) -> &mut Experiment {
        self.experiment.as_mut().expect("the market's loop opens a round before using it")
    }
}

impl Venue for InProcess {
    fn round_start(&mut self, round: u32) -> Result<u64> {
        Ok(START + u64::from(round) * ROUND_SECS)
    }

    fn open(&mut self, opening: &Opening) -> Result<Opened> {
        let Opening { round, spec, tasks, .. } = *opening;
        let start = self.round_start(round)?;
        self.open_as(word(self.seed, round, 0), round, spec, tasks, start)
    }

    fn advance(&mut self, t: u64) -> Result<()> {
        self.now = self.now.max(t);
        Ok(())
    }

    fn join(&mut self, joins: &[Joining]) -> Result<Vec<Option<Shown>>> {
        let now = self.now;
        let mut shown = Vec::with_capacity(joins.len());
        for joining in joins {
            let labeler = joining.key.address();
            let reputation = self.reputations.get(&labeler).copied().unwrap_or_default();
            let experiment = self.experiment();
            experiment.check_eligible(&reputation)?;
            let batch = match experiment.join(&joining.join, now) {
                Ok(batch) => batch,
                Err(Error::Assign(AssignError::NoBlockLeft)) => {
                    shown.push(None);
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let tasks = batch.tasks.iter().copied().zip(batch.response_orders.clone()).collect();
            shown.push(Some(Shown { batch_id: batch.batch_id, tasks }));
        }
        Ok(shown)
    }

    fn commit(&mut self, commits: &[Sent<SignedCommit>]) -> Result<()> {
        let now = self.now;
        for sent in commits {
            self.experiment().commit(sent.batch_id, &sent.message, now)?;
        }
        Ok(())
    }

    fn reveal(&mut self, reveals: &[Sent<SignedReveal>]) -> Result<()> {
        let now = self.now;
        for sent in reveals {
            self.experiment().reveal(sent.batch_id, &sent.message, now)?;
        }
        Ok(())
    }

    fn ended_early(&mut self) -> Result<bool> {
        let now = self.now;
        Ok(self.experiment().rounds_over(now))
    }

    fn settle(&mut self, practice: Option<PracticeRecord>) -> Result<Settled> {
        let now = self.now;
        let mut experiment = self.experiment.take().expect("the market's loop opens a round first");
        let mut record = experiment.settle(&self.reputations, now)?;
        for result in &record.settlement.labelers {
            self.reputations.entry(result.labeler).or_default().update(result);
        }
        if let Some(practice) = &practice {
            for (labeler, tally) in practice.tallies(&record.spec.question.kind) {
                self.reputations.entry(labeler).or_default().add_practice(&tally);
            }
        }
        record.practice = practice;
        Ok(Settled { record, export_classes: None })
    }

    fn rehearsal(&self) -> Option<InProcess> {
        Some(self.clone())
    }
}
