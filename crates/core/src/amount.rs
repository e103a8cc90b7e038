//! Serde for money: amounts travel as decimal strings, because JSON numbers lose precision past
//! 2^53 in most clients. Plain integers are accepted on input for convenience.

use serde::{Deserializer, Serializer, de};

/// Serializes an amount as a decimal string.
pub fn serialize<S: Serializer>(amount: &u128, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(amount)
}

/// Deserializes an amount from a decimal string or a non-negative integer. A negative or
/// fractional number is refused with what is wrong with it.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u128, D::Error> {
    deserializer.deserialize_any(AmountVisitor)
}

struct AmountVisitor;

impl de::Visitor<'_> for AmountVisitor {
    type Value = u128;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an amount of base units: a whole number, 0 or more, or a string of its digits")
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<u128, E> {
        Ok(u128::from(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<u128, E> {
        u128::try_from(value).map_err(|_| {
            E::custom(format!("amount {value} is negative: amounts are base units, 0 or more"))
        })
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<u128, E> {
        Err(E::custom(format!("amount {value} is not a whole number of base units")))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<u128, E> {
        parse(text).map_err(E::custom)
    }
}

/// Parses a decimal amount of base units: digits only, no sign, no decimal point.
pub fn parse(text: &str) -> Result<u128, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("amount {text:?} is not a decimal integer of base units"));
    }
    text.parse::<u128>().map_err(|_| format!("amount {text:?} is too large"))
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize, Debug)]
    struct Money {
        #[serde(with = "super")]
        amount: u128,
    }

    fn json(text: &str) -> Result<u128, String> {
        serde_json::from_str::<Money>(text).map(|m| m.amount).map_err(|e| e.to_string())
    }

    #[test]
    fn amounts_read_from_integers_and_digit_strings_and_say_what_is_wrong_otherwise() {
        assert_eq!(json(r#"{"amount": 5}"#), Ok(5));
        assert_eq!(json(r#"{"amount": "340282366920938463463374607431768211455"}"#), Ok(u128::MAX));
        let negative = json(r#"{"amount": -5}"#).unwrap_err();
        assert!(negative.contains("amount -5 is negative"), "{negative}");
        let fraction = json(r#"{"amount": 1.5}"#).unwrap_err();
        assert!(fraction.contains("amount 1.5 is not a whole number"), "{fraction}");
        let text = json(r#"{"amount": "1e6"}"#).unwrap_err();
        assert!(text.contains("not a decimal integer"), "{text}");
        let other = json(r#"{"amount": true}"#).unwrap_err();
        assert!(other.contains("an amount of base units"), "{other}");
        let toml: Result<Money, _> = toml::from_str("amount = -5");
        assert!(toml.unwrap_err().to_string().contains("amount -5 is negative"));
    }
}
