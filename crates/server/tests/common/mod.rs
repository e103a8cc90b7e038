//! Shared test harness: a router over a temporary SQLite file with a test clock, a request
//! helper, and sign-in.

#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use k256::ecdsa::SigningKey;
use plumbline_core::client::LabelerKey;
use plumbline_core::eip712::{personal_hash, sign_hash};
use plumbline_core::{Address, B256};
use plumbline_server::{AppState, Config, app};
use plumbline_store::SqliteStore;
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

/// A server under test.
pub struct Harness {
    pub db: TempDb,
    pub state: AppState,
    pub app: Router,
}

impl Harness {
    pub async fn new(config: Config) -> Harness {
        let db = TempDb::new();
        let (state, app) = open(&db, config).await;
        Harness { db, state, app }
    }

    /// A new server over the same database, as after a restart.
    pub async fn restart(&mut self, config: Config) {
        let (state, app) = open(&self.db, config).await;
        self.state = state;
        self.app = app;
    }

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

async fn open(db: &TempDb, config: Config) -> (AppState, Router) {
    let store = SqliteStore::open(&db.0).await.expect("the test database opens");
    let state = AppState::new(Arc::new(store), config);
    let app = app(state.clone());
    (state, app)
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
