//! The crowd's best of N as rounds of one experiment, end to end in memory: the knockout finds
//! the best response, nobody compares a pair twice, one settlement covers every round, and the
//! record verifies.

use plumbline_core::record::{audit, replay};
use plumbline_core::settle::Tier;
use plumbline_core::synthetic::knockout::{Params, run};

#[test]
fn the_knockout_finds_the_best_of_sixteen_and_its_record_verifies() {
    let params = Params { responses: 16, ..Params::default() };
    let mut found = 0;
    for seed in 1..=4 {
        let run = run(&params, seed).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let record = &run.record;
        audit(record).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let experiment = replay(record).unwrap();
        assert_eq!(record.batches(), experiment.batches(), "seed {seed}");
        let played = experiment.knockouts();
        assert_eq!(played.len(), 1);
        let winner = played[0].winner().unwrap_or_else(|| panic!("seed {seed}: no winner"));
        found += usize::from(winner == run.best);
        assert!(run.rank[winner as usize] < 3, "seed {seed}: the winner is one of the best three");
        assert!(played[0].votes_used() <= 100, "seed {seed}: within the budget of 16 responses");

        // Only matches were asked, each of its voters once; nobody saw a task twice.
        let batches = experiment.batches();
        let groups = experiment.groups();
        for labeler in &run.addresses {
            let mut seen: Vec<u32> = batches
                .iter()
                .filter(|b| b.labeler == *labeler)
                .flat_map(|b| b.tasks.iter().copied())
                .collect();
            let all = seen.len();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), all, "seed {seed}: {labeler} saw a task twice");
        }
        let asked: std::collections::BTreeSet<u32> = batches
            .iter()
            .flat_map(|b| b.tasks.iter().copied())
            .filter(|&t| !record.tasks[t as usize].is_gold())
            .collect();
        let matches: std::collections::BTreeSet<u32> =
            played[0].matches().map(|m| groups[0].pair_task(m.left, m.right)).collect();
        assert_eq!(asked, matches, "seed {seed}: every asked pair is a match of the bracket");
        assert!(batches.iter().any(|b| b.round >= 4), "seed {seed}: four levels, four rounds");

        // One settlement covers every round; careful labelers are not slashed.
        record.settlement.check().unwrap();
        assert!(record.settlement.labelers.iter().all(|l| l.tier != Tier::Slashed), "seed {seed}");
        assert!(
            record.settlement.labelers.iter().any(|l| l.tier == Tier::Rewarded),
            "seed {seed}: careful labelers are paid"
        );
    }
    assert!(found >= 3, "the best response won {found} of 4 runs");
}

#[test]
fn later_rounds_go_to_the_labelers_whose_answers_weigh_most() {
    // Ten careful labelers and ten who answer at random, interleaved.
    let skills = (0..20).map(|i| if i % 2 == 0 { 950_000 } else { 500_000 }).collect();
    let params = Params { responses: 16, skills, ..Params::default() };
    let run = run(&params, 5).unwrap();
    audit(&run.record).unwrap();
    let experiment = replay(&run.record).unwrap();
    let later = |careful: bool| {
        let who: Vec<_> = run
            .addresses
            .iter()
            .enumerate()
            .filter(|(i, _)| (i % 2 == 0) == careful)
            .map(|(_, a)| a)
            .collect();
        experiment.batches().iter().filter(|b| b.round > 0 && who.contains(&&b.labeler)).count()
    };
    let (careful, random) = (later(true), later(false));
    assert!(careful > 2 * random, "later-round batches: careful {careful}, random {random}");
}
