//! M-MSR (Ma and Olshevsky, NeurIPS 2020): worker reliabilities from pairwise agreement,
//! robust to workers who collude or answer adversarially.
//!
//! Under the one-coin model a worker answers correctly with probability `(1 + (K-1) s) / K`,
//! where `s` in `[-1/(K-1), 1]` is its reliability (0 = random). Two workers then agree on a
//! shared task with probability `1/K + (K-1)/K * s_i s_j`, so the rescaled agreement
//! `C_ij = K/(K-1) * agree_ij - 1/(K-1)` estimates `s_i s_j`. M-MSR fits that rank-one
//! structure to `|C|` with trimmed means (dropping up to F extreme ratios on each side, which
//! is what makes it robust), then recovers the signs and votes with log-odds weights.
//!
//! This follows crowd-kit's `MMSR` (same trimming rule, same `F = floor(min degree / 2) - 1`,
//! same clipping of reliabilities) except in two places, both deterministic where crowd-kit
//! is random or global: the iteration starts from all ones instead of random numbers, and the
//! signs come from a local-majority sweep over the signed agreement graph (each worker takes
//! the sign that agrees with most of its weighted neighbours, and the whole vector is oriented
//! so that most reliability mass is positive) instead of an eigenvector.

use crate::Dataset;
use crate::categorical::{Categorical, softmax_in_place};

/// Stopping rule of M-MSR.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MmsrOptions {
    /// The most trimmed-mean rounds to run.
    pub n_iter: usize,
    /// Stop when no reliability estimate moves by more than this in a round.
    pub tol: f64,
}

impl Default for MmsrOptions {
    /// crowd-kit's iteration limit of 10,000 and a tolerance of 1e-10.
    fn default() -> Self {
        Self { n_iter: 10_000, tol: 1e-10 }
    }
}

/// A fitted M-MSR model.
#[derive(Debug, Clone, PartialEq)]
pub struct MmsrModel {
    /// Per-task labels from the weighted vote; per-worker skills, each the probability of a
    /// correct answer implied by the reliability.
    pub result: Categorical,
    /// Each worker's reliability `s`.
    pub reliabilities: Vec<f64>,
}

/// Fits M-MSR and votes with the reliabilities it finds.
pub fn mmsr(data: &Dataset, options: &MmsrOptions) -> MmsrModel {
    let k = data.n_classes();
    let w_n = data.n_workers();
    let t_n = data.n_tasks();
    let graph = AgreementGraph::build(data);
    let kf = k.max(2) as f64;
    let floor_t = if t_n > 0 { 1.0 / (t_n as f64).sqrt() } else { 0.0 };
    let lo = -1.0 / (kf - 1.0) + floor_t;
    let hi = 1.0 - floor_t;
    // With very few tasks and many classes the margins cross; the range is then one point.
    let (lo, hi) = if lo <= hi { (lo, hi) } else { ((lo + hi) / 2.0, (lo + hi) / 2.0) };

    let mut s = estimate_magnitudes(&graph, t_n, options);
    determine_signs(&graph, &mut s);
    // Workers who share no task with anyone cannot be estimated (nor can any on data too
    // inconsistent for the fit to stay finite); they get the mean of the others so that a task
    // labelled only by them still gets a vote.
    let connected: Vec<f64> = (0..w_n)
        .filter(|&w| graph.degree(w) > 0 && s[w].is_finite())
        .map(|w| s[w].clamp(lo, hi))
        .collect();
    let fallback = if connected.is_empty() {
        0.5f64.clamp(lo, hi)
    } else {
        connected.iter().sum::<f64>() / connected.len() as f64
    };
    for (w, sw) in s.iter_mut().enumerate() {
        *sw = if graph.degree(w) > 0 && sw.is_finite() { sw.clamp(lo, hi) } else { fallback };
    }

    // The posterior under the one-coin model with a uniform prior: each label adds the
    // worker's log-odds weight to its class.
    let weights: Vec<f64> = s.iter().map(|&x| ((1.0 + (kf - 1.0) * x) / (1.0 - x)).ln()).collect();
    let mut probs = vec![0.0; t_n * k];
    if k > 0 {
        for (t, row) in probs.chunks_exact_mut(k).enumerate() {
            for l in data.task_labels(t) {
                row[l.class as usize] += weights[l.worker as usize];
            }
            softmax_in_place(row);
        }
    }
    let skills = s.iter().map(|&x| (1.0 + (kf - 1.0) * x) / kf).collect();
    MmsrModel { result: Categorical::from_probs(k, probs, skills, 0), reliabilities: s }
}

/// Workers as nodes, an edge wherever two workers share a task, weighted by `C_ij`.
struct AgreementGraph {
    start: Vec<usize>,
    neighbour: Vec<u32>,
    c: Vec<f64>,
}

impl AgreementGraph {
    fn build(data: &Dataset) -> Self {
        let w_n = data.n_workers();
        let kf = data.n_classes().max(2) as f64;
        // One entry per pair of labels on the same task: (low worker, high worker, agreed).
        let mut pairs: Vec<(u32, u32, bool)> = Vec::new();
        for t in 0..data.n_tasks() {
            let labels = data.task_labels(t);
            for (i, a) in labels.iter().enumerate() {
                for b in &labels[i + 1..] {
                    let (lo, hi) = if a.worker < b.worker { (a, b) } else { (b, a) };
                    pairs.push((lo.worker, hi.worker, a.class == b.class));
                }
            }
        }
        pairs.sort_unstable_by_key(|&(i, j, _)| (i, j));
        let mut edges: Vec<(u32, u32, f64)> = Vec::new();
        let mut i = 0;
        while i < pairs.len() {
            let (a, b, _) = pairs[i];
            let mut j = i;
            let mut agree = 0usize;
            while j < pairs.len() && pairs[j].0 == a && pairs[j].1 == b {
                agree += usize::from(pairs[j].2);
                j += 1;
            }
            let c = kf / (kf - 1.0) * agree as f64 / (j - i) as f64 - 1.0 / (kf - 1.0);
            edges.push((a, b, c));
            edges.push((b, a, c));
            i = j;
        }
        edges.sort_unstable_by_key(|&(a, b, _)| (a, b));
        let mut start = vec![0usize; w_n + 1];
        for &(a, _, _) in &edges {
            start[a as usize + 1] += 1;
        }
        for w in 0..w_n {
            start[w + 1] += start[w];
        }
        Self {
            start,
            neighbour: edges.iter().map(|e| e.1).collect(),
            c: edges.iter().map(|e| e.2).collect(),
        }
    }

    fn degree(&self, w: usize) -> usize {
        self.start[w + 1] - self.start[w]
    }

    fn edges(&self, w: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let range = self.start[w]..self.start[w + 1];
        self.neighbour[range.clone()].iter().zip(&self.c[range]).map(|(&j, &c)| (j as usize, c))
    }
}

/// The magnitudes `|s|` from the alternating trimmed-mean fit of `|C_ij| = u_i v_j`.
fn estimate_magnitudes(graph: &AgreementGraph, t_n: usize, options: &MmsrOptions) -> Vec<f64> {
    let w_n = graph.start.len() - 1;
    let min_degree = (0..w_n).map(|w| graph.degree(w)).filter(|&d| d > 0).min().unwrap_or(0);
    let f = (min_degree / 2).saturating_sub(1);
    let empty_floor = if t_n > 0 { 1.0 / (t_n as f64).sqrt() } else { 1.0 };
    let mut u = vec![1.0; w_n];
    let mut v = vec![1.0; w_n];
    let mut ratios = Vec::new();
    // One half-round: each entry of `side` becomes the trimmed mean of its ratios
    // `|C_wj| / other_j`. A zero in `other` is read as a tiny number so that no ratio is 0/0.
    let mut update = |side: &mut [f64], other: &[f64]| {
        for (w, value) in side.iter_mut().enumerate() {
            ratios.clear();
            ratios.extend(graph.edges(w).map(|(j, c)| c.abs() / other[j].max(1e-12)));
            if let Some(mean) = trimmed_mean(&mut ratios, f, *value, empty_floor) {
                *value = mean;
            }
        }
    };
    let norm = |x: &[f64]| x.iter().map(|a| a * a).sum::<f64>().sqrt();
    let (mut u_prev, mut v_prev) = (u.clone(), v.clone());
    for _ in 0..options.n_iter {
        update(&mut v, &u);
        update(&mut u, &v);
        // Only the product u v^T is identified; scaling u up and v down leaves it alone but
        // can drift without bound on inconsistent data. Rebalancing the norms each round keeps
        // both finite and changes nothing else, since the trimmed mean scales with its inputs.
        let (nu, nv) = (norm(&u), norm(&v));
        if nu > 0.0 && nv > 0.0 && nu.is_finite() && nv.is_finite() {
            let g = (nv / nu).sqrt();
            u.iter_mut().for_each(|x| *x *= g);
            v.iter_mut().for_each(|x| *x /= g);
        }
        let moved =
            |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        let change = moved(&u, &u_prev).max(moved(&v, &v_prev));
        if change < options.tol || !change.is_finite() {
            // Converged, or no longer finite (which the caller replaces).
            break;
        }
        u_prev.copy_from_slice(&u);
        v_prev.copy_from_slice(&v);
    }
    let (nu, nv) = (norm(&u), norm(&v));
    let scale = if nu > 0.0 && nv > 0.0 { (nu / nv).sqrt() } else { 1.0 };
    u.iter().map(|x| x / scale).collect()
}

/// crowd-kit's trimming: of the ratios below the current value `a`, drop the F smallest (or
/// all of them if there are fewer than F); likewise above. Returns the mean of the rest, or
/// `None` if nothing is left. A lone remaining zero becomes `floor` so that later ratios that
/// divide by it stay finite.
fn trimmed_mean(x: &mut [f64], f: usize, a: f64, floor: f64) -> Option<f64> {
    x.sort_unstable_by(f64::total_cmp);
    let below = x.iter().filter(|&&y| y < a).count();
    let mut lo = if below < f { below } else { f };
    let above = x.iter().filter(|&&y| y > a).count();
    let mut hi = x.len() - if above < f { above } else { f };
    if lo > hi {
        lo = hi;
    }
    if hi < lo {
        hi = lo;
    }
    let kept = &x[lo..hi];
    match kept {
        [] => None,
        [only] if *only == 0.0 => Some(floor),
        _ => Some(kept.iter().sum::<f64>() / kept.len() as f64),
    }
}

/// Gives each magnitude a sign: repeatedly set each worker's sign to the sign of
/// `sum_j C_ij * sign_j * |s_j|` until nothing changes, then flip everything if most of the
/// reliability mass came out negative.
fn determine_signs(graph: &AgreementGraph, s: &mut [f64]) {
    let w_n = s.len();
    let mut sign = vec![1.0f64; w_n];
    for _ in 0..100 {
        let mut changed = false;
        for w in 0..w_n {
            let pull: f64 = graph.edges(w).map(|(j, c)| c * sign[j] * s[j].abs()).sum();
            let new = if pull < 0.0 { -1.0 } else { 1.0 };
            if new != sign[w] {
                sign[w] = new;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mass: f64 = s.iter().zip(&sign).map(|(x, g)| x.abs() * g).sum();
    let orient = if mass < 0.0 { -1.0 } else { 1.0 };
    for (x, g) in s.iter_mut().zip(&sign) {
        *x = x.abs() * g * orient;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_follows_the_reference_rule() {
        // F = 1 around a = 3: drop one below (1) and one above (9).
        let mut x = [9.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(trimmed_mean(&mut x, 1, 3.0, 0.1), Some(3.0));
        // F = 2 with only one value above a = 6: drop it, and the two smallest below.
        let mut x = [1.0, 2.0, 3.0, 5.0, 9.0];
        assert_eq!(trimmed_mean(&mut x, 2, 6.0, 0.1), Some(4.0));
        assert_eq!(trimmed_mean(&mut [0.0], 0, 1.0, 0.25), Some(0.25));
        assert_eq!(trimmed_mean(&mut [], 0, 1.0, 0.25), None);
    }

    #[test]
    fn tiny_inconsistent_data_stays_finite() {
        // Pairwise agreements that no rank-one structure explains: b and c never agree beyond
        // chance, yet both agree with a to different degrees.
        let data = Dataset::from_rows([
            ("t1", "a", "cat"),
            ("t1", "b", "cat"),
            ("t1", "c", "dog"),
            ("t2", "a", "dog"),
            ("t2", "b", "dog"),
            ("t2", "c", "dog"),
            ("t3", "a", "cat"),
            ("t3", "c", "dog"),
        ]);
        let model = mmsr(&data, &MmsrOptions::default());
        assert!(model.reliabilities.iter().all(|s| s.is_finite()), "{:?}", model.reliabilities);
        assert!(model.result.skills.iter().all(|s| (0.0..=1.0).contains(s)));
        assert_eq!(model.result.labels[1], 1, "everyone said dog on t2");
    }

    #[test]
    fn two_tasks_with_four_classes_do_not_cross_the_reliability_range() {
        // 1/sqrt(2) margins on both sides leave no range for four classes: this panicked in
        // `clamp` before the range collapsed to a point.
        let data = Dataset::from_rows([
            ("t1", "a", "w"),
            ("t1", "b", "x"),
            ("t2", "a", "y"),
            ("t2", "b", "z"),
            ("t2", "c", "y"),
        ]);
        let model = mmsr(&data, &MmsrOptions::default());
        assert!(model.reliabilities.iter().all(|r| r.is_finite()));
    }

    #[test]
    fn mmsr_finds_an_adversary_and_outvotes_it() {
        // a, b, c are perfect; d always gives the other class. With the adversary's sign
        // recovered, its label counts for the opposite class.
        let mut rows = Vec::new();
        for t in 0..20 {
            let truth = if t % 4 == 0 { "1" } else { "0" };
            let flip = if truth == "1" { "0" } else { "1" };
            for w in ["a", "b", "c"] {
                rows.push((format!("t{t}"), w.to_owned(), truth.to_owned()));
            }
            rows.push((format!("t{t}"), "d".to_owned(), flip.to_owned()));
        }
        // t20: only a and the adversary; the adversary's "1" means "0", agreeing with a.
        rows.push(("t20".to_owned(), "a".to_owned(), "0".to_owned()));
        rows.push(("t20".to_owned(), "d".to_owned(), "1".to_owned()));
        let data = Dataset::from_rows(rows);
        let model = mmsr(&data, &MmsrOptions::default());
        assert!(model.reliabilities[3] < 0.0, "{:?}", model.reliabilities);
        assert!(model.reliabilities[0] > 0.5);
        assert_eq!(model.result.labels[20], 0);
        // Reliabilities are clipped to 1 - 1/sqrt(21) in magnitude, which caps the confidence
        // of a two-label task near 0.985.
        assert!(model.result.confidence[20] > 0.95, "{}", model.result.confidence[20]);
        assert!(model.result.skills[3] < 0.5);
    }
}
