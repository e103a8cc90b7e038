//! Adaptive rounds: what the next round of an experiment asks, chosen from the labels revealed
//! so far. Every choice is a pure function of the revealed labels in integer arithmetic, so
//! `plumbline audit` reproduces it exactly.
//!
//! - [`overlap`]: dynamic overlap. Tasks start with a few labels; a task whose weighted vote is
//!   not yet confident gets one more label in the next round, up to a cap.
//! - [`best_of`]: the crowd's best of N responses, a knockout whose matches are sequential
//!   tests: a match takes votes round after round until the weighted evidence for one side
//!   reaches the confidence the experiment asks for.

pub mod best_of;
pub mod overlap;

use crate::fixed::ln_ratio_floor;

/// Tenths of the prior accuracy a labeler's weight shrinks towards (0.7).
const PRIOR_TENTHS: u64 = 7;
/// Pseudo-answers of that prior.
const PRIOR_ANSWERS: u64 = 4;
/// The highest accuracy a weight may assume, in hundredths (0.99): no labeler's vote outweighs
/// about five of a typical labeler's.
const ACCURACY_CAP_HUNDREDTHS: u128 = 99;

/// A labeler's vote weight: the log-odds (scale 10^6) that its answer is right among `classes`
/// options, `ln(p·(K−1)/(1−p))`, from how often it was right on `answered` pieces of evidence
/// (gold answers, or agreement with its peers). The accuracy `p` is shrunk towards 0.7 over four
/// pseudo-answers and capped at 0.99; a labeler at or below chance weighs nothing.
pub fn vote_weight(right: u64, answered: u64, classes: u32) -> u64 {
    vote_weight_toward(right, answered, classes, Prior::DEFAULT)
}

/// The accuracy a labeler's weight shrinks towards when its own evidence is thin: `right` of
/// `answered`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prior {
    /// Right answers behind the prior.
    pub right: u64,
    /// Answers behind the prior.
    pub answered: u64,
}

impl Prior {
    /// 0.7: a labeler about whom nothing is known yet.
    pub const DEFAULT: Prior = Prior { right: PRIOR_TENTHS, answered: 10 };
}

/// [`vote_weight`] shrunk towards `prior` instead of 0.7 (still over four pseudo-answers).
pub fn vote_weight_toward(right: u64, answered: u64, classes: u32, prior: Prior) -> u64 {
    assert!(right <= answered && classes >= 2, "right ≤ answered and at least two classes");
    assert!(prior.right <= prior.answered && prior.answered > 0, "a prior of some answers");
    // p = num / den exactly: (right + PRIOR_ANSWERS·q) / (answered + PRIOR_ANSWERS), q the
    // prior's accuracy.
    let num = u128::from(right) * u128::from(prior.answered)
        + u128::from(PRIOR_ANSWERS) * u128::from(prior.right);
    let den = u128::from(answered + PRIOR_ANSWERS) * u128::from(prior.answered);
    let others = u128::from(classes - 1);
    if num * u128::from(classes) <= den {
        return 0;
    }
    if 100 * num >= ACCURACY_CAP_HUNDREDTHS * den {
        return ln_ratio_floor(ACCURACY_CAP_HUNDREDTHS * others, 100 - ACCURACY_CAP_HUNDREDTHS);
    }
    ln_ratio_floor(num * others, den - num)
}

/// Checks that a rule's confidence is above one half and below one; `what` names the rule.
pub(crate) fn check_confidence(confidence: crate::fixed::Ppm, what: &str) -> Result<(), String> {
    let c = confidence.get();
    if c <= 500_000 || c >= 1_000_000 {
        return Err(format!(
            "{what} confidence must be above 0.5 and below 1, got {}",
            confidence.as_f64()
        ));
    }
    Ok(())
}

/// The evidence margin (log-odds, scale 10^6) that makes a weighted vote at least `confidence`
/// (parts per million, below one) sure of its leader among `classes` options:
/// `ln((K−1)·c/(1−c))`. With a margin `m` over every other option the leader's posterior is at
/// least `1/(1 + (K−1)·e^(−m))`.
pub fn margin_for(confidence: crate::fixed::Ppm, classes: u32) -> u64 {
    let c = u128::from(confidence.get());
    let scale = crate::fixed::SCALE as u128;
    assert!(c < scale && classes >= 2, "a confidence below one and at least two classes");
    let num = u128::from(classes - 1) * c;
    let den = scale - c;
    if num <= den { 0 } else { ln_ratio_floor(num, den) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::Ppm;

    #[test]
    fn weights_follow_accuracy_and_stop_at_chance_and_the_cap() {
        // No evidence: the prior 0.7 on two classes, ln(7/3) = 0.847298.
        assert_eq!(vote_weight(0, 0, 2), 847_297);
        // 16 of 16 right: p = (160+28)/200 = 0.94, ln(0.94/0.06) = 2.751535.
        assert_eq!(vote_weight(16, 16, 2), 2_751_535);
        // Far past the cap: ln(99) = 4.59512.
        assert_eq!(vote_weight(10_000, 10_000, 2), 4_595_119);
        // At chance and below: nothing.
        assert_eq!(vote_weight(3, 16, 2), 0);
        assert_eq!(vote_weight(0, 100, 4), 0);
        // Four classes: the same accuracy is stronger evidence, ln(0.7·3/0.3) = ln 7.
        assert_eq!(vote_weight(0, 0, 4), 1_945_910);
        assert!(vote_weight(8, 10, 2) > vote_weight(7, 10, 2));
    }

    #[test]
    fn margins_are_the_log_odds_of_the_confidence() {
        // ln(0.99/0.01) = 4.595120, ln(3·0.95/0.05) = ln 57 = 4.043051, both rounded down.
        assert_eq!(margin_for(Ppm::new(990_000).unwrap(), 2), 4_595_119);
        assert_eq!(margin_for(Ppm::new(950_000).unwrap(), 4), 4_043_051);
        assert_eq!(margin_for(Ppm::new(500_000).unwrap(), 2), 0);
    }
}
