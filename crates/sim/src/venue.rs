//! Where a simulated experiment runs. The market's loop ([`crate::market::run`]) is written
//! once over a [`Venue`]: it draws the tasks, signs every join, commit and reveal with the
//! labelers' keys, answers for the agents and moves time; a venue only carries those steps
//! out: in process, on [`crate::in_process::InProcess`] (the protocol core itself), or on
//! running servers, on [`crate::servers::Servers`] (the HTTP API).

use crate::error::Result;
use plumbline_core::client::{LabelerKey, SignedCommit, SignedJoin, SignedReveal};
use plumbline_core::eip712::Eip712Domain;
use plumbline_core::practice::PracticeRecord;
use plumbline_core::record::PublicRecord;
use plumbline_core::spec::ExperimentSpec;
use plumbline_core::task::Task;
use plumbline_core::{Amount, B256};
use std::collections::BTreeMap;

/// A round's experiment, opened: what its labelers need to address and sign for it.
#[derive(Clone, Debug)]
pub struct Opened {
    /// The experiment's id.
    pub id: B256,
    /// The EIP-712 domain its messages are signed in.
    pub domain: Eip712Domain,
}

/// A round's experiment, to open, and what it is funded with.
#[derive(Clone, Debug)]
pub struct Opening<'a> {
    /// The round.
    pub round: u32,
    /// Its spec, deadlines counted from the round's start.
    pub spec: &'a ExperimentSpec,
    /// Its tasks.
    pub tasks: &'a [Task],
    /// The reward pool, escrowed by the round's creator.
    pub pool: Amount,
    /// The labelers, each credited `stakes` to lock for its batches (where the venue keeps
    /// the money in its own ledger; a venue on chain has them deposit before the run).
    pub labelers: &'a [LabelerKey],
    /// Each labeler's credit.
    pub stakes: Amount,
}

/// One labeler's signed join.
#[derive(Clone, Debug)]
pub struct Joining<'a> {
    /// The labeler's place in the roster.
    pub labeler: usize,
    /// Its key (a venue may need to sign in as it).
    pub key: &'a LabelerKey,
    /// The join.
    pub join: SignedJoin,
}

/// A batch as its labeler sees it: its id, and for each position the task's index in the
/// round's task list with the order its responses are shown in. A labeler on servers knows
/// its tasks by their content only; the venue maps them back.
#[derive(Clone, Debug)]
pub struct Shown {
    /// The batch's id.
    pub batch_id: u64,
    /// `(task index, response order)` by position.
    pub tasks: Vec<(u32, Vec<u8>)>,
}

/// A signed commit or reveal of one labeler's batch.
#[derive(Clone, Debug)]
pub struct Sent<T> {
    /// The labeler's place in the roster.
    pub labeler: usize,
    /// The batch.
    pub batch_id: u64,
    /// The signed message.
    pub message: T,
}

/// A settled experiment, as the venue tells it.
#[derive(Clone, Debug)]
pub struct Settled {
    /// The public record.
    pub record: PublicRecord,
    /// On servers: the consensus class of each task in the server's own export.
    pub export_classes: Option<BTreeMap<u32, i64>>,
}

/// Where a round's experiment runs. Every step takes many labelers at once, so that a venue
/// with many clients can serve them concurrently; within one call the order of the labelers
/// is the order given, as far as the venue can keep it.
pub trait Venue {
    /// When round `round` starts: the instant its spec's deadlines count from.
    fn round_start(&mut self, round: u32) -> Result<u64>;

    /// Funds, creates, imports and opens a round's experiment.
    fn open(&mut self, opening: &Opening) -> Result<Opened>;

    /// Moves the venue's clock to `t`, or past it.
    fn advance(&mut self, t: u64) -> Result<()>;

    /// Serves the joins in order: each one's batch, or `None` when no block was left that its
    /// labeler had not done.
    fn join(&mut self, joins: &[Joining]) -> Result<Vec<Option<Shown>>>;

    /// Accepts the commits.
    fn commit(&mut self, commits: &[Sent<SignedCommit>]) -> Result<()>;

    /// Accepts the reveals.
    fn reveal(&mut self, reveals: &[Sent<SignedReveal>]) -> Result<()>;

    /// Whether an experiment with rounds is over before its last round: no label can still
    /// come and no later round would ask anything (`Experiment::rounds_over`). A server asked
    /// settles it then, if its scheduler has not already.
    fn ended_early(&mut self) -> Result<bool>;

    /// Settles the experiment once its reveals are in. `practice` is what the labelers
    /// answered in practice before joining, published with the record (in process only).
    fn settle(&mut self, practice: Option<PracticeRecord>) -> Result<Settled>;

    /// A copy of the venue as it is, whose rounds do not count: to run the same experiment a
    /// second way. `None` where the venue cannot be copied (servers).
    fn rehearsal(&self) -> Option<Self>
    where
        Self: Sized;
}
