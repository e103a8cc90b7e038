//! Serde for money: amounts travel as decimal strings, because JSON numbers lose precision past
//! 2^53 in most clients. Plain integers are accepted on input for convenience.

use serde::{Deserialize, Deserializer, Serializer, de};

/// Serializes an amount as a decimal string.
pub fn serialize<S: Serializer>(amount: &u128, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(amount)
}

/// Deserializes an amount from a decimal string or a non-negative integer.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u128, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Text(String),
        Int(u64),
    }
    match Repr::deserialize(deserializer)? {
        Repr::Int(value) => Ok(u128::from(value)),
        Repr::Text(text) => parse(&text).map_err(de::Error::custom),
    }
}

/// Parses a decimal amount of base units: digits only, no sign, no decimal point.
pub fn parse(text: &str) -> Result<u128, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("amount {text:?} is not a decimal integer of base units"));
    }
    text.parse::<u128>().map_err(|_| format!("amount {text:?} is too large"))
}
