//! The demo experiment `plumbline serve --demo` sets up: pairwise "which answer is more
//! helpful?" tasks written for this project (harmless everyday questions, four of them gold),
//! funded by the operator and open for a week.

use crate::fault::ServiceResult;
use crate::state::AppState;
use plumbline_core::fixed::Ppm;
use plumbline_core::lifecycle::Phase;
use plumbline_core::spec::{ExperimentSpec, LabelerLimits, Question, QuestionKind};
use plumbline_core::{Address, Amount, B256};

/// The demo's tasks: twelve regular pairs and four gold ones.
pub const DEMO_TASKS: &str = include_str!("../data/demo-tasks.jsonl");

/// The demo's practice tasks, with answers and explanations: optional practice before joining.
pub const DEMO_PRACTICE: &str = include_str!("../data/demo-practice.jsonl");

/// The demo experiment's title; `--demo` creates it only when the operator has none by it.
pub const DEMO_TITLE: &str = "Which answer is more helpful? (demo)";

/// Credits minted to each demo labeler: enough stake for every batch it may take.
pub const DEMO_LABELER_CREDITS: Amount = 10_000;

/// How long the demo stays open for commits.
const DEMO_COMMIT_WINDOW_SECS: u64 = 7 * 24 * 3600;

/// How long reveals are accepted after that.
const DEMO_REVEAL_WINDOW_SECS: u64 = 24 * 3600;

/// The demo spec, with deadlines counted from `now`.
pub fn demo_spec(now: u64) -> ExperimentSpec {
    ExperimentSpec {
        schema_version: plumbline_core::limits::SCHEMA_VERSION,
        title: DEMO_TITLE.into(),
        question: Question {
            kind: QuestionKind::Pairwise { strength_max: 2, allow_tie: true },
            instructions: "Read the prompt and both answers. Pick the answer that is more \
                           helpful, correct and safe; use the strong choice when one is clearly \
                           better, and a tie when neither is."
                .into(),
            rationale: false,
        },
        subjective: false,
        block_size: 4,
        overlap: 3,
        gold_per_batch: 2,
        stake_per_batch: 1_000,
        reward_pool: 100_000,
        slash_bps: 5_000,
        non_reveal_slash_bps: 10_000,
        slashed_funds: Default::default(),
        false_slash_rate: Ppm::new(10_000).expect("0.01"),
        false_reward_rate: Ppm::new(200_000).expect("0.2"),
        peer_weight: Ppm::new(500_000).expect("0.5"),
        commit_deadline: now + DEMO_COMMIT_WINDOW_SECS,
        reveal_deadline: now + DEMO_COMMIT_WINDOW_SECS + DEMO_REVEAL_WINDOW_SECS,
        commit_within: None,
        reveal_within: None,
        commits_closed_at: None,
        eligibility: Default::default(),
        qualification: None,
        limits: LabelerLimits { batches_per_labeler_max: 3, ..LabelerLimits::default() },
        cohorts: None,
        strata: Vec::new(),
        rounds: None,
    }
}

/// What [`seed`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DemoSeed {
    /// The demo experiment.
    pub experiment_id: B256,
    /// False when an earlier run had already created it.
    pub created: bool,
}

/// Creates the demo once: mints credits to the operator and the labelers, then creates,
/// imports (tasks and practice), funds and opens the demo experiment through the same code the API runs. When the
/// operator already has a demo experiment that is not cancelled, nothing is done.
pub async fn seed(
    state: &AppState,
    operator: Address,
    labelers: &[Address],
) -> ServiceResult<DemoSeed> {
    let existing = state.store().experiments().await?.into_iter().find(|row| {
        row.creator == operator && row.spec.title == DEMO_TITLE && row.phase != Phase::Cancelled
    });
    if let Some(row) = existing {
        return Ok(DemoSeed { experiment_id: row.experiment_id, created: false });
    }
    let now = state.now();
    let spec = demo_spec(now);
    state.store().mint(operator, spec.reward_pool, now).await?;
    for labeler in labelers {
        state.store().mint(*labeler, DEMO_LABELER_CREDITS, now).await?;
    }
    let row = state.create_experiment(operator, spec, now).await?;
    let id = row.experiment_id;
    state.import_tasks(id, operator, DEMO_TASKS, now).await?;
    state.import_practice(id, operator, DEMO_PRACTICE, now).await?;
    state.fund(id, operator, now).await?;
    state.open(id, operator, now).await?;
    Ok(DemoSeed { experiment_id: id, created: true })
}
