//! Tasks and their all-or-nothing import from JSONL: one object per line,
//! `{"id", "prompt", "responses": [...], "gold": optional label, "meta": {...}}`, where the
//! prompt is a string or a conversation of chat messages `[{"role", "content"}]`.
//! One bad line rejects the whole file, with its line number and the reason.

use crate::label::{Label, LabelError};
use crate::limits::*;
use crate::spec::QuestionKind;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The commitment to an experiment's task list, gold answers included, published when it
/// opens: `keccak256` of the tasks' canonical JSON array. The public record carries the tasks
/// and this hash, and `audit` refuses a record whose tasks do not hash to it, so gold cannot be
/// changed after the labels are seen.
pub fn tasks_hash(tasks: &[Task]) -> crate::B256 {
    alloy_primitives::keccak256(serde_json::to_vec(tasks).expect("tasks always serialize"))
}

/// One task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// The experimenter's id, unique within the experiment.
    pub id: String,
    /// The prompt shown above the responses.
    #[serde(default)]
    pub prompt: Prompt,
    /// The responses to compare, rank or rate (canonical order).
    #[serde(default)]
    pub responses: Vec<String>,
    /// The known answer of a hidden gold task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gold: Option<Label>,
    /// Anything else the experimenter wants kept with the task.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub meta: serde_json::Map<String, serde_json::Value>,
}

/// A task's prompt: text, or a conversation of chat messages that the responses continue.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Prompt {
    /// Plain text (empty when the task has none).
    Text(String),
    /// Chat messages in order; a response is the next assistant turn.
    Messages(Vec<Message>),
}

/// One chat message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What is said.
    pub content: String,
}

/// The speaker of a chat message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions to the model.
    System,
    /// The person.
    User,
    /// The model.
    Assistant,
}

impl Default for Prompt {
    fn default() -> Self {
        Prompt::Text(String::new())
    }
}

impl From<String> for Prompt {
    fn from(text: String) -> Self {
        Prompt::Text(text)
    }
}

impl Prompt {
    /// Its size in bytes (of the text, or of every message's content).
    pub fn byte_len(&self) -> usize {
        match self {
            Prompt::Text(text) => text.len(),
            Prompt::Messages(messages) => messages.iter().map(|m| m.content.len()).sum(),
        }
    }

    /// As chat messages: a text prompt is one user message (none when empty).
    pub fn messages(&self) -> Vec<Message> {
        match self {
            Prompt::Text(text) if text.is_empty() => Vec::new(),
            Prompt::Text(text) => vec![Message { role: Role::User, content: text.clone() }],
            Prompt::Messages(messages) => messages.clone(),
        }
    }

    /// As one string: the text, or the messages as JSON (for table cells).
    pub fn to_text(&self) -> String {
        match self {
            Prompt::Text(text) => text.clone(),
            Prompt::Messages(messages) => serde_json::to_string(messages).expect("serializes"),
        }
    }

    /// Whether it is a conversation.
    pub fn is_messages(&self) -> bool {
        matches!(self, Prompt::Messages(_))
    }

    /// Reads a task line's `prompt`, with one clear error for every wrong shape.
    fn from_json(value: serde_json::Value) -> Result<Prompt, String> {
        const SHAPE: &str =
            "`prompt` must be a string or a list of {\"role\", \"content\"} messages";
        match value {
            serde_json::Value::Null => Ok(Prompt::default()),
            serde_json::Value::String(text) => Ok(Prompt::Text(text)),
            list @ serde_json::Value::Array(_) => {
                let messages: Vec<Message> =
                    serde_json::from_value(list).map_err(|_| SHAPE.to_owned())?;
                if messages.is_empty() {
                    return Err(SHAPE.into());
                }
                Ok(Prompt::Messages(messages))
            }
            _ => Err(SHAPE.into()),
        }
    }
}

impl Task {
    /// Whether this is a hidden gold task.
    pub fn is_gold(&self) -> bool {
        self.gold.is_some()
    }
}

/// A rejected task file: the 1-based line number and the reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// A line is bad.
    #[error("line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The file as a whole is bad (empty, too large, too many tasks).
    #[error("{0}")]
    File(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaskLine {
    id: serde_json::Value,
    #[serde(default)]
    prompt: serde_json::Value,
    #[serde(default)]
    responses: Vec<String>,
    #[serde(default)]
    gold: Option<serde_json::Value>,
    #[serde(default)]
    meta: serde_json::Map<String, serde_json::Value>,
}

/// Parses a JSONL task file for a question kind. Blank lines are skipped; everything else must
/// be a valid task, or nothing is imported.
pub fn parse_jsonl(text: &str, kind: &QuestionKind) -> Result<Vec<Task>, TaskError> {
    parse_lines(text, TASKS_MAX, |raw| {
        let parsed: TaskLine = serde_json::from_str(raw).map_err(|e| json_reason(&e))?;
        check_task(parsed, kind)
    })
}

/// Parses an experiment's task file: as [`parse_jsonl`], except that in a best-of experiment
/// (see [`crate::knockout`]) every regular line is a best-of task of 2 to 64 responses, expanded
/// into its pair tasks.
pub fn parse_for(text: &str, spec: &crate::spec::ExperimentSpec) -> Result<Vec<Task>, TaskError> {
    let kind = &spec.question.kind;
    if !spec.rounds.as_ref().is_some_and(crate::rounds::Rounds::is_best_of) {
        return parse_jsonl(text, kind);
    }
    let lines = parse_lines(text, TASKS_MAX, |raw| {
        let parsed: TaskLine = serde_json::from_str(raw).map_err(|e| json_reason(&e))?;
        if parsed.gold.as_ref().is_some_and(|g| !g.is_null()) {
            return check_task(parsed, kind);
        }
        if !(2..=RESPONSES_MAX).contains(&parsed.responses.len()) {
            return Err(format!(
                "a best-of task compares 2 to {RESPONSES_MAX} responses, found {}",
                parsed.responses.len()
            ));
        }
        let n = parsed.responses.len() as u32;
        let task = check_task(parsed, &QuestionKind::Ranking { n })?;
        crate::knockout::check_line(&task)?;
        Ok(task)
    })?;
    crate::knockout::expand(lines).map_err(TaskError::File)
}

/// The JSONL loop shared with practice files: blank lines skipped, every other line parsed by
/// `parse` (whose error is prefixed with the line number), at most `max` items, unique ids.
pub(crate) fn parse_lines<T: AsRef<Task>>(
    text: &str,
    max: usize,
    mut parse: impl FnMut(&str) -> Result<T, String>,
) -> Result<Vec<T>, TaskError> {
    if text.len() > TASK_FILE_BYTES_MAX {
        return Err(TaskError::File(format!(
            "the file is larger than {TASK_FILE_BYTES_MAX} bytes"
        )));
    }
    let mut items = Vec::new();
    let mut ids = HashSet::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let fail = |reason: String| TaskError::Line { line, reason };
        if items.len() == max {
            return Err(fail(format!("more than {max} tasks")));
        }
        let item = parse(raw).map_err(fail)?;
        if !ids.insert(item.as_ref().id.clone()) {
            return Err(fail(format!("task id {:?} appears twice", item.as_ref().id)));
        }
        items.push(item);
    }
    if items.is_empty() {
        return Err(TaskError::File("the file holds no tasks".into()));
    }
    Ok(items)
}

impl AsRef<Task> for Task {
    fn as_ref(&self) -> &Task {
        self
    }
}

pub(crate) fn json_reason(e: &serde_json::Error) -> String {
    // serde_json reports "at line 1 column N" relative to the single line; keep the column only.
    let message = e.to_string();
    match message.rfind(" at line ") {
        Some(cut) => format!("{} (column {})", &message[..cut], e.column()),
        None => message,
    }
}

pub(crate) fn check_task(line: TaskLine, kind: &QuestionKind) -> Result<Task, String> {
    let id = match line.id {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => n.to_string(),
        _ => return Err("`id` must be a string or a number".into()),
    };
    if id.is_empty() || id.len() > TASK_ID_BYTES_MAX {
        return Err(format!("`id` must be 1 to {TASK_ID_BYTES_MAX} bytes"));
    }
    let prompt = Prompt::from_json(line.prompt)?;
    if prompt.byte_len() > PROMPT_BYTES_MAX {
        return Err(format!("`prompt` is longer than {PROMPT_BYTES_MAX} bytes"));
    }
    if line.responses.len() > RESPONSES_MAX {
        return Err(format!("more than {RESPONSES_MAX} responses"));
    }
    if let Some(required) = kind.responses_required()
        && line.responses.len() != required
    {
        return Err(format!(
            "a {} task needs exactly {required} responses, found {}",
            kind.name(),
            line.responses.len()
        ));
    }
    if let Some(i) = line.responses.iter().position(|r| r.len() > RESPONSE_BYTES_MAX) {
        return Err(format!("response {i} is longer than {RESPONSE_BYTES_MAX} bytes"));
    }
    let gold = match line.gold {
        None | Some(serde_json::Value::Null) => None,
        Some(value) => {
            Some(Label::from_json(&value, kind).map_err(|e: LabelError| format!("`gold`: {e}"))?)
        }
    };
    if gold.is_some() && matches!(kind, QuestionKind::Text { .. }) {
        return Err("text questions cannot have gold answers".into());
    }
    Ok(Task { id, prompt, responses: line.responses, gold, meta: line.meta })
}

/// Counts of a task list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TaskSummary {
    /// All tasks.
    pub tasks: usize,
    /// Regular (scored against peers) tasks.
    pub regular: usize,
    /// Hidden gold tasks.
    pub gold: usize,
}

/// Summarizes a task list.
pub fn summarize(tasks: &[Task]) -> TaskSummary {
    let gold = tasks.iter().filter(|t| t.is_gold()).count();
    TaskSummary { tasks: tasks.len(), regular: tasks.len() - gold, gold }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAIRWISE: QuestionKind = QuestionKind::Pairwise { strength_max: 2, allow_tie: true };

    #[test]
    fn good_file_parses() {
        let text = r#"{"id": "a", "prompt": "p", "responses": ["x", "y"]}

{"id": 7, "prompt": "q", "responses": ["x", "y"], "gold": -2, "meta": {"src": "demo"}}
"#;
        let tasks = parse_jsonl(text, &PAIRWISE).unwrap();
        assert_eq!(tasks.len(), 2);
        assert_eq!(tasks[1].id, "7");
        assert_eq!(tasks[1].gold, Some(Label::Int(-2)));
        assert_eq!(summarize(&tasks), TaskSummary { tasks: 2, regular: 1, gold: 1 });
    }

    #[test]
    fn a_prompt_is_text_or_a_conversation() {
        let text = r#"{"id": "a", "prompt": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"}], "responses": ["x", "y"]}
{"id": "b", "prompt": "plain", "responses": ["x", "y"]}"#;
        let tasks = parse_jsonl(text, &PAIRWISE).unwrap();
        assert!(tasks[0].prompt.is_messages());
        assert_eq!(
            tasks[0].prompt.messages()[1],
            Message { role: Role::User, content: "Hi".into() }
        );
        assert_eq!(tasks[1].prompt, Prompt::Text("plain".into()));
        assert_eq!(tasks[1].prompt.messages()[0].role, Role::User);
        // A text prompt keeps the JSON (and so the task hash) it always had.
        assert_eq!(serde_json::to_value(&tasks[1]).unwrap()["prompt"], "plain");
        let shape =
            "line 1: `prompt` must be a string or a list of {\"role\", \"content\"} messages";
        for bad in [
            r#"[]"#,
            r#"[{"role": "robot", "content": "x"}]"#,
            r#"[{"role": "user"}]"#,
            r#"[{"role": "user", "content": "x", "name": "y"}]"#,
            r#"{"role": "user", "content": "x"}"#,
            r#"3"#,
        ] {
            let line = format!(r#"{{"id": "a", "prompt": {bad}, "responses": ["x", "y"]}}"#);
            assert_eq!(parse_jsonl(&line, &PAIRWISE).unwrap_err().to_string(), shape, "{bad}");
        }
    }

    #[test]
    fn bad_lines_are_named() {
        let cases = [
            ("{\"id\": \"a\", \"responses\": [\"x\"]}", "line 1: a pairwise task needs exactly 2"),
            (
                "{\"id\": \"a\", \"responses\": [\"x\", \"y\"]}\n{oops",
                "line 2: key must be a string",
            ),
            (
                "{\"id\": \"a\", \"responses\": [\"x\", \"y\"], \"gold\": \"left\"}",
                "line 1: `gold`: a pairwise label",
            ),
            (
                "{\"id\": \"a\", \"responses\": [\"x\", \"y\"]}\n{\"id\": \"a\", \"responses\": [\"x\", \"y\"]}",
                "line 2: task id \"a\" appears twice",
            ),
            (
                "{\"id\": \"a\", \"responses\": [\"x\", \"y\"], \"extra\": 1}",
                "line 1: unknown field",
            ),
        ];
        for (text, expected) in cases {
            let e = parse_jsonl(text, &PAIRWISE).unwrap_err().to_string();
            assert!(e.starts_with(expected), "{e:?} should start with {expected:?}");
        }
        assert_eq!(
            parse_jsonl("\n\n", &PAIRWISE).unwrap_err().to_string(),
            "the file holds no tasks"
        );
    }

    #[test]
    fn a_best_of_experiment_imports_each_prompt_as_every_pair_of_its_responses() {
        let mut spec = crate::synthetic::knockout::Params::default().spec();
        let text = r#"{"id": "p", "prompt": "q", "responses": ["x", "y", "z"], "meta": {"src": 1}}
{"id": "g", "prompt": "r", "responses": ["a", "b"], "gold": -1}
"#;
        let tasks = parse_for(text, &spec).unwrap();
        let ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["p:0-1", "p:0-2", "p:1-2", "g"]);
        assert_eq!(tasks[1].responses, ["x", "z"]);
        assert_eq!(tasks[1].meta["src"], 1);
        assert_eq!(tasks[1].meta["best_of"], serde_json::json!({"task": "p", "pair": [0, 2]}));
        let one = parse_for(r#"{"id": "p", "responses": ["x"]}"#, &spec).unwrap_err();
        assert!(one.to_string().contains("line 1: a best-of task compares 2 to 64"), "{one}");
        let gold = parse_for(r#"{"id": "g", "responses": ["a", "b", "c"], "gold": 1}"#, &spec);
        assert!(gold.unwrap_err().to_string().contains("exactly 2 responses"));
        // Without a knockout, the same file is an ordinary pairwise one.
        spec.rounds = None;
        assert!(parse_for(text, &spec).unwrap_err().to_string().contains("exactly 2 responses"));
    }
}
