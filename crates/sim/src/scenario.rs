//! Scenario files: what market to simulate and who labels in it. TOML, unknown fields
//! rejected, every error naming the field and the rule it breaks (exit code 2 in the CLI).
//!
//! A scenario names the question, where the tasks come from (synthetic with a latent truth, or
//! real preference pairs), the market's shape (block size, overlap, gold, batches per labeler,
//! stake, pool), optional overrides of the mechanism's parameters (the spec's documented
//! defaults otherwise), the naive baseline rule's thresholds, and the population: shares of
//! each labeler strategy (see [`crate::agents`]). The experiment spec itself is built from
//! these and validated by the core, so a scenario can never run a spec a server would refuse.

use crate::error::{Result, SimError, invalid};
use plumbline_core::limits::{BATCHES_PER_LABELER_MAX, PRACTICE_TASKS_MAX};
use plumbline_core::spec::{ExperimentSpec, Question, QuestionKind, SlashedFunds, SpecFormat};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Most identities in one simulated market.
pub const POPULATION_MAX: u32 = 100_000;
/// Most runs (seeds) of one simulation.
pub const RUNS_MAX: u32 = 10_000;
/// Most experiments one population goes through in a run.
pub const ROUNDS_MAX: u32 = 100;
/// Longest scenario name (it names report files).
pub const NAME_BYTES_MAX: usize = 64;

/// A whole scenario.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used in report file names: lowercase letters, digits, `-` and `_`.
    pub name: String,
    /// One paragraph saying what the scenario shows.
    #[serde(default)]
    pub description: String,
    /// How many seeds to run unless `--runs` says otherwise.
    #[serde(default = "defaults::runs")]
    pub runs: u32,
    /// The first seed unless `--seed` says otherwise; run r uses `seed + r`.
    #[serde(default = "defaults::seed")]
    pub seed: u64,
    /// Experiments the same population goes through in one run, reputation carried over.
    #[serde(default = "defaults::rounds")]
    pub rounds: u32,
    /// The question every task asks (binary, choice or pairwise).
    pub question: Question,
    /// Where the tasks come from.
    #[serde(default)]
    pub tasks: Tasks,
    /// The market's shape.
    pub market: Market,
    /// Overrides of the mechanism's parameters; unset ones keep the spec's defaults.
    #[serde(default)]
    pub mechanism: Mechanism,
    /// Thresholds of the naive baseline rule reported beside the mechanism.
    #[serde(default)]
    pub baseline: BaselineRule,
    /// Practice every identity must pass before it may join (the spec's qualification).
    #[serde(default)]
    pub qualification: Option<Practice>,
    /// Adaptive rounds inside every experiment (the spec's `rounds`).
    #[serde(default)]
    pub adaptive: Option<Adaptive>,
    /// Who labels.
    pub population: Population,
    /// Settings used only with `--server`.
    #[serde(default)]
    pub server: ServerSettings,
    /// The directory relative paths are resolved against (the scenario file's).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// The qualification of every experiment of a scenario, and the practice pool it draws from.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Practice {
    /// Practice tasks each identity answers.
    pub items: u32,
    /// Lowest practice score that qualifies (0..1).
    pub score_min: f64,
    /// Practice tasks in each experiment's pool.
    #[serde(default = "defaults::practice_tasks")]
    pub practice_tasks: usize,
}

/// Later commit-reveal rounds inside each experiment, asking only about the tasks the revealed
/// labels leave unsure (the spec's `rounds`, see `plumbline_core::rounds`). The first round
/// has blocks for only part of the population; the rest, fresh, can take a later round's
/// blocks, which want labelers who have seen none of their tasks.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Adaptive {
    /// Rounds in all, the first included.
    pub count: u32,
    /// The most labels a task gets over every round.
    pub labels_max: u32,
    /// How sure a task's weighted vote must be to get no more labels.
    pub confidence: f64,
    /// Each later round's commit window, seconds.
    #[serde(default = "defaults::window_secs")]
    pub commit_secs: u64,
    /// Each later round's reveal window, seconds.
    #[serde(default = "defaults::window_secs")]
    pub reveal_secs: u64,
    /// Share of the population the first round has no blocks for (0 to below 1).
    pub reserve: f64,
}

mod defaults {
    pub fn practice_tasks() -> usize {
        200
    }
    pub fn runs() -> u32 {
        20
    }
    pub fn seed() -> u64 {
        1
    }
    pub fn rounds() -> u32 {
        1
    }
    pub fn source() -> String {
        "synthetic".into()
    }
    pub fn gold() -> usize {
        100
    }
    pub fn half() -> f64 {
        0.5
    }
    pub fn signal_accuracy() -> f64 {
        0.6
    }
    pub fn trigger_rate() -> f64 {
        0.1
    }
    pub fn spare_blocks() -> u32 {
        4
    }
    pub fn window_secs() -> u64 {
        3_600
    }
    pub fn close() -> f64 {
        0.25
    }
    pub fn outlier() -> f64 {
        0.5
    }
    pub fn half_life_items() -> f64 {
        100.0
    }
    pub fn shared() -> bool {
        true
    }
    pub fn threads() -> u32 {
        8
    }
}

/// Where tasks come from and the features the strategies look at.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tasks {
    /// `"synthetic"` (a latent truth drawn per task), or a path (file or folder, relative to
    /// the scenario file) of JSONL or gzip-compressed JSONL preference pairs
    /// `{"chosen", "rejected"}` in the Anthropic HH-RLHF format.
    #[serde(default = "defaults::source")]
    pub source: String,
    /// Gold tasks in the experiment (drawn from the same distribution, never subjective).
    #[serde(default = "defaults::gold")]
    pub gold: usize,
    /// Binary questions: the share of tasks whose truth is 1.
    #[serde(default = "defaults::half")]
    pub positive_rate: f64,
    /// Synthetic tasks: how often the cheap signal (for pairwise, the longer response) points
    /// at the truth. Real pairs carry their own lengths.
    #[serde(default = "defaults::signal_accuracy")]
    pub signal_accuracy: f64,
    /// Synthetic tasks: the share carrying the trigger feature targeted poisoners look for.
    #[serde(default = "defaults::trigger_rate")]
    pub trigger_rate: f64,
    /// Real pairs: the trigger is this word in the prompt (case-insensitive).
    #[serde(default)]
    pub trigger_word: Option<String>,
    /// Share of regular tasks that are subjective: the minority cohort's true preference is
    /// the other one.
    #[serde(default)]
    pub subjective_rate: f64,
    /// Blocks beyond what the population's batches fill exactly, so that a labeler's last join
    /// still finds a block it has not done.
    #[serde(default = "defaults::spare_blocks")]
    pub spare_blocks: u32,
    /// The experimenter writes the opposite of the truth as every gold answer (an attempt to
    /// slash honest labelers and keep their stakes).
    #[serde(default)]
    pub inverted_gold: bool,
}

impl Default for Tasks {
    fn default() -> Self {
        Tasks {
            source: defaults::source(),
            gold: defaults::gold(),
            positive_rate: defaults::half(),
            signal_accuracy: defaults::signal_accuracy(),
            trigger_rate: defaults::trigger_rate(),
            trigger_word: None,
            subjective_rate: 0.0,
            spare_blocks: defaults::spare_blocks(),
            inverted_gold: false,
        }
    }
}

impl Tasks {
    /// Whether the tasks are drawn synthetically.
    pub fn is_synthetic(&self) -> bool {
        self.source == "synthetic"
    }
}

/// The market's shape: the spec fields that are not mechanism parameters.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Market {
    /// T: regular tasks per batch.
    pub block_size: u32,
    /// m: labelers per block (per cohort with cohorts).
    pub overlap: u32,
    /// Gold tasks mixed into every batch.
    #[serde(default)]
    pub gold_per_batch: u32,
    /// Batches every identity takes (also the spec's `batches_per_labeler_max`).
    pub batches_per_labeler: u32,
    /// Stake locked per batch, in base units.
    pub stake_per_batch: u64,
    /// The experimenter's reward pool per experiment, in base units.
    pub reward_pool: u64,
    /// Subjective question: only gold may slash.
    #[serde(default)]
    pub subjective: bool,
    /// Compare peers within cohorts (`majority`, `minority`): honest minority labelers
    /// declare `minority`, everyone else `majority`.
    #[serde(default)]
    pub cohorts: bool,
    /// Task `meta` keys the experimenter declares as strata (`trigger` marks the tasks
    /// targeted poisoners attack).
    #[serde(default)]
    pub strata: Vec<String>,
    /// The spec's fast-response ban.
    #[serde(default)]
    pub seconds_per_task_min: u32,
    /// From opening to the commit deadline. Keep it short for `--server` without a test clock.
    #[serde(default = "defaults::window_secs")]
    pub commit_secs: u64,
    /// From the commit deadline to the reveal deadline (at least 60).
    #[serde(default = "defaults::window_secs")]
    pub reveal_secs: u64,
}

/// Mechanism parameters; each unset one keeps the spec's documented default.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mechanism {
    /// Share of stake a slashed labeler loses, basis points.
    pub slash_bps: Option<u32>,
    /// Share of stake lost for a batch not revealed, basis points.
    pub non_reveal_slash_bps: Option<u32>,
    /// Where slashed stake goes.
    pub slashed_funds: Option<SlashedFunds>,
    /// δ: the largest probability that an honest labeler is slashed.
    pub false_slash_rate: Option<f64>,
    /// The largest probability that a chance-level labeler is rewarded.
    pub false_reward_rate: Option<f64>,
    /// λ: weight of the peer score against the gold score.
    pub peer_weight: Option<f64>,
}

/// The naive rule of the seed idea: distance to the majority label of each task; close is
/// paid, far gets nothing, outliers are slashed.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineRule {
    /// Mean distance (1 − agreement) to the majority at or below which a labeler is paid.
    #[serde(default = "defaults::close")]
    pub close: f64,
    /// Mean distance above which a labeler is slashed.
    #[serde(default = "defaults::outlier")]
    pub outlier: f64,
}

impl Default for BaselineRule {
    fn default() -> Self {
        BaselineRule { close: defaults::close(), outlier: defaults::outlier() }
    }
}

/// How an honest-type labeler's skill (the probability of the right answer) is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Skill {
    /// Everyone the same.
    Fixed(f64),
    /// Uniform between the two values.
    Uniform([f64; 2]),
    /// Beta(a, b).
    Beta([f64; 2]),
}

impl Skill {
    /// One labeler's skill.
    pub fn draw(&self, rng: &mut crate::rng::Rng) -> f64 {
        match *self {
            Skill::Fixed(p) => p,
            Skill::Uniform([lo, hi]) => lo + (hi - lo) * rng.unit(),
            Skill::Beta([a, b]) => rng.beta(a, b),
        }
    }
}

impl Default for Skill {
    /// Beta(8, 2): mean 0.8, most mass between 0.6 and 0.95.
    fn default() -> Self {
        Skill::Beta([8.0, 2.0])
    }
}

/// A share of the population.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Share {
    /// Share of identities, 0 to 1.
    pub share: f64,
}

/// A share whose members label from skill.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skilled {
    /// Share of identities, 0 to 1.
    pub share: f64,
    /// How skill is drawn.
    #[serde(default)]
    pub skill: Skill,
}

/// Lazy labelers: one constant answer.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lazy {
    /// Share of identities, 0 to 1.
    pub share: f64,
    /// The answer they always give, in the order shown to them (default: 1 for binary, 0 for
    /// choice, the weakest preference for the right-hand response for pairwise, or a tie when
    /// ties are allowed).
    pub answer: Option<i64>,
}

/// Labelers whose accuracy decays within a session.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fatigue {
    /// Share of identities, 0 to 1.
    pub share: f64,
    /// Skill at the start of the session.
    #[serde(default)]
    pub skill: Skill,
    /// Items after which the skill's edge over a coin has halved.
    #[serde(default = "defaults::half_life_items")]
    pub half_life_items: f64,
}

/// Sybil swarms: k identities run by one actor with one strategy.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sybil {
    /// Share of identities, 0 to 1 (rounded to whole swarms).
    pub share: f64,
    /// Identities per swarm (k).
    pub identities: u32,
    /// The strategy every identity plays (any strategy name but `sybil`).
    pub strategy: String,
    /// Skill, for strategies that have one.
    #[serde(default)]
    pub skill: Skill,
    /// Whether the identities submit the same labels (the actor labels each task once and
    /// copies the answer) rather than drawing their own.
    #[serde(default = "defaults::shared")]
    pub shared: bool,
}

/// The population: its size and the share of each strategy. Shares must add up to 1.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Population {
    /// Identities in the market (a Sybil swarm counts k).
    pub size: u32,
    /// Careful labelers, skill from a distribution.
    pub honest: Option<Skilled>,
    /// One constant answer.
    pub lazy: Option<Lazy>,
    /// Uniformly random answers.
    pub random: Option<Share>,
    /// Always the response shown on the left (position bias).
    pub always_left: Option<Share>,
    /// A group answering a cheap signal together (the longer response).
    pub colluding: Option<Share>,
    /// The opposite of what they believe.
    pub flipper: Option<Skilled>,
    /// Honest, but the opposite of the truth on tasks carrying the trigger feature.
    pub poisoner: Option<Skilled>,
    /// Knows every gold task and its answer (the worst case of a labeler who found gold) and
    /// gives one constant answer, in the order shown, on the regular tasks.
    pub gold_sniper: Option<Lazy>,
    /// Sybil swarms.
    pub sybil: Option<Sybil>,
    /// Honest members of a minority cohort whose true preference differs on subjective tasks.
    pub honest_minority: Option<Skilled>,
    /// Honest, with accuracy decaying within the session.
    pub fatigue: Option<Fatigue>,
}

/// Settings for `--server`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// The operator's key file (JSON with `private_key`), relative to the scenario file; the
    /// server must run with `--operator` set to its address. `--operator-key` overrides it.
    pub operator_key: Option<PathBuf>,
    /// Concurrent client threads driving labelers.
    #[serde(default = "defaults::threads")]
    pub threads: u32,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings { operator_key: None, threads: defaults::threads() }
    }
}

/// The strategies, as named in scenarios and reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    /// Careful labelers.
    Honest,
    /// Careful labelers of the minority cohort.
    HonestMinority,
    /// Careful labelers who tire.
    Fatigue,
    /// A constant answer.
    Lazy,
    /// Random answers.
    Random,
    /// Position bias.
    AlwaysLeft,
    /// Collusion on a cheap signal.
    Colluding,
    /// The opposite of what they believe.
    Flipper,
    /// Targeted poisoning.
    Poisoner,
    /// Knows every gold task and its answer; a constant answer elsewhere.
    GoldSniper,
    /// Sybil swarm identities.
    Sybil,
}

impl Group {
    /// Every group, in report order.
    pub const ALL: [Group; 11] = [
        Group::Honest,
        Group::HonestMinority,
        Group::Fatigue,
        Group::Lazy,
        Group::Random,
        Group::AlwaysLeft,
        Group::Colluding,
        Group::Flipper,
        Group::Poisoner,
        Group::GoldSniper,
        Group::Sybil,
    ];

    /// The name used in scenarios and reports.
    pub fn name(self) -> &'static str {
        match self {
            Group::Honest => "honest",
            Group::HonestMinority => "honest_minority",
            Group::Fatigue => "fatigue",
            Group::Lazy => "lazy",
            Group::Random => "random",
            Group::AlwaysLeft => "always_left",
            Group::Colluding => "colluding",
            Group::Flipper => "flipper",
            Group::Poisoner => "poisoner",
            Group::GoldSniper => "gold_sniper",
            Group::Sybil => "sybil",
        }
    }

    /// The group of a name.
    pub fn from_name(name: &str) -> Option<Group> {
        Group::ALL.into_iter().find(|g| g.name() == name)
    }

    /// Whether its members label truthfully as well as they can.
    pub fn is_truthful(self) -> bool {
        matches!(self, Group::Honest | Group::HonestMinority | Group::Fatigue)
    }
}

/// The counts of each group after rounding the shares to whole identities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counts {
    /// Identities per group, in [`Group::ALL`] order, groups with none left out.
    pub groups: Vec<(Group, usize)>,
    /// Sybil swarms (each of `identities` members).
    pub swarms: usize,
}

impl Scenario {
    /// Parses and checks a scenario; relative paths are resolved against `base_dir`.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Scenario> {
        let mut scenario: Scenario =
            toml::from_str(text).map_err(|e| SimError::Parse(e.to_string()))?;
        scenario.base_dir = base_dir.to_path_buf();
        scenario.validate()?;
        Ok(scenario)
    }

    /// Reads, parses and checks a scenario file.
    pub fn load(path: &Path) -> Result<Scenario> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SimError::Parse(format!("cannot read {}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Scenario::parse(&text, base)
    }

    /// A path from the scenario, resolved against its directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() { path.to_path_buf() } else { self.base_dir.join(path) }
    }

    /// Every rule a scenario must follow; the first broken one is returned.
    pub fn validate(&self) -> Result<()> {
        let name_ok =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
        if self.name.is_empty()
            || self.name.len() > NAME_BYTES_MAX
            || !self.name.chars().all(name_ok)
        {
            return Err(invalid(
                "name",
                format!("must be 1 to {NAME_BYTES_MAX} of a-z, 0-9, `-` and `_`"),
            ));
        }
        if let Some(q) = &self.qualification
            && !(q.items as usize..=PRACTICE_TASKS_MAX).contains(&q.practice_tasks)
        {
            return Err(invalid(
                "qualification.practice_tasks",
                format!("must be at least `items` and at most {PRACTICE_TASKS_MAX}"),
            ));
        }
        if !(1..=RUNS_MAX).contains(&self.runs) {
            return Err(invalid("runs", format!("must be 1 to {RUNS_MAX}")));
        }
        if !(1..=ROUNDS_MAX).contains(&self.rounds) {
            return Err(invalid("rounds", format!("must be 1 to {ROUNDS_MAX}")));
        }
        match &self.question.kind {
            QuestionKind::Binary { .. }
            | QuestionKind::Choice { .. }
            | QuestionKind::Pairwise { .. } => {}
            other => {
                return Err(invalid(
                    "question.kind",
                    format!(
                        "the simulator supports binary, choice and pairwise questions, not {}",
                        other.name()
                    ),
                ));
            }
        }
        if let Some(a) = &self.adaptive
            && !(0.0..1.0).contains(&a.reserve)
        {
            return Err(invalid("adaptive.reserve", "must be at least 0 and below 1"));
        }
        self.validate_tasks()?;
        self.validate_market()?;
        self.validate_population()?;
        // The spec is checked by the core itself; its field names are mapped back to ours.
        self.spec(crate::in_process::START)?;
        if self.server.threads == 0 || self.server.threads > 256 {
            return Err(invalid("server.threads", "must be 1 to 256"));
        }
        Ok(())
    }

    fn validate_tasks(&self) -> Result<()> {
        let t = &self.tasks;
        for (field, value) in [
            ("tasks.positive_rate", t.positive_rate),
            ("tasks.signal_accuracy", t.signal_accuracy),
            ("tasks.trigger_rate", t.trigger_rate),
            ("tasks.subjective_rate", t.subjective_rate),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(invalid(field, "must be between 0 and 1"));
            }
        }
        if t.gold < self.market.gold_per_batch as usize {
            return Err(invalid("tasks.gold", "must be at least market.gold_per_batch"));
        }
        if t.gold == 1 {
            // One gold task cannot be chance-corrected (its baseline needs another).
            return Err(invalid("tasks.gold", "must be 0 or at least 2"));
        }
        if !t.is_synthetic() {
            if !matches!(self.question.kind, QuestionKind::Pairwise { .. }) {
                return Err(invalid(
                    "tasks.source",
                    "real content holds preference pairs: the question must be pairwise",
                ));
            }
            if let Some(word) = &t.trigger_word
                && word.trim().is_empty()
            {
                return Err(invalid("tasks.trigger_word", "must not be empty"));
            }
        } else if t.trigger_word.is_some() {
            return Err(invalid(
                "tasks.trigger_word",
                "only real content has words; synthetic tasks use trigger_rate",
            ));
        }
        Ok(())
    }

    fn validate_market(&self) -> Result<()> {
        let m = &self.market;
        if !(1..=BATCHES_PER_LABELER_MAX).contains(&m.batches_per_labeler) {
            return Err(invalid(
                "market.batches_per_labeler",
                format!("must be 1 to {BATCHES_PER_LABELER_MAX}"),
            ));
        }
        let work = u64::from(m.block_size) * u64::from(m.seconds_per_task_min);
        if m.commit_secs <= work {
            return Err(invalid(
                "market.commit_secs",
                format!("must exceed block_size × seconds_per_task_min = {work}"),
            ));
        }
        if m.cohorts && !m.subjective {
            return Err(invalid(
                "market.cohorts",
                "cohorts keep peers apart only on subjective questions: set market.subjective",
            ));
        }
        if self.population.honest_minority.as_ref().is_some_and(|s| s.share > 0.0)
            && self.tasks.subjective_rate == 0.0
        {
            return Err(invalid(
                "tasks.subjective_rate",
                "an honest minority differs only on subjective tasks: set a rate above 0",
            ));
        }
        Ok(())
    }

    fn validate_population(&self) -> Result<()> {
        let p = &self.population;
        if !(2..=POPULATION_MAX).contains(&p.size) {
            return Err(invalid("population.size", format!("must be 2 to {POPULATION_MAX}")));
        }
        let mut total = 0.0;
        for (group, share, skill) in self.shares() {
            let field = format!("population.{}", group.name());
            if !(0.0..=1.0).contains(&share) {
                return Err(invalid(format!("{field}.share"), "must be between 0 and 1"));
            }
            total += share;
            if let Some(skill) = skill {
                check_skill(&format!("{field}.skill"), skill)?;
            }
        }
        if (total - 1.0).abs() > 1e-6 {
            return Err(invalid("population", format!("the shares add up to {total}, not 1")));
        }
        if let Some(fatigue) = &p.fatigue
            && !(fatigue.half_life_items.is_finite() && fatigue.half_life_items > 0.0)
        {
            return Err(invalid("population.fatigue.half_life_items", "must be above 0"));
        }
        if let Some(sybil) = &p.sybil {
            if sybil.identities == 0 || sybil.identities > p.size {
                return Err(invalid(
                    "population.sybil.identities",
                    "must be 1 to the population size",
                ));
            }
            match Group::from_name(&sybil.strategy) {
                None | Some(Group::Sybil) | Some(Group::HonestMinority) => {
                    return Err(invalid(
                        "population.sybil.strategy",
                        "must name a strategy other than sybil and honest_minority",
                    ));
                }
                Some(_) => {}
            }
        }
        for (field, lazy) in
            [("population.lazy.answer", &p.lazy), ("population.gold_sniper.answer", &p.gold_sniper)]
        {
            if let Some(answer) = lazy.as_ref().and_then(|l| l.answer)
                && !crate::agents::valid_answer(&self.question.kind, answer)
            {
                return Err(invalid(
                    field,
                    format!(
                        "{answer} is not a label of this {} question",
                        self.question.kind.name()
                    ),
                ));
            }
        }
        if self.counts().groups.iter().map(|(_, n)| n).sum::<usize>() < 2 {
            return Err(invalid("population", "the shares leave fewer than 2 identities"));
        }
        Ok(())
    }

    /// Each group's share and skill distribution, as written.
    fn shares(&self) -> Vec<(Group, f64, Option<&Skill>)> {
        let p = &self.population;
        let mut out = Vec::new();
        let mut push = |group, share: Option<f64>, skill| {
            if let Some(share) = share {
                out.push((group, share, skill));
            }
        };
        push(
            Group::Honest,
            p.honest.as_ref().map(|s| s.share),
            p.honest.as_ref().map(|s| &s.skill),
        );
        push(
            Group::HonestMinority,
            p.honest_minority.as_ref().map(|s| s.share),
            p.honest_minority.as_ref().map(|s| &s.skill),
        );
        push(
            Group::Fatigue,
            p.fatigue.as_ref().map(|s| s.share),
            p.fatigue.as_ref().map(|s| &s.skill),
        );
        push(Group::Lazy, p.lazy.as_ref().map(|s| s.share), None);
        push(Group::Random, p.random.as_ref().map(|s| s.share), None);
        push(Group::AlwaysLeft, p.always_left.as_ref().map(|s| s.share), None);
        push(Group::Colluding, p.colluding.as_ref().map(|s| s.share), None);
        push(
            Group::Flipper,
            p.flipper.as_ref().map(|s| s.share),
            p.flipper.as_ref().map(|s| &s.skill),
        );
        push(
            Group::Poisoner,
            p.poisoner.as_ref().map(|s| s.share),
            p.poisoner.as_ref().map(|s| &s.skill),
        );
        push(Group::GoldSniper, p.gold_sniper.as_ref().map(|s| s.share), None);
        push(Group::Sybil, p.sybil.as_ref().map(|s| s.share), p.sybil.as_ref().map(|s| &s.skill));
        out
    }

    /// Whole identities per group: Sybil identities first, rounded to whole swarms (at least
    /// one when the share is above 0), then the rest by largest remainder so that the counts
    /// add up to the population size.
    pub fn counts(&self) -> Counts {
        let size = self.population.size as usize;
        let shares = self.shares();
        let (mut sybils, mut swarms) = (0usize, 0usize);
        if let Some(sybil) = &self.population.sybil
            && sybil.share > 0.0
        {
            let k = sybil.identities as usize;
            swarms = ((sybil.share * size as f64 / k as f64).round() as usize).max(1);
            while swarms > 1 && swarms * k > size {
                swarms -= 1;
            }
            sybils = (swarms * k).min(size);
            if sybils < k {
                swarms = 0;
                sybils = 0;
            }
        }
        let others: Vec<(Group, f64)> = shares
            .iter()
            .filter(|(g, s, _)| *g != Group::Sybil && *s > 0.0)
            .map(|(g, s, _)| (*g, *s))
            .collect();
        let rest = size - sybils;
        let weight: f64 = others.iter().map(|(_, s)| s).sum();
        let mut groups: Vec<(Group, usize, f64)> = others
            .iter()
            .map(|(g, s)| {
                let exact = if weight > 0.0 { s / weight * rest as f64 } else { 0.0 };
                (*g, exact.floor() as usize, exact - exact.floor())
            })
            .collect();
        // The floors leave fewer identities over than there are groups (each remainder is
        // below 1), so one pass in order of largest remainder hands them all out; ties go to
        // the group listed first.
        let left = rest - groups.iter().map(|(_, n, _)| n).sum::<usize>();
        let mut order: Vec<usize> = (0..groups.len()).collect();
        order.sort_by(|&a, &b| groups[b].2.total_cmp(&groups[a].2).then(a.cmp(&b)));
        for &i in order.iter().take(left) {
            groups[i].1 += 1;
        }
        let mut out: Vec<(Group, usize)> =
            groups.into_iter().filter(|(_, n, _)| *n > 0).map(|(g, n, _)| (g, n)).collect();
        if sybils > 0 {
            out.push((Group::Sybil, sybils));
        }
        out.sort_by_key(|(g, _)| *g);
        Counts { groups: out, swarms }
    }

    /// Whether any identity declares the minority cohort.
    pub fn has_minority(&self) -> bool {
        self.counts().groups.iter().any(|(g, _)| *g == Group::HonestMinority)
    }

    /// The spec of one experiment opened at `start`: the market's shape, the mechanism's
    /// overrides, and the spec's defaults for the rest, validated by the core.
    pub fn spec(&self, start: u64) -> Result<ExperimentSpec> {
        let m = &self.market;
        let commit = start + m.commit_secs;
        let mut spec = serde_json::json!({
            "schema_version": plumbline_core::limits::SCHEMA_VERSION,
            "title": format!("Simulated market: {}", self.name),
            "question": self.question,
            "subjective": m.subjective,
            "block_size": m.block_size,
            "overlap": m.overlap,
            "gold_per_batch": m.gold_per_batch,
            "stake_per_batch": m.stake_per_batch.to_string(),
            "reward_pool": m.reward_pool.to_string(),
            "commit_deadline": commit,
            "reveal_deadline": commit + m.reveal_secs,
            "limits": {
                "batches_per_labeler_max": m.batches_per_labeler,
                "seconds_per_task_min": m.seconds_per_task_min,
            },
        });
        if !m.strata.is_empty() {
            spec["strata"] = serde_json::json!(m.strata);
        }
        if let Some(q) = &self.qualification {
            spec["qualification"] =
                serde_json::json!({ "items": q.items, "score_min": q.score_min });
        }
        if let Some(a) = &self.adaptive {
            spec["rounds"] = serde_json::json!({
                "count": a.count,
                "labels_max": a.labels_max,
                "confidence": a.confidence,
                "commit_within": format!("{}s", a.commit_secs),
                "reveal_within": format!("{}s", a.reveal_secs),
            });
            // One more batch per later round, where an identity may work again.
            spec["limits"]["batches_per_labeler_max"] =
                serde_json::json!(m.batches_per_labeler + a.count - 1);
        }
        if m.cohorts {
            spec["cohorts"] =
                serde_json::json!({ "attribute": "group", "values": [MAJORITY, MINORITY] });
        }
        let x = &self.mechanism;
        let overrides = [
            ("slash_bps", x.slash_bps.map(serde_json::Value::from)),
            ("non_reveal_slash_bps", x.non_reveal_slash_bps.map(serde_json::Value::from)),
            ("slashed_funds", x.slashed_funds.map(|f| serde_json::json!(f))),
            ("false_slash_rate", x.false_slash_rate.map(serde_json::Value::from)),
            ("false_reward_rate", x.false_reward_rate.map(serde_json::Value::from)),
            ("peer_weight", x.peer_weight.map(serde_json::Value::from)),
        ];
        for (key, value) in overrides {
            if let Some(value) = value {
                spec[key] = value;
            }
        }
        ExperimentSpec::parse(&spec.to_string(), SpecFormat::Json).map_err(|e| match e {
            plumbline_core::spec::SpecError::Invalid { field, rule } => {
                invalid(scenario_field(field), rule)
            }
            plumbline_core::spec::SpecError::Parse(message) => invalid("mechanism", message),
        })
    }

    /// Identities of the whole population after rounding shares to whole identities.
    pub fn identities(&self) -> usize {
        self.counts().groups.iter().map(|(_, n)| n).sum()
    }

    /// Regular tasks per experiment: enough blocks for every cohort's batches at the overlap,
    /// plus the spare blocks.
    pub fn regular_tasks(&self) -> usize {
        let counts = self.counts();
        let batches = self.market.batches_per_labeler as usize;
        let minority: usize = counts
            .groups
            .iter()
            .filter(|(g, _)| *g == Group::HonestMinority && self.market.cohorts)
            .map(|(_, n)| n)
            .sum();
        let majority = self.identities() - minority;
        let cohort_max = majority.max(minority);
        // With adaptive rounds the first round leaves a reserve of identities without blocks.
        let served = match &self.adaptive {
            Some(a) => (cohort_max as f64 * (1.0 - a.reserve)).ceil() as usize,
            None => cohort_max,
        };
        let blocks = (served * batches).div_ceil(self.market.overlap as usize)
            + self.tasks.spare_blocks as usize;
        blocks * self.market.block_size as usize
    }
}

/// The cohort everyone but the honest minority declares when cohorts are set.
pub const MAJORITY: &str = "majority";
/// The honest minority's cohort.
pub const MINORITY: &str = "minority";

/// Where a spec field comes from in a scenario.
fn scenario_field(spec_field: &str) -> String {
    match spec_field {
        "block_size" | "overlap" | "gold_per_batch" | "stake_per_batch" | "reward_pool" => {
            format!("market.{spec_field}")
        }
        "reveal_deadline" => "market.reveal_secs".into(),
        "strata" => "market.strata".into(),
        "rounds" => "adaptive".into(),
        field if field.starts_with("rounds.") => format!("adaptive.{}", &field["rounds.".len()..]),
        "limits.batches_per_labeler_max" => "market.batches_per_labeler".into(),
        "limits.seconds_per_task_min" => "market.seconds_per_task_min".into(),
        field if field.starts_with("question") || field.starts_with("qualification") => {
            field.into()
        }
        field => format!("mechanism.{field}"),
    }
}

fn check_skill(field: &str, skill: &Skill) -> Result<()> {
    let unit = |v: f64| (0.0..=1.0).contains(&v);
    let ok = match *skill {
        Skill::Fixed(p) => unit(p),
        Skill::Uniform([lo, hi]) => unit(lo) && unit(hi) && lo <= hi,
        Skill::Beta([a, b]) => a.is_finite() && b.is_finite() && a > 0.0 && b > 0.0,
    };
    if ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            "fixed must be in [0, 1], uniform [lo, hi] with 0 ≤ lo ≤ hi ≤ 1, beta [a, b] with a, b > 0",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const SMALL: &str = r#"
name = "small"
runs = 2

[question]
kind = "binary"
options = ["no", "yes"]

[tasks]
gold = 20

[market]
block_size = 10
overlap = 3
gold_per_batch = 2
batches_per_labeler = 2
stake_per_batch = 1000
reward_pool = 100000

[population]
size = 10
honest = { share = 0.6 }
random = { share = 0.2 }
sybil = { share = 0.2, identities = 2, strategy = "random" }
"#;

    fn parse(text: &str) -> Result<Scenario> {
        Scenario::parse(text, Path::new("."))
    }

    #[test]
    fn counts_add_up_and_swarms_are_whole() {
        let s = parse(SMALL).unwrap();
        let counts = s.counts();
        assert_eq!(counts.groups, vec![(Group::Honest, 6), (Group::Random, 2), (Group::Sybil, 2)]);
        assert_eq!(counts.swarms, 1);
        // 10 identities × 2 batches / overlap 3 = 7 blocks, plus 4 spare, of 10 tasks.
        assert_eq!(s.regular_tasks(), 110);
        let spec = s.spec(1_000).unwrap();
        assert_eq!(spec.false_slash_rate.get(), 10_000, "the spec's default δ");
        assert_eq!(spec.limits.batches_per_labeler_max, 2);
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse(&SMALL.replace("random = { share = 0.2 }", "random = { share = 0.3 }"));
        assert!(e.unwrap_err().to_string().contains("add up to"));
        let e = parse(&SMALL.replace("overlap = 3", "overlap = 0")).unwrap_err();
        assert_eq!(e.to_string(), "scenario field `market.overlap`: must be 1 to 100");
        let e = parse(&format!("{SMALL}\n[mechanism]\nfalse_slash_rate = 0.7\n")).unwrap_err();
        assert!(e.to_string().contains("mechanism.false_slash_rate"), "{e}");
        let e = parse(&SMALL.replace("strategy = \"random\"", "strategy = \"sybil\"")).unwrap_err();
        assert!(e.to_string().contains("population.sybil.strategy"), "{e}");
        let e = parse(&SMALL.replace("size = 10", "size = 10\nbogus = 1")).unwrap_err();
        assert!(matches!(e, SimError::Parse(ref m) if m.contains("bogus")), "{e}");
        let e = parse(
            &SMALL
                .replace("\"binary\"", "\"ranking\"\nn = 3")
                .replace("options = [\"no\", \"yes\"]", ""),
        )
        .unwrap_err();
        assert!(e.to_string().contains("question.kind"), "{e}");
    }
}
