//! Lengths of time as people write them in specs and forms: `"90m"`, `"3d"`, `"1d12h"`. A
//! number followed by a unit (`s`, `m`, `h`, `d`), one or more times, largest unit first.
//! Stored and compared as whole seconds; written back in the same form.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A length of time in whole seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(u64);

/// The units, largest first, with their length in seconds.
const UNITS: [(char, u64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

/// The longest duration a spec may give: a year, far beyond any experiment.
pub const DURATION_MAX: Duration = Duration(365 * 86_400);

impl Duration {
    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Duration {
        Duration(secs)
    }

    /// Its length in seconds.
    pub const fn secs(self) -> u64 {
        self.0
    }
}

impl FromStr for Duration {
    type Err = String;

    fn from_str(text: &str) -> Result<Duration, String> {
        let bad = || {
            format!(
                "`{text}` is not a duration: write a number and a unit (s, m, h or d), \
                 for example \"90m\", \"3d\" or \"1d12h\""
            )
        };
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err(bad());
        }
        let mut total: u64 = 0;
        let mut smallest_so_far = u64::MAX;
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
            if digits == 0 {
                return Err(bad());
            }
            let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
            let unit = rest[digits..].chars().next().ok_or_else(bad)?;
            let &(_, length) = UNITS.iter().find(|(u, _)| *u == unit).ok_or_else(bad)?;
            // "1h1d" or "1h2h" is more likely a slip than a meaning.
            if length >= smallest_so_far {
                return Err(bad());
            }
            smallest_so_far = length;
            total =
                number.checked_mul(length).and_then(|s| total.checked_add(s)).ok_or_else(bad)?;
            rest = &rest[digits + unit.len_utf8()..];
        }
        Ok(Duration(total))
    }
}

impl fmt::Display for Duration {
    /// The shortest form, largest unit first: 129600 s is `1d12h`; zero is `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let mut left = self.0;
        for (unit, length) in UNITS {
            if left >= length {
                write!(f, "{}{unit}", left / length)?;
                left %= length;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them_and_print_back_the_same() {
        for (text, secs) in
            [("45s", 45), ("90m", 5_400), ("2h", 7_200), ("3d", 259_200), ("1d12h", 129_600)]
        {
            let duration: Duration = text.parse().unwrap();
            assert_eq!(duration.secs(), secs, "{text}");
        }
        assert_eq!(Duration::from_secs(129_600).to_string(), "1d12h");
        assert_eq!(Duration::from_secs(5_400).to_string(), "1h30m");
        assert_eq!(Duration::from_secs(0).to_string(), "0s");
        let json = serde_json::to_string(&Duration::from_secs(86_460)).unwrap();
        assert_eq!(json, "\"1d1m\"");
        assert_eq!(serde_json::from_str::<Duration>(&json).unwrap().secs(), 86_460);
    }

    #[test]
    fn anything_else_is_refused_with_an_example() {
        for text in ["", "3", "d", "3 days", "1h1d", "2h2h", "-1h", "1.5h", "99999999999999999999d"]
        {
            let e = text.parse::<Duration>().unwrap_err();
            assert!(e.contains("for example"), "{text}: {e}");
        }
    }
}
