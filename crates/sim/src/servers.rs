//! The server venue: the same market as in process, every step over the HTTP API of running
//! servers (`docs/http-api.md`) through [`plumbline_client`]. It is also the load generator
//! of the server benchmarks: labelers' requests are sent by concurrent client threads, each
//! request timed.
//!
//! Per round: the operator (signed in at every replica) mints the reward pool to a new
//! creator and each labeler's stakes; the creator creates the experiment from the scenario's
//! spec, imports the tasks, funds and opens it. Labelers are spread round-robin over the
//! replicas; joins, commits and reveals go as the market's loop gives them. After the reveal
//! deadline the experiment is settled, and its public record and export fetched.
//!
//! Several URLs are replicas of one market on one database: a replica that stops answering is
//! left for the next one (see [`plumbline_client::Replicas`]). Mints and the experimenter's
//! writes move only when the connection was refused; joins, commits, reveals and settling
//! are harmless to repeat. The run's server stats count the requests answered by another
//! replica than their own.
//!
//! Deadlines move with the servers' test clocks (`serve --test-clock`) when they exist: the
//! clock is read from the sign-in message's `Issued At` and set forward with
//! `POST /test/clock`. Otherwise real time must pass, so the scenario's `commit_secs` and
//! `reveal_secs` must be short. The server draws its own assignment seed, so a server run is
//! not reproducible bit for bit; labels still come from the same seeded streams.

use crate::error::{Result, SimError};
use crate::market::{self, Run};
use crate::report::ServerStats;
use crate::scenario::Scenario;
use crate::tasks::Pool;
use crate::venue::{Joining, Opened, Opening, Sent, Settled, Shown, Venue};
use plumbline_client::api::{
    BatchTaskView, BatchView, CreateRequest, ExperimentView, JoinAnswer, MintRequest,
};
use plumbline_client::{Client, Replicas};
use plumbline_core::client::{LabelerKey, SignedCommit, SignedReveal};
use plumbline_core::practice::PracticeRecord;
use plumbline_core::record::PublicRecord;
use plumbline_core::spec::{ExperimentSpec, QuestionKind};
use plumbline_core::task::{Prompt, Task};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The longest any one request may take.
const REQUEST_TIMEOUT_SECS: u64 = 120;
/// Seconds a real-time run waits past a deadline before acting on it, for clock skew.
const DEADLINE_MARGIN_SECS: u64 = 2;

/// The servers to drive and the operator who may mint on them.
#[derive(Clone, Debug)]
pub struct ServerTarget {
    /// Base URLs (`http://host:port`); labelers are spread round-robin over them.
    pub urls: Vec<String>,
    /// The operator's key (the servers run with `--operator` set to its address).
    pub operator: LabelerKey,
    /// Concurrent client threads.
    pub threads: u32,
}

/// Runs one seed of a scenario against the servers; `stats` accumulates their load figures.
pub fn run(
    scenario: &Scenario,
    pool: Option<&Pool>,
    seed: u64,
    target: &ServerTarget,
    stats: &mut ServerStats,
) -> Result<Run> {
    if scenario.qualification.is_some() {
        return Err(SimError::Server {
            url: String::new(),
            message: "a scenario with a qualification runs in process only (without --server)"
                .into(),
        });
    }
    let mut servers = Servers::connect(target, seed, &scenario.question.kind)?;
    let run = market::run(scenario, pool, seed, &mut servers)?;
    servers.record_stats(stats);
    Ok(run)
}

/// Running servers, as a venue for the runs of one seed.
pub struct Servers {
    target: ServerTarget,
    seed: u64,
    kind: QuestionKind,
    replicas: Arc<Replicas>,
    /// The operator, signed in at each replica.
    operators: Vec<Client>,
    clock: Clock,
    timing: Timing,
    round: Option<Round>,
}

/// The round's experiment on the servers.
struct Round {
    path: String,
    /// Its creator, signed in.
    creator: Client,
    /// Each task's index by its content.
    task_of: HashMap<ContentKey, u32>,
}

impl Servers {
    /// Signs the operator in at every replica; the latest clock among them is "now", to which
    /// their test clocks, if they have them, are set.
    pub fn connect(target: &ServerTarget, seed: u64, kind: &QuestionKind) -> Result<Servers> {
        if target.urls.is_empty() {
            return Err(SimError::Server {
                url: String::new(),
                message: "no server URL given".into(),
            });
        }
        let timeout = Some(Duration::from_secs(REQUEST_TIMEOUT_SECS));
        let replicas = Arc::new(Replicas::new(&target.urls, timeout));
        let mut operators: Vec<Client> =
            (0..target.urls.len()).map(|r| Client::on(&replicas, r)).collect();
        let mut now = 0;
        for client in &mut operators {
            now = now.max(client.login(&target.operator)?);
        }
        let test = operators[0].set_test_clocks(now)?;
        Ok(Servers {
            target: target.clone(),
            seed,
            kind: kind.clone(),
            replicas,
            operators,
            clock: Clock { test, now },
            timing: Timing::default(),
            round: None,
        })
    }

    /// The operator's client at the first replica.
    pub fn operator(&self) -> &Client {
        &self.operators[0]
    }

    /// The key of round `round`'s creator: one of its own per round.
    pub fn creator_key(&self, round: u32) -> LabelerKey {
        LabelerKey::derived(self.seed ^ 0xc0ea_7000_0000_0000, u64::from(round))
    }

    /// The creator signs in, creates the round's experiment from `spec` and imports `tasks`.
    pub fn create(
        &mut self,
        creator_key: &LabelerKey,
        spec: &ExperimentSpec,
        tasks: &[Task],
    ) -> Result<ExperimentView> {
        let mut creator = Client::on(&self.replicas, 0);
        creator.login(creator_key)?;
        let spec = serde_json::to_value(spec).expect("specs serialize");
        let created: ExperimentView = creator.post_once("/experiments", &CreateRequest { spec })?;
        let path = format!("/experiments/{}", created.experiment_id);
        let jsonl: String = tasks
            .iter()
            .map(|t| serde_json::to_string(t).expect("tasks serialize") + "\n")
            .collect();
        creator.post_text::<Value>(&format!("{path}/tasks"), "application/x-ndjson", &jsonl)?;
        self.round = Some(Round { path, creator, task_of: tasks_by_content(tasks) });
        Ok(created)
    }

    /// The creator funds and opens the created experiment.
    pub fn fund_and_open(&mut self) -> Result<Opened> {
        let Round { path, creator, .. } = self.round();
        creator.post_once::<Value>(&format!("{path}/fund"), &json!({}))?;
        let opened: ExperimentView = creator.post_once(&format!("{path}/open"), &json!({}))?;
        Ok(Opened { id: opened.experiment_id, domain: opened.domain() })
    }

    /// The client of labeler `i`: labelers are spread round-robin over the replicas.
    fn client(&self, i: usize) -> Client {
        Client::on(&self.replicas, i)
    }

    fn round(&self) -> &Round {
        self.round.as_ref().expect("the market's loop opens a round before using it")
    }

    /// Labeler `i` joins: its batch, or `None` when no batch is left for it.
    fn join_one(&self, joining: &Joining) -> Result<Option<Shown>> {
        let round = self.round();
        let client = self.client(joining.labeler);
        let path = format!("{}/join", round.path);
        let started = Instant::now();
        let answer = client.post::<JoinAnswer>(&path, &joining.join);
        let refused = answer.as_ref().is_err_and(|e| e.is_refusal("no_batch"));
        self.timing.record(started, answer.is_err() && !refused);
        let batch = match answer {
            Ok(JoinAnswer::Batch(batch)) => batch,
            // A join repeated after a broken connection answers without the tasks, which only
            // the labeler, signed in, may read.
            Ok(JoinAnswer::Repeated(repeat)) => {
                let mut own = client.clone();
                own.login(joining.key)?;
                own.get::<BatchView>(&format!("{}/batches/{}", round.path, repeat.batch_id))?
            }
            Err(_) if refused => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        // A batch shows its tasks by position only; labelers recognise them by their content.
        let tasks = batch
            .tasks
            .iter()
            .map(|task| {
                let index = round.task_of.get(&content_key(task)).copied().ok_or_else(|| {
                    SimError::Server {
                        url: client.url().to_owned(),
                        message: "a batch task that is not one of ours".into(),
                    }
                })?;
                Ok((index, task.response_order.clone()))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Shown { batch_id: batch.batch_id, tasks }))
    }

    /// Every labeler sends its commit or reveal of each batch, `step` naming the request.
    fn send_all<T: Serialize + Sync>(&self, step: &str, sent: &[Sent<T>]) -> Result<()> {
        let path = &self.round().path;
        parallel(sent.len(), self.target.threads, |k| {
            let Sent { labeler, batch_id, message } = &sent[k];
            let path = format!("{path}/batches/{batch_id}/{step}");
            let started = Instant::now();
            let answer = self.client(*labeler).post::<Value>(&path, message);
            self.timing.record(started, answer.is_err());
            answer?;
            Ok(())
        })?;
        Ok(())
    }

    /// The consensus class of every task in the server's JSONL export: the sign of a
    /// pairwise consensus (0 when it prefers nothing), the class of a categorical one.
    fn export_classes(&self, operator: &Client, path: &str) -> Result<BTreeMap<u32, i64>> {
        let query = [("format", "jsonl".to_owned())];
        let bytes = operator.get_bytes(&format!("{path}/export"), &query)?;
        let fail = |message: String| SimError::Server { url: operator.url().to_owned(), message };
        let text = String::from_utf8(bytes).map_err(|e| fail(format!("export: {e}")))?;
        let mut out = BTreeMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let row: Value =
                serde_json::from_str(line).map_err(|e| fail(format!("export line: {e}")))?;
            let task =
                row["task"].as_u64().ok_or_else(|| fail("an export line without a task".into()))?;
            let Some(value) = row["consensus"].as_f64() else { continue };
            let class = match self.kind {
                QuestionKind::Pairwise { .. } => {
                    if value > 1e-9 {
                        1
                    } else if value < -1e-9 {
                        -1
                    } else {
                        0
                    }
                }
                _ => value.round() as i64,
            };
            out.insert(task as u32, class);
        }
        Ok(out)
    }

    /// Adds this run's load figures to `stats`.
    pub fn record_stats(&self, stats: &mut ServerStats) {
        let mut latencies =
            self.timing.latencies_ms.lock().expect("no thread panics holding it").clone();
        latencies.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            if latencies.is_empty() {
                0.0
            } else {
                latencies
                    [((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len()) - 1]
            }
        };
        stats.urls = self.target.urls.clone();
        stats.threads = self.target.threads;
        stats.test_clock = self.clock.test;
        let before = stats.labeler_requests;
        stats.labeler_requests += latencies.len() as u64;
        stats.errors += self.timing.errors.load(Ordering::Relaxed) as u64;
        stats.seconds += *self.timing.seconds.lock().expect("no thread panics holding it");
        stats.requests_per_sec =
            if stats.seconds > 0.0 { stats.labeler_requests as f64 / stats.seconds } else { 0.0 };
        // Percentiles of the latest run, weighted into the running figures by request count.
        let weight = |old: f64, new: f64| {
            let n = stats.labeler_requests as f64;
            if n == 0.0 { 0.0 } else { (old * before as f64 + new * (n - before as f64)) / n }
        };
        stats.latency_p50_ms = weight(stats.latency_p50_ms, pick(0.5));
        stats.latency_p99_ms = weight(stats.latency_p99_ms, pick(0.99));
        stats.failovers += self.replicas.failovers();
        for down in self.replicas.downs() {
            if !stats.replicas_down.contains(&down) {
                stats.replicas_down.push(down);
            }
        }
    }
}

impl Venue for Servers {
    fn round_start(&mut self, _round: u32) -> Result<u64> {
        Ok(if self.clock.test { self.clock.now } else { system_now() })
    }

    fn open(&mut self, opening: &Opening) -> Result<Opened> {
        let creator_key = self.creator_key(opening.round);
        // Mints go round-robin over the replicas like the labelers they fund, each with the
        // operator's session there (a replica limits each address's writes on its own).
        let mint = |via: usize, to: &LabelerKey, amount: u128| {
            let request = MintRequest { to: to.address(), amount };
            self.operators[via % self.operators.len()].post_once::<Value>("/ledger/mint", &request)
        };
        mint(0, &creator_key, opening.pool)?;
        for (i, key) in opening.labelers.iter().enumerate() {
            mint(i, key, opening.stakes)?;
        }
        self.create(&creator_key, opening.spec, opening.tasks)?;
        self.fund_and_open()
    }

    fn advance(&mut self, t: u64) -> Result<()> {
        if self.clock.test {
            if t > self.clock.now {
                self.operators[0].set_test_clocks(t)?;
                self.clock.now = t;
            }
        } else {
            let until = t + DEADLINE_MARGIN_SECS;
            while system_now() < until {
                std::thread::sleep(Duration::from_millis(200));
            }
            self.clock.now = system_now();
        }
        Ok(())
    }

    fn join(&mut self, joins: &[Joining]) -> Result<Vec<Option<Shown>>> {
        let started = Instant::now();
        let shown = parallel(joins.len(), self.target.threads, |k| self.join_one(&joins[k]));
        self.timing.phase(started);
        shown
    }

    fn commit(&mut self, commits: &[Sent<SignedCommit>]) -> Result<()> {
        let started = Instant::now();
        self.send_all("commit", commits)?;
        self.timing.phase(started);
        Ok(())
    }

    fn reveal(&mut self, reveals: &[Sent<SignedReveal>]) -> Result<()> {
        let started = Instant::now();
        self.send_all("reveal", reveals)?;
        self.timing.phase(started);
        Ok(())
    }

    fn ended_early(&mut self) -> Result<bool> {
        let path = format!("{}/settle", self.round().path);
        // Settling answers the stored settlement once there is one, and 409 while a round may
        // still add labels (`wrong_phase` in a round's commit phase, `deadline` after it).
        match self.operators[0].post::<Value>(&path, &json!({})) {
            Ok(_) => Ok(true),
            Err(e) if e.is_refusal("deadline") || e.is_refusal("wrong_phase") => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn settle(&mut self, _practice: Option<PracticeRecord>) -> Result<Settled> {
        let path = self.round().path.clone();
        let operator = &self.operators[0];
        // The scheduler may have settled it already; settling again answers the stored one,
        // so a settle cut short may be sent again to another replica.
        operator.post::<Value>(&format!("{path}/settle"), &json!({}))?;
        let record: PublicRecord = operator.get(&format!("{path}/record"))?;
        // Anyone can recompute a server's payouts: every run checks that it can. (In process,
        // the record comes from the very code `audit` replays it through.)
        plumbline_core::record::audit(&record).map_err(|e| SimError::Audit {
            experiment: record.experiment_id,
            message: e.to_string(),
        })?;
        let export_classes = Some(self.export_classes(operator, &path)?);
        self.round = None;
        // The next round starts after this one's last instant.
        if self.clock.test {
            let next = self.clock.now + 1;
            self.advance(next)?;
        }
        Ok(Settled { record, export_classes })
    }

    fn rehearsal(&self) -> Option<Servers> {
        None
    }
}

fn system_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The servers' clocks: test clocks moved forward on request, or real time waited out.
struct Clock {
    test: bool,
    now: u64,
}

/// Request timing shared by the client threads.
#[derive(Default)]
struct Timing {
    latencies_ms: Mutex<Vec<f64>>,
    errors: AtomicUsize,
    /// Wall-clock seconds in the labelers' phases.
    seconds: Mutex<f64>,
}

impl Timing {
    /// Records a request sent at `started`.
    fn record(&self, started: Instant, failed: bool) {
        let ms = started.elapsed().as_secs_f64() * 1e3;
        self.latencies_ms.lock().expect("no thread panics holding it").push(ms);
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records a labelers' phase that began at `started`.
    fn phase(&self, started: Instant) {
        *self.seconds.lock().expect("no thread panics holding it") +=
            started.elapsed().as_secs_f64();
    }
}

/// Runs `f` over `0..n` on `threads` threads; answers in order; the first error wins.
fn parallel<T: Send>(
    n: usize,
    threads: u32,
    f: impl Fn(usize) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<Result<T>>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..(threads as usize).min(n).max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let out = f(i);
                    let failed = out.is_err();
                    slots.lock().expect("no thread panics holding it")[i] = Some(out);
                    if failed {
                        // Stop handing out work; the other threads finish their current item.
                        next.store(n, Ordering::Relaxed);
                        break;
                    }
                }
            });
        }
    });
    let mut out = Vec::with_capacity(n);
    for slot in slots.into_inner().expect("no thread panics holding it") {
        match slot {
            Some(Ok(v)) => out.push(v),
            Some(Err(e)) => return Err(e),
            None => {}
        }
    }
    if out.len() < n {
        return Err(SimError::Server {
            url: String::new(),
            message: "a client thread stopped early".into(),
        });
    }
    Ok(out)
}

/// A task's content as a labeler sees it: the prompt and the responses in canonical order.
type ContentKey = (Prompt, Vec<String>);

/// Each task's index by its content; the first of identical tasks wins (a labeler cannot tell
/// them apart either).
fn tasks_by_content(tasks: &[Task]) -> HashMap<ContentKey, u32> {
    let mut by_content = HashMap::new();
    for (index, task) in tasks.iter().enumerate() {
        by_content.entry((task.prompt.clone(), task.responses.clone())).or_insert(index as u32);
    }
    by_content
}

/// The content of a shown task: its responses put back in canonical order.
fn content_key(task: &BatchTaskView) -> ContentKey {
    let mut canonical = task.responses.clone();
    for (position, &index) in task.response_order.iter().enumerate() {
        if let (Some(slot), Some(response)) =
            (canonical.get_mut(index as usize), task.responses.get(position))
        {
            *slot = response.clone();
        }
    }
    (task.prompt.clone(), canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shown_task_is_known_by_its_content_in_canonical_order() {
        let task = |responses: &[&str]| Task {
            id: "t".into(),
            prompt: "Which?".to_owned().into(),
            responses: responses.iter().map(|r| (*r).to_owned()).collect(),
            gold: None,
            meta: Default::default(),
        };
        let tasks = [task(&["a", "b"]), task(&["c", "d"]), task(&["a", "b"])];
        let by_content = tasks_by_content(&tasks);
        let shown = BatchTaskView {
            task: 0,
            prompt: "Which?".to_owned().into(),
            responses: vec!["d".into(), "c".into()],
            response_order: vec![1, 0],
        };
        assert_eq!(by_content.get(&content_key(&shown)), Some(&1));
        let first = BatchTaskView {
            responses: vec!["a".into(), "b".into()],
            response_order: vec![0, 1],
            ..shown
        };
        assert_eq!(by_content.get(&content_key(&first)), Some(&0), "the first of twins wins");
    }
}
