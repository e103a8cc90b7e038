//! Settlement: scores every labeler, sorts it into a tier, and splits the money. Deterministic
//! integers from end to end, so `audit` recomputes the same bytes.
//!
//! Before scoring, gold the crowd contradicts is dropped and copies are found and judged by
//! skill (see [`crate::screen`]). The reward test is a permutation test (see
//! [`crate::reward_test`]); so is each experiment's slashing evidence, which adds up over the
//! career as e-values (see [`crate::slash_test`]); the strata's slashing bounds are Bernstein's
//! on the mean of all items (see [`Tally::mean_upper_bound`]). Then:
//!
//! - *rewarded*: this experiment's mean, its gold counting for at most twice its peer mean,
//!   is above zero and beats the rearrangements of its regular labels at δ_reward (of its gold
//!   labels when it has no peer items), so that being right on gold cannot pay when the labels
//!   that make the dataset are uninformative; its λ-weighted score is positive; it is paid for
//!   some of its work (copies its skill does not explain are paid nothing); and it is below
//!   chance in no declared stratum (see [`crate::strata`]): its score there is not below zero
//!   where it has at least [`STRATUM_ITEMS_MIN`] items, and on any number of items the stratum
//!   test ([`RewardTest::stratum_p_value`]) does not pass at δ_reward/4; caught there while
//!   careful-looking overall, it pays the chance fee its reward would have been. It gets a
//!   share of the pot proportional to
//!   `n · min(s, m) · pay_share`, at most three times the pot's share per scored item;
//! - *slashed*: below zero here, and the career's evidence that it is below chance (this
//!   experiment's included) has reached ln(2/δ); or, in this experiment, confidently below
//!   chance in a declared stratum at the stratum's share of the other δ/2 (see `ln_strata`);
//!   loses `slash_bps` of the stake of its revealed batches. On subjective
//!   questions only the gold part can slash; on others a positive peer part protects it, so
//!   that gold alone, which the experimenter writes, never slashes labelers whom their peers
//!   vouch for;
//! - *even*: otherwise; the stake comes back and nothing is earned, less the chance fee when
//!   its mean is below zero and its peers do not vouch for it with confidence, or the copy fee
//!   when its batches are copies its skill does not explain (see [`charge_fees`]).
//!
//! A batch not revealed loses `max(non_reveal_slash_bps, slash_bps)` of its stake. The pot is
//! the reward pool plus slashed stake when it is redistributed; rewards are floored and the
//! remainder (dust, what the caps leave, or all of it when nobody is rewarded) is refunded to
//! the experimenter up to its reward pool, and burned beyond: slashed stake never reaches the
//! experimenter. Exactly: `reward_pool + Σ stakes = Σ rewards + Σ stakes returned + refund +
//! burned`, and `refund ≤ reward_pool`.

use crate::fixed::{Ppm, SCALE, ln_inverse, ln_inverse_split};
use crate::label::{Agreement, Label};
use crate::limits::STRATUM_ITEMS_MIN;
use crate::merkle;
use crate::reputation::Reputation;
use crate::reward_test::{Looks, RewardTest, Verdict};
use crate::score::{self, Observation, Scorer, Tally};
use crate::screen;
use crate::slash_test;
use crate::spec::{ExperimentSpec, SlashedFunds};
use crate::strata::{Strata, Stratum};
use crate::task::Task;
use crate::{Address, Amount, B256, U256, amount};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One batch as settlement sees it: who took it, its stake, and its labels if revealed.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchOutcome {
    /// The batch.
    pub batch_id: u64,
    /// Its labeler.
    pub labeler: Address,
    /// The labeler's cohort, if any.
    pub cohort: Option<String>,
    /// The stake locked for it.
    pub stake: Amount,
    /// Canonical labels by task index when revealed (and verified against the commitment).
    pub labels: Option<Vec<(u32, Label)>>,
}

/// A labeler's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Confidently informative: paid from the pot.
    Rewarded,
    /// Not distinguishable from chance: stake back, nothing earned.
    Even,
    /// Confidently worse than chance: part of the stake lost.
    Slashed,
}

/// Everything settlement decided for one labeler.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelerResult {
    /// The labeler.
    pub labeler: Address,
    /// Batches taken.
    pub batches: u64,
    /// Batches revealed.
    pub revealed_batches: u64,
    /// Peer and gold sums and counts in this experiment.
    pub tally: Tally,
    /// Combined score at scale 10^6 with the gold mean capped by the peer mean (see
    /// [`Tally::gold_capped_by_peers`]), when anything was scored: what pay uses.
    pub score: Option<i64>,
    /// The reward test's p-value in parts per million (see [`crate::reward_test`]): the share
    /// of the arrangements of its labels over its tasks (among tasks that look alike), its own
    /// included, whose mean of every item alike (gold capped by peers) is at least its own; at
    /// most δ_reward to be rewarded. Counting stops once more than half of the arrangements
    /// score strictly higher, so such a value is a lower bound. None when that mean is not
    /// above zero.
    pub reward_p_ppm: Option<u32>,
    /// The slashing test's p-value in parts per million (see [`slash_test`]): the share of
    /// the arrangements of its labels over all its tasks, its own included, whose mean of every
    /// item alike (gold alone on subjective questions) is at most its own. 10^6 when that mean
    /// is not below zero.
    pub slash_p_ppm: u32,
    /// The career's evidence that it is below chance after this experiment: the sum of the
    /// natural logs of the e-values that counted, at scale 10^6 (see
    /// [`Reputation::slash_evidence_after`]). At least ln(2/δ) to be slashed.
    pub slash_evidence: i64,
    /// The tier.
    pub tier: Tier,
    /// The declared strata where its score is below chance: it is not rewarded, and its
    /// labels there are left out of the export.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub below_chance_in: Vec<Stratum>,
    /// The share of its scored items it is paid for, in parts per million: the mean over its
    /// revealed batches of `1/c`, c being the identical copies of the batch in its block
    /// (itself included); 0 when it is marked for unexplained copies; 10^6 without copies.
    pub pay_share_ppm: u32,
    /// Whether a batch of its, in this experiment or an earlier one of its record, was
    /// identical to others in its block beyond what their gold accuracy explains (see
    /// [`screen::Copies::judge_by_skill`]): collusion, or one labeler's work under several
    /// identities. It is paid nothing, and its labels are left out of the export.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unexplained_copies: bool,
    /// Stake locked for all its batches.
    #[serde(with = "amount")]
    pub stake: Amount,
    /// Lost for being slashed.
    #[serde(with = "amount")]
    pub slash: Amount,
    /// Lost for batches not revealed.
    #[serde(with = "amount")]
    pub non_reveal_penalty: Amount,
    /// Lost for a mean below chance without being slashed: what makes a reward won by chance
    /// a losing bet (see [`charge_fees`]). Zero in settlements stored before it existed.
    #[serde(default, with = "amount")]
    pub chance_fee: Amount,
    /// Lost for batches identical to others beyond what skill explains in this experiment:
    /// what its score would have earned, so that answering alike as a group is a losing bet
    /// even for the members whose copies go unseen (see [`charge_fees`]). Zero in settlements
    /// stored before it existed.
    #[serde(default, with = "amount")]
    pub copy_fee: Amount,
    /// Stake given back.
    #[serde(with = "amount")]
    pub stake_returned: Amount,
    /// Share of the pot.
    #[serde(with = "amount")]
    pub reward: Amount,
    /// What it can claim: stake returned plus reward (the payout leaf amount).
    #[serde(with = "amount")]
    pub payout: Amount,
}

impl LabelerResult {
    /// The stake it lost: slash, non-reveal penalty and fees (all of it slashed stake).
    pub fn lost(&self) -> Amount {
        self.slash + self.non_reveal_penalty + self.chance_fee + self.copy_fee
    }

    /// Whether its label on `task` goes into the dataset (see [`LabelerResult::left_out_on`]).
    pub fn exports_label_on(&self, task: &Task) -> bool {
        self.left_out_on(task).is_none()
    }

    /// Why its label on `task` is left out of the dataset, if it is: it is slashed, its copies
    /// are unexplained, or it is below chance in a declared stratum that holds the task.
    ///
    /// A labeler merely below chance stays: the consensus model weighs each labeler by its
    /// agreement with the rest, and leaving such labelers out lowered the export's accuracy in
    /// every shipped scenario (`docs/simulation.md`).
    pub fn left_out_on(&self, task: &Task) -> Option<LeftOut> {
        if self.tier == Tier::Slashed {
            Some(LeftOut::Slashed)
        } else if self.unexplained_copies {
            Some(LeftOut::UnexplainedCopies)
        } else if self.below_chance_in.iter().any(|s| s.contains(task)) {
            Some(LeftOut::BelowChanceInStratum)
        } else {
            None
        }
    }
}

/// Why a label is left out of the dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftOut {
    /// Its labeler was slashed.
    Slashed,
    /// Its labeler's identical labels are copies its skill does not explain.
    UnexplainedCopies,
    /// Its labeler is below chance in a declared stratum that holds the task.
    BelowChanceInStratum,
}

/// Money totals of a settlement.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Escrowed by the experimenter.
    #[serde(with = "amount")]
    pub reward_pool: Amount,
    /// All stakes locked.
    #[serde(with = "amount")]
    pub stakes: Amount,
    /// Slashed stake (tier slashes, non-reveal penalties, chance and copy fees).
    #[serde(with = "amount")]
    pub slashed: Amount,
    /// The pot shared among rewarded labelers.
    #[serde(with = "amount")]
    pub pot: Amount,
    /// Paid as rewards.
    #[serde(with = "amount")]
    pub rewards: Amount,
    /// Stake given back.
    #[serde(with = "amount")]
    pub stakes_returned: Amount,
    /// Returned to the experimenter.
    #[serde(with = "amount")]
    pub refund: Amount,
    /// Destroyed.
    #[serde(with = "amount")]
    pub burned: Amount,
}

impl Totals {
    /// Checks `reward_pool + stakes = rewards + stakes_returned + refund + burned`, and that
    /// the experimenter gets back no more than its pool.
    pub fn check_conservation(&self) -> Result<(), String> {
        let inflow = self.reward_pool + self.stakes;
        let outflow = self.rewards + self.stakes_returned + self.refund + self.burned;
        if inflow != outflow {
            return Err(format!("money is not conserved: {inflow} in, {outflow} out"));
        }
        if self.refund > self.reward_pool {
            return Err(format!(
                "the refund {} exceeds the reward pool {}: slashed stake went to the experimenter",
                self.refund, self.reward_pool
            ));
        }
        Ok(())
    }
}

/// The settlement of one experiment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    /// Per labeler, sorted by address.
    pub labelers: Vec<LabelerResult>,
    /// Money totals.
    pub totals: Totals,
    /// Merkle root over `(address, uint256 payout)` leaves of every labeler (zero when none).
    pub payout_root: B256,
    /// Gold tasks left out of scoring because the crowd confidently contradicts their answer.
    pub gold_dropped: Vec<u32>,
}

impl Settlement {
    /// Checks everything a stored settlement must satisfy: conservation, per-labeler sums that
    /// add up to the totals, and no payout beyond the pot.
    pub fn check(&self) -> Result<(), String> {
        self.totals.check_conservation()?;
        let t = &self.totals;
        let sum = |f: fn(&LabelerResult) -> Amount| self.labelers.iter().map(f).sum::<Amount>();
        if sum(|l| l.reward) != t.rewards || sum(|l| l.stake) != t.stakes {
            return Err("per-labeler rewards or stakes do not add up to the totals".into());
        }
        if sum(|l| l.stake_returned) != t.stakes_returned {
            return Err("per-labeler stakes returned do not add up to the totals".into());
        }
        if t.rewards > t.pot {
            return Err(format!("rewards {} exceed the pot {}", t.rewards, t.pot));
        }
        Ok(())
    }
}

/// Settles an experiment. `reputations` is each labeler's record before this experiment.
pub fn settle(
    spec: &ExperimentSpec,
    tasks: &[Task],
    batches: &[BatchOutcome],
    reputations: &BTreeMap<Address, Reputation>,
) -> Settlement {
    let mut labelers: BTreeMap<Address, Vec<&BatchOutcome>> = BTreeMap::new();
    for batch in batches {
        labelers.entry(batch.labeler).or_default().push(batch);
    }
    let index: HashMap<Address, u32> =
        labelers.keys().enumerate().map(|(i, a)| (*a, i as u32)).collect();
    let addresses: Vec<Address> = labelers.keys().copied().collect();
    let scored = score_batches(spec, tasks, batches, &index, &addresses);

    let lambda = spec.peer_weight;
    let ln_reward = ln_inverse(spec.false_reward_rate);
    let reward_test = RewardTest::at(spec.false_reward_rate);
    let none = Reputation::default();
    let (mut results, fees): (Vec<LabelerResult>, Vec<FeeOwed>) = labelers
        .iter()
        .zip(&scored.scores.tallies)
        .enumerate()
        .map(|(i, ((labeler, own), tally))| {
            let reputation = reputations.get(labeler).unwrap_or(&none);
            // Caught answering alike beyond skill, here or before: nothing is paid for its work,
            // and when caught here it owes the copy fee.
            let caught_here = own.iter().any(|b| scored.copies.unexplained.contains(&b.batch_id));
            let caught = caught_here || reputation.colluded > 0;
            let paid_share = if caught { 0 } else { pay_share(own, &scored.copies) };
            let ln_strata = ln_strata(spec, reputation, &scored.strata);
            let strata = judge_strata(
                spec,
                &scored.strata,
                scored.scores.strata_of(i),
                &scored.strata_below_chance[i],
                ln_strata,
            );
            let (mut result, fee) = judge(
                spec,
                *labeler,
                own,
                tally,
                strata,
                reputation,
                Pay { share_ppm: paid_share, caught_copying: caught_here },
                Reward { verdict: scored.reward[i], test: &reward_test },
                scored.slash_p[i],
                lambda,
                ln_reward,
            );
            result.unexplained_copies = caught;
            (result, fee)
        })
        .unzip();

    let slashed_before_fees: Amount = results.iter().map(LabelerResult::lost).sum();
    let pot_before_fees = match spec.slashed_funds {
        SlashedFunds::Redistribute => spec.reward_pool + slashed_before_fees,
        SlashedFunds::Burn => spec.reward_pool,
    };
    charge_fees(&mut results, &fees, pot_before_fees);
    let mut totals = Totals {
        reward_pool: spec.reward_pool,
        stakes: results.iter().map(|r| r.stake).sum(),
        slashed: results.iter().map(LabelerResult::lost).sum(),
        stakes_returned: results.iter().map(|r| r.stake_returned).sum(),
        ..Totals::default()
    };
    totals.pot = spec.reward_pool;
    match spec.slashed_funds {
        SlashedFunds::Redistribute => totals.pot += totals.slashed,
        SlashedFunds::Burn => totals.burned = totals.slashed,
    }
    share_pot(&mut results, totals.pot);
    totals.rewards = results.iter().map(|r| r.reward).sum();
    // What the rewards leave of the pot goes back to the experimenter up to its own pool; the
    // rest is slashed stake nobody earned, which is burned: slashing must never pay the
    // experimenter, who writes the gold.
    let unpaid = totals.pot - totals.rewards;
    totals.refund = unpaid.min(spec.reward_pool);
    totals.burned += unpaid - totals.refund;

    let payout_root = if results.is_empty() {
        B256::ZERO
    } else {
        let leaves: Vec<(Address, U256)> =
            results.iter().map(|r| (r.labeler, U256::from(r.payout))).collect();
        merkle::payouts_root(&leaves).expect("a non-empty payout tree")
    };
    let settlement =
        Settlement { labelers: results, totals, payout_root, gold_dropped: scored.gold_dropped };
    // Conservation is the one property that must never be violated, so it is asserted in
    // release builds too.
    if let Err(broken) = settlement.check() {
        panic!("settlement invariant broken: {broken}");
    }
    settlement
}

/// What scoring found: tallies per labeler index (and stratum), the gold tasks dropped, the
/// copies, and the strata.
struct Scored {
    scores: score::Scores,
    /// The reward test's verdict per labeler index (see [`RewardTest::p_value`]).
    reward: Vec<Option<Verdict>>,
    /// The slashing test's p-value per labeler index (see [`slash_test::p_value`]).
    slash_p: Vec<u32>,
    /// Per labeler index and declared stratum, whether the stratum test finds its labels
    /// there below chance at δ_reward/4 (see [`RewardTest::stratum_p_value`]).
    strata_below_chance: Vec<Vec<bool>>,
    gold_dropped: Vec<u32>,
    copies: screen::Copies,
    strata: Strata,
}

fn score_batches(
    spec: &ExperimentSpec,
    tasks: &[Task],
    batches: &[BatchOutcome],
    index: &HashMap<Address, u32>,
    addresses: &[Address],
) -> Scored {
    let by_cohort = spec.subjective && spec.cohorts.is_some();
    let mut regular = Vec::new();
    let mut gold_seen = Vec::new();
    let group_of = |batch: &BatchOutcome| match (&batch.cohort, by_cohort) {
        (Some(name), true) => spec.cohort_index(name).map_or(0, |i| i as u32 + 1),
        _ => 0,
    };
    for batch in batches {
        let Some(labels) = &batch.labels else { continue };
        let group = group_of(batch);
        for (task, label) in labels {
            let observation = Observation {
                labeler: index[&batch.labeler],
                task: *task,
                group,
                label: label.clone(),
            };
            if tasks[*task as usize].is_gold() {
                gold_seen.push(observation);
            } else {
                regular.push(observation);
            }
        }
    }
    let agreement = Agreement::of(&spec.question.kind);
    let mut gold: HashMap<u32, Label> = tasks
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.gold.clone().map(|g| (i as u32, g)))
        .collect();
    // Identical batches of a block are one voice on whether the crowd contradicts gold, so
    // that copies cannot outvote the experimenter's answers where their signal is wrong.
    let mut voices: HashSet<&[(u32, Label)]> = HashSet::new();
    let gold_labels: Vec<(u32, &Label)> = batches
        .iter()
        .filter_map(|batch| batch.labels.as_deref())
        .filter(|labels| voices.insert(labels))
        .flatten()
        .filter(|(task, _)| tasks[*task as usize].is_gold())
        .map(|(task, label)| (*task, label))
        .collect();
    let gold_dropped = screen::contradicted_gold(&agreement, &gold_labels, &gold);
    for task in &gold_dropped {
        gold.remove(task);
    }
    let block_labels: Vec<screen::BlockLabels> = batches
        .iter()
        .filter_map(|batch| {
            let labels = batch.labels.as_ref()?;
            let mut regular: Vec<(u32, &Label)> = labels
                .iter()
                .filter(|(task, _)| !tasks[*task as usize].is_gold())
                .map(|(task, label)| (*task, label))
                .collect();
            regular.sort_by_key(|(task, _)| *task);
            Some(screen::BlockLabels {
                batch_id: batch.batch_id,
                labeler: index[&batch.labeler],
                group: group_of(batch),
                labels: regular,
            })
        })
        .collect();
    let mut gold_agreement = vec![screen::GoldAgreement::default(); addresses.len()];
    for o in &gold_seen {
        if let Some(answer) = gold.get(&o.task) {
            gold_agreement[o.labeler as usize].add(&agreement, &o.label, answer);
        }
    }
    let mut copies = screen::find_copies(&agreement, &block_labels);
    copies.judge_by_skill(&gold_agreement, spec.false_slash_rate);
    let strata =
        Strata::of(&spec.strata, tasks).expect("strata are checked when the experiment is created");
    let test = RewardTest::at(spec.false_reward_rate);
    let looks = Looks::of(&spec.question.kind, tasks);
    let (scores, reward, slash_p, strata_below_chance) =
        match Scorer::new(agreement, addresses.len(), &regular, &gold_seen, &gold, &copies) {
            Some(scorer) => {
                let reward =
                    addresses.iter().enumerate().map(|(i, a)| test.p_value(&scorer, &looks, i, *a));
                let slash = addresses
                    .iter()
                    .enumerate()
                    .map(|(i, a)| slash_test::p_value(&scorer, i, *a, spec.subjective));
                let rate = stratum_rate(spec);
                let stratum_test = RewardTest::at(rate);
                let by_stratum = addresses.iter().enumerate().map(|(i, a)| {
                    (0..strata.len())
                        .map(|s| {
                            stratum_test
                                .stratum_p_value(&scorer, &looks, i, *a, &strata, s)
                                .is_some_and(|p| stratum_test.passes(p, rate))
                        })
                        .collect()
                });
                (scorer.scores(&strata), reward.collect(), slash.collect(), by_stratum.collect())
            }
            None => (
                score::Scores::new(addresses.len(), strata.len()),
                vec![None; addresses.len()],
                vec![SCALE as u32; addresses.len()],
                vec![vec![false; strata.len()]; addresses.len()],
            ),
        };
    Scored { scores, reward, slash_p, strata_below_chance, gold_dropped, copies, strata }
}

/// The mean over a labeler's revealed batches of `1/c` (c its identical copies), in ppm.
fn pay_share(batches: &[&BatchOutcome], copies: &screen::Copies) -> u32 {
    let revealed: Vec<u64> =
        batches.iter().filter(|b| b.labels.is_some()).map(|b| b.batch_id).collect();
    if revealed.is_empty() {
        return SCALE as u32;
    }
    let sum: u64 = revealed.iter().map(|id| SCALE as u64 / u64::from(copies.count(*id))).sum();
    (sum / revealed.len() as u64) as u32
}

#[allow(clippy::too_many_arguments)]
fn judge(
    spec: &ExperimentSpec,
    labeler: Address,
    batches: &[&BatchOutcome],
    tally: &Tally,
    strata: StrataVerdict,
    reputation: &Reputation,
    pay: Pay,
    reward: Reward,
    slash_p_ppm: u32,
    lambda: Ppm,
    ln_reward: u64,
) -> (LabelerResult, FeeOwed) {
    let pay_share_ppm = pay.share_ppm;
    // Pay looks at the score with gold capped by the peer part; slashing at the raw evidence.
    let paid = tally.gold_capped_by_peers();
    let score = paid.score(lambda);

    // The slashing evidence: this experiment's items, gold only on subjective questions, and
    // the career's evidence that it is below chance (see `slash_test`).
    let own = evidence(spec, tally);
    let slash_evidence = reputation.slash_evidence_after(slash_p_ppm);
    let own_below_zero = own.score(lambda).is_some_and(|s| s < 0);
    let peers_vouch = peers_vouch(spec, tally);

    // Rewarded when the mean is confidently above chance and the score pay reads is positive
    // too: both readings of the same items agree that there is something to pay for.
    let passes =
        reward.verdict.is_some_and(|v| reward.test.passes(v.p_ppm, spec.false_reward_rate));
    let tier =
        if passes && score.is_some_and(|s| s > 0) && strata.below.is_empty() && pay_share_ppm > 0 {
            Tier::Rewarded
        } else if own_below_zero
            && !peers_vouch
            && slash_evidence >= slash_test::ln_threshold(spec.false_slash_rate)
            || strata.confidently_below
        {
            Tier::Slashed
        } else {
            Tier::Even
        };

    // Below chance, without confidence, on what pay reads (gold counted only as far as peers
    // confirm it; gold alone on subjective questions): the chance fee, weighted as a reward
    // would be by its score's magnitude.
    let fee_evidence = if spec.subjective { own } else { paid };
    let owes_fee = tier == Tier::Even
        && !peers_vouch_confidently(spec, tally, ln_reward)
        && fee_evidence.mean().is_some_and(|m| m < 0);
    let chance_fee = match (fee_evidence.score(lambda), fee_evidence.mean()) {
        (Some(s), Some(m)) if owes_fee && s < 0 => {
            let below = s.max(m).unsigned_abs();
            let mirrored = if spec.subjective { 0 } else { mirrored_weight(tally, lambda) };
            let weight = reward_weight(own.n(), below.max(mirrored), pay_share_ppm);
            Some(weight * U256::from(CHANCE_FEE_MULTIPLE))
        }
        _ => None,
    };
    // Above zero yet not paid for it, when that is evidence of work not done: below chance on
    // a declared stratum (targeted poison), or beaten by most of its own labels' rearrangements
    // among tasks that look alike (guessing beside what the lengths give, say). It owes the
    // chance fee weighted as its reward would have been, so that poisoning a slice, or passing
    // the reward test by the false reward rate's luck, loses in expectation.
    let beaten = reward.verdict.is_some_and(|v| v.beaten_by_most);
    let forgone_fee = match (score, paid.mean()) {
        (Some(s), Some(m))
            if tier == Tier::Even && (!strata.below.is_empty() || beaten) && s > 0 && m > 0 =>
        {
            Some(reward_weight(paid.n(), s.min(m) as u64, pay_share_ppm))
        }
        _ => None,
    };
    // Caught copying beyond skill and even (a slash already costs it as much): the copy fee,
    // which takes precedence over the chance fee.
    let fee = if pay.caught_copying && tier == Tier::Even {
        Some(Fee::Copy)
    } else {
        chance_fee.or(forgone_fee).map(Fee::Chance)
    };

    let bps = basis_points;
    let stake: Amount = batches.iter().map(|b| b.stake).sum();
    let revealed_stake: Amount =
        batches.iter().filter(|b| b.labels.is_some()).map(|b| b.stake).sum();
    let non_reveal_penalty: Amount = batches
        .iter()
        .filter(|b| b.labels.is_none())
        .map(|b| bps(b.stake, spec.non_reveal_bps_effective()))
        .sum();
    let slash = if tier == Tier::Slashed { bps(revealed_stake, spec.slash_bps) } else { 0 };
    let stake_returned = stake - slash - non_reveal_penalty;
    let result = LabelerResult {
        labeler,
        batches: batches.len() as u64,
        revealed_batches: batches.iter().filter(|b| b.labels.is_some()).count() as u64,
        tally: *tally,
        score,
        reward_p_ppm: reward.verdict.map(|v| v.p_ppm),
        slash_p_ppm,
        slash_evidence,
        tier,
        below_chance_in: strata.below,
        pay_share_ppm,
        unexplained_copies: false,
        stake,
        slash,
        non_reveal_penalty,
        chance_fee: 0,
        copy_fee: 0,
        stake_returned,
        reward: 0,
        payout: stake_returned,
    };
    let cap = bps(revealed_stake, spec.slash_bps);
    (result, FeeOwed { fee, cap })
}

/// The reward test on a labeler: its verdict (none when its mean is not above zero).
struct Reward<'a> {
    verdict: Option<Verdict>,
    test: &'a RewardTest,
}

/// How much of its work a labeler is paid for, and whether it was caught copying beyond
/// skill in this experiment.
struct Pay {
    share_ppm: u32,
    caught_copying: bool,
}

/// The fee a labeler owes (one at most).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fee {
    /// The chance fee, of this weight in the pot.
    Chance(U256),
    /// The copy fee: the whole cap.
    Copy,
}

/// A labeler's fee before the pot is known (none when it owes none), and the most it may be,
/// `slash_bps` of its revealed stake.
struct FeeOwed {
    fee: Option<Fee>,
    cap: Amount,
}

/// `⌊amount · bps / 10⁴⌋`, exact for every amount: the product itself would overflow `u128`
/// for amounts above about 3.4·10³⁴, which specs allow (up to 10³⁶).
fn basis_points(amount: Amount, bps: u32) -> Amount {
    let bps = Amount::from(bps);
    amount / 10_000 * bps + amount % 10_000 * bps / 10_000
}

/// ln(1/δ') for each stratum test of a labeler in this experiment. Half of the false slash
/// rate δ goes to the career's test (see [`slash_test`]), the other half to the strata: over a
/// labeler's whole history it is spent as δ/(2k(k+1)) on its k-th experiment, which sums to δ/2
/// however many experiments follow, split evenly among the experiment's declared strata. By
/// the union bound an honest labeler is ever slashed with probability at most δ.
fn ln_strata(spec: &ExperimentSpec, reputation: &Reputation, strata: &Strata) -> u64 {
    let k = reputation.experiments.saturating_add(1);
    let tests = (strata.len() as u64).max(1);
    let divisor = 2u64.saturating_mul(k).saturating_mul(k.saturating_add(1)).saturating_mul(tests);
    ln_inverse_split(spec.false_slash_rate, divisor.min(SLASH_SPLIT_MAX))
}

/// The most a slashing δ is divided: past it, about 10^12 experiments, the bound stops
/// widening rather than overflow.
const SLASH_SPLIT_MAX: u64 = 1_000_000_000_000;

/// What may condemn a labeler: everything, or the gold part alone on subjective questions.
fn evidence(spec: &ExperimentSpec, tally: &Tally) -> Tally {
    if spec.subjective { tally.gold_only() } else { *tally }
}

/// Gold alone never condemns a labeler whose peers vouch for it (a positive peer part), so an
/// experimenter's wrong gold cannot slash peers who agree. Subjective questions judge on gold
/// only, which screening protects.
fn peers_vouch(spec: &ExperimentSpec, tally: &Tally) -> bool {
    !spec.subjective && tally.peer_sum > 0
}

/// Whether the peers vouch for a labeler with the confidence a reward needs: its peer part
/// alone is confidently above chance at δ_reward. This, not a peer part merely above zero,
/// waives the chance fee: at chance the peer part is above zero half of the time, and a
/// waiver that often would leave the luck that rewards a labeler at chance without its
/// mirror. Careful labelers' peer parts clear it, so gold the crowd failed to overrule still
/// does not cost them the fee.
fn peers_vouch_confidently(spec: &ExperimentSpec, tally: &Tally, ln_reward: u64) -> bool {
    !spec.subjective && tally.peers_only().mean_lower_bound(ln_reward).is_some_and(|b| b > 0)
}

/// What pay would read, `min(s, m)` of the capped tally, had the peer part come out as far
/// above zero as it is below: the mirror of a reward won by luck. Gold counts up to twice a
/// positive peer part and not at all beside a negative one, so for a labeler who is right on
/// gold but at chance on the regular labels a reward weighs more than the magnitude below
/// zero; the fee charges the larger of the two, so that such a labeler's lucky rewards do not
/// outweigh its fees. Zero when the mirror would not be paid.
fn mirrored_weight(tally: &Tally, lambda: Ppm) -> u64 {
    let mirror = Tally { peer_sum: -tally.peer_sum, ..*tally }.gold_capped_by_peers();
    match (mirror.score(lambda), mirror.mean()) {
        (Some(s), Some(m)) if s > 0 && m > 0 => s.min(m) as u64,
        _ => 0,
    }
}

/// Where a labeler stands in the declared strata.
#[derive(Default)]
struct StrataVerdict {
    /// The strata where its score, as pay reads it, is below zero with enough items, or
    /// where the stratum test finds it below chance at δ_reward/4: it is not rewarded.
    below: Vec<Stratum>,
    /// Whether in one of them the slashing evidence is confidently below chance at its share
    /// of δ (see `ln_strata`): it is slashed.
    confidently_below: bool,
}

/// Judges a labeler's stratum tallies as the whole is judged: pay's score, or on few items
/// the stratum test (`by_test`, see [`RewardTest::stratum_p_value`]), decides the reward, the
/// slashing evidence the slash. Only this experiment counts: strata are the experimenter's
/// and differ from one experiment to the next.
fn judge_strata(
    spec: &ExperimentSpec,
    strata: &Strata,
    tallies: &[Tally],
    by_test: &[bool],
    ln_strata: u64,
) -> StrataVerdict {
    let mut verdict = StrataVerdict::default();
    let lambda = spec.peer_weight;
    for ((stratum, tally), &below_by_test) in strata.strata.iter().zip(tallies).zip(by_test) {
        let below = (tally.n() >= STRATUM_ITEMS_MIN
            && tally.gold_capped_by_peers().score(lambda).is_some_and(|s| s < 0))
            || below_by_test;
        if !below {
            continue;
        }
        verdict.below.push(stratum.clone());
        let own = evidence(spec, tally);
        verdict.confidently_below |= own.n() >= STRATUM_ITEMS_MIN
            && !peers_vouch(spec, tally)
            && own.mean_upper_bound(ln_strata).is_some_and(|b| b < 0);
    }
    verdict
}

/// The stratum test runs at δ_reward divided by this.
const STRATUM_RATE_DIVISOR: u32 = 4;

/// The stratum test's level: a quarter of δ_reward, since a careful labeler has several
/// strata to be unlucky in and few items in each.
fn stratum_rate(spec: &ExperimentSpec) -> Ppm {
    Ppm::new(spec.false_reward_rate.get() / STRATUM_RATE_DIVISOR).expect("below δ_reward")
}

/// A claim on the pot: `items · score · pay_share`.
fn reward_weight(items: u64, score: u64, pay_share_ppm: u32) -> U256 {
    U256::from(items) * U256::from(score) * U256::from(pay_share_ppm)
}

/// A rewarded labeler's weight in the pot: its items times the lesser of its two readings of
/// the same items, the λ-weighted score and the mean of every item alike (the one the reward
/// test read), so that a score lifted by luck on a few heavily weighted items is not paid as
/// careful work.
fn pot_weight(r: &LabelerResult) -> U256 {
    let mean = r.tally.gold_capped_by_peers().mean();
    match (r.tier, r.score, mean) {
        (Tier::Rewarded, Some(s), Some(m)) if s > 0 && m > 0 => {
            reward_weight(r.tally.n(), s.min(m) as u64, r.pay_share_ppm)
        }
        _ => U256::ZERO,
    }
}

/// Charges the fees, at most `slash_bps` of the labeler's revealed stake. Fees are slashed
/// stake: shared with the pot or burned as the spec says, never refunded.
///
/// - The chance fee. A labeler at chance is rewarded when its score lands confidently above
///   zero by luck, at most δ_reward of the time; it owes the fee whenever its mean is below
///   zero, about half of the time, and the fee costs [`CHANCE_FEE_MULTIPLE`] times what the
///   same magnitude of score earns (`pot · weight / Σ reward weights`, at most its
///   [`FairShare`]). A chance-level labeler's expected payout is then below its expected
///   loss, while careful labelers, far above zero, never owe it.
/// - The copy fee. Labelers who answer alike on a signal (the longer response, say) are
///   caught where two of them share a block, and look like weaker careful labelers where they
///   do not, which is paid. The caught ones owe the whole `slash_bps` of their revealed
///   stake, as a slashed labeler loses: the evidence meets the slashing standard (skill
///   explains the identical labels less often than δ_slash), and a fee no larger than the
///   pay of the ones not caught would leave the group a profit whenever it is caught less
///   often than not, as it is in small experiments.
fn charge_fees(results: &mut [LabelerResult], fees: &[FeeOwed], pot: Amount) {
    let total: U256 = results.iter().map(pot_weight).sum();
    let fair = FairShare::of(results, pot);
    for (result, owed) in results.iter_mut().zip(fees) {
        let Some(kind) = owed.fee else { continue };
        let fee = match kind {
            Fee::Copy => owed.cap,
            Fee::Chance(_) if total.is_zero() => continue,
            Fee::Chance(weight) => fair.cap(result, U256::from(pot) * weight / total),
        };
        let fee = fee.min(owed.cap).min(result.stake_returned);
        match kind {
            Fee::Copy => result.copy_fee = fee,
            Fee::Chance(_) => result.chance_fee = fee,
        }
        result.stake_returned -= fee;
        result.payout = result.stake_returned;
    }
}

/// The chance fee for a mean below zero, as a multiple of what the same magnitude of score
/// earns above it (the fee for a stratum below chance stays at once its reward). Once would
/// make luck a fair bet at best: at chance a reward comes from the top δ_reward of the
/// labeler's own arrangements, whose scores are larger, the fee from any mean below zero, so
/// the two nearly balance and a chance-level strategy ends near zero, above it in some markets.
/// Twice makes chance-level work lose by a margin its own noise does not overturn; careful
/// labelers, far above zero, never owe it.
pub const CHANCE_FEE_MULTIPLE: u64 = 2;

/// How many times its share of the experiment's scored items a labeler may earn from the pot
/// (or owe as a chance fee): careful labelers' scores are within a factor of two of each
/// other, so the cap never binds among them, but when few are rewarded (say, gold the crowd
/// failed to overrule has turned careful labelers' scores negative) nobody collects a windfall
/// by luck.
pub const POT_SHARE_PER_ITEM_MAX: u64 = 3;

/// The most a labeler may take from (or owe to) the pot: [`POT_SHARE_PER_ITEM_MAX`] times
/// the pot's share per scored item.
struct FairShare {
    pot: U256,
    items: U256,
}

impl FairShare {
    fn of(results: &[LabelerResult], pot: Amount) -> FairShare {
        let items: u64 = results.iter().map(|r| r.tally.n()).sum();
        FairShare { pot: U256::from(pot), items: U256::from(items.max(1)) }
    }

    fn cap(&self, result: &LabelerResult, amount: U256) -> Amount {
        let most = self.pot * U256::from(POT_SHARE_PER_ITEM_MAX) * U256::from(result.tally.n())
            / self.items;
        u128::try_from(amount.min(most)).expect("at most the pot")
    }
}

/// Splits the pot among rewarded labelers in proportion to their [`pot_weight`], flooring
/// each share and capping it at the labeler's [`FairShare`]; what the caps leave is refunded
/// up to the reward pool and burned beyond, as any unpaid pot.
fn share_pot(results: &mut [LabelerResult], pot: Amount) {
    let total: U256 = results.iter().map(pot_weight).sum();
    if total.is_zero() {
        return;
    }
    let fair = FairShare::of(results, pot);
    for result in results.iter_mut() {
        let share = U256::from(pot) * pot_weight(result) / total;
        result.reward = fair.cap(result, share);
        result.payout = result.stake_returned + result.reward;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::QuestionKind;
    use crate::synthetic::{SplitMix64, binary_spec};

    const TASKS: u32 = 100;

    fn truth(t: u32) -> i64 {
        i64::from((t * 7 + t / 3).is_multiple_of(2))
    }

    /// A labeler's batch over the one block: the truth, wrong on every `wrong_every`th task.
    fn batch(batch_id: u64, labeler: u8, wrong_every: u32, offset: u32) -> BatchOutcome {
        answering(batch_id, labeler, TASKS, |t| {
            wrong_every > 0 && (t + offset).is_multiple_of(wrong_every)
        })
    }

    /// A labeler's batch over tasks `0..tasks`: the truth, except where `wrong` says.
    fn answering(
        batch_id: u64,
        labeler: u8,
        tasks: u32,
        wrong: impl Fn(u32) -> bool,
    ) -> BatchOutcome {
        let labels = (0..tasks)
            .map(|t| (t, Label::Int(if wrong(t) { 1 - truth(t) } else { truth(t) })))
            .collect();
        BatchOutcome {
            batch_id,
            labeler: Address::repeat_byte(labeler),
            cohort: None,
            stake: 1_000_000,
            labels: Some(labels),
        }
    }

    fn task(i: u32, meta: serde_json::Map<String, serde_json::Value>) -> Task {
        Task {
            id: format!("t{i}"),
            prompt: String::new().into(),
            responses: Vec::new(),
            gold: None,
            meta,
        }
    }

    fn market(copies: u8) -> Settlement {
        let spec = binary_spec(TASKS, 3 + u32::from(copies), 0);
        let tasks: Vec<Task> = (0..TASKS).map(|i| task(i, Default::default())).collect();
        let mut batches = vec![batch(0, 1, 7, 0), batch(1, 2, 5, 1), batch(2, 3, 6, 2)];
        for c in 0..copies {
            batches.push(batch(3 + u64::from(c), 10 + c, 6, 3));
        }
        settle(&spec, &tasks, &batches, &BTreeMap::new())
    }

    #[test]
    fn a_copying_swarm_is_paid_once_for_its_work() {
        let alone = market(1);
        let swarm = market(4);
        let copy = |s: &Settlement, c: u8| {
            s.labelers.iter().find(|l| l.labeler == Address::repeat_byte(10 + c)).unwrap().clone()
        };
        assert_eq!(copy(&alone, 0).pay_share_ppm, 1_000_000);
        assert_eq!(copy(&alone, 0).tier, Tier::Rewarded);
        let swarm_reward: Amount = (0..4).map(|c| copy(&swarm, c).reward).sum();
        for c in 0..4 {
            assert_eq!(copy(&swarm, c).pay_share_ppm, 250_000);
            // Scored against the three independent labelers only, as the lone copy is.
            assert_eq!(copy(&swarm, c).score, copy(&alone, 0).score);
        }
        assert!(
            swarm_reward <= copy(&alone, 0).reward,
            "four copies earn {swarm_reward}, one labeler doing the work {}",
            copy(&alone, 0).reward
        );
        // The copies count as one peer of the independent labelers, whose scores do not move,
        // and whose pay does not fall.
        for labeler in 1..=3u8 {
            let of = |s: &Settlement| {
                s.labelers
                    .iter()
                    .find(|l| l.labeler == Address::repeat_byte(labeler))
                    .unwrap()
                    .clone()
            };
            assert_eq!(of(&swarm).score, of(&alone).score, "labeler {labeler}");
            assert!(of(&swarm).reward >= of(&alone).reward, "labeler {labeler}");
        }
    }

    /// One block of `tasks` tasks, every `trigger_every`th carrying `meta.trigger`; four
    /// careful labelers and one who flips every triggered task (byte 5).
    fn poisoned_market(tasks: u32, trigger_every: u32, strata: &[&str]) -> (Vec<Task>, Settlement) {
        let mut spec = binary_spec(tasks, 5, 0);
        spec.strata = strata.iter().map(|s| s.to_string()).collect();
        let triggered = |t: u32| t.is_multiple_of(trigger_every);
        let list: Vec<Task> = (0..tasks)
            .map(|i| {
                let meta = serde_json::json!({ "trigger": triggered(i) });
                task(i, meta.as_object().cloned().unwrap_or_default())
            })
            .collect();
        let labeler = |batch_id: u64, byte: u8, wrong: &dyn Fn(u32) -> bool| {
            answering(batch_id, byte, tasks, wrong)
        };
        let batches = vec![
            labeler(0, 1, &|t| t % 7 == 3),
            labeler(1, 2, &|t| t % 9 == 4),
            labeler(2, 3, &|t| t % 8 == 5),
            labeler(3, 4, &|t| t % 11 == 1),
            labeler(4, 5, &triggered),
        ];
        let settlement = settle(&spec, &list, &batches, &BTreeMap::new());
        (list, settlement)
    }

    fn result(settlement: &Settlement, byte: u8) -> &LabelerResult {
        settlement.labelers.iter().find(|l| l.labeler == Address::repeat_byte(byte)).unwrap()
    }

    #[test]
    fn a_poisoner_below_chance_in_a_declared_stratum_is_not_paid_and_not_exported_there() {
        // Without strata the poisoner, right on four tasks in five, is paid.
        let (_, blind) = poisoned_market(100, 5, &[]);
        assert_eq!(result(&blind, 5).tier, Tier::Rewarded);
        let (tasks, settlement) = poisoned_market(100, 5, &["trigger"]);
        let poisoner = result(&settlement, 5);
        assert!(poisoner.score.unwrap() > 0, "careful-looking over the whole experiment");
        let trigger = Stratum { key: "trigger".into(), value: "true".into() };
        assert_eq!(poisoner.below_chance_in, [trigger]);
        // 20 items cannot make the slash confident, so it is even: nothing earned or lost.
        assert_eq!(poisoner.tier, Tier::Even);
        assert_eq!((poisoner.reward, poisoner.slash), (0, 0));
        assert!(!poisoner.exports_label_on(&tasks[0]) && poisoner.exports_label_on(&tasks[1]));
        for careful in 1..=4 {
            let r = result(&settlement, careful);
            assert_eq!((r.tier, r.below_chance_in.len()), (Tier::Rewarded, 0), "labeler {careful}");
            assert!(r.exports_label_on(&tasks[0]));
        }
    }

    #[test]
    fn a_poisoner_with_a_handful_of_items_in_its_stratum_is_not_paid() {
        // 50 tasks, 5 of them triggered: fewer than the 10 items the stratum's score needs,
        // but its wrong labels there do worse than the same labels placed at random.
        let (_, blind) = poisoned_market(50, 10, &[]);
        assert_eq!(result(&blind, 5).tier, Tier::Rewarded);
        let (tasks, settlement) = poisoned_market(50, 10, &["trigger"]);
        let trigger = Stratum { key: "trigger".into(), value: "true".into() };
        let poisoner = result(&settlement, 5);
        assert_eq!(poisoner.below_chance_in, [trigger]);
        assert_eq!((poisoner.tier, poisoner.reward), (Tier::Even, 0));
        // It pays what its reward would have been, at most the slash's share of its stake.
        assert!(poisoner.chance_fee > 0, "{poisoner:?}");
        assert!(poisoner.chance_fee <= basis_points(poisoner.stake, 5_000));
        assert!(!poisoner.exports_label_on(&tasks[0]));
        for careful in 1..=4 {
            let r = result(&settlement, careful);
            assert_eq!((r.tier, r.below_chance_in.len()), (Tier::Rewarded, 0), "labeler {careful}");
        }
    }

    #[test]
    fn a_poisoner_confidently_below_chance_in_a_stratum_is_slashed() {
        // 100 triggered tasks of 400: confidently below chance there at its share of δ.
        let (_, settlement) = poisoned_market(400, 4, &["trigger"]);
        let poisoner = result(&settlement, 5);
        assert!(poisoner.score.unwrap() > 0);
        assert_eq!(poisoner.tier, Tier::Slashed);
        assert_eq!(poisoner.slash, 500_000);
        assert!((1..=4).all(|c| result(&settlement, c).tier == Tier::Rewarded));
    }

    const LENGTH_POOL: Amount = 1_000_000;

    /// 60 pairwise tasks read by four careful labelers and a fifth, `follower`, given which
    /// side is longer and the task: the truth's side (A is -1, B is +1) is longer on two tasks
    /// in three, and with `lengths` off both responses are equally long.
    fn length_market(lengths: bool, follower: &dyn Fn(i64, u32) -> i64) -> Settlement {
        const N: u32 = 60;
        // A pool no larger than the stakes, so that no cap binds on the fee.
        let mut spec = ExperimentSpec { reward_pool: LENGTH_POOL, ..binary_spec(N, 5, 0) };
        spec.question.kind = QuestionKind::Pairwise { strength_max: 2, allow_tie: false };
        let side = |t: u32| if truth(t) == 1 { 1 } else { -1 };
        let longer = |t: u32| if t % 3 == 2 { -side(t) } else { side(t) };
        let tasks: Vec<Task> = (0..N)
            .map(|i| {
                let (a, b) = match (lengths, longer(i)) {
                    (true, -1) => ("a longer answer", "short"),
                    (true, _) => ("short", "a longer answer"),
                    (false, _) => ("same", "same"),
                };
                Task { responses: vec![a.into(), b.into()], ..task(i, Default::default()) }
            })
            .collect();
        let labeler = |batch_id: u64, byte: u8, answer: &dyn Fn(u32) -> i64| BatchOutcome {
            batch_id,
            labeler: Address::repeat_byte(byte),
            cohort: None,
            stake: 1_000_000,
            labels: Some((0..N).map(|t| (t, Label::Int(answer(t)))).collect()),
        };
        let careful = |wrong_every: u32, offset: u32| {
            move |t: u32| {
                let wrong = (t + offset).is_multiple_of(wrong_every);
                if wrong { -side(t) } else { side(t) }
            }
        };
        let batches = vec![
            labeler(0, 1, &careful(7, 3)),
            labeler(1, 2, &careful(9, 4)),
            labeler(2, 3, &careful(8, 5)),
            labeler(3, 4, &careful(11, 1)),
            labeler(4, 5, &|t| follower(longer(t), t)),
        ];
        settle(&spec, &tasks, &batches, &BTreeMap::new())
    }

    #[test]
    fn a_labeler_who_reads_only_the_lengths_is_not_paid_for_it() {
        // Right on two tasks in three: paid as a careful labeler would be, were lengths unseen.
        let longer_strongest = |longer: i64, _| 2 * longer;
        let blind = length_market(false, &longer_strongest);
        assert_eq!(result(&blind, 5).tier, Tier::Rewarded);
        // Its labels rearranged among tasks whose longer response is on the same side are its
        // own labels again: nothing beyond the lengths, so nothing paid. Every rearrangement
        // ties with it and none beats it, so it owes no fee either: labels the lengths alone
        // decide could be a careful labeler's on tasks where the longer response is the better.
        let settlement = length_market(true, &longer_strongest);
        let follower = result(&settlement, 5);
        assert!(follower.score.unwrap() > 0, "{follower:?}");
        assert_eq!(follower.reward_p_ppm, Some(1_000_000));
        assert_eq!((follower.tier, follower.reward, follower.chance_fee), (Tier::Even, 0, 0));
        for careful in 1..=4 {
            assert_eq!(result(&settlement, careful).tier, Tier::Rewarded, "labeler {careful}");
        }
    }

    #[test]
    fn a_labeler_who_mostly_reads_the_lengths_loses_on_average() {
        // The longer response on three tasks in four, a random answer on the rest: its labels
        // vary among tasks that look alike, so it passes the reward test now and then by the
        // false reward rate's luck, and the fee it owes when it does no better than its own
        // rearrangements outweighs that.
        let (mut rewarded, mut paid, mut fees): (usize, Amount, Amount) = (0, 0, 0);
        for seed in 0..100 {
            let noisy = move |longer: i64, t: u32| {
                let mut rng = SplitMix64::new(seed * 1_000 + u64::from(t));
                match rng.below(8) {
                    0..=5 => 2 * longer,
                    draw => [-2, -1, 1, 2][(draw as usize - 6) * 2 + rng.below(2) as usize],
                }
            };
            let settlement = length_market(true, &noisy);
            let follower = result(&settlement, 5);
            rewarded += usize::from(follower.tier == Tier::Rewarded);
            paid += follower.reward;
            fees += follower.chance_fee;
        }
        assert!(rewarded <= 30, "rewarded in {rewarded} of 100");
        assert!(fees > paid, "fees {fees} against rewards {paid}");
    }

    #[test]
    fn a_labeler_below_chance_without_confidence_pays_the_chance_fee_into_the_pot() {
        // A pool no larger than the stakes, so that no cap binds on the fee.
        let spec = ExperimentSpec { reward_pool: 1_000_000, ..binary_spec(TASKS, 4, 0) };
        let tasks: Vec<Task> = (0..TASKS).map(|i| task(i, Default::default())).collect();
        // Wrong on three tasks in five: below chance, far too few items to be slashed.
        let below = answering(3, 4, TASKS, |t| t % 5 < 3);
        let batches = vec![batch(0, 1, 7, 0), batch(1, 2, 9, 1), batch(2, 3, 8, 2), below];
        let settlement = settle(&spec, &tasks, &batches, &BTreeMap::new());
        let fee_payer = result(&settlement, 4);
        assert_eq!(fee_payer.tier, Tier::Even);
        assert!(fee_payer.tally.mean().unwrap() < 0);
        assert!(fee_payer.chance_fee > 0, "{fee_payer:?}");
        assert!(fee_payer.chance_fee <= basis_points(fee_payer.stake, spec.slash_bps));
        assert_eq!(fee_payer.stake_returned + fee_payer.chance_fee, fee_payer.stake);
        // Twice what the same magnitude of score would have earned from the pot.
        let (s, m) = (fee_payer.score.unwrap(), fee_payer.tally.mean().unwrap());
        let magnitude =
            s.max(m).unsigned_abs().max(mirrored_weight(&fee_payer.tally, spec.peer_weight));
        let rewards: U256 = settlement.labelers.iter().map(pot_weight).sum();
        let weight = reward_weight(fee_payer.tally.n(), magnitude, fee_payer.pay_share_ppm);
        let fee = U256::from(spec.reward_pool) * weight * U256::from(CHANCE_FEE_MULTIPLE) / rewards;
        assert_eq!(U256::from(fee_payer.chance_fee), fee);
        // Its labels stay in the dataset, for the consensus model to weigh.
        assert_eq!(fee_payer.left_out_on(&tasks[0]), None);
        for careful in 1..=3 {
            let r = result(&settlement, careful);
            assert_eq!((r.tier, r.chance_fee), (Tier::Rewarded, 0), "labeler {careful}");
            assert_eq!(r.left_out_on(&tasks[0]), None);
        }
        // The fee is slashed stake: redistributed in the pot, never refunded.
        let t = &settlement.totals;
        assert_eq!(t.slashed, fee_payer.chance_fee);
        assert_eq!(t.pot, spec.reward_pool + fee_payer.chance_fee);
    }

    /// `regular` tasks followed by `gold` gold tasks whose answer is the truth.
    fn with_gold(regular: u32, gold: u32) -> Vec<Task> {
        (0..regular + gold)
            .map(|i| {
                let mut t = task(i, Default::default());
                t.gold = (i >= regular).then(|| Label::Int(truth(i)));
                t
            })
            .collect()
    }

    /// 40 regular and 40 gold tasks, three careful labelers and a fourth wrong on every gold
    /// task and, on regular ones, where `wrong_regular` says.
    fn wrong_on_gold(wrong_regular: impl Fn(u32) -> bool) -> LabelerResult {
        let (regular, gold) = (40u32, 40u32);
        let spec = binary_spec(regular, 4, gold);
        let tasks = with_gold(regular, gold);
        let careful = |batch_id: u64, byte: u8, every: u32| {
            answering(batch_id, byte, regular + gold, move |t| t % every == 3)
        };
        let batches = vec![
            careful(0, 1, 7),
            careful(1, 2, 9),
            careful(2, 3, 8),
            answering(3, 4, regular + gold, |t| t >= regular || wrong_regular(t)),
        ];
        let settlement = settle(&spec, &tasks, &batches, &BTreeMap::new());
        result(&settlement, 4).clone()
    }

    #[test]
    fn only_peers_vouching_with_confidence_waive_the_chance_fee() {
        // Right on every regular task: its peers vouch with confidence, and gold alone, which
        // the experimenter writes, does not cost it the fee.
        let vouched = wrong_on_gold(|_| false);
        assert!(vouched.tally.peer_sum > 0 && vouched.tally.mean().unwrap() < 0, "{vouched:?}");
        assert_eq!((vouched.tier, vouched.chance_fee), (Tier::Even, 0));
        // Right on 24 regular tasks of 40: a peer part above zero but not confidently so, as
        // a labeler at chance has half of the time, is no waiver.
        let lucky = wrong_on_gold(|t| t % 5 < 2);
        assert!(lucky.tally.peer_sum > 0, "{lucky:?}");
        assert_eq!(lucky.tier, Tier::Even);
        assert!(lucky.chance_fee > 0, "{lucky:?}");
    }

    #[test]
    fn colluders_whose_gold_accuracy_does_not_explain_their_agreement_are_not_paid_or_exported() {
        // 40 regular tasks and 40 gold tasks; three careful labelers and two colluders who
        // answer alike from a cheap signal that is right on two tasks in three.
        let (regular, gold) = (40u32, 40u32);
        let spec = binary_spec(regular, 5, gold);
        let tasks = with_gold(regular, gold);
        let labeler = |batch_id: u64, byte: u8, wrong: &dyn Fn(u32) -> bool| {
            answering(batch_id, byte, regular + gold, wrong)
        };
        let signal = |t: u32| t.is_multiple_of(3);
        let batches = vec![
            labeler(0, 1, &|t| t % 7 == 3),
            labeler(1, 2, &|t| t % 9 == 4),
            labeler(2, 3, &|t| t % 8 == 5),
            labeler(3, 4, &signal),
            labeler(4, 5, &signal),
        ];
        let settlement = settle(&spec, &tasks, &batches, &BTreeMap::new());
        // Alone in its block a colluder is a labeler of skill 0.65, and paid as one.
        let alone = &batches[..4];
        let lone = result(&settle(&spec, &tasks, alone, &BTreeMap::new()), 4).clone();
        assert_eq!(lone.tier, Tier::Rewarded);
        let mut fees = 0;
        for colluder in [4, 5] {
            let r = result(&settlement, colluder);
            assert!(r.score.unwrap() > 0, "informative on its own");
            assert!(r.unexplained_copies && r.pay_share_ppm == 0, "{r:?}");
            assert_eq!((r.tier, r.reward, r.chance_fee), (Tier::Even, 0, 0));
            assert!(!r.exports_label_on(&tasks[0]));
            // Caught, it owes what a slash costs, slash_bps of its stake.
            assert_eq!(r.copy_fee, basis_points(r.stake, spec.slash_bps), "{r:?} {lone:?}");
            assert_eq!(r.stake_returned + r.copy_fee, r.stake);
            fees += r.copy_fee;
        }
        for careful in 1..=3 {
            let r = result(&settlement, careful);
            assert_eq!((r.tier, r.unexplained_copies), (Tier::Rewarded, false), "{careful}");
            assert_eq!(r.copy_fee, 0);
        }
        let t = &settlement.totals;
        assert_eq!((t.slashed, t.pot), (fees, spec.reward_pool + fees));
        // With collusion on its record it is paid nothing and not exported, and owes no copy
        // fee for copies nobody saw.
        let mut record = Reputation::default();
        record.update(result(&settlement, 4));
        assert_eq!(record.colluded, 1);
        let caught = settle(&spec, &tasks, alone, &[(Address::repeat_byte(4), record)].into());
        let r = result(&caught, 4);
        assert_eq!((r.tier, r.reward, r.pay_share_ppm, r.copy_fee), (Tier::Even, 0, 0, 0));
        assert!(r.unexplained_copies && !r.exports_label_on(&tasks[0]));
    }

    #[test]
    fn copies_are_one_voice_when_the_crowd_judges_gold() {
        // Three colluders on a signal wrong on every third task beside two careful labelers:
        // counted one by one they would outvote gold wherever the signal is wrong, drop it
        // there, and look right on all the gold that is left.
        let (regular, gold) = (40u32, 40u32);
        let spec = binary_spec(regular, 5, gold);
        let tasks = with_gold(regular, gold);
        let signal = |t: u32| t.is_multiple_of(3);
        let batches = vec![
            answering(0, 1, regular + gold, |t| t % 7 == 3),
            answering(1, 2, regular + gold, |t| t % 9 == 4),
            answering(2, 3, regular + gold, signal),
            answering(3, 4, regular + gold, signal),
            answering(4, 5, regular + gold, signal),
        ];
        let settlement = settle(&spec, &tasks, &batches, &BTreeMap::new());
        assert_eq!(settlement.gold_dropped, Vec::<u32>::new());
        for colluder in 3..=5 {
            let r = result(&settlement, colluder);
            assert!(r.unexplained_copies && r.pay_share_ppm == 0, "{r:?}");
        }
    }

    #[test]
    fn three_careful_labelers_on_forty_pairwise_tasks_are_paid() {
        // The size of a first try in the browser: one block of 40 preference pairs, no gold,
        // three labelers right on about 85% of the sides, with strengths 1 and 2.
        let mut spec = binary_spec(40, 3, 0);
        spec.question.kind =
            crate::spec::QuestionKind::Pairwise { strength_max: 2, allow_tie: false };
        let tasks: Vec<Task> = (0..40).map(|i| task(i, Default::default())).collect();
        let side = |t: u32| if truth(t) == 1 { 1 } else { -1 };
        let labeler = |batch_id: u64, byte: u8, wrong: &dyn Fn(u32) -> bool| BatchOutcome {
            batch_id,
            labeler: Address::repeat_byte(byte),
            cohort: None,
            stake: 1_000_000,
            labels: Some(
                (0..40)
                    .map(|t| {
                        let strength = 1 + i64::from((t + u32::from(byte)).is_multiple_of(2));
                        let sign = if wrong(t) { -side(t) } else { side(t) };
                        (t, Label::Int(sign * strength))
                    })
                    .collect(),
            ),
        };
        // Each wrong on 6 of the 40 sides, scattered differently.
        let scattered = |salt: u32| move |t: u32| (t * 17 + salt * 11) % 40 < 6;
        let batches = vec![
            labeler(0, 1, &scattered(1)),
            labeler(1, 2, &scattered(2)),
            labeler(2, 3, &scattered(3)),
        ];
        let settlement = settle(&spec, &tasks, &batches, &BTreeMap::new());
        let rewarded = settlement.labelers.iter().filter(|l| l.tier == Tier::Rewarded).count();
        assert!(rewarded >= 2, "{:#?}", settlement.labelers);
    }

    #[test]
    fn the_reward_test_pays_labelers_at_chance_at_most_its_rate_and_careful_ones_at_fifty_items() {
        // 300 experiments of 50 tasks: three careful labelers, each wrong on 10 tasks drawn
        // afresh, and a fourth (a new address each time) answering at random.
        let spec = binary_spec(50, 4, 0);
        let tasks: Vec<Task> = (0..50).map(|i| task(i, Default::default())).collect();
        let coin = |run: u32, salt: u32, t: u32| {
            let hash = alloy_primitives::keccak256([run, salt, t].map(u32::to_be_bytes).concat());
            u32::from(hash[0])
        };
        let (mut careful_rewarded, mut chance_rewarded) = (0, 0);
        let runs = 300;
        for run in 0..runs {
            let mut batches: Vec<BatchOutcome> = (1..=3u8)
                .map(|b| answering(u64::from(b), b, 50, |t| coin(run, u32::from(b), t) % 5 == 0))
                .collect();
            let mut random = answering(9, 0, 50, |t| coin(run, 9, t) % 2 == 0);
            random.labeler = Address::left_padding_from(&(1_000 + run).to_be_bytes());
            batches.push(random.clone());
            let settlement = settle(&spec, &tasks, &batches, &BTreeMap::new());
            for result in &settlement.labelers {
                let rewarded = result.tier == Tier::Rewarded;
                if result.labeler == random.labeler {
                    chance_rewarded += usize::from(rewarded);
                } else {
                    careful_rewarded += usize::from(rewarded);
                }
            }
        }
        let chance = chance_rewarded as f64 / f64::from(runs);
        let careful = careful_rewarded as f64 / f64::from(3 * runs);
        // Exact at 0.2: 300 draws put the share within 0.2 ± 0.07 (three standard errors).
        assert!((0.1..=0.27).contains(&chance), "labelers at chance rewarded {chance}");
        assert!(careful >= 0.9, "careful labelers (80% right) rewarded {careful}");
    }

    #[test]
    fn a_good_record_does_not_pay_for_work_not_done_now() {
        let spec = binary_spec(TASKS, 4, 0);
        let tasks: Vec<Task> = (0..TASKS).map(|i| task(i, Default::default())).collect();
        // Right on every other task and wrong on the rest: chance in this experiment.
        let coin = answering(3, 4, TASKS, |t| t % 2 == 1);
        let batches = vec![batch(0, 1, 7, 0), batch(1, 2, 9, 1), batch(2, 3, 8, 2), coin];
        let newcomer = settle(&spec, &tasks, &batches, &BTreeMap::new());
        let veteran_record = Reputation {
            experiments: 30,
            rewarded: 30,
            tally: Tally {
                peer_sum: 1_000_000_000,
                peer_n: 3_000,
                peer_squares: 600_000_000,
                ..Tally::default()
            },
            ..Reputation::default()
        };
        let veteran =
            settle(&spec, &tasks, &batches, &[(Address::repeat_byte(4), veteran_record)].into());
        let (new, old) = (result(&newcomer, 4), result(&veteran, 4));
        assert_ne!(old.tier, Tier::Rewarded);
        assert_eq!((old.tier, old.reward_p_ppm, old.reward), (new.tier, new.reward_p_ppm, 0));
    }

    #[test]
    fn the_careers_evidence_adds_up_to_a_slash_unless_the_last_experiment_cleared_it() {
        let spec = binary_spec(TASKS, 4, 0);
        let tasks: Vec<Task> = (0..TASKS).map(|i| task(i, Default::default())).collect();
        // Wrong on three tasks in four, beside three careful labelers.
        let flipper = answering(3, 4, TASKS, |t| t % 4 != 0);
        let batches = vec![batch(0, 1, 7, 0), batch(1, 2, 9, 1), batch(2, 3, 8, 2), flipper];
        let threshold = slash_test::ln_threshold(spec.false_slash_rate);
        let newcomer = settle(&spec, &tasks, &batches, &BTreeMap::new());
        let first = result(&newcomer, 4);
        assert!(first.slash_p_ppm < SCALE as u32);
        assert_eq!(first.slash_evidence, slash_test::ln_e_value(first.slash_p_ppm));
        for careful in 1..=3 {
            let careful = result(&newcomer, careful);
            assert_eq!(careful.slash_p_ppm, SCALE as u32, "a mean above 0 is not tested");
            assert_ne!(careful.tier, Tier::Slashed);
        }
        // Earlier evidence that brings this experiment's exactly to the threshold.
        let record = |cleared| Reputation {
            experiments: 1,
            slash_evidence: threshold - first.slash_evidence,
            cleared,
            ..Reputation::default()
        };
        let with = |reputation| {
            let settlement =
                settle(&spec, &tasks, &batches, &[(Address::repeat_byte(4), reputation)].into());
            result(&settlement, 4).clone()
        };
        let counted = with(record(false));
        assert_eq!((counted.slash_evidence, counted.tier), (threshold, Tier::Slashed));
        // After an experiment above chance this one's e-value does not count.
        let cleared = with(record(true));
        assert_eq!(cleared.slash_evidence, threshold - first.slash_evidence);
        assert_ne!(cleared.tier, Tier::Slashed);
        // The careful labelers' records say so for their next experiment.
        let mut careful = Reputation::default();
        careful.update(result(&newcomer, 1));
        assert!(careful.cleared);
        let mut flipper = Reputation::default();
        flipper.update(first);
        assert!(!flipper.cleared);
        assert_eq!(flipper.slash_evidence, first.slash_evidence);
    }

    #[test]
    fn the_strata_share_of_the_slashing_rate_is_spent_over_a_career_and_split_among_them() {
        let spec = binary_spec(TASKS, 3, 0);
        let after = |experiments| Reputation { experiments, ..Reputation::default() };
        let rate = spec.false_slash_rate;
        let tasks: Vec<Task> = (0..3)
            .map(|i| task(i, serde_json::json!({ "kind": i }).as_object().cloned().unwrap()))
            .collect();
        let strata = Strata::of(&["kind".into()], &tasks).unwrap();
        assert_eq!(strata.len(), 3);
        // Half of δ, as δ/(2k(k+1)) on the k-th experiment, split among three strata: δ/12
        // first, δ/2520 on the twentieth.
        assert_eq!(ln_strata(&spec, &after(0), &strata), ln_inverse_split(rate, 12));
        assert_eq!(ln_strata(&spec, &after(19), &strata), ln_inverse_split(rate, 2_520));
        // Σ δ/(k(k+1)) over any number of experiments stays below δ.
        let spent: f64 = (1..=10_000u64).map(|k| 1.0 / (k * (k + 1)) as f64).sum();
        assert!(spent < 1.0);
    }

    #[test]
    fn basis_points_of_the_largest_stakes_do_not_overflow() {
        let most = crate::limits::AMOUNT_MAX;
        assert_eq!(basis_points(most, 10_000), most);
        assert_eq!(basis_points(most, 5_000), most / 2);
        assert_eq!(basis_points(u128::MAX, 10_000), u128::MAX);
        for (amount, bps) in
            [(0, 5_000), (1, 5_000), (9_999, 1), (10_001, 9_999), (123_456_789, 2_500)]
        {
            assert_eq!(basis_points(amount, bps), amount * Amount::from(bps) / 10_000);
        }
    }
}
