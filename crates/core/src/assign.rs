//! Blocks, batches and assignment. Regular tasks are cut into blocks of `block_size` in import
//! order; a labeler who joins gets one block it has not done, chosen by a seeded PRF among the
//! blocks still below overlap (for its cohort), plus `gold_per_batch` gold tasks, in a shuffled
//! order, with the responses of pairwise and ranking tasks shuffled too. The seed is committed
//! by its hash when the experiment opens and revealed at settlement, so the join log and the
//! seed reproduce every assignment.
//!
//! The PRF: `keccak256(seed ‖ tag ‖ be64(a) ‖ be64(b))`, its first 16 bytes read as a
//! big-endian u128 and reduced modulo the range (bias below 2^-64 for ranges under 2^64).

use crate::label::Label;
use crate::spec::ExperimentSpec;
use crate::task::Task;
use crate::{Address, B256};
use alloy_primitives::keccak256;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How the regular tasks are cut into blocks, and which tasks are gold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Task indices of each block, in import order.
    pub blocks: Vec<Vec<u32>>,
    /// Task indices of the gold tasks, in import order.
    pub gold: Vec<u32>,
}

impl Plan {
    /// Cuts the regular tasks into blocks of `block_size`; the last block may be shorter.
    pub fn new(tasks: &[Task], block_size: u32) -> Plan {
        let (gold, regular): (Vec<u32>, Vec<u32>) =
            (0..tasks.len() as u32).partition(|&i| tasks[i as usize].is_gold());
        let blocks = regular.chunks(block_size as usize).map(<[u32]>::to_vec).collect();
        Plan { blocks, gold }
    }
}

/// The seeded pseudo-random function behind every assignment choice.
#[derive(Clone, Debug)]
pub struct Prf {
    seed: B256,
}

impl Prf {
    /// A PRF keyed by the experiment's seed.
    pub fn new(seed: B256) -> Prf {
        Prf { seed }
    }

    /// A uniform index in `0..range` for the tagged inputs.
    pub fn below(&self, tag: &str, a: u64, b: u64, range: usize) -> usize {
        assert!(range > 0, "empty range");
        let mut input = Vec::with_capacity(32 + tag.len() + 16);
        input.extend_from_slice(self.seed.as_slice());
        input.extend_from_slice(tag.as_bytes());
        input.extend_from_slice(&a.to_be_bytes());
        input.extend_from_slice(&b.to_be_bytes());
        let hash = keccak256(&input);
        let word = u128::from_be_bytes(hash[..16].try_into().expect("16 bytes"));
        (word % range as u128) as usize
    }

    /// Fisher-Yates shuffle driven by the PRF.
    pub fn shuffle<T>(&self, tag: &str, a: u64, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(tag, a, i as u64, i + 1);
            items.swap(i, j);
        }
    }
}

/// The seed's public commitment, published when the experiment opens.
pub fn seed_hash(seed: B256) -> B256 {
    keccak256(seed)
}

/// A labeler asking for a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    /// The labeler.
    pub labeler: Address,
    /// The cohort it declares, when the experiment has cohorts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cohort: Option<String>,
    /// When it joined (unix seconds).
    pub at: u64,
}

/// A labeler's batch: one block plus gold tasks, in its own order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// Sequential within the experiment: the index of the join in the join log.
    pub batch_id: u64,
    /// The labeler.
    pub labeler: Address,
    /// Its cohort, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cohort: Option<String>,
    /// The block index.
    pub block: u32,
    /// Task indices in the order shown to this labeler.
    pub tasks: Vec<u32>,
    /// Per shown task: shown position → canonical response index (empty when not shuffled).
    pub response_orders: Vec<Vec<u8>>,
    /// When it was assigned (unix seconds).
    pub assigned_at: u64,
}

/// A join that cannot be served.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AssignError {
    /// The experiment has cohorts and the labeler named none.
    #[error("this experiment has cohorts: declare one of {0:?}")]
    CohortRequired(Vec<String>),
    /// The named cohort is not one of the experiment's.
    #[error("cohort {0:?} is not one of this experiment's")]
    UnknownCohort(String),
    /// The experiment has no cohorts but one was named.
    #[error("this experiment has no cohorts")]
    NoCohorts,
    /// The labeler has taken its most batches.
    #[error("a labeler may take at most {0} batches in this experiment")]
    BatchLimit(u32),
    /// The labeler has taken its most batches this hour.
    #[error("a labeler may take at most {0} batches per hour")]
    HourlyLimit(u32),
    /// No block below overlap remains that this labeler has not done.
    #[error("no block is left for this labeler")]
    NoBlockLeft,
}

/// The assignment state of one experiment, rebuilt by replaying the join log.
#[derive(Clone, Debug)]
pub struct Assigner {
    prf: Prf,
    plan: Plan,
    overlap: u32,
    gold_per_batch: u32,
    shuffles_responses: bool,
    responses: Vec<u8>,
    batches_max: u32,
    per_hour_max: u32,
    cohorts: Vec<String>,
    /// Labelers per (block, cohort), indexed `block * cohorts + cohort`.
    fill: Vec<u32>,
    /// Per cohort: blocks still below overlap, ascending.
    open_blocks: Vec<Vec<u32>>,
    /// Per labeler: the blocks it has and when it joined for each.
    taken: HashMap<Address, Vec<(u32, u64)>>,
    next_batch_id: u64,
}

impl Assigner {
    /// A fresh assigner for an opened experiment.
    pub fn new(spec: &ExperimentSpec, tasks: &[Task], seed: B256) -> Assigner {
        let plan = Plan::new(tasks, spec.block_size);
        let cohorts = spec.cohorts.as_ref().map(|c| c.values.clone()).unwrap_or_default();
        let groups = cohorts.len().max(1);
        let open: Vec<u32> = (0..plan.blocks.len() as u32).collect();
        let responses = tasks.iter().map(|t| t.responses.len() as u8).collect();
        Assigner {
            prf: Prf::new(seed),
            fill: vec![0; plan.blocks.len() * groups],
            open_blocks: vec![open; groups],
            plan,
            overlap: spec.overlap,
            gold_per_batch: spec.gold_per_batch,
            shuffles_responses: spec.question.kind.shuffles_responses(),
            responses,
            batches_max: spec.limits.batches_per_labeler_max,
            per_hour_max: spec.limits.batches_per_labeler_per_hour_max,
            cohorts,
            taken: HashMap::new(),
            next_batch_id: 0,
        }
    }

    /// The plan the assigner works from.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Assigns a batch, or explains why none can be given; a refusal changes nothing.
    pub fn assign(&mut self, request: &JoinRequest) -> Result<Batch, AssignError> {
        let group = self.cohort_group(request.cohort.as_deref())?;
        let taken = self.taken.get(&request.labeler).map(Vec::as_slice).unwrap_or(&[]);
        if taken.len() >= self.batches_max as usize {
            return Err(AssignError::BatchLimit(self.batches_max));
        }
        if self.per_hour_max > 0 {
            let hour_ago = request.at.saturating_sub(3600);
            let recent = taken.iter().filter(|(_, at)| *at > hour_ago).count();
            if recent >= self.per_hour_max as usize {
                return Err(AssignError::HourlyLimit(self.per_hour_max));
            }
        }
        let batch_id = self.next_batch_id;
        let open = &self.open_blocks[group];
        let block = if taken.is_empty() {
            if open.is_empty() {
                return Err(AssignError::NoBlockLeft);
            }
            open[self.prf.below("block", batch_id, 0, open.len())]
        } else {
            let candidates: Vec<u32> =
                open.iter().copied().filter(|b| taken.iter().all(|(t, _)| t != b)).collect();
            if candidates.is_empty() {
                return Err(AssignError::NoBlockLeft);
            }
            candidates[self.prf.below("block", batch_id, 0, candidates.len())]
        };

        let groups = self.open_blocks.len();
        let slot = block as usize * groups + group;
        self.fill[slot] += 1;
        if self.fill[slot] >= self.overlap {
            let open = &mut self.open_blocks[group];
            let at = open.binary_search(&block).expect("an open block is listed");
            open.remove(at);
        }
        self.taken.entry(request.labeler).or_default().push((block, request.at));
        self.next_batch_id += 1;

        let mut tasks = self.plan.blocks[block as usize].clone();
        tasks.extend(self.pick_gold(batch_id));
        self.prf.shuffle("order", batch_id, &mut tasks);
        let response_orders = tasks
            .iter()
            .map(|&task| {
                let n = self.responses[task as usize];
                if !self.shuffles_responses || n < 2 {
                    return Vec::new();
                }
                let mut order: Vec<u8> = (0..n).collect();
                self.prf.shuffle("responses", batch_id << 32 | u64::from(task), &mut order);
                order
            })
            .collect();
        Ok(Batch {
            batch_id,
            labeler: request.labeler,
            cohort: request.cohort.clone(),
            block,
            tasks,
            response_orders,
            assigned_at: request.at,
        })
    }

    fn cohort_group(&self, cohort: Option<&str>) -> Result<usize, AssignError> {
        match (cohort, self.cohorts.is_empty()) {
            (None, true) => Ok(0),
            (Some(_), true) => Err(AssignError::NoCohorts),
            (None, false) => Err(AssignError::CohortRequired(self.cohorts.clone())),
            (Some(name), false) => self
                .cohorts
                .iter()
                .position(|c| c == name)
                .ok_or_else(|| AssignError::UnknownCohort(name.to_owned())),
        }
    }

    fn pick_gold(&self, batch_id: u64) -> Vec<u32> {
        // A partial Fisher-Yates: the first `gold_per_batch` of a PRF shuffle of the gold set.
        let mut gold = self.plan.gold.clone();
        let count = (self.gold_per_batch as usize).min(gold.len());
        for i in 0..count {
            let j = i + self.prf.below("gold", batch_id, i as u64, gold.len() - i);
            gold.swap(i, j);
        }
        gold.truncate(count);
        gold
    }
}

/// Maps a label given against the shown response order back to the canonical order.
pub fn to_canonical(label: &Label, response_order: &[u8]) -> Label {
    match label {
        // Shown order [1, 0] means the shown A is canonical B: the preference flips sign.
        Label::Int(v) if response_order == [1, 0] => Label::Int(-v),
        Label::Ranking(shown) if !response_order.is_empty() => {
            Label::Ranking(shown.iter().map(|&p| response_order[p as usize]).collect())
        }
        other => other.clone(),
    }
}

/// Maps a canonical label to the shown response order (the inverse of [`to_canonical`]).
pub fn to_shown(label: &Label, response_order: &[u8]) -> Label {
    match label {
        Label::Int(v) if response_order == [1, 0] => Label::Int(-v),
        Label::Ranking(canonical) if !response_order.is_empty() => {
            let mut shown_of = vec![0u8; response_order.len()];
            for (shown, &canon) in response_order.iter().enumerate() {
                shown_of[canon as usize] = shown as u8;
            }
            Label::Ranking(canonical.iter().map(|&c| shown_of[c as usize]).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{ExperimentSpec, SpecFormat};

    fn setup(regular: usize, gold: usize) -> (ExperimentSpec, Vec<Task>) {
        let spec =
            ExperimentSpec::parse(include_str!("../tests/data/pairwise.toml"), SpecFormat::Toml)
                .unwrap();
        let tasks = (0..regular + gold)
            .map(|i| Task {
                id: format!("t{i}"),
                prompt: String::new(),
                responses: vec!["a".into(), "b".into()],
                gold: (i >= regular).then_some(Label::Int(1)),
                meta: Default::default(),
            })
            .collect();
        (spec, tasks)
    }

    fn labeler(i: u8) -> Address {
        Address::repeat_byte(i)
    }

    #[test]
    fn blocks_fill_to_overlap_and_no_further() {
        let (spec, tasks) = setup(40, 5);
        let mut assigner = Assigner::new(&spec, &tasks, B256::repeat_byte(7));
        assert_eq!(assigner.plan().blocks.len(), 4);
        let mut per_block = [0u32; 4];
        for i in 0..12 {
            let batch = assigner.assign(&JoinRequest { labeler: labeler(i), cohort: None, at: 0 });
            let batch = batch.unwrap();
            assert_eq!(batch.tasks.len(), 12, "10 regular + 2 gold");
            per_block[batch.block as usize] += 1;
        }
        assert_eq!(per_block, [3; 4]);
        let full = assigner.assign(&JoinRequest { labeler: labeler(99), cohort: None, at: 0 });
        assert_eq!(full.unwrap_err(), AssignError::NoBlockLeft);
    }

    #[test]
    fn replaying_the_join_log_reproduces_every_batch() {
        let (spec, tasks) = setup(30, 4);
        let seed = B256::repeat_byte(3);
        let joins: Vec<JoinRequest> = (0..9)
            .map(|i| JoinRequest { labeler: labeler(i), cohort: None, at: i.into() })
            .collect();
        let run = || {
            let mut a = Assigner::new(&spec, &tasks, seed);
            joins.iter().map(|j| a.assign(j).unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
        let mut other = Assigner::new(&spec, &tasks, B256::repeat_byte(4));
        let differs = joins.iter().map(|j| other.assign(j).unwrap()).collect::<Vec<_>>() != run();
        assert!(differs, "another seed gives other batches");
    }

    #[test]
    fn shown_and_canonical_labels_map_both_ways() {
        assert_eq!(to_canonical(&Label::Int(2), &[1, 0]), Label::Int(-2));
        assert_eq!(to_canonical(&Label::Int(2), &[0, 1]), Label::Int(2));
        let order = [2u8, 0, 1];
        let shown = Label::Ranking(vec![0, 2, 1]);
        let canonical = to_canonical(&shown, &order);
        assert_eq!(canonical, Label::Ranking(vec![2, 1, 0]));
        assert_eq!(to_shown(&canonical, &order), shown);
    }
}
