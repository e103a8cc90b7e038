//! A seeded best-of experiment run end to end through the real protocol (see
//! [`crate::knockout`]): one prompt whose responses have a hidden order of quality, labelers
//! who prefer the better response of a pair with their skill, and gold comparisons of known
//! answer. In every round the labelers join in turn, pass after pass, while blocks are left
//! for them (up to the spec's batches per labeler), answer, commit and reveal; the experiment
//! settles after the last round.

use super::SplitMix64;
use crate::client::{LabelerKey, RevealedLabel};
use crate::eip712::EMBEDDED_CHAIN_ID;
use crate::experiment::Experiment;
use crate::fixed::Ppm;
use crate::label::Label;
use crate::record::PublicRecord;
use crate::rounds::{RoundRule, Rounds};
use crate::spec::{ExperimentSpec, QuestionKind};
use crate::task::Task;
use crate::{Address, B256, Result};
use std::collections::BTreeMap;

/// What to run.
#[derive(Clone, Debug)]
pub struct Params {
    /// Responses of the one prompt.
    pub responses: u32,
    /// Each labeler's chance (ppm) of preferring the better response of a pair.
    pub skills: Vec<u32>,
    /// Gold comparisons in the pool.
    pub gold_tasks: usize,
    /// Comparisons per block (gold not counted).
    pub block_size: u32,
    /// Gold comparisons per batch.
    pub gold_per_batch: u32,
    /// Batches one labeler may take over the whole experiment.
    pub batches_max: u32,
    /// Rounds, the first included.
    pub rounds: u32,
    /// First votes per match (the spec's overlap).
    pub first_votes: u32,
    /// The most votes one match takes.
    pub match_votes_max: u32,
    /// How sure the winner must be.
    pub confidence: Ppm,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            responses: 64,
            skills: (0..20).map(|i| 750_000 + (i % 4) * 50_000).collect(),
            gold_tasks: 400,
            block_size: 4,
            gold_per_batch: 1,
            batches_max: 10,
            rounds: 24,
            first_votes: 3,
            match_votes_max: 15,
            confidence: Ppm::new(950_000).expect("below one"),
        }
    }
}

impl Params {
    /// The experiment's spec.
    pub fn spec(&self) -> ExperimentSpec {
        let mut spec = super::binary_spec(self.block_size, self.first_votes, self.gold_per_batch);
        spec.title = "Synthetic best of N".into();
        spec.question.kind = QuestionKind::Pairwise { strength_max: 2, allow_tie: false };
        spec.question.instructions = "Which response is better?".into();
        spec.limits.batches_per_labeler_max = self.batches_max;
        spec.rounds = Some(Rounds {
            rule: RoundRule::BestOf,
            count: self.rounds,
            labels_max: self.match_votes_max,
            confidence: self.confidence,
            commit_within: crate::duration::Duration::from_secs(3_600),
            reveal_within: crate::duration::Duration::from_secs(3_600),
        });
        spec
    }
}

/// The outcome of a run.
#[derive(Debug)]
pub struct Run {
    /// The public record.
    pub record: PublicRecord,
    /// Labeler addresses by index.
    pub addresses: Vec<Address>,
    /// The best response.
    pub best: u32,
    /// Every response's quality rank: 0 for the best.
    pub rank: Vec<u32>,
}

/// Runs one best-of experiment from open to settlement.
pub fn run(params: &Params, seed: u64) -> Result<Run> {
    let mut rng = SplitMix64::new(seed);
    let spec = params.spec();
    let n = params.responses;
    // A hidden order of quality: rank[i] = 0 for the best response.
    let mut order: Vec<u32> = (0..n).collect();
    for i in (1..order.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    let mut rank = vec![0u32; n as usize];
    for (r, &response) in order.iter().enumerate() {
        rank[response as usize] = r as u32;
    }
    let prompt = Task {
        id: "prompt".into(),
        prompt: String::from("Write the best answer.").into(),
        responses: (0..n).map(|i| format!("response {i}")).collect(),
        gold: None,
        meta: Default::default(),
    };
    let gold = (0..params.gold_tasks).map(|g| Task {
        id: format!("gold-{g}"),
        prompt: format!("Gold comparison {g}").into(),
        responses: vec!["a".into(), "b".into()],
        gold: Some(Label::Int(if rng.chance(500_000) { -1 } else { 1 })),
        meta: Default::default(),
    });
    let lines: Vec<Task> = std::iter::once(prompt).chain(gold).collect();
    let tasks = crate::knockout::expand(lines).map_err(crate::task::TaskError::File)?;
    // The canonical label a labeler who is right gives: negative prefers the first response.
    let right: Vec<i64> = tasks
        .iter()
        .map(|t| match (&t.gold, crate::knockout::pair(t)) {
            (Some(gold), _) => gold.as_int().expect("a pairwise gold answer").signum(),
            (None, Some((_, i, j))) => {
                if rank[i as usize] < rank[j as usize] {
                    -1
                } else {
                    1
                }
            }
            (None, None) => unreachable!("every regular task is a pair"),
        })
        .collect();

    let experiment_id = B256::from(alloy_primitives::keccak256(seed.to_be_bytes()));
    let mut experiment =
        Experiment::new(experiment_id, EMBEDDED_CHAIN_ID, Address::ZERO, spec.clone(), tasks)?;
    let opened_at = spec.commit_deadline - 10_000;
    let assignment_seed = B256::from(alloy_primitives::keccak256((seed ^ 0xb0f).to_be_bytes()));
    experiment.open(assignment_seed, true, opened_at)?;
    let keys: Vec<LabelerKey> =
        (0..params.skills.len()).map(|i| LabelerKey::derived(seed, i as u64)).collect();
    let domain = experiment.domain().clone();
    let windows = spec.round_windows();
    let mut joined = vec![0u64; keys.len()];
    for (round, window) in windows.iter().enumerate() {
        let opens = if round == 0 { opened_at } else { windows[round - 1].reveal_deadline };
        let mut pending = Vec::new();
        // Labelers join in turn, pass after pass, while any of them still gets a block.
        let mut at = opens;
        loop {
            let before = pending.len();
            for (i, key) in keys.iter().enumerate() {
                at += 1;
                let join = key.join(&domain, experiment_id, None, spec.stake_per_batch, joined[i]);
                let batch = match experiment.join(&join, at.min(window.commit_deadline - 2)) {
                    Ok(batch) => batch,
                    Err(crate::Error::Assign(_)) => continue,
                    Err(e) => return Err(e),
                };
                joined[i] += 1;
                let labels: Vec<RevealedLabel> = batch.label_with(|task, _| {
                    let better = right[task as usize];
                    let side = if rng.chance(params.skills[i]) { better } else { -better };
                    Label::Int(side * (1 + rng.below(2) as i64))
                });
                let commit = key.commit(&domain, experiment_id, batch.batch_id, &labels)?;
                experiment.commit(batch.batch_id, &commit, window.commit_deadline - 1)?;
                pending.push((i, batch.batch_id, labels));
            }
            if pending.len() == before {
                break;
            }
        }
        for (i, batch_id, labels) in pending {
            let reveal = keys[i].reveal(&domain, experiment_id, batch_id, labels)?;
            experiment.reveal(batch_id, &reveal, window.commit_deadline + 1)?;
        }
    }
    let record = experiment.settle(&BTreeMap::new(), spec.final_reveal_deadline())?;
    let best = order[0];
    Ok(Run { record, addresses: keys.iter().map(LabelerKey::address).collect(), best, rank })
}
