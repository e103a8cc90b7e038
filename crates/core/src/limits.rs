//! Limits on everything that comes from outside, named with units last. The edge (CLI, HTTP)
//! checks them with a clear error; the core asserts them.

/// The spec schema version this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;
/// Longest experiment title.
pub const TITLE_BYTES_MAX: usize = 200;
/// Longest instructions text (markdown).
pub const INSTRUCTIONS_BYTES_MAX: usize = 64 * 1024;
/// Most options of a choice question.
pub const CHOICE_OPTIONS_MAX: usize = 64;
/// Longest option name.
pub const OPTION_BYTES_MAX: usize = 200;
/// Widest rating scale (max − min).
pub const RATING_RANGE_MAX: i64 = 100;
/// Largest pairwise strength K (labels lie in −K..=K).
pub const PAIRWISE_STRENGTH_MAX: u32 = 10;
/// Most responses of a ranking question.
pub const RANKING_RESPONSES_MAX: u32 = 64;
/// Longest free-text label.
pub const TEXT_LABEL_BYTES_MAX: u32 = 10_000;
/// Largest block (regular tasks per batch).
pub const BLOCK_SIZE_MAX: u32 = 1_000;
/// Most labelers per block (per cohort when cohorts are set).
pub const OVERLAP_MAX: u32 = 100;
/// Most gold tasks per batch.
pub const GOLD_PER_BATCH_MAX: u32 = 100;
/// Most task `meta` keys a spec may declare as strata.
pub const STRATA_KEYS_MAX: usize = 4;
/// Most strata (declared key and value pairs) an experiment's tasks may fall into.
pub const STRATA_MAX: usize = 64;
/// Fewest scored items in a stratum for its score to withhold a reward: below it a careful
/// labeler's score there is too often below zero by chance alone.
pub const STRATUM_ITEMS_MIN: u64 = 10;
/// Most cohorts of an experiment.
pub const COHORTS_MAX: usize = 32;
/// Largest amount of money anywhere in a spec or ledger (10^36 base units), so that sums of
/// many amounts never overflow `u128`.
pub const AMOUNT_MAX: u128 = 1_000_000_000_000_000_000_000_000_000_000_000_000;
/// Most tasks in one experiment.
pub const TASKS_MAX: usize = 1_000_000;
/// Longest task id.
pub const TASK_ID_BYTES_MAX: usize = 128;
/// Longest task prompt.
pub const PROMPT_BYTES_MAX: usize = 256 * 1024;
/// Most responses of one task.
pub const RESPONSES_MAX: usize = 64;
/// Longest single response.
pub const RESPONSE_BYTES_MAX: usize = 256 * 1024;
/// Largest task file accepted by an import.
pub const TASK_FILE_BYTES_MAX: usize = 512 * 1024 * 1024;
/// Most practice tasks a qualification may ask of a labeler.
pub const QUALIFICATION_ITEMS_MAX: u32 = 200;
/// Most practice tasks in an experiment's pool.
pub const PRACTICE_TASKS_MAX: usize = 10_000;
/// Longest explanation of a practice answer.
pub const EXPLANATION_BYTES_MAX: usize = 16 * 1024;
/// Most batches one labeler may take in one experiment, whatever the spec says.
pub const BATCHES_PER_LABELER_MAX: u32 = 10_000;
/// Smallest peer weight λ (parts per million): below it gold, which the experimenter writes,
/// would carry nearly all the evidence for rewarding and slashing.
pub const PEER_WEIGHT_MIN_PPM: u32 = 200_000;
/// Shortest reveal window between the commit and the reveal deadline.
pub const REVEAL_WINDOW_SECS_MIN: u64 = 60;
/// Largest minimum time per task a spec may demand.
pub const SECONDS_PER_TASK_MIN_MAX: u32 = 3_600;
/// Shortest commit phase a spec may give as a duration (`commit_within`).
pub const COMMIT_WITHIN_SECS_MIN: u64 = 60;
