//! The simulation report: per strategy the mean and spread of ROI net of stake and the tier
//! frequencies, the honest false-slash rate, the dataset's accuracy beside majority vote and
//! Dawid-Skene over all labels, the poisoned fraction, the honest minority against the honest
//! majority, all of it again for the naive baseline, and which targets were met.
//!
//! ROI is `(payout − stake) / stake` per identity over all rounds of a run; the statistics
//! pool every identity of a strategy over every run. A Sybil swarm's identities count one by
//! one (`roi_*`) and as a group (`group_roi_*`: the swarm's summed payout against its summed
//! stake).

use crate::analysis::{DatasetCounts, IdentityOutcome, RunOutcome, roi};
use crate::scenario::{Counts, Group, Scenario};
use plumbline_core::odds::normal_quantile;
use plumbline_core::score::Tally;
use plumbline_core::settle::Tier;
use plumbline_core::slash_test::KAPPA_PPM;
use plumbline_core::spec::ExperimentSpec;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// The whole report (`--json` prints it; `--report DIR` writes it as `report.json`).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: String,
    /// What it shows.
    pub description: String,
    /// `in_process` or `server`.
    pub mode: String,
    /// The seeds run, in order.
    pub seeds: Vec<u64>,
    /// Experiments per run.
    pub rounds: u32,
    /// The market's shape as simulated.
    pub market: MarketSummary,
    /// The mechanism's parameters in effect.
    pub mechanism: MechanismSummary,
    /// Per strategy, under the mechanism.
    pub strategies: BTreeMap<String, StrategyStats>,
    /// The share of truthful identities (honest, honest minority, fatigue) slashed, or charged
    /// the copy fee, at least once over their run's rounds.
    pub honest_false_slash_rate: f64,
    /// Honest minority mean ROI over honest (majority) mean ROI, when both are present.
    pub honest_minority_roi_ratio: Option<f64>,
    /// The exported dataset beside the aggregators over all labels.
    pub dataset: DatasetSummary,
    /// With a qualification: who passed it, and the export with the gate against without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qualification: Option<QualificationSummary>,
    /// The naive rule over the same labels.
    pub baseline: BaselineSummary,
    /// The targets under the mechanism.
    pub targets: Vec<Target>,
    /// Per run, for the spread between seeds.
    pub per_run: Vec<RunSummary>,
    /// With `--server`: the load the servers took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerStats>,
}

/// The market as simulated.
#[derive(Clone, Debug, Serialize)]
pub struct MarketSummary {
    /// The question kind.
    pub question: String,
    /// Where tasks came from.
    pub tasks_source: String,
    /// Identities per run.
    pub identities: usize,
    /// Identities per strategy.
    pub population: BTreeMap<String, usize>,
    /// T.
    pub block_size: u32,
    /// m.
    pub overlap: u32,
    /// Gold per batch.
    pub gold_per_batch: u32,
    /// Batches per identity per experiment.
    pub batches_per_labeler: u32,
    /// Regular tasks per experiment.
    pub regular_tasks: usize,
    /// Gold tasks per experiment.
    pub gold_tasks: usize,
    /// Stake per batch (base units, decimal).
    pub stake_per_batch: String,
    /// Reward pool per experiment (base units, decimal).
    pub reward_pool: String,
    /// Whether only gold may slash.
    pub subjective: bool,
    /// Whether peers are compared within cohorts.
    pub cohorts: bool,
    /// Mean scored items per identity per experiment.
    pub scored_items_mean: f64,
    /// Joins refused for want of a block the identity had not done, over all runs.
    pub joins_refused: u64,
    /// The mean item an identity with the mean peer and gold item counts and squares must
    /// exceed to pass the reward test, in the test's normal approximation (its rearranged
    /// regular labels put z(1 − δ_reward) standard errors above zero).
    pub reward_threshold: f64,
    /// The mean item the same identity must fall below to be slashed in its first experiment
    /// (no strata), in the slashing test's normal approximation: its arrangement must be below
    /// all but a fraction `p*` of its rearrangements, `p*` the p-value whose e-value reaches
    /// ln(2/δ) alone.
    pub slash_threshold: f64,
}

/// The mechanism's parameters in effect.
#[derive(Clone, Debug, Serialize)]
pub struct MechanismSummary {
    /// δ.
    pub false_slash_rate: f64,
    /// δ_reward.
    pub false_reward_rate: f64,
    /// λ.
    pub peer_weight: f64,
    /// Slash on the slashed tier, basis points.
    pub slash_bps: u32,
    /// Non-reveal penalty, basis points.
    pub non_reveal_slash_bps: u32,
    /// Where slashed stake goes.
    pub slashed_funds: String,
}

/// Tier frequencies over labeler-rounds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TierShares {
    /// Share rewarded.
    pub rewarded: f64,
    /// Share even.
    pub even: f64,
    /// Share slashed.
    pub slashed: f64,
}

/// One strategy's figures.
#[derive(Clone, Debug, Serialize)]
pub struct StrategyStats {
    /// Identities per run.
    pub identities: usize,
    /// Mean ROI over identities and runs.
    pub roi_mean: f64,
    /// Standard deviation of ROI over identities and runs.
    pub roi_sd: f64,
    /// Lowest ROI seen.
    pub roi_min: f64,
    /// 10th percentile.
    pub roi_p10: f64,
    /// Median.
    pub roi_median: f64,
    /// 90th percentile.
    pub roi_p90: f64,
    /// Highest ROI seen.
    pub roi_max: f64,
    /// Standard deviation of the per-run means (seed to seed).
    pub roi_mean_sd_over_runs: f64,
    /// Tier frequencies.
    pub tiers: TierShares,
    /// Share of its identity-rounds that owed the chance fee (mechanism only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chance_fee_share: Option<f64>,
    /// Mean combined score (mechanism only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score_mean: Option<f64>,
    /// Standard deviation of the score over identities and runs (mechanism only): the
    /// sampling noise the bounds' radii are to be compared with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score_sd: Option<f64>,
    /// Share of its regular labels matching its own cohort's truth.
    pub label_accuracy: f64,
    /// Share of its regular labels on tasks where it had no peer to be scored against.
    pub peerless_label_share: f64,
    /// With several rounds (mechanism only), the share of its identities slashed in each
    /// round: how the cumulative record makes slashing confident.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub slashed_by_round: Vec<f64>,
    /// Sybil swarms: mean ROI of a swarm as one actor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_roi_mean: Option<f64>,
    /// Sybil swarms: its standard deviation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_roi_sd: Option<f64>,
}

/// The dataset's figures, pooled over runs.
#[derive(Clone, Debug, Serialize)]
pub struct DatasetSummary {
    /// Regular tasks with labels, over all runs and rounds.
    pub evaluated_tasks: u64,
    /// The export's accuracy.
    pub accuracy: f64,
    /// Majority vote over all labels.
    pub majority_vote_accuracy: f64,
    /// Dawid-Skene over all labels.
    pub ds_accuracy: f64,
    /// Triggered tasks a poisoner labeled.
    pub attacked_tasks: u64,
    /// Share of attacked tasks the poison turned in the export (null without poisoners).
    pub poisoned_fraction: Option<f64>,
    /// The same for majority vote over all labels.
    pub majority_vote_poisoned_fraction: Option<f64>,
    /// The same for Dawid-Skene over all labels.
    pub ds_poisoned_fraction: Option<f64>,
    /// Revealed labels per regular task with labels.
    pub labels_per_task: f64,
    /// Share of revealed labels left out of the export.
    pub labels_left_out_share: f64,
    /// Share of revealed labels from the ends of sessions where the labeler tired, which the
    /// export weighs apart.
    pub labels_tired_share: f64,
    /// The export's accuracy with every label counted as its labeler's, on the same labels.
    pub accuracy_untired: f64,
    /// With `--server`: tasks whose consensus in the server's own export differs from the
    /// simulator's export (0 means the figures above are the server's export).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_export_mismatches: Option<u64>,
}

/// The qualification's figures: each experiment run once with the gate and once with everyone
/// admitted, on the same labels.
#[derive(Clone, Debug, Serialize)]
pub struct QualificationSummary {
    /// Practice tasks each identity answered.
    pub items: u32,
    /// Lowest practice score that qualified.
    pub score_min: f64,
    /// Practice tasks in each experiment's pool.
    pub practice_tasks: usize,
    /// Per strategy, the share of its identities' practices that qualified.
    pub qualified_share: BTreeMap<String, f64>,
    /// Regular tasks with labels, with the gate.
    pub evaluated_tasks: u64,
    /// The export's accuracy with the gate.
    pub export_accuracy: f64,
    /// Regular tasks with labels when everyone is admitted.
    pub evaluated_tasks_without_gate: u64,
    /// The export's accuracy when everyone is admitted.
    pub export_accuracy_without_gate: f64,
}

/// The naive rule's figures.
#[derive(Clone, Debug, Serialize)]
pub struct BaselineSummary {
    /// The rule.
    pub rule: String,
    /// Per strategy.
    pub strategies: BTreeMap<String, StrategyStats>,
    /// Truthful identities ever slashed over their run's rounds.
    pub honest_false_slash_rate: f64,
    /// Honest minority over honest majority mean ROI.
    pub honest_minority_roi_ratio: Option<f64>,
    /// Its dataset: majority vote over the labels of labelers it did not slash.
    pub dataset: BaselineDataset,
    /// The same targets under the naive rule.
    pub targets: Vec<Target>,
}

/// The naive rule's dataset.
#[derive(Clone, Debug, Serialize)]
pub struct BaselineDataset {
    /// Accuracy.
    pub accuracy: f64,
    /// Poisoned fraction.
    pub poisoned_fraction: Option<f64>,
}

/// One target of the issue and whether it was met.
#[derive(Clone, Debug, Serialize)]
pub struct Target {
    /// Short name.
    pub name: String,
    /// Whether it was met.
    pub met: bool,
    /// The figures behind the verdict.
    pub detail: String,
}

/// One run's headline figures.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    /// The seed.
    pub seed: u64,
    /// Mean ROI per strategy.
    pub roi_mean: BTreeMap<String, f64>,
    /// Export accuracy.
    pub accuracy: f64,
    /// Dawid-Skene over all labels.
    pub ds_accuracy: f64,
    /// Majority vote over all labels.
    pub majority_vote_accuracy: f64,
}

/// Load figures of a `--server` run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ServerStats {
    /// The servers driven.
    pub urls: Vec<String>,
    /// Client threads.
    pub threads: u32,
    /// Requests sent by labelers (join, commit, reveal).
    pub labeler_requests: u64,
    /// Of them answered with an error.
    pub errors: u64,
    /// Seconds spent in the labeler phases (joins, commits, reveals; wall clock).
    pub seconds: f64,
    /// Labeler requests per second.
    pub requests_per_sec: f64,
    /// Median latency, milliseconds.
    pub latency_p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub latency_p99_ms: f64,
    /// Whether deadlines were moved by the servers' test clocks (else real time passed).
    pub test_clock: bool,
    /// Requests answered by another replica than the one their client uses, because that one
    /// had stopped answering.
    pub failovers: u64,
    /// The replicas that stopped answering, each with what the client saw.
    pub replicas_down: Vec<String>,
}

/// Builds the report from the runs' outcomes.
pub fn build(
    scenario: &Scenario,
    spec: &ExperimentSpec,
    runs: &[RunOutcome],
    mode: &str,
    server: Option<ServerStats>,
) -> Report {
    let counts = scenario.counts();
    let mut dataset = DatasetCounts::default();
    for run in runs {
        dataset.add(&run.dataset);
    }
    let all: Vec<&IdentityOutcome> = runs.iter().flat_map(|r| &r.identities).collect();
    let scale = Scale::of(&all, spec);

    let ours = Side::Mechanism;
    let strategies = strategy_stats(runs, ours);
    let baseline_strategies = strategy_stats(runs, Side::Baseline);
    let false_slash = false_slash_rate(&all, ours);
    let baseline_false_slash = false_slash_rate(&all, Side::Baseline);
    let minority_ratio = minority_ratio_of(&strategies);
    let baseline_minority_ratio = minority_ratio_of(&baseline_strategies);

    let (data, baseline_data) = dataset_summaries(&dataset, mode);
    let qualification = qualification_summary(scenario, &counts, &all, &dataset);
    let delta = spec.false_slash_rate.as_f64();
    let sybil_strategy = scenario.population.sybil.as_ref().map(|s| s.strategy.clone());
    let mut mechanism_targets = targets(
        &strategies,
        false_slash,
        delta,
        minority_ratio,
        Some((data.accuracy, data.ds_accuracy, data.majority_vote_accuracy)),
        data.poisoned_fraction.zip(data.majority_vote_poisoned_fraction),
        sybil_strategy.as_deref(),
    );
    if let Some(q) = &qualification {
        mechanism_targets.extend(gate_targets(q));
    }
    let baseline_targets = targets(
        &baseline_strategies,
        baseline_false_slash,
        delta,
        baseline_minority_ratio,
        Some((baseline_data.accuracy, data.ds_accuracy, data.majority_vote_accuracy)),
        baseline_data.poisoned_fraction.zip(data.majority_vote_poisoned_fraction),
        sybil_strategy.as_deref(),
    );

    let per_run = run_summaries(runs, &counts);

    Report {
        scenario: scenario.name.clone(),
        description: scenario.description.trim().to_owned(),
        mode: mode.to_owned(),
        seeds: runs.iter().map(|r| r.seed).collect(),
        rounds: scenario.rounds,
        market: market_summary(scenario, spec, &counts, &scale, dataset.joins_refused),
        mechanism: mechanism_summary(spec),
        strategies,
        honest_false_slash_rate: false_slash,
        honest_minority_roi_ratio: minority_ratio,
        dataset: data,
        qualification,
        baseline: BaselineSummary {
            rule: format!(
                "distance to the majority label: mean distance ≤ {} paid in proportion to n·(1 − distance), > {} slashed {} bps, nothing otherwise",
                scenario.baseline.close, scenario.baseline.outlier, spec.slash_bps
            ),
            strategies: baseline_strategies,
            honest_false_slash_rate: baseline_false_slash,
            honest_minority_roi_ratio: baseline_minority_ratio,
            dataset: baseline_data,
            targets: baseline_targets,
        },
        targets: mechanism_targets,
        per_run,
        server,
    }
}

/// The market's shape as the report states it.
fn market_summary(
    scenario: &Scenario,
    spec: &ExperimentSpec,
    counts: &Counts,
    scale: &Scale,
    joins_refused: u64,
) -> MarketSummary {
    let m = &scenario.market;
    MarketSummary {
        question: spec.question.kind.name().to_owned(),
        tasks_source: scenario.tasks.source.clone(),
        identities: scenario.identities(),
        population: counts.groups.iter().map(|(g, n)| (g.name().to_owned(), *n)).collect(),
        block_size: m.block_size,
        overlap: m.overlap,
        gold_per_batch: m.gold_per_batch,
        batches_per_labeler: m.batches_per_labeler,
        regular_tasks: scenario.regular_tasks(),
        gold_tasks: scenario.tasks.gold,
        stake_per_batch: m.stake_per_batch.to_string(),
        reward_pool: m.reward_pool.to_string(),
        subjective: m.subjective,
        cohorts: m.cohorts,
        scored_items_mean: scale.scored_items_mean,
        joins_refused,
        reward_threshold: scale.reward_threshold,
        slash_threshold: scale.slash_threshold,
    }
}

/// The mechanism's parameters as the report states them.
fn mechanism_summary(spec: &ExperimentSpec) -> MechanismSummary {
    MechanismSummary {
        false_slash_rate: spec.false_slash_rate.as_f64(),
        false_reward_rate: spec.false_reward_rate.as_f64(),
        peer_weight: spec.peer_weight.as_f64(),
        slash_bps: spec.slash_bps,
        non_reveal_slash_bps: spec.non_reveal_slash_bps,
        slashed_funds: serde_json::to_value(spec.slashed_funds)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
    }
}

/// The share `n / d`, 0 when `d` is.
fn frac(n: u64, d: u64) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

/// How much a typical identity is scored on in a round, and the score bounds that follow.
struct Scale {
    /// Scored items per identity and round.
    scored_items_mean: f64,
    /// The reward bound of a typical identity's score.
    reward_threshold: f64,
    /// The slash bound of a typical identity's score.
    slash_threshold: f64,
}

impl Scale {
    fn of(all: &[&IdentityOutcome], spec: &ExperimentSpec) -> Scale {
        let labeler_rounds: u64 =
            all.iter().map(|o| o.tiers.iter().map(|&t| u64::from(t)).sum::<u64>()).sum();
        let mut sum = Tally::default();
        for o in all {
            sum.add(&o.tally);
        }
        let per_round = |n: u64| n.checked_div(labeler_rounds).unwrap_or(0);
        let typical = Tally {
            peer_n: per_round(sum.peer_n),
            peer_squares: per_round(sum.peer_squares),
            gold_n: per_round(sum.gold_n),
            gold_squares: per_round(sum.gold_squares),
            ..Tally::default()
        };
        let reward_threshold = normal_quantile(1.0 - spec.false_reward_rate.as_f64())
            * (typical.peer_squares as f64 / 1e6).sqrt()
            / typical.n().max(1) as f64;
        let slash_threshold =
            -normal_quantile(1.0 - p_slashing_alone(spec.false_slash_rate.as_f64()))
                * ((typical.peer_squares + typical.gold_squares) as f64 / 1e6).sqrt()
                / typical.n().max(1) as f64;
        Scale {
            scored_items_mean: frac(sum.n(), labeler_rounds),
            reward_threshold,
            slash_threshold,
        }
    }
}

/// The exported dataset's figures, and the naive baseline's.
fn dataset_summaries(dataset: &DatasetCounts, mode: &str) -> (DatasetSummary, BaselineDataset) {
    let poisoned = |n: u64| (dataset.attacked > 0).then(|| frac(n, dataset.attacked));
    let data = DatasetSummary {
        evaluated_tasks: dataset.evaluated,
        accuracy: frac(dataset.export_right, dataset.evaluated),
        majority_vote_accuracy: frac(dataset.majority_vote_right, dataset.evaluated),
        ds_accuracy: frac(dataset.ds_right, dataset.evaluated),
        attacked_tasks: dataset.attacked,
        poisoned_fraction: poisoned(dataset.export_poisoned),
        majority_vote_poisoned_fraction: poisoned(dataset.majority_vote_poisoned),
        ds_poisoned_fraction: poisoned(dataset.ds_poisoned),
        labels_per_task: frac(dataset.regular_labels, dataset.evaluated),
        labels_left_out_share: frac(dataset.labels_left_out, dataset.labels),
        labels_tired_share: frac(dataset.labels_tired, dataset.labels),
        accuracy_untired: frac(dataset.untired_export_right, dataset.evaluated),
        server_export_mismatches: (mode == "server").then_some(dataset.export_mismatches),
    };
    let baseline = BaselineDataset {
        accuracy: frac(dataset.baseline_right, dataset.evaluated),
        poisoned_fraction: poisoned(dataset.baseline_poisoned),
    };
    (data, baseline)
}

/// With a qualification: who qualified, by strategy, and the export with the gate and
/// without it.
fn qualification_summary(
    scenario: &Scenario,
    counts: &Counts,
    all: &[&IdentityOutcome],
    dataset: &DatasetCounts,
) -> Option<QualificationSummary> {
    scenario.qualification.as_ref().map(|q| {
        let mut qualified_share = BTreeMap::new();
        for (group, _) in &counts.groups {
            let (practised, qualified) =
                all.iter().filter(|o| o.group == *group).fold((0u64, 0u64), |(p, q), o| {
                    (p + u64::from(o.practised), q + u64::from(o.qualified))
                });
            qualified_share.insert(group.name().to_owned(), frac(qualified, practised));
        }
        QualificationSummary {
            items: q.items,
            score_min: q.score_min,
            practice_tasks: q.practice_tasks,
            qualified_share,
            evaluated_tasks: dataset.evaluated,
            export_accuracy: frac(dataset.export_right, dataset.evaluated),
            evaluated_tasks_without_gate: dataset.ungated_evaluated,
            export_accuracy_without_gate: frac(
                dataset.ungated_export_right,
                dataset.ungated_evaluated,
            ),
        }
    })
}

/// Each run's mean ROI by strategy and its dataset's accuracy.
fn run_summaries(runs: &[RunOutcome], counts: &Counts) -> Vec<RunSummary> {
    runs.iter()
        .map(|run| {
            let mut roi_mean = BTreeMap::new();
            for (group, _) in &counts.groups {
                let rois: Vec<f64> = run
                    .identities
                    .iter()
                    .filter(|o| o.group == *group)
                    .map(IdentityOutcome::roi)
                    .collect();
                roi_mean.insert(group.name().to_owned(), mean(&rois));
            }
            let d = &run.dataset;
            RunSummary {
                seed: run.seed,
                roi_mean,
                accuracy: frac(d.export_right, d.evaluated),
                ds_accuracy: frac(d.ds_right, d.evaluated),
                majority_vote_accuracy: frac(d.majority_vote_right, d.evaluated),
            }
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Mechanism,
    Baseline,
}

fn side_roi(o: &IdentityOutcome, side: Side) -> f64 {
    match side {
        Side::Mechanism => o.roi(),
        Side::Baseline => o.baseline_roi(),
    }
}

fn side_tiers(o: &IdentityOutcome, side: Side) -> [u32; 3] {
    match side {
        Side::Mechanism => o.tiers,
        Side::Baseline => o.baseline_tiers,
    }
}

fn strategy_stats(runs: &[RunOutcome], side: Side) -> BTreeMap<String, StrategyStats> {
    let mut out = BTreeMap::new();
    for group in Group::ALL {
        let members: Vec<&IdentityOutcome> =
            runs.iter().flat_map(|r| &r.identities).filter(|o| o.group == group).collect();
        if members.is_empty() {
            continue;
        }
        let mut rois: Vec<f64> = members.iter().map(|o| side_roi(o, side)).collect();
        let run_means: Vec<f64> = runs
            .iter()
            .map(|r| {
                let v: Vec<f64> = r
                    .identities
                    .iter()
                    .filter(|o| o.group == group)
                    .map(|o| side_roi(o, side))
                    .collect();
                mean(&v)
            })
            .collect();
        let mut tiers = [0u64; 3];
        for o in &members {
            for (t, n) in tiers.iter_mut().zip(side_tiers(o, side)) {
                *t += u64::from(n);
            }
        }
        let total_tiers = tiers.iter().sum::<u64>().max(1) as f64;
        let chance_fees: u64 = members.iter().map(|o| u64::from(o.chance_fee_rounds)).sum();
        let scores: Vec<f64> = members.iter().filter_map(|o| o.score).collect();
        let right: u64 = members.iter().map(|o| o.right).sum();
        let given: u64 = members.iter().map(|o| o.regular_labels).sum();
        let peer: u64 = members.iter().map(|o| o.tally.peer_n).sum();
        let (group_mean, group_sd) = if group == Group::Sybil {
            let mut swarms: BTreeMap<(u64, u32), (u128, u128)> = BTreeMap::new();
            for run in runs {
                for o in run.identities.iter().filter(|o| o.group == group) {
                    let e = swarms.entry((run.seed, o.swarm.unwrap_or(0))).or_default();
                    e.0 += match side {
                        Side::Mechanism => o.payout,
                        Side::Baseline => o.baseline_payout,
                    };
                    e.1 += o.stake;
                }
            }
            let group_rois: Vec<f64> = swarms.values().map(|(p, s)| roi(*p, *s)).collect();
            (Some(mean(&group_rois)), Some(sd(&group_rois)))
        } else {
            (None, None)
        };
        rois.sort_by(f64::total_cmp);
        let per_run = members.len() / runs.len().max(1);
        let slashed_by_round =
            if side == Side::Mechanism { slashed_by_round(&members) } else { Vec::new() };
        out.insert(
            group.name().to_owned(),
            StrategyStats {
                identities: per_run,
                roi_mean: mean(&rois),
                roi_sd: sd(&rois),
                roi_min: rois[0],
                roi_p10: quantile(&rois, 0.1),
                roi_median: quantile(&rois, 0.5),
                roi_p90: quantile(&rois, 0.9),
                roi_max: rois[rois.len() - 1],
                roi_mean_sd_over_runs: sd(&run_means),
                tiers: TierShares {
                    rewarded: tiers[0] as f64 / total_tiers,
                    even: tiers[1] as f64 / total_tiers,
                    slashed: tiers[2] as f64 / total_tiers,
                },
                chance_fee_share: (side == Side::Mechanism)
                    .then(|| chance_fees as f64 / total_tiers),
                score_mean: (side == Side::Mechanism && !scores.is_empty()).then(|| mean(&scores)),
                score_sd: (side == Side::Mechanism && !scores.is_empty()).then(|| sd(&scores)),
                label_accuracy: if given == 0 { 0.0 } else { right as f64 / given as f64 },
                peerless_label_share: if given == 0 {
                    0.0
                } else {
                    1.0 - (peer.min(given)) as f64 / given as f64
                },
                slashed_by_round,
                group_roi_mean: group_mean,
                group_roi_sd: group_sd,
            },
        );
    }
    out
}

/// Per round, the share of `members` taking part that were slashed; empty with one round.
fn slashed_by_round(members: &[&IdentityOutcome]) -> Vec<f64> {
    let rounds = members.first().map_or(0, |o| o.round_tiers.len());
    if rounds < 2 {
        return Vec::new();
    }
    (0..rounds)
        .map(|r| {
            let tiers: Vec<Tier> = members.iter().filter_map(|o| o.round_tiers[r]).collect();
            let slashed = tiers.iter().filter(|t| **t == Tier::Slashed).count();
            if tiers.is_empty() { 0.0 } else { slashed as f64 / tiers.len() as f64 }
        })
        .collect()
}

/// The p-value whose e-value alone reaches the slashing threshold ln(2/δ):
/// `ln κ + (1 − κ) · ln(1/p) = ln(2/δ)`.
fn p_slashing_alone(delta: f64) -> f64 {
    let kappa = f64::from(KAPPA_PPM) / 1e6;
    (-((2.0 / delta).ln() - kappa.ln()) / (1.0 - kappa)).exp()
}

/// The share of truthful identities slashed at least once over their run's experiments: with
/// several rounds this is the career rate the slashing δ bounds.
fn false_slash_rate(all: &[&IdentityOutcome], side: Side) -> f64 {
    let truthful: Vec<_> = all.iter().filter(|o| o.group.is_truthful()).collect();
    // A copy fee is stake lost to an accusation as a slash is, so it counts as one.
    let accused = |o: &IdentityOutcome| match side {
        Side::Mechanism => o.tiers[2] > 0 || o.copy_fee_rounds > 0,
        Side::Baseline => o.baseline_tiers[2] > 0,
    };
    let ever = truthful.iter().filter(|o| accused(o)).count();
    if truthful.is_empty() { 0.0 } else { ever as f64 / truthful.len() as f64 }
}

fn minority_ratio_of(strategies: &BTreeMap<String, StrategyStats>) -> Option<f64> {
    let honest = strategies.get(Group::Honest.name())?.roi_mean;
    let minority = strategies.get(Group::HonestMinority.name())?.roi_mean;
    (honest != 0.0).then(|| minority / honest)
}

/// The targets, those that apply to this scenario.
fn targets(
    strategies: &BTreeMap<String, StrategyStats>,
    false_slash: f64,
    delta: f64,
    minority_ratio: Option<f64>,
    accuracy: Option<(f64, f64, f64)>,
    poisoned: Option<(f64, f64)>,
    sybil_strategy: Option<&str>,
) -> Vec<Target> {
    let mut out = Vec::new();
    let roi = |g: Group| strategies.get(g.name()).map(|s| s.roi_mean);
    // A swarm of careful labelers is careful labeling; whether its copies are paid as one is
    // the swarm target's question, and its actor's own skill must not decide this one.
    let careful_swarm = sybil_strategy.and_then(Group::from_name).is_some_and(|g| g.is_truthful());
    if let Some(honest) = roi(Group::Honest) {
        let rivals: Vec<(&str, f64)> = strategies
            .iter()
            .filter(|(name, _)| {
                *name != Group::Honest.name()
                    && *name != Group::HonestMinority.name()
                    && !(careful_swarm && *name == Group::Sybil.name())
            })
            .map(|(name, s)| (name.as_str(), s.roi_mean))
            .collect();
        let best = rivals.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1));
        let met = best.is_none_or(|(_, r)| honest > r);
        let detail = match best {
            Some((name, r)) => format!("honest {honest:+.4}; best other: {name} {r:+.4}"),
            None => format!("honest {honest:+.4}; no other strategy"),
        };
        out.push(Target { name: "honest_highest_roi".into(), met, detail });
    }
    // The inner strategy of a swarm is judged with its group as well.
    let in_swarm = |g: Group| sybil_strategy == Some(g.name());
    let lazy_like = [Group::Lazy, Group::Random, Group::AlwaysLeft, Group::GoldSniper];
    let mut lazy: Vec<(String, f64)> =
        lazy_like.iter().filter_map(|g| roi(*g).map(|r| (g.name().to_owned(), r))).collect();
    if lazy_like.iter().any(|g| in_swarm(*g))
        && let Some(r) = roi(Group::Sybil)
    {
        lazy.push((format!("sybil ({})", sybil_strategy.unwrap_or_default()), r));
    }
    if !lazy.is_empty() {
        let met = lazy.iter().all(|(_, r)| *r <= 0.0);
        let detail =
            lazy.iter().map(|(n, r)| format!("{n} {r:+.4}")).collect::<Vec<_>>().join(", ");
        out.push(Target { name: "uninformative_strategies_at_most_zero".into(), met, detail });
    }
    let adversarial = [Group::Flipper, Group::Poisoner];
    let mut losing: Vec<(String, f64)> =
        adversarial.iter().filter_map(|g| roi(*g).map(|r| (g.name().to_owned(), r))).collect();
    if adversarial.iter().any(|g| in_swarm(*g))
        && let Some(r) = roi(Group::Sybil)
    {
        losing.push((format!("sybil ({})", sybil_strategy.unwrap_or_default()), r));
    }
    // Losing money takes a confident slash, which a few hundred items cannot give a flipper
    // nor a stratum of tens a poisoner (see `docs/simulation.md`); what must hold is that
    // neither earns.
    if !losing.is_empty() {
        let met = losing.iter().all(|(_, r)| *r <= 0.0);
        let detail =
            losing.iter().map(|(n, r)| format!("{n} {r:+.4}")).collect::<Vec<_>>().join(", ");
        out.push(Target { name: "flippers_and_poisoners_at_most_zero".into(), met, detail });
    }
    if let Some(r) = roi(Group::Colluding) {
        out.push(Target {
            name: "colluding_at_most_zero".into(),
            met: r <= 0.0,
            detail: format!("colluding {r:+.4}"),
        });
    }
    // A swarm as one actor (its payouts over its stakes) earns no more than careful labelers
    // for the same quality of work: copies of one piece of work are paid as that work once.
    // Its actor draws its own skill, so both are taken per unit of mean score.
    let per_score = |g: Group| {
        let s = strategies.get(g.name())?;
        let roi = if g == Group::Sybil { s.group_roi_mean? } else { s.roi_mean };
        s.score_mean.filter(|m| *m > 0.0).map(|m| (roi, m))
    };
    if let (Some((swarm, swarm_score)), Some((honest, honest_score))) =
        (per_score(Group::Sybil), per_score(Group::Honest))
    {
        out.push(Target {
            name: "sybil_swarm_paid_at_most_as_careful_labelers_per_score".into(),
            met: swarm / swarm_score <= honest / honest_score,
            detail: format!(
                "swarm as one actor {swarm:+.4} at score {swarm_score:.3}, honest {honest:+.4} at \
                 score {honest_score:.3}"
            ),
        });
    }
    out.push(Target {
        name: "honest_false_slash_rate_at_most_delta".into(),
        met: false_slash <= delta,
        detail: format!("{false_slash:.4} against δ = {delta}"),
    });
    if let Some(ratio) = minority_ratio {
        out.push(Target {
            name: "honest_minority_roi_at_least_0.95_of_majority".into(),
            met: ratio >= 0.95,
            detail: format!("ratio {ratio:.3}"),
        });
    } else if roi(Group::HonestMinority).is_some() {
        out.push(Target {
            name: "honest_minority_roi_at_least_0.95_of_majority".into(),
            met: false,
            detail: "the honest majority earned nothing to compare with".into(),
        });
    }
    if let Some((export, ds, mv)) = accuracy {
        out.push(Target {
            name: "export_accuracy_at_least_dawid_skene".into(),
            met: export >= ds,
            detail: format!("export {export:.4}, Dawid-Skene over all labels {ds:.4}"),
        });
        out.push(Target {
            name: "export_accuracy_at_least_majority_vote".into(),
            met: export >= mv,
            detail: format!("export {export:.4}, majority vote over all labels {mv:.4}"),
        });
    }
    if let Some((export, mv)) = poisoned {
        out.push(Target {
            name: "poisoned_fraction_at_most_half_of_majority_vote".into(),
            met: export <= 0.5 * mv,
            detail: format!("export {export:.4}, majority vote over all labels {mv:.4}"),
        });
    }
    out
}

/// The gate's targets: chance-level, lazy, position-habit and flipping identities kept out of
/// at least 95% of experiments, at least 85% of careful labelers let in.
fn gate_targets(q: &QualificationSummary) -> Vec<Target> {
    let mut out = Vec::new();
    let kept_out: Vec<(&str, f64)> =
        [Group::Lazy, Group::Random, Group::AlwaysLeft, Group::Flipper]
            .iter()
            .filter_map(|g| q.qualified_share.get(g.name()).map(|s| (g.name(), 1.0 - s)))
            .collect();
    if !kept_out.is_empty() {
        out.push(Target {
            name: "gate_keeps_out_chance_level_and_flippers_95".into(),
            met: kept_out.iter().all(|(_, share)| *share >= 0.95),
            detail: kept_out
                .iter()
                .map(|(name, share)| format!("{name} kept out {share:.3}"))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    if let Some(share) = q.qualified_share.get(Group::Honest.name()) {
        out.push(Target {
            name: "gate_lets_in_careful_labelers_85".into(),
            met: *share >= 0.85,
            detail: format!("honest qualified {share:.3}"),
        });
    }
    out
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 }
}

fn sd(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

/// Nearest-rank quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn fraction(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.4}"))
}

/// The report as markdown; `command` is the command line that produced it.
pub fn markdown(report: &Report, command: &str) -> String {
    let mut md = String::new();
    markdown_setting(&mut md, report, command);
    markdown_targets(&mut md, report);
    markdown_strategies(&mut md, report);
    markdown_dataset(&mut md, report);
    markdown_server(&mut md, report);
    let _ = writeln!(
        md,
        "\nPlots: `roi.svg` (ROI per strategy, both rules), `scores.svg` (score against true label accuracy, first run)."
    );
    md
}

/// The scenario, the market and the mechanism, in prose.
fn markdown_setting(md: &mut String, r: &Report, command: &str) {
    let _ = writeln!(md, "# Simulation: {}\n", r.scenario);
    if !r.description.is_empty() {
        let _ = writeln!(md, "{}\n", r.description);
    }
    let _ = writeln!(md, "Command: `{command}`\n");
    let m = &r.market;
    let seeds = match (r.seeds.first(), r.seeds.last()) {
        (Some(a), Some(b)) => format!("seeds {a}–{b}"),
        _ => "no seeds".into(),
    };
    let _ = writeln!(
        md,
        "{} runs ({seeds}), {} experiment(s) per run, {}. A {} question over {} tasks; {} identities ({}); blocks of {} with overlap {}, {} gold per batch, {} batches per identity, so {:.0} scored items per identity per experiment. Stake {} per batch, pool {} per experiment{}{}.\n",
        r.seeds.len(),
        r.rounds,
        r.mode.replace('_', " "),
        m.question,
        m.tasks_source,
        m.identities,
        m.population.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "),
        m.block_size,
        m.overlap,
        m.gold_per_batch,
        m.batches_per_labeler,
        m.scored_items_mean,
        m.stake_per_batch,
        m.reward_pool,
        if m.subjective { "; subjective" } else { "" },
        if m.cohorts { ", peers compared within cohorts" } else { "" },
    );
    let x = &r.mechanism;
    let _ = writeln!(
        md,
        "Mechanism: δ = {}, false reward rate {}, λ = {}, slash {} bps, non-reveal {} bps, slashed funds {}. For an identity with the mean item counts the reward test needs a mean above about {:.3} and a first experiment slashes below about {:.3}.\n",
        x.false_slash_rate,
        x.false_reward_rate,
        x.peer_weight,
        x.slash_bps,
        x.non_reveal_slash_bps,
        x.slashed_funds,
        m.reward_threshold,
        m.slash_threshold,
    );
    if let Some(q) = &r.qualification {
        let _ = writeln!(
            md,
            "Qualification: {} practice tasks from a pool of {}, a practice score of at least {} to join. Each experiment is also run with everyone admitted, on the same labels: the export is right on {:.4} of {} tasks with the gate and {:.4} of {} without it. Share of practices that qualified: {}.\n",
            q.items,
            q.practice_tasks,
            q.score_min,
            q.export_accuracy,
            q.evaluated_tasks,
            q.export_accuracy_without_gate,
            q.evaluated_tasks_without_gate,
            q.qualified_share
                .iter()
                .map(|(k, v)| format!("{k} {v:.3}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
}

/// Each target, met or not, under both rules.
fn markdown_targets(md: &mut String, r: &Report) {
    let _ = writeln!(
        md,
        "## Targets\n\n| target | mechanism | | naive baseline | |\n|---|---|---|---|---|"
    );
    for t in &r.targets {
        let base = r.baseline.targets.iter().find(|b| b.name == t.name);
        let verdict = |met: bool| if met { "met" } else { "**not met**" };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            t.name,
            verdict(t.met),
            t.detail,
            base.map_or("–", |b| verdict(b.met)),
            base.map_or(String::new(), |b| b.detail.clone()),
        );
    }
}

/// ROI, tiers and scores per strategy, and the false-slash rates.
fn markdown_strategies(md: &mut String, r: &Report) {
    let _ = writeln!(
        md,
        "\n## ROI net of stake, per strategy\n\nMean ± standard deviation over identities and runs; p10 / median / p90; tier shares rewarded / even / slashed; score mean ± sd.\n\n| strategy | identities | mechanism ROI | p10 / median / p90 | tiers | score | label accuracy | naive ROI | naive tiers |\n|---|---:|---:|---|---|---:|---:|---:|---|"
    );
    for (name, s) in &r.strategies {
        let b = &r.baseline.strategies[name];
        let group =
            s.group_roi_mean.map(|g| format!(" (swarm as one: {g:+.3})")).unwrap_or_default();
        let _ = writeln!(
            md,
            "| {name} | {} | {:+.3} ± {:.3}{group} | {:+.3} / {:+.3} / {:+.3} | {:.2} / {:.2} / {:.2} | {} | {:.3} | {:+.3} ± {:.3} | {:.2} / {:.2} / {:.2} |",
            s.identities,
            s.roi_mean,
            s.roi_sd,
            s.roi_p10,
            s.roi_median,
            s.roi_p90,
            s.tiers.rewarded,
            s.tiers.even,
            s.tiers.slashed,
            match (s.score_mean, s.score_sd) {
                (Some(m), Some(sd)) => format!("{m:+.3} ± {sd:.3}"),
                _ => "–".into(),
            },
            s.label_accuracy,
            b.roi_mean,
            b.roi_sd,
            b.tiers.rewarded,
            b.tiers.even,
            b.tiers.slashed,
        );
    }
    let _ = writeln!(
        md,
        "\nHonest false-slash rate (truthful identities ever slashed, or charged the copy fee, \
         over their run's rounds): \
         {:.4} (naive baseline {:.4}).",
        r.honest_false_slash_rate, r.baseline.honest_false_slash_rate
    );
    if let Some(ratio) = r.honest_minority_roi_ratio {
        let _ = writeln!(
            md,
            "Honest minority ROI over honest majority ROI: {ratio:.3} (naive baseline {}).",
            fraction(r.baseline.honest_minority_roi_ratio)
        );
    }
}

/// The export's accuracy beside the other aggregations.
fn markdown_dataset(md: &mut String, r: &Report) {
    let d = &r.dataset;
    let _ = writeln!(
        md,
        "\n## Dataset\n\nOver {} labeled regular tasks{}, {:.2} labels each on average; {:.2}% of revealed labels left out of the export (slashed labelers', strata below chance); {:.2}% come from the ends of sessions where the labeler tired and are weighed apart.\n\n| | accuracy | poisoned fraction |\n|---|---:|---:|\n| export (mechanism) | {:.4} | {} |\n| export, tired tails counted as their labeler's | {:.4} | |\n| Dawid-Skene, all labels | {:.4} | {} |\n| majority vote, all labels | {:.4} | {} |\n| naive baseline's dataset | {:.4} | {} |",
        d.evaluated_tasks,
        if d.attacked_tasks > 0 {
            format!(", {} of them attacked by poisoners", d.attacked_tasks)
        } else {
            String::new()
        },
        d.labels_per_task,
        100.0 * d.labels_left_out_share,
        100.0 * d.labels_tired_share,
        d.accuracy,
        fraction(d.poisoned_fraction),
        d.accuracy_untired,
        d.ds_accuracy,
        fraction(d.ds_poisoned_fraction),
        d.majority_vote_accuracy,
        fraction(d.majority_vote_poisoned_fraction),
        r.baseline.dataset.accuracy,
        fraction(r.baseline.dataset.poisoned_fraction),
    );
}

/// With `--server`: the load figures.
fn markdown_server(md: &mut String, r: &Report) {
    if let Some(s) = &r.server {
        let _ = writeln!(
            md,
            "\n## Server load\n\n{} labeler requests ({} errors) to {} in {:.1} s with {} threads: {:.0} requests/s, latency p50 {:.1} ms, p99 {:.1} ms{}.",
            s.labeler_requests,
            s.errors,
            s.urls.join(", "),
            s.seconds,
            s.threads,
            s.requests_per_sec,
            s.latency_p50_ms,
            s.latency_p99_ms,
            if s.test_clock {
                ", deadlines moved by the test clock"
            } else {
                ", deadlines in real time"
            },
        );
        if !s.replicas_down.is_empty() {
            let _ = writeln!(
                md,
                "\n{} requests went to another replica after these stopped answering: {}.",
                s.failovers,
                s.replicas_down.join("; "),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(quantile(&v, 0.1), 1.0);
        assert_eq!(quantile(&v, 0.5), 5.0);
        assert_eq!(quantile(&v, 0.9), 9.0);
        assert_eq!(quantile(&[3.0], 0.9), 3.0);
        assert!((sd(&[1.0, 3.0]) - 2f64.sqrt()).abs() < 1e-12);
    }
}
