//! Honest minorities on subjective questions: scored within their cohort, never slashed for
//! disagreeing with the majority.

use plumbline_core::Address;
use plumbline_core::label::Label;
use plumbline_core::settle::{BatchOutcome, Tier, settle};
use plumbline_core::spec::Cohorts;
use plumbline_core::synthetic::{SplitMix64, binary_spec};
use plumbline_core::task::Task;
use std::collections::BTreeMap;

/// 60 tasks in 3 blocks; in every block 4 labelers of cohort "a" answer the latent preference
/// and 2 of cohort "b" answer its opposite (a different true preference), each 95% of the time.
fn outcomes(seed: u64) -> (Vec<Task>, Vec<BatchOutcome>) {
    let mut rng = SplitMix64::new(seed);
    let preference: Vec<i64> = (0..60).map(|_| (rng.next_u64() % 2) as i64).collect();
    let tasks = (0..60)
        .map(|i| Task {
            id: i.to_string(),
            prompt: String::new().into(),
            responses: Vec::new(),
            gold: None,
            meta: Default::default(),
        })
        .collect();
    let mut batches = Vec::new();
    for block in 0..3u32 {
        for member in 0..6u32 {
            let minority = member >= 4;
            let labels = (block * 20..block * 20 + 20)
                .map(|t| {
                    let mut v = preference[t as usize];
                    if minority {
                        v = 1 - v;
                    }
                    if !rng.chance(950_000) {
                        v = 1 - v;
                    }
                    (t, Label::Int(v))
                })
                .collect();
            let id = u64::from(block * 6 + member);
            batches.push(BatchOutcome {
                batch_id: id,
                labeler: Address::with_last_byte(id as u8 + 1),
                cohort: Some(if minority { "b" } else { "a" }.to_string()),
                stake: 1_000_000,
                labels: Some(labels),
            });
        }
    }
    (tasks, batches)
}

#[test]
fn a_minority_cohort_scores_within_itself_and_is_never_slashed() {
    let mut spec = binary_spec(20, 6, 0);
    spec.subjective = true;
    spec.cohorts =
        Some(Cohorts { attribute: "region".into(), values: vec!["a".into(), "b".into()] });
    for seed in 0..20 {
        let (tasks, batches) = outcomes(seed);
        let settlement = settle(&spec, &tasks, &batches, &BTreeMap::new());
        assert_eq!(settlement.labelers.len(), 18);
        for l in &settlement.labelers {
            assert_ne!(l.tier, Tier::Slashed, "seed {seed}: nobody honest is slashed");
            assert!(l.score.unwrap() > 0, "seed {seed}: within its cohort everyone agrees");
        }
    }
}

#[test]
fn without_cohorts_the_same_minority_scores_below_zero() {
    let spec = binary_spec(20, 6, 0);
    let (tasks, batches) = outcomes(3);
    let settlement = settle(&spec, &tasks, &batches, &BTreeMap::new());
    let minority_addresses: Vec<Address> =
        batches.iter().filter(|b| b.cohort.as_deref() == Some("b")).map(|b| b.labeler).collect();
    for l in settlement.labelers.iter().filter(|l| minority_addresses.contains(&l.labeler)) {
        assert!(l.score.unwrap() < 0, "pooled with the majority, the minority looks adversarial");
    }
}
