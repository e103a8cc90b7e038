//! The experiment spec: what an experimenter declares before opening an experiment. Read from
//! TOML or JSON, versioned by `schema_version`, and validated with errors that name the field
//! and the rule it breaks.

use crate::duration::{DURATION_MAX, Duration};
use crate::fixed::Ppm;
use crate::limits::*;
use crate::reward_test::FALSE_REWARD_RATE_MIN;
use crate::rounds::{Rounds, Window};
use crate::{Amount, amount};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// An experiment spec. Field names are the TOML/JSON keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSpec {
    /// Must equal [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Short human title.
    pub title: String,
    /// The question every task asks.
    pub question: Question,
    /// Subjective questions never slash on peer disagreement; only gold may slash.
    #[serde(default)]
    pub subjective: bool,
    /// T: regular tasks per block (and per batch).
    pub block_size: u32,
    /// m: labelers per block (per cohort when cohorts are set).
    pub overlap: u32,
    /// Hidden gold tasks mixed into every batch.
    #[serde(default)]
    pub gold_per_batch: u32,
    /// Stake locked from the labeler's balance for each batch.
    #[serde(with = "amount")]
    pub stake_per_batch: Amount,
    /// Reward pool escrowed by the experimenter.
    #[serde(with = "amount")]
    pub reward_pool: Amount,
    /// Share of its stake a slashed labeler loses, in basis points.
    #[serde(default = "defaults::slash_bps")]
    pub slash_bps: u32,
    /// Share of a batch's stake lost when it is not revealed, in basis points; never less than
    /// `slash_bps` in effect, so that not revealing never beats revealing.
    #[serde(default = "defaults::non_reveal_slash_bps")]
    pub non_reveal_slash_bps: u32,
    /// Where slashed stake goes.
    #[serde(default)]
    pub slashed_funds: SlashedFunds,
    /// δ: the largest probability that an honest labeler is slashed.
    #[serde(default = "defaults::false_slash_rate")]
    pub false_slash_rate: Ppm,
    /// The largest probability that a labeler no better than chance is rewarded.
    #[serde(default = "defaults::false_reward_rate")]
    pub false_reward_rate: Ppm,
    /// λ: weight of the peer score against the gold score, at least [`PEER_WEIGHT_MIN`] so
    /// that gold is never the whole of the evidence where peers exist.
    #[serde(default = "defaults::peer_weight")]
    pub peer_weight: Ppm,
    /// Commits are accepted before this instant (unix seconds). With `commit_within` it is
    /// left out (0) and fixed when the experiment opens.
    #[serde(default)]
    pub commit_deadline: u64,
    /// Reveals are accepted before this instant (unix seconds); settlement follows. With
    /// `reveal_within` it is left out (0) and fixed when the experiment opens.
    #[serde(default)]
    pub reveal_deadline: u64,
    /// How long the commit phase lasts from opening, instead of a `commit_deadline`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_within: Option<Duration>,
    /// How long reveals are taken after the commit deadline, instead of a `reveal_deadline`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reveal_within: Option<Duration>,
    /// When the creator closed commits early (unix seconds): never in a spec one writes; the
    /// server sets it, and the record carries it (see [`ExperimentSpec::commits_end`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commits_closed_at: Option<u64>,
    /// Who may join.
    #[serde(default)]
    pub eligibility: Eligibility,
    /// Practice a labeler must pass before joining (see [`crate::practice`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualification: Option<Qualification>,
    /// Per-labeler limits.
    #[serde(default)]
    pub limits: LabelerLimits,
    /// Optional cohorts: peers are compared within a cohort on subjective questions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cohorts: Option<Cohorts>,
    /// Task `meta` keys whose values cut the tasks into strata on which every labeler is also
    /// scored alone (see [`crate::strata`]): below chance in one, a labeler is not rewarded
    /// and its labels there leave the export.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub strata: Vec<String>,
    /// Adaptive rounds: later commit-reveal rounds that ask for more labels where the revealed
    /// ones are not yet sure (see [`crate::rounds`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rounds: Option<Rounds>,
}

mod defaults {
    use crate::fixed::Ppm;

    pub fn slash_bps() -> u32 {
        5_000
    }
    pub fn non_reveal_slash_bps() -> u32 {
        10_000
    }
    pub fn false_slash_rate() -> Ppm {
        Ppm::new(10_000).expect("0.01")
    }
    pub fn false_reward_rate() -> Ppm {
        Ppm::new(200_000).expect("0.2")
    }
    pub fn peer_weight() -> Ppm {
        Ppm::new(500_000).expect("0.5")
    }
    pub fn batches_per_labeler_max() -> u32 {
        1
    }
}

/// The question: its kind with parameters, and the instructions shown to labelers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Question {
    /// The kind of answer and its parameters.
    #[serde(flatten)]
    pub kind: QuestionKind,
    /// Instructions in markdown.
    #[serde(default)]
    pub instructions: String,
    /// Whether labelers may add a free-text rationale (never scored).
    #[serde(default)]
    pub rationale: bool,
}

/// Question kinds and their parameters. Label encodings are in [`crate::label`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum QuestionKind {
    /// Label 0 or 1, with names for the two options.
    Binary {
        /// Names of option 0 and option 1.
        options: [String; 2],
    },
    /// Label is an option index 0..C.
    Choice {
        /// Option names.
        options: Vec<String>,
    },
    /// Label is an integer in min..=max (Likert).
    Rating {
        /// Lowest rating.
        min: i32,
        /// Highest rating.
        max: i32,
    },
    /// Label in −K..=K: the sign is the preferred response (negative = A, positive = B), the
    /// magnitude the strength, 0 a tie.
    Pairwise {
        /// K, the strongest preference.
        strength_max: u32,
        /// Whether 0 (a tie) is allowed.
        allow_tie: bool,
    },
    /// Label is a permutation of the n responses, best first.
    Ranking {
        /// Number of responses per task.
        n: u32,
    },
    /// Free text, never scored by agreement.
    Text {
        /// Longest answer in bytes.
        length_max: u32,
    },
}

impl QuestionKind {
    /// The kind's name as written in specs.
    pub fn name(&self) -> &'static str {
        match self {
            QuestionKind::Binary { .. } => "binary",
            QuestionKind::Choice { .. } => "choice",
            QuestionKind::Rating { .. } => "rating",
            QuestionKind::Pairwise { .. } => "pairwise",
            QuestionKind::Ranking { .. } => "ranking",
            QuestionKind::Text { .. } => "text",
        }
    }

    /// How many responses each task must carry, when the kind fixes it.
    pub fn responses_required(&self) -> Option<usize> {
        match self {
            QuestionKind::Pairwise { .. } => Some(2),
            QuestionKind::Ranking { n } => Some(*n as usize),
            _ => None,
        }
    }

    /// How many classes a label chooses among: a binary or choice question's options; `None`
    /// for the kinds whose labels are not classes.
    pub fn classes(&self) -> Option<u32> {
        match self {
            QuestionKind::Binary { .. } => Some(2),
            QuestionKind::Choice { options } => Some(options.len() as u32),
            _ => None,
        }
    }

    /// Whether the responses are shown in a per-labeler shuffled order.
    pub fn shuffles_responses(&self) -> bool {
        matches!(self, QuestionKind::Pairwise { .. } | QuestionKind::Ranking { .. })
    }
}

/// What happens to slashed stake. It never goes back to the experimenter: an experimenter who
/// could take slashed stake would profit from slashing, and it designs the gold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlashedFunds {
    /// Added to the pot and paid to rewarded labelers.
    #[default]
    Redistribute,
    /// Destroyed.
    Burn,
}

/// Who may join an experiment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Eligibility {
    /// Lowest combined reputation score (−1..1) allowed to join; labelers without a record
    /// are always allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reputation_min: Option<f64>,
}

/// A qualification: practice tasks a labeler answers, once each and without a stake, before it
/// may join.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Qualification {
    /// Practice tasks each labeler answers, drawn from the experiment's practice pool.
    pub items: u32,
    /// Lowest chance-corrected practice score (0 is guessing, 1 every answer right) that
    /// qualifies.
    pub score_min: f64,
}

impl Qualification {
    /// `score_min` at scale 10^6.
    pub fn score_min_ppm(&self) -> i64 {
        (self.score_min * crate::fixed::SCALE as f64).round() as i64
    }
}

/// Per-labeler limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelerLimits {
    /// Most batches one labeler may take.
    #[serde(default = "defaults::batches_per_labeler_max")]
    pub batches_per_labeler_max: u32,
    /// A commit arrives no sooner than `block_size × seconds_per_task_min` after assignment.
    #[serde(default)]
    pub seconds_per_task_min: u32,
    /// Most batches one labeler may take per hour (0: no limit).
    #[serde(default)]
    pub batches_per_labeler_per_hour_max: u32,
}

impl Default for LabelerLimits {
    fn default() -> Self {
        LabelerLimits {
            batches_per_labeler_max: defaults::batches_per_labeler_max(),
            seconds_per_task_min: 0,
            batches_per_labeler_per_hour_max: 0,
        }
    }
}

/// Cohorts: an attribute and its allowed values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cohorts {
    /// The attribute, e.g. "region".
    pub attribute: String,
    /// Its allowed values.
    pub values: Vec<String>,
}

/// A spec that breaks a rule: the field (a dotted path) and the rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The text is not valid TOML or JSON for a spec.
    #[error("spec does not parse: {0}")]
    Parse(String),
    /// A field breaks a rule.
    #[error("spec field `{field}`: {rule}")]
    Invalid {
        /// Dotted path of the field.
        field: &'static str,
        /// The rule it breaks.
        rule: String,
    },
}

fn invalid(field: &'static str, rule: impl Into<String>) -> SpecError {
    SpecError::Invalid { field, rule: rule.into() }
}

/// Spec file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecFormat {
    /// TOML.
    Toml,
    /// JSON.
    Json,
}

impl SpecFormat {
    /// Guesses the format from a file name: `.json` is JSON, anything else TOML.
    pub fn from_path(path: &str) -> SpecFormat {
        if path.to_ascii_lowercase().ends_with(".json") {
            SpecFormat::Json
        } else {
            SpecFormat::Toml
        }
    }
}

impl ExperimentSpec {
    /// Parses and validates a spec.
    pub fn parse(text: &str, format: SpecFormat) -> Result<ExperimentSpec, SpecError> {
        let spec: ExperimentSpec = match format {
            SpecFormat::Toml => toml::from_str(text).map_err(|e| SpecError::Parse(e.to_string())),
            SpecFormat::Json => {
                serde_json::from_str(text).map_err(|e| SpecError::Parse(e.to_string()))
            }
        }?;
        spec.validate()?;
        Ok(spec)
    }

    /// The deadlines: absolute, or durations fixed at opening (then either not fixed yet, or
    /// fixed as the durations say), and an early close no later than the commit deadline.
    fn validate_deadlines(&self) -> Result<(), SpecError> {
        match (self.commit_within, self.reveal_within) {
            (None, None) => {
                if self.commit_deadline == 0 {
                    return Err(invalid(
                        "commit_deadline",
                        "give commit_deadline and reveal_deadline (unix seconds), or \
                         commit_within and reveal_within (durations such as \"3d\")",
                    ));
                }
            }
            (Some(commit), Some(reveal)) => {
                if !(Duration::from_secs(COMMIT_WITHIN_SECS_MIN)..=DURATION_MAX).contains(&commit) {
                    return Err(invalid(
                        "commit_within",
                        format!(
                            "must be {} to {DURATION_MAX}",
                            Duration::from_secs(COMMIT_WITHIN_SECS_MIN)
                        ),
                    ));
                }
                if !(Duration::from_secs(REVEAL_WINDOW_SECS_MIN)..=DURATION_MAX).contains(&reveal) {
                    return Err(invalid(
                        "reveal_within",
                        format!(
                            "must be {} to {DURATION_MAX}",
                            Duration::from_secs(REVEAL_WINDOW_SECS_MIN)
                        ),
                    ));
                }
                let fixed = self.commit_deadline != 0 || self.reveal_deadline != 0;
                if fixed
                    && self.reveal_deadline != self.commit_deadline.saturating_add(reveal.secs())
                {
                    return Err(invalid(
                        "reveal_deadline",
                        "is fixed from commit_within and reveal_within when the experiment \
                         opens: give the durations or the deadlines, not both",
                    ));
                }
            }
            (Some(_), None) => {
                return Err(invalid("reveal_within", "is needed with commit_within"));
            }
            (None, Some(_)) => {
                return Err(invalid("commit_within", "is needed with reveal_within"));
            }
        }
        if self.deadlines_fixed()
            && self.reveal_deadline < self.commit_deadline.saturating_add(REVEAL_WINDOW_SECS_MIN)
        {
            return Err(invalid(
                "reveal_deadline",
                format!("must be at least {REVEAL_WINDOW_SECS_MIN} seconds after commit_deadline"),
            ));
        }
        if let Some(closed) = self.commits_closed_at
            && (!self.deadlines_fixed() || closed > self.commit_deadline)
        {
            return Err(invalid("commits_closed_at", "must be no later than commit_deadline"));
        }
        Ok(())
    }

    /// Whether the deadlines are known: absolute in the spec, or fixed at opening.
    pub fn deadlines_fixed(&self) -> bool {
        self.commit_deadline != 0
    }

    /// Fixes deadlines given as durations, counted from `opened_at`; absolute ones stay.
    pub fn fix_deadlines(&mut self, opened_at: u64) {
        if let (Some(commit), Some(reveal)) = (self.commit_within, self.reveal_within) {
            self.commit_deadline = opened_at.saturating_add(commit.secs());
            self.reveal_deadline = self.commit_deadline.saturating_add(reveal.secs());
        }
    }

    /// When the commit phase ends: the commit deadline, or the early close if the creator
    /// closed commits before it.
    pub fn commits_end(&self) -> u64 {
        self.commits_closed_at
            .map_or(self.commit_deadline, |closed| closed.min(self.commit_deadline))
    }

    /// Every round's deadlines: the spec's own for the first, and one window per later round
    /// (see [`crate::rounds`]). Meaningful once the deadlines are fixed.
    pub fn round_windows(&self) -> Vec<Window> {
        crate::rounds::windows(self.commit_deadline, self.reveal_deadline, self.rounds.as_ref())
    }

    /// The last round's reveal deadline, after which the experiment settles: the reveal
    /// deadline of an experiment of one round.
    pub fn final_reveal_deadline(&self) -> u64 {
        self.round_windows().last().expect("at least one round").reveal_deadline
    }

    /// Reads a spec from a JSON value (an API request's) and validates it; a value of the
    /// wrong shape is named by its field path.
    pub fn from_value(value: serde_json::Value) -> Result<ExperimentSpec, SpecError> {
        let spec: ExperimentSpec = serde_path_to_error::deserialize(value).map_err(|e| {
            SpecError::Parse(match e.path().to_string().as_str() {
                "." => e.inner().to_string(),
                path => format!("field `{path}`: {}", e.inner()),
            })
        })?;
        spec.validate()?;
        Ok(spec)
    }

    /// The spec as canonical JSON, the form hashed and stored in the public record.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a spec always serializes")
    }

    /// Checks every rule; the first broken one is returned.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.schema_version != SCHEMA_VERSION {
            return Err(invalid(
                "schema_version",
                format!("must be {SCHEMA_VERSION}, got {}", self.schema_version),
            ));
        }
        if self.title.trim().is_empty() || self.title.len() > TITLE_BYTES_MAX {
            return Err(invalid("title", format!("must be 1 to {TITLE_BYTES_MAX} bytes")));
        }
        if self.question.instructions.len() > INSTRUCTIONS_BYTES_MAX {
            return Err(invalid(
                "question.instructions",
                format!("must be at most {INSTRUCTIONS_BYTES_MAX} bytes"),
            ));
        }
        self.validate_kind()?;
        if !(1..=BLOCK_SIZE_MAX).contains(&self.block_size) {
            return Err(invalid("block_size", format!("must be 1 to {BLOCK_SIZE_MAX}")));
        }
        if !(1..=OVERLAP_MAX).contains(&self.overlap) {
            return Err(invalid("overlap", format!("must be 1 to {OVERLAP_MAX}")));
        }
        if self.gold_per_batch > GOLD_PER_BATCH_MAX {
            return Err(invalid("gold_per_batch", format!("must be at most {GOLD_PER_BATCH_MAX}")));
        }
        if self.stake_per_batch == 0 || self.stake_per_batch > AMOUNT_MAX {
            return Err(invalid("stake_per_batch", "must be 1 to 10^36 base units"));
        }
        if self.reward_pool == 0 || self.reward_pool > AMOUNT_MAX {
            return Err(invalid("reward_pool", "must be 1 to 10^36 base units"));
        }
        if self.slash_bps > 10_000 {
            return Err(invalid("slash_bps", "must be at most 10000 (100%)"));
        }
        if self.non_reveal_slash_bps > 10_000 {
            return Err(invalid("non_reveal_slash_bps", "must be at most 10000 (100%)"));
        }
        if self.false_slash_rate.get() == 0 || self.false_slash_rate.get() > 500_000 {
            return Err(invalid("false_slash_rate", "must be above 0 and at most 0.5"));
        }
        let reward_min = FALSE_REWARD_RATE_MIN.get();
        if self.false_reward_rate.get() < reward_min || self.false_reward_rate.get() > 500_000 {
            return Err(invalid(
                "false_reward_rate",
                format!(
                    "must be at least {} and at most 0.5: the reward test compares a labeler's \
                     labels with at most 10000 rearrangements of them",
                    f64::from(reward_min) / 1e6
                ),
            ));
        }
        if self.peer_weight.get() < PEER_WEIGHT_MIN_PPM {
            return Err(invalid(
                "peer_weight",
                format!(
                    "must be at least {}: gold answers alone, which the experimenter chooses, \
                     must not decide who is paid or slashed",
                    f64::from(PEER_WEIGHT_MIN_PPM) / 1e6
                ),
            ));
        }
        self.validate_deadlines()?;
        if let Some(min) = self.eligibility.reputation_min
            && !(-1.0..=1.0).contains(&min)
        {
            return Err(invalid("eligibility.reputation_min", "must be between -1 and 1"));
        }
        if let Some(qualification) = &self.qualification {
            if !(1..=QUALIFICATION_ITEMS_MAX).contains(&qualification.items) {
                return Err(invalid(
                    "qualification.items",
                    format!("must be 1 to {QUALIFICATION_ITEMS_MAX}"),
                ));
            }
            if !(0.0..=1.0).contains(&qualification.score_min) {
                return Err(invalid("qualification.score_min", "must be between 0 and 1"));
            }
            if matches!(self.question.kind, QuestionKind::Text { .. }) {
                return Err(invalid("qualification", "text answers cannot be graded"));
            }
        }
        let limits = &self.limits;
        if !(1..=BATCHES_PER_LABELER_MAX).contains(&limits.batches_per_labeler_max) {
            return Err(invalid(
                "limits.batches_per_labeler_max",
                format!("must be 1 to {BATCHES_PER_LABELER_MAX}"),
            ));
        }
        if limits.seconds_per_task_min > SECONDS_PER_TASK_MIN_MAX {
            return Err(invalid(
                "limits.seconds_per_task_min",
                format!("must be at most {SECONDS_PER_TASK_MIN_MAX}"),
            ));
        }
        if let Some(cohorts) = &self.cohorts {
            if cohorts.attribute.trim().is_empty() || cohorts.attribute.len() > OPTION_BYTES_MAX {
                return Err(invalid(
                    "cohorts.attribute",
                    format!("must be 1 to {OPTION_BYTES_MAX} bytes"),
                ));
            }
            check_names("cohorts.values", &cohorts.values, 1, COHORTS_MAX)?;
        }
        if !self.strata.is_empty() {
            check_names("strata", &self.strata, 1, STRATA_KEYS_MAX)?;
        }
        if let Some(rounds) = &self.rounds {
            self.validate_rounds(rounds)?;
        }
        Ok(())
    }

    fn validate_rounds(&self, rounds: &Rounds) -> Result<(), SpecError> {
        rounds.validate(self.overlap).map_err(|(field, rule)| invalid(field, rule))?;
        if rounds.is_best_of() {
            if !matches!(self.question.kind, QuestionKind::Pairwise { .. }) {
                return Err(invalid(
                    "rounds.rule",
                    "best of N compares responses in pairs: a pairwise question",
                ));
            }
        } else if self.question.kind.classes().is_none() {
            return Err(invalid(
                "rounds",
                "later rounds are chosen by the vote over classes: a binary or choice question",
            ));
        }
        if self.cohorts.is_some() {
            return Err(invalid("rounds", "an experiment with cohorts runs one round"));
        }
        if self.commits_closed_at.is_some() {
            return Err(invalid(
                "commits_closed_at",
                "an experiment with rounds closes each round at its deadline",
            ));
        }
        if !rounds.is_best_of() && self.limits.batches_per_labeler_max < rounds.count {
            return Err(invalid(
                "limits.batches_per_labeler_max",
                format!(
                    "must be at least rounds.count ({}), so that a labeler can work in every round",
                    rounds.count
                ),
            ));
        }
        Ok(())
    }

    fn validate_kind(&self) -> Result<(), SpecError> {
        match &self.question.kind {
            QuestionKind::Binary { options } => check_names("question.options", options, 2, 2),
            QuestionKind::Choice { options } => {
                check_names("question.options", options, 2, CHOICE_OPTIONS_MAX)
            }
            QuestionKind::Rating { min, max } => {
                let range = i64::from(*max) - i64::from(*min);
                if !(1..=RATING_RANGE_MAX).contains(&range) {
                    return Err(invalid(
                        "question.max",
                        format!("max − min must be 1 to {RATING_RANGE_MAX}"),
                    ));
                }
                Ok(())
            }
            QuestionKind::Pairwise { strength_max, .. } => {
                if !(1..=PAIRWISE_STRENGTH_MAX).contains(strength_max) {
                    return Err(invalid(
                        "question.strength_max",
                        format!("must be 1 to {PAIRWISE_STRENGTH_MAX}"),
                    ));
                }
                Ok(())
            }
            QuestionKind::Ranking { n } => {
                if !(2..=RANKING_RESPONSES_MAX).contains(n) {
                    return Err(invalid(
                        "question.n",
                        format!("must be 2 to {RANKING_RESPONSES_MAX}"),
                    ));
                }
                Ok(())
            }
            QuestionKind::Text { length_max } => {
                if !(1..=TEXT_LABEL_BYTES_MAX).contains(length_max) {
                    return Err(invalid(
                        "question.length_max",
                        format!("must be 1 to {TEXT_LABEL_BYTES_MAX}"),
                    ));
                }
                Ok(())
            }
        }
    }

    /// The effective non-reveal penalty in basis points: never below the outlier slash.
    pub fn non_reveal_bps_effective(&self) -> u32 {
        self.non_reveal_slash_bps.max(self.slash_bps)
    }

    /// Index of a cohort name, if cohorts are set and the name is one of them.
    pub fn cohort_index(&self, name: &str) -> Option<usize> {
        self.cohorts.as_ref()?.values.iter().position(|v| v == name)
    }
}

fn check_names(
    field: &'static str,
    names: &[String],
    count_min: usize,
    count_max: usize,
) -> Result<(), SpecError> {
    if !(count_min..=count_max).contains(&names.len()) {
        return Err(invalid(field, format!("must have {count_min} to {count_max} entries")));
    }
    let mut seen = BTreeSet::new();
    for name in names {
        if name.trim().is_empty() || name.len() > OPTION_BYTES_MAX {
            return Err(invalid(
                field,
                format!("each entry must be 1 to {OPTION_BYTES_MAX} bytes"),
            ));
        }
        if !seen.insert(name) {
            return Err(invalid(field, format!("entry {name:?} appears twice")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const PAIRWISE_TOML: &str = r#"
schema_version = 1
title = "Which answer is more helpful?"
block_size = 10
overlap = 3
gold_per_batch = 2
stake_per_batch = "1000000"
reward_pool = 100000000
commit_deadline = 1800000000
reveal_deadline = 1800086400

[question]
kind = "pairwise"
strength_max = 3
allow_tie = true
instructions = "Pick the more helpful answer."
"#;

    #[test]
    fn toml_and_json_forms_agree() {
        let spec = ExperimentSpec::parse(PAIRWISE_TOML, SpecFormat::Toml).unwrap();
        assert_eq!(spec.question.kind, QuestionKind::Pairwise { strength_max: 3, allow_tie: true });
        assert_eq!(spec.stake_per_batch, 1_000_000);
        assert_eq!(spec.false_slash_rate.get(), 10_000);
        let json = spec.to_json();
        let again = ExperimentSpec::parse(&json, SpecFormat::Json).unwrap();
        assert_eq!(spec, again);
        assert!(json.contains(r#""reward_pool":"100000000""#), "amounts are strings: {json}");
    }

    fn error_of(text: &str) -> SpecError {
        ExperimentSpec::parse(text, SpecFormat::Toml).unwrap_err()
    }

    #[test]
    fn errors_name_field_and_rule() {
        let e = error_of(&PAIRWISE_TOML.replace("overlap = 3", "overlap = 0"));
        assert_eq!(e.to_string(), "spec field `overlap`: must be 1 to 100");
        let e = error_of(&PAIRWISE_TOML.replace("strength_max = 3", "strength_max = 99"));
        assert!(e.to_string().contains("question.strength_max"), "{e}");
        let e = error_of(&PAIRWISE_TOML.replace("1800086400", "1800000001"));
        assert!(e.to_string().contains("reveal_deadline"), "{e}");
        let twice = "reveal_deadline = 1800086400\nstrata = [\"topic\", \"topic\"]";
        let e = error_of(&PAIRWISE_TOML.replace("reveal_deadline = 1800086400", twice));
        assert!(e.to_string().contains("`strata`") && e.to_string().contains("twice"), "{e}");
        let e = error_of(&PAIRWISE_TOML.replace("schema_version = 1", "schema_version = 7"));
        assert!(e.to_string().contains("schema_version"), "{e}");
    }

    #[test]
    fn unknown_fields_and_kinds_are_rejected() {
        let e = error_of(&format!("{PAIRWISE_TOML}\n[limits]\nbogus = 1\n"));
        assert!(matches!(e, SpecError::Parse(ref m) if m.contains("bogus")), "{e}");
        let e = error_of(&PAIRWISE_TOML.replace("\"pairwise\"", "\"essay\""));
        assert!(matches!(e, SpecError::Parse(_)), "{e}");
        let e = error_of(&PAIRWISE_TOML.replace("allow_tie = true", "allow_tie = true\ncolor = 1"));
        assert!(matches!(e, SpecError::Parse(ref m) if m.contains("color")), "{e}");
    }

    #[test]
    fn slashed_stake_never_goes_to_the_experimenter_and_gold_never_decides_alone() {
        let e = error_of(&format!("slashed_funds = \"refund\"\n{PAIRWISE_TOML}"));
        assert!(matches!(e, SpecError::Parse(ref m) if m.contains("refund")), "{e}");
        let e = error_of(&format!("peer_weight = 0\n{PAIRWISE_TOML}"));
        assert!(e.to_string().contains("peer_weight"), "{e}");
        let ok = format!("peer_weight = 0.2\n{PAIRWISE_TOML}");
        assert!(ExperimentSpec::parse(&ok, SpecFormat::Toml).is_ok());
    }

    #[test]
    fn a_knockout_is_for_pairwise_questions_only() {
        let rounds = "[rounds]\nrule = \"best_of\"\ncount = 20\nlabels_max = 9\nconfidence = 0.95\n\
                      commit_within = \"1h\"\nreveal_within = \"1h\"\n";
        let spec = ExperimentSpec::parse(&format!("{PAIRWISE_TOML}\n{rounds}"), SpecFormat::Toml);
        assert!(spec.unwrap().rounds.unwrap().is_best_of());
        let binary = PAIRWISE_TOML
            .replace("kind = \"pairwise\"", "kind = \"binary\"\noptions = [\"no\", \"yes\"]")
            .replace("strength_max = 3\nallow_tie = true\n", "");
        let e = error_of(&format!("{binary}\n{rounds}"));
        assert!(e.to_string().contains("rounds.rule"), "{e}");
    }

    #[test]
    fn choice_options_must_be_distinct() {
        let text = PAIRWISE_TOML
            .replace("kind = \"pairwise\"", "kind = \"choice\"\noptions = [\"a\", \"a\"]")
            .replace("strength_max = 3\nallow_tie = true\n", "");
        let e = error_of(&text);
        assert!(e.to_string().contains("appears twice"), "{e}");
    }
}
