//! Blocks, batches and assignment. The regular tasks are shuffled by a seeded PRF and cut into
//! blocks of `block_size`, and each block is given its own `gold_per_batch` gold tasks; a
//! labeler who joins gets one block it has not done, chosen by the PRF among the blocks still
//! below overlap (for its cohort; with cohorts, among those already holding members of its
//! cohort when there are any), with the block's gold, in a shuffled order, with the
//! responses of pairwise and ranking tasks shuffled too. The seed is committed by its hash when
//! the experiment opens and revealed at settlement, so the join log and the seed reproduce
//! every assignment.
//!
//! **Gold stays secret.** A labeler sees its tasks only by their position in its own shuffled
//! batch (labels are committed and revealed by position), never by their index in the
//! experiment, so import order, where gold often sits at the end, tells nothing. Every batch of
//! a block holds the same tasks, gold included, so gold is shared exactly like regular tasks;
//! blocks get disjoint gold while the gold pool lasts (`gold ≥ blocks × gold_per_batch`), and
//! only past that does a gold task appear in two blocks.
//!
//! The PRF: `keccak256(seed ‖ tag ‖ be64(a) ‖ be64(b))`, its first 16 bytes read as a
//! big-endian u128 and reduced modulo the range (bias below 2^-64 for ranges under 2^64).

use crate::label::Label;
use crate::spec::ExperimentSpec;
use crate::task::Task;
use crate::{Address, B256};
use alloy_primitives::keccak256;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// How the regular tasks are cut into blocks, and which gold tasks go with each block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Task indices of each block, ascending.
    pub blocks: Vec<Vec<u32>>,
    /// Task indices of the gold tasks of each block, ascending.
    pub block_gold: Vec<Vec<u32>>,
    /// The gold tasks in the order they are dealt to blocks.
    gold: Vec<u32>,
    /// Gold tasks per block.
    gold_per_block: usize,
    block_size: u32,
}

impl Plan {
    /// Shuffles the regular tasks with the PRF (tag `"blocks"`) and cuts them into blocks of
    /// `block_size`, the last possibly shorter; deals the PRF-shuffled gold list (tag
    /// `"gold"`) to the blocks in turn, `gold_per_batch` each (fewer when there is less gold).
    pub fn new(tasks: &[Task], block_size: u32, gold_per_batch: u32, prf: &Prf) -> Plan {
        let regular: Vec<u32> =
            (0..tasks.len() as u32).filter(|&i| !tasks[i as usize].is_gold()).collect();
        Plan::over(tasks, regular, block_size, gold_per_batch, prf)
    }

    /// [`Plan::new`] over the regular tasks `regular` (ascending) alone: the first round of a
    /// best-of experiment asks only its first matches.
    pub fn over(
        tasks: &[Task],
        mut regular: Vec<u32>,
        block_size: u32,
        gold_per_batch: u32,
        prf: &Prf,
    ) -> Plan {
        let mut gold: Vec<u32> =
            (0..tasks.len() as u32).filter(|&i| tasks[i as usize].is_gold()).collect();
        prf.shuffle("blocks", 0, &mut regular);
        prf.shuffle("gold", 0, &mut gold);
        let gold_per_block = (gold_per_batch as usize).min(gold.len());
        let mut plan =
            Plan { blocks: Vec::new(), block_gold: Vec::new(), gold, gold_per_block, block_size };
        plan.add_blocks(&regular);
        plan
    }

    /// Cuts `tasks` (in the order given) into new blocks of the block size, the last possibly
    /// shorter, each dealt the next gold tasks in turn; returns the new blocks' indices.
    fn add_blocks(&mut self, tasks: &[u32]) -> std::ops::Range<u32> {
        let first = self.blocks.len() as u32;
        for chunk in tasks.chunks(self.block_size as usize) {
            self.push_block(chunk.to_vec());
        }
        first..self.blocks.len() as u32
    }

    /// Deals `tasks` (distinct, in the order given, each with how many labels it wants) to new
    /// blocks so that no block holds a task twice: the copies are laid out task by task and
    /// dealt in turn to `B` blocks, `B` the larger of the most copies and what the block size
    /// needs. Returns the new blocks' indices.
    fn deal_copies(&mut self, tasks: &[(u32, u32)]) -> std::ops::Range<u32> {
        let first = self.blocks.len() as u32;
        let total: u32 = tasks.iter().map(|(_, copies)| copies).sum();
        let most = tasks.iter().map(|(_, copies)| *copies).max().unwrap_or(0);
        let count = most.max(total.div_ceil(self.block_size)) as usize;
        let mut dealt: Vec<Vec<u32>> = vec![Vec::new(); count];
        let copies =
            tasks.iter().flat_map(|&(task, copies)| std::iter::repeat_n(task, copies as usize));
        for (position, task) in copies.enumerate() {
            dealt[position % count].push(task);
        }
        for block in dealt {
            self.push_block(block);
        }
        first..self.blocks.len() as u32
    }

    /// Adds one block, sorted, with the next gold tasks in turn.
    fn push_block(&mut self, mut block: Vec<u32>) {
        block.sort_unstable();
        let b = self.blocks.len();
        let per_block = self.gold_per_block;
        let mut mine: Vec<u32> =
            (0..per_block).map(|i| self.gold[(b * per_block + i) % self.gold.len()]).collect();
        mine.sort_unstable();
        self.blocks.push(block);
        self.block_gold.push(mine);
    }

    /// Every task of block `block`, gold included.
    fn block_tasks(&self, block: u32) -> impl Iterator<Item = u32> + '_ {
        let b = block as usize;
        self.blocks[b].iter().chain(&self.block_gold[b]).copied()
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

/// A labeler's batch: one block plus its gold tasks, in its own order. The labeler knows each
/// task by its position in `tasks` (see [`Batch::canonical_labels`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// Sequential within the experiment: the index of the join in the join log.
    pub batch_id: u64,
    /// The round it belongs to (see [`crate::rounds`]); 0 in an experiment of one round.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub round: u32,
    /// The labeler.
    pub labeler: Address,
    /// Its cohort, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cohort: Option<String>,
    /// The block index.
    pub block: u32,
    /// Task indices in the order shown to this labeler: position p shows task `tasks[p]`.
    pub tasks: Vec<u32>,
    /// Per shown task: shown position → canonical response index (empty when not shuffled).
    pub response_orders: Vec<Vec<u8>>,
    /// When it was assigned (unix seconds).
    pub assigned_at: u64,
}

impl Batch {
    /// The batch's labels by position, each from a function of the shown task's index in the
    /// experiment and its response order (how an in-process labeler that knows the tasks
    /// answers).
    pub fn label_with(
        &self,
        mut label_of: impl FnMut(u32, &[u8]) -> Label,
    ) -> Vec<crate::client::RevealedLabel> {
        self.tasks
            .iter()
            .zip(&self.response_orders)
            .enumerate()
            .map(|(position, (&task, order))| crate::client::RevealedLabel {
                task: position as u32,
                label: label_of(task, order),
            })
            .collect()
    }

    /// Revealed labels keyed by task index in the experiment, from the labels the labeler
    /// committed by position in its batch. `None` when a position is outside the batch.
    pub fn canonical_labels(
        &self,
        labels: &[crate::client::RevealedLabel],
    ) -> Option<Vec<(u32, Label)>> {
        labels.iter().map(|l| Some((*self.tasks.get(l.task as usize)?, l.label.clone()))).collect()
    }
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
    /// This round of a best-of experiment goes to the labelers whose records weigh most.
    #[error("this round's comparisons go to the labelers whose answers so far weigh most")]
    NotChosen,
}

fn is_zero(round: &u32) -> bool {
    *round == 0
}

/// The assignment state of one experiment, rebuilt by replaying the join log.
#[derive(Clone, Debug)]
pub struct Assigner {
    prf: Prf,
    plan: Plan,
    overlap: u32,
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
    /// The round being assigned.
    round: u32,
    /// In a later round of a best-of experiment: who may take its blocks.
    admitted: Option<Admitted>,
}

/// Who may take a later round's blocks in a best-of experiment (see
/// [`Assigner::admit_heaviest`]).
#[derive(Clone, Debug)]
struct Admitted {
    /// Vote weights of the labelers with revealed labels.
    weights: HashMap<Address, u64>,
    /// The weight of a labeler with none.
    newcomer: u64,
    /// The least weight admitted.
    bar: u64,
}

/// Labelers admitted per label a later best-of round wants on a task: room for those who do
/// not come back.
const ADMITTED_PER_VOTE: usize = 2;

impl Assigner {
    /// A fresh assigner for an opened experiment.
    pub fn new(spec: &ExperimentSpec, tasks: &[Task], seed: B256) -> Assigner {
        let prf = Prf::new(seed);
        let plan = match spec.rounds.as_ref().filter(|r| r.is_best_of()) {
            Some(rounds) => {
                let groups = crate::knockout::groups(tasks)
                    .expect("a best-of experiment's groups are checked when it is made");
                let first = crate::knockout::first_round_tasks(&groups, rounds, spec.overlap, &prf);
                Plan::over(tasks, first, spec.block_size, spec.gold_per_batch, &prf)
            }
            None => Plan::new(tasks, spec.block_size, spec.gold_per_batch, &prf),
        };
        let cohorts = spec.cohorts.as_ref().map(|c| c.values.clone()).unwrap_or_default();
        let groups = cohorts.len().max(1);
        let open: Vec<u32> = (0..plan.blocks.len() as u32).collect();
        let responses = tasks.iter().map(|t| t.responses.len() as u8).collect();
        Assigner {
            prf,
            fill: vec![0; plan.blocks.len() * groups],
            open_blocks: vec![open; groups],
            plan,
            overlap: spec.overlap,
            shuffles_responses: spec.question.kind.shuffles_responses(),
            responses,
            batches_max: spec.limits.batches_per_labeler_max,
            per_hour_max: spec.limits.batches_per_labeler_per_hour_max,
            cohorts,
            taken: HashMap::new(),
            next_batch_id: 0,
            round: 0,
            admitted: None,
        }
    }

    /// The round being assigned.
    pub fn round(&self) -> u32 {
        self.round
    }

    /// Starts round `round` over `tasks` (task indices, ascending): they are shuffled with the
    /// PRF (tag `"round"`, the round as input) and cut into new blocks, each dealt gold as the
    /// first round's blocks were and wanted by one labeler; earlier blocks take nobody more.
    /// In a later round a labeler gets only a block with no task it has seen, gold included,
    /// so no task and no gold answer is ever shown to it twice.
    ///
    /// A task listed `v` times wants `v` more labels: its copies go to `v` different blocks
    /// (see [`Plan::deal_copies`]), so `v` different labelers answer it.
    pub fn start_round(&mut self, round: u32, tasks: Vec<u32>) {
        assert!(round > self.round, "rounds start in order");
        assert!(self.cohorts.is_empty(), "rounds run without cohorts");
        let mut counted: Vec<(u32, u32)> = Vec::new();
        for task in tasks {
            match counted.last_mut() {
                Some((last, copies)) if *last == task => *copies += 1,
                _ => counted.push((task, 1)),
            }
        }
        self.prf.shuffle("round", u64::from(round), &mut counted);
        let new = if counted.iter().all(|(_, copies)| *copies == 1) {
            let once: Vec<u32> = counted.iter().map(|(task, _)| *task).collect();
            self.plan.add_blocks(&once)
        } else {
            self.plan.deal_copies(&counted)
        };
        self.fill.resize(self.plan.blocks.len(), 0);
        self.open_blocks = vec![new.collect()];
        self.round = round;
        self.admitted = None;
    }

    /// Admits to this round only the heaviest labelers: for every task the round asks, the
    /// [`ADMITTED_PER_VOTE`] × (labels it wants) heaviest labelers who have not seen it and
    /// have a batch left, by `weights` (a labeler without one weighs `newcomer`; among equals
    /// by address); everyone at least as heavy as the lightest of them, over every task, is
    /// admitted. A task with fewer such labelers admits everyone. The weights are the votes'
    /// weights when the round starts, so a match goes to the labelers whose answers so far say
    /// they are most often right, while every match keeps enough labelers who may answer it.
    pub fn admit_heaviest(&mut self, weights: &HashMap<Address, u64>, newcomer: u64) {
        let mut ranked: Vec<(&Address, u64)> = weights.iter().map(|(a, w)| (a, *w)).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        // Per ranked labeler, the tasks it has seen; `None` once it has no batch left.
        let seen: Vec<Option<HashSet<u32>>> = ranked
            .iter()
            .map(|(labeler, _)| {
                let taken = self.taken.get(*labeler).map(Vec::as_slice).unwrap_or(&[]);
                (taken.len() < self.batches_max as usize).then(|| self.seen_in_blocks(taken))
            })
            .collect();
        let mut wanted: HashMap<u32, usize> = HashMap::new();
        for &block in &self.open_blocks[0] {
            for &task in &self.plan.blocks[block as usize] {
                *wanted.entry(task).or_default() += 1;
            }
        }
        let mut bar = u64::MAX;
        for (task, copies) in wanted {
            let mut free = ranked
                .iter()
                .zip(&seen)
                .filter(|(_, seen)| seen.as_ref().is_some_and(|s| !s.contains(&task)));
            match free.nth(ADMITTED_PER_VOTE * copies - 1) {
                Some(((_, weight), _)) => bar = bar.min(*weight),
                None => bar = 0,
            }
        }
        let bar = if bar == u64::MAX { 0 } else { bar };
        self.admitted = Some(Admitted { weights: weights.clone(), newcomer, bar });
    }

    /// How many labelers each of this round's blocks wants: `overlap` in the first round, one
    /// in later rounds (each of their tasks wants exactly one more label).
    fn wanted(&self) -> u32 {
        if self.round == 0 { self.overlap } else { 1 }
    }

    /// Every task of the blocks in `taken`, gold included: what a later round's block must not
    /// hold. Empty in the first round, where only the blocks themselves must differ.
    fn seen(&self, taken: &[(u32, u64)]) -> HashSet<u32> {
        if self.round == 0 {
            return HashSet::new();
        }
        self.seen_in_blocks(taken)
    }

    /// Every task of the blocks in `taken`, gold included.
    fn seen_in_blocks(&self, taken: &[(u32, u64)]) -> HashSet<u32> {
        taken.iter().flat_map(|(block, _)| self.plan.block_tasks(*block)).collect()
    }

    /// The PRF behind every choice, keyed by the experiment's seed.
    pub fn prf(&self) -> &Prf {
        &self.prf
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
        if let Some(admitted) = &self.admitted {
            let weight = admitted.weights.get(&request.labeler).copied();
            if weight.unwrap_or(admitted.newcomer) < admitted.bar {
                return Err(AssignError::NotChosen);
            }
        }
        let batch_id = self.next_batch_id;
        let groups = self.open_blocks.len();
        let seen = self.seen(taken);
        let candidates: Vec<u32> = self.open_blocks[group]
            .iter()
            .copied()
            .filter(|&b| taken.iter().all(|(t, _)| *t != b))
            .filter(|&b| self.plan.block_tasks(b).all(|task| !seen.contains(&task)))
            .collect();
        if candidates.is_empty() {
            return Err(AssignError::NoBlockLeft);
        }
        // With cohorts, a cohort's labelers go first to blocks that already hold members of
        // their cohort, so that even a small cohort forms full peer groups instead of leaving
        // members alone in a block, where they have no peer to be scored against.
        let started: Vec<u32> = candidates
            .iter()
            .copied()
            .filter(|&b| self.fill[b as usize * groups + group] > 0)
            .collect();
        let candidates =
            if self.cohorts.is_empty() || started.is_empty() { candidates } else { started };
        let block = candidates[self.prf.below("block", batch_id, 0, candidates.len())];

        let slot = block as usize * groups + group;
        self.fill[slot] += 1;
        if self.fill[slot] >= self.wanted() {
            let open = &mut self.open_blocks[group];
            let at = open.binary_search(&block).expect("an open block is listed");
            open.remove(at);
        }
        self.taken.entry(request.labeler).or_default().push((block, request.at));
        self.next_batch_id += 1;

        let mut tasks = self.plan.blocks[block as usize].clone();
        tasks.extend(&self.plan.block_gold[block as usize]);
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
            round: self.round,
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
                prompt: String::new().into(),
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
    fn every_batch_of_a_block_holds_the_same_tasks_and_blocks_get_their_own_gold() {
        let (spec, tasks) = setup(40, 8);
        let mut assigner = Assigner::new(&spec, &tasks, B256::repeat_byte(5));
        let plan = assigner.plan().clone();
        // Blocks are drawn from the shuffled regular tasks, not cut in import order.
        assert!(plan.blocks.iter().any(|b| b.windows(2).any(|w| w[1] != w[0] + 1)));
        // 8 gold tasks, 4 blocks of 2: disjoint.
        let mut all_gold: Vec<u32> = plan.block_gold.concat();
        all_gold.sort_unstable();
        assert_eq!(all_gold, (40..48).collect::<Vec<u32>>());
        let mut by_block: HashMap<u32, Vec<u32>> = HashMap::new();
        for i in 0..12 {
            let batch =
                assigner.assign(&JoinRequest { labeler: labeler(i), cohort: None, at: 0 }).unwrap();
            let mut set = batch.tasks.clone();
            set.sort_unstable();
            let first = by_block.entry(batch.block).or_insert_with(|| set.clone());
            assert_eq!(*first, set, "batch {} of block {}", batch.batch_id, batch.block);
        }
    }

    #[test]
    fn a_cohort_fills_blocks_that_already_hold_its_members() {
        let (mut spec, tasks) = setup(100, 4);
        spec.cohorts = Some(crate::spec::Cohorts {
            attribute: "region".into(),
            values: vec!["many".into(), "few".into()],
        });
        let mut assigner = Assigner::new(&spec, &tasks, B256::repeat_byte(8));
        let mut few_blocks: HashMap<u32, u32> = HashMap::new();
        for i in 0..30u8 {
            let cohort = if i % 5 == 0 { "few" } else { "many" };
            let request = JoinRequest { labeler: labeler(i), cohort: Some(cohort.into()), at: 0 };
            let batch = assigner.assign(&request).unwrap();
            if cohort == "few" {
                *few_blocks.entry(batch.block).or_default() += 1;
            }
        }
        // Six labelers of the small cohort at overlap 3: two full blocks, nobody alone.
        assert_eq!(few_blocks.values().copied().collect::<Vec<_>>(), vec![3, 3]);
    }

    #[test]
    fn labels_given_by_position_map_to_task_indices() {
        let (spec, tasks) = setup(20, 2);
        let mut assigner = Assigner::new(&spec, &tasks, B256::repeat_byte(1));
        let batch = assigner.assign(&JoinRequest { labeler: labeler(1), cohort: None, at: 0 });
        let batch = batch.unwrap();
        let labels: Vec<crate::client::RevealedLabel> = (0..batch.tasks.len() as u32)
            .map(|p| crate::client::RevealedLabel { task: p, label: Label::Int(i64::from(p)) })
            .collect();
        let canonical = batch.canonical_labels(&labels).unwrap();
        for (p, (task, label)) in canonical.iter().enumerate() {
            assert_eq!(*task, batch.tasks[p]);
            assert_eq!(*label, Label::Int(p as i64));
        }
        let outside = [crate::client::RevealedLabel { task: 99, label: Label::Int(0) }];
        assert_eq!(batch.canonical_labels(&outside), None);
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
