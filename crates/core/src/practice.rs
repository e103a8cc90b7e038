//! Practice and qualification: tasks with known answers and explanations that a labeler works
//! through before joining, without a stake, seeing after each answer whether it was right and
//! why. An experiment whose spec sets a [`Qualification`] admits only labelers whose practice
//! score reaches its minimum.
//!
//! Each labeler gets its own draw of `items` tasks from the pool, in an order and with response
//! orders derived from the experiment's secret seed and its address, so that nobody can know
//! its practice before the experiment opens, and one labeler's feedback tells another only part
//! of its draw. Every task is answered once: a second try would let guessing pass.
//!
//! The score is the gold score of [`crate::score`] over the labeler's own practice items: each
//! item is `a(x_g, z_g) − mean_{g'≠g} a(x_g, z_g')`, so guessing, a constant answer and a
//! position habit all score 0 on average whatever the answers' base rates, and the score is the
//! mean of the items (−1..1).

use crate::fixed::SCALE;
use crate::label::{Agreement, Label};
use crate::limits::*;
use crate::score::{Observation, Tally, score};
use crate::screen::Copies;
use crate::spec::{Qualification, QuestionKind};
use crate::strata::Strata;
use crate::task::{Task, TaskError, TaskLine, check_task, parse_lines};
use crate::{Address, B256};
use alloy_primitives::keccak256;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Practice tasks served when the spec sets no qualification: practice is then optional.
pub const PRACTICE_ITEMS_OPTIONAL: u32 = 20;

/// A practice task: a task whose `gold` is the answer shown after the labeler's, with an
/// explanation of why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PracticeTask {
    /// The task; its `gold` is always set.
    #[serde(flatten)]
    pub task: Task,
    /// Why the answer is right (markdown), shown after the labeler answers.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub explanation: String,
}

impl AsRef<Task> for PracticeTask {
    fn as_ref(&self) -> &Task {
        &self.task
    }
}

impl PracticeTask {
    /// The answer.
    pub fn answer(&self) -> &Label {
        self.task.gold.as_ref().expect("a practice task always has its answer")
    }
}

/// Parses a practice file: JSONL tasks as for [`crate::task::parse_jsonl`], each with its
/// answer in `gold` and an optional `explanation`. One bad line rejects the whole file.
pub fn parse_jsonl(text: &str, kind: &QuestionKind) -> Result<Vec<PracticeTask>, TaskError> {
    if matches!(kind, QuestionKind::Text { .. }) {
        return Err(TaskError::File(
            "text answers cannot be practised: nothing grades them".into(),
        ));
    }
    parse_lines(text, PRACTICE_TASKS_MAX, |raw| {
        let mut value: serde_json::Value =
            serde_json::from_str(raw).map_err(|e| crate::task::json_reason(&e))?;
        let object = value.as_object_mut().ok_or("a line must be a JSON object")?;
        let explanation = match object.remove("explanation") {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(serde_json::Value::String(text)) if text.len() <= EXPLANATION_BYTES_MAX => text,
            Some(serde_json::Value::String(_)) => {
                return Err(format!("`explanation` is longer than {EXPLANATION_BYTES_MAX} bytes"));
            }
            Some(_) => return Err("`explanation` must be a string".into()),
        };
        let line: TaskLine = serde_json::from_value(value).map_err(|e| e.to_string())?;
        let task = check_task(line, kind)?;
        if task.gold.is_none() {
            return Err("a practice task needs its answer in `gold`".into());
        }
        Ok(PracticeTask { task, explanation })
    })
}

/// How many practice tasks a labeler answers: the qualification's `items`, or up to
/// [`PRACTICE_ITEMS_OPTIONAL`] of the pool when practice is optional.
pub fn items_per_labeler(qualification: Option<&Qualification>, pool: usize) -> usize {
    match qualification {
        Some(q) => q.items as usize,
        None => pool.min(PRACTICE_ITEMS_OPTIONAL as usize),
    }
}

/// A labeler's draw: indices into the pool, in the order it answers them. Ranks every task by
/// a hash of the seed, the address and the task id, so the draw is fixed by the seed (secret
/// until settlement) and reproduced by `audit` from the record.
pub fn draw(seed: B256, labeler: Address, pool: &[PracticeTask], items: usize) -> Vec<usize> {
    let mut ranked: Vec<(B256, usize)> = pool
        .iter()
        .enumerate()
        .map(|(index, practice)| (key(seed, "practice-draw", labeler, &practice.task.id), index))
        .collect();
    ranked.sort_unstable();
    ranked.into_iter().take(items).map(|(_, index)| index).collect()
}

/// The order in which a labeler is shown a practice task's responses (`order[p]` is the
/// canonical index of shown response p): the task's own, unlike a batch's, so that an
/// explanation can name the responses "A" and "B" as the experimenter wrote them. Grading
/// does not need a shuffle: a position habit scores 0 once chance-corrected, whatever side the
/// answers favour.
pub fn response_order(task: &Task) -> Vec<u8> {
    (0..task.responses.len() as u8).collect()
}

fn key(seed: B256, tag: &str, labeler: Address, task_id: &str) -> B256 {
    let mut input = Vec::with_capacity(32 + tag.len() + 20 + task_id.len());
    input.extend_from_slice(seed.as_slice());
    input.extend_from_slice(tag.as_bytes());
    input.extend_from_slice(labeler.as_slice());
    input.extend_from_slice(task_id.as_bytes());
    keccak256(&input)
}

/// One practice answer, as kept and published.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PracticeAnswer {
    /// Who answered.
    pub labeler: Address,
    /// The practice task's id.
    pub task: String,
    /// The label, in canonical order.
    pub label: Label,
    /// When it was given (unix seconds).
    pub at: u64,
}

/// How an answer compares with the expected one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The expected answer exactly.
    Right,
    /// Near it: the preferred side with another strength, a neighbouring rating, a ranking
    /// that orders most pairs alike (agreement at least one half).
    Close,
    /// Anything else.
    Wrong,
}

/// The feedback on one answer: its verdict and its agreement with the answer (0..1 at scale
/// 10^6).
pub fn verdict(kind: &QuestionKind, label: &Label, answer: &Label) -> (Verdict, i64) {
    let agreement = Agreement::of(kind).between(label, answer);
    let same_side = match (kind, label, answer) {
        (QuestionKind::Pairwise { .. }, Label::Int(x), Label::Int(z)) => x.signum() == z.signum(),
        (QuestionKind::Binary { .. } | QuestionKind::Choice { .. }, _, _) => false,
        _ => true,
    };
    let verdict = if agreement == SCALE {
        Verdict::Right
    } else if same_side && 2 * agreement >= SCALE {
        Verdict::Close
    } else {
        Verdict::Wrong
    };
    (verdict, agreement)
}

/// Grades a labeler's practice answers (task index into the pool, canonical label): a tally
/// whose gold part holds its chance-corrected items. One answer alone scores nothing, as
/// chance correction needs another.
pub fn grade(kind: &QuestionKind, pool: &[PracticeTask], answers: &[(usize, Label)]) -> Tally {
    let gold: HashMap<u32, Label> =
        answers.iter().map(|(task, _)| (*task as u32, pool[*task].answer().clone())).collect();
    let observations: Vec<Observation> = answers
        .iter()
        .map(|(task, label)| Observation {
            labeler: 0,
            task: *task as u32,
            group: 0,
            label: label.clone(),
        })
        .collect();
    let scores = score(
        Agreement::of(kind),
        1,
        &[],
        &observations,
        &gold,
        &Copies::default(),
        &Strata::default(),
    );
    scores.tallies[0]
}

/// A labeler's standing in practice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    /// Practice tasks answered.
    pub answered: usize,
    /// Practice tasks it is asked to answer.
    pub items: usize,
    /// Its practice score at scale 10^6, once two tasks are answered.
    pub score: Option<i64>,
    /// Whether it qualifies: `None` until every task is answered.
    pub qualified: Option<bool>,
}

/// The standing of a labeler with `answers` out of `items`; without a qualification anyone
/// who finished qualifies.
pub fn standing(
    kind: &QuestionKind,
    qualification: Option<&Qualification>,
    pool: &[PracticeTask],
    answers: &[(usize, Label)],
    items: usize,
) -> Standing {
    let tally = grade(kind, pool, answers);
    let score = tally.mean();
    let qualified = (answers.len() >= items).then(|| match qualification {
        Some(q) => score.unwrap_or(0) >= q.score_min_ppm(),
        None => true,
    });
    Standing { answered: answers.len(), items, score, qualified }
}

/// Checks one labeler's published practice against its draw: the answers name the drawn tasks
/// in the drawn order, each once, all before `before`; returns its standing.
pub fn check_answers(
    kind: &QuestionKind,
    qualification: Option<&Qualification>,
    seed: B256,
    pool: &[PracticeTask],
    labeler: Address,
    answers: &[&PracticeAnswer],
    before: u64,
) -> Result<Standing, String> {
    let items = items_per_labeler(qualification, pool.len());
    let drawn = draw(seed, labeler, pool, items);
    if answers.len() > drawn.len() {
        return Err(format!("{} practice answers, {} drawn", answers.len(), drawn.len()));
    }
    let mut graded = Vec::with_capacity(answers.len());
    for (position, (answer, &task)) in answers.iter().zip(&drawn).enumerate() {
        if answer.task != pool[task].task.id {
            return Err(format!(
                "practice answer {position} is for task {:?}, its draw has {:?} there",
                answer.task, pool[task].task.id
            ));
        }
        if answer.at > before {
            return Err(format!("practice answer {position} came after the join"));
        }
        answer.label.validate(kind).map_err(|e| format!("practice answer {position}: {e}"))?;
        graded.push((task, answer.label.clone()));
    }
    Ok(standing(kind, qualification, pool, &graded, items))
}

/// The practice section of a public record: the pool with its answers and every practice
/// answer given, so that `audit` recomputes who qualified.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PracticeRecord {
    /// The pool.
    pub tasks: Vec<PracticeTask>,
    /// Every answer, in the order given.
    pub answers: Vec<PracticeAnswer>,
}

impl PracticeRecord {
    /// Each labeler's graded practice, as its reputation keeps it.
    pub fn tallies(&self, kind: &QuestionKind) -> BTreeMap<Address, Tally> {
        let index: HashMap<&str, usize> =
            self.tasks.iter().enumerate().map(|(i, p)| (p.task.id.as_str(), i)).collect();
        let mut answers: BTreeMap<Address, Vec<(usize, Label)>> = BTreeMap::new();
        for answer in &self.answers {
            if let Some(&task) = index.get(answer.task.as_str()) {
                answers.entry(answer.labeler).or_default().push((task, answer.label.clone()));
            }
        }
        answers
            .into_iter()
            .map(|(labeler, given)| (labeler, grade(kind, &self.tasks, &given)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAIRWISE: QuestionKind = QuestionKind::Pairwise { strength_max: 2, allow_tie: false };

    fn pool(n: usize) -> Vec<PracticeTask> {
        (0..n)
            .map(|i| PracticeTask {
                task: Task {
                    id: format!("p{i}"),
                    prompt: String::new().into(),
                    responses: vec!["a".into(), "b".into()],
                    gold: Some(Label::Int(if i % 3 == 0 { -2 } else { 1 })),
                    meta: Default::default(),
                },
                explanation: format!("because {i}"),
            })
            .collect()
    }

    #[test]
    fn a_practice_file_needs_answers_and_takes_explanations() {
        let text = "{\"id\":\"a\",\"responses\":[\"x\",\"y\"],\"gold\":-1,\"explanation\":\"x is kind\"}\n\n\
                    {\"id\":\"b\",\"responses\":[\"x\",\"y\"],\"gold\":2}";
        let parsed = parse_jsonl(text, &PAIRWISE).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].explanation, "x is kind");
        assert_eq!(parsed[1].answer(), &Label::Int(2));
        let missing = parse_jsonl("{\"id\":\"a\",\"responses\":[\"x\",\"y\"]}", &PAIRWISE);
        assert_eq!(
            missing.unwrap_err().to_string(),
            "line 1: a practice task needs its answer in `gold`"
        );
        let bad = parse_jsonl(
            "{\"id\":\"a\",\"responses\":[\"x\",\"y\"],\"gold\":1,\"explanation\":3}",
            &PAIRWISE,
        );
        assert_eq!(bad.unwrap_err().to_string(), "line 1: `explanation` must be a string");
        let unknown = parse_jsonl(
            "{\"id\":\"a\",\"responses\":[\"x\",\"y\"],\"gold\":1,\"why\":\"\"}",
            &PAIRWISE,
        );
        assert!(unknown.unwrap_err().to_string().contains("unknown field `why`"));
    }

    #[test]
    fn draws_differ_by_labeler_and_are_fixed_by_the_seed() {
        let pool = pool(50);
        let seed = B256::repeat_byte(7);
        let (a, b) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let draw_a = draw(seed, a, &pool, 10);
        assert_eq!(draw_a.len(), 10);
        assert_eq!(draw_a, draw(seed, a, &pool, 10));
        assert_ne!(draw_a, draw(seed, b, &pool, 10));
        assert_ne!(draw_a, draw(B256::repeat_byte(8), a, &pool, 10));
        assert_eq!(response_order(&pool[0].task), [0, 1], "shown as written");
    }

    #[test]
    fn verdicts_name_right_close_and_wrong() {
        assert_eq!(verdict(&PAIRWISE, &Label::Int(2), &Label::Int(2)), (Verdict::Right, SCALE));
        assert_eq!(verdict(&PAIRWISE, &Label::Int(1), &Label::Int(2)).0, Verdict::Close);
        assert_eq!(verdict(&PAIRWISE, &Label::Int(-1), &Label::Int(1)).0, Verdict::Wrong);
        let binary = QuestionKind::Binary { options: ["no".into(), "yes".into()] };
        assert_eq!(verdict(&binary, &Label::Int(0), &Label::Int(1)), (Verdict::Wrong, 0));
    }

    #[test]
    fn guessing_and_habits_score_about_zero_and_knowing_scores_high() {
        let pool = pool(30);
        let all: Vec<usize> = (0..30).collect();
        let knowing: Vec<(usize, Label)> =
            all.iter().map(|&t| (t, pool[t].answer().clone())).collect();
        let constant: Vec<(usize, Label)> = all.iter().map(|&t| (t, Label::Int(2))).collect();
        let inverted: Vec<(usize, Label)> =
            all.iter().map(|&t| (t, Label::Int(-pool[t].answer().as_int().unwrap()))).collect();
        let q = Qualification { items: 30, score_min: 0.15 };
        let s = |answers: &[(usize, Label)]| standing(&PAIRWISE, Some(&q), &pool, answers, 30);
        let knows = s(&knowing);
        assert!(knows.score.unwrap() > 300_000, "{knows:?}");
        assert_eq!(knows.qualified, Some(true));
        // A constant answer matches the frequent side but scores nothing once chance-corrected.
        assert_eq!(s(&constant).score, Some(0));
        assert_eq!(s(&constant).qualified, Some(false));
        assert!(s(&inverted).score.unwrap() < -100_000, "{:?}", s(&inverted));
        let halfway = s(&knowing[..10]);
        assert_eq!((halfway.answered, halfway.qualified), (10, None));
        assert_eq!(standing(&PAIRWISE, None, &pool, &constant, 30).qualified, Some(true));
    }

    #[test]
    fn published_answers_must_follow_the_draw() {
        let pool = pool(40);
        let seed = B256::repeat_byte(3);
        let labeler = Address::repeat_byte(9);
        let q = Qualification { items: 5, score_min: 0.1 };
        let drawn = draw(seed, labeler, &pool, 5);
        let answers: Vec<PracticeAnswer> = drawn
            .iter()
            .map(|&t| PracticeAnswer {
                labeler,
                task: pool[t].task.id.clone(),
                label: pool[t].answer().clone(),
                at: 10,
            })
            .collect();
        let refs: Vec<&PracticeAnswer> = answers.iter().collect();
        let standing = check_answers(&PAIRWISE, Some(&q), seed, &pool, labeler, &refs, 10).unwrap();
        assert_eq!(standing.qualified, Some(true));
        assert!(check_answers(&PAIRWISE, Some(&q), seed, &pool, labeler, &refs, 9).is_err());
        let mut swapped = refs.clone();
        swapped.swap(0, 1);
        let e = check_answers(&PAIRWISE, Some(&q), seed, &pool, labeler, &swapped, 10).unwrap_err();
        assert!(e.contains("its draw has"), "{e}");

        // The reputation keeps the same graded items.
        let record = PracticeRecord { tasks: pool.clone(), answers: answers.clone() };
        let tallies = record.tallies(&PAIRWISE);
        assert_eq!(tallies[&labeler].gold_n, 5);
        assert_eq!(tallies[&labeler].mean(), standing.score);
    }
}
