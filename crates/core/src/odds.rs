//! A labeler's odds before it joins, for the join screen: how likely a labeler like it is to be
//! rewarded at this experiment's size. An estimate in floating point, never used to settle:
//! from the labeler's own record when it holds enough items (its items' mean and spread, put
//! through the normal approximation of the reward test at this experiment's item counts),
//! otherwise the share of
//! careful labelers the simulator saw rewarded at that many items (`bench/results/sizes.md`).

use crate::fixed::SCALE;
use crate::score::Tally;
use crate::spec::ExperimentSpec;
use serde::Serialize;

/// Fewest scored items in a record before the odds are read from it.
pub const RECORD_ITEMS_MIN: u64 = 30;

/// Careful labelers (Beta(8, 2) skill) rewarded in one experiment by scored items, as
/// `bash bench/sizes.sh` measured them in the `baseline` market (seeds from 1001).
const CAREFUL_REWARDED: [(u64, f64); 7] =
    [(10, 0.672), (20, 0.885), (50, 0.956), (100, 0.981), (150, 0.991), (250, 0.994), (500, 0.992)];

/// Where an estimate comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// The labeler's own record.
    Record,
    /// Careful labelers in simulation.
    CarefulLabelers,
}

/// The odds of being rewarded with a number of batches of an experiment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Odds {
    /// Batches taken.
    pub batches: u64,
    /// Scored items they hold.
    pub items: u64,
    /// The estimated probability of being rewarded, 0 to 1.
    pub rewarded: f64,
    /// Where it comes from.
    pub basis: Basis,
}

/// The odds of being rewarded with `batches` batches of an experiment of `spec`, for a labeler
/// with this `record` (its reputation's tally), if any.
pub fn odds(spec: &ExperimentSpec, batches: u64, record: Option<&Tally>) -> Odds {
    let peer_n = u64::from(spec.block_size) * batches;
    let gold_n = u64::from(spec.gold_per_batch) * batches;
    let items = peer_n + gold_n;
    match record.filter(|t| t.n() >= RECORD_ITEMS_MIN) {
        Some(record) => {
            let rewarded = from_record(record, peer_n, gold_n, spec.false_reward_rate.as_f64());
            Odds { batches, items, rewarded, basis: Basis::Record }
        }
        None => Odds { batches, items, rewarded: careful_at(items), basis: Basis::CarefulLabelers },
    }
}

/// The probability that a labeler whose items average and spread as in its record passes the
/// reward test on `peer_n` peer and `gold_n` gold items: its record scaled to those counts (a
/// part it has no record of counts as zero), and the normal approximation of the mean of that
/// many items, both for the labeler's own arrangement and for the rearrangements the reward
/// test compares it with (centred at zero, spread alike): it passes when its mean is `z(1 −
/// δ_reward)` standard errors above zero.
fn from_record(record: &Tally, peer_n: u64, gold_n: u64, false_reward_rate: f64) -> f64 {
    let scale = |sum: i64, n: u64, of: u64| -> i64 {
        if n == 0 { 0 } else { (i128::from(sum) * i128::from(of) / i128::from(n)) as i64 }
    };
    let squares = |sum: u64, n: u64, of: u64| -> u64 {
        if n == 0 { 0 } else { (u128::from(sum) * u128::from(of) / u128::from(n)) as u64 }
    };
    let expected = Tally {
        peer_sum: scale(record.peer_sum, record.peer_n, peer_n),
        peer_n,
        peer_squares: squares(record.peer_squares, record.peer_n, peer_n),
        gold_sum: scale(record.gold_sum, record.gold_n, gold_n),
        gold_n,
        gold_squares: squares(record.gold_squares, record.gold_n, gold_n),
    }
    .gold_capped_by_peers();
    let n = expected.n();
    let Some(mean) = expected.mean() else {
        return 0.0;
    };
    let scale = SCALE as f64;
    let mean = mean as f64 / scale;
    let second_moment = (expected.peer_squares + expected.gold_squares) as f64 / scale / n as f64;
    // At least a little spread, so that a record of identical items does not promise certainty.
    let variance = (second_moment - mean * mean).max(0.01) / n as f64;
    normal_cdf(mean / variance.sqrt() - normal_quantile(1.0 - false_reward_rate))
}

/// Φ⁻¹(p) for p in (0, 1), by bisection on `normal_cdf` (to about 10⁻⁹).
pub fn normal_quantile(p: f64) -> f64 {
    let (mut low, mut high) = (-10.0, 10.0);
    for _ in 0..64 {
        let middle = (low + high) / 2.0;
        if normal_cdf(middle) < p { low = middle } else { high = middle }
    }
    (low + high) / 2.0
}

/// Careful labelers rewarded at `items` scored items, interpolated between the measured sizes,
/// falling linearly to 0 below the smallest and level beyond the largest.
fn careful_at(items: u64) -> f64 {
    let (first, last) = (CAREFUL_REWARDED[0], CAREFUL_REWARDED[CAREFUL_REWARDED.len() - 1]);
    if items <= first.0 {
        return first.1 * items as f64 / first.0 as f64;
    }
    if items >= last.0 {
        return last.1;
    }
    let window = CAREFUL_REWARDED.windows(2).find(|w| items <= w[1].0).expect("inside the table");
    let ((a, pa), (b, pb)) = (window[0], window[1]);
    pa + (pb - pa) * (items - a) as f64 / (b - a) as f64
}

/// Φ(x), the standard normal distribution function (Abramowitz and Stegun 7.1.26, error below
/// 1.5·10⁻⁷).
fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-z * z).exp();
    if x >= 0.0 { 0.5 * (1.0 + erf) } else { 0.5 * (1.0 - erf) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::binary_spec;

    /// A record of `n` peer and `n / 4` gold items averaging `mean` with items of ±`size`.
    fn record(n: u64, mean: f64, size: f64) -> Tally {
        let gold_n = n / 4;
        let square = (size * size * SCALE as f64) as u64;
        Tally {
            peer_sum: (mean * n as f64 * SCALE as f64) as i64,
            peer_n: n,
            peer_squares: square * n,
            gold_sum: (mean * gold_n as f64 * SCALE as f64) as i64,
            gold_n,
            gold_squares: square * gold_n,
        }
    }

    #[test]
    fn the_normal_distribution_function_is_right_to_six_places() {
        for (x, expected) in
            [(0.0, 0.5), (1.0, 0.841_344_7), (-1.959_964, 0.025), (3.0, 0.998_650_1)]
        {
            assert!((normal_cdf(x) - expected).abs() < 1e-6, "Φ({x})");
        }
        assert!((normal_quantile(0.8) - 0.841_621).abs() < 1e-5);
        assert!((normal_quantile(0.025) + 1.959_964).abs() < 1e-5);
    }

    #[test]
    fn without_a_record_the_odds_are_careful_labelers_in_simulation() {
        let spec = binary_spec(40, 5, 0);
        let one = odds(&spec, 1, None);
        assert_eq!(
            (one.items, one.basis),
            (u64::from(spec.block_size + spec.gold_per_batch), Basis::CarefulLabelers)
        );
        assert_eq!(careful_at(50), 0.956);
        assert!((careful_at(75) - 0.9685).abs() < 1e-9);
        assert_eq!(careful_at(10_000), 0.992);
        assert!(careful_at(5) < careful_at(10) && careful_at(10) < careful_at(20));
        // A short record is no basis.
        assert_eq!(odds(&spec, 1, Some(&record(8, 0.3, 0.6))).basis, Basis::CarefulLabelers);
    }

    #[test]
    fn odds_from_a_record_grow_with_the_items_and_with_skill() {
        let spec = binary_spec(40, 5, 10);
        let careful = record(400, 0.25, 0.6);
        let at = |batches, record: &Tally| odds(&spec, batches, Some(record)).rewarded;
        assert_eq!(odds(&spec, 1, Some(&careful)).basis, Basis::Record);
        assert!(at(1, &careful) < at(3, &careful) && at(3, &careful) < at(10, &careful));
        assert!(at(10, &careful) > 0.99, "{}", at(10, &careful));
        let weak = record(400, 0.05, 0.6);
        assert!(at(3, &weak) < at(3, &careful));
        // At chance the test passes by luck at its false reward rate; below, never.
        assert!((at(10, &record(400, 0.0, 0.6)) - 0.2).abs() < 1e-6);
        assert!(at(10, &record(400, -0.2, 0.6)) < 1e-6);
    }
}
