//! Which response of a pair is preferred, from signed preference strengths: a Dawid-Skene
//! model over the preferred side with the strength as evidence.
//!
//! A label is an integer in `[-k, k]`: its sign is the side preferred (negative the first
//! response, positive the second), its magnitude the strength, 0 a tie. The true side z is ±1.
//! Each worker answers the signed agreement `u = label · z` from a distribution θ_w of its own
//! over `[-k, k]`: a careful worker puts its mass on positive u, often at full strength; a
//! worker at chance spreads it evenly over u and −u, so its labels weigh nothing. The model is
//! symmetric (a worker is as good on either side), which halves what must be learned from the
//! few labels a worker gives, and strength counts as far as the worker's strong answers are
//! right more often than its weak ones. Each θ_w is shrunk towards the pooled distribution by
//! `prior_labels` pseudo-labels, so a worker with one label is judged as the crowd is, and a
//! task with one label from such a worker is not certain.
//!
//! Expectation-maximisation from the vote of signs, as Dawid-Skene starts from majority vote.

use crate::data::NumericDataset;

/// Stopping rule and prior of [`preferred_sides`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SidesOptions {
    /// The most rounds to run.
    pub n_iter: usize,
    /// Stop when no posterior moves by more than this.
    pub tol: f64,
    /// Pseudo-labels from the pooled distribution added to every worker's own.
    pub prior_labels: f64,
}

impl Default for SidesOptions {
    /// 100 rounds, tolerance 1e-6, two pseudo-labels.
    fn default() -> Self {
        Self { n_iter: 100, tol: 1e-6, prior_labels: 2.0 }
    }
}

/// The fitted sides.
#[derive(Debug, Clone, PartialEq)]
pub struct Sides {
    /// Per task, the posterior probability that the second response is preferred.
    pub second: Vec<f64>,
    /// Per task, the mean strength of the labels on the side the posterior favours (0 when
    /// none is favoured or no label is on it).
    pub strength: Vec<f64>,
    /// Rounds run.
    pub iterations: usize,
}

impl Sides {
    /// The signed consensus of task `t`: the favoured side's sign times its mean strength, 0
    /// when the posterior favours neither side.
    pub fn value(&self, t: usize) -> f64 {
        let p = self.second[t];
        if p > 0.5 {
            self.strength[t]
        } else if p < 0.5 {
            -self.strength[t]
        } else {
            0.0
        }
    }

    /// The posterior probability of the side [`Sides::value`] names (0.5 for neither).
    pub fn confidence(&self, t: usize) -> f64 {
        self.second[t].max(1.0 - self.second[t])
    }
}

/// Fits the model (see the module documentation). Labels are rounded to integers.
pub fn preferred_sides(data: &NumericDataset, options: &SidesOptions) -> Sides {
    let labels: Vec<(usize, usize, i64)> = data
        .labels()
        .iter()
        .map(|l| (l.task as usize, l.worker as usize, l.value.round() as i64))
        .collect();
    let k = labels.iter().map(|l| l.2.unsigned_abs()).max().unwrap_or(0) as usize;
    let width = 2 * k + 1;
    let slot = |u: i64| (u + k as i64) as usize;
    let n_tasks = data.n_tasks();
    let n_workers = data.n_workers();

    // Start from the vote of signs, with a pseudo-vote for each side.
    let mut second = vec![0.0; n_tasks];
    let mut votes = vec![(1.0, 2.0); n_tasks];
    for &(t, _, v) in &labels {
        votes[t].0 += if v > 0 {
            1.0
        } else if v == 0 {
            0.5
        } else {
            0.0
        };
        votes[t].1 += 1.0;
    }
    for (p, (yes, all)) in second.iter_mut().zip(&votes) {
        *p = yes / all;
    }

    let mut log_theta = vec![0.0; n_workers * width];
    let mut iterations = 0;
    for _ in 0..options.n_iter {
        iterations += 1;
        // M-step: each worker's expected counts of signed agreement, shrunk to the pool.
        let mut counts = vec![0.0; n_workers * width];
        for &(t, w, v) in &labels {
            counts[w * width + slot(v)] += second[t];
            counts[w * width + slot(-v)] += 1.0 - second[t];
        }
        let mut pool = vec![1.0; width];
        for w in 0..n_workers {
            for u in 0..width {
                pool[u] += counts[w * width + u];
            }
        }
        let pool_total: f64 = pool.iter().sum();
        for w in 0..n_workers {
            let own = &counts[w * width..(w + 1) * width];
            let total: f64 = own.iter().sum::<f64>() + options.prior_labels;
            for u in 0..width {
                let shrunk = own[u] + options.prior_labels * pool[u] / pool_total;
                log_theta[w * width + u] = (shrunk / total).ln();
            }
        }
        let prior: f64 = (second.iter().sum::<f64>() + 1.0) / (n_tasks as f64 + 2.0);

        // E-step: each task's log-odds that the second response is preferred.
        let mut log_odds = vec![(prior / (1.0 - prior)).ln(); n_tasks];
        for &(t, w, v) in &labels {
            log_odds[t] += log_theta[w * width + slot(v)] - log_theta[w * width + slot(-v)];
        }
        let mut moved: f64 = 0.0;
        for (p, x) in second.iter_mut().zip(&log_odds) {
            let next = 1.0 / (1.0 + (-x).exp());
            moved = moved.max((next - *p).abs());
            *p = next;
        }
        if moved <= options.tol {
            break;
        }
    }

    let mut sums = vec![(0.0, 0u32); n_tasks];
    for &(t, _, v) in &labels {
        let favoured = if second[t] > 0.5 { v > 0 } else { second[t] < 0.5 && v < 0 };
        if favoured {
            sums[t].0 += v.unsigned_abs() as f64;
            sums[t].1 += 1;
        }
    }
    let strength = sums.iter().map(|&(s, n)| if n == 0 { 0.0 } else { s / f64::from(n) }).collect();
    Sides { second, strength, iterations }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(rows: &[(&str, &str, f64)]) -> NumericDataset {
        NumericDataset::from_rows(rows.iter().map(|(t, w, v)| (*t, *w, *v))).unwrap()
    }

    fn side(sides: &Sides, data: &NumericDataset, task: &str) -> f64 {
        sides.value(data.tasks().get(task).unwrap() as usize)
    }

    #[test]
    fn a_majority_of_equally_reliable_workers_decides() {
        // Three workers who agree on most tasks; on "x" two prefer the first response weakly
        // and one the second strongly, as often as the others answer strongly elsewhere.
        let mut rows = Vec::new();
        let names: Vec<String> = (0..30).map(|i| format!("t{i}")).collect();
        for (i, t) in names.iter().enumerate() {
            let v = if i % 2 == 0 { 2.0 } else { -1.0 };
            for w in ["a", "b", "c"] {
                rows.push((t.as_str(), w, v));
            }
        }
        rows.extend([("x", "a", -1.0), ("x", "b", -1.0), ("x", "c", 2.0)]);
        let d = data(&rows);
        let sides = preferred_sides(&d, &SidesOptions::default());
        assert!(side(&sides, &d, "x") < 0.0, "{sides:?}");
        assert!(side(&sides, &d, "t0") > 0.0 && side(&sides, &d, "t1") < 0.0);
    }

    #[test]
    fn a_reliable_worker_outweighs_two_at_chance() {
        // "good" is right on every task with a gold-like consensus; "r1" and "r2" answer at
        // random, so where both contradict "good" it still decides.
        let mut rows: Vec<(String, &str, f64)> = Vec::new();
        for i in 0..40 {
            let t = format!("t{i}");
            let truth = if i % 3 == 0 { -1.0 } else { 1.0 };
            rows.push((t.clone(), "good", 2.0 * truth));
            rows.push((t.clone(), "also-good", truth));
            let noise = |salt: i32| if (i * 7 + salt) % 5 < 2 { -1.0 } else { 1.0 };
            rows.push((t.clone(), "r1", 2.0 * noise(1)));
            rows.push((t.clone(), "r2", 2.0 * noise(3)));
        }
        let d =
            NumericDataset::from_rows(rows.iter().map(|(t, w, v)| (t.as_str(), *w, *v))).unwrap();
        let sides = preferred_sides(&d, &SidesOptions::default());
        for i in 0..40 {
            let truth = if i % 3 == 0 { -1.0 } else { 1.0 };
            let t = d.tasks().get(&format!("t{i}")).unwrap() as usize;
            assert_eq!(sides.value(t).signum(), truth, "task {i}: {}", sides.second[t]);
        }
    }

    #[test]
    fn one_label_is_not_certain_and_a_tie_favours_nothing() {
        let d =
            data(&[("one", "w", 2.0), ("tie", "w", 0.0), ("even", "a", 1.0), ("even", "b", -1.0)]);
        let sides = preferred_sides(&d, &SidesOptions::default());
        let at = |t: &str| d.tasks().get(t).unwrap() as usize;
        assert!(sides.value(at("one")) > 0.0);
        assert!(sides.confidence(at("one")) < 0.95, "{sides:?}");
        assert_eq!(sides.value(at("tie")), 0.0, "{sides:?}");
    }
}
