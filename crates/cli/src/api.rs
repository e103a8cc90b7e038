//! A small blocking client for the server's HTTP API (`docs/http-api.md`), shared by the
//! client commands. A 4xx answer is the user's bad input (exit 2); anything else that fails is
//! a failure (exit 1).

use crate::exit::bad_input;
use anyhow::{Context, anyhow};
use plumbline_core::client::LabelerKey;
use plumbline_core::eip712;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;

/// Where the server is when neither `--server` nor `PLUMBLINE_SERVER` says.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";
/// The largest answer read into memory (exports of big experiments).
const ANSWER_BYTES_MAX: u64 = 1 << 30;

/// A connection to one server, signed in or not.
pub struct Api {
    base: String,
    agent: ureq::Agent,
    token: Option<String>,
}

impl Api {
    /// A client for the server at `server` (e.g. `http://127.0.0.1:8080`).
    pub fn new(server: &str) -> Api {
        let agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        Api { base: format!("{}/api/v1", server.trim_end_matches('/')), agent, token: None }
    }

    /// Signs in with Sign-In with Ethereum: asks for a challenge, checks that it names this
    /// key's address, signs it (EIP-191) and keeps the session token.
    pub fn login(&mut self, key: &LabelerKey) -> anyhow::Result<()> {
        let address = key.address().to_string();
        let challenge: serde_json::Value =
            self.post("/auth/challenge", &serde_json::json!({ "address": address }))?;
        let message = challenge["message"].as_str().context("the challenge has no message")?;
        if !message.contains(&address) {
            return Err(anyhow!(
                "the server's sign-in message does not name {address}; not signing"
            ));
        }
        let signature = key.sign_personal(message.as_bytes());
        let login: serde_json::Value = self.post(
            "/auth/login",
            &serde_json::json!({ "message": message, "signature": hex0x(&signature) }),
        )?;
        let token = login["token"].as_str().context("the login answer has no token")?;
        self.token = Some(token.to_owned());
        Ok(())
    }

    /// GET a JSON document.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let request = self.with_token(self.agent.get(format!("{}{path}", self.base)));
        let response = request.call().map_err(|e| self.unreachable(e))?;
        read_json(response)
    }

    /// GET raw bytes (exports).
    pub fn get_bytes(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        self.get_bytes_with(path, &[])
    }

    /// GET raw bytes with query parameters, which ureq percent-encodes.
    pub fn get_bytes_with(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Vec<u8>> {
        let request = self.agent.get(format!("{}{path}", self.base));
        let request =
            self.with_token(request.query_pairs(query.iter().map(|(k, v)| (*k, v.as_str()))));
        let mut response = request.call().map_err(|e| self.unreachable(e))?;
        check_status(&mut response)?;
        Ok(response.body_mut().with_config().limit(ANSWER_BYTES_MAX).read_to_vec()?)
    }

    /// POST a JSON body, read a JSON answer.
    pub fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> anyhow::Result<T> {
        let request = self.with_token(self.agent.post(format!("{}{path}", self.base)));
        let response = request.send_json(body).map_err(|e| self.unreachable(e))?;
        read_json(response)
    }

    /// POST a text body of the given content type, read a JSON answer.
    pub fn post_text<T: DeserializeOwned>(
        &self,
        path: &str,
        content_type: &str,
        body: String,
    ) -> anyhow::Result<T> {
        let request = self
            .with_token(self.agent.post(format!("{}{path}", self.base)))
            .header("Content-Type", content_type);
        let response = request.send(body).map_err(|e| self.unreachable(e))?;
        read_json(response)
    }

    fn with_token<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(token) => request.header("Authorization", format!("Bearer {token}")),
            None => request,
        }
    }

    fn unreachable(&self, error: ureq::Error) -> anyhow::Error {
        anyhow!("cannot reach the server at {}: {error}", self.base)
    }
}

fn check_status(response: &mut ureq::http::Response<ureq::Body>) -> anyhow::Result<()> {
    let status = response.status().as_u16();
    if status < 400 {
        return Ok(());
    }
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let (code, message) = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) => (
            v["code"].as_str().unwrap_or("error").to_owned(),
            v["message"].as_str().unwrap_or(&text).to_owned(),
        ),
        Err(_) => ("error".to_owned(), text),
    };
    Err(anyhow::Error::new(Refusal { status, code, message, hint: None }))
}

/// A request the server refused: its status, its error `code` and `message`, and a hint of
/// what to do about it that a command may add. A 4xx refusal is bad input (exit 2), a 5xx a
/// failure (exit 1).
#[derive(Debug)]
pub struct Refusal {
    /// The HTTP status.
    pub status: u16,
    /// The error's `code`, such as `not_qualified`.
    pub code: String,
    /// The server's message.
    pub message: String,
    /// What to do about it, printed after the message.
    pub hint: Option<String>,
}

impl Refusal {
    /// Whether the refusal is the user's bad input rather than a failure of the server.
    pub fn is_bad_input(&self) -> bool {
        self.status < 500
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the server refused ({} {}): {}", self.status, self.code, self.message)?;
        match &self.hint {
            Some(hint) => write!(f, "\nhint: {hint}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for Refusal {}

/// Adds `hint` to an error that is the server refusing with `code`; other errors pass as they
/// are.
pub fn hint_on(error: anyhow::Error, code: &str, hint: impl FnOnce() -> String) -> anyhow::Error {
    match error.downcast::<Refusal>() {
        Ok(refusal) if refusal.code == code => {
            anyhow::Error::new(Refusal { hint: Some(hint()), ..refusal })
        }
        Ok(refusal) => anyhow::Error::new(refusal),
        Err(other) => other,
    }
}

fn read_json<T: DeserializeOwned>(
    mut response: ureq::http::Response<ureq::Body>,
) -> anyhow::Result<T> {
    check_status(&mut response)?;
    let text = response.body_mut().with_config().limit(ANSWER_BYTES_MAX).read_to_string()?;
    serde_json::from_str(&text)
        .with_context(|| format!("the server's answer is not the expected JSON: {text}"))
}

/// 0x-prefixed lowercase hex.
pub fn hex0x(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 + 2 * bytes.len());
    out.push_str("0x");
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The server from `--server`, else `PLUMBLINE_SERVER`, else the default.
pub fn server_url(flag: Option<String>) -> String {
    flag.or_else(|| std::env::var("PLUMBLINE_SERVER").ok()).unwrap_or(DEFAULT_SERVER.into())
}

/// Loads a key from `--key FILE`, else from `PLUMBLINE_KEY` (a 0x-hex secret) or
/// `PLUMBLINE_KEY_FILE`.
pub fn load_key(flag: Option<&Path>) -> anyhow::Result<LabelerKey> {
    if let Some(path) = flag {
        return key_from_file(path);
    }
    if let Ok(secret) = std::env::var("PLUMBLINE_KEY") {
        return key_from_hex(&secret).map_err(|e| bad_input(format!("PLUMBLINE_KEY: {e}")));
    }
    if let Ok(path) = std::env::var("PLUMBLINE_KEY_FILE") {
        return key_from_file(Path::new(&path));
    }
    Err(bad_input("no key: pass --key FILE, or set PLUMBLINE_KEY or PLUMBLINE_KEY_FILE"))
}

fn key_from_file(path: &Path) -> anyhow::Result<LabelerKey> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad_input(format!("cannot read key file {}: {e}", path.display())))?;
    let document: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| bad_input(format!("{} is not a key file: {e}", path.display())))?;
    let secret = document["private_key"]
        .as_str()
        .ok_or_else(|| bad_input(format!("{} has no private_key", path.display())))?;
    key_from_hex(secret).map_err(|e| bad_input(format!("{}: {e}", path.display())))
}

fn key_from_hex(text: &str) -> Result<LabelerKey, String> {
    let digits = text.trim().trim_start_matches("0x");
    if digits.len() != 64 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("a private key is 32 bytes of hex".into());
    }
    let mut secret = [0u8; 32];
    for (i, byte) in secret.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).expect("hex digits");
    }
    LabelerKey::from_bytes(&secret).ok_or_else(|| "not a valid secp256k1 key".into())
}

/// The EIP-712 domain an experiment's messages are signed in, from its document.
pub fn domain_of(experiment: &serde_json::Value) -> eip712::Eip712Domain {
    let chain_id = experiment["chain_id"].as_u64().unwrap_or(eip712::EMBEDDED_CHAIN_ID);
    let contract = experiment["verifying_contract"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(plumbline_core::Address::ZERO);
    eip712::domain(chain_id, contract)
}
