//! The slashing test: is a labeler confidently below chance over its whole career? Each
//! experiment gives a permutation p-value for "below chance here", each p-value becomes an
//! e-value, and the e-values multiply over the career: a labeler is slashed once the product
//! reaches `1/δ`, which a labeler at chance or above does with probability at most δ however
//! many experiments it takes part in.
//!
//! **This experiment's p-value.** A labeler at chance answers without regard to the task in
//! front of it, gold or not, so its labels are exchangeable over all its tasks. Its labels are
//! rearranged over its regular and gold tasks together (over its gold tasks alone on
//! subjective questions, where only gold may slash) and each rearrangement is scored exactly
//! as settlement scores the real one; the p-value is the share of arrangements, its own
//! included, whose mean of every item alike is at most its own (ties count against slashing).
//! Draws stop at the [`HITS`]-th such arrangement (Besag and Clifford's sequential p-value,
//! `HITS / draws`), or after `ARRANGEMENTS − 1` draws (`(1 + hits) / ARRANGEMENTS`), so that
//! labelers near chance cost a few dozen rescorings and only those far below it the full
//! count. A labeler whose own mean is not below zero gets p = 1 without drawing: a larger
//! p-value is always a valid one.
//!
//! **The e-value.** `e = κ · p^(κ − 1)` with κ = [`KAPPA_PPM`]: for any p-value that is at
//! least uniform under the null, `E[e] ≤ ∫₀¹ κ·p^(κ−1) dp = 1`. Its natural log is kept at
//! scale 10^6, rounded down, so that the evidence is never overstated.
//!
//! **The career.** `slash_evidence` in the reputation is the sum of the logs. An experiment's
//! e-value counts unless the labeler's previous experiment had a mean above zero: that rule
//! depends only on the past, so the product stays a nonnegative supermartingale under the null
//! and Ville's inequality bounds the chance it ever reaches `1/δ` by δ, with no share of δ
//! spent per experiment. A careful labeler's record therefore does not pile up negative
//! evidence that would shield it if it later turned: only its first experiment, at p = 1,
//! costs `ln κ`.

use crate::Address;
use crate::fixed::{Ppm, SCALE, ln_inverse, ln_inverse_split, ln_ratio_floor};
use crate::reward_test::{generator_for, shuffle_values};
use crate::score::{Scorer, Tally};

/// Arrangements compared at most, the labeler's own included: the smallest p-value is 10^-4.
pub const ARRANGEMENTS: u64 = 10_000;

/// Rearrangements at most as low as the labeler's own after which drawing stops.
pub const HITS: u64 = 10;

/// The calibrator's κ in parts per million: `e = κ · p^(κ − 1)`. At 0.2 one experiment at the
/// smallest p-value gives ln e = ln 0.2 + 0.8 · ln 10^4 ≈ 5.76, above ln(2/δ) at δ = 0.01, and a
/// p-value of 0.01 gives e ≈ 8.
pub const KAPPA_PPM: u32 = 200_000;

/// The p-value in parts per million (rounded up) of labeler `i` (scored by `scorer`, address
/// `labeler`) for "below chance in this experiment", on its slashing evidence: every item, or
/// gold alone when `gold_only`.
pub(crate) fn p_value(scorer: &Scorer, i: usize, labeler: Address, gold_only: bool) -> u32 {
    let (regular, on_gold) = scorer.labels_of(i);
    let peers = scorer.peers(i);
    let statistic = |tally: Tally| if gold_only { tally.gold_only() } else { tally }.mean();
    let Some(own) = statistic(scorer.tally_of(&peers, regular, on_gold)) else {
        return SCALE as u32;
    };
    if own >= 0 {
        return SCALE as u32;
    }
    // One list of every label the test rearranges, regular ones first; split back to score.
    let split = if gold_only { 0 } else { regular.len() };
    let mut labels: Vec<(u32, u32)> =
        if gold_only { on_gold.to_vec() } else { [regular, on_gold].concat() };
    let mut rng = generator_for(b"plumbline/slash-test", labeler);
    let mut hits = 0;
    for draws in 1..ARRANGEMENTS {
        shuffle_values(&mut rng, &mut labels);
        let rearranged = if gold_only {
            scorer.tally_of(&peers, regular, &labels)
        } else {
            let (regular, on_gold) = labels.split_at(split);
            scorer.tally_of(&peers, regular, on_gold)
        };
        if statistic(rearranged).is_none_or(|m| m <= own) {
            hits += 1;
            if hits == HITS {
                return ppm_ceil(HITS, draws);
            }
        }
    }
    ppm_ceil(1 + hits, ARRANGEMENTS)
}

/// `num / den` in parts per million, rounded up.
fn ppm_ceil(num: u64, den: u64) -> u32 {
    (num * SCALE as u64).div_ceil(den).min(SCALE as u64) as u32
}

/// ln e at scale 10^6, rounded down, for a p-value in parts per million:
/// `ln κ + (1 − κ) · ln(1/p)`.
pub fn ln_e_value(p_ppm: u32) -> i64 {
    let p = u128::from(p_ppm.max(1));
    let kappa = u128::from(KAPPA_PPM);
    let scale = SCALE as u128;
    // ln(1/p) and ln(1/κ), each rounded the way that keeps ln e from being overstated.
    let ln_inverse_p = ln_ratio_floor(scale, p);
    let ln_inverse_kappa = ln_inverse(Ppm::new(KAPPA_PPM).expect("κ is a rate"));
    let gain = (scale - kappa) * u128::from(ln_inverse_p) / scale;
    i64::try_from(gain).expect("fits") - i64::try_from(ln_inverse_kappa).expect("fits")
}

/// The threshold the career's evidence must reach to slash: ln(2/δ), rounded up. Half of δ
/// goes to this test, the other half to the declared strata (see settlement).
pub fn ln_threshold(false_slash_rate: Ppm) -> i64 {
    i64::try_from(ln_inverse_split(false_slash_rate, 2)).expect("fits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_e_value_is_kappa_times_p_to_the_kappa_minus_one() {
        // p = 1: e = κ = 0.2, ln e = −1.609438.
        assert_eq!(ln_e_value(1_000_000), -1_609_438);
        // p = 10^-4: ln e = ln 0.2 + 0.8 · ln 10^4 = 5.7588344.
        assert_eq!(ln_e_value(100), 5_758_834);
        // p = 0.01: ln e = −1.6094379 + 0.8 · 4.6051702 = 2.0746982.
        assert_eq!(ln_e_value(10_000), 2_074_698);
        assert!(ln_e_value(100) > ln_threshold(Ppm::new(10_000).unwrap()));
    }

    #[test]
    fn p_values_round_up() {
        assert_eq!(ppm_ceil(HITS, 30), 333_334);
        assert_eq!(ppm_ceil(1, ARRANGEMENTS), 100);
        assert_eq!(ppm_ceil(20, 10), 1_000_000);
    }

    /// The calibrator's integral over a fine grid of p is at most 1: the e-value's mean under
    /// a uniform p-value, as the fixed-point logs compute it. (The grid starts at 10^-6 and
    /// so leaves out `∫₀^10^-6 κ·p^(κ−1) dp = 10^-1.2 ≈ 0.063` of the integral.)
    #[test]
    fn the_e_value_averages_at_most_one_over_uniform_p_values() {
        let steps = 1_000_000u32;
        let mean: f64 =
            (1..=steps).map(|p| (ln_e_value(p) as f64 / 1e6).exp()).sum::<f64>() / f64::from(steps);
        assert!(mean <= 1.0, "{mean}");
        assert!(mean > 0.93, "{mean}");
    }
}
