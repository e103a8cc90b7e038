//! The crowd's best of N in simulation: responses whose quality follows a Bradley-Terry model,
//! labelers of the simulator's skills, and the core's tournament choosing every round's
//! comparisons. A replicated knockout (a fixed number of equal votes per match, the majority
//! going through) runs on the same responses and labelers as the peer.
//!
//! **The vote model.** Response `i` has quality `θᵢ ~ N(0, spread²)`. Asked to compare `i` and
//! `j`, a labeler of skill `s` reports a Bradley-Terry draw (`i` with probability
//! `σ(θᵢ − θⱼ)`) with probability `s`, and the other side otherwise. Without a spread the draw
//! is always the better response, so only the labelers' skill is noise.
//!
//! **Weights.** Each labeler's record starts with its answers to `gold` practice comparisons
//! with known answers (counted apart from the tournament's comparisons); the tournament adds its
//! votes on decided matches. Each comparison of a round goes to the heaviest labelers who have
//! capacity left and have not voted on that match, the latest level first, so the final gets
//! the best labelers left.

use crate::rng::{Rng, Tag};
use crate::scenario::Skill;
use plumbline_core::adaptive::best_of::{BestOfRule, Record, Tournament, Vote};
use plumbline_core::adaptive::vote_weight;
use serde::Serialize;

/// What one best-of simulation runs.
#[derive(Clone, Debug, Serialize)]
pub struct BestOfSetup {
    /// Responses per prompt.
    pub responses: u32,
    /// Labelers available.
    pub labelers: u32,
    /// The most comparisons one labeler is asked (practice not counted).
    pub per_labeler_max: u32,
    /// Practice comparisons with known answers each labeler answered before.
    pub gold: u32,
    /// The spread of response quality; `None`: the better response is always the truth.
    pub spread: Option<f64>,
    /// The labelers' skills.
    pub skill: Skill,
    /// The tournament's rule.
    pub rule: BestOfRule,
    /// Votes per match of the replicated knockout it is compared with.
    pub peer_votes: u32,
    /// Runs.
    pub runs: u32,
    /// Seed of run 0; run `r` uses streams keyed by `r`.
    pub seed: u64,
}

impl Default for BestOfSetup {
    fn default() -> Self {
        BestOfSetup {
            responses: 64,
            labelers: 20,
            per_labeler_max: 40,
            gold: 10,
            spread: None,
            skill: Skill::default(),
            rule: BestOfRule::default(),
            peer_votes: 9,
            runs: 1000,
            seed: 1,
        }
    }
}

/// How one method did over the runs.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MethodSummary {
    /// Share of runs in which the winner was the best response.
    pub best_chosen: f64,
    /// Share of runs in which the winner was one of the three best.
    pub top3_chosen: f64,
    /// Comparisons per run: mean.
    pub comparisons_mean: f64,
    /// Comparisons per run: most.
    pub comparisons_max: u32,
    /// The most comparisons any labeler was asked in any run.
    pub per_labeler_max: u32,
    /// Rounds per run: mean.
    pub rounds_mean: f64,
    /// Rounds per run: most.
    pub rounds_max: u32,
    /// Share of runs that ended without a winner (labelers ran out of capacity).
    pub unfinished: f64,
    /// Mean stated confidence of the winner (tournament only).
    pub stated_confidence: Option<f64>,
}

/// Both methods over the same runs.
#[derive(Clone, Debug, Serialize)]
pub struct BestOfReport {
    /// What ran.
    pub setup: BestOfSetup,
    /// The adaptive tournament.
    pub tournament: MethodSummary,
    /// The replicated knockout.
    pub replicated_knockout: MethodSummary,
    /// The tournament as rounds of one experiment through the protocol (see
    /// [`run_in_experiments`]), when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_experiment: Option<MethodSummary>,
}

/// One run's outcome.
struct RunOutcome {
    best: bool,
    top3: bool,
    comparisons: u32,
    per_labeler_max: u32,
    rounds: u32,
    finished: bool,
    confidence: Option<f64>,
}

/// Runs the tournament and the replicated knockout `setup.runs` times.
pub fn run(setup: &BestOfSetup) -> BestOfReport {
    let peer_rule = BestOfRule {
        // Out of reach, so only the vote cap decides: a fixed number of votes per match.
        confidence: plumbline_core::fixed::Ppm::new(999_999).expect("below one"),
        first_votes: setup.peer_votes,
        match_votes_max: setup.peer_votes,
        budget: u32::MAX,
    };
    let mut ours = Vec::new();
    let mut peer = Vec::new();
    for r in 0..setup.runs {
        let world = World::draw(setup, u64::from(r));
        ours.push(world.play(&setup.rule, Some(&world.gold), setup.per_labeler_max));
        peer.push(world.play(&peer_rule, None, u32::MAX));
    }
    BestOfReport {
        setup: setup.clone(),
        tournament: summarize(&ours, true),
        replicated_knockout: summarize(&peer, false),
        in_experiment: None,
    }
}

fn summarize(runs: &[RunOutcome], stated: bool) -> MethodSummary {
    let n = runs.len().max(1) as f64;
    let mean = |f: &dyn Fn(&RunOutcome) -> f64| runs.iter().map(f).sum::<f64>() / n;
    MethodSummary {
        best_chosen: mean(&|r| f64::from(u8::from(r.best))),
        top3_chosen: mean(&|r| f64::from(u8::from(r.top3))),
        comparisons_mean: mean(&|r| f64::from(r.comparisons)),
        comparisons_max: runs.iter().map(|r| r.comparisons).max().unwrap_or(0),
        per_labeler_max: runs.iter().map(|r| r.per_labeler_max).max().unwrap_or(0),
        rounds_mean: mean(&|r| f64::from(r.rounds)),
        rounds_max: runs.iter().map(|r| r.rounds).max().unwrap_or(0),
        unfinished: mean(&|r| f64::from(u8::from(!r.finished))),
        stated_confidence: stated.then(|| mean(&|r| r.confidence.unwrap_or(0.0))),
    }
}

/// One run's responses and labelers.
struct World {
    seed: u64,
    run: u64,
    quality: Vec<f64>,
    spread: Option<f64>,
    skills: Vec<f64>,
    gold: Vec<Record>,
    order: Vec<u32>,
}

impl World {
    fn draw(setup: &BestOfSetup, run: u64) -> World {
        let mut rng = Rng::stream(setup.seed, Tag::Adaptive, &[run, 0]);
        let spread = setup.spread.unwrap_or(1.0);
        let quality: Vec<f64> = (0..setup.responses).map(|_| rng.normal() * spread).collect();
        let skills: Vec<f64> = (0..setup.labelers).map(|_| setup.skill.draw(&mut rng)).collect();
        let gold = skills
            .iter()
            .map(|&s| {
                let right = (0..setup.gold).filter(|_| rng.chance(s)).count() as u64;
                Record { right, answered: u64::from(setup.gold) }
            })
            .collect();
        let mut order: Vec<u32> = (0..setup.responses).collect();
        rng.shuffle(&mut order);
        World { seed: setup.seed, run, quality, spread: setup.spread, skills, gold, order }
    }

    /// How many responses are better than `response` (0 for the best).
    fn rank(&self, response: u32) -> usize {
        let q = self.quality[response as usize];
        self.quality.iter().filter(|&&other| other > q).count()
    }

    /// Labeler `l`'s vote on `a` against `b`, from its own stream for this pair.
    fn vote(&self, l: u32, a: u32, b: u32, method: u64) -> Vote {
        let mut rng = Rng::stream(
            self.seed,
            Tag::Adaptive,
            &[self.run, 1 + method, u64::from(l), u64::from(a), u64::from(b)],
        );
        let (qa, qb) = (self.quality[a as usize], self.quality[b as usize]);
        let a_is_truth = match self.spread {
            None => qa > qb,
            Some(_) => rng.chance(1.0 / (1.0 + (qb - qa).exp())),
        };
        let a_wins = a_is_truth == rng.chance(self.skills[l as usize]);
        if a_wins {
            Vote { labeler: l, winner: a, loser: b }
        } else {
            Vote { labeler: l, winner: b, loser: a }
        }
    }

    /// Plays a knockout under `rule`. The tournament weighs votes by the labelers' records
    /// (`gold`, and agreement with decided matches) and gives each comparison to the heaviest
    /// labelers with capacity; without records every vote weighs the same and labelers are
    /// taken in a seeded order.
    fn play(&self, rule: &BestOfRule, gold: Option<&[Record]>, cap: u32) -> RunOutcome {
        let method = u64::from(gold.is_none());
        let equal = vec![vote_weight(0, 0, 2); self.skills.len()];
        let mut t = Tournament::new(&self.order, rule);
        let mut used = vec![0u32; self.skills.len()];
        let mut rounds = 0;
        loop {
            let weights = gold.map_or_else(|| equal.clone(), |g| t.weights(g));
            let mut rng = Rng::stream(self.seed, Tag::Adaptive, &[self.run, 3 + method, rounds]);
            let mut votes: Vec<Vote> = Vec::new();
            for c in t.next_round() {
                let same_match = |v: &Vote| {
                    v.winner.min(v.loser) == c.left.min(c.right)
                        && v.winner.max(v.loser) == c.left.max(c.right)
                };
                let mut free: Vec<u32> = (0..used.len() as u32)
                    .filter(|&l| used[l as usize] < cap && !t.voted(l, c.left, c.right))
                    .filter(|&l| !votes.iter().any(|v| v.labeler == l && same_match(v)))
                    .collect();
                rng.shuffle(&mut free);
                if gold.is_some() {
                    free.sort_by_key(|&l| {
                        (std::cmp::Reverse(weights[l as usize]), used[l as usize])
                    });
                }
                for &l in free.iter().take(c.votes as usize) {
                    used[l as usize] += 1;
                    votes.push(self.vote(l, c.left, c.right, method));
                }
            }
            if votes.is_empty() {
                let rank = t.winner().map(|w| self.rank(w));
                return RunOutcome {
                    best: rank == Some(0),
                    top3: rank.is_some_and(|r| r < 3),
                    comparisons: t.votes_used() as u32,
                    per_labeler_max: used.iter().copied().max().unwrap_or(0),
                    rounds: rounds as u32,
                    finished: t.winner().is_some(),
                    confidence: t.winner_confidence(),
                };
            }
            rounds += 1;
            t.record_round(&votes, &weights);
        }
    }
}

/// Comparisons in one block of a best-of experiment: a labeler's cap is a whole number of
/// blocks.
pub const EXPERIMENT_BLOCK: u32 = 4;

/// The tournament played as rounds of one experiment through the protocol
/// ([`plumbline_core::synthetic::knockout`]), `runs` times: the same number of responses and
/// labelers of the same skills as [`run`], each comparison of a round dealt in blocks of
/// [`EXPERIMENT_BLOCK`] with one gold comparison to whoever joins and is admitted, votes
/// weighed by the experiment's own gold instead of practice, labels committed and revealed, and
/// the whole experiment settled and replayed from its record. A labeler's cap counts the
/// comparisons of matches, as the tournament's budget does; its gold comes on top, one per
/// block. The quality of responses has no spread.
pub fn run_in_experiments(setup: &BestOfSetup, runs: u32) -> MethodSummary {
    use plumbline_core::synthetic::knockout::{Params, run};
    let outcomes: Vec<RunOutcome> = (0..runs)
        .map(|r| {
            let world = World::draw(setup, u64::from(r));
            let params = Params {
                responses: setup.responses,
                skills: world.skills.iter().map(|s| (s * 1e6).round() as u32).collect(),
                gold_tasks: 400,
                block_size: EXPERIMENT_BLOCK,
                gold_per_batch: 1,
                batches_max: (setup.per_labeler_max / EXPERIMENT_BLOCK).max(1),
                rounds: plumbline_core::rounds::BEST_OF_ROUNDS_MAX,
                first_votes: setup.rule.first_votes,
                match_votes_max: setup.rule.match_votes_max,
                confidence: setup.rule.confidence,
            };
            let seed = setup.seed.wrapping_mul(1_000_003).wrapping_add(u64::from(r));
            let done =
                run(&params, seed).expect("a synthetic best-of experiment follows the protocol");
            let experiment =
                plumbline_core::record::replay(&done.record).expect("a settled record replays");
            let played = &experiment.knockouts()[0];
            let batches = experiment.batches();
            let tasks = &done.record.tasks;
            let per_labeler = done
                .addresses
                .iter()
                .map(|a| {
                    let mine = batches.iter().filter(|b| b.labeler == *a);
                    mine.flat_map(|b| &b.tasks).filter(|&&t| !tasks[t as usize].is_gold()).count()
                })
                .max()
                .unwrap_or(0);
            let rank = played.winner().map(|w| done.rank[w as usize]);
            RunOutcome {
                best: rank == Some(0),
                top3: rank.is_some_and(|r| r < 3),
                comparisons: played.votes_used() as u32,
                per_labeler_max: per_labeler as u32,
                rounds: batches.iter().map(|b| b.round + 1).max().unwrap_or(0),
                finished: played.winner().is_some(),
                confidence: played.winner_confidence(),
            }
        })
        .collect();
    summarize(&outcomes, true)
}
