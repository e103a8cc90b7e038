//! The input model: names interned to dense indices, labels stored flat and grouped by task.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use crate::{Error, Result};

/// Dense indices for names, assigned in order of first appearance.
#[derive(Debug, Clone, Default)]
pub struct Interner {
    names: Vec<String>,
    /// The index of each name by its hash. Names are stored once, in `names`: keying the table
    /// by a second copy of every name, two allocations per new name and buckets twice the size,
    /// made reading the product set (8,315 tasks) a quarter slower.
    by_hash: HashMap<u64, u32, BuildHasherDefault<HashIsKey>>,
    /// The names whose hash an earlier name already has, keyed by the name itself.
    collided: HashMap<String, u32, BuildHasherDefault<NameHasher>>,
}

impl Interner {
    /// An empty interner.
    pub fn new() -> Self {
        Self::default()
    }

    /// The index of `name`, assigning the next free one if it is new.
    ///
    /// # Panics
    ///
    /// Panics past `u32::MAX` names, which no crowd dataset approaches.
    pub fn intern(&mut self, name: &str) -> u32 {
        let next = u32::try_from(self.names.len()).expect("more than u32::MAX names");
        match self.by_hash.entry(name_hash(name)) {
            Entry::Occupied(slot) if self.names[*slot.get() as usize] == name => *slot.get(),
            Entry::Occupied(_) => match self.collided.get(name) {
                Some(&i) => i,
                None => {
                    self.collided.insert(name.to_owned(), next);
                    self.names.push(name.to_owned());
                    next
                }
            },
            Entry::Vacant(slot) => {
                slot.insert(next);
                self.names.push(name.to_owned());
                next
            }
        }
    }

    /// The index of `name`, if it has one.
    pub fn get(&self, name: &str) -> Option<u32> {
        let &i = self.by_hash.get(&name_hash(name))?;
        if self.names[i as usize] == name { Some(i) } else { self.collided.get(name).copied() }
    }

    /// The name behind index `i`.
    ///
    /// # Panics
    ///
    /// Panics if `i` was never assigned.
    pub fn name(&self, i: u32) -> &str {
        &self.names[i as usize]
    }

    /// All names, by index.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// How many names are interned.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no name is interned.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// An interner whose names are the decimal indices `0..n`, for data made from indices.
    fn numbered(n: usize) -> Self {
        let mut out = Self::new();
        for i in 0..n {
            out.intern(&i.to_string());
        }
        out
    }
}

/// One categorical label: `worker` put `task` in class `class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label {
    /// Index of the task.
    pub task: u32,
    /// Index of the worker.
    pub worker: u32,
    /// Index of the class the worker chose.
    pub class: u32,
}

/// Categorical crowd labels in the long format of crowd-kit (`task, worker, label`).
///
/// Tasks and workers are numbered in order of first appearance. Classes are numbered in sorted
/// order of their names: numerically when every class name is a number, byte-wise otherwise,
/// so that `"2"` comes before `"10"` and class 0 is the same one pandas and crowd-kit put first.
/// Every tie rule in this crate ("the smallest class index") therefore means "the smallest
/// class name in that order".
///
/// When a worker labels the same task more than once, [`Dataset::from_rows`] keeps only the
/// last of those labels: a later answer is taken to correct an earlier one, and keeping both
/// would count one worker twice on one task. [`Dataset::from_rows_keeping`] can keep every
/// one instead, as crowd-kit does by default (see [`Repeats`]).
#[derive(Debug, Clone)]
pub struct Dataset {
    tasks: Interner,
    workers: Interner,
    classes: Vec<String>,
    labels: Vec<Label>,
    task_start: Vec<usize>,
}

impl Dataset {
    /// Builds a dataset from `(task, worker, label)` rows in file order, keeping the last label
    /// of a repeated `(task, worker)` pair.
    pub fn from_rows<I, S>(rows: I) -> Self
    where
        I: IntoIterator<Item = (S, S, S)>,
        S: AsRef<str>,
    {
        Self::from_rows_keeping(rows, Repeats::Last)
    }

    /// Builds a dataset from `(task, worker, label)` rows in file order, keeping what
    /// `repeats` says of a repeated `(task, worker)` pair.
    pub fn from_rows_keeping<I, S>(rows: I, repeats: Repeats) -> Self
    where
        I: IntoIterator<Item = (S, S, S)>,
        S: AsRef<str>,
    {
        let mut raw = RawLabels::default();
        for (task, worker, label) in rows {
            raw.push(task.as_ref(), worker.as_ref(), label.as_ref());
        }
        raw.into_dataset(repeats)
    }

    /// Builds a dataset from labels given as indices; names are the decimal indices.
    ///
    /// Repeated `(task, worker)` pairs keep the last label, as in [`Dataset::from_rows`].
    pub fn from_indices(
        n_tasks: usize,
        n_workers: usize,
        n_classes: usize,
        labels: Vec<Label>,
    ) -> Result<Self> {
        if n_classes == 0 && n_tasks > 0 {
            // Tasks without any class to choose from cannot be aggregated.
            return Err(Error::IndexOutOfRange { what: "class", index: 0, len: 0 });
        }
        for l in &labels {
            check_index("task", l.task, n_tasks)?;
            check_index("worker", l.worker, n_workers)?;
            check_index("class", l.class, n_classes)?;
        }
        let (labels, task_start) =
            group_by_task(n_tasks, labels, Repeats::Last, |l| (l.task, l.worker));
        Ok(Self {
            tasks: Interner::numbered(n_tasks),
            workers: Interner::numbered(n_workers),
            classes: (0..n_classes).map(|c| c.to_string()).collect(),
            labels,
            task_start,
        })
    }

    /// Number of tasks.
    pub fn n_tasks(&self) -> usize {
        self.tasks.len()
    }

    /// Number of workers.
    pub fn n_workers(&self) -> usize {
        self.workers.len()
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.classes.len()
    }

    /// Number of labels kept (after repeated pairs were dropped, where they were).
    pub fn n_labels(&self) -> usize {
        self.labels.len()
    }

    /// Task names by index.
    pub fn tasks(&self) -> &Interner {
        &self.tasks
    }

    /// Worker names by index.
    pub fn workers(&self) -> &Interner {
        &self.workers
    }

    /// Class names by index, in the sorted order described on [`Dataset`].
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The index of the class called `name`.
    pub fn class_index(&self, name: &str) -> Option<u32> {
        self.classes.iter().position(|c| c == name).map(|i| i as u32)
    }

    /// All labels, grouped by task in task order.
    pub fn labels(&self) -> &[Label] {
        &self.labels
    }

    /// The labels of task `task`.
    pub fn task_labels(&self, task: usize) -> &[Label] {
        &self.labels[self.task_start[task]..self.task_start[task + 1]]
    }

    /// Offsets into [`Dataset::labels`]: task `t` owns `task_start[t]..task_start[t + 1]`.
    pub fn task_offsets(&self) -> &[usize] {
        &self.task_start
    }

    /// Per task, how many labels each class received (`n_tasks` rows of `n_classes`).
    pub fn class_counts(&self) -> Vec<Vec<u32>> {
        (0..self.n_tasks())
            .map(|t| {
                let mut row = vec![0u32; self.n_classes()];
                for l in self.task_labels(t) {
                    row[l.class as usize] += 1;
                }
                row
            })
            .collect()
    }
}

/// Rows on their way into a [`Dataset`]: names interned as they come, classes numbered in
/// order of first appearance until [`RawLabels::into_dataset`] sorts them.
#[derive(Default)]
pub(crate) struct RawLabels {
    tasks: Interner,
    workers: Interner,
    classes: Interner,
    labels: Vec<Label>,
}

impl RawLabels {
    /// Adds one `(task, worker, label)` row.
    pub(crate) fn push(&mut self, task: &str, worker: &str, label: &str) {
        self.labels.push(Label {
            task: self.tasks.intern(task),
            worker: self.workers.intern(worker),
            class: self.classes.intern(label),
        });
    }

    /// Numbers the classes in sorted order and groups the labels by task, keeping what
    /// `repeats` says of a repeated `(task, worker)` pair.
    pub(crate) fn into_dataset(self, repeats: Repeats) -> Dataset {
        let RawLabels { tasks, workers, classes: raw_classes, labels: mut raw } = self;
        // Renumber classes into sorted order so that class indices do not depend on which
        // label happened to come first in the file.
        let mut order: Vec<u32> = (0..raw_classes.len() as u32).collect();
        let all_numeric = raw_classes.names().iter().all(|n| parse_finite(n).is_some());
        order.sort_by(|&a, &b| {
            compare_class_names(raw_classes.name(a), raw_classes.name(b), all_numeric)
        });
        let mut rank = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            rank[old as usize] = new as u32;
        }
        for label in &mut raw {
            label.class = rank[label.class as usize];
        }
        let classes = order.iter().map(|&i| raw_classes.name(i).to_owned()).collect();
        let (labels, task_start) = group_by_task(tasks.len(), raw, repeats, |l| (l.task, l.worker));
        Dataset { tasks, workers, classes, labels, task_start }
    }
}

/// One numeric label: `worker` gave `task` the value `value`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumericLabel {
    /// Index of the task.
    pub task: u32,
    /// Index of the worker.
    pub worker: u32,
    /// The value, always finite.
    pub value: f64,
}

/// Numeric crowd labels (ratings, scores) in the long format, with the same numbering and
/// policy on repeated pairs as [`Dataset`].
#[derive(Debug, Clone)]
pub struct NumericDataset {
    tasks: Interner,
    workers: Interner,
    labels: Vec<NumericLabel>,
    task_start: Vec<usize>,
}

impl NumericDataset {
    /// Builds a dataset from `(task, worker, value)` rows in file order.
    ///
    /// Rows whose value is not finite are refused, since no mean or median can use them. The
    /// last label of a repeated `(task, worker)` pair is kept.
    pub fn from_rows<I, S>(rows: I) -> Result<Self>
    where
        I: IntoIterator<Item = (S, S, f64)>,
        S: AsRef<str>,
    {
        Self::from_rows_keeping(rows, Repeats::Last)
    }

    /// As [`NumericDataset::from_rows`], keeping what `repeats` says of a repeated pair.
    pub fn from_rows_keeping<I, S>(rows: I, repeats: Repeats) -> Result<Self>
    where
        I: IntoIterator<Item = (S, S, f64)>,
        S: AsRef<str>,
    {
        let mut tasks = Interner::new();
        let mut workers = Interner::new();
        let mut raw = Vec::new();
        for (task, worker, value) in rows {
            if !value.is_finite() {
                return Err(Error::NonFinite {
                    task: task.as_ref().to_owned(),
                    worker: worker.as_ref().to_owned(),
                    value,
                });
            }
            raw.push(NumericLabel {
                task: tasks.intern(task.as_ref()),
                worker: workers.intern(worker.as_ref()),
                value,
            });
        }
        let (labels, task_start) = group_by_task(tasks.len(), raw, repeats, |l| (l.task, l.worker));
        Ok(Self { tasks, workers, labels, task_start })
    }

    /// Number of tasks.
    pub fn n_tasks(&self) -> usize {
        self.tasks.len()
    }

    /// Number of workers.
    pub fn n_workers(&self) -> usize {
        self.workers.len()
    }

    /// Task names by index.
    pub fn tasks(&self) -> &Interner {
        &self.tasks
    }

    /// Worker names by index.
    pub fn workers(&self) -> &Interner {
        &self.workers
    }

    /// All labels, grouped by task in task order.
    pub fn labels(&self) -> &[NumericLabel] {
        &self.labels
    }

    /// The labels of task `task`.
    pub fn task_labels(&self, task: usize) -> &[NumericLabel] {
        &self.labels[self.task_start[task]..self.task_start[task + 1]]
    }
}

/// What a worker said of a pair: which item is better, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The item shown first is better.
    Left,
    /// The item shown second is better.
    Right,
    /// Neither is better.
    Tie,
}

/// One pairwise judgement: `worker` saw `left` and `right` and preferred one of them, or
/// called them a tie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Comparison {
    /// Index of the worker.
    pub worker: u32,
    /// Index of the item shown first.
    pub left: u32,
    /// Index of the item shown second.
    pub right: u32,
    /// What the worker said.
    pub outcome: Outcome,
}

impl Comparison {
    /// The preferred item and the other, unless it is a tie.
    pub fn decided(&self) -> Option<(u32, u32)> {
        match self.outcome {
            Outcome::Left => Some((self.left, self.right)),
            Outcome::Right => Some((self.right, self.left)),
            Outcome::Tie => None,
        }
    }
}

/// Pairwise judgements over a shared set of items.
///
/// Every judgement is kept, repeats included: the same worker may meet the same pair again in
/// another context, and each meeting is evidence.
#[derive(Debug, Clone, Default)]
pub struct Comparisons {
    items: Interner,
    workers: Interner,
    comparisons: Vec<Comparison>,
    unanswered: usize,
}

impl Comparisons {
    /// No comparisons yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `worker` compared `left` with `right` and preferred `left` when
    /// `left_won`, otherwise `right`.
    pub fn push(&mut self, worker: &str, left: &str, right: &str, left_won: bool) -> Result<()> {
        let outcome = if left_won { Outcome::Left } else { Outcome::Right };
        self.push_outcome(worker, left, right, outcome)
    }

    /// Records that `worker` compared `left` with `right` and said `outcome`.
    pub fn push_outcome(
        &mut self,
        worker: &str,
        left: &str,
        right: &str,
        outcome: Outcome,
    ) -> Result<()> {
        if left == right {
            return Err(Error::SelfComparison { item: left.to_owned() });
        }
        let comparison = Comparison {
            worker: self.workers.intern(worker),
            left: self.items.intern(left),
            right: self.items.intern(right),
            outcome,
        };
        self.comparisons.push(comparison);
        Ok(())
    }

    /// Counts a row whose worker gave no answer, which says nothing about its pair.
    pub fn skip_unanswered(&mut self) {
        self.unanswered += 1;
    }

    /// Rows skipped because their worker gave no answer.
    pub fn unanswered(&self) -> usize {
        self.unanswered
    }

    /// Whether any judgement is a tie.
    pub fn has_ties(&self) -> bool {
        self.comparisons.iter().any(|c| c.outcome == Outcome::Tie)
    }

    /// Item names by index.
    pub fn items(&self) -> &Interner {
        &self.items
    }

    /// Worker names by index.
    pub fn workers(&self) -> &Interner {
        &self.workers
    }

    /// All comparisons in the order they were pushed.
    pub fn comparisons(&self) -> &[Comparison] {
        &self.comparisons
    }

    /// Number of items.
    pub fn n_items(&self) -> usize {
        self.items.len()
    }

    /// Number of workers.
    pub fn n_workers(&self) -> usize {
        self.workers.len()
    }
}

/// One ranking: `worker` ordered `order` from best to worst.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranking {
    /// Index of the worker.
    pub worker: u32,
    /// Item indices, best first; at least two, no repeats.
    pub order: Vec<u32>,
}

/// Full or partial rankings over a shared set of items.
#[derive(Debug, Clone, Default)]
pub struct Rankings {
    items: Interner,
    workers: Interner,
    rankings: Vec<Ranking>,
}

impl Rankings {
    /// No rankings yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `worker` ranked `order`, best first.
    pub fn push<S: AsRef<str>>(&mut self, worker: &str, order: &[S]) -> Result<()> {
        if order.len() < 2 {
            return Err(Error::InvalidRanking {
                reason: format!("{} item(s); a ranking needs at least 2", order.len()),
            });
        }
        for (i, a) in order.iter().enumerate() {
            if order[..i].iter().any(|b| b.as_ref() == a.as_ref()) {
                return Err(Error::InvalidRanking {
                    reason: format!("the item {:?} appears twice", a.as_ref()),
                });
            }
        }
        let ranking = Ranking {
            worker: self.workers.intern(worker),
            order: order.iter().map(|s| self.items.intern(s.as_ref())).collect(),
        };
        self.rankings.push(ranking);
        Ok(())
    }

    /// Item names by index.
    pub fn items(&self) -> &Interner {
        &self.items
    }

    /// Worker names by index.
    pub fn workers(&self) -> &Interner {
        &self.workers
    }

    /// All rankings in the order they were pushed.
    pub fn rankings(&self) -> &[Ranking] {
        &self.rankings
    }

    /// Number of items.
    pub fn n_items(&self) -> usize {
        self.items.len()
    }

    /// Number of workers.
    pub fn n_workers(&self) -> usize {
        self.workers.len()
    }
}

/// Parses a finite number, the only kind of value numeric methods accept.
pub(crate) fn parse_finite(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Orders class names numerically when all of them are numbers, byte-wise otherwise. Names
/// that are equal as numbers ("1" and "1.0") stay distinct classes and fall back to byte order.
fn compare_class_names(a: &str, b: &str, numeric: bool) -> Ordering {
    if numeric && let (Some(x), Some(y)) = (parse_finite(a), parse_finite(b)) {
        return x.total_cmp(&y).then_with(|| a.cmp(b));
    }
    a.cmp(b)
}

fn check_index(what: &'static str, index: u32, len: usize) -> Result<()> {
    if (index as usize) < len { Ok(()) } else { Err(Error::IndexOutOfRange { what, index, len }) }
}

/// What to keep when a worker labels the same task more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Repeats {
    /// The last label: a later answer corrects an earlier one.
    #[default]
    Last,
    /// Every label, each counted as one answer (crowd-kit's default).
    All,
}

impl std::str::FromStr for Repeats {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "last" => Ok(Repeats::Last),
            "all" => Ok(Repeats::All),
            other => Err(format!("repeated labels: expected `last` or `all`, got `{other}`")),
        }
    }
}

/// Sorts labels by task (stably, so file order survives within a task), drops all but the
/// last label of each repeated `(task, worker)` pair unless `repeats` keeps them all, and
/// returns the task offsets.
fn group_by_task<L: Copy>(
    n_tasks: usize,
    labels: Vec<L>,
    repeats: Repeats,
    key: impl Fn(&L) -> (u32, u32),
) -> (Vec<L>, Vec<usize>) {
    // Tasks are already dense indices, so a counting sort groups them in linear time; each
    // task's few labels are then sorted by worker. Both steps are stable, so the repeats of a
    // pair end up adjacent and in file order, and the last of each run is the one to keep.
    let mut task_start = vec![0usize; n_tasks + 1];
    for l in &labels {
        task_start[key(l).0 as usize + 1] += 1;
    }
    for t in 0..n_tasks {
        task_start[t + 1] += task_start[t];
    }
    let mut next = task_start.clone();
    let mut grouped = labels.clone();
    for l in labels {
        let slot = &mut next[key(&l).0 as usize];
        grouped[*slot] = l;
        *slot += 1;
    }
    let mut kept: Vec<L> = Vec::with_capacity(grouped.len());
    for t in 0..n_tasks {
        let task = &mut grouped[task_start[t]..task_start[t + 1]];
        task.sort_by_key(|l| key(l).1);
        task_start[t] = kept.len();
        for &l in task.iter() {
            match kept.last_mut() {
                Some(prev) if repeats == Repeats::Last && key(prev) == key(&l) => *prev = l,
                _ => kept.push(l),
            }
        }
    }
    task_start[n_tasks] = kept.len();
    (kept, task_start)
}

/// A fast hash for interning names (the multiply-rotate of rustc's FxHash): several times
/// quicker than the standard SipHash on short names, where hashing was a tenth of reading a
/// file. It does not resist collisions crafted on purpose, which only slow interning down.
#[derive(Default, Clone, Copy)]
struct NameHasher(u64);

impl NameHasher {
    fn add(&mut self, word: u64) {
        const SEED: u64 = 0xf135_7aea_2e62_a9c5;
        self.0 = self.0.wrapping_add(word).wrapping_mul(SEED);
    }
}

impl Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.add(u64::from_le_bytes(word.try_into().expect("eight bytes")));
        }
        let rest = words.remainder();
        if rest.is_empty() {
            return;
        }
        // A long name's last few bytes come in as its last eight, overlapping the word before:
        // one load instead of gathering up to seven bytes made reading the real datasets 5 to
        // 15% faster.
        if let Some(tail) = bytes.len().checked_sub(8) {
            self.add(u64::from_le_bytes(bytes[tail..].try_into().expect("eight bytes")));
            return;
        }
        // A short name's bytes are gathered one by one: copying them into a zeroed word and
        // loading that stalls on the partial store, which was most of the hashing time.
        let last = rest.iter().rev().fold(0u64, |word, &b| word << 8 | u64::from(b));
        self.add(last);
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn finish(&self) -> u64 {
        // The multiply leaves its best bits at the top; the table indexes with the bottom ones.
        self.0.rotate_left(26)
    }
}

/// The hash [`Interner`] files a name under.
fn name_hash(name: &str) -> u64 {
    BuildHasherDefault::<NameHasher>::default().hash_one(name)
}

/// Hashes a `u64` key that is already a hash to itself.
#[derive(Default, Clone, Copy)]
struct HashIsKey(u64);

impl Hasher for HashIsKey {
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys are hashed");
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_the_same_hash_keep_their_own_indices() {
        // The hash of a 16-byte name is linear in its two words, w1·K + w2 up to the steps both
        // names share, and these two solve (w1 - w1')·K = w2' - w2 in printable ASCII.
        let (a, b) = (r"@fI`\~Mp@@@@@@@@", "@@@@@@@@@~`}_ApO");
        assert_eq!(name_hash(a), name_hash(b));
        let mut names = Interner::new();
        assert_eq!([names.intern(a), names.intern("c")], [0, 1]);
        assert_eq!(names.get(b), None);
        assert_eq!([names.intern(b), names.intern(a), names.intern(b)], [2, 0, 2]);
        assert_eq!([names.get(a), names.get(b), names.get("d")], [Some(0), Some(2), None]);
        assert_eq!(names.names(), [a, "c", b]);
    }

    proptest::proptest! {
        #[test]
        fn names_are_numbered_in_order_of_first_appearance(
            names in proptest::collection::vec("[ab\u{e9}]{0,9}", 0..40),
        ) {
            let mut interner = Interner::new();
            let mut seen: Vec<&str> = Vec::new();
            for name in &names {
                let first = seen.iter().position(|s| s == name).unwrap_or_else(|| {
                    seen.push(name);
                    seen.len() - 1
                });
                proptest::prop_assert_eq!(interner.intern(name) as usize, first);
            }
            for (i, name) in seen.iter().enumerate() {
                proptest::prop_assert_eq!(interner.get(name), Some(i as u32));
            }
            proptest::prop_assert_eq!(interner.names(), seen);
        }
    }

    #[test]
    fn classes_sort_numerically_when_all_are_numbers() {
        let data = Dataset::from_rows([("t1", "w1", "10"), ("t1", "w2", "2"), ("t2", "w1", "1")]);
        assert_eq!(data.classes(), ["1", "2", "10"]);
        assert_eq!(data.class_index("10"), Some(2));
        assert_eq!(data.class_index("3"), None);
    }

    #[test]
    fn classes_sort_by_bytes_otherwise() {
        let data = Dataset::from_rows([("t1", "w1", "b"), ("t1", "w2", "10"), ("t2", "w1", "a")]);
        assert_eq!(data.classes(), ["10", "a", "b"]);
        assert_eq!(data.class_index("a"), Some(1));
    }

    #[test]
    fn repeated_pair_keeps_the_last_label() {
        let data = Dataset::from_rows([
            ("t1", "w1", "a"),
            ("t2", "w1", "a"),
            ("t1", "w2", "a"),
            ("t1", "w1", "b"),
        ]);
        assert_eq!(data.n_labels(), 3);
        let t1 = data.task_labels(0);
        assert_eq!(t1.len(), 2);
        assert_eq!(t1[0], Label { task: 0, worker: 0, class: 1 });
        assert_eq!(data.class_counts(), vec![vec![1, 1], vec![1, 0]]);
        // Kept all, as crowd-kit does, the repeat counts as a second answer.
        let rows = [("t1", "w1", "a"), ("t2", "w1", "a"), ("t1", "w2", "a"), ("t1", "w1", "b")];
        let all = Dataset::from_rows_keeping(rows, Repeats::All);
        assert_eq!(all.n_labels(), 4);
        assert_eq!(all.task_labels(0).len(), 3);
        assert_eq!("all".parse(), Ok(Repeats::All));
        assert!("every".parse::<Repeats>().is_err());
    }

    #[test]
    fn from_indices_checks_ranges() {
        let bad = Dataset::from_indices(1, 1, 2, vec![Label { task: 0, worker: 0, class: 2 }]);
        assert!(matches!(bad, Err(Error::IndexOutOfRange { what: "class", index: 2, len: 2 })));
        let ok = Dataset::from_indices(3, 1, 2, vec![Label { task: 2, worker: 0, class: 1 }])
            .expect("indices in range");
        assert_eq!(ok.task_offsets(), [0, 0, 0, 1]);
        assert!(ok.task_labels(0).is_empty());
    }

    #[test]
    fn comparisons_refuse_an_item_against_itself() {
        let mut c = Comparisons::new();
        assert!(matches!(c.push("w", "x", "x", true), Err(Error::SelfComparison { .. })));
        c.push("w", "x", "y", false).expect("distinct items");
        assert_eq!(c.comparisons()[0].decided(), Some((1, 0)));
        c.push_outcome("w", "x", "y", Outcome::Tie).expect("distinct items");
        assert_eq!(c.comparisons()[1].decided(), None);
        assert!(c.has_ties());
    }

    #[test]
    fn rankings_refuse_repeats_and_singletons() {
        let mut r = Rankings::new();
        assert!(r.push("w", &["a"]).is_err());
        assert!(r.push("w", &["a", "b", "a"]).is_err());
        r.push("w", &["b", "a", "c"]).expect("valid ranking");
        assert_eq!(r.rankings()[0].order, [0, 1, 2]);
    }
}
