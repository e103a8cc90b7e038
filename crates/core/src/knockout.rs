//! A best-of experiment (`[rounds] rule = "best_of"`): the crowd finds the best of each
//! prompt's responses by a knockout played over the experiment's rounds
//! ([`crate::adaptive::best_of`]).
//!
//! **Tasks.** The experimenter writes one best-of task per prompt, with its 2 to 64 responses.
//! At import it becomes one pairwise task per pair of responses, `"{id}:{i}-{j}"` with the
//! responses `i < j` in that order, its `meta` the original's plus
//! `"best_of": {"task": id, "pair": [i, j]}`. Every pair exists from the start, so the task
//! list is committed by its hash when the experiment opens like any other; the rounds choose
//! which pairs are asked. Gold tasks are ordinary pairwise tasks with known answers.
//!
//! **Rounds.** Each prompt's bracket is its responses shuffled by the experiment's PRF (tag
//! `"bracket"`, the prompt's index). The first round asks the first matches, each of `overlap`
//! labelers. Each later round replays every prompt's knockout from every label revealed so far
//! and asks its next comparisons: a match wanting `v` more votes is asked of `v` labelers who
//! have not seen it. A pairwise label is a vote for the side its sign prefers (a tie is no
//! vote); a vote weighs what its labeler's answers to the gold tasks revealed by then say, and
//! its votes on matches decided before. Everything is integer arithmetic over the revealed
//! labels, so a replica and `plumbline audit` ask the same comparisons.
//!
//! **Results.** After the last round each prompt has a winner (once its final is decided), a
//! ranking by how far each response went, and the decided matches as preference pairs; the
//! rounds may run out first, and then the prompt has no winner.

use crate::Address;
use crate::adaptive::best_of::{Record, Tournament, Vote};
use crate::assign::Prf;
use crate::label::Label;
use crate::limits::{TASK_ID_BYTES_MAX, TASKS_MAX};
use crate::rounds::Rounds;
use crate::task::Task;
use serde_json::{Value, json};
use std::collections::HashMap;

/// The `meta` key that ties a pair task to its best-of task.
pub const META_KEY: &str = "best_of";

/// The most bytes a best-of task's id may have: its pair tasks' ids add up to six.
pub const ID_BYTES_MAX: usize = TASK_ID_BYTES_MAX - 6;

/// One prompt's responses and the pair task of every pair of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// The best-of task's id.
    pub id: String,
    /// Its responses.
    pub responses: u32,
    /// The pair task of responses `(i, j)`, `i < j`.
    pairs: HashMap<(u32, u32), u32>,
}

/// The matches a knockout over `groups` decides (one fewer than each prompt's responses) and
/// those its first round asks (each prompt's responses paired off; an odd one out waits).
pub fn match_counts(groups: &[Group]) -> (u32, u32) {
    let matches = groups.iter().map(|g| g.responses - 1).sum();
    let first_round = groups.iter().map(|g| g.responses / 2).sum();
    (matches, first_round)
}

impl Group {
    /// The pair task comparing `a` and `b`.
    pub fn pair_task(&self, a: u32, b: u32) -> u32 {
        self.pairs[&(a.min(b), a.max(b))]
    }
}

/// Checks what a best-of task line adds to a task line: an id short enough for its pairs' ids
/// and no `meta.best_of` of its own.
pub fn check_line(task: &Task) -> Result<(), String> {
    if task.id.len() > ID_BYTES_MAX {
        return Err(format!("a best-of task's `id` must be 1 to {ID_BYTES_MAX} bytes"));
    }
    if task.meta.contains_key(META_KEY) {
        return Err(format!("`meta.{META_KEY}` is written by the import; leave it out"));
    }
    if task.responses.len() < 2 {
        return Err("a best-of task compares 2 to 64 responses".into());
    }
    Ok(())
}

/// Expands every regular best-of task into its pair tasks; gold tasks stay as they are.
pub fn expand(lines: Vec<Task>) -> Result<Vec<Task>, String> {
    let mut tasks = Vec::new();
    for line in lines {
        if line.is_gold() {
            tasks.push(line);
            continue;
        }
        let n = line.responses.len();
        for i in 0..n {
            for j in i + 1..n {
                let mut meta = line.meta.clone();
                meta.insert(META_KEY.into(), json!({"task": line.id, "pair": [i, j]}));
                tasks.push(Task {
                    id: format!("{}:{i}-{j}", line.id),
                    prompt: line.prompt.clone(),
                    responses: vec![line.responses[i].clone(), line.responses[j].clone()],
                    gold: None,
                    meta,
                });
            }
        }
        if tasks.len() > TASKS_MAX {
            return Err(format!("the best-of tasks make more than {TASKS_MAX} pair tasks"));
        }
    }
    Ok(tasks)
}

/// Every prompt's group, in the order its first pair task appears; `Err` says which task does
/// not belong to a whole group of pairs.
pub fn groups(tasks: &[Task]) -> Result<Vec<Group>, String> {
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (t, task) in tasks.iter().enumerate().filter(|(_, t)| !t.is_gold()) {
        let (id, i, j) = pair(task).ok_or_else(|| {
            format!(
                "task {:?} is not a pair of a best-of task: a best-of experiment's regular \
                 tasks are imported as best-of tasks",
                task.id
            )
        })?;
        let g = *index.entry(id).or_insert_with(|| {
            groups.push(Group { id: id.to_owned(), responses: 0, pairs: HashMap::new() });
            groups.len() - 1
        });
        let group = &mut groups[g];
        if group.pairs.insert((i, j), t as u32).is_some() {
            return Err(format!("best-of task {id:?} has the pair {i}-{j} twice"));
        }
        group.responses = group.responses.max(j + 1);
    }
    for group in &groups {
        let n = group.responses as usize;
        if !(2..=crate::adaptive::best_of::RESPONSES_MAX as usize).contains(&n)
            || group.pairs.len() != n * (n - 1) / 2
        {
            return Err(format!(
                "best-of task {:?} must hold every pair of its 2 to 64 responses",
                group.id
            ));
        }
    }
    Ok(groups)
}

/// The best-of task and the pair `(i, j)`, `i < j`, a pair task compares.
pub fn pair(task: &Task) -> Option<(&str, u32, u32)> {
    let tie = task.meta.get(META_KEY)?;
    let id = tie.get("task")?.as_str()?;
    let pair = tie.get("pair")?.as_array()?;
    let side = |k: usize| pair.get(k).and_then(Value::as_u64).and_then(|v| u32::try_from(v).ok());
    let (i, j) = (side(0)?, side(1)?);
    (pair.len() == 2 && i < j && task.responses.len() == 2).then_some((id, i, j))
}

/// Every prompt's knockout before any vote: its responses shuffled by the PRF (tag
/// `"bracket"`, the prompt's index) into its bracket.
fn brackets(groups: &[Group], spec_rounds: &Rounds, overlap: u32, prf: &Prf) -> Vec<Tournament> {
    groups
        .iter()
        .enumerate()
        .map(|(g, group)| {
            let mut order: Vec<u32> = (0..group.responses).collect();
            prf.shuffle("bracket", g as u64, &mut order);
            Tournament::new(&order, &spec_rounds.best_of_rule(overlap, group.responses))
        })
        .collect()
}

/// One revealed batch as the knockout reads it: its labeler, round, and canonical labels.
pub type Revealed<'a> = (Address, u32, &'a [(u32, Label)]);

/// Every prompt's knockout after rounds `0..rounds`, replayed from the revealed batches (in
/// batch order; a labeler is numbered by its first revealed batch). Round `r`'s votes weigh
/// the gold answers of every batch of rounds up to `r`.
pub fn replay(
    tasks: &[Task],
    groups: &[Group],
    spec_rounds: &Rounds,
    overlap: u32,
    prf: &Prf,
    revealed: &[Revealed],
    rounds: u32,
) -> Replayed {
    let mut numbers: HashMap<Address, u32> = HashMap::new();
    for (labeler, _, _) in revealed {
        let next = numbers.len() as u32;
        numbers.entry(*labeler).or_insert(next);
    }
    let mut where_is: HashMap<u32, (usize, u32, u32)> = HashMap::new();
    for (g, group) in groups.iter().enumerate() {
        for (&(i, j), &t) in &group.pairs {
            where_is.insert(t, (g, i, j));
        }
    }
    let mut gold = vec![Record::default(); numbers.len()];
    let mut played = brackets(groups, spec_rounds, overlap, prf);
    for round in 0..rounds {
        let mut votes: Vec<Vec<Vote>> = vec![Vec::new(); groups.len()];
        for (labeler, _, labels) in revealed.iter().filter(|(_, r, _)| *r == round) {
            let labeler = numbers[labeler];
            for (task, label) in labels.iter() {
                let Some(side) = label.as_int().map(i64::signum).filter(|s| *s != 0) else {
                    continue;
                };
                if let Some(answer) = tasks.get(*task as usize).and_then(|t| t.gold.as_ref()) {
                    let record = &mut gold[labeler as usize];
                    if let Some(truth) = answer.as_int().map(i64::signum).filter(|s| *s != 0) {
                        record.answered += 1;
                        record.right += u64::from(truth == side);
                    }
                } else if let Some(&(g, i, j)) = where_is.get(task) {
                    // A negative label prefers the first response.
                    let (winner, loser) = if side < 0 { (i, j) } else { (j, i) };
                    votes[g].push(Vote { labeler, winner, loser });
                }
            }
        }
        for (tournament, votes) in played.iter_mut().zip(&votes) {
            let weights = tournament.weights(&gold);
            tournament.record_round(votes, &weights);
        }
    }
    let mut labelers = vec![Address::ZERO; numbers.len()];
    for (address, number) in numbers {
        labelers[number as usize] = address;
    }
    Replayed { tournaments: played, labelers, gold }
}

/// Every prompt's knockout, and what the labelers' records say so far.
#[derive(Clone, Debug)]
pub struct Replayed {
    /// Each prompt's knockout, in the order of the groups.
    pub tournaments: Vec<Tournament>,
    /// The labelers with revealed labels, by number.
    labelers: Vec<Address>,
    /// Their answers to gold, by number.
    gold: Vec<Record>,
}

impl Replayed {
    /// Every labeler's vote weight now, from its gold answers and its votes on every prompt's
    /// decided matches, each shrunk towards the crowd's pooled gold accuracy; and the weight
    /// of a labeler with no revealed label yet (that accuracy itself).
    pub fn weights(&self) -> (HashMap<Address, u64>, u64) {
        let mut records = self.gold.clone();
        for tournament in &self.tournaments {
            tournament.add_agreement(&mut records);
        }
        let prior = crate::adaptive::best_of::pooled_prior(&self.gold);
        let weight =
            |r: &Record| crate::adaptive::vote_weight_toward(r.right, r.answered, 2, prior);
        let known = self.labelers.iter().copied().zip(records.iter().map(weight)).collect();
        (known, weight(&Record::default()))
    }
}

/// The pair tasks the first round asks: every prompt's first matches.
pub fn first_round_tasks(
    groups: &[Group],
    spec_rounds: &Rounds,
    overlap: u32,
    prf: &Prf,
) -> Vec<u32> {
    let mut tasks = next_round_tasks(groups, &brackets(groups, spec_rounds, overlap, prf));
    tasks.dedup();
    tasks
}

/// The pair tasks the next round asks, each as often as its match wants votes, ascending.
pub fn next_round_tasks(groups: &[Group], played: &[Tournament]) -> Vec<u32> {
    let mut tasks: Vec<u32> = groups
        .iter()
        .zip(played)
        .flat_map(|(group, tournament)| {
            tournament.next_round().into_iter().flat_map(move |c| {
                std::iter::repeat_n(group.pair_task(c.left, c.right), c.votes as usize)
            })
        })
        .collect();
    tasks.sort_unstable();
    tasks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::B256;
    use crate::fixed::Ppm;
    use crate::rounds::RoundRule;

    fn best_of(id: &str, n: usize) -> Task {
        Task {
            id: id.into(),
            prompt: format!("prompt {id}").into(),
            responses: (0..n).map(|i| format!("{id} response {i}")).collect(),
            gold: None,
            meta: Default::default(),
        }
    }

    fn rounds() -> Rounds {
        Rounds {
            rule: RoundRule::BestOf,
            count: 12,
            labels_max: 9,
            confidence: Ppm::new(950_000).unwrap(),
            commit_within: crate::duration::Duration::from_secs(600),
            reveal_within: crate::duration::Duration::from_secs(600),
        }
    }

    #[test]
    fn a_best_of_task_becomes_every_pair_and_its_groups_come_back() {
        let gold = Task { gold: Some(Label::Int(-1)), ..best_of("g", 2) };
        let tasks = expand(vec![best_of("a", 4), gold.clone(), best_of("b", 2)]).unwrap();
        assert_eq!(tasks.len(), 6 + 1 + 1);
        assert_eq!(tasks[0].id, "a:0-1");
        assert_eq!(tasks[5].id, "a:2-3");
        assert_eq!(tasks[5].responses, ["a response 2", "a response 3"]);
        assert_eq!(tasks[6], gold);
        let groups = groups(&tasks).unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!((groups[0].responses, groups[1].responses), (4, 2));
        assert_eq!(groups[0].pair_task(3, 1), 4, "a:1-3");
        assert_eq!(groups[1].pair_task(0, 1), 7);
    }

    #[test]
    fn a_group_missing_a_pair_or_a_stray_task_is_refused() {
        let mut tasks = expand(vec![best_of("a", 3)]).unwrap();
        tasks.pop();
        assert!(groups(&tasks).unwrap_err().contains("every pair"));
        let stray = Task { meta: Default::default(), ..best_of("s", 2) };
        assert!(groups(&[stray]).unwrap_err().contains("not a pair"));
        assert!(check_line(&best_of(&"x".repeat(ID_BYTES_MAX + 1), 2)).is_err());
        assert!(check_line(&best_of("one", 1)).is_err());
    }

    #[test]
    fn the_first_round_asks_each_first_match_once_and_votes_move_the_bracket_on() {
        let tasks = expand(vec![best_of("a", 4)]).unwrap();
        let groups = groups(&tasks).unwrap();
        let prf = Prf::new(B256::repeat_byte(3));
        let first = first_round_tasks(&groups, &rounds(), 3, &prf);
        assert_eq!(first.len(), 2, "two first matches of four responses");
        // Five labelers all prefer the lower-numbered response of every pair they see.
        let labels: Vec<(u32, Label)> = first.iter().map(|&t| (t, Label::Int(-2))).collect();
        let revealed: Vec<Revealed> =
            (0..5).map(|i| (Address::repeat_byte(i + 1), 0, &labels[..])).collect();
        let played = replay(&tasks, &groups, &rounds(), 3, &prf, &revealed, 1).tournaments;
        let next = next_round_tasks(&groups, &played);
        // The final between the two winners: three first votes on one pair.
        assert_eq!(next.len(), 3);
        assert!(next.iter().all(|&t| t == next[0]));
        let (_, i, j) = pair(&tasks[next[0] as usize]).unwrap();
        let winners: Vec<u32> = played[0].matches().filter_map(|m| m.winner).collect();
        assert_eq!((i, j), (winners[0].min(winners[1]), winners[0].max(winners[1])));
    }
}
