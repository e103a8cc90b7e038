//! The one error type of this crate.

/// Everything that can go wrong when reading crowd labels or running a method over them.
///
/// The aggregators themselves cannot fail: once a [`crate::Dataset`] exists, every method
/// returns a result for it. Errors come from input that does not describe a dataset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input has no header line at all.
    #[error("the input is empty: expected a header line naming the columns {expected}")]
    EmptyInput {
        /// The columns the header must name, comma-separated.
        expected: &'static str,
    },

    /// The input has a header but no data rows.
    #[error("the input has a header but no rows")]
    NoRows,

    /// The header does not name a column that the input kind requires.
    #[error("line {line}: the header has no column `{column}` (required columns: {expected})")]
    MissingColumn {
        /// The line of the header, 1-based.
        line: u64,
        /// The missing column.
        column: &'static str,
        /// All required columns, comma-separated.
        expected: &'static str,
    },

    /// The CSV text itself is malformed: a row with the wrong number of fields, an unclosed
    /// quote, or bytes that are not UTF-8.
    #[error("line {line}: {message}")]
    Csv {
        /// The line where the problem was found, 1-based.
        line: u64,
        /// What the CSV parser reported.
        message: String,
    },

    /// A required field of a row is empty.
    #[error("line {line}: the `{column}` field is empty")]
    EmptyField {
        /// The line of the row, 1-based.
        line: u64,
        /// The empty column.
        column: &'static str,
    },

    /// A field that must hold a finite number holds something else.
    #[error("line {line}: `{column}` must be a finite number, found {value:?}")]
    NotNumeric {
        /// The line of the row, 1-based.
        line: u64,
        /// The column of the field.
        column: &'static str,
        /// The text that did not parse.
        value: String,
    },

    /// A numeric label given directly (not through CSV) is infinite or not a number.
    #[error("the label of worker {worker:?} on task {task:?} is {value}, not a finite number")]
    NonFinite {
        /// The task's name.
        task: String,
        /// The worker's name.
        worker: String,
        /// The value given.
        value: f64,
    },

    /// A pairwise row's label names neither of the two compared items nor an outcome.
    #[error(
        "line {line}: the label {label:?} must name the winner, either the left item {left:?} \
         or the right item {right:?}, or say `left`, `right` or `tie` (`a`, `b` or `s`)"
    )]
    UnknownWinner {
        /// The line of the row, 1-based.
        line: u64,
        /// The label as written.
        label: String,
        /// The left item of the row.
        left: String,
        /// The right item of the row.
        right: String,
    },

    /// A comparison puts an item against itself, which says nothing about either.
    #[error("the item {item:?} is compared with itself")]
    SelfComparison {
        /// The item on both sides.
        item: String,
    },

    /// A ranking is too short to order anything, or lists an item twice.
    #[error("invalid ranking: {reason}")]
    InvalidRanking {
        /// Why the ranking was refused.
        reason: String,
    },

    /// A label refers by index to a task, worker or class that does not exist.
    #[error("{what} index {index} is out of range: there are {len}")]
    IndexOutOfRange {
        /// Which kind of index: `task`, `worker` or `class`.
        what: &'static str,
        /// The offending index.
        index: u32,
        /// How many of that kind exist.
        len: usize,
    },

    /// A row failed a check that is not specific to CSV, such as a self-comparison.
    #[error("line {line}: {reason}")]
    Line {
        /// The line of the row, 1-based.
        line: u64,
        /// Why the row was refused.
        reason: Box<Error>,
    },

    /// A method name that `plumbline aggregate --method` does not know.
    #[error("unknown method {name:?}; expected one of: {expected}")]
    UnknownMethod {
        /// The name as given.
        name: String,
        /// Every accepted name, comma-separated.
        expected: &'static str,
    },

    /// A truth file was given to a method whose output cannot be scored against one.
    #[error("method `{method}` ranks items and cannot be scored against a truth file")]
    TruthNotSupported {
        /// The method's name.
        method: &'static str,
    },

    /// A method that takes binary labels was given more or fewer classes.
    #[error("method `{method}` takes binary labels; this data has {classes} classes")]
    NotBinary {
        /// The method's name.
        method: &'static str,
        /// How many classes the data has.
        classes: usize,
    },

    /// Reading the input failed below the CSV layer.
    #[error("reading the input failed: {0}")]
    Io(#[from] std::io::Error),
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
