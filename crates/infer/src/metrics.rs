//! Agreement and accuracy metrics.
//!
//! Accuracy-style metrics take predictions for every task and a truth that may be missing for
//! some (`None`); they score only tasks with a truth and return `None` when there are none.
//! Agreement metrics return `None` when they are undefined (no pairable data, or no variation
//! at all, where chance agreement is total).

use crate::{Dataset, NumericDataset};

/// The share of tasks with a truth whose prediction equals it.
pub fn accuracy<T: PartialEq>(predicted: &[T], truth: &[Option<T>]) -> Option<f64> {
    let (mut right, mut scored) = (0usize, 0usize);
    for (p, t) in predicted.iter().zip(truth) {
        if let Some(t) = t {
            scored += 1;
            right += usize::from(p == t);
        }
    }
    (scored > 0).then(|| right as f64 / scored as f64)
}

/// Macro-averaged F1: the unweighted mean over classes of `2 TP / (2 TP + FP + FN)`, over the
/// classes that occur in the truth or the predictions of scored tasks (as scikit-learn does).
pub fn f1_macro(predicted: &[u32], truth: &[Option<u32>]) -> Option<f64> {
    let n =
        predicted.iter().zip(truth).filter_map(|(p, t)| t.map(|t| t.max(*p) as usize + 1)).max()?;
    let (mut tp, mut fp, mut fn_) = (vec![0usize; n], vec![0usize; n], vec![0usize; n]);
    for (&p, t) in predicted.iter().zip(truth) {
        let Some(t) = *t else { continue };
        if p == t {
            tp[p as usize] += 1;
        } else {
            fp[p as usize] += 1;
            fn_[t as usize] += 1;
        }
    }
    let mut total = 0.0;
    let mut classes = 0usize;
    for c in 0..n {
        let support = 2 * tp[c] + fp[c] + fn_[c];
        if support > 0 {
            total += 2.0 * tp[c] as f64 / support as f64;
            classes += 1;
        }
    }
    Some(total / classes as f64)
}

/// One bin of a reliability diagram: predictions whose confidence fell in `[lower, upper)`
/// (the last bin includes 1).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct CalibrationBin {
    /// The bin's lower edge.
    pub lower: f64,
    /// The bin's upper edge.
    pub upper: f64,
    /// Predictions in the bin.
    pub n: usize,
    /// Their mean confidence.
    pub confidence: f64,
    /// The share of them that were right.
    pub accuracy: f64,
}

/// How well confidences match accuracy.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Calibration {
    /// Expected calibration error: `Σ (n_b / n) · |accuracy_b − confidence_b|` over the bins.
    pub ece: f64,
    /// The non-empty bins, in order.
    pub bins: Vec<CalibrationBin>,
}

/// Calibration of `(confidence, right)` predictions over `bins` equal-width bins of [0, 1];
/// `None` without predictions.
pub fn calibration(predictions: &[(f64, bool)], bins: usize) -> Option<Calibration> {
    if predictions.is_empty() || bins == 0 {
        return None;
    }
    let mut sums = vec![(0usize, 0.0, 0usize); bins];
    for &(confidence, right) in predictions {
        let b = ((confidence.clamp(0.0, 1.0) * bins as f64) as usize).min(bins - 1);
        sums[b].0 += 1;
        sums[b].1 += confidence;
        sums[b].2 += usize::from(right);
    }
    let total = predictions.len() as f64;
    let mut ece = 0.0;
    let mut out = Vec::new();
    for (b, &(n, confidence_sum, right)) in sums.iter().enumerate() {
        if n == 0 {
            continue;
        }
        let confidence = confidence_sum / n as f64;
        let accuracy = right as f64 / n as f64;
        ece += n as f64 / total * (accuracy - confidence).abs();
        let width = 1.0 / bins as f64;
        out.push(CalibrationBin {
            lower: b as f64 * width,
            upper: (b + 1) as f64 * width,
            n,
            confidence,
            accuracy,
        });
    }
    Some(Calibration { ece, bins: out })
}

/// Mean absolute error over tasks with a truth.
pub fn mae(predicted: &[f64], truth: &[Option<f64>]) -> Option<f64> {
    mean_of(predicted, truth, |d| d.abs())
}

/// Root mean squared error over tasks with a truth.
pub fn rmse(predicted: &[f64], truth: &[Option<f64>]) -> Option<f64> {
    mean_of(predicted, truth, |d| d * d).map(f64::sqrt)
}

fn mean_of(predicted: &[f64], truth: &[Option<f64>], f: impl Fn(f64) -> f64) -> Option<f64> {
    let (mut total, mut scored) = (0.0, 0usize);
    for (p, t) in predicted.iter().zip(truth) {
        if let Some(t) = t {
            total += f(p - t);
            scored += 1;
        }
    }
    (scored > 0).then(|| total / scored as f64)
}

/// The level of measurement for Krippendorff's alpha, which fixes the distance between values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Values are unordered categories; any two different values are equally far apart.
    Nominal,
    /// Values are ordered; the distance between two values grows with how many observations
    /// fall between them, so only the order of values matters.
    Ordinal,
    /// Values are numbers on an interval scale; the distance is the squared difference.
    Interval,
}

/// Krippendorff's alpha over units of coding, each given as the values assigned to it
/// (missing values simply left out).
///
/// Units with fewer than two values cannot be paired and are ignored, as the method
/// prescribes. `alpha = 1 - D_o / D_e`: 1 is perfect agreement, 0 agreement at chance.
/// Computed from the coincidence matrix as in Krippendorff, "Computing Krippendorff's
/// alpha-reliability" (2011).
pub fn krippendorff_alpha(units: &[Vec<f64>], level: Level) -> Option<f64> {
    // Distinct values in order, and how often each occurs in pairable units (n_c).
    let mut values: Vec<f64> =
        units.iter().filter(|u| u.len() >= 2).flat_map(|u| u.iter().copied()).collect();
    let n_total = values.len();
    if n_total < 2 {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    values.dedup();
    let index = |x: f64| values.partition_point(|v| v.total_cmp(&x).is_lt());
    let mut n_c = vec![0.0; values.len()];
    for u in units.iter().filter(|u| u.len() >= 2) {
        for &x in u {
            n_c[index(x)] += 1.0;
        }
    }
    // Ordinal distances need cumulative counts: the sum of n_g for g between c and k.
    let mut cumulative = Vec::with_capacity(values.len() + 1);
    cumulative.push(0.0);
    for n in &n_c {
        cumulative.push(cumulative.last().copied().unwrap_or(0.0) + n);
    }
    let distance = |c: usize, k: usize| -> f64 {
        match level {
            Level::Nominal => f64::from(u8::from(c != k)),
            Level::Interval => (values[c] - values[k]).powi(2),
            Level::Ordinal => {
                let (lo, hi) = if c <= k { (c, k) } else { (k, c) };
                let between = cumulative[hi + 1] - cumulative[lo] - (n_c[lo] + n_c[hi]) / 2.0;
                between * between
            }
        }
    };
    // Observed disagreement: every ordered pair of values within a unit, weighted 1/(m_u - 1).
    let mut observed = 0.0;
    let mut idx = Vec::new();
    for u in units.iter().filter(|u| u.len() >= 2) {
        idx.clear();
        idx.extend(u.iter().map(|&x| index(x)));
        let mut unit = 0.0;
        for (i, &a) in idx.iter().enumerate() {
            for &b in &idx[i + 1..] {
                unit += 2.0 * distance(a, b);
            }
        }
        observed += unit / (u.len() - 1) as f64;
    }
    // Expected disagreement from the pooled value frequencies.
    let n = n_total as f64;
    let expected = match level {
        Level::Nominal => n * n - n_c.iter().map(|x| x * x).sum::<f64>(),
        Level::Interval => {
            let s1: f64 = values.iter().zip(&n_c).map(|(v, c)| v * c).sum();
            let s2: f64 = values.iter().zip(&n_c).map(|(v, c)| v * v * c).sum();
            2.0 * (n * s2 - s1 * s1)
        }
        Level::Ordinal => {
            let mut total = 0.0;
            for c in 0..values.len() {
                for k in c + 1..values.len() {
                    total += 2.0 * n_c[c] * n_c[k] * distance(c, k);
                }
            }
            total
        }
    };
    if expected <= 0.0 {
        return None;
    }
    Some(1.0 - (n - 1.0) * observed / expected)
}

/// Nominal Krippendorff's alpha of a categorical dataset, each task a unit.
pub fn dataset_alpha(data: &Dataset) -> Option<f64> {
    let units: Vec<Vec<f64>> = (0..data.n_tasks())
        .map(|t| data.task_labels(t).iter().map(|l| f64::from(l.class)).collect())
        .collect();
    krippendorff_alpha(&units, Level::Nominal)
}

/// Krippendorff's alpha of a numeric dataset at the given level, each task a unit.
pub fn numeric_dataset_alpha(data: &NumericDataset, level: Level) -> Option<f64> {
    let units: Vec<Vec<f64>> = (0..data.n_tasks())
        .map(|t| data.task_labels(t).iter().map(|l| l.value).collect())
        .collect();
    krippendorff_alpha(&units, level)
}

/// Fleiss' kappa from per-subject category counts (`counts[subject][category]`).
///
/// Subjects may have different numbers of ratings (each subject's agreement is computed from
/// its own count); subjects with fewer than two ratings are ignored.
pub fn fleiss_kappa(counts: &[Vec<u32>]) -> Option<f64> {
    let categories = counts.iter().map(Vec::len).max()?;
    let mut category_total = vec![0.0; categories];
    let (mut agreement, mut subjects, mut ratings) = (0.0, 0usize, 0.0);
    for row in counts {
        let n: u32 = row.iter().sum();
        if n < 2 {
            continue;
        }
        let n = f64::from(n);
        let same: f64 = row.iter().map(|&c| f64::from(c) * (f64::from(c) - 1.0)).sum();
        agreement += same / (n * (n - 1.0));
        subjects += 1;
        ratings += n;
        for (t, &c) in category_total.iter_mut().zip(row) {
            *t += f64::from(c);
        }
    }
    if subjects == 0 {
        return None;
    }
    let p_bar = agreement / subjects as f64;
    let p_e: f64 = category_total.iter().map(|t| (t / ratings).powi(2)).sum();
    (p_e < 1.0).then(|| (p_bar - p_e) / (1.0 - p_e))
}

/// Cohen's kappa between two raters who labelled the same items, `a[i]` against `b[i]`.
pub fn cohen_kappa(a: &[u32], b: &[u32]) -> Option<f64> {
    let n = a.len().min(b.len());
    if n == 0 {
        return None;
    }
    let k = a[..n].iter().chain(&b[..n]).copied().max()? as usize + 1;
    let (mut pa, mut pb) = (vec![0.0; k], vec![0.0; k]);
    let mut observed = 0.0;
    for (&x, &y) in a.iter().zip(b) {
        pa[x as usize] += 1.0;
        pb[y as usize] += 1.0;
        observed += f64::from(u8::from(x == y));
    }
    let n = n as f64;
    let p_o = observed / n;
    let p_e: f64 = pa.iter().zip(&pb).map(|(x, y)| x / n * y / n).sum();
    (p_e < 1.0).then(|| (p_o - p_e) / (1.0 - p_e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_is_zero_when_confidence_matches_accuracy_and_not_otherwise() {
        // Ten predictions at 0.8, eight right: calibrated.
        let mut predictions: Vec<(f64, bool)> = (0..10).map(|i| (0.8, i < 8)).collect();
        let c = calibration(&predictions, 10).unwrap();
        assert!(c.ece < 1e-12, "{c:?}");
        assert_eq!(c.bins.len(), 1);
        assert_eq!((c.bins[0].n, c.bins[0].accuracy), (10, 0.8));
        // Ten more at 1.0, half right: that bin is off by 0.5, half the predictions.
        predictions.extend((0..10).map(|i| (1.0, i < 5)));
        let c = calibration(&predictions, 10).unwrap();
        assert!((c.ece - 0.25).abs() < 1e-12, "{c:?}");
        assert_eq!(c.bins.last().unwrap().upper, 1.0);
        assert!(calibration(&[], 10).is_none());
    }

    /// The reliability data of Krippendorff (2011), section C: four observers, twelve units,
    /// values 1 to 5, with missing entries left out. The published values are nominal 0.743,
    /// ordinal 0.815, interval 0.849.
    fn krippendorff_2011() -> Vec<Vec<f64>> {
        let m = f64::NAN;
        let a = [1., 2., 3., 3., 2., 1., 4., 1., 2., m, m, m];
        let b = [1., 2., 3., 3., 2., 2., 4., 1., 2., 5., m, 3.];
        let c = [m, 3., 3., 3., 2., 3., 4., 2., 2., 5., 1., m];
        let d = [1., 2., 3., 3., 2., 4., 4., 1., 2., 5., 1., m];
        (0..12)
            .map(|u| [a[u], b[u], c[u], d[u]].into_iter().filter(|x| !x.is_nan()).collect())
            .collect()
    }

    #[test]
    fn krippendorff_alpha_matches_the_textbook_example() {
        let units = krippendorff_2011();
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        assert_eq!(krippendorff_alpha(&units, Level::Nominal).map(round), Some(0.743));
        assert_eq!(krippendorff_alpha(&units, Level::Ordinal).map(round), Some(0.815));
        assert_eq!(krippendorff_alpha(&units, Level::Interval).map(round), Some(0.849));
    }

    #[test]
    fn krippendorff_alpha_edge_cases() {
        // Perfect agreement with variation is 1; no variation at all is undefined.
        let perfect = vec![vec![1.0, 1.0], vec![2.0, 2.0, 2.0]];
        assert_eq!(krippendorff_alpha(&perfect, Level::Nominal), Some(1.0));
        assert_eq!(krippendorff_alpha(&[vec![1.0, 1.0]], Level::Interval), None);
        assert_eq!(krippendorff_alpha(&[vec![1.0]], Level::Nominal), None);
    }

    /// Fleiss (1971) as reproduced on Wikipedia: 10 subjects, 14 raters, 5 categories,
    /// kappa = 0.210.
    #[test]
    fn fleiss_kappa_matches_the_worked_example() {
        let counts = vec![
            vec![0, 0, 0, 0, 14],
            vec![0, 2, 6, 4, 2],
            vec![0, 0, 3, 5, 6],
            vec![0, 3, 9, 2, 0],
            vec![2, 2, 8, 1, 1],
            vec![7, 7, 0, 0, 0],
            vec![3, 2, 6, 3, 0],
            vec![2, 5, 3, 2, 2],
            vec![6, 5, 2, 1, 0],
            vec![0, 2, 2, 3, 7],
        ];
        let kappa = fleiss_kappa(&counts).expect("defined");
        assert!((kappa - 0.210).abs() < 0.0005, "{kappa}");
    }

    #[test]
    fn cohen_kappa_by_hand() {
        // 50 items: both yes 20, both no 15, a yes b no 5, a no b yes 10 (Wikipedia's example,
        // kappa = 0.4).
        let mut a = Vec::new();
        let mut b = Vec::new();
        for (x, y, n) in [(1, 1, 20), (0, 0, 15), (1, 0, 5), (0, 1, 10)] {
            a.extend(std::iter::repeat_n(x, n));
            b.extend(std::iter::repeat_n(y, n));
        }
        assert!((cohen_kappa(&a, &b).expect("defined") - 0.4).abs() < 1e-12);
    }

    #[test]
    fn accuracy_f1_and_errors_by_hand() {
        let predicted = [0, 1, 1, 2];
        let truth = [Some(0), Some(1), Some(0), None];
        assert_eq!(accuracy(&predicted, &truth), Some(2.0 / 3.0));
        // Class 0: TP 1, FN 1 -> 2/3. Class 1: TP 1, FP 1 -> 2/3.
        assert!((f1_macro(&predicted, &truth).expect("scored") - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(accuracy::<u32>(&[1], &[None]), None);
        let p = [1.0, 2.0, 4.0];
        let t = [Some(1.0), Some(4.0), Some(3.0)];
        assert_eq!(mae(&p, &t), Some(1.0));
        assert!((rmse(&p, &t).expect("scored") - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
    }
}
