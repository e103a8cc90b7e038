//! Reading crowd labels from CSV, the one place this crate does I/O.
//!
//! Every reader wants a header line naming its columns, in any order; other columns are
//! ignored, and fields are trimmed of surrounding spaces. Errors carry the 1-based line.

use std::collections::HashMap;
use std::io::Read;

use crate::data::{RawLabels, parse_finite};
use crate::{Comparisons, Dataset, Error, NumericDataset, Outcome, Repeats, Result};

const LABEL_COLUMNS: &str = "task,worker,label";
const PAIRWISE_COLUMNS: &str = "worker,left,right,label";
const TRUTH_COLUMNS: &str = "task,truth";

/// Reads categorical labels from CSV with columns `task,worker,label`, keeping the last label
/// of a repeated `(task, worker)` pair.
pub fn read_labels(input: impl Read) -> Result<Dataset> {
    read_labels_keeping(input, Repeats::Last)
}

/// Reads categorical labels as [`read_labels`] does, keeping what `repeats` says of a repeated
/// pair.
pub fn read_labels_keeping(input: impl Read, repeats: Repeats) -> Result<Dataset> {
    // Names are interned straight from the parser's buffer: copying every field into a String
    // of its own first cost more than parsing the file.
    let mut rows = RawLabels::default();
    for_each_row(input, &["task", "worker", "label"], LABEL_COLUMNS, &[], |_, f| {
        rows.push(f[0], f[1], f[2]);
        Ok(())
    })?;
    Ok(rows.into_dataset(repeats))
}

/// Reads numeric labels from CSV with columns `task,worker,label`; every label must be a
/// finite number. The last label of a repeated pair is kept.
pub fn read_numeric_labels(input: impl Read) -> Result<NumericDataset> {
    read_numeric_labels_keeping(input, Repeats::Last)
}

/// Reads numeric labels as [`read_numeric_labels`] does, keeping what `repeats` says of a
/// repeated pair.
pub fn read_numeric_labels_keeping(input: impl Read, repeats: Repeats) -> Result<NumericDataset> {
    let mut rows = Vec::new();
    for_each_row(input, &["task", "worker", "label"], LABEL_COLUMNS, &[], |line, f| {
        let value = parse_finite(f[2]).ok_or_else(|| Error::NotNumeric {
            line: line.number(),
            column: "label",
            value: f[2].to_owned(),
        })?;
        rows.push((f[0].to_owned(), f[1].to_owned(), value));
        Ok(())
    })?;
    NumericDataset::from_rows_keeping(rows, repeats)
}

/// Reads pairwise judgements from CSV with columns `worker,left,right,label`, where the label
/// names the winner and so must equal `left` or `right`.
pub fn read_comparisons(input: impl Read) -> Result<Comparisons> {
    let mut out = Comparisons::new();
    let wanted = ["worker", "left", "right", "label"];
    for_each_row(input, &wanted, PAIRWISE_COLUMNS, &["label"], |line, f| {
        let (worker, left, right, label) = (f[0], f[1], f[2], f[3]);
        // A worker who left the answer blank said nothing about the pair.
        if label.is_empty() {
            out.skip_unanswered();
            return Ok(());
        }
        if left == right {
            return Err(Error::Line {
                line: line.number(),
                reason: Box::new(Error::SelfComparison { item: left.to_owned() }),
            });
        }
        // An item's own name wins over the outcome words, so an item called `a` is still read.
        let outcome = if label == left {
            Outcome::Left
        } else if label == right {
            Outcome::Right
        } else {
            match label.to_ascii_lowercase().as_str() {
                "left" | "a" => Outcome::Left,
                "right" | "b" => Outcome::Right,
                "tie" | "s" | "same" => Outcome::Tie,
                _ => {
                    return Err(Error::UnknownWinner {
                        line: line.number(),
                        label: label.to_owned(),
                        left: left.to_owned(),
                        right: right.to_owned(),
                    });
                }
            }
        };
        out.push_outcome(worker, left, right, outcome)
    })?;
    Ok(out)
}

/// Reads a truth file with columns `task,truth` into a map from task to truth. A task listed
/// twice keeps its last truth, like a repeated label.
pub fn read_truth(input: impl Read) -> Result<HashMap<String, String>> {
    Ok(read_truth_rows(input)?.into_iter().map(|r| (r.task, r.truth)).collect())
}

/// One row of a truth file, with its line for error messages.
pub(crate) struct TruthRow {
    pub(crate) line: u64,
    pub(crate) task: String,
    pub(crate) truth: String,
}

/// Reads a truth file with columns `task,truth`, keeping every row in file order.
pub(crate) fn read_truth_rows(input: impl Read) -> Result<Vec<TruthRow>> {
    let mut out = Vec::new();
    for_each_row(input, &["task", "truth"], TRUTH_COLUMNS, &[], |line, f| {
        out.push(TruthRow { line: line.number(), task: f[0].to_owned(), truth: f[1].to_owned() });
        Ok(())
    })?;
    Ok(out)
}

/// Calls `row(line, fields)` for every data row with the `wanted` columns in the order given,
/// trimmed of surrounding whitespace, after checking that the header names them all and that
/// none of them is empty but those in `blank_ok`, which come as `""`.
///
/// Only the fields that are used are trimmed: trimming whole records (the parser's own
/// option) copies every record and took five times as long as parsing it.
fn for_each_row(
    mut input: impl Read,
    wanted: &[&'static str],
    expected: &'static str,
    blank_ok: &[&str],
    mut row: impl FnMut(&mut Lines<'_>, &[&str]) -> Result<()>,
) -> Result<()> {
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes)?;
    let bytes = bytes.as_slice();
    let mut lines = Lines::new(bytes);
    let mut reader =
        csv::ReaderBuilder::new().has_headers(true).trim(csv::Trim::Headers).from_reader(bytes);
    let header = reader.headers().map_err(|e| csv_error(&e, &mut lines))?.clone();
    if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
        return Err(Error::EmptyInput { expected });
    }
    let mut columns = Vec::with_capacity(wanted.len());
    for &name in wanted {
        let at = header.iter().position(|h| h == name).ok_or(Error::MissingColumn {
            line: 1,
            column: name,
            expected,
        })?;
        columns.push(at);
    }
    let mut record = csv::StringRecord::new();
    let mut rows = 0usize;
    while reader.read_record(&mut record).map_err(|e| csv_error(&e, &mut lines))? {
        lines.record_at(record.position().map_or(0, csv::Position::byte));
        if record.len() == 1 && record[0].trim().is_empty() {
            // A blank line carries no label.
            continue;
        }
        // Readers want at most four columns, so the fields fit a fixed array.
        let mut fields = [""; 4];
        for ((&at, &name), field) in columns.iter().zip(wanted).zip(fields.iter_mut()) {
            let value = record.get(at).unwrap_or("").trim();
            if value.is_empty() && !blank_ok.contains(&name) {
                return Err(Error::EmptyField { line: lines.number(), column: name });
            }
            *field = value;
        }
        row(&mut lines, &fields[..wanted.len()]).map_err(|e| match e {
            Error::SelfComparison { .. }
            | Error::InvalidRanking { .. }
            | Error::NonFinite { .. } => Error::Line { line: lines.number(), reason: Box::new(e) },
            other => other,
        })?;
        rows += 1;
    }
    if rows == 0 {
        return Err(Error::NoRows);
    }
    Ok(())
}

/// The 1-based line of the current record, counted only when asked for: most rows never need
/// it, and counting the newlines of every row costs a third as much as parsing them.
///
/// Lines are counted here rather than taken from the CSV parser, whose line counter and record
/// offsets fall behind on CRLF line endings (rust-csv issue 395), which real exports from
/// labelling platforms use.
struct Lines<'a> {
    bytes: &'a [u8],
    /// Where the current record starts, as the parser reports it.
    record: u64,
    /// Newlines are counted in `bytes[..counted_to]`.
    counted_to: usize,
    newlines: u64,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, record: 0, counted_to: 0, newlines: 0 }
    }

    /// Moves to the record the parser places at byte `byte`.
    fn record_at(&mut self, byte: u64) {
        self.record = byte;
    }

    /// The line of the current record. With CRLF endings the parser's offset can point into
    /// the line breaks (and blank lines) before the record, none of which can start a record,
    /// so they are skipped first. Records come in file order, so counting goes on from where
    /// it last stopped.
    fn number(&mut self) -> u64 {
        let bytes = self.bytes;
        let mut at = usize::try_from(self.record).unwrap_or(bytes.len()).min(bytes.len());
        while at < bytes.len() && matches!(bytes[at], b'\r' | b'\n') {
            at += 1;
        }
        if at < self.counted_to {
            (self.counted_to, self.newlines) = (0, 0);
        }
        self.newlines += bytes[self.counted_to..at].iter().filter(|&&b| b == b'\n').count() as u64;
        self.counted_to = at;
        self.newlines + 1
    }
}

fn csv_error(e: &csv::Error, lines: &mut Lines<'_>) -> Error {
    if let csv::ErrorKind::Io(io) = e.kind() {
        return Error::Io(std::io::Error::new(io.kind(), io.to_string()));
    }
    let line = match e.position() {
        Some(p) => {
            lines.record_at(p.byte());
            lines.number()
        }
        None => 1,
    };
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("expected {expected_len} fields like the header, found {len}")
        }
        csv::ErrorKind::Utf8 { .. } => "the row is not valid UTF-8".to_owned(),
        _ => e.to_string(),
    };
    Error::Csv { line, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_in_any_order_and_extras_ignored() {
        let text = "label,extra,worker,task\nx,1,w1,t1\ny,2,w2,t1\n";
        let data = read_labels(text.as_bytes()).expect("valid input");
        assert_eq!(data.n_labels(), 2);
        assert_eq!(data.tasks().names(), ["t1"]);
        assert_eq!(data.workers().names(), ["w1", "w2"]);
        assert_eq!(data.classes(), ["x", "y"]);
    }

    #[test]
    fn errors_name_the_line_and_reason() {
        let err = |text: &str| read_labels(text.as_bytes()).expect_err("invalid").to_string();
        assert_eq!(
            err(""),
            "the input is empty: expected a header line naming the columns task,worker,label"
        );
        assert_eq!(
            err("task,label\nt,x\n"),
            "line 1: the header has no column `worker` (required columns: task,worker,label)"
        );
        assert_eq!(err("task,worker,label\n"), "the input has a header but no rows");
        assert_eq!(err("task,worker,label\nt,w,x\nt,,x\n"), "line 3: the `worker` field is empty");
        assert_eq!(
            err("task,worker,label\nt,w,x\nt,w\n"),
            "line 3: expected 3 fields like the header, found 2"
        );
        let numeric = read_numeric_labels("task,worker,label\nt,w,1.5\nt,v,high\n".as_bytes());
        assert_eq!(
            numeric.expect_err("not a number").to_string(),
            "line 3: `label` must be a finite number, found \"high\""
        );
    }

    #[test]
    fn line_numbers_survive_crlf_line_endings() {
        let text = "task,worker,label\r\nt,w,x\r\n\r\nt,,x\r\n";
        let err = read_labels(text.as_bytes()).expect_err("empty worker");
        assert_eq!(err.to_string(), "line 4: the `worker` field is empty");
    }

    #[test]
    fn fields_are_trimmed_and_lines_counted_past_quoted_newlines() {
        let text = "task , worker,label\n t1 ,\tw1 , x \n\n\"t\n2\",w2,y\nt3,w3,z\nt4, ,x\n";
        let err = read_labels(text.as_bytes()).expect_err("empty worker").to_string();
        assert_eq!(err, "line 7: the `worker` field is empty");
        let data = read_labels(&text.as_bytes()[..text.len() - 7]).expect("valid input");
        assert_eq!(data.tasks().names(), ["t1", "t\n2", "t3"]);
        assert_eq!(data.workers().names(), ["w1", "w2", "w3"]);
        assert_eq!(data.classes(), ["x", "y", "z"]);
    }

    #[test]
    fn quoted_fields_and_blank_lines() {
        let text = "task,worker,label\n\"a, b\",w,\"x\"\n\nc,w,y\n";
        let data = read_labels(text.as_bytes()).expect("valid input");
        assert_eq!(data.tasks().names(), ["a, b", "c"]);
    }

    #[test]
    fn pairwise_rows_name_the_winner_or_say_the_outcome() {
        let ok =
            "worker,left,right,label\nw,a,b,b\nw,b,c,b\nw,x,y,left\nw,x,y,Tie\nw,x,y,s\nw,x,y,b\n";
        let c = read_comparisons(ok.as_bytes()).expect("valid input");
        let outcomes: Vec<Outcome> = c.comparisons().iter().map(|c| c.outcome).collect();
        assert_eq!(
            outcomes,
            [
                Outcome::Right,
                Outcome::Left,
                Outcome::Left,
                Outcome::Tie,
                Outcome::Tie,
                Outcome::Right
            ]
        );
        let bad = read_comparisons("worker,left,right,label\nw,a,b,c\n".as_bytes());
        assert_eq!(
            bad.expect_err("unknown winner").to_string(),
            "line 2: the label \"c\" must name the winner, either the left item \"a\" or the \
             right item \"b\", or say `left`, `right` or `tie` (`a`, `b` or `s`)"
        );
        let same = read_comparisons("worker,left,right,label\nw,a,a,a\n".as_bytes());
        assert_eq!(
            same.expect_err("self comparison").to_string(),
            "line 2: the item \"a\" is compared with itself"
        );
    }

    #[test]
    fn truth_keeps_the_last_entry() {
        let truth = read_truth("truth,task\nx,t1\ny,t2\nz,t1\n".as_bytes()).expect("valid");
        assert_eq!(truth.len(), 2);
        assert_eq!(truth["t1"], "z");
    }
}
