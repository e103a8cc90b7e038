//! One experiment's protocol state in memory: open, join, commit, reveal, settle, with every
//! check the protocol makes. A server persists the same entries; `audit` replays a public
//! record through this same code, so what the server accepted and what an auditor accepts
//! cannot drift apart.

use crate::assign::{Assigner, Batch, JoinRequest, seed_hash};
use crate::client::{RevealedLabel, SignedCommit, SignedJoin, SignedReveal, labels_root};
use crate::eip712::{self, Commit, Join, Reveal};
use crate::lifecycle::{Lifecycle, LifecycleError, Phase, Readiness};
use crate::record::{CommitEntry, JoinEntry, PublicRecord, RECORD_VERSION, RevealEntry};
use crate::reputation::Reputation;
use crate::settle::{self, BatchOutcome};
use crate::spec::ExperimentSpec;
use crate::task::{self, Task};
use crate::{Address, B256, Error, Result, U256};
use alloy_sol_types::Eip712Domain;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Who a best-of round's blocks admit: each labeler's vote weight, and a newcomer's (see
/// [`crate::assign::Assigner::admit_heaviest`]).
type Admission = (HashMap<Address, u64>, u64);

/// Whether an idempotent write was new or a repeat of an accepted one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// First time: stored.
    New,
    /// The same request again: nothing changed.
    Repeat,
}

/// Who signed a message, as recovered from its signature, or why none could be: computed before
/// the experiment is locked ([`Experiment::commit_signer`], [`Experiment::reveal_signer`]), so
/// that a server recovers many signatures at once and the locked part only compares addresses.
pub type Recovered = std::result::Result<Address, eip712::SignatureError>;

/// An experiment's protocol state.
#[derive(Clone, Debug)]
pub struct Experiment {
    id: B256,
    chain_id: u64,
    verifying_contract: Address,
    domain: Eip712Domain,
    spec: ExperimentSpec,
    tasks: Vec<Task>,
    /// A best-of experiment's prompts, read from its tasks once (see [`crate::knockout`]).
    groups: Vec<crate::knockout::Group>,
    lifecycle: Lifecycle,
    opened: Option<(B256, u64)>,
    assigner: Option<Assigner>,
    batches: Vec<Batch>,
    joins: Vec<JoinEntry>,
    join_counts: HashMap<Address, u64>,
    commits: BTreeMap<u64, CommitEntry>,
    reveals: BTreeMap<u64, RevealEntry>,
    unbacked: BTreeSet<u64>,
}

impl Experiment {
    /// A draft experiment. The spec and every task are validated here. A spec that says
    /// commits were closed early (a record's, a stored experiment's) is taken without the
    /// close: whoever replays the log closes them again after its joins and commits, with
    /// [`Experiment::close_commits`], which checks that the close cut nobody off.
    pub fn new(
        id: B256,
        chain_id: u64,
        verifying_contract: Address,
        spec: ExperimentSpec,
        tasks: Vec<Task>,
    ) -> Result<Experiment> {
        spec.validate()?;
        let spec = ExperimentSpec { commits_closed_at: None, ..spec };
        crate::strata::Strata::of(&spec.strata, &tasks).map_err(task::TaskError::File)?;
        let groups = match &spec.rounds {
            Some(rounds) if rounds.is_best_of() => {
                crate::knockout::groups(&tasks).map_err(task::TaskError::File)?
            }
            _ => Vec::new(),
        };
        for (i, t) in tasks.iter().enumerate() {
            if let Some(gold) = &t.gold {
                gold.validate(&spec.question.kind).map_err(|e| task::TaskError::Line {
                    line: i + 1,
                    reason: format!("`gold`: {e}"),
                })?;
            }
        }
        Ok(Experiment {
            id,
            chain_id,
            verifying_contract,
            domain: eip712::domain(chain_id, verifying_contract),
            lifecycle: Lifecycle::new(&spec),
            spec,
            tasks,
            groups,
            opened: None,
            assigner: None,
            batches: Vec::new(),
            joins: Vec::new(),
            join_counts: HashMap::new(),
            commits: BTreeMap::new(),
            reveals: BTreeMap::new(),
            unbacked: BTreeSet::new(),
        })
    }

    /// The experiment id.
    pub fn id(&self) -> B256 {
        self.id
    }

    /// The EIP-712 domain its messages are signed in.
    pub fn domain(&self) -> &Eip712Domain {
        &self.domain
    }

    /// The spec.
    pub fn spec(&self) -> &ExperimentSpec {
        &self.spec
    }

    /// The tasks.
    pub fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    /// The phase at `now`.
    pub fn phase_at(&self, now: u64) -> Phase {
        self.lifecycle.phase_at(now)
    }

    /// The batches assigned so far, by batch id.
    pub fn batches(&self) -> &[Batch] {
        &self.batches
    }

    /// The accepted joins, by batch id.
    pub fn joins(&self) -> &[JoinEntry] {
        &self.joins
    }

    /// The batch this very signed join was given, if it was accepted before (a retry whose
    /// answer was lost finds its batch again).
    pub fn joined_batch(&self, join: &SignedJoin) -> Option<&Batch> {
        let entry = self.joins.iter().find(|e| e.join == *join)?;
        self.batches.get(entry.batch_id as usize)
    }

    /// The seed's hash, published once open.
    pub fn seed_hash(&self) -> Option<B256> {
        self.opened.map(|(seed, _)| seed_hash(seed))
    }

    /// The commitment to the task list and gold answers, published once open.
    pub fn tasks_hash(&self) -> B256 {
        task::tasks_hash(&self.tasks)
    }

    /// Draft → Open with the assignment seed (drawn by the caller; committed by its hash).
    /// Deadlines given as durations are fixed here, counted from `now`; a spec whose deadlines
    /// are fixed already (a record's, a stored open experiment's) must agree with them.
    pub fn open(&mut self, seed: B256, funded: bool, now: u64) -> Result<()> {
        let summary = task::summarize(&self.tasks);
        let ready = Readiness { funded, regular_tasks: summary.regular, gold_tasks: summary.gold };
        let mut spec = self.spec.clone();
        spec.fix_deadlines(now);
        if self.spec.deadlines_fixed() && spec != self.spec {
            return Err(LifecycleError::Timing {
                action: "open",
                reason: format!(
                    "the deadlines do not follow from commit_within and reveal_within at {now}"
                ),
            }
            .into());
        }
        let mut lifecycle = Lifecycle::new(&spec);
        lifecycle.phase = self.lifecycle.phase;
        lifecycle.open(&spec, ready, now)?;
        self.spec = spec;
        self.lifecycle = lifecycle;
        self.opened = Some((seed, now));
        self.assigner = Some(Assigner::new(&self.spec, &self.tasks, seed));
        Ok(())
    }

    /// Whether a labeler with this reputation may join. The server checks it at join time;
    /// the record does not carry every labeler's reputation at that moment, so `audit` does
    /// not check it again.
    pub fn check_eligible(&self, reputation: &Reputation) -> Result<()> {
        if reputation.eligible(&self.spec) { Ok(()) } else { Err(Error::Ineligible) }
    }

    /// Serves a signed join: checks phase, signature, stake and nonce, then assigns a batch.
    /// A refusal changes nothing.
    pub fn join(&mut self, join: &SignedJoin, now: u64) -> Result<Batch> {
        self.join_recovered(join, None, now)
    }

    /// [`Experiment::join`] with its signer recovered beforehand by [`Experiment::join_signer`]
    /// in this experiment's domain (`None`: recovered here).
    pub fn join_recovered(
        &mut self,
        join: &SignedJoin,
        signer: Option<Recovered>,
        now: u64,
    ) -> Result<Batch> {
        self.lifecycle.check_join(now)?;
        let signer = signer.unwrap_or_else(|| Self::join_signer(&self.domain, self.id, join));
        expect_signer(signer, join.labeler)?;
        if join.stake != self.spec.stake_per_batch {
            return Err(mismatch("stake", self.spec.stake_per_batch, join.stake));
        }
        let expected_nonce = self.join_counts.get(&join.labeler).copied().unwrap_or(0);
        if join.nonce != expected_nonce {
            return Err(mismatch("nonce", expected_nonce, join.nonce));
        }
        // After the nonce: a retried join that was accepted finds its batch again by the
        // nonce's refusal, however late the retry.
        if now > join.expires_at {
            return Err(LifecycleError::Timing {
                action: "join",
                reason: format!("the signed join expired at {}, before {now}", join.expires_at),
            }
            .into());
        }
        self.start_rounds_until(self.lifecycle.round_at(now));
        let request = JoinRequest { labeler: join.labeler, cohort: join.cohort.clone(), at: now };
        let assigner = self.assigner.as_mut().expect("an open experiment has an assigner");
        let batch = assigner.assign(&request)?;
        *self.join_counts.entry(join.labeler).or_default() += 1;
        self.joins.push(JoinEntry { batch_id: batch.batch_id, join: join.clone(), at: now });
        self.batches.push(batch.clone());
        Ok(batch)
    }

    /// The round being assigned.
    pub fn round(&self) -> u32 {
        self.assigner.as_ref().map_or(0, Assigner::round)
    }

    /// The round `now` falls in.
    pub fn round_at(&self, now: u64) -> u32 {
        self.lifecycle.round_at(now)
    }

    /// Starts every round up to `round` that has not started, each over the tasks chosen from
    /// the labels revealed so far (see [`crate::rounds::next_round_tasks`]). A round starts at
    /// its first join: by then every reveal of the rounds before it is in, as their reveal
    /// deadlines have passed, so the choice is the same whenever the join comes, in the server
    /// and in every replay of its log. A round with nothing left to ask about gets no blocks.
    fn start_rounds_until(&mut self, round: u32) {
        if self.spec.rounds.is_none() {
            return;
        }
        while self.round() < round {
            let next = self.round() + 1;
            let (tasks, admitted) = self.next_round();
            let assigner = self.assigner.as_mut().expect("an open experiment has an assigner");
            assigner.start_round(next, tasks);
            if let Some((weights, newcomer)) = admitted {
                assigner.admit_heaviest(&weights, newcomer);
            }
        }
    }

    /// What the round after those started so far would ask, from the labels revealed so far:
    /// its regular tasks and, in a best-of experiment, the labelers' weights that admit them
    /// (see [`crate::assign::Assigner::admit_heaviest`]) with a newcomer's weight. Only once
    /// open, with rounds.
    fn next_round(&self) -> (Vec<u32>, Option<Admission>) {
        let rounds = self.spec.rounds.as_ref().expect("an experiment with rounds");
        if rounds.is_best_of() {
            let replayed = self.replay_knockouts();
            let tasks = crate::knockout::next_round_tasks(&self.groups, &replayed.tournaments);
            return (tasks, Some(replayed.weights()));
        }
        let classes = self
            .spec
            .question
            .kind
            .classes()
            .expect("the spec allows rounds only on questions of classes");
        let rule = rounds.rule(self.spec.overlap);
        let outcomes = self.outcomes();
        let revealed: Vec<(Address, &[(u32, crate::label::Label)])> =
            outcomes.iter().filter_map(|o| Some((o.labeler, o.labels.as_deref()?))).collect();
        (crate::rounds::next_round_tasks(&self.tasks, classes, &rule, &revealed), None)
    }

    /// Whether an experiment with rounds is over at `now`, before its last deadline: no label
    /// can still come, and the round after those started would ask nothing. No label can come
    /// once the current round's commit phase is over, or nobody has joined it and it would ask
    /// nothing (so it has no block to join), and every batch committed in it is revealed (a
    /// batch of an earlier round can no longer be). Labels change only in a round that asks
    /// something, so no later round would ask anything either. False once a round after the
    /// current one has begun (the state is not that of `now`), without rounds and before
    /// opening.
    pub fn rounds_over(&self, now: u64) -> bool {
        if self.spec.rounds.is_none() || self.assigner.is_none() {
            return false;
        }
        let current = self.round_at(now);
        if self.round() > current {
            return false;
        }
        let joined = self.batches.iter().any(|b| b.round == current);
        let commits_over = !joined || self.lifecycle.phase_at(now) == Phase::Revealing;
        let reveals_over = self.commits.keys().all(|&batch| {
            self.reveals.contains_key(&batch) || self.batches[batch as usize].round < current
        });
        commits_over && reveals_over && self.next_round().0.is_empty()
    }

    /// A best-of experiment's prompts (see [`crate::knockout`]); none in any other.
    pub fn groups(&self) -> &[crate::knockout::Group] {
        &self.groups
    }

    /// Every prompt's knockout after the rounds started so far, replayed from the labels
    /// revealed in them; none before the experiment opens or outside best-of experiments.
    pub fn knockouts(&self) -> Vec<crate::adaptive::best_of::Tournament> {
        if self.assigner.is_none() {
            return Vec::new();
        }
        self.replay_knockouts().tournaments
    }

    /// [`Experiment::knockouts`], with the labelers' records. Only once open, with rounds.
    fn replay_knockouts(&self) -> crate::knockout::Replayed {
        let rounds = self.spec.rounds.as_ref().expect("an experiment with rounds");
        let assigner = self.assigner.as_ref().expect("an open experiment has an assigner");
        let outcomes = self.outcomes();
        let revealed: Vec<crate::knockout::Revealed> = outcomes
            .iter()
            .filter_map(|o| {
                let round = self.batches[o.batch_id as usize].round;
                Some((o.labeler, round, o.labels.as_deref()?))
            })
            .collect();
        crate::knockout::replay(
            &self.tasks,
            &self.groups,
            rounds,
            self.spec.overlap,
            assigner.prf(),
            &revealed,
            self.round() + 1,
        )
    }

    /// Ends the commit phase at `now`, before its deadline: the creator's early close. Only
    /// while open, and only once every joined batch is committed, so that nobody who joined
    /// is cut off. Reveals are taken from then until the reveal deadline, which stays.
    pub fn close_commits(&mut self, now: u64) -> Result<()> {
        const ACTION: &str = "close commits";
        if self.spec.rounds.is_some() {
            return Err(LifecycleError::NotReady {
                action: ACTION,
                reason: "an experiment with rounds closes each round at its deadline".into(),
            }
            .into());
        }
        let phase = self.lifecycle.phase_at(now);
        if phase != Phase::Open {
            return Err(LifecycleError::WrongPhase { action: ACTION, phase }.into());
        }
        let uncommitted = self.uncommitted_batches();
        if uncommitted > 0 {
            return Err(Error::NotAllCommitted { uncommitted, joined: self.batches.len() });
        }
        // A replayed log holds nothing the close came before (see `Experiment::new`).
        let last = self.joins.iter().map(|j| j.at).chain(self.commits.values().map(|c| c.at)).max();
        if let Some(last) = last.filter(|&last| last > now) {
            return Err(LifecycleError::Timing {
                action: ACTION,
                reason: format!("a join or commit was accepted at {last}, after {now}"),
            }
            .into());
        }
        self.spec.commits_closed_at = Some(now);
        self.lifecycle.closed_at = Some(now);
        Ok(())
    }

    /// How many joined batches have no commit.
    pub fn uncommitted_batches(&self) -> usize {
        self.batches.len() - self.commits.len()
    }

    /// Accepts a signed commit for a batch. Repeating it is harmless; a different commitment
    /// for the same batch is a conflict.
    pub fn commit(&mut self, batch_id: u64, commit: &SignedCommit, now: u64) -> Result<Accepted> {
        self.commit_recovered(batch_id, commit, None, now)
    }

    /// [`Experiment::commit`] with its signer recovered beforehand by
    /// [`Experiment::commit_signer`] in this experiment's domain (`None`: recovered here).
    pub fn commit_recovered(
        &mut self,
        batch_id: u64,
        commit: &SignedCommit,
        signer: Option<Recovered>,
        now: u64,
    ) -> Result<Accepted> {
        let batch = self.batch(batch_id)?;
        if let Some(existing) = self.commits.get(&batch_id) {
            return if existing.commit.commitment == commit.commitment {
                Ok(Accepted::Repeat)
            } else {
                Err(Error::Conflict { batch_id, what: "commit" })
            };
        }
        let work_secs =
            u64::from(self.spec.block_size) * u64::from(self.spec.limits.seconds_per_task_min);
        self.lifecycle.check_commit(batch.assigned_at, work_secs, now)?;
        let signer =
            signer.unwrap_or_else(|| Self::commit_signer(&self.domain, self.id, batch_id, commit));
        expect_signer(signer, batch.labeler)?;
        self.commits.insert(batch_id, CommitEntry { batch_id, commit: commit.clone(), at: now });
        Ok(Accepted::New)
    }

    /// Who signed `join` for experiment `id` in `domain`. It reads no state, so it may run
    /// before the experiment is locked.
    pub fn join_signer(domain: &Eip712Domain, id: B256, join: &SignedJoin) -> Recovered {
        let message = Join {
            experimentId: id,
            labeler: join.labeler,
            cohort: eip712::cohort_hash(join.cohort.as_deref()),
            stake: U256::from(join.stake),
            nonce: join.nonce,
            expiresAt: join.expires_at,
        };
        eip712::recover(eip712::signing_hash(&message, domain), &join.signature)
    }

    /// Who signed `commit` for batch `batch_id` of experiment `id` in `domain`. It reads no
    /// state, so it may run before the experiment is locked.
    pub fn commit_signer(
        domain: &Eip712Domain,
        id: B256,
        batch_id: u64,
        commit: &SignedCommit,
    ) -> Recovered {
        let message = Commit { experimentId: id, batchId: batch_id, commitment: commit.commitment };
        eip712::recover(eip712::signing_hash(&message, domain), &commit.signature)
    }

    /// Who signed `reveal` for batch `batch_id` of experiment `id` in `domain`; `None` when its
    /// labels form no root (the locked check then says why). It reads no state.
    pub fn reveal_signer(
        domain: &Eip712Domain,
        id: B256,
        batch_id: u64,
        reveal: &SignedReveal,
    ) -> Option<Recovered> {
        let root = labels_root(&reveal.labels).ok()?;
        Some(recover_reveal(domain, id, batch_id, root, reveal))
    }

    /// Verifies a reveal against its batch, its commitment and its signature, whatever the
    /// time. Nothing is stored (see [`Experiment::reveal`]).
    pub fn check_reveal(&self, batch_id: u64, reveal: &SignedReveal) -> Result<()> {
        self.batch(batch_id)?;
        let committed = self.commits.get(&batch_id).ok_or(Error::NotCommitted(batch_id))?;
        self.check_reveal_of(batch_id, committed.commit.commitment, reveal)
    }

    /// Verifies a reveal against its batch, a commitment and its signature, whatever the time
    /// and before the commitment is accepted: a reveal sealed for the operator is checked
    /// with its commit, so that the server only ever holds reveals that open their commitment.
    pub fn check_reveal_of(
        &self,
        batch_id: u64,
        committed: B256,
        reveal: &SignedReveal,
    ) -> Result<()> {
        self.check_reveal_recovered(batch_id, committed, reveal, None)
    }

    /// [`Experiment::check_reveal_of`] with its signer recovered beforehand by
    /// [`Experiment::reveal_signer`] (`None`: recovered here).
    fn check_reveal_recovered(
        &self,
        batch_id: u64,
        committed: B256,
        reveal: &SignedReveal,
        signer: Option<Recovered>,
    ) -> Result<()> {
        let batch = self.batch(batch_id)?;
        let fail = |reason: String| Error::Reveal { batch_id, reason };
        // Labels are keyed by position in the batch, so they must cover 0..len once each.
        let mut given: Vec<u32> = reveal.labels.iter().map(|l| l.task).collect();
        given.sort_unstable();
        if !given.iter().copied().eq(0..batch.tasks.len() as u32) {
            return Err(fail(format!(
                "the labels must cover exactly the batch's {} positions (0 to {}), once each",
                batch.tasks.len(),
                batch.tasks.len().saturating_sub(1)
            )));
        }
        for RevealedLabel { task, label } in &reveal.labels {
            label
                .validate(&self.spec.question.kind)
                .map_err(|e| fail(format!("position {task}: {e}")))?;
        }
        let root = labels_root(&reveal.labels)?;
        let commitment = eip712::commitment(self.id, batch_id, batch.labeler, root, reveal.salt);
        if commitment != committed {
            return Err(fail("the labels and salt do not match the commitment".into()));
        }
        let signer =
            signer.unwrap_or_else(|| recover_reveal(&self.domain, self.id, batch_id, root, reveal));
        expect_signer(signer, batch.labeler)
    }

    /// Accepts a reveal after the commit deadline. Revealing twice is harmless.
    pub fn reveal(&mut self, batch_id: u64, reveal: &SignedReveal, now: u64) -> Result<Accepted> {
        self.reveal_recovered(batch_id, reveal, None, now)
    }

    /// [`Experiment::reveal`] with its signer recovered beforehand by
    /// [`Experiment::reveal_signer`] in this experiment's domain (`None`: recovered here).
    pub fn reveal_recovered(
        &mut self,
        batch_id: u64,
        reveal: &SignedReveal,
        signer: Option<Recovered>,
        now: u64,
    ) -> Result<Accepted> {
        let assigned_at = self.batch(batch_id)?.assigned_at;
        if let Some(existing) = self.reveals.get(&batch_id) {
            return if existing.reveal.salt == reveal.salt
                && labels_root(&existing.reveal.labels)? == labels_root(&reveal.labels)?
            {
                Ok(Accepted::Repeat)
            } else {
                Err(Error::Conflict { batch_id, what: "reveal" })
            };
        }
        self.lifecycle.check_reveal(assigned_at, now)?;
        let committed = self.commits.get(&batch_id).ok_or(Error::NotCommitted(batch_id))?;
        self.check_reveal_recovered(batch_id, committed.commit.commitment, reveal, signer)?;
        self.reveals.insert(batch_id, RevealEntry { batch_id, reveal: reveal.clone(), at: now });
        Ok(Accepted::New)
    }

    /// Marks the batches whose stake the market contract never locked (see
    /// [`PublicRecord::unbacked`]): settlement gives them no stake and does not score them.
    /// Only on chain, and only a suffix of each labeler's joins here, as the contract locks a
    /// labeler's joins in nonce order.
    pub fn set_unbacked(&mut self, unbacked: BTreeSet<u64>) -> Result<()> {
        let fail = |reason: String| Error::Unbacked(reason);
        if !unbacked.is_empty() && self.verifying_contract == Address::ZERO {
            return Err(fail("the embedded ledger locks every stake at its join".into()));
        }
        if let Some(unknown) = unbacked.iter().find(|&&b| b as usize >= self.joins.len()) {
            return Err(fail(format!("batch {unknown} was never joined")));
        }
        let mut first_unbacked: HashMap<Address, u64> = HashMap::new();
        for entry in &self.joins {
            let labeler = entry.join.labeler;
            match (unbacked.contains(&entry.batch_id), first_unbacked.get(&labeler)) {
                (true, None) => {
                    first_unbacked.insert(labeler, entry.batch_id);
                }
                (false, Some(&before)) => {
                    return Err(fail(format!(
                        "batch {} of {labeler} is backed but its earlier batch {before} is not; \
                         the contract locks a labeler's joins in order",
                        entry.batch_id
                    )));
                }
                _ => {}
            }
        }
        self.unbacked = unbacked;
        Ok(())
    }

    /// The batches as settlement sees them. An unbacked batch holds no stake and counts as
    /// not revealed, whatever was revealed for it.
    pub fn outcomes(&self) -> Vec<BatchOutcome> {
        self.batches
            .iter()
            .map(|b| {
                let backed = !self.unbacked.contains(&b.batch_id);
                BatchOutcome {
                    batch_id: b.batch_id,
                    labeler: b.labeler,
                    cohort: b.cohort.clone(),
                    stake: if backed { self.spec.stake_per_batch } else { 0 },
                    labels: self.reveals.get(&b.batch_id).filter(|_| backed).map(|r| {
                        b.canonical_labels(&r.reveal.labels)
                            .expect("a verified reveal covers its batch")
                    }),
                }
            })
            .collect()
    }

    /// Revealing → Settled, at the reveal deadline, once every committed batch is revealed
    /// (in the last round), or once no round is left to ask anything (see
    /// [`Experiment::rounds_over`]):
    /// computes the settlement and returns the public record. `reputations` holds each
    /// labeler's record before this experiment.
    pub fn settle(
        &mut self,
        reputations: &BTreeMap<Address, Reputation>,
        now: u64,
    ) -> Result<PublicRecord> {
        let every_commit_revealed = self.commits.keys().all(|b| self.reveals.contains_key(b));
        self.lifecycle.settle(now, every_commit_revealed, self.rounds_over(now))?;
        let (seed, opened_at) = self.opened.expect("a revealing experiment was opened");
        let used: BTreeMap<Address, Reputation> = self
            .batches
            .iter()
            .filter_map(|b| reputations.get(&b.labeler).map(|r| (b.labeler, *r)))
            .collect();
        let settlement = settle::settle(&self.spec, &self.tasks, &self.outcomes(), &used);
        Ok(PublicRecord {
            record_version: RECORD_VERSION,
            experiment_id: self.id,
            chain_id: self.chain_id,
            verifying_contract: self.verifying_contract,
            spec: self.spec.clone(),
            tasks: self.tasks.clone(),
            seed,
            seed_hash: seed_hash(seed),
            tasks_hash: self.tasks_hash(),
            opened_at,
            joins: self.joins.clone(),
            commits: self.commits.values().cloned().collect(),
            reveals: self.reveals.values().cloned().collect(),
            unbacked: self.unbacked.iter().copied().collect(),
            practice: None,
            reputations: used,
            settled_at: now,
            settlement,
        })
    }

    fn batch(&self, batch_id: u64) -> Result<&Batch> {
        self.batches.get(batch_id as usize).ok_or(Error::UnknownBatch(batch_id))
    }
}

/// Who signed `reveal`, whose labels have the Merkle root `root`.
fn recover_reveal(
    domain: &Eip712Domain,
    id: B256,
    batch_id: u64,
    root: B256,
    reveal: &SignedReveal,
) -> Recovered {
    let message =
        Reveal { experimentId: id, batchId: batch_id, labelsRoot: root, salt: reveal.salt };
    eip712::recover(eip712::signing_hash(&message, domain), &reveal.signature)
}

/// The signer must be the one expected (the batch's labeler).
fn expect_signer(signer: Recovered, expected: Address) -> Result<()> {
    let signer = signer?;
    if signer != expected {
        return Err(Error::WrongSigner { expected, signer });
    }
    Ok(())
}

fn mismatch(field: &'static str, expected: impl ToString, got: impl ToString) -> Error {
    Error::Mismatch { field, expected: expected.to_string(), got: got.to_string() }
}
