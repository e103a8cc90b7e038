//! The public record of a settled experiment, and `audit`: anyone can replay the record through
//! the same protocol code (every signature, commitment, deadline and assignment is checked
//! again), recompute the settlement, and compare it byte for byte with the published one.

use crate::assign::{Assigner, Batch, JoinRequest};
use crate::client::{SignedCommit, SignedJoin, SignedReveal};
use crate::experiment::Experiment;
use crate::label::Label;
use crate::log::Signatures;
use crate::practice::{PracticeAnswer, PracticeRecord};
use crate::reputation::Reputation;
use crate::settle::{LabelerResult, LeftOut, Settlement};
use crate::spec::ExperimentSpec;
use crate::task::Task;
use crate::{Address, B256};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The record format version this build reads and writes.
pub const RECORD_VERSION: u32 = 17;

/// A successful join, as logged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinEntry {
    /// The batch it was assigned.
    pub batch_id: u64,
    /// The signed request.
    pub join: SignedJoin,
    /// When it was served (unix seconds).
    pub at: u64,
}

/// An accepted commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitEntry {
    /// The batch.
    pub batch_id: u64,
    /// The signed commitment.
    pub commit: SignedCommit,
    /// When it was accepted.
    pub at: u64,
}

/// An accepted reveal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevealEntry {
    /// The batch.
    pub batch_id: u64,
    /// The signed reveal.
    pub reveal: SignedReveal,
    /// When it was accepted.
    pub at: u64,
}

/// Everything needed to recompute an experiment's settlement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicRecord {
    /// Must equal [`RECORD_VERSION`].
    pub record_version: u32,
    /// The experiment.
    pub experiment_id: B256,
    /// EIP-712 domain chain id.
    pub chain_id: u64,
    /// EIP-712 domain verifying contract (zero when embedded).
    pub verifying_contract: Address,
    /// The spec.
    pub spec: ExperimentSpec,
    /// Every task, gold answers included (public after settlement).
    pub tasks: Vec<Task>,
    /// The assignment seed, revealed.
    pub seed: B256,
    /// Its hash, published when the experiment opened.
    pub seed_hash: B256,
    /// The commitment to `tasks` (gold answers included) published when it opened; see
    /// [`crate::task::tasks_hash`].
    pub tasks_hash: B256,
    /// When it opened.
    pub opened_at: u64,
    /// The join log, in order.
    pub joins: Vec<JoinEntry>,
    /// Accepted commits.
    pub commits: Vec<CommitEntry>,
    /// Accepted reveals.
    pub reveals: Vec<RevealEntry>,
    /// On chain, the batches whose stake the market contract never locked, ascending: their
    /// labeler's free balance in the market no longer covered the stake when the join was
    /// relayed (it withdrew after joining), or no relay came before the commit deadline. They
    /// hold no stake, are not scored or exported,
    /// and count in their labeler's record as batches not revealed. The contract's position
    /// of each labeler (`joins`, the stakes it locked, in nonce order) shows which they are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unbacked: Vec<u64>,
    /// The practice pool and every practice answer, when the experiment had practice tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub practice: Option<PracticeRecord>,
    /// Each labeler's reputation before this experiment (labelers without one are absent).
    pub reputations: BTreeMap<Address, Reputation>,
    /// When it settled.
    pub settled_at: u64,
    /// The published settlement.
    pub settlement: Settlement,
}

/// One revealed batch's labels, keyed by task index in the experiment.
#[derive(Clone, Debug, PartialEq)]
pub struct RevealedBatch {
    /// The batch.
    pub batch_id: u64,
    /// Its labeler.
    pub labeler: Address,
    /// The labeler's cohort.
    pub cohort: Option<String>,
    /// `(task index, label)` in the labeler's order.
    pub labels: Vec<(u32, Label)>,
}

impl RevealedBatch {
    /// A batch's reveal with its labels keyed by task index; `None` when the reveal does not
    /// fit the batch.
    pub fn of(batch: &Batch, reveal: &SignedReveal) -> Option<RevealedBatch> {
        Some(RevealedBatch {
            batch_id: batch.batch_id,
            labeler: batch.labeler,
            cohort: batch.cohort.clone(),
            labels: batch.canonical_labels(&reveal.labels)?,
        })
    }
}

impl PublicRecord {
    /// Every batch, reproduced from the seed and the join log (joins the assigner refuses,
    /// which a verified record does not hold, are skipped).
    pub fn batches(&self) -> Vec<Batch> {
        if self.spec.rounds.is_some() {
            // A later round's blocks follow from the reveals before it: replay the whole log
            // (trusting its signatures, which `audit` checks).
            return replay_with(self, Signatures::Trusted)
                .map(|experiment| experiment.batches().to_vec())
                .unwrap_or_default();
        }
        let mut assigner = Assigner::new(&self.spec, &self.tasks, self.seed);
        self.joins
            .iter()
            .filter_map(|entry| {
                let request = JoinRequest {
                    labeler: entry.join.labeler,
                    cohort: entry.join.cohort.clone(),
                    at: entry.at,
                };
                assigner.assign(&request).ok()
            })
            .collect()
    }

    /// The revealed labels by batch, keyed by task index (reveals name tasks by their position
    /// in the batch). Reveals of unbacked batches, and reveals that do not fit their batch,
    /// which a verified record does not hold, are skipped.
    pub fn revealed(&self) -> Vec<RevealedBatch> {
        let batches = self.batches();
        self.reveals
            .iter()
            .filter(|entry| !self.unbacked.contains(&entry.batch_id))
            .filter_map(|entry| {
                RevealedBatch::of(batches.get(entry.batch_id as usize)?, &entry.reveal)
            })
            .collect()
    }

    /// The labels that go into the dataset, batch by batch in reveal order: every revealed
    /// batch's but those settlement leaves out (see [`LabelerResult::left_out_on`]).
    pub fn exported(&self) -> Vec<RevealedBatch> {
        self.filtered().0
    }

    /// Per batch of `exported` (as [`PublicRecord::exported`] gives them), the position in its
    /// labels from which its labeler had tired (see [`crate::fatigue`]).
    pub fn tired_from(&self, exported: &[RevealedBatch]) -> Vec<Option<usize>> {
        crate::fatigue::tired_from(&self.spec.question.kind, &self.tasks, exported)
    }

    /// How many revealed labels are left out of the dataset, by reason.
    pub fn left_out(&self) -> BTreeMap<LeftOut, usize> {
        self.filtered().1
    }

    fn filtered(&self) -> (Vec<RevealedBatch>, BTreeMap<LeftOut, usize>) {
        let mut batches = self.revealed();
        let left_out = leave_out(&self.settlement, &self.tasks, &mut batches);
        (batches, left_out)
    }

    /// The record as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a record always serializes")
    }

    /// Reads a record from JSON.
    pub fn from_json(text: &str) -> Result<PublicRecord, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// Removes from revealed `batches` the labels the dataset leaves out (see
/// [`LabelerResult::left_out_on`]) and counts them by reason. Settlement lists every labeler
/// of a settled experiment; a batch of any other is dropped uncounted.
pub fn leave_out(
    settlement: &Settlement,
    tasks: &[Task],
    batches: &mut [RevealedBatch],
) -> BTreeMap<LeftOut, usize> {
    let results: HashMap<Address, &LabelerResult> =
        settlement.labelers.iter().map(|l| (l.labeler, l)).collect();
    let mut left_out = BTreeMap::new();
    for batch in batches {
        let Some(result) = results.get(&batch.labeler) else {
            batch.labels.clear();
            continue;
        };
        batch.labels.retain(|(task, _)| match result.left_out_on(&tasks[*task as usize]) {
            Some(reason) => {
                *left_out.entry(reason).or_insert(0) += 1;
                false
            }
            None => true,
        });
    }
    left_out
}

/// Why a record does not verify: the first mismatch found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AuditFailure(pub String);

/// What a successful audit checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// The experiment.
    pub experiment_id: B256,
    /// Joins replayed.
    pub joins: usize,
    /// Commits verified.
    pub commits: usize,
    /// Reveals verified.
    pub reveals: usize,
    /// Labelers settled.
    pub labelers: usize,
    /// The payout root, recomputed.
    pub payout_root: B256,
}

/// Replays the record's log through the protocol (spec, tasks, seed, every join, commit and
/// reveal with their signatures, deadlines and commitments), up to just before settlement.
pub fn replay(record: &PublicRecord) -> Result<Experiment, AuditFailure> {
    replay_with(record, Signatures::Verify)
}

/// [`replay`], recovering every signature again or trusting them.
fn replay_with(record: &PublicRecord, signatures: Signatures) -> Result<Experiment, AuditFailure> {
    let fail = |what: String| AuditFailure(what);
    if record.record_version != RECORD_VERSION {
        return Err(fail(format!(
            "record_version is {}, this build reads {RECORD_VERSION}",
            record.record_version
        )));
    }
    let mut experiment = Experiment::new(
        record.experiment_id,
        record.chain_id,
        record.verifying_contract,
        record.spec.clone(),
        record.tasks.clone(),
    )
    .map_err(|e| fail(format!("spec or tasks: {e}")))?;
    if let Some(closed) = record.spec.commits_closed_at {
        check_embedded_close(record, closed)?;
    }
    if crate::assign::seed_hash(record.seed) != record.seed_hash {
        return Err(fail("seed does not hash to seed_hash".into()));
    }
    if crate::task::tasks_hash(&record.tasks) != record.tasks_hash {
        return Err(fail(
            "the tasks or gold answers differ from those committed at open (tasks_hash)".into(),
        ));
    }
    experiment
        .open(record.seed, true, record.opened_at)
        .map_err(|e| fail(format!("opening at {}: {e}", record.opened_at)))?;
    crate::log::replay_log(
        &mut experiment,
        &record.joins,
        &record.commits,
        record.spec.commits_closed_at,
        &record.reveals,
        crate::log::LogPosition::default(),
        signatures,
    )
    .map_err(fail)?;
    check_qualifications(record)?;
    // Unbacked batches (chain mode, which runs one round) change only what settlement sees.
    let unbacked: BTreeSet<u64> = record.unbacked.iter().copied().collect();
    if unbacked.len() != record.unbacked.len() || !record.unbacked.is_sorted() {
        return Err(fail("unbacked: not ascending and distinct".into()));
    }
    experiment.set_unbacked(unbacked).map_err(|e| fail(e.to_string()))?;
    Ok(experiment)
}

/// Closing commits early is for the embedded ledger: a market contract takes commits until
/// its own deadline.
fn check_embedded_close(record: &PublicRecord, closed: u64) -> Result<(), AuditFailure> {
    if record.verifying_contract == Address::ZERO {
        Ok(())
    } else {
        Err(AuditFailure(format!(
            "commits were closed early at {closed}, which a market contract does not allow"
        )))
    }
}

/// Checks that every joined labeler had passed the spec's qualification when it joined, from
/// the published practice answers, which must follow each labeler's draw.
fn check_qualifications(record: &PublicRecord) -> Result<(), AuditFailure> {
    let Some(qualification) = &record.spec.qualification else { return Ok(()) };
    let empty = PracticeRecord::default();
    let practice = record.practice.as_ref().unwrap_or(&empty);
    let kind = &record.spec.question.kind;
    for (index, entry) in record.joins.iter().enumerate() {
        let labeler = entry.join.labeler;
        let answers: Vec<&PracticeAnswer> =
            practice.answers.iter().filter(|a| a.labeler == labeler).collect();
        let standing = crate::practice::check_answers(
            kind,
            Some(qualification),
            record.seed,
            &practice.tasks,
            labeler,
            &answers,
            entry.at,
        )
        .map_err(|e| AuditFailure(format!("joins[{index}]: {e}")))?;
        if standing.qualified != Some(true) {
            return Err(AuditFailure(format!(
                "joins[{index}]: {labeler} had not qualified (practice {} of {}, score {:?})",
                standing.answered, standing.items, standing.score
            )));
        }
    }
    Ok(())
}

/// Replays the record and recomputes its settlement; `Ok` only if every step verifies and the
/// recomputed settlement equals the published one byte for byte.
pub fn audit(record: &PublicRecord) -> Result<AuditReport, AuditFailure> {
    let fail = |what: String| AuditFailure(what);
    record
        .settlement
        .check()
        .map_err(|e| fail(format!("the published settlement is inconsistent: {e}")))?;
    let mut experiment = replay(record)?;
    let recomputed = experiment
        .settle(&record.reputations, record.settled_at)
        .map_err(|e| fail(format!("settling at {}: {e}", record.settled_at)))?;
    if recomputed.reputations != record.reputations {
        return Err(fail("reputations lists labelers that took no batch".into()));
    }
    let published = serde_json::to_value(&record.settlement).expect("serializes");
    let ours = serde_json::to_value(&recomputed.settlement).expect("serializes");
    if let Some(difference) = first_difference("settlement", &published, &ours) {
        return Err(fail(difference));
    }
    // Equal values serialize to equal bytes; compare the bytes too, as the promise is bytes.
    let same_bytes = serde_json::to_vec(&record.settlement).expect("serializes")
        == serde_json::to_vec(&recomputed.settlement).expect("serializes");
    if !same_bytes {
        return Err(fail("settlement bytes differ".into()));
    }
    Ok(AuditReport {
        experiment_id: record.experiment_id,
        joins: record.joins.len(),
        commits: record.commits.len(),
        reveals: record.reveals.len(),
        labelers: recomputed.settlement.labelers.len(),
        payout_root: recomputed.settlement.payout_root,
    })
}

/// The path and values of the first place two JSON documents differ.
fn first_difference(
    path: &str,
    published: &serde_json::Value,
    ours: &serde_json::Value,
) -> Option<String> {
    use serde_json::Value;
    match (published, ours) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let here = format!("{path}.{key}");
                match b.get(key) {
                    Some(other) => {
                        if let Some(d) = first_difference(&here, value, other) {
                            return Some(d);
                        }
                    }
                    None => return Some(format!("{here}: published but not recomputed")),
                }
            }
            b.keys()
                .find(|k| !a.contains_key(*k))
                .map(|k| format!("{path}.{k}: recomputed but not published"))
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                if let Some(d) = first_difference(&format!("{path}[{i}]"), x, y) {
                    return Some(d);
                }
            }
            (a.len() != b.len())
                .then(|| format!("{path}: published {} entries, recomputed {}", a.len(), b.len()))
        }
        _ => {
            (published != ours).then(|| format!("{path}: published {published}, recomputed {ours}"))
        }
    }
}
