//! Live statistics of an experiment: progress per phase, agreement among revealed labels
//! (Krippendorff's alpha, from `plumbline-infer`), quality by position in the labelers'
//! sessions, and after settlement the score histogram and the tier counts.

use plumbline_core::B256;
use plumbline_core::assign::{Batch, Prf};
use plumbline_core::fixed::SCALE;
use plumbline_core::knockout;
use plumbline_core::label::{Agreement, Label};
use plumbline_core::lifecycle::Phase;
use plumbline_core::record::{PublicRecord, RevealedBatch, leave_out};
use plumbline_core::settle::{Settlement, Tier};
use plumbline_core::spec::{ExperimentSpec, QuestionKind};
use plumbline_core::task::Task;
use plumbline_infer::metrics::{Level, krippendorff_alpha};
use plumbline_store::ExperimentLog;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Bins of the score histogram over [−1, 1].
pub const HISTOGRAM_BINS: usize = 20;

/// Parts of a session (a batch, in the labeler's order) that quality by position is given for:
/// the same fifths the dataset's session filter cuts at.
pub use plumbline_core::fatigue::SESSION_PARTS;

/// The stats document of an experiment. `batches` are its batches by id, which map the
/// revealed labels (given by position in a batch) to tasks; once settled, `settled` holds the
/// settlement and the tasks with their gold answers, public from then on.
pub fn stats(
    spec: &ExperimentSpec,
    phase: Phase,
    log: &ExperimentLog,
    batches: &[Batch],
    settled: Option<(&Settlement, &[Task])>,
) -> Value {
    let settlement = settled.map(|(settlement, _)| settlement);
    let gold: Option<Vec<Option<Label>>> =
        settled.map(|(_, tasks)| tasks.iter().map(|t| t.gold.clone()).collect());
    let gold = gold.as_deref();
    let revealed: Vec<RevealedBatch> = log
        .reveals
        .iter()
        .filter_map(|r| RevealedBatch::of(batches.get(r.batch_id as usize)?, &r.reveal))
        .collect();
    let labels: Vec<(u32, &Label)> =
        revealed.iter().flat_map(|b| b.labels.iter().map(|(t, l)| (*t, l))).collect();
    let mut by_cohort: BTreeMap<&str, Vec<(u32, &Label)>> = BTreeMap::new();
    if let Some(cohorts) = &spec.cohorts {
        for name in &cohorts.values {
            by_cohort.insert(name, Vec::new());
        }
        for batch in &revealed {
            if let Some(labels) = batch.cohort.as_deref().and_then(|c| by_cohort.get_mut(c)) {
                labels.extend(batch.labels.iter().map(|(t, l)| (*t, l)));
            }
        }
    }
    let agreement_by_cohort: BTreeMap<&str, Option<f64>> = by_cohort
        .iter()
        .map(|(cohort, labels)| (*cohort, agreement(&spec.question.kind, labels)))
        .collect();
    json!({
        "phase": phase,
        "batches": {
            "joined": log.joins.len(),
            "committed": log.commits.len(),
            "revealed": log.reveals.len(),
        },
        "agreement": agreement(&spec.question.kind, &labels),
        "agreement_by_cohort": agreement_by_cohort,
        "quality_by_position": quality_by_position(&spec.question.kind, &revealed, gold),
        "score_histogram": settlement.map(histogram).unwrap_or_default(),
        "left_out": settled.map(|(settlement, tasks)| left_out(settlement, tasks, &revealed)),
        "tiers": settlement.map(tiers),
    })
}

/// An experiment's rounds (see `plumbline_core::rounds`), for the dashboard: per round, the
/// batches joined and revealed in it, the regular tasks it asked about, and how many regular
/// tasks the labels revealed up to it are already sure of (the weighted vote that chooses the
/// next round's tasks; null before any of its batches is revealed). In a best-of experiment
/// (`rule: "best_of"`) `confident` counts the matches decided once the round's votes are in,
/// of `matches`, replayed with the experiment's `seed`, and `first_round_tasks` counts the first
/// matches round 0 asks. `None` for an experiment of one round.
/// The counts name no task, so they are public while gold is still secret.
pub fn rounds_progress(
    spec: &ExperimentSpec,
    tasks: &[Task],
    log: &ExperimentLog,
    batches: &[Batch],
    seed: B256,
) -> Option<Value> {
    let rounds = spec.rounds.as_ref()?;
    let classes = spec.question.kind.classes();
    let groups = if rounds.is_best_of() { knockout::groups(tasks).ok()? } else { Vec::new() };
    let prf = Prf::new(seed);
    let rule = rounds.rule(spec.overlap);
    let revealed: Vec<(u32, RevealedBatch)> = log
        .reveals
        .iter()
        .filter_map(|r| {
            let batch = batches.get(r.batch_id as usize)?;
            Some((batch.round, RevealedBatch::of(batch, &r.reveal)?))
        })
        .collect();
    let by_round: Vec<Value> = (0..rounds.count)
        .map(|round| {
            let mine: Vec<&Batch> = batches.iter().filter(|b| b.round == round).collect();
            let mut asked: Vec<u32> = mine
                .iter()
                .flat_map(|b| b.tasks.iter().copied())
                .filter(|&t| tasks.get(t as usize).is_some_and(|t| !t.is_gold()))
                .collect();
            asked.sort_unstable();
            asked.dedup();
            let so_far: Vec<(plumbline_core::Address, &[(u32, Label)])> = revealed
                .iter()
                .filter(|(r, _)| *r <= round)
                .map(|(_, b)| (b.labeler, b.labels.as_slice()))
                .collect();
            let revealed_here = revealed.iter().filter(|(r, _)| *r == round).count();
            let confident = if revealed_here == 0 {
                None
            } else if rounds.is_best_of() {
                // The matches decided once this round's votes are in.
                let so_far: Vec<knockout::Revealed> = revealed
                    .iter()
                    .filter(|(r, _)| *r <= round)
                    .map(|(r, b)| (b.labeler, *r, b.labels.as_slice()))
                    .collect();
                let replayed = knockout::replay(
                    tasks,
                    &groups,
                    rounds,
                    spec.overlap,
                    &prf,
                    &so_far,
                    round + 1,
                );
                let decided = replayed.tournaments.iter().flat_map(|t| t.matches());
                Some(decided.filter(|m| m.winner.is_some()).count())
            } else {
                classes.map(|classes| {
                    plumbline_core::rounds::confident_tasks(tasks, classes, &rule, &so_far)
                })
            };
            json!({
                "round": round,
                "batches": mine.len(),
                "revealed": revealed_here,
                "tasks_asked": asked.len(),
                "confident": confident,
            })
        })
        .collect();
    let mut progress = json!({
        "count": rounds.count,
        "regular_tasks": tasks.iter().filter(|t| !t.is_gold()).count(),
        "confidence": rule.confidence,
        "by_round": by_round,
    });
    if rounds.is_best_of() {
        progress["rule"] = json!("best_of");
        let (matches, first_round) = knockout::match_counts(&groups);
        progress["matches"] = json!(matches);
        progress["first_round_tasks"] = json!(first_round);
    }
    Some(progress)
}

/// Quality through the labelers' sessions, for tiredness to show: each batch's labels, in the
/// order its labeler gave them, cut into [`SESSION_PARTS`] equal parts, and per part the mean
/// agreement a(x, y) of a label with the other labels on its task (`peer_agreement`) and, once
/// the gold answers are public (`gold`, after settlement), with the gold answer on gold tasks
/// (`gold_agreement`). Gold is shuffled into each batch like the rest, so every part holds some.
pub fn quality_by_position(
    kind: &QuestionKind,
    revealed: &[RevealedBatch],
    gold: Option<&[Option<Label>]>,
) -> Vec<Value> {
    let agreement = Agreement::of(kind);
    if agreement == Agreement::Unscored {
        return Vec::new();
    }
    let mut on_task: BTreeMap<u32, Vec<&Label>> = BTreeMap::new();
    for batch in revealed {
        for (task, label) in &batch.labels {
            on_task.entry(*task).or_default().push(label);
        }
    }
    /// Sums of one part of the sessions.
    #[derive(Clone, Copy, Default)]
    struct Part {
        labels: u64,
        peer: Mean,
        gold: Mean,
    }
    /// A sum of agreements at scale 10^6 and how many were added.
    #[derive(Clone, Copy, Default)]
    struct Mean(i64, u64);
    impl Mean {
        fn add(&mut self, x: i64) {
            self.0 += x;
            self.1 += 1;
        }
        fn value(self) -> Option<f64> {
            (self.1 > 0).then(|| round(self.0 as f64 / self.1 as f64 / SCALE as f64))
        }
    }
    let mut parts = [Part::default(); SESSION_PARTS];
    for batch in revealed {
        let n = batch.labels.len();
        for (position, (task, label)) in batch.labels.iter().enumerate() {
            let part = &mut parts[position * SESSION_PARTS / n.max(1)];
            part.labels += 1;
            if let Some(peer) = agreement.with_others(label, &on_task[task]) {
                part.peer.add(peer);
            }
            if let Some(answer) = gold.and_then(|g| g.get(*task as usize)).and_then(Option::as_ref)
            {
                part.gold.add(agreement.between(label, answer));
            }
        }
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            json!({
                "from": i as f64 / SESSION_PARTS as f64,
                "to": (i + 1) as f64 / SESSION_PARTS as f64,
                "labels": part.labels,
                "peer_agreement": part.peer.value(),
                "gold_agreement": part.gold.value(),
            })
        })
        .collect()
}

/// What weighing tired session tails apart did (see [`crate::export::session_filter`]).
pub fn session_filter(record: &PublicRecord) -> Value {
    let filter = crate::export::session_filter(record);
    json!({
        "tired_labels": filter.tired_labels,
        "tired_labelers": filter.tired_labelers,
        "gold_tasks": filter.gold_tasks,
        "gold_agreement": filter.gold_agreement.map(round),
        "gold_agreement_untired": filter.gold_agreement_untired.map(round),
    })
}

/// How many revealed labels the dataset leaves out, by reason (see
/// [`plumbline_core::settle::LabelerResult::left_out_on`]), and how many it keeps.
fn left_out(settlement: &Settlement, tasks: &[Task], revealed: &[RevealedBatch]) -> Value {
    let mut exported = revealed.to_vec();
    let counts = leave_out(settlement, tasks, &mut exported);
    let kept: usize = exported.iter().map(|b| b.labels.len()).sum();
    json!({ "kept": kept, "by_reason": counts })
}

/// Krippendorff's alpha of the revealed labels: nominal for categorical questions, interval for
/// ratings and pairwise strengths, ordinal over each response's rank for rankings; none for
/// free text or when fewer than two labels share a task.
pub fn agreement(kind: &QuestionKind, labels: &[(u32, &Label)]) -> Option<f64> {
    let mut units: BTreeMap<(u32, u8), Vec<f64>> = BTreeMap::new();
    let level = match kind {
        QuestionKind::Binary { .. } | QuestionKind::Choice { .. } => Level::Nominal,
        QuestionKind::Rating { .. } | QuestionKind::Pairwise { .. } => Level::Interval,
        QuestionKind::Ranking { .. } => Level::Ordinal,
        QuestionKind::Text { .. } => return None,
    };
    for (task, label) in labels {
        match label {
            Label::Int(v) => units.entry((*task, 0)).or_default().push(*v as f64),
            Label::Ranking(order) => {
                for (rank, &response) in order.iter().enumerate() {
                    units.entry((*task, response)).or_default().push(rank as f64);
                }
            }
            Label::Text(_) => {}
        }
    }
    let units: Vec<Vec<f64>> = units.into_values().collect();
    krippendorff_alpha(&units, level).filter(|a| a.is_finite())
}

fn histogram(settlement: &Settlement) -> Vec<Value> {
    let mut counts = [0u64; HISTOGRAM_BINS];
    for score in settlement.labelers.iter().filter_map(|l| l.score) {
        // Scores lie in [−SCALE, SCALE]; the top edge falls into the last bin.
        let offset = (score.clamp(-SCALE, SCALE) + SCALE) as u128;
        let bin = (offset * HISTOGRAM_BINS as u128 / (2 * SCALE as u128)) as usize;
        counts[bin.min(HISTOGRAM_BINS - 1)] += 1;
    }
    let width = 2.0 / HISTOGRAM_BINS as f64;
    counts
        .iter()
        .enumerate()
        .map(|(i, count)| {
            let from = -1.0 + width * i as f64;
            json!({ "from": round(from), "to": round(from + width), "count": count })
        })
        .collect()
}

fn round(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn tiers(settlement: &Settlement) -> Value {
    let count = |tier| settlement.labelers.iter().filter(|l| l.tier == tier).count();
    json!({
        "rewarded": count(Tier::Rewarded),
        "even": count(Tier::Even),
        "slashed": count(Tier::Slashed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_is_one_when_everyone_agrees_and_none_without_pairs() {
        let kind = QuestionKind::Binary { options: ["no".into(), "yes".into()] };
        let (yes, no) = (Label::Int(1), Label::Int(0));
        let labels = [(0, &yes), (0, &yes), (1, &no), (1, &no)];
        assert_eq!(agreement(&kind, &labels), Some(1.0));
        assert_eq!(agreement(&kind, &[(0, &yes), (1, &no)]), None);
        let text = QuestionKind::Text { length_max: 10 };
        assert_eq!(agreement(&text, &labels), None);
    }

    #[test]
    fn agreement_is_also_given_per_cohort() {
        use plumbline_core::client::{RevealedLabel, SignedJoin, SignedReveal};
        use plumbline_core::record::{JoinEntry, RevealEntry};
        use plumbline_core::spec::Cohorts;
        let mut spec = plumbline_core::synthetic::binary_spec(2, 4, 0);
        spec.cohorts =
            Some(Cohorts { attribute: "region".into(), values: vec!["eu".into(), "us".into()] });
        let mut log = ExperimentLog::default();
        let mut batches = Vec::new();
        // Two EU labelers agree with each other; the US labelers disagree with each other.
        // Each batch shows tasks 0 and 1 in its own order: labels are given by position.
        let answers = [("eu", [1, 0]), ("eu", [1, 0]), ("us", [1, 0]), ("us", [0, 1])];
        for (batch_id, (cohort, labels)) in answers.iter().enumerate() {
            let batch_id = batch_id as u64;
            let labeler = plumbline_core::Address::repeat_byte(batch_id as u8 + 1);
            let order = if batch_id.is_multiple_of(2) { vec![0, 1] } else { vec![1, 0] };
            let labels: Vec<i64> = if batch_id.is_multiple_of(2) {
                labels.to_vec()
            } else {
                vec![labels[1], labels[0]]
            };
            batches.push(Batch {
                batch_id,
                round: 0,
                labeler,
                cohort: Some(cohort.to_string()),
                block: 0,
                tasks: order,
                response_orders: vec![Vec::new(), Vec::new()],
                assigned_at: 0,
            });
            let join = SignedJoin {
                labeler,
                cohort: Some(cohort.to_string()),
                stake: 1,
                nonce: 0,
                expires_at: u64::MAX,
                signature: Default::default(),
            };
            log.joins.push(JoinEntry { batch_id, join, at: 0 });
            let labels = labels
                .iter()
                .enumerate()
                .map(|(task, &v)| RevealedLabel { task: task as u32, label: Label::Int(v) })
                .collect();
            let reveal =
                SignedReveal { labels, salt: Default::default(), signature: Default::default() };
            log.reveals.push(RevealEntry { batch_id, reveal, at: 0 });
        }
        let doc = stats(&spec, Phase::Revealing, &log, &batches, None);
        assert_eq!(doc["agreement_by_cohort"]["eu"], 1.0);
        assert!(doc["agreement_by_cohort"]["us"].as_f64().unwrap() < 0.0, "{doc}");
        assert!(doc["agreement"].as_f64().unwrap() < 1.0);
        assert_eq!(doc["batches"]["revealed"], 4);
        assert_eq!(doc["tiers"], Value::Null);
    }

    #[test]
    fn quality_by_position_shows_a_labeler_tiring() {
        let kind = QuestionKind::Binary { options: ["no".into(), "yes".into()] };
        let batch = |labeler: u8, labels: Vec<i64>| RevealedBatch {
            batch_id: u64::from(labeler),
            labeler: plumbline_core::Address::repeat_byte(labeler),
            cohort: None,
            labels: labels
                .into_iter()
                .enumerate()
                .map(|(t, v)| (t as u32, Label::Int(v)))
                .collect(),
        };
        // Ten tasks, answer 1 everywhere; two careful labelers, and one who tires halfway.
        let revealed = vec![
            batch(1, vec![1; 10]),
            batch(2, vec![1; 10]),
            batch(3, [vec![1; 5], vec![0; 5]].concat()),
        ];
        let gold: Vec<Option<Label>> =
            (0..10).map(|t| (t % 2 == 0).then_some(Label::Int(1))).collect();
        let parts = quality_by_position(&kind, &revealed, Some(&gold));
        assert_eq!(parts.len(), SESSION_PARTS);
        assert_eq!(parts[0]["labels"], 6);
        assert_eq!(
            (&parts[0]["peer_agreement"], &parts[0]["gold_agreement"]),
            (&json!(1.0), &json!(1.0))
        );
        // In the last part the tired labeler disagrees with both others and the gold answer.
        let last = &parts[SESSION_PARTS - 1];
        // Each careful label agrees with one of its two others, the tired ones with neither.
        assert!((last["peer_agreement"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-3, "{last}");
        assert!((last["gold_agreement"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-3, "{last}");
        let before_settlement = quality_by_position(&kind, &revealed, None);
        assert_eq!(before_settlement[0]["gold_agreement"], Value::Null);
    }

    #[test]
    fn ranking_agreement_uses_ranks() {
        let kind = QuestionKind::Ranking { n: 3 };
        let (a, b) = (Label::Ranking(vec![0, 1, 2]), Label::Ranking(vec![2, 1, 0]));
        let same = agreement(&kind, &[(0, &a), (0, &a), (1, &b), (1, &b)]).unwrap();
        let opposite = agreement(&kind, &[(0, &a), (0, &b), (1, &a), (1, &b)]).unwrap();
        assert!(same > opposite, "{same} vs {opposite}");
    }
}
