//! Recalibration: a temperature and a uniform floor that turn a model's posteriors into
//! calibrated probabilities, fitted on tasks whose answer is known (gold).
//!
//! Dawid-Skene and its kin multiply many likelihood ratios as if labels were independent
//! given the truth; real labels are not (hard tasks fool many workers at once), so their
//! posteriors sit near 0 or 1 far more often than they are that sure. Raising every posterior
//! to the power `1/T` and renormalising (`T > 1` softens), then mixing in the uniform
//! distribution, keeps each task's ranking of classes and so its label; both numbers are
//! chosen to maximise the likelihood of the known answers.

use crate::Categorical;

/// Posteriors raised to `1/t` and renormalised.
pub fn temper(probs: &[f64], t: f64) -> Vec<f64> {
    let logs: Vec<f64> = probs.iter().map(|p| p.max(FLOOR).ln() / t).collect();
    let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = logs.iter().map(|l| (l - top).exp()).collect();
    let total: f64 = weights.iter().sum();
    weights.iter().map(|w| w / total).collect()
}

/// The fewest known answers a recalibration is fitted on.
pub const KNOWN_MIN: usize = 10;

/// How a model's posteriors are recalibrated: raised to `1/temperature` and renormalised,
/// then mixed with the uniform distribution at weight `floor`, so that no answer is surer
/// than the known answers show any answer to be.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Recalibration {
    /// The temperature (1 leaves the posteriors as they are).
    pub temperature: f64,
    /// The weight of the uniform distribution, in `[0, 1/2]`.
    pub floor: f64,
}

impl Recalibration {
    /// The posteriors as they are.
    pub const NONE: Recalibration = Recalibration { temperature: 1.0, floor: 0.0 };

    /// `probs` recalibrated.
    pub fn apply(&self, probs: &[f64]) -> Vec<f64> {
        let uniform = 1.0 / probs.len().max(1) as f64;
        temper(probs, self.temperature)
            .into_iter()
            .map(|p| (1.0 - self.floor) * p + self.floor * uniform)
            .collect()
    }
}

/// The recalibration that maximises the likelihood of the known answers, each `(posterior
/// over classes, index of the known class)`: the temperature within `[1/20, 20]` for each
/// floor on a grid of hundredths up to 1/2. A temperature alone cannot mend a model that is
/// sure and wrong on a few tasks (the likelihood then softens every answer to pay for those);
/// the floor takes those, and the temperature the spread of the rest. With fewer than
/// [`KNOWN_MIN`] known answers, nothing changes.
pub fn fit_recalibration<'a>(known: impl IntoIterator<Item = (&'a [f64], usize)>) -> Recalibration {
    // The logs of each posterior, taken once: the search evaluates the loss thousands of times.
    let known: Vec<(Vec<f64>, usize)> = known
        .into_iter()
        .map(|(probs, answer)| (probs.iter().map(|p| p.max(FLOOR).ln()).collect(), answer))
        .collect();
    if known.len() < KNOWN_MIN {
        return Recalibration::NONE;
    }
    // The negative log-likelihood of the known answers, as `Recalibration::apply` would give
    // them, without building the recalibrated vectors.
    let loss = |r: Recalibration| -> f64 {
        known
            .iter()
            .map(|(logs, answer)| {
                let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let total: f64 = logs.iter().map(|l| ((l - top) / r.temperature).exp()).sum();
                let tempered = ((logs[*answer] - top) / r.temperature).exp() / total;
                let p = (1.0 - r.floor) * tempered + r.floor / logs.len() as f64;
                -p.max(FLOOR).ln()
            })
            .sum()
    };
    let mut best = (loss(Recalibration::NONE), Recalibration::NONE);
    for step in 0..=50 {
        let floor = f64::from(step) / 100.0;
        let temperature =
            golden_section(|log_t| loss(Recalibration { temperature: log_t.exp(), floor })).exp();
        let candidate = Recalibration { temperature, floor };
        let value = loss(candidate);
        if value < best.0 {
            best = (value, candidate);
        }
    }
    best.1
}

/// The minimum of a unimodal function of log T over `[ln 1/20, ln 20]`.
fn golden_section(f: impl Fn(f64) -> f64) -> f64 {
    let (mut lo, mut hi) = ((1.0f64 / 20.0).ln(), 20.0f64.ln());
    let ratio = (5.0f64.sqrt() - 1.0) / 2.0;
    let mut a = hi - ratio * (hi - lo);
    let mut b = lo + ratio * (hi - lo);
    let (mut fa, mut fb) = (f(a), f(b));
    for _ in 0..50 {
        if fa <= fb {
            hi = b;
            b = a;
            fb = fa;
            a = hi - ratio * (hi - lo);
            fa = f(a);
        } else {
            lo = a;
            a = b;
            fa = fb;
            b = lo + ratio * (hi - lo);
            fb = f(b);
        }
    }
    (lo + hi) / 2.0
}

/// The recalibration fitted on the tasks whose class is known (`known[t]`), and per task the
/// probability of the model's label after it: the confidence to report.
pub fn calibrated_confidence(
    model: &Categorical,
    known: &[Option<u32>],
) -> (Recalibration, Vec<f64>) {
    let pairs = (0..model.n_tasks())
        .filter_map(|t| known.get(t).copied().flatten().map(|c| (model.task_probs(t), c as usize)));
    let recalibration = fit_recalibration(pairs);
    let confidence = (0..model.n_tasks())
        .map(|task| recalibration.apply(model.task_probs(task))[model.labels[task] as usize])
        .collect();
    (recalibration, confidence)
}

/// The floor under probabilities before taking logs.
const FLOOR: f64 = 1e-12;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tempering_keeps_the_order_and_softens_above_one() {
        let p = [0.98, 0.02];
        let soft = temper(&p, 2.0);
        assert!(soft[0] > soft[1] && soft[0] < 0.98);
        assert!((soft.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((temper(&p, 1.0)[0] - 0.98).abs() < 1e-12);
    }

    #[test]
    fn an_overconfident_model_is_brought_to_its_accuracy() {
        // Always 99% sure, right four times in five: the fitted temperature brings the
        // confidence down to about 0.8.
        let probs = [0.99, 0.01];
        let known: Vec<(&[f64], usize)> =
            (0..100).map(|i| (&probs[..], usize::from(i % 5 == 0))).collect();
        let r = fit_recalibration(known);
        let calibrated = r.apply(&probs)[0];
        assert!((calibrated - 0.8).abs() < 0.01, "{r:?}: {calibrated}");
        let few = vec![(&probs[..], 0); KNOWN_MIN - 1];
        assert_eq!(fit_recalibration(few), Recalibration::NONE);
    }
}
