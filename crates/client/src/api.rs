//! The API's requests and answers (`docs/http-api.md`), written once: the server reads the
//! requests and writes the answers with these types, the clients the other way round.

use plumbline_core::lifecycle::Phase;
use plumbline_core::spec::ExperimentSpec;
use plumbline_core::task::Prompt;
use plumbline_core::{Address, Amount, B256};
use serde::{Deserialize, Serialize};

/// `POST /auth/challenge`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    /// Who is signing in.
    pub address: Address,
}

/// The answer to `POST /auth/challenge`: the Sign-In with Ethereum message to sign.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Challenge {
    /// The EIP-4361 message.
    pub message: String,
    /// Its nonce.
    pub nonce: String,
    /// When it stops being accepted.
    pub expires_at: u64,
}

/// `POST /auth/login`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The challenge's message, unchanged.
    pub message: String,
    /// Its EIP-191 signature, 0x-hex.
    pub signature: String,
}

/// The answer to `POST /auth/login`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Session {
    /// The bearer token.
    pub token: String,
    /// Who signed in.
    pub address: Address,
    /// When the token stops working.
    pub expires_at: u64,
}

/// `POST /ledger/mint` (the operator only).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MintRequest {
    /// Whose account.
    pub to: Address,
    /// Base units.
    #[serde(with = "plumbline_core::amount")]
    pub amount: Amount,
}

/// `POST /experiments`: the spec as given, checked by the server.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// The experiment spec (`docs/protocol.md`).
    pub spec: serde_json::Value,
}

/// `POST /test/clock` (only on a server started with `--test-clock`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockRequest {
    /// The new time, unix seconds; never earlier than the clock.
    pub now: u64,
}

/// Task counts of an experiment.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TaskCounts {
    /// All tasks.
    pub tasks: u64,
    /// Regular tasks.
    pub regular: u64,
    /// Gold tasks.
    pub gold: u64,
}

/// `EXPERIMENT`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExperimentView {
    /// Its id.
    pub experiment_id: B256,
    /// Who created it.
    pub creator: Address,
    /// The spec's title.
    pub title: String,
    /// The phase now.
    pub phase: Phase,
    /// Whether the reward pool was put in escrow.
    pub funded: bool,
    /// The spec.
    pub spec: ExperimentSpec,
    /// Task counts.
    pub tasks: TaskCounts,
    /// Practice tasks in its pool (see `POST /experiments/{id}/practice`).
    pub practice_tasks: u64,
    /// keccak256 of the assignment seed, once open.
    pub seed_hash: Option<B256>,
    /// The commitment to the task list and gold answers, once open; the public record's tasks
    /// must hash to it (see `plumbline audit`).
    pub tasks_hash: Option<B256>,
    /// When the commit phase ends: the spec's commit deadline, or the creator's early close
    /// (`spec.commits_closed_at`); with rounds, the current round's. 0 while a draft gives its
    /// deadlines as durations, which are fixed when it opens.
    pub commit_deadline: u64,
    /// From the spec (with rounds, the current round's); 0 like `commit_deadline` until
    /// durations are fixed.
    pub reveal_deadline: u64,
    /// The round now, from 0 (see `spec.rounds`; always 0 in an experiment of one round).
    #[serde(default)]
    pub round: u32,
    /// Its rounds in all: 1 without `spec.rounds`.
    #[serde(default = "one")]
    pub rounds: u32,
    /// The EIP-712 domain's chain id.
    pub chain_id: u64,
    /// The EIP-712 domain's verifying contract.
    pub verifying_contract: Address,
}

fn one() -> u32 {
    1
}

impl ExperimentView {
    /// The EIP-712 domain its messages are signed in.
    pub fn domain(&self) -> plumbline_core::eip712::Eip712Domain {
        plumbline_core::eip712::domain(self.chain_id, self.verifying_contract)
    }
}

/// One task of a batch, as the labeler sees it: by its position in the batch only, so that
/// nothing tells gold from regular tasks (not the experiment's task index, not the
/// experimenter's id).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BatchTaskView {
    /// The task's position in this batch; labels are committed and revealed by it.
    pub task: u32,
    /// The prompt: text, or chat messages.
    pub prompt: Prompt,
    /// The responses in the order shown to this labeler.
    pub responses: Vec<String>,
    /// `response_order[p]`: the canonical index of shown response p.
    pub response_order: Vec<u8>,
}

/// `BATCH`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BatchView {
    /// The batch id (its place in the join log).
    pub batch_id: u64,
    /// Its labeler.
    pub labeler: Address,
    /// The labeler's cohort.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cohort: Option<String>,
    /// When it was assigned.
    pub assigned_at: u64,
    /// The round it belongs to (0 in an experiment of one round).
    #[serde(default)]
    pub round: u32,
    /// Commits are accepted before this instant (earlier if the creator closes commits): its
    /// round's commit deadline.
    pub commit_deadline: u64,
    /// The commit is refused sooner than this after assignment.
    pub work_secs_min: u64,
    /// The tasks in the labeler's order; gold tasks are not marked.
    pub tasks: Vec<BatchTaskView>,
}

/// The answer to `POST /experiments/{id}/join` when the same signed join was already made and
/// the caller is not its labeler, signed in: only which batch it was.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RepeatedJoin {
    /// The batch the join was given.
    pub batch_id: u64,
    /// Its labeler.
    pub labeler: Address,
    /// Always true.
    pub repeat: bool,
}

/// The answer to `POST /experiments/{id}/join`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum JoinAnswer {
    /// The batch, to its labeler.
    Batch(BatchView),
    /// A repeat seen by someone else.
    Repeated(RepeatedJoin),
}

impl JoinAnswer {
    /// The batch's id.
    pub fn batch_id(&self) -> u64 {
        match self {
            JoinAnswer::Batch(batch) => batch.batch_id,
            JoinAnswer::Repeated(repeat) => repeat.batch_id,
        }
    }
}

/// An error answer: `{code, message}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable code for programs, such as `not_qualified`.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
}
