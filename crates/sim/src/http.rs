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
//! Several URLs are replicas of one market on one database. When a replica stops answering
//! (the connection is refused, reset or closed without an answer), the driver marks it down
//! for the rest of the run and sends its requests to the next replica that is up, with the
//! same session token: sessions live in the shared database. A request that broke off after
//! it was sent is repeated elsewhere only when a repeat is harmless: a sign-in (whole, with a
//! new challenge), a read, a join (the same signed join again returns its batch), a commit or
//! a reveal. Mints and the experimenter's writes are sent elsewhere only when the connection
//! was refused, so that nothing reached the replica; otherwise the run fails with the error.
//! Test clocks are set on the replicas that are up. The run's server stats count the requests
//! answered by another replica than their own.
//!
//! Deadlines move with the servers' test clocks (`serve --test-clock`) when they exist: the
//! clock is read from the sign-in message's `Issued At` and set forward with
//! `POST /test/clock`. Otherwise real time must pass, so the scenario's `commit_secs` and
//! `reveal_secs` must be short. The server draws its own assignment seed, so a server run is
//! not reproducible bit for bit; labels still come from the same seeded streams.

use crate::agents::{Agent, roster};
use crate::error::{Result, SimError};
use crate::market::{Round, Run, identity_key};
use crate::report::ServerStats;
use crate::rng::{Rng, Tag};
use crate::scenario::Scenario;
use crate::tasks::{self, Pool};
use plumbline_core::client::{LabelerKey, RevealedLabel};
use plumbline_core::eip712;
use plumbline_core::label::Label;
use plumbline_core::record::PublicRecord;
use plumbline_core::spec::ExperimentSpec;
use plumbline_core::task::Prompt;
use plumbline_core::{Address, B256};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The longest any one request may take.
const REQUEST_TIMEOUT_SECS: u64 = 120;
/// The largest answer read (records of big experiments).
const ANSWER_BYTES_MAX: u64 = 1 << 30;
/// Seconds a real-time run waits past a deadline before acting on it, for clock skew.
const DEADLINE_MARGIN_SECS: u64 = 2;
/// How long a request refused with 429 (rate limited, so not applied) is sent again before
/// the refusal stands.
const RATE_LIMITED_WAIT_SECS_MAX: u64 = 30;
/// The pause between those repeats.
const RATE_LIMITED_PAUSE_MS: u64 = 50;

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

/// A refusal or failure, with the HTTP status and the server's `code`.
#[derive(Debug)]
struct Refusal {
    status: u16,
    code: String,
    message: String,
}

/// An answer: the JSON of a 2xx (or its text as a string), or the refusal.
type Answer = std::result::Result<Value, Refusal>;

/// Whether a request that broke off may be sent again to another replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Repeat {
    /// A repeat is harmless: reads, joins, commits, reveals, settling.
    Safe,
    /// Only if nothing was sent (the connection was refused): mints and the experimenter's
    /// writes, which a repeat could apply twice.
    IfRefused,
}

/// What one try at one replica came to.
enum Try<T> {
    /// It answered.
    Done(T),
    /// It did not answer; `sent` is false when the connection was refused, so that nothing
    /// reached it.
    Down { why: String, sent: bool },
}

/// The replicas of one run: their URLs, which have stopped answering, and how many requests
/// another replica answered because of it. Shared by every client of the run.
struct Replicas {
    urls: Vec<String>,
    agent: ureq::Agent,
    down: Vec<AtomicBool>,
    /// Why each replica was marked down, in the order it happened.
    downs: Mutex<Vec<String>>,
    failovers: AtomicU64,
}

/// A transport error that means the replica is gone (killed, restarting), as opposed to a
/// request that could not be made at all.
fn down_kind(error: &ureq::Error) -> Option<bool> {
    match error {
        ureq::Error::Io(e) => match e.kind() {
            ErrorKind::ConnectionRefused => Some(false),
            ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::UnexpectedEof
            | ErrorKind::BrokenPipe
            | ErrorKind::NotConnected => Some(true),
            _ => None,
        },
        ureq::Error::ConnectionFailed => Some(false),
        _ => None,
    }
}

impl Replicas {
    fn new(urls: &[String]) -> Replicas {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(REQUEST_TIMEOUT_SECS)))
            .build()
            .into();
        Replicas {
            urls: urls.iter().map(|u| u.trim_end_matches('/').to_owned()).collect(),
            agent,
            down: urls.iter().map(|_| AtomicBool::new(false)).collect(),
            downs: Mutex::new(Vec::new()),
            failovers: AtomicU64::new(0),
        }
    }

    fn fail(&self, replica: usize, message: impl Into<String>) -> SimError {
        SimError::Server { url: self.urls[replica].clone(), message: message.into() }
    }

    fn is_down(&self, replica: usize) -> bool {
        self.down[replica].load(Ordering::SeqCst)
    }

    fn mark_down(&self, replica: usize, why: &str) {
        if !self.down[replica].swap(true, Ordering::SeqCst) {
            let mut downs = self.downs.lock().expect("no thread panics holding it");
            downs.push(format!("{}: {why}", self.urls[replica]));
        }
    }

    /// Sends one request to one replica; a 429 is sent again after a pause (it was refused,
    /// so not applied) until it is answered otherwise or the wait runs out.
    fn send_to(
        &self,
        replica: usize,
        method: &str,
        path: &str,
        body: Option<(&str, &str)>,
        token: Option<&str>,
    ) -> Result<Try<Answer>> {
        let waited = Instant::now();
        loop {
            let answer = self.send_once(replica, method, path, body, token)?;
            match &answer {
                Try::Done(Err(r))
                    if r.status == 429
                        && waited.elapsed() < Duration::from_secs(RATE_LIMITED_WAIT_SECS_MAX) =>
                {
                    std::thread::sleep(Duration::from_millis(RATE_LIMITED_PAUSE_MS));
                }
                _ => return Ok(answer),
            }
        }
    }

    fn send_once(
        &self,
        replica: usize,
        method: &str,
        path: &str,
        body: Option<(&str, &str)>,
        token: Option<&str>,
    ) -> Result<Try<Answer>> {
        let url = format!("{}/api/v1{path}", self.urls[replica]);
        let auth = token.map(|t| format!("Bearer {t}"));
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
                let (content_type, text) = body.unwrap_or(("application/json", "{}"));
                request.header("Content-Type", content_type).send(text)
            }
        };
        let mut response = match response {
            Ok(response) => response,
            Err(e) => {
                return match down_kind(&e) {
                    Some(sent) => Ok(Try::Down { why: e.to_string(), sent }),
                    None => {
                        Err(self.fail(replica, format!("{method} {path}: cannot reach it: {e}")))
                    }
                };
            }
        };
        let status = response.status().as_u16();
        let text = match response.body_mut().with_config().limit(ANSWER_BYTES_MAX).read_to_string()
        {
            Ok(text) => text,
            Err(e) => {
                return match down_kind(&e) {
                    Some(_) => Ok(Try::Down { why: e.to_string(), sent: true }),
                    None => {
                        Err(self.fail(replica, format!("{method} {path}: reading the answer: {e}")))
                    }
                };
            }
        };
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status < 400 {
            return Ok(Try::Done(Ok(value)));
        }
        Ok(Try::Done(Err(Refusal {
            status,
            code: value["code"].as_str().unwrap_or("error").to_owned(),
            message: value["message"].as_str().map_or_else(|| value.to_string(), str::to_owned),
        })))
    }

    /// Runs `attempt` at replica `home`, or at the next replica up while replicas stop
    /// answering; `what` names the request in errors. With one replica there is nowhere else
    /// to go, and a replica that stops answering is an error as it always was.
    fn on_live<T>(
        &self,
        home: usize,
        what: &str,
        repeat: Repeat,
        mut attempt: impl FnMut(usize) -> Result<Try<T>>,
    ) -> Result<T> {
        let n = self.urls.len();
        for step in 0..n {
            let replica = (home + step) % n;
            if n > 1 && self.is_down(replica) {
                continue;
            }
            match attempt(replica)? {
                Try::Done(out) => {
                    if replica != home {
                        self.failovers.fetch_add(1, Ordering::Relaxed);
                    }
                    return Ok(out);
                }
                Try::Down { why, sent } => {
                    if n == 1 {
                        return Err(self.fail(replica, format!("{what}: cannot reach it: {why}")));
                    }
                    // A live replica may close a pooled connection just as it is reused: a
                    // request that is safe to repeat goes to it once more before it counts as
                    // down. A replica that is really gone refuses the second try at once.
                    if repeat == Repeat::Safe
                        && let Try::Done(out) = attempt(replica)?
                    {
                        if replica != home {
                            self.failovers.fetch_add(1, Ordering::Relaxed);
                        }
                        return Ok(out);
                    }
                    self.mark_down(replica, &why);
                    if sent && repeat == Repeat::IfRefused {
                        return Err(self.fail(
                            replica,
                            format!(
                                "{what}: the replica stopped answering after the request was \
                                 sent ({why}); it may have been applied, so it is not repeated \
                                 on another replica"
                            ),
                        ));
                    }
                }
            }
        }
        let downs = self.downs.lock().expect("no thread panics holding it").join("; ");
        Err(SimError::Server {
            url: self.urls.join(","),
            message: format!("{what}: every replica has stopped answering ({downs})"),
        })
    }
}

/// A connection to the market: a replica it uses first, the others when that one is down.
#[derive(Clone)]
struct Client {
    replicas: Arc<Replicas>,
    home: usize,
    token: Option<String>,
}

impl Client {
    fn new(replicas: &Arc<Replicas>, home: usize) -> Client {
        Client { replicas: replicas.clone(), home: home % replicas.urls.len(), token: None }
    }

    fn fail(&self, message: impl Into<String>) -> SimError {
        self.replicas.fail(self.home, message)
    }

    /// Sends a request; answers the JSON of a 2xx, or the refusal.
    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, String)>,
        repeat: Repeat,
    ) -> Result<Answer> {
        let body = body.as_ref().map(|(content_type, text)| (*content_type, text.as_str()));
        let token = self.token.as_deref();
        self.replicas.on_live(self.home, &format!("{method} {path}"), repeat, |replica| {
            self.replicas.send_to(replica, method, path, body, token)
        })
    }

    /// A request that must succeed.
    fn ok(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, String)>,
        repeat: Repeat,
    ) -> Result<Value> {
        self.send(method, path, body, repeat)?.map_err(|r| {
            self.fail(format!("{method} {path}: {} {}: {}", r.status, r.code, r.message))
        })
    }

    fn post_json(&self, path: &str, body: &Value, repeat: Repeat) -> Result<Value> {
        self.ok("POST", path, Some(("application/json", body.to_string())), repeat)
    }

    /// Signs in; returns the server's clock as the sign-in message states it. A sign-in cut
    /// short by a replica that stops answering starts over with a new challenge on the next
    /// one: the login consumes its challenge.
    fn login(&mut self, key: &LabelerKey) -> Result<u64> {
        let replicas = self.replicas.clone();
        let (issued, token) = replicas
            .on_live(self.home, "sign-in", Repeat::Safe, |replica| self.login_at(replica, key))?;
        self.token = Some(token);
        Ok(issued)
    }

    /// One sign-in at one replica: its clock and the session token.
    fn login_at(&self, replica: usize, key: &LabelerKey) -> Result<Try<(u64, String)>> {
        let replicas = &self.replicas;
        let fail = |message: String| replicas.fail(replica, message);
        let post = |path: &str, body: Value| -> Result<Try<Value>> {
            let text = body.to_string();
            Ok(
                match replicas.send_to(
                    replica,
                    "POST",
                    path,
                    Some(("application/json", &text)),
                    None,
                )? {
                    Try::Done(Ok(value)) => Try::Done(value),
                    Try::Done(Err(r)) => {
                        return Err(fail(format!(
                            "POST {path}: {} {}: {}",
                            r.status, r.code, r.message
                        )));
                    }
                    Try::Down { why, sent } => Try::Down { why, sent },
                },
            )
        };
        let address = key.address().to_string();
        let challenge = match post("/auth/challenge", json!({ "address": address }))? {
            Try::Done(challenge) => challenge,
            Try::Down { why, sent } => return Ok(Try::Down { why, sent }),
        };
        let message = challenge["message"]
            .as_str()
            .ok_or_else(|| fail("the sign-in challenge has no message".into()))?
            .to_owned();
        if !message.contains(&address) {
            return Err(fail(format!("the sign-in message does not name {address}")));
        }
        let issued = message
            .lines()
            .find_map(|l| l.strip_prefix("Issued At: "))
            .and_then(parse_rfc3339)
            .ok_or_else(|| fail("the sign-in message has no readable `Issued At`".into()))?;
        let signature = key.sign_personal(message.as_bytes());
        let body = json!({ "message": message, "signature": format!("0x{}", alloy_primitives::hex::encode(signature)) });
        let login = match post("/auth/login", body)? {
            Try::Done(login) => login,
            // The challenge may be spent: a repeat starts over with a new one.
            Try::Down { why, .. } => return Ok(Try::Down { why, sent: true }),
        };
        let token =
            login["token"].as_str().ok_or_else(|| fail("the login answer has no token".into()))?;
        Ok(Try::Done((issued, token.to_owned())))
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
    replicas: Arc<Replicas>,
    test: bool,
    now: u64,
}

impl Clocks {
    /// Sets the test clock of every replica that is up; whether each of those has one. A
    /// replica that stops answering is marked down and skipped.
    fn set_all(replicas: &Replicas, now: u64) -> Result<Vec<bool>> {
        let n = replicas.urls.len();
        let body = json!({ "now": now }).to_string();
        let mut has = Vec::with_capacity(n);
        for replica in 0..n {
            if replicas.is_down(replica) {
                continue;
            }
            let answer = replicas.send_to(
                replica,
                "POST",
                "/test/clock",
                Some(("application/json", &body)),
                None,
            )?;
            match answer {
                Try::Done(Ok(_)) => has.push(true),
                Try::Done(Err(r)) if r.status == 404 => has.push(false),
                Try::Done(Err(r)) => {
                    return Err(replicas.fail(
                        replica,
                        format!("setting the test clock to {now}: {} {}", r.code, r.message),
                    ));
                }
                Try::Down { why, .. } if n == 1 => {
                    return Err(replicas.fail(
                        replica,
                        format!("setting the test clock to {now}: cannot reach it: {why}"),
                    ));
                }
                Try::Down { why, .. } => replicas.mark_down(replica, &why),
            }
        }
        if has.is_empty() {
            let downs = replicas.downs.lock().expect("no thread panics holding it").join("; ");
            return Err(SimError::Server {
                url: replicas.urls.join(","),
                message: format!(
                    "setting the test clock to {now}: every replica has stopped answering ({downs})"
                ),
            });
        }
        Ok(has)
    }

    /// Moves every clock to `t` (or waits until real time is past it).
    fn advance(&mut self, t: u64) -> Result<()> {
        if self.test {
            if t > self.now {
                Clocks::set_all(&self.replicas, t)?;
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

/// The answer to creating an experiment, as the driver reads it.
#[derive(Deserialize)]
struct Created {
    experiment_id: B256,
}

/// The answer to opening an experiment: the EIP-712 domain its messages are signed in.
#[derive(Deserialize)]
struct Opened {
    chain_id: Option<u64>,
    verifying_contract: Option<Address>,
}

/// The answer to a join: the batch, with its tasks unless the join was a repeat.
#[derive(Deserialize)]
struct JoinedBatch {
    batch_id: u64,
    tasks: Option<Vec<ShownTask>>,
}

/// A task as a batch shows it: its position, and its responses in the order shown.
#[derive(Deserialize)]
struct ShownTask {
    task: u32,
    #[serde(default)]
    prompt: Prompt,
    #[serde(default)]
    responses: Vec<String>,
    #[serde(default)]
    response_order: Vec<u8>,
}

/// A JSON answer read as `T`.
fn read<T: DeserializeOwned>(client: &Client, what: &str, value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| client.fail(format!("{what}: {e}")))
}

/// What the labelers' joins of one round gave.
struct Joins {
    /// Each labeler's batches, by roster index.
    batches: Vec<Vec<Joined>>,
    /// Labels poisoners replaced on triggered tasks: (batch id, task) → the honest label.
    unpoisoned: BTreeMap<(u64, u32), Label>,
    /// Labelers refused a batch.
    refused: usize,
}

/// One round's experiment, opened: what its labelers need to address and sign for it.
struct OpenRound {
    id: B256,
    path: String,
    domain: eip712::Eip712Domain,
}

/// The market of one seed: the scenario's labelers with their keys, the replicas, and the
/// operator signed in at each.
struct Market<'a> {
    scenario: &'a Scenario,
    seed: u64,
    target: &'a ServerTarget,
    replicas: Arc<Replicas>,
    agents: Vec<Agent>,
    keys: Vec<LabelerKey>,
    operators: Vec<Client>,
    timing: Timing,
}

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
    if scenario.qualification.is_some() {
        return Err(SimError::Server {
            url: String::new(),
            message: "a scenario with a qualification runs in process only (without --server)"
                .into(),
        });
    }
    let replicas = Arc::new(Replicas::new(&target.urls));
    let agents = roster(scenario, seed);
    let keys: Vec<LabelerKey> = (0..agents.len()).map(|i| identity_key(seed, i)).collect();
    let (operators, mut clocks) = sign_in_operator(target, &replicas)?;
    let test = clocks.test;
    let market = Market {
        scenario,
        seed,
        target,
        replicas,
        agents,
        keys,
        operators,
        timing: Timing::default(),
    };
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
        let open = market.open_round(round, &spec, &set.tasks)?;
        let phase = Instant::now();
        let joins = market.join_all(round, &spec, &set, &open)?;
        labeler_secs += phase.elapsed().as_secs_f64();
        let work = u64::from(spec.block_size) * u64::from(spec.limits.seconds_per_task_min);
        if work > 0 {
            clocks.advance(start + work)?;
        }
        let phase = Instant::now();
        market.send_all(&open, &joins.batches, Step::Commit)?;
        labeler_secs += phase.elapsed().as_secs_f64();
        clocks.advance(spec.commit_deadline)?;
        let phase = Instant::now();
        market.send_all(&open, &joins.batches, Step::Reveal)?;
        labeler_secs += phase.elapsed().as_secs_f64();
        clocks.advance(spec.reveal_deadline)?;
        let (record, server_export) = market.settled(&open)?;
        rounds.push(Round {
            record,
            truth: set.truth,
            addresses: market.keys.iter().map(LabelerKey::address).collect(),
            unpoisoned: joins.unpoisoned,
            joins_refused: joins.refused,
            server_export: Some(server_export),
            qualified: None,
            ungated: None,
        });
        if test {
            clocks.advance(spec.reveal_deadline + 1)?;
        }
    }
    market.record_stats(stats, test, labeler_secs);
    Ok(Run { seed, agents: market.agents, rounds })
}

/// The operator signs in at every replica; the latest clock among them is "now", to which
/// their test clocks, if they have them, are set.
fn sign_in_operator(
    target: &ServerTarget,
    replicas: &Arc<Replicas>,
) -> Result<(Vec<Client>, Clocks)> {
    let mut operators: Vec<Client> =
        (0..target.urls.len()).map(|r| Client::new(replicas, r)).collect();
    let mut now = 0;
    for client in &mut operators {
        now = now.max(client.login(&target.operator)?);
    }
    let has = Clocks::set_all(replicas, now)?;
    if has.iter().any(|&h| h != has[0]) {
        return Err(SimError::Server {
            url: target.urls.join(","),
            message: "some servers have a test clock and some do not".into(),
        });
    }
    Ok((operators, Clocks { replicas: replicas.clone(), test: has[0], now }))
}

/// The labelers' second and third steps.
#[derive(Clone, Copy)]
enum Step {
    Commit,
    Reveal,
}

impl Market<'_> {
    /// The client of labeler `i`: labelers are spread round-robin over the replicas.
    fn client(&self, i: usize) -> Client {
        Client::new(&self.replicas, i % self.target.urls.len())
    }

    /// Funds a new creator and the labelers' stakes, and has the creator create, import,
    /// fund and open the round's experiment.
    fn open_round(
        &self,
        round: u32,
        spec: &ExperimentSpec,
        tasks: &[plumbline_core::task::Task],
    ) -> Result<OpenRound> {
        let market = &self.scenario.market;
        let stake = u128::from(market.stake_per_batch);
        let creator_key = LabelerKey::derived(self.seed ^ 0xc0ea_7000_0000_0000, u64::from(round));
        // Mints go round-robin over the replicas like the labelers they fund, each with the
        // operator's session there (a replica limits each address's writes on its own).
        let mint = |via: usize, to: &LabelerKey, amount: u128| {
            self.operators[via % self.operators.len()].post_json(
                "/ledger/mint",
                &json!({ "to": to.address().to_string(), "amount": amount.to_string() }),
                Repeat::IfRefused,
            )
        };
        mint(0, &creator_key, u128::from(market.reward_pool))?;
        for (i, key) in self.keys.iter().enumerate() {
            mint(i, key, stake * u128::from(market.batches_per_labeler))?;
        }
        let mut creator = Client::new(&self.replicas, 0);
        creator.login(&creator_key)?;
        let created =
            creator.post_json("/experiments", &json!({ "spec": spec }), Repeat::IfRefused)?;
        let Created { experiment_id: id } = read(&creator, "the created experiment", created)?;
        let path = format!("/experiments/{id}");
        let jsonl: String = tasks
            .iter()
            .map(|t| serde_json::to_string(t).expect("tasks serialize") + "\n")
            .collect();
        let tasks_body = Some(("application/x-ndjson", jsonl));
        creator.ok("POST", &format!("{path}/tasks"), tasks_body, Repeat::IfRefused)?;
        creator.post_json(&format!("{path}/fund"), &json!({}), Repeat::IfRefused)?;
        let opened = creator.post_json(&format!("{path}/open"), &json!({}), Repeat::IfRefused)?;
        let opened: Opened = read(&creator, "the opened experiment", opened)?;
        let domain = eip712::domain(
            opened.chain_id.unwrap_or(eip712::EMBEDDED_CHAIN_ID),
            opened.verifying_contract.unwrap_or(Address::ZERO),
        );
        Ok(OpenRound { id, path, domain })
    }

    /// Every labeler takes its batches in turn, in a seeded order (as in process, so that no
    /// strategy gets the first or the last blocks by the roster's order), and draws its
    /// answers at once.
    fn join_all(
        &self,
        round: u32,
        spec: &ExperimentSpec,
        set: &tasks::TaskSet,
        open: &OpenRound,
    ) -> Result<Joins> {
        let task_of = tasks_by_content(&set.tasks);
        let unpoisoned = Mutex::new(BTreeMap::new());
        let mut order: Vec<usize> = (0..self.agents.len()).collect();
        Rng::stream(self.seed, Tag::JoinOrder, &[u64::from(round), u64::MAX]).shuffle(&mut order);
        let by_turn = parallel(self.agents.len(), self.target.threads, |turn| {
            let i = order[turn];
            let mut mine = Vec::new();
            let mut position = 0u64;
            for nonce in 0..u64::from(self.scenario.market.batches_per_labeler) {
                let Some((batch_id, shown)) = self.join(i, spec, open, nonce)? else {
                    return Ok((i, mine, true));
                };
                let agent = &self.agents[i];
                let mut labels = Vec::new();
                for task in &shown {
                    // A batch shows its tasks by position only; labelers recognise them by
                    // their content.
                    let index = task_of.get(&content_key(task)).copied().ok_or_else(|| {
                        self.client(i).fail("a batch task that is not one of ours")
                    })?;
                    let truth = &set.truth[index as usize];
                    let kind = &self.scenario.question.kind;
                    let order = &task.response_order;
                    let a = agent.answer(kind, self.seed, round, index, truth, order, position);
                    position += 1;
                    if let Some(honest) = a.unpoisoned {
                        let mut unpoisoned =
                            unpoisoned.lock().expect("no thread panics holding it");
                        unpoisoned.insert((batch_id, index), honest);
                    }
                    labels.push(RevealedLabel { task: task.task, label: a.label });
                }
                mine.push((batch_id, labels));
            }
            Ok((i, mine, false))
        })?;
        let refused = by_turn.iter().filter(|(_, _, refused)| *refused).count();
        let mut batches: Vec<Vec<Joined>> = vec![Vec::new(); self.agents.len()];
        for (i, mine, _) in by_turn {
            batches[i] = mine;
        }
        let unpoisoned = unpoisoned.into_inner().expect("no thread panics holding it");
        Ok(Joins { batches, unpoisoned, refused })
    }

    /// Labeler `i` joins for its `nonce`th batch: the batch's id and tasks, or `None` when no
    /// batch is left for it.
    fn join(
        &self,
        i: usize,
        spec: &ExperimentSpec,
        open: &OpenRound,
        nonce: u64,
    ) -> Result<Option<(u64, Vec<ShownTask>)>> {
        let (key, client) = (&self.keys[i], self.client(i));
        let cohort = spec.cohorts.as_ref().map(|_| self.agents[i].cohort);
        let join = key.join(&open.domain, open.id, cohort, spec.stake_per_batch, nonce);
        let body =
            Some(("application/json", serde_json::to_string(&join).expect("joins serialize")));
        let path = format!("{}/join", open.path);
        let answer = self.timing.timed(|| client.send("POST", &path, body, Repeat::Safe))?;
        let batch: JoinedBatch = match answer {
            Ok(batch) => read(&client, "the joined batch", batch)?,
            Err(r) if r.code == "no_batch" => return Ok(None),
            Err(r) => {
                return Err(client.fail(format!("join: {} {}: {}", r.status, r.code, r.message)));
            }
        };
        if let Some(tasks) = batch.tasks {
            return Ok(Some((batch.batch_id, tasks)));
        }
        // A join repeated after a broken connection answers without the tasks, which only
        // the labeler, signed in, may read.
        let mut own = client.clone();
        own.login(key)?;
        let path = format!("{}/batches/{}", open.path, batch.batch_id);
        let batch: JoinedBatch =
            read(&own, "the batch", own.ok("GET", &path, None, Repeat::Safe)?)?;
        Ok(Some((batch.batch_id, batch.tasks.unwrap_or_default())))
    }

    /// Every labeler commits, or reveals, each of its batches.
    fn send_all(&self, open: &OpenRound, joined: &[Vec<Joined>], step: Step) -> Result<()> {
        parallel(self.agents.len(), self.target.threads, |i| {
            for (batch_id, labels) in &joined[i] {
                let key = &self.keys[i];
                let (path, body) = match step {
                    Step::Commit => {
                        let commit = key
                            .commit(&open.domain, open.id, *batch_id, labels)
                            .map_err(plumbline_core::Error::from)?;
                        ("commit", serde_json::to_string(&commit).expect("commits serialize"))
                    }
                    Step::Reveal => {
                        let reveal = key
                            .reveal(&open.domain, open.id, *batch_id, labels.clone())
                            .map_err(plumbline_core::Error::from)?;
                        ("reveal", serde_json::to_string(&reveal).expect("reveals serialize"))
                    }
                };
                let path = format!("{}/batches/{batch_id}/{path}", open.path);
                let body = Some(("application/json", body));
                self.timing.timed(|| self.client(i).ok("POST", &path, body, Repeat::Safe))?;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Settles the round's experiment once its reveals are in, and reads its public record
    /// and the consensus class of each task in its export.
    fn settled(&self, open: &OpenRound) -> Result<(PublicRecord, BTreeMap<u32, i64>)> {
        let operator = &self.operators[0];
        // The scheduler may have settled it already; settling again answers the stored one, so
        // a settle cut short may be sent again to another replica.
        operator.post_json(&format!("{}/settle", open.path), &json!({}), Repeat::Safe)?;
        let record = operator.ok("GET", &format!("{}/record", open.path), None, Repeat::Safe)?;
        let record: PublicRecord = read(operator, "the record", record)?;
        let path = format!("{}/export?format=jsonl", open.path);
        let export = operator.send("GET", &path, None, Repeat::Safe)?;
        let classes = export_classes(operator, export, &self.scenario.question.kind)?;
        Ok((record, classes))
    }

    /// Adds this run's load figures to `stats`.
    fn record_stats(&self, stats: &mut ServerStats, test: bool, seconds: f64) {
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
        stats.test_clock = test;
        let before = stats.labeler_requests;
        stats.labeler_requests += latencies.len() as u64;
        stats.errors += self.timing.errors.load(Ordering::Relaxed) as u64;
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
        stats.failovers += self.replicas.failovers.load(Ordering::Relaxed);
        for down in self.replicas.downs.lock().expect("no thread panics holding it").iter() {
            if !stats.replicas_down.contains(down) {
                stats.replicas_down.push(down.clone());
            }
        }
    }
}

/// A task's content as a labeler sees it: the prompt and the responses in canonical order.
type ContentKey = (plumbline_core::task::Prompt, Vec<String>);

/// Each task's index by its content; the first of identical tasks wins (a labeler cannot tell
/// them apart either).
fn tasks_by_content(tasks: &[plumbline_core::task::Task]) -> HashMap<ContentKey, u32> {
    let mut by_content = HashMap::new();
    for (index, task) in tasks.iter().enumerate() {
        by_content.entry((task.prompt.clone(), task.responses.clone())).or_insert(index as u32);
    }
    by_content
}

/// The content of a shown task: its responses put back in canonical order.
fn content_key(task: &ShownTask) -> ContentKey {
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

    fn three() -> Replicas {
        Replicas::new(&["http://a".into(), "http://b/".into(), "http://c".into()])
    }

    fn down(sent: bool) -> Result<Try<u32>> {
        Ok(Try::Down { why: "connection reset".into(), sent })
    }

    #[test]
    fn a_replica_that_stops_answering_is_marked_down_and_its_requests_move_on() {
        let replicas = three();
        let mut tried = Vec::new();
        let answer = replicas.on_live(1, "POST /x", Repeat::Safe, |r| {
            tried.push(r);
            if r == 1 { down(true) } else { Ok(Try::Done(r as u32)) }
        });
        assert_eq!(answer.unwrap(), 2);
        assert_eq!(tried, [1, 1, 2], "tried once more before it counts as down");
        assert!(replicas.is_down(1));
        assert_eq!(replicas.failovers.load(Ordering::Relaxed), 1);
        assert_eq!(*replicas.downs.lock().unwrap(), ["http://b: connection reset"]);
        // Later requests skip it without trying it, and count as failovers too.
        let mut tried = Vec::new();
        let answer = replicas.on_live(1, "GET /y", Repeat::IfRefused, |r| {
            tried.push(r);
            Ok(Try::Done(r as u32))
        });
        assert_eq!(answer.unwrap(), 2);
        assert_eq!(tried, [2]);
        assert_eq!(replicas.failovers.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_connection_dropped_once_is_tried_again_before_the_replica_counts_as_down() {
        let replicas = three();
        let mut tried = Vec::new();
        let answer = replicas.on_live(1, "POST /x", Repeat::Safe, |r| {
            tried.push(r);
            if tried.len() == 1 { down(true) } else { Ok(Try::Done(r as u32)) }
        });
        assert_eq!(answer.unwrap(), 1);
        assert_eq!(tried, [1, 1]);
        assert!(!replicas.is_down(1));
        assert_eq!(replicas.failovers.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_write_that_is_not_repeatable_moves_on_only_when_it_was_refused() {
        let replicas = three();
        let refused = replicas.on_live(0, "POST /ledger/mint", Repeat::IfRefused, |r| {
            if r == 0 { down(false) } else { Ok(Try::Done(r as u32)) }
        });
        assert_eq!(refused.unwrap(), 1);
        let sent = replicas.on_live(1, "POST /ledger/mint", Repeat::IfRefused, |r| {
            if r == 1 { down(true) } else { Ok(Try::Done(r as u32)) }
        });
        let message = sent.unwrap_err().to_string();
        assert!(message.contains("may have been applied"), "{message}");
        assert!(replicas.is_down(0) && replicas.is_down(1) && !replicas.is_down(2));
    }

    #[test]
    fn with_every_replica_down_the_error_lists_them_and_one_server_fails_as_before() {
        let replicas = three();
        let all = replicas.on_live(0, "POST /z", Repeat::Safe, |_| down(true));
        let message = all.unwrap_err().to_string();
        assert!(message.contains("every replica has stopped answering"), "{message}");
        assert!(message.contains("http://a") && message.contains("http://c"), "{message}");

        let one = Replicas::new(&["http://a".into()]);
        let mut tries = 0;
        let message = one
            .on_live(0, "POST /z", Repeat::Safe, |_| {
                tries += 1;
                down(false)
            })
            .unwrap_err()
            .to_string();
        assert_eq!(tries, 1);
        assert!(message.contains("POST /z: cannot reach it"), "{message}");
        assert!(!one.is_down(0), "a lone server is never skipped");
    }

    #[test]
    fn refused_connections_were_not_sent_and_resets_may_have_been() {
        let io = |kind| ureq::Error::Io(std::io::Error::new(kind, "x"));
        assert_eq!(down_kind(&io(ErrorKind::ConnectionRefused)), Some(false));
        assert_eq!(down_kind(&io(ErrorKind::ConnectionReset)), Some(true));
        assert_eq!(down_kind(&io(ErrorKind::UnexpectedEof)), Some(true));
        assert_eq!(down_kind(&io(ErrorKind::PermissionDenied)), None);
        assert_eq!(down_kind(&ureq::Error::HostNotFound), None);
    }

    #[test]
    fn rfc3339_round_trips_through_unix_seconds() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2027-01-15T08:00:00Z"), Some(1_800_000_000));
        assert_eq!(parse_rfc3339("2024-02-29T12:34:56Z"), Some(1_709_210_096));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
