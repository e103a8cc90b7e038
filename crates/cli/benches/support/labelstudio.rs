//! The peer benchmark's other server: Label Studio, started by `bench/labelstudio/run.sh` and
//! named to the benchmark by `LABEL_STUDIO_URL`, `LABEL_STUDIO_TOKEN`, `LABEL_STUDIO_PID` (for
//! its CPU time) and `LABEL_STUDIO_LOG` (for its `database is locked` errors).
//!
//! Label Studio takes labels as annotations, one task's label in each, through
//! `POST /api/tasks/{id}/annotations/` with `Authorization: Token ...`. The Plumbline client
//! cannot send that header, nor paths outside `/api/v1`, so this module speaks to it through
//! ureq directly: one keep-alive connection per client thread, the answer read to its last
//! byte. The driver's `drive_with` runs it on the same client threads
//! as Plumbline's own requests.
//!
//! The labels follow the load benchmark's recipe: the b-th batch of the stream covers block
//! b / OVERLAP, so every block of `BLOCK_SIZE` tasks is labeled `OVERLAP` times, and each label
//! follows a latent truth (`task % 2`) with 20% noise from a stream keyed by the batch. They
//! are shuffled with the seed so that labels interleave as in a crowd. After the timed phase,
//! the next labels of the stream go from one client alone: Label Studio's figure without
//! contention, which says how much of its time the concurrency costs.

use crate::driver::{BLOCK_SIZE, OVERLAP, Phase, Request, cpu_seconds, drive_with, shuffle};
use plumbline_core::synthetic::SplitMix64;
use serde_json::{Value, json};
use std::time::Duration;

/// Longest one timed request may take before it counts as failed, as in the driver.
const REQUEST_TIMEOUT_SECS: u64 = 30;
/// Longest one set-up request may take: importing a chunk of tasks is slow.
const SETUP_TIMEOUT_SECS: u64 = 600;
/// Tasks per import request, so that no single import runs into the set-up timeout.
const TASKS_PER_IMPORT: usize = 5_000;
/// The largest answer read into memory.
const ANSWER_BYTES_MAX: u64 = 64 << 20;
/// The labeling interface: one text, one binary choice.
const LABEL_CONFIG: &str = r#"<View>
  <Text name="text" value="$text"/>
  <Choices name="truth" toName="text" choice="single">
    <Choice value="false"/>
    <Choice value="true"/>
  </Choices>
</View>"#;

/// A running Label Studio and the user the benchmark acts as.
pub struct LabelStudio {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    token: String,
    /// Its server process, for its CPU time.
    pid: Option<u32>,
    /// Its log, for the times its database was locked.
    log: Option<String>,
}

/// What the Label Studio run measured.
pub struct PeerMeasurement {
    /// The timed phase: one annotation, one label, per request, from all the clients.
    pub annotate: Phase,
    /// The next labels of the stream from one client alone, to tell what concurrency costs.
    pub one_client: Phase,
    /// `database is locked` errors its API met during the timed phase (from its log), each of
    /// which it answers by sleeping a second or more and running the request again; `None`
    /// without a log.
    pub locked: Option<usize>,
    /// Annotations the project counts at the end.
    pub stored: u64,
    /// Tasks imported.
    pub tasks: usize,
    /// `GET /api/version`.
    pub version: Value,
}

impl LabelStudio {
    /// The instance `bench/labelstudio/run.sh` started, or `None` outside that script.
    pub fn from_env() -> Option<LabelStudio> {
        let url = std::env::var("LABEL_STUDIO_URL").ok()?;
        let token = std::env::var("LABEL_STUDIO_TOKEN").ok()?;
        let pid = std::env::var("LABEL_STUDIO_PID").ok().and_then(|p| p.parse().ok());
        let log = std::env::var("LABEL_STUDIO_LOG").ok();
        Some(LabelStudio { url: url.trim_end_matches('/').to_owned(), token, pid, log })
    }

    /// CPU seconds its server process has used so far.
    fn cpu_seconds(&self) -> f64 {
        self.pid.map_or(0.0, |pid| cpu_seconds(&pid.to_string()))
    }

    /// `database is locked` errors in its log so far: the lines its exception handler writes.
    fn locked_errors(&self) -> Option<usize> {
        let log = std::fs::read_to_string(self.log.as_ref()?).ok()?;
        let locked = |line: &&str| {
            line.contains("custom_exception_handler") && line.contains("database is locked")
        };
        Some(log.lines().filter(locked).count())
    }

    /// A connection for one client thread, or for the set-up with a longer timeout.
    fn connect(&self, timeout_secs: u64) -> Http1 {
        Http1::new(&self.url, &self.token, Duration::from_secs(timeout_secs))
    }

    /// Creates a project, imports `tasks` tasks, sends the first `labels` labels of the stream
    /// as annotations from `clients` threads (the timed phase), the next `one_client_labels`
    /// from one thread, and counts what was stored.
    pub fn measure(
        &self,
        seed: u64,
        clients: usize,
        tasks: usize,
        labels: usize,
        one_client_labels: usize,
    ) -> PeerMeasurement {
        let mut setup = self.connect(SETUP_TIMEOUT_SECS);
        let version = setup.json("/api/version", None, 200);
        let project = create_project(&mut setup);
        let task_ids = import_tasks(&mut setup, project, tasks);
        eprintln!("label studio: project {project}, {} tasks imported", task_ids.len());

        let mut rng = SplitMix64::new(seed);
        let mut annotations = annotations(seed, labels + one_client_labels, &task_ids);
        let mut after = annotations.split_off(labels);
        // Labels interleave as they would in a crowd, as the load benchmark's commits do.
        shuffle(&mut annotations, &mut rng);
        shuffle(&mut after, &mut rng);

        let locked_before = self.locked_errors();
        let annotate = self.annotate(clients, &annotations);
        let locked = self.locked_errors().zip(locked_before).map(|(after, before)| after - before);
        let one_client = self.annotate(1, &after);

        let counts = setup.json(&format!("/api/projects/{project}/"), None, 200);
        let stored = counts["total_annotations_number"].as_u64().unwrap_or(0);
        PeerMeasurement { annotate, one_client, locked, stored, tasks: task_ids.len(), version }
    }

    /// Sends `annotations` (task id, body) from `clients` threads through the driver.
    fn annotate(&self, clients: usize, annotations: &[(u64, String)]) -> Phase {
        let cpu = self.cpu_seconds();
        let own = cpu_seconds("self");
        let connect = |_thread: usize| self.connect(REQUEST_TIMEOUT_SECS);
        let request = |(task_id, body): &(u64, String)| Request {
            path: format!("/api/tasks/{task_id}/annotations/"),
            body: body.clone(),
            expect: 201,
            lane: None,
        };
        let mut phase = drive_with(clients, annotations, request, connect, |http, r| {
            http.request(&r.path, Some(&r.body))
        });
        phase.server_cpu_seconds = self.cpu_seconds() - cpu;
        phase.client_cpu_seconds = cpu_seconds("self") - own;
        phase
    }
}

/// Creates the benchmark's project with the binary labeling interface; its id.
fn create_project(http: &mut Http1) -> u64 {
    let body = json!({ "title": "Plumbline peer benchmark", "label_config": LABEL_CONFIG });
    let project = http.json("/api/projects/", Some(&body.to_string()), 201);
    project["id"].as_u64().expect("the project has an id")
}

/// Imports `count` tasks worded as the load benchmark's (`Is statement i true?`), in chunks;
/// their ids, task i at index i.
fn import_tasks(http: &mut Http1, project: u64, count: usize) -> Vec<u64> {
    let path = format!("/api/projects/{project}/import?return_task_ids=true");
    let mut ids = Vec::with_capacity(count);
    for start in (0..count).step_by(TASKS_PER_IMPORT) {
        let end = (start + TASKS_PER_IMPORT).min(count);
        let tasks: Vec<Value> =
            (start..end).map(|i| json!({ "text": format!("Is statement {i} true?") })).collect();
        let answer = http.json(&path, Some(&Value::from(tasks).to_string()), 201);
        let chunk = answer["task_ids"].as_array().expect("the import names its task ids");
        ids.extend(chunk.iter().map(|id| id.as_u64().expect("a task id")));
    }
    assert_eq!(ids.len(), count, "every task is imported");
    ids
}

/// The first `labels` labels of the load benchmark's stream as annotations (task id and body),
/// in the stream's order.
fn annotations(seed: u64, labels: usize, task_ids: &[u64]) -> Vec<(u64, String)> {
    let block_size = BLOCK_SIZE as usize;
    let mut requests = Vec::with_capacity(labels);
    for batch in 0..labels.div_ceil(block_size) {
        // Keyed as the driver keys a batch's labels, so the noise is the same kind.
        let mut rng = SplitMix64::new(seed ^ (batch as u64).rotate_left(32));
        let block = batch / OVERLAP as usize;
        for position in 0..block_size.min(labels - batch * block_size) {
            let task = block * block_size + position;
            let truth = task % 2 == 1;
            let value = if rng.chance(800_000) { truth } else { !truth };
            requests.push((task_ids[task], annotation(value)));
        }
    }
    requests
}

/// One label as an annotation's body.
fn annotation(value: bool) -> String {
    let result = json!([{
        "from_name": "truth",
        "to_name": "text",
        "type": "choices",
        "value": { "choices": [if value { "true" } else { "false" }] },
    }]);
    json!({ "result": result }).to_string()
}

/// A client of Label Studio's API: ureq keeps one keep-alive connection per agent, and the
/// token goes with every request.
struct Http1 {
    /// `http://host:port`.
    url: String,
    authorization: String,
    agent: ureq::Agent,
}

impl Http1 {
    fn new(url: &str, token: &str, timeout: Duration) -> Http1 {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        Http1 {
            url: url.trim_end_matches('/').to_owned(),
            authorization: format!("Token {token}"),
            agent,
        }
    }

    /// Sends one request, a POST of `body` or else a GET, and reads its whole answer: the
    /// status and the body.
    fn request(&mut self, path: &str, body: Option<&str>) -> Result<(u16, Vec<u8>), String> {
        let method = if body.is_some() { "POST" } else { "GET" };
        let url = format!("{}{path}", self.url);
        let sent = match body {
            None => self.agent.get(&url).header("Authorization", &self.authorization).call(),
            Some(body) => self
                .agent
                .post(&url)
                .header("Authorization", &self.authorization)
                .header("Content-Type", "application/json")
                .send(body),
        };
        let fail = |e: ureq::Error| format!("{method} {path}: {e}");
        let mut answer = sent.map_err(fail)?;
        let body =
            answer.body_mut().with_config().limit(ANSWER_BYTES_MAX).read_to_vec().map_err(fail)?;
        Ok((answer.status().as_u16(), body))
    }

    /// A set-up request that must answer `expect` with JSON.
    fn json(&mut self, path: &str, body: Option<&str>, expect: u16) -> Value {
        let (status, answer) = self.request(path, body).unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8_lossy(&answer);
        assert_eq!(status, expect, "{path} answered {status}: {text}");
        serde_json::from_slice(&answer).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
    }
}
