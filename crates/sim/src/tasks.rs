//! The tasks of one simulated experiment and what the simulator knows about them: the latent
//! truth, the minority's truth on subjective tasks, the cheap signal colluders coordinate on,
//! and the trigger feature targeted poisoners look for.
//!
//! Labels are canonical (responses in import order): binary 0/1, choice 0..C, pairwise
//! −K..K with the sign the preferred response (negative A, positive B).
//!
//! - **Synthetic** tasks draw the truth per task (pairwise: a side and a margin 1..K), a cheap
//!   signal that matches the truth with `signal_accuracy` (pairwise: the longer response is
//!   the signal's side, written into the response texts), and the trigger with
//!   `trigger_rate` (a `[cf]` token in the prompt and `meta.trigger`).
//! - **Real pairs** (Anthropic HH-RLHF `{"chosen", "rejected"}` dialogues) are split into the
//!   shared conversation (the prompt) and the two final assistant turns (the responses); the
//!   chosen one is put at A or B by a seeded coin, and its side with the strongest margin is
//!   the truth. The signal is the longer response as it really is; the trigger is
//!   `trigger_word` in the prompt.
//!
//! Gold tasks come from the same distribution (triggers included) but are never subjective:
//! a gold answer every cohort shares is what lets gold slash on subjective questions.

use crate::error::{Result, SimError};
use crate::rng::{Rng, Tag};
use crate::scenario::Scenario;
use flate2::read::GzDecoder;
use plumbline_core::label::Label;
use plumbline_core::spec::QuestionKind;
use plumbline_core::task::Task;
use std::io::Read;
use std::path::Path;

/// What the simulator knows about one task.
#[derive(Clone, Debug, PartialEq)]
pub struct Truth {
    /// The canonical truth (the majority cohort's preference).
    pub value: i64,
    /// The minority cohort's truth: the other preference on subjective tasks.
    pub minority: i64,
    /// The answer the cheap signal gives.
    pub signal: i64,
    /// Whether the task carries the trigger feature.
    pub trigger: bool,
    /// Whether cohorts disagree on it.
    pub subjective: bool,
    /// Whether it is a gold task (what an oracle gold sniper knows).
    pub gold: bool,
}

/// An experiment's tasks (regular first, then gold) and their truths, index for index.
#[derive(Clone, Debug)]
pub struct TaskSet {
    /// The tasks as imported.
    pub tasks: Vec<Task>,
    /// What the simulator knows about each.
    pub truth: Vec<Truth>,
}

/// One real preference pair, split into the shared prompt and the two final turns.
#[derive(Clone, Debug, PartialEq)]
pub struct Pair {
    /// The conversation before the final assistant turn.
    pub prompt: String,
    /// The preferred final turn.
    pub chosen: String,
    /// The other one.
    pub rejected: String,
}

/// Real preference pairs loaded once and drawn from in every run.
#[derive(Clone, Debug, Default)]
pub struct Pool {
    /// The pairs, in file order.
    pub pairs: Vec<Pair>,
}

/// The marker of the final assistant turn in HH-RLHF transcripts.
const ASSISTANT: &str = "\n\nAssistant:";
/// The token that marks a synthetic task as triggered.
pub const TRIGGER_TOKEN: &str = "[cf]";

impl Pool {
    /// Loads every `*.jsonl` and `*.jsonl.gz` file of a folder (in name order), or one file.
    pub fn load(path: &Path) -> Result<Pool> {
        let files: Vec<std::path::PathBuf> = if path.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(path)
                .map_err(|e| SimError::Tasks(format!("cannot read {}: {e}", path.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let name = p.to_string_lossy();
                    name.ends_with(".jsonl") || name.ends_with(".jsonl.gz")
                })
                .collect();
            files.sort();
            files
        } else {
            vec![path.to_path_buf()]
        };
        if files.is_empty() {
            return Err(SimError::Tasks(format!(
                "{} holds no .jsonl or .jsonl.gz file",
                path.display()
            )));
        }
        let mut pairs = Vec::new();
        for file in files {
            let bytes = std::fs::read(&file)
                .map_err(|e| SimError::Tasks(format!("cannot read {}: {e}", file.display())))?;
            let text = if file.to_string_lossy().ends_with(".gz") {
                let mut text = String::new();
                GzDecoder::new(bytes.as_slice()).read_to_string(&mut text).map_err(|e| {
                    SimError::Tasks(format!("{} is not gzip-compressed text: {e}", file.display()))
                })?;
                text
            } else {
                String::from_utf8(bytes)
                    .map_err(|_| SimError::Tasks(format!("{} is not UTF-8", file.display())))?
            };
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                pairs.push(parse_pair(line).map_err(|reason| {
                    SimError::Tasks(format!("{} line {}: {reason}", file.display(), i + 1))
                })?);
            }
        }
        Ok(Pool { pairs })
    }
}

fn parse_pair(line: &str) -> std::result::Result<Pair, String> {
    let row: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let field = |name: &str| {
        row[name].as_str().map(str::to_owned).ok_or_else(|| format!("no string `{name}`"))
    };
    let (chosen, rejected) = (field("chosen")?, field("rejected")?);
    // The shared conversation ends at the last assistant marker; when the two transcripts
    // differ before it, the whole transcripts are the responses and the prompt is empty.
    fn split(text: &str) -> Option<(&str, &str)> {
        text.rfind(ASSISTANT).map(|at| text.split_at(at))
    }
    Ok(match (split(&chosen), split(&rejected)) {
        (Some((p1, c)), Some((p2, r))) if p1 == p2 => Pair {
            prompt: p1.trim().to_owned(),
            chosen: c[ASSISTANT.len()..].trim().to_owned(),
            rejected: r[ASSISTANT.len()..].trim().to_owned(),
        },
        _ => Pair { prompt: String::new(), chosen, rejected },
    })
}

/// Draws the tasks of one experiment: `regular` then `gold`.
pub fn draw(
    scenario: &Scenario,
    pool: Option<&Pool>,
    seed: u64,
    round: u32,
    regular: usize,
    gold: usize,
) -> Result<TaskSet> {
    let mut rng = Rng::stream(seed, Tag::Tasks, &[u64::from(round)]);
    let kind = &scenario.question.kind;
    let t = &scenario.tasks;
    let total = regular + gold;
    let mut tasks = Vec::with_capacity(total);
    let mut truth = Vec::with_capacity(total);
    // The pairs each task is made of, or none for synthetic tasks.
    let picked: Vec<Option<&Pair>> = match pool {
        Some(pool) => {
            if pool.pairs.len() < total {
                return Err(SimError::Tasks(format!(
                    "{} holds {} pairs; the scenario needs {total} ({regular} regular, {gold} gold)",
                    t.source,
                    pool.pairs.len()
                )));
            }
            let mut order: Vec<usize> = (0..pool.pairs.len()).collect();
            rng.shuffle(&mut order);
            order[..total].iter().map(|&p| Some(&pool.pairs[p])).collect()
        }
        None => vec![None; total],
    };
    for (i, pair) in picked.into_iter().enumerate() {
        let is_gold = i >= regular;
        let subjective = !is_gold && rng.chance(t.subjective_rate);
        let (task, mut known) = match pair {
            Some(pair) => real_task(i, pair, kind, t.trigger_word.as_deref(), &mut rng),
            None => synthetic_task(i, kind, t, &mut rng),
        };
        known.subjective = subjective;
        known.gold = is_gold;
        known.minority = if subjective { other_preference(kind, known.value) } else { known.value };
        // An experimenter who inverts its gold answers writes the other preference.
        let written =
            if t.inverted_gold { other_preference(kind, known.value) } else { known.value };
        let gold_label = is_gold.then_some(Label::Int(written));
        tasks.push(Task { gold: gold_label, ..task });
        truth.push(known);
    }
    Ok(TaskSet { tasks, truth })
}

/// The opposite preference: the other class of a binary question, the next class of a choice,
/// the other response (same margin) of a pair.
pub fn other_preference(kind: &QuestionKind, value: i64) -> i64 {
    match kind {
        QuestionKind::Binary { .. } => 1 - value,
        QuestionKind::Choice { options } => (value + 1) % options.len() as i64,
        _ => -value,
    }
}

/// The strongest label for the side of `value` (pairwise), or the value itself.
fn strongest(kind: &QuestionKind, side: i64) -> i64 {
    match kind {
        QuestionKind::Pairwise { strength_max, .. } => side.signum() * i64::from(*strength_max),
        _ => side,
    }
}

fn synthetic_task(
    i: usize,
    kind: &QuestionKind,
    t: &crate::scenario::Tasks,
    rng: &mut Rng,
) -> (Task, Truth) {
    let trigger = rng.chance(t.trigger_rate);
    let signal_right = rng.chance(t.signal_accuracy);
    let (value, signal, responses) = match kind {
        QuestionKind::Binary { .. } => {
            let value = i64::from(rng.chance(t.positive_rate));
            (value, if signal_right { value } else { 1 - value }, Vec::new())
        }
        QuestionKind::Choice { options } => {
            let c = options.len() as u64;
            let value = rng.below(c) as i64;
            let wrong = (value + 1 + rng.below(c - 1) as i64) % c as i64;
            (value, if signal_right { value } else { wrong }, Vec::new())
        }
        QuestionKind::Pairwise { strength_max, .. } => {
            let side = if rng.chance(0.5) { 1 } else { -1 };
            let margin = 1 + rng.below(u64::from(*strength_max)) as i64;
            let signal_side = if signal_right { side } else { -side };
            // The signal's side gets the longer text: that is what "the longer response" reads.
            let short = 30 + rng.below(40) as usize;
            let long = short + 20 + rng.below(100) as usize;
            let (a_len, b_len) = if signal_side < 0 { (long, short) } else { (short, long) };
            let responses = vec![filler("A", i, a_len), filler("B", i, b_len)];
            (side * margin, strongest(kind, signal_side), responses)
        }
        _ => unreachable!("scenarios are checked to be binary, choice or pairwise"),
    };
    let mut meta = serde_json::Map::new();
    let mut prompt = format!("Synthetic question {i}");
    if trigger {
        prompt.push(' ');
        prompt.push_str(TRIGGER_TOKEN);
        meta.insert("trigger".into(), serde_json::Value::Bool(true));
    }
    let task = Task { id: format!("t{i}"), prompt: prompt.into(), responses, gold: None, meta };
    let known = Truth { value, minority: value, signal, trigger, subjective: false, gold: false };
    (task, known)
}

/// A response text of exactly `len` bytes.
fn filler(side: &str, i: usize, len: usize) -> String {
    let mut text = format!("Response {side} to question {i}.");
    while text.len() < len {
        text.push_str(" More detail.");
    }
    text.truncate(len);
    text
}

fn real_task(
    i: usize,
    pair: &Pair,
    kind: &QuestionKind,
    trigger_word: Option<&str>,
    rng: &mut Rng,
) -> (Task, Truth) {
    let chosen_at_b = rng.chance(0.5);
    let (a, b) = if chosen_at_b {
        (pair.rejected.clone(), pair.chosen.clone())
    } else {
        (pair.chosen.clone(), pair.rejected.clone())
    };
    let value = strongest(kind, if chosen_at_b { 1 } else { -1 });
    // Equal lengths point nowhere in particular; they count as A, the first shown by default.
    let signal = strongest(kind, if b.len() > a.len() { 1 } else { -1 });
    let trigger =
        trigger_word.is_some_and(|w| pair.prompt.to_lowercase().contains(&w.to_lowercase()));
    let mut meta = serde_json::Map::new();
    if trigger {
        meta.insert("trigger".into(), serde_json::Value::Bool(true));
    }
    let task = Task {
        id: format!("t{i}"),
        prompt: pair.prompt.clone().into(),
        responses: vec![a, b],
        gold: None,
        meta,
    };
    (task, Truth { value, minority: value, signal, trigger, subjective: false, gold: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hh_transcripts_split_at_the_last_assistant_turn() {
        let line = r#"{"chosen": "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: and?\n\nAssistant: fine", "rejected": "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: and?\n\nAssistant: go away"}"#;
        let pair = parse_pair(line).unwrap();
        assert_eq!(pair.chosen, "fine");
        assert_eq!(pair.rejected, "go away");
        assert!(pair.prompt.ends_with("Human: and?"), "{:?}", pair.prompt);
        assert!(parse_pair(r#"{"chosen": 1}"#).is_err());
    }
}
