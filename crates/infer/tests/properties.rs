//! Invariants every aggregator keeps on any input, checked on random small crowds.

use plumbline_infer::metrics::{Level, krippendorff_alpha};
use plumbline_infer::{
    Categorical, Comparisons, Dataset, Method, NumericDataset, Rankings, bradley_terry, mean,
    median, noisy_bradley_terry, plackett_luce, weighted_mean, weighted_median,
};
use proptest::prelude::*;

/// Rows over up to 8 tasks, 6 workers and 4 classes; repeats of a (task, worker) pair are
/// possible and exercise the keep-the-last policy.
fn rows() -> impl Strategy<Value = Vec<(u8, u8, u8)>> {
    prop::collection::vec((0u8..8, 0u8..6, 0u8..4), 1..60)
}

fn dataset(rows: &[(u8, u8, u8)]) -> Dataset {
    Dataset::from_rows(
        rows.iter().map(|(t, w, c)| (format!("t{t}"), format!("w{w}"), format!("c{c}"))),
    )
}

fn check_categorical(method: Method, data: &Dataset, fit: &Categorical) {
    assert_eq!(fit.n_tasks(), data.n_tasks(), "{method}");
    assert_eq!(fit.skills.len(), data.n_workers(), "{method}");
    for t in 0..data.n_tasks() {
        let p = fit.task_probs(t);
        assert!(p.iter().all(|x| x.is_finite() && *x >= 0.0), "{method}: {p:?}");
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{method}: {p:?}");
        let best = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let first_best = p.iter().position(|&x| x == best).expect("non-empty row");
        assert_eq!(fit.labels[t] as usize, first_best, "{method}: ties go to the smallest class");
        assert_eq!(fit.confidence[t], best, "{method}");
    }
    assert!(fit.skills.iter().all(|s| (0.0..=1.0).contains(s)), "{method}: {:?}", fit.skills);
}

proptest! {
    #[test]
    fn categorical_methods_return_distributions(rows in rows()) {
        let data = dataset(&rows);
        for method in Method::ALL.into_iter().filter(|m| m.input() == plumbline_infer::InputKind::Categorical) {
            match plumbline_infer::method::run_categorical(method, &data) {
                Ok(fit) => check_categorical(method, &data, &fit),
                // Only KOS refuses, and only data that is not binary.
                Err(_) => prop_assert!(method == Method::Kos && data.n_classes() != 2),
            }
        }
    }

    #[test]
    fn majority_vote_ignores_row_order(rows in rows(), rotate in 0usize..60) {
        // Keep only the last label of each pair so that reordering cannot change which is kept.
        let mut unique: Vec<(u8, u8, u8)> = Vec::new();
        for r in &rows {
            unique.retain(|u| (u.0, u.1) != (r.0, r.1));
            unique.push(*r);
        }
        let a = dataset(&unique);
        let mut turned = unique.clone();
        let n = turned.len();
        turned.rotate_left(rotate % n);
        let b = dataset(&turned);
        let label = |d: &Dataset, t: usize, fit: &Categorical| d.classes()[fit.labels[t] as usize].clone();
        let (fa, fb) = (plumbline_infer::majority_vote(&a), plumbline_infer::majority_vote(&b));
        for t in 0..a.n_tasks() {
            let name = a.tasks().name(t as u32);
            let tb = b.tasks().get(name).expect("same tasks") as usize;
            prop_assert_eq!(label(&a, t, &fa), label(&b, tb, &fb));
        }
    }

    #[test]
    fn numeric_estimates_stay_within_the_labels(rows in prop::collection::vec((0u8..6, 0u8..5, -50i32..50), 1..40)) {
        let data = NumericDataset::from_rows(
            rows.iter().map(|(t, w, v)| (format!("t{t}"), format!("w{w}"), f64::from(*v))),
        ).expect("finite values");
        for fit in [
            mean(&data),
            median(&data),
            weighted_mean(&data, &Default::default()),
            weighted_median(&data, &Default::default()),
        ] {
            for t in 0..data.n_tasks() {
                let values: Vec<f64> = data.task_labels(t).iter().map(|l| l.value).collect();
                let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                prop_assert!(fit.values[t] >= lo - 1e-9 && fit.values[t] <= hi + 1e-9);
                prop_assert!((0.0..=1.0).contains(&fit.confidence[t]));
            }
            prop_assert!(fit.skills.iter().all(|s| (0.0..=1.0).contains(s)));
        }
    }

    #[test]
    fn pairwise_and_ranking_scores_are_shares(
        games in prop::collection::vec((0u8..4, 0u8..5, 0u8..5, any::<bool>()), 1..40),
        orders in prop::collection::vec((0u8..3, Just(vec![0u8, 1, 2, 3, 4]).prop_shuffle()), 1..10),
    ) {
        let mut comparisons = Comparisons::new();
        for (w, a, b, left_won) in games {
            if a != b {
                comparisons.push(&format!("w{w}"), &format!("i{a}"), &format!("i{b}"), left_won).expect("distinct");
            }
        }
        let mut rankings = Rankings::new();
        for (w, order) in orders {
            let names: Vec<String> = order.iter().map(|i| format!("i{i}")).collect();
            rankings.push(&format!("w{w}"), &names).expect("a permutation");
        }
        let fits = [
            bradley_terry(&comparisons, &Default::default()),
            noisy_bradley_terry(&comparisons, &Default::default()).result,
            plackett_luce(&rankings, &Default::default()),
        ];
        for fit in fits {
            prop_assert!(fit.scores.iter().all(|s| s.is_finite() && *s > 0.0));
            if !fit.scores.is_empty() {
                prop_assert!((fit.scores.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            }
            prop_assert!(fit.confidence.iter().chain(&fit.skills).all(|x| (0.0..=1.0).contains(x)));
        }
    }

    #[test]
    fn krippendorff_alpha_is_at_most_one(units in prop::collection::vec(prop::collection::vec(0u8..5, 0..6), 1..20)) {
        let units: Vec<Vec<f64>> = units.iter().map(|u| u.iter().map(|&x| f64::from(x)).collect()).collect();
        for level in [Level::Nominal, Level::Ordinal, Level::Interval] {
            if let Some(alpha) = krippendorff_alpha(&units, level) {
                prop_assert!(alpha <= 1.0 + 1e-12 && alpha.is_finite(), "{level:?}: {alpha}");
            }
        }
    }
}
