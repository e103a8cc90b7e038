//! The crowd's best of N responses (N up to 64): a knockout over a seeded bracket whose matches
//! are sequential tests. A match asks `first_votes` labelers, then, round after round, as many
//! more as a typical labeler's votes would need to close the gap, until the weighted evidence
//! for one side reaches the match's threshold or the match holds `match_votes_max` votes. A
//! match of the next level starts as soon as both its entrants are known, so the bracket does
//! not wait for its slowest match. A budget bounds the comparisons of the whole tournament:
//! every match's first votes are kept for it, and once the rest is spent, open matches are
//! decided by the sign of their evidence.
//!
//! **Confidence.** The winner is the true best when it won every match it played; each match's
//! threshold is the log-odds of `1 − (1 − confidence)/levels`, so under the vote model (each
//! labeler prefers the better response with the accuracy its weight says, independently) the
//! chance that the best response is knocked out by a match that reached its threshold is at
//! most `1 − confidence`.
//!
//! **Weights.** A round's votes weigh what each labeler's record says when the round starts:
//! its answers to gold comparisons, and its votes on matches decided before, counted right where
//! they went the decided way. A labeler who votes against the crowd loses weight as it goes.
//!
//! **Determinism.** The tournament is replayed round by round from the bracket's order, every
//! revealed vote with its round, and the labelers' gold records; within a round the order of
//! votes does not matter, and a labeler's second vote on one match is ignored.

use super::{Prior, margin_for, vote_weight, vote_weight_toward};
use crate::fixed::{Ppm, SCALE};
use serde::{Deserialize, Serialize};

/// The most responses one best-of task compares.
pub const RESPONSES_MAX: u32 = 64;

/// A labeler right four times in five: its votes decide how many more a split match asks for.
const TYPICAL_WEIGHT: u64 = 1_386_294;

/// How sure a best-of tournament must be, and how it spends votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BestOfRule {
    /// Under the vote model, the chance that the winner is the best response.
    pub confidence: Ppm,
    /// Votes a match asks for in its first round.
    pub first_votes: u32,
    /// The most votes one match takes; past it the evidence's sign decides.
    pub match_votes_max: u32,
    /// The most comparisons the whole tournament asks for.
    pub budget: u32,
}

impl Default for BestOfRule {
    fn default() -> Self {
        BestOfRule {
            confidence: Ppm::new(950_000).expect("below one"),
            first_votes: 3,
            match_votes_max: 15,
            budget: BestOfRule::budget_for(RESPONSES_MAX),
        }
    }
}

impl BestOfRule {
    /// The default budget for `responses`: 6.25 comparisons per response (400 for 64).
    pub fn budget_for(responses: u32) -> u32 {
        responses * 25 / 4
    }

    /// Checks the rule for `responses`: a confidence above one half and below one, at least one
    /// first vote, a match cap not below it, and a budget that holds every match's first votes.
    pub fn validate(&self, responses: u32) -> Result<(), String> {
        if !(2..=RESPONSES_MAX).contains(&responses) {
            return Err(format!(
                "best-of compares 2 to {RESPONSES_MAX} responses, got {responses}"
            ));
        }
        super::check_confidence(self.confidence, "best-of")?;
        if self.first_votes == 0 || self.match_votes_max < self.first_votes {
            return Err(format!(
                "a match needs at least one first vote and a vote cap ({}) not below it ({})",
                self.match_votes_max, self.first_votes
            ));
        }
        let firsts = u64::from(self.first_votes) * u64::from(responses - 1);
        if u64::from(self.budget) < firsts {
            return Err(format!(
                "a budget of {} comparisons cannot give {} matches {} first votes each",
                self.budget,
                responses - 1,
                self.first_votes
            ));
        }
        Ok(())
    }

    /// The evidence a match needs for `responses` entrants: the log-odds of
    /// `1 − (1 − confidence)/levels`, levels = ⌈log2 responses⌉.
    pub fn match_threshold(&self, responses: u32) -> u64 {
        let levels = u64::from(responses.max(2).next_power_of_two().trailing_zeros());
        let miss = (SCALE as u64 - u64::from(self.confidence.get())) / levels;
        let per_match = Ppm::new((SCALE as u64 - miss.max(1)) as u32).expect("below one");
        margin_for(per_match, 2)
    }
}

/// A labeler's answer to "which of these two responses is better?".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// The labeler's index among the experiment's labelers (its weight's index).
    pub labeler: u32,
    /// The response it preferred.
    pub winner: u32,
    /// The response it preferred it to.
    pub loser: u32,
}

/// A comparison the next round asks for: `votes` more labelers each compare the two.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    /// The match's level: 0 for the first matches, the final last.
    pub level: u32,
    /// The entrant from the upper slot of the bracket.
    pub left: u32,
    /// The entrant from the lower slot.
    pub right: u32,
    /// How many more votes the match asks for.
    pub votes: u32,
}

/// One match of the bracket, with the evidence so far.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Match {
    /// Its level: 0 for the first matches, the final last.
    pub level: u32,
    /// The entrant from the upper slot.
    pub left: u32,
    /// The entrant from the lower slot.
    pub right: u32,
    /// Weighted evidence (log-odds, scale 10^6): positive favours `left`.
    pub evidence: i64,
    /// Distinct labelers who voted on it.
    pub votes: u32,
    /// The winner, once decided.
    pub winner: Option<u32>,
}

impl Match {
    /// The loser, once decided.
    pub fn loser(&self) -> Option<u32> {
        self.winner.map(|w| if w == self.left { self.right } else { self.left })
    }

    /// The posterior probability that the side the evidence favours is the better one,
    /// `1/(1 + e^(−|evidence|))`: for display and the export, never for a choice.
    pub fn confidence(&self) -> f64 {
        let margin = self.evidence.unsigned_abs() as f64 / SCALE as f64;
        1.0 / (1.0 + (-margin).exp())
    }
}

/// Where a response finished.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Standing {
    /// The response.
    pub response: u32,
    /// Matches it won.
    pub wins: u32,
    /// The level of the match it lost; `None` for the winner or one still in.
    pub lost_at: Option<u32>,
    /// The confidence of the match it lost (how sure the crowd was it is worse than the one
    /// that beat it); `None` when it lost none.
    pub lost_confidence: Option<f64>,
}

/// A labeler's evidence for its weight: answers that were right, of those that could be
/// checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Right answers.
    pub right: u64,
    /// Answers checked.
    pub answered: u64,
}

impl Record {
    /// The weight of its vote.
    pub fn weight(&self) -> u64 {
        vote_weight(self.right, self.answered, 2)
    }
}

/// Gold answers the pooled prior needs before it replaces the default 0.7.
pub const POOLED_GOLD_MIN: u64 = 20;

/// The accuracy every labeler's weight shrinks towards: the crowd's pooled accuracy on gold,
/// once it holds [`POOLED_GOLD_MIN`] answers (0.7 before). A careful crowd's first votes then
/// weigh what careful votes are worth, and a careless one's weigh less.
pub fn pooled_prior(gold: &[Record]) -> Prior {
    let right = gold.iter().map(|r| r.right).sum();
    let answered = gold.iter().map(|r| r.answered).sum();
    if answered >= POOLED_GOLD_MIN { Prior { right, answered } } else { Prior::DEFAULT }
}

/// One match while it is played: its voters and their weights.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Played {
    shown: Match,
    /// Its slot pair's index within its level.
    slot: usize,
    voters: Vec<u32>,
    /// Per voter: whether it preferred the left entrant.
    sides: Vec<bool>,
}

/// A knockout over a bracket, built round by round from votes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tournament {
    rule: BestOfRule,
    threshold: u64,
    responses: u32,
    /// Entrants by level: level 0 is the bracket's order; slot `k` of level `l + 1` holds the
    /// winner of match `k` of level `l` (or the odd one out).
    slots: Vec<Vec<Option<u32>>>,
    played: Vec<Played>,
    votes_used: u64,
}

impl Tournament {
    /// The bracket over `order` (a permutation of the responses; pairs are taken in turn, an
    /// odd one out waits a level), before any vote.
    pub fn new(order: &[u32], rule: &BestOfRule) -> Tournament {
        let responses = order.len() as u32;
        let mut slots = vec![order.iter().copied().map(Some).collect::<Vec<_>>()];
        while slots.last().expect("a level").len() > 1 {
            let below = slots.last().expect("a level").len();
            slots.push(vec![None; below.div_ceil(2)]);
        }
        let mut t = Tournament {
            rule: *rule,
            threshold: rule.match_threshold(responses),
            responses,
            slots,
            played: Vec::new(),
            votes_used: 0,
        };
        t.advance();
        t
    }

    /// Replays every round: round `r`'s votes weigh what each labeler's record (its gold
    /// answers, and its votes that agreed with matches decided before round `r`) says.
    pub fn replay(
        order: &[u32],
        rounds: &[Vec<Vote>],
        gold: &[Record],
        rule: &BestOfRule,
    ) -> Tournament {
        let mut t = Tournament::new(order, rule);
        for votes in rounds {
            let weights = t.weights(gold);
            t.record_round(votes, &weights);
        }
        t
    }

    /// Every labeler's weight now: its gold answers plus its votes on decided matches, right
    /// where they went the decided way.
    pub fn weights(&self, gold: &[Record]) -> Vec<u64> {
        let mut records = gold.to_vec();
        self.add_agreement(&mut records);
        let prior = pooled_prior(gold);
        records.iter().map(|r| vote_weight_toward(r.right, r.answered, 2, prior)).collect()
    }

    /// Adds to each labeler's record its votes on decided matches, right where they went the
    /// decided way.
    pub fn add_agreement(&self, records: &mut [Record]) {
        for p in &self.played {
            let Some(winner) = p.shown.winner else { continue };
            for (&labeler, &for_left) in p.voters.iter().zip(&p.sides) {
                if let Some(r) = records.get_mut(labeler as usize) {
                    r.answered += 1;
                    r.right += u64::from(for_left == (winner == p.shown.left));
                }
            }
        }
    }

    /// Adds one round's votes, each weighing its labeler's weight; decides the matches that
    /// reached their threshold, their cap, or (once the budget is spent) have votes; and starts
    /// the matches whose entrants are now known. A vote on a pair that is not an open match,
    /// and a labeler's second vote on a match, are ignored.
    pub fn record_round(&mut self, votes: &[Vote], weights: &[u64]) {
        for v in votes {
            let key = (v.winner.min(v.loser), v.winner.max(v.loser));
            let Some(p) = self.played.iter_mut().find(|p| {
                p.shown.winner.is_none()
                    && (p.shown.left.min(p.shown.right), p.shown.left.max(p.shown.right)) == key
            }) else {
                continue;
            };
            if p.voters.contains(&v.labeler) {
                continue;
            }
            let for_left = v.winner == p.shown.left;
            let weight = weights.get(v.labeler as usize).copied().unwrap_or(0) as i64;
            p.voters.push(v.labeler);
            p.sides.push(for_left);
            p.shown.votes += 1;
            p.shown.evidence += if for_left { weight } else { -weight };
            self.votes_used += 1;
        }
        let spent = self.spare() == 0;
        for p in &mut self.played {
            let m = &mut p.shown;
            let decided = m.evidence.unsigned_abs() >= self.threshold
                || m.votes >= self.rule.match_votes_max
                || (spent && m.votes > 0);
            if m.winner.is_none() && decided {
                m.winner = Some(if m.evidence >= 0 { m.left } else { m.right });
            }
        }
        self.advance();
    }

    /// Moves winners and odd ones out up the bracket and starts every match whose two entrants
    /// are known. Levels are taken in order, so an odd one out moved up is seen at once.
    fn advance(&mut self) {
        for p in &self.played {
            if let Some(winner) = p.shown.winner {
                self.slots[p.shown.level as usize + 1][p.slot] = Some(winner);
            }
        }
        for level in 0..self.slots.len() - 1 {
            let width = self.slots[level].len();
            if width % 2 == 1 {
                self.slots[level + 1][width / 2] = self.slots[level][width - 1];
            }
            for slot in 0..width / 2 {
                let pair = (self.slots[level][2 * slot], self.slots[level][2 * slot + 1]);
                let (Some(left), Some(right)) = pair else { continue };
                let started =
                    self.played.iter().any(|p| p.shown.level == level as u32 && p.slot == slot);
                if !started {
                    let shown = Match {
                        level: level as u32,
                        left,
                        right,
                        evidence: 0,
                        votes: 0,
                        winner: None,
                    };
                    self.played.push(Played { shown, slot, voters: Vec::new(), sides: Vec::new() });
                }
            }
        }
    }

    /// Comparisons left beyond the first votes kept for every match not yet voted on.
    fn spare(&self) -> u64 {
        let voted = self.played.iter().filter(|p| p.shown.votes > 0).count() as u64;
        let unvoted = u64::from(self.responses.saturating_sub(1)).saturating_sub(voted);
        u64::from(self.rule.budget)
            .saturating_sub(self.votes_used + unvoted * u64::from(self.rule.first_votes))
    }

    /// The best response, once the final is decided.
    pub fn winner(&self) -> Option<u32> {
        self.slots.last().and_then(|top| top[0])
    }

    /// Every match started so far, in the order they started.
    pub fn matches(&self) -> impl Iterator<Item = &Match> {
        self.played.iter().map(|p| &p.shown)
    }

    /// Whether `labeler` has voted on the match of `a` and `b`.
    pub fn voted(&self, labeler: u32, a: u32, b: u32) -> bool {
        let key = (a.min(b), a.max(b));
        self.played.iter().any(|p| {
            (p.shown.left.min(p.shown.right), p.shown.left.max(p.shown.right)) == key
                && p.voters.contains(&labeler)
        })
    }

    /// Comparisons asked so far.
    pub fn votes_used(&self) -> u64 {
        self.votes_used
    }

    /// What the next round asks: first votes for every match not yet voted on, then more
    /// votes for the open matches, latest level first, as far as the budget's spare goes.
    pub fn next_round(&self) -> Vec<Comparison> {
        let mut spare = self.spare();
        let mut open: Vec<&Match> = self.matches().filter(|m| m.winner.is_none()).collect();
        open.sort_by_key(|m| std::cmp::Reverse(m.level));
        open.into_iter()
            .filter_map(|m| {
                let wanted = if m.votes == 0 {
                    u64::from(self.rule.first_votes)
                } else {
                    let gap = self.threshold - m.evidence.unsigned_abs();
                    let wanted = gap.div_ceil(TYPICAL_WEIGHT).max(1).min(spare);
                    spare -= wanted;
                    wanted
                };
                let votes = (wanted as u32).min(self.rule.match_votes_max - m.votes);
                (votes > 0).then_some(Comparison {
                    level: m.level,
                    left: m.left,
                    right: m.right,
                    votes,
                })
            })
            .collect()
    }

    /// Under the vote model, the chance that the winner is the best: the product of the
    /// confidences of the matches it won (for display and the export).
    pub fn winner_confidence(&self) -> Option<f64> {
        let winner = self.winner()?;
        Some(self.matches().filter(|m| m.winner == Some(winner)).map(Match::confidence).product())
    }

    /// Every response, best first: the winner, then by the level of the match each lost
    /// (later is better), then by wins, then by how close that loss was, then by index.
    pub fn ranking(&self) -> Vec<Standing> {
        let mut standings: Vec<Standing> = (0..self.responses)
            .map(|response| Standing { response, wins: 0, lost_at: None, lost_confidence: None })
            .collect();
        for m in self.matches() {
            let (Some(winner), Some(loser)) = (m.winner, m.loser()) else { continue };
            standings[winner as usize].wins += 1;
            let lost = &mut standings[loser as usize];
            lost.lost_at = Some(m.level);
            lost.lost_confidence = Some(m.confidence());
        }
        standings.sort_by(|a, b| {
            let still_in = |s: &Standing| s.lost_at.is_none();
            still_in(b)
                .cmp(&still_in(a))
                .then(b.lost_at.cmp(&a.lost_at))
                .then(b.wins.cmp(&a.wins))
                .then(a.lost_confidence.partial_cmp(&b.lost_confidence).expect("finite"))
                .then(a.response.cmp(&b.response))
        });
        standings
    }

    /// The preference pairs the decided matches give: (preferred, rejected, confidence).
    pub fn pairs(&self) -> Vec<(u32, u32, f64)> {
        self.matches().filter_map(|m| Some((m.winner?, m.loser()?, m.confidence()))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVEN: u64 = TYPICAL_WEIGHT;

    fn votes_for(winner: u32, loser: u32, labelers: std::ops::Range<u32>) -> Vec<Vote> {
        labelers.map(|labeler| Vote { labeler, winner, loser }).collect()
    }

    fn first(t: &Tournament) -> &Match {
        t.matches().next().expect("a match")
    }

    #[test]
    fn the_first_round_pairs_the_bracket_and_asks_first_votes() {
        let t = Tournament::new(&[3, 0, 2, 1, 4], &BestOfRule::default());
        assert_eq!(
            t.next_round(),
            vec![
                Comparison { level: 0, left: 3, right: 0, votes: 3 },
                Comparison { level: 0, left: 2, right: 1, votes: 3 }
            ]
        );
        assert_eq!(t.winner(), None);
    }

    #[test]
    fn unanimous_votes_carry_the_best_through_every_level() {
        let mut t = Tournament::new(&[0, 1, 2, 3], &BestOfRule::default());
        let weights = [EVEN; 8];
        // Response 2 is best, then 0, 3, 1; labelers vote that way, four each.
        let mut round = votes_for(0, 1, 0..4);
        round.extend(votes_for(2, 3, 0..4));
        t.record_round(&round, &weights);
        assert_eq!(t.next_round(), vec![Comparison { level: 1, left: 0, right: 2, votes: 3 }]);
        t.record_round(&votes_for(2, 0, 4..8), &weights);
        assert_eq!(t.winner(), Some(2));
        assert!(t.next_round().is_empty());
        let ranking: Vec<u32> = t.ranking().iter().map(|s| s.response).collect();
        assert_eq!(ranking[0..2], [2, 0]);
        assert_eq!(t.pairs().len(), 3);
        // Four votes of weight ln 4 in each match: 0.9961 sure, twice.
        assert!(t.winner_confidence().unwrap() > 0.99);
    }

    #[test]
    fn an_odd_one_out_waits_a_level() {
        let mut t = Tournament::new(&[0, 1, 2], &BestOfRule::default());
        assert_eq!(t.next_round().len(), 1);
        t.record_round(&votes_for(1, 0, 0..4), &[EVEN; 8]);
        assert_eq!(t.next_round(), vec![Comparison { level: 1, left: 1, right: 2, votes: 3 }]);
    }

    #[test]
    fn a_split_match_asks_for_more_and_the_cap_ends_it() {
        let rule = BestOfRule { match_votes_max: 6, ..BestOfRule::default() };
        let mut t = Tournament::new(&[0, 1], &rule);
        let mut round = votes_for(0, 1, 0..2);
        round.extend(votes_for(1, 0, 2..3));
        t.record_round(&round, &[EVEN; 10]);
        let asked = t.next_round();
        assert_eq!(asked.len(), 1);
        assert!(asked[0].votes >= 2, "{asked:?}");
        let mut round = votes_for(1, 0, 3..5);
        round.extend(votes_for(0, 1, 5..6));
        t.record_round(&round, &[EVEN; 10]);
        // 3–3 at the cap: the upper slot goes through.
        assert_eq!(t.winner(), Some(0));
    }

    #[test]
    fn repeated_votes_and_weightless_labelers_count_nothing() {
        let mut weights = vec![EVEN; 4];
        weights[3] = 0;
        let mut round = votes_for(1, 0, 0..1);
        round.extend(votes_for(1, 0, 0..1));
        round.extend(votes_for(0, 1, 3..4));
        let mut t = Tournament::new(&[0, 1], &BestOfRule::default());
        t.record_round(&round, &weights);
        assert_eq!(first(&t).votes, 2);
        assert_eq!(first(&t).evidence, -(EVEN as i64));
    }

    #[test]
    fn the_vote_order_within_a_round_does_not_matter() {
        let gold: Vec<Record> = (0..6).map(|i| Record { right: i, answered: 6 }).collect();
        let mut round = votes_for(0, 1, 0..3);
        round.extend(votes_for(1, 0, 3..6));
        let forward = Tournament::replay(&[0, 1], &[round.clone()], &gold, &BestOfRule::default());
        round.reverse();
        let backward = Tournament::replay(&[0, 1], &[round], &gold, &BestOfRule::default());
        assert!(forward.matches().eq(backward.matches()));
        assert_eq!(forward.weights(&gold), backward.weights(&gold));
    }

    #[test]
    fn a_labeler_who_voted_against_decided_matches_loses_weight() {
        let gold = vec![Record::default(); 7];
        let mut round = votes_for(0, 1, 0..6);
        round.extend(votes_for(1, 0, 6..7));
        round.extend(votes_for(2, 3, 0..6));
        round.extend(votes_for(3, 2, 6..7));
        let t = Tournament::replay(&[0, 1, 2, 3], &[round], &gold, &BestOfRule::default());
        let weights = t.weights(&gold);
        assert!(weights[6] < weights[0], "{weights:?}");
        assert_eq!(weights[0], vote_weight(2, 2, 2));
        assert_eq!(weights[6], vote_weight(0, 2, 2));
    }

    #[test]
    fn the_budget_keeps_first_votes_for_every_match_and_then_decides_by_sign() {
        // Four responses, three matches, three first votes each: 9 of a budget of 11 kept.
        let rule = BestOfRule { budget: 11, ..BestOfRule::default() };
        let weights = [EVEN; 12];
        let mut t = Tournament::new(&[0, 1, 2, 3], &rule);
        let mut round = votes_for(0, 1, 0..2);
        round.extend(votes_for(1, 0, 2..3));
        round.extend(votes_for(2, 3, 0..3));
        t.record_round(&round, &weights);
        // 6 used and 3 kept for the final: 2 spare, both for the split match.
        assert_eq!(t.next_round(), vec![Comparison { level: 0, left: 0, right: 1, votes: 2 }]);
        let mut round = votes_for(1, 0, 3..4);
        round.extend(votes_for(0, 1, 4..5));
        t.record_round(&round, &weights);
        // Spent: the split match goes to its evidence's sign (3–2 for 0), and the final gets
        // its first votes and nothing more.
        assert_eq!(first(&t).winner, Some(0));
        assert_eq!(t.next_round(), vec![Comparison { level: 1, left: 0, right: 2, votes: 3 }]);
        let mut round = votes_for(2, 0, 5..7);
        round.extend(votes_for(0, 2, 7..8));
        t.record_round(&round, &weights);
        assert_eq!(t.winner(), Some(2));
        assert!(t.next_round().is_empty());
        assert_eq!(t.votes_used(), 11);
    }

    #[test]
    fn thresholds_split_the_miss_over_the_levels() {
        let rule = BestOfRule::default();
        // 64 responses: six levels, each match 1 − 0.05/6 sure: ln(991667/8333) = 4.779164.
        assert_eq!(rule.match_threshold(64), 4_779_163);
        assert!(rule.match_threshold(2) < rule.match_threshold(64));
        assert_eq!(rule.budget, 400);
        assert!(rule.validate(64).is_ok());
        assert!(BestOfRule { first_votes: 0, ..rule }.validate(64).is_err());
        assert!(BestOfRule { match_votes_max: 2, ..rule }.validate(64).is_err());
        assert!(BestOfRule { budget: 188, ..rule }.validate(64).is_err());
        assert!(rule.validate(65).is_err());
    }
}
