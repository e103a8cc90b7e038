//! Seeded synthetic crowds, for benchmarks, simulations and tests.

use crate::{Dataset, Label};

/// The shape of a synthetic crowd.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyntheticSpec {
    /// Number of tasks.
    pub n_tasks: usize,
    /// Number of workers.
    pub n_workers: usize,
    /// Number of classes.
    pub n_classes: usize,
    /// Distinct workers per task; at most `n_workers`.
    pub labels_per_task: usize,
    /// The lowest worker accuracy.
    pub accuracy_min: f64,
    /// The highest worker accuracy.
    pub accuracy_max: f64,
}

/// Draws a crowd under the one-coin model: true classes uniform, each worker's accuracy
/// uniform in `[accuracy_min, accuracy_max]`, wrong answers uniform over the other classes,
/// and each task labelled by `labels_per_task` distinct workers chosen uniformly.
///
/// Returns the dataset and the true class of each task. The same seed gives the same crowd.
///
/// # Panics
///
/// Panics if `labels_per_task > n_workers`, or if there are tasks but no classes.
pub fn synthetic(spec: &SyntheticSpec, seed: u64) -> (Dataset, Vec<u32>) {
    assert!(spec.labels_per_task <= spec.n_workers, "more labels per task than workers");
    assert!(spec.n_classes > 0 || spec.n_tasks == 0, "tasks need at least one class");
    let mut rng = SplitMix64(seed);
    let k = spec.n_classes as u64;
    let accuracy: Vec<f64> = (0..spec.n_workers)
        .map(|_| spec.accuracy_min + (spec.accuracy_max - spec.accuracy_min) * rng.unit())
        .collect();
    let truth: Vec<u32> = (0..spec.n_tasks).map(|_| rng.below(k) as u32).collect();
    let mut labels = Vec::with_capacity(spec.n_tasks * spec.labels_per_task);
    let mut chosen: Vec<u32> = Vec::with_capacity(spec.labels_per_task);
    for (t, &z) in truth.iter().enumerate() {
        chosen.clear();
        while chosen.len() < spec.labels_per_task {
            let w = rng.below(spec.n_workers as u64) as u32;
            if !chosen.contains(&w) {
                chosen.push(w);
            }
        }
        for &w in &chosen {
            let class = if k < 2 || rng.unit() < accuracy[w as usize] {
                z
            } else {
                // Shift past the true class so the wrong answer is uniform over the others.
                let c = rng.below(k - 1) as u32;
                if c >= z { c + 1 } else { c }
            };
            labels.push(Label { task: t as u32, worker: w, class });
        }
    }
    let data = Dataset::from_indices(spec.n_tasks, spec.n_workers, spec.n_classes, labels)
        .expect("generated indices are in range");
    (data, truth)
}

/// SplitMix64 (Steele, Lea and Flood 2014): tiny, fast, and good enough to draw test crowds.
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal, by Box-Muller.
    pub(crate) fn normal(&mut self) -> f64 {
        let u = 1.0 - self.unit();
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Uniform in `0..n`, by multiply-shift; the bias is below 2^-32 for any n used here.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_crowd() {
        let spec = SyntheticSpec {
            n_tasks: 50,
            n_workers: 8,
            n_classes: 3,
            labels_per_task: 3,
            accuracy_min: 0.6,
            accuracy_max: 0.9,
        };
        let (a, ta) = synthetic(&spec, 7);
        let (b, tb) = synthetic(&spec, 7);
        let (c, _) = synthetic(&spec, 8);
        assert_eq!(a.labels(), b.labels());
        assert_eq!(ta, tb);
        assert_ne!(a.labels(), c.labels());
        assert_eq!(a.n_labels(), 150);
    }
}
