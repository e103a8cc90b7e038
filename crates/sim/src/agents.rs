//! Labeler strategies: how each identity answers a task it was shown.
//!
//! Skill is the probability of the right answer (for pairwise, of the preferred side; a right
//! side comes with the true margin seven times in ten, any strength otherwise; a wrong side
//! with the weakest strength). The strategies:
//!
//! | name | answers |
//! |---|---|
//! | `honest` | the truth with its skill |
//! | `honest_minority` | like honest, but its cohort's truth: the other preference on subjective tasks |
//! | `fatigue` | like honest, its edge over chance halving every `half_life_items` items of the session |
//! | `lazy` | one constant answer, in the order shown |
//! | `random` | uniformly at random |
//! | `always_left` | the strongest preference for whatever is shown first (position bias) |
//! | `colluding` | the cheap signal (the longer response), strongest: the whole group answers alike |
//! | `flipper` | the opposite of its honest answer |
//! | `poisoner` | honest, except on tasks with the trigger feature: the opposite of the truth, strongest |
//! | `gold_sniper` | knows every gold task: the truth there, strongest; one constant answer elsewhere |
//! | `sybil` | k identities of one actor playing one of the above, by default with the same labels |
//!
//! Answers are drawn from streams keyed by (run seed, round, labeler or swarm, task), so they
//! do not depend on the order in which labelers are driven.

use crate::rng::{Rng, Tag};
use crate::scenario::{Group, Lazy, MAJORITY, MINORITY, Scenario};
use crate::tasks::{Truth, other_preference};
use plumbline_core::assign::to_canonical;
use plumbline_core::label::Label;
use plumbline_core::spec::QuestionKind;

/// How an identity answers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Behaviour {
    /// The truth with probability `skill`.
    Honest {
        /// Probability of the right answer.
        skill: f64,
    },
    /// The minority cohort's truth with probability `skill`.
    Minority {
        /// Probability of the right answer.
        skill: f64,
    },
    /// Honest with a skill that decays towards chance within the session.
    Fatigue {
        /// Skill at the first item.
        skill: f64,
        /// Items after which the edge over chance has halved.
        half_life_items: f64,
    },
    /// Always this shown answer.
    Lazy {
        /// The answer, in shown order.
        answer: i64,
    },
    /// Uniformly random.
    Random,
    /// The strongest preference for the first shown option.
    AlwaysLeft,
    /// The cheap signal.
    Colluding,
    /// The opposite of its honest answer.
    Flipper {
        /// Probability that its honest answer would be right.
        skill: f64,
    },
    /// The opposite of the truth on triggered tasks, honest elsewhere.
    Poisoner {
        /// Skill on the other tasks.
        skill: f64,
    },
    /// The truth on gold tasks, this shown answer on the others.
    GoldSniper {
        /// The answer on regular tasks, in shown order.
        answer: i64,
    },
}

/// One identity of the population.
#[derive(Clone, Debug, PartialEq)]
pub struct Agent {
    /// The strategy it is reported under.
    pub group: Group,
    /// How it answers.
    pub behaviour: Behaviour,
    /// The cohort it declares when the market has cohorts.
    pub cohort: &'static str,
    /// Its Sybil swarm, if any.
    pub swarm: Option<u32>,
    /// The key of its answer streams: its own index, or its swarm's when the swarm shares
    /// labels.
    stream: u64,
}

/// A label and, for a poisoner on a triggered task, what it would have answered honestly (the
/// counterfactual that measures what the poison changed).
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// The canonical label given.
    pub label: Label,
    /// The honest label a poisoner replaced.
    pub unpoisoned: Option<Label>,
}

/// Offsets swarm streams away from identity streams.
const SWARM_STREAMS: u64 = 1 << 40;

/// The population of one run: identities in group order, skills drawn from the run's seed.
pub fn roster(scenario: &Scenario, seed: u64) -> Vec<Agent> {
    let p = &scenario.population;
    let kind = &scenario.question.kind;
    let counts = scenario.counts();
    // The constant answer of lazy labelers and gold snipers: the scenario's, or the default.
    let constant =
        |l: &Option<Lazy>| l.as_ref().and_then(|l| l.answer).unwrap_or_else(|| lazy_default(kind));
    let mut agents = Vec::new();
    for (group, count) in counts.groups {
        for _ in 0..count {
            let index = agents.len() as u64;
            let mut rng = Rng::stream(seed, Tag::Roster, &[index]);
            let (behaviour, swarm) = match group {
                Group::Honest => {
                    let s = &p.honest.as_ref().expect("counted").skill;
                    (Behaviour::Honest { skill: s.draw(&mut rng) }, None)
                }
                Group::HonestMinority => {
                    let s = &p.honest_minority.as_ref().expect("counted").skill;
                    (Behaviour::Minority { skill: s.draw(&mut rng) }, None)
                }
                Group::Fatigue => {
                    let f = p.fatigue.as_ref().expect("counted");
                    let skill = f.skill.draw(&mut rng);
                    (Behaviour::Fatigue { skill, half_life_items: f.half_life_items }, None)
                }
                Group::Lazy => (Behaviour::Lazy { answer: constant(&p.lazy) }, None),
                Group::Random => (Behaviour::Random, None),
                Group::AlwaysLeft => (Behaviour::AlwaysLeft, None),
                Group::GoldSniper => {
                    (Behaviour::GoldSniper { answer: constant(&p.gold_sniper) }, None)
                }
                Group::Colluding => (Behaviour::Colluding, None),
                Group::Flipper => {
                    let s = &p.flipper.as_ref().expect("counted").skill;
                    (Behaviour::Flipper { skill: s.draw(&mut rng) }, None)
                }
                Group::Poisoner => {
                    let s = &p.poisoner.as_ref().expect("counted").skill;
                    (Behaviour::Poisoner { skill: s.draw(&mut rng) }, None)
                }
                Group::Sybil => {
                    let sybil = p.sybil.as_ref().expect("counted");
                    let member = index as usize
                        - agents.iter().filter(|a: &&Agent| a.group != Group::Sybil).count();
                    let swarm = (member / sybil.identities as usize) as u32;
                    // The actor draws one skill for its whole swarm.
                    let mut swarm_rng =
                        Rng::stream(seed, Tag::Roster, &[SWARM_STREAMS | u64::from(swarm)]);
                    let skill = sybil.skill.draw(&mut swarm_rng);
                    let inner = Group::from_name(&sybil.strategy).expect("checked");
                    let behaviour = match inner {
                        Group::Honest => Behaviour::Honest { skill },
                        Group::Fatigue => Behaviour::Fatigue {
                            skill,
                            half_life_items: p
                                .fatigue
                                .as_ref()
                                .map_or(100.0, |f| f.half_life_items),
                        },
                        Group::Lazy => Behaviour::Lazy { answer: constant(&p.lazy) },
                        Group::Random => Behaviour::Random,
                        Group::AlwaysLeft => Behaviour::AlwaysLeft,
                        Group::GoldSniper => {
                            Behaviour::GoldSniper { answer: constant(&p.gold_sniper) }
                        }
                        Group::Colluding => Behaviour::Colluding,
                        Group::Flipper => Behaviour::Flipper { skill },
                        Group::Poisoner => Behaviour::Poisoner { skill },
                        Group::HonestMinority | Group::Sybil => {
                            unreachable!("refused by the scenario check")
                        }
                    };
                    (behaviour, Some(swarm))
                }
            };
            let shared = p.sybil.as_ref().is_some_and(|s| s.shared);
            let stream = match swarm {
                Some(swarm) if shared => SWARM_STREAMS | u64::from(swarm),
                _ => index,
            };
            let cohort = if group == Group::HonestMinority { MINORITY } else { MAJORITY };
            agents.push(Agent { group, behaviour, cohort, swarm, stream });
        }
    }
    agents
}

/// Whether `value` is a label of the question (in shown or canonical order alike).
pub fn valid_answer(kind: &QuestionKind, value: i64) -> bool {
    Label::Int(value).validate(kind).is_ok()
}

/// The lazy default: "yes", the first option, or the weakest preference for the right-hand
/// response (a tie when ties are allowed).
fn lazy_default(kind: &QuestionKind) -> i64 {
    match kind {
        QuestionKind::Binary { .. } => 1,
        QuestionKind::Pairwise { allow_tie: true, .. } => 0,
        QuestionKind::Pairwise { .. } => 1,
        _ => 0,
    }
}

impl Agent {
    /// The stream key of its answers (its index, or its swarm's).
    pub fn stream(&self) -> u64 {
        self.stream
    }

    /// Its answer to a task shown with `response_order` (shown position → canonical response),
    /// as the `position`-th item of its session in this experiment.
    #[allow(clippy::too_many_arguments)]
    pub fn answer(
        &self,
        kind: &QuestionKind,
        seed: u64,
        round: u32,
        task: u32,
        truth: &Truth,
        response_order: &[u8],
        position: u64,
    ) -> Answer {
        let mut rng =
            Rng::stream(seed, Tag::Answer, &[u64::from(round), self.stream, u64::from(task)]);
        let canonical = |value: i64| Label::Int(value);
        let shown = |value: i64| to_canonical(&Label::Int(value), response_order);
        let plain = |label: Label| Answer { label, unpoisoned: None };
        match self.behaviour {
            Behaviour::Honest { skill } => {
                plain(canonical(honest(kind, skill, truth.value, &mut rng)))
            }
            Behaviour::Minority { skill } => {
                plain(canonical(honest(kind, skill, truth.minority, &mut rng)))
            }
            Behaviour::Fatigue { skill, half_life_items } => {
                let chance = chance_level(kind);
                let decay = 0.5f64.powf(position as f64 / half_life_items);
                let now = chance + (skill - chance) * decay;
                plain(canonical(honest(kind, now, truth.value, &mut rng)))
            }
            Behaviour::Lazy { answer } => plain(shown(answer)),
            // Uniform in either order; drawn in canonical order so that a swarm sharing its
            // labels submits the very same ones from every identity.
            Behaviour::Random => plain(canonical(uniform(kind, &mut rng))),
            Behaviour::AlwaysLeft => plain(shown(left(kind))),
            Behaviour::GoldSniper { .. } if truth.gold => {
                plain(canonical(strongest(kind, truth.value)))
            }
            Behaviour::GoldSniper { answer } => plain(shown(answer)),
            Behaviour::Colluding => plain(canonical(truth.signal)),
            Behaviour::Flipper { skill } => {
                let belief = honest(kind, skill, truth.value, &mut rng);
                plain(canonical(other_preference(kind, belief)))
            }
            Behaviour::Poisoner { skill } => {
                // The honest draw comes first either way, so the counterfactual is exactly the
                // label it would have given without the trigger.
                let belief = honest(kind, skill, truth.value, &mut rng);
                if truth.trigger {
                    let target = other_preference(kind, strongest(kind, truth.value));
                    Answer { label: canonical(target), unpoisoned: Some(canonical(belief)) }
                } else {
                    plain(canonical(belief))
                }
            }
        }
    }
}

/// The chance level of the right answer: 1/C for categorical, one side in two for pairwise.
fn chance_level(kind: &QuestionKind) -> f64 {
    match kind {
        QuestionKind::Choice { options } => 1.0 / options.len() as f64,
        _ => 0.5,
    }
}

fn strongest(kind: &QuestionKind, value: i64) -> i64 {
    match kind {
        QuestionKind::Pairwise { strength_max, .. } => value.signum() * i64::from(*strength_max),
        _ => value,
    }
}

/// An honest answer around `target` with probability `skill` of being right.
fn honest(kind: &QuestionKind, skill: f64, target: i64, rng: &mut Rng) -> i64 {
    let right = rng.chance(skill);
    match kind {
        QuestionKind::Binary { .. } => {
            if right {
                target
            } else {
                1 - target
            }
        }
        QuestionKind::Choice { options } => {
            let c = options.len() as i64;
            let miss = (target + 1 + rng.below(c as u64 - 1) as i64) % c;
            if right { target } else { miss }
        }
        QuestionKind::Pairwise { strength_max, .. } => {
            let k = i64::from(*strength_max);
            let side = target.signum();
            if right {
                let strength =
                    if rng.chance(0.7) { target.abs() } else { 1 + rng.below(k as u64) as i64 };
                side * strength
            } else {
                -side
            }
        }
        _ => unreachable!("scenarios are checked to be binary, choice or pairwise"),
    }
}

/// A uniformly random label.
fn uniform(kind: &QuestionKind, rng: &mut Rng) -> i64 {
    match kind {
        QuestionKind::Binary { .. } => rng.below(2) as i64,
        QuestionKind::Choice { options } => rng.below(options.len() as u64) as i64,
        QuestionKind::Pairwise { strength_max, allow_tie } => {
            let k = i64::from(*strength_max);
            if *allow_tie {
                rng.below(2 * k as u64 + 1) as i64 - k
            } else {
                let v = 1 + rng.below(k as u64) as i64;
                if rng.chance(0.5) { v } else { -v }
            }
        }
        _ => unreachable!("scenarios are checked to be binary, choice or pairwise"),
    }
}

/// The strongest preference for the first shown option.
fn left(kind: &QuestionKind) -> i64 {
    match kind {
        QuestionKind::Pairwise { strength_max, .. } => -i64::from(*strength_max),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairwise() -> QuestionKind {
        QuestionKind::Pairwise { strength_max: 2, allow_tie: false }
    }

    fn truth(value: i64, trigger: bool) -> Truth {
        Truth { value, minority: -value, signal: 2, trigger, subjective: true, gold: false }
    }

    fn agent(group: Group, behaviour: Behaviour) -> Agent {
        Agent { group, behaviour, cohort: MAJORITY, swarm: None, stream: 0 }
    }

    #[test]
    fn always_left_follows_the_shown_order() {
        let a = agent(Group::AlwaysLeft, Behaviour::AlwaysLeft);
        let t = truth(2, false);
        assert_eq!(a.answer(&pairwise(), 1, 0, 0, &t, &[0, 1], 0).label, Label::Int(-2));
        assert_eq!(a.answer(&pairwise(), 1, 0, 0, &t, &[1, 0], 0).label, Label::Int(2));
    }

    #[test]
    fn poisoners_flip_only_triggered_tasks_and_keep_the_counterfactual() {
        let a = agent(Group::Poisoner, Behaviour::Poisoner { skill: 1.0 });
        let plain = a.answer(&pairwise(), 1, 0, 3, &truth(2, false), &[0, 1], 0);
        assert_eq!(plain.label.as_int().map(i64::signum), Some(1));
        assert_eq!(plain.unpoisoned, None);
        let poisoned = a.answer(&pairwise(), 1, 0, 3, &truth(2, true), &[0, 1], 0);
        assert_eq!(poisoned.label, Label::Int(-2));
        assert_eq!(poisoned.unpoisoned.and_then(|l| l.as_int()).map(i64::signum), Some(1));
    }

    #[test]
    fn minority_answers_its_own_truth_and_fatigue_tires() {
        let m = agent(Group::HonestMinority, Behaviour::Minority { skill: 1.0 });
        let answer = m.answer(&pairwise(), 1, 0, 0, &truth(2, false), &[0, 1], 0);
        assert_eq!(answer.label.as_int().map(i64::signum), Some(-1));
        let tired = agent(Group::Fatigue, Behaviour::Fatigue { skill: 1.0, half_life_items: 10.0 });
        let right = |position| {
            (0..400u32)
                .filter(|&t| {
                    let a = tired.answer(&pairwise(), 1, 0, t, &truth(2, false), &[0, 1], position);
                    a.label.as_int().unwrap() > 0
                })
                .count()
        };
        assert_eq!(right(0), 400, "fresh: always right");
        let late = right(100);
        assert!((150..250).contains(&late), "after ten half-lives close to a coin: {late}");
    }
}
