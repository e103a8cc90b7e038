//! The server driver: the same population and strategies as the in-process driver, every step
//! over the HTTP API of running servers (`docs/http-api.md`). It is also the load generator of
//! the server benchmarks: labelers are driven by concurrent client threads, each request timed.
//!
//! Per experiment: the operator signs in (Sign-In with Ethereum) and mints the reward pool to a
//! creator and each labeler's stakes; the creator creates the experiment from the scenario's
//! spec, imports the tasks, funds and opens it. Then, spread round-robin over the URLs, every
//! labeler joins its batches (signed `Join`), commits (signed commitment) and, after the commit
//! deadline, reveals; after the reveal deadline the experiment is settled and its public record
//! fetched and analyzed exactly like an in-process one.
//!
//! Deadlines move with the servers' test clocks (`serve --test-clock`) when they exist: the
//! clock is read from the sign-in message's `Issued At` and set forward with
//! `POST /test/clock`. Otherwise real time must pass, so the scenario's `commit_secs` and
//! `reveal_secs` must be short. The server draws its own assignment seed, so a server run is
//! not reproducible bit for bit; labels still come from the same seeded streams.

use crate::agents::roster;
use crate::error::{Result, SimError};
use crate::market::{Round, Run, identity_key};
use crate::report::ServerStats;
use crate::rng::{Rng, Tag};
use crate::scenario::Scenario;
use crate::tasks::{self, Pool};
use plumbline_core::B256;
use plumbline_core::client::{LabelerKey, RevealedLabel};
use plumbline_core::eip712;
use plumbline_core::record::PublicRecord;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The longest any one request may take.
const REQUEST_TIMEOUT_SECS: u64 = 120;
/// The largest answer read (records of big experiments).
const ANSWER_BYTES_MAX: u64 = 1 << 30;
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

/// A connection to one server.
#[derive(Clone)]
struct Client {
    url: String,
    agent: ureq::Agent,
    token: Option<String>,
}

/// A refusal or failure, with the HTTP status and the server's `code`.
#[derive(Debug)]
struct Refusal {
    status: u16,
    code: String,
    message: String,
}

impl Client {
    fn new(url: &str, agent: &ureq::Agent) -> Client {
        Client { url: url.trim_end_matches('/').to_owned(), agent: agent.clone(), token: None }
    }

    fn fail(&self, message: impl Into<String>) -> SimError {
        SimError::Server { url: self.url.clone(), message: message.into() }
    }

    /// Sends a request; answers the JSON of a 2xx, or the refusal.
    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, String)>,
    ) -> Result<std::result::Result<Value, Refusal>> {
        let url = format!("{}/api/v1{path}", self.url);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let response = match (method, body) {
            ("GET", _) => {
                let mut request = self.agent.get(&url);
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.call()
            }
            (_, body) => {
                let mut request = self.agent.post(&url);
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                let (content_type, text) = body.unwrap_or(("application/json", "{}".into()));
                request.header("Content-Type", content_type).send(text)
            }
        };
        let mut response =
            response.map_err(|e| self.fail(format!("{method} {path}: cannot reach it: {e}")))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(ANSWER_BYTES_MAX)
            .read_to_string()
            .map_err(|e| self.fail(format!("{method} {path}: reading the answer: {e}")))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status < 400 {
            return Ok(Ok(value));
        }
        Ok(Err(Refusal {
            status,
            code: value["code"].as_str().unwrap_or("error").to_owned(),
            message: value["message"].as_str().map_or_else(|| value.to_string(), str::to_owned),
        }))
    }

    /// A request that must succeed.
    fn ok(&self, method: &str, path: &str, body: Option<(&str, String)>) -> Result<Value> {
        self.send(method, path, body)?.map_err(|r| {
            self.fail(format!("{method} {path}: {} {}: {}", r.status, r.code, r.message))
        })
    }

    fn post_json(&self, path: &str, body: &Value) -> Result<Value> {
        self.ok("POST", path, Some(("application/json", body.to_string())))
    }

    /// Signs in; returns the server's clock as the sign-in message states it.
    fn login(&mut self, key: &LabelerKey) -> Result<u64> {
        let address = key.address().to_string();
        let challenge = self.post_json("/auth/challenge", &json!({ "address": address }))?;
        let message = challenge["message"]
            .as_str()
            .ok_or_else(|| self.fail("the sign-in challenge has no message"))?
            .to_owned();
        if !message.contains(&address) {
            return Err(self.fail(format!("the sign-in message does not name {address}")));
        }
        let issued = message
            .lines()
            .find_map(|l| l.strip_prefix("Issued At: "))
            .and_then(parse_rfc3339)
            .ok_or_else(|| self.fail("the sign-in message has no readable `Issued At`"))?;
        let signature = key.sign_personal(message.as_bytes());
        let login = self.post_json(
            "/auth/login",
            &json!({ "message": message, "signature": format!("0x{}", alloy_primitives::hex::encode(signature)) }),
        )?;
        let token =
            login["token"].as_str().ok_or_else(|| self.fail("the login answer has no token"))?;
        self.token = Some(token.to_owned());
        Ok(issued)
    }

    /// Sets the test clock; `Ok(false)` when the server has none.
    fn set_clock(&self, now: u64) -> Result<bool> {
        match self.send(
            "POST",
            "/test/clock",
            Some(("application/json", json!({ "now": now }).to_string())),
        )? {
            Ok(_) => Ok(true),
            Err(r) if r.status == 404 => Ok(false),
            Err(r) => {
                Err(self.fail(format!("setting the test clock to {now}: {} {}", r.code, r.message)))
            }
        }
    }
}

/// The consensus class of every task in a server's JSONL export: the sign of a pairwise
/// consensus (0 when it prefers nothing), the class of a categorical one.
fn export_classes(
    client: &Client,
    answer: std::result::Result<Value, Refusal>,
    kind: &plumbline_core::spec::QuestionKind,
) -> Result<BTreeMap<u32, i64>> {
    let text = match answer {
        Ok(Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(r) => {
            return Err(client.fail(format!("export: {} {}: {}", r.status, r.code, r.message)));
        }
    };
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let row: Value =
            serde_json::from_str(line).map_err(|e| client.fail(format!("export line: {e}")))?;
        let task =
            row["task"].as_u64().ok_or_else(|| client.fail("an export line without a task"))?;
        let Some(value) = row["consensus"].as_f64() else { continue };
        let class = match kind {
            plumbline_core::spec::QuestionKind::Pairwise { .. } => {
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

/// `YYYY-MM-DDTHH:MM:SSZ` as unix seconds.
fn parse_rfc3339(text: &str) -> Option<u64> {
    let t = text.trim();
    let number = |range: std::ops::Range<usize>| t.get(range)?.parse::<i64>().ok();
    if t.len() != 20 || !t.ends_with('Z') {
        return None;
    }
    let (y, m, d) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hh, mm, ss) = (number(11..13)?, number(14..16)?, number(17..19)?);
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

fn system_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The servers' clocks: test clocks moved forward on request, or real time waited out.
struct Clocks {
    clients: Vec<Client>,
    test: bool,
    now: u64,
}

impl Clocks {
    /// Moves every clock to `t` (or waits until real time is past it).
    fn advance(&mut self, t: u64) -> Result<()> {
        if self.test {
            if t > self.now {
                for c in &self.clients {
                    c.set_clock(t)?;
                }
                self.now = t;
            }
        } else {
            let until = t + DEADLINE_MARGIN_SECS;
            while system_now() < until {
                std::thread::sleep(Duration::from_millis(200));
            }
            self.now = system_now();
        }
        Ok(())
    }
}

/// Request timing shared by the client threads.
#[derive(Default)]
struct Timing {
    latencies_ms: Mutex<Vec<f64>>,
    errors: AtomicUsize,
}

impl Timing {
    fn timed<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let start = Instant::now();
        let out = f();
        let ms = start.elapsed().as_secs_f64() * 1e3;
        self.latencies_ms.lock().expect("no thread panics holding it").push(ms);
        if out.is_err() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        out
    }
}

/// Runs `f` over `0..n` on `threads` threads; the first error wins.
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
    let slots = slots.into_inner().expect("no thread panics holding it");
    let mut out = Vec::with_capacity(n);
    for slot in slots {
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

/// One labeler's joined batch: its id and canonical labels.
type Joined = (u64, Vec<RevealedLabel>);

/// Runs one seed of a scenario against the servers; `stats` accumulates their load figures.
pub fn run(
    scenario: &Scenario,
    pool: Option<&Pool>,
    seed: u64,
    target: &ServerTarget,
    stats: &mut ServerStats,
) -> Result<Run> {
    if target.urls.is_empty() {
        return Err(SimError::Server { url: String::new(), message: "no server URL given".into() });
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(REQUEST_TIMEOUT_SECS)))
        .build()
        .into();
    let agents = roster(scenario, seed);
    let keys: Vec<LabelerKey> = (0..agents.len()).map(|i| identity_key(seed, i)).collect();
    let addresses = keys.iter().map(LabelerKey::address).collect::<Vec<_>>();
    let kind = scenario.question.kind.clone();
    let batches = scenario.market.batches_per_labeler as usize;

    // The operator signs in everywhere; the latest clock among the servers is "now".
    let mut operators: Vec<Client> = target.urls.iter().map(|u| Client::new(u, &agent)).collect();
    let mut now = 0;
    for client in &mut operators {
        now = now.max(client.login(&target.operator)?);
    }
    let mut test = None;
    for client in &operators {
        let has = client.set_clock(now)?;
        if *test.get_or_insert(has) != has {
            return Err(client.fail("some servers have a test clock and some do not"));
        }
    }
    let test = test.unwrap_or(false);
    let mut clocks = Clocks { clients: operators.clone(), test, now };
    let operator = &operators[0];
    let timing = Timing::default();
    let mut labeler_secs = 0.0;

    let mut rounds = Vec::new();
    for round in 0..scenario.rounds {
        let start = if test { clocks.now } else { system_now() };
        let spec = scenario.spec(start)?;
        let set = tasks::draw(
            scenario,
            pool,
            seed,
            round,
            scenario.regular_tasks(),
            scenario.tasks.gold,
        )?;
        let stake = u128::from(scenario.market.stake_per_batch);
        let creator_key = LabelerKey::derived(seed ^ 0xc0ea_7000_0000_0000, u64::from(round));
        let mint = |to: &LabelerKey, amount: u128| {
            operator.post_json(
                "/ledger/mint",
                &json!({ "to": to.address().to_string(), "amount": amount.to_string() }),
            )
        };
        mint(&creator_key, u128::from(scenario.market.reward_pool))?;
        for key in &keys {
            mint(key, stake * batches as u128)?;
        }
        let mut creator = Client::new(&target.urls[0], &agent);
        creator.login(&creator_key)?;
        let created = creator.post_json("/experiments", &json!({ "spec": spec }))?;
        let id_text = created["experiment_id"]
            .as_str()
            .ok_or_else(|| creator.fail("the created experiment has no id"))?
            .to_owned();
        let id: B256 = id_text.parse().map_err(|_| creator.fail("the experiment id is not hex"))?;
        let jsonl: String = set
            .tasks
            .iter()
            .map(|t| serde_json::to_string(t).expect("tasks serialize") + "\n")
            .collect();
        creator.ok(
            "POST",
            &format!("/experiments/{id_text}/tasks"),
            Some(("application/x-ndjson", jsonl)),
        )?;
        creator.post_json(&format!("/experiments/{id_text}/fund"), &json!({}))?;
        let opened = creator.post_json(&format!("/experiments/{id_text}/open"), &json!({}))?;
        let chain_id = opened["chain_id"].as_u64().unwrap_or(eip712::EMBEDDED_CHAIN_ID);
        let contract = opened["verifying_contract"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(plumbline_core::Address::ZERO);
        let domain = eip712::domain(chain_id, contract);
        let clients: Vec<Client> = target.urls.iter().map(|u| Client::new(u, &agent)).collect();
        let client_of = |i: usize| &clients[i % clients.len()];

        // Joins: each labeler takes its batches in turn; its answers are drawn at once.
        let phase = Instant::now();
        let unpoisoned = Mutex::new(BTreeMap::new());
        // Labelers join in a seeded order, as in process, so that no strategy gets the
        // first or the last blocks by the roster's order.
        let mut order: Vec<usize> = (0..agents.len()).collect();
        Rng::stream(seed, Tag::JoinOrder, &[u64::from(round), u64::MAX]).shuffle(&mut order);
        let by_turn: Vec<(usize, Vec<Joined>, bool)> =
            parallel(agents.len(), target.threads, |turn| {
                let i = order[turn];
                let (agent, key, client) = (&agents[i], &keys[i], client_of(i));
                let cohort = spec.cohorts.as_ref().map(|_| agent.cohort);
                let mut mine = Vec::new();
                let mut position = 0u64;
                for nonce in 0..batches as u64 {
                    let join = key.join(&domain, id, cohort, spec.stake_per_batch, nonce);
                    let body = serde_json::to_string(&join).expect("joins serialize");
                    let answer = timing.timed(|| {
                        client.send(
                            "POST",
                            &format!("/experiments/{id_text}/join"),
                            Some(("application/json", body)),
                        )
                    })?;
                    let batch = match answer {
                        Ok(batch) => batch,
                        Err(r) if r.code == "no_batch" => return Ok((i, mine, true)),
                        Err(r) => {
                            return Err(client
                                .fail(format!("join: {} {}: {}", r.status, r.code, r.message)));
                        }
                    };
                    let batch_id = batch["batch_id"]
                        .as_u64()
                        .ok_or_else(|| client.fail("a batch without an id"))?;
                    let mut labels = Vec::new();
                    for task in batch["tasks"].as_array().into_iter().flatten() {
                        let index = task["task"]
                            .as_u64()
                            .ok_or_else(|| client.fail("a batch task without an index"))?
                            as u32;
                        let order: Vec<u8> = task["response_order"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|v| v.as_u64().map(|v| v as u8))
                            .collect();
                        let truth = set
                            .truth
                            .get(index as usize)
                            .ok_or_else(|| client.fail("a task index out of range"))?;
                        let a = agent.answer(&kind, seed, round, index, truth, &order, position);
                        position += 1;
                        if let Some(honest) = a.unpoisoned {
                            unpoisoned
                                .lock()
                                .expect("no thread panics holding it")
                                .insert((batch_id, index), honest);
                        }
                        labels.push(RevealedLabel { task: index, label: a.label });
                    }
                    mine.push((batch_id, labels));
                }
                Ok((i, mine, false))
            })?;
        let joins_refused = by_turn.iter().filter(|(_, _, refused)| *refused).count();
        let mut joined: Vec<(Vec<Joined>, bool)> =
            (0..agents.len()).map(|_| (Vec::new(), false)).collect();
        for (i, mine, refused) in by_turn {
            joined[i] = (mine, refused);
        }
        labeler_secs += phase.elapsed().as_secs_f64();

        let work = u64::from(spec.block_size) * u64::from(spec.limits.seconds_per_task_min);
        if work > 0 {
            clocks.advance(start + work)?;
        }
        let phase = Instant::now();
        parallel(agents.len(), target.threads, |i| {
            for (batch_id, labels) in &joined[i].0 {
                let commit = keys[i]
                    .commit(&domain, id, *batch_id, labels)
                    .map_err(plumbline_core::Error::from)?;
                let body = serde_json::to_string(&commit).expect("commits serialize");
                let path = format!("/experiments/{id_text}/batches/{batch_id}/commit");
                timing
                    .timed(|| client_of(i).ok("POST", &path, Some(("application/json", body))))?;
            }
            Ok(())
        })?;
        labeler_secs += phase.elapsed().as_secs_f64();
        clocks.advance(spec.commit_deadline)?;
        let phase = Instant::now();
        parallel(agents.len(), target.threads, |i| {
            for (batch_id, labels) in &joined[i].0 {
                let reveal = keys[i]
                    .reveal(&domain, id, *batch_id, labels.clone())
                    .map_err(plumbline_core::Error::from)?;
                let body = serde_json::to_string(&reveal).expect("reveals serialize");
                let path = format!("/experiments/{id_text}/batches/{batch_id}/reveal");
                timing
                    .timed(|| client_of(i).ok("POST", &path, Some(("application/json", body))))?;
            }
            Ok(())
        })?;
        labeler_secs += phase.elapsed().as_secs_f64();
        clocks.advance(spec.reveal_deadline)?;
        // The scheduler may have settled it already; settling again answers the stored one.
        operator.post_json(&format!("/experiments/{id_text}/settle"), &json!({}))?;
        let record_json = operator.ok("GET", &format!("/experiments/{id_text}/record"), None)?;
        let record: PublicRecord = serde_json::from_value(record_json)
            .map_err(|e| operator.fail(format!("the record does not parse: {e}")))?;
        let export =
            operator.send("GET", &format!("/experiments/{id_text}/export?format=jsonl"), None)?;
        let server_export = Some(export_classes(operator, export, &kind)?);
        rounds.push(Round {
            record,
            truth: set.truth,
            addresses: addresses.clone(),
            unpoisoned: unpoisoned.into_inner().expect("no thread panics holding it"),
            joins_refused,
            server_export,
        });
        if test {
            clocks.advance(spec.reveal_deadline + 1)?;
        }
    }

    let seconds = labeler_secs;
    let mut latencies = timing.latencies_ms.into_inner().expect("no thread panics holding it");
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        if latencies.is_empty() {
            0.0
        } else {
            latencies[((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len()) - 1]
        }
    };
    stats.urls = target.urls.clone();
    stats.threads = target.threads;
    stats.test_clock = test;
    let before = stats.labeler_requests;
    stats.labeler_requests += latencies.len() as u64;
    stats.errors += timing.errors.into_inner() as u64;
    stats.seconds += seconds;
    stats.requests_per_sec =
        if stats.seconds > 0.0 { stats.labeler_requests as f64 / stats.seconds } else { 0.0 };
    // Percentiles of the latest run, weighted into the running figures by request count.
    let weight = |old: f64, new: f64| {
        let n = stats.labeler_requests as f64;
        if n == 0.0 { 0.0 } else { (old * before as f64 + new * (n - before as f64)) / n }
    };
    stats.latency_p50_ms = weight(stats.latency_p50_ms, pick(0.5));
    stats.latency_p99_ms = weight(stats.latency_p99_ms, pick(0.99));
    Ok(Run { seed, agents, rounds })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_through_unix_seconds() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2027-01-15T08:00:00Z"), Some(1_800_000_000));
        assert_eq!(parse_rfc3339("2024-02-29T12:34:56Z"), Some(1_709_210_096));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
