//! Running the real `plumbline serve` in a temporary directory, for end-to-end tests.
#![allow(dead_code)]

pub mod postgres;

use plumbline_client::{Answer, Client, ClientError, Repeat, Request};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_plumbline")
}

/// Runs the binary with arguments and environment, returning its output.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(binary());
    command.args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("the binary runs")
}

/// Runs the binary and insists on success; returns stdout.
pub fn run_ok(args: &[&str], env: &[(&str, &str)]) -> String {
    let output = run(args, env);
    assert!(
        output.status.success(),
        "plumbline {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory named after the test.
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("plumbline-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// A path inside it, as a string.
    pub fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }

    /// Writes a file inside it; returns its path.
    pub fn write(&self, name: &str, text: &str) -> String {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A free loopback port (bound and released; the server binds it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running server, killed (SIGKILL) on drop.
pub struct Server {
    pub child: Child,
    pub url: String,
    /// The SQLite file or PostgreSQL URL it serves.
    pub db: PathBuf,
    pub operator: String,
    /// Its stderr.
    pub log: PathBuf,
}

impl Server {
    /// Starts `plumbline serve --test-clock` on `db` and waits until `/health` answers.
    pub fn start(db: &Path, operator: &str, port: u16) -> Server {
        Server::start_logged(&db.to_string_lossy(), &db.with_extension("log"), operator, port)
    }

    /// Starts `plumbline serve --test-clock` on `db` (a SQLite path or a `postgres://` URL)
    /// with its stderr in `log`, and waits until `/health` answers.
    pub fn start_logged(db: &str, log: &Path, operator: &str, port: u16) -> Server {
        Server::start_with(db, log, operator, port, &[])
    }

    /// As [`Server::start_logged`], with more arguments to `serve`.
    pub fn start_with(db: &str, log: &Path, operator: &str, port: u16, extra: &[&str]) -> Server {
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(binary())
            .args(["serve", "--db", db, "--addr", &addr])
            .args(["--operator", operator, "--test-clock"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("the server starts");
        let server = Server {
            child,
            url: format!("http://{addr}"),
            db: PathBuf::from(db),
            operator: operator.into(),
            log: log.to_path_buf(),
        };
        server.wait_healthy();
        server
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn wait_healthy(&self) {
        if !wait_healthy(&self.url) {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            panic!("the server did not become healthy in 30 s; its log:\n{log}");
        }
    }

    /// Kills the server with SIGKILL and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A client of this server, signed out.
    pub fn client(&self) -> Client {
        Client::new(&self.url)
    }

    /// GET a JSON document.
    pub fn get(&self, path: &str) -> Value {
        self.client().get(path).unwrap_or_else(|e| panic!("{e}"))
    }

    /// POST JSON; returns the status and the answer.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(None, "POST", path, Some(("application/json", &body.to_string())))
    }

    /// Sends a request with an optional bearer token; returns the status and the answer (the
    /// JSON of a success or of a refusal, or the text as a string).
    pub fn send(
        &self,
        token: Option<&str>,
        method: &'static str,
        path: &str,
        body: Option<(&str, &str)>,
    ) -> (u16, Value) {
        let request = Request { method, path, query: &[], body, token, repeat: Repeat::Safe };
        status_and_answer(self.client().send(&request))
    }

    /// Sets the server's test clock.
    pub fn set_clock(&self, now: u64) {
        let (status, answer) = self.post("/test/clock", &serde_json::json!({ "now": now }));
        assert!(status < 300, "setting the clock: {status} {answer}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Creates a key file with `plumbline keys new`; returns (path, address).
pub fn new_key(dir: &TempDir, name: &str) -> (String, String) {
    let path = dir.path(name);
    let address = run_ok(&["keys", "new", "--out", &path], &[]).trim().to_string();
    (path, address)
}

/// Unix seconds now.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A pairwise spec with deadlines an hour and two hours from `start`.
pub fn pairwise_spec(start: u64, block_size: u32, overlap: u32, gold: u32) -> String {
    format!(
        r#"schema_version = 1
title = "Which answer is more helpful?"
block_size = {block_size}
overlap = {overlap}
gold_per_batch = {gold}
stake_per_batch = "1000000"
reward_pool = "500000000"
commit_deadline = {commit}
reveal_deadline = {reveal}

[question]
kind = "pairwise"
strength_max = 2
allow_tie = false
instructions = "Pick the more helpful answer; 2 when you are sure."
"#,
        commit = start + 3_600,
        reveal = start + 7_200,
    )
}

/// Pairwise tasks: `regular` plain ones and `gold` with answers; the latent truth of task i
/// prefers response B when i is even.
pub fn pairwise_tasks(regular: usize, gold: usize) -> String {
    (0..regular + gold)
        .map(|i| {
            let gold_field =
                if i >= regular { format!(r#", "gold": {}"#, truth_of(i)) } else { String::new() };
            format!(
                r#"{{"id": "q{i}", "prompt": "Question {i}?", "responses": ["Answer A to {i}", "Answer B to {i}"]{gold_field}}}"#
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The latent preference of task `i` (canonical order): 2 for B, −2 for A.
pub fn truth_of(i: usize) -> i64 {
    if i.is_multiple_of(2) { 2 } else { -2 }
}

/// A key derived for tests, and its address as text.
pub fn test_key(seed: u64, index: u64) -> (plumbline_core::client::LabelerKey, String) {
    let key = plumbline_core::client::LabelerKey::derived(seed, index);
    let address = key.address().to_string();
    (key, address)
}

impl Server {
    /// Signs in with Sign-In with Ethereum and returns the bearer token.
    pub fn sign_in(&self, key: &plumbline_core::client::LabelerKey) -> String {
        let (status, challenge) = self
            .post("/auth/challenge", &serde_json::json!({ "address": key.address().to_string() }));
        assert_eq!(status, 200, "{challenge}");
        let message = challenge["message"].as_str().unwrap();
        let signature = key.sign_personal(message.as_bytes());
        let hex: String = signature.iter().map(|b| format!("{b:02x}")).collect();
        let (status, login) = self.post(
            "/auth/login",
            &serde_json::json!({ "message": message, "signature": format!("0x{hex}") }),
        );
        assert_eq!(status, 200, "{login}");
        login["token"].as_str().unwrap().to_string()
    }

    /// POST with a bearer token and a body of the given content type.
    pub fn post_as(
        &self,
        token: &str,
        path: &str,
        content_type: &str,
        body: String,
    ) -> (u16, Value) {
        self.send(Some(token), "POST", path, Some((content_type, &body)))
    }
}

/// A request's status and answer: the JSON of a success (or its text as a string), or the
/// `{code, message}` of a refusal. A server that cannot be reached fails the test.
pub fn status_and_answer(result: plumbline_client::Result<Answer>) -> (u16, Value) {
    match result {
        Ok(answer) => {
            let text = String::from_utf8_lossy(&answer.body).into_owned();
            (answer.status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
        }
        Err(ClientError::Refused { refusal, .. }) => (
            refusal.status,
            serde_json::json!({ "code": refusal.code, "message": refusal.message }),
        ),
        Err(e) => panic!("{e}"),
    }
}

/// Waits up to 30 s for `GET /health` at `url` to answer; whether it did.
pub fn wait_healthy(url: &str) -> bool {
    let client = Client::with_timeout(url, Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if client.get::<Value>("/health").is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// The number `i` of a task with the prompt `"Question {i}?"`, as the task files here write it.
pub fn question_number(prompt: &str) -> usize {
    prompt.trim_start_matches("Question ").trim_end_matches('?').parse().expect("a question")
}
