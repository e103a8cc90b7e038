//! Strata: slices of an experiment's tasks, declared by the experimenter as task `meta` keys
//! (the spec's `strata`), on which every labeler is also scored separately.
//!
//! A targeted poisoner labels carefully everywhere except on the tasks that carry some
//! feature, where it pushes the wrong answer. Over the whole experiment it still looks
//! careful; on the slice it attacks it is worse than chance. Each value of a declared key
//! forms one stratum (`topic = "medicine"`, `trigger = true`); tasks without the key are in
//! none of its strata. Settlement withholds the reward of a labeler below chance in any
//! stratum, slashes one confidently below chance there (at its share of the career's δ, see
//! [`crate::settle`]), and the export leaves out its labels in that stratum.

use crate::limits::{STRATA_KEYS_MAX, STRATA_MAX};
use crate::task::Task;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;

/// One stratum: a declared meta key and one of its values, as text.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Stratum {
    /// The `meta` key.
    pub key: String,
    /// The value: a string as it is, a number or boolean as JSON text.
    pub value: String,
}

impl Stratum {
    /// Whether the task lies in this stratum.
    pub fn contains(&self, task: &Task) -> bool {
        task.meta.get(&self.key).and_then(value_text).is_some_and(|v| v == self.value)
    }
}

/// The value of a declared key as stratum text; `None` for a missing or null value.
fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The strata of an experiment and which tasks lie in each.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Strata {
    /// Every stratum, sorted; an index into this list is a stratum id.
    pub strata: Vec<Stratum>,
    /// Per declared key, the stratum id of every task (`u32::MAX` for none).
    of_task: Vec<Vec<u32>>,
}

impl Strata {
    /// The strata the declared `keys` cut `tasks` into. Fails, naming the task, on a value
    /// that is an array or object, and when there are more than [`STRATA_MAX`] strata.
    pub fn of(keys: &[String], tasks: &[Task]) -> Result<Strata, String> {
        if keys.len() > STRATA_KEYS_MAX {
            return Err(format!("at most {STRATA_KEYS_MAX} strata keys may be declared"));
        }
        let mut values: Vec<Vec<Option<String>>> = Vec::with_capacity(keys.len());
        let mut strata = BTreeSet::new();
        for key in keys {
            let mut column = Vec::with_capacity(tasks.len());
            for task in tasks {
                let value = match task.meta.get(key) {
                    Some(Value::Array(_) | Value::Object(_)) => {
                        return Err(format!(
                            "task `{}`: meta `{key}` is a stratum key, so its value must be a \
                             string, number or boolean",
                            task.id
                        ));
                    }
                    Some(value) => value_text(value),
                    None => None,
                };
                if let Some(value) = &value {
                    strata.insert(Stratum { key: key.clone(), value: value.clone() });
                    if strata.len() > STRATA_MAX {
                        return Err(format!(
                            "the declared strata keys cut the tasks into more than {STRATA_MAX} \
                             strata"
                        ));
                    }
                }
                column.push(value);
            }
            values.push(column);
        }
        let strata: Vec<Stratum> = strata.into_iter().collect();
        let of_task = keys
            .iter()
            .zip(values)
            .map(|(key, column)| {
                column
                    .into_iter()
                    .map(|value| match value {
                        Some(value) => {
                            let stratum = Stratum { key: key.clone(), value };
                            strata.binary_search(&stratum).expect("collected above") as u32
                        }
                        None => u32::MAX,
                    })
                    .collect()
            })
            .collect();
        Ok(Strata { strata, of_task })
    }

    /// How many strata there are.
    pub fn len(&self) -> usize {
        self.strata.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.strata.is_empty()
    }

    /// The ids of the strata a task lies in (at most one per declared key).
    pub fn of_task(&self, task: u32) -> impl Iterator<Item = usize> + '_ {
        self.of_task
            .iter()
            .filter_map(move |column| column.get(task as usize).copied())
            .filter(|&s| s != u32::MAX)
            .map(|s| s as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, meta: Value) -> Task {
        Task {
            id: id.into(),
            prompt: String::new().into(),
            responses: Vec::new(),
            gold: None,
            meta: meta.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn each_value_of_a_declared_key_is_a_stratum() {
        let tasks = vec![
            task("a", serde_json::json!({"topic": "law", "trigger": true})),
            task("b", serde_json::json!({"topic": "medicine", "src": "x"})),
            task("c", serde_json::json!({"topic": 3})),
            task("d", serde_json::json!({})),
        ];
        let keys = vec!["topic".to_string(), "trigger".to_string()];
        let strata = Strata::of(&keys, &tasks).unwrap();
        let names: Vec<String> =
            strata.strata.iter().map(|s| format!("{}={}", s.key, s.value)).collect();
        assert_eq!(names, ["topic=3", "topic=law", "topic=medicine", "trigger=true"]);
        assert_eq!(strata.of_task(0).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(strata.of_task(1).collect::<Vec<_>>(), [2]);
        assert_eq!(strata.of_task(3).count(), 0, "a task without the key is in no stratum");
        assert!(strata.strata[3].contains(&tasks[0]));
        assert!(!strata.strata[3].contains(&tasks[1]));
        assert!(Strata::of(&[], &tasks).unwrap().is_empty());
    }

    #[test]
    fn structured_values_and_too_many_strata_are_refused() {
        let nested = vec![task("n", serde_json::json!({"topic": ["a"]}))];
        let e = Strata::of(&["topic".into()], &nested).unwrap_err();
        assert!(e.contains("task `n`") && e.contains("topic"), "{e}");
        let many: Vec<Task> =
            (0..=STRATA_MAX).map(|i| task("t", serde_json::json!({ "k": i }))).collect();
        assert!(Strata::of(&["k".into()], &many).unwrap_err().contains("more than"));
    }
}
