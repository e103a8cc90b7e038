//! Label values of each question kind: validation, the byte encoding committed in Merkle leaves,
//! and the agreement function a(x, y) ∈ [0, 1] (fixed-point) that scoring uses.
//!
//! Encodings (the `bytes label` of a leaf `(uint64 task_index, bytes label)`):
//! - binary, choice, rating, pairwise: `abi.encode(int256(value))`, 32 bytes big-endian two's
//!   complement, so a contract can decode it with one `abi.decode`;
//! - ranking: one byte per position, the response index, best first;
//! - text: the UTF-8 bytes.

use crate::fixed::SCALE;
use crate::spec::QuestionKind;
use serde::{Deserialize, Serialize};

/// A label value. Binary and choice labels are option indices; rating and pairwise are signed
/// integers; a ranking lists response indices best first.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Label {
    /// Binary, choice, rating or pairwise value.
    Int(i64),
    /// Ranking: response indices, best first.
    Ranking(Vec<u8>),
    /// Free text.
    Text(String),
}

/// A label that does not fit its question.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    /// The value has the wrong shape for the kind (a string for a rating, say).
    #[error("a {kind} label must be {expected}")]
    WrongKind {
        /// The question kind.
        kind: &'static str,
        /// What such a label looks like.
        expected: &'static str,
    },
    /// The value is out of the kind's range.
    #[error("{0}")]
    OutOfRange(String),
    /// Encoded bytes do not decode to a label of the kind.
    #[error("label bytes do not encode a {0} label")]
    BadEncoding(&'static str),
}

fn expected_shape(kind: &QuestionKind) -> &'static str {
    match kind {
        QuestionKind::Binary { .. } => "0 or 1",
        QuestionKind::Choice { .. } => "an option index",
        QuestionKind::Rating { .. } => "an integer rating",
        QuestionKind::Pairwise { .. } => "an integer from -K to K",
        QuestionKind::Ranking { .. } => "an array of response indices, best first",
        QuestionKind::Text { .. } => "a string",
    }
}

impl Label {
    /// Checks that the label fits the question kind.
    pub fn validate(&self, kind: &QuestionKind) -> Result<(), LabelError> {
        let wrong = || LabelError::WrongKind { kind: kind.name(), expected: expected_shape(kind) };
        match (kind, self) {
            (QuestionKind::Binary { .. }, Label::Int(v)) => {
                if !(0..=1).contains(v) {
                    return Err(LabelError::OutOfRange(format!("binary label {v} is not 0 or 1")));
                }
            }
            (QuestionKind::Choice { options }, Label::Int(v)) => {
                if *v < 0 || *v as usize >= options.len() {
                    return Err(LabelError::OutOfRange(format!(
                        "choice label {v} is not an option index 0..{}",
                        options.len() - 1
                    )));
                }
            }
            (QuestionKind::Rating { min, max }, Label::Int(v)) => {
                if *v < i64::from(*min) || *v > i64::from(*max) {
                    return Err(LabelError::OutOfRange(format!(
                        "rating {v} is outside {min}..{max}"
                    )));
                }
            }
            (QuestionKind::Pairwise { strength_max, allow_tie }, Label::Int(v)) => {
                let k = i64::from(*strength_max);
                if *v < -k || *v > k {
                    return Err(LabelError::OutOfRange(format!(
                        "pairwise label {v} is outside -{k}..{k}"
                    )));
                }
                if *v == 0 && !allow_tie {
                    return Err(LabelError::OutOfRange("ties are not allowed".into()));
                }
            }
            (QuestionKind::Ranking { n }, Label::Ranking(order)) => {
                if !is_permutation(order, *n as usize) {
                    return Err(LabelError::OutOfRange(format!(
                        "ranking {order:?} is not a permutation of 0..{}",
                        n - 1
                    )));
                }
            }
            (QuestionKind::Text { length_max }, Label::Text(text)) => {
                if text.len() > *length_max as usize {
                    return Err(LabelError::OutOfRange(format!(
                        "text label of {} bytes is longer than {length_max}",
                        text.len()
                    )));
                }
            }
            _ => return Err(wrong()),
        }
        Ok(())
    }

    /// Reads a label from its JSON form and validates it.
    pub fn from_json(value: &serde_json::Value, kind: &QuestionKind) -> Result<Label, LabelError> {
        let wrong = || LabelError::WrongKind { kind: kind.name(), expected: expected_shape(kind) };
        let label = match kind {
            QuestionKind::Ranking { .. } => {
                let items = value.as_array().ok_or_else(wrong)?;
                let order = items
                    .iter()
                    .map(|v| v.as_u64().and_then(|i| u8::try_from(i).ok()).ok_or_else(wrong))
                    .collect::<Result<Vec<u8>, _>>()?;
                Label::Ranking(order)
            }
            QuestionKind::Text { .. } => Label::Text(value.as_str().ok_or_else(wrong)?.to_owned()),
            _ => Label::Int(value.as_i64().ok_or_else(wrong)?),
        };
        label.validate(kind)?;
        Ok(label)
    }

    /// The label's bytes as committed in a Merkle leaf.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Label::Int(v) => {
                let fill = if *v < 0 { 0xff } else { 0 };
                let mut word = vec![fill; 32];
                word[24..].copy_from_slice(&v.to_be_bytes());
                word
            }
            Label::Ranking(order) => order.clone(),
            Label::Text(text) => text.as_bytes().to_vec(),
        }
    }

    /// Decodes leaf bytes for a question kind and validates the result.
    pub fn decode(bytes: &[u8], kind: &QuestionKind) -> Result<Label, LabelError> {
        let bad = || LabelError::BadEncoding(kind.name());
        let label = match kind {
            QuestionKind::Ranking { .. } => Label::Ranking(bytes.to_vec()),
            QuestionKind::Text { .. } => {
                Label::Text(String::from_utf8(bytes.to_vec()).map_err(|_| bad())?)
            }
            _ => {
                if bytes.len() != 32 {
                    return Err(bad());
                }
                let value = i64::from_be_bytes(bytes[24..].try_into().expect("8 bytes"));
                let fill = if value < 0 { 0xff } else { 0 };
                if bytes[..24].iter().any(|b| *b != fill) {
                    return Err(bad());
                }
                Label::Int(value)
            }
        };
        label.validate(kind)?;
        Ok(label)
    }

    /// The label as the integer value of a numeric kind.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Label::Int(v) => Some(*v),
            _ => None,
        }
    }
}

fn is_permutation(order: &[u8], n: usize) -> bool {
    if order.len() != n {
        return false;
    }
    let mut seen = vec![false; n];
    order.iter().all(|&i| (i as usize) < n && !std::mem::replace(&mut seen[i as usize], true))
}

/// The agreement function of a question kind, a(x, y) at scale 10^6.
///
/// categorical `1[x = y]`; rating `1 − |x − y| / (max − min)`; pairwise `1 − |x − y| / 2K`;
/// ranking `(1 + Kendall τ) / 2`, the share of concordant pairs; text is never scored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Agreement {
    /// Equal or not (binary, choice).
    Categorical,
    /// Linear in the distance over a range (rating, pairwise).
    Linear {
        /// The widest distance, where agreement is 0.
        range: i64,
    },
    /// Share of concordant response pairs (ranking).
    Kendall,
    /// Not scored (text).
    Unscored,
}

impl Agreement {
    /// The agreement function of a kind.
    pub fn of(kind: &QuestionKind) -> Agreement {
        match kind {
            QuestionKind::Binary { .. } | QuestionKind::Choice { .. } => Agreement::Categorical,
            QuestionKind::Rating { min, max } => {
                Agreement::Linear { range: i64::from(*max) - i64::from(*min) }
            }
            QuestionKind::Pairwise { strength_max, .. } => {
                Agreement::Linear { range: 2 * i64::from(*strength_max) }
            }
            QuestionKind::Ranking { .. } => Agreement::Kendall,
            QuestionKind::Text { .. } => Agreement::Unscored,
        }
    }

    /// The mean a(x, y) of `label` with the other labels on its task, `on_task` being all of
    /// them, this one included; `None` when there is no other.
    pub fn with_others(&self, label: &Label, on_task: &[&Label]) -> Option<i64> {
        if on_task.len() < 2 {
            return None;
        }
        // The task's labels hold this one; the others are every label but one copy of it.
        let sum: i64 = on_task.iter().map(|y| self.between(label, y)).sum::<i64>()
            - self.between(label, label);
        Some(sum / (on_task.len() as i64 - 1))
    }

    /// a(x, y) at scale 10^6 for two labels of the kind (0 for unscored kinds).
    pub fn between(&self, x: &Label, y: &Label) -> i64 {
        match (self, x, y) {
            (Agreement::Categorical, Label::Int(a), Label::Int(b)) if a == b => SCALE,
            (Agreement::Linear { range }, Label::Int(a), Label::Int(b)) => {
                (range - (a - b).abs()).max(0) * SCALE / range
            }
            (Agreement::Kendall, Label::Ranking(a), Label::Ranking(b)) => kendall_agreement(a, b),
            _ => 0,
        }
    }
}

/// Share of response pairs that two rankings order the same way, at scale 10^6.
fn kendall_agreement(a: &[u8], b: &[u8]) -> i64 {
    let n = a.len().min(b.len());
    if n < 2 {
        return SCALE;
    }
    let mut position_in_b = vec![0usize; 256];
    for (pos, &item) in b.iter().enumerate() {
        position_in_b[item as usize] = pos;
    }
    let mut concordant = 0i64;
    for i in 0..n {
        for j in i + 1..n {
            // a ranks a[i] above a[j]; concordant when b does too.
            if position_in_b[a[i] as usize] < position_in_b[a[j] as usize] {
                concordant += 1;
            }
        }
    }
    let pairs = (n * (n - 1) / 2) as i64;
    concordant * SCALE / pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PAIRWISE: QuestionKind = QuestionKind::Pairwise { strength_max: 3, allow_tie: false };

    #[test]
    fn wrong_kind_and_range_are_named() {
        let e = Label::from_json(&json!("left"), &PAIRWISE).unwrap_err();
        assert_eq!(e.to_string(), "a pairwise label must be an integer from -K to K");
        let e = Label::from_json(&json!(4), &PAIRWISE).unwrap_err();
        assert!(e.to_string().contains("outside -3..3"), "{e}");
        assert!(Label::from_json(&json!(0), &PAIRWISE).is_err(), "ties are off");
        let ranking = QuestionKind::Ranking { n: 3 };
        assert!(Label::from_json(&json!([0, 0, 1]), &ranking).is_err());
        assert!(Label::from_json(&json!([2, 0, 1]), &ranking).is_ok());
    }

    #[test]
    fn encoding_round_trips_and_is_abi_int256() {
        for v in [-3i64, -1, 1, 3] {
            let label = Label::Int(v);
            let bytes = label.encode();
            assert_eq!(bytes.len(), 32);
            assert_eq!(Label::decode(&bytes, &PAIRWISE).unwrap(), label);
        }
        assert_eq!(Label::Int(-1).encode(), vec![0xff; 32]);
        let mut bad = Label::Int(1).encode();
        bad[0] = 1;
        assert!(Label::decode(&bad, &PAIRWISE).is_err());
    }

    #[test]
    fn agreement_functions_match_the_design() {
        let pairwise = Agreement::of(&PAIRWISE);
        assert_eq!(pairwise.between(&Label::Int(3), &Label::Int(3)), SCALE);
        assert_eq!(pairwise.between(&Label::Int(-3), &Label::Int(3)), 0);
        assert_eq!(pairwise.between(&Label::Int(1), &Label::Int(-2)), SCALE / 2);
        let kendall = Agreement::Kendall;
        let a = Label::Ranking(vec![0, 1, 2]);
        assert_eq!(kendall.between(&a, &a), SCALE);
        assert_eq!(kendall.between(&a, &Label::Ranking(vec![2, 1, 0])), 0);
        assert_eq!(kendall.between(&a, &Label::Ranking(vec![1, 0, 2])), 2 * SCALE / 3);
    }
}
