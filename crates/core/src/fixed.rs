//! Fixed-point arithmetic for settlement. Everything is an integer so that any auditor, in any
//! language, recomputes the same bytes: scores use scale 10^6, and the few irrational values the
//! bounds need (square roots, ln(1/δ)) are computed with integer algorithms.

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// Scale of fixed-point scores and fractions: 1.0 is `SCALE`.
pub const SCALE: i64 = 1_000_000;

/// A fraction in [0, 1] held exactly in parts per million. Specs write it as a decimal number
/// (`0.01`); a value finer than 10^-6 is rejected rather than silently rounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ppm(u32);

impl Ppm {
    /// One whole: 1.0.
    pub const ONE: Ppm = Ppm(SCALE as u32);

    /// A fraction from parts per million; `None` above one.
    pub const fn new(ppm: u32) -> Option<Ppm> {
        if ppm as i64 > SCALE { None } else { Some(Ppm(ppm)) }
    }

    /// The fraction in parts per million.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// Converts a decimal number exactly, or explains why it cannot be held.
    pub fn from_f64(value: f64) -> Result<Ppm, String> {
        if !value.is_finite() || !(0.0..=1.0).contains(&value) {
            return Err(format!("{value} is not a fraction between 0 and 1"));
        }
        let scaled = value * SCALE as f64;
        let rounded = scaled.round();
        if (scaled - rounded).abs() > 1e-6 {
            return Err(format!("{value} is finer than one part per million"));
        }
        Ok(Ppm(rounded as u32))
    }

    /// The fraction as a decimal number, for display and the spec's JSON form.
    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / SCALE as f64
    }
}

impl Serialize for Ppm {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.as_f64())
    }
}

impl<'de> Deserialize<'de> for Ppm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Ppm, D::Error> {
        let value = f64::deserialize(deserializer)?;
        Ppm::from_f64(value).map_err(de::Error::custom)
    }
}

/// Integer square root: the largest `r` with `r * r <= n`.
pub fn isqrt(n: u128) -> u128 {
    if n < 2 {
        return n;
    }
    // Newton's method from an over-estimate decreases monotonically to the floor root.
    let mut x = 1u128 << (128 - n.leading_zeros()).div_ceil(2);
    loop {
        let y = (x + n / x) / 2;
        if y >= x {
            return x;
        }
        x = y;
    }
}

/// The smallest `r` with `r * r >= n`.
pub fn isqrt_ceil(n: u128) -> u128 {
    let r = isqrt(n);
    if r * r == n { r } else { r + 1 }
}

const WAD: u128 = 1_000_000_000_000_000_000;
const LN2_WAD: u128 = 693_147_180_559_945_309;

/// ln(1/δ) at scale 10^6 for δ in parts per million (0 < δ ≤ 1), rounded up so that a bound
/// built from it is never narrower than the exact one.
pub fn ln_inverse(delta: Ppm) -> u64 {
    assert!(delta.get() > 0, "ln(1/δ) needs δ > 0");
    ln_ratio_ceil(SCALE as u128, u128::from(delta.get()))
}

/// ln(1/δ) at scale 10^6 for δ = `delta / divisor` (a rate split among tests or over time),
/// rounded up; `divisor` ≥ 1.
pub fn ln_inverse_split(delta: Ppm, divisor: u64) -> u64 {
    assert!(delta.get() > 0 && divisor > 0, "ln(1/δ) needs δ > 0");
    ln_ratio_ceil(SCALE as u128 * u128::from(divisor), u128::from(delta.get()))
}

/// ln(num/den) at scale 10^6 for num ≥ den > 0 (num below 10^20), rounded down: where a
/// logarithm is evidence, which must never be overstated.
pub fn ln_ratio_floor(num: u128, den: u128) -> u64 {
    // The series' truncations are far below 10^-6, so the rounded-up value less one is
    // at most the exact one.
    ln_ratio_ceil(num, den).saturating_sub(1)
}

/// ln(num/den) at scale 10^6 for num ≥ den > 0 (num below 10^20), rounded up.
pub fn ln_ratio_ceil(num: u128, den: u128) -> u64 {
    assert!(num >= den && den > 0 && num < 100_000_000_000_000_000_000, "ln of a ratio ≥ 1");
    // x = num/den at scale 10^18, reduced to y in [1, 2) times 2^k.
    let mut y = WAD * num / den;
    let mut k = 0u128;
    while y >= 2 * WAD {
        y /= 2;
        k += 1;
    }
    // ln(y) = 2·atanh(z) with z = (y − 1)/(y + 1) < 1/3, a fast-converging odd series.
    let z = (y - WAD) * WAD / (y + WAD);
    let z2 = z * z / WAD;
    let mut power = z;
    let mut series = 0u128;
    let mut odd = 1u128;
    while power > 0 {
        series += power / odd;
        power = power * z2 / WAD;
        odd += 2;
    }
    let ln_wad = k * LN2_WAD + 2 * series;
    // Scale 10^18 to 10^6, rounding up; the series' truncations are far below 10^-6.
    let per_unit = WAD / SCALE as u128;
    u64::try_from(ln_wad.div_ceil(per_unit)).expect("ln fits u64")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isqrt_is_exact_on_squares_and_floors_between() {
        for n in 0u128..10_000 {
            let r = isqrt(n);
            assert!(r * r <= n && (r + 1) * (r + 1) > n, "n = {n}");
            let c = isqrt_ceil(n);
            assert!(c * c >= n && (c == 0 || (c - 1) * (c - 1) < n), "n = {n}");
        }
        let big = u128::from(u64::MAX);
        assert_eq!(isqrt(big * big), big);
    }

    #[test]
    fn ln_inverse_matches_known_values() {
        // ln(100) = 4.605170..., ln(20) = 2.995732..., ln(1) = 0, ln(10^6) = 13.815510...
        assert_eq!(ln_inverse(Ppm::new(10_000).unwrap()), 4_605_171);
        assert_eq!(ln_inverse(Ppm::new(50_000).unwrap()), 2_995_733);
        assert_eq!(ln_inverse(Ppm::ONE), 0);
        assert_eq!(ln_inverse(Ppm::new(1).unwrap()), 13_815_511);
        // ln(100 · 6) = 6.396929..., ln(10^6 · 10^12) = 41.446531...
        assert_eq!(ln_inverse_split(Ppm::new(10_000).unwrap(), 6), 6_396_930);
        assert_eq!(ln_inverse_split(Ppm::new(1).unwrap(), 1_000_000_000_000), 41_446_532);
    }

    #[test]
    fn ppm_rejects_values_it_cannot_hold() {
        assert_eq!(Ppm::from_f64(0.01).unwrap().get(), 10_000);
        assert!(Ppm::from_f64(1.5).is_err());
        assert!(Ppm::from_f64(-0.1).is_err());
        assert!(Ppm::from_f64(0.000_000_1).is_err());
        assert!(Ppm::from_f64(f64::NAN).is_err());
    }
}
