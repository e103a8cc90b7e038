//! Shared test harness: a router over a temporary SQLite file (or, for replicas, several over
//! one fresh PostgreSQL schema) with a test clock, a request helper, and sign-in.

#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use k256::ecdsa::SigningKey;
use plumbline_core::client::LabelerKey;
use plumbline_core::eip712::{personal_hash, sign_hash};
use plumbline_core::{Address, B256};
use plumbline_server::{AppState, Config, app};
use plumbline_store::{PgStore, SqliteStore};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use tower::ServiceExt;

/// A fresh database file, removed when dropped.
pub struct TempDb(pub PathBuf);

impl TempDb {
    pub fn new() -> TempDb {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "plumbline-server-test-{}-{}.db",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_file(&path);
        TempDb(path)
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

/// The operator's key in every test.
pub fn operator() -> LabelerKey {
    LabelerKey::derived(42, 0)
}

/// A test configuration: test clock on, the operator set, a fast scheduler.
pub fn config() -> Config {
    Config {
        operator: Some(operator().address()),
        test_clock: true,
        tick: std::time::Duration::from_millis(20),
        ..Config::default()
    }
}

/// A server under test over its own SQLite file.
pub struct Harness {
    pub db: TempDb,
    pub server: Server,
}

impl std::ops::Deref for Harness {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.server
    }
}

impl Harness {
    pub async fn new(config: Config) -> Harness {
        let db = TempDb::new();
        let server = open(&db, config).await;
        Harness { db, server }
    }

    /// A new server over the same database, as after a restart.
    pub async fn restart(&mut self, config: Config) {
        self.server = open(&self.db, config).await;
    }
}

/// A fresh schema in the PostgreSQL test database (`PLUMBLINE_TEST_POSTGRES`, by default
/// `postgres://postgres@127.0.0.1:5432/test`), dropped with everything in it when dropped.
/// Unreachable PostgreSQL fails the test.
pub struct TempSchema {
    url: String,
    schema: String,
}

impl TempSchema {
    pub async fn fresh() -> TempSchema {
        use sqlx::Connection;
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let url = std::env::var("PLUMBLINE_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let schema = format!("plumbline_server_test_{}_{n}_{nanos}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap_or_else(|e| {
            panic!("PostgreSQL at {url} is unreachable ({e}): run crates/store/ci-postgres.sh")
        });
        sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        TempSchema { url, schema }
    }

    /// A server over the schema with its own connections and memory, as one of several
    /// processes on one database.
    pub async fn replica(&self, config: Config) -> Server {
        use std::str::FromStr;
        let options = sqlx::postgres::PgConnectOptions::from_str(&self.url)
            .unwrap()
            .options([("search_path", self.schema.as_str())]);
        let store = PgStore::open_with(options, plumbline_store::PG_CONNECTIONS_DEFAULT)
            .await
            .expect("the test schema opens");
        let state = AppState::new(Arc::new(store), config);
        let app = app(state.clone());
        Server { state, app }
    }
}

impl Drop for TempSchema {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        // Dropped inside the test's runtime: drop the schema from a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    use sqlx::Connection;
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&url).await {
                        let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                        let _ = sqlx::query(&drop).execute(&mut conn).await;
                    }
                });
            }
        })
        .join();
    }
}

/// A running server: its state and its router.
pub struct Server {
    pub state: AppState,
    pub app: Router,
}

impl Server {
    /// Sends a request; the body is JSON when given as a value.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let bytes = body.map(|b| b.to_string().into_bytes());
        let (status, body) = self.raw(method, path, token, "application/json", bytes).await;
        let value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).unwrap_or_else(|_| json!(String::from_utf8_lossy(&body)))
        };
        (status, value)
    }

    /// Sends a request with a raw body and returns the raw answer.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Option<Vec<u8>>,
    ) -> (StatusCode, Vec<u8>) {
        let mut request = Request::builder().method(method).uri(format!("/api/v1{path}"));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(bytes) => request.header("content-type", content_type).body(Body::from(bytes)),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, bytes.to_vec())
    }

    /// Signs in with Sign-In with Ethereum and returns the bearer token.
    pub async fn login(&self, key: &LabelerKey) -> String {
        let (status, challenge) = self
            .call("POST", "/auth/challenge", None, Some(json!({"address": key.address()})))
            .await;
        assert_eq!(status, StatusCode::OK, "{challenge}");
        let message = challenge["message"].as_str().unwrap().to_string();
        let signature = personal_sign(key, &message);
        let (status, session) = self
            .call(
                "POST",
                "/auth/login",
                None,
                Some(json!({"message": message, "signature": signature})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{session}");
        assert_eq!(session["address"], json!(key.address()));
        session["token"].as_str().unwrap().to_string()
    }

    /// Mints credits as the operator.
    pub async fn mint(&self, operator_token: &str, to: Address, amount: u128) {
        let body = json!({"to": to, "amount": amount.to_string()});
        let (status, answer) =
            self.call("POST", "/ledger/mint", Some(operator_token), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }

    /// Sets the test clock.
    pub async fn set_clock(&self, now: u64) {
        let (status, answer) =
            self.call("POST", "/test/clock", None, Some(json!({"now": now}))).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }

    /// An account's balances as (available, locked).
    pub async fn balances(&self, address: Address) -> (u128, u128) {
        let (status, account) = self.call("GET", &format!("/accounts/{address}"), None, None).await;
        assert_eq!(status, StatusCode::OK, "{account}");
        let parse = |v: &Value| v.as_str().unwrap().parse::<u128>().unwrap();
        (parse(&account["available"]), parse(&account["locked"]))
    }
}

async fn open(db: &TempDb, config: Config) -> Server {
    let store = SqliteStore::open(&db.0).await.expect("the test database opens");
    let state = AppState::new(Arc::new(store), config);
    let app = app(state.clone());
    Server { state, app }
}

/// An EIP-191 personal signature, as a wallet's `personal_sign` makes it, in 0x hex.
pub fn personal_sign(key: &LabelerKey, message: &str) -> String {
    let signing = SigningKey::from_slice(&key.secret_bytes()).unwrap();
    let signature = sign_hash(&signing, personal_hash(message.as_bytes()));
    format!("0x{}", alloy_hex(&signature))
}

fn alloy_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses a 32-byte id from a JSON string.
pub fn id_of(value: &Value) -> B256 {
    value.as_str().unwrap().parse().unwrap()
}

/// Loads export files with Hugging Face `datasets` in Python, as an ML engineer would: the
/// `files` (name, bytes) are written into one folder, and each of `checks` (a file name, or ""
/// for the folder itself, and the expectation `{"builder", "rows", "columns", ...}` that
/// `tests/python/load_exports.py` reads) is loaded and checked. The Python is
/// `PLUMBLINE_TEST_PYTHON`, by default the virtual environment `.ci/run` makes in `target/py`.
pub fn check_exports_load_in_python(files: &[(&str, &[u8])], checks: &[(&str, Value)]) {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "plumbline-exports-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let data = dir.join("dataset");
    std::fs::create_dir_all(&data).unwrap();
    for (name, bytes) in files {
        std::fs::write(data.join(name), bytes).unwrap();
    }
    let manifest: Vec<Value> = checks
        .iter()
        .map(|(name, want)| json!([data.join(name).to_string_lossy(), want]))
        .collect();
    let manifest_path = dir.join("manifest.json");
    std::fs::write(&manifest_path, Value::Array(manifest).to_string()).unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("PLUMBLINE_TEST_PYTHON")
        .map_or_else(|| root.join("../../target/py/bin/python"), PathBuf::from);
    let output = std::process::Command::new(&python)
        .arg(root.join("tests/python/load_exports.py"))
        .arg(&manifest_path)
        .env("HF_DATASETS_CACHE", dir.join("cache"))
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_DATASETS_OFFLINE", "1")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): run `bash .ci/run`, or set PLUMBLINE_TEST_PYTHON to a \
                 Python with the packages in crates/server/tests/python/requirements.txt",
                python.display()
            )
        });
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "the exports do not load with `datasets`:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
