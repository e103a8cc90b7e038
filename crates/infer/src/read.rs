//! Reading crowd labels from CSV, the one place this crate does I/O.
//!
//! Every reader wants a header line naming its columns, in any order; other columns are
//! ignored, and fields are trimmed of surrounding spaces. Errors carry the 1-based line.

use std::collections::HashMap;
use std::fmt::Display;
use std::io::Read;

use crate::data::{RawLabels, parse_finite};
use crate::{Comparisons, Dataset, Error, NumericDataset, Outcome, Repeats, Result};

/// The columns a reader wants from the header.
struct Columns {
    /// The names, in the order rows hand their fields over.
    wanted: &'static [&'static str],
    /// The names comma-separated, for error messages.
    expected: &'static str,
    /// The columns whose field may be empty; an empty one comes as `""`.
    blank_ok: &'static [&'static str],
}

const LABEL_COLUMNS: Columns =
    Columns { wanted: &["task", "worker", "label"], expected: "task,worker,label", blank_ok: &[] };

const PAIRWISE_COLUMNS: Columns = Columns {
    wanted: &["worker", "left", "right", "label"],
    expected: "worker,left,right,label",
    blank_ok: &["label"],
};

const TRUTH_COLUMNS: Columns =
    Columns { wanted: &["task", "truth"], expected: "task,truth", blank_ok: &[] };

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
    for_each_row(input, &LABEL_COLUMNS, |_, f| {
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
    for_each_row(input, &LABEL_COLUMNS, |line, f| {
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
    for_each_row(input, &PAIRWISE_COLUMNS, |line, f| {
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
    for_each_row(input, &TRUTH_COLUMNS, |line, f| {
        out.push(TruthRow { line: line.number(), task: f[0].to_owned(), truth: f[1].to_owned() });
        Ok(())
    })?;
    Ok(out)
}

/// Calls `row(line, fields)` for every data row with the wanted columns in the order given,
/// trimmed of surrounding whitespace, after checking that the header names them all and that
/// none of them is empty but those that may be blank.
fn for_each_row(
    mut input: impl Read,
    columns: &Columns,
    mut row: impl FnMut(&mut Lines<'_>, &[&str]) -> Result<()>,
) -> Result<()> {
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes)?;
    // Text without quotes has no escaping, so it is split here: the csv crate's parsing and
    // record copies were two fifths of reading and fitting zencrowd, and splitting costs a
    // quarter as much. Labelling platforms rarely quote; whatever has a quote or is not UTF-8
    // goes to the csv crate as before.
    let rows = match plain_text(&bytes) {
        Some(text) => for_each_plain_row(text, columns, &mut row)?,
        None => for_each_csv_row(&bytes, columns, &mut row)?,
    };
    if rows == 0 {
        return Err(Error::NoRows);
    }
    Ok(())
}

/// The input as text if it holds no quote and is valid UTF-8: then it has no escaping, and
/// splitting it on commas and line breaks reads it exactly as the csv crate does. A leading
/// byte order mark is dropped, as the csv crate drops it.
fn plain_text(bytes: &[u8]) -> Option<&str> {
    // Folding whole blocks, with no early exit at each byte, lets the compiler compare sixteen
    // bytes at once; `contains` took three times as long.
    let quoted = |block: &[u8]| block.iter().fold(0u8, |seen, &b| seen | u8::from(b == b'"')) != 0;
    if bytes.chunks(256).any(quoted) {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    Some(text.strip_prefix('\u{feff}').unwrap_or(text))
}

/// Reads quote-free text with [`PlainRecords`], returning the number of data rows. Errors are
/// those the csv crate's path gives, with the same lines.
fn for_each_plain_row(
    text: &str,
    columns: &Columns,
    row: &mut impl FnMut(&mut Lines<'_>, &[&str]) -> Result<()>,
) -> Result<usize> {
    let mut lines = Lines::new(text.as_bytes());
    let mut records = PlainRecords { text, at: 0 };
    let mut fields = Vec::new();
    let mut header = Vec::new();
    if records.next_into(&mut fields).is_some() {
        header.extend(fields.iter().map(|f| f.trim()));
    }
    let at = header_columns(&header, columns)?;
    let mut rows = 0;
    while let Some(start) = records.next_into(&mut fields) {
        lines.record_at(start as u64);
        if fields.len() != header.len() {
            let message = unequal_lengths(header.len(), fields.len());
            return Err(Error::Csv { line: lines.number(), message });
        }
        use_row(columns, &at, |i| fields[i], &mut lines, row)?;
        rows += 1;
    }
    Ok(rows)
}

/// Reads any CSV with the csv crate, returning the number of data rows.
///
/// Only the fields that are used are trimmed: trimming whole records (the parser's own
/// option) copies every record and took five times as long as parsing it.
fn for_each_csv_row(
    bytes: &[u8],
    columns: &Columns,
    row: &mut impl FnMut(&mut Lines<'_>, &[&str]) -> Result<()>,
) -> Result<usize> {
    let mut lines = Lines::new(bytes);
    let mut reader =
        csv::ReaderBuilder::new().has_headers(true).trim(csv::Trim::Headers).from_reader(bytes);
    let header = reader.headers().map_err(|e| csv_error(&e, &mut lines))?;
    let at = header_columns(&header.iter().collect::<Vec<_>>(), columns)?;
    let mut record = csv::StringRecord::new();
    let mut rows = 0;
    // Every record has as many fields as the header, or the parser refuses it. Empty lines
    // never come as records, and a line of spaces has too few fields.
    while reader.read_record(&mut record).map_err(|e| csv_error(&e, &mut lines))? {
        lines.record_at(record.position().map_or(0, csv::Position::byte));
        use_row(columns, &at, |i| record.get(i).unwrap_or(""), &mut lines, row)?;
        rows += 1;
    }
    Ok(rows)
}

/// Where each wanted column is in the (trimmed) header. The first of two equal names counts.
fn header_columns(header: &[&str], columns: &Columns) -> Result<Vec<usize>> {
    if header.is_empty() || header == [""] {
        return Err(Error::EmptyInput { expected: columns.expected });
    }
    let find = |&name| {
        header.iter().position(|&h| h == name).ok_or(Error::MissingColumn {
            line: 1,
            column: name,
            expected: columns.expected,
        })
    };
    columns.wanted.iter().map(find).collect()
}

/// Checks the wanted fields of one record, `field(i)` being its `i`-th field, and hands them
/// to `row` trimmed.
fn use_row<'r>(
    columns: &Columns,
    at: &[usize],
    field: impl Fn(usize) -> &'r str,
    lines: &mut Lines<'_>,
    row: &mut impl FnMut(&mut Lines<'_>, &[&str]) -> Result<()>,
) -> Result<()> {
    // Readers want at most four columns, so the fields fit a fixed array.
    let mut fields = [""; 4];
    for ((&i, &name), out) in at.iter().zip(columns.wanted).zip(fields.iter_mut()) {
        let value = trim(field(i));
        if value.is_empty() && !columns.blank_ok.contains(&name) {
            return Err(Error::EmptyField { line: lines.number(), column: name });
        }
        *out = value;
    }
    row(lines, &fields[..columns.wanted.len()]).map_err(|e| match e {
        Error::SelfComparison { .. } | Error::InvalidRanking { .. } | Error::NonFinite { .. } => {
            Error::Line { line: lines.number(), reason: Box::new(e) }
        }
        other => other,
    })
}

/// `field` without surrounding whitespace. Most fields have none, which their two end bytes
/// show; `str::trim` decodes a character at each end, a twentieth of reading a file.
fn trim(field: &str) -> &str {
    let bytes = field.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => field,
        _ => field.trim(),
    }
}

/// The records of quote-free text, split as the csv crate splits them: a record ends at `\n`,
/// `\r` or `\r\n`, empty records (blank lines) are skipped, and fields end at commas.
struct PlainRecords<'a> {
    text: &'a str,
    /// Where reading goes on; past the end once the last record is read.
    at: usize,
}

impl<'a> PlainRecords<'a> {
    /// Puts the next record's fields into `fields` and returns where the record starts, or
    /// `None` after the last record.
    fn next_into(&mut self, fields: &mut Vec<&'a str>) -> Option<usize> {
        let bytes = self.text.as_bytes();
        while bytes.get(self.at).is_some_and(|b| matches!(b, b'\n' | b'\r')) {
            self.at += 1;
        }
        if self.at >= bytes.len() {
            return None;
        }
        let start = self.at;
        fields.clear();
        loop {
            let end = next_delimiter(bytes, self.at);
            fields.push(&self.text[self.at..end]);
            self.at = end + 1;
            if bytes.get(end) != Some(&b',') {
                return Some(start);
            }
        }
    }
}

/// The index of the first comma or line break at or after `from`, or the length if there is
/// none. Eight bytes are tested at a time: task ids in real exports can be URLs, and a byte
/// at a time was barely faster than the csv crate.
fn next_delimiter(bytes: &[u8], from: usize) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGHS: u64 = ONES << 7;
    // The high bit of each byte of `word` equal to `byte`, and possibly of bytes above one:
    // the lowest bit set is always exact, which is all that is used.
    let equal = |word: u64, byte: u8| {
        let x = word ^ (ONES * u64::from(byte));
        x.wrapping_sub(ONES) & !x & HIGHS
    };
    let mut words = bytes[from..].chunks_exact(8);
    for (k, chunk) in (&mut words).enumerate() {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let found = equal(word, b',') | equal(word, b'\n') | equal(word, b'\r');
        if found != 0 {
            return from + 8 * k + (found.trailing_zeros() / 8) as usize;
        }
    }
    let rest = words.remainder();
    let at = bytes.len() - rest.len();
    rest.iter().position(|b| matches!(b, b',' | b'\n' | b'\r')).map_or(bytes.len(), |i| at + i)
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
            unequal_lengths(*expected_len, *len)
        }
        csv::ErrorKind::Utf8 { .. } => "the row is not valid UTF-8".to_owned(),
        _ => e.to_string(),
    };
    Error::Csv { line, message }
}

/// The message for a row whose number of fields differs from the header's.
fn unequal_lengths(expected: impl Display, found: impl Display) -> String {
    format!("expected {expected} fields like the header, found {found}")
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

    #[test]
    fn a_line_of_spaces_is_a_row_with_too_few_fields() {
        let err =
            read_labels("task,worker,label\r\nt,w,x\r\n  \r\n".as_bytes()).expect_err("spaces");
        assert_eq!(err.to_string(), "line 3: expected 3 fields like the header, found 1");
    }

    #[test]
    fn invalid_utf8_is_refused_on_its_line() {
        let text = b"\xef\xbb\xbftask,worker,label\r\nt,w,x\r\n\r\nt2,\xff,x\r\n";
        assert!(plain_text(text).is_none());
        let err = read_labels(&text[..]).expect_err("not UTF-8").to_string();
        assert_eq!(err, "line 4: the row is not valid UTF-8");
    }

    proptest::proptest! {
        #[test]
        fn trim_is_str_trim(field in "[ \t\u{b}\u{85}\u{a0}\u{3000}x\u{e9}]{0,4}") {
            proptest::prop_assert_eq!(trim(&field), field.trim());
        }
    }

    /// What [`for_each_row`] gives when the csv crate reads the input, quote or not.
    fn for_each_csv_row_only(
        text: &[u8],
        columns: &Columns,
        mut row: impl FnMut(&mut Lines<'_>, &[&str]) -> Result<()>,
    ) -> Result<()> {
        match for_each_csv_row(text, columns, &mut row)? {
            0 => Err(Error::NoRows),
            _ => Ok(()),
        }
    }

    /// [`read_labels_keeping`] with the csv crate reading the input.
    fn read_labels_by_csv_crate(text: &[u8], repeats: Repeats) -> Result<Dataset> {
        let mut rows = RawLabels::default();
        for_each_csv_row_only(text, &LABEL_COLUMNS, |_, f| {
            rows.push(f[0], f[1], f[2]);
            Ok(())
        })?;
        Ok(rows.into_dataset(repeats))
    }

    /// A dataset, or the error, spelled out for comparison.
    fn outcome(read: Result<Dataset>) -> String {
        match read {
            Ok(d) => format!(
                "{:?} {:?} {:?} {:?}",
                d.tasks().names(),
                d.workers().names(),
                d.classes(),
                d.labels()
            ),
            Err(e) => format!("{e:?}"),
        }
    }

    /// Every row handed over, with its line, and how reading ended.
    fn rows_seen(text: &[u8], columns: &Columns, csv_only: bool) -> String {
        let mut seen = Vec::new();
        let row = |line: &mut Lines<'_>, f: &[&str]| {
            seen.push((line.number(), f.iter().map(|s| s.to_string()).collect::<Vec<_>>()));
            Ok(())
        };
        let result = if csv_only {
            for_each_csv_row_only(text, columns, row)
        } else {
            for_each_row(text, columns, row)
        };
        format!("{result:?} after {seen:?}")
    }

    mod quote_free {
        //! Random quote-free CSV, read by the plain splitter where it can and always by the csv
        //! crate, must come out the same, errors and their lines included.

        use super::*;
        use proptest::prelude::*;

        /// Header names: every reader's columns and one nobody wants.
        const NAMES: [&str; 7] = ["task", "worker", "label", "left", "right", "truth", "note"];

        fn padding() -> impl Strategy<Value = &'static str> {
            prop_oneof![12 => Just(""), 2 => Just(" "), 1 => Just("\t"), 1 => Just("\u{b}")]
        }

        /// Mostly plain names, some padded or empty, now and then whitespace that is not
        /// ASCII or a byte that is not UTF-8.
        fn field() -> impl Strategy<Value = Vec<u8>> {
            let name =
                prop::sample::select(vec!["t1", "t2", "w1", "w2", "x", "y", "1", "é", "a b"]);
            prop_oneof![
                80 => name.clone().prop_map(|n| n.as_bytes().to_vec()),
                20 => (padding(), name, padding())
                    .prop_map(|(l, n, r)| [l, n, r].concat().into_bytes()),
                1 => Just(Vec::new()),
                1 => Just(b"  ".to_vec()),
                1 => Just("\u{a0}".as_bytes().to_vec()),
                1 => prop::sample::select(vec![&b"w\xff"[..], b"\xc3"]).prop_map(<[u8]>::to_vec),
            ]
        }

        /// Each name with probability 0.95, padded now and then, in any order.
        fn header() -> impl Strategy<Value = Vec<Vec<u8>>> {
            prop::collection::vec((prop::bool::weighted(0.95), padding(), padding()), NAMES.len())
                .prop_map(|picks| {
                    NAMES
                        .iter()
                        .zip(picks)
                        .filter(|(_, (keep, _, _))| *keep)
                        .map(|(name, (_, l, r))| [l, name, r].concat().into_bytes())
                        .collect::<Vec<_>>()
                })
                .prop_shuffle()
        }

        /// A line after the header: fields, usually as many as the header has.
        #[derive(Debug, Clone)]
        enum Line {
            Fields { more: i8, fields: Vec<Vec<u8>> },
            Empty,
            Spaces(&'static str),
        }

        fn spaces() -> impl Strategy<Value = Line> {
            prop::sample::select(vec![" ", "  ", "\t"]).prop_map(Line::Spaces)
        }

        fn line() -> impl Strategy<Value = Line> {
            let more = prop_oneof![60 => Just(0i8), 1 => Just(-1), 1 => Just(1), 1 => Just(-2)];
            prop_oneof![
                20 => (more, prop::collection::vec(field(), NAMES.len() + 1))
                    .prop_map(|(more, fields)| Line::Fields { more, fields }),
                1 => Just(Line::Empty),
                1 => spaces(),
            ]
        }

        fn line_break() -> impl Strategy<Value = &'static str> {
            prop_oneof![6 => Just("\n"), 3 => Just("\r\n"), 1 => Just("\r")]
        }

        /// A whole file: maybe a byte order mark, maybe blank lines before the header, maybe no
        /// header, up to six more lines, mixed line breaks, maybe none after the last line.
        fn quote_free_csv() -> impl Strategy<Value = Vec<u8>> {
            let blank = prop_oneof![9 => Just(Line::Empty), 1 => spaces()];
            (
                prop::bool::weighted(0.1),
                prop::collection::vec(blank, 0..2),
                prop::option::weighted(0.97, header()),
                prop::collection::vec(line(), 0..7),
                prop::collection::vec(line_break(), 10),
                any::<bool>(),
            )
                .prop_map(|(bom, leading, header, lines, breaks, last_break)| {
                    let width = header.as_ref().map_or(3, Vec::len) as i64;
                    let text = |line: Line| match line {
                        Line::Fields { more, fields } => {
                            let n = (width + i64::from(more)).clamp(1, fields.len() as i64);
                            fields[..n as usize].join(&b',')
                        }
                        Line::Empty => Vec::new(),
                        Line::Spaces(spaces) => spaces.as_bytes().to_vec(),
                    };
                    let mut all: Vec<Vec<u8>> = leading.into_iter().map(text).collect();
                    all.extend(header.map(|h| h.join(&b',')));
                    all.extend(lines.into_iter().map(text));
                    let mut out = if bom { "\u{feff}".as_bytes().to_vec() } else { Vec::new() };
                    for (i, line) in all.iter().enumerate() {
                        out.extend(line);
                        if i + 1 < all.len() || last_break {
                            out.extend(breaks[i].as_bytes());
                        }
                    }
                    out
                })
        }

        proptest! {
            // Cases are small and quick; more of them reach the rarer shapes, such as a
            // one-byte line or a lone carriage return.
            #![proptest_config(ProptestConfig::with_cases(1024))]

            #[test]
            fn labels_read_as_the_csv_crate_reads_them(text in quote_free_csv()) {
                // Otherwise both sides would be the csv crate.
                prop_assert_eq!(plain_text(&text).is_some(), std::str::from_utf8(&text).is_ok());
                for repeats in [Repeats::Last, Repeats::All] {
                    prop_assert_eq!(
                        outcome(read_labels_keeping(text.as_slice(), repeats)),
                        outcome(read_labels_by_csv_crate(&text, repeats))
                    );
                }
            }

            #[test]
            fn every_reader_gets_the_rows_and_lines_the_csv_crate_gives(text in quote_free_csv()) {
                for columns in [&LABEL_COLUMNS, &PAIRWISE_COLUMNS, &TRUTH_COLUMNS] {
                    prop_assert_eq!(
                        rows_seen(&text, columns, false),
                        rows_seen(&text, columns, true)
                    );
                }
            }
        }
    }
}
